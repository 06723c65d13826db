/* tests/test_model.c: model files: every shipped model under many options, torchvision counts/names, FLOPs, the expression language, every error with its line. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <facecl/model.h>

#include "helpers/small_net.h"

#define MODELS FACECL_SOURCE_DIR "/models/"

static const char *const shipped[] = {"resnet18",     "resnet34",    "resnet50",    "resnet101",
                                      "resnext50_32x4d", "se_resnet18", "se_resnet50", "mobilenet_v2",
                                      "vgg11_bn",     "vgg16_bn",    "densenet121", "alexnet",
                                      "small",        "mobilenet_v1", "regnet_x_400mf", "regnet_y_400mf",
                                      "iresnet50",    "iresnet100",  "mobilefacenet", "efficientnet_b0",
                                      "convnext_tiny", "resnest50d", "nfnet_f0", NULL};

static fcl_model *load(const char *name, const fcl_model_opts *o)
{
    char path[512];
    snprintf(path, sizeof path, MODELS "%s.model", name);
    fcl_model *m = NULL;
    fcl_error err = {0};
    fcl_status st = fcl_model_load_file(path, o, &m, &err);
    cr_assert_eq(st, FCL_OK, "%s: %s", name, err.msg);
    cr_assert_not_null(m);
    return m;
}

/* torchvision's setting: 3 channels, 224 px, 1000 classes, no embedding head, imagenet stem. */
static fcl_model *load_tv(const char *name)
{
    fcl_model_opts o;
    fcl_model_opts_init(&o);
    o.channels = 3;
    o.size = 224;
    o.classes = 1000;
    o.embedding = 0;
    o.width = 1;
    o.stem = "imagenet";
    return load(name, &o);
}

static const fcl_param_info *param(const fcl_model *m, const char *name)
{
    const fcl_param_info *p = fcl_model_find_param(m, name, NULL);
    cr_assert_not_null(p, "%s has no parameter %s", m->name, name);
    return p;
}

static void expect_shape(const fcl_model *m, const char *name, int ndim, int d0, int d1, int d2, int d3)
{
    const fcl_param_info *p = param(m, name);
    int d[4] = {d0, d1, d2, d3};
    cr_assert_eq(p->ndim, ndim, "%s %s: ndim %d, expected %d", m->name, name, p->ndim, ndim);
    for (int i = 0; i < ndim; i++)
        cr_assert_eq(p->shape[i], d[i], "%s %s: dim %d is %d, expected %d", m->name, name, i, p->shape[i], d[i]);
}

/* torchvision names and shapes of the models load_tv builds: one row a parameter, {model, name, ndim, dims}. */
static const struct tv_shape {
    const char *model, *name;
    int ndim, d[4];
} tv_shapes[] = {
    {"resnet18", "conv1.weight", 4, {64, 3, 7, 7}},
    {"resnet18", "bn1.running_mean", 1, {64, 0, 0, 0}},
    {"resnet18", "bn1.num_batches_tracked", 0, {0, 0, 0, 0}},
    {"resnet18", "layer1.0.conv1.weight", 4, {64, 64, 3, 3}},
    {"resnet18", "layer2.0.downsample.0.weight", 4, {128, 64, 1, 1}},
    {"resnet18", "layer2.0.downsample.1.bias", 1, {128, 0, 0, 0}},
    {"resnet18", "layer4.1.bn2.running_var", 1, {512, 0, 0, 0}},
    {"resnet18", "fc.weight", 2, {1000, 512, 0, 0}},
    {"resnet18", "fc.bias", 1, {1000, 0, 0, 0}},
    {"mobilenet_v2", "features.0.0.weight", 4, {32, 3, 3, 3}},
    {"mobilenet_v2", "features.1.conv.0.0.weight", 4, {32, 1, 3, 3}},   /* t = 1: depthwise first */
    {"mobilenet_v2", "features.1.conv.1.weight", 4, {16, 32, 1, 1}},
    {"mobilenet_v2", "features.3.conv.1.0.weight", 4, {144, 1, 3, 3}},
    {"mobilenet_v2", "features.3.conv.3.running_mean", 1, {24, 0, 0, 0}},
    {"mobilenet_v2", "features.18.0.weight", 4, {1280, 320, 1, 1}},
    {"mobilenet_v2", "classifier.1.weight", 2, {1000, 1280, 0, 0}},
    {"densenet121", "features.conv0.weight", 4, {64, 3, 7, 7}},
    {"densenet121", "features.denseblock1.denselayer1.norm1.weight", 1, {64, 0, 0, 0}},
    {"densenet121", "features.denseblock1.denselayer6.conv1.weight", 4, {128, 224, 1, 1}},
    {"densenet121", "features.denseblock3.denselayer24.conv2.weight", 4, {32, 128, 3, 3}},
    {"densenet121", "features.transition1.conv.weight", 4, {128, 256, 1, 1}},
    {"densenet121", "features.norm5.running_var", 1, {1024, 0, 0, 0}},
    {"densenet121", "classifier.weight", 2, {1000, 1024, 0, 0}},
    {"resnext50_32x4d", "layer1.0.conv2.weight", 4, {128, 4, 3, 3}},
    {"resnext50_32x4d", "layer4.2.conv3.weight", 4, {2048, 1024, 1, 1}},
    {"se_resnet50", "layer1.0.se.fc1.weight", 4, {16, 256, 1, 1}},
    {"se_resnet50", "layer1.0.se.fc1.bias", 1, {16, 0, 0, 0}},
    {"se_resnet50", "layer4.2.se.fc2.weight", 4, {2048, 128, 1, 1}},
    {"se_resnet18", "layer1.1.se.fc1.weight", 4, {8, 64, 1, 1}},   /* make_divisible(64/16, 8) = 8 */
    {"vgg16_bn", "features.0.weight", 4, {64, 3, 3, 3}},
    {"vgg16_bn", "features.41.running_mean", 1, {512, 0, 0, 0}},
    {"vgg16_bn", "classifier.0.weight", 2, {4096, 25088, 0, 0}},
    {"vgg16_bn", "classifier.6.weight", 2, {1000, 4096, 0, 0}},
    {"alexnet", "features.0.weight", 4, {64, 3, 11, 11}},
    {"alexnet", "features.10.bias", 1, {256, 0, 0, 0}},
    {"alexnet", "classifier.1.weight", 2, {4096, 9216, 0, 0}},
    {"alexnet", "classifier.6.weight", 2, {1000, 4096, 0, 0}},
};

/* Checks every tv_shapes row of m's model (at least one). */
static void expect_tv_shapes(const fcl_model *m)
{
    int rows = 0;
    for (size_t i = 0; i < sizeof tv_shapes / sizeof tv_shapes[0]; i++) {
        const struct tv_shape *t = &tv_shapes[i];
        if (strcmp(t->model, m->name) != 0) continue;
        expect_shape(m, t->name, t->ndim, t->d[0], t->d[1], t->d[2], t->d[3]);
        rows++;
    }
    cr_assert_gt(rows, 0, "no tv_shapes rows for %s", m->name);
}

