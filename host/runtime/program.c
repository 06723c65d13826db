/* host/runtime/program.c: building OpenCL programs once per (context, source, options), with a disk cache. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/embedded.h"
#include "runtime/internal.h"

/* Returns the source text: from $FACECL_CL_DIR/<name> when set (editing kernels without a
 * rebuild), else the copy embedded at build time. *owned tells the caller to free it. */
static fcl_status load_source(fcl_ctx *ctx, const char *name, const char **text, size_t *len, char **owned)
{
    *owned = NULL;
    const char *dir = getenv("FACECL_CL_DIR");
    if (dir && *dir) {
        char path[1200];
        snprintf(path, sizeof path, "%s/%s", dir, name);
        FILE *f = fopen(path, "rb");
        if (!f) return FCL_ERR(&ctx->err, FCL_ERR_IO, "FACECL_CL_DIR is set but %s cannot be opened", path);
        fseek(f, 0, SEEK_END);
        long n = ftell(f);
        fseek(f, 0, SEEK_SET);
        char *buf = n >= 0 ? malloc((size_t)n + 1) : NULL;
        if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) {
            fclose(f);
            free(buf);
            return FCL_ERR(&ctx->err, FCL_ERR_IO, "cannot read %s", path);
        }
        fclose(f);
        buf[n] = '\0';
        *owned = buf;
        *text = buf;
        *len = (size_t)n;
        return FCL_OK;
    }
    for (const fcl_embedded_source *s = fcl_embedded_sources; s->name; s++) {
        if (!strcmp(s->name, name)) {
            *text = s->data;
            *len = s->len;
            return FCL_OK;
        }
    }
    return FCL_ERR(&ctx->err, FCL_ERR_INVALID_ARG, "no embedded OpenCL source named '%s' (files in cl/ are embedded at build time)", name);
}

/* The shared kernel preamble (cl/preamble.cl), put in front of every program. From
 * $FACECL_CL_DIR when that folder has one, else the embedded copy, so a folder holding only the
 * kernels being edited still builds. */
#define FCL_PREAMBLE "preamble.cl"

static fcl_status load_preamble(fcl_ctx *ctx, const char **text, size_t *len, char **owned)
{
    const char *dir = getenv("FACECL_CL_DIR");
    char path[1200];
    FILE *f = NULL;
    if (dir && *dir) {
        snprintf(path, sizeof path, "%s/%s", dir, FCL_PREAMBLE);
        f = fopen(path, "rb");
    }
    if (f) {
        fclose(f);
        return load_source(ctx, FCL_PREAMBLE, text, len, owned);
    }
    *owned = NULL;
    for (const fcl_embedded_source *s = fcl_embedded_sources; s->name; s++)
        if (!strcmp(s->name, FCL_PREAMBLE)) {
            *text = s->data;
            *len = s->len;
            return FCL_OK;
        }
    return FCL_ERR(&ctx->err, FCL_ERR_INTERNAL, "the kernel preamble %s is not embedded", FCL_PREAMBLE);
}

/* Appends t[0..tl) and a newline to the growing text *all of *total bytes; frees own. */
static fcl_status append(fcl_ctx *ctx, char **all, size_t *total, const char *t, size_t tl, char *own)
{
    char *grown = realloc(*all, *total + tl + 2);
    if (!grown) {
        free(own);
        return FCL_ERR(&ctx->err, FCL_ERR_NOMEM, "out of host memory");
    }
    *all = grown;
    memcpy(grown + *total, t, tl);
    *total += tl;
    grown[(*total)++] = '\n';
    grown[*total] = '\0';
    free(own);
    return FCL_OK;
}

/* The program text of a '+'-joined list of names ("reduce.cl+loss.cl"): the preamble, then the
 * files concatenated in order, so a shared part (reduce.cl) can come first. */
