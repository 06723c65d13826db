/* cl/pool.cl: max / average / adaptive-average pooling, forward and backward (no atomics).
 * Semantics: include/facecl/ops_pool.h; reference: host/ref/pool.c. */

/* The sizes and window every pooling kernel takes after its tensors, in this order (host/ops/pool.c
 * binds them with arg_window): planes of H x W in, OH x OW out; kh x kw windows, strides, padding. */
#define POOL_SIZES const int H, const int W, const int OH, const int OW, const int planes
#define POOL_WINDOW POOL_SIZES, const int kh, const int kw, const int sh, const int sw, const int ph, const int pw
#define POOL_AVG_ARGS POOL_WINDOW, const int include_pad, const int divisor_override

/* Tensors [N, C, H, W] as planes p = n * C + c; output (i, j) of a window (kh, kw, stride sh,
 * sw, padding ph, pw) covers rows i * sh - ph .. + kh - 1 and columns j * sw - pw .. + kw - 1.
 *
 * Launches are 1-D (global = the product of the three extents named below, groups of the
 * device's 1-D size): 3-D launches with a narrow first extent made PoCL run thousands of tiny
 * groups, whose overhead dominated. split3 recovers the three indices.
 *
 * Forward: each work-item makes 4 consecutive outputs of one row, extents (ceil(OW / 4), OH,
 * N * C). When the 4 windows lie inside the columns and the stride is 1 or 2, the window is
 * walked with float4 loads (stride 2 takes the even lanes of 7 loaded values): PoCL does not
 * vectorise across work-items once a kernel has loops, so the SIMD is explicit. Other chunks
 * (padding at the row ends, the row tail, other strides) use the scalar loop. Both walk each
 * window in the same row-major order, so ties and NaN behave identically.
 *
 * Backward: gather. Each work-item owns 8 consecutive inputs of one row (extents
 * (ceil(W / 8), H, N * C)), visits the few outputs whose windows can cover them (rows
 * ceil((r + ph - kh + 1) / sh) .. floor((r + ph) / sh), likewise columns), adds their
 * contributions lane-wise into a float8 in that fixed order, and updates its dx elements once:
 * no two work-items write the same dx element, so no atomics, and the result is deterministic.
 * Average pooling walks those groups a row at a time (its forward and backward work-items own a
 * row: avgpool_fwd, avgpool_bwd) and divides each output's gradient once (avgpool_scale). */

/* Work-item t of a 1-D launch over extents (n0, n1, n2) as indices (i0, i1, i2); 0 when t is in
 * the rounded-up tail. */
inline int split3(int n0, int n1, int n2, int *i0, int *i1, int *i2)
{
    int t = get_global_id(0);
    int q = t / n0;
    *i0 = t - q * n0;
    *i2 = q / n1;
    *i1 = q - *i2 * n1;
    return *i2 < n2;
}

/* ---- max pooling ------------------------------------------------------------------------------ */

/* One output, PyTorch's CPU loop: start at -inf with the index of the window's first in-bounds
 * element; take a value when it is greater (ties keep the first) or NaN. */
inline void max_one(__global const float *xp, int H, int W, int hs0, int ws0, int kh, int kw,
                    float *val_out, int *best_out)
{
    int he = min(hs0 + kh, H), we = min(ws0 + kw, W);
    int hs = max(hs0, 0), ws = max(ws0, 0);
    int best = hs * W + ws;
    float val = -INFINITY;
    for (int r = hs; r < he; r++)
        for (int q = ws; q < we; q++) {
            float v = xp[r * W + q];
            if (v > val || isnan(v)) {
                val = v;
                best = r * W + q;
            }
        }
    *val_out = val;
    *best_out = best;
}

/* Window column kq of 4 outputs whose windows start at p[0], p[s], p[2 s], p[3 s] (s = 1, 2). */
inline float4 load_cols(__global const float *p, int s)
{
    if (s == 1)
        return vload4(0, p);
    float4 a = vload4(0, p);
    float3 b = vload3(0, p + 4);
    return (float4)(a.s0, a.s2, b.s0, b.s2);
}

/* Whether outputs j0 .. j0 + 3 (of OW), windows of kw columns from w0 every sw, lie inside the W
 * columns with a stride that load_cols walks (1 or 2). */