/* Structural invariants every built model must satisfy. */
static void check_invariants(const fcl_model *m, const fcl_model_opts *o)
{
    int64_t trainable = 0, buffers = 0;
    int tensors = 0;
    double flops = 0;
    cr_assert_gt(m->n_layers, 0);
    for (int i = 0; i < m->n_layers; i++) {
        const fcl_layer *L = &m->layers[i];
        cr_assert_geq(L->n_inputs, 1);
        for (int j = 0; j < L->n_inputs; j++) {
            cr_assert_lt(L->inputs[j], i, "%s layer %d: input %d is not earlier", m->name, i, L->inputs[j]);
            cr_assert_geq(L->inputs[j], -1);
        }
        cr_assert_gt(L->out_c, 0);
        cr_assert_gt(L->out_h, 0);
        cr_assert_gt(L->out_w, 0);
        if (L->kind == FCL_LAYER_CONV) {
            cr_assert_eq(L->conv.cin, L->in_c);
            if (L->inputs[0] == -1) cr_assert_eq(L->conv.cin, m->channels);
            cr_assert_eq(L->conv.cin % L->conv.groups, 0);
        }
        for (int j = 0; j < L->n_params; j++) {
            const fcl_param_info *p = &L->params[j];
            int64_t n = 1;
            for (int d = 0; d < p->ndim; d++) n *= p->shape[d];
            cr_assert_eq(n, p->numel);
            cr_assert_eq(strncmp(p->name, L->name, strlen(L->name)), 0);
            if (p->trainable) trainable += p->numel;
            else buffers += p->numel;
            cr_assert(!p->decay || (p->kind == FCL_PARAM_WEIGHT && (L->kind == FCL_LAYER_CONV || L->kind == FCL_LAYER_LINEAR)));
            cr_assert_eq(p->is_int64, p->kind == FCL_PARAM_NUM_BATCHES);
            int idx = -1;
            cr_assert_eq(fcl_model_find_param(m, p->name, &idx), p, "%s: %s not unique", m->name, p->name);
            cr_assert_eq(idx, i);
        }
        tensors += L->n_params;
        flops += L->flops;
    }
    cr_assert_eq(trainable, m->n_trainable);
    cr_assert_eq(buffers, m->n_buffer);
    cr_assert_eq(tensors, m->n_tensors);
    cr_assert_float_eq(flops, m->flops, 1e-6 * flops + 1);
    cr_assert_eq(m->output_layer, m->n_layers - 1);
    cr_assert_geq(m->embedding_layer, 0);
    cr_assert(m->layers[m->embedding_layer].is_embedding);
    const fcl_layer *E = &m->layers[m->embedding_layer];
    cr_assert_eq(m->embedding_dim, E->out_c * E->out_h * E->out_w);
    if (o->classes == 0) {
        cr_assert_eq(m->classifier_layer, -1);
        cr_assert_eq(m->embedding_layer, m->output_layer, "%s: embedding-only net ends at the embedding", m->name);
    } else {
        cr_assert_eq(m->classifier_layer, m->output_layer);
        const fcl_layer *C = &m->layers[m->classifier_layer];
        cr_assert(C->is_classifier);
        cr_assert_eq(C->kind, FCL_LAYER_LINEAR);
        cr_assert_eq(C->linear.out, o->classes);
        cr_assert_eq(C->linear.in, m->embedding_dim);
    }
    if (o->embedding > 0) {
        cr_assert_eq(m->embedding_dim, o->embedding);
        cr_assert_eq(E->kind, FCL_LAYER_BN);
        cr_assert_str_eq(E->name, "embedding.1");
        const fcl_param_info *w = param(m, "embedding.0.weight");
        cr_assert_eq(w->shape[0], o->embedding);
        param(m, "embedding.1.running_var");
    } else {
        cr_assert_null(fcl_model_find_param(m, "embedding.0.weight", NULL));
    }
    cr_assert_eq(m->channels, o->channels);
    cr_assert_eq(m->in_h, o->size);
    cr_assert_str_eq(m->stem, o->stem);
}

Test(model, every_shipped_model_under_many_options)
{
    static const int channels[] = {1, 3}, sizes[] = {32, 64, 112, 224}, classes[] = {0, 10, 1000},
                     embeddings[] = {0, 128};
    static const char *const stems[] = {"face", "imagenet"};
    int built = 0, refused = 0;
    for (const char *const *name = shipped; *name; name++) {
        char path[512];
        snprintf(path, sizeof path, MODELS "%s.model", *name);
        for (int a = 0; a < 2; a++)
            for (int b = 0; b < 4; b++)
                for (int c = 0; c < 3; c++)
                    for (int d = 0; d < 2; d++)
                        for (int e = 0; e < 2; e++) {
                            fcl_model_opts o;
                            fcl_model_opts_init(&o);
                            o.channels = channels[a];
                            o.size = sizes[b];
                            o.classes = classes[c];
                            o.embedding = embeddings[d];
                            o.stem = stems[e];
                            fcl_model *m = NULL;
                            fcl_error err = {0};
                            fcl_status st = fcl_model_load_file(path, &o, &m, &err);
                            /* AlexNet's 11x11/4 stem and three 3x3/2 pools need 63 px */
                            if (!strcmp(*name, "alexnet") && e == 1 && sizes[b] < 63) {
                                cr_assert_eq(st, FCL_ERR_SHAPE, "alexnet at %d px: %s", sizes[b], err.msg);
                                cr_assert_not_null(strstr(err.msg, "spatial size shrinks to 0"), "%s", err.msg);
                                cr_assert_null(m);
                                refused++;
                                continue;
                            }
                            cr_assert_eq(st, FCL_OK, "%s c%d s%d k%d e%d %s: %s", *name, o.channels, o.size,
                                         o.classes, o.embedding, o.stem, err.msg);
                            check_invariants(m, &o);
                            fcl_model_free(m);
                            built++;
                        }
    }
    cr_assert_eq(built + refused, (int)(sizeof shipped / sizeof shipped[0] - 1) * 96);
    cr_assert_eq(refused, 2 * 3 * 2);   /* alexnet, imagenet stem, 32 px: channels x classes x embedding */
}

Test(model, torchvision_parameter_counts)
{
    /* sum(p.numel() for p in torchvision.models.X().parameters()); SE-ResNet: timm's seresnet
     * (tools/check_model_names.py rebuilds it on torchvision's ResNet) */
    static const struct {
        const char *name;
        int64_t params;
        int entries;
    } tv[] = {{"resnet18", 11689512, 122},      {"resnet34", 21797672, 218},
              {"resnet50", 25557032, 320},      {"resnet101", 44549160, 626},
              {"resnext50_32x4d", 25028904, 320}, {"mobilenet_v2", 3504872, 314},
              {"vgg11_bn", 132868840, 62},      {"vgg16_bn", 138365992, 97},
              {"densenet121", 7978856, 727},    {"alexnet", 61100840, 16},
              {"se_resnet50", 28088024, 384},   {"se_resnet18", 11779624, 154}};
    for (size_t i = 0; i < sizeof tv / sizeof tv[0]; i++) {
        fcl_model *m = load_tv(tv[i].name);
        cr_assert_eq(m->n_trainable, tv[i].params, "%s: %lld parameters, torchvision %lld", tv[i].name,
                     (long long)m->n_trainable, (long long)tv[i].params);
        cr_assert_eq(m->n_tensors, tv[i].entries, "%s: %d state_dict entries, torchvision %d", tv[i].name,
                     m->n_tensors, tv[i].entries);
        fcl_model_free(m);
    }
}

