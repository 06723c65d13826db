/* host/ops/eltwise.c: launchers of the elementwise ops in cl/eltwise.cl (add, axpby, SE scale, concat, dropout, drop path, sum). */
#include <math.h>

#include "facecl/ops_eltwise.h"
#include "ops/op_util.h"

/* ---- argument checks and launch plumbing (file-local) -------------------------------------- */

/* eltwise.cl with the "eltwise" tuning. */
static const fcl_op_src SRC = {"eltwise.cl", FCL_TF_ELTWISE};

/* ---- add and BLAS-1 ----------------------------------------------------------------------------- */

fcl_status fcl_add_fwd(fcl_ctx *ctx, fcl_tensor *y, const fcl_tensor *a, const fcl_tensor *b)
{
    const char *op = "fcl_add_fwd";
    fcl_status st;
    if ((st = fcl_op_check_t(ctx, op, "y", y)) || (st = fcl_op_check_t(ctx, op, "a", a)) ||
        (st = fcl_op_check_t(ctx, op, "b", b)) || (st = fcl_op_check_same_numel(ctx, op, "y", y, "a", a)) ||
        (st = fcl_op_check_same_numel(ctx, op, "y", y, "b", b)))
        return st;
    if ((fcl_op_overlaps(y, a) && y->offset != a->offset) || (fcl_op_overlaps(y, b) && y->offset != b->offset))
        return FCL_ERR(ERRP(ctx), FCL_ERR_INVALID_ARG, "%s: y partly overlaps an input (only y == a or "
                         "y == b is allowed)", op);
    int n = (int)fcl_tensor_numel(y);
    return FCL_OP_VEC(ctx, &SRC, "add_fwd", n, OP_T(y), OP_T(a), OP_T(b), OP_I(n));
}

fcl_status fcl_axpby(fcl_ctx *ctx, fcl_tensor *y, float alpha, const fcl_tensor *x, float beta)
{
    const char *op = "fcl_axpby";
    fcl_status st;
    if ((st = fcl_op_check_t(ctx, op, "y", y)) || (st = fcl_op_check_t(ctx, op, "x", x)) ||
        (st = fcl_op_check_same_numel(ctx, op, "y", y, "x", x)))
        return st;
    if (fcl_op_overlaps(x, y) && x->offset != y->offset)
        return FCL_ERR(ERRP(ctx), FCL_ERR_INVALID_ARG, "%s: x and y partly overlap (only x == y is allowed)",
                         op);
    int n = (int)fcl_tensor_numel(y);
    return FCL_OP_VEC(ctx, &SRC, "axpby", n, OP_T(y), OP_T(x), OP_I(n), OP_F(alpha), OP_F(beta));
}

fcl_status fcl_axpy(fcl_ctx *ctx, fcl_tensor *y, float alpha, const fcl_tensor *x)
{
    return fcl_axpby(ctx, y, alpha, x, 1.0f);
}

fcl_status fcl_scale(fcl_ctx *ctx, fcl_tensor *y, float alpha)
{
    /* y = alpha * y + 0 * (not read) */
    return fcl_axpby(ctx, y, alpha, y, 0.0f);
}

fcl_status fcl_add_acc(fcl_ctx *ctx, fcl_tensor *y, const fcl_tensor *x)
{
    return fcl_axpby(ctx, y, 1.0f, x, 1.0f);
}

fcl_status fcl_add_bwd(fcl_ctx *ctx, fcl_tensor *da, fcl_tensor *db, const fcl_tensor *dy)
{
    fcl_status st = FCL_OK;
    if (da && (st = fcl_add_acc(ctx, da, dy)))
        goto fail;
    if (db && (st = fcl_add_acc(ctx, db, dy)))
        goto fail;
    return FCL_OK;
fail:
    return fcl_error_prefix(ERRP(ctx), "fcl_add_bwd: ");
}

fcl_status fcl_sum(fcl_ctx *ctx, fcl_tensor *out, const fcl_tensor *x, float scale)
{
    const char *op = "fcl_sum";
    fcl_status st;
    if ((st = fcl_op_check_t(ctx, op, "out", out)) || (st = fcl_op_check_t(ctx, op, "x", x)))
        return st;
    size_t wg = 64;   /* SUM_WG in eltwise.cl: one group, fixed tree */
    return fcl_op_call(ctx, &SRC, "sum_all", FCL_GRID_ND, 1, &wg, &wg,
                             FCL_OP_VALS(OP_T(out), OP_T(x), OP_I(fcl_tensor_numel(x)), OP_F(scale)));
}

