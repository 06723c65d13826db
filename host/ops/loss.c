/* host/ops/loss.c: launchers of cl/loss.cl (cross-entropy, log-softmax, L2 norm) and the cosine-similarity matrix. */
#include <stdlib.h>

#include "facecl/gemm.h"
#include "facecl/ops_eltwise.h"
#include "facecl/ops_loss.h"
#include "ops/cosine_internal.h"
#include "ops/op_util.h"

static const fcl_op_src SRC = {"reduce.cl+loss.cl", FCL_TF_LOSS};

/* ---- cross-entropy ------------------------------------------------------------------------------ */

/* Sizes and labels of a cross-entropy call. */
static fcl_status xent_check(fcl_ctx *ctx, const char *op, const fcl_tensor *logits,
                             const fcl_tensor *labels, const fcl_xent_params *p, size_t *n, size_t *k)
{
    fcl_status st;
    if (!p)
        return FCL_ERR(ERRP(ctx), FCL_ERR_INVALID_ARG, "%s: params are NULL", op);
    if (!(p->label_smoothing >= 0.0f && p->label_smoothing <= 1.0f))
        return FCL_ERR(ERRP(ctx), FCL_ERR_INVALID_ARG, "%s: label_smoothing = %g is outside [0, 1]", op,
                       (double)p->label_smoothing);
    if ((st = fcl_op_rows_of(ctx, op, "logits", logits, n, k)) ||
        (st = fcl_op_check_rows(ctx, op, "labels", labels, *n, 1)))
        return st;
    return FCL_OK;
}

fcl_status fcl_softmax_xent_fwd(fcl_ctx *ctx, fcl_tensor *loss, fcl_tensor *row_loss,
                                const fcl_tensor *logits, const fcl_tensor *labels,
                                const fcl_xent_params *p)
{
    const char *op = "fcl_softmax_xent_fwd";
    size_t n, k;
    fcl_status st;
    const fcl_tensor *ins[2] = {logits, labels};
    if ((st = xent_check(ctx, op, logits, labels, p, &n, &k)) || (st = fcl_op_check_t(ctx, op, "loss", loss)) ||
        (row_loss && (st = fcl_op_check_rows(ctx, op, "row_loss", row_loss, n, 1))) ||
        (st = fcl_op_check_grads_apart(ctx, op, "loss", loss, "row_loss", row_loss, ins, 2)))
        return st;
    /* row_loss NULL: a pooled scratch */
    return FCL_OP_ROWS_SUM(ctx, &SRC, "xent_fwd_rows", loss, row_loss, n, (float)(1.0 / (double)n), OP_T(logits),
                           OP_T(labels), OP_I(n), OP_I(k), OP_F(p->label_smoothing));
}

fcl_status fcl_softmax_xent_bwd(fcl_ctx *ctx, fcl_tensor *dlogits, const fcl_tensor *logits,
                                const fcl_tensor *labels, const fcl_xent_params *p, float dloss)
{
    const char *op = "fcl_softmax_xent_bwd";
    size_t n, k;
    fcl_status st;
    if ((st = xent_check(ctx, op, logits, labels, p, &n, &k)) ||
        (st = fcl_op_check_rows(ctx, op, "dlogits", dlogits, n, k)))
        return st;
    if (fcl_op_overlaps(dlogits, logits) || fcl_op_overlaps(dlogits, labels))
        return FCL_ERR(ERRP(ctx), FCL_ERR_INVALID_ARG, "%s: dlogits overlaps logits or labels", op);
    return FCL_OP_ROWS(ctx, &SRC, "xent_bwd", n, OP_T(dlogits), OP_T(logits), OP_T(labels), OP_I(n), OP_I(k),
            OP_F(p->label_smoothing), OP_F((float)((double)dloss / (double)n)));
}

fcl_status fcl_labels_upload(fcl_ctx *ctx, fcl_tensor *labels, const int *host, size_t n,
                             int num_classes)
{
    const char *op = "fcl_labels_upload";
    float *f = NULL;
    fcl_status st;
    if ((st = fcl_op_check_rows(ctx, op, "labels", labels, n, 1)))
        goto fail;
    if (!host || num_classes < 1 || num_classes > (1 << 24)) {
        /* beyond 2^24 an f32 no longer holds every integer exactly */
        st = FCL_ERR(ERRP(ctx), FCL_ERR_INVALID_ARG, "%s: need host labels and 1..2^24 classes (got %d)", op,
                     num_classes);
        goto fail;
    }
    f = malloc(n * sizeof *f);
    if (!f) {
        st = FCL_ERR(ERRP(ctx), FCL_ERR_NOMEM, "%s: out of host memory for %zu labels", op, n);
        goto fail;
    }
    for (size_t i = 0; i < n; i++) {
        if (host[i] < 0 || host[i] >= num_classes) {
            st = FCL_ERR(ERRP(ctx), FCL_ERR_INVALID_ARG, "%s: label %d at index %zu is outside [0, %d)", op,
                         host[i], i, num_classes);
            goto fail;
        }
        f[i] = (float)host[i];
    }
    st = fcl_tensor_upload(ctx, labels, f, n);
fail:
    free(f);
    return st;
}

