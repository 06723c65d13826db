/* tools/bench_metric_loss.c: `facecl bench ops` rows of the margin heads (ArcFace, CosFace, SphereFace: cosine matrix, margin, cross-entropy) at HW2P2's and CASIA-WebFace's classifier sizes. */
#include <stdio.h>

#include "bench.h"

/* What one row runs. */
enum { HEAD_FWD, HEAD_BWD, HEAD_FWD_BWD };
enum { X, W, LABELS, LOSS, LOGITS, COS, DX, DW, WSTATS, ROWSTATS };

/* The usual recipes: ArcFace s 64 m 0.5, CosFace s 64 m 0.35, SphereFace m 4 at lambda 5. */
static const struct head_kind {
    const char *op, *tag;
    fcl_margin_params p;
} KINDS[] = {
    {"arcface head", "s64 m0.5", {FCL_MARGIN_ARCFACE, 64.0f, 0.5f, 0, 0.0f, 0.0f}},
    {"cosface head", "s64 m0.35", {FCL_MARGIN_COSFACE, 64.0f, 0.35f, 0, 0.0f, 0.0f}},
    {"sphereface head", "m4 l5", {FCL_MARGIN_SPHEREFACE, 0.0f, 4.0f, 0, 5.0f, 0.0f}},
};

/* The head as a training step runs it (host/nn/train_loss.c step_head): the forward keeps the
 * weights' norms (w_stats) and the softmax's row statistics (row_stats) for the backward, which
 * overwrites dW (no zero fill, no read of dW). */
static fcl_status head_fwd(fcl_ctx *ctx, const bench_case *c, fcl_tensor *t)
{
    fcl_margin_head_opts o = {&t[WSTATS], 0, &t[ROWSTATS]};
    return fcl_margin_head_fwd_opt(ctx, &t[LOSS], &t[LOGITS], &t[COS], &t[X], &t[W], &t[LABELS],
                                   BENCH_P(c, fcl_margin_params), &o);
}

/* the backward-only row needs the forward's cos and logits */
static fcl_status head_prep(fcl_ctx *ctx, const bench_case *c, fcl_tensor *t, void **state)
{
    (void)state;
    return c->kind == HEAD_BWD ? head_fwd(ctx, c, t) : FCL_OK;
}

static fcl_status head_run(fcl_ctx *ctx, const bench_case *c, fcl_tensor *t, void *state)
{
    (void)state;
    fcl_status st = FCL_OK;
    if (c->kind != HEAD_BWD) st = head_fwd(ctx, c, t);
    fcl_margin_head_opts o = {&t[WSTATS], 1, &t[ROWSTATS]};
    if (!st && c->kind != HEAD_FWD)
        st = fcl_margin_head_bwd_opt(ctx, &t[DX], &t[DW], &t[LOGITS], &t[COS], &t[X], &t[W], &t[LABELS],
                                     BENCH_P(c, fcl_margin_params), 1.0f, &o);
    return st;
}

static int add_head(bench_list *list, const struct head_kind *h, const char *set, size_t n, size_t k, int what)
{
    static const char *dirs[] = {"fwd", "bwd", "fwd+bwd"};
    size_t d = 512;
    bench_case *c = bench_row(list, h->op, "", dirs[what], head_run);
    if (!c) return -1;
    c->kind = what;
    c->prep = head_prep;
    *BENCH_P(c, fcl_margin_params) = h->p;
    snprintf(c->shape, sizeof c->shape, "%s %zux%zu>%zu %s", set, n, d, k, h->tag);
    /* the GEMMs dominate: cos = Xn Wn^T forward, dXn and dWn backward (2 N K D each) */
    double g = 2.0 * (double)n * (double)k * (double)d;
    c->flops = what == HEAD_FWD ? g : (what == HEAD_BWD ? 2.0 * g : 3.0 * g);
    /* deterministic non-degenerate values (a constant tensor would make every cosine 1) */
    bench_tensor_set(c, X, 2, n, d, 0, 0, BENCH_PATTERN, 1);
    bench_tensor_set(c, W, 2, k, d, 0, 0, BENCH_PATTERN, 7);
    bench_tensor_set(c, LABELS, 1, n, 0, 0, 0, BENCH_LABELS, (float)k);
    bench_tensor_set(c, LOSS, 1, 1, 0, 0, 0, BENCH_CONST, 0.0f);
    bench_tensor_set(c, LOGITS, 2, n, k, 0, 0, BENCH_CONST, 0.0f);
    bench_tensor_set(c, COS, 2, n, k, 0, 0, BENCH_CONST, 0.0f);
    bench_tensor_set(c, DX, 2, n, d, 0, 0, BENCH_CONST, 0.0f);
    bench_tensor_set(c, DW, 2, k, d, 0, 0, BENCH_CONST, 0.0f);
    bench_tensor_set(c, WSTATS, 2, 2, k, 0, 0, BENCH_CONST, 0.0f);
    bench_tensor_set(c, ROWSTATS, 2, n, 2, 0, 0, BENCH_CONST, 0.0f);
    return 0;
}

int bench_metric_loss_cases(const bench_env *env, bench_list *list)
{
    (void)env;   /* issue 9's shapes: batches of 64 and 128 on HW2P2's 8631 and CASIA-WebFace's 10575 identities */
    static const struct { const char *name; size_t k; } sets[] = {{"hw2p2", 8631}, {"casia", 10575}};
    static const size_t batches[] = {64, 128};
    for (size_t h = 0; h < sizeof KINDS / sizeof *KINDS; h++)
        for (int s = 0; s < 2; s++)
            for (int b = 0; b < 2; b++)
                for (int what = HEAD_FWD; what <= HEAD_BWD; what++)
                    if (add_head(list, &KINDS[h], sets[s].name, batches[b], sets[s].k, what)) return -1;
    /* one whole step at the largest shape, comparable with earlier sessions' numbers */
    return add_head(list, &KINDS[0], "casia", 128, 10575, HEAD_FWD_BWD);
}
