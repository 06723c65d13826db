/* cl/conv_wino_s2_bwd.cl: the data gradient of dense 3x3 stride-2 convolutions in the stride-2 Winograd form transposed (cl/conv_wino_s2.cl's forward): dy classes, their GEMMs with U^T, the gather into dx. */

/* The forward per axis (cl/conv_wino_s2.cl): tile t reads s_i = x[4 t - pad + i] (i = 0..4),
 * v = B^T s = [s0 - s2, s2, s4 - s2, s1, s3], u = G w = [w0, w0 + w2, w2, w1, w1],
 * y0 = m0 + m1 + m3, y1 = m1 + m2 + m4 (m = u .* v). Transposed, per axis:
 *   dm = A dy = [dy0, dy0 + dy1, dy1, dy0, dy1]   (3 distinct values: classes 0 = dy0 for the
 *                                                   planes {0, 3}, 1 = dy0 + dy1 for {1}, 2 = dy1 for {2, 4})
 *   dv_a = u_a dm_a (summed over the output channels: a GEMM with U^T)
 *   ds = B dv: ds0 = dv0, ds1 = dv3, ds2 = dv1 - dv0 - dv2, ds3 = dv4, ds4 = dv2
 * (ds0 = w0 dy0, ds1 = w1 dy0, ds2 = w2 dy0 + w0 dy1, ds3 = w1 dy1, ds4 = w2 dy1: the direct
 * transposed conv). The tiles overlap by one sample, so dx sample 4 t - pad + i gathers
 *   i = 0: dv0(t) + dv2(t - 1),  i = 1: dv3(t),  i = 2: (dv1(t) - dv0(t)) - dv2(t),  i = 3: dv4(t).
 * 2D is the tensor product: 25 planes dv(a, b) = U^T(a, b) DM(class a, class b) with only 3 x 3 = 9
 * distinct dy planes DM (sums of a 2x2 dy tile, 0 outside the output), and the gather a product of
 * the two axes' term lists. Built after conv_wino_s2.cl (its program: host/ops/conv_wino_s2_bwd.c). */

/* DM(ca, cb)(k, n) for the 2x2 dy tiles of a chunk of nimg images at dy_off: tile (ty, tx) of image
 * img is column n = (img * TH + ty) * TW + tx and reads dy rows 2 ty, 2 ty + 1, columns 2 tx, 2 tx + 1
 * of channel k (0 outside OH x OW; 0 at n >= nimg * TH * TW). Planes cls = 3 ca + cb, dm_g apart, in
 * conv_gemm_nn's column panels (b_contig 2, as wino_s2_input's V): (k, n) at
 * cls * dm_g + ((n / CONV_NB) * K + k) * CONV_NB + n % CONV_NB. A work-item fills one panel for
 * WINO_S2_BWD_CB channels, 8 tiles as the lanes of a float8.
 * Global: (ceil(K / WINO_S2_BWD_CB), dm_ld / CONV_NB). */
#define WINO_S2_BWD_CB 4 /* host/ops/conv_wino_s2_bwd.c S2_CB */
__kernel void wino_s2_bwd_input(__global float *restrict dm, const int dm_ld, const int dm_g,
                                __global const float *restrict dy, const int dy_off, const int K, const int OH,
                                const int OW, const int TH, const int TW, const int nimg)
{
    const int cb = get_global_id(0) * WINO_S2_BWD_CB, pn = get_global_id(1), T = TH * TW, ncols = nimg * T;
    if (cb >= K || pn * CONV_NB >= dm_ld) return;
    for (int q = 0; q < CONV_NB; q += WINO_VL) {
        const int8 n = (int8)(0, 1, 2, 3, 4, 5, 6, 7) + (int8)(pn * CONV_NB + q);
        const int8 live = n < (int8)(ncols), nn = select((int8)(ncols - 1), n, live);
        int8 t, tx;
        const int8 img = wino_div8(nn, T, &t), ty = wino_div8(t, TW, &tx);
        const int8 y0 = (int8)(2) * ty, x0 = (int8)(2) * tx, ib = (int8)(dy_off) + img * (int8)(K * OH * OW);
        int8 off[2][2], ok[2][2];
#pragma unroll
        for (int r = 0; r < 2; r++) {
            const int8 iy = y0 + (int8)(r), rv = live & (iy < (int8)(OH));
#pragma unroll
            for (int j = 0; j < 2; j++) {
                const int8 ix = x0 + (int8)(j);
                ok[r][j] = rv & (ix < (int8)(OW));
                off[r][j] = select(ib, ib + iy * (int8)(OW) + ix, ok[r][j]); /* in bounds where masked */
            }
        }
        for (int c = cb; c < min(cb + WINO_S2_BWD_CB, K); c++) {
            __global const float *dc = dy + c * OH * OW;
            float8 d[2][2];
#pragma unroll
            for (int r = 0; r < 2; r++)
#pragma unroll
                for (int j = 0; j < 2; j++) {
                    const int8 o = off[r][j];
                    const float8 g =
                        (float8)(dc[o.s0], dc[o.s1], dc[o.s2], dc[o.s3], dc[o.s4], dc[o.s5], dc[o.s6], dc[o.s7]);
                    d[r][j] = select((float8)(0.0f), g, ok[r][j]);
                }
            /* the row classes of each column: dy0, dy0 + dy1, dy1 */
            const float8 rc[3][2] = {{d[0][0], d[0][1]}, {d[0][0] + d[1][0], d[0][1] + d[1][1]}, {d[1][0], d[1][1]}};
            __global float *dp = dm + (pn * K + c) * CONV_NB + q;
#pragma unroll
            for (int ca = 0; ca < 3; ca++) {
                vstore8(rc[ca][0], 0, dp + (3 * ca) * dm_g);
                vstore8(rc[ca][0] + rc[ca][1], 0, dp + (3 * ca + 1) * dm_g);
                vstore8(rc[ca][1], 0, dp + (3 * ca + 2) * dm_g);
            }
        }
    }
}

