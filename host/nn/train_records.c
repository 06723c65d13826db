/* host/nn/train_records.c: the run's records: log.csv rows, the per-epoch history and its plots, checkpoints, config.txt, the best value. */
#include "io/atomic.h"
#include "nn/trainer_internal.h"

static const char *csv_cols[] = {"epoch", "train_loss", "train_acc", "val_loss", "val_acc", "val_top5", "auc",
                                 "eer", "tar_far1e-2", "best_acc", "lr", "images_per_s", "seconds"};
#define N_COLS ((int)(sizeof csv_cols / sizeof csv_cols[0]))

double fcl_tr_metric_of(const trainer *t, const fcl_epoch_stats *s, int *maximise)
{
    const char *m = t->cfg->best_metric;
    if (!m) m = t->has_val ? "val_acc" : t->has_pairs ? "auc" : "train_loss";
    *maximise = strcmp(m, "train_loss") && strcmp(m, "val_loss");
    if (!strcmp(m, "val_acc")) return s->val_acc;
    if (!strcmp(m, "auc")) return s->auc;
    if (!strcmp(m, "val_loss")) return s->val_loss;
    return s->train_loss;
}

static int history_push(trainer *t, const fcl_epoch_stats *s)
{
    double **arr[] = {&t->h_epoch, &t->h_train_loss, &t->h_val_loss, &t->h_train_acc, &t->h_val_acc, &t->h_auc, &t->h_eer};
    double vals[] = {s->epoch, s->train_loss, s->val_loss, s->train_acc, s->val_acc, s->auc, s->eer};
    for (size_t i = 0; i < sizeof arr / sizeof arr[0]; i++) {
        double *n = realloc(*arr[i], (size_t)(t->n_hist + 1) * sizeof **arr[i]);
        if (!n) return -1;
        *arr[i] = n;
        n[t->n_hist] = vals[i];
    }
    t->n_hist++;
    return 0;
}

static fcl_status plots(trainer *t)
{
    fcl_ctx *ctx = t->ctx;
    fcl_error e = {0};
    char path[1200];
    fcl_plot_opts po = {0};
    po.x_integer_ticks = 1;
    size_t n = (size_t)t->n_hist;
    fcl_plot_series loss[2] = {{"train", t->h_epoch, t->h_train_loss, n, 0, 0, 0, n < 30},
                               {"validation", t->h_epoch, t->h_val_loss, n, 0, 0, 1, n < 30}};
    path_in(t, "loss.png", path, sizeof path);
    fcl_status st = take(ctx, fcl_plot_lines(path, "loss", "epoch", "loss", loss, t->has_val ? 2 : 1, &po, &e), &e);
    if (st) return st;
    if (t->ce_term >= 0 || t->head_term >= 0) {
        fcl_plot_series acc[2] = {{"train", t->h_epoch, t->h_train_acc, n, 0, 0, 0, n < 30},
                                  {"validation", t->h_epoch, t->h_val_acc, n, 0, 0, 1, n < 30}};
        path_in(t, "accuracy.png", path, sizeof path);
        st = take(ctx, fcl_plot_lines(path, "top-1 accuracy", "epoch", "accuracy", acc, t->has_val ? 2 : 1, &po, &e), &e);
        if (st) return st;
    }
    if (t->has_pairs) {
        fcl_plot_series v[2] = {{"ROC AUC", t->h_epoch, t->h_auc, n, 0, 0, 0, n < 30},
                                {"EER", t->h_epoch, t->h_eer, n, 0, 0, 1, n < 30}};
        path_in(t, "verification.png", path, sizeof path);
        st = take(ctx, fcl_plot_lines(path, "verification on held-out identities", "epoch", "", v, 2, &po, &e), &e);
    }
    return st;
}

