/* host/ref/ref_act.h: plain-C double references of the activations and PReLU (tests, finite differences). */
#ifndef FACECL_REF_ACT_H
#define FACECL_REF_ACT_H

#include <stddef.h>
#include "facecl/ops_act.h"

/* Same semantics as fcl_act_fwd / fcl_act_bwd over n elements; `saved` is y or x as
 * fcl_act_saves_output(p->kind) says. dx accumulates. */
void fcl_ref_act_fwd(double *y, const double *x, size_t n, const fcl_act_params *p);
void fcl_ref_act_bwd(double *dx, const double *dy, const double *saved, size_t n,
                     const fcl_act_params *p);

/* PReLU over x [n, c, inner] with na slopes (na == c, or 1 shared). dx, da accumulate, may be NULL. */
void fcl_ref_prelu_fwd(double *y, const double *x, const double *a, size_t n, size_t c,
                       size_t inner, size_t na);
void fcl_ref_prelu_bwd(double *dx, double *da, const double *dy, const double *x,
                       const double *a, size_t n, size_t c, size_t inner, size_t na);

#endif
