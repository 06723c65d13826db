/* tools/bench_metric_loss.c: `facecl bench ops` rows of the ArcFace head (cosine matrix, margin, cross-entropy) at the CASIA-WebFace classifier size. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

/* What one row runs. */
enum { ARC_FWD, ARC_BWD, ARC_FWD_BWD };

typedef struct arc_bench {
    size_t n, d, k;
    int what;
} arc_bench;

typedef struct arc_state {
    fcl_tensor x, w, labels, loss, logits, cos, dx, dw;
} arc_state;

static const fcl_margin_params ARC = {FCL_MARGIN_ARCFACE, 64.0f, 0.5f, 0, 0.0f, 0.0f};

static void arc_teardown(fcl_ctx *ctx, void *state)
{
    arc_state *s = state;
    if (!s) return;
    fcl_tensor *all[] = {&s->x, &s->w, &s->labels, &s->loss, &s->logits, &s->cos, &s->dx, &s->dw};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) fcl_tensor_release(ctx, all[i]);
    free(s);
}

/* Deterministic non-degenerate values (a constant tensor would make every cosine 1). */
static fcl_status fill_pattern(fcl_ctx *ctx, fcl_tensor *t, size_t n, unsigned salt)
{
    float *h = malloc(n * sizeof *h);
    if (!h) return FCL_ERR(fcl_ctx_error(ctx), FCL_ERR_NOMEM, "bench arcface: out of memory");
    for (size_t i = 0; i < n; i++) h[i] = (float)((i * 2654435761u + salt) % 2001u) / 1000.0f - 1.0f;
    fcl_status st = fcl_tensor_upload(ctx, t, h, n);
    free(h);
    return st;
}

static fcl_status arc_setup(fcl_ctx *ctx, const bench_case *c, void **state)
{
    const arc_bench *ab = c->params;
    arc_state *s = calloc(1, sizeof *s);
    if (!s) return FCL_ERR(fcl_ctx_error(ctx), FCL_ERR_NOMEM, "bench arcface: out of memory");
    size_t sx[2] = {ab->n, ab->d}, sw[2] = {ab->k, ab->d}, sz[2] = {ab->n, ab->k}, one = 1;
    int *lab = malloc(ab->n * sizeof *lab);
    fcl_status st = lab ? FCL_OK : FCL_ERR(fcl_ctx_error(ctx), FCL_ERR_NOMEM, "bench arcface: out of memory");
    for (size_t i = 0; lab && i < ab->n; i++) lab[i] = (int)((i * 7919) % ab->k);
    if (!st) st = fcl_tensor_alloc(ctx, &s->x, 2, sx, FCL_F32);
    if (!st) st = fill_pattern(ctx, &s->x, ab->n * ab->d, 1);
    if (!st) st = fcl_tensor_alloc(ctx, &s->w, 2, sw, FCL_F32);
    if (!st) st = fill_pattern(ctx, &s->w, ab->k * ab->d, 7);
    if (!st) st = fcl_tensor_alloc(ctx, &s->labels, 1, &ab->n, FCL_F32);
    if (!st) st = fcl_labels_upload(ctx, &s->labels, lab, ab->n, (int)ab->k);
    if (!st) st = fcl_tensor_alloc(ctx, &s->loss, 1, &one, FCL_F32);
    if (!st) st = fcl_tensor_alloc(ctx, &s->logits, 2, sz, FCL_F32);
    if (!st) st = fcl_tensor_alloc(ctx, &s->cos, 2, sz, FCL_F32);
    if (!st) st = fcl_tensor_alloc(ctx, &s->dx, 2, sx, FCL_F32);
    if (!st) st = fcl_tensor_fill(ctx, &s->dx, 0.0f);
    if (!st) st = fcl_tensor_alloc(ctx, &s->dw, 2, sw, FCL_F32);
    if (!st) st = fcl_tensor_fill(ctx, &s->dw, 0.0f);
    /* the backward-only row needs the forward's cos and logits */
    if (!st && ab->what == ARC_BWD)
        st = fcl_margin_head_fwd(ctx, &s->loss, &s->logits, &s->cos, &s->x, &s->w, &s->labels, &ARC);
    free(lab);
    if (st) {
        arc_teardown(ctx, s);
        return st;
    }
    *state = s;
    return FCL_OK;
}

static fcl_status arc_run(fcl_ctx *ctx, const bench_case *c, void *state)
{
    const arc_bench *ab = c->params;
    arc_state *s = state;
    fcl_status st = FCL_OK;
    if (ab->what != ARC_BWD)
        st = fcl_margin_head_fwd(ctx, &s->loss, &s->logits, &s->cos, &s->x, &s->w, &s->labels, &ARC);
    if (!st && ab->what != ARC_FWD)
        st = fcl_margin_head_bwd(ctx, &s->dx, &s->dw, &s->logits, &s->cos, &s->x, &s->w, &s->labels, &ARC, 1.0f);
    return st;
}

int bench_metric_loss_cases(const bench_env *env, bench_list *list)
{
    (void)env;   /* the brief's shape: a 128-image batch on CASIA-WebFace's 10575 identities */
    static const char *dirs[] = {"fwd", "bwd", "fwd+bwd"};
    size_t n = 128, d = 512, k = 10575;
    for (int what = ARC_FWD; what <= ARC_FWD_BWD; what++) {
        arc_bench *ab = calloc(1, sizeof *ab);
        if (!ab) return -1;
        ab->n = n, ab->d = d, ab->k = k, ab->what = what;
        bench_case c;
        memset(&c, 0, sizeof c);
        snprintf(c.op, sizeof c.op, "arcface head");
        snprintf(c.shape, sizeof c.shape, "casia %zux%zu>%zu s64 m0.5", n, d, k);
        snprintf(c.dir, sizeof c.dir, "%s", dirs[what]);
        /* the GEMMs dominate: cos = Xn Wn^T forward, dXn and dWn backward (2 N K D each) */
        double g = 2.0 * (double)n * (double)k * (double)d;
        c.flops = what == ARC_FWD ? g : (what == ARC_BWD ? 2.0 * g : 3.0 * g);
        c.setup = arc_setup;
        c.run = arc_run;
        c.teardown = arc_teardown;
        c.params = ab;
        if (bench_add(list, &c)) return -1;
    }
    return 0;
}
