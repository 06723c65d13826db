/* tests/test_ops_torch.c: facecl's OpenCL ops against PyTorch outputs (tests/fixtures/ops_torch.bin, made by tools/make_op_fixtures.py). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <facecl/ops_bn.h>
#include <facecl/ops_conv.h>
#include <facecl/ops_loss.h>
#include <facecl/ops_pool.h>

#include "helpers/harness.h"

#define FIXTURE FACECL_SOURCE_DIR "/tests/fixtures/ops_torch.bin"

/* ---- the fixture file (format: see tools/make_op_fixtures.py) -------------------------------- */

typedef struct fx_rec {
    char name[64];
    int ndim;
    size_t shape[4];
    size_t numel;
    double *data;
} fx_rec;

typedef struct fixture {
    fx_rec *recs;
    size_t n;
    char generator[65];
} fixture;

/* Little-endian u32 at p (bounds checked by the caller). */
static uint32_t le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Takes `len` bytes at *pos of buf[size], failing the test on a truncated file. */
static const unsigned char *take(const unsigned char *buf, size_t size, size_t *pos, size_t len,
                                 const char *what)
{
    cr_assert(len <= size && *pos <= size - len, "%s: truncated at byte %zu reading %s", FIXTURE, *pos,
              what);
    const unsigned char *p = buf + *pos;
    *pos += len;
    return p;
}

static void fx_load(fixture *f)
{
    memset(f, 0, sizeof *f);
    FILE *fp = fopen(FIXTURE, "rb");
    cr_assert(fp != NULL, "cannot open %s (regenerate with tools/make_op_fixtures.py)", FIXTURE);
    fseek(fp, 0, SEEK_END);
    long sz = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    cr_assert(sz > 0 && sz < (1L << 26), "%s: implausible size %ld", FIXTURE, sz);
    unsigned char *buf = malloc((size_t)sz);
    cr_assert(buf != NULL);
    size_t got = fread(buf, 1, (size_t)sz, fp);
    fclose(fp);
    cr_assert(got == (size_t)sz, "%s: short read", FIXTURE);

    size_t size = (size_t)sz, pos = 0;
    cr_assert(memcmp(take(buf, size, &pos, 8, "magic"), "FCLFIX1\0", 8) == 0, "%s: bad magic", FIXTURE);
    uint32_t version = le32(take(buf, size, &pos, 4, "version"));
    uint32_t count = le32(take(buf, size, &pos, 4, "count"));
    cr_assert(version == 1, "%s: format version %u, expected 1", FIXTURE, version);
    cr_assert(count > 0 && count < 10000, "%s: %u records", FIXTURE, count);
    memcpy(f->generator, take(buf, size, &pos, 64, "generator"), 64);
    f->generator[64] = '\0';
    f->recs = calloc(count, sizeof *f->recs);
    cr_assert(f->recs != NULL);
    for (uint32_t r = 0; r < count; r++) {
        fx_rec *rec = &f->recs[r];
        uint32_t len = le32(take(buf, size, &pos, 4, "name length"));
        cr_assert(len > 0 && len < sizeof rec->name, "%s: record %u name length %u", FIXTURE, r, len);
        memcpy(rec->name, take(buf, size, &pos, len, "name"), len);
        uint32_t ndim = le32(take(buf, size, &pos, 4, "ndim"));
        cr_assert(ndim <= 4, "%s: %s has %u dims", FIXTURE, rec->name, ndim);
        rec->ndim = (int)ndim;
        rec->numel = 1;
        for (uint32_t d = 0; d < ndim; d++) {
            rec->shape[d] = le32(take(buf, size, &pos, 4, "extent"));
            cr_assert(rec->shape[d] > 0 && rec->shape[d] < (1u << 24), "%s: %s extent", FIXTURE, rec->name);
            rec->numel *= rec->shape[d];
        }
        cr_assert(rec->numel < (1u << 24), "%s: %s too large", FIXTURE, rec->name);
        const unsigned char *p = take(buf, size, &pos, rec->numel * 4, rec->name);
        rec->data = h_alloc(rec->numel);
        for (size_t i = 0; i < rec->numel; i++) {
            uint32_t u = le32(p + 4 * i);
            float v;
            memcpy(&v, &u, 4);
            rec->data[i] = v;
        }
        f->n++;
    }
    cr_assert(pos == size, "%s: %zu trailing bytes", FIXTURE, size - pos);
    free(buf);
}

