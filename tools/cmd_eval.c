/* tools/cmd_eval.c: `facecl eval`: classification accuracy and per-class report of a checkpoint on a labelled folder, or predictions for an unlabelled one. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "eval_common.h"
#include "options.h"
#include "io/csv_internal.h"

/* Above this many classes the confusion counts are written as (true, predicted, count) rows
 * instead of a full matrix, which would have classes^2 cells. */
#define CONFUSION_MATRIX_MAX 1000

static void usage(FILE *f)
{
    fprintf(f,
            "usage: facecl eval --checkpoint CKPT DIR [options]\n\n"
            "Runs the classifier of a checkpoint over the images of DIR (resized to the model's input\n"
            "and passed through the checkpoint's eval pipeline).\n"
            "  DIR labelled (one sub-folder per class, ImageFolder): top-1 / top-5 accuracy and the\n"
            "      per-class report, printed and written to OUT/report.txt; OUT/confusion.csv (a\n"
            "      matrix `true\\predicted,<class>...`, or `true,predicted,count` rows above %d\n"
            "      classes); OUT/predictions.csv (`id,label`: path under DIR, predicted class).\n"
            "      Class folders are matched to the checkpoint's classes by name; a folder the model\n"
            "      does not know is an error.\n"
            "  DIR unlabelled (images directly in DIR, or --unlabelled): OUT/predictions.csv with\n"
            "      `id,label` = file name, predicted class name, in file-name order.\n\n"
            "options:\n"
            "  --checkpoint CKPT  checkpoint written by `facecl train` (required)\n"
            "  --out DIR          output folder (default: the current folder; created if needed)\n"
            "  --unlabelled       treat DIR as a flat folder of unlabelled images\n"
            "  --batch N          images per forward (default 32)\n"
            "  --workers N        image decoding threads (default 2)\n"
            "  --device SEL       OpenCL device (default $FACECL_DEVICE, else the first GPU)\n",
            CONFUSION_MATRIX_MAX);
}

/* Maps the dataset's class folders onto the checkpoint's classes by name: map[dataset class]
 * = model class. Without class names in the checkpoint the folders must be exactly as many as
 * the model's classes and are taken in sorted order (with a warning). */
static int map_classes(const fcl_dataset *ds, const fcl_strlist *names, int model_classes, const char *ckpt,
                       int *map)
{
    if (names->n == 0) {
        if (ds->n_classes != model_classes)
            return tool_fail("%s has no class names and %d classes; %s has %d class folders, so they cannot be matched",
                             ckpt, model_classes, ds->root, ds->n_classes);
        fprintf(stderr, "facecl eval: warning: %s has no class names; assuming the %d class folders of %s in sorted order\n",
                ckpt, ds->n_classes, ds->root);
        for (int i = 0; i < ds->n_classes; i++) map[i] = i;
        return 0;
    }
    for (int i = 0; i < ds->n_classes; i++) {
        map[i] = -1;
        for (size_t j = 0; j < names->n; j++)
            if (!strcmp(ds->classes[i], names->items[j])) {
                map[i] = (int)j;
                break;
            }
        if (map[i] < 0)
            return tool_fail("class folder '%s' (%s/%s) is not one of the %zu classes of %s", ds->classes[i], ds->root,
                             ds->classes[i], names->n, ckpt);
    }
    return 0;
}

static int cmp_size(const void *a, const void *b)
{
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    return x < y ? -1 : x > y;
}

