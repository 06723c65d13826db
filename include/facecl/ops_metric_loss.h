/* facecl/ops_metric_loss.h: face-verification losses: center, margin-softmax heads (CosFace, ArcFace, SphereFace), triplet, contrastive, histogram. */
#ifndef FACECL_OPS_METRIC_LOSS_H
#define FACECL_OPS_METRIC_LOSS_H

#include "context.h"
#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Conventions of every op here (see also facecl/ops_loss.h):
 *   - Embeddings are matrices x [N, D] (shape[0] == N, D = numel / N).
 *   - Class labels (center loss, margin heads) are f32 tensors [N] of class indices 0..K-1 as
 *     made by fcl_labels_upload. A label that is not an integer in [0, K) makes its row's loss
 *     and gradient NaN; the kernels never index with it.
 *   - Identity labels of the pair-based losses (triplet, histogram) are f32 tensors [N] compared
 *     for equality only (any values; NaN equals nothing, so a NaN-labelled row has no positives).
 *   - loss is a tensor with numel >= 1; element 0 is written. Backward functions ACCUMULATE (+=)
 *     dloss * d(loss)/d(input) into every gradient they are given; NULL gradients are skipped.
 *   - Deterministic: no atomics; every sum runs in a fixed order in one work-item (or through
 *     fcl_gemm / fcl_sum, which are deterministic). The same inputs give the same bits. */

/* ==== center loss (Wen et al., ECCV 2016) ========================================================
 * x [N, D], centers [K, D], labels [N]:
 *     loss = (1 / 2) (1 / N) sum_i ||x_i - c_{y_i}||^2
 * i.e. Wen's L_C = 1/2 sum_i ||x_i - c_{y_i}||^2 divided by the batch size (the mean over the
 * batch, as the common PyTorch implementations), so lambda does not depend on the batch size.
 * The caller adds it to the cross-entropy with its weight lambda (dloss = lambda). */
fcl_status fcl_center_loss_fwd(fcl_ctx *ctx, fcl_tensor *loss, const fcl_tensor *x,
                               const fcl_tensor *centers, const fcl_tensor *labels);
/* dx [N, D]       += dloss / N * (x_i - c_{y_i})
 * dcenters [K, D] += -dloss / N * sum_{i: y_i = j} (x_i - c_j)   (the true gradient, for callers
 *                    that train the centres by SGD instead of fcl_center_update; may be NULL) */
fcl_status fcl_center_loss_bwd(fcl_ctx *ctx, fcl_tensor *dx, fcl_tensor *dcenters,
                               const fcl_tensor *x, const fcl_tensor *centers,
                               const fcl_tensor *labels, float dloss);
/* Wen et al.'s centre update with its own rate alpha, in place:
 *     delta c_j = sum_{i: y_i = j} (c_j - x_i) / (1 + n_j),   c_j -= alpha * delta c_j
 * (n_j = rows of class j in the batch; classes absent from the batch are untouched). Each class
 * is updated by one work-item per dimension that gathers its rows in batch order (no atomics).
 * Rows whose label is not a class index are ignored. centers must not overlap x or labels. */
fcl_status fcl_center_update(fcl_ctx *ctx, fcl_tensor *centers, const fcl_tensor *x,
                             const fcl_tensor *labels, float alpha);

