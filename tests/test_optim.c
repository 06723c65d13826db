/* tests/test_optim.c: SGD, AdamW and gradient clipping: OpenCL vs the double reference, vs PyTorch (fixture), state resume, errors. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <facecl/facecl.h>
#include "helpers/harness.h"
#include "ref/ref_optim.h"

#include "optim_fixture.h"

/* ---- helpers ------------------------------------------------------------------------------------ */

/* A random test layout: groups of ranges over a flat buffer, with gaps that no group owns. */
typedef struct layout {
    size_t numel;
    size_t n_groups;
    fcl_param_range ranges[4][6];
    fcl_param_group groups[4];
} layout;

/* Ranges listed out of order, odd lengths, one longer than a chunk (several work-groups). */
static void make_layout(layout *L, fcl_optim_kind kind)
{
    memset(L, 0, sizeof *L);
    L->numel = 21011;
    /* (offset, count) per group; count 0 ends a list. Gaps: 0-2, 4, 36-39, 53-99, 8999,
     * 9017-9029, 9037-9099. Group 1's ranges are longer than one chunk (8192 on PoCL). */
    static const size_t spec[3][4][2] = {
        {{9000, 17}, {3, 1}, {40, 13}, {0, 0}},
        {{100, 8899}, {9100, 10900}, {0, 0}, {0, 0}},
        {{20000, 1011}, {9030, 7}, {5, 31}, {0, 0}},
    };
    L->n_groups = 3;
    for (size_t g = 0; g < 3; g++) {
        size_t n = 0;
        while (spec[g][n][1]) {
            L->ranges[g][n] = (fcl_param_range){spec[g][n][0], spec[g][n][1]};
            n++;
        }
        L->groups[g].ranges = L->ranges[g];
        L->groups[g].n_ranges = n;
    }
    if (kind == FCL_OPTIM_SGD) {
        L->groups[0].hp = fcl_sgd_defaults(0.1);
        L->groups[0].hp.momentum = 0.9;
        L->groups[0].hp.nesterov = 1;
        L->groups[0].hp.weight_decay = 5e-4;
        L->groups[1].hp = fcl_sgd_defaults(0.05);
        L->groups[1].hp.momentum = 0.8;
        L->groups[1].hp.dampening = 0.1;
        L->groups[2].hp = fcl_sgd_defaults(0.2);   /* no momentum */
        L->groups[2].hp.weight_decay = 1e-3;
    } else {
        L->groups[0].hp = fcl_adamw_defaults(1e-2);
        L->groups[0].hp.weight_decay = 0.05;
        L->groups[1].hp = fcl_adamw_defaults(3e-3);
        L->groups[1].hp.weight_decay = 0.0;
        L->groups[1].hp.beta1 = 0.8;
        L->groups[1].hp.beta2 = 0.99;
        L->groups[2].hp = fcl_adamw_defaults(1e-3);
        L->groups[2].hp.eps = 1e-6;
    }
}

/* The reference step of a whole layout (per group, per range). */
static void ref_step(const layout *L, fcl_optim_kind kind, double *p, double *s0, double *s1,
                     const double *g, int64_t step, const int *first)
{
    for (size_t k = 0; k < L->n_groups; k++)
        for (size_t r = 0; r < L->groups[k].n_ranges; r++) {
            size_t o = L->groups[k].ranges[r].offset, n = L->groups[k].ranges[r].count;
            if (kind == FCL_OPTIM_SGD)
                fcl_ref_sgd_step(p + o, s0 + o, g + o, n, &L->groups[k].hp, first[k]);
            else
                fcl_ref_adamw_step(p + o, s0 + o, s1 + o, g + o, n, &L->groups[k].hp, step);
        }
}

static int owned(const layout *L, size_t i)
{
    for (size_t k = 0; k < L->n_groups; k++)
        for (size_t r = 0; r < L->groups[k].n_ranges; r++)
            if (i >= L->groups[k].ranges[r].offset &&
                i < L->groups[k].ranges[r].offset + L->groups[k].ranges[r].count)
                return 1;
    return 0;
}

