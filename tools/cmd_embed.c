/* tools/cmd_embed.c: `facecl embed`: L2-normalised embeddings of every image of a folder as a .npy, with an index of the image paths. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "eval_common.h"
#include "options.h"
#include "io/csv_internal.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: facecl embed --checkpoint CKPT DIR --out FILE.npy [options]\n\n"
            "Embeds every image of DIR (an ImageFolder of class sub-folders, or a flat folder of\n"
            "images) with the checkpoint's network: one L2-normalised row per image, written as a\n"
            "float32 [n, D] .npy (numpy.load reads it), and an index file naming the image of each\n"
            "row (one path per line, same order: class folders sorted, then file names).\n\n"
            "options:\n"
            "  --checkpoint CKPT  checkpoint written by `facecl train` (required)\n"
            "  --out FILE.npy     the embeddings (required; written atomically)\n"
            "  --index FILE.txt   the image paths (default: FILE.npy with .txt for .npy)\n"
            "  --batch N          images per forward (default 32)\n"
            "  --workers N        image decoding threads (default 2)\n"
            "  --tta flip|none    embed each image and its mirror, sum, normalise (default none)\n"
            "  --device SEL       OpenCL device (default $FACECL_DEVICE, else the first GPU)\n");
}

static int write_index(const char *path, const fcl_dataset *ds)
{
    fcl_error err = {0};
    fcl_atomic_file af;
    int bad = 0;
    if (fcl_atomic_open(&af, path, &err)) return tool_fail_err(&err);
    for (size_t i = 0; i < ds->n && !bad; i++) {
        if (strchr(ds->paths[i], '\n')) {
            fcl_atomic_abort(&af);
            return tool_fail("%s: image path '%s' contains a newline; it cannot be listed one per line", path,
                             ds->paths[i]);
        }
        bad = fputs(ds->paths[i], af.f) < 0 || fputc('\n', af.f) < 0;
    }
    return tool_atomic_finish(&af, bad);
}

int fcl_cmd_embed(int argc, char **argv)
{
    const char *dir = NULL, *out = NULL, *index = NULL;
    int tta = 0, rc = 1, np = 0;
    tool_embed_args ea;
    tool_embed_args_init(&ea);
    const tool_option opts[] = {TOOL_EMBED_OPTIONS(&ea), TOOL_TTA_OPTION(&ea),
                                {"--out", TOOL_OPT_STR, &out, 0, 0, 0, 0},
                                {"--index", TOOL_OPT_STR, &index, 0, 0, 0, 0}};
    int parsed = tool_options_parse("embed", usage, opts, sizeof opts / sizeof opts[0], argc, argv, 1, &dir, 1, &np);
    if (parsed) return parsed == TOOL_PARSE_HELP ? 0 : 2;
    if (tool_embed_args_tta(&ea, &tta)) return 2;
    const char *ckpt = ea.checkpoint;
    if (!ckpt || !dir || !out) {
        tool_fail("embed: %s (see facecl embed --help)", !ckpt ? "--checkpoint is required" : !dir ? "the image folder DIR is required" : "--out FILE.npy is required");
        return 2;
    }

    fcl_error err = {0};
    fcl_dataset ds = {0};
    tool_eval_setup s = {0};
    float *emb = NULL;
    size_t dim = 0;
    char *index_path = index ? strdup(index) : tool_default_index(out);
    if (!index_path) {
        tool_fail("out of memory");
        goto done;
    }
    /* Output folders first: a typo must not cost a whole embedding run. */
    if (tool_mkdirs_parent(out) || tool_mkdirs_parent(index_path)) goto done;
    int flat = 0;
    if (tool_dataset_open(dir, 0, &ds, &flat)) goto done;
    if (tool_eval_open(ckpt, ea.device, ea.batch, ea.workers, &s)) goto done;
    s.in.tta_flip = tta;
    fprintf(stderr, "embed: %s (%s, %dx%dx%d, embedding %d) on %zu images of %s, %s\n", ckpt, s.model->name,
            s.in.channels, s.in.height, s.in.width, s.model->embedding_dim, ds.n, dir, fcl_ctx_device(s.ctx)->name);
    if (tool_eval_dataset(&s, &ds, "embed", 0, &emb, &dim)) goto done;
    size_t shape[2] = {ds.n, dim};
    if (fcl_npy_write_f32(out, emb, 2, shape, &err)) {
        tool_fail_err(&err);
        goto done;
    }
    if (write_index(index_path, &ds)) goto done;
    printf("embed: wrote %s (float32 [%zu, %zu], L2-normalised rows) and %s (%zu paths)\n", out, ds.n, dim,
           index_path, ds.n);
    rc = 0;
done:
    free(index_path);
    free(emb);
    tool_eval_close(&s);
    fcl_dataset_free(&ds);
    return rc;
}
