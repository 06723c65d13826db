/* host/data/synth.c: synthetic faces: sampling identities and variations, and the SDF rasteriser (the scene: synth_scene.c). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "data/synth_internal.h"

/* ---- identities and variations ----------------------------------------------------------- */

void fcl_synth_identity_sample(fcl_rng *r, fcl_synth_identity *id)
{
    memset(id, 0, sizeof *id);
    id->face_ry = urand(r, 0.95f, 1.05f);
    id->face_rx = id->face_ry * urand(r, 0.66f, 0.84f);
    id->jaw = urand(r, 0.72f, 1.0f);

    /* Skin from light to dark along a natural ramp, with a little hue spread. */
    float t = powf(fcl_rng_uniform(r), 1.3f);
    set3(id->skin, mixf(0.97f, 0.36f, t), mixf(0.83f, 0.23f, t), mixf(0.72f, 0.16f, t));
    id->skin[0] = clampf(id->skin[0] + urand(r, -0.03f, 0.04f), 0, 1);
    jitter3(r, id->skin, 0.015f);

    id->eye_dx = id->face_rx * urand(r, 0.36f, 0.49f);
    id->eye_y = urand(r, -0.2f, -0.02f);
    id->eye_w = urand(r, 0.085f, 0.14f);
    id->eye_h = id->eye_w * urand(r, 0.36f, 0.58f);
    static const float iris_w[6] = {3, 3, 1.5f, 1, 1.5f, 0.7f};
    static const float iris_c[6][3] = {{0.22f, 0.13f, 0.07f}, {0.38f, 0.24f, 0.12f}, {0.45f, 0.40f, 0.20f},
                                       {0.28f, 0.45f, 0.30f}, {0.30f, 0.46f, 0.72f}, {0.50f, 0.55f, 0.60f}};
    memcpy(id->iris, iris_c[pick(r, iris_w, 6)], sizeof id->iris);
    jitter3(r, id->iris, 0.03f);

    id->brow_dy = urand(r, 0.05f, 0.13f);
    id->brow_len = id->eye_w * urand(r, 1.1f, 1.6f);
    id->brow_thick = urand(r, 0.014f, 0.042f);
    id->brow_angle = urand(r, -0.25f, 0.32f);
    id->brow_arch = urand(r, -0.1f, 0.5f);

    id->nose_len = urand(r, 0.27f, 0.42f);
    id->nose_w = urand(r, 0.065f, 0.13f);
    id->mouth_y = clampf(id->eye_y + id->nose_len + urand(r, 0.17f, 0.27f), 0.3f, 0.72f);
    id->mouth_w = urand(r, 0.16f, 0.28f);
    id->mouth_curve = urand(r, -0.25f, 0.45f);
    id->lip_thick = urand(r, 0.018f, 0.042f);
    set3(id->lip, id->skin[0] * 0.82f + 0.08f, id->skin[1] * 0.55f, id->skin[2] * 0.58f);
    jitter3(r, id->lip, 0.02f);

    static const float style_w[8] = {3, 2, 2, 2.5f, 1, 1, 1, 0.8f};
    id->hair_style = pick(r, style_w, 8);
    static const float hair_w[8] = {3, 3, 2, 1.5f, 1, 0.7f, 0.6f, 0.4f};
    static const float hair_c[8][3] = {{0.07f, 0.06f, 0.05f}, {0.19f, 0.12f, 0.07f}, {0.36f, 0.23f, 0.13f},
                                       {0.55f, 0.40f, 0.24f}, {0.86f, 0.73f, 0.46f}, {0.58f, 0.24f, 0.10f},
                                       {0.58f, 0.58f, 0.57f}, {0.88f, 0.88f, 0.86f}};
    memcpy(id->hair, hair_c[pick(r, hair_w, 8)], sizeof id->hair);
    jitter3(r, id->hair, 0.025f);
    id->hairline = urand(r, -0.08f, 0.08f);
    id->hair_volume = urand(r, 0.05f, 0.2f);
    id->hair_part = urand(r, -0.35f, 0.35f);

    if (chance(r, 0.3f)) {
        static const float gw[3] = {4, 4, 1};
        id->glasses = 1 + pick(r, gw, 3);
        static const float gc[5][3] = {{0.05f, 0.05f, 0.05f}, {0.30f, 0.18f, 0.10f}, {0.75f, 0.62f, 0.30f},
                                       {0.70f, 0.70f, 0.72f}, {0.55f, 0.10f, 0.12f}};
        memcpy(id->glasses_col, gc[(int)(fcl_rng_uniform(r) * 5.0f) % 5], sizeof id->glasses_col);
    }
    if (chance(r, 0.35f)) {
        static const float bw[4] = {1.2f, 1, 0.6f, 0.8f};
        id->beard = 1 + pick(r, bw, 4);
    }
    static const float mole_w[3] = {6, 3, 1};
    id->n_moles = pick(r, mole_w, 3);
    for (int i = 0; i < id->n_moles; i++) {
        id->mole_x[i] = urand(r, -0.6f, 0.6f) * id->face_rx;
        id->mole_y[i] = urand(r, -0.5f, 0.7f);
        id->mole_r[i] = urand(r, 0.015f, 0.03f);
    }
    id->ear_size = urand(r, 0.85f, 1.2f);
}

