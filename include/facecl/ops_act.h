/* facecl/ops_act.h: activation functions (ReLU family, sigmoid, tanh, SiLU, hard-swish, GELU, PReLU). */
#ifndef FACECL_OPS_ACT_H
#define FACECL_OPS_ACT_H

#include "context.h"
#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Elementwise activations with torch.nn semantics (NaN propagates as in PyTorch). The backward
 * needs one saved tensor, the same one PyTorch's autograd saves:
 *   kind         forward                      backward (dx +=)                     saved
 *   RELU         max(x, 0)                    dy * (y > 0)                         y
 *   RELU6        min(max(x, 0), 6)            dy * (0 < x < 6)                     x
 *   LEAKY_RELU   x > 0 ? x : slope * x        x > 0 ? dy : slope * dy              x
 *   SIGMOID      1 / (1 + exp(-x))            dy * y * (1 - y)                     y
 *   TANH         tanh(x)                      dy * (1 - y^2)                       y
 *   SILU         x * sigmoid(x)               dy * s * (1 + x * (1 - s)), s=sig(x) x
 *   HARDSWISH    x * relu6(x + 3) / 6         x < -3: 0; x <= 3: dy*(x/3 + 1/2);    x
 *                                             else dy
 *   HARDSIGMOID  relu6(x + 3) / 6             dy / 6 where -3 < x < 3, else 0      x
 *   GELU         x * Phi(x) = x/2 (1 + erf(x/sqrt2))   dy * (Phi(x) + x * phi(x))       x
 *                (torch.nn.GELU(), approximate='none'; phi = exp(-x^2/2) / sqrt(2 pi))
 *   GELU_TANH    x/2 (1 + tanh(u)),               dy * (1/2 (1 + t) + x/2 (1 - t^2) *     x
 *                u = sqrt(2/pi) (x + 0.044715 x^3)   sqrt(2/pi) (1 + 3 * 0.044715 x^2)), t = tanh(u)
 *                (torch.nn.GELU(approximate='tanh'))
 * fcl_act_saves_output() tells which. */
typedef enum fcl_act_kind {
    FCL_ACT_RELU = 0,
    FCL_ACT_RELU6,
    FCL_ACT_LEAKY_RELU,
    FCL_ACT_SIGMOID,
    FCL_ACT_TANH,
    FCL_ACT_SILU,
    FCL_ACT_HARDSWISH,
    FCL_ACT_HARDSIGMOID,
    FCL_ACT_GELU,
    FCL_ACT_GELU_TANH,
    FCL_ACT_COUNT
} fcl_act_kind;

typedef struct fcl_act_params {
    fcl_act_kind kind;
    float slope;        /* LEAKY_RELU negative slope (PyTorch default 0.01); ignored otherwise */
} fcl_act_params;

/* "relu", "relu6", "leaky_relu", "sigmoid", "tanh", "silu", "hardswish", "hardsigmoid", "gelu",
 * "gelu_tanh" (NULL for an unknown kind). */
const char *fcl_act_name(fcl_act_kind kind);
/* Parses those names (case-insensitive; "swish" is SILU); 0 on success, -1 if unknown. */
int fcl_act_parse(const char *name, fcl_act_kind *out);
/* 1 when the backward of `kind` needs the forward's output y, 0 when it needs the input x. */
int fcl_act_saves_output(fcl_act_kind kind);

/* y = act(x). Any shape; y and x have equal numel. y may be x (in place: only valid for a
 * kind that saves y, or when x is not needed afterwards). */
fcl_status fcl_act_fwd(fcl_ctx *ctx, fcl_tensor *y, const fcl_tensor *x, const fcl_act_params *p);
/* y = act(x + r): a residual add and the activation in one pass (the network's inference runs
 * conv -> BN (folded) -> add -> act this way); bit for bit fcl_add_fwd then fcl_act_fwd. x, r, y
 * have equal numel; y may be x or r (nothing else overlapping). Forward only: training keeps the
 * add and the activation apart (or fuses them with the BN, ops_bn.h). */
fcl_status fcl_act_add_fwd(fcl_ctx *ctx, fcl_tensor *y, const fcl_tensor *x, const fcl_tensor *r,
                           const fcl_act_params *p);
/* dx += act'(...) * dy, with `saved` = y or x as in the table above. dx, dy, saved have equal
 * numel; dx must not overlap dy or saved. */
fcl_status fcl_act_bwd(fcl_ctx *ctx, fcl_tensor *dx, const fcl_tensor *dy, const fcl_tensor *saved,
                       const fcl_act_params *p);

/* PReLU (torch.nn.PReLU): y = x > 0 ? x : a[c] * x, with learned slopes a of numel C (one per
 * channel, dim 1 of x) or numel 1 (shared). x, y [N, C, ...] (ndim >= 2; ndim 1 only with a
 * single slope). y may be x. */
fcl_status fcl_prelu_fwd(fcl_ctx *ctx, fcl_tensor *y, const fcl_tensor *x, const fcl_tensor *a);
/* Backward (saved: x). dx += x > 0 ? dy : a * dy; da[c] += sum over x <= 0 of x * dy (one
 * work-group per slope, fixed-order tree: deterministic). dx, da may be NULL and must not
 * overlap the inputs. */
fcl_status fcl_prelu_bwd(fcl_ctx *ctx, fcl_tensor *dx, fcl_tensor *da, const fcl_tensor *dy,
                         const fcl_tensor *x, const fcl_tensor *a);

#ifdef __cplusplus
}
#endif
#endif
