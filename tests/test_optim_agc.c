/* tests/test_optim_agc.c: adaptive gradient clipping (fcl_agc_*): OpenCL vs the double reference
 * on units shorter and longer than the reduction group, untouched gaps, determinism, NaN
 * gradients, argument errors. (PyTorch/timm values: tests/test_blocks_torch.c.) */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <facecl/model.h>
#include <facecl/net.h>
#include <facecl/optim.h>

#include "helpers/harness.h"
#include "ref/ref_optim.h"

/* Tensors (numel, units) laid out with a gap of 5 before each: unit lengths 1 (a [6, 1, 1, 1]
 * gain), 13 (a bias as one unit), 63 / 64 / 65 (around the group size 64), 1153 (a 3x3 conv row
 * of 128 inputs + 1). */
static const size_t shapes[][2] = {{6, 6}, {13, 1}, {4 * 63, 4}, {3 * 64, 3}, {2 * 65, 2}, {5 * 1153, 5}};
#define N_T (sizeof shapes / sizeof shapes[0])

static size_t layout(fcl_agc_tensor *ts)
{
    size_t off = 0;
    for (size_t i = 0; i < N_T; i++) {
        off += 5;
        ts[i] = (fcl_agc_tensor){off, shapes[i][0], shapes[i][1]};
        off += shapes[i][0];
    }
    return off + 5;
}

/* Gradients scaled per unit over 4 decades, so some units clip and some do not. */
static void fill(double *p, double *g, size_t total, const fcl_agc_tensor *ts)
{
    h_rand(p, total, 1, -0.3, 0.3);
    h_rand(g, total, 2, -1, 1);
    for (size_t i = 0; i < N_T; i++) {
        size_t len = ts[i].numel / ts[i].units;
        for (size_t u = 0; u < ts[i].units; u++)
            for (size_t k = 0; k < len; k++) g[ts[i].offset + u * len + k] *= pow(10.0, -4.0 + (double)((u + i) % 5));
    }
    h_to_f32(p, total);
    h_to_f32(g, total);
}

/* Every test's context, made in the test's own process (Criterion runs .init there). */
static fcl_ctx *ctx;
static void ctx_up(void) { ctx = h_ctx(); }
static void ctx_down(void) { h_ctx_free(ctx); }
TestSuite(agc, .init = ctx_up, .fini = ctx_down);

Test(agc, matches_reference)
{
    fcl_agc_tensor ts[N_T];
    size_t total = layout(ts);
    const double clips[][2] = {{0.01, 1e-3}, {0.1, 1e-3}, {0.02, 0.5}};
    for (size_t ci = 0; ci < 3; ci++) {
        h_case("agc clip %g eps %g over %zu tensors (%zu elements)", clips[ci][0], clips[ci][1], N_T, total);
        double *p = h_alloc(total), *g = h_alloc(total), *want = h_alloc(total), *got = h_alloc(total);
        double *got2 = h_alloc(total);
        fill(p, g, total, ts);
        memcpy(want, g, total * sizeof *g);
        fcl_ref_agc(want, p, ts, N_T, clips[ci][0], clips[ci][1]);
        size_t clipped = 0;
        for (size_t k = 0; k < total; k++) clipped += want[k] != g[k];
        cr_expect(clipped > 0 && clipped < total - 100, "the case must clip some units and keep others (%zu)",
                  clipped);
        fcl_agc *agc;
        H_OK(ctx, fcl_agc_create(ctx, &agc, total, ts, N_T, clips[ci][0], clips[ci][1]));
        cr_expect(fcl_agc_units(agc) == 6 + 1 + 4 + 3 + 2 + 5);
        for (int rep = 0; rep < 2; rep++) {
            h_buf bp = h_upload(ctx, p, 1, &total), bg = h_upload(ctx, g, 1, &total);
            h_name(&bg, "grads");
            H_OK(ctx, fcl_agc_apply(ctx, agc, &bp.t, &bg.t));
            h_download(ctx, &bg, rep ? got2 : got);
            h_check_guards(ctx, &bp);
            h_free(ctx, &bp), h_free(ctx, &bg);
        }
        h_expect_close("agc grads", got, want, total, H_TOL_FWD);
        cr_expect(memcmp(got, got2, total * sizeof *got) == 0, "two runs differ");
        for (size_t k = 0; k < 5; k++) cr_expect(got[k] == g[k], "gap element %zu changed", k);
        fcl_agc_destroy(ctx, agc);
        free(p), free(g), free(want), free(got), free(got2);
    }
}

