/* cl/loss.cl: row-wise kernels: softmax cross-entropy, log-softmax, L2 normalisation. */

/* Every kernel here runs one work-item per row of a [n, k] matrix and loops over the row in a
 * fixed order, so results are deterministic. Rows are batches (tens to thousands), row lengths
 * are classes or embedding sizes. */

/* The CPU kernels below loop over a row in vectors of FCL_VEC floats (a scalar loop runs exp
 * one element at a time: 128 rows of 10,575 classes took ~70% as long as the ArcFace head's
 * GEMMs), lanes first, then the lanes in order and the scalar tail: still a fixed order. */

/* Max of a row, ignoring NaNs (they propagate through the later exp/log). */
inline float row_max(__global const float *r, int k)
{
    VF mv = (VF)(-INFINITY);
    int j = 0;
    for (; j + FCL_VEC <= k; j += FCL_VEC) mv = fmax(mv, VLOAD(0, r + j));
    float mt[FCL_VEC];
    VSTORE(mv, 0, mt);
    float m = mt[0];
    for (int l = 1; l < FCL_VEC; l++) m = fmax(m, mt[l]);
    for (; j < k; j++) m = fmax(m, r[j]);
    return m;
}

/* exp(x), or 0 where exp(x) would be below the smallest normal float (x < -87: exp(-87) is
 * 1.6e-38). With logit scales of 64 (ArcFace, CosFace) most of a 10,000-class row's exp(z - max)
 * underflow: computed, they are subnormal, and on x86 every subnormal result or operand takes a
 * microcode assist (the softmax rows of a 64 x 10,575 ArcFace head took as long as a fifth of its
 * GEMMs). Such terms change no sum that holds the row's max term (1), and the gradients flush them
 * anyway (flush_subnormal). The argument is clamped before exp so that no lane computes one; NaN
 * stays NaN. */
#define EXP_LO (-87.0f)
inline float exp_normal(float x)
{
    return isless(x, EXP_LO) ? 0.0f : exp(isless(x, EXP_LO) ? EXP_LO : x);
}
inline VF vexp_normal(VF x)
{
    const VF lo = (VF)(EXP_LO);
    return select(exp(select(x, lo, isless(x, lo))), (VF)(0.0f), isless(x, lo));
}

/* sum_j exp(r_j - m) and, when below != NULL, sum_j (m - r_j), for the row max m. */
inline float row_sum_exp(__global const float *r, int k, float m, float *below)
{
    VF s = (VF)(0.0f), b = (VF)(0.0f);
    int j = 0;
    for (; j + FCL_VEC <= k; j += FCL_VEC) {
        const VF v = VLOAD(0, r + j);
        s += vexp_normal(v - m);
        b += m - v;
    }
    float st = HSUM(s), bt = HSUM(b);
    for (; j < k; j++) {
        st += exp_normal(r[j] - m);
        bt += m - r[j];
    }
    if (below) *below = bt;
    return st;
}

/* sum_j a_j b_j over a row of d values. */
inline float row_dot(__global const float *a, __global const float *b, int d)
{
    VF s = (VF)(0.0f);
    int j = 0;
    for (; j + FCL_VEC <= d; j += FCL_VEC) s = fma(VLOAD(0, a + j), VLOAD(0, b + j), s);
    float t = HSUM(s);
    for (; j < d; j++) t = fma(a[j], b[j], t);
    return t;
}

/* log sum_j exp(r_j - m) for the row max m (>= 0; no overflow). Callers form (r_j - m) - this
 * rather than r_j - (m + this): with large logits, m + this would round to the float spacing of
 * m (6e-5 at 1000) while r_j - m is exact for r_j near m. */
inline float row_lse_m(__global const float *r, int k, float m)
{
    return log(row_sum_exp(r, k, m, 0));
}

/* A gradient below the smallest normal float (1.2e-38) is stored as zero. With logit scales of 64
 * (ArcFace, CosFace) most softmax probabilities of a 10,000-class row underflow into the subnormal
 * range, and the GEMMs that consume these gradients (the cosine matrix's backward) then ran 20x
 * slower on x86 CPUs (every subnormal operand takes a microcode assist): 22 s instead of 1.3 s for
 * a 128 x 512 -> 10,575 ArcFace head. The values dropped are below any gradient's resolution. */