static fcl_status load_sources(fcl_ctx *ctx, const char *names, const char **text, size_t *len, char **owned)
{
    char *all = NULL, *own, name[256];
    size_t total = 0, tl;
    const char *t;
    fcl_status st = load_preamble(ctx, &t, &tl, &own);
    if (!st) st = append(ctx, &all, &total, t, tl, own);
    for (const char *s = names; !st && *s;) {
        const char *e = strchr(s, '+');
        size_t n = e ? (size_t)(e - s) : strlen(s);
        if (n >= sizeof name) {
            st = FCL_ERR(&ctx->err, FCL_ERR_INVALID_ARG, "source name too long in '%s'", names);
            break;
        }
        memcpy(name, s, n);
        name[n] = '\0';
        if (!(st = load_source(ctx, name, &t, &tl, &own))) st = append(ctx, &all, &total, t, tl, own);
        s = e ? e + 1 : s + n;
    }
    if (st) {
        free(all);
        return st;
    }
    *owned = all;
    *text = all;
    *len = total;
    return FCL_OK;
}

/* Build log of a failed build, appended to the error so the user sees the compiler's words. */
static fcl_status build_failure(fcl_ctx *ctx, cl_program prog, cl_int rc, const char *name, const char *opts)
{
    char log[6000] = "";
    size_t n = 0;
    clGetProgramBuildInfo(prog, ctx->dev.device_id, CL_PROGRAM_BUILD_LOG, sizeof log - 1, log, &n);
    log[sizeof log - 1] = '\0';
    return FCL_ERR(&ctx->err, FCL_ERR_BUILD, "clBuildProgram(%s, \"%s\") on %s: %s\nbuild log:\n%s", name, opts,
                   ctx->dev.name, fcl_cl_error_name(rc), log);
}

static char *xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

/* Whether facecl keeps its own disk copy of this device's programs: not on PoCL while PoCL's own
 * kernel cache is on (POCL_KERNEL_CACHE unset or not 0, PoCL's default; POCL_CACHE_DIR or
 * ~/.cache/pocl), which already keeps each program by source and options and every kernel compiled
 * for a work-group size, so a later process builds from it without compiling. A facecl copy adds
 * nothing there and made most of a cold build: PoCL's clGetProgramInfo(CL_PROGRAM_BINARIES), which
 * to_cache needs, compiles every kernel of the program for a generic work-group size (the 33 of
 * conv.cl for a test or network that launches a few), on top of the sizes launched. PoCL 3.1,
 * 2-core Zen 3, cold caches, CPU s: test_ops_conv --filter conv2d/dense 23.6 -> 8.9, test_ops_bn
 * 42.6 -> 27.3, test_ops_loss 52.5 -> 22.1, test_ops_conv_implicit 63.3 -> 33.7. With
 * POCL_KERNEL_CACHE=0 PoCL keeps nothing, so facecl's copy is back (and that first build pays for
 * every kernel). "pocl" (any case) is only in PoCL's platform version (host/runtime/device.c). */
int fcl_ctx_driver_kernel_cache(const fcl_ctx *ctx)
{
    const char *pocl_cache = getenv("POCL_KERNEL_CACHE");
    return strcasestr(ctx->dev.platform_version, "pocl") && !(pocl_cache && !strcmp(pocl_cache, "0"));
}

static int own_disk_cache(const fcl_ctx *ctx) { return ctx->cache_dir[0] && !fcl_ctx_driver_kernel_cache(ctx); }

/* Tries to make a program from a cached binary; returns NULL (and no error) if anything fails. */
static cl_program from_cache(fcl_ctx *ctx, const char *key, const char *opts)
{
    unsigned char *bin = NULL;
    size_t len = 0;
    if (!own_disk_cache(ctx) || fcl_disk_cache_load(ctx->cache_dir, key, &bin, &len)) return NULL;
    cl_int rc = CL_SUCCESS, bin_rc = CL_SUCCESS;
    const unsigned char *bins[1] = {bin};
    cl_program p = clCreateProgramWithBinary(ctx->context, 1, &ctx->dev.device_id, &len, bins, &bin_rc, &rc);
    free(bin);
    if (rc != CL_SUCCESS || bin_rc != CL_SUCCESS) {
        if (p) clReleaseProgram(p);
        return NULL;
    }
    if (clBuildProgram(p, 1, &ctx->dev.device_id, opts, NULL, NULL) != CL_SUCCESS) {
        clReleaseProgram(p);
        return NULL;
    }
    return p;
}

