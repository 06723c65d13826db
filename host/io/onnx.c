/* host/io/onnx.c: ONNX model writer: the messages of onnx.proto3 encoded field by field, written atomically. */
#include <stdio.h>
#include <string.h>

#include "io/csv_internal.h"
#include "io/onnx.h"

/* Field numbers from onnx.proto3 (github.com/onnx/onnx/blob/main/onnx/onnx.proto3). */
enum { MODEL_IR_VERSION = 1, MODEL_PRODUCER_NAME = 2, MODEL_PRODUCER_VERSION = 3, MODEL_DOC_STRING = 6,
       MODEL_GRAPH = 7, MODEL_OPSET_IMPORT = 8 };
enum { OPSET_DOMAIN = 1, OPSET_VERSION = 2 };
enum { GRAPH_NODE = 1, GRAPH_NAME = 2, GRAPH_INITIALIZER = 5, GRAPH_INPUT = 11, GRAPH_OUTPUT = 12 };
enum { NODE_INPUT = 1, NODE_OUTPUT = 2, NODE_NAME = 3, NODE_OP_TYPE = 4, NODE_ATTRIBUTE = 5 };
enum { ATTR_NAME = 1, ATTR_F = 2, ATTR_I = 3, ATTR_INTS = 8, ATTR_TYPE = 20 };
enum { TENSOR_DIMS = 1, TENSOR_DATA_TYPE = 2, TENSOR_NAME = 8, TENSOR_RAW_DATA = 9 };
enum { VI_NAME = 1, VI_TYPE = 2 };
enum { TYPE_TENSOR_TYPE = 1 };
enum { TT_ELEM_TYPE = 1, TT_SHAPE = 2 };
enum { SHAPE_DIM = 1 };
enum { DIM_VALUE = 1, DIM_PARAM = 2 };

void fcl_onnx_graph_free(fcl_onnx_graph *g)
{
    fcl_pb_free(&g->nodes);
    fcl_pb_free(&g->inits);
    fcl_pb_free(&g->inputs);
    fcl_pb_free(&g->outputs);
    memset(g, 0, sizeof *g);
}

void fcl_onnx_encode_attr(fcl_pb *p, int field, const fcl_onnx_attr *a)
{
    size_t m = fcl_pb_begin(p, field);
    fcl_pb_string(p, ATTR_NAME, a->name);
    if (a->type == FCL_ONNX_ATTR_FLOAT) fcl_pb_float(p, ATTR_F, a->f);
    if (a->type == FCL_ONNX_ATTR_INT) fcl_pb_int(p, ATTR_I, a->i);
    if (a->type == FCL_ONNX_ATTR_INTS)
        for (int k = 0; k < a->n_ints; k++) fcl_pb_int(p, ATTR_INTS, a->ints[k]);
    fcl_pb_int(p, ATTR_TYPE, a->type);
    fcl_pb_end(p, m);
}

void fcl_onnx_node(fcl_onnx_graph *g, const char *op_type, const char *name, const char *const *inputs,
                   int n_inputs, const char *const *outputs, int n_outputs, const fcl_onnx_attr *attrs,
                   int n_attrs)
{
    fcl_pb *p = &g->nodes;
    size_t m = fcl_pb_begin(p, GRAPH_NODE);
    for (int k = 0; k < n_inputs; k++) fcl_pb_string(p, NODE_INPUT, inputs[k]);
    for (int k = 0; k < n_outputs; k++) fcl_pb_string(p, NODE_OUTPUT, outputs[k]);
    if (name && *name) fcl_pb_string(p, NODE_NAME, name);
    fcl_pb_string(p, NODE_OP_TYPE, op_type);
    for (int k = 0; k < n_attrs; k++) fcl_onnx_encode_attr(p, NODE_ATTRIBUTE, &attrs[k]);
    fcl_pb_end(p, m);
    g->n_nodes++;
}

