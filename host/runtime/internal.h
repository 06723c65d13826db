/* host/runtime/internal.h: the context's private layout and runtime-internal helpers. */
#ifndef FACECL_RUNTIME_INTERNAL_H
#define FACECL_RUNTIME_INTERNAL_H

#include <stdint.h>
#include "facecl/context.h"
#include "facecl/tensor.h"
#include "facecl/tuning.h"

/* One built program and the kernels made from it. */
typedef struct fcl_prog_entry {
    char *source_name;
    char *options;      /* as asked for (a tuning family's options) */
    char *built;        /* those the program was built with: the defines its text reads */
    cl_program program; /* shared (retained) by entries whose options differ only in unread defines */
    size_t n_kernels;
    struct { char *name; cl_kernel kernel; } *kernels;
} fcl_prog_entry;

/* A cached free device buffer. */
typedef struct fcl_pool_block {
    cl_mem buf;
    size_t capacity;
} fcl_pool_block;

/* One profiled launch whose time is not yet read. */
typedef struct fcl_kernel_pending {
    cl_event ev;
    char name[64];
} fcl_kernel_pending;

struct fcl_ctx {
    fcl_device_info dev;
    cl_context context;
    cl_command_queue queue;
    fcl_error err;
    fcl_rng rng;
    char cache_dir[1024];          /* "" when disk caching is off */
    char warning[1200];            /* set at creation, e.g. an unusable cache folder; "" none */
    int last_origin;

    fcl_prog_entry *progs;
    size_t n_progs, cap_progs;

    fcl_pool_block *free_blocks;   /* blocks returned to the pool, reused by capacity */
    size_t n_free, cap_free;
    fcl_pool_stats pool;

    int tune[FCL_T_COUNT];                 /* typed tuning values (host/runtime/tuning.c) */
    char tune_opts[FCL_TF_COUNT][768];     /* each family's "-DNAME=V ..." + tune_caps */
    char tune_caps[128];                   /* the device's capability defines */
    size_t wg1d;
    int tune_applied;              /* sets applied from the tuning cache (tune_cache.c) */

    int profiling;                 /* the queue has CL_QUEUE_PROFILING_ENABLE: launches keep events */
    fcl_kernel_pending *kpend;     /* launches not yet added to ktimes (profile.c) */
    size_t n_kpend, cap_kpend;
    fcl_kernel_time *ktimes;       /* device ms per kernel name */
    size_t n_ktimes, cap_ktimes;
};

/* Keeps a launch's event (named by its kernel) for the per-kernel totals; takes ownership of ev.
 * Releases what is pending (context destruction). host/runtime/profile.c */
fcl_status fcl_profile_record(fcl_ctx *ctx, cl_event ev, const char *name);
void fcl_profile_free(fcl_ctx *ctx);

/* Records "<what>: CL_ERROR_NAME" on ctx->err (with file:line) and returns FCL_ERR_OPENCL. */
fcl_status fcl_cl_fail(fcl_ctx *ctx, cl_int rc, const char *file, int line, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 5, 6)))
#endif
    ;
#define FCL_CL(ctx, rc, ...) \
    ((rc) == CL_SUCCESS ? FCL_OK : fcl_cl_fail((ctx), (rc), __FILE__, __LINE__, __VA_ARGS__))

/* Disk cache of program binaries (disk_cache.c). The key is a text that fully identifies the
 * binary; the file name is its hash, and the key is stored inside and compared on load. */
int fcl_disk_cache_load(const char *dir, const char *key, unsigned char **bin, size_t *len);
int fcl_disk_cache_store(const char *dir, const char *key, const unsigned char *bin, size_t len);
uint64_t fcl_hash64(const void *data, size_t len, uint64_t seed);
/* Creates dir and its parents (mkdir -p); 0 on success. */
int fcl_mkdirs(const char *dir);

/* Default cache folder: $FACECL_CACHE_DIR, else $XDG_CACHE_HOME/facecl, else ~/.cache/facecl. */
void fcl_default_cache_dir(char *buf, size_t size);
/* Turns disk caching off (cache_dir "") with ctx->warning set when the cache folder cannot be
 * created or written, so a run goes on uncached and the tool can say why once. */
void fcl_cache_dir_check(fcl_ctx *ctx);
/* Sets every tuning value to the table's default for the device and the capability defines
 * (first thing at context creation). */
void fcl_tuning_init(fcl_ctx *ctx);
/* Applies $FACECL_TUNING ("family:-DNAME=V ...;family:...", each entry as fcl_ctx_tuning_set)
 * at context creation, once; a malformed value, unknown name or out-of-range value is an error
 * naming it. */
fcl_status fcl_tuning_from_env(fcl_ctx *ctx, fcl_error *err);

/* A file-name-safe key for this device: "<hash of platform+device+driver>". */
void fcl_device_key(const fcl_device_info *d, char *buf, size_t size);

#endif
