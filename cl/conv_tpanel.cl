/* cl/conv_tpanel.cl: conv_im2col_tpanel, the transposed im2col in column panels (the weight gradient's right operand on conv_gemm_nn). */

/* Its own program (host/ops/conv_cpu.c TPANEL): conv_gemm_nn's panel width CONV_NB from the "conv"
 * tuning family's CONV_VW x CONV_NV, as cl/conv.cl defines it. */
#if !defined(CONV_VW) || !defined(CONV_NV) || !defined(CONV_TPANEL)
#error "CONV_VW / CONV_NV / CONV_TPANEL come from the \"conv\" tuning family"
#endif
#define CONV_NB (CONV_VW * CONV_NV)

/* r[j].s<i> -> r[i].s<j>: the 8x8 transpose in the two-source patterns x86's unpcklps /
 * unpckhps, shufps and vperm2f128 implement (24 shuffles for 64 floats). */
inline void conv_tp8(float8 r[8])
{
    float8 t[8], u[8];
#pragma unroll
    for (int j = 0; j < 8; j += 2) { /* t[j] = a0 b0 a1 b1 a4 b4 a5 b5, t[j + 1] = a2 b2 a3 b3 a6 b6 a7 b7 */
        const float16 ab = (float16)(r[j], r[j + 1]);
        t[j] = ab.s08194c5d;
        t[j + 1] = ab.s2a3b6e7f;
    }
#pragma unroll
    for (int j = 0; j < 8; j += 4) { /* u[j + i] = column i of rows j..j+3, then column i + 4 */
        const float16 lo = (float16)(t[j], t[j + 2]), hi = (float16)(t[j + 1], t[j + 3]);
        u[j] = lo.s018945cd;
        u[j + 1] = lo.s23ab67ef;
        u[j + 2] = hi.s018945cd;
        u[j + 3] = hi.s23ab67ef;
    }
#pragma unroll
    for (int i = 0; i < 4; i++) {
        const float16 c = (float16)(u[i], u[i + 4]);
        r[i] = c.s012389ab;
        r[i + 4] = c.s4567cdef;
    }
}

/* Row iy of the plane at xs + cb, columns ix0 + i * sw (i < 8; only i < np are used), 0 outside
 * the plane. Where the stretch lies within the chunk's xn floats it is read as one vector
 * (stride 1) or one vload16 (stride 2; its even floats), the columns outside the row masked
 * where there are any among the np; else (the chunk's edges, other strides) float by float. */
inline float8 conv_tp_row(__global const float *xs, int xn, int cb, int iy, int ix0, int np, int H, int W, int sw)
{
    if ((uint)iy >= (uint)H) return (float8)(0.0f);
    const int s = cb + iy * W + ix0;
    float8 v;
    if (sw == 2 && s >= 0 && s + 16 <= xn) {
        v = vload16(0, xs + s).even;
    } else if (sw == 1 && s >= 0 && s + 8 <= xn) {
        v = vload8(0, xs + s);
    } else {
        float t[8];
        for (int i = 0; i < 8; i++) {
            const int c = ix0 + i * sw;
            t[i] = c >= 0 && c < W ? xs[s + i * sw] : 0.0f;
        }
        return vload8(0, t);
    }
    if (ix0 >= 0 && ix0 + (np - 1) * sw < W) return v;
    const int8 ix = ix0 + (int8)(0, 1, 2, 3, 4, 5, 6, 7) * sw;
    return select((float8)(0.0f), v, (ix >= 0) & (ix < W));
}

