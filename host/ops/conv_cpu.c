/* host/ops/conv_cpu.c: the im2col-GEMM convolution on the CPU-shaped kernels of cl/conv.cl: tuning, packing, GEMMs, workspace, the three directions. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "facecl/tuning.h"
#include "ops/conv_cpu.h"

static const fcl_op_src CONV = {"conv_act.cl+conv_common.cl+conv.cl", FCL_TF_CONV};
/* conv_im2col_tpanel (wgrad_nn's right operand) in a program of its own (cl/conv.cl is full) */
static const fcl_op_src TPANEL = {"conv_common.cl+conv_tpanel.cl", FCL_TF_CONV};

/* ---- tuning ---------------------------------------------------------------------------------- */


fcl_status fcl_conv_tune_get(fcl_ctx *ctx, fcl_conv_tune *t)
{
#define T(id) fcl_tuning_int(ctx, FCL_T_CONV_##id)
    t->mb = T(MB);
    t->nv = T(NV);
    t->nb = T(VW) * t->nv;
    t->tm = T(TM);
    t->tn = T(TN);
    t->tw = T(TW);
    t->lnn = T(LNN);
    t->lnt = T(LNT);
    t->lother = T(LOCAL);
    t->col_kb = T(COL_KB);
    t->gpu = T(GPU);
    t->wino = T(WINO);
    t->wino_s2 = T(WINO_S2);
    t->bpanel = T(BPANEL);
    t->wg_nn = T(WG_NN);
    t->nt_kb = T(NT_KB);
    t->b1x1 = T(B1X1);
    t->im_kb = T(IM_KB);
    t->c2i_order = T(C2I_ORDER);
    fcl_conv_gpu_tune g = {T(GM), T(GN), T(GK), T(GWM), T(GWN), T(GWG), T(USE_SG), t->col_kb, T(GSPLIT)};
#undef T
    t->g = g;
    return FCL_OK;
}

/* ---- kernel launches ------------------------------------------------------------------------ */

/* Starts binding the arguments of kernel `name` of src (a failure sticks in a->st). */
fcl_status fcl_conv_start(fcl_ctx *ctx, const fcl_op_src *src, const char *name, fcl_op_args *a)
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
fcl_status fcl_conv_launch(const fcl_conv_tune *t, fcl_op_args *a, unsigned dims, size_t g0, size_t g1, size_t g2, size_t l0)
{
    if (!l0) l0 = (size_t)t->lother;
    size_t g[3] = {g0, g1, g2}, l[3] = {l0, 1, 1};
    return fcl_op_args_run(a, dims, g, l0 ? l : NULL);
}


/* ---- the GEMM kernels ---------------------------------------------------------------------------- */


/* An operand's buffer, offset and strides (image, row, group). */
static void arg_opnd(fcl_op_args *x, const fcl_conv_operand *o)
{
    fcl_op_arg_m(x, o->buf);
    fcl_op_arg_i(x, o->off); fcl_op_arg_i(x, o->img); fcl_op_arg_i(x, o->row); fcl_op_arg_i(x, o->g);
}

/* c = act(A * b (+ bias) (+ c) (+ res)), A packed by fcl_conv_pack() for these M, K; res (NULL:
 * none) read at c's element index + res_delta. */
fcl_status fcl_conv_gemm_nn_act(fcl_ctx *ctx, const fcl_conv_tune *t, int G, int M, int K, int P, int ncols, cl_mem a,
                                const fcl_conv_operand *b, const fcl_conv_operand *c, const fcl_tensor *bias,
                                int accumulate, const fcl_tensor *res, int res_delta, int act)
{
    fcl_op_args x;
    if (fcl_conv_start(ctx, &CONV, "conv_gemm_nn", &x)) return x.st;
    fcl_op_arg_i(&x, M); fcl_op_arg_i(&x, K); fcl_op_arg_i(&x, P); fcl_op_arg_i(&x, ncols);
    fcl_op_arg_m(&x, a); fcl_op_arg_i(&x, (int)(fcl_op_div_up((size_t)M, (size_t)t->mb) * t->mb) * K);
    arg_opnd(&x, b);
    fcl_op_arg_i(&x, b->contig);
    arg_opnd(&x, c);
    fcl_op_arg_i(&x, c->contig);
    fcl_op_arg_m(&x, bias ? bias->buf : a); fcl_op_arg_i(&x, bias ? (int)bias->offset : 0);
    fcl_op_arg_i(&x, bias != NULL);
    fcl_op_arg_i(&x, accumulate);
    fcl_op_arg_m(&x, res ? res->buf : a); fcl_op_arg_i(&x, res_delta); fcl_op_arg_i(&x, res != NULL);
    fcl_op_arg_i(&x, act);
    /* groups of CONV_LNN row blocks of one column panel (the grid rounded up: a few empty work-
     * items), or of 1 where there are fewer row blocks than that, so that a GEMM with few rows
     * (MobileNetV2's 16-channel 1x1s: 3 row blocks) does not dispatch mostly empty work-items;
     * two group sizes at most (PoCL compiles a kernel per group size) */
    size_t nmb = fcl_op_div_up((size_t)M, (size_t)t->mb), l0 = (size_t)t->lnn;
    if (l0 > 1 && nmb < l0) l0 = 1;
    return fcl_conv_launch(t, &x, 3, nmb, fcl_op_div_up((size_t)ncols, (size_t)t->nb), (size_t)G, l0);
}

