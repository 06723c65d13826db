/* host/io/plot.c: line plots (series, axes with ticks, grid, legend, titles) rendered into an RGB canvas and written as PNG. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "facecl/plot.h"
#include "io/plot_canvas.h"
#include "io/plot_font.h"

#define DEFAULT_W 900
#define DEFAULT_H 600
#define MIN_SIDE 160
#define MAX_SIDE 8192
#define MAX_TICKS 64
#define MAX_MINOR 256
#define TICK_LABEL_MAX 24

#define COL_BG 0xffffffu
#define COL_TEXT 0x202020u
#define COL_FRAME 0x404040u
#define COL_GRID 0xdcdcdcu
#define COL_GRID_MINOR 0xefefefu
#define COL_DIAGONAL 0x8c8c8cu
#define COL_LEGEND_EDGE 0xb4b4b4u

/* Tableau 10, the palette most plotting tools default to. */
static const uint32_t palette[10] = {0x1f77b4, 0xff7f0e, 0x2ca02c, 0xd62728, 0x9467bd,
                                     0x8c564b, 0xe377c2, 0x7f7f7f, 0xbcbd22, 0x17becf};

/* ---- axes --------------------------------------------------------------------------------- */

typedef struct axis {
    int log;
    double lo, hi;             /* data range shown (for log axes: > 0) */
    double a, b;               /* transform ends: lo, hi or log10 of them */
    int n_ticks, n_minor;
    double ticks[MAX_TICKS], minor[MAX_MINOR];
    char labels[MAX_TICKS][TICK_LABEL_MAX];
} axis;

static void axis_set_range(axis *ax, double lo, double hi)
{
    ax->lo = lo;
    ax->hi = hi;
    ax->a = ax->log ? log10(lo) : lo;
    ax->b = ax->log ? log10(hi) : hi;
}

/* Fraction of the axis length at value v; non-positive values on a log axis sit at 0. */
static double axis_frac(const axis *ax, double v)
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

static void linear_ticks(axis *ax, double step, int integer)
{
    if (integer && step < 1) step = 1;
    double big = fmax(fabs(ax->lo), fabs(ax->hi));
    int decimals = step >= 1 ? 0 : (int)ceil(-log10(step) - 1e-9);
    int sci = big >= 1e6 || step < 1e-4;
    double k0 = ceil(ax->lo / step - 1e-9), k1 = floor(ax->hi / step + 1e-9);
    ax->n_ticks = 0;
    for (double k = k0; k <= k1 && ax->n_ticks < MAX_TICKS; k++) {
        double v = k * step;
        if (fabs(v) < step * 1e-9) v = 0; /* no "-0.0" */
        ax->ticks[ax->n_ticks] = v;
        if (sci) snprintf(ax->labels[ax->n_ticks], TICK_LABEL_MAX, "%.3g", v);
        else snprintf(ax->labels[ax->n_ticks], TICK_LABEL_MAX, "%.*f", decimals, v);
        ax->n_ticks++;
    }
    ax->n_minor = 0;
}

/* "0.01", "1", "100" for decades -2..3, "1e-4" beyond. */
static void decade_label(char *buf, int d, double m)
{
    if (d >= -2 && d <= 3) snprintf(buf, TICK_LABEL_MAX, "%.*f", d < 0 ? -d : 0, m * pow(10.0, d));
    else if (m == 1) snprintf(buf, TICK_LABEL_MAX, "1e%d", d);
    else snprintf(buf, TICK_LABEL_MAX, "%de%d", (int)m, d);
}

/* Decade ticks every `every` decades, and with `fine` also 2x and 5x of each decade. Minor grid
 * at 2..9 x 10^k when every decade is labelled. */
static void log_ticks(axis *ax, int every, int fine)
{
    static const double ms[3] = {1, 2, 5};
    int d0 = (int)ceil(ax->a - 1e-9), d1 = (int)floor(ax->b + 1e-9);
    ax->n_ticks = 0;
    ax->n_minor = 0;
    for (int d = (int)floor(ax->a) - 1; d <= d1 && ax->n_ticks < MAX_TICKS - 3; d++) {
        for (int j = 0; j < (fine ? 3 : 1); j++) {
            double v = ms[j] * pow(10.0, d);
            double lv = log10(v);
            if (lv < ax->a - 1e-9 || lv > ax->b + 1e-9) continue;
            if (j == 0 && ((d - d0) % every) != 0) continue;
            decade_label(ax->labels[ax->n_ticks], d, ms[j]);
            ax->ticks[ax->n_ticks++] = v;
        }
        if (every == 1)
            for (int m = 2; m <= 9 && ax->n_minor < MAX_MINOR; m++) {
                double v = m * pow(10.0, d), lv = log10(v);
                if (lv > ax->a + 1e-9 && lv < ax->b - 1e-9) ax->minor[ax->n_minor++] = v;
            }
    }
}

