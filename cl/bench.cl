/* cl/bench.cl: a compute-bound FMA loop that measures a device's float throughput for `facecl bench`. */

/* Each work-item runs iters steps of 16 independent float8 FMA chains (enough to cover the FMA
 * latency of CPU and GPU pipelines): iters * 16 * 8 * 2 flops. The chains converge to a fixed
 * point (no denormals, no overflow); the sum is stored so nothing is optimised away. */
__kernel void bench_fma_peak(__global float *out, const int iters, const float m, const float c)
{
    const float seed = (float)get_global_id(0) * 1e-6f;
    float8 a[16];
#pragma unroll
    for (int j = 0; j < 16; j++) a[j] = (float8)(seed + 0.01f * j);
    const float8 mv = (float8)(m), cv = (float8)(c);
    for (int i = 0; i < iters; i++) {
#pragma unroll
        for (int j = 0; j < 16; j++) a[j] = fma(a[j], mv, cv);
    }
    float8 s = (float8)(0.0f);
#pragma unroll
    for (int j = 0; j < 16; j++) s += a[j];
    float4 t = s.lo + s.hi;
    out[get_global_id(0)] = t.x + t.y + t.z + t.w;
}
