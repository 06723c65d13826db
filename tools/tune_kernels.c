/* tools/tune_kernels.c: `facecl tune`'s kernel-family stage: coordinate search of each family's typed parameters on whole training steps of the network (its real layer shapes), every candidate checked against the defaults' step first. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "commands.h"
#include "tune.h"

/* One step from the same start (parameters from seed 1, a fresh optimizer): the logits, the
 * gradients and the updated parameters, one after the other in out (np + 2 * ng + no floats). */
static fcl_status checked_step(bench_step *s, float *out, size_t *n)
{
    fcl_status st = fcl_net_init(s->net, 1);
    if (!st) st = bench_step_new_optim(s);
    if (!st) st = bench_step_run(s);
    const fcl_tensor *o = fcl_net_output(s->net), *g = fcl_net_grads(s->net), *p = fcl_net_params(s->net);
    size_t no = fcl_tensor_numel(o), ng = fcl_tensor_numel(g), np = fcl_tensor_numel(p);
    if (!st) st = fcl_tensor_download(s->ctx, o, out, no);
    if (!st) st = fcl_tensor_download(s->ctx, g, out + no, ng);
    if (!st) st = fcl_tensor_download(s->ctx, p, out + no + ng, np);
    *n = no + ng + np;
    return st;
}

/* ---- configurations ------------------------------------------------------------------------- */

/* Which families a network's layers use (eltwise and loss always: the optimizer, the loss). */
static int family_used(const fcl_model *m, fcl_tune_family f)
{
    if (f == FCL_TF_ELTWISE || f == FCL_TF_LOSS) return 1;
    for (int i = 0; i < m->n_layers; i++) {
        fcl_layer_kind k = m->layers[i].kind;
        if ((f == FCL_TF_CONV && k == FCL_LAYER_CONV) || (f == FCL_TF_BN && k == FCL_LAYER_BN) ||
            (f == FCL_TF_ACT && (k == FCL_LAYER_ACT || k == FCL_LAYER_PRELU)) ||
            (f == FCL_TF_POOL && (k == FCL_LAYER_MAXPOOL || k == FCL_LAYER_AVGPOOL || k == FCL_LAYER_GLOBAL_AVGPOOL ||
                                  k == FCL_LAYER_ADAPTIVE_AVGPOOL)) ||
            (f == FCL_TF_NORM && k == FCL_LAYER_LAYERNORM) ||
            (f == FCL_TF_ATTN && (k == FCL_LAYER_RSOFTMAX || k == FCL_LAYER_RADIX_SUM)))
            return 1;
    }
    return 0;
}

/* Every family's values; the candidate name lists those that differ from the defaults. */
typedef struct config {
    int v[FCL_TF_COUNT][FCL_TUNE_MAX_PARAMS];
} config;

static void config_name(const config *c, const config *def, char *buf, size_t size)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int f = 0; f < FCL_TF_COUNT; f++) {
        fcl_tune_id first;
        int n = fcl_tune_family_params((fcl_tune_family)f, &first);
        for (int j = 0; j < n && used < size; j++)
            if (c->v[f][j] != def->v[f][j])
                used += (size_t)snprintf(buf + used, size - used, "%s%s.%s=%d", used ? "," : "",
                                         fcl_tune_family_name((fcl_tune_family)f),
                                         fcl_tune_param_info((fcl_tune_id)(first + j))->name, c->v[f][j]);
    }
    if (!buf[0]) snprintf(buf, size, "default");
}

static fcl_status config_apply(fcl_ctx *ctx, const config *c)
{
    for (int f = 0; f < FCL_TF_COUNT; f++) {
        fcl_tune_id first;
        int n = fcl_tune_family_params((fcl_tune_family)f, &first);
        fcl_status st = fcl_ctx_tuning_set_family(ctx, (fcl_tune_family)f, c->v[f], n);
        if (st) return st;
    }
    return FCL_OK;
}