/* Runs `steps` steps on the device and the reference with fresh random gradients each step
 * (grads re-uploaded), comparing parameters and state after every step. */
static void run_vs_ref(fcl_optim_kind kind, int steps)
{
    fcl_ctx *ctx = h_ctx();
    layout L;
    make_layout(&L, kind);
    size_t n = L.numel, shape[1] = {n};
    double *p = h_alloc(n), *g = h_alloc(n), *s0 = h_alloc(n), *s1 = h_alloc(n), *got = h_alloc(n);
    double *p_init = NULL;
    h_rand(p, n, 11, -1.0, 1.0);
    p_init = h_dup(p, n);
    h_buf P = h_upload(ctx, p, 1, shape);
    h_name(&P, "params");
    fcl_optim *o = NULL;
    H_OK(ctx, fcl_optim_create(ctx, &o, kind, n, L.groups, L.n_groups));
    cr_assert_eq(fcl_optim_state_count(o), kind == FCL_OPTIM_SGD ? 1u : 2u);
    int first[4] = {1, 1, 1, 1};
    for (int s = 1; s <= steps; s++) {
        h_rand(g, n, 100 + (uint64_t)s, -0.5, 0.5);
        h_buf G = h_upload(ctx, g, 1, shape);
        h_name(&G, "grads");
        if (kind == FCL_OPTIM_ADAMW && s == 3) {   /* a schedule changing lr mid-run */
            H_OK(ctx, fcl_optim_set_lr(ctx, o, 1, 7e-3));
            L.groups[1].hp.lr = 7e-3;
        }
        H_OK(ctx, fcl_optim_step(ctx, o, &P.t, &G.t));
        ref_step(&L, kind, p, s0, s1, g, s, first);
        for (int k = 0; k < 4; k++) first[k] = 0;
        h_download(ctx, &P, got);
        char what[64];
        snprintf(what, sizeof what, "%s step %d params", kind == FCL_OPTIM_SGD ? "sgd" : "adamw", s);
        h_expect_close(what, got, p, n, 1e-5);
        h_check_guards(ctx, &G);
        h_free(ctx, &G);
    }
    /* state buffers against the reference state */
    for (size_t i = 0; i < fcl_optim_state_count(o); i++) {
        const char *name;
        fcl_tensor *t = fcl_optim_state(o, i, &name);
        float *tmp = malloc(n * sizeof(float));
        H_OK(ctx, fcl_tensor_download(ctx, t, tmp, n));
        for (size_t j = 0; j < n; j++) got[j] = tmp[j];
        free(tmp);
        h_expect_close(name, got, i == 0 ? s0 : s1, n, 1e-5);
    }
    /* elements in no range are untouched, bit for bit */
    size_t untouched = 0;
    h_download(ctx, &P, got);
    for (size_t j = 0; j < n; j++)
        if (!owned(&L, j)) {
            cr_expect_eq((float)got[j], (float)p_init[j], "element %zu outside every range changed", j);
            untouched++;
        }
    cr_expect(untouched > 0, "the layout should leave gaps");
    int64_t sc[8];
    fcl_optim_get_scalars(o, sc);
    cr_expect_eq(sc[0], steps);
    h_case("%s: %zu elements, 3 groups, %d steps", kind == FCL_OPTIM_SGD ? "sgd" : "adamw", n, steps);
    fcl_optim_destroy(ctx, o);
    h_free(ctx, &P);
    free(p);
    free(g);
    free(s0);
    free(s1);
    free(got);
    free(p_init);
    h_ctx_free(ctx);
}

Test(optim, sgd_matches_reference) { run_vs_ref(FCL_OPTIM_SGD, 4); }
Test(optim, adamw_matches_reference) { run_vs_ref(FCL_OPTIM_ADAMW, 5); }

/* ---- PyTorch fixture -------------------------------------------------------------------------- */

