/* tools/cmd_bench.c: `facecl bench ops`: times ops on real layer shapes and prints one table row per case.
 *
 * How to add rows for an op family (bn, act, pool, eltwise, loss, ...):
 *   1. write tools/bench_<family>.c with `int bench_<family>_cases(const bench_env *env,
 *      bench_list *list)` that adds one row per op call with bench_row(): its labels, FLOPs or
 *      bytes, its operands (bench_tensor_set: shape and fill) and a run function that enqueues
 *      the call on them (tools/bench.h; tools/bench_linear.c is a short complete example); the
 *      driver makes and frees the operands;
 *   2. declare it in tools/bench.h and add one line to `families` below.
 * Timing: warm-up runs per case (the first builds the kernels; then WARM_S seconds), then --reps
 * runs, each ended by clFinish and timed on the wall clock and in process CPU time; the table shows
 * both medians. The FMA peak of the device is measured in the same run (cl/bench.cl at float4/8/16,
 * the best: tools/bench_peak.c) unless --peak gives it, and "%peak" is relative to it.
 * Totals per network weigh each layer by its count in the network. --kernels adds, under each row,
 * where its device time went: each kernel's launches and device ms per run (profiling events)
 * and its share of the mean wall time, and the rest (host work, gaps between launches, CLBlast). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "bench.h"
#include "commands.h"

static const struct {
    const char *name;
    bench_family_fn fn;
} families[] = {
    {"conv", bench_conv_cases},
    {"linear", bench_linear_cases},
    {"eltwise", bench_eltwise_cases},
    {"loss", bench_loss_cases},
    {"metric loss", bench_metric_loss_cases},
    {"bn/act/pool", bench_bn_act_pool_cases},
    {"blocks", bench_blocks_cases},
};

/* CPU seconds used by this process (all threads) so far. */
static double cpu_s(void)
{
    struct rusage u;
    if (getrusage(RUSAGE_SELF, &u)) return 0;
    return (double)u.ru_utime.tv_sec + (double)u.ru_stime.tv_sec +
           ((double)u.ru_utime.tv_usec + (double)u.ru_stime.tv_usec) * 1e-6;
}

static int usage(FILE *f)
{
    fprintf(f, "usage: facecl bench net --help   (whole networks: images/s, against PyTorch)\n"
               "       facecl bench ops [--device SEL] [--batch 32] [--size 112] [--reps 5]\n"
               "                        [--filter TEXT] [--peak GFLOPS] [--kernels]\n\n"
               "Times every op on real layer shapes (ResNet-18 and MobileNetV2 at --size x --size,\n"
               "batch --batch) and prints: op, network, shape, direction, median ms, GFLOP/s and the\n"
               "percentage of the device's FMA peak (measured here unless --peak gives it).\n"
               "--filter keeps the rows whose op, network, shape or direction contains TEXT.\n"
               "--kernels lists under each row its kernels: launches and device ms per run (OpenCL\n"
               "profiling events) and their share of the mean wall time; \"rest\" is the time outside\n"
               "facecl's kernels (host work, gaps between launches, CLBlast's GEMMs).\n");
    return f == stdout ? 0 : 2;
}

/* Per (network, op family = first word of op) and direction: the layers' times their counts. */
typedef struct net_total {
    char key[48];               /* "resnet18 conv2d" */
    int ndir;
    char dir[6][16];
    double ms[6], flops[6];
} net_total;

enum { MAX_KT = 24 };
static const double WARM_S = 0.2;   /* seconds of warm-up runs per row (below) */

/* --kernels: a row's kernels (device ms and launches per run, share of the mean wall ms), then
 * the rest of the wall time. */
static void print_kernels(const fcl_kernel_time *k, size_t n, long reps, double wall_ms)
{
    double sum = 0;
    for (size_t i = 0; i < n; i++) {
        double ms = k[i].ms / (double)reps;
        sum += ms;
        printf("    %-32s %6.1f launches %9.3f ms %5.1f%%\n", k[i].name, (double)k[i].calls / (double)reps, ms,
               wall_ms > 0 ? 100.0 * ms / wall_ms : 0.0);
    }
    double rest = wall_ms - sum;
    printf("    %-32s %6s          %9.3f ms %5.1f%%\n", "rest (host, gaps, CLBlast)", "", rest,
           wall_ms > 0 ? 100.0 * rest / wall_ms : 0.0);
}