/* The moves tried from the current values of a family, in order. conv on CPUs (CONV_GPU 0):
 * the register blocks with their vector width (rows x columns x width of conv_gemm_nn, CONV_MB x
 * CONV_NV x CONV_VW; dy rows x B rows x width of conv_gemm_nt, CONV_TM x CONV_TN x CONV_TW): the
 * AVX-512 blocks (float16, 32 registers) and the AVX2 ones (float8, <= 12 accumulators of 16
 * registers), so either CPU's defaults reach the other's; then work-group sizes, the im2col chunks
 * (CONV_COL_KB, and CONV_IM_KB of the im2col GEMMs), the im2col panels' row runs (CONV_IM_ROW), the
 * classifier's split-K data gradient (CONV_WT_SPLIT),
 * the vector widths, the algorithm of 3x3 stride-1 convs (CONV_WINO 0/1/2) and of their weight
 * gradient (CONV_WGRAD 0/1/2), the GEMM's right-operand layout (CONV_BPANEL), which weight gradients
 * run on conv_gemm_nn (CONV_WG_NN), conv_gemm_nn's prefetch distance (CONV_PF), the chunks of the
 * weight gradients on conv_gemm_nt (CONV_NT_KB), the strided convs' implicit GEMM (CONV_IMPLICIT,
 * CONV_CIM_ORDER) and stride-2 Winograd forms (CONV_WINO_S2, CONV_WINO_S2_BWD), the classifier's
 * gemm_wt_dx and gemm_wt order (CONV_WT_DX, CONV_WT_RB_FAST) and the GEMM of the linear layers
 * (CONV_LINEAR). Everything else (and conv's GPU path): each numeric parameter halved and doubled,
 * but for the margin heads' HEAD_MB / HEAD_NV / HEAD_VW (no network step runs them). */
typedef struct move {
    int n;
    fcl_tune_id id[3];
    int value[3];
} move;

