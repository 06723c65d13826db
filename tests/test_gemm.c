/* tests/test_gemm.c: fcl_gemm (CLBlast) against the C reference: shapes, transposes, beta, offsets, batches. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <facecl/facecl.h>

#include "helpers/small_net.h"

#include "ref/ref_gemm.h"

static void fill(float *x, size_t n, fcl_rng *r)
{
    for (size_t i = 0; i < n; i++) x[i] = 2.0f * fcl_rng_uniform(r) - 1.0f;
}

/* Runs one GEMM on the device and the reference over the same buffers; the whole C buffer is
 * compared, so a write outside the C region shows up as a mismatch against the reference. */
static void check(fcl_ctx *ctx, fcl_gemm_params p)
{
    size_t batch = p.batch ? p.batch : 1;
    size_t lda = p.lda ? p.lda : (p.trans_a ? p.m : p.k);
    size_t ldb = p.ldb ? p.ldb : (p.trans_b ? p.k : p.n);
    size_t ldc = p.ldc ? p.ldc : p.n;
    size_t a_rows = p.trans_a ? p.k : p.m, b_rows = p.trans_b ? p.n : p.k;
    size_t na = p.a_off + (batch - 1) * p.stride_a + a_rows * lda + 5;
    size_t nb = p.b_off + (batch - 1) * p.stride_b + b_rows * ldb + 5;
    size_t nc = p.c_off + (batch - 1) * p.stride_c + p.m * ldc + 5;
    float *a = malloc(na * 4), *b = malloc(nb * 4), *c0 = malloc(nc * 4), *cref = malloc(nc * 4), *cdev = malloc(nc * 4);
    fcl_rng r;
    fcl_rng_seed(&r, p.m * 131 + p.n * 17 + p.k);
    fill(a, na, &r);
    fill(b, nb, &r);
    fill(c0, nc, &r);
    memcpy(cref, c0, nc * 4);
    fcl_ref_gemm(cref, a, b, &p);

    fcl_tensor ta, tb, tc;
    size_t sa[1] = {na}, sb[1] = {nb}, sc[1] = {nc};
    cr_assert_eq(fcl_tensor_alloc(ctx, &ta, 1, sa, FCL_F32), FCL_OK);
    cr_assert_eq(fcl_tensor_alloc(ctx, &tb, 1, sb, FCL_F32), FCL_OK);
    cr_assert_eq(fcl_tensor_alloc(ctx, &tc, 1, sc, FCL_F32), FCL_OK);
    cr_assert_eq(fcl_tensor_upload(ctx, &ta, a, na), FCL_OK);
    cr_assert_eq(fcl_tensor_upload(ctx, &tb, b, nb), FCL_OK);
    cr_assert_eq(fcl_tensor_upload(ctx, &tc, c0, nc), FCL_OK);
    cr_assert_eq(fcl_gemm(ctx, tc.buf, ta.buf, tb.buf, &p), FCL_OK, "%s", fcl_ctx_errmsg(ctx));
    cr_assert_eq(fcl_tensor_download(ctx, &tc, cdev, nc), FCL_OK);

    double scale = 0;
    for (size_t i = 0; i < nc; i++) scale += fabs(cref[i]);
    scale /= (double)nc;
    double worst = 0;
    size_t at = 0;
    for (size_t i = 0; i < nc; i++) {
        double rel = fabs((double)cdev[i] - cref[i]) / fmax(fabs(cref[i]), scale);
        if (rel > worst) { worst = rel; at = i; }
    }
    cr_assert_leq(worst, 1e-4, "gemm m=%zu n=%zu k=%zu ta=%d tb=%d beta=%g batch=%zu: rel err %.3g at %zu (%g vs %g)",
                  p.m, p.n, p.k, p.trans_a, p.trans_b, p.beta, batch, worst, at, cdev[at], cref[at]);
    fcl_tensor_release(ctx, &ta);
    fcl_tensor_release(ctx, &tb);
    fcl_tensor_release(ctx, &tc);
    free(a); free(b); free(c0); free(cref); free(cdev);
}

static fcl_gemm_params mk(size_t m, size_t n, size_t k, int ta, int tb, float beta)
{
    fcl_gemm_params p = {0};
    p.m = m; p.n = n; p.k = k;
    p.trans_a = ta; p.trans_b = tb;
    p.alpha = 1.0f; p.beta = beta;
    return p;
}

