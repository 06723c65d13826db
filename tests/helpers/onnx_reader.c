/* tests/helpers/onnx_reader.c: a minimal strict protobuf / ONNX reader and a device-free checkpoint maker for the export tests. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers/onnx_reader.h"
#include "helpers/cmdline.h"

/* ---- a minimal protobuf / ONNX reader (strict: any field the writer does not use fails) ---- */

typedef struct pbr {
    const uint8_t *p, *end;
} pbr;

static uint64_t rd_varint(pbr *r)
{
    uint64_t v = 0;
    for (int shift = 0; shift < 70; shift += 7) {
        cr_assert(r->p < r->end, "varint runs past the end of its message");
        uint8_t b = *r->p++;
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) return v;
    }
    cr_assert_fail("varint longer than 10 bytes");
    return 0;
}

/* One field of a message: number f, wire type w, a varint or fixed32 value v, or a
 * length-delimited value as the sub-reader s. */
typedef struct pbf {
    int f, w;
    uint64_t v;
    pbr s;
} pbf;

/* Next field of r into *x: 0 at the end. */
static int rd_field(pbr *r, pbf *x)
{
    if (r->p == r->end) return 0;
    uint64_t tag = rd_varint(r);
    x->f = (int)(tag >> 3);
    x->w = (int)(tag & 7);
    cr_assert(x->f > 0, "field number 0");
    if (x->w == 0) {
        x->v = rd_varint(r);
    } else if (x->w == 2) {
        uint64_t n = rd_varint(r);
        cr_assert(n <= (uint64_t)(r->end - r->p), "length %llu past the end", (unsigned long long)n);
        x->s.p = r->p;
        x->s.end = r->p + n;
        r->p += n;
    } else if (x->w == 5) {
        cr_assert(r->end - r->p >= 4);
        uint32_t u = (uint32_t)r->p[0] | (uint32_t)r->p[1] << 8 | (uint32_t)r->p[2] << 16 | (uint32_t)r->p[3] << 24;
        x->v = u;
        r->p += 4;
    } else {
        cr_assert_fail("unexpected wire type %d (field %d)", x->w, x->f);
    }
    return 1;
}

static void rd_str(const pbr *s, char *out, size_t n)
{
    size_t len = (size_t)(s->end - s->p);
    cr_assert(len < n, "string of %zu bytes too long", len);
    memcpy(out, s->p, len);
    out[len] = '\0';
    cr_assert_eq(strlen(out), len, "string holds a NUL");
}

static void rd_attr(pbr r, dattr *a)
{
    pbf x;
    memset(a, 0, sizeof *a);
    while (rd_field(&r, &x)) {
        if (x.f == 1 && x.w == 2) rd_str(&x.s, a->name, sizeof a->name);
        else if (x.f == 2 && x.w == 5) {
            uint32_t u = (uint32_t)x.v;
            memcpy(&a->f, &u, 4);
        } else if (x.f == 3 && x.w == 0) a->i = (int64_t)x.v;
        else if (x.f == 8 && x.w == 0) {
            cr_assert(a->n_ints < 8);
            a->ints[a->n_ints++] = (int64_t)x.v;
        } else if (x.f == 20 && x.w == 0) a->type = (int)x.v;
        else cr_assert_fail("AttributeProto: unexpected field %d", x.f);
    }
    cr_assert(a->name[0] && a->type, "attribute without name or type");
}

static void rd_node(pbr r, dnode *n)
{
    pbf x;
    memset(n, 0, sizeof *n);
    while (rd_field(&r, &x)) {
        cr_assert_eq(x.w, 2, "NodeProto field %d not length-delimited", x.f);
        if (x.f == 1) {
            cr_assert(n->n_in < 9);
            rd_str(&x.s, n->in[n->n_in++], NAME_MAX_);
        } else if (x.f == 2) {
            cr_assert(n->n_out < 2);
            rd_str(&x.s, n->out[n->n_out++], NAME_MAX_);
        } else if (x.f == 3) rd_str(&x.s, n->name, NAME_MAX_);
        else if (x.f == 4) rd_str(&x.s, n->op, sizeof n->op);
        else if (x.f == 5) {
            cr_assert(n->n_attr < 6);
            rd_attr(x.s, &n->attr[n->n_attr++]);
        } else cr_assert_fail("NodeProto: unexpected field %d", x.f);
    }
}

