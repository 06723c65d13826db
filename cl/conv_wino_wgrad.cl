/* cl/conv_wino_wgrad.cl: the Winograd weight gradient of dense 3x3 stride-1 convolutions, F(3x3, 2x2) and F(3x3, 4x4) (transforms of x, dy and dW; built after conv_wino.cl). */

/* The forward of cl/conv_wino.cl computes every m x m block of outputs (m = 2 or 4) from the
 * a x a input tile d (a = m + 2) as y = A^T [ (G g G^T) .* (B^T d B) ] A. That is linear in
 * U = G g G^T, so by the transposition principle the weight gradient, summed over the tiles t
 * of every image, is
 *   dg = G^T [ sum_t (A dy_t A^T) .* (B^T d_t B) ] G        (dy_t: the m x m block of dy, 0 past
 *                                                            the output's edge)
 * with the sum for every transform point xi = a * row + col a GEMM over the tile columns n:
 *   M[xi](k, c) = sum_n D[xi](k, n) * V[xi](n, c)            (conv_gemm_nn of cl/conv.cl)
 * D = A dy A^T (wgrad_dy, in conv_pack's panels), V = B^T d B (wgrad_input, rows n of channels
 * c), and dW[k][c] += G^T M[.](k, c) G (wgrad_output). conv_gemm_nn rather than conv_gemm_nt:
 * the reduction runs over tiles, only 4 per image on ResNet-18's 4x4 maps, and conv_gemm_nt's
 * per-output epilogue (a horizontal vector sum, a read-add-write of C) outweighs so short a
 * reduction; conv_gemm_nn's accumulators are whole vectors of c. 3 x 3 filter taps from a^2 products per tile of
 * m^2 outputs: 16 / 4 = 4 (F(3x3, 2x2)) or 36 / 16 = 2.25 (F(3x3, 4x4)) multiplications per
 * output and tap pair instead of 9. A, B and G are the forward's (conv_wino.cl's header):
 * F(3x3, 2x2) adds and subtracts in A and B and scales by 1/2 in G (exact), so its rounding
 * stays near the direct sum's; F(3x3, 4x4) scales by up to 8 in A (64 in D) and 1/24 in G. */

/* A (a x m) applied to the m values of a column of dy: A = (A^T)^T of conv_wino.cl */
#define WGRAD_A4(v0, v1, o0, o1, o2, o3) \
    do {                                 \
        o0 = v0;                         \
        o1 = v0 + v1;                    \
        o2 = v0 - v1;                    \
        o3 = -(v1);                      \
    } while (0)
#define WGRAD_A6(v0, v1, v2, v3, o0, o1, o2, o3, o4, o5) \
    do {                                                 \
        o0 = v0;                                         \
        o1 = v0 + v1 + v2 + v3;                          \
        o2 = v0 - v1 + v2 - v3;                          \
        o3 = v0 + 2.0f * v1 + 4.0f * v2 + 8.0f * v3;     \
        o4 = v0 - 2.0f * v1 + 4.0f * v2 - 8.0f * v3;     \
        o5 = v3;                                         \
    } while (0)

/* The m x m block of plane dp (OH x OW) at (oy, ox) into b[row][col], 0 past the plane's edge. */
inline void wgrad_block(float b[4][4], __global const float *dp, const int OH, const int OW, const int oy,
                        const int ox, const int m)
{
    for (int r = 0; r < m; r++) {
        const int rv = oy + r < OH;
        __global const float *q = dp + (rv ? oy + r : 0) * OW;
        for (int c = 0; c < m; c++) b[r][c] = rv && ox + c < OW ? q[ox + c] : 0.0f;
    }
}

