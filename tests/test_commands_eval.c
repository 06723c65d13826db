/* tests/test_commands_eval.c: `facecl eval`, `embed` and `verify` end to end on a tiny synthetic set: exit codes, output files, numbers, error messages. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <facecl/facecl.h>

#include "helpers/cmdline.h"
#include "helpers/small_net.h"

#define FACECL FACECL_BINARY_DIR "/facecl"

enum { IDS = 6, PER = 6, SIZE = 32 };
static const char *NAMES = "id0000\nid0001\nid0002\nid0003\nid0004\nid0005";

/* The per-test world: a synth dataset in dir/ds and a checkpoint dir/ck.safetensors. */
static char dir[] = "/tmp/fcl_cmd_evalXXXXXX";

/* The output of the last run(): owned here and replaced by the next call (not by the caller), so
 * an assertion that ends a test between run() and the use of its output leaks nothing. */
static char *run_out;

/* Runs a shell command (stdout and stderr captured together into run_out); returns the exit
 * status (or -1 when it did not exit normally), or fails the test unless it is 0 when must_succeed. */
static int vrun(int must_succeed, const char *fmt, va_list ap)
{
    free(run_out);
    run_out = NULL;
    if (!must_succeed) return fcl_test_vrun(&run_out, fmt, ap);
    fcl_test_vrun_ok(&run_out, fmt, ap);
    return 0;
}

/* vrun: *out = the output, valid until the next run. */
static int run(char **out, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = vrun(0, fmt, ap);
    va_end(ap);
    if (out) *out = run_out;
    return rc;
}

/* run() that must exit 0; returns the output, valid until the next run. */
static char *run_ok(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vrun(1, fmt, ap);
    va_end(ap);
    return run_out;
}

static size_t count_lines(const char *s)
{
    size_t n = 0;
    for (; *s; s++) n += *s == '\n';
    return n;
}

static void world(void)
{
    cr_assert(mkdtemp(dir));
    run_ok("'%s' synth --ids %d --per-id %d --size %d --gray --seed 1 --unseen-ids 8 --pairs 60 '%s/ds'",
                 FACECL, IDS, PER, SIZE, dir);
    char ck[256];
    snprintf(ck, sizeof ck, "%s/ck.safetensors", dir);
    fcl_test_small_checkpoint(ck, SIZE, IDS, -1, NAMES);
}

static void cleanup(void)
{
    fcl_test_rm_rf(dir);
    free(run_out);
    run_out = NULL;
}

TestSuite(commands_eval, .init = world, .fini = cleanup, .timeout = 300);

/* The number after `key` in text (e.g. "top-1 accuracy  16.6667 %"). */
Test(commands_eval, eval_labelled)
{
    char *out = NULL, path[512];
    out = run_ok("'%s' eval --checkpoint '%s/ck.safetensors' '%s/ds/train' --out '%s/ev' --batch 5 --workers 2", FACECL,
                 dir, dir, dir);
    double top1 = fcl_test_number_after(out, "top-1 accuracy"), top5 = fcl_test_number_after(out, "top-5 accuracy");
    cr_expect(top1 >= 0 && top1 <= 100 && top5 >= top1 && top5 <= 100, "top-1 %g top-5 %g", top1, top5);

    snprintf(path, sizeof path, "%s/ev/report.txt", dir);
    char *rep = fcl_test_slurp(path);
    cr_expect(strstr(rep, "precision") && strstr(rep, "id0005") && strstr(rep, "macro avg"), "%s", rep);
    free(rep);

    /* predictions.csv: header + one row per training image (class/file, predicted name); its
     * agreement with the folders must be the printed top-1. */
    size_t n_train = 0;
    snprintf(path, sizeof path, "%s/ev/predictions.csv", dir);
    char *pred = fcl_test_slurp(path);
    cr_assert(!strncmp(pred, "id,label\n", 9), "%s", pred);
    size_t correct = 0;
    for (char *line = strtok(pred + 9, "\n"); line; line = strtok(NULL, "\n")) {
        char *comma = strchr(line, ',');
        cr_assert(comma, "bad row %s", line);
        char *slash = strchr(line, '/');
        cr_assert(slash && slash < comma, "id is not class/file: %s", line);
        cr_expect(strstr(NAMES, comma + 1), "unknown label in %s", line);
        correct += (size_t)(slash - line) == strlen(comma + 1) && !strncmp(line, comma + 1, (size_t)(slash - line));
        n_train++;
    }
    free(pred);
    cr_expect(n_train > 0 && n_train <= IDS * PER);
    cr_expect(fabs(100.0 * (double)correct / (double)n_train - top1) < 1e-3, "%zu/%zu correct vs top-1 %g", correct,
              n_train, top1);

    /* confusion.csv: a 6 x 6 matrix of counts summing to the image count; the diagonal is the
     * number correct. */
    snprintf(path, sizeof path, "%s/ev/confusion.csv", dir);
    char *conf = fcl_test_slurp(path);
    cr_expect_eq(count_lines(conf), (size_t)IDS + 1);
    cr_assert(!strncmp(conf, "true\\predicted,id0000,id0001", 28), "%s", conf);
    size_t total = 0, diag = 0;
    int row = -1;
    for (char *line = strtok(conf, "\n"); line; line = strtok(NULL, "\n"), row++) {
        if (row < 0) continue;
        char *f = strchr(line, ',');
        for (int col = 0; col < IDS; col++) {
            cr_assert(f, "short row %s", line);
            size_t v = strtoul(f + 1, &f, 10);
            total += v;
            if (col == row) diag += v;
        }
    }
    free(conf);
    cr_expect_eq(total, n_train);
    cr_expect_eq(diag, correct);
}

