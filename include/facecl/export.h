/* facecl/export.h: exporting a trained network to ONNX for deployment runtimes. */
#ifndef FACECL_EXPORT_H
#define FACECL_EXPORT_H

#include "augment.h"
#include "model.h"
#include "safetensors.h"
#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The exported model (opset 13, IR version 7; written by facecl's own protobuf encoder):
 *   input  "input"  float [N, C, H, W], N symbolic: the image as facecl feeds its loader's output
 *          to the network: decoded pixel values in [0, 1] (8-bit value / 255), channels as the
 *          model was trained (1 grey, 3 RGB), already resized to H x W. The checkpoint's eval
 *          normalisation ((x - mean) / std) is the first two nodes of the graph, so callers
 *          never normalise themselves.
 *   output "embedding" float [N, D]: the embedding layer's output L2-normalised per row (a zero
 *          row stays zero), i.e. exactly the rows `facecl embed` writes; or
 *          "logits" float [N, classes]: the classifier output (before softmax), as `facecl eval`.
 * Batch norm stays as BatchNormalization nodes (inference form: running statistics), so every
 * initialiser is a checkpoint tensor under its state_dict name, unchanged. Only the layers the
 * chosen output depends on are exported. */
#define FCL_ONNX_OPSET 13
#define FCL_ONNX_IR_VERSION 7

typedef enum fcl_export_output {
    FCL_EXPORT_EMBEDDING = 0,
    FCL_EXPORT_LOGITS
} fcl_export_output;

typedef struct fcl_export_summary {
    int nodes, initializers;        /* in the written graph */
    int64_t parameters;             /* float values in the initialisers */
    int channels, height, width;    /* the input per image */
    int out_dim;                    /* D or classes */
    int normalisation;              /* 1: the graph starts with the eval normalisation */
} fcl_export_summary;

/* Writes `model` with the weights of `weights` (a state_dict by torch names, e.g. a loaded
 * checkpoint) to path atomically. preprocess: the eval pipeline (NULL: none); its norm steps
 * become graph nodes and any other step is FCL_ERR_UNSUPPORTED (it cannot run on the [N, C, H,
 * W] input). A layer kind without an ONNX mapping is FCL_ERR_UNSUPPORTED naming the layer;
 * a missing or mis-shaped weight FCL_ERR_SHAPE naming the tensor; --logits of a network without
 * a classifier FCL_ERR_INVALID_ARG. summary may be NULL. */
fcl_status fcl_onnx_export(const fcl_model *model, const fcl_checkpoint *weights,
                           const fcl_aug_pipeline *preprocess, fcl_export_output output,
                           const char *path, fcl_export_summary *summary, fcl_error *err);

/* The same from a checkpoint file written by facecl train: its model text, options, eval
 * pipeline and weights. No device is needed. */
fcl_status fcl_onnx_export_checkpoint(const char *checkpoint, fcl_export_output output, const char *path,
                                      fcl_export_summary *summary, fcl_error *err);

#ifdef __cplusplus
}
#endif
#endif