/* A NaN gradient makes its unit's norm NaN: torch.where(norm < max_norm) is false, so the unit is
 * scaled (to NaN), as in timm; other units are unaffected. */
Test(agc, nan_gradient)
{
    h_case("agc with a NaN gradient");
    size_t n = 8;
    double p[8] = {1, 1, 1, 1, 1, 1, 1, 1}, g[8] = {NAN, 1, 1, 1, 1e-5, 1e-5, 1e-5, 1e-5}, got[8];
    fcl_agc_tensor t = {0, 8, 2};
    fcl_agc *agc;
    H_OK(ctx, fcl_agc_create(ctx, &agc, n, &t, 1, 0.01, 1e-3));
    h_buf bp = h_upload(ctx, p, 1, &n), bg = h_upload(ctx, g, 1, &n);
    H_OK(ctx, fcl_agc_apply(ctx, agc, &bp.t, &bg.t));
    h_download(ctx, &bg, got);
    for (int k = 0; k < 4; k++) cr_expect(isnan(got[k]), "unit 0 element %d: %g", k, got[k]);
    for (int k = 4; k < 8; k++) cr_expect(got[k] == (double)(float)1e-5, "unit 1 element %d: %g", k, got[k]);
    fcl_agc_destroy(ctx, agc);
    h_free(ctx, &bp), h_free(ctx, &bg);
}

Test(agc, errors)
{
    h_case("agc argument errors");
    fcl_agc *agc = NULL;
    fcl_agc_tensor bad_units = {0, 10, 3}, outside = {5, 10, 1}, a = {0, 6, 2}, b = {4, 4, 1};
    cr_expect(fcl_agc_create(ctx, &agc, 12, &bad_units, 1, 0.01, 1e-3) == FCL_ERR_INVALID_ARG);
    cr_expect(fcl_agc_create(ctx, &agc, 12, &outside, 1, 0.01, 1e-3) == FCL_ERR_INVALID_ARG, "outside the buffer");
    fcl_agc_tensor two[2] = {a, b};
    cr_expect(fcl_agc_create(ctx, &agc, 12, two, 2, 0.01, 1e-3) == FCL_ERR_INVALID_ARG, "overlapping tensors");
    cr_expect(strstr(fcl_ctx_errmsg(ctx), "fcl_agc_create") != NULL, "%s", fcl_ctx_errmsg(ctx));
    cr_expect(fcl_agc_create(ctx, &agc, 12, &a, 1, 0.0, 1e-3) == FCL_ERR_INVALID_ARG, "clip 0");
    cr_expect(fcl_agc_create(ctx, &agc, 12, &a, 1, 0.01, -1) == FCL_ERR_INVALID_ARG, "eps < 0");
    cr_expect(agc == NULL);
    H_OK(ctx, fcl_agc_create(ctx, &agc, 12, &a, 1, 0.01, 1e-3));
    size_t n12 = 12, n11 = 11;
    double z[12] = {0};
    h_buf p = h_upload(ctx, z, 1, &n12), g11 = h_upload(ctx, z, 1, &n11);
    cr_expect(fcl_agc_apply(ctx, agc, &p.t, &g11.t) == FCL_ERR_SHAPE, "grads of 11 for 12");
    cr_expect(fcl_agc_apply(ctx, agc, &p.t, &p.t) == FCL_ERR_INVALID_ARG, "params == grads");
    fcl_agc_destroy(ctx, agc);
    h_free(ctx, &p), h_free(ctx, &g11);
}

