/* host/ops/margin.c: margin-softmax heads (CosFace, ArcFace, SphereFace): launchers of cl/margin.cl and the head composed with cosine similarity and cross-entropy. */
#include <math.h>

#include "facecl/ops_loss.h"
#include "facecl/ops_metric_loss.h"
#include "ops/cosine_internal.h"
#include "ops/op_util.h"
#include "facecl/tuning.h"

static const fcl_op_src SRC = {"reduce.cl+margin.cl", FCL_TF_LOSS};
/* the heads' fused passes (cl/margin_head.cl) use loss.cl's row helpers and margin.cl's target_f */
static const fcl_op_src HEAD = {"reduce.cl+loss.cl+margin.cl+row_ss8.cl+margin_head.cl", FCL_TF_LOSS};

/* The chunked kernels of cl/margin_head.cl (HEAD_CHUNK) over [n, k]: on CPUs chunks of 128
 * vectors, a group each; with the GPU-shaped row kernels (FCL_ROW_WG > 0) a vector per
 * work-item in the driver's groups. *cw: the chunk's columns (the kernels' cw argument). */
static size_t head_cw(fcl_ctx *ctx)
{
    size_t vec = (size_t)fcl_op_vec(ctx, &HEAD);
    return fcl_tuning_int(ctx, FCL_T_LOSS_ROW_WG) > 0 ? vec : 128 * vec;
}
static fcl_status head_chunked(fcl_ctx *ctx, const char *name, size_t n, size_t k, const fcl_op_val *vals, int nv)
{
    size_t cw = head_cw(ctx), g[2] = {fcl_op_div_up(k, cw), n}, l[2] = {1, 1};
    return fcl_op_call(ctx, &HEAD, name, FCL_GRID_ND, 2, g, fcl_tuning_int(ctx, FCL_T_LOSS_ROW_WG) > 0 ? NULL : l,
                       vals, nv);
}
#define HEAD_CHUNKED(ctx, name, n, k, ...) head_chunked(ctx, name, n, k, FCL_OP_VALS(__VA_ARGS__))

/* head_bwd_d's work-items each take cw columns of every row (the column factors c sum over the
 * rows in order): on CPUs 16 vectors (83 items at 10,575 classes), else a vector each. */
static size_t head_d_cw(fcl_ctx *ctx)
{
    size_t vec = (size_t)fcl_op_vec(ctx, &HEAD);
    return fcl_tuning_int(ctx, FCL_T_LOSS_ROW_WG) > 0 ? vec : 16 * vec;
}
static fcl_status head_bwd_d(fcl_ctx *ctx, size_t k, const fcl_op_val *vals, int nv)
{
    size_t g = fcl_op_div_up(k, head_d_cw(ctx)), l = 1;
    return fcl_op_call(ctx, &HEAD, "head_bwd_d", FCL_GRID_ND, 1, &g,
                       fcl_tuning_int(ctx, FCL_T_LOSS_ROW_WG) > 0 ? NULL : &l, vals, nv);
}

/* ---- parameters ---------------------------------------------------------------------------------- */

static const char *kind_name(fcl_margin_kind k)
{
    switch (k) {
    case FCL_MARGIN_COSFACE: return "CosFace";
    case FCL_MARGIN_ARCFACE: return "ArcFace";
    case FCL_MARGIN_SPHEREFACE: return "SphereFace";
    }
    return "?";
}

