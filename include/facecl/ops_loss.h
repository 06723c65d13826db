/* facecl/ops_loss.h: softmax cross-entropy (label smoothing), log-softmax, L2 normalisation, cosine similarity. */
#ifndef FACECL_OPS_LOSS_H
#define FACECL_OPS_LOSS_H

#include "context.h"
#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Rows: every op here works on a matrix [N, K] taken from a tensor with shape[0] == N and
 * K = numel / N. Per-row reductions run in a fixed order (deterministic). */

/* ---- softmax cross-entropy from logits ---------------------------------------------------------
 * As torch.nn.CrossEntropyLoss(label_smoothing=eps, reduction='mean'):
 *   loss_i = -sum_j q_ij log softmax(z_i)_j,  q_ij = (1 - eps) [j == y_i] + eps / K
 *   loss   = mean_i loss_i
 * Labels live on the device as an f32 tensor [N] holding class indices 0..K-1 (exact integers;
 * fcl_labels_upload checks and converts host ints). A label that is not an integer in [0, K)
 * makes its row's loss and gradient NaN (the kernels never index out of bounds with it). */
typedef struct fcl_xent_params {
    float label_smoothing;   /* eps in [0, 1] */
} fcl_xent_params;

/* loss [1] (numel >= 1; element 0 written) = mean loss; row_loss [N] (may be NULL) gets loss_i.
 * The mean is a fixed-order reduction over the batch. */
fcl_status fcl_softmax_xent_fwd(fcl_ctx *ctx, fcl_tensor *loss, fcl_tensor *row_loss,
                                const fcl_tensor *logits, const fcl_tensor *labels,
                                const fcl_xent_params *p);
/* dlogits [N, K] += dloss * d(mean loss)/dlogits = dloss * (softmax(z_i) - q_i) / N.
 * dloss is the gradient of the final objective with respect to this loss (1 for a plain loss). */
fcl_status fcl_softmax_xent_bwd(fcl_ctx *ctx, fcl_tensor *dlogits, const fcl_tensor *logits,
                                const fcl_tensor *labels, const fcl_xent_params *p, float dloss);

/* Checks host labels (each in [0, num_classes)) and uploads them as f32 into labels [n]. */
fcl_status fcl_labels_upload(fcl_ctx *ctx, fcl_tensor *labels, const int *host, size_t n,
                             int num_classes);

/* ---- log-softmax over each row ---------------------------------------------------------------- */

/* y = x - logsumexp(x_i) per row (numerically stable: the row max is subtracted first). */
fcl_status fcl_log_softmax_fwd(fcl_ctx *ctx, fcl_tensor *y, const fcl_tensor *x);
/* dx += dy - exp(y) * sum_j dy_j, per row, from the forward OUTPUT y. */
fcl_status fcl_log_softmax_bwd(fcl_ctx *ctx, fcl_tensor *dx, const fcl_tensor *dy,
                               const fcl_tensor *y);

/* ---- row-wise L2 normalisation (F.normalize(x, p=2, dim=1, eps=1e-12)) ------------------------ */

#define FCL_L2NORM_EPS 1e-12f

/* y_i = x_i / max(||x_i||, eps). y may be x. */
fcl_status fcl_l2norm_fwd(fcl_ctx *ctx, fcl_tensor *y, const fcl_tensor *x);
/* dx_i += (dy_i - y_i (y_i . dy_i)) / ||x_i||   when ||x_i|| > eps,
 *         dy_i / eps                             when clamped;
 * from the forward INPUT x. dx must not overlap x or dy. */
fcl_status fcl_l2norm_bwd(fcl_ctx *ctx, fcl_tensor *dx, const fcl_tensor *dy, const fcl_tensor *x);

/* ---- cosine-similarity matrix --------------------------------------------------------------------
 * S [Na, Nb] = normalize(A) normalize(B)^T, A [Na, D], B [Nb, D] (rows normalised as above; the
 * product through fcl_gemm). B may be the same tensor as A. Temporaries come from the pool. */
fcl_status fcl_cosine_sim_fwd(fcl_ctx *ctx, fcl_tensor *s, const fcl_tensor *a, const fcl_tensor *b);
/* Accumulates dA += J_A^T (dS normalize(B)), dB += J_B^T (dS^T normalize(A)) where J is the
 * Jacobian of the row normalisation. dA and/or dB may be NULL; they may be the same tensor
 * when A and B are (the two contributions add up). */
fcl_status fcl_cosine_sim_bwd(fcl_ctx *ctx, fcl_tensor *da, fcl_tensor *db, const fcl_tensor *ds,
                              const fcl_tensor *a, const fcl_tensor *b);

#ifdef __cplusplus
}
#endif
#endif
