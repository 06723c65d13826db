/* host/ops/pool.c: launchers of the pooling kernels in cl/pool.cl and PyTorch's output-size rule. */
#include <limits.h>
#include <stdio.h>

#include "facecl/ops_pool.h"
#include "ops/op_util.h"

fcl_status fcl_pool_out_size(size_t in, int k, int s, int pad, int ceil_mode, size_t *out,
                             const char *op, fcl_error *err)
{
    if (!op) op = "pool";
    if (k < 1) return FCL_ERR(err, FCL_ERR_INVALID_ARG, "%s: window size must be >= 1, got %d", op, k);
    if (s < 0) return FCL_ERR(err, FCL_ERR_INVALID_ARG, "%s: stride must be >= 0 (0: the window), got %d", op, s);
    if (s == 0) s = k;
    if (pad < 0 || pad > k / 2)
        return FCL_ERR(err, FCL_ERR_INVALID_ARG, "%s: padding %d must be between 0 and half the window "
                       "(%d)", op, pad, k / 2);
    if (in > (size_t)1 << 30) return FCL_ERR(err, FCL_ERR_SHAPE, "%s: input size %zu is too large", op, in);
    /* PyTorch pooling_output_shape: div_rtn(in + 2 pad - (k - 1) - 1 + (ceil ? s - 1 : 0), s) + 1,
     * then in ceil mode drop a last window that would start past the input and left padding. */
    long long num = (long long)in + 2LL * pad - (k - 1) - 1 + (ceil_mode ? s - 1 : 0);
    long long q = num / s;
    if (num % s != 0 && num < 0) q--;   /* round towards -inf */
    long long o = q + 1;
    if (ceil_mode && (o - 1) * s >= (long long)in + pad) o--;
    if (o < 1)
        return FCL_ERR(err, FCL_ERR_SHAPE, "%s: input size %zu is too small for window %d, stride %d, "
                       "padding %d (output size %lld)", op, in, k, s, pad, o);
    *out = (size_t)o;
    return FCL_OK;
}

fcl_status fcl_pool2d_out_hw(const fcl_pool2d_params *p, size_t in_h, size_t in_w, size_t *out_h,
                             size_t *out_w, const char *op, fcl_error *err)
{
    if (!p) return FCL_ERR(err, FCL_ERR_INVALID_ARG, "%s: params are NULL", op ? op : "pool");
    fcl_status st = fcl_pool_out_size(in_h, p->kh, p->sh, p->ph, p->ceil_mode, out_h, op, err);
    if (!st) st = fcl_pool_out_size(in_w, p->kw, p->sw, p->pw, p->ceil_mode, out_w, op, err);
    return st;
}

/* Checks x (input side, [N, C, H, W]) against y (output side) for pooling params p and fills
 * the kernels' extents. */
typedef struct pool_dims {
    int H, W, OH, OW, planes, kh, kw, sh, sw, ph, pw;
} pool_dims;

static fcl_status pool_check(fcl_ctx *ctx, const char *op, const char *nx, const fcl_tensor *x,
                             const char *ny, const fcl_tensor *y, const fcl_pool2d_params *p,
                             pool_dims *d)
{
    fcl_status st;
    if ((st = fcl_op_check(ctx, op, nx, x, 4, 4)) || (st = fcl_op_check(ctx, op, ny, y, 4, 4))) return st;
    size_t oh, ow;
    if ((st = fcl_pool2d_out_hw(p, x->shape[2], x->shape[3], &oh, &ow, op, ERRP(ctx)))) return st;
    if (p->count_include_pad < 0 || p->divisor_override < 0)
        return FCL_ERR(ERRP(ctx), FCL_ERR_INVALID_ARG, "%s: count_include_pad and divisor_override must "
                       "be >= 0", op);
    if (y->shape[0] != x->shape[0] || y->shape[1] != x->shape[1] || y->shape[2] != oh || y->shape[3] != ow) {
        char sx[96], sy[96];
        fcl_tensor_shape_str(x, sx, sizeof sx);
        fcl_tensor_shape_str(y, sy, sizeof sy);
        return FCL_ERR(ERRP(ctx), FCL_ERR_SHAPE, "%s: %s %s needs %s [%zu, %zu, %zu, %zu] for window "
                       "%dx%d stride %dx%d padding %dx%d%s, got %s", op, nx, sx, ny, x->shape[0],
                       x->shape[1], oh, ow, p->kh, p->kw, p->sh ? p->sh : p->kh, p->sw ? p->sw : p->kw,
                       p->ph, p->pw, p->ceil_mode ? " ceil_mode" : "", sy);
    }
    d->H = (int)x->shape[2];
    d->W = (int)x->shape[3];
    d->OH = (int)oh;
    d->OW = (int)ow;
    d->planes = (int)(x->shape[0] * x->shape[1]);
    d->kh = p->kh;
    d->kw = p->kw;
    d->sh = p->sh ? p->sh : p->kh;
    d->sw = p->sw ? p->sw : p->kw;
    d->ph = p->ph;
    d->pw = p->pw;
    return FCL_OK;
}