/* The checks of fcl_margin_check; messages start with `op`. */
static fcl_status check_params(const fcl_margin_params *p, fcl_error *err, const char *op)
{
    if (!p)
        return FCL_ERR(err, FCL_ERR_INVALID_ARG, "%s: params are NULL", op);
    if (p->kind != FCL_MARGIN_COSFACE && p->kind != FCL_MARGIN_ARCFACE && p->kind != FCL_MARGIN_SPHEREFACE)
        return FCL_ERR(err, FCL_ERR_INVALID_ARG, "%s: unknown margin kind %d", op, (int)p->kind);
    const char *kn = kind_name(p->kind);
    if (!(p->label_smoothing >= 0.0f && p->label_smoothing <= 1.0f))
        return FCL_ERR(err, FCL_ERR_INVALID_ARG, "%s: %s head: label_smoothing = %g is outside [0, 1]", op, kn,
                       (double)p->label_smoothing);
    if (p->kind == FCL_MARGIN_SPHEREFACE) {
        if (!(p->m >= 1.0f && p->m <= 8.0f) || p->m != floorf(p->m))
            return FCL_ERR(err, FCL_ERR_INVALID_ARG, "%s: SphereFace head: m = %g must be an integer in 1..8", op,
                           (double)p->m);
        if (!(p->lambda >= 0.0f) || !isfinite(p->lambda))
            return FCL_ERR(err, FCL_ERR_INVALID_ARG, "%s: SphereFace head: lambda = %g must be finite and >= 0", op,
                           (double)p->lambda);
        return FCL_OK;
    }
    if (!(p->s > 0.0f) || !isfinite(p->s))
        return FCL_ERR(err, FCL_ERR_INVALID_ARG, "%s: %s head: scale s = %g must be finite and > 0", op, kn, (double)p->s);
    if (p->kind == FCL_MARGIN_ARCFACE && !(p->m >= 0.0f && (double)p->m < M_PI))
        return FCL_ERR(err, FCL_ERR_INVALID_ARG, "%s: ArcFace head: angular margin m = %g must be in [0, pi)", op,
                       (double)p->m);
    if (p->kind == FCL_MARGIN_COSFACE && !(p->m >= 0.0f && p->m <= 2.0f))
        return FCL_ERR(err, FCL_ERR_INVALID_ARG, "%s: CosFace head: cosine margin m = %g must be in [0, 2]", op,
                       (double)p->m);
    return FCL_OK;
}

fcl_status fcl_margin_check(const fcl_margin_params *p, fcl_error *err)
{
    return check_params(p, err, "fcl_margin_check");
}

/* The margin arguments of every margin.cl kernel (MARGIN_ARGS there), from p: kind, SphereFace's
 * integer m, easy margin, m, cos m, sin m, th = cos(pi - m), mm = sin(pi - m) m, lambda. */
typedef struct margin_consts { float cm, sm, th, mm; } margin_consts;
static margin_consts consts_of(const fcl_margin_params *p)
{
    double m = p->m;
    margin_consts c = {(float)cos(m), (float)sin(m), (float)cos(M_PI - m), (float)(sin(M_PI - m) * m)};
    return c;
}
#define MARGIN_VALS(p, c)                                                                                 \
    OP_I((p)->kind), OP_I((p)->kind == FCL_MARGIN_SPHEREFACE ? (int)(p)->m : 0), OP_I((p)->easy_margin ? 1 : 0), \
        OP_F((p)->m), OP_F((c).cm), OP_F((c).sm), OP_F((c).th), OP_F((c).mm), OP_F((p)->lambda)

/* Shapes of a margin step: cos [n, k], labels [n], xnorm [n] for SphereFace only, and z (the
 * logits or their gradient, named zname) [n, k]. */
static fcl_status margin_dims(fcl_ctx *ctx, const char *op, const fcl_tensor *cos,
                              const fcl_tensor *labels, const fcl_tensor *xnorm,
                              const fcl_margin_params *p, const char *zname, const fcl_tensor *z, size_t *n, size_t *k)
{
    fcl_status st;
    if ((st = check_params(p, ERRP(ctx), op)))
        return st;
    if ((st = fcl_op_rows_of(ctx, op, "cos", cos, n, k)) || (st = fcl_op_check_rows(ctx, op, "labels", labels, *n, 1)))
        return st;
    if (p->kind == FCL_MARGIN_SPHEREFACE) {
        if (!xnorm)
            return FCL_ERR(ERRP(ctx), FCL_ERR_INVALID_ARG, "%s: SphereFace needs xnorm (the row norms of x)", op);
        if ((st = fcl_op_check_rows(ctx, op, "xnorm", xnorm, *n, 1)))
            return st;
    } else if (xnorm) {
        return FCL_ERR(ERRP(ctx), FCL_ERR_INVALID_ARG, "%s: xnorm is only used by SphereFace; pass NULL for %s",
                       op, kind_name(p->kind));
    }
    return fcl_op_check_rows(ctx, op, zname, z, *n, *k);
}

/* ---- the margin step ---------------------------------------------------------------------------- */

fcl_status fcl_margin_logits_fwd(fcl_ctx *ctx, fcl_tensor *logits, const fcl_tensor *cos,
                                 const fcl_tensor *labels, const fcl_tensor *xnorm,
                                 const fcl_margin_params *p)
{
    const char *op = "fcl_margin_logits_fwd";
    size_t n, k;
    fcl_status st;
    if ((st = margin_dims(ctx, op, cos, labels, xnorm, p, "logits", logits, &n, &k)))
        return st;
    /* elementwise: logits may be cos itself, but no partial overlap, and not labels / xnorm */
    if ((fcl_op_overlaps(logits, cos) && !fcl_op_same(logits, cos)) || fcl_op_overlaps(logits, labels) ||
        fcl_op_overlaps(logits, xnorm))
        return FCL_ERR(ERRP(ctx), FCL_ERR_INVALID_ARG, "%s: logits overlap labels, xnorm or part of cos", op);
    return FCL_OP_2D(ctx, &SRC, "margin_fwd", k, n, OP_T(logits), OP_T(cos), OP_T(labels), OP_T(xnorm), OP_I(n),
               OP_I(k), OP_F(p->s), MARGIN_VALS(p, consts_of(p)));
}