inline int fwd4_fast(int j0, int w0, int OW, int W, int kw, int sw)
{
    return j0 + 4 <= OW && w0 >= 0 && w0 + 3 * sw + kw <= W && (sw == 1 || sw == 2);
}

/* idx (when has_idx) gets the flat h * W + w of each winner, stored as a float. */
/* The start of a forward work-item (maxpool_fwd; avgpool_fwd's row walks such groups): outputs
 * j0 .. j0 + 3 of row i of plane p; xp its input plane, o its first output, (h0, w0) the first
 * window's top-left corner (may be in the padding); fast4: the 4 windows lie inside the columns
 * and the stride is 1 or 2, so they are walked with float4 loads. */
#define FWD4_BEGIN                                                                                   \
    int j0, i, p;                                                                                    \
    if (!split3((OW + 3) / 4, OH, planes, &j0, &i, &p))                                              \
        return;                                                                                      \
    j0 *= 4;                                                                                         \
    __global const float *xp = x + x_off + p * H * W;                                                \
    int o = (p * OH + i) * OW + j0;                                                                  \
    int h0 = i * sh - ph, w0 = j0 * sw - pw;                                                         \
    int fast4 = fwd4_fast(j0, w0, OW, W, kw, sw)

__kernel void maxpool_fwd(FCL_TENSOR(y), FCL_TENSOR(idx), FCL_CTENSOR(x), POOL_WINDOW,
                          const int has_idx)
{
    FWD4_BEGIN;
    if (fast4) {
        int he = min(h0 + kh, H), hs = max(h0, 0);
        int4 lane = (int4)(0, 1, 2, 3) * sw;
        float4 val = (float4)(-INFINITY);
        int4 best = (int4)(hs * W + w0) + lane;
        for (int r = hs; r < he; r++)
            for (int kq = 0; kq < kw; kq++) {
                float4 v = load_cols(xp + r * W + w0 + kq, sw);
                int4 take = isgreater(v, val) | isnan(v);
                val = select(val, v, take);
                best = select(best, (int4)(r * W + w0 + kq) + lane, take);
            }
        vstore4(val, 0, y + y_off + o);
        if (has_idx)
            vstore4(convert_float4(best), 0, idx + idx_off + o);
        return;
    }
    for (int t = 0; t < 4 && j0 + t < OW; t++) {
        float val;
        int best;
        max_one(xp, H, W, h0, w0 + t * sw, kh, kw, &val, &best);
        y[y_off + o + t] = val;
        if (has_idx)
            idx[idx_off + o + t] = (float)best;
    }
}

/* ---- max pooling 3x3, stride 2, padding 1 (ResNet's stem) --------------------------------------- */

/* Inlined into each caller with with_idx constant, so the walk without indices computes none. */
#ifdef __clang__
#define MP_INLINE inline __attribute__((always_inline))
#else
#define MP_INLINE inline
#endif

/* One step of max_one's walk, lane-wise: take b (value vb, index ib) over a when greater or NaN;
 * the indices only when with_idx. */
#define MP_STEP(va, ia, vb, ib)                              \
    do {                                                     \
        const int8 take_ = isgreater((vb), (va)) | isnan(vb); \
        va = select((va), (vb), take_);                      \
        if (with_idx)                                        \
            ia = select((ia), (ib), take_);                  \
    } while (0)

/* The walk over columns 2 l - 1, 2 l, 2 l + 1 (in that order) of input row xr for the 8 outputs l
 * whose first window column is base - 1 + 2 l: the first maximum (or the last NaN) and, with_idx,
 * its column in *col. Columns past W read -inf (never taken); the padding column -1 is skipped
 * by starting lane 0 at column 0, as max_one starts at the first in-bounds element. */
