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
inline void head_epi_span(__global float *zr, __global float *cr, __global const float *rr, const int y,
                          const float a, const float scale, const int j0, const int j1, const margin_p *p)
{
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
        zr[y] = scale * target_f(cr[y], p, &df);
    }
}
__kernel void head_fwd_epi(FCL_TENSOR(z), FCL_TENSOR(cs), FCL_CTENSOR(ra), FCL_CTENSOR(rb), FCL_CTENSOR(lab),
                           FCL_CTENSOR(xn), const int n, const int k, const int cw, const float s, MARGIN_ARGS)
{
    HEAD_CHUNK(i, j0, j1, n, k, cw);
    MARGIN_INIT(p);
    head_epi_span(z + z_off + i * k, cs + cs_off + i * k, rb + rb_off, label_index(lab[lab_off + i], k),
                  ra[ra_off + i], kind == MARGIN_SPHEREFACE ? xn[xn_off + i] : s, j0, j1, &p);
}

/* The softmax gradient of row i: flush(coef (exp((z - m) - lse_m) - q)), q the label-smoothed
 * target (xent_bwd's value for an entry other than the label's when q = eps / k). lo (from
 * softmax_lo, >= EXP_LO): below it exp is not evaluated but taken as 0, which gives the same g. */
inline VF vsoftmax_grad(VF zv, float m, float lse_m, float coef, float q, float lo)
{
    const VF t = (zv - m) - lse_m, l = (VF)(lo);
    const VF g = coef * (select(exp(select(t, l, isless(t, l))), (VF)(0.0f), isless(t, l)) - q);
    return select(g, (VF)(0.0f), isless(fabs(g), (VF)(FLT_MIN)));
}
/* The exponent below which exp(t) changes nothing in flush(coef (exp(t) - q)): for q = 0 where
 * |coef| exp(t) < FLT_MIN (flushed), else where exp(t) < q 2^-26 (under half an ulp of q: e - q
 * == -q), 1e-3 inside (exp and log err by an ulp or two). Why: at s = 64 the logits span ~128,
 * and exp(t) with coef exp(t) below FLT_MIN made subnormal results, slow on CPUs: Zen 3, loaded,
 * ArcFace casia batch 64, head_bwd_d ~25% less (perf samples over gemm_wt's, `--kernels` ms). */
inline float softmax_lo(float coef, float q)
{
    const float lo = q == 0.0f ? log(FLT_MIN / fabs(coef)) : log(q) - 26.0f * M_LN2_F;
    return fmax(fmin(lo - 1e-3f, 0.0f), EXP_LO);
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
    const float off = eps / (float)k, lo = softmax_lo(coef, off);
    VF acc = (VF)(0.0f);
    int j = 0;
    for (; j + FCL_VEC <= k; j += FCL_VEC) acc += vsoftmax_grad(VLOAD(0, r + j), mx, lse_m, coef, off, lo) * VLOAD(0, c + j);
    float t = HSUM(acc);
    for (; j < k; j++) t += softmax_grad(r[j], mx, lse_m, coef, off) * c[j];
    /* the label's entry: its own target (1 - eps + off) and f(c) instead of c */
    float df;
    const float gy = softmax_grad(r[y], mx, lse_m, coef, 1.0f - eps + off);
    dxn[dxn_off + i] = t + (gy * target_f(c[y], &p, &df) - softmax_grad(r[y], mx, lse_m, coef, off) * c[y]);
}

/* xent_fwd_rows (cl/loss.cl; the same float operations: the loss of the composed path) of row i
 * into rl[i], keeping (want_st) the softmax's row statistics for the backward as head_bwd_stats
 * finds them: st[2 i] = max_j z_ij, st[2 i + 1] = log sum_j exp(z_ij - max) (NaN for a bad label). */
