/* host/ops/conv_implicit.c: the implicit-GEMM convolution launchers (cl/conv_implicit.cl): padded input copy, re-laid weights, one GEMM-shaped kernel. */
#include <limits.h>

#include "facecl/tuning.h"
#include "ops/conv_implicit.h"

/* the forward's store applies p->out_act (cl/conv_act.cl) */
static const fcl_op_src CIM = {"conv_act.cl+conv_implicit.cl", FCL_TF_CONV};

/* The automatic choice: strided convs with at least this many taps (5x5, the 7x7 stem). */
enum { MIN_TAPS = 25 };

/* The weight gradient's chunk of images: one CONV_NB-channel panel of the transposed dy at most
 * this big, so that it stays in a core's L2 while every block of rows k streams it (the whole
 * batch at once streamed it from memory for each block: 2x slower on ResNet-18's layer2.0). */
enum { WGRAD_PANEL_KB = 256 };

int fcl_conv_implicit_use(fcl_ctx *ctx, const fcl_conv_tune *t, const fcl_conv2d_params *p, int dir)
{
    if (p->groups != 1) return 0;
    if (p->algo == FCL_CONV_IMPLICIT) return 1;
    /* MIN_TAPS (or 2 under FCL_CIM_ALL_TAPS): see conv_implicit.h; the data gradient's vectors
     * run along the input channels: not for the 3-channel stem; a forward with few taps and few
     * input channels (MobileNetV2's 3x3/2 stem 3 -> 32: 27-long reductions) stays on the GEMM, and
     * so does its weight gradient under FCL_CIM_WGRAD_TAPS (tuning_table.c, CONV_IMPLICIT) */
    const int v = fcl_tuning_int(ctx, FCL_T_CONV_IMPLICIT);
    const int all_taps = v & FCL_CIM_ALL_TAPS ||
                         (dir == FCL_CIM_WGRAD && v & FCL_CIM_WGRAD_TAPS && p->cin >= 16 &&
                          fcl_conv2d_out_size(p->w, p->kw, p->stride_w, p->pad_w, p->dil_w) >= FCL_CIM_WGRAD_OW);
    return p->algo == FCL_CONV_AUTO && !t->gpu && (v & dir) && (p->stride_h > 1 || p->stride_w > 1) &&
           p->kh * p->kw >= (all_taps ? 2 : MIN_TAPS) && (dir != FCL_CIM_DATA || p->cin >= 16) &&
           (dir != FCL_CIM_FWD || p->kh * p->kw >= MIN_TAPS || p->cin >= 16);
}

/* The taps of one phase of the data gradient (all of them in the forward): kh = kh0 + u * khs for
 * u < nkh, kw likewise. */
typedef struct cim_taps {
    int kh0, nkh, khs, kw0, nkw, kws;
} cim_taps;

/* The weights re-laid for the kernels (panels of CONV_NB channels m in the reduction order (kh,
 * c, kw) over the taps tp, ldm = M rounded up to whole panels, zero beyond M) at float offset off
 * of dst. tr: w seen as [C = cout][M = cin] (the data gradient). */
static fcl_status weights(fcl_ctx *ctx, const fcl_conv_tune *t, const fcl_tensor *w, const fcl_conv2d_params *p,
                          int M, int C, int ldm, int tr, const cim_taps *tp, cl_mem dst, size_t off)
{
    fcl_op_args a;
    fcl_tensor d = {.buf = dst, .offset = off};
    if (fcl_conv_start(ctx, &CIM, "cim_weights", &a)) return a.st;
    fcl_op_arg_t(&a, &d); fcl_op_arg_t(&a, w);
    fcl_op_arg_i(&a, M); fcl_op_arg_i(&a, C); fcl_op_arg_i(&a, p->kh); fcl_op_arg_i(&a, p->kw);
    fcl_op_arg_i(&a, tr);
    fcl_op_arg_i(&a, tp->kh0); fcl_op_arg_i(&a, tp->nkh); fcl_op_arg_i(&a, tp->khs);
    fcl_op_arg_i(&a, tp->kw0); fcl_op_arg_i(&a, tp->nkw); fcl_op_arg_i(&a, tp->kws);
    return fcl_conv_launch(t, &a, 2, (size_t)C, (size_t)ldm / t->nb, 1, 0);
}

