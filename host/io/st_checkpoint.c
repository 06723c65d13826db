/* host/io/st_checkpoint.c: the in-memory checkpoint of the safetensors layer (named tensors, metadata), dtype conversion and the model-vs-checkpoint shape check. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "facecl/safetensors.h"
#include "io/st_internal.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "facecl's safetensors code keeps tensor data in host order, which must be little-endian"
#endif

static const struct {
    const char *name;
    size_t size;
} dtypes[FCL_ST_DTYPE_COUNT] = {
    [FCL_ST_F32] = {"F32", 4}, [FCL_ST_F64] = {"F64", 8}, [FCL_ST_I64] = {"I64", 8},
    [FCL_ST_U8] = {"U8", 1},   [FCL_ST_F16] = {"F16", 2}, [FCL_ST_BF16] = {"BF16", 2},
};

const char *fcl_st_dtype_name(fcl_st_dtype dt)
{
    return (unsigned)dt < FCL_ST_DTYPE_COUNT ? dtypes[dt].name : NULL;
}

size_t fcl_st_dtype_size(fcl_st_dtype dt)
{
    return (unsigned)dt < FCL_ST_DTYPE_COUNT ? dtypes[dt].size : 0;
}

int fcl_utf8_valid(const char *str, size_t len)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    while (i < len) {
        unsigned c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        int n;
        unsigned cp, min;
        if ((c & 0xe0) == 0xc0) { n = 1; cp = c & 0x1f; min = 0x80; }
        else if ((c & 0xf0) == 0xe0) { n = 2; cp = c & 0x0f; min = 0x800; }
        else if ((c & 0xf8) == 0xf0) { n = 3; cp = c & 0x07; min = 0x10000; }
        else return 0;
        if (len - i <= (size_t)n) return 0;
        for (int k = 1; k <= n; k++) {
            if ((s[i + k] & 0xc0) != 0x80) return 0;
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
        i += (size_t)n + 1;
    }
    return 1;
}

void fcl_st_quote(char *buf, size_t size, const char *s)
{
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p && n + 8 < size; p++) {
        if (n > 96) {
            n += (size_t)snprintf(buf + n, size - n, "...");
            break;
        }
        if (*p < 0x20 || *p == 0x7f || *p == '"' || *p == '\\')
            n += (size_t)snprintf(buf + n, size - n, "\\x%02x", *p);
        else
            buf[n++] = (char)*p;
    }
    buf[n < size ? n : size - 1] = '\0';
}

void fcl_ckpt_init(fcl_checkpoint *c) { memset(c, 0, sizeof *c); }

void fcl_ckpt_free(fcl_checkpoint *c)
{
    if (!c) return;
    for (size_t i = 0; i < c->count; i++) {
        free(c->tensors[i].name);
        if (c->tensors[i].owns_data) free(c->tensors[i].data);
    }
    for (size_t i = 0; i < c->n_meta; i++) {
        free(c->meta[i].key);
        free(c->meta[i].value);
    }
    free(c->tensors);
    free(c->meta);
    free(c->blob);
    memset(c, 0, sizeof *c);
}

const fcl_st_tensor *fcl_ckpt_find(const fcl_checkpoint *c, const char *name)
{
    for (size_t i = 0; i < c->count; i++)
        if (!strcmp(c->tensors[i].name, name)) return &c->tensors[i];
    return NULL;
}

int fcl_st_shape_bytes(fcl_st_dtype dtype, int ndim, const uint64_t *shape, size_t *numel,
                       size_t *nbytes)
{
    uint64_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] != 0 && n > SIZE_MAX / shape[i]) return 0;
        n *= shape[i];
    }
    size_t es = fcl_st_dtype_size(dtype);
    if (es == 0 || (n && n > SIZE_MAX / es)) return 0;
    *numel = (size_t)n;
    *nbytes = (size_t)n * es;
    return 1;
}

fcl_status fcl_st_append(fcl_checkpoint *c, const char *name, fcl_st_dtype dtype, int ndim,
                         const uint64_t *shape, void *data, int owns_data, fcl_error *err)
{
    if (c->count == c->cap) {
        size_t nc = c->cap ? c->cap * 2 : 16;
        fcl_st_tensor *t = realloc(c->tensors, nc * sizeof *t);
        if (!t) return FCL_ERR(err, FCL_ERR_NOMEM, "checkpoint: out of memory (%zu tensors)", nc);
        c->tensors = t;
        c->cap = nc;
    }
    fcl_st_tensor *t = &c->tensors[c->count];
    memset(t, 0, sizeof *t);
    if (!(t->name = strdup(name))) return FCL_ERR(err, FCL_ERR_NOMEM, "checkpoint: out of memory");
    t->dtype = dtype;
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++) t->shape[i] = shape[i];
    fcl_st_shape_bytes(dtype, ndim, shape, &t->numel, &t->nbytes);   /* checked by callers */
    t->data = data;
    t->owns_data = owns_data;
    c->count++;
    return FCL_OK;
}