inline void head_xent_row(__global float *rl, __global const float *r, const int c, __global float *st,
                          const int want_st, const int k, const float eps)
{
    if (c < 0) {
        *rl = NAN;
        if (want_st) st[0] = st[1] = NAN;
        return;
    }
    const float m = row_max(r, k);
    float below;
    const float lse_m = log(row_sum_exp(r, k, m, &below));
    *rl = (1.0f - eps) * (lse_m + (m - r[c])) + eps * (lse_m + below / (float)k);
    if (want_st) st[0] = m, st[1] = lse_m;
}

/* The forward's epilogue (head_fwd_epi over the whole row) and cross-entropy (head_xent_row) of
 * row i in one work-item: the row's logits (42 KB at 10,575 classes) are read back for the
 * softmax from L2 instead of from memory by a second kernel. CPU shape only (margin.c). Global: n. */
__kernel void head_fwd_rows(FCL_TENSOR(rl), FCL_TENSOR(z), FCL_TENSOR(cs), FCL_CTENSOR(ra), FCL_CTENSOR(rb),
                            FCL_CTENSOR(lab), FCL_CTENSOR(xn), FCL_TENSOR(st), const int want_st, const int n,
                            const int k, const float s, const float eps, MARGIN_ARGS)
{
    FCL_ITEM_OR_RETURN(i, n);
    MARGIN_INIT(p);
    const int y = label_index(lab[lab_off + i], k);
    __global float *zr = z + z_off + i * k;
    head_epi_span(zr, cs + cs_off + i * k, rb + rb_off, y, ra[ra_off + i],
                  kind == MARGIN_SPHEREFACE ? xn[xn_off + i] : s, 0, k, &p);
    head_xent_row(rl + rl_off + i, zr, y, st + st_off + 2 * i, want_st, k, eps);
}

/* head_bwd_dw's register block (the "loss" tuning family, host/runtime/tuning_table.c):
 * HEAD_MB rows of dW x HEAD_NV vectors of HEAD_VW floats, HEAD_MB HEAD_NV accumulators plus
 * HEAD_NV loads of x and a broadcast of D per step (AVX2: 16 ymm registers). */
#if !defined(HEAD_MB) || !defined(HEAD_NV) || !defined(HEAD_VW)
#error "HEAD_MB / HEAD_NV / HEAD_VW come from the \"loss\" tuning family"
#endif
#define HEAD_NB (HEAD_NV * HEAD_VW)
#define HV FCL_CAT(float, HEAD_VW)
#define HV_LOAD FCL_CAT(vload, HEAD_VW)
#define HV_STORE FCL_CAT(vstore, HEAD_VW)

/* D^T in panels of HEAD_MB classes, the left operand of head_bwd_dw: D[i, j] at
 * ((j / HEAD_MB) n + i) HEAD_MB + j % HEAD_MB, so that a work-item's HEAD_MB classes at every
 * step of its reduction over the batch are one sequential stream (read from D itself, every
 * step was a new page: 128 pages per work-item at batch 128). The buffer holds
 * ceil(k / HEAD_MB) HEAD_MB rows of n. */
#define HEAD_PANEL(dt, n, i, j) ((dt)[((j) / HEAD_MB * (n) + (i)) * HEAD_MB + (j) % HEAD_MB])
/* 4 (2) classes from a multiple of 4 (2) are adjacent in one panel row when HEAD_MB is a multiple
 * of 4 (2): pieces of HEAD_PS floats (element by element the stores of 6-class panels made
 * head_bwd_d ~1.5x) */
