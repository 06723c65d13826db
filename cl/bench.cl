/* cl/bench.cl: a compute-bound FMA loop that measures a device's float throughput for `facecl bench`. */

/* FCL_VW (4, 8 or 16) is the vector width and FCL_CHAINS the number of independent floatVW FMA
 * chains per work-item: the probe is built per (width, chains) and the best is the device's honest
 * limit. Both matter on CPUs: a float8 loop uses half the FMA width of an AVX-512 core, and 16 float8
 * chains + 2 constants need 18 of AVX2's 16 ymm registers, so the chains spill (Zen 3: 114 GFLOP/s
 * against 200 for 8 or 12 chains that stay in registers); 8 chains cover the FMA latency x pipes of
 * these cores (4 x 2). Each work-item runs iters steps: iters * FCL_CHAINS * VW * 2 flops. The
 * chains converge to a fixed point (no denormals, no overflow); the sum is stored so nothing is
 * optimised away. */
#ifndef FCL_VW
#define FCL_VW 8
#endif
#ifndef FCL_CHAINS
#define FCL_CHAINS 16
#endif
#define FCL_CAT_(a, b) a##b
#define FCL_CAT(a, b) FCL_CAT_(a, b)
#define floatv FCL_CAT(float, FCL_VW)

__kernel void bench_fma_peak(__global float *out, const int iters, const float m, const float c)
{
    const float seed = (float)get_global_id(0) * 1e-6f;
    floatv a[FCL_CHAINS];
#pragma unroll
    for (int j = 0; j < FCL_CHAINS; j++) a[j] = (floatv)(seed + 0.01f * j);
    const floatv mv = (floatv)(m), cv = (floatv)(c);
    for (int i = 0; i < iters; i++) {
#pragma unroll
        for (int j = 0; j < FCL_CHAINS; j++) a[j] = fma(a[j], mv, cv);
    }
    floatv s = (floatv)(0.0f);
#pragma unroll
    for (int j = 0; j < FCL_CHAINS; j++) s += a[j];
    float t = 0.0f;
    for (int j = 0; j < FCL_VW; j++) t += ((float *)&s)[j];
    out[get_global_id(0)] = t;
}