static void fx_free(fixture *f)
{
    for (size_t i = 0; i < f->n; i++)
        free(f->recs[i].data);
    free(f->recs);
    memset(f, 0, sizeof *f);
}

/* The record "<c>.<field>", which must exist. */
static const fx_rec *fx_get(const fixture *f, const char *c, const char *field)
{
    char name[64];
    snprintf(name, sizeof name, "%s.%s", c, field);
    for (size_t i = 0; i < f->n; i++)
        if (!strcmp(f->recs[i].name, name))
            return &f->recs[i];
    cr_assert_fail("%s: no record %s", FIXTURE, name);
    return NULL;
}

/* A guarded device buffer holding a record (scalars as [1]). */
static h_buf fx_upload(fcl_ctx *ctx, const fx_rec *r)
{
    size_t one = 1;
    return r->ndim ? h_upload(ctx, r->data, r->ndim, r->shape) : h_upload(ctx, r->data, 1, &one);
}

static h_buf fx_zeros_like(fcl_ctx *ctx, const fx_rec *r)
{
    size_t one = 1;
    return r->ndim ? h_zeros(ctx, r->ndim, r->shape) : h_zeros(ctx, 1, &one);
}

/* Downloads b and compares it with record r. */
static void fx_expect(fcl_ctx *ctx, const char *what, const h_buf *b, const fx_rec *r, double tol)
{
    cr_assert_eq(b->numel, r->numel, "%s: %zu values vs the fixture's %zu", what, b->numel, r->numel);
    double *got = h_alloc(b->numel);
    h_download(ctx, b, got);
    h_expect_close(what, got, r->data, r->numel, tol);
    free(got);
}

/* ---- convolution ------------------------------------------------------------------------------- */

static void conv_case(fcl_ctx *ctx, const fixture *f, const char *c, fcl_conv2d_algo algo)
{
    const double *q = fx_get(f, c, "params")->data;
    fcl_conv2d_params p = {0};
    p.n = (int)q[0], p.cin = (int)q[1], p.h = (int)q[2], p.w = (int)q[3], p.cout = (int)q[4];
    p.kh = (int)q[5], p.kw = (int)q[6], p.stride_h = (int)q[7], p.stride_w = (int)q[8];
    p.pad_h = (int)q[9], p.pad_w = (int)q[10], p.dil_h = (int)q[11], p.dil_w = (int)q[12];
    p.groups = (int)q[13];
    p.algo = (int)algo;
    int bias = q[14] != 0;
    h_case("torch %s (groups %d, stride %d, pad %d,%d, dil %d,%d, bias %d) algo %s", c, p.groups,
           p.stride_h, p.pad_h, p.pad_w, p.dil_h, p.dil_w, bias, fcl_conv2d_algo_name(algo));
    const fx_rec *ry = fx_get(f, c, "y"), *rx = fx_get(f, c, "x"), *rw = fx_get(f, c, "w");
    int oh, ow;
    fcl_error err;
    fcl_status st = fcl_conv2d_check(&p, &oh, &ow, &err);
    cr_assert(st == FCL_OK, "fcl_conv2d_check: %s", err.msg);
    cr_expect(ry->shape[2] == (size_t)oh && ry->shape[3] == (size_t)ow, "output %dx%d, torch %zux%zu",
              oh, ow, ry->shape[2], ry->shape[3]);

    h_buf x = fx_upload(ctx, rx), w = fx_upload(ctx, rw), y = fx_zeros_like(ctx, ry);
    h_buf dy = fx_upload(ctx, fx_get(f, c, "dy")), dx = fx_zeros_like(ctx, rx), dw = fx_zeros_like(ctx, rw);
    h_buf b = {0}, db = {0};
    if (bias) {
        b = fx_upload(ctx, fx_get(f, c, "b"));
        db = fx_zeros_like(ctx, fx_get(f, c, "b"));
    }
    H_OK(ctx, fcl_conv2d_fwd(ctx, &y.t, &x.t, &w.t, bias ? &b.t : NULL, &p));
    H_OK(ctx, fcl_conv2d_bwd(ctx, &dx.t, &dw.t, bias ? &db.t : NULL, &dy.t, &x.t, &w.t, &p));
    fx_expect(ctx, "conv y", &y, ry, H_TOL_FWD);
    fx_expect(ctx, "conv dx", &dx, fx_get(f, c, "dx"), H_TOL_BWD);
    fx_expect(ctx, "conv dw", &dw, fx_get(f, c, "dw"), H_TOL_BWD);
    if (bias)
        fx_expect(ctx, "conv db", &db, fx_get(f, c, "db"), H_TOL_BWD);
    h_free(ctx, &x), h_free(ctx, &w), h_free(ctx, &y), h_free(ctx, &dy), h_free(ctx, &dx), h_free(ctx, &dw);
    if (bias)
        h_free(ctx, &b), h_free(ctx, &db);
}

