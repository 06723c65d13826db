/* cl/reduce_probe.cl: exercises cl/reduce.cl directly (tests/test_reduce.c; built as "reduce.cl+reduce_probe.cl"). */

/* out[0] = 1 when the subgroup path was compiled; for work-group g (of L work-items):
 * out[1 + 2 g] = sum over the group of v(l), out[2 + 2 g] = max over the group of v(l), with
 * v(l) = in[g * L + l]. Every work-item writes its copy of the results to its own slot of
 * every_sum (so the test can see each work-item got the total). Global: groups * L, local L. */
__kernel void fcl_reduce_probe(__global float *out, __global float *every_sum,
                               __global const float *in, __local float *s)
{
    int g = get_group_id(0), l = get_local_id(0);
    float v = in[get_global_id(0)];
    float sum = fcl_wg_sum(v, s);
    float mx = fcl_wg_max(v, s);
    every_sum[get_global_id(0)] = sum;
    if (l == 0) {
        out[1 + 2 * g] = sum;
        out[2 + 2 * g] = mx;
        if (g == 0)
            out[0] = FCL_WG_USES_SUBGROUPS;
    }
}
