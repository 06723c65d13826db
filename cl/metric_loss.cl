/* cl/metric_loss.cl: center, triplet (batch-hard / semi-hard mining), contrastive and histogram losses: per-row and per-pair kernels. */

/* Every sum here runs in a fixed order inside one work-item (no atomics), so results are
 * deterministic. Batches are small (N up to a few hundred): the O(N^2) and O(N^2 D) loops are
 * cheap next to the network that made the embeddings. */

/* ||a - b||^2 over d values, summed in index order. */
inline float pair_sqdist(__global const float *ar, __global const float *br, int d)
{
    float s = 0.0f;
    for (int t = 0; t < d; t++) {
        float v = ar[t] - br[t];
        s += v * v;
    }
    return s;
}

/* ==== center loss ============================================================================ */

/* rl[i] = ||x_i - c_{y_i}||^2 / 2 (NaN for a bad label). Global: n. */
__kernel void center_rows(FCL_TENSOR(rl), FCL_CTENSOR(x), FCL_CTENSOR(c), FCL_CTENSOR(lab),
                          const int n, const int d, const int k)
{
    FCL_ITEM_OR_RETURN(i, n);
    int y = row_label(lab + lab_off, i, k, rl + rl_off, 1);
    if (y < 0)
        return;
    __global const float *xr = x + x_off + i * d, *cr = c + c_off + y * d;
    rl[rl_off + i] = 0.5f * pair_sqdist(xr, cr, d);
}

/* dx[i, t] += coef * (x[i, t] - c[y_i, t]). Global: (d, n). */
__kernel void center_bwd_x(FCL_TENSOR(dx), FCL_CTENSOR(x), FCL_CTENSOR(c), FCL_CTENSOR(lab),
                           const int n, const int d, const int k, const float coef)
{
    int t = get_global_id(0), i = get_global_id(1);
    if (i >= n || t >= d)
        return;
    int y = label_index(lab[lab_off + i], k);
    float v = y < 0 ? NAN : x[x_off + i * d + t] - c[c_off + y * d + t];
    dx[dx_off + i * d + t] += coef * v;
}

/* Per class j present in the batch and dimension t:
 *     out[j, t] += scale * S / (use_count ? 1 + n_j : 1),   S = sum_{i: y_i = j} (x[i, t] - c[j, t])
 * The work-item of the FIRST row of class j does it, gathering rows in batch order, so each
 * out element has exactly one writer (out may be c itself: the centre update). Rows with bad
 * labels are skipped. Global: (d, n). */
__kernel void center_gather(FCL_TENSOR(out), FCL_CTENSOR(x), FCL_CTENSOR(c), FCL_CTENSOR(lab),
                            const int n, const int d, const int k, const float scale,
                            const int use_count)
{
    int t = get_global_id(0), i = get_global_id(1);
    if (i >= n || t >= d)
        return;
    __global const float *l = lab + lab_off;
    float li = l[i];
    int y = label_index(li, k);
    if (y < 0)
        return;
    for (int r = 0; r < i; r++)
        if (l[r] == li)
            return;   /* not the first row of its class */
    float cj = c[c_off + y * d + t], s = 0.0f;
    int cnt = 0;
    for (int r = i; r < n; r++)
        if (l[r] == li) {
            s += x[x_off + r * d + t] - cj;
            cnt++;
        }
    float den = use_count ? 1.0f + (float)cnt : 1.0f;
    out[out_off + y * d + t] += scale * s / den;
}

/* ==== triplet ================================================================================ */

#define TRIPLET_BATCH_HARD 0
#define TRIPLET_SEMI_HARD 1

/* dist[i, j] = ||x_i - x_j||^2, or its square root. Exactly symmetric (the same operations in
 * the same order for (i, j) and (j, i)), exactly 0 on the diagonal. Global: (n, n). */
__kernel void triplet_dist(FCL_TENSOR(dist), FCL_CTENSOR(x), const int n, const int d,
                           const int squared)
{
    int j = get_global_id(0), i = get_global_id(1);
    if (i >= n || j >= n)
        return;
    __global const float *a = x + x_off + i * d, *b = x + x_off + j * d;
    float s = 0.0f;
    for (int t = 0; t < d; t++) {
        float v = a[t] - b[t];
        s += v * v;
    }
    dist[dist_off + i * n + j] = squared ? s : sqrt(s);
}

