/* tests/test_tta.c: flip test-time augmentation: equals the sum of two direct forwards (image and mirror) normalised, is mirror-invariant, and reaches pair scores. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <facecl/facecl.h>

#include "helpers/small_net.h"

enum { S = 32, IDS = 2, PER = 5, N = IDS * PER };

/* The synthetic images, mirrored when user->mirror (a source of mirror images). */
typedef struct src_user {
    fcl_synth_source ss;
    int mirror;
} src_user;

static fcl_status get(void *user, size_t i, int channels, fcl_image *out, int *label, fcl_error *err)
{
    src_user *u = user;
    fcl_status st = fcl_synth_source_get(&u->ss, i, channels, out, label, err);
    if (st || !u->mirror) return st;
    float *tmp = malloc(sizeof(float) * (size_t)out->c * out->h * out->w);
    fcl_mirror_batch(out->data, tmp, 1, out->c, out->h, out->w);
    memcpy(out->data, tmp, sizeof(float) * (size_t)out->c * out->h * out->w);
    free(tmp);
    return FCL_OK;
}

static float *embed(fcl_ctx *ctx, fcl_net *net, const fcl_model *m, int mirror, int tta, int batch, size_t *dim)
{
    src_user u = {{IDS, PER, S, 1, 3, 1.0f}, mirror};
    fcl_loader_source src = {N, get, &u, NULL};
    fcl_eval_input in;
    fcl_eval_input_init(&in, m);
    cr_assert_eq(in.tta_flip, 0, "TTA is off by default");
    in.batch = batch;
    in.workers = 2;
    in.tta_flip = tta;
    float *e = NULL;
    cr_assert_eq(fcl_embed_source(ctx, net, &src, &in, NULL, NULL, &e, dim), FCL_OK, "%s", fcl_ctx_errmsg(ctx));
    return e;
}

/* Raw (unnormalised) embeddings of all N images by one direct forward. */
static float *direct(fcl_ctx *ctx, fcl_net *net, int mirror, size_t *dim)
{
    src_user u = {{IDS, PER, S, 1, 3, 1.0f}, mirror};
    float *x = malloc(sizeof(float) * N * S * S);
    for (int i = 0; i < N; i++) {
        fcl_image img = {0};
        fcl_error e = {0};
        int lab = -1;
        cr_assert_eq(get(&u, (size_t)i, 1, &img, &lab, &e), FCL_OK, "%s", e.msg);
        memcpy(x + (size_t)i * S * S, img.data, sizeof(float) * S * S);
        fcl_image_free(&img);
    }
    fcl_tensor t = {0};
    cr_assert_eq(fcl_tensor_alloc4(ctx, &t, N, 1, S, S), FCL_OK);
    cr_assert_eq(fcl_tensor_upload(ctx, &t, x, (size_t)N * S * S), FCL_OK);
    cr_assert_eq(fcl_net_forward(net, &t, 0), FCL_OK, "%s", fcl_ctx_errmsg(ctx));
    const fcl_tensor *y = fcl_net_embedding(net);
    size_t numel = fcl_tensor_numel(y);
    float *out = malloc(numel * sizeof *out);
    cr_assert_eq(fcl_tensor_download(ctx, y, out, numel), FCL_OK);
    fcl_tensor_release(ctx, &t);
    free(x);
    *dim = numel / N;
    return out;
}

Test(tta, mirror_batch_by_hand)
{
    /* 2 images x 2 channels x 2 rows x 3 columns. */
    float x[24], y[24];
    for (int i = 0; i < 24; i++) x[i] = (float)i;
    fcl_mirror_batch(x, y, 2, 2, 2, 3);
    for (int r = 0; r < 8; r++)
        for (int c = 0; c < 3; c++) cr_assert_eq(y[r * 3 + c], x[r * 3 + 2 - c]);
    float z[24];
    fcl_mirror_batch(y, z, 2, 2, 2, 3);
    cr_assert_eq(memcmp(x, z, sizeof x), 0, "mirroring twice is the identity");
}

