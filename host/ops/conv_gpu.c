/* host/ops/conv_gpu.c: launchers of the GPU-shaped convolution kernels (cl/conv_gpu.cl): tile choice within the device's limits, im2col chunks. */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "ops/conv_gpu.h"
#include "ops/op_util.h"

#define SRC "reduce.cl+conv_common.cl+conv_gpu.cl"

typedef struct tile {
    int tm, tn, tk, wm, wn;
} tile;

/* The program options of one tile (every kernel of conv_gpu.cl is built with them). */
typedef struct gpu_prog {
    tile t;
    char opts[512];
} gpu_prog;

void fcl_conv_gpu_options(const fcl_ctx *ctx, const fcl_conv_gpu_tune *t, const char *extra, char *buf,
                          size_t size)
{
    char caps[128];
    fcl_ctx_device_defines(ctx, caps, sizeof caps);
    snprintf(buf, size, "-DFCL_USE_SG=%d %s%s", t->use_sg ? 1 : 0, extra, caps);
}

/* Picks the tuned tile, or the first smaller one the device can run: the group (LX x LY
 * work-items) within CL_DEVICE_MAX_WORK_GROUP_SIZE, the per-dimension item limits and the
 * kernel's CL_KERNEL_WORK_GROUP_SIZE, the two tiles within the local memory. */
static fcl_status pick_tile(fcl_ctx *ctx, const fcl_conv_gpu_tune *t, gpu_prog *pg, cl_kernel *gemm)
{
    const tile cands[] = {{t->tm, t->tn, t->tk, t->wm, t->wn}, {32, 32, 16, 4, 4}, {16, 16, 16, 2, 2},
                          {8, 8, 8, 2, 2}, {4, 4, 4, 1, 1}, {1, 1, 1, 1, 1}};
    const fcl_device_info *d = fcl_ctx_device(ctx);
    size_t dims[3] = {0, 0, 0};
    if (clGetDeviceInfo(d->device_id, CL_DEVICE_MAX_WORK_ITEM_SIZES, sizeof dims, dims, NULL) != CL_SUCCESS)
        dims[0] = dims[1] = 0;
    for (size_t i = 0; i < sizeof cands / sizeof cands[0]; i++) {
        const tile *c = &cands[i];
        if (c->tm % c->wm || c->tn % c->wn) continue;
        size_t lx = (size_t)(c->tn / c->wn), ly = (size_t)(c->tm / c->wm);
        uint64_t lmem = 4u * (uint64_t)c->tk * (uint64_t)(c->tm + 1 + c->tn);
        if ((d->max_work_group && lx * ly > d->max_work_group) || (dims[0] && lx > dims[0]) ||
            (dims[1] && ly > dims[1]) || (d->local_mem && lmem > d->local_mem))
            continue;
        char extra[160];
        snprintf(extra, sizeof extra, "-DCONV_TILE_M=%d -DCONV_TILE_N=%d -DCONV_TILE_K=%d -DCONV_TILE_WM=%d "
                 "-DCONV_TILE_WN=%d", c->tm, c->tn, c->tk, c->wm, c->wn);
        fcl_conv_gpu_options(ctx, t, extra, pg->opts, sizeof pg->opts);
        fcl_status st = fcl_kernel_get(ctx, SRC, "conv_gemm_tiled", pg->opts, gemm);
        if (st) return st;
        size_t kwg = 0;
        cl_ulong klocal = 0;
        if (clGetKernelWorkGroupInfo(*gemm, d->device_id, CL_KERNEL_WORK_GROUP_SIZE, sizeof kwg, &kwg, NULL) !=
                CL_SUCCESS)
            kwg = 0;
        if (clGetKernelWorkGroupInfo(*gemm, d->device_id, CL_KERNEL_LOCAL_MEM_SIZE, sizeof klocal, &klocal,
                                     NULL) != CL_SUCCESS)
            klocal = 0;
        if ((kwg && lx * ly > kwg) || (d->local_mem && klocal > d->local_mem)) continue;
        pg->t = *c;
        return FCL_OK;
    }
    return FCL_ERR(ERRP(ctx), FCL_ERR_UNSUPPORTED, "conv2d: no GEMM tile fits this device's work-group or "
                   "local-memory limits (max work-group %zu, local memory %llu bytes)", d->max_work_group,
                   (unsigned long long)d->local_mem);
}

