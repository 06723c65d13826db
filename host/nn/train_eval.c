/* host/nn/train_eval.c: the trainer's evaluation: the one accuracy count, validation through the training forward/loss code, pair verification and its ROC plot. */
#include "nn/train_dist.h"
#include "nn/trainer_internal.h"

fcl_status fcl_tr_hits(trainer *t, const float *host, const int *labels, size_t n, int nk, size_t hits[2])
{
    int ks[2] = {1, 5};
    fcl_error e = {0};
    return take(t->ctx, fcl_topk_correct(host, labels, n, t->classes, ks, nk, hits, &e), &e);
}

static int eval_progress(void *user, size_t done, size_t total)
{
    trainer *t = user;
    fcl_train_event ev = {0};
    ev.kind = FCL_EV_EVAL;
    ev.done = done;
    ev.total = total;
    ev.text = "verification pairs";
    return emit(t, &ev);
}

/* Validation: loss and top-1/top-5 of the classification term over the validation set. */
fcl_status fcl_tr_validate(trainer *t, fcl_epoch_stats *s)
{
    fcl_ctx *ctx = t->ctx;
    const fcl_train_config *c = t->cfg;
    fcl_error e = {0};
    fcl_loader *l = NULL;
    fcl_loader_source all = fcl_loader_source_dataset(&t->val), src;
    fcl_source_slice slice;
    size_t lo_i, hi_i;
    fcl_dist_shard(all.count, fcl_dist_rank(c->dist), fcl_dist_size(c->dist), &lo_i, &hi_i);
    src = fcl_source_slice_make(&slice, &all, lo_i, hi_i); /* ranks split the set; sums are reduced */
    fcl_loader_opts lo = loader_opts(t, &t->eval_aug);
    lo.sampler = FCL_SAMPLER_SEQUENTIAL;
    fcl_status st = src.count ? take(ctx, fcl_loader_create(&l, &src, &lo, &e), &e) : FCL_OK;
    if (!st && l) st = take(ctx, fcl_loader_start_epoch(l, 0, &e), &e);
    double loss_sum = 0;
    size_t seen = 0, hits[2] = {0, 0};
    float *host = malloc((size_t)c->batch * (size_t)t->classes * sizeof *host);
    if (!host && !st) st = FCL_ERR(fcl_ctx_error(ctx), FCL_ERR_NOMEM, "out of host memory");
    while (!st && l) {
        const fcl_batch *b = NULL;
        st = take(ctx, fcl_loader_next(l, &b, &e), &e);
        if (st || !b) break;
        size_t n = (size_t)b->n;
        fcl_tensor x, y, scores;
        st = fcl_tr_load_batch(t, b, &x, &y);
        if (!st) st = fcl_net_forward(t->net, &x, 0);
        if (!st) st = fcl_tr_class_forward(t, n, &y, &scores, NULL); /* the training forward/loss code */
        if (!st) st = fcl_tensor_download(ctx, &scores, host, n * (size_t)t->classes);
        if (st) break;
        loss_sum += (double)download_loss(t) * (double)n;
        size_t cnt[2] = {0, 0};
        st = fcl_tr_hits(t, host, b->labels, n, t->classes >= 5 ? 2 : 1, cnt);
        hits[0] += cnt[0];
        hits[1] += cnt[1];
        seen += n;
    }
    double sums[4] = {loss_sum, (double)seen, (double)hits[0], (double)hits[1]};
    if (!st) st = fcl_dist_sum_d(c->dist, sums, 4, fcl_ctx_error(ctx));
    loss_sum = sums[0];
    seen = (size_t)sums[1];
    hits[0] = (size_t)sums[2];
    hits[1] = (size_t)sums[3];
    if (!st && seen) {
        s->val_loss = loss_sum / (double)seen;
        s->val_acc = (double)hits[0] / (double)seen;
        s->val_top5 = t->classes >= 5 ? (double)hits[1] / (double)seen : NAN;
    }
    free(host);
    fcl_loader_destroy(l);
    return st;
}

fcl_status fcl_tr_verify(trainer *t, fcl_epoch_stats *s)
{
    fcl_ctx *ctx = t->ctx;
    fcl_error e = {0};
    fcl_eval_input in;
    fcl_eval_input_init(&in, t->model);
    in.pipeline = &t->eval_aug;
    in.batch = t->cfg->batch;
    in.workers = t->cfg->workers > 0 ? t->cfg->workers : 1;
    in.tta_flip = t->cfg->tta_flip;
    double *scores = NULL;
    int *labels = NULL, *folds = NULL;
    fcl_verify_result r = {0};
    fcl_status st = fcl_dist_embed_pairs(ctx, t->cfg->dist, t->net, &in, &t->pairs, eval_progress, t, &scores);
    if (st) return st;
    labels = malloc(t->pairs.n * sizeof *labels);
    folds = malloc(t->pairs.n * sizeof *folds);
    if (!labels || !folds) {
        st = FCL_ERR(fcl_ctx_error(ctx), FCL_ERR_NOMEM, "out of host memory");
        goto fail;
    }
    for (size_t i = 0; i < t->pairs.n; i++) {
        labels[i] = t->pairs.pairs[i].label;
        folds[i] = t->pairs.pairs[i].fold;
    }
    fcl_verify_opts vo = {0};
    if (t->pairs.n_folds >= 2) {
        vo.k_folds = t->pairs.n_folds;
        vo.folds = folds;
    }
    st = take(ctx, fcl_verify_evaluate(scores, labels, t->pairs.n, &vo, &r, &e), &e);
    if (st) goto fail;
    s->auc = r.auc;
    s->eer = r.eer;
    for (int k = 0; k < r.n_fars; k++)
        if (fabs(r.far[k] - 1e-2) < 1e-12) s->tar_1e2 = r.tar[k];
    s->best_acc = r.best_accuracy;
    if (writer(t)) { /* the ROC of the latest epoch, log-FAR axis */
        char path[1200];
        path_in(t, "roc.png", path, sizeof path);
        fcl_plot_series ser = {"model", r.roc.fpr, r.roc.tpr, r.roc.n_points, 0, 0, 0, 0};
        fcl_plot_opts po = {0};
        po.log_x = 1;
        po.y_fixed = 1;
        po.y_min = 0;
        po.y_max = 1;
        char title[160];
        snprintf(title, sizeof title, "ROC, epoch %d: AUC %.4f, EER %.2f%%", s->epoch, r.auc, 100 * r.eer);
        st = take(ctx, fcl_plot_lines(path, title, "false accept rate", "true accept rate", &ser, 1, &po, &e), &e);
    }
fail:
    fcl_verify_result_free(&r);
    free(scores);
    free(labels);
    free(folds);
    return st;
}