Test(commands_eval, eval_unlabelled_and_unknown_class)
{
    /* A flat folder (auto-detected): predictions by file name, in file-name order. */
    char *out = NULL, path[512];
    int rc = run(NULL, "mkdir -p '%s/flat' && cp '%s/ds/unseen/u0000/003.png' '%s/flat/b.png' && "
                       "cp '%s/ds/unseen/u0001/000.png' '%s/flat/a.png' && cp '%s/ds/unseen/u0002/001.png' '%s/flat/c.png'",
                 dir, dir, dir, dir, dir, dir, dir);
    cr_assert_eq(rc, 0);
    out = run_ok("'%s' eval --checkpoint '%s/ck.safetensors' '%s/flat' --out '%s/ef'", FACECL, dir, dir, dir);
    snprintf(path, sizeof path, "%s/ef/predictions.csv", dir);
    char *pred = fcl_test_slurp(path);
    cr_expect_eq(count_lines(pred), 4u, "%s", pred);
    cr_expect(!strncmp(pred, "id,label\na.png,id000", 20), "%s", pred);
    char *b = strstr(pred, "\nb.png,id000"), *c = strstr(pred, "\nc.png,id000");
    cr_expect(b && c && b < c, "%s", pred);
    free(pred);
    snprintf(path, sizeof path, "%s/ef/report.txt", dir);
    cr_expect(!fcl_test_exists(path), "no report for unlabelled images");

    /* A class folder the model does not know is an error naming it. */
    rc = run(NULL, "mkdir -p '%s/lab/id0001' '%s/lab/stranger' && cp '%s/ds/unseen/u0000/003.png' '%s/lab/id0001/' && "
                   "cp '%s/ds/unseen/u0001/000.png' '%s/lab/stranger/'",
             dir, dir, dir, dir, dir, dir);
    cr_assert_eq(rc, 0);
    rc = run(&out, "'%s' eval --checkpoint '%s/ck.safetensors' '%s/lab' --out '%s/el'", FACECL, dir, dir, dir);
    cr_expect_neq(rc, 0);
    cr_expect(strstr(out, "error") && strstr(out, "'stranger'"), "%s", out);

    /* Without the unknown folder the subset of classes evaluates fine. */
    rc = run(&out, "rm -r '%s/lab/stranger' && '%s' eval --checkpoint '%s/ck.safetensors' '%s/lab' --out '%s/el'", dir,
             FACECL, dir, dir, dir);
    cr_expect_eq(rc, 0, "%s", out);
    cr_expect(strstr(out, "images          1 in 1 class folders"), "%s", out);
}

