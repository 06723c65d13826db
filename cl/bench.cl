/* cl/bench.cl: a compute-bound FMA loop that measures a device's float throughput for `facecl bench`. */

/* FCL_VW (4, 8 or 16) is the vector width: the probe is built once per width and the best is the
 * device's honest limit (a float8 loop uses half the FMA width of an AVX-512 core). Each work-item
 * runs iters steps of 16 independent floatVW FMA chains (enough to cover the FMA latency of CPU and
 * GPU pipelines): iters * 16 * VW * 2 flops. The chains converge to a fixed point (no denormals,
 * no overflow); the sum is stored so nothing is optimised away. */
#ifndef FCL_VW
#define FCL_VW 8
#endif
#define FCL_CAT_(a, b) a##b
#define FCL_CAT(a, b) FCL_CAT_(a, b)
#define floatv FCL_CAT(float, FCL_VW)

__kernel void bench_fma_peak(__global float *out, const int iters, const float m, const float c)
{
    const float seed = (float)get_global_id(0) * 1e-6f;
    floatv a[16];
#pragma unroll
    for (int j = 0; j < 16; j++) a[j] = (floatv)(seed + 0.01f * j);
    const floatv mv = (floatv)(m), cv = (floatv)(c);
    for (int i = 0; i < iters; i++) {
#pragma unroll
        for (int j = 0; j < 16; j++) a[j] = fma(a[j], mv, cv);
    }
    floatv s = (floatv)(0.0f);
#pragma unroll
    for (int j = 0; j < 16; j++) s += a[j];
    float t = 0.0f;
    for (int j = 0; j < FCL_VW; j++) t += ((float *)&s)[j];
    out[get_global_id(0)] = t;
}