static void torch_case(const char *name, fcl_optim_kind kind)
{
    fx_file fx = fx_load();
    size_t n = (size_t)fx_get(&fx, "optim.n", 1)[0];
    const double *gr = fx_get(&fx, "optim.groups", 4);
    const double *p0 = fx_get(&fx, "optim.p0", n);
    const double *grads = fx_get(&fx, "optim.grads", 5 * n);
    char key[64];
    snprintf(key, sizeof key, "%s.hp", name);
    const double *hp = fx_get(&fx, key, 7);
    snprintf(key, sizeof key, "%s.p", name);
    const double *want = fx_get(&fx, key, 5 * n);

    fcl_ctx *ctx = h_ctx();
    fcl_param_range r[2] = {{(size_t)gr[0], (size_t)gr[1]}, {(size_t)gr[2], (size_t)gr[3]}};
    fcl_param_group groups[2];
    for (int k = 0; k < 2; k++) {
        fcl_optim_hparams h;
        if (kind == FCL_OPTIM_SGD) {
            h = fcl_sgd_defaults(hp[2 * k]);
            h.momentum = hp[4];
            h.dampening = hp[5];
            h.nesterov = hp[6] != 0.0;
        } else {
            h = fcl_adamw_defaults(hp[2 * k]);
            h.beta1 = hp[4];
            h.beta2 = hp[5];
            h.eps = hp[6];
        }
        h.weight_decay = hp[2 * k + 1];
        groups[k] = (fcl_param_group){h, &r[k], 1};
    }
    size_t shape[1] = {n};
    h_buf P = h_upload(ctx, p0, 1, shape);
    fcl_optim *o = NULL;
    H_OK(ctx, fcl_optim_create(ctx, &o, kind, n, groups, 2));
    double *got = h_alloc(n);
    for (int s = 0; s < 5; s++) {
        h_buf G = h_upload(ctx, grads + (size_t)s * n, 1, shape);
        H_OK(ctx, fcl_optim_step(ctx, o, &P.t, &G.t));
        h_free(ctx, &G);
        h_download(ctx, &P, got);
        char what[64];
        snprintf(what, sizeof what, "torch %s step %d", name, s + 1);
        h_expect_close(what, got, want + (size_t)s * n, n, 1e-5);
    }
    h_case("torch fixture %s: %zu params, 2 groups, 5 steps", name, n);
    free(got);
    fcl_optim_destroy(ctx, o);
    h_free(ctx, &P);
    h_ctx_free(ctx);
    fx_free(&fx);
}

Test(optim, torch_sgd_momentum) { torch_case("sgd", FCL_OPTIM_SGD); }
Test(optim, torch_sgd_nesterov) { torch_case("sgd_nesterov", FCL_OPTIM_SGD); }
Test(optim, torch_adamw) { torch_case("adamw", FCL_OPTIM_ADAMW); }

/* ---- clipping ----------------------------------------------------------------------------------- */

/* got (the gradient after the call) holds g's values bit for bit as floats (`what`: which case). */
static void expect_same_floats(const double *got, const double *g, size_t n, const char *what)
{
    for (size_t i = 0; i < n; i++)
        if ((float)got[i] != (float)g[i]) {
            cr_expect_fail("n=%zu: %s changed gradient %zu", n, what, i);
            break;
        }
}

Test(optim, clip_matches_reference)
{
    fcl_ctx *ctx = h_ctx();
    static const size_t sizes[] = {1, 7, 4097, 100003, 2000003};
    for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
        size_t n = sizes[si], shape[1] = {n};
        double *g = h_alloc(n), *got = h_alloc(n);
        h_rand(g, n, 7 + si, -1.0, 1.0);
        double ss = 0;
        for (size_t i = 0; i < n; i++) ss += g[i] * g[i];
        /* one size clipped hard, one barely, one not at all */
        double max_norms[3] = {0.25 * sqrt(ss), 0.999 * sqrt(ss), 2.0 * sqrt(ss) + 1.0};
        for (int m = 0; m < 3; m++) {
            double *want = h_dup(g, n);
            double want_norm = fcl_ref_clip_grad_norm(want, n, max_norms[m]);
            h_buf G = h_upload(ctx, g, 1, shape);
            double norm = -1;
            H_OK(ctx, fcl_clip_grad_norm(ctx, &G.t, max_norms[m], &norm));
            h_download(ctx, &G, got);
            cr_expect(fabs(norm - want_norm) <= 1e-5 * want_norm, "n=%zu: norm %.9g, want %.9g", n, norm,
                      want_norm);
            char what[64];
            snprintf(what, sizeof what, "clip n=%zu max_norm %.4g", n, max_norms[m]);
            h_expect_close(what, got, want, n, 1e-5);
            if (m == 2) expect_same_floats(got, g, n, "unclipped"); /* not clipped: bit-identical (as floats) */
            h_free(ctx, &G);
            free(want);
            h_case("clip n=%zu max_norm=%.4g", n, max_norms[m]);
        }
        /* INFINITY only measures; NULL norm does not wait */
        h_buf G = h_upload(ctx, g, 1, shape);
        double norm = -1;
        H_OK(ctx, fcl_clip_grad_norm(ctx, &G.t, INFINITY, &norm));
        cr_expect(fabs(norm - sqrt(ss)) <= 1e-5 * sqrt(ss));
        H_OK(ctx, fcl_clip_grad_norm(ctx, &G.t, 1e30, NULL));
        h_download(ctx, &G, got);
        expect_same_floats(got, g, n, "measuring");
        h_free(ctx, &G);
        free(g);
        free(got);
    }
    h_ctx_free(ctx);
}

