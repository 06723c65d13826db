/* host/runtime/gemm.c: row-major SGEMM through CLBlast (checked), its tunable parameters (names, ranges, constraints) and their loading (the C reference is test-only: host/ref/gemm.c). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <clblast_c.h>
#include "facecl/gemm.h"
#include "runtime/internal.h"

/* Leading dimensions default to the stored row length of each operand. */
static void resolve(const fcl_gemm_params *p, size_t *lda, size_t *ldb, size_t *ldc)
{
    *lda = p->lda ? p->lda : (p->trans_a ? p->m : p->k);
    *ldb = p->ldb ? p->ldb : (p->trans_b ? p->k : p->n);
    *ldc = p->ldc ? p->ldc : p->n;
}

fcl_status fcl_gemm(fcl_ctx *ctx, cl_mem c, cl_mem a, cl_mem b, const fcl_gemm_params *p)
{
    size_t lda, ldb, ldc;
    resolve(p, &lda, &ldb, &ldc);
    if (p->m == 0 || p->n == 0) return FCL_OK;
    if (p->k == 0) { /* C = beta * C: CLBlast rejects k == 0, so scale with a 1-wide GEMM instead */
        return FCL_ERR(&ctx->err, FCL_ERR_INVALID_ARG, "fcl_gemm: k must be > 0 (m=%zu n=%zu)", p->m, p->n);
    }
    CLBlastTranspose ta = p->trans_a ? CLBlastTransposeYes : CLBlastTransposeNo;
    CLBlastTranspose tb = p->trans_b ? CLBlastTransposeYes : CLBlastTransposeNo;
    cl_command_queue q = ctx->queue;
    CLBlastStatusCode rc;
    size_t batch = p->batch ? p->batch : 1;
    if (batch == 1) {
        rc = CLBlastSgemm(CLBlastLayoutRowMajor, ta, tb, p->m, p->n, p->k, p->alpha, a, p->a_off, lda, b, p->b_off, ldb,
                          p->beta, c, p->c_off, ldc, &q, NULL);
    } else {
        rc = CLBlastSgemmStridedBatched(CLBlastLayoutRowMajor, ta, tb, p->m, p->n, p->k, p->alpha, a, p->a_off, lda,
                                        p->stride_a, b, p->b_off, ldb, p->stride_b, p->beta, c, p->c_off, ldc,
                                        p->stride_c, batch, &q, NULL);
    }
    if (rc == CLBlastSuccess) return FCL_OK;
    return FCL_ERR(&ctx->err, FCL_ERR_CLBLAST, "CLBlastSgemm%s(m=%zu n=%zu k=%zu ta=%d tb=%d lda=%zu ldb=%zu ldc=%zu batch=%zu): %s",
                   batch > 1 ? "StridedBatched" : "", p->m, p->n, p->k, p->trans_a, p->trans_b, lda, ldb, ldc, batch,
                   fcl_clblast_status_name(rc));
}

void fcl_gemm_tuning_path(const fcl_ctx *ctx, char *buf, size_t size)
{
    char key[64];
    fcl_device_key(&ctx->dev, key, sizeof key);
    snprintf(buf, size, "%s/clblast-%s.txt", ctx->cache_dir, key);
}

/* Format, one kernel per line, '#' comments:  Xgemm GEMMK=0 KREG=1 KWG=32 ...
 * CLBlast needs every parameter of a kernel; it reports the missing one. */
