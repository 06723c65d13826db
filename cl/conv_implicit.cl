/* cl/conv_implicit.cl: implicit-GEMM convolution (no im2col buffer), forward, data and weight gradients: vectors along channels, pixels broadcast from NCHW. */

/* The forward as a GEMM whose right operand is never built: y[img][co][oy][ox] = sum over (kh,
 * ci, kw) of wt[kh][ci][kw][co] * xp[img][ci][oy * sh + kh * dh][ox * sw + kw * dw] (+ bias),
 * where xp is x zero-padded by (ph, pw) (cim_pad; x itself when there is no padding). A work-item
 * holds a register block of CONV_MB output pixels (consecutive over image, row, column) x CONV_NV
 * vectors of CONV_VW output channels: per reduction step it loads CONV_NV weight vectors (one
 * contiguous run of the re-laid weights) and CONV_MB input values, each broadcast over the
 * vectors. The block sizes are the "conv" family's conv_gemm_nn ones (the same register budget,
 * transposed). */
#if !defined(CONV_MB) || !defined(CONV_NV) || !defined(CONV_VW)
#error "CONV_MB / CONV_NV / CONV_VW come from the \"conv\" tuning family"
#endif
#if CONV_VW == 16
typedef float16 cimV;
#define cim_vload vload16
#define cim_vstore vstore16
#elif CONV_VW == 8
typedef float8 cimV;
#define cim_vload vload8
#define cim_vstore vstore8
#else
#error "CONV_VW must be 8 or 16"
#endif
#define CIM_NB (CONV_VW * CONV_NV)

/* The grid order of cim_fwd / cim_bwd_data (CONV_CIM_ORDER, host/ops/conv_implicit.c launches
 * to match): 1: panels of output channels along dim 0 (fastest), blocks of pixels along dim 1;
 * 0: the other way round. Same results either way. */
#if defined(CONV_CIM_ORDER) && CONV_CIM_ORDER
#define CIM_GID_PIX 1
#define CIM_GID_PANEL 0
#else
#define CIM_GID_PIX 0
#define CIM_GID_PANEL 1
#endif

/* cim_prefetch(p): the weight stream CONV_PF steps ahead (conv_gemm_nn's CONV_PF, the same reason:
 * the hardware prefetchers fall behind a sequential stream of CIM_NB floats per 16 FMAs). PoCL
 * only, as conv.cl: clang's builtin (prefetch() is a no-op there; Intel's runtime runs prefetch()
 * slowly, oclgrind has no llvm.prefetch); never faults. */
#if defined(CONV_PF) && CONV_PF > 0 && defined(POCL_DEVICE_ADDRESS_BITS)
#define cim_prefetch(p) __builtin_prefetch((p), 0, 3)
#else
#define cim_prefetch(p) ((void)0)
#endif

/* dst[img][c][r][q] = src[img][c][r - ph][q - pw] (0 outside src): the padded copy, Hp x Wp
 * planes (only the rows and columns the windows read). One work-item writes one plane (one per
 * row was ~30 floats per work-group: the dispatch cost more than the copy). Global: (n * C). */
__kernel void cim_pad(__global float *restrict dst, __global const float *restrict src, const int src_off,
                      const int H, const int W, const int Hp, const int Wp, const int ph, const int pw, const int planes)
{
    const int plane = get_global_id(0);
    if (plane >= planes) return;
    const int lo = min(pw, Wp), hi = clamp(pw + W, lo, Wp);
    for (int r = 0; r < Hp; r++) {
        __global float *d = dst + ((size_t)plane * Hp + r) * Wp;
        const int iy = r - ph;
        if (iy < 0 || iy >= H) {
            for (int q = 0; q < Wp; q++) d[q] = 0.0f;
            continue;
        }
        __global const float *s = src + src_off + ((size_t)plane * H + iy) * W;
        for (int q = 0; q < lo; q++) d[q] = 0.0f;
        for (int q = lo; q < hi; q++) d[q] = s[q - pw];
        for (int q = hi; q < Wp; q++) d[q] = 0.0f;
    }
}

/* Re-lays w [M][C][KH][KW] (w [C][M][KH][KW] when tr: the data gradient, M = cin) in panels of
 * CIM_NB channels m, each in the kernels' reduction order over the taps kh = kh0 + u * khs (u <
 * nkh), c, kw = kw0 + t * kws (t < nkw) (the forward: all taps; the data gradient: one phase's):
 * dst[mb][u][c][t][j] = w[m = mb * CIM_NB + j][c][kh][kw] (0 for m >= M). A work-item's weights
 * are then one sequential stream (rows M apart would be a large power-of-two stride at ResNet's
 * widths: few L1 sets, no prefetch). One work-item writes the taps of one channel c for one
 * panel. Global: (C, nmb). */
