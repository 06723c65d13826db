/* tests/test_reduce.c: the shared work-group reductions (cl/reduce.cl) in both shapes, and the device capability defines that pick them. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <facecl/facecl.h>

#include "helpers/harness.h"

/* Subgroup defines exactly where the device lists a subgroup extension (or, OpenCL C 3.0
 * only, the optional feature), never on a device without them (PoCL's CPU device). */
Test(reduce, capability_defines_follow_the_device)
{
    fcl_ctx *ctx = h_ctx();
    const fcl_device_info *d = fcl_ctx_device(ctx);
    char ext[8192] = "", defs[128];
    cr_assert_eq(clGetDeviceInfo(d->device_id, CL_DEVICE_EXTENSIONS, sizeof ext - 1, ext, NULL), CL_SUCCESS);
    fcl_ctx_device_defines(ctx, defs, sizeof defs);
    int ext_sg = strstr(ext, "cl_khr_subgroups") || strstr(ext, "cl_intel_subgroups");
    printf("device %s: defines \"%s\"\n", d->name, defs);
    if (ext_sg) cr_expect(strstr(defs, "FCL_SG_KHR") || strstr(defs, "FCL_SG_INTEL"), "subgroups not passed on");
    if (!ext_sg && d->c_major < 3) cr_expect(strstr(defs, "FCL_SG_") == NULL, "subgroups claimed: \"%s\"", defs);
    /* every family's row carries them, and fcl_ctx_tuning_set keeps them */
    cr_expect(strstr(fcl_ctx_tuning(ctx, "loss"), defs) != NULL);
    H_OK(ctx, fcl_ctx_tuning_set(ctx, "loss", "-DFCL_ROW_WG=32"));
    cr_expect(strstr(fcl_ctx_tuning(ctx, "loss"), "-DFCL_ROW_WG=32") != NULL);
    cr_expect(strstr(fcl_ctx_tuning(ctx, "loss"), defs) != NULL);
    h_ctx_free(ctx);
}

/* Sum and max over groups of 1..256 work-items, subgroups on (where the device has them) and
 * off: integer inputs, so every order of additions gives the exact total. */
Test(reduce, sums_and_maxes_in_every_group_size)
{
    fcl_ctx *ctx = h_ctx();
    char caps[128], opts[256];
    fcl_ctx_device_defines(ctx, caps, sizeof caps);
    const size_t groups = 5;
    for (int use_sg = 0; use_sg <= 1; use_sg++) {
        snprintf(opts, sizeof opts, "-DFCL_USE_SG=%d%s", use_sg, caps);
        cl_kernel k;
        H_OK(ctx, fcl_kernel_get(ctx, "reduce.cl+reduce_probe.cl", "fcl_reduce_probe", opts, &k));
        size_t kmax = 0;
        cr_assert_eq(clGetKernelWorkGroupInfo(k, fcl_ctx_device(ctx)->device_id, CL_KERNEL_WORK_GROUP_SIZE,
                                              sizeof kmax, &kmax, NULL), CL_SUCCESS);
        for (size_t L = 1; L <= 256 && L <= kmax; L *= 2) {
            size_t n = groups * L, shape[1] = {n}, oshape[1] = {1 + 2 * groups};
            float *in = malloc(n * sizeof *in), *every = malloc(n * sizeof *every), out[1 + 2 * 5];
            cr_assert(in && every);
            for (size_t i = 0; i < n; i++) in[i] = (float)((int)((i * 2654435761u) % 101) - 50);
            fcl_tensor tin, tout, tevery;
            H_OK(ctx, fcl_tensor_alloc(ctx, &tin, 1, shape, FCL_F32));
            H_OK(ctx, fcl_tensor_alloc(ctx, &tevery, 1, shape, FCL_F32));
            H_OK(ctx, fcl_tensor_alloc(ctx, &tout, 1, oshape, FCL_F32));
            H_OK(ctx, fcl_tensor_upload(ctx, &tin, in, n));
            H_OK(ctx, fcl_kernel_arg(ctx, k, 0, sizeof tout.buf, &tout.buf));
            H_OK(ctx, fcl_kernel_arg(ctx, k, 1, sizeof tevery.buf, &tevery.buf));
            H_OK(ctx, fcl_kernel_arg(ctx, k, 2, sizeof tin.buf, &tin.buf));
            H_OK(ctx, fcl_kernel_arg(ctx, k, 3, L * sizeof(float), NULL));
            H_OK(ctx, fcl_kernel_run(ctx, k, 1, &n, &L));
            H_OK(ctx, fcl_tensor_download(ctx, &tout, out, 1 + 2 * groups));
            H_OK(ctx, fcl_tensor_download(ctx, &tevery, every, n));
            int want_sg = use_sg && strstr(caps, "FCL_SG_") != NULL;
            cr_expect_eq((int)out[0], want_sg, "L %zu use_sg %d: subgroup path %d", L, use_sg, (int)out[0]);
            for (size_t g = 0; g < groups; g++) {
                float s = 0, m = -1e30f;
                for (size_t l = 0; l < L; l++) {
                    s += in[g * L + l];
                    m = in[g * L + l] > m ? in[g * L + l] : m;
                }
                cr_expect_eq(out[1 + 2 * g], s, "L %zu sg %d group %zu: sum %g, want %g", L, use_sg, g,
                             (double)out[1 + 2 * g], (double)s);
                cr_expect_eq(out[2 + 2 * g], m, "L %zu sg %d group %zu: max %g, want %g", L, use_sg, g,
                             (double)out[2 + 2 * g], (double)m);
                for (size_t l = 0; l < L; l++)
                    cr_expect_eq(every[g * L + l], s, "L %zu: work-item %zu of group %zu got %g", L, l, g,
                                 (double)every[g * L + l]);
            }
            fcl_tensor_release(ctx, &tin);
            fcl_tensor_release(ctx, &tout);
            fcl_tensor_release(ctx, &tevery);
            free(in);
            free(every);
        }
    }
    h_ctx_free(ctx);
}

/* $FACECL_TUNING replaces rows at context creation; a malformed value fails with its name. */
Test(reduce, tuning_environment_variable)
{
    setenv("FACECL_TUNING", "pool:-DPOOL_GPU=1;loss:-DFCL_ROW_WG=16", 1);
    fcl_ctx *ctx = h_ctx();
    cr_expect(strstr(fcl_ctx_tuning(ctx, "pool"), "-DPOOL_GPU=1") == fcl_ctx_tuning(ctx, "pool"));
    cr_expect(strstr(fcl_ctx_tuning(ctx, "loss"), "-DFCL_ROW_WG=16") == fcl_ctx_tuning(ctx, "loss"));
    h_ctx_free(ctx);
    setenv("FACECL_TUNING", "pool -DPOOL_GPU=1", 1);
    fcl_ctx_opts o = {0};
    o.device = getenv("FACECL_TEST_DEVICE");
    fcl_error e = {0};
    ctx = NULL;
    cr_expect_eq(fcl_ctx_create(&ctx, &o, &e), FCL_ERR_INVALID_ARG);
    cr_expect(ctx == NULL);
    cr_expect(strstr(e.msg, "FACECL_TUNING") != NULL, "message: %s", e.msg);
    unsetenv("FACECL_TUNING");
}