/* The issue-12 networks at their reference settings (tools/check_model_names.py checks names,
 * shapes and order against PyTorch): torchvision's RegNets, EfficientNet-B0 and ConvNeXt-Tiny, the paper's MobileNetV1 at 224 px and
 * 1000 classes; insightface's IResNet / MobileFaceNet at 112 px without a classifier (their
 * files' defaults). */
Test(model, issue12_parameter_counts)
{
    static const struct {
        const char *name;
        int64_t params;
        int entries;
        int size, classes;
    } ref[] = {{"mobilenet_v1", 4231976, 164, 224, 1000},   {"regnet_x_400mf", 5495976, 428, 224, 1000},
               {"regnet_y_400mf", 4344144, 384, 224, 1000}, {"iresnet50", 43590848, 475, 112, 0},
               {"iresnet100", 65156160, 925, 112, 0},       {"mobilefacenet", 2059520, 333, 112, 0},
               {"efficientnet_b0", 5288548, 360, 224, 1000}, {"convnext_tiny", 28589128, 182, 224, 1000},
               {"resnest50d", 27483240, 476, 224, 1000}, {"nfnet_f0", 71489272, 221, 224, 1000}};
    for (size_t i = 0; i < sizeof ref / sizeof ref[0]; i++) {
        fcl_model_opts o;
        fcl_model_opts_init(&o);
        o.channels = 3;
        o.size = ref[i].size;
        o.classes = ref[i].classes;
        fcl_model *m = load(ref[i].name, &o);
        cr_assert_eq(m->n_trainable, ref[i].params, "%s: %lld parameters, reference %lld", ref[i].name,
                     (long long)m->n_trainable, (long long)ref[i].params);
        cr_assert_eq(m->n_tensors, ref[i].entries, "%s: %d state_dict entries, reference %d", ref[i].name,
                     m->n_tensors, ref[i].entries);
        fcl_model_free(m);
    }
    /* insightface freezes features.weight: a parameter (counted, saved) that is never updated */
    fcl_model *m = load("iresnet50", NULL);
    const fcl_param_info *fw = param(m, "features.weight");
    cr_assert(fw->trainable && fw->fixed);
    cr_assert(!param(m, "features.bias")->fixed);
    cr_assert_eq(m->classifier_layer, -1);
    cr_assert_eq(m->embedding_dim, 512);
    fcl_model_free(m);
    /* NFNet's weight-standardised convs: weight, bias, then the gain [out, 1, 1, 1] (timm's order);
     * conv3's gain starts at 0; gamma / sqrt(fan-in) is the standardisation's scale */
    m = load("nfnet_f0", NULL);
    int li = -1;
    const fcl_param_info *g = fcl_model_find_param(m, "stages.1.0.conv2.gain", &li);
    cr_assert_not_null(g);
    cr_assert_eq(g->kind, FCL_PARAM_GAIN);
    cr_assert(g->ndim == 4 && g->shape[0] == 256 && g->shape[1] == 1 && g->trainable && !g->decay);
    const fcl_layer *L = &m->layers[li];
    cr_assert(L->conv.ws && L->conv.groups == 2 && L->n_params == 3 && L->params[2].kind == FCL_PARAM_GAIN);
    cr_assert_float_eq(L->conv.ws_scale, 1.7015043497085571 / sqrt(128.0 * 9), 1e-7);
    cr_assert_float_eq(L->conv.ws_eps, 1e-5, 1e-12);
    cr_assert_float_eq(L->conv.gain_init, 1.0, 0);
    fcl_model_find_param(m, "stages.1.0.conv3.gain", &li);
    cr_assert_float_eq(m->layers[li].conv.gain_init, 0.0, 0);
    cr_assert_not_null(fcl_model_find_param(m, "head.fc.weight", NULL));
    fcl_model_free(m);
}

Test(model, mobilenet_width_multiplier)
{
    static const struct {
        double width;
        int64_t params;
    } tv[] = {{0.5, 1968680}, {0.75, 2636424}, {1.4, 6108776}, {0.35, 1677128}};
    for (size_t i = 0; i < sizeof tv / sizeof tv[0]; i++) {
        fcl_model_opts o;
        fcl_model_opts_init(&o);
        o.width = tv[i].width;
        fcl_model *m = load("mobilenet_v2", &o);
        cr_assert_eq(m->n_trainable, tv[i].params, "width %g: %lld", tv[i].width, (long long)m->n_trainable);
        cr_assert_float_eq(m->width, tv[i].width, 1e-12);
        fcl_model_free(m);
    }
}

Test(model, resnet_width_multiplier)
{
    /* the narrow ResNet-18 of tools/torch_parity.py (width 0.125: 8-16-32-64 channels): 176,402
     * parameters, the same 122 state_dict entries as PyTorch's */
    fcl_model_opts o;
    fcl_model_opts_init(&o);
    o.width = 0.125;
    o.stem = "face";
    o.size = 32;
    o.classes = 10;
    fcl_model *m = load("resnet18", &o);
    cr_assert_eq(m->n_trainable, 176402, "%lld", (long long)m->n_trainable);
    cr_assert_eq(m->n_tensors, 122);
    expect_shape(m, "conv1.weight", 4, 8, 3, 3, 3);
    expect_shape(m, "layer2.0.downsample.0.weight", 4, 16, 8, 1, 1);
    expect_shape(m, "layer4.1.conv2.weight", 4, 64, 64, 3, 3);
    expect_shape(m, "fc.weight", 2, 10, 64, 0, 0);
    fcl_model_free(m);
    /* bottlenecks scale too; models without a width multiplier refuse one */
    o.width = 0.5;
    m = load("resnet50", &o);
    expect_shape(m, "layer1.0.conv3.weight", 4, 128, 32, 1, 1);
    expect_shape(m, "fc.weight", 2, 10, 1024, 0, 0);
    fcl_model_free(m);
    static const char *const fixed[] = {"vgg11_bn", "vgg16_bn", "alexnet", "densenet121"};
    for (int i = 0; i < 4; i++) {
        char path[512];
        fcl_error err = {0};
        snprintf(path, sizeof path, MODELS "%s.model", fixed[i]);
        cr_assert_eq(fcl_model_load_file(path, &o, &m, &err), FCL_ERR_INVALID_ARG, "%s", fixed[i]);
        cr_assert_not_null(strstr(err.msg, "has no width multiplier (width must be 1, not 0.5)"), "%s", err.msg);
    }
}

