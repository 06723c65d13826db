/* host/io/csvlog.c: CSV logs written one flushed row at a time, the CSV reader and resume truncation (whole files through io/atomic.h). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "facecl/csvlog.h"
#include "io/csv_internal.h"
#include "io/textbuf.h"

/* Largest CSV file the reader loads (logs are a few kB; this only stops absurd inputs). */
#define CSV_MAX_BYTES ((size_t)1 << 30)

/* ---- writing ------------------------------------------------------------------------------ */

int fcl_csv_put_field(FILE *f, const char *s)
{
    if (!s) s = "";
    size_t len = strlen(s);
    int quote = len > 0 && (s[0] == ' ' || s[len - 1] == ' ');
    for (size_t i = 0; i < len && !quote; i++)
        if (s[i] == ',' || s[i] == '"' || s[i] == '\r' || s[i] == '\n') quote = 1;
    if (!quote) return len == 0 || fwrite(s, 1, len, f) == len ? 0 : -1;
    if (fputc('"', f) == EOF) return -1;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '"' && fputc('"', f) == EOF) return -1;
        if (fputc(s[i], f) == EOF) return -1;
    }
    return fputc('"', f) == EOF ? -1 : 0;
}

/* One row: fields separated by ',' and ended by '\n'. */
static int put_row(FILE *f, const char *const *fields, int n)
{
    if (n == 1 && (!fields[0] || !fields[0][0])) return fputs("\"\"\n", f) == EOF ? -1 : 0;
    for (int i = 0; i < n; i++) {
        if (i > 0 && fputc(',', f) == EOF) return -1;
        if (fcl_csv_put_field(f, fields[i]) != 0) return -1;
    }
    return fputc('\n', f) == EOF ? -1 : 0;
}

/* ---- reading ------------------------------------------------------------------------------ */

/* A growable array of malloc'd strings. */
typedef struct strvec {
    char **v;
    size_t n, cap;
} strvec;

static int strvec_push(strvec *sv, const char *s, size_t len)
{
    if (sv->n == sv->cap) {
        size_t cap = sv->cap ? 2 * sv->cap : 16;
        char **v = realloc(sv->v, cap * sizeof *v);
        if (!v) return -1;
        sv->v = v;
        sv->cap = cap;
    }
    char *c = malloc(len + 1);
    if (!c) return -1;
    memcpy(c, s, len);
    c[len] = '\0';
    sv->v[sv->n++] = c;
    return 0;
}

static void strvec_free(strvec *sv)
{
    for (size_t i = 0; i < sv->n; i++) free(sv->v[i]);
    free(sv->v);
    memset(sv, 0, sizeof *sv);
}

/* Result of reading one record. */
enum { REC_DONE = 1, REC_TORN = 0, REC_BAD = -1, REC_NOMEM = -2 };

/* Reads one record starting at *pos into `fields` (appended; cleared by the caller), advancing
 * *pos past its '\n' and *line by the newlines consumed. `field` is scratch of at least len
 * bytes. REC_TORN when the text ends before the record's '\n'; REC_BAD (with *bad_line) for a
 * character after a closing quote. */
static int read_record(const char *text, size_t len, size_t *pos, size_t *line, strvec *fields,
                       char *field, size_t *bad_line)
{
    size_t p = *pos, ln = *line;
    for (;;) {
        size_t fl = 0;
        if (p < len && text[p] == '"') {
            p++;
            for (;;) {
                if (p >= len) return REC_TORN;
                char c = text[p++];
                if (c == '"') {
                    if (p < len && text[p] == '"') {
                        field[fl++] = '"';
                        p++;
                        continue;
                    }
                    break;
                }
                if (c == '\n') ln++;
                field[fl++] = c;
            }
            if (p < len && text[p] == '\r' && p + 1 < len && text[p + 1] == '\n') p++;
            if (p < len && text[p] != ',' && text[p] != '\n') {
                *bad_line = ln;
                return REC_BAD;
            }
        } else {
            while (p < len && text[p] != ',' && text[p] != '\n') field[fl++] = text[p++];
            if (p < len && text[p] == '\n' && fl > 0 && field[fl - 1] == '\r') fl--;
        }
        if (p >= len) return REC_TORN;
        if (strvec_push(fields, field, fl) != 0) return REC_NOMEM;
        if (text[p++] == '\n') {
            *pos = p;
            *line = ln + 1;
            return REC_DONE;
        }
    }
}

