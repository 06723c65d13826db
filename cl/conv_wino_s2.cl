/* cl/conv_wino_s2.cl: the additions-only Winograd form of dense 3x3 stride-2 convolutions (2x2 outputs from 5x5 input tiles, 25 planes): weight and input transforms, the GEMMs fused with the output transform's sums (their interleave: conv_wino.cl's wino_output). */

/* In 1D two outputs y0 = y[p], y1 = y[p + 1] (p = 2 t) of a 3-tap stride-2 filter read the five
 * input samples s_i = x[2 p - pad + i] (i = 0..4; tiles at input stride 4, overlapping by one):
 *   y0 = w0 s0 + w1 s1 + w2 s2,   y1 = w0 s2 + w1 s3 + w2 s4.
 * The even samples (s0, s2, s4) under taps (w0, w2) are an F(2, 2); the odd ones (s1, s3) meet w1:
 *   v = B^T s = [s0 - s2, s2, s4 - s2, s1, s3]
 *   u = G w   = [w0, w0 + w2, w2, w1, w1]
 *   y = A^T (u .* v):  y0 = m0 + m1 + m3,  y1 = m1 + m2 + m4      (m_i = u_i v_i)
 * (y0 = w0 (s0 - s2) + (w0 + w2) s2 + w1 s1; y1 = (w0 + w2) s2 + w2 (s4 - s2) + w1 s3.)
 * 2D is the tensor product: V = B^T X B of a 5x5 input tile X (rows 4 ty - ph .., columns
 * 4 tx - pw .., 0 outside the image), U = G W G^T (5x5 from 3x3), Y = A^T M A (2x2 outputs), the
 * 25 points xi = 5 row + column multiplied over the channels as 25 GEMMs by host/ops/conv_wino.c
 * (as F(2x2, 3x3): cl/conv_wino.cl's header): 25 multiplies per 4 outputs instead of 36, i.e.
 * the GEMMs do 1.44x fewer flops than im2col's. Every transform only adds or copies (no
 * constants): the rounding error stays that of a direct sum. Built with conv_act.cl,
 * conv_wino.cl (WINO_VL, wino_store2x2), conv_wino_cols.cl (wino_div8) and conv_wino_weights.cl (WINO_WEIGHTS). */

/* G applied to 3 values (a column or a row of a filter) */
#define WINO_GS2(g0, g1, g2, u) \
    do {                        \
        u[0] = g0;              \
        u[1] = g0 + g2;         \
        u[2] = g2;              \
        u[3] = g1;              \
        u[4] = g1;              \
    } while (0)

/* U = G g G^T (5 x 5, row-major into u[25]) for the 3x3 filters g[9] of 4 / 8 panel rows (lanes) */
#define WINO_US2(T, g, u)                                                        \
    do {                                                                         \
        T c_[5][3]; /* G g: c_[r][col] */                                        \
        for (int j = 0; j < 3; j++) {                                            \
            T t_[5];                                                             \
            WINO_GS2(g[j], g[3 + j], g[6 + j], t_);                              \
            for (int r = 0; r < 5; r++) c_[r][j] = t_[r];                        \
        }                                                                        \
        for (int r = 0; r < 5; r++) WINO_GS2(c_[r][0], c_[r][1], c_[r][2], (u + 5 * r)); \
    } while (0)
inline void wino_us2(const float4 *g, float4 *u) { WINO_US2(float4, g, u); }
inline void wino_us2_8(const float8 *g, float8 *u) { WINO_US2(float8, g, u); }

/* wino_s2_gemm's runs of planes xi = 5 r + cc: each run is summed into one register block, then
 * kept or combined (A^T M A has only 0 / 1 coefficients: y[i][j] = sum of M[r][cc] over r in R_i,
 * cc in R_j, R_0 = {0, 1, 3}, R_1 = {1, 2, 4}; R_0 and R_1 share 1): the plane (1, 1) shared by
 * all four outputs; the pairs (1, cc) for cc in R_j \ {1} shared by y[0][j] and y[1][j]; the pairs
 * (r, 1) for r in R_i \ {1} shared by y[i][0] and y[i][1]; then each output's own 4 planes. */
__constant int WINO_S2_PLANES[25] = {6, 5, 8, 7, 9, 1, 16, 11, 21, 0, 3, 15, 18, 2, 4, 17, 19, 10, 13, 20, 23,
                                     12, 14, 22, 24};
/* and its inverse: plane xi's slot, its place in that order */
__constant int WINO_S2_SLOT[25] = {9, 5, 13, 10, 14, 1, 0, 3, 2, 4, 17, 7, 21, 18, 22, 11, 6, 15, 12, 16, 19, 8, 23, 20,
                                   24};

/* U and V are stored in the order wino_s2_gemm reads them: U (below) as nmb panels of its 16
 * distinct planes of K rows of CONV_MB floats, V as column panels of 25 slots (plane
 * WINO_S2_PLANES[s] in slot s) of K rows of CONV_NB floats (slots v_g floats apart), so that a
 * work-item's A and B are each one stream over its planes (runs broken only by the accumulators)
 * and conv_nn_run's prefetches, CONV_PF steps ahead, run on into the next plane instead of past the
 * plane's end (the planes nmb * K * CONV_MB and K * ld floats apart before: the first CONV_PF of
 * every 64 k steps of ResNet-18's layer2.0 went without). */

