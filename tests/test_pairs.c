/* tests/test_pairs.c: pair lists: plain labelled/unlabelled, LFW pairs.txt (both headers), malformed lines, missing files. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <facecl/dataset.h>
#include "helpers/cmdline.h"

static fcl_status parse(const char *text, fcl_pairs_format fmt, fcl_pair_list *pl, fcl_error *err)
{
    return fcl_pairs_parse(text, strlen(text), "pairs.txt", "/data", fmt, 0, pl, err);
}

/* Expects text to parse. */
static void parse_ok(const char *text, fcl_pairs_format fmt, fcl_pair_list *pl)
{
    fcl_error err = {0};
    cr_assert_eq(parse(text, fmt, pl, &err), FCL_OK, "%s", err.msg);
}

/* Expects a parse failure whose message has every needle (the "file:line:" and the reason). */
static void expect_bad(const char *text, fcl_pairs_format fmt, const char *const *needles)
{
    fcl_pair_list pl = {0};
    fcl_error err = {0};
    cr_assert_eq(parse(text, fmt, &pl, &err), FCL_ERR_FORMAT, "accepted: %s", text);
    cr_assert_eq(pl.n, 0);
    cr_assert_null(pl.pairs);
    for (const char *const *n = needles; *n; n++)
        cr_assert_not_null(strstr(err.msg, *n), "message '%s' lacks '%s'", err.msg, *n);
}

/* The malformed lists, one a row: {text, format, the strings its message must hold}. */
static const struct bad_list {
    const char *text;
    fcl_pairs_format fmt;
    const char *needles[5];   /* NULL-terminated */
} bad_lists[] = {
    {"a b 1\nc d 2\n", FCL_PAIRS_PLAIN, {"pairs.txt:2:", "label '2'"}},
    {"a b 1\nc\n", FCL_PAIRS_PLAIN, {"pairs.txt:2:", "got 1 field"}},
    {"a b 1\nc d 1 e\n", FCL_PAIRS_PLAIN, {"pairs.txt:2:", "got 4 fields"}},
    {"a b 1\n\nc d\n", FCL_PAIRS_PLAIN, {"pairs.txt:3:", "lacks a label", "line 1"}},
    {"a b\nc d 0\n", FCL_PAIRS_PLAIN, {"pairs.txt:2:", "has a label"}},
    {"a b yes\n", FCL_PAIRS_PLAIN, {"pairs.txt:1:", "not 0"}},
    {"10\t300\n", FCL_PAIRS_PLAIN, {"pairs.txt:1:", "LFW"}},
    {"", FCL_PAIRS_PLAIN, {"pairs.txt", "no pairs"}},
    {"# only a comment\n", FCL_PAIRS_PLAIN, {"no pairs"}},
    {"", FCL_PAIRS_LFW, {"pairs.txt", "no header"}},
    {"ten 300\n", FCL_PAIRS_LFW, {"pairs.txt:1:", "header"}},
    {"1 2 3\n", FCL_PAIRS_LFW, {"pairs.txt:1:", "header"}},
    {"0 3\n", FCL_PAIRS_LFW, {"pairs.txt:1:"}},
    /* a different-person line where a same-person line belongs */
    {"1 1\nA 1 B 2\nA 1 B 2\n", FCL_PAIRS_LFW, {"pairs.txt:2:", "same-person", "pair 1 of 1 in fold 1", "got 4 fields"}},
    {"1 1\nA 1 2\nA 1 2\n", FCL_PAIRS_LFW, {"pairs.txt:3:", "different-person", "got 3 fields"}},
    {"1 1\nA 0 2\nA 1 B 1\n", FCL_PAIRS_LFW, {"pairs.txt:2:", "image number '0'"}},
    {"1 1\nA 1 x\nA 1 B 1\n", FCL_PAIRS_LFW, {"pairs.txt:2:", "'x'"}},
    {"1 1\nA 1 2\n../A 1 B 1\n", FCL_PAIRS_LFW, {"pairs.txt:3:", "'../A'"}},
    {"2 1\nA 1 2\nA 1 B 1\nC 1 2\n", FCL_PAIRS_LFW, {"pairs.txt", "ends after 3 pairs", "2 folds x 2"}},
    {"1 1\nA 1 2\nA 1 B 1\nC 1 2\n", FCL_PAIRS_LFW, {"pairs.txt:4:", "extra line"}},
    {"1000000000 1000000000\n", FCL_PAIRS_LFW, {"pairs.txt:1:"}},
};

