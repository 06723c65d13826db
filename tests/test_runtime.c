/* tests/test_runtime.c: contexts, kernel builds and the disk cache, tensors, the pool, error messages. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <facecl/facecl.h>
#include "helpers/cmdline.h"

static fcl_ctx *make_ctx(const char *cache_dir)
{
    fcl_ctx_opts o = {0};
    o.device = getenv("FACECL_TEST_DEVICE");
    o.cache_dir = cache_dir;
    o.no_disk_cache = cache_dir == NULL;
    fcl_ctx *ctx = NULL;
    fcl_error e = {0};
    cr_assert_eq(fcl_ctx_create(&ctx, &o, &e), FCL_OK, "context: %s", e.msg);
    return ctx;
}

/* The single kernels/<hash>.bin file in a cache folder. */
static void only_entry(const char *dir, char *path, size_t size)
{
    char sub[1100];
    snprintf(sub, sizeof sub, "%s/kernels", dir);
    DIR *d = opendir(sub);
    cr_assert_not_null(d, "no kernels folder in %s", dir);
    int n = 0;
    struct dirent *ent;
    while ((ent = readdir(d))) {
        if (ent->d_name[0] == '.') continue;
        snprintf(path, size, "%s/%s", sub, ent->d_name);
        n++;
    }
    closedir(d);
    cr_assert_eq(n, 1, "expected one cache entry, found %d", n);
}

/* Runs the embedded axpy kernel: y += 2x over 1000 elements (not a multiple of the work-group). */
static void run_axpy(fcl_ctx *ctx, const char *opts)
{
    enum { N = 1000 };
    float x[N], y[N], out[N];
    for (int i = 0; i < N; i++) {
        x[i] = (float)i;
        y[i] = 1.0f;
    }
    fcl_tensor tx, ty;
    cr_assert_eq(fcl_tensor_alloc4(ctx, &tx, 1, 1, 1, N), FCL_OK, "%s", fcl_ctx_errmsg(ctx));
    cr_assert_eq(fcl_tensor_alloc4(ctx, &ty, 1, 1, 1, N), FCL_OK, "%s", fcl_ctx_errmsg(ctx));
    cr_assert_eq(fcl_tensor_upload(ctx, &tx, x, N), FCL_OK);
    cr_assert_eq(fcl_tensor_upload(ctx, &ty, y, N), FCL_OK);
    cl_kernel k;
    cr_assert_eq(fcl_kernel_get(ctx, "runtime.cl", "axpy", opts, &k), FCL_OK, "%s", fcl_ctx_errmsg(ctx));
    int n = N, xo = (int)tx.offset, yo = (int)ty.offset;
    float a = 2.0f;
    cr_assert_eq(fcl_kernel_arg(ctx, k, 0, sizeof n, &n), FCL_OK);
    cr_assert_eq(fcl_kernel_arg(ctx, k, 1, sizeof a, &a), FCL_OK);
    cr_assert_eq(fcl_kernel_arg(ctx, k, 2, sizeof tx.buf, &tx.buf), FCL_OK);
    cr_assert_eq(fcl_kernel_arg(ctx, k, 3, sizeof xo, &xo), FCL_OK);
    cr_assert_eq(fcl_kernel_arg(ctx, k, 4, sizeof ty.buf, &ty.buf), FCL_OK);
    cr_assert_eq(fcl_kernel_arg(ctx, k, 5, sizeof yo, &yo), FCL_OK);
    size_t g = N, l = 64;
    cr_assert_eq(fcl_kernel_run(ctx, k, 1, &g, &l), FCL_OK, "%s", fcl_ctx_errmsg(ctx));
    cr_assert_eq(fcl_tensor_download(ctx, &ty, out, N), FCL_OK);
    for (int i = 0; i < N; i++) cr_assert_float_eq(out[i], 1.0f + 2.0f * i, 0.0f, "y[%d] = %g", i, out[i]);
    fcl_tensor_release(ctx, &tx);
    fcl_tensor_release(ctx, &ty);
}

