/* host/nn/trainer.c: the training loop: data, loss terms and heads, steps, evaluation, logs, plots, checkpoints. */
#include <errno.h>
#include <stdarg.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "facecl/checkpoint.h"
#include "facecl/csvlog.h"
#include "facecl/dist.h"
#include "facecl/evaluate.h"
#include "facecl/loader.h"
#include "facecl/metrics.h"
#include "facecl/net.h"
#include "facecl/ops.h"
#include "facecl/ops_metric_loss.h"
#include "facecl/plot.h"
#include "facecl/safetensors.h"
#include "facecl/train.h"
#include "io/csv_internal.h"
#include "nn/run_dir.h"
#include "nn/train_guard.h"
#include "nn/train_dist.h"
#include "runtime/internal.h"

/* ---- loss specification --------------------------------------------------------------------- */

static const char *term_names[FCL_TERM_KIND_COUNT] = {"ce", "arcface", "cosface", "sphereface",
                                                      "center", "triplet", "contrastive", "histogram"};

const char *fcl_loss_term_name(fcl_loss_term_kind k)
{
    return k >= 0 && k < FCL_TERM_KIND_COUNT ? term_names[k] : "?";
}

static int is_head(fcl_loss_term_kind k)
{
    return k == FCL_TERM_ARCFACE || k == FCL_TERM_COSFACE || k == FCL_TERM_SPHEREFACE;
}

/* Terms over the whole batch at once (pairs, mining): data-parallel ranks compute them on the
 * gathered global batch. */
static int is_batchwise(fcl_loss_term_kind k)
{
    return k == FCL_TERM_TRIPLET || k == FCL_TERM_HISTOGRAM || k == FCL_TERM_CONTRASTIVE;
}

fcl_status fcl_loss_spec_parse(const char *text, fcl_loss_spec *out, fcl_error *err)
{
    char buf[256];
    memset(out, 0, sizeof *out);
    if (!text || !*text) return FCL_ERR(err, FCL_ERR_INVALID_ARG, "--loss is empty (e.g. ce, arcface, ce+0.01*center)");
    snprintf(buf, sizeof buf, "%s", text);
    int classify = 0;
    char *save = NULL;
    for (char *tok = strtok_r(buf, "+", &save); tok; tok = strtok_r(NULL, "+", &save)) {
        while (*tok == ' ') tok++;
        double w = 1.0;
        char *star = strchr(tok, '*');
        if (star) {
            char *end = NULL;
            *star = '\0';
            w = strtod(tok, &end);
            if (end == tok || (*end && *end != ' ') || !(w > 0) || !isfinite(w))
                return FCL_ERR(err, FCL_ERR_INVALID_ARG, "--loss '%s': weight '%s' is not a positive number", text, tok);
            tok = star + 1;
        }
        for (char *e = tok + strlen(tok); e > tok && e[-1] == ' '; e--) e[-1] = '\0';
        int k = -1;
        for (int i = 0; i < FCL_TERM_KIND_COUNT; i++)
            if (!strcmp(tok, term_names[i])) k = i;
        if (k < 0)
            return FCL_ERR(err, FCL_ERR_INVALID_ARG,
                           "--loss '%s': unknown term '%s' (ce, arcface, cosface, sphereface, center, triplet, contrastive, histogram)",
                           text, tok);
        if (out->n == FCL_MAX_LOSS_TERMS)
            return FCL_ERR(err, FCL_ERR_INVALID_ARG, "--loss '%s': at most %d terms", text, FCL_MAX_LOSS_TERMS);
        for (int i = 0; i < out->n; i++)
            if (out->kind[i] == (fcl_loss_term_kind)k)
                return FCL_ERR(err, FCL_ERR_INVALID_ARG, "--loss '%s': '%s' appears twice", text, tok);
        if (k == FCL_TERM_CE || is_head((fcl_loss_term_kind)k)) classify++;
        out->kind[out->n] = (fcl_loss_term_kind)k;
        out->weight[out->n] = w;
        out->n++;
    }
    if (classify > 1)
        return FCL_ERR(err, FCL_ERR_INVALID_ARG, "--loss '%s': use at most one of ce, arcface, cosface, sphereface", text);
    for (int i = 0; i < out->n; i++)
        if (out->kind[i] == FCL_TERM_CENTER && !classify)
            return FCL_ERR(err, FCL_ERR_INVALID_ARG, "--loss '%s': center loss is added to a classification loss (e.g. ce+0.01*center)", text);
    return FCL_OK;
}

void fcl_train_config_defaults(fcl_train_config *c)
{
    memset(c, 0, sizeof *c);
    fcl_model_opts_init(&c->model_opts);
    c->loss.n = 1;
    c->loss.kind[0] = FCL_TERM_CE;
    c->loss.weight[0] = 1.0;
    c->norm_mean = 0.5;
    c->norm_std = 0.5;
    c->workers = 2;
    c->center_alpha = 0.5;
    c->histogram_bins = 101;
    c->epochs = 10;
    c->batch = 64;
    c->optim = FCL_OPTIM_SGD;
    c->lr = 0.1;
    c->momentum = 0.9;
    c->weight_decay = 5e-4;
    c->sched = fcl_sched_defaults(FCL_SCHED_WARMUP_COSINE);
    c->sched.unit = FCL_SCHED_PER_ITER;
    c->sched.warmup_start_factor = 0.01;
    c->warmup_epochs = 1.0;
    c->seed = 1;
}

