/* host/ops/pad.c: launchers of the 2-D padding kernels in cl/pad.cl, and timm's "same" amounts. */
#include <math.h>

#include "facecl/ops_pad.h"
#include "ops/op_util.h"

/* pad.cl has no tuning values: built with the device's capability defines only. */
static const fcl_op_src SRC = {"pad.cl", FCL_TF_COUNT};

void fcl_pad_same_amounts(int in, int k, int s, int d, int *before, int *after)
{
    int total = ((in + s - 1) / s - 1) * s + (k - 1) * d + 1 - in;
    if (total < 0) total = 0;
    *before = total / 2;
    *after = total - *before;
}

/* small: x [.., H, W]; big: y [.., H + top + bottom, W + left + right] (ndim 2..4, equal leading
 * dims). Plane count, H, W out. */
static fcl_status pad_dims(fcl_ctx *ctx, const char *op, const char *ns, const fcl_tensor *small,
                           const char *nb, const fcl_tensor *big, const fcl_pad2d_params *p, int *planes,
                           int *h, int *w)
{
    fcl_status st;
    if (!p) return FCL_ERR(ERRP(ctx), FCL_ERR_INVALID_ARG, "%s: params are NULL", op);
    if ((st = fcl_op_check(ctx, op, ns, small, 2, 4)) || (st = fcl_op_check(ctx, op, nb, big, 2, 4))) return st;
    if (p->top < 0 || p->bottom < 0 || p->left < 0 || p->right < 0 || !isfinite(p->value))
        return FCL_ERR(ERRP(ctx), FCL_ERR_INVALID_ARG, "%s: pad amounts (%d, %d, %d, %d) must be >= 0 and the "
                       "value finite", op, p->top, p->bottom, p->left, p->right);
    int nd = small->ndim, ok = big->ndim == nd;
    for (int i = 0; ok && i < nd - 2; i++) ok = big->shape[i] == small->shape[i];
    ok = ok && big->shape[nd - 2] == small->shape[nd - 2] + (size_t)p->top + (size_t)p->bottom &&
         big->shape[nd - 1] == small->shape[nd - 1] + (size_t)p->left + (size_t)p->right;
    if (!ok) {
        char s1[96], s2[96];
        fcl_tensor_shape_str(small, s1, sizeof s1);
        fcl_tensor_shape_str(big, s2, sizeof s2);
        return FCL_ERR(ERRP(ctx), FCL_ERR_SHAPE, "%s: %s %s padded by (top %d, bottom %d, left %d, right %d) is "
                       "not %s %s", op, ns, s1, p->top, p->bottom, p->left, p->right, nb, s2);
    }
    *h = (int)small->shape[nd - 2];
    *w = (int)small->shape[nd - 1];
    *planes = (int)(fcl_tensor_numel(small) / ((size_t)*h * (size_t)*w));
    return FCL_OK;
}

static fcl_status run(fcl_ctx *ctx, const char *name, fcl_tensor *out, const fcl_tensor *in, int planes, int h,
                      int w, const fcl_pad2d_params *p, int fwd)
{
    int oh = h + p->top + p->bottom, ow = w + p->left + p->right;
    size_t gs[3] = {(size_t)(fwd ? ow : w), (size_t)(fwd ? oh : h), (size_t)planes};
    const fcl_op_val v[] = {OP_T(out), OP_T(in), OP_I(planes), OP_I(h), OP_I(w), OP_I(oh), OP_I(ow), OP_I(p->top),
                            OP_I(p->left), OP_F(p->value)};   /* the fill value: forward only */
    return fcl_op_call(ctx, &SRC, name, FCL_GRID_ND, 3, gs, NULL, v, fwd ? 10 : 9);
}

fcl_status fcl_pad2d_fwd(fcl_ctx *ctx, fcl_tensor *y, const fcl_tensor *x, const fcl_pad2d_params *p)
{
    const char *op = "fcl_pad2d_fwd";
    int planes = 0, h = 0, w = 0;
    fcl_status st = pad_dims(ctx, op, "x", x, "y", y, p, &planes, &h, &w);
    if (st) return st;
    if (fcl_op_overlaps(y, x)) return FCL_ERR(ERRP(ctx), FCL_ERR_INVALID_ARG, "%s: y must not overlap x", op);
    return run(ctx, "pad2d_fwd", y, x, planes, h, w, p, 1);
}

fcl_status fcl_pad2d_bwd(fcl_ctx *ctx, fcl_tensor *dx, const fcl_tensor *dy, const fcl_pad2d_params *p)
{
    const char *op = "fcl_pad2d_bwd";
    int planes = 0, h = 0, w = 0;
    fcl_status st = pad_dims(ctx, op, "dx", dx, "dy", dy, p, &planes, &h, &w);
    if (st) return st;
    if (fcl_op_overlaps(dx, dy))
        return FCL_ERR(ERRP(ctx), FCL_ERR_INVALID_ARG, "%s: dx must not overlap dy (dx accumulates)", op);
    return run(ctx, "pad2d_bwd", dx, dy, planes, h, w, p, 0);
}