/* ==== margin-softmax heads ==========================================================================
 * A head owns class weights W [K, D] (a learnable parameter). With x [N, D] the embeddings:
 *     cos [N, K] = normalize(x) normalize(W)^T          (fcl_cosine_sim_fwd, F.normalize eps)
 *     logits_ij  = scale_i * (j == y_i ? f(cos_ij) : cos_ij)
 *     loss       = softmax cross-entropy of the logits (fcl_softmax_xent_fwd, mean over N)
 * with per kind:
 *   COSFACE    (Wang et al. 2018, additive cosine margin): scale_i = s, f(c) = c - m.
 *   ARCFACE    (Deng et al. 2019, additive angular margin, insightface's formulation):
 *              scale_i = s, sine = sqrt(clamp(1 - c^2, 0, 1)), phi = c cos(m) - sine sin(m)
 *              (= cos(theta + m)), then
 *                easy_margin == 0: f = phi if c > th else c - mm,  th = cos(pi - m),
 *                                  mm = sin(pi - m) m
 *                easy_margin != 0: f = phi if c > 0 else c.
 *              df/dc = cos(m) + sin(m) c / sine where 1 - c^2 > 0; where 1 - c^2 <= 0 (x parallel
 *              to its class weight, |c| >= 1 after rounding) the sine term's derivative is taken
 *              as 0 (torch's autograd gives inf/NaN there).
 *   SPHEREFACE (Liu et al. 2017, A-Softmax with the annealing lambda of the paper's code): the
 *              original form, whose logits are NOT rescaled by s but by the embedding norm:
 *              scale_i = ||x_i|| (so logit_ij = ||x_i|| cos_ij = x_i . W_j / ||W_j||),
 *                f(c) = (lambda c + psi(theta)) / (1 + lambda),   theta = acos(clamp(c, -1, 1)),
 *                psi(theta) = (-1)^k cos(m theta) - 2k  for theta in [k pi / m, (k+1) pi / m],
 *              m an integer 1..8; cos(m theta) is the Chebyshev polynomial T_m(c), so psi is
 *              evaluated without acos and dpsi/dc = (-1)^k m U_{m-1}(c) (psi is C^1 in c).
 *              Gradient to x flows through both cos and ||x_i|| (dx += dscale_i x_i / ||x_i||).
 * The gradients reach the UN-normalised x and W through the row normalisations. */
typedef enum fcl_margin_kind {
    FCL_MARGIN_COSFACE = 0,
    FCL_MARGIN_ARCFACE = 1,
    FCL_MARGIN_SPHEREFACE = 2
} fcl_margin_kind;

typedef struct fcl_margin_params {
    fcl_margin_kind kind;
    float s;                 /* logit scale (CosFace, ArcFace; e.g. 64); unused by SphereFace */
    float m;                 /* CosFace: cosine margin (e.g. 0.35); ArcFace: angle in radians in
                              * [0, pi) (e.g. 0.5); SphereFace: integer 1..8 (e.g. 4) */
    int easy_margin;         /* ArcFace only */
    float lambda;            /* SphereFace only: annealing weight >= 0 (fcl_sphereface_lambda) */
    float label_smoothing;   /* of the cross-entropy on the logits (the head functions), [0, 1] */
} fcl_margin_params;

/* Checks p (finite s > 0 for CosFace/ArcFace, m ranges above, lambda >= 0, smoothing in [0, 1]);
 * err may be NULL. */
fcl_status fcl_margin_check(const fcl_margin_params *p, fcl_error *err);

/* -- the whole head ---------------------------------------------------------------------------
 * Forward: loss (element 0) = the mean cross-entropy; also leaves cos [N, K] and logits [N, K]
 * (caller-owned; the backward needs both; either may be NULL when only the loss is wanted, then
 * pooled temporaries are used). x [N, D], w [K, D], labels [N]. */
fcl_status fcl_margin_head_fwd(fcl_ctx *ctx, fcl_tensor *loss, fcl_tensor *logits,
                               fcl_tensor *cos, const fcl_tensor *x, const fcl_tensor *w,
                               const fcl_tensor *labels, const fcl_margin_params *p);
/* Backward from the forward's logits and cos: dx [N, D] += dloss * dloss/dx, dw [K, D] += ...
 * (either may be NULL). Gradients must not overlap any input. */
fcl_status fcl_margin_head_bwd(fcl_ctx *ctx, fcl_tensor *dx, fcl_tensor *dw,
                               const fcl_tensor *logits, const fcl_tensor *cos,
                               const fcl_tensor *x, const fcl_tensor *w, const fcl_tensor *labels,
                               const fcl_margin_params *p, float dloss);
/* The head as a training step runs it (the _opt forms; o may be NULL: the plain functions).
 * w_stats [2, K] (may be NULL): the weights' inverse norms 1 / max(||w_j||, eps) and their
 * projection factors (the same, or 0 where the norm is clamped); the forward writes them, the
 * backward reads them instead of a pass over W (21.6 MB at 10,575 x 512), so they must come
 * from the forward on the same W, unchanged in between. dw_overwrite (backward): dw = the
 * gradient instead of dw += (no zero fill and no read of dw). row_stats [N, 2] (may be NULL):
 * the softmax's row max and log-sum-exp of the logits, written by the forward (on CPUs in its
 * cross-entropy pass), read by the backward instead of a pass over the logits (except
 * SphereFace's with dx, which needs that pass anyway); from the forward of the same logits. */
