/* cl/optim.cl: optimizer updates (SGD, AdamW) over chunk tables of flat buffers, the two-stage gradient-norm reduction + scale, and adaptive gradient clipping. */

/* Parameters, gradients and state are (buffer, element offset) pairs over the same flat
 * indexing. An update kernel runs one work-group per chunk of a parameter group: the chunk table
 * `tab` holds (start, count) int pairs, start relative to the flat buffers, count <= the chunk
 * size the host chose. Work-item l of a group handles FCL_VEC consecutive elements at
 * l * FCL_VEC, then every FCL_VEC * local_size further (vloadN: PoCL does not vectorise across
 * work-items once a kernel loops, so the SIMD is explicit). The float operations per element
 * follow torch's order, so results agree to rounding. FCL_VEC comes from the "eltwise" tuning
 * row (the same streaming access pattern). */

#ifndef FCL_VEC
#error "FCL_VEC comes from the \"eltwise\" tuning family (host/runtime/tuning_table.c)"
#endif

/* Work-group size of the norm reduction: fixed, so the tree (and its rounding) never changes. */
#define RED_WG 64

/* red[0] = the sum of red[0 .. RED_WG), by a fixed tree; every work-item of the group calls it
 * after writing its red[l]. */
inline void red_tree(__local float *red, int l)
{
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int s2 = RED_WG / 2; s2 > 0; s2 >>= 1) {
        if (l < s2)
            red[l] += red[l + s2];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
}

/* The start of a step over one chunk: work-group c takes chunk c of the table (start, count),
 * its work-items FCL_VEC elements at a time, `step` apart; P and G at the chunk's start. */
#define CHUNK_BEGIN                                                                                  \
    int c = get_group_id(0);                                                                         \
    if (c >= n_chunks)                                                                               \
        return;                                                                                      \
    int start = tab[tab_off + 2 * c], count = tab[tab_off + 2 * c + 1];                              \
    int step = (int)get_local_size(0) * FCL_VEC;                                                     \
    __global float *P = p + p_off + start;                                                           \
    __global const float *G = g + g_off + start

/* SGD on one group. Per element (torch.optim.SGD, single-tensor path):
 *   d = g + wd * p
 *   if use_mom: buf = first ? d : mu * buf + omd * d;  d = nesterov ? d + mu * buf : buf
 *   p = p - lr * d
 * omd = 1 - dampening. buf is not touched when use_mom == 0 (the host binds a dummy).
 * Global: n_chunks * local. */
__kernel void sgd_step(FCL_TENSOR(p), FCL_CTENSOR(g), FCL_TENSOR(buf), __global const int *tab,
                       const int tab_off, const int n_chunks, const float lr, const float wd,
                       const float mu, const float omd, const int nesterov, const int first,
                       const int use_mom)
{
    CHUNK_BEGIN;
    __global float *B = buf + buf_off + start;
    for (int i = (int)get_local_id(0) * FCL_VEC; i < count; i += step) {
        if (i + FCL_VEC <= count) {
            VF pv = VLOAD(0, P + i);
            VF d = VLOAD(0, G + i);
            if (wd != 0.0f)
                d = d + wd * pv;
            if (use_mom) {
                VF b = first ? d : mu * VLOAD(0, B + i) + omd * d;
                VSTORE(b, 0, B + i);
                d = nesterov ? d + mu * b : b;
            }
            VSTORE(pv - lr * d, 0, P + i);
        } else {
            for (int j = i; j < count; j++) {
                float pv = P[j], d = G[j];
                if (wd != 0.0f)
                    d = d + wd * pv;
                if (use_mom) {
                    float b = first ? d : mu * B[j] + omd * d;
                    B[j] = b;
                    d = nesterov ? d + mu * b : b;
                }
                P[j] = pv - lr * d;
            }
        }
    }
}

/* AdamW on one group. Per element (torch.optim.AdamW, single-tensor path):
 *   p = p * decay                       decay = 1 - lr * wd
 *   m = b1 * m + omb1 * g               omb1 = 1 - b1
 *   v = b2 * v + omb2 * g * g           omb2 = 1 - b2
 *   p = p - step_size * m / (sqrt(v) / bc2_sqrt + eps)
 * step_size = lr / (1 - b1^t), bc2_sqrt = sqrt(1 - b2^t), computed in double on the host.
 * Global: n_chunks * local. */
__kernel void adamw_step(FCL_TENSOR(p), FCL_CTENSOR(g), FCL_TENSOR(m), FCL_TENSOR(v),
                         __global const int *tab, const int tab_off, const int n_chunks,
                         const float decay, const float b1, const float omb1, const float b2,
                         const float omb2, const float step_size, const float bc2_sqrt,
                         const float eps)
{
    CHUNK_BEGIN;
    __global float *M = m + m_off + start;
    __global float *V = v + v_off + start;
    for (int i = (int)get_local_id(0) * FCL_VEC; i < count; i += step) {
        if (i + FCL_VEC <= count) {
            VF gv = VLOAD(0, G + i);
            VF pv = VLOAD(0, P + i) * decay;
            VF mv = b1 * VLOAD(0, M + i) + omb1 * gv;
            VF vv = b2 * VLOAD(0, V + i) + omb2 * (gv * gv);
            VF den = sqrt(vv) / bc2_sqrt + eps;
            VSTORE(mv, 0, M + i);
            VSTORE(vv, 0, V + i);
            VSTORE(pv - step_size * (mv / den), 0, P + i);
        } else {
            for (int j = i; j < count; j++) {
                float gv = G[j];
                float pv = P[j] * decay;
                float mv = b1 * M[j] + omb1 * gv;
                float vv = b2 * V[j] + omb2 * (gv * gv);
                float den = sqrt(vv) / bc2_sqrt + eps;
                M[j] = mv;
                V[j] = vv;
                P[j] = pv - step_size * (mv / den);
            }
        }
    }
}