static void random_colour(fcl_rng *r, float smax, float vlo, float vhi, float *rgb)
{
    hsv_rgb(fcl_rng_uniform(r), urand(r, 0.0f, smax), urand(r, vlo, vhi), rgb);
}

void fcl_synth_variation_sample(fcl_rng *r, const fcl_synth_identity *id, float d,
                                fcl_synth_variation *v)
{
    d = clampf(d, 0.0f, 2.0f);
    memset(v, 0, sizeof *v);
    /* Every draw happens whatever d is, so difficulty changes ranges but not the stream. */
    v->yaw = urand(r, -0.5f, 0.5f) * d;
    v->roll = clampf(0.1f * fcl_rng_normal(r), -0.3f, 0.3f) * d;
    v->scale = 0.56f * expf(urand(r, -0.12f, 0.12f) * d);
    v->dx = urand(r, -0.07f, 0.07f) * d;
    v->dy = urand(r, -0.06f, 0.06f) * d;
    float az = urand(r, 0.0f, 2.0f * PI_F);
    float lz = mixf(1.0f, urand(r, 0.25f, 0.95f), clampf(d, 0, 1));
    float lxy = sqrtf(fmaxf(0.0f, 1.0f - lz * lz));
    set3(v->light_dir, lxy * cosf(az), lxy * sinf(az), lz);
    v->ambient = clampf(0.5f + urand(r, -0.15f, 0.15f) * d, 0.2f, 0.9f);
    v->diffuse = clampf(0.55f + urand(r, -0.2f, 0.2f) * d, 0.2f, 0.9f);
    v->exposure = expf(urand(r, -0.2f, 0.2f) * d);
    v->bg_grad = urand(r, -0.3f, 0.3f) * d;
    v->smile = 0.15f * fcl_rng_normal(r) * d;
    float open = urand(r, 0.02f, 0.06f);
    v->mouth_open = chance(r, 0.2f * d) ? open : 0.0f;
    float eo = urand(r, 0.75f, 1.15f);
    v->eye_open = chance(r, 0.05f * d) ? 0.15f : mixf(1.0f, eo, clampf(d, 0, 1));
    v->brow_raise = urand(r, -0.02f, 0.05f) * d;
    float blur = urand(r, 0.0f, 0.9f);
    v->blur = chance(r, 0.4f) ? blur * d : 0.0f;
    v->noise = urand(r, 0.0f, 0.035f) * d;
    int glasses_off = chance(r, 0.1f * d);
    v->wear_glasses = id->glasses && !glasses_off;
    int occ_on = chance(r, 0.15f * d), occ_kind = 1 + (fcl_rng_uniform(r) < 0.5f);
    v->occluder = occ_on ? occ_kind : 0;
    v->occ_x = urand(r, -0.8f, 0.8f) * id->face_rx;
    v->occ_y = urand(r, -0.3f, 0.9f);
    v->occ_w = urand(r, 0.3f, 0.7f);
    v->occ_h = urand(r, 0.25f, 0.6f);
    v->occ_angle = urand(r, -0.6f, 0.6f);
    random_colour(r, 0.7f, 0.2f, 0.95f, v->occ_col);
    random_colour(r, 0.45f, 0.3f, 0.95f, v->bg);
    random_colour(r, 0.5f, 0.2f, 0.95f, v->bg2);
    v->n_clutter = (int)(fcl_rng_uniform(r) * 4.0f * clampf(d, 0, 1));
    for (int i = 0; i < 3; i++) {
        v->clutter[i][0] = urand(r, -1.2f, 1.2f);
        v->clutter[i][1] = urand(r, -1.2f, 1.2f);
        v->clutter[i][2] = urand(r, 0.15f, 0.6f);
        v->clutter[i][3] = urand(r, 0.15f, 0.6f);
    }
    random_colour(r, 0.7f, 0.15f, 0.9f, v->shirt);
}

