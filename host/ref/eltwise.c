/* host/ref/eltwise.c: reference elementwise ops (add, axpby, channel multiply, concat, dropout, drop path) in double. */
#include "ref/ref_eltwise.h"

void fcl_ref_add_fwd(double *y, const double *a, const double *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        y[i] = a[i] + b[i];
}

void fcl_ref_axpby(double *y, double alpha, const double *x, double beta, size_t n)
{
    for (size_t i = 0; i < n; i++)
        y[i] = alpha * x[i] + (beta == 0.0 ? 0.0 : beta * y[i]);
}

double fcl_ref_sum(const double *x, size_t n)
{
    double acc = 0.0;
    for (size_t i = 0; i < n; i++)
        acc += x[i];
    return acc;
}

void fcl_ref_chmul_fwd(double *y, const double *x, const double *s, size_t nc, size_t hw)
{
    for (size_t p = 0; p < nc; p++)
        for (size_t j = 0; j < hw; j++)
            y[p * hw + j] = x[p * hw + j] * s[p];
}

void fcl_ref_chmul_bwd(double *dx, double *ds, const double *dy, const double *x, const double *s,
                       size_t nc, size_t hw)
{
    for (size_t p = 0; p < nc; p++) {
        double acc = 0.0;
        for (size_t j = 0; j < hw; j++) {
            if (dx)
                dx[p * hw + j] += dy[p * hw + j] * s[p];
            acc += dy[p * hw + j] * x[p * hw + j];
        }
        if (ds)
            ds[p] += acc;
    }
}

static size_t total_channels(const size_t *channels, int count)
{
    size_t c = 0;
    for (int i = 0; i < count; i++)
        c += channels[i];
    return c;
}

void fcl_ref_concat_fwd(double *y, const double *const *xs, const size_t *channels, int count,
                        size_t n, size_t inner)
{
    size_t ct = total_channels(channels, count);
    for (size_t b = 0; b < n; b++) {
        size_t c0 = 0;
        for (int i = 0; i < count; i++) {
            for (size_t c = 0; c < channels[i]; c++)
                for (size_t j = 0; j < inner; j++)
                    y[(b * ct + c0 + c) * inner + j] = xs[i][(b * channels[i] + c) * inner + j];
            c0 += channels[i];
        }
    }
}

void fcl_ref_concat_bwd(double *const *dxs, const size_t *channels, int count, const double *dy,
                        size_t n, size_t inner)
{
    size_t ct = total_channels(channels, count);
    for (size_t b = 0; b < n; b++) {
        size_t c0 = 0;
        for (int i = 0; i < count; i++) {
            if (dxs[i])
                for (size_t c = 0; c < channels[i]; c++)
                    for (size_t j = 0; j < inner; j++)
                        dxs[i][(b * channels[i] + c) * inner + j] += dy[(b * ct + c0 + c) * inner + j];
            c0 += channels[i];
        }
    }
}

/* The factor element i is multiplied by: 0 (dropped), 1/(1-p) (kept, training) or 1 (inference). */
static double dropout_factor(size_t i, const fcl_dropout_params *p)
{
    if (!p->training)
        return 1.0;
    if (!fcl_dropout_keep(p->seed, i, p->p))
        return 0.0;
    return 1.0 / (1.0 - (double)p->p);
}

void fcl_ref_dropout_fwd(double *y, const double *x, size_t n, const fcl_dropout_params *p)
{
    for (size_t i = 0; i < n; i++)
        y[i] = x[i] * dropout_factor(i, p);
}

void fcl_ref_dropout_bwd(double *dx, const double *dy, size_t n, const fcl_dropout_params *p)
{
    for (size_t i = 0; i < n; i++)
        dx[i] += dy[i] * dropout_factor(i, p);
}

void fcl_ref_drop_path_fwd(double *y, const double *x, size_t n, size_t per_sample,
                           const fcl_dropout_params *p)
{
    for (size_t i = 0; i < n; i++)
        y[i] = x[i] * dropout_factor(i / per_sample, p);
}

void fcl_ref_drop_path_bwd(double *dx, const double *dy, size_t n, size_t per_sample,
                           const fcl_dropout_params *p)
{
    for (size_t i = 0; i < n; i++)
        dx[i] += dy[i] * dropout_factor(i / per_sample, p);
}
