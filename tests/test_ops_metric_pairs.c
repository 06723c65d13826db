/* tests/test_ops_metric_pairs.c: the losses over pairs of embeddings (triplet with batch-hard and semi-hard
 * mining, contrastive, histogram) as op-driver descriptors (OpenCL vs reference, the row kernels
 * forced, reference vs FD), mining by hand, determinism of the backward passes. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <facecl/ops_loss.h>
#include <facecl/ops_metric_loss.h>

#include "helpers/opcheck.h"
#include "ref/ref_loss.h"
#include "ref/ref_metric_loss.h"

#define L2EPS ((double)FCL_L2NORM_EPS)

/* The GPU-shaped row kernels (one work-group per row) forced: subgroups, and the local-memory tree. */
static const char *const loss_tunings[] = {"loss:-DFCL_ROW_WG=64", "loss:-DFCL_ROW_WG=256 -DFCL_USE_SG=0", NULL};

/* Every op here: x (or a, b), labels (or pair labels y), loss, dloss, dx (da, db). */
enum { X, LAB, LOSS, DL, DX, B_, DB_ };

/* ==== triplet ================================================================================ */

/* The mined triplets and their active (hinge > 0) flags at x, as one comparable signature. */
typedef struct trip_sig {
    int *t;
    size_t nt;
    char *active;
} trip_sig;

static trip_sig trip_signature(const double *x, const int *lab, size_t n, size_t d, const fcl_triplet_params *p)
{
    trip_sig s;
    double *dist = h_alloc(n * n);
    s.t = calloc(3 * n * n + 1, sizeof *s.t);
    cr_assert(s.t != NULL);
    s.active = calloc(n * n + 1, 1);
    cr_assert(s.active != NULL);
    fcl_ref_triplet_dist(dist, x, n, d, p->squared);
    s.nt = fcl_ref_triplet_mine(s.t, dist, lab, n, p);
    for (size_t t = 0; t < s.nt; t++)
        s.active[t] = dist[s.t[3 * t] * n + s.t[3 * t + 1]] - dist[s.t[3 * t] * n + s.t[3 * t + 2]] +
                          (double)p->margin > 0.0;
    free(dist);
    return s;
}

static int trip_sig_eq(const trip_sig *a, const trip_sig *b)
{
    return a->nt == b->nt && !memcmp(a->t, b->t, 3 * a->nt * sizeof(int)) && !memcmp(a->active, b->active, a->nt);
}

static void trip_sig_free(trip_sig *s)
{
    free(s->t);
    free(s->active);
}

/* 1 when a perturbation of size eps (random direction) changes the mining or a hinge's side:
 * float rounding could then pick differently from the double reference. */
static int trip_fragile(const double *x, const int *lab, size_t n, size_t d, const fcl_triplet_params *p,
                        double eps, uint64_t seed)
{
    trip_sig s0 = trip_signature(x, lab, n, d, p);
    double *xp = h_alloc(n * d), *r = h_alloc(n * d);
    h_rand(r, n * d, seed, -1, 1);
    int fragile = 0;
    for (int sgn = -1; sgn <= 1 && !fragile; sgn += 2) {
        for (size_t i = 0; i < n * d; i++)
            xp[i] = x[i] + sgn * eps * r[i];
        trip_sig s1 = trip_signature(xp, lab, n, d, p);
        fragile = !trip_sig_eq(&s0, &s1);
        trip_sig_free(&s1);
    }
    trip_sig_free(&s0);
    free(xp);
    free(r);
    return fragile;
}

typedef struct trip_case {
    size_t n, d;
    int ids;                  /* identities; labels i % ids (or given) */
    fcl_triplet_mining mining;
    int squared;
    double margin, sigma;
    int unit;
} trip_case;

typedef struct trip_tc {
    trip_case tc;
    const int *given;   /* labels, or NULL: i % ids */
    double dloss;
    int fd;
} trip_tc;

/* P x K batches of unit embeddings (FaceNet) and raw ones (Hermans); irregular batches: an
 * identity with one image (no positive), odd n; one identity only */
