/* host/ops/attn_internal.h: radix-sum backward with a forced reduction group size (tests). */
#ifndef FACECL_OPS_ATTN_INTERNAL_H
#define FACECL_OPS_ATTN_INTERNAL_H

#include "facecl/ops_attn.h"

/* fcl_radix_sum_bwd with the work-group size of the da sums forced to `forced_wg` (rounded
 * down to a power of two and the device limit; 0: the tuned value). */
fcl_status fcl_radix_sum_bwd_wg(fcl_ctx *ctx, fcl_tensor *dx, fcl_tensor *da, const fcl_tensor *dy,
                                const fcl_tensor *x, const fcl_tensor *a, int radix, int forced_wg);

#endif
