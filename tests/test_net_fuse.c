/* tests/test_net_fuse.c: fused / folded layer groups (host/nn/net_fuse.c) give the unfused network's results: inference logits and embeddings, training outputs, gradients and running statistics (the same values), and folded weights refreshed after an SGD step, a training forward and a checkpoint load. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "helpers/harness.h"
#include "helpers/small_net.h"
#include "nn/net_fuse.h"

#define N 3 /* batch */

/* Two networks of one model with the same parameters: a fused (the default), b unfused. */
typedef struct pair {
    fcl_ctx *ctx;
    fcl_model *m;
    fcl_net *a, *b;
    h_buf x;
    size_t n_out, n_emb, n_par, n_buf, n_in;
} pair;

enum { SMALL, RESNET18, MOBILENET_V2 };

/* models/small.model (face stem, identity shortcuts, linear + BN1d embedding), ResNet-18 at
 * width 1/8 (imagenet stem, max pool, 1x1 downsample shortcuts) or MobileNetV2 at width 1/4
 * (BN + ReLU6 everywhere, BN + add without an activation in the residual blocks, depthwise convs). */
static fcl_model *load_model(int which)
{
    if (which == RESNET18) return fcl_test_model_file("resnet18", 32, 5, 0, 0.125);
    if (which == MOBILENET_V2) return fcl_test_model_file("mobilenet_v2", 32, 5, 0, 0.25);
    return fcl_test_small_model(16, 5, 8);
}

/* BN gammas, betas and running statistics away from their initial 1 / 0 / 0 / 1, so the folds
 * are not trivial; the same values in every net given. */
static void randomise_bn(fcl_net **nets, int count, uint64_t seed)
{
    int ne = fcl_net_entry_count(nets[0]);
    for (int e = 0; e < ne; e++) {
        const fcl_net_entry *en = fcl_net_entry_at(nets[0], e);
        if (fcl_net_model(nets[0])->layers[en->layer].kind != FCL_LAYER_BN || en->where == 2) continue;
        size_t n = (size_t)en->info->numel;
        double *d = h_alloc(n);
        float *f = malloc(n * sizeof *f);
        int k = en->info->kind;
        h_rand(d, n, seed * 1000 + (uint64_t)e, k == FCL_PARAM_RUNNING_VAR ? 0.3 : k == FCL_PARAM_WEIGHT ? 0.5 : -0.5,
               k == FCL_PARAM_RUNNING_VAR ? 2.0 : k == FCL_PARAM_WEIGHT ? 1.5 : 0.5);
        for (size_t i = 0; i < n; i++) f[i] = (float)d[i];
        for (int t = 0; t < count; t++) cr_assert_eq(fcl_net_entry_set(nets[t], e, f), FCL_OK);
        free(d), free(f);
    }
}

static void setup(pair *p, int which)
{
    memset(p, 0, sizeof *p);
    p->ctx = fcl_test_ctx(0);
    p->m = load_model(which);
    p->a = fcl_test_small_net(p->ctx, p->m, N, 7);
    p->b = fcl_test_small_net(p->ctx, p->m, N, 7);
    fcl_net_set_fusion(p->b, 0);
    fcl_net *both[2] = {p->a, p->b};
    randomise_bn(both, 2, 1);
    size_t xs[4] = {N, (size_t)p->m->channels, (size_t)p->m->in_h, (size_t)p->m->in_w};
    p->n_in = N * xs[1] * xs[2] * xs[3];
    double *x = h_alloc(p->n_in);
    h_rand(x, p->n_in, 3, -1, 1);
    p->x = h_upload(p->ctx, x, 4, xs);
    free(x);
    p->n_out = N * (size_t)(p->m->classes ? p->m->classes : p->m->embedding_dim);
    p->n_emb = N * (size_t)p->m->embedding_dim;
    p->n_par = fcl_tensor_numel(fcl_net_params(p->a));
    p->n_buf = fcl_tensor_numel(fcl_net_buffers(p->a));
}

