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
