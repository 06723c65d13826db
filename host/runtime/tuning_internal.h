/* host/runtime/tuning_internal.h: the tuning table's storage, shared by tuning_table.c and tuning.c (internal). */
#ifndef FACECL_RUNTIME_TUNING_INTERNAL_H
#define FACECL_RUNTIME_TUNING_INTERNAL_H

#include "facecl/tuning.h"

extern const fcl_tune_param fcl_tune_table[FCL_T_COUNT];
extern const char *const fcl_tune_family_names[FCL_TF_COUNT];

#endif
