/* cl/conv.cl: dense and grouped 2-D convolution as register-blocked GEMMs (+ im2col/col2im). */

/* How a convolution maps onto these kernels (host/ops/conv.c drives them):
 *   forward      y[g] = Wt[g]^T * B[g] (+ bias)   B = x itself (1x1, stride 1, pad 0) or im2col(x)
 *   bwd data     dx  += col2im(W[g]^T * dy[g])    (1x1, stride 1, pad 0: dx += W^T * dy directly)
 *   bwd weight   dW[g] += dy[g] * B[g]^T          (reduction over images and pixels, in order)
 * "Pixel columns" n run over (image, output pixel) of a chunk of images: n = img * P + p.
 * An operand indexed by (row r, column n) lives at off + (n / P) * img_stride + r * row_stride
 * + n % P: with img_stride == P it is one contiguous [rows][cols] matrix (the im2col buffer),
 * otherwise an NCHW tensor seen as per-image [rows][P] matrices.
 *
 * PoCL on CPUs does not vectorise across work-items once a kernel has loops, so each work-item
 * holds a register block of float8 / float16 accumulators (explicit SIMD) and all loops are inside it. */

/* CONV_MB: output rows (channels) per work-item of conv_gemm_nn; CONV_NV: column vectors of
 * CONV_VW (8 or 16) floats per work-item of conv_gemm_nn; CONV_TM x CONV_TN: rows of dy x rows of B per work-item of
 * conv_gemm_nt. All from the "conv" tuning family (host/runtime/tuning_table.c). */
#if !defined(CONV_MB) || !defined(CONV_NV) || !defined(CONV_VW) || !defined(CONV_TM) || !defined(CONV_TN) || \
    !defined(CONV_TW) || !defined(CONV_PF)
#error "CONV_MB / CONV_NV / CONV_VW / CONV_TM / CONV_TN / CONV_TW / CONV_PF come from the \"conv\" tuning family"
#endif

/* convV: conv_gemm_nn's column vector of CONV_VW floats */
#if CONV_VW == 16
typedef float16 convV;
typedef int16 convI;
#define CONV_LANES ((convI)(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15))
#define conv_vload vload16
#define conv_vstore vstore16
#elif CONV_VW == 8
typedef float8 convV;
typedef int8 convI;
#define CONV_LANES ((convI)(0, 1, 2, 3, 4, 5, 6, 7))
#define conv_vload vload8
#define conv_vstore vstore8
#else
#error "CONV_VW must be 8 or 16"
#endif
#define CONV_NB (CONV_VW * CONV_NV)

/* CONV_VW values of an operand at columns n0.. (lane l: column n0 + l), where the columns may
 * cross an image boundary or run past ncols (such lanes read 0). */
inline convV conv_load_lanes(__global const float *base, int n0, int ncols, int P, int img_stride,
                             int row_off)
{
    float t[CONV_VW];
    for (int l = 0; l < CONV_VW; l++) {
        int n = n0 + l;
        int img = n / P;
        t[l] = n < ncols ? base[img * img_stride + row_off + (n - img * P)] : 0.0f;
    }
    return conv_vload(0, t);
}

/* conv_prefetch(p): asks for the cache line holding p, CONV_PF k steps ahead of conv_gemm_nn's
 * loads (CONV_PF 0: nothing). Without it the inner loop waits on L2 for its A and B streams
 * (both sequential, but the hardware prefetchers fall behind at 160 bytes per 8-cycle k step).
 * PoCL only (POCL_DEVICE_ADDRESS_BITS is PoCL's own define): clang's builtin, which becomes
 * prefetcht0 (OpenCL's prefetch() is a no-op there). Elsewhere nothing: Intel's CPU runtime runs
 * prefetch() at ~1.8x the CPU time of the strided 3x3 GEMMs (bench ops --device intel, CONV_PF 16
 * vs 0), oclgrind has no llvm.prefetch. Prefetches never fault: running past a panel is harmless. */
#if CONV_PF > 0 && defined(POCL_DEVICE_ADDRESS_BITS)
#define conv_prefetch(p) __builtin_prefetch((p), 0, 3)
#else
#define conv_prefetch(p) ((void)0)
#endif

/* One k step of conv_gemm_nn's register block: acc[i][v] += A(m0 + i, k) * B(k, columns of v),
 * the k-th packed panel row ap[0..CONV_MB) broadcast over the CONV_NV vectors bv (inlined, so acc
 * stays in registers). */