/* ---- rendering ----------------------------------------------------------------------------- */

/* Approximately N(0, 1): the sum of four 16-bit uniforms from one draw (Irwin-Hall), scaled to
 * unit variance. Pixel noise needs no exact tails, and this is ~10x cheaper than Box-Muller. */
static float approx_normal(fcl_rng *r)
{
    uint64_t x = fcl_rng_next(r);
    float s = (float)(x & 0xffff) + (float)((x >> 16) & 0xffff) + (float)((x >> 32) & 0xffff) + (float)(x >> 48);
    return (s * (1.0f / 65536.0f) - 2.0f) * 1.7320508f;
}

/* One pass of a separable blur with the 2r + 1 taps k: each of n_lines lines of len values
 * (line l's value e at src[l * line_step + e * step]) filtered along itself, edges clamped. */
static void blur_pass(const float *src, float *dst, int n_lines, int len, int line_step, int step,
                      const float *k, int r)
{
    for (int l = 0; l < n_lines; l++)
        for (int e = 0; e < len; e++) {
            float acc = 0.0f;
            for (int i = -r; i <= r; i++) {
                int ee = e + i < 0 ? 0 : (e + i >= len ? len - 1 : e + i);
                acc += k[i + r] * src[l * line_step + ee * step];
            }
            dst[l * line_step + e * step] = acc;
        }
}

/* Separable Gaussian blur of one plane (clamped edges), sigma in pixels: rows into tmp, then
 * columns back into a. */
static void blur_plane(float *a, float *tmp, int h, int w, float sigma)
{
    int r = (int)ceilf(2.5f * sigma);
    if (r < 1) return;
    if (r > 32) r = 32;
    float k[65], sum = 0.0f;
    for (int i = -r; i <= r; i++) sum += k[i + r] = expf(-0.5f * (float)(i * i) / (sigma * sigma));
    for (int i = 0; i <= 2 * r; i++) k[i] /= sum;
    blur_pass(a, tmp, h, w, w, 1, k, r);
    blur_pass(tmp, a, w, h, 1, w, k, r);
}

