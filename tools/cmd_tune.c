/* tools/cmd_tune.c: `facecl tune`: searches CLBlast's GEMM parameters and every kernel family's on a network's real shapes, bounded, resumable, into the per-device tuning cache. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench.h"
#include "commands.h"
#include "options.h"
#include "tune.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: facecl tune [--model resnet18] [--size 112] [--batch 32] [--classes 1000] [--stem imagenet|face]\n"
            "                   [--channels 3] [--head-classes 8631,10575] [--head-batch 128] [--budget 540]\n"
            "                   [--reps 3] [--clock wall|cpu] [--only gemm|kernels|heads] [--restart] [--device SEL]\n"
            "       facecl tune --show [--device SEL]\n\n"
            "Measures, on this device, CLBlast's GEMM parameters (Xgemm tiles and vector widths, and the size\n"
            "below which its direct kernel runs) on the GEMMs of the model's linear layers and of margin heads /\n"
            "classifiers from its embedding to each --head-classes at --head-batch (forward, and both backward\n"
            "GEMMs), then every kernel family's parameters (conv register blocks and work-groups, vector widths,\n"
            "...) on whole training steps of the model at --size and --batch, then the parameters of the kernels\n"
            "that only margin heads and linear classifiers run (dx = D W, the weights' gradient blocks) on ArcFace\n"
            "heads from its embedding to each --head-classes at --head-batch, forward and backward (the last\n"
            "15%% of the budget; none with --head-classes none). Every candidate is first run once and\n"
            "compared with its stage's start (the defaults and the head stage's values; for the heads, the\n"
            "kernel stage's choice): a wrong one is rejected, never chosen; then it is timed --reps times\n"
            "(the median is kept; the machine may be shared and noisy: a value is kept only when it is\n"
            "more than 3%% faster; --clock cpu times by the process's CPU time instead of the wall clock, which\n"
            "other processes on a shared machine disturb less, but which cannot see a candidate that leaves\n"
            "a core idle: prefer the wall clock on a quiet machine). Stops starting candidates after --budget\n"
            "seconds (default 540).\n\n"
            "Results go to this device's tuning cache (the cache folder, $FACECL_CACHE_DIR), saved atomically\n"
            "after every candidate: an interrupted run continues where it stopped when re-run with the same\n"
            "options (--restart forgets earlier measurements). Every facecl command applies the cache when it\n"
            "creates its context; a cache made for another device, driver or facecl version, or damaged, is\n"
            "ignored with a warning. FACECL_NO_TUNE=1 runs without it (the default table). The cache holds one\n"
            "choice per device, whatever model each command runs: tuning another model (or another --size or\n"
            "--batch) replaces the choice, keeping the earlier measurements for a later re-run.\n");
}

int tune_save(tune_run *t)
{
    fcl_error e = {0};
    if (!fcl_tune_cache_write(t->path, &t->cache, &e)) return 0;
    fprintf(stderr, "facecl: error: %s\n", e.msg);
    return -1;
}

int tune_record(tune_run *t, const char *task, const char *cand, double ms)
{
    fcl_error e = {0};
    if (fcl_tune_cache_measured(&t->cache, task, cand, ms, &e)) {
        fprintf(stderr, "facecl: error: %s\n", e.msg);
        return -1;
    }
    t->measured++;
    return 0;
}

int tune_out_of_time(const tune_run *t, double need_s) { return tool_now_s() + need_s > t->deadline; }
double tune_elapsed(const tune_run *t) { return tool_now_s() - t->start; }


static double cpu_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

fcl_status tune_time_cut(const tune_run *t, tune_fn fn, void *u, int reps, double cut_ms, double *median_ms)
{
    double v[64];
    if (reps > 64) reps = 64;
    for (int r = 0; r < reps; r++) {
        double t0 = t->cpu_clock ? cpu_now_s() : tool_now_s();
        fcl_status st = fn(u);
        if (!st) st = fcl_ctx_finish(t->ctx);
        if (st) return st;
        v[r] = 1e3 * ((t->cpu_clock ? cpu_now_s() : tool_now_s()) - t0);
        if (r == 0 && cut_ms > 0 && v[0] > cut_ms) reps = 1; /* clearly slower: the rest cannot help it */
    }
    qsort(v, (size_t)reps, sizeof v[0], bench_cmp_double);
    *median_ms = v[reps / 2];
    return FCL_OK;
}

fcl_status tune_time(const tune_run *t, tune_fn fn, void *u, int reps, double *median_ms)
{
    return tune_time_cut(t, fn, u, reps, 0, median_ms);
}