static fcl_status save(trainer *t, const char *name, int64_t epoch)
{
    char path[1200], classes[65536];
    size_t used = 0;
    classes[0] = '\0';
    for (int i = 0; i < t->train.n_classes && used < sizeof classes - 1; i++) {
        int w = snprintf(classes + used, sizeof classes - used, "%s%s", i ? "\n" : "", t->train.classes[i]);
        if (w < 0) break;
        used += (size_t)w;
    }
    char best[64], loss[128];
    snprintf(best, sizeof best, "%.17g", t->best);
    loss[0] = '\0';
    for (int i = 0; i < t->cfg->loss.n; i++) {
        size_t l = strlen(loss);
        snprintf(loss + l, sizeof loss - l, "%s%g*%s", i ? "+" : "", t->cfg->loss.weight[i], fcl_loss_term_name(t->cfg->loss.kind[i]));
    }
    fcl_kv extra[] = {{"eval_aug", t->eval_aug_text}, {"class_names", classes}, {"best_value", best}, {"loss", loss}};
    fcl_ckpt_aux aux[2];
    size_t n_aux = 0;
    if (t->head_term >= 0) aux[n_aux++] = (fcl_ckpt_aux){"head.weight", &t->head_w, t->head_opt};
    if (t->center_term >= 0) aux[n_aux++] = (fcl_ckpt_aux){"center.centers", &t->centers, NULL};
    fcl_train_progress prog = {epoch, t->step};
    path_in(t, name, path, sizeof path);
    return fcl_checkpoint_save_ex(t->ctx, t->net, t->opt, t->sched, &prog, extra, sizeof extra / sizeof extra[0], aux,
                                  n_aux, path);
}

fcl_status fcl_tr_config_text(trainer *t, char **out)
{
    const fcl_train_config *c = t->cfg;
    size_t text_len = 0;
    *out = NULL;
    FILE *f = open_memstream(out, &text_len);
    if (!f) return FCL_ERR(fcl_ctx_error(t->ctx), FCL_ERR_NOMEM, "out of host memory");
    char loss[128] = "";
    for (int i = 0; i < c->loss.n; i++) {
        size_t l = strlen(loss);
        snprintf(loss + l, sizeof loss - l, "%s%g*%s", i ? "+" : "", c->loss.weight[i], fcl_loss_term_name(c->loss.kind[i]));
    }
    fprintf(f, "# facecl train configuration (resolved values)\n");
    fprintf(f, "train = %s\nval = %s\npairs = %s\nmodel = %s\nmodel_name = %s\n", c->train_dir, c->val_dir ? c->val_dir : "",
            c->pairs ? c->pairs : "", c->model, t->model->name);
    fprintf(f, "channels = %d\nsize = %dx%d\nclasses = %d\nembedding = %d\nwidth = %g\nstem = %s\n", t->model->channels,
            t->model->in_h, t->model->in_w, t->classes, t->dim, t->model->width, t->model->stem);
    fprintf(f, "loss = %s\nlabel_smoothing = %g\nmargin_s = %g\nmargin_m = %g\neasy_margin = %d\ncenter_alpha = %g\n", loss,
            c->label_smoothing, c->margin_s, c->margin_m, c->easy_margin, c->center_alpha);
    fprintf(f, "triplet_margin = %g\ntriplet_semi_hard = %d\nhistogram_bins = %d\npk = %dx%d\n", c->triplet_margin,
            c->triplet_semi_hard, c->histogram_bins, c->pk_p, c->pk_k);
    fprintf(f, "epochs = %d\nbatch = %d\noptim = %s\nlr = %g\nmomentum = %g\nnesterov = %d\nweight_decay = %g\nclip = %g\nagc = %g\n",
            c->epochs, c->batch, c->optim == FCL_OPTIM_SGD ? "sgd" : "adamw", c->lr, c->momentum, c->nesterov,
            c->weight_decay, c->clip_norm, c->agc_clip);
    const fcl_sched_config *sc = fcl_sched_config_of(t->sched); /* the resolved schedule */
    static const char *sched_names[] = {"none", "step", "multistep", "cosine", "onecycle", "plateau"};
    fprintf(f, "schedule = %s\nschedule_unit = %s\nwarmup_epochs = %g\nwarmup_steps = %lld\nwarmup_start_factor = %g\n"
               "total_steps = %lld\nseed = %llu\naugment = %s\nnorm = %g:%g\nworkers = %d\n",
            (unsigned)sc->kind < 6 ? sched_names[sc->kind] : "?", sc->unit == FCL_SCHED_PER_ITER ? "iteration" : "epoch", c->warmup_epochs,
            (long long)sc->warmup_steps, sc->warmup_start_factor, (long long)sc->total_steps, (unsigned long long)c->seed,
            c->augment ? c->augment : "", c->norm_mean, c->norm_std, c->workers);
    fprintf(f, "init = %s\nresume = %s\nfreeze = %d\nbest_metric = %s\ndevice = %s\n", c->init ? c->init : "",
            c->resume ? c->resume : "", c->freeze, c->best_metric ? c->best_metric : "(auto)", fcl_ctx_device(t->ctx)->name);
    if (fclose(f) != 0 || !*out) {
        free(*out);
        *out = NULL;
        return FCL_ERR(fcl_ctx_error(t->ctx), FCL_ERR_NOMEM, "out of host memory");
    }
    return FCL_OK;
}

