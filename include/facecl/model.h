/* facecl/model.h: network architectures read from model files (the .model files in models/) into a layer graph. */
#ifndef FACECL_MODEL_H
#define FACECL_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "status.h"
#include "ops_act.h"
#include "ops_pool.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The model-file format is described in models/README.md (and at the top of
 * host/nn/model_parse.c). Parsing is host-only: no OpenCL object is touched. */

/* ---- options chosen at run time --------------------------------------------------------------
 * Every field may be left "unset", in which case the model file's `option` line, else the
 * built-in default applies (built-in defaults are torchvision's: 3 channels, 224x224, 1000
 * classes, no embedding head, width 1, stem "imagenet"). Start from fcl_model_opts_init(). */
#define FCL_MODEL_UNSET (-1)

typedef struct fcl_model_opts {
    int channels;       /* input channels (1 grey, 3 RGB); FCL_MODEL_UNSET: unset (any other
                           value < 1, such as 0, is refused, never read as unset) */
    int size;           /* input height = width in pixels; FCL_MODEL_UNSET: unset (0 refused) */
    int size_h, size_w; /* separate height / width; set, they override `size` for that dimension */
    int classes;        /* classifier outputs; 0: no classifier (embedding-only network);
                           FCL_MODEL_UNSET (< 0): unset */
    int embedding;      /* > 0: insert an embedding head (linear to E + batchnorm1d) between
                           the pooled features and the classifier; 0: the pooled features are
                           the embedding; FCL_MODEL_UNSET (< 0): unset */
    double width;       /* width multiplier (MobileNetV2); FCL_MODEL_UNSET: unset (0 refused) */
    const char *stem;   /* "imagenet" or "face" (what a model accepts is up to its file); NULL:
                           unset. Copied by the parser. */
} fcl_model_opts;

/* Sets every field to "unset". */
void fcl_model_opts_init(fcl_model_opts *o);

/* ---- the layer graph (IR) ------------------------------------------------------------------ */

typedef enum fcl_layer_kind {
    FCL_LAYER_CONV = 0,         /* torch.nn.Conv2d */
    FCL_LAYER_BN,               /* BatchNorm2d; on a [C,1,1] input it is BatchNorm1d */
    FCL_LAYER_ACT,              /* parameter-free activation: act.kind (+ act.slope) */
    FCL_LAYER_PRELU,            /* torch.nn.PReLU: learned slopes (one per channel, or one) */
    FCL_LAYER_MAXPOOL,          /* MaxPool2d (pool) */
    FCL_LAYER_AVGPOOL,          /* AvgPool2d (pool, with ceil_mode / count_include_pad) */
    FCL_LAYER_GLOBAL_AVGPOOL,   /* AdaptiveAvgPool2d(1): [C,H,W] -> [C,1,1] */
    FCL_LAYER_ADAPTIVE_AVGPOOL, /* AdaptiveAvgPool2d((out_h, out_w)) (AlexNet, VGG) */
    FCL_LAYER_LINEAR,           /* nn.Linear over the flattened input (C*H*W) -> [out,1,1] */
    FCL_LAYER_ADD,              /* sum of n_inputs (>= 2) tensors of equal shape */
    FCL_LAYER_CHANNEL_MUL,      /* SE scale: inputs[0] x [C,H,W] times inputs[1] s [C,1,1] */
    FCL_LAYER_CONCAT,           /* channel concatenation of n_inputs tensors (equal H, W) */
    FCL_LAYER_DROPOUT,          /* nn.Dropout(p); identity at inference */
    FCL_LAYER_FLATTEN,          /* [C,H,W] -> [C*H*W,1,1] (no data movement in NCHW) */
    /* issue 12's building blocks (host/nn/model_layers_ext.c, host/nn/net_layers_ext.c) */
    FCL_LAYER_DROP_PATH,        /* stochastic depth, torchvision StochasticDepth(p, "row"): each
                                   image kept with prob 1 - p and scaled by 1 / (1 - p), or zeroed;
                                   identity at inference */
    FCL_LAYER_LAYERNORM,        /* LayerNorm over the channels of each pixel (LayerNorm2d, or
                                   ConvNeXt's channels-last nn.LayerNorm): weight, bias [C] */
    FCL_LAYER_PARAM,            /* a learned tensor gamma [C,1,1] named as the layer (ConvNeXt's
                                   "features.1.0.layer_scale"), output per image broadcast over
                                   the batch; its input only places it (a parameter registered on
                                   a block itself comes first in torch's state_dict) */
    FCL_LAYER_RADIX_SUM,        /* ResNeSt: [R*C,H,W] -> [C,H,W], the R splits summed, each
                                   weighted by inputs[1] [R*C,1,1] when given (split attention) */
    FCL_LAYER_RSOFTMAX,         /* ResNeSt's r-SoftMax over the radix of [R*C,1,1] (timm's
                                   RadixSoftmax; sigmoid when R is 1) */
    FCL_LAYER_SCALE,            /* y = x * ext.scale, a constant (NFNet's alpha / beta / attn_gain) */
    FCL_LAYER_KIND_COUNT
} fcl_layer_kind;

