/* host/nn/trainer.c: the training run: setup (data, model, loader, optimizer), resume and init, and the epoch loop that ties the step loop, evaluation and records together. */
#include <sys/stat.h>

#include "nn/run_dir.h"
#include "nn/train_dist.h"
#include "nn/train_guard.h"
#include "nn/trainer_internal.h"

void fcl_train_config_defaults(fcl_train_config *c)
{
    static const fcl_train_config defaults = {
        .loss = {.n = 1, .kind = {FCL_TERM_CE}, .weight = {1.0}},
        .norm_mean = 0.5,
        .norm_std = 0.5,
        .workers = 2,
        .center_alpha = 0.5,
        .histogram_bins = 101,
        .epochs = 10,
        .batch = 64,
        .optim = FCL_OPTIM_SGD,
        .lr = 0.1,
        .momentum = 0.9,
        .weight_decay = 5e-4,
        .warmup_epochs = 1.0,
        .seed = 1,
    };
    *c = defaults;
    fcl_model_opts_init(&c->model_opts);
    c->sched = fcl_sched_defaults(FCL_SCHED_WARMUP_COSINE);
    c->sched.unit = FCL_SCHED_PER_ITER;
    c->sched.warmup_start_factor = 0.01;
}

static fcl_status open_data(trainer *t)
{
    fcl_ctx *ctx = t->ctx;
    const fcl_train_config *c = t->cfg;
    fcl_error e = {0};
    fcl_strlist warn = {0};
    unsigned flags = c->skip_bad ? FCL_DATA_SKIP_BAD : 0;
    char classes_path[1200];
    path_in(t, "classes.txt", classes_path, sizeof classes_path);
    fcl_status st;
    struct stat sb;
    if (c->resume && stat(classes_path, &sb) == 0)
        st = fcl_dataset_open_folder_with_classes(c->train_dir, classes_path, flags, &warn, &t->train, &e);
    else
        st = fcl_dataset_open_folder(c->train_dir, flags, &warn, &t->train, &e);
    if (st) return take(ctx, st, &e);
    for (size_t i = 0; i < warn.n; i++) info(t, FCL_EV_WARNING, "%s", warn.items[i]);
    fcl_strlist_free(&warn);
    if (t->train.n_classes < 2)
        return FCL_ERR(fcl_ctx_error(ctx), FCL_ERR_FORMAT, "%s: training needs at least 2 identity folders, found %d", c->train_dir,
                       t->train.n_classes);
    st = writer(t) ? fcl_dataset_write_classes(&t->train, classes_path, &e) : FCL_OK;
    if (st) return take(ctx, st, &e);
    if ((st = fcl_dist_barrier(c->dist, fcl_ctx_error(ctx)))) return st; /* the other ranks read classes.txt below */
    t->classes = t->train.n_classes;
    info(t, FCL_EV_INFO, "train: %s: %zu images of %d identities", c->train_dir, t->train.n, t->classes);
    if (c->val_dir) {
        st = fcl_dataset_open_folder_with_classes(c->val_dir, classes_path, flags, &warn, &t->val, &e);
        if (st) return take(ctx, st, &e);
        for (size_t i = 0; i < warn.n; i++) info(t, FCL_EV_WARNING, "%s", warn.items[i]);
        fcl_strlist_free(&warn);
        t->has_val = 1;
        info(t, FCL_EV_INFO, "val: %s: %zu images", c->val_dir, t->val.n);
    }
    if (c->pairs) {
        char root[1200];
        if (c->pairs_root) snprintf(root, sizeof root, "%s", c->pairs_root);
        else {
            snprintf(root, sizeof root, "%s", c->pairs);
            char *slash = strrchr(root, '/');
            if (slash) *slash = '\0';
            else snprintf(root, sizeof root, ".");
        }
        st = fcl_pairs_load(c->pairs, root, c->pairs_lfw ? FCL_PAIRS_LFW : FCL_PAIRS_PLAIN, FCL_PAIRS_CHECK_FILES,
                            &t->pairs, &e);
        if (st) return take(ctx, st, &e);
        if (!t->pairs.labelled)
            return FCL_ERR(fcl_ctx_error(ctx), FCL_ERR_FORMAT, "%s: verification during training needs labelled pairs", c->pairs);
        t->has_pairs = 1;
        info(t, FCL_EV_INFO, "pairs: %s: %zu pairs", c->pairs, t->pairs.n);
    }
    /* every image header now, not a bad file found in epoch 2 */
    st = fcl_train_check_data(ctx, c, &t->train, t->has_val ? &t->val : NULL, t->has_pairs ? &t->pairs : NULL, &warn);
    for (size_t i = 0; i < warn.n; i++) info(t, FCL_EV_WARNING, "%s", warn.items[i]);
    fcl_strlist_free(&warn);
    return st;
}

