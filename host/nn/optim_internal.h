/* host/nn/optim_internal.h: helpers optim.c shares with the other optimizer files (internal). */
#ifndef FACECL_NN_OPTIM_INTERNAL_H
#define FACECL_NN_OPTIM_INTERNAL_H

#include "facecl/optim.h"

/* Ranges of all groups inside [0, numel), non-empty and disjoint; errors name op, group, range. */
fcl_status fcl_optim_check_ranges(fcl_ctx *ctx, const char *op, size_t numel, const fcl_param_group *groups,
                                  size_t n_groups);

#endif
