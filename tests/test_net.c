/* tests/test_net.c: the training engine: learning, exact resume, checkpoints, freezing, memory. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <facecl/facecl.h>

#include "helpers/small_net.h"
#include <facecl/model.h>
#include <facecl/optim.h>
#include <facecl/schedule.h>

enum { N = 16, S = 32, K = 4 };

/* A fixed in-memory set: class c has a bright horizontal band at rows 8c..8c+7, plus noise. */
typedef struct trainer {
    fcl_ctx *ctx;
    fcl_model *model;
    fcl_net *net;
    fcl_optim *opt;
    fcl_sched *sched;
    fcl_test_batch b;
} trainer;

static void data(trainer *t)
{
    float *x = malloc(sizeof(float) * N * S * S);
    int lab[N];
    fcl_rng r;
    fcl_rng_seed(&r, 7);
    for (int i = 0; i < N; i++) {
        lab[i] = i % K;
        for (int k = 0; k < S * S; k++) {
            int row = k / S;
            x[i * S * S + k] = 0.8f * fcl_rng_normal(&r) + (row / 8 == lab[i] ? 1.0f : 0.0f);
        }
    }
    fcl_test_batch_upload(t->ctx, &t->b, x, lab, N, 1, S, K);
    free(x);
}

static void setup(trainer *t, uint64_t seed, int freeze, fcl_optim_kind kind)
{
    memset(t, 0, sizeof *t);
    t->ctx = fcl_test_ctx(seed);
    t->model = fcl_test_small_model(S, K, 16);
    fcl_net_opts no = {N, freeze};
    cr_assert_eq(fcl_net_create(t->ctx, t->model, &no, &t->net), FCL_OK, "%s", fcl_ctx_errmsg(t->ctx));
    fcl_param_range *rd, *rn;
    size_t nd, nn;
    cr_assert_eq(fcl_net_param_ranges(t->net, &rd, &nd, &rn, &nn), FCL_OK);
    fcl_optim_hparams hp = kind == FCL_OPTIM_SGD ? fcl_sgd_defaults(0.05) : fcl_adamw_defaults(2e-3);
    if (kind == FCL_OPTIM_SGD) hp.momentum = 0.9;
    fcl_param_group g[2] = {{hp, rd, nd}, {hp, rn, nn}};
    g[0].hp.weight_decay = kind == FCL_OPTIM_SGD ? 5e-4 : 0.05;
    g[1].hp.weight_decay = 0;
    cr_assert_eq(fcl_optim_create(t->ctx, &t->opt, kind, fcl_tensor_numel(fcl_net_params(t->net)), g, 2), FCL_OK, "%s",
                 fcl_ctx_errmsg(t->ctx));
    free(rd);
    free(rn);
    fcl_sched_config sc = fcl_sched_defaults(FCL_SCHED_WARMUP_COSINE);
    sc.unit = FCL_SCHED_PER_ITER;
    sc.warmup_steps = 3;
    sc.warmup_start_factor = 0.1;
    sc.total_steps = 40;
    double base[2] = {hp.lr, hp.lr};
    fcl_error e = {0};
    cr_assert_eq(fcl_sched_create(&t->sched, &sc, base, 2, &e), FCL_OK, "%s", e.msg);
    cr_assert_eq(fcl_sched_apply(t->ctx, t->sched, t->opt), FCL_OK);
    data(t);
}

static void teardown(trainer *t)
{
    fcl_test_batch_release(t->ctx, &t->b);
    fcl_sched_destroy(t->sched);
    fcl_optim_destroy(t->ctx, t->opt);
    fcl_net_destroy(t->net);
    fcl_ctx_destroy(t->ctx);
    fcl_model_free(t->model);
}

