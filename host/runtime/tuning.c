/* host/runtime/tuning.c: per-device kernel tuning values, passed to kernels as -D defines. */
#include <stdio.h>
#include <string.h>

#include "runtime/internal.h"

/* One row: for devices whose "vendor name" contains `match` (case-sensitive; NULL matches any)
 * and whose type has a bit of `type` (0: any), kernels of `family` get `defines`. The first
 * matching row wins, so put specific rows before the family's default row (match NULL, type 0).
 * Values are measured, not guessed: say where a row's numbers came from. */
typedef struct fcl_tune_row {
    const char *family;
    const char *match;
    cl_device_type type;
    const char *defines;
} fcl_tune_row;

static const fcl_tune_row rows[] = {
    /* generic elementwise kernels: elements per work-item (PoCL vectorises straight-line code) */
    {"eltwise", NULL, CL_DEVICE_TYPE_CPU, "-DFCL_WG=64 -DFCL_VEC=8"},
    {"eltwise", NULL, 0, "-DFCL_WG=256 -DFCL_VEC=4"},
    /* batch norm: FCL_BN_WG is the group size of the per-channel reductions (default
     * fcl_ctx_wg1d). On PoCL CPUs one work-item per channel streams it with float8s: `facecl
     * bench ops` (ResNet-18 @112, batch 32, 2-core EPYC) gave bn2d fwd_train 3.8 ms at WG 1 vs
     * 10.3 ms at WG 64 on the stem's 32x64x56^2 and 0.25 vs 1.2 ms on layer3 (WG 4: in between).
     * GPUs keep the 256-wide tree (the tests force both paths). Activations: FCL_VEC 8 was at
     * least as fast as 4 and 16 on the same rows (noisy shared machine). */
    {"bn", NULL, CL_DEVICE_TYPE_CPU, "-DFCL_VEC=8 -DFCL_BN_WG=1"},
    {"bn", NULL, 0, "-DFCL_VEC=4"},
    {"act", NULL, CL_DEVICE_TYPE_CPU, "-DFCL_VEC=8"},
    {"act", NULL, 0, "-DFCL_VEC=4"},
    /* conv2d (cl/conv.cl, cl/conv_dw.cl): register blocks of the GEMM kernels (CONV_MB rows x
     * CONV_NV float8 of conv_gemm_nn; CONV_TM x CONV_TN float8 accumulators of conv_gemm_nt),
     * work-group sizes along dim 0 (CONV_LNN / CONV_LNT for the GEMMs, CONV_LOCAL for the other
     * kernels; 0: the driver's choice) and the im2col chunk budget in KiB.
     * CPU row: `facecl bench ops` on PoCL 3.1, Zen 4, 2 threads. The machine was shared, so
     * blocks were compared on CPU time per call: NN 12x2 = 8x3 = 6x4 within noise, 14x2 10-20%
     * slower; NT 4x4 best (4x6, 8x3, 3x8 15-40% slower); chunk budget 1-8 MiB equal, 32 MiB 30%
     * slower. Work-groups of 1: PoCL's own choice is the largest group dividing the range, which
     * can leave one or two groups (one thread) per launch. Overridable at run time with
     * $FACECL_CONV_TUNING. The default row (GPUs) is unmeasured: smaller register blocks. */
    {"conv", NULL, CL_DEVICE_TYPE_CPU, "-DCONV_MB=12 -DCONV_NV=2 -DCONV_TM=4 -DCONV_TN=4 -DCONV_LNN=1 -DCONV_LNT=1 -DCONV_LOCAL=1 -DCONV_COL_KB=4096"},
    {"conv", NULL, 0, "-DCONV_MB=4 -DCONV_NV=1 -DCONV_TM=2 -DCONV_TN=2 -DCONV_LNN=16 -DCONV_LNT=16 -DCONV_COL_KB=65536"},
    {NULL, NULL, 0, NULL},
};

const char *fcl_ctx_tuning(const fcl_ctx *ctx_const, const char *family)
{
    fcl_ctx *ctx = (fcl_ctx *)ctx_const; /* the result is memoised in the context */
    size_t slots = sizeof ctx->tuning_family / sizeof ctx->tuning_family[0];
    size_t free_slot = slots;
    for (size_t i = 0; i < slots; i++) {
        if (!ctx->tuning_family[i][0]) {
            if (free_slot == slots) free_slot = i;
            continue;
        }
        if (!strcmp(ctx->tuning_family[i], family)) return ctx->tuning_buf[i];
    }
    char who[600];
    snprintf(who, sizeof who, "%s %s", ctx->dev.vendor, ctx->dev.name);
    const char *defines = "";
    for (const fcl_tune_row *r = rows; r->family; r++) {
        if (strcmp(r->family, family)) continue;
        if (r->match && !strstr(who, r->match)) continue;
        if (r->type && !(ctx->dev.type & r->type)) continue;
        defines = r->defines;
        break;
    }
    if (free_slot == slots) return defines; /* table full: still correct, just not memoised */
    snprintf(ctx->tuning_family[free_slot], sizeof ctx->tuning_family[free_slot], "%s", family);
    snprintf(ctx->tuning_buf[free_slot], sizeof ctx->tuning_buf[free_slot], "%s", defines);
    return ctx->tuning_buf[free_slot];
}
