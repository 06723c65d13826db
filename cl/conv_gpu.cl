/* cl/conv_gpu.cl: GPU-shaped convolution kernels: local-memory tiled GEMM, per-element im2col / col2im, bias gradient by work-group reduction. */

/* Built as "reduce.cl+conv_gpu.cl" by host/ops/conv_gpu.c, which passes the tile of the GEMM
 * (CONV_TILE_M x CONV_TILE_N outputs per work-group, CONV_TILE_K deep, CONV_TILE_WM x
 * CONV_TILE_WN outputs per work-item) after checking it against the device's work-group and
 * local-memory limits. The same GEMM serves every direction of a convolution through a
 * generic operand addressing (see conv_gemm_tiled). Unlike cl/conv.cl (CPU-shaped: one
 * work-item streams a register block, work-groups of 1), every kernel here has consecutive
 * work-items touch consecutive addresses (coalesced) and uses groups of 64-256. */

#ifndef CONV_TILE_M
#error "CONV_TILE_M / _N / _K / _WM / _WN come from host/ops/conv_gpu.c"
#endif
#define CONV_LX (CONV_TILE_N / CONV_TILE_WN)   /* work-items along the columns */
#define CONV_LY (CONV_TILE_M / CONV_TILE_WM)   /* work-items along the rows */
#define CONV_WG (CONV_LX * CONV_LY)

/* C[g](m, n) (+)= sum_k A[g](m, k) * B[g](k, n) (+ bias[g * M + m]), m < M, n < N, k < K.
 * Operand addressing, with the index that runs over pixel columns split into (image, pixel):
 *   A(m, k)  = a[a_off + g * a_g + m * a_r + (k / a_P) * a_img + k % a_P]
 *   B(k, n)  = b[b_off + g * b_g + k * b_r + (n / b_P) * b_img + n % b_P]     (b_trans 0)
 *            = b[b_off + g * b_g + n * b_r + (k / b_P) * b_img + k % b_P]     (b_trans 1)
 *   C(m, n)  = c[c_off + g * c_g + m * c_r + (n / c_P) * c_img + n % c_P]
 * (a plain stride s along an index is P = 1, img = s). a_kfast / b_trans say which index of the
 * tile is contiguous in memory, so that consecutive work-items load consecutive addresses.
 * Each work-item accumulates CONV_TILE_WM x CONV_TILE_WN outputs strided by the group's
 * extent (rows ty + i * LY, columns tx + j * LX): stores are coalesced and local reads free of
 * bank conflicts. The sum over k runs in order for every output: deterministic.
 * Split K (few output tiles, a long reduction: the weight gradient): dimension 2 runs over
 * S slices x G groups; slice s sums k in [s * kslice, (s + 1) * kslice) into its own copy of C
 * at c_off + s * c_s (then conv_sum_slices adds the slices in order).
 * Global: (ceil(N / TILE_N) * LX, ceil(M / TILE_M) * LY, S * G), local (LX, LY, 1). */