/* A kernel of the program and its 1-D group size: CONV_GWG within the kernel's limits. */
static fcl_status other_kernel(fcl_ctx *ctx, const fcl_conv_gpu_tune *t, const gpu_prog *pg, const char *name,
                               cl_kernel *k, size_t *wg)
{
    fcl_status st = fcl_kernel_get(ctx, SRC, name, pg->opts, k);
    return st ? st : fcl_op_reduce_wg(ctx, *k, (size_t)t->wg, wg);
}

/* One operand of conv_gemm_tiled (cl/conv_gpu.cl): element (row r, column c) of group g at
 * off + g * gs + r * rs + (c / P) * img + c % P. */
typedef struct opnd {
    cl_mem buf;
    int off, gs, rs, P, img;
} opnd;

static void arg_opnd(fcl_op_args *a, const opnd *o)
{
    fcl_op_arg_raw(a, sizeof o->buf, &o->buf);
    fcl_op_arg_i(a, o->off); fcl_op_arg_i(a, o->gs); fcl_op_arg_i(a, o->rs);
    fcl_op_arg_i(a, o->P); fcl_op_arg_i(a, o->img);
}

/* C (+)= A * B (+ bias) over G groups of M x N, depth K, in S slices of kslice along K (the
 * slices' copies of C c_s apart; S = 1: one). */
static fcl_status gemm_s(fcl_ctx *ctx, const gpu_prog *pg, cl_kernel k, int G, int M, int N, int K, int S,
                         int kslice, const opnd *a, int a_kfast, const opnd *b, int b_trans, const opnd *c, int c_s,
                         const fcl_tensor *bias, int accumulate)
{
    fcl_op_args x;
    fcl_op_args_init(&x, ctx, k, a->buf);
    fcl_op_arg_i(&x, M); fcl_op_arg_i(&x, N); fcl_op_arg_i(&x, K); fcl_op_arg_i(&x, G); fcl_op_arg_i(&x, kslice);
    arg_opnd(&x, a); fcl_op_arg_i(&x, a_kfast);
    arg_opnd(&x, b); fcl_op_arg_i(&x, b_trans);
    arg_opnd(&x, c); fcl_op_arg_i(&x, c_s);
    fcl_op_arg_t(&x, bias); fcl_op_arg_i(&x, bias != NULL);
    fcl_op_arg_i(&x, accumulate);
    if (x.st) return x.st;
    const tile *t = &pg->t;
    size_t lx = (size_t)(t->tn / t->wn), ly = (size_t)(t->tm / t->wm);
    size_t g[3] = {fcl_op_div_up((size_t)N, (size_t)t->tn) * lx, fcl_op_div_up((size_t)M, (size_t)t->tm) * ly,
                   (size_t)G * (size_t)S};
    size_t l[3] = {lx, ly, 1};
    return fcl_kernel_run(ctx, k, 3, g, l);
}

static fcl_status gemm(fcl_ctx *ctx, const gpu_prog *pg, cl_kernel k, int G, int M, int N, int K,
                       const opnd *a, int a_kfast, const opnd *b, int b_trans, const opnd *c,
                       const fcl_tensor *bias, int accumulate)
{
    return gemm_s(ctx, pg, k, G, M, N, K, 1, K, a, a_kfast, b, b_trans, c, 0, bias, accumulate);
}

/* dw (plain [G][M][N]) += A * B with the reduction over K split into slices when the output
 * has too few tiles to fill the device (the weight gradient: K is every pixel of a chunk of
 * images): enough slices for about 4 work-groups per compute unit, at most CONV_GSPLIT, each at
 * least 4 tiles deep; the slices go to a scratch buffer and conv_sum_slices adds them in order,
 * so the result stays deterministic. */
