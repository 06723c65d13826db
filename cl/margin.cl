/* cl/margin.cl: margin-softmax heads (CosFace, ArcFace, SphereFace): the target-logit margin on a cosine matrix [N, K], its backward, and row norms. */

/* Kinds, as fcl_margin_kind. */
#define MARGIN_COSFACE 0
#define MARGIN_ARCFACE 1
#define MARGIN_SPHEREFACE 2

/* The margin parameters, prepared on the host (cos_m = cos(m), th = cos(pi - m), ...). */
typedef struct margin_p {
    int kind, mi, easy;
    float m, cos_m, sin_m, th, mm, lambda;
} margin_p;

/* f(c) of the target logit before the scale, and df/dc (see facecl/ops_metric_loss.h). */
inline float target_f(float c, const margin_p *p, float *df)
{
    if (p->kind == MARGIN_COSFACE) {
        *df = 1.0f;
        return c - p->m;
    }
    if (p->kind == MARGIN_ARCFACE) {
        float v = (1.0f - c) * (1.0f + c);   /* 1 - c^2 without cancellation near |c| = 1 */
        float sine = sqrt(clamp(v, 0.0f, 1.0f));
        float phi = c * p->cos_m - sine * p->sin_m;
        float dphi = p->cos_m + (v > 0.0f ? p->sin_m * c / sine : 0.0f);
        int take_phi = p->easy ? c > 0.0f : c > p->th;
        if (take_phi) {
            *df = dphi;
            return phi;
        }
        *df = 1.0f;
        return p->easy ? c : c - p->mm;
    }
    /* SphereFace: psi = (-1)^k T_m(c) - 2k with theta = acos(c) in [k pi / m, (k+1) pi / m],
     * i.e. k = the number of nodes cos(j pi / m), j = 1..m-1, above c. */
    float cc = clamp(c, -1.0f, 1.0f);
    int m = p->mi, k = 0;
    for (int j = 1; j < m; j++)
        k += cc < cos((float)j * M_PI_F / (float)m);
    /* T_m(cc) and U_{m-1}(cc) by their recurrences (T_1 = c, U_0 = 1, U_1 = 2c) */
    float t0 = 1.0f, t1 = cc, u0 = 0.0f, u1 = 1.0f;
    for (int j = 1; j < m; j++) {
        float t2 = 2.0f * cc * t1 - t0, u2 = 2.0f * cc * u1 - u0;
        t0 = t1, t1 = t2, u0 = u1, u1 = u2;
    }
    float sign = (k & 1) ? -1.0f : 1.0f;
    float psi = sign * t1 - 2.0f * (float)k;
    float dpsi = sign * (float)m * u1;
    *df = (p->lambda + dpsi) / (1.0f + p->lambda);
    return (p->lambda * c + psi) / (1.0f + p->lambda);
}

#define MARGIN_ARGS                                                                                \
    const int kind, const int mi, const int easy, const float m, const float cos_m,                \
        const float sin_m, const float th, const float mm, const float lambda
#define MARGIN_INIT(p)                                                                             \
    margin_p p;                                                                                    \
    p.kind = kind, p.mi = mi, p.easy = easy, p.m = m, p.cos_m = cos_m, p.sin_m = sin_m;            \
    p.th = th, p.mm = mm, p.lambda = lambda

/* logits[i, j] = scale_i * (j == y_i ? f(cos) : cos), scale_i = s or xnorm[i] (SphereFace).
 * A bad label makes the row NaN. Global: (k, n). */
__kernel void margin_fwd(FCL_TENSOR(z), FCL_CTENSOR(cs), FCL_CTENSOR(lab), FCL_CTENSOR(xn),
                         const int n, const int k, const float s, MARGIN_ARGS)
{
    int j = get_global_id(0), i = get_global_id(1);
    if (i >= n || j >= k)
        return;
    MARGIN_INIT(p);
    int y = label_index(lab[lab_off + i], k);
    float c = cs[cs_off + i * k + j], v = c, df;
    if (y < 0)
        v = NAN;
    else if (j == y)
        v = target_f(c, &p, &df);
    float scale = kind == MARGIN_SPHEREFACE ? xn[xn_off + i] : s;
    z[z_off + i * k + j] = scale * v;
}

/* dcos[i, j] += scale_i * dlogits[i, j] * (j == y_i ? f'(cos) : 1). Global: (k, n). */
__kernel void margin_bwd(FCL_TENSOR(dc), FCL_CTENSOR(dz), FCL_CTENSOR(cs), FCL_CTENSOR(lab),
                         FCL_CTENSOR(xn), const int n, const int k, const float s, MARGIN_ARGS)
{
    int j = get_global_id(0), i = get_global_id(1);
    if (i >= n || j >= k)
        return;
    MARGIN_INIT(p);
    int y = label_index(lab[lab_off + i], k);
    float g = dz[dz_off + i * k + j], df = 1.0f;
    if (y < 0)
        df = NAN;
    else if (j == y)
        target_f(cs[cs_off + i * k + j], &p, &df);
    float scale = kind == MARGIN_SPHEREFACE ? xn[xn_off + i] : s;
    dc[dc_off + i * k + j] += scale * g * df;
}

