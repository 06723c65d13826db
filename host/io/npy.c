/* host/io/npy.c: numpy .npy float32 arrays: atomic writer (format 1.0) and strict reader (1.0 - 3.0). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "facecl/npy.h"
#include "io/atomic.h"

static const char npy_magic[6] = {'\x93', 'N', 'U', 'M', 'P', 'Y'};

static int host_is_little_endian(void)
{
    const uint16_t one = 1;
    unsigned char b;
    memcpy(&b, &one, 1);
    return b == 1;
}

fcl_status fcl_npy_write_f32(const char *path, const float *data, int ndim, const size_t *shape, fcl_error *err)
{
    fcl_status st = FCL_OK;
    char header[1024];
    fcl_atomic_file af = {0};
    float *chunk = NULL;
    if (!path || (ndim > 0 && !shape)) return FCL_ERR(err, FCL_ERR_INVALID_ARG, "fcl_npy_write_f32: NULL argument");
    if (ndim < 0 || ndim > FCL_NPY_MAX_DIMS)
        return FCL_ERR(err, FCL_ERR_INVALID_ARG, "%s: %d dimensions (0..%d allowed)", path, ndim, FCL_NPY_MAX_DIMS);
    size_t numel = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] && numel > SIZE_MAX / sizeof(float) / shape[i])
            return FCL_ERR(err, FCL_ERR_INVALID_ARG, "%s: array too large", path);
        numel *= shape[i];
    }
    if (numel && !data) return FCL_ERR(err, FCL_ERR_INVALID_ARG, "%s: NULL data for %zu values", path, numel);

    /* Header dict; a 1-d shape is written "(n,)" as Python's repr of a tuple. */
    int len = snprintf(header, sizeof header, "{'descr': '<f4', 'fortran_order': False, 'shape': (");
    for (int i = 0; i < ndim; i++)
        len += snprintf(header + len, sizeof header - (size_t)len, "%s%zu", i ? ", " : "", shape[i]);
    len += snprintf(header + len, sizeof header - (size_t)len, "%s), }", ndim == 1 ? "," : "");
    /* magic 6 + version 2 + length 2 + header, padded with spaces so the total is a multiple of
     * 64, the last byte '\n' (what numpy writes). */
    size_t total = 10 + (size_t)len + 1;
    size_t padded = (total + 63) / 64 * 64;
    if (padded - 10 > 65535 || padded > sizeof header) return FCL_ERR(err, FCL_ERR_INTERNAL, "%s: header too long", path);
    size_t hlen = padded - 10;
    memset(header + len, ' ', hlen - (size_t)len - 1);
    header[hlen - 1] = '\n';
    unsigned char pre[10];
    memcpy(pre, npy_magic, 6);
    pre[6] = 1;
    pre[7] = 0;
    pre[8] = (unsigned char)(hlen & 0xff);
    pre[9] = (unsigned char)(hlen >> 8);

    if ((st = fcl_atomic_open(&af, path, err))) goto fail;
    if ((st = fcl_atomic_write(&af, pre, sizeof pre, err))) goto fail;
    if ((st = fcl_atomic_write(&af, header, hlen, err))) goto fail;
    if (numel && host_is_little_endian()) {
        if ((st = fcl_atomic_write(&af, data, numel * sizeof(float), err))) goto fail;
    } else if (numel) {
        /* Byte-swap through a bounded buffer. */
        const size_t CH = 65536;
        chunk = malloc(CH * sizeof *chunk);
        if (!chunk) {
            st = FCL_ERR(err, FCL_ERR_NOMEM, "%s: out of memory", path);
            goto fail;
        }
        for (size_t i = 0; i < numel; i += CH) {
            size_t c = numel - i < CH ? numel - i : CH;
            for (size_t j = 0; j < c; j++) {
                uint32_t u;
                memcpy(&u, data + i + j, 4);
                u = (u >> 24) | ((u >> 8) & 0xff00u) | ((u << 8) & 0xff0000u) | (u << 24);
                memcpy(chunk + j, &u, 4);
            }
            if ((st = fcl_atomic_write(&af, chunk, c * sizeof(float), err))) goto fail;
        }
    }
    st = fcl_atomic_commit(&af, err);
fail:
    fcl_atomic_abort(&af);
    free(chunk);
    return st;
}

void fcl_npy_free(fcl_npy *a)
{
    if (!a) return;
    free(a->data);
    memset(a, 0, sizeof *a);
}

/* ---- reading -------------------------------------------------------------------------------- */

static const char *skip_ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) p++;
    return p;
}

