/* tests/test_dataset.c: ImageFolder/flat datasets, the class-list file, scans with bad files, summaries, item loading. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <png.h>

#include <facecl/dataset.h>
#include "helpers/cmdline.h"

static char root[64];

static void make_root(void) { fcl_test_tmpdir(root, sizeof root, "dataset"); }

static void rm_root(void) { fcl_test_rm_rf(root); }

static char *path_of(const char *rel)
{
    char *p = NULL;
    cr_assert_geq(asprintf(&p, "%s/%s", root, rel), 0);
    return p;
}

static void mkdir_rel(const char *rel)
{
    char *p = path_of(rel);
    cr_assert_eq(mkdir(p, 0755), 0, "%s: %s", p, strerror(errno));
    free(p);
}

static void write_rel(const char *rel, const void *data, size_t n)
{
    char *p = path_of(rel);
    fcl_test_write(p, data, n);
    free(p);
}

/* An 8-bit gray PNG of w x h with every pixel `v`, written with libpng. */
static void write_png_rel(const char *rel, int w, int h, int v)
{
    char *p = path_of(rel);
    FILE *f = fopen(p, "wb");
    cr_assert_not_null(f, "%s: %s", p, strerror(errno));
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    cr_assert(png && info);
    if (setjmp(png_jmpbuf(png))) cr_assert_fail("libpng write failed");
    png_init_io(png, f);
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, 8, PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    unsigned char *row = malloc((size_t)w);
    memset(row, v, (size_t)w);
    for (int y = 0; y < h; y++) png_write_row(png, row);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    free(row);
    fclose(f);
    free(p);
}

static const char *rel_of(const fcl_dataset *ds, size_t i)
{
    size_t n = strlen(root);
    cr_assert_eq(strncmp(ds->paths[i], root, n), 0);
    return ds->paths[i] + n + 1;
}

/* Classes "B", "a", "b" (byte order: uppercase first) and images whose names sort differently
 * by bytes than by number; plus things that must be ignored. */
static void make_tree(void)
{
    make_root();
    mkdir_rel("b");
    mkdir_rel("a");
    mkdir_rel("B");
    mkdir_rel(".hidden_class");
    write_png_rel(".hidden_class/1.png", 4, 4, 0);
    write_png_rel("b/2.png", 8, 6, 10);
    write_png_rel("b/10.png", 8, 6, 20);
    write_png_rel("b/1.PNG", 8, 6, 30);
    write_png_rel("b/x.JpEg", 5, 5, 40); /* a PNG named .jpeg: decoding goes by content */
    write_png_rel("b/.hidden.png", 8, 6, 50);
    write_rel("b/notes.txt", "not an image", 12);
    write_png_rel("a/only.png", 8, 6, 60);
    write_png_rel("B/z.jpg", 3, 7, 70);
    write_png_rel("B/y.png", 8, 6, 80);
    write_png_rel("B/w.png", 8, 6, 90);
    write_rel("README", "top-level files are ignored", 27);
}

Test(dataset, image_folder_order_and_labels, .init = make_tree, .fini = rm_root)
{
    fcl_dataset ds = {0};
    fcl_error err = {0};
    cr_assert_eq(fcl_dataset_open_folder(root, 0, NULL, &ds, &err), FCL_OK, "%s", err.msg);
    cr_assert_eq(ds.n_classes, 3);
    cr_assert_str_eq(ds.classes[0], "B");
    cr_assert_str_eq(ds.classes[1], "a");
    cr_assert_str_eq(ds.classes[2], "b");
    const char *want[] = {"B/w.png", "B/y.png", "B/z.jpg", "a/only.png", "b/1.PNG", "b/10.png", "b/2.png", "b/x.JpEg"};
    const int labels[] = {0, 0, 0, 1, 2, 2, 2, 2};
    cr_assert_eq(ds.n, 8);
    for (size_t i = 0; i < 8; i++) {
        cr_assert_str_eq(rel_of(&ds, i), want[i]);
        cr_assert_eq(ds.labels[i], labels[i], "item %zu", i);
    }
    cr_assert_eq(fcl_dataset_class_index(&ds, "a"), 1);
    cr_assert_eq(fcl_dataset_class_index(&ds, "A"), -1);
    fcl_dataset_free(&ds);
    cr_assert_null(ds.paths);
}