/* ---- log-softmax and L2 normalisation: row maps ------------------------------------------------- */

/* y [n, k] from x [n, k] row by row: y may be x itself but not part of it. */
static fcl_status map_dims(fcl_ctx *ctx, const char *op, const fcl_tensor *y, const fcl_tensor *x, size_t *n,
                           size_t *k)
{
    fcl_status st;
    if ((st = fcl_op_rows_of(ctx, op, "x", x, n, k)) || (st = fcl_op_check_rows(ctx, op, "y", y, *n, *k)))
        return st;
    if (fcl_op_overlaps(x, y) && x->offset != y->offset)
        return FCL_ERR(ERRP(ctx), FCL_ERR_INVALID_ARG, "%s: y partly overlaps x", op);
    return FCL_OK;
}

/* The backward's shapes: the saved src (named sname) [n, k], dy and dx like it. */
static fcl_status map_bwd_dims(fcl_ctx *ctx, const char *op, const char *sname, const fcl_tensor *src,
                               const fcl_tensor *dy, const fcl_tensor *dx, size_t *n, size_t *k)
{
    fcl_status st = fcl_op_rows_of(ctx, op, sname, src, n, k);
    if (!st) st = fcl_op_check_rows(ctx, op, "dy", dy, *n, *k);
    return st ? st : fcl_op_check_rows(ctx, op, "dx", dx, *n, *k);
}

/* The row maps y = f(x) row by row: log_softmax_fwd, l2norm_fwd (which also takes the norm's
 * floor eps). */
static fcl_status row_map_fwd(fcl_ctx *ctx, const char *op, const char *kernel, fcl_tensor *y, const fcl_tensor *x,
                              int with_eps)
{
    size_t n, k;
    fcl_status st = map_dims(ctx, op, y, x, &n, &k);
    if (st)
        return st;
    if (with_eps)
        return FCL_OP_ROWS(ctx, &SRC, kernel, n, OP_T(y), OP_T(x), OP_I(n), OP_I(k), OP_F(FCL_L2NORM_EPS));
    return FCL_OP_ROWS(ctx, &SRC, kernel, n, OP_T(y), OP_T(x), OP_I(n), OP_I(k));
}

/* Their backward dx += J^T dy from the saved src (named sname: y for log-softmax, x for the L2
 * norm); dx_is_dy: dx may be dy itself (log-softmax reads a row of dy fully before writing it). */
static fcl_status row_map_bwd(fcl_ctx *ctx, const char *op, const char *kernel, fcl_tensor *dx, const fcl_tensor *dy,
                              const char *sname, const fcl_tensor *src, int dx_is_dy, int with_eps)
{
    size_t n, k;
    fcl_status st = map_bwd_dims(ctx, op, sname, src, dy, dx, &n, &k);
    if (st)
        return st;
    if (fcl_op_overlaps(dx, src) || (fcl_op_overlaps(dx, dy) && !(dx_is_dy && dx->offset == dy->offset)))
        return FCL_ERR(ERRP(ctx), FCL_ERR_INVALID_ARG, "%s: dx overlaps %s or %sdy", op, sname,
                       dx_is_dy ? "part of " : "");
    if (with_eps)
        return FCL_OP_ROWS(ctx, &SRC, kernel, n, OP_T(dx), OP_T(dy), OP_T(src), OP_I(n), OP_I(k), OP_F(FCL_L2NORM_EPS));
    return FCL_OP_ROWS(ctx, &SRC, kernel, n, OP_T(dx), OP_T(dy), OP_T(src), OP_I(n), OP_I(k));
}

fcl_status fcl_log_softmax_fwd(fcl_ctx *ctx, fcl_tensor *y, const fcl_tensor *x)
{
    return row_map_fwd(ctx, "fcl_log_softmax_fwd", "log_softmax_fwd", y, x, 0);
}

