/* tests/test_safetensors.c: safetensors checkpoints: round trip, metadata, Python-written and Python-read files, corrupt input, shape check. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <dirent.h>

#include <facecl/safetensors.h>
#include "helpers/cmdline.h"

/* ---- helpers ------------------------------------------------------------------------------------ */

/* A safetensors image: LE header length, json, data. Caller frees. */
static unsigned char *mk(const char *json, const void *data, size_t dlen, size_t *size)
{
    size_t n = strlen(json);
    *size = 8 + n + dlen;
    unsigned char *b = malloc(*size ? *size : 1);
    cr_assert_not_null(b);
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)((uint64_t)n >> (8 * i));
    memcpy(b + 8, json, n);
    if (dlen) memcpy(b + 8 + n, data, dlen);
    return b;
}

/* Loading json+data from memory must fail with `want` and a message containing each needle. */
static void expect_bad(const char *what, const char *json, const void *data, size_t dlen,
                       fcl_status want, const char *needle1, const char *needle2)
{
    size_t n;
    unsigned char *b = mk(json, data, dlen, &n);
    fcl_checkpoint c;
    fcl_error err;
    fcl_error_clear(&err);
    fcl_status st = fcl_st_load_mem(&c, b, n, "bad.safetensors", &err);
    cr_expect_eq(st, want, "%s: got %s (%s)", what, fcl_status_name(st), err.msg);
    cr_expect(strstr(err.msg, "bad.safetensors") != NULL, "%s: message lacks the file: %s", what, err.msg);
    cr_expect(!needle1 || strstr(err.msg, needle1), "%s: message lacks \"%s\": %s", what, needle1, err.msg);
    cr_expect(!needle2 || strstr(err.msg, needle2), "%s: message lacks \"%s\": %s", what, needle2, err.msg);
    cr_expect_eq(c.count, 0u, "%s: a failed load must leave an empty checkpoint", what);
    printf("  %-28s -> %s\n", what, err.msg);
    fcl_ckpt_free(&c);
    free(b);
}

static int same_tensor(const fcl_st_tensor *a, const fcl_st_tensor *b)
{
    if (strcmp(a->name, b->name) || a->dtype != b->dtype || a->ndim != b->ndim || a->nbytes != b->nbytes)
        return 0;
    for (int i = 0; i < a->ndim; i++)
        if (a->shape[i] != b->shape[i]) return 0;
    return a->nbytes == 0 || !memcmp(a->data, b->data, a->nbytes);
}

/* A checkpoint with every dtype, a scalar, an empty tensor and odd sizes; the U8 tensor comes
 * first so the others sit at unaligned file offsets. */
static void sample(fcl_checkpoint *c)
{
    fcl_error err;
    fcl_error_clear(&err);
    fcl_ckpt_init(c);
    uint8_t u[3] = {7, 0, 255};
    float w[2 * 3 * 5];
    for (int i = 0; i < 30; i++) w[i] = (float)i * 0.37f - 3.0f;
    double d[7] = {0.1, -2.0, 1e-300, 1e300, -0.0, 3.25, 42.0};
    int64_t steps = -9007199254740993LL;
    uint16_t h[3] = {0x3c00, 0x8001, 0x7c00};   /* 1, -2^-24, inf */
    uint16_t bf[2] = {0x3f80, 0xc049};          /* 1, -3.140625 */
    uint64_t s_u[1] = {3}, s_w[3] = {2, 3, 5}, s_d[1] = {7}, s_h[1] = {3}, s_bf[2] = {1, 2},
             s_e[2] = {4, 0};
    cr_assert_eq(fcl_ckpt_add(c, "mask", FCL_ST_U8, 1, s_u, u, &err), FCL_OK, "%s", err.msg);
    cr_assert_eq(fcl_ckpt_add(c, "layer1.0.conv.weight", FCL_ST_F32, 3, s_w, w, &err), FCL_OK, "%s", err.msg);
    cr_assert_eq(fcl_ckpt_add(c, "d", FCL_ST_F64, 1, s_d, d, &err), FCL_OK, "%s", err.msg);
    cr_assert_eq(fcl_ckpt_add(c, "bn.num_batches_tracked", FCL_ST_I64, 0, NULL, &steps, &err), FCL_OK,
                 "%s", err.msg);
    cr_assert_eq(fcl_ckpt_add(c, "h", FCL_ST_F16, 1, s_h, h, &err), FCL_OK, "%s", err.msg);
    cr_assert_eq(fcl_ckpt_add(c, "bf", FCL_ST_BF16, 2, s_bf, bf, &err), FCL_OK, "%s", err.msg);
    cr_assert_eq(fcl_ckpt_add(c, "empty", FCL_ST_F32, 2, s_e, NULL, &err), FCL_OK, "%s", err.msg);
    cr_assert_eq(fcl_ckpt_add(c, "名前 \"quoted\"\n", FCL_ST_U8, 1, s_u, u, &err), FCL_OK, "%s", err.msg);
    cr_assert_eq(fcl_ckpt_set_meta(c, "format", "pt", &err), FCL_OK);
    cr_assert_eq(fcl_ckpt_set_meta(c, "epoch", "3", &err), FCL_OK);
    cr_assert_eq(fcl_ckpt_set_meta(c, "epoch", "4", &err), FCL_OK);   /* replaces */
    cr_assert_eq(fcl_ckpt_set_meta(c, "notes", "tab\there, \"quotes\", back\\slash, é", &err), FCL_OK);
}