fcl_status tune_fill(fcl_ctx *ctx, fcl_tensor *t, float *h, size_t n, unsigned salt)
{
    for (size_t i = 0; i < n; i++) h[i] = (float)((i * 2654435761u + salt) % 2001u) / 1000.0f - 1.0f;
    return fcl_tensor_upload(ctx, t, h, n);
}

double tune_rel_err(const float *a, const float *b, size_t n)
{
    double top = 0, diff = 0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)a[i] - (double)b[i], m = b[i] < 0 ? -(double)b[i] : (double)b[i];
        if (!(d == d) || !(m == m) || d > 1e30 || d < -1e30) return 1e300;
        if (d < 0) d = -d;
        if (d > diff) diff = d;
        if (m > top) top = m;
    }
    return top > 0 ? diff / top : diff;
}

/* "8631,10575" -> list (at most max entries, each 1..1e6). */
static int parse_list(const char *s, int *out, int max)
{
    int n = 0;
    char buf[256];
    snprintf(buf, sizeof buf, "%s", s);
    if (!strcmp(buf, "none")) return 0;
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        long v;
        if (n == max || tool_parse_int(tok, &v) || v < 1 || v > 1000000) return -1;
        out[n++] = (int)v;
    }
    return n ? n : -1;
}

/* The cache's chosen sets, one line each: "  kernel conv: CONV_MB=12 ..." / "  clblast Xgemm: ...". */
static void print_sets(const fcl_tune_cache *c)
{
    for (size_t i = 0; i < c->n_sets; i++) {
        printf("  %s %s:", c->sets[i].kind == FCL_TUNE_CLBLAST ? "clblast" : "kernel", c->sets[i].target);
        for (int j = 0; j < c->sets[i].n; j++) printf(" %s=%ld", c->sets[i].names[j], c->sets[i].values[j]);
        printf("\n");
    }
}

static int show(const char *device)
{
    fcl_ctx *ctx = tool_ctx(device, 0);
    if (!ctx) return 1;
    char path[1200], key[1400];
    fcl_tune_cache_path(ctx, path, sizeof path);
    fcl_tune_cache_key(ctx, key, sizeof key);
    printf("device: %s\ntuning cache: %s\n", fcl_ctx_device(ctx)->name, path[0] ? path : "(no cache folder)");
    fcl_tune_cache c;
    fcl_error e = {0};
    fcl_status st = path[0] ? fcl_tune_cache_read(path, key, &c, &e) : FCL_ERR_IO;
    if (st == FCL_ERR_IO) printf("not tuned: the default table is used\n");
    else if (st) printf("not used: %s\n", e.msg);
    else {
        printf("%zu measurements; applied by this context: %d set(s)\n", c.n_meas, fcl_ctx_tune_applied(ctx));
        print_sets(&c);
        fcl_tune_cache_free(&c);
    }
    fcl_ctx_destroy(ctx);
    return 0;
}

