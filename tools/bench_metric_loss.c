/* tools/bench_metric_loss.c: `facecl bench ops` rows of the ArcFace head (cosine matrix, margin, cross-entropy) at the CASIA-WebFace classifier size. */
#include <stdio.h>

#include "bench.h"

/* What one row runs. */
enum { ARC_FWD, ARC_BWD, ARC_FWD_BWD };
enum { X, W, LABELS, LOSS, LOGITS, COS, DX, DW };

static const fcl_margin_params ARC = {FCL_MARGIN_ARCFACE, 64.0f, 0.5f, 0, 0.0f, 0.0f};

static fcl_status arc_fwd(fcl_ctx *ctx, fcl_tensor *t)
{
    return fcl_margin_head_fwd(ctx, &t[LOSS], &t[LOGITS], &t[COS], &t[X], &t[W], &t[LABELS], &ARC);
}

/* the backward-only row needs the forward's cos and logits */
static fcl_status arc_prep(fcl_ctx *ctx, const bench_case *c, fcl_tensor *t, void **state)
{
    (void)state;
    return c->kind == ARC_BWD ? arc_fwd(ctx, t) : FCL_OK;
}

static fcl_status arc_run(fcl_ctx *ctx, const bench_case *c, fcl_tensor *t, void *state)
{
    (void)state;
    fcl_status st = FCL_OK;
    if (c->kind != ARC_BWD) st = arc_fwd(ctx, t);
    if (!st && c->kind != ARC_FWD)
        st = fcl_margin_head_bwd(ctx, &t[DX], &t[DW], &t[LOGITS], &t[COS], &t[X], &t[W], &t[LABELS], &ARC, 1.0f);
    return st;
}

int bench_metric_loss_cases(const bench_env *env, bench_list *list)
{
    (void)env;   /* the brief's shape: a 128-image batch on CASIA-WebFace's 10575 identities */
    static const char *dirs[] = {"fwd", "bwd", "fwd+bwd"};
    size_t n = 128, d = 512, k = 10575;
    for (int what = ARC_FWD; what <= ARC_FWD_BWD; what++) {
        bench_case *c = bench_row(list, "arcface head", "", dirs[what], arc_run);
        if (!c) return -1;
        c->kind = what;
        c->prep = arc_prep;
        snprintf(c->shape, sizeof c->shape, "casia %zux%zu>%zu s64 m0.5", n, d, k);
        /* the GEMMs dominate: cos = Xn Wn^T forward, dXn and dWn backward (2 N K D each) */
        double g = 2.0 * (double)n * (double)k * (double)d;
        c->flops = what == ARC_FWD ? g : (what == ARC_BWD ? 2.0 * g : 3.0 * g);
        /* deterministic non-degenerate values (a constant tensor would make every cosine 1) */
        bench_tensor_set(c, X, 2, n, d, 0, 0, BENCH_PATTERN, 1);
        bench_tensor_set(c, W, 2, k, d, 0, 0, BENCH_PATTERN, 7);
        bench_tensor_set(c, LABELS, 1, n, 0, 0, 0, BENCH_LABELS, (float)k);
        bench_tensor_set(c, LOSS, 1, 1, 0, 0, 0, BENCH_CONST, 0.0f);
        bench_tensor_set(c, LOGITS, 2, n, k, 0, 0, BENCH_CONST, 0.0f);
        bench_tensor_set(c, COS, 2, n, k, 0, 0, BENCH_CONST, 0.0f);
        bench_tensor_set(c, DX, 2, n, d, 0, 0, BENCH_CONST, 0.0f);
        bench_tensor_set(c, DW, 2, k, d, 0, 0, BENCH_CONST, 0.0f);
    }
    return 0;
}