Test(torch, conv2d_grouped_strided_dilated_padded)
{
    fixture f;
    fx_load(&f);
    printf("  fixture: %s\n", f.generator);
    fcl_ctx *ctx = h_ctx();
    conv_case(ctx, &f, "conv_g", FCL_CONV_AUTO);
    h_ctx_free(ctx);
    fx_free(&f);
}

Test(torch, conv2d_depthwise_stride2)
{
    fixture f;
    fx_load(&f);
    fcl_ctx *ctx = h_ctx();
    conv_case(ctx, &f, "conv_dw", FCL_CONV_AUTO);
    conv_case(ctx, &f, "conv_dw", FCL_CONV_GEMM);   /* the general path on the same semantics */
    h_ctx_free(ctx);
    fx_free(&f);
}

/* ---- batch normalisation ---------------------------------------------------------------------- */

Test(torch, batchnorm2d_training_forward_running_stats_backward)
{
    fixture f;
    fx_load(&f);
    fcl_ctx *ctx = h_ctx();
    const double *q = fx_get(&f, "bn", "params")->data;
    fcl_bn2d_params p = {1, (float)q[4], (float)q[5]};
    h_case("torch bn2d training [%g, %g, %g, %g] eps %g momentum %g", q[0], q[1], q[2], q[3], q[4], q[5]);
    const fx_rec *rx = fx_get(&f, "bn", "x"), *rg = fx_get(&f, "bn", "gamma");
    h_buf x = fx_upload(ctx, rx), gamma = fx_upload(ctx, rg), beta = fx_upload(ctx, fx_get(&f, "bn", "beta"));
    h_buf rm = fx_upload(ctx, fx_get(&f, "bn", "running_mean_in"));
    h_buf rv = fx_upload(ctx, fx_get(&f, "bn", "running_var_in"));
    h_buf y = fx_zeros_like(ctx, rx), sm = fx_zeros_like(ctx, rg), si = fx_zeros_like(ctx, rg);
    h_buf dy = fx_upload(ctx, fx_get(&f, "bn", "dy")), dx = fx_zeros_like(ctx, rx);
    h_buf dg = fx_zeros_like(ctx, rg), dbeta = fx_zeros_like(ctx, rg);
    H_OK(ctx, fcl_bn2d_fwd(ctx, &y.t, &sm.t, &si.t, &rm.t, &rv.t, &x.t, &gamma.t, &beta.t, &p));
    H_OK(ctx, fcl_bn2d_bwd(ctx, &dx.t, &dg.t, &dbeta.t, &dy.t, &x.t, &gamma.t, &sm.t, &si.t, &p));
    fx_expect(ctx, "bn y", &y, fx_get(&f, "bn", "y"), H_TOL_FWD);
    fx_expect(ctx, "bn running_mean", &rm, fx_get(&f, "bn", "running_mean_out"), H_TOL_FWD);
    fx_expect(ctx, "bn running_var (unbiased)", &rv, fx_get(&f, "bn", "running_var_out"), H_TOL_FWD);
    fx_expect(ctx, "bn dx", &dx, fx_get(&f, "bn", "dx"), H_TOL_BWD);
    fx_expect(ctx, "bn dgamma", &dg, fx_get(&f, "bn", "dgamma"), H_TOL_BWD);
    fx_expect(ctx, "bn dbeta", &dbeta, fx_get(&f, "bn", "dbeta"), H_TOL_BWD);
    h_buf *all[] = {&x, &gamma, &beta, &rm, &rv, &y, &sm, &si, &dy, &dx, &dg, &dbeta};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        h_free(ctx, all[i]);
    h_ctx_free(ctx);
    fx_free(&f);
}

