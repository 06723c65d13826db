/* host/nn/export_layers.c: the ONNX mapping of every facecl layer kind, one table (kind -> nodes). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/export_internal.h"

#define INTS(n, ...) .type = FCL_ONNX_ATTR_INTS, .ints = (const int64_t[]){__VA_ARGS__}, .n_ints = (n)

/* Conv: weight [cout, cin/groups, kh, kw] as torch's, pads [top, left, bottom, right]. */
static fcl_status map_conv(fcl_exporter *x, int i)
{
    const fcl_layer *L = &x->m->layers[i];
    char in[EX_NAME_MAX];
    ex_as4d(x, ex_in(x, L, 0), ex_in_rank(x, L, 0), L->in_c, L->in_h, L->in_w, x->value[i], in);
    /* ONNX's weight layout whatever shape the checkpoint stores it in (same element order) */
    const int64_t wd[4] = {L->conv.cout, L->conv.cin / L->conv.groups, L->conv.kh, L->conv.kw};
    const char *wt = ex_weight(x, L, FCL_PARAM_WEIGHT, 4, wd);
    if (!wt) return x->err->status;
    char wname[EX_NAME_MAX];
    snprintf(wname, sizeof wname, "%s", wt);
    if (L->conv.ws) { /* NFNet: the conv runs with the standardised weight, made in the graph */
        char raw[EX_NAME_MAX];
        snprintf(raw, sizeof raw, "%s", wname);
        if (ex_ws_weight(x, i, raw, wname)) return x->err->status;
    }
    const char *b = ex_weight(x, L, FCL_PARAM_BIAS, 0, NULL);
    if (!b) return x->err->status;
    const char *ins[3] = {in, wname, b};
    fcl_onnx_attr a[] = {{"dilations", INTS(2, L->conv.dil_h, L->conv.dil_w)},
                         {"group", FCL_ONNX_ATTR_INT, L->conv.groups, 0, NULL, 0},
                         {"kernel_shape", INTS(2, L->conv.kh, L->conv.kw)},
                         {"pads", INTS(4, L->conv.pad_h, L->conv.pad_w, L->conv.pad_h, L->conv.pad_w)},
                         {"strides", INTS(2, L->conv.stride_h, L->conv.stride_w)}};
    ex_node(x, "Conv", x->value[i], ins, *b ? 3 : 2, a, 5);
    x->rank[i] = 4;
    return FCL_OK;
}

/* BatchNormalization in inference form (running statistics); works on [N, C] and [N, C, H, W].
 * Without affine parameters, gamma 1 and beta 0 are made here. */
static fcl_status map_bn(fcl_exporter *x, int i)
{
    const fcl_layer *L = &x->m->layers[i];
    char names[4][EX_NAME_MAX];
    const fcl_param_kind kinds[4] = {FCL_PARAM_WEIGHT, FCL_PARAM_BIAS, FCL_PARAM_RUNNING_MEAN, FCL_PARAM_RUNNING_VAR};
    for (int k = 0; k < 4; k++) {
        const char *n = ex_weight(x, L, kinds[k], 0, NULL);
        if (!n) return x->err->status;
        if (!*n) { /* affine=0 */
            int64_t c = L->out_c;
            float *v = malloc((size_t)c * sizeof *v);
            if (!v) return FCL_ERR(x->err, FCL_ERR_NOMEM, "export: out of memory");
            for (int64_t j = 0; j < c; j++) v[j] = k == 0 ? 1.0f : 0.0f;
            ex_tmp(x, x->value[i], k == 0 ? "scale" : "shift", names[k]);
            ex_const(x, names[k], 1, &c, v);
            free(v);
        } else {
            snprintf(names[k], EX_NAME_MAX, "%s", n);
        }
    }
    const char *ins[5] = {ex_in(x, L, 0), names[0], names[1], names[2], names[3]};
    fcl_onnx_attr a[] = {{"epsilon", FCL_ONNX_ATTR_FLOAT, 0, L->bn.eps, NULL, 0}};
    ex_node(x, "BatchNormalization", x->value[i], ins, 5, a, 1);
    x->rank[i] = ex_in_rank(x, L, 0);
    return FCL_OK;
}

