/* cl/margin_head.cl: the margin heads' fused passes over the [n, k] cosine / logit matrices (built after reduce.cl, loss.cl and margin.cl). */

/* fcl_margin_head_fwd / _bwd (host/ops/margin.c) compose the same steps as fcl_cosine_sim_*,
 * fcl_margin_logits_* and fcl_softmax_xent_*, but each of those is a pass over [n, k] (and the
 * margin kernels one scalar work-item per element): a 128 x 10,575 head made 8 such passes per
 * step plus two zero fills. Here the forward's cosine scaling and margin are one vector pass and
 * the backward's softmax gradient, margin derivative and cosine row scale another, with the same
 * float operations in the same order as the composed kernels; a bad label makes the row NaN. */

/* Work-item (c, i) of the chunked kernels takes columns [j0, j1) of row i: chunk c of cw
 * columns (a multiple of FCL_VEC), looped over in vectors. With loops, PoCL keeps the explicit
 * vectors instead of vectorising across work-items (a loop-free vector kernel ran ~5x slower).
 * Global: (ceil(k / cw), n). */
#define HEAD_CHUNK(i, j0, j1, n, k, cw)                                                            \
    const int i = get_global_id(1), j0 = get_global_id(0) * (cw);                                  \
    if (i >= (n) || j0 >= (k))                                                                     \
        return;                                                                                    \
    const int j1 = min(j0 + (cw), (k))

/* cs[i, j] = cs[i, j] ra[i] rb[j] (the GEMM's A B^T becomes the cosine matrix, results below
 * FLT_MIN stored as 0 as in scale_rows_cols) and z[i, j] = scale_i (j == y_i ? f(cs) : cs),
 * scale_i = s or xn[i] (SphereFace), as margin_fwd. */
__kernel void head_fwd_epi(FCL_TENSOR(z), FCL_TENSOR(cs), FCL_CTENSOR(ra), FCL_CTENSOR(rb), FCL_CTENSOR(lab),
                           FCL_CTENSOR(xn), const int n, const int k, const int cw, const float s, MARGIN_ARGS)
{
    HEAD_CHUNK(i, j0, j1, n, k, cw);
    MARGIN_INIT(p);
    const int y = label_index(lab[lab_off + i], k);
    const float a = ra[ra_off + i], scale = kind == MARGIN_SPHEREFACE ? xn[xn_off + i] : s;
    __global float *cr = cs + cs_off + i * k, *zr = z + z_off + i * k;
    __global const float *rr = rb + rb_off;
    int j = j0;
    for (; j + FCL_VEC <= j1; j += FCL_VEC) {
        VF v = VLOAD(0, cr + j) * a * VLOAD(0, rr + j);
        v = select(v, (VF)(0.0f), isless(fabs(v), (VF)(FLT_MIN)));
        VSTORE(v, 0, cr + j);
        VSTORE(scale * v, 0, zr + j);
    }
    for (; j < j1; j++) {
        const float v = flush_subnormal(cr[j] * a * rr[j]);
        cr[j] = v;
        zr[j] = scale * v;
    }
    if (y < 0) {
        for (j = j0; j < j1; j++) zr[j] = NAN;
    } else if (y >= j0 && y < j1) {
        float df;
        zr[y] = scale * target_f(cr[y], &p, &df);
    }
}

/* The softmax gradient of row i: flush(coef (exp((z - m) - lse_m) - q)), q the label-smoothed
 * target (xent_bwd's value for an entry other than the label's when q = eps / k). */
inline VF vsoftmax_grad(VF zv, float m, float lse_m, float coef, float q)
{
    const VF g = coef * (vexp_normal((zv - m) - lse_m) - q);
    return select(g, (VF)(0.0f), isless(fabs(g), (VF)(FLT_MIN)));
}
inline float softmax_grad(float zv, float m, float lse_m, float coef, float q)
{
    return flush_subnormal(coef * (exp_normal((zv - m) - lse_m) - q));
}

/* Row statistics of the softmax: st[2 i] = max_j z_ij, st[2 i + 1] = log sum_j exp(z_ij - max)
 * (NaN for a bad label). want_dxn (SphereFace): dxn[i] = sum_j dz_ij (j == y ? f(c) : c), dz
 * the cross-entropy gradient (margin_bwd_norm's sum; NaN for a bad label). Global: n. */