/* sample() saved as dir/name, dir a fresh temporary folder. */
typedef struct saved_sample {
    char dir[64], path[128];
    fcl_checkpoint a;
} saved_sample;

static void save_sample(saved_sample *s, const char *name)
{
    fcl_error err;
    fcl_error_clear(&err);
    fcl_test_tmpdir(s->dir, sizeof s->dir, "st");
    snprintf(s->path, sizeof s->path, "%s/%s", s->dir, name);
    sample(&s->a);
    cr_assert_eq(fcl_st_save(&s->a, s->path, &err), FCL_OK, "%s", err.msg);
}

/* ---- round trip ------------------------------------------------------------------------------- */

Test(safetensors, round_trip)
{
    saved_sample s;
    save_sample(&s, "model.safetensors");
    fcl_checkpoint b;
    fcl_error err;
    fcl_error_clear(&err);
    /* saving again replaces the file atomically and leaves no temporary behind */
    cr_assert_eq(fcl_st_save(&s.a, s.path, &err), FCL_OK, "%s", err.msg);
    DIR *dd = opendir(s.dir);
    int files = 0;
    struct dirent *de;
    while ((de = readdir(dd)))
        if (de->d_name[0] != '.') files++;
    closedir(dd);
    cr_expect_eq(files, 1, "temporary files left in %s", s.dir);

    size_t n;
    unsigned char *raw = (unsigned char *)fcl_test_slurp_n(s.path, &n);
    uint64_t hl = 0;
    for (int i = 7; i >= 0; i--) hl = hl << 8 | raw[i];
    cr_expect_eq(hl % 8, 0u, "header padded to 8 bytes (got %llu)", (unsigned long long)hl);
    cr_expect_eq(raw[8], '{');
    free(raw);

    cr_assert_eq(fcl_st_load(&b, s.path, &err), FCL_OK, "%s", err.msg);
    cr_assert_eq(b.count, s.a.count);
    for (size_t i = 0; i < s.a.count; i++) {
        cr_expect(same_tensor(&s.a.tensors[i], &b.tensors[i]), "tensor %zu (%s) differs", i, s.a.tensors[i].name);
        /* data is aligned for its dtype even where the file offset is not */
        size_t es = fcl_st_dtype_size(b.tensors[i].dtype);
        cr_expect(b.tensors[i].data == NULL || (uintptr_t)b.tensors[i].data % es == 0,
                  "tensor %s data misaligned", b.tensors[i].name);
    }
    cr_expect_eq(b.n_meta, 3u);
    cr_expect_str_eq(fcl_ckpt_get_meta(&b, "epoch"), "4");
    cr_expect_str_eq(fcl_ckpt_get_meta(&b, "notes"), "tab\there, \"quotes\", back\\slash, é");
    cr_expect_null(fcl_ckpt_get_meta(&b, "missing"));
    const fcl_st_tensor *t = fcl_ckpt_find(&b, "bn.num_batches_tracked");
    cr_assert_not_null(t);
    cr_expect_eq(t->ndim, 0);
    cr_expect_eq(t->numel, 1u);
    int64_t v;
    cr_assert_eq(fcl_st_tensor_to_i64(t, &v, 1, &err), FCL_OK);
    cr_expect_eq(v, -9007199254740993LL);
    cr_expect_null(fcl_ckpt_find(&b, "nope"));
    fcl_ckpt_free(&s.a);
    fcl_ckpt_free(&b);
    cr_assert(fcl_test_rm_rf(s.dir));
}

