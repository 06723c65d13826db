/* host/nn/trainer_internal.h: the trainer's state and the helpers its files share (trainer.c, train_loss.c, train_step.c, train_eval.c, train_records.c). */
#ifndef FACECL_NN_TRAINER_INTERNAL_H
#define FACECL_NN_TRAINER_INTERNAL_H

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
    size_t last_n;                 /* rows of t->x the last training step filled (a P x K or last
                                      batch may be smaller than --batch; the rest is stale or unset) */
    int64_t step;

    double best;
    int best_epoch;
    fcl_csvlog log;
    /* per-epoch history for plots */
    int n_hist;
    double *h_epoch, *h_train_loss, *h_val_loss, *h_train_acc, *h_val_acc, *h_auc, *h_eer;
} trainer;

static inline int emit(trainer *t, fcl_train_event *ev)
{
    if (t->cb && t->cb(t->user, ev)) t->stop = 1;
    return t->stop;
}

static inline void info(trainer *t, fcl_train_event_kind kind, const char *fmt, ...)
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

static inline fcl_status take(fcl_ctx *ctx, fcl_status st, const fcl_error *e)
{
    if (st) *fcl_ctx_error(ctx) = *e;
    return st;
}

static inline void show_notes(trainer *t, fcl_train_event_kind kind, fcl_strlist *notes)
{
    for (size_t i = 0; i < notes->n; i++) info(t, kind, "%s", notes->items[i]);
    fcl_strlist_free(notes);
}

static inline double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Rank 0 alone writes the run folder. */
static inline int writer(const trainer *t) { return fcl_dist_rank(t->cfg->dist) == 0; }

static inline void path_in(const trainer *t, const char *name, char *buf, size_t size)
{
    snprintf(buf, size, "%s/%s", t->cfg->run_dir, name);
}

/* A view of the first n rows of a [B, ...] tensor. */
static inline fcl_status rows(fcl_ctx *ctx, const fcl_tensor *t, size_t n, fcl_tensor *out)
{
    size_t shape[FCL_MAX_DIMS];
    memcpy(shape, t->shape, sizeof shape);
    shape[0] = n;
    return fcl_tensor_view(ctx, t, 0, t->ndim, shape, out);
}

/* Rows off_rows .. off_rows + take_rows - 1 of a [B, ...] tensor as a [take_rows, D] matrix. */
static inline fcl_status flat2(fcl_ctx *ctx, const fcl_tensor *t, size_t n, size_t off_rows, size_t take_rows, fcl_tensor *out)
{
    size_t d = fcl_tensor_numel(t) / t->shape[0];
    size_t shape[2] = {take_rows, d};
    (void)n; /* kept at call sites for reading: the batch the view belongs to */
    return fcl_tensor_view(ctx, t, off_rows * d, 2, shape, out);
}

static inline float download_loss(trainer *t)
{
    float l = NAN;
    if (fcl_tensor_download(t->ctx, &t->loss, &l, 1)) return NAN;
    return l;
}

/* The loader options training and validation share: the batch, the model's input, workers, seed. */
static inline fcl_loader_opts loader_opts(const trainer *t, fcl_aug_pipeline *aug)
{
    const fcl_train_config *c = t->cfg;
    fcl_loader_opts lo = {0};
    lo.batch_size = c->batch;
    lo.channels = t->model->channels;
    lo.height = t->model->in_h;
    lo.width = t->model->in_w;
    lo.workers = c->workers > 0 ? c->workers : 1;
    lo.seed = c->seed;
    lo.skip_bad = c->skip_bad;
    lo.aug = aug;
    return lo;
}

/* ---- train_loss.c: the loss terms, and the forward/loss code training and validation share --- */

/* Whether a kind is a margin head (a classifier of its own). */
int fcl_tr_is_head(fcl_loss_term_kind k);
/* Terms over the whole batch at once (pairs, mining: triplet, contrastive, histogram): they need
 * P x K batches, and data-parallel ranks compute them on the gathered global batch. */
int fcl_tr_is_batchwise(fcl_loss_term_kind k);
/* The batch buffers and every term's own state (margin head and its optimizer, centres, gathered
 * global batch, pair scratch). */
