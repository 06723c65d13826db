/* host/runtime/tuning.c: per-device kernel tuning values, passed to kernels as -D defines. */
#include <stdio.h>
#include <stdlib.h>
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
    {"bn", NULL, 0, "-DFCL_VEC=4 -DFCL_BN_WG=256"},
    /* pooling: POOL_GPU 1 picks the one-element-per-work-item kernels and the work-group
     * reduction of global average pooling (cl/pool.cl), in groups of POOL_WG; CPUs keep the
     * float4/float8 blocks. Row kernels of the losses (cl/loss.cl, margin.cl, metric_loss.cl):
     * FCL_ROW_WG > 0 puts a row on a work-group of that size (0: a work-item per row). The GPU
     * rows are unmeasured starting points (issue 9's `facecl tune` measures). */
    {"pool", NULL, CL_DEVICE_TYPE_CPU, "-DPOOL_GPU=0"},
    {"pool", NULL, 0, "-DPOOL_GPU=1 -DPOOL_WG=256"},
    {"loss", NULL, CL_DEVICE_TYPE_CPU, "-DFCL_ROW_WG=0"},
    {"loss", NULL, 0, "-DFCL_ROW_WG=128"},
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
    {"conv", NULL, CL_DEVICE_TYPE_CPU, "-DCONV_MB=12 -DCONV_NV=2 -DCONV_TM=4 -DCONV_TN=4 -DCONV_LNN=1 -DCONV_LNT=1 -DCONV_LOCAL=1 -DCONV_COL_KB=4096 -DCONV_GPU=0"},
    /* GPUs and accelerators: the GPU-shaped kernels (cl/conv_gpu.cl, cl/conv_dw_gpu.cl): a
     * 64x64 output tile per work-group of 16x16, 16 deep in local memory, 4x4 outputs per
     * work-item (CONV_GM/GN/GK/GWM/GWN; host/ops/conv_gpu.c falls back to smaller tiles where
     * the device's limits say so), groups of 256 for the per-element and reduction kernels
     * (CONV_GWG). A textbook starting point, unmeasured on a GPU so far: `facecl tune` (issue
     * 9) is where measured values come from. Tests force this row on CPUs too. */
    {"conv", NULL, 0, "-DCONV_MB=4 -DCONV_NV=1 -DCONV_TM=2 -DCONV_TN=2 -DCONV_LNN=16 -DCONV_LNT=16 -DCONV_COL_KB=65536 "
                      "-DCONV_GPU=1 -DCONV_GM=64 -DCONV_GN=64 -DCONV_GK=16 -DCONV_GWM=4 -DCONV_GWN=4 -DCONV_GWG=256"},
    {NULL, NULL, 0, NULL},
};

/* Defines naming what the device offers the kernels (appended to every family's row):
 * subgroups through cl_khr_subgroups (FCL_SG_KHR), cl_intel_subgroups (FCL_SG_INTEL) or, on an
 * OpenCL C 3.0 device without either extension, the optional core feature __opencl_c_subgroups
 * (FCL_SG_CORE, which needs -cl-std=CL3.0). cl/reduce.cl uses subgroup reductions only then. */
#define FCL_C_FEATURES 0x106F   /* CL_DEVICE_OPENCL_C_FEATURES (OpenCL 3.0 headers) */

/* 1 when the space-separated list has `w` as a whole entry. */
static int has_word(const char *list, const char *w)
{
    size_t n = strlen(w);
    for (const char *s = strstr(list, w); s; s = strstr(s + 1, w))
        if ((s == list || s[-1] == ' ') && (s[n] == ' ' || s[n] == '\0')) return 1;
    return 0;
}
static void device_caps(const fcl_ctx *ctx, char *buf, size_t size)
{
    char ext[8192] = "";
    cl_device_id d = ctx->dev.device_id;
    buf[0] = '\0';
    if (clGetDeviceInfo(d, CL_DEVICE_EXTENSIONS, sizeof ext - 1, ext, NULL) != CL_SUCCESS) ext[0] = '\0';
    ext[sizeof ext - 1] = '\0';
    if (has_word(ext, "cl_khr_subgroups")) {
        snprintf(buf, size, " -DFCL_SG_KHR=1");
        return;
    }
    if (has_word(ext, "cl_intel_subgroups")) {
        snprintf(buf, size, " -DFCL_SG_INTEL=1");
        return;
    }
    if (ctx->dev.c_major < 3) return;
    struct { cl_uint version; char name[64]; } feat[128];
    size_t got = 0;
    if (clGetDeviceInfo(d, FCL_C_FEATURES, sizeof feat, feat, &got) != CL_SUCCESS) return;
    for (size_t i = 0; i < got / sizeof feat[0] && i < 128; i++)
        if (!strncmp(feat[i].name, "__opencl_c_subgroups", sizeof feat[i].name)) {
            snprintf(buf, size, " -cl-std=CL3.0 -DFCL_SG_CORE=1");
            return;
        }
}

