/* cl/norm.cl: LayerNorm over channels of NCHW tensors (ConvNeXt), layer scale, scaled weight standardisation (NFNet).
 * Semantics: include/facecl/ops_norm.h; reference: host/ref/norm.c. */

/* Layout: x [N, C, HW]. A "pixel" p = b * HW + i (b < N, i < HW) is normalised over its C
 * values x[b, 0..C, i] (stride HW). Per-pixel kernels: one work-item per pixel, global
 * (HW, N); neighbouring work-items read neighbouring addresses (coalesced on GPUs).
 * Per-channel parameter gradients (dweight, dbias, dgamma): ONE work-group per channel; work-item
 * l sums the channel's elements m = l, l + L, ... of the flat sequence m = b * HW + i, then a
 * fixed binary tree in local memory: deterministic for a given work-group size, no atomics.
 * Work-group sizes are powers of two (the host guarantees it). Built after cl/reduce.cl
 * ("reduce.cl+norm.cl"): fcl_wg_sum, a fixed tree (or subgroups where the device has them). */

#define NORM_HAS_WEIGHT 1
#define NORM_HAS_BIAS 2
#define NORM_HAS_SAVE 4
#define NORM_HAS_DW 8
#define NORM_HAS_DB 16
#define NORM_NORMALISE 32 /* per-channel reduction of dy * xhat (LayerNorm) instead of dy * x */

/* FCL_NORM_VEC (the "norm" tuning family) consecutive pixels a work-item, as the lanes of a float
 * vector, for ln2d_fwd, ln2d_bwd_data and chan_scale; the pixels past the last whole vector of a
 * row one at a time by the same formula on floats (and all of them when FCL_NORM_VEC is 1: a pixel
 * a work-item, neighbouring work-items on neighbouring addresses, what a GPU coalesces). PoCL ran
 * the pixel-a-work-item kernels one scalar at a time (a loop over C: no vectorising across
 * work-items): Zen 5, ConvNeXt-tiny's 32x96x28x28 at 3.0 (ln2d fwd), 4.7 (bwd) and 8.2 GB/s
 * (layer scale); FCL_NORM_VEC 16 in host/runtime/tuning_table.c has the numbers after. */
#ifndef FCL_NORM_VEC
#error "FCL_NORM_VEC comes from the \"norm\" tuning family (host/runtime/tuning_table.c)"
#endif
#if FCL_NORM_VEC > 1
#define NVF FCL_CAT(float, FCL_NORM_VEC)
#define NV_LD(p) FCL_CAT(vload, FCL_NORM_VEC)(0, (p))
#define NV_ST(v, p) FCL_CAT(vstore, FCL_NORM_VEC)((v), 0, (p))
#endif
#if FCL_NORM_VEC > 1
#define NORM_PIXELS(BODY) FCL_PIXELS_VEC(FCL_NORM_VEC, NVF, NV_LD, NV_ST, BODY)
#else
#define NORM_PIXELS(BODY) BODY(float, FCL_S_LD, FCL_S_ST, 0)
#endif

/* y = (x - mean) * rstd * w[c] + b[c] over the C values of each pixel; mean and the biased
 * variance in two passes (no cancellation); rstd = 1 / sqrt(var + eps). save_mean / save_rstd
 * [N * HW] (flag NORM_HAS_SAVE). y may be x: a pixel is read and written by one work-item, every
 * read of it before its first write. T: float or NVF, LD / ST its loads and stores, j the
 * pixel's offset from the work-item's first (NORM_PIXELS). */
