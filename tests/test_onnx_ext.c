/* tests/test_onnx_ext.c: `facecl export` of issue 12's layer kinds (LayerNorm2d, GELU, layer scale, radix sum, r-SoftMax, weight-standardised conv, constant scale): the nodes, their wiring, attributes and constants, decoded by the strict reader; ConvNeXt and ResNeSt export; refusals. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <facecl/facecl.h>

#include "helpers/onnx_reader.h"

#define EXT_LAYERS FACECL_SOURCE_DIR "/tests/fixtures/onnx_ext_layers.model"
#define EXT_OPTS "channels=3 size_h=15 size_w=15 classes=5 embedding=10 width=1 stem=face"


TestSuite(onnx_ext, .init = onnx_tmp_setup, .fini = onnx_tmp_teardown);

/* The node producing value `out`, asserted to be of kind `op` with n_in inputs. */
static const dnode *node(const dmodel *d, const char *out, const char *op, int n_in)
{
    const dnode *n = find_node(d, out);
    cr_assert_not_null(n, "no node makes '%s'", out);
    cr_assert_str_eq(n->op, op, "'%s' is made by %s, expected %s", out, n->op, op);
    cr_assert_eq(n->n_in, n_in, "'%s' (%s) has %d inputs, expected %d", out, op, n->n_in, n_in);
    return n;
}

/* A scalar FLOAT initialiser (no dims) of exactly this value. */
static void expect_scalar(const dmodel *d, const char *name, float v)
{
    const dtensor *t = find_init(d, name);
    cr_assert_not_null(t, "no initialiser '%s'", name);
    cr_assert(t->dtype == 1 && t->ndim == 0 && t->raw_len == 4, "'%s' is not a float scalar", name);
    cr_assert_eq(raw_f32(t, 0), v, "'%s' = %.9g, expected %.9g", name, (double)raw_f32(t, 0), (double)v);
}

/* An INT64 initialiser holding exactly these values (a Reshape shape, ReduceSum's axes). */
static void expect_i64(const dmodel *d, const char *name, int n, const int64_t *want)
{
    const dtensor *t = find_init(d, name);
    cr_assert_not_null(t, "no initialiser '%s'", name);
    cr_assert(t->dtype == 7 && t->ndim == 1 && t->dims[0] == n && t->raw_len == (size_t)n * 8, "'%s': not int64 [%d]",
              name, n);
    for (int k = 0; k < n; k++) {
        int64_t v = 0;
        for (int b = 7; b >= 0; b--) v = v << 8 | t->raw[(size_t)k * 8 + (size_t)b]; /* little-endian */
        cr_assert_eq(v, want[k], "'%s'[%d] = %lld, expected %lld", name, k, (long long)v, (long long)want[k]);
    }
}

/* LayerNorm2d `name` of value `in` over C channels with eps: the two-pass chain of cl/norm.cl. */
static void expect_layernorm(const dmodel *d, const char *name, const char *in, int c, float eps)
{
    char wn[64], bn[64];
    snprintf(wn, sizeof wn, "%s.weight", name);
    snprintf(bn, sizeof bn, "%s.bias", name);
    for (int k = 0; k < 2; k++) { /* weight and bias broadcast over H, W: [C, 1, 1] */
        const dtensor *t = find_init(d, k ? bn : wn);
        cr_assert(t && t->ndim == 3 && t->dims[0] == c && t->dims[1] == 1 && t->dims[2] == 1, "%s: not [%d, 1, 1]",
                  k ? bn : wn, c);
    }
    const dnode *add = node(d, name, "Add", 2);
    cr_assert_str_eq(add->in[1], bn);
    const dnode *scaled = node(d, add->in[0], "Mul", 2);
    cr_assert_str_eq(scaled->in[1], wn);
    const dnode *norm = node(d, scaled->in[0], "Mul", 2);
    const dnode *sub = node(d, norm->in[0], "Sub", 2);
    cr_assert_str_eq(sub->in[0], in);
    const dnode *mean = node(d, sub->in[1], "ReduceMean", 1);
    cr_assert_str_eq(mean->in[0], in);
    const dnode *rstd = node(d, norm->in[1], "Reciprocal", 1);
    const dnode *sd = node(d, rstd->in[0], "Sqrt", 1);
    const dnode *ve = node(d, sd->in[0], "Add", 2);
    expect_scalar(d, ve->in[1], eps);
    const dnode *var = node(d, ve->in[0], "ReduceMean", 1);
    const dnode *sq = node(d, var->in[0], "Mul", 2);
    cr_assert_str_eq(sq->in[0], norm->in[0]); /* (x - m) squared */
    cr_assert_str_eq(sq->in[1], norm->in[0]);
    const dnode *means[2] = {mean, var};
    for (int k = 0; k < 2; k++) { /* over the channels, kept for broadcasting (opset 13: attributes) */
        expect_ints(means[k], "axes", 1, (const int64_t[]){1});
        cr_assert_eq(find_attr(means[k], "keepdims")->i, 1);
    }
}

