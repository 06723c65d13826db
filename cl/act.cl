/* cl/act.cl: activation kernels (ReLU family, sigmoid, tanh, SiLU, hard-swish/-sigmoid, GELU) and PReLU.
 * Semantics: include/facecl/ops_act.h; reference: host/ref/act.c. */

/* Streaming kernels handle FCL_VEC consecutive elements per work-item with vloadN/vstoreN
 * (element-aligned, so any offset works): PoCL does not vectorise across work-items once a
 * kernel has a loop, so the SIMD is explicit and the body is straight-line code. The last,
 * partial chunk falls back to scalars. FCL_VEC (2, 4, 8, 16) comes from the "act" tuning row.
 * Every formula is written once as a macro over a type T (float or floatN) using select(), which
 * works for both (scalar: c ? b : a; vector: per lane on the sign bit of the comparison mask).
 * Comparisons are arranged so that NaN propagates as in PyTorch. */

#ifndef FCL_VEC
#error "FCL_VEC comes from the \"act\" tuning family (host/runtime/tuning_table.c)"
#endif

#define Z(T) ((T)(0.0f))
#define K(T, c) ((T)(c))
/* clamp that keeps NaN (OpenCL's clamp would turn it into lo) */
#define CLAMPN(T, v, lo, hi) select(select((v), K(T, lo), (v) < K(T, lo)), K(T, hi), (v) > K(T, hi))

/* forward: y from x (v); `slope` is the LeakyReLU slope */
#define F_RELU(T, v) select((v), Z(T), (v) < Z(T))
#define F_RELU6(T, v) CLAMPN(T, v, 0.0f, 6.0f)
#define F_LEAKY_RELU(T, v) select((v) * slope, (v), (v) > Z(T))
#define F_SIGMOID(T, v) (K(T, 1.0f) / (K(T, 1.0f) + exp(-(v))))
#define F_TANH(T, v) tanh(v)
#define F_SILU(T, v) ((v) / (K(T, 1.0f) + exp(-(v))))
#define F_HARDSWISH(T, v) ((v) * CLAMPN(T, (v) + K(T, 3.0f), 0.0f, 6.0f) / K(T, 6.0f))
#define F_HARDSIGMOID(T, v) (CLAMPN(T, (v) + K(T, 3.0f), 0.0f, 6.0f) / K(T, 6.0f))
/* erf for GELU, vectorised (fcl_erf_float, fcl_erf_VF). PoCL ran the builtin erf on float vectors
 * lane by lane: on Zen 5 over 9.6M floats (float16) 8.2 ms, exp 1.5 ms, a copy 1.4 ms, and the
 * GELU forward of ConvNeXt-tiny's first MLP (32 x 384 x 28^2) at 4.4 GB/s. Here:
 *   |x| <  T: x (s0 + z S(z)), z = x^2;   |x| >= T: 1 - exp(-z) L(1 / |x|)  (T = 0.921875)
 * S, L least-squares fits in relative error (tools/fit_erf.py, which also checks the float
 * evaluation: at most 1.84 ulp from double erf on [-6, 6] with a correctly rounded exp; OpenCL's
 * erf may be 16 ulp off; measured on PoCL and Intel's CPU runtime: 1.91 ulp over 4M points). Both
 * branches are computed and one selected per lane; inf gives 1 and NaN stays NaN (the large branch). */
#define ERF_T 0.921875f
#define FCL_ERF(T)                                                                                          \
    inline T fcl_erf_##T(T x)                                                                               \
    {                                                                                                       \
        const T a = fabs(x), z = a * a, u = K(T, 1.0f) / fmax(a, K(T, ERF_T));                             \
        T q = K(T, 8.41099099e-05f);                                                                        \
        q = fma(q, z, K(T, -0.000815377396f));                                                              \
        q = fma(q, z, K(T, 0.00520217558f));                                                                \
        q = fma(q, z, K(T, -0.0268599577f));                                                                \
        q = fma(q, z, K(T, 0.112837084f));                                                                  \
        q = fma(q, z, K(T, -0.376126349f)) * z;                                                             \
        const T small = fma(a, K(T, 1.12837923f), a * q);                                                   \
        T l = K(T, 0.0212006848f);                                                                          \
        l = fma(l, u, K(T, -0.128191918f));                                                                 \
        l = fma(l, u, K(T, 0.317358762f));                                                                  \
        l = fma(l, u, K(T, -0.37591663f));                                                                  \
        l = fma(l, u, K(T, 0.10429249f));                                                                   \
        l = fma(l, u, K(T, 0.302608401f));                                                                  \
        l = fma(l, u, K(T, -0.401019573f));                                                                 \
        l = fma(l, u, K(T, 0.0259972531f));                                                                 \
        l = fma(l, u, K(T, 0.561097562f));                                                                  \
        l = fma(l, u, K(T, 0.000156539696f));                                                               \
        const T large = K(T, 1.0f) - exp(-z) * l; /* L > 0 on [0, 1 / T]: never above 1 */                \
        return copysign(select(large, small, a < K(T, ERF_T)), x);                                          \
    }
