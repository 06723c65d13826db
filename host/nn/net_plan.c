/* host/nn/net_plan.c: the network's memory plan without a device: liveness of layer outputs (net.c uses it) and the activation peak. */
#include <stdlib.h>

#include "facecl/ops.h"
#include "nn/net_layers_ext.h"
#include "nn/net_plan.h"

void fcl_net_liveness(const fcl_model *m, int freeze, int *last_fwd_use, int *keep_for_bwd, int *last_bwd_use)
{
    for (int i = 0; i < m->n_layers; i++) {
        last_fwd_use[i] = i;
        keep_for_bwd[i] = 0;
        last_bwd_use[i] = m->n_layers;
    }
    for (int i = 0; i < m->n_layers; i++) {
        const fcl_layer *L = &m->layers[i];
        int reads_inputs = 0, reads_output = 0;
        switch (L->kind) {
        case FCL_LAYER_CONV: case FCL_LAYER_BN: case FCL_LAYER_LINEAR: case FCL_LAYER_PRELU:
        case FCL_LAYER_CHANNEL_MUL:
            reads_inputs = 1;
            break;
        case FCL_LAYER_ACT:
            if (fcl_act_saves_output(L->act.kind)) reads_output = 1;
            else reads_inputs = 1;
            break;
        default:
            if (netx_handles(L->kind)) netx_reads(L, &reads_inputs, &reads_output);
            break;
        }
        for (int k = 0; k < L->n_inputs; k++) {
            int j = L->inputs[k];
            if (j < 0) continue;
            if (i > last_fwd_use[j]) last_fwd_use[j] = i;
            if (reads_inputs && i >= freeze) {
                keep_for_bwd[j] = 1;
                if (i < last_bwd_use[j]) last_bwd_use[j] = i;
            }
        }
        if (reads_output && i >= freeze) {
            keep_for_bwd[i] = 1;
            if (i < last_bwd_use[i]) last_bwd_use[i] = i;
        }
    }
}


static uint64_t out_bytes(const fcl_layer *L, int batch)
{
    return (uint64_t)batch * (uint64_t)L->out_c * (uint64_t)L->out_h * (uint64_t)L->out_w * sizeof(float);
}

int fcl_net_activation_peak(const fcl_model *m, int batch, int freeze, int training, uint64_t *bytes)
{
    int n = m->n_layers;
    int *fwd = calloc((size_t)n + 1, sizeof(int)), *keep = calloc((size_t)n + 1, sizeof(int)),
        *bwd = calloc((size_t)n + 1, sizeof(int));
    if (!fwd || !keep || !bwd) {
        free(fwd), free(keep), free(bwd);
        return -1;
    }
    fcl_net_liveness(m, freeze, fwd, keep, bwd);
    uint64_t live = 0, peak = 0, largest = 0;
    for (int i = 0; i < n; i++) {
        const fcl_layer *L = &m->layers[i];
        uint64_t b = out_bytes(L, batch);
        live += b;
        if (training && L->kind == FCL_LAYER_MAXPOOL) live += b; /* the argmax indices kept for backward */
        if (b > largest) largest = b;
        if (live > peak) peak = live;
        for (int k = 0; k < L->n_inputs; k++) { /* what fcl_net_forward releases after layer i */
            int j = L->inputs[k];
            if (j < 0 || fwd[j] != i || j == m->output_layer || j == m->embedding_layer) continue;
            if (training && keep[j]) continue;
            live -= out_bytes(&m->layers[j], batch);
            fwd[j] = -1; /* released once even when read twice by layer i */
        }
    }
    /* backward: the gradient of a layer's output and of its input(s) are alive together, beside
     * what the forward kept (an upper bound: kept outputs are released as the backward passes) */
    if (training && live + 3 * largest > peak) peak = live + 3 * largest;
    free(fwd), free(keep), free(bwd);
    *bytes = peak;
    return 0;
}
