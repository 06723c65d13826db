/* facecl/ops.h: every op family's public header (conv, bn, act, pool, eltwise, linear, loss, ...). */
#ifndef FACECL_OPS_H
#define FACECL_OPS_H

/* One line per op family; each engineer adding a family adds its header here. */
#include "ops_conv.h"
#include "ops_bn.h"
#include "ops_act.h"
#include "ops_pool.h"
#include "ops_eltwise.h"
#include "ops_linear.h"
#include "ops_loss.h"
#include "ops_metric_loss.h"
#include "ops_norm.h"
#include "ops_attn.h"
#include "ops_pad.h"

#endif
