/* host/ref/linear.c: reference fully connected layer in double (products through fcl_ref_matmul_acc). */
#include "ref/ref_linear.h"

#include "ref/ref_gemm.h"

void fcl_ref_linear_fwd(double *y, const double *x, const double *w, const double *b, size_t n,
                        size_t in, size_t out)
{
    for (size_t i = 0; i < n * out; i++) y[i] = b ? b[i % out] : 0.0;
    fcl_ref_matmul_acc(y, x, w, n, out, in, 0, 1);   /* x w^T */
}

void fcl_ref_linear_bwd(double *dx, double *dw, double *db, const double *dy, const double *x,
                        const double *w, size_t n, size_t in, size_t out)
{
    if (dx) fcl_ref_matmul_acc(dx, dy, w, n, in, out, 0, 0);    /* dy w */
    if (dw) fcl_ref_matmul_acc(dw, dy, x, out, in, n, 1, 0);    /* dy^T x */
    for (size_t i = 0; db && i < n * out; i++) db[i % out] += dy[i];
}