Test(optim, clip_torch_fixture)
{
    fx_file fx = fx_load();
    fcl_ctx *ctx = h_ctx();
    size_t n = (size_t)fx_get(&fx, "optim.n", 1)[0], shape[1] = {n};
    const char *names[2] = {"clip", "clip2"};
    double *got = h_alloc(n);
    for (int c = 0; c < 2; c++) {
        char k[4][32];
        snprintf(k[0], 32, "%s.g", names[c]);
        snprintf(k[1], 32, "%s.cfg", names[c]);
        snprintf(k[2], 32, "%s.norm", names[c]);
        snprintf(k[3], 32, "%s.out", names[c]);
        h_buf G = h_upload(ctx, fx_get(&fx, k[0], n), 1, shape);
        double norm;
        H_OK(ctx, fcl_clip_grad_norm(ctx, &G.t, fx_get(&fx, k[1], 1)[0], &norm));
        double want = fx_get(&fx, k[2], 1)[0];
        printf("  torch %s: norm %.9g (torch %.9g, rel err %.2e)\n", names[c], norm, want,
               fabs(norm - want) / want);
        cr_expect(fabs(norm - want) <= 1e-5 * want, "%s: norm %.9g, torch %.9g", names[c], norm, want);
        h_download(ctx, &G, got);
        h_expect_close(names[c], got, fx_get(&fx, k[3], n), n, 1e-5);
        h_free(ctx, &G);
        h_case("torch clip_grad_norm_ fixture %s", names[c]);
    }
    free(got);
    h_ctx_free(ctx);
    fx_free(&fx);
}

Test(optim, clip_is_deterministic)
{
    fcl_ctx *ctx = h_ctx();
    size_t n = 300007, shape[1] = {n};
    double *g = h_alloc(n);
    h_rand(g, n, 99, -3.0, 3.0);
    double norms[3];
    float *out[3];
    for (int r = 0; r < 3; r++) {
        h_buf G = h_upload(ctx, g, 1, shape);
        H_OK(ctx, fcl_clip_grad_norm(ctx, &G.t, 1.0, &norms[r]));
        out[r] = malloc(n * sizeof(float));
        H_OK(ctx, fcl_tensor_download(ctx, &G.t, out[r], n));
        h_free(ctx, &G);
    }
    for (int r = 1; r < 3; r++) {
        cr_expect_eq(norms[r], norms[0], "run %d: norm %.17g != %.17g", r, norms[r], norms[0]);
        cr_expect(!memcmp(out[r], out[0], n * sizeof(float)), "run %d: clipped gradients differ", r);
    }
    for (int r = 0; r < 3; r++) free(out[r]);
    free(g);
    h_case("clip determinism n=%zu x3", n);
    h_ctx_free(ctx);
}

/* ---- state resume, zero_grad, errors ------------------------------------------------------------ */

/* 3 steps, state saved to host, a fresh optimizer restored from it, 2 more steps: bit-identical
 * to 5 uninterrupted steps. */
