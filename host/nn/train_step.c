/* host/nn/train_step.c: the step loop: one epoch of batches, each step's forward, loss terms, backward and updates, and the divergence check. */
#include "nn/train_guard.h"
#include "nn/trainer_internal.h"

/* Forward, every loss term, backward, updates. *loss_out: the weighted loss; *correct: top-1 hits
 * of the classification term. */
static fcl_status train_step(trainer *t, const fcl_batch *b, double *loss_out, size_t *correct)
{
    fcl_ctx *ctx = t->ctx;
    const fcl_train_config *c = t->cfg;
    fcl_error e = {0};
    size_t n = (size_t)b->n;
    const int ranks = fcl_dist_size(c->dist);
    fcl_tensor x, y;
    fcl_tr_terms o = {0};
    fcl_status st = fcl_tr_load_batch(t, b, &x, &y);
    if (!st) t->last_n = n;
    if (!st) st = fcl_net_forward(t->net, &x, 1);
    if (!st) st = fcl_tr_loss_terms(t, b, &y, &o);
    if (st) {
        free(o.host_scores);
        return st;
    }
    double total = o.total;
    int need_demb = o.need_demb;
    fcl_tensor *pe = &o.pe, *py = &o.py, *demb = &o.demb;
    if (!st && !isfinite(total))
        st = FCL_ERR(fcl_ctx_error(ctx), FCL_ERR_INVALID_ARG,
                     "training diverged: loss is %g at step %lld (lower --lr, or use --clip)", total, (long long)t->step + 1);
    if (!st) st = fcl_optim_zero_grad(ctx, fcl_net_grads(t->net));
    if (!st) {
        fcl_tensor dl_all;
        int has_ce = t->ce_term >= 0;
        if (has_ce) st = flat2(ctx, &t->dlogits, n, 0, n, &dl_all);
        if (!st) st = fcl_net_backward(t->net, has_ce ? &dl_all : NULL, need_demb ? demb : NULL);
    }
    if (!st && t->ddp) st = fcl_ddp_finish(t->ddp);
    if (!st && t->head_opt && ranks > 1) st = fcl_dist_average_tensor(ctx, c->dist, &t->head_dw);
    if (!st && c->clip_norm > 0) st = fcl_clip_grad_norm(ctx, fcl_net_grads(t->net), c->clip_norm, NULL);
    if (!st && t->agc) st = fcl_agc_apply(ctx, t->agc, fcl_net_params(t->net), fcl_net_grads(t->net));
    if (!st) st = fcl_optim_step(ctx, t->opt, fcl_net_params(t->net), fcl_net_grads(t->net));
    if (!st && t->head_opt) {
        if (c->clip_norm > 0) st = fcl_clip_grad_norm(ctx, &t->head_dw, c->clip_norm, NULL);
        if (!st) st = fcl_optim_step(ctx, t->head_opt, &t->head_w, &t->head_dw);
    }
    if (!st && t->center_term >= 0) st = fcl_center_update(ctx, &t->centers, pe, py, (float)c->center_alpha);
    if (!st && fcl_sched_config_of(t->sched)->unit == FCL_SCHED_PER_ITER &&
        fcl_sched_config_of(t->sched)->kind != FCL_SCHED_PLATEAU) {
        st = take(ctx, fcl_sched_on_iter(t->sched, &e), &e);
        if (!st) st = fcl_sched_apply(ctx, t->sched, t->opt);
        if (!st && t->head_opt) st = fcl_optim_set_lr(ctx, t->head_opt, 0, fcl_sched_lr(t->sched, 0));
    }
    if (!st && o.host_scores) { /* past the divergence check (a NaN score makes the loss NaN) */
        size_t hits[2] = {0, 0};
        st = fcl_tr_hits(t, o.host_scores, b->labels, n, 1, hits);
        *correct += hits[0];
    }
    free(o.host_scores);
    *loss_out = total;
    t->step++;
    return st;
}

/* Parameters (and margin-head weights, centres) that are no longer finite: a diverged run, said
 * as such before validation or verification trips over NaN logits or embeddings. */