Test(dataset, empty_class_folder, .init = make_tree, .fini = rm_root)
{
    mkdir_rel("c_empty");
    write_rel("c_empty/readme.txt", "x", 1);
    fcl_dataset ds = {0};
    fcl_error err = {0};
    fcl_strlist warn = {0};
    cr_assert_eq(fcl_dataset_open_folder(root, 0, &warn, &ds, &err), FCL_ERR_FORMAT);
    cr_assert_not_null(strstr(err.msg, "c_empty"), "%s", err.msg);
    cr_assert_not_null(strstr(err.msg, "empty class folder"), "%s", err.msg);
    cr_assert_null(ds.paths);
    /* skip-bad: one warning naming it, class left out */
    cr_assert_eq(fcl_dataset_open_folder(root, FCL_DATA_SKIP_BAD, &warn, &ds, &err), FCL_OK, "%s", err.msg);
    cr_assert_eq(warn.n, 1);
    cr_assert_not_null(strstr(warn.items[0], "c_empty"));
    cr_assert_eq(ds.n_classes, 3);
    cr_assert_eq(ds.n, 8);
    fcl_strlist_free(&warn);
    fcl_dataset_free(&ds);
}

Test(dataset, class_list_round_trip_and_errors, .init = make_tree, .fini = rm_root)
{
    fcl_dataset ds = {0}, ds2 = {0};
    fcl_error err = {0};
    char *list = NULL;
    cr_assert_geq(asprintf(&list, "%s.classes", root), 0);
    cr_assert_eq(fcl_dataset_open_folder(root, 0, NULL, &ds, &err), FCL_OK, "%s", err.msg);
    cr_assert_eq(fcl_dataset_write_classes(&ds, list, &err), FCL_OK, "%s", err.msg);
    FILE *f = fopen(list, "r");
    char buf[64] = {0};
    cr_assert_eq(fread(buf, 1, sizeof buf - 1, f), 6);
    fclose(f);
    cr_assert_str_eq(buf, "B\na\nb\n");

    /* Reading it back gives the same labels. */
    cr_assert_eq(fcl_dataset_open_folder_with_classes(root, list, 0, NULL, &ds2, &err), FCL_OK, "%s", err.msg);
    cr_assert_eq(ds2.n, ds.n);
    for (size_t i = 0; i < ds.n; i++) {
        cr_assert_str_eq(ds2.paths[i], ds.paths[i]);
        cr_assert_eq(ds2.labels[i], ds.labels[i]);
    }
    fcl_dataset_free(&ds2);

    /* The file order wins over the folder order (indices stay stable). */
    f = fopen(list, "w");
    fputs("b\r\n\nB\na\n", f);
    fclose(f);
    cr_assert_eq(fcl_dataset_open_folder_with_classes(root, list, 0, NULL, &ds2, &err), FCL_OK, "%s", err.msg);
    cr_assert_str_eq(ds2.classes[0], "b");
    cr_assert_str_eq(rel_of(&ds2, 0), "b/1.PNG");
    cr_assert_eq(ds2.labels[0], 0);
    cr_assert_eq(ds2.labels[ds2.n - 1], 2);
    cr_assert_str_eq(rel_of(&ds2, ds2.n - 1), "a/only.png");
    fcl_dataset_free(&ds2);

    /* A new folder with images, not in the list: an error naming it. */
    mkdir_rel("newcomer");
    write_png_rel("newcomer/1.png", 4, 4, 1);
    cr_assert_eq(fcl_dataset_open_folder_with_classes(root, list, 0, NULL, &ds2, &err), FCL_ERR_FORMAT);
    cr_assert_not_null(strstr(err.msg, "newcomer"), "%s", err.msg);
    cr_assert_not_null(strstr(err.msg, "not in the class list"), "%s", err.msg);

    /* A listed class without its folder: an error naming the class and the list line; duplicates
     * and path-like names are refused with the line. One bad list a row: its text, what the
     * message must hold (needle2 may be NULL). */
    static const struct {
        const char *text, *needle1, *needle2;
    } bad_lists[] = {
        {"b\nB\na\nnewcomer\ngone\n", "'gone'", ":5:"},
        {"b\nB\nb\n", ":3:", "twice"},
        {"../b\n", ":1:", NULL},
    };
    for (size_t i = 0; i < sizeof bad_lists / sizeof bad_lists[0]; i++) {
        fcl_test_write(list, bad_lists[i].text, strlen(bad_lists[i].text));
        cr_assert_eq(fcl_dataset_open_folder_with_classes(root, list, 0, NULL, &ds2, &err), FCL_ERR_FORMAT, "%s",
                     bad_lists[i].text);
        cr_assert_not_null(strstr(err.msg, bad_lists[i].needle1), "%s", err.msg);
        if (bad_lists[i].needle2) cr_assert_not_null(strstr(err.msg, bad_lists[i].needle2), "%s", err.msg);
    }

    /* A listed class whose folder is empty: error, or with skip-bad a warning and no images. */
    mkdir_rel("hollow");
    f = fopen(list, "w");
    fputs("b\nB\na\nnewcomer\nhollow\n", f);
    fclose(f);
    cr_assert_eq(fcl_dataset_open_folder_with_classes(root, list, 0, NULL, &ds2, &err), FCL_ERR_FORMAT);
    cr_assert_not_null(strstr(err.msg, "hollow"), "%s", err.msg);
    fcl_strlist warn = {0};
    cr_assert_eq(fcl_dataset_open_folder_with_classes(root, list, FCL_DATA_SKIP_BAD, &warn, &ds2, &err), FCL_OK,
                 "%s", err.msg);
    cr_assert_eq(warn.n, 1);
    cr_assert_not_null(strstr(warn.items[0], "hollow"));
    cr_assert_eq(ds2.n_classes, 5);
    cr_assert_str_eq(ds2.classes[4], "hollow");
    fcl_strlist_free(&warn);
    fcl_dataset_free(&ds2);

    fcl_dataset_free(&ds);
    unlink(list);
    free(list);
}