/* Activations: ONNX ops where opset 13 has them, else exact compositions:
 * relu6 = Clip(0, 6); gelu: export_layers_ext.c; silu = x * Sigmoid(x); hardswish = x * HardSigmoid(x) with torch's
 * hardsigmoid relu6(x + 3) / 6 = clamp(x / 6 + 0.5, 0, 1) (HardSwish itself is opset 14). */
static fcl_status map_act(fcl_exporter *x, int i)
{
    const fcl_layer *L = &x->m->layers[i];
    const char *in = ex_in(x, L, 0);
    const char *out = x->value[i];
    x->rank[i] = ex_in_rank(x, L, 0);
    fcl_onnx_attr hs[] = {{"alpha", FCL_ONNX_ATTR_FLOAT, 0, 1.0f / 6.0f, NULL, 0},
                          {"beta", FCL_ONNX_ATTR_FLOAT, 0, 0.5f, NULL, 0}};
    char t[EX_NAME_MAX];
    switch (L->act.kind) {
    case FCL_ACT_RELU: ex_node(x, "Relu", out, &in, 1, NULL, 0); return FCL_OK;
    case FCL_ACT_SIGMOID: ex_node(x, "Sigmoid", out, &in, 1, NULL, 0); return FCL_OK;
    case FCL_ACT_TANH: ex_node(x, "Tanh", out, &in, 1, NULL, 0); return FCL_OK;
    case FCL_ACT_LEAKY_RELU: {
        fcl_onnx_attr a = {"alpha", FCL_ONNX_ATTR_FLOAT, 0, L->act.slope, NULL, 0};
        ex_node(x, "LeakyRelu", out, &in, 1, &a, 1);
        return FCL_OK;
    }
    case FCL_ACT_RELU6: {
        const char *ins[3] = {in, ex_scalar(x, EX_RELU6_MIN), ex_scalar(x, EX_RELU6_MAX)};
        ex_node(x, "Clip", out, ins, 3, NULL, 0);
        return FCL_OK;
    }
    case FCL_ACT_GELU:
    case FCL_ACT_GELU_TANH: return ex_map_gelu(x, i, in, L->act.kind == FCL_ACT_GELU_TANH);
    case FCL_ACT_HARDSIGMOID: ex_node(x, "HardSigmoid", out, &in, 1, hs, 2); return FCL_OK;
    case FCL_ACT_SILU:
    case FCL_ACT_HARDSWISH: {
        int silu = L->act.kind == FCL_ACT_SILU;
        ex_tmp(x, out, silu ? "sigmoid" : "hardsigmoid", t);
        ex_node(x, silu ? "Sigmoid" : "HardSigmoid", t, &in, 1, silu ? NULL : hs, silu ? 0 : 2);
        const char *ins[2] = {in, t};
        ex_node(x, "Mul", out, ins, 2, NULL, 0);
        return FCL_OK;
    }
    default: break;
    }
    return FCL_ERR(x->err, FCL_ERR_UNSUPPORTED, "export: layer %d '%s' (line %d): activation '%s' has no ONNX mapping", i,
                   out, L->line, fcl_model_act_name(L->act.kind));
}

/* PRelu: slopes [C] become [C, 1, 1] on a 4-D input so they broadcast over channels. */
static fcl_status map_prelu(fcl_exporter *x, int i)
{
    const fcl_layer *L = &x->m->layers[i];
    int r = ex_in_rank(x, L, 0);
    int64_t dims[3] = {L->prelu.shared ? 1 : L->out_c, 1, 1};
    const char *s = ex_weight(x, L, FCL_PARAM_WEIGHT, r == 4 && !L->prelu.shared ? 3 : 1, dims);
    if (!s) return x->err->status;
    const char *ins[2] = {ex_in(x, L, 0), s};
    ex_node(x, "PRelu", x->value[i], ins, 2, NULL, 0);
    x->rank[i] = r;
    return FCL_OK;
}

/* Max / average pooling. torch's ceil mode (the last window must start inside the input or the
 * left padding) is written as explicit extra bottom/right padding with ceil_mode 0, so the
 * output size is facecl's whatever a runtime's ceil rule is. Average pooling that counts the
 * padding (count_include_pad) but must not count that extra overhang (torch's divisor is
 * clipped to input + padding) pads with zeros first (Pad) and then pools without counting pads. */