/* One SGD step on the fixed batch; returns the loss before the update. */
static float step(trainer *t)
{
    fcl_xent_params xp = {0.1f};
    fcl_error e = {0};
    cr_assert_eq(fcl_net_forward(t->net, &t->b.x, 1), FCL_OK, "%s", fcl_ctx_errmsg(t->ctx));
    const fcl_tensor *out = fcl_net_output(t->net);
    cr_assert_eq(fcl_softmax_xent_fwd(t->ctx, &t->b.loss, NULL, out, &t->b.y, &xp), FCL_OK, "%s", fcl_ctx_errmsg(t->ctx));
    cr_assert_eq(fcl_tensor_fill(t->ctx, &t->b.dlogits, 0.0f), FCL_OK);
    cr_assert_eq(fcl_softmax_xent_bwd(t->ctx, &t->b.dlogits, out, &t->b.y, &xp, 1.0f), FCL_OK);
    cr_assert_eq(fcl_optim_zero_grad(t->ctx, fcl_net_grads(t->net)), FCL_OK);
    cr_assert_eq(fcl_net_backward(t->net, &t->b.dlogits, NULL), FCL_OK, "%s", fcl_ctx_errmsg(t->ctx));
    cr_assert_eq(fcl_clip_grad_norm(t->ctx, fcl_net_grads(t->net), 5.0, NULL), FCL_OK, "%s", fcl_ctx_errmsg(t->ctx));
    cr_assert_eq(fcl_optim_step(t->ctx, t->opt, fcl_net_params(t->net), fcl_net_grads(t->net)), FCL_OK, "%s",
                 fcl_ctx_errmsg(t->ctx));
    cr_assert_eq(fcl_sched_on_iter(t->sched, &e), FCL_OK, "%s", e.msg);
    cr_assert_eq(fcl_sched_apply(t->ctx, t->sched, t->opt), FCL_OK);
    float l;
    cr_assert_eq(fcl_tensor_download(t->ctx, &t->b.loss, &l, 1), FCL_OK);
    return l;
}

/* Removes a file made by tmpfile_path and its folder. */
static void remove_tmp(const char *path)
{
    char dir[256];
    unlink(path);
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash) *slash = '\0';
    rmdir(dir);
}

static void tmpfile_path(char *buf, size_t size, const char *name)
{
    char dir[] = "/tmp/facecl-net-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    snprintf(buf, size, "%s/%s", dir, name);
}

/* A fresh trainer (seed, optimizer kind) after 40 steps: the first loss in *first, returns the last. */
static float train_40(trainer *t, uint64_t seed, fcl_optim_kind kind, float *first)
{
    setup(t, seed, 0, kind);
    float last = *first = step(t);
    for (int i = 1; i < 40; i++) last = step(t);
    return last;
}

/* Label smoothing 0.1 with 4 classes bounds the loss below by the entropy of the smoothed target,
 * 0.349 nats; a net that has learnt the set gets under 0.40 within 40 steps (log 4 = 1.39 at the
 * start). */
Test(net, small_net_learns_fixed_set, .timeout = 300)
{
    trainer t;
    float first, last = train_40(&t, 1, FCL_OPTIM_SGD, &first);
    printf("small net: loss %.4f -> %.4f after 40 SGD steps\n", first, last);
    cr_assert_gt(first, 1.0f, "initial loss %g should be near log(4)", first);
    cr_assert_lt(last, 0.40f, "training loss %g did not fall below 0.40", last);
    teardown(&t);
}

Test(net, adamw_learns_too, .timeout = 300)
{
    trainer t;
    float first, last = train_40(&t, 2, FCL_OPTIM_ADAMW, &first);
    printf("small net AdamW: loss %.4f -> %.4f after 40 steps\n", first, last);
    cr_assert_lt(last, 0.40f, "training loss %g did not fall below 0.40", last);
    teardown(&t);
}

/* Train 6 steps straight; and 3 steps, checkpoint, a new context/net/optimizer, resume, 3 more:
 * the last 3 losses must be identical (same device, deterministic kernels). */
Test(net, resume_is_exact, .timeout = 300)
{
    float straight[6], resumed[6];
    trainer t;
    setup(&t, 5, 0, FCL_OPTIM_SGD);
    for (int i = 0; i < 6; i++) straight[i] = step(&t);
    teardown(&t);

    char path[256];
    tmpfile_path(path, sizeof path, "ckpt.safetensors");
    setup(&t, 5, 0, FCL_OPTIM_SGD);
    for (int i = 0; i < 3; i++) resumed[i] = step(&t);
    fcl_train_progress prog = {1, 3};
    fcl_kv extra[1] = {{"classes_file", "classes.txt"}};
    cr_assert_eq(fcl_checkpoint_save(t.ctx, t.net, t.opt, t.sched, &prog, extra, 1, path), FCL_OK, "%s",
                 fcl_ctx_errmsg(t.ctx));
    teardown(&t);

    setup(&t, 999, 0, FCL_OPTIM_SGD); /* another seed: everything must come from the file */
    fcl_train_progress got = {0};
    cr_assert_eq(fcl_checkpoint_load(t.ctx, t.net, t.opt, t.sched, &got, NULL, path), FCL_OK, "%s",
                 fcl_ctx_errmsg(t.ctx));
    cr_assert_eq(got.epoch, 1);
    cr_assert_eq(got.step, 3);
    cr_assert_eq(fcl_sched_apply(t.ctx, t.sched, t.opt), FCL_OK);
    for (int i = 3; i < 6; i++) resumed[i] = step(&t);
    for (int i = 0; i < 6; i++)
        cr_assert_eq(straight[i], resumed[i], "step %d: straight %.9g, resumed %.9g", i, straight[i], resumed[i]);
    printf("resume: losses %.6f %.6f %.6f identical after resuming\n", resumed[3], resumed[4], resumed[5]);
    teardown(&t);
    remove_tmp(path);
}