__kernel void cim_weights(__global float *restrict dst, const int dst_off, __global const float *restrict w, const int w_off, const int M,
                          const int C, const int KH, const int KW, const int tr, const int kh0, const int nkh,
                          const int khs, const int kw0, const int nkw, const int kws)
{
    const int c = get_global_id(0), mb = get_global_id(1);
    if (c >= C) return;
    __global float *d = dst + dst_off + (size_t)mb * nkh * C * nkw * CIM_NB;
    for (int u = 0; u < nkh; u++)
        for (int t = 0; t < nkw; t++) {
            const int kh = kh0 + u * khs, kw = kw0 + t * kws;
            __global float *dk = d + ((u * C + c) * nkw + t) * CIM_NB;
            for (int j = 0; j < CIM_NB; j++) {
                const int m = mb * CIM_NB + j;
                dk[j] = m >= M ? 0.0f : w[w_off + ((tr ? c * M + m : m * C + c) * KH + kh) * KW + kw];
            }
        }
}

/* One reduction step: acc[r][v] += px[r][off] * the v-th vector at vq (the stream prefetched
 * CONV_PF steps of CIM_NB floats ahead). */
__attribute__((always_inline)) inline void cim_step(cimV acc[CONV_MB][CONV_NV], __global const float *vq,
                                                    __global const float *const *px, const long off)
{
    cimV wv[CONV_NV];
#if defined(CONV_PF) && CONV_PF > 0 && defined(POCL_DEVICE_ADDRESS_BITS)
    for (int v = 0; v < CIM_NB; v += 16) cim_prefetch(vq + CONV_PF * CIM_NB + v);
#endif
#pragma unroll
    for (int v = 0; v < CONV_NV; v++) wv[v] = cim_vload(v, vq);
#pragma unroll
    for (int r = 0; r < CONV_MB; r++) {
        const cimV a = (cimV)(px[r][off]);
#pragma unroll
        for (int v = 0; v < CONV_NV; v++) acc[r][v] = fma(a, wv[v], acc[r][v]);
    }
}

/* acc[r][v] += sum over c < C and t < nkw of wp[c * wc + t * wk + v-th vector] * src[xo[r] + c *
 * plane + t * xk]: one kernel row (kh) of every channel, its taps kw0 + t * (step) (the forward:
 * all KW; a phase of the data gradient: those landing on its pixels). */
__attribute__((always_inline)) inline void cim_row(cimV acc[CONV_MB][CONV_NV], __global const float *src, const int *xo,
                                                   const int plane, const int C, const int nkw, const int xk,
                                                   __global const float *wp, const int wc, const int wk)
{
    /* one pointer per pixel and one 64-bit offset per tap: each broadcast is a single base +
     * index * 4 load (32-bit pixel offsets cost an add and a sign extension per pixel: 16 more
     * instructions per 16 FMAs, ~1.5x the time) */
    __global const float *px[CONV_MB];
#pragma unroll
    for (int r = 0; r < CONV_MB; r++) px[r] = src + xo[r];
    for (int c = 0; c < C; c++) {
        __global const float *wq = wp + c * wc;
        for (int t = 0; t < nkw; t++) {
            cim_step(acc, wq, px, (long)c * plane + (long)t * xk);
            wq += wk;
        }
    }
}

/* The block's pixels q0 + r < npix: q = (img, j, i) over n x QH x QW, output pixel (a + sy * j, b
 * + sx * i) of an OH x OW plane (the forward: a = b = 0, sy = sx = 1, the whole plane). */
typedef struct cim_pix {
    int npix, QH, QW, a, sy, b, sx, OH, OW;
} cim_pix;

/* out[img][m][pixel] (+)= the block's sums (+ bias[m]) for the pixels q0 + r < npix and channels
 * m < M (out: [n][M][OH][OW]), the output activation act (cl/conv_act.cl) applied when not
 * accumulating. */