Test(dataset, flat_folder, .init = make_root, .fini = rm_root)
{
    write_png_rel("b.png", 4, 4, 1);
    write_png_rel("a.JPG", 4, 4, 2);
    write_png_rel("c.jpeg", 4, 4, 3);
    write_rel("d.txt", "x", 1);
    mkdir_rel("sub");
    write_png_rel("sub/e.png", 4, 4, 4);
    fcl_dataset ds = {0};
    fcl_error err = {0};
    cr_assert_eq(fcl_dataset_open_flat(root, &ds, &err), FCL_OK, "%s", err.msg);
    cr_assert_eq(ds.n_classes, 0);
    cr_assert_eq(ds.n, 3);
    cr_assert_str_eq(rel_of(&ds, 0), "a.JPG");
    cr_assert_str_eq(rel_of(&ds, 1), "b.png");
    cr_assert_str_eq(rel_of(&ds, 2), "c.jpeg");
    for (int i = 0; i < 3; i++) cr_assert_eq(ds.labels[i], -1);
    fcl_dataset_free(&ds);
    /* An ImageFolder open of a folder without sub-folders explains itself. */
    char *e = path_of("sub/e.png"), *sub = path_of("sub");
    cr_assert_eq(unlink(e), 0);
    cr_assert_eq(rmdir(sub), 0);
    free(e);
    free(sub);
    cr_assert_eq(fcl_dataset_open_folder(root, 0, NULL, &ds, &err), FCL_ERR_FORMAT);
    cr_assert_not_null(strstr(err.msg, "no class sub-folders"), "%s", err.msg);
    cr_assert_not_null(strstr(err.msg, root), "%s", err.msg);
}

Test(dataset, missing_root)
{
    fcl_dataset ds = {0};
    fcl_error err = {0};
    cr_assert_eq(fcl_dataset_open_folder("/nonexistent/facecl-xyz", 0, NULL, &ds, &err), FCL_ERR_IO);
    cr_assert_not_null(strstr(err.msg, "/nonexistent/facecl-xyz"), "%s", err.msg);
    cr_assert_eq(fcl_dataset_open_flat("/nonexistent/facecl-xyz", &ds, &err), FCL_ERR_IO);
}