static fcl_status gemm_dw(fcl_ctx *ctx, const fcl_conv_gpu_tune *t, const gpu_prog *pg, cl_kernel k, int G,
                          int M, int N, int K, const opnd *a, int a_kfast, const opnd *b, int b_trans,
                          const fcl_tensor *dw)
{
    opnd c = {dw->buf, (int)dw->offset, M * N, N, 1, 1};
    size_t tiles = fcl_op_div_up((size_t)M, (size_t)pg->t.tm) * fcl_op_div_up((size_t)N, (size_t)pg->t.tn) * G;
    size_t target = 4 * (size_t)(fcl_ctx_device(ctx)->compute_units ? fcl_ctx_device(ctx)->compute_units : 1);
    size_t S = fcl_op_div_up(target, tiles), deep = fcl_op_div_up((size_t)K, 4 * (size_t)pg->t.tk);
    if (S > (size_t)t->split) S = (size_t)t->split;
    if (S > deep) S = deep;
    size_t floats = S * (size_t)G * M * N;
    if (S <= 1 || floats >= INT_MAX || floats * sizeof(float) > fcl_ctx_device(ctx)->max_alloc)
        return gemm(ctx, pg, k, G, M, N, K, a, a_kfast, b, b_trans, &c, NULL, 1);
    int kslice = (int)(fcl_op_div_up(fcl_op_div_up((size_t)K, S), (size_t)pg->t.tk) * pg->t.tk);
    S = fcl_op_div_up((size_t)K, (size_t)kslice);
    cl_mem part = NULL;
    size_t cap = 0;
    cl_kernel ks;
    fcl_status st = fcl_pool_alloc(ctx, floats * sizeof(float), &part, &cap);
    if (st) return st;
    opnd pc = {part, 0, M * N, N, 1, 1};
    if ((st = gemm_s(ctx, pg, k, G, M, N, K, (int)S, kslice, a, a_kfast, b, b_trans, &pc, G * M * N, NULL, 0)))
        goto fail;
    if ((st = fcl_kernel_get(ctx, SRC, "conv_sum_slices", pg->opts, &ks))) goto fail;
    fcl_op_args x;
    fcl_op_args_init(&x, ctx, ks, part);
    fcl_op_arg_t(&x, dw); fcl_op_arg_i(&x, M * N); fcl_op_arg_i(&x, N);
    fcl_op_arg_raw(&x, sizeof part, &part);
    fcl_op_arg_i(&x, (int)S); fcl_op_arg_i(&x, G); fcl_op_arg_i(&x, M); fcl_op_arg_i(&x, N);
    if ((st = x.st)) goto fail;
    size_t gs[3] = {(size_t)N, (size_t)M, (size_t)G};
    st = fcl_kernel_run(ctx, ks, 3, gs, NULL);
fail:
    fcl_pool_free(ctx, part, cap);
    return st;
}

/* A plain row-major [rows][rs] matrix per group (column index not split). */
static opnd plain(cl_mem buf, int off, int gs, int rs)
{
    opnd o = {buf, off, gs, rs, 1, 1};
    return o;
}

/* An NCHW tensor from image i0 as per-group [channels_g][images * P] (columns split by image). */
static opnd nchw(const fcl_tensor *t, int i0, int c, int c_g, int P)
{
    opnd o = {t->buf, (int)t->offset + i0 * c * P, c_g * P, P, P, c * P};
    return o;
}

/* ---- im2col workspace ---------------------------------------------------------------------------- */

typedef struct col_ws {
    cl_mem buf;
    size_t cap;
    int chunk;              /* images per chunk */
} col_ws;

