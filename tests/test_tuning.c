/* tests/test_tuning.c: the typed tuning table (facecl/tuning.h): its integrity, per-context values, checks, overrides and the build options made from them. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <facecl/facecl.h>

static fcl_ctx *make_ctx(fcl_status want, char *msg, size_t size)
{
    fcl_ctx_opts o = {0};
    o.device = getenv("FACECL_TEST_DEVICE");
    o.no_disk_cache = 1;
    fcl_ctx *ctx = NULL;
    fcl_error e = {0};
    fcl_status st = fcl_ctx_create(&ctx, &o, &e);
    cr_assert_eq(st, want, "context: %s", e.msg);
    if (msg) snprintf(msg, size, "%s", e.msg);
    return ctx;
}

/* Every id has an entry; a family's parameters are contiguous, uniquely named, and their
 * defaults pass the family's own check. */
Test(tuning, table_is_whole_and_consistent)
{
    int seen = 0;
    for (int f = 0; f < FCL_TF_COUNT; f++) {
        const char *name = fcl_tune_family_name((fcl_tune_family)f);
        cr_assert_not_null(name);
        cr_expect_eq(fcl_tune_family_find(name), f);
        fcl_tune_id first;
        int n = fcl_tune_family_params((fcl_tune_family)f, &first);
        cr_assert_gt(n, 0, "family %s has no parameters", name);
        int cpu[FCL_T_COUNT], other[FCL_T_COUNT];
        for (int i = 0; i < n; i++) {
            const fcl_tune_param *p = fcl_tune_param_info((fcl_tune_id)(first + i));
            cr_assert_not_null(p);
            cr_assert_not_null(p->name, "id %d has no entry", first + i);
            cr_assert_not_null(p->doc);
            cr_expect_eq((int)p->family, f, "%s: parameters of a family must be contiguous", p->name);
            cr_expect_eq(fcl_tune_param_find((fcl_tune_family)f, p->name), first + i, "%s named twice", p->name);
            cr_expect(p->min <= p->max, "%s: range %d..%d", p->name, p->min, p->max);
            cpu[i] = p->cpu;
            other[i] = p->other;
        }
        fcl_error e = {0};
        cr_expect_eq(fcl_tune_check((fcl_tune_family)f, cpu, n, &e), FCL_OK, "%s CPU defaults: %s", name, e.msg);
        cr_expect_eq(fcl_tune_check((fcl_tune_family)f, other, n, &e), FCL_OK, "%s other defaults: %s", name, e.msg);
        seen += n;
    }
    cr_expect_eq(seen, FCL_T_COUNT);
    cr_expect_null(fcl_tune_param_info(FCL_T_COUNT));
    cr_expect_eq(fcl_tune_family_find("no-such-family"), -1);
    cr_expect_eq(fcl_tune_param_find(FCL_TF_CONV, "NO_SUCH"), -1);
}

/* Values start at the device's defaults; set_family checks and sets all-or-nothing; the build
 * options follow the values, and a program built for values comes back from memory when the
 * values come back. */