inline void conv_nn_fma(convV acc[CONV_MB][CONV_NV], __global const float *ap, const convV *bv)
{
#pragma unroll
    for (int i = 0; i < CONV_MB; i++) {
        const convV av = (convV)(ap[i]);
#pragma unroll
        for (int v = 0; v < CONV_NV; v++) acc[i][v] = fma(av, bv[v], acc[i][v]);
    }
}

/* acc += K steps of the packed A block ap (CONV_MB floats a step) against B's CONV_NV vectors at
 * bp, bstep floats a step apart (a column panel: CONV_NB), prefetching CONV_PF steps ahead:
 * conv_gemm_nn's loop over contiguous B and cl/conv_wino_s2.cl's over each of its planes. */
__attribute__((always_inline)) inline void conv_nn_run(convV acc[CONV_MB][CONV_NV], __global const float *ap,
                                                       __global const float *bp, const int K, const int bstep)
{
    for (int k = 0; k < K; k++) {
        convV bv[CONV_NV];
        conv_prefetch(ap + CONV_PF * CONV_MB);
#pragma unroll
        for (int v = 0; v < CONV_NB; v += 16) conv_prefetch(bp + CONV_PF * bstep + v);
#pragma unroll
        for (int v = 0; v < CONV_NV; v++) bv[v] = conv_vload(v, bp);
        conv_nn_fma(acc, ap, bv);
        ap += CONV_MB;
        bp += bstep;
    }
}

/* C[g](m, n) (+)= sum_k A[g](m, k) * B[g](k, n) (+ bias[g * M + m]).
 * A is packed by conv_pack in zero-padded panels of CONV_MB rows ([G][nmb][K][CONV_MB]). B and C use the (row, column) addressing above with
 * column count ncols = nimg * P. b_contig 1 says B rows are contiguous over all columns
 * and readable up to round_up(ncols, CONV_NB) (the padded im2col buffer); b_contig 2 says B is
 * in column panels instead: (k, n) at b_off + g * b_g + ((n / CONV_NB) * K + k) * CONV_NB
 * + n % CONV_NB, readable up to the same column (conv_im2col_panel); c_contig likewise
 * says C may be written up to that column (the padded dcol buffer of the backward pass).
 * has_res adds a residual read at C's index + res_delta of res, after the bias and the
 * accumulation; act (cl/conv_act.cl: 0 none, 1 ReLU, 2 ReLU6) is applied to each stored value
 * after that: the forward conv's fused residual add and output activation (the same floats as
 * conv, then fcl_act_add_fwd).
 * Global size: (ceil(M / CONV_MB), ceil(ncols / CONV_NB), G). */
