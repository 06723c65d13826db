/* host/nn/export_onnx.c: `facecl export`: a network and its checkpoint weights as an ONNX graph (driver: input, normalisation, layers, output). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "facecl/facecl.h"
#include "nn/export_internal.h"

const char *ex_in(const fcl_exporter *x, const fcl_layer *L, int k)
{
    return L->inputs[k] < 0 ? x->input : x->value[L->inputs[k]];
}

int ex_in_rank(const fcl_exporter *x, const fcl_layer *L, int k)
{
    return L->inputs[k] < 0 ? 4 : x->rank[L->inputs[k]];
}

/* Helper values are "<base>:<what>.<n>": layer names never hold ':', so they cannot clash. */
void ex_tmp(fcl_exporter *x, const char *base, const char *what, char out[EX_NAME_MAX])
{
    snprintf(out, EX_NAME_MAX, "%.*s:%s.%d", EX_NAME_MAX - 48, base, what, x->unique++);
}

void ex_node(fcl_exporter *x, const char *op, const char *out, const char *const *in, int n_in,
             const fcl_onnx_attr *attrs, int n_attrs)
{
    fcl_onnx_node(&x->g, op, out, in, n_in, &out, 1, attrs, n_attrs);
}

void ex_const(fcl_exporter *x, const char *name, int ndim, const int64_t *dims, const float *data)
{
    fcl_onnx_init_f32(&x->g, name, ndim, dims, data);
}

void ex_as4d(fcl_exporter *x, const char *v, int r, int c, int h, int w, const char *base, char out[EX_NAME_MAX])
{
    if (r == 4) {
        if (out != v) snprintf(out, EX_NAME_MAX, "%s", v);
        return;
    }
    char shape[EX_NAME_MAX], src[EX_NAME_MAX];
    snprintf(src, sizeof src, "%s", v);
    ex_tmp(x, base, "shape", shape);
    const int64_t dims[4] = {0, c, h, w}, n4 = 4; /* 0: keep the batch dimension */
    fcl_onnx_init_i64(&x->g, shape, 1, &n4, dims);
    ex_tmp(x, base, "as4d", out);
    const char *ins[2] = {src, shape};
    ex_node(x, "Reshape", out, ins, 2, NULL, 0);
}

void ex_as2d(fcl_exporter *x, const char *v, int r, const char *base, char out[EX_NAME_MAX])
{
    if (r == 2) {
        if (out != v) snprintf(out, EX_NAME_MAX, "%s", v);
        return;
    }
    char src[EX_NAME_MAX];
    snprintf(src, sizeof src, "%s", v);
    ex_tmp(x, base, "flat", out);
    const char *ins[1] = {src};
    fcl_onnx_attr a = {"axis", FCL_ONNX_ATTR_INT, 1, 0, NULL, 0};
    ex_node(x, "Flatten", out, ins, 1, &a, 1);
}

const char *ex_weight(fcl_exporter *x, const fcl_layer *L, fcl_param_kind kind, int ndim, const int64_t *dims)
{
    const fcl_param_info *p = NULL;
    for (int k = 0; k < L->n_params && !p; k++)
        if (L->params[k].kind == kind) p = &L->params[k];
    if (!p) return "";
    const fcl_st_tensor *t = fcl_ckpt_find(x->w, p->name);
    if (!t) {
        FCL_ERR(x->err, FCL_ERR_SHAPE, "export: the checkpoint has no tensor '%s' (layer '%s', %s line %d)", p->name,
                L->name, x->m->name, L->line);
        return NULL;
    }
    int same = t->ndim == p->ndim;
    for (int k = 0; same && k < p->ndim; k++) same = t->shape[k] == (uint64_t)p->shape[k];
    if (!same) {
        FCL_ERR(x->err, FCL_ERR_SHAPE, "export: checkpoint tensor '%s' has %d dims / %zu values, the model expects %d / %lld",
                p->name, t->ndim, t->numel, p->ndim, (long long)p->numel);
        return NULL;
    }
    float *v = malloc(t->numel ? t->numel * sizeof *v : 1);
    if (!v) {
        FCL_ERR(x->err, FCL_ERR_NOMEM, "export: out of memory for '%s'", p->name);
        return NULL;
    }
    if (fcl_st_tensor_to_f32(t, v, t->numel, x->err)) {
        free(v);
        return NULL;
    }
    int64_t own[4], n = 1;
    for (int k = 0; dims && k < ndim; k++) n *= dims[k];
    if (dims && n != (int64_t)t->numel) {
        free(v);
        FCL_ERR(x->err, FCL_ERR_INTERNAL, "export: '%s' has %zu values, its ONNX shape %lld", p->name, t->numel, (long long)n);
        return NULL;
    }
    if (!dims) {
        ndim = p->ndim;
        for (int k = 0; k < ndim; k++) own[k] = p->shape[k];
        dims = own;
    }
    fcl_onnx_init_f32(&x->g, p->name, ndim, dims, v);
    x->parameters += (int64_t)t->numel;
    free(v);
    return p->name;
}

