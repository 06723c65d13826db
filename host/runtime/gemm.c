/* host/runtime/gemm.c: row-major SGEMM through CLBlast (checked), and tuned-parameter loading (the C reference is test-only: host/ref/gemm.c). */
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