Test(model, resnet18_names_shapes_and_order)
{
    fcl_model *m = load_tv("resnet18");
    expect_tv_shapes(m);
    cr_assert_null(fcl_model_find_param(m, "layer1.0.downsample.0.weight", NULL));
    cr_assert_null(fcl_model_find_param(m, "conv1.bias", NULL));
    /* torch's state_dict order */
    static const char *const first[] = {"conv1.weight", "bn1.weight", "bn1.bias", "bn1.running_mean",
                                        "bn1.running_var", "bn1.num_batches_tracked", "layer1.0.conv1.weight"};
    int k = 0;
    for (int i = 0; i < m->n_layers && k < 7; i++)
        for (int j = 0; j < m->layers[i].n_params && k < 7; j++, k++)
            cr_assert_str_eq(m->layers[i].params[j].name, first[k]);
    /* flags: decay on conv/linear weights only; BN stats are buffers; num_batches is int64 */
    cr_assert(param(m, "conv1.weight")->decay && param(m, "conv1.weight")->trainable);
    cr_assert(!param(m, "bn1.weight")->decay && param(m, "bn1.weight")->trainable);
    cr_assert(!param(m, "fc.bias")->decay && param(m, "fc.bias")->trainable);
    cr_assert(param(m, "fc.weight")->decay);
    cr_assert(!param(m, "bn1.running_var")->trainable);
    cr_assert_eq(param(m, "bn1.running_var")->kind, FCL_PARAM_RUNNING_VAR);
    cr_assert(param(m, "bn1.num_batches_tracked")->is_int64);
    cr_assert_eq(param(m, "bn1.num_batches_tracked")->numel, 1);
    /* 20 BNs: 2 x 4800 running stats + 20 counters */
    cr_assert_eq(m->n_buffer, 9620);
    /* the graph: the embedding is the flattened pooled features, the classifier is fc */
    const fcl_layer *E = &m->layers[m->embedding_layer], *C = &m->layers[m->classifier_layer];
    cr_assert_eq(E->kind, FCL_LAYER_FLATTEN);
    cr_assert_eq(m->embedding_dim, 512);
    cr_assert_str_eq(C->name, "fc");
    cr_assert_eq(m->layers[0].kind, FCL_LAYER_CONV);
    cr_assert_eq(m->layers[0].inputs[0], -1);
    cr_assert_eq(m->layers[0].out_h, 112);
    cr_assert_eq(m->layers[3].kind, FCL_LAYER_MAXPOOL);
    cr_assert_eq(m->layers[3].out_h, 56);
    int adds = 0;
    for (int i = 0; i < m->n_layers; i++) adds += m->layers[i].kind == FCL_LAYER_ADD;
    cr_assert_eq(adds, 8);
    fcl_model_free(m);
}

Test(model, other_torchvision_names)
{
    static const char *const models[] = {"mobilenet_v2", "densenet121", "resnext50_32x4d", "se_resnet50",
                                          "se_resnet18",  "vgg16_bn",    "alexnet"};
    for (int i = 0; i < 7; i++) {
        fcl_model *m = load_tv(models[i]);
        expect_tv_shapes(m);
        if (strcmp(models[i], "resnext50_32x4d") == 0) cr_assert_eq(m->layers[m->embedding_layer].out_c, 2048);
        if (strcmp(models[i], "vgg16_bn") == 0) cr_assert_eq(m->embedding_dim, 4096);
        fcl_model_free(m);
    }
}

Test(model, resnet18_flops)
{
    /* Convention: a multiply-add is 2 FLOPs. ResNet-18 at 224 has 1.814 G conv+linear
     * multiply-adds (torch forward hooks give 1,814,073,344: tools/check_model_names.py), the
     * "1.82 GFLOPs" usually quoted; as FLOPs that is 3.63 G, 3.64 G with BN/ReLU/pool/add. */
    fcl_model *m = load_tv("resnet18");
    cr_assert_eq((int64_t)m->macs, INT64_C(1814073344), "%.0f", m->macs);
    cr_assert_float_eq(m->flops / 1e9, 3.64, 0.01, "%.4f GFLOPs", m->flops / 1e9);
    /* one layer by hand: conv1 = 64 x 112 x 112 outputs x 3*7*7 multiply-adds */
    cr_assert_float_eq(m->layers[0].macs, 64.0 * 112 * 112 * 147, 0.5);
    cr_assert_float_eq(m->layers[0].flops, 2 * 64.0 * 112 * 112 * 147, 0.5);
    fcl_model_free(m);
}

Test(model, stems)
{
    fcl_model_opts o;
    fcl_model_opts_init(&o);
    o.stem = "face";
    o.size = 112;
    fcl_model *m = load("resnet18", &o);
    expect_shape(m, "conv1.weight", 4, 64, 3, 3, 3);
    cr_assert_eq(m->n_trainable, 11689512 - 64 * 3 * (49 - 9));
    for (int i = 0; i < m->n_layers; i++) cr_assert_neq(m->layers[i].kind, FCL_LAYER_MAXPOOL);
    cr_assert_eq(m->layers[m->embedding_layer - 1].in_h, 14);   /* 112 / 8 before the pool */
    fcl_model_free(m);

    /* MobileNetV2's face stem only changes a stride: same parameters */
    m = load("mobilenet_v2", &o);
    cr_assert_eq(m->n_trainable, 3504872);
    cr_assert_eq(m->layers[0].conv.stride_h, 1);
    fcl_model_free(m);

    /* VGG's face stem drops the first pool but keeps torchvision's indices */
    m = load("vgg11_bn", &o);
    cr_assert_eq(m->n_trainable, 132868840);
    expect_shape(m, "features.4.weight", 4, 128, 64, 3, 3);
    fcl_model_free(m);

    o.stem = "bogus";
    fcl_model *bad = NULL;
    fcl_error err = {0};
    cr_assert_eq(fcl_model_load_file(MODELS "resnet18.model", &o, &bad, &err), FCL_ERR_INVALID_ARG);
    cr_assert_not_null(strstr(err.msg, "stem must be imagenet or face, not bogus"), "%s", err.msg);
    cr_assert_null(bad);
}

Test(model, options_defaults_and_text)
{
    /* small.model sets its own defaults with `option` lines */
    fcl_model *m = load("small", NULL);
    cr_assert_eq(m->channels, 3);
    cr_assert_eq(m->in_h, 64);
    cr_assert_eq(m->in_w, 64);
    cr_assert_eq(m->classes, 10);
    cr_assert_eq(m->embedding, 64);
    cr_assert_str_eq(m->stem, "face");
    cr_assert_str_eq(m->name, "small");
    cr_assert_gt(m->n_trainable, 50000);
    cr_assert_lt(m->n_trainable, 200000);
    cr_assert_lt(m->flops, 0.2e9);
    FILE *f = fopen(MODELS "small.model", "rb");
    cr_assert_not_null(f);
    char buf[16384];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    cr_assert_str_eq(m->text, buf);
    fcl_model_free(m);

    /* the caller's options win over the file's; separate height and width */
    fcl_model_opts o;
    fcl_model_opts_init(&o);
    o.size_h = 48;
    o.size_w = 40;
    o.classes = 0;
    o.embedding = 0;
    o.channels = 1;
    m = load("small", &o);
    cr_assert_eq(m->in_h, 48);
    cr_assert_eq(m->in_w, 40);
    cr_assert_eq(m->classifier_layer, -1);
    cr_assert_eq(m->embedding_dim, 64);
    cr_assert_eq(m->layers[m->output_layer].kind, FCL_LAYER_FLATTEN);
    expect_shape(m, "conv1.weight", 4, 16, 1, 3, 3);
    fcl_model_free(m);

    /* bad caller options */
    fcl_model_opts_init(&o);
    o.channels = 70000;
    fcl_error err = {0};
    cr_assert_eq(fcl_model_load_file(MODELS "small.model", &o, &m, &err), FCL_ERR_INVALID_ARG);
    cr_assert_not_null(strstr(err.msg, "channels"), "%s", err.msg);
}

