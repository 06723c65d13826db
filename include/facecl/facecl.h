/* facecl/facecl.h: the whole public API in one include. */
#ifndef FACECL_FACECL_H
#define FACECL_FACECL_H

#define FACECL_VERSION_STRING "0.1.0"

#include "status.h"
#include "device.h"
#include "dist.h"
#include "context.h"
#include "tuning.h"
#include "tensor.h"
#include "gemm.h"
#include "tune_cache.h"
#include "net.h"
#include "checkpoint.h"
#include "train.h"
#include "ops.h"
#include "optim.h"
#include "schedule.h"
#include "safetensors.h"
#include "image.h"
#include "dataset.h"
#include "model.h"
#include "synth.h"
#include "augment.h"
#include "loader.h"
#include "metrics.h"
#include "plot.h"
#include "csvlog.h"
#include "npy.h"
#include "evaluate.h"
#include "identify.h"
#include "export.h"

#endif
