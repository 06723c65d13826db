/* host/ops/conv_dw_gpu.c: launchers of the GPU-shaped depthwise convolution (cl/conv_dw_gpu.cl): tile and group sizes within the device's limits. */
#include <stdio.h>

#include "ops/conv_gpu.h"
#include "ops/op_util.h"

#define SRC "reduce.cl+conv_common.cl+conv_dw_gpu.cl"

static fcl_status get(fcl_ctx *ctx, const fcl_conv_gpu_tune *t, const char *name, cl_kernel *k)
{
    char opts[256];
    fcl_conv_gpu_options(ctx, t, "", opts, sizeof opts);
    return fcl_kernel_get(ctx, SRC, name, opts, k);
}


/* Input patch rows / columns of a toh x tow output tile. */
static size_t patch_h(const fcl_conv2d_params *p, size_t toh) { return (toh - 1) * p->stride_h + (size_t)(p->kh - 1) * p->dil_h + 1; }
static size_t patch_w(const fcl_conv2d_params *p, size_t tow) { return (tow - 1) * p->stride_w + (size_t)(p->kw - 1) * p->dil_w + 1; }

fcl_status fcl_conv_dw_gpu_fwd(fcl_ctx *ctx, const fcl_conv_gpu_tune *t, fcl_tensor *y, const fcl_tensor *x,
                               const fcl_tensor *w, const fcl_tensor *b, const fcl_conv2d_params *p, int oh,
                               int ow)
{
    cl_kernel k;
    size_t lim;
    fcl_status st = get(ctx, t, "conv_dw_tile_fwd", &k);
    if (st || (st = fcl_op_reduce_wg(ctx, k, (size_t)t->wg, &lim))) return st;
    /* a tile of up to 32 columns (a warp-sized run of coalesced outputs) and lim / 32 rows,
     * narrowed to the output; rows halved until the patch fits a quarter of the local memory */
    size_t tow = 1, toh, dims[3] = {0, 0, 0};
    if (clGetDeviceInfo(fcl_ctx_device(ctx)->device_id, CL_DEVICE_MAX_WORK_ITEM_SIZES, sizeof dims, dims, NULL) !=
        CL_SUCCESS)
        dims[0] = dims[1] = 0;
    while (tow * 2 <= 32 && tow * 2 <= lim && (int)tow < ow && (!dims[0] || tow * 2 <= dims[0])) tow *= 2;
    toh = lim / tow;
    while (dims[1] && toh > dims[1]) toh /= 2;
    while (toh > 1 && (int)(toh / 2) >= oh) toh /= 2;
    uint64_t lmem = fcl_ctx_device(ctx)->local_mem;
    while (toh > 1 && lmem && patch_h(p, toh) * patch_w(p, tow) * sizeof(float) > lmem / 4) toh /= 2;
    while (tow > 1 && lmem && patch_h(p, toh) * patch_w(p, tow) * sizeof(float) > lmem / 4) tow /= 2;
    size_t ph = patch_h(p, toh), pw = patch_w(p, tow);
    if (lmem && ph * pw * sizeof(float) > lmem)
        return FCL_ERR(ERRP(ctx), FCL_ERR_UNSUPPORTED, "conv2d depthwise: a %dx%d kernel (dilation %dx%d) needs a "
                       "%zux%zu input patch, over the device's %llu bytes of local memory", p->kh, p->kw, p->dil_h,
                       p->dil_w, ph, pw, (unsigned long long)lmem);
    fcl_op_args a;
    fcl_op_args_init(&a, ctx, k, w->buf);
    fcl_op_arg_t(&a, y); fcl_op_arg_t(&a, x); fcl_op_arg_t(&a, w); fcl_op_arg_t(&a, b);
    fcl_op_arg_i(&a, b != NULL);
    fcl_op_arg_i(&a, p->cin); fcl_op_arg_i(&a, p->h); fcl_op_arg_i(&a, p->w);
    fcl_conv_geom_args(&a, p);
    fcl_op_arg_i(&a, oh); fcl_op_arg_i(&a, ow); fcl_op_arg_i(&a, (int)ph); fcl_op_arg_i(&a, (int)pw);
    fcl_op_arg_local(&a, ph * pw * sizeof(float));
    size_t g[3] = {fcl_op_div_up((size_t)ow, tow) * tow, fcl_op_div_up((size_t)oh, toh) * toh,
                   (size_t)p->n * p->cin};
    size_t l[3] = {tow, toh, 1};
    return fcl_op_args_run(&a, 3, g, l);
}

/* Kernel `name`, its group size (CONV_GWG within its limits) and its arguments, begun. */
static fcl_status start_wg(fcl_ctx *ctx, const fcl_conv_gpu_tune *t, const char *name, size_t *wg, fcl_op_args *a)
{
    cl_kernel k;
    fcl_status st = get(ctx, t, name, &k);
    if (st || (st = fcl_op_reduce_wg(ctx, k, (size_t)t->wg, wg))) return st;
    fcl_op_args_init(a, ctx, k, NULL);
    return FCL_OK;
}

fcl_status fcl_conv_dw_gpu_bwd_data(fcl_ctx *ctx, const fcl_conv_gpu_tune *t, fcl_tensor *dx, const fcl_tensor *dy,
                                    const fcl_tensor *w, const fcl_conv2d_params *p, int oh, int ow)
{
    size_t wg;
    fcl_op_args a;
    fcl_status st = start_wg(ctx, t, "conv_dw_px_bwd_data", &wg, &a);
    if (st) return st;
    fcl_op_arg_t(&a, dx); fcl_op_arg_t(&a, dy); fcl_op_arg_t(&a, w);
    fcl_op_arg_i(&a, p->n * p->cin); fcl_op_arg_i(&a, p->cin); fcl_op_arg_i(&a, p->h); fcl_op_arg_i(&a, p->w);
    fcl_conv_geom_args(&a, p);
    fcl_op_arg_i(&a, oh); fcl_op_arg_i(&a, ow);
    size_t g = fcl_op_div_up((size_t)p->n * p->cin * p->h * p->w, wg) * wg;
    return fcl_op_args_run(&a, 1, &g, &wg);
}

fcl_status fcl_conv_dw_gpu_bwd_weight(fcl_ctx *ctx, const fcl_conv_gpu_tune *t, fcl_tensor *dw,
                                      const fcl_tensor *dy, const fcl_tensor *x, const fcl_conv2d_params *p,
                                      int oh, int ow)
{
    size_t wg;
    fcl_op_args a;
    fcl_status st = start_wg(ctx, t, "conv_dw_wg_bwd_weight", &wg, &a);
    if (st) return st;
    fcl_op_arg_t(&a, dw); fcl_op_arg_t(&a, dy); fcl_op_arg_t(&a, x);
    fcl_op_arg_i(&a, p->n); fcl_op_arg_i(&a, p->cin); fcl_op_arg_i(&a, p->h); fcl_op_arg_i(&a, p->w);
    fcl_conv_geom_args(&a, p);
    fcl_op_arg_i(&a, oh); fcl_op_arg_i(&a, ow);
    fcl_op_arg_local(&a, wg * sizeof(float));
    size_t g = (size_t)p->cin * p->kh * p->kw * wg;
    return fcl_op_args_run(&a, 1, &g, &wg);
}
