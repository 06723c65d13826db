/* cl/conv_wino_weights.cl: the Winograd weight transform U = G g G^T of F(2x2, 3x3) and F(4x4, 3x3), written in conv_gemm_nn's panels (the tiles' transforms: conv_wino.cl). */

/* G, B^T and A^T and how host/ops/conv_wino.c chains the transforms and the GEMMs: cl/conv_wino.cl's header.
 * Built with conv_wino.cl into one program (needs CONV_MB and CONV_PF of FCL_TF_CONV). */

/* G applied to 3 values (a column or a row of a filter), 4 lanes (panel rows) at a time: G of
 * F(2x2, 3x3) (4 x 3) and of F(4x4, 3x3) (6 x 3) with their constants folded in */
#define WINO_G2(g0, g1, g2, u)              \
    do {                                    \
        u[0] = g0;                          \
        u[1] = 0.5f * ((g0 + g1) + g2);     \
        u[2] = 0.5f * ((g0 - g1) + g2);     \
        u[3] = g2;                          \
    } while (0)
#define WINO_G4(g0, g1, g2, u) WINO_G4T(float4, g0, g1, g2, u)
#define WINO_G4T(T, g0, g1, g2, u)                               \
    do {                                                         \
        const T s_ = g0 + g2, p_ = g0 * (1.0f / 24.0f) + g2 * (1.0f / 6.0f), q_ = g1 * (1.0f / 12.0f); \
        u[0] = g0 * 0.25f;                                       \
        u[1] = (s_ + g1) * (-1.0f / 6.0f);                       \
        u[2] = (s_ - g1) * (-1.0f / 6.0f);                       \
        u[3] = p_ + q_;                                          \
        u[4] = p_ - q_;                                          \
        u[5] = g2;                                               \
    } while (0)

/* U = G g G^T (a x a, row-major into u[a * a]) for the 3x3 filters g[9] of 4 panel rows */
inline void wino_u2(const float4 *g, float4 *u)
{
    float4 c[4][3]; /* G g: c[r][col] */
    for (int j = 0; j < 3; j++) {
        float4 t[4];
        WINO_G2(g[j], g[3 + j], g[6 + j], t);
        for (int r = 0; r < 4; r++) c[r][j] = t[r];
    }
    for (int r = 0; r < 4; r++) WINO_G2(c[r][0], c[r][1], c[r][2], (u + 4 * r));
}
inline void wino_u4(const float4 *g, float4 *u)
{
    float4 c[6][3];
    for (int j = 0; j < 3; j++) {
        float4 t[6];
        WINO_G4(g[j], g[3 + j], g[6 + j], t);
        for (int r = 0; r < 6; r++) c[r][j] = t[r];
    }
    for (int r = 0; r < 6; r++) WINO_G4(c[r][0], c[r][1], c[r][2], (u + 6 * r));
}

/* wino_u2 / wino_u4 for 8 panel rows (float8 lanes): the same operations lane by lane */
inline void wino_u2_8(const float8 *g, float8 *u)
{
    float8 c[4][3];
    for (int j = 0; j < 3; j++) {
        float8 t[4];
        WINO_G2(g[j], g[3 + j], g[6 + j], t);
        for (int r = 0; r < 4; r++) c[r][j] = t[r];
    }
    for (int r = 0; r < 4; r++) WINO_G2(c[r][0], c[r][1], c[r][2], (u + 4 * r));
}
inline void wino_u4_8(const float8 *g, float8 *u)
{
    float8 c[6][3];
    for (int j = 0; j < 3; j++) {
        float8 t[6];
        WINO_G4T(float8, g[j], g[3 + j], g[6 + j], t);
        for (int r = 0; r < 6; r++) c[r][j] = t[r];
    }
    for (int r = 0; r < 6; r++) WINO_G4T(float8, c[r][0], c[r][1], c[r][2], (u + 6 * r));
}

/* The filter values the panel of rows mb * CONV_MB .. + CONV_MB - 1 reads at k, asked for
 * WINO_PF k steps ahead (PoCL only, as conv.cl's conv_prefetch; prefetches never fault). The data
 * gradient's panel reads 288 bytes a k step, k steps cin * 36 bytes apart (18 KiB at 512 channels:
 * a new page each, out of the hardware prefetchers' reach): perf annotate had 75% of that
 * transform waiting on those loads on ResNet-18's 512x4^2 layer. */
