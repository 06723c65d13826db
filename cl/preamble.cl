/* cl/preamble.cl: macros and helpers every program starts with (host/runtime/program.c prepends this file). */

/* Token pasting through a second level, so macro arguments are expanded first. */
#define FCL_CAT_(a, b) a##b
#define FCL_CAT(a, b) FCL_CAT_(a, b)

/* A tensor argument as launchers bind it (host/ops/op_util.c, OP_T): its buffer and the int
 * element offset of its first value, named <t>_off in the kernel body. FCL_CTENSOR: read-only. */
#define FCL_TENSOR(t) __global float *t, const int t##_off
#define FCL_CTENSOR(t) __global const float *t, const int t##_off

/* Streaming kernels handle FCL_VEC consecutive elements per work-item as one floatN (vloadN /
 * vstoreN are element-aligned, so any offset works); FCL_VEC comes from the program's tuning
 * family (host/runtime/tuning_table.c). */
#ifdef FCL_VEC
#define VF FCL_CAT(float, FCL_VEC)
#define VLOAD FCL_CAT(vload, FCL_VEC)
#define VSTORE FCL_CAT(vstore, FCL_VEC)
#define HSUM FCL_CAT(hsum, FCL_VEC)
#endif

/* Horizontal sums in a fixed pairwise order. */
inline float hsum2(float2 v) { return v.s0 + v.s1; }
inline float hsum4(float4 v) { return hsum2(v.s01 + v.s23); }
inline float hsum8(float8 v) { return hsum4(v.s0123 + v.s4567); }
inline float hsum16(float16 v) { return hsum8(v.lo + v.hi); }
