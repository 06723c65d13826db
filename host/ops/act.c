/* host/ops/act.c: launchers of the activation and PReLU kernels in cl/act.cl, and activation names. */
#include <math.h>
#include <stdio.h>
#include <strings.h>

#include "facecl/ops_act.h"
#include "ops/op_util.h"

/* Per kind: the name used in model files and messages, the kernel prefix in act.cl, and whether
 * the backward reads y (1) or x (0), as PyTorch's autograd saves them. */
static const struct {
    const char *name;
    const char *kernel;
    int saves_output;
} kinds[FCL_ACT_COUNT] = {
    [FCL_ACT_RELU] = {"relu", "relu", 1},
    [FCL_ACT_RELU6] = {"relu6", "relu6", 0},
    [FCL_ACT_LEAKY_RELU] = {"leaky_relu", "leaky_relu", 0},
    [FCL_ACT_SIGMOID] = {"sigmoid", "sigmoid", 1},
    [FCL_ACT_TANH] = {"tanh", "tanh", 1},
    [FCL_ACT_SILU] = {"silu", "silu", 0},
    [FCL_ACT_HARDSWISH] = {"hardswish", "hardswish", 0},
    [FCL_ACT_HARDSIGMOID] = {"hardsigmoid", "hardsigmoid", 0},
    [FCL_ACT_GELU] = {"gelu", "gelu", 0},
    [FCL_ACT_GELU_TANH] = {"gelu_tanh", "gelu_tanh", 0},
};

const char *fcl_act_name(fcl_act_kind kind)
{
    return ((int)kind >= 0 && kind < FCL_ACT_COUNT) ? kinds[kind].name : NULL;
}

int fcl_act_parse(const char *name, fcl_act_kind *out)
{
    if (!name) return -1;
    if (!strcasecmp(name, "swish")) {
        *out = FCL_ACT_SILU;
        return 0;
    }
    for (int i = 0; i < FCL_ACT_COUNT; i++)
        if (!strcasecmp(name, kinds[i].name)) {
            *out = (fcl_act_kind)i;
            return 0;
        }
    return -1;
}

int fcl_act_saves_output(fcl_act_kind kind)
{
    return ((int)kind >= 0 && kind < FCL_ACT_COUNT) ? kinds[kind].saves_output : 0;
}

static fcl_status check_params(fcl_ctx *ctx, const char *op, const fcl_act_params *p)
{
    if (!p) return FCL_ERR(ERRP(ctx), FCL_ERR_INVALID_ARG, "%s: params are NULL", op);
    if ((int)p->kind < 0 || p->kind >= FCL_ACT_COUNT)
        return FCL_ERR(ERRP(ctx), FCL_ERR_INVALID_ARG, "%s: unknown activation kind %d", op, (int)p->kind);
    if (p->kind == FCL_ACT_LEAKY_RELU && !isfinite(p->slope))
        return FCL_ERR(ERRP(ctx), FCL_ERR_INVALID_ARG, "%s: leaky_relu slope must be finite", op);
    return FCL_OK;
}

/* act.cl with the "act" tuning. */
static const fcl_op_src SRC = {"act.cl", FCL_TF_ACT};

/* y = act(x), or act(x + r) when r is given (the <kind>_add_fwd kernels). */
static fcl_status act_fwd(fcl_ctx *ctx, const char *op, fcl_tensor *y, const fcl_tensor *x, const fcl_tensor *r,
                          const fcl_act_params *p)
{
    fcl_status st;
    char kname[64];
    if ((st = check_params(ctx, op, p)) || (st = fcl_op_check_t(ctx, op, "x", x)) ||
        (r && (st = fcl_op_check_t(ctx, op, "r", r))) || (st = fcl_op_check_t(ctx, op, "y", y)) ||
        (st = fcl_op_check_same_numel(ctx, op, "y", y, "x", x)) ||
        (r && (st = fcl_op_check_same_numel(ctx, op, "r", r, "x", x))))
        return st;
    if ((fcl_op_overlaps(y, x) && !fcl_op_same(y, x)) || (r && fcl_op_overlaps(y, r) && !fcl_op_same(y, r)))
        return FCL_ERR(ERRP(ctx), FCL_ERR_INVALID_ARG, "%s(%s): y partly overlaps %s (only y == x%s is allowed)", op,
                         kinds[p->kind].name, r ? "x or r" : "x", r ? " or y == r" : "");
    snprintf(kname, sizeof kname, "%s%s", kinds[p->kind].kernel, r ? "_add_fwd" : "_fwd");
    size_t n = fcl_tensor_numel(x);
    if (!r) return FCL_OP_VEC(ctx, &SRC, kname, n, OP_T(y), OP_T(x), OP_I(n), OP_F(p->slope));
    return FCL_OP_VEC(ctx, &SRC, kname, n, OP_T(y), OP_T(x), OP_T(r), OP_I(n), OP_F(p->slope));
}

