/* host/runtime/status.c: error records, status names and symbolic OpenCL/CLBlast error names. */
#include <stdio.h>
#include <string.h>

#include <clblast_c.h>
#include "facecl/status.h"

const char *fcl_basename(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

fcl_status fcl_error_setv(fcl_error *e, fcl_status status, const char *file, int line,
                          const char *fmt, va_list ap)
{
    if (!e) return status;
    e->status = status;
    int n = snprintf(e->msg, sizeof e->msg, "%s:%d ", fcl_basename(file), line);
    if (n < 0) n = 0;
    if ((size_t)n < sizeof e->msg) vsnprintf(e->msg + n, sizeof e->msg - (size_t)n, fmt, ap);
    return status;
}

fcl_status fcl_error_set(fcl_error *e, fcl_status status, const char *file, int line,
                         const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fcl_error_setv(e, status, file, line, fmt, ap);
    va_end(ap);
    return status;
}

fcl_status fcl_error_prefix(fcl_error *e, const char *fmt, ...)
{
    if (!e) return FCL_ERR_INTERNAL;
    char pre[1024], old[FCL_ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(pre, sizeof pre, fmt, ap);
    va_end(ap);
    memcpy(old, e->msg, sizeof old);
    snprintf(e->msg, sizeof e->msg, "%s%s", pre, old);
    return e->status;
}

void fcl_error_clear(fcl_error *e)
{
    if (!e) return;
    e->status = FCL_OK;
    e->msg[0] = '\0';
}

const char *fcl_status_name(fcl_status s)
{
    switch (s) {
    case FCL_OK: return "FCL_OK";
    case FCL_ERR_INVALID_ARG: return "FCL_ERR_INVALID_ARG";
    case FCL_ERR_NOMEM: return "FCL_ERR_NOMEM";
    case FCL_ERR_OPENCL: return "FCL_ERR_OPENCL";
    case FCL_ERR_BUILD: return "FCL_ERR_BUILD";
    case FCL_ERR_CLBLAST: return "FCL_ERR_CLBLAST";
    case FCL_ERR_NO_DEVICE: return "FCL_ERR_NO_DEVICE";
    case FCL_ERR_IO: return "FCL_ERR_IO";
    case FCL_ERR_FORMAT: return "FCL_ERR_FORMAT";
    case FCL_ERR_UNSUPPORTED: return "FCL_ERR_UNSUPPORTED";
    case FCL_ERR_SHAPE: return "FCL_ERR_SHAPE";
    case FCL_ERR_INTERNAL: return "FCL_ERR_INTERNAL";
    }
    return "FCL_ERR_UNKNOWN";
}

const char *fcl_cl_error_name(int err)
{
#define E(x) case x: return #x;
    switch (err) {
    E(CL_SUCCESS) E(CL_DEVICE_NOT_FOUND) E(CL_DEVICE_NOT_AVAILABLE) E(CL_COMPILER_NOT_AVAILABLE)
    E(CL_MEM_OBJECT_ALLOCATION_FAILURE) E(CL_OUT_OF_RESOURCES) E(CL_OUT_OF_HOST_MEMORY)
    E(CL_PROFILING_INFO_NOT_AVAILABLE) E(CL_MEM_COPY_OVERLAP) E(CL_IMAGE_FORMAT_MISMATCH)
    E(CL_IMAGE_FORMAT_NOT_SUPPORTED) E(CL_BUILD_PROGRAM_FAILURE) E(CL_MAP_FAILURE)
    E(CL_MISALIGNED_SUB_BUFFER_OFFSET) E(CL_EXEC_STATUS_ERROR_FOR_EVENTS_IN_WAIT_LIST)
    E(CL_COMPILE_PROGRAM_FAILURE) E(CL_LINKER_NOT_AVAILABLE) E(CL_LINK_PROGRAM_FAILURE)
    E(CL_DEVICE_PARTITION_FAILED) E(CL_KERNEL_ARG_INFO_NOT_AVAILABLE)
    E(CL_INVALID_VALUE) E(CL_INVALID_DEVICE_TYPE) E(CL_INVALID_PLATFORM) E(CL_INVALID_DEVICE)
    E(CL_INVALID_CONTEXT) E(CL_INVALID_QUEUE_PROPERTIES) E(CL_INVALID_COMMAND_QUEUE)
    E(CL_INVALID_HOST_PTR) E(CL_INVALID_MEM_OBJECT) E(CL_INVALID_IMAGE_FORMAT_DESCRIPTOR)
    E(CL_INVALID_IMAGE_SIZE) E(CL_INVALID_SAMPLER) E(CL_INVALID_BINARY) E(CL_INVALID_BUILD_OPTIONS)
    E(CL_INVALID_PROGRAM) E(CL_INVALID_PROGRAM_EXECUTABLE) E(CL_INVALID_KERNEL_NAME)
    E(CL_INVALID_KERNEL_DEFINITION) E(CL_INVALID_KERNEL) E(CL_INVALID_ARG_INDEX)
    E(CL_INVALID_ARG_VALUE) E(CL_INVALID_ARG_SIZE) E(CL_INVALID_KERNEL_ARGS)
    E(CL_INVALID_WORK_DIMENSION) E(CL_INVALID_WORK_GROUP_SIZE) E(CL_INVALID_WORK_ITEM_SIZE)
    E(CL_INVALID_GLOBAL_OFFSET) E(CL_INVALID_EVENT_WAIT_LIST) E(CL_INVALID_EVENT)
    E(CL_INVALID_OPERATION) E(CL_INVALID_GL_OBJECT) E(CL_INVALID_BUFFER_SIZE)
    E(CL_INVALID_MIP_LEVEL) E(CL_INVALID_GLOBAL_WORK_SIZE) E(CL_INVALID_PROPERTY)
    E(CL_INVALID_IMAGE_DESCRIPTOR) E(CL_INVALID_COMPILER_OPTIONS) E(CL_INVALID_LINKER_OPTIONS)
    E(CL_INVALID_DEVICE_PARTITION_COUNT)
    case -1001: return "CL_PLATFORM_NOT_FOUND_KHR";
    default: return "CL_UNKNOWN_ERROR";
    }
#undef E
}

const char *fcl_clblast_status_name(int code)
{
    if (code > -1000 && code <= 0) return fcl_cl_error_name(code);
#define E(x) case x: return #x;
    switch (code) {
    E(CLBlastNotImplemented) E(CLBlastInvalidMatrixA) E(CLBlastInvalidMatrixB)
    E(CLBlastInvalidMatrixC) E(CLBlastInvalidVectorX) E(CLBlastInvalidVectorY)
    E(CLBlastInvalidDimension) E(CLBlastInvalidLeadDimA) E(CLBlastInvalidLeadDimB)
    E(CLBlastInvalidLeadDimC) E(CLBlastInvalidIncrementX) E(CLBlastInvalidIncrementY)
    E(CLBlastInsufficientMemoryA) E(CLBlastInsufficientMemoryB) E(CLBlastInsufficientMemoryC)
    E(CLBlastInsufficientMemoryX) E(CLBlastInsufficientMemoryY)
    E(CLBlastInvalidBatchCount) E(CLBlastInvalidOverrideKernel) E(CLBlastMissingOverrideParameter)
    E(CLBlastInvalidLocalMemUsage) E(CLBlastNoHalfPrecision) E(CLBlastNoDoublePrecision)
    E(CLBlastInvalidVectorScalar) E(CLBlastInsufficientMemoryScalar) E(CLBlastDatabaseError)
    E(CLBlastUnknownError) E(CLBlastUnexpectedError)
    default: return "CLBLAST_UNKNOWN_STATUS";
    }
#undef E
}