Test(net, checkpoint_mismatches_are_named_and_change_nothing, .timeout = 300)
{
    char path[256];
    tmpfile_path(path, sizeof path, "ckpt.safetensors");
    trainer t;
    setup(&t, 3, 0, FCL_OPTIM_SGD);
    cr_assert_eq(fcl_checkpoint_save(t.ctx, t.net, NULL, NULL, NULL, NULL, 0, path), FCL_OK, "%s", fcl_ctx_errmsg(t.ctx));
    teardown(&t);

    /* Another class count: a strict load names the classifier; skip_classifier loads the rest. */
    fcl_ctx *ctx = fcl_test_ctx(4);
    fcl_model *m = fcl_test_small_model(S, 7, 16);
    fcl_net *net;
    fcl_net_opts no = {4, 0};
    cr_assert_eq(fcl_net_create(ctx, m, &no, &net), FCL_OK, "%s", fcl_ctx_errmsg(ctx));
    float before[64], after[64];
    int fc = -1, conv = -1;
    for (int i = 0; i < fcl_net_entry_count(net); i++) {
        const char *nm = fcl_net_entry_at(net, i)->info->name;
        if (!strcmp(nm, "fc.bias")) fc = i;
        if (!strcmp(nm, "bn1.weight")) conv = i;
    }
    cr_assert(fc >= 0 && conv >= 0);
    cr_assert_eq(fcl_net_entry_get(net, fc, before), FCL_OK);
    cr_assert_eq(fcl_checkpoint_load(ctx, net, NULL, NULL, NULL, NULL, path), FCL_ERR_SHAPE);
    const char *msg = fcl_ctx_errmsg(ctx);
    cr_assert(strstr(msg, "fc.weight") && strstr(msg, "fc.bias"), "%s", msg);
    cr_assert(strstr(msg, "shape differs"), "%s", msg);
    cr_assert_eq(fcl_net_entry_get(net, fc, after), FCL_OK);
    cr_assert_arr_eq(before, after, 7 * sizeof(float), "a failed load must change nothing");

    fcl_load_opts lo = {1, 1};
    cr_assert_eq(fcl_checkpoint_load(ctx, net, NULL, NULL, NULL, &lo, path), FCL_OK, "%s", fcl_ctx_errmsg(ctx));
    cr_assert_eq(fcl_net_entry_get(net, fc, after), FCL_OK);
    cr_assert_arr_eq(before, after, 7 * sizeof(float), "the classifier stays as initialised");

    /* resuming needs optimizer state the file does not have */
    fcl_net_destroy(net);
    fcl_model_free(m);
    fcl_ctx_destroy(ctx);

    /* A truncated file is a clear error too. */
    cr_assert_eq(truncate(path, 100), 0);
    ctx = fcl_test_ctx(4);
    m = fcl_test_small_model(S, K, 16);
    cr_assert_eq(fcl_net_create(ctx, m, &no, &net), FCL_OK);
    cr_assert_neq(fcl_checkpoint_load(ctx, net, NULL, NULL, NULL, NULL, path), FCL_OK);
    cr_assert(strstr(fcl_ctx_errmsg(ctx), path), "%s", fcl_ctx_errmsg(ctx));
    fcl_net_destroy(net);
    fcl_model_free(m);
    fcl_ctx_destroy(ctx);
    remove_tmp(path);
}