Test(safetensors, conversions)
{
    fcl_checkpoint c;
    fcl_error err;
    fcl_error_clear(&err);
    sample(&c);
    float f[30];
    const fcl_st_tensor *h = fcl_ckpt_find(&c, "h");
    cr_assert_eq(fcl_st_tensor_to_f32(h, f, 3, &err), FCL_OK);
    cr_expect_eq(f[0], 1.0f);
    cr_expect_eq(f[1], -ldexpf(1.0f, -24), "f16 subnormal: %g", f[1]);
    cr_expect(isinf(f[2]) && f[2] > 0);
    cr_assert_eq(fcl_st_tensor_to_f32(fcl_ckpt_find(&c, "bf"), f, 2, &err), FCL_OK);
    cr_expect_eq(f[0], 1.0f);
    cr_expect_eq(f[1], -3.140625f);
    cr_assert_eq(fcl_st_tensor_to_f32(fcl_ckpt_find(&c, "d"), f, 7, &err), FCL_OK);
    cr_expect_eq(f[0], 0.1f);
    cr_expect_eq(f[2], 0.0f);
    cr_expect(isinf(f[3]));
    cr_assert_eq(fcl_st_tensor_to_f32(fcl_ckpt_find(&c, "mask"), f, 3, &err), FCL_OK);
    cr_expect_eq(f[2], 255.0f);
    cr_expect_eq(fcl_st_tensor_to_f32(fcl_ckpt_find(&c, "mask"), f, 4, &err), FCL_ERR_SHAPE);
    int64_t i64[30];
    cr_expect_eq(fcl_st_tensor_to_i64(fcl_ckpt_find(&c, "layer1.0.conv.weight"), i64, 30, &err),
                 FCL_ERR_FORMAT);
    cr_expect(strstr(err.msg, "layer1.0.conv.weight") != NULL, "%s", err.msg);
    /* f16: every finite half converts exactly (check a spread against ldexp) */
    for (uint32_t bits = 0; bits < 0x7c00; bits += 97) {
        fcl_checkpoint one;
        fcl_ckpt_init(&one);
        uint16_t hv = (uint16_t)bits;
        uint64_t s1[1] = {1};
        cr_assert_eq(fcl_ckpt_add(&one, "x", FCL_ST_F16, 1, s1, &hv, &err), FCL_OK);
        float got;
        cr_assert_eq(fcl_st_tensor_to_f32(&one.tensors[0], &got, 1, &err), FCL_OK);
        int e = (int)(bits >> 10), m = (int)(bits & 0x3ff);
        float want = e ? ldexpf((float)(1024 + m), e - 25) : ldexpf((float)m, -24);
        cr_expect_eq(got, want, "half 0x%04x: %g, want %g", bits, got, want);
        fcl_ckpt_free(&one);
    }
    fcl_ckpt_free(&c);
}