fcl_status fcl_conv_gemm_nn(fcl_ctx *ctx, const fcl_conv_tune *t, int G, int M, int K, int P, int ncols, cl_mem a,
                            const fcl_conv_operand *b, const fcl_conv_operand *c, const fcl_tensor *bias, int accumulate)
{
    return fcl_conv_gemm_nn_act(ctx, t, G, M, K, P, ncols, a, b, c, bias, accumulate, NULL, 0, FCL_CONV_ACT_NONE);
}

/* c[g][m][j] (row stride N, groups M * N apart) += sum over columns of A(m, .) * B(j, .). */
fcl_status fcl_conv_gemm_nt(fcl_ctx *ctx, const fcl_conv_tune *t, int G, int M, int N, int P, int nimg,
                          const fcl_conv_operand *a, const fcl_conv_operand *b, const fcl_tensor *c)
{
    fcl_op_args x;
    if (fcl_conv_start(ctx, &CONV, "conv_gemm_nt", &x)) return x.st;
    fcl_op_arg_i(&x, M); fcl_op_arg_i(&x, N); fcl_op_arg_i(&x, P); fcl_op_arg_i(&x, nimg);
    arg_opnd(&x, a);
    arg_opnd(&x, b);
    fcl_op_arg_t(&x, c); fcl_op_arg_i(&x, N); fcl_op_arg_i(&x, M * N);
    return fcl_conv_launch(t, &x, 3, fcl_op_div_up((size_t)M, (size_t)t->tm), fcl_op_div_up((size_t)N, (size_t)t->tn), (size_t)G, (size_t)t->lnt);
}

/* Packs A(m, k) = w[w.offset + g * s_g + m * s_m + k * s_k] (m < M, k < K) for conv_gemm_nn
 * into *dst: a new pool buffer (*cap bytes; the caller frees it) when *dst is NULL, else the
 * caller's buffer of at least G * nmb * CONV_MB * K floats (a prepared-weights slot). */
fcl_status fcl_conv_pack(fcl_ctx *ctx, const fcl_conv_tune *t, cl_mem *dst, size_t *cap, int G, int M, int K,
                       const fcl_tensor *w, int s_g, int s_m, int s_k)
{
    return fcl_conv_pack_img(ctx, t, dst, cap, G, M, K, w, s_g, s_m, s_k, K > 0 ? K : 1, 0);
}

/* The same with k split into (k / P, k % P): w[... + (k / P) * s_img + (k % P) * s_k]. */
fcl_status fcl_conv_pack_img(fcl_ctx *ctx, const fcl_conv_tune *t, cl_mem *dst, size_t *cap, int G, int M, int K,
                             const fcl_tensor *w, int s_g, int s_m, int s_k, int P, int s_img)
{
    size_t nmb = fcl_op_div_up((size_t)M, (size_t)t->mb), floats = (size_t)G * nmb * t->mb * K;
    if (floats >= INT_MAX)
        return FCL_ERR(ERRP(ctx), FCL_ERR_SHAPE, "conv2d: the packed weights (%zu floats) exceed 32-bit indexing",
                       floats);
    fcl_status st = *dst ? FCL_OK : fcl_pool_alloc(ctx, floats * sizeof(float), dst, cap);
    if (st) return st;
    fcl_op_args x;
    if (fcl_conv_start(ctx, &CONV, "conv_pack", &x)) return x.st;
    fcl_op_arg_m(&x, *dst); fcl_op_arg_i(&x, M); fcl_op_arg_i(&x, K); fcl_op_arg_i(&x, (int)nmb);
    fcl_op_arg_t(&x, w); fcl_op_arg_i(&x, s_g); fcl_op_arg_i(&x, s_m); fcl_op_arg_i(&x, s_k);
    fcl_op_arg_i(&x, P); fcl_op_arg_i(&x, s_img);
    /* a work-item per CONV_PK (8, cl/conv.cl) k of a panel, panels first for a transposed
     * source (s_m 1); small work-items: groups of 16 */
    size_t kb = fcl_op_div_up((size_t)K, 8);
    const int tr = s_m == 1 && s_k != 1;
    return fcl_conv_launch(t, &x, 3, tr ? nmb : kb, tr ? kb : nmb, (size_t)G, 16);
}