/* U has 16 distinct planes (u3 == u4 along each axis: U(r, cc) == U(min(r, 3), min(cc, 3))):
 * the forward's wino_s2_weights16 stores each once, in the order wino_s2_gemm first reads them
 * (WINO_S2_USLOT: the distinct slot at run position p; WINO_S2_UXI: plane xi's), 16 slots a panel
 * (the 9 repeats store the same floats again): 36% fewer bytes of U streaming from L3 for every
 * column block (ResNet-18's layer2.0: 512 instead of 800 KiB), a repeat read back from L1 / L2. */
__constant int WINO_S2_USLOT[25] = {0, 1, 2, 3, 2, 4, 5, 6, 5, 7, 8, 9, 10, 11, 8, 12, 10, 13, 14, 9, 10, 15, 14, 12,
                                    10};
__constant int WINO_S2_UXI[25] = {7, 4, 11, 8, 8, 1, 0, 3, 2, 2, 13, 6, 15, 14, 14, 9, 5, 12, 10, 10, 9, 5, 12, 10, 10};
#define WINO_PLANE_S2U(xi) (((size_t)mb * 15 + WINO_S2_UXI[xi]) * K * CONV_MB)
WINO_WEIGHTS(wino_s2_weights16, 5, wino_us2, WINO_PLANE_S2U)

/* B^T on the 5 values d0..d4 (rows or columns of a tile) */
#define WINO_BS2(d0, d1, d2, d3, d4, o0, o1, o2, o3, o4) \
    do {                                                 \
        o0 = d0 - d2;                                    \
        o1 = d2;                                         \
        o2 = d4 - d2;                                    \
        o3 = d1;                                         \
        o4 = d3;                                         \
    } while (0)

#ifndef CONV_NB
#define CONV_NB (CONV_VW * CONV_NV)
#endif
/* channels a work-item of wino_s2_input (host/ops/conv_wino.c S2_CB): its lanes' 25 offsets and masks, computed
 * once per 8 columns, serve 16 channels (4 before: ResNet-18's layer2.0 input perf samples -19%, 5 pairs) */
#define WINO_S2_CB 16

/* V[xi](c, n) = (B^T d B)[xi] for the 5x5 input tiles d of a chunk of nimg images starting at
 * x_off: tile (ty, tx) of image img is column n = (img * TH + ty) * TW + tx and reads rows
 * 4 ty - ph .. + 4, columns 4 tx - pw .. + 4 of channel c (0 outside the H x W image; V 0 at
 * n >= nimg * TH * TW). V is in conv_gemm_nn's column panels in slots (WINO_S2_SLOT: (c, n) of
 * plane xi at ((n / CONV_NB) * 25 + WINO_S2_SLOT[xi]) * v_g + c * CONV_NB + n % CONV_NB, v_g >=
 * C * CONV_NB; v_ld: the columns, whole panels), so
 * that the GEMM reads B as one stream: with rows of V v_ld apart (strided k steps) it ran no faster
 * than im2col's GEMM on 1.44x fewer flops. A work-item fills one panel for WINO_S2_CB channels,
 * 8 columns (of one or more tile rows and images) as the lanes of a float8, each lane gathering its
 * own tile (as conv_wino_cols.cl), writing whole panel rows one after another (per-tile-row vectors
 * scattered into panels wrote partial lines 4 KiB apart and took 2x the time).
 * Global: (ceil(C / WINO_S2_CB), v_ld / CONV_NB). */
