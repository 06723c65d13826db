/* host/ops/conv.c: the public 2-D convolution ops: checks, algorithm choice, depthwise kernels (cl/conv_dw.cl), dispatch to the im2col-GEMM (conv_cpu.c) and GPU-shaped paths. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "facecl/ops_act.h"
#include "facecl/ops_conv.h"
#include "facecl/ops_eltwise.h"
#include "facecl/tuning.h"
#include "ops/conv_act.h"
#include "ops/conv_cpu.h"
#include "ops/conv_implicit.h"
#include "ops/conv_prep.h"
#include "ops/conv_wino.h"
#include "ops/conv_wino_s2_bwd.h"
#include "ops/conv_wino_wgrad.h"

/* The CPU-shaped kernels; every conv program is built with the "conv" tuning. */
static const fcl_op_src CONV = {"conv_act.cl+conv_common.cl+conv.cl", FCL_TF_CONV}, CONV_DW = {"conv_act.cl+conv_dw.cl", FCL_TF_CONV};

/* ---- shapes -------------------------------------------------------------------------------- */

int fcl_conv2d_out_size(int in, int k, int stride, int pad, int dil)
{
    if (stride <= 0) return 0;
    long long num = (long long)in + 2LL * pad - ((long long)dil * (k - 1) + 1);
    if (num < 0) return 0;
    long long out = num / stride + 1;
    return out > INT_MAX ? INT_MAX : (int)out;
}

static int applies_1x1(const fcl_conv2d_params *p)
{
    return p->kh == 1 && p->kw == 1 && p->stride_h == 1 && p->stride_w == 1 && p->pad_h == 0 &&
           p->pad_w == 0;
}

static int applies_dw(const fcl_conv2d_params *p)
{
    return p->groups == p->cin && p->groups == p->cout;
}

