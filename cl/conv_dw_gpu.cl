/* cl/conv_dw_gpu.cl: GPU-shaped depthwise convolution (groups == cin == cout), any kernel size, stride, padding and dilation. */

/* Built as "reduce.cl+conv_dw_gpu.cl" (host/ops/conv_dw_gpu.c). Unlike cl/conv_dw.cl (one
 * work-item walks 8 or 16 outputs of a row with float8 registers, for CPUs), every work-item
 * here owns one element, consecutive work-items own consecutive pixels (coalesced), and the
 * forward pass stages its input patch in local memory. Layouts: x, dx [N, C, H, W]; y, dy
 * [N, C, OH, OW]; w, dw [C, 1, KH, KW]. */

/* y[nc][oy][ox] = b[c] + sum_{kh,kw} w[c][kh][kw] * x[nc][oy * sh - ph + kh * dh][ox * sw - pw + kw * dw]
 * One work-group computes a TOH x TOW tile of outputs of one (image, channel) plane
 * (TOW = get_local_size(0), TOH = get_local_size(1)); it first copies the input patch that tile
 * reads, PH x PW = ((TOH - 1) * sh + (KH - 1) * dh + 1) x ((TOW - 1) * sw + (KW - 1) * dw + 1),
 * into local memory (zeros outside the image), so each input is read from global memory once
 * per tile instead of KH * KW times. Global: (ceil(OW / TOW) * TOW, ceil(OH / TOH) * TOH, N * C). */
__kernel void conv_dw_tile_fwd(__global float *y, const int y_off, __global const float *x,
                               const int x_off, __global const float *w, const int w_off,
                               __global const float *b, const int b_off, const int has_bias,
                               const int C, const int H, const int W, const int KH, const int KW,
                               const int sh, const int sw, const int ph, const int pw, const int dh,
                               const int dw, const int OH, const int OW, const int PH, const int PW,
                               __local float *patch)
{
    const int tx = get_local_id(0), ty = get_local_id(1);
    const int TOW = get_local_size(0), TOH = get_local_size(1);
    const int ox0 = get_group_id(0) * TOW, oy0 = get_group_id(1) * TOH, nc = get_global_id(2);
    const int c = nc % C;
    __global const float *xp = x + x_off + nc * H * W;
    const int iy0 = oy0 * sh - ph, ix0 = ox0 * sw - pw;
    for (int e = ty * TOW + tx; e < PH * PW; e += TOW * TOH) {
        const int iy = iy0 + e / PW, ix = ix0 + e % PW;
        patch[e] = (uint)iy < (uint)H && (uint)ix < (uint)W ? xp[iy * W + ix] : 0.0f;
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    const int oy = oy0 + ty, ox = ox0 + tx;
    if (oy >= OH || ox >= OW) return;   /* after the only barrier */
    __global const float *wc = w + w_off + c * KH * KW;
    float s = has_bias ? b[b_off + c] : 0.0f;
    for (int kh = 0; kh < KH; kh++) {
        __local const float *pr = patch + (ty * sh + kh * dh) * PW + tx * sw;
        for (int kw = 0; kw < KW; kw++) s = fma(wc[kh * KW + kw], pr[kw * dw], s);
    }
    y[y_off + (nc * OH + oy) * OW + ox] = s;
}

/* dx[nc][iy][ix] += sum over the taps (kh, kw) whose output pixel (oy, ox) reads (iy, ix) of
 * w[c][kh][kw] * dy[nc][oy][ox] (gather, fixed tap order). One work-item per element of dx.
 * Global: (N * C * H * W). */
__kernel void conv_dw_px_bwd_data(__global float *dx, const int dx_off, __global const float *dy,
                                  const int dy_off, __global const float *w, const int w_off,
                                  const int NC, const int C, const int H, const int W, const int KH,
                                  const int KW, const int sh, const int sw, const int ph, const int pw,
                                  const int dh, const int dw, const int OH, const int OW)
{
    const int q = get_global_id(0);
    if (q >= NC * H * W) return;
    const int nc = q / (H * W), r = q - nc * H * W, iy = r / W, ix = r - iy * W, c = nc % C;
    __global const float *dp = dy + dy_off + nc * OH * OW;
    __global const float *wc = w + w_off + c * KH * KW;
    float s = 0.0f;
    CONV_FOR_TAPS_READING(iy, ix, s = fma(wc[kh * KW + kw], dp[oy * OW + ox], s))
    dx[dx_off + q] += s;
}

/* dw[c][kh][kw] += sum over images and output pixels of dy[n][c][oy][ox] * x[n][c][iy][ix].
 * One work-group per (channel, tap): its work-items walk the output pixels of every image
 * (consecutive work-items, consecutive pixels), then a work-group reduction.
 * Global: C * KH * KW * L, local L. */
__kernel void conv_dw_wg_bwd_weight(__global float *dwt, const int dw_off, __global const float *dy,
                                    const int dy_off, __global const float *x, const int x_off,
                                    const int N, const int C, const int H, const int W, const int KH,
                                    const int KW, const int sh, const int sw, const int ph,
                                    const int pw, const int dh, const int dw, const int OH,
                                    const int OW, __local float *scratch)
{
    const int tap = get_group_id(0), l = get_local_id(0), L = get_local_size(0);
    const int c = tap / (KH * KW), kh = (tap / KW) % KH, kw = tap % KW;
    float acc = 0.0f;
    for (int n = 0; n < N; n++) {
        __global const float *dp = dy + dy_off + (n * C + c) * OH * OW;
        __global const float *xp = x + x_off + (n * C + c) * H * W;
        for (int p = l; p < OH * OW; p += L) {
            const int oy = p / OW, ox = p - oy * OW;
            const int iy = oy * sh - ph + kh * dh, ix = ox * sw - pw + kw * dw;
            if ((uint)iy < (uint)H && (uint)ix < (uint)W) acc = fma(dp[p], xp[iy * W + ix], acc);
        }
    }
    const float total = fcl_wg_sum(acc, scratch);
    if (l == 0) dwt[dw_off + tap] += total;
}