static const int lab9[9] = {3, 1, 3, 7, 1, 1, 3, 9, 7}, same5[5] = {2, 2, 2, 2, 2};
static const int lab10[10] = {0, 1, 2, 0, 1, 2, 0, 1, 2, 2};
static const trip_tc trip_cases[] = {
    {{12, 13, 4, FCL_TRIPLET_BATCH_HARD, 1, 0.5, 0.9, 1}, NULL, 1.5, 0},
    {{12, 13, 4, FCL_TRIPLET_SEMI_HARD, 1, 0.5, 0.9, 1}, NULL, 1.5, 0},
    {{20, 128, 5, FCL_TRIPLET_BATCH_HARD, 0, 2.0, 3.0, 0}, NULL, 1.5, 0},
    {{20, 128, 5, FCL_TRIPLET_SEMI_HARD, 0, 2.0, 3.0, 0}, NULL, 1.5, 0},
    {{15, 7, 3, FCL_TRIPLET_SEMI_HARD, 1, 0.2, 1.2, 1}, NULL, 1.5, 0},
    {{15, 7, 3, FCL_TRIPLET_BATCH_HARD, 0, 0.5, 2.5, 0}, NULL, 1.5, 0},
    {{1, 7, 1, FCL_TRIPLET_BATCH_HARD, 1, 0.2, 0.5, 1}, NULL, 1.5, 0},    /* no triplet: loss 0 */
    {{9, 13, 10, FCL_TRIPLET_SEMI_HARD, 1, 0.3, 1.5, 1}, lab9, 1.5, 0},
    {{9, 13, 10, FCL_TRIPLET_BATCH_HARD, 0, 0.3, 1.5, 1}, lab9, 1.5, 0},
    {{5, 7, 3, FCL_TRIPLET_BATCH_HARD, 1, 0.3, 0.8, 1}, same5, 1.5, 0},
    /* the reference vs finite differences: both minings, squared or not */
    {{10, 7, 3, FCL_TRIPLET_BATCH_HARD, 0, 0.7, 0.9, 1}, lab10, 1.1, 1},
    {{10, 7, 3, FCL_TRIPLET_BATCH_HARD, 1, 0.5, 0.9, 1}, lab10, 1.1, 1},
    {{10, 7, 3, FCL_TRIPLET_SEMI_HARD, 0, 0.7, 0.9, 1}, lab10, 1.1, 1},
    {{10, 7, 3, FCL_TRIPLET_SEMI_HARD, 1, 0.5, 0.9, 1}, lab10, 1.1, 1},
};
#define N_TRIP (sizeof trip_cases / sizeof trip_cases[0])

static fcl_triplet_params trip_params(const trip_tc *u)
{
    return (fcl_triplet_params){u->tc.mining, (float)u->tc.margin, u->tc.squared};
}

/* What the reference mined over one test: semi-hard mining must take both of its paths. */
static size_t semi_total, fallback_total;

/* a batch away from mining decisions (float rounding could pick differently); then what the
 * reference mined: semi-hard picks vs fallbacks, active hinges */
static void trip_fill(double *const *h, const oc_case *c)
{
    const trip_tc *u = OC_P(c, trip_tc);
    fcl_triplet_params p = trip_params(u);
    size_t n = u->tc.n, d = u->tc.d;
    int *lab = calloc(n, sizeof *lab);
    cr_assert(lab != NULL);
    for (size_t i = 0; i < n; i++) lab[i] = u->given ? u->given[i] : (int)(i % (size_t)u->tc.ids), h[LAB][i] = lab[i];
    h[DL][0] = u->dloss;
    int attempt = 0;
    do {
        cr_assert(attempt < 50, "no triplet batch away from mining decisions found");
        oc_clustered(h[X], lab, n, d, u->tc.ids, u->tc.sigma, u->tc.unit, c->seed * 100 + 1000 * (uint64_t)attempt);
        attempt++;
    } while (!u->fd && trip_fragile(h[X], lab, n, d, &p, 1e-5, c->seed + 7));
    trip_sig s = trip_signature(h[X], lab, n, d, &p);
    double *dist = h_alloc(n * n);
    fcl_ref_triplet_dist(dist, h[X], n, d, p.squared);
    size_t semi = 0, active = 0;
    for (size_t t = 0; t < s.nt; t++) {
        double dp = dist[s.t[3 * t] * n + s.t[3 * t + 1]], dn = dist[s.t[3 * t] * n + s.t[3 * t + 2]];
        semi += dn > dp && dn < dp + u->tc.margin;
        active += s.active[t] != 0;
    }
    printf("  %zu triplets, %zu with a semi-hard negative, %zu active\n", s.nt, semi, active);
    if (s.nt || u->fd) cr_expect(active > 0, "no active triplet: the case would test nothing but zeros");
    if (u->tc.mining == FCL_TRIPLET_SEMI_HARD && !u->fd) semi_total += semi, fallback_total += s.nt - semi;
    trip_sig_free(&s);
    free(dist), free(lab);
}