void fcl_csv_free(fcl_csv_table *t)
{
    if (!t) return;
    for (int i = 0; i < t->n_cols && t->header; i++) free(t->header[i]);
    free(t->header);
    for (size_t i = 0; t->cells && i < t->n_rows * (size_t)t->n_cols; i++) free(t->cells[i]);
    free(t->cells);
    free(t->lines);
    memset(t, 0, sizeof *t);
}

fcl_status fcl_csv_parse(const char *text, size_t len, const char *name, fcl_csv_table *out,
                         fcl_error *err)
{
    fcl_status st = FCL_OK;
    strvec fields = {0}, cells = {0};
    size_t *lines = NULL, lines_cap = 0;
    char *field = NULL;

    if (!out) return FCL_ERR(err, FCL_ERR_INVALID_ARG, "fcl_csv_parse: out must not be NULL");
    memset(out, 0, sizeof *out);
    if (!name) name = "<csv>";
    if (!text && len > 0) return FCL_ERR(err, FCL_ERR_INVALID_ARG, "fcl_csv_parse(%s): NULL text", name);
    if (len > 0 && memchr(text, '\0', len)) {
        size_t at = (size_t)((const char *)memchr(text, '\0', len) - text);
        return FCL_ERR(err, FCL_ERR_FORMAT, "%s: NUL byte at offset %zu: not a CSV text file", name, at);
    }
    field = malloc(len + 1);
    if (!field) {
        st = FCL_ERR(err, FCL_ERR_NOMEM, "%s: out of memory", name);
        goto fail;
    }
    size_t pos = 0, line = 1, bad = 0;
    int header_done = 0;
    while (pos < len) {
        /* Blank lines (also "\r\n") separate nothing: skip them. */
        if (text[pos] == '\n' || (text[pos] == '\r' && pos + 1 < len && text[pos + 1] == '\n')) {
            pos += text[pos] == '\n' ? 1 : 2;
            line++;
            out->valid_len = pos;
            continue;
        }
        size_t start_line = line;
        for (size_t i = 0; i < fields.n; i++) free(fields.v[i]);
        fields.n = 0;
        int r = read_record(text, len, &pos, &line, &fields, field, &bad);
        if (r == REC_NOMEM) {
            st = FCL_ERR(err, FCL_ERR_NOMEM, "%s: out of memory", name);
            goto fail;
        }
        if (r == REC_BAD) {
            st = FCL_ERR(err, FCL_ERR_FORMAT, "%s:%zu: unexpected character after a closing quote",
                         name, bad);
            goto fail;
        }
        if (r == REC_TORN) {
            out->torn_tail = 1;
            break;
        }
        if (!header_done) {
            if (fields.n > 0x7fffffff) {
                st = FCL_ERR(err, FCL_ERR_FORMAT, "%s:%zu: too many columns", name, start_line);
                goto fail;
            }
            out->n_cols = (int)fields.n;
            out->header = fields.v;
            fields.v = NULL;
            fields.n = fields.cap = 0;
            header_done = 1;
        } else {
            if (fields.n != (size_t)out->n_cols) {
                st = FCL_ERR(err, FCL_ERR_FORMAT, "%s:%zu: row has %zu fields, the header has %d",
                             name, start_line, fields.n, out->n_cols);
                goto fail;
            }
            for (size_t i = 0; i < fields.n; i++) {
                if (cells.n == cells.cap) {
                    size_t cap = cells.cap ? 2 * cells.cap : 64;
                    char **v = realloc(cells.v, cap * sizeof *v);
                    if (!v) {
                        st = FCL_ERR(err, FCL_ERR_NOMEM, "%s: out of memory", name);
                        goto fail;
                    }
                    cells.v = v;
                    cells.cap = cap;
                }
                cells.v[cells.n++] = fields.v[i];
            }
            fields.n = 0;
            if (out->n_rows == lines_cap) {
                size_t cap = lines_cap ? 2 * lines_cap : 64;
                size_t *v = realloc(lines, cap * sizeof *v);
                if (!v) {
                    st = FCL_ERR(err, FCL_ERR_NOMEM, "%s: out of memory", name);
                    goto fail;
                }
                lines = v;
                lines_cap = cap;
            }
            lines[out->n_rows++] = start_line;
        }
        out->valid_len = pos;
    }
    if (!header_done) {
        st = FCL_ERR(err, FCL_ERR_FORMAT, "%s: no complete header row%s", name,
                     len == 0 ? " (the file is empty)" : "");
        goto fail;
    }
    out->cells = cells.v;
    out->lines = lines;
    strvec_free(&fields);
    free(field);
    return FCL_OK;

fail:
    /* Cells already moved into `cells` are freed here, the table's own arrays by fcl_csv_free. */
    strvec_free(&cells);
    out->n_rows = 0;
    strvec_free(&fields);
    free(lines);
    free(field);
    fcl_csv_free(out);
    return st;
}

