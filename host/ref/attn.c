/* host/ref/attn.c: reference r-SoftMax (timm's RadixSoftmax) and radix sums (SplitAttn) in double. */
#include "ref/ref_attn.h"

#include <math.h>

/* Softmax group q of the b * card * rest groups (sample s, cardinal group g, position j): its radix
 * entries r sit at x[x0 + r * xs] (x is [s, g, r, j]) and y[y0 + r * ys] (y is [s, r, g, j]). */
static void group_of(size_t q, size_t radix, size_t card, size_t rest, size_t *x0, size_t *xs, size_t *y0,
                     size_t *ys)
{
    size_t s = q / (card * rest), g = q / rest % card, j = q % rest;
    *x0 = (s * card + g) * radix * rest + j, *xs = rest;
    *y0 = (s * radix * card + g) * rest + j, *ys = card * rest;
}

void fcl_ref_rsoftmax_fwd(double *y, const double *x, size_t b, size_t radix, size_t card, size_t rest)
{
    size_t x0, xs, y0, ys;
    for (size_t q = 0; q < b * card * rest; q++) {
        group_of(q, radix, card, rest, &x0, &xs, &y0, &ys);
        if (radix == 1) {   /* a sigmoid */
            y[y0] = 1.0 / (1.0 + exp(-x[x0]));
            continue;
        }
        double m = x[x0], sum = 0;
        for (size_t r = 1; r < radix; r++) m = fmax(m, x[x0 + r * xs]);
        for (size_t r = 0; r < radix; r++) sum += exp(x[x0 + r * xs] - m);
        for (size_t r = 0; r < radix; r++) y[y0 + r * ys] = exp(x[x0 + r * xs] - m) / sum;
    }
}

void fcl_ref_rsoftmax_bwd(double *dx, const double *dy, const double *y, size_t b, size_t radix,
                          size_t card, size_t rest)
{
    size_t x0, xs, y0, ys;
    for (size_t q = 0; q < b * card * rest; q++) {
        group_of(q, radix, card, rest, &x0, &xs, &y0, &ys);
        double dot = 0;
        for (size_t r = 0; r < radix; r++) dot += y[y0 + r * ys] * dy[y0 + r * ys];
        for (size_t r = 0; r < radix; r++) {
            double v = y[y0 + r * ys], d = dy[y0 + r * ys];
            dx[x0 + r * xs] += radix == 1 ? d * v * (1 - v) : v * (d - dot);
        }
    }
}

void fcl_ref_radix_sum_fwd(double *y, const double *x, const double *a, size_t b, size_t radix,
                           size_t c, size_t hw)
{
    for (size_t s = 0; s < b; s++)
        for (size_t ch = 0; ch < c; ch++)
            for (size_t i = 0; i < hw; i++) {
                double acc = 0;
                for (size_t r = 0; r < radix; r++) {
                    size_t row = (s * radix + r) * c + ch;
                    acc += x[row * hw + i] * (a ? a[row] : 1.0);
                }
                y[(s * c + ch) * hw + i] = acc;
            }
}

void fcl_ref_radix_sum_bwd(double *dx, double *da, const double *dy, const double *x,
                           const double *a, size_t b, size_t radix, size_t c, size_t hw)
{
    for (size_t s = 0; s < b; s++)
        for (size_t r = 0; r < radix; r++)
            for (size_t ch = 0; ch < c; ch++) {
                size_t row = (s * radix + r) * c + ch;
                for (size_t i = 0; i < hw; i++) {
                    double g = dy[(s * c + ch) * hw + i];
                    if (dx) dx[row * hw + i] += g * (a ? a[row] : 1.0);
                    if (da) da[row] += g * x[row * hw + i];
                }
            }
}
