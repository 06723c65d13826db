/* host/nn/net_internal.h: the network engine's state and helpers, shared by net.c and net_fuse.c (internal). */
#ifndef FACECL_NN_NET_INTERNAL_H
#define FACECL_NN_NET_INTERNAL_H

#include <stdint.h>

#include "facecl/net.h"
#include "facecl/ops.h"
#include "nn/net_layers_ext.h"

typedef struct netf_plan netf_plan; /* net_fuse.c */

/* Per layer: its saved tensors and where its parameters live. */
typedef struct layer_state {
    int weight, bias, rmean, rvar, nbt, gain; /* entry indices, -1 when absent */
    fcl_tensor save_mean, save_invstd;     /* BN: batch statistics of the last forward [C] */
    fcl_tensor idx;                        /* MAXPOOL: argmax of the last forward */
    uint64_t dropout_seed;
    int bn_training;                       /* BN mode of the last forward */
    netx_state ext;                        /* issue-12 kinds (net_layers_ext.c) */
} layer_state;

struct fcl_net {
    fcl_ctx *ctx;
    const fcl_model *model;
    int max_batch, freeze, n;              /* n: batch of the last forward */
    int trained;                           /* last forward was a training one */

    fcl_tensor params, grads, buffers;
    size_t n_params, n_buffers;
    int n_entries;
    fcl_net_entry *entries;
    int64_t *nbt;                          /* per entry: num_batches_tracked (host) */
    layer_state *ls;

    fcl_tensor *act, *dact;                /* per layer output and its gradient */
    fcl_tensor input_view, dinput;
    int want_dinput;
    /* The plan, computed once: */
    int *last_fwd_use;                     /* last layer reading each output in the forward */
    int *keep_for_bwd;                     /* a backward (its own or a consumer's) reads it */
    int *last_bwd_use;                     /* smallest layer index whose backward reads it */
    fcl_net_hooks hooks;                   /* data-parallel training (facecl/dist.h) */
    netf_plan *fuse;                       /* fused / folded layer groups (net_fuse.c); NULL: none */
};

/* An activation [n, c, h, w] for the current batch n, from the context pool. */
fcl_status netp_alloc_act(fcl_net *net, fcl_tensor *t, int c, int h, int w);
/* The output of layer j (j < 0: the network input). */
const fcl_tensor *netp_in(fcl_net *net, int j);
/* The gradient buffer of input j (allocated and zeroed on first use); *out NULL when not needed. */
fcl_status netp_din(fcl_net *net, int j, fcl_tensor **out);
/* The same, allocated WITHOUT zeroing when it does not exist yet: then *first = 1 and the caller
 * must write every element (it is the gradient's first contribution); else *first = 0 and the
 * caller accumulates as with netp_din. */
fcl_status netp_din_first(fcl_net *net, int j, fcl_tensor **out, int *first);
/* Views of state_dict entry e in the parameter / buffer memory, and of its gradient. */
fcl_status netp_view(fcl_net *net, int e, fcl_tensor *out);
fcl_status netp_grad(fcl_net *net, int e, fcl_tensor *out);
/* conv2d parameters of conv layer L for a batch of n. */
void netp_conv_params(const fcl_layer *L, int n, fcl_conv2d_params *p);

#endif