/* The eval pipeline's normalisation as Sub / Div nodes with [1, C, 1, 1] constants (the same
 * float operations facecl's loader does per pixel); any other step cannot be expressed on an
 * already-sized input tensor. */
static fcl_status add_normalisation(fcl_exporter *x, const fcl_aug_pipeline *pre, int *added)
{
    snprintf(x->input, EX_NAME_MAX, "input");
    *added = 0;
    if (!pre) return FCL_OK;
    int c = x->m->channels;
    for (int s = 0; s < pre->n; s++) {
        const fcl_aug_step *st = &pre->steps[s];
        char buf[256];
        fcl_aug_pipeline one = {1, {*st}};
        fcl_aug_format(&one, buf, sizeof buf);
        if (st->kind != FCL_AUG_NORM)
            return FCL_ERR(x->err, FCL_ERR_UNSUPPORTED,
                           "export: the checkpoint's eval pipeline step '%s' cannot be part of the ONNX graph (only norm "
                           "steps can: the graph input is the already-sized image)", buf);
        if (st->n_norm != 1 && st->n_norm != c)
            return FCL_ERR(x->err, FCL_ERR_SHAPE, "export: eval pipeline step '%s' has %d values per statistic for a %d-channel input",
                           buf, st->n_norm, c);
        float mean[3], std[3];
        for (int k = 0; k < c && k < 3; k++) {
            mean[k] = st->mean[st->n_norm == 1 ? 0 : k];
            std[k] = st->std[st->n_norm == 1 ? 0 : k];
        }
        if (c > 3) return FCL_ERR(x->err, FCL_ERR_UNSUPPORTED, "export: normalisation of a %d-channel input", c);
        const int64_t dims[4] = {1, c, 1, 1};
        char nm[EX_NAME_MAX], ns[EX_NAME_MAX], centred[EX_NAME_MAX], out[EX_NAME_MAX];
        ex_tmp(x, "input", "mean", nm);
        ex_tmp(x, "input", "std", ns);
        ex_tmp(x, "input", "centred", centred);
        ex_tmp(x, "input", "normalised", out);
        ex_const(x, nm, 4, dims, mean);
        ex_const(x, ns, 4, dims, std);
        const char *a[2] = {x->input, nm}, *b[2] = {centred, ns};
        ex_node(x, "Sub", centred, a, 2, NULL, 0);
        ex_node(x, "Div", out, b, 2, NULL, 0);
        snprintf(x->input, EX_NAME_MAX, "%s", out);
        *added = 1;
    }
    return FCL_OK;
}

/* The graph output: the embedding L2-normalised per row (x / max(||x||, 1e-12): a zero row
 * stays zero, as in fcl_embed_source), or the logits as they are. */
static void add_output(fcl_exporter *x, int target, fcl_export_output output)
{
    char v[EX_NAME_MAX];
    const char *name = output == FCL_EXPORT_EMBEDDING ? "embedding" : "logits";
    ex_as2d(x, x->value[target], x->rank[target], x->value[target], v);
    if (output == FCL_EXPORT_LOGITS) {
        const char *in[1] = {v};
        ex_node(x, "Identity", name, in, 1, NULL, 0);
        return;
    }
    char norm[EX_NAME_MAX], den[EX_NAME_MAX];
    ex_tmp(x, "embedding", "l2", norm);
    ex_tmp(x, "embedding", "l2_clamped", den);
    const float eps = 1e-12f;
    ex_const(x, "const/l2_eps", 0, NULL, &eps);
    fcl_onnx_attr a[] = {{"axes", FCL_ONNX_ATTR_INTS, 0, 0, (const int64_t[]){1}, 1},
                         {"keepdims", FCL_ONNX_ATTR_INT, 1, 0, NULL, 0}};
    const char *r[1] = {v}, *mx[2] = {norm, "const/l2_eps"}, *dv[2] = {v, den};
    ex_node(x, "ReduceL2", norm, r, 1, a, 2);
    ex_node(x, "Max", den, mx, 2, NULL, 0);
    ex_node(x, "Div", name, dv, 2, NULL, 0);
}

static const char contract[] =
    "facecl export. Input 'input': float [N, C, H, W], pixel values in [0, 1] (8-bit / 255), resized to H x W "
    "as facecl's loader does; the checkpoint's eval normalisation is inside the graph. Output 'embedding': the "
    "embedding layer L2-normalised per row (what `facecl embed` writes), or 'logits': the classifier output.";