Test(runtime, embedded_kernel_builds_and_runs)
{
    fcl_ctx *ctx = make_ctx(NULL);
    run_axpy(ctx, "");
    cr_assert_eq(fcl_ctx_last_program_origin(ctx), 0);
    run_axpy(ctx, ""); /* second time: from the context's memory */
    cr_assert_eq(fcl_ctx_last_program_origin(ctx), 2);
    fcl_ctx_destroy(ctx);
}

Test(runtime, disk_cache_reuse_and_recovery)
{
    char dir[64], entry[1300];
    /* facecl keeps its own copy on PoCL only while PoCL's kernel cache is off (own_disk_cache in
     * host/runtime/program.c); other platforms ignore the variable. */
    setenv("POCL_KERNEL_CACHE", "0", 1);
    fcl_test_tmpdir(dir, sizeof dir, "test");
    fcl_ctx *ctx = make_ctx(dir);
    run_axpy(ctx, "-DFCL_TEST_KEY=1");
    cr_assert_eq(fcl_ctx_last_program_origin(ctx), 0, "first build is from source");
    fcl_ctx_destroy(ctx);
    only_entry(dir, entry, sizeof entry);

    ctx = make_ctx(dir); /* a new context (as a new process would) finds the binary on disk */
    run_axpy(ctx, "-DFCL_TEST_KEY=1");
    cr_assert_eq(fcl_ctx_last_program_origin(ctx), 1, "second build comes from the disk cache");
    fcl_ctx_destroy(ctx);

    /* Corrupt a byte in the middle of the binary: the checksum rejects it; rebuilt from source. */
    struct stat sb;
    cr_assert_eq(stat(entry, &sb), 0);
    FILE *f = fopen(entry, "r+b");
    cr_assert_not_null(f);
    fseek(f, sb.st_size / 2, SEEK_SET);
    int c = fgetc(f);
    fseek(f, sb.st_size / 2, SEEK_SET);
    fputc(c ^ 0x5a, f);
    fclose(f);
    ctx = make_ctx(dir);
    run_axpy(ctx, "-DFCL_TEST_KEY=1");
    cr_assert_eq(fcl_ctx_last_program_origin(ctx), 0, "corrupt entry must be rebuilt, not trusted");
    fcl_ctx_destroy(ctx);

    /* The rebuilt entry is good again; then truncate it. */
    ctx = make_ctx(dir);
    run_axpy(ctx, "-DFCL_TEST_KEY=1");
    cr_assert_eq(fcl_ctx_last_program_origin(ctx), 1);
    fcl_ctx_destroy(ctx);
    cr_assert_eq(truncate(entry, 20), 0);
    ctx = make_ctx(dir);
    run_axpy(ctx, "-DFCL_TEST_KEY=1");
    cr_assert_eq(fcl_ctx_last_program_origin(ctx), 0, "truncated entry must be rebuilt");
    /* Other options are another key: never served the wrong binary. */
    run_axpy(ctx, "-DFCL_TEST_KEY=2");
    cr_assert_eq(fcl_ctx_last_program_origin(ctx), 0);
    fcl_ctx_destroy(ctx);
    cr_assert(fcl_test_rm_rf(dir));
}

/* On PoCL with its kernel cache on (its default) facecl writes no copy of its own: PoCL keeps the
 * program and each compiled kernel, and reading the binary back would compile every kernel of the
 * program for a generic work-group size. */
