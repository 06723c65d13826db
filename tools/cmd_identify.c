/* tools/cmd_identify.c: `facecl identify`: 1:N open-set identification of probe images against a gallery of identities: top-K, decisions, CMC, DIR at FAR. */
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "eval_common.h"
#include "options.h"
#include "identify_common.h"
#include "io/csv_internal.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: facecl identify --checkpoint CKPT --gallery DIR --probes DIR [options]\n\n"
            "1:N identification: every probe image is matched against every identity of the gallery\n"
            "(an ImageFolder, one sub-folder of one or more images per identity) by the cosine of\n"
            "embeddings (one GEMM on the device), and answered with the best identity, or with the\n"
            "unknown label when the best score is below the threshold.\n"
            "  Writes OUT (CSV: probe, [true identity,] decision, best score, then the top-K\n"
            "  identities and scores).\n"
            "  Labelled probes (an ImageFolder whose folder names are identities; identities the gallery\n"
            "  does not have are impostors): rank-1 / rank-5 identification rate, the CMC curve, open-set\n"
            "  DIR (detected and identified rate) at FAR 1e-1 / 1e-2 / 1e-3 with their thresholds (FAR\n"
            "  from the impostors' best scores), and the decisions' accuracy; printed and written to\n"
            "  OUT-metrics.txt and OUT-cmc.png (OUT without .csv).\n"
            "  Unlabelled probes: a flat folder of images.\n\n"
            "options:\n"
            "  --checkpoint CKPT     checkpoint written by `facecl train` (required)\n"
            "  --gallery DIR         the enrolled identities (required)\n"
            "  --probes DIR          the images to identify (required)\n"
            "  --threshold T         answer unknown when the best score < T\n"
            "  --far X               the threshold that gives FAR X on the labelled probes' impostors\n"
            "                        (without either: closed set, every probe gets its best identity)\n"
            "  --top K               identities listed per probe (default 5, 1..1000)\n"
            "  --match mean|max      score against the normalised mean of an identity's embeddings\n"
            "                        (default), or the best of its images\n"
            "  --unknown-label NAME  the decision for a rejected probe (default unknown)\n"
            "  --out FILE.csv        per-probe results (default identify.csv; written atomically)\n"
            "  --tta flip|none       embed each image and its mirror, sum, normalise (default none)\n"
            "  --batch N             images per forward (default 32)\n"
            "  --workers N           image decoding threads (default 2)\n"
            "  --device SEL          OpenCL device (default $FACECL_DEVICE, else the first GPU)\n"
            "  --bench-random GxPxD  no images: time matching P random probes against G random\n"
            "                        identities of dimension D on the device (e.g. 10000x10000x128)\n");
}

/* "x.csv" -> "x<suffix>" (malloc'd). */
static char *sibling(const char *out, const char *suffix)
{
    size_t n = strlen(out), m = strlen(suffix);
    if (n >= 4 && !strcmp(out + n - 4, ".csv")) n -= 4;
    char *s = malloc(n + m + 1);
    if (s) {
        memcpy(s, out, n);
        memcpy(s + n, suffix, m + 1);
    }
    return s;
}

static int bench_random(const char *spec, const char *device, fcl_match_mode mode, int k)
{
    unsigned long G, P, D;
    char tail;
    if (sscanf(spec, "%lux%lux%lu%c", &G, &P, &D, &tail) != 3 || !G || !P || !D || G > 10000000ul ||
        P > 10000000ul || D > 65536ul) {
        tool_fail("--bench-random: expected GxPxD (e.g. 10000x10000x128), got '%s'", spec);
        return 2;
    }
    fcl_ctx *ctx = tool_ctx(device, 0);
    if (!ctx) return 1;
    int rc = 1;
    float *g = malloc((size_t)G * D * sizeof *g), *p = malloc((size_t)P * D * sizeof *p);
    int *ids = malloc((size_t)G * sizeof *ids), *truth = malloc((size_t)P * sizeof *truth);
    tool_ident t = {0};
    if (!g || !p || !ids || !truth) {
        tool_fail("out of memory");
        goto done;
    }
    fcl_rng r;
    fcl_rng_seed(&r, 1);
    for (size_t i = 0; i < (size_t)G * D; i++) g[i] = fcl_rng_normal(&r);
    for (size_t i = 0; i < G; i++) ids[i] = (int)i;
    /* Probes: half are noisy copies of a gallery identity, half impostors (fresh vectors). */
    for (size_t i = 0; i < P; i++) {
        int genuine = (i & 1) == 0;
        truth[i] = genuine ? (int)(fcl_rng_next(&r) % G) : -1;
        for (size_t j = 0; j < D; j++)
            p[i * D + j] = (genuine ? g[(size_t)truth[i] * D + j] : 0.0f) + fcl_rng_normal(&r);
    }
    for (size_t i = 0; i < P; i++) { /* probes are unit rows, as fcl_embed_source gives */
        double s = 0;
        for (size_t j = 0; j < D; j++) s += (double)p[i * D + j] * p[i * D + j];
        for (size_t j = 0; j < D; j++) p[i * D + j] = (float)(p[i * D + j] / sqrt(s));
    }
    fprintf(stderr, "identify: random %lu identities x %lu probes x %lu dims on %s\n", G, P, D, fcl_ctx_device(ctx)->name);
    /* A first small run builds the GEMM kernels, so the timing below is the matching itself. */
    if (tool_ident_match(ctx, g, ids, G < 64 ? G : 64, G < 64 ? G : 64, p, 1, D, NULL, mode, 1, &t)) goto done;
    tool_ident_free(&t);
    if (tool_ident_match(ctx, g, ids, G, G, p, P, D, truth, mode, k, &t)) goto done;
    fcl_ident_metrics m;
    if (tool_ident_metrics(&t, -INFINITY, &m)) goto done;
    printf("identify: %lu probes x %lu identities x %lu dims: %.3f s (gallery build, GEMM on the device, top-%d and "
           "ranks on the host; %.1f M scores/s); rank-1 %.2f%%\n",
           P, G, D, t.seconds_match, t.res.k, (double)P * (double)G / t.seconds_match / 1e6, 100 * m.rank1);
    fcl_ident_metrics_free(&m);
    rc = 0;
done:
    tool_ident_free(&t);
    free(g);
    free(p);
    free(ids);
    free(truth);
    fcl_ctx_destroy(ctx);
    return rc;
}

