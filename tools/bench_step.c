/* tools/bench_step.c: one training step of a whole network on random inputs, as `facecl bench net` times it and `facecl tune` measures it. */
#include <stdlib.h>

#include "bench.h"

fcl_status bench_train_step(fcl_ctx *ctx, fcl_net *net, fcl_optim *opt, const fcl_tensor *x, const fcl_tensor *y,
                            fcl_tensor *loss, fcl_tensor *dlogits, fcl_ddp *ddp)
{
    fcl_xent_params xp = {0};
    fcl_status st = fcl_net_forward(net, x, 1);
    if (!st) st = fcl_softmax_xent_fwd(ctx, loss, NULL, fcl_net_output(net), y, &xp);
    if (!st) st = fcl_tensor_fill(ctx, dlogits, 0.0f);
    if (!st) st = fcl_softmax_xent_bwd(ctx, dlogits, fcl_net_output(net), y, &xp, 1.0f);
    if (!st) st = fcl_optim_zero_grad(ctx, fcl_net_grads(net));
    if (!st) st = fcl_net_backward(net, dlogits, NULL);
    if (!st && ddp) st = fcl_ddp_finish(ddp);
    if (!st) st = fcl_optim_step(ctx, opt, fcl_net_params(net), fcl_net_grads(net));
    return st;
}

fcl_status bench_step_run(void *u)
{
    bench_step *s = u;
    return bench_train_step(s->ctx, s->net, s->opt, &s->x, &s->y, &s->loss, &s->dlogits, s->ddp);
}

fcl_status bench_step_new_optim(bench_step *s)
{
    fcl_optim_destroy(s->ctx, s->opt);
    s->opt = NULL;
    fcl_param_group g[2] = {{fcl_sgd_defaults(0.01), s->rd, s->nd}, {fcl_sgd_defaults(0.01), s->rn, s->nn}};
    g[0].hp.momentum = g[1].hp.momentum = 0.9;
    g[0].hp.weight_decay = 5e-4;
    return fcl_optim_create(s->ctx, &s->opt, FCL_OPTIM_SGD, fcl_tensor_numel(fcl_net_params(s->net)), g, 2);
}

fcl_status bench_step_setup(bench_step *s, fcl_ctx *ctx, const fcl_model *m, int batch)
{
    fcl_net_opts no = {batch, 0};
    size_t nb = (size_t)batch, one = 1, nx = nb * (size_t)(m->channels * m->in_h * m->in_w);
    s->ctx = ctx;
    fcl_status st = fcl_net_create(ctx, m, &no, &s->net);
    if (!st) st = fcl_net_param_ranges(s->net, &s->rd, &s->nd, &s->rn, &s->nn);
    if (!st) st = bench_step_new_optim(s);
    if (!st) st = fcl_tensor_alloc4(ctx, &s->x, nb, (size_t)m->channels, (size_t)m->in_h, (size_t)m->in_w);
    if (!st) st = fcl_tensor_alloc(ctx, &s->y, 1, &nb, FCL_F32);
    if (!st) st = fcl_tensor_alloc(ctx, &s->loss, 1, &one, FCL_F32);
    if (!st) st = fcl_tensor_alloc4(ctx, &s->dlogits, nb, (size_t)m->classes, 1, 1);
    if (!st) { /* inputs N(0, 1) and labels uniform over the classes, from seed 1 */
        float *hx = malloc(nx * sizeof *hx);
        int *hy = malloc(nb * sizeof *hy);
        fcl_rng r;
        fcl_rng_seed(&r, 1);
        for (size_t i = 0; hx && i < nx; i++) hx[i] = fcl_rng_normal(&r);
        for (size_t i = 0; hy && i < nb; i++) hy[i] = (int)(fcl_rng_next(&r) % (uint64_t)m->classes);
        st = hx && hy ? fcl_tensor_upload(ctx, &s->x, hx, nx) : FCL_ERR(fcl_ctx_error(ctx), FCL_ERR_NOMEM, "out of memory");
        if (!st) st = fcl_labels_upload(ctx, &s->y, hy, nb, m->classes);
        free(hx);
        free(hy);
    }
    return st;
}

void bench_step_free(bench_step *s)
{
    if (!s->ctx) return;
    fcl_tensor *all[] = {&s->x, &s->y, &s->loss, &s->dlogits};
    for (size_t i = 0; i < 4; i++) fcl_tensor_release(s->ctx, all[i]);
    fcl_optim_destroy(s->ctx, s->opt);
    free(s->rd);
    free(s->rn);
    fcl_net_destroy(s->net);
}