Test(runtime, pocl_keeps_its_own_cache)
{
    char dir[64];
    unsetenv("POCL_KERNEL_CACHE");
    fcl_test_tmpdir(dir, sizeof dir, "test");
    fcl_ctx *ctx = make_ctx(dir);
    if (!strcasestr(fcl_ctx_device(ctx)->platform_version, "pocl")) {
        char platform[256];
        snprintf(platform, sizeof platform, "%s", fcl_ctx_device(ctx)->platform);
        fcl_ctx_destroy(ctx);
        cr_assert(fcl_test_rm_rf(dir));
        cr_skip_test("not PoCL: %s", platform);
    }
    cr_assert_eq(fcl_ctx_driver_kernel_cache(ctx), 1, "PoCL with POCL_KERNEL_CACHE unset keeps its own cache");
    run_axpy(ctx, "-DFCL_TEST_KEY=3");
    cr_assert_eq(fcl_ctx_last_program_origin(ctx), 0);
    fcl_ctx_destroy(ctx);
    setenv("POCL_KERNEL_CACHE", "0", 1);
    ctx = make_ctx(NULL); /* PoCL reads the variable when it starts: only facecl's answer is checked */
    cr_assert_eq(fcl_ctx_driver_kernel_cache(ctx), 0, "POCL_KERNEL_CACHE=0: the driver keeps nothing");
    fcl_ctx_destroy(ctx);
    unsetenv("POCL_KERNEL_CACHE");
    ctx = make_ctx(dir);
    run_axpy(ctx, "-DFCL_TEST_KEY=3");
    cr_assert_eq(fcl_ctx_last_program_origin(ctx), 0, "PoCL: built through PoCL's cache, not facecl's");
    fcl_ctx_destroy(ctx);
    char sub[1100];
    snprintf(sub, sizeof sub, "%s/kernels", dir);
    DIR *d = opendir(sub);
    cr_assert_not_null(d, "no kernels folder in %s", dir);
    struct dirent *ent;
    int n = 0;
    while ((ent = readdir(d))) n += ent->d_name[0] != '.';
    closedir(d);
    cr_assert_eq(n, 0, "facecl wrote %d cache entries on PoCL", n);
    cr_assert(fcl_test_rm_rf(dir));
}

Test(runtime, build_error_has_log_and_names)
{
    char dir[64], path[128];
    fcl_test_tmpdir(dir, sizeof dir, "test");
    snprintf(path, sizeof path, "%s/broken.cl", dir);
    FILE *f = fopen(path, "w");
    fprintf(f, "__kernel void broken(__global float *x) { x[0] = undeclared_thing; }\n");
    fclose(f);
    setenv("FACECL_CL_DIR", dir, 1);
    fcl_ctx *ctx = make_ctx(NULL);
    cl_kernel k;
    cr_assert_eq(fcl_kernel_get(ctx, "broken.cl", "broken", "", &k), FCL_ERR_BUILD);
    const char *m = fcl_ctx_errmsg(ctx);
    cr_assert(strstr(m, "program.c:"), "%s", m);
    cr_assert(strstr(m, "CL_BUILD_PROGRAM_FAILURE"), "%s", m);
    cr_assert(strstr(m, "broken.cl"), "%s", m);
    cr_assert(strstr(m, "undeclared_thing"), "the build log should be in the message: %s", m);
    cr_assert_eq(fcl_kernel_get(ctx, "missing.cl", "x", "", &k), FCL_ERR_IO);
    unsetenv("FACECL_CL_DIR");
    cr_assert_eq(fcl_kernel_get(ctx, "no-such-file.cl", "x", "", &k), FCL_ERR_INVALID_ARG);
    cr_assert(strstr(fcl_ctx_errmsg(ctx), "no-such-file.cl"), "%s", fcl_ctx_errmsg(ctx));
    cr_assert_eq(fcl_kernel_get(ctx, "runtime.cl", "no_such_kernel", "", &k), FCL_ERR_OPENCL);
    cr_assert(strstr(fcl_ctx_errmsg(ctx), "CL_INVALID_KERNEL_NAME"), "%s", fcl_ctx_errmsg(ctx));
    fcl_ctx_destroy(ctx);
    cr_assert(fcl_test_rm_rf(dir));
}

Test(runtime, enqueue_error_is_symbolic)
{
    fcl_ctx *ctx = make_ctx(NULL);
    cl_kernel k;
    cr_assert_eq(fcl_kernel_get(ctx, "runtime.cl", "axpy", "", &k), FCL_OK, "%s", fcl_ctx_errmsg(ctx));
    /* arguments unset: the launch must fail with a named error that names the kernel */
    size_t g = 16, l = 16;
    cr_assert_eq(fcl_kernel_run(ctx, k, 1, &g, &l), FCL_ERR_OPENCL);
    const char *m = fcl_ctx_errmsg(ctx);
    cr_assert(strstr(m, "clEnqueueNDRangeKernel(axpy)"), "%s", m);
    cr_assert(strstr(m, "CL_INVALID_KERNEL_ARGS"), "%s", m);
    cr_assert_eq(fcl_kernel_arg(ctx, k, 17, sizeof(int), &g), FCL_ERR_OPENCL);
    cr_assert(strstr(fcl_ctx_errmsg(ctx), "CL_INVALID_ARG_INDEX"), "%s", fcl_ctx_errmsg(ctx));
    fcl_ctx_destroy(ctx);
}

