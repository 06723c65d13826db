/* tools/cmd_train.c: `facecl train`: flags to a training configuration, progress on the terminal, results. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "eval_common.h"
#include "options.h"
#include "dist_cli.h"
#include "progress.h"
#include <facecl/train.h>

static void usage(FILE *f)
{
    fprintf(f, "usage: facecl train --train DIR --out RUN [options]\n\n"
               "Trains a face classification / verification network. RUN receives config.txt, log.csv,\n"
               "classes.txt, last.safetensors, best.safetensors and loss/accuracy/verification/ROC plots.\n\n"
               "data:\n"
               "  --train DIR            ImageFolder: one folder per identity (required)\n"
               "  --val DIR              held-out images of the same identities (accuracy each epoch)\n"
               "  --pairs FILE           labelled pair list (path1 path2 label) for AUC/EER each epoch\n"
               "  --pairs-root DIR       folder the pair paths are relative to (default: the list's folder)\n"
               "  --lfw                  the pair list is LFW's pairs.txt\n"
               "  --tta flip|none        verification embeds each image and its mirror, summed (default none)\n"
               "  --augment SPEC         e.g. flip,crop=4,jitter=0.2:0.2:0.2,erase=0.25,rotate=10 (default flip)\n"
               "  --norm MEAN:STD        input normalisation (default 0.5:0.5)\n"
               "  --workers N            loader threads (default 2)\n"
               "  --skip-bad             warn about unreadable images and go on\n"
               "model:\n"
               "  --model NAME|FILE      models/NAME.model or a file (default small)\n"
               "  --size S --channels C --embedding E --width W --stem face|imagenet\n"
               "loss:\n"
               "  --loss SPEC            ce | arcface | cosface | sphereface | triplet | contrastive | histogram,\n"
               "                         or a weighted sum such as ce+0.01*center (default ce)\n"
               "  --label-smoothing X    --margin-s S --margin-m M --easy-margin --center-alpha A\n"
               "  --triplet-margin M     --semi-hard --bins R --pk PxK (identities x images per batch)\n"
               "optimisation:\n"
               "  --epochs N (10) --batch N (64) --optim sgd|adamw --lr X (0.1) --momentum X (0.9)\n"
               "  --nesterov --wd X (5e-4) --clip MAXNORM --seed N (1)\n"
               "  --agc CLIP             adaptive gradient clipping (NFNet, unit-wise; timm 0.01..0.16)\n"
               "  --sched cosine|step|multistep|onecycle|plateau|none (cosine: per iteration, with warmup)\n"
               "  --warmup EPOCHS (1 for cosine) --step-size EPOCHS --gamma X --milestones E1,E2,...\n"
               "  --patience N --best-metric val_acc|auc|train_loss|val_loss\n"
               "transfer learning:\n"
               "  --init CKPT            start from a checkpoint's weights (not its classifier if the classes differ)\n"
               "  --resume CKPT          continue a run exactly (RUN must be that run's folder; the model,\n"
               "                         size, batch and loss must stay; other changes are listed)\n"
               "  --overwrite            replace the run already in RUN (without it, such a RUN is refused)\n"
               "  --freeze N             freeze the first N layers (see facecl model show)\n"
               "  --device SEL           OpenCL device (default $FACECL_DEVICE, else first GPU, else first device)\n"
               "data-parallel (mpirun -np N facecl train ...: rank r takes the r-th device of --device on its node):\n"
               "  --sync-bn              batch norm statistics over the global batch (default: per rank)\n"
               "  --bucket-mb X          gradient allreduce bucket size (default 4)\n");
}

typedef struct ui {
    fcl_progress bar;
    int epoch_open;
    int quiet;
    int rank;                      /* data-parallel: only rank 0 shows progress */
} ui;

static void fmt_opt(char *buf, size_t size, const char *label, double v, double scale, const char *unit)
{
    if (isfinite(v)) snprintf(buf, size, "  %s %.4g%s", label, v * scale, unit);
    else buf[0] = '\0';
}

