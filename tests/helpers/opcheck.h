/* tests/helpers/opcheck.h: the one op test driver (as ggml's test-backend-ops): an op supplies a
 * descriptor (its operands and case generator, device forward/backward, double reference, finite-
 * difference pairs, forced tunings) and oc_run() does the rest for every case. */
#ifndef FACECL_TESTS_OPCHECK_H
#define FACECL_TESTS_OPCHECK_H

#include <stddef.h>
#include <stdint.h>

#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include "helpers/harness.h"

/* A shape for case tables. */
typedef struct oc_shape {
    int ndim;
    size_t s[4];
} oc_shape;

/* What the driver does with one operand. */
typedef enum oc_role {
    OC_NONE = 0,   /* absent: the op gets NULL, the reference a NULL array */
    OC_IN,         /* random input in [lo, hi) (rounded to float); its sentinels are checked and
                    * it must come back unchanged, bit for bit */
    OC_OUT,        /* written by the forward: starts as NaN on the device (every element must be
                    * written, none read), compared with the reference */
    OC_GRAD,       /* written by the backward: accumulated onto a random start in [lo, hi)
                    * (lo == hi: that constant), compared with the reference; zero for FD */
    OC_INOUT,      /* read and updated by the forward (running statistics): random start,
                    * compared with the reference (H_TOL_FWD by default) */
} oc_role;

typedef struct oc_arg {
    const char *name;      /* "x", "dw": names buffers and comparisons */
    oc_role role;
    int ndim;
    size_t shape[4];
    double lo, hi;         /* OC_IN / OC_GRAD start values */
    double tol;            /* compared operands: 0 = H_TOL_FWD (OC_OUT, OC_INOUT) / H_TOL_BWD;
                            * OC_EXACT: equal (indices) */
    int delta;             /* OC_GRAD: compare what the backward added (got - start) with the
                            * reference's (want - start), not the accumulated sums */
    size_t split[3];       /* compared in parts [0, split[0]), [split[0], split[1]), ... (0 ends
                            * the list): parts of very different scale, each judged on its own */
} oc_arg;

/* A finite-difference check of the reference: the backward's `grad` (computed from zero with
 * dy = arg `r`) against central differences of sum(out * r) over arg `wrt` through the reference
 * forward. `kink` (may be NULL) says 1 where element i of operand wrt, moved by +-step, crosses a
 * point where the forward is not differentiable; h holds the case's operands (h[wrt] the one being
 * perturbed). */
struct oc_case;
typedef int (*oc_kink_fn)(double *const *h, int wrt, size_t i, double step, const struct oc_case *c);
typedef struct oc_fd {
    int wrt, out, r, grad;   /* argument indices */
    size_t samples;          /* 0: 48 */
    oc_kink_fn kink;
    double h, tol;           /* 0: harness defaults */
} oc_fd;

#define OC_EXACT (-1.0)
#define OC_MAX_ARGS 14
#define OC_MAX_FD 4

/* One configuration of an op. */
typedef struct oc_case {
    char what[192];          /* "act relu [2, 5, 13, 13]": printed by h_case and in comparisons */
    int nargs;
    oc_arg arg[OC_MAX_ARGS];
    uint64_t seed;           /* random data; argument i uses seed * 16 + i */
    int device;              /* run on the device against the reference (else reference / FD only) */
    int nfd;
    oc_fd fd[OC_MAX_FD];
    _Alignas(16) unsigned char params[256];   /* the op's parameters: OC_P(c, type) */
} oc_case;

/* Adds a finite-difference check to c (up to OC_MAX_FD; samples 0: 48, kink may be NULL). */
void oc_fd_add(oc_case *c, int wrt, int out, int r, int grad, size_t samples, oc_kink_fn kink);

/* Makes c a reference-only case (device 0) checked by finite differences of `out` (dy = arg r)
 * with respect to each input wrt[k] into grad[k], k < n (oc_fd_add's samples and kink for all). */
void oc_fd_inputs(oc_case *c, int out, int r, int n, const int *wrt, const int *grad, size_t samples,
                  oc_kink_fn kink);

#define OC_P(c, type) ((type *)(void *)(c)->params)

/* Sets argument i of c (returns c->arg + i, so fields can be adjusted). */
oc_arg *oc_arg_set(oc_case *c, int i, const char *name, oc_role role, int ndim, const size_t *shape,
                   double lo, double hi);

/* Host arrays (one per argument, NULL for OC_NONE) and device tensors (NULL for OC_NONE). */
typedef double *const *oc_host;
typedef fcl_tensor *const *oc_dev;

