/* host/io/json.c: a small strict JSON parser (RFC 8259 over UTF-8) producing a tree, for safetensors headers. */
#include "io/json.h"

#include <stdlib.h>
#include <string.h>

typedef struct parser {
    const unsigned char *s;
    size_t len, i;
    int depth, max_depth;
    fcl_error *err;
} parser;

static fcl_status syntax(parser *p, size_t at, const char *what)
{
    return FCL_ERR(p->err, FCL_ERR_FORMAT, "JSON syntax error at byte %zu: %s", at, what);
}

static fcl_status nomem(parser *p)
{
    return FCL_ERR(p->err, FCL_ERR_NOMEM, "out of memory while parsing JSON");
}

static void skip_ws(parser *p)
{
    while (p->i < p->len &&
           (p->s[p->i] == ' ' || p->s[p->i] == '\t' || p->s[p->i] == '\n' || p->s[p->i] == '\r'))
        p->i++;
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

static int hex4(const unsigned char *h, unsigned *out)
{
    unsigned v = 0;
    for (int k = 0; k < 4; k++) {
        unsigned c = h[k], d;
        if (c >= '0' && c <= '9') d = c - '0';
        else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F') d = c - 'A' + 10;
        else return 0;
        v = v * 16 + d;
    }
    *out = v;
    return 1;
}

static size_t put_utf8(char *o, unsigned cp)
{
    if (cp < 0x80) { o[0] = (char)cp; return 1; }
    if (cp < 0x800) {
        o[0] = (char)(0xc0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xe0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        o[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    o[0] = (char)(0xf0 | (cp >> 18));
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    o[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/* A string starting at the opening quote; decoded into a fresh NUL-terminated buffer. */
static fcl_status parse_string(parser *p, char **out, size_t *out_len)
{
    size_t start = p->i++;   /* the quote */
    size_t j = p->i;
    /* find the closing quote: decoding never grows the text, so its length bounds the buffer */
    while (j < p->len && p->s[j] != '"') {
        if (p->s[j] == '\\') j++;
        j++;
    }
    if (j >= p->len) return syntax(p, start, "unterminated string");
    char *buf = malloc(j - p->i + 1);
    if (!buf) return nomem(p);
    size_t n = 0;
    fcl_status st = FCL_OK;
    while (p->i < j) {
        unsigned c = p->s[p->i];
        if (c < 0x20) {
            st = syntax(p, p->i, "raw control character in a string (must be escaped)");
            goto fail;
        }
        if (c != '\\') {
            buf[n++] = (char)c;
            p->i++;
            continue;
        }
        size_t at = p->i;
        unsigned e = p->s[p->i + 1];   /* exists: the scan above skipped it */
        p->i += 2;
        switch (e) {
        case '"': buf[n++] = '"'; break;
        case '\\': buf[n++] = '\\'; break;
        case '/': buf[n++] = '/'; break;
        case 'b': buf[n++] = '\b'; break;
        case 'f': buf[n++] = '\f'; break;
        case 'n': buf[n++] = '\n'; break;
        case 'r': buf[n++] = '\r'; break;
        case 't': buf[n++] = '\t'; break;
        case 'u': {
            unsigned cp, lo;
            if (j - p->i < 4 || !hex4(p->s + p->i, &cp)) {
                st = syntax(p, at, "bad \\u escape (needs 4 hex digits)");
                goto fail;
            }
            p->i += 4;
            if (cp >= 0xdc00 && cp <= 0xdfff) {
                st = syntax(p, at, "lone low surrogate in a \\u escape");
                goto fail;
            }
            if (cp >= 0xd800 && cp <= 0xdbff) {
                if (j - p->i < 6 || p->s[p->i] != '\\' || p->s[p->i + 1] != 'u' ||
                    !hex4(p->s + p->i + 2, &lo) || lo < 0xdc00 || lo > 0xdfff) {
                    st = syntax(p, at, "high surrogate not followed by a low surrogate escape");
                    goto fail;
                }
                p->i += 6;
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
            }
            if (cp == 0) {
                st = syntax(p, at, "\\u0000 is not allowed in names and values");
                goto fail;
            }
            n += put_utf8(buf + n, cp);
            break;
        }
        default:
            st = syntax(p, at, "unknown escape sequence");
            goto fail;
        }
    }
    p->i = j + 1;
    buf[n] = '\0';
    *out = buf;
    *out_len = n;
    return FCL_OK;
fail:
    free(buf);
    return st;
}

static int is_digit(unsigned c) { return c >= '0' && c <= '9'; }

/* -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?, kept as text. */
static fcl_status parse_number(parser *p, fcl_json *v)
{
    size_t start = p->i;
    const unsigned char *s = p->s;
    if (p->i < p->len && s[p->i] == '-') p->i++;
    if (p->i >= p->len || !is_digit(s[p->i])) return syntax(p, start, "bad number");
    if (s[p->i] == '0') {
        p->i++;
        if (p->i < p->len && is_digit(s[p->i])) return syntax(p, start, "number with a leading zero");
    } else {
        while (p->i < p->len && is_digit(s[p->i])) p->i++;
    }
    if (p->i < p->len && s[p->i] == '.') {
        p->i++;
        if (p->i >= p->len || !is_digit(s[p->i])) return syntax(p, start, "bad fraction in a number");
        while (p->i < p->len && is_digit(s[p->i])) p->i++;
    }
    if (p->i < p->len && (s[p->i] == 'e' || s[p->i] == 'E')) {
        p->i++;
        if (p->i < p->len && (s[p->i] == '+' || s[p->i] == '-')) p->i++;
        if (p->i >= p->len || !is_digit(s[p->i])) return syntax(p, start, "bad exponent in a number");
        while (p->i < p->len && is_digit(s[p->i])) p->i++;
    }
    size_t n = p->i - start;
    v->str = malloc(n + 1);
    if (!v->str) return nomem(p);
    memcpy(v->str, s + start, n);
    v->str[n] = '\0';
    v->len = n;
    v->type = FCL_JSON_NUMBER;
    return FCL_OK;
}

static fcl_status parse_value(parser *p, fcl_json *v);

/* Appends a zeroed slot to items (and keys when keys_too). */
static fcl_status grow(parser *p, fcl_json *v, size_t *cap, int keys_too)
{
    if (v->n < *cap) return FCL_OK;
    size_t nc = *cap ? *cap * 2 : 4;
    fcl_json *items = realloc(v->items, nc * sizeof *items);
    if (!items) return nomem(p);
    v->items = items;
    if (keys_too) {
        char **keys = realloc(v->keys, nc * sizeof *keys);
        if (!keys) return nomem(p);
        v->keys = keys;
    }
    *cap = nc;
    return FCL_OK;
}

static int cmp_str_ptr(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Refuses repeated keys (sorting a copy of the key list: n log n for big headers). */
static fcl_status check_dup_keys(parser *p, const fcl_json *v)
{
    if (v->n < 2) return FCL_OK;
    char **sorted = malloc(v->n * sizeof *sorted);
    if (!sorted) return nomem(p);
    memcpy(sorted, v->keys, v->n * sizeof *sorted);
    qsort(sorted, v->n, sizeof *sorted, cmp_str_ptr);
    fcl_status st = FCL_OK;
    for (size_t k = 1; k < v->n; k++)
        if (!strcmp(sorted[k - 1], sorted[k])) {
            st = FCL_ERR(p->err, FCL_ERR_FORMAT, "JSON object at byte %zu repeats the key \"%.200s\"",
                         v->pos, sorted[k]);
            break;
        }
    free(sorted);
    return st;
}

static fcl_status parse_array(parser *p, fcl_json *v)
{
    size_t cap = 0;
    fcl_status st;
    v->type = FCL_JSON_ARRAY;
    p->i++;
    skip_ws(p);
    if (p->i < p->len && p->s[p->i] == ']') {
        p->i++;
        return FCL_OK;
    }
    for (;;) {
        if ((st = grow(p, v, &cap, 0))) return st;
        memset(&v->items[v->n], 0, sizeof v->items[0]);
        v->n++;
        if ((st = parse_value(p, &v->items[v->n - 1]))) return st;
        skip_ws(p);
        if (p->i >= p->len) return syntax(p, p->i, "unterminated array");
        if (p->s[p->i] == ']') {
            p->i++;
            return FCL_OK;
        }
        if (p->s[p->i] != ',') return syntax(p, p->i, "expected ',' or ']' in an array");
        p->i++;
    }
}

static fcl_status parse_object(parser *p, fcl_json *v)
{
    size_t cap = 0;
    fcl_status st;
    v->type = FCL_JSON_OBJECT;
    p->i++;
    skip_ws(p);
    if (p->i < p->len && p->s[p->i] == '}') {
        p->i++;
        return FCL_OK;
    }
    for (;;) {
        skip_ws(p);
        if (p->i >= p->len || p->s[p->i] != '"') return syntax(p, p->i, "expected a string key");
        if ((st = grow(p, v, &cap, 1))) return st;
        memset(&v->items[v->n], 0, sizeof v->items[0]);
        v->keys[v->n] = NULL;
        v->n++;
        size_t klen;
        if ((st = parse_string(p, &v->keys[v->n - 1], &klen))) return st;
        skip_ws(p);
        if (p->i >= p->len || p->s[p->i] != ':') return syntax(p, p->i, "expected ':' after a key");
        p->i++;
        if ((st = parse_value(p, &v->items[v->n - 1]))) return st;
        skip_ws(p);
        if (p->i >= p->len) return syntax(p, p->i, "unterminated object");
        if (p->s[p->i] == '}') {
            p->i++;
            return check_dup_keys(p, v);
        }
        if (p->s[p->i] != ',') return syntax(p, p->i, "expected ',' or '}' in an object");
        p->i++;
    }
}

static int literal(parser *p, const char *word)
{
    size_t n = strlen(word);
    if (p->len - p->i < n || memcmp(p->s + p->i, word, n)) return 0;
    p->i += n;
    return 1;
}

static fcl_status parse_value(parser *p, fcl_json *v)
{
    skip_ws(p);
    v->pos = p->i;
    if (p->i >= p->len) return syntax(p, p->i, "unexpected end of text, expected a value");
    unsigned c = p->s[p->i];
    fcl_status st;
    switch (c) {
    case '{':
    case '[':
        if (p->depth >= p->max_depth) return syntax(p, p->i, "nesting too deep");
        p->depth++;
        st = c == '{' ? parse_object(p, v) : parse_array(p, v);
        p->depth--;
        return st;
    case '"':
        v->type = FCL_JSON_STRING;
        return parse_string(p, &v->str, &v->len);
    case 't':
    case 'f':
        if (literal(p, "true") || literal(p, "false")) {
            v->type = FCL_JSON_BOOL;
            v->boolean = c == 't';
            return FCL_OK;
        }
        return syntax(p, p->i, "unknown literal");
    case 'n':
        if (literal(p, "null")) {
            v->type = FCL_JSON_NULL;
            return FCL_OK;
        }
        return syntax(p, p->i, "unknown literal");
    default:
        if (c == '-' || is_digit(c)) return parse_number(p, v);
        return syntax(p, p->i, "unexpected character, expected a value");
    }
}

fcl_status fcl_json_parse(const char *text, size_t len, int max_depth, fcl_json *out,
                          fcl_error *err)
{
    memset(out, 0, sizeof *out);
    parser p = {(const unsigned char *)text, len, 0, 0, max_depth, err};
    fcl_status st;
    if (!fcl_utf8_valid(text, len)) {
        st = FCL_ERR(err, FCL_ERR_FORMAT, "JSON text is not valid UTF-8");
        goto fail;
    }
    if ((st = parse_value(&p, out)))
        goto fail;
    skip_ws(&p);
    if (p.i != len) {
        st = syntax(&p, p.i, "trailing characters after the value");
        goto fail;
    }
    return FCL_OK;
fail:
    fcl_json_free(out);
    return st;
}

void fcl_json_free(fcl_json *v)
{
    if (!v) return;
    for (size_t k = 0; k < v->n; k++) {
        if (v->items) fcl_json_free(&v->items[k]);
        if (v->keys) free(v->keys[k]);
    }
    free(v->items);
    free(v->keys);
    free(v->str);
    memset(v, 0, sizeof *v);
}

const fcl_json *fcl_json_get(const fcl_json *obj, const char *key)
{
    if (!obj || obj->type != FCL_JSON_OBJECT) return NULL;
    for (size_t k = 0; k < obj->n; k++)
        if (!strcmp(obj->keys[k], key)) return &obj->items[k];
    return NULL;
}

int fcl_json_u64(const fcl_json *v, uint64_t *out)
{
    if (!v || v->type != FCL_JSON_NUMBER || v->len == 0) return 0;
    uint64_t x = 0;
    for (size_t k = 0; k < v->len; k++) {
        unsigned c = (unsigned char)v->str[k];
        if (!is_digit(c)) return 0;
        if (x > (UINT64_MAX - (c - '0')) / 10) return 0;
        x = x * 10 + (c - '0');
    }
    *out = x;
    return 1;
}