Test(safetensors, add_rejects_bad_input)
{
    fcl_checkpoint c;
    fcl_error err;
    fcl_error_clear(&err);
    fcl_ckpt_init(&c);
    uint64_t s[1] = {2};
    float v[2] = {1, 2};
    cr_assert_eq(fcl_ckpt_add(&c, "a", FCL_ST_F32, 1, s, v, &err), FCL_OK);
    cr_expect_eq(fcl_ckpt_add(&c, "a", FCL_ST_F32, 1, s, v, &err), FCL_ERR_INVALID_ARG);
    cr_expect(strstr(err.msg, "already") != NULL, "%s", err.msg);
    cr_expect_eq(fcl_ckpt_add(&c, "__metadata__", FCL_ST_F32, 1, s, v, &err), FCL_ERR_INVALID_ARG);
    cr_expect_eq(fcl_ckpt_add(&c, "", FCL_ST_F32, 1, s, v, &err), FCL_ERR_INVALID_ARG);
    cr_expect_eq(fcl_ckpt_add(&c, "bad\xff", FCL_ST_F32, 1, s, v, &err), FCL_ERR_INVALID_ARG);
    cr_expect_eq(fcl_ckpt_add(&c, "b", FCL_ST_F32, 1, s, NULL, &err), FCL_ERR_INVALID_ARG);
    cr_expect_eq(fcl_ckpt_add(&c, "b", FCL_ST_F32, 9, s, v, &err), FCL_ERR_INVALID_ARG);
    cr_expect_eq(fcl_ckpt_add(&c, "b", (fcl_st_dtype)77, 1, s, v, &err), FCL_ERR_INVALID_ARG);
    uint64_t huge[2] = {1ull << 62, 1ull << 62};
    cr_expect_eq(fcl_ckpt_add(&c, "b", FCL_ST_F32, 2, huge, v, &err), FCL_ERR_INVALID_ARG);
    cr_expect_eq(c.count, 1u);
    /* a checkpoint made inconsistent by hand is refused by the writer, the target untouched */
    char dir[64], path[128];
    fcl_test_tmpdir(dir, sizeof dir, "st");
    snprintf(path, sizeof path, "%s/x.safetensors", dir);
    c.tensors[0].nbytes = 4;
    cr_expect_eq(fcl_st_save(&c, path, &err), FCL_ERR_INVALID_ARG);
    printf("  writer refused: %s\n", err.msg);
    cr_expect_neq(access(path, F_OK), 0, "nothing may be written");
    c.tensors[0].nbytes = 8;
    snprintf(path, sizeof path, "%s/no/such/folder/x.safetensors", dir);
    cr_expect_eq(fcl_st_save(&c, path, &err), FCL_ERR_IO);
    cr_expect(strstr(err.msg, path) != NULL, "%s", err.msg);
    printf("  writer error: %s\n", err.msg);
    fcl_ckpt_free(&c);
    cr_assert(fcl_test_rm_rf(dir));
}

/* ---- interoperability with the Python safetensors package --------------------------------------- */

/* tests/fixtures/st_python.safetensors was written by safetensors.torch.save_file (see
 * tools/make_optim_fixtures.py, st_fixture). */
Test(safetensors, reads_python_file)
{
    const char *path = FACECL_SOURCE_DIR "/tests/fixtures/st_python.safetensors";
    fcl_checkpoint c;
    fcl_error err;
    fcl_error_clear(&err);
    cr_assert_eq(fcl_st_load(&c, path, &err), FCL_OK, "%s", err.msg);
    cr_expect_eq(c.count, 7u);
    float f[12];
    const fcl_st_tensor *t = fcl_ckpt_find(&c, "conv.weight");
    cr_assert_not_null(t);
    cr_expect_eq(t->dtype, FCL_ST_F32);
    cr_expect_eq(t->ndim, 4);
    cr_expect(t->shape[0] == 2 && t->shape[1] == 3 && t->shape[2] == 1 && t->shape[3] == 2);
    cr_assert_eq(fcl_st_tensor_to_f32(t, f, 12, &err), FCL_OK);
    for (int i = 0; i < 12; i++) cr_expect_eq(f[i], (float)i * 0.25f - 1.0f);
    t = fcl_ckpt_find(&c, "bn.num_batches_tracked");
    cr_assert_not_null(t);
    cr_expect_eq(t->dtype, FCL_ST_I64);
    cr_expect_eq(t->ndim, 0);
    int64_t nb;
    cr_assert_eq(fcl_st_tensor_to_i64(t, &nb, 1, &err), FCL_OK);
    cr_expect_eq(nb, 12345678901LL);
    t = fcl_ckpt_find(&c, "fc.bias");
    cr_assert_not_null(t);
    cr_expect_eq(t->dtype, FCL_ST_F64);
    cr_expect_eq(((const double *)t->data)[1], -2.25);
    cr_expect_eq(((const double *)t->data)[2], 1e-300);
    t = fcl_ckpt_find(&c, "mask");
    cr_assert_not_null(t);
    cr_expect_eq(t->dtype, FCL_ST_U8);
    cr_expect(!memcmp(t->data, "\x00\x01\x7f\x80\xff", 5));
    t = fcl_ckpt_find(&c, "half");
    cr_assert_not_null(t);
    cr_assert_eq(fcl_st_tensor_to_f32(t, f, 4, &err), FCL_OK);
    cr_expect(f[0] == 1.0f && f[1] == -2.5f && f[2] == ldexpf(1.0f, -24) && f[3] == 65504.0f,
              "half: %g %g %g %g", f[0], f[1], f[2], f[3]);
    t = fcl_ckpt_find(&c, "bf");
    cr_assert_not_null(t);
    cr_assert_eq(fcl_st_tensor_to_f32(t, f, 2, &err), FCL_OK);
    cr_expect(f[0] == 1.0f && f[1] == -3.140625f);
    t = fcl_ckpt_find(&c, "empty");
    cr_assert_not_null(t);
    cr_expect(t->numel == 0 && t->ndim == 2 && t->shape[0] == 0 && t->shape[1] == 3);
    cr_expect_str_eq(fcl_ckpt_get_meta(&c, "format"), "pt");
    cr_expect_str_eq(fcl_ckpt_get_meta(&c, "note"), "fixture \xc3\xbc \"quoted\"");
    fcl_ckpt_free(&c);
}