__kernel void conv_gemm_nn(const int M, const int K, const int P, const int ncols,
                           __global const float *a, const int a_g,
                           __global const float *b, const int b_off, const int b_img, const int b_row,
                           const int b_g, const int b_contig,
                           __global float *c, const int c_off, const int c_img, const int c_row,
                           const int c_g, const int c_contig,
                           __global const float *bias, const int bias_off, const int has_bias,
                           const int accumulate, __global const float *res, const int res_delta,
                           const int has_res, const int act)
{
    const int m0 = get_global_id(0) * CONV_MB;
    const int n0 = get_global_id(1) * CONV_NB;
    const int g = get_global_id(2);
    if (m0 >= M || n0 >= ncols) return;
    const int img0 = n0 / P;
    const int p0 = n0 - img0 * P;
    const int inside = p0 + CONV_NB <= P;       /* the block stays inside one image */

    __global const float *ap = a + g * a_g + m0 * K;
    convV acc[CONV_MB][CONV_NV];
#pragma unroll
    for (int i = 0; i < CONV_MB; i++)
#pragma unroll
        for (int v = 0; v < CONV_NV; v++) acc[i][v] = (convV)(0.0f);

    if (b_contig || inside) {
        /* b_contig 2: B in panels of CONV_NB columns (conv_im2col_panel), the block's K rows one
         * sequential stream; otherwise rows b_row apart */
        const int panel = b_contig == 2;
        __global const float *bp = b + b_off + g * b_g + (panel ? n0 * K : img0 * b_img + p0);
        conv_nn_run(acc, ap, bp, K, panel ? CONV_NB : b_row);
    } else {
        /* the block straddles images: a vector inside one image is one load (every vector is
         * whole when P is a multiple of CONV_VW); one that runs from image i into image i + 1
         * (P >= CONV_VW, inside ncols) is two loads, the end of i's row (lanes < cut, read from
         * i's pixel p on) and the start of i + 1's (lanes >= cut, read from cut floats before
         * it), blended; both stay inside images i and i + 1 of the tensor (rows of one image lie
         * within its image stride). Other vectors (images narrower than a vector, the last
         * columns) go lane by lane. */
        __global const float *bg = b + b_off + g * b_g;
        int voff[CONV_NV], hoff[CONV_NV], whole[CONV_NV], two = 1, all = 1;
        convI keep[CONV_NV];
#pragma unroll
        for (int v = 0; v < CONV_NV; v++) {
            const int n = n0 + CONV_VW * v, img = n / P, p = n - img * P, cut = min(P - p, CONV_VW);
            whole[v] = cut == CONV_VW && n + CONV_VW <= ncols;
            two &= whole[v] || (P >= CONV_VW && n + CONV_VW <= ncols);
            all &= whole[v];
            voff[v] = img * b_img + p;
            hoff[v] = cut == CONV_VW ? voff[v] : (img + 1) * b_img - cut;
            keep[v] = CONV_LANES < (convI)(cut);
        }
        if (all) { /* whole vectors of two images (P a multiple of CONV_VW): one load each */
            __global const float *bp = bg;
            for (int k = 0; k < K; k++, bp += b_row) {
                convV bv[CONV_NV];
                conv_prefetch(ap + CONV_PF * CONV_MB);
#pragma unroll
                for (int v = 0; v < CONV_NV; v++) {
                    conv_prefetch(bp + CONV_PF * b_row + voff[v]);
                    bv[v] = conv_vload(0, bp + voff[v]);
                }
                conv_nn_fma(acc, ap, bv);
                ap += CONV_MB;
            }
        } else if (two) {
            __global const float *bp = bg;
            for (int k = 0; k < K; k++, bp += b_row) {
                convV bv[CONV_NV];
                conv_prefetch(ap + CONV_PF * CONV_MB);
#pragma unroll
                for (int v = 0; v < CONV_NV; v++) {
                    conv_prefetch(bp + CONV_PF * b_row + voff[v]);
                    conv_prefetch(bp + CONV_PF * b_row + hoff[v]);
                    bv[v] = select(conv_vload(0, bp + hoff[v]), conv_vload(0, bp + voff[v]), keep[v]);
                }
                conv_nn_fma(acc, ap, bv);
                ap += CONV_MB;
            }
        } else for (int k = 0; k < K; k++) {
            convV bv[CONV_NV];
#pragma unroll
            for (int v = 0; v < CONV_NV; v++)
                bv[v] = whole[v] ? conv_vload(0, bg + voff[v] + k * b_row)
                                 : conv_load_lanes(bg, n0 + CONV_VW * v, ncols, P, b_img, k * b_row);
            conv_nn_fma(acc, ap, bv);
            ap += CONV_MB;
        }
    }

    __global float *cg = c + c_off + g * c_g;
#pragma unroll
    for (int i = 0; i < CONV_MB; i++) {
        const int m = m0 + i;
        if (m >= M) break;
        const float bs = has_bias ? bias[bias_off + g * M + m] : 0.0f;
        if (inside || c_contig) {
            __global float *cp = cg + img0 * c_img + m * c_row + p0;
#pragma unroll
            for (int v = 0; v < CONV_NV; v++) {
                convV r = acc[i][v] + (convV)(bs);
                if (accumulate) r += conv_vload(v, cp);
                if (has_res) r += conv_vload(v, res + (cp - c) + res_delta);
                conv_vstore(CONV_ACT(convV, r, act), v, cp);
            }
        } else {
#pragma unroll
            for (int v = 0; v < CONV_NV; v++) {
                const int nv = n0 + CONV_VW * v, iv = nv / P, pv = nv - iv * P;
                if (pv + CONV_VW <= P && nv + CONV_VW <= ncols) { /* a whole vector inside one image */
                    __global float *cp = cg + iv * c_img + m * c_row + pv;
                    convV r = acc[i][v] + (convV)(bs);
                    if (accumulate) r += conv_vload(0, cp);
                    if (has_res) r += conv_vload(0, res + (cp - c) + res_delta);
                    conv_vstore(CONV_ACT(convV, r, act), 0, cp);
                    continue;
                }
                float t[CONV_VW];
                conv_vstore(acc[i][v], 0, t);
                for (int l = 0; l < CONV_VW; l++) {
                    const int n = n0 + CONV_VW * v + l;
                    if (n >= ncols) break;
                    const int img = n / P;
                    __global float *cp = cg + img * c_img + m * c_row + (n - img * P);
                    float r = accumulate ? *cp + (t[l] + bs) : t[l] + bs;
                    if (has_res) r += res[(cp - c) + res_delta];
                    *cp = CONV_ACT(float, r, act);
                }
            }
        }
    }
}

