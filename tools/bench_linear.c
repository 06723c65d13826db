/* tools/bench_linear.c: `facecl bench ops` rows of the fully connected classifier head (512 -> classes). */
#include <stdio.h>

#include "bench.h"

enum { DIR_FWD, DIR_DATA, DIR_WEIGHT };
static const char *const dir_names[] = {"fwd", "bwd_data", "bwd_weight"};
enum { X, W, B, Y };   /* y doubles as dy in the backward rows, b as db */

static fcl_status linear_run(fcl_ctx *ctx, const bench_case *c, fcl_tensor *t, void *state)
{
    (void)state;
    switch (c->kind) {
    case DIR_FWD: return fcl_linear_fwd(ctx, &t[Y], &t[X], &t[W], &t[B]);
    case DIR_DATA: return fcl_linear_bwd(ctx, &t[X], NULL, NULL, &t[Y], NULL, &t[W]);
    default: return fcl_linear_bwd(ctx, NULL, &t[W], &t[B], &t[Y], &t[X], NULL);   /* dw and db */
    }
}

/* The three rows of one classifier head `in -> out` at batch n. */
static int add_linear(bench_list *list, const char *label, size_t n, size_t in, size_t out)
{
    for (int d = DIR_FWD; d <= DIR_WEIGHT; d++) {
        bench_case *c = bench_row(list, "linear", "", dir_names[d], linear_run);
        if (!c) return -1;
        c->kind = d;
        snprintf(c->shape, sizeof c->shape, "%s %zux%zu>%zu%s", label, n, in, out,
                 d == DIR_WEIGHT ? " +db" : d == DIR_FWD ? " +b" : "");
        c->flops = 2.0 * (double)n * (double)in * (double)out;
        /* x = 0.5, w = 0.01, dy = 0.01: plain normal floats however many reps accumulate */
        bench_tensor_set(c, X, 2, n, in, 0, 0, BENCH_CONST, 0.5f);
        bench_tensor_set(c, W, 2, out, in, 0, 0, BENCH_CONST, 0.01f);
        bench_tensor_set(c, B, 1, out, 0, 0, 0, BENCH_CONST, 0.0f);
        bench_tensor_set(c, Y, 2, n, out, 0, 0, BENCH_CONST, 0.01f);
    }
    return 0;
}

int bench_linear_cases(const bench_env *env, bench_list *list)
{
    /* a 512-d embedding onto the identities of ORL (40) at --batch, and of HW2P2 (8631) and
     * CASIA-WebFace (10575) at issue 9's batches 64 and 128 */
    if (add_linear(list, "orl head", (size_t)env->batch, 512, 40))
        return -1;
    for (size_t n = 64; n <= 128; n *= 2)
        if (add_linear(list, "hw2p2 head", n, 512, 8631) || add_linear(list, "casia head", n, 512, 10575))
            return -1;
    return 0;
}
