/* host/nn/model_layers_ext.c: model-file layer types for issue 12's building blocks (drop path, LayerNorm2d, learned tensors such as ConvNeXt's layer scale, ResNeSt's radix sum and r-SoftMax, NFNet's constant scale and weight-standardised conv): keys, shapes, state_dict entries, FLOPs. */
#include <math.h>
#include <string.h>

#include "nn/model_internal.h"

int mp_is_ext_type(const char *type)
{
    return !strcmp(type, "drop_path") || !strcmp(type, "layernorm2d") || !strcmp(type, "param") ||
           !strcmp(type, "radix_sum") || !strcmp(type, "rsoftmax") || !strcmp(type, "scale");
}

/* conv ... ws=1 [gamma=1 ws_eps=1e-5 gain_init=1]: timm's ScaledStdConv2d. The state_dict gets
 * "<name>.gain" [out, 1, 1, 1] after weight and bias (nn.Conv2d registers those first); the conv
 * runs with gain * gamma / sqrt(fan-in) * (w - mean) / sqrt(var + ws_eps) per output channel
 * (fcl_wstd_fwd). timm's NFNet configs pass eps 1e-5 and gamma = the activation's
 * variance-preserving constant (GELU 1.7015043497085571). */
fcl_status mp_conv_ws(const mp_kvs *k, fcl_layer *L)
{
    long ws;
    double gamma, eps, gain;
    fcl_status st;
    if ((st = mp_kv_int(k, "ws", 0, 0, 0, 1, &ws)) || (st = mp_kv_num(k, "gamma", 1.0, 0, 1e6, 0, &gamma)) ||
        (st = mp_kv_num(k, "ws_eps", 1e-5, 0, 1, 0, &eps)) || (st = mp_kv_num(k, "gain_init", 1.0, -1e6, 1e6, 0, &gain)))
        return st;
    if (!ws) {
        if (mp_kv_find(k, "gamma") || mp_kv_find(k, "ws_eps") || mp_kv_find(k, "gain_init"))
            return mp_fail(k->x, k->line, FCL_ERR_FORMAT, "conv: gamma, ws_eps and gain_init need ws=1");
        return FCL_OK;
    }
    if (L->conv.linear_shape) return mp_fail(k->x, k->line, FCL_ERR_FORMAT, "conv: ws=1 and linear_shape=1 do not mix");
    if (eps <= 0 || gamma <= 0) return mp_fail(k->x, k->line, FCL_ERR_FORMAT, "conv: gamma and ws_eps must be > 0");
    double fan_in = (double)(L->conv.cin / L->conv.groups) * L->conv.kh * L->conv.kw;
    L->conv.ws = 1;
    L->conv.ws_scale = (float)(gamma / sqrt(fan_in));
    L->conv.ws_eps = (float)eps;
    L->conv.gain_init = (float)gain;
    return mp_add_param(k->x, k->line, L, "gain", FCL_PARAM_GAIN, 4, L->conv.cout, 1, 1, 1, 1, 0);
}