Test(tuning, set_get_reset_and_options)
{
    unsetenv("FACECL_TUNING");
    fcl_ctx *ctx = make_ctx(FCL_OK, NULL, 0);
    for (int i = 0; i < FCL_T_COUNT; i++)
        cr_expect_eq(fcl_tuning_int(ctx, (fcl_tune_id)i), fcl_tuning_default(ctx, (fcl_tune_id)i));
    int cpu = (fcl_ctx_device(ctx)->type & CL_DEVICE_TYPE_CPU) != 0;
    const fcl_tune_param *rw = fcl_tune_param_info(FCL_T_LOSS_ROW_WG);
    cr_expect_eq(fcl_tuning_default(ctx, FCL_T_LOSS_ROW_WG), cpu ? rw->cpu : rw->other);   /* no CPU256 entry */

    fcl_tune_id first;
    int n = fcl_tune_family_params(FCL_TF_LOSS, &first), v[FCL_T_COUNT], back[FCL_T_COUNT];
    cr_assert_eq(fcl_ctx_tuning_get_family(ctx, FCL_TF_LOSS, v, n), FCL_OK);
    char before[1024];
    snprintf(before, sizeof before, "%s", fcl_ctx_tuning(ctx, "loss"));
    v[FCL_T_LOSS_ROW_WG - first] = 32;
    cr_assert_eq(fcl_ctx_tuning_set_family(ctx, FCL_TF_LOSS, v, n), FCL_OK, "%s", fcl_ctx_errmsg(ctx));
    cr_expect_eq(fcl_tuning_int(ctx, FCL_T_LOSS_ROW_WG), 32);
    cr_expect(strstr(fcl_ctx_tuning(ctx, "loss"), "-DFCL_ROW_WG=32") != NULL, "%s", fcl_ctx_tuning(ctx, "loss"));

    /* out of range: refused, naming family, parameter and range; nothing changes */
    v[FCL_T_LOSS_ROW_WG - first] = 100000;
    cr_expect_eq(fcl_ctx_tuning_set_family(ctx, FCL_TF_LOSS, v, n), FCL_ERR_INVALID_ARG);
    const char *m = fcl_ctx_errmsg(ctx);
    cr_expect(strstr(m, "loss") && strstr(m, "FCL_ROW_WG=100000") && strstr(m, "0..4096"), "message: %s", m);
    cr_expect_eq(fcl_tuning_int(ctx, FCL_T_LOSS_ROW_WG), 32);
    cr_expect_eq(fcl_ctx_tuning_set_family(ctx, FCL_TF_LOSS, v, n - 1), FCL_ERR_INVALID_ARG);
    cr_expect_eq(fcl_ctx_tuning_set_int(ctx, FCL_T_BN_VEC, 6), FCL_ERR_INVALID_ARG, "FCL_VEC 6 accepted");
    cr_expect_eq(fcl_ctx_tuning_set_int(ctx, FCL_T_CONV_GM, 30), FCL_ERR_INVALID_ARG, "CONV_GM 30 with GWM 4");
    cr_expect(strstr(fcl_ctx_errmsg(ctx), "CONV_GWM") != NULL, "message: %s", fcl_ctx_errmsg(ctx));
    cr_expect_eq(fcl_tuning_int(ctx, FCL_T_CONV_GM), fcl_tuning_default(ctx, FCL_T_CONV_GM));

    /* the text form: device defaults plus the named values */
    cr_assert_eq(fcl_ctx_tuning_set(ctx, "conv", "-DCONV_MB=7 CONV_TN=3"), FCL_OK, "%s", fcl_ctx_errmsg(ctx));
    cr_expect_eq(fcl_tuning_int(ctx, FCL_T_CONV_MB), 7);
    cr_expect_eq(fcl_tuning_int(ctx, FCL_T_CONV_TN), 3);
    cr_expect_eq(fcl_tuning_int(ctx, FCL_T_CONV_NV), fcl_tuning_default(ctx, FCL_T_CONV_NV));
    cr_expect_eq(fcl_ctx_tuning_set(ctx, "conv", "-DCONV_MB=x"), FCL_ERR_INVALID_ARG);
    cr_expect_eq(fcl_ctx_tuning_set(ctx, "conv", "-DCONV_NOPE=1"), FCL_ERR_INVALID_ARG);
    cr_expect_eq(fcl_ctx_tuning_set(ctx, "nope", "-DCONV_MB=1"), FCL_ERR_INVALID_ARG);
    cr_expect_eq(fcl_tuning_int(ctx, FCL_T_CONV_MB), 7);

    /* the program cache keys on the values its code reads: a changed one builds anew, the old
     * value reuses; a value its code never reads builds nothing (`facecl tune` changes one value
     * at a time): HEAD_MB is margin_head.cl's, FCL_ROW_WG only picks kernel names on the host
     * (loss.cl's comments name it) */
    cl_kernel k, same;
    int vec = fcl_tuning_int(ctx, FCL_T_LOSS_VEC), other = vec == 8 ? 4 : 8;
    cr_assert_eq(fcl_kernel_get(ctx, "reduce.cl+loss.cl", "xent_bwd", fcl_ctx_tuning(ctx, "loss"), &k), FCL_OK,
                 "%s", fcl_ctx_errmsg(ctx));
    cr_assert_eq(fcl_ctx_tuning_set_int(ctx, FCL_T_LOSS_VEC, other), FCL_OK);
    cr_assert_eq(fcl_kernel_get(ctx, "reduce.cl+loss.cl", "xent_bwd", fcl_ctx_tuning(ctx, "loss"), &same), FCL_OK);
    cr_expect_eq(fcl_ctx_last_program_origin(ctx), 0, "a changed value the code reads must build a new program");
    cr_expect_neq(same, k);
    cr_assert_eq(fcl_ctx_tuning_set_int(ctx, FCL_T_LOSS_VEC, vec), FCL_OK);
    cr_assert_eq(fcl_kernel_get(ctx, "reduce.cl+loss.cl", "xent_bwd", fcl_ctx_tuning(ctx, "loss"), &same), FCL_OK);
    cr_expect_eq(fcl_ctx_last_program_origin(ctx), 2, "the earlier program must be reused");
    cr_expect_eq(same, k);
    cr_assert_eq(fcl_ctx_tuning_set_int(ctx, FCL_T_LOSS_HEAD_MB, 5), FCL_OK);
    cr_assert_eq(fcl_ctx_tuning_set_int(ctx, FCL_T_LOSS_ROW_WG, 64), FCL_OK);
    cr_assert_eq(fcl_kernel_get(ctx, "reduce.cl+loss.cl", "xent_bwd", fcl_ctx_tuning(ctx, "loss"), &same), FCL_OK);
    cr_expect_eq(fcl_ctx_last_program_origin(ctx), 2, "values loss.cl's code does not read rebuilt it");
    cr_expect_eq(same, k, "not the same kernel");

    fcl_ctx_tuning_reset(ctx, FCL_TF_COUNT);
    cr_assert_eq(fcl_ctx_tuning_get_family(ctx, FCL_TF_LOSS, back, n), FCL_OK);
    cr_expect_eq(back[FCL_T_LOSS_ROW_WG - first], fcl_tuning_default(ctx, FCL_T_LOSS_ROW_WG));
    cr_expect_str_eq(fcl_ctx_tuning(ctx, "loss"), before);
    cr_expect_eq(fcl_tuning_int(ctx, FCL_T_CONV_MB), fcl_tuning_default(ctx, FCL_T_CONV_MB));
    fcl_ctx_destroy(ctx);
}