fcl_status fcl_gemm_load_tuning(fcl_ctx *ctx, const char *path, int *applied)
{
    fcl_status st = FCL_OK;
    char line[4096];
    int lineno = 0;
    *applied = 0;
    FILE *f = fopen(path, "r");
    if (!f) return FCL_OK; /* not tuned: CLBlast's defaults apply */
    while (fgets(line, sizeof line, f)) {
        lineno++;
        char *hash = strchr(line, '#');
        if (hash) *hash = '\0';
        const char *names[64];
        size_t values[64], n = 0;
        char *save = NULL, *kernel = strtok_r(line, " \t\r\n", &save);
        if (!kernel) continue;
        for (char *tok = strtok_r(NULL, " \t\r\n", &save); tok; tok = strtok_r(NULL, " \t\r\n", &save)) {
            char *eq = strchr(tok, '=');
            char *end = NULL;
            if (!eq || eq == tok || n == 64) {
                st = FCL_ERR(&ctx->err, FCL_ERR_FORMAT, "%s:%d: expected NAME=VALUE, got '%s'", path, lineno, tok);
                goto fail;
            }
            *eq = '\0';
            unsigned long v = strtoul(eq + 1, &end, 10);
            if (!isdigit((unsigned char)eq[1]) || *end) {
                st = FCL_ERR(&ctx->err, FCL_ERR_FORMAT, "%s:%d: value of %s is not a non-negative integer", path, lineno, tok);
                goto fail;
            }
            names[n] = tok;
            values[n++] = v;
        }
        CLBlastStatusCode rc = CLBlastOverrideParameters(ctx->dev.device_id, kernel, CLBlastPrecisionSingle, n, names, values);
        if (rc != CLBlastSuccess) {
            st = FCL_ERR(&ctx->err, FCL_ERR_CLBLAST, "%s:%d: CLBlastOverrideParameters(%s): %s", path, lineno, kernel,
                         fcl_clblast_status_name(rc));
            goto fail;
        }
        (*applied)++;
    }
fail:
    fclose(f);
    return st;
}

/* The CLBlast kernels `facecl tune` searches, their parameters (CLBlast needs all of a kernel's
 * names in an override, in any order) and the values a tuning file may hold: a power of two in
 * [lo, hi] (pow2) or any integer in it. GEMMK 1 (the 2-D register tiling) is outside the search,
 * so a file asking for it is refused rather than trusted. */
typedef struct gemm_param {
    const char *name;
    size_t lo, hi;
    int pow2;
} gemm_param;

static const gemm_param XGEMM[] = {
    {"GEMMK", 0, 0, 0}, {"KREG", 1, 1, 0},   {"KWG", 1, 256, 1}, {"KWI", 1, 16, 1},
    {"MDIMA", 1, 64, 1}, {"MDIMC", 1, 64, 1}, {"MWG", 4, 256, 1}, {"NDIMB", 1, 64, 1},
    {"NDIMC", 1, 64, 1}, {"NWG", 4, 256, 1}, {"SA", 0, 1, 0},    {"SB", 0, 1, 0},
    {"STRM", 0, 1, 0},  {"STRN", 0, 1, 0},   {"VWM", 1, 16, 1},  {"VWN", 1, 16, 1},
};
static const gemm_param XGEMM_DIRECT[] = {
    {"KWID", 1, 16, 1},  {"MDIMAD", 1, 64, 1}, {"MDIMCD", 1, 64, 1}, {"NDIMBD", 1, 64, 1},
    {"NDIMCD", 1, 64, 1}, {"PADA", 0, 1, 0},    {"PADB", 0, 1, 0},    {"VWMD", 1, 16, 1},
    {"VWND", 1, 16, 1},  {"WGD", 4, 256, 1},
};
/* m*n*k below XGEMM_MIN_INDIRECT_SIZE^3 goes to XgemmDirect, else to Xgemm (+ pad/transpose). */
static const gemm_param GEMM_ROUTINE[] = {{"XGEMM_MIN_INDIRECT_SIZE", 0, 65536, 0}};

static const struct {
    const char *kernel;
    const gemm_param *params;
    size_t n;
} KERNELS[] = {
    {"Xgemm", XGEMM, sizeof XGEMM / sizeof XGEMM[0]},
    {"XgemmDirect", XGEMM_DIRECT, sizeof XGEMM_DIRECT / sizeof XGEMM_DIRECT[0]},
    {"GemmRoutine", GEMM_ROUTINE, 1},
};

int fcl_gemm_param_names(const char *kernel, const char **names, int max)
{
    for (size_t i = 0; i < sizeof KERNELS / sizeof KERNELS[0]; i++) {
        if (strcmp(KERNELS[i].kernel, kernel)) continue;
        for (size_t j = 0; j < KERNELS[i].n && (int)j < max; j++) names[j] = KERNELS[i].params[j].name;
        return (int)KERNELS[i].n;
    }
    return -1;
}