__kernel void wino_s2_input(__global float *restrict v, const int v_ld, const int v_g,
                            __global const float *restrict x, const int x_off, const int C, const int H, const int W,
                            const int ph, const int pw, const int TH, const int TW, const int nimg)
{
    const int cb = get_global_id(0) * WINO_S2_CB, pn = get_global_id(1), T = TH * TW, ncols = nimg * T;
    if (cb >= C || pn * CONV_NB >= v_ld) return;
    for (int q = 0; q < CONV_NB; q += WINO_VL) {
        /* the lanes' tiles, the same for every channel: offsets in a channel plane, 0 outside */
        const int8 n = (int8)(0, 1, 2, 3, 4, 5, 6, 7) + (int8)(pn * CONV_NB + q);
        const int8 live = n < (int8)(ncols), nn = select((int8)(ncols - 1), n, live);
        int8 t, tx;
        const int8 img = wino_div8(nn, T, &t), ty = wino_div8(t, TW, &tx);
        const int8 y0 = (int8)(4) * ty - (int8)(ph), x0 = (int8)(4) * tx - (int8)(pw);
        const int8 ib = (int8)(x_off) + img * (int8)(C * H * W);
        int8 off[5][5], ok[5][5];
#pragma unroll
        for (int r = 0; r < 5; r++) {
            const int8 iy = y0 + (int8)(r), rv = live & (iy >= (int8)(0)) & (iy < (int8)(H));
#pragma unroll
            for (int j = 0; j < 5; j++) {
                const int8 ix = x0 + (int8)(j);
                ok[r][j] = rv & (ix >= (int8)(0)) & (ix < (int8)(W));
                off[r][j] = select(ib, ib + iy * (int8)(W) + ix, ok[r][j]); /* in bounds where masked */
            }
        }
        for (int c = cb; c < min(cb + WINO_S2_CB, C); c++) {
            __global const float *xc = x + c * H * W;
            float8 h[5][5]; /* B applied along each row: [row][transformed column] */
#pragma unroll
            for (int r = 0; r < 5; r++) {
                float8 d[5];
#pragma unroll
                for (int j = 0; j < 5; j++) {
                    const int8 o = off[r][j];
                    const float8 g =
                        (float8)(xc[o.s0], xc[o.s1], xc[o.s2], xc[o.s3], xc[o.s4], xc[o.s5], xc[o.s6], xc[o.s7]);
                    d[j] = select((float8)(0.0f), g, ok[r][j]);
                }
                WINO_BS2(d[0], d[1], d[2], d[3], d[4], h[r][0], h[r][1], h[r][2], h[r][3], h[r][4]);
            }
            __global float *vp = v + (size_t)pn * 25 * v_g + c * CONV_NB + q;
#pragma unroll
            for (int cc = 0; cc < 5; cc++) {
                float8 vt[5]; /* B^T along the columns: xi = 5 row + cc */
                WINO_BS2(h[0][cc], h[1][cc], h[2][cc], h[3][cc], h[4][cc], vt[0], vt[1], vt[2], vt[3], vt[4]);
#pragma unroll
                for (int r = 0; r < 5; r++) vstore8(vt[r], 0, vp + WINO_S2_SLOT[5 * r + cc] * v_g);
            }
        }
    }
}

/* The GEMMs and A^T . A in one (needs conv.cl in the program): a work-item takes
 * conv_gemm_nn's register block (CONV_MB output channels m0.. x CONV_NB tile columns n0..) through
 * all 25 planes, M[xi] = U[xi] V[xi] over the K input channels, in WINO_S2_PLANES' runs (the k
 * loop going on from one plane of a run into the next), and stores the 4 outputs of its tiles as
 * planes y4[2 i + j](m, n) = ((own planes + pair (1, cc)) + pair (r, 1)) + plane (1, 1) (rows y_ld
 * long, planes y_g apart): 4 floats per 4 outputs where M was 25 (the separate GEMM wrote M and
 * wino_s2_output read it back: that GEMM ran at ~half conv_gemm_nn's usual speed; folding every
 * plane into 4 accumulators held ~22% of this kernel's samples outside its k loop at K = 64, and
 * scattering the 2x2 outputs from here ~1/3). conv_wino.cl's wino_output (mt 1) then interleaves
 * them into out. U:
 * the 16 distinct packed planes of wino_s2_weights16 (nmb panels of 16 slots of K rows); V: wino_s2_input's
 * panels (slots v_g apart). Global: (nmb, ceil(ncols / CONV_NB)). */
__kernel void wino_s2_gemm(__global float *restrict y4, const int y_ld, const int y_g, const int M, const int ncols,
                           __global const float *restrict u, const int nmb, __global const float *restrict v,
                           const int v_g, const int K)
{
    const int mb = get_global_id(0), n0 = get_global_id(1) * CONV_NB, m0 = mb * CONV_MB;
    if (mb >= nmb || n0 >= ncols) return;
    convV sh[5][CONV_MB][CONV_NV]; /* the shared sums: (1, 1), pairs (1, cc) of j = 0, 1, pairs (r, 1) of i = 0, 1 */
    int p = 0;
    for (int run = 0; run < 9; run++) {
        const int len = run == 0 ? 1 : run < 5 ? 2 : 4;
        convV acc[CONV_MB][CONV_NV];
#pragma unroll
        for (int i = 0; i < CONV_MB; i++)
#pragma unroll
            for (int w = 0; w < CONV_NV; w++) acc[i][w] = (convV)(0.0f);
        for (int e = 0; e < len; e++, p++) {
            conv_nn_run(acc, u + ((size_t)mb * 16 + WINO_S2_USLOT[p]) * K * CONV_MB, v + ((size_t)(n0 / CONV_NB) * 25 + p) * v_g, K,
                        CONV_NB);
        }
        if (run < 5) {
#pragma unroll
            for (int i = 0; i < CONV_MB; i++)
#pragma unroll
                for (int w = 0; w < CONV_NV; w++) sh[run][i][w] = acc[i][w];
            continue;
        }
        const int o = run - 5, oi = o >> 1, oj = o & 1;
#pragma unroll
        for (int i = 0; i < CONV_MB; i++) {
            if (m0 + i >= M) break;
#pragma unroll
            for (int w = 0; w < CONV_NV; w++)
                conv_vstore(((acc[i][w] + sh[1 + oj][i][w]) + sh[3 + oi][i][w]) + sh[0][i][w], w,
                            y4 + o * y_g + (m0 + i) * y_ld + n0);
        }
    }
}