static fcl_status build_model(trainer *t)
{
    fcl_ctx *ctx = t->ctx;
    const fcl_train_config *c = t->cfg;
    fcl_error e = {0};
    char path[1200];
    fcl_model_opts mo = c->model_opts;
    mo.classes = t->ce_term >= 0 ? t->classes : 0; /* margin heads and pair losses: embedding only */
    fcl_status st = fcl_model_find(c->model, c->models_dir, path, sizeof path, &e);
    if (!st) st = fcl_model_load_file(path, &mo, &t->model, &e);
    if (st) return take(ctx, st, &e);
    t->dim = t->model->embedding_dim;
    char plan[512];
    st = fcl_train_check_memory(ctx, t->model, c, t->classes, t->head_term >= 0, t->center_term >= 0, plan, sizeof plan);
    if (st) return st;
    info(t, FCL_EV_INFO, "%s", plan);
    fcl_net_opts no = {c->batch, c->freeze};
    st = fcl_net_create(ctx, t->model, &no, &t->net);
    if (st) return st;
    info(t, FCL_EV_INFO, "model: %s (%s), %d x %d x %d input, %lld parameters, %.3f GFLOPs per image, embedding %d%s",
         t->model->name, path, t->model->channels, t->model->in_h, t->model->in_w, (long long)t->model->n_trainable,
         t->model->flops / 1e9, t->dim, c->freeze ? ", prefix frozen" : "");
    return FCL_OK;
}

static fcl_status build_optim(trainer *t)
{
    fcl_ctx *ctx = t->ctx;
    const fcl_train_config *c = t->cfg;
    fcl_error e = {0};
    fcl_param_range *rd = NULL, *rn = NULL;
    size_t nd = 0, nn = 0;
    fcl_status st = fcl_net_param_ranges(t->net, &rd, &nd, &rn, &nn);
    if (st) return st;
    fcl_optim_hparams hp = c->optim == FCL_OPTIM_SGD ? fcl_sgd_defaults(c->lr) : fcl_adamw_defaults(c->lr);
    if (c->optim == FCL_OPTIM_SGD) {
        hp.momentum = c->momentum;
        hp.nesterov = c->nesterov;
    }
    fcl_param_group g[2] = {{hp, rd, nd}, {hp, rn, nn}};
    g[0].hp.weight_decay = c->weight_decay;
    g[1].hp.weight_decay = 0.0; /* no decay on BN and biases */
    st = fcl_optim_create(ctx, &t->opt, c->optim, fcl_tensor_numel(fcl_net_params(t->net)), g, 2);
    free(rd);
    free(rn);
    if (!st && c->agc_clip > 0) st = fcl_net_agc_create(ctx, t->net, c->agc_clip, 1e-3, 1, &t->agc);
    if (st) return st;

    fcl_sched_config sc = c->sched;
    if (sc.kind == FCL_SCHED_WARMUP_COSINE || sc.kind == FCL_SCHED_ONECYCLE) {
        int64_t per = sc.unit == FCL_SCHED_PER_ITER ? (int64_t)t->steps_per_epoch : 1;
        if (sc.total_steps <= 0) sc.total_steps = per * c->epochs;
        if (sc.kind == FCL_SCHED_WARMUP_COSINE) {
            sc.warmup_steps = (int64_t)llround(c->warmup_epochs * (double)per);
            if (sc.warmup_steps >= sc.total_steps) sc.warmup_steps = sc.total_steps / 10;
            if (sc.warmup_start_factor <= 0) sc.warmup_start_factor = 0.01;
        }
    }
    double base[2] = {c->lr, c->lr};
    st = fcl_sched_create(&t->sched, &sc, base, 2, &e);
    if (st) return take(ctx, st, &e);
    return fcl_sched_apply(ctx, t->sched, t->opt);
}