fcl_status fcl_onnx_export(const fcl_model *m, const fcl_checkpoint *weights, const fcl_aug_pipeline *preprocess,
                           fcl_export_output output, const char *path, fcl_export_summary *summary, fcl_error *err)
{
    fcl_status st = FCL_OK;
    fcl_exporter x = {0};
    x.m = m;
    x.w = weights;
    x.err = err;
    int *need = NULL, target = output == FCL_EXPORT_EMBEDDING ? m->embedding_layer : m->classifier_layer;
    if (output != FCL_EXPORT_EMBEDDING && output != FCL_EXPORT_LOGITS)
        return FCL_ERR(err, FCL_ERR_INVALID_ARG, "export: unknown output kind %d", (int)output);
    if (target < 0)
        return FCL_ERR(err, FCL_ERR_INVALID_ARG, "export: %s has no %s (classes=0): export the embedding instead", m->name,
                       output == FCL_EXPORT_LOGITS ? "classifier" : "embedding layer");
    x.value = calloc((size_t)m->n_layers, sizeof *x.value);
    x.rank = calloc((size_t)m->n_layers, sizeof *x.rank);
    need = calloc((size_t)m->n_layers, sizeof *need);
    if (!x.value || !x.rank || !need) {
        st = FCL_ERR(err, FCL_ERR_NOMEM, "export: out of memory");
        goto done;
    }
    /* Only what the output depends on (the classifier is left out of an embedding export). */
    need[target] = 1;
    for (int i = target; i >= 0; i--)
        for (int k = 0; need[i] && k < m->layers[i].n_inputs; k++)
            if (m->layers[i].inputs[k] >= 0) need[m->layers[i].inputs[k]] = 1;
    for (int i = 0; i < m->n_layers; i++) {
        const fcl_layer *L = &m->layers[i];
        if (L->name[0])
            snprintf(x.value[i], EX_NAME_MAX, "%s", L->name);
        else
            snprintf(x.value[i], EX_NAME_MAX, "%s%s%s_%d", L->scope, L->scope[0] ? "/" : "",
                     L->kind == FCL_LAYER_ACT ? fcl_model_act_name(L->act.kind) : fcl_layer_kind_name(L->kind), i);
    }
    const int64_t in_dims[4] = {-1, m->channels, m->in_h, m->in_w};
    const char *batch[4] = {"N", NULL, NULL, NULL};
    fcl_onnx_value_info(&x.g, 0, "input", FCL_ONNX_FLOAT, 4, in_dims, batch);
    int normalised = 0;
    if ((st = add_normalisation(&x, preprocess, &normalised))) goto done;
    for (int i = 0; i <= target; i++)
        if (need[i] && (st = ex_layer(&x, i))) goto done;
    add_output(&x, target, output);
    const fcl_layer *T = &m->layers[target];
    int out_dim = T->out_c * T->out_h * T->out_w;
    const int64_t out_dims[2] = {-1, out_dim};
    fcl_onnx_value_info(&x.g, 1, output == FCL_EXPORT_EMBEDDING ? "embedding" : "logits", FCL_ONNX_FLOAT, 2, out_dims,
                        batch);
    snprintf(x.g.name, sizeof x.g.name, "%s", m->name ? m->name : "facecl");
    fcl_onnx_model_info info = {FCL_ONNX_IR_VERSION, FCL_ONNX_OPSET, "facecl", FACECL_VERSION_STRING, contract};
    if ((st = fcl_onnx_write(&x.g, &info, path, err))) goto done;
    if (summary) {
        summary->nodes = x.g.n_nodes;
        summary->initializers = x.g.n_inits;
        summary->parameters = x.parameters;
        summary->channels = m->channels;
        summary->height = m->in_h;
        summary->width = m->in_w;
        summary->out_dim = out_dim;
        summary->normalisation = normalised;
    }
done:
    fcl_onnx_graph_free(&x.g);
    free(x.value);
    free(x.rank);
    free(need);
    return st;
}

fcl_status fcl_onnx_export_checkpoint(const char *checkpoint, fcl_export_output output, const char *path,
                                      fcl_export_summary *summary, fcl_error *err)
{
    fcl_checkpoint c;
    fcl_model *m = NULL;
    fcl_aug_pipeline pipe;
    fcl_status st = fcl_st_load(&c, checkpoint, err);
    if (st) return st;
    const char *aug = fcl_ckpt_get_meta(&c, "eval_aug");
    if ((st = fcl_model_from_checkpoint(&c, checkpoint, &m, err))) goto done;
    pipe.n = 0;
    if (aug && *aug && (st = fcl_aug_parse(aug, &pipe, err))) {
        fcl_error_prefix(err, "%s: metadata \"eval_aug\": ", checkpoint);
        goto done;
    }
    if ((st = fcl_onnx_export(m, &c, pipe.n ? &pipe : NULL, output, path, summary, err)))
        fcl_error_prefix(err, "%s: ", checkpoint);
done:
    fcl_model_free(m);
    fcl_ckpt_free(&c);
    return st;
}