/* A pool buffer for the re-laid weights (*cap bytes; the caller frees it). */
static fcl_status weights_alloc(fcl_ctx *ctx, const fcl_conv2d_params *p, int ldm, int C, cl_mem *dst, size_t *cap)
{
    const size_t floats = (size_t)C * p->kh * p->kw * (size_t)ldm;
    if (floats >= INT_MAX)
        return FCL_ERR(ERRP(ctx), FCL_ERR_SHAPE, "conv2d implicit: the re-laid weights (%zu floats) exceed 32-bit "
                       "indexing", floats);
    return fcl_pool_alloc(ctx, floats * sizeof(float), dst, cap);
}

/* src ([n][C][H][W] from element off of buf) zero-padded by (ph, pw) into a new pool buffer *dst
 * of Hp x Wp planes (*cap bytes; the caller frees it). */
static fcl_status pad_copy(fcl_ctx *ctx, const fcl_conv_tune *t, cl_mem buf, int off, int n, int C, int H, int W,
                           int Hp, int Wp, int ph, int pw, cl_mem *dst, size_t *cap)
{
    const size_t floats = (size_t)n * C * Hp * Wp;
    const fcl_device_info *d = fcl_ctx_device(ctx);
    fcl_op_args a;
    fcl_status st;
    if (floats >= INT_MAX || floats * sizeof(float) > d->max_alloc)
        return FCL_ERR(ERRP(ctx), FCL_ERR_UNSUPPORTED, "conv2d implicit: the padded input (%zu floats) exceeds 32-bit "
                       "indexing or the device's %.1f MiB allocation limit", floats, (double)d->max_alloc / 1048576.0);
    if ((st = fcl_pool_alloc(ctx, floats * sizeof(float), dst, cap))) return st;
    if (fcl_conv_start(ctx, &CIM, "cim_pad", &a)) return a.st;
    fcl_op_arg_m(&a, *dst); fcl_op_arg_m(&a, buf); fcl_op_arg_i(&a, off);
    fcl_op_arg_i(&a, H); fcl_op_arg_i(&a, W); fcl_op_arg_i(&a, Hp); fcl_op_arg_i(&a, Wp);
    fcl_op_arg_i(&a, ph); fcl_op_arg_i(&a, pw); fcl_op_arg_i(&a, n * C);
    return fcl_conv_launch(t, &a, 1, (size_t)n * C, 1, 1, 0);
}

/* x as the kernels read it: zero-padded into a new pool buffer *xp (*xp_cap bytes; the caller
 * frees it) of *Hp x *Wp planes (on entry: the rows and columns the windows read, from -pad) when p
 * pads, else x itself (*Hp x *Wp = h x w). *xb, *x_off: the buffer and its first element. */
static fcl_status padded_input(fcl_ctx *ctx, const fcl_conv_tune *t, const fcl_tensor *x, const fcl_conv2d_params *p,
                               int *Hp, int *Wp, cl_mem *xb, int *x_off, cl_mem *xp, size_t *xp_cap)
{
    *xb = x->buf;
    *x_off = (int)x->offset;
    if (!p->pad_h && !p->pad_w) {
        *Hp = p->h;
        *Wp = p->w;
        return FCL_OK;
    }
    fcl_status st = pad_copy(ctx, t, x->buf, *x_off, p->n, p->cin, p->h, p->w, *Hp, *Wp, p->pad_h, p->pad_w, xp, xp_cap);
    *xb = *xp;
    *x_off = 0;
    return st;
}

/* cim_fwd / cim_bwd_data over blocks of CONV_MB of npix pixels x panels of CONV_NB of ldm
 * channels, in the grid order CONV_CIM_ORDER built into the kernels (1: panels along dim 0). */
static fcl_status launch_grid(fcl_ctx *ctx, const fcl_conv_tune *t, fcl_op_args *a, size_t npix, int ldm)
{
    const size_t pix = fcl_op_div_up(npix, (size_t)t->mb), panels = (size_t)ldm / t->nb;
    return fcl_tuning_int(ctx, FCL_T_CONV_CIM_ORDER) ? fcl_conv_launch(t, a, 2, panels, pix, 1, 0)
                                                      : fcl_conv_launch(t, a, 2, pix, panels, 1, 0);
}