/* The sizes and window the pooling kernels take after their tensors (cl/pool.cl POOL_SIZES,
 * POOL_WINDOW), as typed arguments. */
#define POOL_SIZES_VALS(H, W, OH, OW, planes) OP_I(H), OP_I(W), OP_I(OH), OP_I(OW), OP_I(planes)
#define POOL_WINDOW_VALS(d)                                                                        \
    POOL_SIZES_VALS((d).H, (d).W, (d).OH, (d).OW, (d).planes), OP_I((d).kh), OP_I((d).kw),         \
        OP_I((d).sh), OP_I((d).sw), OP_I((d).ph), OP_I((d).pw)

/* reduce.cl+pool.cl with the "pool" tuning. */
static const fcl_op_src SRC = {"reduce.cl+pool.cl", FCL_TF_POOL};

/* The "pool" tuning row's POOL_GPU: 1 selects the GPU-shaped kernels (`name`_px, one element
 * per work-item; the _wg global average) in groups of POOL_WG (within the kernel's limits). */
static int gpu_shape(fcl_ctx *ctx) { return fcl_tuning_int(ctx, FCL_T_POOL_GPU) == 1; }

/* The kernel `name` of the shape the tuning picks; *px: 1 for the GPU shape. */
static fcl_status pick(fcl_ctx *ctx, const char *name, cl_kernel *k, int *px)
{
    char n[64];
    *px = gpu_shape(ctx);
    snprintf(n, sizeof n, *px ? "%s_px" : "%s", name);
    return fcl_op_kernel(ctx, &SRC, n, k);
}

/* The group size of a GPU-shaped kernel (POOL_WG), or of the CPU ones (the device's 1-D size). */
static fcl_status group_of(fcl_ctx *ctx, cl_kernel k, int px, size_t *l)
{
    if (!px) {
        *l = fcl_ctx_wg1d(ctx);
        return FCL_OK;
    }
    return fcl_op_reduce_wg(ctx, k, (size_t)fcl_tuning_int(ctx, FCL_T_POOL_WG), l);
}

/* Runs k with arguments vals over extents (cols, rows, planes) as one 1-D launch (the kernels
 * split the index; see cl/pool.cl for why not 3-D); px: the GPU shape's group size. */
static fcl_status run3(fcl_ctx *ctx, cl_kernel k, int px, int cols, int rows, int planes,
                       const fcl_op_val *vals, int n)
{
    size_t g = (size_t)cols * (size_t)rows * (size_t)planes, l;
    fcl_status st = group_of(ctx, k, px, &l);
    if (st) return st;
    if (g > (size_t)INT_MAX)
        return FCL_ERR(ERRP(ctx), FCL_ERR_SHAPE, "pooling launch of %zu work-items is too large", g);
    return fcl_op_run(ctx, k, FCL_GRID_ND, 1, &g, &l, vals, n);
}
#define RUN3(ctx, k, px, cols, rows, planes, ...) run3(ctx, k, px, cols, rows, planes, FCL_OP_VALS(__VA_ARGS__))

/* A window kernel in the shape the tuning picks: one column per work-item (GPU shape) or `per`
 * consecutive columns (CPU shape) of (cols, rows, planes). */
