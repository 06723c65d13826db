/* host/runtime/tuning.c: a context's typed kernel tuning values: defaults, checks, overrides and the -D options made from them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/internal.h"
#include "runtime/tuning_internal.h"

/* Defines naming what the device offers the kernels (appended to every family's row):
 * subgroups through cl_khr_subgroups (FCL_SG_KHR), cl_intel_subgroups (FCL_SG_INTEL) or, on an
 * OpenCL C 3.0 device without either extension, the optional core feature __opencl_c_subgroups
 * (FCL_SG_CORE, which needs -cl-std=CL3.0). cl/reduce.cl uses subgroup reductions only then. */
#define FCL_C_FEATURES 0x106F   /* CL_DEVICE_OPENCL_C_FEATURES (OpenCL 3.0 headers) */

/* 1 when the space-separated list has `w` as a whole entry. */
static int has_word(const char *list, const char *w)
{
    size_t n = strlen(w);
    for (const char *s = strstr(list, w); s; s = strstr(s + 1, w))
        if ((s == list || s[-1] == ' ') && (s[n] == ' ' || s[n] == '\0')) return 1;
    return 0;
}
static void device_caps(const fcl_ctx *ctx, char *buf, size_t size)
{
    char ext[8192] = "";
    cl_device_id d = ctx->dev.device_id;
    buf[0] = '\0';
    if (clGetDeviceInfo(d, CL_DEVICE_EXTENSIONS, sizeof ext - 1, ext, NULL) != CL_SUCCESS) ext[0] = '\0';
    ext[sizeof ext - 1] = '\0';
    if (has_word(ext, "cl_khr_subgroups")) {
        snprintf(buf, size, " -DFCL_SG_KHR=1");
        return;
    }
    if (has_word(ext, "cl_intel_subgroups")) {
        snprintf(buf, size, " -DFCL_SG_INTEL=1");
        return;
    }
    if (ctx->dev.c_major < 3) return;
    struct { cl_uint version; char name[64]; } feat[128];
    size_t got = 0;
    if (clGetDeviceInfo(d, FCL_C_FEATURES, sizeof feat, feat, &got) != CL_SUCCESS) return;
    for (size_t i = 0; i < got / sizeof feat[0] && i < 128; i++)
        if (!strncmp(feat[i].name, "__opencl_c_subgroups", sizeof feat[i].name)) {
            snprintf(buf, size, " -cl-std=CL3.0 -DFCL_SG_CORE=1");
            return;
        }
}

void fcl_ctx_device_defines(const fcl_ctx *ctx, char *buf, size_t size)
{
    device_caps(ctx, buf, size);
}

/* ---- the table ------------------------------------------------------------------------- */

const fcl_tune_param *fcl_tune_param_info(fcl_tune_id id)
{
    return (int)id >= 0 && id < FCL_T_COUNT ? &fcl_tune_table[id] : NULL;
}

const char *fcl_tune_family_name(fcl_tune_family f)
{
    return (int)f >= 0 && f < FCL_TF_COUNT ? fcl_tune_family_names[f] : NULL;
}

int fcl_tune_family_find(const char *name)
{
    for (int f = 0; name && f < FCL_TF_COUNT; f++)
        if (!strcmp(fcl_tune_family_names[f], name)) return f;
    return -1;
}

int fcl_tune_family_params(fcl_tune_family f, fcl_tune_id *first)
{
    int n = 0, at = -1;
    for (int i = 0; i < FCL_T_COUNT; i++)
        if (fcl_tune_table[i].family == f) {
            if (at < 0) at = i;
            n++;
        }
    if (first) *first = (fcl_tune_id)(at < 0 ? 0 : at);
    return n;
}

int fcl_tune_param_find(fcl_tune_family f, const char *name)
{
    for (int i = 0; name && i < FCL_T_COUNT; i++)
        if (fcl_tune_table[i].family == f && !strcmp(fcl_tune_table[i].name, name)) return i;
    return -1;
}