/* The transposed im2col of a chunk as conv_gemm_nn's right operand in column panels (b_contig
 * 2) for the weight gradient dW[g] = dy[g] * col[g]^T: its rows are the chunk's pixel columns
 * n = img * OH * OW + p (K = nimg * OH * OW of them), its columns the taps kk = (ci * KH + kh)
 * * KW + kw (Cin_g * KH * KW, zero-padded to whole panels of CONV_NB):
 *   col[g * col_g + ((kk / CONV_NB) * K + n) * CONV_NB + kk % CONV_NB]
 *       = x[img][g * Cin_g + ci][oy * sh - ph + kh * dh][ox * sw - pw + kw * dw]  (0 outside)
 * One work-item writes panel q of image img: OH * OW * CONV_NB contiguous floats. col_ld is not
 * used. Global: (panels, nimg, G). Outputs at least CONV_TPANEL pixels wide (CONV_TPANEL > 0):
 * 8 lanes x 8 pixels of an output row at a time, each lane's 8 pixels one stretch of its input
 * row (conv_tp_row: one vector load, stride 2 a vload16's even floats), then an 8x8 transpose in
 * registers and 8 stores of 8 lanes (at 4 pixels a row half the lanes would be wasted). Else
 * each lane of each pixel a gathered scalar load (the lanes' index math as vectors, worked out
 * once). Same values either way (host/runtime/tuning_table.c). */
__kernel void conv_im2col_tpanel(CONV_IM2COL_ARGS)
{
    const int q = get_global_id(0), img = get_global_id(1), g = get_global_id(2);
    const int T = KH * KW, Kg = Cin_g * T, P = OH * OW, HW = H * W;
    if (q * CONV_NB >= Kg || img >= nimg) return;
    __global float *d = col + g * col_g + (q * nimg * P + img * P) * CONV_NB;
    if (CONV_TPANEL > 0 && OW >= CONV_TPANEL) {
        /* offsets from the chunk's first float xs: reads stay within its xn floats */
        __global const float *xs = x + x_off;
        const int xn = nimg * Cin * HW, xi = (img * Cin + g * Cin_g) * HW;
        for (int lg = 0; lg < CONV_NB; lg += 8) {
            int cb[8], ry[8], rx[8]; /* lane l: tap kk's plane, row and column offsets (rows never valid past Kg) */
#pragma unroll
            for (int l = 0; l < 8; l++) {
                const int kk = q * CONV_NB + lg + l, ci = kk / T, kh = (kk - ci * T) / KW, kw = kk - ci * T - kh * KW;
                cb[l] = xi + (kk < Kg ? ci : 0) * HW;
                ry[l] = kk < Kg ? kh * dh - ph : -OH * sh - 1;
                rx[l] = kw * dw - pw;
            }
            for (int oy = 0; oy < OH; oy++) {
                for (int ox0 = 0; ox0 < OW; ox0 += 8) {
                    const int np = min(8, OW - ox0);
                    float8 r[8];
#pragma unroll
                    for (int l = 0; l < 8; l++)
                        r[l] = conv_tp_row(xs, xn, cb[l], oy * sh + ry[l], ox0 * sw + rx[l], np, H, W, sw);
                    conv_tp8(r);
                    __global float *dp = d + (oy * OW + ox0) * CONV_NB + lg;
#pragma unroll
                    for (int i = 0; i < 8; i++)
                        if (i < np) vstore8(r[i], 0, dp + i * CONV_NB);
                }
            }
        }
        return;
    }
    __global const float *xc = x + x_off + (img * Cin + g * Cin_g) * HW;
    int xoff[CONV_NB], ry[CONV_NB], rx[CONV_NB], lv[CONV_NB];
    for (int l = 0; l < CONV_NB; l++) {
        const int kk = q * CONV_NB + l, ci = kk / T, kh = (kk - ci * T) / KW, kw = kk - ci * T - kh * KW;
        lv[l] = kk < Kg;
        xoff[l] = lv[l] ? ci * HW : 0;
        ry[l] = kh * dh - ph;
        rx[l] = kw * dw - pw;
    }
    for (int oy = 0; oy < OH; oy++) {
        for (int ox = 0; ox < OW; ox++, d += CONV_NB) {
            for (int l = 0; l < CONV_NB; l++) {
                const int iy = oy * sh + ry[l], ix = ox * sw + rx[l];
                const int v = lv[l] & ((uint)iy < (uint)H) & ((uint)ix < (uint)W);
                const float t = xc[v ? xoff[l] + iy * W + ix : 0];
                d[l] = v ? t : 0.0f;
            }
        }
    }
}
