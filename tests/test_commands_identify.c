/* tests/test_commands_identify.c: `facecl identify` (and --tta on embed / verify / train) end to end on a tiny synthetic set: outputs, numbers recomputed from `facecl embed`, exit codes, messages. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <facecl/facecl.h>

#include "helpers/cmdline.h"
#include "helpers/small_net.h"

#define FACECL FACECL_BINARY_DIR "/facecl"

enum { UNSEEN = 8, PER = 6, SIZE = 32, GAL_IDS = 5, GAL_PER = 2 };

static char dir[] = "/tmp/fcl_cmd_identXXXXXX";

/* ds/unseen: 8 identities x 6 images. gal/: the first 5 identities, 2 images each; probes/: their
 * other 4 images plus all images of the last 3 (impostors); flat/: a few probes, no folders. */
static void world(void)
{
    cr_assert(mkdtemp(dir));
    free(fcl_test_run_ok("'%s' synth --ids 4 --per-id %d --size %d --gray --seed 2 --unseen-ids %d --pairs 40 '%s/ds'",
                         FACECL, PER, SIZE, UNSEEN, dir));
    free(fcl_test_run_ok("cd '%s' && i=0 && for d in ds/unseen/*/; do n=$(basename $d); i=$((i+1)); j=0; for f in $d*.png; do "
                         "j=$((j+1)); if [ $i -le %d ] && [ $j -le %d ]; then t=gal; else t=probes; fi; mkdir -p $t/$n; "
                         "ln -s \"$PWD/$f\" $t/$n/; done; done && mkdir flat && cp probes/u0000/*.png flat/",
                         dir, GAL_IDS, GAL_PER));
    char ck[256];
    snprintf(ck, sizeof ck, "%s/ck.safetensors", dir);
    fcl_test_small_checkpoint(ck, SIZE, 4, 3, NULL);
}

static void cleanup(void)
{
    fcl_test_rm_rf(dir);
}

TestSuite(commands_identify, .init = world, .fini = cleanup, .timeout = 300);

static float *load_npy(const char *path, size_t *n, size_t *d)
{
    fcl_npy a;
    fcl_error e = {0};
    cr_assert_eq(fcl_npy_read_f32(path, &a, &e), FCL_OK, "%s", e.msg);
    cr_assert_eq(a.ndim, 2);
    *n = a.shape[0];
    *d = a.shape[1];
    float *x = malloc(a.numel * sizeof *x);
    memcpy(x, a.data, a.numel * sizeof *x);
    fcl_npy_free(&a);
    return x;
}

/* rank-1 and decision accuracy at threshold thr recomputed from `facecl embed` outputs of gal/
 * and probes/ (rows in folder order: identity u000k is folder k), mean templates. */
