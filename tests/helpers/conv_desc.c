/* tests/helpers/conv_desc.c: the conv2d op descriptor's shared parts (device and reference directions, operands) for tests/test_ops_conv*.c. */
#include "helpers/conv_desc.h"

#include "ref/ref_conv.h"

fcl_status cd_dev_fwd(fcl_ctx *ctx, oc_dev t, const fcl_conv2d_params *p)
{
    return fcl_conv2d_fwd(ctx, t[CD_Y], t[CD_X], t[CD_W], t[CD_B], p);
}

void cd_ref_fwd(double *const *h, const fcl_conv2d_params *p)
{
    fcl_ref_conv2d_fwd(h[CD_Y], h[CD_X], h[CD_W], h[CD_B], p);
}

fcl_status cd_dev_bwd(fcl_ctx *ctx, oc_dev t, const fcl_conv2d_params *p, int bias)
{
    return fcl_conv2d_bwd(ctx, t[CD_DX], t[CD_DW], bias ? t[CD_DB] : NULL, t[CD_DY], t[CD_X], t[CD_W], p);
}

void cd_ref_bwd(double *const *h, const fcl_conv2d_params *p, int bias)
{
    fcl_ref_conv2d_bwd_data(h[CD_DX], h[CD_DY], h[CD_W], p);
    fcl_ref_conv2d_bwd_weight(h[CD_DW], h[CD_DY], h[CD_X], p);
    if (bias) fcl_ref_conv2d_bwd_bias(h[CD_DB], h[CD_DY], p);
}

void cd_args(oc_case *c, const fcl_conv2d_params *p, int bias, int oh, int ow)
{
    size_t xs[4] = {(size_t)p->n, (size_t)p->cin, (size_t)p->h, (size_t)p->w};
    size_t ws[4] = {(size_t)p->cout, (size_t)(p->cin / p->groups), (size_t)p->kh, (size_t)p->kw};
    size_t ys[4] = {(size_t)p->n, (size_t)p->cout, (size_t)oh, (size_t)ow}, bs[1] = {(size_t)p->cout};
    oc_arg_set(c, CD_X, "x", OC_IN, 4, xs, -1, 1);
    oc_arg_set(c, CD_W, "w", OC_IN, 4, ws, -1, 1);
    oc_arg_set(c, CD_B, "b", bias ? OC_IN : OC_NONE, 1, bs, -1, 1);
    oc_arg_set(c, CD_Y, "y", OC_OUT, 4, ys, 0, 0);
    oc_arg_set(c, CD_DY, "dy", OC_IN, 4, ys, -1, 1);
    oc_arg_set(c, CD_DX, "dx", OC_GRAD, 4, xs, -0.5, 0.5);
    oc_arg_set(c, CD_DW, "dw", OC_GRAD, 4, ws, -0.5, 0.5);
    oc_arg_set(c, CD_DB, "db", bias ? OC_GRAD : OC_IN, 1, bs, -0.5, 0.5);
}
