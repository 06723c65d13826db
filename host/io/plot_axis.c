/* host/io/plot_axis.c: a plot axis' range (automatic or fixed, linear or log10) and its ticks: 1-2-5 steps or decades, with labels. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "io/plot_axis.h"

static void axis_set_range(fcl_plot_axis *ax, double lo, double hi)
{
    ax->lo = lo;
    ax->hi = hi;
    ax->a = ax->log ? log10(lo) : lo;
    ax->b = ax->log ? log10(hi) : hi;
}

double fcl_plot_axis_frac(const fcl_plot_axis *ax, double v)
{
    if (ax->log) v = v > 0 ? log10(v) : ax->a;
    return (v - ax->a) / (ax->b - ax->a);
}

/* The smallest of 1, 2, 5 x 10^k that is >= raw. */
static double nice_step(double raw)
{
    double mag = pow(10.0, floor(log10(raw)));
    double f = raw / mag;
    double m = f <= 1.0 + 1e-9 ? 1 : f <= 2.0 + 1e-9 ? 2 : f <= 5.0 + 1e-9 ? 5 : 10;
    return m * mag;
}

static void linear_ticks(fcl_plot_axis *ax, double step, int integer)
{
    if (integer && step < 1) step = 1;
    double big = fmax(fabs(ax->lo), fabs(ax->hi));
    int decimals = step >= 1 ? 0 : (int)ceil(-log10(step) - 1e-9);
    int sci = big >= 1e6 || step < 1e-4;
    double k0 = ceil(ax->lo / step - 1e-9), k1 = floor(ax->hi / step + 1e-9);
    ax->n_ticks = 0;
    for (double k = k0; k <= k1 && ax->n_ticks < FCL_PLOT_MAX_TICKS; k++) {
        double v = k * step;
        if (fabs(v) < step * 1e-9) v = 0; /* no "-0.0" */
        ax->ticks[ax->n_ticks] = v;
        if (sci) snprintf(ax->labels[ax->n_ticks], FCL_PLOT_TICK_LABEL, "%.3g", v);
        else snprintf(ax->labels[ax->n_ticks], FCL_PLOT_TICK_LABEL, "%.*f", decimals, v);
        ax->n_ticks++;
    }
    ax->n_minor = 0;
}

/* "0.01", "1", "100" for decades -2..3, "1e-4" beyond. */
static void decade_label(char *buf, int d, double m)
{
    if (d >= -2 && d <= 3) snprintf(buf, FCL_PLOT_TICK_LABEL, "%.*f", d < 0 ? -d : 0, m * pow(10.0, d));
    else if (m == 1) snprintf(buf, FCL_PLOT_TICK_LABEL, "1e%d", d);
    else snprintf(buf, FCL_PLOT_TICK_LABEL, "%de%d", (int)m, d);
}

static void log_ticks(fcl_plot_axis *ax, int every, int fine)
{
    static const double ms[3] = {1, 2, 5};
    int d0 = (int)ceil(ax->a - 1e-9), d1 = (int)floor(ax->b + 1e-9);
    ax->n_ticks = 0;
    ax->n_minor = 0;
    for (int d = (int)floor(ax->a) - 1; d <= d1 && ax->n_ticks < FCL_PLOT_MAX_TICKS - 3; d++) {
        for (int j = 0; j < (fine ? 3 : 1); j++) {
            double v = ms[j] * pow(10.0, d);
            double lv = log10(v);
            if (lv < ax->a - 1e-9 || lv > ax->b + 1e-9) continue;
            if (j == 0 && ((d - d0) % every) != 0) continue;
            decade_label(ax->labels[ax->n_ticks], d, ms[j]);
            ax->ticks[ax->n_ticks++] = v;
        }
        if (every == 1)
            for (int m = 2; m <= 9 && ax->n_minor < FCL_PLOT_MAX_MINOR; m++) {
                double v = m * pow(10.0, d), lv = log10(v);
                if (lv > ax->a + 1e-9 && lv < ax->b - 1e-9) ax->minor[ax->n_minor++] = v;
            }
    }
}

void fcl_plot_axis_ticks(fcl_plot_axis *ax, double target, int every, int fine, int integer)
{
    if (ax->log) log_ticks(ax, every, fine);
    else linear_ticks(ax, nice_step((ax->hi - ax->lo) / (target < 2 ? 2 : target)), integer);
}

/* Data range of the finite points of all series along x (which = 0) or y (1); on a log axis only
 * values > 0 count. Returns the number of values seen. */
static size_t data_range(const fcl_plot_series *s, int ns, int which, int log, double *lo,
                         double *hi)
{
    size_t n = 0;
    *lo = INFINITY;
    *hi = -INFINITY;
    for (int k = 0; k < ns; k++)
        for (size_t i = 0; i < s[k].n; i++) {
            double x = s[k].x[i], y = s[k].y[i];
            if (!isfinite(x) || !isfinite(y)) continue;
            double v = which ? y : x;
            if (log && !(v > 0)) continue;
            if (v < *lo) *lo = v;
            if (v > *hi) *hi = v;
            n++;
        }
    return n;
}

/* Automatic range: linear axes get 4% of margin (or +-1 around a single value), log axes are
 * widened to whole decades. */
static void auto_range(fcl_plot_axis *ax, double lo, double hi)
{
    if (ax->log) {
        double a = floor(log10(lo) + 1e-9), b = ceil(log10(hi) - 1e-9);
        if (b <= a) b = a + 1;
        axis_set_range(ax, pow(10.0, a), pow(10.0, b));
        return;
    }
    if (hi > lo) {
        double pad = 0.04 * (hi - lo);
        axis_set_range(ax, lo - pad, hi + pad);
    } else {
        double pad = lo != 0 ? 0.1 * fabs(lo) : 1.0;
        axis_set_range(ax, lo - pad, hi + pad);
    }
}

fcl_status fcl_plot_axis_setup(fcl_plot_axis *ax, const char *name, int log, int fixed, double mn,
                               double mx, const fcl_plot_series *s, int ns, int which,
                               fcl_error *err)
{
    memset(ax, 0, sizeof *ax);
    ax->log = log;
    if (fixed) {
        if (!isfinite(mn) || !isfinite(mx) || !(mx > mn))
            return FCL_ERR(err, FCL_ERR_INVALID_ARG, "fcl_plot: fixed %s range [%g, %g] is empty",
                           name, mn, mx);
        if (log && !(mn > 0))
            return FCL_ERR(err, FCL_ERR_INVALID_ARG,
                           "fcl_plot: log %s axis needs a range above 0, got [%g, %g]", name, mn, mx);
        axis_set_range(ax, mn, mx);
        return FCL_OK;
    }
    double lo, hi;
    if (data_range(s, ns, which, log, &lo, &hi) == 0)
        return FCL_ERR(err, FCL_ERR_INVALID_ARG, "fcl_plot: no finite %s to plot%s", name,
                       log ? " (a log axis needs values > 0)" : "");
    auto_range(ax, lo, hi);
    return FCL_OK;
}
