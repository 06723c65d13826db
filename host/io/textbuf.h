/* host/io/textbuf.h: growable text (textbuf.c): a buffer filled printf-style (an allocation failure sticks, checked once at the end), and a whole stream read into memory. */
#ifndef FACECL_HOST_IO_TEXTBUF_H
#define FACECL_HOST_IO_TEXTBUF_H

#include <stddef.h>
#include <stdio.h>

#include "facecl/status.h"

/* Zero-initialise ({0}); s is NUL-terminated once anything was added (NULL before); free(s). */
typedef struct fcl_textbuf {
    char *s;
    size_t len, cap;
    int oom;                   /* an allocation failed: the text is incomplete */
} fcl_textbuf;

/* Appends the formatted text (nothing once oom is set). */
void fcl_textbuf_printf(fcl_textbuf *b, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* Ends b: *out = its text (the caller frees it; NULL when nothing was added) and FCL_OK, or, when
 * an allocation failed, b freed, *out NULL and FCL_ERR_NOMEM "<what>: out of memory". */
fcl_status fcl_textbuf_finish(fcl_textbuf *b, char **out, const char *what, fcl_error *err);

/* All of f (read to its end) into *buf, malloc'd and NUL-terminated, *len bytes without the NUL.
 * Returns 0; ENOMEM; EFBIG when f holds more than max bytes; or the errno of a read error (EIO
 * when none was set). On failure *buf is NULL. */
int fcl_read_all(FILE *f, size_t max, char **buf, size_t *len);

#endif
