/* tools/cmd_model.c: `facecl model show|list`: print a model file's layers, output shapes, parameter counts and FLOPs. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "options.h"

#ifndef FACECL_MODELS_DIR
#define FACECL_MODELS_DIR ""
#endif

static void usage(FILE *f)
{
    fprintf(f,
            "usage: facecl model show MODEL [--classes N] [--channels C] [--size S | --height H --width-px W]\n"
            "                         [--embedding E] [--width W] [--stem imagenet|face] [--names]\n"
            "       facecl model list\n\n"
            "show prints the network a model file describes for the given options: every layer with\n"
            "its settings, output shape (per image), parameter count and FLOPs, then the totals.\n"
            "MODEL is a file, or a name looked up as NAME.model in $FACECL_MODELS (':'-separated),\n"
            "./models, then %s.\n\n"
            "  --classes N     classifier outputs (0: no classifier; the embedding is the output)\n"
            "  --channels C    input channels (1 grey, 3 RGB)\n"
            "  --size S        input height and width in pixels (--height / --width-px for each)\n"
            "  --embedding E   add an embedding head (linear to E + batchnorm) before the classifier\n"
            "  --width W       width multiplier (MobileNetV2)\n"
            "  --stem S        imagenet (7x7/2 conv + max pool) or face (3x3/1 conv, no pool)\n"
            "  --names         print only the state_dict: one `name [shape]` line per entry\n"
            "  --device SEL    accepted for uniformity; no device is used\n"
            "Defaults are the model file's `option` lines, else 3 channels, 224 px, 1000 classes,\n"
            "no embedding head, width 1, stem imagenet (torchvision's models).\n",
            *FACECL_MODELS_DIR ? FACECL_MODELS_DIR : "(no install folder)");
}

/* 11689512 -> "11,689,512" */
static const char *commas(long long v, char *buf, size_t n)
{
    char tmp[32];
    snprintf(tmp, sizeof tmp, "%lld", v < 0 ? -v : v);
    size_t len = strlen(tmp), k = 0;
    if (v < 0 && k + 1 < n) buf[k++] = '-';
    for (size_t i = 0; i < len && k + 2 < n; i++) {
        if (i && (len - i) % 3 == 0) buf[k++] = ',';
        buf[k++] = tmp[i];
    }
    buf[k] = '\0';
    return buf;
}

/* 1.8e9 -> "1.82G" */
static const char *si(double v, char *buf, size_t n)
{
    if (v >= 1e9) snprintf(buf, n, "%.2fG", v / 1e9);
    else if (v >= 1e6) snprintf(buf, n, "%.2fM", v / 1e6);
    else if (v >= 1e3) snprintf(buf, n, "%.1fK", v / 1e3);
    else snprintf(buf, n, "%.0f", v);
    return buf;
}

static void layer_summary(const fcl_model *m, int i, char *b, size_t n)
{
    const fcl_layer *L = &m->layers[i];
    size_t k = 0;
#define PUT(...)                                                                 \
    do {                                                                         \
        if (k < n) {                                                             \
            int r_ = snprintf(b + k, n - k, __VA_ARGS__);                        \
            if (r_ > 0) k += (size_t)r_;                                         \
        }                                                                        \
    } while (0)
    b[0] = '\0';
    switch (L->kind) {
    case FCL_LAYER_CONV:
        PUT("%d->%d %dx%d", L->conv.cin, L->conv.cout, L->conv.kh, L->conv.kw);
        if (L->conv.stride_h != 1 || L->conv.stride_w != 1)
            PUT(L->conv.stride_h == L->conv.stride_w ? " s%d" : " s%dx%d", L->conv.stride_h, L->conv.stride_w);
        if (L->conv.pad_h || L->conv.pad_w)
            PUT(L->conv.pad_h == L->conv.pad_w ? " p%d" : " p%dx%d", L->conv.pad_h, L->conv.pad_w);
        if (L->conv.dil_h != 1 || L->conv.dil_w != 1) PUT(" d%dx%d", L->conv.dil_h, L->conv.dil_w);
        if (L->conv.groups != 1) PUT(" g%d", L->conv.groups);
        if (L->conv.bias) PUT(" +bias");
        if (L->conv.ws) PUT(" ws scale=%g eps=%g", (double)L->conv.ws_scale, (double)L->conv.ws_eps);
        break;
    case FCL_LAYER_BN:
        PUT("%d eps=%g%s", L->in_c, (double)L->bn.eps, L->bn.affine ? "" : " no-affine");
        if (L->bn.weight_init != 1.0f) PUT(" gamma0=%g", (double)L->bn.weight_init);
        break;
    case FCL_LAYER_ACT:
        PUT("%s", fcl_model_act_name(L->act.kind));
        if (L->act.kind == FCL_ACT_LEAKY_RELU) PUT(" %g", (double)L->act.slope);
        break;
    case FCL_LAYER_PRELU: PUT("%s slope%s", L->prelu.shared ? "1" : "per-channel", L->prelu.shared ? "" : "s"); break;
    case FCL_LAYER_MAXPOOL:
    case FCL_LAYER_AVGPOOL:
        PUT("%dx%d s%d p%d", L->pool.kh, L->pool.kw, L->pool.sh, L->pool.ph);
        if (L->pool.ceil_mode) PUT(" ceil");
        if (L->kind == FCL_LAYER_AVGPOOL && !L->pool.count_include_pad) PUT(" exclude-pad");
        break;
    case FCL_LAYER_ADAPTIVE_AVGPOOL: PUT("to %dx%d", L->adaptive.out_h, L->adaptive.out_w); break;
    case FCL_LAYER_LINEAR: PUT("%d->%d%s", L->linear.in, L->linear.out, L->linear.bias ? " +bias" : ""); break;
    case FCL_LAYER_DROPOUT: PUT("p=%g", (double)L->dropout.p); break;
    case FCL_LAYER_DROP_PATH: PUT("p=%g", (double)L->ext.p); break;
    case FCL_LAYER_LAYERNORM: PUT("%d eps=%g", L->in_c, (double)L->ext.eps); break;
    case FCL_LAYER_PARAM: PUT("%d init=%g", L->out_c, (double)L->ext.init); break;
    case FCL_LAYER_RADIX_SUM: PUT("radix %d", L->ext.radix); break;
    case FCL_LAYER_RSOFTMAX: PUT("radix %d cardinality %d", L->ext.radix, L->ext.cardinality); break;
    case FCL_LAYER_SCALE: PUT("x %g", (double)L->ext.scale); break;
    default: break;
    }
    int chained = L->n_inputs == 1 && L->inputs[0] == i - 1;
    if (!chained) {
        PUT("%sfrom ", *b ? " " : "");
        for (int j = 0; j < L->n_inputs; j++) {
            if (L->inputs[j] < 0) PUT("%sinput", j ? "," : "");
            else PUT("%s#%d", j ? "," : "", L->inputs[j]);
        }
    }
#undef PUT
}