static int write_csv(const char *path, const fcl_dataset *probes, int labelled, const fcl_dataset *gal,
                     const tool_ident *t, double thr, const char *unknown)
{
    fcl_error err = {0};
    fcl_atomic_file af;
    if (fcl_atomic_open(&af, path, &err)) return tool_fail_err(&err);
    const int k = t->res.k;
    int bad = fputs(labelled ? "probe,identity,decision,score" : "probe,decision,score", af.f) < 0;
    for (int j = 1; j <= k && !bad; j++) bad = fprintf(af.f, ",id%d,score%d", j, j) < 0;
    bad = bad || fputc('\n', af.f) < 0;
    for (size_t i = 0; i < probes->n && !bad; i++) {
        const int *id = t->res.top_id + i * (size_t)k;
        const float *sc = t->res.top_score + i * (size_t)k;
        bad = fcl_csv_put_field(af.f, tool_strip_root(probes->paths[i], probes->root)) || fputc(',', af.f) < 0;
        if (!bad && labelled)
            bad = fcl_csv_put_field(af.f, probes->classes[probes->labels[i]]) || fputc(',', af.f) < 0;
        if (!bad) bad = fcl_csv_put_field(af.f, (double)sc[0] >= thr ? gal->classes[id[0]] : unknown);
        if (!bad) bad = fprintf(af.f, ",%.6f", sc[0]) < 0;
        for (int j = 0; j < k && !bad; j++) {
            bad = fputc(',', af.f) < 0 || fcl_csv_put_field(af.f, gal->classes[id[j]]) || fprintf(af.f, ",%.6f", sc[j]) < 0;
        }
        if (!bad) bad = fputc('\n', af.f) < 0;
    }
    return tool_atomic_finish(&af, bad);
}

