/* host/ref/metric_loss.c: reference center, margin-head, triplet, contrastive and histogram losses in double. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "facecl/ops_loss.h"
#include "ref/ref_loss.h"
#include "ref/ref_metric_loss.h"
#include "runtime/free_list.h"

static const double L2EPS = (double)FCL_L2NORM_EPS;

static double sq_dist(const double *a, const double *b, size_t d)
{
    double s = 0.0;
    for (size_t t = 0; t < d; t++)
        s += (a[t] - b[t]) * (a[t] - b[t]);
    return s;
}

static double norm_of(const double *a, size_t d)
{
    double s = 0.0;
    for (size_t t = 0; t < d; t++)
        s += a[t] * a[t];
    return sqrt(s);
}

/* ==== center loss ============================================================================ */

void fcl_ref_center_loss_fwd(double *loss, const double *x, const double *centers,
                             const int *labels, size_t n, size_t d, size_t k)
{
    (void)k;
    double total = 0.0;
    for (size_t i = 0; i < n; i++)
        total += 0.5 * sq_dist(x + i * d, centers + (size_t)labels[i] * d, d);
    *loss = total / (double)n;
}

void fcl_ref_center_loss_bwd(double *dx, double *dcenters, const double *x, const double *centers,
                             const int *labels, size_t n, size_t d, size_t k, double dloss)
{
    (void)k;
    for (size_t i = 0; i < n; i++) {
        const double *c = centers + (size_t)labels[i] * d;
        for (size_t t = 0; t < d; t++) {
            double g = dloss / (double)n * (x[i * d + t] - c[t]);
            if (dx)
                dx[i * d + t] += g;
            if (dcenters)
                dcenters[(size_t)labels[i] * d + t] -= g;
        }
    }
}

void fcl_ref_center_update(double *centers, const double *x, const int *labels, size_t n,
                           size_t d, size_t k, double alpha)
{
    for (size_t j = 0; j < k; j++) {
        size_t cnt = 0;
        for (size_t i = 0; i < n; i++)
            cnt += labels[i] == (int)j;
        if (!cnt)
            continue;
        for (size_t t = 0; t < d; t++) {
            double delta = 0.0;
            for (size_t i = 0; i < n; i++)
                if (labels[i] == (int)j)
                    delta += centers[j * d + t] - x[i * d + t];
            delta /= 1.0 + (double)cnt;
            centers[j * d + t] -= alpha * delta;
        }
    }
}

/* ==== margin heads =========================================================================== */

/* SphereFace's psi(theta) = (-1)^k cos(m theta) - 2k and its derivative with respect to
 * c = cos(theta), written with acos / sin (the kernels use Chebyshev polynomials instead). */
static void sphere_psi(double c, int m, double *psi, double *dpsi)
{
    double cc = c < -1.0 ? -1.0 : (c > 1.0 ? 1.0 : c);
    double theta = acos(cc);
    int k = (int)floor((double)m * theta / M_PI);
    if (k > m - 1)
        k = m - 1;
    double sign = (k & 1) ? -1.0 : 1.0;
    *psi = sign * cos((double)m * theta) - 2.0 * (double)k;
    double st = sin(theta);
    if (st > 1e-9) {
        /* d cos(m theta)/dc = m sin(m theta) / sin(theta) */
        *dpsi = sign * (double)m * sin((double)m * theta) / st;
    } else {
        /* the limit at c = +-1: m U_{m-1}(+-1) = m^2 (+-1)^(m-1) */
        double u = (double)m * (double)m;
        if (cc < 0 && !((m - 1) % 2 == 0))
            u = -u;
        *dpsi = sign * u;
    }
}