/* ---- the language ---------------------------------------------------------------------------- */

static fcl_model *parse_ok(const char *text) { return fcl_test_parse_model(text, "t.model", NULL); }

/* The value of an expression, as `error "{EXPR}"` prints it. */
static void expect_value(const char *expr, const char *want)
{
    char text[512];
    snprintf(text, sizeof text, "let l = [3, 1, 4, 1, 5]\nlet s = \"face\"\nlet v = %s\nerror \"{v}\"\n", expr);
    fcl_model *m = NULL;
    fcl_error err = {0};
    cr_assert_eq(fcl_model_parse(text, "x.model", NULL, &m, &err), FCL_ERR_INVALID_ARG, "%s: %s", expr, err.msg);
    const char *v = strstr(err.msg, "x.model:4: ");
    cr_assert_not_null(v, "%s", err.msg);
    cr_assert_str_eq(v + strlen("x.model:4: "), want, "%s", expr);
}

Test(model_lang, expressions)
{
    expect_value("1 + 2 * 3", "7");
    expect_value("(1 + 2) * 3", "9");
    expect_value("7 // 2", "3");
    expect_value("-7 // 2", "-4");
    expect_value("-7 % 3", "2");
    expect_value("7 / 2", "3.5");
    expect_value("2 ** 3 ** 2", "512");
    expect_value("-2 ** 2", "-4");
    expect_value("3 > 2 && 1 == 1", "1");
    expect_value("!(3 > 2) || 0", "0");
    expect_value("1 ? 10 : 20", "10");
    expect_value("0 ? 10 : 1 ? 30 : 40", "30");
    expect_value("l[2] + len(l)", "9");
    expect_value("min(l)", "1");
    expect_value("max(2, 9, 4)", "9");
    expect_value("len(range(2, 10, 3))", "3");
    expect_value("range(3)", "[0, 1, 2]");
    expect_value("s == \"face\"", "1");
    expect_value("s != \"face\"", "0");
    expect_value("round(2.5) + round(3.5) + round(-0.5)", "6");   /* Python: 2 + 4 + 0 */
    expect_value("int(-2.7) + floor(-2.7) + ceil(2.1)", "-2");
    expect_value("make_divisible(32 * 0.75, 8)", "24");
    expect_value("make_divisible(1280 * 1.4, 8)", "1792");
    expect_value("make_divisible(4, 8, 8, 0)", "8");
    expect_value("make_divisible(27, 8)", "32");
    expect_value("make_divisible(20, 8)", "24");
    expect_value("0 && l[99]", "0");                                  /* short-circuit */
    expect_value("1 || l[99]", "1");
    expect_value("channels * 1000 + size", "3224");                   /* run-time options */
    expect_value("classes + embedding + width", "1001");
    expect_value("stem", "imagenet");
}

Test(model_lang, blocks_loops_refs_and_names)
{
    const char *text =
        "# comment line\n"
        "option size = 16\n"
        "option classes = 5\n"
        "block unit ch k=3 s=1\n"
        "    conv conv out=ch k=k s=s p=k//2 bias=0\n"
        "    bn bn\n"
        "    relu\n"
        "end\n"
        "block pair ch\n"
        "    unit a ch=ch\n"
        "    unit b ch=ch as=bb\n"
        "    add from=@in,@bb,@a\n"
        "end\n"
        "conv stem out=4 k=3 p=1      # trailing comment\n"
        "let widths = [4,\n"
        "              4]\n"
        "for i in range(len(widths))\n"
        "    pair stage{i + 1}.{i * 10} ch=widths[i]\n"
        "end\n"
        "concat from=@stage1.0,@stage2.10,@stem\n"
        "gap\n"
        "embedding\n"
        "dropout p=0.25\n"
        "classifier head\n";
    fcl_model *m = parse_ok(text);
    expect_shape(m, "stage1.0.a.conv.weight", 4, 4, 4, 3, 3);
    expect_shape(m, "stage2.10.b.bn.running_mean", 1, 4, 0, 0, 0);
    expect_shape(m, "head.weight", 2, 5, 12, 0, 0);
    const fcl_param_info *p = param(m, "stage1.0.b.conv.weight");
    int li = -1;
    fcl_model_find_param(m, p->name, &li);
    cr_assert_eq(m->layers[li].line, 5);               /* the line inside the block */
    cr_assert_str_eq(m->layers[li].scope, "stage1.0.b");
    /* the add of stage1.0: three inputs, the block input first */
    int add = -1;
    for (int i = 0; i < m->n_layers && add < 0; i++)
        if (m->layers[i].kind == FCL_LAYER_ADD) add = i;
    cr_assert_eq(m->layers[add].n_inputs, 3);
    cr_assert_eq(m->layers[add].inputs[0], 0);          /* @in = the stem conv */
    cr_assert_str_eq(m->layers[add].name, "");
    cr_assert_str_eq(m->layers[add].scope, "stage1.0");
    const fcl_layer *cat = &m->layers[m->n_layers - 4];
    cr_assert_eq(cat->kind, FCL_LAYER_CONCAT);
    cr_assert_eq(cat->out_c, 12);
    cr_assert_eq(cat->inputs[2], 0);
    cr_assert_eq(m->layers[m->n_layers - 2].kind, FCL_LAYER_DROPOUT);
    cr_assert_float_eq(m->layers[m->n_layers - 2].dropout.p, 0.25f, 1e-7);
    cr_assert_eq(m->in_h, 16);
    fcl_model_free(m);
}

