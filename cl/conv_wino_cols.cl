/* cl/conv_wino_cols.cl: Winograd input and output tile transforms for maps of at most 4 tiles a row, 8 consecutive tiles (of one or more rows and images) as float8 lanes (built after conv_wino.cl). */

/* wino_input / wino_output (conv_wino.cl) put the tiles of one row of tiles into the 8 lanes:
 * maps of at most 4 tiles a row (ResNet-18's 7x7 and 4x4 maps under F(2x2, 3x3): 16 and 4 tiles
 * an image; 14x14 and 7x7 under F(4x4, 3x3)) fill at most half of them. Here the lanes are 8
 * consecutive columns n = n0 .. n0 + 7 of V and M (n = (img * TH + ty) * TW + tx as in
 * wino_input: tiles of one or more rows and images, 0 for n >= nimg * TH * TW): each lane gathers
 * its own input tile (0 outside its image) and scatters its own outputs, the transforms in
 * between run on whole vectors, the same operations in the same order as conv_wino.cl's
 * (the same floats), and V and M are read and written as float8 rows (n0 + 8 <= v_ld: rows are
 * whole column blocks; M has room after its last plane: conv_wino.c). WINO_COLS_BLOCKS blocks of
 * 8 columns a work-item. Global: (C, ceil(nimg * TH * TW / (8 WINO_COLS_BLOCKS))). */

/* q = n / d, r = n - q d for 0 <= n < 2^22, d > 0 (a float reciprocal and one correction: AVX-512
 * has no vector integer division, and 8 scalar ones per vector cost more than the transform) */
inline int8 wino_div8(const int8 n, const int d, int8 *r)
{
    int8 q = convert_int8(convert_float8(n) * (1.0f / (float)d));
    int8 m = n - q * (int8)(d);
    const int8 lo = m < (int8)(0), hi = m >= (int8)(d);
    q = q - (lo & (int8)(1)) + (hi & (int8)(1));
    *r = m + (lo & (int8)(d)) - (hi & (int8)(d));
    return q;
}

#define WINO_COLS_BLOCKS 4 /* blocks of 8 columns per work-item (host/ops/conv_wino.c COLS_BLOCKS) */

/* V = B^T d B of 6x6 tiles into v[6 row + column] (wino_input_vec4's operations) */
inline void wino_v6(float8 d[6][6], float8 *v)
{
    float8 t[6][6];
#pragma unroll
    for (int j = 0; j < 6; j++)
        WINO_BT6(d[0][j], d[1][j], d[2][j], d[3][j], d[4][j], d[5][j], t[0][j], t[1][j], t[2][j], t[3][j], t[4][j],
                 t[5][j]);
#pragma unroll
    for (int r = 0; r < 6; r++)
        WINO_BT6(t[r][0], t[r][1], t[r][2], t[r][3], t[r][4], t[r][5], v[6 * r], v[6 * r + 1], v[6 * r + 2],
                 v[6 * r + 3], v[6 * r + 4], v[6 * r + 5]);
}