FCL_ERF(float)
FCL_ERF(VF)

/* GELU: exact x Phi(x) with erf (fcl_erf_##T: T pasted unexpanded, float or VF); the tanh form with u = sqrt(2/pi) (x + 0.044715 x^3) */
#define GELU_K0 0.7978845608028654f
#define GELU_K1 0.044715f
#define GELU_U(T, v) (K(T, GELU_K0) * ((v) + K(T, GELU_K1) * (v) * (v) * (v)))
#define F_GELU(T, v) (K(T, 0.5f) * (v) * (K(T, 1.0f) + fcl_erf_##T((v) * K(T, 0.7071067811865476f))))
#define F_GELU_TANH(T, v) (K(T, 0.5f) * (v) * (K(T, 1.0f) + tanh(GELU_U(T, v))))

/* backward: the dx increment from dy (g) and the saved tensor (s: y or x, see ops_act.h) */
#define B_RELU(T, g, s) select(Z(T), (g), (s) > Z(T))
#define B_RELU6(T, g, s) select(Z(T), (g), ((s) > Z(T)) & ((s) < K(T, 6.0f)))
#define B_LEAKY_RELU(T, g, s) select((g) * slope, (g), (s) > Z(T))
#define B_SIGMOID(T, g, s) ((g) * (K(T, 1.0f) - (s)) * (s))
#define B_TANH(T, g, s) ((g) * (K(T, 1.0f) - (s) * (s)))
#define B_SILU(T, g, s) silu_grad_##T((g), (s))
#define B_HARDSWISH(T, g, s)                                                                \
    select(select((g), (g) * ((s) / K(T, 3.0f) + K(T, 0.5f)), (s) <= K(T, 3.0f)), Z(T), \
           (s) < K(T, -3.0f))
#define B_HARDSIGMOID(T, g, s) \
    select(Z(T), (g) / K(T, 6.0f), ((s) > K(T, -3.0f)) & ((s) < K(T, 3.0f)))
