/* cl/conv_dw.cl: depthwise 2-D convolution (groups == in channels == out channels), any kernel
 * size, stride, padding and dilation; forward, backward data and backward weight. */

/* Each work-item handles 8 adjacent output (or input) columns of one row as a float8: PoCL does
 * not vectorise across work-items once a kernel has loops, so the SIMD is explicit. Rows read
 * fully inside the image use vload8 (stride 1) or vload16 + .even (stride 2); rows touching the
 * padding or the image edge fall back to per-lane loads. */

/* Helpers returning float8s through pointers must be inlined: PoCL otherwise keeps dw3_row a
 * call (9 float8 out-parameters through memory per row, measured ~half of conv_dw3_fwd's time). */
#ifdef __clang__
#define DW_INLINE inline __attribute__((always_inline))
#else
#define DW_INLINE inline
#endif

/* x[ix0 + l * s] for lanes l < nlanes with 0 <= ix < W; other lanes read 0. */
inline float8 dw_load_row(__global const float *xr, int ix0, int s, int W, int nlanes)
{
    if (nlanes == 8 && ix0 >= 0) {
        if (s == 1 && ix0 + 7 < W) return vload8(0, xr + ix0);
        if (s == 2 && ix0 + 15 < W) return vload16(0, xr + ix0).even;
    }
    float t[8];
    for (int l = 0; l < 8; l++) {
        const int ix = ix0 + l * s;
        t[l] = l < nlanes && ix >= 0 && ix < W ? xr[ix] : 0.0f;
    }
    return vload8(0, t);
}

/* Stores the first nl (<= 8) lanes of v at p (accumulate: adds them to what is there). A partial
 * strip (7x7 and 4x4 planes, the last 4 or 6 columns of 28 or 14) goes as float4 + float2 +
 * float pieces: a per-lane loop cost ~40 instructions an output row of a 7x7 plane (callgrind). */
inline void dw_store8(__global float *p, float8 v, int nl, int accumulate)
{
    if (nl == 8) {
        vstore8(accumulate ? vload8(0, p) + v : v, 0, p);
        return;
    }
    float t[8];
    vstore8(v, 0, t);
    int o = 0;
    if (nl & 4) {
        const float4 q = vload4(0, t);
        vstore4(accumulate ? vload4(0, p) + q : q, 0, p);
        o = 4;
    }
    if (nl & 2) {
        const float2 q = vload2(0, t + o);
        vstore2(accumulate ? vload2(0, p + o) + q : q, 0, p + o);
        o += 2;
    }
    if (nl & 1) p[o] = accumulate ? p[o] + t[o] : t[o];
}

/* 8 floats from p, of which the first n are real and the rest read as 0. */
inline float8 dw_load8_part(__global const float *p, int n)
{
    if (n >= 8) return vload8(0, p);
    float t[8];
    for (int j = 0; j < 8; j++) t[j] = j < n ? p[j] : 0.0f;
    return vload8(0, t);
}

/* y[img][c][oy][ox] = act(bias[c] + sum over (kh, kw) of w[c][kh][kw] *
 *                     x[img][c][oy * sh - ph + kh * dh][ox * sw - pw + kw * dw])  (0 outside),
 * act an fcl_conv2d_act (cl/conv_act.cl).
 * x [N][C][H][W], w [C][1][KH][KW], y [N][C][OH][OW]. Global: (ceil(OW / 8), OH, N * C). */
__kernel void conv_dw_fwd(__global float *y, const int y_off, __global const float *x,
                          const int x_off, __global const float *w, const int w_off,
                          __global const float *bias, const int bias_off, const int has_bias,
                          const int act, const int C, const int H, const int W, const int KH, const int KW,
                          const int sh, const int sw, const int ph, const int pw, const int dh,
                          const int dw, const int OH, const int OW)
{
    const int ox0 = get_global_id(0) * 8, oy = get_global_id(1), nc = get_global_id(2);
    if (ox0 >= OW || oy >= OH) return;
    const int c = nc % C;
    const int nl = min(8, OW - ox0);
    __global const float *xc = x + x_off + nc * H * W;
    __global const float *wc = w + w_off + c * KH * KW;
    float8 acc = (float8)(has_bias ? bias[bias_off + c] : 0.0f);
    for (int kh = 0; kh < KH; kh++) {
        const int iy = oy * sh - ph + kh * dh;
        if (iy < 0 || iy >= H) continue;
        __global const float *xr = xc + iy * W;
        for (int kw = 0; kw < KW; kw++)
            acc = fma((float8)(wc[kh * KW + kw]), dw_load_row(xr, ox0 * sw - pw + kw * dw, sw, W, nl),
                      acc);
    }
    dw_store8(y + y_off + (nc * OH + oy) * OW + ox0, CONV_ACT(float8, acc, act), nl, 0);
}

