/* host/ref/ref_pad.h: plain-C double reference of 2-D padding (tests, finite differences). */
#ifndef FACECL_REF_PAD_H
#define FACECL_REF_PAD_H

#include <stddef.h>
#include "facecl/ops_pad.h"

/* x [planes, h, w] -> y [planes, h + top + bottom, w + left + right]; the backward accumulates. */
void fcl_ref_pad2d_fwd(double *y, const double *x, size_t planes, size_t h, size_t w,
                       const fcl_pad2d_params *p);
void fcl_ref_pad2d_bwd(double *dx, const double *dy, size_t planes, size_t h, size_t w,
                       const fcl_pad2d_params *p);

#endif
