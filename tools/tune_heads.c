/* tools/tune_heads.c: `facecl tune`'s head stage: the parameters of the margin heads' and classifiers' kernels (gemm_wt, gemm_wt_dx, head_bwd_dw) searched (tools/tune_search.c) on ArcFace training steps at the heads' real sizes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "commands.h"
#include "tune.h"

int tune_heads_owns(fcl_tune_id id)
{
    return id == FCL_T_LOSS_HEAD_MB || id == FCL_T_LOSS_HEAD_NV || id == FCL_T_LOSS_HEAD_VW ||
           id == FCL_T_CONV_WT_DX || id == FCL_T_CONV_WT_SPLIT || id == FCL_T_CONV_WT_RB_FAST;
}

/* One head [batch, dim] -> classes with what a training step keeps between its passes. */
enum { X, W, LABELS, LOSS, LOGITS, COS, DX, DW, WSTATS, ROWSTATS, N_T };
typedef struct head_shape {
    size_t n, d, k;
    fcl_tensor t[N_T];
} head_shape;

#define MAX_HEADS 16
typedef struct heads {
    fcl_ctx *ctx;
    fcl_margin_params p;
    head_shape s[MAX_HEADS];
    int ns;
} heads;

/* ArcFace's forward and backward as host/nn/train_loss.c runs them: the forward keeps the
 * weights' norms and the softmax's row statistics, the backward overwrites dW and adds to dx. */
static fcl_status head_step(const heads *h, head_shape *g)
{
    fcl_tensor *t = g->t;
    fcl_margin_head_opts o = {&t[WSTATS], 1, &t[ROWSTATS]};
    fcl_status st = fcl_margin_head_fwd_opt(h->ctx, &t[LOSS], &t[LOGITS], &t[COS], &t[X], &t[W], &t[LABELS], &h->p, &o);
    if (!st)
        st = fcl_margin_head_bwd_opt(h->ctx, &t[DX], &t[DW], &t[LOGITS], &t[COS], &t[X], &t[W], &t[LABELS], &h->p, 1.0f,
                                     &o);
    return st;
}

/* every head once: the time a candidate is judged by */
static fcl_status heads_run(void *u)
{
    heads *h = u;
    fcl_status st = FCL_OK;
    for (int i = 0; i < h->ns && !st; i++) st = head_step(h, &h->s[i]);
    return st;
}

/* every head once from dx = 0: its loss, dx and dW, three parts a head */
static fcl_status heads_checked(void *u, float *out, size_t *seg, int *n_seg)
{
    heads *h = u;
    fcl_status st = FCL_OK;
    *n_seg = 0;
    for (int i = 0; i < h->ns && !st; i++) {
        head_shape *g = &h->s[i];
        st = fcl_tensor_fill(h->ctx, &g->t[DX], 0.0f);
        if (!st) st = head_step(h, g);
        if (!st) st = fcl_tensor_download(h->ctx, &g->t[LOSS], out, 1);
        if (!st) st = fcl_tensor_download(h->ctx, &g->t[DX], out + 1, g->n * g->d);
        if (!st) st = fcl_tensor_download(h->ctx, &g->t[DW], out + 1 + g->n * g->d, g->k * g->d);
        seg[(*n_seg)++] = 1;
        seg[(*n_seg)++] = g->n * g->d;
        seg[(*n_seg)++] = g->k * g->d;
        out += 1 + g->n * g->d + g->k * g->d;
    }
    return st;
}

/* x and W: fixed patterns in [-1, 1] (a constant would make every cosine 1); labels i * 7919 % k */
static fcl_status shape_alloc(heads *h, head_shape *g, float *buf)
{
    const size_t shapes[N_T][2] = {[X] = {g->n, g->d},   [W] = {g->k, g->d},       [LABELS] = {g->n, 1},
                                   [LOSS] = {1, 1},      [LOGITS] = {g->n, g->k},  [COS] = {g->n, g->k},
                                   [DX] = {g->n, g->d},  [DW] = {g->k, g->d},      [WSTATS] = {2, g->k},
                                   [ROWSTATS] = {g->n, 2}};
    fcl_status st = FCL_OK;
    for (int i = 0; i < N_T && !st; i++) {
        st = fcl_tensor_alloc(h->ctx, &g->t[i], i == LABELS || i == LOSS ? 1 : 2, shapes[i], FCL_F32);
        if (!st && i != X && i != W && i != LABELS) st = fcl_tensor_fill(h->ctx, &g->t[i], 0.0f);
    }
    if (!st) st = tune_fill(h->ctx, &g->t[X], buf, g->n * g->d, 1);
    if (!st) st = tune_fill(h->ctx, &g->t[W], buf, g->k * g->d, 8);
    int *lab = st ? NULL : malloc(g->n * sizeof *lab);
    if (!st && !lab) st = FCL_ERR(fcl_ctx_error(h->ctx), FCL_ERR_NOMEM, "tune: out of memory");
    for (size_t j = 0; !st && j < g->n; j++) lab[j] = (int)((j * 7919u) % g->k);
    if (!st) st = fcl_labels_upload(h->ctx, &g->t[LABELS], lab, g->n, (int)g->k);
    free(lab);
    return st;
}

