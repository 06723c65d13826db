/* tools/bench_linear.c: `facecl bench ops` rows of the fully connected classifier head (512 -> classes). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

enum { DIR_FWD, DIR_DATA, DIR_WEIGHT };
static const char *const dir_names[] = {"fwd", "bwd_data", "bwd_weight"};

typedef struct linear_bench {
    size_t n, in, out;
    int dir;
} linear_bench;

typedef struct linear_state {
    fcl_tensor x, w, b, y;   /* y doubles as dy in the backward rows; b as db */
} linear_state;

static void linear_teardown(fcl_ctx *ctx, void *state)
{
    linear_state *s = state;
    if (!s) return;
    fcl_tensor_release(ctx, &s->x);
    fcl_tensor_release(ctx, &s->w);
    fcl_tensor_release(ctx, &s->b);
    fcl_tensor_release(ctx, &s->y);
    free(s);
}

static fcl_status alloc_filled(fcl_ctx *ctx, fcl_tensor *t, size_t n0, size_t n1, float v)
{
    size_t shape[2] = {n0, n1};
    fcl_status st = fcl_tensor_alloc(ctx, t, n1 ? 2 : 1, shape, FCL_F32);
    if (st == FCL_OK) st = fcl_tensor_fill(ctx, t, v);
    return st;
}

static fcl_status linear_setup(fcl_ctx *ctx, const bench_case *c, void **state)
{
    const linear_bench *lb = c->params;
    linear_state *s = calloc(1, sizeof *s);
    if (!s) return FCL_ERR(fcl_ctx_error(ctx), FCL_ERR_NOMEM, "bench linear: out of memory");
    /* x = 0.5, w = 0.01, dy = 0.01: plain normal floats however many reps accumulate */
    fcl_status st = alloc_filled(ctx, &s->x, lb->n, lb->in, 0.5f);
    if (!st) st = alloc_filled(ctx, &s->w, lb->out, lb->in, 0.01f);
    if (!st) st = alloc_filled(ctx, &s->b, lb->out, 0, 0.0f);
    if (!st) st = alloc_filled(ctx, &s->y, lb->n, lb->out, 0.01f);
    if (st) {
        linear_teardown(ctx, s);
        return st;
    }
    *state = s;
    return FCL_OK;
}

static fcl_status linear_run(fcl_ctx *ctx, const bench_case *c, void *state)
{
    const linear_bench *lb = c->params;
    linear_state *s = state;
    switch (lb->dir) {
    case DIR_FWD: return fcl_linear_fwd(ctx, &s->y, &s->x, &s->w, &s->b);
    case DIR_DATA: return fcl_linear_bwd(ctx, &s->x, NULL, NULL, &s->y, NULL, &s->w);
    default: return fcl_linear_bwd(ctx, NULL, &s->w, &s->b, &s->y, &s->x, NULL);   /* dw and db */
    }
}

/* The three rows of one classifier head `in -> out` at batch n. */
static int add_linear(bench_list *list, const char *label, size_t n, size_t in, size_t out)
{
    for (int d = DIR_FWD; d <= DIR_WEIGHT; d++) {
        linear_bench *lb = calloc(1, sizeof *lb);
        if (!lb) return -1;
        lb->n = n, lb->in = in, lb->out = out, lb->dir = d;
        bench_case c;
        memset(&c, 0, sizeof c);
        snprintf(c.op, sizeof c.op, "linear");
        snprintf(c.shape, sizeof c.shape, "%s %zux%zu>%zu%s", label, n, in, out,
                 d == DIR_WEIGHT ? " +db" : d == DIR_FWD ? " +b" : "");
        snprintf(c.dir, sizeof c.dir, "%s", dir_names[d]);
        c.flops = 2.0 * (double)n * (double)in * (double)out;
        c.setup = linear_setup;
        c.run = linear_run;
        c.teardown = linear_teardown;
        c.params = lb;
        if (bench_add(list, &c)) return -1;
    }
    return 0;
}

int bench_linear_cases(const bench_env *env, bench_list *list)
{
    size_t n = (size_t)env->batch;
    /* a 512-d embedding onto the identities of ORL (40) and of a CASIA-WebFace-sized set (10575) */
    if (add_linear(list, "orl head", n, 512, 40) || add_linear(list, "casia head", n, 512, 10575))
        return -1;
    return 0;
}