static int moves_for(fcl_tune_family f, const int *cur, move *out, int max)
{
    fcl_tune_id first;
    int n = fcl_tune_family_params(f, &first), k = 0;
#define AT(id) cur[(id) - first]
#define TRIPLE(a, va, b, vb, c, vc)                                                                   \
    do {                                                                                            \
        if (k < max && (AT(a) != (va) || AT(b) != (vb) || AT(c) != (vc)))                           \
            out[k++] = (move){3, {a, b, c}, {va, vb, vc}};                                          \
    } while (0)
#define ONE(a, va) \
    do { if (k < max && AT(a) != (va)) out[k++] = (move){1, {a, a, a}, {va, va, va}}; } while (0)
    if (f == FCL_TF_CONV && AT(FCL_T_CONV_GPU) == 0) {
        /* AVX-512 (the CPU column's 8 x 2 x 16 and neighbours), then AVX2 (the CPU256 column's) */
        static const int nn[][3] = {{8, 2, 16}, {12, 1, 16}, {6, 4, 8}, {4, 3, 8}, {5, 2, 8}, {6, 2, 8}, {8, 1, 8}};
        static const int nt[][3] = {{4, 4, 16}, {2, 4, 16}, {4, 2, 16}, {4, 4, 8}, {4, 3, 8}, {3, 4, 8}, {4, 2, 8}};
        for (size_t i = 0; i < sizeof nn / sizeof nn[0]; i++)
            TRIPLE(FCL_T_CONV_MB, nn[i][0], FCL_T_CONV_NV, nn[i][1], FCL_T_CONV_VW, nn[i][2]);
        for (size_t i = 0; i < sizeof nt / sizeof nt[0]; i++)
            TRIPLE(FCL_T_CONV_TM, nt[i][0], FCL_T_CONV_TN, nt[i][1], FCL_T_CONV_TW, nt[i][2]);
        ONE(FCL_T_CONV_LNN, 4);
        ONE(FCL_T_CONV_LNN, 0);
        ONE(FCL_T_CONV_LNT, 4);
        ONE(FCL_T_CONV_LNT, 0);
        ONE(FCL_T_CONV_COL_KB, 1024);
        ONE(FCL_T_CONV_COL_KB, 16384);
        ONE(FCL_T_CONV_IM_KB, 0);    /* the im2col GEMMs' chunks: CONV_COL_KB's, or their own */
        ONE(FCL_T_CONV_IM_KB, 4096);
        ONE(FCL_T_CONV_IM_KB, 16384);
        ONE(FCL_T_CONV_C2I_ORDER, 0); /* col2im's grid: channels or images fastest */
        ONE(FCL_T_CONV_C2I_ORDER, 1);
        ONE(FCL_T_CONV_TPANEL, 0); /* the weight gradient's transposed im2col: gathered, or row vectors */
        ONE(FCL_T_CONV_TPANEL, 8);
        ONE(FCL_T_CONV_IM_ROW, 0); /* stride-1/2 im2col panels: gathered, or on row runs */
        ONE(FCL_T_CONV_IM_ROW, 1);
        ONE(FCL_T_CONV_WT_SPLIT, 0); /* the classifier's dx at batch <= 64: slices, or one split-K launch */
        ONE(FCL_T_CONV_WT_SPLIT, 16);
        ONE(FCL_T_CONV_LOCAL, 8);
        ONE(FCL_T_CONV_VW, 16); /* the width alone, at the blocks found */
        ONE(FCL_T_CONV_VW, 8);
        ONE(FCL_T_CONV_TW, 16);
        ONE(FCL_T_CONV_TW, 8);
        for (int w = 0; w <= 2; w++) ONE(FCL_T_CONV_WINO, w); /* the algorithm of 3x3 stride-1 convs */
        for (int w = 0; w <= 2; w++) ONE(FCL_T_CONV_WGRAD, w); /* ... and of their weight gradient */
        ONE(FCL_T_CONV_BPANEL, 0); /* built right operands of conv_gemm_nn in column panels or rows */
        ONE(FCL_T_CONV_BPANEL, 1);
        ONE(FCL_T_CONV_WG_NN, 0); /* weight gradients on conv_gemm_nn up to this many output px/image */
        ONE(FCL_T_CONV_WG_NN, 256);
        ONE(FCL_T_CONV_WG_NN, 1 << 30);
        ONE(FCL_T_CONV_PF, 0); /* conv_gemm_nn's software prefetch: off, or further ahead */
        ONE(FCL_T_CONV_PF, 24);
        ONE(FCL_T_CONV_NT_KB, 0); /* conv_gemm_nt weight gradients: one chunk, or chunks of 4 MiB */
        ONE(FCL_T_CONV_NT_KB, 4096);
        ONE(FCL_T_CONV_B1X1, 0); /* 1x1s whose images are not whole vectors: gathered, or in place */
        ONE(FCL_T_CONV_B1X1, 1);  /* from CONV_VW pixels an image on */
        ONE(FCL_T_CONV_IMPLICIT, 0); /* implicit GEMM: off, stem forward, every strided forward, + data grads */
        ONE(FCL_T_CONV_IMPLICIT, 1);
        ONE(FCL_T_CONV_IMPLICIT, 5);
        ONE(FCL_T_CONV_IMPLICIT, 7);
        ONE(FCL_T_CONV_IMPLICIT, 9);  /* + the stem's weight gradient */
        ONE(FCL_T_CONV_IMPLICIT, 13); /* forward + weight gradient of every strided conv */
        ONE(FCL_T_CONV_IMPLICIT, 25); /* the stem's + the 3x3/2 weight gradients at 7+ px wide */
        ONE(FCL_T_CONV_IMPLICIT, 29); /* + the 3x3/2 forwards with 16+ input channels */
        ONE(FCL_T_CONV_CIM_ORDER, 0); /* the implicit GEMM's grid: pixel blocks or channel panels fastest */
        ONE(FCL_T_CONV_CIM_ORDER, 1);
        ONE(FCL_T_CONV_WINO_S2, 0); /* 3x3/2 forwards: im2col GEMM, or the stride-2 Winograd form */
        ONE(FCL_T_CONV_WINO_S2, 1);
        ONE(FCL_T_CONV_WINO_S2_BWD, 0); /* ... and their data gradients */
        ONE(FCL_T_CONV_WINO_S2_BWD, 1);
        ONE(FCL_T_CONV_WT_DX, 0); /* a classifier's dx = D W: gemm_wt slices, or gemm_wt_dx */
        ONE(FCL_T_CONV_WT_DX, 4);
        ONE(FCL_T_CONV_WT_RB_FAST, 0); /* gemm_wt's forward / dW order: column or row blocks fastest */
        ONE(FCL_T_CONV_WT_RB_FAST, 1);
        /* CLBlast or the conv kernels for the network's own linear layers: timed on its step, so
         * fcl_op_gemm applies a 0 only below 2^26 multiply-adds and margin heads keep the conv
         * kernels (2 and 3 only force one kernel, for the op tests) */
        ONE(FCL_T_CONV_LINEAR, 0);
        ONE(FCL_T_CONV_LINEAR, 1);
        return k;
    }
    for (int j = 0; j < n; j++) {
        const fcl_tune_param *p = fcl_tune_param_info((fcl_tune_id)(first + j));
        if (p->max <= 1 || cur[j] <= 0) continue; /* switches and "0: the driver's choice" stay */
        /* the margin heads' weight-gradient block: no network step runs head_bwd_dw (its loss is
         * the classifier's cross-entropy), so a time here would be noise, and a value kept by it
         * would reach every ArcFace / CosFace run unmeasured (`facecl bench ops --filter head`) */
        if (f == FCL_TF_LOSS && (first + j == FCL_T_LOSS_HEAD_MB || first + j == FCL_T_LOSS_HEAD_NV ||
                                 first + j == FCL_T_LOSS_HEAD_VW))
            continue;
        if (f == FCL_TF_CONV && (first + j == FCL_T_CONV_MB || first + j == FCL_T_CONV_NV || first + j == FCL_T_CONV_TM ||
                                 first + j == FCL_T_CONV_TN || first + j == FCL_T_CONV_COL_KB || first + j == FCL_T_CONV_LOCAL))
            continue; /* the CPU kernels' values: not used on the GPU path */
        if (cur[j] / 2 >= p->min) ONE((fcl_tune_id)(first + j), cur[j] / 2);
        if (cur[j] * 2 <= p->max) ONE((fcl_tune_id)(first + j), cur[j] * 2);
    }
    return k;
#undef AT
#undef TRIPLE
#undef ONE
}