/* The parameter names of family f, space-separated (for messages). */
static void family_names(fcl_tune_family f, char *buf, size_t size)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; i < FCL_T_COUNT && used < size; i++)
        if (fcl_tune_table[i].family == f)
            used += (size_t)snprintf(buf + used, size - used, "%s%s", used ? " " : "", fcl_tune_table[i].name);
}

static void all_families(char *buf, size_t size)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int f = 0; f < FCL_TF_COUNT && used < size; f++)
        used += (size_t)snprintf(buf + used, size - used, "%s%s", f ? " " : "", fcl_tune_family_names[f]);
}

/* The joint rules of a family beyond each value's range; who prefixes the message. */
static fcl_status joint_rules(const char *who, fcl_tune_family f, const int *v, fcl_tune_id first, fcl_error *err)
{
    if (f != FCL_TF_CONV) return FCL_OK;
#define V(id) v[(id) - first]
    if (V(FCL_T_CONV_GM) % V(FCL_T_CONV_GWM))
        return FCL_ERR(err, FCL_ERR_INVALID_ARG, "%s: conv: CONV_GM=%d must be a multiple of CONV_GWM=%d", who,
                       V(FCL_T_CONV_GM), V(FCL_T_CONV_GWM));
    if (V(FCL_T_CONV_GN) % V(FCL_T_CONV_GWN))
        return FCL_ERR(err, FCL_ERR_INVALID_ARG, "%s: conv: CONV_GN=%d must be a multiple of CONV_GWN=%d", who,
                       V(FCL_T_CONV_GN), V(FCL_T_CONV_GWN));
#undef V
    return FCL_OK;
}

static fcl_status check_values(const char *who, fcl_tune_family f, const int *values, int count, fcl_error *err)
{
    fcl_tune_id first;
    int n = fcl_tune_family_params(f, &first);
    if (!n || !values || count != n)
        return FCL_ERR(err, FCL_ERR_INVALID_ARG, "%s: family %d (%s) has %d values, got %d", who, (int)f,
                       fcl_tune_family_name(f) ? fcl_tune_family_name(f) : "no such family", n, count);
    for (int i = 0; i < n; i++) {
        const fcl_tune_param *p = &fcl_tune_table[first + i];
        int v = values[i];
        if (v < p->min || v > p->max)
            return FCL_ERR(err, FCL_ERR_INVALID_ARG, "%s: %s: %s=%d is out of range %d..%d (%s)", who,
                           fcl_tune_family_names[f], p->name, v, p->min, p->max, p->doc);
        if ((p->flags & FCL_TUNE_POW2) && (v & (v - 1)))
            return FCL_ERR(err, FCL_ERR_INVALID_ARG, "%s: %s: %s=%d must be a power of two in %d..%d (%s)", who,
                           fcl_tune_family_names[f], p->name, v, p->min, p->max, p->doc);
    }
    return joint_rules(who, f, values, first, err);
}

fcl_status fcl_tune_check(fcl_tune_family f, const int *values, int count, fcl_error *err)
{
    return check_values("tuning", f, values, count, err);
}

/* ---- a context's values ------------------------------------------------------------------- */

fcl_tune_column fcl_tune_column_of(const fcl_device_info *dev)
{
    if (!(dev->type & CL_DEVICE_TYPE_CPU)) return FCL_TUNE_COL_OTHER;
    return dev->native_float_width >= 1 && dev->native_float_width <= 8 ? FCL_TUNE_COL_CPU256 : FCL_TUNE_COL_CPU;
}

int fcl_tune_param_default(fcl_tune_id id, fcl_tune_column col)
{
    if ((int)id < 0 || id >= FCL_T_COUNT) return 0;
    const fcl_tune_param *p = &fcl_tune_table[id];
    if (col == FCL_TUNE_COL_OTHER) return p->other;
    return col == FCL_TUNE_COL_CPU256 && p->cpu256 != FCL_TUNE_AS_CPU ? p->cpu256 : p->cpu;
}

static int default_of(const fcl_ctx *ctx, fcl_tune_id id)
{
    return fcl_tune_param_default(id, fcl_tune_column_of(&ctx->dev));
}