void fcl_onnx_encode_tensor(fcl_pb *p, int field, const char *name, int data_type, int ndim, const int64_t *dims,
                            const void *raw_le, size_t raw_bytes)
{
    size_t m = fcl_pb_begin(p, field);
    for (int k = 0; k < ndim; k++) fcl_pb_int(p, TENSOR_DIMS, dims[k]);
    fcl_pb_int(p, TENSOR_DATA_TYPE, data_type);
    fcl_pb_string(p, TENSOR_NAME, name);
    fcl_pb_bytes(p, TENSOR_RAW_DATA, raw_le, raw_bytes);
    fcl_pb_end(p, m);
}

/* Element count of a shape (dims are small non-negative here). */
static size_t numel(int ndim, const int64_t *dims)
{
    size_t n = 1;
    for (int k = 0; k < ndim; k++) n *= (size_t)dims[k];
    return n;
}

/* raw_data is little-endian whatever the host: write the bytes one value at a time, in place
 * (the tag and length first, then n values of `size` bytes). */
static void tensor_le(fcl_onnx_graph *g, const char *name, int data_type, int ndim, const int64_t *dims,
                      const void *data, size_t size)
{
    fcl_pb *p = &g->inits;
    size_t n = numel(ndim, dims);
    size_t m = fcl_pb_begin(p, GRAPH_INITIALIZER);
    for (int k = 0; k < ndim; k++) fcl_pb_int(p, TENSOR_DIMS, dims[k]);
    fcl_pb_int(p, TENSOR_DATA_TYPE, data_type);
    fcl_pb_string(p, TENSOR_NAME, name);
    fcl_pb_len_prefix(p, TENSOR_RAW_DATA, n * size);
    const uint8_t *src = data;
    for (size_t i = 0; i < n; i++) {
        uint8_t b[8];
        uint64_t u = 0;
        if (size == 4) {
            uint32_t v;
            memcpy(&v, src + i * 4, 4);
            u = v;
        } else {
            memcpy(&u, src + i * 8, 8);
        }
        for (size_t j = 0; j < size; j++) b[j] = (uint8_t)(u >> (8 * j));
        fcl_pb_raw(p, b, size);
    }
    fcl_pb_end(p, m);
    g->n_inits++;
}

void fcl_onnx_init_f32(fcl_onnx_graph *g, const char *name, int ndim, const int64_t *dims, const float *data)
{
    tensor_le(g, name, FCL_ONNX_FLOAT, ndim, dims, data, 4);
}

void fcl_onnx_init_i64(fcl_onnx_graph *g, const char *name, int ndim, const int64_t *dims, const int64_t *data)
{
    tensor_le(g, name, FCL_ONNX_INT64, ndim, dims, data, 8);
}

void fcl_onnx_value_info(fcl_onnx_graph *g, int is_output, const char *name, int elem_type, int ndim,
                         const int64_t *dims, const char *const *dim_params)
{
    fcl_pb *p = is_output ? &g->outputs : &g->inputs;
    size_t vi = fcl_pb_begin(p, is_output ? GRAPH_OUTPUT : GRAPH_INPUT);
    fcl_pb_string(p, VI_NAME, name);
    size_t ty = fcl_pb_begin(p, VI_TYPE);
    size_t tt = fcl_pb_begin(p, TYPE_TENSOR_TYPE);
    fcl_pb_int(p, TT_ELEM_TYPE, elem_type);
    size_t sh = fcl_pb_begin(p, TT_SHAPE);
    for (int k = 0; k < ndim; k++) {
        size_t d = fcl_pb_begin(p, SHAPE_DIM);
        if (dims[k] < 0)
            fcl_pb_string(p, DIM_PARAM, dim_params[k]);
        else
            fcl_pb_int(p, DIM_VALUE, dims[k]);
        fcl_pb_end(p, d);
    }
    fcl_pb_end(p, sh);
    fcl_pb_end(p, tt);
    fcl_pb_end(p, ty);
    fcl_pb_end(p, vi);
}

