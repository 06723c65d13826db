/* tools/bench_loss.c: `facecl bench ops` rows of the label-smoothed softmax cross-entropy at classifier sizes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

typedef struct xent_bench {
    size_t n, k;
    int bwd;
} xent_bench;

typedef struct xent_state {
    fcl_tensor logits, labels, loss, dlogits;
} xent_state;

static void xent_teardown(fcl_ctx *ctx, void *state)
{
    xent_state *s = state;
    if (!s) return;
    fcl_tensor_release(ctx, &s->logits);
    fcl_tensor_release(ctx, &s->labels);
    fcl_tensor_release(ctx, &s->loss);
    fcl_tensor_release(ctx, &s->dlogits);
    free(s);
}

static fcl_status xent_setup(fcl_ctx *ctx, const bench_case *c, void **state)
{
    const xent_bench *xb = c->params;
    xent_state *s = calloc(1, sizeof *s);
    if (!s) return FCL_ERR(fcl_ctx_error(ctx), FCL_ERR_NOMEM, "bench xent: out of memory");
    size_t sz[2] = {xb->n, xb->k}, one = 1;
    int *lab = malloc(xb->n * sizeof *lab);
    fcl_status st = lab ? FCL_OK : FCL_ERR(fcl_ctx_error(ctx), FCL_ERR_NOMEM, "bench xent: out of memory");
    for (size_t i = 0; lab && i < xb->n; i++) lab[i] = (int)((i * 7919) % xb->k);
    if (!st) st = fcl_tensor_alloc(ctx, &s->logits, 2, sz, FCL_F32);
    if (!st) st = fcl_tensor_fill(ctx, &s->logits, 0.5f);
    if (!st) st = fcl_tensor_alloc(ctx, &s->labels, 1, &xb->n, FCL_F32);
    if (!st) st = fcl_labels_upload(ctx, &s->labels, lab, xb->n, (int)xb->k);
    if (!st) st = fcl_tensor_alloc(ctx, &s->loss, 1, &one, FCL_F32);
    if (!st) st = fcl_tensor_alloc(ctx, &s->dlogits, 2, sz, FCL_F32);
    if (!st) st = fcl_tensor_fill(ctx, &s->dlogits, 0.0f);
    free(lab);
    if (st) {
        xent_teardown(ctx, s);
        return st;
    }
    *state = s;
    return FCL_OK;
}

static fcl_status xent_run(fcl_ctx *ctx, const bench_case *c, void *state)
{
    const xent_bench *xb = c->params;
    xent_state *s = state;
    fcl_xent_params p = {0.1f};
    if (xb->bwd) return fcl_softmax_xent_bwd(ctx, &s->dlogits, &s->logits, &s->labels, &p, 1.0f);
    return fcl_softmax_xent_fwd(ctx, &s->loss, NULL, &s->logits, &s->labels, &p);
}

static int add_xent(bench_list *list, const char *label, size_t n, size_t k)
{
    for (int bwd = 0; bwd <= 1; bwd++) {
        xent_bench *xb = calloc(1, sizeof *xb);
        if (!xb) return -1;
        xb->n = n, xb->k = k, xb->bwd = bwd;
        bench_case c;
        memset(&c, 0, sizeof c);
        snprintf(c.op, sizeof c.op, "softmax_xent");
        snprintf(c.shape, sizeof c.shape, "%s %zux%zu ls0.1", label, n, k);
        snprintf(c.dir, sizeof c.dir, bwd ? "bwd_data" : "fwd");
        /* fwd reads the logits; bwd reads them and reads + writes dlogits */
        c.bytes = (bwd ? 3.0 : 1.0) * (double)(n * k) * sizeof(float);
        c.setup = xent_setup;
        c.run = xent_run;
        c.teardown = xent_teardown;
        c.params = xb;
        if (bench_add(list, &c)) return -1;
    }
    return 0;
}

int bench_loss_cases(const bench_env *env, bench_list *list)
{
    size_t n = (size_t)env->batch;
    if (add_xent(list, "orl", n, 40) || add_xent(list, "casia", n, 10575)) return -1;
    return 0;
}