__attribute__((always_inline)) inline void cim_store(cimV acc[CONV_MB][CONV_NV], __global float *out, const int q0,
                                                     const cim_pix pg, const int m0, const int M,
                                                     __global const float *bias, const int has_bias, const int accumulate,
                                                     const int act)
{
    const int P = pg.OH * pg.OW, Q = pg.QH * pg.QW;
    int po[CONV_MB]; /* each pixel's offset in out (-1: past npix) */
#pragma unroll
    for (int r = 0; r < CONV_MB; r++) {
        const int q = q0 + r, img = q / Q, p = q - img * Q, j = p / pg.QW, i = p - j * pg.QW;
        po[r] = q < pg.npix ? img * M * P + (pg.a + pg.sy * j) * pg.OW + pg.b + pg.sx * i : -1;
    }
    /* channel by channel, the block's pixels in order: consecutive addresses along a row */
#pragma unroll
    for (int v = 0; v < CONV_NV; v++) {
        float t[CONV_MB][CONV_VW];
#pragma unroll
        for (int r = 0; r < CONV_MB; r++) cim_vstore(acc[r][v], 0, t[r]);
        for (int l = 0; l < CONV_VW; l++) {
            const int m = m0 + v * CONV_VW + l;
            if (m >= M) break;
            const float bs = has_bias ? bias[m] : 0.0f;
            __global float *o = out + (size_t)m * P;
#pragma unroll
            for (int r = 0; r < CONV_MB; r++) {
                if (po[r] < 0) break;
                const float val = t[r][l] + bs;
                o[po[r]] = accumulate ? o[po[r]] + val : CONV_ACT(float, val, act);
            }
        }
    }
}

/* The per-pixel source offsets of a block: pixel q = (img, j, i) of n x QH x QW reads from
 * src_off + img * C * plane + (j * sy + top) * Wp + i * sx + left (the block's last pixel stands
 * in for those past npix). */
__attribute__((always_inline)) inline void cim_offsets(int *xo, const int q0, const int npix, const int QH, const int QW,
                                                       const int src_off, const int img_stride, const int sy,
                                                       const int sx, const int Wp, const int top, const int left)
{
#pragma unroll
    for (int r = 0; r < CONV_MB; r++) {
        const int q = min(q0 + r, npix - 1), img = q / (QH * QW), p = q - img * QH * QW, j = p / QW, i = p - j * QW;
        xo[r] = src_off + img * img_stride + (j * sy + top) * Wp + i * sx + left;
    }
}

__attribute__((always_inline)) inline void cim_zero(cimV acc[CONV_MB][CONV_NV])
{
#pragma unroll
    for (int r = 0; r < CONV_MB; r++)
#pragma unroll
        for (int v = 0; v < CONV_NV; v++) acc[r][v] = (cimV)(0.0f);
}

/* y = conv(x, w) + bias, x padded into xp ([n][C][Hp][Wp]), wt from cim_weights.
 * Global: ceil(n * OH * OW / CONV_MB) blocks of pixels x ceil(M / CIM_NB) panels, in the order
 * CIM_GID_* says. Panels fastest (CONV_CIM_ORDER 1): consecutive work-items read the same pixels
 * (from L1) and the re-laid weights of all panels stay in L2, as conv_gemm_nn's row blocks share a
 * column panel; pixels fastest streams the whole padded input from L3 once per panel (1.5-2x the
 * CPU time on ResNet-18's 3x3/2s with 4 x 3 float8, numbers in tuning_table.c). */
__kernel void cim_fwd(__global float *restrict y, const int y_off, __global const float *restrict xp, const int x_off,
                      __global const float *restrict wt, __global const float *restrict bias,
                      const int bias_off, const int has_bias, const int n, const int C, const int Hp, const int Wp,
                      const int M, const int OH, const int OW, const int KH, const int KW, const int sh,
                      const int sw, const int dh, const int dw, const int act)
{
    const int q0 = get_global_id(CIM_GID_PIX) * CONV_MB, m0 = get_global_id(CIM_GID_PANEL) * CIM_NB, plane = Hp * Wp;
    const cim_pix pg = {n * OH * OW, OH, OW, 0, 1, 0, 1, OH, OW};
    if (q0 >= pg.npix || m0 >= M) return;
    int xo[CONV_MB];
    cim_offsets(xo, q0, pg.npix, OH, OW, x_off, C * plane, sh, sw, Wp, 0, 0);
    cimV acc[CONV_MB][CONV_NV];
    cim_zero(acc);
    for (int kh = 0; kh < KH; kh++)
        cim_row(acc, xp + kh * dh * Wp, xo, plane, C, KW, dw, wt + ((size_t)m0 * KH + kh * CIM_NB) * C * KW, KW * CIM_NB,
                CIM_NB);
    cim_store(acc, y + y_off, q0, pg, m0, M, bias + bias_off, has_bias, 0, act);
}

