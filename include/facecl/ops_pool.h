/* facecl/ops_pool.h: 2-D max and average pooling, adaptive and global average pooling. */
#ifndef FACECL_OPS_POOL_H
#define FACECL_OPS_POOL_H

#include "context.h"
#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* torch.nn.MaxPool2d / AvgPool2d parameters (dilation 1). Tensors are [N, C, H, W]. */
typedef struct fcl_pool2d_params {
    int kh, kw;              /* window */
    int sh, sw;              /* stride; 0 means the window size (PyTorch stride=None) */
    int ph, pw;              /* implicit padding on both sides; at most half the window */
    int ceil_mode;           /* output size rounds up; the last window must still start inside
                                the input or the left padding (PyTorch's rule) */
    int count_include_pad;   /* avg: padded positions count in the divisor (PyTorch default 1) */
    int divisor_override;    /* avg: > 0 divides every window sum by this instead */
} fcl_pool2d_params;

/* Output size of one pooling dimension with PyTorch's formula (pooling_output_shape). A window
 * larger than the padded input, padding over half the window, or a non-positive result is
 * FCL_ERR_SHAPE naming `op`. err may be NULL. */
fcl_status fcl_pool_out_size(size_t in, int k, int s, int pad, int ceil_mode, size_t *out,
                             const char *op, fcl_error *err);
/* Both dimensions of p for an input of in_h x in_w. */
fcl_status fcl_pool2d_out_hw(const fcl_pool2d_params *p, size_t in_h, size_t in_w, size_t *out_h,
                             size_t *out_w, const char *op, fcl_error *err);

/* Max pooling: y [N, C, OH, OW] = max over each window (padding never wins; a NaN wins as in
 * PyTorch). idx (same shape as y, may be NULL) receives, per output, the flat index h * W + w
 * of the chosen input inside its [H, W] plane (as in PyTorch; stored as float values, exact
 * because H * W must be < 2^24). Ties go to the first maximum in row-major window order. */
fcl_status fcl_maxpool2d_fwd(fcl_ctx *ctx, fcl_tensor *y, fcl_tensor *idx, const fcl_tensor *x,
                             const fcl_pool2d_params *p);
/* dx [N, C, H, W] += the dy of every output whose idx points at that input (gathered per input
 * in a fixed window order: deterministic, no atomics). idx must come from fcl_maxpool2d_fwd with
 * the same p; entries outside their output's window are not honoured, but never cause an
 * out-of-bounds access. */
fcl_status fcl_maxpool2d_bwd(fcl_ctx *ctx, fcl_tensor *dx, const fcl_tensor *dy,
                             const fcl_tensor *idx, const fcl_pool2d_params *p);

/* Average pooling: y [N, C, OH, OW] = window sum / divisor, where the divisor is
 * divisor_override, else the window clipped to the padded input (count_include_pad) or to the
 * input (not). A window with no input element gives 0 (PyTorch). */
fcl_status fcl_avgpool2d_fwd(fcl_ctx *ctx, fcl_tensor *y, const fcl_tensor *x,
                             const fcl_pool2d_params *p);
/* dx [N, C, H, W] += dy / divisor over each window containing the input (gathered per input:
 * deterministic). */
fcl_status fcl_avgpool2d_bwd(fcl_ctx *ctx, fcl_tensor *dx, const fcl_tensor *dy,
                             const fcl_pool2d_params *p);

/* torch.nn.AdaptiveAvgPool2d with the output size taken from y [N, C, OH, OW]: output (i, j)
 * averages rows floor(i*H/OH) .. ceil((i+1)*H/OH)-1 and likewise columns. y [N, C] means 1x1
 * (global average pooling followed by flatten). */
fcl_status fcl_adaptive_avgpool2d_fwd(fcl_ctx *ctx, fcl_tensor *y, const fcl_tensor *x);
/* dx [N, C, H, W] += dy / window size over each window containing the input. dy's shape gives
 * the output size as in the forward. */
fcl_status fcl_adaptive_avgpool2d_bwd(fcl_ctx *ctx, fcl_tensor *dx, const fcl_tensor *dy);

/* Global average pooling: the adaptive pool to 1x1. y / dy are [N, C] or [N, C, 1, 1]. */
fcl_status fcl_global_avgpool_fwd(fcl_ctx *ctx, fcl_tensor *y, const fcl_tensor *x);
fcl_status fcl_global_avgpool_bwd(fcl_ctx *ctx, fcl_tensor *dx, const fcl_tensor *dy);

#ifdef __cplusplus
}
#endif
#endif