/* ---- chunks of images and their workspace ---------------------------------------------------------- */


int fcl_conv_col_ld(const fcl_conv_tune *t, int cnt, int P) { return (int)(fcl_op_div_up((size_t)cnt * P, (size_t)t->nb) * t->nb); }

/* Images per chunk such that `rows` workspace rows (all buffers together) fit the budget. */
int fcl_conv_plan_chunk(const fcl_conv_tune *t, size_t rows, int P, int n)
{
    size_t per_img = rows * (size_t)P * sizeof(float);
    size_t chunk = per_img ? (size_t)t->col_kb * 1024 / per_img : (size_t)n;
    if (chunk < 1) chunk = 1;
    return chunk > (size_t)n ? n : (int)chunk;
}

/* The same under a budget of kb KiB instead of CONV_COL_KB's (kb 0: CONV_COL_KB's). */
static int plan_chunk_kb(const fcl_conv_tune *t, int kb, size_t rows, int P, int n)
{
    fcl_conv_tune tc = *t;
    if (kb) tc.col_kb = kb;
    return fcl_conv_plan_chunk(&tc, rows, P, n);
}

/* The chunks of the im2col GEMMs below (forward, data gradient, wgrad_nn): CONV_IM_KB's budget. */
static int im_chunk(const fcl_conv_tune *t, size_t rows, int P, int n)
{
    return plan_chunk_kb(t, t->im_kb, rows, P, n);
}

fcl_status fcl_conv_ws_alloc(fcl_ctx *ctx, const fcl_conv_tune *t, size_t rows, int chunk, int P, fcl_conv_ws *w)
{
    size_t floats = rows * (size_t)fcl_conv_col_ld(t, chunk, P);
    const fcl_device_info *d = fcl_ctx_device(ctx);
    if (floats * sizeof(float) > d->max_alloc || floats >= INT_MAX)
        return FCL_ERR(ERRP(ctx), FCL_ERR_UNSUPPORTED, "conv2d: the im2col workspace of %d image(s) needs %.1f MiB "
                       "(%zu x %d floats), over the device's %.1f MiB allocation limit or 32-bit indexing", chunk,
                       (double)floats * 4 / 1048576.0, rows, fcl_conv_col_ld(t, chunk, P), (double)d->max_alloc / 1048576.0);
    return fcl_pool_alloc(ctx, floats * sizeof(float), &w->buf, &w->cap);
}

void fcl_conv_ws_free(fcl_ctx *ctx, fcl_conv_ws *w)
{
    if (w->buf) fcl_pool_free(ctx, w->buf, w->cap);
    w->buf = NULL;
}

/* im2col (kernel `name`: conv_im2col rows, or conv_im2col_panel when panels > 0) of images i0 ..
 * i0 + cnt - 1 of x into dst ([G][Kg][ld] floats) for the geometry p. */
static fcl_status im2col_run(fcl_ctx *ctx, const fcl_conv_tune *t, const char *name, cl_mem dst, int ld,
                             const fcl_tensor *x, int i0, int cnt, const fcl_conv2d_params *p, int oh, int ow,
                             int panels)
{
    int G = p->groups, cin_g = p->cin / G, Kg = cin_g * p->kh * p->kw;
    fcl_op_args a;
    if (fcl_conv_start(ctx, &CONV, name, &a)) return a.st;
    fcl_op_arg_m(&a, dst); fcl_op_arg_i(&a, ld); fcl_op_arg_i(&a, Kg * ld);
    fcl_op_arg_m(&a, x->buf); fcl_op_arg_i(&a, (int)x->offset + i0 * p->cin * p->h * p->w);
    fcl_op_arg_i(&a, p->cin); fcl_op_arg_i(&a, p->h); fcl_op_arg_i(&a, p->w); fcl_op_arg_i(&a, cin_g);
    fcl_conv_geom_args(&a, p);
    fcl_op_arg_i(&a, oh); fcl_op_arg_i(&a, ow); fcl_op_arg_i(&a, cnt);
    if (!panels) return fcl_conv_launch(t, &a, 3, (size_t)cin_g, (size_t)cnt, (size_t)G, 0);
    /* conv_im2col_panel: a work-item per panel and block of cpw channels, halving the blocks
     * until there are IM2COL_ITEMS work-items (2 threads kept busy at the launch's end) or one
     * channel each (ResNet-18 @112 b32, CPU256: layer2.0 110 panels a chunk x 4 blocks of 16
     * channels, layer4.0 27 panels x 16 blocks of 16; a linear layer's gather of 512 features,
     * P 1, batch 32: 2 panels x 128 blocks of 4) */
    enum { IM2COL_ITEMS = 256 };
    int cpw = cin_g;
    while (cpw > 1 && (double)panels * G * (double)fcl_op_div_up((size_t)cin_g, (size_t)cpw) < IM2COL_ITEMS)
        cpw = (cpw + 1) / 2;
    fcl_op_arg_i(&a, cpw);
    return fcl_conv_launch(t, &a, 3, (size_t)panels, fcl_op_div_up((size_t)cin_g, (size_t)cpw), (size_t)G, 0);
}

