/* facecl/status.h: status codes and the error record every library call fills in. */
#ifndef FACECL_STATUS_H
#define FACECL_STATUS_H

#include <stdarg.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Every library function returns one of these; FCL_OK is 0 so `if (st)` tests failure. */
typedef enum fcl_status {
    FCL_OK = 0,
    FCL_ERR_INVALID_ARG,   /* caller passed something impossible (bad shape, NULL, range) */
    FCL_ERR_NOMEM,         /* host allocation failed */
    FCL_ERR_OPENCL,        /* an OpenCL call failed; the message names the call and CL_ error */
    FCL_ERR_BUILD,         /* an OpenCL program failed to build; the message has the build log */
    FCL_ERR_CLBLAST,       /* a CLBlast call failed */
    FCL_ERR_NO_DEVICE,     /* no platform, or the device selection matched nothing */
    FCL_ERR_IO,            /* a file could not be opened, read or written */
    FCL_ERR_FORMAT,        /* a file or text was malformed (image, model, pair list, checkpoint) */
    FCL_ERR_UNSUPPORTED,   /* the device or build lacks something required */
    FCL_ERR_SHAPE,         /* shapes do not agree (checkpoint of the wrong shape, op inputs) */
    FCL_ERR_INTERNAL
} fcl_status;

#define FCL_ERROR_MSG_MAX 8192

/* The last error: status plus a message "file.c:88 op: what happened". Lives in a context
 * (fcl_ctx_error) or on the caller's stack for functions that need no device. */
typedef struct fcl_error {
    fcl_status status;
    char msg[FCL_ERROR_MSG_MAX];
} fcl_error;

/* Records an error and returns `status`, so callers write `return FCL_ERR(e, FCL_ERR_IO, ...)`.
 * A NULL `e` is allowed (the status is still returned). */
fcl_status fcl_error_set(fcl_error *e, fcl_status status, const char *file, int line,
                         const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 5, 6)))
#endif
    ;
fcl_status fcl_error_setv(fcl_error *e, fcl_status status, const char *file, int line,
                          const char *fmt, va_list ap);
/* Prepends context ("while loading x: ") to an existing message, keeping its status. */
fcl_status fcl_error_prefix(fcl_error *e, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
void fcl_error_clear(fcl_error *e);

/* "FCL_ERR_IO", ... */
const char *fcl_status_name(fcl_status s);
/* Symbolic OpenCL error name: -5 -> "CL_OUT_OF_RESOURCES"; unknown codes -> "CL_UNKNOWN_ERROR". */
const char *fcl_cl_error_name(int cl_err);
/* Symbolic CLBlast status name (covers the OpenCL codes too). */
const char *fcl_clblast_status_name(int code);

/* Basename of __FILE__ so messages read "conv.c:88", not a build path. */
const char *fcl_basename(const char *path);

#define FCL_ERR(e, status, ...) fcl_error_set((e), (status), __FILE__, __LINE__, __VA_ARGS__)

#ifdef __cplusplus
}
#endif
#endif
