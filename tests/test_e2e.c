/* tests/test_e2e.c: end to end through the command line: synth, train, eval, verify, resume, demo. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "helpers/cmdline.h"

#define FACECL FACECL_BINARY_DIR "/facecl"

static char out[1 << 16];

/* A short training on a tiny synthetic set must beat chance clearly: 12 identities (chance
 * 8.3% top-1, AUC 0.5). Stated margins: top-1 >= 2.5x chance, verification AUC >= 0.62 on
 * identities never seen in training. */
Test(e2e, train_eval_verify_beat_chance, .timeout = 600)
{
    char dir[] = "/tmp/facecl-e2e-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    int rc = fcl_test_run_buf(out, sizeof out, FACECL " synth --ids 12 --per-id 24 --size 32 --gray --seed 7 --val-frac 0.25 "
                 "--unseen-ids 10 --pairs 200 %s/data", dir);
    cr_assert_eq(rc, 0, "synth: %s", out);
    rc = fcl_test_run_buf(out, sizeof out, FACECL " train --train %s/data/train --val %s/data/val --pairs %s/data/pairs.txt "
             "--model small --size 32 --channels 1 --embedding 64 --augment flip,crop=3 --epochs 8 --batch 32 "
             "--lr 0.1 --label-smoothing 0.1 --seed 1 --out %s/run", dir, dir, dir, dir);
    cr_assert_eq(rc, 0, "train: %s", out);
    cr_assert(strstr(out, "epoch 8/8: train loss"), "%s", out);
    for (const char *f = "log.csv\0config.txt\0classes.txt\0last.safetensors\0best.safetensors\0loss.png\0"
                         "accuracy.png\0verification.png\0roc.png\0";
         *f; f += strlen(f) + 1) {
        char path[256];
        snprintf(path, sizeof path, "%s/run/%s", dir, f);
        cr_assert_eq(access(path, R_OK), 0, "run folder lacks %s", f);
    }

    rc = fcl_test_run_buf(out, sizeof out, FACECL " eval --checkpoint %s/run/last.safetensors %s/data/val --out %s/eval", dir, dir, dir);
    cr_assert_eq(rc, 0, "eval: %s", out);
    double top1 = fcl_test_number_after(out, "top-1 accuracy");
    rc = fcl_test_run_buf(out, sizeof out, FACECL " verify --checkpoint %s/run/last.safetensors --pairs %s/data/pairs.txt --out %s/verify",
             dir, dir, dir);
    cr_assert_eq(rc, 0, "verify: %s", out);
    double auc = fcl_test_number_after(out, "ROC AUC");
    printf("e2e: top-1 %.1f%% (chance 8.3%%), unseen-identity AUC %.4f (chance 0.5)\n", top1, auc);
    cr_assert_geq(top1, 2.5 * 100.0 / 12, "top-1 %.1f%% is not clearly above chance", top1);
    cr_assert_geq(auc, 0.62, "AUC %.3f is not clearly above chance", auc);
    cr_assert_lt(top1, 100.0, "a short training should not be perfect on this set");

    /* Resume: 2 more epochs continue from epoch 8 in the same run folder. */
    rc = fcl_test_run_buf(out, sizeof out, FACECL " train --train %s/data/train --val %s/data/val --pairs %s/data/pairs.txt "
             "--model small --size 32 --channels 1 --embedding 64 --augment flip,crop=3 --epochs 10 --batch 32 "
             "--lr 0.1 --label-smoothing 0.1 --seed 1 --out %s/run --resume %s/run/last.safetensors", dir, dir, dir, dir, dir);
    cr_assert_eq(rc, 0, "resume: %s", out);
    cr_assert(strstr(out, "at epoch 8"), "%s", out);
    cr_assert(strstr(out, "epoch 10/10: train loss") && !strstr(out, "epoch 1/10: train loss"), "%s", out);

    cr_assert(fcl_test_rm_rf(dir));
}

