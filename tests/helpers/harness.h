/* tests/helpers/harness.h: shared helpers of the op tests: context, random data, guarded device
 * buffers, error reports, finite-difference checks and the cross-process case counter. */
#ifndef FACECL_TESTS_HARNESS_H
#define FACECL_TESTS_HARNESS_H

#include <stddef.h>
#include <stdint.h>

#include <facecl/context.h>
#include <facecl/status.h>
#include <facecl/tensor.h>

/* ---- context -------------------------------------------------------------------------------
 * A context on $FACECL_TEST_DEVICE (same syntax as --device; default: the first device; the
 * runner also exports it as $FACECL_DEVICE for the facecl commands tests start). Fails
 * (aborts) the current test with the context error message when no context can be made. Call it
 * inside a Test() body only: see the PoCL fork trap in shared/notes. */
fcl_ctx *h_ctx(void);
void h_ctx_free(fcl_ctx *ctx);
/* Sets $FACECL_TUNING ("family:defines;...", rows replacing the tuning table's: forced kernel
 * variants) for the contexts this test makes next (Criterion runs each Test in its own process,
 * so it does not leak into other tests) and prints it. */
void h_force(const char *tuning);

/* Fails the current test with the context's last error message when st != FCL_OK;
 * `what` names the call ("fcl_bn2d_fwd"). */
void h_check(fcl_ctx *ctx, fcl_status st, const char *what);
#define H_OK(ctx, call) h_check((ctx), (call), #call)

/* ---- random data ---------------------------------------------------------------------------
 * n values uniform in [lo, hi), a deterministic function of seed (splitmix64). */
/* The generator under h_rand: splitmix64 steps of state *s, and a uniform double in [0, 1). */
uint64_t h_splitmix64(uint64_t *s);
double h_unit(uint64_t *s);
void h_rand(double *x, size_t n, uint64_t seed, double lo, double hi);
/* Like h_rand, but keeps every value at least `gap` away from each point of kinks[0..nk):
 * used to move inputs away from ReLU-like kinks before finite differences. */
void h_rand_avoid(double *x, size_t n, uint64_t seed, double lo, double hi,
                  const double *kinks, size_t nk, double gap);
/* Rounds every value to the nearest float, so a reference fed these values sees exactly what
 * the device sees after h_upload (then only the op's own error is measured). */
void h_to_f32(double *x, size_t n);
/* h_rand then h_to_f32: random values as the device will see them. */
void h_rand_f32(double *x, size_t n, uint64_t seed, double lo, double hi);
/* A new array got - before, elementwise (what a backward accumulated). */
double *h_delta(const double *got, const double *before, size_t n);
/* calloc'd / malloc'd double arrays that fail the test instead of returning NULL. */
double *h_alloc(size_t n);
double *h_dup(const double *x, size_t n);

/* ---- guarded device buffers ----------------------------------------------------------------
 * An h_buf is a tensor view (`t`, what the op sees) inside one larger buffer with sentinel
 * words before and after it. The sentinels are a NaN-boxed bit pattern (0x7fc0fc1N, a quiet
 * NaN no float computation produces). The view's element offset alternates between 16 and 19
 * from one buffer to the next, so kernels are exercised with offsets that are and are not
 * multiples of 4 (vload4/vload8 paths). h_download checks every sentinel and fails the test,
 * naming the buffer, when a kernel wrote outside its tensor. */
typedef struct h_buf {
    fcl_tensor t;          /* the view handed to ops */
    fcl_tensor whole;      /* the allocation: pre + numel + post floats */
    size_t pre, post;      /* sentinel words before / after the view */
    size_t numel;
    char name[64];         /* for messages: h_name() sets it; default "buffer #k [shape]" */
} h_buf;