static void to_cache(fcl_ctx *ctx, cl_program p, const char *key)
{
    size_t len = 0;
    if (!own_disk_cache(ctx)) return;
    if (clGetProgramInfo(p, CL_PROGRAM_BINARY_SIZES, sizeof len, &len, NULL) != CL_SUCCESS || len == 0) return;
    unsigned char *bin = malloc(len);
    if (!bin) return;
    unsigned char *bins[1] = {bin};
    if (clGetProgramInfo(p, CL_PROGRAM_BINARIES, sizeof bins, bins, NULL) == CL_SUCCESS)
        fcl_disk_cache_store(ctx->cache_dir, key, bin, len);
    free(bin);
}

/* The program text without its comments (a space each), string literals kept whole (a "/ *" in
 * an #error message is no comment). NULL: out of memory. */
static char *without_comments(const char *t, size_t len)
{
    char *out = malloc(len + 1), *o = out;
    if (!out) return NULL;
    for (size_t i = 0; i < len;) {
        if (t[i] == '/' && i + 1 < len && t[i + 1] == '*') {
            const char *end = strstr(t + i + 2, "*" "/");
            i = end ? (size_t)(end - t) + 2 : len;
            *o++ = ' ';
        } else if (t[i] == '/' && i + 1 < len && t[i + 1] == '/') {
            while (i < len && t[i] != '\n') i++;
        } else if (t[i] == '"') {
            *o++ = t[i++];
            while (i < len && t[i] != '"' && t[i] != '\n') {
                if (t[i] == '\\' && i + 1 < len) *o++ = t[i++];
                *o++ = t[i++];
            }
            if (i < len) *o++ = t[i++];
        } else {
            *o++ = t[i++];
        }
    }
    *o = '\0';
    return out;
}

/* 1: name is a tuning parameter's (host/runtime/tuning_table.c) */
static int tuning_name(const char *name)
{
    for (int f = 0; f < FCL_TF_COUNT; f++)
        if (fcl_tune_param_find((fcl_tune_family)f, name) >= 0) return 1;
    return 0;
}

/* options without the "-DNAME..." tuning entries whose NAME the program's code (comments aside)
 * never mentions (a family's options name all of its tuning values, most programs read a few;
 * other options, e.g. an op's own defines, all stay): such a
 * define cannot change the program, and leaving it out lets a tuning change rebuild only the
 * programs that read the changed value (`facecl tune` tries one value at a time; a whole step's
 * programs took minutes to rebuild on a loaded 2-core CPU). No kernel source forms a tuning name
 * by token pasting. NULL: out of memory. */
static char *used_options(const char *text, size_t len, const char *options)
{
    size_t n = strlen(options), used = 0;
    char *out = malloc(n + 1), name[128], *code = without_comments(text, len);
    if (!out || !code) {
        free(out);
        free(code);
        return NULL;
    }
    text = code;
    for (const char *s = options; *s;) {
        size_t sp = strspn(s, " \t"), tl = strcspn(s + sp, " \t");
        const char *tok = s + sp;
        s = tok + tl;
        if (!tl) break;
        size_t nl = strcspn(tok, "= \t");
        if (tl > 2 && !strncmp(tok, "-D", 2) && nl - 2 < sizeof name) {
            memcpy(name, tok + 2, nl - 2);
            name[nl - 2] = '\0';
            if (!strstr(text, name) && tuning_name(name)) continue;
        }
        used += (size_t)sprintf(out + used, "%s%.*s", used ? " " : "", (int)tl, tok);
    }
    out[used] = '\0';
    free(code);
    return out;
}

/* A new entry for (source_name, options) holding prog (owned by the entry) built with `built`. */
static fcl_status add_entry(fcl_ctx *ctx, const char *source_name, const char *options, const char *built,
                            cl_program prog)
{
    if (ctx->n_progs == ctx->cap_progs) {
        size_t cap = ctx->cap_progs ? ctx->cap_progs * 2 : 16;
        fcl_prog_entry *np = realloc(ctx->progs, cap * sizeof *np);
        if (!np) return FCL_ERR(&ctx->err, FCL_ERR_NOMEM, "out of host memory");
        ctx->progs = np;
        ctx->cap_progs = cap;
    }
    fcl_prog_entry *e = &ctx->progs[ctx->n_progs];
    memset(e, 0, sizeof *e);
    e->source_name = xstrdup(source_name);
    e->options = xstrdup(options);
    e->built = xstrdup(built);
    if (!e->source_name || !e->options || !e->built) {
        free(e->source_name);
        free(e->options);
        free(e->built);
        return FCL_ERR(&ctx->err, FCL_ERR_NOMEM, "out of host memory");
    }
    e->program = prog;
    ctx->n_progs++;
    return FCL_OK;
}

