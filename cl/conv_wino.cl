/* cl/conv_wino.cl: Winograd F(2x2, 3x3) and F(4x4, 3x3) transforms of dense 3x3 stride-1 convolutions (weights, input tiles, output tiles). */

/* How host/ops/conv_wino.c uses them (Lavin & Gray 2016, "Fast Algorithms for Convolutional
 * Neural Networks"): every m x m block of outputs (m = 2 or 4) is computed from an a x a tile of
 * the input (a = m + 2, tiles at stride m, zero outside the image) as
 *   y = A^T [ (G g G^T) .* (B^T d B) ] A
 * with the a * a transform points xi = a * row + col multiplied over the channels as a * a GEMMs
 *   M[xi](co, n) = sum_ci U[xi](co, ci) * V[xi](ci, n)          (conv_gemm_nn of cl/conv.cl)
 * where n is the tile column (image, tile) of a chunk of images. F(2x2, 3x3):
 *   B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]
 *   G   = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1]
 *   A^T = [1 1 1 0; 0 1 -1 -1]
 * only the weight transform multiplies (by 1/2, exact): the rounding error stays within a few
 * ulps of the direct convolution's. F(4x4, 3x3) (points 0, +-1, +-2):
 *   B^T = [4 0 -5 0 1 0; 0 -4 -4 1 1 0; 0 4 -4 -1 1 0; 0 -2 -1 2 1 0; 0 2 -1 -2 1 0; 0 4 0 -5 0 1]
 *   G   = [1/4 0 0; -1/6 -1/6 -1/6; -1/6 1/6 -1/6; 1/24 1/12 1/6; 1/24 -1/12 1/6; 0 0 1]
 *   A^T = [1 1 1 1 1 0; 0 1 -1 2 -2 0; 0 1 1 4 4 0; 0 1 -1 8 -8 1]
 * 2.25 multiplications per output instead of 4 (and 9 direct), at a larger rounding error (the
 * transforms scale by up to 8 and 1/24).
 * Cost (perf samples over `facecl bench ops --filter k3s1`, ResNet-18 @112 b32, PoCL): the three
 * transforms take ~65% of the time of the GEMMs between them, and they are bound by memory, not
 * arithmetic: V and M are 4x the input / output (16 planes), a chunk's (CONV_COL_KB) do not stay
 * in L2, and an 8-tiles-wide vector version of the input and output rows (vload16, even/odd
 * shuffles, vstore8) took 1.5x the samples of the per-tile code below; so did work-groups of 4 or
 * 16. What would cut them is fewer bytes: the transforms fused into the GEMM's panels. */

/* G of F(2x2, 3x3) (4 x 3) and of F(4x4, 3x3) (6 x 3) as tables (cl/conv_wino_wgrad.cl reads them; the
 * weight transform below has them folded in) */
__constant float wino_g2[4][3] = {{1.0f, 0.0f, 0.0f}, {0.5f, 0.5f, 0.5f}, {0.5f, -0.5f, 0.5f}, {0.0f, 0.0f, 1.0f}};
__constant float wino_g4[6][3] = {{0.25f, 0.0f, 0.0f},
                                  {-1.0f / 6.0f, -1.0f / 6.0f, -1.0f / 6.0f},
                                  {-1.0f / 6.0f, 1.0f / 6.0f, -1.0f / 6.0f},
                                  {1.0f / 24.0f, 1.0f / 12.0f, 1.0f / 6.0f},
                                  {1.0f / 24.0f, -1.0f / 12.0f, 1.0f / 6.0f},
                                  {0.0f, 0.0f, 1.0f}};

/* G applied to 3 values (a column or a row of a filter), 4 lanes (panel rows) at a time: G of
 * F(2x2, 3x3) (4 x 3) and of F(4x4, 3x3) (6 x 3) with their constants folded in */
#define WINO_G2(g0, g1, g2, u)              \
    do {                                    \
        u[0] = g0;                          \
        u[1] = 0.5f * ((g0 + g1) + g2);     \
        u[2] = 0.5f * ((g0 - g1) + g2);     \
        u[3] = g2;                          \
    } while (0)