/* Reads a whole file into a malloc'd buffer. */
static fcl_status slurp(const char *path, char **buf, size_t *len, fcl_error *err)
{
    FILE *f = fopen(path, "rb");
    *buf = NULL;
    *len = 0;
    if (!f) return FCL_ERR(err, FCL_ERR_IO, "cannot open %s: %s", path, strerror(errno));
    int e = fcl_read_all(f, CSV_MAX_BYTES, buf, len);
    fclose(f);
    if (e == EFBIG)
        return FCL_ERR(err, FCL_ERR_FORMAT, "%s: larger than %zu bytes: not a CSV log", path, CSV_MAX_BYTES);
    if (e == ENOMEM) return FCL_ERR(err, FCL_ERR_NOMEM, "reading %s: out of memory", path);
    if (e) return FCL_ERR(err, FCL_ERR_IO, "reading %s: %s", path, strerror(e));
    return FCL_OK;
}

fcl_status fcl_csv_read(const char *path, fcl_csv_table *out, fcl_error *err)
{
    char *buf = NULL;
    size_t len = 0;
    if (!out) return FCL_ERR(err, FCL_ERR_INVALID_ARG, "fcl_csv_read: out must not be NULL");
    memset(out, 0, sizeof *out);
    if (!path) return FCL_ERR(err, FCL_ERR_INVALID_ARG, "fcl_csv_read: path must not be NULL");
    fcl_status st = slurp(path, &buf, &len, err);
    if (st) return st;
    st = fcl_csv_parse(buf, len, path, out, err);
    free(buf);
    return st;
}

int fcl_csv_column(const fcl_csv_table *t, const char *name)
{
    if (!t || !name) return -1;
    for (int i = 0; i < t->n_cols; i++)
        if (strcmp(t->header[i], name) == 0) return i;
    return -1;
}

const char *fcl_csv_cell(const fcl_csv_table *t, size_t row, int col)
{
    if (!t || row >= t->n_rows || col < 0 || col >= t->n_cols) return NULL;
    return t->cells[row * (size_t)t->n_cols + (size_t)col];
}

/* ---- the log ------------------------------------------------------------------------------ */

static fcl_status write_header(fcl_csvlog *log, const char *const *columns, fcl_error *err)
{
    if (put_row(log->f, columns, log->n_cols) != 0 || fflush(log->f) != 0)
        return FCL_ERR(err, FCL_ERR_IO, "writing %s: %s", log->path, strerror(errno));
    if (fsync(fileno(log->f)) != 0)
        return FCL_ERR(err, FCL_ERR_IO, "fsync %s: %s", log->path, strerror(errno));
    return FCL_OK;
}

/* "a,b,c" for messages. */
static void join_names(char *buf, size_t size, const char *const *names, int n)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; i < n && used < size; i++) {
        int w = snprintf(buf + used, size - used, "%s%s", i ? "," : "", names[i] ? names[i] : "");
        if (w < 0) break;
        used += (size_t)w;
    }
}