/* Mines anchor a's triplets (see facecl/ops_metric_loss.h) from row a of dist. Writes
 * rl[a] = sum of its hinge losses, rc[a] = its number of triplets and, when want_g, row a of
 * G [n, n] = d(sum of a's hinges)/d dist[a, :] (+1 at the positive, -1 at the negative of
 * every active triplet). Ties go to the lowest index (strict comparisons in index order).
 * Global: n. */
__kernel void triplet_mine(FCL_TENSOR(rl), FCL_TENSOR(rc), FCL_TENSOR(g), FCL_CTENSOR(dist),
                           FCL_CTENSOR(lab), const int n, const float margin, const int mining,
                           const int want_g)
{
    FCL_ITEM_OR_RETURN(a, n);
    __global const float *da = dist + dist_off + a * n, *l = lab + lab_off;
    int ga = g_off + a * n;   /* row a of G (only touched with want_g: g may be a dummy) */
    float la = l[a];
    if (want_g)
        for (int j = 0; j < n; j++)
            g[ga + j] = 0.0f;
    /* the hardest negative */
    int hn = -1;
    float dn = 0.0f;
    for (int j = 0; j < n; j++)
        if (j != a && l[j] != la && (hn < 0 || da[j] < dn)) {
            hn = j;
            dn = da[j];
        }
    float lsum = 0.0f;
    int cnt = 0;
    if (hn >= 0 && mining == TRIPLET_BATCH_HARD) {
        int hp = -1;
        float dp = 0.0f;
        for (int j = 0; j < n; j++)
            if (j != a && l[j] == la && (hp < 0 || da[j] > dp)) {
                hp = j;
                dp = da[j];
            }
        if (hp >= 0) {
            cnt = 1;
            float h = dp - dn + margin;
            if (h > 0.0f) {
                lsum = h;
                if (want_g) {
                    g[ga + hp] += 1.0f;
                    g[ga + hn] -= 1.0f;
                }
            }
        }
    } else if (hn >= 0) {
        for (int q = 0; q < n; q++) {
            if (q == a || l[q] != la)
                continue;
            float dp = da[q], hi = dp + margin, ds = 0.0f;
            int sn = -1;
            for (int j = 0; j < n; j++) {
                float v = da[j];
                if (j != a && l[j] != la && v > dp && v < hi && (sn < 0 || v < ds)) {
                    sn = j;
                    ds = v;
                }
            }
            if (sn < 0) {
                sn = hn;
                ds = dn;
            }
            cnt++;
            float h = dp - ds + margin;
            if (h > 0.0f) {
                lsum += h;
                if (want_g) {
                    g[ga + q] += 1.0f;
                    g[ga + sn] -= 1.0f;
                }
            }
        }
    }
    rl[rl_off + a] = lsum;
    rc[rc_off + a] = (float)cnt;
}

/* out[0] = sum(rl) / sum(rc) (0 without triplets); with want_inv also out[1] = 1 / sum(rc)
 * (0 without triplets). One work-item, batch order. Global: 1. */
__kernel void triplet_reduce(FCL_TENSOR(out), FCL_CTENSOR(rl), FCL_CTENSOR(rc), const int n,
                             const int want_inv)
{
    if (get_global_id(0) != 0)
        return;
    float s = 0.0f;
    int cnt = 0;
    for (int a = 0; a < n; a++) {
        s += rl[rl_off + a];
        cnt += (int)rc[rc_off + a];
    }
    out[out_off] = cnt > 0 ? s / (float)cnt : 0.0f;
    if (want_inv)
        out[out_off + 1] = cnt > 0 ? 1.0f / (float)cnt : 0.0f;
}

/* dx[r, t] += dloss * inv * sum_j (G[r, j] + G[j, r]) * dd(r, j) * (x[r, t] - x[j, t]) with
 * dd = 2 (squared distances) or 1 / dist[r, j] (Euclidean; 0 at dist 0), inv = stats[1].
 * Global: (d, n). */