/* dx += the data gradient on the pixels of one phase (a, b): dx[img][m][a + sh * j][b + sw * i]
 * gathers w[c][m][kh][kw] * dy[img][c][oy][ox] over the taps with oy * sh - ph + kh * dh = a + sh *
 * j, i.e. kh = kh0 + u * khs (u < nkh) and oy = j + (a + ph - kh * dh) / sh, columns likewise:
 * for a stride-2 3x3 conv, 4 stride-1 sub-convolutions with 2x2, 2x1, 1x2 and 1x1 kernels, no
 * multiplications by inserted zeros. dyp is dy zero-padded by (top, left) into OHp x OWp planes
 * (every row and column a tap reaches), wt from cim_weights (tr: panels of input channels m, this
 * phase's taps only).
 * Global: ceil(n * QH * QW / CONV_MB) blocks of pixels x ceil(M / CIM_NB) panels, ordered as cim_fwd's. */
__kernel void cim_bwd_data(__global float *restrict dx, const int dx_off, __global const float *restrict dyp,
                           __global const float *restrict wt, const int wt_off, const int n, const int C, const int OHp, const int OWp,
                           const int top, const int left, const int M, const int H, const int W, const int KH,
                           const int KW, const int sh, const int sw, const int ph, const int pw, const int dh,
                           const int dw, const int a, const int b, const int QH, const int QW, const int kh0,
                           const int nkh, const int khs, const int kw0, const int nkw, const int kws)
{
    const int q0 = get_global_id(CIM_GID_PIX) * CONV_MB, m0 = get_global_id(CIM_GID_PANEL) * CIM_NB, plane = OHp * OWp;
    const cim_pix pg = {n * QH * QW, QH, QW, a, sh, b, sw, H, W};
    if (q0 >= pg.npix || m0 >= M) return;
    int xo[CONV_MB];
    cim_offsets(xo, q0, pg.npix, QH, QW, 0, C * plane, 1, 1, OWp, top, left);
    cimV acc[CONV_MB][CONV_NV];
    cim_zero(acc);
    const int col0 = (b + pw - kw0 * dw) / sw, colk = -(kws * dw) / sw;
    for (int u = 0; u < nkh; u++) {
        const int kh = kh0 + u * khs, row = (a + ph - kh * dh) / sh;
        cim_row(acc, dyp + row * OWp + col0, xo, plane, C, nkw, colk, wt + wt_off + ((size_t)m0 * nkh + u * CIM_NB) * C * nkw,
                nkw * CIM_NB, CIM_NB);
    }
    cim_store(acc, dx + dx_off, q0, pg, m0, M, wt, 0, 1, 0);
}

/* dyt[mb][q][j] = dy[img][m = mb * CIM_NB + j][p] for the chunk's pixels q = img * P + p < nq (0
 * for M <= m): dy in panels of CIM_NB output channels, each a contiguous run over the pixels
 * (cim_wgrad's stream). One work-item writes one image's part of one panel (reading CIM_NB rows
 * of dy along the pixels). Global: (nmb, nq / P). */
