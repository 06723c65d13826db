/* host/runtime/tensor.c: tensor allocation, views, and host<->device transfers (all checked). */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "runtime/internal.h"

size_t fcl_dtype_size(fcl_dtype dt) { return dt == FCL_F16 ? 2 : 4; }

size_t fcl_tensor_numel(const fcl_tensor *t)
{
    size_t n = 1;
    for (int i = 0; i < t->ndim; i++) n *= t->shape[i];
    return t->ndim ? n : 0;
}

size_t fcl_tensor_bytes(const fcl_tensor *t) { return fcl_tensor_numel(t) * fcl_dtype_size(t->dtype); }

void fcl_tensor_shape_str(const fcl_tensor *t, char *buf, size_t size)
{
    size_t used = 0;
    buf[0] = '\0';
    used += (size_t)snprintf(buf, size, "[");
    for (int i = 0; i < t->ndim && used < size; i++)
        used += (size_t)snprintf(buf + used, size - used, i ? ", %zu" : "%zu", t->shape[i]);
    if (used < size) snprintf(buf + used, size - used, "]");
}

static fcl_status check_shape(fcl_ctx *ctx, const char *op, int ndim, const size_t *shape)
{
    if (ndim < 1 || ndim > FCL_MAX_DIMS)
        return FCL_ERR(&ctx->err, FCL_ERR_SHAPE, "%s: ndim must be 1..%d, got %d", op, FCL_MAX_DIMS, ndim);
    for (int i = 0; i < ndim; i++)
        if (shape[i] == 0) return FCL_ERR(&ctx->err, FCL_ERR_SHAPE, "%s: dimension %d is 0", op, i);
    return FCL_OK;
}

fcl_status fcl_tensor_alloc(fcl_ctx *ctx, fcl_tensor *t, int ndim, const size_t *shape, fcl_dtype dt)
{
    memset(t, 0, sizeof *t);
    fcl_status st = check_shape(ctx, "fcl_tensor_alloc", ndim, shape);
    if (st) return st;
    if (dt != FCL_F32) return FCL_ERR(&ctx->err, FCL_ERR_UNSUPPORTED, "fcl_tensor_alloc: only f32 tensors are implemented");
    t->ndim = ndim;
    memcpy(t->shape, shape, (size_t)ndim * sizeof *shape);
    t->dtype = dt;
    st = fcl_pool_alloc(ctx, fcl_tensor_bytes(t), &t->buf, &t->capacity);
    if (st) {
        memset(t, 0, sizeof *t);
        return st;
    }
    t->owned = 1;
    return FCL_OK;
}

fcl_status fcl_tensor_alloc4(fcl_ctx *ctx, fcl_tensor *t, size_t n, size_t c, size_t h, size_t w)
{
    size_t shape[4] = {n, c, h, w};
    return fcl_tensor_alloc(ctx, t, 4, shape, FCL_F32);
}

void fcl_tensor_release(fcl_ctx *ctx, fcl_tensor *t)
{
    if (!t) return;
    if (t->owned && t->buf) fcl_pool_free(ctx, t->buf, t->capacity);
    memset(t, 0, sizeof *t);
}

fcl_status fcl_tensor_view(fcl_ctx *ctx, const fcl_tensor *src, size_t elem_offset, int ndim, const size_t *shape,
                           fcl_tensor *out)
{
    fcl_status st = check_shape(ctx, "fcl_tensor_view", ndim, shape);
    if (st) return st;
    fcl_tensor v = {0};
    v.buf = src->buf;
    v.offset = src->offset + elem_offset;
    v.ndim = ndim;
    memcpy(v.shape, shape, (size_t)ndim * sizeof *shape);
    v.dtype = src->dtype;
    if (elem_offset + fcl_tensor_numel(&v) > fcl_tensor_numel(src)) {
        char s[96];
        fcl_tensor_shape_str(src, s, sizeof s);
        return FCL_ERR(&ctx->err, FCL_ERR_SHAPE, "fcl_tensor_view: %zu elements at offset %zu exceed the source %s",
                       fcl_tensor_numel(&v), elem_offset, s);
    }
    *out = v;
    return FCL_OK;
}

fcl_status fcl_tensor_reshape(fcl_ctx *ctx, const fcl_tensor *src, int ndim, const size_t *shape, fcl_tensor *out)
{
    fcl_tensor tmp = {0};
    tmp.ndim = ndim;
    for (int i = 0; i < ndim && i < FCL_MAX_DIMS; i++) tmp.shape[i] = shape[i];
    if (ndim >= 1 && ndim <= FCL_MAX_DIMS && fcl_tensor_numel(&tmp) != fcl_tensor_numel(src)) {
        char a[96], b[96];
        fcl_tensor_shape_str(src, a, sizeof a);
        fcl_tensor_shape_str(&tmp, b, sizeof b);
        return FCL_ERR(&ctx->err, FCL_ERR_SHAPE, "fcl_tensor_reshape: %s and %s differ in element count", a, b);
    }
    return fcl_tensor_view(ctx, src, 0, ndim, shape, out);
}