/* Packs one operand of conv_gemm_nn in panels of CONV_MB rows: for m = mb * CONV_MB + i,
 *   dst[((g * nmb + mb) * K + k) * CONV_MB + i]
 *       = src[s_off + g * s_g + m * s_m + (k / P) * s_img + (k % P) * s_k]
 * (0 for m >= M), so a work-item of the GEMM reads its rows of A as one contiguous stream. P
 * splits k into (image, pixel) for the weight gradient's A = dy read straight from NCHW (P = K,
 * s_img 0 elsewhere). Each work-item writes CONV_PK consecutive k of one panel (CONV_PK *
 * CONV_MB contiguous floats): k's image and pixel are split once (one division per work-item,
 * not per k) and then stepped. Where the CONV_PK k's run along the panel's rows (s_k 1, inside
 * one image, the panel's rows all real: the forward's weights, the weight gradient's dy) each
 * row is one vector load, transposed through private memory; where the source is transposed
 * (s_m 1: the data gradient's W^T) each k is CONV_MB contiguous floats; at edges (a panel's
 * missing rows, k crossing an image) value by value. One work-item per k had the GEMM
 * rows' packs at 2-7% of their CPU time (perf, ResNet-18's 3x3/2 rows). Global: (ceil(K /
 * CONV_PK), nmb, G), the first two swapped when s_m == 1 != s_k. */
#define CONV_PK 8
__kernel void conv_pack(__global float *dst, const int M, const int K, const int nmb,
                        __global const float *src, const int s_off, const int s_g, const int s_m,
                        const int s_k, const int P, const int s_img)
{
    /* the data gradient's W^T (rows contiguous, k strided): panels along dim 0, so the panels
     * of one k that share cache lines run side by side */
    const int tr = s_m == 1 && s_k != 1;
    const int i0 = get_global_id(0), i1 = get_global_id(1), g = get_global_id(2);
    const int k0 = (tr ? i1 : i0) * CONV_PK, mb = tr ? i0 : i1;
    if (k0 >= K || mb >= nmb) return;
    const int m0 = mb * CONV_MB;
    int img = k0 / P, p = k0 - img * P;
    __global const float *sg = src + s_off + g * s_g;
    __global float *dp = dst + ((g * nmb + mb) * K + k0) * CONV_MB;
    if (s_k == 1 && p + CONV_PK <= P && k0 + CONV_PK <= K && m0 + CONV_MB <= M) {
        __global const float *sp = sg + img * s_img + p + m0 * s_m;
        float r[CONV_MB * CONV_PK], t[CONV_PK * CONV_MB];
#pragma unroll
        for (int i = 0; i < CONV_MB; i++) vstore8(vload8(0, sp + i * s_m), i, r);
#pragma unroll
        for (int l = 0; l < CONV_PK; l++)
#pragma unroll
            for (int i = 0; i < CONV_MB; i++) t[l * CONV_MB + i] = r[i * CONV_PK + l];
#pragma unroll
        for (int j = 0; j < CONV_MB; j++) vstore8(vload8(j, t), j, dp);
        return;
    }
    const int nk = min(CONV_PK, K - k0), nm = min(CONV_MB, M - m0);
    if (tr && nm == CONV_MB && p + nk <= P) { /* W^T: CONV_MB contiguous floats a k, s_k apart */
        __global const float *sp = sg + img * s_img + p * s_k + m0;
        for (int l = 0; l < nk; l++, dp += CONV_MB, sp += s_k)
#pragma unroll
            for (int i = 0; i < CONV_MB; i++) dp[i] = sp[i];
        return;
    }
    for (int l = 0; l < nk; l++, dp += CONV_MB) {
        __global const float *sp = sg + img * s_img + p * s_k + m0 * s_m;
        for (int i = 0; i < CONV_MB; i++) dp[i] = i < nm ? sp[i * s_m] : 0.0f;
        if (++p == P) {
            p = 0;
            img++;
        }
    }
}

