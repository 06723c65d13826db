/* tests/test_onnx_export.c: `facecl export`: exported files decoded by a small protobuf reader here and checked against the model and checkpoint (structure, names, shapes, values); refusals; atomic writes; the command line. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <facecl/facecl.h>

#include "helpers/onnx_reader.h"

#define FACECL FACECL_BINARY_DIR "/facecl"
#define SMALL FACECL_SOURCE_DIR "/models/small.model"
#define ALL_LAYERS FACECL_SOURCE_DIR "/tests/fixtures/onnx_all_layers.model"


TestSuite(onnx_export, .init = onnx_tmp_setup, .fini = onnx_tmp_teardown);

#define SMALL_OPTS "channels=3 size_h=32 size_w=32 classes=5 embedding=16 width=1 stem=face"

static void check_header(const dmodel *d, const char *graph, int c, int h, int w, const char *out, int out_dim)
{
    cr_assert_eq(d->ir, 7);
    cr_assert_eq(d->n_opset, 1);
    cr_assert_eq(d->opset, 13);
    cr_assert_str_eq(d->domain, "");
    cr_assert_str_eq(d->producer, "facecl");
    cr_assert_str_eq(d->producer_version, FACECL_VERSION_STRING);
    cr_assert(d->has_doc);
    cr_assert_str_eq(d->graph_name, graph);
    cr_assert_eq(d->n_in, 1);
    cr_assert_eq(d->n_out, 1);
    cr_assert_str_eq(d->in[0].name, "input");
    cr_assert_eq(d->in[0].elem, 1);
    cr_assert_eq(d->in[0].ndim, 4);
    cr_assert_eq(d->in[0].dims[0], -1);
    cr_assert_str_eq(d->in[0].param[0], "N");
    cr_assert_eq(d->in[0].dims[1], c);
    cr_assert_eq(d->in[0].dims[2], h);
    cr_assert_eq(d->in[0].dims[3], w);
    cr_assert_str_eq(d->out[0].name, out);
    cr_assert_eq(d->out[0].elem, 1);
    cr_assert_eq(d->out[0].ndim, 2);
    cr_assert_str_eq(d->out[0].param[0], "N");
    cr_assert_eq(d->out[0].dims[1], out_dim);
}

/* The exported small.model: header, every weight, one node per layer of the right op with the
 * layer's settings, normalisation first and the L2 normalisation last. */