/* wgrad_dy for W channels i0 .. i0 + W - 1 of a panel (planes dp + i * OH * OW, dp at channel i0;
 * W = 8: a whole panel of CONV_MB 8, W = 4: groups of 4 of the AVX2 blocks' panels of 4, 6, 12),
 * the channels as the lanes of VT vectors: the same operations lane by lane as the per-channel
 * loops below, each plane's row of W values one VSTORE. ResNet-18's 64x28^2 layer (F(3x3, 4x4),
 * batch 32, PoCL): the per-channel code had ~29% of the weight gradient's perf samples in this
 * kernel, more than the GEMMs; at CONV_MB 4 the float4 groups cut this kernel's samples against
 * conv_gemm_nn's from 0.10 to 0.06 (bench ops --filter k3s1). */
#define WGRAD_DY_PANEL(NAME, W, VT, VSTORE, LANES)                                                                      \
inline void NAME(__global float *restrict d, const int ps, const int N, const int mb,                                   \
                      __global const float *restrict dp, const int OH, const int OW, const int TH, const int TW,        \
                      const int img, const int m, const int i0)                                                         \
{                                                                                                                       \
    const int s = OH * OW;                                                                                              \
    for (int ty = 0; ty < TH; ty++)                                                                                     \
        for (int tx = 0; tx < TW; tx++) {                                                                               \
            const int y0 = m * ty, x0 = m * tx;                                                                         \
            VT b[4][4]; /* the block, 0 past the plane's edge */                                                        \
            for (int r = 0; r < m; r++)                                                                                 \
                for (int c = 0; c < m; c++) {                                                                           \
                    const int ok = y0 + r < OH && x0 + c < OW;                                                          \
                    __global const float *q = dp + (ok ? (y0 + r) * OW + x0 + c : 0);                                   \
                    b[r][c] = ok ? LANES(q, s)                                                                          \
                                 : (VT)(0.0f);                                                                          \
                }                                                                                                       \
            __global float *o = d + ((mb * N) + (img * TH + ty) * TW + tx) * CONV_MB + i0;                              \
            if (m == 2) {                                                                                               \
                VT u[4], v[4]; /* the rows of A b */                                                                    \
                WGRAD_A4(b[0][0], b[1][0], u[0], u[1], u[2], u[3]);                                                     \
                WGRAD_A4(b[0][1], b[1][1], v[0], v[1], v[2], v[3]);                                                     \
                for (int j = 0; j < 4; j++) {                                                                           \
                    VT o0, o1, o2, o3;                                                                                  \
                    WGRAD_A4(u[j], v[j], o0, o1, o2, o3);                                                               \
                    VSTORE(o0, 0, o + 4 * j * ps);                                                                      \
                    VSTORE(o1, 0, o + (4 * j + 1) * ps);                                                                \
                    VSTORE(o2, 0, o + (4 * j + 2) * ps);                                                                \
                    VSTORE(o3, 0, o + (4 * j + 3) * ps);                                                                \
                }                                                                                                       \
            } else {                                                                                                    \
                VT t[6][4]; /* A b */                                                                                   \
                for (int c = 0; c < 4; c++)                                                                             \
                    WGRAD_A6(b[0][c], b[1][c], b[2][c], b[3][c], t[0][c], t[1][c], t[2][c], t[3][c], t[4][c], t[5][c]); \
                for (int j = 0; j < 6; j++) {                                                                           \
                    VT r[6];                                                                                            \
                    WGRAD_A6(t[j][0], t[j][1], t[j][2], t[j][3], r[0], r[1], r[2], r[3], r[4], r[5]);                   \
                    for (int c = 0; c < 6; c++) VSTORE(r[c], 0, o + (6 * j + c) * ps);                                  \
                }                                                                                                       \
            }                                                                                                           \
        }                                                                                                               \
}
#define WGRAD_LANES8(q, s) (float8)(q[0], q[s], q[2 * s], q[3 * s], q[4 * s], q[5 * s], q[6 * s], q[7 * s])
#define WGRAD_LANES4(q, s) (float4)(q[0], q[s], q[2 * s], q[3 * s])
/* a whole panel of 6 (CONV_MB 6, the AVX2 default): float8 lanes 6 and 7 zero, not stored */
#define WGRAD_LANES6(q, s) (float8)(q[0], q[s], q[2 * s], q[3 * s], q[4 * s], q[5 * s], 0.0f, 0.0f)
#define WGRAD_VSTORE6(v, o, p)                  \
    do {                                        \
        vstore4((v).lo, 0, (p));                \
        vstore2((v).s45, 0, (p) + 4);           \
    } while (0)