void fcl_ref_margin_target(double c, const fcl_margin_params *p, double *f, double *df)
{
    double m = p->m;
    switch (p->kind) {
    case FCL_MARGIN_COSFACE:
        *f = c - m;
        *df = 1.0;
        return;
    case FCL_MARGIN_ARCFACE: {
        double cos_m = cos(m), sin_m = sin(m);
        double v = 1.0 - c * c;
        double vc = v < 0.0 ? 0.0 : (v > 1.0 ? 1.0 : v);
        double sine = sqrt(vc);
        double phi = c * cos_m - sine * sin_m;
        double dphi = cos_m + (v > 0.0 ? sin_m * c / sine : 0.0);
        int take_phi = p->easy_margin ? c > 0.0 : c > cos(M_PI - m);
        if (take_phi) {
            *f = phi;
            *df = dphi;
        } else {
            *f = p->easy_margin ? c : c - sin(M_PI - m) * m;
            *df = 1.0;
        }
        return;
    }
    case FCL_MARGIN_SPHEREFACE: {
        double psi, dpsi, lam = p->lambda;
        sphere_psi(c, (int)p->m, &psi, &dpsi);
        *f = (lam * c + psi) / (1.0 + lam);
        *df = (lam + dpsi) / (1.0 + lam);
        return;
    }
    }
    *f = NAN;
    *df = NAN;
}

static double row_scale(const double *xnorm, size_t i, const fcl_margin_params *p)
{
    return p->kind == FCL_MARGIN_SPHEREFACE ? xnorm[i] : (double)p->s;
}

void fcl_ref_margin_logits_fwd(double *logits, const double *cos, const int *labels,
                               const double *xnorm, size_t n, size_t k,
                               const fcl_margin_params *p)
{
    for (size_t i = 0; i < n; i++) {
        double sc = row_scale(xnorm, i, p);
        for (size_t j = 0; j < k; j++) {
            double c = cos[i * k + j], v = c, dv;
            if ((int)j == labels[i])
                fcl_ref_margin_target(c, p, &v, &dv);
            logits[i * k + j] = sc * v;
        }
    }
}

void fcl_ref_margin_logits_bwd(double *dcos, double *dxnorm, const double *dlogits,
                               const double *cos, const int *labels, const double *xnorm,
                               size_t n, size_t k, const fcl_margin_params *p)
{
    for (size_t i = 0; i < n; i++) {
        double sc = row_scale(xnorm, i, p), dn = 0.0;
        for (size_t j = 0; j < k; j++) {
            double c = cos[i * k + j], v = c, dv = 1.0;
            if ((int)j == labels[i])
                fcl_ref_margin_target(c, p, &v, &dv);
            if (dcos)
                dcos[i * k + j] += sc * dlogits[i * k + j] * dv;
            dn += dlogits[i * k + j] * v;
        }
        if (dxnorm)
            dxnorm[i] += dn;
    }
}

void fcl_ref_row_norm_fwd(double *norms, const double *x, size_t n, size_t d)
{
    for (size_t i = 0; i < n; i++)
        norms[i] = norm_of(x + i * d, d);
}

void fcl_ref_row_norm_bwd(double *dx, const double *dnorms, const double *x, size_t n, size_t d)
{
    for (size_t i = 0; i < n; i++) {
        double nr = norm_of(x + i * d, d);
        nr = nr > L2EPS ? nr : L2EPS;
        for (size_t t = 0; t < d; t++)
            dx[i * d + t] += dnorms[i] * x[i * d + t] / nr;
    }
}

int fcl_ref_margin_head_fwd(double *loss, double *logits, double *cos, const double *x,
                            const double *w, const int *labels, size_t n, size_t d, size_t k,
                            const fcl_margin_params *p)
{
    int rc = -1;
    double *cs = malloc(sizeof(double) * n * k), *z = malloc(sizeof(double) * n * k);
    double *xn = malloc(sizeof(double) * n);
    if (!cs || !z || !xn)
        goto done;
    fcl_ref_cosine_sim_fwd(cs, x, w, n, k, d, L2EPS);
    fcl_ref_row_norm_fwd(xn, x, n, d);
    fcl_ref_margin_logits_fwd(z, cs, labels, xn, n, k, p);
    fcl_ref_softmax_xent_fwd(loss, NULL, z, labels, n, k, p->label_smoothing);
    if (cos)
        memcpy(cos, cs, sizeof(double) * n * k);
    if (logits)
        memcpy(logits, z, sizeof(double) * n * k);
    rc = 0;
done:
    FCL_FREE_ALL(cs, z, xn);
    return rc;
}

