/* host/nn/net_layers_ext.h: forward/backward of issue 12's layer kinds for the network engine (net.c calls these). */
#ifndef FACECL_NN_NET_LAYERS_EXT_H
#define FACECL_NN_NET_LAYERS_EXT_H

#include <stddef.h>

#include "facecl/context.h"
#include "facecl/model.h"
#include "facecl/ops_conv.h"
#include "facecl/ops_eltwise.h"
#include "facecl/tensor.h"

/* What one such layer keeps between its forward and its backward. */
typedef struct netx_state {
    fcl_tensor t0, t1;     /* LAYERNORM: per-pixel mean and 1/std [n*H*W] (t0, t1);
                              PARAM: ones [n] (t0) */
    fcl_dropout_params drop; /* DROP_PATH: p, seed and mode of the last forward */
} netx_state;

/* 1 when `k` is one of the kinds handled here (DROP_PATH, LAYERNORM, PARAM, RADIX_SUM, RSOFTMAX,
 * SCALE). */
int netx_handles(fcl_layer_kind k);
/* Whether its backward reads its input(s) and/or its own output (the engine's memory plan). */
void netx_reads(const fcl_layer *L, int *reads_inputs, int *reads_output);
/* Initial values of its parameters (LayerNorm weight 1 / bias 0, a param its init); 1 when
 * handled. */
int netx_init(const fcl_layer *L, const fcl_param_info *pi, float *dst, size_t n);
/* y = layer(x[0], x[1]) for a batch of n (x[1]: the second input, NULL when the layer has one);
 * w/b: its weight / bias views (NULL when absent). */
fcl_status netx_forward(fcl_ctx *ctx, const fcl_layer *L, int n, int training, fcl_tensor *y,
                        const fcl_tensor *const x[2], const fcl_tensor *w, const fcl_tensor *b, netx_state *s);
/* Accumulates dx[0], dx[1] (NULL: not needed), dw, db (NULL when absent); y is its output. */
fcl_status netx_backward(fcl_ctx *ctx, const fcl_layer *L, const fcl_tensor *dy, const fcl_tensor *y,
                         const fcl_tensor *const x[2], fcl_tensor *const dx[2], const fcl_tensor *w, fcl_tensor *dw,
                         fcl_tensor *db, netx_state *s);
/* A conv with ws=1 (NFNet's ScaledStdConv2d): y = conv(x, fcl_wstd(w, gain)) + b; the
 * standardised weight lives in a scratch tensor for the call (the backward makes it again:
 * nothing is kept per layer). The backward accumulates dx, db, dw and dgain (dx / db may be NULL). */
fcl_status netx_wsconv_fwd(fcl_ctx *ctx, const fcl_layer *L, const fcl_conv2d_params *p, fcl_tensor *y,
                           const fcl_tensor *x, const fcl_tensor *w, const fcl_tensor *b, const fcl_tensor *gain);
fcl_status netx_wsconv_bwd(fcl_ctx *ctx, const fcl_layer *L, const fcl_conv2d_params *p, fcl_tensor *dx,
                           fcl_tensor *dw, fcl_tensor *db, fcl_tensor *dgain, const fcl_tensor *dy, const fcl_tensor *x,
                           const fcl_tensor *w, const fcl_tensor *gain);
/* Frees what the forward kept. */
void netx_release(fcl_ctx *ctx, netx_state *s);

#endif