static fcl_status col_alloc(fcl_ctx *ctx, const fcl_conv_gpu_tune *t, size_t rows, int P, int n, col_ws *w)
{
    size_t per_img = rows * (size_t)P * sizeof(float);
    size_t chunk = (size_t)t->col_kb * 1024 / per_img;
    if (chunk < 1) chunk = 1;
    if (chunk > (size_t)n) chunk = (size_t)n;
    size_t bytes = chunk * per_img;
    const fcl_device_info *d = fcl_ctx_device(ctx);
    if (bytes > d->max_alloc || bytes / sizeof(float) >= INT_MAX)
        return FCL_ERR(ERRP(ctx), FCL_ERR_UNSUPPORTED, "conv2d: the im2col workspace of %zu image(s) needs %.1f "
                       "MiB, over the device's %.1f MiB allocation limit or 32-bit indexing", chunk,
                       (double)bytes / 1048576.0, (double)d->max_alloc / 1048576.0);
    w->chunk = (int)chunk;
    return fcl_pool_alloc(ctx, bytes, &w->buf, &w->cap);
}

static void col_free(fcl_ctx *ctx, col_ws *w)
{
    if (w->buf) fcl_pool_free(ctx, w->buf, w->cap);
    w->buf = NULL;
}

static void geom(fcl_op_args *a, const fcl_conv2d_params *p, int oh, int ow, int cnt)
{
    fcl_conv_geom_args(a, p);
    fcl_op_arg_i(a, oh); fcl_op_arg_i(a, ow); fcl_op_arg_i(a, cnt);
}

/* col ([G][Kg][ld], ld = cnt * P) = im2col of images i0 .. i0 + cnt - 1 of x. */
static fcl_status im2col(fcl_ctx *ctx, const fcl_conv_gpu_tune *t, const gpu_prog *pg, cl_mem col,
                         const fcl_tensor *x, int i0, int cnt, const fcl_conv2d_params *p, int oh, int ow)
{
    int cin_g = p->cin / p->groups, Kg = cin_g * p->kh * p->kw, ld = cnt * oh * ow;
    cl_kernel k;
    size_t wg;
    fcl_status st = other_kernel(ctx, t, pg, "conv_im2col_px", &k, &wg);
    if (st) return st;
    fcl_op_args a;
    fcl_op_args_init(&a, ctx, k, col);
    fcl_op_arg_raw(&a, sizeof col, &col); fcl_op_arg_i(&a, ld); fcl_op_arg_i(&a, Kg * ld);
    fcl_op_arg_raw(&a, sizeof x->buf, &x->buf); fcl_op_arg_i(&a, (int)x->offset + i0 * p->cin * p->h * p->w);
    fcl_op_arg_i(&a, p->cin); fcl_op_arg_i(&a, p->h); fcl_op_arg_i(&a, p->w); fcl_op_arg_i(&a, cin_g);
    geom(&a, p, oh, ow, cnt);
    size_t g[3] = {(size_t)ld, (size_t)Kg, (size_t)p->groups}, l[3] = {wg, 1, 1};
    return fcl_op_args_run(&a, 3, g, l);
}

/* dx (images i0 ..) += col2im(col). */
static fcl_status col2im(fcl_ctx *ctx, const fcl_conv_gpu_tune *t, const gpu_prog *pg, fcl_tensor *dx,
                         cl_mem col, int i0, int cnt, const fcl_conv2d_params *p, int oh, int ow)
{
    int cin_g = p->cin / p->groups, Kg = cin_g * p->kh * p->kw, ld = cnt * oh * ow;
    cl_kernel k;
    size_t wg;
    fcl_status st = other_kernel(ctx, t, pg, "conv_col2im_px", &k, &wg);
    if (st) return st;
    fcl_op_args a;
    fcl_op_args_init(&a, ctx, k, col);
    fcl_op_arg_raw(&a, sizeof dx->buf, &dx->buf); fcl_op_arg_i(&a, (int)dx->offset + i0 * p->cin * p->h * p->w);
    fcl_op_arg_i(&a, p->cin); fcl_op_arg_i(&a, p->h); fcl_op_arg_i(&a, p->w); fcl_op_arg_i(&a, cin_g);
    fcl_op_arg_raw(&a, sizeof col, &col); fcl_op_arg_i(&a, ld); fcl_op_arg_i(&a, Kg * ld);
    geom(&a, p, oh, ow, cnt);
    size_t g[3] = {(size_t)cnt * p->h * p->w, (size_t)cin_g, (size_t)p->groups}, l[3] = {wg, 1, 1};
    return fcl_op_args_run(&a, 3, g, l);
}