fcl_status fcl_act_fwd(fcl_ctx *ctx, fcl_tensor *y, const fcl_tensor *x, const fcl_act_params *p)
{
    return act_fwd(ctx, "fcl_act_fwd", y, x, NULL, p);
}

fcl_status fcl_act_add_fwd(fcl_ctx *ctx, fcl_tensor *y, const fcl_tensor *x, const fcl_tensor *r,
                           const fcl_act_params *p)
{
    return act_fwd(ctx, "fcl_act_add_fwd", y, x, r, p);
}

fcl_status fcl_act_bwd(fcl_ctx *ctx, fcl_tensor *dx, const fcl_tensor *dy, const fcl_tensor *saved,
                       const fcl_act_params *p)
{
    const char *op = "fcl_act_bwd";
    fcl_status st;
    char kname[64];
    if ((st = check_params(ctx, op, p)) || (st = fcl_op_check_t(ctx, op, "dx", dx)) ||
        (st = fcl_op_check_t(ctx, op, "dy", dy)) ||
        (st = fcl_op_check_t(ctx, op, "saved", saved)) ||
        (st = fcl_op_check_same_numel(ctx, op, "dx", dx, "dy", dy)) ||
        (st = fcl_op_check_same_numel(ctx, op, "dx", dx, "saved", saved)))
        return st;
    if (fcl_op_overlaps(dx, dy) || fcl_op_overlaps(dx, saved))
        return FCL_ERR(ERRP(ctx), FCL_ERR_INVALID_ARG, "%s(%s): dx must not overlap dy or the saved tensor "
                         "(dx accumulates)", op, kinds[p->kind].name);
    snprintf(kname, sizeof kname, "%s_bwd", kinds[p->kind].kernel);
    size_t n = fcl_tensor_numel(dx);
    return FCL_OP_VEC(ctx, &SRC, kname, n, OP_T(dx), OP_T(dy), OP_T(saved), OP_I(n), OP_F(p->slope));
}

/* ---- PReLU ------------------------------------------------------------------------------------- */

/* x [N, C, inner...] and slopes a (numel C or 1): the kernels' extents. ndim 1 is one row. */
static fcl_status prelu_dims(fcl_ctx *ctx, const char *op, const fcl_tensor *x, const fcl_tensor *a,
                             int *n, int *c, int *inner, int *na)
{
    size_t in = 1;
    for (int i = 2; i < x->ndim; i++) in *= x->shape[i];
    *n = x->ndim >= 2 ? (int)x->shape[0] : 1;
    *c = x->ndim >= 2 ? (int)x->shape[1] : 1;
    *inner = x->ndim >= 2 ? (int)in : (int)x->shape[0];
    size_t ka = fcl_tensor_numel(a);
    if (ka != 1 && (x->ndim < 2 || ka != (size_t)*c)) {
        char sx[96], sa[96];
        fcl_tensor_shape_str(x, sx, sizeof sx);
        fcl_tensor_shape_str(a, sa, sizeof sa);
        return FCL_ERR(ERRP(ctx), FCL_ERR_SHAPE, "%s: the slopes a %s must have 1 element or one per "
                       "channel (dim 1) of x %s", op, sa, sx);
    }
    *na = (int)ka;
    return FCL_OK;
}

