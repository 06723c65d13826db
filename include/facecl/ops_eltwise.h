/* facecl/ops_eltwise.h: elementwise ops (add, channel scale, concat, dropout, drop path, axpby) and flatten. */
#ifndef FACECL_OPS_ELTWISE_H
#define FACECL_OPS_ELTWISE_H

#include <stdint.h>
#include "context.h"
#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- add (residual connections) -------------------------------------------------------------
 * Operands have equal numel (shapes may differ, e.g. [N, C] vs [N, C, 1, 1]). */

/* y = a + b. y may be the same tensor as a or b (elementwise, so in place is safe). */
fcl_status fcl_add_fwd(fcl_ctx *ctx, fcl_tensor *y, const fcl_tensor *a, const fcl_tensor *b);
/* y += x (the in-place accumulate variant). */
fcl_status fcl_add_acc(fcl_ctx *ctx, fcl_tensor *y, const fcl_tensor *x);
/* Backward of add: da += dy, db += dy (either may be NULL). */
fcl_status fcl_add_bwd(fcl_ctx *ctx, fcl_tensor *da, fcl_tensor *db, const fcl_tensor *dy);

/* ---- BLAS-1 helpers (optimizers) -------------------------------------------------------------- */

/* y = alpha * x + beta * y. With beta == 0, y is not read (stale NaNs in y do not survive).
 * x may be y. */
fcl_status fcl_axpby(fcl_ctx *ctx, fcl_tensor *y, float alpha, const fcl_tensor *x, float beta);
/* y += alpha * x. */
fcl_status fcl_axpy(fcl_ctx *ctx, fcl_tensor *y, float alpha, const fcl_tensor *x);
/* y *= alpha. */
fcl_status fcl_scale(fcl_ctx *ctx, fcl_tensor *y, float alpha);
/* out[0] = scale * sum(x) over all numel(x) elements, in a fixed order (one work-group of fixed
 * size, fixed tree): the same inputs give the same bits every run. out has numel >= 1. */
fcl_status fcl_sum(fcl_ctx *ctx, fcl_tensor *out, const fcl_tensor *x, float scale);

/* ---- channel-wise multiply (squeeze-and-excitation) -----------------------------------------
 * x [N, C, H, W] (ndim 2..4; dims after C are the spatial extent, 1 when absent),
 * s: numel N * C with s->shape[0] == N ([N, C] or [N, C, 1, 1]). */

/* y[n, c, h, w] = x[n, c, h, w] * s[n, c]. y has x's numel and must not overlap s. */
fcl_status fcl_chmul_fwd(fcl_ctx *ctx, fcl_tensor *y, const fcl_tensor *x, const fcl_tensor *s);
/* Accumulates: dx += dy * s (broadcast), ds[n, c] += sum_{h,w} dy * x (fixed-order sum per
 * (n, c)). dx and ds may be NULL; x is only needed for ds. */
fcl_status fcl_chmul_bwd(fcl_ctx *ctx, fcl_tensor *dx, fcl_tensor *ds, const fcl_tensor *dy,
                         const fcl_tensor *x, const fcl_tensor *s);

/* ---- concat along channels (DenseNet) ------------------------------------------------------
 * Tensors are [N, C_i, H, W] (ndim 2..4, equal N and equal inner size H*W). */

/* y[:, c0 : c0 + C_x] = x. Lets a DenseNet block append new features to a preallocated buffer. */
fcl_status fcl_concat_put(fcl_ctx *ctx, fcl_tensor *y, size_t c0, const fcl_tensor *x);
/* dx += dy[:, c0 : c0 + C_dx] (backward of fcl_concat_put: a split that accumulates). */
fcl_status fcl_concat_take_acc(fcl_ctx *ctx, fcl_tensor *dx, const fcl_tensor *dy, size_t c0);
/* y = cat(xs[0], ..., xs[count-1], dim=1); y's C must equal the sum of the C_i. */
fcl_status fcl_concat_fwd(fcl_ctx *ctx, fcl_tensor *y, const fcl_tensor *const *xs, int count);
/* dxs[i] += the channel slice of dy that xs[i] went to (NULL entries are skipped, but their
 * channel counts are still needed: pass the forward inputs' channel counts in `channels`). */