static fcl_status map_pool(fcl_exporter *x, int i)
{
    const fcl_layer *L = &x->m->layers[i];
    const fcl_pool2d_params *p = &L->pool;
    int avg = L->kind == FCL_LAYER_AVGPOOL;
    if (avg && p->divisor_override > 0)
        return FCL_ERR(x->err, FCL_ERR_UNSUPPORTED, "export: layer %d '%s' (line %d): avgpool divisor_override has no ONNX mapping",
                       i, x->value[i], L->line);
    int sh = p->sh ? p->sh : p->kh, sw = p->sw ? p->sw : p->kw;
    int eh = (L->out_h - 1) * sh + p->kh - (L->in_h + 2 * p->ph);
    int ew = (L->out_w - 1) * sw + p->kw - (L->in_w + 2 * p->pw);
    if (eh < 0) eh = 0;
    if (ew < 0) ew = 0;
    char in[EX_NAME_MAX];
    ex_as4d(x, ex_in(x, L, 0), ex_in_rank(x, L, 0), L->in_c, L->in_h, L->in_w, x->value[i], in);
    int ph = p->ph, pw = p->pw, cip = avg ? p->count_include_pad : 0;
    if (avg && cip && (eh || ew) && (ph || pw)) {
        char padded[EX_NAME_MAX], pads[EX_NAME_MAX];
        ex_tmp(x, x->value[i], "pad", padded);
        ex_tmp(x, x->value[i], "pads", pads);
        const int64_t pv[8] = {0, 0, ph, pw, 0, 0, ph, pw}, n8 = 8;
        fcl_onnx_init_i64(&x->g, pads, 1, &n8, pv);
        const char *ins[2] = {in, pads};
        ex_node(x, "Pad", padded, ins, 2, NULL, 0);
        snprintf(in, sizeof in, "%s", padded);
        ph = pw = 0;
        cip = 0;
    } else if (avg && cip && (eh || ew)) {
        cip = 0; /* no regular padding: only the overhang is padded, and it must not count */
    }
    const char *ins[1] = {in};
    fcl_onnx_attr a[] = {{"count_include_pad", FCL_ONNX_ATTR_INT, cip, 0, NULL, 0},
                         {"kernel_shape", INTS(2, p->kh, p->kw)},
                         {"pads", INTS(4, ph, pw, ph + eh, pw + ew)},
                         {"strides", INTS(2, sh, sw)}};
    ex_node(x, avg ? "AveragePool" : "MaxPool", x->value[i], ins, 1, avg ? a : a + 1, avg ? 4 : 3);
    x->rank[i] = 4;
    return FCL_OK;
}

static fcl_status map_gap(fcl_exporter *x, int i)
{
    const fcl_layer *L = &x->m->layers[i];
    char in[EX_NAME_MAX];
    ex_as4d(x, ex_in(x, L, 0), ex_in_rank(x, L, 0), L->in_c, L->in_h, L->in_w, x->value[i], in);
    const char *ins[1] = {in};
    ex_node(x, "GlobalAveragePool", x->value[i], ins, 1, NULL, 0);
    x->rank[i] = 4;
    return FCL_OK;
}

/* torch's adaptive window of output cell o: [floor(o * in / out), ceil((o + 1) * in / out)).
 * Row p of the [out, in] matrix averages that window. */
static float *adaptive_matrix(int in, int out)
{
    float *a = calloc((size_t)in * (size_t)out, sizeof *a);
    if (!a) return NULL;
    for (int o = 0; o < out; o++) {
        int s = (int)(((long)o * in) / out), e = (int)(((long)(o + 1) * in + out - 1) / out);
        for (int k = s; k < e; k++) a[(size_t)o * (size_t)in + (size_t)k] = 1.0f / (float)(e - s);
    }
    return a;
}

/* AdaptiveAvgPool2d((oh, ow)): the identity when the size does not change, AveragePool when the
 * input divides evenly, else (windows of varying size, overlapping when upsampling) the
 * separable form Y = A_h X A_w^T as two MatMuls with the averaging matrices. */
