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

/* What `facecl tune`'s head stage owns (tools/tune_heads.c tune_heads_owns): family, parameter. */
static const char *const OWNED[][2] = {{"loss", "HEAD_MB"},   {"loss", "HEAD_NV"},       {"loss", "HEAD_VW"},
                                       {"conv", "CONV_WT_DX"}, {"conv", "CONV_WT_SPLIT"}, {"conv", "CONV_WT_RB_FAST"}};
#define N_OWNED (sizeof OWNED / sizeof OWNED[0])

/* The values the head stage owns as the cache's sets hold them ("-1" where a set has none). */
static void head_owned(const fcl_tune_cache *c, char *buf, size_t size)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < N_OWNED; i++) {
        const fcl_tune_set *s = fcl_tune_cache_get(c, FCL_TUNE_KERNEL, OWNED[i][0]);
        long v = -1;
        for (int j = 0; s && j < s->n; j++)
            if (!strcmp(s->names[j], OWNED[i][1])) v = s->values[j];
        used += (size_t)snprintf(buf + used, size - used, "%s=%ld ", OWNED[i][1], v);
    }
}

static int head_owns(const char *name)
{
    for (size_t i = 0; i < N_OWNED; i++)
        if (!strcmp(name, OWNED[i][1])) return 1;
    return 0;
}

/* Every kernel value the head stage does not own as the cache applies it (its set's value, else
 * the device's default), then the CLBlast sets as they are. */
static void not_head_owned(const fcl_tune_cache *c, const fcl_ctx *ctx, char *buf, size_t size)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int id = 0; id < FCL_T_COUNT && used < size; id++) {
        const fcl_tune_param *p = fcl_tune_param_info((fcl_tune_id)id);
        const char *fam = fcl_tune_family_name(p->family);
        const fcl_tune_set *s = fcl_tune_cache_get(c, FCL_TUNE_KERNEL, fam);
        long v = fcl_tuning_default(ctx, (fcl_tune_id)id);
        for (int k = 0; s && k < s->n; k++)
            if (!strcmp(s->names[k], p->name)) v = s->values[k];
        if (!head_owns(p->name)) used += (size_t)snprintf(buf + used, size - used, "%s.%s=%ld ", fam, p->name, v);
    }
    for (size_t i = 0; i < c->n_sets && used < size; i++)
        for (int k = 0; c->sets[i].kind == FCL_TUNE_CLBLAST && k < c->sets[i].n && used < size; k++)
            used += (size_t)snprintf(buf + used, size - used, "%s.%s=%ld ", c->sets[i].target, c->sets[i].names[k],
                                     c->sets[i].values[k]);
}

/* Sets one value in the cache's set of a family (made when there is none). */
static void set_value(fcl_tune_cache *c, const char *family, const char *name, long value)
{
    const fcl_tune_set *s = fcl_tune_cache_get(c, FCL_TUNE_KERNEL, family);
    const char *names[FCL_TUNE_MAX_PARAMS];
    long values[FCL_TUNE_MAX_PARAMS];
    int n = 0, at = -1;
    for (int j = 0; s && j < s->n; j++) {
        names[n] = s->names[j];
        values[n] = s->values[j];
        if (!strcmp(s->names[j], name)) at = n;
        n++;
    }
    if (at < 0) {
        names[n] = name;
        at = n++;
    }
    values[at] = value;
    fcl_error e = {0};
    /* put copies the names before it drops the old set */
    cr_assert_eq(fcl_tune_cache_put(c, FCL_TUNE_KERNEL, family, n, names, values, &e), FCL_OK, "%s", e.msg);
}

#define TUNE "FACECL_CACHE_DIR='%s' '%s' tune --model small --channels 1 --size 16 --batch 4 --classes 5 " \
             "--head-batch 8 --reps 1"
/* The first two runs leave the heads out: a head stage may keep a value it owns (its 0.2 ms steps
 * here are noise), the kernel stage starts from it, and then none of the second run's candidates
 * has the first one's name (seen: "0 reused" in 3 of 6 ASan runs under load). */