MP_INLINE float8 mp3_row(__global const float *xr, int base, int W, int8 *col, int with_idx)
{
    float16 v;
    if (base + 16 <= W) {
        v = vload16(0, xr + base);
    } else {
        float t[16];
        for (int j = 0; j < 16; j++)
            t[j] = base + j < W ? xr[base + j] : -INFINITY;
        v = vload16(0, t);
    }
    const float8 e = v.even, o = v.odd;
    float8 m = (float8)(base > 0 ? xr[base - 1] : v.s0, o.s0, o.s1, o.s2, o.s3, o.s4, o.s5, o.s6);
    const int8 ce = (int8)(base) + (int8)(0, 2, 4, 6, 8, 10, 12, 14);
    int8 c = (int8)(0);
    if (with_idx) {
        c = ce - (int8)(1);
        c.s0 = base > 0 ? base - 1 : base;
    }
    MP_STEP(m, c, e, ce);
    MP_STEP(m, c, o, ce + (int8)(1));
    *col = c;
    return m;
}

/* maxpool_fwd for 3x3 windows, stride 2, padding 1: each work-item makes 8 adjacent outputs of
 * every row of one plane, walking down it and keeping the shared input row (row 2 i + 1 is the
 * next output row's first). Each row's columns are walked in order, then the rows in order: the
 * first maximum of the row-major walk wins (the last NaN), as in max_one, so values and indices
 * are max_one's. Rows past H read -inf; output row 0 starts at row 0 (row -1 is padding).
 * Extents (ceil(OW / 8), planes), 1-D. */
MP_INLINE void mp3_plane(__global float *y, __global float *idx, __global const float *xp, int H, int W,
                         int OH, int OW, int base, int nl, int with_idx)
{
    float8 top = (float8)(-INFINITY);
    int8 itop = (int8)(0);
    for (int i = 0; i < OH; i++, y += OW, idx += OW) {
        const int r = 2 * i;
        int8 imid = (int8)(0), ibot = (int8)(0);
        float8 mid = (float8)(-INFINITY), bot = (float8)(-INFINITY);
        if (r < H) {
            mid = mp3_row(xp + r * W, base, W, &imid, with_idx);
            imid += (int8)(r * W);
        }
        if (r + 1 < H) {
            bot = mp3_row(xp + (r + 1) * W, base, W, &ibot, with_idx);
            ibot += (int8)((r + 1) * W);
        }
        float8 m = i > 0 ? top : mid;
        int8 im = i > 0 ? itop : imid;
        if (i > 0)
            MP_STEP(m, im, mid, imid);
        MP_STEP(m, im, bot, ibot);
        const float8 fi = convert_float8(im);
        if (nl == 8) {
            vstore8(m, 0, y);
            if (with_idx)
                vstore8(fi, 0, idx);
        } else {
            float vo[8], io[8];
            vstore8(m, 0, vo);
            if (with_idx)
                vstore8(fi, 0, io);
            for (int l = 0; l < nl; l++) {
                y[l] = vo[l];
                if (with_idx)
                    idx[l] = io[l];
            }
        }
        top = bot;
        itop = ibot;
    }
}

__kernel void maxpool3s2_fwd(FCL_TENSOR(y), FCL_TENSOR(idx), FCL_CTENSOR(x), POOL_SIZES,
                             const int has_idx)
{
    const int strips = (OW + 7) / 8, t = get_global_id(0);
    const int p = t / strips, ox0 = (t - p * strips) * 8;
    if (p >= planes)
        return;
    __global const float *xp = x + x_off + p * H * W;
    const int o0 = p * OH * OW + ox0, nl = min(8, OW - ox0);
    if (has_idx)
        mp3_plane(y + y_off + o0, idx + idx_off + o0, xp, H, W, OH, OW, 2 * ox0, nl, 1);
    else
        mp3_plane(y + y_off + o0, idx, xp, H, W, OH, OW, 2 * ox0, nl, 0);
}

/* dx[p, r, q0 .. q0 + 7] += acc (lanes past the row end dropped). */
inline void add_segment(__global float *d, int n, float8 acc)
{
    if (n == 8) {
        vstore8(vload8(0, d) + acc, 0, d);
        return;
    }
    float t[8];
    vstore8(acc, 0, t);
    for (int k = 0; k < n; k++)
        d[k] += t[k];
}

/* First output index whose window (size k, stride s, padding p) covers input position r. */
inline int first_cover(int r, int k, int s, int p)
{
    int v = r + p - k + 1;
    return v <= 0 ? 0 : (v + s - 1) / s;
}

/* Last output index (of n) whose window (stride s, padding p) covers input position r. */
inline int last_cover(int r, int s, int p, int n) { return min((r + p) / s, n - 1); }