inline float flush_subnormal(float v)
{
    return fabs(v) < FLT_MIN ? 0.0f : v;
}

/* Per-row label-smoothed cross-entropy:
 *   loss_i = (1 - eps) (lse - z_c) + eps * mean_j (lse - z_j)
 * written as sums of non-negative terms (lse >= every z_j): no cancellation.
 * Global: n. */
__kernel void xent_fwd_rows(FCL_TENSOR(rl), FCL_CTENSOR(z), FCL_CTENSOR(lab), const int n,
                            const int k, const float eps)
{
    FCL_ITEM_OR_RETURN(i, n);
    __global const float *r = z + z_off + i * k;
    int c = label_index(lab[lab_off + i], k);
    if (c < 0) {
        rl[rl_off + i] = NAN;
        return;
    }
    float m = row_max(r, k);
    float below;                     /* sum (m - z) */
    float lse_m = log(row_sum_exp(r, k, m, &below));   /* lse - m >= 0 */
    rl[rl_off + i] = (1.0f - eps) * (lse_m + (m - r[c])) + eps * (lse_m + below / (float)k);
}

/* dz[i, j] += coef * (softmax(z_i)_j - q_ij), q = (1 - eps) onehot(c) + eps / k, coef = dloss / N.
 * Global: n. */
__kernel void xent_bwd(FCL_TENSOR(dz), FCL_CTENSOR(z), FCL_CTENSOR(lab), const int n, const int k,
                       const float eps, const float coef)
{
    FCL_ITEM_OR_RETURN(i, n);
    __global const float *r = z + z_off + i * k;
    __global float *g = dz + dz_off + i * k;
    int c = label_index(lab[lab_off + i], k);
    if (c < 0) {
        for (int j = 0; j < k; j++)
            g[j] = NAN;
        return;
    }
    float m = row_max(r, k);
    float lse_m = row_lse_m(r, k, m);
    float off = eps / (float)k, gc = g[c];
    int j = 0;
    for (; j + FCL_VEC <= k; j += FCL_VEC) {
        const VF v = VLOAD(0, g + j) + coef * (vexp_normal((VLOAD(0, r + j) - m) - lse_m) - off);
        VSTORE(select(v, (VF)(0.0f), isless(fabs(v), (VF)(FLT_MIN))), 0, g + j);
    }
    for (; j < k; j++) g[j] = flush_subnormal(g[j] + coef * (exp_normal((r[j] - m) - lse_m) - off));
    /* the label's entry also subtracts 1 - eps (from its value before the loop) */
    g[c] = flush_subnormal(gc + coef * (exp_normal((r[c] - m) - lse_m) - (1.0f - eps + off)));
}

/* y = x - lse(x) per row. y may be x (each row is read fully before it is written).
 * Global: n. */
__kernel void log_softmax_fwd(FCL_TENSOR(y), FCL_CTENSOR(x), const int n, const int k)
{
    FCL_ITEM_OR_RETURN(i, n);
    __global const float *r = x + x_off + i * k;
    float m = row_max(r, k);
    float lse_m = row_lse_m(r, k, m);
    for (int j = 0; j < k; j++)
        y[y_off + i * k + j] = (r[j] - m) - lse_m;
}

/* dx += dy - exp(y) * sum_j dy_j per row (y: the forward output). Global: n. */
__kernel void log_softmax_bwd(FCL_TENSOR(dx), FCL_CTENSOR(dy), FCL_CTENSOR(y), const int n,
                              const int k)
{
    FCL_ITEM_OR_RETURN(i, n);
    __global const float *g = dy + dy_off + i * k, *yr = y + y_off + i * k;
    float s = 0.0f;
    for (int j = 0; j < k; j++)
        s += g[j];
    for (int j = 0; j < k; j++)
        dx[dx_off + i * k + j] += g[j] - exp_normal(yr[j]) * s;
}