/* Rebuilds the "-DNAME=V ..." options of family f from the context's values. */
static void make_options(fcl_ctx *ctx, fcl_tune_family f)
{
    char *buf = ctx->tune_opts[f];
    size_t size = sizeof ctx->tune_opts[f], used = 0;
    buf[0] = '\0';
    for (int i = 0; i < FCL_T_COUNT && used < size; i++)
        if (fcl_tune_table[i].family == f)
            used += (size_t)snprintf(buf + used, size - used, "%s-D%s=%d", used ? " " : "", fcl_tune_table[i].name,
                                     ctx->tune[i]);
    if (used < size) snprintf(buf + used, size - used, "%s", ctx->tune_caps);
}

void fcl_ctx_tuning_reset(fcl_ctx *ctx, fcl_tune_family f)
{
    for (int i = 0; i < FCL_T_COUNT; i++)
        if (f == FCL_TF_COUNT || fcl_tune_table[i].family == f) ctx->tune[i] = default_of(ctx, (fcl_tune_id)i);
    for (int g = 0; g < FCL_TF_COUNT; g++)
        if (f == FCL_TF_COUNT || g == (int)f) make_options(ctx, (fcl_tune_family)g);
}

void fcl_tuning_init(fcl_ctx *ctx)
{
    device_caps(ctx, ctx->tune_caps, sizeof ctx->tune_caps);
    fcl_ctx_tuning_reset(ctx, FCL_TF_COUNT);
}

int fcl_tuning_int(const fcl_ctx *ctx, fcl_tune_id id)
{
    return (int)id >= 0 && id < FCL_T_COUNT ? ctx->tune[id] : 0;
}

int fcl_tuning_default(const fcl_ctx *ctx, fcl_tune_id id)
{
    return (int)id >= 0 && id < FCL_T_COUNT ? default_of(ctx, id) : 0;
}

fcl_status fcl_ctx_tuning_get_family(const fcl_ctx *ctx, fcl_tune_family f, int *values, int count)
{
    fcl_tune_id first;
    int n = fcl_tune_family_params(f, &first);
    if (!n || !values || count != n)
        return FCL_ERR((fcl_error *)&ctx->err, FCL_ERR_INVALID_ARG, "fcl_ctx_tuning_get_family: family %d has %d "
                       "values, asked for %d", (int)f, n, count);
    memcpy(values, &ctx->tune[first], (size_t)n * sizeof *values);
    return FCL_OK;
}

static fcl_status set_family(fcl_ctx *ctx, const char *who, fcl_tune_family f, const int *values, int count,
                             fcl_error *err)
{
    fcl_status st = check_values(who, f, values, count, err);
    if (st) return st;
    fcl_tune_id first;
    fcl_tune_family_params(f, &first);
    memcpy(&ctx->tune[first], values, (size_t)count * sizeof *values);
    make_options(ctx, f);
    return FCL_OK;
}

fcl_status fcl_ctx_tuning_set_family(fcl_ctx *ctx, fcl_tune_family f, const int *values, int count)
{
    return set_family(ctx, "fcl_ctx_tuning_set_family", f, values, count, &ctx->err);
}

fcl_status fcl_ctx_tuning_set_int(fcl_ctx *ctx, fcl_tune_id id, int value)
{
    if ((int)id < 0 || id >= FCL_T_COUNT)
        return FCL_ERR(&ctx->err, FCL_ERR_INVALID_ARG, "fcl_ctx_tuning_set_int: no parameter id %d", (int)id);
    fcl_tune_family f = fcl_tune_table[id].family;
    fcl_tune_id first;
    int vals[FCL_T_COUNT], n = fcl_tune_family_params(f, &first);
    memcpy(vals, &ctx->tune[first], (size_t)n * sizeof *vals);
    vals[id - first] = value;
    return set_family(ctx, "fcl_ctx_tuning_set_int", f, vals, n, &ctx->err);
}

/* ---- the "-DNAME=V ..." form ($FACECL_TUNING, fcl_ctx_tuning_set) -------------------------- */

/* Sets family `fam` to the device's defaults plus the "-DNAME=V" (or "NAME=V") entries of
 * `defines` (separated by spaces), checked; who names the source in messages. */