/* Writes the file `make_optim_fixtures.py --check-st` expects; when a Python with safetensors
 * and torch is there ($FACECL_PYTHON, default /usr/bin/python3), has it load and check it. */
Test(safetensors, python_reads_our_file)
{
    const char *path = FACECL_BINARY_DIR "/st_for_python.safetensors";
    fcl_checkpoint c;
    fcl_error err;
    fcl_error_clear(&err);
    fcl_ckpt_init(&c);
    float w[12];
    for (int i = 0; i < 12; i++) w[i] = (float)i * 0.5f - 2.0f;
    int64_t steps = 42;
    double d[2] = {0.1, -1e200};
    uint8_t u[3] = {1, 2, 250};
    uint16_t h[2] = {0x3c00, 0xb800};
    size_t sw[2] = {3, 4};
    uint64_t s2[1] = {2}, s3[1] = {3}, sz[2] = {2, 0};
    /* U8 first: the F64 and F16 data land at odd offsets, which Python must accept */
    cr_assert_eq(fcl_ckpt_add(&c, "u", FCL_ST_U8, 1, s3, u, &err), FCL_OK);
    cr_assert_eq(fcl_ckpt_add_f32(&c, "w", 2, sw, w, &err), FCL_OK);
    cr_assert_eq(fcl_ckpt_add(&c, "steps", FCL_ST_I64, 0, NULL, &steps, &err), FCL_OK);
    cr_assert_eq(fcl_ckpt_add(&c, "d", FCL_ST_F64, 1, s2, d, &err), FCL_OK);
    cr_assert_eq(fcl_ckpt_add(&c, "h", FCL_ST_F16, 1, s2, h, &err), FCL_OK);
    cr_assert_eq(fcl_ckpt_add(&c, "z", FCL_ST_F32, 2, sz, NULL, &err), FCL_OK);
    cr_assert_eq(fcl_ckpt_set_meta(&c, "epoch", "7", &err), FCL_OK);
    cr_assert_eq(fcl_ckpt_set_meta(&c, "model", "r\xc3\xa9snet \"18\"\n", &err), FCL_OK);
    cr_assert_eq(fcl_st_save(&c, path, &err), FCL_OK, "%s", err.msg);
    fcl_ckpt_free(&c);

    const char *py = getenv("FACECL_PYTHON");
    if (!py || !*py) py = "/usr/bin/python3";
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "'%s' -c 'import safetensors, torch' >/dev/null 2>&1", py);
    if (system(cmd) != 0) {
        printf("  %s has no safetensors+torch: wrote %s, Python check skipped\n", py, path);
        cr_skip_test("no Python safetensors package ($FACECL_PYTHON=%s)", py);
    }
    snprintf(cmd, sizeof cmd, "'%s' '%s/tools/make_optim_fixtures.py' --check-st '%s'", py,
             FACECL_SOURCE_DIR, path);
    fflush(stdout);
    cr_expect_eq(system(cmd), 0, "Python could not read %s as expected", path);
}