static fcl_status trip_dev_fwd(fcl_ctx *ctx, oc_dev t, const oc_case *c)
{
    fcl_triplet_params p = trip_params(OC_P(c, trip_tc));
    return fcl_triplet_loss_fwd(ctx, t[LOSS], t[X], t[LAB], &p);
}

static fcl_status trip_dev_bwd(fcl_ctx *ctx, oc_dev t, const oc_case *c)
{
    fcl_triplet_params p = trip_params(OC_P(c, trip_tc));
    return fcl_triplet_loss_bwd(ctx, t[DX], t[X], t[LAB], &p, (float)OC_P(c, trip_tc)->dloss);
}

static void trip_ref_fwd(double *const *h, const oc_case *c)
{
    const trip_tc *u = OC_P(c, trip_tc);
    fcl_triplet_params p = trip_params(u);
    int *lab = oc_labels(h[LAB], u->tc.n);
    cr_assert(fcl_ref_triplet_loss_fwd(h[LOSS], h[X], lab, u->tc.n, u->tc.d, &p) == 0);
    free(lab);
}

static void trip_ref_bwd(double *const *h, const oc_case *c)
{
    const trip_tc *u = OC_P(c, trip_tc);
    fcl_triplet_params p = trip_params(u);
    int *lab = oc_labels(h[LAB], u->tc.n);
    double *g = h_alloc(u->tc.n * u->tc.d);
    cr_assert(fcl_ref_triplet_loss_bwd(g, h[X], lab, u->tc.n, u->tc.d, &p, u->dloss) == 0);
    for (size_t i = 0; i < u->tc.n * u->tc.d; i++) h[DX][i] += g[i];
    free(lab), free(g);
}

/* Skip an element whose +-step changes the mined triplets or a hinge's side. */
static int trip_kink(double *const *h, int wrt, size_t i, double step, const oc_case *c)
{
    const trip_tc *u = OC_P(c, trip_tc);
    fcl_triplet_params p = trip_params(u);
    int *lab = oc_labels(h[LAB], u->tc.n);
    double *v = h[wrt], x0 = v[i];
    v[i] = x0 - step;
    trip_sig a = trip_signature(v, lab, u->tc.n, u->tc.d, &p);
    v[i] = x0 + step;
    trip_sig b = trip_signature(v, lab, u->tc.n, u->tc.d, &p);
    v[i] = x0;
    int k = !trip_sig_eq(&a, &b);
    trip_sig_free(&a), trip_sig_free(&b), free(lab);
    return k;
}

static int trip_gen(const oc_op *op, size_t i, oc_case *c)
{
    const int fd = *(const int *)op->ud;
    while (i < N_TRIP && trip_cases[i].fd != fd) i += 10;   /* the FD cases follow the 10 device cases */
    if (i >= N_TRIP) return 0;
    const trip_tc *u = &trip_cases[i];
    *OC_P(c, trip_tc) = *u;
    c->seed = fd ? 40 + i : 60 + i;
    size_t sx[2] = {u->tc.n, u->tc.d}, one = 1;
    oc_arg_set(c, X, "x", OC_IN, 2, sx, 0, 0);
    oc_arg_set(c, LAB, "labels", OC_IN, 1, &u->tc.n, 0, 0);
    oc_arg_set(c, LOSS, "loss", OC_OUT, 1, &one, 0, 0);
    oc_arg_set(c, DL, "dloss", OC_IN, 1, &one, 0, 0);
    oc_arg_set(c, DX, "dx", OC_GRAD, 2, sx, -0.01, 0.01)->delta = 1;
    snprintf(c->what, sizeof c->what, "triplet %s %s margin=%g n=%zu d=%zu ids=%d%s",
             u->tc.mining ? "semi-hard" : "batch-hard", u->tc.squared ? "squared" : "euclidean", u->tc.margin, u->tc.n,
             u->tc.d, u->tc.ids, u->tc.unit ? " unit" : "");
    if (fd) {
        c->device = 0;
        oc_fd_add(c, X, LOSS, DL, DX, 70, trip_kink);
    }
    return 1;
}

static const oc_op trip_op = {.name = "triplet", .gen = trip_gen, .fill = trip_fill, .dev_fwd = trip_dev_fwd,
                              .dev_bwd = trip_dev_bwd, .ref_fwd = trip_ref_fwd, .ref_bwd = trip_ref_bwd};

