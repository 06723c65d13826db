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

/* y = (x - mean) * rstd * w[c] + b[c] over the C values of each pixel; mean and the biased
 * variance in two passes (no cancellation); rstd = 1 / sqrt(var + eps). save_mean / save_rstd
 * [N * HW] (flag NORM_HAS_SAVE). y may be x: a pixel is read and written by one work-item, every
 * read of it before its first write. Global: (HW, N). */
__kernel void ln2d_fwd(FCL_TENSOR(y), FCL_CTENSOR(x), FCL_CTENSOR(w), FCL_CTENSOR(bias),
                       FCL_TENSOR(save_mean), FCL_TENSOR(save_rstd), const int n, const int C,
                       const int hw, const float eps, const int flags)
{
    int i = get_global_id(0), b = get_global_id(1);
    if (i >= hw || b >= n)
        return;
    int base = b * C * hw + i;
    __global const float *xp = x + x_off + base;
    float s = 0.0f;
    for (int c = 0; c < C; c++)
        s += xp[c * hw];
    float mean = s / (float)C;
    float q = 0.0f;
    for (int c = 0; c < C; c++) {
        float d = xp[c * hw] - mean;
        q += d * d;
    }
    float rstd = 1.0f / sqrt(q / (float)C + eps);
    if (flags & NORM_HAS_SAVE) {
        save_mean[save_mean_off + b * hw + i] = mean;
        save_rstd[save_rstd_off + b * hw + i] = rstd;
    }
    __global float *yp = y + y_off + base;
    for (int c = 0; c < C; c++) {
        float v = (xp[c * hw] - mean) * rstd;
        if (flags & NORM_HAS_WEIGHT)
            v *= w[w_off + c];
        if (flags & NORM_HAS_BIAS)
            v += bias[bias_off + c];
        yp[c * hw] = v;
    }
}

/* dx += rstd * (g - mean_c(g) - xhat * mean_c(g * xhat)), g = dy * w[c], xhat = (x - mean) *
 * rstd, per pixel (the statistics saved by the forward). Global: (HW, N). */
__kernel void ln2d_bwd_data(FCL_TENSOR(dx), FCL_CTENSOR(dy), FCL_CTENSOR(x), FCL_CTENSOR(w),
                            FCL_CTENSOR(save_mean), FCL_CTENSOR(save_rstd), const int n,
                            const int C, const int hw, const int flags)
{
    int i = get_global_id(0), b = get_global_id(1);
    if (i >= hw || b >= n)
        return;
    int base = b * C * hw + i;
    float mean = save_mean[save_mean_off + b * hw + i], rstd = save_rstd[save_rstd_off + b * hw + i];
    __global const float *xp = x + x_off + base;
    __global const float *gp = dy + dy_off + base;
    float sg = 0.0f, sgx = 0.0f;
    for (int c = 0; c < C; c++) {
        float g = gp[c * hw] * ((flags & NORM_HAS_WEIGHT) ? w[w_off + c] : 1.0f);
        sg += g;
        sgx += g * (xp[c * hw] - mean) * rstd;
    }
    float mg = sg / (float)C, mgx = sgx / (float)C;
    __global float *dp = dx + dx_off + base;
    for (int c = 0; c < C; c++) {
        float g = gp[c * hw] * ((flags & NORM_HAS_WEIGHT) ? w[w_off + c] : 1.0f);
        float xh = (xp[c * hw] - mean) * rstd;
        dp[c * hw] += rstd * (g - mg - xh * mgx);
    }
}

/* Per-channel parameter gradients. One work-group per channel c (global C * L, local L):
 *   dw[c] += sum over (b, i) of dy * xhat   (NORM_NORMALISE: xhat from the saved statistics;
 *                                            otherwise xhat = x: layer scale's dgamma)
 *   db[c] += sum over (b, i) of dy           (NORM_HAS_DB) */
__kernel void chan_param_grad(FCL_TENSOR(dw), FCL_TENSOR(db), FCL_CTENSOR(dy), FCL_CTENSOR(x),
                              FCL_CTENSOR(save_mean), FCL_CTENSOR(save_rstd), const int n,
                              const int C, const int hw, const int flags, __local float *scratch)
{
    int c = get_group_id(0);
    if (c >= C)
        return;
    int l = get_local_id(0), L = get_local_size(0);
    int total = n * hw;
    float aw = 0.0f, ab = 0.0f;
    for (int m = l; m < total; m += L) {
        int b = m / hw, i = m - b * hw;
        int k = (b * C + c) * hw + i;
        float g = dy[dy_off + k], v = x[x_off + k];
        if (flags & NORM_NORMALISE)
            v = (v - save_mean[save_mean_off + m]) * save_rstd[save_rstd_off + m];
        aw += g * v;
        ab += g;
    }
    /* both sums unconditionally: barriers under a flag test hang PoCL's work-group loops */
    float tw = fcl_wg_sum(aw, scratch), tb = fcl_wg_sum(ab, scratch);
    if (l == 0 && (flags & NORM_HAS_DW))
        dw[dw_off + c] += tw;
    if (l == 0 && (flags & NORM_HAS_DB))
        db[db_off + c] += tb;
}

/* Layer scale: y = x * gamma[c] (mode 0) or dx += dy * gamma[c] (mode 1), over [N, C, HW];
 * rows r = b * C + c. Global: (HW, N * C). y may be x. */
__kernel void chan_scale(FCL_TENSOR(y), FCL_CTENSOR(x), FCL_CTENSOR(gamma), const int nc,
                         const int C, const int hw, const int accumulate)
{
    int i = get_global_id(0), r = get_global_id(1);
    if (i >= hw || r >= nc)
        return;
    int k = r * hw + i;
    float v = x[x_off + k] * gamma[gamma_off + r % C];
    if (accumulate)
        y[y_off + k] += v;
    else
        y[y_off + k] = v;
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