Test(dataset, scan_summary_and_bad_files, .init = make_tree, .fini = rm_root)
{
    fcl_dataset ds = {0};
    fcl_dataset_summary s = {0};
    fcl_strlist bad = {0};
    fcl_error err = {0};
    /* two bad files: text named .png, and a truncated PNG */
    write_rel("a/fake.png", "definitely not a png", 20);
    char *good = path_of("B/y.png");
    FILE *f = fopen(good, "rb");
    unsigned char buf[4096];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    free(good);
    write_rel("b/cut.png", buf, n - 20);

    cr_assert_eq(fcl_dataset_open_folder(root, 0, NULL, &ds, &err), FCL_OK, "%s", err.msg);
    cr_assert_eq(ds.n, 10);
    cr_assert_eq(fcl_dataset_summarize(&ds, &s, &err), FCL_OK);
    cr_assert_eq(s.n_identities, 3);
    cr_assert_eq(s.n_images, 10);
    /* per class: B 3, a 2, b 5 */
    cr_assert_eq(s.per_id_min, 2);
    cr_assert_eq(s.per_id_median, 3);
    cr_assert_eq(s.per_id_max, 5);
    cr_assert_eq(s.scanned, 0);

    cr_assert_eq(fcl_dataset_scan(&ds, 0, &s, &bad, &err), FCL_ERR_FORMAT);
    cr_assert_not_null(strstr(err.msg, "2 of 10"), "%s", err.msg);
    cr_assert_eq(bad.n, 2);
    cr_assert_not_null(strstr(bad.items[0], "a/fake.png"), "%s", bad.items[0]);
    cr_assert_not_null(strstr(bad.items[0], "not a PNG or JPEG"), "%s", bad.items[0]);
    cr_assert_not_null(strstr(bad.items[1], "b/cut.png"), "%s", bad.items[1]);
    cr_assert_not_null(strstr(bad.items[1], "truncated"), "%s", bad.items[1]);
    cr_assert_eq(ds.n, 10); /* without skip-bad nothing is removed */
    cr_assert_eq(ds.labels[3], 1);
    cr_assert_eq(s.n_bad, 2);
    cr_assert_eq(s.n_decoded, 8);
    /* sizes: 8x6 x6, 5x5 x1, 3x7 x1 -> sorted by count, then W */
    cr_assert_eq(s.n_sizes, 3);
    cr_assert(s.sizes[0].w == 8 && s.sizes[0].h == 6 && s.sizes[0].count == 6);
    cr_assert(s.sizes[1].w == 3 && s.sizes[1].h == 7 && s.sizes[1].count == 1);
    cr_assert(s.sizes[2].w == 5 && s.sizes[2].h == 5 && s.sizes[2].count == 1);
    fcl_strlist_free(&bad);

    /* skip-bad: removed, recounted, success */
    cr_assert_eq(fcl_dataset_scan(&ds, FCL_DATA_SKIP_BAD, &s, &bad, &err), FCL_OK, "%s", err.msg);
    cr_assert_eq(bad.n, 2);
    cr_assert_eq(ds.n, 8);
    for (size_t i = 0; i < ds.n; i++) cr_assert_null(strstr(ds.paths[i], "fake"));
    cr_assert_eq(s.n_images, 8);
    cr_assert_eq(s.per_id_min, 1);
    cr_assert_eq(s.per_id_max, 4);
    cr_assert_str_eq(rel_of(&ds, 3), "a/only.png");
    cr_assert_eq(ds.labels[3], 1);
    cr_assert_eq(ds.labels[4], 2);

    fcl_pair_list pl = {0};
    const char *pairs = "B/w.png a/only.png 0\nb/1.PNG b/2.png 1\nb/2.png b/10.png 1\n";
    cr_assert_eq(fcl_pairs_parse(pairs, strlen(pairs), "p.txt", root, FCL_PAIRS_PLAIN, FCL_PAIRS_CHECK_FILES,
                                 &pl, &err), FCL_OK, "%s", err.msg);
    fcl_summary_add_pairs(&s, &pl);
    char *text = NULL;
    cr_assert_eq(fcl_dataset_summary_format(&s, &text, &err), FCL_OK);
    cr_log_info("%s", text);
    cr_assert_not_null(strstr(text, "identities    3"), "%s", text);
    cr_assert_not_null(strstr(text, "images        8"), "%s", text);
    cr_assert_not_null(strstr(text, "min 1 / median 3 / max 4"), "%s", text);
    cr_assert_not_null(strstr(text, "8x6 (6), 3x7 (1), 5x5 (1)"), "%s", text);
    cr_assert_not_null(strstr(text, "3 (2 same, 1 different)"), "%s", text);
    free(text);
    fcl_pairs_free(&pl);
    fcl_strlist_free(&bad);
    fcl_dataset_summary_free(&s);
    fcl_dataset_free(&ds);
}

