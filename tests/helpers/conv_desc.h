/* tests/helpers/conv_desc.h: the conv2d op descriptor's shared parts (device and reference directions, operands) for tests/test_ops_conv*.c. */
#ifndef FACECL_TESTS_CONV_DESC_H
#define FACECL_TESTS_CONV_DESC_H

#include "facecl/ops_conv.h"
#include "helpers/opcheck.h"

/* Operand slots: x [n, cin, h, w], w [cout, cin/groups, kh, kw], b [cout], y and dy
 * [n, cout, oh, ow], dx, dw, db the gradients (shapes of x, w, b). */
enum { CD_X, CD_W, CD_B, CD_Y, CD_DY, CD_DX, CD_DW, CD_DB };

/* y = conv(x, w) + b on the device / in double. */
fcl_status cd_dev_fwd(fcl_ctx *ctx, oc_dev t, const fcl_conv2d_params *p);
void cd_ref_fwd(double *const *h, const fcl_conv2d_params *p);
/* dx, dw and (with a bias) db from dy; without one db is passed as NULL to the device (an input
 * then: the driver checks it stayed as it was). */
fcl_status cd_dev_bwd(fcl_ctx *ctx, oc_dev t, const fcl_conv2d_params *p, int bias);
void cd_ref_bwd(double *const *h, const fcl_conv2d_params *p, int bias);
/* Sets the eight operands of case c for p (output oh x ow) and its bias. */
void cd_args(oc_case *c, const fcl_conv2d_params *p, int bias, int oh, int ow);

#endif
