/* tests/helpers/fixture.h: reader of the "FCLFIX1" PyTorch fixture files (ops_torch.bin, losses_torch.bin). */
#ifndef FACECL_TESTS_FIXTURE_H
#define FACECL_TESTS_FIXTURE_H

#include <stddef.h>

#include <facecl/context.h>

#include "helpers/harness.h"

/* Format (written by tools/make_op_fixtures.py and tools/make_loss_fixtures.py, little-endian):
 * "FCLFIX1\0", u32 version (1), u32 record count, 64-byte generator string, then per record
 * u32 name length, name, u32 ndim (0..4), ndim u32 extents, numel float32 values. */

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
    const char *path;   /* for messages */
} fixture;

/* Reads the whole file at `path`, failing the test (naming `tool`, the script that makes it) when
 * it is missing, truncated or malformed. */
void fx_load(fixture *f, const char *path, const char *tool);
void fx_free(fixture *f);
/* The record "<c>.<field>", which must exist. */
const fx_rec *fx_get(const fixture *f, const char *c, const char *field);
/* A guarded device buffer holding a record (scalars as [1]), named after the record. */
h_buf fx_upload(fcl_ctx *ctx, const fx_rec *r);
/* A zero-filled guarded buffer of the record's shape (scalars as [1]). */
h_buf fx_zeros_like(fcl_ctx *ctx, const fx_rec *r);
/* Downloads b and compares it with record r (h_expect_close with rtol `tol`). */
void fx_expect(fcl_ctx *ctx, const char *what, const h_buf *b, const fx_rec *r, double tol);

/* A case of an op with two inputs and two outputs (x and labels -> loss and dx; x and dy -> y and
 * dx): b[FX_IN0], b[FX_IN1] hold the case's records in[0], in[1]; b[FX_OUT0], b[FX_OUT1] start at
 * zero shaped like record "x" (b[FX_OUT0] as [1] when out0_scalar); run(ctx, b, p) writes the
 * outputs, each then compared with its record out[k] as "<what> <out[k]>" (the first with
 * H_TOL_FWD, the second with H_TOL_BWD); frees the buffers. */
enum { FX_IN0, FX_IN1, FX_OUT0, FX_OUT1 };
typedef void (*fx_io_fn)(fcl_ctx *ctx, h_buf *b, const void *p);
void fx_case_io(fcl_ctx *ctx, const fixture *f, const char *c, const char *what, const char *const in[2],
                const char *const out[2], int out0_scalar, fx_io_fn run, const void *p);

/* One case of a fixture file, run on a context made for it. */
typedef void (*fx_case_fn)(fcl_ctx *ctx, const fixture *f, const char *name);
/* Loads the fixture at path (made by `tool`), prints its generator, makes a context (h_ctx) and
 * runs fn on each named case (NULL-terminated), then frees both. Call inside the Test body (the
 * context must not outlive the test process: PoCL fork trap). */
void fx_run(const char *path, const char *tool, fx_case_fn fn, const char *const *names);

#endif
