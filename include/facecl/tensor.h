/* facecl/tensor.h: device tensors (NCHW, f32) backed by pooled buffers, with views and transfers. */
#ifndef FACECL_TENSOR_H
#define FACECL_TENSOR_H

#include "context.h"

#ifdef __cplusplus
extern "C" {
#endif

#define FCL_MAX_DIMS 4

typedef enum fcl_dtype { FCL_F32 = 0, FCL_F16 = 1 } fcl_dtype;

/* A device buffer region. `offset` is in elements, because OpenCL sub-buffers need aligned
 * origins: kernels take (buffer, offset) pairs instead. Shapes are outermost-first (N, C, H, W);
 * a tensor of fewer dims uses the first `ndim` entries. A view shares its parent's buffer and
 * owns nothing (`owned` 0); releasing a view is a no-op. */
typedef struct fcl_tensor {
    cl_mem buf;
    size_t offset;
    int ndim;
    size_t shape[FCL_MAX_DIMS];
    fcl_dtype dtype;
    int owned;
    size_t capacity;           /* bytes of the pooled block (owned tensors) */
} fcl_tensor;

size_t fcl_dtype_size(fcl_dtype dt);
size_t fcl_tensor_numel(const fcl_tensor *t);
size_t fcl_tensor_bytes(const fcl_tensor *t);
/* "[32, 64, 56, 56]" */
void fcl_tensor_shape_str(const fcl_tensor *t, char *buf, size_t size);

/* Allocates from the context pool. Shape entries must be > 0. */
fcl_status fcl_tensor_alloc(fcl_ctx *ctx, fcl_tensor *t, int ndim, const size_t *shape, fcl_dtype dt);
/* Shorthand for 4-D f32 (n, c, h, w). */
fcl_status fcl_tensor_alloc4(fcl_ctx *ctx, fcl_tensor *t, size_t n, size_t c, size_t h, size_t w);
/* Returns an owned tensor's block to the pool and zeroes *t; views are just zeroed. */
void fcl_tensor_release(fcl_ctx *ctx, fcl_tensor *t);

/* A view of `numel(shape)` elements starting `elem_offset` elements into `src` (bounds-checked). */
fcl_status fcl_tensor_view(fcl_ctx *ctx, const fcl_tensor *src, size_t elem_offset, int ndim,
                           const size_t *shape, fcl_tensor *out);
/* Same elements, another shape of equal numel. */
fcl_status fcl_tensor_reshape(fcl_ctx *ctx, const fcl_tensor *src, int ndim, const size_t *shape,
                              fcl_tensor *out);

/* Blocking transfers of exactly numel(t) f32 values (count must equal it). */
fcl_status fcl_tensor_upload(fcl_ctx *ctx, fcl_tensor *t, const float *host, size_t count);
fcl_status fcl_tensor_download(fcl_ctx *ctx, const fcl_tensor *t, float *host, size_t count);
fcl_status fcl_tensor_fill(fcl_ctx *ctx, fcl_tensor *t, float value);
/* dst and src must have equal numel; shapes may differ. */
fcl_status fcl_tensor_copy(fcl_ctx *ctx, fcl_tensor *dst, const fcl_tensor *src);

/* Low-level pooled buffers (the tensor functions use these). */
fcl_status fcl_pool_alloc(fcl_ctx *ctx, size_t bytes, cl_mem *out, size_t *capacity);
void fcl_pool_free(fcl_ctx *ctx, cl_mem buf, size_t capacity);

#ifdef __cplusplus
}
#endif
#endif
