/* tools/options.c: table-driven option parsing with range checks; every usage error exits 2. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "eval_common.h"
#include "options.h"

/* "1..100", "(0, 1e+09]", "[0, 1)": the range as a user reads it. */
static void range_text(const tool_option *o, char *buf, size_t size)
{
    if (o->kind == TOOL_OPT_INT || o->kind == TOOL_OPT_LONG)
        snprintf(buf, size, "a whole number in %.0f..%.0f", o->lo, o->hi);
    else
        snprintf(buf, size, "a number in %c%g, %g%c", o->lo_open ? '(' : '[', o->lo, o->hi, o->hi_open ? ')' : ']');
}

static int in_range(const tool_option *o, double v)
{
    if (!isfinite(v)) return 0;
    if (o->lo_open ? !(v > o->lo) : !(v >= o->lo)) return 0;
    if (o->hi_open ? !(v < o->hi) : !(v <= o->hi)) return 0;
    return 1;
}

/* Stores one value; returns 2 (printed) when it is not acceptable. */
static int store(const char *cmd, const tool_option *o, const char *v)
{
    char want[96];
    range_text(o, want, sizeof want);
    switch (o->kind) {
    case TOOL_OPT_FLAG: *(int *)o->dst = 1; return 0;
    case TOOL_OPT_STR:
        if (!*v) return tool_usage_error("%s: %s needs a value, got an empty one", cmd, o->name);
        *(const char **)o->dst = v;
        return 0;
    case TOOL_OPT_INT:
    case TOOL_OPT_LONG: {
        long n;
        /* strtol saturates; the range check below then names the real range (no int cast first) */
        if (tool_parse_int(v, &n) || !in_range(o, (double)n))
            return tool_usage_error("%s: %s needs %s, got '%s'", cmd, o->name, want, v);
        if (o->kind == TOOL_OPT_INT) *(int *)o->dst = (int)n;
        else *(long *)o->dst = n;
        return 0;
    }
    case TOOL_OPT_NUM: {
        double d;
        if (tool_parse_float(v, &d) || !in_range(o, d))
            return tool_usage_error("%s: %s needs %s, got '%s'", cmd, o->name, want, v);
        *(double *)o->dst = d;
        return 0;
    }
    }
    return tool_usage_error("%s: %s: unknown option kind", cmd, o->name);
}

int tool_options_match(const char *cmd, const tool_option *opts, size_t n, int argc, char **argv, int *i)
{
    const char *a = argv[*i];
    for (size_t k = 0; k < n; k++) {
        const tool_option *o = &opts[k];
        size_t len = strlen(o->name);
        if (strncmp(a, o->name, len) || (a[len] != '\0' && a[len] != '=')) continue;
        if (o->kind == TOOL_OPT_FLAG) {
            if (a[len] == '=') return -tool_usage_error("%s: %s takes no value", cmd, o->name);
            *(int *)o->dst = 1;
            return 1;
        }
        const char *v;
        if (a[len] == '=') v = a + len + 1;
        else if (*i + 1 >= argc) return -tool_usage_error("%s: %s needs a value (it is the last argument)", cmd, o->name);
        else v = argv[++*i];
        return store(cmd, o, v) ? -2 : 1;
    }
    return 0;
}

int tool_options_parse(const char *cmd, void (*usage)(FILE *), const tool_option *opts, size_t n, int argc,
                       char **argv, int first, const char **positional, int max_positional, int *n_positional)
{
    for (int i = first; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return TOOL_PARSE_HELP;
        }
    int np = 0;
    for (int i = first; i < argc; i++) {
        int m = tool_options_match(cmd, opts, n, argc, argv, &i);
        if (m < 0) return 2;
        if (m > 0) continue;
        const char *a = argv[i];
        if (a[0] == '-' && a[1]) return tool_usage_error("%s: unknown option '%s' (see facecl %s --help)", cmd, a, cmd);
        if (np >= max_positional)
            return max_positional ? tool_usage_error("%s: unexpected argument '%s'", cmd, a)
                                  : tool_usage_error("%s: unexpected argument '%s' (options start with --)", cmd, a);
        positional[np++] = a;
    }
    if (n_positional) *n_positional = np;
    return 0;
}

int tool_old_opts_match(const char *cmd, const tool_old_opt *opts, size_t n, void (*usage)(FILE *), int argc,
                        char **argv, int *i)
{
    const char *arg = argv[*i], *v = NULL;
    int bad = 0;
    if (usage && (!strcmp(arg, "--help") || !strcmp(arg, "-h"))) {
        usage(stdout);
        return TOOL_OLD_HELP;
    }
    for (size_t k = 0; k < n; k++) {
        const tool_old_opt *o = &opts[k];
        if (o->flag) {
            if (strcmp(arg, o->name)) continue;
            *o->flag = 1;
        } else if (!tool_opt(argc, argv, i, o->name, &v, &bad)) {
            continue;
        } else if (o->str) {
            if (bad) return TOOL_OLD_ERROR;
            *o->str = v;
        } else if (bad || tool_parse_int(v, o->num) || *o->num < 1 || *o->num > o->hi) {
            return -tool_usage_error("%s: %s needs a whole number in 1..%ld", cmd, arg, o->hi);
        }
        return TOOL_OLD_STORED;
    }
    if (!usage) return TOOL_OLD_NONE;
    usage(stderr);
    return -tool_usage_error("%s: unknown option '%s'", cmd, arg);
}

void tool_embed_args_init(tool_embed_args *a)
{
    memset(a, 0, sizeof *a);
    a->batch = 32;
    a->workers = 2;
}

int tool_embed_args_tta(const tool_embed_args *a, int *flip)
{
    *flip = 0;
    return a->tta ? tool_parse_tta(a->tta, flip) : 0;
}