static int is_1x1(const fcl_conv2d_params *p) { return fcl_conv2d_algo_of(p) == FCL_CONV_1X1; }

/* ---- directions ---------------------------------------------------------------------------------- */

/* What the three directions share: the GEMM tile and its kernel, the per-group sizes (G groups
 * of M output and cin_g input channels, Kg = cin_g * kh * kw, P output pixels) and the im2col
 * workspace (allocated by the direction that needs it). */
typedef struct job {
    gpu_prog pg;
    cl_kernel k;
    col_ws col;
    int G, M, cin_g, Kg, P;
} job;

static fcl_status job_start(fcl_ctx *ctx, const fcl_conv_gpu_tune *t, const fcl_conv2d_params *p, int oh, int ow,
                            job *j)
{
    j->col.buf = NULL;
    j->col.cap = 0;
    j->col.chunk = 0;
    j->G = p->groups;
    j->M = p->cout / j->G;
    j->cin_g = p->cin / j->G;
    j->Kg = j->cin_g * p->kh * p->kw;
    j->P = oh * ow;
    return pick_tile(ctx, t, &j->pg, &j->k);
}

/* Images in the workspace chunk that starts at image i0 of n. */
static int chunk_at(const job *j, int n, int i0) { return n - i0 < j->col.chunk ? n - i0 : j->col.chunk; }

fcl_status fcl_conv_gpu_fwd(fcl_ctx *ctx, const fcl_conv_gpu_tune *t, fcl_tensor *y, const fcl_tensor *x,
                            const fcl_tensor *w, const fcl_tensor *b, const fcl_conv2d_params *p, int oh, int ow)
{
    job j;
    fcl_status st = job_start(ctx, t, p, oh, ow, &j);
    if (st) return st;
    opnd a = plain(w->buf, (int)w->offset, j.M * j.Kg, j.Kg);   /* A(m, k) = w[g][m][k] */
    if (is_1x1(p)) {                                       /* B = x itself */
        opnd bx = nchw(x, 0, p->cin, j.cin_g, j.P), c = nchw(y, 0, p->cout, j.M, j.P);
        return gemm(ctx, &j.pg, j.k, j.G, j.M, p->n * j.P, j.Kg, &a, 1, &bx, 0, &c, b, 0);
    }
    if ((st = col_alloc(ctx, t, (size_t)p->cin * p->kh * p->kw, j.P, p->n, &j.col))) goto fail;
    for (int i0 = 0; i0 < p->n; i0 += j.col.chunk) {
        int cnt = chunk_at(&j, p->n, i0), ld = cnt * j.P;
        if ((st = im2col(ctx, t, &j.pg, j.col.buf, x, i0, cnt, p, oh, ow))) goto fail;
        opnd bc = plain(j.col.buf, 0, j.Kg * ld, ld), c = nchw(y, i0, p->cout, j.M, j.P);
        if ((st = gemm(ctx, &j.pg, j.k, j.G, j.M, ld, j.Kg, &a, 1, &bc, 0, &c, b, 0))) goto fail;
    }
fail:
    col_free(ctx, &j.col);
    return st;
}