static int max_label_width(const axis *ax, int sc)
{
    int w = 0;
    for (int i = 0; i < ax->n_ticks; i++) {
        int t = fcl_canvas_text_width(ax->labels[i], sc);
        if (t > w) w = t;
    }
    return w;
}

/* Ticks for an axis `len` pixels long whose labels need `label_px` pixels each (x: their width
 * plus a gap; y: text height plus a gap), refined until neighbouring labels do not collide. */
static void make_ticks(axis *ax, double len, int sc, int horizontal, int integer)
{
    double spacing = horizontal ? 50.0 * sc : 30.0 * sc; /* pixels between ticks, at least */
    int every = 1, fine = ax->b - ax->a <= 2.0 + 1e-9; /* 2x, 5x labels over two decades or less */
    for (int iter = 0; iter < 16; iter++) {
        if (ax->log) {
            log_ticks(ax, every, fine);
        } else {
            double target = floor(len / spacing);
            if (target < 2) target = 2;
            linear_ticks(ax, nice_step((ax->hi - ax->lo) / target), integer);
        }
        /* Check the narrowest gap between neighbouring ticks against the label size. */
        double need = horizontal ? max_label_width(ax, sc) + 4.0 * sc : (FCL_FONT_ROWS + 4.0) * sc;
        double gap = len;
        for (int i = 1; i < ax->n_ticks; i++)
            gap = fmin(gap, (axis_frac(ax, ax->ticks[i]) - axis_frac(ax, ax->ticks[i - 1])) * len);
        if (gap >= need || ax->n_ticks <= 2) return;
        if (ax->log && fine) fine = 0;
        else if (ax->log) every++;
        else spacing = fmax(spacing * 1.5, need);
    }
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
static void auto_range(axis *ax, double lo, double hi)
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

static fcl_status setup_axis(axis *ax, const char *name, int log, int fixed, double mn, double mx,
                             const fcl_plot_series *s, int ns, int which, fcl_error *err)
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

/* ---- the plot ----------------------------------------------------------------------------- */

typedef struct frame {
    int x0, y0, w, h;          /* plot area in pixels */
    axis xa, ya;
} frame;

static double to_px_x(const frame *f, double v)
{
    return f->x0 + axis_frac(&f->xa, v) * f->w;
}

static double to_px_y(const frame *f, double v)
{
    return f->y0 + (1.0 - axis_frac(&f->ya, v)) * f->h;
}

static uint32_t series_color(const fcl_plot_series *s, int *auto_i)
{
    if (s->color & 0x1000000u) return s->color & 0xffffffu;
    return palette[(*auto_i)++ % 10];
}

/* Marker dots are a little wider than the line. */
static double dot_radius(const stroke *st)
{
    return fmax(2.5, st->half + 1.5);
}

static stroke make_stroke(double width, int dashed)
{
    stroke st;
    st.half = width / 2;
    st.dash_on = dashed ? 3.5 * width + 2 : 0;
    st.dash_period = dashed ? st.dash_on + 2.5 * width + 2 : 0;
    return st;
}

/* Draws one series' polyline (and dots) into cb; a non-finite point breaks the line. */
static void stroke_series(covbuf *cb, const frame *f, const fcl_plot_series *s, const stroke *st,
                          int markers)
{
    double arc = 0, px = 0, py = 0;
    int have = 0;
    for (size_t i = 0; i < s->n; i++) {
        if (!isfinite(s->x[i]) || !isfinite(s->y[i])) {
            have = 0;
            continue;
        }
        double x = to_px_x(f, s->x[i]), y = to_px_y(f, s->y[i]);
        if (have) {
            fcl_stroke_segment(cb, st, px, py, x, y, arc);
            arc += hypot(x - px, y - py);
        } else if (!markers) {
            fcl_stroke_segment(cb, st, x, y, x, y, 0); /* an isolated point stays visible */
        }
        if (markers) fcl_stroke_dot(cb, x, y, dot_radius(st));
        px = x;
        py = y;
        have = 1;
    }
}

/* Sum of the ink under a box (pixel rectangle) of the plot. */
static double ink_in(const covbuf *ink, int x0, int y0, int w, int h)
{
    double sum = 0;
    for (int y = y0; y < y0 + h; y++)
        for (int x = x0; x < x0 + w; x++) {
            int u = x - ink->x0, v = y - ink->y0;
            if (u >= 0 && v >= 0 && u < ink->w && v < ink->h)
                sum += ink->c[(size_t)v * (size_t)ink->w + (size_t)u];
        }
    return sum;
}

static fcl_status draw_legend(canvas *c, const frame *f, const fcl_plot_series *s, int ns,
                              const uint32_t *colors, const double *widths, const covbuf *ink,
                              int sc, fcl_error *err)
{
    int n = 0, tw = 0;
    for (int k = 0; k < ns; k++)
        if (s[k].label && s[k].label[0]) {
            n++;
            int w = fcl_canvas_text_width(s[k].label, sc);
            if (w > tw) tw = w;
        }
    if (n == 0) return FCL_OK;
    int pad = 4 * sc, sample = 14 * sc, row = (FCL_FONT_ROWS + 3) * sc;
    int bw = pad + sample + pad + tw + pad, bh = pad + n * row - 3 * sc + pad;
    int inset = 5 * sc;
    /* Candidate places in order of preference (the four corners, then the middles of the
     * edges, then the centre); the one over the least ink wins. */
    const int xl = f->x0 + inset, xr = f->x0 + f->w - inset - bw, xm = f->x0 + (f->w - bw) / 2;
    const int yt = f->y0 + inset, yb = f->y0 + f->h - inset - bh, ym = f->y0 + (f->h - bh) / 2;
    const int cx[9] = {xr, xr, xl, xl, xr, xl, xm, xm, xm};
    const int cy[9] = {yt, yb, yt, yb, ym, ym, yt, yb, ym};
    int best = 0;
    double best_ink = INFINITY;
    for (int i = 0; i < 9; i++) {
        /* Measured with a margin so that the box does not sit right against a line either. */
        double v = ink_in(ink, cx[i] - inset, cy[i] - inset, bw + 2 * inset, bh + 2 * inset);
        if (v < best_ink - 1e-6) {
            best_ink = v;
            best = i;
        }
    }
    int x0 = cx[best], y0 = cy[best];
    /* The line samples are stroked into a coverage buffer over the legend box. */
    covbuf cb = {x0, y0, bw, bh, calloc((size_t)bw * (size_t)bh, sizeof(float))};
    if (!cb.c) return FCL_ERR(err, FCL_ERR_NOMEM, "fcl_plot: out of memory for the legend");
    fcl_canvas_fill_rect(c, x0, y0, x0 + bw, y0 + bh, COL_BG, 0.9);
    fcl_canvas_fill_rect(c, x0, y0, x0 + bw, y0 + 1, COL_LEGEND_EDGE, 1);
    fcl_canvas_fill_rect(c, x0, y0 + bh - 1, x0 + bw, y0 + bh, COL_LEGEND_EDGE, 1);
    fcl_canvas_fill_rect(c, x0, y0, x0 + 1, y0 + bh, COL_LEGEND_EDGE, 1);
    fcl_canvas_fill_rect(c, x0 + bw - 1, y0, x0 + bw, y0 + bh, COL_LEGEND_EDGE, 1);
    int j = 0;
    for (int k = 0; k < ns; k++) {
        if (!s[k].label || !s[k].label[0]) continue;
        int ty = y0 + pad + j * row;
        double ly = ty + (FCL_FONT_ASCENT * sc) / 2.0;
        double lx0 = x0 + pad, lx1 = x0 + pad + sample;
        stroke st = make_stroke(fmin(widths[k], 3.0 * sc), 0);
        if (s[k].dashed) { /* two dashes and a gap, whatever the pattern's phase */
            double seg = (lx1 - lx0 - 2 * st.half) / 3.0;
            fcl_stroke_segment(&cb, &st, lx0 + st.half, ly, lx0 + st.half + seg, ly, 0);
            fcl_stroke_segment(&cb, &st, lx1 - st.half - seg, ly, lx1 - st.half, ly, 0);
        } else {
            fcl_stroke_segment(&cb, &st, lx0 + st.half, ly, lx1 - st.half, ly, 0);
        }
        if (s[k].markers) fcl_stroke_dot(&cb, (lx0 + lx1) / 2, ly, dot_radius(&st));
        fcl_canvas_composite(c, &cb, colors[k], NULL);
        fcl_canvas_text(c, x0 + pad + sample + pad, ty, s[k].label, sc, COL_TEXT, 0);
        j++;
    }
    free(cb.c);
    return FCL_OK;
}

fcl_status fcl_plot_render(const char *title, const char *xlabel, const char *ylabel,
                           const fcl_plot_series *series, int n_series,
                           const fcl_plot_opts *opts, fcl_image *out, fcl_error *err)
{
    fcl_status st = FCL_OK;
    fcl_plot_opts o = {0};
    canvas c = {0};
    covbuf cb = {0}, ink = {0};
    frame f;
    uint32_t *colors = NULL;
    double *widths = NULL;

    if (!out) return FCL_ERR(err, FCL_ERR_INVALID_ARG, "fcl_plot: out must not be NULL");
    memset(out, 0, sizeof *out);
    if (opts) o = *opts;
    if (!o.width) o.width = DEFAULT_W;
    if (!o.height) o.height = DEFAULT_H;
    if (o.width < MIN_SIDE || o.height < MIN_SIDE || o.width > MAX_SIDE || o.height > MAX_SIDE)
        return FCL_ERR(err, FCL_ERR_INVALID_ARG, "fcl_plot: size %dx%d is not within %d..%d a side",
                       o.width, o.height, MIN_SIDE, MAX_SIDE);
    if (n_series < 0 || (n_series > 0 && !series))
        return FCL_ERR(err, FCL_ERR_INVALID_ARG, "fcl_plot: bad series list (%d series)", n_series);
    for (int k = 0; k < n_series; k++) {
        if (series[k].n > 0 && (!series[k].x || !series[k].y))
            return FCL_ERR(err, FCL_ERR_INVALID_ARG, "fcl_plot: series %d (%s) has %zu points but NULL x or y",
                           k, series[k].label ? series[k].label : "unnamed", series[k].n);
        if (!(series[k].line_width >= 0 && series[k].line_width <= 64))
            return FCL_ERR(err, FCL_ERR_INVALID_ARG, "fcl_plot: series %d line width %g not in [0, 64]",
                           k, series[k].line_width);
    }
    int sc = o.font_scale > 0 ? o.font_scale : (o.width < o.height ? o.width : o.height) / 300;
    if (sc < 1) sc = 1;
    if (sc > 8) sc = 8;

    st = setup_axis(&f.xa, "x", o.log_x, o.x_fixed, o.x_min, o.x_max, series, n_series, 0, err);
    if (st) return st;
    st = setup_axis(&f.ya, "y", o.log_y, o.y_fixed, o.y_min, o.y_max, series, n_series, 1, err);
    if (st) return st;

    /* Layout: margins from the text sizes; vertical first (the y ticks need the height), then
     * the left margin from the y tick labels, then the x ticks from the width. */
    int pad = 6 * sc, tick = 3 * sc, text_h = FCL_FONT_ROWS * sc, ts = sc + 1;
    int has_title = title && title[0], has_xl = xlabel && xlabel[0], has_yl = ylabel && ylabel[0];
    int top = has_title ? 2 * pad + FCL_FONT_ROWS * ts : 2 * pad;
    int bottom = tick + pad + text_h + (has_xl ? pad + text_h : 0) + pad;
    f.y0 = top;
    f.h = o.height - top - bottom;
    if (f.h < 20 * sc)
        return FCL_ERR(err, FCL_ERR_INVALID_ARG, "fcl_plot: %dx%d is too small for text at scale %d",
                       o.width, o.height, sc);
    make_ticks(&f.ya, f.h, sc, 0, 0);
    int left = pad + (has_yl ? text_h + pad : 0) + max_label_width(&f.ya, sc) + pad / 2 + tick;
    int right = 3 * pad;
    for (int pass = 0; pass < 2; pass++) {
        f.x0 = left;
        f.w = o.width - left - right;
        if (f.w < 20 * sc)
            return FCL_ERR(err, FCL_ERR_INVALID_ARG, "fcl_plot: %dx%d is too small for text at scale %d",
                           o.width, o.height, sc);
        make_ticks(&f.xa, f.w, sc, 1, o.x_integer_ticks);
        /* The last x label is centred on its tick: keep it inside the image. */
        if (f.xa.n_ticks == 0) break;
        int last = f.xa.n_ticks - 1;
        double lx = to_px_x(&f, f.xa.ticks[last]) + fcl_canvas_text_width(f.xa.labels[last], sc) / 2.0;
        if (lx <= o.width - pad) break;
        right += (int)ceil(lx - (o.width - pad));
    }

    c.w = o.width;
    c.h = o.height;
    c.px = malloc((size_t)c.w * (size_t)c.h * 3);
    colors = malloc(((size_t)n_series + 1) * sizeof *colors);
    widths = malloc(((size_t)n_series + 1) * sizeof *widths);
    /* Strokes may spill a few pixels over the frame so lines along an edge (a ROC at TAR 1)
     * stay whole. */
    double max_w = 2;
    for (int k = 0; k < n_series; k++) max_w = fmax(max_w, series[k].line_width);
    int spill = (int)ceil(max_w / 2) + 2 + (int)ceil(fmax(2.5, max_w / 2 + 1.5));
    cb.x0 = ink.x0 = f.x0 - spill;
    cb.y0 = ink.y0 = f.y0 - spill;
    cb.w = ink.w = f.w + 2 * spill;
    cb.h = ink.h = f.h + 2 * spill;
    cb.c = calloc((size_t)cb.w * (size_t)cb.h, sizeof *cb.c);
    ink.c = calloc((size_t)ink.w * (size_t)ink.h, sizeof *ink.c);
    if (!c.px || !colors || !widths || !cb.c || !ink.c) {
        st = FCL_ERR(err, FCL_ERR_NOMEM, "fcl_plot: out of memory for a %dx%d plot", o.width, o.height);
        goto fail;
    }
    memset(c.px, 0xff, (size_t)c.w * (size_t)c.h * 3);

    /* Grid. */
    if (!o.no_grid) {
        for (int i = 0; i < f.xa.n_minor; i++) {
            int x = (int)floor(to_px_x(&f, f.xa.minor[i]));
            fcl_canvas_fill_rect(&c, x, f.y0, x + 1, f.y0 + f.h, COL_GRID_MINOR, 1);
        }
        for (int i = 0; i < f.ya.n_minor; i++) {
            int y = (int)floor(to_px_y(&f, f.ya.minor[i]));
            fcl_canvas_fill_rect(&c, f.x0, y, f.x0 + f.w, y + 1, COL_GRID_MINOR, 1);
        }
        for (int i = 0; i < f.xa.n_ticks; i++) {
            int x = (int)floor(to_px_x(&f, f.xa.ticks[i]));
            fcl_canvas_fill_rect(&c, x, f.y0, x + 1, f.y0 + f.h, COL_GRID, 1);
        }
        for (int i = 0; i < f.ya.n_ticks; i++) {
            int y = (int)floor(to_px_y(&f, f.ya.ticks[i]));
            fcl_canvas_fill_rect(&c, f.x0, y, f.x0 + f.w, y + 1, COL_GRID, 1);
        }
    }
    /* Frame, under the data. */
    fcl_canvas_fill_rect(&c, f.x0 - 1, f.y0 - 1, f.x0 + f.w + 1, f.y0, COL_FRAME, 1);
    fcl_canvas_fill_rect(&c, f.x0 - 1, f.y0 + f.h, f.x0 + f.w + 1, f.y0 + f.h + 1, COL_FRAME, 1);
    fcl_canvas_fill_rect(&c, f.x0 - 1, f.y0, f.x0, f.y0 + f.h, COL_FRAME, 1);
    fcl_canvas_fill_rect(&c, f.x0 + f.w, f.y0, f.x0 + f.w + 1, f.y0 + f.h, COL_FRAME, 1);

    /* The y = x chance line, sampled so that it is right on log axes too, clipped to the frame. */
    if (o.diagonal) {
        enum { ND = 257 };
        double dx[ND], dy[ND];
        for (int i = 0; i < ND; i++) {
            double t = f.xa.a + (f.xa.b - f.xa.a) * i / (ND - 1);
            dx[i] = f.xa.log ? pow(10.0, t) : t;
            dy[i] = dx[i];
        }
        fcl_plot_series d = {0};
        d.x = dx;
        d.y = dy;
        d.n = ND;
        stroke sd = make_stroke(1.5, 1);
        covbuf inner = cb;
        /* Clip to the plot area: the diagonal runs off the range by design. */
        inner.x0 = f.x0;
        inner.y0 = f.y0;
        inner.w = f.w;
        inner.h = f.h;
        float *tmp = calloc((size_t)f.w * (size_t)f.h, sizeof *tmp);
        if (!tmp) {
            st = FCL_ERR(err, FCL_ERR_NOMEM, "fcl_plot: out of memory");
            goto fail;
        }
        inner.c = tmp;
        stroke_series(&inner, &f, &d, &sd, 0);
        /* Into the ink too (the legend should not hide it): ink has cb's geometry. */
        for (int y = 0; y < f.h; y++)
            for (int x = 0; x < f.w; x++) {
                float v = tmp[(size_t)y * (size_t)f.w + (size_t)x];
                float *q = &ink.c[(size_t)(y + spill) * (size_t)ink.w + (size_t)(x + spill)];
                if (v > *q) *q = v;
            }
        fcl_canvas_composite(&c, &inner, COL_DIAGONAL, NULL);
        free(tmp);
    }

    int auto_i = 0;
    for (int k = 0; k < n_series; k++) {
        colors[k] = series_color(&series[k], &auto_i);
        widths[k] = series[k].line_width > 0 ? series[k].line_width : 2.0;
        stroke sk = make_stroke(widths[k], series[k].dashed);
        stroke_series(&cb, &f, &series[k], &sk, series[k].markers);
        fcl_canvas_composite(&c, &cb, colors[k], &ink);
    }

    /* Ticks and their labels. */
    for (int i = 0; i < f.xa.n_ticks; i++) {
        int x = (int)floor(to_px_x(&f, f.xa.ticks[i]));
        fcl_canvas_fill_rect(&c, x, f.y0 + f.h + 1, x + 1, f.y0 + f.h + 1 + tick, COL_FRAME, 1);
        int w = fcl_canvas_text_width(f.xa.labels[i], sc);
        fcl_canvas_text(&c, x - w / 2, f.y0 + f.h + 1 + tick + pad / 2, f.xa.labels[i], sc, COL_TEXT, 0);
    }
    for (int i = 0; i < f.ya.n_ticks; i++) {
        int y = (int)floor(to_px_y(&f, f.ya.ticks[i]));
        fcl_canvas_fill_rect(&c, f.x0 - 1 - tick, y, f.x0 - 1, y + 1, COL_FRAME, 1);
        int w = fcl_canvas_text_width(f.ya.labels[i], sc);
        fcl_canvas_text(&c, f.x0 - 1 - tick - pad / 2 - w, y - FCL_FONT_ASCENT * sc / 2, f.ya.labels[i], sc,
                  COL_TEXT, 0);
    }
    if (has_xl) {
        int w = fcl_canvas_text_width(xlabel, sc);
        fcl_canvas_text(&c, f.x0 + f.w / 2 - w / 2, o.height - pad - text_h, xlabel, sc, COL_TEXT, 0);
    }
    if (has_yl) {
        int w = fcl_canvas_text_width(ylabel, sc);
        fcl_canvas_text(&c, pad, f.y0 + f.h / 2 + w / 2, ylabel, sc, COL_TEXT, 1);
    }
    if (has_title) {
        int w = fcl_canvas_text_width(title, ts);
        int x = f.x0 + f.w / 2 - w / 2;
        if (x + w > o.width - pad) x = o.width - pad - w;
        if (x < pad) x = pad;
        fcl_canvas_text(&c, x, pad, title, ts, COL_TEXT, 0);
    }
    if (!o.no_legend) {
        st = draw_legend(&c, &f, series, n_series, colors, widths, &ink, sc, err);
        if (st) goto fail;
    }

    st = fcl_image_alloc(out, 3, c.h, c.w, err);
    if (st) goto fail;
    size_t plane = (size_t)c.w * (size_t)c.h;
    for (size_t i = 0; i < plane; i++)
        for (int k = 0; k < 3; k++) out->data[(size_t)k * plane + i] = c.px[i * 3 + (size_t)k] / 255.0f;

fail:
    free(c.px);
    free(cb.c);
    free(ink.c);
    free(colors);
    free(widths);
    return st;
}

fcl_status fcl_plot_lines(const char *path, const char *title, const char *xlabel,
                          const char *ylabel, const fcl_plot_series *series, int n_series,
                          const fcl_plot_opts *opts, fcl_error *err)
{
    fcl_image img = {0};
    if (!path || !*path) return FCL_ERR(err, FCL_ERR_INVALID_ARG, "fcl_plot_lines: empty path");
    fcl_status st = fcl_plot_render(title, xlabel, ylabel, series, n_series, opts, &img, err);
    if (!st) st = fcl_image_write_png(path, &img, err);
    if (st) fcl_error_prefix(err, "plot %s: ", path);
    fcl_image_free(&img);
    return st;
}
