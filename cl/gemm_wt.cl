/* cl/gemm_wt.cl: a classifier's products over the classes, C (+)= A B^T (forward) or A^T B (weight gradient), with the long operand (W, or dy) read in place as the broadcast one. */

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

/* bt: the vector operand of gemm_wt, B^T of a row-major b [N, K] (s_j K, s_k 1) or a copy of
 * b [K, N] (s_j 1, s_k N), in column blocks of WT_NB: bt[(j / WT_NB) bs + k ld + j % WT_NB] =
 * b[b_off + j * s_j + k * s_k] for j < N, 0 for N <= j < whole blocks. bs WT_NB, ld the padded
 * row: rows [K, ld]; bs K WT_NB, ld WT_NB: panels, each column block's K x WT_NB floats one
 * sequential stream (why: gemm_wt). A batch of 64-128 rows of 512: 128-256 KiB.
 * Global: (whole column blocks, K). */
__kernel void gemm_wt_bt(FCL_TENSOR(bt), const int ld, const int bs, FCL_CTENSOR(b), const int N, const int K,
                         const int s_j, const int s_k)
{
    const int j = get_global_id(0), k = get_global_id(1);
    if (k >= K) return;
    bt[bt_off + j / WT_NB * bs + k * ld + j % WT_NB] = j < N ? b[b_off + j * s_j + k * s_k] : 0.0f;
}

/* C(m, n) (+)= sum_k A(m, k) bt[(n / WT_NB) bs + k ld + n % WT_NB] for m < M, n < N, with A(m, k) = a[a_off + m * a_m +
 * k * a_k] read in place and C(m, n) at c[c_off + m * c_m + n * c_n]: a classifier's forward
 * C^T = W x^T (A = W [M, K], a_m K, a_k 1; C = the output [N, M], c_m 1) and its weight
 * gradient dW = dy^T x (A = dy^T, dy [K, M]: a_m 1, a_k M; bt = x; C = dW [M, N], c_n 1), and
 * in slices of K its data gradient dx = dy W (A = dy, a_m the classes, a_k 1; bt = W's rows, bs
 * WT_NB). bt's rows are readable up to whole column blocks (gemm_wt_bt, or a b whose rows are).
 * The forward and dW take bt as gemm_wt_bt's panels (bs K WT_NB, ld WT_NB): a work-item's K
 * steps are one sequential stream; as rows of 256 floats or more, a column block's K lines fall
 * in a few of L1's 64 sets (2 KiB apart: 2 sets) and every step's load came from L2. Each
 * work-item broadcasts CONV_MB rows of A, one float of each per k, against CONV_NV vectors of
 * bt's row k. Global: (ceil(N / WT_NB), ceil(M / CONV_MB) rounded up to the work-group): the
 * column blocks of one row block are neighbours in a work-group, so A's CONV_MB rows (12 KiB of
 * W at K 512) come from memory once and then from L1 while bt stays in L2 and C's rows are
 * written whole. conv_gemm_nt (x rows against W rows, dot products along k) reloads 4 rows of x
 * from L2 for every 3 rows of W; conv_gemm_nn would need all of W repacked every call, and for
 * dW (row blocks fastest) streams the packed dy^T once per column block. rb_fast (CONV_WT_RB_FAST,
 * CPU256): the grid's dims swapped, a group's work-items one column block's row blocks in a row, so
 * the next work-item finds the 32 KiB panel of bt partly in L1 (arcface fwd ~3-5% less CPU). */
