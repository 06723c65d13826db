/* tests/test_identify.c: 1:N identification: ranks, top-K and metrics against the numpy / scikit-learn fixture, device scoring against a double reference, gallery templates, errors. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <facecl/facecl.h>

#include "helpers/each_name.h"
#include "helpers/small_net.h"

#define FIXTURE FACECL_SOURCE_DIR "/tests/fixtures/ident_sklearn.txt"

/* ---- the fixture --------------------------------------------------------------------------- */

typedef struct fx {
    size_t P, C, ids;
    int k;
    double thr;
    int *cols;           /* NULL: identity columns */
    int *truth;
    float *scores;       /* [P, C] */
    long *rank;
    double *best;
    int *top;            /* [P, min(k, ids)] */
    double *cmc;         /* [ids] */
    double rank1, rank5;
    double far[3], dir[3], dir_thr[3], far_act[3];
    double acc;
    size_t counts[5];
} fx;

static double num(const char *t)
{
    cr_assert_not_null(t, "fixture: missing number");
    char *end;
    double v = strtod(t, &end); /* accepts inf / nan */
    cr_assert(end != t && *end == '\0', "fixture: bad number '%s'", t);
    return v;
}

/* Reads the whitespace-separated numbers after the line's keyword into a malloc'd double array. */
static double *numbers(char *rest, size_t want)
{
    double *v = malloc((want ? want : 1) * sizeof *v);
    size_t n = 0;
    for (char *t = strtok(rest, " \n"); t; t = strtok(NULL, " \n")) {
        cr_assert(n < want, "fixture: too many numbers (want %zu)", want);
        v[n++] = num(t);
    }
    cr_assert_eq(n, want, "fixture: %zu numbers, want %zu", n, want);
    return v;
}

/* The same as a malloc'd int array (labels, columns, ranks: whole numbers in the fixture). */
static int *ints(char *rest, size_t want)
{
    double *v = numbers(rest, want);
    int *k = malloc((want ? want : 1) * sizeof *k);
    for (size_t j = 0; j < want; j++) k[j] = (int)v[j];
    free(v);
    return k;
}

static fx *load(const char *name)
{
    FILE *f = fopen(FIXTURE, "r");
    cr_assert_not_null(f, "cannot open %s (run tools/make_ident_fixtures.py)", FIXTURE);
    fx *c = calloc(1, sizeof *c);
    char *line = NULL;
    size_t cap = 0;
    int in = 0, done = 0, nfar = 0;
    while (!done && getline(&line, &cap, f) > 0) {
        char *sp = strchr(line, ' ');
        char *rest = sp ? sp + 1 : line + strlen(line);
        if (sp) *sp = '\0';
        else line[strcspn(line, "\n")] = '\0';
        if (!strcmp(line, "case")) {
            rest[strcspn(rest, "\n")] = '\0';
            in = !strcmp(rest, name);
            continue;
        }
        if (!in) continue;
        size_t kk = 0;
        if (!strcmp(line, "shape")) {
            double *v = numbers(rest, 4);
            c->P = (size_t)v[0], c->C = (size_t)v[1], c->ids = (size_t)v[2], c->k = (int)v[3];
            free(v);
        } else if (!strcmp(line, "threshold")) {
            double *v = numbers(rest, 1);
            c->thr = v[0];
            free(v);
        } else if (!strcmp(line, "cols")) {
            if (strncmp(rest, "identity", 8)) c->cols = ints(rest, c->C);
        } else if (!strcmp(line, "true")) {
            c->truth = ints(rest, c->P);
        } else if (!strcmp(line, "scores")) {
            double *v = numbers(rest, c->P * c->C);
            c->scores = malloc(c->P * c->C * sizeof *c->scores);
            for (size_t j = 0; j < c->P * c->C; j++) {
                c->scores[j] = (float)v[j];
                cr_assert_eq((double)c->scores[j], v[j], "fixture scores must be float32 values");
            }
            free(v);
        } else if (!strcmp(line, "rank")) {
            int *r = ints(rest, c->P);
            c->rank = malloc(c->P * sizeof *c->rank);
            for (size_t j = 0; j < c->P; j++) c->rank[j] = r[j];
            free(r);
        } else if (!strcmp(line, "best")) {
            c->best = numbers(rest, c->P);
        } else if (!strcmp(line, "top")) {
            kk = (size_t)c->k < c->ids ? (size_t)c->k : c->ids;
            c->top = ints(rest, c->P * kk);
        } else if (!strcmp(line, "cmc")) {
            c->cmc = numbers(rest, c->ids);
        } else if (!strcmp(line, "rank1")) {
            char *a = strtok(rest, " \n"), *b = strtok(NULL, " \n"), *d = strtok(NULL, " \n");
            cr_assert(b && !strcmp(b, "rank5"));
            c->rank1 = num(a);
            c->rank5 = num(d);
        } else if (!strcmp(line, "dir")) {
            double *v = numbers(rest, 4);
            cr_assert(nfar < 3);
            c->far[nfar] = v[0], c->dir[nfar] = v[1], c->dir_thr[nfar] = v[2], c->far_act[nfar] = v[3];
            nfar++;
            free(v);
        } else if (!strcmp(line, "accuracy")) {
            double *v = numbers(rest, 6);
            c->acc = v[0];
            for (int j = 0; j < 5; j++) c->counts[j] = (size_t)v[j + 1];
            free(v);
        } else if (!strcmp(line, "end")) {
            done = 1;
        }
    }
    free(line);
    fclose(f);
    cr_assert(done && nfar == 3 && c->scores && c->rank && c->cmc, "fixture case '%s' missing or incomplete", name);
    return c;
}