static void resume_case(fcl_optim_kind kind)
{
    fcl_ctx *ctx = h_ctx();
    layout L;
    make_layout(&L, kind);
    size_t n = L.numel, shape[1] = {n};
    double *p = h_alloc(n), *g = h_alloc(5 * n);
    h_rand(p, n, 5, -1, 1);
    h_rand(g, 5 * n, 6, -1, 1);
    float *final[2];
    for (int mode = 0; mode < 2; mode++) {
        h_buf P = h_upload(ctx, p, 1, shape);
        fcl_optim *o = NULL;
        H_OK(ctx, fcl_optim_create(ctx, &o, kind, n, L.groups, L.n_groups));
        for (int s = 0; s < 5; s++) {
            if (mode == 1 && s == 3) {
                /* save, destroy, recreate, restore */
                size_t ns = fcl_optim_state_count(o), nsc = fcl_optim_scalar_count(o);
                float *st[2];
                int64_t sc[8];
                fcl_optim_get_scalars(o, sc);
                for (size_t i = 0; i < ns; i++) {
                    st[i] = malloc(n * sizeof(float));
                    H_OK(ctx, fcl_tensor_download(ctx, fcl_optim_state(o, i, NULL), st[i], n));
                }
                fcl_optim_destroy(ctx, o);
                H_OK(ctx, fcl_optim_create(ctx, &o, kind, n, L.groups, L.n_groups));
                for (size_t i = 0; i < ns; i++) {
                    H_OK(ctx, fcl_tensor_upload(ctx, fcl_optim_state(o, i, NULL), st[i], n));
                    free(st[i]);
                }
                H_OK(ctx, fcl_optim_set_scalars(ctx, o, sc, nsc));
            }
            h_buf G = h_upload(ctx, g + (size_t)s * n, 1, shape);
            H_OK(ctx, fcl_optim_step(ctx, o, &P.t, &G.t));
            h_free(ctx, &G);
        }
        final[mode] = malloc(n * sizeof(float));
        H_OK(ctx, fcl_tensor_download(ctx, &P.t, final[mode], n));
        fcl_optim_destroy(ctx, o);
        h_free(ctx, &P);
    }
    cr_expect(!memcmp(final[0], final[1], n * sizeof(float)),
              "resumed run differs from the uninterrupted one");
    h_case("%s resume after 3 of 5 steps", kind == FCL_OPTIM_SGD ? "sgd" : "adamw");
    free(final[0]);
    free(final[1]);
    free(p);
    free(g);
    h_ctx_free(ctx);
}

Test(optim, sgd_resume_is_exact) { resume_case(FCL_OPTIM_SGD); }
Test(optim, adamw_resume_is_exact) { resume_case(FCL_OPTIM_ADAMW); }

Test(optim, zero_grad)
{
    fcl_ctx *ctx = h_ctx();
    size_t shape[1] = {1001};
    double *g = h_alloc(1001), *got = h_alloc(1001);
    h_rand(g, 1001, 3, 1, 2);
    h_buf G = h_upload(ctx, g, 1, shape);
    H_OK(ctx, fcl_optim_zero_grad(ctx, &G.t));
    h_download(ctx, &G, got);
    for (size_t i = 0; i < 1001; i++) cr_expect_eq(got[i], 0.0);
    h_free(ctx, &G);
    free(g);
    free(got);
    h_ctx_free(ctx);
}

/* Expects st to be an error whose message contains `needle`. */
static void expect_err(fcl_ctx *ctx, fcl_status st, fcl_status want, const char *needle)
{
    cr_expect_eq(st, want, "expected %s, got %s (%s)", fcl_status_name(want), fcl_status_name(st),
                 fcl_ctx_errmsg(ctx));
    cr_expect(strstr(fcl_ctx_errmsg(ctx), needle) != NULL, "message \"%s\" lacks \"%s\"",
              fcl_ctx_errmsg(ctx), needle);
    printf("  error as expected: %s\n", fcl_ctx_errmsg(ctx));
}

