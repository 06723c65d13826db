/* host/nn/model_build.c: runs a model file's statements (options, variables, loops, blocks, references) to build the layer list. */
#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/model_internal.h"

/* Run-time options: index into mp_exec.opt_set. `size` sets both size_h and size_w. */
enum { OPT_CHANNELS, OPT_SIZE_H, OPT_SIZE_W, OPT_CLASSES, OPT_EMBEDDING, OPT_WIDTH, OPT_STEM };

static const char *const option_vars[] = {"channels", "size", "size_h", "size_w", "classes",
                                          "embedding", "width", "stem", NULL};

fcl_status mp_fail(mp_exec *x, int line, fcl_status status, const char *fmt, ...)
{
    char msg[2048], where[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    size_t k = 0;
    where[0] = '\0';
    for (const mp_scope *s = x->cur; s && s->block && k < sizeof where; s = s->caller) {
        int n = snprintf(where + k, sizeof where - k, " (in block '%s' instance '%s' at line %d)",
                         s->block->word, s->prefix, s->call_line);
        if (n < 0) break;
        k += (size_t)n;
    }
    return FCL_ERR(x->err, status, "%s:%d: %s%s", x->src, line, msg, where);
}

/* ---- variables and references --------------------------------------------------------------- */

static mp_var *find_var(mp_scope *s, const char *name)
{
    for (mp_var *v = s->vars; v; v = v->next)
        if (!strcmp(v->name, name)) return v;
    return NULL;
}

mp_value *mp_var_get(mp_exec *x, const char *name)
{
    mp_var *v = find_var(x->cur, name);
    if (!v && x->cur != x->top) v = find_var(x->top, name);
    return v ? &v->v : NULL;
}

fcl_status mp_var_set(mp_exec *x, mp_scope *s, const char *name, const mp_value *val, int line)
{
    mp_var *v = find_var(s, name);
    if (!v) {
        v = mp_alloc(x->arena, sizeof *v);
        if (!v || !(v->name = mp_strndup(x->arena, name, strlen(name))))
            return FCL_ERR(x->err, FCL_ERR_NOMEM, "out of memory");
        v->next = s->vars;
        s->vars = v;
    }
    v->v = *val;
    return FCL_OK;
}

/* Names: letters, digits, '_' and '.'; a layer or block-instance name may also hold '-'
 * (torchvision's RegNet: "trunk_output.block1.block1-0"). */
static int valid_name(const char *s, int dash)
{
    if (!*s) return 0;
    for (; *s; s++)
        if (!(isalnum((unsigned char)*s) || *s == '_' || *s == '.' || (dash && *s == '-'))) return 0;
    return 1;
}

static int valid_ref_name(const char *s) { return valid_name(s, 0); }

fcl_status mp_ref_get(mp_exec *x, const char *ref, int line, int *layer)
{
    const char *r = ref[0] == '@' ? ref + 1 : ref;
    if (!strcmp(r, "in")) {
        *layer = x->cur->in_layer;
        return FCL_OK;
    }
    if (!strcmp(r, "prev")) {
        *layer = x->cur->prev_layer;
        return FCL_OK;
    }
    for (const mp_ref *p = x->cur->refs; p; p = p->next)
        if (!strcmp(p->name, r)) {
            *layer = p->layer;
            return FCL_OK;
        }
    return mp_fail(x, line, FCL_ERR_FORMAT, "reference to an undefined output '@%s'", r);
}

static fcl_status bind_ref(mp_exec *x, const char *name, int layer, int line)
{
    if (!valid_name(name, 1))
        return mp_fail(x, line, FCL_ERR_FORMAT, "bad name '%s' (letters, digits, '_' and '.')", name);
    if (!strcmp(name, "in") || !strcmp(name, "prev"))
        return mp_fail(x, line, FCL_ERR_FORMAT, "'%s' is reserved (@in, @prev)", name);
    mp_ref *p = mp_alloc(x->arena, sizeof *p);
    if (!p || !(p->name = mp_strndup(x->arena, name, strlen(name))))
        return FCL_ERR(x->err, FCL_ERR_NOMEM, "out of memory");
    p->layer = layer;
    p->next = x->cur->refs;
    x->cur->refs = p;
    return FCL_OK;
}

void mp_layer_shape(const mp_exec *x, int i, int *c, int *h, int *w)
{
    if (i < 0) {
        *c = x->m->channels;
        *h = x->m->in_h;
        *w = x->m->in_w;
    } else {
        *c = x->m->layers[i].out_c;
        *h = x->m->layers[i].out_h;
        *w = x->m->layers[i].out_w;
    }
}

/* ---- options -------------------------------------------------------------------------------- */

static fcl_status set_num_var(mp_exec *x, const char *name, double v)
{
    mp_value val = {MP_NUM, v, NULL, NULL, 0};
    return mp_var_set(x, x->top, name, &val, 0);
}

/* Sets option `idx` (value checked by the caller) in both the variables and the model. */
static fcl_status set_option(mp_exec *x, int idx, double v, const char *s)
{
    fcl_model *m = x->m;
    fcl_status st = FCL_OK;
    switch (idx) {
    case OPT_CHANNELS: m->channels = (int)v; return set_num_var(x, "channels", v);
    case OPT_SIZE_H:
        m->in_h = (int)v;
        if ((st = set_num_var(x, "size", v))) return st;
        return set_num_var(x, "size_h", v);
    case OPT_SIZE_W: m->in_w = (int)v; return set_num_var(x, "size_w", v);
    case OPT_CLASSES: m->classes = (int)v; return set_num_var(x, "classes", v);
    case OPT_EMBEDDING: m->embedding = (int)v; return set_num_var(x, "embedding", v);
    case OPT_WIDTH: m->width = v; return set_num_var(x, "width", v);
    case OPT_STEM: {
        snprintf(m->stem, sizeof m->stem, "%s", s);
        mp_value val = {MP_STR, 0, mp_strndup(x->arena, s, strlen(s)), NULL, 0};
        if (!val.str) return FCL_ERR(x->err, FCL_ERR_NOMEM, "out of memory");
        return mp_var_set(x, x->top, "stem", &val, 0);
    }
    }
    return st;
}

/* Range check shared by the caller's options and `option` lines; NULL when fine. */
static const char *option_problem(int idx, double v, const char *s)
{
    switch (idx) {
    case OPT_CHANNELS: return v >= 1 && v <= 65536 && v == floor(v) ? NULL : "channels must be an integer 1..65536";
    case OPT_SIZE_H:
    case OPT_SIZE_W: return v >= 1 && v <= 65536 && v == floor(v) ? NULL : "size must be an integer 1..65536";
    case OPT_CLASSES: return v >= 0 && v <= (1 << 24) && v == floor(v) ? NULL : "classes must be an integer 0..16777216 (0: no classifier)";
    case OPT_EMBEDDING: return v >= 0 && v <= (1 << 24) && v == floor(v) ? NULL : "embedding must be an integer 0..16777216 (0: no embedding head)";
    case OPT_WIDTH: return v > 0 && v <= 64 && isfinite(v) ? NULL : "width must be a number in (0, 64]";
    case OPT_STEM: return s && *s && strlen(s) < 32 ? NULL : "stem must be a name of 1..31 characters";
    }
    return "unknown option";
}

static fcl_status init_options(mp_exec *x, const fcl_model_opts *o)
{
    fcl_status st;
    if ((st = set_option(x, OPT_CHANNELS, 3, NULL)) || (st = set_option(x, OPT_SIZE_H, 224, NULL)) ||
        (st = set_option(x, OPT_SIZE_W, 224, NULL)) || (st = set_option(x, OPT_CLASSES, 1000, NULL)) ||
        (st = set_option(x, OPT_EMBEDDING, 0, NULL)) || (st = set_option(x, OPT_WIDTH, 1, NULL)) ||
        (st = set_option(x, OPT_STEM, 0, "imagenet")))
        return st;
    if (!o) return FCL_OK;
    struct {
        int idx, given;
        double v;
    } g[] = {/* only FCL_MODEL_UNSET means "not set": 0 or -5 is a bad value, refused below, never a default */
             {OPT_CHANNELS, o->channels != FCL_MODEL_UNSET, o->channels},
             {OPT_SIZE_H, o->size_h != FCL_MODEL_UNSET || o->size != FCL_MODEL_UNSET,
              o->size_h != FCL_MODEL_UNSET ? o->size_h : o->size},
             {OPT_SIZE_W, o->size_w != FCL_MODEL_UNSET || o->size != FCL_MODEL_UNSET,
              o->size_w != FCL_MODEL_UNSET ? o->size_w : o->size},
             {OPT_CLASSES, o->classes != FCL_MODEL_UNSET, o->classes},
             {OPT_EMBEDDING, o->embedding != FCL_MODEL_UNSET, o->embedding},
             {OPT_WIDTH, o->width != FCL_MODEL_UNSET, o->width}};
    for (size_t i = 0; i < sizeof g / sizeof g[0]; i++) {
        if (!g[i].given) continue;
        const char *bad = option_problem(g[i].idx, g[i].v, NULL);
        if (bad) return FCL_ERR(x->err, FCL_ERR_INVALID_ARG, "%s: bad option: %s (got %g)", x->src, bad, g[i].v);
        if ((st = set_option(x, g[i].idx, g[i].v, NULL))) return st;
        x->opt_set[g[i].idx] = 1;
    }
    if (o->stem) {
        const char *bad = option_problem(OPT_STEM, 0, o->stem);
        if (bad) return FCL_ERR(x->err, FCL_ERR_INVALID_ARG, "%s: bad option: %s", x->src, bad);
        if ((st = set_option(x, OPT_STEM, 0, o->stem))) return st;
        x->opt_set[OPT_STEM] = 1;
    }
    return FCL_OK;
}

static fcl_status exec_option(mp_exec *x, const mp_stmt *st)
{
    if (x->seen_layer)
        return mp_fail(x, st->line, FCL_ERR_FORMAT, "`option` lines must come before the first layer");
    static const struct {
        const char *name;
        int idx[2];
    } names[] = {{"channels", {OPT_CHANNELS, -1}}, {"size", {OPT_SIZE_H, OPT_SIZE_W}},
                 {"classes", {OPT_CLASSES, -1}},   {"embedding", {OPT_EMBEDDING, -1}},
                 {"width", {OPT_WIDTH, -1}},       {"stem", {OPT_STEM, -1}}};
    size_t i;
    for (i = 0; i < sizeof names / sizeof names[0]; i++)
        if (!strcmp(names[i].name, st->word)) break;
    if (i == sizeof names / sizeof names[0])
        return mp_fail(x, st->line, FCL_ERR_FORMAT,
                       "unknown option '%s' (options: channels size classes embedding width stem)", st->word);
    mp_value v;
    fcl_status s = mp_eval(x, st->expr, st->line, &v);
    if (s) return s;
    int is_stem = names[i].idx[0] == OPT_STEM;
    if (v.type != (is_stem ? MP_STR : MP_NUM))
        return mp_fail(x, st->line, FCL_ERR_FORMAT, "bad value for option '%s': expected %s", st->word,
                       is_stem ? "a \"string\"" : "a number");
    const char *bad = option_problem(names[i].idx[0], v.num, v.str);
    if (bad) return mp_fail(x, st->line, FCL_ERR_FORMAT, "bad value for option '%s': %s", st->word, bad);
    for (int k = 0; k < 2; k++) {
        int idx = names[i].idx[k];
        if (idx < 0 || x->opt_set[idx]) continue;
        if ((s = set_option(x, idx, v.num, v.str))) return s;
    }
    return FCL_OK;
}

/* ---- statements ----------------------------------------------------------------------------- */

static const mp_stmt *find_block(const mp_exec *x, const char *name)
{
    for (const mp_stmt *b = x->blocks; b; b = b->next)
        if (b->kind == MP_BLOCK && !strcmp(b->word, name)) return b;
    return NULL;
}

static int is_key_token(const char *t)
{
    const char *eq = strchr(t, '=');
    if (!eq || eq == t || eq[1] == '=') return 0;
    if (!(isalpha((unsigned char)t[0]) || t[0] == '_')) return 0;
    for (const char *p = t; p < eq; p++)
        if (!(isalnum((unsigned char)*p) || *p == '_')) return 0;
    return 1;
}

/* 1 when `key` is one of the space-separated words of `list`. */
static int in_list(const char *list, const char *key)
{
    size_t n = strlen(key);
    for (const char *p = list; *p;) {
        while (*p == ' ') p++;
        const char *b = p;
        while (*p && *p != ' ') p++;
        if ((size_t)(p - b) == n && !strncmp(b, key, n)) return 1;
    }
    return 0;
}

/* The parameter name of a block's i-th parameter ("stride" of "stride=1"). */
static size_t param_name_len(const char *tok)
{
    const char *eq = strchr(tok, '=');
    return eq ? (size_t)(eq - tok) : strlen(tok);
}

static int block_has_param(const mp_stmt *blk, const char *key)
{
    for (int i = 0; i < blk->n_tok; i++) {
        size_t n = param_name_len(blk->tok[i]);
        if (n == strlen(key) && !strncmp(blk->tok[i], key, n)) return 1;
    }
    return 0;
}

/* Resolves `from=@a,@b` (each reference may use {EXPR}). */
static fcl_status resolve_from(mp_exec *x, int line, const char *from, int *inputs, int *n)
{
    *n = 0;
    const char *p = from;
    while (*p) {
        const char *c = p;
        int depth = 0;
        while (*c && (depth > 0 || *c != ',')) {
            if (*c == '{') depth++;
            if (*c == '}' && depth > 0) depth--;
            c++;
        }
        if (*p != '@')
            return mp_fail(x, line, FCL_ERR_FORMAT, "bad value for key 'from': '%.*s' is not a reference like @name",
                           (int)(c - p), p);
        char *raw = mp_strndup(x->arena, p + 1, (size_t)(c - p - 1));
        char name[FCL_MODEL_NAME_MAX];
        if (!raw) return FCL_ERR(x->err, FCL_ERR_NOMEM, "out of memory");
        fcl_status st = mp_interpolate(x, raw, line, name, sizeof name);
        if (st) return st;
        if (*n == FCL_LAYER_MAX_INPUTS)
            return mp_fail(x, line, FCL_ERR_FORMAT, "more than %d inputs in from=", FCL_LAYER_MAX_INPUTS);
        if ((st = mp_ref_get(x, name, line, &inputs[*n]))) return st;
        (*n)++;
        p = *c ? c + 1 : c;
    }
    return FCL_OK;
}

static fcl_status run_block(mp_exec *x, const mp_stmt *call, const mp_stmt *blk, const char *prefix,
                            int n_kv, const char *const *keys, const char *const *vals, int in_layer,
                            int *out)
{
    for (const mp_scope *s = x->cur; s; s = s->caller)
        if (s->block == blk)
            return mp_fail(x, call->line, FCL_ERR_FORMAT, "recursion: block '%s' instantiates itself",
                           blk->word);
    if (x->cur->depth >= 32)
        return mp_fail(x, call->line, FCL_ERR_FORMAT, "blocks nested more than 32 deep");
    mp_scope *ns = mp_alloc(x->arena, sizeof *ns);
    mp_value *args = mp_alloc(x->arena, (size_t)(n_kv + 1) * sizeof *args);
    if (!ns || !args) return FCL_ERR(x->err, FCL_ERR_NOMEM, "out of memory");
    fcl_status st;
    for (int i = 0; i < n_kv; i++)   /* arguments are evaluated where the instance is written */
        if ((st = mp_eval(x, vals[i], call->line, &args[i]))) return st;
    snprintf(ns->prefix, sizeof ns->prefix, "%s", prefix);
    ns->in_layer = ns->prev_layer = in_layer;
    ns->block = blk;
    ns->call_line = call->line;
    ns->caller = x->cur;
    ns->depth = x->cur->depth + 1;
    for (int p = 0; p < blk->n_tok; p++) {
        const char *tok = blk->tok[p];
        size_t n = param_name_len(tok);
        char pname[64];
        if (n >= sizeof pname) return mp_fail(x, blk->line, FCL_ERR_FORMAT, "parameter name too long");
        memcpy(pname, tok, n);
        pname[n] = '\0';
        int given = -1;
        for (int i = 0; i < n_kv; i++)
            if (!strcmp(keys[i], pname)) given = i;
        mp_value v;
        if (given >= 0) {
            v = args[given];
        } else if (tok[n] == '=') {
            mp_scope *saved = x->cur;
            x->cur = ns;   /* defaults may use earlier parameters */
            st = mp_eval(x, tok + n + 1, blk->line, &v);
            x->cur = saved;
            if (st) return st;
        } else {
            return mp_fail(x, call->line, FCL_ERR_FORMAT, "%s: missing required key '%s'", blk->word, pname);
        }
        if ((st = mp_var_set(x, ns, pname, &v, call->line))) return st;
    }
    mp_scope *saved = x->cur;
    x->cur = ns;
    st = mp_exec_list(x, blk->body);
    x->cur = saved;
    if (st) return st;
    *out = ns->prev_layer;
    return FCL_OK;
}

static fcl_status exec_layer(mp_exec *x, const mp_stmt *st)
{
    const mp_type_info *info = mp_type_find(st->word);
    const mp_stmt *blk = info ? NULL : find_block(x, st->word);
    if (!info && !blk) return mp_fail(x, st->line, FCL_ERR_FORMAT, "unknown layer type '%s'", st->word);
    const char *what = st->word;
    const char **keys = mp_alloc(x->arena, (size_t)(st->n_tok + 1) * sizeof *keys);
    const char **vals = mp_alloc(x->arena, (size_t)(st->n_tok + 1) * sizeof *vals);
    if (!keys || !vals) return FCL_ERR(x->err, FCL_ERR_NOMEM, "out of memory");
    const char *name = NULL, *from = NULL, *as = NULL;
    int n_kv = 0;
    for (int i = 0; i < st->n_tok; i++) {
        const char *t = st->tok[i];
        if (!is_key_token(t)) {
            if (name || strchr(t, '=') || t[0] == '@')
                return mp_fail(x, st->line, FCL_ERR_FORMAT,
                               "%s: unexpected '%s' (a layer line is TYPE [NAME] key=value ..., no spaces around '=')",
                               what, t);
            name = t;
            continue;
        }
        const char *eq = strchr(t, '=');
        char *k = mp_strndup(x->arena, t, (size_t)(eq - t));
        if (!k) return FCL_ERR(x->err, FCL_ERR_NOMEM, "out of memory");
        const char *v = eq + 1;
        if (!*v) return mp_fail(x, st->line, FCL_ERR_FORMAT, "bad value for %s key '%s': empty", what, k);
        for (int j = 0; j < n_kv; j++)
            if (!strcmp(keys[j], k)) return mp_fail(x, st->line, FCL_ERR_FORMAT, "%s: key '%s' given twice", what, k);
        if ((from && !strcmp(k, "from")) || (as && !strcmp(k, "as")))
            return mp_fail(x, st->line, FCL_ERR_FORMAT, "%s: key '%s' given twice", what, k);
        if (!strcmp(k, "from")) from = v;
        else if (!strcmp(k, "as")) as = v;
        else {
            if (info ? !in_list(info->keys, k) : !block_has_param(blk, k)) {
                if (info)
                    return mp_fail(x, st->line, FCL_ERR_FORMAT, "unknown key '%s' for %s (keys: %s%sfrom as)", k,
                                   what, info->keys, *info->keys ? " " : "");
                return mp_fail(x, st->line, FCL_ERR_FORMAT, "unknown key '%s' for block %s", k, what);
            }
            keys[n_kv] = k;
            vals[n_kv++] = v;
        }
    }
    if (x->seen_classifier)
        return mp_fail(x, st->line, FCL_ERR_FORMAT, "a layer after the classifier (line %d): the classifier must be last",
                       x->seen_classifier);
    if (info && info->name == 2 && !name)
        return mp_fail(x, st->line, FCL_ERR_FORMAT,
                       "%s: missing required NAME (its parameters are named after it: %s NAME key=value ...)",
                       what, what);
    int is_emb = info && !strcmp(info->type, "embedding"), is_cls = info && !strcmp(info->type, "classifier");
    if (is_emb && x->seen_embedding)
        return mp_fail(x, st->line, FCL_ERR_FORMAT, "a second `embedding` line (the first is at line %d)",
                       x->seen_embedding);
    if (is_cls && !x->seen_embedding)
        return mp_fail(x, st->line, FCL_ERR_FORMAT, "`classifier` before `embedding`: mark the embedding first");
    if (x->skip_head) {
        /* classes == 0: everything between `embedding` and `classifier` is left out */
        if (is_cls) x->seen_classifier = st->line;
        return FCL_OK;
    }
    x->seen_layer = 1;

    int inputs[FCL_LAYER_MAX_INPUTS], n_in = 1;
    fcl_status s;
    inputs[0] = x->cur->prev_layer;
    if (from && (s = resolve_from(x, st->line, from, inputs, &n_in))) return s;
    int lo = info ? info->min_inputs : 1, hi = info ? info->max_inputs : 1;
    if (n_in < lo || n_in > hi) {
        if (lo == hi)
            return mp_fail(x, st->line, FCL_ERR_FORMAT, "%s takes %d input%s (from=%s), got %d", what, lo,
                           lo > 1 ? "s" : "", lo > 1 ? "@a,@b" : "@x", n_in);
        return mp_fail(x, st->line, FCL_ERR_FORMAT, "%s takes %d to %d inputs (from=@a,@b,...), got %d", what,
                       lo, hi, n_in);
    }

    char local[FCL_MODEL_NAME_MAX] = "", full[FCL_MODEL_NAME_MAX] = "";
    if (name) {
        if ((s = mp_interpolate(x, name, st->line, local, sizeof local))) return s;
        if (!valid_name(local, 1) || local[0] == '.' || local[strlen(local) - 1] == '.' || strstr(local, ".."))
            return mp_fail(x, st->line, FCL_ERR_FORMAT, "bad name '%s' (letters, digits, '_', '-', and '.' between parts)",
                           local);
    }
    const char *pre = x->cur->prefix;
    /* a named layer is "prefix.local"; a block instance without a name keeps the prefix; an
     * unnamed layer has no name (its scope says where it is) */
    int n = 0;
    if (*local || !info) n = snprintf(full, sizeof full, "%s%s%s", pre, *pre && *local ? "." : "", local);
    if (n < 0 || (size_t)n >= sizeof full)
        return mp_fail(x, st->line, FCL_ERR_FORMAT, "name '%s.%s' too long", pre, local);

    int out = inputs[0];
    if (info) {
        s = mp_build_layer(x, st->line, info, full, n_kv, keys, vals, inputs, n_in, &out);
        if (s) return s;
        if (is_emb) {
            x->seen_embedding = st->line;
            if (x->m->classes == 0) x->skip_head = 1;
        }
        if (is_cls) x->seen_classifier = st->line;
    } else {
        if ((s = run_block(x, st, blk, full, n_kv, keys, vals, inputs[0], &out))) return s;
    }
    if (*local && (s = bind_ref(x, local, out, st->line))) return s;
    if (as && (s = bind_ref(x, as[0] == '@' ? as + 1 : as, out, st->line))) return s;
    x->cur->prev_layer = out;
    return FCL_OK;
}

static fcl_status exec_one(mp_exec *x, const mp_stmt *st)
{
    fcl_status s;
    mp_value v;
    if (++x->steps > MP_MAX_STEPS)
        return mp_fail(x, st->line, FCL_ERR_FORMAT, "more than %d statements run: a runaway loop?", MP_MAX_STEPS);
    switch (st->kind) {
    case MP_BLOCK: return FCL_OK;   /* collected before running */
    case MP_OPTION: return exec_option(x, st);
    case MP_LET:
        for (int i = 0; option_vars[i]; i++)
            if (!strcmp(option_vars[i], st->word))
                return mp_fail(x, st->line, FCL_ERR_FORMAT,
                               "'%s' is a run-time option: set its default with `option %s = ...`",
                               st->word, st->word);
        if ((s = mp_eval(x, st->expr, st->line, &v))) return s;
        return mp_var_set(x, x->cur, st->word, &v, st->line);
    case MP_ALIAS: {
        int layer;
        const char *r = st->expr;
        if (r[0] != '@' || !valid_ref_name(r + 1))
            return mp_fail(x, st->line, FCL_ERR_FORMAT, "bad value for alias: '%s' is not a reference like @name", r);
        if ((s = mp_ref_get(x, r, st->line, &layer))) return s;
        return bind_ref(x, st->word, layer, st->line);
    }
    case MP_ERROR: {
        char msg[1024];
        if ((s = mp_eval(x, st->expr, st->line, &v))) return s;
        if (v.type == MP_STR) {
            if ((s = mp_interpolate(x, v.str, st->line, msg, sizeof msg))) return s;
        } else {
            mp_value_str(&v, msg, sizeof msg);
        }
        return mp_fail(x, st->line, FCL_ERR_INVALID_ARG, "%s", msg);
    }
    case MP_FOR: {
        if ((s = mp_eval(x, st->expr, st->line, &v))) return s;
        if (v.type != MP_LIST)
            return mp_fail(x, st->line, FCL_ERR_FORMAT, "bad value: `for %s in` needs a list (e.g. range(n))", st->word);
        for (int i = 0; i < v.len; i++) {
            mp_value e = {MP_NUM, v.list[i], NULL, NULL, 0};
            if ((s = mp_var_set(x, x->cur, st->word, &e, st->line))) return s;
            if ((s = mp_exec_list(x, st->body))) return s;
        }
        return FCL_OK;
    }
    case MP_IF:
        for (int b = 0; b < st->n_branches; b++) {
            if (st->cond[b]) {
                if ((s = mp_eval(x, st->cond[b], st->cond_line[b], &v))) return s;
                if (v.type != MP_NUM)
                    return mp_fail(x, st->cond_line[b], FCL_ERR_FORMAT, "bad value: a condition must be a number (a comparison)");
                if (v.num == 0) continue;
            }
            return mp_exec_list(x, st->branch[b]);
        }
        return FCL_OK;
    case MP_LAYER: return exec_layer(x, st);
    }
    return FCL_OK;
}

fcl_status mp_exec_list(mp_exec *x, const mp_stmt *s)
{
    for (; s; s = s->next) {
        fcl_status st = exec_one(x, s);
        if (st) return st;
    }
    return FCL_OK;
}

/* ---- whole model ---------------------------------------------------------------------------- */

/* Fills m's layers from the text; the caller owns m (and frees it on failure). */
fcl_status mp_build(const char *text, const char *src, const fcl_model_opts *opts, fcl_model *m,
                    fcl_error *err)
{
    mp_arena arena = {0};
    mp_exec x = {0};
    x.arena = &arena;
    x.src = src;
    x.err = err;
    x.m = m;
    mp_stmt *prog = NULL;
    char *used = NULL;
    fcl_status st = mp_parse_structure(&arena, text, src, &prog, err);
    if (st) goto fail;
    x.top = mp_alloc(&arena, sizeof *x.top);
    if (!x.top) {
        st = FCL_ERR(err, FCL_ERR_NOMEM, "out of memory");
        goto fail;
    }
    x.top->in_layer = x.top->prev_layer = -1;
    x.cur = x.top;
    x.blocks = prog;
    for (const mp_stmt *a = prog; a; a = a->next) {
        if (a->kind != MP_BLOCK) continue;
        if (mp_type_find(a->word)) {
            st = mp_fail(&x, a->line, FCL_ERR_FORMAT, "block name '%s' is a built-in layer type", a->word);
            goto fail;
        }
        for (const mp_stmt *b = prog; b != a; b = b->next)
            if (b->kind == MP_BLOCK && !strcmp(b->word, a->word)) {
                st = mp_fail(&x, a->line, FCL_ERR_FORMAT, "block '%s' defined twice (first at line %d)", a->word, b->line);
                goto fail;
            }
    }
    /* the last line with a statement, for "missing ..." errors */
    int last_line = 1, line = 1, in_comment = 0;
    for (const char *p = text; *p; p++) {
        if (*p == '\n') {
            line++;
            in_comment = 0;
        } else if (*p == '#') {
            in_comment = 1;
        } else if (!in_comment && *p != ' ' && *p != '\t' && *p != '\r') {
            last_line = line;
        }
    }
    if ((st = init_options(&x, opts))) goto fail;
    if ((st = mp_exec_list(&x, prog))) goto fail;
    if (!x.seen_embedding) {
        st = mp_fail(&x, last_line, FCL_ERR_FORMAT,
                     "missing required `embedding` line (it marks the features before the classifier)");
        goto fail;
    }
    if (!x.seen_classifier) {
        st = mp_fail(&x, last_line, FCL_ERR_FORMAT, "missing required `classifier NAME` line");
        goto fail;
    }

    /* every output but the last must feed a later layer: an unused one is a mistake (a
     * forgotten from=) and would get no gradient */
    used = calloc((size_t)m->n_layers + 1, 1);
    if (!used) {
        st = FCL_ERR(err, FCL_ERR_NOMEM, "out of memory");
        goto fail;
    }
    for (int i = 0; i < m->n_layers; i++)
        for (int j = 0; j < m->layers[i].n_inputs; j++)
            if (m->layers[i].inputs[j] >= 0) used[m->layers[i].inputs[j]] = 1;
    for (int i = 0; i < m->n_layers - 1; i++)
        if (!used[i]) {
            const fcl_layer *L = &m->layers[i];
            st = mp_fail(&x, L->line, FCL_ERR_FORMAT, "the output of this %s%s%s is never used (missing from=?)",
                         fcl_layer_kind_name(L->kind), *L->name ? " " : "", L->name);
            goto fail;
        }

    m->output_layer = m->n_layers - 1;
    m->embedding_layer = -1;
    m->classifier_layer = -1;
    for (int i = 0; i < m->n_layers; i++) {
        fcl_layer *L = &m->layers[i];
        if (L->is_embedding) m->embedding_layer = i;
        if (L->is_classifier) m->classifier_layer = i;
        m->n_tensors += L->n_params;
        m->n_trainable += L->n_trainable;
        m->n_buffer += L->n_buffer;
        m->flops += L->flops;
        m->macs += L->macs;
    }
    const fcl_layer *E = &m->layers[m->embedding_layer];
    m->embedding_dim = E->out_c * E->out_h * E->out_w;
    st = FCL_OK;
fail:
    free(used);
    mp_arena_free(&arena);
    return st;
}