fcl_status mp_build_ext(const mp_kvs *k, fcl_layer *L)
{
    double elems = (double)L->in_c * L->in_h * L->in_w, v;
    int c = L->in_c;
    fcl_status st;
    L->out_c = L->in_c;
    L->out_h = L->in_h;
    L->out_w = L->in_w;
    if (!strcmp(k->type, "drop_path")) {
        /* torchvision StochasticDepth(p, "row") / timm DropPath: one keep/drop per image */
        if ((st = mp_kv_num(k, "p", 0.0, 0, 1, 1, &v))) return st;
        L->kind = FCL_LAYER_DROP_PATH;
        L->ext.p = (float)v;
        L->flops = elems;   /* one scale per element when training */
        return FCL_OK;
    }
    if (!strcmp(k->type, "radix_sum") || !strcmp(k->type, "rsoftmax")) {
        /* ResNeSt's SplitAttn: radix_sum from=@x sums the R splits of x [R*C,H,W] (x_gap);
         * rsoftmax turns fc2's [R*C,1,1] into the split attention; radix_sum from=@x,@attn is
         * the attention-weighted sum (the block's output) */
        long r, card = 1;
        if ((st = mp_kv_int(k, "radix", 0, 1, 1, 64, &r)) ||
            (k->type[0] == 'r' && k->type[1] == 's' && (st = mp_kv_int(k, "cardinality", 1, 0, 1, 1 << 20, &card))))
            return st;
        L->ext.radix = (int)r;
        L->ext.cardinality = (int)card;
        if (!strcmp(k->type, "rsoftmax")) {
            if (L->in_h != 1 || L->in_w != 1 || L->in_c % (r * card))
                return mp_fail(k->x, k->line, FCL_ERR_SHAPE,
                               "rsoftmax: the input must be [R*cardinality*k,1,1], got [%d,%d,%d] for radix %ld cardinality %ld",
                               L->in_c, L->in_h, L->in_w, r, card);
            L->kind = FCL_LAYER_RSOFTMAX;
            L->flops = 3 * elems;   /* exp, sum, divide */
            return FCL_OK;
        }
        if (L->in_c % r)
            return mp_fail(k->x, k->line, FCL_ERR_SHAPE, "radix_sum: %d channels do not split into radix %ld", L->in_c, r);
        if (L->n_inputs == 2) {
            int ac, ah, aw;
            mp_layer_shape(k->x, L->inputs[1], &ac, &ah, &aw);
            if (ac != L->in_c || ah != 1 || aw != 1)
                return mp_fail(k->x, k->line, FCL_ERR_SHAPE, "radix_sum: the attention must be [%d,1,1], got [%d,%d,%d]",
                               L->in_c, ac, ah, aw);
        }
        L->kind = FCL_LAYER_RADIX_SUM;
        L->out_c = L->in_c / (int)r;
        L->flops = elems * (L->n_inputs == 2 ? 2 : 1);
        return FCL_OK;
    }
    if (!strcmp(k->type, "scale")) {
        /* y = x * by (NFNet's block: act(x) * beta, attn_gain * se(out), out * alpha) */
        if ((st = mp_kv_num(k, "by", 0, -1e30, 1e30, 0, &v))) return st;
        if (!mp_kv_find(k, "by")) return mp_fail(k->x, k->line, FCL_ERR_FORMAT, "scale: missing required key 'by'");
        L->kind = FCL_LAYER_SCALE;
        L->ext.scale = (float)v;
        L->flops = elems;
        return FCL_OK;
    }
    if (!strcmp(k->type, "layernorm2d")) {
        /* torchvision LayerNorm2d = nn.LayerNorm(C) over each pixel's channels; weight, bias [C] */
        if ((st = mp_kv_num(k, "eps", 1e-6, 0, 1, 0, &v))) return st;
        if (v <= 0) return mp_fail(k->x, k->line, FCL_ERR_FORMAT, "bad value for layernorm2d key 'eps': must be > 0");
        L->kind = FCL_LAYER_LAYERNORM;
        L->ext.eps = (float)v;
        L->flops = 2 * elems;   /* as batch norm: the normalise-and-affine per element */
        if ((st = mp_add_param(k->x, k->line, L, "weight", FCL_PARAM_WEIGHT, 1, c, 0, 0, 0, 1, 0)))
            return st;
        return mp_add_param(k->x, k->line, L, "bias", FCL_PARAM_BIAS, 1, c, 0, 0, 0, 1, 0);
    }
    /* param NAME shape=C: ConvNeXt's layer scale, a parameter [C, 1, 1] named as the layer
     * ("features.1.0.layer_scale"); the line goes where torch registers it (a block's own
     * parameters come before its submodules') and `channel_mul from=@x,@NAME` applies it. Like
     * BN and biases it takes no weight decay in facecl's groups (only conv / linear weights do). */
    long shape;
    if ((st = mp_kv_int(k, "shape", 0, 1, 1, 1 << 24, &shape)) || (st = mp_kv_num(k, "init", 1e-6, -1e6, 1e6, 0, &v)))
        return st;
    L->kind = FCL_LAYER_PARAM;
    L->ext.init = (float)v;
    L->out_c = (int)shape;
    L->out_h = L->out_w = 1;
    L->flops = 0;
    return mp_add_param(k->x, k->line, L, NULL, FCL_PARAM_WEIGHT, 3, (int)shape, 1, 1, 0, 1, 0);
}