/* SphereFace's scale gradient: dxn[i] += sum_j dlogits[i, j] * (j == y_i ? f(cos) : cos), in
 * column order. Global: n. */
__kernel void margin_bwd_norm(FCL_TENSOR(dxn), FCL_CTENSOR(dz), FCL_CTENSOR(cs), FCL_CTENSOR(lab),
                              const int n, const int k, MARGIN_ARGS)
{
    FCL_ITEM_OR_RETURN(i, n);
    MARGIN_INIT(p);
    int y = row_label(lab + lab_off, i, k, dxn + dxn_off, 1);
    if (y < 0)
        return;
    __global const float *g = dz + dz_off + i * k, *c = cs + cs_off + i * k;
    float acc = 0.0f, df;
    for (int j = 0; j < k; j++)
        acc += g[j] * (j == y ? target_f(c[j], &p, &df) : c[j]);
    dxn[dxn_off + i] += acc;
}

/* norms[i] = ||x_i|| over d values. Global: n. */
__kernel void row_norm_fwd(FCL_TENSOR(nr), FCL_CTENSOR(x), const int n, const int d)
{
    FCL_ITEM_OR_RETURN(i, n);
    __global const float *r = x + x_off + i * d;
    float ss = 0.0f;
    for (int t = 0; t < d; t++)
        ss += r[t] * r[t];
    nr[nr_off + i] = sqrt(ss);
}

/* dx_i += dn_i * x_i / max(||x_i||, eps). Global: n. */
inline void row_norm_bwd_row(__global float *o, __global const float *r, const float dn, const int d, const float eps)
{
    float ss = 0.0f;
    for (int t = 0; t < d; t++)
        ss += r[t] * r[t];
    float c = dn / fmax(sqrt(ss), eps);
    for (int t = 0; t < d; t++)
        o[t] += c * r[t];
}
__kernel void row_norm_bwd(FCL_TENSOR(dx), FCL_CTENSOR(dn), FCL_CTENSOR(x), const int n,
                           const int d, const float eps)
{
    FCL_ITEM_OR_RETURN(i, n);
    row_norm_bwd_row(dx + dx_off + i * d, x + x_off + i * d, dn[dn_off + i], d, eps);
}

/* ---- GPU shape: one work-group per row (see the note in cl/loss.cl; built as
 * "reduce.cl+margin.cl"). Global: n * L, local L. ---------------------------------------------- */

__kernel void margin_bwd_norm_wg(FCL_TENSOR(dxn), FCL_CTENSOR(dz), FCL_CTENSOR(cs),
                                 FCL_CTENSOR(lab), const int n, const int k, MARGIN_ARGS,
                                 __local float *sc)
{
    int i = get_group_id(0), l = get_local_id(0), L = get_local_size(0);
    MARGIN_INIT(p);
    int y = row_label(lab + lab_off, i, k, dxn + dxn_off, l == 0);
    if (y < 0)   /* the same for the whole group */
        return;
    __global const float *g = dz + dz_off + i * k, *c = cs + cs_off + i * k;
    float acc = 0.0f, df;
    for (int j = l; j < k; j += L)
        acc += g[j] * (j == y ? target_f(c[j], &p, &df) : c[j]);
    acc = fcl_wg_sum(acc, sc);
    if (l == 0)
        dxn[dxn_off + i] += acc;
}

/* Sum of squares of row r (d values) over the group. */
inline float wg_row_ss(__global const float *r, int d, __local float *sc)
{
    float ss = 0.0f;
    for (int t = get_local_id(0); t < d; t += get_local_size(0))
        ss += r[t] * r[t];
    return fcl_wg_sum(ss, sc);
}

__kernel void row_norm_fwd_wg(FCL_TENSOR(nr), FCL_CTENSOR(x), const int n, const int d,
                              __local float *sc)
{
    int i = get_group_id(0);
    float ss = wg_row_ss(x + x_off + i * d, d, sc);
    if (get_local_id(0) == 0)
        nr[nr_off + i] = sqrt(ss);
}

__kernel void row_norm_bwd_wg(FCL_TENSOR(dx), FCL_CTENSOR(dn), FCL_CTENSOR(x), const int n,
                              const int d, const float eps, __local float *sc)
{
    int i = get_group_id(0);
    __global const float *r = x + x_off + i * d;
    __global float *o = dx + dx_off + i * d;
    float c = dn[dn_off + i] / fmax(sqrt(wg_row_ss(r, d, sc)), eps);
    for (int t = get_local_id(0); t < d; t += get_local_size(0))
        o[t] += c * r[t];
}