/* dx[img][c][iy][ix] += sum over (kh, kw) of w[c][kh][kw] * dy[img][c][oy][ox] for the output
 * pixels with oy * sh - ph + kh * dh == iy and ox * sw - pw + kw * dw == ix (gather form: each
 * work-item owns 8 columns of one dx row, taps in a fixed order, no atomics).
 * Global: (ceil(W / 8), H, N * C). */
__kernel void conv_dw_bwd_data(__global float *dx, const int dx_off, __global const float *dy,
                               const int dy_off, __global const float *w, const int w_off,
                               const int C, const int H, const int W, const int KH, const int KW,
                               const int sh, const int sw, const int ph, const int pw,
                               const int dh, const int dw, const int OH, const int OW)
{
    const int ix0 = get_global_id(0) * 8, iy = get_global_id(1), nc = get_global_id(2);
    if (ix0 >= W || iy >= H) return;
    const int c = nc % C;
    const int nl = min(8, W - ix0);
    __global const float *dyc = dy + dy_off + nc * OH * OW;
    __global const float *wc = w + w_off + c * KH * KW;
    float8 acc = (float8)(0.0f);
    for (int kh = 0; kh < KH; kh++) {
        const int t = iy + ph - kh * dh;
        if (t < 0 || t % sh != 0 || t / sh >= OH) continue;
        __global const float *dr = dyc + (t / sh) * OW;
        for (int kw = 0; kw < KW; kw++) {
            const int u0 = ix0 + pw - kw * dw; /* lane l needs ox * sw == u0 + l */
            float8 v;
            if (sw == 1) {
                v = dw_load_row(dr, u0, 1, OW, 8);
            } else if (sw == 2) {
                /* every other lane has an output pixel: 4 consecutive dy values */
                const int odd = u0 & 1;
                const int ox = (u0 + odd) >> 1;   /* u0 may be negative: floor division */
                float4 q;
                if (ox >= 0 && ox + 3 < OW) {
                    q = vload4(0, dr + ox);
                } else {
                    float tq[4];
                    for (int l = 0; l < 4; l++) tq[l] = ox + l >= 0 && ox + l < OW ? dr[ox + l] : 0.0f;
                    q = vload4(0, tq);
                }
                v = odd ? (float8)(0.0f, q.x, 0.0f, q.y, 0.0f, q.z, 0.0f, q.w)
                        : (float8)(q.x, 0.0f, q.y, 0.0f, q.z, 0.0f, q.w, 0.0f);
            } else {
                float tv[8];
                for (int l = 0; l < 8; l++) {
                    const int u = u0 + l;
                    tv[l] = u >= 0 && u % sw == 0 && u / sw < OW ? dr[u / sw] : 0.0f;
                }
                v = vload8(0, tv);
            }
            acc = fma((float8)(wc[kh * KW + kw]), v, acc);
        }
    }
    dw_store8(dx + dx_off + (nc * H + iy) * W + ix0, acc, nl, 1);
}

/* dw[c][kh][kw] += sum over images and output pixels of dy[img][c][oy][ox] *
 *                  x[img][c][oy * sh - ph + kh * dh][ox * sw - pw + kw * dw]
 * One work-item per (tap, channel), summing in a fixed order (8 lane partials, then lanes).
 * Global: (KH * KW, C). */