__kernel void triplet_grad(FCL_TENSOR(dx), FCL_CTENSOR(x), FCL_CTENSOR(g), FCL_CTENSOR(dist),
                           FCL_CTENSOR(stats), const int n, const int d, const int squared,
                           const float dloss)
{
    int t = get_global_id(0), r = get_global_id(1);
    if (r >= n || t >= d)
        return;
    float xr = x[x_off + r * d + t], acc = 0.0f;
    for (int j = 0; j < n; j++) {
        float w = g[g_off + r * n + j] + g[g_off + j * n + r];
        if (w != 0.0f) {
            float dj = dist[dist_off + r * n + j];
            float f = squared ? 2.0f : (dj > 0.0f ? 1.0f / dj : 0.0f);
            acc += w * f * (xr - x[x_off + j * d + t]);
        }
    }
    dx[dx_off + r * d + t] += dloss * stats[stats_off + 1] * acc;
}

/* ==== contrastive ============================================================================ */

/* rl[i] = y d^2 + (1 - y) max(0, margin - d)^2, d = ||a_i - b_i||. Global: n. */
__kernel void contrastive_rows(FCL_TENSOR(rl), FCL_CTENSOR(a), FCL_CTENSOR(b), FCL_CTENSOR(y),
                               const int n, const int d, const float margin)
{
    FCL_ITEM_OR_RETURN(i, n);
    __global const float *ar = a + a_off + i * d, *br = b + b_off + i * d;
    float s = pair_sqdist(ar, br, d);
    float dd = sqrt(s), h = fmax(margin - dd, 0.0f), yi = y[y_off + i];
    rl[rl_off + i] = yi * s + (1.0f - yi) * h * h;
}

/* da_i += coef * (y - (1 - y) max(0, margin - d) / d) (a_i - b_i), db_i -= the same
 * (coef = dloss / N; the hinge term is 0 at d = 0). Global: n. */
__kernel void contrastive_bwd(FCL_TENSOR(da), FCL_TENSOR(db), FCL_CTENSOR(a), FCL_CTENSOR(b),
                              FCL_CTENSOR(y), const int n, const int d, const float margin,
                              const float coef, const int have_da, const int have_db)
{
    FCL_ITEM_OR_RETURN(i, n);
    __global const float *ar = a + a_off + i * d, *br = b + b_off + i * d;
    float s = pair_sqdist(ar, br, d);
    float dd = sqrt(s), h = fmax(margin - dd, 0.0f), yi = y[y_off + i];
    float c = coef * (yi - (dd > 0.0f ? (1.0f - yi) * h / dd : 0.0f));
    for (int t = 0; t < d; t++) {
        float v = c * (ar[t] - br[t]);
        if (have_da)
            da[da_off + i * d + t] += v;
        if (have_db)
            db[db_off + i * d + t] -= v;
    }
}

/* ==== histogram ============================================================================== */

/* The lower node k in [0, bins - 2] of similarity s and its fraction (s - t_k) / delta
 * (outside [-1, 1] the edge bins extrapolate linearly). */
inline int hist_bin(float s, int bins, float delta, float *frac)
{
    float f = floor((s + 1.0f) / delta);
    int k = f >= 0.0f ? (f <= (float)(bins - 2) ? (int)f : bins - 2) : 0;   /* NaN: 0 */
    *frac = (s - (-1.0f + (float)k * delta)) / delta;
    return k;
}

/* h[r] = (sum over positive pairs i < j of pair weight in bin r) / npos, h[bins + r] the same
 * over negative pairs; work-item 0 also writes h[2 bins] = npos, h[2 bins + 1] = nneg. The pair
 * loop runs in (i, j) order. Global: bins. */
__kernel void hist_bins(FCL_TENSOR(h), FCL_CTENSOR(sim), FCL_CTENSOR(lab), const int n,
                        const int bins)
{
    FCL_ITEM_OR_RETURN(r, bins);
    float delta = 2.0f / (float)(bins - 1);
    __global const float *l = lab + lab_off;
    float sp = 0.0f, sn = 0.0f;
    int np = 0, nn = 0;
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++) {
            float s = sim[sim_off + i * n + j], frac;
            int k = hist_bin(s, bins, delta, &frac);
            float w = r == k ? 1.0f - frac : (r == k + 1 ? frac : 0.0f);
            if (l[i] == l[j]) {
                sp += w;
                np++;
            } else {
                sn += w;
                nn++;
            }
        }
    h[h_off + r] = np > 0 ? sp / (float)np : 0.0f;
    h[h_off + bins + r] = nn > 0 ? sn / (float)nn : 0.0f;
    if (r == 0) {
        h[h_off + 2 * bins] = (float)np;
        h[h_off + 2 * bins + 1] = (float)nn;
    }
}

