/* tools/bench_net.c: `facecl bench net`: whole-network training and inference speed, against the peak and PyTorch. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "commands.h"
#include "options.h"
#include "dist_cli.h"
#include <facecl/facecl.h>

static void usage(FILE *f)
{
    fprintf(f, "usage: facecl bench net [--model resnet18] [--size 112] [--channels 3] [--classes 1000]\n"
               "                        [--batch 32] [--stem imagenet|face] [--reps 5] [--peak GFLOPS]\n"
               "                        [--torch] [--torch-threads N] [--device SEL]\n\n"
               "Times a training step (forward, cross-entropy, backward, SGD momentum update) and an\n"
               "inference forward of a whole network on random inputs; prints images/s and GFLOP/s\n"
               "(a training step counts 3x the forward FLOPs), the percentage of the device's FMA peak\n"
               "(measured in the same run at float4/8/16, the best; --peak gives it instead), and\n"
               "with --torch the same measurement by PyTorch (tools/torch_bench.py, Debian's python3-torch)\n"
               "in the same run, as a ratio (on a CPU device PyTorch gets the device's compute units as threads).\n\n"
               "Under mpirun (mpirun -np N facecl bench net ..., one rank per device, --batch per rank) it\n"
               "times data-parallel training steps instead: without gradient exchange (compute only), with\n"
               "the bucketed allreduce after the backward (serial) and overlapped with it (as facecl train),\n"
               "plus the allreduce of the gradient bytes alone; [--sync-bn] [--bucket-mb X].\n"
               "tools/bench_ranks.sh runs it for 1 and N ranks.\n");
}

/* Median seconds of reps calls of step() after one warm-up call. */
typedef fcl_status (*step_fn)(void *u);
static fcl_status time_it(step_fn fn, void *u, fcl_ctx *ctx, int reps, double *median)
{
    double *t = malloc((size_t)reps * sizeof *t);
    if (!t) return FCL_ERR_NOMEM;
    fcl_status st = fn(u);
    if (!st) st = fcl_ctx_finish(ctx);
    for (int r = 0; r < reps && !st; r++) {
        double t0 = tool_now_s();
        st = fn(u);
        if (!st) st = fcl_ctx_finish(ctx);
        t[r] = tool_now_s() - t0;
    }
    if (!st) {
        *median = bench_median(t, reps);
    }
    free(t);
    return st;
}

static fcl_status infer_step(void *u)
{
    bench_step *s = u;
    return fcl_net_forward(s->net, &s->x, 0);
}

/* Data-parallel steps on every rank: compute only, serial allreduce, overlapped allreduce, and
 * the allreduce alone; the slowest rank's medians, printed by rank 0. */