/* The start of a backward work-item (maxpool_bwd; avgpool_bwd's row walks such groups): inputs
 * q0 .. q0 + n - 1 (n <= 8) of row r of plane p, covered by the outputs of rows i0..i1 and
 * columns j0..j1. */
#define BWD8_BEGIN                                                                                   \
    int q0, r, p;                                                                                    \
    if (!split3((W + 7) / 8, H, planes, &q0, &r, &p))                                                \
        return;                                                                                      \
    q0 *= 8;                                                                                         \
    int n = min(8, W - q0);                                                                          \
    int i0 = first_cover(r, kh, sh, ph), i1 = last_cover(r, sh, ph, OH);                             \
    int j0 = first_cover(q0, kw, sw, pw), j1 = last_cover(q0 + n - 1, sw, pw, OW)

/* dx[p, r, q] += the dy of every output whose idx is r * W + q. An idx that is not a valid
 * position (a corrupt tensor) matches nothing. */
__kernel void maxpool_bwd(FCL_TENSOR(dx), FCL_CTENSOR(dy), FCL_CTENSOR(idx), POOL_WINDOW)
{
    BWD8_BEGIN;
    int base = r * W + q0;
    int8 lane = (int8)(0, 1, 2, 3, 4, 5, 6, 7);
    float8 acc = (float8)(0.0f);
    for (int i = i0; i <= i1; i++)
        for (int j = j0; j <= j1; j++) {
            int o = (p * OH + i) * OW + j;
            float f = idx[idx_off + o];
            int k = (f >= 0.0f && f < (float)(H * W)) ? (int)f - base : -1;
            acc += select((float8)(0.0f), (float8)(dy[dy_off + o]), lane == (int8)(k));
        }
    add_segment(dx + dx_off + p * H * W + base, n, acc);
}

/* ---- max pooling 3x3 / 2 pad 1, backward --------------------------------------------------------- */

/* Outputs o .. o + 7 of one row (n of them real, 0..8; dy and idx without their offsets): their
 * dy, and their idx as an input position (-1 where not valid, as maxpool_bwd; 0 / -1 past n). */
inline void mp3_out8(__global const float *dy, __global const float *idx, int o, int n, int HW, float8 *g,
                     int8 *k)
{
    float8 f;
    if (n == 8) {
        *g = vload8(0, dy + o);
        f = vload8(0, idx + o);
    } else {
        float tg[8], tf[8];
        for (int l = 0; l < 8; l++) {
            tg[l] = l < n ? dy[o + l] : 0.0f;
            tf[l] = l < n ? idx[o + l] : -1.0f;
        }
        *g = vload8(0, tg);
        f = vload8(0, tf);
    }
    *k = select((int8)(-1), convert_int8(f), (f >= (float8)(0.0f)) & (f < (float8)((float)HW)));
}

/* Adds to row R's even columns (ev: base + 2 l) and odd ones (od: base + 2 l + 1) the dy of the
 * outputs l (g, k) and l + 1 (gn, kn) of the current output row whose idx points there: even
 * column 2 l is only in output l's window, odd 2 l + 1 in l's and then l + 1's (maxpool_bwd's
 * order: outputs by row, then column). */
#define MP3_GATHER(ev, od, R)                                                               \
    do {                                                                                    \
        const int8 at_ = (int8)((R) * W + base) + (int8)(0, 2, 4, 6, 8, 10, 12, 14);        \
        ev += select((float8)(0.0f), g, k == at_);                                          \
        od += select((float8)(0.0f), g, k == at_ + (int8)(1));                              \
        od += select((float8)(0.0f), gn, kn == at_ + (int8)(1));                            \
    } while (0)

/* dx[base .. base + 15] of row r += (ev, od) interleaved (columns past W dropped). */
inline void mp3_add_row(__global float *d, int base, int W, float8 ev, float8 od)
{
    const float16 a = shuffle2(ev, od, (uint16)(0, 8, 1, 9, 2, 10, 3, 11, 4, 12, 5, 13, 6, 14, 7, 15));
    if (base + 16 <= W) {
        vstore16(vload16(0, d + base) + a, 0, d + base);
        return;
    }
    float t[16];
    vstore16(a, 0, t);
    for (int c = 0; c < 16 && base + c < W; c++)
        d[base + c] += t[c];
}