int fcl_ref_margin_head_bwd(double *dx, double *dw, const double *x, const double *w,
                            const int *labels, size_t n, size_t d, size_t k,
                            const fcl_margin_params *p, double dloss)
{
    int rc = -1;
    double *cs = malloc(sizeof(double) * n * k), *z = malloc(sizeof(double) * n * k);
    double *dz = calloc(n * k, sizeof(double)), *dc = calloc(n * k, sizeof(double));
    double *xn = malloc(sizeof(double) * n), *dxn = calloc(n, sizeof(double));
    if (!cs || !z || !dz || !dc || !xn || !dxn)
        goto done;
    fcl_ref_cosine_sim_fwd(cs, x, w, n, k, d, L2EPS);
    fcl_ref_row_norm_fwd(xn, x, n, d);
    fcl_ref_margin_logits_fwd(z, cs, labels, xn, n, k, p);
    fcl_ref_softmax_xent_bwd(dz, z, labels, n, k, p->label_smoothing, dloss);
    fcl_ref_margin_logits_bwd(dc, dxn, dz, cs, labels, xn, n, k, p);
    if (fcl_ref_cosine_sim_bwd(dx, dw, dc, x, w, n, k, d, L2EPS))
        goto done;
    if (dx && p->kind == FCL_MARGIN_SPHEREFACE)
        fcl_ref_row_norm_bwd(dx, dxn, x, n, d);
    rc = 0;
done:
    FCL_FREE_ALL(cs, z, dz, dc, xn, dxn);
    return rc;
}

/* ==== triplet ================================================================================ */

void fcl_ref_triplet_dist(double *dist, const double *x, size_t n, size_t d, int squared)
{
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++) {
            double s = sq_dist(x + i * d, x + j * d, d);
            dist[i * n + j] = squared ? s : sqrt(s);
        }
}

size_t fcl_ref_triplet_mine(int *trip, const double *dist, const int *labels, size_t n,
                            const fcl_triplet_params *p)
{
    size_t t = 0;
    double margin = p->margin;
    for (size_t a = 0; a < n; a++) {
        const double *da = dist + a * n;
        /* the hardest negative (lowest index on ties) */
        long hn = -1;
        for (size_t j = 0; j < n; j++)
            if (labels[j] != labels[a] && (hn < 0 || da[j] < da[hn]))
                hn = (long)j;
        if (hn < 0)
            continue;
        if (p->mining == FCL_TRIPLET_BATCH_HARD) {
            long hp = -1;
            for (size_t j = 0; j < n; j++)
                if (j != a && labels[j] == labels[a] && (hp < 0 || da[j] > da[hp]))
                    hp = (long)j;
            if (hp < 0)
                continue;
            trip[3 * t] = (int)a, trip[3 * t + 1] = (int)hp, trip[3 * t + 2] = (int)hn;
            t++;
        } else {
            for (size_t q = 0; q < n; q++) {
                if (q == a || labels[q] != labels[a])
                    continue;
                double dp = da[q];
                long sn = -1;
                for (size_t j = 0; j < n; j++)
                    if (labels[j] != labels[a] && da[j] > dp && da[j] < dp + margin &&
                        (sn < 0 || da[j] < da[sn]))
                        sn = (long)j;
                if (sn < 0)
                    sn = hn;
                trip[3 * t] = (int)a, trip[3 * t + 1] = (int)q, trip[3 * t + 2] = (int)sn;
                t++;
            }
        }
    }
    return t;
}

/* The distance matrix and the mined triplets at x (both malloc'd); -1 when out of memory. */
static int triplets_of(const double *x, const int *labels, size_t n, size_t d, const fcl_triplet_params *p,
                       double **dist, int **trip, size_t *nt)
{
    *dist = calloc(n * n, sizeof(double)); /* calloc: gcc -O3 cannot see fcl_ref_triplet_dist fill it */
    *trip = malloc(sizeof(int) * 3 * n * n);
    if (!*dist || !*trip) {
        free(*dist);
        free(*trip);
        return -1;
    }
    fcl_ref_triplet_dist(*dist, x, n, d, p->squared);
    *nt = fcl_ref_triplet_mine(*trip, *dist, labels, n, p);
    return 0;
}