/* im2col of a chunk of nimg images starting at x_off (the chunk's first image):
 *   col[g][(ci * KH + kh) * KW + kw][img * OH * OW + oy * OW + ox]
 *       = x[img][g * Cin_g + ci][oy * sh - ph + kh * dh][ox * sw - pw + kw * dw]  (0 outside)
 * col rows are col_ld long (>= nimg * OH * OW; the tail is not written), groups col_g apart.
 * One work-item writes one input channel of one image for all KH * KW taps. Rows of 8 or more
 * pixels are split into zero / copy / zero runs (the valid run of a tap is the same in every
 * row); shorter rows, where that bookkeeping costs more than it saves, use one select per
 * pixel. Global: (Cin_g, nimg, G). */
__kernel void conv_im2col(CONV_IM2COL_ARGS)
{
    const int ci = get_global_id(0), img = get_global_id(1), g = get_global_id(2);
    if (ci >= Cin_g || img >= nimg) return;
    __global const float *xc = x + x_off + ((img * Cin + g * Cin_g + ci) * H) * W;
    __global float *cp = col + g * col_g + ci * KH * KW * col_ld + img * OH * OW;
    for (int kh = 0; kh < KH; kh++) {
        for (int kw = 0; kw < KW; kw++) {
            __global float *dst = cp + (kh * KW + kw) * col_ld;
            const int off = kw * dw - pw;
            if (OW < 8) {
                for (int oy = 0; oy < OH; oy++, dst += OW) {
                    const int iy = oy * sh - ph + kh * dh;
                    const int rv = (uint)iy < (uint)H;
                    __global const float *xr = xc + (rv ? iy : 0) * W;
                    for (int ox = 0; ox < OW; ox++) {
                        const int ix = ox * sw + off;
                        const int v = rv & ((uint)ix < (uint)W);
                        const float t = xr[v ? ix : 0];
                        dst[ox] = v ? t : 0.0f;
                    }
                }
                continue;
            }
            int lo, hi;
            conv_valid_range(off, sw, W, OW, &lo, &hi);
            for (int oy = 0; oy < OH; oy++, dst += OW) {
                const int iy = oy * sh - ph + kh * dh;
                if (iy < 0 || iy >= H) {
                    for (int ox = 0; ox < OW; ox++) dst[ox] = 0.0f;
                    continue;
                }
                __global const float *xr = xc + iy * W + off;
                for (int ox = 0; ox < lo; ox++) dst[ox] = 0.0f;
                if (sw == 1)
                    for (int ox = lo; ox < hi; ox++) dst[ox] = xr[ox];
                else
                    for (int ox = lo; ox < hi; ox++) dst[ox] = xr[ox * sw];
                for (int ox = hi; ox < OW; ox++) dst[ox] = 0.0f;
            }
        }
    }
}

/* x[idx] lane by lane (idx a convI): the gather of conv_im2col_panel */
#if CONV_VW == 16
#define conv_gather(x, i)                                                                          \
    ((convV)((x)[(i).s0], (x)[(i).s1], (x)[(i).s2], (x)[(i).s3], (x)[(i).s4], (x)[(i).s5], (x)[(i).s6], \
             (x)[(i).s7], (x)[(i).s8], (x)[(i).s9], (x)[(i).sa], (x)[(i).sb], (x)[(i).sc], (x)[(i).sd], \
             (x)[(i).se], (x)[(i).sf]))
#else
#define conv_gather(x, i)                                                                          \
    ((convV)((x)[(i).s0], (x)[(i).s1], (x)[(i).s2], (x)[(i).s3], (x)[(i).s4], (x)[(i).s5], (x)[(i).s6], \
             (x)[(i).s7]))
#endif

/* CONV_VW floats p[0], p[sw], .. p[sw * (CONV_VW - 1)] for sw 1 or 2 from sw * CONV_VW contiguous
 * loads (conv_im2col_panel's row runs under CONV_IM_ROW) */
inline convV conv_row_lanes(__global const float *p, int sw)
{
#if CONV_VW == 16
    return sw == 1 ? vload16(0, p) : (float16)(vload16(0, p).even, vload16(1, p).even);
#else
    return sw == 1 ? vload8(0, p) : vload16(0, p).even;
#endif
}