static void teardown(pair *p)
{
    h_free(p->ctx, &p->x);
    fcl_net_destroy(p->a);
    fcl_net_destroy(p->b);
    fcl_model_free(p->m);
    fcl_ctx_destroy(p->ctx);
}

static double *get(fcl_ctx *ctx, const fcl_tensor *t, size_t n)
{
    float *f = malloc(n * sizeof *f);
    double *d = h_alloc(n);
    cr_assert_eq(fcl_tensor_download(ctx, t, f, n), FCL_OK, "%s", fcl_ctx_errmsg(ctx));
    for (size_t i = 0; i < n; i++) d[i] = f[i];
    free(f);
    return d;
}

/* Forward of net; its logits (and embedding when emb is not NULL), malloc'd. */
static double *forward(pair *p, fcl_net *net, int training, double **emb)
{
    cr_assert_eq(fcl_net_forward(net, &p->x.t, training), FCL_OK, "%s", fcl_ctx_errmsg(p->ctx));
    if (emb) *emb = get(p->ctx, fcl_net_embedding(net), p->n_emb);
    return get(p->ctx, fcl_net_output(net), p->n_out);
}

/* Inference of a (fused) and b (unfused) agree; returns a's logits. */
static double *expect_same_inference(pair *p, const char *when)
{
    char what[160];
    double *ea, *eb, *ya = forward(p, p->a, 0, &ea), *yb = forward(p, p->b, 0, &eb);
    snprintf(what, sizeof what, "%s %s: inference logits, folded vs unfused", p->m->name, when);
    h_expect_close(what, ya, yb, p->n_out, 1e-3);
    snprintf(what, sizeof what, "%s %s: inference embeddings, folded vs unfused", p->m->name, when);
    h_expect_close(what, ea, eb, p->n_emb, 1e-3);
    free(ea), free(eb), free(yb);
    return ya;
}

/* The largest |a - b| relative to max |b|: how far a stale fold would be off. */
static double rel_change(const double *a, const double *b, size_t n)
{
    double d = 0, s = 0;
    for (size_t i = 0; i < n; i++) d = fmax(d, fabs(a[i] - b[i])), s = fmax(s, fabs(b[i]));
    return d / fmax(s, 1e-30);
}

/* How many of a[0..n) differ from b (as values: +0 == -0). */
static size_t count_differ(const double *a, const double *b, size_t n)
{
    size_t d = 0;
    for (size_t i = 0; i < n; i++) d += a[i] != b[i];
    return d;
}

/* A training step's forward and backward on both nets from the same d_output; compares outputs,
 * every parameter gradient, the running statistics and the input gradient: the fused kernels do
 * the unfused ones' arithmetic in the same order, so every value is the same (the tolerances
 * only make the report readable when one is not). */
