/* tools/cmd_verify.c: `facecl verify`: cosine scores of a pair list and the verification metrics (ROC AUC, EER, TAR@FAR, accuracy, k-fold). */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "eval_common.h"
#include "options.h"
#include "io/csv_internal.h"
#include "progress.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: facecl verify --checkpoint CKPT --pairs FILE [options]\n"
            "       facecl verify --embeddings FILE.npy [--index FILE.txt] --pairs FILE [options]\n\n"
            "Scores every pair of a pair list by the cosine similarity of the two images' embeddings\n"
            "(each distinct image is embedded once; or the rows of an `facecl embed` output).\n"
            "  Labelled list: ROC AUC, EER and its threshold, TAR at FAR 1e-1 / 1e-2 / 1e-3, the\n"
            "      best-threshold accuracy and, for LFW lists (or with --folds), the k-fold accuracy\n"
            "      (threshold chosen on the other folds) as mean and std; printed and written to\n"
            "      OUT/metrics.txt, with OUT/scores.csv (`path1,path2,label,score`) and the ROC curve\n"
            "      OUT/roc.png (TAR against FAR on a log axis).\n"
            "  Unlabelled list: OUT/scores.csv (`path1,path2,score`), for submission.\n\n"
            "Pair lists: `path1 path2 label` (1 same, 0 different) or `path1 path2` lines, paths\n"
            "relative to --root; with --lfw, LFW's pairs.txt format (images root/name/name_NNNN.jpg).\n\n"
            "options:\n"
            "  --checkpoint CKPT     checkpoint written by `facecl train`\n"
            "  --embeddings FILE.npy embeddings from `facecl embed` instead of a checkpoint\n"
            "  --index FILE.txt      their index (default: FILE.npy with .txt for .npy)\n"
            "  --pairs FILE          the pair list (required)\n"
            "  --root DIR            folder the pair paths are relative to (default: the pair list's)\n"
            "  --lfw                 the list is in LFW pairs.txt format\n"
            "  --folds K             k-fold accuracy over K contiguous folds of a plain list (LFW lists\n"
            "                        use the file's folds; 0 turns it off)\n"
            "  --out DIR             output folder (default: the current folder; created if needed)\n"
            "  --batch N             images per forward (default 32)\n"
            "  --workers N           image decoding threads (default 2)\n"
            "  --tta flip|none       embed each image and its mirror, sum, normalise (default none)\n"
            "  --device SEL          OpenCL device (default $FACECL_DEVICE, else the first GPU)\n");
}

/* Replaces *s by its canonical absolute path when the file exists (so that "a/./b" and "/x/a/b"
 * name the same row); keeps it otherwise. 0, or -1 on out of memory. */
static int canonicalise(char **s)
{
    char buf[PATH_MAX];
    if (!realpath(*s, buf)) return 0;
    char *c = strdup(buf);
    if (!c) return -1;
    free(*s);
    *s = c;
    return 0;
}

/* Reads an index file: one path per line (trailing '\r' dropped, no blank lines). */
static int read_index(const char *path, fcl_strlist *out)
{
    fcl_error err = {0};
    FILE *f = fopen(path, "r");
    if (!f) return tool_fail("cannot open index %s: %s", path, strerror(errno));
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int lineno = 0, rc = 0;
    while ((n = getline(&line, &cap, f)) >= 0) {
        lineno++;
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) line[--n] = '\0';
        if (n == 0) {
            rc = tool_fail("%s:%d: empty line (expected one image path per line)", path, lineno);
            break;
        }
        if (fcl_strlist_add(out, &err, "%s", line)) {
            rc = tool_fail_err(&err);
            break;
        }
    }
    if (!rc && ferror(f)) rc = tool_fail("%s: read error", path);
    free(line);
    fclose(f);
    return rc;
}

/* Scores from precomputed embeddings: rows looked up by canonical path (pl itself is left as
 * it is, so outputs keep the list's own paths). */
