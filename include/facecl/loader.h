/* facecl/loader.h: threaded batch loader: decode + augment ahead of training, reproducible, with a P x K sampler. */
#ifndef FACECL_LOADER_H
#define FACECL_LOADER_H

#include <stddef.h>
#include <stdint.h>
#include "augment.h"
#include "dataset.h"
#include "image.h"
#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Produces item `index` as an image with `channels` channels (1 or 3) and its label. Called
 * from several worker threads at once: must be thread-safe. *out is allocated by the callee
 * (fcl_image_alloc) and freed by the loader. fcl_synth_source_get (facecl/synth.h) fits. */
typedef fcl_status (*fcl_loader_get_fn)(void *user, size_t index, int channels, fcl_image *out,
                                        int *label, fcl_error *err);

/* Where images come from: a callback over items 0..count-1. `labels` (count entries, may be
 * NULL except for the P x K sampler) gives every item's label without producing the image. */
typedef struct fcl_loader_source {
    size_t count;
    fcl_loader_get_fn get;
    void *user;
    const int *labels;
} fcl_loader_source;

/* A source over a dataset (decoding with fcl_dataset_load). The dataset must outlive the loader. */
fcl_loader_source fcl_loader_source_dataset(const fcl_dataset *ds);

typedef enum fcl_sampler {
    FCL_SAMPLER_SEQUENTIAL = 0,  /* items in order */
    FCL_SAMPLER_SHUFFLE = 1,     /* a new permutation every epoch */
    FCL_SAMPLER_PK = 2           /* batches of P identities x K images each */
} fcl_sampler;

typedef struct fcl_loader_opts {
    int batch_size;        /* images per batch (ignored by the P x K sampler: P * K) */
    int channels, height, width; /* every output image: decoded with `channels`, then augmented,
                                    then resized to height x width if it is not already */
    int workers;           /* worker threads (>= 1) */
    int prefetch;          /* batches prepared ahead of the consumer (>= 1; default 2 if 0) */
    uint64_t seed;
    fcl_sampler sampler;
    int drop_last;         /* sequential/shuffle: leave out the last, smaller batch */
    int skip_bad;          /* an item that fails is replaced (see fcl_loader_next) and recorded
                              as a warning instead of failing the batch */
    const fcl_aug_pipeline *aug; /* copied at create; NULL: no augmentation */
    /* P x K sampler. Each epoch shuffles the identities and walks them P at a time, giving
     * floor(eligible / P) batches; each identity contributes K of its images drawn without
     * replacement. Identities with fewer than K images are sampled with replacement when
     * pk_replace is set, otherwise they are skipped (never appear). Identities with no image
     * never appear. At least P eligible identities are required. */
    int pk_p, pk_k;
    int pk_replace;
    /* Data-parallel shards (shard_count > 1): the epoch's global batches (batch_size or P x K
     * items, same order as without sharding) are cut into shard_count equal contiguous parts and
     * this loader produces part shard_index of each; augmentation stays keyed by the global
     * position, so the union over shards is exactly the unsharded batch. Needs full batches
     * (drop_last, or P x K) divisible by shard_count. */
    int shard_index, shard_count;
} fcl_loader_opts;

/* One batch, NCHW floats ready for upload. Owned by the loader: valid until the next
 * fcl_loader_next / fcl_loader_start_epoch / fcl_loader_destroy. */
typedef struct fcl_batch {
    int n, c, h, w;        /* n <= batch size (only the last batch may be smaller) */
    float *data;           /* n * c * h * w */
    int *labels;           /* n */
    size_t *indices;       /* n source indices */
    int epoch;
    size_t batch_index;    /* position within the epoch */
} fcl_batch;

typedef struct fcl_loader fcl_loader;

/* Validates the options, copies them and starts the worker threads (idle until an epoch
 * starts). The source must outlive the loader. */
fcl_status fcl_loader_create(fcl_loader **out, const fcl_loader_source *src, const fcl_loader_opts *opts,
                             fcl_error *err);

/* Begins epoch `epoch` (any non-negative number, in any order): the item order and every
 * random augmentation choice depend only on (seed, epoch, position in the epoch), never on
 * thread timing, so the same epoch gives bit-identical batches whatever `workers` is. Work of
 * an unfinished previous epoch is abandoned. */
fcl_status fcl_loader_start_epoch(fcl_loader *l, int epoch, fcl_error *err);

/* Waits for the next batch of the epoch, in order. *batch is NULL at the end of the epoch
 * (FCL_OK). A failing item (bad file, callback error) fails its batch with the item's status
 * and message, naming the index; the epoch is then over. With skip_bad the item is instead
 * replaced by the next index (the next image of the same identity for P x K) that loads, and
 * a warning is recorded. */
fcl_status fcl_loader_next(fcl_loader *l, const fcl_batch **batch, fcl_error *err);

/* Batches in an epoch of the current options (global batches when sharded). */
size_t fcl_loader_batches_per_epoch(const fcl_loader *l);

/* Warnings recorded so far (skip_bad), in the order the batches were consumed. The list is
 * owned by the loader; fcl_loader_take_warnings moves them to the caller's list. */
size_t fcl_loader_warning_count(const fcl_loader *l);
fcl_status fcl_loader_take_warnings(fcl_loader *l, fcl_strlist *dst, fcl_error *err);

/* Stops the workers (they finish the item at hand; nothing else is waited for) and frees
 * everything. Safe mid-epoch and with NULL. */
void fcl_loader_destroy(fcl_loader *l);

#ifdef __cplusplus
}
#endif
#endif
