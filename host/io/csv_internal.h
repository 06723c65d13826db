/* host/io/csv_internal.h: internal CSV helpers shared by the CSV log and the predictions writer: field quoting and atomic file replacement. */
#ifndef FACECL_HOST_IO_CSV_INTERNAL_H
#define FACECL_HOST_IO_CSV_INTERNAL_H

#include <stdio.h>
#include "facecl/status.h"

/* Writes s (NULL = "") as one CSV field, quoted when it holds ',', '"', CR or LF or starts or
 * ends with a space (RFC 4180; '"' doubled inside). Returns 0, or -1 on a write error. */
int fcl_csv_put_field(FILE *f, const char *s);

/* A file written beside its final path and renamed over it when complete, so a reader never
 * sees half of it: fcl_atomic_open, write to af.f, then fcl_atomic_commit (flush, fsync,
 * rename) or fcl_atomic_abort (removes the temp file). */
typedef struct fcl_atomic_file {
    FILE *f;
    char *tmp;
    const char *path;
} fcl_atomic_file;

fcl_status fcl_atomic_open(fcl_atomic_file *af, const char *path, fcl_error *err);
fcl_status fcl_atomic_commit(fcl_atomic_file *af, fcl_error *err);
void fcl_atomic_abort(fcl_atomic_file *af);
/* The whole of `text` as the file `path`, atomically (tmpfile.c). */
fcl_status fcl_write_text_atomic(const char *path, const char *text, fcl_error *err);

/* mkstemp, then the mode a plain create gives (0666 & ~umask) instead of mkstemp's 0600; -1 with
 * errno set (and nothing left behind) on failure (tmpfile.c). */
int fcl_mkstemp_public(char *tmpl);

#endif
