/* facecl/optim.h: optimizers (SGD with momentum/Nesterov, AdamW) over flat parameter buffers, global-norm and adaptive (AGC) gradient clipping. */
#ifndef FACECL_OPTIM_H
#define FACECL_OPTIM_H

#include <stddef.h>
#include <stdint.h>

#include "context.h"
#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* All parameters of a network live in ONE f32 device buffer, their gradients in another of the
 * same size, and each piece of optimizer state (momentum, exp_avg, exp_avg_sq) in a third, all
 * indexed alike: element i of a state buffer belongs to parameter element i. A parameter group
 * is a list of element ranges of that buffer with its own hyperparameters (torch's
 * param_groups), e.g. one group for conv/linear weights (weight decay 5e-4) and one for BN and
 * biases (weight decay 0). Ranges of all groups must be disjoint; elements in no range are never
 * touched. Each step launches one kernel per group (its ranges are cut into chunks listed in a
 * table on the device), so launches do not grow with the number of tensors. Deterministic:
 * every element is updated by exactly one work-item with a fixed sequence of float operations. */

typedef enum fcl_optim_kind {
    FCL_OPTIM_SGD = 0,     /* torch.optim.SGD (momentum, dampening, nesterov, weight_decay) */
    FCL_OPTIM_ADAMW = 1    /* torch.optim.AdamW (betas, eps, decoupled weight_decay), no amsgrad */
} fcl_optim_kind;

/* `count` elements starting `offset` elements into the flat buffers. */
typedef struct fcl_param_range {
    size_t offset;
    size_t count;
} fcl_param_range;

/* Hyperparameters of one group, with torch's meaning. They may be changed between steps
 * (fcl_optim_hparams_of; LR schedules do); each step validates them. */
typedef struct fcl_optim_hparams {
    double lr;              /* >= 0 */
    double weight_decay;    /* >= 0. SGD: added to the gradient (g += wd * p); AdamW: p *= 1 - lr*wd */
    /* SGD */
    double momentum;        /* >= 0; 0 keeps no momentum buffer for the group */
    double dampening;       /* buf = momentum * buf + (1 - dampening) * g (not on the first step) */
    int nesterov;           /* g = g + momentum * buf; needs momentum > 0 and dampening == 0 */
    /* AdamW */
    double beta1, beta2;    /* in [0, 1) */
    double eps;             /* >= 0, added after sqrt(v_hat) */
} fcl_optim_hparams;

/* torch's defaults: SGD(lr, momentum=0, dampening=0, weight_decay=0, nesterov=False) and
 * AdamW(lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2). */
fcl_optim_hparams fcl_sgd_defaults(double lr);
fcl_optim_hparams fcl_adamw_defaults(double lr);

typedef struct fcl_param_group {
    fcl_optim_hparams hp;
    const fcl_param_range *ranges;   /* copied by fcl_optim_create */
    size_t n_ranges;                 /* may be 0 (an empty group keeps its lr for schedules) */
} fcl_param_group;

typedef struct fcl_optim fcl_optim;

/* An optimizer for flat buffers of `numel` elements (numel <= INT_MAX: kernels index with int).
 * Validates the groups (ranges non-empty, inside [0, numel), disjoint across all groups;
 * hyperparameters as above), uploads the chunk table and allocates the state buffers zeroed:
 * SGD one momentum buffer when some group has momentum != 0, AdamW exp_avg and exp_avg_sq. */
fcl_status fcl_optim_create(fcl_ctx *ctx, fcl_optim **out, fcl_optim_kind kind, size_t numel,
                            const fcl_param_group *groups, size_t n_groups);
void fcl_optim_destroy(fcl_ctx *ctx, fcl_optim *o);

fcl_optim_kind fcl_optim_kind_of(const fcl_optim *o);
size_t fcl_optim_numel(const fcl_optim *o);
size_t fcl_optim_group_count(const fcl_optim *o);
/* The live hyperparameters of group g (NULL when g is out of range); edits apply from the
 * next step. */
fcl_optim_hparams *fcl_optim_hparams_of(fcl_optim *o, size_t g);
/* Shorthands for schedules: the lr of group g. set returns FCL_ERR_INVALID_ARG for a bad
 * group or a negative / non-finite lr. */
double fcl_optim_lr(const fcl_optim *o, size_t g);
fcl_status fcl_optim_set_lr(fcl_ctx *ctx, fcl_optim *o, size_t g, double lr);

/* One optimizer step: params [numel] updated in place from grads [numel] (both f32, exactly
 * numel elements, not overlapping). SGD, per element of a group with hyperparameters h:
 *     d = g + wd * p;  buf = first ? d : mu * buf + (1 - dampening) * d   (when mu != 0)
 *     d = nesterov ? d + mu * buf : buf                                   (when mu != 0)
 *     p -= lr * d
 * where `first` is the group's first step with mu != 0 (torch clones the gradient then).
 * AdamW, with t the step count after increment:
 *     p *= 1 - lr * wd;  m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2
 *     p -= (lr / (1 - b1^t)) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
 * The work is enqueued (no wait). */
