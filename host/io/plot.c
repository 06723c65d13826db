/* host/io/plot.c: line plots (series, axes with ticks, grid, legend, titles) drawn with Cairo and written as PNG, SVG or PDF. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cairo/cairo.h>
#include <cairo/cairo-pdf.h>
#include <cairo/cairo-svg.h>

#include "facecl/plot.h"
#include "io/atomic.h"
#include "io/plot_axis.h"

#define DEFAULT_W 900
#define DEFAULT_H 600
#define MIN_SIDE 160
#define MAX_SIDE 8192
#define FONT "DejaVu Sans" /* fontconfig falls back to the default sans face without it */
#define TEXT_MAX 1024

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

/* Everything the drawing needs. Lengths are pixels (points for SVG/PDF); `u` is the text unit,
 * a seventh of the label font size, which every margin and gap is a multiple of. */
typedef struct plot {
    fcl_plot_opts o;
    const char *title, *xlabel, *ylabel;
    const fcl_plot_series *s;
    int ns;
    double u, fs, ts;          /* unit, label and title font sizes */
    double ascent, text_h, cap; /* label font: ascent, ascent + descent, digit height */
    double t_ascent, t_h;      /* title font */
    int x0, y0, w, h;          /* plot area */
    fcl_plot_axis xa, ya;
} plot;

/* ---- text ------------------------------------------------------------------------------------ */

/* Printable ASCII copy of s (other bytes as '?'): Cairo takes UTF-8 and rejects invalid text. */
static const char *ascii(char *dst, const char *s)
{
    size_t i = 0;
    for (; s && s[i] && i + 1 < TEXT_MAX; i++) dst[i] = s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '?';
    dst[i] = 0;
    return dst;
}