static fcl_status check_count(fcl_ctx *ctx, const char *op, const fcl_tensor *t, size_t count)
{
    if (!t->buf) return FCL_ERR(&ctx->err, FCL_ERR_INVALID_ARG, "%s: tensor has no buffer", op);
    if (count != fcl_tensor_numel(t)) {
        char s[96];
        fcl_tensor_shape_str(t, s, sizeof s);
        return FCL_ERR(&ctx->err, FCL_ERR_SHAPE, "%s: %zu values given for a tensor %s of %zu", op, count, s,
                       fcl_tensor_numel(t));
    }
    return FCL_OK;
}

fcl_status fcl_tensor_upload(fcl_ctx *ctx, fcl_tensor *t, const float *host, size_t count)
{
    fcl_status st = check_count(ctx, "fcl_tensor_upload", t, count);
    if (st) return st;
    cl_int rc = clEnqueueWriteBuffer(ctx->queue, t->buf, CL_TRUE, t->offset * sizeof(float), count * sizeof(float),
                                     host, 0, NULL, NULL);
    return FCL_CL(ctx, rc, "clEnqueueWriteBuffer(%zu floats)", count);
}

fcl_status fcl_tensor_download(fcl_ctx *ctx, const fcl_tensor *t, float *host, size_t count)
{
    fcl_status st = check_count(ctx, "fcl_tensor_download", t, count);
    if (st) return st;
    cl_int rc = clEnqueueReadBuffer(ctx->queue, t->buf, CL_TRUE, t->offset * sizeof(float), count * sizeof(float),
                                    host, 0, NULL, NULL);
    return FCL_CL(ctx, rc, "clEnqueueReadBuffer(%zu floats)", count);
}

/* f32 tensors whose offset and end fit the kernel's int indexing go through runtime.cl's fill_f32
 * (vectorised, on every compute unit: PoCL's clEnqueueFillBuffer is a scalar loop on one thread,
 * measured 7.5% of a MobileNetV2 training step zeroing gradient buffers); others through
 * clEnqueueFillBuffer. */
fcl_status fcl_tensor_fill(fcl_ctx *ctx, fcl_tensor *t, float value)
{
    size_t n = fcl_tensor_numel(t);
    if (!t->buf) return FCL_ERR(&ctx->err, FCL_ERR_INVALID_ARG, "fcl_tensor_fill: tensor has no buffer");
    if (t->dtype == FCL_F32 && t->offset + n <= (size_t)INT_MAX - 16) {
        cl_kernel k;
        int off = (int)t->offset, count = (int)n;
        size_t global = (n + 15) / 16;
        fcl_status st = fcl_kernel_get(ctx, "runtime.cl", "fill_f32", "", &k);
        if (!st) st = fcl_kernel_arg(ctx, k, 0, sizeof(cl_mem), &t->buf);
        if (!st) st = fcl_kernel_arg(ctx, k, 1, sizeof(int), &off);
        if (!st) st = fcl_kernel_arg(ctx, k, 2, sizeof(float), &value);
        if (!st) st = fcl_kernel_arg(ctx, k, 3, sizeof(int), &count);
        return st ? st : fcl_kernel_run(ctx, k, 1, &global, NULL);
    }
    cl_int rc = clEnqueueFillBuffer(ctx->queue, t->buf, &value, sizeof value, t->offset * sizeof(float),
                                    n * sizeof(float), 0, NULL, NULL);
    return FCL_CL(ctx, rc, "clEnqueueFillBuffer(%zu floats)", n);
}

fcl_status fcl_tensor_copy(fcl_ctx *ctx, fcl_tensor *dst, const fcl_tensor *src)
{
    size_t n = fcl_tensor_numel(src);
    fcl_status st = check_count(ctx, "fcl_tensor_copy", dst, n);
    if (st) return st;
    if (dst->buf == src->buf && dst->offset == src->offset) return FCL_OK;
    if (dst->buf == src->buf && dst->offset < src->offset + n && src->offset < dst->offset + n)
        return FCL_ERR(&ctx->err, FCL_ERR_INVALID_ARG, "fcl_tensor_copy: source and destination overlap");
    cl_int rc = clEnqueueCopyBuffer(ctx->queue, src->buf, dst->buf, src->offset * sizeof(float),
                                    dst->offset * sizeof(float), n * sizeof(float), 0, NULL, NULL);
    return FCL_CL(ctx, rc, "clEnqueueCopyBuffer(%zu floats)", n);
}