/* maxpool_bwd for 3x3 windows, stride 2, padding 1: each work-item owns input columns 2 ox0 ..
 * 2 ox0 + 15 of one plane (the windows of outputs ox0 .. ox0 + 8 reach them) and walks down the
 * output rows: output row i reaches input rows 2 i - 1 (finished by it), 2 i (only it) and 2 i + 1
 * (carried to row i + 1). Each dx element adds the same dy in the same order as maxpool_bwd (by
 * output row, then column; deterministic, no atomics). Extents (ceil(OW / 8), planes), 1-D. */
__kernel void maxpool3s2_bwd(FCL_TENSOR(dx), FCL_CTENSOR(dy), FCL_CTENSOR(idx), POOL_SIZES)
{
    const int strips = (OW + 7) / 8, t = get_global_id(0);
    const int p = t / strips, ox0 = (t - p * strips) * 8;
    if (p >= planes)
        return;
    const int base = 2 * ox0, n = min(8, OW - ox0), HW = H * W;
    __global float *d = dx + dx_off + p * HW;
    __global const float *gy = dy + dy_off, *gi = idx + idx_off;
    float8 top_e = (float8)(0.0f), top_o = (float8)(0.0f);   /* row 2 i - 1 so far */
    for (int i = 0; i < OH; i++) {
        const int o = (p * OH + i) * OW + ox0;
        float8 g, gn;
        int8 k, kn;
        mp3_out8(gy, gi, o, n, HW, &g, &k);
        /* output ox0 + 8 (the next strip's first) reaches column base + 15 */
        const int has9 = n == 8 && ox0 + 8 < OW;
        const float f9 = has9 ? gi[o + 8] : -1.0f;
        const int k9 = f9 >= 0.0f && f9 < (float)HW ? (int)f9 : -1;
        gn = (float8)(g.s1, g.s2, g.s3, g.s4, g.s5, g.s6, g.s7, has9 ? gy[o + 8] : 0.0f);
        kn = (int8)(k.s1, k.s2, k.s3, k.s4, k.s5, k.s6, k.s7, k9);
        float8 mid_e = (float8)(0.0f), mid_o = (float8)(0.0f), bot_e = (float8)(0.0f), bot_o = (float8)(0.0f);
        const int r = 2 * i;
        if (i > 0)
            MP3_GATHER(top_e, top_o, r - 1);
        MP3_GATHER(mid_e, mid_o, r);
        MP3_GATHER(bot_e, bot_o, r + 1);
        if (i > 0)
            mp3_add_row(d + (r - 1) * W, base, W, top_e, top_o);
        if (r < H)
            mp3_add_row(d + r * W, base, W, mid_e, mid_o);
        top_e = bot_e;
        top_o = bot_o;
    }
    if (2 * OH - 1 < H)
        mp3_add_row(d + (2 * OH - 1) * W, base, W, top_e, top_o);
}

/* ---- average pooling -------------------------------------------------------------------------- */

/* The divisor of the window starting at (h0, w0), as PyTorch's avg_pool2d: the window clipped
 * to the padded input (count_include_pad) or to the input; divisor_override when > 0. Writes the
 * window clipped to the input into hs..he, ws..we (half-open). */
inline float avg_window(int h0, int w0, int H, int W, int kh, int kw, int ph, int pw,
                        int include_pad, int divisor_override, int *hs, int *he, int *ws, int *we)
{
    int h1 = min(h0 + kh, H + ph), w1 = min(w0 + kw, W + pw);
    int pool_size = (h1 - h0) * (w1 - w0);
    h0 = max(h0, 0);
    w0 = max(w0, 0);
    h1 = min(h1, H);
    w1 = min(w1, W);
    *hs = h0;
    *he = h1;
    *ws = w0;
    *we = w1;
    if (divisor_override > 0)
        return (float)divisor_override;
    return (float)(include_pad ? pool_size : (h1 - h0) * (w1 - w0));
}

/* A window holding no input element gives 0 (PyTorch). A work-item owns an output row, in
 * maxpool_fwd's groups of 4 outputs (the same sums in the same order): one index split a row
 * instead of one a group (split3's two integer divisions by kernel arguments cost about what a
 * group's 3x3 window sums did). Extents (1, OH, planes), 1-D. */
