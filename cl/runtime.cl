/* cl/runtime.cl: tiny kernels the runtime's own tests and self-checks use. */

/* y[i] = a * x[i] + y[i] over n elements; FCL_WG and FCL_VEC come from the tuning table. */
__kernel void axpy(const int n, const float a, __global const float *x, const int x_off,
                   __global float *y, const int y_off)
{
    int i = get_global_id(0);
    if (i < n) y[y_off + i] += a * x[x_off + i];
}
