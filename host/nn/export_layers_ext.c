/* host/nn/export_layers_ext.c: ONNX mappings (opset 13) of issue 12's layer kinds: LayerNorm2d, GELU (exact and tanh), learned tensors (layer scale), ResNeSt's radix sum and r-SoftMax, NFNet's weight-standardised conv and constant scale. */
#include <stdio.h>

#include "nn/export_internal.h"

/* Named scalar constants, each added to the graph once (on first use). The values are the
 * float constants facecl's kernels use (cl/act.cl), so the ONNX graph computes the same
 * float operations in the same order. */
static const struct {
    const char *name;
    float v;
} scalars[EX_SCALAR_COUNT] = {
    [EX_RELU6_MIN] = {"const/relu6_min", 0.0f},
    [EX_RELU6_MAX] = {"const/relu6_max", 6.0f},
    [EX_HALF] = {"const/half", 0.5f},
    [EX_ONE] = {"const/one", 1.0f},
    [EX_RSQRT2] = {"const/gelu_rsqrt2", 0.7071067811865476f},
    [EX_GELU_K0] = {"const/gelu_sqrt_2_over_pi", 0.7978845608028654f},
    [EX_GELU_K1] = {"const/gelu_cubic", 0.044715f},
};

const char *ex_scalar(fcl_exporter *x, ex_scalar_id id)
{
    if (!(x->have_scalar & (1u << id))) {
        ex_const(x, scalars[id].name, 0, NULL, &scalars[id].v);
        x->have_scalar |= 1u << id;
    }
    return scalars[id].name;
}

/* out = op(a, b) as a fresh helper value "<base>:<what>.<n>" (or `into` when not NULL). */
static const char *bin(fcl_exporter *x, const char *op, const char *a, const char *b, const char *base,
                       const char *what, const char *into, char tmp[EX_NAME_MAX])
{
    const char *ins[2] = {a, b};
    if (into)
        snprintf(tmp, EX_NAME_MAX, "%s", into);
    else
        ex_tmp(x, base, what, tmp);
    ex_node(x, op, tmp, ins, b ? 2 : 1, NULL, 0);
    return tmp;
}

/* GELU as facecl's kernels compute it (cl/act.cl), operation by operation in C's order:
 *   exact: (0.5 * x) * (1 + Erf(x * 0.70710678))            (Erf is in opset 13)
 *   tanh:  (0.5 * x) * (1 + Tanh(K0 * (x + ((K1 * x) * x) * x)))
 * (no Gelu op before opset 20; x / sqrt(2) would round differently from facecl's multiply). */
fcl_status ex_map_gelu(fcl_exporter *x, int i, const char *in, int tanh_form)
{
    const char *out = x->value[i];
    char t[6][EX_NAME_MAX];
    const char *inner;
    if (!tanh_form) {
        inner = bin(x, "Mul", in, ex_scalar(x, EX_RSQRT2), out, "x_rsqrt2", NULL, t[0]);
        inner = bin(x, "Erf", inner, NULL, out, "erf", NULL, t[1]);
    } else {
        const char *c = bin(x, "Mul", ex_scalar(x, EX_GELU_K1), in, out, "k1x", NULL, t[0]);
        c = bin(x, "Mul", c, in, out, "k1x2", NULL, t[1]);
        c = bin(x, "Mul", c, in, out, "k1x3", NULL, t[2]);
        c = bin(x, "Add", in, c, out, "cubic", NULL, t[3]);
        c = bin(x, "Mul", ex_scalar(x, EX_GELU_K0), c, out, "u", NULL, t[4]);
        inner = bin(x, "Tanh", c, NULL, out, "tanh", NULL, t[5]);
    }
    char one_plus[EX_NAME_MAX], half_x[EX_NAME_MAX], res[EX_NAME_MAX];
    bin(x, "Add", ex_scalar(x, EX_ONE), inner, out, "one_plus", NULL, one_plus);
    bin(x, "Mul", ex_scalar(x, EX_HALF), in, out, "half_x", NULL, half_x);
    bin(x, "Mul", half_x, one_plus, NULL, NULL, out, res);
    return FCL_OK;
}

/* The centred value d = v - ReduceMean(v) and r = Reciprocal(Sqrt(ReduceMean(d * d) + eps)) over
 * `axes` (kept for broadcasting), in the order of facecl's kernels: the two-pass biased
 * variance, then 1 / std (cl/norm.cl). */
