/* facecl/csvlog.h: CSV logs (header row, one flushed row per call) and reading CSV files back, e.g. to resume training. */
#ifndef FACECL_CSVLOG_H
#define FACECL_CSVLOG_H

#include <stddef.h>
#include <stdio.h>
#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* CSV dialect (RFC 4180): fields separated by ',', rows ended by '\n'. A field is quoted
 * ("...", with '"' doubled inside) when it contains ',', '"', '\r' or '\n', or starts or ends
 * with a space; otherwise it is written as is (an empty field of a one-column row is written
 * "" so the row is not a blank line). The reader also accepts "\r\n" row ends and skips blank
 * lines. */

/* A log being written: `train.csv` with one row per epoch. */
typedef struct fcl_csvlog {
    FILE *f;
    char *path;
    int n_cols;
} fcl_csvlog;

/* Flags for fcl_csvlog_open. */
enum {
    /* Keep the rows already in the file (resuming). An existing file's header must be exactly
     * `columns` (else FCL_ERR_FORMAT naming both); an incomplete last row (a crash in the middle
     * of a write) is cut off first. A missing or empty file starts fresh with the header. */
    FCL_CSVLOG_APPEND = 1u << 0
};

/* Opens (creating or, without FCL_CSVLOG_APPEND, replacing) the log at `path` with n_cols
 * columns named columns[0..n_cols). On error *log is zeroed. */
fcl_status fcl_csvlog_open(fcl_csvlog *log, const char *path, const char *const *columns,
                           int n_cols, unsigned flags, fcl_error *err);

/* Appends one row of n_cols text fields (NULL writes an empty field), then flushes it to the
 * file and to the disk (fflush + fsync), so a crash afterwards loses nothing. */
fcl_status fcl_csvlog_write(fcl_csvlog *log, const char *const *fields, fcl_error *err);

/* Appends one row of n_cols numbers, each written with "%.10g" (integers such as an epoch come
 * out as "12"; NaN as "nan", infinities as "inf" / "-inf"). */
fcl_status fcl_csvlog_write_numbers(fcl_csvlog *log, const double *values, fcl_error *err);

/* Closes the log (safe on a zeroed or closed log). */
fcl_status fcl_csvlog_close(fcl_csvlog *log, fcl_error *err);

/* A CSV file read back: a header and rows of text cells. */
typedef struct fcl_csv_table {
    int n_cols;
    char **header;      /* [n_cols] */
    size_t n_rows;
    char **cells;       /* [n_rows * n_cols], row-major */
    size_t *lines;      /* [n_rows] 1-based line on which each row starts, for messages */
    int torn_tail;      /* 1 when the text ended inside a row (no final newline, or an open
                         * quote): that incomplete row was left out */
    size_t valid_len;   /* bytes up to the end of the last complete row */
} fcl_csv_table;

/* Reads a CSV file whose first row is the header. Every row must have the header's number of
 * fields (else FCL_ERR_FORMAT "file:line: ..."); an empty file or one without a complete header
 * row is an error. A last row without its newline is treated as torn (see torn_tail). */
fcl_status fcl_csv_read(const char *path, fcl_csv_table *out, fcl_error *err);

/* The same over a buffer (a NUL byte is an error); `name` stands for the file in messages. */
fcl_status fcl_csv_parse(const char *text, size_t len, const char *name, fcl_csv_table *out,
                         fcl_error *err);

/* The column named `name`, or -1. */
int fcl_csv_column(const fcl_csv_table *t, const char *name);
/* Cell (row, col); NULL when out of range. */
const char *fcl_csv_cell(const fcl_csv_table *t, size_t row, int col);
void fcl_csv_free(fcl_csv_table *t);

/* For resuming at an epoch: rewrites the log at `path` keeping the header and every row whose
 * value in `column` (a number) is <= last_kept, in order; later rows and a torn last row are
 * dropped. The file is replaced atomically (temp file + rename). A row whose value does not
 * parse as a number is an error naming its line. *kept (may be NULL) receives the number of rows
 * kept. */
fcl_status fcl_csvlog_truncate(const char *path, const char *column, double last_kept,
                               size_t *kept, fcl_error *err);

#ifdef __cplusplus
}
#endif
#endif
