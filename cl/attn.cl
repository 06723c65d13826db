/* cl/attn.cl: ResNeSt split attention: radix softmax (timm's RadixSoftmax) and the radix sums
 * (plain and attention-weighted). Semantics: include/facecl/ops_attn.h; reference: host/ref/attn.c. */

/* r-softmax. Per sample b the input holds card * R * rest logits in [card, R, rest] order; the
 * output is [R, card, rest]: y[b, r, g, j] = softmax over r of x[b, g, r, j] (max subtracted,
 * as torch). R == 1: y = sigmoid(x) elementwise. Global: (rest, card, B). */
__kernel void rsoftmax_fwd(FCL_TENSOR(y), FCL_CTENSOR(x), const int B, const int card, const int R,
                           const int rest)
{
    int j = get_global_id(0), g = get_global_id(1), b = get_global_id(2);
    if (j >= rest || g >= card || b >= B)
        return;
    int per = card * R * rest;
    __global const float *xp = x + x_off + b * per + g * R * rest + j; /* step rest over r */
    __global float *yp = y + y_off + b * per + g * rest + j;           /* step card * rest */
    if (R == 1) {
        yp[0] = 1.0f / (1.0f + exp(-xp[0]));
        return;
    }
    float m = xp[0];
    for (int r = 1; r < R; r++)
        m = fmax(m, xp[r * rest]);
    float s = 0.0f;
    for (int r = 0; r < R; r++)
        s += exp(xp[r * rest] - m);
    for (int r = 0; r < R; r++)
        yp[r * card * rest] = exp(xp[r * rest] - m) / s;
}

/* dx[b, g, r, j] += y_r * (dy_r - sum_r' y_r' dy_r') with y_r = y[b, r, g, j] (dy in y's
 * layout); R == 1: dx += dy * y * (1 - y). Global: (rest, card, B). */
__kernel void rsoftmax_bwd(FCL_TENSOR(dx), FCL_CTENSOR(dy), FCL_CTENSOR(y), const int B,
                           const int card, const int R, const int rest)
{
    int j = get_global_id(0), g = get_global_id(1), b = get_global_id(2);
    if (j >= rest || g >= card || b >= B)
        return;
    int per = card * R * rest, ys = card * rest;
    int yo = b * per + g * rest + j;
    __global float *dp = dx + dx_off + b * per + g * R * rest + j;
    float dot = 0.0f;
    for (int r = 0; r < R; r++)
        dot += y[y_off + yo + r * ys] * dy[dy_off + yo + r * ys];
    if (R == 1) {
        float v = y[y_off + yo];
        dp[0] += dy[dy_off + yo] * v * (1.0f - v);
        return;
    }
    for (int r = 0; r < R; r++) {
        float v = y[y_off + yo + r * ys];
        dp[r * rest] += v * (dy[dy_off + yo + r * ys] - dot);
    }
}

/* Radix sum: x [B, R * C, HW] (radix-major channels r * C + c), attention a [B, R * C] or none.
 *   y[b, c, i] = sum_r x[b, r * C + c, i] * a[b, r * C + c]   (a == 1 without HAS_A)
 * Global: (HW, C, B). */
__kernel void radix_sum_fwd(FCL_TENSOR(y), FCL_CTENSOR(x), FCL_CTENSOR(a), const int B,
                            const int R, const int C, const int hw, const int has_a)
{
    int i = get_global_id(0), c = get_global_id(1), b = get_global_id(2);
    if (i >= hw || c >= C || b >= B)
        return;
    float s = 0.0f;
    for (int r = 0; r < R; r++) {
        int ch = (b * R + r) * C + c;
        s += x[x_off + ch * hw + i] * (has_a ? a[a_off + ch] : 1.0f);
    }
    y[y_off + (b * C + c) * hw + i] = s;
}

/* dx[b, r * C + c, i] += dy[b, c, i] * a[b, r * C + c]. Global: (HW, R * C, B). */
__kernel void radix_sum_bwd_data(FCL_TENSOR(dx), FCL_CTENSOR(dy), FCL_CTENSOR(a), const int B,
                                 const int R, const int C, const int hw, const int has_a)
{
    int i = get_global_id(0), rc = get_global_id(1), b = get_global_id(2);
    if (i >= hw || rc >= R * C || b >= B)
        return;
    int ch = b * R * C + rc, c = rc % C;
    dx[dx_off + ch * hw + i] += dy[dy_off + (b * C + c) * hw + i] * (has_a ? a[a_off + ch] : 1.0f);
}

/* da[b, r * C + c] += sum_i dy[b, c, i] * x[b, r * C + c, i]: one work-group per (b, r * C + c)
 * (global B * R * C * L, local L, L a power of two); work-item l sums i = l, l + L, ..., then
 * fcl_wg_sum (cl/reduce.cl, built as "reduce.cl+attn.cl"): reproducible per device. */
__kernel void radix_sum_bwd_attn(FCL_TENSOR(da), FCL_CTENSOR(dy), FCL_CTENSOR(x), const int B,
                                 const int R, const int C, const int hw, __local float *scratch)
{
    int row = get_group_id(0);
    if (row >= B * R * C)
        return;
    int l = get_local_id(0), L = get_local_size(0);
    int b = row / (R * C), c = row % C;
    float acc = 0.0f;
    for (int i = l; i < hw; i += L)
        acc += dy[dy_off + (b * C + c) * hw + i] * x[x_off + row * hw + i];
    acc = fcl_wg_sum(acc, scratch);
    if (l == 0)
        da[da_off + row] += acc;
}