fcl_status fcl_synth_render(const fcl_synth_identity *id, const fcl_synth_variation *v, int size,
                            int channels, fcl_rng *rng, fcl_image *out, fcl_error *err)
{
    fcl_status st = FCL_OK;
    scene *S = NULL;
    float *rgb = NULL;
    if (!id || !v || !rng || !out)
        return FCL_ERR(err, FCL_ERR_INVALID_ARG, "fcl_synth_render: NULL argument");
    if (size < 8 || size > 4096)
        return FCL_ERR(err, FCL_ERR_INVALID_ARG, "fcl_synth_render: size %d out of range 8..4096", size);
    if (channels != 1 && channels != 3)
        return FCL_ERR(err, FCL_ERR_INVALID_ARG, "fcl_synth_render: channels must be 1 or 3, got %d", channels);
    out->data = NULL;
    S = malloc(sizeof *S);
    size_t plane = (size_t)size * (size_t)size;
    rgb = malloc(4 * plane * sizeof *rgb); /* 3 planes + blur scratch */
    if (!S || !rgb) {
        st = FCL_ERR(err, FCL_ERR_NOMEM, "fcl_synth_render: out of memory (%d x %d)", size, size);
        goto fail;
    }
    float hrx, hry, hcx;
    fcl_synth_build_scene(S, id, v, &hrx, &hry, &hcx);
    if (S->overflow) {
        st = FCL_ERR(err, FCL_ERR_INTERNAL, "fcl_synth_render: scene has more than %d shapes", MAX_PRIMS);
        goto fail;
    }

    const float inv = 2.0f / (float)size;
    const float scale = v->scale, cr = cosf(v->roll), sr = sinf(v->roll);
    const float pix_face = inv / scale, pix_img = inv;
    const float ocx = v->dx, ocy = v->dy + 0.03f;
    /* Light in face coordinates (the face is rolled, the light is not). */
    const float lx = cr * v->light_dir[0] + sr * v->light_dir[1];
    const float ly = -sr * v->light_dir[0] + cr * v->light_dir[1];
    const float lz = v->light_dir[2];
    const float flat = v->ambient + v->diffuse * (0.35f + 0.4f * lz);
    const float gx = v->light_dir[0], gy = v->light_dir[1];
    float sd_cache[MAX_PRIMS];
    int stamp[MAX_PRIMS], pbox[MAX_PRIMS][4], active[MAX_PRIMS];
    for (int i = 0; i < S->n; i++) stamp[i] = -1;
    /* Pixel bounding box of every drawn prim (its face-space box, widened by the AA margin,
     * mapped through the pose), so each row only visits the prims that can touch it. */
    for (int i = 0; i < S->n; i++) {
        const prim *q = &S->p[i];
        float m = (q->image_space ? pix_img : pix_face) + q->soft;
        float x0 = q->bx0 - m, x1 = q->bx1 + m, y0 = q->by0 - m, y1 = q->by1 + m;
        float lo[2] = {1e30f, 1e30f}, hi[2] = {-1e30f, -1e30f};
        for (int k = 0; k < 4; k++) {
            float fx = (k & 1) ? x1 : x0, fy = (k & 2) ? y1 : y0, X, Y;
            if (q->image_space) {
                X = fx;
                Y = fy;
            } else {
                X = ocx + scale * (cr * fx - sr * fy);
                Y = ocy + scale * (sr * fx + cr * fy);
            }
            lo[0] = X < lo[0] ? X : lo[0];
            hi[0] = X > hi[0] ? X : hi[0];
            lo[1] = Y < lo[1] ? Y : lo[1];
            hi[1] = Y > hi[1] ? Y : hi[1];
        }
        /* X = (px + 0.5) * inv - 1  <=>  px = (X + 1) / inv - 0.5 */
        for (int a = 0; a < 2; a++) {
            float l = clampf((lo[a] + 1.0f) / inv - 1.0f, -1.0f, (float)size);
            float h = clampf((hi[a] + 1.0f) / inv + 0.5f, -1.0f, (float)size);
            pbox[i][a * 2] = (int)floorf(l);
            pbox[i][a * 2 + 1] = (int)ceilf(h);
        }
    }

    for (int py = 0; py < size; py++) {
        int n_active = 0;
        for (int i = 0; i < S->n; i++)
            if (S->p[i].visible && pbox[i][2] <= py && py <= pbox[i][3]) active[n_active++] = i;
        for (int px = 0; px < size; px++) {
            const int pid = py * size + px;
            float X = ((float)px + 0.5f) * inv - 1.0f, Y = ((float)py + 0.5f) * inv - 1.0f;
            float tx = X - ocx, ty = Y - ocy;
            float fx = (cr * tx + sr * ty) / scale, fy = (-sr * tx + cr * ty) / scale;
            float g = 1.0f + v->bg_grad * (gx * X + gy * Y);
            float col[3] = {v->bg[0] * g, v->bg[1] * g, v->bg[2] * g};
            for (int t = 0; t < n_active; t++) {
                const int i = active[t];
                if (px < pbox[i][0] || px > pbox[i][1]) continue;
                const prim *q = &S->p[i];
                float x = q->image_space ? X : fx, y = q->image_space ? Y : fy;
                float m = (q->image_space ? pix_img : pix_face) + q->soft;
                float d = fcl_synth_sd_prim(q, x, y);
                for (int k = 0; k < q->nclip; k++) {
                    int j = q->clip[k];
                    if (stamp[j] != pid) {
                        sd_cache[j] = fcl_synth_sd_prim(&S->p[j], fx, fy);
                        stamp[j] = pid;
                    }
                    float c = q->clip_sub[k] ? -sd_cache[j] : sd_cache[j];
                    d = c > d ? c : d;
                }
                float a = clampf(0.5f - d / m, 0.0f, 1.0f) * q->alpha;
                if (a <= 0.0f) continue;
                for (int ch = 0; ch < 3; ch++) col[ch] += a * (q->col[ch] - col[ch]);
            }
            /* Lighting: the head is an ellipsoid lit by ambient + Lambert; the rest is flat. */
            float nx = (fx - hcx) / hrx, ny = (fy + 0.05f) / hry, r2 = nx * nx + ny * ny;
            float shade = flat;
            if (r2 < 1.0f) {
                float nz = sqrtf(1.0f - r2);
                float lam = fmaxf(0.0f, nx * lx + ny * ly + nz * lz);
                float head = v->ambient + v->diffuse * lam;
                float w = clampf((1.0f - r2) * 6.0f, 0.0f, 1.0f);
                shade = mixf(flat, head, w);
            }
            shade *= v->exposure;
            size_t o = (size_t)py * (size_t)size + (size_t)px;
            for (int ch = 0; ch < 3; ch++) rgb[ch * plane + o] = col[ch] * shade;
        }
    }

    st = fcl_image_alloc(out, channels, size, size, err);
    if (st) goto fail;
    float sigma = v->blur * (float)size / 64.0f;
    if (channels == 1) {
        for (size_t o = 0; o < plane; o++)
            out->data[o] = 0.299f * rgb[o] + 0.587f * rgb[plane + o] + 0.114f * rgb[2 * plane + o];
        if (sigma > 0.3f) blur_plane(out->data, rgb + 3 * plane, size, size, sigma);
    } else {
        for (int ch = 0; ch < 3; ch++) {
            memcpy(out->data + ch * plane, rgb + ch * plane, plane * sizeof(float));
            if (sigma > 0.3f) blur_plane(out->data + ch * plane, rgb + 3 * plane, size, size, sigma);
        }
    }
    /* Sensor noise: mostly shared between channels (luminance), a little per channel. */
    if (v->noise > 0.0f) {
        for (size_t o = 0; o < plane; o++) {
            float common = v->noise * approx_normal(rng);
            for (int ch = 0; ch < channels; ch++) {
                float n = common;
                if (channels == 3) n += 0.3f * v->noise * approx_normal(rng);
                float *p = &out->data[ch * plane + o];
                *p = clampf(*p + n, 0.0f, 1.0f);
            }
        }
    } else {
        for (size_t o = 0; o < plane * (size_t)channels; o++) out->data[o] = clampf(out->data[o], 0.0f, 1.0f);
    }
    free(S);
    free(rgb);
    return FCL_OK;

fail:
    fcl_image_free(out);
    free(S);
    free(rgb);
    return st;
}