/* expect_bad on every row of bad_lists in format fmt. */
static void expect_all_bad(fcl_pairs_format fmt)
{
    int rows = 0;
    for (size_t i = 0; i < sizeof bad_lists / sizeof bad_lists[0]; i++) {
        if (bad_lists[i].fmt != fmt) continue;
        expect_bad(bad_lists[i].text, fmt, bad_lists[i].needles);
        rows++;
    }
    cr_assert_gt(rows, 0);
}

Test(pairs_plain, labelled)
{
    const char *t = "# comment\n"
                    "a/1.png b/2.png 1\n"
                    "\n"
                    "  a/1.png\t/abs/c.jpg   0  \r\n"
                    "x y 1";
    fcl_pair_list pl = {0};
    parse_ok(t, FCL_PAIRS_PLAIN, &pl);
    cr_assert_eq(pl.n, 3);
    cr_assert_eq(pl.labelled, 1);
    cr_assert_eq(pl.n_folds, 0);
    cr_assert_str_eq(pl.source, "pairs.txt");
    cr_assert_str_eq(pl.pairs[0].path1, "/data/a/1.png");
    cr_assert_str_eq(pl.pairs[0].path2, "/data/b/2.png");
    cr_assert_eq(pl.pairs[0].label, 1);
    cr_assert_eq(pl.pairs[0].line, 2);
    cr_assert_eq(pl.pairs[0].fold, -1);
    cr_assert_str_eq(pl.pairs[1].path2, "/abs/c.jpg");
    cr_assert_eq(pl.pairs[1].label, 0);
    cr_assert_eq(pl.pairs[1].line, 4);
    cr_assert_str_eq(pl.pairs[2].path1, "/data/x");
    cr_assert_eq(pl.pairs[2].line, 5);
    fcl_pairs_free(&pl);
    cr_assert_null(pl.pairs);
}

Test(pairs_plain, unlabelled_and_no_root)
{
    const char *t = "a.png b.png\nc.png d.png\n";
    fcl_pair_list pl = {0};
    fcl_error err = {0};
    cr_assert_eq(fcl_pairs_parse(t, strlen(t), "u.txt", NULL, FCL_PAIRS_PLAIN, 0, &pl, &err), FCL_OK, "%s", err.msg);
    cr_assert_eq(pl.n, 2);
    cr_assert_eq(pl.labelled, 0);
    cr_assert_eq(pl.pairs[1].label, -1);
    cr_assert_str_eq(pl.pairs[1].path1, "c.png");
    fcl_pairs_free(&pl);
}

Test(pairs_plain, malformed_lines)
{
    expect_all_bad(FCL_PAIRS_PLAIN);
    const char nul[] = "a b 1\nc\0d 1\n";
    fcl_pair_list pl = {0};
    fcl_error err = {0};
    cr_assert_eq(fcl_pairs_parse(nul, sizeof nul - 1, "bin", "/", FCL_PAIRS_PLAIN, 0, &pl, &err), FCL_ERR_FORMAT);
    cr_assert_not_null(strstr(err.msg, "bin:2: NUL"), "%s", err.msg);
}

/* Two folds of two same + two different pairs, with the "folds n" header. */
static const char *lfw2 = "2\t2\n"
                          "Alice\t1\t2\n"
                          "Bob\t3\t14\n"
                          "Alice\t1\tBob\t2\n"
                          "Carol_Z\t7\tBob\t1\n"
                          "Dan\t1\t2\n"
                          "Eve\t1\t10\n"
                          "Dan\t1\tEve\t3\n"
                          "Eve\t2\tAlice\t4\n";

