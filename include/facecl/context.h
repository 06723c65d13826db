/* facecl/context.h: the context that owns device, queue, program cache, allocator, RNG and last error. */
#ifndef FACECL_CONTEXT_H
#define FACECL_CONTEXT_H

#include "device.h"
#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fcl_ctx fcl_ctx;

typedef struct fcl_ctx_opts {
    const char *device;      /* selection as for --device; NULL: $FACECL_DEVICE, else default */
    int profiling;           /* create the queue with CL_QUEUE_PROFILING_ENABLE */
    int no_disk_cache;       /* do not read or write compiled binaries on disk */
    const char *cache_dir;   /* override the cache folder (default $FACECL_CACHE_DIR, XDG) */
    uint64_t seed;           /* seed of the context RNG (0 is a valid seed) */
    int device_rank;         /* data-parallel ranks: take the device_rank-th device the selection
                                matches (fcl_device_select_rank); 0: the usual single device */
} fcl_ctx_opts;

/* Creates a context on the selected device. On failure *out is NULL and `err` says why
 * (err may be NULL). opts may be NULL (defaults). */
fcl_status fcl_ctx_create(fcl_ctx **out, const fcl_ctx_opts *opts, fcl_error *err);
void fcl_ctx_destroy(fcl_ctx *ctx);

/* The context's last error (status and message). */
fcl_error *fcl_ctx_error(fcl_ctx *ctx);
const char *fcl_ctx_errmsg(const fcl_ctx *ctx);

const fcl_device_info *fcl_ctx_device(const fcl_ctx *ctx);
cl_command_queue fcl_ctx_queue(const fcl_ctx *ctx);
/* The folder used for kernel binaries and tuning files ("" when disk caching is off). */
const char *fcl_ctx_cache_dir(const fcl_ctx *ctx);
/* A warning from creation for the caller to show once (e.g. the cache folder is not writable,
 * so compiled kernels are not cached), or NULL. */
const char *fcl_ctx_warning(const fcl_ctx *ctx);

/* Waits for all queued work (clFinish), checked. */
fcl_status fcl_ctx_finish(fcl_ctx *ctx);

/* ---- where the device time goes (contexts made with opts.profiling) ---------------------- */

/* The device time of one kernel (by its function name), summed over its launches. */
typedef struct fcl_kernel_time {
    char name[64];
    long calls;
    double ms;              /* sum of CL_PROFILING_COMMAND_END - START over the calls */
} fcl_kernel_time;

/* 1 when the context was made with profiling on: every facecl kernel launch (fcl_kernel_run)
 * then keeps its event, which costs a little host time per launch. */
int fcl_ctx_profiling(const fcl_ctx *ctx);
/* Waits for the launches made so far and copies up to cap per-kernel totals into out, most
 * time first (*n of them); reset 1 starts new totals. Launches outside fcl_kernel_run (CLBlast's
 * GEMMs, buffer copies and fills) are not counted. FCL_ERR_INVALID_ARG without profiling. */
fcl_status fcl_ctx_kernel_times(fcl_ctx *ctx, fcl_kernel_time *out, size_t cap, size_t *n, int reset);

/* ---- programs and kernels ---------------------------------------------------------------- */

/* Returns a built program for an embedded source ("conv.cl") and build options. Built once per
 * (context, source, options); binaries are cached on disk keyed by device, driver, options and
 * source hash. The program stays owned by the context. */
fcl_status fcl_program_get(fcl_ctx *ctx, const char *source_name, const char *options,
                           cl_program *out);
/* Same, for a kernel of that program (created once, owned by the context). */
fcl_status fcl_kernel_get(fcl_ctx *ctx, const char *source_name, const char *kernel_name,
                          const char *options, cl_kernel *out);

/* Where the last fcl_program_get came from: 0 built from source, 1 disk cache, 2 memory. */
int fcl_ctx_last_program_origin(const fcl_ctx *ctx);
/* 1 when the driver keeps its own cache of compiled kernels and facecl writes none (PoCL with
 * POCL_KERNEL_CACHE unset or not 0): a program "built from source" may then have come from it. */
int fcl_ctx_driver_kernel_cache(const fcl_ctx *ctx);

/* Launch helpers: set argument i (checked, message names the kernel) and enqueue. */
fcl_status fcl_kernel_arg(fcl_ctx *ctx, cl_kernel k, unsigned index, size_t size, const void *value);
/* Enqueues over `dims` dimensions; global sizes are rounded up to a multiple of `local`
 * (kernels bound-check). local may be NULL (driver's choice). */
fcl_status fcl_kernel_run(fcl_ctx *ctx, cl_kernel k, unsigned dims, const size_t *global,
                          const size_t *local);

/* The build options of an op family's kernels ("conv", "eltwise", ...; facecl/tuning.h lists
 * the families): "-DNAME=V" for each of the family's typed tuning values on this context, then
 * the device's capability defines (only those for a name that is not a family). Owned by the
 * context, valid until its next tuning change. Never NULL. */
const char *fcl_ctx_tuning(const fcl_ctx *ctx, const char *family);
/* Sets `family`'s values on this context from text (tests forcing a kernel variant): the
 * device's defaults, then each "-DNAME=V" (or "NAME=V") of `defines`, separated by spaces,
 * parsed once and checked (unknown name, non-integer or out-of-range value: FCL_ERR_INVALID_ARG
 * naming it). The typed form is fcl_ctx_tuning_set_family (facecl/tuning.h). */
fcl_status fcl_ctx_tuning_set(fcl_ctx *ctx, const char *family, const char *defines);
/* The capability defines fcl_ctx_tuning appends (" -DFCL_SG_INTEL=1" where the device has
 * subgroups, ...; "" where it has nothing optional), for kernels built with their own options. */
void fcl_ctx_device_defines(const fcl_ctx *ctx, char *buf, size_t size);

/* A good 1-D work-group size for simple elementwise kernels on this device. */
size_t fcl_ctx_wg1d(const fcl_ctx *ctx);

/* ---- RNG (per context; xoshiro256** seeded with splitmix64) -------------------------------- */
typedef struct fcl_rng { uint64_t s[4]; } fcl_rng;
void fcl_rng_seed(fcl_rng *r, uint64_t seed);
uint64_t fcl_rng_next(fcl_rng *r);
float fcl_rng_uniform(fcl_rng *r);             /* [0, 1) */
float fcl_rng_normal(fcl_rng *r);              /* N(0, 1) */
fcl_rng *fcl_ctx_rng(fcl_ctx *ctx);

/* ---- memory pool ----------------------------------------------------------------------- */
typedef struct fcl_pool_stats {
    uint64_t in_use, peak, reserved;   /* bytes */
    uint64_t device_allocs;            /* clCreateBuffer calls so far */
    uint64_t requests;                 /* allocation requests so far */
} fcl_pool_stats;
void fcl_ctx_pool_stats(const fcl_ctx *ctx, fcl_pool_stats *out);
/* Releases cached free blocks back to the driver. */
void fcl_ctx_pool_trim(fcl_ctx *ctx);

#ifdef __cplusplus
}
#endif
#endif