__kernel void avgpool_fwd(FCL_TENSOR(y), FCL_CTENSOR(x), POOL_AVG_ARGS)
{
    int z, i, p;
    if (!split3(1, OH, planes, &z, &i, &p))
        return;
    __global const float *xp = x + x_off + p * H * W;
    const int h0 = i * sh - ph;
    for (int j0 = 0; j0 < OW; j0 += 4) {
        const int o = (p * OH + i) * OW + j0, w0 = j0 * sw - pw;
        const int fast4 = fwd4_fast(j0, w0, OW, W, kw, sw);
        int hs, he, ws, we;
        if (fast4) {
            /* all 4 windows have the same rows and kw in-bounds columns: one divisor */
            float div = avg_window(h0, w0, H, W, kh, kw, ph, pw, include_pad, divisor_override, &hs, &he, &ws, &we);
            float4 sum = (float4)(0.0f);
            for (int r = hs; r < he; r++)
                for (int kq = 0; kq < kw; kq++)
                    sum += load_cols(xp + r * W + w0 + kq, sw);
            vstore4(hs < he ? sum / div : (float4)(0.0f), 0, y + y_off + o);
            continue;
        }
        for (int t = 0; t < 4 && j0 + t < OW; t++) {
            float div = avg_window(h0, w0 + t * sw, H, W, kh, kw, ph, pw, include_pad, divisor_override, &hs, &he,
                                   &ws, &we);
            float sum = 0.0f;
            for (int r = hs; r < he; r++)
                for (int q = ws; q < we; q++)
                    sum += xp[r * W + q];
            y[y_off + o + t] = (hs < he && ws < we) ? sum / div : 0.0f;
        }
    }
}

/* g[p, i, j] = dy[p, i, j] / the divisor of window (i, j): avgpool_bwd's operand, one division per
 * output (avgpool_bwd divided at each of its visits, ~7 per 8 inputs at 3x3 / 2). Same quotients,
 * added in the same order: the same sums. A work-item owns an output row: one index split for the
 * row, no integer division per element (an element a work-item spent ~27 cycles on t % OW and
 * t / OW % OH, divisions by kernel arguments that no vector unit has: 4.3 -> 0.6 ms here). `bench
 * ops --filter avgpool2d` (32x64x56^2, 3x3 / 2 pad 1), Zen 5, 6 alternating rounds, median wall ms,
 * before -> with these row kernels: fwd 3.60 -> 3.15, bwd 12.78 -> 5.99. Extents (1, OH, planes), 1-D. */
__kernel void avgpool_scale(FCL_TENSOR(g), FCL_CTENSOR(dy), POOL_AVG_ARGS)
{
    int z, i, p;
    if (!split3(1, OH, planes, &z, &i, &p))
        return;
    const int o = (p * OH + i) * OW;
    for (int j = 0; j < OW; j++) {
        int hs, he, ws, we;
        const float div = avg_window(i * sh - ph, j * sw - pw, H, W, kh, kw, ph, pw, include_pad, divisor_override,
                                     &hs, &he, &ws, &we);
        g[g_off + o + j] = dy[dy_off + o + j] / div;
    }
}

/* dx[p, r, q] += g[p, i, j] (avgpool_scale's dy / divisor) over the windows (i, j) covering (r, q):
 * column q is in window j's columns j sw - pw .. + kw - 1 (its part inside the input, for the
 * lanes that are). A work-item owns a whole input row (one index split and one covering row range
 * for it) and walks it in maxpool_bwd's groups of 8 columns: the same visits in the same order.
 * Extents (1, H, planes), 1-D. */
