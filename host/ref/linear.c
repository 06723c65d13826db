/* host/ref/linear.c: reference fully connected layer, written for clarity (loops in double). */
#include "ref/ref_linear.h"

void fcl_ref_linear_fwd(double *y, const double *x, const double *w, const double *b, size_t n,
                        size_t in, size_t out)
{
    for (size_t i = 0; i < n; i++)
        for (size_t o = 0; o < out; o++) {
            double acc = b ? b[o] : 0.0;
            for (size_t k = 0; k < in; k++)
                acc += x[i * in + k] * w[o * in + k];
            y[i * out + o] = acc;
        }
}

void fcl_ref_linear_bwd(double *dx, double *dw, double *db, const double *dy, const double *x,
                        const double *w, size_t n, size_t in, size_t out)
{
    if (dx)
        for (size_t i = 0; i < n; i++)
            for (size_t k = 0; k < in; k++) {
                double acc = 0.0;
                for (size_t o = 0; o < out; o++)
                    acc += dy[i * out + o] * w[o * in + k];
                dx[i * in + k] += acc;
            }
    if (dw)
        for (size_t o = 0; o < out; o++)
            for (size_t k = 0; k < in; k++) {
                double acc = 0.0;
                for (size_t i = 0; i < n; i++)
                    acc += dy[i * out + o] * x[i * in + k];
                dw[o * in + k] += acc;
            }
    if (db)
        for (size_t o = 0; o < out; o++) {
            double acc = 0.0;
            for (size_t i = 0; i < n; i++)
                acc += dy[i * out + o];
            db[o] += acc;
        }
}
