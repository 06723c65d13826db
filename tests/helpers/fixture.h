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

#endif
