/* tests/helpers/parity.c: the whole-network PyTorch parity checks (tests/test_parity*.c): eval logits, loss, every gradient, 5 SGD steps. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <facecl/facecl.h>
#include <facecl/model.h>
#include <facecl/optim.h>
#include <facecl/safetensors.h>

#include "helpers/harness.h"
#include "helpers/parity.h"
#include "helpers/small_net.h"

/* The fixtures come from tools/torch_parity.py (torch in float64; facecl computes in float32). */
typedef struct parity {
    fcl_ctx *ctx;
    fcl_model *model;
    fcl_net *net;
    fcl_checkpoint w, out;
    int batch, classes;
    fcl_test_batch b;
} parity;

static int meta_int(const fcl_checkpoint *c, const char *k)
{
    const char *v = fcl_ckpt_get_meta(c, k);
    cr_assert_not_null(v, "fixture metadata %s", k);
    return atoi(v);
}

static void tensor_f32(const fcl_checkpoint *c, const char *name, float *out, size_t n)
{
    const fcl_st_tensor *t = fcl_ckpt_find(c, name);
    fcl_error e = {0};
    cr_assert_not_null(t, "fixture has no %s", name);
    cr_assert_eq(t->numel, n, "%s: %zu values, expected %zu", name, t->numel, n);
    cr_assert_eq(fcl_st_tensor_to_f32(t, out, n, &e), FCL_OK, "%s", e.msg);
}

/* Sets every state_dict entry of the net from the fixture, by torch name. */
static void load_weights(parity *p)
{
    for (int i = 0; i < fcl_net_entry_count(p->net); i++) {
        const fcl_net_entry *en = fcl_net_entry_at(p->net, i);
        size_t n = (size_t)en->info->numel;
        float *buf = malloc(n * sizeof *buf);
        tensor_f32(&p->w, en->info->name, buf, n);
        cr_assert_eq(fcl_net_entry_set(p->net, i, buf), FCL_OK, "%s", fcl_ctx_errmsg(p->ctx));
        free(buf);
    }
}

static void setup(parity *p, const char *name)
{
    char path[1024];
    fcl_error e = {0};
    memset(p, 0, sizeof *p);
    snprintf(path, sizeof path, "%s/tests/fixtures/parity_%s.safetensors", FACECL_SOURCE_DIR, name);
    cr_assert_eq(fcl_st_load(&p->w, path, &e), FCL_OK, "%s", e.msg);
    snprintf(path, sizeof path, "%s/tests/fixtures/parity_%s_out.safetensors", FACECL_SOURCE_DIR, name);
    cr_assert_eq(fcl_st_load(&p->out, path, &e), FCL_OK, "%s", e.msg);

    fcl_model_opts mo;
    fcl_model_opts_init(&mo);
    mo.channels = meta_int(&p->w, "channels");
    mo.size = meta_int(&p->w, "size");
    mo.classes = p->classes = meta_int(&p->w, "classes");
    mo.embedding = 0;
    mo.width = atof(fcl_ckpt_get_meta(&p->w, "width"));
    mo.stem = fcl_ckpt_get_meta(&p->w, "stem");
    p->batch = meta_int(&p->w, "batch");
    snprintf(path, sizeof path, "%s/models/%s.model", FACECL_SOURCE_DIR, fcl_ckpt_get_meta(&p->w, "model"));
    cr_assert_eq(fcl_model_load_file(path, &mo, &p->model, &e), FCL_OK, "%s", e.msg);
    for (int i = 0; i < p->model->n_layers; i++) { /* the fixture ran with dropout and drop path off */
        if (p->model->layers[i].kind == FCL_LAYER_DROPOUT) p->model->layers[i].dropout.p = 0.0f;
        if (p->model->layers[i].kind == FCL_LAYER_DROP_PATH) p->model->layers[i].ext.p = 0.0f;
    }

    p->ctx = h_ctx();
    p->net = fcl_test_small_net(p->ctx, p->model, p->batch, -1);
    load_weights(p);

    size_t nx = (size_t)p->batch * mo.channels * mo.size * mo.size;
    float *x = malloc(nx * sizeof *x);
    tensor_f32(&p->w, "x", x, nx);
    int64_t y64[64];
    int y[64];
    cr_assert_eq(fcl_st_tensor_to_i64(fcl_ckpt_find(&p->w, "y"), y64, (size_t)p->batch, &e), FCL_OK);
    for (int i = 0; i < p->batch; i++) y[i] = (int)y64[i];
    fcl_test_batch_upload(p->ctx, &p->b, x, y, p->batch, mo.channels, mo.size, p->classes);
    free(x);
}