static void rd_tensor(pbr r, dtensor *t)
{
    pbf x;
    memset(t, 0, sizeof *t);
    while (rd_field(&r, &x)) {
        if (x.f == 1 && x.w == 0) {
            cr_assert(t->ndim < 8);
            t->dims[t->ndim++] = (int64_t)x.v;
        } else if (x.f == 2 && x.w == 0) t->dtype = (int)x.v;
        else if (x.f == 8 && x.w == 2) rd_str(&x.s, t->name, NAME_MAX_);
        else if (x.f == 9 && x.w == 2) {
            t->raw = x.s.p;
            t->raw_len = (size_t)(x.s.end - x.s.p);
        } else cr_assert_fail("TensorProto: unexpected field %d", x.f);
    }
}

/* ValueInfoProto: name, then type.tensor_type {elem_type, shape {dim {dim_value | dim_param}}}. */
static void rd_value_info(pbr r, dvi *vi)
{
    pbf x, type, tt, dim, d;
    memset(vi, 0, sizeof *vi);
    while (rd_field(&r, &x)) {
        if (x.f == 1) {
            rd_str(&x.s, vi->name, sizeof vi->name);
            continue;
        }
        cr_assert_eq(x.f, 2, "ValueInfoProto: unexpected field %d", x.f);
        cr_assert(rd_field(&x.s, &type) && type.f == 1 && type.w == 2, "TypeProto without tensor_type");
        while (rd_field(&type.s, &tt)) {
            if (tt.f == 1) {
                vi->elem = (int)tt.v;
                continue;
            }
            cr_assert_eq(tt.f, 2, "TypeProto.Tensor: unexpected field %d", tt.f);
            while (rd_field(&tt.s, &dim)) {
                cr_assert_eq(dim.f, 1, "TensorShapeProto: unexpected field %d", dim.f);
                cr_assert(vi->ndim < 8);
                int k = vi->ndim++;
                cr_assert(rd_field(&dim.s, &d), "empty Dimension");
                if (d.f == 1) vi->dims[k] = (int64_t)d.v;
                else if (d.f == 2) {
                    vi->dims[k] = -1;
                    rd_str(&d.s, vi->param[k], sizeof vi->param[k]);
                } else cr_assert_fail("Dimension: unexpected field %d", d.f);
            }
        }
    }
}

static void rd_graph(pbr r, dmodel *m)
{
    pbf x;
    pbr count = r;
    int nn = 0, ni = 0;
    while (rd_field(&count, &x)) {
        nn += x.f == 1;
        ni += x.f == 5;
    }
    m->nodes = calloc((size_t)nn + 1, sizeof *m->nodes);
    m->inits = calloc((size_t)ni + 1, sizeof *m->inits);
    while (rd_field(&r, &x)) {
        cr_assert_eq(x.w, 2);
        if (x.f == 1) rd_node(x.s, &m->nodes[m->n_nodes++]);
        else if (x.f == 2) rd_str(&x.s, m->graph_name, sizeof m->graph_name);
        else if (x.f == 5) rd_tensor(x.s, &m->inits[m->n_inits++]);
        else if (x.f == 11) {
            cr_assert(m->n_in < 2);
            rd_value_info(x.s, &m->in[m->n_in++]);
        } else if (x.f == 12) {
            cr_assert(m->n_out < 2);
            rd_value_info(x.s, &m->out[m->n_out++]);
        } else cr_assert_fail("GraphProto: unexpected field %d", x.f);
    }
}

