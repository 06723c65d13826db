/* tools/common.c: option parsing, error printing and context creation shared by the subcommands. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "commands.h"
#include "dist_cli.h"

int tool_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "facecl: error: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    return 1;
}

int tool_fail_err(const fcl_error *e)
{
    fprintf(stderr, "facecl: error: %s\n", e->msg[0] ? e->msg : fcl_status_name(e->status));
    return 1;
}

int tool_opt(int argc, char **argv, int *i, const char *name, const char **value, int *bad)
{
    const char *a = argv[*i];
    size_t n = strlen(name);
    if (strncmp(a, name, n)) return 0;
    if (a[n] == '=') {
        *value = a + n + 1;
        return 1;
    }
    if (a[n] != '\0') return 0;
    if (*i + 1 >= argc) {
        fprintf(stderr, "facecl: error: option %s needs a value\n", name);
        *bad = 1;
        return 1;
    }
    *value = argv[++*i];
    return 1;
}

int tool_parse_int(const char *s, long *out)
{
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (!*s || *end || errno) return -1;
    *out = v;
    return 0;
}

int tool_parse_float(const char *s, double *out)
{
    char *end = NULL;
    errno = 0;
    double v = strtod(s, &end);
    if (!*s || *end || errno) return -1;
    *out = v;
    return 0;
}

double tool_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void tool_ctx_warn(const fcl_ctx *ctx)
{
    const char *w = fcl_ctx_warning(ctx);
    if (w) fprintf(stderr, "facecl: warning: %s\n", w);
}

fcl_ctx *tool_ctx_open(const fcl_ctx_opts *opts, fcl_dist *dist)
{
    fcl_error err = {0};
    fcl_ctx *ctx = NULL;
    if (fcl_ctx_create(&ctx, opts, &err)) {
        tool_dist_fail(dist, &err);
        return NULL;
    }
    tool_ctx_warn(ctx);
    return ctx;
}

fcl_ctx *tool_ctx(const char *device, int profiling)
{
    fcl_ctx_opts opts = {0};
    opts.device = device;
    opts.profiling = profiling;
    return tool_ctx_open(&opts, NULL);
}

fcl_model *tool_model_load(const char *name, const fcl_model_opts *opts)
{
    fcl_error err = {0};
    char path[1024];
    fcl_model *m = NULL;
    if (fcl_model_find(name, tool_models_dir(), path, sizeof path, &err) || fcl_model_load_file(path, opts, &m, &err)) {
        tool_fail_err(&err);
        return NULL;
    }
    return m;
}

char *tool_dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash) return strdup(".");
    if (slash == path) return strdup("/");
    return strndup(path, (size_t)(slash - path));
}

const char *tool_models_dir(void)
{
    /* The installed models, else (running from a build tree) the source tree's. */
    struct stat sb;
    if (stat(FACECL_MODELS_DIR, &sb) == 0 && S_ISDIR(sb.st_mode)) return FACECL_MODELS_DIR;
    return FACECL_SOURCE_MODELS_DIR;
}