/* fcl_net_agc_create (what `facecl train --agc` uses): the units of every trainable tensor of
 * small.model but the classifier's, and the clipping on the whole flat buffers equals the
 * reference over that tensor list (the classifier's gradient and the buffers stay untouched). */
Test(agc, network)
{
    h_case("agc over small.model's parameters, classifier excluded");
    fcl_model_opts mo;
    fcl_model_opts_init(&mo);
    mo.channels = 1, mo.size = 32, mo.classes = 5, mo.embedding = 16;
    fcl_model *m = NULL;
    fcl_error e = {0};
    cr_assert_eq(fcl_model_load_file(FACECL_SOURCE_DIR "/models/small.model", &mo, &m, &e), FCL_OK, "%s", e.msg);
    fcl_net *net;
    fcl_net_opts no = {2, 0};
    H_OK(ctx, fcl_net_create(ctx, m, &no, &net));
    fcl_agc_tensor *ts = calloc((size_t)fcl_net_entry_count(net), sizeof *ts);
    size_t nt = 0, units = 0, head_numel = 0;
    for (int i = 0; i < fcl_net_entry_count(net); i++) {
        const fcl_net_entry *en = fcl_net_entry_at(net, i);
        if (en->where != 0 || !en->info->trainable) continue;
        if (en->layer == m->classifier_layer) {
            head_numel += (size_t)en->info->numel;
            continue;
        }
        size_t u = en->info->ndim >= 2 ? (size_t)en->info->shape[0] : 1;
        ts[nt++] = (fcl_agc_tensor){en->offset, (size_t)en->info->numel, u};
        units += u;
    }
    cr_assert(head_numel > 0 && nt > 4, "small.model: a classifier and some layers");
    fcl_agc *agc;
    H_OK(ctx, fcl_net_agc_create(ctx, net, 0.01, 1e-3, 1, &agc));
    cr_expect(fcl_agc_units(agc) == units, "units %zu, want %zu", fcl_agc_units(agc), units);
    size_t total = fcl_tensor_numel(fcl_net_params(net));
    double *p = h_alloc(total), *g = h_alloc(total), *want = h_alloc(total), *got = h_alloc(total);
    float *f = malloc(total * sizeof *f);
    cr_assert_not_null(f);
    H_OK(ctx, fcl_tensor_download(ctx, fcl_net_params(net), f, total));
    for (size_t k = 0; k < total; k++) p[k] = f[k];
    h_rand(g, total, 9, -1, 1);
    for (size_t k = 0; k < total; k++) g[k] *= (k / 7) % 3 ? 1e-4 : 1.0, f[k] = (float)g[k], g[k] = f[k];
    memcpy(want, g, total * sizeof *g);
    fcl_ref_agc(want, p, ts, nt, 0.01, 1e-3);
    H_OK(ctx, fcl_tensor_upload(ctx, fcl_net_grads(net), f, total));
    H_OK(ctx, fcl_agc_apply(ctx, agc, fcl_net_params(net), fcl_net_grads(net)));
    H_OK(ctx, fcl_tensor_download(ctx, fcl_net_grads(net), f, total));
    for (size_t k = 0; k < total; k++) got[k] = f[k];
    h_expect_close("agc over the network's grads", got, want, total, H_TOL_FWD);
    size_t changed = 0;
    for (size_t k = 0; k < total; k++) changed += got[k] != g[k];
    cr_expect(changed > 0, "nothing was clipped");
    fcl_agc_destroy(ctx, agc);
    fcl_net_destroy(net);
    fcl_model_free(m);
    free(ts), free(p), free(g), free(want), free(got), free(f);
}
