/* host/ops/conv_act.h: the fused output activation of the forward conv paths (fcl_conv2d_params.out_act). */
#ifndef FACECL_OPS_CONV_ACT_H
#define FACECL_OPS_CONV_ACT_H

#include "facecl/ops_conv.h"

/* A path whose kernels apply p->out_act prepends "conv_act.cl+" to its program and passes
 * p->out_act as an int kernel argument to CONV_ACT(T, v, act) in its store (cl/conv_act.cl).
 * A path with variants that do not, calls this after them: y = act(y) in place, one pass over y
 * (nothing when p->out_act is 0). y [n, cout, oh, ow]. */
fcl_status fcl_conv_act_pass(fcl_ctx *ctx, fcl_tensor *y, const fcl_conv2d_params *p);

#endif