/* Uploads host (numel(shape) doubles, converted to float); ndim 1..4. */
h_buf h_upload(fcl_ctx *ctx, const double *host, int ndim, const size_t *shape);
/* A zero-filled buffer. */
h_buf h_zeros(fcl_ctx *ctx, int ndim, const size_t *shape);
/* Downloads the view into host (numel doubles) and asserts the sentinels are intact. */
void h_download(fcl_ctx *ctx, const h_buf *b, double *host);
/* Asserts the sentinels only (for inputs an op must not write around). */
void h_check_guards(fcl_ctx *ctx, const h_buf *b);
void h_free(fcl_ctx *ctx, h_buf *b);
/* Names a buffer for messages; returns b. */
h_buf *h_name(h_buf *b, const char *name);

/* ---- comparisons ---------------------------------------------------------------------------
 * Compares got with want elementwise. The error of one element is |got - want| / max(|want|,
 * floor) where floor is the mean |want| over the array (so tiny entries next to large ones are
 * judged on the array's scale; an all-zero `want` uses floor 1e-30, i.e. demands exact zeros).
 * Prints "  <what>: n=.. max abs err .. max rel err .. at [i]" and fails the test (non-fatally,
 * so later comparisons still print) when the max rel err exceeds rtol or a value is NaN/Inf
 * where want is not the same (NaN matches NaN, +-Inf match themselves). Returns the max rel error. */
double h_expect_close(const char *what, const double *got, const double *want, size_t n,
                      double rtol);

/* Tolerances of the op tests (see /tmp/facecl-ops.md: forward, backward, finite differences). */
#define H_TOL_FWD 1e-4
#define H_TOL_BWD 1e-3
#define H_TOL_FD 1e-2

/* ---- finite differences --------------------------------------------------------------------
 * Checks an analytic gradient of a reference op against central differences in double of
 *     loss(x) = sum_j f(x)[j] * r[j]
 * for a fixed weight vector r (pass the same r as dy to the reference backward). `x` is the
 * input being differentiated (an input, a weight, gamma, ...); f computes the op's output from
 * it, with everything else fixed in `ud`. Checks `samples` elements of x chosen by `seed`
 * (all elements when nx <= samples). An element is skipped when `kink` (may be NULL) says that
 * x[i] +- h crosses a point where f is not differentiable (ReLU at 0, max-pool ties, ...); the
 * check fails when more than half the sampled elements are skipped (the check would be empty).
 * Error per element: |fd - grad| / max(|grad|, |fd|, mean |grad| over the sample, 1e-8);
 * fails (non-fatally) over tol. Prints one summary line. Returns the max error. */
typedef void (*h_fd_fn)(double *y, const double *x, void *ud);
typedef int (*h_kink_fn)(const double *x, size_t i, double h, void *ud);

typedef struct h_fd {
    const char *what;        /* "bn2d d/dgamma" */
    h_fd_fn f;
    h_kink_fn kink;          /* optional */
    void *ud;
    double *x;               /* perturbed in place, restored on return */
    size_t nx;
    size_t ny;               /* number of outputs of f */
    const double *r;         /* ny loss weights */
    const double *grad;      /* nx analytic d loss / d x */
    size_t samples;          /* default 48 */
    uint64_t seed;
    double h;                /* step; default 1e-5 */
    double tol;              /* default H_TOL_FD */
} h_fd;
double h_fd_check(const h_fd *spec);

/* ---- case counter --------------------------------------------------------------------------
 * Criterion runs every Test() in its own child process (fork + exec), so a counter in memory
 * dies with the child. Instead the runner (a PRE_ALL report hook, before any test) creates a
 * temporary file and exports its path as $FACECL_H_CASES; h_case() appends one line per case
 * to it (O_APPEND writes of one short line are atomic, so parallel --jobs would count right
 * too); after all tests (POST_ALL hook) the runner prints
 *     ops harness: N cases ran (tests: P passed, F failed, C crashed)
 * and removes the file. Binaries that never call h_case() print nothing; without
 * $FACECL_H_CASES (not run by the Criterion runner) a case only prints its line.
 * A "case" is one configuration (shape/params) compared OpenCL-vs-reference or reference-vs-FD
 * inside a Test(). h_case() also prints "case <description>" so a failure is attributable. */
void h_case(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;

/* numel of a shape */
size_t h_numel(int ndim, const size_t *shape);

#endif
