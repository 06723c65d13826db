/* facecl/train.h: the training loop behind `facecl train`: data, losses, optimizer, schedule, logs, checkpoints. */
#ifndef FACECL_TRAIN_H
#define FACECL_TRAIN_H

#include "context.h"
#include "model.h"
#include "optim.h"
#include "schedule.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- the loss: one term or a weighted sum -------------------------------------------------------
 * "ce", "arcface", "ce+0.01*center", "arcface+0.5*triplet", ... Terms:
 *   ce           softmax cross-entropy on the model's classifier (label smoothing)
 *   arcface, cosface, sphereface
 *                a margin head on the embedding with its own class weights (the model is then
 *                built without a classifier); at most one classification term in all
 *   center       centre loss on the embedding (Wen et al.), centres updated with rate alpha
 *   triplet      triplet loss with batch-hard or semi-hard mining (P x K batches)
 *   contrastive  contrastive loss on neighbouring rows of the batch (same identity or not)
 *   histogram    histogram loss over all pairs of the batch (P x K batches) */
typedef enum fcl_loss_term_kind {
    FCL_TERM_CE = 0,
    FCL_TERM_ARCFACE,
    FCL_TERM_COSFACE,
    FCL_TERM_SPHEREFACE,
    FCL_TERM_CENTER,
    FCL_TERM_TRIPLET,
    FCL_TERM_CONTRASTIVE,
    FCL_TERM_HISTOGRAM,
    FCL_TERM_KIND_COUNT
} fcl_loss_term_kind;

#define FCL_MAX_LOSS_TERMS 4

typedef struct fcl_loss_spec {
    int n;
    fcl_loss_term_kind kind[FCL_MAX_LOSS_TERMS];
    double weight[FCL_MAX_LOSS_TERMS];
} fcl_loss_spec;

/* Parses the text above; errors name the offending term. */
fcl_status fcl_loss_spec_parse(const char *text, fcl_loss_spec *out, fcl_error *err);
const char *fcl_loss_term_name(fcl_loss_term_kind k);

/* ---- configuration ------------------------------------------------------------------------------ */
typedef struct fcl_train_config {
    /* data */
    const char *train_dir;         /* ImageFolder (required) */
    const char *val_dir;           /* ImageFolder with the same classes (optional) */
    const char *pairs;             /* labelled pair list for verification each epoch (optional) */
    const char *pairs_root;        /* folder the pair paths are relative to (default: the list's folder) */
    int pairs_lfw;                 /* the list is LFW's pairs.txt */
    int tta_flip;                  /* pair verification embeds image + mirror (fcl_eval_input.tta_flip) */
    int skip_bad;                  /* warn about bad images and go on */
    const char *augment;           /* training augmentation (fcl_aug_parse syntax), before normalisation */
    double norm_mean, norm_std;    /* input normalisation (x - mean) / std, applied in train and eval */
    int workers;

    /* model */
    const char *model;             /* model file or shipped name */
    const char *models_dir;        /* where shipped models are installed (fcl_model_find); may be NULL */
    fcl_model_opts model_opts;     /* channels, size, embedding, width, stem (classes come from the data) */

    /* loss */
    fcl_loss_spec loss;
    double label_smoothing;        /* ce and the margin heads' cross-entropy */
    double margin_s, margin_m;     /* arcface / cosface / sphereface; <= 0: the kind's default */
    int easy_margin;
    double center_alpha;           /* centre update rate (Wen: 0.5) */
    double triplet_margin;         /* triplet / contrastive margin; <= 0: default */
    int triplet_semi_hard;
    int histogram_bins;
    int pk_p, pk_k;                /* P x K sampling (0: plain shuffling, unless a pair loss needs it) */

    /* optimisation */
    int epochs, batch;
    fcl_optim_kind optim;
    double lr, momentum, weight_decay;
    int nesterov;
    double clip_norm;              /* 0: none */
    double agc_clip;               /* 0: none; > 0: adaptive gradient clipping factor (NFNet; timm's
                                      --clip-mode agc), eps 1e-3, classifier excluded (optim.h) */
    fcl_sched_config sched;        /* kind CONSTANT for none; steps in epochs or iterations per unit;
                                      warmup-cosine / one-cycle total_steps <= 0: the whole run */
    double warmup_epochs;          /* warmup-cosine: linear warmup length in epochs (default 1) */
    uint64_t seed;

    /* transfer learning */
    const char *init;              /* start from this checkpoint's weights (not its classifier if
                                      the class count differs) */
    const char *resume;            /* continue this run exactly (same run folder) */
    int freeze;                    /* freeze the first N layers */

    /* output */
    const char *run_dir;           /* created if missing; holds config.txt, log.csv, classes.txt,
                                      last.safetensors, best.safetensors, loss.png, accuracy.png,
                                      verification.png */
    const char *best_metric;       /* "val_acc", "auc", "train_loss" or "val_loss"; NULL: val_acc
                                      when there is a validation set, auc with pairs, else train_loss */
    int overwrite;                 /* a run_dir that already holds a run (and no resume): 0 refuses,
                                      1 removes the previous run's files first */

    /* data-parallel training (facecl/dist.h): NULL for one process. Every rank calls
     * fcl_train_run with the same configuration; --batch is the global batch (a multiple of the
     * rank count), rank r trains on its part of each; rank 0 alone writes the run folder. A rank
     * whose fcl_train_run fails leaves the others waiting in a collective: the caller ends the
     * job (the facecl tool prints the message and calls MPI_Abort). */
    struct fcl_dist *dist;
    int sync_bn;                   /* batch statistics over the global batch (one process: the same
                                      BN arithmetic as N ranks, for comparing runs) */
    size_t bucket_bytes;           /* gradient allreduce buckets (0: 4 MiB) */
} fcl_train_config;