/* The value of `name` in the set (the caller checked that every name is present). */
static size_t val(size_t n, const char *const *names, const size_t *values, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(names[i], name)) return values[i];
    return 0;
}

static int multiple(size_t x, size_t of) { return of && x % of == 0; }

/* CLBlast's own constraints on a parameter set (its tuners' XgemmSetConstraints and
 * XgemmDirectSetConstraints) plus this device's work-group and local-memory limits. A set that
 * breaks one would fail to build or compute garbage. "" when fine, else why. */
static void constraints(const fcl_ctx *ctx, const char *kernel, size_t n, const char *const *names,
                        const size_t *v, char *why, size_t size)
{
#define V(name) val(n, names, v, name)
    size_t max_wg = ctx->dev.max_work_group ? ctx->dev.max_work_group : 1;
    uint64_t local = ctx->dev.local_mem;
    size_t threads = 0;        /* work-items per group and local-memory bytes of the set */
    uint64_t bytes = 0;
    const char *group = "";    /* how the group size is spelled in the kernel's parameters */
    why[0] = '\0';
    if (!strcmp(kernel, "Xgemm")) {
        size_t mwg = V("MWG"), nwg = V("NWG"), kwg = V("KWG"), mdimc = V("MDIMC"), ndimc = V("NDIMC");
        size_t mdima = V("MDIMA"), ndimb = V("NDIMB"), vwm = V("VWM"), vwn = V("VWN");
        threads = mdimc * ndimc;
        bytes = 4 * (uint64_t)kwg * (V("SA") * mwg + V("SB") * nwg);
        group = "MDIMC*NDIMC";
        if (!multiple(kwg, V("KWI"))) snprintf(why, size, "KWG is not a multiple of KWI");
        else if (!multiple(mwg, mdimc * vwm) || !multiple(mwg, mdima * vwm))
            snprintf(why, size, "MWG is not a multiple of MDIMC*VWM and MDIMA*VWM");
        else if (!multiple(nwg, ndimc * vwn) || !multiple(nwg, ndimb * vwn))
            snprintf(why, size, "NWG is not a multiple of NDIMC*VWN and NDIMB*VWN");
        else if (!multiple(threads, mdima) || !multiple(threads, ndimb) || !multiple(kwg, threads / mdima) ||
                 !multiple(kwg, threads / ndimb))
            snprintf(why, size, "KWG is not a multiple of MDIMC*NDIMC/MDIMA and MDIMC*NDIMC/NDIMB");
    } else if (!strcmp(kernel, "XgemmDirect")) {
        size_t wgd = V("WGD"), mdimcd = V("MDIMCD"), ndimcd = V("NDIMCD"), mdimad = V("MDIMAD");
        size_t ndimbd = V("NDIMBD"), vwmd = V("VWMD"), vwnd = V("VWND");
        threads = mdimcd * ndimcd;
        bytes = 4 * (uint64_t)wgd * (2 * wgd + V("PADA") + V("PADB"));
        group = "MDIMCD*NDIMCD";
        if (!multiple(wgd, V("KWID"))) snprintf(why, size, "WGD is not a multiple of KWID");
        else if (!multiple(wgd, mdimcd * vwmd) || !multiple(wgd, ndimcd * vwnd) || !multiple(wgd, mdimad * vwmd) ||
                 !multiple(wgd, ndimbd * vwnd))
            snprintf(why, size, "WGD is not a multiple of MDIMCD*VWMD, NDIMCD*VWND, MDIMAD*VWMD and NDIMBD*VWND");
        else if (!multiple(threads, mdimad) || !multiple(threads, ndimbd) || !multiple(wgd, threads / mdimad) ||
                 !multiple(wgd, threads / ndimbd))
            snprintf(why, size, "WGD is not a multiple of MDIMCD*NDIMCD/MDIMAD and MDIMCD*NDIMCD/NDIMBD");
    }
    /* the device's limits, the same for both kernels */
    if (why[0]) return;
    if (threads > max_wg) snprintf(why, size, "work-group %s = %zu > the device's %zu", group, threads, max_wg);
    else if (bytes > local) snprintf(why, size, "needs %llu bytes of local memory, the device has %llu",
                                     (unsigned long long)bytes, (unsigned long long)local);
#undef V
}