fcl_status fcl_ckpt_add(fcl_checkpoint *c, const char *name, fcl_st_dtype dtype, int ndim,
                        const uint64_t *shape, const void *data, fcl_error *err)
{
    const char *op = "fcl_ckpt_add";
    char q[128];
    size_t numel, nbytes;
    if (!name || !*name || !fcl_utf8_valid(name, strlen(name)) || !strcmp(name, "__metadata__")) {
        fcl_st_quote(q, sizeof q, name ? name : "(null)");
        return FCL_ERR(err, FCL_ERR_INVALID_ARG, "%s: bad tensor name \"%s\" (empty, not UTF-8 or "
                       "reserved)", op, q);
    }
    fcl_st_quote(q, sizeof q, name);
    if (!fcl_st_dtype_name(dtype))
        return FCL_ERR(err, FCL_ERR_INVALID_ARG, "%s: tensor \"%s\": bad dtype %d", op, q, (int)dtype);
    if (ndim < 0 || ndim > FCL_ST_MAX_DIMS || (ndim > 0 && !shape))
        return FCL_ERR(err, FCL_ERR_INVALID_ARG, "%s: tensor \"%s\": %d dims (0..%d allowed)", op, q,
                       ndim, FCL_ST_MAX_DIMS);
    if (!fcl_st_shape_bytes(dtype, ndim, shape, &numel, &nbytes))
        return FCL_ERR(err, FCL_ERR_INVALID_ARG, "%s: tensor \"%s\": shape too large", op, q);
    if (nbytes && !data)
        return FCL_ERR(err, FCL_ERR_INVALID_ARG, "%s: tensor \"%s\": no data", op, q);
    if (fcl_ckpt_find(c, name))
        return FCL_ERR(err, FCL_ERR_INVALID_ARG, "%s: the checkpoint already has a tensor \"%s\"", op, q);
    void *copy = NULL;
    if (nbytes) {
        if (!(copy = malloc(nbytes)))
            return FCL_ERR(err, FCL_ERR_NOMEM, "%s: tensor \"%s\": out of memory (%zu bytes)", op, q,
                           nbytes);
        memcpy(copy, data, nbytes);
    }
    fcl_status st = fcl_st_append(c, name, dtype, ndim, shape, copy, 1, err);
    if (st) free(copy);
    return st;
}

fcl_status fcl_ckpt_add_f32(fcl_checkpoint *c, const char *name, int ndim, const size_t *shape,
                            const float *data, fcl_error *err)
{
    uint64_t s[FCL_ST_MAX_DIMS];
    if (ndim < 0 || ndim > FCL_ST_MAX_DIMS)
        return FCL_ERR(err, FCL_ERR_INVALID_ARG, "fcl_ckpt_add_f32: %d dims (0..%d allowed)", ndim,
                       FCL_ST_MAX_DIMS);
    for (int i = 0; i < ndim; i++) s[i] = shape[i];
    return fcl_ckpt_add(c, name, FCL_ST_F32, ndim, s, data, err);
}

fcl_status fcl_st_meta_append(fcl_checkpoint *c, const char *key, const char *value,
                              fcl_error *err)
{
    if (c->n_meta == c->meta_cap) {
        size_t nc = c->meta_cap ? c->meta_cap * 2 : 8;
        fcl_st_meta *m = realloc(c->meta, nc * sizeof *m);
        if (!m) return FCL_ERR(err, FCL_ERR_NOMEM, "checkpoint metadata: out of memory");
        c->meta = m;
        c->meta_cap = nc;
    }
    char *k = strdup(key), *v = strdup(value);
    if (!k || !v) {
        free(k);
        free(v);
        return FCL_ERR(err, FCL_ERR_NOMEM, "checkpoint metadata: out of memory");
    }
    c->meta[c->n_meta].key = k;
    c->meta[c->n_meta].value = v;
    c->n_meta++;
    return FCL_OK;
}