fcl_status fcl_conv_im2col(fcl_ctx *ctx, const fcl_conv_tune *t, cl_mem dst, int ld, const fcl_tensor *x,
                         int i0, int cnt, const fcl_conv2d_params *p, int oh, int ow)
{
    return im2col_run(ctx, t, "conv_im2col", dst, ld, x, i0, cnt, p, oh, ow, 0);
}

/* im2col as conv_gemm_nn's right operand: in column panels when CONV_BPANEL says so. */
fcl_status fcl_conv_im2col_nn(fcl_ctx *ctx, const fcl_conv_tune *t, const fcl_conv_ws *w, int rows_g, int ld,
                              const fcl_tensor *x, int i0, int cnt, const fcl_conv2d_params *p, int oh, int ow,
                              fcl_conv_operand *b)
{
    *b = fcl_conv_ws_operand(w, rows_g, ld, oh * ow);
    if (t->bpanel) b->contig = 2;
    const int panels = t->bpanel ? (int)fcl_op_div_up((size_t)cnt * oh * ow, (size_t)t->nb) : 0;
    return im2col_run(ctx, t, t->bpanel ? "conv_im2col_panel" : "conv_im2col", w->buf, ld, x, i0, cnt, p, oh, ow,
                      panels);
}

/* The geometry under which im2col of an [n, c, h, w] tensor only gathers its images side by side
 * ([c][image * h * w + pixel]): a 1x1 dense convolution without stride or padding. */
static fcl_conv2d_params gather_geom(int n, int c, int h, int w)
{
    fcl_conv2d_params q = {n, c, h, w, c, 1, 1, 1, 1, 0, 0, 1, 1, 1, 0, 0};
    return q;
}

fcl_status fcl_conv_col2im(fcl_ctx *ctx, const fcl_conv_tune *t, fcl_tensor *dx, cl_mem col, int ld,
                         int i0, int cnt, const fcl_conv2d_params *p, int oh, int ow)
{
    int G = p->groups, cin_g = p->cin / G, Kg = cin_g * p->kh * p->kw;
    fcl_op_args a;
    if (fcl_conv_start(ctx, &CONV, "conv_col2im", &a)) return a.st;
    fcl_op_arg_m(&a, dx->buf); fcl_op_arg_i(&a, (int)dx->offset + i0 * p->cin * p->h * p->w);
    fcl_op_arg_i(&a, p->cin); fcl_op_arg_i(&a, p->h); fcl_op_arg_i(&a, p->w); fcl_op_arg_i(&a, cin_g);
    fcl_op_arg_m(&a, col); fcl_op_arg_i(&a, ld); fcl_op_arg_i(&a, Kg * ld);
    fcl_conv_geom_args(&a, p);
    fcl_op_arg_i(&a, oh); fcl_op_arg_i(&a, ow); fcl_op_arg_i(&a, cnt);
    if (t->c2i_order) /* images fastest: neighbouring work-items read on along the same dcol rows */
        return fcl_conv_launch(t, &a, 3, (size_t)cnt, (size_t)cin_g, (size_t)G, 0);
    return fcl_conv_launch(t, &a, 3, (size_t)cin_g, (size_t)cnt, (size_t)G, 0);
}

/* y or dy (from image i0) as a GEMM operand: rows are the channels of group g. */
fcl_conv_operand fcl_conv_out_operand(const fcl_tensor *t, int i0, const fcl_conv2d_params *p, int P)
{
    int cout_g = p->cout / p->groups;
    fcl_conv_operand o = {t->buf, (int)t->offset + i0 * p->cout * P, p->cout * P, P, cout_g * P, 0};
    return o;
}

/* x or dx likewise, for the 1x1 algorithm (P = h * w). */
fcl_conv_operand fcl_conv_in_operand(const fcl_tensor *t, int i0, const fcl_conv2d_params *p, int P)
{
    int cin_g = p->cin / p->groups;
    fcl_conv_operand o = {t->buf, (int)t->offset + i0 * p->cin * P, p->cin * P, P, cin_g * P, 0};
    return o;
}

/* A workspace chunk as a GEMM operand: [G][rows_g][ld], contiguous over the columns. */
fcl_conv_operand fcl_conv_ws_operand(const fcl_conv_ws *w, int rows_g, int ld, int P)
{
    fcl_conv_operand o = {w->buf, 0, P, ld, rows_g * ld, 1};
    return o;
}

/* ---- the directions ------------------------------------------------------------------------------ */

