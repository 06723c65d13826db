/* cl/preamble.cl: macros and helpers every program starts with (host/runtime/program.c prepends this file). */

/* Token pasting through a second level, so macro arguments are expanded first. */
#define FCL_CAT_(a, b) a##b
#define FCL_CAT(a, b) FCL_CAT_(a, b)

/* A tensor argument as launchers bind it (host/ops/op_util.c, OP_T): its buffer and the int
 * element offset of its first value, named <t>_off in the kernel body. FCL_CTENSOR: read-only. */
#define FCL_TENSOR(t) __global float *t, const int t##_off
#define FCL_CTENSOR(t) __global const float *t, const int t##_off

/* Work-item i of a 1-D range over n items rounded up to the group size; the tail returns. */
#define FCL_ITEM_OR_RETURN(i, n)                                                                   \
    int i = get_global_id(0);                                                                      \
    if (i >= (n))                                                                                  \
        return

/* The class index of a label stored as f32 (host/ops/loss.c fcl_labels_upload), or -1 when it is
 * not an integer in [0, k). */
inline int label_index(float l, int k)
{
    if (!(l >= 0.0f && l < (float)k))
        return -1;
    int c = (int)l;
    return (float)c == l ? c : -1;
}

/* The class of row i's label lab[i] (k classes), or -1 when it is not one: then the row's
 * result out[i] is NaN, written when `writer` (one work-item of a group sharing the row). */
inline int row_label(__global const float *lab, int i, int k, __global float *out, int writer)
{
    int y = label_index(lab[i], k);
    if (y < 0 && writer)
        out[i] = NAN;
    return y;
}

/* Streaming kernels handle FCL_VEC consecutive elements per work-item as one floatN (vloadN /
 * vstoreN are element-aligned, so any offset works); FCL_VEC comes from the program's tuning
 * family (host/runtime/tuning_table.c). */
#ifdef FCL_VEC
#define VF FCL_CAT(float, FCL_VEC)
#define VLOAD FCL_CAT(vload, FCL_VEC)
#define VSTORE FCL_CAT(vstore, FCL_VEC)
#define HSUM FCL_CAT(hsum, FCL_VEC)
#endif

/* Kernels that give each work-item V consecutive pixels of a row of hw (LayerNorm2d, the radix
 * sums): BODY(T, LD, ST, j) on pixels i0 + j.. as one vector VT (VLD / VST its loads and stores
 * at a pointer) where all V are there, else one float at a time (FCL_S_LD / FCL_S_ST) for j = 0,
 * 1, ... < hw - i0. i0 and hw are the kernel's. */
#define FCL_S_LD(p) (*(p))
#define FCL_S_ST(v, p) (*(p) = (v))
#define FCL_PIXELS_VEC(V, VT, VLD, VST, BODY)                                                      \
    do {                                                                                          \
        if (i0 + (V) <= hw) {                                                                     \
            BODY(VT, VLD, VST, 0);                                                                \
        } else {                                                                                  \
            for (int j = 0; i0 + j < hw; j++)                                                     \
                BODY(float, FCL_S_LD, FCL_S_ST, j);                                               \
        }                                                                                         \
    } while (0)

/* s[0] = s[0] + ... + s[L - 1] by a fixed binary tree in local memory (L a power of two, l the
 * caller's local id; every work-item of the group calls it, after writing its s[l]). */
inline void fcl_tree_sum(__local float *s, int l, int L)
{
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int o = L / 2; o > 0; o >>= 1) {
        if (l < o)
            s[l] += s[l + o];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
}

/* Horizontal sums in a fixed pairwise order. */
inline float hsum2(float2 v) { return v.s0 + v.s1; }
inline float hsum4(float4 v) { return hsum2(v.s01 + v.s23); }
inline float hsum8(float8 v) { return hsum4(v.s0123 + v.s4567); }
inline float hsum16(float16 v) { return hsum8(v.lo + v.hi); }