fcl_status fcl_conv_implicit_fwd(fcl_ctx *ctx, const fcl_conv_tune *t, fcl_tensor *y, const fcl_tensor *x,
                                 const fcl_tensor *w, const fcl_tensor *b, const fcl_conv2d_params *p, int oh, int ow)
{
    fcl_status st;
    cl_mem wt = NULL, xp = NULL;
    size_t wt_cap = 0, xp_cap = 0;
    const int ldm = (int)(fcl_op_div_up((size_t)p->cout, (size_t)t->nb) * t->nb);
    /* the rows and columns the windows read, from -pad */
    int Hp = (oh - 1) * p->stride_h + (p->kh - 1) * p->dil_h + 1, Wp = (ow - 1) * p->stride_w + (p->kw - 1) * p->dil_w + 1;
    cl_mem xb = x->buf;
    int x_off = (int)x->offset;
    const cim_taps all = {0, p->kh, 1, 0, p->kw, 1};
    if ((st = weights_alloc(ctx, p, ldm, p->cin, &wt, &wt_cap)) ||
        (st = weights(ctx, t, w, p, p->cout, p->cin, ldm, 0, &all, wt, 0)) ||
        (st = padded_input(ctx, t, x, p, &Hp, &Wp, &xb, &x_off, &xp, &xp_cap)))
        goto fail;
    fcl_op_args a;
    if (fcl_conv_start(ctx, &CIM, "cim_fwd", &a)) { st = a.st; goto fail; }
    fcl_op_arg_t(&a, y); fcl_op_arg_m(&a, xb); fcl_op_arg_i(&a, x_off);
    fcl_op_arg_m(&a, wt);
    fcl_op_arg_m(&a, b ? b->buf : wt); fcl_op_arg_i(&a, b ? (int)b->offset : 0); fcl_op_arg_i(&a, b != NULL);
    fcl_op_arg_i(&a, p->n); fcl_op_arg_i(&a, p->cin); fcl_op_arg_i(&a, Hp); fcl_op_arg_i(&a, Wp);
    fcl_op_arg_i(&a, p->cout); fcl_op_arg_i(&a, oh); fcl_op_arg_i(&a, ow); fcl_op_arg_i(&a, p->kh); fcl_op_arg_i(&a, p->kw);
    fcl_op_arg_i(&a, p->stride_h); fcl_op_arg_i(&a, p->stride_w); fcl_op_arg_i(&a, p->dil_h); fcl_op_arg_i(&a, p->dil_w);
    fcl_op_arg_i(&a, p->out_act);
    st = launch_grid(ctx, t, &a, (size_t)p->n * oh * ow, ldm);
fail:
    if (wt) fcl_pool_free(ctx, wt, wt_cap);
    if (xp) fcl_pool_free(ctx, xp, xp_cap);
    return st;
}

/* The first tap k0 < K whose offset k * d lands on phase ph of stride s ((ph + pad - k * d) % s
 * == 0), the step between such taps and their count (0: none). */
static void phase_taps(int phs, int pad, int K, int d, int s, int *k0, int *n, int *step)
{
    int g = s, r = d;
    while (r) { const int t = g % r; g = r; r = t; }   /* gcd(s, d) */
    *step = s / g;
    *n = 0;
    for (*k0 = 0; *k0 < K && (phs + pad - *k0 * d) % s; ++*k0) {}
    if (*k0 < K) *n = (K - 1 - *k0) / *step + 1;
}