/* ReduceSum over axis 1 (keepdims 0) of Reshape(v, [0, R, C, H, W]); returns v's name. */
static const char *expect_radix_sum(const dmodel *d, const char *out, int r, int c, int h, int w)
{
    const dnode *sum = node(d, out, "ReduceSum", 2);
    cr_assert_eq(find_attr(sum, "keepdims")->i, 0);
    expect_i64(d, sum->in[1], 1, (const int64_t[]){1});
    const dnode *rs = node(d, sum->in[0], "Reshape", 2);
    expect_i64(d, rs->in[1], 5, (const int64_t[]){0, r, c, h, w});
    return rs->in[0];
}

/* tests/fixtures/onnx_ext_layers.model (layer numbers as `facecl model show` lists them). */
Test(onnx_ext, every_ext_kind)
{
    dmodel d;
    fcl_model *m = export_and_load(onnx_tmp_ckpt, EXT_LAYERS, "onnx_ext_layers.model", EXT_OPTS, "norm=0.5:0.5", FCL_EXPORT_EMBEDDING, onnx_tmp_onnx, &d);
    check_export(&d, m, 0);
    /* every node of the graph, by op (see the fixture: 3 LayerNorms, 2 GELUs, 4 radix sums, 3 r-SoftMaxes, a ws conv, a scale) */
    static const op_count counts[] = {{"Conv", 10},       {"ReduceMean", 8},         {"Sqrt", 4},        {"Reciprocal", 4},
                  {"Sub", 5},         {"Div", 2},                {"Mul", 27},        {"Add", 10},
                  {"Erf", 1},         {"Tanh", 1},               {"Relu", 3},        {"Reshape", 9},
                  {"ReduceSum", 4},   {"Softmax", 2},            {"Transpose", 1},   {"Sigmoid", 1},
                  {"GlobalAveragePool", 4}, {"Flatten", 2},      {"Gemm", 1},        {"BatchNormalization", 1},
                  {"ReduceL2", 1},    {"Max", 1}};
    expect_op_counts(&d, counts, (int)(sizeof counts / sizeof counts[0]));

    /* LayerNorm2d on a 4-D value, after global pooling, and on a flattened one (made 4-D first) */
    expect_layernorm(&d, "n0", "c0", 12, 1e-6f);
    expect_layernorm(&d, "n1", "gap_30", 16, 1e-5f);
    const dnode *n2mul = find_node(&d, find_node(&d, "n2")->in[0]);  /* the weight's Mul */
    const dnode *n2sub = find_node(&d, find_node(&d, n2mul->in[0])->in[0]); /* (x - m) */
    const dnode *as4d = node(&d, n2sub->in[0], "Reshape", 2);
    cr_assert_str_eq(as4d->in[0], "flatten_32");
    expect_i64(&d, as4d->in[1], 4, (const int64_t[]){0, 16, 1, 1});
    expect_layernorm(&d, "n2", n2sub->in[0], 16, 1e-6f);

    /* exact GELU: (0.5 * x) * (1 + Erf(x * 0.70710678)), facecl's constants and order */
    const dnode *g = node(&d, "gelu_4", "Mul", 2);
    const dnode *half = node(&d, g->in[0], "Mul", 2), *onep = node(&d, g->in[1], "Add", 2);
    expect_scalar(&d, half->in[0], 0.5f);
    cr_assert_str_eq(half->in[1], "c1");
    expect_scalar(&d, onep->in[0], 1.0f);
    const dnode *erf = node(&d, onep->in[1], "Erf", 1), *xs = node(&d, erf->in[0], "Mul", 2);
    cr_assert_str_eq(xs->in[0], "c1");
    expect_scalar(&d, xs->in[1], 0.7071067811865476f);
    /* tanh GELU: (0.5 * x) * (1 + Tanh(K0 * (x + ((K1 * x) * x) * x))) */
    const dnode *gt = node(&d, "gelu_tanh_6", "Mul", 2);
    cr_assert_str_eq(node(&d, gt->in[0], "Mul", 2)->in[1], "c2");
    const dnode *th = node(&d, node(&d, gt->in[1], "Add", 2)->in[1], "Tanh", 1);
    const dnode *u = node(&d, th->in[0], "Mul", 2);
    expect_scalar(&d, u->in[0], 0.7978845608028654f);
    const dnode *cub = node(&d, u->in[1], "Add", 2);
    cr_assert_str_eq(cub->in[0], "c2");
    const dnode *x3 = node(&d, cub->in[1], "Mul", 2), *x2 = node(&d, x3->in[0], "Mul", 2), *x1 = node(&d, x2->in[0], "Mul", 2);
    cr_assert(!strcmp(x3->in[1], "c2") && !strcmp(x2->in[1], "c2") && !strcmp(x1->in[1], "c2"));
    expect_scalar(&d, x1->in[0], 0.044715f);

    /* layer scale: the checkpoint tensor [12, 1, 1] itself, multiplied in */
    const dnode *cm = node(&d, "channel_mul_7", "Mul", 2);
    cr_assert_str_eq(cm->in[0], "gelu_tanh_6");
    cr_assert_str_eq(cm->in[1], "ls");
    cr_assert_null(find_node(&d, "ls"));

    /* radix sums: the plain one, and the attention-weighted ones (Mul first) */
    cr_assert_str_eq(expect_radix_sum(&d, "radix_sum_10", 2, 12, 15, 15), "relu_9");
    const dnode *w16 = node(&d, expect_radix_sum(&d, "radix_sum_16", 2, 12, 15, 15), "Mul", 2);
    cr_assert(!strcmp(w16->in[0], "relu_9") && !strcmp(w16->in[1], "rsoftmax_15"));
    cr_assert_str_eq(expect_radix_sum(&d, "radix_sum_19", 2, 16, 8, 8), "relu_18");
    const dnode *w23 = node(&d, expect_radix_sum(&d, "radix_sum_23", 2, 16, 8, 8), "Mul", 2);
    cr_assert(!strcmp(w23->in[0], "relu_18") && !strcmp(w23->in[1], "rsoftmax_22"));

    /* r-SoftMax, one group: [N, 24, 1, 1] as [N, R 2, 1, 12], softmax over the radix, back */
    const dnode *o15 = node(&d, "rsoftmax_15", "Reshape", 2);
    expect_i64(&d, o15->in[1], 4, (const int64_t[]){0, 24, 1, 1});
    const dnode *s15 = node(&d, o15->in[0], "Softmax", 1);
    cr_assert_eq(find_attr(s15, "axis")->i, 1);
    const dnode *r15 = node(&d, s15->in[0], "Reshape", 2);
    cr_assert_str_eq(r15->in[0], "sa.fc2");
    expect_i64(&d, r15->in[1], 4, (const int64_t[]){0, 2, 1, 12});
    /* two groups: [N, card 2, R 2, 8] transposed to [N, R, card, 8] (timm's view + transpose(1, 2)) */
    const dnode *o22 = node(&d, "rsoftmax_22", "Reshape", 2);
    expect_i64(&d, o22->in[1], 4, (const int64_t[]){0, 32, 1, 1});
    const dnode *s22 = node(&d, o22->in[0], "Softmax", 1);
    cr_assert_eq(find_attr(s22, "axis")->i, 1);
    const dnode *t22 = node(&d, s22->in[0], "Transpose", 1);
    expect_ints(t22, "perm", 4, (const int64_t[]){0, 2, 1, 3});
    const dnode *r22 = node(&d, t22->in[0], "Reshape", 2);
    cr_assert_str_eq(r22->in[0], "sb.fc2");
    expect_i64(&d, r22->in[1], 4, (const int64_t[]){0, 2, 2, 8});
    /* radix 1: a sigmoid */
    cr_assert_str_eq(node(&d, "rsoftmax_26", "Sigmoid", 1)->in[0], "sc.fc");

    /* weight-standardised conv: Conv with w_hat = (w - mean) * ((gain * gamma / sqrt(fan-in)) * r),
     * mean and r per output channel (axes 1, 2, 3), from the checkpoint's weight and gain */
    const dnode *ws = node(&d, "ws0", "Conv", 3);
    cr_assert_str_eq(ws->in[0], "channel_mul_27");
    cr_assert_str_eq(ws->in[2], "ws0.bias");
    const dnode *wh = node(&d, ws->in[1], "Mul", 2), *wf = node(&d, wh->in[1], "Mul", 2);
    const dnode *wc = node(&d, wh->in[0], "Sub", 2), *wm = node(&d, wc->in[1], "ReduceMean", 1);
    cr_assert(!strcmp(wc->in[0], "ws0.weight") && !strcmp(wm->in[0], "ws0.weight"));
    expect_ints(wm, "axes", 3, (const int64_t[]){1, 2, 3});
    const dnode *gsc = node(&d, wf->in[0], "Mul", 2);
    cr_assert_str_eq(gsc->in[0], "ws0.gain");
    expect_scalar(&d, gsc->in[1], (float)(1.7 / sqrt(8.0 * 9.0))); /* gamma / sqrt(cin / groups * kh * kw) */
    const dnode *wr = node(&d, wf->in[1], "Reciprocal", 1), *wsd = node(&d, wr->in[0], "Sqrt", 1);
    const dnode *wve = node(&d, wsd->in[0], "Add", 2), *wv = node(&d, wve->in[0], "ReduceMean", 1);
    expect_scalar(&d, wve->in[1], 1e-5f);
    expect_ints(wv, "axes", 3, (const int64_t[]){1, 2, 3});
    const dtensor *gain = find_init(&d, "ws0.gain");
    cr_assert(gain && gain->ndim == 4 && gain->dims[0] == 16 && gain->dims[3] == 1);
    /* constant scale: one Mul */
    const dnode *sc = node(&d, "scale_29", "Mul", 2);
    cr_assert_str_eq(sc->in[0], "ws0");
    expect_scalar(&d, sc->in[1], 2.5f);
    free_onnx(&d);
    fcl_model_free(m);
}