static int cmp_dbl(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Also *mid (may be NULL): a threshold halfway between two neighbouring best scores near the
 * median, at least 1e-4 from both, so float rounding cannot move a probe across it. */
static void recompute(const char *tta, double thr, double *rank1, double *acc, double *mid)
{
    char *out = NULL, pg[512], pp[512];
    out = fcl_test_run_ok("cd '%s' && '%s' embed --checkpoint ck.safetensors gal --out eg.npy %s && '%s' embed --checkpoint "
                 "ck.safetensors probes --out ep.npy %s", dir, FACECL, tta, FACECL, tta);
    free(out);
    snprintf(pg, sizeof pg, "%s/eg.npy", dir);
    snprintf(pp, sizeof pp, "%s/ep.npy", dir);
    size_t ng, np, d, d2;
    float *g = load_npy(pg, &ng, &d), *p = load_npy(pp, &np, &d2);
    cr_assert_eq(ng, (size_t)GAL_IDS * GAL_PER);
    cr_assert_eq(np, (size_t)GAL_IDS * (PER - GAL_PER) + (UNSEEN - GAL_IDS) * PER);
    double t[GAL_IDS][64];
    cr_assert(d <= 64 && d == d2);
    for (int c = 0; c < GAL_IDS; c++) {
        double s = 0;
        for (size_t j = 0; j < d; j++) {
            t[c][j] = 0;
            for (int k = 0; k < GAL_PER; k++) t[c][j] += g[((size_t)c * GAL_PER + (size_t)k) * d + j];
            s += t[c][j] * t[c][j];
        }
        for (size_t j = 0; j < d; j++) t[c][j] /= sqrt(s);
    }
    size_t gen = 0, hit = 0, right = 0;
    double bests[64];
    cr_assert(np <= 64);
    for (size_t i = 0; i < np; i++) {
        int truth = i < (size_t)GAL_IDS * (PER - GAL_PER) ? (int)(i / (PER - GAL_PER)) : -1;
        int bi = 0;
        double bs = -2;
        for (int c = 0; c < GAL_IDS; c++) {
            double s = 0;
            for (size_t j = 0; j < d; j++) s += t[c][j] * p[i * d + j];
            if (s > bs) bs = s, bi = c;
        }
        bests[i] = bs;
        if (truth >= 0) {
            gen++;
            hit += bi == truth;
            right += bi == truth && bs >= thr;
        } else {
            right += bs < thr;
        }
    }
    if (mid) {
        qsort(bests, np, sizeof *bests, cmp_dbl);
        *mid = NAN;
        for (size_t i = np / 2; i + 1 < np && isnan(*mid); i++)
            if (bests[i + 1] - bests[i] > 2e-4) *mid = 0.5 * (bests[i] + bests[i + 1]);
        cr_assert(!isnan(*mid), "no gap between best scores above the median");
    }
    *rank1 = (double)hit / (double)gen;
    *acc = (double)right / (double)np;
    free(g);
    free(p);
}

Test(commands_identify, labelled_probes_numbers_and_files)
{
    char *out = NULL, path[512], thr[64];
    double want_r1, want_acc, mid;
    recompute("", -INFINITY, &want_r1, &want_acc, &mid);
    snprintf(thr, sizeof thr, "%.9g", mid);
    out = fcl_test_run_ok("cd '%s' && '%s' identify --checkpoint ck.safetensors --gallery gal --probes probes --threshold %s "
                 "--top 3 --out res/id.csv --unknown-label n000000", dir, FACECL, thr);
    double r1 = fcl_test_number_after(out, "rank-1"), acc = fcl_test_number_after(out, "accuracy");
    cr_assert(strstr(out, "DIR@FAR=0.01") && strstr(out, "rank-5"), "%s", out);
    cr_assert(strstr(out, "probes       38 (20 of gallery identities, 18 impostors), gallery 5 identities"), "%s", out);
    free(out);
    recompute("", strtod(thr, NULL), &want_r1, &want_acc, NULL);
    cr_assert(fabs(r1 - 100 * want_r1) < 0.006, "rank-1 %.4f vs recomputed %.4f", r1, 100 * want_r1);
    cr_assert(fabs(acc - 100 * want_acc) < 0.006, "accuracy %.4f vs recomputed %.4f", acc, 100 * want_acc);

    snprintf(path, sizeof path, "%s/res/id.csv", dir);
    char *csv = fcl_test_slurp(path);
    cr_assert(!strncmp(csv, "probe,identity,decision,score,id1,score1,id2,score2,id3,score3\n", 62), "%.100s", csv);
    size_t lines = 0, unknown = 0;
    for (char *s = csv; *s; s++) lines += *s == '\n';
    cr_assert_eq(lines, 39u);
    for (char *s = strstr(csv, "n000000"); s; s = strstr(s + 1, "n000000")) unknown++;
    cr_assert_gt(unknown, 0u, "a threshold above the median best score rejects some probes");
    cr_assert(strstr(csv, "\nu0005/000.png,u0005,"), "impostor rows name their folder: %.300s", csv);
    free(csv);
    snprintf(path, sizeof path, "%s/res/id-metrics.txt", dir);
    cr_assert(fcl_test_exists(path));
    snprintf(path, sizeof path, "%s/res/id-cmc.png", dir);
    cr_assert(fcl_test_exists(path));
}

Test(commands_identify, tta_far_max_and_unlabelled)
{
    char *out = NULL, path[512];
    /* --tta flip: the same numbers as recomputed from `embed --tta flip`; closed set. */
    out = fcl_test_run_ok("cd '%s' && '%s' identify --checkpoint ck.safetensors --gallery gal --probes probes --tta flip "
                 "--out t.csv", dir, FACECL);
    double r1 = fcl_test_number_after(out, "rank-1"), acc = fcl_test_number_after(out, "accuracy");
    cr_assert(strstr(out, "closed set"), "%s", out);
    free(out);
    double want_r1, want_acc;
    recompute("--tta flip", -INFINITY, &want_r1, &want_acc, NULL);
    cr_assert(fabs(r1 - 100 * want_r1) < 0.006, "rank-1 %.4f vs recomputed %.4f", r1, 100 * want_r1);
    cr_assert(fabs(acc - 100 * want_acc) < 0.006, "accuracy %.4f vs %.4f", acc, 100 * want_acc);

    /* --far: the threshold is reported and the FAR reached is at most the target. */
    out = fcl_test_run_ok("cd '%s' && '%s' identify --checkpoint ck.safetensors --gallery gal --probes probes --far 0.2 --match max "
             "--out f.csv", dir, FACECL);
    cr_assert(strstr(out, "threshold    "), "%s", out);
    double reached = fcl_test_number_after(out, "gives FAR");
    cr_assert(reached <= 0.2 + 1e-12, "%s", out);
    free(out);

    /* Unlabelled probes: the CSV only. */
    out = fcl_test_run_ok("cd '%s' && '%s' identify --checkpoint ck.safetensors --gallery gal --probes flat --out u.csv", dir, FACECL);
    cr_assert(!strstr(out, "rank-1"), "%s", out);
    free(out);
    snprintf(path, sizeof path, "%s/u.csv", dir);
    char *csv = fcl_test_slurp(path);
    cr_assert(!strncmp(csv, "probe,decision,score,id1,", 25), "%.100s", csv);
    free(csv);
    snprintf(path, sizeof path, "%s/u-metrics.txt", dir);
    cr_assert(!fcl_test_exists(path));

    /* verify and embed take --tta; the pair scores change with it. */
    out = fcl_test_run_ok("cd '%s' && '%s' verify --checkpoint ck.safetensors --pairs ds/pairs.txt --out v0 && '%s' verify "
             "--checkpoint ck.safetensors --pairs ds/pairs.txt --out v1 --tta flip && ! cmp -s v0/scores.csv v1/scores.csv",
             dir, FACECL, FACECL);
    free(out);
}

Test(commands_identify, usage_errors_exit_2)
{
    static const char *bad[] = {
        "identify --gallery gal --probes probes",                                            /* no checkpoint */
        "identify --checkpoint ck.safetensors --probes probes",                              /* no gallery */
        "identify --checkpoint ck.safetensors --gallery gal --probes probes --threshold 0.3 --far 0.1",
        "identify --checkpoint ck.safetensors --gallery gal --probes flat --far 0.1",        /* unlabelled */
        "identify --checkpoint ck.safetensors --gallery gal --probes gal --far 0.1",         /* no impostors */
        "identify --checkpoint ck.safetensors --gallery flat --probes probes",               /* flat gallery */
        "identify --checkpoint ck.safetensors --gallery gal --probes probes --top 0",
        "identify --checkpoint ck.safetensors --gallery gal --probes probes --match median",
        "identify --checkpoint ck.safetensors --gallery gal --probes probes --far 2",
        "identify --checkpoint ck.safetensors --gallery gal --probes probes --unknown-label u0001",
        "identify --checkpoint ck.safetensors --gallery gal --probes probes --tta rotate",
        "identify --checkpoint ck.safetensors --gallery gal --probes probes --frobnicate",
        "identify --bench-random 10x10",
        "embed --checkpoint ck.safetensors gal --out x.npy --tta both",
        "verify --embeddings eg.npy --pairs ds/pairs.txt --tta flip",
        "train --train gal --out r --tta sideways",
    };
    static const char *why[] = {"--checkpoint", "--gallery", "not both", "no identity folders", "no impostors",
                                "ImageFolder", "--top", "--match", "--far", "unknown label", "--tta", "unknown option",
                                "GxPxD", "--tta", "--tta", "--tta"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char *out = NULL;
        int rc = fcl_test_run(&out, "cd '%s' && '%s' %s", dir, FACECL, bad[i]);
        cr_expect_eq(rc, 2, "'%s' exited %d: %s", bad[i], rc, out);
        cr_expect(strstr(out, why[i]), "'%s': message lacks '%s': %s", bad[i], why[i], out);
        free(out);
    }
    /* A missing checkpoint: a clear error (exit 1), no CSV. */
    char *out = NULL, path[512];
    int rc = fcl_test_run(&out, "cd '%s' && '%s' identify --checkpoint none.safetensors --gallery gal --probes probes --out n.csv",
                 dir, FACECL);
    cr_expect_eq(rc, 1, "%s", out);
    cr_expect(strstr(out, "none.safetensors"), "%s", out);
    free(out);
    snprintf(path, sizeof path, "%s/n.csv", dir);
    cr_expect(!fcl_test_exists(path));
}

Test(commands_identify, bench_random_small)
{
    char *out = NULL;
    out = fcl_test_run_ok("'%s' identify --bench-random 300x200x16 --top 3", FACECL);
    cr_assert(strstr(out, "200 probes x 300 identities x 16 dims"), "%s", out);
    /* Genuine random probes are their identity plus noise of equal size (cos ~0.7 against ~0.25
     * for the best of 300 others in 16 dims): far above chance (0.3 %). */
    cr_assert_gt(fcl_test_number_after(out, "rank-1"), 40.0, "%s", out);
    free(out);
}