static fcl_status set_from_text(fcl_ctx *ctx, const char *who, const char *fam, const char *defines, fcl_error *err)
{
    char names[512];
    int f = fcl_tune_family_find(fam);
    if (f < 0) {
        all_families(names, sizeof names);
        return FCL_ERR(err, FCL_ERR_INVALID_ARG, "%s: no tuning family \"%s\" (families: %s)", who, fam, names);
    }
    fcl_tune_id first;
    int vals[FCL_T_COUNT], n = fcl_tune_family_params((fcl_tune_family)f, &first);
    for (int i = 0; i < n; i++) vals[i] = default_of(ctx, (fcl_tune_id)(first + i));
    for (const char *s = defines; *s;) {
        while (*s == ' ' || *s == '\t') s++;
        size_t len = strcspn(s, " \t");
        if (!len) break;
        const char *tok = s, *name = !strncmp(s, "-D", 2) ? s + 2 : s, *eq = memchr(tok, '=', len);
        s += len;
        char pname[64], *end = NULL;
        long v = eq ? strtol(eq + 1, &end, 10) : 0;
        if (!eq || eq == name || (size_t)(eq - name) >= sizeof pname || end != s || end == eq + 1)
            return FCL_ERR(err, FCL_ERR_INVALID_ARG, "%s: %s: \"%.*s\" is not -DNAME=INTEGER", who, fam, (int)len, tok);
        snprintf(pname, sizeof pname, "%.*s", (int)(eq - name), name);
        int id = fcl_tune_param_find((fcl_tune_family)f, pname);
        if (id < 0) {
            family_names((fcl_tune_family)f, names, sizeof names);
            return FCL_ERR(err, FCL_ERR_INVALID_ARG, "%s: %s has no parameter %s (it has: %s)", who, fam, pname, names);
        }
        const fcl_tune_param *p = &fcl_tune_table[id];
        if (v < p->min || v > p->max)
            return FCL_ERR(err, FCL_ERR_INVALID_ARG, "%s: %s: %s=%ld is out of range %d..%d (%s)", who, fam, pname, v,
                           p->min, p->max, p->doc);
        vals[id - first] = (int)v;
    }
    return set_family(ctx, who, (fcl_tune_family)f, vals, n, err);
}

fcl_status fcl_ctx_tuning_set(fcl_ctx *ctx, const char *family, const char *defines)
{
    if (!family || !defines)
        return FCL_ERR(&ctx->err, FCL_ERR_INVALID_ARG, "fcl_ctx_tuning_set: family or defines is NULL");
    return set_from_text(ctx, "fcl_ctx_tuning_set", family, defines, &ctx->err);
}

const char *fcl_ctx_tuning(const fcl_ctx *ctx, const char *family)
{
    int f = fcl_tune_family_find(family);
    return f < 0 ? ctx->tune_caps : ctx->tune_opts[f];   /* a family without parameters: the caps */
}

fcl_status fcl_tuning_from_env(fcl_ctx *ctx, fcl_error *err)
{
    const char *env = getenv("FACECL_TUNING");
    fcl_status st;
    for (const char *s = env ? env : ""; *s;) {
        const char *e = strchr(s, ';'), *colon = strchr(s, ':');
        size_t n = e ? (size_t)(e - s) : strlen(s);
        char fam[32], defs[480];
        if (n && (!colon || colon >= s + n || colon == s || (size_t)(colon - s) >= sizeof fam ||
                  (size_t)(s + n - colon - 1) >= sizeof defs))
            return FCL_ERR(err, FCL_ERR_INVALID_ARG, "FACECL_TUNING: entry \"%.*s\" is not family:defines "
                           "(entries separated by ';', e.g. \"loss:-DFCL_ROW_WG=64;pool:-DPOOL_GPU=1\")", (int)n, s);
        if (n) {
            snprintf(fam, sizeof fam, "%.*s", (int)(colon - s), s);
            snprintf(defs, sizeof defs, "%.*s", (int)(s + n - colon - 1), colon + 1);
            if ((st = set_from_text(ctx, "FACECL_TUNING", fam, defs, err))) return st;
        }
        s = e ? e + 1 : s + n;
    }
    return FCL_OK;
}
