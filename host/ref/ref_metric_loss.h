/* host/ref/ref_metric_loss.h: plain-C double references of the face-verification losses (center, margin heads, triplet, contrastive, histogram). */
#ifndef FACECL_REF_METRIC_LOSS_H
#define FACECL_REF_METRIC_LOSS_H

#include <stddef.h>

#include "facecl/ops_metric_loss.h"

/* Same semantics and argument order as the launchers in facecl/ops_metric_loss.h, over host
 * arrays (sizes last). Class labels are ints in [0, k); identity labels are ints compared for
 * equality. Backward functions ACCUMULATE into their outputs (NULL outputs are skipped).
 * Functions returning int give 0, or -1 when a scratch allocation failed (nothing written). */

/* ---- center loss: x [n, d], centers [k, d] ---- */
void fcl_ref_center_loss_fwd(double *loss, const double *x, const double *centers,
                             const int *labels, size_t n, size_t d, size_t k);
void fcl_ref_center_loss_bwd(double *dx, double *dcenters, const double *x, const double *centers,
                             const int *labels, size_t n, size_t d, size_t k, double dloss);
/* In place; sequential per class. */
void fcl_ref_center_update(double *centers, const double *x, const int *labels, size_t n,
                           size_t d, size_t k, double alpha);

/* ---- margin heads: x [n, d], w [k, d], cos / logits [n, k], xnorm [n] ---- */
/* f(c) and df/dc of the target logit before the scale (the kind's formula, in double). */
void fcl_ref_margin_target(double c, const fcl_margin_params *p, double *f, double *df);
void fcl_ref_margin_logits_fwd(double *logits, const double *cos, const int *labels,
                               const double *xnorm, size_t n, size_t k,
                               const fcl_margin_params *p);
void fcl_ref_margin_logits_bwd(double *dcos, double *dxnorm, const double *dlogits,
                               const double *cos, const int *labels, const double *xnorm,
                               size_t n, size_t k, const fcl_margin_params *p);
/* loss = mean xent of the margin logits; logits / cos [n, k] may be NULL. */
int fcl_ref_margin_head_fwd(double *loss, double *logits, double *cos, const double *x,
                            const double *w, const int *labels, size_t n, size_t d, size_t k,
                            const fcl_margin_params *p);
int fcl_ref_margin_head_bwd(double *dx, double *dw, const double *x, const double *w,
                            const int *labels, size_t n, size_t d, size_t k,
                            const fcl_margin_params *p, double dloss);
void fcl_ref_row_norm_fwd(double *norms, const double *x, size_t n, size_t d);
void fcl_ref_row_norm_bwd(double *dx, const double *dnorms, const double *x, size_t n, size_t d);

/* ---- triplet: x [n, d] ---- */
/* dist [n, n] as the op defines it (squared or not). */
void fcl_ref_triplet_dist(double *dist, const double *x, size_t n, size_t d, int squared);
/* Mines the triplets from dist [n, n]: trip[3 t + 0..2] = (a, p, n) for t < return value, in
 * anchor order then positive order. trip needs room for 3 n^2 ints. */
size_t fcl_ref_triplet_mine(int *trip, const double *dist, const int *labels, size_t n,
                            const fcl_triplet_params *p);
int fcl_ref_triplet_loss_fwd(double *loss, const double *x, const int *labels, size_t n, size_t d,
                             const fcl_triplet_params *p);
int fcl_ref_triplet_loss_bwd(double *dx, const double *x, const int *labels, size_t n, size_t d,
                             const fcl_triplet_params *p, double dloss);

/* ---- contrastive: a, b [n, d], y [n] ---- */
void fcl_ref_contrastive_loss_fwd(double *loss, const double *a, const double *b, const double *y,
                                  size_t n, size_t d, const fcl_contrastive_params *p);
void fcl_ref_contrastive_loss_bwd(double *da, double *db, const double *a, const double *b,
                                  const double *y, size_t n, size_t d,
                                  const fcl_contrastive_params *p, double dloss);

/* ---- histogram: x [n, d] ---- */
/* The bin k (lower node) of a similarity s, as the op assigns it. */
int fcl_ref_histogram_bin(double s, int bins);
int fcl_ref_histogram_loss_fwd(double *loss, const double *x, const int *labels, size_t n,
                               size_t d, const fcl_histogram_params *p);
int fcl_ref_histogram_loss_bwd(double *dx, const double *x, const int *labels, size_t n, size_t d,
                               const fcl_histogram_params *p, double dloss);

#endif