typedef struct fcl_margin_head_opts {
    fcl_tensor *w_stats;
    int dw_overwrite;
    fcl_tensor *row_stats;
} fcl_margin_head_opts;
fcl_status fcl_margin_head_fwd_opt(fcl_ctx *ctx, fcl_tensor *loss, fcl_tensor *logits, fcl_tensor *cos,
                                   const fcl_tensor *x, const fcl_tensor *w, const fcl_tensor *labels,
                                   const fcl_margin_params *p, const fcl_margin_head_opts *o);
fcl_status fcl_margin_head_bwd_opt(fcl_ctx *ctx, fcl_tensor *dx, fcl_tensor *dw, const fcl_tensor *logits,
                                   const fcl_tensor *cos, const fcl_tensor *x, const fcl_tensor *w,
                                   const fcl_tensor *labels, const fcl_margin_params *p, float dloss,
                                   const fcl_margin_head_opts *o);

/* -- the margin step alone (cos -> logits) -----------------------------------------------------
 * logits [N, K] = scale_i * (j == y_i ? f(cos_ij) : cos_ij). xnorm [N] (||x_i||, from
 * fcl_row_norm_fwd) is required for SphereFace and must be NULL otherwise. */
fcl_status fcl_margin_logits_fwd(fcl_ctx *ctx, fcl_tensor *logits, const fcl_tensor *cos,
                                 const fcl_tensor *labels, const fcl_tensor *xnorm,
                                 const fcl_margin_params *p);
/* dcos [N, K] += scale_i * dlogits_ij * (j == y_i ? f'(cos_ij) : 1);
 * dxnorm [N]  += sum_j dlogits_ij * (j == y_i ? f(cos_ij) : cos_ij)   (SphereFace; may be NULL,
 *                must be NULL for the other kinds). dcos may be NULL. */
fcl_status fcl_margin_logits_bwd(fcl_ctx *ctx, fcl_tensor *dcos, fcl_tensor *dxnorm,
                                 const fcl_tensor *dlogits, const fcl_tensor *cos,
                                 const fcl_tensor *labels, const fcl_tensor *xnorm,
                                 const fcl_margin_params *p);

/* norms [N] = ||x_i|| (not clamped). */
fcl_status fcl_row_norm_fwd(fcl_ctx *ctx, fcl_tensor *norms, const fcl_tensor *x);
/* dx [N, D] += dnorms_i * x_i / max(||x_i||, FCL_L2NORM_EPS) (0 for a zero row). */
fcl_status fcl_row_norm_bwd(fcl_ctx *ctx, fcl_tensor *dx, const fcl_tensor *dnorms,
                            const fcl_tensor *x);

/* SphereFace's annealing schedule (the paper's Caffe code, "base * (1 + gamma * iter)^-power"):
 *     lambda(iter) = max(lambda_min, base * (1 + gamma * iter)^(-power))
 * The paper's values: base 1000, gamma 0.12, power 1, lambda_min 5. */
typedef struct fcl_sphereface_schedule {
    double base, gamma, power, lambda_min;
} fcl_sphereface_schedule;
/* *lambda = lambda(iter) for iter >= 0; checks base > 0, gamma >= 0, power >= 0,
 * lambda_min >= 0 (err may be NULL). */
fcl_status fcl_sphereface_lambda(float *lambda, const fcl_sphereface_schedule *s, long iter,
                                 fcl_error *err);

/* ==== triplet loss with online mining (FaceNet; Hermans et al. 2017) ==============================
 * x [N, D] embeddings (a P x K batch: P identities, K images each; any label layout works),
 * labels [N] identities. Distances between rows: d_ij = ||x_i - x_j||^2 when `squared` (FaceNet;
 * pass L2-normalised embeddings, e.g. through fcl_l2norm_fwd, to get its setting), else
 * ||x_i - x_j|| (Hermans et al.; its derivative at d = 0 is taken as 0).
 * Triplets (a, p, n): y_p = y_a, p != a; y_n != y_a.
 *   BATCH_HARD: one triplet per anchor: p = argmax_p d_ap (hardest positive),
 *               n = argmin_n d_an (hardest negative).
 *   SEMI_HARD:  one triplet per (anchor, positive) pair (as FaceNet, which uses all
 *               anchor-positive pairs): n = argmin d_an over the semi-hard negatives
 *               d_ap < d_an < d_ap + margin; when there is none, the hardest negative
 *               argmin_n d_an (so an anchor whose negatives are all closer than the positive
 *               still gets a gradient).
 * Ties go to the lowest index. A triplet exists only when the anchor has a positive and a
 * negative in the batch.
 *     loss = mean over the mined triplets of relu(d_ap - d_an + margin)   (0 when none)
 * Forward and backward mine the same triplets from the same x (the backward re-mines). */