/* $FACECL_TUNING is read once, at context creation, into typed values (a later entry for the
 * same family replaces an earlier one: device defaults plus its own values); an out-of-range
 * value fails creation with a message naming variable, family, parameter and range. */
Test(tuning, environment_overrides)
{
    char msg[512];
    setenv("FACECL_TUNING", "conv:-DCONV_MB=5 -DCONV_GPU=1;bn:-DFCL_BN_WG=8;conv:-DCONV_NV=3", 1);
    fcl_ctx *ctx = make_ctx(FCL_OK, NULL, 0);
    cr_expect_eq(fcl_tuning_int(ctx, FCL_T_CONV_NV), 3);
    cr_expect_eq(fcl_tuning_int(ctx, FCL_T_CONV_MB), fcl_tuning_default(ctx, FCL_T_CONV_MB));
    cr_expect_eq(fcl_tuning_int(ctx, FCL_T_BN_WG), 8);
    fcl_ctx_destroy(ctx);
    setenv("FACECL_TUNING", "conv:-DCONV_MB=5 -DCONV_GPU=1", 1);
    ctx = make_ctx(FCL_OK, NULL, 0);
    cr_expect_eq(fcl_tuning_int(ctx, FCL_T_CONV_MB), 5);
    cr_expect_eq(fcl_tuning_int(ctx, FCL_T_CONV_GPU), 1);
    /* changing the variable later does not touch a live context */
    setenv("FACECL_TUNING", "conv:-DCONV_MB=9", 1);
    cr_expect_eq(fcl_tuning_int(ctx, FCL_T_CONV_MB), 5);
    fcl_ctx_destroy(ctx);

    setenv("FACECL_TUNING", "pool:-DPOOL_WG=0", 1);
    cr_expect_null(make_ctx(FCL_ERR_INVALID_ARG, msg, sizeof msg));
    cr_expect(strstr(msg, "FACECL_TUNING") && strstr(msg, "pool") && strstr(msg, "POOL_WG=0") &&
              strstr(msg, "1..4096"), "message: %s", msg);
    setenv("FACECL_TUNING", "conv:-DCONV_TM=9", 1);
    cr_expect_null(make_ctx(FCL_ERR_INVALID_ARG, msg, sizeof msg));
    cr_expect(strstr(msg, "FACECL_TUNING") && strstr(msg, "CONV_TM=9") && strstr(msg, "1..8"), "message: %s", msg);
    unsetenv("FACECL_TUNING");
}

/* The column a device takes its defaults from: CPUs by their native float width (8: AVX2's
 * column, 16 or not reported: the AVX-512 one), every other type the GPU column; AS_CPU entries
 * of the 256-bit column fall back to the CPU value, and every column passes the family checks. */
