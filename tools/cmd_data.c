/* tools/cmd_data.c: `facecl data inspect`: decode a whole dataset (and pair list), print its summary, name every bad file. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "commands.h"
#include "eval_common.h"
#include "options.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: facecl data inspect DIR [--pairs FILE [--pairs-root DIR] [--lfw]] [--classes FILE]\n"
            "                               [--write-classes FILE] [--flat] [--skip-bad]\n\n"
            "Decodes every image of the dataset in DIR and prints a summary: identities, images,\n"
            "images per identity, decoded sizes. Exits non-zero naming every file that does not\n"
            "decode, every empty or misnamed class folder, every entry named like an image that is\n"
            "not a file (folder, FIFO, dangling link) and every pair naming a missing or bad file.\n\n"
            "  DIR                  ImageFolder (DIR/<identity>/<image>.png|jpg|jpeg); a folder\n"
            "                       without sub-folders is read as unlabelled images (or --flat)\n"
            "  --pairs FILE         a verification pair list, paths relative to the list's folder\n"
            "                       (as verify and train read it): `path1 path2 label` or\n"
            "                       `path1 path2` lines\n"
            "  --pairs-root DIR     folder the pair paths are relative to instead\n"
            "  --lfw                FILE is an LFW pairs.txt (images ROOT/name/name_0001.jpg)\n"
            "  --classes FILE       fix the class order with a class list (one name per line)\n"
            "  --write-classes FILE write the class list of DIR to FILE\n"
            "  --flat               read DIR as a flat folder of unlabelled images\n"
            "  --skip-bad           warn about bad files and empty class folders, leave them out,\n"
            "                       and succeed\n"
            "  --device SEL         accepted for uniformity; no device is used\n");
}

/* 1 when dir has at least one visible sub-folder (so it is an ImageFolder, not a flat one). */
static int has_subfolder(const char *dir)
{
    DIR *d = opendir(dir);
    int found = 0;
    if (!d) return 0;
    struct dirent *e;
    while (!found && (e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char *p = NULL;
        if (asprintf(&p, "%s/%s", dir, e->d_name) < 0) break;
        struct stat sb;
        found = stat(p, &sb) == 0 && S_ISDIR(sb.st_mode);
        free(p);
    }
    closedir(d);
    return found;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The library's messages start with "source.c:88 "; a user listing needs only the rest. */
static const char *strip_origin(const char *msg)
{
    const char *sp = strchr(msg, ' ');
    const char *colon = strchr(msg, ':');
    return (sp && colon && colon < sp) ? sp + 1 : msg;
}

/* Checks each file a pair names: exists, and decodes (files of the dataset were decoded by the
 * scan already, so only the others are decoded here). Each problem is printed; returns their
 * number. */
static size_t check_pairs(const fcl_pair_list *pl, const fcl_dataset *ds, int skip_bad)
{
    size_t problems = 0;
    char **known = NULL;
    if (ds->n) {
        known = malloc(ds->n * sizeof *known);
        if (known) {
            memcpy(known, ds->paths, ds->n * sizeof *known);
            qsort(known, ds->n, sizeof *known, cmp_str);
        }
    }
    const char *kind = skip_bad ? "warning" : "error";
    for (size_t i = 0; i < pl->n; i++) {
        const char *paths[2] = {pl->pairs[i].path1, pl->pairs[i].path2};
        for (int k = 0; k < 2; k++) {
            if (k == 1 && !strcmp(paths[0], paths[1])) break;
            struct stat sb;
            if (stat(paths[k], &sb) != 0 || !S_ISREG(sb.st_mode)) {
                fprintf(stderr, "facecl: %s: %s:%d: pair names a missing file %s\n", kind, pl->source,
                        pl->pairs[i].line, paths[k]);
                problems++;
                continue;
            }
            if (known && bsearch(&paths[k], known, ds->n, sizeof *known, cmp_str)) continue;
            fcl_image img = {0};
            fcl_error e = {0};
            if (fcl_image_decode_file(paths[k], 0, &img, &e)) {
                fprintf(stderr, "facecl: %s: %s:%d: %s\n", kind, pl->source, pl->pairs[i].line,
                        strip_origin(e.msg));
                problems++;
            }
            fcl_image_free(&img);
        }
    }
    free(known);
    return problems;
}

static int inspect(const char *dir, const char *pairs, const char *pairs_root, int lfw, const char *classes,
                   const char *write_classes, int flat, int skip_bad)
{
    int rc = 1;
    fcl_error err = {0};
    fcl_dataset ds = {0};
    fcl_dataset_summary sum = {0};
    fcl_pair_list pl = {0};
    fcl_strlist warnings = {0}, bad = {0};
    char *text = NULL;
    const unsigned flags = skip_bad ? FCL_DATA_SKIP_BAD : 0;
    size_t pair_problems = 0;

    /* The folder is always opened with skip-bad so that an empty class folder does not hide
     * the bad files after it: inspect reports every problem, then fails unless --skip-bad. */
    fcl_status st;
    const unsigned open_flags = FCL_DATA_SKIP_BAD;
    if (classes) st = fcl_dataset_open_folder_with_classes(dir, classes, open_flags, &warnings, &ds, &err);
    else if (flat || !has_subfolder(dir)) st = fcl_dataset_open_flat(dir, &ds, &err);
    else st = fcl_dataset_open_folder(dir, open_flags, &warnings, &ds, &err);
    for (size_t i = 0; i < warnings.n; i++)
        fprintf(stderr, "facecl: %s: %s\n", skip_bad ? "warning" : "error", warnings.items[i]);
    if (st) {
        tool_fail_err(&err);
        goto done;
    }
    if (write_classes) {
        if (fcl_dataset_write_classes(&ds, write_classes, &err)) {
            tool_fail_err(&err);
            goto done;
        }
        fprintf(stderr, "facecl: wrote %d class names to %s\n", ds.n_classes, write_classes);
    }
    if (fcl_dataset_summarize(&ds, &sum, &err)) {
        tool_fail_err(&err);
        goto done;
    }
    /* Without --skip-bad a bad file makes scan fail, but only after it has looked at all of
     * them: each is in `bad`, and the summary of the rest is still printed. */
    st = fcl_dataset_scan(&ds, flags, &sum, &bad, &err);
    if (st && st != FCL_ERR_FORMAT) {
        tool_fail_err(&err);
        goto done;
    }
    if (pairs) {
        /* the same default as verify and train: paths relative to the list's own folder */
        if (tool_pairs_load(pairs, pairs_root, lfw, 0, &pl, NULL)) goto done;
        fcl_summary_add_pairs(&sum, &pl);
        pair_problems = check_pairs(&pl, &ds, skip_bad);
    }
    if (fcl_dataset_summary_format(&sum, &text, &err)) {
        tool_fail_err(&err);
        goto done;
    }
    fputs(text, stdout);
    fflush(stdout);
    for (size_t i = 0; i < bad.n; i++)
        fprintf(stderr, "facecl: %s: bad image: %s\n", skip_bad ? "warning" : "error", bad.items[i]);
    if (!skip_bad && (bad.n || warnings.n || pair_problems)) {
        fprintf(stderr, "facecl: error: %zu bad image%s, %zu skipped folder or entr%s, %zu pair problem%s "
                "(--skip-bad to leave them out)\n", bad.n, bad.n == 1 ? "" : "s", warnings.n,
                warnings.n == 1 ? "y" : "ies", pair_problems, pair_problems == 1 ? "" : "s");
        goto done;
    }
    if (skip_bad && (bad.n || warnings.n || pair_problems))
        fprintf(stderr, "facecl: left out %zu bad image%s, %zu skipped folder or entr%s; %zu pair problem%s\n",
                bad.n, bad.n == 1 ? "" : "s", warnings.n, warnings.n == 1 ? "y" : "ies", pair_problems,
                pair_problems == 1 ? "" : "s");
    rc = 0;
done:
    free(text);
    fcl_strlist_free(&warnings);
    fcl_strlist_free(&bad);
    fcl_pairs_free(&pl);
    fcl_dataset_summary_free(&sum);
    fcl_dataset_free(&ds);
    return rc;
}

int fcl_cmd_data(int argc, char **argv)
{
    const char *dir = NULL, *pairs = NULL, *pairs_root = NULL, *classes = NULL, *write_classes = NULL, *device = NULL;
    int lfw = 0, skip_bad = 0, flat = 0;
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "inspect")) {
        fprintf(stderr, "facecl: error: data: unknown action '%s' (only `inspect`)\n", argv[1]);
        usage(stderr);
        return 2;
    }
    const tool_option opts[] = {
        TOOL_PAIRS_OPTIONS(&pairs, &pairs_root, &lfw),
        {"--classes", TOOL_OPT_STR, &classes, 0, 0, 0, 0},
        {"--write-classes", TOOL_OPT_STR, &write_classes, 0, 0, 0, 0},
        TOOL_DEVICE_OPTION(&device),
        {"--skip-bad", TOOL_OPT_FLAG, &skip_bad, 0, 0, 0, 0},
        {"--flat", TOOL_OPT_FLAG, &flat, 0, 0, 0, 0},
    };
    int np = 0;
    int parsed = tool_options_parse("data inspect", usage, opts, sizeof opts / sizeof opts[0], argc, argv, 2, &dir, 1, &np);
    if (parsed) return parsed == TOOL_PARSE_HELP ? 0 : 2;
    (void)device; /* decoding is host-only */
    if (!dir) {
        fprintf(stderr, "facecl: error: data inspect: which folder? (facecl data inspect DIR)\n");
        return 2;
    }
    if (lfw && !pairs) {
        fprintf(stderr, "facecl: error: data inspect: --lfw needs --pairs FILE\n");
        return 2;
    }
    if (flat && classes) {
        fprintf(stderr, "facecl: error: data inspect: --flat and --classes exclude each other\n");
        return 2;
    }
    if (pairs_root && !pairs) {
        fprintf(stderr, "facecl: error: data inspect: --pairs-root needs --pairs FILE\n");
        return 2;
    }
    return inspect(dir, pairs, pairs_root, lfw, classes, write_classes, flat, skip_bad);
}