static fcl_status make_loader(trainer *t)
{
    const fcl_train_config *c = t->cfg;
    fcl_error e = {0};
    char spec[512];
    snprintf(t->eval_aug_text, sizeof t->eval_aug_text, "norm=%g:%g", c->norm_mean, c->norm_std);
    int none = !c->augment || !*c->augment || !strcmp(c->augment, "none");
    snprintf(spec, sizeof spec, "%s%s%s", none ? "" : c->augment, none ? "" : ",", t->eval_aug_text);
    fcl_status st = take(t->ctx, fcl_aug_parse(spec, &t->train_aug, &e), &e);
    if (!st) st = take(t->ctx, fcl_aug_parse(t->eval_aug_text, &t->eval_aug, &e), &e);
    if (st) return st;
    int pair_loss = 0;
    for (int i = 0; i < c->loss.n; i++) pair_loss |= fcl_tr_is_batchwise(c->loss.kind[i]);
    fcl_loader_source src = fcl_loader_source_dataset(&t->train);
    fcl_loader_opts lo = loader_opts(t, &t->train_aug);
    lo.drop_last = 1; /* batch norm needs more than one value; equal batches keep steps comparable */
    lo.shard_index = fcl_dist_rank(c->dist);
    lo.shard_count = fcl_dist_size(c->dist);
    if (c->pk_p > 0 || pair_loss) {
        lo.sampler = FCL_SAMPLER_PK;
        lo.pk_k = c->pk_k > 0 ? c->pk_k : 4;
        lo.pk_p = c->pk_p > 0 ? c->pk_p : c->batch / lo.pk_k;
        lo.pk_replace = 1;
        if (lo.pk_p * lo.pk_k > c->batch)
            return FCL_ERR(fcl_ctx_error(t->ctx), FCL_ERR_INVALID_ARG, "P x K = %d x %d exceeds --batch %d", lo.pk_p, lo.pk_k, c->batch);
        if (lo.pk_p < 2)
            return FCL_ERR(fcl_ctx_error(t->ctx), FCL_ERR_INVALID_ARG, "P x K sampling needs P >= 2 identities per batch (batch %d, K %d)",
                           c->batch, lo.pk_k);
    } else {
        lo.sampler = FCL_SAMPLER_SHUFFLE;
    }
    int gb = lo.sampler == FCL_SAMPLER_PK ? lo.pk_p * lo.pk_k : c->batch;
    if (gb % lo.shard_count)
        return FCL_ERR(fcl_ctx_error(t->ctx), FCL_ERR_INVALID_ARG, "the global batch %d must be a multiple of the %d ranks", gb,
                       lo.shard_count);
    st = take(t->ctx, fcl_loader_create(&t->loader, &src, &lo, &e), &e);
    if (st) return st;
    t->steps_per_epoch = fcl_loader_batches_per_epoch(t->loader);
    if (t->steps_per_epoch == 0)
        return FCL_ERR(fcl_ctx_error(t->ctx), FCL_ERR_INVALID_ARG, "%s: %zu images make no full batch of %d (lower --batch)",
                       c->train_dir, t->train.n, c->batch);
    return FCL_OK;
}

static void cleanup(trainer *t)
{
    fcl_ctx *ctx = t->ctx;
    fcl_loader_destroy(t->loader);
    fcl_tensor *ts[] = {&t->x, &t->labels, &t->loss, &t->dlogits, &t->demb, &t->scratch_a, &t->scratch_b, &t->pair_y,
                        &t->head_w, &t->head_dw, &t->head_logits, &t->head_cos, &t->centers,
                        &t->emb_all, &t->demb_all, &t->y_all};
    for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++) fcl_tensor_release(ctx, ts[i]);
    if (t->head_opt) fcl_optim_destroy(ctx, t->head_opt);
    if (t->opt) fcl_optim_destroy(ctx, t->opt);
    fcl_agc_destroy(ctx, t->agc);
    fcl_ddp_destroy(t->ddp);
    free(t->labels_all);
    fcl_sched_destroy(t->sched);
    fcl_net_destroy(t->net);
    fcl_model_free(t->model);
    fcl_dataset_free(&t->train);
    if (t->has_val) fcl_dataset_free(&t->val);
    if (t->has_pairs) fcl_pairs_free(&t->pairs);
    fcl_tr_close_records(t);
}