__kernel void conv_dw_bwd_weight(__global float *dwt, const int dw_off, __global const float *dy,
                                 const int dy_off, __global const float *x, const int x_off,
                                 const int N, const int C, const int H, const int W, const int KH,
                                 const int KW, const int sh, const int sw, const int ph,
                                 const int pw, const int dh, const int dw, const int OH,
                                 const int OW)
{
    const int tap = get_global_id(0), c = get_global_id(1);
    if (tap >= KH * KW || c >= C) return;
    const int kh = tap / KW, kw = tap - kh * KW;
    float8 acc = (float8)(0.0f);
    for (int img = 0; img < N; img++) {
        __global const float *xc = x + x_off + (img * C + c) * H * W;
        __global const float *dyc = dy + dy_off + (img * C + c) * OH * OW;
        for (int oy = 0; oy < OH; oy++) {
            const int iy = oy * sh - ph + kh * dh;
            if (iy < 0 || iy >= H) continue;
            __global const float *xr = xc + iy * W;
            __global const float *dr = dyc + oy * OW;
            for (int ox0 = 0; ox0 < OW; ox0 += 8) {
                const int nl = min(8, OW - ox0);
                const float8 g = dw_load8_part(dr + ox0, nl);
                acc = fma(g, dw_load_row(xr, ox0 * sw - pw + kw * dw, sw, W, nl), acc);
            }
        }
    }
    float4 a = acc.lo + acc.hi;
    float2 b = a.lo + a.hi;
    dwt[dw_off + c * KH * KW + tap] += b.x + b.y;
}

/* ---- 3x3, padding 1, dilation 1, stride 1 or 2: the MobileNet depthwise layers ----------------
 * A block of 8 output columns needs, per input row, the inputs under the left, centre and right
 * taps. They come from one vector load (vload8 at stride 1, vload16 split into even / odd lanes
 * at stride 2) plus one neighbour value, shuffled: no per-lane bounds checks inside the image. */

/* Row iy of an input plane (H x W) seen by output columns ox0 .. ox0 + 7 at stride s: the values
 * under the kw = 0, 1, 2 taps (zero outside the plane). */
DW_INLINE void dw3_row(__global const float *plane, int iy, int H, int W, int ox0, int s, float8 *l,
                    float8 *c, float8 *r)
{
    if (iy < 0 || iy >= H) {
        *l = *c = *r = (float8)(0.0f);
        return;
    }
    __global const float *xr = plane + iy * W;
    const int base = ox0 * s;                       /* input column of the centre tap, lane 0 */
    const float left = base > 0 ? xr[base - 1] : 0.0f;
    if (s == 1) {
        float8 v;
        if (base + 8 <= W) {
            v = vload8(0, xr + base);
        } else {
            float t[8];
            for (int j = 0; j < 8; j++) t[j] = base + j < W ? xr[base + j] : 0.0f;
            v = vload8(0, t);
        }
        const float right = base + 8 < W ? xr[base + 8] : 0.0f;
        *c = v;
        *l = (float8)(left, v.s0, v.s1, v.s2, v.s3, v.s4, v.s5, v.s6);
        *r = (float8)(v.s1, v.s2, v.s3, v.s4, v.s5, v.s6, v.s7, right);
    } else {
        float8 a, b;
        if (base + 16 <= W) {
            a = vload8(0, xr + base);
            b = vload8(0, xr + base + 8);
        } else if (base + 8 <= W) {
            a = vload8(0, xr + base);
            b = dw_load8_part(xr + base + 8, W - base - 8);
        } else {
            a = dw_load8_part(xr + base, W - base);
            b = (float8)(0.0f);
        }
        const float8 odd = shuffle2(a, b, (uint8)(1, 3, 5, 7, 9, 11, 13, 15));
        *c = shuffle2(a, b, (uint8)(0, 2, 4, 6, 8, 10, 12, 14));
        *r = odd;
        *l = (float8)(left, odd.s0, odd.s1, odd.s2, odd.s3, odd.s4, odd.s5, odd.s6);
    }
}

/* out[nc][oy][ox] (+)= act(bias[c] + sum over kh, kw of w'[c][kh][kw] * in[nc][oy * s - 1 + kh][ox * s - 1 + kw])
 * with w' = w, or w rotated by 180 degrees when flip != 0: with flip, s = 1, accumulate and act
 * 0 it is the backward to the data of a stride-1 layer (dx += conv(dy, rotated w)). act: an
 * fcl_conv2d_act (cl/conv_act.cl), applied before accumulating.
 * in [NC][H][W], out [NC][OH][OW]. Each work-item slides down one 8-column strip of ppw
 * consecutive planes (one after the other), keeping the last input rows in registers: several
 * planes per work-item when they are small (MobileNet's 7x7 and 4x4 stages), where one
 * work-group per plane costs PoCL more in scheduling than the 9 * 49 multiply-adds it runs.
 * Global: (ceil(OW / 8), ceil(NC / ppw)). */
