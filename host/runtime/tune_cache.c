/* host/runtime/tune_cache.c: the per-device tuning cache file (format in facecl/tune_cache.h): read, check, write atomically, apply. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "facecl/facecl.h"
#include "facecl/gemm.h"
#include "facecl/tune_cache.h"
#include "facecl/tuning.h"
#include "io/atomic.h"
#include "runtime/internal.h"

#define LINE_MAX_LEN 4096

/* Copies src into dst[size] with spaces, tabs and line breaks turned into '_' (one-line key). */
static void one_line(char *dst, size_t size, const char *src)
{
    size_t i = 0;
    for (; src[i] && i + 1 < size; i++) dst[i] = (src[i] == ' ' || src[i] == '\t' || src[i] == '\n' || src[i] == '\r') ? '_' : src[i];
    dst[i] = '\0';
}

void fcl_tune_cache_key(const fcl_ctx *ctx, char *buf, size_t size)
{
    char parts[5][260];
    const char *src[5] = {ctx->dev.platform, ctx->dev.platform_version, ctx->dev.name, ctx->dev.driver,
                          ctx->dev.device_version};
    for (int i = 0; i < 5; i++) one_line(parts[i], sizeof parts[i], src[i]);
    snprintf(buf, size, "facecl=%s|platform=%s|platform_version=%s|device=%s|driver=%s|device_version=%s",
             FACECL_VERSION_STRING, parts[0], parts[1], parts[2], parts[3], parts[4]);
}

void fcl_tune_cache_path(const fcl_ctx *ctx, char *buf, size_t size)
{
    char key[64];
    if (!ctx->cache_dir[0]) {
        if (size) buf[0] = '\0';
        return;
    }
    fcl_device_key(&ctx->dev, key, sizeof key);
    snprintf(buf, size, "%s/tune-%s.txt", ctx->cache_dir, key);
}

void fcl_tune_cache_init(fcl_tune_cache *c, const char *key)
{
    memset(c, 0, sizeof *c);
    snprintf(c->key, sizeof c->key, "%s", key ? key : "");
}

void fcl_tune_cache_free(fcl_tune_cache *c)
{
    if (!c) return;
    free(c->sets);
    free(c->meas);
    memset(c, 0, sizeof *c);
}