fcl_status fcl_prelu_fwd(fcl_ctx *ctx, fcl_tensor *y, const fcl_tensor *x, const fcl_tensor *a)
{
    const char *op = "fcl_prelu_fwd";
    fcl_status st;
    int n, c, inner, na;
    if ((st = fcl_op_check_t(ctx, op, "x", x)) ||
        (st = fcl_op_check_t(ctx, op, "y", y)) ||
        (st = fcl_op_check_t(ctx, op, "a", a)) ||
        (st = fcl_op_check_same_shape(ctx, op, "y", y, "x", x)) ||
        (st = prelu_dims(ctx, op, x, a, &n, &c, &inner, &na)))
        return st;
    if ((fcl_op_overlaps(y, x) && !fcl_op_same(y, x)) || fcl_op_overlaps(y, a))
        return FCL_ERR(ERRP(ctx), FCL_ERR_INVALID_ARG, "%s: y may be x but must not partly overlap x or a", op);
    size_t g0 = fcl_op_div_up((size_t)inner, (size_t)fcl_op_vec(ctx, &SRC));
    return FCL_OP_2D(ctx, &SRC, "prelu_fwd", g0, (size_t)n * (size_t)c, OP_T(y), OP_T(x), OP_T(a), OP_I(n * c),
            OP_I(c), OP_I(inner), OP_I(na));
}

fcl_status fcl_prelu_bwd(fcl_ctx *ctx, fcl_tensor *dx, fcl_tensor *da, const fcl_tensor *dy,
                         const fcl_tensor *x, const fcl_tensor *a)
{
    const char *op = "fcl_prelu_bwd";
    fcl_status st;
    cl_kernel k;
    int n, c, inner, na;
    if ((st = fcl_op_check_t(ctx, op, "dy", dy)) ||
        (st = fcl_op_check_t(ctx, op, "x", x)) ||
        (st = fcl_op_check_t(ctx, op, "a", a)) ||
        (st = fcl_op_check_opt(ctx, op, "dx", dx, 1, FCL_MAX_DIMS)) ||
        (st = fcl_op_check_opt(ctx, op, "da", da, 1, FCL_MAX_DIMS)) ||
        (st = fcl_op_check_same_shape(ctx, op, "dy", dy, "x", x)) ||
        (dx && (st = fcl_op_check_same_shape(ctx, op, "dx", dx, "x", x))) ||
        (st = fcl_op_check_numel(ctx, op, "da", da, fcl_tensor_numel(a), "as many as a")) ||
        (st = prelu_dims(ctx, op, x, a, &n, &c, &inner, &na)))
        return st;
    if (fcl_op_overlaps(dx, dy) || fcl_op_overlaps(dx, x) || fcl_op_overlaps(dx, a) ||
        fcl_op_overlaps(da, dy) || fcl_op_overlaps(da, x) || fcl_op_overlaps(da, a) ||
        fcl_op_overlaps(dx, da))
        return FCL_ERR(ERRP(ctx), FCL_ERR_INVALID_ARG, "%s: dx and da must not overlap each other or the "
                         "inputs (they accumulate)", op);
    if (da) {
        size_t wg;
        if ((st = fcl_op_kernel(ctx, &SRC, "prelu_bwd_weight", &k)) ||
            (st = fcl_op_reduce_wg(ctx, k, fcl_ctx_wg1d(ctx), &wg)))
            return st;
        size_t gs = (size_t)na * wg;
        if ((st = FCL_OP_RUN_ND(ctx, k, 1, &gs, &wg, OP_T(da), OP_T(dy), OP_T(x), OP_I(n), OP_I(c), OP_I(inner),
                OP_I(na), OP_LOCAL(wg * sizeof(float)))))
            return st;
    }
    if (dx) {
        size_t g0 = fcl_op_div_up((size_t)inner, (size_t)fcl_op_vec(ctx, &SRC));
        if ((st = FCL_OP_2D(ctx, &SRC, "prelu_bwd_data", g0, (size_t)n * (size_t)c, OP_T(dx), OP_T(dy), OP_T(x),
                OP_T(a), OP_I(n * c), OP_I(c), OP_I(inner), OP_I(na))))
            return st;
    }
    return FCL_OK;
}