typedef enum fcl_triplet_mining {
    FCL_TRIPLET_BATCH_HARD = 0,
    FCL_TRIPLET_SEMI_HARD = 1
} fcl_triplet_mining;

typedef struct fcl_triplet_params {
    fcl_triplet_mining mining;
    float margin;            /* > 0 (e.g. 0.2 with squared distances of unit vectors) */
    int squared;             /* 1: squared Euclidean distances, 0: Euclidean */
} fcl_triplet_params;

fcl_status fcl_triplet_loss_fwd(fcl_ctx *ctx, fcl_tensor *loss, const fcl_tensor *x,
                                const fcl_tensor *labels, const fcl_triplet_params *p);
/* dx [N, D] += dloss * dloss/dx (relu'(0) = 0). */
fcl_status fcl_triplet_loss_bwd(fcl_ctx *ctx, fcl_tensor *dx, const fcl_tensor *x,
                                const fcl_tensor *labels, const fcl_triplet_params *p, float dloss);

/* ==== contrastive loss on pairs (Hadsell, Chopra, LeCun 2006) ====================================
 * a [N, D], b [N, D] the two embeddings of each pair, y [N] (1: same identity, 0: different;
 * values in between are used as given), d_i = ||a_i - b_i||:
 *     loss = 1 / (2N) sum_i  y_i d_i^2 + (1 - y_i) max(0, margin - d_i)^2
 * The derivative of d_i at d_i = 0 is taken as 0. */
typedef struct fcl_contrastive_params {
    float margin;            /* > 0 */
} fcl_contrastive_params;

fcl_status fcl_contrastive_loss_fwd(fcl_ctx *ctx, fcl_tensor *loss, const fcl_tensor *a,
                                    const fcl_tensor *b, const fcl_tensor *y,
                                    const fcl_contrastive_params *p);
/* da += dloss / N * (a_i - b_i) (y_i - (1 - y_i) max(0, margin - d_i) / d_i), db += -(same). */
fcl_status fcl_contrastive_loss_bwd(fcl_ctx *ctx, fcl_tensor *da, fcl_tensor *db,
                                    const fcl_tensor *a, const fcl_tensor *b, const fcl_tensor *y,
                                    const fcl_contrastive_params *p, float dloss);

/* ==== histogram loss (Ustinova & Lempitsky, NIPS 2016) ============================================
 * x [N, D] embeddings, labels [N] identities. s_ij = cos(x_i, x_j) for every unordered pair
 * i < j (rows L2-normalised as F.normalize); a pair is positive when y_i == y_j. Nodes
 * t_r = -1 + r Delta, r = 0..R-1, Delta = 2 / (R - 1). A similarity s with
 * t_k <= s <= t_{k+1} adds (t_{k+1} - s) / Delta to bin k and (s - t_k) / Delta to bin k+1
 * (k = floor((s + 1) / Delta) clamped to [0, R - 2]; a value rounded just outside [-1, 1]
 * extrapolates the edge bins linearly); h+ and h- are these sums divided by the number of
 * positive / negative pairs.
 *     loss = sum_r h-[r] * sum_{q <= r} h+[q]
 * (0 when the batch has no positive or no negative pair). The gradient flows through the
 * linear bin assignment to every s_ij and through the normalisation back to x. */
typedef struct fcl_histogram_params {
    int bins;                /* R >= 2 (e.g. 101 or 151) */
} fcl_histogram_params;

fcl_status fcl_histogram_loss_fwd(fcl_ctx *ctx, fcl_tensor *loss, const fcl_tensor *x,
                                  const fcl_tensor *labels, const fcl_histogram_params *p);
/* dx [N, D] += dloss * dloss/dx. */
fcl_status fcl_histogram_loss_bwd(fcl_ctx *ctx, fcl_tensor *dx, const fcl_tensor *x,
                                  const fcl_tensor *labels, const fcl_histogram_params *p,
                                  float dloss);

#ifdef __cplusplus
}
#endif
#endif