/* What a parameter tensor is; names follow torch's state_dict ("conv1.weight", ...). */
typedef enum fcl_param_kind {
    FCL_PARAM_WEIGHT = 0,       /* conv/linear weight, BN gamma, PReLU slopes */
    FCL_PARAM_BIAS,             /* conv/linear bias, BN beta */
    FCL_PARAM_RUNNING_MEAN,     /* BN buffer */
    FCL_PARAM_RUNNING_VAR,      /* BN buffer */
    FCL_PARAM_NUM_BATCHES,      /* BN buffer num_batches_tracked: a 0-dim int64 in torch */
    FCL_PARAM_GAIN,             /* a weight-standardised conv's gain [cout, 1, 1, 1] (timm's
                                   ScaledStdConv2d.gain) */
    FCL_PARAM_KIND_COUNT
} fcl_param_kind;

#define FCL_MODEL_NAME_MAX 128   /* longest state_dict key / layer name, with the NUL */
#define FCL_LAYER_MAX_INPUTS 8

/* One state_dict entry. Shapes are torch's: conv weight [cout, cin/groups, kh, kw], linear
 * weight [out, in], bias / BN vectors [C], num_batches_tracked [] (ndim 0, numel 1). */
typedef struct fcl_param_info {
    char name[FCL_MODEL_NAME_MAX];
    int ndim;
    int shape[4];
    int64_t numel;
    fcl_param_kind kind;
    int trainable;      /* 1: an nn.Parameter (gets a gradient); 0: a buffer */
    int decay;          /* 1: weight decay applies (conv and linear weights only; never BN,
                           biases, PReLU slopes or buffers) */
    int is_int64;       /* 1: torch stores it as int64 (num_batches_tracked) */
    int fixed;          /* 1: an nn.Parameter with requires_grad=False (insightface's
                           features.weight): counted and saved as a parameter, never updated */
} fcl_param_info;

typedef struct fcl_layer {
    fcl_layer_kind kind;
    char name[FCL_MODEL_NAME_MAX];   /* torchvision-style prefix of its parameters
                                        ("layer1.0.conv1"); "" for an unnamed layer */
    char scope[FCL_MODEL_NAME_MAX];  /* the enclosing block instance ("layer1.0"; "" at top) */
    int line;                        /* line of the model file that made it */

    int n_inputs;
    int inputs[FCL_LAYER_MAX_INPUTS]; /* earlier layer indices; -1 is the network input */
    int in_c, in_h, in_w;             /* shape of inputs[0] (per image) */
    int out_c, out_h, out_w;          /* output shape (per image) */

    /* Kind-specific settings; only the member for `kind` is meaningful. */
    struct {
        int cin, cout, kh, kw, stride_h, stride_w, pad_h, pad_w, dil_h, dil_w, groups, bias;
        int linear_shape;                /* 1x1 conv stored as a Linear: weight [cout, cin] */
        int ws;                          /* 1: scaled weight standardisation (timm ScaledStdConv2d):
                                            the conv uses gain * ws_scale * (w - mean) / std */
        float ws_scale, ws_eps, gain_init; /* ws_scale = gamma / sqrt(fan-in) */
    } conv;
    struct {
        float eps, momentum;             /* PyTorch defaults 1e-5, 0.1 */
        int affine;                      /* 1: weight (gamma) and bias (beta) exist */
        float weight_init;               /* gamma's initial value: 1, or 0 where the reference
                                            zero-inits a residual branch's last BN (timm's
                                            zero_init_last) so each block starts as the identity */
    } bn;
    struct {
        fcl_act_kind kind;
        float slope;                     /* LEAKY_RELU negative slope */
    } act;
    struct {
        int shared;                      /* 1: a single slope for all channels */
        float init;                      /* initial slope value (PyTorch 0.25) */
    } prelu;
    fcl_pool2d_params pool;              /* MAXPOOL / AVGPOOL (stride already filled in) */
    struct {
        int out_h, out_w;
    } adaptive;
    struct {
        int in, out, bias;
    } linear;
    struct {
        float p;
    } dropout;
    struct {
        float p;                         /* DROP_PATH drop probability */
        float eps;                       /* LAYERNORM */
        float init;                      /* PARAM initial value */
        int radix, cardinality;          /* RADIX_SUM, RSOFTMAX */
        float scale;                     /* SCALE */
    } ext;

    int n_params;
    fcl_param_info *params;   /* its state_dict entries, in torch's order */
    int64_t n_trainable;      /* numel of its trainable parameters */
    int64_t n_buffer;         /* numel of its buffers */
    double flops;             /* per image; conv/linear: 2 per multiply-add (bias adds not
                                 counted); bn 2, activation 1, add 1 per extra input, channel_mul
                                 1 per output element; pools 1 per window element read;
                                 concat / flatten / dropout 0 */
    double macs;              /* multiply-adds per image of conv / linear (0 otherwise) */
    int is_embedding;         /* 1 on the layer whose output is the embedding */
    int is_classifier;        /* 1 on the classifier (the final linear to `classes`) */
} fcl_layer;