static fcl_status pool_run(fcl_ctx *ctx, const char *name, int cols, int per, int rows, int planes,
                           const fcl_op_val *vals, int n)
{
    cl_kernel k;
    int px;
    fcl_status st = pick(ctx, name, &k, &px);
    if (st) return st;
    return run3(ctx, k, px, px ? cols : (int)fcl_op_div_up((size_t)cols, (size_t)per), rows, planes, vals, n);
}
#define POOL_RUN(ctx, name, cols, per, rows, planes, ...) \
    pool_run(ctx, name, cols, per, rows, planes, FCL_OP_VALS(__VA_ARGS__))

static fcl_status no_overlap(fcl_ctx *ctx, const char *op, const char *what, const fcl_tensor *a,
                             const fcl_tensor *b, const fcl_tensor *c)
{
    if (fcl_op_overlaps(a, b) || fcl_op_overlaps(a, c))
        return FCL_ERR(ERRP(ctx), FCL_ERR_INVALID_ARG, "%s: %s must not overlap the other tensors", op, what);
    return FCL_OK;
}

fcl_status fcl_maxpool2d_fwd(fcl_ctx *ctx, fcl_tensor *y, fcl_tensor *idx, const fcl_tensor *x,
                             const fcl_pool2d_params *p)
{
    const char *op = "fcl_maxpool2d_fwd";
    fcl_status st;
    pool_dims d = {0};
    if ((st = pool_check(ctx, op, "x", x, "y", y, p, &d)) ||
        (st = fcl_op_check_opt(ctx, op, "idx", idx, 4, 4)) ||
        (idx && (st = fcl_op_check_same_shape(ctx, op, "idx", idx, "y", y))) ||
        (st = no_overlap(ctx, op, "y", y, x, idx)) || (st = no_overlap(ctx, op, "idx", idx, x, NULL)))
        return st;
    if ((size_t)d.H * (size_t)d.W >= ((size_t)1 << 24))
        return FCL_ERR(ERRP(ctx), FCL_ERR_SHAPE, "%s: planes of %dx%d are too large for float indices "
                         "(H*W must be < 2^24)", op, d.H, d.W);
    if (d.kh == 3 && d.kw == 3 && d.sh == 2 && d.sw == 2 && d.ph == 1 && d.pw == 1 && !gpu_shape(ctx)) {
        /* 3x3 / 2 pad 1 (ResNet's stem): one strip of 8 columns per work-item down a plane */
        cl_kernel k;
        if ((st = fcl_op_kernel(ctx, &SRC, "maxpool3s2_fwd", &k))) return st;
        return RUN3(ctx, k, 0, (int)fcl_op_div_up((size_t)d.OW, 8), 1, d.planes, OP_T(y), OP_T(idx), OP_T(x),
                    POOL_SIZES_VALS(d.H, d.W, d.OH, d.OW, d.planes), OP_I(idx != NULL));
    }
    return POOL_RUN(ctx, "maxpool_fwd", d.OW, 4, d.OH, d.planes, OP_T(y), OP_T(idx), OP_T(x),
                    POOL_WINDOW_VALS(d), OP_I(idx != NULL));
}

fcl_status fcl_maxpool2d_bwd(fcl_ctx *ctx, fcl_tensor *dx, const fcl_tensor *dy,
                             const fcl_tensor *idx, const fcl_pool2d_params *p)
{
    const char *op = "fcl_maxpool2d_bwd";
    fcl_status st;
    pool_dims d = {0};
    if ((st = pool_check(ctx, op, "dx", dx, "dy", dy, p, &d)) ||
        (st = fcl_op_check(ctx, op, "idx", idx, 4, 4)) ||
        (st = fcl_op_check_same_shape(ctx, op, "idx", idx, "dy", dy)) ||
        (st = no_overlap(ctx, op, "dx", dx, dy, idx)))
        return st;
    if (d.kh == 3 && d.kw == 3 && d.sh == 2 && d.sw == 2 && d.ph == 1 && d.pw == 1 && !gpu_shape(ctx)) {
        cl_kernel k; /* as the forward: strips of 16 input columns down a plane */
        if ((st = fcl_op_kernel(ctx, &SRC, "maxpool3s2_bwd", &k))) return st;
        return RUN3(ctx, k, 0, (int)fcl_op_div_up((size_t)d.OW, 8), 1, d.planes, OP_T(dx), OP_T(dy), OP_T(idx),
                    POOL_SIZES_VALS(d.H, d.W, d.OH, d.OW, d.planes));
    }
    return POOL_RUN(ctx, "maxpool_bwd", d.W, 8, d.H, d.planes, OP_T(dx), OP_T(dy), OP_T(idx),
                    POOL_WINDOW_VALS(d));
}

