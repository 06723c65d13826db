/* tests/test_net_layers.c: issue 12's layer kinds in the network engine (drop path, conv stored as a Linear). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <facecl/facecl.h>

#include "helpers/small_net.h"
#include <facecl/model.h>

static fcl_model *parse(const char *text, int channels, int size)
{
    fcl_model_opts mo;
    fcl_model_opts_init(&mo);
    mo.channels = channels;
    mo.size = size;
    mo.classes = 0;
    return fcl_test_parse_model(text, "test.model", &mo);
}

/* torchvision StochasticDepth(p, "row"): in training each image is zeroed or scaled by 1/(1-p)
 * as a whole, the backward applies the same per-image factor; at inference it is the identity. */
Test(net_layers, drop_path_drops_whole_images, .timeout = 120)
{
    enum { N = 64, C = 3, S = 5 };
    fcl_ctx *ctx = fcl_test_ctx(7);
    fcl_model *m = parse("drop_path p=0.25\nflatten\nembedding\nclassifier fc\n", C, S);
    cr_assert_eq(m->layers[0].kind, FCL_LAYER_DROP_PATH);
    cr_assert_float_eq(m->layers[0].ext.p, 0.25f, 1e-7);
    fcl_net_opts no = {N, 0};
    fcl_net *net = NULL;
    cr_assert_eq(fcl_net_create(ctx, m, &no, &net), FCL_OK, "%s", fcl_ctx_errmsg(ctx));
    size_t per = C * S * S, total = N * per;
    float *x = malloc(total * sizeof *x), *y = malloc(total * sizeof *y), *g = malloc(total * sizeof *g);
    for (size_t i = 0; i < total; i++) x[i] = (float)(i % 97) * 0.01f - 0.3f;
    fcl_tensor xt = {0}, dy = {0};
    cr_assert_eq(fcl_tensor_alloc4(ctx, &xt, N, C, S, S), FCL_OK);
    cr_assert_eq(fcl_tensor_upload(ctx, &xt, x, total), FCL_OK);
    cr_assert_eq(fcl_tensor_alloc4(ctx, &dy, N, per, 1, 1), FCL_OK);

    /* inference: identity */
    cr_assert_eq(fcl_net_forward(net, &xt, 0), FCL_OK, "%s", fcl_ctx_errmsg(ctx));
    cr_assert_eq(fcl_tensor_download(ctx, fcl_net_output(net), y, total), FCL_OK);
    for (size_t i = 0; i < total; i++) cr_assert_eq(y[i], x[i]);

    /* training: per image all zero or all x / 0.75; the input gradient of sum(y * 1) is that
     * image's factor everywhere */
    fcl_net_want_input_grad(net, 1);
    cr_assert_eq(fcl_net_forward(net, &xt, 1), FCL_OK, "%s", fcl_ctx_errmsg(ctx));
    cr_assert_eq(fcl_tensor_download(ctx, fcl_net_output(net), y, total), FCL_OK);
    cr_assert_eq(fcl_tensor_fill(ctx, &dy, 1.0f), FCL_OK);
    cr_assert_eq(fcl_net_backward(net, &dy, NULL), FCL_OK, "%s", fcl_ctx_errmsg(ctx));
    cr_assert_not_null(fcl_net_input_grad(net));
    cr_assert_eq(fcl_tensor_download(ctx, fcl_net_input_grad(net), g, total), FCL_OK);
    int kept = 0;
    for (int n = 0; n < N; n++) {
        float f = g[n * per];
        cr_assert(f == 0.0f || fabsf(f - 1.0f / 0.75f) < 1e-6f, "image %d: factor %g", n, (double)f);
        kept += f != 0.0f;
        for (size_t k = 0; k < per; k++) {
            cr_assert_eq(g[n * per + k], f, "image %d element %zu", n, k);
            cr_assert_float_eq(y[n * per + k], x[n * per + k] * f, 1e-6, "image %d element %zu", n, k);
        }
    }
    /* 64 draws with keep probability 0.75: 48 expected; 30..62 holds with overwhelming odds */
    cr_assert(kept >= 30 && kept <= 62, "kept %d of %d", kept, N);
    cr_assert(kept < N, "no image dropped");

    free(x);
    free(y);
    free(g);
    fcl_tensor_release(ctx, &xt);
    fcl_tensor_release(ctx, &dy);
    fcl_net_destroy(net);
    fcl_model_free(m);
    fcl_ctx_destroy(ctx);
}