fcl_status fcl_csvlog_open(fcl_csvlog *log, const char *path, const char *const *columns,
                           int n_cols, unsigned flags, fcl_error *err)
{
    fcl_status st = FCL_OK;
    fcl_csv_table t = {0};

    if (!log) return FCL_ERR(err, FCL_ERR_INVALID_ARG, "fcl_csvlog_open: log must not be NULL");
    memset(log, 0, sizeof *log);
    if (!path || !*path || !columns || n_cols < 1)
        return FCL_ERR(err, FCL_ERR_INVALID_ARG,
                       "fcl_csvlog_open: need a path and at least one column (got %d)", n_cols);
    for (int i = 0; i < n_cols; i++)
        if (!columns[i] || !columns[i][0])
            return FCL_ERR(err, FCL_ERR_INVALID_ARG, "fcl_csvlog_open(%s): column %d has no name",
                           path, i);
    log->path = strdup(path);
    if (!log->path) {
        st = FCL_ERR(err, FCL_ERR_NOMEM, "fcl_csvlog_open(%s): out of memory", path);
        goto fail;
    }
    log->n_cols = n_cols;

    int fresh = 1;
    struct stat sb;
    if ((flags & FCL_CSVLOG_APPEND) && stat(path, &sb) == 0 && sb.st_size > 0) {
        char *buf = NULL;
        size_t len = 0;
        st = slurp(path, &buf, &len, err);
        if (st) goto fail;
        /* A file without one complete line only holds a torn header: start it again. */
        if (memchr(buf, '\n', len)) {
            fresh = 0;
            st = fcl_csv_parse(buf, len, path, &t, err);
        }
        free(buf);
        if (st) goto fail;
    }
    if (!fresh) {
        int same = t.n_cols == n_cols;
        for (int i = 0; same && i < n_cols; i++) same = strcmp(t.header[i], columns[i]) == 0;
        if (!same) {
            char have[512], want[512];
            join_names(have, sizeof have, (const char *const *)t.header, t.n_cols);
            join_names(want, sizeof want, columns, n_cols);
            st = FCL_ERR(err, FCL_ERR_FORMAT,
                         "%s: cannot append: the log has columns [%s] but this run writes [%s]",
                         path, have, want);
            goto fail;
        }
        /* Cut an incomplete last row so the next one starts on a line of its own. */
        if (t.torn_tail && truncate(path, (off_t)t.valid_len) != 0) {
            st = FCL_ERR(err, FCL_ERR_IO, "cannot cut the torn last row of %s: %s", path,
                         strerror(errno));
            goto fail;
        }
        log->f = fopen(path, "ab");
    } else {
        log->f = fopen(path, "wb");
    }
    if (!log->f) {
        st = FCL_ERR(err, FCL_ERR_IO, "cannot open %s for writing: %s", path, strerror(errno));
        goto fail;
    }
    if (fresh) {
        st = write_header(log, columns, err);
        if (st) goto fail;
    }
    fcl_csv_free(&t);
    return FCL_OK;

fail:
    fcl_csv_free(&t);
    if (log->f) fclose(log->f);
    free(log->path);
    memset(log, 0, sizeof *log);
    return st;
}

fcl_status fcl_csvlog_write(fcl_csvlog *log, const char *const *fields, fcl_error *err)
{
    if (!log || !log->f || !fields)
        return FCL_ERR(err, FCL_ERR_INVALID_ARG, "fcl_csvlog_write: the log is not open");
    if (put_row(log->f, fields, log->n_cols) != 0 || fflush(log->f) != 0)
        return FCL_ERR(err, FCL_ERR_IO, "writing %s: %s", log->path, strerror(errno));
    if (fsync(fileno(log->f)) != 0)
        return FCL_ERR(err, FCL_ERR_IO, "fsync %s: %s", log->path, strerror(errno));
    return FCL_OK;
}