fcl_status fcl_conv2d_check(const fcl_conv2d_params *p, int *oh, int *ow, fcl_error *err)
{
    if (!p) return FCL_ERR(err, FCL_ERR_INVALID_ARG, "conv2d: params are NULL");
    const struct { const char *name; int v, min; } f[] = {
        {"n", p->n, 1}, {"cin", p->cin, 1}, {"h", p->h, 1}, {"w", p->w, 1}, {"cout", p->cout, 1},
        {"kh", p->kh, 1}, {"kw", p->kw, 1}, {"stride_h", p->stride_h, 1},
        {"stride_w", p->stride_w, 1}, {"pad_h", p->pad_h, 0}, {"pad_w", p->pad_w, 0},
        {"dil_h", p->dil_h, 1}, {"dil_w", p->dil_w, 1}, {"groups", p->groups, 1}};
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
        if (f[i].v < f[i].min)
            return FCL_ERR(err, FCL_ERR_SHAPE, "conv2d: %s = %d, must be >= %d", f[i].name, f[i].v, f[i].min);
    if (p->cin % p->groups || p->cout % p->groups)
        return FCL_ERR(err, FCL_ERR_SHAPE, "conv2d: cin %d and cout %d must both be multiples of groups %d",
                       p->cin, p->cout, p->groups);
    int h = fcl_conv2d_out_size(p->h, p->kh, p->stride_h, p->pad_h, p->dil_h);
    int w = fcl_conv2d_out_size(p->w, p->kw, p->stride_w, p->pad_w, p->dil_w);
    if (h < 1 || w < 1)
        return FCL_ERR(err, FCL_ERR_SHAPE, "conv2d: a %dx%d kernel (dilation %dx%d) does not fit the %dx%d input "
                       "padded by %dx%d", p->kh, p->kw, p->dil_h, p->dil_w, p->h, p->w, p->pad_h, p->pad_w);
    /* every tensor is indexed with 32-bit ints in the kernels */
    double x = (double)p->n * p->cin * p->h * p->w, y = (double)p->n * p->cout * h * w;
    double wt = (double)p->cout * (p->cin / p->groups) * p->kh * p->kw;
    if (x >= INT_MAX || y >= INT_MAX || wt >= INT_MAX)
        return FCL_ERR(err, FCL_ERR_SHAPE, "conv2d: input (%.0f), output (%.0f) or weight (%.0f) elements exceed "
                       "32-bit indexing", x, y, wt);
    switch (p->algo) {
    case FCL_CONV_AUTO:
    case FCL_CONV_GEMM: break;
    case FCL_CONV_1X1:
        if (!applies_1x1(p))
            return FCL_ERR(err, FCL_ERR_INVALID_ARG, "conv2d: algo 1x1 needs a 1x1 kernel, stride 1 and no padding "
                           "(got %dx%d, stride %dx%d, pad %dx%d)", p->kh, p->kw, p->stride_h, p->stride_w,
                           p->pad_h, p->pad_w);
        break;
    case FCL_CONV_WINOGRAD: /* stride 2: the forward and the data gradient (the weight gradient on the GEMMs) */
        if (!fcl_conv_wino_applies(p) && !fcl_conv_wino_s2_applies(p))
            return FCL_ERR(err, FCL_ERR_INVALID_ARG, "conv2d: algo winograd needs a dense (groups 1) 3x3 kernel, "
                           "stride 1 or 2x2, dilation 1 and padding 0..2 (got %dx%d, groups %d, stride %dx%d, dilation "
                           "%dx%d, pad %dx%d)", p->kh, p->kw, p->groups, p->stride_h, p->stride_w, p->dil_h,
                           p->dil_w, p->pad_h, p->pad_w);
        break;
    case FCL_CONV_IMPLICIT:
        if (p->groups != 1)
            return FCL_ERR(err, FCL_ERR_INVALID_ARG, "conv2d: algo implicit needs a dense conv (groups 1, got %d)",
                           p->groups);
        break;
    case FCL_CONV_DEPTHWISE:
        if (!applies_dw(p))
            return FCL_ERR(err, FCL_ERR_INVALID_ARG, "conv2d: algo depthwise needs groups == cin == cout (got %d, %d, %d)",
                           p->groups, p->cin, p->cout);
        break;
    default: return FCL_ERR(err, FCL_ERR_INVALID_ARG, "conv2d: unknown algo %d", p->algo);
    }
    if (p->out_act < FCL_CONV_ACT_NONE || p->out_act > FCL_CONV_ACT_RELU6)
        return FCL_ERR(err, FCL_ERR_INVALID_ARG, "conv2d: unknown out_act %d (0 none, 1 relu, 2 relu6)", p->out_act);
    if (oh) *oh = h;
    if (ow) *ow = w;
    return FCL_OK;
}

fcl_conv2d_algo fcl_conv2d_algo_of(const fcl_conv2d_params *p)
{
    if (p->algo) return (fcl_conv2d_algo)p->algo;
    if (applies_dw(p)) return FCL_CONV_DEPTHWISE;
    if (applies_1x1(p)) return FCL_CONV_1X1;
    return FCL_CONV_GEMM;
}

fcl_conv2d_algo fcl_conv2d_algo_in(fcl_ctx *ctx, const fcl_conv2d_params *p, int weight_grad)
{
    fcl_conv_tune t;
    fcl_conv2d_algo a = fcl_conv2d_algo_of(p);
    const int ok = !fcl_conv2d_check(p, NULL, NULL, NULL) && !fcl_conv_tune_get(ctx, &t);
    if (weight_grad == 1 && ok && fcl_conv_implicit_use(ctx, &t, p, FCL_CIM_WGRAD)) return FCL_CONV_IMPLICIT;
    if (weight_grad == 1) /* as conv_bwd */
        return ok && fcl_conv_wgrad_use(ctx, &t, p) ? FCL_CONV_WINOGRAD
                                                    : a == FCL_CONV_WINOGRAD || a == FCL_CONV_IMPLICIT ? FCL_CONV_GEMM : a;
    if (ok && !weight_grad && fcl_conv_wino_s2_use(&t, p)) return FCL_CONV_WINOGRAD; /* as fcl_conv2d_fwd_res */
    if (ok && weight_grad == 2 && fcl_conv_wino_s2_bwd_use(ctx, &t, p)) return FCL_CONV_WINOGRAD; /* as conv_bwd */
    if (ok && fcl_conv_implicit_use(ctx, &t, p, weight_grad == 2 ? FCL_CIM_DATA : FCL_CIM_FWD)) return FCL_CONV_IMPLICIT;
    if (a == FCL_CONV_WINOGRAD && fcl_conv_wino_s2_applies(p)) return FCL_CONV_GEMM; /* only when !ok (unchecked) */
    return ok && fcl_conv_wino_use(&t, p) ? FCL_CONV_WINOGRAD : a == FCL_CONV_IMPLICIT ? FCL_CONV_GEMM : a;
}

