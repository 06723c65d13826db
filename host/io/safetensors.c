/* host/io/safetensors.c: the safetensors file format: a strict validating reader and an atomic writer. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "facecl/safetensors.h"
#include "io/atomic.h"
#include "io/st_internal.h"

/* The reference implementation's cap on the header (a corrupt length must not allocate GBs). */
#define ST_MAX_HEADER 100000000ull
/* Nesting: {"name": {"shape": [..]}} is depth 3; a little slack. */
#define ST_MAX_DEPTH 8
/* JSON numbers become json_int_t (64-bit): offsets and shape entries must fit its positive range. */
#define ST_MAX_INT 0x7fffffffffffffffull

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

/* *out = v when v is a JSON integer >= 0. */
static int get_u64(const json_t *v, uint64_t *out)
{
    if (!json_is_integer(v) || json_integer_value(v) < 0) return 0;
    *out = (uint64_t)json_integer_value(v);
    return 1;
}

/* One tensor's info object {"dtype": .., "shape": [..], "data_offsets": [b, e]}. */
static fcl_status parse_info(const char *label, const char *name, const json_t *v, size_t dlen,
                             entry *out, fcl_error *err)
{
    char q[128];
    fcl_st_quote(q, sizeof q, name);
    if (!json_is_object(v))
        return FCL_ERR(err, FCL_ERR_FORMAT, "%s: tensor \"%s\": header entry is not an object", label, q);
    const char *key;
    const json_t *val;
    json_object_foreach((json_t *)v, key, val)
        if (strcmp(key, "dtype") && strcmp(key, "shape") && strcmp(key, "data_offsets")) {
            char kq[128];
            fcl_st_quote(kq, sizeof kq, key);
            return FCL_ERR(err, FCL_ERR_FORMAT, "%s: tensor \"%s\": unknown field \"%s\" (expected "
                           "dtype, shape, data_offsets)", label, q, kq);
        }
    const json_t *dt = json_object_get(v, "dtype"), *sh = json_object_get(v, "shape"),
                 *off = json_object_get(v, "data_offsets");
    if (!dt || !sh || !off)
        return FCL_ERR(err, FCL_ERR_FORMAT, "%s: tensor \"%s\": missing field \"%s\"", label, q,
                       !dt ? "dtype" : !sh ? "shape" : "data_offsets");
    /* dtype */
    if (!json_is_string(dt))
        return FCL_ERR(err, FCL_ERR_FORMAT, "%s: tensor \"%s\": dtype is not a string", label, q);
    const char *dts = json_string_value(dt);
    int found = 0;
    for (int d = 0; d < FCL_ST_DTYPE_COUNT && !found; d++)
        if (!strcmp(dts, fcl_st_dtype_name((fcl_st_dtype)d))) {
            out->dtype = (fcl_st_dtype)d;
            found = 1;
        }
    if (!found) {
        char dq[128];
        fcl_st_quote(dq, sizeof dq, dts);
        for (const char *const *o = other_dtypes; *o; o++)
            if (!strcmp(dts, *o))
                return FCL_ERR(err, FCL_ERR_UNSUPPORTED, "%s: tensor \"%s\": dtype %s is not supported "
                               "(facecl reads F32, F64, I64, U8, F16, BF16)", label, q, dq);
        return FCL_ERR(err, FCL_ERR_FORMAT, "%s: tensor \"%s\": unknown dtype \"%s\"", label, q, dq);
    }
    /* shape */
    if (!json_is_array(sh))
        return FCL_ERR(err, FCL_ERR_FORMAT, "%s: tensor \"%s\": shape is not an array", label, q);
    size_t nd = json_array_size(sh);
    if (nd > FCL_ST_MAX_DIMS)
        return FCL_ERR(err, FCL_ERR_UNSUPPORTED, "%s: tensor \"%s\": %zu dimensions (at most %d are "
                       "supported)", label, q, nd, FCL_ST_MAX_DIMS);
    out->ndim = (int)nd;
    for (size_t d = 0; d < nd; d++)
        if (!get_u64(json_array_get(sh, d), &out->shape[d]))
            return FCL_ERR(err, FCL_ERR_FORMAT, "%s: tensor \"%s\": shape entry %zu is not a "
                           "non-negative integer", label, q, d);
    /* data_offsets */
    if (!json_is_array(off) || json_array_size(off) != 2 || !get_u64(json_array_get(off, 0), &out->begin) ||
        !get_u64(json_array_get(off, 1), &out->end))
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

/* Containers nested in v (a scalar: 0). jansson itself stops at 2048 levels. */
static int json_depth(const json_t *v)
{
    int d = 0;
    if (json_is_array(v))
        for (size_t i = 0; i < json_array_size(v); i++) {
            int k = json_depth(json_array_get(v, i));
            if (k > d) d = k;
        }
    else if (json_is_object(v)) {
        const char *key;
        const json_t *val;
        json_object_foreach((json_t *)v, key, val) {
            int k = json_depth(val);
            if (k > d) d = k;
        }
    } else {
        return 0;
    }
    return d + 1;
}

/* jansson's parse error as facecl's message ("JSON ... at byte N: what"). The lexer's wording is
 * kept, with plainer words for the cases a person meets in a hand-edited or corrupt header. */
static fcl_status json_fail(const char *label, const char *hdr, size_t hlen, const json_error_t *je,
                            fcl_error *err)
{
    size_t at = je->position > 0 ? (size_t)je->position : 0;
    const char *near = strstr(je->text, "near '");
    char tok[JSON_ERROR_TEXT_LENGTH] = "";
    if (near) snprintf(tok, sizeof tok, "%.*s", (int)strlen(near + 6) - 1, near + 6);
    switch (json_error_code(je)) {
    case json_error_out_of_memory:
        return FCL_ERR(err, FCL_ERR_NOMEM, "%s: header: out of memory while parsing JSON", label);
    case json_error_invalid_utf8:
        return FCL_ERR(err, FCL_ERR_FORMAT, "%s: header: JSON text is not valid UTF-8 (byte %zu: %s)",
                       label, at, je->text);
    case json_error_end_of_input_expected:
        return FCL_ERR(err, FCL_ERR_FORMAT, "%s: header: JSON syntax error at byte %zu: trailing "
                       "characters after the value", label, at);
    case json_error_duplicate_key:
        return FCL_ERR(err, FCL_ERR_FORMAT, "%s: header: JSON object at byte %zu repeats the key %.200s",
                       label, at, tok);
    case json_error_null_character:
    case json_error_null_byte_in_key:
        return FCL_ERR(err, FCL_ERR_FORMAT, "%s: header: JSON syntax error at byte %zu: \\u0000 is not "
                       "allowed in names and values", label, at);
    default:
        break;
    }
    const char *what = je->text;
    if (strstr(je->text, "invalid Unicode")) what = "unpaired UTF-16 surrogate in a \\u escape";
    /* "04": the lexer stops after the 0 and calls it an invalid token */
    if ((!strcmp(tok, "0") || !strcmp(tok, "-0")) && at < hlen && hdr[at] >= '0' && hdr[at] <= '9')
        what = "number with a leading zero";
    return FCL_ERR(err, FCL_ERR_FORMAT, "%s: header: JSON syntax error at byte %zu: %s%s%s%s", label,
                   at, what, what != je->text ? " (" : "", what != je->text ? je->text : "",
                   what != je->text ? ")" : "");
}

/* Parses and validates the header, then fills c. Takes `data` (the data section, malloc'ed,
 * dlen bytes) in every case: it becomes c->blob or is freed. */
static fcl_status parse(fcl_checkpoint *c, const char *label, const char *hdr, size_t hlen,
                        unsigned char *data, size_t dlen, fcl_error *err)
{
    fcl_status st = FCL_OK;
    json_t *root = NULL;
    json_error_t je;
    entry *ents = NULL;
    entry **order = NULL;
    size_t ne = 0;
    fcl_ckpt_init(c);
    c->blob = data;
    if (hlen == 0 || hdr[0] != '{') {
        st = FCL_ERR(err, FCL_ERR_FORMAT, "%s: the header does not start with '{' (not a safetensors "
                     "file?)", label);
        goto fail;
    }
    /* strict RFC 8259 through jansson: valid UTF-8, no \u0000, no repeated key */
    if (!(root = json_loadb(hdr, hlen, JSON_REJECT_DUPLICATES, &je))) {
        st = json_fail(label, hdr, hlen, &je, err);
        goto fail;
    }
    if (json_depth(root) > ST_MAX_DEPTH) {
        st = FCL_ERR(err, FCL_ERR_FORMAT, "%s: header: JSON nesting too deep (more than %d levels)",
                     label, ST_MAX_DEPTH);
        goto fail;
    }
    size_t nk = json_object_size(root);
    ents = calloc(nk ? nk : 1, sizeof *ents);
    order = calloc(nk ? nk : 1, sizeof *order);
    if (!ents || !order) {
        st = FCL_ERR(err, FCL_ERR_NOMEM, "%s: out of memory (%zu header entries)", label, nk);
        goto fail;
    }
    const json_t *meta = NULL, *val;
    const char *key;
    json_object_foreach(root, key, val) { /* in the order of the text */
        if (!strcmp(key, "__metadata__")) {
            meta = val;
            if (!json_is_object(meta)) {
                st = FCL_ERR(err, FCL_ERR_FORMAT, "%s: __metadata__ is not an object", label);
                goto fail;
            }
            const char *mk;
            const json_t *mv;
            json_object_foreach((json_t *)meta, mk, mv)
                if (!json_is_string(mv)) {
                    char q[128];
                    fcl_st_quote(q, sizeof q, mk);
                    st = FCL_ERR(err, FCL_ERR_FORMAT, "%s: __metadata__ value of \"%s\" is not a "
                                 "string", label, q);
                    goto fail;
                }
            continue;
        }
        if ((st = parse_info(label, key, val, dlen, &ents[ne], err)))
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
    if (meta) {
        const char *mk;
        const json_t *mv;
        json_object_foreach((json_t *)meta, mk, mv)
            if ((st = fcl_st_meta_append(c, mk, json_string_value(mv), err)))
                goto fail;
    }
fail:
    free(ents);
    free(order);
    json_decref(root);
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

/* The header JSON for c (metadata first, then the tensors in order, data back to back), padded
 * with spaces to a multiple of 8 bytes; *out is malloc'ed. */
static fcl_status build_header(const fcl_checkpoint *c, const char *path, char **out, size_t *len,
                               fcl_error *err)
{
    char q[128];
    fcl_status st = FCL_OK;
    json_t *root = json_object(), *meta = c->n_meta ? json_object() : NULL;
    *out = NULL;
    if (!root || (c->n_meta && (!meta || json_object_set(root, "__metadata__", meta)))) goto oom;
    for (size_t i = 0; i < c->n_meta; i++) {
        const char *k = c->meta[i].key, *v = c->meta[i].value;
        if (!k || !v || !fcl_utf8_valid(k, strlen(k)) || !fcl_utf8_valid(v, strlen(v))) {
            st = FCL_ERR(err, FCL_ERR_INVALID_ARG, "%s: metadata entry %zu is not a UTF-8 string "
                         "pair", path, i);
            goto fail;
        }
        if (json_object_get(meta, k)) {
            fcl_st_quote(q, sizeof q, k);
            st = FCL_ERR(err, FCL_ERR_INVALID_ARG, "%s: the name \"%s\" appears twice", path, q);
            goto fail;
        }
        if (json_object_set_new(meta, k, json_string(v))) goto oom;
    }
    uint64_t off = 0;
    for (size_t i = 0; i < c->count; i++) {
        const fcl_st_tensor *t = &c->tensors[i];
        size_t numel, nbytes;
        int ok = t->name && fcl_utf8_valid(t->name, strlen(t->name)) && strcmp(t->name, "__metadata__") &&
                 fcl_st_dtype_name(t->dtype) && t->ndim >= 0 && t->ndim <= FCL_ST_MAX_DIMS &&
                 fcl_st_shape_bytes(t->dtype, t->ndim, t->shape, &numel, &nbytes) &&
                 nbytes == t->nbytes && (!nbytes || t->data);
        for (int d = 0; ok && d < t->ndim; d++) ok = t->shape[d] <= ST_MAX_INT; /* what a reader takes */
        fcl_st_quote(q, sizeof q, t->name ? t->name : "(null)");
        if (!ok) {
            st = FCL_ERR(err, FCL_ERR_INVALID_ARG, "%s: tensor \"%s\" is inconsistent (name, dtype, "
                         "shape, size or data)", path, q);
            goto fail;
        }
        if (json_object_get(root, t->name)) {
            st = FCL_ERR(err, FCL_ERR_INVALID_ARG, "%s: the name \"%s\" appears twice", path, q);
            goto fail;
        }
        json_t *shape = json_array(), *info = NULL;
        int bad = !shape;
        for (int d = 0; !bad && d < t->ndim; d++)
            bad = json_array_append_new(shape, json_integer((json_int_t)t->shape[d]));
        if (!bad)
            info = json_pack("{s:s, s:O, s:[I, I]}", "dtype", fcl_st_dtype_name(t->dtype), "shape", shape,
                             "data_offsets", (json_int_t)off, (json_int_t)(off + t->nbytes));
        json_decref(shape);
        if (!info || json_object_set_new(root, t->name, info)) goto oom;
        off += t->nbytes;
    }
    char *s = json_dumps(root, JSON_COMPACT);
    size_t n = s ? strlen(s) : 0, padded = (n + 7) / 8 * 8;
    if (!s || !(*out = realloc(s, padded + 1))) {
        free(s);
        goto oom;
    }
    memset(*out + n, ' ', padded - n);
    (*out)[padded] = '\0';
    *len = padded;
    goto fail;
oom:
    st = FCL_ERR(err, FCL_ERR_NOMEM, "%s: out of memory building the header", path);
fail:
    json_decref(meta);
    json_decref(root);
    return st;
}

fcl_status fcl_st_save(const fcl_checkpoint *c, const char *path, fcl_error *err)
{
    fcl_status st;
    char *hdr = NULL;
    size_t hlen = 0;
    fcl_atomic_file af = {0};
    if ((st = build_header(c, path, &hdr, &hlen, err)))
        goto fail;
    if ((st = fcl_atomic_open(&af, path, err))) goto fail;
    unsigned char len[8];
    for (int i = 0; i < 8; i++) len[i] = (unsigned char)((uint64_t)hlen >> (8 * i));
    if ((st = fcl_atomic_write(&af, len, 8, err)) || (st = fcl_atomic_write(&af, hdr, hlen, err))) goto fail;
    for (size_t i = 0; i < c->count; i++)
        if ((st = fcl_atomic_write(&af, c->tensors[i].data, c->tensors[i].nbytes, err))) goto fail;
    st = fcl_atomic_commit(&af, err); /* the rename is made durable too (folder fsync) */
fail:
    fcl_atomic_abort(&af);
    free(hdr);
    return st;
}