static int on_event(void *user, const fcl_train_event *ev)
{
    ui *u = user;
    char extra[160], a[64], b[64], c[64], d[64], e[64];
    if (u->rank > 0) {
        if (ev->kind == FCL_EV_WARNING) fprintf(stderr, "rank %d: warning: %s\n", u->rank, ev->text);
        return 0;
    }
    switch (ev->kind) {
    case FCL_EV_INFO:
        if (u->epoch_open) fcl_progress_abort(&u->bar), u->epoch_open = 0;
        fprintf(stderr, "%s\n", ev->text);
        break;
    case FCL_EV_WARNING:
        if (u->epoch_open) fcl_progress_abort(&u->bar), u->epoch_open = 0;
        fprintf(stderr, "warning: %s\n", ev->text);
        break;
    case FCL_EV_BATCH:
        if (!u->epoch_open) {
            char label[48];
            snprintf(label, sizeof label, "epoch %d/%d", ev->epoch, ev->epochs);
            fcl_progress_start(&u->bar, label, ev->total, "batch");
            u->bar.quiet = u->quiet;
            u->epoch_open = 1;
        }
        snprintf(extra, sizeof extra, "loss %.4f  %.1f img/s", ev->loss, ev->images_per_s);
        fcl_progress_update(&u->bar, ev->done, extra);
        break;
    case FCL_EV_EVAL:
        break;
    case FCL_EV_EPOCH: {
        const fcl_epoch_stats *s = ev->stats;
        if (u->epoch_open) {
            snprintf(extra, sizeof extra, "  loss %.4f", s->train_loss);
            fcl_progress_end(&u->bar, extra);
            u->epoch_open = 0;
        }
        fmt_opt(a, sizeof a, "train acc", s->train_acc, 100, "%");
        fmt_opt(b, sizeof b, "val acc", s->val_acc, 100, "%");
        fmt_opt(c, sizeof c, "val loss", s->val_loss, 1, "");
        fmt_opt(d, sizeof d, "AUC", s->auc, 1, "");
        fmt_opt(e, sizeof e, "EER", s->eer, 100, "%");
        if (s->allreduce_s > 0) snprintf(extra, sizeof extra, "  allreduce wait %.1f ms/step", 1e3 * s->allreduce_s);
        else extra[0] = '\0';
        printf("epoch %d/%d: train loss %.4f%s%s%s%s%s  lr %.3g  %.1f img/s%s  %.1f s%s\n", s->epoch, ev->epochs,
               s->train_loss, a, c, b, d, e, s->lr, s->images_per_s, extra, s->seconds, s->best ? "  (best)" : "");
        fflush(stdout);
        break;
    }
    }
    return 0;
}

static int parse_sched(const char *v, fcl_sched_config *sc)
{
    fcl_sched_kind k;
    fcl_sched_unit unit = FCL_SCHED_PER_EPOCH;
    if (!strcmp(v, "cosine")) k = FCL_SCHED_WARMUP_COSINE, unit = FCL_SCHED_PER_ITER;
    else if (!strcmp(v, "step")) k = FCL_SCHED_STEP;
    else if (!strcmp(v, "multistep")) k = FCL_SCHED_MULTISTEP;
    else if (!strcmp(v, "onecycle")) k = FCL_SCHED_ONECYCLE, unit = FCL_SCHED_PER_ITER;
    else if (!strcmp(v, "plateau")) k = FCL_SCHED_PLATEAU;
    else if (!strcmp(v, "none")) k = FCL_SCHED_CONSTANT;
    else return -1;
    *sc = fcl_sched_defaults(k);
    sc->warmup_start_factor = 0.01; /* the trainer's warmup start (fcl_train_config_defaults), not LinearLR's 1/3 */
    sc->unit = unit;
    return 0;
}