/* ---- pooling ---------------------------------------------------------------------------------- */

static fcl_pool2d_params pool_params(const double *q, int avg)
{
    fcl_pool2d_params p = {0};
    p.kh = (int)q[0], p.kw = (int)q[1], p.sh = (int)q[2], p.sw = (int)q[3];
    p.ph = (int)q[4], p.pw = (int)q[5], p.ceil_mode = (int)q[6];
    p.count_include_pad = avg ? (int)q[7] : 1;
    return p;
}

/* The output size formula (ceil mode, incl. PyTorch's "last window must start inside" rule)
 * must give torch's output shape. */
static void expect_out_size(const fcl_pool2d_params *p, const fx_rec *rx, const fx_rec *ry)
{
    size_t oh = 0, ow = 0;
    fcl_error err;
    fcl_status st = fcl_pool2d_out_hw(p, rx->shape[2], rx->shape[3], &oh, &ow, "pool", &err);
    cr_expect(st == FCL_OK, "fcl_pool2d_out_hw: %s", err.msg);
    cr_expect(oh == ry->shape[2] && ow == ry->shape[3], "output %zux%zu, torch %zux%zu", oh, ow,
              ry->shape[2], ry->shape[3]);
}

static void maxpool_case(fcl_ctx *ctx, const fixture *f, const char *c)
{
    fcl_pool2d_params p = pool_params(fx_get(f, c, "params")->data, 0);
    const fx_rec *rx = fx_get(f, c, "x"), *ry = fx_get(f, c, "y");
    h_case("torch %s: max pool %dx%d stride %d pad %d ceil_mode, input %zux%zu", c, p.kh, p.kw, p.sh,
           p.ph, rx->shape[2], rx->shape[3]);
    expect_out_size(&p, rx, ry);
    h_buf x = fx_upload(ctx, rx), y = fx_zeros_like(ctx, ry), idx = fx_zeros_like(ctx, ry);
    h_buf dy = fx_upload(ctx, fx_get(f, c, "dy")), dx = fx_zeros_like(ctx, rx);
    H_OK(ctx, fcl_maxpool2d_fwd(ctx, &y.t, &idx.t, &x.t, &p));
    H_OK(ctx, fcl_maxpool2d_bwd(ctx, &dx.t, &dy.t, &idx.t, &p));
    fx_expect(ctx, "maxpool y (a selection: exact)", &y, ry, 0.0);
    fx_expect(ctx, "maxpool indices (exact)", &idx, fx_get(f, c, "idx"), 0.0);
    fx_expect(ctx, "maxpool dx", &dx, fx_get(f, c, "dx"), H_TOL_BWD);
    h_free(ctx, &x), h_free(ctx, &y), h_free(ctx, &idx), h_free(ctx, &dy), h_free(ctx, &dx);
}