Test(runtime, unknown_device_fails_cleanly)
{
    fcl_ctx_opts o = {0};
    o.device = "no-such-device-anywhere";
    fcl_ctx *ctx = (fcl_ctx *)0x1;
    fcl_error e = {0};
    cr_assert_eq(fcl_ctx_create(&ctx, &o, &e), FCL_ERR_NO_DEVICE);
    cr_assert_null(ctx);
    cr_assert(strstr(e.msg, "no-such-device-anywhere"), "%s", e.msg);
    cr_assert(strstr(e.msg, "0:0"), "%s", e.msg);
}

Test(tensor, round_trip_fill_copy_views)
{
    fcl_ctx *ctx = make_ctx(NULL);
    enum { N = 2 * 3 * 7 * 13 };
    float h[N], back[N];
    for (int i = 0; i < N; i++) h[i] = (float)i * 0.5f - 3.0f;
    fcl_tensor t, u, v;
    cr_assert_eq(fcl_tensor_alloc4(ctx, &t, 2, 3, 7, 13), FCL_OK);
    cr_assert_eq(fcl_tensor_numel(&t), N);
    cr_assert_eq(fcl_tensor_upload(ctx, &t, h, N), FCL_OK);
    cr_assert_eq(fcl_tensor_download(ctx, &t, back, N), FCL_OK);
    cr_assert_arr_eq(h, back, sizeof h);

    /* A view of image 1 (3 x 7 x 13): fill it, the first image is untouched. */
    size_t shp[3] = {3, 7, 13};
    cr_assert_eq(fcl_tensor_view(ctx, &t, 3 * 7 * 13, 3, shp, &v), FCL_OK);
    cr_assert_eq(fcl_tensor_fill(ctx, &v, 4.25f), FCL_OK);
    cr_assert_eq(fcl_tensor_download(ctx, &t, back, N), FCL_OK);
    for (int i = 0; i < N; i++) cr_assert_float_eq(back[i], i < N / 2 ? h[i] : 4.25f, 0.0f, "element %d", i);

    /* copy into a fresh tensor of another shape with equal numel */
    size_t flat[1] = {N};
    cr_assert_eq(fcl_tensor_alloc(ctx, &u, 1, flat, FCL_F32), FCL_OK);
    cr_assert_eq(fcl_tensor_copy(ctx, &u, &t), FCL_OK);
    float back2[N];
    cr_assert_eq(fcl_tensor_download(ctx, &u, back2, N), FCL_OK);
    cr_assert_arr_eq(back, back2, sizeof back);

    /* wrong counts, out-of-range views and bad reshapes are errors that say so */
    cr_assert_eq(fcl_tensor_upload(ctx, &t, h, N - 1), FCL_ERR_SHAPE);
    cr_assert(strstr(fcl_ctx_errmsg(ctx), "[2, 3, 7, 13]"), "%s", fcl_ctx_errmsg(ctx));
    cr_assert_eq(fcl_tensor_view(ctx, &t, 3 * 7 * 13 + 1, 3, shp, &v), FCL_ERR_SHAPE);
    size_t bad[2] = {5, 5};
    cr_assert_eq(fcl_tensor_reshape(ctx, &t, 2, bad, &v), FCL_ERR_SHAPE);
    size_t good[2] = {6, 91};
    cr_assert_eq(fcl_tensor_reshape(ctx, &t, 2, good, &v), FCL_OK);
    cr_assert_eq(v.shape[1], 91);
    size_t zero[2] = {0, 4};
    fcl_tensor z;
    cr_assert_eq(fcl_tensor_alloc(ctx, &z, 2, zero, FCL_F32), FCL_ERR_SHAPE);
    fcl_tensor_release(ctx, &t);
    fcl_tensor_release(ctx, &u);
    fcl_ctx_destroy(ctx);
}