/* Freeze the stem (conv1, bn1, relu): its weights and BN statistics must not move. */
Test(net, frozen_prefix_is_not_updated, .timeout = 300)
{
    trainer t;
    setup(&t, 6, 3, FCL_OPTIM_SGD);
    int w = -1, rm = -1, later = -1;
    for (int i = 0; i < fcl_net_entry_count(t.net); i++) {
        const char *nm = fcl_net_entry_at(t.net, i)->info->name;
        if (!strcmp(nm, "conv1.weight")) w = i;
        if (!strcmp(nm, "bn1.running_mean")) rm = i;
        if (!strcmp(nm, "conv2.weight")) later = i;
    }
    cr_assert(w >= 0 && rm >= 0 && later >= 0);
    cr_assert(fcl_net_entry_at(t.net, w)->frozen);
    size_t nw = (size_t)fcl_net_entry_at(t.net, w)->info->numel, nl = (size_t)fcl_net_entry_at(t.net, later)->info->numel;
    float *w0 = malloc(nw * 4), *w1 = malloc(nw * 4), *l0 = malloc(nl * 4), *l1 = malloc(nl * 4), rm0[16], rm1[16];
    cr_assert_eq(fcl_net_entry_get(t.net, w, w0), FCL_OK);
    cr_assert_eq(fcl_net_entry_get(t.net, rm, rm0), FCL_OK);
    cr_assert_eq(fcl_net_entry_get(t.net, later, l0), FCL_OK);
    for (int i = 0; i < 3; i++) step(&t);
    cr_assert_eq(fcl_net_entry_get(t.net, w, w1), FCL_OK);
    cr_assert_eq(fcl_net_entry_get(t.net, rm, rm1), FCL_OK);
    cr_assert_eq(fcl_net_entry_get(t.net, later, l1), FCL_OK);
    cr_assert_arr_eq(w0, w1, nw * 4, "frozen conv1 changed");
    cr_assert_arr_eq(rm0, rm1, 16 * 4, "frozen bn1 running mean changed");
    cr_assert(memcmp(l0, l1, nl * 4) != 0, "conv2 (trainable) did not change");
    free(w0); free(w1); free(l0); free(l1);
    teardown(&t);
}

Test(net, steady_state_allocates_nothing_and_inference_needs_less, .timeout = 300)
{
    trainer t;
    setup(&t, 8, 0, FCL_OPTIM_SGD);
    step(&t);
    fcl_pool_stats s0, s1;
    fcl_ctx_pool_stats(t.ctx, &s0);
    for (int i = 0; i < 3; i++) step(&t);
    fcl_ctx_pool_stats(t.ctx, &s1);
    cr_assert_eq(s1.device_allocs, s0.device_allocs, "training steps made %llu new buffers",
                 (unsigned long long)(s1.device_allocs - s0.device_allocs));
    uint64_t train_peak = s1.peak;
    teardown(&t);

    /* Inference of the same batch in a fresh context: everything not needed is freed at once. */
    setup(&t, 8, 0, FCL_OPTIM_SGD);
    fcl_pool_stats a, b;
    fcl_ctx_pool_stats(t.ctx, &a);
    cr_assert_eq(fcl_net_forward(t.net, &t.b.x, 0), FCL_OK, "%s", fcl_ctx_errmsg(t.ctx));
    fcl_ctx_pool_stats(t.ctx, &b);
    printf("memory: training peak %.2f MB, inference forward peak %.2f MB (params etc. %.2f MB)\n", train_peak / 1e6,
           b.peak / 1e6, a.peak / 1e6);
    cr_assert_lt(b.peak, train_peak);
    cr_assert_eq(fcl_net_backward(t.net, &t.b.dlogits, NULL), FCL_ERR_INVALID_ARG, "backward after inference");
    teardown(&t);
}

/* The whole network's input gradient against central finite differences of the loss (float32
 * forward, so a loose tolerance; catches wiring mistakes in the backward plan). */