int fcl_cmd_bench(int argc, char **argv)
{
    fcl_kernel_time ktimes[MAX_KT];
    const char *device = NULL, *filter = NULL, *v;
    long batch = 32, size = 112, reps = 5;
    double peak = 0;
    int bad = 0, kernels = 0;
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) return usage(argc < 2 ? stderr : stdout);
    if (!strcmp(argv[1], "net")) return fcl_cmd_bench_net(argc, argv);
    if (strcmp(argv[1], "ops")) {
        fprintf(stderr, "facecl: error: unknown bench target '%s' (ops or net)\n", argv[1]);
        return usage(stderr);
    }
    for (int i = 2; i < argc && !bad; i++) {
        if (tool_opt(argc, argv, &i, "--device", &v, &bad)) device = v;
        else if (tool_opt(argc, argv, &i, "--filter", &v, &bad)) filter = v;
        else if (tool_opt(argc, argv, &i, "--batch", &v, &bad)) {
            if (!bad && (tool_parse_int(v, &batch) || batch < 1 || batch > 4096))
                return tool_usage_error("bench ops: --batch must be an integer in 1..4096, got '%s'", v);
        } else if (tool_opt(argc, argv, &i, "--size", &v, &bad)) {
            if (!bad && (tool_parse_int(v, &size) || size < 32 || size > 1024))
                return tool_usage_error("bench ops: --size must be an integer in 32..1024, got '%s'", v);
        } else if (tool_opt(argc, argv, &i, "--reps", &v, &bad)) {
            if (!bad && (tool_parse_int(v, &reps) || reps < 1 || reps > 1000))
                return tool_usage_error("bench ops: --reps must be an integer in 1..1000, got '%s'", v);
        } else if (tool_opt(argc, argv, &i, "--peak", &v, &bad)) {
            if (!bad && (tool_parse_float(v, &peak) || !(peak > 0) || peak > 1e9))
                return tool_usage_error("bench ops: --peak must be a positive number (GFLOP/s), got '%s'", v);
        } else if (!strcmp(argv[i], "--kernels")) {
            kernels = 1;
        } else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            return usage(stdout);
        } else {
            fprintf(stderr, "facecl: error: unknown option '%s'\n", argv[i]);
            return usage(stderr);
        }
    }
    if (bad) return 2;

    fcl_ctx *ctx = tool_ctx(device, kernels);
    if (!ctx) return 1;
    int rc = 0;
    bench_list list = {NULL, 0, 0};
    net_total totals[16];
    size_t ntot = 0;
    double *times = malloc(2 * (size_t)reps * sizeof *times), *cpus = times + reps; /* per rep: wall, CPU ms */
    if (!times) {
        rc = tool_fail("out of memory");
        goto done;
    }
    bench_env env = {ctx, (int)batch, (int)size};
    for (size_t f = 0; f < sizeof families / sizeof families[0]; f++)
        if (families[f].fn(&env, &list)) {
            rc = tool_fail("bench: cannot list the %s cases (out of memory)", families[f].name);
            goto done;
        }

    char dev[512];
    fcl_device_summary(fcl_ctx_device(ctx), dev, sizeof dev);
    char how[256] = "--peak";
    if (peak <= 0) {
        bench_peak bp;
        if (!bench_peak_measure(ctx, &bp)) {
            peak = bp.best;
            char d[200];
            bench_peak_describe(&bp, d, sizeof d);
            snprintf(how, sizeof how, "measured now with cl/bench.cl: %s", d);
        }
    }
    printf("device: %s\nbatch %ld, input %ldx%ld, %ld reps (median ms, wall clock with clFinish, and median "
           "process cpu ms; warm-up excluded)\nFMA peak: %.1f GFLOP/s (%s)\n\n",
           dev, batch, size, size, reps, peak, how);
    printf("%-18s %-9s %-36s %-10s %9s %9s %6s %9s\n", "op", "net", "shape", "dir", "ms", "GFLOP/s", "%peak",
           "cpu ms");

    for (size_t i = 0; i < list.n; i++) {
        bench_case *c = &list.items[i];
        if (filter && !strstr(c->op, filter) && !strstr(c->net, filter) && !strstr(c->shape, filter) &&
            !strstr(c->dir, filter))
            continue;
        void *state = NULL;
        fcl_tensor ts[BENCH_MAX_TENSORS];
        fcl_status st = bench_setup(ctx, c, ts, &state);
        int made = !st;
        if (!st) st = c->run(ctx, c, ts, state);   /* warm-up: kernel builds, pool allocations */
        if (!st) st = fcl_ctx_finish(ctx);
        /* then more warm-up runs for 0.2 s (at most 50): the timed runs start in the steady state a
         * training loop is in. In session 12's quiet run the first heavy row of a process often ran
         * on about one core (cpu ms ~ wall ms: linear 64x512>8631 fwd 8.9 / 8.0, 7.4 / 7.4) while
         * later rows of the same kernel and grid used both (1.7-2.0); likely the device's threads not
         * yet spread over the cores after a single warm-up run. */
        double w0 = tool_now_s();
        for (int r = 0; r < 50 && !st && tool_now_s() - w0 < WARM_S; r++) {
            st = c->run(ctx, c, ts, state);
            if (!st) st = fcl_ctx_finish(ctx);
        }
        size_t nk = 0;
        if (!st && kernels) st = fcl_ctx_kernel_times(ctx, ktimes, 0, &nk, 1); /* the warm-up's launches */
        double wall = 0;
        for (long r = 0; r < reps && !st; r++) {
            double t0 = tool_now_s(), c0 = cpu_s();
            st = c->run(ctx, c, ts, state);
            if (!st) st = fcl_ctx_finish(ctx);
            times[r] = (tool_now_s() - t0) * 1e3;
            cpus[r] = (cpu_s() - c0) * 1e3;
            wall += times[r];
        }
        if (!st && kernels) st = fcl_ctx_kernel_times(ctx, ktimes, MAX_KT, &nk, 1);
        if (made) bench_teardown(ctx, c, ts, state);
        if (st) {
            printf("%-18s %-9s %-36s %-10s   FAILED: %s\n", c->op, c->net, c->shape, c->dir, fcl_ctx_errmsg(ctx));
            rc = 1;
            continue;
        }
        /* both medians: a slow rep (another tenant's minute) moves neither; the mean CPU time it
         * printed before moved with it while the wall median did not */
        double ms = bench_median(times, reps), cpu_ms = bench_median(cpus, reps);
        char gf[16] = "-", pc[16] = "-";
        if (c->flops > 0) {
            double g = c->flops / (ms * 1e-3) * 1e-9;
            snprintf(gf, sizeof gf, "%.1f", g);
            if (peak > 0) snprintf(pc, sizeof pc, "%.0f%%", 100.0 * g / peak);
        } else if (c->bytes > 0) {
            snprintf(gf, sizeof gf, "%.1fGB/s", c->bytes / (ms * 1e-3) * 1e-9);
        }
        printf("%-18s %-9s %-36s %-10s %9.3f %9s %6s %9.3f\n", c->op, c->net, c->shape, c->dir, ms, gf, pc, cpu_ms);
        if (kernels) print_kernels(ktimes, nk, reps, wall / (double)reps);
        fflush(stdout);

        if (!c->net[0] || c->count <= 0) continue;
        char key[48];
        snprintf(key, sizeof key, "%s %.*s", c->net, (int)strcspn(c->op, " "), c->op);
        size_t t = 0;
        while (t < ntot && strcmp(totals[t].key, key)) t++;
        if (t == ntot) {
            if (ntot == sizeof totals / sizeof totals[0]) continue;
            memset(&totals[ntot], 0, sizeof totals[ntot]);
            snprintf(totals[ntot].key, sizeof totals[ntot].key, "%s", key);
            ntot++;
        }
        net_total *nt = &totals[t];
        int d = 0;
        while (d < nt->ndir && strcmp(nt->dir[d], c->dir)) d++;
        if (d == nt->ndir) {
            if (nt->ndir == 6) continue;
            snprintf(nt->dir[nt->ndir++], sizeof nt->dir[0], "%s", c->dir);
        }
        nt->ms[d] += c->count * ms;
        nt->flops[d] += c->count * c->flops;
    }
    if (ntot) printf("\nper network and op, each layer times its count in the network (ms for the batch, GFLOP/s):\n");
    for (size_t t = 0; t < ntot; t++) {
        net_total *nt = &totals[t];
        double ms = 0, fl = 0;
        printf("  %-20s", nt->key);
        for (int d = 0; d < nt->ndir; d++) {
            printf(" %s %.1f ms", nt->dir[d], nt->ms[d]);
            if (nt->flops[d] > 0 && nt->ms[d] > 0) printf(" (%.1f)", nt->flops[d] / nt->ms[d] * 1e-6);
            printf(" |");
            ms += nt->ms[d];
            fl += nt->flops[d];
        }
        printf(" all %.1f ms", ms);
        if (fl > 0 && ms > 0) printf(" (%.1f GFLOP/s)", fl / ms * 1e-6);
        printf("\n");
    }
done:
    free(list.items);
    free(times);
    fcl_ctx_destroy(ctx);
    return rc;
}