Test(onnx_export, small_embedding)
{
    fcl_model *m;
    make_checkpoint(onnx_tmp_ckpt, SMALL, "small.model", SMALL_OPTS, "norm=0.5:0.25", NULL, NULL, &m);
    fcl_error err = {0};
    fcl_export_summary sum;
    cr_assert_eq(fcl_onnx_export_checkpoint(onnx_tmp_ckpt, FCL_EXPORT_EMBEDDING, onnx_tmp_onnx, &sum, &err), FCL_OK, "%s", err.msg);
    dmodel d;
    load_onnx(onnx_tmp_onnx, &d);
    check_header(&d, "small", 3, 32, 32, "embedding", 16);
    check_export(&d, m, 0);
    cr_assert_eq(sum.nodes, d.n_nodes);
    cr_assert_eq(sum.initializers, d.n_inits);
    cr_assert_eq(sum.out_dim, 16);
    cr_assert(sum.normalisation);

    /* normalisation: Sub(input, mean [1,3,1,1] = 0.5) then Div(std = 0.25) */
    cr_assert_str_eq(d.nodes[0].op, "Sub");
    cr_assert_str_eq(d.nodes[0].in[0], "input");
    cr_assert_str_eq(d.nodes[1].op, "Div");
    cr_assert_str_eq(d.nodes[1].in[0], d.nodes[0].out[0]);
    const dtensor *mean = find_init(&d, d.nodes[0].in[1]), *std = find_init(&d, d.nodes[1].in[1]);
    cr_assert(mean && std);
    cr_assert_eq(mean->ndim, 4);
    cr_assert_eq(mean->dims[1], 3);
    for (int k = 0; k < 3; k++) {
        cr_assert_eq(raw_f32(mean, (size_t)k), 0.5f);
        cr_assert_eq(raw_f32(std, (size_t)k), 0.25f);
    }

    /* one node per layer (named after it), the layer's settings on it */
    int n_conv = 0, n_bn = 0, n_relu = 0, n_add = 0;
    for (int i = 0; i <= m->embedding_layer; i++) {
        const fcl_layer *L = &m->layers[i];
        n_conv += L->kind == FCL_LAYER_CONV;
        n_bn += L->kind == FCL_LAYER_BN;
        n_relu += L->kind == FCL_LAYER_ACT;
        n_add += L->kind == FCL_LAYER_ADD;
        if (L->kind == FCL_LAYER_CONV) {
            const dnode *c = find_node(&d, L->name);
            cr_assert_not_null(c, "no node for %s", L->name);
            cr_assert_str_eq(c->op, "Conv");
            char wn[160];
            snprintf(wn, sizeof wn, "%s.weight", L->name);
            cr_assert_str_eq(c->in[1], wn);
            cr_assert_eq(c->n_in, L->conv.bias ? 3 : 2);
            const dattr *s = find_attr(c, "strides"), *p = find_attr(c, "pads"), *k = find_attr(c, "kernel_shape"),
                        *g = find_attr(c, "group"), *dl = find_attr(c, "dilations");
            cr_assert(s && p && k && g && dl);
            cr_assert_eq(s->n_ints, 2);
            cr_assert_eq(s->ints[0], L->conv.stride_h);
            cr_assert_eq(s->ints[1], L->conv.stride_w);
            cr_assert_eq(p->n_ints, 4);
            cr_assert_eq(p->ints[0], L->conv.pad_h);
            cr_assert_eq(p->ints[3], L->conv.pad_w);
            cr_assert_eq(k->ints[0], L->conv.kh);
            cr_assert_eq(g->i, L->conv.groups);
            cr_assert_eq(dl->ints[0], L->conv.dil_h);
        }
        if (L->kind == FCL_LAYER_BN) {
            const dnode *b = find_node(&d, L->name);
            cr_assert_not_null(b, "no node for %s", L->name);
            cr_assert_str_eq(b->op, "BatchNormalization");
            cr_assert_eq(b->n_in, 5);
            const char *suffix[4] = {".weight", ".bias", ".running_mean", ".running_var"};
            for (int k = 0; k < 4; k++) {
                char want[160];
                snprintf(want, sizeof want, "%s%s", L->name, suffix[k]);
                cr_assert_str_eq(b->in[k + 1], want);
            }
            cr_assert_float_eq(find_attr(b, "epsilon")->f, L->bn.eps, 0);
        }
    }
    cr_assert_eq(count_op(&d, "Conv"), n_conv);
    cr_assert_eq(count_op(&d, "BatchNormalization"), n_bn);
    cr_assert_eq(count_op(&d, "Relu"), n_relu);
    cr_assert_eq(count_op(&d, "Add"), n_add);
    cr_assert_eq(count_op(&d, "GlobalAveragePool"), 1);
    cr_assert_eq(count_op(&d, "Gemm"), 1); /* embedding.0; the classifier is not exported */
    const dnode *gemm = find_node(&d, "embedding.0");
    cr_assert(gemm && !strcmp(gemm->op, "Gemm") && find_attr(gemm, "transB")->i == 1 && gemm->n_in == 2);

    /* the L2 normalisation: ReduceL2 over axis 1, clamped, divided */
    const dnode *last = &d.nodes[d.n_nodes - 1], *mx = &d.nodes[d.n_nodes - 2], *l2 = &d.nodes[d.n_nodes - 3];
    cr_assert_str_eq(last->op, "Div");
    cr_assert_str_eq(last->out[0], "embedding");
    cr_assert_str_eq(mx->op, "Max");
    cr_assert_str_eq(l2->op, "ReduceL2");
    cr_assert_eq(find_attr(l2, "axes")->ints[0], 1);
    cr_assert_eq(find_attr(l2, "keepdims")->i, 1);
    cr_assert_str_eq(l2->in[0], "embedding.1"); /* the embedding BN's output, already 2-D */
    cr_assert_str_eq(last->in[0], "embedding.1");
    free_onnx(&d);
    fcl_model_free(m);
}

Test(onnx_export, small_logits)
{
    dmodel d;
    fcl_model *m = export_and_load(onnx_tmp_ckpt, SMALL, "small.model", SMALL_OPTS, "norm=0.5:0.5", FCL_EXPORT_LOGITS, onnx_tmp_onnx, &d);
    check_header(&d, "small", 3, 32, 32, "logits", 5);
    check_export(&d, m, 1);
    cr_assert_eq(count_op(&d, "Gemm"), 2);
    cr_assert_eq(count_op(&d, "ReduceL2"), 0);
    const dnode *fc = find_node(&d, "fc");
    cr_assert(fc && !strcmp(fc->op, "Gemm") && fc->n_in == 3);
    cr_assert_str_eq(fc->in[0], "embedding.1");
    cr_assert_str_eq(d.nodes[d.n_nodes - 1].op, "Identity");
    cr_assert_str_eq(d.nodes[d.n_nodes - 1].in[0], "fc");
    free_onnx(&d);
    fcl_model_free(m);
}