/* ---- channel-wise multiply ---------------------------------------------------------------------- */

/* x [N, C, ...] and s (numel N*C, shape[0] == N): planes nc = N*C of hw values. */
static fcl_status chmul_shapes(fcl_ctx *ctx, const char *op, const fcl_tensor *x, const fcl_tensor *s,
                               size_t *nc, size_t *hw)
{
    char sx[96], ss[96];
    fcl_tensor_shape_str(x, sx, sizeof sx);
    fcl_tensor_shape_str(s, ss, sizeof ss);
    if (x->ndim < 2)
        return FCL_ERR(ERRP(ctx), FCL_ERR_SHAPE, "%s: x %s needs at least 2 dims [N, C, ...]", op, sx);
    *nc = x->shape[0] * x->shape[1];
    *hw = fcl_tensor_numel(x) / *nc;
    if (s->shape[0] != x->shape[0] || fcl_tensor_numel(s) != *nc)
        return FCL_ERR(ERRP(ctx), FCL_ERR_SHAPE, "%s: scale s %s must hold one value per (n, c) of x %s",
                       op, ss, sx);
    return FCL_OK;
}

/* The chmul kernel: out = in * s per plane (accumulate: out +=), FCL_VEC columns per work-item. */
static fcl_status chmul_run(fcl_ctx *ctx, fcl_tensor *out, const fcl_tensor *in, const fcl_tensor *s, size_t nc,
                            size_t hw, int accumulate)
{
    return FCL_OP_2D(ctx, &SRC, "chmul", fcl_op_div_up(hw, (size_t)fcl_op_vec(ctx, &SRC)), nc, OP_T(out), OP_T(in),
                     OP_T(s), OP_I(nc), OP_I(hw), OP_I(accumulate));
}

fcl_status fcl_chmul_fwd(fcl_ctx *ctx, fcl_tensor *y, const fcl_tensor *x, const fcl_tensor *s)
{
    const char *op = "fcl_chmul_fwd";
    size_t nc, hw;
    fcl_status st;
    if ((st = fcl_op_check_t(ctx, op, "y", y)) || (st = fcl_op_check_t(ctx, op, "x", x)) ||
        (st = fcl_op_check_t(ctx, op, "s", s)) || (st = chmul_shapes(ctx, op, x, s, &nc, &hw)) ||
        (st = fcl_op_check_same_numel(ctx, op, "y", y, "x", x)))
        return st;
    if (fcl_op_overlaps(y, s))
        return FCL_ERR(ERRP(ctx), FCL_ERR_INVALID_ARG, "%s: y overlaps the scale s", op);
    return chmul_run(ctx, y, x, s, nc, hw, 0);
}

fcl_status fcl_chmul_bwd(fcl_ctx *ctx, fcl_tensor *dx, fcl_tensor *ds, const fcl_tensor *dy,
                         const fcl_tensor *x, const fcl_tensor *s)
{
    const char *op = "fcl_chmul_bwd";
    size_t nc, hw;
    fcl_status st;
    /* the shapes are checked on dy (x's shape) and s, which are both needed */
    if ((st = fcl_op_check_t(ctx, op, "dy", dy)) || (st = fcl_op_check_t(ctx, op, "s", s)) ||
        (st = chmul_shapes(ctx, op, dy, s, &nc, &hw)))
        return st;
    if (dx) {
        if ((st = fcl_op_check_t(ctx, op, "dx", dx)) || (st = fcl_op_check_same_numel(ctx, op, "dx", dx, "dy", dy)))
            return st;
        if (fcl_op_overlaps(dx, s) || (fcl_op_overlaps(dx, dy) && dx->offset != dy->offset))
            return FCL_ERR(ERRP(ctx), FCL_ERR_INVALID_ARG, "%s: dx overlaps s or part of dy", op);
        if ((st = chmul_run(ctx, dx, dy, s, nc, hw, 1)))
            return st;
    }
    if (ds) {
        if ((st = fcl_op_check_t(ctx, op, "ds", ds)) || (st = fcl_op_check_t(ctx, op, "x", x)) ||
            (st = fcl_op_check_same_numel(ctx, op, "ds", ds, "s", s)) ||
            (st = fcl_op_check_same_numel(ctx, op, "x", x, "dy", dy)))
            return st;
        if (fcl_op_overlaps(ds, dy) || fcl_op_overlaps(ds, x))
            return FCL_ERR(ERRP(ctx), FCL_ERR_INVALID_ARG, "%s: ds overlaps dy or x", op);
        if ((st = FCL_OP_1D(ctx, &SRC, "chmul_bwd_scale", nc, OP_T(ds), OP_T(dy), OP_T(x), OP_I(nc), OP_I(hw))))
            return st;
    }
    return FCL_OK;
}

