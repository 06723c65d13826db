/* host/io/plot_canvas.h: the plot's raster: an RGB canvas with bitmap text, and anti-aliased strokes through a coverage buffer (plot_canvas.c). */
#ifndef FACECL_IO_PLOT_CANVAS_H
#define FACECL_IO_PLOT_CANVAS_H

#include <stdint.h>

/* h x w RGB bytes, row-major. */
typedef struct canvas {
    int w, h;
    unsigned char *px;
} canvas;

/* Coverage in [0, 1] of the pixels [x0, x0 + w) x [y0, y0 + h); strokes keep the maximum, so
 * overlapping segments of one line do not darken their joints. */
typedef struct covbuf {
    int x0, y0, w, h;
    float *c;
} covbuf;

typedef struct stroke {
    double half;           /* half the line width, pixels */
    double dash_on, dash_period; /* dash_period 0: solid */
} stroke;

/* Blends colour rgb over pixel (x, y) with opacity a in [0, 1]; outside the canvas: nothing. */
void fcl_canvas_blend(canvas *c, int x, int y, uint32_t rgb, double a);
/* [x0, x1) x [y0, y1) */
void fcl_canvas_fill_rect(canvas *c, int x0, int y0, int x1, int y1, uint32_t rgb, double a);
/* Width in pixels of s drawn at scale sc. */
int fcl_canvas_text_width(const char *s, int sc);
/* Text with its cell's top-left at (x, y); `up` draws it rotated a quarter turn
 * counter-clockwise, reading bottom to top, with (x, y) the cell's bottom-left. */
void fcl_canvas_text(canvas *c, int x, int y, const char *s, int sc, uint32_t rgb, int up);
/* Segment a -> b (pixel coordinates, pixel (i, j) centred at (i + 0.5, j + 0.5)); s0 is the arc
 * length at a, for the dash pattern. */
void fcl_stroke_segment(covbuf *cb, const stroke *st, double ax, double ay, double bx,
                        double by, double s0);
/* A filled dot of radius r centred at (cx0, cy0). */
void fcl_stroke_dot(covbuf *cb, double cx0, double cy0, double r);
/* Paints the buffer's coverage in one colour, and records it in `ink` (may be NULL) for the
 * legend placement. Clears the buffer for the next stroke. */
void fcl_canvas_composite(canvas *c, covbuf *cb, uint32_t rgb, covbuf *ink);

#endif