#if CONV_PF > 0 && defined(POCL_DEVICE_ADDRESS_BITS)
#define WINO_PF 4
inline void wino_w_prefetch(__global const float *w, const int cin, const int flip, const int mb, const int k)
{
    if (flip) { /* w[k][mb * CONV_MB + i][0..9): CONV_MB * 9 floats in a row */
        __global const float *p = w + ((size_t)k * cin + mb * CONV_MB) * 9;
        for (int l = 0; l < CONV_MB * 9 + 15; l += 16) __builtin_prefetch(p + l, 0, 3);
    } else { /* w[mb * CONV_MB + i][k][0..9): one row of 9 floats per i */
        for (int i = 0; i < CONV_MB; i++) __builtin_prefetch(w + ((size_t)(mb * CONV_MB + i) * cin + k) * 9, 0, 3);
    }
}
#else
#define WINO_PF 0
#define wino_w_prefetch(w, cin, flip, mb, k) ((void)0)
#endif
/* A whole panel of CONV_MB (8 or 6) rows at k (rows mb * CONV_MB .. + CONV_MB - 1 all < M): the
 * 9 filter taps of each row as float8 lanes (no masks; lanes past CONV_MB 0: WINO_L skips their
 * loads at compile time), transformed by XFORM8 and stored as CONV_MB-float rows. */
#define WINO_L(l, e) (CONV_MB > (l) ? (e) : 0.0f)
#define WINO_PANEL8(A, XFORM8, PLANE)                                                                         \
    do {                                                                                                      \
        float8 g8[9], t8[A * A];                                                                              \
        if (flip) { /* row i = ci: w[k][mb * CONV_MB + i] rotated, CONV_MB * 9 floats in a row */            \
            __global const float *p = w + w_off + ((size_t)k * cin + mb * CONV_MB) * 9 + 8;                   \
            for (int j = 0; j < 9; j++)                                                                       \
                g8[j] = (float8)(p[-j], p[9 - j], p[18 - j], p[27 - j], p[36 - j], p[45 - j],                 \
                                 WINO_L(6, p[54 - j]), WINO_L(7, p[63 - j]));                                 \
        } else { /* row i = co: w[mb * CONV_MB + i][k], rows cin * 9 floats apart */                          \
            const size_t rs = (size_t)cin * 9;                                                                \
            __global const float *p = w + w_off + ((size_t)mb * CONV_MB * cin + k) * 9;                       \
            for (int j = 0; j < 9; j++)                                                                       \
                g8[j] = (float8)(p[j], p[rs + j], p[2 * rs + j], p[3 * rs + j], p[4 * rs + j], p[5 * rs + j], \
                                 WINO_L(6, p[6 * rs + j]), WINO_L(7, p[7 * rs + j]));                         \
        }                                                                                                     \
        XFORM8(g8, t8);                                                                                       \
        for (int xi = 0; xi < A * A; xi++) {                                                                  \
            __global float *q_ = up + PLANE(xi);                                                              \
            if (CONV_MB == 8) vstore8(t8[xi], 0, q_);                                                         \
            else {                                                                                            \
                vstore4(t8[xi].lo, 0, q_);                                                                    \
                vstore2(t8[xi].s45, 0, q_ + 4);                                                               \
            }                                                                                                 \
        }                                                                                                     \
    } while (0)

/* 4 rows i0 .. i0 + 3 of the panel (all < M) at k into the float4 lanes of g4[9], unmasked: the
 * groups of 4 of the AVX2 blocks' panels (CONV_MB 4, 6, 12); the masked per-element loads cost
 * ~2x this transform's perf samples at CONV_MB 4 (against conv_gemm_nn's over bench ops --filter
 * k3s1: 0.15-0.16 -> 0.06-0.08). The same values: the same lanes through the same transform. */
#define WINO_ROWS4(g4, i0)                                                                                    \
    do {                                                                                                      \
        if (flip) { /* row i = ci: w[k][mb * CONV_MB + i0 + i] rotated, 36 floats in a row */                \
            __global const float *p = w + w_off + ((size_t)k * cin + mb * CONV_MB + i0) * 9 + 8;              \
            for (int j = 0; j < 9; j++) g4[j] = (float4)(p[-j], p[9 - j], p[18 - j], p[27 - j]);              \
        } else { /* row i = co: w[mb * CONV_MB + i0 + i][k], rows cin * 9 floats apart */                     \
            const size_t rs = (size_t)cin * 9;                                                                \
            __global const float *p = w + w_off + ((size_t)(mb * CONV_MB + i0) * cin + k) * 9;                \
            for (int j = 0; j < 9; j++) g4[j] = (float4)(p[j], p[rs + j], p[2 * rs + j], p[3 * rs + j]);      \
        }                                                                                                     \
    } while (0)