/* ---- concat along channels ------------------------------------------------------------------------ */

/* N, C and inner size (H*W) of a [N, C, ...] tensor. */
static fcl_status nc_inner(fcl_ctx *ctx, const char *op, const char *name, const fcl_tensor *t,
                           size_t *n, size_t *c, size_t *inner)
{
    if (t->ndim < 2) {
        char s[96];
        fcl_tensor_shape_str(t, s, sizeof s);
        return FCL_ERR(ERRP(ctx), FCL_ERR_SHAPE, "%s: %s %s needs at least 2 dims [N, C, ...]", op, name, s);
    }
    *n = t->shape[0];
    *c = t->shape[1];
    *inner = fcl_tensor_numel(t) / (*n * *c);
    return FCL_OK;
}

/* Moves the channel block [c0, c0 + C_small) between `big` [N, C_big, ...] and `small`
 * [N, C_small, ...]: big slice = small (to_big) or small += big slice. */
static fcl_status channel_block(fcl_ctx *ctx, const char *op, fcl_tensor *big, fcl_tensor *small,
                                size_t c0, int to_big)
{
    size_t nb = 0, cb = 0, ib = 0, ns = 0, cs = 0, is = 0;
    fcl_status st;
    if ((st = fcl_op_check_t(ctx, op, to_big ? "y" : "dy", big)) ||
        (st = fcl_op_check_t(ctx, op, to_big ? "x" : "dx", small)) ||
        (st = nc_inner(ctx, op, to_big ? "y" : "dy", big, &nb, &cb, &ib)) ||
        (st = nc_inner(ctx, op, to_big ? "x" : "dx", small, &ns, &cs, &is)))
        return st;
    if (nb != ns || ib != is || c0 > cb || cs > cb - c0) {
        char sb[96], ss[96];
        fcl_tensor_shape_str(big, sb, sizeof sb);
        fcl_tensor_shape_str(small, ss, sizeof ss);
        return FCL_ERR(ERRP(ctx), FCL_ERR_SHAPE, "%s: %s does not fit into channels %zu.. of %s", op, ss, c0, sb);
    }
    if (fcl_op_overlaps(big, small))
        return FCL_ERR(ERRP(ctx), FCL_ERR_INVALID_ARG, "%s: source and destination overlap", op);
    size_t row = cs * is;   /* one image's slice */
    fcl_tensor slice = *big;
    slice.offset += c0 * ib;
    return FCL_OP_2D(ctx, &SRC, "block_copy", fcl_op_div_up(row, (size_t)fcl_op_vec(ctx, &SRC)), nb,
            OP_T(to_big ? &slice : small), OP_I((int)(to_big ? cb * ib : row)), OP_T(to_big ? small : &slice),
            OP_I((int)(to_big ? row : cb * ib)), OP_I(row), OP_I(nb), OP_I(to_big ? 0 : 1));
}

fcl_status fcl_concat_put(fcl_ctx *ctx, fcl_tensor *y, size_t c0, const fcl_tensor *x)
{
    return channel_block(ctx, "fcl_concat_put", y, (fcl_tensor *)x, c0, 1);
}

fcl_status fcl_concat_take_acc(fcl_ctx *ctx, fcl_tensor *dx, const fcl_tensor *dy, size_t c0)
{
    return channel_block(ctx, "fcl_concat_take_acc", (fcl_tensor *)dy, dx, c0, 0);
}

