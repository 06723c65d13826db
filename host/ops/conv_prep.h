/* host/ops/conv_prep.h: prepared weights of a forward convolution (per-path transformed / packed copies kept across calls while the weights stay the same). */
#ifndef FACECL_OPS_CONV_PREP_H
#define FACECL_OPS_CONV_PREP_H

#include <stdint.h>

#include "facecl/ops_conv.h"

/* What a path may keep: Winograd's transformed filters U (host/ops/conv_wino.c), the GEMM's
 * packed A panels (conv_pack, host/ops/conv_cpu.c). */
enum { FCL_CONV_PREP_WINO, FCL_CONV_PREP_GEMM, FCL_CONV_PREP_KINDS };

typedef struct fcl_conv_prep_slot {
    cl_mem buf;          /* owned by the prep (pool buffer of cap bytes); NULL: empty */
    size_t cap;
    uint64_t version;    /* the prep's version when it was filled; 0: never / unfinished */
    long long key;       /* the path's layout when it was filled (tile, register blocks, ...) */
} fcl_conv_prep_slot;

/* One weight tensor's prepared copies. The owner (net_fuse's inference fold groups) sets version
 * (nonzero) and MUST change it whenever the weights' values or the conv's params change; zero
 * the struct to start, fcl_conv_prep_release to end. Training never uses one (its weights change
 * every step). */
typedef struct fcl_conv_prep {
    uint64_t version;
    fcl_conv_prep_slot slot[FCL_CONV_PREP_KINDS];
} fcl_conv_prep;

/* A path's buffer of `bytes` in slot `kind` of prep for (prep->version, key): *buf, and *fill 1
 * when the path must compute it (empty, older version, other key, too small), then call
 * fcl_conv_prep_done after enqueuing that successfully; *fill 0: it holds what the path wrote at
 * this version and key. prep NULL (or version 0): *buf NULL and *fill 1 (the path uses a
 * temporary as without a prep). */
fcl_status fcl_conv_prep_get(fcl_ctx *ctx, fcl_conv_prep *prep, int kind, long long key, size_t bytes, cl_mem *buf,
                             int *fill);
void fcl_conv_prep_done(fcl_conv_prep *prep, int kind);
void fcl_conv_prep_release(fcl_ctx *ctx, fcl_conv_prep *prep);

/* fcl_conv2d_fwd with prepared weights (prep may be NULL: the same as fcl_conv2d_fwd). The
 * results are bit for bit fcl_conv2d_fwd's. */
fcl_status fcl_conv2d_fwd_prep(fcl_ctx *ctx, fcl_tensor *y, const fcl_tensor *x, const fcl_tensor *w,
                               const fcl_tensor *b, const fcl_conv2d_params *p, fcl_conv_prep *prep);

/* y = act(conv(x, w) + b + r): fcl_conv2d_fwd_prep with a residual r [n, cout, oh, ow] (NULL:
 * none) added after the bias and before p->out_act; r must not overlap y. Bit for bit the conv
 * followed by fcl_act_add_fwd(y, y, r) (or fcl_add_fwd without an activation). */
fcl_status fcl_conv2d_fwd_res(fcl_ctx *ctx, fcl_tensor *y, const fcl_tensor *x, const fcl_tensor *w,
                              const fcl_tensor *b, const fcl_tensor *r, const fcl_conv2d_params *p,
                              fcl_conv_prep *prep);

#endif