#if HEAD_MB % 4 == 0 && FCL_VEC % 4 == 0
#define HEAD_PS 4
#define HEAD_PS_STORE(t, p) vstore4(vload4(0, t), 0, p)
#elif HEAD_MB % 2 == 0 && FCL_VEC % 2 == 0
#define HEAD_PS 2
#define HEAD_PS_STORE(t, p) vstore2(vload2(0, t), 0, p)
#else
#define HEAD_PS 1
#define HEAD_PS_STORE(t, p) (*(p) = *(t))
#endif
inline void head_panel_store(__global float *dt, int n, int i, int j, VF v)   /* j: a multiple of FCL_VEC */
{
    float t[FCL_VEC];
    VSTORE(v, 0, t);
    /* the panel and the place in it found once, then counted on (a division pair per piece was
     * ~a tenth of head_bwd_d's instructions): pieces never straddle panels (j, HEAD_MB and
     * FCL_VEC are multiples of HEAD_PS) */
    int r = j % HEAD_MB;
    __global float *p = dt + ((j / HEAD_MB) * n + i) * HEAD_MB;
#pragma unroll
    for (int l = 0; l < FCL_VEC; l += HEAD_PS) {
        HEAD_PS_STORE(t + l, p + r);
        r += HEAD_PS;
        if (r == HEAD_MB) {
            r = 0;
            p += n * HEAD_MB;
        }
    }
}

/* head_bwd_d's outputs (its outs argument; host/ops/margin.c passes the same bits) */
#define HEAD_OUT_DD 1
#define HEAD_OUT_DT 2
#define HEAD_OUT_C 4
/* D[i, j] = flush(scale_i dz_ij df_ij ra[i] rb[j]): the cross-entropy gradient dz (from st),
 * times the margin's derivative df (1 off the label: margin_bwd), times the cosine's row and
 * column scales (scale_rows_cols): the matrix the cosine backward multiplies by W and x; into
 * dd [n, k] (outs & HEAD_OUT_DD), dt in HEAD_PANEL's layout (& HEAD_OUT_DT: head_bwd_dw's left
 * operand; also the dx product's when it reads the panels) and (& HEAD_OUT_C) the column factors
 * of the weights' normalisation c[j] = q[j] sum_i D[i, j] cos_ij / ra[i], rows in order: with
 * D = diag(ra) dcos diag(rb), w_j . (D^T x)_j = rb_j sum_i dcos_ij cos_ij, and
 * l2norm_bwd_scaled's projection of row j of the weight gradient is rb_j^2 (w_j . (D^T x)_j) w_j
 * = c[j] w_j (unclamped: q = rb): found without a pass over the [k, d] gradient, and here without
 * a second pass over D (a kernel of its own read D and cos again: ~6% of the head's backward).
 * c [k] sums in place (L1: cw floats). want_dxn (SphereFace's dx, CPU shape: margin.c): also
 * the work-item's part of d||x_i|| (head_bwd_stats' sum over its columns, from the same softmax
 * gradients) into xq[g n + i], g its index, summed by head_dxn_bwd: no pass of its own over the
 * logits and cosines, so the forward's row_stats serve SphereFace too. Work-item: columns
 * [j0, j0 + cw) of every row, rows in order. Global: ceil(k / cw).
 * The logits are not read: the forward stored z_ij = scale_i cos_ij (head_epi_span: the same
 * product of the same stored cosine) and z_iy = scale_i f(cos_iy), found here anyway for f':
 * one [n, k] stream of the four (z, cos in; dd, dt out) less. */