WGRAD_DY_PANEL(wgrad_dy8, 8, float8, vstore8, WGRAD_LANES8)
WGRAD_DY_PANEL(wgrad_dy6, 6, float8, WGRAD_VSTORE6, WGRAD_LANES6)
WGRAD_DY_PANEL(wgrad_dy4, 4, float4, vstore4, WGRAD_LANES4)

/* D[xi] = A dy_t A^T of the m x m blocks of dy of a chunk of nimg images from dy_off, written in
 * conv_pack's panels as conv_gemm_nn's A (cl/conv.cl: keep the two in step): D[xi](k, n) at
 * d[((xi * nmb + mb) * N + n) * CONV_MB + i] for k = mb * CONV_MB + i (0 for k >= K), tile
 * (ty, tx) of image img being column n = (img * TH + ty) * TW + tx of N >= nimg * TH * TW (the
 * columns past the tiles are zero tiles: they only pad the planes apart, see the host). One
 * work-item fills one panel of CONV_MB channels of one image, a tile at a time. F(3x3, 2x2) has
 * its own loop (kept free of the general one's arrays; writes straight to the planes). Global:
 * (nmb, nimg). */
__kernel void wgrad_dy(__global float *restrict d, const int nmb, const int N, __global const float *restrict dy,
                       const int dy_off, const int K, const int OH, const int OW, const int TH, const int TW,
                       const int nimg, const int m)
{
    const int mb = get_global_id(0), img = get_global_id(1);
    if (mb >= nmb || img >= nimg) return;
    const int ps = nmb * N * CONV_MB; /* plane stride */
    if (img == nimg - 1) /* the zero tiles that pad the columns to N */
        for (int xi = 0; xi < (m + 2) * (m + 2); xi++)
            for (int n = nimg * TH * TW; n < N; n++)
                for (int i = 0; i < CONV_MB; i++) d[xi * ps + (mb * N + n) * CONV_MB + i] = 0.0f;
    __global const float *dp = dy + dy_off + (img * K + mb * CONV_MB) * OH * OW;
    const int kn = min(CONV_MB, K - mb * CONV_MB);
    if (CONV_MB == 8 && kn == 8) { /* a whole panel: its 8 channels as the lanes of float8s */
        wgrad_dy8(d, ps, N, mb, dp, OH, OW, TH, TW, img, m, 0);
        return;
    }
    if (CONV_MB == 6 && kn == 6) { /* likewise 6 (else 4 + 2 one at a time below) */
        wgrad_dy6(d, ps, N, mb, dp, OH, OW, TH, TW, img, m, 0);
        return;
    }
    int i_lo = 0; /* the channels below: groups of 4 as float4 lanes, the rest one at a time */
    for (; i_lo + 4 <= kn; i_lo += 4) wgrad_dy4(d, ps, N, mb, dp + i_lo * OH * OW, OH, OW, TH, TW, img, m, i_lo);
    if (i_lo == CONV_MB) return;
    if (m == 2) {
        for (int ty = 0; ty < TH; ty++) {
            const int y0 = 2 * ty, rv1 = y0 + 1 < OH;
            for (int tx = 0; tx < TW; tx++) {
                const int x0 = 2 * tx, cv1 = x0 + 1 < OW;
                __global float *o = d + ((mb * N) + (img * TH + ty) * TW + tx) * CONV_MB + i_lo;
                for (int i = i_lo; i < CONV_MB; i++, o++) { /* plane xi of channel i at o[xi * ps] */
                    __global const float *q = dp + i * OH * OW + y0 * OW + x0;
                    const int kv = i < kn;
                    const float v00 = kv ? q[0] : 0.0f, v01 = kv && cv1 ? q[1] : 0.0f;
                    const float v10 = kv && rv1 ? q[OW] : 0.0f, v11 = kv && rv1 && cv1 ? q[OW + 1] : 0.0f;
                    float u[4], v[4]; /* the rows of A b */
                    WGRAD_A4(v00, v10, u[0], u[1], u[2], u[3]);
                    WGRAD_A4(v01, v11, v[0], v[1], v[2], v[3]);
                    for (int j = 0; j < 4; j++)
                        WGRAD_A4(u[j], v[j], o[4 * j * ps], o[(4 * j + 1) * ps], o[(4 * j + 2) * ps], o[(4 * j + 3) * ps]);
                }
            }
        }
        return;
    }
    for (int ty = 0; ty < TH; ty++)
        for (int tx = 0; tx < TW; tx++) {
            float r[36][CONV_MB];
            for (int i = i_lo; i < CONV_MB; i++) {
                float b[4][4] = {{0.0f}}, t[6][4]; /* the block, A b */
                if (i < kn) wgrad_block(b, dp + i * OH * OW, OH, OW, 4 * ty, 4 * tx, 4);
                for (int c = 0; c < 4; c++)
                    WGRAD_A6(b[0][c], b[1][c], b[2][c], b[3][c], t[0][c], t[1][c], t[2][c], t[3][c], t[4][c], t[5][c]);
                for (int j = 0; j < 6; j++)
                    WGRAD_A6(t[j][0], t[j][1], t[j][2], t[j][3], r[6 * j][i], r[6 * j + 1][i], r[6 * j + 2][i],
                             r[6 * j + 3][i], r[6 * j + 4][i], r[6 * j + 5][i]);
            }
            __global float *q = d + ((mb * N) + (img * TH + ty) * TW + tx) * CONV_MB;
            for (int xi = 0; xi < 36; xi++)
                for (int i = i_lo; i < CONV_MB; i++) q[xi * ps + i] = r[xi][i];
        }
}

