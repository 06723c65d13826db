/* host/nn/model_layers_ext.c: model-file layer types for issue 12's building blocks (drop path): keys, shapes, state_dict entries, FLOPs. */
#include <string.h>

#include "nn/model_internal.h"

int mp_is_ext_type(const char *type)
{
    return !strcmp(type, "drop_path");
}

fcl_status mp_build_ext(const mp_kvs *k, fcl_layer *L)
{
    double elems = (double)L->in_c * L->in_h * L->in_w, v;
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
    return mp_fail(k->x, k->line, FCL_ERR_INTERNAL, "layer type '%s' has no builder", k->type);
}
