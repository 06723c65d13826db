/* host/data/synth_scene.c: a synthetic face as a scene of signed-distance primitives: the primitives, their distances, and the face built from an identity and a variation. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "data/synth_internal.h"

static prim *add(scene *s, int kind, float cx, float cy, const float *col, float alpha)
{
    if (s->n >= MAX_PRIMS) {
        s->overflow = 1;
        return &s->p[MAX_PRIMS - 1]; /* harmless scratch; render reports the overflow */
    }
    prim *q = &s->p[s->n++];
    memset(q, 0, sizeof *q);
    q->kind = kind;
    q->visible = 1;
    q->cx = cx;
    q->cy = cy;
    q->ca = 1.0f;
    q->sa = 0.0f;
    q->xs = 1.0f;
    if (col) memcpy(q->col, col, sizeof q->col);
    q->alpha = alpha;
    q->p[4] = 1.0f;
    q->bx0 = q->by0 = -1e30f;
    q->bx1 = q->by1 = 1e30f;
    return q;
}

static int idx(const scene *s, const prim *q) { return (int)(q - s->p); }

static void clip_to(prim *q, int other, int subtract)
{
    if (q->nclip < MAX_CLIPS) {
        q->clip[q->nclip] = other;
        q->clip_sub[q->nclip] = subtract;
        q->nclip++;
    }
}

static void rotate(prim *q, float angle)
{
    q->ca = cosf(angle);
    q->sa = sinf(angle);
}

/* Axis-aligned box around the centre with radius `ext` (covers any rotation). */
static void bound(prim *q, float ext)
{
    q->bx0 = q->cx - ext;
    q->bx1 = q->cx + ext;
    q->by0 = q->cy - ext;
    q->by1 = q->cy + ext;
}

static float len2(float x, float y) { return sqrtf(x * x + y * y); }

/* Approximate signed distance to an ellipse (Inigo Quilez's gradient-normalised form). */
static float sd_ellipse(float x, float y, float rx, float ry)
{
    float k0 = len2(x / rx, y / ry);
    float k1 = len2(x / (rx * rx), y / (ry * ry));
    if (k1 < 1e-12f) return -fminf(rx, ry);
    return k0 * (k0 - 1.0f) / k1;
}

static float sd_box(float x, float y, float hx, float hy, float r)
{
    float qx = fabsf(x) - hx + r, qy = fabsf(y) - hy + r;
    return len2(fmaxf(qx, 0.0f), fmaxf(qy, 0.0f)) + fminf(fmaxf(qx, qy), 0.0f) - r;
}

float fcl_synth_sd_prim(const prim *q, float x, float y)
{
    float dx = x - q->cx, dy = y - q->cy;
    float lx = (q->ca * dx + q->sa * dy) / q->xs;
    float ly = -q->sa * dx + q->ca * dy;
    float d;
    switch (q->kind) {
    case P_ELLIPSE: {
        float rx = q->p[0];
        if (ly > 0.0f && q->p[4] != 1.0f) rx *= 1.0f - (1.0f - q->p[4]) * fminf(ly / q->p[1], 1.0f);
        d = sd_ellipse(lx, ly, rx, q->p[1]);
        if (q->p[2] > 0.0f) d += q->p[2] * sinf(q->p[3] * atan2f(ly, lx));
        break;
    }
    case P_RING:
        d = fabsf(sd_ellipse(lx, ly, q->p[0], q->p[1])) - q->p[2];
        break;
    case P_CURVE: {
        float L = q->p[0], k = q->p[1];
        float cxl = clampf(lx, -L, L);
        float fy = k * (cxl * cxl / L - 0.5f * L);
        float slope = 2.0f * k * cxl / L;
        float ex = fabsf(lx) - L;
        float ey = (ly - fy) / sqrtf(1.0f + slope * slope);
        float t = q->p[2] * (1.0f - q->p[3] * (cxl / L) * (cxl / L));
        d = len2(fmaxf(ex, 0.0f), ey) - t;
        break;
    }
    case P_BOX:
        d = sd_box(lx, ly, q->p[0], q->p[1], q->p[2]);
        break;
    case P_BOXRING:
        d = fabsf(sd_box(lx, ly, q->p[0], q->p[1], q->p[2])) - q->p[3];
        break;
    default: { /* P_HAIRLINE */
        float ax = fabsf(lx), over = fmaxf(ax - q->p[3], 0.0f);
        float h = q->p[0] * lx * lx + q->p[1] * lx - q->p[2] * ax + q->p[4] * over * over;
        float slope = 2.0f * q->p[0] * lx + q->p[1] - q->p[2] * (lx < 0 ? -1.0f : 1.0f) +
                      2.0f * q->p[4] * over * (lx < 0 ? -1.0f : 1.0f);
        d = (ly - h) / sqrtf(1.0f + slope * slope);
        break;
    }
    }
    return q->xs < 1.0f ? d * q->xs : d;
}