__kernel void conv_dw3_fwd(__global float *out, const int out_off, __global const float *in,
                           const int in_off, __global const float *w, const int w_off,
                           __global const float *bias, const int bias_off, const int has_bias,
                           const int flip, const int accumulate, const int act, const int C, const int H,
                           const int W, const int OH, const int OW, const int s, const int NC, const int ppw)
{
    const int ox0 = get_global_id(0) * 8, nc0 = get_global_id(1) * ppw;
    if (ox0 >= OW) return;
    const int nl = min(8, OW - ox0);
    for (int nc = nc0; nc < min(nc0 + ppw, NC); nc++) {
        const int c = nc % C;
        __global const float *wc = w + w_off + c * 9;
        float k[9];
        for (int i = 0; i < 9; i++) k[i] = wc[flip ? 8 - i : i];
        const float8 b = (float8)(has_bias ? bias[bias_off + c] : 0.0f);
        __global const float *plane = in + in_off + nc * H * W;
        __global float *op = out + out_off + nc * OH * OW + ox0;
        float8 l0, c0, r0, l1, c1, r1, l2, c2, r2;
        /* rows oy * s - 1 + {0, 1, 2}; for oy = 0 they are -1, 0, 1 */
        dw3_row(plane, -1, H, W, ox0, s, &l0, &c0, &r0);
        dw3_row(plane, 0, H, W, ox0, s, &l1, &c1, &r1);
        for (int oy = 0; oy < OH; oy++, op += OW) {
            if (oy > 0) {
                if (s == 1) { /* rows move down by one */
                    l0 = l1; c0 = c1; r0 = r1;
                    l1 = l2; c1 = c2; r1 = r2;
                } else {      /* by two: the old bottom row becomes the top one */
                    l0 = l2; c0 = c2; r0 = r2;
                    dw3_row(plane, oy * 2, H, W, ox0, s, &l1, &c1, &r1);
                }
            }
            dw3_row(plane, oy * s + 1, H, W, ox0, s, &l2, &c2, &r2);
            float8 acc = b;
            acc = fma((float8)(k[0]), l0, acc);
            acc = fma((float8)(k[1]), c0, acc);
            acc = fma((float8)(k[2]), r0, acc);
            acc = fma((float8)(k[3]), l1, acc);
            acc = fma((float8)(k[4]), c1, acc);
            acc = fma((float8)(k[5]), r1, acc);
            acc = fma((float8)(k[6]), l2, acc);
            acc = fma((float8)(k[7]), c2, acc);
            acc = fma((float8)(k[8]), r2, acc);
            dw_store8(op, CONV_ACT(float8, acc, act), nl, accumulate);
        }
    }
}

/* dx[nc][iy][ix] += sum over the taps of w[c][kh][kw] * dy[nc][oy][ox], iy = 2 * oy - 1 + kh,
 * ix = 2 * ox - 1 + kw: the backward to the data of a 3x3 stride-2 pad-1 layer, in gather form.
 * An even dx column gets its kw = 1 tap (ox = ix / 2), an odd one its kw = 0 (ox = (ix + 1) / 2)
 * and kw = 2 (ox = (ix - 1) / 2) taps; rows likewise. A work-item owns 16 dx columns
 * (8 dy columns) of ppw consecutive planes (as conv_dw3_fwd) and walks down the rows.
 * Global: (ceil(W / 16), ceil(NC / ppw)). */
