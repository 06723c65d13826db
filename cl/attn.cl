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

/* FCL_ATTN_VEC (the "attn" tuning family) consecutive pixels a work-item in the radix sums, as
 * the lanes of a float vector; the pixels past a row's last whole vector one at a time by the same
 * formula on floats (all of them at FCL_ATTN_VEC 1: a pixel a work-item, neighbours on
 * neighbouring addresses, what a GPU coalesces). PoCL ran the pixel-a-work-item kernels one scalar
 * at a time: Zen 5, ResNeSt-50d's layer1 32x128x28x28 radix sum at 3.3 (fwd) and 2.8 GB/s (bwd);
 * the numbers after: FCL_ATTN_VEC in host/runtime/tuning_table.c. */
#ifndef FCL_ATTN_VEC
#error "FCL_ATTN_VEC comes from the \"attn\" tuning family (host/runtime/tuning_table.c)"
#endif
#if FCL_ATTN_VEC > 1
#define AVF FCL_CAT(float, FCL_ATTN_VEC)
#define AV_LD(p) FCL_CAT(vload, FCL_ATTN_VEC)(0, (p))
#define AV_ST(v, p) FCL_CAT(vstore, FCL_ATTN_VEC)((v), 0, (p))
#endif
#if FCL_ATTN_VEC > 1
#define ATTN_PIXELS(BODY) FCL_PIXELS_VEC(FCL_ATTN_VEC, AVF, AV_LD, AV_ST, BODY)
#else
#define ATTN_PIXELS(BODY) BODY(float, FCL_S_LD, FCL_S_ST, 0)
#endif

/* Radix sum: x [B, R * C, HW] (radix-major channels r * C + c), attention a [B, R * C] or none.
 *   y[b, c, i] = sum_r x[b, r * C + c, i] * a[b, r * C + c]   (a == 1 without HAS_A)
 * Global: (ceil(HW / FCL_ATTN_VEC), C, B). */
#define RADIX_FWD(T, LD, ST, j)                                                                    \
    do {                                                                                          \
        T s = (T)(0.0f);                                                                          \
        for (int r = 0; r < R; r++) {                                                             \
            const int ch = (b * R + r) * C + c;                                                   \
            s += LD(x + x_off + ch * hw + i0 + (j)) * (has_a ? a[a_off + ch] : 1.0f);             \
        }                                                                                         \
        ST(s, y + y_off + (b * C + c) * hw + i0 + (j));                                           \
    } while (0)
__kernel void radix_sum_fwd(FCL_TENSOR(y), FCL_CTENSOR(x), FCL_CTENSOR(a), const int B,
                            const int R, const int C, const int hw, const int has_a)
{
    int i0 = get_global_id(0) * FCL_ATTN_VEC, c = get_global_id(1), b = get_global_id(2);
    if (i0 >= hw || c >= C || b >= B)
        return;
    ATTN_PIXELS(RADIX_FWD);
}

/* dx[b, r * C + c, i] += dy[b, c, i] * a[b, r * C + c]. Global: (ceil(HW / FCL_ATTN_VEC), R * C, B). */
#define RADIX_BWD(T, LD, ST, j)                                                                    \
    do {                                                                                          \
        __global float *dp_ = dx + dx_off + ch * hw + i0 + (j);                                   \
        ST(LD(dp_) + LD(dy + dy_off + (b * C + c) * hw + i0 + (j)) * f, dp_);                     \
    } while (0)
__kernel void radix_sum_bwd_data(FCL_TENSOR(dx), FCL_CTENSOR(dy), FCL_CTENSOR(a), const int B,
                                 const int R, const int C, const int hw, const int has_a)
{
    int i0 = get_global_id(0) * FCL_ATTN_VEC, rc = get_global_id(1), b = get_global_id(2);
    if (i0 >= hw || rc >= R * C || b >= B)
        return;
    const int ch = b * R * C + rc, c = rc % C;
    const float f = has_a ? a[a_off + ch] : 1.0f;
    ATTN_PIXELS(RADIX_BWD);
}

/* da[b, r * C + c] += sum_i dy[b, c, i] * x[b, r * C + c, i]: one work-group per (b, r * C + c)
 * (global B * R * C * L, local L, L a power of two); work-item l sums the runs of FCL_ATTN_VEC
 * pixels from l * FCL_ATTN_VEC on, L * FCL_ATTN_VEC apart (as vector lanes where whole, added up
 * at the end), then fcl_wg_sum (cl/reduce.cl, built as "reduce.cl+attn.cl"): reproducible per
 * device. */
__kernel void radix_sum_bwd_attn(FCL_TENSOR(da), FCL_CTENSOR(dy), FCL_CTENSOR(x), const int B,
                                 const int R, const int C, const int hw, __local float *scratch)
{
    int row = get_group_id(0);
    if (row >= B * R * C)
        return;
    int l = get_local_id(0), L = get_local_size(0);
    int b = row / (R * C), c = row % C;
    __global const float *gp = dy + dy_off + (b * C + c) * hw, *xp = x + x_off + row * hw;
    float acc = 0.0f;
#if FCL_ATTN_VEC > 1
    AVF va = (AVF)(0.0f);
#endif
    for (int i = l * FCL_ATTN_VEC; i < hw; i += L * FCL_ATTN_VEC) {
#if FCL_ATTN_VEC > 1
        if (i + FCL_ATTN_VEC <= hw) {
            va += AV_LD(gp + i) * AV_LD(xp + i);
            continue;
        }
#endif
        for (int j = i; j < i + FCL_ATTN_VEC && j < hw; j++)
            acc += gp[j] * xp[j];
    }
#if FCL_ATTN_VEC > 1
    acc += FCL_CAT(hsum, FCL_ATTN_VEC)(va);   /* cl/preamble.cl's fixed pairwise lane sums */
#endif
    acc = fcl_wg_sum(acc, scratch);
    if (l == 0)
        da[da_off + row] += acc;
}