Test(dataset, summary_lists_top_sizes_only, .init = make_root, .fini = rm_root)
{
    mkdir_rel("p");
    char name[32];
    for (int i = 0; i < 8; i++) {
        snprintf(name, sizeof name, "p/%d.png", i);
        write_png_rel(name, 10 + i, 10, 0);
    }
    write_png_rel("p/8.png", 10, 10, 0);
    fcl_dataset ds = {0};
    fcl_dataset_summary s = {0};
    fcl_error err = {0};
    char *text = NULL;
    cr_assert_eq(fcl_dataset_open_folder(root, 0, NULL, &ds, &err), FCL_OK, "%s", err.msg);
    cr_assert_eq(fcl_dataset_summarize(&ds, &s, &err), FCL_OK);
    cr_assert_eq(fcl_dataset_scan(&ds, 0, &s, NULL, &err), FCL_OK, "%s", err.msg);
    cr_assert_eq(s.n_sizes, 8);
    cr_assert(s.sizes[0].w == 10 && s.sizes[0].count == 2);
    cr_assert_eq(fcl_dataset_summary_format(&s, &text, &err), FCL_OK);
    cr_assert_not_null(strstr(text, "8 distinct: 10x10 (2), 11x10 (1)"), "%s", text);
    cr_assert_not_null(strstr(text, "3 more images in 3 other sizes"), "%s", text);
    free(text);
    fcl_dataset_summary_free(&s);
    fcl_dataset_free(&ds);
}

Test(dataset, load_resizes_and_converts, .init = make_tree, .fini = rm_root)
{
    fcl_dataset ds = {0};
    fcl_error err = {0};
    fcl_image im = {0};
    cr_assert_eq(fcl_dataset_open_folder(root, 0, NULL, &ds, &err), FCL_OK, "%s", err.msg);
    /* item 2 is B/z.jpg: 3 x 7 gray, value 70 */
    cr_assert_eq(fcl_dataset_load(&ds, 2, 3, 14, 6, &im, &err), FCL_OK, "%s", err.msg);
    cr_assert(im.c == 3 && im.h == 14 && im.w == 6);
    for (int i = 0; i < 3 * 14 * 6; i++) cr_assert_float_eq(im.data[i], 70.0f / 255.0f, 1e-6f);
    fcl_image_free(&im);
    cr_assert_eq(fcl_dataset_load(&ds, 2, 0, 0, 0, &im, &err), FCL_OK, "%s", err.msg);
    cr_assert(im.c == 1 && im.h == 7 && im.w == 3);
    fcl_image_free(&im);
    cr_assert_eq(fcl_dataset_load(&ds, 99, 0, 0, 0, &im, &err), FCL_ERR_INVALID_ARG);
    cr_assert_eq(fcl_dataset_load(&ds, 0, 0, 5, 0, &im, &err), FCL_ERR_INVALID_ARG);
    fcl_dataset_free(&ds);
}

Test(dataset, subset, .init = make_tree, .fini = rm_root)
{
    fcl_dataset ds = {0}, sub = {0};
    fcl_error err = {0};
    cr_assert_eq(fcl_dataset_open_folder(root, 0, NULL, &ds, &err), FCL_OK, "%s", err.msg);
    const size_t idx[] = {7, 0, 7};
    cr_assert_eq(fcl_dataset_subset(&ds, idx, 3, &sub, &err), FCL_OK, "%s", err.msg);
    cr_assert_eq(sub.n, 3);
    cr_assert_eq(sub.n_classes, 3);
    cr_assert_str_eq(sub.paths[0], ds.paths[7]);
    cr_assert_eq(sub.labels[1], ds.labels[0]);
    fcl_dataset_free(&sub);
    const size_t bad[] = {8};
    cr_assert_eq(fcl_dataset_subset(&ds, bad, 1, &sub, &err), FCL_ERR_INVALID_ARG);
    fcl_dataset_free(&ds);
}

Test(dataset_real, orl_summary)
{
    const char *orl = FACECL_SOURCE_DIR "/../shared/faces/orl_att_faces";
    struct stat sb;
    if (stat(orl, &sb) != 0) cr_skip_test("real faces not available (%s)", orl);
    fcl_dataset ds = {0};
    fcl_dataset_summary s = {0};
    fcl_error err = {0};
    cr_assert_eq(fcl_dataset_open_folder(orl, 0, NULL, &ds, &err), FCL_OK, "%s", err.msg);
    cr_assert_eq(ds.n_classes, 40);
    cr_assert_eq(ds.n, 400);
    /* byte-wise order: s1, s10, s11, ..., s19, s2, s20, ... */
    cr_assert_str_eq(ds.classes[0], "s1");
    cr_assert_str_eq(ds.classes[1], "s10");
    cr_assert_str_eq(ds.classes[11], "s2");
    cr_assert_eq(fcl_dataset_summarize(&ds, &s, &err), FCL_OK);
    cr_assert_eq(fcl_dataset_scan(&ds, 0, &s, NULL, &err), FCL_OK, "%s", err.msg);
    cr_assert(s.per_id_min == 10 && s.per_id_median == 10 && s.per_id_max == 10);
    cr_assert_eq(s.n_sizes, 1);
    cr_assert(s.sizes[0].w == 92 && s.sizes[0].h == 112 && s.sizes[0].count == 400);
    cr_assert_eq(s.n_gray, 400);
    fcl_dataset_summary_free(&s);
    fcl_dataset_free(&ds);
}