fcl_status fcl_conv_implicit_bwd_data(fcl_ctx *ctx, const fcl_conv_tune *t, fcl_tensor *dx, const fcl_tensor *dy,
                                      const fcl_tensor *w, const fcl_conv2d_params *p, int oh, int ow)
{
    fcl_status st;
    cl_mem wt = NULL, dyp = NULL;
    size_t wt_cap = 0, dyp_cap = 0;
    const int ldm = (int)(fcl_op_div_up((size_t)p->cin, (size_t)t->nb) * t->nb);
    /* dy rows reached: (iy + ph - kh * dh) / sh from -(top) to (H - 1 + ph) / sh */
    const int top = (int)fcl_op_div_up((size_t)((p->kh - 1) * p->dil_h > p->pad_h ? (p->kh - 1) * p->dil_h - p->pad_h : 0),
                                       (size_t)p->stride_h);
    const int left = (int)fcl_op_div_up((size_t)((p->kw - 1) * p->dil_w > p->pad_w ? (p->kw - 1) * p->dil_w - p->pad_w : 0),
                                        (size_t)p->stride_w);
    const int bot = (p->h - 1 + p->pad_h) / p->stride_h - (oh - 1), right = (p->w - 1 + p->pad_w) / p->stride_w - (ow - 1);
    const int OHp = oh + top + (bot > 0 ? bot : 0), OWp = ow + left + (right > 0 ? right : 0);
    if ((st = weights_alloc(ctx, p, ldm, p->cout, &wt, &wt_cap))) goto fail;
    if ((st = pad_copy(ctx, t, dy->buf, (int)dy->offset, p->n, p->cout, oh, ow, OHp, OWp, top, left, &dyp, &dyp_cap)))
        goto fail;
    /* each tap reaches exactly one phase: the phases' weights side by side fill the buffer */
    size_t woff = 0;
    for (int a = 0; a < p->stride_h && a < p->h; a++)
        for (int b = 0; b < p->stride_w && b < p->w; b++) {
            cim_taps tp;
            phase_taps(a, p->pad_h, p->kh, p->dil_h, p->stride_h, &tp.kh0, &tp.nkh, &tp.khs);
            phase_taps(b, p->pad_w, p->kw, p->dil_w, p->stride_w, &tp.kw0, &tp.nkw, &tp.kws);
            if (!tp.nkh || !tp.nkw) continue; /* no tap reaches these pixels: their gradient is 0 */
            if ((st = weights(ctx, t, w, p, p->cin, p->cout, ldm, 1, &tp, wt, woff))) goto fail;
            const int QH = (p->h - a + p->stride_h - 1) / p->stride_h, QW = (p->w - b + p->stride_w - 1) / p->stride_w;
            fcl_op_args x;
            if (fcl_conv_start(ctx, &CIM, "cim_bwd_data", &x)) { st = x.st; goto fail; }
            const fcl_tensor wv = {.buf = wt, .offset = woff};
            woff += (size_t)tp.nkh * tp.nkw * p->cout * ldm;
            fcl_op_arg_t(&x, dx); fcl_op_arg_m(&x, dyp); fcl_op_arg_t(&x, &wv);
            fcl_op_arg_i(&x, p->n); fcl_op_arg_i(&x, p->cout); fcl_op_arg_i(&x, OHp); fcl_op_arg_i(&x, OWp);
            fcl_op_arg_i(&x, top); fcl_op_arg_i(&x, left);
            fcl_op_arg_i(&x, p->cin); fcl_op_arg_i(&x, p->h); fcl_op_arg_i(&x, p->w);
            fcl_op_arg_i(&x, p->kh); fcl_op_arg_i(&x, p->kw);
            fcl_op_arg_i(&x, p->stride_h); fcl_op_arg_i(&x, p->stride_w); fcl_op_arg_i(&x, p->pad_h); fcl_op_arg_i(&x, p->pad_w);
            fcl_op_arg_i(&x, p->dil_h); fcl_op_arg_i(&x, p->dil_w);
            fcl_op_arg_i(&x, a); fcl_op_arg_i(&x, b); fcl_op_arg_i(&x, QH); fcl_op_arg_i(&x, QW);
            fcl_op_arg_i(&x, tp.kh0); fcl_op_arg_i(&x, tp.nkh); fcl_op_arg_i(&x, tp.khs);
            fcl_op_arg_i(&x, tp.kw0); fcl_op_arg_i(&x, tp.nkw); fcl_op_arg_i(&x, tp.kws);
            if ((st = launch_grid(ctx, t, &x, (size_t)p->n * QH * QW, ldm)))
                goto fail;
        }
fail:
    if (wt) fcl_pool_free(ctx, wt, wt_cap);
    if (dyp) fcl_pool_free(ctx, dyp, dyp_cap);
    return st;
}

