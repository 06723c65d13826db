/* host/runtime/tuning_table.c: every kernel tuning parameter with its defaults, range and doc (the one place defaults live). */
#include "runtime/tuning_internal.h"
#include "facecl/tune_cache.h"

#define P2 FCL_TUNE_POW2
#define AS_CPU FCL_TUNE_AS_CPU

/* Indexed by fcl_tune_id; {family, name, CPU default, CPU256 default, other default, min, max,
 * flags, doc}. CPU defaults keep the CPU-shaped kernels (one work-item streams a register block,
 * groups of 1: what PoCL runs fast); the other column (GPUs, accelerators) picks the GPU-shaped
 * ones. The CPU column was measured on AVX-512 (a 2-core Xeon, 32 zmm registers, 1 MiB L2); the
 * CPU256 column is for CPUs whose native float vector is 8 wide (AVX2: 16 ymm registers, e.g.
 * Zen 3 with 512 KiB L2), where the AVX-512 register blocks spill; AS_CPU: the CPU value
 * (fcl_tune_column_of picks the column from CL_DEVICE_NATIVE_VECTOR_WIDTH_FLOAT). Values are
 * measured, not guessed: say where a default came from. A device's measured values come from its
 * tuning cache (`facecl tune`), not from new columns here. "Zen 5 (session 15)" below: a 2-core
 * EPYC Zen 5 (AVX-512, 48 KiB L1 / 1 MiB L2 a core, PoCL skylake-avx512: the CPU column) on a shared
 * host, configurations alternating in one binary (FACECL_TUNING) under `FACECL_NO_TUNE=1 facecl bench
 * ops --filter F --reps R`, medians of process CPU ms (wall time swung 2x between rounds there). */
