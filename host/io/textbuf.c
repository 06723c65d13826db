/* host/io/textbuf.c: growable text: printf-style appends (dataset summaries, the synthetic set's pair lists and README) and whole-file reads (pair lists, CSV logs). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "io/textbuf.h"

void fcl_textbuf_printf(fcl_textbuf *b, const char *fmt, ...)
{
    if (b->oom) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->s ? b->s + b->len : NULL, b->s ? b->cap - b->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->oom = 1;
            return;
        }
        if (b->s && (size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        }
        size_t c = b->cap ? b->cap : 512;
        while (c <= b->len + (size_t)n) c *= 2;
        char *p = realloc(b->s, c);
        if (!p) {
            b->oom = 1;
            return;
        }
        b->s = p;
        b->cap = c;
    }
}

fcl_status fcl_textbuf_finish(fcl_textbuf *b, char **out, const char *what, fcl_error *err)
{
    *out = NULL;
    if (b->oom) {
        free(b->s);
        b->s = NULL;
        return FCL_ERR(err, FCL_ERR_NOMEM, "%s: out of memory", what);
    }
    *out = b->s;
    return FCL_OK;
}

int fcl_read_all(FILE *f, size_t max, char **buf, size_t *len)
{
    char *b = NULL;
    size_t n = 0, cap = 0;
    int e = 0;
    *buf = NULL;
    *len = 0;
    for (;;) {
        if (n == cap) {
            size_t c = cap ? 2 * cap : 65536;
            if (cap > max) {
                e = EFBIG;
                break;
            }
            char *p = realloc(b, c + 1);
            if (!p) {
                e = ENOMEM;
                break;
            }
            b = p;
            cap = c;
        }
        errno = 0;
        size_t got = fread(b + n, 1, cap - n, f);
        n += got;
        if (got == 0) break;
    }
    if (!e && ferror(f)) e = errno ? errno : EIO;
    if (!e && n > max) e = EFBIG;
    if (e) {
        free(b);
        return e;
    }
    b[n] = '\0';
    *buf = b;
    *len = n;
    return 0;
}