/* fcl_tensor_fill through the fill_f32 kernel: views at odd offsets and of odd lengths (below,
 * at and around its 16-float chunk, and long), every element inside set, every one outside (the
 * sentinels around the view) untouched. */
Test(tensor, fill_odd_offsets_and_lengths)
{
    fcl_ctx *ctx = make_ctx(NULL);
    enum { N = 100003 };
    static float h[N], back[N];
    for (int i = 0; i < N; i++) h[i] = -1.0f - (float)(i % 7);
    fcl_tensor t, v;
    size_t all[1] = {N};
    cr_assert_eq(fcl_tensor_alloc(ctx, &t, 1, all, FCL_F32), FCL_OK);
    const size_t cases[][2] = {{0, 1}, {3, 15}, {5, 16}, {17, 17}, {1, 33}, {0, N}, {7, 99991}, {N - 1, 1}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        size_t off = cases[c][0], len[1] = {cases[c][1]};
        float value = 0.25f + (float)c;
        cr_assert_eq(fcl_tensor_upload(ctx, &t, h, N), FCL_OK);
        cr_assert_eq(fcl_tensor_view(ctx, &t, off, 1, len, &v), FCL_OK, "%s", fcl_ctx_errmsg(ctx));
        cr_assert_eq(fcl_tensor_fill(ctx, &v, value), FCL_OK, "%s", fcl_ctx_errmsg(ctx));
        cr_assert_eq(fcl_tensor_download(ctx, &t, back, N), FCL_OK);
        for (size_t i = 0; i < N; i++) {
            float want = i >= off && i < off + len[0] ? value : h[i];
            if (back[i] != want) cr_assert_fail("fill of %zu at offset %zu: element %zu is %g, want %g", len[0], off, i,
                                                (double)back[i], (double)want);
        }
    }
    fcl_tensor_release(ctx, &t);
    fcl_ctx_destroy(ctx);
}

/* Per-kernel device times: a context made with profiling counts every launch by kernel name
 * (beyond the 1024 pending events folded on the way), reset starts afresh, and a context made
 * without profiling says so instead of returning empty totals. */
Test(runtime, kernel_times_count_launches)
{
    fcl_ctx_opts o = {0};
    o.device = getenv("FACECL_TEST_DEVICE");
    o.no_disk_cache = 1;
    o.profiling = 1;
    fcl_ctx *ctx = NULL;
    fcl_error e = {0};
    cr_assert_eq(fcl_ctx_create(&ctx, &o, &e), FCL_OK, "context: %s", e.msg);
    cr_assert_eq(fcl_ctx_profiling(ctx), 1);
    fcl_tensor t;
    size_t n1[1] = {4099};
    cr_assert_eq(fcl_tensor_alloc(ctx, &t, 1, n1, FCL_F32), FCL_OK);
    enum { LAUNCHES = 1500 };
    for (int i = 0; i < LAUNCHES; i++) cr_assert_eq(fcl_tensor_fill(ctx, &t, (float)i), FCL_OK, "%s", fcl_ctx_errmsg(ctx));
    fcl_kernel_time kt[4];
    size_t n = 0;
    cr_assert_eq(fcl_ctx_kernel_times(ctx, kt, 4, &n, 1), FCL_OK, "%s", fcl_ctx_errmsg(ctx));
    cr_assert_eq(n, 1, "kernels: %zu", n);
    cr_assert_str_eq(kt[0].name, "fill_f32");
    cr_assert_eq(kt[0].calls, LAUNCHES);
    cr_assert(kt[0].ms > 0.0 && kt[0].ms < 60e3, "ms %g", kt[0].ms);
    float back[4099];
    cr_assert_eq(fcl_tensor_download(ctx, &t, back, 4099), FCL_OK);
    cr_assert_float_eq(back[4098], (float)(LAUNCHES - 1), 0.0f);
    cr_assert_eq(fcl_ctx_kernel_times(ctx, kt, 4, &n, 0), FCL_OK); /* after the reset: nothing */
    cr_assert_eq(n, 0);
    cr_assert_eq(fcl_tensor_fill(ctx, &t, 1.0f), FCL_OK);
    cr_assert_eq(fcl_ctx_kernel_times(ctx, kt, 4, &n, 0), FCL_OK);
    cr_assert(n == 1 && kt[0].calls == 1, "n %zu calls %ld", n, n ? kt[0].calls : 0L);
    fcl_tensor_release(ctx, &t);
    fcl_ctx_destroy(ctx);

    ctx = make_ctx(NULL);
    cr_assert_eq(fcl_ctx_profiling(ctx), 0);
    cr_assert_eq(fcl_ctx_kernel_times(ctx, kt, 4, &n, 0), FCL_ERR_INVALID_ARG);
    cr_assert(strstr(fcl_ctx_errmsg(ctx), "profiling"), "%s", fcl_ctx_errmsg(ctx));
    cr_assert_eq(n, 0);
    fcl_ctx_destroy(ctx);
}