Test(gemm, tiny_1x1x1)
{
    fcl_ctx *ctx = fcl_test_ctx(0);
    check(ctx, mk(1, 1, 1, 0, 0, 0.0f));
    check(ctx, mk(1, 1, 1, 1, 1, 0.5f));
    fcl_ctx_destroy(ctx);
}

Test(gemm, primes_all_transposes)
{
    fcl_ctx *ctx = fcl_test_ctx(0);
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            check(ctx, mk(7, 13, 31, ta, tb, 0.0f));
            check(ctx, mk(31, 7, 13, ta, tb, 0.0f));
        }
    fcl_ctx_destroy(ctx);
}

Test(gemm, beta_alpha_and_leading_dims_offsets)
{
    fcl_ctx *ctx = fcl_test_ctx(0);
    fcl_gemm_params p = mk(13, 7, 31, 0, 1, 0.75f);
    p.alpha = -1.5f;
    p.lda = 40; p.ldb = 33; p.ldc = 9;
    p.a_off = 3; p.b_off = 11; p.c_off = 2;
    check(ctx, p);
    p = mk(64, 100, 37, 1, 0, 1.0f); /* accumulate, as backward passes do */
    check(ctx, p);
    fcl_ctx_destroy(ctx);
}

Test(gemm, larger_shapes)
{
    fcl_ctx *ctx = fcl_test_ctx(0);
    check(ctx, mk(64, 3136, 576, 0, 0, 0.0f));  /* a 3x3 conv 64->64 at 56x56 as im2col GEMM */
    check(ctx, mk(129, 65, 257, 1, 1, 0.0f));
    fcl_ctx_destroy(ctx);
}

Test(gemm, strided_batches)
{
    fcl_ctx *ctx = fcl_test_ctx(0);
    fcl_gemm_params p = mk(7, 13, 31, 0, 0, 0.0f);
    p.batch = 3;
    p.stride_a = 7 * 31 + 4;
    p.stride_b = 31 * 13 + 1;
    p.stride_c = 7 * 13 + 2;
    check(ctx, p);
    p = mk(16, 49, 8, 1, 1, 0.5f);
    p.batch = 5;
    p.stride_a = 16 * 8;
    p.stride_b = 49 * 8;
    p.stride_c = 16 * 49;
    check(ctx, p);
    fcl_ctx_destroy(ctx);
}

Test(gemm, bad_arguments_are_named)
{
    fcl_ctx *ctx = fcl_test_ctx(0);
    fcl_tensor t;
    cr_assert_eq(fcl_tensor_alloc4(ctx, &t, 1, 1, 1, 16), FCL_OK);
    fcl_gemm_params p = mk(32, 32, 32, 0, 0, 0.0f); /* needs 1024 floats per operand; the block holds 64 */
    cr_assert_eq(fcl_gemm(ctx, t.buf, t.buf, t.buf, &p), FCL_ERR_CLBLAST);
    cr_assert(strstr(fcl_ctx_errmsg(ctx), "CLBlastInsufficientMemory"), "%s", fcl_ctx_errmsg(ctx));
    cr_assert(strstr(fcl_ctx_errmsg(ctx), "m=32 n=32 k=32"), "%s", fcl_ctx_errmsg(ctx));
    fcl_tensor_release(ctx, &t);
    fcl_ctx_destroy(ctx);
}

Test(gemm, tuning_file_errors_name_the_line)
{
    fcl_ctx *ctx = fcl_test_ctx(0);
    char path[] = "/tmp/facecl-tune-XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    FILE *f = fdopen(fd, "w");
    fprintf(f, "# comment\n\nXgemm KWG=abc\n");
    fclose(f);
    int applied = 0;
    cr_assert_eq(fcl_gemm_load_tuning(ctx, path, &applied), FCL_ERR_FORMAT);
    cr_assert(strstr(fcl_ctx_errmsg(ctx), ":3:"), "%s", fcl_ctx_errmsg(ctx));
    f = fopen(path, "w");
    fprintf(f, "Xgemm KWG=32\n"); /* CLBlast needs every parameter of the kernel */
    fclose(f);
    cr_assert_eq(fcl_gemm_load_tuning(ctx, path, &applied), FCL_ERR_CLBLAST);
    cr_assert(strstr(fcl_ctx_errmsg(ctx), "CLBlastMissingOverrideParameter"), "%s", fcl_ctx_errmsg(ctx));
    cr_assert_eq(fcl_gemm_load_tuning(ctx, "/nonexistent/tuning.txt", &applied), FCL_OK);
    cr_assert_eq(applied, 0);
    unlink(path);
    fcl_ctx_destroy(ctx);
}