fcl_status fcl_optim_step(fcl_ctx *ctx, fcl_optim *o, fcl_tensor *params, const fcl_tensor *grads);

/* Zeroes a gradient buffer (one fill). */
fcl_status fcl_optim_zero_grad(fcl_ctx *ctx, fcl_tensor *grads);

/* ---- state, for checkpoints -------------------------------------------------------------------
 * Device state buffers: SGD "momentum_buffer" (absent when no group uses momentum); AdamW
 * "exp_avg", "exp_avg_sq". Each is a [numel] f32 tensor owned by the optimizer: read or overwrite
 * its contents (fcl_tensor_download / upload), never release it. Elements outside every range
 * stay 0. */
size_t fcl_optim_state_count(const fcl_optim *o);
/* State buffer i (NULL when out of range); *name (may be NULL) gets its name. */
fcl_tensor *fcl_optim_state(fcl_optim *o, size_t i, const char **name);
/* Host scalars of the state as int64: [0] the number of steps taken (AdamW's bias correction
 * uses it), [1 + g] 1 when group g's momentum buffer has been started (SGD; torch's
 * momentum_buffer is not None), else 0. */
size_t fcl_optim_scalar_count(const fcl_optim *o);
void fcl_optim_get_scalars(const fcl_optim *o, int64_t *out);
/* Restores them (n must equal fcl_optim_scalar_count; step >= 0, flags 0 or 1). */
fcl_status fcl_optim_set_scalars(fcl_ctx *ctx, fcl_optim *o, const int64_t *in, size_t n);
int64_t fcl_optim_steps(const fcl_optim *o);

/* ---- gradient clipping ------------------------------------------------------------------------
 * torch.nn.utils.clip_grad_norm_(params, max_norm) with norm_type 2 over the gradient buffer
 * `grads` (f32, any shape; for the flat buffer: every gradient at once):
 *     total = sqrt(sum g^2);  coef = max_norm / (total + 1e-6);  if coef < 1: g *= coef
 * (a NaN coefficient also scales, as torch's clamp propagates NaN). The sum is a fixed-shape
 * two-stage tree (partials per block, then one work-group), so the result depends only on the
 * data and its length, never on timing. max_norm = INFINITY only measures. `total_norm` (may be
 * NULL) receives the norm, read back with a blocking transfer; with NULL nothing waits. */
fcl_status fcl_clip_grad_norm(fcl_ctx *ctx, fcl_tensor *grads, double max_norm, double *total_norm);

/* ---- adaptive gradient clipping (NFNet) ---------------------------------------------------------
 * timm's adaptive_clip_grad(parameters, clip_factor, eps=1e-3, norm_type=2) (timm 0.9.16,
 * timm/utils/agc.py), unit-wise over the flat parameter / gradient buffers. A parameter tensor
 * of ndim >= 2 has one unit per output row (dim 0: a conv's output channel, a linear's output
 * feature, of numel / shape[0] elements each); a tensor of ndim <= 1 (bias, BN weight, scalar
 * gain) is ONE unit (the whole tensor). Per unit u, with ||.|| the L2 norm over the unit:
 *     max_norm = max(||p_u||, eps) * clip_factor
 *     g_u *= max_norm / max(||g_u||, 1e-6)    unless ||g_u|| < max_norm
 * Call it after the backward and before fcl_optim_step (timm's train.py clips every parameter
 * but the final classifier: leave the head out of the list). Deterministic: one fixed-size
 * work-group per unit, fixed summation trees. */
typedef struct fcl_agc_tensor {
    size_t offset;     /* first element in the flat buffers */
    size_t numel;      /* elements of the tensor */
    size_t units;      /* shape[0] for ndim >= 2, 1 for ndim <= 1; must divide numel */
} fcl_agc_tensor;
typedef struct fcl_agc fcl_agc;
/* Validates the tensors (non-empty, inside [0, numel), disjoint, units dividing numel, each unit
 * under INT_MAX elements), clip_factor > 0, eps >= 0, and uploads the unit table. */
fcl_status fcl_agc_create(fcl_ctx *ctx, fcl_agc **out, size_t numel, const fcl_agc_tensor *tensors,
                          size_t n_tensors, double clip_factor, double eps);
void fcl_agc_destroy(fcl_ctx *ctx, fcl_agc *a);
/* Number of units (rows) in the table. */
size_t fcl_agc_units(const fcl_agc *a);
/* Clips grads in place from params (both numel elements as given to create). Enqueued, no wait. */
fcl_status fcl_agc_apply(fcl_ctx *ctx, const fcl_agc *a, const fcl_tensor *params, fcl_tensor *grads);
/* The AGC of a network (include/facecl/net.h) over its params / grads buffers: every trainable,
 * updated parameter tensor (not the buffers, frozen layers or fixed parameters); with
 * exclude_classifier, not the classifier's weight and bias either (timm's train.py clips
 * model_parameters(model, exclude_head=True)). */
struct fcl_net;
fcl_status fcl_net_agc_create(fcl_ctx *ctx, struct fcl_net *net, double clip_factor, double eps,
                              int exclude_classifier, fcl_agc **out);

#ifdef __cplusplus
}
#endif
#endif