__kernel void head_bwd_d(FCL_TENSOR(dd), FCL_TENSOR(dt), FCL_TENSOR(c), FCL_TENSOR(xq), FCL_CTENSOR(st),
                         FCL_CTENSOR(cs), FCL_CTENSOR(ra), FCL_CTENSOR(rb), FCL_CTENSOR(q),
                         FCL_CTENSOR(lab), FCL_CTENSOR(xn), const int n, const int k, const int cw, const int outs,
                         const int want_dxn, const float s, const float eps, const float coef, MARGIN_ARGS)
{
    const int j0 = get_global_id(0) * cw;
    if (j0 >= k)
        return;
    const int j1 = min(j0 + cw, k);
    MARGIN_INIT(p);
    const float off = eps / (float)k, lo = softmax_lo(coef, off);
    __global const float *rr = rb + rb_off;
    __global float *dp = dt + dt_off, *cc = c + c_off, *xr = xq + xq_off + get_global_id(0) * n;
    const int want_dd = outs & HEAD_OUT_DD, want_dt = outs & HEAD_OUT_DT, want_c = outs & HEAD_OUT_C;
    if (want_c)
        for (int j = j0; j < j1; j++) cc[j] = 0.0f;
    for (int i = 0; i < n; i++) {
        const int y = label_index(lab[lab_off + i], k);
        __global const float *cr = cs + cs_off + i * k;
        __global float *dr = dd + dd_off + i * k;
        int j = j0;
        if (y < 0) {
            for (; j < j1; j++) {
                if (want_dd) dr[j] = NAN;
                if (want_dt) HEAD_PANEL(dp, n, i, j) = NAN;
                if (want_c) cc[j] += NAN;
            }
            if (want_dxn) xr[i] = NAN;
            continue;
        }
        const float a = ra[ra_off + i], scale = kind == MARGIN_SPHEREFACE ? xn[xn_off + i] : s;
        const float mx = st[st_off + 2 * i], lse_m = st[st_off + 2 * i + 1];
        /* the label's entry: its own target (1 - eps + off) and the margin's derivative */
        float dy = 0.0f, ty = 0.0f;
        if (y >= j0 && y < j1) {
            float df;
            const float fy = target_f(cr[y], &p, &df), zy = scale * fy;
            const float gy = softmax_grad(zy, mx, lse_m, coef, 1.0f - eps + off);
            dy = flush_subnormal(scale * gy * df * a * rr[y]);
            /* d||x||'s label entry: its own target and f(c) instead of the sums' off-target g c
             * (which, as every other column's, took the logit scale c) */
            ty = gy * fy - softmax_grad(scale * cr[y], mx, lse_m, coef, off) * cr[y];
        }
        VF acc = (VF)(0.0f);
        for (; j + FCL_VEC <= j1; j += FCL_VEC) {
            const VF cv = VLOAD(0, cr + j), g = vsoftmax_grad(scale * cv, mx, lse_m, coef, off, lo);
            VF v = scale * g * a * VLOAD(0, rr + j);
            if (want_dxn) acc += g * cv;
            v = select(v, (VF)(0.0f), isless(fabs(v), (VF)(FLT_MIN)));
            if (y >= j && y < j + FCL_VEC) {
                float t[FCL_VEC];
                VSTORE(v, 0, t);
                t[y - j] = dy;
                v = VLOAD(0, t);
            }
            if (want_dd) VSTORE(v, 0, dr + j);
            if (want_dt) head_panel_store(dp, n, i, j, v);
            if (want_c) VSTORE(VLOAD(0, cc + j) + v * cv / a, 0, cc + j);
        }
        float t = HSUM(acc);
        for (; j < j1; j++) {
            const float g = softmax_grad(scale * cr[j], mx, lse_m, coef, off),
                        v = j == y ? dy : flush_subnormal(scale * g * a * rr[j]);
            if (want_dd) dr[j] = v;
            if (want_dt) HEAD_PANEL(dp, n, i, j) = v;
            if (want_c) cc[j] += v * cr[j] / a;
            t += g * cr[j];
        }
        if (want_dxn) xr[i] = t + ty;
    }
    if (want_c)
        for (int j = j0; j < j1; j++) cc[j] *= q[q_off + j];
}

/* dx_i += dn_i x_i / max(||x_i||, eps) (row_norm_bwd's operations), dn_i = sum_g xq[g n + i]:
 * head_bwd_d's parts of d||x_i|| over its parts work-items, in order. Global: n. */