Test(net, input_gradient_matches_finite_differences, .timeout = 300)
{
    trainer t;
    setup(&t, 9, 0, FCL_OPTIM_SGD);
    fcl_xent_params xp = {0};
    fcl_net_want_input_grad(t.net, 1);
    float *x = malloc(sizeof(float) * N * S * S);
    cr_assert_eq(fcl_tensor_download(t.ctx, &t.b.x, x, N * S * S), FCL_OK);
    for (int i = 0; i < 5; i++) step(&t); /* non-trivial running statistics */
    cr_assert_eq(fcl_net_set_freeze(t.net, 0), FCL_OK);
    cr_assert_eq(fcl_net_forward(t.net, &t.b.x, 1), FCL_OK);
    cr_assert_eq(fcl_softmax_xent_fwd(t.ctx, &t.b.loss, NULL, fcl_net_output(t.net), &t.b.y, &xp), FCL_OK);
    cr_assert_eq(fcl_tensor_fill(t.ctx, &t.b.dlogits, 0.0f), FCL_OK);
    cr_assert_eq(fcl_softmax_xent_bwd(t.ctx, &t.b.dlogits, fcl_net_output(t.net), &t.b.y, &xp, 1.0f), FCL_OK);
    cr_assert_eq(fcl_net_backward(t.net, &t.b.dlogits, NULL), FCL_OK, "%s", fcl_ctx_errmsg(t.ctx));
    const fcl_tensor *dxt = fcl_net_input_grad(t.net);
    cr_assert_not_null(dxt);
    float *dx = malloc(sizeof(float) * N * S * S);
    cr_assert_eq(fcl_tensor_download(t.ctx, dxt, dx, N * S * S), FCL_OK);
    /* the loss of a training forward (batch statistics) as a function of one pixel */
    double worst = 0;
    int checked = 0;
    /* the 12 pixels with the largest gradients (smaller ones drown in float32 rounding of the loss) */
    int pick[12];
    for (int s = 0; s < 12; s++) {
        int best = -1;
        for (int k = 0; k < N * S * S; k++) {
            int used = 0;
            for (int u = 0; u < s; u++) used |= pick[u] == k;
            if (!used && (best < 0 || fabsf(dx[k]) > fabsf(dx[best]))) best = k;
        }
        pick[s] = best;
    }
    for (int s = 0; s < 12; s++) {
        int k = pick[s];
        double h = 1e-2, lp, lm;
        float orig = x[k];
        float l;
        x[k] = orig + (float)h;
        cr_assert_eq(fcl_tensor_upload(t.ctx, &t.b.x, x, N * S * S), FCL_OK);
        cr_assert_eq(fcl_net_forward(t.net, &t.b.x, 1), FCL_OK);
        cr_assert_eq(fcl_softmax_xent_fwd(t.ctx, &t.b.loss, NULL, fcl_net_output(t.net), &t.b.y, &xp), FCL_OK);
        cr_assert_eq(fcl_tensor_download(t.ctx, &t.b.loss, &l, 1), FCL_OK);
        lp = l;
        x[k] = orig - (float)h;
        cr_assert_eq(fcl_tensor_upload(t.ctx, &t.b.x, x, N * S * S), FCL_OK);
        cr_assert_eq(fcl_net_forward(t.net, &t.b.x, 1), FCL_OK);
        cr_assert_eq(fcl_softmax_xent_fwd(t.ctx, &t.b.loss, NULL, fcl_net_output(t.net), &t.b.y, &xp), FCL_OK);
        cr_assert_eq(fcl_tensor_download(t.ctx, &t.b.loss, &l, 1), FCL_OK);
        lm = l;
        x[k] = orig;
        double fd = (lp - lm) / (2 * h);
        double err = fabs(fd - dx[k]) / fmax(fabs(dx[k]), 1e-4);
        if (err > worst) worst = err;
        checked++;
        cr_assert_leq(err, 0.1, "pixel %d: backward %g vs finite difference %g", k, dx[k], fd);
    }
    printf("input gradient vs finite differences: %d pixels, worst rel err %.3g\n", checked, worst);
    free(x);
    free(dx);
    teardown(&t);
}

/* `bn ... weight_init=0` (timm's zero_init_last, ResNeSt's bn3) starts gamma at 0; other BNs at 1;
 * the running variance at 1 either way. */
Test(net, bn_weight_init, .timeout = 60)
{
    const char *text = "option channels = 2\noption size = 5\n"
                       "conv c out=3 k=3 p=1 bias=0\nbn a weight_init=0\nrelu\nbn b\nbn d weight_init=0.5\ngap\nflatten\n"
                       "embedding emb\nclassifier fc\n";
    fcl_model *m = fcl_test_parse_model_head(text, "z.model", 3, 4);
    fcl_ctx *ctx = fcl_test_ctx(5);
    fcl_net *net = fcl_test_small_net(ctx, m, 2, -1);
    const struct { const char *name; float want; } cases[] = {
        {"a.weight", 0.0f}, {"a.running_var", 1.0f}, {"b.weight", 1.0f}, {"d.weight", 0.5f}, {"a.bias", 0.0f}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        int found = 0;
        for (int i = 0; i < fcl_net_entry_count(net); i++) {
            if (strcmp(fcl_net_entry_at(net, i)->info->name, cases[c].name)) continue;
            float v[3];
            cr_assert_eq(fcl_net_entry_get(net, i, v), FCL_OK, "%s", fcl_ctx_errmsg(ctx));
            for (int k = 0; k < 3; k++) cr_assert_eq(v[k], cases[c].want, "%s[%d] = %g", cases[c].name, k, v[k]);
            found = 1;
        }
        cr_assert(found, "%s is missing", cases[c].name);
    }
    fcl_net_destroy(net);
    fcl_ctx_destroy(ctx);
    fcl_model_free(m);
}
