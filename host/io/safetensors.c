/* host/io/safetensors.c: the safetensors file format: a strict validating reader and an atomic writer. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "facecl/safetensors.h"
#include "io/atomic.h"
#include "io/json.h"
#include "io/st_internal.h"

/* The reference implementation's cap on the header (a corrupt length must not allocate GBs). */
#define ST_MAX_HEADER 100000000ull
/* Nesting: {"name": {"shape": [..]}} is depth 3; a little slack. */
#define ST_MAX_DEPTH 8

/* dtypes of the safetensors spec that facecl does not read (an error distinct from garbage) */
static const char *const other_dtypes[] = {"BOOL", "I8", "I16", "U16", "I32", "U32", "U64",
                                           "F8_E4M3", "F8_E5M2", "F8_E8M0", "F4", "F6_E2M3",
                                           "F6_E3M2", "C64", NULL};

typedef struct entry {
    const char *name;        /* points into the parsed JSON */
    fcl_st_dtype dtype;
    int ndim;
    uint64_t shape[FCL_ST_MAX_DIMS];
    uint64_t begin, end;
} entry;

static uint64_t get_le64(const unsigned char *b)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | b[i];
    return v;
}

/* One tensor's info object {"dtype": .., "shape": [..], "data_offsets": [b, e]}. */
static fcl_status parse_info(const char *label, const char *name, const fcl_json *v, size_t dlen,
                             entry *out, fcl_error *err)
{
    char q[128];
    fcl_st_quote(q, sizeof q, name);
    if (v->type != FCL_JSON_OBJECT)
        return FCL_ERR(err, FCL_ERR_FORMAT, "%s: tensor \"%s\": header entry is not an object", label, q);
    for (size_t k = 0; k < v->n; k++)
        if (strcmp(v->keys[k], "dtype") && strcmp(v->keys[k], "shape") &&
            strcmp(v->keys[k], "data_offsets")) {
            char kq[128];
            fcl_st_quote(kq, sizeof kq, v->keys[k]);
            return FCL_ERR(err, FCL_ERR_FORMAT, "%s: tensor \"%s\": unknown field \"%s\" (expected "
                           "dtype, shape, data_offsets)", label, q, kq);
        }
    const fcl_json *dt = fcl_json_get(v, "dtype"), *sh = fcl_json_get(v, "shape"),
                   *off = fcl_json_get(v, "data_offsets");
    if (!dt || !sh || !off)
        return FCL_ERR(err, FCL_ERR_FORMAT, "%s: tensor \"%s\": missing field \"%s\"", label, q,
                       !dt ? "dtype" : !sh ? "shape" : "data_offsets");
    /* dtype */
    if (dt->type != FCL_JSON_STRING)
        return FCL_ERR(err, FCL_ERR_FORMAT, "%s: tensor \"%s\": dtype is not a string", label, q);
    int found = 0;
    for (int d = 0; d < FCL_ST_DTYPE_COUNT && !found; d++)
        if (!strcmp(dt->str, fcl_st_dtype_name((fcl_st_dtype)d))) {
            out->dtype = (fcl_st_dtype)d;
            found = 1;
        }
    if (!found) {
        char dq[128];
        fcl_st_quote(dq, sizeof dq, dt->str);
        for (const char *const *o = other_dtypes; *o; o++)
            if (!strcmp(dt->str, *o))
                return FCL_ERR(err, FCL_ERR_UNSUPPORTED, "%s: tensor \"%s\": dtype %s is not supported "
                               "(facecl reads F32, F64, I64, U8, F16, BF16)", label, q, dq);
        return FCL_ERR(err, FCL_ERR_FORMAT, "%s: tensor \"%s\": unknown dtype \"%s\"", label, q, dq);
    }
    /* shape */
    if (sh->type != FCL_JSON_ARRAY)
        return FCL_ERR(err, FCL_ERR_FORMAT, "%s: tensor \"%s\": shape is not an array", label, q);
    if (sh->n > FCL_ST_MAX_DIMS)
        return FCL_ERR(err, FCL_ERR_UNSUPPORTED, "%s: tensor \"%s\": %zu dimensions (at most %d are "
                       "supported)", label, q, sh->n, FCL_ST_MAX_DIMS);
    out->ndim = (int)sh->n;
    for (size_t d = 0; d < sh->n; d++)
        if (!fcl_json_u64(&sh->items[d], &out->shape[d]))
            return FCL_ERR(err, FCL_ERR_FORMAT, "%s: tensor \"%s\": shape entry %zu is not a "
                           "non-negative integer", label, q, d);
    /* data_offsets */
    if (off->type != FCL_JSON_ARRAY || off->n != 2 || !fcl_json_u64(&off->items[0], &out->begin) ||
        !fcl_json_u64(&off->items[1], &out->end))
        return FCL_ERR(err, FCL_ERR_FORMAT, "%s: tensor \"%s\": data_offsets must be [begin, end] "
                       "with non-negative integers", label, q);
    if (out->begin > out->end || out->end > dlen)
        return FCL_ERR(err, FCL_ERR_FORMAT, "%s: tensor \"%s\": data_offsets [%llu, %llu] are not "
                       "inside the %zu-byte data section", label, q, (unsigned long long)out->begin,
                       (unsigned long long)out->end, dlen);
    size_t numel, nbytes;
    if (!fcl_st_shape_bytes(out->dtype, out->ndim, out->shape, &numel, &nbytes))
        return FCL_ERR(err, FCL_ERR_FORMAT, "%s: tensor \"%s\": shape too large", label, q);
    if (nbytes != out->end - out->begin)
        return FCL_ERR(err, FCL_ERR_FORMAT, "%s: tensor \"%s\": shape and dtype %s need %zu bytes, "
                       "data_offsets [%llu, %llu] hold %llu", label, q, fcl_st_dtype_name(out->dtype),
                       nbytes, (unsigned long long)out->begin, (unsigned long long)out->end,
                       (unsigned long long)(out->end - out->begin));
    out->name = name;
    return FCL_OK;
}

