/* tools/tune_kernels.c: `facecl tune`'s kernel-family stage: each family's typed parameters searched (tools/tune_search.c) on whole training steps of the network, its real layer shapes. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "commands.h"
#include "tune.h"

/* One step from the same start (parameters from seed 1, a fresh optimizer): the logits, the
 * gradients and the updated parameters, one after the other in out (no + ng + np floats), as one
 * part: measured against the largest of them all. Not each on its own scale: through a whole
 * network's batch norms, another summation order (Winograd for the GEMM, another bn vector width)
 * moves ResNet-18's gradients by 0.4-0.8% of their own largest value at batch 32 (a tune run of
 * session 16 rejected every algorithm move that way), its logits and parameters far less. */
static fcl_status checked_step(void *u, float *out, size_t *seg, int *n_seg)
{
    bench_step *s = u;
    fcl_status st = fcl_net_init(s->net, 1);
    if (!st) st = bench_step_new_optim(s);
    if (!st) st = bench_step_run(s);
    const fcl_tensor *o = fcl_net_output(s->net), *g = fcl_net_grads(s->net), *p = fcl_net_params(s->net);
    size_t no = fcl_tensor_numel(o), ng = fcl_tensor_numel(g), np = fcl_tensor_numel(p);
    if (!st) st = fcl_tensor_download(s->ctx, o, out, no);
    if (!st) st = fcl_tensor_download(s->ctx, g, out + no, ng);
    if (!st) st = fcl_tensor_download(s->ctx, p, out + no + ng, np);
    seg[0] = no + ng + np;
    *n_seg = 1;
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

/* The moves tried from the current values of a family, in order. conv on CPUs (CONV_GPU 0):
 * the register blocks with their vector width (rows x columns x width of conv_gemm_nn, CONV_MB x
 * CONV_NV x CONV_VW; dy rows x B rows x width of conv_gemm_nt, CONV_TM x CONV_TN x CONV_TW): the
 * AVX-512 blocks (float16, 32 registers) and the AVX2 ones (float8, <= 12 accumulators of 16
 * registers), so either CPU's defaults reach the other's; then work-group sizes, the im2col chunks
 * (CONV_COL_KB, and CONV_IM_KB of the im2col GEMMs), the im2col panels' row runs (CONV_IM_ROW),
 * the vector widths, the algorithm of 3x3 stride-1 convs (CONV_WINO 0/1/2) and of their weight
 * gradient (CONV_WGRAD 0/1/2), the GEMM's right-operand layout (CONV_BPANEL), which weight gradients
 * run on conv_gemm_nn (CONV_WG_NN), conv_gemm_nn's prefetch distance (CONV_PF), the chunks of the
 * weight gradients on conv_gemm_nt (CONV_NT_KB), the strided convs' implicit GEMM (CONV_IMPLICIT,
 * CONV_CIM_ORDER) and stride-2 Winograd forms (CONV_WINO_S2, CONV_WINO_S2_BWD) and the GEMM of the
 * linear layers (CONV_LINEAR). Everything else (and conv's GPU path): each numeric parameter halved
 * and doubled. Not here: the parameters of gemm_wt / gemm_wt_dx and head_bwd_dw (tune_heads_owns),
 * which a network step runs only on its small classifier, or not at all (its loss is the
 * cross-entropy): a time here would be noise, and a value kept by it would reach every ArcFace run
 * unmeasured; the head stage times them on the heads (tools/tune_heads.c). */
static int moves_for(fcl_tune_family f, const int *cur, tune_move *out, int max)
{
    fcl_tune_id first;
    int n = fcl_tune_family_params(f, &first), k = 0;
#define AT(id) cur[(id) - first]
#define TRIPLE(a, va, b, vb, c, vc)                                                                   \
    do {                                                                                            \
        if (k < max && (AT(a) != (va) || AT(b) != (vb) || AT(c) != (vc)))                           \
            out[k++] = (tune_move){3, {a, b, c}, {va, vb, vc}};                                          \
    } while (0)
#define ONE(a, va) \
    do { if (k < max && AT(a) != (va)) out[k++] = (tune_move){1, {a, a, a}, {va, va, va}}; } while (0)
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
        if (tune_heads_owns((fcl_tune_id)(first + j))) continue; /* the head stage's */
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

/* ---- the stage --------------------------------------------------------------------------------- */

int tune_kernels(tune_run *t, const tune_kernel_opts *o)
{
    const fcl_model *m = o->model;
    /* the families by their share of a step: conv first, so a budget cut costs the least */
    static const fcl_tune_family order[] = {FCL_TF_CONV, FCL_TF_BN, FCL_TF_ACT, FCL_TF_ELTWISE,
                                            FCL_TF_POOL, FCL_TF_LOSS, FCL_TF_NORM, FCL_TF_ATTN};
    fcl_tune_family used[sizeof order / sizeof order[0]];
    int n_used = 0, rc = -1;
    for (size_t i = 0; i < sizeof order / sizeof order[0]; i++)
        if (family_used(m, order[i])) used[n_used++] = order[i];
    bench_step step;
    memset(&step, 0, sizeof step);
    tune_search s = {.t = t, .stage = "kernels", .u = &step, .checked = checked_step, .run = bench_step_run,
                     .families = used, .n_families = n_used, .moves = moves_for, .deadline = o->deadline};
    snprintf(s.task, sizeof s.task, "net:%s:%dx%dx%d:%d:c%d:step%s", m->name, m->channels, m->in_h, m->in_w, o->batch,
             m->classes, t->cpu_clock ? ":cpu" : "");
    /* from the defaults, but for what the head stage chose (it is not searched here) */
    tune_config start;
    tune_config_from_cache(t, &start, tune_heads_owns);
    fcl_status st = bench_step_setup(&step, t->ctx, m, o->batch);
    if (st) {
        fprintf(stderr, "facecl: error: tune kernels: %s\n", fcl_ctx_errmsg(t->ctx));
        goto done;
    }
    s.n_out = fcl_tensor_numel(fcl_net_params(step.net)) + fcl_tensor_numel(fcl_net_grads(step.net)) +
              (size_t)o->batch * (size_t)(m->classes > m->embedding_dim ? m->classes : m->embedding_dim);
    fprintf(stderr, "facecl tune: [kernels] %s, batch %d: training steps (%.0fs)\n", m->name, o->batch, tune_elapsed(t));
    double best, base;
    if (tune_search_run(&s, &start, &best, &base)) goto done;
    fprintf(stderr, "facecl tune: [kernels] training step %.1f ms tuned vs %.1f ms at the start (%.2fx)\n", best, base,
            base / best);
    rc = 0;
done:
    bench_step_free(&step);
    return rc;
}
