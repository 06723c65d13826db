/* host/ref/bn.c: reference batch normalisation (forward, backward, conv folding) in double. */
#include "ref/ref_bn.h"

#include <math.h>

void fcl_ref_bn2d_fwd(double *y, double *save_mean, double *save_invstd, double *running_mean,
                      double *running_var, const double *x, const double *gamma,
                      const double *beta, size_t n, size_t c, size_t inner,
                      const fcl_bn2d_params *p)
{
    double m_count = (double)(n * inner);
    for (size_t ch = 0; ch < c; ch++) {
        double mean, invstd;
        if (p->training) {
            double sum = 0;
            for (size_t b = 0; b < n; b++)
                for (size_t i = 0; i < inner; i++)
                    sum += x[(b * c + ch) * inner + i];
            mean = sum / m_count;
            double sq = 0;   /* two-pass: sum of squared deviations */
            for (size_t b = 0; b < n; b++)
                for (size_t i = 0; i < inner; i++) {
                    double d = x[(b * c + ch) * inner + i] - mean;
                    sq += d * d;
                }
            double var = sq / m_count;   /* biased: used to normalise */
            invstd = 1.0 / sqrt(var + p->eps);
            if (running_mean)
                running_mean[ch] = (1.0 - p->momentum) * running_mean[ch] + p->momentum * mean;
            if (running_var) {
                double unbiased = sq / (m_count - 1.0);
                running_var[ch] = (1.0 - p->momentum) * running_var[ch] + p->momentum * unbiased;
            }
        } else {
            mean = running_mean[ch];
            invstd = 1.0 / sqrt(running_var[ch] + p->eps);
        }
        if (save_mean) save_mean[ch] = mean;
        if (save_invstd) save_invstd[ch] = invstd;
        double g = gamma ? gamma[ch] : 1.0, be = beta ? beta[ch] : 0.0;
        for (size_t b = 0; b < n; b++)
            for (size_t i = 0; i < inner; i++) {
                size_t k = (b * c + ch) * inner + i;
                y[k] = (x[k] - mean) * invstd * g + be;
            }
    }
}

/* g = dy, masked by the saved output y through the fused activation act (0 none, 1 ReLU: y > 0,
 * 2 ReLU6: 0 < y < 6); dr += g. */
static void bn_bwd(double *dx, double *dgamma, double *dbeta, double *dr, const double *dy, const double *y,
                   const double *x, const double *gamma, const double *save_mean, const double *save_invstd,
                   size_t n, size_t c, size_t inner, const fcl_bn2d_params *p, int act)
{
    double m_count = (double)(n * inner);
#define G(k) ((act && !(y[k] > 0)) || (act == 2 && !(y[k] < 6)) ? 0.0 : dy[k])
    for (size_t ch = 0; ch < c; ch++) {
        double mean = save_mean[ch], invstd = save_invstd[ch];
        double g = gamma ? gamma[ch] : 1.0;
        double sum_dy = 0, sum_dy_xhat = 0;
        for (size_t b = 0; b < n; b++)
            for (size_t i = 0; i < inner; i++) {
                size_t k = (b * c + ch) * inner + i;
                sum_dy += G(k);
                sum_dy_xhat += G(k) * (x[k] - mean) * invstd;
                if (dr) dr[k] += G(k);
            }
        if (dbeta) dbeta[ch] += sum_dy;
        if (dgamma) dgamma[ch] += sum_dy_xhat;
        if (!dx) continue;
        for (size_t b = 0; b < n; b++)
            for (size_t i = 0; i < inner; i++) {
                size_t k = (b * c + ch) * inner + i;
                if (p->training) {
                    double xhat = (x[k] - mean) * invstd;
                    dx[k] += g * invstd * (G(k) - sum_dy / m_count - xhat * sum_dy_xhat / m_count);
                } else {
                    dx[k] += g * invstd * G(k);
                }
            }
    }
#undef G
}

void fcl_ref_bn2d_bwd(double *dx, double *dgamma, double *dbeta, const double *dy,
                      const double *x, const double *gamma, const double *save_mean,
                      const double *save_invstd, size_t n, size_t c, size_t inner,
                      const fcl_bn2d_params *p)
{
    bn_bwd(dx, dgamma, dbeta, NULL, dy, NULL, x, gamma, save_mean, save_invstd, n, c, inner, p, 0);
}

void fcl_ref_bn2d_act_fwd(double *y, double *save_mean, double *save_invstd, double *running_mean,
                          double *running_var, const double *x, const double *r, const double *gamma,
                          const double *beta, size_t n, size_t c, size_t inner, const fcl_bn2d_params *p, int act)
{
    fcl_ref_bn2d_fwd(y, save_mean, save_invstd, running_mean, running_var, x, gamma, beta, n, c, inner, p);
    for (size_t k = 0; k < n * c * inner; k++) {
        double v = y[k] + (r ? r[k] : 0.0);
        if (act && v < 0) v = 0.0;
        if (act == 2 && v > 6) v = 6.0;
        y[k] = v;
    }
}

void fcl_ref_bn2d_act_bwd(double *dx, double *dgamma, double *dbeta, double *dr, const double *dy,
                          const double *y, const double *x, const double *gamma, const double *save_mean,
                          const double *save_invstd, size_t n, size_t c, size_t inner,
                          const fcl_bn2d_params *p, int act)
{
    bn_bwd(dx, dgamma, dbeta, dr, dy, y, x, gamma, save_mean, save_invstd, n, c, inner, p, act);
}

void fcl_ref_bn2d_relu_fwd(double *y, double *save_mean, double *save_invstd, double *running_mean,
                           double *running_var, const double *x, const double *r, const double *gamma,
                           const double *beta, size_t n, size_t c, size_t inner, const fcl_bn2d_params *p)
{
    fcl_ref_bn2d_act_fwd(y, save_mean, save_invstd, running_mean, running_var, x, r, gamma, beta, n, c, inner, p, 1);
}

void fcl_ref_bn2d_relu_bwd(double *dx, double *dgamma, double *dbeta, double *dr, const double *dy,
                           const double *y, const double *x, const double *gamma, const double *save_mean,
                           const double *save_invstd, size_t n, size_t c, size_t inner,
                           const fcl_bn2d_params *p)
{
    bn_bwd(dx, dgamma, dbeta, dr, dy, y, x, gamma, save_mean, save_invstd, n, c, inner, p, 1);
}

void fcl_ref_bn2d_fold(double *w_out, double *b_out, const double *w, const double *b,
                       const double *gamma, const double *beta, const double *running_mean,
                       const double *running_var, double eps, size_t cout, size_t per_out)
{
    for (size_t co = 0; co < cout; co++) {
        double s = (gamma ? gamma[co] : 1.0) / sqrt(running_var[co] + eps);
        for (size_t k = 0; k < per_out; k++) w_out[co * per_out + k] = w[co * per_out + k] * s;
        b_out[co] = ((b ? b[co] : 0.0) - running_mean[co]) * s + (beta ? beta[co] : 0.0);
    }
}