/* Phi(x) + x phi(x), phi(x) = exp(-x^2/2) / sqrt(2 pi) (PyTorch's GeluBackward, 'none') */
#define B_GELU(T, g, s)                                                                   \
    ((g) * (K(T, 0.5f) * (K(T, 1.0f) + fcl_erf_##T((s) * K(T, 0.7071067811865476f))) + \
            (s) * exp(K(T, -0.5f) * (s) * (s)) * K(T, 0.3989422804014327f)))
/* 1/2 (1 + t) + x/2 (1 - t^2) sqrt(2/pi) (1 + 3 * 0.044715 x^2), t = tanh(u) ('tanh') */
#define B_GELU_TANH(T, g, s) gelu_tanh_grad_##T((g), (s))

/* PyTorch's silu_backward: dy * sig(x) * (1 + x * (1 - sig(x))) */
inline float silu_grad_float(float g, float s)
{
    float sg = 1.0f / (1.0f + exp(-s));
    return g * sg * (1.0f + s * (1.0f - sg));
}
inline VF silu_grad_VF(VF g, VF s)
{
    VF sg = (VF)(1.0f) / ((VF)(1.0f) + exp(-s));
    return g * sg * ((VF)(1.0f) + s * ((VF)(1.0f) - sg));
}

#define GELU_TANH_GRAD(T)                                                                      \
    inline T gelu_tanh_grad_##T(T g, T s)                                                      \
    {                                                                                          \
        T t = tanh(GELU_U(T, s));                                                              \
        return g * (K(T, 0.5f) * (K(T, 1.0f) + t) +                                            \
                    K(T, 0.5f) * s * (K(T, 1.0f) - t * t) * K(T, GELU_K0) *                    \
                        (K(T, 1.0f) + K(T, 3.0f * GELU_K1) * s * s));                          \
    }
GELU_TANH_GRAD(float)
GELU_TANH_GRAD(VF)

/* <name>_fwd: y = f(x) over n elements; y may be x. Global: ceil(n / FCL_VEC).
 * <name>_add_fwd: y = f(x + r) (a residual add and the activation in one pass: inference of
 * conv -> BN folded -> add -> ReLU); y may be x or r. Global: ceil(n / FCL_VEC).
 * <name>_bwd: dx += f'(dy, saved) over n elements. Global: ceil(n / FCL_VEC). */
#define ACT_KERNELS(name, FWD, BWD)                                                             \
    __kernel void name##_fwd(__global float *y, const int y_off, __global const float *x,      \
                             const int x_off, const int n, const float slope)                   \
    {                                                                                           \
        int i0 = get_global_id(0) * FCL_VEC;                                                    \
        if (i0 + FCL_VEC <= n) {                                                                \
            VF v = VLOAD(0, x + x_off + i0);                                                    \
            VSTORE(FWD(VF, v), 0, y + y_off + i0);                                              \
        } else {                                                                                \
            for (int i = i0; i < n; i++) {                                                      \
                float v = x[x_off + i];                                                         \
                y[y_off + i] = FWD(float, v);                                                   \
            }                                                                                   \
        }                                                                                       \
    }                                                                                           \
    __kernel void name##_add_fwd(__global float *y, const int y_off, __global const float *x,  \
                                 const int x_off, __global const float *r, const int r_off,     \
                                 const int n, const float slope)                                \
    {                                                                                           \
        int i0 = get_global_id(0) * FCL_VEC;                                                    \
        if (i0 + FCL_VEC <= n) {                                                                \
            VF v = VLOAD(0, x + x_off + i0) + VLOAD(0, r + r_off + i0);                         \
            VSTORE(FWD(VF, v), 0, y + y_off + i0);                                              \
        } else {                                                                                \
            for (int i = i0; i < n; i++) {                                                      \
                float v = x[x_off + i] + r[r_off + i];                                          \
                y[y_off + i] = FWD(float, v);                                                   \
            }                                                                                   \
        }                                                                                       \
    }                                                                                           \
    __kernel void name##_bwd(__global float *dx, const int dx_off, __global const float *dy,   \
                             const int dy_off, __global const float *sv, const int s_off,       \
                             const int n, const float slope)                                    \
    {                                                                                           \
        int i0 = get_global_id(0) * FCL_VEC;                                                    \
        if (i0 + FCL_VEC <= n) {                                                                \
            VF g = VLOAD(0, dy + dy_off + i0), s = VLOAD(0, sv + s_off + i0);                   \
            VSTORE(VLOAD(0, dx + dx_off + i0) + BWD(VF, g, s), 0, dx + dx_off + i0);            \
        } else {                                                                                \
            for (int i = i0; i < n; i++) {                                                      \
                float g = dy[dy_off + i], s = sv[s_off + i];                                    \
                dx[dx_off + i] += BWD(float, g, s);                                             \
            }                                                                                   \
        }                                                                                       \
    }

ACT_KERNELS(relu, F_RELU, B_RELU)
ACT_KERNELS(relu6, F_RELU6, B_RELU6)
ACT_KERNELS(leaky_relu, F_LEAKY_RELU, B_LEAKY_RELU)
ACT_KERNELS(sigmoid, F_SIGMOID, B_SIGMOID)
ACT_KERNELS(tanh, F_TANH, B_TANH)
ACT_KERNELS(silu, F_SILU, B_SILU)
ACT_KERNELS(hardswish, F_HARDSWISH, B_HARDSWISH)
ACT_KERNELS(hardsigmoid, F_HARDSIGMOID, B_HARDSIGMOID)
ACT_KERNELS(gelu, F_GELU, B_GELU)
ACT_KERNELS(gelu_tanh, F_GELU_TANH, B_GELU_TANH)

/* ---- PReLU -------------------------------------------------------------------------------------
 * x [N, C, inner]; slopes a [na], na == C (per channel) or 1 (shared). Rows p = b * C + c. */

/* The set-up of the row-wise PReLU kernels: chunk j0 of row `row` (b * C + c), its slope s and
 * the row's first element base; work-items past the end return. */
