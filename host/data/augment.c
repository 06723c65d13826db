/* host/data/augment.c: augmentations on CHW float images (torchvision semantics) and the pipeline parser. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "facecl/augment.h"

/* ---- helpers ------------------------------------------------------------------------------- */

static float clamp01(float v) { return v < 0.0f ? 0.0f : (v > 1.0f ? 1.0f : v); }

static float uniform(fcl_rng *r, float lo, float hi) { return lo + (hi - lo) * fcl_rng_uniform(r); }

/* Uniform integer in [lo, hi] (hi >= lo). */
static int rand_int(fcl_rng *r, int lo, int hi)
{
    uint64_t n = (uint64_t)((int64_t)hi - (int64_t)lo + 1);
    return lo + (int)(fcl_rng_next(r) % n);
}

static size_t plane_of(const fcl_image *img) { return (size_t)img->h * (size_t)img->w; }

static fcl_status check_image(const fcl_image *img, const char *op, fcl_error *err)
{
    if (!img || !img->data || img->c < 1 || img->h < 1 || img->w < 1)
        return FCL_ERR(err, FCL_ERR_INVALID_ARG, "%s: empty or NULL image", op);
    return FCL_OK;
}

/* Luminance of pixel i of a 1- or 3-channel image (torchvision rgb_to_grayscale weights). */
static float gray_at(const fcl_image *img, size_t i)
{
    if (img->c < 3) return img->data[i];
    size_t p = plane_of(img);
    return 0.2989f * img->data[i] + 0.587f * img->data[p + i] + 0.114f * img->data[2 * p + i];
}

/* ---- geometry ------------------------------------------------------------------------------ */

void fcl_aug_hflip(fcl_image *img)
{
    if (!img || !img->data) return;
    for (int c = 0; c < img->c; c++)
        for (int y = 0; y < img->h; y++) {
            float *row = img->data + ((size_t)c * (size_t)img->h + (size_t)y) * (size_t)img->w;
            for (int a = 0, b = img->w - 1; a < b; a++, b--) {
                float t = row[a];
                row[a] = row[b];
                row[b] = t;
            }
        }
}

fcl_status fcl_aug_crop(const fcl_image *src, int top, int left, int h, int w, fcl_image *out,
                        fcl_error *err)
{
    fcl_status st;
    if ((st = check_image(src, "fcl_aug_crop", err))) return st;
    if (h < 1 || w < 1 || top < 0 || left < 0 || top > src->h - h || left > src->w - w)
        return FCL_ERR(err, FCL_ERR_INVALID_ARG, "fcl_aug_crop: window %dx%d at (%d, %d) is not inside a %dx%d image",
                       h, w, top, left, src->h, src->w);
    if ((st = fcl_image_alloc(out, src->c, h, w, err))) return st;
    for (int c = 0; c < src->c; c++)
        for (int y = 0; y < h; y++)
            memcpy(out->data + ((size_t)c * (size_t)h + (size_t)y) * (size_t)w,
                   src->data + ((size_t)c * (size_t)src->h + (size_t)(y + top)) * (size_t)src->w + (size_t)left,
                   (size_t)w * sizeof(float));
    return FCL_OK;
}

/* Source coordinate of padded coordinate i (in [-pad, n + pad)), or -1 for zero padding. */
static int pad_index(int i, int n, fcl_pad_mode mode)
{
    if (i >= 0 && i < n) return i;
    if (mode == FCL_PAD_ZERO) return -1;
    /* reflect: -1 -> 1, n -> n - 2 (pad < n guarantees one reflection suffices) */
    return i < 0 ? -i : 2 * n - 2 - i;
}