static fcl_status bench_ranks(bench_step *s, fcl_dist *d, const fcl_model *m, long batch, long reps, int sync_bn,
                              size_t bucket)
{
    fcl_ctx *ctx = s->ctx;
    int R = fcl_dist_size(d);
    double t[4] = {0, 0, 0, 0}; /* compute, serial, overlap, allreduce alone */
    fcl_ddp_stats ds;
    memset(&ds, 0, sizeof ds);
    /* every phase starts on all ranks together (a rank that finished early waits without
     * spinning), so each phase times only its own steps */
    fcl_status st = fcl_dist_barrier(d, fcl_ctx_error(ctx));
    if (!st) st = time_it(bench_step_run, s, ctx, (int)reps, &t[0]);
    for (int mode = 0; mode < 2 && !st && R > 1; mode++) {
        fcl_ddp_opts o = {bucket, mode, sync_bn};
        st = fcl_dist_barrier(d, fcl_ctx_error(ctx));
        if (!st) st = fcl_ddp_create(ctx, d, s->net, &o, &s->ddp);
        if (!st) st = time_it(bench_step_run, s, ctx, (int)reps, &t[1 + mode]);
        if (!st) fcl_ddp_get_stats(s->ddp, &ds);
        fcl_ddp_destroy(s->ddp);
        s->ddp = NULL;
    }
    if (!st) st = fcl_dist_barrier(d, fcl_ctx_error(ctx));
    if (!st && R > 1) { /* the gradient bytes through MPI_Allreduce alone (host buffers) */
        size_t n = fcl_tensor_numel(fcl_net_params(s->net));
        float *h = calloc(n, sizeof *h);
        double *ts = malloc((size_t)reps * sizeof *ts);
        if (!h || !ts) st = FCL_ERR(fcl_ctx_error(ctx), FCL_ERR_NOMEM, "out of host memory");
        for (long r = 0; r <= reps && !st; r++) {
            double t0 = tool_now_s();
            st = fcl_dist_sum_f(d, h, n, fcl_ctx_error(ctx));
            if (r) ts[r - 1] = tool_now_s() - t0;
        }
        if (!st) {
            t[3] = bench_median(ts, reps);
        }
        free(h);
        free(ts);
    }
    double all[4 * 64];
    if (!st && R <= 64) st = fcl_dist_allgather_d(d, t, 4, all, 4 * (size_t)R, fcl_ctx_error(ctx));
    if (st) return st;
    for (int r = 1; r < R && R <= 64; r++)
        for (int k = 0; k < 4; k++)
            if (all[4 * r + k] > t[k]) t[k] = all[4 * r + k];
    if (fcl_dist_rank(d) != 0) return FCL_OK;
    double ips = (double)(R * batch) / (R > 1 ? t[2] : t[0]);
    printf("  ranks %d x batch %ld (global %ld): %.1f img/s, %.1f ms per step\n", R, batch, R * batch, ips,
           1e3 * (R > 1 ? t[2] : t[0]));
    printf("  %.1f MB of gradients per step (%lld parameters)%s\n", 4.0 * (double)m->n_trainable / 1e6,
           (long long)m->n_trainable, sync_bn ? ", synchronised batch norm" : "");
    if (R > 1) {
        double cost = t[1] - t[0], exposed = t[2] - t[0];
        printf("  step: compute only %.1f ms, + serial allreduce %.1f ms, + overlapped allreduce %.1f ms\n", 1e3 * t[0],
               1e3 * t[1], 1e3 * t[2]);
        if (cost > 0.02 * t[0]) /* a difference of medians below 2% of the step is noise, not a cost */
            printf("  allreduce cost per step %.1f ms (alone: %.1f ms in %d buckets), exposed %.1f ms: %.0f%% hidden behind the backward\n",
                   1e3 * cost, 1e3 * t[3], ds.buckets, 1e3 * exposed,
                   100.0 * (cost - (exposed > 0 ? exposed : 0)) / cost);
        else
            printf("  allreduce cost per step within the noise (serial - compute only = %.1f ms, under 2%% of the step; "
                   "alone: %.1f ms in %d buckets)\n", 1e3 * cost, 1e3 * t[3], ds.buckets);
    }
    fflush(stdout);
    return FCL_OK;
}