Test(metric_loss, triplet_matches_reference)
{
    int fd = 0;
    oc_op op = trip_op;
    op.ud = &fd;
    oc_run(&op);
    /* semi-hard mining took both of its paths somewhere */
    printf("  semi-hard mining: %zu semi-hard negatives, %zu hardest-negative fallbacks\n", semi_total, fallback_total);
    cr_expect(semi_total > 0 && fallback_total > 0, "semi-hard picks %zu, fallbacks %zu: both paths must run",
              semi_total, fallback_total);
}

Test(metric_loss, triplet_reference_vs_finite_differences)
{
    int fd = 1;
    oc_op op = trip_op;
    op.ud = &fd;
    oc_run(&op);
}

/* Mining on a line, worked out by hand (squared = 0, margin 1): x = 0, 1, 3, 0.5, 1.5 with
 * labels A A B B A.
 *   batch-hard: anchor 0: hardest pos 4 (1.5), hardest neg 3 (0.5): 1.5 - 0.5 + 1 = 2
 *               anchor 1: pos {0: 1, 4: 0.5} -> 0 (1), neg {2: 2, 3: 0.5} -> 3: 1 - 0.5 + 1 = 1.5
 *               anchor 2: pos 3 (2.5), neg {0: 3, 1: 2, 4: 1.5} -> 4: 2.5 - 1.5 + 1 = 2
 *               anchor 3: pos 2 (2.5), neg {0: .5, 1: .5, 4: 1} -> 0 (tie with 1: lowest index):
 *                         2.5 - 0.5 + 1 = 3
 *               anchor 4: pos {0: 1.5, 1: 0.5} -> 0, neg {2: 1.5, 3: 1} -> 3: 1.5 - 1 + 1 = 1.5
 *               mean = (2 + 1.5 + 2 + 3 + 1.5) / 5 = 2
 *   semi-hard (every (a, p); semi-hard n: d_ap < d_an < d_ap + 1, else the hardest negative):
 *     (0,1) dp 1: negs 3 (.5), 2 (3): none in (1, 2) -> hardest 3: 1 - .5 + 1 = 1.5
 *     (0,4) dp 1.5: none in (1.5, 2.5) -> 3: 1.5 - .5 + 1 = 2
 *     (1,0) dp 1: negs 2 (2), 3 (.5): none in (1, 2) -> 3: 1.5
 *     (1,4) dp .5: 2 (2) no, 3 (.5) no (not >) -> 3: .5 - .5 + 1 = 1
 *     (2,3) dp 2.5: negs 0 (3), 1 (2), 4 (1.5): 0 in (2.5, 3.5) -> 0: 2.5 - 3 + 1 = .5
 *     (3,2) dp 2.5: negs 0 (.5), 1 (.5), 4 (1): none -> 0 (tie, lowest): 2.5 - .5 + 1 = 3
 *     (4,0) dp 1.5: negs 2 (1.5) not >, 3 (1) -> 3: 1.5 - 1 + 1 = 1.5
 *     (4,1) dp .5: 2 (1.5) no (not < 1.5), 3 (1) in (.5, 1.5) -> 3: .5 - 1 + 1 = .5
 *     mean = (1.5 + 2 + 1.5 + 1 + .5 + 3 + 1.5 + .5) / 8 = 11.5 / 8 */
Test(metric_loss, triplet_mining_by_hand)
{
    fcl_ctx *ctx = h_ctx();
    h_case("triplet mining by hand");
    double x[5] = {0, 1, 3, 0.5, 1.5}, loss, lossr;
    int lab[5] = {0, 0, 1, 1, 0};
    size_t n = 5, sx[2] = {5, 1}, one = 1;
    h_buf bx = h_upload(ctx, x, 2, sx), bl = oc_upload_labels(ctx, lab, n), bloss = h_zeros(ctx, 1, &one);
    static const double want[2] = {2.0, 11.5 / 8.0};
    for (int m = 0; m < 2; m++) {
        fcl_triplet_params p = {m ? FCL_TRIPLET_SEMI_HARD : FCL_TRIPLET_BATCH_HARD, 1.0f, 0};
        H_OK(ctx, fcl_triplet_loss_fwd(ctx, &bloss.t, &bx.t, &bl.t, &p));
        h_download(ctx, &bloss, &loss);
        cr_assert(fcl_ref_triplet_loss_fwd(&lossr, x, lab, n, 1, &p) == 0);
        h_expect_close(m ? "semi-hard (device, hand)" : "batch-hard (device, hand)", &loss, &want[m], 1, 1e-6);
        h_expect_close(m ? "semi-hard (reference, hand)" : "batch-hard (reference, hand)", &lossr, &want[m], 1,
                       1e-12);
    }
    h_free(ctx, &bx), h_free(ctx, &bl), h_free(ctx, &bloss);
    h_ctx_free(ctx);
}

