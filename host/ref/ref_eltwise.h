/* host/ref/ref_eltwise.h: plain-C double references of the elementwise ops (tests, finite differences). */
#ifndef FACECL_REF_ELTWISE_H
#define FACECL_REF_ELTWISE_H

#include <stddef.h>
#include "facecl/ops_eltwise.h"

/* y = a + b over n elements. */
void fcl_ref_add_fwd(double *y, const double *a, const double *b, size_t n);
/* y = alpha x + beta y (y not read when beta == 0). */
void fcl_ref_axpby(double *y, double alpha, const double *x, double beta, size_t n);
/* sum of n values. */
double fcl_ref_sum(const double *x, size_t n);

/* x [nc * hw] as nc planes of hw values; s [nc]. y = x * s[plane]. */
void fcl_ref_chmul_fwd(double *y, const double *x, const double *s, size_t nc, size_t hw);
/* dx += dy * s[plane]; ds[plane] += sum over the plane of dy * x (either may be NULL). */
void fcl_ref_chmul_bwd(double *dx, double *ds, const double *dy, const double *x, const double *s,
                       size_t nc, size_t hw);

/* y [n, sum C_i, inner] = cat over dim 1 of xs[i] [n, channels[i], inner]. */
void fcl_ref_concat_fwd(double *y, const double *const *xs, const size_t *channels, int count,
                        size_t n, size_t inner);
/* dxs[i] += the slice of dy for input i (NULL entries skipped). */
void fcl_ref_concat_bwd(double *const *dxs, const size_t *channels, int count, const double *dy,
                        size_t n, size_t inner);

/* Dropout over n elements with the mask of fcl_dropout_keep. */
void fcl_ref_dropout_fwd(double *y, const double *x, size_t n, const fcl_dropout_params *p);
/* dx += dy * mask / (1 - p) (training) or dx += dy. */
void fcl_ref_dropout_bwd(double *dx, const double *dy, size_t n, const fcl_dropout_params *p);

/* Drop path over n elements, per_sample consecutive elements per sample: sample b = i / per_sample
 * keeps with fcl_drop_path_keep(seed, b, p). The backward accumulates. */
void fcl_ref_drop_path_fwd(double *y, const double *x, size_t n, size_t per_sample,
                           const fcl_dropout_params *p);
void fcl_ref_drop_path_bwd(double *dx, const double *dy, size_t n, size_t per_sample,
                           const fcl_dropout_params *p);

#endif
