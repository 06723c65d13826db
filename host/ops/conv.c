/* host/ops/conv.c: launchers of 2-D convolution (cl/conv.cl, cl/conv_dw.cl): checks, algorithm choice, im2col chunking. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "facecl/ops_conv.h"
#include "facecl/tuning.h"
#include "ops/conv_gpu.h"
#include "ops/op_util.h"

/* The CPU-shaped kernels; every conv program is built with the "conv" tuning. */
static const fcl_op_src CONV = {"conv.cl", FCL_TF_CONV}, CONV_DW = {"conv_dw.cl", FCL_TF_CONV};

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
    case FCL_CONV_DEPTHWISE:
        if (!applies_dw(p))
            return FCL_ERR(err, FCL_ERR_INVALID_ARG, "conv2d: algo depthwise needs groups == cin == cout (got %d, %d, %d)",
                           p->groups, p->cin, p->cout);
        break;
    default: return FCL_ERR(err, FCL_ERR_INVALID_ARG, "conv2d: unknown algo %d", p->algo);
    }
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

const char *fcl_conv2d_algo_name(fcl_conv2d_algo a)
{
    switch (a) {
    case FCL_CONV_GEMM: return "gemm";
    case FCL_CONV_1X1: return "1x1";
    case FCL_CONV_DEPTHWISE: return "depthwise";
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

/* ---- tuning ---------------------------------------------------------------------------------- */

/* The context's "conv" tuning values (host/runtime/tuning_table.c, checked when set): the build
 * options of conv.cl / conv_dw.cl, the register-block sizes (they set the global sizes) and the
 * values only the host uses (local sizes, im2col chunk budget, the GPU-shaped kernels' tile). */
typedef struct conv_tune {
    int mb, nv, nb;        /* conv_gemm_nn: rows x (nv vectors of CONV_VW) columns per work-item, nb = VW * nv */
    int tm, tn;            /* conv_gemm_nt: rows of dy x rows of B per work-item */
    int lnn, lnt;          /* work-group size along dim 0 of conv_gemm_nn / _nt; 0: driver's choice */
    int lother;            /* the same for the other kernels (im2col, pack, depthwise, ...) */
    int col_kb;            /* im2col buffer budget (KiB): images are processed in chunks that fit */
    int gpu;               /* CONV_GPU 1: the GPU-shaped kernels of host/ops/conv_gpu.c instead */
    fcl_conv_gpu_tune g;   /* their tile, group size and subgroup switch */
} conv_tune;

static fcl_status get_tune(fcl_ctx *ctx, conv_tune *t)
{
#define T(id) fcl_tuning_int(ctx, FCL_T_CONV_##id)
    t->mb = T(MB);
    t->nv = T(NV);
    t->nb = T(VW) * t->nv;
    t->tm = T(TM);
    t->tn = T(TN);
    t->lnn = T(LNN);
    t->lnt = T(LNT);
    t->lother = T(LOCAL);
    t->col_kb = T(COL_KB);
    t->gpu = T(GPU);
    fcl_conv_gpu_tune g = {T(GM), T(GN), T(GK), T(GWM), T(GWN), T(GWG), T(USE_SG), t->col_kb, T(GSPLIT)};
#undef T
    t->g = g;
    return FCL_OK;
}

/* ---- kernel launches ------------------------------------------------------------------------ */

/* Starts binding the arguments of kernel `name` of src (a failure sticks in a->st). */
static fcl_status start(fcl_ctx *ctx, const fcl_op_src *src, const char *name, fcl_op_args *a)
{
    cl_kernel k = NULL;
    fcl_status st = fcl_op_kernel(ctx, src, name, &k);
    fcl_op_args_init(a, ctx, k, NULL);
    a->st = st;
    return st;
}

/* Enqueues over dims dimensions with a work-group of l0 (0: the tuning's CONV_LOCAL) x 1 x 1,
 * or the driver's choice when that is 0 too. PoCL's own choice can put a whole NDRange in a
 * few work-groups and so on one thread; the CPU row sets small groups. */
static fcl_status launch(const conv_tune *t, fcl_op_args *a, unsigned dims, size_t g0, size_t g1, size_t g2, size_t l0)
{
    if (!l0) l0 = (size_t)t->lother;
    size_t g[3] = {g0, g1, g2}, l[3] = {l0, 1, 1};
    return fcl_op_args_run(a, dims, g, l0 ? l : NULL);
}

static size_t cdiv(size_t a, size_t b) { return (a + b - 1) / b; }

/* ---- the GEMM kernels ---------------------------------------------------------------------------- */

/* One operand of conv_gemm_nn / conv_gemm_nt: element (row r, column n = img * P + p) of group g
 * is at off + g * gs + img * img_stride + r * row + p (cl/conv.cl). */
typedef struct operand {
    cl_mem buf;
    int off, img, row, g;
    int contig;             /* rows run contiguously over all columns (padded buffer) */
} operand;

/* An operand's buffer, offset and strides (image, row, group). */
static void arg_opnd(fcl_op_args *x, const operand *o)
{
    fcl_op_arg_m(x, o->buf);
    fcl_op_arg_i(x, o->off); fcl_op_arg_i(x, o->img); fcl_op_arg_i(x, o->row); fcl_op_arg_i(x, o->g);
}

/* c (+)= A * b (+ bias), A packed by pack() for these M, K. */
static fcl_status gemm_nn(fcl_ctx *ctx, const conv_tune *t, int G, int M, int K, int P, int ncols,
                          cl_mem a, const operand *b, const operand *c, const fcl_tensor *bias,
                          int accumulate)
{
    fcl_op_args x;
    if (start(ctx, &CONV, "conv_gemm_nn", &x)) return x.st;
    fcl_op_arg_i(&x, M); fcl_op_arg_i(&x, K); fcl_op_arg_i(&x, P); fcl_op_arg_i(&x, ncols);
    fcl_op_arg_m(&x, a); fcl_op_arg_i(&x, (int)(cdiv((size_t)M, (size_t)t->mb) * t->mb) * K);
    arg_opnd(&x, b);
    fcl_op_arg_i(&x, b->contig);
    arg_opnd(&x, c);
    fcl_op_arg_i(&x, c->contig);
    fcl_op_arg_m(&x, bias ? bias->buf : a); fcl_op_arg_i(&x, bias ? (int)bias->offset : 0);
    fcl_op_arg_i(&x, bias != NULL);
    fcl_op_arg_i(&x, accumulate);
    return launch(t, &x, 3, cdiv((size_t)M, (size_t)t->mb), cdiv((size_t)ncols, (size_t)t->nb), (size_t)G,
                  (size_t)t->lnn);
}

/* c[g][m][j] (row stride N, groups M * N apart) += sum over columns of A(m, .) * B(j, .). */
static fcl_status gemm_nt(fcl_ctx *ctx, const conv_tune *t, int G, int M, int N, int P, int nimg,
                          const operand *a, const operand *b, const fcl_tensor *c)
{
    fcl_op_args x;
    if (start(ctx, &CONV, "conv_gemm_nt", &x)) return x.st;
    fcl_op_arg_i(&x, M); fcl_op_arg_i(&x, N); fcl_op_arg_i(&x, P); fcl_op_arg_i(&x, nimg);
    arg_opnd(&x, a);
    arg_opnd(&x, b);
    fcl_op_arg_t(&x, c); fcl_op_arg_i(&x, N); fcl_op_arg_i(&x, M * N);
    return launch(t, &x, 3, cdiv((size_t)M, (size_t)t->tm), cdiv((size_t)N, (size_t)t->tn), (size_t)G, (size_t)t->lnt);
}

/* Packs A(m, k) = w[w.offset + g * s_g + m * s_m + k * s_k] (m < M, k < K) for conv_gemm_nn
 * into a new pool buffer *dst (*cap bytes; the caller frees it). */
static fcl_status pack(fcl_ctx *ctx, const conv_tune *t, cl_mem *dst, size_t *cap, int G, int M, int K,
                       const fcl_tensor *w, int s_g, int s_m, int s_k)
{
    size_t nmb = cdiv((size_t)M, (size_t)t->mb), floats = (size_t)G * nmb * t->mb * K;
    if (floats >= INT_MAX)
        return FCL_ERR(ERRP(ctx), FCL_ERR_SHAPE, "conv2d: the packed weights (%zu floats) exceed 32-bit indexing",
                       floats);
    fcl_status st = fcl_pool_alloc(ctx, floats * sizeof(float), dst, cap);
    if (st) return st;
    fcl_op_args x;
    if (start(ctx, &CONV, "conv_pack", &x)) return x.st;
    fcl_op_arg_m(&x, *dst); fcl_op_arg_i(&x, M); fcl_op_arg_i(&x, K); fcl_op_arg_i(&x, (int)nmb);
    fcl_op_arg_t(&x, w); fcl_op_arg_i(&x, s_g); fcl_op_arg_i(&x, s_m); fcl_op_arg_i(&x, s_k);
    return launch(t, &x, 3, (size_t)K, nmb, (size_t)G, 16); /* tiny work-items: groups of 16 */
}

void fcl_conv_geom_args(fcl_op_args *a, const fcl_conv2d_params *p)
{
    fcl_op_arg_i(a, p->kh); fcl_op_arg_i(a, p->kw); fcl_op_arg_i(a, p->stride_h); fcl_op_arg_i(a, p->stride_w);
    fcl_op_arg_i(a, p->pad_h); fcl_op_arg_i(a, p->pad_w); fcl_op_arg_i(a, p->dil_h); fcl_op_arg_i(a, p->dil_w);
}

/* ---- chunks of images and their workspace ---------------------------------------------------------- */

/* The GEMM-based algorithms work on a chunk of images at a time; each workspace buffer holds
 * `rows` rows of col_ld(chunk) floats (whole column blocks, since the GEMM reads them). */
typedef struct wsbuf {
    cl_mem buf;
    size_t cap;
} wsbuf;

static int col_ld(const conv_tune *t, int cnt, int P) { return (int)(cdiv((size_t)cnt * P, (size_t)t->nb) * t->nb); }

/* Images per chunk such that `rows` workspace rows (all buffers together) fit the budget. */
static int plan_chunk(const conv_tune *t, size_t rows, int P, int n)
{
    size_t per_img = rows * (size_t)P * sizeof(float);
    size_t chunk = per_img ? (size_t)t->col_kb * 1024 / per_img : (size_t)n;
    if (chunk < 1) chunk = 1;
    return chunk > (size_t)n ? n : (int)chunk;
}

static fcl_status ws_alloc(fcl_ctx *ctx, const conv_tune *t, size_t rows, int chunk, int P, wsbuf *w)
{
    size_t floats = rows * (size_t)col_ld(t, chunk, P);
    const fcl_device_info *d = fcl_ctx_device(ctx);
    if (floats * sizeof(float) > d->max_alloc || floats >= INT_MAX)
        return FCL_ERR(ERRP(ctx), FCL_ERR_UNSUPPORTED, "conv2d: the im2col workspace of %d image(s) needs %.1f MiB "
                       "(%zu x %d floats), over the device's %.1f MiB allocation limit or 32-bit indexing", chunk,
                       (double)floats * 4 / 1048576.0, rows, col_ld(t, chunk, P), (double)d->max_alloc / 1048576.0);
    return fcl_pool_alloc(ctx, floats * sizeof(float), &w->buf, &w->cap);
}

static void ws_free(fcl_ctx *ctx, wsbuf *w)
{
    if (w->buf) fcl_pool_free(ctx, w->buf, w->cap);
    w->buf = NULL;
}

/* im2col of images i0 .. i0 + cnt - 1 of x into dst ([G][Kg][ld]) for the geometry p. */
static fcl_status im2col(fcl_ctx *ctx, const conv_tune *t, cl_mem dst, int ld, const fcl_tensor *x,
                         int i0, int cnt, const fcl_conv2d_params *p, int oh, int ow)
{
    int G = p->groups, cin_g = p->cin / G, Kg = cin_g * p->kh * p->kw;
    fcl_op_args a;
    if (start(ctx, &CONV, "conv_im2col", &a)) return a.st;
    fcl_op_arg_m(&a, dst); fcl_op_arg_i(&a, ld); fcl_op_arg_i(&a, Kg * ld);
    fcl_op_arg_m(&a, x->buf); fcl_op_arg_i(&a, (int)x->offset + i0 * p->cin * p->h * p->w);
    fcl_op_arg_i(&a, p->cin); fcl_op_arg_i(&a, p->h); fcl_op_arg_i(&a, p->w); fcl_op_arg_i(&a, cin_g);
    fcl_conv_geom_args(&a, p);
    fcl_op_arg_i(&a, oh); fcl_op_arg_i(&a, ow); fcl_op_arg_i(&a, cnt);
    return launch(t, &a, 3, (size_t)cin_g, (size_t)cnt, (size_t)G, 0);
}

/* The geometry under which im2col of an [n, c, h, w] tensor only gathers its images side by side
 * ([c][image * h * w + pixel]): a 1x1 dense convolution without stride or padding. */
static fcl_conv2d_params gather_geom(int n, int c, int h, int w)
{
    fcl_conv2d_params q = {n, c, h, w, c, 1, 1, 1, 1, 0, 0, 1, 1, 1, 0};
    return q;
}

static fcl_status col2im(fcl_ctx *ctx, const conv_tune *t, fcl_tensor *dx, cl_mem col, int ld,
                         int i0, int cnt, const fcl_conv2d_params *p, int oh, int ow)
{
    int G = p->groups, cin_g = p->cin / G, Kg = cin_g * p->kh * p->kw;
    fcl_op_args a;
    if (start(ctx, &CONV, "conv_col2im", &a)) return a.st;
    fcl_op_arg_m(&a, dx->buf); fcl_op_arg_i(&a, (int)dx->offset + i0 * p->cin * p->h * p->w);
    fcl_op_arg_i(&a, p->cin); fcl_op_arg_i(&a, p->h); fcl_op_arg_i(&a, p->w); fcl_op_arg_i(&a, cin_g);
    fcl_op_arg_m(&a, col); fcl_op_arg_i(&a, ld); fcl_op_arg_i(&a, Kg * ld);
    fcl_conv_geom_args(&a, p);
    fcl_op_arg_i(&a, oh); fcl_op_arg_i(&a, ow); fcl_op_arg_i(&a, cnt);
    return launch(t, &a, 3, (size_t)cin_g, (size_t)cnt, (size_t)G, 0);
}

/* y or dy (from image i0) as a GEMM operand: rows are the channels of group g. */
static operand out_operand(const fcl_tensor *t, int i0, const fcl_conv2d_params *p, int P)
{
    int cout_g = p->cout / p->groups;
    operand o = {t->buf, (int)t->offset + i0 * p->cout * P, p->cout * P, P, cout_g * P, 0};
    return o;
}

/* x or dx likewise, for the 1x1 algorithm (P = h * w). */
static operand in_operand(const fcl_tensor *t, int i0, const fcl_conv2d_params *p, int P)
{
    int cin_g = p->cin / p->groups;
    operand o = {t->buf, (int)t->offset + i0 * p->cin * P, p->cin * P, P, cin_g * P, 0};
    return o;
}

/* A workspace chunk as a GEMM operand: [G][rows_g][ld], contiguous over the columns. */
static operand ws_operand(const wsbuf *w, int rows_g, int ld, int P)
{
    operand o = {w->buf, 0, P, ld, rows_g * ld, 1};
    return o;
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

/* conv_dw3_fwd: out (+)= conv(in, w or w rotated) + bias. */
static fcl_status dw3_fwd(fcl_ctx *ctx, const conv_tune *t, fcl_tensor *out, const fcl_tensor *in,
                          const fcl_tensor *w, const fcl_tensor *b, int flip, int accumulate, int nc, int C,
                          int H, int W, int OH, int OW, int s)
{
    fcl_op_args a;
    if (start(ctx, &CONV_DW, "conv_dw3_fwd", &a)) return a.st;
    arg_out_in_w_bias(&a, out, in, w, b);
    fcl_op_arg_i(&a, flip); fcl_op_arg_i(&a, accumulate);
    fcl_op_arg_i(&a, C); fcl_op_arg_i(&a, H); fcl_op_arg_i(&a, W); fcl_op_arg_i(&a, OH); fcl_op_arg_i(&a, OW);
    fcl_op_arg_i(&a, s);
    return launch(t, &a, 2, cdiv((size_t)OW, 8), (size_t)nc, 1, 0);
}

static fcl_status dw_fwd(fcl_ctx *ctx, const conv_tune *t, fcl_tensor *y, const fcl_tensor *x,
                         const fcl_tensor *w, const fcl_tensor *b, const fcl_conv2d_params *p, int oh, int ow)
{
    if (dw3_applies(p))
        return dw3_fwd(ctx, t, y, x, w, b, 0, 0, p->n * p->cin, p->cin, p->h, p->w, oh, ow, p->stride_h);
    fcl_op_args a;
    if (start(ctx, &CONV_DW, "conv_dw_fwd", &a)) return a.st;
    arg_out_in_w_bias(&a, y, x, w, b);
    fcl_op_arg_i(&a, p->cin); fcl_op_arg_i(&a, p->h); fcl_op_arg_i(&a, p->w);
    fcl_conv_geom_args(&a, p);
    fcl_op_arg_i(&a, oh); fcl_op_arg_i(&a, ow);
    return launch(t, &a, 3, cdiv((size_t)ow, 8), (size_t)oh, (size_t)p->n * p->cin, 0);
}

static fcl_status dw_bwd_data(fcl_ctx *ctx, const conv_tune *t, fcl_tensor *dx, const fcl_tensor *dy,
                              const fcl_tensor *w, const fcl_conv2d_params *p, int oh, int ow)
{
    fcl_op_args a;
    if (dw3_applies(p) && p->stride_h == 1) /* dx += conv(dy, w rotated 180 degrees), same size */
        return dw3_fwd(ctx, t, dx, dy, w, NULL, 1, 1, p->n * p->cin, p->cin, oh, ow, p->h, p->w, 1);
    if (dw3_applies(p)) {
        if (start(ctx, &CONV_DW, "conv_dw3_bwd_data_s2", &a)) return a.st;
        fcl_op_arg_t(&a, dx);
        fcl_op_arg_t(&a, dy);
        fcl_op_arg_t(&a, w);
        fcl_op_arg_i(&a, p->cin); fcl_op_arg_i(&a, p->h); fcl_op_arg_i(&a, p->w); fcl_op_arg_i(&a, oh);
        fcl_op_arg_i(&a, ow);
        return launch(t, &a, 2, cdiv((size_t)p->w, 16), (size_t)p->n * p->cin, 1, 0);
    }
    if (start(ctx, &CONV_DW, "conv_dw_bwd_data", &a)) return a.st;
    fcl_op_arg_t(&a, dx);
    fcl_op_arg_t(&a, dy);
    fcl_op_arg_t(&a, w);
    fcl_op_arg_i(&a, p->cin); fcl_op_arg_i(&a, p->h); fcl_op_arg_i(&a, p->w);
    fcl_conv_geom_args(&a, p);
    fcl_op_arg_i(&a, oh); fcl_op_arg_i(&a, ow);
    return launch(t, &a, 3, cdiv((size_t)p->w, 8), (size_t)p->h, (size_t)p->n * p->cin, 0);
}

static fcl_status dw_bwd_weight(fcl_ctx *ctx, const conv_tune *t, fcl_tensor *dw, const fcl_tensor *dy,
                                const fcl_tensor *x, const fcl_conv2d_params *p, int oh, int ow)
{
    fcl_op_args a;
    if (dw3_applies(p)) {
        if (start(ctx, &CONV_DW, "conv_dw3_bwd_weight", &a)) return a.st;
        fcl_op_arg_t(&a, dw);
        fcl_op_arg_t(&a, dy);
        fcl_op_arg_t(&a, x);
        fcl_op_arg_i(&a, p->n); fcl_op_arg_i(&a, p->cin); fcl_op_arg_i(&a, p->h); fcl_op_arg_i(&a, p->w);
        fcl_op_arg_i(&a, oh); fcl_op_arg_i(&a, ow);
        fcl_op_arg_i(&a, p->stride_h);
        return launch(t, &a, 1, (size_t)p->cin, 1, 1, 0);
    }
    if (start(ctx, &CONV_DW, "conv_dw_bwd_weight", &a)) return a.st;
    fcl_op_arg_t(&a, dw);
    fcl_op_arg_t(&a, dy);
    fcl_op_arg_t(&a, x);
    fcl_op_arg_i(&a, p->n); fcl_op_arg_i(&a, p->cin); fcl_op_arg_i(&a, p->h); fcl_op_arg_i(&a, p->w);
    fcl_conv_geom_args(&a, p);
    fcl_op_arg_i(&a, oh); fcl_op_arg_i(&a, ow);
    return launch(t, &a, 2, (size_t)p->kh * p->kw, (size_t)p->cin, 1, 0);
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

/* What every direction does first: checks the params, each tensor's element count (in the order
 * given), that the output args[out] shares no memory with the others, and reads the tuning. */
static fcl_status begin(fcl_ctx *ctx, const char *op, const fcl_conv2d_params *p, const conv_arg *args, int n,
                        int out, int *oh, int *ow, conv_tune *t)
{
    fcl_status st = fcl_conv2d_check(p, oh, ow, ERRP(ctx));
    for (int i = 0; i < n && !st; i++) {
        double want[] = {(double)p->n * p->cin * p->h * p->w, (double)p->n * p->cout * *oh * *ow, wnumel(p),
                         p->cout};
        if (args[i].t || !args[i].optional)
            st = fcl_op_check_count(ctx, op, args[i].name, args[i].t, want[args[i].kind]);
    }
    for (int i = 0; i < n && !st; i++)
        if (i != out) st = fcl_op_check_apart(ctx, op, args[out].name, args[out].t, args[i].name, args[i].t);
    return st ? st : get_tune(ctx, t);
}

fcl_status fcl_conv2d_fwd(fcl_ctx *ctx, fcl_tensor *y, const fcl_tensor *x, const fcl_tensor *w,
                          const fcl_tensor *b, const fcl_conv2d_params *p)
{
    static const char op[] = "fcl_conv2d_fwd";
    fcl_status st;
    wsbuf col = {NULL, 0};
    cl_mem packed = NULL;
    size_t packed_cap = 0;
    int oh, ow;
    conv_tune t;
    const conv_arg args[] = {{"x", x, CT_X, 0}, {"w", w, CT_W, 0}, {"b", b, CT_B, 1}, {"y", y, CT_Y, 0}};
    if ((st = begin(ctx, op, p, args, 4, 3, &oh, &ow, &t))) goto fail;

    fcl_conv2d_algo algo = fcl_conv2d_algo_of(p);
    if (t.gpu) {
        st = algo == FCL_CONV_DEPTHWISE ? fcl_conv_dw_gpu_fwd(ctx, &t.g, y, x, w, b, p, oh, ow)
                                        : fcl_conv_gpu_fwd(ctx, &t.g, y, x, w, b, p, oh, ow);
        goto fail;
    }
    if (algo == FCL_CONV_DEPTHWISE) {
        st = dw_fwd(ctx, &t, y, x, w, b, p, oh, ow);
        goto fail;
    }
    int G = p->groups, M = p->cout / G, Kg = p->cin / G * p->kh * p->kw, P = oh * ow;
    /* y[g] = W[g] * B[g]: A(m, k) = w[g * M + m][k] */
    if ((st = pack(ctx, &t, &packed, &packed_cap, G, M, Kg, w, M * Kg, Kg, 1))) goto fail;
    if (algo == FCL_CONV_1X1 && P % t.nb == 0) {
        /* B = x itself. When P is not a multiple of the column block, blocks would straddle two
         * images and read x lane by lane: the im2col path below (a plain gather for 1x1) is faster. */
        operand bx = in_operand(x, 0, p, P), c = out_operand(y, 0, p, P);
        st = gemm_nn(ctx, &t, G, M, Kg, P, p->n * P, packed, &bx, &c, b, 0);
        goto fail;
    }
    int chunk = plan_chunk(&t, (size_t)p->cin * p->kh * p->kw, P, p->n);
    if ((st = ws_alloc(ctx, &t, (size_t)p->cin * p->kh * p->kw, chunk, P, &col))) goto fail;
    for (int i0 = 0; i0 < p->n; i0 += chunk) {
        int cnt = p->n - i0 < chunk ? p->n - i0 : chunk, ld = col_ld(&t, cnt, P);
        if ((st = im2col(ctx, &t, col.buf, ld, x, i0, cnt, p, oh, ow))) goto fail;
        operand bc = ws_operand(&col, Kg, ld, P), c = out_operand(y, i0, p, P);
        if ((st = gemm_nn(ctx, &t, G, M, Kg, P, cnt * P, packed, &bc, &c, b, 0))) goto fail;
    }
fail:
    if (packed) fcl_pool_free(ctx, packed, packed_cap);
    ws_free(ctx, &col);
    return st;
}

/* dx += the data gradient through the CPU-shaped GEMMs: dcol = W^T * dy, then col2im (1x1: dx +=
 * W^T * dy directly). */
static fcl_status gemm_bwd_data(fcl_ctx *ctx, const conv_tune *t, fcl_tensor *dx, const fcl_tensor *dy,
                                const fcl_tensor *w, const fcl_conv2d_params *p, int oh, int ow)
{
    fcl_status st;
    wsbuf col = {NULL, 0}, dyc = {NULL, 0};
    cl_mem packed = NULL;
    size_t packed_cap = 0;
    fcl_conv2d_algo algo = fcl_conv2d_algo_of(p);
    int G = p->groups, M = p->cout / G, Kg = p->cin / G * p->kh * p->kw, P = oh * ow;
    /* dcol[g] = W[g]^T * dy[g]: A(kk, co) = w[g * M + co][kk], rows Kg, reduction over M */
    if ((st = pack(ctx, t, &packed, &packed_cap, G, Kg, M, w, M * Kg, 1, Kg))) goto fail;
    int is1x1 = algo == FCL_CONV_1X1;
    /* dy is the GEMM's B: gathered into a contiguous chunk when column blocks would straddle images */
    int gather = P % t->nb != 0;
    size_t col_rows = is1x1 ? 0 : (size_t)p->cin * p->kh * p->kw, dy_rows = gather ? (size_t)p->cout : 0;
    int chunk = plan_chunk(t, col_rows + dy_rows, P, p->n);
    if (col_rows && (st = ws_alloc(ctx, t, col_rows, chunk, P, &col))) goto fail;
    if (dy_rows && (st = ws_alloc(ctx, t, dy_rows, chunk, P, &dyc))) goto fail;
    const fcl_conv2d_params gq = gather_geom(p->n, p->cout, oh, ow);
    for (int i0 = 0; i0 < p->n; i0 += chunk) {
        int cnt = p->n - i0 < chunk ? p->n - i0 : chunk, ld = col_ld(t, cnt, P);
        operand bdy = out_operand(dy, i0, p, P);
        if (gather) {
            if ((st = im2col(ctx, t, dyc.buf, ld, dy, i0, cnt, &gq, oh, ow))) goto fail;
            bdy = ws_operand(&dyc, M, ld, P);
        }
        if (is1x1) { /* dx += W^T * dy directly */
            operand c = in_operand(dx, i0, p, P);
            if ((st = gemm_nn(ctx, t, G, Kg, M, P, cnt * P, packed, &bdy, &c, NULL, 1))) goto fail;
            continue;
        }
        operand c = ws_operand(&col, Kg, ld, P);
        if ((st = gemm_nn(ctx, t, G, Kg, M, P, cnt * P, packed, &bdy, &c, NULL, 0))) goto fail;
        if ((st = col2im(ctx, t, dx, col.buf, ld, i0, cnt, p, oh, ow))) goto fail;
    }
fail:
    if (packed) fcl_pool_free(ctx, packed, packed_cap);
    ws_free(ctx, &col);
    ws_free(ctx, &dyc);
    return st;
}

/* dw += the weight gradient through the CPU-shaped GEMMs: dy * B^T, B = x (1x1) or im2col(x). */
static fcl_status gemm_bwd_weight(fcl_ctx *ctx, const conv_tune *t, fcl_tensor *dw, const fcl_tensor *dy,
                                  const fcl_tensor *x, const fcl_conv2d_params *p, int oh, int ow)
{
    fcl_status st = FCL_OK;
    wsbuf col = {NULL, 0};
    int G = p->groups, M = p->cout / G, Kg = p->cin / G * p->kh * p->kw, P = oh * ow;
    if (fcl_conv2d_algo_of(p) == FCL_CONV_1X1) {
        /* dw[g] += dy[g] * x[g]^T straight from the tensors, in chunks of images whose dy and x
         * fit the workspace budget: every work-item streams its rows over the chunk, so larger
         * chunks would be re-read from memory instead of the caches */
        int chunk = plan_chunk(t, (size_t)p->cin + p->cout, P, p->n);
        for (int i0 = 0; i0 < p->n; i0 += chunk) {
            int cnt = p->n - i0 < chunk ? p->n - i0 : chunk;
            operand ady = out_operand(dy, i0, p, P), bx = in_operand(x, i0, p, P);
            if ((st = gemm_nt(ctx, t, G, M, Kg, P, cnt, &ady, &bx, dw))) goto fail;
        }
        goto fail;
    }
    int chunk = plan_chunk(t, (size_t)p->cin * p->kh * p->kw, P, p->n);
    if ((st = ws_alloc(ctx, t, (size_t)p->cin * p->kh * p->kw, chunk, P, &col))) goto fail;
    for (int i0 = 0; i0 < p->n; i0 += chunk) {
        int cnt = p->n - i0 < chunk ? p->n - i0 : chunk, ld = col_ld(t, cnt, P);
        if ((st = im2col(ctx, t, col.buf, ld, x, i0, cnt, p, oh, ow))) goto fail;
        operand ady = out_operand(dy, i0, p, P), bc = ws_operand(&col, Kg, ld, P);
        if ((st = gemm_nt(ctx, t, G, M, Kg, P, cnt, &ady, &bc, dw))) goto fail;
    }
fail:
    ws_free(ctx, &col);
    return st;
}

/* A backward direction (out, dy, the other operand: dx, dy, w or dw, dy, x): the GPU-shaped
 * kernels (dense or depthwise) when the tuning asks for them, the CPU depthwise kernels for a
 * depthwise conv, else the CPU-shaped GEMMs. */
typedef fcl_status (*gpu_bwd_fn)(fcl_ctx *, const fcl_conv_gpu_tune *, fcl_tensor *, const fcl_tensor *,
                                 const fcl_tensor *, const fcl_conv2d_params *, int, int);
typedef fcl_status (*cpu_bwd_fn)(fcl_ctx *, const conv_tune *, fcl_tensor *, const fcl_tensor *, const fcl_tensor *,
                                 const fcl_conv2d_params *, int, int);
typedef struct bwd_dir {
    const char *op, *out, *other;      /* names for messages */
    int out_kind, other_kind;         /* CT_* */
    gpu_bwd_fn gpu, gpu_dw;
    cpu_bwd_fn dw, gemm;
} bwd_dir;

static const bwd_dir BWD_DATA = {"fcl_conv2d_bwd_data", "dx", "w", CT_X, CT_W,
                                 fcl_conv_gpu_bwd_data, fcl_conv_dw_gpu_bwd_data, dw_bwd_data, gemm_bwd_data};
static const bwd_dir BWD_WEIGHT = {"fcl_conv2d_bwd_weight", "dw", "x", CT_W, CT_X,
                                   fcl_conv_gpu_bwd_weight, fcl_conv_dw_gpu_bwd_weight, dw_bwd_weight, gemm_bwd_weight};

static fcl_status conv_bwd(fcl_ctx *ctx, const bwd_dir *f, fcl_tensor *out, const fcl_tensor *dy,
                           const fcl_tensor *other, const fcl_conv2d_params *p)
{
    int oh, ow;
    conv_tune t;
    const conv_arg args[] = {{f->out, out, f->out_kind, 0}, {"dy", dy, CT_Y, 0}, {f->other, other, f->other_kind, 0}};
    fcl_status st = begin(ctx, f->op, p, args, 3, 0, &oh, &ow, &t);
    if (st) return st;
    int dw = fcl_conv2d_algo_of(p) == FCL_CONV_DEPTHWISE;
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
    conv_tune t;
    fcl_op_args a;
    const conv_arg args[] = {{"db", db, CT_B, 0}, {"dy", dy, CT_Y, 0}};
    if ((st = begin(ctx, op, p, args, 2, 0, &oh, &ow, &t))) goto fail;
    if (t.gpu) {
        st = fcl_conv_gpu_bwd_bias(ctx, &t.g, db, dy, p, oh, ow);
        goto fail;
    }
    if ((st = start(ctx, &CONV, "conv_bias_grad", &a))) goto fail;
    fcl_op_arg_t(&a, db);
    fcl_op_arg_t(&a, dy);
    fcl_op_arg_i(&a, p->cout); fcl_op_arg_i(&a, oh * ow); fcl_op_arg_i(&a, p->n);
    st = launch(&t, &a, 1, (size_t)p->cout, 1, 1, 0);
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
