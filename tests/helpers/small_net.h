/* tests/helpers/small_net.h: the tests' usual context, small model, network and checkpoint (models/small.model, one channel), each failing the test on error. */
#ifndef FACECL_TESTS_SMALL_NET_H
#define FACECL_TESTS_SMALL_NET_H

#include <stdint.h>

#include <facecl/facecl.h>

/* A context on $FACECL_TEST_DEVICE with RNG seed `seed` (0: the context's default). */
fcl_ctx *fcl_test_ctx(uint64_t seed);
/* The same (seed 0) with its kernel and tuning cache in cache_dir. */
fcl_ctx *fcl_test_ctx_cache(const char *cache_dir);
/* models/small.model for 1 x size x size images with `classes` outputs (0: none) and an
 * embedding of `embedding` (0: the model's default). */
fcl_model *fcl_test_small_model(int size, int classes, int embedding);
/* The same for models/<name>.model, with its width multiplier (0: the model's default). */
fcl_model *fcl_test_model_file(const char *name, int size, int classes, int embedding, double width);
/* The model in `text` (named `name` in messages: "x.model") with options o (NULL: defaults). */
fcl_model *fcl_test_parse_model(const char *text, const char *name, const fcl_model_opts *o);
/* The same with default options but `classes` outputs and an embedding of `embedding`. */
fcl_model *fcl_test_parse_model_head(const char *text, const char *name, int classes, int embedding);
/* A network of m for batches of up to max_batch, initialised with init_seed (< 0: as created). */
fcl_net *fcl_test_small_net(fcl_ctx *ctx, const fcl_model *m, int max_batch, int init_seed);
/* A classification batch on the device: images x [n, c, s, s], labels y [n] (as
 * fcl_labels_upload), the loss [1] and d(loss)/d(logits) [n, classes, 1, 1]. */
typedef struct fcl_test_batch {
    fcl_tensor x, y, loss, dlogits;
} fcl_test_batch;
/* Allocates b and uploads n images (c x s x s floats each) and their labels. */
void fcl_test_batch_upload(fcl_ctx *ctx, fcl_test_batch *b, const float *x, const int *labels, int n, int c, int s,
                           int classes);
void fcl_test_batch_release(fcl_ctx *ctx, fcl_test_batch *b);
/* A checkpoint of a fresh small network (batch 8, init_seed as above) with the metadata `facecl
 * train` writes: eval_aug norm=0.5:0.5, and class_names ("a\nb\n...") when not NULL. Its own
 * context, destroyed before returning. */
void fcl_test_small_checkpoint(const char *path, int size, int classes, int init_seed, const char *class_names);

#endif