static int scores_from_embeddings(const char *npy, const char *index, const fcl_pair_list *pl, double *scores)
{
    fcl_error err = {0};
    fcl_npy a;
    fcl_strlist paths = {0};
    size_t *r1 = NULL, *r2 = NULL;
    fcl_pair *cp = NULL;
    size_t n_cp = 0;
    int rc = 1;
    memset(&a, 0, sizeof a);
    char *ipath = NULL;
    ipath = index ? strdup(index) : tool_default_index(npy);
    if (!ipath) goto oom;
    if (tool_npy_read(npy, &a, 2, 1, "expected a 2-d [n, D] array of embeddings")) goto done;
    if (read_index(ipath, &paths)) goto done;
    if (paths.n != a.shape[0]) {
        tool_fail("%s lists %zu images but %s has %zu rows", ipath, paths.n, npy, a.shape[0]);
        goto done;
    }
    for (size_t i = 0; i < paths.n; i++)
        if (canonicalise(&paths.items[i])) goto oom;
    cp = calloc(pl->n, sizeof *cp);
    if (!cp) goto oom;
    for (; n_cp < pl->n; n_cp++) {
        cp[n_cp] = pl->pairs[n_cp];
        cp[n_cp].path1 = strdup(cp[n_cp].path1);
        cp[n_cp].path2 = strdup(cp[n_cp].path2);
        if (!cp[n_cp].path1 || !cp[n_cp].path2 || canonicalise(&cp[n_cp].path1) || canonicalise(&cp[n_cp].path2)) {
            n_cp++;
            goto oom;
        }
    }
    fcl_pair_list canon = *pl;
    canon.pairs = cp;
    r1 = malloc(pl->n * sizeof *r1);
    r2 = malloc(pl->n * sizeof *r2);
    if (!r1 || !r2) goto oom;
    if (fcl_pair_rows_lookup(&canon, (const char *const *)paths.items, paths.n, r1, r2, &err) ||
        fcl_verify_scores(a.data, a.shape[0], a.shape[1], r1, r2, pl->n, scores, &err)) {
        tool_fail_err(&err);
        goto done;
    }
    fprintf(stderr, "verify: %zu pairs scored from %s (%zu x %zu)\n", pl->n, npy, a.shape[0], a.shape[1]);
    rc = 0;
    goto done;
oom:
    tool_fail("out of memory");
done:
    for (size_t i = 0; i < n_cp; i++) {
        free(cp[i].path1);
        free(cp[i].path2);
    }
    free(cp);
    free(ipath);
    free(r1);
    free(r2);
    fcl_strlist_free(&paths);
    fcl_npy_free(&a);
    return rc;
}

static int write_scores(const char *path, const fcl_pair_list *pl, const char *root, const double *scores)
{
    fcl_error err = {0};
    fcl_atomic_file af;
    if (fcl_atomic_open(&af, path, &err)) return tool_fail_err(&err);
    int bad = fputs(pl->labelled ? "path1,path2,label,score\n" : "path1,path2,score\n", af.f) < 0;
    for (size_t i = 0; i < pl->n && !bad; i++) {
        const fcl_pair *p = &pl->pairs[i];
        bad = fcl_csv_put_field(af.f, tool_strip_root(p->path1, root)) || fputc(',', af.f) < 0 ||
              fcl_csv_put_field(af.f, tool_strip_root(p->path2, root)) || fputc(',', af.f) < 0;
        if (!bad && pl->labelled) bad = fprintf(af.f, "%d,", p->label) < 0;
        if (!bad) bad = fprintf(af.f, "%.9f\n", scores[i]) < 0;
    }
    return tool_atomic_finish(&af, bad);
}

static int plot_roc(const char *path, const fcl_verify_result *r, const char *name)
{
    fcl_error err = {0};
    char title[256], label[128];
    snprintf(title, sizeof title, "ROC of %s on %zu pairs", name, r->n);
    snprintf(label, sizeof label, "AUC %.4f, EER %.2f%%", r->auc, 100.0 * r->eer);
    fcl_plot_series s = {0};
    s.label = label;
    s.x = r->roc.fpr;
    s.y = r->roc.tpr;
    s.n = r->roc.n_points;
    fcl_plot_opts o = {0};
    o.log_x = 1;
    o.y_fixed = 1;
    o.y_min = 0.0;
    o.y_max = 1.0;
    /* From the smallest FAR these pairs can measure (one impostor accepted) to 1. */
    o.x_fixed = 1;
    o.x_min = pow(10.0, floor(log10(1.0 / (double)(r->n_neg ? r->n_neg : 1))));
    if (o.x_min >= 1.0) o.x_min = 0.1;
    o.x_max = 1.0;
    if (fcl_plot_lines(path, title, "false accept rate (FAR)", "true accept rate (TAR)", &s, 1, &o, &err))
        return tool_fail_err(&err);
    return 0;
}