int fcl_cmd_bench_net(int argc, char **argv)
{
    const char *model = "resnet18", *stem = NULL, *device = NULL, *v;
    long size = 112, channels = 3, classes = 1000, batch = 32, reps = 5, torch_threads = 0;
    double peak = 0;
    int bad = 0, torch = 0, rc = 1, sync_bn = 0;
    double bucket_mb = 4;
    const tool_old_opt opts[] = {TOOL_OLD_FLAG("--torch", &torch),        TOOL_OLD_FLAG("--sync-bn", &sync_bn),
                                 TOOL_OLD_STR("--model", &model),         TOOL_OLD_STR("--stem", &stem),
                                 TOOL_OLD_STR("--device", &device),       TOOL_OLD_NUM("--size", &size, 65536),
                                 TOOL_OLD_NUM("--channels", &channels, 65536), TOOL_OLD_NUM("--classes", &classes, 65536),
                                 TOOL_OLD_NUM("--batch", &batch, 65536),  TOOL_OLD_NUM("--reps", &reps, 65536),
                                 TOOL_OLD_NUM("--torch-threads", &torch_threads, 65536)};
    for (int i = 2; i < argc; i++) {
        if (tool_opt(argc, argv, &i, "--bucket-mb", &v, &bad)) {
            if (bad || tool_parse_float(v, &bucket_mb) || !(bucket_mb > 0)) return tool_usage_error("bench net: --bucket-mb needs a size in MB");
            continue;
        }
        if (tool_opt(argc, argv, &i, "--peak", &v, &bad)) {
            if (bad || tool_parse_float(v, &peak) || !(peak > 0) || peak > 1e9) return tool_usage_error("bench net: --peak needs GFLOP/s");
            continue;
        }
        int m = tool_old_opts_match("bench net", opts, sizeof opts / sizeof opts[0], usage, argc, argv, &i);
        if (m != TOOL_OLD_STORED) return m == TOOL_OLD_HELP ? 0 : 2;
    }
    if (batch < 2) return tool_usage_error("bench net: --batch must be >= 2 (batch norm in training)");

    fcl_error err = {0};
    fcl_model_opts mo;
    fcl_model_opts_init(&mo);
    mo.size = (int)size;
    mo.channels = (int)channels;
    mo.classes = (int)classes;
    mo.embedding = 0;
    mo.stem = stem;
    fcl_model *m = tool_model_load(model, &mo);
    if (!m) return 1;
    bench_step s;
    memset(&s, 0, sizeof s);
    fcl_dist *dist = NULL; /* under mpirun: data-parallel steps */
    if (tool_dist_begin(&dist)) {
        fcl_model_free(m);
        return 1;
    }
    fcl_ctx_opts co = {0};
    co.device = device;
    co.device_rank = fcl_dist_local_rank(dist);
    if (fcl_ctx_create(&s.ctx, &co, &err)) {
        fcl_model_free(m);
        return tool_dist_fail(dist, &err);
    }
    fcl_ctx *ctx = s.ctx;
    if (fcl_dist_rank(dist) == 0) tool_ctx_warn(ctx); /* e.g. a stale tuning cache, as every command says */
    double t_train = 0, t_infer = 0;
    fcl_status st = bench_step_setup(&s, ctx, m, (int)batch);
    if (fcl_dist_rank(dist) == 0) {
        printf("bench net: %s, %ld x %ld x %ld input, %s stem, %ld classes, batch %ld, on %s\n", m->name, channels, size,
               size, m->stem, classes, batch, fcl_ctx_device(ctx)->name);
        printf("  %lld parameters, %.3f GFLOP per image forward (2 per multiply-add)\n", (long long)m->n_trainable,
               m->flops / 1e9);
        fflush(stdout);
    }
    if (dist) {
        if (!st) st = bench_ranks(&s, dist, m, batch, reps, sync_bn, (size_t)(bucket_mb * 1048576.0));
        if (st) {
            rc = tool_dist_fail(dist, fcl_ctx_error(ctx));
            goto done;
        }
        rc = 0;
        goto done;
    }
    if (!st) st = time_it(bench_step_run, &s, ctx, (int)reps, &t_train);
    if (!st) st = time_it(infer_step, &s, ctx, (int)reps, &t_infer);
    if (st) {
        tool_fail_err(fcl_ctx_error(ctx));
        goto done;
    }
    if (peak <= 0) { /* the device's honest limit, in the same run */
        bench_peak bp;
        if (!bench_peak_measure(ctx, &bp)) {
            char d[200];
            bench_peak_describe(&bp, d, sizeof d);
            printf("  FMA peak: %s\n", d);
            peak = bp.best;
        }
    }
    double train_ips = (double)batch / t_train, infer_ips = (double)batch / t_infer;
    double train_gf = 3.0 * m->flops * train_ips / 1e9, infer_gf = m->flops * infer_ips / 1e9;
    fcl_pool_stats ps;
    fcl_ctx_pool_stats(ctx, &ps);
    printf("  facecl  train %8.1f img/s  %6.1f GFLOP/s%s", train_ips, train_gf, peak > 0 ? "" : "\n");
    if (peak > 0) printf("  (%4.1f%% of %.0f)\n", 100 * train_gf / peak, peak);
    printf("  facecl  infer %8.1f img/s  %6.1f GFLOP/s%s", infer_ips, infer_gf, peak > 0 ? "" : "\n");
    if (peak > 0) printf("  (%4.1f%% of %.0f)\n", 100 * infer_gf / peak, peak);
    printf("  peak device memory %.1f MB\n", ps.peak / 1e6);
    fflush(stdout);
    if (torch) {
        char cmd[2048], line[512];
        snprintf(cmd, sizeof cmd,
                 "/usr/bin/python3 '%s/../tools/torch_bench.py' --model %s --size %ld --channels %ld --classes %ld "
                 "--batch %ld --stem %s --reps %ld --threads %ld 2>&1",
                 tool_models_dir(), m->name, size, channels, classes, batch, m->stem, reps,
                 /* on a CPU device, PyTorch gets as many threads as the OpenCL device has cores */
                 torch_threads > 0 ? torch_threads
                 : (fcl_ctx_device(ctx)->type & CL_DEVICE_TYPE_CPU) ? (long)fcl_ctx_device(ctx)->compute_units : 0L);
        FILE *p = popen(cmd, "r");
        double tt = 0, ti = 0;
        int found = 0;
        while (p && fgets(line, sizeof line, p)) {
            if (sscanf(line, "torch train_img_s=%lf infer_img_s=%lf", &tt, &ti) == 2) {
                found = 1;
                printf("  pytorch train %8.1f img/s  (%s", tt, strstr(line, "threads=") ? strstr(line, "threads=") : ")\n");
            } else {
                printf("  pytorch: %s", line);
            }
        }
        if (p) pclose(p);
        if (found) {
            printf("  pytorch infer %8.1f img/s\n", ti);
            printf("  ratio facecl / pytorch: train %.2f, infer %.2f\n", train_ips / tt, infer_ips / ti);
        } else {
            printf("  pytorch: no result (is python3-torch installed?)\n");
        }
    }
    rc = 0;
done:
    bench_step_free(&s);
    fcl_ctx_destroy(ctx);
    fcl_model_free(m);
    tool_dist_end(dist);
    return rc;
}