__kernel void head_bwd_stats(FCL_TENSOR(st), FCL_TENSOR(dxn), FCL_CTENSOR(z), FCL_CTENSOR(cs), FCL_CTENSOR(lab),
                             const int n, const int k, const float eps, const float coef, const int want_dxn,
                             MARGIN_ARGS)
{
    FCL_ITEM_OR_RETURN(i, n);
    MARGIN_INIT(p);
    __global const float *r = z + z_off + i * k, *c = cs + cs_off + i * k;
    const int y = label_index(lab[lab_off + i], k);
    if (y < 0) {
        st[st_off + 2 * i] = st[st_off + 2 * i + 1] = NAN;
        if (want_dxn) dxn[dxn_off + i] = NAN;
        return;
    }
    const float mx = row_max(r, k), lse_m = row_lse_m(r, k, mx);
    st[st_off + 2 * i] = mx;
    st[st_off + 2 * i + 1] = lse_m;
    if (!want_dxn)
        return;
    const float off = eps / (float)k;
    VF acc = (VF)(0.0f);
    int j = 0;
    for (; j + FCL_VEC <= k; j += FCL_VEC) acc += vsoftmax_grad(VLOAD(0, r + j), mx, lse_m, coef, off) * VLOAD(0, c + j);
    float t = HSUM(acc);
    for (; j < k; j++) t += softmax_grad(r[j], mx, lse_m, coef, off) * c[j];
    /* the label's entry: its own target (1 - eps + off) and f(c) instead of c */
    float df;
    const float gy = softmax_grad(r[y], mx, lse_m, coef, 1.0f - eps + off);
    dxn[dxn_off + i] = t + (gy * target_f(c[y], &p, &df) - softmax_grad(r[y], mx, lse_m, coef, off) * c[y]);
}

/* D'[i, j] = flush(scale_i dz_ij df_ij ra[i]): the cross-entropy gradient dz (from st), times
 * the margin's derivative df (1 off the label: margin_bwd), times the cosine's row scale; the
 * column scale rb comes later (head_bwd_w computes it while it reads W for dW, then
 * head_scale_cols): D = D' diag(rb) is scale_rows_cols' matrix, the one the cosine backward
 * multiplies by W and x. Chunked (HEAD_CHUNK). */
__kernel void head_bwd_d(FCL_TENSOR(dd), FCL_CTENSOR(st), FCL_CTENSOR(z), FCL_CTENSOR(cs), FCL_CTENSOR(ra),
                         FCL_CTENSOR(lab), FCL_CTENSOR(xn), const int n, const int k, const int cw, const float s,
                         const float eps, const float coef, MARGIN_ARGS)
{
    HEAD_CHUNK(i, j0, j1, n, k, cw);
    MARGIN_INIT(p);
    const int y = label_index(lab[lab_off + i], k);
    const float a = ra[ra_off + i], scale = kind == MARGIN_SPHEREFACE ? xn[xn_off + i] : s;
    const float mx = st[st_off + 2 * i], lse_m = st[st_off + 2 * i + 1], off = eps / (float)k;
    __global const float *zr = z + z_off + i * k;
    __global float *dr = dd + dd_off + i * k;
    int j = j0;
    if (y < 0) {
        for (; j < j1; j++) dr[j] = NAN;
        return;
    }
    for (; j + FCL_VEC <= j1; j += FCL_VEC) {
        const VF v = scale * vsoftmax_grad(VLOAD(0, zr + j), mx, lse_m, coef, off) * a;
        VSTORE(select(v, (VF)(0.0f), isless(fabs(v), (VF)(FLT_MIN))), 0, dr + j);
    }
    for (; j < j1; j++) dr[j] = flush_subnormal(scale * softmax_grad(zr[j], mx, lse_m, coef, off) * a);
    if (y >= j0 && y < j1) {
        float df;
        target_f(cs[cs_off + i * k + y], &p, &df);
        dr[y] = flush_subnormal(scale * softmax_grad(zr[y], mx, lse_m, coef, 1.0f - eps + off) * df * a);
    }
}

/* dd[i, j] = flush(dd[i, j] rb[j]): D' to D. Chunked (HEAD_CHUNK). */
__kernel void head_scale_cols(FCL_TENSOR(dd), FCL_CTENSOR(rb), const int n, const int k, const int cw)
{
    HEAD_CHUNK(i, j0, j1, n, k, cw);
    __global float *dr = dd + dd_off + i * k;
    __global const float *rr = rb + rb_off;
    int j = j0;
    for (; j + FCL_VEC <= j1; j += FCL_VEC) {
        const VF v = VLOAD(0, dr + j) * VLOAD(0, rr + j);
        VSTORE(select(v, (VF)(0.0f), isless(fabs(v), (VF)(FLT_MIN))), 0, dr + j);
    }
    for (; j < j1; j++) dr[j] = flush_subnormal(dr[j] * rr[j]);
}