/* Non-empty, shorter than max, no white space (and no '=' unless eq_ok): one field of a line. */
static int is_word(const char *s, size_t max, int eq_ok)
{
    size_t n = strlen(s);
    if (!n || n >= max) return 0;
    for (; *s; s++)
        if (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r' || (*s == '=' && !eq_ok)) return 0;
    return 1;
}

/* Writes the elem-byte item over *old when there is one (a set or measurement with the same key),
 * else appends it to the growing array (*arr, *n elements, *cap allocated). */
static fcl_status upsert(void **arr, size_t *cap, size_t *n, void *old, const void *item, size_t elem,
                         fcl_error *err)
{
    if (!old) {
        if (*n == *cap) {
            size_t want = *cap ? 2 * *cap : 16;
            void *p = realloc(*arr, want * elem);
            if (!p) return FCL_ERR(err, FCL_ERR_NOMEM, "tuning cache: out of host memory");
            *arr = p;
            *cap = want;
        }
        old = (char *)*arr + (*n)++ * elem;
    }
    memcpy(old, item, elem);
    return FCL_OK;
}

const fcl_tune_set *fcl_tune_cache_get(const fcl_tune_cache *c, fcl_tune_kind kind, const char *target)
{
    for (size_t i = 0; i < c->n_sets; i++)
        if (c->sets[i].kind == kind && !strcmp(c->sets[i].target, target)) return &c->sets[i];
    return NULL;
}

void fcl_tune_cache_drop(fcl_tune_cache *c, fcl_tune_kind kind, const char *target)
{
    const fcl_tune_set *s = fcl_tune_cache_get(c, kind, target);
    if (!s) return;
    size_t i = (size_t)(s - c->sets);
    memmove(&c->sets[i], &c->sets[i + 1], (c->n_sets - i - 1) * sizeof c->sets[0]);
    c->n_sets--;
}

fcl_status fcl_tune_cache_put(fcl_tune_cache *c, fcl_tune_kind kind, const char *target, int n,
                              const char *const *names, const long *values, fcl_error *err)
{
    fcl_tune_set s = {0};
    if (!is_word(target, sizeof s.target, 0) || n < 1 || n > FCL_TUNE_MAX_PARAMS)
        return FCL_ERR(err, FCL_ERR_INVALID_ARG, "tuning cache: bad set '%s' (%d parameters, at most %d)", target, n,
                       FCL_TUNE_MAX_PARAMS);
    s.kind = kind;
    snprintf(s.target, sizeof s.target, "%s", target);
    s.n = n;
    for (int i = 0; i < n; i++) {
        if (!is_word(names[i], sizeof s.names[i], 0) || values[i] < 0)
            return FCL_ERR(err, FCL_ERR_INVALID_ARG, "tuning cache: %s: bad parameter '%s'=%ld", target, names[i],
                           values[i]);
        snprintf(s.names[i], sizeof s.names[i], "%s", names[i]);
        s.values[i] = values[i];
    }
    void *old = (void *)fcl_tune_cache_get(c, kind, target);
    return upsert((void **)&c->sets, &c->cap_sets, &c->n_sets, old, &s, sizeof s, err);
}

const fcl_tune_meas *fcl_tune_cache_find(const fcl_tune_cache *c, const char *task, const char *cand)
{
    for (size_t i = 0; i < c->n_meas; i++)
        if (!strcmp(c->meas[i].task, task) && !strcmp(c->meas[i].cand, cand)) return &c->meas[i];
    return NULL;
}

fcl_status fcl_tune_cache_measured(fcl_tune_cache *c, const char *task, const char *cand, double ms,
                                   fcl_error *err)
{
    fcl_tune_meas m = {{0}, {0}, ms < 0 ? -1.0 : ms};
    if (!is_word(task, sizeof m.task, 1) || !is_word(cand, sizeof m.cand, 1) || ms != ms)
        return FCL_ERR(err, FCL_ERR_INVALID_ARG, "tuning cache: bad measurement '%s' '%s'", task, cand);
    snprintf(m.task, sizeof m.task, "%s", task);
    snprintf(m.cand, sizeof m.cand, "%s", cand);
    void *old = (void *)fcl_tune_cache_find(c, task, cand);
    return upsert((void **)&c->meas, &c->cap_meas, &c->n_meas, old, &m, sizeof m, err);
}

/* ---- the text form ------------------------------------------------------------------------ */

/* Appends to a growing text buffer; -1 out of memory. */
typedef struct text_buf {
    char *p;
    size_t n, cap;
} text_buf;

static int tb_printf(text_buf *t, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
static int tb_printf(text_buf *t, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int w = vsnprintf(t->p ? t->p + t->n : NULL, t->p ? t->cap - t->n : 0, fmt, ap);
        va_end(ap);
        if (w < 0) return -1;
        if (t->p && t->n + (size_t)w < t->cap) {
            t->n += (size_t)w;
            return 0;
        }
        size_t cap = t->cap ? 2 * t->cap : 4096;
        while (cap < t->n + (size_t)w + 1) cap *= 2;
        char *p = realloc(t->p, cap);
        if (!p) return -1;
        t->p = p;
        t->cap = cap;
    }
}

static const char *kind_name(fcl_tune_kind k) { return k == FCL_TUNE_CLBLAST ? "clblast" : "kernel"; }

fcl_status fcl_tune_cache_write(const char *path, const fcl_tune_cache *c, fcl_error *err)
{
    text_buf t = {0};
    int bad = tb_printf(&t, "facecl-tune 1\nkey %s\n", c->key);
    for (size_t i = 0; i < c->n_sets && !bad; i++) {
        const fcl_tune_set *s = &c->sets[i];
        bad = tb_printf(&t, "set %s %s", kind_name(s->kind), s->target);
        for (int j = 0; j < s->n && !bad; j++) bad = tb_printf(&t, " %s=%ld", s->names[j], s->values[j]);
        if (!bad) bad = tb_printf(&t, "\n");
    }
    for (size_t i = 0; i < c->n_meas && !bad; i++)
        bad = tb_printf(&t, "meas %s %s %.6g\n", c->meas[i].task, c->meas[i].cand, c->meas[i].ms);
    if (!bad) bad = tb_printf(&t, "sum %016llx\n", (unsigned long long)fcl_hash64(t.p, t.n, 0));
    if (bad) {
        free(t.p);
        return FCL_ERR(err, FCL_ERR_NOMEM, "tuning cache %s: out of host memory", path);
    }
    fcl_status st = fcl_write_text_atomic(path, t.p, err);
    free(t.p);
    return st;
}

/* Parses "set KIND TARGET NAME=V ..." (the text after "set "). */
static fcl_status parse_set(fcl_tune_cache *c, char *rest, const char *path, int lineno, fcl_error *err)
{
    char *save = NULL, *kind = strtok_r(rest, " ", &save), *target = strtok_r(NULL, " ", &save);
    const char *names[FCL_TUNE_MAX_PARAMS];
    long values[FCL_TUNE_MAX_PARAMS];
    int n = 0;
    fcl_tune_kind k;
    if (!kind || !target || (strcmp(kind, "clblast") && strcmp(kind, "kernel")))
        return FCL_ERR(err, FCL_ERR_FORMAT, "%s:%d: expected 'set clblast|kernel TARGET NAME=VALUE ...'", path, lineno);
    k = strcmp(kind, "clblast") ? FCL_TUNE_KERNEL : FCL_TUNE_CLBLAST;
    if (fcl_tune_cache_get(c, k, target))
        return FCL_ERR(err, FCL_ERR_FORMAT, "%s:%d: a second set for %s", path, lineno, target);
    for (char *tok = strtok_r(NULL, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
        char *eq = strchr(tok, '='), *end = NULL;
        if (!eq || eq == tok || n == FCL_TUNE_MAX_PARAMS || eq[1] < '0' || eq[1] > '9')
            return FCL_ERR(err, FCL_ERR_FORMAT, "%s:%d: expected NAME=VALUE (a non-negative integer), got '%s'", path,
                           lineno, tok);
        *eq = '\0';
        errno = 0;
        long v = strtol(eq + 1, &end, 10);
        if (*end || errno)
            return FCL_ERR(err, FCL_ERR_FORMAT, "%s:%d: value of %s is not an integer", path, lineno, tok);
        names[n] = tok;
        values[n++] = v;
    }
    fcl_error inner = {0};
    if (fcl_tune_cache_put(c, k, target, n, names, values, &inner))
        return FCL_ERR(err, FCL_ERR_FORMAT, "%s:%d: %s", path, lineno, inner.msg);
    return FCL_OK;
}

static fcl_status parse_meas(fcl_tune_cache *c, char *rest, const char *path, int lineno, fcl_error *err)
{
    char *save = NULL, *task = strtok_r(rest, " ", &save), *cand = strtok_r(NULL, " ", &save);
    char *ms = strtok_r(NULL, " ", &save), *end = NULL;
    double v = ms ? strtod(ms, &end) : 0.0;
    fcl_error inner = {0};
    if (!task || !cand || !ms || *end || strtok_r(NULL, " ", &save) || v != v)
        return FCL_ERR(err, FCL_ERR_FORMAT, "%s:%d: expected 'meas TASK CANDIDATE MS'", path, lineno);
    if (fcl_tune_cache_measured(c, task, cand, v, &inner))
        return FCL_ERR(err, FCL_ERR_FORMAT, "%s:%d: %s", path, lineno, inner.msg);
    return FCL_OK;
}

/* Reads the whole file (at most 16 MiB: a cache is a few KiB). */
static fcl_status slurp(const char *path, char **out, size_t *len, fcl_error *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) return FCL_ERR(err, FCL_ERR_IO, "tuning cache %s: %s", path, strerror(errno));
    size_t cap = 1 << 16, n = 0;
    char *p = malloc(cap + 1);
    fcl_status st = FCL_OK;
    while (p) {
        size_t got = fread(p + n, 1, cap - n, f);
        n += got;
        if (n < cap) break;
        if (cap >= (16u << 20)) { st = FCL_ERR(err, FCL_ERR_FORMAT, "tuning cache %s: larger than 16 MiB", path); break; }
        char *q = realloc(p, 2 * cap + 1);
        if (!q) { free(p); p = NULL; break; }
        p = q;
        cap *= 2;
    }
    if (!st && !p) st = FCL_ERR(err, FCL_ERR_NOMEM, "tuning cache %s: out of host memory", path);
    if (!st && ferror(f)) st = FCL_ERR(err, FCL_ERR_IO, "tuning cache %s: read error", path);
    fclose(f);
    if (st) {
        free(p);
        return st;
    }
    p[n] = '\0';
    *out = p;
    *len = n;
    return FCL_OK;
}

fcl_status fcl_tune_cache_read(const char *path, const char *key, fcl_tune_cache *c, fcl_error *err)
{
    char *text = NULL;
    size_t len = 0;
    fcl_status st;
    fcl_tune_cache_init(c, key);
    if ((st = slurp(path, &text, &len, err))) return st;
    /* the checksum line is the last one: "sum <16 hex>\n" over every byte before it */
    const size_t sum_len = 4 + 16 + 1;
    char *sum = len >= sum_len ? text + len - sum_len : NULL;
    char *end = NULL;
    unsigned long long want = sum ? strtoull(sum + 4, &end, 16) : 0;
    if (!sum || (sum != text && sum[-1] != '\n') || strncmp(sum, "sum ", 4) || end != text + len - 1 || *end != '\n') {
        st = FCL_ERR(err, FCL_ERR_FORMAT, "tuning cache %s: no checksum line at the end (truncated?)", path);
        goto fail;
    }
    if (want != (unsigned long long)fcl_hash64(text, (size_t)(sum - text), 0)) {
        st = FCL_ERR(err, FCL_ERR_FORMAT, "tuning cache %s: checksum mismatch (the file was changed or damaged)", path);
        goto fail;
    }
    *sum = '\0';
    int lineno = 0;
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        lineno++;
        if (strlen(line) >= LINE_MAX_LEN) {
            st = FCL_ERR(err, FCL_ERR_FORMAT, "%s:%d: line too long", path, lineno);
            goto fail;
        }
        if (lineno == 1) {
            if (strcmp(line, "facecl-tune 1")) {
                st = FCL_ERR(err, FCL_ERR_FORMAT, "%s:1: not a facecl tuning cache (version 1)", path);
                goto fail;
            }
        } else if (lineno == 2) {
            if (strncmp(line, "key ", 4) || strcmp(line + 4, key)) {
                st = FCL_ERR(err, FCL_ERR_FORMAT, "%s:2: made for another device, driver or facecl version "
                             "(stale: re-run `facecl tune`)", path);
                goto fail;
            }
        } else if (!strncmp(line, "set ", 4)) {
            if ((st = parse_set(c, line + 4, path, lineno, err))) goto fail;
        } else if (!strncmp(line, "meas ", 5)) {
            if ((st = parse_meas(c, line + 5, path, lineno, err))) goto fail;
        } else {
            st = FCL_ERR(err, FCL_ERR_FORMAT, "%s:%d: unknown record '%.40s'", path, lineno, line);
            goto fail;
        }
    }
    if (lineno < 2) st = FCL_ERR(err, FCL_ERR_FORMAT, "tuning cache %s: no key line", path);
fail:
    free(text);
    if (st) {
        fcl_tune_cache_free(c);
        fcl_tune_cache_init(c, key);
    }
    return st;
}

