/* host/io/onnx.h: an ONNX model writer (ModelProto / GraphProto / NodeProto / TensorProto / ValueInfoProto encoded from onnx.proto3's field numbers). */
#ifndef FACECL_HOST_IO_ONNX_H
#define FACECL_HOST_IO_ONNX_H

#include <stddef.h>
#include <stdint.h>

#include "facecl/status.h"
#include "io/protobuf.h"

/* TensorProto.DataType values used here. */
enum { FCL_ONNX_FLOAT = 1, FCL_ONNX_INT64 = 7 };

/* AttributeProto.AttributeType values used here. */
enum { FCL_ONNX_ATTR_FLOAT = 1, FCL_ONNX_ATTR_INT = 2, FCL_ONNX_ATTR_INTS = 7 };

typedef struct fcl_onnx_attr {
    const char *name;
    int type;               /* FCL_ONNX_ATTR_* */
    int64_t i;              /* INT */
    float f;                /* FLOAT */
    const int64_t *ints;    /* INTS */
    int n_ints;
} fcl_onnx_attr;

/* A graph being built: each repeated field of GraphProto already encoded, in its own buffer,
 * so the model is written in field-number order without copying the (large) initialisers. */
typedef struct fcl_onnx_graph {
    fcl_pb nodes;        /* GraphProto.node (1) */
    fcl_pb inits;        /* GraphProto.initializer (5) */
    fcl_pb inputs;       /* GraphProto.input (11) */
    fcl_pb outputs;      /* GraphProto.output (12) */
    int n_nodes, n_inits;
    char name[128];      /* GraphProto.name (2) */
} fcl_onnx_graph;

typedef struct fcl_onnx_model_info {
    int64_t ir_version;        /* ModelProto.ir_version (7 goes with opset 13) */
    int64_t opset;             /* the default-domain ("ai.onnx") opset imported */
    const char *producer_name, *producer_version;
    const char *doc_string;    /* may be NULL */
} fcl_onnx_model_info;

void fcl_onnx_graph_free(fcl_onnx_graph *g);

/* NodeProto: inputs / outputs by value name ("" is an omitted optional input), op_type in the
 * default domain, attributes in the order given. */
void fcl_onnx_node(fcl_onnx_graph *g, const char *op_type, const char *name, const char *const *inputs,
                   int n_inputs, const char *const *outputs, int n_outputs, const fcl_onnx_attr *attrs,
                   int n_attrs);
/* Initialisers (TensorProto with dims, data_type, name, raw_data little-endian). */
void fcl_onnx_init_f32(fcl_onnx_graph *g, const char *name, int ndim, const int64_t *dims, const float *data);
void fcl_onnx_init_i64(fcl_onnx_graph *g, const char *name, int ndim, const int64_t *dims, const int64_t *data);
/* A graph input (is_output 0) or output: ValueInfoProto with a tensor type of elem_type and a
 * shape; dims[i] < 0 is the symbolic dimension dim_params[i] ("N"). */
void fcl_onnx_value_info(fcl_onnx_graph *g, int is_output, const char *name, int elem_type, int ndim,
                         const int64_t *dims, const char *const *dim_params);

/* Encodes the single messages on their own (what the graph functions append; the tests check
 * them byte for byte). */
void fcl_onnx_encode_tensor(fcl_pb *p, int field, const char *name, int data_type, int ndim, const int64_t *dims,
                            const void *raw_le, size_t raw_bytes);
void fcl_onnx_encode_attr(fcl_pb *p, int field, const fcl_onnx_attr *a);

/* The whole ModelProto into out (tests, small models). */
void fcl_onnx_encode_model(const fcl_onnx_graph *g, const fcl_onnx_model_info *info, fcl_pb *out);
/* The whole ModelProto to path, atomically (temporary file, fsync, rename): the previous file,
 * if any, is untouched on failure. Out-of-memory while building the graph is reported here. */
fcl_status fcl_onnx_write(const fcl_onnx_graph *g, const fcl_onnx_model_info *info, const char *path,
                          fcl_error *err);

#endif