fcl_status fcl_avgpool2d_fwd(fcl_ctx *ctx, fcl_tensor *y, const fcl_tensor *x,
                             const fcl_pool2d_params *p)
{
    const char *op = "fcl_avgpool2d_fwd";
    fcl_status st;
    pool_dims d = {0};
    if ((st = pool_check(ctx, op, "x", x, "y", y, p, &d)) || (st = no_overlap(ctx, op, "y", y, x, NULL)))
        return st;
    /* the GPU shape an output a work-item, the CPU shape an output row (cl/pool.cl) */
    return POOL_RUN(ctx, "avgpool_fwd", gpu_shape(ctx) ? d.OW : 1, 1, d.OH, d.planes, OP_T(y), OP_T(x),
                    POOL_WINDOW_VALS(d), OP_I(p->count_include_pad != 0), OP_I(p->divisor_override));
}

fcl_status fcl_avgpool2d_bwd(fcl_ctx *ctx, fcl_tensor *dx, const fcl_tensor *dy,
                             const fcl_pool2d_params *p)
{
    const char *op = "fcl_avgpool2d_bwd";
    fcl_status st;
    pool_dims d = {0};
    if ((st = pool_check(ctx, op, "dx", dx, "dy", dy, p, &d)) ||
        (st = no_overlap(ctx, op, "dx", dx, dy, NULL)))
        return st;
    if (gpu_shape(ctx))
        return POOL_RUN(ctx, "avgpool_bwd", d.W, 8, d.H, d.planes, OP_T(dx), OP_T(dy), POOL_WINDOW_VALS(d),
                        OP_I(p->count_include_pad != 0), OP_I(p->divisor_override));
    /* CPU shape: dy / divisor once per output (avgpool_scale), then the gather (cl/pool.cl) */
    fcl_tensor g = {0};
    if ((st = fcl_op_temp(ctx, &g, (size_t)d.planes, (size_t)d.OH * (size_t)d.OW, 0)))
        return st;
    st = POOL_RUN(ctx, "avgpool_scale", 1, 1, d.OH, d.planes, OP_T(&g), OP_T(dy), POOL_WINDOW_VALS(d),
                  OP_I(p->count_include_pad != 0), OP_I(p->divisor_override));
    if (!st)
        st = POOL_RUN(ctx, "avgpool_bwd", 1, 1, d.H, d.planes, OP_T(dx), OP_T(&g), POOL_WINDOW_VALS(d));
    fcl_tensor_release(ctx, &g);   /* in-order queue: avgpool_bwd has read it */
    return st;
}

/* x [N, C, H, W] (input side) and y [N, C, OH, OW] or [N, C] (1x1) (output side), the one the
 * call writes (y, or x when x_written) apart from the other; the kernels' sizes into d. */
typedef struct adaptive_dims {
    int H, W, oh, ow, planes;
} adaptive_dims;

static fcl_status adaptive_check(fcl_ctx *ctx, const char *op, const char *nx, const fcl_tensor *x,
                                 const char *ny, const fcl_tensor *y, int x_written, adaptive_dims *d)
{
    fcl_status st;
    if ((st = fcl_op_check(ctx, op, nx, x, 4, 4)) || (st = fcl_op_check(ctx, op, ny, y, 2, 4))) return st;
    if (y->ndim == 3 || y->shape[0] != x->shape[0] || y->shape[1] != x->shape[1]) {
        char sx[96], sy[96];
        fcl_tensor_shape_str(x, sx, sizeof sx);
        fcl_tensor_shape_str(y, sy, sizeof sy);
        return FCL_ERR(ERRP(ctx), FCL_ERR_SHAPE, "%s: %s %s and %s %s: the output must be [N, C, OH, OW] "
                       "or [N, C] with the input's N and C", op, nx, sx, ny, sy);
    }
    d->oh = y->ndim == 4 ? (int)y->shape[2] : 1;
    d->ow = y->ndim == 4 ? (int)y->shape[3] : 1;
    d->H = (int)x->shape[2];
    d->W = (int)x->shape[3];
    d->planes = (int)(x->shape[0] * x->shape[1]);
    return x_written ? no_overlap(ctx, op, nx, x, y, NULL) : no_overlap(ctx, op, ny, y, x, NULL);
}

