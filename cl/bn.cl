/* cl/bn.cl: batch normalisation kernels (training forward with statistics, inference forward,
 * backward, each optionally fused with a residual add and/or a ReLU or ReLU6; folding into a conv).
 * Semantics: include/facecl/ops_bn.h; reference: host/ref/bn.c. */

/* Layout: x [N, C, inner] (inner = H*W). Channel ch is the N rows x[b, ch, 0..inner).
 * Per-channel reductions: ONE work-group per channel; every work-item sums a fixed subset of the
 * channel's elements (FCL_VEC-wide vector accumulators along the rows), then a work-group
 * reduction combines the partial sums (cl/reduce.cl, prepended: "reduce.cl+bn.cl"; subgroups
 * where the device has them and FCL_USE_SG is not 0, else a fixed-order tree in local memory).
 * The result depends only on the shape, the work-group size and the subgroup size (fixed per
 * device), never on scheduling: deterministic, no atomics.
 * Work-group sizes must be powers of two (the host guarantees it). FCL_VEC (2, 4, 8 or 16) comes
 * from the "bn" tuning row. */

#ifndef FCL_VEC
#error "FCL_VEC comes from the \"bn\" tuning family (host/runtime/tuning_table.c)"
#endif

/* flags of the kernels below (the host passes a NULL tensor as "flag off, dummy buffer") */
#define BN_HAS_GAMMA 1
#define BN_HAS_BETA 2
#define BN_HAS_SAVE 4
#define BN_HAS_RUNNING 8
#define BN_HAS_DX 16
#define BN_HAS_DGAMMA 32
#define BN_HAS_DBETA 64
#define BN_TRAINING 128
#define BN_HAS_BIAS 256
#define BN_RELU 512      /* fused: y = relu(bn(x) [+ r]); backward masks dy with y > 0 */
#define BN_HAS_RES 1024  /* fused residual r (forward) / its gradient dr (backward) */
#define BN_RELU6 2048    /* fused: y = min(max(bn(x) [+ r], 0), 6); backward masks dy with 0 < y < 6 */
#define BN_MASK_X 4096   /* backward without a residual: the mask from z = bn(x) recomputed (below) */
#define BN_DX_SET 8192   /* backward: dx = ... (overwritten, never read) instead of dx += ... */
#define BN_DRES_SET 16384 /* backward: dres = g instead of dres += g */

/* The arguments the two forwards share (each tensor with its element offset): the output y,
 * the input x, the fused residual res, gamma, beta, and the saved mean / invstd. */
#define BN_FWD_ARGS                                                                        \
    __global float *y, const int y_off, __global const float *x, const int x_off,          \
        __global const float *res, const int r_off, __global const float *gamma,           \
        const int g_off, __global const float *beta, const int b_off,                      \
        __global float *save_mean, const int sm_off, __global float *save_invstd,          \
        const int si_off

/* The fused forward epilogue on one value or vector v of y at element k: + r[k], then ReLU or
 * ReLU6 (NaN kept, as F_RELU / F_RELU6 in act.cl). */
#define BN_EPILOGUE(T, v, LOAD)                                              \
    do {                                                                     \
        if (flags & BN_HAS_RES)                                              \
            v += LOAD;                                                       \
        if (flags & (BN_RELU | BN_RELU6))                                    \
            v = select(v, (T)(0.0f), v < (T)(0.0f));                         \
        if (flags & BN_RELU6)                                                \
            v = select(v, (T)(6.0f), v > (T)(6.0f));                         \
    } while (0)
/* The fused backward's gradient through the activation, from the saved output y: ReLU dy where
 * y > 0 (as B_RELU in act.cl); ReLU6 dy where 0 < y < 6, which is B_RELU6's 0 < x < 6 on its
 * input x since y = x there and y is 0 or 6 (or x's NaN) everywhere else; 0 elsewhere. */
#define BN_MASK(T, g, YLOAD)                                                             \
    ((flags & BN_RELU)    ? select((T)(0.0f), g, YLOAD > (T)(0.0f))                      \
     : (flags & BN_RELU6) ? select((T)(0.0f), g, (YLOAD > (T)(0.0f)) & (YLOAD < (T)(6.0f))) \
                          : g)
