/* facecl/tuning.h: typed kernel tuning: one table of named integer parameters per kernel family. */
#ifndef FACECL_TUNING_H
#define FACECL_TUNING_H

#include <limits.h>

#include "facecl/context.h"

/* Every kernel family and every parameter has an id; the table (host/runtime/tuning_table.c)
 * holds each parameter's name, its default on CPUs and on other devices (GPUs, accelerators),
 * its range and a one-line doc: the only place defaults are written. A context holds one value
 * per parameter, set at creation from the table for its device type, then from the per-device
 * tuning cache (`facecl tune`), then from $FACECL_TUNING (which wins). Launchers read the values
 * with fcl_tuning_int; kernels get all of their family's values as "-DNAME=V" (fcl_ctx_tuning),
 * so the program cache, keyed on the options, rebuilds or reuses a program as the values change. */
typedef enum fcl_tune_family {
    FCL_TF_ELTWISE,   /* cl/eltwise.cl, linear.cl, optim.cl, runtime.cl */
    FCL_TF_ACT,       /* cl/act.cl */
    FCL_TF_BN,        /* cl/bn.cl */
    FCL_TF_POOL,      /* cl/pool.cl */
    FCL_TF_LOSS,      /* row kernels of cl/loss.cl, margin.cl, metric_loss.cl */
    FCL_TF_NORM,      /* cl/norm.cl */
    FCL_TF_ATTN,      /* cl/attn.cl */
    FCL_TF_CONV,      /* cl/conv.cl, conv_dw.cl, conv_gpu.cl, conv_dw_gpu.cl */
    FCL_TF_COUNT
} fcl_tune_family;

/* Parameter ids, grouped by family in table order (FCL_T_<FAMILY>_<PARAM>). */
typedef enum fcl_tune_id {
    FCL_T_ELTWISE_WG, FCL_T_ELTWISE_VEC,
    FCL_T_ACT_VEC,
    FCL_T_BN_VEC, FCL_T_BN_WG, FCL_T_BN_USE_SG,
    FCL_T_POOL_GPU, FCL_T_POOL_WG, FCL_T_POOL_USE_SG,
    FCL_T_LOSS_ROW_WG, FCL_T_LOSS_USE_SG, FCL_T_LOSS_VEC, FCL_T_LOSS_HEAD_MB, FCL_T_LOSS_HEAD_NV, FCL_T_LOSS_HEAD_VW,
    FCL_T_NORM_WG, FCL_T_NORM_USE_SG, FCL_T_NORM_VEC,
    FCL_T_ATTN_WG, FCL_T_ATTN_USE_SG, FCL_T_ATTN_VEC,
    FCL_T_CONV_MB, FCL_T_CONV_NV, FCL_T_CONV_VW, FCL_T_CONV_TM, FCL_T_CONV_TN, FCL_T_CONV_TW, FCL_T_CONV_LNN, FCL_T_CONV_LNT,
    FCL_T_CONV_LOCAL, FCL_T_CONV_COL_KB, FCL_T_CONV_LINEAR, FCL_T_CONV_GPU, FCL_T_CONV_GM, FCL_T_CONV_GN, FCL_T_CONV_GK,
    FCL_T_CONV_GWM, FCL_T_CONV_GWN, FCL_T_CONV_GWG, FCL_T_CONV_GSPLIT, FCL_T_CONV_USE_SG, FCL_T_CONV_WINO,
    FCL_T_CONV_WGRAD,
    FCL_T_CONV_BPANEL, FCL_T_CONV_WG_NN, FCL_T_CONV_PF,
    FCL_T_CONV_IMPLICIT,
    FCL_T_CONV_NT_KB,
    FCL_T_CONV_B1X1,
    FCL_T_CONV_CIM_ORDER,
    FCL_T_CONV_IM_KB,
    FCL_T_CONV_C2I_ORDER,
    FCL_T_CONV_IM_ROW,
    FCL_T_CONV_TPANEL,
    FCL_T_CONV_WT_SPLIT,
    FCL_T_CONV_WINO_S2,
    FCL_T_CONV_WINO_S2_BWD,
    FCL_T_CONV_WT_DX,
    FCL_T_CONV_WT_RB_FAST,
    FCL_T_COUNT
} fcl_tune_id;