static fcl_status map_adaptive(fcl_exporter *x, int i)
{
    const fcl_layer *L = &x->m->layers[i];
    int oh = L->out_h, ow = L->out_w, ih = L->in_h, iw = L->in_w;
    char in[EX_NAME_MAX];
    ex_as4d(x, ex_in(x, L, 0), ex_in_rank(x, L, 0), L->in_c, ih, iw, x->value[i], in);
    const char *ins[2] = {in, NULL};
    x->rank[i] = 4;
    if (oh == ih && ow == iw) {
        ex_node(x, "Identity", x->value[i], ins, 1, NULL, 0);
        return FCL_OK;
    }
    if (ih % oh == 0 && iw % ow == 0) {
        fcl_onnx_attr a[] = {{"kernel_shape", INTS(2, ih / oh, iw / ow)}, {"strides", INTS(2, ih / oh, iw / ow)}};
        ex_node(x, "AveragePool", x->value[i], ins, 1, a, 2);
        return FCL_OK;
    }
    float *ah = adaptive_matrix(ih, oh), *aw = adaptive_matrix(iw, ow), *awt = malloc((size_t)iw * (size_t)ow * sizeof *awt);
    if (!ah || !aw || !awt) {
        free(ah);
        free(aw);
        free(awt);
        return FCL_ERR(x->err, FCL_ERR_NOMEM, "export: out of memory");
    }
    for (int r = 0; r < ow; r++)
        for (int c = 0; c < iw; c++) awt[(size_t)c * (size_t)ow + (size_t)r] = aw[(size_t)r * (size_t)iw + (size_t)c];
    char nh[EX_NAME_MAX], nw[EX_NAME_MAX], cols[EX_NAME_MAX];
    ex_tmp(x, x->value[i], "rows", nh);
    ex_tmp(x, x->value[i], "cols_t", nw);
    ex_tmp(x, x->value[i], "pooled_cols", cols);
    int64_t dh[2] = {oh, ih}, dw[2] = {iw, ow};
    ex_const(x, nh, 2, dh, ah);
    ex_const(x, nw, 2, dw, awt);
    free(ah);
    free(aw);
    free(awt);
    ins[1] = nw; /* [N, C, ih, iw] x [iw, ow] -> [N, C, ih, ow] */
    ex_node(x, "MatMul", cols, ins, 2, NULL, 0);
    const char *ins2[2] = {nh, cols}; /* [oh, ih] x [N, C, ih, ow] -> [N, C, oh, ow] */
    ex_node(x, "MatMul", x->value[i], ins2, 2, NULL, 0);
    return FCL_OK;
}

/* nn.Linear over the flattened input: Gemm(x, W^T) + b, weight [out, in] as torch's. */
static fcl_status map_linear(fcl_exporter *x, int i)
{
    const fcl_layer *L = &x->m->layers[i];
    char in[EX_NAME_MAX], wname[EX_NAME_MAX];
    ex_as2d(x, ex_in(x, L, 0), ex_in_rank(x, L, 0), x->value[i], in);
    const int64_t wd[2] = {L->linear.out, L->linear.in};
    const char *wt = ex_weight(x, L, FCL_PARAM_WEIGHT, 2, wd);
    if (!wt) return x->err->status;
    snprintf(wname, sizeof wname, "%s", wt);
    const char *b = ex_weight(x, L, FCL_PARAM_BIAS, 0, NULL);
    if (!b) return x->err->status;
    const char *ins[3] = {in, wname, b};
    fcl_onnx_attr a = {"transB", FCL_ONNX_ATTR_INT, 1, 0, NULL, 0};
    ex_node(x, "Gemm", x->value[i], ins, *b ? 3 : 2, &a, 1);
    x->rank[i] = 2;
    return FCL_OK;
}

static fcl_status map_flatten(fcl_exporter *x, int i)
{
    const fcl_layer *L = &x->m->layers[i];
    const char *ins[1] = {ex_in(x, L, 0)};
    fcl_onnx_attr a = {"axis", FCL_ONNX_ATTR_INT, 1, 0, NULL, 0};
    ex_node(x, "Flatten", x->value[i], ins, 1, &a, 1);
    x->rank[i] = 2;
    return FCL_OK;
}

/* Dropout and drop path (stochastic depth) are the identity at inference: the layer's value is
 * its input's (no node). */
static fcl_status map_dropout(fcl_exporter *x, int i)
{
    const fcl_layer *L = &x->m->layers[i];
    snprintf(x->value[i], EX_NAME_MAX, "%s", ex_in(x, L, 0));
    x->rank[i] = ex_in_rank(x, L, 0);
    return FCL_OK;
}

