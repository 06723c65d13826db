/* host/nn/net_plan.h: the network's memory plan without a device: liveness of layer outputs and the activation peak it gives. */
#ifndef FACECL_NN_NET_PLAN_H
#define FACECL_NN_NET_PLAN_H

#include <stdint.h>

#include "facecl/model.h"

/* For each layer i (arrays of m->n_layers): last_fwd_use[i], the last layer reading its output
 * in the forward; keep_for_bwd[i], whether a backward of a layer >= freeze reads it; and
 * last_bwd_use[i], the first such layer (n_layers when none). */
void fcl_net_liveness(const fcl_model *m, int freeze, int *last_fwd_use, int *keep_for_bwd, int *last_bwd_use);

/* Bytes of activations (and max-pool indices, and, when training, activation gradients) alive
 * at once in a step of `batch` images, following fcl_net_forward's releases. -1 out of memory. */
int fcl_net_activation_peak(const fcl_model *m, int batch, int freeze, int training, uint64_t *bytes);

#endif