__kernel void avgpool_bwd(FCL_TENSOR(dx), FCL_CTENSOR(g), POOL_WINDOW)
{
    int z, r, p;
    if (!split3(1, H, planes, &z, &r, &p))
        return;
    const int i0 = first_cover(r, kh, sh, ph), i1 = last_cover(r, sh, ph, OH);
    __global float *d = dx + dx_off + (p * H + r) * W;
    __global const float *gp = g + g_off + p * OH * OW;
    for (int q0 = 0; q0 < W; q0 += 8) {
        const int n = min(8, W - q0), j0 = first_cover(q0, kw, sw, pw), j1 = last_cover(q0 + n - 1, sw, pw, OW);
        const int8 col = (int8)(0, 1, 2, 3, 4, 5, 6, 7) + (int8)(q0);
        float8 acc = (float8)(0.0f);
        for (int i = i0; i <= i1; i++) {
            __global const float *gr = gp + i * OW;
            for (int j = j0; j <= j1; j++) {
                const int w0 = j * sw - pw;
                acc += select((float8)(0.0f), (float8)(gr[j]), (col >= (int8)(w0)) & (col < (int8)(w0 + kw)));
            }
        }
        add_segment(d + q0, n, acc);
    }
}

/* ---- adaptive average pooling ----------------------------------------------------------------
 * Output o of n over an input of m covers [floor(o * m / n), ceil((o + 1) * m / n)). */
inline int ad_start(int o, int m, int n) { return (o * m) / n; }
inline int ad_end(int o, int m, int n) { return ((o + 1) * m + n - 1) / n; }

/* One output per work-item, extents (OW, OH, planes). */
__kernel void adaptive_avgpool_fwd(FCL_TENSOR(y), FCL_CTENSOR(x), POOL_SIZES)
{
    int j, i, p;
    if (!split3(OW, OH, planes, &j, &i, &p))
        return;
    int hs = ad_start(i, H, OH), he = ad_end(i, H, OH);
    int ws = ad_start(j, W, OW), we = ad_end(j, W, OW);
    __global const float *xp = x + x_off + p * H * W;
    float sum = 0.0f;
    for (int r = hs; r < he; r++)
        for (int q = ws; q < we; q++)
            sum += xp[r * W + q];
    y[y_off + (p * OH + i) * OW + j] = sum / (float)((he - hs) * (we - ws));
}

/* General sizes: one input per work-item gathers the adaptive windows covering it (candidates
 * floor(r * OH / H) .. ceil((r + 1) * OH / H) - 1, each checked exactly). Extents (W, H, planes). */
__kernel void adaptive_avgpool_bwd(FCL_TENSOR(dx), FCL_CTENSOR(dy), POOL_SIZES)
{
    int q, r, p;
    if (!split3(W, H, planes, &q, &r, &p))
        return;
    int i0 = (r * OH) / H, i1 = min(((r + 1) * OH + H - 1) / H - 1, OH - 1);
    int j0 = (q * OW) / W, j1 = min(((q + 1) * OW + W - 1) / W - 1, OW - 1);
    int base = p * OH * OW;
    float acc = 0.0f;
    for (int i = i0; i <= i1; i++) {
        int hs = ad_start(i, H, OH), he = ad_end(i, H, OH);
        if (r < hs || r >= he)
            continue;
        for (int j = j0; j <= j1; j++) {
            int ws = ad_start(j, W, OW), we = ad_end(j, W, OW);
            if (q < ws || q >= we)
                continue;
            acc += dy[dy_off + base + i * OW + j] / (float)((he - hs) * (we - ws));
        }
    }
    dx[dx_off + (p * H + r) * W + q] += acc;
}

/* The 1x1 case (global average pooling): dx[p, k] += dy[p] / HW, one element per work-item and
 * no loop, so PoCL vectorises across work-items. Global (HW, planes). */
__kernel void global_avgpool_bwd(FCL_TENSOR(dx), FCL_CTENSOR(dy), const int HW, const int planes)
{
    int k = get_global_id(0), p = get_global_id(1);
    if (k >= HW || p >= planes)
        return;
    dx[dx_off + p * HW + k] += dy[dy_off + p] / (float)HW;
}

/* ---- GPU shape ---------------------------------------------------------------------------------
 * One output (forward) or one input (backward) per work-item, consecutive work-items on
 * consecutive elements of a row (coalesced), no per-work-item vector blocks; global average
 * pooling as one work-group per plane with a work-group reduction (cl/reduce.cl: the file is
 * built as "reduce.cl+pool.cl"). Same semantics, window order and tie rules as the kernels
 * above. The host picks them where the "pool" tuning row sets POOL_GPU=1 (groups of POOL_WG).
 * 1-D launches over the extents named, split by split3. */

