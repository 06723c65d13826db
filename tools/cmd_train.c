/* tools/cmd_train.c: `facecl train`: flags to a training configuration, progress on the terminal, results. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "progress.h"
#include <facecl/train.h>

static void usage(void)
{
    printf("usage: facecl train --train DIR --out RUN [options]\n\n"
           "Trains a face classification / verification network. RUN receives config.txt, log.csv,\n"
           "classes.txt, last.safetensors, best.safetensors and loss/accuracy/verification/ROC plots.\n\n"
           "data:\n"
           "  --train DIR            ImageFolder: one folder per identity (required)\n"
           "  --val DIR              held-out images of the same identities (accuracy each epoch)\n"
           "  --pairs FILE           labelled pair list (path1 path2 label) for AUC/EER each epoch\n"
           "  --pairs-root DIR       folder the pair paths are relative to (default: the list's folder)\n"
           "  --lfw                  the pair list is LFW's pairs.txt\n"
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
           "  --sched cosine|step|multistep|onecycle|plateau|none (cosine: per iteration, with warmup)\n"
           "  --warmup EPOCHS (1 for cosine) --step-size EPOCHS --gamma X --milestones E1,E2,...\n"
           "  --patience N --best-metric val_acc|auc|train_loss|val_loss\n"
           "transfer learning:\n"
           "  --init CKPT            start from a checkpoint's weights (not its classifier if the classes differ)\n"
           "  --resume CKPT          continue a run exactly (RUN must be that run's folder)\n"
           "  --freeze N             freeze the first N layers (see facecl model show)\n"
           "  --device SEL           OpenCL device (default $FACECL_DEVICE, else first GPU, else first device)\n");
}

typedef struct ui {
    fcl_progress bar;
    int epoch_open;
    int quiet;
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
        printf("epoch %d/%d: train loss %.4f%s%s%s%s%s  lr %.3g  %.1f img/s  %.1f s%s\n", s->epoch, ev->epochs,
               s->train_loss, a, c, b, d, e, s->lr, s->images_per_s, s->seconds, s->best ? "  (best)" : "");
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
    const char *device = NULL, *loss = "ce", *sched = "cosine", *v = NULL, *milestones = NULL;
    double warmup = -1, step_size = 0, gamma = 0.1;
    long patience = -1;
    int bad = 0, quiet = 0;
    fcl_error err = {0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        long n;
        double d;
#define NUM(name, dst)                                                                                          \
    if (tool_opt(argc, argv, &i, name, &v, &bad)) {                                                              \
        if (bad || tool_parse_float(v, &d)) return tool_fail("train: %s needs a number, got '%s'", name, v ? v : ""); \
        dst = d;                                                                                                 \
        continue;                                                                                                \
    }
#define INT(name, dst)                                                                                          \
    if (tool_opt(argc, argv, &i, name, &v, &bad)) {                                                              \
        if (bad || tool_parse_int(v, &n)) return tool_fail("train: %s needs a whole number, got '%s'", name, v ? v : ""); \
        dst = (int)n;                                                                                            \
        continue;                                                                                                \
    }
#define STR(name, dst)                                                                                          \
    if (tool_opt(argc, argv, &i, name, &v, &bad)) {                                                              \
        if (bad) return 2;                                                                                       \
        dst = v;                                                                                                 \
        continue;                                                                                                \
    }
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage();
            return 0;
        }
        if (!strcmp(a, "--lfw")) { cfg.pairs_lfw = 1; continue; }
        if (!strcmp(a, "--skip-bad")) { cfg.skip_bad = 1; continue; }
        if (!strcmp(a, "--easy-margin")) { cfg.easy_margin = 1; continue; }
        if (!strcmp(a, "--semi-hard")) { cfg.triplet_semi_hard = 1; continue; }
        if (!strcmp(a, "--nesterov")) { cfg.nesterov = 1; continue; }
        if (!strcmp(a, "--quiet")) { quiet = 1; continue; }
        STR("--train", cfg.train_dir)
        STR("--val", cfg.val_dir)
        STR("--pairs", cfg.pairs)
        STR("--pairs-root", cfg.pairs_root)
        STR("--augment", cfg.augment)
        STR("--model", cfg.model)
        STR("--stem", cfg.model_opts.stem)
        STR("--loss", loss)
        STR("--init", cfg.init)
        STR("--resume", cfg.resume)
        STR("--out", cfg.run_dir)
        STR("--best-metric", cfg.best_metric)
        STR("--device", device)
        STR("--sched", sched)
        STR("--milestones", milestones)
        INT("--workers", cfg.workers)
        INT("--size", cfg.model_opts.size)
        INT("--channels", cfg.model_opts.channels)
        INT("--embedding", cfg.model_opts.embedding)
        NUM("--width", cfg.model_opts.width)
        NUM("--label-smoothing", cfg.label_smoothing)
        NUM("--margin-s", cfg.margin_s)
        NUM("--margin-m", cfg.margin_m)
        NUM("--center-alpha", cfg.center_alpha)
        NUM("--triplet-margin", cfg.triplet_margin)
        INT("--bins", cfg.histogram_bins)
        INT("--epochs", cfg.epochs)
        INT("--batch", cfg.batch)
        NUM("--lr", cfg.lr)
        NUM("--momentum", cfg.momentum)
        NUM("--wd", cfg.weight_decay)
        NUM("--clip", cfg.clip_norm)
        NUM("--warmup", warmup)
        NUM("--step-size", step_size)
        NUM("--gamma", gamma)
        INT("--freeze", cfg.freeze)
        if (tool_opt(argc, argv, &i, "--patience", &v, &bad)) {
            if (bad || tool_parse_int(v, &patience) || patience < 0) return tool_fail("train: --patience needs a count");
            continue;
        }
        if (tool_opt(argc, argv, &i, "--seed", &v, &bad)) {
            if (bad || tool_parse_int(v, &n) || n < 0) return tool_fail("train: --seed needs a non-negative number");
            cfg.seed = (uint64_t)n;
            continue;
        }
        if (tool_opt(argc, argv, &i, "--optim", &v, &bad)) {
            if (bad) return 2;
            if (!strcmp(v, "sgd")) cfg.optim = FCL_OPTIM_SGD;
            else if (!strcmp(v, "adamw")) cfg.optim = FCL_OPTIM_ADAMW;
            else return tool_fail("train: --optim must be sgd or adamw, not '%s'", v);
            continue;
        }
        if (tool_opt(argc, argv, &i, "--norm", &v, &bad)) {
            if (bad || sscanf(v, "%lf:%lf", &cfg.norm_mean, &cfg.norm_std) != 2 || !(cfg.norm_std > 0))
                return tool_fail("train: --norm needs MEAN:STD with STD > 0, got '%s'", v ? v : "");
            continue;
        }
        if (tool_opt(argc, argv, &i, "--pk", &v, &bad)) {
            if (bad || sscanf(v, "%dx%d", &cfg.pk_p, &cfg.pk_k) != 2 || cfg.pk_p < 2 || cfg.pk_k < 1)
                return tool_fail("train: --pk needs PxK (e.g. 8x4), got '%s'", v ? v : "");
            continue;
        }
#undef NUM
#undef INT
#undef STR
        return tool_fail("train: unknown option '%s' (see facecl train --help)", a);
    }
    if (!cfg.train_dir) return tool_fail("train: --train DIR is required (see facecl train --help)");
    if (!cfg.run_dir) return tool_fail("train: --out RUN is required (the run folder)");
    if (fcl_loss_spec_parse(loss, &cfg.loss, &err)) return tool_fail_err(&err);
    if (parse_sched(sched, &cfg.sched)) return tool_fail("train: unknown --sched '%s'", sched);
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
            if (end == p || m <= 0) return tool_fail("train: --milestones needs epochs like 10,20");
            cfg.sched.milestones[cfg.sched.n_milestones++] = m;
            p = *end == ',' ? end + 1 : end;
        }
        if (!cfg.sched.n_milestones) return tool_fail("train: --sched multistep needs --milestones E1,E2,...");
    }
    if (cfg.sched.kind == FCL_SCHED_PLATEAU) {
        cfg.sched.mode_max = !cfg.best_metric || strcmp(cfg.best_metric, "train_loss");
        if (patience >= 0) cfg.sched.patience = patience;
    }

    fcl_ctx_opts co = {0};
    co.device = device;
    co.seed = cfg.seed;
    fcl_ctx *ctx = NULL;
    if (fcl_ctx_create(&ctx, &co, &err)) return tool_fail_err(&err);
    fprintf(stderr, "device: %s (%s)\n", fcl_ctx_device(ctx)->name, fcl_ctx_device(ctx)->platform);
    ui u = {0};
    u.quiet = quiet;
    fcl_epoch_stats fin;
    fcl_status st = fcl_train_run(ctx, &cfg, on_event, &u, &fin);
    if (u.epoch_open) fcl_progress_abort(&u.bar);
    int rc = 0;
    if (st) rc = tool_fail_err(fcl_ctx_error(ctx));
    else printf("done: run folder %s (best checkpoint best.safetensors, last last.safetensors)\n", cfg.run_dir);
    fcl_ctx_destroy(ctx);
    return rc;
}