Test(dataset_real, corrupt_copy_in_folder_is_named, .init = make_root, .fini = rm_root)
{
    const char *src = FACECL_SOURCE_DIR "/../shared/faces/orl_att_faces/s2/3.png";
    size_t n;
    char *buf = fcl_test_slurp_or_skip(src, &n);
    mkdir_rel("s2");
    write_rel("s2/3.png", buf, n);
    write_rel("s2/4.png", buf, n / 3);
    write_rel("s2/5.png", "", 0);
    fcl_dataset ds = {0};
    fcl_dataset_summary s = {0};
    fcl_strlist bad = {0};
    fcl_error err = {0};
    cr_assert_eq(fcl_dataset_open_folder(root, 0, NULL, &ds, &err), FCL_OK, "%s", err.msg);
    cr_assert_eq(fcl_dataset_summarize(&ds, &s, &err), FCL_OK);
    cr_assert_eq(fcl_dataset_scan(&ds, 0, &s, &bad, &err), FCL_ERR_FORMAT);
    cr_assert_eq(bad.n, 2);
    cr_assert_not_null(strstr(bad.items[0], "s2/4.png: truncated"), "%s", bad.items[0]);
    cr_assert_not_null(strstr(bad.items[1], "s2/5.png: empty file"), "%s", bad.items[1]);
    cr_assert(s.sizes[0].w == 92 && s.sizes[0].h == 112 && s.sizes[0].count == 1);
    fcl_strlist_free(&bad);
    fcl_dataset_summary_free(&s);
    fcl_dataset_free(&ds);
    free(buf);
}

/* `facecl data inspect` names every problem (not just the first) and fails; with --skip-bad
 * it warns about each and succeeds. Runs the built tool. */
static int run_tool(const char *args, char *out, size_t cap)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "'%s/facecl' data inspect %s 2>&1", FACECL_BINARY_DIR, args);
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p);
    size_t n = fread(out, 1, cap - 1, p);
    out[n] = '\0';
    int rc = pclose(p);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

Test(data_inspect_tool, names_every_bad_file, .init = make_tree, .fini = rm_root)
{
    char *tool = NULL;
    cr_assert_geq(asprintf(&tool, "%s/facecl", FACECL_BINARY_DIR), 0);
    if (access(tool, X_OK) != 0) cr_skip_test("%s not built", tool);
    free(tool);
    write_rel("a/fake.jpg", "GIF89a....", 10);
    write_rel("b/zero.png", "", 0);
    mkdir_rel("hollow");
    char *pairs = path_of("pairs.txt");
    FILE *f = fopen(pairs, "w");
    fputs("a/only.png B/w.png 0\nb/2.png b/gone.png 1\n", f);
    fclose(f);
    char args[256], out[16384];
    snprintf(args, sizeof args, "'%s' --pairs '%s'", root, pairs);
    int rc = run_tool(args, out, sizeof out);
    cr_assert_neq(rc, 0, "%s", out);
    const char *needles[] = {"a/fake.jpg", "GIF", "b/zero.png", "empty file", "hollow", "empty class folder",
                             "pairs.txt:2", "b/gone.png", "identities    3", NULL};
    for (const char **n = needles; *n; n++) cr_assert_not_null(strstr(out, *n), "output lacks '%s':\n%s", *n, out);

    snprintf(args, sizeof args, "'%s' --pairs '%s' --skip-bad --device cpu", root, pairs);
    rc = run_tool(args, out, sizeof out);
    cr_assert_eq(rc, 0, "%s", out);
    cr_assert_not_null(strstr(out, "warning: bad image:"), "%s", out);
    cr_assert_not_null(strstr(out, "images        8"), "%s", out);
    free(pairs);
}
