/* host/io/plot_canvas.c: the plot's raster: pixel blending, bitmap text (plot_font), anti-aliased line segments and dots through a coverage buffer. */
#include <math.h>
#include <stddef.h>

#include "io/plot_canvas.h"
#include "io/plot_font.h"

/* Blends colour rgb over pixel (x, y) with opacity a in [0, 1]; outside the canvas: nothing. */
void fcl_canvas_blend(canvas *c, int x, int y, uint32_t rgb, double a)
{
    if (x < 0 || y < 0 || x >= c->w || y >= c->h || !(a > 0)) return;
    if (a > 1) a = 1;
    unsigned char *p = c->px + ((size_t)y * (size_t)c->w + (size_t)x) * 3;
    const int comp[3] = {(int)((rgb >> 16) & 0xff), (int)((rgb >> 8) & 0xff), (int)(rgb & 0xff)};
    for (int k = 0; k < 3; k++) p[k] = (unsigned char)lround(p[k] + (comp[k] - p[k]) * a);
}

/* [x0, x1) x [y0, y1) */
void fcl_canvas_fill_rect(canvas *c, int x0, int y0, int x1, int y1, uint32_t rgb, double a)
{
    for (int y = y0 < 0 ? 0 : y0; y < y1 && y < c->h; y++)
        for (int x = x0 < 0 ? 0 : x0; x < x1 && x < c->w; x++) fcl_canvas_blend(c, x, y, rgb, a);
}

int fcl_canvas_text_width(const char *s, int sc)
{
    int w = 0, n = 0;
    for (; s && *s; s++, n++) {
        int first, width;
        fcl_font_columns(*s, &first, &width);
        w += (width + 1) * sc;
    }
    return n ? w - sc : 0;
}

/* Text with its cell's top-left at (x, y); `up` draws it rotated a quarter turn
 * counter-clockwise, reading bottom to top, with (x, y) the cell's bottom-left. */
void fcl_canvas_text(canvas *c, int x, int y, const char *s, int sc, uint32_t rgb, int up)
{
    int pen = 0;
    for (; s && *s; s++) {
        int first, width;
        fcl_font_columns(*s, &first, &width);
        const unsigned char *g = fcl_font_glyph(*s);
        for (int r = 0; r < FCL_FONT_ROWS; r++)
            for (int col = 0; col < width; col++) {
                if (!(g[r] & (1u << (FCL_FONT_COLS - 1 - (first + col))))) continue;
                int u = pen + col * sc, v = r * sc; /* along / across the text */
                if (up) fcl_canvas_fill_rect(c, x + v, y - u - sc, x + v + sc, y - u, rgb, 1);
                else fcl_canvas_fill_rect(c, x + u, y + v, x + u + sc, y + v + sc, rgb, 1);
            }
        pen += (width + 1) * sc;
    }
}

/* Segment a -> b (pixel coordinates, pixel (i, j) centred at (i + 0.5, j + 0.5)); s0 is the arc
 * length at a, for the dash pattern. */
void fcl_stroke_segment(covbuf *cb, const stroke *st, double ax, double ay, double bx,
                        double by, double s0)
{
    double ext = st->half + 1.0;
    double fx0 = fmin(ax, bx) - ext, fx1 = fmax(ax, bx) + ext;
    double fy0 = fmin(ay, by) - ext, fy1 = fmax(ay, by) + ext;
    /* Clamp in double first: points far outside the range map to huge coordinates. */
    int x0 = fx0 < cb->x0 ? cb->x0 : (int)floor(fx0);
    int x1 = fx1 > cb->x0 + cb->w ? cb->x0 + cb->w : (int)ceil(fx1);
    int y0 = fy0 < cb->y0 ? cb->y0 : (int)floor(fy0);
    int y1 = fy1 > cb->y0 + cb->h ? cb->y0 + cb->h : (int)ceil(fy1);
    double dx = bx - ax, dy = by - ay, len2 = dx * dx + dy * dy, len = sqrt(len2);
    for (int y = y0; y < y1; y++)
        for (int x = x0; x < x1; x++) {
            double cx = x + 0.5, cy = y + 0.5;
            double t = len2 > 0 ? ((cx - ax) * dx + (cy - ay) * dy) / len2 : 0;
            if (t < 0) t = 0;
            if (t > 1) t = 1;
            double d = hypot(cx - (ax + t * dx), cy - (ay + t * dy));
            double a = st->half + 0.5 - d;
            if (a <= 0) continue;
            if (a > 1) a = 1;
            if (st->dash_period > 0) {
                double ph = fmod(s0 + t * len, st->dash_period);
                if (ph > st->dash_on) continue;
            }
            float *p = &cb->c[(size_t)(y - cb->y0) * (size_t)cb->w + (size_t)(x - cb->x0)];
            if (a > *p) *p = (float)a;
        }
}

void fcl_stroke_dot(covbuf *cb, double cx0, double cy0, double r)
{
    int x0 = (int)floor(cx0 - r - 1), x1 = (int)ceil(cx0 + r + 1);
    int y0 = (int)floor(cy0 - r - 1), y1 = (int)ceil(cy0 + r + 1);
    if (x0 < cb->x0) x0 = cb->x0;
    if (y0 < cb->y0) y0 = cb->y0;
    if (x1 > cb->x0 + cb->w) x1 = cb->x0 + cb->w;
    if (y1 > cb->y0 + cb->h) y1 = cb->y0 + cb->h;
    for (int y = y0; y < y1; y++)
        for (int x = x0; x < x1; x++) {
            double a = r + 0.5 - hypot(x + 0.5 - cx0, y + 0.5 - cy0);
            if (a <= 0) continue;
            if (a > 1) a = 1;
            float *p = &cb->c[(size_t)(y - cb->y0) * (size_t)cb->w + (size_t)(x - cb->x0)];
            if (a > *p) *p = (float)a;
        }
}

/* Paints the buffer's coverage in one colour, and records it in `ink` (may be NULL) for the
 * legend placement. Clears the buffer for the next stroke. */
void fcl_canvas_composite(canvas *c, covbuf *cb, uint32_t rgb, covbuf *ink)
{
    for (int y = 0; y < cb->h; y++)
        for (int x = 0; x < cb->w; x++) {
            float *p = &cb->c[(size_t)y * (size_t)cb->w + (size_t)x];
            if (*p <= 0) continue;
            fcl_canvas_blend(c, cb->x0 + x, cb->y0 + y, rgb, *p);
            if (ink) {
                float *q = &ink->c[(size_t)y * (size_t)ink->w + (size_t)x];
                if (*p > *q) *q = *p;
            }
            *p = 0;
        }
}

