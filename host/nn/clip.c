/* host/nn/clip.c: gradient clipping by global L2 norm (torch clip_grad_norm_), a deterministic two-stage reduction plus scale. */
#include <math.h>

#include "facecl/optim.h"
#include "ops/op_util.h"

/* Must match RED_WG in cl/optim.cl (the kernels require exactly this local size). */
#define RED_WG 64
/* Stage 1 uses at most MAX_PARTS work-groups of about ELEMS_PER_PART elements or more each.
 * Both depend only on the element count, so the summation tree does too. */
#define MAX_PARTS 256
#define ELEMS_PER_PART 4096

/* A raw buffer argument in the fcl_op_args sequence. */
static void arg_mem(fcl_op_args *a, cl_mem m)
{
    if (a->st == FCL_OK) a->st = fcl_kernel_arg(a->ctx, a->k, a->i, sizeof m, &m);
    a->i++;
}

fcl_status fcl_clip_grad_norm(fcl_ctx *ctx, fcl_tensor *grads, double max_norm, double *total_norm)
{
    const char *op = "fcl_clip_grad_norm";
    fcl_status st;
    cl_mem part = NULL, out = NULL;
    size_t part_cap = 0, out_cap = 0;
    cl_kernel k1, k2, k3;
    const char *defs = fcl_ctx_tuning(ctx, "eltwise");
    int vec = fcl_tuning_int(ctx, FCL_T_ELTWISE_VEC);
    if ((st = fcl_op_check(ctx, op, "grads", grads, 1, FCL_MAX_DIMS)))
        goto fail;
    if (isnan(max_norm) || max_norm < 0.0) {
        st = FCL_ERR(fcl_ctx_error(ctx), FCL_ERR_INVALID_ARG, "%s: max_norm must be >= 0 (or INFINITY to only "
                     "measure), got %g", op, max_norm);
        goto fail;
    }
    if ((st = fcl_kernel_get(ctx, "optim.cl", "sumsq_partial", defs, &k1)) ||
        (st = fcl_kernel_get(ctx, "optim.cl", "sumsq_final", defs, &k2)) ||
        (st = fcl_kernel_get(ctx, "optim.cl", "scale_by_coef", defs, &k3)))
        goto fail;

    size_t n = fcl_tensor_numel(grads);
    size_t nparts = fcl_op_div_up(n, ELEMS_PER_PART);
    if (nparts > MAX_PARTS) nparts = MAX_PARTS;
    size_t per = fcl_op_div_up(n, nparts);
    if ((st = fcl_pool_alloc(ctx, nparts * sizeof(float), &part, &part_cap)) ||
        (st = fcl_pool_alloc(ctx, 2 * sizeof(float), &out, &out_cap)))
        goto fail;

    /* stage 1: partial sums of squares, one work-group per block */
    fcl_op_args a;
    fcl_op_args_init(&a, ctx, k1, NULL);
    arg_mem(&a, part);
    fcl_op_arg_t(&a, grads);
    fcl_op_arg_i(&a, (int)n);
    fcl_op_arg_i(&a, (int)per);
    fcl_op_arg_i(&a, (int)nparts);
    size_t global = nparts * RED_WG, local = RED_WG;
    if ((st = a.st) || (st = fcl_kernel_run(ctx, k1, 1, &global, &local)))
        goto fail;

    /* stage 2: the norm and the clip coefficient into out[0..1] */
    fcl_op_args_init(&a, ctx, k2, NULL);
    arg_mem(&a, out);
    arg_mem(&a, part);
    fcl_op_arg_i(&a, (int)nparts);
    fcl_op_arg_f(&a, isinf(max_norm) ? INFINITY : (float)max_norm);
    global = RED_WG;
    if ((st = a.st) || (st = fcl_kernel_run(ctx, k2, 1, &global, &local)))
        goto fail;

    /* stage 3: scale in place when the coefficient (read on the device) is below 1 */
    if (!isinf(max_norm)) {
        fcl_op_args_init(&a, ctx, k3, NULL);
        fcl_op_arg_t(&a, grads);
        fcl_op_arg_i(&a, (int)n);
        arg_mem(&a, out);
        global = fcl_op_div_up(n, (size_t)vec);
        local = fcl_ctx_wg1d(ctx);
        if ((st = a.st) || (st = fcl_kernel_run(ctx, k3, 1, &global, &local)))
            goto fail;
    }

    if (total_norm) {
        float norm;
        cl_int rc = clEnqueueReadBuffer(fcl_ctx_queue(ctx), out, CL_TRUE, 0, sizeof norm, &norm, 0,
                                        NULL, NULL);
        if (rc != CL_SUCCESS) {
            st = FCL_ERR(fcl_ctx_error(ctx), FCL_ERR_OPENCL, "%s: clEnqueueReadBuffer(norm): %s", op,
                         fcl_cl_error_name(rc));
            goto fail;
        }
        *total_norm = norm;
    }
fail:
    /* The in-order queue runs the kernels above before any later user of these blocks. */
    if (part) fcl_pool_free(ctx, part, part_cap);
    if (out) fcl_pool_free(ctx, out, out_cap);
    return st;
}