int fcl_cmd_train(int argc, char **argv)
{
    fcl_train_config cfg;
    fcl_train_config_defaults(&cfg);
    cfg.model = "small";
    cfg.models_dir = tool_models_dir();
    cfg.augment = "flip";
    const char *device = NULL, *loss = "ce", *sched = "cosine", *milestones = NULL, *optim = NULL, *norm = NULL, *pk = NULL, *tta = NULL;
    double warmup = -1, step_size = 0, gamma = 0.1, bucket_mb = 0;
    long patience = -1, seed = 1;
    int quiet = 0, help = 0;
    fcl_error err = {0};
    /* Every option with its range: a value outside is a usage error (exit 2) before any work. */
    const tool_option opts[] = {
        {"--help", TOOL_OPT_FLAG, &help, 0, 0, 0, 0},
        {"-h", TOOL_OPT_FLAG, &help, 0, 0, 0, 0},
        TOOL_PAIRS_OPTIONS(&cfg.pairs, &cfg.pairs_root, &cfg.pairs_lfw),
        {"--skip-bad", TOOL_OPT_FLAG, &cfg.skip_bad, 0, 0, 0, 0},
        {"--easy-margin", TOOL_OPT_FLAG, &cfg.easy_margin, 0, 0, 0, 0},
        {"--semi-hard", TOOL_OPT_FLAG, &cfg.triplet_semi_hard, 0, 0, 0, 0},
        {"--nesterov", TOOL_OPT_FLAG, &cfg.nesterov, 0, 0, 0, 0},
        {"--overwrite", TOOL_OPT_FLAG, &cfg.overwrite, 0, 0, 0, 0},
        {"--quiet", TOOL_OPT_FLAG, &quiet, 0, 0, 0, 0},
        {"--sync-bn", TOOL_OPT_FLAG, &cfg.sync_bn, 0, 0, 0, 0},
        {"--bucket-mb", TOOL_OPT_NUM, &bucket_mb, 0, 1e6, 1, 0},
        {"--train", TOOL_OPT_STR, &cfg.train_dir, 0, 0, 0, 0},
        {"--val", TOOL_OPT_STR, &cfg.val_dir, 0, 0, 0, 0},
        {"--augment", TOOL_OPT_STR, &cfg.augment, 0, 0, 0, 0},
        {"--model", TOOL_OPT_STR, &cfg.model, 0, 0, 0, 0},
        {"--stem", TOOL_OPT_STR, &cfg.model_opts.stem, 0, 0, 0, 0},
        {"--loss", TOOL_OPT_STR, &loss, 0, 0, 0, 0},
        {"--init", TOOL_OPT_STR, &cfg.init, 0, 0, 0, 0},
        {"--resume", TOOL_OPT_STR, &cfg.resume, 0, 0, 0, 0},
        {"--out", TOOL_OPT_STR, &cfg.run_dir, 0, 0, 0, 0},
        {"--best-metric", TOOL_OPT_STR, &cfg.best_metric, 0, 0, 0, 0},
        TOOL_DEVICE_OPTION(&device),
        {"--sched", TOOL_OPT_STR, &sched, 0, 0, 0, 0},
        {"--milestones", TOOL_OPT_STR, &milestones, 0, 0, 0, 0},
        {"--optim", TOOL_OPT_STR, &optim, 0, 0, 0, 0},
        {"--norm", TOOL_OPT_STR, &norm, 0, 0, 0, 0},
        {"--pk", TOOL_OPT_STR, &pk, 0, 0, 0, 0},
        {"--tta", TOOL_OPT_STR, &tta, 0, 0, 0, 0},
        {"--workers", TOOL_OPT_INT, &cfg.workers, 1, 256, 0, 0},
        {"--size", TOOL_OPT_INT, &cfg.model_opts.size, 1, 65536, 0, 0},
        {"--channels", TOOL_OPT_INT, &cfg.model_opts.channels, 1, 3, 0, 0},
        {"--embedding", TOOL_OPT_INT, &cfg.model_opts.embedding, 0, 1 << 24, 0, 0},
        {"--width", TOOL_OPT_NUM, &cfg.model_opts.width, 0, 64, 1, 0},
        {"--label-smoothing", TOOL_OPT_NUM, &cfg.label_smoothing, 0, 1, 0, 1},
        {"--margin-s", TOOL_OPT_NUM, &cfg.margin_s, 0, 1e4, 1, 0},
        {"--margin-m", TOOL_OPT_NUM, &cfg.margin_m, 0, 100, 1, 0},
        {"--center-alpha", TOOL_OPT_NUM, &cfg.center_alpha, 0, 1, 0, 0},
        {"--triplet-margin", TOOL_OPT_NUM, &cfg.triplet_margin, 0, 100, 1, 0},
        {"--bins", TOOL_OPT_INT, &cfg.histogram_bins, 2, 100000, 0, 0},
        {"--epochs", TOOL_OPT_INT, &cfg.epochs, 1, 1000000, 0, 0},
        {"--batch", TOOL_OPT_INT, &cfg.batch, 2, 65536, 0, 0},
        {"--lr", TOOL_OPT_NUM, &cfg.lr, 0, 1e9, 1, 0},
        {"--momentum", TOOL_OPT_NUM, &cfg.momentum, 0, 1, 0, 1},
        {"--wd", TOOL_OPT_NUM, &cfg.weight_decay, 0, 1, 0, 0},
        {"--clip", TOOL_OPT_NUM, &cfg.clip_norm, 0, 1e12, 1, 0},
        {"--agc", TOOL_OPT_NUM, &cfg.agc_clip, 0, 1e12, 1, 0},
        {"--warmup", TOOL_OPT_NUM, &warmup, 0, 1e6, 0, 0},
        {"--step-size", TOOL_OPT_NUM, &step_size, 1, 1e6, 0, 0},
        {"--gamma", TOOL_OPT_NUM, &gamma, 0, 10, 1, 0},
        {"--freeze", TOOL_OPT_INT, &cfg.freeze, 0, 1000000, 0, 0},
        {"--patience", TOOL_OPT_LONG, &patience, 0, 1000000, 0, 0},
        {"--seed", TOOL_OPT_LONG, &seed, 0, 1e18, 0, 0},
    };
    int parsed = tool_options_parse("train", usage, opts, sizeof opts / sizeof opts[0], argc, argv, 1, NULL, 0, NULL);
    if (parsed) return parsed == TOOL_PARSE_HELP ? 0 : 2;
    if (tta && tool_parse_tta(tta, &cfg.tta_flip)) return 2;
    cfg.seed = (uint64_t)seed;
    cfg.bucket_bytes = (size_t)(bucket_mb * 1048576.0);
    if (cfg.model_opts.channels == 2) return tool_usage_error("train: --channels must be 1 (gray) or 3 (RGB), got 2");
    if (optim) {
        if (!strcmp(optim, "sgd")) cfg.optim = FCL_OPTIM_SGD;
        else if (!strcmp(optim, "adamw")) cfg.optim = FCL_OPTIM_ADAMW;
        else return tool_usage_error("train: --optim must be sgd or adamw, not '%s'", optim);
    }
    if (norm) {
        char tail;
        if (sscanf(norm, "%lf:%lf%c", &cfg.norm_mean, &cfg.norm_std, &tail) != 2 || !isfinite(cfg.norm_mean) ||
            !(cfg.norm_std > 0) || !isfinite(cfg.norm_std))
            return tool_usage_error("train: --norm needs MEAN:STD with finite MEAN and STD > 0, got '%s'", norm);
    }
    if (pk) {
        char tail;
        if (sscanf(pk, "%dx%d%c", &cfg.pk_p, &cfg.pk_k, &tail) != 2 || cfg.pk_p < 2 || cfg.pk_k < 1 || cfg.pk_p > 65536 ||
            cfg.pk_k > 65536)
            return tool_usage_error("train: --pk needs PxK with P in 2..65536 and K in 1..65536 (e.g. 8x4), got '%s'", pk);
    }
    if (cfg.best_metric && strcmp(cfg.best_metric, "val_acc") && strcmp(cfg.best_metric, "auc") &&
        strcmp(cfg.best_metric, "train_loss") && strcmp(cfg.best_metric, "val_loss"))
        return tool_usage_error("train: --best-metric must be val_acc, auc, train_loss or val_loss, not '%s'", cfg.best_metric);
    if (!cfg.train_dir) return tool_usage_error("train: --train DIR is required (see facecl train --help)");
    if (!cfg.run_dir) return tool_usage_error("train: --out RUN is required (the run folder)");
    if (fcl_loss_spec_parse(loss, &cfg.loss, &err)) return tool_fail_err(&err) + 1;
    if (parse_sched(sched, &cfg.sched)) return tool_usage_error("train: unknown --sched '%s'", sched);
    /* schedules count epochs unless they run per iteration (then the trainer converts) */
    if (warmup >= 0) cfg.warmup_epochs = warmup;
    if (cfg.sched.kind == FCL_SCHED_STEP) {
        cfg.sched.step_size = step_size > 0 ? (int64_t)step_size : (cfg.epochs > 3 ? cfg.epochs / 3 : 1);
        cfg.sched.gamma = gamma;
    }
    if (cfg.sched.kind == FCL_SCHED_MULTISTEP) {
        cfg.sched.gamma = gamma;
        const char *p = milestones ? milestones : "";
        while (*p && cfg.sched.n_milestones < FCL_SCHED_MAX_MILESTONES) {
            char *end;
            long m = strtol(p, &end, 10);
            if (end == p || m <= 0 || m > 1000000 || (*end && *end != ','))
                return tool_usage_error("train: --milestones needs epochs like 10,20, got '%s'", milestones);
            cfg.sched.milestones[cfg.sched.n_milestones++] = m;
            p = *end == ',' ? end + 1 : end;
        }
        if (!cfg.sched.n_milestones) return tool_usage_error("train: --sched multistep needs --milestones E1,E2,...");
    }
    if (cfg.sched.kind == FCL_SCHED_PLATEAU) {
        cfg.sched.mode_max = !cfg.best_metric || strcmp(cfg.best_metric, "train_loss");
        if (patience >= 0) cfg.sched.patience = patience;
    }

    fcl_dist *dist = NULL; /* under mpirun: one rank of a data-parallel job */
    if (tool_dist_begin(&dist)) return 1;
    cfg.dist = dist;
    fcl_ctx_opts co = {0};
    co.device = device;
    co.seed = cfg.seed;
    co.device_rank = fcl_dist_local_rank(dist);
    fcl_ctx *ctx = tool_ctx_open(&co, dist);
    if (!ctx) return 1;
    if (dist) fprintf(stderr, "rank %d of %d (%s, local %d): ", fcl_dist_rank(dist), fcl_dist_size(dist), fcl_dist_host(dist),
                      fcl_dist_local_rank(dist));
    fprintf(stderr, "device: %s (%s)\n", fcl_ctx_device(ctx)->name, fcl_ctx_device(ctx)->platform);
    ui u = {0};
    u.quiet = quiet;
    u.rank = fcl_dist_rank(dist);
    fcl_epoch_stats fin;
    fcl_status st = fcl_train_run(ctx, &cfg, on_event, &u, &fin);
    if (u.epoch_open) fcl_progress_abort(&u.bar);
    int rc = 0;
    if (st) rc = tool_dist_fail(dist, fcl_ctx_error(ctx));
    else if (u.rank == 0) printf("done: run folder %s (best checkpoint best.safetensors, last last.safetensors)\n", cfg.run_dir);
    fcl_ctx_destroy(ctx);
    tool_dist_end(dist);
    return rc;
}