static void expect_same_training(pair *p)
{
    char what[160];
    double *dy = h_alloc(p->n_out);
    h_rand(dy, p->n_out, 5, -1, 1);
    size_t os[4] = {N, p->n_out / N, 1, 1};
    h_buf bdy = h_upload(p->ctx, dy, 4, os);
    double *y[2], *g[2], *r[2], *dx[2];
    fcl_net *nets[2] = {p->a, p->b};
    for (int t = 0; t < 2; t++) {
        cr_assert_eq(fcl_tensor_fill(p->ctx, fcl_net_grads(nets[t]), 0.0f), FCL_OK);
        fcl_net_want_input_grad(nets[t], 1);
        fcl_rng_seed(fcl_ctx_rng(p->ctx), 11); /* the same dropout masks (MobileNetV2's classifier) */
        y[t] = forward(p, nets[t], 1, NULL);
        cr_assert_eq(fcl_net_backward(nets[t], &bdy.t, NULL), FCL_OK, "%s", fcl_ctx_errmsg(p->ctx));
        g[t] = get(p->ctx, fcl_net_grads(nets[t]), p->n_par);
        r[t] = get(p->ctx, fcl_net_buffers(nets[t]), p->n_buf);
        const fcl_tensor *gi = fcl_net_input_grad(nets[t]); /* none behind a frozen prefix */
        dx[t] = gi ? get(p->ctx, gi, p->n_in) : NULL;
    }
    snprintf(what, sizeof what, "%s training logits, fused vs unfused", p->m->name);
    h_expect_close(what, y[0], y[1], p->n_out, 1e-4);
    snprintf(what, sizeof what, "%s parameter gradients, fused vs unfused", p->m->name);
    h_expect_close(what, g[0], g[1], p->n_par, 1e-3);
    snprintf(what, sizeof what, "%s running statistics, fused vs unfused", p->m->name);
    h_expect_close(what, r[0], r[1], p->n_buf, 1e-4);
    snprintf(what, sizeof what, "%s input gradient, fused vs unfused", p->m->name);
    cr_expect(!dx[0] == !dx[1], "%s: an input gradient from one net only", p->m->name);
    if (dx[0] && dx[1]) h_expect_close(what, dx[0], dx[1], p->n_in, 1e-3);
    size_t d[4] = {count_differ(y[0], y[1], p->n_out), count_differ(g[0], g[1], p->n_par),
                   count_differ(r[0], r[1], p->n_buf), dx[0] && dx[1] ? count_differ(dx[0], dx[1], p->n_in) : 0};
    cr_expect(d[0] + d[1] + d[2] + d[3] == 0,
              "%s training, fused vs unfused: %zu logits, %zu gradients, %zu running statistics, %zu input gradients "
              "differ (expected identical values)", p->m->name, d[0], d[1], d[2], d[3]);
    for (int t = 0; t < 2; t++) free(y[t]), free(g[t]), free(r[t]), free(dx[t]);
    free(dy);
    h_free(p->ctx, &bdy);
}

static void sgd_step(pair *p)
{
    fcl_net *nets[2] = {p->a, p->b};
    for (int t = 0; t < 2; t++) {
        fcl_param_range all = {0, p->n_par};
        fcl_param_group grp = {fcl_sgd_defaults(0.002), &all, 1};
        fcl_optim *opt = NULL;
        cr_assert_eq(fcl_optim_create(p->ctx, &opt, FCL_OPTIM_SGD, p->n_par, &grp, 1), FCL_OK, "%s",
                     fcl_ctx_errmsg(p->ctx));
        cr_assert_eq(fcl_optim_step(p->ctx, opt, fcl_net_params(nets[t]), fcl_net_grads(nets[t])), FCL_OK, "%s",
                     fcl_ctx_errmsg(p->ctx));
        fcl_optim_destroy(p->ctx, opt);
    }
}

/* Which groups run: every BN of these models folds into its conv / linear for inference (with
 * the add and activation after it); in training each BN followed by a ReLU / ReLU6 (directly or
 * through a residual add) is fused, and
 * MobileNetV2's BN -> add without an activation (35 BN + ReLU6, 11 BN + add: at width 1/4 the
 * first block keeps its 8 channels and has a residual too). */
static void expect_groups(pair *p, int which)
{
    static const int infer_groups[] = {8, 20, 52}, train_groups[] = {7, 17, 46};
    int infer = infer_groups[which], train = train_groups[which];
    cr_expect_eq(netf_count(p->a, 0), infer, "%s: %d inference groups, expected %d", p->m->name, netf_count(p->a, 0),
                 infer);
    cr_expect_eq(netf_count(p->a, 1), train, "%s: %d training groups, expected %d", p->m->name, netf_count(p->a, 1),
                 train);
    /* every residual add joins a group in both modes (inference: the folded conv's output, the add
     * and the ReLU in one pass; MobileNetV2's adds have no activation after them) */
    static const int adds[] = {2, 8, 11};
    for (int t = 0; t < 2; t++)
        cr_expect_eq(netf_count_adds(p->a, t), adds[which], "%s: %d %s groups with a residual add, expected %d",
                     p->m->name, netf_count_adds(p->a, t), t ? "training" : "inference", adds[which]);
    cr_expect_eq(netf_count(p->b, 0) + netf_count(p->b, 1), 0, "fusion off: no groups");
    setenv("FACECL_NO_FUSE", "1", 1); /* this test's own process */
    fcl_net *c = fcl_test_small_net(p->ctx, p->m, N, -1);
    cr_expect_eq(netf_count(c, 0) + netf_count(c, 1), 0, "FACECL_NO_FUSE=1: no groups");
    fcl_net_destroy(c);
    unsetenv("FACECL_NO_FUSE");
}