fcl_status fcl_program_get(fcl_ctx *ctx, const char *source_name, const char *options, cl_program *out)
{
    fcl_status st = FCL_OK;
    char *owned = NULL, *key = NULL, *full_opts = NULL, *built = NULL;
    cl_program prog = NULL;
    if (!options) options = "";
    const char *raw = options; /* the entry's key; the program is built with `built` */
    *out = NULL;

    for (size_t i = 0; i < ctx->n_progs; i++) {
        if (!strcmp(ctx->progs[i].source_name, source_name) && !strcmp(ctx->progs[i].options, options)) {
            *out = ctx->progs[i].program;
            ctx->last_origin = 2;
            return FCL_OK;
        }
    }

    const char *text = NULL;
    size_t len = 0;
    st = load_sources(ctx, source_name, &text, &len, &owned);
    if (st) goto done;
    built = used_options(text, len, options);
    if (!built) { st = FCL_ERR(&ctx->err, FCL_ERR_NOMEM, "out of host memory"); goto done; }
    /* the same program under other values of defines it does not read: share it (the first
     * entry of a program keeps its kernels, fcl_kernel_get) */
    for (size_t i = 0; i < ctx->n_progs; i++) {
        if (!strcmp(ctx->progs[i].source_name, source_name) && !strcmp(ctx->progs[i].built, built)) {
            cl_program same = ctx->progs[i].program;
            cl_int rc = clRetainProgram(same);
            if (rc != CL_SUCCESS) {
                st = fcl_cl_fail(ctx, rc, __FILE__, __LINE__, "clRetainProgram(%s)", source_name);
                goto done;
            }
            if ((st = add_entry(ctx, source_name, options, built, same))) {
                clReleaseProgram(same);
                goto done;
            }
            *out = same;
            ctx->last_origin = 2;
            goto done;
        }
    }
    options = built;

    /* OpenCL C 1.2 is the baseline; a caller who queried the device may ask for more itself. -w
     * (OpenCL's own option, 5.8.4.4): PoCL's compiler prints warnings to the process's stderr
     * ("N warnings generated."), e.g. clang's -Wpsabi for every float16 builtin call on a CPU without
     * AVX-512, and the library prints nothing; errors and their build log still come back. */
    size_t olen = strlen(options) + 64;
    full_opts = malloc(olen);
    if (!full_opts) { st = FCL_ERR(&ctx->err, FCL_ERR_NOMEM, "out of host memory"); goto done; }
    snprintf(full_opts, olen, "-w %s%s", strstr(options, "-cl-std=") ? "" : "-cl-std=CL1.2 ", options);

    size_t klen = strlen(full_opts) + strlen(source_name) + 3000;
    key = malloc(klen);
    if (!key) { st = FCL_ERR(&ctx->err, FCL_ERR_NOMEM, "out of host memory"); goto done; }
    snprintf(key, klen, "facecl-program-v1\nplatform=%s %s\ndevice=%s\ndriver=%s\nversion=%s\nsource=%s %zu %016llx\noptions=%s\n",
             ctx->dev.platform, ctx->dev.platform_version, ctx->dev.name, ctx->dev.driver, ctx->dev.device_version,
             source_name, len, (unsigned long long)fcl_hash64(text, len, 0), full_opts);

    prog = from_cache(ctx, key, full_opts);
    if (prog) {
        ctx->last_origin = 1;
    } else {
        cl_int rc = CL_SUCCESS;
        prog = clCreateProgramWithSource(ctx->context, 1, &text, &len, &rc);
        if (rc != CL_SUCCESS) {
            st = fcl_cl_fail(ctx, rc, __FILE__, __LINE__, "clCreateProgramWithSource(%s)", source_name);
            goto done;
        }
        rc = clBuildProgram(prog, 1, &ctx->dev.device_id, full_opts, NULL, NULL);
        if (rc != CL_SUCCESS) {
            st = build_failure(ctx, prog, rc, source_name, full_opts);
            goto done;
        }
        to_cache(ctx, prog, key);
        ctx->last_origin = 0;
    }

    if ((st = add_entry(ctx, source_name, raw, built, prog))) goto done;
    *out = prog;
    prog = NULL;
done:
    if (prog) clReleaseProgram(prog);
    free(owned);
    free(key);
    free(full_opts);
    free(built);
    return st;
}