void load_onnx(const char *path, dmodel *m)
{
    memset(m, 0, sizeof *m);
    FILE *fp = fopen(path, "rb");
    cr_assert(fp, "cannot open %s", path);
    fseek(fp, 0, SEEK_END);
    long len = ftell(fp);
    rewind(fp);
    m->file = malloc((size_t)len + 1);
    cr_assert_eq(fread(m->file, 1, (size_t)len, fp), (size_t)len);
    fclose(fp);
    pbr r = {m->file, m->file + len};
    pbf x, o;
    int graphs = 0;
    while (rd_field(&r, &x)) {
        if (x.f == 1 && x.w == 0) m->ir = (int64_t)x.v;
        else if (x.f == 2 && x.w == 2) rd_str(&x.s, m->producer, sizeof m->producer);
        else if (x.f == 3 && x.w == 2) rd_str(&x.s, m->producer_version, sizeof m->producer_version);
        else if (x.f == 6 && x.w == 2) m->has_doc = 1;
        else if (x.f == 7 && x.w == 2) {
            rd_graph(x.s, m);
            graphs++;
        } else if (x.f == 8 && x.w == 2) {
            m->n_opset++;
            while (rd_field(&x.s, &o)) {
                if (o.f == 1) rd_str(&o.s, m->domain, sizeof m->domain);
                else if (o.f == 2) m->opset = (int64_t)o.v;
                else cr_assert_fail("OperatorSetIdProto: unexpected field %d", o.f);
            }
        } else cr_assert_fail("ModelProto: unexpected field %d (wire %d)", x.f, x.w);
    }
    cr_assert_eq(graphs, 1);
}

void free_onnx(dmodel *m)
{
    free(m->file);
    free(m->nodes);
    free(m->inits);
}

const dtensor *find_init(const dmodel *m, const char *name)
{
    for (int i = 0; i < m->n_inits; i++)
        if (!strcmp(m->inits[i].name, name)) return &m->inits[i];
    return NULL;
}

const dnode *find_node(const dmodel *m, const char *out)
{
    for (int i = 0; i < m->n_nodes; i++)
        if (!strcmp(m->nodes[i].out[0], out)) return &m->nodes[i];
    return NULL;
}

const dattr *find_attr(const dnode *n, const char *name)
{
    for (int i = 0; i < n->n_attr; i++)
        if (!strcmp(n->attr[i].name, name)) return &n->attr[i];
    return NULL;
}

int count_op(const dmodel *m, const char *op)
{
    int c = 0;
    for (int i = 0; i < m->n_nodes; i++) c += !strcmp(m->nodes[i].op, op);
    return c;
}