/* Extents (OW, OH, planes). */
__kernel void maxpool_fwd_px(FCL_TENSOR(y), FCL_TENSOR(idx), FCL_CTENSOR(x), POOL_WINDOW,
                             const int has_idx)
{
    int j, i, p;
    if (!split3(OW, OH, planes, &j, &i, &p))
        return;
    float val;
    int best;
    max_one(x + x_off + p * H * W, H, W, i * sh - ph, j * sw - pw, kh, kw, &val, &best);
    int o = (p * OH + i) * OW + j;
    y[y_off + o] = val;
    if (has_idx)
        idx[idx_off + o] = (float)best;
}

/* Extents (W, H, planes): dx[p, r, q] += dy of each covering output whose idx is r * W + q. */
__kernel void maxpool_bwd_px(FCL_TENSOR(dx), FCL_CTENSOR(dy), FCL_CTENSOR(idx), POOL_WINDOW)
{
    int q, r, p;
    if (!split3(W, H, planes, &q, &r, &p))
        return;
    int i0 = first_cover(r, kh, sh, ph), i1 = last_cover(r, sh, ph, OH);
    int j0 = first_cover(q, kw, sw, pw), j1 = last_cover(q, sw, pw, OW);
    int want = r * W + q;
    float acc = 0.0f;
    for (int i = i0; i <= i1; i++)
        for (int j = j0; j <= j1; j++) {
            int o = (p * OH + i) * OW + j;
            float f = idx[idx_off + o];
            if ((f >= 0.0f && f < (float)(H * W)) && (int)f == want)   /* as maxpool_bwd */
                acc += dy[dy_off + o];
        }
    dx[dx_off + (p * H + r) * W + q] += acc;
}

/* Extents (OW, OH, planes). */
__kernel void avgpool_fwd_px(FCL_TENSOR(y), FCL_CTENSOR(x), POOL_AVG_ARGS)
{
    int j, i, p;
    if (!split3(OW, OH, planes, &j, &i, &p))
        return;
    __global const float *xp = x + x_off + p * H * W;
    int hs, he, ws, we;
    float div = avg_window(i * sh - ph, j * sw - pw, H, W, kh, kw, ph, pw, include_pad,
                           divisor_override, &hs, &he, &ws, &we);
    float sum = 0.0f;
    for (int r = hs; r < he; r++)
        for (int c = ws; c < we; c++)
            sum += xp[r * W + c];
    y[y_off + (p * OH + i) * OW + j] = (hs < he && ws < we) ? sum / div : 0.0f;
}

/* Extents (W, H, planes). */
__kernel void avgpool_bwd_px(FCL_TENSOR(dx), FCL_CTENSOR(dy), POOL_AVG_ARGS)
{
    int q, r, p;
    if (!split3(W, H, planes, &q, &r, &p))
        return;
    int i0 = first_cover(r, kh, sh, ph), i1 = last_cover(r, sh, ph, OH);
    int j0 = first_cover(q, kw, sw, pw), j1 = last_cover(q, sw, pw, OW);
    float acc = 0.0f;
    for (int i = i0; i <= i1; i++)
        for (int j = j0; j <= j1; j++) {
            int hs, he, ws, we;
            float div = avg_window(i * sh - ph, j * sw - pw, H, W, kh, kw, ph, pw, include_pad,
                                   divisor_override, &hs, &he, &ws, &we);
            if (r >= hs && r < he && q >= ws && q < we)
                acc += dy[dy_off + (p * OH + i) * OW + j] / div;
        }
    dx[dx_off + (p * H + r) * W + q] += acc;
}

/* Global average pooling: y[p] = mean of plane p, one work-group per plane (work-items on
 * consecutive elements), a work-group reduction. Global: planes * L, local L. */
__kernel void global_avgpool_fwd_wg(FCL_TENSOR(y), FCL_CTENSOR(x), const int HW, __local float *s)
{
    int p = get_group_id(0), l = get_local_id(0);
    __global const float *xp = x + x_off + p * HW;
    float acc = 0.0f;
    for (int k = l; k < HW; k += get_local_size(0))
        acc += xp[k];
    acc = fcl_wg_sum(acc, s);
    if (l == 0)
        y[y_off + p] = acc / (float)HW;
}
