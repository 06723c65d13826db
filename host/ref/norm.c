/* host/ref/norm.c: reference LayerNorm2d and layer scale in double (PyTorch's layer_norm formulas). */
#include "ref/ref_norm.h"

#include <math.h>

/* mean and 1 / sqrt(biased var + eps) of pixel (b, i) over its c channel values */
static void pixel_stats(const double *x, size_t b, size_t i, size_t c, size_t hw, double eps,
                        double *mean, double *rstd)
{
    double s = 0, q = 0;
    for (size_t ch = 0; ch < c; ch++) s += x[(b * c + ch) * hw + i];
    double m = s / (double)c;
    for (size_t ch = 0; ch < c; ch++) {
        double d = x[(b * c + ch) * hw + i] - m;
        q += d * d;
    }
    *mean = m;
    *rstd = 1.0 / sqrt(q / (double)c + eps);
}

void fcl_ref_ln2d_fwd(double *y, double *mean, double *rstd, const double *x, const double *w,
                      const double *b, size_t n, size_t c, size_t hw, double eps)
{
    for (size_t bi = 0; bi < n; bi++)
        for (size_t i = 0; i < hw; i++) {
            double m, r;
            pixel_stats(x, bi, i, c, hw, eps, &m, &r);
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
            pixel_stats(x, bi, i, c, hw, eps, &m, &r);
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
