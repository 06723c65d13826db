/* facecl/facecl.h: the whole public API in one include. */
#ifndef FACECL_FACECL_H
#define FACECL_FACECL_H

#define FACECL_VERSION_STRING "0.1.0"

#include "status.h"
#include "device.h"
#include "context.h"
#include "tensor.h"
#include "gemm.h"
#include "ops.h"
#include "image.h"
#include "dataset.h"

#endif