const fcl_tune_param fcl_tune_table[FCL_T_COUNT] = {
    /* generic elementwise kernels: elements per work-item (PoCL vectorises straight-line code) */
    [FCL_T_ELTWISE_WG] = {FCL_TF_ELTWISE, "FCL_WG", 64, AS_CPU, 256, 1, 1024, 0, "work-group size of the elementwise kernels"},
    [FCL_T_ELTWISE_VEC] = {FCL_TF_ELTWISE, "FCL_VEC", 8, AS_CPU, 4, 2, 16, P2, "vector width (elements per load)"},
    /* activations: FCL_VEC 8 was at least as fast as 4 and 16 on the bn rows below (noisy
     * shared machine). CPU (AVX-512) 16 since Zen 5 (session 16): once GELU's erf was vectorised
     * (cl/act.cl fcl_erf) its lanes were the cost, `--filter elu --reps 5`, 6 rounds, CPU ms 8 -> 16:
     * gelu 32x384x28x28 fwd 9.54 -> 5.14, bwd 14.61 -> 7.97; relu stem bwd 4.44 -> 3.77, the rest
     * level. CPU256 keeps 8 (its native width; unmeasured at 16). */
    [FCL_T_ACT_VEC] = {FCL_TF_ACT, "FCL_VEC", 16, 8, 4, 2, 16, P2, "vector width (elements per load)"},
    /* batch norm: FCL_BN_WG is the group size of the per-channel reductions. On PoCL CPUs one
     * work-item per channel streams it with float8s: `facecl bench ops` (ResNet-18 @112, batch
     * 32, 2-core EPYC) gave bn2d fwd_train 3.8 ms at WG 1 vs 10.3 ms at WG 64 on the stem's
     * 32x64x56^2 and 0.25 vs 1.2 ms on layer3 (WG 4: in between). GPUs keep the 256-wide tree
     * (the tests force both paths). */
    [FCL_T_BN_VEC] = {FCL_TF_BN, "FCL_VEC", 8, AS_CPU, 4, 2, 16, P2, "vector width (elements per load)"},
    [FCL_T_BN_WG] = {FCL_TF_BN, "FCL_BN_WG", 1, AS_CPU, 256, 0, 4096, 0,
                     "group size of the per-channel reductions (0: the device's 1-D size)"},
    [FCL_T_BN_USE_SG] = {FCL_TF_BN, "FCL_USE_SG", 1, AS_CPU, 1, 0, 1, 0, "1: subgroup reductions where the device has them"},
    /* pooling: POOL_GPU 1 picks the one-element-per-work-item kernels and the work-group
     * reduction of global average pooling (cl/pool.cl), in groups of POOL_WG; CPUs keep the
     * float4/float8 blocks. The GPU values are unmeasured starting points (issue 9's `facecl
     * tune` measures). */
    [FCL_T_POOL_GPU] = {FCL_TF_POOL, "POOL_GPU", 0, AS_CPU, 1, 0, 1, 0, "1: the GPU-shaped kernels (one element per work-item)"},
    [FCL_T_POOL_WG] = {FCL_TF_POOL, "POOL_WG", 256, AS_CPU, 256, 1, 4096, 0, "work-group size of the GPU-shaped kernels"},
    [FCL_T_POOL_USE_SG] = {FCL_TF_POOL, "FCL_USE_SG", 1, AS_CPU, 1, 0, 1, 0, "1: subgroup reductions where the device has them"},
    /* row kernels of the losses (cl/loss.cl, margin.cl, metric_loss.cl): FCL_ROW_WG > 0 puts a
     * row on a work-group of that size (0: a work-item per row). GPU value unmeasured. */
    [FCL_T_LOSS_ROW_WG] = {FCL_TF_LOSS, "FCL_ROW_WG", 0, AS_CPU, 128, 0, 4096, 0,
                           "0: a work-item per row; > 0: a work-group of this size per row"},
    [FCL_T_LOSS_USE_SG] = {FCL_TF_LOSS, "FCL_USE_SG", 1, AS_CPU, 1, 0, 1, 0, "1: subgroup reductions where the device has them"},
    /* CPU256 as CPU (16): Zen 3, loaded (load 9-23), `bench ops --filter "casia 128x512>10575 s64"`
     * (ArcFace + CosFace fwd, bwd, fwd+bwd rows), sum of CPU ms, 2 alternating pairs: 16 315.2 /
     * 304.8, 8 327.7 / 322.8 */
    [FCL_T_LOSS_VEC] = {FCL_TF_LOSS, "FCL_VEC", 16, AS_CPU, 4, 2, 16, P2, "vector width of the one-row-per-work-item kernels"},
    /* the margin heads' weight gradient (cl/margin_head.cl head_bwd_dw): HEAD_MB rows x HEAD_NV
     * vectors of HEAD_VW floats. CPU (AVX-512) and other: the block before these values were
     * typed (8 x 2 x FCL_VEC). CPU256: Zen 3 (AVX2, 16 ymm), arcface casia 128x512>10575 fwd+bwd,
     * perf CPU ms per step of head_bwd_dw + head_bwd_d, 2 alternating runs, loaded: 8 x 2 x
     * float16 (32 ymm accumulators, spilled) 48.6 / 48.8; 6 x 2 x float8 (12 + 2 loads + a
     * broadcast) 31.8 / 30.0; 4 x 3 x float8 35.4 / 29.2; 8 x 1 x float8 32.8 / 32.0 */
    /* CPU (AVX-512) 8 x 2 x float16 (16 zmm accumulators) confirmed: Zen 5 (session 15), --filter "s64
     * m0.5" --reps 5, 5 rounds, sum of the ArcFace rows' CPU ms: 8 x 2 108.7 / 109.4 / 108.2 / 115.0 /
     * 111.9, 12 x 2 111.7 / 122.1 / 113.4 / 108.0 / 110.0, 8 x 3 149.4 / 123.1 / 121.8 / 122.6 /
     * 110.3, 6 x 4 130.0 / 124.1 / 123.0 / 120.6 / 133.8. */
    [FCL_T_LOSS_HEAD_MB] = {FCL_TF_LOSS, "HEAD_MB", 8, 6, 8, 1, 16, 0, "rows of dW per work-item of head_bwd_dw"},
    [FCL_T_LOSS_HEAD_NV] = {FCL_TF_LOSS, "HEAD_NV", 2, 2, 2, 1, 4, 0, "column vectors per work-item of head_bwd_dw"},
    [FCL_T_LOSS_HEAD_VW] = {FCL_TF_LOSS, "HEAD_VW", 16, 8, 4, 4, 16, P2, "float vector width of head_bwd_dw's columns"},
    /* LayerNorm2d / weight standardisation and the ResNeSt attention sums: the device's 1-D size.
     * CPUs 1 since Zen 5 (session 16): one work-item a channel streams it as FCL_NORM_VEC vectors
     * (as bn's FCL_BN_WG 1), `bench ops --filter cnxt --reps 5`, 5 rounds, CPU ms 0 -> 1: layer
     * scale bwd 2.51 -> 1.28, ln2d bwd 3.19 -> 2.61, the forwards level; `--filter nfnet` (wstd)
     * level. CPU256 the same (unmeasured, the same reason). */
    [FCL_T_NORM_WG] = {FCL_TF_NORM, "FCL_NORM_WG", 1, AS_CPU, 0, 0, 4096, 0,
                       "group size of the per-channel reductions (0: the device's 1-D size)"},
    [FCL_T_NORM_USE_SG] = {FCL_TF_NORM, "FCL_USE_SG", 1, AS_CPU, 1, 0, 1, 0, "1: subgroup reductions where the device has them"},
    /* FCL_NORM_VEC: LayerNorm2d's and layer scale's pixels a work-item, as the lanes of a float
     * vector (cl/norm.cl). 1: a pixel a work-item, neighbours on neighbouring addresses (what a GPU
     * coalesces); PoCL runs such a kernel with a loop over C one scalar at a time. Zen 5 (session
     * 16), `bench ops --filter cnxt --reps 5`, 5 rounds, CPU ms 1 -> 16 (FCL_NORM_WG 0): ConvNeXt's
     * 32x96x28x28 ln2d fwd 6.24 -> 0.79, bwd 11.19 -> 3.19, layer scale fwd 4.85 -> 0.49, bwd
     * 8.76 -> 2.51. CPU256 8 (its native width; unmeasured). */
    [FCL_T_NORM_VEC] = {FCL_TF_NORM, "FCL_NORM_VEC", 16, 8, 1, 1, 16, P2,
                        "pixels a work-item of ln2d_fwd / ln2d_bwd_data / chan_scale (vector lanes; 1: one pixel)"},
    /* FCL_ATTN_WG: CPUs 1 since Zen 5 (session 16), as FCL_NORM_WG (one work-item a row streams
     * it as FCL_ATTN_VEC vectors): `bench ops --filter rnst --reps 5`, 5 rounds, CPU ms of ResNeSt's
     * layer1 32x128x28x28 radix sum, FCL_ATTN_VEC 1 (before) / 16 / 16 + WG 1: fwd 2.35 / 0.52 /
     * 0.49, bwd 14.25 / 5.24 / 1.35. CPU256 the same (unmeasured). */
    [FCL_T_ATTN_WG] = {FCL_TF_ATTN, "FCL_ATTN_WG", 1, AS_CPU, 0, 0, 4096, 0,
                       "group size of the attention-gradient sums (0: the device's 1-D size)"},
    [FCL_T_ATTN_USE_SG] = {FCL_TF_ATTN, "FCL_USE_SG", 1, AS_CPU, 1, 0, 1, 0, "1: subgroup reductions where the device has them"},
    /* FCL_ATTN_VEC: the radix sums' pixels a work-item, as vector lanes (cl/attn.cl; 1: one pixel,
     * coalesced on GPUs): CPU 16 / CPU256 8 (the native widths), as FCL_NORM_VEC; measured above. */
    [FCL_T_ATTN_VEC] = {FCL_TF_ATTN, "FCL_ATTN_VEC", 16, 8, 1, 1, 16, P2,
                        "pixels a work-item of the radix sums (vector lanes; 1: one pixel)"},
    /* conv2d (cl/conv.cl, cl/conv_dw.cl): register blocks of the GEMM kernels (CONV_MB rows x
     * CONV_NV x CONV_VW floats of conv_gemm_nn; CONV_TM x CONV_TN float8 accumulators of conv_gemm_nt),
     * work-group sizes along dim 0 (CONV_LNN / CONV_LNT for the GEMMs, CONV_LOCAL for the other
     * kernels; 0: the driver's choice) and the im2col chunk budget in KiB.
     * CPU column: `facecl bench ops` on PoCL 3.1, Zen 4, 2 threads. The machine was shared, so
     * blocks were compared on CPU time per call: NN 12x2 = 8x3 = 6x4 within noise, 14x2 10-20%
     * slower; NT 4x4 best (4x6, 8x3, 3x8 15-40% slower); chunk budget 1-8 MiB equal, 32 MiB 30%
     * slower. Work-groups of 1: PoCL's own choice is the largest group dividing the range, which
     * can leave one or two groups (one thread) per launch. The other column is unmeasured:
     * smaller register blocks. */
    /* CPU256 column (AVX2, 16 ymm registers): conv_gemm_nn's 8 x 2 x float16 block is 32 ymm
     * accumulators and spills; 6 rows x 2 float8 (12 accumulators + 2 B vectors + a broadcast).
     * Measured on a 2-core Zen 3 (PoCL 3.1 pthread-haswell, 512 KiB L2, shared and loaded, so
     * process CPU ms of `facecl bench ops --filter resnet`, the convs weighted by their count in
     * the network, TW 8, alternating runs; ResNet-18 / ResNet-50's 1x1s): 8 x 2 x 16 (TW 16)
     * 1858 / 3140 (1 run); 6 x 2 1136-1520 / 1542-2157 (5 runs); 5 x 2 1130-1440 / 1549-2078 (5);
     * 4 x 3 1221-1511 / 1805-2137 (5); 4 x 2 1261-1436 / 1994-2391 (2); 8 x 1 1140-1568 /
     * 1833-2553 (3); 7 x 2 (14) 1692-1844 / 2602-3007 (3); 3 x 4 1766-1871 / 2712-2895 (2). */
    [FCL_T_CONV_MB] = {FCL_TF_CONV, "CONV_MB", 8, 6, 4, 1, 32, 0, "output rows (channels) per work-item of conv_gemm_nn"},
    /* CONV_NV x CONV_VW: the columns of conv_gemm_nn's register block, as CONV_NV vectors of
     * CONV_VW floats. float8 fills AVX2's 256-bit FMA; AVX-512 needs float16 (`facecl bench`'s
     * FMA probe on the 2-core Xeon: float8 ~255, float16 ~470 GFLOP/s). The CPU column keeps the
     * 16 columns of the old 2 x float8 (the same registers on AVX2, where the compiler splits a
     * float16) as 1 x float16: on the Xeon (PoCL 3.1, loaded machine, so compared on CPU time,
     * 3 interleaved runs) ResNet-18's forward + backward-data convs took 340-400 ms at 2 x 8,
     * 257-295 ms at 1 x 16 and 234-275 ms at 2 x 16 (Intel's CPU runtime: 450-513 vs 318-355 ms
     * for 2 x 8 vs 2 x 16); `facecl tune` picks per device. Each lane still sums over k in order,
     * so every choice gives identical bits. With the right operand in column panels (CONV_BPANEL)
     * and the weight gradient on this kernel (CONV_WG_NN), 8 rows x 2 float16 (no padded rows on
     * 64-multiples) against 12 x 1 (same machine, loaded, CPU ms of `facecl bench ops --filter
     * resnet18`, 3 alternating runs): forward convs 172 -> 137 ms, data gradients 159 -> 149 ms,
     * weight gradients (all on conv_gemm_nn) 175 -> 151 ms. */
    [FCL_T_CONV_NV] = {FCL_TF_CONV, "CONV_NV", 2, 2, 1, 1, 4, 0, "column vectors (of CONV_VW floats) per work-item of conv_gemm_nn"},
    /* CPU256: float8, one ymm register (a float16 is two, doubling the block's registers) */
    [FCL_T_CONV_VW] = {FCL_TF_CONV, "CONV_VW", 16, 8, 8, 8, 16, P2, "float vector width of conv_gemm_nn's columns (8 or 16)"},
    /* CPU256 4 x 3 float8 accumulators (12 of 16 ymm; 4 x 4 is 16 plus the loads and spills):
     * heads' casia linear 128x512>10575 forward (all on conv_gemm_nt, Zen 3, CPU ms, 2 alternating
     * runs, TW 8) 4 x 4 38.6 / 38.6, 4 x 3 25.0 / 24.7, 4 x 2 33.8 / 25.9, 2 x 4 27.8 / 33.3, 3 x 4
     * 41.6 / 40.5; ResNet-50's bwd_weight convs (bench ops as for CONV_MB, 6 x 2 x 8, 2 alternating
     * runs) 4 x 4 604-659, 4 x 3 550-571, 3 x 4 604-708, 2 x 4 572-608, 3 x 3 620-625, 4 x 2 675-684. */
    [FCL_T_CONV_TM] = {FCL_TF_CONV, "CONV_TM", 4, 4, 2, 1, 8, 0, "rows of dy per work-item of conv_gemm_nt"},
    [FCL_T_CONV_TN] = {FCL_TF_CONV, "CONV_TN", 4, 3, 2, 1, 8, 0, "rows of B per work-item of conv_gemm_nt"},
    /* CONV_TW 16 fills AVX-512 in the weight gradient (ResNet-18's bwd_weight convs: 177-196 ms of
     * CPU time against 209-253 at 8, loaded machine, 3 alternating runs); on AVX2 the compiler
     * splits a float16 into two float8s. CPU256 8: on the Zen 3 above (lead's quiet run, 1 each,
     * wall ms of all convs, 4 x 3 x 8 blocks) ResNet-18 774 -> 611, ResNet-50 966 -> 766 ms at
     * TW 16 -> 8 (the 4 x 4 float16 accumulators are 32 ymm). */
    [FCL_T_CONV_TW] = {FCL_TF_CONV, "CONV_TW", 16, 8, 8, 8, 16, P2,
                       "float vector width of conv_gemm_nt and conv_bias_grad along the pixels (8 or 16)"},
    /* CPU256 CONV_LNN 16 (groups of 16 row blocks of one column panel; 1 for GEMMs with fewer
     * row blocks, host/ops/conv_cpu.c): a work-item of conv_gemm_nn costs ~46 ns CPU beyond its
     * FMAs (a sweep of K 8 / 32 / 128 at 576 x K x 1372: 55 / 107 / 294 ns per work-item, ~1.9 ns
     * per k step), about a third of it the group's dispatch; short reductions pay it most.
     * Zen 3, loaded, standalone conv_gemm_nn (6 x 2 x 8, panel B), CPU ms per call, sorted
     * avg/best of alternating runs, LNN 1 vs 16: 576 x 128 x 1372 (ResNet-18 layer2.0 data
     * gradient, 8 pairs) avg 2.86-4.08 (median 3.77) vs 2.43-3.64 (3.26), best 2.51-3.42 vs
     * 2.31-3.21; 10575 x 64 x 512 accumulated (4 pairs) best 9.53-14.60
     * vs 8.86-9.27; 128 x 576 x 1764 / 128 x 1176 x 576 / 256 x 1152 x 882 / 2304 x 512 x 448
     * (long reductions, 4 pairs each) within noise. Whole-op A/B (`bench ops --filter conv2d`,
     * ResNet-18/50 + MobileNetV2 convs, 3 alternating pairs, sum of CPU ms, loaded): 1367 / 1445 /
     * 1673 vs 1569 / 1462 / 1610, within this machine's noise. */
    [FCL_T_CONV_LNN] = {FCL_TF_CONV, "CONV_LNN", 1, 16, 16, 0, 4096, 0,
                        "work-group size of conv_gemm_nn (0: the driver's; 1 where a GEMM has fewer row blocks)"},
    [FCL_T_CONV_LNT] = {FCL_TF_CONV, "CONV_LNT", 1, AS_CPU, 16, 0, 4096, 0, "work-group size of conv_gemm_nt (0: the driver's)"},
    [FCL_T_CONV_LOCAL] = {FCL_TF_CONV, "CONV_LOCAL", 1, AS_CPU, 0, 0, 4096, 0,
                          "work-group size of the other CPU-shaped kernels (0: the driver's)"},
    [FCL_T_CONV_COL_KB] = {FCL_TF_CONV, "CONV_COL_KB", 4096, AS_CPU, 65536, 1, 1 << 22, 0,
                           "im2col workspace budget in KiB (images go in chunks that fit)"},
    /* CONV_LINEAR: the row-major GEMMs of linear layers, margin heads and pair similarities
     * (fcl_op_gemm, host/ops/op_util.c): 0 CLBlast (on CPUs only below 2^26 multiply-adds: a
     * tuned 0 comes from a network's small classifier and must not slow a margin head); 1
     * facecl's conv GEMMs, the kernel chosen by shape (gemm_wt or conv_gemm_nt for A B^T, sliced
     * gemm_wt or conv_gemm_nn for long reductions, conv_gemm_nn otherwise); 2 / 3 / 4 force
     * conv_gemm_nn / conv_gemm_nt + sliced conv_gemm_nn / gemm_wt + sliced gemm_wt (op tests). */
    [FCL_T_CONV_LINEAR] = {FCL_TF_CONV, "CONV_LINEAR", 1, AS_CPU, 0, 0, 4, 0,
                           "linear layers and margin heads: 0 CLBlast, 1 conv GEMMs by shape, 2 conv_gemm_nn, 3 conv_gemm_nt, 4 gemm_wt"},
    /* GPUs and accelerators: the GPU-shaped kernels (cl/conv_gpu.cl, cl/conv_dw_gpu.cl): a
     * 64x64 output tile per work-group of 16x16, 16 deep in local memory, 4x4 outputs per
     * work-item (CONV_GM/GN/GK/GWM/GWN; host/ops/conv_gpu.c falls back to smaller tiles where
     * the device's limits say so), groups of 256 for the per-element and reduction kernels
     * (CONV_GWG). A textbook starting point, unmeasured on a GPU so far: `facecl tune` (issue
     * 9) is where measured values come from. Tests force these on CPUs too. */
    [FCL_T_CONV_GPU] = {FCL_TF_CONV, "CONV_GPU", 0, AS_CPU, 1, 0, 1, 0, "1: the GPU-shaped kernels (conv_gpu.cl, conv_dw_gpu.cl)"},
    [FCL_T_CONV_GM] = {FCL_TF_CONV, "CONV_GM", 64, AS_CPU, 64, 1, 1024, 0, "GPU GEMM tile rows per work-group (a multiple of CONV_GWM)"},
    [FCL_T_CONV_GN] = {FCL_TF_CONV, "CONV_GN", 64, AS_CPU, 64, 1, 1024, 0,
                       "GPU GEMM tile columns per work-group (a multiple of CONV_GWN)"},
    [FCL_T_CONV_GK] = {FCL_TF_CONV, "CONV_GK", 16, AS_CPU, 16, 1, 64, 0, "GPU GEMM tile depth in local memory"},
    [FCL_T_CONV_GWM] = {FCL_TF_CONV, "CONV_GWM", 4, AS_CPU, 4, 1, 8, 0, "GPU GEMM outputs per work-item along rows"},
    [FCL_T_CONV_GWN] = {FCL_TF_CONV, "CONV_GWN", 4, AS_CPU, 4, 1, 8, 0, "GPU GEMM outputs per work-item along columns"},
    [FCL_T_CONV_GWG] = {FCL_TF_CONV, "CONV_GWG", 256, AS_CPU, 256, 1, 1 << 20, 0,
                        "group size of the GPU per-element and reduction kernels (capped by the device)"},
    [FCL_T_CONV_GSPLIT] = {FCL_TF_CONV, "CONV_GSPLIT", 16, AS_CPU, 16, 1, 1024, 0,
                           "most K slices of a GPU weight-gradient GEMM (1: no split)"},
    [FCL_T_CONV_USE_SG] = {FCL_TF_CONV, "FCL_USE_SG", 1, AS_CPU, 1, 0, 1, 0,
                           "1: subgroup reductions in the GPU-shaped kernels where the device has them"},
    /* CONV_WINO 1: dense 3x3 stride-1 convolutions (forward and data gradient) through Winograd
     * F(2x2, 3x3) (host/ops/conv_wino.c) where the algorithm is automatic and 16 or more channels go
     * in and out; 2: F(4x4, 3x3) on outputs of at least 16x16, and of 7x7 with 128 channels (host/ops/
     * conv_wino.c tile_of, measured there; session 10), F(2x2, 3x3) below (a larger rounding
     * error: 4e-5 vs 2e-6 relative). Measured (PoCL, 2-core Xeon, quiet machine, ResNet-18 @112
     * batch 32): `facecl bench ops --filter k3s1` fwd / bwd_data ms, GEMM vs F(2x2) vs F(4x4):
     * 64x28^2 16.4 / 12.8 vs 9.5 / 9.7 vs 8.2 / 8.0; 128x14^2 11.1 / 9.9 vs 7.4 / 7.1; 256x7^2
     * 12.3 / 10.2 vs 7.9 / 8.0; 512x4^2 14.2 / 12.8 vs 11.0 / 11.2. `facecl bench net --model
     * resnet18 --size 112 --batch 32 --reps 5 --torch`, 3 alternating runs: train 41.4-43.1 ->
     * 47.1-48.2 img/s, infer 127.8-131.6 -> 169.5-182.2 img/s (PyTorch 64.7-67.2 / 198.8-217.2).
     * Session 6: both transforms 8 tiles at a time (cl/conv_wino.cl); process CPU ms (bench ops,
     * FACECL_NO_TUNE=1, loaded machine, 3 alternating runs) at 64x28^2 fwd / bwd_data: F(2x2)
     * 14.5-16.9 / 14.4-15.4 -> 11.0-12.8 / 11.0-11.9, F(4x4) 12.7-12.9 / 13.1-13.3 -> 8.6-9.5 /
     * 8.5-9.5; at 14x14 and 7x7 F(4x4) is not faster (measured with the 16 lowered to 7), hence
     * the 16. Error vs the double reference on that layer (tests/test_ops_conv.c harness, batch 2,
     * max rel err, PoCL) fwd / bwd_data: GEMM 1.8e-6 / 2.0e-6, F(2x2) 1.7e-6 / 2.3e-6, F(4x4)
     * 2.9e-5 / 4.1e-5 (the weight gradient of the same layer: 3.0e-5 on every algorithm).
     * test_parity, test_parity_nets, test_net, test_net_fuse and test_mpi pass with 2; with F(4x4)
     * on EVERY size (the 16 lowered to 1) all but test_mpi's 1- vs 2-rank state comparison
     * (bn1.bias 1.0x its tolerance) pass too. CPU default 2 (session 6; before, 1: F(4x4)'s scalar
     * transforms gained ~1 img/s). Session 4 left it 0 because tests/test_parity.c's regnet_x gradients were
     * 1.15e-2 from PyTorch (allowed 1e-2); that fixture (32 px) turned out to jump at float32's
     * rounding (PyTorch's own float32 gradients 4.6e-2 off: tools/torch_parity.py REGNET_X_SIZE) and
     * is now made at 48 px, where GEMM and Winograd are both 2.2e-4 off. Other devices: 0 (the
     * GPU-shaped kernels run there). */
    [FCL_T_CONV_WINO] = {FCL_TF_CONV, "CONV_WINO", 2, AS_CPU, 0, 0, 2, 0,
                         "dense 3x3 stride-1 convs (fwd, bwd data) when automatic: 0 GEMM, 1 Winograd F(2x2,3x3), "
                         "2 F(4x4,3x3)"},
    /* CONV_WGRAD 1: the weight gradient of dense 3x3 stride-1 convolutions through Winograd
     * F(3x3, 2x2) (host/ops/conv_wino_wgrad.c) where the algorithm is automatic and 16 or more
     * channels go in and out (or Winograd is forced); 2: F(3x3, 4x4) on outputs of at least 7x7
     * (WGRAD_F4_MIN in host/ops/conv_wino_wgrad.c; 16x16 before 9e0d53b), F(3x3, 2x2) below.
     * Largest relative error vs the double reference (tests/test_ops_conv.c): GEMM 5e-7 to 1e-6,
     * F(3x3, 2x2) 1-6e-6, F(3x3, 4x4) 1-2.4e-5. Measured (PoCL, 2-core Xeon,
     * quiet machine, load ~1), `facecl bench ops --filter k3s1` bwd_weight, ResNet-18 @112 batch
     * 32, 2 alternating runs, CONV_WGRAD 0 (the GEMM path as of 4236997: conv_gemm_nn, 8 x 2
     * float16 blocks) vs 2, wall ms (GFLOP/s as direct conv) / process CPU ms: 64x28^2 10.1-10.7
     * (173-183) / 19-20 vs 5.0-5.2 (357-373) / 9.4-9.6 (F(3x3, 4x4)); 128x14^2 8.5-10.3 / 16 vs
     * 5.0-5.3 (352-369) / 9.4-9.9; 256x7^2 7.6-7.9 / 15 vs 5.2-5.5 (338-357) / 10.1-10.6; 512x4^2
     * 8.9 (270) / 17.5 vs 5.9-6.0 (401-408) / 12.2-12.4. bench net resnet18 @112 b32 train:
     * 64.6-68.2 -> 74.0-75.4 img/s. (F(3x3, 4x4) on 512x4^2 was slower than F(3x3, 2x2) on the
     * earlier GEMM blocks: 36 planes of K x C for 1 tile an image.) Other devices: 0 (the
     * GPU-shaped kernels run there). */
    [FCL_T_CONV_WGRAD] = {FCL_TF_CONV, "CONV_WGRAD", 2, AS_CPU, 0, 0, 2, 0,
                          "dense 3x3 stride-1 weight gradients: 0 GEMM, 1 Winograd F(3x3,2x2), 2 F(3x3,4x4)"},
    /* CONV_BPANEL 1: conv_gemm_nn's right operand, where it is built (im2col, the gathered dy of
     * the data gradient, a linear layer's gathered input), is written in panels of CONV_NB columns
     * ([G][ncols / NB][K][NB]): the GEMM then streams it sequentially instead of one cache line
     * per row, rows a whole image row-length apart (beyond the stride prefetcher's reach).
     * ResNet-18 @112 b32 forward convs, CPU ms (bench ops, loaded Xeon, 3 alternating runs, 12 x 1
     * blocks): 172 rows vs 158 panels (stem 34.6 -> 28.0, layer3 23.4 -> 19.8). */
    [FCL_T_CONV_BPANEL] = {FCL_TF_CONV, "CONV_BPANEL", 1, AS_CPU, 0, 0, 1, 0,
                           "1: conv_gemm_nn's built right operands in panels of CONV_NB columns (0: rows)"},
    /* CONV_WG_NN: the weight gradient of layers with few output pixels an image runs on
     * conv_gemm_nn (dW = dy * col^T: dy packed, col^T in column panels by conv_im2col_tpanel)
     * instead of conv_gemm_nt, whose lanes run along the pixels and end in a horizontal sum per
     * output: with 16 pixels (ResNet-18's layer4 at 112) each output is a short reduction.
     * ResNet-18 @112 b32 weight gradients, CPU ms (bench ops, loaded Xeon, 3 alternating runs):
     * all on conv_gemm_nt 233, on conv_gemm_nn up to 256 pixels 167, all on conv_gemm_nn 175 (12 x
     * 1 blocks) / 151 (8 x 2); layer4 512x4^2 64.6 -> 26.4, layer3 34.4 -> 17.5, stem 28.3 -> 28.8.
     * Up to 256 only: MobileNetV2's 1x1s on 56^2 and 28^2 (few channels, many pixels) stay faster
     * on conv_gemm_nt (b2 expand 16x56^2>96: 7.5 vs 17.4 ms). Other devices: 0 (conv_gpu.cl's). */
    /* CPU256 as CPU (256): Zen 3, loaded, `bench ops --filter "l1 "` (ResNet-50's layer1 1x1s,
     * 784 px an image: on conv_gemm_nt at 256, conv_gemm_nn at 1024) CPU ms bwd_weight, 2
     * alternating pairs: 256 59.0 / 46.1, 1024 49.1 / 55.1 (noise: kept). */
    [FCL_T_CONV_WG_NN] = {FCL_TF_CONV, "CONV_WG_NN", 256, AS_CPU, 0, 0, 1 << 30, 0,
                          "weight gradient on conv_gemm_nn when output pixels an image <= this (0: never)"},
    /* CONV_PF: conv_gemm_nn prefetches its A and B streams this many k steps ahead (prefetcht0
     * through clang's builtin; 0: none). perf annotate had the inner loop stalled on its two B
     * loads; the hardware prefetchers do not keep up with 160 bytes per 8-cycle k step from L2.
     * Same results for every value. conv_gemm_nn alone (M x K x N, 8 x 2 float16, loaded Xeon,
     * GFLOP per CPU-second, medians of 3 alternating runs; one core's FMA limit ~220-228): 256 x
     * 1152 x 1568 154 -> 172, 512 x 2304 x 512 157 -> 172, 128 x 576 x 6272 125 -> 147, 64 x 64
     * x 25088 116 -> 131. 8 and 32+ were slower than 16-24. PoCL only (cl/conv.cl: Intel's CPU
     * runtime ran OpenCL's prefetch() ~1.8x slower, so other drivers get none). Other devices: 0. */
    /* CPU256 as CPU (16): Zen 3 (AVX2, 512 KiB L2), loaded, `bench ops --filter k3s2` (ResNet-18's
     * 3x3/2 GEMM rows, MobileNetV2's stem and dw rows) sum of CPU ms, 1 pair: 16 235.1 (fwd 71.4,
     * bwd_data 90.9, bwd_weight 72.9), 0 262.0 (87.8, 95.2, 78.9). */
    [FCL_T_CONV_PF] = {FCL_TF_CONV, "CONV_PF", 16, AS_CPU, 0, 0, 256, 0,
                       "software prefetch distance of conv_gemm_nn's A and B streams in k steps (0: none; PoCL only)"},
    /* CONV_IMPLICIT (bits: 1 forward, 2 data gradient, 8 weight gradient; 4: any strided conv with
     * more than one tap (the forward: with 16+ input channels), else 25 or more taps: ResNet's 7x7
     * stem) through the implicit GEMM of cl/conv_implicit.cl (host/ops/conv_implicit.c) instead of
     * im2col + conv_gemm_nn; the numbers are in conv_implicit.h. 13 (forward + weight gradient on
     * every strided dense conv) measured 10-40% less CPU time on ResNet-18's 3x3/2s and stem, but
     * with 5 or 13 tests/test_mpi.c's heads_centres_and_batchwise_losses_match (1 process vs 2
     * ranks, ArcFace, 2 steps) ends 3.1x its tolerance apart on conv1.weight: not a kernel bug
     * (session 10: each image's forward / data gradient is bit for bit batch-independent, tested in
     * tests/test_ops_conv_implicit.c) but one ReLU input after bn3 (conv3 on the implicit forward)
     * that sits at -7.5e-7 in 1 process and +1.9e-6 on 2 ranks (their sync-BN sums part by 1-3e-6
     * at the ReLU inputs under any tuning), which moves bn3.bias's gradient in that channel by
     * 9.4e-3 and all below it by 1-3e-2; under 9 (and CONV_WINO 0, CONV_TW 16) none crosses 0
     * (1 step measured). So the CPU default is 9 (the stem's forward and weight gradient: the stem's
     * weight gradient 20.3-20.9 -> 10.6-11.9 ms wall at batch 32, quiet, 2 runs each; test_mpi
     * passes with 9) and `facecl tune` may pick 13.
     * The data gradient (polyphase, no col2im) is mixed on this CPU (layer4.0 better, layer2.0
     * worse). Other devices: 0 (unmeasured). */
    /* CPU256 (25 = 9 + 16: also the weight gradient of strided convs below 25 taps with outputs 7+
     * wide, host/ops/conv_implicit.h): Zen 3, `bench ops --filter k3s2 --reps 5`, main 0b9a372
     * (wgrad_nn with CONV_TPANEL 8) vs CONV_IMPLICIT 13, bwd_weight. Quiet (load 0.1-0.2), 3
     * alternating runs, wall GFLOP/s: layer2.0 93.7/95.1/102.7 vs 122.0/121.9/121.6, layer3.0
     * 83.1/114.3/129.6 vs 164.7/118.0/149.1, layer4.0 (4 pixels wide: not taken) 160.0/136.4/155.6
     * vs 149.6/134.0/144.4; --kernels layer2.0: wgrad_nn 9.08 ms (conv_gemm_nn 73%, tpanel 19%, dy
     * pack 5%), implicit 6.73 ms (cim_wgrad 83%, cim_dyt 8%, cim_pad 6%). Loaded, CPU ms, layer2.0
     * lower in 11 of 11 pairs (mean 16.1 -> 13.8), layer3.0 in 4 of 9. The 3x3/2 forwards stay on
     * the GEMM (the reason for 9 above). */
    /* CPU (AVX-512) 29 = 25 + 4: Zen 5 (session 15), --filter k3s2 --reps 5, 6 rounds each. 9 vs 25
     * (with CONV_WINO_S2_BWD 1), bwd_weight: ResNet-18 layer2.0 9.79 -> 6.66, layer3.0 9.51 -> 5.78,
     * ResNet-50's l2 / l3 / l4 conv2 19.05 / 19.01 / 21.94 -> 13.50 / 12.82 / 17.36; layer4.0 (4 wide,
     * not taken) 9.87 / 9.05. Then 25 vs 29 (the 3x3/2 forwards with 16+ input channels too), fwd:
     * layer2.0 5.47 -> 4.80, layer3.0 5.47 -> 4.56, layer4.0 6.49 / 6.56 (level), ResNet-50 l2 / l3
     * conv2 11.81 / 12.16 -> 9.89 / 9.24; sums of the k3s2 rows lower in 5 of 6 rounds (198.1 / 191.1
     * / 191.1 / 200.1 / 173.5 / 169.2 -> 175.9 / 174.7 / 173.6 / 177.6 / 196.8 / 165.6); 27 (+ the
     * data gradient) and 31 level. MobileNetV2's 3 -> 32 stem under bit 16: 5.77 vs the GEMM's 4.41 (8
     * rounds), hence 16+ input channels for bit 16 too (host/ops/conv_implicit.c). tests/test_mpi.c (a
     * SiLU model, no ReLU kinks) passes with 29: the reason for 9 above (a ReLU input crossing 0
     * between 1 process and 2 ranks) is gone. */
    [FCL_T_CONV_IMPLICIT] = {FCL_TF_CONV, "CONV_IMPLICIT", 29, 25, 0, 0, 31, 0,
                             "strided dense convs on the implicit GEMM: bits 1 forward, 2 data gradient, 8 weight gradient, 4 also < 25 taps, 16 the weight gradient also < 25 taps at outputs >= 7 wide and 16+ input channels (0: none)"},
    /* CONV_NT_KB: the image chunks of the weight gradient on conv_gemm_nt (KiB of dy + x / im2col
     * rows a chunk streams; 0: CONV_COL_KB's chunks). Each work-item streams its TM rows of dy and
     * TN rows of B over the whole chunk; chunks that stay in L2 let the work-items that share rows
     * find them there instead of in memory. ResNet-50's 1x1s at 28^2 (112 px, batch 32, bench ops
     * bwd_weight, CPU ms, loaded, 2 alternating runs, CONV_COL_KB 65536 (one chunk) / 2048 / 1024 /
     * 512): l1 expand 64>256 17.1-23.7 / 11.0-13.1 / 10.6-10.8 / 10.3-11.5, l2 reduce0 256>128
     * 34.6-36.8 / 17.2-17.5 / 17.5-18.4 / 17.3-18.6, l1 reduce 256>64 17.3-19.2 / 9.1-10.4 / 9.8-10.2.
     * A chunk's partial sums are added to dW chunk by chunk (the order changes with the chunk, as
     * with CONV_COL_KB). Other devices: 0. */
    /* CPU256 as CPU (1024, tuned for a 1 MiB L2): on the Zen 3 (512 KiB L2), loaded, `bench ops
     * --filter "l1 "` (ResNet-50's layer1 1x1s at 28^2, the weight gradients on conv_gemm_nt) CPU ms
     * bwd_weight, 2 alternating pairs: 1024 38.5 / 42.7, 512 40.0 / 44.5 (within noise: kept). */
    [FCL_T_CONV_NT_KB] = {FCL_TF_CONV, "CONV_NT_KB", 1024, AS_CPU, 0, 0, 1 << 22, 0,
                          "image chunk budget (KiB) of the weight gradient on conv_gemm_nt (0: CONV_COL_KB)"},
    /* CONV_B1X1: 1x1 stride-1 convs (forward, data gradient) whose P pixels an image are not a
     * multiple of CONV_VW read x / dy in place as conv_gemm_nn's right operand when P >= this (and
     * >= CONV_VW): a vector running from one image into the next is two loads and a blend
     * (cl/conv.cl). Below it (0: always) they are gathered into column panels first
     * (conv_im2col_panel: a copy of x or dy per call). Same results either way. ResNet-50 at 112,
     * batch 32, bench ops CPU ms, loaded, 3 alternating runs, gathered vs in place: 14^2 (P 196,
     * one vector in 13 crosses) l2 reduce 512>128 fwd 10.9-11.8 -> 7.5-7.9, l2 expand bwd_data
     * 11.7-12.2 -> 7.5-8.3, l3 reduce0 fwd 17.5-18.1 -> 14.1-14.5; 7^2 (P 49, most blocks cross)
     * mixed: l3 expand fwd 8.4-8.6 -> 9.7-11.3, l4 reduce0 bwd_data 15.5-16.5 -> 17.7-18.2, l3
     * expand bwd_data 9.7-10.7 -> 8.3-9.6: so from 100 pixels. Other devices: 0. */
    /* CPU256 as CPU (100): Zen 3, loaded, `bench ops --filter "l3 "` (ResNet-50's layer3 1x1s, 49
     * px an image: gathered at 100, in place at 1) CPU ms fwd / bwd_data, 2 alternating pairs: 100
     * 70.4 / 70.5 and 71.0 / 72.3, 1 73.9 / 72.6 and 69.1 / 78.4 (kept). */
    [FCL_T_CONV_B1X1] = {FCL_TF_CONV, "CONV_B1X1", 100, AS_CPU, 0, 0, 1 << 30, 0,
                         "1x1 convs read x / dy in place from this many pixels an image when not whole vectors (0: never)"},
    /* CONV_CIM_ORDER: the grid order of the implicit GEMM's forward and data gradient
     * (cl/conv_implicit.cl): 1 panels of output channels fastest (consecutive work-items share
     * their pixels in L1, the re-laid weights stay in L2), 0 blocks of pixels fastest (each
     * panel re-streams the whole padded input). Same results either way. Zen 3 (AVX2, 2 cores,
     * loaded), bench ops CPU ms, blocks 6 x 2 float8 / TM4 TN3 TW8, 2 alternating runs, order 1
     * vs 0 under CONV_IMPLICIT 15 (GEMM = 9): layer2.0 fwd 19.2/14.8 vs 32.2/33.9 (GEMM
     * 20.5/19.8), layer3.0 fwd 16.3/13.1 vs 14.6/17.5 (15.2/14.4), layer4.0 fwd 23.0/19.7 vs
     * 20.0/19.0 (18.3/18.4); bwd_data layer2.0 25.0/18.2 vs 22.1/25.2 (19.5/17.3), layer3.0
     * 19.8/16.9 vs 18.8/28.6 (17.0/14.6), layer4.0 17.9/14.7 vs 15.8/16.9 (20.5/20.5); the stem's
     * forward (CONV_IMPLICIT 9, 3 runs) 36.3/35.6/36.9 vs 38.1/35.1/40.2. So 1; CONV_IMPLICIT
     * stays 9 (the 3x3/2s are level with the GEMM under order 1, within this noise): cpu256 1.
     * The AVX-512 CPU column and other devices keep 0 (session 7's order; unmeasured with 1). */
    [FCL_T_CONV_CIM_ORDER] = {FCL_TF_CONV, "CONV_CIM_ORDER", 0, 1, 0, 0, 1, 0,
                              "implicit GEMM grid order: 1 channel panels fastest, 0 pixel blocks fastest"},
    /* CONV_IM_KB: the image chunk budget (KiB of workspace rows) of the im2col GEMMs of
     * host/ops/conv_cpu.c (forward, data gradient, the weight gradient on conv_gemm_nn); 0:
     * CONV_COL_KB's (which Winograd keeps). Fewer, larger chunks: fewer im2col / GEMM / col2im
     * launches (and thread hand-overs) for the same work. Same forward and data gradient bits for
     * every value; the weight gradient adds its chunks' sums in order, so its rounding follows the
     * chunk (as with CONV_COL_KB). CPU256 (16384): Zen 3, loaded, `bench ops --filter k3s2`
     * (ResNet-18's 3x3/2 rows at 112, batch 32; layer2.0 64x28^2>128's forward is one chunk at
     * 16384, four at 4096), CPU ms of fwd + bwd_data + bwd_weight, 14 alternating pairs (5 set
     * through CONV_COL_KB, these rows' only chunks, then 9 as CONV_IM_KB 0 vs 16384): layer2.0
     * 4096 mean 62.1 (54.3-75.5), 16384 59.3 (48.0-67.3), 16384 lower in 10 pairs, higher in 4;
     * layer3.0 53.1 (41.4-61.6) vs 50.6 (42.0-63.9), lower in 10; layer4.0 (4.7 MiB) within
     * noise. 65536 no better (3 pairs), 1024 and 512 worse (2 pairs: layer2.0 92.7 / 64.9 and
     * 85.4 / 71.5). The AVX-512 CPU column and other devices: 0 (unmeasured). */
    [FCL_T_CONV_IM_KB] = {FCL_TF_CONV, "CONV_IM_KB", 0, 16384, 0, 0, 1 << 22, 0,
                          "image chunk budget (KiB) of the im2col GEMMs (0: CONV_COL_KB)"},
    /* CONV_C2I_ORDER: conv_col2im's grid (cl/conv.cl, the data gradient's scatter of dcol into dx,
     * one work-item per input channel of an image): 1 images fastest, so neighbouring work-items
     * read on along the same KH * KW dcol rows (long sequential runs the prefetchers follow); 0
     * channels fastest (each work-item's KH * KW runs of OH * OW floats a whole row apart). Same
     * values either way. CPU256 (1): Zen 3, loaded, perf record of `bench ops --filter "layer2.0
     * 64x28"` (ResNet-18 3x3/2 at 112, batch 32, all 3 directions), conv_col2im's samples over
     * conv_gemm_nn's, 0 vs 1 alternating: layer2.0 0.087-0.124 vs 0.071-0.103 (12 pairs, lower in
     * 10), layer3.0 0.055/0.059 vs 0.037/0.047, layer4.0 0.031/0.035 vs 0.027/0.028 (2 pairs each);
     * ~20% of col2im, ~2% of the data gradient (CPU ms within noise). Prefetching each work-item's
     * whole runs and dx plane instead was worse (0.13); conv_im2col_tpanel's grid likewise images
     * fastest: no gain (layer3.0 worse). Other columns 0 (unmeasured). */
    [FCL_T_CONV_C2I_ORDER] = {FCL_TF_CONV, "CONV_C2I_ORDER", 0, 1, 0, 0, 1, 0,
                              "conv_col2im's grid: 1 images fastest, 0 channels fastest"},
    /* CONV_IM_ROW 1: conv_im2col_panel (cl/conv.cl) loads a vector's pixels at column stride 1 or
     * 2 as one contiguous run of an input row kept every sw-th float (a second run blended in where
     * the vector crosses into the next row or image) instead of a scalar load + insert per lane
     * (0). Same values either way. CPU256 (1): Zen 3, loaded (load 5-8), `bench ops --filter k3s2
     * --kernels` (ResNet-18's 3x3/2 rows at 112, batch 32), 4 alternating pairs 0 vs 1, forward
     * CPU ms: layer2.0 14.4-16.7 -> 12.6-13.3 (lower in 4 of 4), layer3.0 12.7-17.3 -> 11.6-17.2
     * (3 of 4), layer4.0 14.3-20.1 -> 13.4-14.9 (4 of 4); conv_im2col_panel's samples over
     * conv_gemm_nn's (perf record, `--filter "layer2.0 64x28"`, 2 runs each) 0.146-0.148 -> 0.093-0.102.
     * Row strides that skip input rows (1x1 / 2) keep the gather (a shape rule in the kernel): the
     * runs' over-reads there fetch the skipped rows (layer2.ds 64x28^2>128 k1s2, the same ratio,
     * 2 pairs: gather 0.54-0.57, runs 0.74-0.79).
     * The AVX-512 CPU column (float16 vectors: rows of 14 cross up to 3 rows, which gather) and
     * other devices: 0 (unmeasured). */
    /* CPU (AVX-512) 1: Zen 5 (session 15), --filter k3s2 --reps 5, 5 rounds, everything else at this
     * table's values, 0 vs 1, fwd: ResNet-18 layer2.0 12.59 -> 7.14, ResNet-50 l2 conv2 24.88 ->
     * 14.13, MobileNetV2 stem 5.04 -> 2.40 (float16 vectors over 14-wide rows: the rows crossed take
     * the gather, a rule in the kernel). */
    [FCL_T_CONV_IM_ROW] = {FCL_TF_CONV, "CONV_IM_ROW", 1, 1, 0, 0, 1, 0,
                           "conv_im2col_panel: 1 row runs at stride 1 / 2 (two loads + blend a vector), 0 a gather per lane"},
    /* CONV_TPANEL: conv_im2col_tpanel (cl/conv_tpanel.cl: wgrad_nn's right operand, the transposed
     * im2col in column panels) on outputs at least this wide reads, per lane of taps, 8 pixels of its input
     * row as one vector (stride 2: a vload16's even floats) and transposes 8x8 blocks in registers;
     * narrower outputs (and 0: all) gather a scalar load per lane per pixel. Same values either
     * way. CPU256 (8): Zen 3, loaded, perf record of `bench ops --filter "0 64x28" --reps 20`
     * (ResNet-18 layer2.0 3x3/2 at 112, batch 32, 14-pixel output rows), conv_im2col_tpanel's
     * samples over conv_gemm_nn's, 0 vs 8 alternating: 0.066-0.074 vs 0.051-0.065 (7 pairs, lower
     * in 7; storing zeros alone, no loads, 0.032-0.034); ResNet-50's 1x1 512x14^2>128 0.110 / 0.144
     * vs 0.095 / 0.080. Process CPU ms of layer2.0's weight gradient (~4% expected) within noise
     * (5 pairs, 14.3-17.4 vs 14.7-17.1). On 7- and 4-pixel rows (layer3.0, layer4.0) the vectors
     * are half empty (row vectors at every width: layer4.0 0.029-0.033 vs 0.038-0.042, 2 pairs),
     * hence 8. Other columns 0 (unmeasured). */
    /* CPU (AVX-512) 8: Zen 5 (session 15), --filter k3s2 --reps 5, 5 rounds, everything else at this
     * table's values, sum of the k3s2 rows' CPU ms (ResNet-18 / ResNet-50 / MobileNetV2 3x3/2, all
     * directions) 0 vs 8: 272.9 / 237.0 / 239.1 / 242.8 / 305.2 -> 261.0 / 214.4 / 219.7 / 216.4 /
     * 263.6 (lower in 5 of 5). CONV_IM_KB 16384, CONV_C2I_ORDER 1 and CONV_CIM_ORDER 1 (the CPU256
     * values) in the same rounds were level (sums 272.1 / 231.4 / 207.9 / 227.1 / 233.9, 232.0 / 251.1
     * / 219.6 / 262.7 / 233.7 and 221.9 / 217.3 / 226.3 / 269.6 / 252.3 with the CPU values): the CPU
     * column keeps 0 for those. */
    [FCL_T_CONV_TPANEL] = {FCL_TF_CONV, "CONV_TPANEL", 8, 8, 0, 0, 1 << 16, 0,
                           "conv_im2col_tpanel reads input rows as vectors on outputs at least this wide (0: never)"},
    /* CONV_WT_SPLIT: a classifier's / margin head's data gradient dx = D W on gemm_wt (host/ops/
     * op_util.c gemm_ab_wt) at batches <= 64: 0 a launch per slice of 128 classes, each adding
     * into dx (83 at 10575); G > 0 one split-K launch of G groups of whole slices into partials
     * [G, batch, 512], then gemm_wt_sum adding them in a fixed order. CPU256 16: Zen 3, loaded,
     * `bench ops --filter "64x512>" --reps 5`, 0 vs 16 alternating, medians of 6 rounds, wall /
     * CPU ms: linear bwd_data 64x512>8631 8.74 / 13.37 -> 6.00 / 11.78, >10575 8.73 / 14.82 ->
     * 7.36 / 14.39 (--reps 9, 6 rounds: 7.06 / 10.95 -> 5.98 / 10.46, 9.35 / 13.46 -> 6.89 /
     * 13.33; 12 rounds at --reps 5: 6.59 / 10.87 -> 6.12 / 11.11, 7.68 / 12.73 -> 6.83 / 13.69); the six
     * margin heads' bwd at batch 64 level: wall / CPU sums 102.7 / 188.8 -> 100.5 / 195.8,
     * 82.2 / 153.8 -> 89.9 / 174.8, 87.7 / 162.8 -> 85.2 / 165.3 (12 rounds; wall lower in 5 of 6).
     * G 8: slower (a group's D range, 64 x 1.3k floats, leaves L2), 32 level with 16; batch 128
     * (partials 4 MiB) 0 vs 16 CPU ms 19.3 / 22.1 -> 21.2 / 26.7: hence <= 64 rows (FCL_WT_SPLIT_ROWS).
     * Other columns 0 (unmeasured). */
    [FCL_T_CONV_WT_SPLIT] = {FCL_TF_CONV, "CONV_WT_SPLIT", 0, 16, 0, 0, 1024, 0,
                             "dx = D W of linear layers / margin heads on gemm_wt: 0 a launch per slice, G: G slice groups in one launch + a sum"},
    /* CONV_WINO_S2 1: the forward of dense 3x3 stride-2 convolutions through the additions-only
     * stride-2 Winograd form (cl/conv_wino_s2.cl: 25 planes per 2x2 outputs, the GEMMs 1.44x fewer
     * flops than im2col's, fused with the output transform's sums) where the algorithm is automatic,
     * 16 or more channels go in and out and the output is at least 8x8 (WINO_S2_MIN, host/ops/
     * conv_wino.c); 0 im2col + conv_gemm_nn. Forcing Winograd takes it on any device. CPU256 1:
     * Zen 3, loaded (2 cores shared by 3), `FACECL_NO_TUNE=1 facecl bench ops --filter k3s2 --reps 9`,
     * 0 vs 1 alternating, fwd process CPU ms of ResNet-18 @112 b32 layer2.0 (64x28^2 -> 128x14^2):
     * 13.4-15.3 / 12.7-13.9 (4 pairs, lower in 3), 12.9-23.1 / 11.5-17.1 (6 pairs, lower in 4,
     * medians 15.2 -> 14.2), 13.2-18.0 / 14.6-18.4 (3 pairs, lower in 0; a busier minute). The
     * steadier measure, `perf record` of the row's 3 directions with the fwd kernels' samples over
     * the unchanged backward kernels' of the same process: 1 vs 0 0.81, 0.95, 1.07 (over
     * cim_wgrad), 0.85, 0.95 (over cim_* + col2im): ~8% less CPU for the forward, not the 1.44x
     * fewer GEMM flops: wino_s2_gemm runs ~1.2x conv_gemm_nn's samples per flop (its 25 planes of
     * U, 800 KiB at 64 -> 128, stream from L3 for every column block where im2col's 295 KiB of W
     * stay in L2) and the input transform's gathers cost ~2x im2col_panel. `bench net --model
     * resnet18` 3 alternating pairs train 66.9 / 64.4 / 57.7 -> 69.3 / 71.4 / 52.8 img/s, infer
     * 224.6 / 226.0 / 186.1 -> 244.8 / 233.5 / 209.4. layer3.0 (7x7 out) level (samples 1.30 vs
     * 1.34), layer4.0 (4x4 out: the 25-plane weight transform, 2x2-tile maps) ~1.46x slower: hence
     * the 8x8. Largest relative error vs the double reference (tests/test_ops_conv.c) 9e-7, as the
     * GEMM's. Other columns 0 (unmeasured). Session 13 (U and V in read order, U's 16 distinct
     * planes, 16 channels a wino_s2_input work-item: main 2111adf), the same command with --filter
     * "layer2.0 64x28", 0 vs 1: 13.8-20.0 / 10.5-15.0 (5 pairs, lower in 5, means 16.5 -> 12.5:
     * -24%); layer3.0 with the 8x8 lowered to 7x7, GEMM vs this: 8 pairs, lower in 3: still level. */
    /* CPU (AVX-512) 0: Zen 5 (session 15), --filter k3s2 --reps 5, 6 rounds (CONV_IM_ROW 1), the GEMM
     * vs the stride-2 form, fwd: ResNet-18 layer2.0 7.69 vs 10.47, ResNet-50 l2 conv2 15.02 vs 17.18:
     * the im2col GEMM's 16-wide vectors are ahead here. */
    [FCL_T_CONV_WINO_S2] = {FCL_TF_CONV, "CONV_WINO_S2", 0, 1, 0, 0, 1, 0,
                            "dense 3x3 stride-2 conv forwards when automatic: 0 im2col GEMM, 1 the stride-2 Winograd form"},
    /* CONV_WINO_S2_BWD 1: the data gradient of dense 3x3 stride-2 convolutions through the stride-2
     * Winograd form transposed (cl/conv_wino_s2_bwd.cl: 9 classes of dy tiles, 25 GEMMs with U^T
     * (25/36 of dcol's flops), a gather into dx) where the algorithm is automatic, 16 or more channels
     * go in and out and the output is at least 8x8 (S2B_MIN, host/ops/conv_wino_s2_bwd.c); 0
     * conv_gemm_nn's dcol = W^T dy + col2im. Forcing Winograd takes it on any device. CPU256 1: Zen 3,
     * loaded (2 cores shared by 4), `FACECL_NO_TUNE=1 facecl bench ops --filter k3s2 --reps 5`, 0 vs 1
     * alternating, bwd_data process CPU ms: ResNet-18 @112 b32 layer2.0 (64x28^2 -> 128x14^2)
     * 16.0-22.4 -> 11.6-15.3 (4 pairs, lower in 4) and 16.1-22.3 -> 11.0-18.2 (4 pairs, lower in 4);
     * ResNet-50's l2 conv2 (128x28^2 -> 14^2) 29.8-43.1 -> 22.8-31.4 (lower in 3 of 4). `perf record`
     * of layer2.0's 3 directions, the data gradient's samples over the unchanged cim_wgrad's: dy gather
     * + dcol GEMM + col2im 1.51 / 1.27 / 1.30 -> dy classes + GEMMs + gather 1.22 / 1.10 / 1.00 (3
     * pairs; the GEMMs' samples per flop 0.72x conv_gemm_nn's: one dy class block, K x 16 floats,
     * serves up to 4 planes from L1). Without the 8x8 bound layer3.0 (7x7 out) 12.1-18.7 ->
     * 14.6-22.6 and layer4.0 (4x4) 15.2-24.4 -> 20.8-22.6 (4 pairs each: lower in 1 and 1; the
     * 25-plane weight transform of 256 x 512 filters, 2x2-tile maps). Largest relative error vs the
     * double reference (tests/test_ops_conv.c) 1.8e-6. Other columns 0 (unmeasured). */
    /* CPU (AVX-512) 1: Zen 5 (session 15), --filter k3s2 --reps 5, 6 rounds, 0 vs 1, bwd_data:
     * ResNet-18 layer2.0 11.23 -> 6.79, ResNet-50 l2 conv2 18.23 -> 13.45; layer3.0 / layer4.0
     * (outputs below 8x8, not taken) level. */
    [FCL_T_CONV_WINO_S2_BWD] = {FCL_TF_CONV, "CONV_WINO_S2_BWD", 1, 1, 0, 0, 1, 0,
                                "dense 3x3 stride-2 conv data gradients when automatic: 0 dcol GEMM + col2im, 1 the stride-2 Winograd form"},
    /* CONV_WT_DX C > 0: a classifier's / margin head's data gradient dx = D W (host/ops/op_util.c
     * gemm_ab_wt) on gemm_wt_dx (cl/gemm_wt.cl): one launch, a work-item C column blocks x up to 128
     * rows, W read once in sub-slices copied to private memory; 0 gemm_wt (slices or CONV_WT_SPLIT).
     * CPU256 4 (2 first, below): Zen 3, loaded, `FACECL_NO_TUNE=1 facecl bench ops --filter ... --reps 5`, process CPU
     * ms, alternating rounds, 0 -> 2: linear bwd_data 128x512>10575 25.9 / 24.8 -> 20.9 / 21.5
     * (before the prefetch), 64x512>10575 (--reps 7) 13.5 / 17.3 / 13.2 -> 10.8 / 10.8 / 10.4;
     * ArcFace casia bwd b64 25.0 / 25.3 / 26.3 -> 23.7 / 23.9 / 23.8, b128 52.0 / 45.5 / 44.9 ->
     * 44.1 / 44.7 / 44.3. C 1 / 2 / 4, perf samples of gemm_wt_dx over gemm_wt's (linear
     * 128x512>10575, 3 rounds): 0.575 / 0.537 / 0.572, 0.593 / 0.554 / 0.521, 0.516 / 0.538 /
     * 0.509; 64x512 (2 vs 4) 0.536 / 0.539 / 0.539 vs 0.549 / 0.521 / 0.556. After the kernel's
     * later changes (prefetch spread, D from head_bwd_d's panels, unrolled panel runs; 18:02), 2 -> 4:
     * ArcFace / CosFace casia b64 (--reps 7), gemm_wt_dx's samples over head_bwd_dw's, 0.996 / 0.992 /
     * 1.007 / 0.982 / 0.981 / 0.957 -> 0.903 / 0.944 / 0.965 / 0.920 / 0.919 / 0.910 (6 pairs, lower
     * in 6: each page of W is walked by 8 work-items, not 16: the prefetches' stalls); b128 1.151 /
     * 1.154 / 1.136 vs 1.147 / 1.116 / 1.177 (level); linear b64 / b128 over gemm_wt's samples 0.553
     * / 0.582 / 0.519 / 0.542 -> 0.535 / 0.502 / 0.518 / 0.526. 4: 8 work-items at 512 columns (per
     * 128 rows) for 2 cores. Other columns 0 (unmeasured). */
    /* CPU (AVX-512) 4: Zen 5 (session 15), --filter "512>" --reps 3, 3 rounds, 0 vs 4 (2): linear
     * bwd_data 64 / 128 x 512 -> 8631 5.28 / 8.64 -> 4.28 (4.50) / 7.71 (8.57), -> 10575 7.00 / 11.17
     * -> 6.40 (5.49) / 8.97 (10.04); ArcFace bwd hw2p2 b64 / b128 15.38 / 19.93 -> 10.86 (11.61) /
     * 16.73 (18.31), casia 15.56 / 22.86 -> 14.71 (13.47) / 20.69 (22.25); sums of all rows 445.4 /
     * 474.5 / 432.0 -> 420.3 / 440.8 / 387.9 (2: 435.6 / 431.6 / 421.4). */
    [FCL_T_CONV_WT_DX] = {FCL_TF_CONV, "CONV_WT_DX", 4, 4, 0, 0, 8, 0,
                          "dx = D W of linear layers / margin heads: 0 gemm_wt (CONV_WT_SPLIT), C > 0 gemm_wt_dx, C column blocks a work-item"},
    /* CONV_WT_RB_FAST 1: gemm_wt's forward / dW launch (host/ops/op_util.c gemm_wt) with the row blocks
     * in grid dim 0 (a work-group's work-items: one column block's row blocks in a row); 0 column blocks
     * fastest. CPU256 1: Zen 3, loaded, `FACECL_NO_TUNE=1 facecl bench ops --filter arcface --reps 5`,
     * alternating 0 / 1 in one binary (FACECL_TUNING): fwd process CPU ms, hw2p2 64 / 128, casia 64 /
     * 128, 0 -> 1: 9.58 / 16.37 / 11.97 / 19.74 -> 9.08 / 17.30 / 10.36 / 18.25, 9.42 / 15.99 / 11.04 /
     * 19.64 -> 8.61 / 15.76 / 13.06 / 18.47 (lower in 6 of 8); perf samples of gemm_wt over
     * gemm_wt_dx's (same process) 1.450 / 1.358 / 1.490 -> 1.448 / 1.261 / 1.470 (3 pairs, lower in 3),
     * over head_bwd_dw's 1.477 / 1.522 / 1.498 -> 1.505 / 1.416 / 1.458 (lower in 2): ~-3%. The
     * column block's 32 KiB panel of x is reused by the next work-item (partly from L1) where before
     * every work-item took a different panel from L2. Other columns 0 (unmeasured). */
    /* CPU (AVX-512) 0: Zen 5 (session 15), --filter "512>" --reps 3, 5 rounds (CONV_WT_DX 4), 1 vs 0,
     * sums of all rows (the forwards are the ones it moves) 365.6 / 378.2 / 341.2 / 364.2 / 348.4 vs
     * 325.1 / 322.2 / 393.3 / 362.8 / 335.7: level, kept 0. */
    [FCL_T_CONV_WT_RB_FAST] = {FCL_TF_CONV, "CONV_WT_RB_FAST", 0, 1, 0, 0, 1, 0,
                               "gemm_wt forward / dW work-item order: 0 column blocks fastest, 1 row blocks fastest"},
};
/* the tuner and the tuning cache hold a family's values in arrays of FCL_TUNE_MAX_PARAMS (conv,
 * the last family, is the largest) */
_Static_assert(FCL_T_COUNT - FCL_T_CONV_MB <= FCL_TUNE_MAX_PARAMS, "conv has more parameters than FCL_TUNE_MAX_PARAMS");

const char *const fcl_tune_family_names[FCL_TF_COUNT] = {
    [FCL_TF_ELTWISE] = "eltwise", [FCL_TF_ACT] = "act",   [FCL_TF_BN] = "bn",     [FCL_TF_POOL] = "pool",
    [FCL_TF_LOSS] = "loss",       [FCL_TF_NORM] = "norm", [FCL_TF_ATTN] = "attn", [FCL_TF_CONV] = "conv",
};