/* add (Add, or Sum of more), channel_mul (Mul broadcasting [N, C, 1, 1]) and concat (Concat on
 * channels): inputs of mixed rank are all made 4-D first. */
static fcl_status map_multi(fcl_exporter *x, int i)
{
    const fcl_layer *L = &x->m->layers[i];
    char in[FCL_LAYER_MAX_INPUTS][EX_NAME_MAX];
    const char *ins[FCL_LAYER_MAX_INPUTS];
    int all2 = L->kind == FCL_LAYER_ADD;
    for (int k = 0; k < L->n_inputs; k++) all2 = all2 && ex_in_rank(x, L, k) == 2;
    for (int k = 0; k < L->n_inputs; k++) {
        const fcl_layer *S = L->inputs[k] >= 0 ? &x->m->layers[L->inputs[k]] : NULL;
        int c = S ? S->out_c : x->m->channels, h = S ? S->out_h : x->m->in_h, w = S ? S->out_w : x->m->in_w;
        if (all2)
            snprintf(in[k], EX_NAME_MAX, "%s", ex_in(x, L, k));
        else
            ex_as4d(x, ex_in(x, L, k), ex_in_rank(x, L, k), c, h, w, x->value[i], in[k]);
        ins[k] = in[k];
    }
    fcl_onnx_attr axis = {"axis", FCL_ONNX_ATTR_INT, 1, 0, NULL, 0};
    if (L->kind == FCL_LAYER_CONCAT)
        ex_node(x, "Concat", x->value[i], ins, L->n_inputs, &axis, 1);
    else if (L->kind == FCL_LAYER_CHANNEL_MUL)
        ex_node(x, "Mul", x->value[i], ins, 2, NULL, 0);
    else
        ex_node(x, L->n_inputs == 2 ? "Add" : "Sum", x->value[i], ins, L->n_inputs, NULL, 0);
    x->rank[i] = all2 ? 2 : 4;
    return FCL_OK;
}

/* The one table: every layer kind facecl builds and how it becomes ONNX nodes. A kind missing
 * here (a new layer type not mapped yet) is refused by name. */
static const struct {
    fcl_layer_kind kind;
    fcl_status (*map)(fcl_exporter *x, int i);
} mappings[] = {
    {FCL_LAYER_CONV, map_conv},
    {FCL_LAYER_BN, map_bn},
    {FCL_LAYER_ACT, map_act},
    {FCL_LAYER_PRELU, map_prelu},
    {FCL_LAYER_MAXPOOL, map_pool},
    {FCL_LAYER_AVGPOOL, map_pool},
    {FCL_LAYER_GLOBAL_AVGPOOL, map_gap},
    {FCL_LAYER_ADAPTIVE_AVGPOOL, map_adaptive},
    {FCL_LAYER_LINEAR, map_linear},
    {FCL_LAYER_ADD, map_multi},
    {FCL_LAYER_CHANNEL_MUL, map_multi},
    {FCL_LAYER_CONCAT, map_multi},
    {FCL_LAYER_DROPOUT, map_dropout},
    {FCL_LAYER_FLATTEN, map_flatten},
    {FCL_LAYER_DROP_PATH, map_dropout},
    {FCL_LAYER_LAYERNORM, ex_map_ext},
    {FCL_LAYER_PARAM, ex_map_ext},
    {FCL_LAYER_RADIX_SUM, ex_map_ext},
    {FCL_LAYER_RSOFTMAX, ex_map_ext},
    {FCL_LAYER_SCALE, ex_map_ext},
};

fcl_status ex_layer(fcl_exporter *x, int i)
{
    const fcl_layer *L = &x->m->layers[i];
    for (size_t k = 0; k < sizeof mappings / sizeof mappings[0]; k++)
        if (mappings[k].kind == L->kind) return mappings[k].map(x, i);
    return FCL_ERR(x->err, FCL_ERR_UNSUPPORTED,
                   "export: layer %d '%s' (%s, %s line %d) has no ONNX mapping: this layer kind cannot be exported yet", i,
                   x->value[i], fcl_layer_kind_name(L->kind), x->m->name, L->line);
}
