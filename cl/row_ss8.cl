/* cl/row_ss8.cl: a row's sum of squares in one fixed order, shared by gemm_wt's fused weight norms and head_w_norms (built before both). */

/* sum_t p[t]^2 over d floats: 8 lanes (t mod 8) of fma chains, added (0+4, 2+6) + (1+5, 3+7),
 * then the tail; the same float operations in every program whatever its family's vector width,
 * so that the margin heads' weight norms from the forward's GEMM (cl/gemm_wt.cl) and from
 * head_w_norms (cl/margin_head.cl) agree bit for bit. */
inline float fcl_row_ss8(__global const float *p, const int d)
{
    float8 s = (float8)(0.0f);
    int t = 0;
    for (; t + 8 <= d; t += 8) {
        const float8 v = vload8(0, p + t);
        s = fma(v, v, s);
    }
    const float4 h = s.lo + s.hi;
    const float2 q = h.even + h.odd;
    float r = q.x + q.y;
    for (; t < d; t++) r = fma(p[t], p[t], r);
    return r;
}

/* rb = 1 / max(nrm, eps) (l2norm_inv's scale) and q = rb, or 0 where the norm is clamped */
inline void fcl_inv_norm_pair(const float nrm, const float eps, __global float *rb, __global float *q)
{
    const float inv = 1.0f / fmax(nrm, eps);
    *rb = inv;
    *q = nrm <= eps ? 0.0f : inv;
}