/* ---- the trainer's state ------------------------------------------------------------------------ */

typedef struct trainer {
    fcl_ctx *ctx;
    const fcl_train_config *cfg;
    fcl_train_callback cb;
    void *user;
    int stop;

    fcl_dataset train, val;
    int has_val;
    fcl_pair_list pairs;
    int has_pairs;
    fcl_model *model;
    fcl_net *net;
    fcl_optim *opt;
    fcl_agc *agc;                  /* NULL unless cfg->agc_clip > 0 */
    fcl_sched *sched;
    fcl_loader *loader;
    fcl_aug_pipeline train_aug, eval_aug;
    char eval_aug_text[256];
    int classes, dim;              /* training classes, embedding size */
    int head_term;                 /* index of a margin head term or -1 */
    int ce_term;                   /* index of the ce term or -1 */
    int center_term;

    fcl_tensor x, labels, loss, dlogits, demb, scratch_a, scratch_b, pair_y;
    fcl_tensor head_w, head_dw, head_logits, head_cos, centers;
    fcl_optim *head_opt;
    fcl_ddp *ddp;                  /* data-parallel ranks (cfg->dist): gradient averaging */
    fcl_tensor emb_all, demb_all, y_all; /* ... and the global batch for batch-wise terms and centres */
    int *labels_all;
    size_t steps_per_epoch;
    int64_t step;

    double best;
    int best_epoch;
    fcl_csvlog log;
    /* per-epoch history for plots */
    int n_hist;
    double *h_epoch, *h_train_loss, *h_val_loss, *h_train_acc, *h_val_acc, *h_auc, *h_eer;
} trainer;

static int emit(trainer *t, fcl_train_event *ev)
{
    if (t->cb && t->cb(t->user, ev)) t->stop = 1;
    return t->stop;
}

