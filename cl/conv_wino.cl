/* cl/conv_wino.cl: Winograd F(2x2, 3x3) and F(4x4, 3x3) input and output tile transforms of dense 3x3 stride-1 convolutions (the weight transform: conv_wino_weights.cl). */

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

/* Tiles tx_a .. tx_b - 1 of row ty of tiles of channel plane xc (H x W) into vp[xi * v_g + tx],
 * one tile at a time, the two columns that neighbouring tiles share transformed once (the tiles
 * wino_input_vec2 cannot take). */
__attribute__((always_inline)) inline void wino_input_row2(__global float *vp, const int v_g, __global const float *xc, const int H, const int W,
                            const int ph, const int pw, const int ty, const int tx_a, const int tx_b)
{
    __global const float *rp[4];
    int rvs[4];
    wino_tile_rows(xc, H, W, 2 * ty - ph, 4, rp, rvs);
    const int4 rv = -(int4)(rvs[0], rvs[1], rvs[2], rvs[3]);
    float4 t0 = wino_bt(wino_col(rp, rv, 2 * tx_a - pw, W)), t1 = wino_bt(wino_col(rp, rv, 2 * tx_a + 1 - pw, W));
    for (int tx = tx_a; tx < tx_b; tx++) {
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

/* WINO_VL (8) tiles of a tile row at once, lanes = tiles: tile tx0 + l reads input columns
 * b + 2 l .. b + 2 l + 3 (b = 2 tx0 - pw) of rows y0 .. y0 + 3, i.e. row segments of 18 floats
 * loaded as vectors and split into even / odd lanes. Columns outside 0 .. W - 1 are masked to 0,
 * rows outside are not read; the caller checks that the segments lie inside the tensor (they may
 * reach into the neighbouring rows, whose values the masks drop). The same operations in the same
 * order as wino_input_row2: the same floats. The first nt (<= 8) tiles are stored, at
 * vp[xi * v_g + l] (all 8 when nt is 8: the caller passes 8 where the lanes past the row's end
 * land on the next row of tiles of the same image, which it writes afterwards). */
#define WINO_VL 8
/* The first n (< 8) lanes of v into p[0 .. n) */
inline void wino_store_part8(float8 v, const int n, __global float *p)
{
    if (n & 4) {
        vstore4(v.lo, 0, p);
        p += 4;
        v.lo = v.hi;
    }
    if (n & 2) {
        vstore2(v.s01, 0, p);
        p += 2;
        v.s0 = v.s2;
    }
    if (n & 1) p[0] = v.s0;
}

/* V = B^T d B of 4x4 tiles d[row][column] into v[4 row + column] (wino_input_vec2, wino_input_cols2) */
inline void wino_v4(float8 d[4][4], float8 *v)
{
    float8 t[4][4]; /* B^T d */
#pragma unroll
    for (int j = 0; j < 4; j++) {
        t[0][j] = d[0][j] - d[2][j];
        t[1][j] = d[1][j] + d[2][j];
        t[2][j] = d[2][j] - d[1][j];
        t[3][j] = d[1][j] - d[3][j];
    }
#pragma unroll
    for (int r = 0; r < 4; r++) {
        v[4 * r] = t[r][0] - t[r][2];
        v[4 * r + 1] = t[r][1] + t[r][2];
        v[4 * r + 2] = t[r][2] - t[r][1];
        v[4 * r + 3] = t[r][1] - t[r][3];
    }
}

inline void wino_input_vec2(__global float *vp, const int v_g, __global const float *xc, const int H, const int W,
                            const int y0, const int b, const int nt)
{
    const int8 lane2 = (int8)(0, 2, 4, 6, 8, 10, 12, 14) + (int8)(b);
    int8 cm[4]; /* column j of every tile inside the image */
#pragma unroll
    for (int j = 0; j < 4; j++) cm[j] = (lane2 + (int8)(j) >= (int8)(0)) & (lane2 + (int8)(j) < (int8)(W));
    float8 d[4][4]; /* d: [row][column j] */
#pragma unroll
    for (int r = 0; r < 4; r++) {
        const int iy = y0 + r;
        if ((uint)iy < (uint)H) {
            __global const float *p = xc + iy * W + b;
            const float16 a = vload16(0, p);
            const float2 e = vload2(0, p + 16);
            d[r][0] = select((float8)(0.0f), a.even, cm[0]);
            d[r][1] = select((float8)(0.0f), a.odd, cm[1]);
            d[r][2] = select((float8)(0.0f), (float8)(a.s2, a.s4, a.s6, a.s8, a.sa, a.sc, a.se, e.s0), cm[2]);
            d[r][3] = select((float8)(0.0f), (float8)(a.s3, a.s5, a.s7, a.s9, a.sb, a.sd, a.sf, e.s1), cm[3]);
        } else {
            d[r][0] = d[r][1] = d[r][2] = d[r][3] = (float8)(0.0f);
        }
    }
    float8 v[16]; /* (B^T d) B: xi = 4 row + column */
    wino_v4(d, v);
    if (nt == WINO_VL) {
#pragma unroll
        for (int xi = 0; xi < 16; xi++) vstore8(v[xi], 0, vp + xi * v_g);
    } else {
#pragma unroll
        for (int xi = 0; xi < 16; xi++) wino_store_part8(v[xi], nt, vp + xi * v_g);
    }
}

/* WINO_VL tiles tx0 .. tx0 + 7 of row ty at once (lanes = tiles; M read as vectors from
 * mp[xi * m_g + l], which may run past the row: conv_wino.c leaves room after the last plane),
 * the first nt of them stored: A^T m A, plus bs or added to op (accumulate), clipped at the
 * plane's edge. When all 8 tiles are inside the plane, each output row is one interleaved float16
 * store. */
/* Stores o = act((accumulate ? o : bs) + r [+ ro]) (act: CONV_ACT of cl/conv_act.cl, 0 with
 * accumulate; ro: the residual at o's position where has_res, added after the bias and before the
 * activation, in the order of conv + bias then fcl_act_add_fwd: the same floats) */
#define WINO_STORE(T, N, o, ro, r)                                              \
    do {                                                                        \
        T v_ = (accumulate ? vload##N(0, (o)) : (T)(bs)) + (r);                 \
        if (has_res) v_ += vload##N(0, (ro));                                   \
        vstore##N(CONV_ACT(T, v_, act), 0, (o));                                \
    } while (0)
#define WINO_STORE1(o, ro, r)                                                   \
    do {                                                                        \
        float v_ = (accumulate ? *(o) : bs) + (r);                              \
        if (has_res) v_ += *(ro);                                               \
        *(o) = CONV_ACT(float, v_, act);                                        \
    } while (0)
/* The first n (< 16) values of r into o[0 .. n) (WINO_STORE) */
inline void wino_out_part(float16 r, const int n, __global float *o, __global const float *ro, const float bs,
                          const int accumulate, const int act, const int has_res)
{
    if (n & 8) {
        WINO_STORE(float8, 8, o, ro, r.lo);
        o += 8;
        ro += 8;
        r.lo = r.hi;
    }
    if (n & 4) {
        WINO_STORE(float4, 4, o, ro, r.s0123);
        o += 4;
        ro += 4;
        r.s0123 = r.s4567;
    }
    if (n & 2) {
        WINO_STORE(float2, 2, o, ro, r.s01);
        o += 2;
        ro += 2;
        r.s0 = r.s2;
    }
    if (n & 1) WINO_STORE1(o, ro, r.s0);
}

/* The 2x2 outputs y[i][j] (lanes = tiles tx0 .. tx0 + 7) of row ty of tiles stored by WINO_STORE:
 * the first nt tiles, clipped at the plane's edge (F(2x2, 3x3) and cl/conv_wino_s2.cl) */
__attribute__((always_inline)) inline void wino_store2x2(__global float *op, __global const float *rp, const int OH, const int OW, float8 y[2][2],
                                                          const float bs, const int accumulate, const int act, const int has_res,
                                                          const int ty, const int tx0, const int nt)
{
    const int ox = 2 * tx0;
#pragma unroll
    for (int i = 0; i < 2; i++) {
        if (2 * ty + i >= OH) break;
        __global float *o = op + (2 * ty + i) * OW + ox;
        __global const float *ro = rp + (2 * ty + i) * OW + ox;
        const float16 r = shuffle2(y[i][0], y[i][1], (uint16)(0, 8, 1, 9, 2, 10, 3, 11, 4, 12, 5, 13, 6, 14, 7, 15));
        if (nt == WINO_VL && ox + 2 * WINO_VL <= OW) WINO_STORE(float16, 16, o, ro, r);
        else wino_out_part(r, min(2 * nt, OW - ox), o, ro, bs, accumulate, act, has_res);
    }
}

inline void wino_output_vec2(__global float *op, __global const float *rp, const int OH, const int OW,
                             __global const float *mp, const int m_g, const float bs, const int accumulate,
                             const int act, const int has_res, const int ty, const int tx0, const int nt)
{
    /* A^T m: a0[j] = m[j] + m[4 + j] + m[8 + j], a1[j] = m[4 + j] - m[8 + j] - m[12 + j] (j = column) */
#define WINO_AT_COL(j, a0, a1)                                                                          \
    do {                                                                                                \
        const float8 m0_ = vload8(0, mp + (j) * m_g), m1_ = vload8(0, mp + (4 + (j)) * m_g);            \
        const float8 m2_ = vload8(0, mp + (8 + (j)) * m_g), m3_ = vload8(0, mp + (12 + (j)) * m_g);     \
        a0 = m0_ + m1_ + m2_;                                                                           \
        a1 = m1_ - m2_ - m3_;                                                                           \
    } while (0)
    float8 a00, a01, a02, a03, a10, a11, a12, a13;
    WINO_AT_COL(0, a00, a10);
    WINO_AT_COL(1, a01, a11);
    WINO_AT_COL(2, a02, a12);
    WINO_AT_COL(3, a03, a13);
#undef WINO_AT_COL
    float8 y[2][2];
    y[0][0] = a00 + a01 + a02;
    y[0][1] = a01 - a02 - a03;
    y[1][0] = a10 + a11 + a12;
    y[1][1] = a11 - a12 - a13;
    wino_store2x2(op, rp, OH, OW, y, bs, accumulate, act, has_res, ty, tx0, nt);
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
 * tile's first two (the tiles wino_input_vec4 cannot take). */
__attribute__((always_inline)) inline void wino_input_row4(__global float *vp, const int v_g, __global const float *xc, const int H, const int W,
                            const int ph, const int pw, const int ty, const int tx_a, const int tx_b)
{
    __global const float *rp[6];
    int rvs[6];
    wino_tile_rows(xc, H, W, 4 * ty - ph, 6, rp, rvs);
    const int8 rv = -(int8)(rvs[0], rvs[1], rvs[2], rvs[3], rvs[4], rvs[5], 0, 0);
    float8 t[6];
    t[4] = wino_col6(rp, rv, 4 * tx_a - pw, W);
    t[5] = wino_col6(rp, rv, 4 * tx_a + 1 - pw, W);
    for (int tx = tx_a; tx < tx_b; tx++) {
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

/* wino_input_vec2 for 6x6 tiles at stride 4: tile tx0 + l reads columns b + 4 l .. b + 4 l + 5
 * (b = 4 tx0 - pw) of rows y0 .. y0 + 5, row segments of 34 floats. Same operations in the same
 * order as wino_input_row4. */
inline void wino_input_vec4(__global float *vp, const int v_g, __global const float *xc, const int H, const int W,
                            const int y0, const int b, const int nt)
{
    const int8 lane4 = (int8)(0, 4, 8, 12, 16, 20, 24, 28) + (int8)(b);
    float8 d[6][6]; /* d: [row][column j], lanes = tiles */
#pragma unroll
    for (int r = 0; r < 6; r++) {
        const int iy = y0 + r;
        if ((uint)iy < (uint)H) {
            __global const float *p = xc + iy * W + b;
            const float16 a = vload16(0, p), c = vload16(0, p + 16);
            const float2 e = vload2(0, p + 32);
            d[r][0] = shuffle2(a, c, (uint8)(0, 4, 8, 12, 16, 20, 24, 28));
            d[r][1] = shuffle2(a, c, (uint8)(1, 5, 9, 13, 17, 21, 25, 29));
            d[r][2] = shuffle2(a, c, (uint8)(2, 6, 10, 14, 18, 22, 26, 30));
            d[r][3] = shuffle2(a, c, (uint8)(3, 7, 11, 15, 19, 23, 27, 31));
            d[r][4] = shuffle2(a, c, (uint8)(4, 8, 12, 16, 20, 24, 28, 0));
            d[r][5] = shuffle2(a, c, (uint8)(5, 9, 13, 17, 21, 25, 29, 0));
            d[r][4].s7 = e.s0;
            d[r][5].s7 = e.s1;
#pragma unroll
            for (int j = 0; j < 6; j++)
                d[r][j] = select((float8)(0.0f), d[r][j],
                                 (lane4 + (int8)(j) >= (int8)(0)) & (lane4 + (int8)(j) < (int8)(W)));
        } else {
#pragma unroll
            for (int j = 0; j < 6; j++) d[r][j] = (float8)(0.0f);
        }
    }
    float8 t[6][6]; /* B^T d: [row][column j] */
#pragma unroll
    for (int j = 0; j < 6; j++)
        WINO_BT6(d[0][j], d[1][j], d[2][j], d[3][j], d[4][j], d[5][j], t[0][j], t[1][j], t[2][j], t[3][j], t[4][j],
                 t[5][j]);
#pragma unroll
    for (int r = 0; r < 6; r++) {
        float8 v[6]; /* (B^T d) B: xi = 6 r + column */
        WINO_BT6(t[r][0], t[r][1], t[r][2], t[r][3], t[r][4], t[r][5], v[0], v[1], v[2], v[3], v[4], v[5]);
#pragma unroll
        for (int c = 0; c < 6; c++) {
            if (nt == WINO_VL) vstore8(v[c], 0, vp + (6 * r + c) * v_g);
            else wino_store_part8(v[c], nt, vp + (6 * r + c) * v_g);
        }
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

/* wino_output_vec2 for 6x6 tiles (4x4 outputs each, 36 planes; 8 tiles, 32 output columns). */
inline void wino_output_vec4(__global float *op, __global const float *rp, const int OH, const int OW,
                             __global const float *mp, const int m_g, const float bs, const int accumulate,
                             const int act, const int has_res, const int ty, const int tx0, const int nt)
{
    float8 a[4][6]; /* A^T m: [row i][column j], lanes = tiles */
#pragma unroll
    for (int j = 0; j < 6; j++) {
        float8 m[6];
#pragma unroll
        for (int r = 0; r < 6; r++) m[r] = vload8(0, mp + (6 * r + j) * m_g);
        WINO_AT6(m[0], m[1], m[2], m[3], m[4], m[5], a[0][j], a[1][j], a[2][j], a[3][j]);
    }
    const int ox = 4 * tx0, n = min(4 * nt, OW - ox);
#pragma unroll
    for (int i = 0; i < 4; i++) {
        if (4 * ty + i >= OH) break;
        float8 y0, y1, y2, y3;
        WINO_AT6(a[i][0], a[i][1], a[i][2], a[i][3], a[i][4], a[i][5], y0, y1, y2, y3);
        /* output column 4 l + j of the 8 tiles l: y_j lane l */
        const uint16 zip = (uint16)(0, 8, 1, 9, 2, 10, 3, 11, 4, 12, 5, 13, 6, 14, 7, 15);
        const float16 p01 = shuffle2(y0, y1, zip), p23 = shuffle2(y2, y3, zip);
        const float16 lo = shuffle2(p01, p23, (uint16)(0, 1, 16, 17, 2, 3, 18, 19, 4, 5, 20, 21, 6, 7, 22, 23));
        const float16 hi = shuffle2(p01, p23, (uint16)(8, 9, 24, 25, 10, 11, 26, 27, 12, 13, 28, 29, 14, 15, 30, 31));
        __global float *o = op + (4 * ty + i) * OW + ox;
        __global const float *ro = rp + (4 * ty + i) * OW + ox;
        if (n >= 16) {
            WINO_STORE(float16, 16, o, ro, lo);
            if (n == 32) WINO_STORE(float16, 16, o + 16, ro + 16, hi);
            else wino_out_part(hi, n - 16, o + 16, ro + 16, bs, accumulate, act, has_res);
        } else {
            wino_out_part(lo, n, o, ro, bs, accumulate, act, has_res);
        }
    }
}

/* ---- the transform kernels of both (m = 2: F(2x2, 3x3), 4: F(4x4, 3x3)) ---- */

/* V[xi][c][n] = (B^T d B)[xi] for the a x a input tiles d of a chunk of nimg images starting at
 * x_off: tile (ty, tx) of image img is column n = (img * TH + ty) * TW + tx and reads rows
 * m ty - ph .. + a - 1, columns m tx - pw .. + a - 1 of channel c (0 outside the H x W image).
 * Rows of V are v_ld long, xi planes v_g apart. One work-item transforms one channel of one image
 * (PoCL runs small work-items at a high cost each). F(2x2, 3x3) takes WINO_VL tiles at a time
 * where their row segments lie inside the tensor's elements x_lo .. x_hi - 1 (all but the first
 * and last rows of the tensor), else one at a time. Maps of at most 4 tiles a row: conv_wino_cols.cl.
 * Global: (C, nimg). */
__kernel void wino_input(__global float *restrict v, const int v_ld, const int v_g,
                         __global const float *restrict x, const int x_off, const int x_lo, const int x_hi,
                         const int C, const int H, const int W, const int ph, const int pw, const int TH,
                         const int TW, const int nimg, const int m)
{
    const int c = get_global_id(0), img = get_global_id(1);
    if (c >= C || img >= nimg) return;
    const int plane = x_off + (img * C + c) * H * W;
    __global const float *xc = x + plane;
    for (int ty = 0; ty < TH; ty++) {
        __global float *vp = v + c * v_ld + (img * TH + ty) * TW;
        const int y0 = m * ty - ph, r_lo = max(y0, 0), r_hi = min(y0 + m + 1, H - 1); /* the rows read */
        for (int tx0 = 0; tx0 < TW; tx0 += WINO_VL) {
            /* a row's last vector may spill into the next rows of tiles (written afterwards) while it
             * stays inside this image's tiles */
            const int nt = (ty * TW + tx0 + WINO_VL <= TH * TW) ? WINO_VL : min(WINO_VL, TW - tx0), b = m * tx0 - pw;
            const int tx_b = min(TW, tx0 + WINO_VL);
            if (r_lo > r_hi || (plane + r_lo * W + b >= x_lo && plane + r_hi * W + b + m * WINO_VL + 2 <= x_hi)) {
                if (m == 4) wino_input_vec4(vp + tx0, v_g, xc, H, W, y0, b, nt);
                else wino_input_vec2(vp + tx0, v_g, xc, H, W, y0, b, nt);
            } else if (m == 4) {
                wino_input_row4(vp, v_g, xc, H, W, ph, pw, ty, tx0, tx_b);
            } else {
                wino_input_row2(vp, v_g, xc, H, W, ph, pw, ty, tx0, tx_b);
            }
        }
    }
}

/* out[img][c][m ty + i][m tx + j] (+)= (A^T M A)[i][j] (+ bias[c]) for the tiles of a chunk of
 * nimg images, M = M[xi][c][n] with n as in wino_input (rows m_ld long, xi planes m_g apart);
 * outputs past OH x OW (the last tile row / column of an odd size) are dropped. accumulate != 0
 * adds to out (the data gradient's dx +=), else out is overwritten with act(conv + bias [+ res])
 * (act: the forward's fused activation, cl/conv_act.cl's CONV_ACT, 0 with accumulate; res, where
 * has_res, a residual shaped like out: fcl_conv2d_fwd_res). One work-item per channel of
 * an image; F(2x2, 3x3) reads M WINO_VL tiles at a time (up to WINO_VL - 1 floats past the
 * last plane's last column: conv_wino.c allocates them); maps of at most 4 tiles a row:
 * conv_wino_cols.cl. mt 1: M is 4 planes y[2 i + j] of 2x2 outputs already summed (cl/conv_wino_s2.cl's
 * wino_s2_gemm), only interleaved here. Global: (C, nimg). */
__kernel void wino_output(__global float *restrict out, const int out_off, const int C, const int OH, const int OW,
                          __global const float *restrict m, const int m_ld, const int m_g,
                          __global const float *bias, const int bias_off, const int has_bias, const int accumulate,
                          const int act, __global const float *res, const int res_off, const int has_res,
                          const int TH, const int TW, const int nimg, const int mt)
{
    const int c = get_global_id(0), img = get_global_id(1);
    if (c >= C || img >= nimg) return;
    const float bs = has_bias ? bias[bias_off + c] : 0.0f;
    __global float *op = out + out_off + (img * C + c) * OH * OW;
    __global const float *rp = has_res ? res + res_off + (img * C + c) * OH * OW : op;
    for (int ty = 0; ty < TH; ty++) {
        __global const float *mp = m + c * m_ld + (img * TH + ty) * TW;
        for (int tx0 = 0; tx0 < TW; tx0 += WINO_VL) {
            const int nt = min(WINO_VL, TW - tx0);
            if (mt == 4) {
                wino_output_vec4(op, rp, OH, OW, mp + tx0, m_g, bs, accumulate, act, has_res, ty, tx0, nt);
            } else if (mt == 1) { /* the 4 planes hold the 2x2 outputs' sums already */
                float8 y[2][2];
                y[0][0] = vload8(0, mp + tx0);
                y[0][1] = vload8(0, mp + tx0 + m_g);
                y[1][0] = vload8(0, mp + tx0 + 2 * m_g);
                y[1][1] = vload8(0, mp + tx0 + 3 * m_g);
                wino_store2x2(op, rp, OH, OW, y, bs, accumulate, act, has_res, ty, tx0, nt);
            } else {
                wino_output_vec2(op, rp, OH, OW, mp + tx0, m_g, bs, accumulate, act, has_res, ty, tx0, nt);
            }
        }
    }
}
