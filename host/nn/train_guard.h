/* host/nn/train_guard.h: the trainer's checks before and during a run (train_guard.c). */
#ifndef FACECL_NN_TRAIN_GUARD_H
#define FACECL_NN_TRAIN_GUARD_H

#include "facecl/dataset.h"
#include "facecl/net.h"
#include "facecl/tensor.h"
#include "facecl/train.h"

/* Before the first step: every image header of train and val (fcl_dataset_probe: a bad one fails
 * naming it and --skip-bad, or with cfg->skip_bad is left out with a warning), every file the pair
 * list names, and that the pair list has both same and different pairs. val, pairs may be NULL. */
fcl_status fcl_train_check_data(fcl_ctx *ctx, const fcl_train_config *cfg, fcl_dataset *train, fcl_dataset *val,
                                const fcl_pair_list *pairs, fcl_strlist *warnings);

/* Before allocating: the plan's peak (parameters, gradients, optimizer state, activations at
 * cfg->batch, inputs, margin head / centres, workspace) against the device's global memory and,
 * for a CPU device, the host's available memory. Refused (FCL_ERR_NOMEM) with the numbers and a
 * hint when it does not fit; *summary receives the numbers either way. */
fcl_status fcl_train_check_memory(fcl_ctx *ctx, const fcl_model *m, const fcl_train_config *cfg, int classes,
                                  int has_head, int has_center, char *summary, size_t summary_size);

/* Downloads t in chunks: *first_bad is the index of its first NaN or infinity, (size_t)-1 when none. */
fcl_status fcl_tensor_check_finite(fcl_ctx *ctx, const fcl_tensor *t, size_t *first_bad);

/* Every parameter and buffer of a loaded network finite; else FCL_ERR_FORMAT naming the source
 * and the first state_dict entry that is not (eval, embed and verify refuse such a checkpoint). */
fcl_status fcl_net_check_weights_finite(fcl_ctx *ctx, fcl_net *net, const char *source);

#endif