/* Parses a quoted Python string literal (no escapes needed for the keys numpy writes). */
static const char *parse_str(const char *p, const char *end, char *out, size_t n)
{
    if (p >= end || (*p != '\'' && *p != '"')) return NULL;
    char q = *p++;
    size_t k = 0;
    while (p < end && *p != q) {
        if (*p == '\\' || k + 1 >= n) return NULL;
        out[k++] = *p++;
    }
    if (p >= end) return NULL;
    out[k] = '\0';
    return p + 1;
}

/* Skips white space; then 1 (and consumed) when the closing character c comes next. */
static int closes(const char **p, const char *end, char c)
{
    *p = skip_ws(*p, end);
    if (*p < end && **p == c) {
        (*p)++;
        return 1;
    }
    return 0;
}

/* Parses the header dict into descr / fortran / shape; NULL message on success, else what is
 * wrong. */
static const char *parse_header(const char *h, size_t len, char *descr, size_t dn, int *fortran, int *ndim,
                                size_t *shape)
{
    const char *p = h, *end = h + len;
    int have_descr = 0, have_fortran = 0, have_shape = 0;
    p = skip_ws(p, end);
    if (p >= end || *p++ != '{') return "header is not a dict";
    for (;;) {
        if (closes(&p, end, '}')) break;
        char key[32];
        if (!(p = parse_str(p, end, key, sizeof key))) return "bad key in the header dict";
        p = skip_ws(p, end);
        if (p >= end || *p++ != ':') return "missing ':' in the header dict";
        p = skip_ws(p, end);
        if (!strcmp(key, "descr")) {
            if (!(p = parse_str(p, end, descr, dn))) return "bad 'descr' value";
            have_descr = 1;
        } else if (!strcmp(key, "fortran_order")) {
            if ((size_t)(end - p) >= 4 && !strncmp(p, "True", 4)) {
                *fortran = 1;
                p += 4;
            } else if ((size_t)(end - p) >= 5 && !strncmp(p, "False", 5)) {
                *fortran = 0;
                p += 5;
            } else {
                return "bad 'fortran_order' value";
            }
            have_fortran = 1;
        } else if (!strcmp(key, "shape")) {
            if (p >= end || *p++ != '(') return "bad 'shape' value";
            *ndim = 0;
            for (;;) {
                if (closes(&p, end, ')')) break;
                if (p >= end || *p < '0' || *p > '9') return "bad number in 'shape'";
                size_t v = 0;
                while (p < end && *p >= '0' && *p <= '9') {
                    if (v > (SIZE_MAX - 9) / 10) return "shape value too large";
                    v = v * 10 + (size_t)(*p++ - '0');
                }
                if (*ndim >= FCL_NPY_MAX_DIMS) return "too many dimensions";
                shape[(*ndim)++] = v;
                p = skip_ws(p, end);
                if (p < end && *p == ',') p++;
                else if (p < end && *p == ')') continue;
                else return "bad 'shape' tuple";
            }
            have_shape = 1;
        } else {
            return "unknown key in the header dict";
        }
        p = skip_ws(p, end);
        if (p < end && *p == ',') {
            p++;
            continue;
        }
        if (p < end && *p == '}') {
            p++;
            break;
        }
        return "expected ',' or '}' in the header dict";
    }
    p = skip_ws(p, end);
    if (p != end) return "trailing bytes after the header dict";
    if (!have_descr || !have_fortran || !have_shape) return "header lacks descr, fortran_order or shape";
    return NULL;
}

