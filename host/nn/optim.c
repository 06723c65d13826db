/* host/nn/optim.c: SGD and AdamW optimizers over flat parameter buffers (groups, chunk tables, state, launches). */
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "facecl/optim.h"
#include "nn/optim_internal.h"
#include "ops/op_util.h"
#include "runtime/free_list.h"

/* Chunks of a group are `chunk` elements long (the last one of a range shorter): one
 * work-group each, of `wg` work-items doing FCL_VEC elements per pass, CHUNK_PASSES passes. */
#define CHUNK_PASSES 16

struct fcl_optim {
    fcl_optim_kind kind;
    size_t numel;
    size_t n_groups;
    fcl_optim_hparams *hp;      /* [n_groups], live (callers and schedules edit them) */
    int64_t *mom_started;       /* [n_groups] SGD: momentum buffer started */
    size_t *tab_first;          /* [n_groups] index of the group's first chunk in the table */
    size_t *n_chunks;           /* [n_groups] */
    size_t total_chunks;
    cl_mem tab;                 /* int pairs (start, count) per chunk; NULL when no chunks */
    size_t tab_capacity;
    fcl_tensor state[2];        /* SGD: momentum (maybe absent); AdamW: exp_avg, exp_avg_sq */
    const char *state_name[2];
    size_t n_state;
    int64_t step;
    size_t wg;                  /* local size of the update kernels */
};

fcl_optim_hparams fcl_sgd_defaults(double lr)
{
    fcl_optim_hparams h = {0};
    h.lr = lr;
    h.beta1 = 0.9;
    h.beta2 = 0.999;
    h.eps = 1e-8;
    return h;
}

fcl_optim_hparams fcl_adamw_defaults(double lr)
{
    fcl_optim_hparams h = fcl_sgd_defaults(lr);
    h.weight_decay = 1e-2;
    return h;
}

static int finite_nonneg(double x) { return isfinite(x) && x >= 0.0; }

/* Hyperparameters of group g, with torch's constraints. */
static fcl_status check_hp(fcl_ctx *ctx, const char *op, fcl_optim_kind kind, size_t g,
                           const fcl_optim_hparams *h)
{
    fcl_error *e = fcl_ctx_error(ctx);
    if (!finite_nonneg(h->lr))
        return FCL_ERR(e, FCL_ERR_INVALID_ARG, "%s: group %zu: invalid learning rate %g", op, g, h->lr);
    if (!finite_nonneg(h->weight_decay))
        return FCL_ERR(e, FCL_ERR_INVALID_ARG, "%s: group %zu: invalid weight_decay %g", op, g,
                       h->weight_decay);
    if (kind == FCL_OPTIM_SGD) {
        if (!finite_nonneg(h->momentum))
            return FCL_ERR(e, FCL_ERR_INVALID_ARG, "%s: group %zu: invalid momentum %g", op, g,
                           h->momentum);
        if (!isfinite(h->dampening))
            return FCL_ERR(e, FCL_ERR_INVALID_ARG, "%s: group %zu: invalid dampening %g", op, g,
                           h->dampening);
        if (h->nesterov && (h->momentum <= 0.0 || h->dampening != 0.0))
            return FCL_ERR(e, FCL_ERR_INVALID_ARG, "%s: group %zu: Nesterov momentum requires a "
                           "momentum > 0 and zero dampening (momentum %g, dampening %g)", op, g,
                           h->momentum, h->dampening);
    } else {
        if (!(h->beta1 >= 0.0 && h->beta1 < 1.0) || !(h->beta2 >= 0.0 && h->beta2 < 1.0))
            return FCL_ERR(e, FCL_ERR_INVALID_ARG, "%s: group %zu: betas (%g, %g) must be in [0, 1)",
                           op, g, h->beta1, h->beta2);
        if (!finite_nonneg(h->eps))
            return FCL_ERR(e, FCL_ERR_INVALID_ARG, "%s: group %zu: invalid eps %g", op, g, h->eps);
    }
    return FCL_OK;
}

/* A range with the group it came from, for the overlap check. */
typedef struct tagged_range {
    size_t offset, count, group, index;
} tagged_range;