static fcl_status check_diverged(trainer *t, int epoch)
{
    const fcl_tensor *ts[4] = {fcl_net_params(t->net), fcl_net_buffers(t->net), t->head_term >= 0 ? &t->head_w : NULL,
                               t->center_term >= 0 ? &t->centers : NULL};
    static const char *what[4] = {"network parameters", "batch-norm running statistics", "margin-head weights",
                                  "class centres"};
    for (int i = 0; i < 4; i++) {
        size_t bad;
        if (!ts[i] || !fcl_tensor_numel(ts[i])) continue;
        fcl_status st = fcl_tensor_check_finite(t->ctx, ts[i], &bad);
        if (st) return st;
        if (bad != (size_t)-1)
            return FCL_ERR(fcl_ctx_error(t->ctx), FCL_ERR_INVALID_ARG,
                           "training diverged: the %s are not finite (element %zu) after step %lld, epoch %d "
                           "(lower --lr, or use --clip)",
                           what[i], bad, (long long)t->step, epoch);
    }
    /* finite weights can still overflow in inference (huge running variances): the last training
     * batch through the network as validation will run it */
    /* only the rows the last step filled: the rest of t->x is stale or was never written (a P x K
     * batch of 32 under --batch 64 read 32 uninitialised rows and failed now and then) */
    size_t bad, n = t->last_n;
    if (!n) return FCL_OK;
    fcl_tensor x, emb;
    fcl_status st = rows(t->ctx, &t->x, n, &x);
    if (!st) st = fcl_net_forward(t->net, &x, 0);
    if (!st) st = flat2(t->ctx, fcl_net_output(t->net), n, 0, n, &emb);
    if (!st) st = fcl_tensor_check_finite(t->ctx, &emb, &bad);
    if (!st && bad != (size_t)-1)
        st = FCL_ERR(fcl_ctx_error(t->ctx), FCL_ERR_INVALID_ARG,
                     "training diverged: the network's outputs in inference are not finite after step %lld, epoch %d "
                     "(lower --lr, or use --clip)",
                     (long long)t->step, epoch);
    return st;
}

fcl_status fcl_tr_train_epoch(trainer *t, int64_t ep, double t0, double *loss_sum, size_t *seen, size_t *correct)
{
    fcl_ctx *ctx = t->ctx;
    const fcl_train_config *cfg = t->cfg;
    fcl_error e = {0};
    size_t done = 0;
    fcl_status st = take(ctx, fcl_loader_start_epoch(t->loader, (int)ep, &e), &e);
    if (st) return st;
    for (;;) {
        const fcl_batch *b = NULL;
        st = take(ctx, fcl_loader_next(t->loader, &b, &e), &e);
        if (st) return st;
        if (!b) break;
        double l = 0;
        st = train_step(t, b, &l, correct);
        if (st) return st;
        *loss_sum += l * b->n;
        *seen += (size_t)b->n;
        done++;
        fcl_train_event ev = {0};
        ev.kind = FCL_EV_BATCH;
        ev.epoch = (int)ep + 1;
        ev.epochs = cfg->epochs;
        ev.done = done;
        ev.total = t->steps_per_epoch;
        ev.loss = *loss_sum / (double)*seen;
        ev.images_per_s = (double)*seen / (now_s() - t0);
        if (emit(t, &ev)) break;
    }
    {
        fcl_strlist w = {0};
        if (!fcl_loader_take_warnings(t->loader, &w, &e))
            for (size_t i = 0; i < w.n; i++) info(t, FCL_EV_WARNING, "%s", w.items[i]);
        fcl_strlist_free(&w);
    }
    if (t->stop) return FCL_OK;
    if ((st = check_diverged(t, (int)ep + 1))) return st; /* before validation reads NaN logits */
    /* the global batch's loss and accuracy: sums over ranks */
    double sums[3] = {*loss_sum, (double)*seen, (double)*correct};
    st = fcl_dist_sum_d(cfg->dist, sums, 3, fcl_ctx_error(ctx));
    if (!st && t->ddp) st = fcl_ddp_average_buffers(t->ddp); /* per-rank BN running stats */
    if (st) return st;
    *loss_sum = sums[0];
    *seen = (size_t)sums[1];
    *correct = (size_t)sums[2];
    return FCL_OK;
}