/* ---- checking and applying ----------------------------------------------------------------- */

/* A kernel family's set as the family's full value array (table order): every parameter of the
 * family exactly once, nothing else. */
static fcl_status family_values(fcl_ctx *ctx, const fcl_tune_set *s, int *f_out, int *values, int *count)
{
    int f = fcl_tune_family_find(s->target);
    fcl_tune_id first;
    int n = f < 0 ? 0 : fcl_tune_family_params((fcl_tune_family)f, &first);
    if (n <= 0 || n > FCL_TUNE_MAX_PARAMS)
        return FCL_ERR(&ctx->err, FCL_ERR_INVALID_ARG, "tuning cache: '%s' is not a kernel family", s->target);
    if (s->n != n)
        return FCL_ERR(&ctx->err, FCL_ERR_INVALID_ARG, "tuning cache: %s: %d values, the family has %d parameters",
                       s->target, s->n, n);
    for (int j = 0; j < n; j++) {
        int found = 0;
        for (int i = 0; i < s->n; i++)
            if (!strcmp(s->names[i], fcl_tune_param_info((fcl_tune_id)(first + j))->name)) {
                found++;
                values[j] = s->values[i] > 0x7fffffffL ? -1 : (int)s->values[i];
            }
        if (found != 1)
            return FCL_ERR(&ctx->err, FCL_ERR_INVALID_ARG, "tuning cache: %s: parameter %s %s", s->target,
                           fcl_tune_param_info((fcl_tune_id)(first + j))->name, found ? "given twice" : "missing");
    }
    *f_out = f;
    *count = n;
    return fcl_tune_check((fcl_tune_family)f, values, n, &ctx->err);
}