/* The a * a transformed filters U[xi] = G g G^T (a = 4 or 6), written straight in conv_pack's
 * layout (cl/conv.cl: keep the two in step) for conv_gemm_nn with groups xi: U[xi](m, k) at
 * u[((xi * nmb + mb) * K + k) * CONV_MB + i] for m = mb * CONV_MB + i (0 for m >= M). Forward:
 * m = co, k = ci, g = w[co][ci]; flip != 0 (the data gradient): m = ci, k = co, g = w[co][ci]
 * rotated by 180 degrees. One work-item fills one panel of CONV_MB rows for every k and xi: a
 * whole panel of 8 or 6 as the lanes of a float8 (WINO_PANEL8), else 4 rows at a time as the lanes of
 * a float4 (WINO_ROWS4 where all 4 are rows of the panel below M, else masked; the transform's
 * constants folded: a kernel per a). The float8 path cut the weight
 * transform's perf samples against the GEMMs' on ResNet-18's 512x4^2 layer (PoCL, batch 32) from
 * 0.45 to 0.31 (forward) and 1.02 to 0.45 (data gradient), with the prefetch. At CONV_MB 6 (AVX2)
 * the panel went as 4 rows + 2 masked ones (the per-element loads): the 6-lane float8 path cut
 * the ratio on that layer (Zen 3, loaded) from 0.61 to 0.29 (forward) and 0.68 to 0.32 (data
 * gradient). */
#define WINO_WEIGHTS(NAME, A, XFORM, PLANE)                                                                   \
    __kernel void NAME(__global float *restrict u, __global const float *restrict w, const int w_off,        \
                       const int cout, const int cin, const int flip, const int nmb)                          \
    {                                                                                                         \
        const int mb = get_global_id(0);                                                                      \
        if (mb >= nmb) return;                                                                                \
        const int M = flip ? cin : cout, K = flip ? cout : cin;                                               \
        for (int k = 0; k < K; k++) {                                                                         \
            __global float *up = u + ((size_t)mb * K + k) * CONV_MB;                                          \
            wino_w_prefetch(w + w_off, cin, flip, mb, k + WINO_PF);                                           \
            if ((CONV_MB == 8 || CONV_MB == 6) && mb * CONV_MB + CONV_MB <= M) {                              \
                WINO_PANEL8(A, XFORM##_8, PLANE);                                                             \
                continue;                                                                                     \
            }                                                                                                 \
            for (int i0 = 0; i0 < CONV_MB; i0 += 4) {                                                         \
                float4 g[9], t[A * A];                                                                        \
                if (i0 + 4 <= CONV_MB && mb * CONV_MB + i0 + 4 <= M)                                          \
                    WINO_ROWS4(g, i0);                                                                        \
                else /* masked: rows past the panel or M read as 0 */                                         \
                for (int j = 0; j < 9; j++) {                                                                 \
                    float l[4];                                                                               \
                    for (int q = 0; q < 4; q++) {                                                             \
                        const int m = mb * CONV_MB + i0 + q, ok = i0 + q < CONV_MB && m < M;                  \
                        const int co = flip ? k : m, ci = flip ? m : k;                                       \
                        l[q] = ok ? w[w_off + (co * cin + ci) * 9 + (flip ? 8 - j : j)] : 0.0f;               \
                    }                                                                                         \
                    g[j] = (float4)(l[0], l[1], l[2], l[3]);                                                  \
                }                                                                                             \
                XFORM(g, t);                                                                                  \
                for (int xi = 0; xi < A * A; xi++) {                                                          \
                    __global float *p = up + PLANE(xi) + i0;                                                  \
                    if (i0 + 4 <= CONV_MB) vstore4(t[xi], 0, p);                                              \
                    else {                                                                                    \
                        float o[4];                                                                           \
                        vstore4(t[xi], 0, o);                                                                 \
                        for (int q = 0; i0 + q < CONV_MB; q++) p[q] = o[q];                                   \
                    }                                                                                         \
                }                                                                                             \
            }                                                                                                 \
        }                                                                                                     \
    }
/* plane xi's offset from its panel row at (mb, k): conv_pack's groups, nmb panels a plane */
#define WINO_PLANE_G(xi) ((size_t)(xi) * nmb * K * CONV_MB)
WINO_WEIGHTS(wino_weights2, 4, wino_u2, WINO_PLANE_G)
WINO_WEIGHTS(wino_weights4, 6, wino_u4, WINO_PLANE_G)
