/* facecl/net.h: a network instantiated on a device from a model graph: parameters, forward, backward. */
#ifndef FACECL_NET_H
#define FACECL_NET_H

#include "context.h"
#include "model.h"
#include "optim.h"
#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A network owns (all f32, on the context's device):
 *   params   [P]  every trainable parameter (state_dict order), one buffer
 *   grads    [P]  their gradients, one buffer (zero_grad is one fill)
 *   buffers  [B]  BN running means and variances, one buffer
 * plus a host int64 num_batches_tracked per BN layer. Activations come from the context pool:
 * a layer output is released as soon as no later forward layer reads it and no backward needs
 * it (the plan is computed once at creation), and activation gradients live only from their
 * first contribution to the backward of their layer, so a training step in steady state makes
 * no new device buffers. In inference mode nothing is kept for a backward. */
typedef struct fcl_net fcl_net;

typedef struct fcl_net_opts {
    int max_batch;     /* largest batch forward() will see (> 0) */
    int freeze;        /* layers [0, freeze) are frozen: no gradient computed, never updated,
                          BN in eval mode (running stats used, not updated). 0: none */
} fcl_net_opts;

/* Builds the device network for `model` (which must outlive the net). Parameters start as
 * torchvision initialises them (fcl_net_init); the seed comes from the context RNG. */
fcl_status fcl_net_create(fcl_ctx *ctx, const fcl_model *model, const fcl_net_opts *opts, fcl_net **out);
void fcl_net_destroy(fcl_net *net);

/* Re-initialises every parameter and buffer from `seed`: conv weights kaiming-normal (fan_out,
 * relu), linear weights and biases uniform(+-1/sqrt(fan_in)), BN gamma 1 / beta 0 / running
 * mean 0 / var 1, PReLU slopes their init, num_batches_tracked 0. */
fcl_status fcl_net_init(fcl_net *net, uint64_t seed);

const fcl_model *fcl_net_model(const fcl_net *net);
fcl_tensor *fcl_net_params(fcl_net *net);
fcl_tensor *fcl_net_grads(fcl_net *net);
fcl_tensor *fcl_net_buffers(fcl_net *net);
int fcl_net_freeze(const fcl_net *net);
/* Changes the frozen prefix (e.g. unfreeze after warm-up). */
fcl_status fcl_net_set_freeze(fcl_net *net, int freeze);

/* ---- state_dict access --------------------------------------------------------------------- */
/* Where the state_dict entry `i` (0 .. model->n_tensors-1, model order) lives. */
typedef struct fcl_net_entry {
    const fcl_param_info *info;
    int layer;
    int where;          /* 0: params buffer, 1: buffers buffer, 2: host int64 */
    size_t offset;      /* elements into params / buffers */
    int frozen;         /* its layer is frozen */
} fcl_net_entry;
int fcl_net_entry_count(const fcl_net *net);
const fcl_net_entry *fcl_net_entry_at(const fcl_net *net, int i);
/* A view of a device-resident entry (where 0 or 1). */
fcl_status fcl_net_entry_view(fcl_net *net, int i, fcl_tensor *out);
/* Host copies of an entry (numel values); int64 entries pass through as doubles. */
fcl_status fcl_net_entry_get(fcl_net *net, int i, float *host);
fcl_status fcl_net_entry_set(fcl_net *net, int i, const float *host);
int64_t fcl_net_num_batches(const fcl_net *net, int i);
void fcl_net_set_num_batches(fcl_net *net, int i, int64_t v);

/* Optimizer parameter groups over the params buffer, skipping frozen layers: group 0 the
 * tensors that take weight decay (conv / linear weights), group 1 the rest (BN, biases, PReLU).
 * ranges are malloc'd (free both). */
fcl_status fcl_net_param_ranges(const fcl_net *net, fcl_param_range **decay, size_t *n_decay,
                                fcl_param_range **no_decay, size_t *n_no_decay);

/* ---- running ------------------------------------------------------------------------------ */
/* x [n, C, H, W] with n <= max_batch and the model's input shape. training: batch statistics,
 * dropout on, everything backward needs is kept; otherwise inference. */
fcl_status fcl_net_forward(fcl_net *net, const fcl_tensor *x, int training);
/* The last forward's network output [n, classes (or embedding), 1, 1] and embedding
 * [n, D, 1, 1] (the same tensor when the model has no classifier). Valid until the next
 * forward. */
const fcl_tensor *fcl_net_output(const fcl_net *net);
const fcl_tensor *fcl_net_embedding(const fcl_net *net);

/* Fused layer groups (host/nn/net_fuse.h): in inference a conv / linear followed by a BN (and a
 * ReLU) runs as one conv with the BN folded in (a cached copy, refolded after anything that may
 * change parameters or running statistics: fcl_net_params / _buffers / _entry_view / _entry_set /
 * _init, a training forward); BN + [add +] ReLU run as one pass in training and inference. On by
 * default ($FACECL_NO_FUSE=1 at creation: off); results equal the unfused ones up to rounding. */
void fcl_net_set_fusion(fcl_net *net, int on);

/* Backward of the last training forward. d_output (may be NULL) is the gradient of the loss
 * with respect to the output, d_embedding (may be NULL) with respect to the embedding; both
 * shaped like what they are gradients of. Parameter gradients ACCUMULATE into grads. */
fcl_status fcl_net_backward(fcl_net *net, const fcl_tensor *d_output, const fcl_tensor *d_embedding);

/* The gradient with respect to the network input, when asked for before the forward
 * (tests: finite differences through a whole network). */
void fcl_net_want_input_grad(fcl_net *net, int on);
const fcl_tensor *fcl_net_input_grad(const fcl_net *net);

/* ---- hooks (data-parallel training, facecl/dist.h) ----------------------------------------------
 * after_backward(layer): called after layer `layer`'s backward has been ENQUEUED, in backward
 *   order, for every layer from the last down to the first unfrozen one (also for layers the
 *   gradient never reached: their parameter gradients stay zero); once the queue reaches that
 *   point the layer's parameter gradients are final.
 * bn_forward / bn_backward: replace fcl_bn2d_fwd / fcl_bn2d_bwd for batch norm layers in
 *   training mode (same arguments); NULL: the plain ops. */
struct fcl_bn2d_params; /* facecl/ops_bn.h */
typedef struct fcl_net_hooks {
    void *user;
    fcl_status (*after_backward)(void *user, int layer);
    fcl_status (*bn_forward)(void *user, int layer, fcl_tensor *y, fcl_tensor *save_mean, fcl_tensor *save_invstd,
                             fcl_tensor *running_mean, fcl_tensor *running_var, const fcl_tensor *x,
                             const fcl_tensor *gamma, const fcl_tensor *beta, const struct fcl_bn2d_params *p);
    fcl_status (*bn_backward)(void *user, int layer, fcl_tensor *dx, fcl_tensor *dgamma, fcl_tensor *dbeta,
                              const fcl_tensor *dy, const fcl_tensor *x, const fcl_tensor *gamma,
                              const fcl_tensor *save_mean, const fcl_tensor *save_invstd,
                              const struct fcl_bn2d_params *p);
} fcl_net_hooks;
/* Installs hooks (copied; NULL removes them). */
void fcl_net_set_hooks(fcl_net *net, const fcl_net_hooks *hooks);

#ifdef __cplusplus
}
#endif
#endif
