/* host/ref/ref_linear.h: plain-C double references of the fully connected layer (tests, finite differences). */
#ifndef FACECL_REF_LINEAR_H
#define FACECL_REF_LINEAR_H

#include <stddef.h>

/* y [n, out] = x [n, in] w^T + b; w [out, in]; b [out] or NULL. */
void fcl_ref_linear_fwd(double *y, const double *x, const double *w, const double *b, size_t n,
                        size_t in, size_t out);
/* Accumulates dx [n, in] += dy w, dw [out, in] += dy^T x, db [out] += column sums of dy;
 * any gradient may be NULL. */
void fcl_ref_linear_bwd(double *dx, double *dw, double *db, const double *dy, const double *x,
                        const double *w, size_t n, size_t in, size_t out);

#endif