int fcl_cmd_tune(int argc, char **argv)
{
    const char *model = "resnet18", *stem = NULL, *device = NULL, *only = NULL, *v;
    long size = 112, batch = 32, classes = 1000, channels = 3, head_batch = 128, budget = 540, reps = 3;
    int heads[16] = {8631, 10575}, n_heads = 2, bad = 0, restart = 0, do_show = 0, rc = 1, cpu_clock = 0;
    const tool_old_opt opts[] = {TOOL_OLD_FLAG("--restart", &restart),     TOOL_OLD_FLAG("--show", &do_show),
                                 TOOL_OLD_STR("--model", &model),          TOOL_OLD_STR("--stem", &stem),
                                 TOOL_OLD_STR("--device", &device),        TOOL_OLD_NUM("--size", &size, 1000000),
                                 TOOL_OLD_NUM("--batch", &batch, 1000000), TOOL_OLD_NUM("--classes", &classes, 1000000),
                                 TOOL_OLD_NUM("--channels", &channels, 1000000),
                                 TOOL_OLD_NUM("--head-batch", &head_batch, 1000000),
                                 TOOL_OLD_NUM("--budget", &budget, 1000000), TOOL_OLD_NUM("--reps", &reps, 64)};
    for (int i = 1; i < argc; i++) {
        if (tool_opt(argc, argv, &i, "--clock", &v, &bad)) {
            if (bad || (strcmp(v, "wall") && strcmp(v, "cpu"))) return tool_usage_error("tune: --clock wall|cpu");
            cpu_clock = !strcmp(v, "cpu");
            continue;
        }
        if (tool_opt(argc, argv, &i, "--only", &v, &bad)) {
            if (bad || (strcmp(v, "gemm") && strcmp(v, "kernels") && strcmp(v, "heads")))
                return tool_usage_error("tune: --only gemm|kernels|heads");
            only = v;
            continue;
        }
        if (tool_opt(argc, argv, &i, "--head-classes", &v, &bad)) {
            if (bad || (n_heads = parse_list(v, heads, 16)) < 0)
                return tool_usage_error("tune: --head-classes needs a list like 8631,10575 (or none)");
            continue;
        }
        int m = tool_old_opts_match("tune", opts, sizeof opts / sizeof opts[0], usage, argc, argv, &i);
        if (m != TOOL_OLD_STORED) return m == TOOL_OLD_HELP ? 0 : 2;
    }
    if (do_show) return show(device);
    if (batch < 2) return tool_usage_error("tune: --batch must be >= 2 (batch norm in training)");

    fcl_model_opts mo;
    fcl_model_opts_init(&mo);
    mo.size = (int)size;
    mo.channels = (int)channels;
    mo.classes = (int)classes;
    mo.stem = stem;
    fcl_model *m = tool_model_load(model, &mo);
    if (!m) return 1;
    /* the search starts from the defaults: this process must not apply an earlier result */
    setenv("FACECL_NO_TUNE", "1", 1);
    tune_run t;
    memset(&t, 0, sizeof t);
    t.start = tool_now_s();
    t.deadline = t.start + (double)budget;
    t.reps = (int)reps;
    t.cpu_clock = cpu_clock;
    t.ctx = tool_ctx(device, 0);
    if (!t.ctx) goto done;
    char key[sizeof t.cache.key];
    fcl_tune_cache_key(t.ctx, key, sizeof key);
    fcl_tune_cache_path(t.ctx, t.path, sizeof t.path);
    fcl_tune_cache_init(&t.cache, key);
    if (!t.path[0]) {
        tool_fail("tune: no usable cache folder (set FACECL_CACHE_DIR to a writable folder; FACECL_NO_CACHE is off?)");
        goto done;
    }
    if (!restart) {
        fcl_error e = {0};
        fcl_status st = fcl_tune_cache_read(t.path, key, &t.cache, &e);
        if (st && st != FCL_ERR_IO) fprintf(stderr, "facecl: warning: starting afresh: %s\n", e.msg);
        else if (!st)
            fprintf(stderr, "facecl tune: continuing from %s (%zu measurements, %zu chosen set(s): the stages run now "
                    "replace theirs)\n", t.path, t.cache.n_meas, t.cache.n_sets);
    }
    fprintf(stderr, "facecl tune: %s at %ldx%ld, batch %ld, on %s; budget %lds, median of %ld (%s time); cache %s\n",
            m->name, size, size, batch, fcl_ctx_device(t.ctx)->name, budget, reps, cpu_clock ? "CPU" : "wall", t.path);
    fprintf(stderr, "facecl tune: timings on a shared machine are noisy: a value is kept only when >3%% faster\n");
    if (!only || !strcmp(only, "gemm")) {
        tune_gemm_opts go = {m, (int)batch, heads, n_heads, (int)head_batch};
        /* the rest for the kernel families. On the CPU kernels (CONV_GPU 0) CLBlast runs only a
         * network's small classifier, and only if the kernel stage picks CONV_LINEAR 0, while a
         * CLBlast candidate costs ~60 s of compiling on a loaded 2-core Zen 3: 20% there. */
        double share = only ? 1.0 : fcl_tuning_default(t.ctx, FCL_T_CONV_GPU) ? 0.45 : 0.2;
        if (tune_gemm(&t, &go, t.start + share * (double)budget)) goto done;
    }
    /* the head stage's share: its candidates are a few heads' steps (tens of ms) plus a build */
    int heads_run = n_heads > 0 && (!only || !strcmp(only, "heads"));
    if (!only || !strcmp(only, "kernels")) {
        tune_kernel_opts ko = {m, (int)batch, t.deadline - (heads_run && !only ? 0.15 * (double)budget : 0.0)};
        if (tune_kernels(&t, &ko)) goto done;
    }
    if (heads_run) {
        tune_head_opts ho = {m->embedding_dim, heads, n_heads, (int)head_batch};
        if (tune_heads(&t, &ho)) goto done;
    }
    printf("tuning cache %s: %zu set(s), %d new measurement(s), %d reused, %.0f s\n", t.path, t.cache.n_sets, t.measured,
           t.reused, tune_elapsed(&t));
    print_sets(&t.cache);
    rc = 0;
done:
    fcl_tune_cache_free(&t.cache);
    fcl_ctx_destroy(t.ctx);
    fcl_model_free(m);
    return rc;
}
