/* host/runtime/embedded.h: the table of OpenCL sources embedded at build time (cmake/embed_cl.cmake). */
#ifndef FACECL_RUNTIME_EMBEDDED_H
#define FACECL_RUNTIME_EMBEDDED_H

#include <stddef.h>

typedef struct fcl_embedded_source {
    const char *name;   /* "conv.cl" */
    const char *data;   /* NUL-terminated text */
    size_t len;         /* bytes, without the NUL */
} fcl_embedded_source;

/* Terminated by an entry whose name is NULL. */
extern const fcl_embedded_source fcl_embedded_sources[];

#endif