/* ==== contrastive: a, pair labels y, loss, dloss, da, b, db ======================================= */

typedef struct con_tc {
    size_t n, d;
    double margin, dloss;
} con_tc;
static const con_tc con_cases[] = {
    {1, 7, 1.0, 0.9}, {7, 13, 2.0, 0.9}, {33, 128, 8.0, 0.9}, {13, 7, 1.5, 0.9},
    {8, 5, 1.6, 1.2},   /* the reference vs finite differences */
};
#define N_CON (sizeof con_cases / sizeof con_cases[0])

/* y = 1 for every third pair; every fourth pair close (inside the margin); no pair on the hinge */
static void con_fill(double *const *h, const oc_case *c)
{
    const con_tc *u = OC_P(c, con_tc);
    static const double fd_y[8] = {1, 0, 0, 1, 0, 0, 1, 0};
    size_t n = u->n, d = u->d, inside = 0;
    h[DL][0] = u->dloss;
    for (size_t i = 0; i < n; i++) {
        h[LAB][i] = c->device ? (double)(i % 3 == 0) : fd_y[i];
        if (i % 4 == 1 && c->device)
            for (size_t t = 0; t < d; t++) h[B_][i * d + t] = (float)(h[X][i * d + t] + 0.1 * h[B_][i * d + t] / sqrt((double)d));
        double dd = 0;
        for (size_t t = 0; t < d; t++) dd += (h[X][i * d + t] - h[B_][i * d + t]) * (h[X][i * d + t] - h[B_][i * d + t]);
        inside += sqrt(dd) < u->margin;
        cr_assert(fabs(sqrt(dd) - u->margin) > (c->device ? 1e-4 : 1e-3), "pair %zu sits on the margin", i);
    }
    printf("  %zu of %zu pairs inside the margin\n", inside, n);
}

static fcl_status con_dev_fwd(fcl_ctx *ctx, oc_dev t, const oc_case *c)
{
    fcl_contrastive_params p = {(float)OC_P(c, con_tc)->margin};
    return fcl_contrastive_loss_fwd(ctx, t[LOSS], t[X], t[B_], t[LAB], &p);
}

static fcl_status con_dev_bwd(fcl_ctx *ctx, oc_dev t, const oc_case *c)
{
    const con_tc *u = OC_P(c, con_tc);
    fcl_contrastive_params p = {(float)u->margin};
    return fcl_contrastive_loss_bwd(ctx, t[DX], t[DB_], t[X], t[B_], t[LAB], &p, (float)u->dloss);
}

static void con_ref_fwd(double *const *h, const oc_case *c)
{
    const con_tc *u = OC_P(c, con_tc);
    fcl_contrastive_params p = {(float)u->margin};
    fcl_ref_contrastive_loss_fwd(h[LOSS], h[X], h[B_], h[LAB], u->n, u->d, &p);
}

static void con_ref_bwd(double *const *h, const oc_case *c)
{
    const con_tc *u = OC_P(c, con_tc);
    fcl_contrastive_params p = {(float)u->margin};
    double *ga = h_alloc(u->n * u->d), *gb = h_alloc(u->n * u->d);
    fcl_ref_contrastive_loss_bwd(ga, gb, h[X], h[B_], h[LAB], u->n, u->d, &p, u->dloss);
    for (size_t i = 0; i < u->n * u->d; i++) h[DX][i] += ga[i], h[DB_][i] += gb[i];
    free(ga), free(gb);
}

/* da only (db NULL): the same gradient added once more */
static void con_extra(fcl_ctx *ctx, h_buf *b, double *const *h, double *const *want, const oc_case *c)
{
    const con_tc *u = OC_P(c, con_tc);
    fcl_contrastive_params p = {(float)u->margin};
    size_t nx = u->n * u->d;
    double *ga = h_alloc(nx), *ga2 = h_alloc(nx), *g = h_delta(want[DX], h[DX], nx);
    h_download(ctx, &b[DX], ga);
    H_OK(ctx, fcl_contrastive_loss_bwd(ctx, &b[DX].t, NULL, &b[X].t, &b[B_].t, &b[LAB].t, &p, (float)u->dloss));
    h_download(ctx, &b[DX], ga2);
    double *d2 = h_delta(ga2, ga, nx);
    h_expect_close("contrastive da (db NULL)", d2, g, nx, H_TOL_BWD);
    free(ga), free(ga2), free(g), free(d2);
}