static fcl_status check_or_apply(fcl_ctx *ctx, const fcl_tune_cache *c, int apply)
{
    for (size_t i = 0; i < c->n_sets; i++) {
        const fcl_tune_set *s = &c->sets[i];
        fcl_status st;
        if (s->kind == FCL_TUNE_KERNEL) {
            int f = 0, n = 0, values[FCL_TUNE_MAX_PARAMS];
            st = family_values(ctx, s, &f, values, &n);
            if (!st && apply) st = fcl_ctx_tuning_set_family(ctx, (fcl_tune_family)f, values, n);
        } else {
            const char *names[FCL_TUNE_MAX_PARAMS];
            size_t values[FCL_TUNE_MAX_PARAMS];
            for (int j = 0; j < s->n; j++) {
                names[j] = s->names[j];
                values[j] = (size_t)s->values[j];
            }
            st = apply ? fcl_gemm_override(ctx, s->target, (size_t)s->n, names, values)
                       : fcl_gemm_check_override(ctx, s->target, (size_t)s->n, names, values);
        }
        if (st) return st;
    }
    return FCL_OK;
}

fcl_status fcl_tune_cache_check(fcl_ctx *ctx, const fcl_tune_cache *c) { return check_or_apply(ctx, c, 0); }

fcl_status fcl_tune_cache_apply(fcl_ctx *ctx, const fcl_tune_cache *c)
{
    fcl_status st = check_or_apply(ctx, c, 0);
    return st ? st : check_or_apply(ctx, c, 1);
}