static void fx_free(fx *c)
{
    free(c->cols), free(c->truth), free(c->scores), free(c->rank), free(c->best), free(c->top), free(c->cmc);
    free(c);
}

/* Equal, both NaN, or both the same infinity. */
static int same(double a, double b) { return (isnan(a) && isnan(b)) || a == b || fabs(a - b) <= 1e-12; }

static void check_case(const char *name)
{
    fx *c = load(name);
    fcl_error e = {0};
    fcl_ident_result r;
    int kk = (size_t)c->k < c->ids ? c->k : (int)c->ids;
    cr_assert_eq(fcl_ident_result_alloc(&r, c->P, kk, &e), FCL_OK, "%s", e.msg);
    /* Two blocks, as fcl_identify would call it, to cover `first`. */
    size_t half = c->P / 2;
    cr_assert_eq(fcl_ident_rank_block(c->scores, half, c->C, c->cols, c->ids, c->truth, 0, &r, &e), FCL_OK, "%s", e.msg);
    cr_assert_eq(fcl_ident_rank_block(c->scores + half * c->C, c->P - half, c->C, c->cols, c->ids, c->truth, half, &r, &e),
                 FCL_OK, "%s", e.msg);
    double *best = malloc(c->P * sizeof *best);
    for (size_t p = 0; p < c->P; p++) {
        cr_assert_eq(r.rank[p], c->rank[p], "%s: probe %zu rank %ld, want %ld", name, p, r.rank[p], c->rank[p]);
        for (int j = 0; j < kk; j++)
            cr_assert_eq(r.top_id[p * (size_t)kk + (size_t)j], c->top[p * (size_t)kk + (size_t)j], "%s: probe %zu top %d", name, p, j);
        best[p] = r.top_score[p * (size_t)kk];
        cr_assert_eq(best[p], c->best[p], "%s: probe %zu best %g, want %g", name, p, best[p], c->best[p]);
        if (c->rank[p] >= 0) cr_assert(!isnan(r.true_score[p]));
    }
    fcl_ident_metrics m;
    cr_assert_eq(fcl_ident_evaluate(r.rank, best, c->P, c->ids, NULL, 0, c->thr, &m, &e), FCL_OK, "%s", e.msg);
    for (size_t i = 0; i < c->ids; i++) cr_assert(same(m.cmc[i], c->cmc[i]), "%s: cmc[%zu] %.17g, want %.17g", name, i, m.cmc[i], c->cmc[i]);
    cr_assert(same(m.rank1, c->rank1) && same(m.rank5, c->rank5), "%s: rank-1 %g rank-5 %g", name, m.rank1, m.rank5);
    cr_assert_eq(m.n_fars, 3);
    for (int j = 0; j < 3; j++) {
        cr_assert(same(m.far[j], c->far[j]));
        cr_assert(same(m.dir[j], c->dir[j]), "%s: DIR@%g %.17g, want %.17g", name, c->far[j], m.dir[j], c->dir[j]);
        cr_assert(same(m.dir_threshold[j], c->dir_thr[j]), "%s: threshold@%g %.17g, want %.17g", name, c->far[j],
                  m.dir_threshold[j], c->dir_thr[j]);
        cr_assert(same(m.far_actual[j], c->far_act[j]), "%s: FAR reached @%g %.17g, want %.17g", name, c->far[j],
                  m.far_actual[j], c->far_act[j]);
        double t = NAN, fa = NAN;
        fcl_status st = fcl_ident_threshold_at_far(r.rank, best, c->P, c->far[j], &t, &fa, &e);
        if (isnan(c->dir_thr[j])) {
            cr_assert_eq(st, FCL_ERR_INVALID_ARG, "%s: no impostors must be an error", name);
            cr_assert(strstr(e.msg, "impostor"), "%s", e.msg);
        } else {
            cr_assert_eq(st, FCL_OK, "%s", e.msg);
            cr_assert(same(t, c->dir_thr[j]) && same(fa, c->far_act[j]));
        }
    }
    cr_assert(same(m.accuracy, c->acc), "%s: accuracy %.17g, want %.17g", name, m.accuracy, c->acc);
    size_t got[5] = {m.genuine_correct, m.genuine_wrong_id, m.genuine_rejected, m.impostor_rejected, m.impostor_accepted};
    for (int j = 0; j < 5; j++) cr_assert_eq(got[j], c->counts[j], "%s: decision count %d: %zu, want %zu", name, j, got[j], c->counts[j]);
    char *text = NULL;
    cr_assert_eq(fcl_ident_metrics_format(&m, &text, &e), FCL_OK, "%s", e.msg);
    cr_assert(strstr(text, "rank-1") && strstr(text, "DIR@FAR=0.01"), "%s", text);
    free(text);
    fcl_ident_metrics_free(&m);
    fcl_ident_result_free(&r);
    free(best);
    fx_free(c);
}