__kernel void gemm_wt(const int M, const int N, const int K, FCL_CTENSOR(a), const int a_m, const int a_k,
                      FCL_CTENSOR(bt), const int ld, const int bs, FCL_TENSOR(c), const int c_m, const int c_n,
                      const int accumulate, const int kg, const int c_g, FCL_TENSOR(nrb), FCL_TENSOR(nq),
                      const int want_norms, const float eps, const int rb_fast)
{
    /* rb_fast (CONV_WT_RB_FAST, the forward / dW launch): grid dims swapped, row blocks in dim 0 */
    const int cbi = get_global_id(rb_fast ? 1 : 0), rbi = get_global_id(rb_fast ? 0 : 1);
    const int n0 = cbi * WT_NB, m0 = rbi * CONV_MB;
    if (m0 >= M || n0 >= N) return;
    /* split K (gemm_ab_wt's slice groups, grid dim 2): group g sums k in [g kg, (g + 1) kg) into
     * its own partial C at c + g c_g, row-major (c_m, c_n 1) with the stores below; one group (2D
     * grids): kg = K, c_g 0 */
    const int g = get_global_id(2), k0 = g * kg, kn = min(K - k0, kg);
    __global const float *ap[CONV_MB];
#pragma unroll
    for (int i = 0; i < CONV_MB; i++)   /* rows past M: computed, not stored */
        ap[i] = a + a_off + min(m0 + i, M - 1) * a_m + k0 * a_k;
    wtV acc[CONV_MB][CONV_NV];
#pragma unroll
    for (int i = 0; i < CONV_MB; i++)
#pragma unroll
        for (int v = 0; v < CONV_NV; v++) acc[i][v] = (wtV)(0.0f);
    __global const float *bp = bt + bt_off + cbi * bs + k0 * ld;   /* column block n0 / WT_NB */
#if defined(POCL_DEVICE_ADDRESS_BITS)
    /* dW (C's rows along n): its CONV_MB row segments (WT_NB floats each) asked for before the K
     * loop, so that their lines (read for the sum, or for ownership) arrive while it runs instead
     * of after it; PoCL: clang's prefetch builtin (as CONV_PF in conv.cl), elsewhere nothing.
     * linear +db bwd_weight (`bench ops --filter linear`, Zen 5, 5 alternating rounds, median
     * wall ms): 64x512>8631 2.85 -> 2.09, >10575 3.38 -> 2.39, 128x512>8631 4.73 -> 3.65, >10575
     * 5.63 -> 4.35; the forwards level. Asking for A's rows ahead too (the forward's W, 64 / 128 /
     * 256 floats on) was slower in every row: the hardware's stream prefetch has them. */
    if (c_n == 1)
#pragma unroll
        for (int i = 0; i < CONV_MB; i++)
            for (int l = 0; l < WT_NB; l += 16)
                __builtin_prefetch(c + c_off + g * c_g + min(m0 + i, M - 1) * c_m + n0 + l, 1, 3);
#endif
    for (int k = 0, ka = 0; k < kn; k++, ka += a_k, bp += ld) {
        wtV bv[CONV_NV];
#pragma unroll
        for (int v = 0; v < CONV_NV; v++) bv[v] = wt_vload(v, bp);
#pragma unroll
        for (int i = 0; i < CONV_MB; i++) {
            const wtV av = (wtV)(ap[i][ka]);
#pragma unroll
            for (int v = 0; v < CONV_NV; v++) acc[i][v] = fma(av, bv[v], acc[i][v]);
        }
    }
    /* want_norms (a margin head's forward, A = W [M, K] row-major, one group): the first column
     * block's work-items also write the inverse norms of their CONV_MB rows of A and their
     * projection factors (head_w_norms' outputs, its float operations) while the rows are in L1
     * from the product: no pass of its own over W (21.6 MB at 10,575 x 512) */
    if (want_norms && n0 == 0) {
#pragma unroll
        for (int i = 0; i < CONV_MB; i++)
            if (m0 + i < M)
                fcl_inv_norm_pair(sqrt(fcl_row_ss8(a + a_off + (m0 + i) * a_m, K)), eps, nrb + nrb_off + m0 + i,
                                  nq + nq_off + m0 + i);
    }
    __global float *cb = c + c_off + g * c_g + m0 * c_m + n0 * c_n;
    if (c_n == 1 && n0 + WT_NB <= N) {   /* C's rows along n: whole vectors */
#pragma unroll
        for (int i = 0; i < CONV_MB; i++) {
            if (m0 + i >= M) break;
#pragma unroll
            for (int v = 0; v < CONV_NV; v++) {
                __global float *cp = cb + i * c_m + v * CONV_VW;
                wt_vstore(accumulate ? acc[i][v] + wt_vload(0, cp) : acc[i][v], 0, cp);
            }
        }
        return;
    }
    /* element by element (the forward: C's row n holds A's rows m0.. as CONV_MB consecutive floats) */
#pragma unroll
    for (int v = 0; v < CONV_NV; v++) {
        float t[CONV_MB][CONV_VW];
#pragma unroll
        for (int i = 0; i < CONV_MB; i++) wt_vstore(acc[i][v], 0, t[i]);
        for (int l = 0; l < CONV_VW; l++) {
            const int n = n0 + v * CONV_VW + l;
            if (n >= N) break;
            __global float *cr = cb + (v * CONV_VW + l) * c_n;
#pragma unroll
            for (int i = 0; i < CONV_MB; i++)
                if (m0 + i < M) cr[i * c_m] = accumulate ? cr[i * c_m] + t[i][l] : t[i][l];
        }
    }
}