/* Margin-head and centre-loss runs: their extra tensors (head.weight, center.centers) survive a
 * resume and do not stop eval/embed/verify from loading the network. */
Test(e2e, arcface_and_center_runs_resume_and_verify, .timeout = 600)
{
    char dir[] = "/tmp/facecl-e2e-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    int rc = fcl_test_run_buf(out, sizeof out, FACECL " synth --ids 8 --per-id 12 --size 32 --gray --seed 3 --unseen-ids 6 --pairs 60 %s/data", dir);
    cr_assert_eq(rc, 0, "synth: %s", out);
    const char *losses[2] = {"arcface", "ce+0.01*center"};
    for (int i = 0; i < 2; i++) {
        const char *common = "--model small --size 32 --channels 1 --batch 16 --augment none";
        rc = fcl_test_run_buf(out, sizeof out, FACECL " train --train %s/data/train --loss '%s' %s --epochs 1 --out %s/run%d", dir,
                 losses[i], common, dir, i);
        cr_assert_eq(rc, 0, "%s, 1 epoch: %s", losses[i], out);
        rc = fcl_test_run_buf(out, sizeof out, FACECL " train --train %s/data/train --loss '%s' %s --epochs 2 --out %s/run%d "
                 "--resume %s/run%d/last.safetensors", dir, losses[i], common, dir, i, dir, i);
        cr_assert_eq(rc, 0, "%s, resumed: %s", losses[i], out);
        cr_assert(strstr(out, "at epoch 1"), "%s", out);
        rc = fcl_test_run_buf(out, sizeof out, FACECL " verify --checkpoint %s/run%d/last.safetensors --pairs %s/data/pairs.txt --out %s/v%d",
                 dir, i, dir, dir, i);
        cr_assert_eq(rc, 0, "verify after %s: %s", losses[i], out);
        cr_assert(strstr(out, "ROC AUC"), "%s", out);
    }
    cr_assert(fcl_test_rm_rf(dir));
}

Test(e2e, bad_input_gives_clear_errors, .timeout = 120)
{
    int rc = fcl_test_run_buf(out, sizeof out, FACECL " train --train /nonexistent/faces --out /tmp/facecl-e2e-never");
    cr_assert_neq(rc, 0);
    cr_assert(strstr(out, "/nonexistent/faces"), "%s", out);
    rc = fcl_test_run_buf(out, sizeof out, FACECL " train --train /tmp --out /tmp/x --loss arcface+ce");
    cr_assert_neq(rc, 0);
    cr_assert(strstr(out, "at most one of"), "%s", out);
    rc = fcl_test_run_buf(out, sizeof out, FACECL " train --train /tmp --out /tmp/x --loss bogus");
    cr_assert(rc != 0 && strstr(out, "unknown term 'bogus'"), "%s", out);
    rc = fcl_test_run_buf(out, sizeof out, FACECL " train --device no-such-device --train /tmp --out /tmp/x");
    cr_assert(rc != 0 && strstr(out, "no-such-device"), "%s", out);
    rc = fcl_test_run_buf(out, sizeof out, FACECL " nonsense");
    cr_assert(rc != 0 && strstr(out, "unknown command"), "%s", out);
}

Test(e2e, demo_quick_runs, .timeout = 600)
{
    char dir[] = "/tmp/facecl-demo-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    int rc = fcl_test_run_buf(out, sizeof out, FACECL " demo --quick --out %s", dir);
    cr_assert_eq(rc, 0, "demo: %s", out);
    cr_assert(strstr(out, "classification (closed set): top-1"), "%s", out);
    cr_assert(strstr(out, "verification (open set"), "%s", out);
    cr_assert(strstr(out, "identification (open set, 1:N") && fcl_test_number_after(out, "rank-1") > 20.0, "%s", out);
    double auc = fcl_test_number_after(out, "ROC AUC");
    cr_assert_gt(auc, 0.55, "%s", out);
    cr_assert(fcl_test_rm_rf(dir));
}