/* conv linear_shape=1 (ConvNeXt's channels-last nn.Linear): the weight is [out, in] in the
 * state_dict and computes exactly what the same numbers as a [out, in, 1, 1] conv compute. */
Test(net_layers, conv_with_linear_shape_is_a_1x1_conv, .timeout = 120)
{
    enum { N = 2, C = 5, S = 3, O = 7 };
    fcl_ctx *ctx = fcl_test_ctx(3);
    fcl_model *a = parse("conv pw out=7 k=1 linear_shape=1\nflatten\nembedding\nclassifier fc\n", C, S);
    fcl_model *b = parse("conv pw out=7 k=1\nflatten\nembedding\nclassifier fc\n", C, S);
    const fcl_param_info *wa = fcl_model_find_param(a, "pw.weight", NULL), *wb = fcl_model_find_param(b, "pw.weight", NULL);
    cr_assert_eq(wa->ndim, 2);
    cr_assert_eq(wa->shape[0], O);
    cr_assert_eq(wa->shape[1], C);
    cr_assert_eq(wb->ndim, 4);
    cr_assert_eq(a->n_trainable, b->n_trainable);
    fcl_net_opts no = {N, 0};
    fcl_net *na = NULL, *nb = NULL;
    cr_assert_eq(fcl_net_create(ctx, a, &no, &na), FCL_OK, "%s", fcl_ctx_errmsg(ctx));
    cr_assert_eq(fcl_net_create(ctx, b, &no, &nb), FCL_OK, "%s", fcl_ctx_errmsg(ctx));
    float w[O * C + O], x[N * C * S * S], ya[N * O * S * S], yb[N * O * S * S];
    for (int i = 0; i < O * C + O; i++) w[i] = (float)((i * 37) % 11) * 0.1f - 0.5f;
    for (int i = 0; i < N * C * S * S; i++) x[i] = (float)((i * 13) % 7) * 0.2f - 0.6f;
    for (int e = 0; e < 2; e++) { /* weight, bias */
        cr_assert_eq(fcl_net_entry_set(na, e, w + (e ? O * C : 0)), FCL_OK);
        cr_assert_eq(fcl_net_entry_set(nb, e, w + (e ? O * C : 0)), FCL_OK);
    }
    fcl_tensor xt = {0};
    cr_assert_eq(fcl_tensor_alloc4(ctx, &xt, N, C, S, S), FCL_OK);
    cr_assert_eq(fcl_tensor_upload(ctx, &xt, x, N * C * S * S), FCL_OK);
    cr_assert_eq(fcl_net_forward(na, &xt, 0), FCL_OK, "%s", fcl_ctx_errmsg(ctx));
    cr_assert_eq(fcl_tensor_download(ctx, fcl_net_output(na), ya, N * O * S * S), FCL_OK);
    cr_assert_eq(fcl_net_forward(nb, &xt, 0), FCL_OK, "%s", fcl_ctx_errmsg(ctx));
    cr_assert_eq(fcl_tensor_download(ctx, fcl_net_output(nb), yb, N * O * S * S), FCL_OK);
    for (int i = 0; i < N * O * S * S; i++) cr_assert_eq(ya[i], yb[i], "element %d", i);
    /* a non-1x1 conv cannot be a Linear */
    fcl_model_opts mo;
    fcl_model_opts_init(&mo);
    fcl_model *bad = NULL;
    fcl_error e = {0};
    cr_assert_eq(fcl_model_parse("conv pw out=7 k=3 linear_shape=1\nflatten\nembedding\nclassifier fc\n", "bad.model",
                                 &mo, &bad, &e), FCL_ERR_FORMAT);
    cr_assert_not_null(strstr(e.msg, "linear_shape=1 needs a 1x1 conv"), "%s", e.msg);
    fcl_tensor_release(ctx, &xt);
    fcl_net_destroy(na);
    fcl_net_destroy(nb);
    fcl_model_free(a);
    fcl_model_free(b);
    fcl_ctx_destroy(ctx);
}
