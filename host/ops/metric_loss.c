/* host/ops/metric_loss.c: launchers of cl/metric_loss.cl: center loss (+ Wen's centre update), triplet loss with online mining, contrastive loss, histogram loss. */
#include <math.h>

#include "facecl/ops_eltwise.h"
#include "facecl/ops_loss.h"
#include "facecl/ops_metric_loss.h"
#include "ops/op_util.h"

/* x [n, d] and labels [n]. */
static fcl_status emb_dims(fcl_ctx *ctx, const char *op, const fcl_tensor *x, const fcl_tensor *labels,
                           size_t *n, size_t *d)
{
    fcl_status st = fcl_op_rows_of(ctx, op, "x", x, n, d);
    return st ? st : fcl_op_check_rows(ctx, op, "labels", labels, *n, 1);
}

static const fcl_op_src SRC = {"reduce.cl+metric_loss.cl", FCL_TF_LOSS};

/* An output of a loss over x [n, d] and labels: the loss itself (`name` "loss") or the gradient
 * dx [n, d] (may be NULL); it must not overlap x or labels. */
static fcl_status emb_out(fcl_ctx *ctx, const char *op, const char *name, const fcl_tensor *out,
                          const fcl_tensor *x, const fcl_tensor *labels, size_t n, size_t d)
{
    fcl_status st = FCL_OK;
    if (name[0] == 'l' ? (st = fcl_op_check_t(ctx, op, name, out)) != FCL_OK
                       : out && (st = fcl_op_check_rows(ctx, op, name, out, n, d)) != FCL_OK)
        return st;
    const fcl_tensor *ins[2] = {x, labels};
    return fcl_op_check_apart_any(ctx, op, name, out, ins, 2, "x or labels");
}

/* ==== center loss ============================================================================ */

static fcl_status center_dims(fcl_ctx *ctx, const char *op, const fcl_tensor *x,
                              const fcl_tensor *centers, const fcl_tensor *labels, size_t *n,
                              size_t *d, size_t *k)
{
    fcl_status st = fcl_op_rows_match(ctx, op, "x", x, n, "centers", centers, k, d);
    return st ? st : fcl_op_check_rows(ctx, op, "labels", labels, *n, 1);
}

/* The center_gather kernel: out[j] += scale * sum_{y_i = j}(x_i - c_j) / (use_count ? 1 + n_j : 1). */
static fcl_status center_gather(fcl_ctx *ctx, fcl_tensor *out, const fcl_tensor *x,
                                const fcl_tensor *centers, const fcl_tensor *labels, size_t n,
                                size_t d, size_t k, float scale, int use_count)
{
    return FCL_OP_2D(ctx, &SRC, "center_gather", d, n, OP_T(out), OP_T(x), OP_T(centers), OP_T(labels), OP_I(n),
            OP_I(d), OP_I(k), OP_F(scale), OP_I(use_count));
}

fcl_status fcl_center_loss_fwd(fcl_ctx *ctx, fcl_tensor *loss, const fcl_tensor *x,
                               const fcl_tensor *centers, const fcl_tensor *labels)
{
    const char *op = "fcl_center_loss_fwd";
    size_t n, d, k;
    fcl_status st;
    const fcl_tensor *ins[3] = {x, centers, labels};
    if ((st = center_dims(ctx, op, x, centers, labels, &n, &d, &k)) || (st = fcl_op_check_t(ctx, op, "loss", loss)) ||
        (st = fcl_op_check_apart_any(ctx, op, "loss", loss, ins, 3, "x, centers or labels")))
        return st;
    return FCL_OP_ROWS_SUM(ctx, &SRC, "center_rows", loss, NULL, n, (float)(1.0 / (double)n), OP_T(x), OP_T(centers),
                           OP_T(labels), OP_I(n), OP_I(d), OP_I(k));
}