static int cmp_entry(const void *a, const void *b)
{
    const entry *x = *(const entry *const *)a, *y = *(const entry *const *)b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return 0;
}

/* Parses and validates the header, then fills c. Takes `data` (the data section, malloc'ed,
 * dlen bytes) in every case: it becomes c->blob or is freed. */
static fcl_status parse(fcl_checkpoint *c, const char *label, const char *hdr, size_t hlen,
                        unsigned char *data, size_t dlen, fcl_error *err)
{
    fcl_status st = FCL_OK;
    fcl_json root;
    entry *ents = NULL;
    entry **order = NULL;
    size_t ne = 0;
    memset(&root, 0, sizeof root);
    fcl_ckpt_init(c);
    c->blob = data;
    if (hlen == 0 || hdr[0] != '{') {
        st = FCL_ERR(err, FCL_ERR_FORMAT, "%s: the header does not start with '{' (not a safetensors "
                     "file?)", label);
        goto fail;
    }
    if ((st = fcl_json_parse(hdr, hlen, ST_MAX_DEPTH, &root, err))) {
        fcl_error_prefix(err, "%s: header: ", label);
        goto fail;
    }
    ents = calloc(root.n ? root.n : 1, sizeof *ents);
    order = calloc(root.n ? root.n : 1, sizeof *order);
    if (!ents || !order) {
        st = FCL_ERR(err, FCL_ERR_NOMEM, "%s: out of memory (%zu header entries)", label, root.n);
        goto fail;
    }
    const fcl_json *meta = NULL;
    for (size_t k = 0; k < root.n; k++) {
        if (!strcmp(root.keys[k], "__metadata__")) {
            meta = &root.items[k];
            if (meta->type != FCL_JSON_OBJECT) {
                st = FCL_ERR(err, FCL_ERR_FORMAT, "%s: __metadata__ is not an object", label);
                goto fail;
            }
            for (size_t m = 0; m < meta->n; m++)
                if (meta->items[m].type != FCL_JSON_STRING) {
                    char q[128];
                    fcl_st_quote(q, sizeof q, meta->keys[m]);
                    st = FCL_ERR(err, FCL_ERR_FORMAT, "%s: __metadata__ value of \"%s\" is not a "
                                 "string", label, q);
                    goto fail;
                }
            continue;
        }
        if ((st = parse_info(label, root.keys[k], &root.items[k], dlen, &ents[ne], err)))
            goto fail;
        order[ne] = &ents[ne];
        ne++;
    }
    /* The tensors must tile the data section: sorted by offsets, each starts where the previous
     * ended, the last ends at the end of the file. */
    qsort(order, ne, sizeof *order, cmp_entry);
    uint64_t pos = 0;
    for (size_t i = 0; i < ne; i++) {
        if (order[i]->begin != pos) {
            char q[128], pq[128];
            fcl_st_quote(q, sizeof q, order[i]->name);
            if (i) fcl_st_quote(pq, sizeof pq, order[i - 1]->name);
            if (order[i]->begin < pos)
                st = FCL_ERR(err, FCL_ERR_FORMAT, "%s: tensor \"%s\" (bytes [%llu, %llu]) overlaps "
                             "tensor \"%s\" (ends at %llu)", label, q,
                             (unsigned long long)order[i]->begin, (unsigned long long)order[i]->end,
                             pq, (unsigned long long)pos);
            else
                st = FCL_ERR(err, FCL_ERR_FORMAT, "%s: gap in the data section: bytes [%llu, %llu) "
                             "belong to no tensor (before tensor \"%s\")", label,
                             (unsigned long long)pos, (unsigned long long)order[i]->begin, q);
            goto fail;
        }
        pos = order[i]->end;
    }
    if (pos != dlen) {
        st = FCL_ERR(err, FCL_ERR_FORMAT, "%s: the data section has %zu bytes but the tensors cover "
                     "%llu (trailing bytes or a wrong header)", label, dlen, (unsigned long long)pos);
        goto fail;
    }
    /* Fill the checkpoint in header order. Data stays in the blob when aligned for its dtype. */
    for (size_t i = 0; i < ne; i++) {
        const entry *e = &ents[i];
        size_t es = fcl_st_dtype_size(e->dtype), nbytes = (size_t)(e->end - e->begin);
        void *p = NULL;
        int owns = 0;
        if (nbytes && e->begin % es == 0) {
            p = data + e->begin;
        } else if (nbytes) {
            if (!(p = malloc(nbytes))) {
                st = FCL_ERR(err, FCL_ERR_NOMEM, "%s: out of memory", label);
                goto fail;
            }
            memcpy(p, data + e->begin, nbytes);
            owns = 1;
        }
        if ((st = fcl_st_append(c, e->name, e->dtype, e->ndim, e->shape, p, owns, err))) {
            if (owns) free(p);
            goto fail;
        }
    }
    for (size_t m = 0; meta && m < meta->n; m++)
        if ((st = fcl_st_meta_append(c, meta->keys[m], meta->items[m].str, err)))
            goto fail;
fail:
    free(ents);
    free(order);
    fcl_json_free(&root);
    if (st) fcl_ckpt_free(c);
    return st;
}

