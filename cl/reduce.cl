/* cl/reduce.cl: work-group reductions shared by kernel files (built as "reduce.cl+<file>.cl"). */

/* Subgroups are used only where the host's device query found them (host/runtime/tuning.c
 * appends FCL_SG_KHR, FCL_SG_INTEL or FCL_SG_CORE) and the tuning row leaves FCL_USE_SG at 1;
 * otherwise a fixed binary tree in local memory. Both give every work-item the result, work on
 * 1-D work-groups whose size is a power of two (the host guarantees it: fcl_op_reduce_wg), need
 * a local scratch of get_local_size(0) floats, and must be reached by every work-item of the
 * group (no early return before them). The order of the additions depends only on the group
 * size and the device's subgroup size: results are reproducible run to run. */
#if defined(FCL_SG_KHR)
#pragma OPENCL EXTENSION cl_khr_subgroups : enable
#define FCL_SG_AVAILABLE 1
#elif defined(FCL_SG_INTEL)
#pragma OPENCL EXTENSION cl_intel_subgroups : enable
#define FCL_SG_AVAILABLE 1
#elif defined(FCL_SG_CORE) && defined(__opencl_c_subgroups)
#define FCL_SG_AVAILABLE 1
#endif
#ifndef FCL_USE_SG
#error "FCL_USE_SG comes from the tuning family (host/runtime/tuning_table.c) or the caller"
#endif

#define FCL_OP_ADD(a, b) ((a) + (b))
#define FCL_OP_MAX(a, b) ((a) > (b) ? (a) : (b))

#if defined(FCL_SG_AVAILABLE) && FCL_USE_SG
/* Each subgroup reduces in registers; lane 0 of each writes its result to s; every work-item
 * then folds the (few) subgroup results in order. */
#define FCL_WG_REDUCE(name, OP, SG_FN)                                                             \
    inline float name(float v, __local float *s)                                               \
    {                                                                                          \
        float r = SG_FN(v);                                                                    \
        uint nsg = get_num_sub_groups();                                                       \
        if (nsg == 1)                                                                          \
            return r;                                                                          \
        if (get_sub_group_local_id() == 0)                                                     \
            s[get_sub_group_id()] = r;                                                         \
        barrier(CLK_LOCAL_MEM_FENCE);                                                          \
        r = s[0];                                                                              \
        for (uint i = 1; i < nsg; i++)                                                         \
            r = OP(r, s[i]);                                                                   \
        barrier(CLK_LOCAL_MEM_FENCE); /* s is reused by the next call */                       \
        return r;                                                                              \
    }
#define FCL_WG_USES_SUBGROUPS 1
#else
#define FCL_WG_REDUCE(name, OP, SG_FN)                                                             \
    inline float name(float v, __local float *s)                                               \
    {                                                                                          \
        int l = get_local_id(0);                                                               \
        s[l] = v;                                                                              \
        barrier(CLK_LOCAL_MEM_FENCE);                                                          \
        for (int o = (int)get_local_size(0) / 2; o > 0; o >>= 1) {                             \
            if (l < o)                                                                         \
                s[l] = OP(s[l], s[l + o]);                                                     \
            barrier(CLK_LOCAL_MEM_FENCE);                                                      \
        }                                                                                      \
        float r = s[0];                                                                        \
        barrier(CLK_LOCAL_MEM_FENCE); /* s is reused by the next call */                       \
        return r;                                                                              \
    }
#define FCL_WG_USES_SUBGROUPS 0
#endif

/* fcl_wg_sum / fcl_wg_max: the sum / max of v over the work-group, in every work-item. */
FCL_WG_REDUCE(fcl_wg_sum, FCL_OP_ADD, sub_group_reduce_add)
FCL_WG_REDUCE(fcl_wg_max, FCL_OP_MAX, sub_group_reduce_max)