/* The normalised weights' backward with their norms: dw[j] += (g_j - y (y . g_j)) / ||w_j||
 * (g_j / eps where the norm is clamped), y = w_j / ||w_j|| (l2norm_bwd's result, by products
 * with 1 / ||w_j||), and rb[j] = 1 / max(||w_j||, eps) as l2norm_inv: for g = D'^T x, one read
 * of W gives dW and the column scales (W [k, d] is 17-22 MB at 8,631-10,575 classes: a pass
 * costs as much as a tenth of the head's backward). Global: k (FCL_GRID_ROWS). */
__kernel void head_bwd_w(FCL_TENSOR(dw), FCL_TENSOR(rb), FCL_CTENSOR(g), FCL_CTENSOR(w), const int k, const int d,
                         const float eps)
{
    FCL_ITEM_OR_RETURN(j, k);
    __global const float *r = w + w_off + j * d, *gr = g + g_off + j * d;
    __global float *o = dw + dw_off + j * d;
    const float nrm = sqrt(row_dot(r, r, d)), inv = 1.0f / fmax(nrm, eps);
    rb[rb_off + j] = inv;
    const float c = nrm <= eps ? 0.0f : row_dot(r, gr, d) * inv * inv;
    int t = 0;
    for (; t + FCL_VEC <= d; t += FCL_VEC)
        VSTORE(VLOAD(0, o + t) + (VLOAD(0, gr + t) - VLOAD(0, r + t) * c) * inv, 0, o + t);
    for (; t < d; t++) o[t] += (gr[t] - r[t] * c) * inv;
}

__kernel void head_bwd_w_wg(FCL_TENSOR(dw), FCL_TENSOR(rb), FCL_CTENSOR(g), FCL_CTENSOR(w), const int k,
                            const int d, const float eps, __local float *sc)
{
    const int j = get_group_id(0), l = get_local_id(0), L = get_local_size(0);
    __global const float *r = w + w_off + j * d, *gr = g + g_off + j * d;
    __global float *o = dw + dw_off + j * d;
    float ss = 0.0f, dot = 0.0f;
    for (int t = l; t < d; t += L) {
        ss += r[t] * r[t];
        dot += r[t] * gr[t];
    }
    const float nrm = sqrt(fcl_wg_sum(ss, sc)), inv = 1.0f / fmax(nrm, eps);
    dot = fcl_wg_sum(dot, sc);
    if (l == 0)
        rb[rb_off + j] = inv;
    const float c = nrm <= eps ? 0.0f : dot * inv * inv;
    for (int t = l; t < d; t += L) o[t] += (gr[t] - r[t] * c) * inv;
}

/* head_bwd_stats with a row on a work-group (FCL_ROW_WG > 0; see loss.cl's GPU-shape note).
 * Global: n * L, local L. */
__kernel void head_bwd_stats_wg(FCL_TENSOR(st), FCL_TENSOR(dxn), FCL_CTENSOR(z), FCL_CTENSOR(cs),
                                FCL_CTENSOR(lab), const int n, const int k, const float eps, const float coef,
                                const int want_dxn, MARGIN_ARGS, __local float *sc)
{
    const int i = get_group_id(0), l = get_local_id(0), L = get_local_size(0);
    MARGIN_INIT(p);
    __global const float *r = z + z_off + i * k, *c = cs + cs_off + i * k;
    const int y = label_index(lab[lab_off + i], k);
    if (y < 0) {   /* the same for the whole group */
        if (l == 0) {
            st[st_off + 2 * i] = st[st_off + 2 * i + 1] = NAN;
            if (want_dxn) dxn[dxn_off + i] = NAN;
        }
        return;
    }
    const float mx = wg_row_max(r, k, sc), lse_m = wg_row_lse_m(r, k, mx, sc);
    if (l == 0) {
        st[st_off + 2 * i] = mx;
        st[st_off + 2 * i + 1] = lse_m;
    }
    if (!want_dxn)
        return;
    const float off = eps / (float)k;
    float t = 0.0f, df;
    for (int j = l; j < k; j += L)
        t += j == y ? softmax_grad(r[j], mx, lse_m, coef, 1.0f - eps + off) * target_f(c[j], &p, &df)
                    : softmax_grad(r[j], mx, lse_m, coef, off) * c[j];
    t = fcl_wg_sum(t, sc);
    if (l == 0)
        dxn[dxn_off + i] = t;
}