Test(pool, steady_state_allocates_nothing)
{
    fcl_ctx *ctx = make_ctx(NULL);
    fcl_pool_stats s0, s1;
    /* One "training step": a pattern of differently sized tensors, freed in another order. */
    for (int step = 0; step < 5; step++) {
        fcl_tensor a, b, c, d;
        cr_assert_eq(fcl_tensor_alloc4(ctx, &a, 8, 64, 28, 28), FCL_OK);
        cr_assert_eq(fcl_tensor_alloc4(ctx, &b, 8, 128, 14, 14), FCL_OK);
        cr_assert_eq(fcl_tensor_alloc4(ctx, &c, 1, 1, 1, 7), FCL_OK);
        fcl_tensor_release(ctx, &b);
        cr_assert_eq(fcl_tensor_alloc4(ctx, &d, 8, 64, 28, 28), FCL_OK);
        fcl_tensor_release(ctx, &a);
        fcl_tensor_release(ctx, &c);
        fcl_tensor_release(ctx, &d);
        if (step == 0) fcl_ctx_pool_stats(ctx, &s0);
    }
    fcl_ctx_pool_stats(ctx, &s1);
    cr_assert_eq(s1.device_allocs, s0.device_allocs, "steady state made %llu new buffers",
                 (unsigned long long)(s1.device_allocs - s0.device_allocs));
    cr_assert_eq(s1.in_use, 0);
    cr_assert_geq(s1.peak, 2 * 8 * 64 * 28 * 28 * 4ull);
    cr_assert_eq(s1.requests, 20);
    fcl_ctx_pool_trim(ctx);
    fcl_ctx_pool_stats(ctx, &s1);
    cr_assert_eq(s1.reserved, 0);
    fcl_ctx_destroy(ctx);
}

Test(pool, over_max_alloc_is_clear)
{
    fcl_ctx *ctx = make_ctx(NULL);
    const fcl_device_info *d = fcl_ctx_device(ctx);
    cl_mem m;
    size_t cap;
    cr_assert_eq(fcl_pool_alloc(ctx, (size_t)d->max_alloc + 1, &m, &cap), FCL_ERR_INVALID_ARG);
    cr_assert(strstr(fcl_ctx_errmsg(ctx), "CL_DEVICE_MAX_MEM_ALLOC_SIZE"), "%s", fcl_ctx_errmsg(ctx));
    fcl_ctx_destroy(ctx);
}

Test(rng, reproducible_and_sane)
{
    fcl_rng a, b;
    fcl_rng_seed(&a, 42);
    fcl_rng_seed(&b, 42);
    for (int i = 0; i < 100; i++) cr_assert_eq(fcl_rng_next(&a), fcl_rng_next(&b));
    fcl_rng_seed(&b, 43);
    cr_assert_neq(fcl_rng_next(&a), fcl_rng_next(&b));
    double sum = 0, sq = 0;
    for (int i = 0; i < 100000; i++) {
        float u = fcl_rng_uniform(&a);
        cr_assert(u >= 0.0f && u < 1.0f);
        float z = fcl_rng_normal(&a);
        sum += z;
        sq += (double)z * z;
    }
    cr_assert_float_eq(sum / 100000, 0.0, 0.02);
    cr_assert_float_eq(sq / 100000, 1.0, 0.03);
}