/* Every case of the fixture, each its own test process. */
FCL_TEST_EACH_NAME(ident_fixture, fixture_cases, check_case, {"hand"}, {"ties"}, {"random"}, {"many_impostors"},
                   {"max_mode"}, {"no_impostors"}, {"no_genuine"}, {"one_identity"});

/* ---- errors of the host functions ---------------------------------------------------------- */

Test(ident_errors, metrics_and_blocks)
{
    fcl_error e = {0};
    fcl_ident_metrics m;
    long rank[3] = {0, -1, 1};
    double best[3] = {0.5, 0.2, 0.1};
    cr_assert_eq(fcl_ident_evaluate(rank, best, 3, 2, NULL, 0, 0.3, &m, &e), FCL_OK, "%s", e.msg);
    fcl_ident_metrics_free(&m);
    rank[2] = 2; /* >= n_ids */
    cr_assert_eq(fcl_ident_evaluate(rank, best, 3, 2, NULL, 0, 0.3, &m, &e), FCL_ERR_INVALID_ARG);
    cr_assert(strstr(e.msg, "probe 2") && strstr(e.msg, "rank 2"), "%s", e.msg);
    rank[2] = 1;
    best[1] = NAN;
    cr_assert_eq(fcl_ident_evaluate(rank, best, 3, 2, NULL, 0, 0.3, &m, &e), FCL_ERR_INVALID_ARG);
    cr_assert(strstr(e.msg, "probe 1") && strstr(e.msg, "not finite"), "%s", e.msg);
    best[1] = 0.2;
    double far = 1.5;
    cr_assert_eq(fcl_ident_evaluate(rank, best, 3, 2, &far, 1, 0.3, &m, &e), FCL_ERR_INVALID_ARG);
    cr_assert(strstr(e.msg, "1.5"), "%s", e.msg);
    cr_assert_eq(fcl_ident_evaluate(rank, best, 3, 2, NULL, 0, NAN, &m, &e), FCL_ERR_INVALID_ARG);
    cr_assert_eq(fcl_ident_evaluate(rank, best, 0, 2, NULL, 0, 0.3, &m, &e), FCL_ERR_INVALID_ARG);
    cr_assert_eq(fcl_ident_evaluate(rank, best, 3, 0, NULL, 0, 0.3, &m, &e), FCL_ERR_INVALID_ARG);

    fcl_ident_result r;
    cr_assert_eq(fcl_ident_result_alloc(&r, 2, 2, &e), FCL_OK);
    float s[6] = {0.1f, 0.2f, 0.3f, NAN, 0.f, 0.f};
    int truth[2] = {0, 1};
    cr_assert_eq(fcl_ident_rank_block(s, 2, 3, NULL, 3, truth, 0, &r, &e), FCL_ERR_INVALID_ARG);
    cr_assert(strstr(e.msg, "probe 1") && strstr(e.msg, "not finite"), "%s", e.msg);
    s[3] = 0.f;
    truth[1] = 3;
    cr_assert_eq(fcl_ident_rank_block(s, 2, 3, NULL, 3, truth, 0, &r, &e), FCL_ERR_INVALID_ARG);
    cr_assert(strstr(e.msg, "true identity 3"), "%s", e.msg);
    cr_assert_eq(fcl_ident_rank_block(s, 2, 3, NULL, 3, NULL, 1, &r, &e), FCL_ERR_INVALID_ARG); /* past the end */
    int cols[3] = {0, 1, 7};
    cr_assert_eq(fcl_ident_rank_block(s, 2, 3, cols, 2, NULL, 0, &r, &e), FCL_ERR_INVALID_ARG);
    cr_assert(strstr(e.msg, "column 2"), "%s", e.msg);
    fcl_ident_result_free(&r);
}