fcl_status fcl_csvlog_write_numbers(fcl_csvlog *log, const double *values, fcl_error *err)
{
    fcl_status st = FCL_OK;
    char *text = NULL;
    const char **fields = NULL;

    if (!log || !log->f || !values)
        return FCL_ERR(err, FCL_ERR_INVALID_ARG, "fcl_csvlog_write_numbers: the log is not open");
    enum { W = 32 };
    text = malloc((size_t)log->n_cols * W);
    fields = malloc((size_t)log->n_cols * sizeof *fields);
    if (!text || !fields) {
        st = FCL_ERR(err, FCL_ERR_NOMEM, "writing %s: out of memory", log->path);
        goto fail;
    }
    for (int i = 0; i < log->n_cols; i++) {
        char *s = text + (size_t)i * W;
        double v = values[i];
        /* printf may write "-nan"; the log says "nan" whatever the sign bit. */
        if (isnan(v)) snprintf(s, W, "nan");
        else if (isinf(v)) snprintf(s, W, "%s", v > 0 ? "inf" : "-inf");
        else snprintf(s, W, "%.10g", v);
        fields[i] = s;
    }
    st = fcl_csvlog_write(log, fields, err);

fail:
    free(text);
    free(fields);
    return st;
}

fcl_status fcl_csvlog_close(fcl_csvlog *log, fcl_error *err)
{
    fcl_status st = FCL_OK;
    if (!log) return FCL_OK;
    if (log->f && fclose(log->f) != 0)
        st = FCL_ERR(err, FCL_ERR_IO, "closing %s: %s", log->path ? log->path : "csv log",
                     strerror(errno));
    free(log->path);
    memset(log, 0, sizeof *log);
    return st;
}

fcl_status fcl_csvlog_truncate(const char *path, const char *column, double last_kept,
                               size_t *kept, fcl_error *err)
{
    fcl_status st = FCL_OK;
    fcl_csv_table t = {0};
    fcl_atomic_file af = {0};
    char *keep = NULL;
    size_t nk = 0;

    if (kept) *kept = 0;
    if (!path || !column)
        return FCL_ERR(err, FCL_ERR_INVALID_ARG, "fcl_csvlog_truncate: NULL path or column");
    st = fcl_csv_read(path, &t, err);
    if (st) goto fail;
    int col = fcl_csv_column(&t, column);
    if (col < 0) {
        st = FCL_ERR(err, FCL_ERR_FORMAT, "%s: no column named '%s'", path, column);
        goto fail;
    }
    keep = calloc(t.n_rows ? t.n_rows : 1, 1);
    if (!keep) {
        st = FCL_ERR(err, FCL_ERR_NOMEM, "%s: out of memory", path);
        goto fail;
    }
    for (size_t r = 0; r < t.n_rows; r++) {
        const char *c = fcl_csv_cell(&t, r, col);
        char *end = NULL;
        errno = 0;
        double v = strtod(c, &end);
        while (end && (*end == ' ' || *end == '\t')) end++;
        if (end == c || !end || *end != '\0') {
            st = FCL_ERR(err, FCL_ERR_FORMAT, "%s:%zu: '%s' in column '%s' is not a number", path,
                         t.lines[r], c, column);
            goto fail;
        }
        keep[r] = v <= last_kept;
        nk += keep[r];
    }
    st = fcl_atomic_open(&af, path, err);
    if (st) goto fail;
    int bad = put_row(af.f, (const char *const *)t.header, t.n_cols);
    for (size_t r = 0; r < t.n_rows && !bad; r++)
        if (keep[r]) bad = put_row(af.f, (const char *const *)t.cells + r * (size_t)t.n_cols, t.n_cols);
    if (bad) {
        st = fcl_atomic_fail(&af, "writing", errno, err);
        goto fail;
    }
    st = fcl_atomic_commit(&af, err);
    if (st) goto fail;
    if (kept) *kept = nk;
    fcl_csv_free(&t);
    free(keep);
    return FCL_OK;

fail:
    fcl_atomic_abort(&af);
    fcl_csv_free(&t);
    free(keep);
    return st;
}