#define PRELU_ROW_SETUP(j0, row, s, base)                            \
    int j0 = get_global_id(0) * FCL_VEC, row = get_global_id(1);     \
    if (row >= nc || j0 >= inner)                                    \
        return;                                                      \
    float s = a[a_off + (na == 1 ? 0 : row % C)];                    \
    int base = row * inner

/* y = x > 0 ? x : a[c] * x. Global: (ceil(inner / FCL_VEC), N * C). */
__kernel void prelu_fwd(__global float *y, const int y_off, __global const float *x,
                        const int x_off, __global const float *a, const int a_off, const int nc,
                        const int C, const int inner, const int na)
{
    PRELU_ROW_SETUP(j0, row, s, base);
    if (j0 + FCL_VEC <= inner) {
        VF v = VLOAD(0, x + x_off + base + j0);
        VSTORE(select(v * s, v, v > (VF)(0.0f)), 0, y + y_off + base + j0);
    } else {
        for (int j = j0; j < inner; j++) {
            float v = x[x_off + base + j];
            y[y_off + base + j] = v > 0.0f ? v : v * s;
        }
    }
}

/* dx += x > 0 ? dy : a[c] * dy. Global: (ceil(inner / FCL_VEC), N * C). */
__kernel void prelu_bwd_data(__global float *dx, const int dx_off, __global const float *dy,
                             const int dy_off, __global const float *x, const int x_off,
                             __global const float *a, const int a_off, const int nc, const int C,
                             const int inner, const int na)
{
    PRELU_ROW_SETUP(j0, row, s, base);
    if (j0 + FCL_VEC <= inner) {
        VF g = VLOAD(0, dy + dy_off + base + j0), v = VLOAD(0, x + x_off + base + j0);
        VSTORE(VLOAD(0, dx + dx_off + base + j0) + select(g * s, g, v > (VF)(0.0f)), 0,
               dx + dx_off + base + j0);
    } else {
        for (int j = j0; j < inner; j++) {
            float g = dy[dy_off + base + j];
            dx[dx_off + base + j] += x[x_off + base + j] > 0.0f ? g : g * s;
        }
    }
}

/* da[j] += sum over the rows of slope j of (x <= 0 ? x * dy : 0). One work-group per slope
 * (global = na * L, local = L, L a power of two); every work-item sums a fixed subset (vector
 * chunks of long rows, or a flat element sequence for short rows), then a fixed local tree:
 * deterministic. Rows of slope j: channel j of every sample (na == C) or all rows (na == 1). */
__kernel void prelu_bwd_weight(__global float *da, const int da_off, __global const float *dy,
                               const int dy_off, __global const float *x, const int x_off,
                               const int n, const int C, const int inner, const int na,
                               __local float *scratch)
{
    int j = get_group_id(0);
    if (j >= na)
        return;
    int l = get_local_id(0), L = get_local_size(0);
    int c0 = na == 1 ? 0 : j, cc = na == 1 ? C : 1; /* channels c0 .. c0 + cc - 1 */
    int rows = n * cc;
    float acc_s = 0.0f;
    if (inner >= FCL_VEC * L) {
        VF acc = (VF)(0.0f);
        int body = inner - inner % FCL_VEC;
        for (int r = 0; r < rows; r++) {
            int base = ((r / cc) * C + c0 + r % cc) * inner;
            for (int i = l * FCL_VEC; i < body; i += L * FCL_VEC) {
                VF v = VLOAD(0, x + x_off + base + i);
                acc += select(v * VLOAD(0, dy + dy_off + base + i), (VF)(0.0f), v > (VF)(0.0f));
            }
            for (int i = body + l; i < inner; i += L) {
                float v = x[x_off + base + i];
                acc_s += v > 0.0f ? 0.0f : v * dy[dy_off + base + i];
            }
        }
        acc_s += HSUM(acc);
    } else {
        int total = rows * inner;
        for (int m = l; m < total; m += L) {
            int r = m / inner, i = m - r * inner;
            int k = ((r / cc) * C + c0 + r % cc) * inner + i;
            float v = x[x_off + k];
            acc_s += v > 0.0f ? 0.0f : v * dy[dy_off + k];
        }
    }
    scratch[l] = acc_s;
    fcl_tree_sum(scratch, l, L);
    if (l == 0)
        da[da_off + j] += scratch[0];
}