#define WINO_G4(g0, g1, g2, u)                                   \
    do {                                                         \
        const float4 s_ = g0 + g2, p_ = g0 * (1.0f / 24.0f) + g2 * (1.0f / 6.0f), q_ = g1 * (1.0f / 12.0f); \
        u[0] = g0 * 0.25f;                                       \
        u[1] = (s_ + g1) * (-1.0f / 6.0f);                       \
        u[2] = (s_ - g1) * (-1.0f / 6.0f);                       \
        u[3] = p_ + q_;                                          \
        u[4] = p_ - q_;                                          \
        u[5] = g2;                                               \
    } while (0)

/* U = G g G^T (a x a, row-major into u[a * a]) for the 3x3 filters g[9] of 4 panel rows */
inline void wino_u2(const float4 *g, float4 *u)
{
    float4 c[4][3]; /* G g: c[r][col] */
    for (int j = 0; j < 3; j++) {
        float4 t[4];
        WINO_G2(g[j], g[3 + j], g[6 + j], t);
        for (int r = 0; r < 4; r++) c[r][j] = t[r];
    }
    for (int r = 0; r < 4; r++) WINO_G2(c[r][0], c[r][1], c[r][2], (u + 4 * r));
}
inline void wino_u4(const float4 *g, float4 *u)
{
    float4 c[6][3];
    for (int j = 0; j < 3; j++) {
        float4 t[6];
        WINO_G4(g[j], g[3 + j], g[6 + j], t);
        for (int r = 0; r < 6; r++) c[r][j] = t[r];
    }
    for (int r = 0; r < 6; r++) WINO_G4(c[r][0], c[r][1], c[r][2], (u + 6 * r));
}

/* The a * a transformed filters U[xi] = G g G^T (a = 4 or 6), written straight in conv_pack's
 * layout (cl/conv.cl: keep the two in step) for conv_gemm_nn with groups xi: U[xi](m, k) at
 * u[((xi * nmb + mb) * K + k) * CONV_MB + i] for m = mb * CONV_MB + i (0 for m >= M). Forward:
 * m = co, k = ci, g = w[co][ci]; flip != 0 (the data gradient): m = ci, k = co, g = w[co][ci]
 * rotated by 180 degrees. One work-item fills one panel of CONV_MB rows for every k and xi, 4
 * rows at a time as the lanes of a float4 (the transform's constants folded: a kernel per a). */
#define WINO_WEIGHTS(NAME, A, XFORM)                                                                           \
    __kernel void NAME(__global float *restrict u, __global const float *restrict w, const int w_off,        \
                       const int cout, const int cin, const int flip, const int nmb)                          \
    {                                                                                                         \
        const int mb = get_global_id(0);                                                                      \
        if (mb >= nmb) return;                                                                                \
        const int M = flip ? cin : cout, K = flip ? cout : cin;                                               \
        for (int k = 0; k < K; k++) {                                                                         \
            __global float *up = u + ((size_t)mb * K + k) * CONV_MB;                                          \
            for (int i0 = 0; i0 < CONV_MB; i0 += 4) {                                                         \
                float4 g[9], t[A * A];                                                                        \
                for (int j = 0; j < 9; j++) {                                                                 \
                    float l[4];                                                                               \
                    for (int q = 0; q < 4; q++) {                                                             \
                        const int m = mb * CONV_MB + i0 + q, ok = i0 + q < CONV_MB && m < M;                  \
                        const int co = flip ? k : m, ci = flip ? m : k;                                       \
                        l[q] = ok ? w[w_off + (co * cin + ci) * 9 + (flip ? 8 - j : j)] : 0.0f;               \
                    }                                                                                         \
                    g[j] = (float4)(l[0], l[1], l[2], l[3]);                                                  \
                }                                                                                             \
                XFORM(g, t);                                                                                  \
                for (int xi = 0; xi < A * A; xi++) {                                                          \
                    __global float *p = up + (size_t)xi * nmb * K * CONV_MB + i0;                             \
                    if (i0 + 4 <= CONV_MB) vstore4(t[xi], 0, p);                                              \
                    else {                                                                                    \
                        float o[4];                                                                           \
                        vstore4(t[xi], 0, o);                                                                 \
                        for (int q = 0; i0 + q < CONV_MB; q++) p[q] = o[q];                                   \
                    }                                                                                         \
                }                                                                                             \
            }                                                                                                 \
        }                                                                                                     \
    }
WINO_WEIGHTS(wino_weights2, 4, wino_u2)
WINO_WEIGHTS(wino_weights4, 6, wino_u4)

/* ---- F(2x2, 3x3) ---- */