/* y = x / max(||x||, eps) per row of d values. y may be x. Global: n. */
__kernel void l2norm_fwd(FCL_TENSOR(y), FCL_CTENSOR(x), const int n, const int d, const float eps)
{
    FCL_ITEM_OR_RETURN(i, n);
    __global const float *r = x + x_off + i * d;
    __global float *o = y + y_off + i * d;
    float den = fmax(sqrt(row_dot(r, r, d)), eps);
    int j = 0;
    for (; j + FCL_VEC <= d; j += FCL_VEC) VSTORE(VLOAD(0, r + j) / den, 0, o + j);
    for (; j < d; j++) o[j] = r[j] / den;
}

/* dx += (dy - y (y . dy)) / ||x|| with y = x / ||x||, or dy / eps where the norm is clamped.
 * Global: n. */
__kernel void l2norm_bwd(FCL_TENSOR(dx), FCL_CTENSOR(dy), FCL_CTENSOR(x), const int n, const int d,
                         const float eps)
{
    FCL_ITEM_OR_RETURN(i, n);
    __global const float *r = x + x_off + i * d, *g = dy + dy_off + i * d;
    __global float *o = dx + dx_off + i * d;
    float nrm = sqrt(row_dot(r, r, d)), dot = row_dot(r, g, d);
    if (nrm <= eps) {
        for (int j = 0; j < d; j++)
            o[j] += g[j] / eps;
        return;
    }
    float ydot = dot / nrm;          /* y . dy */
    int j = 0;
    for (; j + FCL_VEC <= d; j += FCL_VEC)
        VSTORE(VLOAD(0, o + j) + (VLOAD(0, g + j) - (VLOAD(0, r + j) / nrm) * ydot) / nrm, 0, o + j);
    for (; j < d; j++) o[j] += (g[j] - (r[j] / nrm) * ydot) / nrm;
}

/* r[i] = 1 / max(||x_i||, eps) per row of d values: the scale of l2norm_fwd, for the cosine
 * matrix, which scales A B^T rather than normalising B (a [classes, 512] weight) into a copy.
 * Global: n. */
__kernel void l2norm_inv(FCL_TENSOR(r), FCL_CTENSOR(x), const int n, const int d, const float eps)
{
    FCL_ITEM_OR_RETURN(i, n);
    __global const float *p = x + x_off + i * d;
    r[r_off + i] = 1.0f / fmax(sqrt(row_dot(p, p, d)), eps);
}

/* dx += g - y (y . g) with y = x / ||x||, for g = dy / ||x|| (a gradient already scaled by
 * l2norm_inv's r): l2norm_bwd's result; dx += g where the norm is clamped (g = dy / eps).
 * Global: n. */
__kernel void l2norm_bwd_scaled(FCL_TENSOR(dx), FCL_CTENSOR(g), FCL_CTENSOR(x), const int n, const int d,
                                const float eps)
{
    FCL_ITEM_OR_RETURN(i, n);
    __global const float *r = x + x_off + i * d, *gr = g + g_off + i * d;
    __global float *o = dx + dx_off + i * d;
    float nrm = sqrt(row_dot(r, r, d));
    if (nrm <= eps) {
        for (int j = 0; j < d; j++)
            o[j] += gr[j];
        return;
    }
    float ydot = row_dot(r, gr, d) / nrm;   /* y . g, then y = x / ||x|| per element as l2norm_bwd */
    int j = 0;
    for (; j + FCL_VEC <= d; j += FCL_VEC)
        VSTORE(VLOAD(0, o + j) + (VLOAD(0, gr + j) - (VLOAD(0, r + j) / nrm) * ydot), 0, o + j);
    for (; j < d; j++) o[j] += gr[j] - (r[j] / nrm) * ydot;
}

/* y [n, k] = x [n, k] * ra[i] * rb[j] (y may be x): the cosine matrix from A B^T, and the
 * scaled gradient of its backward, where the scales (1 / norms of 512-d rows, often < 0.1)
 * would turn the smallest normal gradients of a margin head into subnormals that the GEMMs then
 * read (microcode assists: its backward took 1.3x as long): results below FLT_MIN are stored as
 * zero, as flush_subnormal says. Global: (ceil(k / FCL_VEC), n). */