__kernel void head_dxn_bwd(FCL_TENSOR(dx), FCL_CTENSOR(xq), FCL_CTENSOR(x), const int parts, const int n,
                           const int d, const float eps)
{
    FCL_ITEM_OR_RETURN(i, n);
    float dn = 0.0f;
    for (int g = 0; g < parts; g++) dn += xq[xq_off + g * n + i];
    row_norm_bwd_row(dx + dx_off + i * d, x + x_off + i * d, dn, d, eps);
}

/* The column scales and the projection factors of the weights' normalisation: rb[j] = 1 /
 * max(||w_j||, eps) as l2norm_inv, q[j] = rb[j], or 0 where the norm is clamped (l2norm_bwd
 * then passes the gradient through unprojected). Global: k (FCL_GRID_ROWS). */
__kernel void head_w_norms(FCL_TENSOR(rb), FCL_TENSOR(q), FCL_CTENSOR(w), const int k, const int d, const float eps)
{
    FCL_ITEM_OR_RETURN(j, k);
    /* fcl_row_ss8's order: the forward's GEMM finds the same norms (gemm_wt's want_norms) */
    fcl_inv_norm_pair(sqrt(fcl_row_ss8(w + w_off + j * d, d)), eps, rb + rb_off + j, q + q_off + j);
}

__kernel void head_w_norms_wg(FCL_TENSOR(rb), FCL_TENSOR(q), FCL_CTENSOR(w), const int k, const int d,
                              const float eps, __local float *sc)
{
    const int j = get_group_id(0);
    const float nrm = sqrt(wg_row_ss(w + w_off + j * d, d, sc)), inv = 1.0f / fmax(nrm, eps);
    if (get_local_id(0) == 0) {
        rb[rb_off + j] = inv;
        q[q_off + j] = nrm <= eps ? 0.0f : inv;
    }
}

/* x [n, d] in panels of HEAD_NB columns for head_bwd_dw: xp[(t / HEAD_NB) n + i][t % HEAD_NB] =
 * x[i, t], 0 past d, so that a work-item's HEAD_NB columns of every row are one sequential 8 KiB
 * stream (batch 128) instead of 128 lines 2 KiB apart, which all fall in 2 of L1's 64 sets: each
 * step's x loads came from L2 and were where head_bwd_dw's loop stalled (perf: the first load and
 * FMA ~22% of its samples). Global: (ceil(d / HEAD_NB) HEAD_NB, n). */
__kernel void head_x_panels(FCL_TENSOR(xp), FCL_CTENSOR(x), const int n, const int d)
{
    const int t = get_global_id(0), i = get_global_id(1);
    if (i >= n) return;
    xp[xp_off + (t / HEAD_NB * n + i) * HEAD_NB + t % HEAD_NB] = t < d ? x[x_off + i * d + t] : 0.0f;
}

/* dW [k, d] += D^T x - diag(c) W (add 0: dW = ...): the weights' gradient through their normalisation
 * (fcl_cosine_sim_bwd's D^T x then l2norm_bwd_scaled) as one GEMM with that epilogue, D^T from
 * head_bwd_d's panels dt (HEAD_PANEL), x from head_x_panels' xp: no [k, d] intermediate. A
 * work-item: HEAD_MB rows of dW x HEAD_NB columns, the reduction over the batch in order.
 * Global: (ceil(d / HEAD_NB), ceil(k / HEAD_MB)). */
/* head_prefetch(p): asks for the cache line holding p (as cl/conv.cl's conv_prefetch: clang's
 * builtin on PoCL, whose prefetch() compiles to nothing; the portable prefetch() elsewhere). */