fcl_status fcl_margin_logits_bwd(fcl_ctx *ctx, fcl_tensor *dcos, fcl_tensor *dxnorm,
                                 const fcl_tensor *dlogits, const fcl_tensor *cos,
                                 const fcl_tensor *labels, const fcl_tensor *xnorm,
                                 const fcl_margin_params *p)
{
    const char *op = "fcl_margin_logits_bwd";
    size_t n, k;
    fcl_status st;
    if ((st = margin_dims(ctx, op, cos, labels, xnorm, p, "dlogits", dlogits, &n, &k)) ||
        (dcos && (st = fcl_op_check_rows(ctx, op, "dcos", dcos, n, k))))
        goto fail;
    if (dxnorm) {
        if (p->kind != FCL_MARGIN_SPHEREFACE) {
            st = FCL_ERR(ERRP(ctx), FCL_ERR_INVALID_ARG, "%s: dxnorm is only used by SphereFace; pass NULL for %s",
                         op, kind_name(p->kind));
            goto fail;
        }
        if ((st = fcl_op_check_rows(ctx, op, "dxnorm", dxnorm, n, 1)))
            goto fail;
    }
    const fcl_tensor *ins[4] = {dlogits, cos, labels, xnorm};
    if ((st = fcl_op_check_grads_apart(ctx, op, "dcos", dcos, "dxnorm", dxnorm, ins, 4)))
        goto fail;
    if (dcos) {
        if ((st = FCL_OP_2D(ctx, &SRC, "margin_bwd", k, n, OP_T(dcos), OP_T(dlogits), OP_T(cos), OP_T(labels),
                OP_T(xnorm), OP_I(n), OP_I(k), OP_F(p->s), MARGIN_VALS(p, consts_of(p)))))
            goto fail;
    }
    if (dxnorm) {
        if ((st = FCL_OP_ROWS(ctx, &SRC, "margin_bwd_norm", n, OP_T(dxnorm), OP_T(dlogits), OP_T(cos), OP_T(labels),
                OP_I(n), OP_I(k), MARGIN_VALS(p, consts_of(p)))))
            goto fail;
    }
    return FCL_OK;
fail:
    return st;
}

/* ---- row norms ------------------------------------------------------------------------------------ */

fcl_status fcl_row_norm_fwd(fcl_ctx *ctx, fcl_tensor *norms, const fcl_tensor *x)
{
    const char *op = "fcl_row_norm_fwd";
    size_t n, d;
    fcl_status st;
    if ((st = fcl_op_rows_of(ctx, op, "x", x, &n, &d)) || (st = fcl_op_check_rows(ctx, op, "norms", norms, n, 1)))
        return st;
    if (fcl_op_overlaps(norms, x))
        return FCL_ERR(ERRP(ctx), FCL_ERR_INVALID_ARG, "%s: norms overlap x", op);
    return FCL_OP_ROWS(ctx, &SRC, "row_norm_fwd", n, OP_T(norms), OP_T(x), OP_I(n), OP_I(d));
}

fcl_status fcl_row_norm_bwd(fcl_ctx *ctx, fcl_tensor *dx, const fcl_tensor *dnorms, const fcl_tensor *x)
{
    const char *op = "fcl_row_norm_bwd";
    size_t n, d;
    fcl_status st;
    if ((st = fcl_op_rows_of(ctx, op, "x", x, &n, &d)) || (st = fcl_op_check_rows(ctx, op, "dnorms", dnorms, n, 1)) ||
        (st = fcl_op_check_rows(ctx, op, "dx", dx, n, d)))
        return st;
    if (fcl_op_overlaps(dx, x) || fcl_op_overlaps(dx, dnorms))
        return FCL_ERR(ERRP(ctx), FCL_ERR_INVALID_ARG, "%s: dx overlaps x or dnorms", op);
    return FCL_OP_ROWS(ctx, &SRC, "row_norm_bwd", n, OP_T(dx), OP_T(dnorms), OP_T(x), OP_I(n), OP_I(d),
            OP_F(FCL_L2NORM_EPS));
}