fcl_status fcl_center_loss_bwd(fcl_ctx *ctx, fcl_tensor *dx, fcl_tensor *dcenters,
                               const fcl_tensor *x, const fcl_tensor *centers,
                               const fcl_tensor *labels, float dloss)
{
    const char *op = "fcl_center_loss_bwd";
    size_t n, d, k;
    fcl_status st;
    if ((st = center_dims(ctx, op, x, centers, labels, &n, &d, &k)) ||
        (dx && (st = fcl_op_check_rows(ctx, op, "dx", dx, n, d))) ||
        (dcenters && (st = fcl_op_check_rows(ctx, op, "dcenters", dcenters, k, d))))
        return st;
    const fcl_tensor *ins[3] = {x, centers, labels};
    if ((st = fcl_op_check_grads_apart(ctx, op, "dx", dx, "dcenters", dcenters, ins, 3)))
        return st;
    float coef = (float)((double)dloss / (double)n);
    if (dx) {
        if ((st = FCL_OP_2D(ctx, &SRC, "center_bwd_x", d, n, OP_T(dx), OP_T(x), OP_T(centers), OP_T(labels), OP_I(n),
                OP_I(d), OP_I(k), OP_F(coef))))
            return st;
    }
    if (dcenters && (st = center_gather(ctx, dcenters, x, centers, labels, n, d, k, -coef, 0)))
        return st;
    return FCL_OK;
}

fcl_status fcl_center_update(fcl_ctx *ctx, fcl_tensor *centers, const fcl_tensor *x,
                             const fcl_tensor *labels, float alpha)
{
    const char *op = "fcl_center_update";
    size_t n, d, k;
    fcl_status st;
    if ((st = center_dims(ctx, op, x, centers, labels, &n, &d, &k)))
        return st;
    if (!(alpha >= 0.0f) || !isfinite(alpha))
        return FCL_ERR(ERRP(ctx), FCL_ERR_INVALID_ARG, "%s: alpha = %g must be finite and >= 0", op, (double)alpha);
    if (fcl_op_overlaps(centers, x) || fcl_op_overlaps(centers, labels))
        return FCL_ERR(ERRP(ctx), FCL_ERR_INVALID_ARG, "%s: centers overlap x or labels", op);
    /* c_j -= alpha * sum (c_j - x_i) / (1 + n_j)  ==  c_j += alpha * sum (x_i - c_j) / (1 + n_j) */
    return center_gather(ctx, centers, x, centers, labels, n, d, k, alpha, 1);
}

/* ==== triplet ================================================================================ */

static fcl_status triplet_check(fcl_ctx *ctx, const char *op, const fcl_tensor *x,
                                const fcl_tensor *labels, const fcl_triplet_params *p, size_t *n,
                                size_t *d)
{
    if (!p)
        return FCL_ERR(ERRP(ctx), FCL_ERR_INVALID_ARG, "%s: params are NULL", op);
    if (p->mining != FCL_TRIPLET_BATCH_HARD && p->mining != FCL_TRIPLET_SEMI_HARD)
        return FCL_ERR(ERRP(ctx), FCL_ERR_INVALID_ARG, "%s: unknown mining %d", op, (int)p->mining);
    if (!(p->margin > 0.0f) || !isfinite(p->margin))
        return FCL_ERR(ERRP(ctx), FCL_ERR_INVALID_ARG, "%s: margin = %g must be finite and > 0", op,
                       (double)p->margin);
    return emb_dims(ctx, op, x, labels, n, d);
}

/* Distances [n, n], then per-anchor mining into rl / rc (and G when g is given). */
static fcl_status triplet_mine(fcl_ctx *ctx, fcl_tensor *dist, fcl_tensor *rl, fcl_tensor *rc,
                               fcl_tensor *gm, const fcl_tensor *x, const fcl_tensor *labels,
                               const fcl_triplet_params *p, size_t n, size_t d)
{
    fcl_status st;
    if ((st = FCL_OP_2D(ctx, &SRC, "triplet_dist", n, n, OP_T(dist), OP_T(x), OP_I(n), OP_I(d),
            OP_I(p->squared ? 1 : 0))))
        return st;
    return FCL_OP_1D(ctx, &SRC, "triplet_mine", n, OP_T(rl), OP_T(rc), OP_T(gm), OP_T(dist), OP_T(labels), OP_I(n),
            OP_F(p->margin), OP_I((int)p->mining), OP_I(gm ? 1 : 0));
}