fcl_status fcl_aug_pad_crop(const fcl_image *src, int pad, fcl_pad_mode mode, int top, int left,
                            fcl_image *out, fcl_error *err)
{
    fcl_status st;
    if ((st = check_image(src, "fcl_aug_pad_crop", err))) return st;
    if (pad < 0 || top < 0 || left < 0 || top > 2 * pad || left > 2 * pad)
        return FCL_ERR(err, FCL_ERR_INVALID_ARG, "fcl_aug_pad_crop: offset (%d, %d) outside [0, %d] for padding %d",
                       top, left, 2 * pad, pad);
    if (mode != FCL_PAD_ZERO && mode != FCL_PAD_REFLECT)
        return FCL_ERR(err, FCL_ERR_INVALID_ARG, "fcl_aug_pad_crop: unknown padding mode %d", (int)mode);
    if (mode == FCL_PAD_REFLECT && (pad >= src->h || pad >= src->w))
        return FCL_ERR(err, FCL_ERR_INVALID_ARG, "fcl_aug_pad_crop: reflect padding %d needs an image larger than that (%dx%d)",
                       pad, src->h, src->w);
    if ((st = fcl_image_alloc(out, src->c, src->h, src->w, err))) return st;
    for (int c = 0; c < src->c; c++)
        for (int y = 0; y < src->h; y++) {
            int sy = pad_index(y + top - pad, src->h, mode);
            float *o = out->data + ((size_t)c * (size_t)src->h + (size_t)y) * (size_t)src->w;
            const float *s = sy < 0 ? NULL : src->data + ((size_t)c * (size_t)src->h + (size_t)sy) * (size_t)src->w;
            for (int x = 0; x < src->w; x++) {
                int sx = pad_index(x + left - pad, src->w, mode);
                o[x] = (s && sx >= 0) ? s[sx] : 0.0f;
            }
        }
    return FCL_OK;
}

fcl_status fcl_aug_random_pad_crop(const fcl_image *src, int pad, fcl_pad_mode mode, fcl_rng *rng,
                                   fcl_image *out, fcl_error *err)
{
    if (pad < 0) return FCL_ERR(err, FCL_ERR_INVALID_ARG, "fcl_aug_random_pad_crop: negative padding %d", pad);
    int top = rand_int(rng, 0, 2 * pad), left = rand_int(rng, 0, 2 * pad);
    return fcl_aug_pad_crop(src, pad, mode, top, left, out, err);
}

fcl_status fcl_aug_random_resized_crop(const fcl_image *src, int out_h, int out_w, const float scale[2],
                                       const float ratio[2], fcl_rng *rng, fcl_image *out, int box[4],
                                       fcl_error *err)
{
    fcl_status st;
    fcl_image crop = {0, 0, 0, NULL};
    if ((st = check_image(src, "fcl_aug_random_resized_crop", err))) return st;
    if (out_h < 1 || out_w < 1 || !(scale[0] > 0.0f && scale[0] <= scale[1]) || !(ratio[0] > 0.0f && ratio[0] <= ratio[1]))
        return FCL_ERR(err, FCL_ERR_INVALID_ARG,
                       "fcl_aug_random_resized_crop: need out size > 0, 0 < scale[0] <= scale[1], 0 < ratio[0] <= ratio[1]");
    const int H = src->h, W = src->w;
    const double area = (double)H * (double)W;
    const double lr0 = log((double)ratio[0]), lr1 = log((double)ratio[1]);
    int top = -1, left = 0, h = 0, w = 0;
    for (int attempt = 0; attempt < 10; attempt++) {
        double target = area * (double)uniform(rng, scale[0], scale[1]);
        double aspect = exp(lr0 + (lr1 - lr0) * (double)fcl_rng_uniform(rng));
        int ww = (int)lround(sqrt(target * aspect)), hh = (int)lround(sqrt(target / aspect));
        if (ww > 0 && ww <= W && hh > 0 && hh <= H) {
            h = hh;
            w = ww;
            top = rand_int(rng, 0, H - h);
            left = rand_int(rng, 0, W - w);
            break;
        }
    }
    if (top < 0) { /* fallback: central crop of the whole image, aspect clamped to the range */
        double in_ratio = (double)W / (double)H;
        if (in_ratio < (double)ratio[0]) {
            w = W;
            h = (int)lround((double)w / (double)ratio[0]);
        } else if (in_ratio > (double)ratio[1]) {
            h = H;
            w = (int)lround((double)h * (double)ratio[1]);
        } else {
            w = W;
            h = H;
        }
        if (h < 1) h = 1;
        if (w < 1) w = 1;
        if (h > H) h = H;
        if (w > W) w = W;
        top = (H - h) / 2;
        left = (W - w) / 2;
    }
    if (box) {
        box[0] = top;
        box[1] = left;
        box[2] = h;
        box[3] = w;
    }
    if ((st = fcl_aug_crop(src, top, left, h, w, &crop, err))) return st;
    st = fcl_image_resize(&crop, out_h, out_w, out, err);
    fcl_image_free(&crop);
    return st;
}

