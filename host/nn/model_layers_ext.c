/* host/nn/model_layers_ext.c: model-file layer types for issue 12's building blocks (drop path, LayerNorm2d, learned tensors such as ConvNeXt's layer scale): keys, shapes, state_dict entries, FLOPs. */
#include <string.h>

#include "nn/model_internal.h"

int mp_is_ext_type(const char *type)
{
    return !strcmp(type, "drop_path") || !strcmp(type, "layernorm2d") || !strcmp(type, "param");
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
