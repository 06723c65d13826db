/* host/io/csv_internal.h: internal CSV helpers shared by the CSV log and the predictions writer: field quoting (and the atomic writer, io/atomic.h). */
#ifndef FACECL_HOST_IO_CSV_INTERNAL_H
#define FACECL_HOST_IO_CSV_INTERNAL_H

#include <stdio.h>
#include "facecl/status.h"

/* Writes s (NULL = "") as one CSV field, quoted when it holds ',', '"', CR or LF or starts or
 * ends with a space (RFC 4180; '"' doubled inside). Returns 0, or -1 on a write error. */
int fcl_csv_put_field(FILE *f, const char *s);

/* The atomic writer (fcl_atomic_open / commit / abort, fcl_write_text_atomic) lives in
 * io/atomic.h; included here for the CSV writers that use it. */
#include "io/atomic.h"

#endif