Test(commands_eval, embed_npy_and_index)
{
    char *out = NULL, path[512];
    out = run_ok("'%s' embed --checkpoint '%s/ck.safetensors' '%s/ds/unseen' --out '%s/emb/u.npy' --batch 7", FACECL,
                 dir, dir, dir);
    snprintf(path, sizeof path, "%s/emb/u.npy", dir);
    fcl_npy a;
    fcl_error e = {0};
    cr_assert_eq(fcl_npy_read_f32(path, &a, &e), FCL_OK, "%s", e.msg);
    cr_assert_eq(a.ndim, 2);
    cr_expect_eq(a.shape[0], 8u * PER);
    cr_expect_eq(a.shape[1], 64u); /* small.model's embedding */
    for (size_t i = 0; i < a.shape[0]; i++) {
        double s = 0;
        for (size_t j = 0; j < a.shape[1]; j++) s += (double)a.data[i * a.shape[1] + j] * a.data[i * a.shape[1] + j];
        cr_expect(fabs(s - 1.0) < 1e-5, "row %zu norm^2 %g", i, s);
    }
    snprintf(path, sizeof path, "%s/emb/u.txt", dir); /* default index name */
    char *idx = fcl_test_slurp(path);
    cr_expect_eq(count_lines(idx), a.shape[0]);
    char want[512];
    snprintf(want, sizeof want, "%s/ds/unseen/u0000/000.png\n%s/ds/unseen/u0000/001.png\n", dir, dir);
    cr_expect(!strncmp(idx, want, strlen(want)), "index starts:\n%.200s", idx);
    free(idx);

    /* The same with another batch size and an explicit index path: the same rows. */
    out = run_ok("'%s' embed --checkpoint '%s/ck.safetensors' '%s/ds/unseen' --out '%s/emb/v.npy' --index '%s/v.idx' --batch 1 --workers 1",
             FACECL, dir, dir, dir, dir);
    snprintf(path, sizeof path, "%s/v.idx", dir);
    cr_expect(fcl_test_exists(path));
    fcl_npy b;
    snprintf(path, sizeof path, "%s/emb/v.npy", dir);
    cr_assert_eq(fcl_npy_read_f32(path, &b, &e), FCL_OK, "%s", e.msg);
    cr_assert_eq(b.numel, a.numel);
    double md = 0;
    for (size_t k = 0; k < a.numel; k++) md = fmax(md, fabs((double)a.data[k] - b.data[k]));
    cr_expect(md < 1e-5, "batch 7 vs 1 differ by %g", md);
    fcl_npy_free(&a);
    fcl_npy_free(&b);

    /* A missing checkpoint: non-zero exit, message naming it, no output written. */
    int rc = run(&out, "'%s' embed --checkpoint '%s/none.safetensors' '%s/ds/unseen' --out '%s/emb/w.npy'", FACECL, dir, dir, dir);
    cr_expect_neq(rc, 0);
    cr_expect(strstr(out, "none.safetensors"), "%s", out);
    snprintf(path, sizeof path, "%s/emb/w.npy", dir);
    cr_expect(!fcl_test_exists(path));
}

/* Parses scores.csv rows "p1,p2[,label],score" into scores[] (returns the count). */
static size_t read_scores(const char *path, int labelled, double *scores, size_t max)
{
    char *s = fcl_test_slurp(path);
    const char *hdr = labelled ? "path1,path2,label,score\n" : "path1,path2,score\n";
    cr_assert(!strncmp(s, hdr, strlen(hdr)), "%s header: %.60s", path, s);
    size_t n = 0;
    for (char *line = strtok(s + strlen(hdr), "\n"); line; line = strtok(NULL, "\n")) {
        int commas = 0;
        for (char *q = line; *q; q++) commas += *q == ',';
        cr_assert_eq(commas, labelled ? 3 : 2, "bad row %s", line);
        cr_assert(n < max);
        scores[n] = strtod(strrchr(line, ',') + 1, NULL);
        cr_expect(scores[n] >= -1.0 && scores[n] <= 1.0, "score out of range: %s", line);
        n++;
    }
    free(s);
    return n;
}