/* ---- the search -------------------------------------------------------------------------------- */

typedef struct search {
    tune_run *t;
    bench_step step;
    char task[96];
    config def;
    float *ref, *got;
    size_t n_ref;
} search;

/* The median ms of a configuration's step (checked first); -1 when rejected; -2 on an error
 * that ends the stage (printed). Measured once: later runs take it from the cache. A first timed
 * step slower than cut_ms (> 0) is the measurement (the candidate is far behind). */
static double evaluate(search *s, const config *c, const char *label, double cut_ms)
{
    tune_run *t = s->t;
    char name[256], why[200] = "";
    config_name(c, &s->def, name, sizeof name);
    const fcl_tune_meas *m = fcl_tune_cache_find(&t->cache, s->task, name);
    if (m) {
        t->reused++;
        return m->ms;
    }
    double ms = -1;
    size_t n = 0;
    fcl_status st = config_apply(t->ctx, c);
    if (!st) st = checked_step(&s->step, s->got, &n);
    if (st) {
        snprintf(why, sizeof why, "%.190s", fcl_ctx_errmsg(t->ctx));
    } else {
        double e = tune_rel_err(s->got, s->ref, n);
        if (!(e <= 2e-3)) {
            snprintf(why, sizeof why, "results differ from the defaults' step (relative error %.2g)", e);
            st = FCL_ERR_INTERNAL;
        }
    }
    if (!st) st = tune_time_cut(t, bench_step_run, &s->step, t->reps, cut_ms, &ms);
    if (st) {
        fprintf(stderr, "facecl tune:   %s %s rejected: %s\n", label, name, why[0] ? why : fcl_ctx_errmsg(t->ctx));
        ms = -1;
    }
    return tune_record(t, s->task, name, ms) || tune_save(t) ? -2 : ms;
}