/* Whether conv_gemm_nn reads a 1x1 conv's x or dy (P pixels an image) in place: vectors whole
 * inside images (P a multiple of CONV_VW), or from CONV_B1X1 pixels on two loads for those that
 * cross into the next image. Otherwise vectors would straddle images lane by lane, or cross so
 * often that gathering is faster. */
static int in_place_1x1(const fcl_conv_tune *t, int P)
{
    const int vw = t->nb / t->nv;
    return P % vw == 0 || (t->b1x1 && P >= t->b1x1 && P >= vw);
}

/* y = act(conv(x, w) + b (+ r)) through the GEMM: y[g] = W[g] * B[g], B = x (1x1) or im2col(x),
 * the residual r (NULL: none) and the output activation p->out_act applied in conv_gemm_nn's store. The packed weights are kept in
 * prep (when given) across calls at one version, keyed by CONV_MB (their panel layout). */
fcl_status fcl_conv_gemm_fwd(fcl_ctx *ctx, const fcl_conv_tune *t, fcl_tensor *y, const fcl_tensor *x,
                             const fcl_tensor *w, const fcl_tensor *b, const fcl_tensor *r, const fcl_conv2d_params *p,
                             int oh, int ow, fcl_conv_prep *prep)
{
    fcl_status st;
    fcl_conv_ws col = {NULL, 0};
    cl_mem packed = NULL, kept = NULL;
    size_t packed_cap = 0;
    int fill = 1;
    fcl_conv2d_algo algo = fcl_conv2d_algo_of(p);
    int G = p->groups, M = p->cout / G, Kg = p->cin / G * p->kh * p->kw, P = oh * ow;
    size_t bytes = (size_t)G * fcl_op_div_up((size_t)M, (size_t)t->mb) * t->mb * Kg * sizeof(float);
    const int rd = r ? (int)r->offset - (int)y->offset : 0; /* r has y's shape: same index, other buffer */
    if ((st = fcl_conv_prep_get(ctx, prep, FCL_CONV_PREP_GEMM, t->mb, bytes, &kept, &fill))) goto fail;
    packed = kept;
    /* y[g] = W[g] * B[g]: A(m, k) = w[g * M + m][k] */
    if (fill) {
        if ((st = fcl_conv_pack(ctx, t, &packed, &packed_cap, G, M, Kg, w, M * Kg, Kg, 1))) goto fail;
        if (kept) fcl_conv_prep_done(prep, FCL_CONV_PREP_GEMM);
    }
    if (algo == FCL_CONV_1X1 && in_place_1x1(t, P)) {
        /* B = x itself; otherwise the im2col path below (a plain gather for 1x1). (Gathering into
         * column panels anyway costs more than it saves on MobileNetV2's 1x1s.) */
        fcl_conv_operand bx = fcl_conv_in_operand(x, 0, p, P), c = fcl_conv_out_operand(y, 0, p, P);
        st = fcl_conv_gemm_nn_act(ctx, t, G, M, Kg, P, p->n * P, packed, &bx, &c, b, 0, r, rd, p->out_act);
        goto fail;
    }
    int chunk = im_chunk(t, (size_t)p->cin * p->kh * p->kw, P, p->n);
    if ((st = fcl_conv_ws_alloc(ctx, t, (size_t)p->cin * p->kh * p->kw, chunk, P, &col))) goto fail;
    for (int i0 = 0; i0 < p->n; i0 += chunk) {
        int cnt = p->n - i0 < chunk ? p->n - i0 : chunk, ld = fcl_conv_col_ld(t, cnt, P);
        fcl_conv_operand bc, c = fcl_conv_out_operand(y, i0, p, P);
        if ((st = fcl_conv_im2col_nn(ctx, t, &col, Kg, ld, x, i0, cnt, p, oh, ow, &bc))) goto fail;
        if ((st = fcl_conv_gemm_nn_act(ctx, t, G, M, Kg, P, cnt * P, packed, &bc, &c, b, 0, r, rd, p->out_act)))
            goto fail;
    }
fail:
    if (packed && !kept) fcl_pool_free(ctx, packed, packed_cap);
    fcl_conv_ws_free(ctx, &col);
    return st;
}

/* dx += the data gradient through the CPU-shaped GEMMs: dcol = W^T * dy, then col2im (1x1: dx +=
 * W^T * dy directly). */
