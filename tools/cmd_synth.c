/* tools/cmd_synth.c: `facecl synth`: writes a synthetic face dataset (and/or a preview grid PNG). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <facecl/synth.h>

#include "commands.h"
#include "options.h"

static void usage(FILE *f)
{
    fcl_synth_opts d;
    fcl_synth_opts_default(&d);
    fprintf(f,
            "usage: facecl synth [options] OUT\n\n"
            "Writes a synthetic face dataset into the new (or empty) folder OUT:\n"
            "  OUT/train/<id>/NNN.png, OUT/val/<id>/NNN.png   ImageFolder, split per identity\n"
            "  OUT/unseen/<id>/NNN.png                        identities never used for training\n"
            "  OUT/pairs.txt, OUT/pairs_unlabelled.txt        verification pairs over unseen/\n"
            "  OUT/README.txt                                 what was made and how to remake it\n"
            "The same options write byte-identical files.\n\n"
            "options:\n"
            "  --ids N            training identities (default %d)\n"
            "  --per-id M         images per identity (default %d)\n"
            "  --size S           image side in pixels (default %d)\n"
            "  --gray             1-channel images (default RGB)\n"
            "  --seed X           random seed (default %llu)\n"
            "  --val-frac F       fraction of each identity's images in val/ (default %g)\n"
            "  --unseen-ids U     identities in unseen/ (default %d)\n"
            "  --pairs P          pairs over unseen/, half same, half different (default %d)\n"
            "  --difficulty D     0 (frontal, plain) .. 2 (hard); default %g\n"
            "  --preview FILE.png also write a grid of samples (rows identities, columns images);\n"
            "                     with --preview, OUT may be left out\n"
            "  --preview-grid RxC size of that grid (default 8x8)\n",
            d.ids, d.per_id, d.size, (unsigned long long)d.seed, (double)d.val_frac, d.unseen_ids, d.pairs,
            (double)d.difficulty);
}

/* Progress: an updating line with rate and ETA on a terminal, a plain line per 10% otherwise. */
typedef struct progress {
    double start, last;
    int tty, last_decile;
} progress;

static int on_progress(void *user, size_t done, size_t total)
{
    progress *p = user;
    double t = tool_now_s(), el = t - p->start;
    double rate = el > 0 ? (double)done / el : 0.0;
    double eta = rate > 0 ? (double)(total - done) / rate : 0.0;
    if (p->tty) {
        if (t - p->last >= 0.1 || done == total) {
            fprintf(stderr, "\rsynth: %zu/%zu images  %.0f img/s  ETA %.1f s   ", done, total, rate, eta);
            if (done == total) fputc('\n', stderr);
            p->last = t;
        }
    } else {
        int dec = total ? (int)(10 * done / total) : 10;
        if (dec != p->last_decile) {
            fprintf(stderr, "synth: %zu/%zu images (%d%%), %.0f img/s, ETA %.1f s\n", done, total, dec * 10, rate, eta);
            p->last_decile = dec;
        }
    }
    return 0;
}

int fcl_cmd_synth(int argc, char **argv)
{
    fcl_synth_opts o;
    fcl_synth_opts_default(&o);
    const char *out_dir = NULL, *preview = NULL, *seed = NULL, *grid_text = NULL;
    int rows = 8, cols = 8, gray = 0, np = 0;
    double val_frac = o.val_frac, difficulty = o.difficulty;
    const tool_option opts[] = {
        {"--gray", TOOL_OPT_FLAG, &gray, 0, 0, 0, 0},
        {"--ids", TOOL_OPT_INT, &o.ids, 1, 1000000, 0, 0},
        {"--per-id", TOOL_OPT_INT, &o.per_id, 1, 100000, 0, 0},
        {"--size", TOOL_OPT_INT, &o.size, 16, 1024, 0, 0},
        {"--unseen-ids", TOOL_OPT_INT, &o.unseen_ids, 0, 1000000, 0, 0},
        {"--pairs", TOOL_OPT_INT, &o.pairs, 0, 10000000, 0, 0},
        {"--val-frac", TOOL_OPT_NUM, &val_frac, 0.0, 0.99, 0, 0},
        {"--difficulty", TOOL_OPT_NUM, &difficulty, 0.0, 2.0, 0, 0},
        {"--seed", TOOL_OPT_STR, &seed, 0, 0, 0, 0},
        {"--preview", TOOL_OPT_STR, &preview, 0, 0, 0, 0},
        {"--preview-grid", TOOL_OPT_STR, &grid_text, 0, 0, 0, 0},
    };
    int parsed = tool_options_parse("synth", usage, opts, sizeof opts / sizeof opts[0], argc, argv, 1, &out_dir, 1, &np);
    if (parsed) return parsed == TOOL_PARSE_HELP ? 0 : 2;
    if (gray) o.channels = 1;
    o.val_frac = (float)val_frac;
    o.difficulty = (float)difficulty;
    if (seed) { /* any unsigned 64-bit value, decimal or 0x hex */
        char *end = NULL;
        errno = 0;
        unsigned long long sv = strtoull(seed, &end, 0);
        if (*end || errno || seed[0] == '-') {
            tool_fail("--seed: expected a non-negative integer, got '%s'", seed);
            return 2;
        }
        o.seed = (uint64_t)sv;
    }
    if (grid_text && (sscanf(grid_text, "%dx%d", &rows, &cols) != 2 || rows < 1 || cols < 1 || rows > 64 || cols > 64)) {
        tool_fail("--preview-grid: expected RxC with 1..64 each, got '%s'", grid_text);
        return 2;
    }
    if (!out_dir && !preview) {
        usage(stderr);
        return 2;
    }

    fcl_error err = {0};
    if (preview) {
        fcl_image grid = {0, 0, 0, NULL};
        if (fcl_synth_preview(&o, rows, cols, &grid, &err)) return tool_fail_err(&err);
        fcl_status st = fcl_image_write_png(preview, &grid, &err);
        fcl_image_free(&grid);
        if (st) return tool_fail_err(&err);
        printf("synth: wrote preview %s (%d identities x %d images)\n", preview,
               rows < o.ids ? rows : o.ids, cols < o.per_id ? cols : o.per_id);
    }
    if (out_dir) {
        progress p = {tool_now_s(), 0.0, isatty(STDERR_FILENO), -1};
        if (fcl_synth_write_dataset(out_dir, &o, on_progress, &p, &err)) {
            if (p.tty) fputc('\n', stderr);
            return tool_fail_err(&err);
        }
        double el = tool_now_s() - p.start;
        size_t n = ((size_t)o.ids + (size_t)o.unseen_ids) * (size_t)o.per_id;
        printf("synth: wrote %zu images (%d training + %d unseen identities x %d, %dx%d %s) and %d pairs to %s in %.1f s\n",
               n, o.ids, o.unseen_ids, o.per_id, o.size, o.size, o.channels == 1 ? "gray" : "RGB", o.pairs,
               out_dir, el);
    }
    return 0;
}