/* Adds a sentence to the context's creation warning (tools print it once). */
static void add_warning(fcl_ctx *ctx, const char *msg)
{
    size_t n = strlen(ctx->warning);
    snprintf(ctx->warning + n, sizeof ctx->warning - n, "%s%s", n ? "; " : "", msg);
}

void fcl_tune_cache_load(fcl_ctx *ctx)
{
    char path[1200], key[sizeof ((fcl_tune_cache *)0)->key];
    const char *off = getenv("FACECL_NO_TUNE");
    if ((off && *off && strcmp(off, "0")) || !ctx->cache_dir[0]) return;
    fcl_tune_cache_path(ctx, path, sizeof path);
    fcl_tune_cache_key(ctx, key, sizeof key);
    fcl_tune_cache c;
    fcl_error e = {0};
    fcl_status st = fcl_tune_cache_read(path, key, &c, &e);
    if (st == FCL_ERR_IO) return; /* not tuned: the default table */
    if (!st && !fcl_tune_cache_apply(ctx, &c)) ctx->tune_applied = (int)c.n_sets;
    else if (!st) {
        fcl_ctx_tuning_reset(ctx, FCL_TF_COUNT); /* none of it, not part (CLBlast's own stay: it refused) */
        st = ctx->err.status;
        e = ctx->err;
        fcl_error_clear(&ctx->err);
    }
    if (st) {
        char msg[sizeof ctx->warning];
        snprintf(msg, sizeof msg, "ignoring the tuning cache %s (defaults used): %s", path, e.msg);
        add_warning(ctx, msg);
    }
    fcl_tune_cache_free(&c);
}

int fcl_ctx_tune_applied(const fcl_ctx *ctx) { return ctx->tune_applied; }