__kernel void scale_rows_cols(FCL_TENSOR(y), FCL_CTENSOR(x), FCL_CTENSOR(ra), FCL_CTENSOR(rb), const int n,
                              const int k)
{
    const int j0 = get_global_id(0) * FCL_VEC, i = get_global_id(1);
    if (i >= n || j0 >= k)
        return;
    const float a = ra[ra_off + i];
    __global const float *xr = x + x_off + i * k;
    __global float *yr = y + y_off + i * k;
    if (j0 + FCL_VEC <= k) {
        const VF v = VLOAD(0, xr + j0) * a * VLOAD(0, rb + rb_off + j0);
        VSTORE(select(v, (VF)(0.0f), isless(fabs(v), (VF)(FLT_MIN))), 0, yr + j0);
    } else {
        for (int j = j0; j < k; j++)
            yr[j] = flush_subnormal(xr[j] * a * rb[rb_off + j]);
    }
}

/* ---- GPU shape: one work-group per row ---------------------------------------------------------
 * The same semantics as the kernels above with a row spread over a work-group: work-item l
 * takes the columns l, l + L, ... (consecutive work-items read consecutive addresses), and the
 * row's max and sums are work-group reductions (cl/reduce.cl: subgroups where the device has
 * them). The file is built as "reduce.cl+loss.cl"; the host picks this shape where the "loss"
 * tuning row sets FCL_ROW_WG (host/ops/op_util.c: fcl_op_rows_kernel). Global: n * L, local L.
 * A bad label is the same for the whole group, so its early return skips every barrier. */

/* Max and log-sum-exp (minus the max) of row r, over the group. */
inline float wg_row_max(__global const float *r, int k, __local float *s)
{
    float m = -INFINITY;
    for (int j = get_local_id(0); j < k; j += get_local_size(0))
        m = FCL_OP_MAX(m, r[j]);
    return fcl_wg_max(m, s);
}

inline float wg_row_lse_m(__global const float *r, int k, float m, __local float *s)
{
    float e = 0.0f;
    for (int j = get_local_id(0); j < k; j += get_local_size(0))
        e += exp_normal(r[j] - m);
    return log(fcl_wg_sum(e, s));
}

__kernel void xent_fwd_rows_wg(FCL_TENSOR(rl), FCL_CTENSOR(z), FCL_CTENSOR(lab), const int n,
                               const int k, const float eps, __local float *s)
{
    int i = get_group_id(0), l = get_local_id(0), L = get_local_size(0);
    __global const float *r = z + z_off + i * k;
    int c = label_index(lab[lab_off + i], k);
    if (c < 0) {
        if (l == 0)
            rl[rl_off + i] = NAN;
        return;
    }
    float m = wg_row_max(r, k, s);
    float e = 0.0f, below = 0.0f;
    for (int j = l; j < k; j += L) {
        e += exp_normal(r[j] - m);
        below += m - r[j];
    }
    float lse_m = log(fcl_wg_sum(e, s));
    below = fcl_wg_sum(below, s);
    if (l == 0)
        rl[rl_off + i] = (1.0f - eps) * (lse_m + (m - r[c])) + eps * (lse_m + below / (float)k);
}

__kernel void xent_bwd_wg(FCL_TENSOR(dz), FCL_CTENSOR(z), FCL_CTENSOR(lab), const int n,
                          const int k, const float eps, const float coef, __local float *s)
{
    int i = get_group_id(0), l = get_local_id(0), L = get_local_size(0);
    __global const float *r = z + z_off + i * k;
    __global float *g = dz + dz_off + i * k;
    int c = label_index(lab[lab_off + i], k);
    if (c < 0) {
        for (int j = l; j < k; j += L)
            g[j] = NAN;
        return;
    }
    float m = wg_row_max(r, k, s);
    float lse_m = wg_row_lse_m(r, k, m, s);
    float off = eps / (float)k;
    for (int j = l; j < k; j += L) {
        float q = j == c ? 1.0f - eps + off : off;
        g[j] = flush_subnormal(g[j] + coef * (exp_normal((r[j] - m) - lse_m) - q));
    }
}

