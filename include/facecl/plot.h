/* facecl/plot.h: line plots (loss / accuracy curves, ROC curves) drawn with Cairo on the host and written as PNG, SVG or PDF. */
#ifndef FACECL_PLOT_H
#define FACECL_PLOT_H

#include <stddef.h>
#include <stdint.h>
#include "status.h"
#include "image.h"

#ifdef __cplusplus
extern "C" {
#endif

/* An explicit series colour: FCL_PLOT_RGB(0x1f, 0x77, 0xb4). A colour of 0 means "the next
 * colour of the default palette" (Tableau 10: blue, orange, green, red, purple, ...), so a
 * zero-initialised series gets a sensible colour; black is FCL_PLOT_RGB(0, 0, 0). */
#define FCL_PLOT_RGB(r, g, b)                                                                  \
    (0x1000000u | (((uint32_t)(r) & 0xffu) << 16) | (((uint32_t)(g) & 0xffu) << 8) |          \
     ((uint32_t)(b) & 0xffu))

/* One line: n points (x[i], y[i]) joined in order. A point with a NaN or infinite coordinate
 * is left out and breaks the line there. */
typedef struct fcl_plot_series {
    const char *label;     /* legend text; NULL or "" keeps the series out of the legend */
    const double *x, *y;   /* [n] each */
    size_t n;
    uint32_t color;        /* FCL_PLOT_RGB(...) or 0 for the palette */
    double line_width;     /* pixels; 0: 2 */
    int dashed;            /* dashed line (e.g. validation next to a solid training curve) */
    int markers;           /* a dot at each point (useful for a handful of epochs) */
} fcl_plot_series;

typedef struct fcl_plot_opts {
    int width, height;     /* pixels (PDF: points); 0: 900 x 600. Each in [160, 8192]. */
    int font_scale;        /* text size: a font of 7 x font_scale px (at most 8); 0: from the
                            * image size (the shorter side / 43, in [9, 56] px) */
    /* log10 axes. The automatic range spans whole decades around the positive values; values
     * <= 0 are drawn on the axis' lower edge (e.g. FAR = 0 points of a ROC). */
    int log_x, log_y;
    /* Fixed ranges (e.g. [0, 1] for rates); otherwise the data's range plus a small margin.
     * With a log axis both ends must be > 0. */
    int x_fixed, y_fixed;
    double x_min, x_max, y_min, y_max;
    int x_integer_ticks;   /* x ticks at whole numbers only (epochs) */
    int diagonal;          /* a dashed grey y = x line (the chance line of a ROC) */
    int no_grid;           /* no grid lines */
    int no_legend;         /* no legend even when series have labels */
} fcl_plot_opts;

/* Renders the plot into a 3-channel image (CHW floats in [0, 1], as fcl_image_write_png takes):
 * antialiased lines and text in DejaVu Sans (fontconfig's default sans face without it).
 * title / xlabel / ylabel may be NULL or "". Text is printable ASCII (other bytes show as '?').
 * The legend goes where it hides the least of the lines (the corners first, then the middles of
 * the edges, then the centre). Ticks are 1-2-5 steps on linear axes; log axes tick at powers of
 * ten (with 2x and 5x when two decades or fewer are shown) and have a lighter minor grid.
 * Errors: no series with a finite point and no fixed ranges, bad sizes, an empty fixed range,
 * a non-positive fixed range on a log axis, NULL x / y with n > 0. opts may be NULL. */
fcl_status fcl_plot_render(const char *title, const char *xlabel, const char *ylabel,
                           const fcl_plot_series *series, int n_series,
                           const fcl_plot_opts *opts, fcl_image *out, fcl_error *err);

/* Writes the plot, atomically, in the format of path's extension (case-insensitive): ".svg" an
 * SVG and ".pdf" a PDF (vector, the same drawing and layout, sizes in points for PDF), anything
 * else a PNG (fcl_plot_render, then fcl_image_write_png: 8-bit RGB). A PNG is a deterministic
 * function of the arguments; an SVG too but for the number Cairo gives its drawing's group
 * (id="surfaceN", counted per process); a PDF also records its creation time. */
fcl_status fcl_plot_lines(const char *path, const char *title, const char *xlabel,
                          const char *ylabel, const fcl_plot_series *series, int n_series,
                          const fcl_plot_opts *opts, fcl_error *err);

#ifdef __cplusplus
}
#endif
#endif
