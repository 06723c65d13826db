/* host/runtime/pool.c: a caching device allocator, so a training step in steady state allocates nothing. */
#include <stdlib.h>
#include <string.h>

#include "runtime/internal.h"

/* Size classes: multiples of 256 B up to 64 KiB, then 8 steps per power of two (<= 12.5% waste).
 * The same request always maps to the same class, so steady-state requests hit exactly. */
static size_t size_class(size_t bytes)
{
    if (bytes == 0) bytes = 1;
    if (bytes <= 65536) return (bytes + 255) & ~(size_t)255;
    size_t p = 65536;
    while (p * 2 < bytes) p *= 2;
    size_t step = p / 8;
    return (bytes + step - 1) / step * step;
}

fcl_status fcl_pool_alloc(fcl_ctx *ctx, size_t bytes, cl_mem *out, size_t *capacity)
{
    size_t need = size_class(bytes);
    ctx->pool.requests++;
    *out = NULL;
    if (ctx->dev.max_alloc && need > ctx->dev.max_alloc)
        return FCL_ERR(&ctx->err, FCL_ERR_INVALID_ARG,
                       "allocation of %zu bytes exceeds the device's CL_DEVICE_MAX_MEM_ALLOC_SIZE (%llu) on %s", bytes,
                       (unsigned long long)ctx->dev.max_alloc, ctx->dev.name);

    /* Only a block of exactly this size class is reused. Lending a bigger block to a smaller
     * request would let the next step's mix of requests miss and allocate again; with exact
     * classes, once every class has had its peak count of live blocks, nothing new is made. */
    size_t best = (size_t)-1;
    for (size_t i = 0; i < ctx->n_free; i++) {
        if (ctx->free_blocks[i].capacity == need) {
            best = i;
            break;
        }
    }
    if (best != (size_t)-1) {
        *out = ctx->free_blocks[best].buf;
        *capacity = ctx->free_blocks[best].capacity;
        ctx->free_blocks[best] = ctx->free_blocks[--ctx->n_free];
    } else {
        cl_int rc = CL_SUCCESS;
        cl_mem m = clCreateBuffer(ctx->context, CL_MEM_READ_WRITE, need, NULL, &rc);
        if (rc == CL_MEM_OBJECT_ALLOCATION_FAILURE || rc == CL_OUT_OF_RESOURCES || rc == CL_OUT_OF_HOST_MEMORY) {
            fcl_ctx_pool_trim(ctx); /* give cached blocks back and try once more */
            m = clCreateBuffer(ctx->context, CL_MEM_READ_WRITE, need, NULL, &rc);
        }
        if (rc != CL_SUCCESS)
            return fcl_cl_fail(ctx, rc, __FILE__, __LINE__, "clCreateBuffer(%zu bytes; %llu in use)", need,
                               (unsigned long long)ctx->pool.in_use);
        ctx->pool.device_allocs++;
        ctx->pool.reserved += need;
        *out = m;
        *capacity = need;
    }
    ctx->pool.in_use += *capacity;
    if (ctx->pool.in_use > ctx->pool.peak) ctx->pool.peak = ctx->pool.in_use;
    return FCL_OK;
}

void fcl_pool_free(fcl_ctx *ctx, cl_mem buf, size_t capacity)
{
    if (!buf) return;
    ctx->pool.in_use -= capacity;
    if (ctx->n_free == ctx->cap_free) {
        size_t cap = ctx->cap_free ? ctx->cap_free * 2 : 64;
        fcl_pool_block *nb = realloc(ctx->free_blocks, cap * sizeof *nb);
        if (!nb) { /* cannot cache it: release it instead */
            ctx->pool.reserved -= capacity;
            clReleaseMemObject(buf);
            return;
        }
        ctx->free_blocks = nb;
        ctx->cap_free = cap;
    }
    ctx->free_blocks[ctx->n_free].buf = buf;
    ctx->free_blocks[ctx->n_free].capacity = capacity;
    ctx->n_free++;
}

void fcl_ctx_pool_trim(fcl_ctx *ctx)
{
    for (size_t i = 0; i < ctx->n_free; i++) {
        ctx->pool.reserved -= ctx->free_blocks[i].capacity;
        clReleaseMemObject(ctx->free_blocks[i].buf);
    }
    ctx->n_free = 0;
}

void fcl_ctx_pool_stats(const fcl_ctx *ctx, fcl_pool_stats *out) { *out = ctx->pool; }