fcl_status fcl_aug_rotate(const fcl_image *src, float degrees, fcl_image *out, fcl_error *err)
{
    fcl_status st;
    if ((st = check_image(src, "fcl_aug_rotate", err))) return st;
    if (!isfinite(degrees)) return FCL_ERR(err, FCL_ERR_INVALID_ARG, "fcl_aug_rotate: angle is not finite");
    if ((st = fcl_image_alloc(out, src->c, src->h, src->w, err))) return st;
    const double a = (double)degrees * 3.14159265358979323846 / 180.0;
    const float ca = (float)cos(a), sa = (float)sin(a);
    const float cx = 0.5f * (float)(src->w - 1), cy = 0.5f * (float)(src->h - 1);
    const int H = src->h, W = src->w;
    const size_t P = plane_of(src);
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            /* Counter-clockwise on screen (y down): output (u, v) samples source R^-1 (u, v). */
            float u = (float)x - cx, v = (float)y - cy;
            float sx = ca * u - sa * v + cx, sy = sa * u + ca * v + cy;
            float fx = floorf(sx), fy = floorf(sy);
            int x0 = (int)fx, y0 = (int)fy;
            float wx = sx - fx, wy = sy - fy;
            /* Snap to exact pixel positions so rotations by multiples of 90 degrees are exact. */
            if (fabsf(wx) < 1e-4f) wx = 0.0f;
            if (fabsf(wy) < 1e-4f) wy = 0.0f;
            if (wx > 1.0f - 1e-4f) { x0++; wx = 0.0f; }
            if (wy > 1.0f - 1e-4f) { y0++; wy = 0.0f; }
            float w00 = (1 - wx) * (1 - wy), w01 = wx * (1 - wy), w10 = (1 - wx) * wy, w11 = wx * wy;
            int in00 = x0 >= 0 && x0 < W && y0 >= 0 && y0 < H;
            int in01 = x0 + 1 >= 0 && x0 + 1 < W && y0 >= 0 && y0 < H;
            int in10 = x0 >= 0 && x0 < W && y0 + 1 >= 0 && y0 + 1 < H;
            int in11 = x0 + 1 >= 0 && x0 + 1 < W && y0 + 1 >= 0 && y0 + 1 < H;
            size_t o = (size_t)y * (size_t)W + (size_t)x;
            for (int c = 0; c < src->c; c++) {
                const float *s = src->data + (size_t)c * P;
                float acc = 0.0f;
                if (in00 && w00 != 0.0f) acc += w00 * s[(size_t)y0 * (size_t)W + (size_t)x0];
                if (in01 && w01 != 0.0f) acc += w01 * s[(size_t)y0 * (size_t)W + (size_t)x0 + 1];
                if (in10 && w10 != 0.0f) acc += w10 * s[(size_t)(y0 + 1) * (size_t)W + (size_t)x0];
                if (in11 && w11 != 0.0f) acc += w11 * s[(size_t)(y0 + 1) * (size_t)W + (size_t)x0 + 1];
                out->data[(size_t)c * P + o] = acc;
            }
        }
    return FCL_OK;
}

/* ---- colour -------------------------------------------------------------------------------- */

void fcl_aug_brightness(fcl_image *img, float f)
{
    if (!img || !img->data) return;
    size_t n = plane_of(img) * (size_t)img->c;
    for (size_t i = 0; i < n; i++) img->data[i] = clamp01(img->data[i] * f);
}