Test(commands_eval, verify_labelled_unlabelled_and_from_embeddings)
{
    char *out = NULL, path[512];
    out = run_ok("'%s' verify --checkpoint '%s/ck.safetensors' --pairs '%s/ds/pairs.txt' --out '%s/ver' --folds 5", FACECL,
                 dir, dir, dir);
    double auc = fcl_test_number_after(out, "ROC AUC"), eer = fcl_test_number_after(out, "EER");
    double acc = fcl_test_number_after(out, "best accuracy"), kacc = fcl_test_number_after(out, "5-fold accuracy");
    cr_expect(auc >= 0 && auc <= 1, "AUC %g", auc);
    cr_expect(eer >= 0 && eer <= 100, "EER %g", eer);
    cr_expect(acc >= 50 && acc <= 100, "best accuracy %g (never below the all-same / all-different 50%%)", acc);
    cr_expect(kacc >= 0 && kacc <= 100, "k-fold %g", kacc);
    cr_expect(strstr(out, "TAR@FAR=0.1") && strstr(out, "TAR@FAR=0.01") && strstr(out, "TAR@FAR=0.001"), "%s", out);
    snprintf(path, sizeof path, "%s/ver/metrics.txt", dir);
    char *met = fcl_test_slurp(path);
    cr_expect(fabs(fcl_test_number_after(met, "ROC AUC") - auc) < 1e-9);
    free(met);
    snprintf(path, sizeof path, "%s/ver/roc.png", dir);
    fcl_image img = {0};
    fcl_error e = {0};
    cr_assert_eq(fcl_image_decode_file(path, 0, &img, &e), FCL_OK, "%s", e.msg);
    cr_expect(img.w == 900 && img.h == 600, "roc.png is %dx%d", img.w, img.h);
    fcl_image_free(&img);
    double s1[100], s2[100], s3[100];
    snprintf(path, sizeof path, "%s/ver/scores.csv", dir);
    size_t n1 = read_scores(path, 1, s1, 100);
    cr_expect_eq(n1, 60u);

    /* Unlabelled list: a submission CSV with the same scores, no metrics. */
    out = run_ok("'%s' verify --checkpoint '%s/ck.safetensors' --pairs '%s/ds/pairs_unlabelled.txt' --out '%s/veru'", FACECL,
             dir, dir, dir);
    cr_expect(!strstr(out, "ROC AUC"), "%s", out);
    snprintf(path, sizeof path, "%s/veru/scores.csv", dir);
    cr_assert_eq(read_scores(path, 0, s2, 100), n1);
    snprintf(path, sizeof path, "%s/veru/metrics.txt", dir);
    cr_expect(!fcl_test_exists(path));

    /* From `facecl embed` output: the same scores. */
    out = run_ok("'%s' embed --checkpoint '%s/ck.safetensors' '%s/ds/unseen' --out '%s/u.npy' && "
                   "'%s' verify --embeddings '%s/u.npy' --pairs '%s/ds/pairs.txt' --out '%s/vere'",
             FACECL, dir, dir, dir, FACECL, dir, dir, dir);
    snprintf(path, sizeof path, "%s/vere/scores.csv", dir);
    cr_assert_eq(read_scores(path, 1, s3, 100), n1);
    for (size_t i = 0; i < n1; i++) {
        cr_expect(fabs(s1[i] - s2[i]) < 2e-6, "pair %zu: %.9f vs %.9f", i, s1[i], s2[i]);
        cr_expect(fabs(s1[i] - s3[i]) < 2e-6, "pair %zu: %.9f vs %.9f", i, s1[i], s3[i]);
    }
}

/* Writes text to dir/name. */
static void put(const char *name, const char *text)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    cr_assert(f);
    fputs(text, f);
    fclose(f);
}