/* The planes of each class along an axis (WINO_S2_BWD_PLANES[class][.], -1: none), and each plane
 * a's place in wino_s2_weights16's flipped (180-degree rotated) packing: G applied to (w2, w1, w0) is
 * [w2, w0 + w2, w0, w1, w1], i.e. u with planes 0 and 2 swapped. */
__constant int WINO_S2_BWD_PLANES[3][2] = {{0, 3}, {1, -1}, {2, 4}};
__constant int WINO_S2_BWD_ROT[5] = {2, 1, 0, 3, 4};

/* dv(a, b) = U^T(a, b) DM(class a, class b): a work-item takes conv_gemm_nn's register block
 * (CONV_MB input channels m0.. x CONV_NB tile columns n0..) through the 25 planes, class by class
 * (the planes of a class read the same DM block, K x CONV_NB floats, from L1), over the K output
 * channels, and stores each plane's block: dv (m, n) of plane 5 a + b at (5 a + b) * dv_g + m * dv_ld + n.
 * U: wino_s2_weights16's flipped packed planes (M = cin rows in nmb panels of the 16 distinct
 * planes, K = cout: plane xi of panel mb at (mb * 16 + WINO_S2_UXI[xi]) * K * CONV_MB; 16 instead of
 * 25 planes a panel: ResNet-18 layer2.0's U^T 512 instead of 800 KiB);
 * DM: wino_s2_bwd_input's 9 planes. Global: (nmb, ceil(ncols / CONV_NB)). */
__kernel void wino_s2_bwd_gemm(__global float *restrict dv, const int dv_ld, const int dv_g, const int M,
                               const int ncols, __global const float *restrict u, const int nmb,
                               __global const float *restrict dm, const int dm_g, const int K)
{
    const int mb = get_global_id(0), n0 = get_global_id(1) * CONV_NB, m0 = mb * CONV_MB;
    if (mb >= nmb || n0 >= ncols) return;
    for (int cls = 0; cls < 9; cls++) {
        const int ca = cls / 3, cb = cls - 3 * ca;
        __global const float *bp = dm + cls * dm_g + n0 * K;
        for (int e = 0; e < 4; e++) {
            const int a = WINO_S2_BWD_PLANES[ca][e >> 1], b = WINO_S2_BWD_PLANES[cb][e & 1];
            if (a < 0 || b < 0) continue;
            const int xr = 5 * WINO_S2_BWD_ROT[a] + WINO_S2_BWD_ROT[b];
            convV acc[CONV_MB][CONV_NV];
#pragma unroll
            for (int i = 0; i < CONV_MB; i++)
#pragma unroll
                for (int w = 0; w < CONV_NV; w++) acc[i][w] = (convV)(0.0f);
            conv_nn_run(acc, u + ((size_t)mb * 16 + WINO_S2_UXI[xr]) * K * CONV_MB, bp, K, CONV_NB);
            __global float *cp = dv + (5 * a + b) * dv_g + n0;
#pragma unroll
            for (int i = 0; i < CONV_MB; i++) {
                if (m0 + i >= M) break;
#pragma unroll
                for (int w = 0; w < CONV_NV; w++) conv_vstore(acc[i][w], w, cp + (m0 + i) * dv_ld);
            }
        }
    }
}

/* The columns' gather (the header's, along x) for 8 tiles tc0 .. tc0 + 7 of tile row tr at row c
 * (dc: dv plane 0's row c; plane a's row at a * dv_g): c[j] = the 4 dx samples j of each tile (lane)
 * from dv(a, 0..4) of the tile and dv(a, 2) of the tile on its left (0 outside the TH x TW tiles:
 * lane tc = TW takes only its left tile's dv(a, 2)). */
inline void wino_s2_bwd_cols8(__global const float *dc, const int dv_g, const int a, const int n0, const int8 in,
                              const int8 left, float8 c[4])
{
    __global const float *p = dc + 5 * a * dv_g + n0;
    const float8 z = (float8)(0.0f);
    const float8 v0 = select(z, vload8(0, p), in), v1 = select(z, vload8(0, p + dv_g), in);
    const float8 v2 = select(z, vload8(0, p + 2 * dv_g), in), l2 = select(z, vload8(0, p + 2 * dv_g - 1), left);
    c[0] = v0 + l2;
    c[1] = select(z, vload8(0, p + 3 * dv_g), in);
    c[2] = (v1 - v0) - v2;
    c[3] = select(z, vload8(0, p + 4 * dv_g), in);
}