const char *fcl_conv2d_algo_name(fcl_conv2d_algo a)
{
    switch (a) {
    case FCL_CONV_GEMM: return "gemm";
    case FCL_CONV_1X1: return "1x1";
    case FCL_CONV_DEPTHWISE: return "depthwise";
    case FCL_CONV_WINOGRAD: return "winograd";
    case FCL_CONV_IMPLICIT: return "implicit";
    default: return "auto";
    }
}

double fcl_conv2d_flops(const fcl_conv2d_params *p)
{
    int oh = fcl_conv2d_out_size(p->h, p->kh, p->stride_h, p->pad_h, p->dil_h);
    int ow = fcl_conv2d_out_size(p->w, p->kw, p->stride_w, p->pad_w, p->dil_w);
    if (p->groups < 1) return 0;
    return 2.0 * p->n * p->cout * oh * ow * (double)(p->cin / p->groups) * p->kh * p->kw;
}

void fcl_conv_geom_args(fcl_op_args *a, const fcl_conv2d_params *p)
{
    fcl_op_arg_i(a, p->kh); fcl_op_arg_i(a, p->kw); fcl_op_arg_i(a, p->stride_h); fcl_op_arg_i(a, p->stride_w);
    fcl_op_arg_i(a, p->pad_h); fcl_op_arg_i(a, p->pad_w); fcl_op_arg_i(a, p->dil_h); fcl_op_arg_i(a, p->dil_w);
}

/* ---- depthwise ------------------------------------------------------------------------------------ */

/* The dedicated 3x3 kernels (conv_dw3_*): pad 1, dilation 1, equal strides of 1 or 2. */
static int dw3_applies(const fcl_conv2d_params *p)
{
    return p->kh == 3 && p->kw == 3 && p->pad_h == 1 && p->pad_w == 1 && p->dil_h == 1 && p->dil_w == 1 &&
           p->stride_h == p->stride_w && (p->stride_h == 1 || p->stride_h == 2);
}

/* The depthwise forward kernels' first arguments: out, in, w, then the optional bias as (buffer,
 * offset, present) with w's buffer standing in when there is none. */
static void arg_out_in_w_bias(fcl_op_args *a, fcl_tensor *out, const fcl_tensor *in, const fcl_tensor *w,
                              const fcl_tensor *b)
{
    fcl_op_arg_t(a, out);
    fcl_op_arg_t(a, in);
    fcl_op_arg_t(a, w);
    fcl_op_arg_m(a, b ? b->buf : w->buf);
    fcl_op_arg_i(a, b ? (int)b->offset : 0);
    fcl_op_arg_i(a, b != NULL);
}

/* Planes per work-item of the 3x3 kernels, whose work-items each walk one 8-column strip down
 * `rows` rows: about DW3_WORK_ROWS strip rows per work-item, while keeping at least 32 work-items
 * (2 threads, balanced). MobileNetV2 @112 batch 32: 1 plane at 56^2 and 28^2, 2 at 14^2, 4 at
 * 7^2 (18432 work-groups of 7 rows otherwise), 8 at 4^2; the sums are the same at any value.
 * 128 rows (2 planes at 56^2) made the 56^2 layers 15-45% slower (CPU ms, loaded, 2 A/B pairs). */
#define DW3_WORK_ROWS 32
static int dw3_ppw(int nc, int strips, int rows)
{
    long ppw = DW3_WORK_ROWS / (rows > 0 ? rows : 1), most = (long)nc * strips / 32;
    if (ppw > most) ppw = most;
    return ppw < 1 ? 1 : (int)ppw;
}