/* wino_input's V for the tiles n0 .. (MT: 2 or 4 outputs a side, A = MT + 2, XFORM: wino_v4 / wino_v6) */
#define WINO_INPUT_COLS(NAME, MT, A, XFORM)                                                                     \
    __kernel void NAME(__global float *restrict v, const int v_ld, const int v_g, __global const float *restrict x, \
                       const int x_off, const int C, const int H, const int W, const int ph, const int pw,      \
                       const int TH, const int TW, const int nimg)                                             \
    {                                                                                                          \
        const int c = get_global_id(0), T = TH * TW, ncols = nimg * T;                                         \
        if (c >= C) return;                                                                                    \
        for (int blk = 0; blk < WINO_COLS_BLOCKS; blk++) {                                                     \
            const int n0 = ((int)get_global_id(1) * WINO_COLS_BLOCKS + blk) * WINO_VL;                         \
            if (n0 >= ncols) return;                                                                           \
            const int8 n = (int8)(0, 1, 2, 3, 4, 5, 6, 7) + (int8)(n0);                                        \
            const int8 live = n < (int8)(ncols), nn = select((int8)(ncols - 1), n, live);                      \
            int8 t, tx;                                                                                        \
            const int8 img = wino_div8(nn, T, &t), ty = wino_div8(t, TW, &tx);                                 \
            const int8 y0 = (int8)(MT) * ty - (int8)(ph), x0 = (int8)(MT) * tx - (int8)(pw);                   \
            const int8 base = (int8)(x_off) + (img * (int8)(C) + (int8)(c)) * (int8)(H * W);                   \
            float8 d[A][A], vv[A * A];                                                                         \
            _Pragma("unroll") for (int r = 0; r < A; r++)                                                      \
            {                                                                                                  \
                const int8 iy = y0 + (int8)(r), rv = live & (iy >= (int8)(0)) & (iy < (int8)(H));             \
                _Pragma("unroll") for (int j = 0; j < A; j++)                                                  \
                {                                                                                              \
                    const int8 ix = x0 + (int8)(j), ok = rv & (ix >= (int8)(0)) & (ix < (int8)(W));            \
                    const int8 o = select(base, base + iy * (int8)(W) + ix, ok); /* in bounds where masked */  \
                    const float8 g =                                                                           \
                        (float8)(x[o.s0], x[o.s1], x[o.s2], x[o.s3], x[o.s4], x[o.s5], x[o.s6], x[o.s7]);      \
                    d[r][j] = select((float8)(0.0f), g, ok);                                                   \
                }                                                                                              \
            }                                                                                                  \
            XFORM(d, vv);                                                                                      \
            __global float *vp = v + c * v_ld + n0;                                                            \
            _Pragma("unroll") for (int xi = 0; xi < A * A; xi++) vstore8(vv[xi], 0, vp + xi * v_g);             \
        }                                                                                                      \
    }
WINO_INPUT_COLS(wino_input_cols2, 2, 4, wino_v4)
WINO_INPUT_COLS(wino_input_cols4, 4, 6, wino_v6)

/* Y = A^T m A of 4x4 points m[xi] into y[2 i + j] (wino_output_vec2's operations) */
inline void wino_y2(const float8 *m, float8 *y)
{
    float8 a0[4], a1[4];
#pragma unroll
    for (int j = 0; j < 4; j++) {
        a0[j] = m[j] + m[4 + j] + m[8 + j];
        a1[j] = m[4 + j] - m[8 + j] - m[12 + j];
    }
    y[0] = a0[0] + a0[1] + a0[2];
    y[1] = a0[1] - a0[2] - a0[3];
    y[2] = a1[0] + a1[1] + a1[2];
    y[3] = a1[1] - a1[2] - a1[3];
}

/* Y = A^T m A of 6x6 points into y[4 i + j] (wino_output_vec4's operations) */
inline void wino_y4(const float8 *m, float8 *y)
{
    float8 a[4][6];
#pragma unroll
    for (int j = 0; j < 6; j++)
        WINO_AT6(m[j], m[6 + j], m[12 + j], m[18 + j], m[24 + j], m[30 + j], a[0][j], a[1][j], a[2][j], a[3][j]);
#pragma unroll
    for (int i = 0; i < 4; i++)
        WINO_AT6(a[i][0], a[i][1], a[i][2], a[i][3], a[i][4], a[i][5], y[4 * i], y[4 * i + 1], y[4 * i + 2],
                 y[4 * i + 3]);
}

/* Row i of lane l's MT x MT outputs yl[MT * i + j][l] as a vector */
#define WINO_ROW2(yl, i, l) ((float2)(yl[2 * (i)][l], yl[2 * (i) + 1][l]))
#define WINO_ROW4(yl, i, l) ((float4)(yl[4 * (i)][l], yl[4 * (i) + 1][l], yl[4 * (i) + 2][l], yl[4 * (i) + 3][l]))

