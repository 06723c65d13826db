/* host/ref/pool.c: reference max / average / adaptive-average pooling in double (PyTorch's CPU loops). */
#include "ref/ref_pool.h"

#include <math.h>

static long imin(long a, long b) { return a < b ? a : b; }
static long imax(long a, long b) { return a > b ? a : b; }

void fcl_ref_maxpool2d_fwd(double *y, double *idx, const double *x, size_t n, size_t c, size_t h,
                           size_t w, size_t oh, size_t ow, const fcl_pool2d_params *p)
{
    long sh = p->sh ? p->sh : p->kh, sw = p->sw ? p->sw : p->kw;
    for (size_t pl = 0; pl < n * c; pl++) {
        const double *xp = x + pl * h * w;
        for (size_t i = 0; i < oh; i++)
            for (size_t j = 0; j < ow; j++) {
                long hs = (long)i * sh - p->ph, ws = (long)j * sw - p->pw;
                long he = imin(hs + p->kh, (long)h), we = imin(ws + p->kw, (long)w);
                hs = imax(hs, 0);
                ws = imax(ws, 0);
                long best = hs * (long)w + ws;
                double val = -INFINITY;
                for (long r = hs; r < he; r++)
                    for (long q = ws; q < we; q++) {
                        double v = xp[r * (long)w + q];
                        if (v > val || isnan(v)) {
                            val = v;
                            best = r * (long)w + q;
                        }
                    }
                y[(pl * oh + i) * ow + j] = val;
                if (idx) idx[(pl * oh + i) * ow + j] = (double)best;
            }
    }
}

void fcl_ref_maxpool2d_bwd(double *dx, const double *dy, const double *idx, size_t n, size_t c,
                           size_t h, size_t w, size_t oh, size_t ow)
{
    for (size_t pl = 0; pl < n * c; pl++)
        for (size_t k = 0; k < oh * ow; k++)
            dx[pl * h * w + (size_t)idx[pl * oh * ow + k]] += dy[pl * oh * ow + k];
}

/* The clipped window [hs, he) x [ws, we) of output (i, j) and its divisor, as PyTorch's
 * avg_pool2d computes them. Returns 0 when the window holds no input element. */
static int avg_window(size_t i, size_t j, size_t h, size_t w, const fcl_pool2d_params *p,
                      long *hs, long *he, long *ws, long *we, double *div)
{
    long sh = p->sh ? p->sh : p->kh, sw = p->sw ? p->sw : p->kw;
    *hs = (long)i * sh - p->ph;
    *ws = (long)j * sw - p->pw;
    *he = imin(*hs + p->kh, (long)h + p->ph);
    *we = imin(*ws + p->kw, (long)w + p->pw);
    long pool_size = (*he - *hs) * (*we - *ws);
    *hs = imax(*hs, 0);
    *ws = imax(*ws, 0);
    *he = imin(*he, (long)h);
    *we = imin(*we, (long)w);
    if (*hs >= *he || *ws >= *we) return 0;
    if (p->divisor_override > 0)
        *div = p->divisor_override;
    else if (p->count_include_pad)
        *div = (double)pool_size;
    else
        *div = (double)((*he - *hs) * (*we - *ws));
    return 1;
}

void fcl_ref_avgpool2d_fwd(double *y, const double *x, size_t n, size_t c, size_t h, size_t w,
                           size_t oh, size_t ow, const fcl_pool2d_params *p)
{
    for (size_t pl = 0; pl < n * c; pl++)
        for (size_t i = 0; i < oh; i++)
            for (size_t j = 0; j < ow; j++) {
                long hs, he, ws, we;
                double div = 1, sum = 0;
                double *out = &y[(pl * oh + i) * ow + j];
                if (!avg_window(i, j, h, w, p, &hs, &he, &ws, &we, &div)) {
                    *out = 0;
                    continue;
                }
                for (long r = hs; r < he; r++)
                    for (long q = ws; q < we; q++) sum += x[pl * h * w + (size_t)(r * (long)w + q)];
                *out = sum / div;
            }
}

void fcl_ref_avgpool2d_bwd(double *dx, const double *dy, size_t n, size_t c, size_t h, size_t w,
                           size_t oh, size_t ow, const fcl_pool2d_params *p)
{
    for (size_t pl = 0; pl < n * c; pl++)
        for (size_t i = 0; i < oh; i++)
            for (size_t j = 0; j < ow; j++) {
                long hs, he, ws, we;
                double div = 1;
                if (!avg_window(i, j, h, w, p, &hs, &he, &ws, &we, &div)) continue;
                double g = dy[(pl * oh + i) * ow + j] / div;
                for (long r = hs; r < he; r++)
                    for (long q = ws; q < we; q++) dx[pl * h * w + (size_t)(r * (long)w + q)] += g;
            }
}

/* PyTorch's adaptive window of output (i, j): rows [floor(i * h / oh), ceil((i + 1) * h / oh)), the
 * same for columns; returns its size. */
static double ad_window(size_t i, size_t j, size_t h, size_t w, size_t oh, size_t ow, size_t *hs, size_t *he,
                        size_t *ws, size_t *we)
{
    *hs = (i * h) / oh, *he = ((i + 1) * h + oh - 1) / oh;
    *ws = (j * w) / ow, *we = ((j + 1) * w + ow - 1) / ow;
    return (double)((*he - *hs) * (*we - *ws));
}

void fcl_ref_adaptive_avgpool2d_fwd(double *y, const double *x, size_t n, size_t c, size_t h,
                                    size_t w, size_t oh, size_t ow)
{
    size_t hs, he, ws, we;
    for (size_t o = 0; o < n * c * oh * ow; o++) {
        size_t pl = o / (oh * ow);
        double cnt = ad_window(o / ow % oh, o % ow, h, w, oh, ow, &hs, &he, &ws, &we), sum = 0;
        for (size_t r = hs; r < he; r++)
            for (size_t q = ws; q < we; q++) sum += x[(pl * h + r) * w + q];
        y[o] = sum / cnt;
    }
}

void fcl_ref_adaptive_avgpool2d_bwd(double *dx, const double *dy, size_t n, size_t c, size_t h,
                                    size_t w, size_t oh, size_t ow)
{
    size_t hs, he, ws, we;
    for (size_t o = 0; o < n * c * oh * ow; o++) {
        size_t pl = o / (oh * ow);
        double g = dy[o] / ad_window(o / ow % oh, o % ow, h, w, oh, ow, &hs, &he, &ws, &we);
        for (size_t r = hs; r < he; r++)
            for (size_t q = ws; q < we; q++) dx[(pl * h + r) * w + q] += g;
    }
}