/* conv_dw3_fwd: out (+)= act(conv(in, w or w rotated) + bias), act an fcl_conv2d_act. */
static fcl_status dw3_fwd(fcl_ctx *ctx, const fcl_conv_tune *t, fcl_tensor *out, const fcl_tensor *in,
                          const fcl_tensor *w, const fcl_tensor *b, int flip, int accumulate, int act, int nc,
                          int C, int H, int W, int OH, int OW, int s)
{
    fcl_op_args a;
    if (fcl_conv_start(ctx, &CONV_DW, "conv_dw3_fwd", &a)) return a.st;
    arg_out_in_w_bias(&a, out, in, w, b);
    fcl_op_arg_i(&a, flip); fcl_op_arg_i(&a, accumulate); fcl_op_arg_i(&a, act);
    fcl_op_arg_i(&a, C); fcl_op_arg_i(&a, H); fcl_op_arg_i(&a, W); fcl_op_arg_i(&a, OH); fcl_op_arg_i(&a, OW);
    fcl_op_arg_i(&a, s);
    const size_t strips = fcl_op_div_up((size_t)OW, 8);
    const int ppw = dw3_ppw(nc, (int)strips, OH);
    fcl_op_arg_i(&a, nc); fcl_op_arg_i(&a, ppw);
    return fcl_conv_launch(t, &a, 2, strips, fcl_op_div_up((size_t)nc, (size_t)ppw), 1, 0);
}

static fcl_status dw_fwd(fcl_ctx *ctx, const fcl_conv_tune *t, fcl_tensor *y, const fcl_tensor *x,
                         const fcl_tensor *w, const fcl_tensor *b, const fcl_conv2d_params *p, int oh, int ow)
{
    if (dw3_applies(p))
        return dw3_fwd(ctx, t, y, x, w, b, 0, 0, p->out_act, p->n * p->cin, p->cin, p->h, p->w, oh, ow,
                       p->stride_h);
    fcl_op_args a;
    if (fcl_conv_start(ctx, &CONV_DW, "conv_dw_fwd", &a)) return a.st;
    arg_out_in_w_bias(&a, y, x, w, b);
    fcl_op_arg_i(&a, p->out_act);
    fcl_op_arg_i(&a, p->cin); fcl_op_arg_i(&a, p->h); fcl_op_arg_i(&a, p->w);
    fcl_conv_geom_args(&a, p);
    fcl_op_arg_i(&a, oh); fcl_op_arg_i(&a, ow);
    return fcl_conv_launch(t, &a, 3, fcl_op_div_up((size_t)ow, 8), (size_t)oh, (size_t)p->n * p->cin, 0);
}

static fcl_status dw_bwd_data(fcl_ctx *ctx, const fcl_conv_tune *t, fcl_tensor *dx, const fcl_tensor *dy,
                              const fcl_tensor *w, const fcl_conv2d_params *p, int oh, int ow)
{
    fcl_op_args a;
    if (dw3_applies(p) && p->stride_h == 1) /* dx += conv(dy, w rotated 180 degrees), same size */
        return dw3_fwd(ctx, t, dx, dy, w, NULL, 1, 1, FCL_CONV_ACT_NONE, p->n * p->cin, p->cin, oh, ow, p->h, p->w, 1);
    if (dw3_applies(p)) {
        if (fcl_conv_start(ctx, &CONV_DW, "conv_dw3_bwd_data_s2", &a)) return a.st;
        fcl_op_arg_t(&a, dx);
        fcl_op_arg_t(&a, dy);
        fcl_op_arg_t(&a, w);
        fcl_op_arg_i(&a, p->cin); fcl_op_arg_i(&a, p->h); fcl_op_arg_i(&a, p->w); fcl_op_arg_i(&a, oh);
        fcl_op_arg_i(&a, ow);
        const int nc = p->n * p->cin;
        const size_t strips = fcl_op_div_up((size_t)p->w, 16);
        const int ppw = dw3_ppw(nc, (int)strips, p->h);
        fcl_op_arg_i(&a, nc); fcl_op_arg_i(&a, ppw);
        return fcl_conv_launch(t, &a, 2, strips, fcl_op_div_up((size_t)nc, (size_t)ppw), 1, 0);
    }
    if (fcl_conv_start(ctx, &CONV_DW, "conv_dw_bwd_data", &a)) return a.st;
    fcl_op_arg_t(&a, dx);
    fcl_op_arg_t(&a, dy);
    fcl_op_arg_t(&a, w);
    fcl_op_arg_i(&a, p->cin); fcl_op_arg_i(&a, p->h); fcl_op_arg_i(&a, p->w);
    fcl_conv_geom_args(&a, p);
    fcl_op_arg_i(&a, oh); fcl_op_arg_i(&a, ow);
    return fcl_conv_launch(t, &a, 3, fcl_op_div_up((size_t)p->w, 8), (size_t)p->h, (size_t)p->n * p->cin, 0);
}