fcl_status fcl_ckpt_set_meta(fcl_checkpoint *c, const char *key, const char *value, fcl_error *err)
{
    if (!key || !value || !fcl_utf8_valid(key, strlen(key)) || !fcl_utf8_valid(value, strlen(value)))
        return FCL_ERR(err, FCL_ERR_INVALID_ARG, "fcl_ckpt_set_meta: key and value must be UTF-8 "
                       "strings");
    for (size_t i = 0; i < c->n_meta; i++)
        if (!strcmp(c->meta[i].key, key)) {
            char *v = strdup(value);
            if (!v) return FCL_ERR(err, FCL_ERR_NOMEM, "fcl_ckpt_set_meta: out of memory");
            free(c->meta[i].value);
            c->meta[i].value = v;
            return FCL_OK;
        }
    return fcl_st_meta_append(c, key, value, err);
}

const char *fcl_ckpt_get_meta(const fcl_checkpoint *c, const char *key)
{
    for (size_t i = 0; i < c->n_meta; i++)
        if (!strcmp(c->meta[i].key, key)) return c->meta[i].value;
    return NULL;
}

/* IEEE half -> float, exact (subnormals, infinities and NaNs included). */
static float half_to_float(uint16_t h)
{
    uint32_t sign = (uint32_t)(h >> 15) << 31, e = (h >> 10) & 0x1f, m = h & 0x3ff;
    float f;
    if (e == 0) {
        f = ldexpf((float)m, -24);                    /* zero or subnormal: m * 2^-24 */
    } else if (e == 31) {
        f = m ? NAN : INFINITY;
    } else {
        f = ldexpf((float)(m | 0x400), (int)e - 25);  /* 1.m * 2^(e-15) */
    }
    uint32_t bits;
    memcpy(&bits, &f, 4);
    bits |= sign;
    memcpy(&f, &bits, 4);
    return f;
}

/* The tensor's name quoted into q[128] for messages; the error when count is not its number of
 * values. */
static fcl_status check_count(const fcl_st_tensor *t, size_t count, char *q, fcl_error *err)
{
    fcl_st_quote(q, 128, t->name ? t->name : "");
    if (count != t->numel)
        return FCL_ERR(err, FCL_ERR_SHAPE, "tensor \"%s\" has %zu values, %zu were asked for", q,
                       t->numel, count);
    return FCL_OK;
}

fcl_status fcl_st_tensor_to_f32(const fcl_st_tensor *t, float *out, size_t count, fcl_error *err)
{
    char q[128];
    fcl_status st = check_count(t, count, q, err);
    if (st) return st;
    const unsigned char *d = t->data;
    for (size_t i = 0; i < count; i++) {
        switch (t->dtype) {
        case FCL_ST_F32: memcpy(&out[i], d + 4 * i, 4); break;
        case FCL_ST_F64: { double v; memcpy(&v, d + 8 * i, 8); out[i] = (float)v; break; }
        case FCL_ST_I64: { int64_t v; memcpy(&v, d + 8 * i, 8); out[i] = (float)v; break; }
        case FCL_ST_U8: out[i] = (float)d[i]; break;
        case FCL_ST_F16: { uint16_t v; memcpy(&v, d + 2 * i, 2); out[i] = half_to_float(v); break; }
        case FCL_ST_BF16: {
            uint16_t v;
            memcpy(&v, d + 2 * i, 2);
            uint32_t bits = (uint32_t)v << 16;
            memcpy(&out[i], &bits, 4);
            break;
        }
        default:
            return FCL_ERR(err, FCL_ERR_INVALID_ARG, "tensor \"%s\": bad dtype %d", q, (int)t->dtype);
        }
    }
    return FCL_OK;
}

fcl_status fcl_st_tensor_to_i64(const fcl_st_tensor *t, int64_t *out, size_t count, fcl_error *err)
{
    char q[128];
    fcl_status st = check_count(t, count, q, err);
    if (st) return st;
    if (t->dtype == FCL_ST_I64) {
        if (count) memcpy(out, t->data, count * 8);
    } else if (t->dtype == FCL_ST_U8) {
        for (size_t i = 0; i < count; i++) out[i] = ((const unsigned char *)t->data)[i];
    } else {
        return FCL_ERR(err, FCL_ERR_FORMAT, "tensor \"%s\" is %s, an integer (I64 or U8) was expected",
                       q, fcl_st_dtype_name(t->dtype) ? fcl_st_dtype_name(t->dtype) : "?");
    }
    return FCL_OK;
}