/* wino_output for the tiles n0 ..: each lane's MT x MT outputs stored a row (VT: MT floats) at a
 * time, element by element where the row is clipped at OW (WINO_STORE / WINO_STORE1: bias,
 * accumulate, residual and activation as in wino_output, the same floats), rows past OH dropped. */
#define WINO_OUTPUT_COLS(NAME, MT, A, XFORM, VT, ROW)                                                           \
    __kernel void NAME(__global float *restrict out, const int out_off, const int C, const int OH, const int OW, \
                       __global const float *restrict m, const int m_ld, const int m_g, __global const float *bias, \
                       const int bias_off, const int has_bias, const int accumulate, const int act,            \
                       __global const float *res, const int res_off, const int has_res, const int TH,           \
                       const int TW, const int nimg)                                                           \
    {                                                                                                          \
        const int c = get_global_id(0), T = TH * TW, ncols = nimg * T;                                         \
        if (c >= C) return;                                                                                    \
        const float bs = has_bias ? bias[bias_off + c] : 0.0f;                                                 \
        for (int blk = 0; blk < WINO_COLS_BLOCKS; blk++) {                                                     \
            const int n0 = ((int)get_global_id(1) * WINO_COLS_BLOCKS + blk) * WINO_VL;                         \
            if (n0 >= ncols) return;                                                                           \
            const int8 n = (int8)(0, 1, 2, 3, 4, 5, 6, 7) + (int8)(n0);                                        \
            int8 t, tx;                                                                                        \
            const int8 img = wino_div8(min(n, (int8)(ncols - 1)), T, &t), ty = wino_div8(t, TW, &tx);          \
            /* the output index of each lane's first output */                                                 \
            const int8 at = (img * (int8)(C) + (int8)(c)) * (int8)(OH * OW) + (int8)(MT) * (ty * (int8)(OW) + tx); \
            int l_at[8], l_oy[8], l_ox[8];                                                                     \
            vstore8(at, 0, l_at);                                                                              \
            vstore8((int8)(MT) * ty, 0, l_oy);                                                                 \
            vstore8((int8)(MT) * tx, 0, l_ox);                                                                 \
            float8 mm[A * A], y8[MT * MT];                                                                     \
            __global const float *mp = m + c * m_ld + n0;                                                      \
            _Pragma("unroll") for (int xi = 0; xi < A * A; xi++) mm[xi] = vload8(0, mp + xi * m_g);            \
            XFORM(mm, y8);                                                                                     \
            float yl[MT * MT][8];                                                                              \
            _Pragma("unroll") for (int k = 0; k < MT * MT; k++) vstore8(y8[k], 0, yl[k]);                      \
            for (int l = 0; l < 8 && n0 + l < ncols; l++) {                                                    \
                const int ni = min(MT, OH - l_oy[l]), nj = min(MT, OW - l_ox[l]);                              \
                for (int i = 0; i < ni; i++) {                                                                 \
                    const int at_ = l_at[l] + i * OW;                                                          \
                    __global float *o = out + out_off + at_;                                                   \
                    __global const float *ro = has_res ? res + res_off + at_ : o;                              \
                    if (nj == MT) WINO_STORE(VT, MT, o, ro, ROW(yl, i, l));                                    \
                    else                                                                                       \
                        for (int j = 0; j < nj; j++) WINO_STORE1(o + j, ro + j, yl[MT * i + j][l]);            \
                }                                                                                              \
            }                                                                                                  \
        }                                                                                                      \
    }
WINO_OUTPUT_COLS(wino_output_cols2, 2, 4, wino_y2, float2, WINO_ROW2)
WINO_OUTPUT_COLS(wino_output_cols4, 4, 6, wino_y4, float4, WINO_ROW4)