/* What the backward's mask reads: the saved y, or with BN_MASK_X the activation's input
 * z = (x - mean) * scale + shift recomputed from x (already loaded: XV) by the forward's own
 * expression with the saved mean / invstd (the same floats, so the same z; y = clamp(z) is on the
 * same side of 0 and 6 as z, NaN included), which saves reading y twice per element. Without an
 * activation y is not a tensor (the host passes a stand-in buffer): not read, XV is returned
 * unused. */
#define BN_MASK_IN(XV, YLOAD)                                      \
    ((flags & BN_MASK_X)                    ? (XV - mean) * scale + shift \
     : (flags & (BN_RELU | BN_RELU6)) ? YLOAD                       \
                                            : XV)

/* Short rows (maps up to BN_PF_INNER elements: ResNet's 7x7 and 4x4 stages) are a few cache lines
 * each, C * inner floats apart: every row of a channel is a new page, which the hardware
 * prefetchers do not follow, so a channel's walk waits on each row in turn. BN_PF(t, b) asks for
 * row b + 2 of tensor t (a base pointer with its offset) two rows ahead. PoCL only
 * (POCL_DEVICE_ADDRESS_BITS is PoCL's own define, as CONV_PF in conv.cl): clang's builtin, which
 * becomes a prefetch instruction; elsewhere nothing (Intel's runtime ran prefetch() slower in
 * conv.cl, oclgrind has no llvm.prefetch). A prefetch never faults, so rows past the tensor are
 * harmless; it changes no value. */
#define BN_PF_INNER 256
#if defined(POCL_DEVICE_ADDRESS_BITS)
#define BN_PF(t, b)                                                                  \
    do {                                                                             \
        if (inner <= BN_PF_INNER && (b) + 2 < n)                                     \
            for (int pf_ = 0; pf_ < inner; pf_ += 16)                                \
                __builtin_prefetch((t) + ((b) + 2) * C * inner + ch * inner + pf_, 0, 3); \
    } while (0)
#else
#define BN_PF(t, b) ((void)0)
#endif

/* This work-item's share of sum over channel ch of (x - shift). Rows of at least
 * FCL_VEC * L elements are split into FCL_VEC-wide chunks handed out round-robin (chunk q to
 * work-item q mod L) plus a scalar tail; short rows (7x7 maps, [N, C] tensors) are walked as one
 * flat sequence of N * inner elements, element m to work-item m mod L. */
inline float chan_partial(__global const float *x, int n, int C, int inner, int ch, float shift,
                          int squares)
{
    int l = get_local_id(0), L = get_local_size(0);
    float acc_s = 0.0f;
    if (inner >= FCL_VEC * L) {
        VF acc = (VF)(0.0f);
        int body = inner - inner % FCL_VEC;
        for (int b = 0; b < n; b++) {
            __global const float *row = x + (b * C + ch) * inner;
            BN_PF(x, b);
            for (int i = l * FCL_VEC; i < body; i += L * FCL_VEC) {
                VF d = VLOAD(0, row + i) - shift;
                acc += squares ? d * d : d;
            }
            for (int i = body + l; i < inner; i += L) {
                float d = row[i] - shift;
                acc_s += squares ? d * d : d;
            }
        }
        acc_s += HSUM(acc);
    } else {
        int b = 0, i = l; /* element m = b * inner + i, stepping by L */
        while (i >= inner && b < n) {
            i -= inner;
            b++;
        }
        while (b < n) {
            float d = x[(b * C + ch) * inner + i] - shift;
            acc_s += squares ? d * d : d;
            i += L;
            while (i >= inner && b < n) {
                i -= inner;
                b++;
            }
        }
    }
    return acc_s;
}

/* Training forward. One work-group per channel (global = C * L, local = L).
 * mean = sum(x) / M; var = sum((x - mean)^2) / M (two passes: no cancellation; on CPUs the
 * channel is still in cache for the second pass); y = (x - mean) * (invstd * gamma) + beta. */