Test(optim, bad_arguments)
{
    fcl_ctx *ctx = h_ctx();
    fcl_optim *o = NULL;
    fcl_param_range r[2] = {{0, 10}, {5, 10}};
    fcl_param_group g = {fcl_sgd_defaults(0.1), r, 2};
    expect_err(ctx, fcl_optim_create(ctx, &o, FCL_OPTIM_SGD, 100, &g, 1), FCL_ERR_INVALID_ARG,
               "overlaps");
    cr_expect_null(o);
    r[1] = (fcl_param_range){95, 10};
    expect_err(ctx, fcl_optim_create(ctx, &o, FCL_OPTIM_SGD, 100, &g, 1), FCL_ERR_INVALID_ARG,
               "outside");
    r[1] = (fcl_param_range){50, 0};
    expect_err(ctx, fcl_optim_create(ctx, &o, FCL_OPTIM_SGD, 100, &g, 1), FCL_ERR_INVALID_ARG, "empty");
    r[1] = (fcl_param_range){50, 10};
    g.hp.nesterov = 1;
    expect_err(ctx, fcl_optim_create(ctx, &o, FCL_OPTIM_SGD, 100, &g, 1), FCL_ERR_INVALID_ARG,
               "Nesterov");
    g.hp = fcl_adamw_defaults(1e-3);
    g.hp.beta2 = 1.0;
    expect_err(ctx, fcl_optim_create(ctx, &o, FCL_OPTIM_ADAMW, 100, &g, 1), FCL_ERR_INVALID_ARG,
               "betas");
    g.hp = fcl_sgd_defaults(-1.0);
    expect_err(ctx, fcl_optim_create(ctx, &o, FCL_OPTIM_SGD, 100, &g, 1), FCL_ERR_INVALID_ARG,
               "learning rate");

    /* a valid optimizer, then bad steps */
    g.hp = fcl_sgd_defaults(0.1);
    H_OK(ctx, fcl_optim_create(ctx, &o, FCL_OPTIM_SGD, 100, &g, 1));
    cr_expect_eq(fcl_optim_state_count(o), 0u, "no momentum: no buffer");
    size_t s100[1] = {100}, s99[1] = {99};
    fcl_tensor p, gr, small;
    H_OK(ctx, fcl_tensor_alloc(ctx, &p, 1, s100, FCL_F32));
    H_OK(ctx, fcl_tensor_alloc(ctx, &gr, 1, s100, FCL_F32));
    H_OK(ctx, fcl_tensor_alloc(ctx, &small, 1, s99, FCL_F32));
    expect_err(ctx, fcl_optim_step(ctx, o, &p, &small), FCL_ERR_SHAPE, "grads");
    expect_err(ctx, fcl_optim_step(ctx, o, &p, &p), FCL_ERR_INVALID_ARG, "overlap");
    fcl_optim_hparams_of(o, 0)->momentum = 0.9;
    expect_err(ctx, fcl_optim_step(ctx, o, &p, &gr), FCL_ERR_INVALID_ARG, "without momentum");
    fcl_optim_hparams_of(o, 0)->momentum = 0.0;
    expect_err(ctx, fcl_optim_set_lr(ctx, o, 3, 0.1), FCL_ERR_INVALID_ARG, "group");
    int64_t bad[2] = {-1, 0};
    expect_err(ctx, fcl_optim_set_scalars(ctx, o, bad, 2), FCL_ERR_INVALID_ARG, "step");
    expect_err(ctx, fcl_optim_set_scalars(ctx, o, bad, 3), FCL_ERR_SHAPE, "values");
    expect_err(ctx, fcl_clip_grad_norm(ctx, &gr, -1.0, NULL), FCL_ERR_INVALID_ARG, "max_norm");
    H_OK(ctx, fcl_tensor_fill(ctx, &gr, 1.0f));
    H_OK(ctx, fcl_tensor_fill(ctx, &p, 0.0f));
    H_OK(ctx, fcl_optim_step(ctx, o, &p, &gr));   /* still usable after the errors */
    fcl_tensor_release(ctx, &p);
    fcl_tensor_release(ctx, &gr);
    fcl_tensor_release(ctx, &small);
    fcl_optim_destroy(ctx, o);
    h_ctx_free(ctx);
}