/* ---- the head ------------------------------------------------------------------------------------- */

/* Sizes of a head: x [n, d], w [k, d], labels [n]. */
static fcl_status head_dims(fcl_ctx *ctx, const char *op, const fcl_tensor *x, const fcl_tensor *w,
                            const fcl_tensor *labels, const fcl_margin_params *p, size_t *n, size_t *d,
                            size_t *k)
{
    fcl_status st;
    if ((st = check_params(p, ERRP(ctx), op)) || (st = fcl_op_rows_match(ctx, op, "x", x, n, "W", w, k, d)))
        return st;
    return fcl_op_check_rows(ctx, op, "labels", labels, *n, 1);
}

/* The weights' statistics of fcl_margin_head_opts: w_stats [2, k] checked, its rows as rb and q
 * (views; head_w_norms' outputs). */
static fcl_status w_stats_rows(fcl_ctx *ctx, const char *op, const fcl_tensor *ws, size_t k, fcl_tensor *rb,
                               fcl_tensor *q)
{
    fcl_status st = fcl_op_check_rows(ctx, op, "w_stats", ws, 2, k);
    if (!st) st = fcl_tensor_view(ctx, ws, 0, 1, &k, rb);
    if (!st) st = fcl_tensor_view(ctx, ws, k, 1, &k, q);
    return st;
}

/* head_w_norms (or its work-group form) into rb [k] and q [k] */
static fcl_status w_norms(fcl_ctx *ctx, const fcl_tensor *rb, const fcl_tensor *q, const fcl_tensor *w, size_t k,
                          size_t d)
{
    return FCL_OP_ROWS(ctx, &HEAD, "head_w_norms", k, OP_T(rb), OP_T(q), OP_T(w), OP_I(k), OP_I(d),
                       OP_F(FCL_L2NORM_EPS));
}