/* adaptive_avgpool_fwd / _bwd (CPU shape: no GPU variant), out from in, over (cols, rows, planes). */
static fcl_status adaptive_run(fcl_ctx *ctx, const char *name, int cols, int rows, const adaptive_dims *d,
                               const fcl_tensor *out, const fcl_tensor *in)
{
    cl_kernel k;
    fcl_status st = fcl_op_kernel(ctx, &SRC, name, &k);
    if (st) return st;
    return RUN3(ctx, k, 0, cols, rows, d->planes, OP_T(out), OP_T(in),
                POOL_SIZES_VALS(d->H, d->W, d->oh, d->ow, d->planes));
}

fcl_status fcl_adaptive_avgpool2d_fwd(fcl_ctx *ctx, fcl_tensor *y, const fcl_tensor *x)
{
    const char *op = "fcl_adaptive_avgpool2d_fwd";
    fcl_status st;
    cl_kernel k;
    adaptive_dims d;
    if ((st = adaptive_check(ctx, op, "x", x, "y", y, 0, &d)))
        return st;
    if (d.oh == 1 && d.ow == 1 && gpu_shape(ctx)) {   /* global average pooling: a reduction per plane */
        size_t l, g;
        if ((st = fcl_op_kernel(ctx, &SRC, "global_avgpool_fwd_wg", &k)) || (st = group_of(ctx, k, 1, &l))) return st;
        g = (size_t)d.planes * l;
        return FCL_OP_RUN_ND(ctx, k, 1, &g, &l, OP_T(y), OP_T(x), OP_I(d.H * d.W), OP_LOCAL(l * sizeof(float)));
    }
    return adaptive_run(ctx, "adaptive_avgpool_fwd", d.ow, d.oh, &d, y, x);
}

fcl_status fcl_adaptive_avgpool2d_bwd(fcl_ctx *ctx, fcl_tensor *dx, const fcl_tensor *dy)
{
    const char *op = "fcl_adaptive_avgpool2d_bwd";
    fcl_status st;
    adaptive_dims d;
    if ((st = adaptive_check(ctx, op, "dx", dx, "dy", dy, 1, &d)))
        return st;
    if (d.oh == 1 && d.ow == 1)   /* global average pooling: a broadcast */
        return FCL_OP_2D(ctx, &SRC, "global_avgpool_bwd", (size_t)d.H * (size_t)d.W, (size_t)d.planes, OP_T(dx),
                         OP_T(dy), OP_I(d.H * d.W), OP_I(d.planes));
    return adaptive_run(ctx, "adaptive_avgpool_bwd", d.W, d.H, &d, dx, dy);
}

/* The global pool is the adaptive pool to 1x1; this only insists on the 1x1 output shape. */
static fcl_status global_shape(fcl_ctx *ctx, const char *op, const char *ny, const fcl_tensor *y)
{
    fcl_status st = fcl_op_check(ctx, op, ny, y, 2, 4);
    if (st) return st;
    if (y->ndim == 2 || (y->ndim == 4 && y->shape[2] == 1 && y->shape[3] == 1)) return FCL_OK;
    char s[96];
    fcl_tensor_shape_str(y, s, sizeof s);
    return FCL_ERR(ERRP(ctx), FCL_ERR_SHAPE, "%s: %s must be [N, C] or [N, C, 1, 1], got %s", op, ny, s);
}

fcl_status fcl_global_avgpool_fwd(fcl_ctx *ctx, fcl_tensor *y, const fcl_tensor *x)
{
    fcl_status st = global_shape(ctx, "fcl_global_avgpool_fwd", "y", y);
    return st ? st : fcl_adaptive_avgpool2d_fwd(ctx, y, x);
}

fcl_status fcl_global_avgpool_bwd(fcl_ctx *ctx, fcl_tensor *dx, const fcl_tensor *dy)
{
    fcl_status st = global_shape(ctx, "fcl_global_avgpool_bwd", "dy", dy);
    return st ? st : fcl_adaptive_avgpool2d_bwd(ctx, dx, dy);
}