int fcl_ref_triplet_loss_fwd(double *loss, const double *x, const int *labels, size_t n, size_t d,
                             const fcl_triplet_params *p)
{
    double *dist;
    int *trip;
    size_t nt;
    if (triplets_of(x, labels, n, d, p, &dist, &trip, &nt)) return -1;
    double total = 0.0;
    for (size_t t = 0; t < nt; t++) {
        double l = dist[trip[3 * t] * n + trip[3 * t + 1]] - dist[trip[3 * t] * n + trip[3 * t + 2]] +
                   (double)p->margin;
        total += l > 0.0 ? l : 0.0;
    }
    *loss = nt ? total / (double)nt : 0.0;
    free(dist);
    free(trip);
    return 0;
}

/* dx_i += g * d(dist_ij)/dx_i and dx_j -= the same, for dist as the op defines it. */
static void dist_grad(double *dx, const double *x, size_t i, size_t j, size_t d, double dist,
                      int squared, double g)
{
    double f = squared ? 2.0 : (dist > 0.0 ? 1.0 / dist : 0.0);
    for (size_t t = 0; t < d; t++) {
        double v = g * f * (x[i * d + t] - x[j * d + t]);
        dx[i * d + t] += v;
        dx[j * d + t] -= v;
    }
}

int fcl_ref_triplet_loss_bwd(double *dx, const double *x, const int *labels, size_t n, size_t d,
                             const fcl_triplet_params *p, double dloss)
{
    double *dist;
    int *trip;
    size_t nt;
    if (triplets_of(x, labels, n, d, p, &dist, &trip, &nt)) return -1;
    for (size_t t = 0; t < nt; t++) {
        size_t a = (size_t)trip[3 * t], q = (size_t)trip[3 * t + 1], ng = (size_t)trip[3 * t + 2];
        double l = dist[a * n + q] - dist[a * n + ng] + (double)p->margin;
        if (!(l > 0.0))
            continue;
        double g = dloss / (double)nt;
        dist_grad(dx, x, a, q, d, dist[a * n + q], p->squared, g);
        dist_grad(dx, x, a, ng, d, dist[a * n + ng], p->squared, -g);
    }
    free(dist);
    free(trip);
    return 0;
}

/* ==== contrastive ============================================================================ */

void fcl_ref_contrastive_loss_fwd(double *loss, const double *a, const double *b, const double *y,
                                  size_t n, size_t d, const fcl_contrastive_params *p)
{
    double total = 0.0, m = p->margin;
    for (size_t i = 0; i < n; i++) {
        double dd = sqrt(sq_dist(a + i * d, b + i * d, d));
        double h = m - dd > 0.0 ? m - dd : 0.0;
        total += y[i] * dd * dd + (1.0 - y[i]) * h * h;
    }
    *loss = total / (2.0 * (double)n);
}

void fcl_ref_contrastive_loss_bwd(double *da, double *db, const double *a, const double *b,
                                  const double *y, size_t n, size_t d,
                                  const fcl_contrastive_params *p, double dloss)
{
    double m = p->margin;
    for (size_t i = 0; i < n; i++) {
        double dd = sqrt(sq_dist(a + i * d, b + i * d, d));
        double h = m - dd > 0.0 ? m - dd : 0.0;
        /* d/da of y d^2 / 2N is y (a - b) / N; of (1 - y) h^2 / 2N is -(1 - y) h (a - b) / (d N) */
        double c = y[i] - (dd > 0.0 ? (1.0 - y[i]) * h / dd : 0.0);
        c *= dloss / (double)n;
        for (size_t t = 0; t < d; t++) {
            double v = c * (a[i * d + t] - b[i * d + t]);
            if (da)
                da[i * d + t] += v;
            if (db)
                db[i * d + t] -= v;
        }
    }
}

/* ==== histogram ============================================================================== */

int fcl_ref_histogram_bin(double s, int bins)
{
    double delta = 2.0 / (double)(bins - 1);
    double f = floor((s + 1.0) / delta);
    if (!(f >= 0.0))
        return 0;
    if (f > (double)(bins - 2))
        return bins - 2;
    return (int)f;
}

