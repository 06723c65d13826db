/* tests/test_tune_gemm.c: every Xgemm parameter set `facecl tune` may choose on this device, forced through CLBlast's indirect GEMM, against the C reference on odd shapes (all transposes, beta, offsets, leading dimensions). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <facecl/facecl.h>

#include "helpers/small_net.h"
#include "ref/ref_gemm.h"

/* One GEMM on the device and the reference over the same buffers, the whole C buffer compared
 * (a write outside C's rows shows as a mismatch in the padding). */
static void check(fcl_ctx *ctx, fcl_gemm_params p, const char *cand)
{
    size_t lda = p.lda ? p.lda : (p.trans_a ? p.m : p.k), ldb = p.ldb ? p.ldb : (p.trans_b ? p.k : p.n);
    size_t ldc = p.ldc ? p.ldc : p.n;
    size_t na = p.a_off + (p.trans_a ? p.k : p.m) * lda + 3, nb = p.b_off + (p.trans_b ? p.n : p.k) * ldb + 3;
    size_t nc = p.c_off + p.m * ldc + 3;
    float *a = malloc(na * 4), *b = malloc(nb * 4), *c0 = malloc(nc * 4), *ref = malloc(nc * 4), *dev = malloc(nc * 4);
    fcl_rng r;
    fcl_rng_seed(&r, p.m * 7 + p.n * 3 + p.k);
    for (size_t i = 0; i < na; i++) a[i] = 2.0f * fcl_rng_uniform(&r) - 1.0f;
    for (size_t i = 0; i < nb; i++) b[i] = 2.0f * fcl_rng_uniform(&r) - 1.0f;
    for (size_t i = 0; i < nc; i++) c0[i] = 2.0f * fcl_rng_uniform(&r) - 1.0f;
    memcpy(ref, c0, nc * 4);
    fcl_ref_gemm(ref, a, b, &p);
    fcl_tensor ta, tb, tc;
    cr_assert_eq(fcl_tensor_alloc(ctx, &ta, 1, &na, FCL_F32), FCL_OK);
    cr_assert_eq(fcl_tensor_alloc(ctx, &tb, 1, &nb, FCL_F32), FCL_OK);
    cr_assert_eq(fcl_tensor_alloc(ctx, &tc, 1, &nc, FCL_F32), FCL_OK);
    cr_assert_eq(fcl_tensor_upload(ctx, &ta, a, na), FCL_OK);
    cr_assert_eq(fcl_tensor_upload(ctx, &tb, b, nb), FCL_OK);
    cr_assert_eq(fcl_tensor_upload(ctx, &tc, c0, nc), FCL_OK);
    cr_assert_eq(fcl_gemm(ctx, tc.buf, ta.buf, tb.buf, &p), FCL_OK, "%s: %s", cand, fcl_ctx_errmsg(ctx));
    cr_assert_eq(fcl_tensor_download(ctx, &tc, dev, nc), FCL_OK);
    for (size_t i = 0; i < nc; i++)
        cr_assert_leq(fabs((double)dev[i] - ref[i]), 1e-4 * (1.0 + fabs(ref[i])) * sqrt((double)p.k),
                      "%s: m=%zu n=%zu k=%zu ta=%d tb=%d: C[%zu] = %g, reference %g", cand, p.m, p.n, p.k, p.trans_a,
                      p.trans_b, i, dev[i], ref[i]);
    fcl_tensor_release(ctx, &ta);
    fcl_tensor_release(ctx, &tb);
    fcl_tensor_release(ctx, &tc);
    free(a); free(b); free(c0); free(ref); free(dev);
}

Test(tune_gemm, every_candidate_matches_the_reference, .timeout = 900)
{
    fcl_ctx *ctx = fcl_test_ctx(0);
    size_t cands[32][16];
    const char *names[16];
    int nn = fcl_gemm_param_names("Xgemm", names, 16);
    int nc = fcl_gemm_xgemm_candidates(ctx, cands, 32);
    cr_assert_eq(nn, 16);
    cr_assert_gt(nc, 0, "no candidate is valid on this device");
    /* every GEMM through the tuned (indirect) kernel, whatever its size */
    const char *thr_name = "XGEMM_MIN_INDIRECT_SIZE";
    size_t zero = 0;
    cr_assert_eq(fcl_gemm_override(ctx, "GemmRoutine", 1, &thr_name, &zero), FCL_OK, "%s", fcl_ctx_errmsg(ctx));
    /* the head's three GEMMs (NT forward, NN and TN backward) and TT, at sizes no tile divides;
     * then offsets and leading dimensions wider than the rows */
    static const fcl_gemm_params cases[] = {
        {.m = 37, .n = 71, .k = 131, .alpha = 0.75f},
        {.m = 37, .n = 71, .k = 131, .trans_b = 1, .alpha = 0.75f},
        {.m = 37, .n = 71, .k = 131, .trans_a = 1, .alpha = 0.75f, .beta = 1.0f},
        {.m = 37, .n = 71, .k = 131, .trans_a = 1, .trans_b = 1, .alpha = 0.75f},
        {.m = 9, .n = 130, .k = 65, .trans_b = 1, .alpha = 1.0f, .beta = 0.5f, .lda = 70, .ldb = 67, .ldc = 133,
         .a_off = 5, .b_off = 3, .c_off = 11},
    };
    for (int c = 0; c < nc; c++) {
        char label[400];
        size_t used = 0;
        for (int i = 0; i < nn; i++) used += (size_t)snprintf(label + used, sizeof label - used, "%s=%zu ", names[i], cands[c][i]);
        cr_assert_eq(fcl_gemm_override(ctx, "Xgemm", 16, names, cands[c]), FCL_OK, "%s", fcl_ctx_errmsg(ctx));
        for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) check(ctx, cases[k], label);
    }
    fcl_ctx_destroy(ctx);
}
