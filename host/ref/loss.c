/* host/ref/loss.c: reference softmax cross-entropy, log-softmax, L2 normalisation and cosine similarity in double. */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ref/ref_gemm.h"
#include "ref/ref_loss.h"
#include "runtime/free_list.h"

/* log sum_j exp(x_j) of one row, with the max subtracted first. */
static double row_lse(const double *x, size_t k)
{
    double m = x[0];
    for (size_t j = 1; j < k; j++)
        if (x[j] > m)
            m = x[j];
    double s = 0.0;
    for (size_t j = 0; j < k; j++)
        s += exp(x[j] - m);
    return m + log(s);
}

void fcl_ref_softmax_xent_fwd(double *loss, double *row_loss, const double *logits,
                              const int *labels, size_t n, size_t k, double eps)
{
    double total = 0.0;
    for (size_t i = 0; i < n; i++) {
        const double *z = logits + i * k;
        double lse = row_lse(z, k);
        /* -sum_j q_j (z_j - lse) with q = (1 - eps) onehot + eps / k */
        double l = 0.0;
        for (size_t j = 0; j < k; j++) {
            double q = eps / (double)k + ((int)j == labels[i] ? 1.0 - eps : 0.0);
            l -= q * (z[j] - lse);
        }
        if (row_loss)
            row_loss[i] = l;
        total += l;
    }
    *loss = total / (double)n;
}

void fcl_ref_softmax_xent_bwd(double *dlogits, const double *logits, const int *labels, size_t n,
                              size_t k, double eps, double dloss)
{
    for (size_t i = 0; i < n; i++) {
        const double *z = logits + i * k;
        double lse = row_lse(z, k);
        for (size_t j = 0; j < k; j++) {
            double q = eps / (double)k + ((int)j == labels[i] ? 1.0 - eps : 0.0);
            double v = dlogits[i * k + j] + dloss * (exp(z[j] - lse) - q) / (double)n;
            /* as the kernel: a result below the smallest normal float is zero (cl/loss.cl) */
            dlogits[i * k + j] = fabs(v) < (double)FLT_MIN ? 0.0 : v;
        }
    }
}

void fcl_ref_log_softmax_fwd(double *y, const double *x, size_t n, size_t k)
{
    for (size_t i = 0; i < n; i++) {
        double lse = row_lse(x + i * k, k);
        for (size_t j = 0; j < k; j++)
            y[i * k + j] = x[i * k + j] - lse;
    }
}

void fcl_ref_log_softmax_bwd(double *dx, const double *dy, const double *y, size_t n, size_t k)
{
    for (size_t i = 0; i < n; i++) {
        double sdy = 0.0;
        for (size_t j = 0; j < k; j++)
            sdy += dy[i * k + j];
        for (size_t j = 0; j < k; j++)
            dx[i * k + j] += dy[i * k + j] - exp(y[i * k + j]) * sdy;
    }
}

static double row_norm(const double *x, size_t d)
{
    double s = 0.0;
    for (size_t j = 0; j < d; j++)
        s += x[j] * x[j];
    return sqrt(s);
}

void fcl_ref_l2norm_fwd(double *y, const double *x, size_t n, size_t d, double eps)
{
    for (size_t i = 0; i < n; i++) {
        double nrm = row_norm(x + i * d, d);
        double den = nrm > eps ? nrm : eps;
        for (size_t j = 0; j < d; j++)
            y[i * d + j] = x[i * d + j] / den;
    }
}

void fcl_ref_l2norm_bwd(double *dx, const double *dy, const double *x, size_t n, size_t d,
                        double eps)
{
    for (size_t i = 0; i < n; i++) {
        const double *xr = x + i * d, *g = dy + i * d;
        double nrm = row_norm(xr, d);
        if (nrm <= eps) {
            /* the denominator is the constant eps: y = x / eps */
            for (size_t j = 0; j < d; j++)
                dx[i * d + j] += g[j] / eps;
            continue;
        }
        /* y = x / |x|: dy/dx = (I - y y^T) / |x| */
        double dot = 0.0;
        for (size_t j = 0; j < d; j++)
            dot += xr[j] * g[j];
        for (size_t j = 0; j < d; j++)
            dx[i * d + j] += (g[j] - xr[j] * dot / (nrm * nrm)) / nrm;
    }
}

void fcl_ref_cosine_sim_fwd(double *s, const double *a, const double *b, size_t na, size_t nb,
                            size_t d, double eps)
{
    for (size_t i = 0; i < na; i++) {
        double ni = row_norm(a + i * d, d);
        ni = ni > eps ? ni : eps;
        for (size_t j = 0; j < nb; j++) {
            double nj = row_norm(b + j * d, d);
            nj = nj > eps ? nj : eps;
            double dot = 0.0;
            for (size_t t = 0; t < d; t++)
                dot += a[i * d + t] * b[j * d + t];
            s[i * nb + j] = dot / (ni * nj);
        }
    }
}

int fcl_ref_cosine_sim_bwd(double *da, double *db, const double *ds, const double *a,
                           const double *b, size_t na, size_t nb, size_t d, double eps)
{
    int rc = -1;
    /* S = An Bn^T: dAn = dS Bn, dBn = dS^T An, then through the row normalisation. */
    double *an = malloc(sizeof(double) * na * d), *bn = malloc(sizeof(double) * nb * d);
    double *g = malloc(sizeof(double) * (na > nb ? na : nb) * d);
    if (!an || !bn || !g)
        goto done;
    fcl_ref_l2norm_fwd(an, a, na, d, eps);
    fcl_ref_l2norm_fwd(bn, b, nb, d, eps);
    if (da) {   /* dAn = dS Bn */
        memset(g, 0, sizeof(double) * na * d);
        fcl_ref_matmul_acc(g, ds, bn, na, d, nb, 0, 0);
        fcl_ref_l2norm_bwd(da, g, a, na, d, eps);
    }
    if (db) {   /* dBn = dS^T An */
        memset(g, 0, sizeof(double) * nb * d);
        fcl_ref_matmul_acc(g, ds, an, nb, d, na, 1, 0);
        fcl_ref_l2norm_bwd(db, g, b, nb, d, eps);
    }
    rc = 0;
done:
    FCL_FREE_ALL(an, bn, g);
    return rc;
}