float raw_f32(const dtensor *t, size_t i)
{
    const uint8_t *b = t->raw + 4 * i;
    uint32_t u = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* Every node input is the graph input, an initialiser or an earlier node's output; every value
 * is produced once; the graph output is produced. */
void check_topology(const dmodel *m)
{
    int cap = m->n_nodes * 2 + m->n_inits + 1, n = 0;
    const char **known = calloc((size_t)cap, sizeof *known);
    known[n++] = m->in[0].name;
    for (int i = 0; i < m->n_inits; i++) known[n++] = m->inits[i].name;
    for (int i = 0; i < m->n_nodes; i++) {
        const dnode *d = &m->nodes[i];
        for (int k = 0; k < d->n_in; k++) {
            int found = 0;
            for (int j = 0; j < n && !found; j++) found = !strcmp(known[j], d->in[k]);
            cr_assert(found, "node %d (%s -> %s): input '%s' is not defined before it", i, d->op, d->out[0], d->in[k]);
        }
        for (int k = 0; k < d->n_out; k++) {
            for (int j = 0; j < n; j++) cr_assert_str_neq(known[j], d->out[k], "value '%s' produced twice", d->out[k]);
            known[n++] = d->out[k];
        }
    }
    cr_assert(find_node(m, m->out[0].name), "nothing produces the output '%s'", m->out[0].name);
    free(known);
}

/* ---- checkpoints made here (no device): deterministic non-trivial values per tensor -------- */

float value_of(int tensor, size_t j, fcl_param_kind kind)
{
    float v = 0.5f * sinf(0.37f * (float)j + 1.3f * (float)tensor);
    return kind == FCL_PARAM_RUNNING_VAR ? 0.5f + fabsf(v) : v;
}

/* Writes a checkpoint of model file `model_path` with `options` (model_options syntax) and
 * eval pipeline `aug` (NULL: none). skip: a tensor to leave out; bad_shape: one written with
 * a wrong shape. *model receives the parsed model. */
void make_checkpoint(const char *path, const char *model_path, const char *name, const char *options,
                            const char *aug, const char *skip, const char *bad_shape, fcl_model **model)
{
    fcl_error err = {0};
    char *text = fcl_test_slurp(model_path);
    fcl_model_opts mo;
    char stem[64];
    fcl_model_opts_init(&mo);
    cr_assert_eq(fcl_model_opts_parse(options, &mo, stem, sizeof stem, &err), FCL_OK, "%s", err.msg);
    fcl_model *m = NULL;
    cr_assert_eq(fcl_model_parse(text, name, &mo, &m, &err), FCL_OK, "%s", err.msg);
    fcl_checkpoint c;
    fcl_ckpt_init(&c);
    int t = 0;
    for (int i = 0; i < m->n_layers; i++) {
        const fcl_layer *L = &m->layers[i];
        for (int k = 0; k < L->n_params; k++, t++) {
            const fcl_param_info *p = &L->params[k];
            if (skip && !strcmp(p->name, skip)) continue;
            if (p->is_int64) {
                int64_t nb = 3;
                cr_assert_eq(fcl_ckpt_add(&c, p->name, FCL_ST_I64, 0, NULL, &nb, &err), FCL_OK, "%s", err.msg);
                continue;
            }
            float *v = malloc((size_t)p->numel * sizeof *v);
            for (int64_t j = 0; j < p->numel; j++) v[j] = value_of(t, (size_t)j, p->kind);
            size_t shape[4];
            for (int d = 0; d < p->ndim; d++) shape[d] = (size_t)p->shape[d];
            int ndim = p->ndim;
            if (bad_shape && !strcmp(p->name, bad_shape)) {
                shape[0] = (size_t)p->numel;
                ndim = 1;
            }
            cr_assert_eq(fcl_ckpt_add_f32(&c, p->name, ndim, shape, v, &err), FCL_OK, "%s", err.msg);
            free(v);
        }
    }
    char base[64];
    snprintf(base, sizeof base, "%.*s", (int)(strlen(name) - 6), name); /* "small.model" -> "small" */
    cr_assert_eq(fcl_ckpt_set_meta(&c, "model", base, &err), FCL_OK);
    cr_assert_eq(fcl_ckpt_set_meta(&c, "model_text", text, &err), FCL_OK);
    cr_assert_eq(fcl_ckpt_set_meta(&c, "model_options", options, &err), FCL_OK);
    if (aug) cr_assert_eq(fcl_ckpt_set_meta(&c, "eval_aug", aug, &err), FCL_OK);
    cr_assert_eq(fcl_st_save(&c, path, &err), FCL_OK, "%s", err.msg);
    fcl_ckpt_free(&c);
    free(text);
    *model = m;
}

void check_weights(const dmodel *d, const fcl_model *m, int with_classifier)
{
    int t = 0, n_ckpt = 0;
    for (int i = 0; i < m->n_layers; i++) {
        const fcl_layer *L = &m->layers[i];
        for (int k = 0; k < L->n_params; k++, t++) {
            const fcl_param_info *p = &L->params[k];
            const dtensor *x = find_init(d, p->name);
            if (p->is_int64 || (L->is_classifier && !with_classifier)) {
                cr_assert_null(x, "'%s' should not be exported", p->name);
                continue;
            }
            cr_assert_not_null(x, "initialiser '%s' missing", p->name);
            n_ckpt++;
            cr_assert_eq(x->dtype, 1, "%s: not FLOAT", p->name);
            /* PReLU slopes and LayerNorm's weight and bias get broadcastable dims, a 1x1 conv
             * stored as a Linear ([out, in]) Conv's 4-D ones (checked apart) */
            int reshaped = L->kind == FCL_LAYER_PRELU || L->kind == FCL_LAYER_LAYERNORM ||
                           (L->kind == FCL_LAYER_CONV && L->conv.linear_shape && p->kind == FCL_PARAM_WEIGHT);
            if (!reshaped) {
                cr_assert_eq(x->ndim, p->ndim, "%s: %d dims", p->name, x->ndim);
                for (int k2 = 0; k2 < p->ndim; k2++) cr_assert_eq(x->dims[k2], p->shape[k2], "%s dim %d", p->name, k2);
            }
            cr_assert_eq(x->raw_len, (size_t)p->numel * 4, "%s: %zu raw bytes", p->name, x->raw_len);
            for (int64_t j = 0; j < p->numel; j++)
                cr_assert_eq(raw_f32(x, (size_t)j), value_of(t, (size_t)j, p->kind), "%s[%lld]", p->name, (long long)j);
        }
    }
    cr_assert(n_ckpt > 0);
}

void expect_ints(const dnode *n, const char *attr, int count, const int64_t *want)
{
    const dattr *a = find_attr(n, attr);
    cr_assert_not_null(a, "%s: no attribute %s", n->out[0], attr);
    cr_assert_eq(a->n_ints, count, "%s.%s: %d values", n->out[0], attr, a->n_ints);
    for (int k = 0; k < count; k++)
        cr_assert_eq(a->ints[k], want[k], "%s.%s[%d] = %lld, expected %lld", n->out[0], attr, k, (long long)a->ints[k],
                     (long long)want[k]);
}

char onnx_tmp_dir[32], onnx_tmp_ckpt[256], onnx_tmp_onnx[256];

void onnx_tmp_setup(void)
{
    snprintf(onnx_tmp_dir, sizeof onnx_tmp_dir, "/tmp/fcl_onnx_XXXXXX");
    cr_assert(mkdtemp(onnx_tmp_dir));
    snprintf(onnx_tmp_ckpt, sizeof onnx_tmp_ckpt, "%s/c.safetensors", onnx_tmp_dir);
    snprintf(onnx_tmp_onnx, sizeof onnx_tmp_onnx, "%s/m.onnx", onnx_tmp_dir);
}

void onnx_tmp_teardown(void) { cr_expect(fcl_test_rm_rf(onnx_tmp_dir)); }

void check_export(const dmodel *d, const fcl_model *m, int with_classifier)
{
    check_weights(d, m, with_classifier);
    check_topology(d);
}

fcl_model *export_and_load(const char *ckpt_path, const char *model_path, const char *name, const char *options,
                           const char *aug, fcl_export_output output, const char *onnx_path, dmodel *d)
{
    fcl_model *m;
    make_checkpoint(ckpt_path, model_path, name, options, aug, NULL, NULL, &m);
    fcl_error err = {0};
    cr_assert_eq(fcl_onnx_export_checkpoint(ckpt_path, output, onnx_path, NULL, &err), FCL_OK, "%s", err.msg);
    load_onnx(onnx_path, d);
    return m;
}

void expect_op_counts(const dmodel *d, const op_count *counts, int n_counts)
{
    int total = 0;
    for (int k = 0; k < n_counts; k++) {
        cr_assert_eq(count_op(d, counts[k].op), counts[k].n, "%s: %d nodes, expected %d", counts[k].op,
                     count_op(d, counts[k].op), counts[k].n);
        total += counts[k].n;
    }
    cr_assert_eq(d->n_nodes, total, "%d nodes of other kinds", d->n_nodes - total);
}