/* ---- gallery templates ------------------------------------------------------------------------ */

Test(gallery, mean_and_max_rows)
{
    fcl_error e = {0};
    /* 3 images of 2 identities, dim 2; image 0 is not unit length (the gallery normalises). */
    float emb[6] = {3.f, 0.f, 0.f, 1.f, 1.f, 0.f};
    int ids[3] = {1, 0, 1};
    fcl_gallery g;
    cr_assert_eq(fcl_gallery_build(emb, ids, 3, 2, 2, FCL_MATCH_MEAN, &g, &e), FCL_OK, "%s", e.msg);
    cr_assert_eq(g.n_rows, 2);
    cr_assert_float_eq(g.rows[0], 0.f, 1e-7);
    cr_assert_float_eq(g.rows[1], 1.f, 1e-7);
    cr_assert_float_eq(g.rows[2], 1.f, 1e-7); /* mean of (1,0) and (1,0), normalised */
    cr_assert_float_eq(g.rows[3], 0.f, 1e-7);
    fcl_gallery_free(&g);
    float emb2[6] = {1.f, 0.f, 0.f, 1.f, 0.f, 2.f};
    int ids2[3] = {0, 1, 0};
    cr_assert_eq(fcl_gallery_build(emb2, ids2, 3, 2, 2, FCL_MATCH_MEAN, &g, &e), FCL_OK, "%s", e.msg);
    cr_assert_float_eq(g.rows[0], (float)(1 / sqrt(2.0)), 1e-7); /* (1,0) + (0,1) normalised */
    cr_assert_float_eq(g.rows[1], (float)(1 / sqrt(2.0)), 1e-7);
    fcl_gallery_free(&g);
    cr_assert_eq(fcl_gallery_build(emb2, ids2, 3, 2, 2, FCL_MATCH_MAX, &g, &e), FCL_OK, "%s", e.msg);
    cr_assert_eq(g.n_rows, 3);
    cr_assert(g.row_id[0] == 0 && g.row_id[1] == 0 && g.row_id[2] == 1); /* grouped by identity */
    cr_assert_float_eq(g.rows[3], 1.f, 1e-7);                             /* (0,2) normalised */
    fcl_gallery_free(&g);

    int bad_ids[3] = {0, 0, 0};
    cr_assert_eq(fcl_gallery_build(emb2, bad_ids, 3, 2, 2, FCL_MATCH_MEAN, &g, &e), FCL_ERR_INVALID_ARG);
    cr_assert(strstr(e.msg, "identity 1 has no gallery image"), "%s", e.msg);
    bad_ids[2] = 5;
    cr_assert_eq(fcl_gallery_build(emb2, bad_ids, 3, 2, 6, FCL_MATCH_MEAN, &g, &e), FCL_ERR_INVALID_ARG);
    bad_ids[2] = -1;
    cr_assert_eq(fcl_gallery_build(emb2, bad_ids, 3, 2, 2, FCL_MATCH_MEAN, &g, &e), FCL_ERR_INVALID_ARG);
    cr_assert(strstr(e.msg, "image 2"), "%s", e.msg);
    emb2[5] = INFINITY;
    cr_assert_eq(fcl_gallery_build(emb2, ids2, 3, 2, 2, FCL_MATCH_MEAN, &g, &e), FCL_ERR_INVALID_ARG);
    cr_assert(strstr(e.msg, "not finite"), "%s", e.msg);
}