fcl_status fcl_conv_implicit_bwd_weight(fcl_ctx *ctx, const fcl_conv_tune *t, fcl_tensor *dw, const fcl_tensor *dy,
                                        const fcl_tensor *x, const fcl_conv2d_params *p, int oh, int ow)
{
    fcl_status st;
    cl_mem xp = NULL, dyt = NULL, xb;
    size_t xp_cap = 0, dyt_cap = 0;
    int x_off;
    const int ldm = (int)(fcl_op_div_up((size_t)p->cout, (size_t)t->nb) * t->nb), P = oh * ow;
    const int Kg = p->cin * p->kh * p->kw;
    int Hp = (oh - 1) * p->stride_h + (p->kh - 1) * p->dil_h + 1, Wp = (ow - 1) * p->stride_w + (p->kw - 1) * p->dil_w + 1;
    /* images per chunk: one panel of dyt (P pixels x CONV_NB floats per image) within WGRAD_PANEL_KB */
    int chunk = (int)((size_t)WGRAD_PANEL_KB * 1024 / ((size_t)P * t->nb * sizeof(float)));
    chunk = chunk < 1 ? 1 : chunk > p->n ? p->n : chunk;
    const size_t floats = (size_t)chunk * P * ldm;
    if (floats >= INT_MAX || floats * sizeof(float) > fcl_ctx_device(ctx)->max_alloc)
        return FCL_ERR(ERRP(ctx), FCL_ERR_UNSUPPORTED, "conv2d implicit: the transposed dy (%zu floats) exceeds 32-bit "
                       "indexing or the device's allocation limit", floats);
    if ((st = padded_input(ctx, t, x, p, &Hp, &Wp, &xb, &x_off, &xp, &xp_cap)) ||
        (st = fcl_pool_alloc(ctx, floats * sizeof(float), &dyt, &dyt_cap)))
        goto fail;
    for (int i0 = 0; i0 < p->n; i0 += chunk) {
        const int cnt = p->n - i0 < chunk ? p->n - i0 : chunk;
        fcl_op_args a;
        if (fcl_conv_start(ctx, &CIM, "cim_dyt", &a)) { st = a.st; goto fail; }
        fcl_op_arg_m(&a, dyt); fcl_op_arg_m(&a, dy->buf); fcl_op_arg_i(&a, (int)dy->offset + i0 * p->cout * P);
        fcl_op_arg_i(&a, cnt * P); fcl_op_arg_i(&a, p->cout); fcl_op_arg_i(&a, P);
        if ((st = fcl_conv_launch(t, &a, 2, (size_t)ldm / t->nb, (size_t)cnt, 1, 0))) goto fail;
        if (fcl_conv_start(ctx, &CIM, "cim_wgrad", &a)) { st = a.st; goto fail; }
        fcl_op_arg_t(&a, dw); fcl_op_arg_m(&a, xb); fcl_op_arg_i(&a, x_off + i0 * p->cin * Hp * Wp); fcl_op_arg_m(&a, dyt);
        fcl_op_arg_i(&a, cnt); fcl_op_arg_i(&a, p->cin); fcl_op_arg_i(&a, Hp); fcl_op_arg_i(&a, Wp);
        fcl_op_arg_i(&a, p->cout); fcl_op_arg_i(&a, oh); fcl_op_arg_i(&a, ow);
        fcl_op_arg_i(&a, p->kh); fcl_op_arg_i(&a, p->kw); fcl_op_arg_i(&a, p->stride_h); fcl_op_arg_i(&a, p->stride_w);
        fcl_op_arg_i(&a, p->dil_h); fcl_op_arg_i(&a, p->dil_w);
        if ((st = fcl_conv_launch(t, &a, 2, fcl_op_div_up((size_t)Kg, (size_t)t->mb), (size_t)ldm / t->nb, 1, 0)))
            goto fail;
    }
fail:
    if (xp) fcl_pool_free(ctx, xp, xp_cap);
    if (dyt) fcl_pool_free(ctx, dyt, dyt_cap);
    return st;
}