static void standardise(fcl_exporter *x, const char *v, const int64_t *axes, int n_axes, float eps, const char *base,
                        char d[EX_NAME_MAX], char rs[EX_NAME_MAX])
{
    fcl_onnx_attr red[] = {{"axes", FCL_ONNX_ATTR_INTS, 0, 0, axes, n_axes}, {"keepdims", FCL_ONNX_ATTR_INT, 1, 0, NULL, 0}};
    char e[EX_NAME_MAX], mean[EX_NAME_MAX], sq[EX_NAME_MAX], var[EX_NAME_MAX], ve[EX_NAME_MAX], sd[EX_NAME_MAX];
    ex_tmp(x, base, "eps", e);
    ex_const(x, e, 0, NULL, &eps);
    ex_tmp(x, base, "mean", mean);
    ex_node(x, "ReduceMean", mean, &v, 1, red, 2);
    bin(x, "Sub", v, mean, base, "centred", NULL, d);
    const char *sqp = bin(x, "Mul", d, d, base, "sq", NULL, sq);
    ex_tmp(x, base, "var", var);
    ex_node(x, "ReduceMean", var, &sqp, 1, red, 2);
    bin(x, "Add", var, e, base, "var_eps", NULL, ve);
    bin(x, "Sqrt", ve, NULL, base, "std", NULL, sd);
    bin(x, "Reciprocal", sd, NULL, base, "rstd", NULL, rs);
}

/* LayerNorm2d (LayerNorm over each pixel's channels, NCHW) without opset 17's
 * LayerNormalization, as cl/norm.cl's ln2d_fwd: y = (d * r) * weight + bias over axis 1
 * (standardise); weight, bias: [C] in the checkpoint, [C, 1, 1] here. */
static fcl_status map_layernorm(fcl_exporter *x, int i)
{
    const fcl_layer *L = &x->m->layers[i];
    const char *out = x->value[i];
    char in[EX_NAME_MAX], wn[EX_NAME_MAX], bn[EX_NAME_MAX];
    ex_as4d(x, ex_in(x, L, 0), ex_in_rank(x, L, 0), L->in_c, L->in_h, L->in_w, out, in);
    const int64_t cd[3] = {L->in_c, 1, 1};
    const char *w = ex_weight(x, L, FCL_PARAM_WEIGHT, 3, cd);
    if (!w) return x->err->status;
    snprintf(wn, sizeof wn, "%s", w);
    const char *b = ex_weight(x, L, FCL_PARAM_BIAS, 3, cd);
    if (!b) return x->err->status;
    snprintf(bn, sizeof bn, "%s", b);
    char d[EX_NAME_MAX], rs[EX_NAME_MAX], xh[EX_NAME_MAX], wx[EX_NAME_MAX];
    standardise(x, in, (const int64_t[]){1}, 1, L->ext.eps, out, d, rs);
    const int affine_w = *wn != 0, affine_b = *bn != 0;
    bin(x, "Mul", d, rs, out, "normalised", affine_w || affine_b ? NULL : out, xh);
    const char *v = xh;
    if (affine_w) v = bin(x, "Mul", xh, wn, out, "scaled", affine_b ? NULL : out, wx);
    if (affine_b) bin(x, "Add", v, bn, NULL, NULL, out, d);
    x->rank[i] = 4;
    return FCL_OK;
}

/* The standardised weight of a ws conv (timm's ScaledStdConv2d, cl/norm.cl wstd_fwd) from the
 * checkpoint's weight w [O, I, kh, kw] and gain [O, 1, 1, 1], per output channel:
 *   w_hat = (w - mean) * ((gain * gamma / sqrt(fan-in)) * r), mean and r over axes 1, 2, 3. */
