/* host/ref/gemm.c: reference row-major SGEMM (double accumulation) with fcl_gemm's parameter semantics,
 * and the double product the other references share. */
#include "ref/ref_gemm.h"

void fcl_ref_gemm(float *c, const float *a, const float *b, const fcl_gemm_params *p)
{
    /* Leading dimensions default to the stored row length of each operand, as in fcl_gemm. */
    size_t lda = p->lda ? p->lda : (p->trans_a ? p->m : p->k);
    size_t ldb = p->ldb ? p->ldb : (p->trans_b ? p->k : p->n);
    size_t ldc = p->ldc ? p->ldc : p->n;
    size_t batch = p->batch ? p->batch : 1;
    for (size_t bi = 0; bi < batch; bi++) {
        const float *A = a + p->a_off + bi * p->stride_a;
        const float *B = b + p->b_off + bi * p->stride_b;
        float *C = c + p->c_off + bi * p->stride_c;
        for (size_t i = 0; i < p->m; i++) {
            for (size_t j = 0; j < p->n; j++) {
                double acc = 0.0;
                for (size_t l = 0; l < p->k; l++) {
                    double av = p->trans_a ? A[l * lda + i] : A[i * lda + l];
                    double bv = p->trans_b ? B[j * ldb + l] : B[l * ldb + j];
                    acc += av * bv;
                }
                double prev = p->beta != 0.0f ? (double)p->beta * C[i * ldc + j] : 0.0; /* beta 0 ignores NaN in C, as BLAS */
                C[i * ldc + j] = (float)((double)p->alpha * acc + prev);
            }
        }
    }
}

void fcl_ref_matmul_acc(double *c, const double *a, const double *b, size_t m, size_t n, size_t k, int ta,
                        int tb)
{
    for (size_t i = 0; i < m; i++)
        for (size_t j = 0; j < n; j++) {
            double acc = 0.0;
            for (size_t l = 0; l < k; l++) acc += (ta ? a[l * m + i] : a[i * k + l]) * (tb ? b[j * k + l] : b[l * n + j]);
            c[i * n + j] += acc;
        }
}