__kernel void bn_fwd_train(BN_FWD_ARGS, __global float *run_mean, const int rm_off,
                           __global float *run_var, const int rv_off, const int n, const int C,
                           const int inner, const float eps, const float momentum,
                           const int flags, __local float *scratch)
{
    int ch = get_group_id(0);
    if (ch >= C)
        return;
    int l = get_local_id(0), L = get_local_size(0);
    float m_count = (float)n * (float)inner;
    __global const float *xs = x + x_off;

    float mean = fcl_wg_sum(chan_partial(xs, n, C, inner, ch, 0.0f, 0), scratch) / m_count;
    float sq = fcl_wg_sum(chan_partial(xs, n, C, inner, ch, mean, 1), scratch);
    float var = sq / m_count;
    float invstd = 1.0f / sqrt(var + eps);

    if (l == 0) {
        if (flags & BN_HAS_SAVE) {
            save_mean[sm_off + ch] = mean;
            save_invstd[si_off + ch] = invstd;
        }
        if (flags & BN_HAS_RUNNING) {
            float unbiased = sq / (m_count - 1.0f);
            run_mean[rm_off + ch] = (1.0f - momentum) * run_mean[rm_off + ch] + momentum * mean;
            run_var[rv_off + ch] = (1.0f - momentum) * run_var[rv_off + ch] + momentum * unbiased;
        }
    }

    float scale = invstd * ((flags & BN_HAS_GAMMA) ? gamma[g_off + ch] : 1.0f);
    float shift = (flags & BN_HAS_BETA) ? beta[b_off + ch] : 0.0f;
    /* y may be x. The reductions read every element of the channel (not always with the same
     * work-item as the write loop below) and end in barriers with only a local-memory fence,
     * which do not order global memory: without this global fence a work-item could overwrite
     * an element another is still reading (oclgrind --data-races reported it). */
    barrier(CLK_GLOBAL_MEM_FENCE);
    int body = inner - inner % FCL_VEC;
    for (int b = 0; b < n; b++) {
        int base = (b * C + ch) * inner;
        if (flags & BN_HAS_RES)
            BN_PF(res + r_off, b);
        BN_PF(y + y_off, b);
        for (int i = l * FCL_VEC; i < body; i += L * FCL_VEC) {
            VF v = (VLOAD(0, xs + base + i) - mean) * scale + shift;
            BN_EPILOGUE(VF, v, VLOAD(0, res + r_off + base + i));
            VSTORE(v, 0, y + y_off + base + i);
        }
        for (int i = body + l; i < inner; i += L) {
            float v = (xs[base + i] - mean) * scale + shift;
            BN_EPILOGUE(float, v, res[r_off + base + i]);
            y[y_off + base + i] = v;
        }
    }
}

/* Inference forward with the running statistics: y = (x - rm) * (gamma / sqrt(rv + eps)) + beta.
 * Global: (ceil(inner / FCL_VEC), N * C) (measured faster on PoCL than a 1-D launch that splits
 * the index). The work-items of row 0 also write save_mean / save_invstd (for a backward
 * through a frozen BN). */
__kernel void bn_fwd_infer(BN_FWD_ARGS, __global const float *run_mean, const int rm_off,
                           __global const float *run_var, const int rv_off, const int n,
                           const int C, const int inner, const float eps, const int flags)
{
    int j0 = get_global_id(0) * FCL_VEC, row = get_global_id(1);
    if (row >= n * C || j0 >= inner)
        return;
    int ch = row % C;
    float mean = run_mean[rm_off + ch];
    float invstd = 1.0f / sqrt(run_var[rv_off + ch] + eps);
    if (row == ch && j0 == 0 && (flags & BN_HAS_SAVE)) {
        save_mean[sm_off + ch] = mean;
        save_invstd[si_off + ch] = invstd;
    }
    float scale = invstd * ((flags & BN_HAS_GAMMA) ? gamma[g_off + ch] : 1.0f);
    float shift = (flags & BN_HAS_BETA) ? beta[b_off + ch] : 0.0f;
    int base = row * inner;
    if (j0 + FCL_VEC <= inner) {
        VF v = (VLOAD(0, x + x_off + base + j0) - mean) * scale + shift;
        BN_EPILOGUE(VF, v, VLOAD(0, res + r_off + base + j0));
        VSTORE(v, 0, y + y_off + base + j0);
    } else {
        for (int j = j0; j < inner; j++) {
            float v = (x[x_off + base + j] - mean) * scale + shift;
            BN_EPILOGUE(float, v, res[r_off + base + j]);
            y[y_off + base + j] = v;
        }
    }
}

/* This work-item's share of (sum g, sum g * (x - mean)) over channel ch, g = dy (masked through
 * the fused ReLU / ReLU6 by the saved output y or z: BN_MASK, BN_MASK_IN); same element assignment
 * as chan_partial. */