/* B^T applied to one input column of a tile (its 4 rows as a float4). */
inline float4 wino_bt(float4 d)
{
    return (float4)(d.x - d.z, d.y + d.z, d.z - d.y, d.y - d.w);
}

/* Column ix of the tile rows rp[0..4) (NULL-free: invalid rows point at row 0 and rv masks them). */
inline float4 wino_col(__global const float *const rp[4], const int4 rv, int ix, int W)
{
    const int cv = (uint)ix < (uint)W, j = cv ? ix : 0;
    const float4 d = (float4)(rp[0][j], rp[1][j], rp[2][j], rp[3][j]);
    return select((float4)(0.0f), d, rv & (int4)(-cv)); /* by the mask's sign bits */
}

/* The a input rows y0 .. y0 + a - 1 of a row of tiles in plane xc (H x W): rp[i] points at row
 * y0 + i, or at row 0 when that is outside the image (rvs[i] = 0 then, 1 inside). */
inline void wino_tile_rows(__global const float *xc, const int H, const int W, const int y0, const int a,
                           __global const float **rp, int *rvs)
{
    for (int i = 0; i < a; i++) {
        const int iy = y0 + i;
        rvs[i] = (uint)iy < (uint)H;
        rp[i] = xc + (rvs[i] ? iy : 0) * W;
    }
}

/* One row ty of tiles of channel plane xc (H x W) into vp[xi * v_g + tx] (tx < TW), the two
 * columns that neighbouring tiles share transformed once. */
__attribute__((always_inline)) inline void wino_input_row2(__global float *vp, const int v_g, __global const float *xc, const int H, const int W,
                            const int ph, const int pw, const int ty, const int TW)
{
    __global const float *rp[4];
    int rvs[4];
    wino_tile_rows(xc, H, W, 2 * ty - ph, 4, rp, rvs);
    const int4 rv = -(int4)(rvs[0], rvs[1], rvs[2], rvs[3]);
    float4 t0 = wino_bt(wino_col(rp, rv, -pw, W)), t1 = wino_bt(wino_col(rp, rv, 1 - pw, W));
    for (int tx = 0; tx < TW; tx++) {
        const int ix = 2 * tx - pw + 2;
        const float4 t2 = wino_bt(wino_col(rp, rv, ix, W)), t3 = wino_bt(wino_col(rp, rv, ix + 1, W));
        /* (B^T d) B: the columns of V, each over the 4 rows */
        const float4 c0 = t0 - t2, c1 = t1 + t2, c2 = t2 - t1, c3 = t1 - t3;
        const float r[16] = {c0.x, c1.x, c2.x, c3.x, c0.y, c1.y, c2.y, c3.y,
                             c0.z, c1.z, c2.z, c3.z, c0.w, c1.w, c2.w, c3.w};
#pragma unroll
        for (int xi = 0; xi < 16; xi++) vp[xi * v_g + tx] = r[xi];
        t0 = t2;
        t1 = t3;
    }
}


/* One row ty of output tiles (TW of them, from mp[xi * m_g + tx]) into rows 2 ty, 2 ty + 1 of the
 * OH x OW plane op: A^T m A, plus bs or added to op (accumulate), clipped at the plane's edge. */
inline void wino_output_row2(__global float *op, const int OH, const int OW, __global const float *mp,
                             const int m_g, const float bs, const int accumulate, const int ty, const int TW)
{
    __global float *o0 = op + 2 * ty * OW;
    __global float *o1 = o0 + OW;
    const int row1 = 2 * ty + 1 < OH;
    for (int tx = 0; tx < TW; tx++) {
        float4 mr[4];
        for (int r = 0; r < 4; r++)
            mr[r] = (float4)(mp[(4 * r) * m_g + tx], mp[(4 * r + 1) * m_g + tx], mp[(4 * r + 2) * m_g + tx],
                             mp[(4 * r + 3) * m_g + tx]);
        /* A^T m (2 x 4), then times A */
        const float4 a0 = mr[0] + mr[1] + mr[2], a1 = mr[1] - mr[2] - mr[3];
        const float y00 = a0.x + a0.y + a0.z, y01 = a0.y - a0.z - a0.w;
        const float y10 = a1.x + a1.y + a1.z, y11 = a1.y - a1.z - a1.w;
        const int ox = 2 * tx, col1 = ox + 1 < OW;
        o0[ox] = (accumulate ? o0[ox] : bs) + y00;
        if (col1) o0[ox + 1] = (accumulate ? o0[ox + 1] : bs) + y01;
        if (row1) {
            o1[ox] = (accumulate ? o1[ox] : bs) + y10;
            if (col1) o1[ox + 1] = (accumulate ? o1[ox + 1] : bs) + y11;
        }
    }
}

