/* host/nn/model_layers.c: the built-in layer types of model files: keys, shape inference, state_dict entries, FLOPs. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/model_internal.h"

static const mp_type_info types[] = {
    {"conv", 2, 1, 1, "out k s p d groups bias kh kw sh sw ph pw dh dw linear_shape ws gamma ws_eps gain_init"},
    {"bn", 2, 1, 1, "eps momentum affine fixed_weight weight_init"},
    {"relu", 1, 1, 1, ""},
    {"relu6", 1, 1, 1, ""},
    {"leaky", 1, 1, 1, "slope"},
    {"sigmoid", 1, 1, 1, ""},
    {"tanh", 1, 1, 1, ""},
    {"silu", 1, 1, 1, ""},
    {"hardswish", 1, 1, 1, ""},
    {"hardsigmoid", 1, 1, 1, ""},
    {"prelu", 2, 1, 1, "shared init"},
    {"maxpool", 1, 1, 1, "k s p ceil kh kw sh sw ph pw"},
    {"avgpool", 1, 1, 1, "k s p ceil count_include_pad kh kw sh sw ph pw"},
    {"gap", 1, 1, 1, ""},
    {"adaptive_avgpool", 1, 1, 1, "out oh ow"},
    {"linear", 2, 1, 1, "out bias"},
    {"flatten", 1, 1, 1, ""},
    {"dropout", 1, 1, 1, "p"},
    {"add", 1, 2, FCL_LAYER_MAX_INPUTS, ""},
    {"channel_mul", 1, 2, 2, ""},
    {"concat", 1, 2, FCL_LAYER_MAX_INPUTS, ""},
    {"embedding", 1, 1, 1, "bias eps momentum"},
    {"classifier", 2, 1, 1, "bias"},
    {"drop_path", 1, 1, 1, "p"},           /* model_layers_ext.c */
    {"layernorm2d", 2, 1, 1, "eps"},
    {"param", 2, 1, 1, "shape init"},
    {"radix_sum", 1, 1, 2, "radix"},
    {"rsoftmax", 1, 1, 1, "radix cardinality"},
    {"scale", 1, 1, 1, "by"},
    {"gelu", 1, 1, 1, "approximate"},
    {NULL, 0, 0, 0, NULL}};

const mp_type_info *mp_type_find(const char *type)
{
    for (const mp_type_info *t = types; t->type; t++)
        if (!strcmp(t->type, type)) return t;
    return NULL;
}

/* ---- key=value access ----------------------------------------------------------------------- */


const char *mp_kv_find(const mp_kvs *k, const char *key)
{
    for (int i = 0; i < k->n; i++)
        if (!strcmp(k->keys[i], key)) return k->vals[i];
    return NULL;
}

/* An integer key: *out = its value, else def; required keys report "missing required key". */
fcl_status mp_kv_int(const mp_kvs *k, const char *key, long def, int required, long lo, long hi,
                         long *out)
{
    const char *v = mp_kv_find(k, key);
    if (!v) {
        if (required)
            return mp_fail(k->x, k->line, FCL_ERR_FORMAT, "%s: missing required key '%s'", k->type, key);
        *out = def;
        return FCL_OK;
    }
    char what[96];
    snprintf(what, sizeof what, "%s key '%s'", k->type, key);
    fcl_status st = mp_eval_int(k->x, v, k->line, what, out);
    if (st) return st;
    if (*out < lo || *out > hi)
        return mp_fail(k->x, k->line, FCL_ERR_FORMAT, "bad value for %s: %ld (must be %ld..%ld)",
                       what, *out, lo, hi);
    return FCL_OK;
}

fcl_status mp_kv_num(const mp_kvs *k, const char *key, double def, double lo, double hi,
                         int hi_open, double *out)
{
    const char *v = mp_kv_find(k, key);
    if (!v) {
        *out = def;
        return FCL_OK;
    }
    mp_value val;
    fcl_status st = mp_eval(k->x, v, k->line, &val);
    if (st) return st;
    if (val.type != MP_NUM || !isfinite(val.num) || val.num < lo || val.num > hi ||
        (hi_open && val.num >= hi)) {
        char b[64];
        mp_value_str(&val, b, sizeof b);
        return mp_fail(k->x, k->line, FCL_ERR_FORMAT, "bad value for %s key '%s': %s (must be a number in [%g, %g%s)",
                       k->type, key, b, lo, hi, hi_open ? ")" : "]");
    }
    *out = val.num;
    return FCL_OK;
}

