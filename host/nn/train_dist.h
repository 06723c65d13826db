/* host/nn/train_dist.h: what the training loop needs from data-parallel ranks: slices, gathers, split evaluation. */
#ifndef FACECL_NN_TRAIN_DIST_H
#define FACECL_NN_TRAIN_DIST_H

#include "facecl/dist.h"
#include "facecl/evaluate.h"
#include "facecl/loader.h"

/* A loader source over items [lo, hi) of `base` (an evaluation split across ranks). */
typedef struct fcl_source_slice {
    fcl_loader_source base;
    size_t lo;
} fcl_source_slice;
fcl_loader_source fcl_source_slice_make(fcl_source_slice *s, const fcl_loader_source *base, size_t lo, size_t hi);

/* Every rank's rows of mine [n, D] (device) in rank order into all [total, D] (device), and
 * their labels into labels_all [total] (host; may be NULL). */
fcl_status fcl_dist_gather_rows(fcl_ctx *ctx, fcl_dist *d, const fcl_tensor *mine, size_t n, size_t D,
                                fcl_tensor *all, const int *labels, int *labels_all, size_t total);

/* fcl_embed_pairs with the pairs split across ranks; every rank gets all the scores. */
fcl_status fcl_dist_embed_pairs(fcl_ctx *ctx, fcl_dist *d, fcl_net *net, const fcl_eval_input *in,
                                const fcl_pair_list *pl, fcl_eval_progress_fn progress, void *user, double **scores);

#endif