static int con_gen(const oc_op *op, size_t i, oc_case *c)
{
    const int fd = *(const int *)op->ud;
    i += fd ? N_CON - 1 : 0;
    if (i >= (fd ? N_CON : N_CON - 1)) return 0;
    const con_tc *u = &con_cases[i];
    *OC_P(c, con_tc) = *u;
    size_t sx[2] = {u->n, u->d}, one = 1;
    oc_arg_set(c, X, "a", OC_IN, 2, sx, -1, 1);
    oc_arg_set(c, B_, "b", OC_IN, 2, sx, -1, 1);
    oc_arg_set(c, LAB, "y", OC_IN, 1, &u->n, 0, 0);
    oc_arg_set(c, LOSS, "loss", OC_OUT, 1, &one, 0, 0);
    oc_arg_set(c, DL, "dloss", OC_IN, 1, &one, 0, 0);
    oc_arg_set(c, DX, "da", OC_GRAD, 2, sx, -0.01, 0.01)->delta = 1;
    oc_arg_set(c, DB_, "db", OC_GRAD, 2, sx, -0.01, 0.01)->delta = 1;
    snprintf(c->what, sizeof c->what, "contrastive n=%zu d=%zu margin=%g", u->n, u->d, u->margin);
    if (fd) oc_fd_inputs(c, LOSS, DL, 2, (const int[]){X, B_}, (const int[]){DX, DB_}, 0, NULL);
    return 1;
}

/* ==== histogram: x, labels, loss, dloss, dx ======================================================= */

/* 1 when some pair's similarity is within eps of a bin node (float could bin it differently). */
static int hist_fragile(const double *x, size_t n, size_t d, int bins, double eps)
{
    double *s = h_alloc(n * n), delta_ = 2.0 / (bins - 1);
    fcl_ref_cosine_sim_fwd(s, x, x, n, n, d, L2EPS);
    int fragile = 0;
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++) {
            double u = (s[i * n + j] + 1.0) / delta_;
            fragile |= fabs(u - floor(u + 0.5)) * delta_ < eps;
        }
    free(s);
    return fragile;
}

typedef struct hist_tc {
    size_t n, d;
    int ids;
    double sigma;
    int bins;
    const int *given;
    double dloss;
} hist_tc;
static const int same6[6] = {4, 4, 4, 4, 4, 4}, hist_fd_lab[10] = {0, 1, 2, 0, 1, 2, 0, 1, 2, 1};
static const hist_tc hist_cases[] = {
    {12, 7, 4, 1.0, 11, NULL, 2.0}, {15, 13, 5, 1.0, 25, NULL, 2.0}, {33, 128, 6, 3.0, 101, NULL, 2.0},
    {9, 13, 3, 1.0, 2, NULL, 2.0},     /* two bins: nodes at -1 and 1 */
    {6, 7, 5, 1.0, 11, same6, 2.0},    /* no negative pair: loss 0, no gradient */
    {1, 7, 1, 1.0, 11, NULL, 2.0},     /* no pair at all */
    /* the reference vs finite differences */
    {10, 6, 3, 1.0, 7, hist_fd_lab, 1.0}, {10, 6, 3, 1.0, 31, hist_fd_lab, 1.0},
};
#define N_HIST_DEVICE 6
#define N_HIST (sizeof hist_cases / sizeof hist_cases[0])

/* a batch away from the bin nodes (float could bin a pair differently) */
static void hist_fill(double *const *h, const oc_case *c)
{
    const hist_tc *u = OC_P(c, hist_tc);
    int *lab = calloc(u->n, sizeof *lab);
    cr_assert(lab != NULL);
    for (size_t i = 0; i < u->n; i++) lab[i] = u->given ? u->given[i] : (int)(i % (size_t)u->ids), h[LAB][i] = lab[i];
    h[DL][0] = u->dloss;
    int attempt = 0;
    do {
        cr_assert(attempt < 50, "no batch away from the bin nodes found");
        oc_clustered(h[X], lab, u->n, u->d, u->ids, u->sigma, 0, c->seed + 100 * (uint64_t)attempt++);
    } while (c->device && hist_fragile(h[X], u->n, u->d, u->bins, 1e-5));
    free(lab);
}

static fcl_status hist_dev_fwd(fcl_ctx *ctx, oc_dev t, const oc_case *c)
{
    fcl_histogram_params p = {OC_P(c, hist_tc)->bins};
    return fcl_histogram_loss_fwd(ctx, t[LOSS], t[X], t[LAB], &p);
}