fcl_status fcl_concat_fwd(fcl_ctx *ctx, fcl_tensor *y, const fcl_tensor *const *xs, int count)
{
    const char *op = "fcl_concat_fwd";
    size_t n = 0, cy = 0, inner = 0, c0 = 0;
    fcl_status st;
    if (count < 1 || !xs)
        return FCL_ERR(ERRP(ctx), FCL_ERR_INVALID_ARG, "%s: needs at least one input (count %d)", op, count);
    if ((st = fcl_op_check_t(ctx, op, "y", y)) || (st = nc_inner(ctx, op, "y", y, &n, &cy, &inner)))
        return st;
    for (int i = 0; i < count; i++) {
        if ((st = fcl_op_check_t(ctx, op, "an input", xs[i])))
            return st;
        c0 += xs[i]->ndim >= 2 ? xs[i]->shape[1] : 0;
    }
    if (c0 != cy) {
        char s[96];
        fcl_tensor_shape_str(y, s, sizeof s);
        return FCL_ERR(ERRP(ctx), FCL_ERR_SHAPE, "%s: the %d inputs' channels add up to %zu, y %s has %zu",
                         op, count, c0, s, cy);
    }
    c0 = 0;
    for (int i = 0; i < count; i++) {
        if ((st = fcl_concat_put(ctx, y, c0, xs[i])))
            return st;
        c0 += xs[i]->shape[1];
    }
    return FCL_OK;
}

fcl_status fcl_concat_bwd(fcl_ctx *ctx, fcl_tensor *const *dxs, const size_t *channels, int count,
                          const fcl_tensor *dy)
{
    const char *op = "fcl_concat_bwd";
    size_t n = 0, cy = 0, inner = 0, c0 = 0;
    fcl_status st;
    if (count < 1 || !dxs || !channels)
        return FCL_ERR(ERRP(ctx), FCL_ERR_INVALID_ARG, "%s: needs at least one input (count %d)", op, count);
    if ((st = fcl_op_check_t(ctx, op, "dy", dy)) || (st = nc_inner(ctx, op, "dy", dy, &n, &cy, &inner)))
        return st;
    for (int i = 0; i < count; i++) {
        if (dxs[i] && (dxs[i]->ndim < 2 || dxs[i]->shape[1] != channels[i]))
            return FCL_ERR(ERRP(ctx), FCL_ERR_SHAPE, "%s: gradient %d does not have its %zu channels", op, i,
                             channels[i]);
        c0 += channels[i];
    }
    if (c0 != cy)
        return FCL_ERR(ERRP(ctx), FCL_ERR_SHAPE, "%s: channels add up to %zu, dy has %zu", op, c0, cy);
    c0 = 0;
    for (int i = 0; i < count; i++) {
        if (dxs[i] && (st = fcl_concat_take_acc(ctx, dxs[i], dy, c0)))
            return st;
        c0 += channels[i];
    }
    return FCL_OK;
}

/* ---- dropout ------------------------------------------------------------------------------------------ */

uint32_t fcl_dropout_threshold(float p)
{
    if (!(p > 0.0f))
        return 0;
    if (p >= 1.0f)
        return 1u << 24;   /* above every 24-bit value: nothing kept */
    return (uint32_t)ceil((double)p * 16777216.0);
}

int fcl_dropout_keep(uint64_t seed, uint64_t index, float p)
{
    /* splitmix64 output number index + 1 from state seed (same as drop_bits in eltwise.cl) */
    uint64_t z = seed + (index + 1u) * 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return (uint32_t)(z >> 40) >= fcl_dropout_threshold(p);
}

static fcl_status dropout_check(fcl_ctx *ctx, const char *op, const fcl_dropout_params *p)
{
    if (!p)
        return FCL_ERR(ERRP(ctx), FCL_ERR_INVALID_ARG, "%s: params are NULL", op);
    if (!(p->p >= 0.0f && p->p <= 1.0f))
        return FCL_ERR(ERRP(ctx), FCL_ERR_INVALID_ARG, "%s: p = %g is outside [0, 1]", op, (double)p->p);
    return FCL_OK;
}

/* The forward (out = in * mask / (1 - p)) or, accumulate, the backward (out += in * the same);
 * outside training or at p = 0 the mask keeps everything: a copy or an accumulation. */
