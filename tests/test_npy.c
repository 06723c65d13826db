/* tests/test_npy.c: the .npy writer's exact bytes (numpy format 1.0) and the strict reader. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <facecl/npy.h>
#include "helpers/cmdline.h"

static char dir[] = "/tmp/fcl_npyXXXXXX";

static void setup(void) { cr_assert(mkdtemp(dir)); }
static void teardown(void)
{
    cr_expect(fcl_test_rm_rf(dir));
}

TestSuite(npy, .init = setup, .fini = teardown);

Test(npy, header_bytes_and_round_trip)
{
    char p[256];
    snprintf(p, sizeof p, "%s/a.npy", dir);
    float data[12];
    for (int i = 0; i < 12; i++) data[i] = (float)i * 0.5f - 2.0f;
    size_t shape[2] = {3, 4};
    fcl_error e = {0};
    cr_assert_eq(fcl_npy_write_f32(p, data, 2, shape, &e), FCL_OK, "%s", e.msg);
    size_t n;
    char *b = fcl_test_slurp_n(p, &n);
    /* What numpy.save writes for np.arange(12, dtype='<f4').reshape(3, 4) (header to 64 bytes). */
    const char want[] = "\x93NUMPY\x01\x00\x76\x00{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }";
    cr_assert_eq(memcmp(b, want, sizeof want - 1), 0, "header: %.*s", 70, b + 10);
    cr_expect_eq(n, 128u + 48u);
    for (size_t i = sizeof want - 1; i < 127; i++) cr_expect_eq(b[i], ' ', "pad byte %zu", i);
    cr_expect_eq(b[127], '\n');
    cr_expect_eq(memcmp(b + 128, data, 48), 0); /* little-endian host */
    free(b);

    fcl_npy a;
    cr_assert_eq(fcl_npy_read_f32(p, &a, &e), FCL_OK, "%s", e.msg);
    cr_expect_eq(a.ndim, 2);
    cr_expect_eq(a.shape[0], 3u);
    cr_expect_eq(a.shape[1], 4u);
    cr_expect_eq(memcmp(a.data, data, sizeof data), 0);
    fcl_npy_free(&a);

    /* 1-d shapes are written as Python's one-element tuple "(5,)"; 0-d as "()". */
    size_t s1[1] = {5};
    cr_assert_eq(fcl_npy_write_f32(p, data, 1, s1, &e), FCL_OK, "%s", e.msg);
    b = fcl_test_slurp_n(p, &n);
    cr_expect(strstr(b + 10, "'shape': (5,), }"), "%s", b + 10);
    cr_expect_eq((n - 20) % 64, 0u);
    free(b);
    cr_assert_eq(fcl_npy_read_f32(p, &a, &e), FCL_OK, "%s", e.msg);
    cr_expect_eq(a.ndim, 1);
    cr_expect_eq(a.shape[0], 5u);
    fcl_npy_free(&a);
    cr_assert_eq(fcl_npy_write_f32(p, data, 0, NULL, &e), FCL_OK, "%s", e.msg);
    cr_assert_eq(fcl_npy_read_f32(p, &a, &e), FCL_OK, "%s", e.msg);
    cr_expect_eq(a.ndim, 0);
    cr_expect_eq(a.numel, 1u);
    cr_expect_eq(a.data[0], data[0]);
    fcl_npy_free(&a);
    /* An empty [0, 8] array. */
    size_t s0[2] = {0, 8};
    cr_assert_eq(fcl_npy_write_f32(p, NULL, 2, s0, &e), FCL_OK, "%s", e.msg);
    cr_assert_eq(fcl_npy_read_f32(p, &a, &e), FCL_OK, "%s", e.msg);
    cr_expect_eq(a.numel, 0u);
    cr_expect_eq(a.shape[1], 8u);
    fcl_npy_free(&a);
}

Test(npy, reader_rejects_bad_files)
{
    char p[256];
    snprintf(p, sizeof p, "%s/b.npy", dir);
    float data[6] = {1, 2, 3, 4, 5, 6};
    size_t shape[2] = {2, 3};
    fcl_error e = {0};
    fcl_npy a;
    cr_assert_eq(fcl_npy_write_f32(p, data, 2, shape, &e), FCL_OK, "%s", e.msg);
    size_t n;
    char *good = fcl_test_slurp_n(p, &n);

    /* Truncated data. */
    fcl_test_write(p, good, n - 4);
    cr_assert_neq(fcl_npy_read_f32(p, &a, &e), FCL_OK);
    cr_expect(strstr(e.msg, "b.npy") && strstr(e.msg, "data bytes"), "%s", e.msg);
    cr_expect_null(a.data);
    /* One corruption of the good file a row: a string after the magic replaced (find -> repl) or
     * the byte at `at` set to `byte`; the read fails (with `want` when `exact`) naming `msg`. */
    static const struct {
        const char *what, *find, *repl;
        int at;
        char byte;
        int exact;
        fcl_status want;
        const char *msg;
    } bad[] = {
        {"bad magic", NULL, NULL, 1, 'X', 0, FCL_OK, "magic"},
        {"another dtype", "<f4", "<f8", 0, 0, 1, FCL_ERR_UNSUPPORTED, "<f8"},
        {"Fortran order", "False", "True ", 0, 0, 1, FCL_ERR_UNSUPPORTED, NULL},
        {"header length past the end", NULL, NULL, 9, 0x7f, 0, FCL_OK, "header length"},
        {"garbage in the dict", "(2, 3)", "(2; 3)", 0, 0, 1, FCL_ERR_FORMAT, "shape"},
    };
    char *c = malloc(n);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        memcpy(c, good, n);
        if (bad[i].find) {
            char *d = strstr(c + 10, bad[i].find);
            cr_assert_not_null(d, "%s: no %s in the header", bad[i].what, bad[i].find);
            memcpy(d, bad[i].repl, strlen(bad[i].repl));
        } else {
            c[bad[i].at] = bad[i].byte;
        }
        fcl_test_write(p, c, n);
        fcl_status st = fcl_npy_read_f32(p, &a, &e);
        if (bad[i].exact) cr_assert_eq(st, bad[i].want, "%s: %s", bad[i].what, fcl_status_name(st));
        else cr_assert_neq(st, FCL_OK, "%s was read", bad[i].what);
        if (bad[i].msg) cr_expect(strstr(e.msg, bad[i].msg), "%s: %s", bad[i].what, e.msg);
    }
    /* Missing file. */
    char q[300];
    snprintf(q, sizeof q, "%s/none.npy", dir);
    cr_assert_eq(fcl_npy_read_f32(q, &a, &e), FCL_ERR_IO);
    cr_expect(strstr(e.msg, "none.npy"), "%s", e.msg);
    /* A failed write leaves no file and no temporary behind. */
    snprintf(q, sizeof q, "%s/no/such/dir/x.npy", dir);
    cr_assert_eq(fcl_npy_write_f32(q, data, 2, shape, &e), FCL_ERR_IO);
    cr_expect(strstr(e.msg, "x.npy"), "%s", e.msg);
    free(c);
    free(good);
}