fcl_status fcl_gemm_check_override(fcl_ctx *ctx, const char *kernel, size_t n, const char *const *names,
                                   const size_t *values)
{
    size_t k = 0, nk = sizeof KERNELS / sizeof KERNELS[0];
    while (k < nk && strcmp(KERNELS[k].kernel, kernel)) k++;
    if (k == nk)
        return FCL_ERR(&ctx->err, FCL_ERR_INVALID_ARG, "CLBlast kernel '%s' is not one facecl tunes "
                       "(Xgemm, XgemmDirect, GemmRoutine)", kernel);
    if (n != KERNELS[k].n)
        return FCL_ERR(&ctx->err, FCL_ERR_INVALID_ARG, "%s: %zu parameters given, CLBlast needs all %zu", kernel, n,
                       KERNELS[k].n);
    for (size_t j = 0; j < KERNELS[k].n; j++) {
        const gemm_param *p = &KERNELS[k].params[j];
        size_t found = 0, at = 0;
        for (size_t i = 0; i < n; i++)
            if (!strcmp(names[i], p->name)) { found++; at = i; }
        if (found != 1)
            return FCL_ERR(&ctx->err, FCL_ERR_INVALID_ARG, "%s: parameter %s %s", kernel, p->name,
                           found ? "given twice" : "missing");
        size_t x = values[at];
        if (x < p->lo || x > p->hi || (p->pow2 && (x & (x - 1))))
            return FCL_ERR(&ctx->err, FCL_ERR_INVALID_ARG, "%s: %s=%zu out of range (%s%zu..%zu)", kernel, p->name,
                           x, p->pow2 ? "a power of two in " : "", p->lo, p->hi);
    }
    char why[256];
    constraints(ctx, kernel, n, names, values, why, sizeof why);
    if (why[0]) return FCL_ERR(&ctx->err, FCL_ERR_INVALID_ARG, "%s: %s", kernel, why);
    return FCL_OK;
}

fcl_status fcl_gemm_override(fcl_ctx *ctx, const char *kernel, size_t n, const char *const *names,
                             const size_t *values)
{
    fcl_status st = fcl_gemm_check_override(ctx, kernel, n, names, values);
    if (st) return st;
    CLBlastStatusCode rc = CLBlastOverrideParameters(ctx->dev.device_id, kernel, CLBlastPrecisionSingle, n,
                                                     (const char **)names, values);
    if (rc != CLBlastSuccess)
        return FCL_ERR(&ctx->err, FCL_ERR_CLBLAST, "CLBlastOverrideParameters(%s): %s", kernel,
                       fcl_clblast_status_name(rc));
    return FCL_OK;
}

/* The Xgemm sets `facecl tune` tries, in order (a budget cut keeps the first): the register tile
 * per work-item (MWG/MDIMC x NWG/NDIMC) and the vector widths VWM/VWN are what matter on a CPU
 * (PoCL vectorises inside a work-item): 8x8 floats
 * per work-item in float8s measured 2-3x CLBlast's 4x8 in float4 on the ArcFace head's GEMMs
 * (2-core Xeon, PoCL 3.1); 4x4 per work-item in groups of 256 was 8x slower, 16x16 in float16
 * 2x slower than the defaults (not tried). Local-memory tiles (SA = SB = 1) still pay on PoCL
 * when k is long (the head's dX = dY W, k = 10,575: 4x faster): PoCL runs a work-group's items
 * one after the other between barriers, so without them each item streams all of k alone and
 * the group's tiles are not reused from cache. GPUs want local-memory tiles (SA = SB = 1). MDIMA = MDIMC and
 * NDIMB = NDIMC throughout; GEMMK 0, KREG 1, STRM = STRN = 0. */