fcl_status fcl_st_load_mem(fcl_checkpoint *c, const void *bytes, size_t size, const char *label,
                           fcl_error *err)
{
    const unsigned char *b = bytes;
    fcl_ckpt_init(c);
    if (!label) label = "(memory)";
    if (size < 8)
        return FCL_ERR(err, FCL_ERR_FORMAT, "%s: %zu bytes, too short for a safetensors file (8-byte "
                       "header length first)", label, size);
    uint64_t n = get_le64(b);
    if (n > ST_MAX_HEADER)
        return FCL_ERR(err, FCL_ERR_FORMAT, "%s: header length %llu is over the %llu-byte limit "
                       "(corrupt file?)", label, (unsigned long long)n, ST_MAX_HEADER);
    if (n > size - 8)
        return FCL_ERR(err, FCL_ERR_FORMAT, "%s: header length %llu runs past the end of the data "
                       "(%zu bytes)", label, (unsigned long long)n, size);
    size_t dlen = size - 8 - (size_t)n;
    unsigned char *data = malloc(dlen ? dlen : 1);
    if (!data) return FCL_ERR(err, FCL_ERR_NOMEM, "%s: out of memory (%zu bytes)", label, dlen);
    memcpy(data, b + 8 + n, dlen);
    return parse(c, label, (const char *)b + 8, (size_t)n, data, dlen, err);
}