/* ---- scene construction --------------------------------------------------------------------- */

/* Where a face point lands after yaw: the point sits on an ellipsoid of depth rz (plus
 * `bump` for the nose), rotated about the vertical axis. */
typedef struct pose {
    float sy, cy, rx, ry, rz;
} pose;

static float yaw_x(const pose *P, float x0, float y0, float bump)
{
    float u = x0 / P->rx, w = y0 / P->ry;
    float z = P->rz * sqrtf(fmaxf(0.0f, 1.0f - u * u - w * w)) + bump;
    return x0 * P->cy + z * P->sy;
}

/* How much a feature at x0 is squeezed horizontally by the yaw (far side narrower). */
static float yaw_squeeze(const pose *P, float x0)
{
    float th = asinf(clampf(0.9f * x0 / P->rx, -0.95f, 0.95f));
    return clampf(cosf(th + asinf(P->sy)) / cosf(th), 0.2f, 1.2f);
}

static void scale3(float *d, const float *s, float k)
{
    for (int i = 0; i < 3; i++) d[i] = clampf(s[i] * k, 0.0f, 1.0f);
}

void fcl_synth_build_scene(scene *S, const fcl_synth_identity *id, const fcl_synth_variation *v,
                           float *head_rx, float *head_ry, float *head_cx)
{
    pose P = {sinf(v->yaw), cosf(v->yaw), id->face_rx, id->face_ry, 0.85f * id->face_rx};
    float rx = id->face_rx, ry = id->face_ry;
    float rxo = sqrtf(rx * rx * P.cy * P.cy + P.rz * P.rz * P.sy * P.sy); /* outline half width */
    float skin_dark[3], skin_shadow[3], c[3];
    scale3(skin_dark, id->skin, 0.86f);
    scale3(skin_shadow, id->skin, 0.7f);
    S->n = 0;
    S->overflow = 0;

    /* Background clutter (image space). */
    for (int i = 0; i < v->n_clutter && i < 3; i++) {
        prim *q = add(S, P_ELLIPSE, v->clutter[i][0], v->clutter[i][1], v->bg2, 0.7f);
        q->image_space = 1;
        q->p[0] = v->clutter[i][2];
        q->p[1] = v->clutter[i][3];
        q->soft = 0.05f;
        bound(q, fmaxf(q->p[0], q->p[1]) + 0.1f);
    }

    float hair_top_vol = id->hair_volume;
    int style = id->hair_style;
    if (style == 5) hair_top_vol = 0.025f;
    if (style == 6) hair_top_vol = 0.22f + id->hair_volume;
    if (style == 7) hair_top_vol = 0.02f;

    /* Long hair falls behind the neck and shoulders. */
    if (style == 3 || style == 6) {
        prim *back = add(S, P_ELLIPSE, 0.0f, style == 3 ? 0.25f : 0.05f, id->hair, 1.0f);
        back->p[0] = rxo + hair_top_vol + (style == 3 ? 0.14f : 0.1f);
        back->p[1] = ry * (style == 3 ? 1.25f : 1.05f) + hair_top_vol;
        if (style == 6) {
            back->p[2] = 0.035f;
            back->p[3] = 15.0f;
        }
        bound(back, fmaxf(back->p[0], back->p[1]) + 0.1f);
    }

    /* Neck and shirt (the torso does not turn with the head). */
    prim *neck = add(S, P_BOX, 0.0f, 1.0f, skin_dark, 1.0f);
    neck->p[0] = 0.42f * rx / 0.75f;
    neck->p[1] = 0.6f;
    neck->p[2] = 0.1f;
    bound(neck, 0.8f);
    prim *shirt = add(S, P_ELLIPSE, 0.0f, 2.05f, v->shirt, 1.0f);
    shirt->p[0] = 1.7f;
    shirt->p[1] = 0.75f;
    bound(shirt, 1.8f);
    prim *neckline = add(S, P_ELLIPSE, 0.0f, 1.3f, NULL, 0.0f);
    neckline->visible = 0;
    neckline->p[0] = 0.3f * rx / 0.75f;
    neckline->p[1] = 0.22f;
    clip_to(shirt, idx(S, neckline), 1);

    /* Bald: a rim of hair at the back and sides of the head, showing around the face only. */
    if (style == 7) {
        prim *hair = add(S, P_ELLIPSE, 0.0f, 0.0f, id->hair, 0.9f);
        hair->p[0] = rxo + 0.06f;
        hair->p[1] = ry + 0.05f;
        bound(hair, ry + 0.15f);
        prim *band = add(S, P_BOX, 0.0f, id->eye_y - 0.02f, NULL, 0.0f);
        band->visible = 0;
        band->p[0] = 5.0f;
        band->p[1] = 0.25f;
        band->p[2] = 0.1f;
        clip_to(hair, idx(S, band), 0);
    }

    /* Ears at the sides, slightly behind the face plane. */
    for (int s = -1; s <= 1; s += 2) {
        float ex = s * rx * P.cy - 0.12f * rx * P.sy;
        prim *ear = add(S, P_ELLIPSE, ex, id->eye_y + 0.12f, id->skin, 1.0f);
        ear->p[0] = 0.1f * id->ear_size;
        ear->p[1] = 0.19f * id->ear_size;
        rotate(ear, s * 0.15f);
        bound(ear, 0.25f);
        prim *inner = add(S, P_ELLIPSE, ex + s * 0.02f, id->eye_y + 0.12f, skin_shadow, 0.5f);
        inner->p[0] = 0.045f * id->ear_size;
        inner->p[1] = 0.12f * id->ear_size;
        inner->soft = 0.02f;
        bound(inner, 0.15f);
    }

    /* The face. */
    prim *face = add(S, P_ELLIPSE, 0.0f, 0.0f, id->skin, 1.0f);
    face->p[0] = rxo;
    face->p[1] = ry;
    face->p[4] = id->jaw;
    bound(face, ry + 0.05f);
    int face_i = idx(S, face);

    /* Soft cheek shading toward the jaw (gives the lower face some shape at low resolution). */
    for (int s = -1; s <= 1; s += 2) {
        prim *cheek = add(S, P_ELLIPSE, yaw_x(&P, s * rx * 0.55f, 0.3f, 0.0f), 0.35f, skin_dark, 0.35f);
        cheek->p[0] = 0.18f;
        cheek->p[1] = 0.25f;
        cheek->soft = 0.15f;
        clip_to(cheek, face_i, 0);
        bound(cheek, 0.45f);
    }

    for (int i = 0; i < id->n_moles; i++) {
        float mcol[3];
        scale3(mcol, id->skin, 0.45f);
        prim *m = add(S, P_ELLIPSE, yaw_x(&P, id->mole_x[i], id->mole_y[i], 0.0f), id->mole_y[i], mcol, 0.85f);
        m->p[0] = m->p[1] = id->mole_r[i];
        m->xs = yaw_squeeze(&P, id->mole_x[i]);
        clip_to(m, face_i, 0);
        bound(m, 0.05f);
    }

    /* Hair on top of the head, above the hairline. */
    float hl_cx = yaw_x(&P, 0.0f, -0.5f, 0.0f) * 0.8f;
    if (style != 7) {
        prim *hair = add(S, P_ELLIPSE, 0.0f, -0.5f * hair_top_vol, id->hair, style == 5 ? 0.55f : 1.0f);
        hair->p[0] = rxo + 0.7f * hair_top_vol + 0.01f;
        hair->p[1] = ry + 0.5f * hair_top_vol + 0.01f;
        if (style == 6) {
            hair->p[2] = 0.03f;
            hair->p[3] = 17.0f;
        }
        bound(hair, hair->p[1] + 0.1f);
        prim *line = add(S, P_HAIRLINE, hl_cx, 0.0f, NULL, 0.0f);
        line->visible = 0;
        float h0 = -0.55f, k = 0.3f, part = 0.0f, recede = 0.0f;
        switch (style) {
        case 1: h0 = -0.3f; k = 0.12f; break;
        case 2: h0 = -0.5f; part = id->hair_part; break;
        case 3: h0 = id->hair_part > 0 ? -0.34f : -0.5f; part = id->hair_part > 0 ? 0.0f : id->hair_part; k = 0.2f; break;
        case 4: h0 = -0.62f; recede = 0.45f; k = 0.2f; break;
        case 6: h0 = -0.5f; k = 0.3f; break;
        default: break;
        }
        line->cy = id->eye_y + h0 + id->hairline;
        line->p[0] = k;
        line->p[1] = part;
        line->p[2] = recede;
        line->p[3] = 0.6f * rx;
        line->p[4] = 3.5f;
        clip_to(hair, idx(S, line), 0);
    }

    /* Beards. */
    float mx = yaw_x(&P, 0.0f, id->mouth_y, 0.06f);
    float tip_y = id->eye_y + id->nose_len;
    if (id->beard == 1 || id->beard == 2) {
        prim *b = add(S, P_ELLIPSE, 0.0f, 0.02f, id->hair, id->beard == 1 ? 0.3f : 0.9f);
        b->p[0] = rxo * 1.02f;
        b->p[1] = ry * 1.05f;
        b->p[4] = id->jaw;
        bound(b, ry + 0.1f);
        prim *line = add(S, P_HAIRLINE, mx, tip_y + 0.1f, NULL, 0.0f);
        line->visible = 0;
        line->p[0] = -0.35f;
        clip_to(b, idx(S, line), 1);
    } else if (id->beard == 3) {
        float gy = id->mouth_y + 0.55f * (ry - id->mouth_y);
        prim *g = add(S, P_ELLIPSE, mx, gy, id->hair, 0.9f);
        g->p[0] = id->mouth_w * 0.7f;
        g->p[1] = 0.55f * (ry - id->mouth_y);
        g->xs = P.cy;
        clip_to(g, face_i, 0);
        bound(g, 0.4f);
    }
    if (id->beard == 2 || id->beard == 3 || id->beard == 4) {
        prim *m = add(S, P_CURVE, mx, id->mouth_y - id->lip_thick - 0.035f, id->hair, 0.92f);
        m->p[0] = id->mouth_w * 0.95f;
        m->p[1] = 0.3f;
        m->p[2] = 0.03f;
        m->p[3] = 0.5f;
        m->xs = P.cy;
        bound(m, id->mouth_w + 0.1f);
    }

    /* Eyes: socket shadow, white, iris, pupil, upper lid line. */
    float eye_h = fmaxf(id->eye_h * v->eye_open, 0.004f);
    for (int s = -1; s <= 1; s += 2) {
        float x0 = s * id->eye_dx;
        float ex = yaw_x(&P, x0, id->eye_y, 0.0f), xs = yaw_squeeze(&P, x0);
        prim *sock = add(S, P_ELLIPSE, ex, id->eye_y - 0.015f, skin_shadow, 0.45f);
        sock->p[0] = id->eye_w * 1.45f;
        sock->p[1] = id->eye_h * 1.7f + 0.04f;
        sock->xs = xs;
        sock->soft = 0.05f;
        bound(sock, 0.4f);
        float white[3] = {0.93f, 0.91f, 0.88f};
        prim *sc = add(S, P_ELLIPSE, ex, id->eye_y, white, 1.0f);
        sc->p[0] = id->eye_w;
        sc->p[1] = eye_h;
        sc->xs = xs;
        bound(sc, id->eye_w + 0.02f);
        int sc_i = idx(S, sc);
        float gaze = 0.35f * P.sy * id->eye_w;
        prim *ir = add(S, P_ELLIPSE, ex + gaze, id->eye_y, id->iris, 1.0f);
        ir->p[0] = ir->p[1] = id->eye_w * 0.52f;
        ir->xs = xs;
        clip_to(ir, sc_i, 0);
        bound(ir, id->eye_w);
        float black[3] = {0.03f, 0.03f, 0.03f};
        prim *pu = add(S, P_ELLIPSE, ex + gaze, id->eye_y, black, 1.0f);
        pu->p[0] = pu->p[1] = id->eye_w * 0.22f;
        pu->xs = xs;
        clip_to(pu, sc_i, 0);
        bound(pu, id->eye_w);
        float lash[3] = {0.1f, 0.07f, 0.06f};
        prim *lid = add(S, P_RING, ex, id->eye_y, lash, 0.9f);
        lid->p[0] = id->eye_w;
        lid->p[1] = eye_h;
        lid->p[2] = 0.013f;
        lid->xs = xs;
        bound(lid, id->eye_w + 0.05f);
        prim *upper = add(S, P_BOX, ex, id->eye_y - 1.0f + 0.3f * eye_h, NULL, 0.0f);
        upper->visible = 0;
        upper->p[0] = 1.0f;
        upper->p[1] = 1.0f;
        clip_to(lid, idx(S, upper), 0);

        /* Brow: outer end raised by brow_angle; arch bends it. */
        float bx0 = s * (id->eye_dx + 0.1f * id->eye_w);
        float by = id->eye_y - id->eye_h - id->brow_dy - v->brow_raise;
        float bcol[3];
        scale3(bcol, id->hair, 0.75f);
        prim *br = add(S, P_CURVE, yaw_x(&P, bx0, by, 0.0f), by, bcol, 0.95f);
        br->p[0] = id->brow_len;
        br->p[1] = id->brow_arch;
        br->p[2] = id->brow_thick;
        br->p[3] = 0.5f;
        br->xs = yaw_squeeze(&P, bx0);
        rotate(br, -s * id->brow_angle);
        bound(br, id->brow_len + 0.08f);
    }

    /* Nose: shadow along the side away from the light, tip highlight, nostrils. */
    float tip_x = yaw_x(&P, 0.0f, tip_y, 0.22f), base_x = yaw_x(&P, 0.0f, id->eye_y + 0.06f, 0.05f);
    float side = v->light_dir[0] > 0 ? -1.0f : 1.0f;
    {
        float x1 = base_x + side * 0.03f, y1 = id->eye_y + 0.06f;
        float x2 = tip_x + side * id->nose_w * 0.8f, y2 = tip_y - 0.04f;
        prim *sh = add(S, P_CURVE, 0.5f * (x1 + x2), 0.5f * (y1 + y2), skin_shadow, 0.45f);
        sh->p[0] = 0.5f * len2(x2 - x1, y2 - y1);
        sh->p[2] = 0.022f;
        sh->soft = 0.03f;
        rotate(sh, atan2f(y2 - y1, x2 - x1));
        bound(sh, sh->p[0] + 0.08f);
        float hi[3];
        scale3(hi, id->skin, 1.1f);
        prim *h = add(S, P_ELLIPSE, tip_x, tip_y - 0.04f, hi, 0.35f);
        h->p[0] = h->p[1] = 0.04f;
        h->soft = 0.03f;
        bound(h, 0.1f);
        prim *bot = add(S, P_CURVE, tip_x, tip_y + 0.01f, skin_shadow, 0.7f);
        bot->p[0] = id->nose_w * 1.1f;
        bot->p[1] = -0.35f;
        bot->p[2] = 0.012f;
        bot->p[3] = 0.3f;
        bot->xs = P.cy;
        bound(bot, id->nose_w * 1.2f + 0.05f);
        float dark[3];
        scale3(dark, id->skin, 0.35f);
        for (int s = -1; s <= 1; s += 2) {
            prim *n = add(S, P_ELLIPSE, tip_x + s * id->nose_w * 0.5f * P.cy, tip_y + 0.015f, dark, 0.85f);
            n->p[0] = 0.028f;
            n->p[1] = 0.016f;
            n->xs = P.cy;
            bound(n, 0.05f);
        }
    }

    /* Mouth: lips, then the line between them (or the open mouth). */
    {
        float k = -(id->mouth_curve + v->smile);
        prim *lips = add(S, P_CURVE, mx, id->mouth_y, id->lip, 0.9f);
        lips->p[0] = id->mouth_w;
        lips->p[1] = k;
        lips->p[2] = id->lip_thick + 0.5f * v->mouth_open;
        lips->p[3] = 0.6f;
        lips->xs = P.cy;
        bound(lips, id->mouth_w + 0.1f);
        if (v->mouth_open > 0.0f) {
            set3(c, 0.22f, 0.07f, 0.07f);
            prim *o = add(S, P_CURVE, mx, id->mouth_y, c, 1.0f);
            o->p[0] = id->mouth_w * 0.8f;
            o->p[1] = k;
            o->p[2] = 0.5f * v->mouth_open;
            o->p[3] = 0.8f;
            o->xs = P.cy;
            bound(o, id->mouth_w + 0.1f);
        } else {
            float line_c[3];
            scale3(line_c, id->lip, 0.45f);
            prim *l = add(S, P_CURVE, mx, id->mouth_y, line_c, 0.9f);
            l->p[0] = id->mouth_w * 0.98f;
            l->p[1] = k;
            l->p[2] = 0.007f;
            l->xs = P.cy;
            bound(l, id->mouth_w + 0.1f);
        }
    }

    /* Glasses. */
    if (v->wear_glasses && id->glasses) {
        float fw = id->glasses == 3 ? 0.02f : 0.013f;
        float lx[2];
        for (int s = -1; s <= 1; s += 2) {
            float x0 = s * id->eye_dx;
            float ex = yaw_x(&P, x0, id->eye_y, 0.08f), xs = yaw_squeeze(&P, x0);
            float gw = fmaxf(id->eye_w * 1.75f, 0.17f), gh = fmaxf(id->eye_w * 1.25f, 0.13f);
            lx[(s + 1) / 2] = ex;
            if (id->glasses == 3) {
                float lens[3] = {0.06f, 0.06f, 0.07f};
                prim *l = add(S, P_BOX, ex, id->eye_y + 0.02f, lens, 0.88f);
                l->p[0] = gw;
                l->p[1] = gh;
                l->p[2] = 0.08f;
                l->xs = xs;
                bound(l, len2(gw, gh) + 0.05f);
            }
            prim *f = add(S, id->glasses == 1 ? P_RING : P_BOXRING, ex, id->eye_y + 0.02f, id->glasses_col, 1.0f);
            f->p[0] = gw;
            f->p[1] = gh;
            if (id->glasses == 1) {
                f->p[2] = fw;
            } else {
                f->p[2] = 0.04f;
                f->p[3] = fw;
            }
            f->xs = xs;
            bound(f, len2(gw, gh) + 0.05f);
            /* Temple arm toward the ear. */
            float ax0 = ex + s * gw * xs, ax1 = s * rxo * 1.0f;
            if (s * (ax1 - ax0) > 0.01f) {
                prim *arm = add(S, P_CURVE, 0.5f * (ax0 + ax1), id->eye_y - 0.02f, id->glasses_col, 1.0f);
                arm->p[0] = 0.5f * fabsf(ax1 - ax0);
                arm->p[2] = fw * 0.8f;
                bound(arm, arm->p[0] + 0.05f);
            }
        }
        prim *bridge = add(S, P_CURVE, 0.5f * (lx[0] + lx[1]), id->eye_y - 0.02f, id->glasses_col, 1.0f);
        bridge->p[0] = fmaxf(0.5f * (lx[1] - lx[0]) - fmaxf(id->eye_w * 1.75f, 0.17f) * P.cy, 0.02f);
        bridge->p[1] = 0.4f;
        bridge->p[2] = fw;
        bound(bridge, 0.3f);
    }

    /* Occluders in front of everything. */
    if (v->occluder == 1) {
        prim *o = add(S, P_BOX, v->occ_x, v->occ_y, v->occ_col, 1.0f);
        o->p[0] = 0.5f * v->occ_w;
        o->p[1] = 0.5f * v->occ_h;
        o->p[2] = 0.03f;
        rotate(o, v->occ_angle);
        bound(o, 0.5f * (v->occ_w + v->occ_h) + 0.05f);
    } else if (v->occluder == 2) {
        /* A hand: palm plus four fingers and a thumb, in the identity's skin. */
        float hand[3];
        scale3(hand, id->skin, 0.97f);
        float pw = 0.16f + 0.1f * v->occ_w, ph = 0.2f + 0.1f * v->occ_h;
        float ca = cosf(v->occ_angle), sa = sinf(v->occ_angle);
        prim *palm = add(S, P_ELLIPSE, v->occ_x, v->occ_y, hand, 1.0f);
        palm->p[0] = pw;
        palm->p[1] = ph;
        rotate(palm, v->occ_angle);
        bound(palm, fmaxf(pw, ph) + 0.05f);
        for (int f = 0; f < 4; f++) {
            float off = (f - 1.5f) * pw * 0.5f, flen = 0.13f + 0.04f * (f == 1 || f == 2);
            /* Finger base on the top of the palm, pointing "up" in the hand's frame. */
            float bx = off, byl = -ph * 0.8f - flen;
            float fx = v->occ_x + ca * bx - sa * byl, fy = v->occ_y + sa * bx + ca * byl;
            prim *fg = add(S, P_CURVE, fx, fy, hand, 1.0f);
            fg->p[0] = flen;
            fg->p[2] = 0.045f;
            fg->p[3] = 0.1f;
            rotate(fg, v->occ_angle + 0.5f * PI_F + 0.08f * (f - 1.5f));
            bound(fg, flen + 0.06f);
        }
        float tbx = pw * 1.0f, tby = -ph * 0.1f;
        prim *th = add(S, P_CURVE, v->occ_x + ca * tbx - sa * tby, v->occ_y + sa * tbx + ca * tby, hand, 1.0f);
        th->p[0] = 0.1f;
        th->p[2] = 0.05f;
        rotate(th, v->occ_angle - 0.5f);
        bound(th, 0.17f);
    }

    /* A prim stretched horizontally (xs > 1, the near side under yaw) needs a wider box. */
    for (int i = 0; i < S->n; i++) {
        prim *q = &S->p[i];
        if (q->xs > 1.0f && q->bx1 < 1e29f) {
            float mid = 0.5f * (q->bx0 + q->bx1), h = 0.5f * (q->bx1 - q->bx0) * q->xs;
            q->bx0 = mid - h;
            q->bx1 = mid + h;
        }
    }

    *head_rx = rxo + 0.5f * hair_top_vol;
    *head_ry = ry + 0.3f * hair_top_vol;
    *head_cx = 0.0f;
}