static fcl_status head_fwd(fcl_ctx *ctx, const char *op, fcl_tensor *loss, fcl_tensor *logits, fcl_tensor *cos,
                           const fcl_tensor *x, const fcl_tensor *w, const fcl_tensor *labels,
                           const fcl_margin_params *p, const fcl_margin_head_opts *o)
{
    fcl_tensor tcos = {0}, tz = {0}, xn = {0}, ra = {0}, rb = {0}, tq = {0}, srb = {0}, sq = {0};
    const fcl_tensor *ws = o ? o->w_stats : NULL, *rs = o ? o->row_stats : NULL;
    size_t n, d, k;
    fcl_status st;
    if ((st = head_dims(ctx, op, x, w, labels, p, &n, &d, &k)) || (st = fcl_op_check_t(ctx, op, "loss", loss)) ||
        (logits && (st = fcl_op_check_rows(ctx, op, "logits", logits, n, k))) ||
        (cos && (st = fcl_op_check_rows(ctx, op, "cos", cos, n, k))) ||
        (ws && (st = w_stats_rows(ctx, op, ws, k, &srb, &sq))) ||
        (rs && (st = fcl_op_check_rows(ctx, op, "row_stats", rs, n, 2))))
        goto fail;
    const fcl_tensor *outs[5] = {loss, logits, cos, ws, rs}, *ins[3] = {x, w, labels};
    for (int i = 0; i < 5; i++) {
        for (int j = 0; j < 5; j++)
            if ((j < 3 && fcl_op_overlaps(outs[i], ins[j])) || (j != i && fcl_op_overlaps(outs[i], outs[j]))) {
                st = FCL_ERR(ERRP(ctx), FCL_ERR_INVALID_ARG, "%s: loss, logits, cos, w_stats and row_stats must not "
                             "overlap x, W, labels or each other", op);
                goto fail;
            }
    }
    if (!cos) {
        if ((st = fcl_op_temp(ctx, &tcos, n, k, 0)))
            goto fail;
        cos = &tcos;
    }
    if (!logits) {
        if ((st = fcl_op_temp(ctx, &tz, n, k, 0)))
            goto fail;
        logits = &tz;
    }
    int sphere = p->kind == FCL_MARGIN_SPHEREFACE;
    if (sphere && ((st = fcl_op_temp(ctx, &xn, n, 1, 0)) || (st = fcl_row_norm_fwd(ctx, &xn, x))))
        goto fail;
    fcl_xent_params xp = {p->label_smoothing};
    /* cos = diag(ra) x W^T diag(rb) as fcl_cosine_sim_fwd, its scaling fused with the margin
     * (cl/margin_head.cl head_epi_span), then the cross-entropy; with w_stats the weights' norms
     * into them, kept for the backward (the same float operations as the backward's own pass) */
    const fcl_tensor *rbv = ws ? &srb : &rb;
    int cpu = fcl_tuning_int(ctx, FCL_T_LOSS_ROW_WG) <= 0, done = 0;
    if ((st = fcl_cos_inv_norms(ctx, x, n, d, &ra)))
        goto fail;
    if (cpu) {
        /* CPU shape: the norms as head_w_norms finds them (cl/row_ss8.cl's order; also the backward's
         * without w_stats), from the GEMM's first column block where it runs on gemm_wt (a shape
         * rule: the product has W's rows in L1; head_w_norms read all of W again, 11% of the
         * forward at batch 64). Zen 3, loaded, perf record of `bench ops --filter "casia
         * 64x512>10575 s64 m0.5"` (ArcFace), the samples of gemm_wt (forward + dx) and head_w_norms
         * over head_bwd_dw's, 6 alternating pairs: 2.29-2.60 (mean 2.47) -> 2.10-2.42 (2.27), 5
         * lower; gemm_wt's alone 2.30 -> 2.27 (the first column block's extra reads are cheap). */
        if ((!ws && ((st = fcl_op_temp(ctx, &rb, k, 1, 0)) || (st = fcl_op_temp(ctx, &tq, k, 1, 0)))) ||
            (st = fcl_op_gemm_abt_norms(ctx, cos, x, w, n, k, d, rbv, ws ? &sq : &tq, &done)) ||
            (!done && ((st = w_norms(ctx, rbv, ws ? &sq : &tq, w, k, d)) ||
                       (st = fcl_op_gemm(ctx, cos, x, 0, w, 1, n, k, d, 0.0f)))))
            goto fail;
    } else if ((st = ws ? w_norms(ctx, &srb, &sq, w, k, d) : fcl_cos_inv_norms(ctx, w, k, d, &rb)) ||
               (st = fcl_op_gemm(ctx, cos, x, 0, w, 1, n, k, d, 0.0f))) {
        goto fail;
    }
    /* On CPUs the epilogue and the cross-entropy of a row in one work-item (head_fwd_rows: the
     * same float operations as head_fwd_epi + xent_fwd_rows; with row_stats also the row max and
     * log-sum-exp for the backward); the GPU-shaped rows: head_fwd_epi in chunks, then the
     * cross-entropy (and head_bwd_stats for row_stats). Zen 3, loaded, perf record of `bench ops
     * --filter "s64 m0.5"` (ArcFace, 4 shapes), these kernels' samples over the forward gemm_wt's,
     * 3 alternating rounds: epi + xent 0.106 / 0.107 / 0.109 -> fused 0.095 / 0.087 / 0.090. */
    if (fcl_tuning_int(ctx, FCL_T_LOSS_ROW_WG) <= 0) {
        st = FCL_OP_ROWS_SUM(ctx, &HEAD, "head_fwd_rows", loss, NULL, n, (float)(1.0 / (double)n), OP_T(logits),
                             OP_T(cos), OP_T(&ra), OP_T(rbv), OP_T(labels), OP_T(sphere ? &xn : NULL), OP_T(rs),
                             OP_I(rs != NULL), OP_I(n), OP_I(k), OP_F(p->s), OP_F(p->label_smoothing),
                             MARGIN_VALS(p, consts_of(p)));
        goto fail;
    }
    if ((st = HEAD_CHUNKED(ctx, "head_fwd_epi", n, k, OP_T(logits), OP_T(cos), OP_T(&ra), OP_T(rbv), OP_T(labels),
                           OP_T(sphere ? &xn : NULL), OP_I(n), OP_I(k), OP_I(head_cw(ctx)), OP_F(p->s),
                           MARGIN_VALS(p, consts_of(p)))) ||
        (st = fcl_softmax_xent_fwd(ctx, loss, NULL, logits, labels, &xp)))
        goto fail;
    if (rs)
        st = FCL_OP_ROWS(ctx, &HEAD, "head_bwd_stats", n, OP_T(rs), OP_T(NULL), OP_T(logits), OP_T(cos), OP_T(labels),
                         OP_I(n), OP_I(k), OP_F(p->label_smoothing), OP_F(0.0f), OP_I(0), MARGIN_VALS(p, consts_of(p)));
fail:
    /* in-order queue: a recycled block is only reused by work enqueued after ours */
    FCL_OP_RELEASE(ctx, &tcos, &tz, &xn, &ra, &rb, &tq);
    return st;
}

