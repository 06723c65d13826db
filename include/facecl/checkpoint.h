/* facecl/checkpoint.h: saving and restoring a network (and its training state) as safetensors. */
#ifndef FACECL_CHECKPOINT_H
#define FACECL_CHECKPOINT_H

#include "net.h"
#include "optim.h"
#include "safetensors.h"
#include "schedule.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A checkpoint file holds, readable by Python's `safetensors` package:
 *   every state_dict entry under its torch name (F32; num_batches_tracked as a 0-dim I64), so
 *     `model.load_state_dict(safetensors.torch.load_file(path), strict=False)` works in PyTorch
 *     (strict=False only because of the extra entries below);
 *   "optim.<state>" [P] F32: the optimizer's flat state buffers (exp_avg, momentum_buffer, ...),
 *     element i belonging to params element i (trainable tensors in state_dict order);
 *   "optim.scalars" I64 and "sched.state" F64: the optimizer's and schedule's host state;
 *   "rng.state" U8 [32]: the context RNG (xoshiro256** state);
 * and the metadata: "format" ("facecl-checkpoint-1"), "model" (name), "model_text" (the model
 * file, verbatim), "model_options" ("channels=3 size_h=112 size_w=112 classes=10 embedding=64
 * width=1 stem=face"), "epoch", "step", "optim" ("sgd" / "adamw" / "none"), plus any entries the
 * caller adds (class list file, best metric, ...). */

/* Training progress saved with the weights. */
typedef struct fcl_train_progress {
    int64_t epoch;       /* epochs completed */
    int64_t step;        /* optimizer steps taken */
} fcl_train_progress;

/* Extra metadata pairs (keys must not clash with the ones above). */
typedef struct fcl_kv {
    const char *key;
    const char *value;
} fcl_kv;

/* Writes net (+ optimizer, schedule, progress, RNG when given: each may be NULL) to path
 * atomically (temporary file, fsync, rename). */
fcl_status fcl_checkpoint_save(fcl_ctx *ctx, fcl_net *net, fcl_optim *opt, const fcl_sched *sched,
                               const fcl_train_progress *prog, const fcl_kv *extra, size_t n_extra,
                               const char *path);

/* How much of a checkpoint to take. */
typedef struct fcl_load_opts {
    int skip_classifier;   /* 1: leave the classifier as initialised (fine-tuning on another
                              class count): its entries are neither required nor loaded */
    int weights_only;      /* 1: ignore optimizer / schedule / RNG / progress entries */
} fcl_load_opts;

/* Loads the weights into net, checking every name and shape first; ALL mismatches are
 * reported by name in one FCL_ERR_SHAPE message and nothing is changed. With opt / sched /
 * prog non-NULL and weights_only 0, their state is restored too (exact resume): a checkpoint
 * lacking it, or made by another optimizer kind, is an error. The context RNG is restored
 * when the file has one and weights_only is 0. */
fcl_status fcl_checkpoint_load(fcl_ctx *ctx, fcl_net *net, fcl_optim *opt, fcl_sched *sched,
                               fcl_train_progress *prog, const fcl_load_opts *opts, const char *path);

/* Tensors that live outside the network but belong to the training state: a margin head's class
 * weights with their own optimizer, centre-loss centres. Saved as "<name>" (the tensor's shape),
 * and when opt is given "<name>.optim.<state>" and "<name>.optim.scalars". */
typedef struct fcl_ckpt_aux {
    const char *name;
    fcl_tensor *tensor;
    fcl_optim *opt;        /* may be NULL */
} fcl_ckpt_aux;

/* fcl_checkpoint_save / _load with auxiliary tensors (n_aux may be 0). Loading restores them
 * unless weights_only; a missing one is an error naming it. */
fcl_status fcl_checkpoint_save_ex(fcl_ctx *ctx, fcl_net *net, fcl_optim *opt, const fcl_sched *sched,
                                  const fcl_train_progress *prog, const fcl_kv *extra, size_t n_extra,
                                  const fcl_ckpt_aux *aux, size_t n_aux, const char *path);
fcl_status fcl_checkpoint_load_ex(fcl_ctx *ctx, fcl_net *net, fcl_optim *opt, fcl_sched *sched,
                                  fcl_train_progress *prog, const fcl_load_opts *opts,
                                  const fcl_ckpt_aux *aux, size_t n_aux, const char *path);

/* Reads only the metadata and model text of a checkpoint (e.g. to rebuild the model it was
 * made with). *model_text / *options are malloc'd (free them); either may be NULL. */
fcl_status fcl_checkpoint_read_model(const char *path, char **model_name, char **model_text,
                                     char **options, fcl_error *err);

/* Parses a "model_options" string ("channels=3 size_h=112 ... stem=face") into opts (fields not
 * named stay as they are; opts->stem points into `storage`, which must outlive opts). */
fcl_status fcl_model_opts_parse(const char *text, fcl_model_opts *opts, char *storage, size_t storage_size,
                                fcl_error *err);

/* The model a loaded checkpoint was saved with: its "model", "model_text" and "model_options"
 * metadata parsed (host only). `path` names the file in messages (FCL_ERR_FORMAT when the
 * metadata is missing: not a facecl checkpoint). *out is the caller's (fcl_model_free). */
fcl_status fcl_model_from_checkpoint(const fcl_checkpoint *c, const char *path, fcl_model **out, fcl_error *err);

/* Rebuilds the model a checkpoint was saved with (its own model text and options) and a network
 * for batches up to max_batch with the checkpoint's weights (weights only). *model and *net are
 * the caller's (fcl_net_destroy, then fcl_model_free). */
fcl_status fcl_net_from_checkpoint(fcl_ctx *ctx, const char *path, int max_batch, fcl_model **model,
                                   fcl_net **net);

#ifdef __cplusplus
}
#endif
#endif
