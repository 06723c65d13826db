/* facecl/evaluate.h: running a trained network over images: embeddings, class logits, pair scores. */
#ifndef FACECL_EVALUATE_H
#define FACECL_EVALUATE_H

#include <stddef.h>

#include "augment.h"
#include "context.h"
#include "dataset.h"
#include "loader.h"
#include "model.h"
#include "net.h"
#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* How images become network inputs at evaluation: decoded with `channels`, the deterministic
 * `pipeline` applied (NULL: none), then resized to height x width when not already that size
 * (the loader's order), batched `batch` at a time by `workers` loader threads. Every forward has
 * exactly `batch` rows (a short last batch is padded with zero images), so the device sees one
 * input shape. Results never depend on batch or workers (up to float rounding, ~1e-6). */
typedef struct fcl_eval_input {
    int channels, height, width;          /* the model's input shape */
    const fcl_aug_pipeline *pipeline;     /* eval pipeline (e.g. "norm=0.5:0.5"); NULL: none */
    int batch;                            /* images per forward, 1 .. the net's max_batch */
    int workers;                          /* loader threads, >= 1 */
    int tta_flip;                         /* embeddings only: embed each image and its horizontal
                                             mirror, sum the two raw embeddings, then L2-normalise
                                             (insightface's flip test-time augmentation); 0: off */
} fcl_eval_input;

/* Progress of a long run: called after every batch with the images done so far and the total.
 * Return nonzero to cancel (the call then fails with FCL_ERR_IO "cancelled"). */
typedef int (*fcl_eval_progress_fn)(void *user, size_t done, size_t total);

/* channels / height / width from the model's resolved input, batch 32, workers 2, no pipeline,
 * no test-time augmentation. */
void fcl_eval_input_init(fcl_eval_input *in, const fcl_model *m);

/* What a checkpoint says about evaluating it, from its metadata:
 *   "model_options" (+ "model_text") -> channels, size_h, size_w of the input (options the
 *      string leaves out come from the model file's defaults, as when it was built);
 *   "eval_aug"      -> the eval pipeline in fcl_aug_parse syntax (absent or empty: none);
 *   "class_names"   -> the training classes joined by '\n' (index = label; absent: none).
 * Fills in->channels/height/width, sets in->pipeline to `pipeline` (caller storage that must
 * outlive `in`) when the checkpoint has a non-empty pipeline, else NULL, and leaves in->batch
 * and in->workers alone. class_names (may be NULL) receives the names (appended to the
 * caller's zero-initialised list; free with fcl_strlist_free). Errors name the file and key. */
fcl_status fcl_eval_input_from_checkpoint(const char *path, fcl_eval_input *in,
                                          fcl_aug_pipeline *pipeline, fcl_strlist *class_names,
                                          fcl_error *err);

/* Embeds items 0..src->count-1 of src in order: inference-mode forwards, the network's
 * embedding downloaded and L2-normalised per row on the host (a zero row stays zero); with
 * in->tta_flip, the sum of the image's and its mirror's embeddings, normalised.
 * *out_embeddings is malloc'd [count, dim] row-major (row i = item i); *dim the embedding size.
 * Errors (bad image, device) are in fcl_ctx_error(ctx), naming the item. progress may be NULL. */
fcl_status fcl_embed_source(fcl_ctx *ctx, fcl_net *net, const fcl_loader_source *src,
                            const fcl_eval_input *in, fcl_eval_progress_fn progress, void *user,
                            float **out_embeddings, size_t *dim);

/* The same, returning the network output (classifier logits) *out_logits malloc'd
 * [count, classes]. A network without a classifier is an error. */
fcl_status fcl_predict_source(fcl_ctx *ctx, fcl_net *net, const fcl_loader_source *src,
                              const fcl_eval_input *in, fcl_eval_progress_fn progress, void *user,
                              float **out_logits, size_t *classes);

/* The horizontal mirror of a batch of images x [n, c, h, w] into y (same shape; y != x):
 * y[i, ch, r, col] = x[i, ch, r, w - 1 - col]. This is what tta_flip feeds the network. */
void fcl_mirror_batch(const float *x, float *y, size_t n, int c, int h, int w);

/* ---- pairs -------------------------------------------------------------------------------- */

/* The distinct images a pair list references (in order of first appearance) and, per pair, the
 * rows of its two images in that list. */
typedef struct fcl_pair_index {
    size_t n_images;
    char **images;           /* [n_images] paths as in the pair list (root already joined) */
    int *first_line;         /* [n_images] pair-list line that first names the image */
    size_t n_pairs;
    size_t *row1, *row2;     /* [n_pairs] */
} fcl_pair_index;

fcl_status fcl_pair_index_build(const fcl_pair_list *pl, fcl_pair_index *out, fcl_error *err);
void fcl_pair_index_free(fcl_pair_index *pi);

/* Rows for an existing embedding table (e.g. from `facecl embed`: the index file's paths,
 * row i = paths[i]): row1/row2 ([pl->n] each, caller's) receive, per pair, the row whose path
 * equals the pair's path byte for byte. A pair naming a path not in the table is an error
 * "<pairs file>:<line>: '<path>' has no embedding". */
fcl_status fcl_pair_rows_lookup(const fcl_pair_list *pl, const char *const *paths, size_t n_paths,
                                size_t *row1, size_t *row2, fcl_error *err);

/* Cosine similarity per pair of rows of emb [n_rows, dim] (rows need not be normalised; a
 * zero row scores 0), computed in double: scores[i] = cos(emb[row1[i]], emb[row2[i]]). */
fcl_status fcl_verify_scores(const float *emb, size_t n_rows, size_t dim, const size_t *row1,
                             const size_t *row2, size_t n_pairs, double *scores, fcl_error *err);

/* Embeds exactly the distinct images pl references (each once; progress counts images) and
 * scores every pair: *scores malloc'd [pl->n], in pair-list order. A missing or undecodable
 * image is an error naming the pair-list file and line and the image. */
fcl_status fcl_embed_pairs(fcl_ctx *ctx, fcl_net *net, const fcl_eval_input *in,
                           const fcl_pair_list *pl, fcl_eval_progress_fn progress, void *user,
                           double **scores);

/* A loader source over a list of image paths (labels -1), decoding with fcl_image_decode_file.
 * The paths must outlive the source. */
fcl_loader_source fcl_eval_source_paths(const char *const *paths, size_t n);

#ifdef __cplusplus
}
#endif
#endif
