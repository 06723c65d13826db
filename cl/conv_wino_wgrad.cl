/* cl/conv_wino_wgrad.cl: the Winograd weight gradient of dense 3x3 stride-1 convolutions, F(3x3, 2x2) and F(3x3, 4x4) (transforms of x, dy and dW; built after conv_wino.cl). */

/* The forward of cl/conv_wino.cl computes every m x m block of outputs (m = 2 or 4) from the
 * a x a input tile d (a = m + 2) as y = A^T [ (G g G^T) .* (B^T d B) ] A. That is linear in
 * U = G g G^T, so by the transposition principle the weight gradient, summed over the tiles t
 * of every image, is
 *   dg = G^T [ sum_t (A dy_t A^T) .* (B^T d_t B) ] G        (dy_t: the m x m block of dy, 0 past
 *                                                            the output's edge)
 * with the sum for every transform point xi = a * row + col a GEMM over the tile columns n:
 *   M[xi](k, c) = sum_n D[xi](k, n) * V[xi](c, n)            (conv_gemm_nt of cl/conv.cl)
 * D = A dy A^T (wgrad_dy), V = B^T d B (wgrad_input: conv_wino.cl's input rows), and
 * dW[k][c] += G^T M[.](k, c) G (wgrad_output). 3 x 3 filter taps from a^2 products per tile of
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

/* Zeroes columns ncols .. ld - 1 of row r of each of the np planes of a workspace (planes g
 * apart): conv_gemm_nt then reduces whole vectors without a lane-by-lane tail. */
inline void wgrad_zero_tail(__global float *w, const int ld, const int g, const int np, const int r,
                            const int ncols)
{
    for (int xi = 0; xi < np; xi++)
        for (int n = ncols; n < ld; n++) w[xi * g + r * ld + n] = 0.0f;
}

/* V[xi][c][n] = (B^T d B)[xi] of the input tiles, exactly conv_wino.cl's wino_input (tile
 * (ty, tx) of image img is column n = (img * TH + ty) * TW + tx), plus zeros in columns
 * nimg * TH * TW .. v_ld - 1. One work-item per channel of an image. Global: (C, nimg). */
__kernel void wgrad_input(__global float *restrict v, const int v_ld, const int v_g,
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
    if (img == nimg - 1) wgrad_zero_tail(v, v_ld, v_g, (m + 2) * (m + 2), c, nimg * TH * TW);
}

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

/* D[xi][k][n] = (A dy_t A^T)[xi] for the m x m blocks dy_t of dy (tile columns n as in
 * wgrad_input), plus zeros in columns nimg * TH * TW .. d_ld - 1. One work-item per channel of
 * an image. Global: (K, nimg). */
__kernel void wgrad_dy(__global float *restrict d, const int d_ld, const int d_g,
                       __global const float *restrict dy, const int dy_off, const int K, const int OH, const int OW,
                       const int TH, const int TW, const int nimg, const int m)
{
    const int k = get_global_id(0), img = get_global_id(1);
    if (k >= K || img >= nimg) return;
    __global const float *dp = dy + dy_off + (img * K + k) * OH * OW;
    const int a = m + 2;
    for (int ty = 0; ty < TH; ty++) {
        __global float *q = d + k * d_ld + (img * TH + ty) * TW;
        for (int tx = 0; tx < TW; tx++) {
            float b[4][4], t[6][4], r[36]; /* the block, A times it (a x m), A b A^T (a x a) */
            wgrad_block(b, dp, OH, OW, m * ty, m * tx, m);
            for (int c = 0; c < m; c++) {
                if (m == 4) WGRAD_A6(b[0][c], b[1][c], b[2][c], b[3][c], t[0][c], t[1][c], t[2][c], t[3][c], t[4][c], t[5][c]);
                else WGRAD_A4(b[0][c], b[1][c], t[0][c], t[1][c], t[2][c], t[3][c]);
            }
            for (int i = 0; i < a; i++) {
                float *o = r + i * a;
                if (m == 4) WGRAD_A6(t[i][0], t[i][1], t[i][2], t[i][3], o[0], o[1], o[2], o[3], o[4], o[5]);
                else WGRAD_A4(t[i][0], t[i][1], o[0], o[1], o[2], o[3]);
            }
            for (int xi = 0; xi < a * a; xi++) q[xi * d_g + tx] = r[xi];
        }
    }
    if (img == nimg - 1) wgrad_zero_tail(d, d_ld, d_g, a * a, k, nimg * TH * TW);
}

/* dw[k][c][3][3] += G^T M[.](k, c) G for M[xi][k][c] (planes m_g apart, rows C long), G of
 * conv_wino.cl (a x 3, a = 4 or 6). One work-item per filter. Global: (C, K). */
__kernel void wgrad_output(__global float *restrict dw, const int dw_off, __global const float *restrict mm,
                           const int m_g, const int K, const int C, const int a)
{
    const int c = get_global_id(0), k = get_global_id(1);
    if (c >= C || k >= K) return;
    __constant float(*G)[3] = a == 6 ? wino_g4 : wino_g2;
    __global const float *mp = mm + k * C + c;
    float t[6][3]; /* M G (a x 3) */
    for (int i = 0; i < a; i++)
        for (int j = 0; j < 3; j++) {
            float s = 0.0f;
            for (int l = 0; l < a; l++) s += mp[(i * a + l) * m_g] * G[l][j];
            t[i][j] = s;
        }
    __global float *o = dw + dw_off + (k * C + c) * 9;
    for (int r = 0; r < 3; r++)
        for (int j = 0; j < 3; j++) {
            float s = 0.0f;
            for (int i = 0; i < a; i++) s += G[i][r] * t[i][j];
            o[r * 3 + j] += s;
        }
}