Test(tuning, column_by_vector_width)
{
    fcl_device_info avx2 = {0}, avx512 = {0}, unknown = {0}, sse = {0}, gpu = {0};
    avx2.type = avx512.type = unknown.type = sse.type = CL_DEVICE_TYPE_CPU;
    avx2.native_float_width = 8;
    avx512.native_float_width = 16;
    sse.native_float_width = 4;
    gpu.type = CL_DEVICE_TYPE_GPU;
    gpu.native_float_width = 8;   /* a GPU's width does not matter */
    cr_expect_eq(fcl_tune_column_of(&avx2), FCL_TUNE_COL_CPU256);
    cr_expect_eq(fcl_tune_column_of(&sse), FCL_TUNE_COL_CPU256);
    cr_expect_eq(fcl_tune_column_of(&avx512), FCL_TUNE_COL_CPU);
    cr_expect_eq(fcl_tune_column_of(&unknown), FCL_TUNE_COL_CPU);
    cr_expect_eq(fcl_tune_column_of(&gpu), FCL_TUNE_COL_OTHER);

    /* conv_gemm_nn's block: 8 x float8 accumulators or fewer (16 ymm registers) on AVX2, the
     * AVX-512 block (float16 columns) on 512-bit CPUs, the table's values on GPUs */
    const fcl_tune_param *mb = fcl_tune_param_info(FCL_T_CONV_MB), *vw = fcl_tune_param_info(FCL_T_CONV_VW);
    cr_expect_eq(fcl_tune_param_default(FCL_T_CONV_VW, FCL_TUNE_COL_CPU256), 8);
    cr_expect_eq(fcl_tune_param_default(FCL_T_CONV_TW, FCL_TUNE_COL_CPU256), 8);
    cr_expect_eq(fcl_tune_param_default(FCL_T_CONV_VW, FCL_TUNE_COL_CPU), 16);
    int acc = fcl_tune_param_default(FCL_T_CONV_MB, FCL_TUNE_COL_CPU256) *
              fcl_tune_param_default(FCL_T_CONV_NV, FCL_TUNE_COL_CPU256);
    cr_expect(acc >= 8 && acc <= 12, "AVX2 block of %d accumulators", acc);
    cr_expect_eq(fcl_tune_param_default(FCL_T_CONV_MB, FCL_TUNE_COL_CPU), mb->cpu);
    cr_expect_eq(fcl_tune_param_default(FCL_T_CONV_MB, FCL_TUNE_COL_OTHER), mb->other);
    cr_expect_eq(fcl_tune_param_default(FCL_T_CONV_VW, FCL_TUNE_COL_OTHER), vw->other);
    cr_expect_eq(fcl_tune_param_default(FCL_T_COUNT, FCL_TUNE_COL_CPU), 0);

    for (int f = 0; f < FCL_TF_COUNT; f++) {
        fcl_tune_id first;
        int n = fcl_tune_family_params((fcl_tune_family)f, &first), v[FCL_T_COUNT];
        for (int i = 0; i < n; i++) {
            const fcl_tune_param *p = fcl_tune_param_info((fcl_tune_id)(first + i));
            v[i] = fcl_tune_param_default((fcl_tune_id)(first + i), FCL_TUNE_COL_CPU256);
            cr_expect_eq(v[i], p->cpu256 == FCL_TUNE_AS_CPU ? p->cpu : p->cpu256, "%s", p->name);
        }
        fcl_error e = {0};
        cr_expect_eq(fcl_tune_check((fcl_tune_family)f, v, n, &e), FCL_OK, "%s CPU256 defaults: %s",
                     fcl_tune_family_name((fcl_tune_family)f), e.msg);
    }

    /* a context on this machine takes its device's column */
    unsetenv("FACECL_TUNING");
    fcl_ctx *ctx = make_ctx(FCL_OK, NULL, 0);
    fcl_tune_column col = fcl_tune_column_of(fcl_ctx_device(ctx));
    for (int i = 0; i < FCL_T_COUNT; i++)
        cr_expect_eq(fcl_tuning_default(ctx, (fcl_tune_id)i), fcl_tune_param_default((fcl_tune_id)i, col));
    if (fcl_ctx_device(ctx)->type & CL_DEVICE_TYPE_CPU)
        cr_expect_gt(fcl_ctx_device(ctx)->native_float_width, 0u, "the CPU reports no native float width");
    fcl_ctx_destroy(ctx);
}
