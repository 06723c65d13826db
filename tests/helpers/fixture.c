/* tests/helpers/fixture.c: reader of the "FCLFIX1" PyTorch fixture files (ops_torch.bin, losses_torch.bin). */
#include "helpers/fixture.h"

#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Little-endian u32 at p (bounds checked by the caller). */
static uint32_t le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Takes `len` bytes at *pos of buf[size], failing the test on a truncated file. */
static const unsigned char *take(const char *path, const unsigned char *buf, size_t size, size_t *pos,
                                 size_t len, const char *what)
{
    cr_assert(len <= size && *pos <= size - len, "%s: truncated at byte %zu reading %s", path, *pos,
              what);
    const unsigned char *p = buf + *pos;
    *pos += len;
    return p;
}

void fx_load(fixture *f, const char *path, const char *tool)
{
    memset(f, 0, sizeof *f);
    f->path = path;
    FILE *fp = fopen(path, "rb");
    cr_assert(fp != NULL, "cannot open %s (regenerate with %s)", path, tool);
    fseek(fp, 0, SEEK_END);
    long sz = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    cr_assert(sz > 0 && sz < (1L << 26), "%s: implausible size %ld", path, sz);
    unsigned char *buf = malloc((size_t)sz);
    cr_assert(buf != NULL);
    size_t got = fread(buf, 1, (size_t)sz, fp);
    fclose(fp);
    cr_assert(got == (size_t)sz, "%s: short read", path);

    size_t size = (size_t)sz, pos = 0;
    cr_assert(memcmp(take(path, buf, size, &pos, 8, "magic"), "FCLFIX1\0", 8) == 0, "%s: bad magic",
              path);
    uint32_t version = le32(take(path, buf, size, &pos, 4, "version"));
    uint32_t count = le32(take(path, buf, size, &pos, 4, "count"));
    cr_assert(version == 1, "%s: format version %u, expected 1", path, version);
    cr_assert(count > 0 && count < 10000, "%s: %u records", path, count);
    memcpy(f->generator, take(path, buf, size, &pos, 64, "generator"), 64);
    f->generator[64] = '\0';
    f->recs = calloc(count, sizeof *f->recs);
    cr_assert(f->recs != NULL);
    for (uint32_t r = 0; r < count; r++) {
        fx_rec *rec = &f->recs[r];
        uint32_t len = le32(take(path, buf, size, &pos, 4, "name length"));
        cr_assert(len > 0 && len < sizeof rec->name, "%s: record %u name length %u", path, r, len);
        memcpy(rec->name, take(path, buf, size, &pos, len, "name"), len);
        uint32_t ndim = le32(take(path, buf, size, &pos, 4, "ndim"));
        cr_assert(ndim <= 4, "%s: %s has %u dims", path, rec->name, ndim);
        rec->ndim = (int)ndim;
        rec->numel = 1;
        for (uint32_t d = 0; d < ndim; d++) {
            rec->shape[d] = le32(take(path, buf, size, &pos, 4, "extent"));
            cr_assert(rec->shape[d] > 0 && rec->shape[d] < (1u << 24), "%s: %s extent", path, rec->name);
            rec->numel *= rec->shape[d];
        }
        cr_assert(rec->numel < (1u << 24), "%s: %s too large", path, rec->name);
        const unsigned char *p = take(path, buf, size, &pos, rec->numel * 4, rec->name);
        rec->data = h_alloc(rec->numel);
        for (size_t i = 0; i < rec->numel; i++) {
            uint32_t u = le32(p + 4 * i);
            float v;
            memcpy(&v, &u, 4);
            rec->data[i] = v;
        }
        f->n++;
    }
    cr_assert(pos == size, "%s: %zu trailing bytes", path, size - pos);
    free(buf);
}

void fx_free(fixture *f)
{
    for (size_t i = 0; i < f->n; i++)
        free(f->recs[i].data);
    free(f->recs);
    memset(f, 0, sizeof *f);
}

const fx_rec *fx_get(const fixture *f, const char *c, const char *field)
{
    char name[64];
    snprintf(name, sizeof name, "%s.%s", c, field);
    for (size_t i = 0; i < f->n; i++)
        if (!strcmp(f->recs[i].name, name))
            return &f->recs[i];
    cr_assert_fail("%s: no record %s", f->path, name);
    return NULL;
}

h_buf fx_upload(fcl_ctx *ctx, const fx_rec *r)
{
    size_t one = 1;
    h_buf b = r->ndim ? h_upload(ctx, r->data, r->ndim, r->shape) : h_upload(ctx, r->data, 1, &one);
    return *h_name(&b, r->name);
}

h_buf fx_zeros_like(fcl_ctx *ctx, const fx_rec *r)
{
    size_t one = 1;
    return r->ndim ? h_zeros(ctx, r->ndim, r->shape) : h_zeros(ctx, 1, &one);
}

void fx_expect(fcl_ctx *ctx, const char *what, const h_buf *b, const fx_rec *r, double tol)
{
    cr_assert_eq(b->numel, r->numel, "%s: %zu values vs the fixture's %zu", what, b->numel, r->numel);
    double *got = h_alloc(b->numel);
    h_download(ctx, b, got);
    h_expect_close(what, got, r->data, r->numel, tol);
    free(got);
}

void fx_run(const char *path, const char *tool, fx_case_fn fn, const char *const *names)
{
    fixture f;
    fx_load(&f, path, tool);
    printf("  fixture: %s\n", f.generator);
    fcl_ctx *ctx = h_ctx();
    for (size_t i = 0; names[i]; i++) fn(ctx, &f, names[i]);
    h_ctx_free(ctx);
    fx_free(&f);
}

void fx_case_io(fcl_ctx *ctx, const fixture *f, const char *c, const char *what, const char *const in[2],
                const char *const out[2], int out0_scalar, fx_io_fn run, const void *p)
{
    size_t one = 1;
    const fx_rec *rx = fx_get(f, c, "x");
    h_buf b[4] = {fx_upload(ctx, fx_get(f, c, in[0])), fx_upload(ctx, fx_get(f, c, in[1])),
                  out0_scalar ? h_zeros(ctx, 1, &one) : fx_zeros_like(ctx, rx), fx_zeros_like(ctx, rx)};
    run(ctx, b, p);
    for (int k = 0; k < 2; k++) {
        char name[96];
        snprintf(name, sizeof name, "%s %s", what, out[k]);
        fx_expect(ctx, name, &b[FX_OUT0 + k], fx_get(f, c, out[k]), k ? H_TOL_BWD : H_TOL_FWD);
    }
    for (int k = 0; k < 4; k++) h_free(ctx, &b[k]);
}