inline float2 chan_partial_bwd(__global const float *dy, __global const float *x,
                               __global const float *y, int n, int C, int inner, int ch,
                               float mean, float scale, float shift, int flags)
{
    int l = get_local_id(0), L = get_local_size(0);
    float s_dy = 0.0f, s_dyx = 0.0f;
    if (inner >= FCL_VEC * L) {
        VF a_dy = (VF)(0.0f), a_dyx = (VF)(0.0f);
        int body = inner - inner % FCL_VEC;
        for (int b = 0; b < n; b++) {
            int base = (b * C + ch) * inner;
            BN_PF(dy, b);
            BN_PF(x, b);
            if ((flags & (BN_RELU | BN_RELU6)) && !(flags & BN_MASK_X))
                BN_PF(y, b);
            for (int i = l * FCL_VEC; i < body; i += L * FCL_VEC) {
                VF xv = VLOAD(0, x + base + i);
                VF yv = BN_MASK_IN(xv, VLOAD(0, y + base + i));
                VF g = BN_MASK(VF, VLOAD(0, dy + base + i), yv);
                a_dy += g;
                a_dyx += g * (xv - mean);
            }
            for (int i = body + l; i < inner; i += L) {
                float xv = x[base + i];
                float yv = BN_MASK_IN(xv, y[base + i]);
                float g = BN_MASK(float, dy[base + i], yv);
                s_dy += g;
                s_dyx += g * (xv - mean);
            }
        }
        s_dy += HSUM(a_dy);
        s_dyx += HSUM(a_dyx);
    } else {
        int b = 0, i = l;
        while (i >= inner && b < n) {
            i -= inner;
            b++;
        }
        while (b < n) {
            int k = (b * C + ch) * inner + i;
            float xv = x[k];
            float yv = BN_MASK_IN(xv, y[k]);
            float g = BN_MASK(float, dy[k], yv);
            s_dy += g;
            s_dyx += g * (xv - mean);
            i += L;
            while (i >= inner && b < n) {
                i -= inner;
                b++;
            }
        }
    }
    return (float2)(s_dy, s_dyx);
}

/* Backward, accumulating (BN_DX_SET / BN_DRES_SET: that output overwritten instead, for a caller
 * whose gradient buffer holds nothing yet: saves zeroing it and reading it back here). One
 * work-group per channel (global = C * L, local = L).
 * With g = dy (fused ReLU / ReLU6: BN_MASK of dy by the saved output y, or BN_MASK_X: by z):
 *   dbeta += sum(g); dgamma += sum(g * xhat), xhat = (x - mean) * invstd
 *   training:  dx += gamma * invstd * (g - sum(g) / M - xhat * sum(g * xhat) / M)
 *   inference: dx += gamma * invstd * g
 *   fused residual: dres += g
 * BN_DX_SET stores k * d where the accumulation adds it (old + k * d, maybe one FMA): from a zeroed
 * dx both give the same float (fma(k, d, 0) rounds k * d once), so a caller may pick either. */