Test(model_lang, all_layer_kinds)
{
    const char *text =
        "option channels = 2\n"
        "option size = 20\n"
        "conv c1 out=6 kh=3 kw=5 sh=1 sw=2 ph=1 pw=2 d=1 groups=2 bias=1\n"
        "prelu act1\n"
        "leaky slope=0.2\n"
        "conv c2 out=6 k=3 p=2 d=2 groups=6 bias=0\n"
        "bn n2 eps=0.001 momentum=0.01 affine=0\n"
        "relu6\n"
        "silu\n"
        "hardswish as=h\n"
        "gap\n"
        "conv se out=6 k=1\n"
        "sigmoid\n"
        "channel_mul from=@h,@prev\n"
        "tanh\n"
        "hardsigmoid\n"
        "avgpool k=3 s=2 p=1 ceil=1 count_include_pad=0\n"
        "maxpool k=2 ceil=1\n"
        "adaptive_avgpool oh=3 ow=2\n"
        "flatten\n"
        "linear fc1 out=7 bias=0\n"
        "prelu p2 shared=1 init=0.1\n"
        "embedding emb bias=1\n"
        "classifier cls bias=0\n";
    fcl_model *m = fcl_test_parse_model_head(text, "k.model", 4, 3);
    const fcl_layer *L = m->layers;
    cr_assert_eq(L[0].out_h, 20);
    cr_assert_eq(L[0].out_w, 10);                       /* (20 + 4 - 5) / 2 + 1 */
    expect_shape(m, "c1.weight", 4, 6, 1, 3, 5);
    expect_shape(m, "act1.weight", 1, 6, 0, 0, 0);
    cr_assert_eq(L[2].act.kind, FCL_ACT_LEAKY_RELU);
    cr_assert_float_eq(L[2].act.slope, 0.2f, 1e-7);
    cr_assert_eq(L[3].conv.groups, 6);
    cr_assert_eq(L[3].out_h, 20);
    cr_assert_eq(L[4].n_params, 3);                     /* affine=0: running stats only */
    cr_assert_float_eq(L[4].bn.eps, 0.001f, 1e-9);
    cr_assert_eq(L[11].kind, FCL_LAYER_CHANNEL_MUL);
    cr_assert_eq(L[11].inputs[0], 7);
    cr_assert_eq(L[11].inputs[1], 10);
    cr_assert_eq(L[12].act.kind, FCL_ACT_TANH);
    cr_assert_eq(L[13].act.kind, FCL_ACT_HARDSIGMOID);
    cr_assert_eq(L[14].kind, FCL_LAYER_AVGPOOL);
    cr_assert_eq(L[14].out_h, 11);                      /* ceil((20 + 2 - 3) / 2) + 1 */
    cr_assert_eq(L[14].out_w, 6);                       /* ceil((10 + 2 - 3) / 2) + 1 */
    cr_assert_eq(L[14].pool.count_include_pad, 0);
    cr_assert_eq(L[14].pool.ceil_mode, 1);
    cr_assert_eq(L[15].out_h, 6);                       /* ceil mode: ceil((11 - 2) / 2) + 1 */
    cr_assert_eq(L[15].out_w, 3);
    cr_assert_eq(L[15].pool.sh, 2);                     /* stride defaults to the window */
    cr_assert_eq(L[16].out_h, 3);
    cr_assert_eq(L[16].out_w, 2);
    cr_assert_eq(L[17].out_c, 36);
    expect_shape(m, "fc1.weight", 2, 7, 36, 0, 0);
    expect_shape(m, "p2.weight", 1, 1, 0, 0, 0);
    cr_assert_float_eq(L[19].prelu.init, 0.1f, 1e-7);
    expect_shape(m, "emb.0.weight", 2, 3, 7, 0, 0);
    expect_shape(m, "emb.0.bias", 1, 3, 0, 0, 0);
    expect_shape(m, "emb.1.weight", 1, 3, 0, 0, 0);
    expect_shape(m, "cls.weight", 2, 4, 3, 0, 0);
    cr_assert_null(fcl_model_find_param(m, "cls.bias", NULL));
    cr_assert_eq(m->embedding_layer, 21);
    cr_assert_eq(m->classifier_layer, 22);
    cr_assert_eq(m->n_layers, 23);
    /* adaptive pool 6x3 -> 3x2: row windows 2,2,2; column windows [0,2) and [1,3): 2,2 */
    cr_assert_float_eq(L[16].flops, 6.0 * 6 * 4, 0.5);
    fcl_model_free(m);
}

Test(model_lang, pool_ceil_mode_last_window)
{
    /* PyTorch drops a last window that would start in the right padding: 5 px, k3 s3 p1 gives
     * 2 (not ceil((5 + 2 - 3) / 3) + 1 = 3); k1 s3 likewise (torch.nn.MaxPool2d agrees) */
    fcl_model *m = parse_ok("option size = 5\nmaxpool k=3 s=3 p=1 ceil=1 as=a\nmaxpool from=@in k=1 s=3 ceil=1\n"
                            "add from=@a,@prev\ngap\nembedding\nclassifier fc\n");
    cr_assert_eq(m->layers[0].out_h, 2);
    cr_assert_eq(m->layers[0].out_w, 2);
    cr_assert_eq(m->layers[1].out_h, 2);
    cr_assert_eq(m->layers[1].inputs[0], -1);
    cr_assert_eq(m->layers[2].n_inputs, 2);
    fcl_model_free(m);
}

/* ---- errors: each with file:line and a reason ------------------------------------------------ */

static void expect_error(const char *text, fcl_status status, int line, const char *reason)
{
    fcl_model *m = (fcl_model *)1;
    fcl_error err = {0};
    fcl_status st = fcl_model_parse(text, "bad.model", NULL, &m, &err);
    cr_assert_eq(st, status, "status %s, expected %s: %s\n---\n%s", fcl_status_name(st),
                 fcl_status_name(status), err.msg, text);
    cr_assert_null(m);
    char where[64];
    snprintf(where, sizeof where, "bad.model:%d: ", line);
    cr_assert_not_null(strstr(err.msg, where), "'%s' lacks '%s'", err.msg, where);
    cr_assert_not_null(strstr(err.msg, reason), "'%s' lacks '%s'", err.msg, reason);
}

#define TAIL "gap\nembedding\nclassifier fc\n"

/* The parse errors, one row a case: {group, model text, status, line, reason}; each model_errors
 * test below runs its group's rows through expect_error. */