fcl_status fcl_conv_gemm_bwd_data(fcl_ctx *ctx, const fcl_conv_tune *t, fcl_tensor *dx, const fcl_tensor *dy,
                                const fcl_tensor *w, const fcl_conv2d_params *p, int oh, int ow)
{
    fcl_status st;
    fcl_conv_ws col = {NULL, 0}, dyc = {NULL, 0};
    cl_mem packed = NULL;
    size_t packed_cap = 0;
    fcl_conv2d_algo algo = fcl_conv2d_algo_of(p);
    int G = p->groups, M = p->cout / G, Kg = p->cin / G * p->kh * p->kw, P = oh * ow;
    /* dcol[g] = W[g]^T * dy[g]: A(kk, co) = w[g * M + co][kk], rows Kg, reduction over M */
    if ((st = fcl_conv_pack(ctx, t, &packed, &packed_cap, G, Kg, M, w, M * Kg, 1, Kg))) goto fail;
    int is1x1 = algo == FCL_CONV_1X1;
    /* dy is the GEMM's B: gathered into a contiguous chunk (column panels under CONV_BPANEL) when
     * column vectors would straddle images (gathering always measured no faster), except where
     * CONV_B1X1 reads a 1x1 conv's dy in place. Not for the other kernel sizes: their GEMM has
     * Cin * KH * KW rows, many row blocks re-reading each column block of dy, which the panels
     * serve better (ResNet-18 layer2.0 64x28^2>128 3x3/2, P 196, bwd_data CPU ms, Zen 3, loaded,
     * 5 alternating pairs: gathered 18.5-20.4, in place by the CONV_B1X1 rule 20.9-25.9) */
    int gather = is1x1 ? !in_place_1x1(t, P) : P % (t->nb / t->nv) != 0;
    size_t col_rows = is1x1 ? 0 : (size_t)p->cin * p->kh * p->kw, dy_rows = gather ? (size_t)p->cout : 0;
    int chunk = im_chunk(t, col_rows + dy_rows, P, p->n);
    if (col_rows && (st = fcl_conv_ws_alloc(ctx, t, col_rows, chunk, P, &col))) goto fail;
    if (dy_rows && (st = fcl_conv_ws_alloc(ctx, t, dy_rows, chunk, P, &dyc))) goto fail;
    fcl_conv2d_params gq = gather_geom(p->n, p->cout, oh, ow);
    gq.groups = G; /* group g's M rows of dy as its own [M][ld] block (rows or panels) */
    for (int i0 = 0; i0 < p->n; i0 += chunk) {
        int cnt = p->n - i0 < chunk ? p->n - i0 : chunk, ld = fcl_conv_col_ld(t, cnt, P);
        fcl_conv_operand bdy = fcl_conv_out_operand(dy, i0, p, P);
        if (gather && (st = fcl_conv_im2col_nn(ctx, t, &dyc, M, ld, dy, i0, cnt, &gq, oh, ow, &bdy))) goto fail;
        if (is1x1) { /* dx += W^T * dy directly */
            fcl_conv_operand c = fcl_conv_in_operand(dx, i0, p, P);
            if ((st = fcl_conv_gemm_nn(ctx, t, G, Kg, M, P, cnt * P, packed, &bdy, &c, NULL, 1))) goto fail;
            continue;
        }
        fcl_conv_operand c = fcl_conv_ws_operand(&col, Kg, ld, P);
        if ((st = fcl_conv_gemm_nn(ctx, t, G, Kg, M, P, cnt * P, packed, &bdy, &c, NULL, 0))) goto fail;
        if ((st = fcl_conv_col2im(ctx, t, dx, col.buf, ld, i0, cnt, p, oh, ow))) goto fail;
    }
fail:
    if (packed) fcl_pool_free(ctx, packed, packed_cap);
    fcl_conv_ws_free(ctx, &col);
    fcl_conv_ws_free(ctx, &dyc);
    return st;
}

/* dw += dy * col^T on conv_gemm_nn (CONV_WG_NN): per chunk of cnt images, dy packed straight from
 * NCHW as A (M x cnt * P), col^T in column panels (conv_im2col_tpanel) as B (cnt * P x Kg),
 * C = dw[g] (M x Kg, accumulated): every output a vector lane summing over the chunk's pixels
 * in order, chunk after chunk. */