/* conv_im2col in the column-panel layout of conv_gemm_nn's b_contig 2 (col_ld only sets the
 * buffer's size): element (k, n) of group g, k = (ci * KH + kh) * KW + kw, at
 *   col[g * col_g + ((n / CONV_NB) * Cin_g * KH * KW + k) * CONV_NB + n % CONV_NB],
 * columns n >= nimg * OH * OW of the last panel written as 0. One work-item writes panel q's
 * rows of input channels [ci0, ci0 + cpw): one contiguous run of cpw * KH * KW * CONV_NB
 * floats, each row CONV_NV vectors whose lanes (pixels) are gathered (0 outside the image),
 * the lanes' pixel geometry worked out once. (One channel of one image per work-item, piece by
 * piece of an output row, spent most of its time on the pieces' bookkeeping at stride 2: rows
 * of 14 pixels or fewer, 9 taps.)
 * CONV_IM_ROW 1 (host/runtime/tuning_table.c): at column stride sw 1 or 2, a vector whose lanes
 * read x at a + sw * l for lanes l < s and at b + sw * l from lane s on (one run: an output row;
 * two: a vector across two rows or images, 3 in 7 of ResNet-18's rows of 14, all of its rows of 7)
 * is a contiguous load of sw * CONV_VW floats from a keeping every sw-th float (and one from b
 * blended in from lane s) instead of CONV_VW scalar loads + inserts; lanes outside the image are
 * zeroed by the same select, lanes past the chunk are don't-cares. Only where every load of the
 * work-item lies inside the chunk's images [x_off, x_off + nimg * Cin * H * W), and where the taps
 * read every input row: the chunk's first / last rows (padding above, the over-read past the
 * row's end), 3+ runs (rows narrower than a vector) and row strides that skip rows gather.
 * Global: (panels, ceil(Cin_g / cpw), G). */
__kernel void conv_im2col_panel(CONV_IM2COL_ARGS, const int cpw)
{
    const int q = get_global_id(0), ci0 = get_global_id(1) * cpw, g = get_global_id(2);
    const int T = KH * KW, K = Cin_g * T, P = OH * OW, ncols = nimg * P, HW = H * W;
    if (q * CONV_NB >= ncols || ci0 >= Cin_g) return;
    const int ci1 = min(ci0 + cpw, Cin_g);
    convI base[CONV_NV], iy0[CONV_NV], ix0[CONV_NV];
#pragma unroll
    for (int v = 0; v < CONV_NV; v++) {
        const convI n = q * CONV_NB + v * CONV_VW + CONV_LANES, img = n / P, p = n - img * P, oy = p / OW;
        const convI in = n < ncols; /* a column past the chunk reads row -H - KH * dh: never inside */
        base[v] = select((convI)(x_off), x_off + (img * Cin + g * Cin_g) * HW, in);
        iy0[v] = select((convI)(-H - KH * dh), oy * sh - ph, in);
        ix0[v] = (p - oy * OW) * sw - pw;
    }
#if CONV_IM_ROW
    /* each vector's two runs (ra, rb: x offsets of lane 0's read at channel 0, tap (0, 0)) and the
     * lanes taken from rb (bsel); rok: every load of this work-item inside the chunk */
    int ra[CONV_NV], rb[CONV_NV], rok[CONV_NV];
    convI bsel[CONV_NV];
    {
        /* the runs over-read up to a vector past a row's end / before its start: only where the
         * taps read every input row anyway (a 1x1 / 2 skips the odd rows: there the runs read
         * ~1.75x the gather's cache lines, and its conv_im2col_panel ran 0.46-0.70 -> 0.54-1.08
         * ms, ResNet-18's layer2.ds at 112, batch 32) */
        const int rows = (sw == 1 || sw == 2) && (sh == 1 || (dh == 1 && KH >= sh));
        const int lo = x_off - ci0 * HW, span = sw * CONV_VW,
                  hi = x_off + nimg * Cin * HW - ((ci1 - 1) * HW + (KH - 1) * dh * W + (KW - 1) * dw) - span;
        for (int v = 0; v < CONV_NV; v++) {
            const int n0 = q * CONV_NB + v * CONV_VW;
            int at[CONV_VW], a = 0, b = 0, s = CONV_VW, ok = rows && n0 < ncols;
            conv_vstore(base[v] + iy0[v] * W + ix0[v], 0, at); /* each lane's read at channel 0, tap (0, 0) */
            for (int l = 0; l < CONV_VW && ok && n0 + l < ncols; l++) { /* lanes past the chunk: any */
                if (l == 0) a = b = at[0];
                else if (s == CONV_VW && at[l] != a + sw * l) {
                    s = l;
                    b = at[l] - sw * l;
                } else if (s < CONV_VW && at[l] != b + sw * l)
                    ok = 0;
            }
            ra[v] = a;
            rb[v] = b;
            rok[v] = ok && min(a, b) >= lo && max(a, b) <= hi;
            bsel[v] = CONV_LANES >= s;
        }
    }
#endif
    __global float *d = col + g * col_g + (q * K + ci0 * T) * CONV_NB;
    for (int ci = ci0; ci < ci1; ci++) {
        for (int kh = 0; kh < KH; kh++) {
            for (int kw = 0; kw < KW; kw++, d += CONV_NB) {
#pragma unroll
                for (int v = 0; v < CONV_NV; v++) {
                    const convI iy = iy0[v] + kh * dh, ix = ix0[v] + kw * dw;
                    const convI ok = (iy >= 0) & (iy < H) & (ix >= 0) & (ix < W);
#if CONV_IM_ROW
                    if (rok[v]) {
                        const int t = ci * HW + kh * dh * W + kw * dw;
                        convV r = conv_row_lanes(x + ra[v] + t, sw);
                        if (rb[v] != ra[v]) r = select(r, conv_row_lanes(x + rb[v] + t, sw), bsel[v]);
                        conv_vstore(select((convV)(0.0f), r, ok), v, d);
                        continue;
                    }
#endif
                    const convI idx = select((convI)(x_off), base[v] + ci * HW + iy * W + ix, ok);
                    conv_vstore(select((convV)(0.0f), conv_gather(x, idx), ok), v, d);
                }
            }
        }
    }
}