/* A 2-D setting: `base` for both, or base+"h" / base+"w" (kh/kw, sh/sw, ...). */
static fcl_status kv_pair(const mp_kvs *k, const char *both, const char *kh, const char *kw, long def,
                          int required, long lo, long *h, long *w)
{
    int has_both = mp_kv_find(k, both) != NULL, has_h = mp_kv_find(k, kh) != NULL, has_w = mp_kv_find(k, kw) != NULL;
    if (has_both && (has_h || has_w))
        return mp_fail(k->x, k->line, FCL_ERR_FORMAT, "%s: give either '%s' or '%s'/'%s', not both",
                       k->type, both, kh, kw);
    if (has_h != has_w)
        return mp_fail(k->x, k->line, FCL_ERR_FORMAT, "%s: missing required key '%s'", k->type,
                       has_h ? kw : kh);
    fcl_status st;
    if (has_h) {
        if ((st = mp_kv_int(k, kh, def, 1, lo, 1 << 20, h))) return st;
        return mp_kv_int(k, kw, def, 1, lo, 1 << 20, w);
    }
    if ((st = mp_kv_int(k, both, def, required, lo, 1 << 20, h))) return st;
    *w = *h;
    return FCL_OK;
}

/* ---- layers --------------------------------------------------------------------------------- */

fcl_status mp_add_param(mp_exec *x, int line, fcl_layer *L, const char *suffix,
                            fcl_param_kind kind, int ndim, int d0, int d1, int d2, int d3,
                            int trainable, int decay)
{
    fcl_param_info *np = realloc(L->params, (size_t)(L->n_params + 1) * sizeof *np);
    if (!np) return FCL_ERR(x->err, FCL_ERR_NOMEM, "out of memory");
    L->params = np;
    fcl_param_info *p = &np[L->n_params];
    memset(p, 0, sizeof *p);
    int n = suffix ? snprintf(p->name, sizeof p->name, "%s.%s", L->name, suffix)
                   : snprintf(p->name, sizeof p->name, "%s", L->name);   /* NULL: the layer's name */
    if (n < 0 || (size_t)n >= sizeof p->name)
        return mp_fail(x, line, FCL_ERR_FORMAT, "parameter name '%s.%s' longer than %d characters",
                       L->name, suffix ? suffix : "", FCL_MODEL_NAME_MAX - 1);
    L->n_params++;
    p->ndim = ndim;
    int dims[4] = {d0, d1, d2, d3};
    double numel = 1;
    for (int i = 0; i < ndim; i++) {
        p->shape[i] = dims[i];
        numel *= dims[i];
    }
    if (numel > 1e12)   /* far beyond any device; also keeps the int64 products exact */
        return mp_fail(x, line, FCL_ERR_SHAPE, "parameter '%s' would have %.3g elements", p->name, numel);
    p->numel = (int64_t)numel;
    p->kind = kind;
    p->trainable = trainable;
    p->decay = decay;
    p->is_int64 = kind == FCL_PARAM_NUM_BATCHES;
    if (trainable) L->n_trainable += p->numel;
    else L->n_buffer += p->numel;
    return FCL_OK;
}

/* ---- the set of parameter-carrying layer names (parameter names must be unique) ------------ */