fcl_status fcl_margin_head_fwd(fcl_ctx *ctx, fcl_tensor *loss, fcl_tensor *logits,
                               fcl_tensor *cos, const fcl_tensor *x, const fcl_tensor *w,
                               const fcl_tensor *labels, const fcl_margin_params *p)
{
    return head_fwd(ctx, "fcl_margin_head_fwd", loss, logits, cos, x, w, labels, p, NULL);
}

fcl_status fcl_margin_head_fwd_opt(fcl_ctx *ctx, fcl_tensor *loss, fcl_tensor *logits, fcl_tensor *cos,
                                   const fcl_tensor *x, const fcl_tensor *w, const fcl_tensor *labels,
                                   const fcl_margin_params *p, const fcl_margin_head_opts *o)
{
    return head_fwd(ctx, "fcl_margin_head_fwd_opt", loss, logits, cos, x, w, labels, p, o);
}

static fcl_status head_bwd(fcl_ctx *ctx, const char *op, fcl_tensor *dx, fcl_tensor *dw, const fcl_tensor *logits,
                           const fcl_tensor *cos, const fcl_tensor *x, const fcl_tensor *w, const fcl_tensor *labels,
                           const fcl_margin_params *p, float dloss, const fcl_margin_head_opts *o)
{
    fcl_tensor dd = {0}, dt = {0}, stats = {0}, ra = {0}, rb = {0}, q = {0}, c = {0}, xn = {0}, dxn = {0}, xp = {0},
               xq = {0};
    const fcl_tensor *ws = o ? o->w_stats : NULL, *rs = o ? o->row_stats : NULL;
    size_t n, d, k;
    fcl_status st;
    if ((st = head_dims(ctx, op, x, w, labels, p, &n, &d, &k)) ||
        (st = fcl_op_check_rows(ctx, op, "logits", logits, n, k)) ||
        (st = fcl_op_check_rows(ctx, op, "cos", cos, n, k)) ||
        (dx && (st = fcl_op_check_rows(ctx, op, "dx", dx, n, d))) ||
        (dw && (st = fcl_op_check_rows(ctx, op, "dW", dw, k, d))) ||
        (ws && (st = w_stats_rows(ctx, op, ws, k, &rb, &q))) ||
        (rs && (st = fcl_op_check_rows(ctx, op, "row_stats", rs, n, 2))))
        goto fail;
    const fcl_tensor *ins[7] = {logits, cos, x, w, labels, ws, rs};
    if ((st = fcl_op_check_grads_apart(ctx, op, "dx", dx, "dW", dw, ins, 7)))
        goto fail;
    if (!dx && !dw)
        return FCL_OK;
    int sphere = p->kind == FCL_MARGIN_SPHEREFACE;
    /* head_bwd_dw's block (cl/margin_head.cl): dt holds D^T in panels of mb classes */
    size_t mb = (size_t)fcl_tuning_int(ctx, FCL_T_LOSS_HEAD_MB),
           nb = (size_t)(fcl_tuning_int(ctx, FCL_T_LOSS_HEAD_NV) * fcl_tuning_int(ctx, FCL_T_LOSS_HEAD_VW));
    float eps = p->label_smoothing, coef = (float)((double)dloss / (double)n);
    /* as fcl_cosine_sim_bwd of dcos = the margin's backward of the cross-entropy's, fused
     * (cl/margin_head.cl): the weights' norms rb (and their projection factors) in one read of
     * W; the softmax's row max and log-sum-exp (and SphereFace's d||x||); then in one pass
     * D = diag(ra) dcos diag(rb) (scale_rows_cols' matrix); dW in one GEMM with the
     * normalisation's backward as its epilogue, dx += l2norm_bwd_scaled(D W, x) */
    int want_dxn = sphere && dx;
    /* SphereFace's d||x|| (dxn [n]): on CPUs (a shape rule) in parts by head_bwd_d's work-items
     * (xq [ceil(k / cw), n]) as it finds D from the same softmax gradients, summed by head_dxn_bwd;
     * the GPU-shaped rows (a vector a work-item: k / vec parts a row) by head_bwd_stats' pass.
     * Zen 3, loaded, `bench ops --filter "casia 64x512>10575 m4" --kernels`: head_bwd_stats' 1.3 ms
     * (3.9%) gone, head_bwd_d 2.12 -> 2.29 ms; `--filter sphereface` backward CPU ms, 6 pairs:
     * casia b64 28.3-33.6 -> 26.3-28.2, b128 48.3-58.2 -> 42.6-61.1, hw2p2 b64 21.7-27.4 -> 19.7-24.7. */
    size_t parts = fcl_op_div_up(k, head_d_cw(ctx));
    /* head_bwd_d's outputs (cl/margin_head.cl HEAD_OUT_*): D row-major (dd) for a dx product that
     * reads it so, D^T's panels (dt) for head_bwd_dw and for a dx product that reads them, the
     * weights' column factors c for dW */
    enum { OUT_DD = 1, OUT_DT = 2, OUT_C = 4 };
    int dx_panels = dx && fcl_op_gemm_ab_panels_ok(ctx, n, d, k, mb);
    int outs = (dx && !dx_panels ? OUT_DD : 0) | (dw || (dx && dx_panels) ? OUT_DT : 0) | (dw ? OUT_C : 0);
    int dxn_parts = want_dxn && fcl_tuning_int(ctx, FCL_T_LOSS_ROW_WG) <= 0, dxn_pass = want_dxn && !dxn_parts;
    /* the forward's row statistics (row_stats) unless SphereFace's d||x|| needs the pass anyway */
    const fcl_tensor *sp = rs && !dxn_pass ? rs : &stats;
    if ((st = fcl_cos_inv_norms(ctx, x, n, d, &ra)) || (sp == &stats && (st = fcl_op_temp(ctx, &stats, n, 2, 0))) ||
        (dxn_parts && (st = fcl_op_temp(ctx, &xq, parts, n, 0))) ||
        ((outs & OUT_DD) && (st = fcl_op_temp(ctx, &dd, n, k, 0))) || (!ws && (st = fcl_op_temp(ctx, &rb, k, 1, 0))) ||
        (!ws && (st = fcl_op_temp(ctx, &q, k, 1, 0))) ||
        ((outs & OUT_DT) && (st = fcl_op_temp(ctx, &dt, fcl_op_div_up(k, mb) * mb, n, 0))))
        goto fail;
    if (sphere && ((st = fcl_op_temp(ctx, &xn, n, 1, 0)) || (dxn_pass && (st = fcl_op_temp(ctx, &dxn, n, 1, 0))) ||
                   (st = fcl_row_norm_fwd(ctx, &xn, x))))
        goto fail;
    if ((!ws && (st = w_norms(ctx, &rb, &q, w, k, d))) ||
        (sp == &stats &&
         (st = FCL_OP_ROWS(ctx, &HEAD, "head_bwd_stats", n, OP_T(&stats), OP_T(dxn_pass ? &dxn : NULL), OP_T(logits),
                           OP_T(cos), OP_T(labels), OP_I(n), OP_I(k), OP_F(eps), OP_F(coef), OP_I(dxn_pass),
                           MARGIN_VALS(p, consts_of(p))))) ||
        (dw && (st = fcl_op_temp(ctx, &c, k, 1, 0))) ||
        (st = head_bwd_d(ctx, k,
                         FCL_OP_VALS(OP_T(outs & OUT_DD ? &dd : NULL), OP_T(outs & OUT_DT ? &dt : NULL), OP_T(dw ? &c : NULL),
                                     OP_T(dxn_parts ? &xq : NULL), OP_T(sp), OP_T(cos), OP_T(&ra),
                                     OP_T(&rb), OP_T(&q), OP_T(labels), OP_T(sphere ? &xn : NULL), OP_I(n), OP_I(k),
                                     OP_I(head_d_cw(ctx)), OP_I(outs), OP_I(dxn_parts), OP_F(p->s), OP_F(eps),
                                     OP_F(coef), MARGIN_VALS(p, consts_of(p))))))
        goto fail;
    /* dW += D^T x - diag(c) W, x in panels of nb columns. On CPUs a work-group is every column
     * block of one block of mb classes (a shape rule; the same results for any grouping): its D^T
     * panel stays in L1 across the group and the epilogue reads / writes whole rows of W and dW
     * (mb x 2 KiB at d 512) in one go. PoCL's own choice was 8 column blocks (a quarter row).
     * Zen 3, loaded, perf record of `bench ops --filter "casia 64x512>10575 s64 m0.5"` (ArcFace),
     * head_bwd_dw's samples over the dx product's (gemm_wt), 3 alternating rounds: batch 64
     * 0.988 / 0.976 / 0.929 -> 0.912 / 0.890 / 0.877, batch 128 0.949 / 0.929 / 0.879 -> 0.886 /
     * 0.844 / 0.879 (16 column blocks in between, 32 x 2 / 32 x 4 level with 32 x 1). */
    size_t gdw[2] = {fcl_op_div_up(d, nb), fcl_op_div_up(k, mb)}, ldw[2] = {gdw[0], 1};
    int dw_rows = fcl_tuning_int(ctx, FCL_T_LOSS_ROW_WG) <= 0 && gdw[0] <= 256;
    if (dw && ((st = fcl_op_temp(ctx, &xp, fcl_op_div_up(d, nb) * n, nb, 0)) ||
               (st = FCL_OP_2D(ctx, &HEAD, "head_x_panels", fcl_op_div_up(d, nb) * nb, n, OP_T(&xp), OP_T(x), OP_I(n),
                               OP_I(d))) ||
               (st = fcl_op_call(ctx, &HEAD, "head_bwd_dw", FCL_GRID_ND, 2, gdw, dw_rows ? ldw : NULL,
                                 FCL_OP_VALS(OP_T(dw), OP_T(&dt), OP_T(&xp), OP_T(w), OP_T(&c), OP_I(n), OP_I(k),
                                             OP_I(d), OP_I(!(o && o->dw_overwrite)))))))
        goto fail;
    /* dx's product D W reads D from dt's panels where it runs gemm_wt_dx (CPUs): a sub-slice's D one
     * sequential block (ArcFace casia b64, its samples over head_bwd_dw's, dd -> dt: 1.015 / 1.003 /
     * 0.959 / 0.969 -> 0.973 / 0.990 / 0.947 / 0.985, 4 pairs: level), so that dd is not stored
     * (dx_panels above: head_bwd_d then writes dt, not dd, also without dW) */
    if (dx && (st = dx_panels ? fcl_cos_bwd_scaled_panels(ctx, dx, &dt, mb, x, w, n, k, d)
                        : fcl_cos_bwd_scaled(ctx, dx, NULL, &dd, x, w, n, k, d)))
        goto fail;
    if (dxn_pass && (st = fcl_row_norm_bwd(ctx, dx, &dxn, x)))
        goto fail;
    if (dxn_parts && (st = FCL_OP_ROWS(ctx, &HEAD, "head_dxn_bwd", n, OP_T(dx), OP_T(&xq), OP_T(x), OP_I((int)parts),
                                       OP_I(n), OP_I(d), OP_F(FCL_L2NORM_EPS))))
        goto fail;
fail:
    FCL_OP_RELEASE(ctx, &dd, &dt, &stats, &ra, &rb, &q, &c, &xn, &dxn, &xp, &xq);
    return st;
}

