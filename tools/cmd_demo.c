/* tools/cmd_demo.c: `facecl demo`: the built-in main job: synthetic faces, a short training, classification and verification results. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "commands.h"
#include "identify_common.h"
#include "options.h"
#include "progress.h"
#include <facecl/synth.h>
#include <facecl/train.h>

static void usage(FILE *f)
{
    fprintf(f, "usage: facecl demo [--out DIR] [--epochs N] [--ids N] [--per-id N] [--size S] [--quick] [--device SEL]\n\n"
               "The main job on built-in data, nothing to download:\n"
               "  1. writes a synthetic face set (DIR/data): training identities split into train/ and val/\n"
               "     images, plus identities never seen in training with same/different pairs over them;\n"
               "  2. trains a small ResNet-style network (models/small.model) on train/ (DIR/run, replaced on a rerun);\n"
               "  3. reports closed-set classification accuracy on the held-out val/ images, open-set\n"
               "     verification (ROC AUC, EER, TAR@FAR) on the unseen identities and open-set 1:N\n"
               "     identification (gallery: 2/3 of the unseen identities; probes: their other images and\n"
               "     all of the last third as impostors: rank-1, DIR@FAR), and writes loss, accuracy,\n"
               "     verification, ROC and CMC plots as PNG into DIR/run.\n"
               "Defaults: DIR ./facecl-demo, 60 identities x 40 images at 48 px gray, 15 epochs (a few\n"
               "minutes on a 2-core CPU). --quick: 12 identities, 32 px, 8 epochs (seconds; for tests).\n");
}

static int show_synth(void *user, size_t done, size_t total)
{
    fcl_progress *p = user;
    if (done == 1 && total) fcl_progress_start(p, "synth", total, "img");
    fcl_progress_update(p, done, NULL);
    return 0;
}

typedef struct demo_ui {
    fcl_progress bar;
    int open;
    fcl_epoch_stats last, best;
} demo_ui;

static int on_event(void *user, const fcl_train_event *ev)
{
    demo_ui *u = user;
    char extra[128];
    if (ev->kind == FCL_EV_WARNING) fprintf(stderr, "warning: %s\n", ev->text);
    if (ev->kind == FCL_EV_BATCH) {
        if (!u->open) {
            char label[48];
            snprintf(label, sizeof label, "epoch %d/%d", ev->epoch, ev->epochs);
            fcl_progress_start(&u->bar, label, ev->total, "batch");
            u->open = 1;
        }
        snprintf(extra, sizeof extra, "loss %.3f  %.0f img/s", ev->loss, ev->images_per_s);
        fcl_progress_update(&u->bar, ev->done, extra);
    }
    if (ev->kind == FCL_EV_EPOCH) {
        const fcl_epoch_stats *s = ev->stats;
        if (u->open) fcl_progress_abort(&u->bar), u->open = 0;
        printf("epoch %2d/%d  loss %.3f  train acc %5.1f%%  val acc %5.1f%%  unseen AUC %.3f  EER %5.1f%%  %4.0f img/s\n",
               s->epoch, ev->epochs, s->train_loss, 100 * s->train_acc, 100 * s->val_acc, s->auc, 100 * s->eer,
               s->images_per_s);
        fflush(stdout);
        u->last = *s;
        if (s->best) u->best = *s;
    }
    return 0;
}

int fcl_cmd_demo(int argc, char **argv)
{
    const char *out = "facecl-demo", *device = NULL;
    long epochs = -1, ids = -1, per_id = -1, size = -1;
    int quick = 0;
    /* the ranges of synth and train for the same values */
    const tool_option opts[] = {{"--quick", TOOL_OPT_FLAG, &quick, 0, 0, 0, 0},
                                {"--out", TOOL_OPT_STR, &out, 0, 0, 0, 0},
                                TOOL_DEVICE_OPTION(&device),
                                {"--epochs", TOOL_OPT_LONG, &epochs, 1, 1000000, 0, 0},
                                {"--ids", TOOL_OPT_LONG, &ids, 2, 1000000, 0, 0},
                                {"--per-id", TOOL_OPT_LONG, &per_id, 2, 100000, 0, 0},
                                {"--size", TOOL_OPT_LONG, &size, 16, 1024, 0, 0}};
    int parsed = tool_options_parse("demo", usage, opts, sizeof opts / sizeof opts[0], argc, argv, 1, NULL, 0, NULL);
    if (parsed) return parsed == TOOL_PARSE_HELP ? 0 : 2;
    fcl_synth_opts so;
    fcl_synth_opts_default(&so);
    so.ids = (int)(ids > 0 ? ids : quick ? 12 : 60);
    so.per_id = (int)(per_id > 0 ? per_id : quick ? 24 : 40);
    so.size = (int)(size > 0 ? size : quick ? 32 : 48);
    so.channels = 1;
    so.seed = 7;
    so.val_frac = 0.25f;
    so.unseen_ids = quick ? 10 : 30;
    so.pairs = quick ? 200 : 1000;
    int n_epochs = (int)(epochs > 0 ? epochs : quick ? 8 : 15);

    char data[1024], run[1024], readme[1100], train_dir[1100], val_dir[1100], pairs[1100];
    snprintf(data, sizeof data, "%s/data", out);
    snprintf(run, sizeof run, "%s/run", out);
    snprintf(readme, sizeof readme, "%s/README.txt", data);
    snprintf(train_dir, sizeof train_dir, "%s/train", data);
    snprintf(val_dir, sizeof val_dir, "%s/val", data);
    snprintf(pairs, sizeof pairs, "%s/pairs.txt", data);
    struct stat sb;
    fcl_error err = {0};
    if (stat(readme, &sb) == 0) {
        printf("data: reusing %s (delete it to regenerate)\n", data);
    } else {
        fcl_progress p = {0};
        printf("data: writing %d training identities x %d images (%d px, gray) + %d unseen identities, %d pairs to %s\n",
               so.ids, so.per_id, so.size, so.unseen_ids, so.pairs, data);
        fflush(stdout); /* before the progress lines on stderr */
        if (fcl_synth_write_dataset(data, &so, show_synth, &p, &err)) {
            fcl_progress_abort(&p);
            return tool_fail_err(&err);
        }
        fcl_progress_end(&p, NULL);
    }

    fcl_train_config cfg;
    fcl_train_config_defaults(&cfg);
    cfg.train_dir = train_dir;
    cfg.val_dir = val_dir;
    cfg.pairs = pairs;
    cfg.run_dir = run;
    cfg.model = "small";
    cfg.models_dir = tool_models_dir();
    cfg.model_opts.channels = 1;
    cfg.model_opts.size = so.size;
    cfg.model_opts.embedding = 64;
    cfg.augment = "flip,crop=3";
    cfg.epochs = n_epochs;
    cfg.batch = 32;
    cfg.lr = 0.1;
    cfg.label_smoothing = 0.1;
    cfg.seed = 1;
    cfg.best_metric = "val_acc";
    cfg.overwrite = 1; /* the demo's own folder: a rerun replaces its previous run */

    fcl_ctx_opts co = {0};
    co.device = device;
    co.seed = cfg.seed;
    fcl_ctx *ctx = tool_ctx_open(&co, NULL);
    if (!ctx) return 1;
    printf("train: models/small.model, %d epochs, SGD + cosine schedule, cross-entropy, on %s\n", n_epochs,
           fcl_ctx_device(ctx)->name);
    demo_ui u = {0};
    fcl_status st = fcl_train_run(ctx, &cfg, on_event, &u, NULL);
    if (u.open) fcl_progress_abort(&u.bar);
    if (st) {
        int rc = tool_fail_err(fcl_ctx_error(ctx));
        fcl_ctx_destroy(ctx);
        return rc;
    }
    fcl_ctx_destroy(ctx);
    const fcl_epoch_stats *s = &u.last;
    int held_out = (int)lround(so.per_id * so.val_frac);
    printf("\nresult (last epoch):\n");
    printf("  classification (closed set): top-1 %.1f%%, top-5 %.1f%% on %d held-out images of %d identities (chance %.1f%%)\n",
           100 * s->val_acc, 100 * s->val_top5, held_out * so.ids, so.ids, 100.0 / so.ids);
    printf("  verification (open set, %d identities never seen in training, %d pairs): ROC AUC %.4f, EER %.1f%%, "
           "TAR@FAR=1e-2 %.1f%%, best accuracy %.1f%% (chance 50%%)\n",
           so.unseen_ids, so.pairs, s->auc, 100 * s->eer, 100 * s->tar_1e2, 100 * s->best_acc);
    if (tool_demo_identify(data, run, device, quick ? 3 : 5)) return 1;
    printf("  plots: %s/loss.png, accuracy.png, verification.png, roc.png, cmc.png; log %s/log.csv; checkpoints %s/*.safetensors\n",
           run, run, run);
    printf("  next: facecl eval --checkpoint %s/best.safetensors %s; facecl verify --checkpoint %s/best.safetensors --pairs %s\n",
           run, val_dir, run, pairs);
    return 0;
}
