/* tests/helpers/onnx_reader.h: a minimal strict ONNX reader for the export tests (decodes what facecl's writer emits; any other field fails the test) and a device-free checkpoint maker. */
#ifndef FACECL_TESTS_ONNX_READER_H
#define FACECL_TESTS_ONNX_READER_H

#include <stddef.h>
#include <stdint.h>

#include <facecl/facecl.h>

#define NAME_MAX_ 200

typedef struct dattr {
    char name[64];
    int type;
    int64_t i;
    float f;
    int n_ints;
    int64_t ints[8];
} dattr;

typedef struct dnode {
    char op[32], name[NAME_MAX_];
    int n_in, n_out, n_attr;
    char in[9][NAME_MAX_], out[2][NAME_MAX_];
    dattr attr[6];
} dnode;

typedef struct dtensor {
    char name[NAME_MAX_];
    int dtype, ndim;
    int64_t dims[8];
    const uint8_t *raw;
    size_t raw_len;
} dtensor;

typedef struct dvi {
    char name[64];
    int elem, ndim;
    int64_t dims[8];
    char param[8][16];
} dvi;

typedef struct dmodel {
    uint8_t *file;
    int64_t ir, opset;
    int n_opset;
    char domain[16], producer[32], producer_version[32], graph_name[64];
    int has_doc;
    dnode *nodes;
    int n_nodes;
    dtensor *inits;
    int n_inits;
    dvi in[2], out[2];
    int n_in, n_out;
} dmodel;

/* Reads and decodes an .onnx file (asserting on anything malformed or unexpected). */
void load_onnx(const char *path, dmodel *m);
void free_onnx(dmodel *m);
const dtensor *find_init(const dmodel *m, const char *name);
/* The node whose first output is `out`. */
const dnode *find_node(const dmodel *m, const char *out);
const dattr *find_attr(const dnode *n, const char *name);
int count_op(const dmodel *m, const char *op);
/* Element i of a FLOAT initialiser's raw_data (little-endian). */
float raw_f32(const dtensor *t, size_t i);
/* Every node input defined before use, every value produced once, the output produced. */
void check_topology(const dmodel *m);

/* The value make_checkpoint gives element j of state_dict entry number `tensor`. */
float value_of(int tensor, size_t j, fcl_param_kind kind);
/* Writes a checkpoint (no device) of model file `model_path` (`name`: "small.model") with
 * `options` (model_options syntax), eval pipeline `aug` (NULL: none); skip: a tensor to leave
 * out, bad_shape: one written flattened (NULL: none). *model receives the parsed model. */
void make_checkpoint(const char *path, const char *model_path, const char *name, const char *options,
                     const char *aug, const char *skip, const char *bad_shape, fcl_model **model);
/* Every checkpoint tensor of m (but num_batches_tracked, and the classifier's unless
 * with_classifier) is an initialiser under its state_dict name, with its shape and the values
 * make_checkpoint gave it (same float bits); nothing of the classifier otherwise. */
void check_weights(const dmodel *d, const fcl_model *m, int with_classifier);
/* check_weights, then check_topology: an exported network's weights and a well-formed graph. */
void check_export(const dmodel *d, const fcl_model *m, int with_classifier);
/* make_checkpoint (no eval pipeline step but `aug`), exports `output` to onnx_path and decodes
 * it into d, asserting each step; returns the parsed model. */
fcl_model *export_and_load(const char *ckpt_path, const char *model_path, const char *name, const char *options,
                           const char *aug, fcl_export_output output, const char *onnx_path, dmodel *d);

/* The graph holds exactly these nodes: counts[k].n of op counts[k].op, and no other op. */
typedef struct op_count {
    const char *op;
    int n;
} op_count;
void expect_op_counts(const dmodel *d, const op_count *counts, int n_counts);

/* Attribute `attr` of n is an INTS of exactly these values. */
void expect_ints(const dnode *n, const char *attr, int count, const int64_t *want);

/* A test's temporary folder onnx_tmp_dir (a fresh /tmp/fcl_onnx_XXXXXX) with the paths
 * "<dir>/c.safetensors" and "<dir>/m.onnx" in onnx_tmp_ckpt / onnx_tmp_onnx; the teardown removes
 * it with everything in it (TestSuite .init / .fini). */
extern char onnx_tmp_dir[32], onnx_tmp_ckpt[256], onnx_tmp_onnx[256];
void onnx_tmp_setup(void);
void onnx_tmp_teardown(void);

#endif