/* C [M, N] (+)= A [M, K] B [K, N] for a long reduction: a classifier's / margin head's data gradient
 * dx = D W (A = D [batch, classes] row-major, a_m its row; B = W [classes, N], bt its rows in place
 * or padded, ld whole column blocks). gemm_wt's work-item walks one column block of W down K: a
 * new 64 B line 2 KiB on (N 512) every step, all of a block's lines in 2 of L1's 64 sets and 32 of
 * L2's 1024, so a group's strip left L2 before its next row block (perf: ~31% of the dx samples on
 * those loads). Here a work-item owns CONV_WT_DX column blocks x up to 128 rows of C (all row
 * blocks of a batch, accumulators in private memory) and walks K in sub-slices of WT_DX_KB rows:
 * it copies the sub-slice's strip of W (WT_DX_KB x CONV_WT_DX x WT_NB floats, 16 KiB at 64 x 4 x 16)
 * into a private sequential buffer once, then runs every row block's CONV_MB x CONV_NV register
 * block over it from L1 (A's CONV_MB rows, sequential streams, as the broadcast operand). W is
 * read once from memory, no partials, no sum. While it computes a sub-slice it asks (PoCL:
 * clang's prefetch builtin into L2, as CONV_PF in conv.cl; elsewhere nothing) for the next one's
 * strip, spread over the row blocks: linear 128x512>10575 bwd_data, perf samples of gemm_wt_dx
 * over gemm_wt's (the fwd + dW of the same process), without -> with: 0.497 / 0.585 / 0.541 /
 * 0.629 / 0.577 / 0.565 -> 0.557 / 0.473 / 0.527 / 0.526 / 0.542 / 0.500 (6 alternating pairs,
 * lower in 5; the copy's loads waited on memory, ~20% of the kernel's samples); and over the
 * column blocks too, one column's lines before each register block's run (the prefetches in a
 * burst stalled: ~17% of the samples at batch 64), 64x512>10575 (--reps 7), burst -> spread:
 * 0.517 / 0.529 / 0.516 / 0.542 / 0.520 / 0.558 / 0.625 -> 0.472 / 0.502 / 0.545 / 0.534 /
 * 0.539 / 0.510 / 0.508 (7 pairs, lower in 5; CPU ms lower in 6: 10.2-12.0 -> 9.0-13.0). WT_DX_KB 32 vs
 * 64 vs 128, same measure, 3 rounds: 0.564 / 0.615 / 0.543, 0.514 / 0.550 / 0.495, 0.536 /
 * 0.528 / 0.532. Global: (ceil(whole column blocks / CONV_WT_DX), ceil(M / 128) row chunks). */