/* ---- corrupt files ----------------------------------------------------------------------------- */

Test(safetensors, corrupt_files_give_clear_errors)
{
    float f4[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    const char *ok = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                     "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}";
    size_t n;
    unsigned char *good = mk(ok, f4, 16, &n);
    fcl_checkpoint c;
    fcl_error err;
    fcl_error_clear(&err);
    cr_assert_eq(fcl_st_load_mem(&c, good, n, "good", &err), FCL_OK, "%s", err.msg);
    cr_expect_eq(c.count, 2u);
    fcl_ckpt_free(&c);

    expect_bad("overlapping offsets",
               "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
               "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
               f4, 12, FCL_ERR_FORMAT, "overlaps", "\"b\"");
    expect_bad("gap between tensors",
               "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
               "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}",
               f4, 16, FCL_ERR_FORMAT, "gap", "\"b\"");
    expect_bad("trailing data", ok, f4, 16 - 4 + 8, FCL_ERR_FORMAT, "trailing", NULL);
    expect_bad("offsets past the data",
               "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", f4, 12,
               FCL_ERR_FORMAT, "\"a\"", "not inside");
    expect_bad("shape vs offsets",
               "{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,16]}}", f4, 16,
               FCL_ERR_FORMAT, "\"a\"", "need 12 bytes");
    expect_bad("shape overflow",
               "{\"a\":{\"dtype\":\"F64\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,16]}}",
               f4, 16, FCL_ERR_FORMAT, "\"a\"", "too large");
    expect_bad("unknown dtype", "{\"w\":{\"dtype\":\"Q7\",\"shape\":[4],\"data_offsets\":[0,16]}}", f4,
               16, FCL_ERR_FORMAT, "unknown dtype", "\"w\"");
    expect_bad("unsupported dtype", "{\"w\":{\"dtype\":\"I32\",\"shape\":[4],\"data_offsets\":[0,16]}}",
               f4, 16, FCL_ERR_UNSUPPORTED, "I32", "\"w\"");
    expect_bad("bad json: trailing comma",
               "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},}", f4, 16,
               FCL_ERR_FORMAT, "JSON syntax error", NULL);
    expect_bad("bad json: unterminated", "{\"a\":{\"dtype\":\"F32\",\"shape\":[4", f4, 16,
               FCL_ERR_FORMAT, "JSON", NULL);
    expect_bad("bad json: garbage after", "{} x", NULL, 0, FCL_ERR_FORMAT, "trailing characters", NULL);
    expect_bad("bad json: single quotes", "{'a':1}", NULL, 0, FCL_ERR_FORMAT, "JSON", NULL);
    expect_bad("bad json: leading zero",
               "{\"a\":{\"dtype\":\"F32\",\"shape\":[04],\"data_offsets\":[0,16]}}", f4, 16,
               FCL_ERR_FORMAT, "leading zero", NULL);
    expect_bad("not an object", "[1, 2]", NULL, 0, FCL_ERR_FORMAT, "'{'", NULL);
    expect_bad("invalid utf-8", "{\"\xc3\x28\":{}}", NULL, 0, FCL_ERR_FORMAT, "UTF-8", NULL);
    expect_bad("duplicate name",
               "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
               "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}",
               f4, 16, FCL_ERR_FORMAT, "repeats the key \"a\"", NULL);
    expect_bad("negative shape", "{\"a\":{\"dtype\":\"F32\",\"shape\":[-4],\"data_offsets\":[0,16]}}",
               f4, 16, FCL_ERR_FORMAT, "shape entry 0", "\"a\"");
    expect_bad("fractional offset", "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16.0]}}",
               f4, 16, FCL_ERR_FORMAT, "data_offsets", "\"a\"");
    expect_bad("missing field", "{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,16]}}", f4, 16,
               FCL_ERR_FORMAT, "missing field \"shape\"", "\"a\"");
    expect_bad("unknown field",
               "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16],\"x\":1}}", f4, 16,
               FCL_ERR_FORMAT, "unknown field \"x\"", NULL);
    expect_bad("metadata not strings", "{\"__metadata__\":{\"epoch\":3}}", NULL, 0, FCL_ERR_FORMAT,
               "__metadata__", "epoch");
    expect_bad("deep nesting", "{\"a\":[[[[[[[[[[[[1]]]]]]]]]]]]}", NULL, 0, FCL_ERR_FORMAT,
               "too deep", NULL);
    expect_bad("bad escape", "{\"a\\q\":{}}", NULL, 0, FCL_ERR_FORMAT, "escape", NULL);
    expect_bad("lone surrogate", "{\"\\ud800x\":{}}", NULL, 0, FCL_ERR_FORMAT, "surrogate", NULL);
    expect_bad("too many dims",
               "{\"a\":{\"dtype\":\"U8\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,1]}}", f4, 1,
               FCL_ERR_UNSUPPORTED, "dimensions", "\"a\"");

    /* header length fields */
    unsigned char b[32];
    memset(b, 0, sizeof b);
    b[5] = 1;   /* 2^40 */
    cr_expect_eq(fcl_st_load_mem(&c, b, sizeof b, "huge.safetensors", &err), FCL_ERR_FORMAT);
    cr_expect(strstr(err.msg, "huge.safetensors") && strstr(err.msg, "limit"), "%s", err.msg);
    printf("  %-28s -> %s\n", "huge header length", err.msg);
    memset(b, 0, sizeof b);
    b[0] = 100;
    cr_expect_eq(fcl_st_load_mem(&c, b, sizeof b, "short.safetensors", &err), FCL_ERR_FORMAT);
    cr_expect(strstr(err.msg, "runs past the end"), "%s", err.msg);
    printf("  %-28s -> %s\n", "header past the end", err.msg);
    cr_expect_eq(fcl_st_load_mem(&c, b, 5, "tiny", &err), FCL_ERR_FORMAT);
    cr_expect(strstr(err.msg, "too short"), "%s", err.msg);

    /* every truncation of a valid file is an error (and never a crash) */
    for (size_t cut = 0; cut < n; cut++) {
        fcl_status st = fcl_st_load_mem(&c, good, cut, "cut", &err);
        cr_expect_neq(st, FCL_OK, "a file cut at %zu of %zu bytes loaded", cut, n);
        fcl_ckpt_free(&c);
    }
    /* every single-byte corruption loads or fails cleanly; count the outcomes */
    size_t loaded = 0, failed = 0;
    for (size_t i = 0; i < n; i++) {
        for (int bit = 0; bit < 8; bit++) {
            good[i] ^= (unsigned char)(1u << bit);
            fcl_status st = fcl_st_load_mem(&c, good, n, "flip", &err);
            if (st == FCL_OK) loaded++;
            else failed++;
            fcl_ckpt_free(&c);
            good[i] ^= (unsigned char)(1u << bit);
        }
    }
    printf("  bit flips: %zu loaded (data bytes or harmless), %zu refused\n", loaded, failed);
    cr_expect(failed > 0 && loaded >= 16 * 8, "data-section flips must still load");
    free(good);
}

Test(safetensors, truncated_file_on_disk)
{
    saved_sample s;
    save_sample(&s, "t.safetensors");
    fcl_checkpoint c;
    fcl_error err;
    fcl_error_clear(&err);
    size_t n;
    unsigned char *raw = (unsigned char *)fcl_test_slurp_n(s.path, &n);
    cr_assert_eq(truncate(s.path, (off_t)(n - 3)), 0);
    cr_expect_eq(fcl_st_load(&c, s.path, &err), FCL_ERR_FORMAT);
    cr_expect(strstr(err.msg, s.path) != NULL, "%s", err.msg);
    printf("  truncated data: %s\n", err.msg);
    cr_assert_eq(truncate(s.path, 20), 0);
    cr_expect_eq(fcl_st_load(&c, s.path, &err), FCL_ERR_FORMAT);
    printf("  truncated header: %s\n", err.msg);
    unsigned char huge[16] = {0, 0, 0, 0, 0, 1, 0, 0, '{', '}'};   /* header length 2^40 */
    fcl_test_write(s.path, huge, sizeof huge);
    cr_expect_eq(fcl_st_load(&c, s.path, &err), FCL_ERR_FORMAT);
    cr_expect(strstr(err.msg, "limit") != NULL, "%s", err.msg);
    printf("  huge header length: %s\n", err.msg);
    snprintf(s.path, sizeof s.path, "%s/missing.safetensors", s.dir);
    cr_expect_eq(fcl_st_load(&c, s.path, &err), FCL_ERR_IO);
    cr_expect(strstr(err.msg, s.path) != NULL, "%s", err.msg);
    printf("  missing file: %s\n", err.msg);
    cr_expect_eq(fcl_st_load(&c, s.dir, &err), FCL_ERR_IO);
    printf("  a folder: %s\n", err.msg);
    free(raw);
    fcl_ckpt_free(&s.a);
    cr_assert(fcl_test_rm_rf(s.dir));
}

/* ---- shape check ------------------------------------------------------------------------------- */

Test(safetensors, shape_check_reports_everything)
{
    fcl_checkpoint c;
    fcl_error err;
    fcl_error_clear(&err);
    sample(&c);
    fcl_st_expect want[] = {
        {"layer1.0.conv.weight", 3, {2, 3, 5}},
        {"d", 1, {7}},
        {"h", 1, {3}},
        {"bf", 2, {1, 2}},
        {"empty", 2, {4, 0}},
        {"mask", 1, {3}},
        {"bn.num_batches_tracked", 0, {0}},
        {"名前 \"quoted\"\n", 1, {3}},
    };
    size_t nw = sizeof want / sizeof want[0];
    cr_expect_eq(fcl_st_check_shapes(&c, "ok.safetensors", want, nw, NULL, &err), FCL_OK, "%s", err.msg);

    want[0].shape[2] = 4;                 /* shape differs */
    want[3].ndim = 1;                     /* rank differs */
    want[1].name = "fc.weight";           /* "d" becomes unexpected, fc.weight missing */
    want[5].name = "classifier.bias";     /* "mask" unexpected, classifier.bias missing */
    const char *ignore[] = {"bn.", NULL};
    want[6].name = "other";               /* bn.num_batches_tracked ignored by prefix */
    cr_expect_eq(fcl_st_check_shapes(&c, "old.safetensors", want, nw, ignore, &err), FCL_ERR_SHAPE);
    printf("  %s\n", err.msg);
    const char *needles[] = {"old.safetensors", "3 missing", "2 unexpected", "2 with another shape",
                             "missing: fc.weight, classifier.bias, other", "unexpected: mask, d;",
                             "layer1.0.conv.weight (file [2, 3, 5], expected [2, 3, 4])",
                             "bf (file [1, 2], expected [1])"};
    for (size_t i = 0; i < sizeof needles / sizeof needles[0]; i++)
        cr_expect(strstr(err.msg, needles[i]) != NULL, "message lacks \"%s\": %s", needles[i], err.msg);
    cr_expect(strstr(err.msg, "bn.num_batches_tracked") == NULL, "ignored prefix reported: %s", err.msg);

    /* same against a file */
    char dir[64], path[128];
    fcl_test_tmpdir(dir, sizeof dir, "st");
    snprintf(path, sizeof path, "%s/m.safetensors", dir);
    cr_assert_eq(fcl_st_save(&c, path, &err), FCL_OK, "%s", err.msg);
    cr_expect_eq(fcl_st_check_file(path, want, nw, ignore, &err), FCL_ERR_SHAPE);
    cr_expect(strstr(err.msg, path) && strstr(err.msg, "classifier.bias"), "%s", err.msg);

    /* many mismatches still make one bounded message */
    static fcl_st_expect many[2000];
    static char names[2000][32];
    for (int i = 0; i < 2000; i++) {
        snprintf(names[i], sizeof names[i], "features.%d.conv.weight", i);
        many[i] = (fcl_st_expect){names[i], 1, {1}};
    }
    cr_expect_eq(fcl_st_check_shapes(&c, "x", many, 2000, NULL, &err), FCL_ERR_SHAPE);
    cr_expect(strstr(err.msg, "2000 missing") && strstr(err.msg, "cut short"), "%.300s", err.msg);
    fcl_ckpt_free(&c);
    cr_assert(fcl_test_rm_rf(dir));
}