fcl_status fcl_train_run(fcl_ctx *ctx, const fcl_train_config *cfg, fcl_train_callback cb, void *user,
                         fcl_epoch_stats *final)
{
    trainer T, *t = &T;
    memset(t, 0, sizeof *t);
    t->ctx = ctx;
    t->cfg = cfg;
    t->cb = cb;
    t->user = user;
    t->head_term = t->ce_term = t->center_term = -1;
    fcl_error e = {0};
    fcl_status st = FCL_OK;
    int64_t start_epoch = 0;
    fcl_strlist notes = {0};

    if (!cfg->train_dir || !cfg->run_dir || !cfg->model)
        return FCL_ERR(fcl_ctx_error(ctx), FCL_ERR_INVALID_ARG, "training needs a training folder, a model and a run folder");
    if (cfg->epochs < 1 || cfg->batch < 2)
        return FCL_ERR(fcl_ctx_error(ctx), FCL_ERR_INVALID_ARG, "--epochs must be >= 1 and --batch >= 2 (batch norm needs 2)");
    if (cfg->init && cfg->resume) return FCL_ERR(fcl_ctx_error(ctx), FCL_ERR_INVALID_ARG, "use --init or --resume, not both");
    for (int i = 0; i < cfg->loss.n; i++) {
        if (cfg->loss.kind[i] == FCL_TERM_CE) t->ce_term = i;
        if (fcl_tr_is_head(cfg->loss.kind[i])) t->head_term = i;
        if (cfg->loss.kind[i] == FCL_TERM_CENTER) t->center_term = i;
    }
    if (writer(t) && (st = fcl_run_dir_prepare(ctx, cfg, &notes)) == FCL_OK) show_notes(t, FCL_EV_INFO, &notes);
    if (!st) st = fcl_dist_barrier(cfg->dist, fcl_ctx_error(ctx)); /* data-parallel: rank 0 prepared the folder */
    if (st) return st;
    fcl_rng_seed(fcl_ctx_rng(ctx), cfg->seed);

    st = open_data(t);
    if (!st) st = build_model(t);
    if (!st) st = make_loader(t);
    if (!st) st = build_optim(t);
    if (!st) st = fcl_tr_build_loss_state(t);
    if (st) goto fail;

    if (cfg->init) {
        fcl_load_opts lo = {0, 1};
        st = fcl_checkpoint_load(ctx, t->net, NULL, NULL, NULL, &lo, cfg->init);
        if (st == FCL_ERR_SHAPE && t->model->classifier_layer >= 0) {
            lo.skip_classifier = 1; /* fine-tuning on another set of identities */
            st = fcl_checkpoint_load(ctx, t->net, NULL, NULL, NULL, &lo, cfg->init);
            if (!st) info(t, FCL_EV_INFO, "init: %s (all but the classifier: the class count differs)", cfg->init);
        } else if (!st) {
            info(t, FCL_EV_INFO, "init: %s (all weights)", cfg->init);
        }
        if (st) goto fail;
    }
    if (cfg->resume) {
        fcl_train_progress prog = {0};
        fcl_ckpt_aux aux[2];
        size_t n_aux = 0;
        if (t->head_term >= 0) aux[n_aux++] = (fcl_ckpt_aux){"head.weight", &t->head_w, t->head_opt};
        if (t->center_term >= 0) aux[n_aux++] = (fcl_ckpt_aux){"center.centers", &t->centers, NULL};
        char *text = NULL;
        st = fcl_tr_config_text(t, &text);
        if (!st && writer(t) && (st = fcl_run_config_check(ctx, cfg->run_dir, text, &notes)) == FCL_OK)
            show_notes(t, FCL_EV_WARNING, &notes);
        free(text);
        if (!st) st = fcl_checkpoint_load_ex(ctx, t->net, t->opt, t->sched, &prog, NULL, aux, n_aux, cfg->resume);
        if (!st) st = fcl_sched_apply(ctx, t->sched, t->opt);
        if (!st && t->head_opt) st = fcl_optim_set_lr(ctx, t->head_opt, 0, fcl_sched_lr(t->sched, 0));
        if (st) goto fail;
        start_epoch = prog.epoch;
        t->step = prog.step;
        char path[1200];
        path_in(t, "log.csv", path, sizeof path);
        st = writer(t) ? take(ctx, fcl_csvlog_truncate(path, "epoch", (double)start_epoch, NULL, &e), &e) : FCL_OK;
        if (st) goto fail;
        fcl_tr_reload_history(t);
        info(t, FCL_EV_INFO, "resume: %s at epoch %lld, step %lld", cfg->resume, (long long)start_epoch, (long long)t->step);
    }
    if (fcl_dist_size(cfg->dist) > 1 || cfg->sync_bn) { /* one model on every rank, gradients averaged
                                                         (one process with --sync-bn: the same BN code) */
        fcl_ddp_opts o = {cfg->bucket_bytes, 1, cfg->sync_bn};
        st = fcl_ddp_create(ctx, cfg->dist, t->net, &o, &t->ddp);
        if (!st) st = fcl_ddp_broadcast_state(t->ddp);
        if (st) goto fail;
        fcl_ddp_stats ds;
        fcl_ddp_get_stats(t->ddp, &ds);
        if (fcl_dist_size(cfg->dist) > 1)
            info(t, FCL_EV_INFO, "data-parallel: %d ranks, %d per global batch of %d; %d gradient buckets, %.2f MB per step%s",
             fcl_dist_size(cfg->dist), cfg->batch / fcl_dist_size(cfg->dist), cfg->batch, ds.buckets,
             (double)ds.bytes_per_step / 1e6, cfg->sync_bn ? ", synchronised batch norm" : ", batch norm per rank");
    }
    if ((st = fcl_tr_open_records(t))) goto fail;
    t->best = fcl_tr_best_so_far(t); /* a resumed run's best so far */

    fcl_epoch_stats s = {0};
    for (int64_t ep = start_epoch; ep < cfg->epochs && !t->stop; ep++) {
        double t0 = now_s(), loss_sum = 0;
        size_t correct = 0, seen = 0;
        if ((st = fcl_tr_train_epoch(t, ep, t0, &loss_sum, &seen, &correct))) goto fail;
        if (t->stop) break;
        double train_s = now_s() - t0;
        memset(&s, 0, sizeof s);
        s.epoch = (int)ep + 1;
        s.train_loss = seen ? loss_sum / (double)seen : NAN;
        s.train_acc = (t->ce_term >= 0 || t->head_term >= 0) && seen ? (double)correct / (double)seen : NAN;
        s.val_loss = s.val_acc = s.val_top5 = s.auc = s.eer = s.tar_1e2 = s.best_acc = NAN;
        s.images_per_s = (double)seen / train_s;
        if (t->ddp) {
            fcl_ddp_stats ds;
            fcl_ddp_get_stats(t->ddp, &ds);
            s.allreduce_s = ds.steps ? ds.wait_s / (double)ds.steps : 0;
            fcl_ddp_reset_stats(t->ddp);
        }
        if (t->has_val && (t->ce_term >= 0 || t->head_term >= 0) && (st = fcl_tr_validate(t, &s))) goto fail;
        if (t->has_pairs && (st = fcl_tr_verify(t, &s))) goto fail;
        if (fcl_sched_config_of(t->sched)->unit == FCL_SCHED_PER_EPOCH || fcl_sched_config_of(t->sched)->kind == FCL_SCHED_PLATEAU) {
            int maximise;
            double m = fcl_tr_metric_of(t, &s, &maximise);
            st = take(ctx, fcl_sched_on_epoch(t->sched, m, &e), &e);
            if (!st) st = fcl_sched_apply(ctx, t->sched, t->opt);
            if (!st && t->head_opt) st = fcl_optim_set_lr(ctx, t->head_opt, 0, fcl_sched_lr(t->sched, 0));
            if (st) goto fail;
        }
        s.lr = fcl_optim_lr(t->opt, 0);
        s.seconds = now_s() - t0;
        int maximise;
        double m = fcl_tr_metric_of(t, &s, &maximise);
        s.best = isfinite(m) && (isnan(t->best) || (maximise ? m > t->best : m < t->best));
        if (s.best) t->best = m;

        if ((st = fcl_tr_record_epoch(t, &s, ep + 1))) goto fail;
        fcl_train_event ev = {0};
        ev.kind = FCL_EV_EPOCH;
        ev.epoch = s.epoch;
        ev.epochs = cfg->epochs;
        ev.stats = &s;
        emit(t, &ev);
    }
    if (final) *final = s;
fail:
    fcl_strlist_free(&notes);
    cleanup(t);
    return st;
}