fcl_status fcl_concat_bwd(fcl_ctx *ctx, fcl_tensor *const *dxs, const size_t *channels, int count,
                          const fcl_tensor *dy);

/* ---- dropout -----------------------------------------------------------------------------------
 * The mask is not stored: element i (its index within the tensor, 0..numel-1) is kept iff
 * fcl_dropout_keep(seed, i, p) — a splitmix64 hash of (seed, i), so the forward and the backward
 * (and the C reference) agree bit for bit and the same seed reproduces the same mask on any
 * device. Kept elements are scaled by 1 / (1 - p) in training; p == 1 drops everything (zeros,
 * as torch). At inference (training == 0) dropout is the identity. Pick a fresh seed per step
 * (e.g. from fcl_ctx_rng). */
typedef struct fcl_dropout_params {
    float p;            /* drop probability in [0, 1] */
    uint64_t seed;
    int training;
} fcl_dropout_params;

/* 24-bit drop threshold used by the kernels: element kept iff (hash >> 40) >= threshold. */
uint32_t fcl_dropout_threshold(float p);
/* 1 when element `index` is kept (the exact predicate the kernels use). */
int fcl_dropout_keep(uint64_t seed, uint64_t index, float p);

/* y = x * mask / (1 - p) (training) or y = x (inference). y may be x. */
fcl_status fcl_dropout_fwd(fcl_ctx *ctx, fcl_tensor *y, const fcl_tensor *x,
                           const fcl_dropout_params *p);
/* dx += dy * mask / (1 - p) (training) or dx += dy (inference). */
fcl_status fcl_dropout_bwd(fcl_ctx *ctx, fcl_tensor *dx, const fcl_tensor *dy,
                           const fcl_dropout_params *p);

/* ---- drop path (stochastic depth) -------------------------------------------------------------
 * torchvision's StochasticDepth(p, mode="row") / timm's drop_path: each SAMPLE of the batch is
 * kept with probability 1 - p (the whole residual branch of that sample is zeroed otherwise) and
 * kept samples are scaled by 1 / (1 - p); p == 1 drops everything (zeros, as torch); at inference
 * (training == 0) or p == 0 it is the identity. x, y, dx, dy [N, ...] (any ndim >= 1, dim 0 the
 * sample). Sample b is kept iff fcl_drop_path_keep(seed, b, p), the dropout hash of (seed, b):
 * the forward and backward (and the C reference) agree bit for bit, and a seed reproduces the
 * same mask on any device. Draw a fresh seed per step and layer from the context RNG
 * (fcl_rng_next(fcl_ctx_rng(ctx))) so runs are reproducible from the run's seed.
 * Parameters: fcl_dropout_params (p, seed, training). */
int fcl_drop_path_keep(uint64_t seed, uint64_t sample, float p);
/* y = x * keep[b] / (1 - p). y may be x. */
fcl_status fcl_drop_path_fwd(fcl_ctx *ctx, fcl_tensor *y, const fcl_tensor *x,
                             const fcl_dropout_params *p);
/* dx += dy * keep[b] / (1 - p) (dy at inference). dx must not overlap dy. Same p (and seed). */
fcl_status fcl_drop_path_bwd(fcl_ctx *ctx, fcl_tensor *dx, const fcl_tensor *dy,
                             const fcl_dropout_params *p);

/* ---- flatten ----------------------------------------------------------------------------------- */

/* A view of x as [N, numel / N] (torch.flatten(x, 1)); no copy, no kernel. Its gradient is the
 * same reshape of the gradient. */
fcl_status fcl_flatten(fcl_ctx *ctx, const fcl_tensor *x, fcl_tensor *out);

#ifdef __cplusplus
}
#endif
#endif