#define WT_DX_KB 64
/* one k step of gemm_wt_dx's register block: acc[i][v] += A(row i, k) * the vectors of W's row at bp */
inline void wt_dx_step(wtV acc[CONV_MB][CONV_NV], __global const float *const *ap, const int k, const float *bp)
{
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
#define WT_DX_ROWS 128
#define WT_DX_RB ((WT_DX_ROWS + CONV_MB - 1) / CONV_MB)
#define WT_DX_CB (CONV_WT_DX > 0 ? CONV_WT_DX : 1)
__kernel void gemm_wt_dx(const int M, const int N, const int K, FCL_CTENSOR(a), const int a_m, const int a_p,
                         const int pw, FCL_CTENSOR(bt), const int ld, FCL_TENSOR(c), const int accumulate)
{
    const int n0 = get_global_id(0) * WT_DX_CB * WT_NB, r0 = get_global_id(1) * WT_DX_ROWS;
    if (n0 >= ld || r0 >= M) return;
    const int rows = min(M - r0, WT_DX_ROWS), nrb = (rows + CONV_MB - 1) / CONV_MB,
              ncb = min(WT_DX_CB, (ld - n0) / WT_NB);
    wtV accs[WT_DX_RB * WT_DX_CB * CONV_MB * CONV_NV];
    float wl[WT_DX_CB * WT_DX_KB * WT_NB];   /* [column block][k][WT_NB] */
    for (int s = 0; s < nrb * WT_DX_CB * CONV_MB * CONV_NV; s++) accs[s] = (wtV)(0.0f);
    /* A(m, j) = a[a_off + m a_m + (j / pw) a_p + j % pw]: row-major (pw >= K, a_m the row) or in
     * panels of pw <= WT_DX_KB columns (a margin head's dt, cl/margin_head.cl HEAD_PANEL: a_m pw,
     * a_p M pw), then the sub-slices are whole panels and a sub-slice's A one sequential block */
    const int kstep = pw >= K ? WT_DX_KB : WT_DX_KB / pw * pw;
    for (int kb = 0; kb < K; kb += kstep) {
        const int kl = min(kstep, K - kb);
        __global const float *wp = bt + bt_off + kb * ld + n0;
        for (int k = 0; k < kl; k++, wp += ld)
            for (int cb = 0; cb < ncb; cb++)
#pragma unroll
                for (int v = 0; v < CONV_NV; v++)
                    wt_vstore(wt_vload(0, wp + cb * WT_NB + v * CONV_VW), 0, wl + (cb * WT_DX_KB + k) * WT_NB + v * CONV_VW);
        const int pstep = (kstep + nrb - 1) / nrb;   /* the next sub-slice's rows asked for per row block */
        const int off0 = kb / pw * a_p + kb % pw, jr0 = kb % pw;   /* A's column kb (no division per panel) */
        for (int rb = 0; rb < nrb; rb++) {
            int ro[CONV_MB];
#pragma unroll
            for (int i = 0; i < CONV_MB; i++)   /* rows past the chunk: computed, not stored */
                ro[i] = (r0 + min(rb * CONV_MB + i, rows - 1)) * a_m;
            for (int cb = 0; cb < ncb; cb++) {
#if defined(POCL_DEVICE_ADDRESS_BITS)
                if (kb + kstep < K)   /* column cb's lines of those rows */
                    for (int k = rb * pstep; k < min((rb + 1) * pstep, min(kstep, K - kb - kstep)); k++)
                        __builtin_prefetch(bt + bt_off + (kb + kstep + k) * ld + n0 + cb * WT_NB, 0, 2);
#endif
                wtV *as = accs + (rb * WT_DX_CB + cb) * CONV_MB * CONV_NV;
                wtV acc[CONV_MB][CONV_NV];
#pragma unroll
                for (int i = 0; i < CONV_MB; i++)
#pragma unroll
                    for (int v = 0; v < CONV_NV; v++) acc[i][v] = as[i * CONV_NV + v];
                const float *bp = wl + cb * WT_DX_KB * WT_NB;
                for (int p = 0, off = off0, jr = jr0; p < kl;) {   /* one run (row-major) or a run per panel */
                    const int seg = min(kl - p, pw - jr);
                    __global const float *ap[CONV_MB];
#pragma unroll
                    for (int i = 0; i < CONV_MB; i++) ap[i] = a + a_off + off + ro[i];
                    const float *bs = bp + p * WT_NB;
                    /* a panel as wide as the block (HEAD_MB = CONV_MB, both 6 on CPU256): its run unrolled
                     * (a 6-trip loop per panel and register block before). ArcFace casia b64 `bench ops
                     * --reps 7`, perf samples over head_bwd_dw's: 1.336 / 1.440 / 1.318 -> 0.975 / 1.011 /
                     * 1.011 (3 pairs), earlier build 1.234 / 1.594 / 1.119 / 1.443 / 0.987 / 1.060 / 1.093
                     * -> 0.970 / 1.020 / 1.026 / 0.956 / 1.000 / 0.959 / 0.965 (7 pairs, lower in 6); b128
                     * level (3 pairs); row-major A (linear) level, 9 pairs over gemm_wt's samples. */
                    if (seg == CONV_MB) {
#pragma unroll
                        for (int k = 0; k < CONV_MB; k++) wt_dx_step(acc, ap, k, bs + k * WT_NB);
                    } else {
                        for (int k = 0; k < seg; k++) wt_dx_step(acc, ap, k, bs + k * WT_NB);
                    }
                    p += seg;
                    off += seg;
                    jr += seg;
                    if (jr == pw) {   /* the next panel */
                        off += a_p - pw;
                        jr = 0;
                    }
                }
#pragma unroll
                for (int i = 0; i < CONV_MB; i++)
#pragma unroll
                    for (int v = 0; v < CONV_NV; v++) as[i * CONV_NV + v] = acc[i][v];
            }
        }
    }
    /* C row-major [M, N] (c_m N, c_n 1): whole vectors inside N, element by element past it */
    for (int rb = 0; rb < nrb; rb++)
        for (int cb = 0; cb < ncb; cb++) {
            const wtV *as = accs + (rb * WT_DX_CB + cb) * CONV_MB * CONV_NV;
            const int nc = n0 + cb * WT_NB;
#pragma unroll
            for (int i = 0; i < CONV_MB; i++) {
                const int m = rb * CONV_MB + i;
                if (m >= rows) break;
                __global float *cr = c + c_off + (r0 + m) * N + nc;
#pragma unroll
                for (int v = 0; v < CONV_NV; v++) {
                    const wtV t = as[i * CONV_NV + v];
                    if (nc + (v + 1) * CONV_VW <= N) {
                        wt_vstore(accumulate ? t + wt_vload(v, cr) : t, v, cr);
                    } else {
                        float e[CONV_VW];
                        wt_vstore(t, 0, e);
                        for (int l = 0; l < CONV_VW && nc + v * CONV_VW + l < N; l++)
                            cr[v * CONV_VW + l] = accumulate ? cr[v * CONV_VW + l] + e[l] : e[l];
                    }
                }
            }
        }
}

/* c[i] (+)= part[i] + part[n + i] + ... + part[(G - 1) n + i]: gemm_ab_wt's G slice groups' partial
 * products added in a fixed order (deterministic). Global: (n). */
__kernel void gemm_wt_sum(FCL_TENSOR(c), FCL_CTENSOR(part), const int n, const int G, const int accumulate)
{
    const int i = get_global_id(0);
    if (i >= n) return;
    float s = accumulate ? c[c_off + i] : 0.0f;
    for (int g = 0; g < G; g++) s += part[part_off + g * n + i];
    c[c_off + i] = s;
}
