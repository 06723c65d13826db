/* tests/helpers/small_net.c: the tests' usual context, small model, network and checkpoint. */
#include "helpers/small_net.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>

static fcl_ctx *make_ctx(uint64_t seed, const char *cache_dir)
{
    fcl_ctx_opts o = {0};
    o.device = getenv("FACECL_TEST_DEVICE");
    o.seed = seed;
    o.cache_dir = cache_dir;
    fcl_ctx *ctx = NULL;
    fcl_error e = {0};
    cr_assert_eq(fcl_ctx_create(&ctx, &o, &e), FCL_OK, "context: %s", e.msg);
    return ctx;
}

fcl_ctx *fcl_test_ctx(uint64_t seed) { return make_ctx(seed, NULL); }
fcl_ctx *fcl_test_ctx_cache(const char *cache_dir) { return make_ctx(0, cache_dir); }

fcl_model *fcl_test_model_file(const char *name, int size, int classes, int embedding, double width)
{
    char path[512];
    snprintf(path, sizeof path, "%s/models/%s.model", FACECL_SOURCE_DIR, name);
    fcl_model_opts mo;
    fcl_model_opts_init(&mo);
    mo.channels = 1;
    mo.size = size;
    mo.classes = classes;
    if (embedding > 0) mo.embedding = embedding;
    if (width > 0) mo.width = width;
    fcl_model *m = NULL;
    fcl_error e = {0};
    cr_assert_eq(fcl_model_load_file(path, &mo, &m, &e), FCL_OK, "%s", e.msg);
    return m;
}

fcl_model *fcl_test_small_model(int size, int classes, int embedding)
{
    return fcl_test_model_file("small", size, classes, embedding, 0);
}

fcl_model *fcl_test_parse_model(const char *text, const char *name, const fcl_model_opts *o)
{
    fcl_model *m = NULL;
    fcl_error e = {0};
    cr_assert_eq(fcl_model_parse(text, name, o, &m, &e), FCL_OK, "%s\n---\n%s", e.msg, text);
    return m;
}

fcl_model *fcl_test_parse_model_head(const char *text, const char *name, int classes, int embedding)
{
    fcl_model_opts o;
    fcl_model_opts_init(&o);
    o.classes = classes;
    o.embedding = embedding;
    return fcl_test_parse_model(text, name, &o);
}

fcl_net *fcl_test_small_net(fcl_ctx *ctx, const fcl_model *m, int max_batch, int init_seed)
{
    fcl_net_opts no = {max_batch, 0};
    fcl_net *net = NULL;
    cr_assert_eq(fcl_net_create(ctx, m, &no, &net), FCL_OK, "%s", fcl_ctx_errmsg(ctx));
    if (init_seed >= 0) cr_assert_eq(fcl_net_init(net, (uint64_t)init_seed), FCL_OK, "%s", fcl_ctx_errmsg(ctx));
    return net;
}

void fcl_test_batch_upload(fcl_ctx *ctx, fcl_test_batch *b, const float *x, const int *labels, int n, int c, int s,
                           int classes)
{
    size_t nb = (size_t)n, one = 1;
    cr_assert_eq(fcl_tensor_alloc4(ctx, &b->x, nb, (size_t)c, (size_t)s, (size_t)s), FCL_OK);
    cr_assert_eq(fcl_tensor_upload(ctx, &b->x, x, nb * (size_t)(c * s * s)), FCL_OK);
    cr_assert_eq(fcl_tensor_alloc(ctx, &b->y, 1, &nb, FCL_F32), FCL_OK);
    cr_assert_eq(fcl_labels_upload(ctx, &b->y, labels, nb, classes), FCL_OK, "%s", fcl_ctx_errmsg(ctx));
    cr_assert_eq(fcl_tensor_alloc(ctx, &b->loss, 1, &one, FCL_F32), FCL_OK);
    cr_assert_eq(fcl_tensor_alloc4(ctx, &b->dlogits, nb, (size_t)classes, 1, 1), FCL_OK);
}

void fcl_test_batch_release(fcl_ctx *ctx, fcl_test_batch *b)
{
    fcl_tensor_release(ctx, &b->x);
    fcl_tensor_release(ctx, &b->y);
    fcl_tensor_release(ctx, &b->loss);
    fcl_tensor_release(ctx, &b->dlogits);
}

void fcl_test_small_checkpoint(const char *path, int size, int classes, int init_seed, const char *class_names)
{
    fcl_ctx *ctx = fcl_test_ctx(0);
    fcl_model *m = fcl_test_small_model(size, classes, 0);
    fcl_net *net = fcl_test_small_net(ctx, m, 8, init_seed);
    fcl_kv kv[2] = {{"eval_aug", "norm=0.5:0.5"}, {"class_names", class_names}};
    cr_assert_eq(fcl_checkpoint_save(ctx, net, NULL, NULL, NULL, kv, class_names ? 2 : 1, path), FCL_OK, "%s",
                 fcl_ctx_errmsg(ctx));
    fcl_net_destroy(net);
    fcl_model_free(m);
    fcl_ctx_destroy(ctx);
}