__kernel void cim_dyt(__global float *restrict dyt, __global const float *restrict dy, const int dy_off, const int nq,
                      const int M, const int P)
{
    const int mb = get_global_id(0), img = get_global_id(1);
    if (img * P >= nq || mb * CIM_NB >= M) return;
    __global const float *s = dy + dy_off + ((size_t)img * M + mb * CIM_NB) * P;
    __global float *d = dyt + ((size_t)mb * nq + img * P) * CIM_NB;
    const int nm = min(CIM_NB, M - mb * CIM_NB);
    int p0 = 0;
    if (nm == CIM_NB && CIM_NB % 8 == 0) {
        /* 8 pixels x 8 channels at a time: 8 vector loads along the pixels, an 8 x 8 transpose in
         * registers, 8 vector stores along the channels (an element at a time, unrolled or not, was
         * ~4-5 cycles an element). `bench ops --kernels --filter k3s2`, Zen 5, 7 alternating rounds,
         * median cim_dyt ms: ResNet-18 layer2.0 / 3.0 / 4.0 bwd_weight 0.78 / 0.40 / 0.19 -> 0.50 /
         * 0.15 / 0.08, ResNet-50 l2 / l3 / l4 conv2 0.83 / 0.47 / 0.15 -> 0.61 / 0.17 / 0.11 */
        for (; p0 + 8 <= P; p0 += 8)
            for (int jc = 0; jc < CIM_NB; jc += 8) {
                __global const float *sj = s + (size_t)jc * P + p0;
                const float8 r0 = vload8(0, sj), r1 = vload8(0, sj + P), r2 = vload8(0, sj + 2 * P),
                             r3 = vload8(0, sj + 3 * P), r4 = vload8(0, sj + 4 * P), r5 = vload8(0, sj + 5 * P),
                             r6 = vload8(0, sj + 6 * P), r7 = vload8(0, sj + 7 * P);
                __global float *dj = d + p0 * CIM_NB + jc;
#define CIM_T8(k) vstore8((float8)(r0.s##k, r1.s##k, r2.s##k, r3.s##k, r4.s##k, r5.s##k, r6.s##k, r7.s##k), 0, \
                          dj + k * CIM_NB)
                CIM_T8(0); CIM_T8(1); CIM_T8(2); CIM_T8(3); CIM_T8(4); CIM_T8(5); CIM_T8(6); CIM_T8(7);
#undef CIM_T8
            }
    }
    for (int p = p0; p < P; p++) {
        for (int j = 0; j < nm; j++) d[p * CIM_NB + j] = s[(size_t)j * P + p];
        for (int j = nm; j < CIM_NB; j++) d[p * CIM_NB + j] = 0.0f;
    }
}

/* dw[m][k] += sum over the chunk's n images and their output pixels of dy[img][m][oy][ox] *
 * xp[img][c][oy * sh + kh * dh][ox * sw + kw * dw] with k = (c * KH + kh) * KW + kw: the weight
 * gradient as a GEMM whose operands are never gathered (no im2col). A work-item holds CONV_MB rows
 * k (each a fixed offset from the pixel's window corner) x CONV_NV vectors of CONV_VW output
 * channels; per pixel it loads CONV_NV vectors of its dyt panel (cim_dyt: one sequential stream,
 * a chunk small enough to stay in the cache for every row block) and CONV_MB values of xp
 * (cim_fwd's padded input), each broadcast over the vectors; pixels in the order image, row, column.
 * Global: (ceil(Kg / CONV_MB), ldm / CIM_NB). */
__kernel void cim_wgrad(__global float *restrict dw, const int dw_off, __global const float *restrict xp,
                        const int x_off, __global const float *restrict dyt, const int n, const int C, const int Hp,
                        const int Wp, const int M, const int OH, const int OW, const int KH, const int KW,
                        const int sh, const int sw, const int dh, const int dwl)
{
    const int k0 = get_global_id(0) * CONV_MB, m0 = get_global_id(1) * CIM_NB, Kg = C * KH * KW, plane = Hp * Wp;
    if (k0 >= Kg || m0 >= M) return;
    __global const float *px[CONV_MB]; /* each row's tap in the first pixel's window (the last row past Kg) */
#pragma unroll
    for (int r = 0; r < CONV_MB; r++) {
        const int k = min(k0 + r, Kg - 1), c = k / (KH * KW), kk = k - c * KH * KW, kh = kk / KW, kw = kk - kh * KW;
        px[r] = xp + x_off + (size_t)c * plane + kh * dh * Wp + kw * dwl;
    }
    cimV acc[CONV_MB][CONV_NV];
    cim_zero(acc);
    __global const float *dq = dyt + (size_t)m0 * n * OH * OW;
    for (int img = 0; img < n; img++)
        for (int oy = 0; oy < OH; oy++) {
            const long row = (long)img * C * plane + (long)oy * sh * Wp;
            for (int ox = 0; ox < OW; ox++) {
                cim_step(acc, dq, px, row + (long)ox * sw);
                dq += CIM_NB;
            }
        }
#pragma unroll
    for (int v = 0; v < CONV_NV; v++) {
        float t[CONV_MB][CONV_VW];
#pragma unroll
        for (int r = 0; r < CONV_MB; r++) cim_vstore(acc[r][v], 0, t[r]);
        for (int l = 0; l < CONV_VW; l++) {
            const int m = m0 + v * CONV_VW + l;
            if (m >= M) break;
            __global float *o = dw + dw_off + (size_t)m * Kg + k0;
#pragma unroll
            for (int r = 0; r < CONV_MB; r++)
                if (k0 + r < Kg) o[r] += t[r][l];
        }
    }
}