/* The adjoint of conv_im2col, accumulated: for every input element of the chunk,
 *   dx[img][g * Cin_g + ci][iy][ix] += sum over (kh, kw) of col[g][(ci * KH + kh) * KW + kw][n]
 * where n is the column of the output pixel (oy, ox) with oy * sh - ph + kh * dh == iy and
 * ox * sw - pw + kw * dw == ix. Gather form: each work-item owns one channel of one image of
 * dx (no atomics) and adds the taps in a fixed order (kh, kw), so results are reproducible.
 * Global: (Cin_g, nimg, G), or (nimg, Cin_g, G) under CONV_C2I_ORDER 1 (same values). */
__kernel void conv_col2im(CONV_COL2IM_ARGS)
{
#if CONV_C2I_ORDER /* grid (nimg, Cin_g, G): see CONV_C2I_ORDER in host/runtime/tuning_table.c */
    const int img = get_global_id(0), ci = get_global_id(1), g = get_global_id(2);
#else
    const int ci = get_global_id(0), img = get_global_id(1), g = get_global_id(2);
#endif
    if (ci >= Cin_g || img >= nimg) return;
    __global float *dc = dx + dx_off + ((img * Cin + g * Cin_g + ci) * H) * W;
    __global const float *cp = col + g * col_g + ci * KH * KW * col_ld + img * OH * OW;
    /* each tap's run of OH * OW floats lies a whole col row (col_ld) from the last, beyond the
     * hardware prefetchers, and the GEMM has just left it in L3: ask for the first 4 lines of
     * each at once (the whole run at 7x7 outputs; the stride prefetcher follows longer runs) */
    for (int t = 0; t < KH * KW; t++)
        for (int o = 0; o < min(OH * OW, 64); o += 16) conv_prefetch(cp + t * col_ld + o);
    for (int kh = 0; kh < KH; kh++) {
        for (int kw = 0; kw < KW; kw++) {
            __global const float *src = cp + (kh * KW + kw) * col_ld;
            const int off = kw * dw - pw;
            int lo, hi;
            conv_valid_range(off, sw, W, OW, &lo, &hi);
            for (int oy = 0; oy < OH; oy++, src += OW) {
                const int iy = oy * sh - ph + kh * dh;
                if (iy < 0 || iy >= H) continue;
                __global float *d = dc + iy * W + off;
                if (sw == 1)
                    for (int ox = lo; ox < hi; ox++) d[ox] += src[ox];
                else
                    for (int ox = lo; ox < hi; ox++) d[ox * sw] += src[ox];
            }
        }
    }
}

/* ntV: conv_gemm_nt's vector of CONV_TW floats along the pixels */
#if CONV_TW == 16
typedef float16 ntV;
#define nt_vload vload16
#define nt_hsum hsum16
#elif CONV_TW == 8
typedef float8 ntV;
#define nt_vload vload8
#define nt_hsum hsum8
#else
#error "CONV_TW must be 8 or 16"
#endif

/* CONV_TW floats from p, of which the first rem (< CONV_TW) are real and the rest read as 0. */
inline ntV nt_load_tail(__global const float *p, int rem)
{
    float t[CONV_TW];
    for (int l = 0; l < CONV_TW; l++) t[l] = l < rem ? p[l] : 0.0f;
    return nt_vload(0, t);
}