static fcl_status dw_bwd_weight(fcl_ctx *ctx, const fcl_conv_tune *t, fcl_tensor *dw, const fcl_tensor *dy,
                                const fcl_tensor *x, const fcl_conv2d_params *p, int oh, int ow)
{
    fcl_op_args a;
    if (dw3_applies(p)) {
        if (fcl_conv_start(ctx, &CONV_DW, "conv_dw3_bwd_weight", &a)) return a.st;
        fcl_op_arg_t(&a, dw);
        fcl_op_arg_t(&a, dy);
        fcl_op_arg_t(&a, x);
        fcl_op_arg_i(&a, p->n); fcl_op_arg_i(&a, p->cin); fcl_op_arg_i(&a, p->h); fcl_op_arg_i(&a, p->w);
        fcl_op_arg_i(&a, oh); fcl_op_arg_i(&a, ow);
        fcl_op_arg_i(&a, p->stride_h);
        return fcl_conv_launch(t, &a, 1, (size_t)p->cin, 1, 1, 0);
    }
    if (fcl_conv_start(ctx, &CONV_DW, "conv_dw_bwd_weight", &a)) return a.st;
    fcl_op_arg_t(&a, dw);
    fcl_op_arg_t(&a, dy);
    fcl_op_arg_t(&a, x);
    fcl_op_arg_i(&a, p->n); fcl_op_arg_i(&a, p->cin); fcl_op_arg_i(&a, p->h); fcl_op_arg_i(&a, p->w);
    fcl_conv_geom_args(&a, p);
    fcl_op_arg_i(&a, oh); fcl_op_arg_i(&a, ow);
    return fcl_conv_launch(t, &a, 2, (size_t)p->kh * p->kw, (size_t)p->cin, 1, 0);
}

/* ---- public entry points --------------------------------------------------------------------------- */

static double wnumel(const fcl_conv2d_params *p)
{
    return (double)p->cout * (p->cin / p->groups) * p->kh * p->kw;
}

/* ---- the directions -------------------------------------------------------------------------- */

/* A tensor argument of a direction: its name, the tensor, which element count the params give
 * it, and whether it may be NULL (the forward's bias). */
enum { CT_X, CT_Y, CT_W, CT_B };
typedef struct conv_arg {
    const char *name;
    const fcl_tensor *t;
    int kind, optional;
} conv_arg;

/* What every direction does first: checks the params (an out_act only for the forward, fwd 1),
 * each tensor's element count (in the order given), that the output args[out] shares no memory
 * with the others, and reads the tuning. */
static fcl_status begin(fcl_ctx *ctx, const char *op, const fcl_conv2d_params *p, const conv_arg *args, int n,
                        int out, int fwd, int *oh, int *ow, fcl_conv_tune *t)
{
    fcl_status st = fcl_conv2d_check(p, oh, ow, ERRP(ctx));
    if (!st && !fwd && p->out_act)
        return FCL_ERR(ERRP(ctx), FCL_ERR_INVALID_ARG, "%s: out_act %d is applied by the forward only (run the "
                       "activation's backward, then this with out_act 0)", op, p->out_act);
    for (int i = 0; i < n && !st; i++) {
        double want[] = {(double)p->n * p->cin * p->h * p->w, (double)p->n * p->cout * *oh * *ow, wnumel(p),
                         p->cout};
        if (args[i].t || !args[i].optional)
            st = fcl_op_check_count(ctx, op, args[i].name, args[i].t, want[args[i].kind]);
    }
    for (int i = 0; i < n && !st; i++)
        if (i != out) st = fcl_op_check_apart(ctx, op, args[out].name, args[out].t, args[i].name, args[i].t);
    return st ? st : fcl_conv_tune_get(ctx, t);
}