static fcl_status write_config(trainer *t)
{
    char path[1200], *text = NULL;
    path_in(t, "config.txt", path, sizeof path);
    fcl_status st = fcl_tr_config_text(t, &text);
    if (!st) st = fcl_write_text_atomic(path, text, fcl_ctx_error(t->ctx));
    free(text);
    return st;
}

void fcl_tr_reload_history(trainer *t)
{
    char path[1200];
    fcl_error e = {0};
    fcl_csv_table tab;
    path_in(t, "log.csv", path, sizeof path);
    if (fcl_csv_read(path, &tab, &e)) return;
    int col[N_COLS];
    for (int i = 0; i < N_COLS; i++) col[i] = fcl_csv_column(&tab, csv_cols[i]);
    for (size_t r = 0; r < tab.n_rows; r++) {
        fcl_epoch_stats s;
        double *v[] = {NULL, &s.train_loss, &s.train_acc, &s.val_loss, &s.val_acc, &s.val_top5, &s.auc, &s.eer};
        memset(&s, 0, sizeof s);
        s.epoch = col[0] >= 0 ? atoi(fcl_csv_cell(&tab, r, col[0])) : (int)r + 1;
        for (int i = 1; i < 8; i++) {
            const char *cell = col[i] >= 0 ? fcl_csv_cell(&tab, r, col[i]) : NULL;
            *v[i] = cell && *cell ? strtod(cell, NULL) : NAN;
        }
        history_push(t, &s);
    }
    fcl_csv_free(&tab);
}

double fcl_tr_best_so_far(const trainer *t)
{
    double best = NAN;
    for (int i = 0; i < t->n_hist; i++) {
        fcl_epoch_stats s = {0};
        s.train_loss = t->h_train_loss[i];
        s.val_loss = t->h_val_loss[i];
        s.val_acc = t->h_val_acc[i];
        s.auc = t->h_auc[i];
        int maximise;
        double v = fcl_tr_metric_of(t, &s, &maximise);
        if (isfinite(v) && (isnan(best) || (maximise ? v > best : v < best))) best = v;
    }
    return best;
}

fcl_status fcl_tr_open_records(trainer *t)
{
    if (!writer(t)) return FCL_OK;
    fcl_error e = {0};
    char path[1200];
    path_in(t, "log.csv", path, sizeof path);
    fcl_status st = take(t->ctx, fcl_csvlog_open(&t->log, path, csv_cols, N_COLS, t->cfg->resume ? FCL_CSVLOG_APPEND : 0, &e), &e);
    return st ? st : write_config(t);
}

fcl_status fcl_tr_record_epoch(trainer *t, const fcl_epoch_stats *s, int64_t epoch_done)
{
    fcl_ctx *ctx = t->ctx;
    fcl_error e = {0};
    double row[N_COLS] = {s->epoch, s->train_loss, s->train_acc, s->val_loss, s->val_acc, s->val_top5, s->auc,
                          s->eer, s->tar_1e2, s->best_acc, s->lr, s->images_per_s, s->seconds};
    fcl_status st = writer(t) ? take(ctx, fcl_csvlog_write_numbers(&t->log, row, &e), &e) : FCL_OK;
    if (!st && history_push(t, s)) st = FCL_ERR(fcl_ctx_error(ctx), FCL_ERR_NOMEM, "out of host memory");
    if (!st && writer(t)) st = plots(t);
    if (!st && writer(t)) st = save(t, "last.safetensors", epoch_done);
    if (!st && writer(t) && s->best) st = save(t, "best.safetensors", epoch_done);
    return st;
}

void fcl_tr_close_records(trainer *t)
{
    if (t->log.f) {
        fcl_error e = {0};
        fcl_csvlog_close(&t->log, &e);
    }
    free(t->h_epoch); free(t->h_train_loss); free(t->h_val_loss); free(t->h_train_acc); free(t->h_val_acc);
    free(t->h_auc); free(t->h_eer);
}
