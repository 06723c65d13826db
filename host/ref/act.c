/* host/ref/act.c: reference activations and PReLU in double, written from PyTorch's formulas. */
#include "ref/ref_act.h"

#include <math.h>

static double sigmoid(double x) { return 1.0 / (1.0 + exp(-x)); }

/* GELU's tanh approximation: u = sqrt(2/pi) (x + 0.044715 x^3) (PyTorch's constants) */
#define GELU_K0 0.7978845608028654   /* sqrt(2 / pi) */
#define GELU_K1 0.044715
static double gelu_u(double x) { return GELU_K0 * (x + GELU_K1 * x * x * x); }

/* clamp that lets NaN through, as PyTorch's clamp/hardtanh do */
static double clamp_nan(double x, double lo, double hi) { return x < lo ? lo : (x > hi ? hi : x); }

static double act_fwd1(double x, const fcl_act_params *p)
{
    switch (p->kind) {
    case FCL_ACT_RELU: return x < 0 ? 0 : x;
    case FCL_ACT_RELU6: return clamp_nan(x, 0, 6);
    case FCL_ACT_LEAKY_RELU: return x > 0 ? x : x * p->slope;
    case FCL_ACT_SIGMOID: return sigmoid(x);
    case FCL_ACT_TANH: return tanh(x);
    case FCL_ACT_SILU: return x * sigmoid(x);
    case FCL_ACT_HARDSWISH: return x * clamp_nan(x + 3, 0, 6) / 6;
    case FCL_ACT_HARDSIGMOID: return clamp_nan(x + 3, 0, 6) / 6;
    case FCL_ACT_GELU: return 0.5 * x * (1 + erf(x * M_SQRT1_2));
    case FCL_ACT_GELU_TANH: return 0.5 * x * (1 + tanh(gelu_u(x)));
    default: return NAN;
    }
}

/* d act / d x as PyTorch's backward formulas state them, from the saved value s (x or y). */
static double act_grad1(double s, const fcl_act_params *p)
{
    switch (p->kind) {
    case FCL_ACT_RELU: return s > 0 ? 1 : 0;                      /* threshold_backward(y) */
    case FCL_ACT_RELU6: return (s > 0 && s < 6) ? 1 : 0;          /* hardtanh_backward(x) */
    case FCL_ACT_LEAKY_RELU: return s > 0 ? 1 : p->slope;
    case FCL_ACT_SIGMOID: return s * (1 - s);                     /* sigmoid_backward(y) */
    case FCL_ACT_TANH: return 1 - s * s;                          /* tanh_backward(y) */
    case FCL_ACT_SILU: {
        double sg = sigmoid(s);
        return sg * (1 + s * (1 - sg));
    }
    case FCL_ACT_HARDSWISH: return s < -3 ? 0 : (s <= 3 ? s / 3 + 0.5 : 1);
    case FCL_ACT_HARDSIGMOID: return (s > -3 && s < 3) ? 1.0 / 6 : 0;
    case FCL_ACT_GELU:                                            /* Phi(x) + x phi(x) */
        return 0.5 * (1 + erf(s * M_SQRT1_2)) + s * exp(-0.5 * s * s) * 0.3989422804014327;
    case FCL_ACT_GELU_TANH: {
        double t = tanh(gelu_u(s));
        return 0.5 * (1 + t) + 0.5 * s * (1 - t * t) * GELU_K0 * (1 + 3 * GELU_K1 * s * s);
    }
    default: return NAN;
    }
}

void fcl_ref_act_fwd(double *y, const double *x, size_t n, const fcl_act_params *p)
{
    for (size_t i = 0; i < n; i++) y[i] = act_fwd1(x[i], p);
}

void fcl_ref_act_bwd(double *dx, const double *dy, const double *saved, size_t n,
                     const fcl_act_params *p)
{
    for (size_t i = 0; i < n; i++) dx[i] += dy[i] * act_grad1(saved[i], p);
}

void fcl_ref_prelu_fwd(double *y, const double *x, const double *a, size_t n, size_t c,
                       size_t inner, size_t na)
{
    for (size_t b = 0; b < n; b++)
        for (size_t ch = 0; ch < c; ch++) {
            double s = a[na == 1 ? 0 : ch];
            for (size_t i = 0; i < inner; i++) {
                size_t k = (b * c + ch) * inner + i;
                y[k] = x[k] > 0 ? x[k] : s * x[k];
            }
        }
}

void fcl_ref_prelu_bwd(double *dx, double *da, const double *dy, const double *x,
                       const double *a, size_t n, size_t c, size_t inner, size_t na)
{
    for (size_t b = 0; b < n; b++)
        for (size_t ch = 0; ch < c; ch++) {
            size_t j = na == 1 ? 0 : ch;
            for (size_t i = 0; i < inner; i++) {
                size_t k = (b * c + ch) * inner + i;
                if (dx) dx[k] += x[k] > 0 ? dy[k] : a[j] * dy[k];
                if (da && !(x[k] > 0)) da[j] += x[k] * dy[k];
            }
        }
}
