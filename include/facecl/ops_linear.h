/* facecl/ops_linear.h: fully connected layer y = x W^T + b (PyTorch nn.Linear layout) and its backward. */
#ifndef FACECL_OPS_LINEAR_H
#define FACECL_OPS_LINEAR_H

#include "context.h"
#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Shapes come from the tensors:
 *   x [N, in]  (any ndim >= 2: row i is the numel(x) / N values after x->shape[0], so a pooled
 *              [N, C, 1, 1] map can be fed directly)
 *   w [out, in] (row-major, as torch.nn.Linear.weight)
 *   b [out] or NULL (no bias)
 *   y [N, out] (any shape with shape[0] == N and numel == N * out)
 * y = x W^T + b, through fcl_gemm. y must not overlap x, w or b. */
fcl_status fcl_linear_fwd(fcl_ctx *ctx, fcl_tensor *y, const fcl_tensor *x, const fcl_tensor *w,
                          const fcl_tensor *b);

/* Backward of fcl_linear_fwd; ACCUMULATES into each non-NULL gradient:
 *   dx [N, in]  += dy W
 *   dw [out, in] += dy^T x
 *   db [out]    += sum over the batch of dy (a fixed-order column reduction: deterministic)
 * dy [N, out]; x is needed only for dw and w only for dx (either may be NULL otherwise).
 * Gradients have the shapes of what they are gradients of. */
fcl_status fcl_linear_bwd(fcl_ctx *ctx, fcl_tensor *dx, fcl_tensor *dw, fcl_tensor *db,
                          const fcl_tensor *dy, const fcl_tensor *x, const fcl_tensor *w);

#ifdef __cplusplus
}
#endif
#endif