static int show(const char *path, const fcl_model_opts *o, int names_only)
{
    fcl_error err = {0};
    fcl_model *m = NULL;
    if (fcl_model_load_file(path, o, &m, &err)) return tool_fail_err(&err);
    char b1[64], b2[64], b3[64];
    if (names_only) {
        for (int i = 0; i < m->n_layers; i++)
            for (int j = 0; j < m->layers[i].n_params; j++) {
                const fcl_param_info *p = &m->layers[i].params[j];
                printf("%s [", p->name);
                for (int d = 0; d < p->ndim; d++) printf("%s%d", d ? "," : "", p->shape[d]);
                printf("]\n");
            }
        fcl_model_free(m);
        return 0;
    }
    printf("model %s (%s)\n", m->name, m->source);
    printf("input %dx%dx%d (CxHxW), classes %d%s, embedding %d%s, stem %s, width %g\n\n", m->channels,
           m->in_h, m->in_w, m->classes, m->classes ? "" : " (no classifier)", m->embedding_dim,
           m->embedding ? " (embedding head)" : " (pooled features)", m->stem, m->width);
    printf("%5s  %-36s %-12s %-30s %-16s %12s %9s\n", "#", "name", "kind", "settings", "output", "params", "FLOPs");
    for (int i = 0; i < m->n_layers; i++) {
        const fcl_layer *L = &m->layers[i];
        char name[FCL_MODEL_NAME_MAX + 32], sum[160], shape[48], kind[32];
        if (*L->name) snprintf(name, sizeof name, "%s", L->name);
        else snprintf(name, sizeof name, "%s%s(%s)", L->scope, *L->scope ? "." : "",
                      L->kind == FCL_LAYER_ACT ? fcl_model_act_name(L->act.kind) : fcl_layer_kind_name(L->kind));
        snprintf(kind, sizeof kind, "%s", fcl_layer_kind_name(L->kind));
        layer_summary(m, i, sum, sizeof sum);
        snprintf(shape, sizeof shape, "%dx%dx%d", L->out_c, L->out_h, L->out_w);
        printf("%5d  %-36s %-12s %-30s %-16s %12s %9s%s%s\n", i, name, kind, sum, shape,
               L->n_trainable ? commas(L->n_trainable, b1, sizeof b1) : "", L->flops ? si(L->flops, b2, sizeof b2) : "",
               L->is_embedding ? "  <- embedding" : "", L->is_classifier ? "  <- classifier" : "");
    }
    printf("\nlayers %d, state_dict entries %d\n", m->n_layers, m->n_tensors);
    printf("trainable parameters  %s\n", commas(m->n_trainable, b1, sizeof b1));
    printf("buffers               %s (BN running mean/var and num_batches_tracked)\n",
           commas(m->n_buffer, b1, sizeof b1));
    printf("FLOPs per image       %s = %.3f GFLOPs (a multiply-add counts 2 FLOPs; conv+linear %s\n"
           "                      multiply-adds = %.3f GMACs; bn 2, activations/add/scale 1 per element,\n"
           "                      pools 1 per window element)\n",
           commas((long long)m->flops, b2, sizeof b2), m->flops / 1e9, commas((long long)m->macs, b3, sizeof b3),
           m->macs / 1e9);
    fcl_model_free(m);
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Prints the *.model files of one folder, sorted; returns how many (-1: out of memory). */
static int list_dir(const char *dir)
{
    DIR *dh = opendir(dir);
    if (!dh) return 0;
    char **names = NULL;
    int n = 0, cap = 0, rc = 0;
    struct dirent *e;
    while ((e = readdir(dh))) {
        size_t len = strlen(e->d_name);
        if (len <= 6 || strcmp(e->d_name + len - 6, ".model")) continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 32;
            char **nn = realloc(names, (size_t)cap * sizeof *nn);
            if (!nn) {
                rc = -1;
                goto done;
            }
            names = nn;
        }
        if (!(names[n] = strdup(e->d_name))) {
            rc = -1;
            goto done;
        }
        n++;
    }
    if (n) qsort(names, (size_t)n, sizeof *names, cmp_str);
    for (int i = 0; i < n; i++)
        printf("%-20.*s %s/%s\n", (int)(strlen(names[i]) - 6), names[i], dir, names[i]);
    rc = n;
done:
    for (int i = 0; i < n; i++) free(names[i]);
    free(names);
    closedir(dh);
    return rc;
}