static void run_model(int which)
{
    pair p;
    setup(&p, which);
    h_case("%s: fused / folded vs unfused", p.m->name);
    expect_groups(&p, which);
    double *y0 = expect_same_inference(&p, "at start");
    expect_same_training(&p); /* also moves the running statistics: the next inference refolds */
    double *y1 = expect_same_inference(&p, "after a training forward");
    sgd_step(&p);
    double *y2 = expect_same_inference(&p, "after an SGD step");
    /* each change moved the logits far beyond the tolerance, so a stale fold would have failed */
    cr_expect(rel_change(y1, y0, p.n_out) > 1e-2, "the training forward barely moved the logits (%g)",
              rel_change(y1, y0, p.n_out));
    cr_expect(rel_change(y2, y1, p.n_out) > 1e-2, "the SGD step barely moved the logits (%g)",
              rel_change(y2, y1, p.n_out));

    /* a checkpoint of other parameters loaded into both */
    char path[] = "/tmp/facecl-fuse-XXXXXX";
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    close(fd);
    fcl_net *c = fcl_test_small_net(p.ctx, p.m, N, 99);
    randomise_bn(&c, 1, 2);
    cr_assert_eq(fcl_checkpoint_save(p.ctx, c, NULL, NULL, NULL, NULL, 0, path), FCL_OK, "%s", fcl_ctx_errmsg(p.ctx));
    fcl_load_opts lo = {0, 1};
    cr_assert_eq(fcl_checkpoint_load(p.ctx, p.a, NULL, NULL, NULL, &lo, path), FCL_OK, "%s", fcl_ctx_errmsg(p.ctx));
    cr_assert_eq(fcl_checkpoint_load(p.ctx, p.b, NULL, NULL, NULL, &lo, path), FCL_OK, "%s", fcl_ctx_errmsg(p.ctx));
    unlink(path);
    double *y3 = expect_same_inference(&p, "after a checkpoint load");
    cr_expect(rel_change(y3, y2, p.n_out) > 1e-2, "the checkpoint barely moved the logits (%g)",
              rel_change(y3, y2, p.n_out));
    /* a second inference on the same weights (the cached folds): the same logits, bit for bit */
    double *y4 = forward(&p, p.a, 0, NULL);
    cr_expect(memcmp(y3, y4, p.n_out * sizeof *y3) == 0, "two inferences on the same weights differ");
    fcl_net_destroy(c);
    /* a frozen prefix: its BN layers run in inference mode and are not fused for training */
    int train_groups = netf_count(p.a, 1);
    cr_assert_eq(fcl_net_set_freeze(p.a, p.m->n_layers / 2), FCL_OK);
    cr_assert_eq(fcl_net_set_freeze(p.b, p.m->n_layers / 2), FCL_OK);
    cr_expect(netf_count(p.a, 1) > 0 && netf_count(p.a, 1) < train_groups, "freezing half: %d of %d training groups",
              netf_count(p.a, 1), train_groups);
    expect_same_training(&p);
    free(y0), free(y1), free(y2), free(y3), free(y4);
    teardown(&p);
}

Test(net_fuse, small_model) { run_model(SMALL); }
Test(net_fuse, resnet18) { run_model(RESNET18); }
Test(net_fuse, mobilenet_v2) { run_model(MOBILENET_V2); }
