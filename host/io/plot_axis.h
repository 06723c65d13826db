/* host/io/plot_axis.h: a plot axis: its range (automatic or fixed, linear or log10) and its ticks with labels (plot_axis.c). */
#ifndef FACECL_HOST_IO_PLOT_AXIS_H
#define FACECL_HOST_IO_PLOT_AXIS_H

#include "facecl/plot.h"

#define FCL_PLOT_MAX_TICKS 64
#define FCL_PLOT_MAX_MINOR 256
#define FCL_PLOT_TICK_LABEL 24

typedef struct fcl_plot_axis {
    int log;
    double lo, hi;             /* data range shown (for log axes: > 0) */
    double a, b;               /* transform ends: lo, hi or log10 of them */
    int n_ticks, n_minor;
    double ticks[FCL_PLOT_MAX_TICKS], minor[FCL_PLOT_MAX_MINOR];
    char labels[FCL_PLOT_MAX_TICKS][FCL_PLOT_TICK_LABEL];
} fcl_plot_axis;

/* The range: fixed ([mn, mx]) or from the finite points of the series along x (which = 0) or y
 * (1): linear axes get 4% of margin, log axes whole decades. `name` ("x" / "y") for errors. */
fcl_status fcl_plot_axis_setup(fcl_plot_axis *ax, const char *name, int log, int fixed, double mn,
                               double mx, const fcl_plot_series *s, int ns, int which,
                               fcl_error *err);

/* Fraction of the axis length at value v; non-positive values on a log axis sit at 0. */
double fcl_plot_axis_frac(const fcl_plot_axis *ax, double v);

/* One try of the ticks: linear axes at the 1-2-5 step nearest above (hi - lo) / target (whole
 * numbers only with `integer`); log axes at every `every`-th decade, with `fine` also at 2x and
 * 5x, and a minor grid at 2..9 x 10^k when every decade is labelled. */
void fcl_plot_axis_ticks(fcl_plot_axis *ax, double target, int every, int fine, int integer);

#endif