/* ---- shape check ------------------------------------------------------------------------------ */

/* A growing message; stops adding items past a size so the whole fits in an fcl_error. */
typedef struct msgbuf {
    char s[FCL_ERROR_MSG_MAX - 512];
    size_t n;
    size_t dropped;
} msgbuf;

static void msg_add(msgbuf *m, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void msg_add(msgbuf *m, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (k < 0) return;
    size_t len = strlen(tmp);
    if (m->n + len + 64 >= sizeof m->s) {
        m->dropped++;
        return;
    }
    memcpy(m->s + m->n, tmp, len + 1);
    m->n += len;
}

static void shape_str(char *buf, size_t size, int ndim, const uint64_t *shape)
{
    size_t n = (size_t)snprintf(buf, size, "[");
    for (int i = 0; i < ndim && n < size; i++)
        n += (size_t)snprintf(buf + n, size - n, "%s%llu", i ? ", " : "", (unsigned long long)shape[i]);
    if (n < size) snprintf(buf + n, size - n, "]");
}

static int ignored(const char *name, const char *const *prefixes)
{
    for (const char *const *p = prefixes; p && *p; p++)
        if (!strncmp(name, *p, strlen(*p))) return 1;
    return 0;
}

fcl_status fcl_st_check_shapes(const fcl_checkpoint *c, const char *label,
                               const fcl_st_expect *want, size_t n_want,
                               const char *const *ignore_prefixes, fcl_error *err)
{
    msgbuf *m = calloc(1, sizeof *m);
    if (!m) return FCL_ERR(err, FCL_ERR_NOMEM, "fcl_st_check_shapes: out of memory");
    char q[128], a[160], b[160];
    size_t missing = 0, unexpected = 0, differ = 0;
    /* missing */
    for (size_t i = 0; i < n_want; i++) {
        if (fcl_ckpt_find(c, want[i].name)) continue;
        fcl_st_quote(q, sizeof q, want[i].name);
        msg_add(m, "%s%s", missing++ ? ", " : "; missing: ", q);
    }
    /* unexpected */
    for (size_t j = 0; j < c->count; j++) {
        const char *name = c->tensors[j].name;
        int found = 0;
        for (size_t i = 0; i < n_want && !found; i++) found = !strcmp(want[i].name, name);
        if (found || ignored(name, ignore_prefixes)) continue;
        fcl_st_quote(q, sizeof q, name);
        msg_add(m, "%s%s", unexpected++ ? ", " : "; unexpected: ", q);
    }
    /* shape differs */
    for (size_t i = 0; i < n_want; i++) {
        const fcl_st_tensor *t = fcl_ckpt_find(c, want[i].name);
        if (!t) continue;
        int same = t->ndim == want[i].ndim;
        for (int d = 0; same && d < t->ndim; d++) same = t->shape[d] == want[i].shape[d];
        if (same) continue;
        fcl_st_quote(q, sizeof q, want[i].name);
        shape_str(a, sizeof a, t->ndim, t->shape);
        shape_str(b, sizeof b, want[i].ndim > FCL_ST_MAX_DIMS ? FCL_ST_MAX_DIMS : want[i].ndim,
                  want[i].shape);
        msg_add(m, "%s%s (file %s, expected %s)", differ++ ? ", " : "; shape differs: ", q, a, b);
    }
    fcl_status st = FCL_OK;
    if (missing || unexpected || differ)
        st = FCL_ERR(err, FCL_ERR_SHAPE, "%s does not match the model (%zu missing, %zu unexpected, "
                     "%zu with another shape)%s%s", label ? label : "checkpoint", missing, unexpected,
                     differ, m->s, m->dropped ? "; ... (list cut short)" : "");
    free(m);
    return st;
}

fcl_status fcl_st_check_file(const char *path, const fcl_st_expect *want, size_t n_want,
                             const char *const *ignore_prefixes, fcl_error *err)
{
    fcl_checkpoint c;
    fcl_status st = fcl_st_load(&c, path, err);
    if (st) return st;
    st = fcl_st_check_shapes(&c, path, want, n_want, ignore_prefixes, err);
    fcl_ckpt_free(&c);
    return st;
}