Test(tta, flip_equals_host_sum_and_is_mirror_invariant, .timeout = 300)
{
    fcl_ctx *ctx = fcl_test_ctx(11);
    fcl_model *m = fcl_test_small_model(S, 3, 0);
    fcl_net *net = fcl_test_small_net(ctx, m, N, 5);
    size_t d1 = 0, d2 = 0, d3 = 0, d4 = 0, d5 = 0, d6 = 0;
    float *raw = direct(ctx, net, 0, &d1), *raw_m = direct(ctx, net, 1, &d2);
    float *tta = embed(ctx, net, m, 0, 1, 4, &d3);       /* batches 4 + 4 + 2 (padded) */
    float *tta_m = embed(ctx, net, m, 1, 1, 3, &d4);     /* the mirror images, other batching */
    float *plain = embed(ctx, net, m, 0, 0, 4, &d5);
    float *plain_m = embed(ctx, net, m, 1, 0, 4, &d6);
    cr_assert(d1 == d2 && d1 == d3 && d1 == d4 && d1 == d5 && d1 == d6 && d1 == (size_t)m->embedding_dim);
    const size_t D = d1;
    double max_diff_plain = 0;
    for (int i = 0; i < N; i++) {
        /* The straightforward host computation: normalise(f(x) + f(mirror x)). */
        double s = 0;
        for (size_t j = 0; j < D; j++) {
            double v = (double)raw[i * D + j] + raw_m[i * D + j];
            s += v * v;
        }
        cr_assert_gt(s, 0.0);
        for (size_t j = 0; j < D; j++) {
            double want = ((double)raw[i * D + j] + raw_m[i * D + j]) / sqrt(s);
            cr_assert(fabs(tta[i * D + j] - want) < 1e-5, "image %d dim %zu: %g vs %g", i, j, tta[i * D + j], want);
            /* An image and its mirror have the same flip-TTA embedding. */
            cr_assert(fabs(tta[i * D + j] - tta_m[i * D + j]) < 1e-5, "image %d dim %zu: %g vs mirror %g", i, j,
                      tta[i * D + j], tta_m[i * D + j]);
            double d = fabs(plain[i * D + j] - plain_m[i * D + j]);
            if (d > max_diff_plain) max_diff_plain = d;
        }
    }
    /* Without TTA an image and its mirror differ (the synthetic faces are not symmetric), so
     * the invariance above is TTA's doing. */
    cr_assert_gt(max_diff_plain, 1e-3);
    free(raw), free(raw_m), free(tta), free(tta_m), free(plain), free(plain_m);
    fcl_net_destroy(net);
    fcl_model_free(m);
    fcl_ctx_destroy(ctx);
}

Test(tta, logits_are_not_augmented, .timeout = 300)
{
    fcl_ctx *ctx = fcl_test_ctx(11);
    fcl_model *m = fcl_test_small_model(S, 3, 0);
    fcl_net *net = fcl_test_small_net(ctx, m, N, 5);
    src_user u = {{IDS, PER, S, 1, 3, 1.0f}, 0};
    fcl_loader_source src = {N, get, &u, NULL};
    fcl_eval_input in;
    fcl_eval_input_init(&in, m);
    in.batch = 5;
    float *a = NULL, *b = NULL;
    size_t ca = 0, cb = 0;
    cr_assert_eq(fcl_predict_source(ctx, net, &src, &in, NULL, NULL, &a, &ca), FCL_OK, "%s", fcl_ctx_errmsg(ctx));
    in.tta_flip = 1;
    cr_assert_eq(fcl_predict_source(ctx, net, &src, &in, NULL, NULL, &b, &cb), FCL_OK, "%s", fcl_ctx_errmsg(ctx));
    cr_assert_eq(ca, cb);
    cr_assert_eq(memcmp(a, b, N * ca * sizeof *a), 0);
    free(a), free(b);
    fcl_net_destroy(net);
    fcl_model_free(m);
    fcl_ctx_destroy(ctx);
}
