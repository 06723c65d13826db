/* host/ref/attn.c: reference r-SoftMax (timm's RadixSoftmax) and radix sums (SplitAttn) in double. */
#include "ref/ref_attn.h"

#include <math.h>

/* index of x[s, g, r, j] and y[s, r, g, j] within the whole array */
#define XI(s, g, r, j) ((((s) * card + (g)) * radix + (r)) * rest + (j))
#define YI(s, g, r, j) ((((s) * radix + (r)) * card + (g)) * rest + (j))

void fcl_ref_rsoftmax_fwd(double *y, const double *x, size_t b, size_t radix, size_t card, size_t rest)
{
    for (size_t s = 0; s < b; s++)
        for (size_t g = 0; g < card; g++)
            for (size_t j = 0; j < rest; j++) {
                if (radix == 1) {
                    y[YI(s, g, 0, j)] = 1.0 / (1.0 + exp(-x[XI(s, g, 0, j)]));
                    continue;
                }
                double m = x[XI(s, g, 0, j)], sum = 0;
                for (size_t r = 1; r < radix; r++) m = fmax(m, x[XI(s, g, r, j)]);
                for (size_t r = 0; r < radix; r++) sum += exp(x[XI(s, g, r, j)] - m);
                for (size_t r = 0; r < radix; r++) y[YI(s, g, r, j)] = exp(x[XI(s, g, r, j)] - m) / sum;
            }
}

void fcl_ref_rsoftmax_bwd(double *dx, const double *dy, const double *y, size_t b, size_t radix,
                          size_t card, size_t rest)
{
    for (size_t s = 0; s < b; s++)
        for (size_t g = 0; g < card; g++)
            for (size_t j = 0; j < rest; j++) {
                double dot = 0;
                for (size_t r = 0; r < radix; r++) dot += y[YI(s, g, r, j)] * dy[YI(s, g, r, j)];
                for (size_t r = 0; r < radix; r++) {
                    double v = y[YI(s, g, r, j)], d = dy[YI(s, g, r, j)];
                    dx[XI(s, g, r, j)] += radix == 1 ? d * v * (1 - v) : v * (d - dot);
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