/* dw[g][m][j] += sum over columns n of A(g * M + m, n) * B[g](j, n): the weight gradient
 * dy * B^T, reduced over the nimg images and P pixels of each in a fixed order (per-lane
 * partial sums over CONV_TW lanes, then lanes in order). A is dy (image addressing: a_off + img
 * * a_img + row * a_row + p, a_row == P); B is x (1x1) or the im2col buffer (b_img == P). Rows
 * past M or N are computed from the last row and not stored. CONV_TW 16 fills AVX-512's FMA
 * width (the loop is FMA-bound: CONV_TM * CONV_TN FMAs per CONV_TM + CONV_TN loads).
 * Global: (ceil(M / CONV_TM), ceil(N / CONV_TN), G). */
__kernel void conv_gemm_nt(const int M, const int N, const int P, const int nimg,
                           __global const float *a, const int a_off, const int a_img,
                           const int a_row, const int a_g,
                           __global const float *b, const int b_off, const int b_img,
                           const int b_row, const int b_g,
                           __global float *c, const int c_off, const int c_row, const int c_g)
{
    const int m0 = get_global_id(0) * CONV_TM;
    const int j0 = get_global_id(1) * CONV_TN;
    const int g = get_global_id(2);
    if (m0 >= M || j0 >= N) return;
    ntV acc[CONV_TM][CONV_TN];
#pragma unroll
    for (int i = 0; i < CONV_TM; i++)
#pragma unroll
        for (int j = 0; j < CONV_TN; j++) acc[i][j] = (ntV)(0.0f);

    for (int img = 0; img < nimg; img++) {
        __global const float *ap[CONV_TM];
        __global const float *bp[CONV_TN];
#pragma unroll
        for (int i = 0; i < CONV_TM; i++)
            ap[i] = a + a_off + g * a_g + img * a_img + min(m0 + i, M - 1) * a_row;
#pragma unroll
        for (int j = 0; j < CONV_TN; j++)
            bp[j] = b + b_off + g * b_g + img * b_img + min(j0 + j, N - 1) * b_row;
        int p = 0;
        for (; p + CONV_TW <= P; p += CONV_TW) {
            ntV av[CONV_TM], bv[CONV_TN];
#pragma unroll
            for (int i = 0; i < CONV_TM; i++) av[i] = nt_vload(0, ap[i] + p);
#pragma unroll
            for (int j = 0; j < CONV_TN; j++) bv[j] = nt_vload(0, bp[j] + p);
#pragma unroll
            for (int i = 0; i < CONV_TM; i++)
#pragma unroll
                for (int j = 0; j < CONV_TN; j++) acc[i][j] = fma(av[i], bv[j], acc[i][j]);
        }
        if (p < P) {
            const int rem = P - p;
            ntV av[CONV_TM], bv[CONV_TN];
#pragma unroll
            for (int i = 0; i < CONV_TM; i++) av[i] = nt_load_tail(ap[i] + p, rem);
#pragma unroll
            for (int j = 0; j < CONV_TN; j++) bv[j] = nt_load_tail(bp[j] + p, rem);
#pragma unroll
            for (int i = 0; i < CONV_TM; i++)
#pragma unroll
                for (int j = 0; j < CONV_TN; j++) acc[i][j] = fma(av[i], bv[j], acc[i][j]);
        }
    }
#pragma unroll
    for (int i = 0; i < CONV_TM; i++) {
        if (m0 + i >= M) break;
        __global float *cr = c + c_off + g * c_g + (m0 + i) * c_row;
#pragma unroll
        for (int j = 0; j < CONV_TN; j++)
            if (j0 + j < N) cr[j0 + j] += nt_hsum(acc[i][j]);
    }
}

/* db[ch] += sum over images and pixels of dy[img][ch][p] (fixed order). Global: (C). */
__kernel void conv_bias_grad(__global float *db, const int db_off, __global const float *dy,
                             const int dy_off, const int C, const int P, const int nimg)
{
    const int ch = get_global_id(0);
    if (ch >= C) return;
    ntV acc = (ntV)(0.0f);
    for (int img = 0; img < nimg; img++) {
        __global const float *p = dy + dy_off + (img * C + ch) * P;
        int i = 0;
        for (; i + CONV_TW <= P; i += CONV_TW) acc += nt_vload(0, p + i);
        if (i < P) acc += nt_load_tail(p + i, P - i);
    }
    db[db_off + ch] += nt_hsum(acc);
}
