/* cl/eltwise.cl: elementwise kernels (add, axpby, channel multiply, concat copies, dropout, drop path, sum). */

/* Tensors are (buffer, element offset) pairs. Streaming kernels handle FCL_VEC consecutive
 * elements per work-item with vloadN/vstoreN (element-aligned, so any offset works): PoCL does
 * not vectorise across work-items once a kernel has a loop, so the SIMD is explicit. The last,
 * partial chunk of a row falls back to scalars. FCL_VEC comes from the "eltwise" tuning row. */

#ifndef FCL_VEC
#error "FCL_VEC comes from the \"eltwise\" tuning family (host/runtime/tuning_table.c)"
#endif

/* Work-group size of sum_all: fixed, so the reduction tree (and its rounding) never changes. */
#define SUM_WG 64

/* y = a + b over n elements. y may be a or b. Global: ceil(n / FCL_VEC). */
__kernel void add_fwd(FCL_TENSOR(y), FCL_CTENSOR(a), FCL_CTENSOR(b), const int n)
{
    int i0 = get_global_id(0) * FCL_VEC;
    if (i0 + FCL_VEC <= n) {
        VSTORE(VLOAD(0, a + a_off + i0) + VLOAD(0, b + b_off + i0), 0, y + y_off + i0);
    } else {
        for (int i = i0; i < n; i++)
            y[y_off + i] = a[a_off + i] + b[b_off + i];
    }
}

/* y = alpha * x + beta * y; y is not read when beta == 0. x may be y. Global: ceil(n / FCL_VEC). */
__kernel void axpby(FCL_TENSOR(y), FCL_CTENSOR(x), const int n, const float alpha, const float beta)
{
    int i0 = get_global_id(0) * FCL_VEC;
    if (i0 + FCL_VEC <= n) {
        VF v = alpha * VLOAD(0, x + x_off + i0);
        if (beta != 0.0f)
            v += beta * VLOAD(0, y + y_off + i0);
        VSTORE(v, 0, y + y_off + i0);
    } else {
        for (int i = i0; i < n; i++) {
            float v = alpha * x[x_off + i];
            if (beta != 0.0f)
                v += beta * y[y_off + i];
            y[y_off + i] = v;
        }
    }
}

/* SE scaling. Planes p = n * C + c of hw values: out[p, j] = in[p, j] * s[p] (the forward, y
 * from x) or, accumulate, out[p, j] += in[p, j] * s[p] (the backward to the data, dx from dy).
 * Global: (ceil(hw / FCL_VEC), nc). */
__kernel void chmul(FCL_TENSOR(out), FCL_CTENSOR(in), FCL_CTENSOR(s), const int nc, const int hw,
                    const int accumulate)
{
    int j0 = get_global_id(0) * FCL_VEC, p = get_global_id(1);
    if (p >= nc)
        return;
    float sv = s[s_off + p];
    __global float *o = out + out_off + p * hw;
    __global const float *i = in + in_off + p * hw;
    if (j0 + FCL_VEC <= hw) {
        if (accumulate)
            VSTORE(VLOAD(0, o + j0) + VLOAD(0, i + j0) * sv, 0, o + j0);
        else
            VSTORE(VLOAD(0, i + j0) * sv, 0, o + j0);
    } else {
        for (int j = j0; j < hw; j++) {
            if (accumulate)
                o[j] += i[j] * sv;
            else
                o[j] = i[j] * sv;
        }
    }
}

/* Sum of the FCL_VEC lanes in a fixed order. */
inline float vsum(VF v)
{
    float t[FCL_VEC];
    VSTORE(v, 0, t);
    float s = 0.0f;
    for (int l = 0; l < FCL_VEC; l++)
        s += t[l];
    return s;
}

/* ds[p] += sum_j dy[p, j] * x[p, j], one work-item per plane, lanes then tail in fixed order.
 * Global: nc. */
__kernel void chmul_bwd_scale(FCL_TENSOR(ds), FCL_CTENSOR(dy), FCL_CTENSOR(x), const int nc,
                              const int hw)
{
    FCL_ITEM_OR_RETURN(p, nc);
    __global const float *g = dy + dy_off + p * hw, *v = x + x_off + p * hw;
    VF acc = (VF)(0.0f);
    int j = 0;
    for (; j + FCL_VEC <= hw; j += FCL_VEC)
        acc += VLOAD(0, g + j) * VLOAD(0, v + j);
    float s = vsum(acc);
    for (; j < hw; j++)
        s += g[j] * v[j];
    ds[ds_off + p] += s;
}

/* Strided block copy used by channel concat/split: for each of `rows` rows r,
 * dst[dst_off + r * dst_stride + j] (+)= src[src_off + r * src_stride + j], j < row_len.
 * accumulate != 0 adds instead of overwriting. Global: (ceil(row_len / FCL_VEC), rows). */
