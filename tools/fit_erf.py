#!/usr/bin/env python3
"""tools/fit_erf.py: the coefficients of cl/act.cl's fcl_erf (GELU's erf, vectorised): least-squares fits in
relative error, then the float32 evaluation checked against double erf. Needs numpy (python3-numpy).

  |x| <  T: erf(x) = x (s0 + z S(z)), z = x^2, S of degree DS - 1
  |x| >= T: erf(x) = 1 - exp(-z) L(1 / |x|), L of degree DL, fitted to erfc(x) exp(x^2) on [T, 4]
            (from 3.92 on, exp(-z) L rounds 1 - erf to 0 in float)"""
import math
import numpy as np

T, DS, DL = 0.921875, 6, 9
erf = np.vectorize(math.erf)
erfc = np.vectorize(math.erfc)


def cheb(lo, hi, n=4000):
    return np.cos(np.linspace(0, np.pi, n)) * (hi - lo) / 2 + (hi + lo) / 2


def lsq_rel(u, f, deg):
    a = np.vstack([u ** k for k in range(deg + 1)]).T
    return np.linalg.lstsq(a / f[:, None], np.ones_like(f), rcond=None)[0]


x = cheb(1e-4, T)
small = np.float32(lsq_rel(x * x, erf(x) / x, DS))
x = cheb(T, 4.0)
large = np.float32(lsq_rel(1 / x, erfc(x) * np.exp(x * x), DL))


def fma32(a, b, c):  # one rounding, as OpenCL's fma
    return np.float32(a.astype(np.float64) * b.astype(np.float64) + np.float64(c))


def horner(c, u):
    r = np.full_like(u, c[-1])
    for k in range(len(c) - 2, -1, -1):
        r = fma32(r, u, c[k])
    return r


def fcl_erf(x):
    a = np.abs(x)
    z = a * a
    q = horner(small[1:], z) * z  # then fma(a, s0, a q), one rounding
    s = np.float32(a.astype(np.float64) * small[0] + (a * q).astype(np.float64))
    u = np.float32(1) / np.maximum(a, np.float32(T))
    l = np.minimum(np.float32(1) - np.float32(np.exp(-z.astype(np.float64))) * horner(large, u), np.float32(1))
    return np.copysign(np.where(a < T, s, l), x)


xs = np.concatenate([np.float32(np.linspace(-6, 6, 2000001)), np.float32(np.geomspace(1e-30, 1, 20001))])
ref = erf(xs.astype(np.float64))
ulp = np.spacing(np.abs(ref).astype(np.float32)).astype(np.float64)
err = np.abs(fcl_erf(xs).astype(np.float64) - ref) / ulp
print("max error %.2f ulp (|x| < T %.2f, else %.2f), against double erf on [-6, 6]" %
      (err.max(), err[np.abs(xs) < T].max(), err[np.abs(xs) >= T].max()))
print("small (s0, S from z^1): " + ", ".join("%.9gf" % v for v in small))
print("large (L from (1/x)^0): " + ", ".join("%.9gf" % v for v in large))
