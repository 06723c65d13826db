/* host/ref/ref_attn.h: plain-C double references of r-SoftMax and the radix sums (tests, finite differences). */
#ifndef FACECL_REF_ATTN_H
#define FACECL_REF_ATTN_H

#include <stddef.h>

/* include/facecl/ops_attn.h semantics. r-SoftMax over b samples of card * radix * rest values;
 * the backward takes the saved y and accumulates into dx. */
void fcl_ref_rsoftmax_fwd(double *y, const double *x, size_t b, size_t radix, size_t card, size_t rest);
void fcl_ref_rsoftmax_bwd(double *dx, const double *dy, const double *y, size_t b, size_t radix,
                          size_t card, size_t rest);

/* Radix sum: x [b, radix * c, hw], y [b, c, hw], a [b, radix * c] or NULL. The backward
 * accumulates into dx and da (each may be NULL). */
void fcl_ref_radix_sum_fwd(double *y, const double *x, const double *a, size_t b, size_t radix,
                           size_t c, size_t hw);
void fcl_ref_radix_sum_bwd(double *dx, double *da, const double *dy, const double *x,
                           const double *a, size_t b, size_t radix, size_t c, size_t hw);

#endif
