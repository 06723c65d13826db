/* facecl/npy.h: numpy .npy files (format 1.0, little-endian float32, C order): atomic writer and strict reader. */
#ifndef FACECL_NPY_H
#define FACECL_NPY_H

#include <stddef.h>

#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define FCL_NPY_MAX_DIMS 8

/* Writes data (numel(shape) floats, row-major) as a .npy file that numpy.load reads as a
 * float32 array of `shape` (ndim 0..FCL_NPY_MAX_DIMS): the magic "\x93NUMPY", version 1.0, a
 * header dict {'descr': '<f4', 'fortran_order': False, 'shape': (...), } padded with spaces to
 * a 64-byte boundary and ended by '\n', then the values little-endian. Atomic: a temporary file
 * in the same folder, flushed and fsync'ed, renamed over path; on failure path is untouched. */
fcl_status fcl_npy_write_f32(const char *path, const float *data, int ndim, const size_t *shape,
                             fcl_error *err);

/* A loaded array. */
typedef struct fcl_npy {
    int ndim;
    size_t shape[FCL_NPY_MAX_DIMS];
    size_t numel;
    float *data;           /* malloc'd numel floats (NULL when numel is 0) */
} fcl_npy;

/* Reads a .npy of float32 (descr '<f4', or '|f4' / '=f4' on little-endian data), C order,
 * format version 1.0, 2.0 or 3.0. Everything is checked (magic, header length, dict syntax,
 * shape against the file size); errors name the file and what is wrong. Other dtypes are
 * FCL_ERR_UNSUPPORTED naming the descr. */
fcl_status fcl_npy_read_f32(const char *path, fcl_npy *out, fcl_error *err);
void fcl_npy_free(fcl_npy *a);

#ifdef __cplusplus
}
#endif
#endif