static int write_confusion(const char *path, const int *pred, const int *labels, size_t n, int c,
                           const char *const *names)
{
    fcl_error err = {0};
    fcl_atomic_file af;
    size_t *m = NULL;
    int rc = 0, bad = 0;
    if (fcl_atomic_open(&af, path, &err)) return tool_fail_err(&err);
    if (c <= CONFUSION_MATRIX_MAX) {
        m = malloc((size_t)c * (size_t)c * sizeof *m);
        if (!m) {
            fcl_atomic_abort(&af);
            return tool_fail("%s: out of memory", path);
        }
        if (fcl_confusion_counts(pred, labels, n, c, m, &err)) {
            fcl_atomic_abort(&af);
            free(m);
            return tool_fail_err(&err);
        }
        bad |= fputs("true\\predicted", af.f) < 0;
        for (int j = 0; j < c; j++) bad |= fputc(',', af.f) < 0 || fcl_csv_put_field(af.f, names[j]);
        bad |= fputc('\n', af.f) < 0;
        for (int i = 0; i < c; i++) {
            bad |= fcl_csv_put_field(af.f, names[i]);
            for (int j = 0; j < c; j++) bad |= fprintf(af.f, ",%zu", m[(size_t)i * (size_t)c + (size_t)j]) < 0;
            bad |= fputc('\n', af.f) < 0;
        }
    } else {
        /* Sparse: sort (true, predicted) keys, count runs. */
        size_t *k = malloc((n ? n : 1) * sizeof *k);
        if (!k) {
            fcl_atomic_abort(&af);
            return tool_fail("%s: out of memory", path);
        }
        for (size_t i = 0; i < n; i++) k[i] = (size_t)labels[i] * (size_t)c + (size_t)pred[i];
        qsort(k, n, sizeof *k, cmp_size);
        bad |= fputs("true,predicted,count\n", af.f) < 0;
        for (size_t i = 0; i < n;) {
            size_t j = i;
            while (j < n && k[j] == k[i]) j++;
            bad |= fcl_csv_put_field(af.f, names[k[i] / (size_t)c]) || fputc(',', af.f) < 0 ||
                   fcl_csv_put_field(af.f, names[k[i] % (size_t)c]) || fprintf(af.f, ",%zu\n", j - i) < 0;
            i = j;
        }
        free(k);
    }
    free(m);
    return tool_atomic_finish(&af, bad) ? 1 : rc;
}