/* ---- device scoring against a double reference ------------------------------------------------ */

static void unit_rows(fcl_rng *r, float *a, size_t n, size_t d)
{
    for (size_t i = 0; i < n; i++) {
        double s = 0;
        for (size_t j = 0; j < d; j++) {
            a[i * d + j] = fcl_rng_normal(r);
            s += (double)a[i * d + j] * a[i * d + j];
        }
        for (size_t j = 0; j < d; j++) a[i * d + j] = (float)(a[i * d + j] / sqrt(s));
    }
}

/* fcl_identify (device GEMM) against scores computed here in double from the gallery rows,
 * ranked with the same host function: identical top-K and ranks wherever no two scores are
 * within float rounding of each other, scores within 1e-5. */
static void device_vs_reference(fcl_match_mode mode, size_t n_ids, size_t per_id, size_t P, size_t D, int k)
{
    fcl_ctx *ctx = fcl_test_ctx(3);
    fcl_rng r;
    fcl_rng_seed(&r, 42 + mode);
    size_t n = n_ids * per_id;
    float *emb = malloc(n * D * sizeof *emb), *probes = malloc(P * D * sizeof *probes);
    int *ids = malloc(n * sizeof *ids), *truth = malloc(P * sizeof *truth);
    unit_rows(&r, emb, n, D);
    unit_rows(&r, probes, P, D);
    for (size_t i = 0; i < n; i++) ids[i] = (int)((i * 7) % n_ids); /* identities interleaved */
    for (size_t p = 0; p < P; p++) truth[p] = p % 4 == 3 ? -1 : (int)(p % n_ids);
    fcl_error e = {0};
    fcl_gallery g;
    cr_assert_eq(fcl_gallery_build(emb, ids, n, D, n_ids, mode, &g, &e), FCL_OK, "%s", e.msg);
    fcl_ident_result dev, ref;
    cr_assert_eq(fcl_identify(ctx, &g, probes, P, truth, k, &dev), FCL_OK, "%s", fcl_ctx_errmsg(ctx));
    float *s = malloc(P * g.n_rows * sizeof *s);
    for (size_t p = 0; p < P; p++)
        for (size_t j = 0; j < g.n_rows; j++) {
            double acc = 0;
            for (size_t d = 0; d < D; d++) acc += (double)probes[p * D + d] * g.rows[j * D + d];
            s[p * g.n_rows + j] = (float)acc;
        }
    int kk = (size_t)k < n_ids ? k : (int)n_ids;
    cr_assert_eq(dev.k, kk);
    cr_assert_eq(fcl_ident_result_alloc(&ref, P, kk, &e), FCL_OK);
    cr_assert_eq(fcl_ident_rank_block(s, P, g.n_rows, mode == FCL_MATCH_MAX ? g.row_id : NULL, n_ids, truth, 0, &ref, &e),
                 FCL_OK, "%s", e.msg);
    size_t checked = 0;
    for (size_t p = 0; p < P; p++) {
        for (int j = 0; j < kk; j++) {
            size_t q = p * (size_t)kk + (size_t)j;
            cr_assert_float_eq(dev.top_score[q], ref.top_score[q], 1e-5, "probe %zu top %d", p, j);
            /* The order may differ only between scores closer than rounding. */
            if (dev.top_id[q] != ref.top_id[q])
                cr_assert(fabsf(dev.top_score[q] - ref.top_score[q]) < 1e-5f && j + 1 < kk &&
                              fabsf(ref.top_score[q] - ref.top_score[q + 1]) < 2e-5f,
                          "probe %zu top %d: id %d vs %d", p, j, dev.top_id[q], ref.top_id[q]);
            else
                checked++;
        }
        cr_assert_eq(dev.rank[p] < 0, truth[p] < 0);
        if (truth[p] >= 0) {
            cr_assert_float_eq(dev.true_score[p], ref.true_score[p], 1e-5);
            cr_assert(labs(dev.rank[p] - ref.rank[p]) <= 1, "probe %zu rank %ld vs %ld", p, dev.rank[p], ref.rank[p]);
        }
    }
    cr_assert_gt(checked, P * (size_t)kk * 9 / 10);
    fcl_ident_result_free(&dev);
    fcl_ident_result_free(&ref);
    fcl_gallery_free(&g);
    free(s), free(emb), free(probes), free(ids), free(truth);
    fcl_ctx_destroy(ctx);
}

