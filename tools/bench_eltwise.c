/* tools/bench_eltwise.c: `facecl bench ops` rows of the residual add (ResNet-18 block outputs). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

typedef struct add_bench {
    size_t n, c, hw;
    int acc;   /* 0: y = a + b, 1: y += x */
} add_bench;

typedef struct add_state {
    fcl_tensor a, b, y;
} add_state;

static void add_teardown(fcl_ctx *ctx, void *state)
{
    add_state *s = state;
    if (!s) return;
    fcl_tensor_release(ctx, &s->a);
    fcl_tensor_release(ctx, &s->b);
    fcl_tensor_release(ctx, &s->y);
    free(s);
}

static fcl_status add_setup(fcl_ctx *ctx, const bench_case *c, void **state)
{
    const add_bench *ab = c->params;
    add_state *s = calloc(1, sizeof *s);
    if (!s) return FCL_ERR(fcl_ctx_error(ctx), FCL_ERR_NOMEM, "bench add: out of memory");
    fcl_tensor *ts[3] = {&s->a, &s->b, &s->y};
    fcl_status st = FCL_OK;
    for (int i = 0; i < 3 && !st; i++) {
        st = fcl_tensor_alloc4(ctx, ts[i], ab->n, ab->c, ab->hw, ab->hw);
        if (!st) st = fcl_tensor_fill(ctx, ts[i], 0.25f);
    }
    if (st) {
        add_teardown(ctx, s);
        return st;
    }
    *state = s;
    return FCL_OK;
}

static fcl_status add_run(fcl_ctx *ctx, const bench_case *c, void *state)
{
    const add_bench *ab = c->params;
    add_state *s = state;
    /* the accumulate row adds 0.25 per rep: far from overflow for any --reps */
    return ab->acc ? fcl_add_acc(ctx, &s->y, &s->a) : fcl_add_fwd(ctx, &s->y, &s->a, &s->b);
}

static int add_rows(bench_list *list, const char *net, const char *layer, size_t n, size_t ch, size_t hw)
{
    for (int acc = 0; acc <= 1; acc++) {
        add_bench *ab = calloc(1, sizeof *ab);
        if (!ab) return -1;
        ab->n = n, ab->c = ch, ab->hw = hw, ab->acc = acc;
        bench_case c;
        memset(&c, 0, sizeof c);
        snprintf(c.op, sizeof c.op, acc ? "add_acc" : "add");
        /* no c.net: the per-network totals are the conv engineer's GFLOP/s sums; this
         * memory-bound row names its network in the shape instead */
        snprintf(c.shape, sizeof c.shape, "%s %s %zux%zux%zu^2", net, layer, n, ch, hw);
        /* the forward add is y = a + b; add_acc is what the backward of a residual does */
        snprintf(c.dir, sizeof c.dir, acc ? "bwd_data" : "fwd");
        c.bytes = 3.0 * (double)(n * ch * hw * hw) * sizeof(float);   /* read 2, write 1 */
        c.setup = add_setup;
        c.run = add_run;
        c.teardown = add_teardown;
        c.params = ab;
        if (bench_add(list, &c)) return -1;
    }
    return 0;
}

int bench_eltwise_cases(const bench_env *env, bench_list *list)
{
    size_t n = (size_t)env->batch;
    /* ResNet-18 stage sizes as in tools/bench_conv.c: stem /2, max pool /2, then /2 per stage */
    int s1 = fcl_conv2d_out_size(env->size, 7, 2, 3, 1);
    int r1 = fcl_conv2d_out_size(s1, 3, 2, 1, 1), r2 = fcl_conv2d_out_size(r1, 3, 2, 1, 1);
    int r3 = fcl_conv2d_out_size(r2, 3, 2, 1, 1), r4 = fcl_conv2d_out_size(r3, 3, 2, 1, 1);
    if (r4 < 1) return 0;   /* input too small for the network: no rows */
    const char *rn = "rn18";
    if (add_rows(list, rn, "layer1", n, 64, (size_t)r1) || add_rows(list, rn, "layer2", n, 128, (size_t)r2) ||
        add_rows(list, rn, "layer3", n, 256, (size_t)r3) || add_rows(list, rn, "layer4", n, 512, (size_t)r4))
        return -1;
    return 0;
}