__kernel void log_softmax_fwd_wg(FCL_TENSOR(y), FCL_CTENSOR(x), const int n, const int k,
                                 __local float *s)
{
    int i = get_group_id(0);
    __global const float *r = x + x_off + i * k;
    float m = wg_row_max(r, k, s);
    float lse_m = wg_row_lse_m(r, k, m, s);
    /* y may be x: every element is written by the work-item that reads it, after the
     * reductions (which every work-item has finished reading for) */
    for (int j = get_local_id(0); j < k; j += get_local_size(0))
        y[y_off + i * k + j] = (r[j] - m) - lse_m;
}

__kernel void log_softmax_bwd_wg(FCL_TENSOR(dx), FCL_CTENSOR(dy), FCL_CTENSOR(y), const int n,
                                 const int k, __local float *s)
{
    int i = get_group_id(0), l = get_local_id(0), L = get_local_size(0);
    __global const float *g = dy + dy_off + i * k, *yr = y + y_off + i * k;
    float t = 0.0f;
    for (int j = l; j < k; j += L)
        t += g[j];
    t = fcl_wg_sum(t, s);
    for (int j = l; j < k; j += L)
        dx[dx_off + i * k + j] += g[j] - exp_normal(yr[j]) * t;
}

__kernel void l2norm_fwd_wg(FCL_TENSOR(y), FCL_CTENSOR(x), const int n, const int d,
                            const float eps, __local float *s)
{
    int i = get_group_id(0), l = get_local_id(0), L = get_local_size(0);
    __global const float *r = x + x_off + i * d;
    float ss = 0.0f;
    for (int j = l; j < d; j += L)
        ss += r[j] * r[j];
    float den = fmax(sqrt(fcl_wg_sum(ss, s)), eps);
    for (int j = l; j < d; j += L)
        y[y_off + i * d + j] = r[j] / den;
}

/* l2norm_bwd_wg and l2norm_bwd_scaled_wg: dx += (g - y (y . g)) / ||x|| (g / eps where the norm
 * is clamped), without the division by ||x|| (or eps) when g is already scaled (prescaled). */
inline void wg_l2norm_bwd_row(__global float *o, __global const float *g, __global const float *r, int d, float eps,
                              int prescaled, __local float *s)
{
    int l = get_local_id(0), L = get_local_size(0);
    float ss = 0.0f, dot = 0.0f;
    for (int j = l; j < d; j += L) {
        ss += r[j] * r[j];
        dot += r[j] * g[j];
    }
    float nrm = sqrt(fcl_wg_sum(ss, s));
    dot = fcl_wg_sum(dot, s);
    if (nrm <= eps) {
        for (int j = l; j < d; j += L)
            o[j] += prescaled ? g[j] : g[j] / eps;
        return;
    }
    float ydot = dot / nrm;
    for (int j = l; j < d; j += L) {
        float v = g[j] - (r[j] / nrm) * ydot;
        o[j] += prescaled ? v : v / nrm;
    }
}

__kernel void l2norm_bwd_wg(FCL_TENSOR(dx), FCL_CTENSOR(dy), FCL_CTENSOR(x), const int n,
                            const int d, const float eps, __local float *s)
{
    int i = get_group_id(0);
    wg_l2norm_bwd_row(dx + dx_off + i * d, dy + dy_off + i * d, x + x_off + i * d, d, eps, 0, s);
}

__kernel void l2norm_inv_wg(FCL_TENSOR(r), FCL_CTENSOR(x), const int n, const int d, const float eps,
                            __local float *s)
{
    int i = get_group_id(0), l = get_local_id(0), L = get_local_size(0);
    __global const float *p = x + x_off + i * d;
    float ss = 0.0f;
    for (int j = l; j < d; j += L)
        ss += p[j] * p[j];
    float den = fmax(sqrt(fcl_wg_sum(ss, s)), eps);
    if (l == 0)
        r[r_off + i] = 1.0f / den;
}

__kernel void l2norm_bwd_scaled_wg(FCL_TENSOR(dx), FCL_CTENSOR(g), FCL_CTENSOR(x), const int n, const int d,
                                   const float eps, __local float *s)
{
    int i = get_group_id(0);
    wg_l2norm_bwd_row(dx + dx_off + i * d, g + g_off + i * d, x + x_off + i * d, d, eps, 1, s);
}