static fcl_status wgrad_nn(fcl_ctx *ctx, const fcl_conv_tune *t, fcl_tensor *dw, const fcl_tensor *dy,
                           const fcl_tensor *x, const fcl_conv2d_params *p, int oh, int ow)
{
    fcl_status st = FCL_OK;
    fcl_conv_ws col = {NULL, 0};
    cl_mem packed = NULL;
    size_t packed_cap = 0;
    int G = p->groups, M = p->cout / G, cin_g = p->cin / G, Kg = cin_g * p->kh * p->kw, P = oh * ow;
    int nq = (int)fcl_op_div_up((size_t)Kg, (size_t)t->nb), kgp = nq * t->nb;
    size_t mp = fcl_op_div_up((size_t)M, (size_t)t->mb) * t->mb;
    /* per image: G * kgp panel columns, dy's rows (read in place; counted so the chunks, and so
     * the order of dW's additions, stay those of the gathered copy this replaced) and their packed
     * copy, P pixels each */
    int chunk = im_chunk(t, (size_t)G * kgp + (size_t)p->cout + (size_t)G * mp, P, p->n);
    if ((st = fcl_conv_ws_alloc(ctx, t, (size_t)G * kgp, chunk, P, &col))) goto fail;
    for (int i0 = 0; i0 < p->n; i0 += chunk) {
        int cnt = p->n - i0 < chunk ? p->n - i0 : chunk, ld = fcl_conv_col_ld(t, cnt, P), kr = cnt * P;
        /* A(m, n = img * P + p) = dy[i0 + img][g * M + m][p] */
        fcl_tensor dyv = *dy;
        dyv.offset = dy->offset + (size_t)i0 * p->cout * P;
        if ((st = fcl_conv_pack_img(ctx, t, &packed, &packed_cap, G, M, kr, &dyv, M * P, P, 1, P, p->cout * P)))
            goto fail;
        fcl_op_args a;
        if (fcl_conv_start(ctx, &TPANEL, "conv_im2col_tpanel", &a)) { st = a.st; goto fail; }
        fcl_op_arg_m(&a, col.buf); fcl_op_arg_i(&a, ld); fcl_op_arg_i(&a, kgp * kr);
        fcl_op_arg_m(&a, x->buf); fcl_op_arg_i(&a, (int)x->offset + i0 * p->cin * p->h * p->w);
        fcl_op_arg_i(&a, p->cin); fcl_op_arg_i(&a, p->h); fcl_op_arg_i(&a, p->w); fcl_op_arg_i(&a, cin_g);
        fcl_conv_geom_args(&a, p);
        fcl_op_arg_i(&a, oh); fcl_op_arg_i(&a, ow); fcl_op_arg_i(&a, cnt);
        if ((st = fcl_conv_launch(t, &a, 3, (size_t)nq, (size_t)cnt, (size_t)G, 0))) goto fail;
        /* B (n, kk) in panels, kr rows; C (m, kk) = dw[g * M + m][kk]: one "image" of Kg columns */
        fcl_conv_operand b = {col.buf, 0, 0, 0, kgp * kr, 2}, c = {dw->buf, (int)dw->offset, 0, Kg, M * Kg, 0};
        if ((st = fcl_conv_gemm_nn(ctx, t, G, M, kr, Kg, Kg, packed, &b, &c, NULL, 1))) goto fail;
        fcl_pool_free(ctx, packed, packed_cap);
        packed = NULL;
    }
fail:
    if (packed) fcl_pool_free(ctx, packed, packed_cap);
    fcl_conv_ws_free(ctx, &col);
    return st;
}

/* dw += the weight gradient through the CPU-shaped GEMMs: dy * B^T, B = x (1x1) or im2col(x),
 * in chunks of images whose rows fit CONV_NT_KB (and the workspace CONV_COL_KB). conv_gemm_nt reduces each image's P
 * pixels in vectors of CONV_TW with a slow lane-by-lane tail: when P is not a multiple of
 * CONV_TW (ResNet-18's 14x14 and 7x7 layers at CONV_TW 16), dy (and x for 1x1) are first
 * gathered into contiguous chunk rows, so the whole chunk is one run with one tail. */
fcl_status fcl_conv_gemm_bwd_weight(fcl_ctx *ctx, const fcl_conv_tune *t, fcl_tensor *dw, const fcl_tensor *dy,
                                    const fcl_tensor *x, const fcl_conv2d_params *p, int oh, int ow)
{
    fcl_status st = FCL_OK;
    fcl_conv_ws col = {NULL, 0}, dyc = {NULL, 0};
    int G = p->groups, M = p->cout / G, Kg = p->cin / G * p->kh * p->kw, P = oh * ow;
    if (P <= t->wg_nn) return wgrad_nn(ctx, t, dw, dy, x, p, oh, ow);
    int is1x1 = fcl_conv2d_algo_of(p) == FCL_CONV_1X1, gather = P % t->tw != 0;
    /* 1x1 without gathering reads x itself: no workspace for it (the budget still bounds the
     * chunk, so each work-item's rows stay in the caches) */
    size_t col_rows = (size_t)p->cin * p->kh * p->kw, dy_rows = gather ? (size_t)p->cout : 0;
    /* chunks of CONV_NT_KB (dy + B rows that stay in L2 while the work-items sharing them run) */
    int kb = t->nt_kb && t->nt_kb < t->col_kb ? t->nt_kb : 0;
    int chunk = plan_chunk_kb(t, kb, col_rows + (gather ? dy_rows : (size_t)p->cout), P, p->n);
    if ((!is1x1 || gather) && (st = fcl_conv_ws_alloc(ctx, t, col_rows, chunk, P, &col))) goto fail;
    if (gather && (st = fcl_conv_ws_alloc(ctx, t, dy_rows, chunk, P, &dyc))) goto fail;
    const fcl_conv2d_params gq = gather_geom(p->n, p->cout, oh, ow);
    for (int i0 = 0; i0 < p->n; i0 += chunk) {
        int cnt = p->n - i0 < chunk ? p->n - i0 : chunk, ld = fcl_conv_col_ld(t, cnt, P);
        fcl_conv_operand ady = fcl_conv_out_operand(dy, i0, p, P), bx = fcl_conv_in_operand(x, i0, p, P);
        if (col.buf) {
            if ((st = fcl_conv_im2col(ctx, t, col.buf, ld, x, i0, cnt, p, oh, ow))) goto fail;
            bx = fcl_conv_ws_operand(&col, Kg, ld, P);
        }
        int np = P, nimg = cnt;
        if (gather) { /* one run of cnt * P columns: rows ld apart, groups rows * ld apart */
            if ((st = fcl_conv_im2col(ctx, t, dyc.buf, ld, dy, i0, cnt, &gq, oh, ow))) goto fail;
            ady = fcl_conv_ws_operand(&dyc, M, ld, P);
            np = cnt * P;
            nimg = 1;
        }
        if ((st = fcl_conv_gemm_nt(ctx, t, G, M, Kg, np, nimg, &ady, &bx, dw))) goto fail;
    }
fail:
    fcl_conv_ws_free(ctx, &col);
    fcl_conv_ws_free(ctx, &dyc);
    return st;
}