/* Channels per work-item of wgrad_input, one per lane of a float8: a multiple of 8 divides every
 * row length (v_ld is a whole number of conv_gemm_nn's column blocks, CONV_VW * CONV_NV with
 * CONV_VW 8 or 16). */
#define WGRAD_CB 8

/* Input pixel (iy, ix) of the WGRAD_CB channel planes at x + co[lane] (channels past the last
 * repeat it: in bounds; cm masks them to 0), 0 outside the H x W image. With all 8 channels real
 * the planes are H * W apart and the 8 loads one strided vector load (PoCL: a gather, where the
 * per-lane indices of co[] became 8 extract-and-insert loads: wgrad_input's samples on ResNet-18's
 * 64x28^2 weight gradient 29% -> 25% of the op's). */
inline float8 wgrad_pix8(__global const float *x, const int *co, const int8 cm, const int iy, const int ix, const int H,
                         const int W)
{
    const int ok = (uint)iy < (uint)H && (uint)ix < (uint)W, o = ok ? iy * W + ix : 0;
    if (cm.s7) { /* all 8 channels real: planes co[0] + l * H * W, one strided load (a gather) */
        __global const float *p = x + co[0] + o;
        const int s = H * W;
        return ok ? (float8)(p[0], p[s], p[2 * s], p[3 * s], p[4 * s], p[5 * s], p[6 * s], p[7 * s]) : (float8)(0.0f);
    }
    float v[WGRAD_CB];
#pragma unroll
    for (int l = 0; l < WGRAD_CB; l++) v[l] = x[co[l] + o];
    return select((float8)(0.0f), vload8(0, v), cm & (int8)(-ok));
}

