/* host/nn/model.c: the public model API: options, loading a model file (or text), finding files, lookups, names. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "nn/model_internal.h"
#include "runtime/free_list.h"

#define MODEL_FILE_MAX (4u << 20)   /* a model file is text; 4 MiB is far beyond any real one */

void fcl_model_opts_init(fcl_model_opts *o)
{
    memset(o, 0, sizeof *o);
    o->channels = FCL_MODEL_UNSET;
    o->size = o->size_h = o->size_w = FCL_MODEL_UNSET;
    o->classes = FCL_MODEL_UNSET;
    o->embedding = FCL_MODEL_UNSET;
    o->width = FCL_MODEL_UNSET;
    o->stem = NULL;
}

static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = malloc(n);
    if (p) memcpy(p, s, n);
    return p;
}

/* "models/resnet18.model" -> "resnet18" */
static char *model_name(const char *src)
{
    const char *b = fcl_basename(src);
    size_t n = strlen(b);
    if (n > 6 && !strcmp(b + n - 6, ".model")) n -= 6;
    char *p = malloc(n + 1);
    if (p) {
        memcpy(p, b, n);
        p[n] = '\0';
    }
    return p;
}

fcl_status fcl_model_parse(const char *text, const char *name_for_errors,
                           const fcl_model_opts *opts, fcl_model **out, fcl_error *err)
{
    fcl_status st;
    fcl_model *m = NULL;
    if (!out || !text) return FCL_ERR(err, FCL_ERR_INVALID_ARG, "fcl_model_parse: NULL argument");
    *out = NULL;
    if (!name_for_errors) name_for_errors = "<model>";
    m = calloc(1, sizeof *m);
    if (!m || !(m->text = dup_str(text)) || !(m->source = dup_str(name_for_errors)) ||
        !(m->name = model_name(name_for_errors))) {
        st = FCL_ERR(err, FCL_ERR_NOMEM, "%s: out of memory", name_for_errors);
        goto fail;
    }
    if ((st = mp_build(text, name_for_errors, opts, m, err))) goto fail;
    *out = m;
    return FCL_OK;
fail:
    fcl_model_free(m);
    return st;
}