/* The moves: for conv (on the CPU kernels) how dx = D W runs (CONV_WT_DX: gemm_wt slices,
 * CONV_WT_SPLIT, or gemm_wt_dx with 2 / 4 / 8 column blocks a work-item) and gemm_wt's launch
 * order (CONV_WT_RB_FAST); for loss head_bwd_dw's register block (rows x vectors x width: the
 * AVX-512 blocks of 16 and 24 accumulators, the AVX2 ones of 12 and fewer, the GPU column's). */
static int head_moves(fcl_tune_family f, const int *cur, tune_move *out, int max)
{
    fcl_tune_id first;
    fcl_tune_family_params(f, &first);
    int k = 0;
#define AT(id) cur[(id) - first]
#define ONE(a, va) \
    do { if (k < max && AT(a) != (va)) out[k++] = (tune_move){1, {a, a, a}, {va, va, va}}; } while (0)
    if (f == FCL_TF_CONV) {
        static const int dx[] = {0, 2, 4, 8};
        for (size_t i = 0; i < sizeof dx / sizeof dx[0]; i++) ONE(FCL_T_CONV_WT_DX, dx[i]);
        if (AT(FCL_T_CONV_WT_DX) == 0) { /* only read when gemm_wt runs dx */
            ONE(FCL_T_CONV_WT_SPLIT, 0);
            ONE(FCL_T_CONV_WT_SPLIT, 16);
        }
        ONE(FCL_T_CONV_WT_RB_FAST, 0);
        ONE(FCL_T_CONV_WT_RB_FAST, 1);
    } else if (f == FCL_TF_LOSS) {
        static const int blk[][3] = {{8, 2, 16}, {12, 2, 16}, {8, 3, 16}, {6, 4, 16}, {4, 4, 16}, {6, 2, 8},
                                     {4, 3, 8},  {8, 1, 8},   {8, 2, 4},  {4, 2, 4}};
        for (size_t i = 0; i < sizeof blk / sizeof blk[0]; i++)
            if (k < max && (AT(FCL_T_LOSS_HEAD_MB) != blk[i][0] || AT(FCL_T_LOSS_HEAD_NV) != blk[i][1] ||
                            AT(FCL_T_LOSS_HEAD_VW) != blk[i][2]))
                out[k++] = (tune_move){3, {FCL_T_LOSS_HEAD_MB, FCL_T_LOSS_HEAD_NV, FCL_T_LOSS_HEAD_VW},
                                       {blk[i][0], blk[i][1], blk[i][2]}};
    }
    return k;
#undef AT
#undef ONE
}

int tune_heads(tune_run *t, const tune_head_opts *o)
{
    heads h;
    memset(&h, 0, sizeof h);
    h.ctx = t->ctx;
    h.p = (fcl_margin_params){FCL_MARGIN_ARCFACE, 64.0f, 0.5f, 0, 0.0f, 0.0f}; /* s 64, m 0.5: the usual recipe */
    int rc = -1;
    float *buf = NULL;
    size_t n_out = 0, most = 0;
    static const fcl_tune_family families[] = {FCL_TF_CONV, FCL_TF_LOSS};
    tune_search s = {.t = t, .stage = "heads", .u = &h, .checked = heads_checked, .run = heads_run,
                     .families = families, .n_families = 2, .moves = head_moves, .deadline = t->deadline};
    int used = snprintf(s.task, sizeof s.task, "heads:arcface:%dx%d>", o->batch, o->dim);
    for (int i = 0; i < o->n_classes && i < MAX_HEADS; i++) {
        head_shape *g = &h.s[h.ns++];
        g->n = (size_t)o->batch;
        g->d = (size_t)o->dim;
        g->k = (size_t)o->classes[i];
        n_out += 1 + g->n * g->d + g->k * g->d;
        size_t need = g->k > g->n ? g->k * g->d : g->n * g->d;
        if (need > most) most = need;
        if (used < (int)sizeof s.task)
            used += snprintf(s.task + used, sizeof s.task - (size_t)used, "%s%zu", i ? "," : "", g->k);
    }
    if (used < (int)sizeof s.task) snprintf(s.task + used, sizeof s.task - (size_t)used, ":step%s", t->cpu_clock ? ":cpu" : "");
    s.n_out = n_out;
    /* from what the cache holds now: the kernel stage's choice (or an earlier run's) */
    tune_config start;
    tune_config_from_cache(t, &start, NULL);
    fcl_status st = (buf = malloc(most * sizeof *buf)) ? FCL_OK : FCL_ERR(fcl_ctx_error(t->ctx), FCL_ERR_NOMEM, "tune: out of memory");
    for (int i = 0; i < h.ns && !st; i++) st = shape_alloc(&h, &h.s[i], buf);
    if (st) {
        fprintf(stderr, "facecl: error: tune heads: %s\n", fcl_ctx_errmsg(t->ctx));
        goto done;
    }
    fprintf(stderr, "facecl tune: [heads] ArcFace from %d, batch %d, %d class count(s): forward + backward (%.0fs)\n",
            o->dim, o->batch, h.ns, tune_elapsed(t));
    double best, base;
    if (tune_search_run(&s, &start, &best, &base)) goto done;
    fprintf(stderr, "facecl tune: [heads] %.1f ms tuned vs %.1f ms at the start (%.2fx)\n", best, base, base / best);
    rc = 0;
done:
    for (int i = 0; i < h.ns; i++)
        for (int j = 0; j < N_T; j++) fcl_tensor_release(t->ctx, &h.s[i].t[j]);
    free(buf);
    return rc;
}