Test(identify_device, mean_matches_reference, .timeout = 300) { device_vs_reference(FCL_MATCH_MEAN, 37, 3, 101, 24, 5); }
Test(identify_device, max_matches_reference, .timeout = 300) { device_vs_reference(FCL_MATCH_MAX, 13, 4, 57, 17, 20); }

/* Several GEMM blocks: a 64 MiB block holds 2796 probes of a 6000-identity gallery, so 3000
 * probes take two (the second short); results do not depend on the blocks. */
Test(identify_device, blocks_and_errors, .timeout = 300)
{
    fcl_ctx *ctx = fcl_test_ctx(3);
    fcl_rng r;
    fcl_rng_seed(&r, 9);
    const size_t G = 6000, P = 3000, D = 8;
    float *gal = malloc(G * D * sizeof *gal), *probes = malloc(P * D * sizeof *probes);
    int *ids = malloc(G * sizeof *ids);
    unit_rows(&r, gal, G, D);
    unit_rows(&r, probes, P, D);
    for (size_t i = 0; i < G; i++) ids[i] = (int)i;
    fcl_error e = {0};
    fcl_gallery g;
    cr_assert_eq(fcl_gallery_build(gal, ids, G, D, G, FCL_MATCH_MEAN, &g, &e), FCL_OK, "%s", e.msg);
    fcl_ident_result all, one;
    cr_assert_eq(fcl_identify(ctx, &g, probes, P, NULL, 3, &all), FCL_OK, "%s", fcl_ctx_errmsg(ctx));
    /* Probe 2999 (in the short second block) alone must agree. */
    cr_assert_eq(fcl_identify(ctx, &g, probes + (P - 1) * D, 1, NULL, 3, &one), FCL_OK, "%s", fcl_ctx_errmsg(ctx));
    for (int j = 0; j < 3; j++) {
        cr_assert_eq(all.top_id[(P - 1) * 3 + (size_t)j], one.top_id[j]);
        cr_assert_eq(all.top_score[(P - 1) * 3 + (size_t)j], one.top_score[j]);
    }
    cr_assert_eq(all.rank[0], -1);
    fcl_ident_result_free(&all);
    fcl_ident_result_free(&one);
    cr_assert_eq(fcl_identify(ctx, &g, probes, P, NULL, 0, &all), FCL_ERR_INVALID_ARG);
    cr_assert_eq(fcl_identify(ctx, &g, probes, 0, NULL, 3, &all), FCL_ERR_INVALID_ARG);
    probes[5] = NAN;
    cr_assert_eq(fcl_identify(ctx, &g, probes, P, NULL, 3, &all), FCL_ERR_INVALID_ARG);
    cr_assert(strstr(fcl_ctx_errmsg(ctx), "probe 0"), "%s", fcl_ctx_errmsg(ctx));
    fcl_gallery_free(&g);
    free(gal), free(probes), free(ids);
    fcl_ctx_destroy(ctx);
}