void fcl_aug_contrast(fcl_image *img, float f)
{
    if (!img || !img->data) return;
    size_t P = plane_of(img), n = P * (size_t)img->c;
    double sum = 0.0;
    for (size_t i = 0; i < P; i++) sum += (double)gray_at(img, i);
    float mean = (float)(sum / (double)P);
    for (size_t i = 0; i < n; i++) img->data[i] = clamp01(f * img->data[i] + (1.0f - f) * mean);
}

void fcl_aug_saturation(fcl_image *img, float f)
{
    if (!img || !img->data || img->c != 3) return;
    size_t P = plane_of(img);
    for (size_t i = 0; i < P; i++) {
        float g = gray_at(img, i);
        for (int c = 0; c < 3; c++) {
            float *p = &img->data[(size_t)c * P + i];
            *p = clamp01(f * *p + (1.0f - f) * g);
        }
    }
}

void fcl_aug_color_jitter(fcl_image *img, float brightness, float contrast, float saturation,
                          fcl_rng *rng)
{
    const float v[3] = {brightness, contrast, saturation};
    float f[3];
    int order[3] = {0, 1, 2};
    /* torchvision: a random permutation of the adjustments, then each factor. */
    for (int i = 2; i > 0; i--) {
        int j = rand_int(rng, 0, i);
        int t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    for (int i = 0; i < 3; i++) f[i] = v[i] > 0.0f ? uniform(rng, fmaxf(0.0f, 1.0f - v[i]), 1.0f + v[i]) : 1.0f;
    for (int i = 0; i < 3; i++) {
        int k = order[i];
        if (v[k] <= 0.0f) continue;
        if (k == 0) fcl_aug_brightness(img, f[0]);
        else if (k == 1) fcl_aug_contrast(img, f[1]);
        else fcl_aug_saturation(img, f[2]);
    }
}

void fcl_aug_grayscale(fcl_image *img)
{
    if (!img || !img->data || img->c != 3) return;
    size_t P = plane_of(img);
    for (size_t i = 0; i < P; i++) {
        float g = gray_at(img, i);
        img->data[i] = img->data[P + i] = img->data[2 * P + i] = g;
    }
}

int fcl_aug_random_erase(fcl_image *img, float p, const float scale[2], const float ratio[2],
                         float value, int random_value, fcl_rng *rng, int box[4])
{
    if (!img || !img->data) return 0;
    if (!(fcl_rng_uniform(rng) < p)) return 0;
    const int H = img->h, W = img->w;
    const double area = (double)H * (double)W;
    const double lr0 = log((double)ratio[0]), lr1 = log((double)ratio[1]);
    for (int attempt = 0; attempt < 10; attempt++) {
        double target = area * (double)uniform(rng, scale[0], scale[1]);
        double aspect = exp(lr0 + (lr1 - lr0) * (double)fcl_rng_uniform(rng));
        int h = (int)lround(sqrt(target * aspect)), w = (int)lround(sqrt(target / aspect));
        if (!(h < H && w < W) || h < 1 || w < 1) continue;
        int top = rand_int(rng, 0, H - h), left = rand_int(rng, 0, W - w);
        for (int c = 0; c < img->c; c++)
            for (int y = top; y < top + h; y++) {
                float *row = img->data + ((size_t)c * (size_t)H + (size_t)y) * (size_t)W;
                for (int x = left; x < left + w; x++) row[x] = random_value ? fcl_rng_normal(rng) : value;
            }
        if (box) {
            box[0] = top;
            box[1] = left;
            box[2] = h;
            box[3] = w;
        }
        return 1;
    }
    return 0;
}

fcl_status fcl_aug_normalize(fcl_image *img, const float *mean, const float *std, fcl_error *err)
{
    fcl_status st;
    if ((st = check_image(img, "fcl_aug_normalize", err))) return st;
    for (int c = 0; c < img->c; c++)
        if (!(std[c] > 0.0f) || !isfinite(mean[c]))
            return FCL_ERR(err, FCL_ERR_INVALID_ARG, "fcl_aug_normalize: channel %d has std %g, mean %g (std must be > 0)",
                           c, (double)std[c], (double)mean[c]);
    size_t P = plane_of(img);
    for (int c = 0; c < img->c; c++) {
        float *d = img->data + (size_t)c * P;
        for (size_t i = 0; i < P; i++) d[i] = (d[i] - mean[c]) / std[c];
    }
    return FCL_OK;
}

/* ---- pipelines ----------------------------------------------------------------------------- */

/* Splits "a:b:c" into up to `max` floats; returns the count, or -1 on a bad number. */
static int parse_floats(const char *s, float *v, int max)
{
    int n = 0;
    while (*s) {
        if (n == max) return -1;
        char *end = NULL;
        errno = 0;
        double d = strtod(s, &end);
        if (end == s || errno || !isfinite(d) || (*end && *end != ':')) return -1;
        v[n++] = (float)d;
        s = *end ? end + 1 : end;
        if (*end == ':' && !*s) return -1;
    }
    return n;
}

/* Parses one token "name" or "name=args" into *st. */
static fcl_status parse_step(const char *tok, fcl_aug_step *st, fcl_error *err)
{
    char name[32];
    const char *eq = strchr(tok, '=');
    size_t nl = eq ? (size_t)(eq - tok) : strlen(tok);
    const char *args = eq ? eq + 1 : NULL;
    float v[6];
    int n = 0;
    if (nl == 0 || nl >= sizeof name)
        return FCL_ERR(err, FCL_ERR_INVALID_ARG, "augmentation '%s': expected NAME or NAME=VALUES", tok);
    memcpy(name, tok, nl);
    name[nl] = '\0';
    if (eq && !*args) return FCL_ERR(err, FCL_ERR_INVALID_ARG, "augmentation '%s': empty value after '='", tok);
    memset(st, 0, sizeof *st);
    st->p = 1.0f;

#define BAD(...) FCL_ERR(err, FCL_ERR_INVALID_ARG, __VA_ARGS__)
    if (!strcmp(name, "resize")) {
        st->kind = FCL_AUG_RESIZE;
        int h = 0, w = 0;
        char tail;
        if (args && sscanf(args, "%dx%d%c", &h, &w, &tail) == 2) {
            /* HxW */
        } else if (args && sscanf(args, "%d%c", &h, &tail) == 1) {
            w = h;
        } else {
            return BAD("augmentation '%s': expected resize=S or resize=HxW", tok);
        }
        if (h < 1 || w < 1 || h > 4096 || w > 4096)
            return BAD("augmentation '%s': sizes must be in 1..4096", tok);
        st->h = h;
        st->w = w;
        return FCL_OK;
    }
    if (args && strcmp(name, "crop") && strcmp(name, "erase")) {
        n = parse_floats(args, v, 6);
        if (n < 0) return BAD("augmentation '%s': bad number list '%s' (numbers separated by ':')", tok, args);
    }
    if (!strcmp(name, "flip") || !strcmp(name, "gray")) {
        st->kind = name[0] == 'f' ? FCL_AUG_FLIP : FCL_AUG_GRAY;
        st->p = name[0] == 'f' ? 0.5f : 0.1f;
        if (n > 1) return BAD("augmentation '%s': expected %s or %s=P", tok, name, name);
        if (n == 1) st->p = v[0];
        if (!(st->p >= 0.0f && st->p <= 1.0f)) return BAD("augmentation '%s': probability must be in [0, 1]", tok);
    } else if (!strcmp(name, "crop")) {
        st->kind = FCL_AUG_CROP;
        st->pad_mode = FCL_PAD_ZERO;
        char mode[16] = "";
        int pad = -1, used = 0;
        if (!args || sscanf(args, "%d%n", &pad, &used) != 1)
            return BAD("augmentation '%s': expected crop=PAD or crop=PAD:reflect", tok);
        if (args[used] == ':') {
            if (strlen(args + used + 1) >= sizeof mode) return BAD("augmentation '%s': unknown padding mode", tok);
            strcpy(mode, args + used + 1);
            if (!strcmp(mode, "reflect")) st->pad_mode = FCL_PAD_REFLECT;
            else if (strcmp(mode, "zero")) return BAD("augmentation '%s': padding mode must be zero or reflect", tok);
        } else if (args[used]) {
            return BAD("augmentation '%s': expected crop=PAD or crop=PAD:reflect", tok);
        }
        if (pad < 0 || pad > 1024) return BAD("augmentation '%s': padding must be in 0..1024", tok);
        st->pad = pad;
    } else if (!strcmp(name, "rrc")) {
        st->kind = FCL_AUG_RRC;
        st->scale[0] = 0.08f;
        st->scale[1] = 1.0f;
        st->ratio[0] = 3.0f / 4.0f;
        st->ratio[1] = 4.0f / 3.0f;
        if (n != 0 && n != 2 && n != 4) return BAD("augmentation '%s': expected rrc, rrc=SMIN:SMAX or rrc=SMIN:SMAX:RMIN:RMAX", tok);
        if (n >= 2) {
            st->scale[0] = v[0];
            st->scale[1] = v[1];
        }
        if (n == 4) {
            st->ratio[0] = v[2];
            st->ratio[1] = v[3];
        }
        if (!(st->scale[0] > 0.0f && st->scale[0] <= st->scale[1] && st->scale[1] <= 1.0f))
            return BAD("augmentation '%s': need 0 < SMIN <= SMAX <= 1", tok);
        if (!(st->ratio[0] > 0.0f && st->ratio[0] <= st->ratio[1]))
            return BAD("augmentation '%s': need 0 < RMIN <= RMAX", tok);
    } else if (!strcmp(name, "rotate")) {
        st->kind = FCL_AUG_ROTATE;
        if (n != 1) return BAD("augmentation '%s': expected rotate=DEGREES", tok);
        if (!(v[0] >= 0.0f && v[0] <= 180.0f)) return BAD("augmentation '%s': degrees must be in [0, 180]", tok);
        st->degrees = v[0];
    } else if (!strcmp(name, "jitter")) {
        st->kind = FCL_AUG_JITTER;
        if (n == 1) v[1] = v[2] = v[0];
        else if (n != 3) return BAD("augmentation '%s': expected jitter=V or jitter=B:C:S", tok);
        for (int i = 0; i < 3; i++) {
            if (!(v[i] >= 0.0f && v[i] <= 10.0f)) return BAD("augmentation '%s': jitter strengths must be in [0, 10]", tok);
            st->jitter[i] = v[i];
        }
    } else if (!strcmp(name, "erase")) {
        st->kind = FCL_AUG_ERASE;
        st->p = 0.5f;
        st->scale[0] = 0.02f;
        st->scale[1] = 0.33f;
        st->ratio[0] = 0.3f;
        st->ratio[1] = 3.3f;
        if (args) {
            char buf[64];
            if (strlen(args) >= sizeof buf) return BAD("augmentation '%s': value too long", tok);
            strcpy(buf, args);
            char *colon = strchr(buf, ':');
            if (colon) *colon = '\0';
            if (parse_floats(buf, v, 1) != 1) return BAD("augmentation '%s': expected erase=P[:random|:VALUE]", tok);
            st->p = v[0];
            if (colon) {
                if (!strcmp(colon + 1, "random")) st->random_value = 1;
                else if (parse_floats(colon + 1, v, 1) == 1) st->value = v[0];
                else return BAD("augmentation '%s': fill must be 'random' or a number", tok);
            }
        }
        if (!(st->p >= 0.0f && st->p <= 1.0f)) return BAD("augmentation '%s': probability must be in [0, 1]", tok);
    } else if (!strcmp(name, "norm")) {
        st->kind = FCL_AUG_NORM;
        if (n == 2) {
            st->n_norm = 1;
            st->mean[0] = st->mean[1] = st->mean[2] = v[0];
            st->std[0] = st->std[1] = st->std[2] = v[1];
        } else if (n == 6) {
            st->n_norm = 3;
            for (int i = 0; i < 3; i++) {
                st->mean[i] = v[i];
                st->std[i] = v[3 + i];
            }
        } else {
            return BAD("augmentation '%s': expected norm=MEAN:STD or norm=M1:M2:M3:S1:S2:S3", tok);
        }
        for (int i = 0; i < 3; i++)
            if (!(st->std[i] > 0.0f)) return BAD("augmentation '%s': std must be > 0", tok);
    } else {
        return BAD("unknown augmentation '%s' (known: resize, rrc, crop, flip, rotate, jitter, gray, erase, norm)", name);
    }
#undef BAD
    return FCL_OK;
}

fcl_status fcl_aug_parse(const char *spec, fcl_aug_pipeline *out, fcl_error *err)
{
    fcl_status st = FCL_OK;
    if (!out) return FCL_ERR(err, FCL_ERR_INVALID_ARG, "fcl_aug_parse: NULL output");
    memset(out, 0, sizeof *out);
    if (!spec) return FCL_OK;
    size_t len = strlen(spec);
    char *buf = malloc(len + 1);
    if (!buf) return FCL_ERR(err, FCL_ERR_NOMEM, "fcl_aug_parse: out of memory");
    /* Drop whitespace so "flip, crop=4" works. */
    size_t k = 0;
    for (size_t i = 0; i < len; i++)
        if (!isspace((unsigned char)spec[i])) buf[k++] = spec[i];
    buf[k] = '\0';
    if (!strcmp(buf, "") || !strcmp(buf, "none")) goto done;
    char *save = NULL;
    if (buf[0] == ',' || buf[k - 1] == ',' || strstr(buf, ",,")) {
        st = FCL_ERR(err, FCL_ERR_INVALID_ARG, "augmentations '%s': empty item in the list", spec);
        goto done;
    }
    for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (out->n >= FCL_AUG_MAX_STEPS) {
            st = FCL_ERR(err, FCL_ERR_INVALID_ARG, "augmentations '%s': more than %d steps", spec, FCL_AUG_MAX_STEPS);
            goto done;
        }
        if ((st = parse_step(tok, &out->steps[out->n], err))) goto done;
        out->n++;
    }
done:
    free(buf);
    if (st) memset(out, 0, sizeof *out);
    return st;
}