/* The similarities s [n, n] (upper triangle used), the histograms h+ / h- [bins] and the pair
 * counts. */
typedef struct hist_state {
    double *s, *hp, *hn;
    size_t np, nn;
} hist_state;

static void hist_free(hist_state *h)
{
    FCL_FREE_ALL(h->s, h->hp, h->hn);
}

static int hist_build(hist_state *h, const double *x, const int *labels, size_t n, size_t d, int bins)
{
    memset(h, 0, sizeof *h);
    h->s = malloc(sizeof(double) * n * n);
    h->hp = calloc((size_t)bins, sizeof(double));
    h->hn = calloc((size_t)bins, sizeof(double));
    if (!h->s || !h->hp || !h->hn) {
        hist_free(h);
        return -1;
    }
    fcl_ref_cosine_sim_fwd(h->s, x, x, n, n, d, L2EPS);
    double delta = 2.0 / (double)(bins - 1);
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++) {
            double s = h->s[i * n + j];
            int k = fcl_ref_histogram_bin(s, bins);
            double frac = (s - (-1.0 + (double)k * delta)) / delta;
            double *hist = labels[i] == labels[j] ? h->hp : h->hn;
            hist[k] += 1.0 - frac;
            hist[k + 1] += frac;
            if (labels[i] == labels[j])
                h->np++;
            else
                h->nn++;
        }
    for (int r = 0; r < bins; r++) {
        h->hp[r] = h->np ? h->hp[r] / (double)h->np : 0.0;
        h->hn[r] = h->nn ? h->hn[r] / (double)h->nn : 0.0;
    }
    return 0;
}

int fcl_ref_histogram_loss_fwd(double *loss, const double *x, const int *labels, size_t n,
                               size_t d, const fcl_histogram_params *p)
{
    hist_state h;
    if (hist_build(&h, x, labels, n, d, p->bins))
        return -1;
    double cum = 0.0, l = 0.0;
    for (int r = 0; r < p->bins; r++) {
        cum += h.hp[r];
        l += h.hn[r] * cum;
    }
    *loss = h.np && h.nn ? l : 0.0;
    hist_free(&h);
    return 0;
}

int fcl_ref_histogram_loss_bwd(double *dx, const double *x, const int *labels, size_t n, size_t d,
                               const fcl_histogram_params *p, double dloss)
{
    int bins = p->bins, rc = -1;
    hist_state h;
    if (hist_build(&h, x, labels, n, d, bins))
        return -1;
    double *gp = malloc(sizeof(double) * (size_t)bins), *gn = malloc(sizeof(double) * (size_t)bins);
    double *ds = calloc(n * n, sizeof(double));
    if (!gp || !gn || !ds)
        goto done;
    if (!h.np || !h.nn) {
        rc = 0;
        goto done;
    }
    /* dL/dh+[q] = sum_{r >= q} h-[r];  dL/dh-[r] = sum_{q <= r} h+[q] */
    double suf = 0.0, cum = 0.0;
    for (int q = bins - 1; q >= 0; q--) {
        suf += h.hn[q];
        gp[q] = suf / (double)h.np;
    }
    for (int r = 0; r < bins; r++) {
        cum += h.hp[r];
        gn[r] = cum / (double)h.nn;
    }
    double delta = 2.0 / (double)(bins - 1);
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++) {
            int k = fcl_ref_histogram_bin(h.s[i * n + j], bins);
            const double *g = labels[i] == labels[j] ? gp : gn;
            /* bin k gets (t_{k+1} - s) / Delta, bin k+1 gets (s - t_k) / Delta */
            ds[i * n + j] = dloss * (g[k + 1] - g[k]) / delta;
        }
    if (fcl_ref_cosine_sim_bwd(dx, NULL, ds, x, x, n, n, d, L2EPS) ||
        fcl_ref_cosine_sim_bwd(NULL, dx, ds, x, x, n, n, d, L2EPS))
        goto done;
    rc = 0;
done:
    FCL_FREE_ALL(gp, gn, ds);
    hist_free(&h);
    return rc;
}