enum {
    FCL_TUNE_POW2 = 1,    /* must be a power of two */
};
#define FCL_TUNE_AS_CPU INT_MIN   /* a cpu256 entry: the same default as the cpu column */

/* The table's columns; a device takes its defaults from one (fcl_tune_column_of). */
typedef enum fcl_tune_column {
    FCL_TUNE_COL_CPU,     /* CPUs with 512-bit float vectors (AVX-512), or that do not say */
    FCL_TUNE_COL_CPU256,  /* CPUs with native float width 8 or less (AVX2, 16 registers) */
    FCL_TUNE_COL_OTHER,   /* GPUs, accelerators */
} fcl_tune_column;

typedef struct fcl_tune_param {
    fcl_tune_family family;
    const char *name;     /* "CONV_MB": the -D name and the name in $FACECL_TUNING */
    int cpu;              /* default on CL_DEVICE_TYPE_CPU devices with 16-float (512-bit) registers, or
                           * that do not report their native float width */
    int cpu256;           /* default on CPUs with native float vectors of 8 or fewer (AVX2: 16 ymm
                           * registers of 8 floats); FCL_TUNE_AS_CPU: the cpu value */
    int other;            /* default on every other device (GPUs, accelerators) */
    int min, max;         /* inclusive range */
    unsigned flags;       /* FCL_TUNE_* */
    const char *doc;      /* one line: what it sets, what 0 means where 0 is allowed */
} fcl_tune_param;

/* ---- the table (no context needed) -------------------------------------------------------- */
const fcl_tune_param *fcl_tune_param_info(fcl_tune_id id);          /* NULL when out of range */
const char *fcl_tune_family_name(fcl_tune_family f);               /* "conv"; NULL when out of range */
int fcl_tune_family_find(const char *name);                         /* its fcl_tune_family, or -1 */
/* The family's parameters are ids first .. first + count - 1 (count 0: no such family). */
int fcl_tune_family_params(fcl_tune_family f, fcl_tune_id *first);
int fcl_tune_param_find(fcl_tune_family f, const char *name);       /* its fcl_tune_id, or -1 */
/* Checks a whole family's values (count of them, table order): every range, power-of-two flag
 * and the family's joint rules (conv: CONV_GM a multiple of CONV_GWM, ...). The message names
 * the family, the parameter, its value and its range. A tuner can skip a candidate with it. */
fcl_status fcl_tune_check(fcl_tune_family f, const int *values, int count, fcl_error *err);
/* The column of a device: CPUs by CL_DEVICE_NATIVE_VECTOR_WIDTH_FLOAT (1..8: cpu256; 16 or
 * not reported: cpu), every other device type: other. Pure logic (testable on made-up infos). */
fcl_tune_column fcl_tune_column_of(const fcl_device_info *dev);
/* One parameter's default in a column (cpu256's FCL_TUNE_AS_CPU resolved); 0 out of range. */
int fcl_tune_param_default(fcl_tune_id id, fcl_tune_column col);

/* ---- a context's values ------------------------------------------------------------------- */
/* The current value of one parameter (an array read: fine on every launch). */
int fcl_tuning_int(const fcl_ctx *ctx, fcl_tune_id id);
/* The table's default of one parameter for this context's device type. */
int fcl_tuning_default(const fcl_ctx *ctx, fcl_tune_id id);
/* Copies the family's current values (table order) into values[0 .. count-1]; count must be
 * the family's parameter count. */
fcl_status fcl_ctx_tuning_get_family(const fcl_ctx *ctx, fcl_tune_family f, int *values, int count);
/* Sets all of a family's values (table order, count of them) after fcl_tune_check; nothing
 * changes on an error. Later kernel builds of the family use the new options (programs already
 * built for other values stay cached and are reused if the values come back). This is the entry
 * point of the per-device tuning cache (loaded at context creation) and of the tuner. */
fcl_status fcl_ctx_tuning_set_family(fcl_ctx *ctx, fcl_tune_family f, const int *values, int count);
/* One parameter (the rest of its family as they are), checked like fcl_ctx_tuning_set_family. */
fcl_status fcl_ctx_tuning_set_int(fcl_ctx *ctx, fcl_tune_id id, int value);
/* Back to the table's defaults for this device (f == FCL_TF_COUNT: every family). */
void fcl_ctx_tuning_reset(fcl_ctx *ctx, fcl_tune_family f);

#endif