int fcl_cmd_verify(int argc, char **argv)
{
    const char *npy = NULL, *index = NULL, *pairs = NULL, *root = NULL, *out_dir = ".";
    int tta = 0, lfw = 0, folds = -1, rc = 1;
    tool_embed_args ea;
    tool_embed_args_init(&ea);
    const tool_option opts[] = {TOOL_EMBED_OPTIONS(&ea), TOOL_TTA_OPTION(&ea),
                                TOOL_PAIRS_OPTIONS(&pairs, &root, &lfw),
                                {"--root", TOOL_OPT_STR, &root, 0, 0, 0, 0},
                                {"--embeddings", TOOL_OPT_STR, &npy, 0, 0, 0, 0},
                                {"--index", TOOL_OPT_STR, &index, 0, 0, 0, 0},
                                {"--out", TOOL_OPT_STR, &out_dir, 0, 0, 0, 0},
                                {"--folds", TOOL_OPT_INT, &folds, 0, 1000, 0, 0}};
    int parsed = tool_options_parse("verify", usage, opts, sizeof opts / sizeof opts[0], argc, argv, 1, NULL, 0, NULL);
    if (parsed) return parsed == TOOL_PARSE_HELP ? 0 : 2;
    if (tool_embed_args_tta(&ea, &tta)) return 2;
    if (folds == 1) {
        tool_fail("--folds: k-fold needs at least 2 folds (0 turns it off)");
        return 2;
    }
    const char *ckpt = ea.checkpoint, *device = ea.device;
    const int batch = ea.batch, workers = ea.workers;
    if (!pairs || (!ckpt == !npy)) {
        tool_fail("verify: %s (see facecl verify --help)", !pairs ? "--pairs is required" : "give exactly one of --checkpoint and --embeddings");
        return 2;
    }
    if (tta && npy) {
        tool_fail("verify: --tta applies when embedding with --checkpoint, not to --embeddings");
        return 2;
    }
    if (index && !npy) {
        tool_fail("verify: --index goes with --embeddings");
        return 2;
    }

    fcl_error err = {0};
    fcl_pair_list pl = {0};
    tool_eval_setup s = {0};
    fcl_verify_result res = {0};
    int have_res = 0;
    fcl_progress prog;
    double *scores = NULL;
    int *labels = NULL;
    int *fold_ids = NULL;
    char *text = NULL, *path = NULL, *root_store = NULL;
    const char *model_name = npy;

    /* With a checkpoint every image is read: check they exist before starting a device. */
    if (tool_pairs_load(pairs, root, lfw, ckpt ? FCL_PAIRS_CHECK_FILES : 0, &pl, &root_store)) goto done;
    root = root_store;
    if (pl.n == 0) {
        tool_fail("%s: no pairs", pairs);
        goto done;
    }
    if (tool_mkdirs(out_dir)) goto done;

    if (ckpt) {
        if (tool_eval_open(ckpt, device, batch, workers, &s)) goto done;
        s.in.tta_flip = tta;
        model_name = s.model->name;
        fcl_pair_index pi;
        size_t n_img = 0;
        if (!fcl_pair_index_build(&pl, &pi, &err)) {
            n_img = pi.n_images;
            fcl_pair_index_free(&pi);
        }
        fprintf(stderr, "verify: %s (%s, %dx%dx%d) on %zu pairs (%zu distinct images) of %s, %s\n", ckpt,
                s.model->name, s.in.channels, s.in.height, s.in.width, pl.n, n_img, pairs,
                fcl_ctx_device(s.ctx)->name);
        fcl_progress_start(&prog, "embed", n_img, "img");
        if (fcl_embed_pairs(s.ctx, s.net, &s.in, &pl, fcl_progress_cb, &prog, &scores)) {
            fcl_progress_abort(&prog);
            tool_fail_err(fcl_ctx_error(s.ctx));
            goto done;
        }
        fcl_progress_end(&prog, NULL);
    } else {
        scores = malloc(pl.n * sizeof *scores);
        if (!scores) {
            tool_fail("out of memory");
            goto done;
        }
        if (scores_from_embeddings(npy, index, &pl, scores)) goto done;
    }

    path = tool_join(out_dir, "scores.csv");
    if (!path || write_scores(path, &pl, root, scores)) goto done;
    printf("wrote %s (%zu pairs)\n", path, pl.n);
    if (!pl.labelled) {
        rc = 0;
        goto done;
    }

    labels = malloc(pl.n * sizeof *labels);
    fold_ids = malloc(pl.n * sizeof *fold_ids);
    if (!labels || !fold_ids) {
        tool_fail("out of memory");
        goto done;
    }
    for (size_t i = 0; i < pl.n; i++) {
        labels[i] = pl.pairs[i].label;
        fold_ids[i] = pl.pairs[i].fold;
    }
    fcl_verify_opts vo = {0};
    if (folds > 0) {
        vo.k_folds = folds; /* contiguous folds, as asked */
    } else if (folds < 0 && pl.n_folds >= 2) {
        vo.k_folds = pl.n_folds; /* the list's own folds (LFW) */
        vo.folds = fold_ids;
    }
    if (fcl_verify_evaluate(scores, labels, pl.n, &vo, &res, &err)) {
        tool_fail_err(&err);
        goto done;
    }
    have_res = 1;
    if (fcl_verify_result_format(&res, &text, &err)) {
        tool_fail_err(&err);
        goto done;
    }
    printf("%s", text);
    free(path);
    path = tool_join(out_dir, "metrics.txt");
    if (!path || tool_write_text(path, text)) goto done;
    printf("wrote %s\n", path);
    free(path);
    path = tool_join(out_dir, "roc.png");
    if (!path || plot_roc(path, &res, model_name)) goto done;
    printf("wrote %s\n", path);
    rc = 0;
done:
    if (have_res) fcl_verify_result_free(&res);
    free(text);
    free(path);
    free(scores);
    free(labels);
    free(fold_ids);
    free(root_store);
    tool_eval_close(&s);
    fcl_pairs_free(&pl);
    return rc;
}