static fcl_status hist_dev_bwd(fcl_ctx *ctx, oc_dev t, const oc_case *c)
{
    fcl_histogram_params p = {OC_P(c, hist_tc)->bins};
    return fcl_histogram_loss_bwd(ctx, t[DX], t[X], t[LAB], &p, (float)OC_P(c, hist_tc)->dloss);
}

static void hist_ref_fwd(double *const *h, const oc_case *c)
{
    const hist_tc *u = OC_P(c, hist_tc);
    fcl_histogram_params p = {u->bins};
    int *lab = oc_labels(h[LAB], u->n);
    cr_assert(fcl_ref_histogram_loss_fwd(h[LOSS], h[X], lab, u->n, u->d, &p) == 0);
    free(lab);
}

static void hist_ref_bwd(double *const *h, const oc_case *c)
{
    const hist_tc *u = OC_P(c, hist_tc);
    fcl_histogram_params p = {u->bins};
    int *lab = oc_labels(h[LAB], u->n);
    double *g = h_alloc(u->n * u->d);
    cr_assert(fcl_ref_histogram_loss_bwd(g, h[X], lab, u->n, u->d, &p, u->dloss) == 0);
    for (size_t i = 0; i < u->n * u->d; i++) h[DX][i] += g[i];
    free(lab), free(g);
}

/* positive and negative similarities overlap: a zero loss would leave the gradient untested */
static void hist_extra(fcl_ctx *ctx, h_buf *b, double *const *h, double *const *want, const oc_case *c)
{
    (void)ctx, (void)b;
    const hist_tc *u = OC_P(c, hist_tc);
    int pos = 0, neg = 0;
    for (size_t i = 0; i < u->n; i++)
        for (size_t j = i + 1; j < u->n; j++) pos += h[LAB][i] == h[LAB][j], neg += h[LAB][i] != h[LAB][j];
    printf("  reference loss %.6g\n", want[LOSS][0]);
    if (pos && neg) cr_expect(want[LOSS][0] > 0.0, "positive and negative similarities do not overlap");
}

/* Skip an element whose +-step moves a pair's similarity across a bin node. */
static int hist_kink(double *const *h, int wrt, size_t i, double step, const oc_case *c)
{
    const hist_tc *u = OC_P(c, hist_tc);
    size_t n = u->n;
    double *v = h[wrt], x0 = v[i], *s = h_alloc(2 * n * n);
    for (int k = 0; k < 2; k++) {
        v[i] = x0 + (k ? step : -step);
        fcl_ref_cosine_sim_fwd(s + k * n * n, v, v, n, n, u->d, L2EPS);
    }
    v[i] = x0;
    int kink = 0;
    for (size_t p = 0; p < n * n; p++)
        kink |= fcl_ref_histogram_bin(s[p], u->bins) != fcl_ref_histogram_bin(s[n * n + p], u->bins);
    free(s);
    return kink;
}

static int hist_gen(const oc_op *op, size_t i, oc_case *c)
{
    const int fd = *(const int *)op->ud;
    i += fd ? N_HIST_DEVICE : 0;
    if (i >= (fd ? N_HIST : N_HIST_DEVICE)) return 0;
    const hist_tc *u = &hist_cases[i];
    *OC_P(c, hist_tc) = *u;
    c->seed = fd ? 80 + i - N_HIST_DEVICE : 1 + i;
    size_t sx[2] = {u->n, u->d}, one = 1;
    oc_arg_set(c, X, "x", OC_IN, 2, sx, 0, 0);
    oc_arg_set(c, LAB, "labels", OC_IN, 1, &u->n, 0, 0);
    oc_arg_set(c, LOSS, "loss", OC_OUT, 1, &one, 0, 0);
    oc_arg_set(c, DL, "dloss", OC_IN, 1, &one, 0, 0);
    oc_arg_set(c, DX, "dx", OC_GRAD, 2, sx, -0.01, 0.01)->delta = 1;
    snprintf(c->what, sizeof c->what, "histogram n=%zu d=%zu ids=%d sigma=%g bins=%d", u->n, u->d, u->ids, u->sigma,
             u->bins);
    if (fd) {
        c->device = 0;
        oc_fd_add(c, X, LOSS, DL, DX, 60, hist_kink);
    }
    return 1;
}

/* ==== the runs ================================================================================== */