fcl_status fcl_log_softmax_bwd(fcl_ctx *ctx, fcl_tensor *dx, const fcl_tensor *dy, const fcl_tensor *y)
{
    return row_map_bwd(ctx, "fcl_log_softmax_bwd", "log_softmax_bwd", dx, dy, "y", y, 1, 0);
}

fcl_status fcl_l2norm_fwd(fcl_ctx *ctx, fcl_tensor *y, const fcl_tensor *x)
{
    return row_map_fwd(ctx, "fcl_l2norm_fwd", "l2norm_fwd", y, x, 1);
}

fcl_status fcl_l2norm_bwd(fcl_ctx *ctx, fcl_tensor *dx, const fcl_tensor *dy, const fcl_tensor *x)
{
    return row_map_bwd(ctx, "fcl_l2norm_bwd", "l2norm_bwd", dx, dy, "x", x, 0, 1);
}

/* ---- cosine-similarity matrix -------------------------------------------------------------------- */

/* Sizes of S = normalize(A) normalize(B)^T. */
static fcl_status cos_dims(fcl_ctx *ctx, const char *op, const fcl_tensor *a, const fcl_tensor *b,
                           size_t *na, size_t *nb, size_t *d)
{
    return fcl_op_rows_match(ctx, op, "A", a, na, "B", b, nb, d);
}

/* r [n] = 1 / max(||rows of x||, eps) into a new pooled tensor (cl/loss.cl l2norm_inv). The
 * cosine matrix is diag(ra) A B^T diag(rb): A and B are read in place instead of being
 * normalised into copies (B is a margin head's [classes, 512] weight: a copy is 2 x 22 MB of
 * memory traffic per call at 10,575 classes). */
fcl_status fcl_cos_inv_norms(fcl_ctx *ctx, const fcl_tensor *x, size_t n, size_t d, fcl_tensor *r)
{
    fcl_status st = fcl_op_temp(ctx, r, n, 1, 0);
    if (st)
        return st;
    return FCL_OP_ROWS(ctx, &SRC, "l2norm_inv", n, OP_T(r), OP_T(x), OP_I(n), OP_I(d), OP_F(FCL_L2NORM_EPS));
}

/* y [n, k] = x * ra[i] * rb[j] (y may be x). */
static fcl_status scale_rows_cols(fcl_ctx *ctx, const fcl_tensor *y, const fcl_tensor *x, const fcl_tensor *ra,
                                  const fcl_tensor *rb, size_t n, size_t k)
{
    return FCL_OP_2D(ctx, &SRC, "scale_rows_cols", fcl_op_div_up(k, (size_t)fcl_op_vec(ctx, &SRC)), n, OP_T(y), OP_T(x),
                     OP_T(ra), OP_T(rb), OP_I(n), OP_I(k));
}

fcl_status fcl_cosine_sim_fwd(fcl_ctx *ctx, fcl_tensor *s, const fcl_tensor *a, const fcl_tensor *b)
{
    const char *op = "fcl_cosine_sim_fwd";
    fcl_tensor ra = {0}, rb = {0};
    size_t na, nb, d;
    fcl_status st;
    int same = a == b || fcl_op_same(a, b);
    if ((st = cos_dims(ctx, op, a, b, &na, &nb, &d)) || (st = fcl_op_check_rows(ctx, op, "S", s, na, nb)))
        goto fail;
    if (fcl_op_overlaps(s, a) || fcl_op_overlaps(s, b)) {
        st = FCL_ERR(ERRP(ctx), FCL_ERR_INVALID_ARG, "%s: S overlaps A or B", op);
        goto fail;
    }
    if ((st = fcl_cos_inv_norms(ctx, a, na, d, &ra)) || (!same && (st = fcl_cos_inv_norms(ctx, b, nb, d, &rb))))
        goto fail;
    /* S [na, nb] = A [na, d] * B^T (B stored [nb, d]); beta 0: S is not read; then the scales */
    if ((st = fcl_op_gemm(ctx, s, a, 0, b, 1, na, nb, d, 0.0f)))
        goto fail;
    st = scale_rows_cols(ctx, s, s, &ra, same ? &ra : &rb, na, nb);
fail:
    FCL_OP_RELEASE(ctx, &ra, &rb);
    return st;
}

