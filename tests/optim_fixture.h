/* tests/optim_fixture.h: reader of tests/fixtures/optim_torch.bin (PyTorch values for the optimizer and schedule tests). */
#ifndef FACECL_TESTS_OPTIM_FIXTURE_H
#define FACECL_TESTS_OPTIM_FIXTURE_H

#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Format (written by tools/make_optim_fixtures.py, all little-endian): "FCLFIX01", then records
 * of u32 name length, name, u32 count, count float64 values, until the end of the file. */

typedef struct fx_rec {
    char name[64];
    uint32_t n;
    double *v;
} fx_rec;

typedef struct fx_file {
    fx_rec *r;
    size_t n;
} fx_file;

static inline uint32_t fx_le32(const unsigned char *b)
{
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

static inline fx_file fx_load(void)
{
    const char *path = FACECL_SOURCE_DIR "/tests/fixtures/optim_torch.bin";
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "cannot open %s (make it with tools/make_optim_fixtures.py)", path);
    unsigned char magic[8], b4[4];
    cr_assert_eq(fread(magic, 1, 8, f), 8u);
    cr_assert(!memcmp(magic, "FCLFIX01", 8), "%s: bad magic", path);
    fx_file fx = {0};
    while (fread(b4, 1, 4, f) == 4) {
        fx.r = realloc(fx.r, (fx.n + 1) * sizeof *fx.r);
        cr_assert_not_null(fx.r);
        fx_rec *r = &fx.r[fx.n++];
        uint32_t len = fx_le32(b4);
        cr_assert(len < sizeof r->name, "%s: record name too long", path);
        cr_assert_eq(fread(r->name, 1, len, f), len);
        r->name[len] = '\0';
        cr_assert_eq(fread(b4, 1, 4, f), 4u);
        r->n = fx_le32(b4);
        r->v = malloc((r->n ? r->n : 1) * sizeof(double));
        cr_assert_not_null(r->v);
        unsigned char b8[8];
        for (uint32_t i = 0; i < r->n; i++) {
            cr_assert_eq(fread(b8, 1, 8, f), 8u, "%s: record %s truncated", path, r->name);
            uint64_t u = (uint64_t)fx_le32(b8) | (uint64_t)fx_le32(b8 + 4) << 32;
            memcpy(&r->v[i], &u, 8);
        }
    }
    fclose(f);
    return fx;
}

static inline const double *fx_get(const fx_file *fx, const char *name, size_t want_n)
{
    for (size_t i = 0; i < fx->n; i++)
        if (!strcmp(fx->r[i].name, name)) {
            cr_assert(want_n == 0 || fx->r[i].n == want_n, "fixture record %s has %u values, want %zu",
                      name, fx->r[i].n, want_n);
            return fx->r[i].v;
        }
    cr_assert_fail("fixture record %s missing (regenerate with tools/make_optim_fixtures.py)", name);
    return NULL;
}

static inline void fx_free(fx_file *fx)
{
    for (size_t i = 0; i < fx->n; i++) free(fx->r[i].v);
    free(fx->r);
}

#endif