/* The search compared medians taken minutes apart on a shared machine. The winner is timed
 * again against the defaults, alternating (defaults, tuned, defaults, ...), and kept only if it
 * is still faster; otherwise every kernel family goes back to its defaults. 0, or -1 (printed). */
static int confirm(search *s, config *cur, double *best, double *base)
{
    tune_run *t = s->t;
    double a[8], b[8];
    int n = t->reps < 8 ? t->reps : 8;
    for (int r = 0; r < n; r++) {
        if (config_apply(t->ctx, &s->def) || tune_time(t, bench_step_run, &s->step, 1, &a[r]) ||
            config_apply(t->ctx, cur) || tune_time(t, bench_step_run, &s->step, 1, &b[r])) {
            fprintf(stderr, "facecl: error: tune kernels: %s\n", fcl_ctx_errmsg(t->ctx));
            return -1;
        }
    }
    for (int i = 0; i < n; i++) /* medians of the alternating runs */
        for (int j = i + 1; j < n; j++) {
            if (a[j] < a[i]) { double x = a[i]; a[i] = a[j]; a[j] = x; }
            if (b[j] < b[i]) { double x = b[i]; b[i] = b[j]; b[j] = x; }
        }
    *base = a[n / 2];
    *best = b[n / 2];
    fprintf(stderr, "facecl tune: [kernels] confirmation, alternating: defaults %.1f ms, tuned %.1f ms\n", *base, *best);
    if (*best < *base) return 0;
    fprintf(stderr, "facecl tune: [kernels] not faster on the second look: keeping the defaults\n");
    *cur = s->def;
    *best = *base;
    for (int f = 0; f < FCL_TF_COUNT; f++) fcl_tune_cache_drop(&t->cache, FCL_TUNE_KERNEL, fcl_tune_family_name((fcl_tune_family)f));
    return tune_save(t);
}