fcl_status ex_ws_weight(fcl_exporter *x, int i, const char *w, char out[EX_NAME_MAX])
{
    const fcl_layer *L = &x->m->layers[i];
    const char *g = ex_weight(x, L, FCL_PARAM_GAIN, 0, NULL);
    if (!g) return x->err->status;
    char gn[EX_NAME_MAX], d[EX_NAME_MAX], rs[EX_NAME_MAX], sc[EX_NAME_MAX], gs[EX_NAME_MAX], s[EX_NAME_MAX];
    snprintf(gn, sizeof gn, "%s", g);
    standardise(x, w, (const int64_t[]){1, 2, 3}, 3, L->conv.ws_eps, x->value[i], d, rs);
    ex_tmp(x, x->value[i], "ws_scale", sc);
    ex_const(x, sc, 0, NULL, &L->conv.ws_scale);
    const char *f = *gn ? bin(x, "Mul", gn, sc, x->value[i], "gain_scale", NULL, gs) : sc;
    bin(x, "Mul", f, rs, x->value[i], "w_factor", NULL, s);
    bin(x, "Mul", d, s, x->value[i], "w_hat", NULL, out);
    return FCL_OK;
}

/* A constant scale (NFNet's beta, attn_gain * alpha): Mul by a scalar, fcl_scale's one multiply. */
static fcl_status map_scale(fcl_exporter *x, int i)
{
    const fcl_layer *L = &x->m->layers[i];
    char c[EX_NAME_MAX];
    ex_tmp(x, x->value[i], "by", c);
    ex_const(x, c, 0, NULL, &L->ext.scale);
    const char *ins[2] = {ex_in(x, L, 0), c};
    ex_node(x, "Mul", x->value[i], ins, 2, NULL, 0);
    x->rank[i] = ex_in_rank(x, L, 0);
    return FCL_OK;
}

/* A learned tensor (ConvNeXt's layer scale gamma, [C, 1, 1]): the initialiser itself under its
 * state_dict name, no node; numpy broadcasting applies it to [N, C, H, W] in channel_mul (Mul),
 * which is facecl's "per image, broadcast over the batch". */
static fcl_status map_param(fcl_exporter *x, int i)
{
    const fcl_layer *L = &x->m->layers[i];
    /* a [C, 1, 1] initialiser is the layer's value for element-wise consumers only: anything
     * else (a conv, a pool) would see one image where facecl sees the batch */
    for (int j = i + 1; j < x->m->n_layers; j++) {
        const fcl_layer *U = &x->m->layers[j];
        for (int k = 0; k < U->n_inputs; k++)
            if (U->inputs[k] == i && U->kind != FCL_LAYER_CHANNEL_MUL && U->kind != FCL_LAYER_ADD)
                return FCL_ERR(x->err, FCL_ERR_UNSUPPORTED,
                               "export: layer %d '%s' (%s line %d) reads the learned tensor '%s' directly: only "
                               "channel_mul and add of it have an ONNX mapping", j, x->value[j], x->m->name, U->line,
                               L->name);
    }
    const char *p = ex_weight(x, L, FCL_PARAM_WEIGHT, 0, NULL);
    if (!p) return x->err->status;
    snprintf(x->value[i], EX_NAME_MAX, "%s", p);
    x->rank[i] = 4;
    return FCL_OK;
}

/* An int64 shape constant for Reshape (0 keeps the batch dimension). */
static void shape_const(fcl_exporter *x, const char *base, int n, const int64_t *dims, char out[EX_NAME_MAX])
{
    const int64_t nd = n;
    ex_tmp(x, base, "shape", out);
    fcl_onnx_init_i64(&x->g, out, 1, &nd, dims);
}

/* Radix sum (timm SplitAttn): x [N, R*C, H, W] with split r at channels [r*C, (r+1)*C):
 *   y[n, c] = sum_r x[n, r*C + c] (* a[n, r*C + c] when an attention a [N, R*C, 1, 1] is given)
 * = ReduceSum over axis 1 of Reshape(x * a, [N, R, C, H, W]) (opset 13: axes is an input). */