/* The forward paths, and whether each applies p->out_act in its own kernels (or calls
 * fcl_conv_act_pass itself for its variants that do not): 1; 0: fcl_conv2d_fwd runs the in-place
 * pass after it. A path flips its entry when its epilogue lands (tests/test_ops_conv_act.c forces every
 * path with out_act against the double reference either way). */
typedef enum fwd_path { FWD_GEMM, FWD_WINO, FWD_DW, FWD_GPU, FWD_GPU_DW, FWD_IMPLICIT, FWD_PATHS } fwd_path;
static const unsigned char FUSES_ACT[FWD_PATHS] = {[FWD_GEMM] = 1, [FWD_WINO] = 1, [FWD_DW] = 1, [FWD_GPU] = 0,
                                                   [FWD_GPU_DW] = 0, [FWD_IMPLICIT] = 1};
/* Likewise for a residual r (fcl_conv2d_fwd_res): 1 when the path adds r (after the bias, before
 * the activation) in its kernels; 0: the path runs without the activation and one act_add pass
 * (fcl_act_add_fwd, or fcl_add_fwd) follows. */
static const unsigned char FUSES_ADD[FWD_PATHS] = {[FWD_GEMM] = 1, [FWD_WINO] = 1, [FWD_DW] = 0, [FWD_GPU] = 0,
                                                   [FWD_GPU_DW] = 0, [FWD_IMPLICIT] = 0};

fcl_status fcl_conv_act_pass(fcl_ctx *ctx, fcl_tensor *y, const fcl_conv2d_params *p)
{
    if (p->out_act == FCL_CONV_ACT_NONE) return FCL_OK;
    fcl_act_params a = {p->out_act == FCL_CONV_ACT_RELU6 ? FCL_ACT_RELU6 : FCL_ACT_RELU, 0.0f};
    return fcl_act_fwd(ctx, y, y, &a);
}

fcl_status fcl_conv2d_fwd(fcl_ctx *ctx, fcl_tensor *y, const fcl_tensor *x, const fcl_tensor *w,
                          const fcl_tensor *b, const fcl_conv2d_params *p)
{
    return fcl_conv2d_fwd_prep(ctx, y, x, w, b, p, NULL);
}

fcl_status fcl_conv2d_fwd_prep(fcl_ctx *ctx, fcl_tensor *y, const fcl_tensor *x, const fcl_tensor *w,
                               const fcl_tensor *b, const fcl_conv2d_params *p, fcl_conv_prep *prep)
{
    return fcl_conv2d_fwd_res(ctx, y, x, w, b, NULL, p, prep);
}

/* The path's own activation, or, where a residual is added after it, none (the act_add pass
 * applies it after the add). */
static fcl_status act_add_pass(fcl_ctx *ctx, fcl_tensor *y, const fcl_tensor *r, const fcl_conv2d_params *p)
{
    fcl_act_params a = {p->out_act == FCL_CONV_ACT_RELU6 ? FCL_ACT_RELU6 : FCL_ACT_RELU, 0.0f};
    return p->out_act ? fcl_act_add_fwd(ctx, y, y, r, &a) : fcl_add_fwd(ctx, y, y, r);
}

