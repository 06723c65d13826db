/* host/runtime/context.c: creating and destroying a context, and its small accessors. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "facecl/gemm.h"
#include "facecl/tune_cache.h"
#include "runtime/internal.h"

fcl_status fcl_cl_fail(fcl_ctx *ctx, cl_int rc, const char *file, int line, const char *fmt, ...)
{
    char what[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return fcl_error_set(&ctx->err, FCL_ERR_OPENCL, file, line, "%s: %s", what, fcl_cl_error_name(rc));
}

static void pick_wg1d(fcl_ctx *ctx)
{
    /* GPUs want 256-wide groups; CPUs (PoCL) do best with modest groups that it can vectorise. */
    size_t wg = (ctx->dev.type & CL_DEVICE_TYPE_GPU) ? 256 : 64;
    if (ctx->dev.max_work_group && wg > ctx->dev.max_work_group) wg = ctx->dev.max_work_group;
    ctx->wg1d = wg ? wg : 1;
}

fcl_status fcl_ctx_create(fcl_ctx **out, const fcl_ctx_opts *opts, fcl_error *err)
{
    fcl_status st = FCL_OK;
    fcl_device_info *devs = NULL;
    size_t ndev = 0, chosen = 0;
    fcl_ctx *ctx = NULL;
    fcl_ctx_opts defaults = {0};
    if (!opts) opts = &defaults;
    *out = NULL;

    st = fcl_devices_list(&devs, &ndev, err);
    if (st) goto fail;
    const char *sel = opts->device ? opts->device : getenv("FACECL_DEVICE");
    st = opts->device_rank > 0 ? fcl_device_select_rank(sel, devs, ndev, opts->device_rank, &chosen, err)
                               : fcl_device_select(sel, devs, ndev, &chosen, err);
    if (st) goto fail;

    ctx = calloc(1, sizeof *ctx);
    if (!ctx) { st = FCL_ERR(err, FCL_ERR_NOMEM, "out of host memory creating a context"); goto fail; }
    ctx->dev = devs[chosen];
    fcl_rng_seed(&ctx->rng, opts->seed);
    pick_wg1d(ctx);
    fcl_tuning_init(ctx);   /* the table's defaults for this device type */

    cl_int rc = CL_SUCCESS;
    cl_context_properties props[] = {CL_CONTEXT_PLATFORM, (cl_context_properties)ctx->dev.platform_id, 0};
    ctx->context = clCreateContext(props, 1, &ctx->dev.device_id, NULL, NULL, &rc);
    if (rc != CL_SUCCESS) {
        st = FCL_ERR(err, FCL_ERR_OPENCL, "clCreateContext(%s): %s", ctx->dev.name, fcl_cl_error_name(rc));
        goto fail;
    }
    cl_command_queue_properties qp = opts->profiling ? CL_QUEUE_PROFILING_ENABLE : 0;
    ctx->profiling = opts->profiling != 0;
    ctx->queue = clCreateCommandQueue(ctx->context, ctx->dev.device_id, qp, &rc);
    if (rc != CL_SUCCESS) {
        st = FCL_ERR(err, FCL_ERR_OPENCL, "clCreateCommandQueue(%s): %s", ctx->dev.name, fcl_cl_error_name(rc));
        goto fail;
    }

    const char *no_cache = getenv("FACECL_NO_CACHE");
    if (!opts->no_disk_cache && !(no_cache && *no_cache && strcmp(no_cache, "0"))) {
        if (opts->cache_dir) snprintf(ctx->cache_dir, sizeof ctx->cache_dir, "%s", opts->cache_dir);
        else fcl_default_cache_dir(ctx->cache_dir, sizeof ctx->cache_dir);
        fcl_cache_dir_check(ctx);
    }

    /* Tuning values: the table's defaults (above), then this device's tuned values from the
     * tuning cache (`facecl tune`: applied here through fcl_ctx_tuning_set_family), then
     * $FACECL_TUNING, which wins. */
    fcl_tune_cache_load(ctx); /* `facecl tune`'s results; a bad file only warns (host/runtime/tune_cache.c) */
    if ((st = fcl_tuning_from_env(ctx, err))) goto fail;

    /* Tuned CLBlast parameters for this device, if someone tuned it (file in the cache folder). */
    if (ctx->cache_dir[0]) {
        char path[1200];
        int applied = 0;
        fcl_gemm_tuning_path(ctx, path, sizeof path);
        if (fcl_gemm_load_tuning(ctx, path, &applied)) {
            if (err) *err = ctx->err;
            st = ctx->err.status;
            goto fail;
        }
    }
    *out = ctx;
    ctx = NULL;
fail:
    fcl_ctx_destroy(ctx);
    fcl_devices_free(devs);
    return st;
}

void fcl_ctx_destroy(fcl_ctx *ctx)
{
    if (!ctx) return;
    if (ctx->queue) clFinish(ctx->queue);
    fcl_profile_free(ctx);
    for (size_t i = 0; i < ctx->n_progs; i++) {
        fcl_prog_entry *p = &ctx->progs[i];
        for (size_t k = 0; k < p->n_kernels; k++) {
            clReleaseKernel(p->kernels[k].kernel);
            free(p->kernels[k].name);
        }
        free(p->kernels);
        if (p->program) clReleaseProgram(p->program);
        free(p->source_name);
        free(p->options);
        free(p->built);
    }
    free(ctx->progs);
    fcl_ctx_pool_trim(ctx);
    free(ctx->free_blocks);
    if (ctx->queue) clReleaseCommandQueue(ctx->queue);
    if (ctx->context) clReleaseContext(ctx->context);
    free(ctx);
}

fcl_error *fcl_ctx_error(fcl_ctx *ctx) { return &ctx->err; }
const char *fcl_ctx_errmsg(const fcl_ctx *ctx) { return ctx->err.msg; }
const fcl_device_info *fcl_ctx_device(const fcl_ctx *ctx) { return &ctx->dev; }
cl_command_queue fcl_ctx_queue(const fcl_ctx *ctx) { return ctx->queue; }
const char *fcl_ctx_cache_dir(const fcl_ctx *ctx) { return ctx->cache_dir; }
const char *fcl_ctx_warning(const fcl_ctx *ctx) { return ctx->warning[0] ? ctx->warning : NULL; }
int fcl_ctx_last_program_origin(const fcl_ctx *ctx) { return ctx->last_origin; }
size_t fcl_ctx_wg1d(const fcl_ctx *ctx) { return ctx->wg1d; }
fcl_rng *fcl_ctx_rng(fcl_ctx *ctx) { return &ctx->rng; }

fcl_status fcl_ctx_finish(fcl_ctx *ctx)
{
    cl_int rc = clFinish(ctx->queue);
    return FCL_CL(ctx, rc, "clFinish");
}
