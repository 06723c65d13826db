/* host/ref/ref_norm.h: plain-C double references of LayerNorm2d and layer scale (tests, finite differences). */
#ifndef FACECL_REF_NORM_H
#define FACECL_REF_NORM_H

#include <stddef.h>

/* LayerNorm over channels of x [n, c, hw] (include/facecl/ops_norm.h). w / b may be NULL (1 / 0);
 * mean / rstd [n * hw] may be NULL. The backward accumulates into dx, dw, db (each may be NULL)
 * and recomputes the statistics from x with eps. */
void fcl_ref_ln2d_fwd(double *y, double *mean, double *rstd, const double *x, const double *w,
                      const double *b, size_t n, size_t c, size_t hw, double eps);
void fcl_ref_ln2d_bwd(double *dx, double *dw, double *db, const double *dy, const double *x,
                      const double *w, size_t n, size_t c, size_t hw, double eps);

/* Layer scale y = x * gamma[c] over [n, c, hw]; backward accumulates dx, dgamma (may be NULL). */
void fcl_ref_layer_scale_fwd(double *y, const double *x, const double *gamma, size_t n, size_t c,
                             size_t hw);
void fcl_ref_layer_scale_bwd(double *dx, double *dgamma, const double *dy, const double *x,
                             const double *gamma, size_t n, size_t c, size_t hw);

/* Scaled weight standardisation of w [o, k] with gain [o] (NULL: 1); the backward accumulates
 * into dw, dgain (each may be NULL). */
void fcl_ref_wstd_fwd(double *wh, const double *w, const double *gain, size_t o, size_t k, double scale,
                      double eps);
void fcl_ref_wstd_bwd(double *dw, double *dgain, const double *dwh, const double *w, const double *gain,
                      size_t o, size_t k, double scale, double eps);

#endif