/* Shortest "%g" text that reads back as the same float. */
static void fmt_float(char *b, size_t n, float v)
{
    for (int prec = 6; prec <= 9; prec++) {
        snprintf(b, n, "%.*g", prec, (double)v);
        if (strtof(b, NULL) == v) return;
    }
}

void fcl_aug_format(const fcl_aug_pipeline *p, char *buf, size_t len)
{
    size_t used = 0;
    if (!buf || len == 0) return;
    buf[0] = '\0';
    if (!p || p->n == 0) {
        snprintf(buf, len, "none");
        return;
    }
    for (int i = 0; i < p->n; i++) {
        const fcl_aug_step *s = &p->steps[i];
        char t[256], a[6][24];
        switch (s->kind) {
        case FCL_AUG_RESIZE: snprintf(t, sizeof t, "resize=%dx%d", s->h, s->w); break;
        case FCL_AUG_RRC:
            fmt_float(a[0], 24, s->scale[0]);
            fmt_float(a[1], 24, s->scale[1]);
            fmt_float(a[2], 24, s->ratio[0]);
            fmt_float(a[3], 24, s->ratio[1]);
            snprintf(t, sizeof t, "rrc=%s:%s:%s:%s", a[0], a[1], a[2], a[3]);
            break;
        case FCL_AUG_CROP: snprintf(t, sizeof t, "crop=%d:%s", s->pad, s->pad_mode == FCL_PAD_REFLECT ? "reflect" : "zero"); break;
        case FCL_AUG_FLIP:
        case FCL_AUG_GRAY:
            fmt_float(a[0], 24, s->p);
            snprintf(t, sizeof t, "%s=%s", s->kind == FCL_AUG_FLIP ? "flip" : "gray", a[0]);
            break;
        case FCL_AUG_ROTATE:
            fmt_float(a[0], 24, s->degrees);
            snprintf(t, sizeof t, "rotate=%s", a[0]);
            break;
        case FCL_AUG_JITTER:
            for (int k = 0; k < 3; k++) fmt_float(a[k], 24, s->jitter[k]);
            snprintf(t, sizeof t, "jitter=%s:%s:%s", a[0], a[1], a[2]);
            break;
        case FCL_AUG_ERASE:
            fmt_float(a[0], 24, s->p);
            fmt_float(a[1], 24, s->value);
            snprintf(t, sizeof t, "erase=%s:%s", a[0], s->random_value ? "random" : a[1]);
            break;
        case FCL_AUG_NORM:
            for (int k = 0; k < 3; k++) {
                fmt_float(a[k], 24, s->mean[k]);
                fmt_float(a[3 + k], 24, s->std[k]);
            }
            if (s->n_norm == 1) snprintf(t, sizeof t, "norm=%s:%s", a[0], a[3]);
            else snprintf(t, sizeof t, "norm=%s:%s:%s:%s:%s:%s", a[0], a[1], a[2], a[3], a[4], a[5]);
            break;
        default: snprintf(t, sizeof t, "?"); break;
        }
        int k = snprintf(buf + used, len - used, "%s%s", i ? "," : "", t);
        if (k < 0 || (size_t)k >= len - used) return; /* truncated; still NUL-terminated */
        used += (size_t)k;
    }
}