__kernel void bn_bwd(__global float *dx, const int dx_off, __global float *dgamma,
                     const int dg_off, __global float *dbeta, const int db_off,
                     __global float *dres, const int dr_off, __global const float *dy,
                     const int dy_off, __global const float *x, const int x_off,
                     __global const float *y, const int y_off,
                     __global const float *gamma, const int g_off,
                     __global const float *beta, const int b_off,
                     __global const float *save_mean, const int sm_off,
                     __global const float *save_invstd, const int si_off, const int n,
                     const int C, const int inner, const int flags, __local float *scratch)
{
    int ch = get_group_id(0);
    if (ch >= C)
        return;
    int l = get_local_id(0), L = get_local_size(0);
    float m_count = (float)n * (float)inner;
    float mean = save_mean[sm_off + ch], invstd = save_invstd[si_off + ch];
    __global const float *dys = dy + dy_off;
    __global const float *xs = x + x_off;
    __global const float *ys = y + y_off;

    int training = (flags & BN_TRAINING) != 0;
    /* the forward's scale and shift (BN_MASK_X recomputes z with them) */
    float scale = invstd * ((flags & BN_HAS_GAMMA) ? gamma[g_off + ch] : 1.0f);
    float shift = (flags & BN_HAS_BETA) ? beta[b_off + ch] : 0.0f;
    float sum_dy = 0.0f, sum_dyxhat = 0.0f;
    if ((training && (flags & BN_HAS_DX)) || (flags & (BN_HAS_DGAMMA | BN_HAS_DBETA))) {
        float2 part = chan_partial_bwd(dys, xs, ys, n, C, inner, ch, mean, scale, shift, flags);
        sum_dy = fcl_wg_sum(part.s0, scratch);
        sum_dyxhat = fcl_wg_sum(part.s1, scratch) * invstd;
    }
    if (l == 0) {
        if (flags & BN_HAS_DGAMMA)
            dgamma[dg_off + ch] += sum_dyxhat;
        if (flags & BN_HAS_DBETA)
            dbeta[db_off + ch] += sum_dy;
    }
    if (!(flags & (BN_HAS_DX | BN_HAS_RES)))
        return;

    /* dx += k * g - k * mdy - k * c * (x - mean), k = scale, with mdy = sum(g)/M,
     * c = invstd * sum(g*xhat)/M */
    float mdy = training ? sum_dy / m_count : 0.0f;
    float c = training ? invstd * sum_dyxhat / m_count : 0.0f;
    int body = inner - inner % FCL_VEC;
    for (int b = 0; b < n; b++) {
        int base = (b * C + ch) * inner;
        if (flags & BN_HAS_RES)
            BN_PF(dres + dr_off, b);
        if (flags & BN_HAS_DX)
            BN_PF(dx + dx_off, b);
        for (int i = l * FCL_VEC; i < body; i += L * FCL_VEC) {
            VF xv = VLOAD(0, xs + base + i);
            VF yv = BN_MASK_IN(xv, VLOAD(0, ys + base + i));
            VF g = BN_MASK(VF, VLOAD(0, dys + base + i), yv);
            if (flags & BN_DRES_SET)
                VSTORE(g, 0, dres + dr_off + base + i);
            else if (flags & BN_HAS_RES)
                VSTORE(VLOAD(0, dres + dr_off + base + i) + g, 0, dres + dr_off + base + i);
            if (flags & BN_HAS_DX) {
                VF d = g - mdy - c * (xv - mean);
                if (flags & BN_DX_SET)
                    VSTORE(scale * d, 0, dx + dx_off + base + i);
                else
                    VSTORE(VLOAD(0, dx + dx_off + base + i) + scale * d, 0, dx + dx_off + base + i);
            }
        }
        for (int i = body + l; i < inner; i += L) {
            float xv = xs[base + i];
            float yv = BN_MASK_IN(xv, ys[base + i]);
            float g = BN_MASK(float, dys[base + i], yv);
            if (flags & BN_DRES_SET)
                dres[dr_off + base + i] = g;
            else if (flags & BN_HAS_RES)
                dres[dr_off + base + i] += g;
            if (flags & BN_HAS_DX) {
                float d = g - mdy - c * (xv - mean);
                if (flags & BN_DX_SET)
                    dx[dx_off + base + i] = scale * d;
                else
                    dx[dx_off + base + i] += scale * d;
            }
        }
    }
}

/* Folds an inference BN into the preceding layer: w [cout, per_out], b [cout].
 * s = gamma / sqrt(rv + eps); w_out = w * s; b_out = (b - rm) * s + beta.
 * Global: cout * per_out (one weight each; the first of each row also does the bias).
 * In place is safe: every element is read and written by one work-item. */
__kernel void bn_fold(__global float *w_out, const int wo_off, __global float *b_out,
                      const int bo_off, __global const float *w, const int w_off,
                      __global const float *b, const int b_off, __global const float *gamma,
                      const int g_off, __global const float *beta, const int be_off,
                      __global const float *run_mean, const int rm_off,
                      __global const float *run_var, const int rv_off, const int cout,
                      const int per_out, const float eps, const int flags)
{
    int i = get_global_id(0);
    if (i >= cout * per_out)
        return;
    int co = i / per_out;
    float s = ((flags & BN_HAS_GAMMA) ? gamma[g_off + co] : 1.0f) / sqrt(run_var[rv_off + co] + eps);
    w_out[wo_off + i] = w[w_off + i] * s;
    if (i == co * per_out) {
        float bias = (flags & BN_HAS_BIAS) ? b[b_off + co] : 0.0f;
        b_out[bo_off + co] = (bias - run_mean[rm_off + co]) * s +
                             ((flags & BN_HAS_BETA) ? beta[be_off + co] : 0.0f);
    }
}