#define NO_HEADS " --head-classes none --budget 20"
/* The head stage alone stops when its candidates are done (a second here); the budget is room for
 * a slow sanitizer build on a loaded machine, where 20 s did not always reach the loss family. */
#define HEADS " --head-classes 40 --budget 90"

Test(tune_cli, writes_resumes_and_is_applied)
{
    char *out = NULL;
    const char *dev = getenv("FACECL_TEST_DEVICE");
    char devopt[300] = "";
    if (dev && *dev) snprintf(devopt, sizeof devopt, " --device '%s'", dev);
    int rc = fcl_test_run(&out, TUNE NO_HEADS "%s", dir, FACECL, devopt);
    cr_assert_eq(rc, 0, "%s", out);
    cr_assert(strstr(out, "tuning cache "), "%s", out);
    cr_assert(strstr(out, "[gemm] defaults:") && strstr(out, "[kernels] small, batch 4"), "%s", out);
    cr_assert_null(strstr(out, "[heads]"), "--head-classes none ran the head stage: %s", out);
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
    rc = fcl_test_run(&out, TUNE NO_HEADS "%s", dir, FACECL, devopt);
    cr_assert_eq(rc, 0, "%s", out);
    cr_assert(strstr(out, "continuing from"), "%s", out);
    cr_assert_gt(fcl_test_number_after(out, "new measurement(s), "), 0, "nothing reused: %s", out);
    free(out);
    cr_assert_eq(fcl_tune_cache_read(path, key, &c, &e), FCL_OK, "%s", e.msg);
    cr_assert_geq(c.n_meas, first_meas);
    fcl_tune_cache_free(&c);

    /* the head stage alone: from the cache's values, its moves checked and timed on the ArcFace
     * head 64 -> 40 at batch 8; every value it does not own stays as the cache had it */
    ctx = fcl_test_ctx_cache(dir);
    char before[8192], after[8192];
    cr_assert_eq(fcl_tune_cache_read(path, key, &c, &e), FCL_OK, "%s", e.msg);
    not_head_owned(&c, ctx, before, sizeof before);
    fcl_tune_cache_free(&c);
    rc = fcl_test_run(&out, TUNE HEADS " --only heads%s", dir, FACECL, devopt);
    cr_assert_eq(rc, 0, "%s", out);
    cr_assert(strstr(out, "[heads] heads:arcface:8x64>40:step") && strstr(out, "[heads conv 1/") &&
              strstr(out, "[heads loss 1/"), "%s", out);
    free(out);
    cr_assert_eq(fcl_tune_cache_read(path, key, &c, &e), FCL_OK, "%s", e.msg);
    not_head_owned(&c, ctx, after, sizeof after);
    fcl_ctx_destroy(ctx);
    cr_assert_str_eq(after, before, "the head stage changed a value it does not own");
    /* as if the head stage had chosen these (whatever it chose: the run is too short to trust) */
    set_value(&c, "loss", "HEAD_MB", 4);
    set_value(&c, "conv", "CONV_WT_DX", 2);
    cr_assert_eq(fcl_tune_cache_write(path, &c, &e), FCL_OK, "%s", e.msg);
    char owned[512];
    head_owned(&c, owned, sizeof owned);
    cr_assert(strstr(owned, "HEAD_MB=4 ") && strstr(owned, "CONV_WT_DX=2 "), "%s", owned);
    fcl_tune_cache_free(&c);

    /* ... and the kernel stage alone keeps what the head stage chose (it starts from it) */
    rc = fcl_test_run(&out, TUNE NO_HEADS " --only kernels%s", dir, FACECL, devopt);
    cr_assert_eq(rc, 0, "%s", out);
    free(out);
    cr_assert_eq(fcl_tune_cache_read(path, key, &c, &e), FCL_OK, "%s", e.msg);
    char owned2[512];
    head_owned(&c, owned2, sizeof owned2);
    fcl_tune_cache_free(&c);
    cr_assert(strstr(owned2, "HEAD_MB=4 ") && strstr(owned2, "CONV_WT_DX=2 "), "before: %s, after: %s", owned, owned2);

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