/* ---- row-major GEMMs on the conv kernels ------------------------------------------------------- */

/* C (m x n) = op(A) op(B) (+ C when accumulate), all row-major, op(X) = X or X^T as ta / tb say
 * (A is m x k or k x m, B is k x n or n x k); (ta, tb) = (1, 1) is not handled here. conv_gemm_nn
 * needs its right operand's rows contiguous along the output columns:
 *   tb 0: C = op(A) B directly, op(A) packed (for a linear layer's backward: dx = dy W, dW = dy^T x);
 *   tb 1: C^T = B op(A)^T, B packed and A^T gathered by im2col (a linear forward y = x W^T, where
 *         the big operand W is the packed one and only the batch-sized x is gathered), C stored
 *         transposed (P = 1: every column its own "image" of one pixel). */
fcl_status fcl_conv_rowmajor_gemm(fcl_ctx *ctx, const fcl_tensor *c, const fcl_tensor *a, int ta, const fcl_tensor *b,
                                  int tb, size_t m, size_t n, size_t k, int accumulate)
{
    fcl_conv_tune t;
    fcl_conv_ws at = {NULL, 0};
    cl_mem packed = NULL;
    size_t packed_cap = 0;
    fcl_status st = fcl_conv_tune_get(ctx, &t);
    if (st) return st;
    if ((ta && tb) || m >= INT_MAX / 2 || n >= INT_MAX / 2 || k >= INT_MAX / 2 || (double)m * k >= INT_MAX ||
        (double)n * k >= INT_MAX || (double)m * n >= INT_MAX)
        return FCL_ERR(ERRP(ctx), FCL_ERR_INVALID_ARG, "gemm on the conv kernels: transposes %d/%d or sizes %zu x %zu "
                       "x %zu not handled", ta, tb, m, n, k);
    int M = (int)m, N = (int)n, K = (int)k;
    if (!tb) {
        if ((st = fcl_conv_pack(ctx, &t, &packed, &packed_cap, 1, M, K, a, 0, ta ? 1 : K, ta ? M : 1))) goto fail;
        fcl_conv_operand bo = {b->buf, (int)b->offset, N, N, 0, 0}, co = {c->buf, (int)c->offset, N, N, 0, 0};
        st = fcl_conv_gemm_nn(ctx, &t, 1, M, K, N, N, packed, &bo, &co, NULL, accumulate);
        goto fail;
    }
    /* C^T (n x m) = B (n x k) A^T (k x m) */
    if ((st = fcl_conv_pack(ctx, &t, &packed, &packed_cap, 1, N, K, b, 0, K, 1))) goto fail;
    const fcl_conv2d_params gq = gather_geom(M, K, 1, 1);
    int ld = fcl_conv_col_ld(&t, M, 1);
    fcl_conv_operand bo, co = {c->buf, (int)c->offset, N, 1, 0, 0};
    if ((st = fcl_conv_ws_alloc(ctx, &t, (size_t)K, M, 1, &at)) ||
        (st = fcl_conv_im2col_nn(ctx, &t, &at, K, ld, a, 0, M, &gq, 1, 1, &bo)))
        goto fail;
    st = fcl_conv_gemm_nn(ctx, &t, 1, N, K, 1, M, packed, &bo, &co, NULL, accumulate);
fail:
    if (packed) fcl_pool_free(ctx, packed, packed_cap);
    fcl_conv_ws_free(ctx, &at);
    return st;
}