#define LN2D_FWD(T, LD, ST, j)                                                                     \
    do {                                                                                          \
        __global const float *xp = x + x_off + base + (j);                                        \
        __global float *yp = y + y_off + base + (j), *mp = save_mean + save_mean_off + st + (j),  \
                       *rp = save_rstd + save_rstd_off + st + (j);                                \
        T s = (T)(0.0f);                                                                          \
        for (int c = 0; c < C; c++)                                                               \
            s += LD(xp + c * hw);                                                                 \
        const T mean = s / (float)C;                                                              \
        T q = (T)(0.0f);                                                                          \
        for (int c = 0; c < C; c++) {                                                             \
            const T d = LD(xp + c * hw) - mean;                                                   \
            q += d * d;                                                                           \
        }                                                                                         \
        const T rstd = (T)(1.0f) / sqrt(q / (float)C + eps);                                      \
        if (flags & NORM_HAS_SAVE) {                                                              \
            ST(mean, mp);                                                                         \
            ST(rstd, rp);                                                                         \
        }                                                                                         \
        for (int c = 0; c < C; c++) {                                                             \
            T v = (LD(xp + c * hw) - mean) * rstd;                                                \
            if (flags & NORM_HAS_WEIGHT)                                                          \
                v *= w[w_off + c];                                                                \
            if (flags & NORM_HAS_BIAS)                                                            \
                v += bias[bias_off + c];                                                          \
            ST(v, yp + c * hw);                                                                   \
        }                                                                                         \
    } while (0)

/* Global: (ceil(HW / FCL_NORM_VEC), N). */
__kernel void ln2d_fwd(FCL_TENSOR(y), FCL_CTENSOR(x), FCL_CTENSOR(w), FCL_CTENSOR(bias),
                       FCL_TENSOR(save_mean), FCL_TENSOR(save_rstd), const int n, const int C,
                       const int hw, const float eps, const int flags)
{
    const int i0 = get_global_id(0) * FCL_NORM_VEC, b = get_global_id(1);
    if (i0 >= hw || b >= n)
        return;
    const int base = b * C * hw + i0, st = b * hw + i0;
    NORM_PIXELS(LN2D_FWD);
}

/* dx += rstd * (g - mean_c(g) - xhat * mean_c(g * xhat)), g = dy * w[c], xhat = (x - mean) *
 * rstd, per pixel (the statistics saved by the forward), as LN2D_FWD over T. */
#define LN2D_BWD(T, LD, ST, j)                                                                     \
    do {                                                                                          \
        __global const float *xp = x + x_off + base + (j), *gp = dy + dy_off + base + (j);        \
        __global const float *mp = save_mean + save_mean_off + st + (j),                          \
                             *rp = save_rstd + save_rstd_off + st + (j);                          \
        __global float *dp = dx + dx_off + base + (j);                                            \
        const T mean = LD(mp), rstd = LD(rp);                                                     \
        T sg = (T)(0.0f), sgx = (T)(0.0f);                                                        \
        for (int c = 0; c < C; c++) {                                                             \
            const T g = LD(gp + c * hw) * ((flags & NORM_HAS_WEIGHT) ? w[w_off + c] : 1.0f);      \
            sg += g;                                                                              \
            sgx += g * (LD(xp + c * hw) - mean) * rstd;                                           \
        }                                                                                         \
        const T mg = sg / (float)C, mgx = sgx / (float)C;                                         \
        for (int c = 0; c < C; c++) {                                                             \
            const T g = LD(gp + c * hw) * ((flags & NORM_HAS_WEIGHT) ? w[w_off + c] : 1.0f);      \
            const T xh = (LD(xp + c * hw) - mean) * rstd;                                         \
            ST(LD(dp + c * hw) + rstd * (g - mg - xh * mgx), dp + c * hw);                        \
        }                                                                                         \
    } while (0)

/* Global: (ceil(HW / FCL_NORM_VEC), N). */
__kernel void ln2d_bwd_data(FCL_TENSOR(dx), FCL_CTENSOR(dy), FCL_CTENSOR(x), FCL_CTENSOR(w),
                            FCL_CTENSOR(save_mean), FCL_CTENSOR(save_rstd), const int n,
                            const int C, const int hw, const int flags)
{
    const int i0 = get_global_id(0) * FCL_NORM_VEC, b = get_global_id(1);
    if (i0 >= hw || b >= n)
        return;
    const int base = b * C * hw + i0, st = b * hw + i0;
    NORM_PIXELS(LN2D_BWD);
}