static void teardown(parity *p)
{
    fcl_test_batch_release(p->ctx, &p->b);
    fcl_net_destroy(p->net);
    fcl_ctx_destroy(p->ctx);
    fcl_model_free(p->model);
    fcl_ckpt_free(&p->w);
    fcl_ckpt_free(&p->out);
}

/* Per-element relative error with a floor of the mean |reference| (so near-zero entries of a
 * tensor are judged against its scale); returns the worst. */
static double rel_err(const float *got, const float *want, size_t n, size_t *at)
{
    double scale = 0, worst = 0;
    for (size_t i = 0; i < n; i++) scale += fabs(want[i]);
    scale = fmax(scale / (double)n, 1e-30);
    for (size_t i = 0; i < n; i++) {
        double r = fabs((double)got[i] - want[i]) / fmax(fabs(want[i]), scale);
        if (r > worst) {
            worst = r;
            if (at) *at = i;
        }
    }
    return worst;
}

static float step_loss(parity *p, int training)
{
    fcl_xent_params xp = {0};
    cr_assert_eq(fcl_net_forward(p->net, &p->b.x, training), FCL_OK, "%s", fcl_ctx_errmsg(p->ctx));
    cr_assert_eq(fcl_softmax_xent_fwd(p->ctx, &p->b.loss, NULL, fcl_net_output(p->net), &p->b.y, &xp), FCL_OK, "%s",
                 fcl_ctx_errmsg(p->ctx));
    float l;
    cr_assert_eq(fcl_tensor_download(p->ctx, &p->b.loss, &l, 1), FCL_OK);
    return l;
}

