/* host/data/synth_internal.h: what the synthetic-face sampler/renderer (synth.c) and the scene builder (synth_scene.c) share: random helpers, the shape primitives, the scene. */
#ifndef FACECL_DATA_SYNTH_INTERNAL_H
#define FACECL_DATA_SYNTH_INTERNAL_H

#include <math.h>
#include <string.h>

#include "facecl/synth.h"

#define PI_F 3.14159265358979f

/* ---- random helpers over the caller's fcl_rng --------------------------------------------- */

static inline float urand(fcl_rng *r, float lo, float hi) { return lo + (hi - lo) * fcl_rng_uniform(r); }
static inline int chance(fcl_rng *r, float p) { return fcl_rng_uniform(r) < p; }
static inline float clampf(float v, float lo, float hi) { return v < lo ? lo : (v > hi ? hi : v); }
static inline float mixf(float a, float b, float t) { return a + (b - a) * t; }

/* Index drawn with the given (unnormalised) weights. */
static inline int pick(fcl_rng *r, const float *w, int n)
{
    float total = 0.0f;
    for (int i = 0; i < n; i++) total += w[i];
    float u = fcl_rng_uniform(r) * total;
    for (int i = 0; i < n; i++) {
        if (u < w[i]) return i;
        u -= w[i];
    }
    return n - 1;
}

static inline void set3(float *d, float a, float b, float c)
{
    d[0] = a;
    d[1] = b;
    d[2] = c;
}

static inline void jitter3(fcl_rng *r, float *c, float s)
{
    for (int i = 0; i < 3; i++) c[i] = clampf(c[i] + s * fcl_rng_normal(r), 0.0f, 1.0f);
}

/* HSV (all in [0, 1]) to RGB. */
static inline void hsv_rgb(float h, float s, float v, float *rgb)
{
    float hh = (h - floorf(h)) * 6.0f;
    int i = (int)hh;
    float f = hh - (float)i, p = v * (1 - s), q = v * (1 - s * f), t = v * (1 - s * (1 - f));
    switch (i % 6) {
    case 0: set3(rgb, v, t, p); break;
    case 1: set3(rgb, q, v, p); break;
    case 2: set3(rgb, p, v, t); break;
    case 3: set3(rgb, p, q, v); break;
    case 4: set3(rgb, t, p, v); break;
    default: set3(rgb, v, p, q); break;
    }
}


/* ---- primitives ---------------------------------------------------------------------------- */

enum {
    P_ELLIPSE,   /* p0 rx, p1 ry, p2 wobble amplitude, p3 wobble frequency, p4 lower-half width */
    P_RING,      /* ellipse outline: p0 rx, p1 ry, p2 half thickness */
    P_CURVE,     /* bent capsule y = k (x^2/L - L/2), |x| <= L: p0 L, p1 k, p2 half thickness, p3 taper */
    P_BOX,       /* rounded box: p0 half w, p1 half h, p2 corner radius */
    P_BOXRING,   /* rounded box outline: p0, p1, p2 as P_BOX, p3 half thickness */
    P_HAIRLINE   /* region y < h(x) = p0 x^2 + p1 x - p2 |x| + p4 max(0, |x| - p3)^2 (relative to cx, cy) */
};

#define MAX_PRIMS 96
#define MAX_CLIPS 3

typedef struct prim {
    int kind;
    int visible;                 /* drawn; otherwise only a clip for others */
    int image_space;             /* coordinates in image half-sizes rather than face units */
    float cx, cy, ca, sa, xs;    /* centre, rotation (local x axis = (ca, sa)), x foreshortening */
    float p[5];
    float soft;                  /* extra edge softness (same units) */
    float col[3], alpha;
    int nclip, clip[MAX_CLIPS], clip_sub[MAX_CLIPS]; /* intersect (or subtract) with these prims */
    float bx0, by0, bx1, by1;    /* bounding box of the drawn part */
} prim;

typedef struct scene {
    prim p[MAX_PRIMS];
    int n;
    int overflow;
} scene;

/* Signed distance (face units, negative inside) from (x, y) to a primitive's drawn shape. */
float fcl_synth_sd_prim(const prim *q, float x, float y);
/* The face of identity id under variation v as primitives; the head ellipse's radii and centre. */
void fcl_synth_build_scene(scene *S, const fcl_synth_identity *id, const fcl_synth_variation *v,
                           float *head_rx, float *head_ry, float *head_cx);

#endif