/* ---- F(4x4, 3x3) ---- */

/* B^T (6 x 6) applied to the 6 values d0..d5 */
#define WINO_BT6(d0, d1, d2, d3, d4, d5, o0, o1, o2, o3, o4, o5) \
    do {                                                        \
        o0 = 4.0f * d0 - 5.0f * d2 + d4;                        \
        o1 = -4.0f * (d1 + d2) + d3 + d4;                       \
        o2 = 4.0f * (d1 - d2) - d3 + d4;                        \
        o3 = -2.0f * (d1 - d3) - d2 + d4;                       \
        o4 = 2.0f * (d1 - d3) - d2 + d4;                        \
        o5 = 4.0f * d1 - 5.0f * d3 + d5;                        \
    } while (0)

/* B^T applied to one input column of a 6x6 tile: rows 0..5 of ix (0 outside), lanes 6, 7 zero */
inline float8 wino_col6(__global const float *const rp[6], const int8 rv, int ix, int W)
{
    const int cv = (uint)ix < (uint)W, j = cv ? ix : 0;
    const float8 d = select((float8)(0.0f), (float8)(rp[0][j], rp[1][j], rp[2][j], rp[3][j], rp[4][j], rp[5][j], 0.0f, 0.0f),
                            rv & (int8)(-cv));
    float8 t = (float8)(0.0f);
    WINO_BT6(d.s0, d.s1, d.s2, d.s3, d.s4, d.s5, t.s0, t.s1, t.s2, t.s3, t.s4, t.s5);
    return t;
}

/* wino_input_row2 for 6x6 tiles at stride 4 (36 planes): two of a tile's columns are the next
 * tile's first two. */
__attribute__((always_inline)) inline void wino_input_row4(__global float *vp, const int v_g, __global const float *xc, const int H, const int W,
                            const int ph, const int pw, const int ty, const int TW)
{
    __global const float *rp[6];
    int rvs[6];
    wino_tile_rows(xc, H, W, 4 * ty - ph, 6, rp, rvs);
    const int8 rv = -(int8)(rvs[0], rvs[1], rvs[2], rvs[3], rvs[4], rvs[5], 0, 0);
    float8 t[6];
    t[4] = wino_col6(rp, rv, -pw, W);
    t[5] = wino_col6(rp, rv, 1 - pw, W);
    for (int tx = 0; tx < TW; tx++) {
        t[0] = t[4];
        t[1] = t[5];
        for (int j = 2; j < 6; j++) t[j] = wino_col6(rp, rv, 4 * tx - pw + j, W);
        float8 c[6]; /* (B^T d) B: the columns of V, each over the 6 rows */
        WINO_BT6(t[0], t[1], t[2], t[3], t[4], t[5], c[0], c[1], c[2], c[3], c[4], c[5]);
        const float r[36] = {c[0].s0, c[1].s0, c[2].s0, c[3].s0, c[4].s0, c[5].s0,
                             c[0].s1, c[1].s1, c[2].s1, c[3].s1, c[4].s1, c[5].s1,
                             c[0].s2, c[1].s2, c[2].s2, c[3].s2, c[4].s2, c[5].s2,
                             c[0].s3, c[1].s3, c[2].s3, c[3].s3, c[4].s3, c[5].s3,
                             c[0].s4, c[1].s4, c[2].s4, c[3].s4, c[4].s4, c[5].s4,
                             c[0].s5, c[1].s5, c[2].s5, c[3].s5, c[4].s5, c[5].s5};
        for (int xi = 0; xi < 36; xi++) vp[xi * v_g + tx] = r[xi];
    }
}

/* A^T (4 x 6) applied to the 6 values m0..m5 */
#define WINO_AT6(m0, m1, m2, m3, m4, m5, o0, o1, o2, o3) \
    do {                                                 \
        o0 = m0 + m1 + m2 + m3 + m4;                     \
        o1 = m1 - m2 + 2.0f * (m3 - m4);                 \
        o2 = m1 + m2 + 4.0f * (m3 + m4);                 \
        o3 = m1 - m2 + 8.0f * (m3 - m4) + m5;            \
    } while (0)