void parity_forward_backward(const char *name)
{
    parity p;
    setup(&p, name);
    size_t nl = (size_t)p.batch * p.classes, at = 0;
    float logits[256], want[256];

    /* inference: running statistics */
    step_loss(&p, 0);
    cr_assert_eq(fcl_tensor_download(p.ctx, fcl_net_output(p.net), logits, nl), FCL_OK);
    tensor_f32(&p.out, "eval_logits", want, nl);
    double e_eval = rel_err(logits, want, nl, &at);
    cr_assert_leq(e_eval, 1e-3, "%s eval logits: rel err %.3g at %zu (%g vs %g)", name, e_eval, at, logits[at], want[at]);

    /* training: batch statistics, loss, every gradient */
    float loss = step_loss(&p, 1), want_loss;
    cr_assert_eq(fcl_tensor_download(p.ctx, fcl_net_output(p.net), logits, nl), FCL_OK);
    tensor_f32(&p.out, "logits", want, nl);
    tensor_f32(&p.out, "loss", &want_loss, 1);
    double e_logits = rel_err(logits, want, nl, &at);
    double e_loss = fabs(loss - want_loss) / fabs(want_loss);
    size_t at_logits = at;

    fcl_xent_params xp = {0};
    cr_assert_eq(fcl_tensor_fill(p.ctx, &p.b.dlogits, 0.0f), FCL_OK);
    cr_assert_eq(fcl_softmax_xent_bwd(p.ctx, &p.b.dlogits, fcl_net_output(p.net), &p.b.y, &xp, 1.0f), FCL_OK);
    cr_assert_eq(fcl_optim_zero_grad(p.ctx, fcl_net_grads(p.net)), FCL_OK);
    cr_assert_eq(fcl_net_backward(p.net, &p.b.dlogits, NULL), FCL_OK, "%s", fcl_ctx_errmsg(p.ctx));

    /* Gradients are compared per tensor as ||g - ref|| / max(||ref||, 0.01 * mean|ref| * sqrt(n)),
     * mean over all gradients of the network: a tensor whose true gradient is ~0 (a bias feeding a
     * batch norm gets exactly 0 in theory) is judged against the network's gradient scale, not
     * its own rounding noise. The per-element worst is printed too. */
    double gscale = 0, gcount = 0;
    for (int pass = 0; pass < 2; pass++) {
    double worst = 0, worst_tol = 1e-2, worst_elem = 0;
    const char *worst_name = "";
    int n_grads = 0;
    for (int i = 0; i < fcl_net_entry_count(p.net); i++) {
        const fcl_net_entry *en = fcl_net_entry_at(p.net, i);
        if (en->where != 0 || en->info->fixed) continue; /* fixed: torch has no gradient either */
        size_t n = (size_t)en->info->numel;
        float *g = malloc(n * sizeof *g), *w = malloc(n * sizeof *w);
        fcl_tensor v;
        cr_assert_eq(fcl_net_entry_view(p.net, i, &v), FCL_OK);
        v.buf = fcl_net_grads(p.net)->buf;
        cr_assert_eq(fcl_tensor_download(p.ctx, &v, g, n), FCL_OK);
        char key[200];
        snprintf(key, sizeof key, "grad.%s", en->info->name);
        tensor_f32(&p.out, key, w, n);
        if (pass == 0) {
            for (size_t k = 0; k < n; k++) gscale += fabs(w[k]);
            gcount += (double)n;
            free(g);
            free(w);
            continue;
        }
        double d2 = 0, r2 = 0;
        for (size_t k = 0; k < n; k++) {
            d2 += ((double)g[k] - w[k]) * ((double)g[k] - w[k]);
            r2 += (double)w[k] * w[k];
        }
        double e = sqrt(d2) / fmax(sqrt(r2), 0.01 * gscale * sqrt((double)n));
        double ee = rel_err(g, w, n, &at);
        if (ee > worst_elem) worst_elem = ee;
        /* ill-conditioned fixtures (ResNeSt) hold how far PyTorch's own float32 and perturbed
         * float64 gradients move (tools/torch_parity.py GRAD_SPREAD): 20 x that is allowed */
        double tol = 1e-2;
        snprintf(key, sizeof key, "grad_spread.%s", en->info->name);
        if (fcl_ckpt_find(&p.out, key)) {
            float sp;
            tensor_f32(&p.out, key, &sp, 1);
            tol = fmax(tol, 20.0 * sp);
        }
        if (e > 1e-2) printf("%s: gradient of %s: rel err %.3g, allowed %.3g (worst element %zu: %g vs %g)\n", name,
                             en->info->name, e, tol, at, g[at], w[at]);
        if (e / tol > worst / worst_tol) {
            worst = e;
            worst_tol = tol;
            worst_name = en->info->name;
        }
        n_grads++;
        free(g);
        free(w);
    }
    if (pass == 0) {
        gscale /= gcount;
        continue;
    }
    printf("parity %s: eval logits %.2e, train logits %.2e, loss %.2e, %d gradients: worst %.2e (%s, allowed %.2e), worst single element %.2e\n",
           name, e_eval, e_logits, e_loss, n_grads, worst, worst_name, worst_tol, worst_elem);
    cr_assert_leq(e_logits, 1e-3, "%s logits: rel err %.3g at %zu", name, e_logits, at_logits);
    cr_assert_leq(e_loss, 1e-3, "%s loss %g vs %g", name, loss, want_loss);
    cr_assert_leq(worst, worst_tol, "%s: gradient of %s: rel err %.3g > %.3g", name, worst_name, worst, worst_tol);
    }
    teardown(&p);
}