Test(torch, maxpool2d_ceil_mode_padding)
{
    fixture f;
    fx_load(&f);
    fcl_ctx *ctx = h_ctx();
    maxpool_case(ctx, &f, "maxpool_a");
    maxpool_case(ctx, &f, "maxpool_b");
    maxpool_case(ctx, &f, "maxpool_c");
    h_ctx_free(ctx);
    fx_free(&f);
}

static void avgpool_case(fcl_ctx *ctx, const fixture *f, const char *c)
{
    fcl_pool2d_params p = pool_params(fx_get(f, c, "params")->data, 1);
    const fx_rec *rx = fx_get(f, c, "x"), *ry = fx_get(f, c, "y");
    h_case("torch %s: avg pool %dx%d stride %d pad %d,%d ceil_mode count_include_pad %d, input %zux%zu",
           c, p.kh, p.kw, p.sh, p.ph, p.pw, p.count_include_pad, rx->shape[2], rx->shape[3]);
    expect_out_size(&p, rx, ry);
    h_buf x = fx_upload(ctx, rx), y = fx_zeros_like(ctx, ry);
    h_buf dy = fx_upload(ctx, fx_get(f, c, "dy")), dx = fx_zeros_like(ctx, rx);
    H_OK(ctx, fcl_avgpool2d_fwd(ctx, &y.t, &x.t, &p));
    H_OK(ctx, fcl_avgpool2d_bwd(ctx, &dx.t, &dy.t, &p));
    fx_expect(ctx, "avgpool y", &y, ry, H_TOL_FWD);
    fx_expect(ctx, "avgpool dx", &dx, fx_get(f, c, "dx"), H_TOL_BWD);
    h_free(ctx, &x), h_free(ctx, &y), h_free(ctx, &dy), h_free(ctx, &dx);
}

Test(torch, avgpool2d_ceil_mode_padding)
{
    fixture f;
    fx_load(&f);
    fcl_ctx *ctx = h_ctx();
    avgpool_case(ctx, &f, "avgpool_a");
    avgpool_case(ctx, &f, "avgpool_b");
    h_ctx_free(ctx);
    fx_free(&f);
}

/* ---- label-smoothed cross-entropy --------------------------------------------------------------- */

static void xent_case(fcl_ctx *ctx, const fixture *f, const char *c)
{
    const double *q = fx_get(f, c, "params")->data;
    fcl_xent_params p = {(float)q[2]};
    h_case("torch %s: cross-entropy n=%g k=%g label_smoothing %g", c, q[0], q[1], q[2]);
    const fx_rec *rz = fx_get(f, c, "logits");
    h_buf z = fx_upload(ctx, rz), lab = fx_upload(ctx, fx_get(f, c, "labels"));
    h_buf loss = fx_zeros_like(ctx, fx_get(f, c, "loss")), dz = fx_zeros_like(ctx, rz);
    H_OK(ctx, fcl_softmax_xent_fwd(ctx, &loss.t, NULL, &z.t, &lab.t, &p));
    H_OK(ctx, fcl_softmax_xent_bwd(ctx, &dz.t, &z.t, &lab.t, &p, 1.0f));
    fx_expect(ctx, "xent loss", &loss, fx_get(f, c, "loss"), H_TOL_FWD);
    fx_expect(ctx, "xent dlogits", &dz, fx_get(f, c, "dlogits"), H_TOL_BWD);
    h_free(ctx, &z), h_free(ctx, &lab), h_free(ctx, &loss), h_free(ctx, &dz);
}

Test(torch, cross_entropy_label_smoothing)
{
    fixture f;
    fx_load(&f);
    fcl_ctx *ctx = h_ctx();
    xent_case(ctx, &f, "xent_a");
    xent_case(ctx, &f, "xent_b");
    h_ctx_free(ctx);
    fx_free(&f);
}