static fcl_status map_radix_sum(fcl_exporter *x, int i)
{
    const fcl_layer *L = &x->m->layers[i];
    const char *out = x->value[i];
    int r = L->ext.radix;
    char in[EX_NAME_MAX], att[EX_NAME_MAX], prod[EX_NAME_MAX], shape[EX_NAME_MAX], split[EX_NAME_MAX],
        axes[EX_NAME_MAX];
    ex_as4d(x, ex_in(x, L, 0), ex_in_rank(x, L, 0), L->in_c, L->in_h, L->in_w, out, in);
    const char *v = in;
    if (L->n_inputs == 2) {
        ex_as4d(x, ex_in(x, L, 1), ex_in_rank(x, L, 1), L->in_c, 1, 1, out, att);
        v = bin(x, "Mul", in, att, out, "weighted", NULL, prod);
    }
    const int64_t dims[5] = {0, r, L->in_c / r, L->in_h, L->in_w}, one = 1, ax = 1;
    shape_const(x, out, 5, dims, shape);
    const char *rs[2] = {v, shape};
    ex_tmp(x, out, "splits", split);
    ex_node(x, "Reshape", split, rs, 2, NULL, 0);
    ex_tmp(x, out, "axes", axes);
    fcl_onnx_init_i64(&x->g, axes, 1, &one, &ax);
    const char *sum[2] = {split, axes};
    fcl_onnx_attr keep = {"keepdims", FCL_ONNX_ATTR_INT, 0, 0, NULL, 0};
    ex_node(x, "ReduceSum", out, sum, 2, &keep, 1);
    x->rank[i] = 4;
    return FCL_OK;
}

/* r-SoftMax (timm RadixSoftmax) of x [N, card*R*rest, 1, 1], laid out [card, R, rest]: softmax
 * over the radix, the output laid out [R, card, rest] (x.view(N, card, R, -1).transpose(1, 2),
 * softmax(dim=1), reshape(N, -1)):
 *   Reshape [N, card, R, rest] -> Transpose (0, 2, 1, 3) -> Softmax(axis 1) -> Reshape [N, C, 1, 1]
 * (opset 13's Softmax normalises along the one axis, as torch's dim). R = 1: Sigmoid. */
static fcl_status map_rsoftmax(fcl_exporter *x, int i)
{
    const fcl_layer *L = &x->m->layers[i];
    const char *out = x->value[i];
    int r = L->ext.radix, card = L->ext.cardinality, c = L->in_c;
    const char *in = ex_in(x, L, 0);
    x->rank[i] = 4;
    if (r == 1) {
        char v[EX_NAME_MAX];
        ex_as4d(x, in, ex_in_rank(x, L, 0), c, 1, 1, out, v);
        const char *s = v;
        ex_node(x, "Sigmoid", out, &s, 1, NULL, 0);
        return FCL_OK;
    }
    char s1[EX_NAME_MAX], s2[EX_NAME_MAX], grouped[EX_NAME_MAX], by_radix[EX_NAME_MAX], soft[EX_NAME_MAX];
    /* one group: [1, R, rest] is [R, 1, rest] in the same order, so no Transpose is needed */
    const int64_t rest = c / (card * r), d1[4] = {0, card > 1 ? card : r, card > 1 ? r : 1, rest}, d2[4] = {0, c, 1, 1};
    shape_const(x, out, 4, d1, s1);
    shape_const(x, out, 4, d2, s2);
    const char *a[2] = {in, s1};
    ex_tmp(x, out, "grouped", grouped);
    ex_node(x, "Reshape", grouped, a, 2, NULL, 0);
    const char *t = grouped;
    if (card > 1) {
        fcl_onnx_attr perm = {"perm", FCL_ONNX_ATTR_INTS, 0, 0, (const int64_t[]){0, 2, 1, 3}, 4};
        ex_tmp(x, out, "by_radix", by_radix);
        ex_node(x, "Transpose", by_radix, &t, 1, &perm, 1);
        t = by_radix;
    }
    fcl_onnx_attr axis = {"axis", FCL_ONNX_ATTR_INT, 1, 0, NULL, 0};
    ex_tmp(x, out, "softmax", soft);
    ex_node(x, "Softmax", soft, &t, 1, &axis, 1);
    const char *b[2] = {soft, s2};
    ex_node(x, "Reshape", out, b, 2, NULL, 0);
    return FCL_OK;
}

fcl_status ex_map_ext(fcl_exporter *x, int i)
{
    switch (x->m->layers[i].kind) {
    case FCL_LAYER_LAYERNORM: return map_layernorm(x, i);
    case FCL_LAYER_PARAM: return map_param(x, i);
    case FCL_LAYER_RADIX_SUM: return map_radix_sum(x, i);
    case FCL_LAYER_RSOFTMAX: return map_rsoftmax(x, i);
    case FCL_LAYER_SCALE: return map_scale(x, i);
    default: break;
    }
    return FCL_ERR(x->err, FCL_ERR_INTERNAL, "export: layer %d: kind %d is not an extension kind", i,
                   (int)x->m->layers[i].kind);
}
