/* tests/test_tune_cache.c: the tuning cache file: round trip, corrupt / truncated / stale / out-of-range files ignored with a warning, resume records, atomic writes. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <facecl/facecl.h>

#include "helpers/cmdline.h"
#include "helpers/small_net.h"
#include "runtime/internal.h" /* fcl_hash64: to re-sum hand-edited files */

/* CLBlast 1.5's own Xgemm values for a CPU without a database entry (RetrieveParameters on PoCL
 * and Intel's runtime): applying them changes nothing but is a complete, valid set. */
static const char *XG_NAMES[16] = {"GEMMK", "KREG", "KWG", "KWI", "MDIMA", "MDIMC", "MWG", "NDIMB",
                                   "NDIMC", "NWG", "SA", "SB", "STRM", "STRN", "VWM", "VWN"};
static const long XG_DEFAULT[16] = {0, 1, 32, 2, 16, 16, 64, 8, 8, 64, 0, 0, 0, 0, 4, 4};

static char dir[64];

static void make_dir(void)
{
    snprintf(dir, sizeof dir, "/tmp/facecl-tunec-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
}

static void remove_dir(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    cr_assert_eq(system(cmd), 0);
}

TestSuite(tune_cache, .init = make_dir, .fini = remove_dir);

static void put_xgemm(fcl_tune_cache *c, const long *values)
{
    fcl_error e = {0};
    cr_assert_eq(fcl_tune_cache_put(c, FCL_TUNE_CLBLAST, "Xgemm", 16, XG_NAMES, values, &e), FCL_OK, "%s", e.msg);
}

Test(tune_cache, round_trip_keeps_sets_and_measurements)
{
    char path[128];
    snprintf(path, sizeof path, "%s/t.txt", dir);
    fcl_tune_cache c, back;
    fcl_error e = {0};
    fcl_tune_cache_init(&c, "facecl=x|device=A");
    put_xgemm(&c, XG_DEFAULT);
    const char *rn[1] = {"XGEMM_MIN_INDIRECT_SIZE"};
    long rv[1] = {128};
    cr_assert_eq(fcl_tune_cache_put(&c, FCL_TUNE_CLBLAST, "GemmRoutine", 1, rn, rv, &e), FCL_OK);
    cr_assert_eq(fcl_tune_cache_measured(&c, "gemm:128x10575x512:NT:b0", "default", 41.5, &e), FCL_OK);
    cr_assert_eq(fcl_tune_cache_measured(&c, "gemm:128x10575x512:NT:b0", "MWG=64,NWG=64", -3.0, &e), FCL_OK);
    /* replacing keeps one record */
    cr_assert_eq(fcl_tune_cache_measured(&c, "gemm:128x10575x512:NT:b0", "default", 40.25, &e), FCL_OK);
    cr_assert_eq(c.n_meas, 2);
    cr_assert_eq(fcl_tune_cache_write(path, &c, &e), FCL_OK, "%s", e.msg);

    cr_assert_eq(fcl_tune_cache_read(path, "facecl=x|device=A", &back, &e), FCL_OK, "%s", e.msg);
    cr_assert_eq(back.n_sets, 2);
    const fcl_tune_set *s = fcl_tune_cache_get(&back, FCL_TUNE_CLBLAST, "Xgemm");
    cr_assert_not_null(s);
    cr_assert_eq(s->n, 16);
    for (int i = 0; i < 16; i++) {
        cr_assert_str_eq(s->names[i], XG_NAMES[i]);
        cr_assert_eq(s->values[i], XG_DEFAULT[i]);
    }
    cr_assert_eq(fcl_tune_cache_get(&back, FCL_TUNE_CLBLAST, "GemmRoutine")->values[0], 128);
    cr_assert_null(fcl_tune_cache_get(&back, FCL_TUNE_KERNEL, "Xgemm"));
    const fcl_tune_meas *m = fcl_tune_cache_find(&back, "gemm:128x10575x512:NT:b0", "default");
    cr_assert_not_null(m);
    cr_assert_float_eq(m->ms, 40.25, 1e-9);
    m = fcl_tune_cache_find(&back, "gemm:128x10575x512:NT:b0", "MWG=64,NWG=64");
    cr_assert_not_null(m);
    cr_assert_lt(m->ms, 0.0, "a rejected candidate stays rejected");
    cr_assert_null(fcl_tune_cache_find(&back, "gemm:128x10575x512:NT:b0", "MWG=32"));
    fcl_tune_cache_drop(&back, FCL_TUNE_CLBLAST, "Xgemm");
    cr_assert_null(fcl_tune_cache_get(&back, FCL_TUNE_CLBLAST, "Xgemm"));
    cr_assert_eq(back.n_sets, 1);
    fcl_tune_cache_free(&c);
    fcl_tune_cache_free(&back);
}

Test(tune_cache, bad_names_and_values_are_refused_when_put)
{
    fcl_tune_cache c;
    fcl_error e = {0};
    fcl_tune_cache_init(&c, "k");
    const char *n1[1] = {"HAS SPACE"};
    long v1[1] = {1}, neg[1] = {-1};
    cr_assert_eq(fcl_tune_cache_put(&c, FCL_TUNE_KERNEL, "conv", 1, n1, v1, &e), FCL_ERR_INVALID_ARG);
    const char *n2[1] = {"CONV_MB"};
    cr_assert_eq(fcl_tune_cache_put(&c, FCL_TUNE_KERNEL, "conv", 1, n2, neg, &e), FCL_ERR_INVALID_ARG);
    cr_assert_eq(fcl_tune_cache_put(&c, FCL_TUNE_KERNEL, "", 1, n2, v1, &e), FCL_ERR_INVALID_ARG);
    cr_assert_eq(fcl_tune_cache_measured(&c, "a b", "default", 1.0, &e), FCL_ERR_INVALID_ARG);
    cr_assert_eq(fcl_tune_cache_measured(&c, "task", "", 1.0, &e), FCL_ERR_INVALID_ARG);
    cr_assert_eq(c.n_sets + c.n_meas, 0);
    fcl_tune_cache_free(&c);
}

/* Every damaged form of a valid file is refused with a reason (and leaves an empty cache). */
Test(tune_cache, corrupt_truncated_and_stale_files_are_refused)
{
    char path[128];
    snprintf(path, sizeof path, "%s/t.txt", dir);
    fcl_tune_cache c;
    fcl_error e = {0};
    fcl_tune_cache_init(&c, "facecl=x|device=A");
    put_xgemm(&c, XG_DEFAULT);
    cr_assert_eq(fcl_tune_cache_measured(&c, "task", "default", 2.0, &e), FCL_OK);
    cr_assert_eq(fcl_tune_cache_write(path, &c, &e), FCL_OK);
    fcl_tune_cache_free(&c);
    size_t len;
    char *good = fcl_test_slurp_n(path, &len);

    /* one changed digit inside a value */
    char *bad = strdup(good);
    char *at = strstr(bad, "MWG=64");
    cr_assert_not_null(at);
    at[4] = '3';
    fcl_test_write(path, bad, len);
    cr_assert_eq(fcl_tune_cache_read(path, "facecl=x|device=A", &c, &e), FCL_ERR_FORMAT);
    cr_assert(strstr(e.msg, "checksum mismatch"), "%s", e.msg);
    cr_assert_eq(c.n_sets, 0);

    /* cut short at every length: never accepted */
    for (size_t cut = 0; cut < len; cut += 7) {
        fcl_test_write(path, good, cut);
        cr_assert_eq(fcl_tune_cache_read(path, "facecl=x|device=A", &c, &e), FCL_ERR_FORMAT, "cut at %zu", cut);
        cr_assert_eq(c.n_sets + c.n_meas, 0);
    }
    /* another device / driver / version */
    fcl_test_write(path, good, len);
    cr_assert_eq(fcl_tune_cache_read(path, "facecl=y|device=A", &c, &e), FCL_ERR_FORMAT);
    cr_assert(strstr(e.msg, "another device, driver or facecl version"), "%s", e.msg);
    /* missing file: FCL_ERR_IO (the caller treats it as "not tuned") */
    cr_assert_eq(fcl_tune_cache_read("/nonexistent/t.txt", "k", &c, &e), FCL_ERR_IO);
    /* the intact file still reads */
    cr_assert_eq(fcl_tune_cache_read(path, "facecl=x|device=A", &c, &e), FCL_OK, "%s", e.msg);
    fcl_tune_cache_free(&c);
    free(bad);
    free(good);
}

/* Hand-edited files with a correct checksum: an unknown record or a malformed set is refused. */
static void write_summed(const char *path, const char *body)
{
    char text[512];
    int n = snprintf(text, sizeof text, "%s", body);
    snprintf(text + n, sizeof text - (size_t)n, "sum %016llx\n", (unsigned long long)fcl_hash64(body, strlen(body), 0));
    fcl_test_write(path, text, strlen(text));
}

Test(tune_cache, unknown_or_malformed_records_are_refused)
{
    char path[128];
    snprintf(path, sizeof path, "%s/t.txt", dir);
    fcl_tune_cache c;
    fcl_error e = {0};
    write_summed(path, "facecl-tune 1\nkey k\nset clblast GemmRoutine XGEMM_MIN_INDIRECT_SIZE=64\n");
    cr_assert_eq(fcl_tune_cache_read(path, "k", &c, &e), FCL_OK, "%s", e.msg);
    cr_assert_eq(c.n_sets, 1);
    fcl_tune_cache_free(&c);
    const char *bad[] = {
        "facecl-tune 1\nkey k\nbogus 1\n",
        "facecl-tune 2\nkey k\n",
        "facecl-tune 1\n",
        "facecl-tune 1\nkey k\nset gpu Xgemm KWG=1\n",
        "facecl-tune 1\nkey k\nset clblast GemmRoutine XGEMM_MIN_INDIRECT_SIZE=-4\n",
        "facecl-tune 1\nkey k\nset clblast GemmRoutine XGEMM_MIN_INDIRECT_SIZE=4x\n",
        "facecl-tune 1\nkey k\nset clblast GemmRoutine\n",
        "facecl-tune 1\nkey k\nset clblast GemmRoutine A=1\nset clblast GemmRoutine A=2\n",
        "facecl-tune 1\nkey k\nmeas task default\n",
        "facecl-tune 1\nkey k\nmeas task default 1.0 extra\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        write_summed(path, bad[i]);
        cr_assert_eq(fcl_tune_cache_read(path, "k", &c, &e), FCL_ERR_FORMAT, "accepted: %s", bad[i]);
        cr_assert_eq(c.n_sets + c.n_meas, 0);
    }
}

Test(tune_cache, values_are_checked_against_ranges_and_constraints)
{
    fcl_ctx *ctx = fcl_test_ctx(0);
    fcl_tune_cache c;
    fcl_tune_cache_init(&c, "k");
    put_xgemm(&c, XG_DEFAULT);
    cr_assert_eq(fcl_tune_cache_check(ctx, &c), FCL_OK, "%s", fcl_ctx_errmsg(ctx));

    long v[16];
    memcpy(v, XG_DEFAULT, sizeof v);
    v[6] = 48; /* MWG not a power of two */
    put_xgemm(&c, v);
    cr_assert_eq(fcl_tune_cache_check(ctx, &c), FCL_ERR_INVALID_ARG);
    cr_assert(strstr(fcl_ctx_errmsg(ctx), "MWG=48 out of range"), "%s", fcl_ctx_errmsg(ctx));

    memcpy(v, XG_DEFAULT, sizeof v);
    v[6] = 16; /* MWG 16 < MDIMC 16 * VWM 4: CLBlast's constraint */
    put_xgemm(&c, v);
    cr_assert_eq(fcl_tune_cache_check(ctx, &c), FCL_ERR_INVALID_ARG);
    cr_assert(strstr(fcl_ctx_errmsg(ctx), "MWG is not a multiple"), "%s", fcl_ctx_errmsg(ctx));

    memcpy(v, XG_DEFAULT, sizeof v);
    v[0] = 1; /* GEMMK 1 is outside the search */
    put_xgemm(&c, v);
    cr_assert_eq(fcl_tune_cache_check(ctx, &c), FCL_ERR_INVALID_ARG);

    /* missing parameter, unknown kernel */
    fcl_tune_cache_drop(&c, FCL_TUNE_CLBLAST, "Xgemm");
    fcl_error e = {0};
    cr_assert_eq(fcl_tune_cache_put(&c, FCL_TUNE_CLBLAST, "Xgemm", 15, XG_NAMES, XG_DEFAULT, &e), FCL_OK);
    cr_assert_eq(fcl_tune_cache_check(ctx, &c), FCL_ERR_INVALID_ARG);
    cr_assert(strstr(fcl_ctx_errmsg(ctx), "CLBlast needs all 16"), "%s", fcl_ctx_errmsg(ctx));
    fcl_tune_cache_drop(&c, FCL_TUNE_CLBLAST, "Xgemm");
    cr_assert_eq(fcl_tune_cache_put(&c, FCL_TUNE_CLBLAST, "Xaxpy", 16, XG_NAMES, XG_DEFAULT, &e), FCL_OK);
    cr_assert_eq(fcl_tune_cache_check(ctx, &c), FCL_ERR_INVALID_ARG);
    fcl_tune_cache_drop(&c, FCL_TUNE_CLBLAST, "Xaxpy");

    /* the threshold between CLBlast's direct and indirect GEMM */
    const char *rn[1] = {"XGEMM_MIN_INDIRECT_SIZE"};
    long rv[1] = {1 << 20};
    cr_assert_eq(fcl_tune_cache_put(&c, FCL_TUNE_CLBLAST, "GemmRoutine", 1, rn, rv, &e), FCL_OK);
    cr_assert_eq(fcl_tune_cache_check(ctx, &c), FCL_ERR_INVALID_ARG);
    rv[0] = 256;
    cr_assert_eq(fcl_tune_cache_put(&c, FCL_TUNE_CLBLAST, "GemmRoutine", 1, rn, rv, &e), FCL_OK);
    cr_assert_eq(fcl_tune_cache_check(ctx, &c), FCL_OK, "%s", fcl_ctx_errmsg(ctx));
    fcl_tune_cache_free(&c);
    fcl_ctx_destroy(ctx);
}

/* Context creation: a good file is applied, a damaged, stale or out-of-range one is ignored with
 * a warning and the context still works (defaults). FACECL_NO_TUNE skips the file. */
Test(tune_cache, contexts_apply_good_files_and_warn_about_bad_ones)
{
    fcl_ctx *ctx = fcl_test_ctx_cache(dir);
    char path[1200], key[1400];
    fcl_tune_cache_path(ctx, path, sizeof path);
    fcl_tune_cache_key(ctx, key, sizeof key);
    cr_assert(strstr(path, dir) == path && strstr(path, "/tune-"), "%s", path);
    cr_assert(strstr(key, "facecl=" FACECL_VERSION_STRING "|"), "%s", key);
    cr_assert_eq(fcl_ctx_tune_applied(ctx), 0);
    cr_assert_null(fcl_ctx_warning(ctx));
    fcl_ctx_destroy(ctx);

    fcl_tune_cache c;
    fcl_error e = {0};
    fcl_tune_cache_init(&c, key);
    put_xgemm(&c, XG_DEFAULT);
    cr_assert_eq(fcl_tune_cache_write(path, &c, &e), FCL_OK, "%s", e.msg);
    ctx = fcl_test_ctx_cache(dir);
    cr_assert_eq(fcl_ctx_tune_applied(ctx), 1);
    cr_assert_null(fcl_ctx_warning(ctx), "%s", fcl_ctx_warning(ctx));
    fcl_ctx_destroy(ctx);

    setenv("FACECL_NO_TUNE", "1", 1);
    ctx = fcl_test_ctx_cache(dir);
    cr_assert_eq(fcl_ctx_tune_applied(ctx), 0);
    fcl_ctx_destroy(ctx);
    unsetenv("FACECL_NO_TUNE");

    /* out of range (valid checksum) */
    long v[16];
    memcpy(v, XG_DEFAULT, sizeof v);
    v[14] = 32; /* VWM */
    put_xgemm(&c, v);
    cr_assert_eq(fcl_tune_cache_write(path, &c, &e), FCL_OK);
    ctx = fcl_test_ctx_cache(dir);
    cr_assert_eq(fcl_ctx_tune_applied(ctx), 0);
    cr_assert_not_null(fcl_ctx_warning(ctx));
    cr_assert(strstr(fcl_ctx_warning(ctx), "ignoring the tuning cache") && strstr(fcl_ctx_warning(ctx), "VWM=32"),
              "%s", fcl_ctx_warning(ctx));
    fcl_ctx_destroy(ctx);

    /* stale: made for another facecl version */
    fcl_tune_cache_free(&c);
    fcl_tune_cache_init(&c, "facecl=0.0.0|platform=x");
    put_xgemm(&c, XG_DEFAULT);
    cr_assert_eq(fcl_tune_cache_write(path, &c, &e), FCL_OK);
    ctx = fcl_test_ctx_cache(dir);
    cr_assert_eq(fcl_ctx_tune_applied(ctx), 0);
    cr_assert(fcl_ctx_warning(ctx) && strstr(fcl_ctx_warning(ctx), "another device"), "%s", fcl_ctx_warning(ctx));
    fcl_ctx_destroy(ctx);

    /* garbage */
    fcl_test_write(path, "\x01\x02garbage", 9);
    ctx = fcl_test_ctx_cache(dir);
    cr_assert_eq(fcl_ctx_tune_applied(ctx), 0);
    cr_assert(fcl_ctx_warning(ctx) && strstr(fcl_ctx_warning(ctx), "checksum"), "%s", fcl_ctx_warning(ctx));
    /* and the context works: a GEMM through CLBlast's defaults */
    size_t shape[2] = {3, 5};
    fcl_tensor t = {0};
    cr_assert_eq(fcl_tensor_alloc(ctx, &t, 2, shape, FCL_F32), FCL_OK);
    fcl_tensor_release(ctx, &t);
    fcl_ctx_destroy(ctx);
    fcl_tune_cache_free(&c);
}

Test(tune_cache, writes_are_atomic_and_name_the_failure)
{
    char path[128], tmpl[160];
    snprintf(path, sizeof path, "%s/t.txt", dir);
    fcl_tune_cache c;
    fcl_error e = {0};
    fcl_tune_cache_init(&c, "k");
    cr_assert_eq(fcl_tune_cache_write(path, &c, &e), FCL_OK);
    /* a folder that does not exist: an IO error naming the path, nothing written */
    snprintf(tmpl, sizeof tmpl, "%s/missing/t.txt", dir);
    cr_assert_eq(fcl_tune_cache_write(tmpl, &c, &e), FCL_ERR_IO);
    cr_assert(strstr(e.msg, "missing/t.txt"), "%s", e.msg);
    /* replacing keeps a readable file at every moment: old or new, and no temp files left */
    for (int i = 0; i < 20; i++) {
        char task[32];
        snprintf(task, sizeof task, "t%d", i);
        cr_assert_eq(fcl_tune_cache_measured(&c, task, "default", i, &e), FCL_OK);
        cr_assert_eq(fcl_tune_cache_write(path, &c, &e), FCL_OK);
        fcl_tune_cache back;
        cr_assert_eq(fcl_tune_cache_read(path, "k", &back, &e), FCL_OK, "%s", e.msg);
        cr_assert_eq(back.n_meas, (size_t)i + 1);
        fcl_tune_cache_free(&back);
    }
    char cmd[200];
    snprintf(cmd, sizeof cmd, "test $(ls -A '%s' | wc -l) -eq 1", dir);
    cr_assert_eq(system(cmd), 0, "temp files left behind");
    fcl_tune_cache_free(&c);
}

/* Kernel families go through the typed tuning table: applied values show in fcl_tuning_int,
 * an out-of-range or incomplete family is ignored (defaults, warning), $FACECL_TUNING wins. */
Test(tune_cache, kernel_family_sets_use_the_typed_table)
{
    fcl_ctx *ctx = fcl_test_ctx_cache(dir);
    char path[1200], key[1400];
    fcl_tune_cache_path(ctx, path, sizeof path);
    fcl_tune_cache_key(ctx, key, sizeof key);
    int wg0 = fcl_tuning_default(ctx, FCL_T_ELTWISE_WG), vec0 = fcl_tuning_default(ctx, FCL_T_ELTWISE_VEC);
    fcl_ctx_destroy(ctx);
    const char *names[2] = {"FCL_WG", "FCL_VEC"};
    long good[2] = {wg0 == 32 ? 16 : 32, vec0 == 4 ? 8 : 4}, odd[2] = {32, 3};
    fcl_tune_cache c;
    fcl_error e = {0};
    fcl_tune_cache_init(&c, key);
    cr_assert_eq(fcl_tune_cache_put(&c, FCL_TUNE_KERNEL, "eltwise", 2, names, good, &e), FCL_OK);
    cr_assert_eq(fcl_tune_cache_write(path, &c, &e), FCL_OK);
    ctx = fcl_test_ctx_cache(dir);
    cr_assert_null(fcl_ctx_warning(ctx), "%s", fcl_ctx_warning(ctx));
    cr_assert_eq(fcl_ctx_tune_applied(ctx), 1);
    cr_assert_eq(fcl_tuning_int(ctx, FCL_T_ELTWISE_WG), good[0]);
    cr_assert_eq(fcl_tuning_int(ctx, FCL_T_ELTWISE_VEC), good[1]);
    fcl_ctx_destroy(ctx);

    setenv("FACECL_TUNING", "eltwise:-DFCL_WG=8", 1);
    ctx = fcl_test_ctx_cache(dir);
    cr_assert_eq(fcl_tuning_int(ctx, FCL_T_ELTWISE_WG), 8);
    fcl_ctx_destroy(ctx);
    unsetenv("FACECL_TUNING");

    cr_assert_eq(fcl_tune_cache_put(&c, FCL_TUNE_KERNEL, "eltwise", 2, names, odd, &e), FCL_OK);
    cr_assert_eq(fcl_tune_cache_write(path, &c, &e), FCL_OK);
    ctx = fcl_test_ctx_cache(dir);
    cr_assert(fcl_ctx_warning(ctx) && strstr(fcl_ctx_warning(ctx), "FCL_VEC"), "%s", fcl_ctx_warning(ctx));
    cr_assert_eq(fcl_tuning_int(ctx, FCL_T_ELTWISE_WG), wg0);
    cr_assert_eq(fcl_tuning_int(ctx, FCL_T_ELTWISE_VEC), vec0);
    fcl_ctx_destroy(ctx);

    cr_assert_eq(fcl_tune_cache_put(&c, FCL_TUNE_KERNEL, "eltwise", 1, names, good, &e), FCL_OK);
    cr_assert_eq(fcl_tune_cache_write(path, &c, &e), FCL_OK);
    ctx = fcl_test_ctx_cache(dir);
    cr_assert(fcl_ctx_warning(ctx) && strstr(fcl_ctx_warning(ctx), "the family has 2 parameters"), "%s", fcl_ctx_warning(ctx));
    cr_assert_eq(fcl_tuning_int(ctx, FCL_T_ELTWISE_WG), wg0);
    fcl_ctx_destroy(ctx);

    fcl_tune_cache_drop(&c, FCL_TUNE_KERNEL, "eltwise");
    cr_assert_eq(fcl_tune_cache_put(&c, FCL_TUNE_KERNEL, "nosuch", 2, names, good, &e), FCL_OK);
    cr_assert_eq(fcl_tune_cache_write(path, &c, &e), FCL_OK);
    ctx = fcl_test_ctx_cache(dir);
    cr_assert(fcl_ctx_warning(ctx) && strstr(fcl_ctx_warning(ctx), "not a kernel family"), "%s", fcl_ctx_warning(ctx));
    fcl_ctx_destroy(ctx);
    fcl_tune_cache_free(&c);
}