static fcl_status triplet_reduce(fcl_ctx *ctx, fcl_tensor *out, const fcl_tensor *rl,
                                 const fcl_tensor *rc, size_t n, int want_inv)
{
    return FCL_OP_SINGLE(ctx, &SRC, "triplet_reduce", OP_T(out), OP_T(rl), OP_T(rc), OP_I(n), OP_I(want_inv));
}

fcl_status fcl_triplet_loss_fwd(fcl_ctx *ctx, fcl_tensor *loss, const fcl_tensor *x,
                                const fcl_tensor *labels, const fcl_triplet_params *p)
{
    const char *op = "fcl_triplet_loss_fwd";
    fcl_tensor dist = {0}, rl = {0}, rc = {0};
    size_t n, d;
    fcl_status st;
    if ((st = triplet_check(ctx, op, x, labels, p, &n, &d)) || (st = emb_out(ctx, op, "loss", loss, x, labels, n, d)))
        goto fail;
    if ((st = fcl_op_temp(ctx, &dist, n, n, 0)) || (st = fcl_op_temp(ctx, &rl, n, 1, 0)) ||
        (st = fcl_op_temp(ctx, &rc, n, 1, 0)) ||
        (st = triplet_mine(ctx, &dist, &rl, &rc, NULL, x, labels, p, n, d)) ||
        (st = triplet_reduce(ctx, loss, &rl, &rc, n, 0)))
        goto fail;
fail:
    FCL_OP_RELEASE(ctx, &dist, &rl, &rc);
    return st;
}

fcl_status fcl_triplet_loss_bwd(fcl_ctx *ctx, fcl_tensor *dx, const fcl_tensor *x,
                                const fcl_tensor *labels, const fcl_triplet_params *p, float dloss)
{
    const char *op = "fcl_triplet_loss_bwd";
    fcl_tensor dist = {0}, rl = {0}, rc = {0}, gm = {0}, stats = {0};
    size_t n, d;
    fcl_status st;
    if ((st = triplet_check(ctx, op, x, labels, p, &n, &d)) || (st = emb_out(ctx, op, "dx", dx, x, labels, n, d)))
        goto fail;
    if (!dx)
        return FCL_OK;
    if ((st = fcl_op_temp(ctx, &dist, n, n, 0)) || (st = fcl_op_temp(ctx, &rl, n, 1, 0)) ||
        (st = fcl_op_temp(ctx, &rc, n, 1, 0)) || (st = fcl_op_temp(ctx, &gm, n, n, 0)) ||
        (st = fcl_op_temp(ctx, &stats, 2, 1, 0)) ||
        (st = triplet_mine(ctx, &dist, &rl, &rc, &gm, x, labels, p, n, d)) ||
        (st = triplet_reduce(ctx, &stats, &rl, &rc, n, 1)))
        goto fail;
    if ((st = FCL_OP_2D(ctx, &SRC, "triplet_grad", d, n, OP_T(dx), OP_T(x), OP_T(&gm), OP_T(&dist), OP_T(&stats),
            OP_I(n), OP_I(d), OP_I(p->squared ? 1 : 0), OP_F(dloss))))
        goto fail;
fail:
    FCL_OP_RELEASE(ctx, &dist, &rl, &rc, &gm, &stats);
    return st;
}

/* ==== contrastive ============================================================================ */