static int cmp_range(const void *a, const void *b)
{
    const tagged_range *x = a, *y = b;
    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

/* Ranges inside [0, numel), non-empty, disjoint across all groups. */
static fcl_status check_ranges(fcl_ctx *ctx, const char *op, size_t numel,
                               const fcl_param_group *groups, size_t n_groups)
{
    fcl_status st = FCL_OK;
    size_t total = 0;
    for (size_t g = 0; g < n_groups; g++) {
        if (groups[g].n_ranges && !groups[g].ranges)
            return FCL_ERR(fcl_ctx_error(ctx), FCL_ERR_INVALID_ARG, "%s: group %zu has %zu ranges but no "
                           "range array", op, g, groups[g].n_ranges);
        total += groups[g].n_ranges;
    }
    tagged_range *all = total ? malloc(total * sizeof *all) : NULL;
    if (total && !all)
        return FCL_ERR(fcl_ctx_error(ctx), FCL_ERR_NOMEM, "%s: out of memory (%zu ranges)", op, total);
    size_t k = 0;
    for (size_t g = 0; g < n_groups; g++) {
        for (size_t r = 0; r < groups[g].n_ranges; r++) {
            const fcl_param_range *pr = &groups[g].ranges[r];
            if (pr->count == 0 || pr->offset >= numel || pr->count > numel - pr->offset) {
                st = FCL_ERR(fcl_ctx_error(ctx), FCL_ERR_INVALID_ARG, "%s: group %zu range %zu (offset %zu, "
                             "count %zu) is empty or outside the %zu-element buffer", op, g, r,
                             pr->offset, pr->count, numel);
                goto fail;
            }
            all[k++] = (tagged_range){pr->offset, pr->count, g, r};
        }
    }
    if (total) qsort(all, total, sizeof *all, cmp_range);
    for (size_t i = 1; i < total; i++) {
        const tagged_range *a = &all[i - 1], *b = &all[i];
        if (b->offset < a->offset + a->count) {
            st = FCL_ERR(fcl_ctx_error(ctx), FCL_ERR_INVALID_ARG, "%s: group %zu range %zu [%zu, %zu) overlaps "
                         "group %zu range %zu [%zu, %zu)", op, a->group, a->index, a->offset,
                         a->offset + a->count, b->group, b->index, b->offset, b->offset + b->count);
            goto fail;
        }
    }
fail:
    free(all);
    return st;
}

fcl_status fcl_optim_check_ranges(fcl_ctx *ctx, const char *op, size_t numel, const fcl_param_group *groups,
                                  size_t n_groups)
{
    return check_ranges(ctx, op, numel, groups, n_groups);
}

/* The update kernel of the optimizer kind, built with the "eltwise" tuning defines. */
static fcl_status get_kernel(fcl_ctx *ctx, fcl_optim_kind kind, cl_kernel *k)
{
    return fcl_kernel_get(ctx, "optim.cl", kind == FCL_OPTIM_SGD ? "sgd_step" : "adamw_step",
                          fcl_ctx_tuning(ctx, "eltwise"), k);
}

/* Cuts every group's ranges into chunks and uploads the (start, count) table. */
static fcl_status build_table(fcl_ctx *ctx, fcl_optim *o, const fcl_param_group *groups,
                              size_t chunk)
{
    const char *op = "fcl_optim_create";
    fcl_status st = FCL_OK;
    int *tab = NULL;
    size_t total = 0;
    for (size_t g = 0; g < o->n_groups; g++) {
        o->tab_first[g] = total;
        for (size_t r = 0; r < groups[g].n_ranges; r++)
            total += fcl_op_div_up(groups[g].ranges[r].count, chunk);
        o->n_chunks[g] = total - o->tab_first[g];
    }
    o->total_chunks = total;
    if (total == 0) return FCL_OK;
    if (2 * total > (size_t)INT_MAX) {
        st = FCL_ERR(fcl_ctx_error(ctx), FCL_ERR_INVALID_ARG, "%s: too many chunks (%zu)", op, total);
        goto fail;
    }
    tab = malloc(2 * total * sizeof *tab);
    if (!tab) {
        st = FCL_ERR(fcl_ctx_error(ctx), FCL_ERR_NOMEM, "%s: out of memory (chunk table of %zu)", op, total);
        goto fail;
    }
    size_t k = 0;
    for (size_t g = 0; g < o->n_groups; g++)
        for (size_t r = 0; r < groups[g].n_ranges; r++) {
            const fcl_param_range *pr = &groups[g].ranges[r];
            for (size_t s = 0; s < pr->count; s += chunk) {
                tab[2 * k] = (int)(pr->offset + s);
                tab[2 * k + 1] = (int)(pr->count - s < chunk ? pr->count - s : chunk);
                k++;
            }
        }
    size_t bytes = 2 * total * sizeof *tab;
    if ((st = fcl_pool_alloc(ctx, bytes, &o->tab, &o->tab_capacity)))
        goto fail;
    cl_int rc = clEnqueueWriteBuffer(fcl_ctx_queue(ctx), o->tab, CL_TRUE, 0, bytes, tab, 0, NULL, NULL);
    if (rc != CL_SUCCESS) {
        st = FCL_ERR(fcl_ctx_error(ctx), FCL_ERR_OPENCL, "%s: clEnqueueWriteBuffer(chunk table, %zu bytes): %s",
                     op, bytes, fcl_cl_error_name(rc));
        goto fail;
    }
fail:
    free(tab);
    return st;
}

static fcl_status add_state(fcl_ctx *ctx, fcl_optim *o, const char *name)
{
    fcl_tensor *t = &o->state[o->n_state];
    size_t shape[1] = {o->numel};
    fcl_status st;
    if ((st = fcl_tensor_alloc(ctx, t, 1, shape, FCL_F32)))
        return st;
    o->state_name[o->n_state++] = name;
    return fcl_tensor_fill(ctx, t, 0.0f);
}

fcl_status fcl_optim_create(fcl_ctx *ctx, fcl_optim **out, fcl_optim_kind kind, size_t numel,
                            const fcl_param_group *groups, size_t n_groups)
{
    const char *op = "fcl_optim_create";
    fcl_status st = FCL_OK;
    fcl_optim *o = NULL;
    cl_kernel k;
    *out = NULL;
    if (kind != FCL_OPTIM_SGD && kind != FCL_OPTIM_ADAMW) {
        st = FCL_ERR(fcl_ctx_error(ctx), FCL_ERR_INVALID_ARG, "%s: unknown optimizer kind %d", op, (int)kind);
        goto fail;
    }
    if (numel == 0 || numel > (size_t)INT_MAX || n_groups == 0 || !groups) {
        st = FCL_ERR(fcl_ctx_error(ctx), FCL_ERR_INVALID_ARG, "%s: need 1..INT_MAX elements and at least one "
                     "group (numel %zu, %zu groups)", op, numel, n_groups);
        goto fail;
    }
    for (size_t g = 0; g < n_groups; g++)
        if ((st = check_hp(ctx, op, kind, g, &groups[g].hp)))
            goto fail;
    if ((st = check_ranges(ctx, op, numel, groups, n_groups)))
        goto fail;

    o = calloc(1, sizeof *o);
    if (!o || !(o->hp = calloc(n_groups, sizeof *o->hp)) ||
        !(o->mom_started = calloc(n_groups, sizeof *o->mom_started)) ||
        !(o->tab_first = calloc(n_groups, sizeof *o->tab_first)) ||
        !(o->n_chunks = calloc(n_groups, sizeof *o->n_chunks))) {
        st = FCL_ERR(fcl_ctx_error(ctx), FCL_ERR_NOMEM, "%s: out of memory", op);
        goto fail;
    }
    o->kind = kind;
    o->numel = numel;
    o->n_groups = n_groups;
    for (size_t g = 0; g < n_groups; g++) o->hp[g] = groups[g].hp;

    /* Build the kernel now: a build error surfaces at creation, and the local size is known. */
    int vec = fcl_tuning_int(ctx, FCL_T_ELTWISE_VEC), wanted = fcl_tuning_int(ctx, FCL_T_ELTWISE_WG);
    if ((st = get_kernel(ctx, kind, &k)))
        goto fail;
    if ((st = fcl_op_reduce_wg(ctx, k, wanted > 0 ? (size_t)wanted : 64, &o->wg)))
        goto fail;
    if ((st = build_table(ctx, o, groups, o->wg * (size_t)vec * CHUNK_PASSES)))
        goto fail;

    int need_mom = 0;
    for (size_t g = 0; g < n_groups; g++) need_mom |= groups[g].hp.momentum != 0.0;
    if (kind == FCL_OPTIM_SGD && need_mom && (st = add_state(ctx, o, "momentum_buffer")))
        goto fail;
    if (kind == FCL_OPTIM_ADAMW &&
        ((st = add_state(ctx, o, "exp_avg")) || (st = add_state(ctx, o, "exp_avg_sq"))))
        goto fail;
    *out = o;
    return FCL_OK;
fail:
    fcl_optim_destroy(ctx, o);
    return st;
}

void fcl_optim_destroy(fcl_ctx *ctx, fcl_optim *o)
{
    if (!o) return;
    for (size_t i = 0; i < o->n_state; i++) fcl_tensor_release(ctx, &o->state[i]);
    if (o->tab) fcl_pool_free(ctx, o->tab, o->tab_capacity);
    FCL_FREE_ALL(o->hp, o->mom_started, o->tab_first, o->n_chunks, o);
}

fcl_optim_kind fcl_optim_kind_of(const fcl_optim *o) { return o->kind; }
size_t fcl_optim_numel(const fcl_optim *o) { return o->numel; }
size_t fcl_optim_group_count(const fcl_optim *o) { return o->n_groups; }

fcl_optim_hparams *fcl_optim_hparams_of(fcl_optim *o, size_t g)
{
    return g < o->n_groups ? &o->hp[g] : NULL;
}

double fcl_optim_lr(const fcl_optim *o, size_t g) { return g < o->n_groups ? o->hp[g].lr : NAN; }

fcl_status fcl_optim_set_lr(fcl_ctx *ctx, fcl_optim *o, size_t g, double lr)
{
    if (g >= o->n_groups || !finite_nonneg(lr))
        return FCL_ERR(fcl_ctx_error(ctx), FCL_ERR_INVALID_ARG, "fcl_optim_set_lr: bad group %zu (of %zu) or "
                       "learning rate %g", g, o->n_groups, lr);
    o->hp[g].lr = lr;
    return FCL_OK;
}

/* A raw buffer argument (the chunk table), in the fcl_op_args sequence. */
static void arg_mem(fcl_op_args *a, cl_mem m)
{
    if (a->st == FCL_OK) a->st = fcl_kernel_arg(a->ctx, a->k, a->i, sizeof m, &m);
    a->i++;
}

/* Launches the update of group g (argument order of sgd_step / adamw_step in cl/optim.cl). */
static fcl_status launch_group(fcl_ctx *ctx, fcl_optim *o, size_t g, cl_kernel k,
                               fcl_tensor *params, const fcl_tensor *grads)
{
    const fcl_optim_hparams *h = &o->hp[g];
    fcl_op_args a;
    fcl_op_args_init(&a, ctx, k, params->buf);
    fcl_op_arg_t(&a, params);
    fcl_op_arg_t(&a, grads);
    if (o->kind == FCL_OPTIM_SGD) {
        /* Without momentum the kernel never touches buf: NULL binds the dummy. */
        fcl_op_arg_t(&a, h->momentum != 0.0 ? &o->state[0] : NULL);
    } else {
        fcl_op_arg_t(&a, &o->state[0]);
        fcl_op_arg_t(&a, &o->state[1]);
    }
    arg_mem(&a, o->tab);
    fcl_op_arg_i(&a, (int)(2 * o->tab_first[g]));
    fcl_op_arg_i(&a, (int)o->n_chunks[g]);
    if (o->kind == FCL_OPTIM_SGD) {
        int use_mom = h->momentum != 0.0;
        fcl_op_arg_f(&a, (float)h->lr);
        fcl_op_arg_f(&a, (float)h->weight_decay);
        fcl_op_arg_f(&a, (float)h->momentum);
        fcl_op_arg_f(&a, (float)(1.0 - h->dampening));
        fcl_op_arg_i(&a, h->nesterov ? 1 : 0);
        fcl_op_arg_i(&a, use_mom && !o->mom_started[g]);
        fcl_op_arg_i(&a, use_mom);
    } else {
        double t = (double)(o->step + 1);
        fcl_op_arg_f(&a, (float)(1.0 - h->lr * h->weight_decay));
        fcl_op_arg_f(&a, (float)h->beta1);
        fcl_op_arg_f(&a, (float)(1.0 - h->beta1));
        fcl_op_arg_f(&a, (float)h->beta2);
        fcl_op_arg_f(&a, (float)(1.0 - h->beta2));
        fcl_op_arg_f(&a, (float)(h->lr / (1.0 - pow(h->beta1, t))));
        fcl_op_arg_f(&a, (float)sqrt(1.0 - pow(h->beta2, t)));
        fcl_op_arg_f(&a, (float)h->eps);
    }
    if (a.st) return a.st;
    size_t global = o->n_chunks[g] * o->wg, local = o->wg;
    return fcl_kernel_run(ctx, k, 1, &global, &local);
}

fcl_status fcl_optim_step(fcl_ctx *ctx, fcl_optim *o, fcl_tensor *params, const fcl_tensor *grads)
{
    const char *op = "fcl_optim_step";
    fcl_status st;
    cl_kernel k;
    if ((st = fcl_op_check(ctx, op, "params", params, 1, FCL_MAX_DIMS)) ||
        (st = fcl_op_check(ctx, op, "grads", grads, 1, FCL_MAX_DIMS)) ||
        (st = fcl_op_check_numel(ctx, op, "params", params, o->numel, "the optimizer's numel")) ||
        (st = fcl_op_check_numel(ctx, op, "grads", grads, o->numel, "the optimizer's numel")))
        goto fail;
    if (fcl_op_overlaps(params, grads)) {
        st = FCL_ERR(fcl_ctx_error(ctx), FCL_ERR_INVALID_ARG, "%s: params and grads overlap", op);
        goto fail;
    }
    for (size_t g = 0; g < o->n_groups; g++) {
        if ((st = check_hp(ctx, op, o->kind, g, &o->hp[g])))
            goto fail;
        if (o->kind == FCL_OPTIM_SGD && o->hp[g].momentum != 0.0 && o->n_state == 0) {
            st = FCL_ERR(fcl_ctx_error(ctx), FCL_ERR_INVALID_ARG, "%s: group %zu now has momentum %g, but the "
                         "optimizer was created without momentum (no momentum buffer)", op, g,
                         o->hp[g].momentum);
            goto fail;
        }
    }
    if ((st = get_kernel(ctx, o->kind, &k)))
        goto fail;
    for (size_t g = 0; g < o->n_groups; g++) {
        if (o->n_chunks[g] == 0) continue;
        if ((st = launch_group(ctx, o, g, k, params, grads)))
            goto fail;
        if (o->kind == FCL_OPTIM_SGD && o->hp[g].momentum != 0.0) o->mom_started[g] = 1;
    }
    o->step++;
    return FCL_OK;
fail:
    return st;
}

fcl_status fcl_optim_zero_grad(fcl_ctx *ctx, fcl_tensor *grads)
{
    fcl_status st;
    if ((st = fcl_op_check(ctx, "fcl_optim_zero_grad", "grads", grads, 1, FCL_MAX_DIMS)))
        return st;
    return fcl_tensor_fill(ctx, grads, 0.0f);
}

size_t fcl_optim_state_count(const fcl_optim *o) { return o->n_state; }

fcl_tensor *fcl_optim_state(fcl_optim *o, size_t i, const char **name)
{
    if (i >= o->n_state) return NULL;
    if (name) *name = o->state_name[i];
    return &o->state[i];
}

size_t fcl_optim_scalar_count(const fcl_optim *o) { return 1 + o->n_groups; }

void fcl_optim_get_scalars(const fcl_optim *o, int64_t *out)
{
    out[0] = o->step;
    for (size_t g = 0; g < o->n_groups; g++) out[1 + g] = o->mom_started[g];
}

fcl_status fcl_optim_set_scalars(fcl_ctx *ctx, fcl_optim *o, const int64_t *in, size_t n)
{
    const char *op = "fcl_optim_set_scalars";
    if (n != 1 + o->n_groups)
        return FCL_ERR(fcl_ctx_error(ctx), FCL_ERR_SHAPE, "%s: got %zu values, the optimizer has %zu (step "
                       "count + one per group)", op, n, 1 + o->n_groups);
    if (in[0] < 0)
        return FCL_ERR(fcl_ctx_error(ctx), FCL_ERR_INVALID_ARG, "%s: negative step count %lld", op,
                       (long long)in[0]);
    for (size_t g = 0; g < o->n_groups; g++)
        if (in[1 + g] != 0 && in[1 + g] != 1)
            return FCL_ERR(fcl_ctx_error(ctx), FCL_ERR_INVALID_ARG, "%s: group %zu: momentum flag %lld is "
                           "not 0 or 1", op, g, (long long)in[1 + g]);
    o->step = in[0];
    for (size_t g = 0; g < o->n_groups; g++) o->mom_started[g] = in[1 + g];
    return FCL_OK;
}

int64_t fcl_optim_steps(const fcl_optim *o) { return o->step; }
