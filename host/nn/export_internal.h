/* host/nn/export_internal.h: what the ONNX exporter's driver (export_onnx.c) and its per-layer mappings (export_layers*.c) share. */
#ifndef FACECL_NN_EXPORT_INTERNAL_H
#define FACECL_NN_EXPORT_INTERNAL_H

#include "facecl/export.h"
#include "io/onnx.h"

#define EX_NAME_MAX 192

/* Scalar float constants shared by all nodes that need them (ex_scalar). */
typedef enum ex_scalar_id {
    EX_RELU6_MIN, EX_RELU6_MAX, EX_HALF, EX_ONE, EX_RSQRT2, EX_GELU_K0, EX_GELU_K1, EX_SCALAR_COUNT
} ex_scalar_id;

/* The export in progress. Every layer output is one graph value; `rank` says whether it is a
 * 4-D [N, C, H, W] value or a 2-D [N, C*H*W] one (what Flatten and Gemm produce); the two hold
 * the same numbers in the same order, and ex_as4d / ex_as2d convert with a Reshape / Flatten. */
typedef struct fcl_exporter {
    fcl_onnx_graph g;
    const fcl_model *m;
    const fcl_checkpoint *w;
    fcl_error *err;
    char (*value)[EX_NAME_MAX];   /* [n_layers] value name of each layer's output */
    int *rank;                    /* [n_layers] 4 or 2 */
    char input[EX_NAME_MAX];      /* the network input after normalisation */
    int unique;                   /* counter for helper value names */
    unsigned have_scalar;         /* bit k: scalar constant k (ex_scalar_id) is in the graph */
    int64_t parameters;
} fcl_exporter;

/* Value name and rank of layer i's input number k (-1: the network input). */
const char *ex_in(const fcl_exporter *x, const fcl_layer *L, int k);
int ex_in_rank(const fcl_exporter *x, const fcl_layer *L, int k);
/* A fresh value name "<base>/<what>" (unique in the graph) into out. */
void ex_tmp(fcl_exporter *x, const char *base, const char *what, char out[EX_NAME_MAX]);
/* v (rank r) as a 4-D value of shape [N, c, h, w] / as a 2-D value; out may be v itself. */
void ex_as4d(fcl_exporter *x, const char *v, int r, int c, int h, int w, const char *base, char out[EX_NAME_MAX]);
void ex_as2d(fcl_exporter *x, const char *v, int r, const char *base, char out[EX_NAME_MAX]);
/* The checkpoint tensor of L's parameter `kind` as an initialiser under its own name (dims:
 * NULL for the checkpoint's shape, else the given ones with the same element count). NULL
 * (with x->err set) when missing or mis-shaped; "" when L has no such parameter (optional). */
const char *ex_weight(fcl_exporter *x, const fcl_layer *L, fcl_param_kind kind, int ndim, const int64_t *dims);
/* A float initialiser made here (constants, pooling matrices). */
void ex_const(fcl_exporter *x, const char *name, int ndim, const int64_t *dims, const float *data);
/* One node whose single output is `out`. */
void ex_node(fcl_exporter *x, const char *op, const char *out, const char *const *in, int n_in,
             const fcl_onnx_attr *attrs, int n_attrs);

/* The name of scalar constant `id`, added to the graph on first use. */
const char *ex_scalar(fcl_exporter *x, ex_scalar_id id);
/* GELU of value `in` into x->value[i] (tanh_form: torch's approximate='tanh'). */
fcl_status ex_map_gelu(fcl_exporter *x, int i, const char *in, int tanh_form);
/* LayerNorm2d, learned tensors, radix sum, r-SoftMax, constant scale (export_layers_ext.c). */
fcl_status ex_map_ext(fcl_exporter *x, int i);
/* Conv layer i's standardised weight (ws=1) computed in the graph from its weight value w. */
fcl_status ex_ws_weight(fcl_exporter *x, int i, const char *w, char out[EX_NAME_MAX]);

/* Emits the nodes of layer i (its output value is x->value[i], rank x->rank[i]). */
fcl_status ex_layer(fcl_exporter *x, int i);

#endif