static const struct err_case {
    const char *group, *text;
    fcl_status status;
    int line;
    const char *reason;
} err_cases[] = {
    {"keys", "conv c out=8 k=3\nconvv d out=8 k=3\n" TAIL, FCL_ERR_FORMAT, 2, "unknown layer type 'convv'"},
    {"keys", "conv c out=8 k=3 stride=2\n" TAIL, FCL_ERR_FORMAT, 1, "unknown key 'stride' for conv"},
    {"keys", "\n\nconv c out=8 k=2.5\n" TAIL, FCL_ERR_FORMAT, 3, "bad value for conv key 'k': 2.5 is not an integer"},
    {"keys", "conv c out=8 k=0\n" TAIL, FCL_ERR_FORMAT, 1, "bad value for conv key 'k': 0"},
    {"keys", "conv c out=\"x\" k=3\n" TAIL, FCL_ERR_FORMAT, 1, "bad value for conv key 'out'"},
    {"keys", "conv c out=8 k=3 bias=2\n" TAIL, FCL_ERR_FORMAT, 1, "bad value for conv key 'bias'"},
    {"keys", "conv c out=8 k=3 gamma=2\n" TAIL, FCL_ERR_FORMAT, 1, "gamma, ws_eps and gain_init need ws=1"},
    {"keys", "conv c out=8 k=3 ws=1 ws_eps=0\n" TAIL, FCL_ERR_FORMAT, 1, "gamma and ws_eps must be > 0"},
    {"keys", "conv c out=8 k=3\nbn n affine=0 weight_init=0\n" TAIL, FCL_ERR_FORMAT, 2, "bn: weight_init needs affine=1"},
    {"keys", "conv c out=8 k=3\nscale\n" TAIL, FCL_ERR_FORMAT, 2, "scale: missing required key 'by'"},
    {"keys", "conv c out=8 k=3\ndropout p=1\n" TAIL, FCL_ERR_FORMAT, 2, "bad value for dropout key 'p'"},
    {"keys", "conv c out=8 k=3\nmaxpool k=2 p=2\n" TAIL, FCL_ERR_FORMAT, 2, "more than half the window"},
    {"keys", "option channels = \"x\"\n" TAIL, FCL_ERR_FORMAT, 1, "bad value for option 'channels'"},
    {"keys", "option classes = -1\n" TAIL, FCL_ERR_FORMAT, 1, "bad value for option 'classes'"},
    {"keys", "option colour = 1\n" TAIL, FCL_ERR_FORMAT, 1, "unknown option 'colour'"},
    {"keys", "let x = 1 +\n" TAIL, FCL_ERR_FORMAT, 1, "expression ends too early"},
    {"keys", "let x = (1\n\n" TAIL, FCL_ERR_FORMAT, 1, "expected ')'"},
    {"keys", "let x = y * 2\n" TAIL, FCL_ERR_FORMAT, 1, "undefined variable 'y'"},
    {"keys", "let x = foo(2)\n" TAIL, FCL_ERR_FORMAT, 1, "unknown function 'foo'"},
    {"keys", "let l = [1, 2]\nlet x = l[2]\n" TAIL, FCL_ERR_FORMAT, 2, "index 2 out of range"},
    {"keys", "let x = 1 / 0\n" TAIL, FCL_ERR_FORMAT, 1, "division by zero"},
    {"keys", "let x = \"a\" < \"b\"\n" TAIL, FCL_ERR_FORMAT, 1, "compares numbers"},
    {"keys", "let classes = 3\n" TAIL, FCL_ERR_FORMAT, 1, "'classes' is a run-time option"},
    {"keys", "for i in 3\nend\n" TAIL, FCL_ERR_FORMAT, 1, "needs a list"},
    {"keys", "conv c out = 8 k=3\n" TAIL, FCL_ERR_FORMAT, 1, "no spaces around '='"},
    {"keys", "conv c out=8 k=3 k=5\n" TAIL, FCL_ERR_FORMAT, 1, "key 'k' given twice"},
    {"keys", "conv c{\"a b\"} out=8 k=3\n" TAIL, FCL_ERR_FORMAT, 1, "bad name 'ca b'"},
    {"refs", "conv c out=8 k=3\nadd from=@prev,@nope\n" TAIL, FCL_ERR_FORMAT, 2, "undefined output '@nope'"},
    {"refs", "conv c out=8 k=3\nalias x = @missing\n" TAIL, FCL_ERR_FORMAT, 2, "undefined output '@missing'"},
    {"refs", "conv c out=8 k=3\nadd from=@prev\n" TAIL, FCL_ERR_FORMAT, 2, "add takes 2 to 8 inputs"},
    {"refs", "conv c out=8 k=3\nadd\n" TAIL, FCL_ERR_FORMAT, 2, "add takes 2 to 8 inputs"},
    {"refs", "conv c out=8 k=3\nrelu from=@c,@c\n" TAIL, FCL_ERR_FORMAT, 2, "relu takes 1 input"},
    {"refs", "conv c out=8 k=3\nadd from=c,@c\n" TAIL, FCL_ERR_FORMAT, 2, "not a reference"},
    /* names inside a block are not visible outside it */
    {"refs", "block b\n  conv inner out=8 k=1\nend\nb x\nrelu from=@inner\n" TAIL, FCL_ERR_FORMAT, 5, "undefined output '@inner'"},
    {"refs", "conv c out=8 k=3 as=in\n" TAIL, FCL_ERR_FORMAT, 1, "'in' is reserved"},
    {"shapes", "option size = 8\nconv a out=8 k=3 p=1\nconv b out=16 k=3 s=2 p=1\nadd from=@a,@b\n" TAIL, FCL_ERR_SHAPE, 4, "add: input shapes differ: [8,8,8] vs [16,4,4]"},
    {"shapes", "conv a out=8 k=3\nconv b out=12 k=3 groups=3\n" TAIL, FCL_ERR_SHAPE, 2, "groups=3 does not divide the input channels"},
    {"shapes", "conv a out=8 k=3 groups=3\n" TAIL, FCL_ERR_SHAPE, 1, "groups=3 does not divide the output channels (3 in, 8 out)"},
    {"shapes", "conv a out=8 k=3 groups=4\n" TAIL, FCL_ERR_SHAPE, 1, "groups=4 does not divide"},
    {"shapes", "option size = 8\nconv a out=8 k=3 s=2\nconv b out=8 k=3 s=2\nconv c out=8 k=3\n" TAIL, FCL_ERR_SHAPE, 4, "spatial size shrinks to 0: input 1x1, kernel 3x3"},
    {"shapes", "option size = 4\nmaxpool k=2\nmaxpool k=2\nmaxpool k=2\n" TAIL, FCL_ERR_SHAPE, 4, "maxpool: spatial size shrinks to 0"},
    {"shapes", "option size = 8\nconv a out=8 k=3 p=1\ngap\nconv s out=4 k=1\nchannel_mul from=@a,@s\n" TAIL, FCL_ERR_SHAPE, 5, "channel_mul: the scale must be [8,1,1]"},
    {"shapes", "option size = 8\nconv a out=8 k=3 p=1\nmaxpool k=2\nconcat from=@a,@prev\n" TAIL, FCL_ERR_SHAPE, 4, "concat: spatial sizes differ"},
    {"blocks", "block a\n  b x\nend\nblock b\n  a y\nend\na top\n" TAIL, FCL_ERR_FORMAT, 5, "recursion: block 'a' instantiates itself"},
    {"blocks", "block a\n  a y\nend\na top\n" TAIL, FCL_ERR_FORMAT, 2, "recursion"},
    {"blocks", "block u ch\n  conv c out=ch k=1\nend\nu x\n" TAIL, FCL_ERR_FORMAT, 4, "u: missing required key 'ch'"},
    {"blocks", "block u ch\n  conv c out=ch k=1\nend\nu x ch=4 depth=2\n" TAIL, FCL_ERR_FORMAT, 4, "unknown key 'depth' for block u"},
    /* an error inside a block names the line in the block and the instance */
    {"blocks", "conv c out=8 k=3\noption size = 4\n" TAIL, FCL_ERR_FORMAT, 2, "must come before the first layer"},
    {"blocks", "option size = 4\nblock u ch\n  conv c out=ch k=1\n  conv d out=ch k=9\nend\nu first ch=2\n" TAIL, FCL_ERR_SHAPE, 4, "(in block 'u' instance 'first' at line 6)"},
    {"blocks", "conv c k=3\n" TAIL, FCL_ERR_FORMAT, 1, "conv: missing required key 'out'"},
    {"blocks", "conv c out=3\n" TAIL, FCL_ERR_FORMAT, 1, "conv: missing required key 'k'"},
    {"blocks", "conv c out=3 kh=3\n" TAIL, FCL_ERR_FORMAT, 1, "conv: missing required key 'kw'"},
    {"blocks", "conv out=3 k=3\n" TAIL, FCL_ERR_FORMAT, 1, "conv: missing required NAME"},
    {"blocks", "maxpool s=2\n" TAIL, FCL_ERR_FORMAT, 1, "maxpool: missing required key 'k'"},
    {"blocks", "conv c out=8 k=3\nif 1\n  relu\n", FCL_ERR_FORMAT, 2, "`if` has no matching `end`"},
    {"blocks", "for i in range(2)\n  relu\n", FCL_ERR_FORMAT, 1, "`for` has no matching `end`"},
    {"blocks", "conv c out=8 k=3\nend\n", FCL_ERR_FORMAT, 2, "`end` without an open if/for/block"},
    {"blocks", "conv c out=8 k=3\nelse\n", FCL_ERR_FORMAT, 2, "`else` without an open"},
    {"blocks", "for i in range(2)\nelse\nend\n", FCL_ERR_FORMAT, 2, "`else` without `if`"},
    {"blocks", "if 1\nelse\nelse\nend\n", FCL_ERR_FORMAT, 3, "`else` after `else`"},
    {"blocks", "if 1\n  block b\n  end\nend\n", FCL_ERR_FORMAT, 2, "only at the top level"},
    {"blocks", "block relu\nend\n" TAIL, FCL_ERR_FORMAT, 1, "is a built-in layer type"},
    {"blocks", "block b\nend\nblock b\nend\n" TAIL, FCL_ERR_FORMAT, 3, "defined twice (first at line 1)"},
    {"blocks", "block b from\nend\n" TAIL, FCL_ERR_FORMAT, 1, "reserved"},
    {"blocks", "let = 3\n" TAIL, FCL_ERR_FORMAT, 1, "plain identifier"},
    {"blocks", "if 1\n  option size = 3\nend\n" TAIL, FCL_ERR_FORMAT, 2, "`option` only at the top level"},
    {"model", "conv c out=8 k=3\nconv c out=8 k=3\n" TAIL, FCL_ERR_FORMAT, 2, "duplicate layer name 'c' (also at line 1)"},
    {"model", "conv c out=8 k=3\ngap\nclassifier fc\n", FCL_ERR_FORMAT, 3, "`classifier` before `embedding`"},
    {"model", "conv c out=8 k=3\ngap\nembedding\n\n", FCL_ERR_FORMAT, 3, "missing required `classifier NAME` line"},
    {"model", "conv c out=8 k=3\ngap\n", FCL_ERR_FORMAT, 2, "missing required `embedding` line"},
    {"model", "conv c out=8 k=3\n" TAIL "relu\n", FCL_ERR_FORMAT, 5, "a layer after the classifier (line 4)"},
    {"model", "conv c out=8 k=3\ngap\nembedding\nembedding\nclassifier fc\n", FCL_ERR_FORMAT, 4, "a second `embedding`"},
    {"model", "embedding\nclassifier fc\n", FCL_ERR_FORMAT, 1, "the network input itself cannot be the embedding"},
    {"model", "conv c out=8 k=3\nconv d from=@in out=8 k=3\n" TAIL, FCL_ERR_FORMAT, 1, "the output of this conv c is never used"},
    {"model", "option stem = \"x\"\nif stem != \"face\"\n  error \"no stem {stem}, {1+1}\"\nend\n" TAIL, FCL_ERR_INVALID_ARG, 3, "no stem x, 2"},
    {"model", "conv c out=8 k=3\nlet x = \"a\nb\"\n" TAIL, FCL_ERR_FORMAT, 2, "unterminated string"},
};