Test(commands_eval, verify_lfw_folds_and_errors)
{
    /* An LFW-style tree (root/name/name_NNNN.jpg; PNG content is fine, decoding goes by
     * content) and a pairs.txt of 2 folds x (2 same + 2 different). */
    char *out = NULL;
    int rc = run(NULL,
                 "cd '%s' && for p in a:u0000 b:u0001 c:u0002 d:u0003; do n=${p%%%%:*}; u=${p#*:}; mkdir -p lfw/$n; "
                 "for i in 0 1 2; do cp ds/unseen/$u/00$i.png lfw/$n/${n}_000$((i+1)).jpg; done; done",
                 dir);
    cr_assert_eq(rc, 0);
    put("lfw_pairs.txt", "2\t2\n"
                         "a\t1\t2\nb\t1\t3\n"
                         "a\t1\tc\t1\nb\t2\td\t3\n"
                         "c\t1\t3\nd\t1\t2\n"
                         "a\t3\td\t1\nc\t2\tb\t1\n");
    out = run_ok("'%s' verify --checkpoint '%s/ck.safetensors' --pairs '%s/lfw_pairs.txt' --lfw --root '%s/lfw' --out '%s/vl'",
             FACECL, dir, dir, dir, dir);
    cr_expect(strstr(out, "pairs            8 (4 same, 4 different)"), "%s", out);
    double k = fcl_test_number_after(out, "2-fold accuracy");
    cr_expect(k >= 0 && k <= 100, "%s", out);

    /* A pair list with a bad line: the message names file and line. */
    put("bad_pairs.txt", "ds/unseen/u0000/000.png ds/unseen/u0000/001.png 1\nds/unseen/u0000/000.png ds/unseen/u0001/001.png 7\n");
    rc = run(&out, "'%s' verify --checkpoint '%s/ck.safetensors' --pairs '%s/bad_pairs.txt' --out '%s/vb'", FACECL, dir, dir, dir);
    cr_expect_neq(rc, 0);
    cr_expect(strstr(out, "bad_pairs.txt:2"), "%s", out);

    /* A pair naming a missing image: file, line and image named. */
    put("miss_pairs.txt", "ds/unseen/u0000/000.png ds/unseen/u0000/001.png 1\n\nds/unseen/u0000/000.png ds/unseen/zz.png 0\n");
    rc = run(&out, "'%s' verify --checkpoint '%s/ck.safetensors' --pairs '%s/miss_pairs.txt' --out '%s/vm'", FACECL, dir, dir, dir);
    cr_expect_neq(rc, 0);
    cr_expect(strstr(out, "miss_pairs.txt:3") && strstr(out, "zz.png"), "%s", out);

    /* Missing checkpoint; missing pair list; neither --checkpoint nor --embeddings; unknown option. */
    rc = run(&out, "'%s' verify --checkpoint '%s/gone.safetensors' --pairs '%s/ds/pairs.txt' --out '%s/vg'", FACECL, dir, dir, dir);
    cr_expect_neq(rc, 0);
    cr_expect(strstr(out, "gone.safetensors"), "%s", out);
    rc = run(&out, "'%s' verify --checkpoint '%s/ck.safetensors' --pairs '%s/nolist.txt'", FACECL, dir, dir);
    cr_expect_neq(rc, 0);
    cr_expect(strstr(out, "nolist.txt"), "%s", out);
    rc = run(&out, "'%s' verify --pairs '%s/ds/pairs.txt'", FACECL, dir);
    cr_expect_eq(rc, 2);
    cr_expect(strstr(out, "--checkpoint"), "%s", out);
    rc = run(&out, "'%s' eval --checkpoint '%s/ck.safetensors' --bogus '%s/ds/val'", FACECL, dir, dir);
    cr_expect_eq(rc, 2);
    cr_expect(strstr(out, "--bogus"), "%s", out);
    /* An embedding index that does not hold a pair's image. */
    rc = run(&out, "'%s' embed --checkpoint '%s/ck.safetensors' '%s/ds/train' --out '%s/t.npy' && "
                   "'%s' verify --embeddings '%s/t.npy' --pairs '%s/ds/pairs.txt' --out '%s/vt'",
             FACECL, dir, dir, dir, FACECL, dir, dir, dir);
    cr_expect_neq(rc, 0);
    cr_expect(strstr(out, "pairs.txt:1:") && strstr(out, "has no embedding"), "%s", out);
}

Test(commands_eval, help_and_checkpoint_without_classifier)
{
    char *out = NULL;
    const char *cmds[3] = {"eval", "embed", "verify"};
    for (int i = 0; i < 3; i++) {
        int rc = run(&out, "'%s' %s --help", FACECL, cmds[i]);
        cr_expect_eq(rc, 0);
        cr_expect(strstr(out, "--checkpoint") && strstr(out, "--device"), "%s", out);
    }
    /* eval needs a classifier; embed does not. */
    char ck[512];
    snprintf(ck, sizeof ck, "%s/emb_only.safetensors", dir);
    fcl_test_small_checkpoint(ck, SIZE, 0, -1, NULL);
    int rc = run(&out, "'%s' eval --checkpoint '%s' '%s/ds/val' --out '%s/x'", FACECL, ck, dir, dir);
    cr_expect_neq(rc, 0);
    cr_expect(strstr(out, "no classifier"), "%s", out);
    rc = run(&out, "'%s' embed --checkpoint '%s' '%s/ds/val' --out '%s/x/v.npy'", FACECL, ck, dir, dir);
    cr_expect_eq(rc, 0, "%s", out);
}