/* A checkpoint without an eval pipeline: no normalisation nodes, the network reads the input. */
Test(onnx_export, no_pipeline_no_normalisation)
{
    fcl_model *m;
    make_checkpoint(onnx_tmp_ckpt, SMALL, "small.model", SMALL_OPTS, NULL, NULL, NULL, &m);
    fcl_error err = {0};
    fcl_export_summary sum;
    cr_assert_eq(fcl_onnx_export_checkpoint(onnx_tmp_ckpt, FCL_EXPORT_EMBEDDING, onnx_tmp_onnx, &sum, &err), FCL_OK, "%s", err.msg);
    cr_assert(!sum.normalisation);
    dmodel d;
    load_onnx(onnx_tmp_onnx, &d);
    cr_assert_str_eq(d.nodes[0].op, "Conv");
    cr_assert_str_eq(d.nodes[0].in[0], "input");
    cr_assert_eq(count_op(&d, "Sub"), 0);
    free_onnx(&d);
    fcl_model_free(m);
}

#define ALL_OPTS "channels=3 size_h=23 size_w=23 classes=7 embedding=12 width=1 stem=face"

/* Every layer kind and setting (tests/fixtures/onnx_all_layers.model; layer numbers as
 * `facecl model show` lists them): the op each becomes and the attributes that carry torch's
 * semantics (ceil mode as explicit padding, count_include_pad, adaptive windows). */