fcl_status fcl_model_load_file(const char *path, const fcl_model_opts *opts, fcl_model **out,
                               fcl_error *err)
{
    fcl_status st;
    FILE *f = NULL;
    char *text = NULL;
    if (!path || !out) return FCL_ERR(err, FCL_ERR_INVALID_ARG, "fcl_model_load_file: NULL argument");
    *out = NULL;
    f = fopen(path, "rb");
    if (!f) {
        st = FCL_ERR(err, FCL_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
        goto fail;
    }
    text = malloc(MODEL_FILE_MAX + 1);
    if (!text) {
        st = FCL_ERR(err, FCL_ERR_NOMEM, "%s: out of memory", path);
        goto fail;
    }
    size_t n = fread(text, 1, MODEL_FILE_MAX + 1, f);
    if (ferror(f)) {
        st = FCL_ERR(err, FCL_ERR_IO, "%s: read error: %s", path, strerror(errno));
        goto fail;
    }
    if (n > MODEL_FILE_MAX) {
        st = FCL_ERR(err, FCL_ERR_FORMAT, "%s: larger than %u bytes: not a model file", path, MODEL_FILE_MAX);
        goto fail;
    }
    text[n] = '\0';
    if (strlen(text) != n) {
        st = FCL_ERR(err, FCL_ERR_FORMAT, "%s: contains a NUL byte: not a text file", path);
        goto fail;
    }
    st = fcl_model_parse(text, path, opts, out, err);
fail:
    if (f) fclose(f);
    free(text);
    return st;
}

void fcl_model_free(fcl_model *m)
{
    if (!m) return;
    for (int i = 0; i < m->n_layers; i++) free(m->layers[i].params);
    FCL_FREE_ALL(m->layers, m->name, m->source, m->text, m);
}

static int is_file(const char *p)
{
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISREG(sb.st_mode);
}

/* Tries dir/name.model and dir/name; 1 when found (written to out). */
static int try_dir(const char *dir, size_t dlen, const char *name, char *out, size_t n)
{
    int k = snprintf(out, n, "%.*s/%s.model", (int)dlen, dir, name);
    if (k > 0 && (size_t)k < n && is_file(out)) return 1;
    k = snprintf(out, n, "%.*s/%s", (int)dlen, dir, name);
    return k > 0 && (size_t)k < n && is_file(out);
}

fcl_status fcl_model_find(const char *name, const char *install_dir, char *out, size_t n,
                          fcl_error *err)
{
    if (!name || !*name || !out || !n) return FCL_ERR(err, FCL_ERR_INVALID_ARG, "fcl_model_find: no model name");
    if (strchr(name, '/') || is_file(name)) {
        if (!is_file(name)) return FCL_ERR(err, FCL_ERR_IO, "%s: no such model file", name);
        if (strlen(name) >= n) return FCL_ERR(err, FCL_ERR_INVALID_ARG, "%s: path too long", name);
        memcpy(out, name, strlen(name) + 1);
        return FCL_OK;
    }
    char searched[2048] = "";
    size_t sk = 0;
    const char *env = getenv("FACECL_MODELS");
    if (env && *env) {
        for (const char *p = env; *p;) {
            const char *c = strchr(p, ':');
            size_t len = c ? (size_t)(c - p) : strlen(p);
            if (len && try_dir(p, len, name, out, n)) return FCL_OK;
            if (len && sk < sizeof searched)
                sk += (size_t)snprintf(searched + sk, sizeof searched - sk, "%.*s, ", (int)len, p);
            p += len + (c ? 1 : 0);
        }
    }
    if (try_dir("./models", 8, name, out, n)) return FCL_OK;
    if (sk < sizeof searched) sk += (size_t)snprintf(searched + sk, sizeof searched - sk, "./models");
    if (install_dir && *install_dir) {
        if (try_dir(install_dir, strlen(install_dir), name, out, n)) return FCL_OK;
        if (sk < sizeof searched) snprintf(searched + sk, sizeof searched - sk, ", %s", install_dir);
    }
    return FCL_ERR(err, FCL_ERR_IO, "model '%s' not found (looked for %s.model in $FACECL_MODELS, then %s)",
                   name, name, searched);
}

const fcl_param_info *fcl_model_find_param(const fcl_model *m, const char *name, int *layer)
{
    if (!m || !name) return NULL;
    for (int i = 0; i < m->n_layers; i++) {
        const fcl_layer *L = &m->layers[i];
        size_t ln = strlen(L->name);
        if (!L->n_params || strncmp(L->name, name, ln) || (name[ln] != '.' && name[ln])) continue; /* '\0': a param named as its layer */
        for (int j = 0; j < L->n_params; j++)
            if (!strcmp(L->params[j].name, name)) {
                if (layer) *layer = i;
                return &L->params[j];
            }
    }
    return NULL;
}

const char *fcl_layer_kind_name(fcl_layer_kind k)
{
    static const char *const names[] = {"conv",   "bn",      "act",         "prelu",
                                        "maxpool", "avgpool", "gap",         "adaptive_avgpool",
                                        "linear", "add",     "channel_mul", "concat",
                                        "dropout", "flatten", "drop_path", "layernorm", "param", "radix_sum", "rsoftmax", "scale"};
    return (unsigned)k < sizeof names / sizeof names[0] ? names[k] : "?";
}

const char *fcl_param_kind_name(fcl_param_kind k)
{
    static const char *const names[] = {"weight", "bias", "running_mean", "running_var",
                                        "num_batches_tracked", "gain"};
    return (unsigned)k < sizeof names / sizeof names[0] ? names[k] : "?";
}