/* dx (+)= the gather of the 25 dv planes (rows of dv_ld, planes dv_g apart; image img's tile
 * (ty, tx) at column (img * TH + ty) * TW + tx, input channel c at row c) for a chunk of images at
 * dx_off: a work-item takes tile row ty (dx rows 4 ty - ph + i, i = 0..3) and 8 tile columns
 * tx0 .. tx0 + 7 (dx columns 4 tx0 - pw .. + 31) of one channel plane, the columns' terms
 * (wino_s2_bwd_cols8: the tiles as lanes) combined along the rows (i = 0: dv(0, .)(ty) +
 * dv(2, .)(ty - 1); 1: dv(3, .); 2: (dv(1, .) - dv(0, .)) - dv(2, .); 3: dv(4, .)), interleaved
 * into 4 float8 of 32 consecutive samples per row (element-wise at the image's edges).
 * Global: (ceil((TW + 1) / 8), TH + 1, nimg * C): tile row TH / column TW hold only the samples
 * the last tiles' ds4 reach. */
__kernel void wino_s2_bwd_output(__global float *restrict dx, const int dx_off, const int C, const int H,
                                 const int W, const int ph, const int pw, __global const float *restrict dv,
                                 const int dv_ld, const int dv_g, const int TH, const int TW)
{
    const int tx0 = get_global_id(0) * 8, ty = get_global_id(1), ic = get_global_id(2);
    const int x0 = 4 * tx0 - pw, yb = 4 * ty - ph;
    if (x0 >= W || yb >= H || ty > TH) return;
    const int img = ic / C, c = ic - img * C;
    __global const float *dc = dv + c * dv_ld;
    const int8 tx = (int8)(0, 1, 2, 3, 4, 5, 6, 7) + (int8)(tx0);
    const int8 in = tx < (int8)(TW), left = tx >= (int8)(1) && tx <= (int8)(TW);
    const int8 none = (int8)(0);
    float8 r[4][4]; /* [row i][column j], lanes: tiles */
    const int n0 = (img * TH + ty) * TW + tx0, np = n0 - TW; /* tile row ty, ty - 1 */
    float8 a0[4], a2[4], t[4];
    if (ty < TH) {
        wino_s2_bwd_cols8(dc, dv_g, 0, n0, in, left, a0);
        wino_s2_bwd_cols8(dc, dv_g, 2, n0, in, left, a2);
    } else
        for (int j = 0; j < 4; j++) a0[j] = a2[j] = (float8)(0.0f);
    if (ty >= 1) wino_s2_bwd_cols8(dc, dv_g, 2, np, in, left, t);
    else
        for (int j = 0; j < 4; j++) t[j] = (float8)(0.0f);
    for (int j = 0; j < 4; j++) r[0][j] = a0[j] + t[j];
    wino_s2_bwd_cols8(dc, dv_g, 1, n0, ty < TH ? in : none, ty < TH ? left : none, t);
    for (int j = 0; j < 4; j++) r[2][j] = (t[j] - a0[j]) - a2[j];
    wino_s2_bwd_cols8(dc, dv_g, 3, n0, ty < TH ? in : none, ty < TH ? left : none, r[1]);
    wino_s2_bwd_cols8(dc, dv_g, 4, n0, ty < TH ? in : none, ty < TH ? left : none, r[3]);
    for (int i = 0; i < 4; i++) {
        const int y = yb + i;
        if (y < 0 || y >= H) continue;
        __global float *o = dx + dx_off + (ic * H + y) * W + x0;
        const float8 *q = r[i];
        /* 32 samples: tile l's 4 at 4 l .. 4 l + 3 */
        const float8 e[4] = {(float8)(q[0].s0, q[1].s0, q[2].s0, q[3].s0, q[0].s1, q[1].s1, q[2].s1, q[3].s1),
                             (float8)(q[0].s2, q[1].s2, q[2].s2, q[3].s2, q[0].s3, q[1].s3, q[2].s3, q[3].s3),
                             (float8)(q[0].s4, q[1].s4, q[2].s4, q[3].s4, q[0].s5, q[1].s5, q[2].s5, q[3].s5),
                             (float8)(q[0].s6, q[1].s6, q[2].s6, q[3].s6, q[0].s7, q[1].s7, q[2].s7, q[3].s7)};
        for (int h = 0; h < 4; h++) {
            const int xs = x0 + 8 * h;
            if (xs >= W) break;
            if (xs >= 0 && xs + 8 <= W) {
                vstore8(vload8(0, o + 8 * h) + e[h], 0, o + 8 * h);
                continue;
            }
            float f[8];
            vstore8(e[h], 0, f);
            for (int l = 0; l < 8; l++)
                if (xs + l >= 0 && xs + l < W) o[8 * h + l] += f[l];
        }
    }
}
