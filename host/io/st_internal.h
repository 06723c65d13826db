/* host/io/st_internal.h: helpers shared by the checkpoint object and the safetensors reader/writer (internal). */
#ifndef FACECL_IO_ST_INTERNAL_H
#define FACECL_IO_ST_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "facecl/safetensors.h"

/* Copies s into buf for messages: control characters, quotes and backslashes as \xNN, cut
 * (with "...") after about 96 bytes. */
void fcl_st_quote(char *buf, size_t size, const char *s);
/* 1 when s[0..len) is valid UTF-8 (no overlong forms, surrogates or values past U+10FFFF). */
int fcl_utf8_valid(const char *s, size_t len);
/* numel and bytes of a shape; 0 when they overflow size_t. */
int fcl_st_shape_bytes(fcl_st_dtype dtype, int ndim, const uint64_t *shape, size_t *numel,
                       size_t *nbytes);
/* Appends a tensor without checks (the caller validated name, shape and uniqueness); takes
 * `data` (freed with the checkpoint when owns_data). On failure data is not taken. */
fcl_status fcl_st_append(fcl_checkpoint *c, const char *name, fcl_st_dtype dtype, int ndim,
                         const uint64_t *shape, void *data, int owns_data, fcl_error *err);
/* Appends a metadata pair (copied) without looking for an existing key. */
fcl_status fcl_st_meta_append(fcl_checkpoint *c, const char *key, const char *value,
                              fcl_error *err);

#endif
