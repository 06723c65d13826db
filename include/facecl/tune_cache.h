/* facecl/tune_cache.h: the per-device tuning cache that `facecl tune` writes and every context applies. */
#ifndef FACECL_TUNE_CACHE_H
#define FACECL_TUNE_CACHE_H

#include "context.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One file per device in the cache folder, "<cache>/tune-<device key>.txt" (the device key of
 * the kernel binary cache). Text, one record a line, in this order:
 *   facecl-tune 1
 *   key <facecl version | platform | platform version | device | driver | device version>
 *   set clblast Xgemm MWG=64 NWG=64 ...       chosen values of one CLBlast kernel
 *   set kernel conv CONV_MB=12 CONV_NV=2 ...  chosen values of one facecl kernel family
 *   meas <task> <candidate> <median ms>       a measurement (-1: rejected), for resuming
 *   sum <16 hex digits>                       hash of every byte before this line
 * A file whose key is another device's, driver's or facecl version's, whose sum does not match,
 * or that holds an unknown record, parameter or an out-of-range value is ignored as a whole. */

#define FCL_TUNE_MAX_PARAMS 48
#define FCL_TUNE_NAME 32

typedef enum fcl_tune_kind {
    FCL_TUNE_CLBLAST = 0,           /* a CLBlast kernel's parameters (CLBlastOverrideParameters) */
    FCL_TUNE_KERNEL = 1             /* a facecl kernel family's named integer parameters */
} fcl_tune_kind;

typedef struct fcl_tune_set {
    fcl_tune_kind kind;
    char target[FCL_TUNE_NAME];     /* "Xgemm", "GemmRoutine", or a family ("conv") */
    int n;
    char names[FCL_TUNE_MAX_PARAMS][FCL_TUNE_NAME];
    long values[FCL_TUNE_MAX_PARAMS];
} fcl_tune_set;

typedef struct fcl_tune_meas {
    char task[128];                 /* what was timed, no spaces ("gemm:128x10575x512:NT:b0") */
    char cand[256];                 /* the candidate, no spaces ("default", "MWG=64,NWG=64,...") */
    double ms;                      /* median wall time; < 0: rejected (wrong output or failed) */
} fcl_tune_meas;

typedef struct fcl_tune_cache {
    char key[1400];
    fcl_tune_set *sets;
    size_t n_sets, cap_sets;
    fcl_tune_meas *meas;
    size_t n_meas, cap_meas;
} fcl_tune_cache;

/* The identity a cache file must carry to be used on this context's device (one line). */
void fcl_tune_cache_key(const fcl_ctx *ctx, char *buf, size_t size);
/* "<cache folder>/tune-<device key>.txt"; "" when the context has no cache folder. */
void fcl_tune_cache_path(const fcl_ctx *ctx, char *buf, size_t size);

/* An empty cache for `key`. */
void fcl_tune_cache_init(fcl_tune_cache *c, const char *key);
void fcl_tune_cache_free(fcl_tune_cache *c);

/* Reads and checks a file: FCL_OK (c filled), FCL_ERR_IO when it does not exist or cannot be
 * read, FCL_ERR_FORMAT when it is corrupt, truncated or was made for another key (err says
 * why, naming the line). Values are checked against their ranges by fcl_tune_cache_check. */
fcl_status fcl_tune_cache_read(const char *path, const char *key, fcl_tune_cache *c, fcl_error *err);
/* Writes atomically (temp file, fsync, rename): a reader sees the old or the new file. */
fcl_status fcl_tune_cache_write(const char *path, const fcl_tune_cache *c, fcl_error *err);

/* Replaces (or adds) the set of `target`; FCL_ERR_INVALID_ARG when too many or too long names. */
fcl_status fcl_tune_cache_put(fcl_tune_cache *c, fcl_tune_kind kind, const char *target, int n,
                              const char *const *names, const long *values, fcl_error *err);
/* Removes the set of `target` (kind and name), if present. */
void fcl_tune_cache_drop(fcl_tune_cache *c, fcl_tune_kind kind, const char *target);
const fcl_tune_set *fcl_tune_cache_get(const fcl_tune_cache *c, fcl_tune_kind kind, const char *target);
/* Records (or replaces) a measurement; task and cand must be non-empty and free of spaces. */
fcl_status fcl_tune_cache_measured(fcl_tune_cache *c, const char *task, const char *cand, double ms,
                                   fcl_error *err);
/* The measurement of (task, cand), NULL when not measured yet. */
const fcl_tune_meas *fcl_tune_cache_find(const fcl_tune_cache *c, const char *task, const char *cand);

/* Checks every set against its parameters' names, ranges and constraints on this device
 * (CLBlast kernels: host/runtime/gemm.c; facecl families: the tuning table) without applying. */
fcl_status fcl_tune_cache_check(fcl_ctx *ctx, const fcl_tune_cache *c);
/* Checks, then applies every set to the context (CLBlast's overrides are per device and
 * process-wide: CLBlast keeps them, not the context). */
fcl_status fcl_tune_cache_apply(fcl_ctx *ctx, const fcl_tune_cache *c);

/* What fcl_ctx_create does: applies this device's cache file when there is one (and neither
 * FACECL_NO_TUNE is set nor disk caching off); a file that fails to read or check is ignored
 * and says why in fcl_ctx_warning. Never an error: an untuned context runs the default table. */
void fcl_tune_cache_load(fcl_ctx *ctx);
/* How many sets the context applied from its tuning cache (0: untuned, or the file was ignored). */
int fcl_ctx_tune_applied(const fcl_ctx *ctx);

#ifdef __cplusplus
}
#endif
#endif