/* A device forward or backward that needs only the case's tensors t (ctx and t in scope):
 * OC_DEV_CALL(add_dev_fwd, fcl_add_fwd(ctx, t[Y], t[A], t[B])) defines add_dev_fwd for an oc_op. */
#define OC_DEV_CALL(fn, call)                                                                        \
    static fcl_status fn(fcl_ctx *ctx, oc_dev t, const oc_case *c)                                  \
    {                                                                                               \
        (void)c;                                                                                    \
        return call;                                                                                \
    }

typedef struct oc_op {
    const char *name;
    const void *ud;          /* the op's own data for gen (a kind, a parameter set) */
    /* Fills case i (0, 1, ...) (seed 1 + i and device 1 preset); returns 0 past the last case. */
    int (*gen)(const struct oc_op *op, size_t i, oc_case *c);
    /* Optional: adjusts the random host data after it is made (derived inputs such as the saved
     * output of a forward, values kept away from kinks); OC_OUT arrays are zero. */
    void (*fill)(double *const *h, const oc_case *c);
    /* Device forward (writes the OC_OUT tensors) and backward (accumulates into OC_GRAD);
     * either may be NULL. The backward runs after the forward, on the same buffers. */
    fcl_status (*dev_fwd)(fcl_ctx *ctx, oc_dev t, const oc_case *c);
    fcl_status (*dev_bwd)(fcl_ctx *ctx, oc_dev t, const oc_case *c);
    /* The reference on the host arrays, same contract (ref_fwd also serves the FD checks). */
    void (*ref_fwd)(double *const *h, const oc_case *c);
    void (*ref_bwd)(double *const *h, const oc_case *c);
    /* Optional: more device checks on the same buffers after the comparisons (in-place use,
     * determinism, exact properties); h holds the host data as uploaded (inputs, gradients'
     * starts), want the reference results. */
    void (*extra)(fcl_ctx *ctx, h_buf *b, double *const *h, double *const *want, const oc_case *c);
    /* Forced kernel variants ("family:-DNAME=V ..."), NULL-terminated; oc_run_forced(op, k)
     * runs every case under tunings[k] (one Criterion Test per tuning keeps them in parallel). */
    const char *const *tunings;
} oc_op;

/* Every case of op: device vs reference (forward, backward, sentinels) and the FD checks (a
 * context is made only when a case runs on the device). */
void oc_run(const oc_op *op);
/* The same with $FACECL_TUNING = op->tunings[k] (its context is made after h_force). */
void oc_run_forced(const oc_op *op, size_t k);
/* oc_run (tuning 0) or oc_run_forced(op, tuning - 1). */
void oc_run_tuned(const oc_op *op, int tuning);
/* The parameter of a Criterion ParameterizedTest over an op's variants (each its own process):
 * which op or kind of the file, which tuning (as oc_run_tuned) and whether its FD cases run. */
typedef struct oc_param {
    int op, tuning, fd;
} oc_param;
/* The Criterion parameterized test suite::name running body() once as the device's defaults set
 * it and once under each of the first n (<= 7) forced tunings[] (h_force), each its own process. */
#define OC_TEST_TUNED(suite, name, tunings, n, body)                                                  \
    ParameterizedTestParameters(suite, name)                                                        \
    {                                                                                               \
        static int k[] = {0, 1, 2, 3, 4, 5, 6, 7};                                                  \
        return cr_make_param_array(int, k, (size_t)(n) + 1);                                        \
    }                                                                                               \
    ParameterizedTest(int *k, suite, name)                                                          \
    {                                                                                               \
        if (*k) h_force((tunings)[*k - 1]);                                                         \
        body();                                                                                     \
    }
/* One case on an existing context (for ops whose tests pick cases themselves). */
void oc_run_case(fcl_ctx *ctx, const oc_op *op, oc_case *c);

/* ---- data helpers of the loss tests ---- */
/* Labels held as doubles (as the device holds them, in floats) as a malloc'd int array. */
int *oc_labels(const double *h, size_t n);
/* h[i] = min(floor(h[i]), k - 1): uniform labels in [0, k) from random values in [0, k). */
void oc_floor_labels(double *h, size_t n, int k);
/* Uploads int labels as the f32 tensor [n] the ops take, named "labels". */
h_buf oc_upload_labels(fcl_ctx *ctx, const int *lab, size_t n);
/* Embeddings clustered by identity: x_i = centre_{lab_i} + sigma * noise, normalised to unit rows
 * when `unit`, rounded to float. */
void oc_clustered(double *x, const int *lab, size_t n, size_t d, int ids, double sigma, int unit, uint64_t seed);

/* "[2, 5, 13, 13]" */
void oc_shape_str(char *buf, size_t size, int ndim, const size_t *shape);

#endif