static int list_models(void)
{
    const char *dirs[3] = {getenv("FACECL_MODELS"), "./models", tool_models_dir()};
    int found = 0;
    for (int d = 0; d < 3; d++) {
        if (!dirs[d] || !*dirs[d]) continue;
        char *copy = strdup(dirs[d]);
        if (!copy) return tool_fail("out of memory");
        for (char *save = NULL, *dir = strtok_r(copy, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
            int k = list_dir(dir);
            if (k < 0) {
                free(copy);
                return tool_fail("out of memory");
            }
            found += k;
        }
        free(copy);
    }
    if (!found) return tool_fail("no model files found ($FACECL_MODELS, ./models, %s)", FACECL_MODELS_DIR);
    return 0;
}

int fcl_cmd_model(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "list")) return list_models();
    if (strcmp(argv[1], "show")) {
        usage(stderr);
        return tool_usage_error("unknown model subcommand '%s' (show, list)", argv[1]);
    }
    fcl_model_opts o;
    fcl_model_opts_init(&o);
    const char *model = NULL, *v = NULL;
    int names = 0, bad = 0;
    /* the whole-number options and their ranges */
    const struct {
        const char *name;
        int *dst;
        long lo, hi;
    } ints[] = {{"--classes", &o.classes, 0, 1 << 24}, {"--channels", &o.channels, 1, 65536},
                {"--size", &o.size, 1, 65536},         {"--height", &o.size_h, 1, 65536},
                {"--width-px", &o.size_w, 1, 65536},   {"--embedding", &o.embedding, 0, 1 << 24}};
    for (int i = 2; i < argc && !bad; i++) {
        long n = 0;
        double d = 0;
        size_t k = 0;
        while (k < sizeof ints / sizeof ints[0] && !tool_opt(argc, argv, &i, ints[k].name, &v, &bad)) k++;
        if (k < sizeof ints / sizeof ints[0]) {
            if (!bad && (tool_parse_int(v, &n) || n < ints[k].lo || n > ints[k].hi))
                return tool_usage_error("model show: %s: bad value '%s'", ints[k].name, v);
            *ints[k].dst = (int)n;
            continue;
        }
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(argv[i], "--names")) {
            names = 1;
        } else if (tool_opt(argc, argv, &i, "--width", &v, &bad)) {
            if (!bad && (tool_parse_float(v, &d) || !(d > 0) || d > 64)) return tool_usage_error("model show: --width: bad value '%s'", v);
            o.width = d;
        } else if (tool_opt(argc, argv, &i, "--stem", &v, &bad)) {
            o.stem = v;
        } else if (tool_opt(argc, argv, &i, "--device", &v, &bad)) {
            /* accepted for uniformity: showing a model needs no device */
        } else if (argv[i][0] == '-' && argv[i][1]) {
            return tool_usage_error("unknown option '%s' (facecl model --help)", argv[i]);
        } else if (!model) {
            model = argv[i];
        } else {
            return tool_usage_error("one MODEL only (got '%s' and '%s')", model, argv[i]);
        }
    }
    if (bad) return 2;
    if (!model) {
        usage(stderr);
        return tool_usage_error("model show: which MODEL?");
    }
    char path[4096];
    fcl_error err = {0};
    if (fcl_model_find(model, tool_models_dir(), path, sizeof path, &err)) return tool_fail_err(&err);
    return show(path, &o, names);
}
