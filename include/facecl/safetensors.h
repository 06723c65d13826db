/* facecl/safetensors.h: in-memory checkpoints (named tensors + metadata) and the safetensors file format (strict reader, atomic writer). */
#ifndef FACECL_SAFETENSORS_H
#define FACECL_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The safetensors format: an 8-byte little-endian header length N, N bytes of a JSON object
 *   {"__metadata__": {"key": "value", ...},
 *    "name": {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}, ...}
 * then the data section; offsets are bytes into it, all tensors together cover it exactly with
 * no gap or overlap, little-endian, row-major. Checkpoints are host objects: tensors keep the
 * dtype they were read or added with; convert with fcl_st_tensor_to_f32 / _to_i64. */

typedef enum fcl_st_dtype {
    FCL_ST_F32 = 0,
    FCL_ST_F64,
    FCL_ST_I64,     /* torch BN num_batches_tracked */
    FCL_ST_U8,
    FCL_ST_F16,     /* read and converted, also written */
    FCL_ST_BF16,    /* read and converted, also written */
    FCL_ST_DTYPE_COUNT
} fcl_st_dtype;

/* "F32", "F64", "I64", "U8", "F16", "BF16" (NULL for a bad value). */
const char *fcl_st_dtype_name(fcl_st_dtype dt);
size_t fcl_st_dtype_size(fcl_st_dtype dt);

#define FCL_ST_MAX_DIMS 8

typedef struct fcl_st_tensor {
    char *name;
    fcl_st_dtype dtype;
    int ndim;                          /* 0 for a scalar */
    uint64_t shape[FCL_ST_MAX_DIMS];
    size_t numel;
    size_t nbytes;                     /* numel * dtype size */
    void *data;                        /* little-endian values, aligned for the dtype; NULL when
                                          nbytes is 0. Owned by the checkpoint. */
    int owns_data;                     /* internal: data is its own allocation */
} fcl_st_tensor;

typedef struct fcl_st_meta {
    char *key;
    char *value;
} fcl_st_meta;

/* A checkpoint: tensors in insertion (or file) order, names unique; metadata string pairs. */
typedef struct fcl_checkpoint {
    fcl_st_tensor *tensors;
    size_t count, cap;
    fcl_st_meta *meta;
    size_t n_meta, meta_cap;
    void *blob;                        /* internal: a loaded file's data section */
} fcl_checkpoint;

/* An empty checkpoint (all zero also works). */
void fcl_ckpt_init(fcl_checkpoint *c);
/* Frees everything and leaves *c empty. */
void fcl_ckpt_free(fcl_checkpoint *c);

/* Adds a tensor, copying numel(shape) * dtype size bytes of little-endian values from data
 * (data may be NULL only when that is 0). Names must be non-empty, valid UTF-8, not
 * "__metadata__", and not already present. ndim 0..FCL_ST_MAX_DIMS. */
fcl_status fcl_ckpt_add(fcl_checkpoint *c, const char *name, fcl_st_dtype dtype, int ndim,
                        const uint64_t *shape, const void *data, fcl_error *err);
/* Shorthand for f32 data with a size_t shape (device tensor shapes). */
fcl_status fcl_ckpt_add_f32(fcl_checkpoint *c, const char *name, int ndim, const size_t *shape,
                            const float *data, fcl_error *err);
/* The tensor called name, or NULL. */
const fcl_st_tensor *fcl_ckpt_find(const fcl_checkpoint *c, const char *name);
/* Sets (adds or replaces) a metadata entry; key and value valid UTF-8. */
fcl_status fcl_ckpt_set_meta(fcl_checkpoint *c, const char *key, const char *value, fcl_error *err);
/* The metadata value of key, or NULL. */
const char *fcl_ckpt_get_meta(const fcl_checkpoint *c, const char *key);

/* Converts a tensor's values to float / int64 (count must equal numel). to_f32 takes every
 * dtype (F64 and I64 are rounded to nearest float); to_i64 takes I64 and U8 only. */
fcl_status fcl_st_tensor_to_f32(const fcl_st_tensor *t, float *out, size_t count, fcl_error *err);
fcl_status fcl_st_tensor_to_i64(const fcl_st_tensor *t, int64_t *out, size_t count, fcl_error *err);

/* ---- files ----------------------------------------------------------------------------------- */

/* Writes c to path atomically: a temporary file in the same folder, written, flushed and
 * fsync'ed, renamed over path, then the folder fsync'ed; on failure path is untouched. The
 * header lists __metadata__ (when any) and the tensors in checkpoint order, padded with spaces
 * to a multiple of 8 bytes so the data section is 8-aligned in the file. */
fcl_status fcl_st_save(const fcl_checkpoint *c, const char *path, fcl_error *err);

/* Reads a safetensors file into *c (initialised here; freed again on failure). Everything is
 * validated: header length against the file size and a 100 MB cap, JSON syntax (strict: UTF-8,
 * no trailing commas or garbage, no duplicate keys), the schema (dtype known and supported,
 * shape of non-negative integers, data_offsets [begin, end]), shape size * dtype size equal to
 * end - begin, and offsets covering the data section exactly without overlap. Errors name the
 * file and the tensor (FCL_ERR_IO for I/O, FCL_ERR_FORMAT for content, FCL_ERR_UNSUPPORTED for a
 * dtype this build does not read). */
fcl_status fcl_st_load(fcl_checkpoint *c, const char *path, fcl_error *err);
/* Same, from size bytes in memory; `label` names the source in messages. */
fcl_status fcl_st_load_mem(fcl_checkpoint *c, const void *data, size_t size, const char *label,
                           fcl_error *err);

/* ---- matching a checkpoint to a model ------------------------------------------------------ */

typedef struct fcl_st_expect {
    const char *name;
    int ndim;
    uint64_t shape[FCL_ST_MAX_DIMS];
} fcl_st_expect;

/* Compares the tensors a model expects with a checkpoint and reports every mismatch in one
 * FCL_ERR_SHAPE message: "<label> does not match: missing: a, b; unexpected: c; shape differs:
 * d (file [3, 4], expected [4, 3])". Tensors of c whose name starts with one of the
 * `ignore_prefixes` (NULL-terminated list, may be NULL; e.g. "optim.") are not "unexpected". */
fcl_status fcl_st_check_shapes(const fcl_checkpoint *c, const char *label,
                               const fcl_st_expect *want, size_t n_want,
                               const char *const *ignore_prefixes, fcl_error *err);
/* Same against a file (loaded, checked, freed). */
fcl_status fcl_st_check_file(const char *path, const fcl_st_expect *want, size_t n_want,
                             const char *const *ignore_prefixes, fcl_error *err);

#ifdef __cplusplus
}
#endif
#endif