Test(onnx_export, every_layer_kind)
{
    dmodel d;
    fcl_model *m = export_and_load(onnx_tmp_ckpt, ALL_LAYERS, "onnx_all_layers.model", ALL_OPTS, "norm=0.4:0.5:0.6:0.2:0.25:0.5", FCL_EXPORT_EMBEDDING, onnx_tmp_onnx, &d);
    check_header(&d, "onnx_all_layers", 3, 23, 23, "embedding", 12);
    check_export(&d, m, 0);
    static const op_count counts[] = {{"Conv", 6},     {"BatchNormalization", 3}, {"PRelu", 2},   {"LeakyRelu", 1},   {"Clip", 1},
                  {"Sigmoid", 2},  {"HardSigmoid", 2},        {"Mul", 3},     {"Tanh", 1},        {"Relu", 1},
                  {"MaxPool", 2},  {"AveragePool", 5},        {"Pad", 1},     {"Sum", 1},         {"Concat", 1},
                  {"MatMul", 4},   {"GlobalAveragePool", 1},  {"Flatten", 1}, {"Gemm", 2},        {"Sub", 1},
                  {"Div", 2},      {"ReduceL2", 1},           {"Max", 1},     {"Dropout", 0},     {"Reshape", 0}};
    expect_op_counts(&d, counts, (int)(sizeof counts / sizeof counts[0]));

    /* per-channel normalisation constants */
    const dtensor *mean = find_init(&d, d.nodes[0].in[1]), *std = find_init(&d, d.nodes[1].in[1]);
    cr_assert(raw_f32(mean, 0) == 0.4f && raw_f32(mean, 1) == 0.5f && raw_f32(mean, 2) == 0.6f);
    cr_assert(raw_f32(std, 0) == 0.2f && raw_f32(std, 1) == 0.25f && raw_f32(std, 2) == 0.5f);

    /* PReLU slopes broadcast over channels ([8, 1, 1]) or shared ([1]) */
    const dtensor *s0 = find_init(&d, "p0.weight"), *s1 = find_init(&d, "p1.weight");
    cr_assert(s0->ndim == 3 && s0->dims[0] == 8 && s0->dims[1] == 1 && s0->dims[2] == 1);
    cr_assert(s1->ndim == 1 && s1->dims[0] == 1);
    /* grouped dilated conv */
    const dnode *c1 = find_node(&d, "c1");
    expect_ints(c1, "dilations", 2, (const int64_t[]){2, 2});
    expect_ints(c1, "pads", 4, (const int64_t[]){2, 2, 2, 2});
    cr_assert_eq(find_attr(c1, "group")->i, 4);
    expect_ints(find_node(&d, "c2"), "kernel_shape", 2, (const int64_t[]){3, 1});
    expect_ints(find_node(&d, "c2"), "pads", 4, (const int64_t[]){1, 0, 1, 0});
    /* BN without affine parameters: gamma 1, beta 0 made for it */
    const dnode *b1 = find_node(&d, "b1");
    const dtensor *g = find_init(&d, b1->in[1]), *be = find_init(&d, b1->in[2]);
    cr_assert(g && be && g->dims[0] == 8);
    for (int k = 0; k < 8; k++) cr_assert(raw_f32(g, (size_t)k) == 1.0f && raw_f32(be, (size_t)k) == 0.0f);
    cr_assert_str_eq(b1->in[3], "b1.running_mean");
    cr_assert_float_eq(find_attr(find_node(&d, "leaky_5"), "alpha")->f, 0.2f, 0);
    const dnode *clip = find_node(&d, "relu6_8");
    cr_assert(clip && clip->n_in == 3);
    cr_assert(raw_f32(find_init(&d, clip->in[1]), 0) == 0.0f && raw_f32(find_init(&d, clip->in[2]), 0) == 6.0f);
    const dnode *hs = find_node(&d, "hardsigmoid_16");
    cr_assert_float_eq(find_attr(hs, "alpha")->f, 1.0f / 6.0f, 1e-7);
    cr_assert_float_eq(find_attr(hs, "beta")->f, 0.5f, 0);

    /* pooling: #6 maxpool 3/2 p1 ceil on 23 -> 12 needs no extra padding */
    const dnode *mp = find_node(&d, "maxpool_6");
    expect_ints(mp, "pads", 4, (const int64_t[]){1, 1, 1, 1});
    cr_assert_null(find_attr(mp, "ceil_mode"));
    /* #10 avgpool 3/2 p1 ceil count_include_pad on 12 -> 7: the last window hangs one past the
     * padding; torch counts the padding but not the overhang: Pad with zeros, then pool without
     * counting pads over [0, 0, 1, 1] */
    const dnode *a1 = find_node(&d, "avgpool_10");
    cr_assert_eq(find_attr(a1, "count_include_pad")->i, 0);
    expect_ints(a1, "pads", 4, (const int64_t[]){0, 0, 1, 1});
    const dnode *pad = find_node(&d, a1->in[0]);
    cr_assert(pad && !strcmp(pad->op, "Pad"));
    const dtensor *pv = find_init(&d, pad->in[1]);
    cr_assert(pv && pv->dtype == 7 && pv->dims[0] == 8);
    /* #11 exclude-pad, no overhang; #24 count_include_pad without padding but with overhang */
    const dnode *a2 = find_node(&d, "avgpool_11");
    cr_assert_eq(find_attr(a2, "count_include_pad")->i, 0);
    expect_ints(a2, "pads", 4, (const int64_t[]){1, 1, 1, 1});
    const dnode *a24 = find_node(&d, "avgpool_24");
    cr_assert_eq(find_attr(a24, "count_include_pad")->i, 0);
    expect_ints(a24, "pads", 4, (const int64_t[]){0, 0, 1, 1});
    cr_assert_str_eq(a24->in[0], "maxpool_6");
    /* adaptive: 6 -> 3 divides (AveragePool 2/2); 3 -> 7 and 7 -> 3 use torch's windows */
    const dnode *ad = find_node(&d, "adaptive_avgpool_25");
    cr_assert_str_eq(ad->op, "AveragePool");
    expect_ints(ad, "kernel_shape", 2, (const int64_t[]){2, 2});
    const dnode *up = find_node(&d, "adaptive_avgpool_26");
    cr_assert_str_eq(up->op, "MatMul");
    const dtensor *rows = find_init(&d, up->in[0]);
    cr_assert(rows && rows->ndim == 2 && rows->dims[0] == 7 && rows->dims[1] == 3);
    /* output row o averages input rows [floor(3o/7), ceil(3(o+1)/7)) */
    static const float up_rows[7][3] = {{1, 0, 0}, {1, 0, 0}, {.5f, .5f, 0}, {0, 1, 0}, {0, .5f, .5f}, {0, 0, 1}, {0, 0, 1}};
    for (int o = 0; o < 7; o++)
        for (int k = 0; k < 3; k++) cr_assert_eq(raw_f32(rows, (size_t)(o * 3 + k)), up_rows[o][k], "row %d col %d", o, k);
    const dnode *down = find_node(&d, "adaptive_avgpool_28");
    const dnode *cols = find_node(&d, down->in[1]);
    const dtensor *ct = find_init(&d, cols->in[1]);
    cr_assert(ct && ct->dims[0] == 7 && ct->dims[1] == 3); /* A_w^T: [in 7, out 3] */
    static const int win[3][2] = {{0, 3}, {2, 5}, {4, 7}};
    for (int i = 0; i < 7; i++)
        for (int o = 0; o < 3; o++)
            cr_assert_eq(raw_f32(ct, (size_t)(i * 3 + o)), i >= win[o][0] && i < win[o][1] ? 1.0f / 3.0f : 0.0f);
    /* add of three, concat of three on channels, SE scale */
    cr_assert_eq(find_node(&d, "add_13")->n_in, 3);
    const dnode *cat = find_node(&d, "concat_27");
    cr_assert_eq(cat->n_in, 3);
    cr_assert_eq(find_attr(cat, "axis")->i, 1);
    cr_assert_str_eq(find_node(&d, "channel_mul_22")->op, "Mul");
    /* dropout and drop path are no nodes: flatten reads the adaptive pool directly */
    cr_assert_str_eq(find_node(&d, "flatten_31")->in[0], "adaptive_avgpool_28");
    free_onnx(&d);
    fcl_model_free(m);
}