fcl_status fcl_tr_build_loss_state(trainer *t);
/* The margin head's parameters at iteration iter (SphereFace anneals its lambda). */
fcl_margin_params fcl_tr_margin_params(const trainer *t, int iter);
/* A batch's images and labels into the first n rows of t->x / t->labels; x, y: those views. */
fcl_status fcl_tr_load_batch(trainer *t, const fcl_batch *b, fcl_tensor *x, fcl_tensor *y);
/* The classification term's forward (ce, or the margin head) on the network's last forward of n
 * rows: its loss in t->loss; *scores the [n, classes] view whose ranking is the prediction (ce:
 * the logits; a margin head: the plain cosines, as the margin only shapes training); *hl the
 * head's margin logits (NULL: not wanted). Needs a ce or a margin-head term. */
fcl_status fcl_tr_class_forward(trainer *t, size_t n, const fcl_tensor *y, fcl_tensor *scores, fcl_tensor *hl);

/* One training step's loss terms over a batch (after the forward). */
typedef struct fcl_tr_terms {
    size_t n, pn;            /* this rank's rows; the (gathered) global batch's rows */
    fcl_tensor emb, demb;    /* [n, D] views: this rank's embedding and its gradient */
    fcl_tensor pe, py, pd;   /* the global batch: embeddings, labels, embedding gradient */
    double total;            /* the weighted loss */
    int need_demb;           /* a term wrote an embedding gradient */
    float *host_scores;      /* [n, classes] classification scores (malloc'd), or NULL */
} fcl_tr_terms;
/* Forward and backward of every term (weighted), the ce gradient into t->dlogits and the
 * embedding gradient into o->demb (this rank's rows of a batch-wise term's global gradient). */
fcl_status fcl_tr_loss_terms(trainer *t, const fcl_batch *b, const fcl_tensor *y, fcl_tr_terms *o);

/* ---- train_step.c: the step loop ------------------------------------------------------------ */

/* One epoch of steps over t->loader; sums (over ranks) of the loss times rows, rows and top-1
 * hits. Returns early with t->stop set when the callback stopped the run. */
fcl_status fcl_tr_train_epoch(trainer *t, int64_t ep, double t0, double *loss_sum, size_t *seen, size_t *correct);

/* ---- train_eval.c: validation and verification ------------------------------------------------ */

/* Top-1 (nk 1) or top-1 and top-5 (nk 2) hits of host scores [n, t->classes] against labels: the
 * one accuracy count of training and validation (fcl_topk_correct: ties to the lower class). */
fcl_status fcl_tr_hits(trainer *t, const float *host, const int *labels, size_t n, int nk, size_t hits[2]);
/* Loss and top-1/top-5 of the classification term over the validation set. */
fcl_status fcl_tr_validate(trainer *t, fcl_epoch_stats *s);
/* Pair verification (AUC, EER, TAR@FAR) and the ROC plot. */
fcl_status fcl_tr_verify(trainer *t, fcl_epoch_stats *s);

/* ---- train_records.c: the run's records (log, history, plots, checkpoints, config) ------------ */

/* The --best-metric value of an epoch; *maximise whether larger is better. */
double fcl_tr_metric_of(const trainer *t, const fcl_epoch_stats *s, int *maximise);
/* The resolved configuration as config.txt's text (malloc'd), also compared on --resume. */
fcl_status fcl_tr_config_text(trainer *t, char **out);
/* Restores the per-epoch history (plots, best value) from log.csv after a resume. */
void fcl_tr_reload_history(trainer *t);
/* The best metric value over the history (a resumed run's best so far), NAN when none. */
double fcl_tr_best_so_far(const trainer *t);
/* Opens log.csv (appending on --resume) and writes config.txt (rank 0). */
fcl_status fcl_tr_open_records(trainer *t);
/* An epoch's log row, history, plots and checkpoints (last, and best when s->best). */
fcl_status fcl_tr_record_epoch(trainer *t, const fcl_epoch_stats *s, int64_t epoch_done);
/* Closes log.csv and frees the history. */
void fcl_tr_close_records(trainer *t);

#endif