/* Stage 1 of the squared-norm reduction: work-group b sums x^2 over elements
 * [b * per, min(n, (b + 1) * per)) into part[b] (a fixed tree: per-work-item strided vector
 * sums, lanes added in order, then a halving tree over RED_WG). Global: nparts * RED_WG,
 * local RED_WG. */
__kernel __attribute__((reqd_work_group_size(RED_WG, 1, 1)))
void sumsq_partial(__global float *part, FCL_CTENSOR(x), const int n, const int per,
                   const int nparts)
{
    __local float red[RED_WG];
    int b = get_group_id(0), l = get_local_id(0);
    float acc = 0.0f;
    if (b < nparts) {
        int s = b * per;
        int e = min(n, s + per);
        int len = e > s ? e - s : 0;
        __global const float *X = x + x_off + s;
        VF va = (VF)(0.0f);
        int nvec = len / FCL_VEC;
        for (int j = l; j < nvec; j += RED_WG) {
            VF t = VLOAD(j, X);
            va += t * t;
        }
        float lanes[FCL_VEC];
        VSTORE(va, 0, lanes);
        for (int k = 0; k < FCL_VEC; k++)
            acc += lanes[k];
        if (l == 0)
            for (int j = nvec * FCL_VEC; j < len; j++)
                acc += X[j] * X[j];
    }
    red[l] = acc;
    red_tree(red, l);
    if (l == 0 && b < nparts)
        part[b] = red[0];
}

/* Stage 2: one work-group adds the nparts partials (strided, then a tree) and writes
 * out[0] = sqrt(sum) (the total norm) and out[1] = max_norm / (norm + 1e-6) (the clip
 * coefficient, as torch computes it in float). Global = local = RED_WG. */
__kernel __attribute__((reqd_work_group_size(RED_WG, 1, 1)))
void sumsq_final(__global float *out, __global const float *part, const int nparts,
                 const float max_norm)
{
    __local float red[RED_WG];
    int l = get_local_id(0);
    float acc = 0.0f;
    for (int j = l; j < nparts; j += RED_WG)
        acc += part[j];
    red[l] = acc;
    red_tree(red, l);
    if (l == 0) {
        float norm = sqrt(red[0]);
        out[0] = norm;
        out[1] = max_norm / (norm + 1e-6f);
    }
}

/* Stage 3: x *= coef where coef = coef_buf[1] is < 1 or NaN (torch multiplies by
 * clamp(coef, max=1), and a factor of exactly 1 changes nothing). Global: ceil(n / FCL_VEC). */
__kernel void scale_by_coef(FCL_TENSOR(x), const int n, __global const float *coef_buf)
{
    float coef = coef_buf[1];
    if (coef >= 1.0f)
        return;
    int i0 = get_global_id(0) * FCL_VEC;
    if (i0 + FCL_VEC <= n) {
        VSTORE(coef * VLOAD(0, x + x_off + i0), 0, x + x_off + i0);
    } else {
        for (int i = i0; i < n; i++)
            x[x_off + i] = coef * x[x_off + i];
    }
}

/* Adaptive gradient clipping (NFNet; timm's adaptive_clip_grad), unit-wise. One work-group of
 * RED_WG per unit (global n_units * RED_WG); units is a table of (start, count) int pairs into
 * the flat buffers. Per unit: pn = ||p||, gn = ||g|| (work-item l sums elements l, l + RED_WG,
 * ... in order, then a halving tree: deterministic); max_norm = max(pn, eps) * clip;
 * g *= max_norm / max(gn, 1e-6) unless gn < max_norm (a NaN norm also scales, as torch.where). */
__kernel __attribute__((reqd_work_group_size(RED_WG, 1, 1)))
void agc_clip(FCL_CTENSOR(p), FCL_TENSOR(g), __global const int *units, const int n_units,
              const float clip, const float eps)
{
    /* no return anywhere: PoCL's work-group loops crash on an early return around barriers */
    __local float rp[RED_WG], rg[RED_WG];
    int u = get_group_id(0), l = get_local_id(0);
    int ok = u < n_units;
    int start = ok ? units[2 * u] : 0, count = ok ? units[2 * u + 1] : 0;
    __global const float *P = p + p_off + start;
    __global float *G = g + g_off + start;
    float sp = 0.0f, sg = 0.0f;
    for (int i = l; i < count; i += RED_WG) {
        sp += P[i] * P[i];
        sg += G[i] * G[i];
    }
    rp[l] = sp;
    rg[l] = sg;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int s2 = RED_WG / 2; s2 > 0; s2 >>= 1) {
        if (l < s2) {
            rp[l] += rp[l + s2];
            rg[l] += rg[l + s2];
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    /* clamps written as comparisons so a NaN norm stays NaN (torch's clamp; fmax would drop it) */
    float pn = sqrt(rp[0]), gn = sqrt(rg[0]);
    float max_norm = (pn < eps ? eps : pn) * clip;
    if (!(gn < max_norm)) {
        float f = max_norm / (gn < 1e-6f ? 1e-6f : gn);
        for (int i = l; i < count; i += RED_WG)
            G[i] = G[i] * f;
    }
}