typedef struct fcl_model {
    char *name;            /* model name: the file name without folder and ".model" */
    char *source;          /* where it came from (path, or name_for_errors) */
    char *text;            /* the model file's text, unchanged (checkpoint metadata) */

    /* The resolved options (after defaults): what the layers were built for. */
    int channels, in_h, in_w, classes, embedding;
    double width;
    char stem[32];

    int n_layers;
    fcl_layer *layers;     /* topological order: inputs always have lower indices */
    int embedding_layer;   /* index of the layer whose output is the embedding */
    int classifier_layer;  /* index of the classifier, -1 when classes == 0 */
    int output_layer;      /* the network output: n_layers - 1 */
    int embedding_dim;     /* numel of the embedding per image */

    int n_tensors;         /* state_dict entries, all layers */
    int64_t n_trainable;   /* parameters (what sum(p.numel() for p in m.parameters()) gives) */
    int64_t n_buffer;      /* buffer elements (running stats, num_batches_tracked) */
    double flops;          /* per image, as fcl_layer.flops */
    double macs;           /* conv/linear multiply-adds per image */
} fcl_model;

/* Parses model text. `name_for_errors` names the text in messages ("resnet18.model") and gives
 * the model name. opts may be NULL (all defaults). On error *out is NULL and err says
 * "<name>:<line>: <reason>" (FCL_ERR_FORMAT for syntax and unknown names, FCL_ERR_SHAPE for
 * shapes that do not fit, FCL_ERR_INVALID_ARG for bad options). */
fcl_status fcl_model_parse(const char *text, const char *name_for_errors,
                           const fcl_model_opts *opts, fcl_model **out, fcl_error *err);
/* Reads and parses a model file. */
fcl_status fcl_model_load_file(const char *path, const fcl_model_opts *opts, fcl_model **out,
                               fcl_error *err);
void fcl_model_free(fcl_model *m);

/* Finds a model file: `name` containing a '/' or naming an existing file is used as is;
 * otherwise "<name>.model" (or name) is looked for in $FACECL_MODELS (':'-separated folders),
 * then ./models, then `install_dir` (may be NULL). Writes the path to out[0..n). FCL_ERR_IO
 * listing the folders searched when none has it. */
fcl_status fcl_model_find(const char *name, const char *install_dir, char *out, size_t n,
                          fcl_error *err);

/* The state_dict entry called `name`, or NULL; *layer (may be NULL) receives its layer index. */
const fcl_param_info *fcl_model_find_param(const fcl_model *m, const char *name, int *layer);

/* "conv", "bn", "act", ... and "weight", "bias", "running_mean", ... */
const char *fcl_layer_kind_name(fcl_layer_kind k);
const char *fcl_param_kind_name(fcl_param_kind k);
/* The activation's model-file keyword: "relu", "relu6", "leaky", "sigmoid", ... */
const char *fcl_model_act_name(fcl_act_kind k);

#ifdef __cplusplus
}
#endif
#endif
