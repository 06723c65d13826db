/* host/ref/norm.c: reference LayerNorm2d, layer scale and scaled weight standardisation in double (PyTorch's formulas). */
#include "ref/ref_norm.h"

#include <math.h>

/* mean and 1 / sqrt(biased var + eps) of the `count` values x[base + j * stride] (a pixel's
 * channels, a weight row) */
static void stats(const double *x, size_t base, size_t stride, size_t count, double eps, double *mean,
                  double *rstd)
{
    double s = 0, q = 0;
    for (size_t j = 0; j < count; j++) s += x[base + j * stride];
    double m = s / (double)count;
    for (size_t j = 0; j < count; j++) q += (x[base + j * stride] - m) * (x[base + j * stride] - m);
    *mean = m;
    *rstd = 1.0 / sqrt(q / (double)count + eps);
}

void fcl_ref_ln2d_fwd(double *y, double *mean, double *rstd, const double *x, const double *w,
                      const double *b, size_t n, size_t c, size_t hw, double eps)
{
    for (size_t bi = 0; bi < n; bi++)
        for (size_t i = 0; i < hw; i++) {
            double m, r;
            stats(x, bi * c * hw + i, hw, c, eps, &m, &r);
            if (mean) mean[bi * hw + i] = m;
            if (rstd) rstd[bi * hw + i] = r;
            for (size_t ch = 0; ch < c; ch++) {
                size_t k = (bi * c + ch) * hw + i;
                y[k] = (x[k] - m) * r * (w ? w[ch] : 1.0) + (b ? b[ch] : 0.0);
            }
        }
}

void fcl_ref_ln2d_bwd(double *dx, double *dw, double *db, const double *dy, const double *x,
                      const double *w, size_t n, size_t c, size_t hw, double eps)
{
    for (size_t bi = 0; bi < n; bi++)
        for (size_t i = 0; i < hw; i++) {
            double m, r, sg = 0, sgx = 0;
            stats(x, bi * c * hw + i, hw, c, eps, &m, &r);
            for (size_t ch = 0; ch < c; ch++) {
                size_t k = (bi * c + ch) * hw + i;
                double xh = (x[k] - m) * r, g = dy[k] * (w ? w[ch] : 1.0);
                sg += g;
                sgx += g * xh;
                if (dw) dw[ch] += dy[k] * xh;
                if (db) db[ch] += dy[k];
            }
            if (!dx) continue;
            for (size_t ch = 0; ch < c; ch++) {
                size_t k = (bi * c + ch) * hw + i;
                double xh = (x[k] - m) * r, g = dy[k] * (w ? w[ch] : 1.0);
                dx[k] += r * (g - sg / (double)c - xh * sgx / (double)c);
            }
        }
}

void fcl_ref_layer_scale_fwd(double *y, const double *x, const double *gamma, size_t n, size_t c,
                             size_t hw)
{
    for (size_t k = 0; k < n * c * hw; k++) y[k] = x[k] * gamma[(k / hw) % c];
}

void fcl_ref_layer_scale_bwd(double *dx, double *dgamma, const double *dy, const double *x,
                             const double *gamma, size_t n, size_t c, size_t hw)
{
    for (size_t k = 0; k < n * c * hw; k++) {
        size_t ch = (k / hw) % c;
        if (dx) dx[k] += dy[k] * gamma[ch];
        if (dgamma) dgamma[ch] += dy[k] * x[k];
    }
}

void fcl_ref_wstd_fwd(double *wh, const double *w, const double *gain, size_t o, size_t k, double scale,
                      double eps)
{
    for (size_t r = 0; r < o; r++) {
        double m, rs;
        stats(w, r * k, 1, k, eps, &m, &rs);
        for (size_t i = 0; i < k; i++) wh[r * k + i] = (gain ? gain[r] : 1.0) * scale * (w[r * k + i] - m) * rs;
    }
}

void fcl_ref_wstd_bwd(double *dw, double *dgain, const double *dwh, const double *w, const double *gain,
                      size_t o, size_t k, double scale, double eps)
{
    for (size_t r = 0; r < o; r++) {
        double m, rs, sg = 0, sgx = 0;
        stats(w, r * k, 1, k, eps, &m, &rs);
        for (size_t i = 0; i < k; i++) {
            sg += dwh[r * k + i];
            sgx += dwh[r * k + i] * (w[r * k + i] - m) * rs;
        }
        if (dgain) dgain[r] += scale * sgx;
        if (!dw) continue;
        double s = (gain ? gain[r] : 1.0) * scale * rs;
        for (size_t i = 0; i < k; i++) {
            double xh = (w[r * k + i] - m) * rs;
            dw[r * k + i] += s * (dwh[r * k + i] - sg / (double)k - xh * sgx / (double)k);
        }
    }
}
