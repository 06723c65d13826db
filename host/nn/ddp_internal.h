/* host/nn/ddp_internal.h: the data-parallel network's private layout, shared by ddp.c and sync_bn.c. */
#ifndef FACECL_NN_DDP_INTERNAL_H
#define FACECL_NN_DDP_INTERNAL_H

#include "facecl/dist.h"
#include "facecl/ops_bn.h"

#ifdef FACECL_HAVE_MPI
#include <mpi.h>
/* The communicator of an fcl_dist reserved for gradient buckets (dist.c). */
MPI_Comm fcl_dist_grad_comm_of(const fcl_dist *d);
#endif

struct bucket;

struct fcl_ddp {
    fcl_ctx *ctx;
    fcl_dist *d;
    fcl_net *net;
    fcl_ddp_opts o;
    int *layer_bucket;           /* per layer: the bucket holding its parameters, -1 none */
    struct bucket *b;
    int nb;
    fcl_ddp_stats stats;
    /* sync BN scratch: [C] device vectors and host staging (largest C seen) */
    fcl_tensor bn_a, bn_b, bn_c, bn_d;
    double *bn_host;
    size_t bn_cap;
};

double fcl_ddp_now(void);

/* fcl_net_hooks for synchronised batch norm (user is the fcl_ddp). */
fcl_status fcl_sync_bn_forward(void *user, int layer, fcl_tensor *y, fcl_tensor *save_mean, fcl_tensor *save_invstd,
                               fcl_tensor *running_mean, fcl_tensor *running_var, const fcl_tensor *x,
                               const fcl_tensor *gamma, const fcl_tensor *beta, const fcl_bn2d_params *p);
fcl_status fcl_sync_bn_backward(void *user, int layer, fcl_tensor *dx, fcl_tensor *dgamma, fcl_tensor *dbeta,
                                const fcl_tensor *dy, const fcl_tensor *x, const fcl_tensor *gamma,
                                const fcl_tensor *save_mean, const fcl_tensor *save_invstd, const fcl_bn2d_params *p);
void fcl_sync_bn_free(fcl_ddp *p);

#endif