/* op: contrastive, histogram */
static void run_pairs(const oc_param *r)
{
    int fd = r->fd;
    oc_op ops[] = {
        {.name = "contrastive", .ud = &fd, .gen = con_gen, .fill = con_fill, .dev_fwd = con_dev_fwd,
         .dev_bwd = con_dev_bwd, .ref_fwd = con_ref_fwd, .ref_bwd = con_ref_bwd, .extra = con_extra},
        {.name = "histogram", .ud = &fd, .gen = hist_gen, .fill = hist_fill, .dev_fwd = hist_dev_fwd,
         .dev_bwd = hist_dev_bwd, .ref_fwd = hist_ref_fwd, .ref_bwd = hist_ref_bwd, .extra = hist_extra},
    };
    oc_op op = ops[r->op];
    op.tunings = loss_tunings;
    oc_run_tuned(&op, (int)r->tuning);
}

/* contrastive's row kernels under the device's tuning and forced; histogram once */
ParameterizedTestParameters(metric_loss, pairs_match_reference)
{
    static oc_param runs[] = {{0, 0, 0}, {0, 1, 0}, {0, 2, 0}, {1, 0, 0}};
    return cr_make_param_array(oc_param, runs, sizeof runs / sizeof runs[0]);
}
ParameterizedTest(oc_param *r, metric_loss, pairs_match_reference) { run_pairs(r); }

Test(metric_loss, pairs_reference_vs_finite_differences)
{
    run_pairs(&(oc_param){0, 0, 1});
    run_pairs(&(oc_param){1, 0, 1});
}

/* ==== determinism ============================================================================= */

/* The same call twice gives the same bits (fixed-order reductions, no atomics). */
Test(metric_loss, backward_passes_are_deterministic)
{
    fcl_ctx *ctx = h_ctx();
    h_case("determinism: ArcFace head, semi-hard triplet, histogram backward twice");
    size_t n = 24, d = 32, k = 37, sx[2] = {n, d}, sw[2] = {k, d}, sz[2] = {n, k}, one = 1;
    double *x = h_alloc(n * d), *w = h_alloc(k * d), *r1 = h_alloc(k * d), *r2 = h_alloc(k * d);
    int *lab = calloc(n, sizeof *lab);
    cr_assert(lab != NULL);
    for (size_t i = 0; i < n; i++)
        lab[i] = (int)(i % 6);
    oc_clustered(x, lab, n, d, 6, 0.8, 1, 3);
    h_rand_f32(w, k * d, 4, -1, 1);
    h_buf bx = h_upload(ctx, x, 2, sx), bw = h_upload(ctx, w, 2, sw), bl = oc_upload_labels(ctx, lab, n);
    h_buf bz = h_zeros(ctx, 2, sz), bc = h_zeros(ctx, 2, sz), bloss = h_zeros(ctx, 1, &one);
    fcl_margin_params mp = {FCL_MARGIN_ARCFACE, 64.0f, 0.5f, 0, 0.0f, 0.0f};
    fcl_triplet_params tp = {FCL_TRIPLET_SEMI_HARD, 0.3f, 1};
    fcl_histogram_params hp = {51};
    H_OK(ctx, fcl_margin_head_fwd(ctx, &bloss.t, &bz.t, &bc.t, &bx.t, &bw.t, &bl.t, &mp));
    for (int what = 0; what < 3; what++) {
        double *out[2] = {r1, r2};
        size_t cnt = what == 0 ? k * d : n * d;
        for (int rep = 0; rep < 2; rep++) {
            h_buf g = what == 0 ? h_zeros(ctx, 2, sw) : h_zeros(ctx, 2, sx);
            if (what == 0)
                H_OK(ctx, fcl_margin_head_bwd(ctx, NULL, &g.t, &bz.t, &bc.t, &bx.t, &bw.t, &bl.t, &mp, 1.0f));
            else if (what == 1)
                H_OK(ctx, fcl_triplet_loss_bwd(ctx, &g.t, &bx.t, &bl.t, &tp, 1.0f));
            else
                H_OK(ctx, fcl_histogram_loss_bwd(ctx, &g.t, &bx.t, &bl.t, &hp, 1.0f));
            h_download(ctx, &g, out[rep]);
            h_free(ctx, &g);
        }
        cr_expect(memcmp(r1, r2, cnt * sizeof *r1) == 0, "backward %d differs between two runs", what);
    }
    h_free(ctx, &bx), h_free(ctx, &bw), h_free(ctx, &bl), h_free(ctx, &bz), h_free(ctx, &bc);
    h_free(ctx, &bloss);
    free(x), free(w), free(r1), free(r2), free(lab);
    h_ctx_free(ctx);
}