/* The ModelProto in three pieces: head (fields 1-6 and the graph's tag and length), the graph's
 * body (its buffers, in field order, plus the name), tail (opset_import). */
static void model_parts(const fcl_onnx_graph *g, const fcl_onnx_model_info *info, fcl_pb *head, fcl_pb *name,
                        fcl_pb *tail)
{
    fcl_pb_int(head, MODEL_IR_VERSION, info->ir_version);
    if (info->producer_name) fcl_pb_string(head, MODEL_PRODUCER_NAME, info->producer_name);
    if (info->producer_version) fcl_pb_string(head, MODEL_PRODUCER_VERSION, info->producer_version);
    if (info->doc_string) fcl_pb_string(head, MODEL_DOC_STRING, info->doc_string);
    fcl_pb_string(name, GRAPH_NAME, g->name);
    size_t body = g->nodes.len + name->len + g->inits.len + g->inputs.len + g->outputs.len;
    fcl_pb_len_prefix(head, MODEL_GRAPH, body);
    size_t m = fcl_pb_begin(tail, MODEL_OPSET_IMPORT);
    fcl_pb_string(tail, OPSET_DOMAIN, ""); /* the default domain, set explicitly as onnx's helper does */
    fcl_pb_int(tail, OPSET_VERSION, info->opset);
    fcl_pb_end(tail, m);
}

static int graph_ok(const fcl_onnx_graph *g)
{
    return fcl_pb_ok(&g->nodes) && fcl_pb_ok(&g->inits) && fcl_pb_ok(&g->inputs) && fcl_pb_ok(&g->outputs);
}

void fcl_onnx_encode_model(const fcl_onnx_graph *g, const fcl_onnx_model_info *info, fcl_pb *out)
{
    fcl_pb name = {0}, tail = {0};
    model_parts(g, info, out, &name, &tail);
    fcl_pb_raw(out, g->nodes.buf, g->nodes.len);
    fcl_pb_raw(out, name.buf, name.len);
    fcl_pb_raw(out, g->inits.buf, g->inits.len);
    fcl_pb_raw(out, g->inputs.buf, g->inputs.len);
    fcl_pb_raw(out, g->outputs.buf, g->outputs.len);
    fcl_pb_raw(out, tail.buf, tail.len);
    if (!fcl_pb_ok(&name) || !fcl_pb_ok(&tail) || !graph_ok(g)) out->oom = 1;
    fcl_pb_free(&name);
    fcl_pb_free(&tail);
}

fcl_status fcl_onnx_write(const fcl_onnx_graph *g, const fcl_onnx_model_info *info, const char *path,
                          fcl_error *err)
{
    fcl_pb head = {0}, name = {0}, tail = {0};
    fcl_status st = FCL_OK;
    model_parts(g, info, &head, &name, &tail);
    if (!fcl_pb_ok(&head) || !fcl_pb_ok(&name) || !fcl_pb_ok(&tail) || !graph_ok(g)) {
        st = FCL_ERR(err, FCL_ERR_NOMEM, "%s: out of memory while encoding the ONNX model", path);
        goto done;
    }
    fcl_atomic_file af;
    if ((st = fcl_atomic_open(&af, path, err))) goto done;
    const fcl_pb *parts[] = {&head, &g->nodes, &name, &g->inits, &g->inputs, &g->outputs, &tail};
    for (size_t k = 0; k < sizeof parts / sizeof parts[0]; k++) {
        if (parts[k]->len && fwrite(parts[k]->buf, 1, parts[k]->len, af.f) != parts[k]->len) {
            fcl_atomic_abort(&af);
            st = FCL_ERR(err, FCL_ERR_IO, "%s: write failed", path);
            goto done;
        }
    }
    st = fcl_atomic_commit(&af, err);
done:
    fcl_pb_free(&head);
    fcl_pb_free(&name);
    fcl_pb_free(&tail);
    return st;
}