#if defined(POCL_DEVICE_ADDRESS_BITS)
#define head_prefetch(p) __builtin_prefetch((p), 0, 3)
#else
#define head_prefetch(p) prefetch((p), 1)
#endif
__kernel void head_bwd_dw(FCL_TENSOR(dw), FCL_CTENSOR(dt), FCL_CTENSOR(xp), FCL_CTENSOR(w), FCL_CTENSOR(c),
                          const int n, const int k, const int d, const int add)
{
    const int t0 = get_global_id(0) * HEAD_NB, j0 = get_global_id(1) * HEAD_MB;
    if (t0 >= d || j0 >= k)
        return;
    const int cols = min(HEAD_NB, d - t0), rows = min(HEAD_MB, k - j0);
    HV acc[HEAD_MB][HEAD_NV];
#pragma unroll
    for (int r = 0; r < HEAD_MB; r++) {
#pragma unroll
        for (int v = 0; v < HEAD_NV; v++) acc[r][v] = (HV)(0.0f);
        /* the epilogue's blocks of dW and W, on their way while the products run (-4..6% CPU
         * time of the head's backward, loaded machine) */
        const int jr = min(j0 + r, k - 1);
        head_prefetch(dw + dw_off + jr * d + t0);
        head_prefetch(dw + dw_off + jr * d + t0 + cols - 1);
        head_prefetch(w + w_off + jr * d + t0);
        head_prefetch(w + w_off + jr * d + t0 + cols - 1);
    }
    __global const float *xr = xp + xp_off + get_global_id(0) * n * HEAD_NB;
    if (rows == HEAD_MB) {
        /* a whole block: HEAD_MB scalars of D's panel and HEAD_NV vector loads of x per step */
        for (int i = 0; i < n; i++, xr += HEAD_NB) {
            HV b[HEAD_NV];
#pragma unroll
            for (int v = 0; v < HEAD_NV; v++) b[v] = HV_LOAD(v, xr);
            /* D's scalars read one by one: broadcast loads (vbroadcastss from memory) on the load
             * ports; from a vector they were shuffles on the port AVX-512's second FMA unit
             * shares (8 shuffles per 16 FMAs) */
            __global const float *ap = &HEAD_PANEL(dt + dt_off, n, i, j0);
#pragma unroll
            for (int r = 0; r < HEAD_MB; r++) {
                const HV a = (HV)(ap[r]);
#pragma unroll
                for (int v = 0; v < HEAD_NV; v++) acc[r][v] = fma(a, b[v], acc[r][v]);
            }
        }
    } else {
        for (int i = 0; i < n; i++, xr += HEAD_NB) {
            __global const float *ar = &HEAD_PANEL(dt + dt_off, n, i, j0);
            HV b[HEAD_NV];
#pragma unroll
            for (int v = 0; v < HEAD_NV; v++) b[v] = HV_LOAD(v, xr);
#pragma unroll
            for (int r = 0; r < HEAD_MB; r++) {
                const HV a = (HV)(r < rows ? ar[r] : 0.0f);
#pragma unroll
                for (int v = 0; v < HEAD_NV; v++) acc[r][v] = fma(a, b[v], acc[r][v]);
            }
        }
    }
    /* fully unrolled with constant indices (a break or a loop bound of `rows` left acc in memory) */
#pragma unroll
    for (int r = 0; r < HEAD_MB; r++) {
        if (r < rows) {
            const int j = j0 + r;
            const float cj = c[c_off + j];
            __global float *o = dw + dw_off + j * d + t0;
            __global const float *wr = w + w_off + j * d + t0;
#pragma unroll
            for (int v = 0; v < HEAD_NV; v++) {
                const int len = clamp(cols - v * HEAD_VW, 0, HEAD_VW), off = v * HEAD_VW;
                if (len == HEAD_VW) {
                    const HV g = acc[r][v] - cj * HV_LOAD(0, wr + off);
                    HV_STORE(add ? HV_LOAD(0, o + off) + g : g, 0, o + off);
                } else if (len > 0) {
                    float t[HEAD_VW];
                    HV_STORE(acc[r][v], 0, t);
                    for (int l = 0; l < len; l++) {
                        const float g = t[l] - cj * wr[off + l];
                        o[off + l] = add ? o[off + l] + g : g;
                    }
                }
            }
        }
    }
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
