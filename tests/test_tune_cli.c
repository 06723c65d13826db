/* tests/test_tune_cli.c: a tiny bounded `facecl tune` run: the cache is written, a re-run continues from it, contexts apply it, a damaged one is ignored with a warning. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <facecl/facecl.h>

#include "helpers/cmdline.h"
#include "helpers/small_net.h"

#define FACECL FACECL_BINARY_DIR "/facecl"

/* Its own cache folder: the tests' shared one must stay untuned. */
static char dir[] = "/tmp/fcl_tune_cliXXXXXX";

static void make_dir(void) { cr_assert(mkdtemp(dir)); }
static void remove_dir(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd)) cr_log_warn("could not remove %s", dir);
}

TestSuite(tune_cli, .init = make_dir, .fini = remove_dir, .timeout = 400);

#define TUNE "FACECL_CACHE_DIR='%s' '%s' tune --model small --channels 1 --size 16 --batch 4 --classes 5 " \
             "--head-classes 40 --head-batch 8 --reps 1 --budget 20"

Test(tune_cli, writes_resumes_and_is_applied)
{
    char *out = NULL;
    const char *dev = getenv("FACECL_TEST_DEVICE");
    char devopt[300] = "";
    if (dev && *dev) snprintf(devopt, sizeof devopt, " --device '%s'", dev);
    int rc = fcl_test_run(&out, TUNE "%s", dir, FACECL, devopt);
    cr_assert_eq(rc, 0, "%s", out);
    cr_assert(strstr(out, "tuning cache "), "%s", out);
    cr_assert(strstr(out, "[gemm] defaults:") && strstr(out, "[kernels] small, batch 4"), "%s", out);
    free(out);

    fcl_ctx *ctx = fcl_test_ctx_cache(dir);
    char path[1200], key[1400];
    fcl_tune_cache_path(ctx, path, sizeof path);
    fcl_tune_cache_key(ctx, key, sizeof key);
    fcl_tune_cache c;
    fcl_error e = {0};
    cr_assert_eq(fcl_tune_cache_read(path, key, &c, &e), FCL_OK, "%s", e.msg);
    cr_assert_gt(c.n_meas, 0);
    size_t first_meas = c.n_meas, sets = c.n_sets;
    cr_assert_null(fcl_ctx_warning(ctx), "%s", fcl_ctx_warning(ctx));
    cr_assert_eq(fcl_ctx_tune_applied(ctx), (int)sets, "the context applies what tune chose");
    fcl_tune_cache_free(&c);
    fcl_ctx_destroy(ctx);

    /* the second run starts from the first one's measurements */
    rc = fcl_test_run(&out, TUNE "%s", dir, FACECL, devopt);
    cr_assert_eq(rc, 0, "%s", out);
    cr_assert(strstr(out, "continuing from"), "%s", out);
    cr_assert_gt(fcl_test_number_after(out, "new measurement(s), "), 0, "nothing reused: %s", out);
    free(out);
    cr_assert_eq(fcl_tune_cache_read(path, key, &c, &e), FCL_OK, "%s", e.msg);
    cr_assert_geq(c.n_meas, first_meas);
    fcl_tune_cache_free(&c);

    /* the head stage alone (the first runs' budget went to the kernel stage): from the cache's
     * values, its moves checked and timed on the ArcFace head 64 -> 40 at batch 8 */
    rc = fcl_test_run(&out, TUNE " --only heads%s", dir, FACECL, devopt);
    cr_assert_eq(rc, 0, "%s", out);
    cr_assert(strstr(out, "[heads] heads:arcface:8x64>40:step") && strstr(out, "[heads conv 1/") &&
              strstr(out, "[heads loss 1/"), "%s", out);
    free(out);
    cr_assert_eq(fcl_tune_cache_read(path, key, &c, &e), FCL_OK, "%s", e.msg);
    cr_assert_geq(c.n_sets, sets, "the kernel stage's choice stays");
    fcl_tune_cache_free(&c);

    /* --show says what is applied; a damaged file is ignored with a warning by every command */
    rc = fcl_test_run(&out, "FACECL_CACHE_DIR='%s' '%s' tune --show%s", dir, FACECL, devopt);
    cr_assert_eq(rc, 0, "%s", out);
    cr_assert(strstr(out, "applied by this context"), "%s", out);
    free(out);
    FILE *f = fopen(path, "ab");
    cr_assert_not_null(f);
    fputs("x", f);
    fclose(f);
    rc = fcl_test_run(&out, "FACECL_CACHE_DIR='%s' '%s' tune --show%s", dir, FACECL, devopt);
    cr_assert_eq(rc, 0, "%s", out);
    cr_assert(strstr(out, "warning: ignoring the tuning cache") && strstr(out, "not used"), "%s", out);
    free(out);
    ctx = fcl_test_ctx_cache(dir);
    cr_assert_eq(fcl_ctx_tune_applied(ctx), 0);
    fcl_ctx_destroy(ctx);
}

Test(tune_cli, usage_errors)
{
    char *out = NULL;
    cr_assert_eq(fcl_test_run(&out, "'%s' tune --reps 0", FACECL), 2, "%s", out);
    free(out);
    cr_assert_eq(fcl_test_run(&out, "'%s' tune --only conv", FACECL), 2, "%s", out);
    free(out);
    cr_assert_eq(fcl_test_run(&out, "'%s' tune --only heads --head-classes 0", FACECL), 2, "%s", out);
    free(out);
    cr_assert_eq(fcl_test_run(&out, "'%s' tune --head-classes 10,x", FACECL), 2, "%s", out);
    free(out);
    cr_assert_eq(fcl_test_run(&out, "'%s' tune --clock gpu", FACECL), 2, "%s", out);
    free(out);
    cr_assert_eq(fcl_test_run(&out, "'%s' tune --bogus", FACECL), 2, "%s", out);
    free(out);
}