/* wino_output_row2 for 6x6 tiles (4x4 outputs each, 36 planes). */
inline void wino_output_row4(__global float *op, const int OH, const int OW, __global const float *mp,
                             const int m_g, const float bs, const int accumulate, const int ty, const int TW)
{
    for (int tx = 0; tx < TW; tx++) {
        float8 mr[6]; /* row r of the tile, lanes = columns */
        for (int r = 0; r < 6; r++) {
            __global const float *q = mp + 6 * r * m_g + tx;
            mr[r] = (float8)(q[0], q[m_g], q[2 * m_g], q[3 * m_g], q[4 * m_g], q[5 * m_g], 0.0f, 0.0f);
        }
        float8 ar[4]; /* A^T m */
        WINO_AT6(mr[0], mr[1], mr[2], mr[3], mr[4], mr[5], ar[0], ar[1], ar[2], ar[3]);
        for (int i = 0; i < 4 && 4 * ty + i < OH; i++) {
            float y[4];
            WINO_AT6(ar[i].s0, ar[i].s1, ar[i].s2, ar[i].s3, ar[i].s4, ar[i].s5, y[0], y[1], y[2], y[3]);
            __global float *o = op + (4 * ty + i) * OW + 4 * tx;
            for (int j = 0; j < 4 && 4 * tx + j < OW; j++) o[j] = (accumulate ? o[j] : bs) + y[j];
        }
    }
}

/* ---- the transform kernels of both (m = 2: F(2x2, 3x3), 4: F(4x4, 3x3)) ---- */

/* V[xi][c][n] = (B^T d B)[xi] for the a x a input tiles d of a chunk of nimg images starting at
 * x_off: tile (ty, tx) of image img is column n = (img * TH + ty) * TW + tx and reads rows
 * m ty - ph .. + a - 1, columns m tx - pw .. + a - 1 of channel c (0 outside the H x W image).
 * Rows of V are v_ld long, xi planes v_g apart. One work-item transforms one channel of one image
 * (PoCL runs small work-items at a high cost each). Global: (C, nimg). */
__kernel void wino_input(__global float *restrict v, const int v_ld, const int v_g,
                         __global const float *restrict x, const int x_off, const int C, const int H, const int W,
                         const int ph, const int pw, const int TH, const int TW, const int nimg, const int m)
{
    const int c = get_global_id(0), img = get_global_id(1);
    if (c >= C || img >= nimg) return;
    __global const float *xc = x + x_off + (img * C + c) * H * W;
    for (int ty = 0; ty < TH; ty++) {
        __global float *vp = v + c * v_ld + (img * TH + ty) * TW;
        if (m == 4) wino_input_row4(vp, v_g, xc, H, W, ph, pw, ty, TW);
        else wino_input_row2(vp, v_g, xc, H, W, ph, pw, ty, TW);
    }
}

/* out[img][c][m ty + i][m tx + j] (+)= (A^T M A)[i][j] (+ bias[c]) for the tiles of a chunk of
 * nimg images, M = M[xi][c][n] with n as in wino_input (rows m_ld long, xi planes m_g apart);
 * outputs past OH x OW (the last tile row / column of an odd size) are dropped. accumulate != 0
 * adds to out (the data gradient's dx +=), else out is overwritten. One work-item per channel of
 * an image. Global: (C, nimg). */
__kernel void wino_output(__global float *restrict out, const int out_off, const int C, const int OH, const int OW,
                          __global const float *restrict m, const int m_ld, const int m_g,
                          __global const float *bias, const int bias_off, const int has_bias, const int accumulate,
                          const int TH, const int TW, const int nimg, const int mt)
{
    const int c = get_global_id(0), img = get_global_id(1);
    if (c >= C || img >= nimg) return;
    const float bs = has_bias ? bias[bias_off + c] : 0.0f;
    __global float *op = out + out_off + (img * C + c) * OH * OW;
    for (int ty = 0; ty < TH; ty++) {
        __global const float *mp = m + c * m_ld + (img * TH + ty) * TW;
        if (mt == 4) wino_output_row4(op, OH, OW, mp, m_g, bs, accumulate, ty, TW);
        else wino_output_row2(op, OH, OW, mp, m_g, bs, accumulate, ty, TW);
    }
}