int fcl_cmd_identify(int argc, char **argv)
{
    const char *gdir = NULL, *pdir = NULL, *out = "identify.csv", *unknown = "unknown", *bench = NULL, *match = "mean";
    int k = 5, tta = 0, rc = 1;
    double thr = NAN, far = NAN; /* NAN: not given */
    tool_embed_args ea;
    tool_embed_args_init(&ea);
    const tool_option opts[] = {TOOL_EMBED_OPTIONS(&ea), TOOL_TTA_OPTION(&ea),
                                {"--gallery", TOOL_OPT_STR, &gdir, 0, 0, 0, 0},
                                {"--probes", TOOL_OPT_STR, &pdir, 0, 0, 0, 0},
                                {"--out", TOOL_OPT_STR, &out, 0, 0, 0, 0},
                                {"--unknown-label", TOOL_OPT_STR, &unknown, 0, 0, 0, 0},
                                {"--bench-random", TOOL_OPT_STR, &bench, 0, 0, 0, 0},
                                {"--match", TOOL_OPT_STR, &match, 0, 0, 0, 0},
                                {"--threshold", TOOL_OPT_NUM, &thr, -DBL_MAX, DBL_MAX, 0, 0},
                                {"--far", TOOL_OPT_NUM, &far, 0, 1, 0, 0},
                                {"--top", TOOL_OPT_INT, &k, 1, 1000, 0, 0}};
    int parsed = tool_options_parse("identify", usage, opts, sizeof opts / sizeof opts[0], argc, argv, 1, NULL, 0, NULL);
    if (parsed) return parsed == TOOL_PARSE_HELP ? 0 : 2;
    if (tool_embed_args_tta(&ea, &tta)) return 2;
    fcl_match_mode mode = FCL_MATCH_MEAN;
    if (!strcmp(match, "max")) mode = FCL_MATCH_MAX;
    else if (strcmp(match, "mean")) return tool_fail("--match: expected mean or max, got '%s'", match), 2;
    const char *ckpt = ea.checkpoint, *device = ea.device;
    const int batch = ea.batch, workers = ea.workers, have_thr = !isnan(thr), have_far = !isnan(far);
    if (!have_thr) thr = -INFINITY;
    if (!have_far) far = 0.0;
    if (have_thr && have_far) return tool_fail("identify: give --threshold or --far, not both"), 2;
    if (bench) return bench_random(bench, device, mode, k);
    if (!ckpt || !gdir || !pdir) {
        tool_fail("identify: %s is required (see facecl identify --help)", !ckpt ? "--checkpoint" : !gdir ? "--gallery DIR" : "--probes DIR");
        return 2;
    }

    fcl_error err = {0};
    fcl_dataset gal = {0}, probes = {0};
    tool_eval_setup s = {0};
    tool_ident t = {0};
    int labelled = 0;
    int *true_id = NULL;
    char *mpath = NULL, *cpath = NULL;

    /* Everything about the folders is checked before a device is touched. */
    int gflat = tool_folder_has_images(gdir);
    if (gflat < 0) goto done;
    if (gflat > 0) {
        tool_fail("%s: the gallery must be an ImageFolder (one sub-folder of images per identity), not a flat folder", gdir);
        rc = 2;
        goto done;
    }
    if (fcl_dataset_open_folder(gdir, 0, NULL, &gal, &err)) {
        tool_fail_err(&err);
        goto done;
    }
    if (fcl_dataset_class_index(&gal, unknown) >= 0) {
        tool_fail("identify: the gallery has an identity called '%s', the unknown label; choose another with --unknown-label", unknown);
        rc = 2;
        goto done;
    }
    int flat = 0;
    if (tool_dataset_open(pdir, 0, &probes, &flat)) goto done;
    labelled = !flat;
    true_id = malloc(probes.n * sizeof *true_id);
    if (!true_id) {
        tool_fail("out of memory");
        goto done;
    }
    size_t n_imp = 0;
    for (size_t i = 0; i < probes.n; i++) {
        true_id[i] = labelled ? fcl_dataset_class_index(&gal, probes.classes[probes.labels[i]]) : -1;
        n_imp += labelled && true_id[i] < 0;
    }
    if (have_far && (!labelled || !n_imp)) {
        tool_fail("identify: --far needs labelled probes with impostors (identities absent from the gallery) to set "
                  "the threshold; %s has %s (use --threshold)", pdir, !labelled ? "no identity folders" : "no impostors");
        rc = 2;
        goto done;
    }
    if (tool_mkdirs_parent(out)) goto done;

    if (tool_eval_open(ckpt, device, batch, workers, &s)) goto done;
    s.in.tta_flip = tta;
    fprintf(stderr, "identify: %s (%s, %dx%dx%d%s) on %zu gallery images of %d identities, %zu probes%s, %s\n", ckpt,
            s.model->name, s.in.channels, s.in.height, s.in.width, tta ? ", flip TTA" : "", gal.n, gal.n_classes,
            probes.n, labelled ? "" : " (unlabelled)", fcl_ctx_device(s.ctx)->name);
    fcl_loader_source gs = fcl_loader_source_dataset(&gal), ps = fcl_loader_source_dataset(&probes);
    if (tool_ident_run(s.ctx, s.net, &s.in, &gs, gal.labels, (size_t)gal.n_classes, &ps, labelled ? true_id : NULL, mode,
                       k, &t))
        goto done;
    fprintf(stderr, "identify: matched %zu probes x %d identities in %.3f s\n", probes.n, gal.n_classes, t.seconds_match);
    if (have_far) {
        double reached;
        if (fcl_ident_threshold_at_far(t.rank, t.best, t.n_probes, far, &thr, &reached, &err)) {
            tool_fail_err(&err);
            goto done;
        }
        printf("threshold    %.6f gives FAR %.4g on these probes' %zu impostors (asked %g)\n", thr, reached, n_imp, far);
    }
    if (write_csv(out, &probes, labelled, &gal, &t, thr, unknown)) goto done;
    printf("wrote %s (%zu probes, top %d)\n", out, probes.n, t.res.k);
    if (!labelled) {
        rc = 0;
        goto done;
    }
    mpath = sibling(out, "-metrics.txt");
    cpath = sibling(out, "-cmc.png");
    if (!mpath || !cpath) {
        tool_fail("out of memory");
        goto done;
    }
    char title[256];
    snprintf(title, sizeof title, "CMC of %s: %zu probes, %d identities", s.model->name, probes.n - n_imp, gal.n_classes);
    if (tool_ident_report(&t, thr, mpath, cpath, title, 1)) goto done;
    printf("wrote %s and %s\n", mpath, cpath);
    rc = 0;
done:
    free(mpath);
    free(cpath);
    free(true_id);
    tool_ident_free(&t);
    tool_eval_close(&s);
    fcl_dataset_free(&gal);
    fcl_dataset_free(&probes);
    return rc;
}
