/* facecl/dist.h: data-parallel training over MPI: ranks, collectives, gradient buckets, synchronised batch norm. */
#ifndef FACECL_DIST_H
#define FACECL_DIST_H

#include <stddef.h>
#include <stdint.h>
#include "context.h"
#include "net.h"
#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One process per device, Horovod-style: every rank holds the whole model, reads its shard of
 * each global batch, and the gradients are averaged with MPI_Allreduce before the (identical)
 * optimizer step. An fcl_dist holds the communicator (a duplicate of MPI_COMM_WORLD) and the
 * rank's place in it; the library keeps no global state of its own (MPI itself is initialised
 * by fcl_dist_create when the caller has not done so, and finalised by fcl_dist_destroy then).
 * A NULL fcl_dist everywhere below means one process: size 1, collectives are no-ops. */
typedef struct fcl_dist fcl_dist;

/* 1 when facecl was built with MPI (CMake found it). */
int fcl_dist_compiled(void);
/* 1 when the environment of an MPI launcher is present (mpirun / mpiexec / srun set
 * OMPI_COMM_WORLD_SIZE, PMI_SIZE or PMIX_RANK): the caller should then create an fcl_dist. */
int fcl_dist_launched(void);

/* Initialises MPI (thread level FUNNELED) if needed and joins the world. The local rank (for
 * picking a device) comes from a MPI_Comm_split_type(SHARED) communicator. Without MPI in the
 * build: FCL_ERR_UNSUPPORTED. */
fcl_status fcl_dist_create(fcl_dist **out, fcl_error *err);
void fcl_dist_destroy(fcl_dist *d);

int fcl_dist_rank(const fcl_dist *d);        /* 0 .. size-1 (0 for NULL) */
int fcl_dist_size(const fcl_dist *d);        /* 1 for NULL */
int fcl_dist_local_rank(const fcl_dist *d);  /* rank among the processes of this node */
int fcl_dist_local_size(const fcl_dist *d);
const char *fcl_dist_host(const fcl_dist *d); /* MPI processor name ("" for NULL) */

/* Collectives (every rank must call them in the same order). In place; every rank gets the
 * result. */
fcl_status fcl_dist_sum_d(fcl_dist *d, double *v, size_t n, fcl_error *err);
fcl_status fcl_dist_sum_f(fcl_dist *d, float *v, size_t n, fcl_error *err);
fcl_status fcl_dist_max_i(fcl_dist *d, int *v, size_t n, fcl_error *err);
fcl_status fcl_dist_barrier(fcl_dist *d, fcl_error *err);
fcl_status fcl_dist_bcast(fcl_dist *d, void *buf, size_t bytes, int root, fcl_error *err);
/* Concatenates each rank's `mine` (n_mine elements, may differ between ranks) in rank order
 * into `all` (capacity total elements; every rank gets it). */
fcl_status fcl_dist_allgather_d(fcl_dist *d, const double *mine, size_t n_mine, double *all, size_t total,
                                fcl_error *err);
fcl_status fcl_dist_allgather_f(fcl_dist *d, const float *mine, size_t n_mine, float *all, size_t total,
                                fcl_error *err);
fcl_status fcl_dist_allgather_i(fcl_dist *d, const int *mine, size_t n_mine, int *all, size_t total,
                                fcl_error *err);

/* Device tensors: the element-wise mean over ranks (through the host), and rank `root`'s values
 * on every rank. Errors in fcl_ctx_error(ctx). */
fcl_status fcl_dist_average_tensor(fcl_ctx *ctx, fcl_dist *d, fcl_tensor *t);
fcl_status fcl_dist_bcast_tensor(fcl_ctx *ctx, fcl_dist *d, fcl_tensor *t, int root);

/* The shard [*lo, *hi) of n items that rank r of `size` takes: contiguous, sizes differ by at most 1. */
void fcl_dist_shard(size_t n, int r, int size, size_t *lo, size_t *hi);

/* ---- a data-parallel network ------------------------------------------------------------------
 * Attaches to a net through its hooks (fcl_net_set_hooks):
 *  - gradient buckets of about bucket_bytes, filled from the last layer backwards; when the
 *    backward of every layer of a bucket has been enqueued, a non-blocking read of the bucket is
 *    enqueued and, as soon as it completes, MPI_Iallreduce starts on it, while the device works
 *    on earlier layers (overlap = 0: all buckets are read and reduced after the backward);
 *  - sync_bn: training batch norm uses the mean / variance of the global batch (sums allreduced
 *    in forward) and the matching backward terms (sum(dy), sum(dy * xhat) allreduced).
 * With one process (d NULL or size 1) there are no buckets, and sync_bn still routes batch norm
 * through the same code, so that run computes what N ranks compute up to summation order.
 * The loss must be the mean over the rank's own rows: averaging the gradients then gives the
 * gradient of the mean over the global batch. */
typedef struct fcl_ddp fcl_ddp;

typedef struct fcl_ddp_opts {
    size_t bucket_bytes;   /* 0: 4 MiB */
    int overlap;           /* 1: start each bucket's allreduce during the backward */
    int sync_bn;
} fcl_ddp_opts;

typedef struct fcl_ddp_stats {
    int64_t steps;
    int buckets;
    size_t bytes_per_step;      /* gradient bytes each rank sends into the allreduce per step */
    double wait_s;              /* host time in fcl_ddp_finish: the allreduce not hidden by the backward */
    double reduce_s;            /* time between starting and seeing the end of each bucket's allreduce */
    double sync_bn_s;           /* time in sync-BN collectives (forward and backward) */
} fcl_ddp_stats;

fcl_status fcl_ddp_create(fcl_ctx *ctx, fcl_dist *d, fcl_net *net, const fcl_ddp_opts *opts, fcl_ddp **out);
void fcl_ddp_destroy(fcl_ddp *p);
/* After fcl_net_backward: waits for every bucket, and leaves the rank-averaged gradients in the
 * net's gradient buffer. */
fcl_status fcl_ddp_finish(fcl_ddp *p);
void fcl_ddp_get_stats(const fcl_ddp *p, fcl_ddp_stats *out);
void fcl_ddp_reset_stats(fcl_ddp *p);
/* Averages the BN running statistics over ranks (before evaluation and checkpoints: with
 * per-rank BN they drift apart; the mean of the running means is the running mean of the global
 * batch means, since the update is linear). */
fcl_status fcl_ddp_average_buffers(fcl_ddp *p);
/* Rank 0's parameters and buffers on every rank (after initialisation or loading). */
fcl_status fcl_ddp_broadcast_state(fcl_ddp *p);

#ifdef __cplusplus
}
#endif
#endif