/* out[0] = sum_r h-[r] cumsum(h+)[r] (0 without positive or negative pairs); with want_coef the
 * per-bin gradient coefficients coef[q] = dL/dh+[q] / npos = sum_{r >= q} h-[r] / npos and
 * coef[bins + r] = dL/dh-[r] / nneg = cumsum(h+)[r] / nneg. Global: 1. */
__kernel void hist_loss(FCL_TENSOR(out), FCL_TENSOR(coef), FCL_CTENSOR(h), const int bins,
                        const int want_coef)
{
    if (get_global_id(0) != 0)
        return;
    __global const float *hp = h + h_off, *hn = h + h_off + bins;
    float np = h[h_off + 2 * bins], nn = h[h_off + 2 * bins + 1];
    int ok = np > 0.0f && nn > 0.0f;
    float cum = 0.0f, loss = 0.0f;
    for (int r = 0; r < bins; r++) {
        cum += hp[r];
        loss += hn[r] * cum;
    }
    out[out_off] = ok ? loss : 0.0f;
    if (!want_coef)
        return;
    float suf = 0.0f;
    for (int q = bins - 1; q >= 0; q--) {
        suf += hn[q];
        coef[coef_off + q] = ok ? suf / np : 0.0f;
    }
    cum = 0.0f;
    for (int r = 0; r < bins; r++) {
        cum += hp[r];
        coef[coef_off + bins + r] = ok ? cum / nn : 0.0f;
    }
}

/* ds[i, j] = dloss * (c[k + 1] - c[k]) / delta for i < j (c: the positive or negative
 * coefficients, k: the pair's bin), 0 elsewhere. Global: (n, n). */
__kernel void hist_dsim(FCL_TENSOR(ds), FCL_CTENSOR(sim), FCL_CTENSOR(lab), FCL_CTENSOR(coef),
                        const int n, const int bins, const float dloss)
{
    int j = get_global_id(0), i = get_global_id(1);
    if (i >= n || j >= n)
        return;
    float v = 0.0f;
    if (i < j) {
        float delta = 2.0f / (float)(bins - 1), frac;
        int k = hist_bin(sim[sim_off + i * n + j], bins, delta, &frac);
        __global const float *c = coef + coef_off + (lab[lab_off + i] == lab[lab_off + j] ? 0 : bins);
        v = dloss * (c[k + 1] - c[k]) / delta;
    }
    ds[ds_off + i * n + j] = v;
}

/* ==== GPU shape of the per-row kernels ============================================================
 * One work-group per row: work-item l takes the dimensions l, l + L, ... (coalesced), the sum
 * is a work-group reduction (cl/reduce.cl; the file is built as "reduce.cl+metric_loss.cl").
 * Same semantics as center_rows / contrastive_rows. Global: n * L, local L. */

/* pair_sqdist over the work-group: work-item l sums dimensions l, l + L, ...; every work-item
 * gets the group's sum. */
inline float wg_pair_sqdist(__global const float *ar, __global const float *br, int d, __local float *sc)
{
    float s = 0.0f;
    for (int t = get_local_id(0); t < d; t += get_local_size(0)) {
        float v = ar[t] - br[t];
        s += v * v;
    }
    return fcl_wg_sum(s, sc);
}

__kernel void center_rows_wg(FCL_TENSOR(rl), FCL_CTENSOR(x), FCL_CTENSOR(c), FCL_CTENSOR(lab),
                             const int n, const int d, const int k, __local float *sc)
{
    int i = get_group_id(0), l = get_local_id(0);
    int y = row_label(lab + lab_off, i, k, rl + rl_off, l == 0);
    if (y < 0)   /* the same for the whole group */
        return;
    float s = wg_pair_sqdist(x + x_off + i * d, c + c_off + y * d, d, sc);
    if (l == 0)
        rl[rl_off + i] = 0.5f * s;
}

__kernel void contrastive_rows_wg(FCL_TENSOR(rl), FCL_CTENSOR(a), FCL_CTENSOR(b), FCL_CTENSOR(y),
                                  const int n, const int d, const float margin, __local float *sc)
{
    int i = get_group_id(0), l = get_local_id(0);
    float s = wg_pair_sqdist(a + a_off + i * d, b + b_off + i * d, d, sc);
    float dd = sqrt(s), h = fmax(margin - dd, 0.0f), yi = y[y_off + i];
    if (l == 0)
        rl[rl_off + i] = yi * s + (1.0f - yi) * h * h;
}