__kernel __attribute__((reqd_work_group_size(CONV_LX, CONV_LY, 1)))
void conv_gemm_tiled(const int M, const int N, const int K, const int G, const int kslice,
                     __global const float *a, const int a_off, const int a_g, const int a_r,
                     const int a_P, const int a_img, const int a_kfast,
                     __global const float *b, const int b_off, const int b_g, const int b_r,
                     const int b_P, const int b_img, const int b_trans,
                     __global float *c, const int c_off, const int c_g, const int c_r,
                     const int c_P, const int c_img, const int c_s,
                     __global const float *bias, const int bias_off, const int has_bias,
                     const int accumulate)
{
    __local float As[CONV_TILE_K][CONV_TILE_M + 1];
    __local float Bs[CONV_TILE_K][CONV_TILE_N];
    const int tx = get_local_id(0), ty = get_local_id(1), lid = ty * CONV_LX + tx;
    const int n0 = get_group_id(0) * CONV_TILE_N, m0 = get_group_id(1) * CONV_TILE_M;
    const int g = get_group_id(2) % G, slice = get_group_id(2) / G;
    const int kbeg = slice * kslice, kend = min(K, kbeg + kslice);
    __global const float *ag = a + a_off + g * a_g;
    __global const float *bg = b + b_off + g * b_g;

    float acc[CONV_TILE_WM][CONV_TILE_WN];
    for (int i = 0; i < CONV_TILE_WM; i++)
        for (int j = 0; j < CONV_TILE_WN; j++) acc[i][j] = 0.0f;

    for (int k0 = kbeg; k0 < kend; k0 += CONV_TILE_K) {
        for (int e = lid; e < CONV_TILE_M * CONV_TILE_K; e += CONV_WG) {
            const int kk = a_kfast ? e % CONV_TILE_K : e / CONV_TILE_M;
            const int mm = a_kfast ? e / CONV_TILE_K : e % CONV_TILE_M;
            const int m = m0 + mm, k = k0 + kk;
            As[kk][mm] = m < M && k < kend ? ag[m * a_r + (k / a_P) * a_img + k % a_P] : 0.0f;
        }
        for (int e = lid; e < CONV_TILE_N * CONV_TILE_K; e += CONV_WG) {
            const int kk = b_trans ? e % CONV_TILE_K : e / CONV_TILE_N;
            const int nn = b_trans ? e / CONV_TILE_K : e % CONV_TILE_N;
            const int n = n0 + nn, k = k0 + kk;
            float v = 0.0f;
            if (n < N && k < kend)
                v = b_trans ? bg[n * b_r + (k / b_P) * b_img + k % b_P]
                            : bg[k * b_r + (n / b_P) * b_img + n % b_P];
            Bs[kk][nn] = v;
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        for (int kk = 0; kk < CONV_TILE_K; kk++) {
            float av[CONV_TILE_WM], bv[CONV_TILE_WN];
            for (int i = 0; i < CONV_TILE_WM; i++) av[i] = As[kk][ty + i * CONV_LY];
            for (int j = 0; j < CONV_TILE_WN; j++) bv[j] = Bs[kk][tx + j * CONV_LX];
            for (int i = 0; i < CONV_TILE_WM; i++)
                for (int j = 0; j < CONV_TILE_WN; j++) acc[i][j] = fma(av[i], bv[j], acc[i][j]);
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }

    __global float *cg = c + c_off + slice * c_s + g * c_g;
    for (int i = 0; i < CONV_TILE_WM; i++) {
        const int m = m0 + ty + i * CONV_LY;
        if (m >= M) break;
        const float bs = has_bias ? bias[bias_off + g * M + m] : 0.0f;
        for (int j = 0; j < CONV_TILE_WN; j++) {
            const int n = n0 + tx + j * CONV_LX;
            if (n >= N) break;
            __global float *cp = cg + m * c_r + (n / c_P) * c_img + n % c_P;
            const float r = acc[i][j] + bs;
            *cp = accumulate ? *cp + r : r;
        }
    }
}

/* im2col, one work-item per element of the column buffer (writes coalesced along n):
 *   col[g * col_g + ((ci * KH + kh) * KW + kw) * col_ld + n], n = img * OH * OW + oy * OW + ox
 *       = x[img][g * Cin_g + ci][oy * sh - ph + kh * dh][ox * sw - pw + kw * dw]  (0 outside)
 * for the nimg images of a chunk starting at x_off. Global: (nimg * OH * OW, Cin_g * KH * KW, G). */
__kernel void conv_im2col_px(CONV_IM2COL_ARGS)
{
    const int n = get_global_id(0), row = get_global_id(1), g = get_global_id(2);
    const int P = OH * OW;
    if (n >= nimg * P || row >= Cin_g * KH * KW) return;
    const int kw = row % KW, kh = (row / KW) % KH, ci = row / (KW * KH);
    const int img = n / P, p = n - img * P, oy = p / OW, ox = p - oy * OW;
    const int iy = oy * sh - ph + kh * dh, ix = ox * sw - pw + kw * dw;
    float v = 0.0f;
    if ((uint)iy < (uint)H && (uint)ix < (uint)W)
        v = x[x_off + ((img * Cin + g * Cin_g + ci) * H + iy) * W + ix];
    col[g * col_g + row * col_ld + n] = v;
}

/* The adjoint of conv_im2col_px, accumulated, one work-item per element of dx (gather: no
 * atomics; taps added in the fixed order (kh, kw)):
 *   dx[img][g * Cin_g + ci][iy][ix] += sum of col[g][(ci * KH + kh) * KW + kw][img * P + oy * OW + ox]
 * over the taps whose output pixel (oy, ox) reads (iy, ix). Global: (nimg * H * W, Cin_g, G). */
__kernel void conv_col2im_px(CONV_COL2IM_ARGS)
{
    const int q = get_global_id(0), ci = get_global_id(1), g = get_global_id(2);
    if (q >= nimg * H * W || ci >= Cin_g) return;
    const int img = q / (H * W), r = q - img * H * W, iy = r / W, ix = r - iy * W;
    __global const float *cp = col + g * col_g + ci * KH * KW * col_ld + img * OH * OW;
    float s = 0.0f;
    CONV_FOR_TAPS_READING(iy, ix, s += cp[(kh * KW + kw) * col_ld + oy * OW + ox])
    dx[dx_off + ((img * Cin + g * Cin_g + ci) * H + iy) * W + ix] += s;
}

/* db[ch] += sum over images and pixels of dy[img][ch][p]: one work-group per channel, its
 * work-items reading consecutive pixels, then a work-group reduction. Global: C * L, local L. */
__kernel void conv_bias_grad_wg(__global float *db, const int db_off, __global const float *dy,
                                const int dy_off, const int C, const int P, const int nimg,
                                __local float *scratch)
{
    const int ch = get_group_id(0), l = get_local_id(0), L = get_local_size(0);
    float acc = 0.0f;
    for (int img = 0; img < nimg; img++) {
        __global const float *p = dy + dy_off + (img * C + ch) * P;
        for (int i = l; i < P; i += L) acc += p[i];
    }
    const float total = fcl_wg_sum(acc, scratch);
    if (l == 0) db[db_off + ch] += total;
}

/* dst[g][m][n] (row stride d_r, groups d_g apart) += sum over s < S, in order, of
 * part[(s * G + g) * M * N + m * N + n]: the slices of a split-K conv_gemm_tiled.
 * Global: (N, M, G). */
__kernel void conv_sum_slices(__global float *dst, const int d_off, const int d_g, const int d_r,
                              __global const float *part, const int S, const int G, const int M,
                              const int N)
{
    const int n = get_global_id(0), m = get_global_id(1), g = get_global_id(2);
    if (n >= N || m >= M) return;
    __global const float *p = part + (g * M + m) * N + n;
    float s = 0.0f;
    for (int i = 0; i < S; i++) s += p[i * G * M * N];
    dst[d_off + g * d_g + m * d_r + n] += s;
}