static fcl_status dropout_apply(fcl_ctx *ctx, const char *op, const char *nout, fcl_tensor *out, const char *nin,
                                const fcl_tensor *in, const fcl_dropout_params *p, int accumulate)
{
    fcl_status st;
    if ((st = dropout_check(ctx, op, p)) || (st = fcl_op_check_t(ctx, op, nout, out)) ||
        (st = fcl_op_check_t(ctx, op, nin, in)) || (st = fcl_op_check_same_numel(ctx, op, nout, out, nin, in)))
        return st;
    if (fcl_op_overlaps(out, in) && out->offset != in->offset)
        return FCL_ERR(ERRP(ctx), FCL_ERR_INVALID_ARG, "%s: %s and %s partly overlap", op, nout, nin);
    if (!p->training || p->p == 0.0f)
        return accumulate ? fcl_add_acc(ctx, out, in) : fcl_tensor_copy(ctx, out, in);   /* copy: a no-op when out is in */
    int n = (int)fcl_tensor_numel(in);
    cl_ulong seed = p->seed;
    cl_uint thr = fcl_dropout_threshold(p->p);
    float scale = p->p < 1.0f ? (float)(1.0 / (1.0 - (double)p->p)) : 0.0f;
    return FCL_OP_VEC(ctx, &SRC, "dropout", n, OP_T(out), OP_T(in), OP_I(n), OP_U64(seed), OP_U32(thr), OP_F(scale),
                      OP_I(accumulate));
}

fcl_status fcl_dropout_fwd(fcl_ctx *ctx, fcl_tensor *y, const fcl_tensor *x, const fcl_dropout_params *p)
{
    return dropout_apply(ctx, "fcl_dropout_fwd", "y", y, "x", x, p, 0);
}

fcl_status fcl_dropout_bwd(fcl_ctx *ctx, fcl_tensor *dx, const fcl_tensor *dy, const fcl_dropout_params *p)
{
    return dropout_apply(ctx, "fcl_dropout_bwd", "dx", dx, "dy", dy, p, 1);
}

/* ---- drop path (stochastic depth) --------------------------------------------------------------------- */

int fcl_drop_path_keep(uint64_t seed, uint64_t sample, float p) { return fcl_dropout_keep(seed, sample, p); }

/* Shared body of fcl_drop_path_fwd / _bwd: checks, then the identity (inference, p == 0) or the
 * drop_path kernel. accumulate: out += (backward) instead of out = (forward). */
static fcl_status drop_path_run(fcl_ctx *ctx, const char *op, fcl_tensor *out, const fcl_tensor *in,
                                const fcl_dropout_params *p, int accumulate)
{
    fcl_status st;
    if ((st = dropout_check(ctx, op, p)) || (st = fcl_op_check_t(ctx, op, accumulate ? "dx" : "y", out)) ||
        (st = fcl_op_check_t(ctx, op, accumulate ? "dy" : "x", in)) ||
        (st = fcl_op_check_same_shape(ctx, op, accumulate ? "dx" : "y", out, accumulate ? "dy" : "x", in)))
        return st;
    if (fcl_op_overlaps(out, in) && (accumulate || !fcl_op_same(out, in)))
        return FCL_ERR(ERRP(ctx), FCL_ERR_INVALID_ARG, "%s: %s", op,
                       accumulate ? "dx must not overlap dy (dx accumulates)" : "y may be x but must not partly overlap it");
    if (!p->training || p->p == 0.0f)
        return accumulate ? fcl_add_acc(ctx, out, in) : fcl_tensor_copy(ctx, out, in);
    int n = (int)fcl_tensor_numel(in);
    cl_ulong seed = p->seed;
    cl_uint thr = fcl_dropout_threshold(p->p);
    float scale = p->p < 1.0f ? (float)(1.0 / (1.0 - (double)p->p)) : 0.0f;
    return FCL_OP_VEC(ctx, &SRC, "drop_path", n, OP_T(out), OP_T(in), OP_I(n), OP_I(n / (int)in->shape[0]),
            OP_U64(seed), OP_U32(thr), OP_F(scale), OP_I(accumulate));
}

fcl_status fcl_drop_path_fwd(fcl_ctx *ctx, fcl_tensor *y, const fcl_tensor *x, const fcl_dropout_params *p)
{
    return drop_path_run(ctx, "fcl_drop_path_fwd", y, x, p, 0);
}

fcl_status fcl_drop_path_bwd(fcl_ctx *ctx, fcl_tensor *dx, const fcl_tensor *dy, const fcl_dropout_params *p)
{
    return drop_path_run(ctx, "fcl_drop_path_bwd", dx, dy, p, 1);
}

/* ---- flatten -------------------------------------------------------------------------------------- */

fcl_status fcl_flatten(fcl_ctx *ctx, const fcl_tensor *x, fcl_tensor *out)
{
    fcl_status st;
    if ((st = fcl_op_check_t(ctx, "fcl_flatten", "x", x)))
        return st;
    size_t shape[2] = {x->shape[0], fcl_tensor_numel(x) / x->shape[0]};
    return fcl_tensor_reshape(ctx, x, 2, shape, out);
}