static void set_font(cairo_t *cr, double size)
{
    cairo_select_font_face(cr, FONT, CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_font_size(cr, size);
}

static double text_w(cairo_t *cr, const char *s)
{
    char buf[TEXT_MAX];
    cairo_text_extents_t te;
    cairo_text_extents(cr, ascii(buf, s), &te);
    return te.x_advance;
}

/* s with its baseline at (x, y). */
static void text_at(cairo_t *cr, double x, double y, const char *s)
{
    char buf[TEXT_MAX];
    cairo_move_to(cr, x, y);
    cairo_show_text(cr, ascii(buf, s));
}

static int has(const char *s)
{
    return s && s[0];
}

/* ---- layout ------------------------------------------------------------------------------------ */

static double to_px_x(const plot *p, double v)
{
    return p->x0 + fcl_plot_axis_frac(&p->xa, v) * p->w;
}

static double to_px_y(const plot *p, double v)
{
    return p->y0 + (1.0 - fcl_plot_axis_frac(&p->ya, v)) * p->h;
}

static double max_label_width(cairo_t *cr, const fcl_plot_axis *ax)
{
    double w = 0;
    for (int i = 0; i < ax->n_ticks; i++) w = fmax(w, text_w(cr, ax->labels[i]));
    return w;
}

/* Ticks for an axis `len` long, refined until neighbouring labels do not collide (x: their
 * widths plus a gap; y: the text height plus a gap). */
static void make_ticks(cairo_t *cr, const plot *p, fcl_plot_axis *ax, double len, int horizontal,
                       int integer)
{
    double spacing = horizontal ? 50.0 * p->u : 30.0 * p->u; /* between ticks, at least */
    int every = 1, fine = ax->b - ax->a <= 2.0 + 1e-9; /* 2x, 5x labels over two decades or less */
    for (int iter = 0; iter < 16; iter++) {
        fcl_plot_axis_ticks(ax, floor(len / spacing), every, fine, integer);
        double need = horizontal ? max_label_width(cr, ax) + 4.0 * p->u : p->text_h + 4.0 * p->u;
        double gap = len;
        for (int i = 1; i < ax->n_ticks; i++)
            gap = fmin(gap, (fcl_plot_axis_frac(ax, ax->ticks[i]) - fcl_plot_axis_frac(ax, ax->ticks[i - 1])) * len);
        if (gap >= need || ax->n_ticks <= 2) return;
        if (ax->log && fine) fine = 0;
        else if (ax->log) every++;
        else spacing = fmax(spacing * 1.5, need);
    }
}

/* Font sizes, then margins from the text sizes: vertical first (the y ticks need the height),
 * then the left margin from the y tick labels, then the x ticks from the width. */
static fcl_status layout(cairo_t *cr, plot *p, fcl_error *err)
{
    const int W = p->o.width, H = p->o.height;
    cairo_font_options_t *fo = cairo_font_options_create();
    /* Unhinted metrics: the same layout on raster and vector surfaces. */
    cairo_font_options_set_hint_metrics(fo, CAIRO_HINT_METRICS_OFF);
    cairo_font_options_set_antialias(fo, CAIRO_ANTIALIAS_GRAY);
    cairo_set_font_options(cr, fo);
    cairo_font_options_destroy(fo);
    cairo_font_extents_t fe;
    cairo_text_extents_t te;
    set_font(cr, p->ts);
    cairo_font_extents(cr, &fe);
    p->t_ascent = fe.ascent;
    p->t_h = fe.ascent + fe.descent;
    set_font(cr, p->fs);
    cairo_font_extents(cr, &fe);
    cairo_text_extents(cr, "0", &te);
    p->ascent = fe.ascent;
    p->text_h = fe.ascent + fe.descent;
    p->cap = te.height;

    const double u = p->u, pad = 6 * u, tick = 3 * u;
    double top = has(p->title) ? 2 * pad + p->t_h : 2 * pad;
    double bottom = tick + pad + p->text_h + (has(p->xlabel) ? pad + p->text_h : 0) + pad;
    p->y0 = (int)ceil(top);
    p->h = H - p->y0 - (int)ceil(bottom);
    if (p->h < 20 * u)
        return FCL_ERR(err, FCL_ERR_INVALID_ARG, "fcl_plot: %dx%d is too small for text of %.1f px",
                       W, H, p->fs);
    make_ticks(cr, p, &p->ya, p->h, 0, 0);
    double left = pad + (has(p->ylabel) ? p->text_h + pad : 0) + max_label_width(cr, &p->ya) + pad / 2 + tick;
    double right = 3 * pad;
    for (int pass = 0; pass < 2; pass++) {
        p->x0 = (int)ceil(left);
        p->w = W - p->x0 - (int)ceil(right);
        if (p->w < 20 * u)
            return FCL_ERR(err, FCL_ERR_INVALID_ARG, "fcl_plot: %dx%d is too small for text of %.1f px",
                           W, H, p->fs);
        make_ticks(cr, p, &p->xa, p->w, 1, p->o.x_integer_ticks);
        /* The last x label is centred on its tick: keep it inside the image. */
        if (p->xa.n_ticks == 0) break;
        int last = p->xa.n_ticks - 1;
        double lx = to_px_x(p, p->xa.ticks[last]) + text_w(cr, p->xa.labels[last]) / 2;
        if (lx <= W - pad) break;
        right += lx - (W - pad);
    }
    return FCL_OK;
}

/* ---- drawing ----------------------------------------------------------------------------------- */

static void set_rgb(cairo_t *cr, uint32_t rgb, double a)
{
    cairo_set_source_rgba(cr, ((rgb >> 16) & 0xff) / 255.0, ((rgb >> 8) & 0xff) / 255.0,
                          (rgb & 0xff) / 255.0, a);
}

static void fill_rect(cairo_t *cr, double x, double y, double w, double h, uint32_t rgb, double a)
{
    set_rgb(cr, rgb, a);
    cairo_rectangle(cr, x, y, w, h);
    cairo_fill(cr);
}

/* Series k's colour: its own, or the next of the palette among the series without one. */
static uint32_t series_color(const plot *p, int k)
{
    if (p->s[k].color & 0x1000000u) return p->s[k].color & 0xffffffu;
    int auto_i = 0;
    for (int j = 0; j < k; j++) auto_i += !(p->s[j].color & 0x1000000u);
    return palette[auto_i % 10];
}

static double series_width(const fcl_plot_series *s)
{
    return s->line_width > 0 ? s->line_width : 2.0;
}

/* Marker dots are a little wider than the line. */
static double dot_radius(double width)
{
    return fmax(2.5, width / 2 + 1.5);
}

static void set_stroke(cairo_t *cr, double width, int dashed)
{
    cairo_set_line_width(cr, width);
    cairo_set_line_join(cr, CAIRO_LINE_JOIN_ROUND);
    cairo_set_line_cap(cr, dashed ? CAIRO_LINE_CAP_BUTT : CAIRO_LINE_CAP_ROUND);
    double dash[2] = {3.5 * width + 2, 2.5 * width + 2};
    cairo_set_dash(cr, dash, dashed ? 2 : 0, 0);
}

/* One series in the current source: its polyline (a non-finite point breaks it), then dots at
 * every point (markers) or at isolated points, which a polyline would not show. */
static void draw_series(cairo_t *cr, const plot *p, const fcl_plot_series *s, double width, int dashed)
{
    set_stroke(cr, width, dashed);
    cairo_new_path(cr);
    for (size_t i = 0, have = 0; i < s->n; i++) {
        if (!isfinite(s->x[i]) || !isfinite(s->y[i])) {
            have = 0;
            continue;
        }
        if (have) cairo_line_to(cr, to_px_x(p, s->x[i]), to_px_y(p, s->y[i]));
        else cairo_move_to(cr, to_px_x(p, s->x[i]), to_px_y(p, s->y[i]));
        have = 1;
    }
    cairo_stroke(cr);
    for (size_t i = 0; i < s->n; i++) {
        if (!isfinite(s->x[i]) || !isfinite(s->y[i])) continue;
        int alone = (i == 0 || !isfinite(s->x[i - 1]) || !isfinite(s->y[i - 1])) &&
                    (i + 1 == s->n || !isfinite(s->x[i + 1]) || !isfinite(s->y[i + 1]));
        double r = s->markers ? dot_radius(width) : alone ? width / 2 : 0;
        if (r <= 0) continue;
        cairo_new_sub_path(cr);
        cairo_arc(cr, to_px_x(p, s->x[i]), to_px_y(p, s->y[i]), r, 0, 2 * M_PI);
    }
    cairo_fill(cr);
}

/* The series, clipped to the plot area plus a margin (so lines along an edge, a ROC at TAR 1,
 * stay whole), drawn on the target and as opaque ink on `ic` for the legend placement. */
static void draw_data(cairo_t *cr, cairo_t *ic, const plot *p)
{
    double max_w = 2;
    for (int k = 0; k < p->ns; k++) max_w = fmax(max_w, series_width(&p->s[k]));
    double spill = max_w / 2 + 2 + dot_radius(max_w);
    cairo_t *both[2] = {cr, ic};
    for (int j = 0; j < 2; j++) {
        cairo_t *c = both[j];
        cairo_save(c);
        if (p->o.diagonal) { /* y = x, sampled so that it is right on log axes too */
            enum { ND = 257 };
            double dx[ND];
            for (int i = 0; i < ND; i++) {
                double t = p->xa.a + (p->xa.b - p->xa.a) * i / (ND - 1);
                dx[i] = p->xa.log ? pow(10.0, t) : t;
            }
            fcl_plot_series d = {.x = dx, .y = dx, .n = ND};
            cairo_save(c);
            cairo_rectangle(c, p->x0, p->y0, p->w, p->h); /* it runs off the range by design */
            cairo_clip(c);
            set_rgb(c, COL_DIAGONAL, 1);
            draw_series(c, p, &d, 1.5, 1);
            cairo_restore(c);
        }
        cairo_rectangle(c, p->x0 - spill, p->y0 - spill, p->w + 2 * spill, p->h + 2 * spill);
        cairo_clip(c);
        for (int k = 0; k < p->ns; k++) {
            set_rgb(c, series_color(p, k), 1);
            draw_series(c, p, &p->s[k], series_width(&p->s[k]), p->s[k].dashed);
        }
        cairo_restore(c);
    }
}

/* Sum of the ink (A8 coverage) under a box. */
static double ink_in(cairo_surface_t *ink, int x0, int y0, int w, int h)
{
    cairo_surface_flush(ink);
    const unsigned char *d = cairo_image_surface_get_data(ink);
    int stride = cairo_image_surface_get_stride(ink), W = cairo_image_surface_get_width(ink),
        H = cairo_image_surface_get_height(ink);
    double sum = 0;
    for (int y = y0 < 0 ? 0 : y0; y < y0 + h && y < H; y++)
        for (int x = x0 < 0 ? 0 : x0; x < x0 + w && x < W; x++) sum += d[(size_t)y * (size_t)stride + (size_t)x];
    return sum / 255.0;
}

static void draw_legend(cairo_t *cr, const plot *p, cairo_surface_t *ink)
{
    int n = 0;
    double tw = 0, u = p->u;
    for (int k = 0; k < p->ns; k++)
        if (has(p->s[k].label)) {
            n++;
            tw = fmax(tw, text_w(cr, p->s[k].label));
        }
    if (n == 0) return;
    double pad = 4 * u, sample = 14 * u, row = p->text_h + 3 * u;
    int bw = (int)ceil(pad + sample + pad + tw + pad), bh = (int)ceil(pad + n * row - 3 * u + pad);
    int inset = (int)lround(5 * u);
    /* Candidate places in order of preference (the four corners, then the middles of the
     * edges, then the centre); the one over the least ink wins. */
    const int xl = p->x0 + inset, xr = p->x0 + p->w - inset - bw, xm = p->x0 + (p->w - bw) / 2;
    const int yt = p->y0 + inset, yb = p->y0 + p->h - inset - bh, ym = p->y0 + (p->h - bh) / 2;
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
    fill_rect(cr, x0, y0, bw, bh, COL_BG, 0.9);
    set_rgb(cr, COL_LEGEND_EDGE, 1);
    cairo_set_dash(cr, NULL, 0, 0);
    cairo_set_line_width(cr, 1);
    cairo_rectangle(cr, x0 + 0.5, y0 + 0.5, bw - 1, bh - 1);
    cairo_stroke(cr);
    int j = 0;
    for (int k = 0; k < p->ns; k++) {
        const fcl_plot_series *s = &p->s[k];
        if (!has(s->label)) continue;
        double ty = y0 + pad + j * row, ly = ty + p->ascent - p->cap / 2;
        double lx0 = x0 + pad, lx1 = x0 + pad + sample, width = fmin(series_width(s), 3 * u);
        double half = width / 2;
        set_rgb(cr, series_color(p, k), 1);
        set_stroke(cr, width, 0);
        if (s->dashed) { /* two dashes and a gap, whatever the pattern's phase */
            double seg = (lx1 - lx0 - 2 * half) / 3.0;
            cairo_move_to(cr, lx0 + half, ly);
            cairo_line_to(cr, lx0 + half + seg, ly);
            cairo_move_to(cr, lx1 - half - seg, ly);
            cairo_line_to(cr, lx1 - half, ly);
        } else {
            cairo_move_to(cr, lx0 + half, ly);
            cairo_line_to(cr, lx1 - half, ly);
        }
        cairo_stroke(cr);
        if (s->markers) {
            cairo_arc(cr, (lx0 + lx1) / 2, ly, dot_radius(width), 0, 2 * M_PI);
            cairo_fill(cr);
        }
        set_rgb(cr, COL_TEXT, 1);
        text_at(cr, x0 + pad + sample + pad, ty + p->ascent, s->label);
        j++;
    }
}

/* Grid and frame under the data, the data, then ticks, labels, title and legend over it. */
static fcl_status draw(cairo_t *cr, const plot *p, fcl_error *err)
{
    const int W = p->o.width, H = p->o.height;
    const double u = p->u, pad = 6 * u, tick = 3 * u;
    cairo_surface_t *ink = cairo_image_surface_create(CAIRO_FORMAT_A8, W, H);
    cairo_t *ic = cairo_create(ink);
    fcl_status st = FCL_OK;
    if (cairo_status(ic) != CAIRO_STATUS_SUCCESS) {
        st = FCL_ERR(err, FCL_ERR_NOMEM, "fcl_plot: %s for a %dx%d plot", cairo_status_to_string(cairo_status(ic)), W, H);
        goto done;
    }
    fill_rect(cr, 0, 0, W, H, COL_BG, 1);
    if (!p->o.no_grid) {
        for (int i = 0; i < p->xa.n_minor; i++)
            fill_rect(cr, floor(to_px_x(p, p->xa.minor[i])), p->y0, 1, p->h, COL_GRID_MINOR, 1);
        for (int i = 0; i < p->ya.n_minor; i++)
            fill_rect(cr, p->x0, floor(to_px_y(p, p->ya.minor[i])), p->w, 1, COL_GRID_MINOR, 1);
        for (int i = 0; i < p->xa.n_ticks; i++)
            fill_rect(cr, floor(to_px_x(p, p->xa.ticks[i])), p->y0, 1, p->h, COL_GRID, 1);
        for (int i = 0; i < p->ya.n_ticks; i++)
            fill_rect(cr, p->x0, floor(to_px_y(p, p->ya.ticks[i])), p->w, 1, COL_GRID, 1);
    }
    set_rgb(cr, COL_FRAME, 1);
    cairo_set_line_width(cr, 1);
    cairo_rectangle(cr, p->x0 - 0.5, p->y0 - 0.5, p->w + 1, p->h + 1);
    cairo_stroke(cr);
    draw_data(cr, ic, p);

    set_font(cr, p->fs);
    for (int i = 0; i < p->xa.n_ticks; i++) {
        double x = floor(to_px_x(p, p->xa.ticks[i]));
        fill_rect(cr, x, p->y0 + p->h + 1, 1, tick, COL_FRAME, 1);
        set_rgb(cr, COL_TEXT, 1);
        text_at(cr, x + 0.5 - text_w(cr, p->xa.labels[i]) / 2, p->y0 + p->h + 1 + tick + pad / 2 + p->ascent,
                p->xa.labels[i]);
    }
    for (int i = 0; i < p->ya.n_ticks; i++) {
        double y = floor(to_px_y(p, p->ya.ticks[i]));
        fill_rect(cr, p->x0 - 1 - tick, y, tick, 1, COL_FRAME, 1);
        set_rgb(cr, COL_TEXT, 1);
        text_at(cr, p->x0 - 1 - tick - pad / 2 - text_w(cr, p->ya.labels[i]), y + 0.5 + p->cap / 2, p->ya.labels[i]);
    }
    set_rgb(cr, COL_TEXT, 1);
    if (has(p->xlabel))
        text_at(cr, p->x0 + p->w / 2.0 - text_w(cr, p->xlabel) / 2, H - pad - p->text_h + p->ascent, p->xlabel);
    if (has(p->ylabel)) { /* a quarter turn counter-clockwise, reading bottom to top */
        cairo_save(cr);
        cairo_translate(cr, pad + p->ascent, p->y0 + p->h / 2.0 + text_w(cr, p->ylabel) / 2);
        cairo_rotate(cr, -M_PI / 2);
        text_at(cr, 0, 0, p->ylabel);
        cairo_restore(cr);
    }
    if (has(p->title)) {
        set_font(cr, p->ts);
        double w = text_w(cr, p->title), x = p->x0 + p->w / 2.0 - w / 2;
        if (x + w > W - pad) x = W - pad - w;
        if (x < pad) x = pad;
        text_at(cr, x, pad + p->t_ascent, p->title);
        set_font(cr, p->fs);
    }
    if (!p->o.no_legend) draw_legend(cr, p, ink);
    cairo_status_t cs = cairo_status(cr);
    if (cs != CAIRO_STATUS_SUCCESS)
        st = FCL_ERR(err, cs == CAIRO_STATUS_NO_MEMORY ? FCL_ERR_NOMEM : FCL_ERR_INVALID_ARG,
                     "fcl_plot: drawing failed: %s", cairo_status_to_string(cs));
done:
    cairo_destroy(ic);
    cairo_surface_destroy(ink);
    return st;
}

/* ---- entry points ------------------------------------------------------------------------------ */

/* Options and series checked, defaults filled in, colours assigned; no drawing yet. */
static fcl_status prepare(plot *p, const char *title, const char *xlabel, const char *ylabel,
                          const fcl_plot_series *series, int n_series, const fcl_plot_opts *opts,
                          fcl_error *err)
{
    memset(p, 0, sizeof *p);
    if (opts) p->o = *opts;
    fcl_plot_opts *o = &p->o;
    if (!o->width) o->width = DEFAULT_W;
    if (!o->height) o->height = DEFAULT_H;
    if (o->width < MIN_SIDE || o->height < MIN_SIDE || o->width > MAX_SIDE || o->height > MAX_SIDE)
        return FCL_ERR(err, FCL_ERR_INVALID_ARG, "fcl_plot: size %dx%d is not within %d..%d a side",
                       o->width, o->height, MIN_SIDE, MAX_SIDE);
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
    p->title = title;
    p->xlabel = xlabel;
    p->ylabel = ylabel;
    p->s = series;
    p->ns = n_series;
    int side = o->width < o->height ? o->width : o->height;
    p->fs = o->font_scale > 0 ? 7.0 * (o->font_scale > 8 ? 8 : o->font_scale) : fmin(fmax(side / 43.0, 9.0), 56.0);
    p->ts = 1.25 * p->fs;
    p->u = p->fs / 7;
    fcl_status st = fcl_plot_axis_setup(&p->xa, "x", o->log_x, o->x_fixed, o->x_min, o->x_max, series, n_series, 0, err);
    return st ? st : fcl_plot_axis_setup(&p->ya, "y", o->log_y, o->y_fixed, o->y_min, o->y_max, series, n_series, 1, err);
}

/* Lays out and draws p on a fresh context of `surface`. */
static fcl_status paint(cairo_surface_t *surface, plot *p, fcl_error *err)
{
    cairo_t *cr = cairo_create(surface);
    fcl_status st = FCL_OK;
    if (cairo_status(cr) != CAIRO_STATUS_SUCCESS)
        st = FCL_ERR(err, FCL_ERR_NOMEM, "fcl_plot: %s for a %dx%d plot",
                     cairo_status_to_string(cairo_status(cr)), p->o.width, p->o.height);
    if (!st) st = layout(cr, p, err);
    if (!st) st = draw(cr, p, err);
    cairo_destroy(cr);
    return st;
}

fcl_status fcl_plot_render(const char *title, const char *xlabel, const char *ylabel,
                           const fcl_plot_series *series, int n_series,
                           const fcl_plot_opts *opts, fcl_image *out, fcl_error *err)
{
    plot p;
    if (!out) return FCL_ERR(err, FCL_ERR_INVALID_ARG, "fcl_plot: out must not be NULL");
    memset(out, 0, sizeof *out);
    fcl_status st = prepare(&p, title, xlabel, ylabel, series, n_series, opts, err);
    if (st) return st;
    cairo_surface_t *surface = cairo_image_surface_create(CAIRO_FORMAT_RGB24, p.o.width, p.o.height);
    st = paint(surface, &p, err);
    if (!st) st = fcl_image_alloc(out, 3, p.o.height, p.o.width, err);
    if (!st) { /* xRGB words, native byte order */
        cairo_surface_flush(surface);
        const unsigned char *d = cairo_image_surface_get_data(surface);
        size_t stride = (size_t)cairo_image_surface_get_stride(surface), plane = (size_t)p.o.width * (size_t)p.o.height;
        for (size_t y = 0; y < (size_t)p.o.height; y++)
            for (size_t x = 0; x < (size_t)p.o.width; x++) {
                uint32_t v;
                memcpy(&v, d + y * stride + 4 * x, 4);
                size_t i = y * (size_t)p.o.width + x;
                out->data[i] = ((v >> 16) & 0xff) / 255.0f;
                out->data[plane + i] = ((v >> 8) & 0xff) / 255.0f;
                out->data[2 * plane + i] = (v & 0xff) / 255.0f;
            }
    }
    cairo_surface_destroy(surface);
    return st;
}

/* Cairo's output stream into the atomic file; the first failed write's errno is kept. */
typedef struct sink {
    fcl_atomic_file *af;
    int errnum;
} sink;

static cairo_status_t sink_write(void *closure, const unsigned char *data, unsigned int length)
{
    sink *s = closure;
    if (s->errnum) return CAIRO_STATUS_WRITE_ERROR;
    errno = 0;
    if (fwrite(data, 1, length, s->af->f) != length) {
        s->errnum = errno ? errno : EIO;
        return CAIRO_STATUS_WRITE_ERROR;
    }
    return CAIRO_STATUS_SUCCESS;
}

/* A vector plot (svg = 1: SVG, else PDF), atomically: the surface streams into the temp file. */
static fcl_status write_vector(const char *path, int svg, plot *p, fcl_error *err)
{
    fcl_atomic_file af = {0};
    fcl_status st = fcl_atomic_open(&af, path, err);
    if (st) return st;
    sink out = {&af, 0};
    cairo_surface_t *surface = svg ? cairo_svg_surface_create_for_stream(sink_write, &out, p->o.width, p->o.height)
                                   : cairo_pdf_surface_create_for_stream(sink_write, &out, p->o.width, p->o.height);
    if (svg) cairo_svg_surface_set_document_unit(surface, CAIRO_SVG_UNIT_PX);
    else cairo_pdf_surface_set_metadata(surface, CAIRO_PDF_METADATA_CREATOR, "facecl");
    st = paint(surface, p, err);
    cairo_surface_finish(surface); /* writes the rest of the document */
    cairo_status_t cs = cairo_surface_status(surface);
    cairo_surface_destroy(surface);
    if (!st && out.errnum) st = fcl_atomic_fail(&af, "writing", out.errnum, err);
    else if (!st && cs != CAIRO_STATUS_SUCCESS)
        st = FCL_ERR(err, FCL_ERR_IO, "%s: Cairo failed: %s", path, cairo_status_to_string(cs));
    if (!st) st = fcl_atomic_commit(&af, err);
    fcl_atomic_abort(&af);
    return st;
}

static int ends_with(const char *s, const char *ext)
{
    size_t n = strlen(s), m = strlen(ext);
    return n > m && strcasecmp(s + n - m, ext) == 0;
}

fcl_status fcl_plot_lines(const char *path, const char *title, const char *xlabel,
                          const char *ylabel, const fcl_plot_series *series, int n_series,
                          const fcl_plot_opts *opts, fcl_error *err)
{
    if (!path || !*path) return FCL_ERR(err, FCL_ERR_INVALID_ARG, "fcl_plot_lines: empty path");
    fcl_status st;
    if (ends_with(path, ".svg") || ends_with(path, ".pdf")) {
        plot p;
        st = prepare(&p, title, xlabel, ylabel, series, n_series, opts, err);
        if (!st) st = write_vector(path, ends_with(path, ".svg"), &p, err);
    } else {
        fcl_image img = {0};
        st = fcl_plot_render(title, xlabel, ylabel, series, n_series, opts, &img, err);
        if (!st) st = fcl_image_write_png(path, &img, err);
        fcl_image_free(&img);
    }
    if (st) fcl_error_prefix(err, "plot %s: ", path);
    return st;
}