int tune_kernels(tune_run *t, const tune_kernel_opts *o)
{
    search s;
    memset(&s, 0, sizeof s);
    s.t = t;
    int rc = -1;
    const fcl_model *m = o->model;
    snprintf(s.task, sizeof s.task, "net:%s:%dx%dx%d:%d:c%d:step%s", m->name, m->channels, m->in_h, m->in_w, o->batch,
             m->classes, t->cpu_clock ? ":cpu" : "");
    config cur;
    for (int f = 0; f < FCL_TF_COUNT; f++) {
        fcl_tune_id first;
        int n = fcl_tune_family_params((fcl_tune_family)f, &first);
        for (int j = 0; j < n; j++) s.def.v[f][j] = fcl_tuning_default(t->ctx, (fcl_tune_id)(first + j));
    }
    cur = s.def;
    fcl_status st = bench_step_setup(&s.step, t->ctx, m, o->batch);
    size_t total = fcl_tensor_numel(fcl_net_params(s.step.net)) + fcl_tensor_numel(fcl_net_grads(s.step.net)) +
                   (size_t)o->batch * (size_t)(m->classes > m->embedding_dim ? m->classes : m->embedding_dim);
    if (!st) {
        s.ref = malloc(total * sizeof *s.ref);
        s.got = malloc(total * sizeof *s.got);
        if (!s.ref || !s.got) st = FCL_ERR(fcl_ctx_error(t->ctx), FCL_ERR_NOMEM, "tune: out of memory");
    }
    if (!st) st = config_apply(t->ctx, &s.def);
    if (!st) st = checked_step(&s.step, s.ref, &s.n_ref);
    if (st) {
        fprintf(stderr, "facecl: error: tune kernels: %s\n", fcl_ctx_errmsg(t->ctx));
        goto done;
    }
    double base = evaluate(&s, &s.def, "[kernels] defaults", 0);
    if (base == -2) goto done;
    if (base < 0) {
        fprintf(stderr, "facecl: error: tune kernels: the defaults' own step failed\n");
        goto done;
    }
    fprintf(stderr, "facecl tune: [kernels] %s, batch %d: a training step takes %.1f ms with the defaults (%.0fs)\n",
            m->name, o->batch, base, tune_elapsed(t));
    double best = base, per_cand = 3 * base / 1e3 + 5;
    int stopped = 0;
    /* the families by their share of a step: conv first, so a budget cut costs the least */
    static const fcl_tune_family order[] = {FCL_TF_CONV, FCL_TF_BN, FCL_TF_ACT, FCL_TF_ELTWISE,
                                            FCL_TF_POOL, FCL_TF_LOSS, FCL_TF_NORM, FCL_TF_ATTN};
    for (size_t oi = 0; oi < sizeof order / sizeof order[0] && !stopped; oi++) {
        fcl_tune_family f = order[oi];
        if (!family_used(m, f)) continue;
        const char *fname = fcl_tune_family_name((fcl_tune_family)f);
        fcl_tune_id first;
        int np = fcl_tune_family_params((fcl_tune_family)f, &first);
        move mv[96];
        int nm = moves_for((fcl_tune_family)f, cur.v[f], mv, 96);
        for (int i = 0; i < nm; i++) {
            config c = cur;
            for (int j = 0; j < mv[i].n; j++) c.v[f][mv[i].id[j] - first] = mv[i].value[j];
            if (fcl_tune_check((fcl_tune_family)f, c.v[f], np, NULL)) continue;
            char label[64], name[256];
            snprintf(label, sizeof label, "[%s %d/%d]", fname, i + 1, nm);
            config_name(&c, &s.def, name, sizeof name);
            int known = fcl_tune_cache_find(&t->cache, s.task, name) != NULL;
            /* room for this candidate and for the confirmation at the end (2 x reps steps) */
            if (!known && tune_out_of_time(t, per_cand + 2e-3 * t->reps * best)) {
                fprintf(stderr, "facecl tune: [kernels] time budget spent in family %s (re-run with the same options "
                        "to continue)\n", fname);
                stopped = 1;
                break;
            }
            double t0 = tool_now_s(), ms = evaluate(&s, &c, label, 1.3 * best);
            if (ms == -2) goto done;
            if (!known) per_cand = 0.5 * per_cand + 0.5 * (tool_now_s() - t0);
            int better = ms >= 0 && ms < 0.97 * best; /* 3%: less is within this machine's noise */
            fprintf(stderr, "facecl tune: %s %s: %s%.1f ms%s%s (%.0fs)\n", label, name, ms < 0 ? "rejected " : "",
                    ms < 0 ? 0 : ms, known ? " (measured before)" : "", better ? " -> kept" : "", tune_elapsed(t));
            if (better) {
                cur = c;
                best = ms;
            }
        }
        /* the family's choice into the cache (all of its values), or none when it kept the defaults */
        fcl_tune_cache_drop(&t->cache, FCL_TUNE_KERNEL, fname);
        if (memcmp(cur.v[f], s.def.v[f], (size_t)np * sizeof cur.v[f][0])) {
            const char *names[FCL_TUNE_MAX_PARAMS];
            long vals[FCL_TUNE_MAX_PARAMS];
            for (int j = 0; j < np; j++) {
                names[j] = fcl_tune_param_info((fcl_tune_id)(first + j))->name;
                vals[j] = cur.v[f][j];
            }
            fcl_error e = {0};
            if (fcl_tune_cache_put(&t->cache, FCL_TUNE_KERNEL, fname, np, names, vals, &e)) {
                fprintf(stderr, "facecl: error: %s\n", e.msg);
                goto done;
            }
        }
        if (tune_save(t)) goto done;
    }
    if (memcmp(&cur, &s.def, sizeof cur) && confirm(&s, &cur, &best, &base)) goto done;
    if (config_apply(t->ctx, &cur)) {
        fprintf(stderr, "facecl: error: tune kernels: %s\n", fcl_ctx_errmsg(t->ctx));
        goto done;
    }
    fprintf(stderr, "facecl tune: [kernels] training step %.1f ms tuned vs %.1f ms with the defaults (%.2fx)%s\n", best,
            base, base / best, stopped ? ", search not finished" : "");
    rc = 0;
done:
    bench_step_free(&s.step);
    free(s.ref);
    free(s.got);
    return rc;
}
