/* host/nn/agc.c: adaptive gradient clipping (NFNet, timm's adaptive_clip_grad): unit table and launch. */
#include <limits.h>
#include <math.h>
#include <stdlib.h>

#include "facecl/optim.h"
#include "nn/optim_internal.h"
#include "ops/op_util.h"

/* Must match RED_WG in cl/optim.cl (agc_clip requires exactly this local size). */
#define RED_WG 64

struct fcl_agc {
    size_t numel;
    size_t n_units;
    cl_mem tab;            /* (start, count) int pairs, one per unit */
    size_t tab_capacity;
    float clip, eps;
};

size_t fcl_agc_units(const fcl_agc *a) { return a->n_units; }

void fcl_agc_destroy(fcl_ctx *ctx, fcl_agc *a)
{
    if (!a) return;
    if (a->tab) fcl_pool_free(ctx, a->tab, a->tab_capacity);
    free(a);
}

fcl_status fcl_agc_create(fcl_ctx *ctx, fcl_agc **out, size_t numel, const fcl_agc_tensor *tensors,
                          size_t n_tensors, double clip_factor, double eps)
{
    const char *op = "fcl_agc_create";
    fcl_status st = FCL_OK;
    fcl_agc *a = NULL;
    fcl_param_range *ranges = NULL;
    int *tab = NULL;
    if (!out || (n_tensors && !tensors))
        return FCL_ERR(fcl_ctx_error(ctx), FCL_ERR_INVALID_ARG, "%s: out or the tensor list is NULL", op);
    *out = NULL;
    if (!(clip_factor > 0) || !isfinite(clip_factor) || !(eps >= 0) || !isfinite(eps))
        return FCL_ERR(fcl_ctx_error(ctx), FCL_ERR_INVALID_ARG, "%s: clip_factor %g must be > 0 and eps %g >= 0 "
                       "(both finite)", op, clip_factor, eps);
    if (numel > (size_t)INT_MAX)
        return FCL_ERR(fcl_ctx_error(ctx), FCL_ERR_INVALID_ARG, "%s: %zu elements exceed the kernels' int indexing", op,
                       numel);
    ranges = calloc(n_tensors ? n_tensors : 1, sizeof *ranges);
    a = calloc(1, sizeof *a);
    if (!ranges || !a) {
        st = FCL_ERR(fcl_ctx_error(ctx), FCL_ERR_NOMEM, "%s: out of memory", op);
        goto fail;
    }
    size_t units = 0;
    for (size_t i = 0; i < n_tensors; i++) {
        const fcl_agc_tensor *t = &tensors[i];
        if (t->units == 0 || t->numel % t->units) {
            st = FCL_ERR(fcl_ctx_error(ctx), FCL_ERR_INVALID_ARG, "%s: tensor %zu: %zu units do not divide its %zu "
                         "elements", op, i, t->units, t->numel);
            goto fail;
        }
        ranges[i] = (fcl_param_range){t->offset, t->numel};
        units += t->units;
    }
    fcl_param_group grp = {fcl_sgd_defaults(0), ranges, n_tensors};
    if ((st = fcl_optim_check_ranges(ctx, op, numel, &grp, 1))) goto fail;
    a->numel = numel;
    a->n_units = units;
    a->clip = (float)clip_factor;
    a->eps = (float)eps;
    if (units) {
        tab = malloc(2 * units * sizeof *tab);
        if (!tab) {
            st = FCL_ERR(fcl_ctx_error(ctx), FCL_ERR_NOMEM, "%s: out of memory (%zu units)", op, units);
            goto fail;
        }
        size_t k = 0;
        for (size_t i = 0; i < n_tensors; i++) {
            size_t len = tensors[i].numel / tensors[i].units;
            for (size_t u = 0; u < tensors[i].units; u++, k++) {
                tab[2 * k] = (int)(tensors[i].offset + u * len);
                tab[2 * k + 1] = (int)len;
            }
        }
        size_t bytes = 2 * units * sizeof *tab;
        if ((st = fcl_pool_alloc(ctx, bytes, &a->tab, &a->tab_capacity))) goto fail;
        cl_int rc = clEnqueueWriteBuffer(fcl_ctx_queue(ctx), a->tab, CL_TRUE, 0, bytes, tab, 0, NULL, NULL);
        if (rc != CL_SUCCESS) {
            st = FCL_ERR(fcl_ctx_error(ctx), FCL_ERR_OPENCL, "%s: clEnqueueWriteBuffer(unit table, %zu bytes): %s", op,
                         bytes, fcl_cl_error_name(rc));
            goto fail;
        }
    }
    *out = a;
    a = NULL;
fail:
    fcl_agc_destroy(ctx, a);
    free(ranges);
    free(tab);
    return st;
}

fcl_status fcl_agc_apply(fcl_ctx *ctx, const fcl_agc *a, const fcl_tensor *params, fcl_tensor *grads)
{
    const char *op = "fcl_agc_apply";
    fcl_status st;
    cl_kernel k;
    if (!a) return FCL_ERR(fcl_ctx_error(ctx), FCL_ERR_INVALID_ARG, "%s: no AGC state", op);
    if ((st = fcl_op_check_t(ctx, op, "params", params)) || (st = fcl_op_check_t(ctx, op, "grads", grads)) ||
        (st = fcl_op_check_numel(ctx, op, "params", params, a->numel, "the size given to fcl_agc_create")) ||
        (st = fcl_op_check_numel(ctx, op, "grads", grads, a->numel, "the size given to fcl_agc_create")))
        return st;
    if (fcl_op_overlaps(params, grads))
        return FCL_ERR(fcl_ctx_error(ctx), FCL_ERR_INVALID_ARG, "%s: params and grads overlap", op);
    if (!a->n_units) return FCL_OK;
    if ((st = fcl_kernel_get(ctx, "optim.cl", "agc_clip", fcl_ctx_tuning(ctx, "eltwise"), &k))) return st;
    fcl_op_args g;
    fcl_op_args_init(&g, ctx, k, NULL);
    fcl_op_arg_t(&g, params);
    fcl_op_arg_t(&g, grads);
    fcl_op_arg_raw(&g, sizeof a->tab, &a->tab);
    fcl_op_arg_i(&g, (int)a->n_units);
    fcl_op_arg_f(&g, a->clip);
    fcl_op_arg_f(&g, a->eps);
    size_t global = a->n_units * RED_WG, local = RED_WG;
    if ((st = g.st)) return st;
    return fcl_kernel_run(ctx, k, 1, &global, &local);
}
