/* host/ops/conv.c: launchers of 2-D convolution (cl/conv.cl, cl/conv_dw.cl): checks, algorithm choice, im2col chunking. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "facecl/ops_conv.h"
#include "facecl/tuning.h"
#include "ops/conv_gpu.h"

#define ERRP(ctx) fcl_ctx_error(ctx)

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
    const char *defs;
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
    t->defs = fcl_ctx_tuning(ctx, "conv");
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

/* ---- tensor checks ---------------------------------------------------------------------------- */

static fcl_status check_t(fcl_ctx *ctx, const char *op, const char *name, const fcl_tensor *t, double want)
{
    if (!t || !t->buf)
        return FCL_ERR(ERRP(ctx), FCL_ERR_INVALID_ARG, "%s: %s is missing (NULL or no buffer)", op, name);
    if (t->dtype != FCL_F32) return FCL_ERR(ERRP(ctx), FCL_ERR_UNSUPPORTED, "%s: %s must be f32", op, name);
    size_t n = fcl_tensor_numel(t);
    if ((double)n != want) {
        char s[96];
        fcl_tensor_shape_str(t, s, sizeof s);
        return FCL_ERR(ERRP(ctx), FCL_ERR_SHAPE, "%s: %s %s has %zu elements, the params need %.0f", op, name, s,
                       n, want);
    }
    if (t->offset + n > (size_t)INT_MAX)
        return FCL_ERR(ERRP(ctx), FCL_ERR_SHAPE, "%s: %s (offset %zu + %zu elements) is too large for 32-bit "
                       "element indexing", op, name, t->offset, n);
    return FCL_OK;
}

/* An output must not share memory with an input (the kernels read inputs while writing). */
static fcl_status check_apart(fcl_ctx *ctx, const char *op, const char *na, const fcl_tensor *a,
                              const char *nb, const fcl_tensor *b)
{
    if (!a || !b || a->buf != b->buf) return FCL_OK;
    if (a->offset < b->offset + fcl_tensor_numel(b) && b->offset < a->offset + fcl_tensor_numel(a))
        return FCL_ERR(ERRP(ctx), FCL_ERR_INVALID_ARG, "%s: %s overlaps %s", op, na, nb);
    return FCL_OK;
}

/* ---- kernel arguments ----------------------------------------------------------------------------- */

typedef struct args {
    fcl_ctx *ctx;
    cl_kernel k;
    unsigned i;
    fcl_status st;
    size_t local;          /* work-group size along dim 0 (other dims 1); 0: the driver's choice */
} args;

static void arg(args *a, size_t size, const void *v)
{
    if (a->st == FCL_OK) a->st = fcl_kernel_arg(a->ctx, a->k, a->i, size, v);
    a->i++;
}
static void arg_i(args *a, int v) { arg(a, sizeof v, &v); }
static void arg_m(args *a, cl_mem m) { arg(a, sizeof m, &m); }

static fcl_status start(fcl_ctx *ctx, const conv_tune *t, const char *file, const char *name, args *a)
{
    a->ctx = ctx;
    a->local = (size_t)t->lother;
    a->i = 0;
    a->st = fcl_kernel_get(ctx, file, name, t->defs, &a->k);
    return a->st;
}

/* Enqueues over dims dimensions with a work-group of l0 (0: the tuning's CONV_LOCAL) x 1 x 1,
 * or the driver's choice when that is 0 too. PoCL's own choice can put a whole NDRange in a
 * few work-groups and so on one thread; the CPU row sets small groups. */