void fcl_ctx_device_defines(const fcl_ctx *ctx, char *buf, size_t size)
{
    device_caps(ctx, buf, size);
}

/* The memo slot of `family` (created empty when absent); NULL when the table is full. */
static char *slot_of(fcl_ctx *ctx, const char *family, int *fresh)
{
    size_t slots = sizeof ctx->tuning_family / sizeof ctx->tuning_family[0];
    size_t free_slot = slots;
    *fresh = 0;
    for (size_t i = 0; i < slots; i++) {
        if (!ctx->tuning_family[i][0]) {
            if (free_slot == slots) free_slot = i;
            continue;
        }
        if (!strcmp(ctx->tuning_family[i], family)) return ctx->tuning_buf[i];
    }
    if (free_slot == slots || strlen(family) >= sizeof ctx->tuning_family[0]) return NULL;
    snprintf(ctx->tuning_family[free_slot], sizeof ctx->tuning_family[free_slot], "%s", family);
    ctx->tuning_buf[free_slot][0] = '\0';
    *fresh = 1;
    return ctx->tuning_buf[free_slot];
}

static const char *table_row(const fcl_ctx *ctx, const char *family)
{
    char who[600];
    snprintf(who, sizeof who, "%s %s", ctx->dev.vendor, ctx->dev.name);
    for (const fcl_tune_row *r = rows; r->family; r++) {
        if (strcmp(r->family, family)) continue;
        if (r->match && !strstr(who, r->match)) continue;
        if (r->type && !(ctx->dev.type & r->type)) continue;
        return r->defines;
    }
    return "";
}

const char *fcl_ctx_tuning(const fcl_ctx *ctx_const, const char *family)
{
    fcl_ctx *ctx = (fcl_ctx *)ctx_const; /* the result is memoised in the context */
    int fresh;
    char *slot = slot_of(ctx, family, &fresh);
    if (slot && !fresh) return slot;
    const char *defines = table_row(ctx, family);
    if (!slot) return defines; /* table full: still correct, just not memoised (and no caps) */
    char caps[128];
    device_caps(ctx, caps, sizeof caps);
    snprintf(slot, sizeof ctx->tuning_buf[0], "%s%s", defines, caps);
    return slot;
}

fcl_status fcl_ctx_tuning_set(fcl_ctx *ctx, const char *family, const char *defines)
{
    int fresh;
    char caps[128];
    device_caps(ctx, caps, sizeof caps);
    if (!family || !defines)
        return FCL_ERR(&ctx->err, FCL_ERR_INVALID_ARG, "fcl_ctx_tuning_set: family or defines is NULL");
    if (strlen(defines) + strlen(caps) >= sizeof ctx->tuning_buf[0])
        return FCL_ERR(&ctx->err, FCL_ERR_INVALID_ARG, "fcl_ctx_tuning_set(%s): defines longer than %zu characters",
                       family, sizeof ctx->tuning_buf[0] - strlen(caps) - 1);
    char *slot = slot_of(ctx, family, &fresh);
    if (!slot)
        return FCL_ERR(&ctx->err, FCL_ERR_INVALID_ARG, "fcl_ctx_tuning_set(%s): family name too long or too many "
                       "families", family);
    snprintf(slot, sizeof ctx->tuning_buf[0], "%s%s", defines, caps);
    return FCL_OK;
}

fcl_status fcl_tuning_from_env(fcl_ctx *ctx, fcl_error *err)
{
    const char *env = getenv("FACECL_TUNING");
    for (const char *s = env ? env : ""; *s;) {
        const char *e = strchr(s, ';'), *colon = strchr(s, ':');
        size_t n = e ? (size_t)(e - s) : strlen(s);
        char fam[32], defs[480];
        if (n && (!colon || colon >= s + n || colon == s || (size_t)(colon - s) >= sizeof fam ||
                  (size_t)(s + n - colon - 1) >= sizeof defs))
            return FCL_ERR(err, FCL_ERR_INVALID_ARG, "FACECL_TUNING: entry \"%.*s\" is not family:defines "
                           "(entries separated by ';', e.g. \"loss:-DFCL_ROW_WG=64;pool:-DPOOL_GPU=1\")", (int)n, s);
        if (n) {
            snprintf(fam, sizeof fam, "%.*s", (int)(colon - s), s);
            snprintf(defs, sizeof defs, "%.*s", (int)(s + n - colon - 1), colon + 1);
            if (fcl_ctx_tuning_set(ctx, fam, defs)) {
                if (err) *err = ctx->err;
                return ctx->err.status;
            }
        }
        s = e ? e + 1 : s + n;
    }
    return FCL_OK;
}