static fcl_status contrastive_check(fcl_ctx *ctx, const char *op, const fcl_tensor *a,
                                    const fcl_tensor *b, const fcl_tensor *y,
                                    const fcl_contrastive_params *p, size_t *n, size_t *d)
{
    fcl_status st;
    if (!p)
        return FCL_ERR(ERRP(ctx), FCL_ERR_INVALID_ARG, "%s: params are NULL", op);
    if (!(p->margin > 0.0f) || !isfinite(p->margin))
        return FCL_ERR(ERRP(ctx), FCL_ERR_INVALID_ARG, "%s: margin = %g must be finite and > 0", op,
                       (double)p->margin);
    if ((st = fcl_op_rows_of(ctx, op, "a", a, n, d)) || (st = fcl_op_check_rows(ctx, op, "b", b, *n, *d)) ||
        (st = fcl_op_check_rows(ctx, op, "y", y, *n, 1)))
        return st;
    return FCL_OK;
}

fcl_status fcl_contrastive_loss_fwd(fcl_ctx *ctx, fcl_tensor *loss, const fcl_tensor *a,
                                    const fcl_tensor *b, const fcl_tensor *y,
                                    const fcl_contrastive_params *p)
{
    const char *op = "fcl_contrastive_loss_fwd";
    size_t n, d;
    fcl_status st;
    const fcl_tensor *ins[3] = {a, b, y};
    if ((st = contrastive_check(ctx, op, a, b, y, p, &n, &d)) || (st = fcl_op_check_t(ctx, op, "loss", loss)) ||
        (st = fcl_op_check_apart_any(ctx, op, "loss", loss, ins, 3, "a, b or y")))
        return st;
    return FCL_OP_ROWS_SUM(ctx, &SRC, "contrastive_rows", loss, NULL, n, (float)(1.0 / (2.0 * (double)n)), OP_T(a),
                           OP_T(b), OP_T(y), OP_I(n), OP_I(d), OP_F(p->margin));
}

fcl_status fcl_contrastive_loss_bwd(fcl_ctx *ctx, fcl_tensor *da, fcl_tensor *db,
                                    const fcl_tensor *a, const fcl_tensor *b, const fcl_tensor *y,
                                    const fcl_contrastive_params *p, float dloss)
{
    const char *op = "fcl_contrastive_loss_bwd";
    size_t n, d;
    fcl_status st;
    if ((st = contrastive_check(ctx, op, a, b, y, p, &n, &d)) ||
        (da && (st = fcl_op_check_rows(ctx, op, "da", da, n, d))) ||
        (db && (st = fcl_op_check_rows(ctx, op, "db", db, n, d))))
        return st;
    const fcl_tensor *ins[3] = {a, b, y};
    if ((st = fcl_op_check_grads_apart(ctx, op, "da", da, "db", db, ins, 3)))
        return st;
    if (!da && !db)
        return FCL_OK;
    return FCL_OP_1D(ctx, &SRC, "contrastive_bwd", n, OP_T(da), OP_T(db), OP_T(a), OP_T(b), OP_T(y), OP_I(n), OP_I(d),
            OP_F(p->margin), OP_F((float)((double)dloss / (double)n)), OP_I(da ? 1 : 0), OP_I(db ? 1 : 0));
}

/* ==== histogram ============================================================================== */

#define HIST_MAX_BINS (1 << 16)

static fcl_status hist_check(fcl_ctx *ctx, const char *op, const fcl_tensor *x,
                             const fcl_tensor *labels, const fcl_histogram_params *p, size_t *n,
                             size_t *d)
{
    if (!p)
        return FCL_ERR(ERRP(ctx), FCL_ERR_INVALID_ARG, "%s: params are NULL", op);
    if (p->bins < 2 || p->bins > HIST_MAX_BINS)
        return FCL_ERR(ERRP(ctx), FCL_ERR_INVALID_ARG, "%s: bins = %d must be in 2..%d", op, p->bins,
                       HIST_MAX_BINS);
    return emb_dims(ctx, op, x, labels, n, d);
}

