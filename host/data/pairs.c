/* host/data/pairs.c: verification pair lists: plain `path1 path2 [label]` lines and LFW pairs.txt. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <facecl/dataset.h>

#include "io/textbuf.h"

#define MAX_TOKENS 5
/* LFW image numbers are 1-based and small (at most a few hundred per person). */
#define LFW_MAX_INDEX 99999
/* Header sanity: more than this many pairs in an LFW list is not a pair list. */
#define LFW_MAX_PAIRS 100000000L

typedef struct token {
    const char *s;
    size_t len;
} token;

/* Splits [s, s+len) at spaces and tabs into at most MAX_TOKENS tokens; returns the total
 * count (which may exceed MAX_TOKENS; only the first MAX_TOKENS are stored). */
static int tokenize(const char *s, size_t len, token *t)
{
    int n = 0;
    size_t i = 0;
    while (i < len) {
        while (i < len && (s[i] == ' ' || s[i] == '\t')) i++;
        if (i >= len) break;
        size_t b = i;
        while (i < len && s[i] != ' ' && s[i] != '\t') i++;
        if (n < MAX_TOKENS) {
            t[n].s = s + b;
            t[n].len = i - b;
        }
        n++;
    }
    return n;
}

static int tok_is(const token *t, const char *lit)
{
    return t->len == strlen(lit) && !memcmp(t->s, lit, t->len);
}

/* Strict positive decimal integer (no sign, no leading junk), at most `max`; -1 if not. */
static long tok_uint(const token *t, long max)
{
    if (t->len == 0 || t->len > 12) return -1;
    long v = 0;
    for (size_t i = 0; i < t->len; i++) {
        if (t->s[i] < '0' || t->s[i] > '9') return -1;
        v = v * 10 + (t->s[i] - '0');
    }
    return v <= max ? v : -1;
}

/* root joined with a relative path; absolute paths and a NULL/empty root keep the path. */
static char *make_path(const char *root, const char *p, size_t len)
{
    char *s = NULL;
    int absolute = len > 0 && p[0] == '/';
    if (!root || !root[0] || absolute) {
        s = malloc(len + 1);
        if (!s) return NULL;
        memcpy(s, p, len);
        s[len] = '\0';
        return s;
    }
    size_t rl = strlen(root);
    int slash = root[rl - 1] != '/';
    s = malloc(rl + (size_t)slash + len + 1);
    if (!s) return NULL;
    memcpy(s, root, rl);
    if (slash) s[rl] = '/';
    memcpy(s + rl + (size_t)slash, p, len);
    s[rl + (size_t)slash + len] = '\0';
    return s;
}

/* root/name/name_%04d.jpg */
static char *lfw_path(const char *root, const token *name, long idx)
{
    char *rel = NULL, *s = NULL;
    int n = (int)name->len;
    if (asprintf(&rel, "%.*s/%.*s_%04ld.jpg", n, name->s, n, name->s, idx) < 0) return NULL;
    s = make_path(root, rel, strlen(rel));
    free(rel);
    return s;
}

/* A person name in an LFW list is a folder name: no '/', not "." or "..". */
static int lfw_name_ok(const token *t)
{
    if (t->len == 0 || t->s[0] == '.') return 0;
    return memchr(t->s, '/', t->len) == NULL;
}

static fcl_status push_pair(fcl_pair_list *pl, size_t *cap, char *p1, char *p2, int label, int fold,
                            int line, const char *name, fcl_error *err)
{
    if (!p1 || !p2) {
        free(p1);
        free(p2);
        return FCL_ERR(err, FCL_ERR_NOMEM, "%s:%d: out of memory", name, line);
    }
    if (pl->n == *cap) {
        size_t c = *cap ? *cap * 2 : 256;
        fcl_pair *p = realloc(pl->pairs, c * sizeof *p);
        if (!p) {
            free(p1);
            free(p2);
            return FCL_ERR(err, FCL_ERR_NOMEM, "%s:%d: out of memory for %zu pairs", name, line, c);
        }
        pl->pairs = p;
        *cap = c;
    }
    fcl_pair *q = &pl->pairs[pl->n++];
    q->path1 = p1;
    q->path2 = p2;
    q->label = label;
    q->fold = fold;
    q->line = line;
    return FCL_OK;
}