fcl_status fcl_conv2d_fwd_res(fcl_ctx *ctx, fcl_tensor *y, const fcl_tensor *x, const fcl_tensor *w,
                              const fcl_tensor *b, const fcl_tensor *r, const fcl_conv2d_params *p0,
                              fcl_conv_prep *prep)
{
    static const char op[] = "fcl_conv2d_fwd";
    fcl_status st;
    int oh, ow;
    fcl_conv_tune t;
    fwd_path path;
    const conv_arg args[] = {{"x", x, CT_X, 0}, {"w", w, CT_W, 0}, {"b", b, CT_B, 1}, {"r", r, CT_Y, 1},
                             {"y", y, CT_Y, 0}};
    if ((st = begin(ctx, op, p0, args, 5, 4, 1, &oh, &ow, &t))) goto fail;

    const int dw = fcl_conv2d_algo_of(p0) == FCL_CONV_DEPTHWISE;
    fcl_conv2d_params q = *p0; /* with r, paths that do not add it run without the activation */
    const fcl_conv2d_params *p = &q;
    path = fcl_conv_wino_use(&t, p) || fcl_conv_wino_s2_use(&t, p) ? FWD_WINO : fcl_conv_implicit_use(ctx, &t, p, FCL_CIM_FWD) ? FWD_IMPLICIT
           : t.gpu && dw ? FWD_GPU_DW : t.gpu ? FWD_GPU : dw ? FWD_DW : FWD_GEMM;
    if (r && !FUSES_ADD[path]) q.out_act = FCL_CONV_ACT_NONE;
    if (path == FWD_WINO)
        st = fcl_conv_wino_fwd(ctx, &t, y, x, w, b, p, oh, ow, prep, r);
    else if (path == FWD_IMPLICIT)
        st = fcl_conv_implicit_fwd(ctx, &t, y, x, w, b, p, oh, ow);
    else if (path == FWD_GPU_DW)
        st = fcl_conv_dw_gpu_fwd(ctx, &t.g, y, x, w, b, p, oh, ow);
    else if (path == FWD_GPU)
        st = fcl_conv_gpu_fwd(ctx, &t.g, y, x, w, b, p, oh, ow);
    else if (path == FWD_DW)
        st = dw_fwd(ctx, &t, y, x, w, b, p, oh, ow);
    else
        st = fcl_conv_gemm_fwd(ctx, &t, y, x, w, b, r, p, oh, ow, prep);
    if (!st && !FUSES_ACT[path]) st = fcl_conv_act_pass(ctx, y, p);
    if (!st && r && !FUSES_ADD[path]) st = act_add_pass(ctx, y, r, p0);
fail:
    return st;
}

/* A backward direction (out, dy, the other operand: dx, dy, w or dw, dy, x): the GPU-shaped
 * kernels (dense or depthwise) when the tuning asks for them, the CPU depthwise kernels for a
 * depthwise conv, else the CPU-shaped GEMMs. */
typedef fcl_status (*gpu_bwd_fn)(fcl_ctx *, const fcl_conv_gpu_tune *, fcl_tensor *, const fcl_tensor *,
                                 const fcl_tensor *, const fcl_conv2d_params *, int, int);
typedef fcl_status (*cpu_bwd_fn)(fcl_ctx *, const fcl_conv_tune *, fcl_tensor *, const fcl_tensor *, const fcl_tensor *,
                                 const fcl_conv2d_params *, int, int);
typedef struct bwd_dir {
    const char *op, *out, *other;      /* names for messages */
    int out_kind, other_kind;         /* CT_* */
    gpu_bwd_fn gpu, gpu_dw;
    cpu_bwd_fn dw, gemm;
} bwd_dir;

static const bwd_dir BWD_DATA = {"fcl_conv2d_bwd_data", "dx", "w", CT_X, CT_W,
                                 fcl_conv_gpu_bwd_data, fcl_conv_dw_gpu_bwd_data, dw_bwd_data, fcl_conv_gemm_bwd_data};
static const bwd_dir BWD_WEIGHT = {"fcl_conv2d_bwd_weight", "dw", "x", CT_W, CT_X,
                                   fcl_conv_gpu_bwd_weight, fcl_conv_dw_gpu_bwd_weight, dw_bwd_weight, fcl_conv_gemm_bwd_weight};