/* The shipped ConvNeXt, ResNeSt and NFNet (narrowed: width 0.25) export, every weight included,
 * with one standardisation chain (Reciprocal) per layernorm2d layer and weight-standardised conv,
 * one Erf per GELU and one Softmax per r-SoftMax. */
Test(onnx_ext, convnext_resnest_nfnet_export)
{
    static const struct {
        const char *file, *name;
        int std, gelu, rsoftmax, scale;
    } nets[] = {{FACECL_SOURCE_DIR "/models/convnext_tiny.model", "convnext_tiny.model", 23, 18, 0, 0},
                {FACECL_SOURCE_DIR "/models/resnest50d.model", "resnest50d.model", 0, 0, 16, 0},
                {FACECL_SOURCE_DIR "/models/nfnet_f0.model", "nfnet_f0.model", 57, 52, 0, 23}};
    for (size_t k = 0; k < sizeof nets / sizeof nets[0]; k++) {
        dmodel d;
        fcl_model *m = export_and_load(onnx_tmp_ckpt, nets[k].file, nets[k].name,
                                       "channels=3 size_h=32 size_w=32 classes=5 embedding=16 width=0.25 stem=face",
                                       "norm=0.5:0.5", FCL_EXPORT_LOGITS, onnx_tmp_onnx, &d);
        int std = 0, gelu = 0, rs = 0, sc = 0;
        for (int i = 0; i < m->n_layers; i++) {
            const fcl_layer *L = &m->layers[i];
            std += L->kind == FCL_LAYER_LAYERNORM || (L->kind == FCL_LAYER_CONV && L->conv.ws);
            gelu += L->kind == FCL_LAYER_ACT && L->act.kind == FCL_ACT_GELU;
            rs += L->kind == FCL_LAYER_RSOFTMAX;
            sc += L->kind == FCL_LAYER_SCALE;
        }
        cr_assert(std == nets[k].std && gelu == nets[k].gelu && rs == nets[k].rsoftmax && sc == nets[k].scale,
                  "%s: %d / %d / %d / %d", nets[k].name, std, gelu, rs, sc);
        check_export(&d, m, 1);
        cr_assert_eq(count_op(&d, "Reciprocal"), std);
        cr_assert_eq(count_op(&d, "Erf"), gelu);
        cr_assert_eq(count_op(&d, "Softmax"), rs);
        free_onnx(&d);
        fcl_model_free(m);
    }
}