/* Replaces *img by *next (freeing the old pixels). */
static void replace(fcl_image *img, fcl_image *next)
{
    fcl_image_free(img);
    *img = *next;
    next->data = NULL;
}

fcl_status fcl_aug_apply(const fcl_aug_pipeline *p, fcl_image *img, fcl_rng *rng, fcl_error *err)
{
    fcl_status st;
    fcl_image next = {0, 0, 0, NULL};
    if (!p || !rng) return FCL_ERR(err, FCL_ERR_INVALID_ARG, "fcl_aug_apply: NULL pipeline or rng");
    if ((st = check_image(img, "fcl_aug_apply", err))) return st;
    for (int i = 0; i < p->n; i++) {
        const fcl_aug_step *s = &p->steps[i];
        switch (s->kind) {
        case FCL_AUG_RESIZE:
            if (img->h == s->h && img->w == s->w) break;
            if ((st = fcl_image_resize(img, s->h, s->w, &next, err))) return st;
            replace(img, &next);
            break;
        case FCL_AUG_RRC:
            if ((st = fcl_aug_random_resized_crop(img, img->h, img->w, s->scale, s->ratio, rng, &next, NULL, err)))
                return st;
            replace(img, &next);
            break;
        case FCL_AUG_CROP:
            if ((st = fcl_aug_random_pad_crop(img, s->pad, s->pad_mode, rng, &next, err))) return st;
            replace(img, &next);
            break;
        case FCL_AUG_FLIP:
            if (fcl_rng_uniform(rng) < s->p) fcl_aug_hflip(img);
            break;
        case FCL_AUG_ROTATE: {
            float deg = uniform(rng, -s->degrees, s->degrees);
            if (s->degrees <= 0.0f) break;
            if ((st = fcl_aug_rotate(img, deg, &next, err))) return st;
            replace(img, &next);
            break;
        }
        case FCL_AUG_JITTER:
            fcl_aug_color_jitter(img, s->jitter[0], s->jitter[1], s->jitter[2], rng);
            break;
        case FCL_AUG_GRAY:
            if (fcl_rng_uniform(rng) < s->p) fcl_aug_grayscale(img);
            break;
        case FCL_AUG_ERASE:
            fcl_aug_random_erase(img, s->p, s->scale, s->ratio, s->value, s->random_value, rng, NULL);
            break;
        case FCL_AUG_NORM:
            if (s->n_norm == 3 && img->c != 3)
                return FCL_ERR(err, FCL_ERR_INVALID_ARG,
                               "augmentation norm has 3 channel means/stds but the image has %d channel(s)", img->c);
            if ((st = fcl_aug_normalize(img, s->mean, s->std, err))) return st;
            break;
        default:
            return FCL_ERR(err, FCL_ERR_INVALID_ARG, "fcl_aug_apply: unknown step kind %d", (int)s->kind);
        }
    }
    return FCL_OK;
}