fcl_status fcl_st_load(fcl_checkpoint *c, const char *path, fcl_error *err)
{
    fcl_status st = FCL_OK;
    FILE *f = NULL;
    char *hdr = NULL;
    unsigned char *data = NULL;
    fcl_ckpt_init(c);
    f = fopen(path, "rb");
    if (!f) {
        st = FCL_ERR(err, FCL_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
        goto fail;
    }
    struct stat sb;
    if (fstat(fileno(f), &sb) || !S_ISREG(sb.st_mode)) {
        st = FCL_ERR(err, FCL_ERR_IO, "%s: not a regular file", path);
        goto fail;
    }
    uint64_t size = (uint64_t)sb.st_size;
    unsigned char lenbuf[8];
    if (size < 8 || fread(lenbuf, 1, 8, f) != 8) {
        st = FCL_ERR(err, FCL_ERR_FORMAT, "%s: %llu bytes, too short for a safetensors file (8-byte "
                     "header length first)", path, (unsigned long long)size);
        goto fail;
    }
    uint64_t n = get_le64(lenbuf);
    if (n > ST_MAX_HEADER) {
        st = FCL_ERR(err, FCL_ERR_FORMAT, "%s: header length %llu is over the %llu-byte limit "
                     "(corrupt file?)", path, (unsigned long long)n, ST_MAX_HEADER);
        goto fail;
    }
    if (n > size - 8) {
        st = FCL_ERR(err, FCL_ERR_FORMAT, "%s: header length %llu runs past the end of the file "
                     "(%llu bytes): truncated or corrupt", path, (unsigned long long)n,
                     (unsigned long long)size);
        goto fail;
    }
    if (size - 8 - n > (uint64_t)SIZE_MAX) {
        st = FCL_ERR(err, FCL_ERR_NOMEM, "%s: too large for this machine", path);
        goto fail;
    }
    size_t dlen = (size_t)(size - 8 - n);
    hdr = malloc(n ? (size_t)n : 1);
    data = malloc(dlen ? dlen : 1);
    if (!hdr || !data) {
        st = FCL_ERR(err, FCL_ERR_NOMEM, "%s: out of memory (%llu bytes)", path,
                     (unsigned long long)size);
        goto fail;
    }
    if (fread(hdr, 1, (size_t)n, f) != (size_t)n || fread(data, 1, dlen, f) != dlen) {
        st = FCL_ERR(err, FCL_ERR_IO, "%s: read error%s", path,
                     ferror(f) ? "" : " (the file shrank while being read)");
        goto fail;
    }
    st = parse(c, path, hdr, (size_t)n, data, dlen, err);
    data = NULL;   /* parse took it */
fail:
    if (f) fclose(f);
    free(hdr);
    free(data);
    return st;
}

/* ---- writer --------------------------------------------------------------------------------- */

typedef struct sbuf {
    char *s;
    size_t n, cap;
    int oom;
} sbuf;

static void sb_put(sbuf *b, const char *s, size_t n)
{
    if (b->oom) return;
    if (b->n + n + 1 > b->cap) {
        size_t nc = b->cap ? b->cap : 1024;
        while (nc < b->n + n + 1) nc *= 2;
        char *p = realloc(b->s, nc);
        if (!p) {
            b->oom = 1;
            return;
        }
        b->s = p;
        b->cap = nc;
    }
    memcpy(b->s + b->n, s, n);
    b->n += n;
    b->s[b->n] = '\0';
}

static void sb_str(sbuf *b, const char *s) { sb_put(b, s, strlen(s)); }

static void sb_u64(sbuf *b, uint64_t v)
{
    char t[32];
    snprintf(t, sizeof t, "%llu", (unsigned long long)v);
    sb_str(b, t);
}

/* A JSON string literal: quotes, backslashes and control characters escaped, UTF-8 kept. */
static void sb_json(sbuf *b, const char *s)
{
    sb_put(b, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        char t[8];
        if (*p == '"' || *p == '\\') {
            t[0] = '\\';
            t[1] = (char)*p;
            sb_put(b, t, 2);
        } else if (*p < 0x20) {
            snprintf(t, sizeof t, "\\u%04x", *p);
            sb_put(b, t, 6);
        } else {
            sb_put(b, (const char *)p, 1);
        }
    }
    sb_put(b, "\"", 1);
}

static int cmp_cstr(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The first name that appears twice, or NULL (n log n). *oom set when no memory. */
static const char *first_dup(const char **names, size_t n, int *oom)
{
    *oom = 0;
    if (n < 2) return NULL;
    const char **s = malloc(n * sizeof *s);
    if (!s) {
        *oom = 1;
        return NULL;
    }
    memcpy(s, names, n * sizeof *s);
    qsort(s, n, sizeof *s, cmp_cstr);
    const char *dup = NULL;
    for (size_t i = 1; i < n && !dup; i++)
        if (!strcmp(s[i - 1], s[i])) dup = s[i];
    free(s);
    return dup;
}

/* The header JSON for c, padded with spaces to a multiple of 8 bytes. */
static fcl_status build_header(const fcl_checkpoint *c, const char *path, sbuf *b, fcl_error *err)
{
    char q[128];
    const char **names = malloc((c->count > c->n_meta ? c->count : c->n_meta) * sizeof *names + 1);
    if (!names) return FCL_ERR(err, FCL_ERR_NOMEM, "%s: out of memory", path);
    fcl_status st = FCL_OK;
    int oom;
    for (size_t i = 0; i < c->count; i++) {
        const fcl_st_tensor *t = &c->tensors[i];
        size_t numel, nbytes;
        fcl_st_quote(q, sizeof q, t->name ? t->name : "(null)");
        if (!t->name || !fcl_utf8_valid(t->name, strlen(t->name)) || !strcmp(t->name, "__metadata__") ||
            !fcl_st_dtype_name(t->dtype) || t->ndim < 0 || t->ndim > FCL_ST_MAX_DIMS ||
            !fcl_st_shape_bytes(t->dtype, t->ndim, t->shape, &numel, &nbytes) ||
            nbytes != t->nbytes || (nbytes && !t->data)) {
            st = FCL_ERR(err, FCL_ERR_INVALID_ARG, "%s: tensor \"%s\" is inconsistent (name, dtype, "
                         "shape, size or data)", path, q);
            goto fail;
        }
        names[i] = t->name;
    }
    const char *dup = first_dup(names, c->count, &oom);
    for (size_t i = 0; !dup && !oom && i < c->n_meta; i++) {
        if (!c->meta[i].key || !c->meta[i].value ||
            !fcl_utf8_valid(c->meta[i].key, strlen(c->meta[i].key)) ||
            !fcl_utf8_valid(c->meta[i].value, strlen(c->meta[i].value))) {
            st = FCL_ERR(err, FCL_ERR_INVALID_ARG, "%s: metadata entry %zu is not a UTF-8 string "
                         "pair", path, i);
            goto fail;
        }
        names[i] = c->meta[i].key;
    }
    if (!dup && !oom) dup = first_dup(names, c->n_meta, &oom);
    if (oom) {
        st = FCL_ERR(err, FCL_ERR_NOMEM, "%s: out of memory", path);
        goto fail;
    }
    if (dup) {
        fcl_st_quote(q, sizeof q, dup);
        st = FCL_ERR(err, FCL_ERR_INVALID_ARG, "%s: the name \"%s\" appears twice", path, q);
        goto fail;
    }

    sb_str(b, "{");
    int first = 1;
    if (c->n_meta) {
        sb_str(b, "\"__metadata__\":{");
        for (size_t i = 0; i < c->n_meta; i++) {
            if (i) sb_str(b, ",");
            sb_json(b, c->meta[i].key);
            sb_str(b, ":");
            sb_json(b, c->meta[i].value);
        }
        sb_str(b, "}");
        first = 0;
    }
    uint64_t off = 0;
    for (size_t i = 0; i < c->count; i++) {
        const fcl_st_tensor *t = &c->tensors[i];
        if (!first) sb_str(b, ",");
        first = 0;
        sb_json(b, t->name);
        sb_str(b, ":{\"dtype\":\"");
        sb_str(b, fcl_st_dtype_name(t->dtype));
        sb_str(b, "\",\"shape\":[");
        for (int d = 0; d < t->ndim; d++) {
            if (d) sb_str(b, ",");
            sb_u64(b, t->shape[d]);
        }
        sb_str(b, "],\"data_offsets\":[");
        sb_u64(b, off);
        sb_str(b, ",");
        off += t->nbytes;
        sb_u64(b, off);
        sb_str(b, "]}");
    }
    sb_str(b, "}");
    while (!b->oom && b->n % 8) sb_str(b, " ");
    if (b->oom) st = FCL_ERR(err, FCL_ERR_NOMEM, "%s: out of memory building the header", path);
fail:
    free(names);
    return st;
}

fcl_status fcl_st_save(const fcl_checkpoint *c, const char *path, fcl_error *err)
{
    fcl_status st;
    sbuf hdr = {0};
    fcl_atomic_file af = {0};
    if ((st = build_header(c, path, &hdr, err)))
        goto fail;
    if ((st = fcl_atomic_open(&af, path, err))) goto fail;
    unsigned char len[8];
    for (int i = 0; i < 8; i++) len[i] = (unsigned char)((uint64_t)hdr.n >> (8 * i));
    if ((st = fcl_atomic_write(&af, len, 8, err)) || (st = fcl_atomic_write(&af, hdr.s, hdr.n, err))) goto fail;
    for (size_t i = 0; i < c->count; i++)
        if ((st = fcl_atomic_write(&af, c->tensors[i].data, c->tensors[i].nbytes, err))) goto fail;
    st = fcl_atomic_commit(&af, err); /* the rename is made durable too (folder fsync) */
fail:
    fcl_atomic_abort(&af);
    free(hdr.s);
    return st;
}