static fcl_status conv_bwd(fcl_ctx *ctx, const bwd_dir *f, fcl_tensor *out, const fcl_tensor *dy,
                           const fcl_tensor *other, const fcl_conv2d_params *p)
{
    int oh, ow;
    fcl_conv_tune t;
    const conv_arg args[] = {{f->out, out, f->out_kind, 0}, {"dy", dy, CT_Y, 0}, {f->other, other, f->other_kind, 0}};
    fcl_status st = begin(ctx, f->op, p, args, 3, 0, 0, &oh, &ow, &t);
    if (st) return st;
    int dw = fcl_conv2d_algo_of(p) == FCL_CONV_DEPTHWISE;
    if (f == &BWD_DATA && fcl_conv_wino_use(&t, p)) return fcl_conv_wino_bwd_data(ctx, &t, out, dy, other, p, oh, ow);
    if (f == &BWD_DATA && fcl_conv_wino_s2_bwd_use(ctx, &t, p))
        return fcl_conv_wino_s2_bwd_data(ctx, &t, out, dy, other, p, oh, ow);
    if (f == &BWD_DATA && fcl_conv_implicit_use(ctx, &t, p, FCL_CIM_DATA))
        return fcl_conv_implicit_bwd_data(ctx, &t, out, dy, other, p, oh, ow);
    if (f == &BWD_WEIGHT && fcl_conv_implicit_use(ctx, &t, p, FCL_CIM_WGRAD))
        return fcl_conv_implicit_bwd_weight(ctx, &t, out, dy, other, p, oh, ow);
    if (f == &BWD_WEIGHT && fcl_conv_wgrad_use(ctx, &t, p)) return fcl_conv_wgrad(ctx, &t, out, dy, other, p, oh, ow);
    if (t.gpu) return (dw ? f->gpu_dw : f->gpu)(ctx, &t.g, out, dy, other, p, oh, ow);
    return (dw ? f->dw : f->gemm)(ctx, &t, out, dy, other, p, oh, ow);
}

fcl_status fcl_conv2d_bwd_data(fcl_ctx *ctx, fcl_tensor *dx, const fcl_tensor *dy, const fcl_tensor *w,
                               const fcl_conv2d_params *p)
{
    return conv_bwd(ctx, &BWD_DATA, dx, dy, w, p);
}

fcl_status fcl_conv2d_bwd_weight(fcl_ctx *ctx, fcl_tensor *dw, const fcl_tensor *dy, const fcl_tensor *x,
                                 const fcl_conv2d_params *p)
{
    return conv_bwd(ctx, &BWD_WEIGHT, dw, dy, x, p);
}

fcl_status fcl_conv2d_bwd_bias(fcl_ctx *ctx, fcl_tensor *db, const fcl_tensor *dy, const fcl_conv2d_params *p)
{
    static const char op[] = "fcl_conv2d_bwd_bias";
    fcl_status st;
    int oh, ow;
    fcl_conv_tune t;
    fcl_op_args a;
    const conv_arg args[] = {{"db", db, CT_B, 0}, {"dy", dy, CT_Y, 0}};
    if ((st = begin(ctx, op, p, args, 2, 0, 0, &oh, &ow, &t))) goto fail;
    if (t.gpu) {
        st = fcl_conv_gpu_bwd_bias(ctx, &t.g, db, dy, p, oh, ow);
        goto fail;
    }
    if ((st = fcl_conv_start(ctx, &CONV, "conv_bias_grad", &a))) goto fail;
    fcl_op_arg_t(&a, db);
    fcl_op_arg_t(&a, dy);
    fcl_op_arg_i(&a, p->cout); fcl_op_arg_i(&a, oh * ow); fcl_op_arg_i(&a, p->n);
    st = fcl_conv_launch(&t, &a, 1, (size_t)p->cout, 1, 1, 0);
fail:
    return st;
}

fcl_status fcl_conv2d_bwd(fcl_ctx *ctx, fcl_tensor *dx, fcl_tensor *dw, fcl_tensor *db, const fcl_tensor *dy,
                          const fcl_tensor *x, const fcl_tensor *w, const fcl_conv2d_params *p)
{
    fcl_status st = FCL_OK;
    if (dx && (st = fcl_conv2d_bwd_data(ctx, dx, dy, w, p))) goto fail;
    if (dw && (st = fcl_conv2d_bwd_weight(ctx, dw, dy, x, p))) goto fail;
    if (db && (st = fcl_conv2d_bwd_bias(ctx, db, dy, p))) goto fail;
fail:
    return st;
}
