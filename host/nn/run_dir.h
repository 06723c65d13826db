/* host/nn/run_dir.h: the run folder's guards used by the trainer (run_dir.c). */
#ifndef FACECL_NN_RUN_DIR_H
#define FACECL_NN_RUN_DIR_H

#include "facecl/dataset.h"
#include "facecl/train.h"

/* Before anything is written: with --resume, RUN must be the folder of the checkpoint (nothing
 * is created otherwise); without, a folder that holds a run (config.txt, log.csv or a
 * checkpoint) is refused unless cfg->overwrite, which removes the previous run's files. Then
 * creates RUN and removes temp files of our own naming left by a killed run. What it did goes to
 * notes (for the caller to show); errors in ctx. */
fcl_status fcl_run_dir_prepare(fcl_ctx *ctx, const fcl_train_config *cfg, fcl_strlist *notes);

/* On resume: new_text (the config.txt the run would write now) against RUN/config.txt. A changed
 * model, size, channels, classes, embedding, width, stem, batch or loss is refused; the other
 * changed settings are listed in one note. */
fcl_status fcl_run_config_check(fcl_ctx *ctx, const char *run_dir, const char *new_text, fcl_strlist *notes);

#endif