static unsigned hash_name(const char *s)
{
    unsigned h = 2166136261u;   /* FNV-1a */
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

/* The layer called `name` among those in the set, or -1; *slot is where it is or would go. */
static int names_find(const mp_exec *x, const char *name, int *slot)
{
    unsigned mask = (unsigned)x->names_cap - 1, i = hash_name(name) & mask;
    while (x->names[i] >= 0) {
        if (!strcmp(x->m->layers[x->names[i]].name, name)) break;
        i = (i + 1) & mask;
    }
    *slot = (int)i;
    return x->names[i];
}

static fcl_status names_add(mp_exec *x, int layer)
{
    if (2 * (x->names_n + 1) > x->names_cap) {
        int cap = x->names_cap ? 2 * x->names_cap : 256;
        int *old = x->names, old_cap = x->names_cap;
        x->names = mp_alloc(x->arena, (size_t)cap * sizeof *x->names);
        if (!x->names) return FCL_ERR(x->err, FCL_ERR_NOMEM, "out of memory");
        for (int i = 0; i < cap; i++) x->names[i] = -1;
        x->names_cap = cap;
        for (int i = 0; i < old_cap; i++) {
            int slot;
            if (old[i] < 0) continue;
            names_find(x, x->m->layers[old[i]].name, &slot);
            x->names[slot] = old[i];
        }
    }
    int slot;
    names_find(x, x->m->layers[layer].name, &slot);
    x->names[slot] = layer;
    x->names_n++;
    return FCL_OK;
}

/* Appends L (taking its params) after the checks every layer gets; *index receives its index. */
static fcl_status push(mp_exec *x, int line, fcl_layer *L, int *index)
{
    fcl_model *m = x->m;
    double elems = (double)L->out_c * L->out_h * L->out_w;
    fcl_status st = FCL_OK;
    if (L->n_params && x->names_cap) {
        int slot, other = names_find(x, L->name, &slot);
        if (other >= 0) {
            st = mp_fail(x, line, FCL_ERR_FORMAT,
                         "duplicate layer name '%s' (also at line %d): parameter names must be unique",
                         L->name, m->layers[other].line);
            goto fail;
        }
    }
    if (elems > 2147483647.0) {
        st = mp_fail(x, line, FCL_ERR_SHAPE, "%s: output of %.0f elements per image is too large",
                     fcl_layer_kind_name(L->kind), elems);
        goto fail;
    }
    if (m->n_layers >= MP_MAX_LAYERS) {
        st = mp_fail(x, line, FCL_ERR_FORMAT, "more than %d layers", MP_MAX_LAYERS);
        goto fail;
    }
    if (m->n_layers == x->cap_layers) {
        int cap = x->cap_layers ? x->cap_layers * 2 : 64;
        fcl_layer *nl = realloc(m->layers, (size_t)cap * sizeof *nl);
        if (!nl) {
            st = FCL_ERR(x->err, FCL_ERR_NOMEM, "out of memory");
            goto fail;
        }
        m->layers = nl;
        x->cap_layers = cap;
    }
    L->line = line;
    snprintf(L->scope, sizeof L->scope, "%s", x->cur->prefix);
    m->layers[m->n_layers] = *L;
    *index = m->n_layers++;
    return L->n_params ? names_add(x, *index) : FCL_OK;
fail:
    free(L->params);
    L->params = NULL;
    return st;
}

static void shape_str(char *b, size_t n, int c, int h, int w)
{
    snprintf(b, n, "[%d,%d,%d]", c, h, w);
}

/* Output size of a convolution; 0 when the window does not fit. */
static long conv_out(long in, long k, long s, long p, long d)
{
    long span = in + 2 * p - d * (k - 1) - 1;
    return span < 0 ? 0 : span / s + 1;
}

/* PyTorch's pooling_output_shape (dilation 1). */
static long pool_out(long in, long k, long s, long p, int ceil_mode)
{
    long num = in + 2 * p - (k - 1) - 1 + (ceil_mode ? s - 1 : 0);
    if (num < 0) return 0;
    long o = num / s + 1;
    if (ceil_mode && (o - 1) * s >= in + p) o--;
    return o;
}

static fcl_status shrink_fail(mp_exec *x, int line, const char *type, int h, int w, long kh,
                              long kw, long sh, long sw, long ph, long pw)
{
    return mp_fail(x, line, FCL_ERR_SHAPE,
                   "%s: spatial size shrinks to 0: input %dx%d, kernel %ldx%ld, stride %ldx%ld, pad %ldx%ld",
                   type, h, w, kh, kw, sh, sw, ph, pw);
}

static fcl_status build_conv(const mp_kvs *k, fcl_layer *L)
{
    long out, kh, kw, sh, sw, ph, pw, dh, dw, g, bias;
    fcl_status st;
    if ((st = mp_kv_int(k, "out", 0, 1, 1, 1 << 24, &out)) ||
        (st = kv_pair(k, "k", "kh", "kw", 0, 1, 1, &kh, &kw)) ||
        (st = kv_pair(k, "s", "sh", "sw", 1, 0, 1, &sh, &sw)) ||
        (st = kv_pair(k, "p", "ph", "pw", 0, 0, 0, &ph, &pw)) ||
        (st = kv_pair(k, "d", "dh", "dw", 1, 0, 1, &dh, &dw)) ||
        (st = mp_kv_int(k, "groups", 1, 0, 1, 1 << 24, &g)) ||
        (st = mp_kv_int(k, "bias", 1, 0, 0, 1, &bias)))
        return st;
    if (L->in_c % g || out % g)
        return mp_fail(k->x, k->line, FCL_ERR_SHAPE,
                       "conv: groups=%ld does not divide the %s channels (%d in, %ld out)", g,
                       L->in_c % g ? "input" : "output", L->in_c, out);
    long oh = conv_out(L->in_h, kh, sh, ph, dh), ow = conv_out(L->in_w, kw, sw, pw, dw);
    if (oh < 1 || ow < 1) return shrink_fail(k->x, k->line, "conv", L->in_h, L->in_w, kh, kw, sh, sw, ph, pw);
    L->kind = FCL_LAYER_CONV;
    L->conv.cin = L->in_c;
    L->conv.cout = (int)out;
    L->conv.kh = (int)kh;
    L->conv.kw = (int)kw;
    L->conv.stride_h = (int)sh;
    L->conv.stride_w = (int)sw;
    L->conv.pad_h = (int)ph;
    L->conv.pad_w = (int)pw;
    L->conv.dil_h = (int)dh;
    L->conv.dil_w = (int)dw;
    L->conv.groups = (int)g;
    L->conv.bias = (int)bias;
    L->out_c = (int)out;
    L->out_h = (int)oh;
    L->out_w = (int)ow;
    L->macs = (double)out * oh * ow * (double)(L->in_c / g) * kh * kw;
    L->flops = 2 * L->macs;
    long lin;   /* ConvNeXt's channels-last nn.Linear: the same weights, shaped [out, in] */
    if ((st = mp_kv_int(k, "linear_shape", 0, 0, 0, 1, &lin))) return st;
    if (lin && (kh != 1 || kw != 1 || g != 1 || sh != 1 || sw != 1 || ph || pw))
        return mp_fail(k->x, k->line, FCL_ERR_FORMAT, "conv: linear_shape=1 needs a 1x1 conv (stride 1, no pad, groups 1)");
    L->conv.linear_shape = (int)lin;
    if (lin) st = mp_add_param(k->x, k->line, L, "weight", FCL_PARAM_WEIGHT, 2, (int)out, L->in_c, 0, 0, 1, 1);
    else st = mp_add_param(k->x, k->line, L, "weight", FCL_PARAM_WEIGHT, 4, (int)out, (int)(L->in_c / g),
                           (int)kh, (int)kw, 1, 1);
    if (st) return st;
    if (bias && (st = mp_add_param(k->x, k->line, L, "bias", FCL_PARAM_BIAS, 1, (int)out, 0, 0, 0, 1, 0)))
        return st;
    return mp_conv_ws(k, L);   /* ws=1: NFNet's scaled weight standardisation (model_layers_ext.c) */
}

/* BatchNorm2d (BatchNorm1d on a [C,1,1] input): torch's state_dict order. */
static fcl_status make_bn(mp_exec *x, int line, fcl_layer *L, double eps, double momentum, int affine)
{
    fcl_status st;
    L->kind = FCL_LAYER_BN;
    L->bn.eps = (float)eps;
    L->bn.momentum = (float)momentum;
    L->bn.affine = affine;
    L->bn.weight_init = 1.0f;
    L->out_c = L->in_c;
    L->out_h = L->in_h;
    L->out_w = L->in_w;
    L->flops = 2.0 * L->in_c * L->in_h * L->in_w;
    int c = L->in_c;
    if (affine && ((st = mp_add_param(x, line, L, "weight", FCL_PARAM_WEIGHT, 1, c, 0, 0, 0, 1, 0)) ||
                   (st = mp_add_param(x, line, L, "bias", FCL_PARAM_BIAS, 1, c, 0, 0, 0, 1, 0))))
        return st;
    if ((st = mp_add_param(x, line, L, "running_mean", FCL_PARAM_RUNNING_MEAN, 1, c, 0, 0, 0, 0, 0)) ||
        (st = mp_add_param(x, line, L, "running_var", FCL_PARAM_RUNNING_VAR, 1, c, 0, 0, 0, 0, 0)) ||
        (st = mp_add_param(x, line, L, "num_batches_tracked", FCL_PARAM_NUM_BATCHES, 0, 0, 0, 0, 0, 0, 0)))
        return st;
    return FCL_OK;
}

static fcl_status make_linear(mp_exec *x, int line, fcl_layer *L, long out, int bias)
{
    fcl_status st;
    double in = (double)L->in_c * L->in_h * L->in_w;
    if (in > 2147483647.0) return mp_fail(x, line, FCL_ERR_SHAPE, "linear: %g inputs is too many", in);
    L->kind = FCL_LAYER_LINEAR;
    L->linear.in = (int)in;
    L->linear.out = (int)out;
    L->linear.bias = bias;
    L->out_c = (int)out;
    L->out_h = L->out_w = 1;
    L->macs = in * (double)out;
    L->flops = 2 * L->macs;
    if ((st = mp_add_param(x, line, L, "weight", FCL_PARAM_WEIGHT, 2, (int)out, (int)in, 0, 0, 1, 1)))
        return st;
    if (bias && (st = mp_add_param(x, line, L, "bias", FCL_PARAM_BIAS, 1, (int)out, 0, 0, 0, 1, 0)))
        return st;
    return FCL_OK;
}

static fcl_status build_pool(const mp_kvs *k, fcl_layer *L, int avg)
{
    long kh, kw, sh, sw, ph, pw, ceil_mode, cip = 1;
    fcl_status st;
    if ((st = kv_pair(k, "k", "kh", "kw", 0, 1, 1, &kh, &kw))) return st;
    if ((st = kv_pair(k, "s", "sh", "sw", 0, 0, 1, &sh, &sw)) ||
        (st = kv_pair(k, "p", "ph", "pw", 0, 0, 0, &ph, &pw)) ||
        (st = mp_kv_int(k, "ceil", 0, 0, 0, 1, &ceil_mode)))
        return st;
    if (avg && (st = mp_kv_int(k, "count_include_pad", 1, 0, 0, 1, &cip))) return st;
    if (!mp_kv_find(k, "s") && !mp_kv_find(k, "sh")) {
        sh = kh;
        sw = kw;
    }
    if (ph > kh / 2 || pw > kw / 2)
        return mp_fail(k->x, k->line, FCL_ERR_FORMAT,
                       "bad value for %s key 'p': padding %ldx%ld is more than half the window %ldx%ld",
                       k->type, ph, pw, kh, kw);
    long oh = pool_out(L->in_h, kh, sh, ph, (int)ceil_mode), ow = pool_out(L->in_w, kw, sw, pw, (int)ceil_mode);
    if (oh < 1 || ow < 1) return shrink_fail(k->x, k->line, k->type, L->in_h, L->in_w, kh, kw, sh, sw, ph, pw);
    L->kind = avg ? FCL_LAYER_AVGPOOL : FCL_LAYER_MAXPOOL;
    L->pool.kh = (int)kh;
    L->pool.kw = (int)kw;
    L->pool.sh = (int)sh;
    L->pool.sw = (int)sw;
    L->pool.ph = (int)ph;
    L->pool.pw = (int)pw;
    L->pool.ceil_mode = (int)ceil_mode;
    L->pool.count_include_pad = (int)cip;
    L->pool.divisor_override = 0;
    L->out_c = L->in_c;
    L->out_h = (int)oh;
    L->out_w = (int)ow;
    L->flops = (double)L->out_c * oh * ow * kh * kw;
    return FCL_OK;
}

static fcl_status build_adaptive(const mp_kvs *k, fcl_layer *L)
{
    long oh, ow;
    fcl_status st;
    int has_out = mp_kv_find(k, "out") != NULL, has_h = mp_kv_find(k, "oh") != NULL, has_w = mp_kv_find(k, "ow") != NULL;
    if (has_out && (has_h || has_w))
        return mp_fail(k->x, k->line, FCL_ERR_FORMAT, "adaptive_avgpool: give either 'out' or 'oh'/'ow', not both");
    if (has_out || (!has_h && !has_w)) {
        if ((st = mp_kv_int(k, "out", 0, 1, 1, 1 << 20, &oh))) return st;
        ow = oh;
    } else if ((st = mp_kv_int(k, "oh", 0, 1, 1, 1 << 20, &oh)) || (st = mp_kv_int(k, "ow", 0, 1, 1, 1 << 20, &ow))) {
        return st;
    }
    L->kind = FCL_LAYER_ADAPTIVE_AVGPOOL;
    L->adaptive.out_h = (int)oh;
    L->adaptive.out_w = (int)ow;
    L->out_c = L->in_c;
    L->out_h = (int)oh;
    L->out_w = (int)ow;
    /* window i covers floor(i*H/OH) .. ceil((i+1)*H/OH) - 1 (torch.nn.AdaptiveAvgPool2d) */
    double rows = 0, cols = 0;
    for (long i = 0; i < oh; i++) rows += (double)(((i + 1) * L->in_h + oh - 1) / oh - (i * L->in_h) / oh);
    for (long j = 0; j < ow; j++) cols += (double)(((j + 1) * L->in_w + ow - 1) / ow - (j * L->in_w) / ow);
    L->flops = (double)L->in_c * rows * cols;
    return FCL_OK;
}

static fcl_status build_multi(mp_exec *x, int line, const char *type, fcl_layer *L,
                              const int *inputs, int n)
{
    int c[FCL_LAYER_MAX_INPUTS], h[FCL_LAYER_MAX_INPUTS], w[FCL_LAYER_MAX_INPUTS];
    char b0[64], b1[64];
    for (int i = 0; i < n; i++) mp_layer_shape(x, inputs[i], &c[i], &h[i], &w[i]);
    double elems = (double)c[0] * h[0] * w[0];
    if (!strcmp(type, "add")) {
        for (int i = 1; i < n; i++)
            if (c[i] != c[0] || h[i] != h[0] || w[i] != w[0]) {
                shape_str(b0, sizeof b0, c[0], h[0], w[0]);
                shape_str(b1, sizeof b1, c[i], h[i], w[i]);
                return mp_fail(x, line, FCL_ERR_SHAPE, "add: input shapes differ: %s vs %s", b0, b1);
            }
        L->kind = FCL_LAYER_ADD;
        L->out_c = c[0];
        L->out_h = h[0];
        L->out_w = w[0];
        L->flops = elems * (n - 1);
    } else if (!strcmp(type, "channel_mul")) {
        if (c[1] != c[0] || h[1] != 1 || w[1] != 1) {
            shape_str(b0, sizeof b0, c[0], h[0], w[0]);
            shape_str(b1, sizeof b1, c[1], h[1], w[1]);
            return mp_fail(x, line, FCL_ERR_SHAPE,
                           "channel_mul: the scale must be [%d,1,1] for an input %s, got %s", c[0], b0, b1);
        }
        L->kind = FCL_LAYER_CHANNEL_MUL;
        L->out_c = c[0];
        L->out_h = h[0];
        L->out_w = w[0];
        L->flops = elems;
    } else {
        long total = 0;
        for (int i = 0; i < n; i++) {
            if (h[i] != h[0] || w[i] != w[0]) {
                shape_str(b0, sizeof b0, c[0], h[0], w[0]);
                shape_str(b1, sizeof b1, c[i], h[i], w[i]);
                return mp_fail(x, line, FCL_ERR_SHAPE, "concat: spatial sizes differ: %s vs %s", b0, b1);
            }
            total += c[i];
        }
        if (total > (1 << 24)) return mp_fail(x, line, FCL_ERR_SHAPE, "concat: %ld channels is too many", total);
        L->kind = FCL_LAYER_CONCAT;
        L->out_c = (int)total;
        L->out_h = h[0];
        L->out_w = w[0];
    }
    return FCL_OK;
}

static const struct {
    const char *type;
    fcl_act_kind kind;
} acts[] = {{"relu", FCL_ACT_RELU},       {"relu6", FCL_ACT_RELU6},   {"leaky", FCL_ACT_LEAKY_RELU},
            {"sigmoid", FCL_ACT_SIGMOID}, {"tanh", FCL_ACT_TANH},     {"silu", FCL_ACT_SILU},
            {"hardswish", FCL_ACT_HARDSWISH}, {"hardsigmoid", FCL_ACT_HARDSIGMOID}, {"gelu", FCL_ACT_GELU},
            {"gelu_tanh", FCL_ACT_GELU_TANH}};

const char *fcl_model_act_name(fcl_act_kind k)
{
    for (size_t i = 0; i < sizeof acts / sizeof acts[0]; i++)
        if (acts[i].kind == k) return acts[i].type;
    return "?";
}

/* The `embedding` line: with embedding=E > 0, linear NAME.0 (to E) + batchnorm NAME.1; marks
 * the embedding either way. */
static fcl_status build_embedding(const mp_kvs *k, const char *name, const int *inputs, int *out)
{
    mp_exec *x = k->x;
    long bias;
    double eps, momentum;
    fcl_status st;
    if ((st = mp_kv_int(k, "bias", 0, 0, 0, 1, &bias)) ||
        (st = mp_kv_num(k, "eps", 1e-5, 0, 1, 0, &eps)) ||
        (st = mp_kv_num(k, "momentum", 0.1, 0, 1, 0, &momentum)))
        return st;
    if (eps <= 0) return mp_fail(x, k->line, FCL_ERR_FORMAT, "bad value for embedding key 'eps': must be > 0");
    int idx = inputs[0];
    if (x->m->embedding > 0) {
        fcl_layer L = {0};
        L.n_inputs = 1;
        L.inputs[0] = idx;
        mp_layer_shape(x, idx, &L.in_c, &L.in_h, &L.in_w);
        if (snprintf(L.name, sizeof L.name, "%s.0", name) >= (int)sizeof L.name)
            return mp_fail(x, k->line, FCL_ERR_FORMAT, "name '%s' too long", name);
        if ((st = make_linear(x, k->line, &L, x->m->embedding, (int)bias))) {
            free(L.params);
            return st;
        }
        if ((st = push(x, k->line, &L, &idx))) return st;
        memset(&L, 0, sizeof L);
        L.n_inputs = 1;
        L.inputs[0] = idx;
        mp_layer_shape(x, idx, &L.in_c, &L.in_h, &L.in_w);
        snprintf(L.name, sizeof L.name, "%s.1", name);
        if ((st = make_bn(x, k->line, &L, eps, momentum, 1))) {
            free(L.params);
            return st;
        }
        if ((st = push(x, k->line, &L, &idx))) return st;
    }
    if (idx < 0)
        return mp_fail(x, k->line, FCL_ERR_FORMAT, "embedding: the network input itself cannot be the embedding");
    x->m->layers[idx].is_embedding = 1;
    *out = idx;
    return FCL_OK;
}

fcl_status mp_build_layer(mp_exec *x, int line, const mp_type_info *info, const char *name,
                          int n_kv, const char *const *keys, const char *const *vals,
                          const int *inputs, int n_inputs, int *out)
{
    const char *type = info->type;
    mp_kvs k = {x, line, type, n_kv, keys, vals};
    fcl_layer L = {0};
    fcl_status st = FCL_OK;
    if (!strcmp(type, "embedding")) return build_embedding(&k, name && *name ? name : "embedding", inputs, out);

    if (name) snprintf(L.name, sizeof L.name, "%s", name);
    L.n_inputs = n_inputs;
    for (int i = 0; i < n_inputs; i++) L.inputs[i] = inputs[i];
    mp_layer_shape(x, inputs[0], &L.in_c, &L.in_h, &L.in_w);
    double elems = (double)L.in_c * L.in_h * L.in_w;

    if (!strcmp(type, "conv")) {
        st = build_conv(&k, &L);
    } else if (!strcmp(type, "bn")) {
        double eps, mom, winit;
        long affine, fixed;
        if (!(st = mp_kv_num(&k, "eps", 1e-5, 0, 1, 0, &eps)) && !(st = mp_kv_num(&k, "momentum", 0.1, 0, 1, 0, &mom)) &&
            !(st = mp_kv_int(&k, "affine", 1, 0, 0, 1, &affine)) && !(st = mp_kv_int(&k, "fixed_weight", 0, 0, 0, 1, &fixed)) &&
            !(st = mp_kv_num(&k, "weight_init", 1, -1e6, 1e6, 0, &winit))) {
            if (eps <= 0) st = mp_fail(x, line, FCL_ERR_FORMAT, "bad value for bn key 'eps': must be > 0");
            else if (fixed && !affine) st = mp_fail(x, line, FCL_ERR_FORMAT, "bn: fixed_weight=1 needs affine=1");
            else if (winit != 1 && !affine) st = mp_fail(x, line, FCL_ERR_FORMAT, "bn: weight_init needs affine=1");
            else st = make_bn(x, line, &L, eps, mom, (int)affine);
            if (!st) L.bn.weight_init = (float)winit;
            if (!st && fixed) L.params[0].fixed = 1;   /* gamma stays at its init */
        }
    } else if (!strcmp(type, "prelu")) {
        long shared;
        double init;
        if (!(st = mp_kv_int(&k, "shared", 0, 0, 0, 1, &shared)) && !(st = mp_kv_num(&k, "init", 0.25, -1e6, 1e6, 0, &init))) {
            L.kind = FCL_LAYER_PRELU;
            L.prelu.shared = (int)shared;
            L.prelu.init = (float)init;
            L.out_c = L.in_c;
            L.out_h = L.in_h;
            L.out_w = L.in_w;
            L.flops = elems;
            st = mp_add_param(x, line, &L, "weight", FCL_PARAM_WEIGHT, 1, shared ? 1 : L.in_c, 0, 0, 0, 1, 0);
        }
    } else if (!strcmp(type, "maxpool") || !strcmp(type, "avgpool")) {
        st = build_pool(&k, &L, type[0] == 'a');
    } else if (!strcmp(type, "gap")) {
        L.kind = FCL_LAYER_GLOBAL_AVGPOOL;
        L.out_c = L.in_c;
        L.out_h = L.out_w = 1;
        L.flops = elems;
    } else if (!strcmp(type, "adaptive_avgpool")) {
        st = build_adaptive(&k, &L);
    } else if (!strcmp(type, "linear") || !strcmp(type, "classifier")) {
        long o, bias;
        int cls = type[0] == 'c';
        if (cls) o = x->m->classes;
        else st = mp_kv_int(&k, "out", 0, 1, 1, 1 << 24, &o);
        if (!st && !(st = mp_kv_int(&k, "bias", 1, 0, 0, 1, &bias))) st = make_linear(x, line, &L, o, (int)bias);
        L.is_classifier = cls;
    } else if (!strcmp(type, "flatten")) {
        L.kind = FCL_LAYER_FLATTEN;
        if (elems > (1 << 30)) st = mp_fail(x, line, FCL_ERR_SHAPE, "flatten: %g elements is too many", elems);
        L.out_c = (int)elems;
        L.out_h = L.out_w = 1;
    } else if (!strcmp(type, "dropout")) {
        double p;
        if (!(st = mp_kv_num(&k, "p", 0.5, 0, 1, 1, &p))) {
            L.kind = FCL_LAYER_DROPOUT;
            L.dropout.p = (float)p;
            L.out_c = L.in_c;
            L.out_h = L.in_h;
            L.out_w = L.in_w;
        }
    } else if (mp_is_ext_type(type)) {
        st = mp_build_ext(&k, &L);
    } else if (!strcmp(type, "add") || !strcmp(type, "channel_mul") || !strcmp(type, "concat")) {
        st = build_multi(x, line, type, &L, inputs, n_inputs);
    } else {
        size_t i;
        for (i = 0; i < sizeof acts / sizeof acts[0]; i++)
            if (!strcmp(acts[i].type, type)) break;
        if (i == sizeof acts / sizeof acts[0])
            return mp_fail(x, line, FCL_ERR_INTERNAL, "layer type '%s' has no builder", type);
        double slope = 0.01;
        if (acts[i].kind == FCL_ACT_LEAKY_RELU) st = mp_kv_num(&k, "slope", 0.01, -1e6, 1e6, 0, &slope);
        long tanh_form = 0;   /* gelu approximate=1: torch's approximate='tanh' */
        if (!st && acts[i].kind == FCL_ACT_GELU) st = mp_kv_int(&k, "approximate", 0, 0, 0, 1, &tanh_form);
        L.kind = FCL_LAYER_ACT;
        L.act.kind = tanh_form ? FCL_ACT_GELU_TANH : acts[i].kind;
        L.act.slope = (float)slope;
        L.out_c = L.in_c;
        L.out_h = L.in_h;
        L.out_w = L.in_w;
        L.flops = elems;
    }
    if (st) {
        free(L.params);
        return st;
    }
    return push(x, line, &L, out);
}