__kernel void block_copy(FCL_TENSOR(dst), const int dst_stride, FCL_CTENSOR(src),
                         const int src_stride, const int row_len, const int rows,
                         const int accumulate)
{
    int j0 = get_global_id(0) * FCL_VEC, r = get_global_id(1);
    if (r >= rows)
        return;
    __global float *d = dst + dst_off + r * dst_stride;
    __global const float *s = src + src_off + r * src_stride;
    if (j0 + FCL_VEC <= row_len) {
        VF v = VLOAD(0, s + j0);
        if (accumulate)
            v += VLOAD(0, d + j0);
        VSTORE(v, 0, d + j0);
    } else {
        for (int j = j0; j < row_len; j++)
            d[j] = accumulate ? d[j] + s[j] : s[j];
    }
}

/* The dropout mask: the top 24 bits of splitmix64's output number idx + 1 from state `seed`,
 * i.e. a stateless hash of (seed, idx). Element idx is kept iff the value >= thr. Must match
 * fcl_dropout_keep in host/ops/eltwise.c bit for bit. */
inline uint drop_bits(ulong seed, ulong idx)
{
    ulong z = seed + (idx + 1UL) * 0x9E3779B97F4A7C15UL;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
    z ^= z >> 31;
    return (uint)(z >> 40);
}

/* out[i] = (accumulate ? out[i] : 0) + in[i] * (keep(i) ? scale : 0): the training forward
 * y = x * mask (a dropped NaN stays NaN, as in torch's input * mask; y may be x) and, accumulate,
 * the backward dx += dy * mask. Global: ceil(n / FCL_VEC). */
__kernel void dropout(FCL_TENSOR(out), FCL_CTENSOR(in), const int n, const ulong seed, const uint thr,
                      const float scale, const int accumulate)
{
    int i0 = get_global_id(0) * FCL_VEC;
    for (int l = 0; l < FCL_VEC; l++) {
        int i = i0 + l;
        if (i >= n)
            break;
        float m = drop_bits(seed, (ulong)i) >= thr ? scale : 0.0f;
        if (accumulate)
            out[out_off + i] += in[in_off + i] * m;
        else
            out[out_off + i] = in[in_off + i] * m;
    }
}

/* Drop path (stochastic depth, per sample): element i belongs to sample i / per_sample, which is
 * kept iff drop_bits(seed, sample) >= thr (the dropout hash on the sample index).
 * out[i] = (accumulate ? out[i] : 0) + in[i] * (kept ? scale : 0). out may be in (forward).
 * Global: ceil(n / FCL_VEC). */
__kernel void drop_path(FCL_TENSOR(out), FCL_CTENSOR(in), const int n, const int per_sample,
                        const ulong seed, const uint thr, const float scale, const int accumulate)
{
    int i0 = get_global_id(0) * FCL_VEC;
    /* a whole vector inside one sample: one factor, vector loads (the element loop below ran one
     * scalar at a time with a division each: ConvNeXt-tiny's 32x96x28x28 at 8.7 GB/s on Zen 5) */
    if (i0 + FCL_VEC <= n && i0 / per_sample == (i0 + FCL_VEC - 1) / per_sample) {
        const float f = drop_bits(seed, (ulong)(i0 / per_sample)) >= thr ? scale : 0.0f;
        const VF v = VLOAD(0, in + in_off + i0) * f;
        VSTORE(accumulate ? VLOAD(0, out + out_off + i0) + v : v, 0, out + out_off + i0);
        return;
    }
    int last = -1;
    float f = 0.0f;
    for (int l = 0; l < FCL_VEC; l++) {
        int i = i0 + l;
        if (i >= n)
            break;
        int b = i / per_sample;
        if (b != last) {
            f = drop_bits(seed, (ulong)b) >= thr ? scale : 0.0f;
            last = b;
        }
        float v = in[in_off + i] * f;
        out[out_off + i] = accumulate ? out[out_off + i] + v : v;
    }
}

/* out[out_off] = scale * sum(x[0..n)). Exactly one work-group of SUM_WG: work-item l sums
 * elements l, l + SUM_WG, ... in order, then a fixed binary tree: deterministic. */
__kernel __attribute__((reqd_work_group_size(SUM_WG, 1, 1)))
void sum_all(FCL_TENSOR(out), FCL_CTENSOR(x), const int n, const float scale)
{
    __local float part[SUM_WG];
    int l = get_local_id(0);
    float acc = 0.0f;
    for (int i = l; i < n; i += SUM_WG)
        acc += x[x_off + i];
    part[l] = acc;
    fcl_tree_sum(part, l, SUM_WG);
    if (l == 0)
        out[out_off] = scale * part[0];
}