void parity_sgd_steps(const char *name)
{
    parity p;
    setup(&p, name);
    fcl_param_range *rd, *rn;
    size_t nd, nn;
    cr_assert_eq(fcl_net_param_ranges(p.net, &rd, &nd, &rn, &nn), FCL_OK);
    double lr = atof(fcl_ckpt_get_meta(&p.w, "sgd_lr"));
    fcl_param_group g[2] = {{fcl_sgd_defaults(lr), rd, nd}, {fcl_sgd_defaults(lr), rn, nn}};
    g[0].hp.momentum = g[1].hp.momentum = 0.9;
    g[0].hp.weight_decay = 5e-4;
    fcl_optim *opt;
    cr_assert_eq(fcl_optim_create(p.ctx, &opt, FCL_OPTIM_SGD, fcl_tensor_numel(fcl_net_params(p.net)), g, 2), FCL_OK,
                 "%s", fcl_ctx_errmsg(p.ctx));
    float want[5], got[5], torch32[5], spread[5];
    tensor_f32(&p.out, "sgd_losses", want, 5);
    tensor_f32(&p.out, "sgd_losses_f32", torch32, 5);
    /* newer fixtures also hold the spread of float64 runs from weights perturbed by float32
     * rounding (how chaotic the trajectory is) */
    int has_spread = fcl_ckpt_find(&p.out, "sgd_spread") != NULL;
    if (has_spread) tensor_f32(&p.out, "sgd_spread", spread, 5);
    fcl_xent_params xp = {0};
    double worst = 0, max_drift = 0;
    for (int s = 0; s < 5; s++) {
        got[s] = step_loss(&p, 1);
        cr_assert_eq(fcl_tensor_fill(p.ctx, &p.b.dlogits, 0.0f), FCL_OK);
        cr_assert_eq(fcl_softmax_xent_bwd(p.ctx, &p.b.dlogits, fcl_net_output(p.net), &p.b.y, &xp, 1.0f), FCL_OK);
        cr_assert_eq(fcl_optim_zero_grad(p.ctx, fcl_net_grads(p.net)), FCL_OK);
        cr_assert_eq(fcl_net_backward(p.net, &p.b.dlogits, NULL), FCL_OK, "%s", fcl_ctx_errmsg(p.ctx));
        cr_assert_eq(fcl_optim_step(p.ctx, opt, fcl_net_params(p.net), fcl_net_grads(p.net)), FCL_OK, "%s",
                     fcl_ctx_errmsg(p.ctx));
        /* 1e-3 of the float64 reference, or twice the largest drift of PyTorch's own float32 run
         * (or the spread of perturbed float64 runs) from it so far, if larger (MobileNetV2, RegNet: see
         * SGD_LR in tools/torch_parity.py) */
        double e = fabs(got[s] - want[s]) / fabs(want[s]);
        double drift = fabs(torch32[s] - want[s]) / fabs(want[s]);
        if (has_spread) drift = fmax(drift, spread[s]);
        if (drift > max_drift) max_drift = drift;
        double tol = fmax(1e-3, 2.0 * max_drift);
        if (e > worst) worst = e;
        printf("parity %s: SGD step %d loss %.6f, PyTorch float64 %.6f (rel %.2e), PyTorch float32 drift / spread %.2e\n", name, s,
               got[s], want[s], e, drift);
        cr_assert_leq(e, tol, "%s SGD step %d: loss %.6f vs PyTorch %.6f (rel %.3g > %.3g)", name, s, got[s], want[s], e, tol);
    }
    printf("parity %s: 5 SGD losses %.5f %.5f %.5f %.5f %.5f, worst rel err %.2e\n", name, got[0], got[1], got[2],
           got[3], got[4], worst);
    fcl_optim_destroy(p.ctx, opt);
    free(rd);
    free(rn);
    teardown(&p);
}