/* S = cos(x, x) [n, n] and the histograms h [2 bins + 2] (h+, h-, npos, nneg). */
static fcl_status hist_build(fcl_ctx *ctx, fcl_tensor *sim, fcl_tensor *h, const fcl_tensor *x,
                             const fcl_tensor *labels, int bins, size_t n)
{
    fcl_status st = fcl_cosine_sim_fwd(ctx, sim, x, x);
    if (st)
        return st;
    return FCL_OP_1D(ctx, &SRC, "hist_bins", (size_t)bins, OP_T(h), OP_T(sim), OP_T(labels), OP_I(n), OP_I(bins));
}

/* out[0] = the loss; coef [2 bins] the per-bin gradient coefficients (NULL: not wanted). */
static fcl_status hist_loss(fcl_ctx *ctx, fcl_tensor *out, fcl_tensor *coef, const fcl_tensor *h, int bins)
{
    return FCL_OP_SINGLE(ctx, &SRC, "hist_loss", OP_T(out), OP_T(coef), OP_T(h), OP_I(bins), OP_I(coef ? 1 : 0));
}

fcl_status fcl_histogram_loss_fwd(fcl_ctx *ctx, fcl_tensor *loss, const fcl_tensor *x,
                                  const fcl_tensor *labels, const fcl_histogram_params *p)
{
    const char *op = "fcl_histogram_loss_fwd";
    fcl_tensor sim = {0}, h = {0};
    size_t n, d;
    fcl_status st;
    if ((st = hist_check(ctx, op, x, labels, p, &n, &d)) || (st = emb_out(ctx, op, "loss", loss, x, labels, n, d)))
        goto fail;
    if ((st = fcl_op_temp(ctx, &sim, n, n, 0)) || (st = fcl_op_temp(ctx, &h, 2 * (size_t)p->bins + 2, 1, 0)) ||
        (st = hist_build(ctx, &sim, &h, x, labels, p->bins, n)) || (st = hist_loss(ctx, loss, NULL, &h, p->bins)))
        goto fail;
fail:
    FCL_OP_RELEASE(ctx, &sim, &h);
    return st;
}

fcl_status fcl_histogram_loss_bwd(fcl_ctx *ctx, fcl_tensor *dx, const fcl_tensor *x,
                                  const fcl_tensor *labels, const fcl_histogram_params *p,
                                  float dloss)
{
    const char *op = "fcl_histogram_loss_bwd";
    fcl_tensor sim = {0}, h = {0}, coef = {0}, scr = {0}, ds = {0};
    size_t n, d;
    fcl_status st;
    if ((st = hist_check(ctx, op, x, labels, p, &n, &d)) || (st = emb_out(ctx, op, "dx", dx, x, labels, n, d)))
        goto fail;
    if (!dx)
        return FCL_OK;
    size_t bins = (size_t)p->bins;
    if ((st = fcl_op_temp(ctx, &sim, n, n, 0)) || (st = fcl_op_temp(ctx, &h, 2 * bins + 2, 1, 0)) ||
        (st = fcl_op_temp(ctx, &coef, 2 * bins, 1, 0)) || (st = fcl_op_temp(ctx, &scr, 1, 1, 0)) ||
        (st = fcl_op_temp(ctx, &ds, n, n, 0)) || (st = hist_build(ctx, &sim, &h, x, labels, p->bins, n)) ||
        (st = hist_loss(ctx, &scr, &coef, &h, p->bins)))
        goto fail;
    /* dS is upper-triangular: S = Xn Xn^T gives dXn = dS Xn + dS^T Xn, i.e. both "sides" of
     * fcl_cosine_sim_bwd, accumulated into the same dx */
    if ((st = FCL_OP_2D(ctx, &SRC, "hist_dsim", n, n, OP_T(&ds), OP_T(&sim), OP_T(labels), OP_T(&coef), OP_I(n),
            OP_I(p->bins), OP_F(dloss))) || (st = fcl_cosine_sim_bwd(ctx, dx, dx, &ds, x, x)))
        goto fail;
fail:
    FCL_OP_RELEASE(ctx, &sim, &h, &coef, &scr, &ds);
    return st;
}