static fcl_status check_file(const char *path, const char *name, int line, fcl_error *err)
{
    struct stat sb;
    if (stat(path, &sb) != 0)
        return FCL_ERR(err, FCL_ERR_IO, "%s:%d: pair names a missing file %s (%s)", name, line, path,
                       strerror(errno));
    if (!S_ISREG(sb.st_mode))
        return FCL_ERR(err, FCL_ERR_IO, "%s:%d: pair names %s, which is not a regular file", name,
                       line, path);
    return FCL_OK;
}

void fcl_pairs_free(fcl_pair_list *pl)
{
    if (!pl) return;
    for (size_t i = 0; i < pl->n; i++) {
        free(pl->pairs[i].path1);
        free(pl->pairs[i].path2);
    }
    free(pl->pairs);
    free(pl->source);
    memset(pl, 0, sizeof *pl);
}

/* Parser state for the LFW layout: which fold, and how far into its same / different halves. */
typedef struct lfw_state {
    long folds, per_half;      /* from the header */
    int have_header;
    int header_line;
    long fold, in_fold;        /* position of the next expected pair */
} lfw_state;

fcl_status fcl_pairs_parse(const char *text, size_t len, const char *name, const char *root,
                           fcl_pairs_format format, unsigned flags, fcl_pair_list *out,
                           fcl_error *err)
{
    fcl_status st = FCL_OK;
    size_t cap = 0;
    lfw_state lfw = {0};
    int plain_form = 0, plain_form_line = 0; /* 2 or 3 fields, fixed by the first pair line */
    int line = 0;
    if (!out) return FCL_ERR(err, FCL_ERR_INVALID_ARG, "fcl_pairs_parse: NULL output");
    memset(out, 0, sizeof *out);
    if (!name) name = "(pairs)";
    if (!text && len) return FCL_ERR(err, FCL_ERR_INVALID_ARG, "%s: NULL text", name);
    if (format != FCL_PAIRS_PLAIN && format != FCL_PAIRS_LFW)
        return FCL_ERR(err, FCL_ERR_INVALID_ARG, "%s: unknown pair-list format %d", name, (int)format);
    if (!(out->source = strdup(name))) return FCL_ERR(err, FCL_ERR_NOMEM, "%s: out of memory", name);
    out->labelled = 1;

    size_t pos = 0;
    if (len >= 3 && !memcmp(text, "\xef\xbb\xbf", 3)) pos = 3; /* a UTF-8 byte-order mark (Windows editors) */
    while (pos < len) {
        const char *s = text + pos;
        const char *nl = memchr(s, '\n', len - pos);
        size_t ll = nl ? (size_t)(nl - s) : len - pos;
        pos += ll + (nl ? 1 : 0);
        line++;
        if (line == 0x7fffffff) {
            st = FCL_ERR(err, FCL_ERR_FORMAT, "%s: too many lines", name);
            goto fail;
        }
        if (memchr(s, '\0', ll)) {
            st = FCL_ERR(err, FCL_ERR_FORMAT, "%s:%d: NUL byte (binary file, not a pair list)", name, line);
            goto fail;
        }
        if (ll > 0 && s[ll - 1] == '\r') ll--;
        token t[MAX_TOKENS];
        int nt = tokenize(s, ll, t);
        if (nt == 0) continue;

        if (format == FCL_PAIRS_PLAIN) {
            if (t[0].s[0] == '#') continue;
            if (line == 1 && (nt == 1 || nt == 2) && tok_uint(&t[0], LFW_MAX_PAIRS) >= 0 &&
                (nt == 1 || tok_uint(&t[1], LFW_MAX_PAIRS) >= 0)) {
                st = FCL_ERR(err, FCL_ERR_FORMAT,
                             "%s:%d: '%.*s' looks like an LFW pairs.txt header, not a `path1 path2 "
                             "[label]` line (read it as LFW, e.g. --lfw)", name, line, (int)ll, s);
                goto fail;
            }
            if (nt != 2 && nt != 3) {
                st = FCL_ERR(err, FCL_ERR_FORMAT,
                             "%s:%d: expected `path1 path2 label` or `path1 path2`, got %d field%s",
                             name, line, nt, nt == 1 ? "" : "s");
                goto fail;
            }
            if (plain_form == 0) {
                plain_form = nt;
                plain_form_line = line;
            } else if (nt != plain_form) {
                st = FCL_ERR(err, FCL_ERR_FORMAT,
                             "%s:%d: %s a label but line %d %s; all pairs must be labelled or none",
                             name, line, nt == 3 ? "has" : "lacks", plain_form_line,
                             plain_form == 3 ? "has one" : "does not");
                goto fail;
            }
            int label = -1;
            if (nt == 3) {
                if (tok_is(&t[2], "1")) label = 1;
                else if (tok_is(&t[2], "0")) label = 0;
                else {
                    st = FCL_ERR(err, FCL_ERR_FORMAT,
                                 "%s:%d: label '%.*s' is not 0 (different) or 1 (same person)", name,
                                 line, (int)t[2].len, t[2].s);
                    goto fail;
                }
            }
            if ((st = push_pair(out, &cap, make_path(root, t[0].s, t[0].len),
                                make_path(root, t[1].s, t[1].len), label, -1, line, name, err)))
                goto fail;
            if (label < 0) out->labelled = 0;
        } else if (!lfw.have_header) {
            long a = nt >= 1 ? tok_uint(&t[0], LFW_MAX_PAIRS) : -1;
            long b = nt == 2 ? tok_uint(&t[1], LFW_MAX_PAIRS) : -1;
            if ((nt != 1 && nt != 2) || a <= 0 || (nt == 2 && b <= 0)) {
                st = FCL_ERR(err, FCL_ERR_FORMAT,
                             "%s:%d: expected the LFW header `folds pairs_per_half` (e.g. \"10 300\") "
                             "or `pairs_per_half` (e.g. \"1100\"), got '%.*s'", name, line, (int)ll, s);
                goto fail;
            }
            lfw.folds = nt == 2 ? a : 1;
            lfw.per_half = nt == 2 ? b : a;
            if (lfw.folds > 0x7fffffffL || lfw.per_half > LFW_MAX_PAIRS / 2 / lfw.folds) {
                st = FCL_ERR(err, FCL_ERR_FORMAT, "%s:%d: header announces %ld folds x %ld x 2 pairs, "
                             "more than %ld", name, line, lfw.folds, lfw.per_half, LFW_MAX_PAIRS);
                goto fail;
            }
            lfw.have_header = 1;
            lfw.header_line = line;
            out->n_folds = (int)lfw.folds;
        } else {
            if (lfw.fold >= lfw.folds) {
                st = FCL_ERR(err, FCL_ERR_FORMAT,
                             "%s:%d: extra line after the %ld fold%s x %ld pairs the header (line %d) "
                             "announced", name, line, lfw.folds, lfw.folds == 1 ? "" : "s",
                             2 * lfw.per_half, lfw.header_line);
                goto fail;
            }
            const int same = lfw.in_fold < lfw.per_half;
            const long k = (same ? lfw.in_fold : lfw.in_fold - lfw.per_half) + 1;
            const char *what = same ? "same-person line `name i j`" : "different-person line `name1 i name2 j`";
            if (nt != (same ? 3 : 4)) {
                st = FCL_ERR(err, FCL_ERR_FORMAT,
                             "%s:%d: expected a %s (pair %ld of %ld in fold %ld), got %d field%s", name,
                             line, what, k, lfw.per_half, lfw.fold + 1, nt, nt == 1 ? "" : "s");
                goto fail;
            }
            const token *n1 = &t[0], *n2 = same ? &t[0] : &t[2];
            const token *i1 = &t[1], *i2 = same ? &t[2] : &t[3];
            long v1 = tok_uint(i1, LFW_MAX_INDEX), v2 = tok_uint(i2, LFW_MAX_INDEX);
            if (!lfw_name_ok(n1) || !lfw_name_ok(n2)) {
                const token *bad = lfw_name_ok(n1) ? n2 : n1;
                st = FCL_ERR(err, FCL_ERR_FORMAT, "%s:%d: '%.*s' is not a person name (a folder name: "
                             "no '/', no leading '.')", name, line, (int)bad->len, bad->s);
                goto fail;
            }
            if (v1 <= 0 || v2 <= 0) {
                const token *bad = v1 <= 0 ? i1 : i2;
                st = FCL_ERR(err, FCL_ERR_FORMAT, "%s:%d: image number '%.*s' is not an integer in "
                             "1..%d", name, line, (int)bad->len, bad->s, LFW_MAX_INDEX);
                goto fail;
            }
            if ((st = push_pair(out, &cap, lfw_path(root, n1, v1), lfw_path(root, n2, v2), same ? 1 : 0,
                                (int)lfw.fold, line, name, err)))
                goto fail;
            if (++lfw.in_fold == 2 * lfw.per_half) {
                lfw.in_fold = 0;
                lfw.fold++;
            }
        }
        if ((flags & FCL_PAIRS_CHECK_FILES) && out->n > 0 && out->pairs[out->n - 1].line == line) {
            const fcl_pair *p = &out->pairs[out->n - 1];
            if ((st = check_file(p->path1, name, line, err)) || (st = check_file(p->path2, name, line, err)))
                goto fail;
        }
    }
    if (format == FCL_PAIRS_LFW) {
        if (!lfw.have_header) {
            st = FCL_ERR(err, FCL_ERR_FORMAT, "%s: empty LFW pair list (no header line)", name);
            goto fail;
        }
        if (lfw.fold < lfw.folds) {
            st = FCL_ERR(err, FCL_ERR_FORMAT,
                         "%s: ends after %zu pairs, but the header (line %d) announced %ld fold%s x %ld",
                         name, out->n, lfw.header_line, lfw.folds, lfw.folds == 1 ? "" : "s",
                         2 * lfw.per_half);
            goto fail;
        }
    } else if (out->n == 0) {
        st = FCL_ERR(err, FCL_ERR_FORMAT, "%s: no pairs (empty pair list)", name);
        goto fail;
    }
fail:
    if (st) fcl_pairs_free(out);
    return st;
}