fcl_status fcl_npy_read_f32(const char *path, fcl_npy *out, fcl_error *err)
{
    fcl_status st = FCL_OK;
    FILE *f = NULL;
    char *hdr = NULL;
    if (!out) return FCL_ERR(err, FCL_ERR_INVALID_ARG, "fcl_npy_read_f32: NULL output");
    memset(out, 0, sizeof *out);
    if (!path) return FCL_ERR(err, FCL_ERR_INVALID_ARG, "fcl_npy_read_f32: NULL path");
    f = fopen(path, "rb");
    if (!f) return FCL_ERR(err, FCL_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    if (fseeko(f, 0, SEEK_END)) {
        st = FCL_ERR(err, FCL_ERR_IO, "%s: cannot seek: %s", path, strerror(errno));
        goto fail;
    }
    off_t fsize = ftello(f);
    rewind(f);
    unsigned char pre[12];
    if (fsize < 10 || fread(pre, 1, 10, f) != 10) {
        st = FCL_ERR(err, FCL_ERR_FORMAT, "%s: too short to be a .npy file", path);
        goto fail;
    }
    if (memcmp(pre, npy_magic, 6)) {
        st = FCL_ERR(err, FCL_ERR_FORMAT, "%s: not a .npy file (bad magic)", path);
        goto fail;
    }
    int major = pre[6];
    size_t hlen, pre_len;
    if (major == 1) {
        hlen = (size_t)pre[8] | ((size_t)pre[9] << 8);
        pre_len = 10;
    } else if (major == 2 || major == 3) {
        if (fread(pre + 10, 1, 2, f) != 2) {
            st = FCL_ERR(err, FCL_ERR_FORMAT, "%s: truncated header", path);
            goto fail;
        }
        hlen = (size_t)pre[8] | ((size_t)pre[9] << 8) | ((size_t)pre[10] << 16) | ((size_t)pre[11] << 24);
        pre_len = 12;
    } else {
        st = FCL_ERR(err, FCL_ERR_UNSUPPORTED, "%s: .npy format version %d.%d is not supported", path, major, pre[7]);
        goto fail;
    }
    if (hlen > 1u << 20 || (off_t)(pre_len + hlen) > fsize) {
        st = FCL_ERR(err, FCL_ERR_FORMAT, "%s: header length %zu does not fit the file (%lld bytes)", path, hlen,
                     (long long)fsize);
        goto fail;
    }
    hdr = malloc(hlen + 1);
    if (!hdr) {
        st = FCL_ERR(err, FCL_ERR_NOMEM, "%s: out of memory", path);
        goto fail;
    }
    if (fread(hdr, 1, hlen, f) != hlen) {
        st = FCL_ERR(err, FCL_ERR_IO, "%s: cannot read the header", path);
        goto fail;
    }
    hdr[hlen] = '\0';
    if (memchr(hdr, '\0', hlen)) {
        st = FCL_ERR(err, FCL_ERR_FORMAT, "%s: NUL byte in the header", path);
        goto fail;
    }
    char descr[32] = "";
    int fortran = 0, ndim = 0;
    size_t shape[FCL_NPY_MAX_DIMS];
    const char *why = parse_header(hdr, hlen, descr, sizeof descr, &fortran, &ndim, shape);
    if (why) {
        st = FCL_ERR(err, FCL_ERR_FORMAT, "%s: %s", path, why);
        goto fail;
    }
    if (strcmp(descr, "<f4") && strcmp(descr, "|f4") && !(strcmp(descr, "=f4") == 0 && host_is_little_endian())) {
        st = FCL_ERR(err, FCL_ERR_UNSUPPORTED, "%s: dtype '%s' is not supported (float32 '<f4' only)", path, descr);
        goto fail;
    }
    if (fortran) {
        st = FCL_ERR(err, FCL_ERR_UNSUPPORTED, "%s: Fortran-order arrays are not supported", path);
        goto fail;
    }
    size_t numel = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] && numel > SIZE_MAX / 4 / shape[i]) {
            st = FCL_ERR(err, FCL_ERR_FORMAT, "%s: shape too large", path);
            goto fail;
        }
        numel *= shape[i];
    }
    uint64_t data_bytes = (uint64_t)fsize - pre_len - hlen;
    if (data_bytes != (uint64_t)numel * 4) {
        st = FCL_ERR(err, FCL_ERR_FORMAT, "%s: %llu data bytes, but the shape needs %llu", path,
                     (unsigned long long)data_bytes, (unsigned long long)numel * 4);
        goto fail;
    }
    out->ndim = ndim;
    for (int i = 0; i < ndim; i++) out->shape[i] = shape[i];
    out->numel = numel;
    if (numel) {
        out->data = malloc(numel * sizeof(float));
        if (!out->data) {
            st = FCL_ERR(err, FCL_ERR_NOMEM, "%s: out of memory for %zu values", path, numel);
            goto fail;
        }
        if (fread(out->data, 4, numel, f) != numel) {
            st = FCL_ERR(err, FCL_ERR_IO, "%s: cannot read the data", path);
            goto fail;
        }
        if (!host_is_little_endian()) {
            for (size_t i = 0; i < numel; i++) {
                uint32_t u;
                memcpy(&u, out->data + i, 4);
                u = (u >> 24) | ((u >> 8) & 0xff00u) | ((u << 8) & 0xff0000u) | (u << 24);
                memcpy(out->data + i, &u, 4);
            }
        }
    }
fail:
    if (st) fcl_npy_free(out);
    if (f) fclose(f);
    free(hdr);
    return st;
}