static void expect_errors(const char *group)
{
    int rows = 0;
    for (size_t i = 0; i < sizeof err_cases / sizeof err_cases[0]; i++) {
        const struct err_case *c = &err_cases[i];
        if (strcmp(c->group, group) != 0) continue;
        expect_error(c->text, c->status, c->line, c->reason);
        rows++;
    }
    cr_assert_gt(rows, 0, "no err_cases rows for %s", group);
}

Test(model_errors, unknown_type_key_and_bad_values)
{
    expect_errors("keys");
}

Test(model_errors, references)
{
    expect_errors("refs");
}

Test(model_errors, shapes)
{
    expect_errors("shapes");
}

Test(model_errors, blocks_and_structure)
{
    expect_errors("blocks");
}

Test(model_errors, model_level)
{
    expect_errors("model");
}

Test(model_errors, limits)
{
    expect_error("for i in range(65536)\n  for j in range(65536)\n    let x = 1\n  end\nend\n" TAIL, FCL_ERR_FORMAT, 3,
                 "a runaway loop?");
    expect_error("let x = range(70000)\n" TAIL, FCL_ERR_FORMAT, 1, "range() longer than 65536");
    char text[1024];
    int k = snprintf(text, sizeof text, "let x = ");
    for (int i = 0; i < 150; i++) text[k++] = '(';
    text[k++] = '1';
    for (int i = 0; i < 150; i++) text[k++] = ')';
    snprintf(text + k, sizeof text - (size_t)k, "\n%s", TAIL);
    expect_error(text, FCL_ERR_FORMAT, 1, "expression nested too deeply");
    k = snprintf(text, sizeof text, "\nlet x = ");
    for (int i = 0; i < 150; i++) text[k++] = '-';
    snprintf(text + k, sizeof text - (size_t)k, "1\n%s", TAIL);
    expect_error(text, FCL_ERR_FORMAT, 2, "expression nested too deeply");
    expect_error("conv c out=16777216 k=1024 p=512\n" TAIL, FCL_ERR_SHAPE, 1, "parameter 'c.weight' would have");
    expect_error("conv c out=65536 k=1 p=100\n" TAIL, FCL_ERR_SHAPE, 1, "output of 11781799936 elements per image is too large");
}

Test(model_errors, files_and_lookup)
{
    fcl_model *m = (fcl_model *)1;
    fcl_error err = {0};
    cr_assert_eq(fcl_model_load_file("/nonexistent/x.model", NULL, &m, &err), FCL_ERR_IO);
    cr_assert_null(m);
    cr_assert_not_null(strstr(err.msg, "/nonexistent/x.model: cannot open"), "%s", err.msg);

    char path[4096];
    cr_assert_eq(fcl_model_find(MODELS "resnet18.model", NULL, path, sizeof path, &err), FCL_OK, "%s", err.msg);
    cr_assert_str_eq(path, MODELS "resnet18.model");
    cr_assert_eq(setenv("FACECL_MODELS", "/nonexistent:" FACECL_SOURCE_DIR "/models", 1), 0);
    cr_assert_eq(fcl_model_find("densenet121", NULL, path, sizeof path, &err), FCL_OK, "%s", err.msg);
    cr_assert_str_eq(path, FACECL_SOURCE_DIR "/models/densenet121.model");
    cr_assert_eq(setenv("FACECL_MODELS", "/nonexistent", 1), 0);
    cr_assert_eq(chdir("/"), 0);
    cr_assert_eq(fcl_model_find("densenet121", FACECL_SOURCE_DIR "/models", path, sizeof path, &err), FCL_OK,
                 "%s", err.msg);
    cr_assert_eq(fcl_model_find("nosuchnet", "/also/not", path, sizeof path, &err), FCL_ERR_IO);
    cr_assert_not_null(strstr(err.msg, "model 'nosuchnet' not found"), "%s", err.msg);
    cr_assert_not_null(strstr(err.msg, "/also/not"), "%s", err.msg);
    cr_assert_eq(fcl_model_find("./nosuch.model", NULL, path, sizeof path, &err), FCL_ERR_IO);

    /* a file with a NUL byte is refused */
    char tmp[] = "/tmp/facecl-model-XXXXXX";
    int fd = mkstemp(tmp);
    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, "conv\0x", 6), 6);
    close(fd);
    cr_assert_eq(fcl_model_load_file(tmp, NULL, &m, &err), FCL_ERR_FORMAT);
    unlink(tmp);
}