/* Per-channel parameter gradients. One work-group per channel c (global C * L, local L):
 *   dw[c] += sum over (b, i) of dy * xhat   (NORM_NORMALISE: xhat from the saved statistics;
 *                                            otherwise xhat = x: layer scale's dgamma)
 *   db[c] += sum over (b, i) of dy           (NORM_HAS_DB)
 * Work-item l sums, image by image, the runs of FCL_NORM_VEC pixels starting at l * FCL_NORM_VEC,
 * L * FCL_NORM_VEC apart (as vector lanes where a run is whole, added up at the end), then the
 * group's fixed tree: a fixed order for a given L and FCL_NORM_VEC. (Before: element m = l, l + L,
 * ... of the flat n * hw sequence, a division per element, scalar: ConvNeXt-tiny's layer scale
 * backward at 32x96x28x28 was 5.7 ms, its dgamma most of it.) */
#define CPG_ADD(T, LD, at, m, sw, sb)                                                              \
    do {                                                                                          \
        const T g_ = LD(dy + dy_off + (at));                                                      \
        T v_ = LD(x + x_off + (at));                                                              \
        if (flags & NORM_NORMALISE)                                                               \
            v_ = (v_ - LD(save_mean + save_mean_off + (m))) * LD(save_rstd + save_rstd_off + (m)); \
        sw += g_ * v_;                                                                            \
        sb += g_;                                                                                 \
    } while (0)
__kernel void chan_param_grad(FCL_TENSOR(dw), FCL_TENSOR(db), FCL_CTENSOR(dy), FCL_CTENSOR(x),
                              FCL_CTENSOR(save_mean), FCL_CTENSOR(save_rstd), const int n,
                              const int C, const int hw, const int flags, __local float *scratch)
{
    int c = get_group_id(0);
    if (c >= C)
        return;
    int l = get_local_id(0), L = get_local_size(0);
    float aw = 0.0f, ab = 0.0f;
#if FCL_NORM_VEC > 1
    NVF vw = (NVF)(0.0f), vb = (NVF)(0.0f);
#endif
    for (int b = 0; b < n; b++) {
        const int k0 = (b * C + c) * hw, m0 = b * hw;
        for (int i = l * FCL_NORM_VEC; i < hw; i += L * FCL_NORM_VEC) {
#if FCL_NORM_VEC > 1
            if (i + FCL_NORM_VEC <= hw) {
                CPG_ADD(NVF, NV_LD, k0 + i, m0 + i, vw, vb);
                continue;
            }
#endif
            for (int j = i; j < i + FCL_NORM_VEC && j < hw; j++)
                CPG_ADD(float, FCL_S_LD, k0 + j, m0 + j, aw, ab);
        }
    }
#if FCL_NORM_VEC > 1
    aw += FCL_CAT(hsum, FCL_NORM_VEC)(vw);   /* cl/preamble.cl's fixed pairwise lane sums */
    ab += FCL_CAT(hsum, FCL_NORM_VEC)(vb);
#endif
    /* both sums unconditionally: barriers under a flag test hang PoCL's work-group loops */
    float tw = fcl_wg_sum(aw, scratch), tb = fcl_wg_sum(ab, scratch);
    if (l == 0 && (flags & NORM_HAS_DW))
        dw[dw_off + c] += tw;
    if (l == 0 && (flags & NORM_HAS_DB))
        db[db_off + c] += tb;
}

/* Layer scale: y = x * gamma[c] (mode 0) or dx += dy * gamma[c] (mode 1), over [N, C, HW];
 * rows r = b * C + c, FCL_NORM_VEC pixels of a row a work-item. Global: (ceil(HW / FCL_NORM_VEC),
 * N * C). y may be x. */
#define CHAN_SCALE(T, LD, ST, j)                                                                   \
    do {                                                                                          \
        const T v_ = LD(x + x_off + k + (j)) * gm;                                                \
        ST(accumulate ? LD(y + y_off + k + (j)) + v_ : v_, y + y_off + k + (j));                  \
    } while (0)
