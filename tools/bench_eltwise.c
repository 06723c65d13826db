/* tools/bench_eltwise.c: `facecl bench ops` rows of the residual add (ResNet-18 block outputs). */
#include <stdio.h>

#include "bench.h"

enum { A, B, Y };

static fcl_status add_run(fcl_ctx *ctx, const bench_case *c, fcl_tensor *t, void *state)
{
    (void)state;
    /* the accumulate row adds 0.25 per rep: far from overflow for any --reps */
    return c->kind ? fcl_add_acc(ctx, &t[Y], &t[A]) : fcl_add_fwd(ctx, &t[Y], &t[A], &t[B]);
}

static int add_rows(bench_list *list, const char *net, const char *layer, size_t n, size_t ch, size_t hw)
{
    for (int acc = 0; acc <= 1; acc++) {
        /* no net: the per-network totals are the conv rows' GFLOP/s sums; this memory-bound row
         * names its network in the shape instead. The forward add is y = a + b; add_acc is what
         * the backward of a residual does. */
        bench_case *c = bench_row(list, acc ? "add_acc" : "add", "", acc ? "bwd_data" : "fwd", add_run);
        if (!c) return -1;
        c->kind = acc;
        snprintf(c->shape, sizeof c->shape, "%s %s %zux%zux%zu^2", net, layer, n, ch, hw);
        c->bytes = 3.0 * (double)(n * ch * hw * hw) * sizeof(float);   /* read 2, write 1 */
        for (int i = A; i <= Y; i++) bench_tensor_set(c, i, 4, n, ch, hw, hw, BENCH_CONST, 0.25f);
    }
    return 0;
}

int bench_eltwise_cases(const bench_env *env, bench_list *list)
{
    size_t n = (size_t)env->batch;
    int stem, r[4];
    bench_rn18_sizes(env->size, &stem, r);
    if (r[3] < 1) return 0;   /* input too small for the network: no rows */
    static const size_t ch[4] = {64, 128, 256, 512};
    static const char *const layers[4] = {"layer1", "layer2", "layer3", "layer4"};
    for (int i = 0; i < 4; i++)
        if (add_rows(list, "rn18", layers[i], n, ch[i], (size_t)r[i])) return -1;
    return 0;
}