/* B^T applied to column ix of the a rows from y0 (F(3x3, 2x2): a = 4; F(3x3, 4x4): 6), lanes =
 * channels: t[i] = (B^T d)[i][this column] (conv_wino.cl's B^T). */
__attribute__((always_inline)) inline void wgrad_bt_col(float8 t[6], __global const float *x, const int *co, const int8 cm, const int y0, const int ix,
                         const int H, const int W, const int a)
{
    float8 d[6];
    for (int i = 0; i < a; i++) d[i] = wgrad_pix8(x, co, cm, y0 + i, ix, H, W);
    if (a == 6) WINO_BT6(d[0], d[1], d[2], d[3], d[4], d[5], t[0], t[1], t[2], t[3], t[4], t[5]);
    else {
        t[0] = d[0] - d[2];
        t[1] = d[1] + d[2];
        t[2] = d[2] - d[1];
        t[3] = d[1] - d[3];
    }
}

/* V[xi](n, c) = (B^T d B)[xi] of the a x a input tiles d of channel c of a chunk of nimg images
 * from x_off (tile (ty, tx) reads rows m ty - ph .., columns m tx - pw .. of the H x W image, 0
 * outside; row n as in wgrad_dy, rows up to N) at v[xi * v_g + n * v_ld + c], channels C .. v_ld - 1 zero:
 * conv_gemm_nn's B, rows n contiguous over the channels. One work-item transforms WGRAD_CB
 * channels (the lanes of float8s) of one image, a row of tiles at a time; the two columns that
 * neighbouring tiles share are transformed once. Global: (v_ld / WGRAD_CB, nimg). */
__kernel void wgrad_input(__global float *restrict v, const int v_ld, const int v_g, const int N,
                          __global const float *restrict x, const int x_off, const int C, const int H, const int W,
                          const int ph, const int pw, const int TH, const int TW, const int nimg, const int m)
{
    const int cb = get_global_id(0), img = get_global_id(1);
    if (cb * WGRAD_CB >= v_ld || img >= nimg) return;
    const int a = m + 2, c0 = cb * WGRAD_CB, HW = H * W;
    if (img == nimg - 1) /* rows nimg * TH * TW .. N - 1: the zero tiles of wgrad_dy */
        for (int xi = 0; xi < a * a; xi++)
            for (int n = nimg * TH * TW; n < N; n++) vstore8((float8)(0.0f), 0, v + xi * v_g + n * v_ld + c0);
    const int8 cm = (int8)(0, 1, 2, 3, 4, 5, 6, 7) + (int8)(c0) < (int8)(C);
    int co[WGRAD_CB]; /* the lanes' channel planes */
    for (int l = 0; l < WGRAD_CB; l++) co[l] = min(c0 + l, C - 1) * HW;
    __global const float *xi0 = x + x_off + img * C * HW;
    for (int ty = 0; ty < TH; ty++) {
        const int y0 = m * ty - ph;
        float8 t[6][6]; /* t[j]: B^T times column j of the tile */
        wgrad_bt_col(t[a - 2], xi0, co, cm, y0, -pw, H, W, a);
        wgrad_bt_col(t[a - 1], xi0, co, cm, y0, 1 - pw, H, W, a);
        for (int tx = 0; tx < TW; tx++) {
            for (int i = 0; i < a; i++) {
                t[0][i] = t[a - 2][i];
                t[1][i] = t[a - 1][i];
            }
            for (int j = 2; j < a; j++) wgrad_bt_col(t[j], xi0, co, cm, y0, m * tx - pw + j, H, W, a);
            __global float *q = v + ((img * TH + ty) * TW + tx) * v_ld + c0;
            for (int i = 0; i < a; i++) { /* row i of (B^T d) B */
                float8 o[6];
                if (a == 6) WINO_BT6(t[0][i], t[1][i], t[2][i], t[3][i], t[4][i], t[5][i], o[0], o[1], o[2], o[3], o[4], o[5]);
                else {
                    o[0] = t[0][i] - t[2][i];
                    o[1] = t[1][i] + t[2][i];
                    o[2] = t[2][i] - t[1][i];
                    o[3] = t[1][i] - t[3][i];
                }
                for (int j = 0; j < a; j++) vstore8(o[j], 0, q + (i * a + j) * v_g);
            }
        }
    }
}