__kernel void chan_scale(FCL_TENSOR(y), FCL_CTENSOR(x), FCL_CTENSOR(gamma), const int nc,
                         const int C, const int hw, const int accumulate)
{
    const int i0 = get_global_id(0) * FCL_NORM_VEC, r = get_global_id(1);
    if (i0 >= hw || r >= nc)
        return;
    const int k = r * hw + i0;
    const float gm = gamma[gamma_off + r % C];
    NORM_PIXELS(CHAN_SCALE);
}

/* ---- scaled weight standardisation (NFNet, timm's ScaledStdConv2d) -----------------------------
 * w [O, K] (K = fan-in = numel / O). One work-group per output channel o (global O * L, local
 * L): work-item l owns elements l, l + L, ... of the row; sums by fcl_wg_sum.
 * mean = sum w / K, var = sum (w - mean)^2 / K (biased, two passes), rstd = 1 / sqrt(var + eps),
 * s = gain[o] * scale (gain optional: 1). */

/* (mean, rstd) of the K values of row wr, summed by the whole work-group (two passes). */
inline float2 row_stats(__global const float *wr, int K, float eps, __local float *scratch)
{
    int l = get_local_id(0), L = get_local_size(0);
    float a = 0.0f;
    for (int i = l; i < K; i += L)
        a += wr[i];
    float mean = fcl_wg_sum(a, scratch) / (float)K;
    float q = 0.0f;
    for (int i = l; i < K; i += L) {
        float d = wr[i] - mean;
        q += d * d;
    }
    return (float2)(mean, 1.0f / sqrt(fcl_wg_sum(q, scratch) / (float)K + eps));
}

/* w_hat = s * (w - mean) * rstd. */
__kernel void wstd_fwd(FCL_TENSOR(wh), FCL_CTENSOR(w), FCL_CTENSOR(gain), const int O, const int K,
                       const float scale, const float eps, const int has_gain,
                       __local float *scratch)
{
    int o = get_group_id(0);
    if (o >= O)
        return;
    int l = get_local_id(0), L = get_local_size(0);
    __global const float *wr = w + w_off + o * K;
    float2 st = row_stats(wr, K, eps, scratch);
    float mean = st.x, rstd = st.y;
    float s = (has_gain ? gain[gain_off + o] : 1.0f) * scale * rstd;
    for (int i = l; i < K; i += L)
        wh[wh_off + o * K + i] = (wr[i] - mean) * s;
}

/* Backward from d w_hat (dwh), statistics recomputed, xhat = (w - mean) * rstd:
 *   dgain[o] += scale * sum dwh * xhat
 *   dw += s * rstd * (dwh - mean(dwh) - xhat * mean(dwh * xhat))   (s = gain[o] * scale) */
__kernel void wstd_bwd(FCL_TENSOR(dw), FCL_TENSOR(dgain), FCL_CTENSOR(dwh), FCL_CTENSOR(w),
                       FCL_CTENSOR(gain), const int O, const int K, const float scale,
                       const float eps, const int flags, __local float *scratch)
{
    int o = get_group_id(0);
    if (o >= O)
        return;
    int l = get_local_id(0), L = get_local_size(0);
    __global const float *wr = w + w_off + o * K;
    __global const float *gr = dwh + dwh_off + o * K;
    float2 st = row_stats(wr, K, eps, scratch);
    float mean = st.x, rstd = st.y;
    float sg = 0.0f, sgx = 0.0f;
    for (int i = l; i < K; i += L) {
        float g = gr[i];
        sg += g;
        sgx += g * (wr[i] - mean) * rstd;
    }
    sg = fcl_wg_sum(sg, scratch);
    sgx = fcl_wg_sum(sgx, scratch);
    if (l == 0 && (flags & NORM_HAS_DB))
        dgain[dgain_off + o] += scale * sgx;
    if (flags & NORM_HAS_DW) {
        float s = ((flags & NORM_HAS_WEIGHT) ? gain[gain_off + o] : 1.0f) * scale * rstd;
        float mg = sg / (float)K, mgx = sgx / (float)K;
        for (int i = l; i < K; i += L)
            dw[dw_off + o * K + i] += s * (gr[i] - mg - (wr[i] - mean) * rstd * mgx);
    }
}
