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

/* The window [hs, he) x [ws, we) of output (i, j) of an average pooling, and its divisor; 0 when
 * the window holds no input element. */
typedef double (*window_fn)(size_t i, size_t j, size_t h, size_t w, size_t oh, size_t ow, const fcl_pool2d_params *p,
                            long *hs, long *he, long *ws, long *we);

/* The clipped window and divisor as PyTorch's avg_pool2d computes them. */
static double avg_window(size_t i, size_t j, size_t h, size_t w, size_t oh, size_t ow, const fcl_pool2d_params *p,
                         long *hs, long *he, long *ws, long *we)
{
    (void)oh, (void)ow;
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
    if (p->divisor_override > 0) return p->divisor_override;
    return p->count_include_pad ? (double)pool_size : (double)((*he - *hs) * (*we - *ws));
}

/* PyTorch's adaptive window: rows [floor(i * h / oh), ceil((i + 1) * h / oh)), the same for columns. */
static double ad_window(size_t i, size_t j, size_t h, size_t w, size_t oh, size_t ow, const fcl_pool2d_params *p,
                        long *hs, long *he, long *ws, long *we)
{
    (void)p;
    *hs = (long)((i * h) / oh), *he = (long)(((i + 1) * h + oh - 1) / oh);
    *ws = (long)((j * w) / ow), *we = (long)(((j + 1) * w + ow - 1) / ow);
    return (double)((*he - *hs) * (*we - *ws));
}

/* Every output o of n * c planes of oh x ow: forward (y != NULL) y[o] = the window's sum of v / divisor
 * (0 for an empty window); backward (dx != NULL) adds v[o] / divisor to dx over the window. */
static void window_pool(double *y, double *dx, const double *v, size_t n, size_t c, size_t h, size_t w, size_t oh,
                        size_t ow, const fcl_pool2d_params *p, window_fn win)
{
    for (size_t o = 0; o < n * c * oh * ow; o++) {
        size_t plane = o / (oh * ow) * h * w;
        long hs, he, ws, we;
        double div = win(o / ow % oh, o % ow, h, w, oh, ow, p, &hs, &he, &ws, &we), sum = 0;
        if (y) y[o] = 0;
        if (div == 0) continue;
        for (long r = hs; r < he; r++)
            for (long q = ws; q < we; q++) {
                size_t at = plane + (size_t)(r * (long)w + q);
                if (y) sum += v[at];
                else dx[at] += v[o] / div;
            }
        if (y) y[o] = sum / div;
    }
}

void fcl_ref_avgpool2d_fwd(double *y, const double *x, size_t n, size_t c, size_t h, size_t w,
                           size_t oh, size_t ow, const fcl_pool2d_params *p)
{
    window_pool(y, NULL, x, n, c, h, w, oh, ow, p, avg_window);
}

void fcl_ref_avgpool2d_bwd(double *dx, const double *dy, size_t n, size_t c, size_t h, size_t w,
                           size_t oh, size_t ow, const fcl_pool2d_params *p)
{
    window_pool(NULL, dx, dy, n, c, h, w, oh, ow, p, avg_window);
}

void fcl_ref_adaptive_avgpool2d_fwd(double *y, const double *x, size_t n, size_t c, size_t h,
                                    size_t w, size_t oh, size_t ow)
{
    window_pool(y, NULL, x, n, c, h, w, oh, ow, NULL, ad_window);
}

void fcl_ref_adaptive_avgpool2d_bwd(double *dx, const double *dy, size_t n, size_t c, size_t h,
                                    size_t w, size_t oh, size_t ow)
{
    window_pool(NULL, dx, dy, n, c, h, w, oh, ow, NULL, ad_window);
}