static fcl_status launch(args *a, unsigned dims, size_t g0, size_t g1, size_t g2, size_t l0)
{
    if (a->st) return a->st;
    if (!l0) l0 = a->local;
    size_t g[3] = {g0, g1, g2}, l[3] = {l0, 1, 1};
    return fcl_kernel_run(a->ctx, a->k, dims, g, l0 ? l : NULL);
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

/* c (+)= A * b (+ bias), A packed by pack() for these M, K. */
static fcl_status gemm_nn(fcl_ctx *ctx, const conv_tune *t, int G, int M, int K, int P, int ncols,
                          cl_mem a, const operand *b, const operand *c, const fcl_tensor *bias,
                          int accumulate)
{
    args x;
    if (start(ctx, t, "conv.cl", "conv_gemm_nn", &x)) return x.st;
    arg_i(&x, M); arg_i(&x, K); arg_i(&x, P); arg_i(&x, ncols);
    arg_m(&x, a); arg_i(&x, (int)(cdiv((size_t)M, (size_t)t->mb) * t->mb) * K);
    arg_m(&x, b->buf); arg_i(&x, b->off); arg_i(&x, b->img); arg_i(&x, b->row); arg_i(&x, b->g);
    arg_i(&x, b->contig);
    arg_m(&x, c->buf); arg_i(&x, c->off); arg_i(&x, c->img); arg_i(&x, c->row); arg_i(&x, c->g);
    arg_i(&x, c->contig);
    arg_m(&x, bias ? bias->buf : a); arg_i(&x, bias ? (int)bias->offset : 0); arg_i(&x, bias != NULL);
    arg_i(&x, accumulate);
    return launch(&x, 3, cdiv((size_t)M, (size_t)t->mb), cdiv((size_t)ncols, (size_t)t->nb), (size_t)G, (size_t)t->lnn);
}

/* c[g][m][j] (row stride N, groups M * N apart) += sum over columns of A(m, .) * B(j, .). */
static fcl_status gemm_nt(fcl_ctx *ctx, const conv_tune *t, int G, int M, int N, int P, int nimg,
                          const operand *a, const operand *b, const fcl_tensor *c)
{
    args x;
    if (start(ctx, t, "conv.cl", "conv_gemm_nt", &x)) return x.st;
    arg_i(&x, M); arg_i(&x, N); arg_i(&x, P); arg_i(&x, nimg);
    arg_m(&x, a->buf); arg_i(&x, a->off); arg_i(&x, a->img); arg_i(&x, a->row); arg_i(&x, a->g);
    arg_m(&x, b->buf); arg_i(&x, b->off); arg_i(&x, b->img); arg_i(&x, b->row); arg_i(&x, b->g);
    arg_m(&x, c->buf); arg_i(&x, (int)c->offset); arg_i(&x, N); arg_i(&x, M * N);
    return launch(&x, 3, cdiv((size_t)M, (size_t)t->tm), cdiv((size_t)N, (size_t)t->tn), (size_t)G, (size_t)t->lnt);
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
    args x;
    if (start(ctx, t, "conv.cl", "conv_pack", &x)) return x.st;
    arg_m(&x, *dst); arg_i(&x, M); arg_i(&x, K); arg_i(&x, (int)nmb);
    arg_m(&x, w->buf); arg_i(&x, (int)w->offset); arg_i(&x, s_g); arg_i(&x, s_m); arg_i(&x, s_k);
    return launch(&x, 3, (size_t)K, nmb, (size_t)G, 16); /* tiny work-items: groups of 16 */
}

/* The geometry arguments shared by conv_im2col and conv_col2im, after the buffers. */
static void geom_args(args *x, const fcl_conv2d_params *p)
{
    arg_i(x, p->kh); arg_i(x, p->kw); arg_i(x, p->stride_h); arg_i(x, p->stride_w);
    arg_i(x, p->pad_h); arg_i(x, p->pad_w); arg_i(x, p->dil_h); arg_i(x, p->dil_w);
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
    args a;
    if (start(ctx, t, "conv.cl", "conv_im2col", &a)) return a.st;
    arg_m(&a, dst); arg_i(&a, ld); arg_i(&a, Kg * ld);
    arg_m(&a, x->buf); arg_i(&a, (int)x->offset + i0 * p->cin * p->h * p->w);
    arg_i(&a, p->cin); arg_i(&a, p->h); arg_i(&a, p->w); arg_i(&a, cin_g);
    geom_args(&a, p);
    arg_i(&a, oh); arg_i(&a, ow); arg_i(&a, cnt);
    return launch(&a, 3, (size_t)cin_g, (size_t)cnt, (size_t)G, 0);
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
    args a;
    if (start(ctx, t, "conv.cl", "conv_col2im", &a)) return a.st;
    arg_m(&a, dx->buf); arg_i(&a, (int)dx->offset + i0 * p->cin * p->h * p->w);
    arg_i(&a, p->cin); arg_i(&a, p->h); arg_i(&a, p->w); arg_i(&a, cin_g);
    arg_m(&a, col); arg_i(&a, ld); arg_i(&a, Kg * ld);
    geom_args(&a, p);
    arg_i(&a, oh); arg_i(&a, ow); arg_i(&a, cnt);
    return launch(&a, 3, (size_t)cin_g, (size_t)cnt, (size_t)G, 0);
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

static void dw_geom(args *a, const fcl_conv2d_params *p)
{
    arg_i(a, p->kh); arg_i(a, p->kw); arg_i(a, p->stride_h); arg_i(a, p->stride_w);
    arg_i(a, p->pad_h); arg_i(a, p->pad_w); arg_i(a, p->dil_h); arg_i(a, p->dil_w);
}

/* The dedicated 3x3 kernels (conv_dw3_*): pad 1, dilation 1, equal strides of 1 or 2. */
static int dw3_applies(const fcl_conv2d_params *p)
{
    return p->kh == 3 && p->kw == 3 && p->pad_h == 1 && p->pad_w == 1 && p->dil_h == 1 && p->dil_w == 1 &&
           p->stride_h == p->stride_w && (p->stride_h == 1 || p->stride_h == 2);
}

/* conv_dw3_fwd: out (+)= conv(in, w or w rotated) + bias. */
static fcl_status dw3_fwd(fcl_ctx *ctx, const conv_tune *t, fcl_tensor *out, const fcl_tensor *in,
                          const fcl_tensor *w, const fcl_tensor *b, int flip, int accumulate, int nc, int C,
                          int H, int W, int OH, int OW, int s)
{
    args a;
    if (start(ctx, t, "conv_dw.cl", "conv_dw3_fwd", &a)) return a.st;
    arg_m(&a, out->buf); arg_i(&a, (int)out->offset);
    arg_m(&a, in->buf); arg_i(&a, (int)in->offset);
    arg_m(&a, w->buf); arg_i(&a, (int)w->offset);
    arg_m(&a, b ? b->buf : w->buf); arg_i(&a, b ? (int)b->offset : 0); arg_i(&a, b != NULL);
    arg_i(&a, flip); arg_i(&a, accumulate);
    arg_i(&a, C); arg_i(&a, H); arg_i(&a, W); arg_i(&a, OH); arg_i(&a, OW); arg_i(&a, s);
    return launch(&a, 2, cdiv((size_t)OW, 8), (size_t)nc, 1, 0);
}

static fcl_status dw_fwd(fcl_ctx *ctx, const conv_tune *t, fcl_tensor *y, const fcl_tensor *x,
                         const fcl_tensor *w, const fcl_tensor *b, const fcl_conv2d_params *p, int oh, int ow)
{
    if (dw3_applies(p))
        return dw3_fwd(ctx, t, y, x, w, b, 0, 0, p->n * p->cin, p->cin, p->h, p->w, oh, ow, p->stride_h);
    args a;
    if (start(ctx, t, "conv_dw.cl", "conv_dw_fwd", &a)) return a.st;
    arg_m(&a, y->buf); arg_i(&a, (int)y->offset);
    arg_m(&a, x->buf); arg_i(&a, (int)x->offset);
    arg_m(&a, w->buf); arg_i(&a, (int)w->offset);
    arg_m(&a, b ? b->buf : w->buf); arg_i(&a, b ? (int)b->offset : 0); arg_i(&a, b != NULL);
    arg_i(&a, p->cin); arg_i(&a, p->h); arg_i(&a, p->w);
    dw_geom(&a, p);
    arg_i(&a, oh); arg_i(&a, ow);
    return launch(&a, 3, cdiv((size_t)ow, 8), (size_t)oh, (size_t)p->n * p->cin, 0);
}

static fcl_status dw_bwd_data(fcl_ctx *ctx, const conv_tune *t, fcl_tensor *dx, const fcl_tensor *dy,
                              const fcl_tensor *w, const fcl_conv2d_params *p, int oh, int ow)
{
    args a;
    if (dw3_applies(p) && p->stride_h == 1) /* dx += conv(dy, w rotated 180 degrees), same size */
        return dw3_fwd(ctx, t, dx, dy, w, NULL, 1, 1, p->n * p->cin, p->cin, oh, ow, p->h, p->w, 1);
    if (dw3_applies(p)) {
        if (start(ctx, t, "conv_dw.cl", "conv_dw3_bwd_data_s2", &a)) return a.st;
        arg_m(&a, dx->buf); arg_i(&a, (int)dx->offset);
        arg_m(&a, dy->buf); arg_i(&a, (int)dy->offset);
        arg_m(&a, w->buf); arg_i(&a, (int)w->offset);
        arg_i(&a, p->cin); arg_i(&a, p->h); arg_i(&a, p->w); arg_i(&a, oh); arg_i(&a, ow);
        return launch(&a, 2, cdiv((size_t)p->w, 16), (size_t)p->n * p->cin, 1, 0);
    }
    if (start(ctx, t, "conv_dw.cl", "conv_dw_bwd_data", &a)) return a.st;
    arg_m(&a, dx->buf); arg_i(&a, (int)dx->offset);
    arg_m(&a, dy->buf); arg_i(&a, (int)dy->offset);
    arg_m(&a, w->buf); arg_i(&a, (int)w->offset);
    arg_i(&a, p->cin); arg_i(&a, p->h); arg_i(&a, p->w);
    dw_geom(&a, p);
    arg_i(&a, oh); arg_i(&a, ow);
    return launch(&a, 3, cdiv((size_t)p->w, 8), (size_t)p->h, (size_t)p->n * p->cin, 0);
}

static fcl_status dw_bwd_weight(fcl_ctx *ctx, const conv_tune *t, fcl_tensor *dw, const fcl_tensor *dy,
                                const fcl_tensor *x, const fcl_conv2d_params *p, int oh, int ow)
{
    args a;
    if (dw3_applies(p)) {
        if (start(ctx, t, "conv_dw.cl", "conv_dw3_bwd_weight", &a)) return a.st;
        arg_m(&a, dw->buf); arg_i(&a, (int)dw->offset);
        arg_m(&a, dy->buf); arg_i(&a, (int)dy->offset);
        arg_m(&a, x->buf); arg_i(&a, (int)x->offset);
        arg_i(&a, p->n); arg_i(&a, p->cin); arg_i(&a, p->h); arg_i(&a, p->w); arg_i(&a, oh); arg_i(&a, ow);
        arg_i(&a, p->stride_h);
        return launch(&a, 1, (size_t)p->cin, 1, 1, 0);
    }
    if (start(ctx, t, "conv_dw.cl", "conv_dw_bwd_weight", &a)) return a.st;
    arg_m(&a, dw->buf); arg_i(&a, (int)dw->offset);
    arg_m(&a, dy->buf); arg_i(&a, (int)dy->offset);
    arg_m(&a, x->buf); arg_i(&a, (int)x->offset);
    arg_i(&a, p->n); arg_i(&a, p->cin); arg_i(&a, p->h); arg_i(&a, p->w);
    dw_geom(&a, p);
    arg_i(&a, oh); arg_i(&a, ow);
    return launch(&a, 2, (size_t)p->kh * p->kw, (size_t)p->cin, 1, 0);
}

/* ---- public entry points --------------------------------------------------------------------------- */

static double wnumel(const fcl_conv2d_params *p)
{
    return (double)p->cout * (p->cin / p->groups) * p->kh * p->kw;
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
    if ((st = fcl_conv2d_check(p, &oh, &ow, ERRP(ctx)))) goto fail;
    if ((st = check_t(ctx, op, "x", x, (double)p->n * p->cin * p->h * p->w))) goto fail;
    if ((st = check_t(ctx, op, "w", w, wnumel(p)))) goto fail;
    if (b && (st = check_t(ctx, op, "b", b, p->cout))) goto fail;
    if ((st = check_t(ctx, op, "y", y, (double)p->n * p->cout * oh * ow))) goto fail;
    if ((st = check_apart(ctx, op, "y", y, "x", x)) || (st = check_apart(ctx, op, "y", y, "w", w)) ||
        (st = check_apart(ctx, op, "y", y, "b", b)))
        goto fail;
    if ((st = get_tune(ctx, &t))) goto fail;

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

fcl_status fcl_conv2d_bwd_data(fcl_ctx *ctx, fcl_tensor *dx, const fcl_tensor *dy, const fcl_tensor *w,
                               const fcl_conv2d_params *p)
{
    static const char op[] = "fcl_conv2d_bwd_data";
    fcl_status st;
    wsbuf col = {NULL, 0}, dyc = {NULL, 0};
    cl_mem packed = NULL;
    size_t packed_cap = 0;
    int oh, ow;
    conv_tune t;
    if ((st = fcl_conv2d_check(p, &oh, &ow, ERRP(ctx)))) goto fail;
    if ((st = check_t(ctx, op, "dx", dx, (double)p->n * p->cin * p->h * p->w))) goto fail;
    if ((st = check_t(ctx, op, "dy", dy, (double)p->n * p->cout * oh * ow))) goto fail;
    if ((st = check_t(ctx, op, "w", w, wnumel(p)))) goto fail;
    if ((st = check_apart(ctx, op, "dx", dx, "dy", dy)) || (st = check_apart(ctx, op, "dx", dx, "w", w))) goto fail;
    if ((st = get_tune(ctx, &t))) goto fail;

    fcl_conv2d_algo algo = fcl_conv2d_algo_of(p);
    if (t.gpu) {
        st = algo == FCL_CONV_DEPTHWISE ? fcl_conv_dw_gpu_bwd_data(ctx, &t.g, dx, dy, w, p, oh, ow)
                                        : fcl_conv_gpu_bwd_data(ctx, &t.g, dx, dy, w, p, oh, ow);
        goto fail;
    }
    if (algo == FCL_CONV_DEPTHWISE) {
        st = dw_bwd_data(ctx, &t, dx, dy, w, p, oh, ow);
        goto fail;
    }
    int G = p->groups, M = p->cout / G, Kg = p->cin / G * p->kh * p->kw, P = oh * ow;
    /* dcol[g] = W[g]^T * dy[g]: A(kk, co) = w[g * M + co][kk], rows Kg, reduction over M */
    if ((st = pack(ctx, &t, &packed, &packed_cap, G, Kg, M, w, M * Kg, 1, Kg))) goto fail;
    int is1x1 = algo == FCL_CONV_1X1;
    /* dy is the GEMM's B: gathered into a contiguous chunk when column blocks would straddle images */
    int gather = P % t.nb != 0;
    size_t col_rows = is1x1 ? 0 : (size_t)p->cin * p->kh * p->kw, dy_rows = gather ? (size_t)p->cout : 0;
    int chunk = plan_chunk(&t, col_rows + dy_rows, P, p->n);
    if (col_rows && (st = ws_alloc(ctx, &t, col_rows, chunk, P, &col))) goto fail;
    if (dy_rows && (st = ws_alloc(ctx, &t, dy_rows, chunk, P, &dyc))) goto fail;
    const fcl_conv2d_params gq = gather_geom(p->n, p->cout, oh, ow);
    for (int i0 = 0; i0 < p->n; i0 += chunk) {
        int cnt = p->n - i0 < chunk ? p->n - i0 : chunk, ld = col_ld(&t, cnt, P);
        operand bdy = out_operand(dy, i0, p, P);
        if (gather) {
            if ((st = im2col(ctx, &t, dyc.buf, ld, dy, i0, cnt, &gq, oh, ow))) goto fail;
            bdy = ws_operand(&dyc, M, ld, P);
        }
        if (is1x1) { /* dx += W^T * dy directly */
            operand c = in_operand(dx, i0, p, P);
            if ((st = gemm_nn(ctx, &t, G, Kg, M, P, cnt * P, packed, &bdy, &c, NULL, 1))) goto fail;
            continue;
        }
        operand c = ws_operand(&col, Kg, ld, P);
        if ((st = gemm_nn(ctx, &t, G, Kg, M, P, cnt * P, packed, &bdy, &c, NULL, 0))) goto fail;
        if ((st = col2im(ctx, &t, dx, col.buf, ld, i0, cnt, p, oh, ow))) goto fail;
    }
fail:
    if (packed) fcl_pool_free(ctx, packed, packed_cap);
    ws_free(ctx, &col);
    ws_free(ctx, &dyc);
    return st;
}

fcl_status fcl_conv2d_bwd_weight(fcl_ctx *ctx, fcl_tensor *dw, const fcl_tensor *dy, const fcl_tensor *x,
                                 const fcl_conv2d_params *p)
{
    static const char op[] = "fcl_conv2d_bwd_weight";
    fcl_status st;
    wsbuf col = {NULL, 0};
    int oh, ow;
    conv_tune t;
    if ((st = fcl_conv2d_check(p, &oh, &ow, ERRP(ctx)))) goto fail;
    if ((st = check_t(ctx, op, "dw", dw, wnumel(p)))) goto fail;
    if ((st = check_t(ctx, op, "dy", dy, (double)p->n * p->cout * oh * ow))) goto fail;
    if ((st = check_t(ctx, op, "x", x, (double)p->n * p->cin * p->h * p->w))) goto fail;
    if ((st = check_apart(ctx, op, "dw", dw, "dy", dy)) || (st = check_apart(ctx, op, "dw", dw, "x", x))) goto fail;
    if ((st = get_tune(ctx, &t))) goto fail;

    fcl_conv2d_algo algo = fcl_conv2d_algo_of(p);
    if (t.gpu) {
        st = algo == FCL_CONV_DEPTHWISE ? fcl_conv_dw_gpu_bwd_weight(ctx, &t.g, dw, dy, x, p, oh, ow)
                                        : fcl_conv_gpu_bwd_weight(ctx, &t.g, dw, dy, x, p, oh, ow);
        goto fail;
    }
    if (algo == FCL_CONV_DEPTHWISE) {
        st = dw_bwd_weight(ctx, &t, dw, dy, x, p, oh, ow);
        goto fail;
    }
    int G = p->groups, M = p->cout / G, Kg = p->cin / G * p->kh * p->kw, P = oh * ow;
    if (algo == FCL_CONV_1X1) {
        /* dw[g] += dy[g] * x[g]^T straight from the tensors, in chunks of images whose dy and x
         * fit the workspace budget: every work-item streams its rows over the chunk, so larger
         * chunks would be re-read from memory instead of the caches */
        int chunk = plan_chunk(&t, (size_t)p->cin + p->cout, P, p->n);
        for (int i0 = 0; i0 < p->n; i0 += chunk) {
            int cnt = p->n - i0 < chunk ? p->n - i0 : chunk;
            operand ady = out_operand(dy, i0, p, P), bx = in_operand(x, i0, p, P);
            if ((st = gemm_nt(ctx, &t, G, M, Kg, P, cnt, &ady, &bx, dw))) goto fail;
        }
        goto fail;
    }
    int chunk = plan_chunk(&t, (size_t)p->cin * p->kh * p->kw, P, p->n);
    if ((st = ws_alloc(ctx, &t, (size_t)p->cin * p->kh * p->kw, chunk, P, &col))) goto fail;
    for (int i0 = 0; i0 < p->n; i0 += chunk) {
        int cnt = p->n - i0 < chunk ? p->n - i0 : chunk, ld = col_ld(&t, cnt, P);
        if ((st = im2col(ctx, &t, col.buf, ld, x, i0, cnt, p, oh, ow))) goto fail;
        operand ady = out_operand(dy, i0, p, P), bc = ws_operand(&col, Kg, ld, P);
        if ((st = gemm_nt(ctx, &t, G, M, Kg, P, cnt, &ady, &bc, dw))) goto fail;
    }
fail:
    ws_free(ctx, &col);
    return st;
}

fcl_status fcl_conv2d_bwd_bias(fcl_ctx *ctx, fcl_tensor *db, const fcl_tensor *dy, const fcl_conv2d_params *p)
{
    static const char op[] = "fcl_conv2d_bwd_bias";
    fcl_status st;
    int oh, ow;
    conv_tune t;
    args a;
    if ((st = fcl_conv2d_check(p, &oh, &ow, ERRP(ctx)))) goto fail;
    if ((st = check_t(ctx, op, "db", db, p->cout))) goto fail;
    if ((st = check_t(ctx, op, "dy", dy, (double)p->n * p->cout * oh * ow))) goto fail;
    if ((st = check_apart(ctx, op, "db", db, "dy", dy))) goto fail;
    if ((st = get_tune(ctx, &t))) goto fail;
    if (t.gpu) {
        st = fcl_conv_gpu_bwd_bias(ctx, &t.g, db, dy, p, oh, ow);
        goto fail;
    }
    if ((st = start(ctx, &t, "conv.cl", "conv_bias_grad", &a))) goto fail;
    arg_m(&a, db->buf); arg_i(&a, (int)db->offset);
    arg_m(&a, dy->buf); arg_i(&a, (int)dy->offset);
    arg_i(&a, p->cout); arg_i(&a, oh * ow); arg_i(&a, p->n);
    st = launch(&a, 1, (size_t)p->cout, 1, 1, 0);
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