__kernel void conv_dw3_bwd_data_s2(__global float *dx, const int dx_off, __global const float *dy,
                                   const int dy_off, __global const float *w, const int w_off,
                                   const int C, const int H, const int W, const int OH,
                                   const int OW, const int NC, const int ppw)
{
    const int ix0 = get_global_id(0) * 16, nc0 = get_global_id(1) * ppw;
    if (ix0 >= W) return;
    const int ox0 = ix0 / 2, nl = min(16, W - ix0);
    for (int nc = nc0; nc < min(nc0 + ppw, NC); nc++) {
        const int c = nc % C;
        __global const float *wc = w + w_off + c * 9;
        __global const float *plane = dy + dy_off + nc * OH * OW;
        __global float *xp = dx + dx_off + nc * H * W + ix0;
        for (int iy = 0; iy < H; iy++, xp += W) {
            float8 even = (float8)(0.0f), odd = (float8)(0.0f);
            for (int kh = (iy & 1) ? 0 : 1; kh < 3; kh += 2) {
                const int t = iy + 1 - kh;
                const int oy = t / 2;                 /* t is even: kh has iy's parity */
                if (t < 0 || oy >= OH) continue;
                __global const float *dr = plane + oy * OW;
                const float8 d = dw_load8_part(dr + ox0, OW - ox0);
                const float next = ox0 + 8 < OW ? dr[ox0 + 8] : 0.0f;
                const float8 dn = (float8)(d.s1, d.s2, d.s3, d.s4, d.s5, d.s6, d.s7, next);
                even = fma((float8)(wc[kh * 3 + 1]), d, even);
                odd = fma((float8)(wc[kh * 3 + 0]), dn, odd);
                odd = fma((float8)(wc[kh * 3 + 2]), d, odd);
            }
            const float16 v = (float16)(even.s0, odd.s0, even.s1, odd.s1, even.s2, odd.s2, even.s3, odd.s3,
                                        even.s4, odd.s4, even.s5, odd.s5, even.s6, odd.s6, even.s7, odd.s7);
            dw_store8(xp, v.lo, min(nl, 8), 1);
            if (nl > 8) dw_store8(xp + 8, v.hi, nl - 8, 1);
        }
    }
}

/* dw[c][kh][kw] += sum over images and output pixels of dy[n][c][oy][ox] *
 *                  x[n][c][oy * s - 1 + kh][ox * s - 1 + kw]   (3x3, pad 1, stride s in {1, 2})
 * One work-item per channel with 9 float8 accumulators (one per tap), summed in a fixed order
 * (lanes last). It slides down each 8-column strip like conv_dw3_fwd. Global: (C). */
__kernel void conv_dw3_bwd_weight(__global float *dwt, const int dw_off, __global const float *dy,
                                  const int dy_off, __global const float *x, const int x_off,
                                  const int N, const int C, const int H, const int W, const int OH,
                                  const int OW, const int s)
{
    const int c = get_global_id(0);
    if (c >= C) return;
    float8 a0 = (float8)(0.0f), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0, a8 = a0;
    for (int img = 0; img < N; img++) {
        __global const float *plane = x + x_off + (img * C + c) * H * W;
        __global const float *dyc = dy + dy_off + (img * C + c) * OH * OW;
        for (int ox0 = 0; ox0 < OW; ox0 += 8) {
            const int nl = min(8, OW - ox0);
            float8 l0, c0, r0, l1, c1, r1, l2, c2, r2;
            dw3_row(plane, -1, H, W, ox0, s, &l0, &c0, &r0);
            dw3_row(plane, 0, H, W, ox0, s, &l1, &c1, &r1);
            __global const float *dr = dyc + ox0;
            for (int oy = 0; oy < OH; oy++, dr += OW) {
                if (oy > 0) {
                    if (s == 1) {
                        l0 = l1; c0 = c1; r0 = r1;
                        l1 = l2; c1 = c2; r1 = r2;
                    } else {
                        l0 = l2; c0 = c2; r0 = r2;
                        dw3_row(plane, oy * 2, H, W, ox0, s, &l1, &c1, &r1);
                    }
                }
                dw3_row(plane, oy * s + 1, H, W, ox0, s, &l2, &c2, &r2);
                const float8 g = dw_load8_part(dr, nl);
                a0 = fma(g, l0, a0); a1 = fma(g, c0, a1); a2 = fma(g, r0, a2);
                a3 = fma(g, l1, a3); a4 = fma(g, c1, a4); a5 = fma(g, r1, a5);
                a6 = fma(g, l2, a6); a7 = fma(g, c2, a7); a8 = fma(g, r2, a8);
            }
        }
    }
    __global float *o = dwt + dw_off + c * 9;
    float8 acc[9] = {a0, a1, a2, a3, a4, a5, a6, a7, a8};
    for (int i = 0; i < 9; i++) {
        float4 h = acc[i].lo + acc[i].hi;
        float2 q = h.lo + h.hi;
        o[i] += q.x + q.y;
    }
}