fcl_status fcl_pairs_load(const char *path, const char *root, fcl_pairs_format format,
                          unsigned flags, fcl_pair_list *out, fcl_error *err)
{
    fcl_status st = FCL_OK;
    char *text = NULL;
    size_t len = 0;
    FILE *f = NULL;
    if (out) memset(out, 0, sizeof *out);
    if (!path || !out) return FCL_ERR(err, FCL_ERR_INVALID_ARG, "fcl_pairs_load: NULL argument");
    f = fopen(path, "rb");
    if (!f) {
        st = FCL_ERR(err, FCL_ERR_IO, "%s: cannot open pair list: %s", path, strerror(errno));
        goto fail;
    }
    int e = fcl_read_all(f, (size_t)1 << 31, &text, &len);
    if (e) {
        st = e == EFBIG ? FCL_ERR(err, FCL_ERR_FORMAT, "%s: pair list larger than 2 GiB", path)
           : e == ENOMEM ? FCL_ERR(err, FCL_ERR_NOMEM, "%s: out of memory reading the pair list", path)
                         : FCL_ERR(err, FCL_ERR_IO, "%s: read error", path);
        goto fail;
    }
    st = fcl_pairs_parse(text, len, path, root, format, flags, out, err);
fail:
    if (f) fclose(f);
    free(text);
    return st;
}