static void info(trainer *t, fcl_train_event_kind kind, const char *fmt, ...)
{
    char text[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    fcl_train_event ev = {0};
    ev.kind = kind;
    ev.text = text;
    emit(t, &ev);
}

static fcl_status take(fcl_ctx *ctx, fcl_status st, const fcl_error *e)
{
    if (st) ctx->err = *e;
    return st;
}

static void show_notes(trainer *t, fcl_train_event_kind kind, fcl_strlist *notes)
{
    for (size_t i = 0; i < notes->n; i++) info(t, kind, "%s", notes->items[i]);
    fcl_strlist_free(notes);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Rank 0 alone writes the run folder. */
static int writer(const trainer *t) { return fcl_dist_rank(t->cfg->dist) == 0; }

static void path_in(const trainer *t, const char *name, char *buf, size_t size)
{
    snprintf(buf, size, "%s/%s", t->cfg->run_dir, name);
}

/* ---- setup ---------------------------------------------------------------------------------------- */

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
        return FCL_ERR(&ctx->err, FCL_ERR_FORMAT, "%s: training needs at least 2 identity folders, found %d", c->train_dir,
                       t->train.n_classes);
    st = writer(t) ? fcl_dataset_write_classes(&t->train, classes_path, &e) : FCL_OK;
    if (st) return take(ctx, st, &e);
    if ((st = fcl_dist_barrier(c->dist, &ctx->err))) return st; /* the other ranks read classes.txt below */
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
            return FCL_ERR(&ctx->err, FCL_ERR_FORMAT, "%s: verification during training needs labelled pairs", c->pairs);
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

static fcl_status build_loss_state(trainer *t)
{
    fcl_ctx *ctx = t->ctx;
    const fcl_train_config *c = t->cfg;
    fcl_status st = FCL_OK;
    size_t B = (size_t)c->batch, D = (size_t)t->dim, K = (size_t)t->classes, one = 1;
    st = fcl_tensor_alloc4(ctx, &t->x, B, (size_t)t->model->channels, (size_t)t->model->in_h, (size_t)t->model->in_w);
    if (!st) st = fcl_tensor_alloc(ctx, &t->labels, 1, &B, FCL_F32);
    if (!st) st = fcl_tensor_alloc(ctx, &t->loss, 1, &one, FCL_F32);
    if (!st) st = fcl_tensor_alloc4(ctx, &t->demb, B, D, 1, 1);
    if (!st && t->ce_term >= 0) st = fcl_tensor_alloc4(ctx, &t->dlogits, B, K, 1, 1);
    if (st) return st;
    fcl_rng r;
    fcl_rng_seed(&r, c->seed ^ 0x5eedull);
    if (t->head_term >= 0) {
        size_t shape[2] = {K, D};
        st = fcl_tensor_alloc(ctx, &t->head_w, 2, shape, FCL_F32);
        if (!st) st = fcl_tensor_alloc(ctx, &t->head_dw, 2, shape, FCL_F32);
        size_t lshape[2] = {B, K};
        if (!st) st = fcl_tensor_alloc(ctx, &t->head_logits, 2, lshape, FCL_F32);
        if (!st) st = fcl_tensor_alloc(ctx, &t->head_cos, 2, lshape, FCL_F32);
        if (st) return st;
        float *w = malloc(K * D * sizeof *w);
        if (!w) return FCL_ERR(&ctx->err, FCL_ERR_NOMEM, "out of host memory");
        for (size_t i = 0; i < K * D; i++) w[i] = 0.01f * fcl_rng_normal(&r); /* insightface: normal(0, 0.01) */
        st = fcl_tensor_upload(ctx, &t->head_w, w, K * D);
        free(w);
        if (st) return st;
        fcl_optim_hparams hp = c->optim == FCL_OPTIM_SGD ? fcl_sgd_defaults(c->lr) : fcl_adamw_defaults(c->lr);
        if (c->optim == FCL_OPTIM_SGD) {
            hp.momentum = c->momentum;
            hp.nesterov = c->nesterov;
        }
        hp.weight_decay = c->weight_decay;
        hp.lr = fcl_sched_lr(t->sched, 0); /* the schedule's current lr (warmup), as the network's groups */
        fcl_param_range all = {0, K * D};
        fcl_param_group g = {hp, &all, 1};
        st = fcl_optim_create(ctx, &t->head_opt, c->optim, K * D, &g, 1);
        if (st) return st;
    }
    if (t->center_term >= 0) {
        size_t shape[2] = {K, D};
        st = fcl_tensor_alloc(ctx, &t->centers, 2, shape, FCL_F32);
        if (!st) st = fcl_tensor_fill(ctx, &t->centers, 0.0f);
        if (st) return st;
    }
    int gather = 0; /* ranks need the global batch's embeddings: batch-wise terms, centre updates */
    for (int i = 0; i < c->loss.n; i++) gather |= is_batchwise(c->loss.kind[i]) || c->loss.kind[i] == FCL_TERM_CENTER;
    if (fcl_dist_size(c->dist) > 1 && gather) {
        size_t s2[2] = {B, D};
        st = fcl_tensor_alloc(ctx, &t->emb_all, 2, s2, FCL_F32);
        if (!st) st = fcl_tensor_alloc(ctx, &t->demb_all, 2, s2, FCL_F32);
        if (!st) st = fcl_tensor_alloc(ctx, &t->y_all, 1, &B, FCL_F32);
        if (st) return st;
        if (!(t->labels_all = malloc(B * sizeof *t->labels_all))) return FCL_ERR(&ctx->err, FCL_ERR_NOMEM, "out of host memory");
    }
    for (int i = 0; i < c->loss.n; i++) {
        if (c->loss.kind[i] == FCL_TERM_CONTRASTIVE) {
            size_t s2[2] = {B, D};
            st = fcl_tensor_alloc(ctx, &t->scratch_a, 2, s2, FCL_F32);
            if (!st) st = fcl_tensor_alloc(ctx, &t->scratch_b, 2, s2, FCL_F32);
            if (!st) st = fcl_tensor_alloc(ctx, &t->pair_y, 1, &B, FCL_F32);
            if (st) return st;
        }
    }
    return FCL_OK;
}

static fcl_margin_params margin_params(const trainer *t, int iter)
{
    const fcl_train_config *c = t->cfg;
    fcl_margin_params p = {0};
    switch (c->loss.kind[t->head_term]) {
    case FCL_TERM_COSFACE:
        p.kind = FCL_MARGIN_COSFACE;
        p.s = c->margin_s > 0 ? (float)c->margin_s : 30.0f;
        p.m = c->margin_m > 0 ? (float)c->margin_m : 0.35f;
        break;
    case FCL_TERM_SPHEREFACE: {
        p.kind = FCL_MARGIN_SPHEREFACE;
        p.m = c->margin_m > 0 ? (float)c->margin_m : 4.0f;
        fcl_sphereface_schedule s = {1000.0, 0.12, 1.0, 5.0};
        fcl_sphereface_lambda(&p.lambda, &s, iter, NULL);
        break;
    }
    default:
        p.kind = FCL_MARGIN_ARCFACE;
        p.s = c->margin_s > 0 ? (float)c->margin_s : 30.0f;
        p.m = c->margin_m > 0 ? (float)c->margin_m : 0.5f;
        p.easy_margin = c->easy_margin;
        break;
    }
    p.label_smoothing = (float)c->label_smoothing;
    return p;
}

/* ---- one step ------------------------------------------------------------------------------------- */

/* A view of the first n rows of a [B, ...] tensor. */
static fcl_status rows(fcl_ctx *ctx, const fcl_tensor *t, size_t n, fcl_tensor *out)
{
    size_t shape[FCL_MAX_DIMS];
    memcpy(shape, t->shape, sizeof shape);
    shape[0] = n;
    return fcl_tensor_view(ctx, t, 0, t->ndim, shape, out);
}

/* Rows off_rows .. off_rows + take_rows - 1 of a [B, ...] tensor as a [take_rows, D] matrix. */
static fcl_status flat2(fcl_ctx *ctx, const fcl_tensor *t, size_t n, size_t off_rows, size_t take_rows, fcl_tensor *out)
{
    size_t d = fcl_tensor_numel(t) / t->shape[0];
    size_t shape[2] = {take_rows, d};
    (void)n; /* kept at call sites for reading: the batch the view belongs to */
    return fcl_tensor_view(ctx, t, off_rows * d, 2, shape, out);
}

static float download_loss(trainer *t)
{
    float l = NAN;
    if (fcl_tensor_download(t->ctx, &t->loss, &l, 1)) return NAN;
    return l;
}

/* Forward, every loss term, backward, updates. *loss_out: the weighted loss; *correct: top-1 hits
 * of the classification term (host argmax of its logits). */
static fcl_status train_step(trainer *t, const fcl_batch *b, double *loss_out, size_t *correct)
{
    fcl_ctx *ctx = t->ctx;
    const fcl_train_config *c = t->cfg;
    fcl_error e = {0};
    size_t n = (size_t)b->n;
    fcl_tensor x, y, emb, demb, logits, dlog;
    fcl_status st = rows(ctx, &t->x, n, &x);
    if (!st) st = fcl_tensor_upload(ctx, &x, b->data, fcl_tensor_numel(&x));
    if (!st) st = rows(ctx, &t->labels, n, &y);
    if (!st) st = fcl_labels_upload(ctx, &y, b->labels, n, t->classes);
    if (!st) st = fcl_net_forward(t->net, &x, 1);
    if (st) return st;
    st = flat2(ctx, fcl_net_embedding(t->net), n, 0, n, &emb);
    if (!st) st = flat2(ctx, &t->demb, n, 0, n, &demb);
    if (!st) st = fcl_tensor_fill(ctx, &demb, 0.0f);
    if (st) return st;
    /* Batch-wise terms see the global batch: on data-parallel ranks the gathered one (pe, py,
     * plab, pn); their gradient pd is then the same on every rank and each takes its rows. */
    fcl_tensor pe = emb, py = y, pd = demb;
    const int *plab = b->labels;
    size_t pn = n;
    const int ranks = fcl_dist_size(c->dist);
    if (t->emb_all.buf) {
        pn = n * (size_t)ranks;
        st = flat2(ctx, &t->emb_all, pn, 0, pn, &pe);
        if (!st) st = flat2(ctx, &t->demb_all, pn, 0, pn, &pd);
        if (!st) st = fcl_dist_gather_rows(ctx, c->dist, &emb, n, (size_t)t->dim, &pe, b->labels, t->labels_all, pn);
        if (!st) st = rows(ctx, &t->y_all, pn, &py);
        if (!st) st = fcl_labels_upload(ctx, &py, t->labels_all, pn, t->classes);
        if (!st) st = fcl_tensor_fill(ctx, &pd, 0.0f);
        if (st) return st;
        plab = t->labels_all;
    }
    int need_demb = 0;
    double total = 0;
    float *host_logits = NULL;
    int logit_k = t->classes;

    for (int i = 0; i < c->loss.n && !st; i++) {
        float w = (float)c->loss.weight[i];
        switch (c->loss.kind[i]) {
        case FCL_TERM_CE: {
            fcl_xent_params xp = {(float)c->label_smoothing};
            st = flat2(ctx, fcl_net_output(t->net), n, 0, n, &logits);
            if (!st) st = flat2(ctx, &t->dlogits, n, 0, n, &dlog);
            if (!st) st = fcl_softmax_xent_fwd(ctx, &t->loss, NULL, &logits, &y, &xp);
            if (!st) st = fcl_tensor_fill(ctx, &dlog, 0.0f);
            if (!st) st = fcl_softmax_xent_bwd(ctx, &dlog, &logits, &y, &xp, w);
            if (!st) total += w * download_loss(t);
            if (!st && (host_logits = malloc(n * (size_t)logit_k * sizeof(float))))
                st = fcl_tensor_download(ctx, &logits, host_logits, n * (size_t)logit_k);
            break;
        }
        case FCL_TERM_ARCFACE: case FCL_TERM_COSFACE: case FCL_TERM_SPHEREFACE: {
            fcl_margin_params p = margin_params(t, (int)t->step);
            fcl_tensor hl, hc;
            st = flat2(ctx, &t->head_logits, n, 0, n, &hl);
            if (!st) st = flat2(ctx, &t->head_cos, n, 0, n, &hc);
            if (!st) st = fcl_margin_head_fwd(ctx, &t->loss, &hl, &hc, &emb, &t->head_w, &y, &p);
            if (!st) st = fcl_tensor_fill(ctx, &t->head_dw, 0.0f);
            if (!st) st = fcl_margin_head_bwd(ctx, &demb, &t->head_dw, &hl, &hc, &emb, &t->head_w, &y, &p, w);
            if (!st) total += w * download_loss(t);
            /* accuracy from the plain cosines (the margin only shapes training) */
            if (!st && (host_logits = malloc(n * (size_t)logit_k * sizeof(float))))
                st = fcl_tensor_download(ctx, &hc, host_logits, n * (size_t)logit_k);
            need_demb = 1;
            break;
        }
        case FCL_TERM_CENTER:
            st = fcl_center_loss_fwd(ctx, &t->loss, &emb, &t->centers, &y);
            if (!st) st = fcl_center_loss_bwd(ctx, &demb, NULL, &emb, &t->centers, &y, w);
            if (!st) total += w * download_loss(t);
            need_demb = 1;
            break;
        case FCL_TERM_TRIPLET: {
            fcl_triplet_params p = {c->triplet_semi_hard ? FCL_TRIPLET_SEMI_HARD : FCL_TRIPLET_BATCH_HARD,
                                    c->triplet_margin > 0 ? (float)c->triplet_margin : 0.3f, 0};
            st = fcl_triplet_loss_fwd(ctx, &t->loss, &pe, &py, &p);
            if (!st) st = fcl_triplet_loss_bwd(ctx, &pd, &pe, &py, &p, w);
            if (!st) total += w * download_loss(t);
            need_demb = 1;
            break;
        }
        case FCL_TERM_HISTOGRAM: {
            fcl_histogram_params p = {c->histogram_bins};
            st = fcl_histogram_loss_fwd(ctx, &t->loss, &pe, &py, &p);
            if (!st) st = fcl_histogram_loss_bwd(ctx, &pd, &pe, &py, &p, w);
            if (!st) total += w * download_loss(t);
            need_demb = 1;
            break;
        }
        case FCL_TERM_CONTRASTIVE: {
            /* pairs of neighbouring rows (i, i + 1): with P x K batches mostly the same identity,
             * one different pair per identity boundary */
            if (pn < 2) break;
            size_t np = pn - 1;
            float *ypair = malloc(np * sizeof *ypair);
            if (!ypair) {
                st = FCL_ERR(&ctx->err, FCL_ERR_NOMEM, "out of host memory");
                break;
            }
            for (size_t k = 0; k < np; k++) ypair[k] = plab[k] == plab[k + 1] ? 1.0f : 0.0f;
            fcl_tensor a, bb, da, db, yy, d1, d0;
            fcl_contrastive_params p = {c->triplet_margin > 0 ? (float)c->triplet_margin : 1.0f};
            size_t ys[1] = {np};
            st = flat2(ctx, &pe, pn, 0, np, &a);
            if (!st) st = flat2(ctx, &pe, pn, 1, np, &bb);
            if (!st) st = flat2(ctx, &t->scratch_a, pn, 0, np, &da);
            if (!st) st = flat2(ctx, &t->scratch_b, pn, 0, np, &db);
            if (!st) st = fcl_tensor_view(ctx, &t->pair_y, 0, 1, ys, &yy);
            if (!st) st = fcl_tensor_upload(ctx, &yy, ypair, np);
            free(ypair);
            if (!st) st = fcl_contrastive_loss_fwd(ctx, &t->loss, &a, &bb, &yy, &p);
            if (!st) st = fcl_tensor_fill(ctx, &da, 0.0f);
            if (!st) st = fcl_tensor_fill(ctx, &db, 0.0f);
            if (!st) st = fcl_contrastive_loss_bwd(ctx, &da, &db, &a, &bb, &yy, &p, w);
            if (!st) st = flat2(ctx, &pd, pn, 0, np, &d0);
            if (!st) st = fcl_add_acc(ctx, &d0, &da);
            if (!st) st = flat2(ctx, &pd, pn, 1, np, &d1);
            if (!st) st = fcl_add_acc(ctx, &d1, &db);
            if (!st) total += w * download_loss(t);
            need_demb = 1;
            break;
        }
        default:
            break;
        }
    }
    if (!st && t->emb_all.buf && need_demb) { /* this rank's rows of the global gradient, times the
                                                  rank count (the averaging divides it again) */
        fcl_tensor mine;
        st = flat2(ctx, &pd, pn, n * (size_t)fcl_dist_rank(c->dist), n, &mine);
        if (!st) st = fcl_axpy(ctx, &demb, (float)ranks, &mine);
    }
    if (!st && !isfinite(total))
        st = FCL_ERR(&ctx->err, FCL_ERR_INVALID_ARG,
                     "training diverged: loss is %g at step %lld (lower --lr, or use --clip)", total, (long long)t->step + 1);
    if (!st) st = fcl_optim_zero_grad(ctx, fcl_net_grads(t->net));
    if (!st) {
        fcl_tensor dl_all;
        int has_ce = t->ce_term >= 0;
        if (has_ce) st = flat2(ctx, &t->dlogits, n, 0, n, &dl_all);
        if (!st) st = fcl_net_backward(t->net, has_ce ? &dl_all : NULL, need_demb ? &demb : NULL);
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
    if (!st && t->center_term >= 0) st = fcl_center_update(ctx, &t->centers, &pe, &py, (float)c->center_alpha);
    if (!st && fcl_sched_config_of(t->sched)->unit == FCL_SCHED_PER_ITER &&
        fcl_sched_config_of(t->sched)->kind != FCL_SCHED_PLATEAU) {
        st = take(ctx, fcl_sched_on_iter(t->sched, &e), &e);
        if (!st) st = fcl_sched_apply(ctx, t->sched, t->opt);
        if (!st && t->head_opt) st = fcl_optim_set_lr(ctx, t->head_opt, 0, fcl_sched_lr(t->sched, 0));
    }
    if (!st && host_logits) {
        for (size_t i = 0; i < n; i++) {
            const float *row = host_logits + i * (size_t)logit_k;
            int best = 0;
            for (int k = 1; k < logit_k; k++)
                if (row[k] > row[best]) best = k;
            *correct += best == b->labels[i];
        }
    }
    free(host_logits);
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
            return FCL_ERR(&t->ctx->err, FCL_ERR_INVALID_ARG,
                           "training diverged: the %s are not finite (element %zu) after step %lld, epoch %d "
                           "(lower --lr, or use --clip)",
                           what[i], bad, (long long)t->step, epoch);
    }
    /* finite weights can still overflow in inference (huge running variances): the last training
     * batch through the network as validation will run it */
    size_t bad;
    fcl_tensor x, emb;
    fcl_status st = rows(t->ctx, &t->x, (size_t)t->cfg->batch, &x);
    if (!st) st = fcl_net_forward(t->net, &x, 0);
    if (!st) st = flat2(t->ctx, fcl_net_output(t->net), (size_t)t->cfg->batch, 0, (size_t)t->cfg->batch, &emb);
    if (!st) st = fcl_tensor_check_finite(t->ctx, &emb, &bad);
    if (!st && bad != (size_t)-1)
        st = FCL_ERR(&t->ctx->err, FCL_ERR_INVALID_ARG,
                     "training diverged: the network's outputs in inference are not finite after step %lld, epoch %d "
                     "(lower --lr, or use --clip)",
                     (long long)t->step, epoch);
    return st;
}

/* ---- evaluation ----------------------------------------------------------------------------------- */

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
static fcl_status validate(trainer *t, fcl_epoch_stats *s)
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
    fcl_loader_opts lo = {0};
    lo.batch_size = c->batch;
    lo.channels = t->model->channels;
    lo.height = t->model->in_h;
    lo.width = t->model->in_w;
    lo.workers = c->workers > 0 ? c->workers : 1;
    lo.seed = c->seed;
    lo.sampler = FCL_SAMPLER_SEQUENTIAL;
    lo.skip_bad = c->skip_bad;
    lo.aug = &t->eval_aug;
    fcl_status st = src.count ? take(ctx, fcl_loader_create(&l, &src, &lo, &e), &e) : FCL_OK;
    if (!st && l) st = take(ctx, fcl_loader_start_epoch(l, 0, &e), &e);
    double loss_sum = 0;
    size_t seen = 0, hits[2] = {0, 0};
    float *host = malloc((size_t)c->batch * (size_t)t->classes * sizeof *host);
    if (!host && !st) st = FCL_ERR(&ctx->err, FCL_ERR_NOMEM, "out of host memory");
    while (!st && l) {
        const fcl_batch *b = NULL;
        st = take(ctx, fcl_loader_next(l, &b, &e), &e);
        if (st || !b) break;
        size_t n = (size_t)b->n;
        fcl_tensor x, y, emb, logits;
        st = rows(ctx, &t->x, n, &x);
        if (!st) st = fcl_tensor_upload(ctx, &x, b->data, fcl_tensor_numel(&x));
        if (!st) st = rows(ctx, &t->labels, n, &y);
        if (!st) st = fcl_labels_upload(ctx, &y, b->labels, n, t->classes);
        if (!st) st = fcl_net_forward(t->net, &x, 0);
        if (st) break;
        if (t->ce_term >= 0) {
            fcl_xent_params xp = {(float)c->label_smoothing};
            st = flat2(ctx, fcl_net_output(t->net), n, 0, n, &logits);
            if (!st) st = fcl_softmax_xent_fwd(ctx, &t->loss, NULL, &logits, &y, &xp);
        } else {
            fcl_margin_params p = margin_params(t, (int)t->step);
            fcl_tensor hl, hc;
            st = flat2(ctx, fcl_net_embedding(t->net), n, 0, n, &emb);
            if (!st) st = flat2(ctx, &t->head_logits, n, 0, n, &hl);
            if (!st) st = flat2(ctx, &t->head_cos, n, 0, n, &hc);
            if (!st) st = fcl_margin_head_fwd(ctx, &t->loss, &hl, &hc, &emb, &t->head_w, &y, &p);
            logits = hc;
        }
        if (!st) st = fcl_tensor_download(ctx, &logits, host, n * (size_t)t->classes);
        if (st) break;
        loss_sum += (double)download_loss(t) * (double)n;
        int ks[2] = {1, 5};
        size_t cnt[2] = {0, 0};
        st = take(ctx, fcl_topk_correct(host, b->labels, n, t->classes, ks, t->classes >= 5 ? 2 : 1, cnt, &e), &e);
        hits[0] += cnt[0];
        hits[1] += cnt[1];
        seen += n;
    }
    double sums[4] = {loss_sum, (double)seen, (double)hits[0], (double)hits[1]};
    if (!st) st = fcl_dist_sum_d(c->dist, sums, 4, &ctx->err);
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

static fcl_status verify(trainer *t, fcl_epoch_stats *s)
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
    fcl_verify_result r;
    memset(&r, 0, sizeof r);
    fcl_status st = fcl_dist_embed_pairs(ctx, t->cfg->dist, t->net, &in, &t->pairs, eval_progress, t, &scores);
    if (st) return st;
    labels = malloc(t->pairs.n * sizeof *labels);
    folds = malloc(t->pairs.n * sizeof *folds);
    if (!labels || !folds) {
        st = FCL_ERR(&ctx->err, FCL_ERR_NOMEM, "out of host memory");
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

/* ---- logs, plots, checkpoints ----------------------------------------------------------------------- */

static const char *csv_cols[] = {"epoch", "train_loss", "train_acc", "val_loss", "val_acc", "val_top5", "auc",
                                 "eer", "tar_far1e-2", "best_acc", "lr", "images_per_s", "seconds"};
#define N_COLS ((int)(sizeof csv_cols / sizeof csv_cols[0]))

static double metric_of(const trainer *t, const fcl_epoch_stats *s, int *maximise)
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

/* The resolved configuration as config.txt's text (malloc'd), also compared on --resume. */
static fcl_status config_text(trainer *t, char **out)
{
    const fcl_train_config *c = t->cfg;
    size_t text_len = 0;
    *out = NULL;
    FILE *f = open_memstream(out, &text_len);
    if (!f) return FCL_ERR(&t->ctx->err, FCL_ERR_NOMEM, "out of host memory");
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
        return FCL_ERR(&t->ctx->err, FCL_ERR_NOMEM, "out of host memory");
    }
    return FCL_OK;
}

static fcl_status write_config(trainer *t)
{
    char path[1200], *text = NULL;
    path_in(t, "config.txt", path, sizeof path);
    fcl_status st = config_text(t, &text);
    if (!st) st = fcl_write_text_atomic(path, text, &t->ctx->err);
    free(text);
    return st;
}

/* ---- the run ----------------------------------------------------------------------------------------- */

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
    for (int i = 0; i < c->loss.n; i++)
        pair_loss |= c->loss.kind[i] == FCL_TERM_TRIPLET || c->loss.kind[i] == FCL_TERM_HISTOGRAM ||
                     c->loss.kind[i] == FCL_TERM_CONTRASTIVE;
    fcl_loader_source src = fcl_loader_source_dataset(&t->train);
    fcl_loader_opts lo = {0};
    lo.batch_size = c->batch;
    lo.channels = t->model->channels;
    lo.height = t->model->in_h;
    lo.width = t->model->in_w;
    lo.workers = c->workers > 0 ? c->workers : 1;
    lo.seed = c->seed;
    lo.drop_last = 1; /* batch norm needs more than one value; equal batches keep steps comparable */
    lo.skip_bad = c->skip_bad;
    lo.aug = &t->train_aug;
    lo.shard_index = fcl_dist_rank(c->dist);
    lo.shard_count = fcl_dist_size(c->dist);
    if (c->pk_p > 0 || pair_loss) {
        lo.sampler = FCL_SAMPLER_PK;
        lo.pk_k = c->pk_k > 0 ? c->pk_k : 4;
        lo.pk_p = c->pk_p > 0 ? c->pk_p : c->batch / lo.pk_k;
        lo.pk_replace = 1;
        if (lo.pk_p * lo.pk_k > c->batch)
            return FCL_ERR(&t->ctx->err, FCL_ERR_INVALID_ARG, "P x K = %d x %d exceeds --batch %d", lo.pk_p, lo.pk_k, c->batch);
        if (lo.pk_p < 2)
            return FCL_ERR(&t->ctx->err, FCL_ERR_INVALID_ARG, "P x K sampling needs P >= 2 identities per batch (batch %d, K %d)",
                           c->batch, lo.pk_k);
    } else {
        lo.sampler = FCL_SAMPLER_SHUFFLE;
    }
    int gb = lo.sampler == FCL_SAMPLER_PK ? lo.pk_p * lo.pk_k : c->batch;
    if (gb % lo.shard_count)
        return FCL_ERR(&t->ctx->err, FCL_ERR_INVALID_ARG, "the global batch %d must be a multiple of the %d ranks", gb,
                       lo.shard_count);
    st = take(t->ctx, fcl_loader_create(&t->loader, &src, &lo, &e), &e);
    if (st) return st;
    t->steps_per_epoch = fcl_loader_batches_per_epoch(t->loader);
    if (t->steps_per_epoch == 0)
        return FCL_ERR(&t->ctx->err, FCL_ERR_INVALID_ARG, "%s: %zu images make no full batch of %d (lower --batch)",
                       c->train_dir, t->train.n, c->batch);
    return FCL_OK;
}

static void cleanup(trainer *t)
{
    fcl_ctx *ctx = t->ctx;
    fcl_error e = {0};
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
    if (t->log.f) fcl_csvlog_close(&t->log, &e);
    free(t->h_epoch); free(t->h_train_loss); free(t->h_val_loss); free(t->h_train_acc); free(t->h_val_acc);
    free(t->h_auc); free(t->h_eer);
}

/* Restores the per-epoch history (plots, best value) from log.csv after a resume. */
static void reload_history(trainer *t)
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
        return FCL_ERR(&ctx->err, FCL_ERR_INVALID_ARG, "training needs a training folder, a model and a run folder");
    if (cfg->epochs < 1 || cfg->batch < 2)
        return FCL_ERR(&ctx->err, FCL_ERR_INVALID_ARG, "--epochs must be >= 1 and --batch >= 2 (batch norm needs 2)");
    if (cfg->init && cfg->resume) return FCL_ERR(&ctx->err, FCL_ERR_INVALID_ARG, "use --init or --resume, not both");
    for (int i = 0; i < cfg->loss.n; i++) {
        if (cfg->loss.kind[i] == FCL_TERM_CE) t->ce_term = i;
        if (is_head(cfg->loss.kind[i])) t->head_term = i;
        if (cfg->loss.kind[i] == FCL_TERM_CENTER) t->center_term = i;
    }
    if (writer(t) && (st = fcl_run_dir_prepare(ctx, cfg, &notes)) == FCL_OK) show_notes(t, FCL_EV_INFO, &notes);
    if (!st) st = fcl_dist_barrier(cfg->dist, &ctx->err); /* data-parallel: rank 0 prepared the folder */
    if (st) return st;
    fcl_rng_seed(fcl_ctx_rng(ctx), cfg->seed);

    st = open_data(t);
    if (!st) st = build_model(t);
    if (!st) st = make_loader(t);
    if (!st) st = build_optim(t);
    if (!st) st = build_loss_state(t);
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
        st = config_text(t, &text);
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
        reload_history(t);
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
    if (writer(t)) {
        char path[1200];
        path_in(t, "log.csv", path, sizeof path);
        st = take(ctx, fcl_csvlog_open(&t->log, path, csv_cols, N_COLS, cfg->resume ? FCL_CSVLOG_APPEND : 0, &e), &e);
        if (!st) st = write_config(t);
        if (st) goto fail;
    }
    t->best = NAN;
    for (int i = 0; i < t->n_hist; i++) { /* the best so far of a resumed run */
        fcl_epoch_stats s;
        memset(&s, 0, sizeof s);
        s.train_loss = t->h_train_loss[i];
        s.val_loss = t->h_val_loss[i];
        s.val_acc = t->h_val_acc[i];
        s.auc = t->h_auc[i];
        int maximise;
        double v = metric_of(t, &s, &maximise);
        if (isfinite(v) && (isnan(t->best) || (maximise ? v > t->best : v < t->best))) t->best = v;
    }

    fcl_epoch_stats s;
    memset(&s, 0, sizeof s);
    for (int64_t ep = start_epoch; ep < cfg->epochs && !t->stop; ep++) {
        double t0 = now_s(), loss_sum = 0;
        size_t correct = 0, seen = 0, done = 0;
        st = take(ctx, fcl_loader_start_epoch(t->loader, (int)ep, &e), &e);
        if (st) goto fail;
        for (;;) {
            const fcl_batch *b = NULL;
            st = take(ctx, fcl_loader_next(t->loader, &b, &e), &e);
            if (st) goto fail;
            if (!b) break;
            double l = 0;
            st = train_step(t, b, &l, &correct);
            if (st) goto fail;
            loss_sum += l * b->n;
            seen += (size_t)b->n;
            done++;
            fcl_train_event ev = {0};
            ev.kind = FCL_EV_BATCH;
            ev.epoch = (int)ep + 1;
            ev.epochs = cfg->epochs;
            ev.done = done;
            ev.total = t->steps_per_epoch;
            ev.loss = loss_sum / (double)seen;
            ev.images_per_s = (double)seen / (now_s() - t0);
            if (emit(t, &ev)) break;
        }
        {
            fcl_strlist w = {0};
            if (!fcl_loader_take_warnings(t->loader, &w, &e))
                for (size_t i = 0; i < w.n; i++) info(t, FCL_EV_WARNING, "%s", w.items[i]);
            fcl_strlist_free(&w);
        }
        if (t->stop) break;
        if ((st = check_diverged(t, (int)ep + 1))) goto fail; /* before validation reads NaN logits */
        { /* the global batch's loss and accuracy: sums over ranks */
            double sums[3] = {loss_sum, (double)seen, (double)correct};
            st = fcl_dist_sum_d(cfg->dist, sums, 3, &ctx->err);
            if (!st && t->ddp) st = fcl_ddp_average_buffers(t->ddp); /* per-rank BN running stats */
            if (st) goto fail;
            loss_sum = sums[0];
            seen = (size_t)sums[1];
            correct = (size_t)sums[2];
        }
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
        if (t->has_val && (t->ce_term >= 0 || t->head_term >= 0) && (st = validate(t, &s))) goto fail;
        if (t->has_pairs && (st = verify(t, &s))) goto fail;
        if (fcl_sched_config_of(t->sched)->unit == FCL_SCHED_PER_EPOCH || fcl_sched_config_of(t->sched)->kind == FCL_SCHED_PLATEAU) {
            int maximise;
            double m = metric_of(t, &s, &maximise);
            st = take(ctx, fcl_sched_on_epoch(t->sched, m, &e), &e);
            if (!st) st = fcl_sched_apply(ctx, t->sched, t->opt);
            if (!st && t->head_opt) st = fcl_optim_set_lr(ctx, t->head_opt, 0, fcl_sched_lr(t->sched, 0));
            if (st) goto fail;
        }
        s.lr = fcl_optim_lr(t->opt, 0);
        s.seconds = now_s() - t0;
        int maximise;
        double m = metric_of(t, &s, &maximise);
        s.best = isfinite(m) && (isnan(t->best) || (maximise ? m > t->best : m < t->best));
        if (s.best) t->best = m;

        double row[N_COLS] = {s.epoch, s.train_loss, s.train_acc, s.val_loss, s.val_acc, s.val_top5, s.auc,
                              s.eer, s.tar_1e2, s.best_acc, s.lr, s.images_per_s, s.seconds};
        st = writer(t) ? take(ctx, fcl_csvlog_write_numbers(&t->log, row, &e), &e) : FCL_OK;
        if (!st && history_push(t, &s)) st = FCL_ERR(&ctx->err, FCL_ERR_NOMEM, "out of host memory");
        if (!st && writer(t)) st = plots(t);
        if (!st && writer(t)) st = save(t, "last.safetensors", ep + 1);
        if (!st && writer(t) && s.best) st = save(t, "best.safetensors", ep + 1);
        if (st) goto fail;
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