Test(pairs_lfw, folds_header)
{
    fcl_pair_list pl = {0};
    parse_ok(lfw2, FCL_PAIRS_LFW, &pl);
    cr_assert_eq(pl.n, 8);
    cr_assert_eq(pl.n_folds, 2);
    cr_assert_eq(pl.labelled, 1);
    const int label[8] = {1, 1, 0, 0, 1, 1, 0, 0};
    const int fold[8] = {0, 0, 0, 0, 1, 1, 1, 1};
    for (int i = 0; i < 8; i++) {
        cr_assert_eq(pl.pairs[i].label, label[i], "pair %d", i);
        cr_assert_eq(pl.pairs[i].fold, fold[i], "pair %d", i);
        cr_assert_eq(pl.pairs[i].line, i + 2);
    }
    cr_assert_str_eq(pl.pairs[0].path1, "/data/Alice/Alice_0001.jpg");
    cr_assert_str_eq(pl.pairs[0].path2, "/data/Alice/Alice_0002.jpg");
    cr_assert_str_eq(pl.pairs[1].path2, "/data/Bob/Bob_0014.jpg");
    cr_assert_str_eq(pl.pairs[3].path1, "/data/Carol_Z/Carol_Z_0007.jpg");
    cr_assert_str_eq(pl.pairs[3].path2, "/data/Bob/Bob_0001.jpg");
    cr_assert_str_eq(pl.pairs[5].path2, "/data/Eve/Eve_0010.jpg");
    fcl_pairs_free(&pl);
}

Test(pairs_lfw, single_count_header)
{
    /* pairsDevTrain.txt style: "n", then n same and n different; spaces instead of tabs, CRLF. */
    const char *t = "2\r\nA 1 2\r\nB 1 3\r\nA 1 B 1\r\nB 2 A 2\r\n\r\n";
    fcl_pair_list pl = {0};
    parse_ok(t, FCL_PAIRS_LFW, &pl);
    cr_assert_eq(pl.n, 4);
    cr_assert_eq(pl.n_folds, 1);
    for (int i = 0; i < 4; i++) cr_assert_eq(pl.pairs[i].fold, 0);
    cr_assert_eq(pl.pairs[1].label, 1);
    cr_assert_eq(pl.pairs[2].label, 0);
    cr_assert_str_eq(pl.pairs[3].path2, "/data/A/A_0002.jpg");
    fcl_pairs_free(&pl);
}

Test(pairs_lfw, malformed)
{
    expect_all_bad(FCL_PAIRS_LFW);
}

/* --- files --------------------------------------------------------------------------------- */

static char root[64];

static void make_root(void) { fcl_test_tmpdir(root, sizeof root, "pairs"); }

static void rm_root(void) { fcl_test_rm_rf(root); }

static char *touch(const char *rel, const char *content)
{
    char *p = NULL;
    cr_assert_geq(asprintf(&p, "%s/%s", root, rel), 0);
    FILE *f = fopen(p, "w");
    cr_assert_not_null(f, "%s: %s", p, strerror(errno));
    fputs(content, f);
    fclose(f);
    return p;
}

/* The list `text` written as root/name fails to load with its files checked (FCL_ERR_IO), the
 * message holding every needle (NULL-terminated); returns the list's path (malloc'd). */
static char *checked_load_fails(const char *name, const char *text, fcl_pairs_format fmt, const char *const *needles)
{
    char *list = touch(name, text);
    fcl_pair_list pl = {0};
    fcl_error err = {0};
    cr_assert_eq(fcl_pairs_load(list, root, fmt, FCL_PAIRS_CHECK_FILES, &pl, &err), FCL_ERR_IO, "%s", text);
    for (const char *const *n = needles; *n; n++)
        cr_assert_not_null(strstr(err.msg, *n), "message '%s' lacks '%s'", err.msg, *n);
    return list;
}