/* G^T (3 x a) applied to the a values m0 .. of a row or column of M (G of conv_wino.cl) */
#define WGRAD_GT4(m0, m1, m2, m3, o0, o1, o2) \
    do {                                      \
        o0 = m0 + 0.5f * (m1 + m2);           \
        o1 = 0.5f * (m1 - m2);                \
        o2 = 0.5f * (m1 + m2) + m3;           \
    } while (0)
#define WGRAD_GT6(m0, m1, m2, m3, m4, m5, o0, o1, o2)                                    \
    do {                                                                                 \
        o0 = 0.25f * m0 - (1.0f / 6.0f) * (m1 + m2) + (1.0f / 24.0f) * (m3 + m4);         \
        o1 = (1.0f / 6.0f) * (m2 - m1) + (1.0f / 12.0f) * (m3 - m4);                     \
        o2 = (1.0f / 6.0f) * (m3 + m4 - m1 - m2) + m5;                                   \
    } while (0)

/* dw[k][c][3][3] += G^T M[.](k, c) G for M[xi](k, c) at mm[xi * m_g + k * m_ld + c] (a = 4 or
 * 6; rows m_ld >= C long, a multiple of 8, columns C .. m_ld - 1 finite). One work-item per
 * output channel k, 8 channels c (the lanes of float8s) at a time. Global: (K). */
__kernel void wgrad_output(__global float *restrict dw, const int dw_off, __global const float *restrict mm,
                           const int m_ld, const int m_g, const int K, const int C, const int a)
{
    const int k = get_global_id(0);
    if (k >= K) return;
    for (int c0 = 0; c0 < C; c0 += 8) {
        __global const float *mp = mm + k * m_ld + c0;
        float8 t[6][3], o[3][3]; /* G^T M by columns of M (3 x a), then (G^T M) G */
        if (a == 6) {
            for (int j = 0; j < 6; j++)
                WGRAD_GT6(vload8(0, mp + j * m_g), vload8(0, mp + (6 + j) * m_g), vload8(0, mp + (12 + j) * m_g),
                          vload8(0, mp + (18 + j) * m_g), vload8(0, mp + (24 + j) * m_g), vload8(0, mp + (30 + j) * m_g),
                          t[j][0], t[j][1], t[j][2]);
            for (int r = 0; r < 3; r++)
                WGRAD_GT6(t[0][r], t[1][r], t[2][r], t[3][r], t[4][r], t[5][r], o[r][0], o[r][1], o[r][2]);
        } else {
            for (int j = 0; j < 4; j++)
                WGRAD_GT4(vload8(0, mp + j * m_g), vload8(0, mp + (4 + j) * m_g), vload8(0, mp + (8 + j) * m_g),
                          vload8(0, mp + (12 + j) * m_g), t[j][0], t[j][1], t[j][2]);
            for (int r = 0; r < 3; r++) WGRAD_GT4(t[0][r], t[1][r], t[2][r], t[3][r], o[r][0], o[r][1], o[r][2]);
        }
        float s[9][8]; /* tap e of lane l: dw[k][c0 + l][e] */
        for (int r = 0; r < 3; r++)
            for (int j = 0; j < 3; j++) vstore8(o[r][j], 0, s[r * 3 + j]);
        const int n = min(8, C - c0);
        __global float *q = dw + dw_off + (k * C + c0) * 9;
        for (int l = 0; l < n; l++)
            for (int e = 0; e < 9; e++) q[l * 9 + e] += s[e][l];
    }
}