fcl_status fcl_kernel_get(fcl_ctx *ctx, const char *source_name, const char *kernel_name, const char *options,
                          cl_kernel *out)
{
    cl_program prog = NULL;
    *out = NULL;
    fcl_status st = fcl_program_get(ctx, source_name, options, &prog);
    if (st) return st;
    fcl_prog_entry *e = NULL;
    for (size_t i = 0; i < ctx->n_progs && !e; i++)
        if (ctx->progs[i].program == prog) e = &ctx->progs[i];
    if (!e) return FCL_ERR(&ctx->err, FCL_ERR_INTERNAL, "program of %s vanished from the cache", source_name);
    for (size_t k = 0; k < e->n_kernels; k++) {
        if (!strcmp(e->kernels[k].name, kernel_name)) {
            *out = e->kernels[k].kernel;
            return FCL_OK;
        }
    }
    cl_int rc = CL_SUCCESS;
    cl_kernel k = clCreateKernel(prog, kernel_name, &rc);
    if (rc != CL_SUCCESS) return fcl_cl_fail(ctx, rc, __FILE__, __LINE__, "clCreateKernel(%s in %s)", kernel_name, source_name);
    void *nk = realloc(e->kernels, (e->n_kernels + 1) * sizeof *e->kernels);
    char *name = xstrdup(kernel_name);
    if (!nk || !name) {
        if (nk) e->kernels = nk;
        free(name);
        clReleaseKernel(k);
        return FCL_ERR(&ctx->err, FCL_ERR_NOMEM, "out of host memory");
    }
    e->kernels = nk;
    e->kernels[e->n_kernels].name = name;
    e->kernels[e->n_kernels].kernel = k;
    e->n_kernels++;
    *out = k;
    return FCL_OK;
}

static const char *kernel_name_of(cl_kernel k, char *buf, size_t size)
{
    buf[0] = '\0';
    if (clGetKernelInfo(k, CL_KERNEL_FUNCTION_NAME, size - 1, buf, NULL) != CL_SUCCESS) snprintf(buf, size, "?");
    buf[size - 1] = '\0';
    return buf;
}

fcl_status fcl_kernel_arg(fcl_ctx *ctx, cl_kernel k, unsigned index, size_t size, const void *value)
{
    cl_int rc = clSetKernelArg(k, index, size, value);
    if (rc == CL_SUCCESS) return FCL_OK;
    char name[128];
    return fcl_cl_fail(ctx, rc, __FILE__, __LINE__, "clSetKernelArg(%s, arg %u)", kernel_name_of(k, name, sizeof name), index);
}

fcl_status fcl_kernel_run(fcl_ctx *ctx, cl_kernel k, unsigned dims, const size_t *global, const size_t *local)
{
    size_t g[3];
    if (dims < 1 || dims > 3) return FCL_ERR(&ctx->err, FCL_ERR_INVALID_ARG, "fcl_kernel_run: dims must be 1..3, got %u", dims);
    for (unsigned i = 0; i < dims; i++) {
        if (global[i] == 0) return FCL_OK; /* nothing to do (an empty tensor) */
        size_t l = local ? local[i] : 1;
        g[i] = (global[i] + l - 1) / l * l;
    }
    cl_event ev = NULL;
    char name[128];
    cl_int rc = clEnqueueNDRangeKernel(ctx->queue, k, dims, NULL, g, local, 0, NULL, ctx->profiling ? &ev : NULL);
    if (rc == CL_SUCCESS) return ev ? fcl_profile_record(ctx, ev, kernel_name_of(k, name, sizeof name)) : FCL_OK;
    return fcl_cl_fail(ctx, rc, __FILE__, __LINE__, "clEnqueueNDRangeKernel(%s)", kernel_name_of(k, name, sizeof name));
}
