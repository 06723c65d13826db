/* tools/bench_loss.c: `facecl bench ops` rows of the label-smoothed softmax cross-entropy at classifier sizes. */
#include <stdio.h>

#include "bench.h"

enum { LOGITS, LABELS, LOSS, DLOGITS };

static fcl_status xent_run(fcl_ctx *ctx, const bench_case *c, fcl_tensor *t, void *state)
{
    (void)state;
    fcl_xent_params p = {0.1f};
    if (c->kind) return fcl_softmax_xent_bwd(ctx, &t[DLOGITS], &t[LOGITS], &t[LABELS], &p, 1.0f);
    return fcl_softmax_xent_fwd(ctx, &t[LOSS], NULL, &t[LOGITS], &t[LABELS], &p);
}

static int add_xent(bench_list *list, const char *label, size_t n, size_t k)
{
    for (int bwd = 0; bwd <= 1; bwd++) {
        bench_case *c = bench_row(list, "softmax_xent", "", bwd ? "bwd_data" : "fwd", xent_run);
        if (!c) return -1;
        c->kind = bwd;
        snprintf(c->shape, sizeof c->shape, "%s %zux%zu ls0.1", label, n, k);
        /* fwd reads the logits; bwd reads them and reads + writes dlogits */
        c->bytes = (bwd ? 3.0 : 1.0) * (double)(n * k) * sizeof(float);
        bench_tensor_set(c, LOGITS, 2, n, k, 0, 0, BENCH_CONST, 0.5f);
        bench_tensor_set(c, LABELS, 1, n, 0, 0, 0, BENCH_LABELS, (float)k);
        bench_tensor_set(c, LOSS, 1, 1, 0, 0, 0, BENCH_CONST, 0.0f);
        bench_tensor_set(c, DLOGITS, 2, n, k, 0, 0, BENCH_CONST, 0.0f);
    }
    return 0;
}

int bench_loss_cases(const bench_env *env, bench_list *list)
{
    size_t n = (size_t)env->batch;
    if (add_xent(list, "orl", n, 40) || add_xent(list, "casia", n, 10575)) return -1;
    return 0;
}