fcl_status fcl_conv_gpu_bwd_data(fcl_ctx *ctx, const fcl_conv_gpu_tune *t, fcl_tensor *dx, const fcl_tensor *dy,
                                 const fcl_tensor *w, const fcl_conv2d_params *p, int oh, int ow)
{
    job j;
    fcl_status st = job_start(ctx, t, p, oh, ow, &j);
    if (st) return st;
    opnd a = {w->buf, (int)w->offset, j.M * j.Kg, 1, 1, j.Kg};  /* A(kk, co) = w[g][co][kk]: W^T */
    if (is_1x1(p)) {                                       /* dx += W^T * dy directly */
        opnd bdy = nchw(dy, 0, p->cout, j.M, j.P), c = nchw(dx, 0, p->cin, j.cin_g, j.P);
        return gemm(ctx, &j.pg, j.k, j.G, j.Kg, p->n * j.P, j.M, &a, 0, &bdy, 0, &c, NULL, 1);
    }
    if ((st = col_alloc(ctx, t, (size_t)p->cin * p->kh * p->kw, j.P, p->n, &j.col))) goto fail;
    for (int i0 = 0; i0 < p->n; i0 += j.col.chunk) {
        int cnt = chunk_at(&j, p->n, i0), ld = cnt * j.P;
        opnd bdy = nchw(dy, i0, p->cout, j.M, j.P), c = plain(j.col.buf, 0, j.Kg * ld, ld);
        if ((st = gemm(ctx, &j.pg, j.k, j.G, j.Kg, ld, j.M, &a, 0, &bdy, 0, &c, NULL, 0))) goto fail;
        if ((st = col2im(ctx, t, &j.pg, dx, j.col.buf, i0, cnt, p, oh, ow))) goto fail;
    }
fail:
    col_free(ctx, &j.col);
    return st;
}

fcl_status fcl_conv_gpu_bwd_weight(fcl_ctx *ctx, const fcl_conv_gpu_tune *t, fcl_tensor *dw, const fcl_tensor *dy,
                                   const fcl_tensor *x, const fcl_conv2d_params *p, int oh, int ow)
{
    job j;
    fcl_status st = job_start(ctx, t, p, oh, ow, &j);
    if (st) return st;
    /* dW[g] (M x Kg) += dy[g] (M x pixels) * B[g]^T, B = x (1x1) or im2col(x) */
    if (is_1x1(p)) {
        opnd ady = nchw(dy, 0, p->cout, j.M, j.P), bx = nchw(x, 0, p->cin, j.cin_g, j.P);
        return gemm_dw(ctx, t, &j.pg, j.k, j.G, j.M, j.Kg, p->n * j.P, &ady, 1, &bx, 1, dw);
    }
    if ((st = col_alloc(ctx, t, (size_t)p->cin * p->kh * p->kw, j.P, p->n, &j.col))) goto fail;
    for (int i0 = 0; i0 < p->n; i0 += j.col.chunk) {
        int cnt = chunk_at(&j, p->n, i0), ld = cnt * j.P;
        if ((st = im2col(ctx, t, &j.pg, j.col.buf, x, i0, cnt, p, oh, ow))) goto fail;
        opnd ady = nchw(dy, i0, p->cout, j.M, j.P), bc = plain(j.col.buf, 0, j.Kg * ld, ld);
        if ((st = gemm_dw(ctx, t, &j.pg, j.k, j.G, j.M, j.Kg, ld, &ady, 1, &bc, 1, dw))) goto fail;
    }
fail:
    col_free(ctx, &j.col);
    return st;
}

fcl_status fcl_conv_gpu_bwd_bias(fcl_ctx *ctx, const fcl_conv_gpu_tune *t, fcl_tensor *db, const fcl_tensor *dy,
                                 const fcl_conv2d_params *p, int oh, int ow)
{
    gpu_prog pg;
    cl_kernel k;
    size_t wg;
    fcl_status st = pick_tile(ctx, t, &pg, &k);
    if (st || (st = other_kernel(ctx, t, &pg, "conv_bias_grad_wg", &k, &wg))) return st;
    fcl_op_args a;
    fcl_op_args_init(&a, ctx, k, db->buf);
    fcl_op_arg_t(&a, db);
    fcl_op_arg_t(&a, dy);
    fcl_op_arg_i(&a, p->cout); fcl_op_arg_i(&a, oh * ow); fcl_op_arg_i(&a, p->n);
    fcl_op_arg_local(&a, wg * sizeof(float));
    size_t g = (size_t)p->cout * wg;
    return fcl_op_args_run(&a, 1, &g, &wg);
}