/* Defaults: SGD lr 0.1 momentum 0.9 wd 5e-4, batch 64, 10 epochs, warmup-cosine per iteration,
 * ce, label smoothing 0, normalisation 0.5 / 0.5, 2 workers, seed 1. */
void fcl_train_config_defaults(fcl_train_config *c);

/* ---- progress ----------------------------------------------------------------------------------- */
typedef struct fcl_epoch_stats {
    int epoch;                     /* 1-based */
    double train_loss, train_acc;  /* mean over the epoch; acc NaN without a classification term */
    double val_loss, val_acc, val_top5;  /* NaN without a validation set */
    double auc, eer, tar_1e2, best_acc;  /* NaN without pairs */
    double lr;                     /* at the end of the epoch (group 0) */
    double images_per_s, seconds;
    double allreduce_s;            /* data-parallel: host time per step waiting for gradients after the backward */
    int best;                      /* this epoch is the best so far by the chosen metric */
} fcl_epoch_stats;

typedef enum fcl_train_event_kind {
    FCL_EV_INFO = 0,               /* text: a line about setup (data summary, model, resume) */
    FCL_EV_WARNING,                /* text: a bad file skipped, ... */
    FCL_EV_BATCH,                  /* done / total batches of the epoch, running loss */
    FCL_EV_EVAL,                   /* done / total of an evaluation pass (text says which) */
    FCL_EV_EPOCH                   /* stats: the finished epoch */
} fcl_train_event_kind;

typedef struct fcl_train_event {
    fcl_train_event_kind kind;
    int epoch, epochs;
    size_t done, total;
    double loss, images_per_s;
    const char *text;
    const fcl_epoch_stats *stats;
} fcl_train_event;

/* Called from the training thread; return non-zero to stop after the current batch (the state
 * of the last finished epoch is in last.safetensors). */
typedef int (*fcl_train_callback)(void *user, const fcl_train_event *ev);

/* Runs the whole training. Errors are in fcl_ctx_error(ctx). *final (may be NULL) receives the
 * last epoch's statistics. */
fcl_status fcl_train_run(fcl_ctx *ctx, const fcl_train_config *cfg, fcl_train_callback cb, void *user,
                         fcl_epoch_stats *final);

#ifdef __cplusplus
}
#endif
#endif