fcl_status fcl_margin_head_bwd(fcl_ctx *ctx, fcl_tensor *dx, fcl_tensor *dw,
                               const fcl_tensor *logits, const fcl_tensor *cos,
                               const fcl_tensor *x, const fcl_tensor *w, const fcl_tensor *labels,
                               const fcl_margin_params *p, float dloss)
{
    return head_bwd(ctx, "fcl_margin_head_bwd", dx, dw, logits, cos, x, w, labels, p, dloss, NULL);
}

fcl_status fcl_margin_head_bwd_opt(fcl_ctx *ctx, fcl_tensor *dx, fcl_tensor *dw, const fcl_tensor *logits,
                                   const fcl_tensor *cos, const fcl_tensor *x, const fcl_tensor *w,
                                   const fcl_tensor *labels, const fcl_margin_params *p, float dloss,
                                   const fcl_margin_head_opts *o)
{
    return head_bwd(ctx, "fcl_margin_head_bwd_opt", dx, dw, logits, cos, x, w, labels, p, dloss, o);
}

/* ---- SphereFace's lambda schedule ---------------------------------------------------------------- */

fcl_status fcl_sphereface_lambda(float *lambda, const fcl_sphereface_schedule *s, long iter,
                                 fcl_error *err)
{
    if (!lambda || !s)
        return FCL_ERR(err, FCL_ERR_INVALID_ARG, "fcl_sphereface_lambda: NULL argument");
    if (!(s->base > 0.0 && isfinite(s->base)) || !(s->gamma >= 0.0 && isfinite(s->gamma)) ||
        !(s->power >= 0.0 && isfinite(s->power)) || !(s->lambda_min >= 0.0 && isfinite(s->lambda_min)))
        return FCL_ERR(err, FCL_ERR_INVALID_ARG,
                       "fcl_sphereface_lambda: need base > 0 and gamma, power, lambda_min >= 0 (finite); got "
                       "base %g gamma %g power %g lambda_min %g",
                       s->base, s->gamma, s->power, s->lambda_min);
    if (iter < 0)
        return FCL_ERR(err, FCL_ERR_INVALID_ARG, "fcl_sphereface_lambda: iteration %ld is negative", iter);
    double l = s->base * pow(1.0 + s->gamma * (double)iter, -s->power);
    *lambda = (float)(l > s->lambda_min ? l : s->lambda_min);
    return FCL_OK;
}