Test(pairs_files, missing_file_is_named, .init = make_root, .fini = rm_root)
{
    char cmd[160];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s/A' '%s/B'", root, root);
    cr_assert_eq(system(cmd), 0);
    free(touch("A/A_0001.jpg", "x"));
    free(touch("A/A_0002.jpg", "x"));
    free(touch("B/B_0001.jpg", "x"));
    char *list = touch("pairs.txt", "1\nA 1 2\nA 2 B 1\n");
    fcl_pair_list pl = {0};
    fcl_error err = {0};
    cr_assert_eq(fcl_pairs_load(list, root, FCL_PAIRS_LFW, FCL_PAIRS_CHECK_FILES, &pl, &err), FCL_OK, "%s", err.msg);
    cr_assert_eq(pl.n, 2);
    fcl_pairs_free(&pl);
    free(list);

    list = checked_load_fails("pairs.txt", "1\nA 1 2\nA 2 B 3\n", FCL_PAIRS_LFW,
                              (const char *const[]){"pairs.txt:3:", "missing file", "B/B_0003.jpg", NULL});
    /* without the check the list loads */
    cr_assert_eq(fcl_pairs_load(list, root, FCL_PAIRS_LFW, 0, &pl, &err), FCL_OK, "%s", err.msg);
    fcl_pairs_free(&pl);
    free(list);

    free(checked_load_fails("plain.txt", "A/A_0001.jpg A/nope.jpg 1\n", FCL_PAIRS_PLAIN,
                            (const char *const[]){"plain.txt:1:", "A/nope.jpg", NULL}));
    /* a folder is not an image file */
    free(checked_load_fails("plain.txt", "A/A_0001.jpg A 1\n", FCL_PAIRS_PLAIN,
                            (const char *const[]){"not a regular file", NULL}));
}

Test(pairs_files, malformed_file_names_file_and_line, .init = make_root, .fini = rm_root)
{
    char *list = touch("bad.txt", "a b 1\nc d 1\ne f maybe\n");
    fcl_pair_list pl = {0};
    fcl_error err = {0};
    cr_assert_eq(fcl_pairs_load(list, root, FCL_PAIRS_PLAIN, 0, &pl, &err), FCL_ERR_FORMAT);
    char want[128];
    snprintf(want, sizeof want, "%s:3:", list);
    cr_assert_not_null(strstr(err.msg, want), "%s", err.msg);
    cr_assert_not_null(strstr(err.msg, "'maybe'"), "%s", err.msg);
    free(list);
    cr_assert_eq(fcl_pairs_load("/nonexistent/p.txt", root, FCL_PAIRS_PLAIN, 0, &pl, &err), FCL_ERR_IO);
    cr_assert_not_null(strstr(err.msg, "/nonexistent/p.txt"), "%s", err.msg);
}

Test(pairs_real, orl_pairs_check_files)
{
    const char *orl = FACECL_SOURCE_DIR "/../shared/faces/orl_att_faces";
    struct stat sb;
    if (stat(orl, &sb) != 0) cr_skip_test("real faces not available (%s)", orl);
    const char *t = "s1/1.png s1/2.png 1\ns1/1.png s2/1.png 0\ns40/10.png s40/11.png 1\n";
    fcl_pair_list pl = {0};
    fcl_error err = {0};
    cr_assert_eq(fcl_pairs_parse(t, strlen(t), "orl.txt", orl, FCL_PAIRS_PLAIN, FCL_PAIRS_CHECK_FILES, &pl, &err),
                 FCL_ERR_IO);
    cr_assert_not_null(strstr(err.msg, "orl.txt:3:"), "%s", err.msg);
    cr_assert_not_null(strstr(err.msg, "s40/11.png"), "%s", err.msg);
    cr_assert_eq(fcl_pairs_parse(t, 40, "orl.txt", orl, FCL_PAIRS_PLAIN, FCL_PAIRS_CHECK_FILES, &pl, &err), FCL_OK,
                 "%s", err.msg);
    cr_assert_eq(pl.n, 2);
    fcl_pairs_free(&pl);
}
