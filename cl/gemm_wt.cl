/* cl/gemm_wt.cl: C (+)= A B^T for a long A read in place (a linear layer's or margin head's [classes, d] weights) and a batch-sized B: the classifiers' forward product. */

/* The register block is conv_gemm_nn's (cl/conv.cl): CONV_MB rows of A x CONV_NV vectors of
 * CONV_VW columns, from the "conv" tuning family. */
#if !defined(CONV_MB) || !defined(CONV_NV) || !defined(CONV_VW)
#error "CONV_MB / CONV_NV / CONV_VW come from the \"conv\" tuning family"
#endif
#if CONV_VW == 16
typedef float16 wtV;
#define wt_vload vload16
#define wt_vstore vstore16
#elif CONV_VW == 8
typedef float8 wtV;
#define wt_vload vload8
#define wt_vstore vstore8
#else
#error "CONV_VW must be 8 or 16"
#endif
#define WT_NB (CONV_VW * CONV_NV)

/* bt [K, ld] = B^T of b [N, K] (row-major), columns N..ld zero: the vector operand of gemm_wt
 * (a batch of 64-128 rows of 512: 128-256 KiB). Global: (ld, K). */
__kernel void gemm_wt_bt(FCL_TENSOR(bt), const int ld, FCL_CTENSOR(b), const int N, const int K)
{
    const int j = get_global_id(0), k = get_global_id(1);
    if (j >= ld || k >= K) return;
    bt[bt_off + k * ld + j] = j < N ? b[b_off + j * K + k] : 0.0f;
}

/* c[c_off + n * c_row + m] (+)= sum_k a[a_off + m * K + k] * bt[k * ld + n] for m < M, n < N:
 * C = A B^T stored with A's rows along C's columns (C [N, M], A [M, K] in place, bt from
 * gemm_wt_bt). Each work-item broadcasts CONV_MB rows of A, one float of each per k (CONV_MB
 * sequential streams), against CONV_NV vectors of bt's row k. Global: (ld / WT_NB, ceil(M /
 * CONV_MB) rounded up to the work-group): the column blocks of one row block are neighbours in a
 * work-group, so A's CONV_MB rows (12 KiB at K 512) are read from memory once and then from L1
 * while bt stays in L2. conv_gemm_nt (x rows against W rows, dot products along k) reloads 4 rows
 * of x from L2 for every 3 rows of W; conv_gemm_nn would need all of W repacked every call. */
__kernel void gemm_wt(const int M, const int N, const int K, FCL_CTENSOR(a), FCL_CTENSOR(bt), const int ld,
                      FCL_TENSOR(c), const int c_row, const int accumulate)
{
    const int n0 = get_global_id(0) * WT_NB, m0 = get_global_id(1) * CONV_MB;
    if (m0 >= M || n0 >= N) return;
    __global const float *ap[CONV_MB];
#pragma unroll
    for (int i = 0; i < CONV_MB; i++) ap[i] = a + a_off + min(m0 + i, M - 1) * K;   /* rows past M: computed, not stored */
    wtV acc[CONV_MB][CONV_NV];
#pragma unroll
    for (int i = 0; i < CONV_MB; i++)
#pragma unroll
        for (int v = 0; v < CONV_NV; v++) acc[i][v] = (wtV)(0.0f);
    __global const float *bp = bt + bt_off + n0;
    for (int k = 0; k < K; k++, bp += ld) {
        wtV bv[CONV_NV];
#pragma unroll
        for (int v = 0; v < CONV_NV; v++) bv[v] = wt_vload(v, bp);
#pragma unroll
        for (int i = 0; i < CONV_MB; i++) {
            const wtV av = (wtV)(ap[i][k]);
#pragma unroll
            for (int v = 0; v < CONV_NV; v++) acc[i][v] = fma(av, bv[v], acc[i][v]);
        }
    }
    /* C's row n holds A's rows m0.. as CONV_MB consecutive floats */
#pragma unroll
    for (int v = 0; v < CONV_NV; v++) {
        float t[CONV_MB][CONV_VW];
#pragma unroll
        for (int i = 0; i < CONV_MB; i++) wt_vstore(acc[i][v], 0, t[i]);
        for (int l = 0; l < CONV_VW; l++) {
            const int n = n0 + v * CONV_VW + l;
            if (n >= N) break;
            __global float *cr = c + c_off + n * c_row + m0;
#pragma unroll
            for (int i = 0; i < CONV_MB; i++)
                if (m0 + i < M) cr[i] = accumulate ? cr[i] + t[i][l] : t[i][l];
        }
    }
}