typedef struct xg_cand {
    int mwg, nwg, mdimc, ndimc, vwm, vwn, kwg, kwi, sa;
} xg_cand;

static const xg_cand CPU_CANDS[] = {
    {64, 128, 8, 16, 8, 8, 32, 2, 1},   {64, 64, 8, 8, 8, 8, 32, 2, 0},     {64, 128, 8, 16, 8, 8, 32, 2, 0},
    {64, 64, 8, 8, 8, 8, 32, 2, 1},     {128, 64, 16, 8, 8, 8, 32, 2, 1},   {64, 64, 8, 8, 8, 8, 64, 4, 0},
    {128, 64, 16, 8, 8, 8, 32, 2, 0},   {64, 128, 8, 16, 8, 8, 64, 2, 1},   {32, 64, 4, 8, 8, 8, 32, 2, 0},
    {128, 64, 8, 8, 16, 8, 32, 2, 0},
};
static const xg_cand GPU_CANDS[] = {
    {64, 64, 16, 16, 4, 4, 16, 2, 1},   {128, 128, 16, 16, 8, 8, 16, 2, 1}, {64, 64, 8, 8, 8, 8, 16, 2, 1},
    {128, 64, 16, 16, 8, 4, 32, 2, 1},  {32, 32, 8, 8, 4, 4, 16, 1, 1},
};

int fcl_gemm_xgemm_candidates(fcl_ctx *ctx, size_t (*values)[16], int max)
{
    int gpu = (ctx->dev.type & CL_DEVICE_TYPE_GPU) != 0, n = 0;
    const xg_cand *list = gpu ? GPU_CANDS : CPU_CANDS;
    size_t nl = gpu ? sizeof GPU_CANDS / sizeof GPU_CANDS[0] : sizeof CPU_CANDS / sizeof CPU_CANDS[0];
    const char *names[16];
    int nn = fcl_gemm_param_names("Xgemm", names, 16);
    fcl_error saved = ctx->err; /* a candidate this device cannot run is skipped, not an error */
    for (size_t c = 0; c < nl && n < max; c++) {
        const xg_cand *x = &list[c];
        size_t *v = values[n];
        for (int i = 0; i < nn; i++) {
            const char *p = names[i];
            v[i] = !strcmp(p, "KREG") ? 1 : !strcmp(p, "KWG") ? (size_t)x->kwg : !strcmp(p, "KWI") ? (size_t)x->kwi
                 : !strcmp(p, "MDIMA") || !strcmp(p, "MDIMC") ? (size_t)x->mdimc : !strcmp(p, "MWG") ? (size_t)x->mwg
                 : !strcmp(p, "NDIMB") || !strcmp(p, "NDIMC") ? (size_t)x->ndimc : !strcmp(p, "NWG") ? (size_t)x->nwg
                 : !strcmp(p, "SA") || !strcmp(p, "SB") ? (size_t)x->sa : !strcmp(p, "VWM") ? (size_t)x->vwm
                 : !strcmp(p, "VWN") ? (size_t)x->vwn : 0; /* GEMMK, STRM, STRN */
        }
        if (!fcl_gemm_check_override(ctx, "Xgemm", (size_t)nn, names, v)) n++;
    }
    ctx->err = saved;
    return n;
}

/* CONV_LINEAR 0 is what `facecl tune` may choose from a network's step, where the only GEMMs are
 * the network's own small classifier (ResNet-18: 32 x 512 -> 1000, 2^24 multiply-adds). That says
 * nothing about a margin head 20-80x larger (64-128 x 512 -> 8631-10575), where CLBlast, tuned or
 * not, took 1.8x the conv kernels' time before they got faster still: so on the CPU kernels such
 * GEMMs never go to CLBlast, and tuning cannot make a head slower. */
int fcl_gemm_clblast_may_run(const fcl_ctx *ctx, size_t m, size_t n, size_t k)
{
    return fcl_tuning_int(ctx, FCL_T_CONV_GPU) || (double)m * (double)n * (double)k < 67108864.0;
}