int fcl_cmd_eval(int argc, char **argv)
{
    const char *dir = NULL, *out_dir = ".";
    int unlabelled = 0, rc = 1, np = 0;
    tool_embed_args ea;
    tool_embed_args_init(&ea);
    const tool_option opts[] = {TOOL_EMBED_OPTIONS(&ea),
                                {"--out", TOOL_OPT_STR, &out_dir, 0, 0, 0, 0},
                                {"--unlabelled", TOOL_OPT_FLAG, &unlabelled, 0, 0, 0, 0},
                                {"--unlabeled", TOOL_OPT_FLAG, &unlabelled, 0, 0, 0, 0}};
    int parsed = tool_options_parse("eval", usage, opts, sizeof opts / sizeof opts[0], argc, argv, 1, &dir, 1, &np);
    if (parsed) return parsed == TOOL_PARSE_HELP ? 0 : 2;
    const char *ckpt = ea.checkpoint, *device = ea.device;
    const int batch = ea.batch, workers = ea.workers;
    if (!ckpt || !dir) {
        tool_fail("eval: %s (see facecl eval --help)", !ckpt ? "--checkpoint is required" : "the image folder DIR is required");
        return 2;
    }

    fcl_error err = {0};
    fcl_dataset ds = {0};
    tool_eval_setup s = {0};
    fcl_class_report rep = {0};
    float *logits = NULL;
    int *pred = NULL, *labels = NULL, *map = NULL;
    char *text = NULL, *path = NULL;
    const char **ids = NULL, **names = NULL;
    char **name_store = NULL;
    size_t C = 0;
    int n_store = 0;

    if (tool_dataset_open(dir, unlabelled, &ds, &unlabelled)) goto done;
    if (tool_eval_open(ckpt, device, batch, workers, &s)) goto done;
    const int classes = s.model->classes;
    if (classes <= 0) {
        tool_fail("%s: model %s has no classifier; use `facecl embed` or `facecl verify`", ckpt, s.model->name);
        goto done;
    }
    if (s.class_names.n && s.class_names.n != (size_t)classes) {
        tool_fail("%s: %zu class names for a model with %d classes", ckpt, s.class_names.n, classes);
        goto done;
    }
    /* Class names for output: the checkpoint's, else "0", "1", ... */
    names = calloc((size_t)classes, sizeof *names);
    name_store = calloc((size_t)classes, sizeof *name_store);
    n_store = classes;
    if (!names || !name_store) {
        tool_fail("out of memory");
        goto done;
    }
    for (int j = 0; j < classes; j++) {
        if (s.class_names.n) {
            names[j] = s.class_names.items[j];
        } else {
            char b[24];
            snprintf(b, sizeof b, "%d", j);
            name_store[j] = strdup(b);
            if (!name_store[j]) {
                tool_fail("out of memory");
                goto done;
            }
            names[j] = name_store[j];
        }
    }
    if (!unlabelled) {
        map = malloc((size_t)(ds.n_classes ? ds.n_classes : 1) * sizeof *map);
        labels = malloc((ds.n ? ds.n : 1) * sizeof *labels);
        if (!map || !labels) {
            tool_fail("out of memory");
            goto done;
        }
        if (map_classes(&ds, &s.class_names, classes, ckpt, map)) goto done;
        for (size_t i = 0; i < ds.n; i++) labels[i] = map[ds.labels[i]];
    }
    if (tool_mkdirs(out_dir)) goto done;

    fprintf(stderr, "eval: %s (%s, %dx%dx%d) on %zu %s images of %s, %s\n", ckpt, s.model->name, s.in.channels,
            s.in.height, s.in.width, ds.n, unlabelled ? "unlabelled" : "labelled", dir,
            fcl_ctx_device(s.ctx)->name);
    if (tool_eval_dataset(&s, &ds, "eval", 1, &logits, &C)) goto done;
    if (C != (size_t)classes) {
        tool_fail("internal: the network gave %zu outputs for %d classes", C, classes);
        goto done;
    }
    pred = malloc(ds.n * sizeof *pred);
    ids = malloc(ds.n * sizeof *ids);
    if (!pred || !ids) {
        tool_fail("out of memory");
        goto done;
    }
    if (fcl_argmax_rows(logits, ds.n, classes, pred, &err)) {
        tool_fail_err(&err);
        goto done;
    }
    /* ids: the file name (flat) or the path under DIR (class/file). */
    for (size_t i = 0; i < ds.n; i++) {
        if (unlabelled) {
            const char *slash = strrchr(ds.paths[i], '/');
            ids[i] = slash ? slash + 1 : ds.paths[i];
        } else {
            ids[i] = tool_strip_root(ds.paths[i], ds.root);
        }
    }
    path = tool_join(out_dir, "predictions.csv");
    if (!path) {
        tool_fail("out of memory");
        goto done;
    }
    if (fcl_predictions_write_csv(path, ids, pred, ds.n, classes, names, &err)) {
        tool_fail_err(&err);
        goto done;
    }
    printf("wrote %s (%zu predictions)\n", path, ds.n);
    if (unlabelled) {
        rc = 0;
        goto done;
    }

    int ks[2] = {1, 5};
    size_t correct[2];
    if (fcl_topk_correct(logits, labels, ds.n, classes, ks, 2, correct, &err) ||
        fcl_class_report_compute(pred, labels, ds.n, classes, &rep, &err) ||
        fcl_class_report_format(&rep, names, &text, &err)) {
        tool_fail_err(&err);
        goto done;
    }
    char head[512];
    snprintf(head, sizeof head,
             "checkpoint      %s\nimages          %zu in %d class folders of %s (model: %d classes)\n"
             "top-1 accuracy  %.4f %%  (%zu correct)\ntop-5 accuracy  %.4f %%  (%zu correct)%s\n\n",
             ckpt, ds.n, ds.n_classes, dir, classes, 100.0 * (double)correct[0] / (double)ds.n, correct[0],
             100.0 * (double)correct[1] / (double)ds.n, correct[1],
             classes <= 5 ? "  (5 or fewer classes: every image counts)" : "");
    printf("%s%s", head, text);
    size_t len = strlen(head) + strlen(text) + 1;
    char *all = malloc(len);
    if (!all) {
        tool_fail("out of memory");
        goto done;
    }
    snprintf(all, len, "%s%s", head, text);
    free(path);
    path = tool_join(out_dir, "report.txt");
    int w = path ? tool_write_text(path, all) : tool_fail("out of memory");
    free(all);
    if (w) goto done;
    printf("wrote %s\n", path);
    free(path);
    path = tool_join(out_dir, "confusion.csv");
    if (!path || write_confusion(path, pred, labels, ds.n, classes, names)) goto done;
    printf("wrote %s\n", path);
    rc = 0;
done:
    for (int j = 0; name_store && j < n_store; j++) free(name_store[j]);
    free(name_store);
    free(names);
    free(text);
    free(path);
    free(ids);
    free(pred);
    free(labels);
    free(map);
    free(logits);
    fcl_class_report_free(&rep);
    tool_eval_close(&s);
    fcl_dataset_free(&ds);
    return rc;
}