/* A learned tensor read by anything but an element-wise channel_mul / add is refused by name
 * (its [C, 1, 1] initialiser would be one image, not the batch). */
Test(onnx_ext, param_read_by_a_conv_is_refused)
{
    const char *text = "option size = 8\noption channels = 3\noption classes = 2\noption embedding = 4\n"
                       "conv c0 out=4 k=3 p=1\nparam g shape=4\nconv c1 from=@g out=4 k=1\nflatten\nembedding\nclassifier fc\n";
    char path[300];
    snprintf(path, sizeof path, "%s/p.model", onnx_tmp_dir);
    FILE *f = fopen(path, "wb");
    cr_assert(f);
    fputs(text, f);
    fclose(f);
    fcl_model *m;
    make_checkpoint(onnx_tmp_ckpt, path, "p.model", "channels=3 size_h=8 size_w=8 classes=2 embedding=4 width=1 stem=face", NULL,
                    NULL, NULL, &m);
    fcl_error err = {0};
    cr_assert_eq(fcl_onnx_export_checkpoint(onnx_tmp_ckpt, FCL_EXPORT_EMBEDDING, onnx_tmp_onnx, NULL, &err), FCL_ERR_UNSUPPORTED);
    cr_assert(strstr(err.msg, "'c1'") && strstr(err.msg, "learned tensor 'g'"), "%s", err.msg);
    cr_assert_eq(access(onnx_tmp_onnx, F_OK), -1, "a refused export left a file");
    fcl_model_free(m);
}
