/* cl/runtime.cl: tiny kernels the runtime's own tests and self-checks use. */

/* y[i] = a * x[i] + y[i] over n elements; FCL_WG and FCL_VEC come from the tuning table. */
__kernel void axpy(const int n, const float a, __global const float *x, const int x_off,
                   __global float *y, const int y_off)
{
    int i = get_global_id(0);
    if (i < n) y[y_off + i] += a * x[x_off + i];
}

/* y[y_off + i] = v for 0 <= i < n (fcl_tensor_fill): 16 floats per work-item with one vstore16
 * (element-aligned, so any offset works), the last partial chunk element by element. PoCL's
 * clEnqueueFillBuffer writes the 4-byte pattern in a scalar loop on one thread: this kernel
 * runs on every compute unit at the full vector width. Global: ceil(n / 16). */
__kernel void fill_f32(__global float *y, const int y_off, const float v, const int n)
{
    const int i = get_global_id(0) * 16;
    if (i + 16 <= n) {
        vstore16((float16)(v), 0, y + y_off + i);
        return;
    }
    for (int j = i; j < n; j++) y[y_off + j] = v;
}