fcl_status fcl_cosine_sim_bwd(fcl_ctx *ctx, fcl_tensor *da, fcl_tensor *db, const fcl_tensor *ds,
                              const fcl_tensor *a, const fcl_tensor *b)
{
    const char *op = "fcl_cosine_sim_bwd";
    fcl_tensor ra = {0}, rb = {0}, dsr = {0};
    size_t na, nb, d;
    fcl_status st;
    int same = a == b || fcl_op_same(a, b);
    if ((st = cos_dims(ctx, op, a, b, &na, &nb, &d)) || (st = fcl_op_check_rows(ctx, op, "dS", ds, na, nb)))
        goto fail;
    if ((da && (st = fcl_op_check_rows(ctx, op, "dA", da, na, d))) ||
        (db && (st = fcl_op_check_rows(ctx, op, "dB", db, nb, d))))
        goto fail;
    /* dS, A and B are read again after dA is written (for dB): the gradients must not alias them */
    const fcl_tensor *ins[3] = {ds, a, b};
    if ((st = fcl_op_check_apart_any(ctx, op, "dA", da, ins, 3, "dS, A or B")) ||
        (st = fcl_op_check_apart_any(ctx, op, "dB", db, ins, 3, "dS, A or B")))
        goto fail;
    if (!da && !db)
        goto fail;
    /* With ra, rb the inverse row norms and D = diag(ra) dS diag(rb) [na, nb]: the gradients
     * through the normalisations are l2norm_bwd's of G = dS Bn and dS^T An, which are D B and
     * D^T A already divided by the norms (cl/loss.cl l2norm_bwd_scaled) */
    if ((st = fcl_cos_inv_norms(ctx, a, na, d, &ra)) || (!same && (st = fcl_cos_inv_norms(ctx, b, nb, d, &rb))) ||
        (st = fcl_op_temp(ctx, &dsr, na, nb, 0)) || (st = scale_rows_cols(ctx, &dsr, ds, &ra, same ? &ra : &rb, na, nb)))
        goto fail;
    st = fcl_cos_bwd_scaled(ctx, da, db, &dsr, a, b, na, nb, d);
fail:
    FCL_OP_RELEASE(ctx, &ra, &rb, &dsr);
    return st;
}

/* dy += G - y (y . G) for the rows y [n, d] of the normalised side (cl/loss.cl l2norm_bwd_scaled) */
static fcl_status l2norm_bwd_g(fcl_ctx *ctx, fcl_tensor *dy, const fcl_tensor *g, const fcl_tensor *y, size_t n, size_t d)
{
    return FCL_OP_ROWS(ctx, &SRC, "l2norm_bwd_scaled", n, OP_T(dy), OP_T(g), OP_T(y), OP_I(n), OP_I(d),
                       OP_F(FCL_L2NORM_EPS));
}

fcl_status fcl_cos_bwd_scaled(fcl_ctx *ctx, fcl_tensor *da, fcl_tensor *db, const fcl_tensor *dsr, const fcl_tensor *a,
                              const fcl_tensor *b, size_t na, size_t nb, size_t d)
{
    fcl_tensor g = {0};
    fcl_status st = FCL_OK;
    if (da) {
        /* G [na, d] = D [na, nb] * B [nb, d]; dA += G - y (y . G) */
        if ((st = fcl_op_temp(ctx, &g, na, d, 0)) || (st = fcl_op_gemm(ctx, &g, dsr, 0, b, 0, na, d, nb, 0.0f)) ||
            (st = l2norm_bwd_g(ctx, da, &g, a, na, d)))
            goto fail;
        fcl_tensor_release(ctx, &g);
    }
    if (db) {
        /* G [nb, d] = D^T (D stored [na, nb]) * A [na, d]; dB += G - y (y . G) */
        if ((st = fcl_op_temp(ctx, &g, nb, d, 0)) || (st = fcl_op_gemm(ctx, &g, dsr, 1, a, 0, nb, d, na, 0.0f)) ||
            (st = l2norm_bwd_g(ctx, db, &g, b, nb, d)))
            goto fail;
    }
fail:
    fcl_tensor_release(ctx, &g);
    return st;
}

fcl_status fcl_cos_bwd_scaled_panels(fcl_ctx *ctx, fcl_tensor *da, const fcl_tensor *dt, size_t pw, const fcl_tensor *a,
                                     const fcl_tensor *b, size_t na, size_t nb, size_t d)
{
    fcl_tensor g = {0};
    fcl_status st = fcl_op_temp(ctx, &g, na, d, 0);
    if (!st && !(st = fcl_op_gemm_ab_panels(ctx, &g, dt, pw, b, na, d, nb)))
        st = l2norm_bwd_g(ctx, da, &g, a, na, d);
    fcl_tensor_release(ctx, &g);
    return st;
}
