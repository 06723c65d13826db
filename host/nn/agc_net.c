/* host/nn/agc_net.c: adaptive gradient clipping over a network's parameters (timm's train.py --clip-mode agc). */
#include <stdlib.h>

#include "facecl/model.h"
#include "facecl/net.h"
#include "facecl/optim.h"

fcl_status fcl_net_agc_create(fcl_ctx *ctx, struct fcl_net *net, double clip_factor, double eps,
                              int exclude_classifier, fcl_agc **out)
{
    int n = fcl_net_entry_count(net), m = 0;
    int head = exclude_classifier ? fcl_net_model(net)->classifier_layer : -1;
    fcl_agc_tensor *ts = calloc(n > 0 ? (size_t)n : 1, sizeof *ts);
    if (!ts) return FCL_ERR(fcl_ctx_error(ctx), FCL_ERR_NOMEM, "fcl_net_agc_create: out of memory");
    /* the trainable, updated tensors (model.parameters() order), without the classifier's */
    for (int i = 0; i < n; i++) {
        const fcl_net_entry *e = fcl_net_entry_at(net, i);
        if (e->where != 0 || !e->info->trainable || e->info->fixed || e->frozen || (head >= 0 && e->layer == head))
            continue;
        ts[m].offset = e->offset;
        ts[m].numel = (size_t)e->info->numel;
        /* timm's unitwise_norm: one unit per row of dim 0 for ndim >= 2, else the whole tensor */
        ts[m].units = e->info->ndim >= 2 ? (size_t)e->info->shape[0] : 1;
        m++;
    }
    fcl_status st = fcl_agc_create(ctx, out, fcl_tensor_numel(fcl_net_params(net)), ts, (size_t)m, clip_factor, eps);
    free(ts);
    return st;
}
