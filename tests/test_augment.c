/* tests/test_augment.c: invariants of every augmentation, determinism, and the pipeline parser. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <facecl/facecl.h>

static size_t numel(const fcl_image *a) { return (size_t)a->c * (size_t)a->h * (size_t)a->w; }

/* A c x h x w image with distinct values in [0, 1]. */
static fcl_image ramp(int c, int h, int w, uint64_t seed)
{
    fcl_image img = {0, 0, 0, NULL};
    fcl_error e = {0};
    cr_assert_eq(fcl_image_alloc(&img, c, h, w, &e), FCL_OK, "%s", e.msg);
    fcl_rng r;
    fcl_rng_seed(&r, seed);
    for (size_t i = 0; i < numel(&img); i++) img.data[i] = fcl_rng_uniform(&r);
    return img;
}

static fcl_image copy(const fcl_image *a)
{
    fcl_image b = {0, 0, 0, NULL};
    fcl_error e = {0};
    cr_assert_eq(fcl_image_alloc(&b, a->c, a->h, a->w, &e), FCL_OK);
    memcpy(b.data, a->data, numel(a) * sizeof(float));
    return b;
}

static int same(const fcl_image *a, const fcl_image *b)
{
    return a->c == b->c && a->h == b->h && a->w == b->w && !memcmp(a->data, b->data, numel(a) * sizeof(float));
}

static float at(const fcl_image *a, int c, int y, int x) { return a->data[((size_t)c * a->h + y) * a->w + x]; }

/* ---- geometry ------------------------------------------------------------------------------ */

Test(augment, hflip)
{
    fcl_image a = ramp(3, 5, 7, 1), b = copy(&a);
    fcl_aug_hflip(&b);
    for (int c = 0; c < 3; c++)
        for (int y = 0; y < 5; y++)
            for (int x = 0; x < 7; x++) cr_assert_eq(at(&b, c, y, x), at(&a, c, y, 6 - x));
    cr_assert(!same(&a, &b));
    fcl_aug_hflip(&b);
    cr_assert(same(&a, &b), "flip twice must be the identity");
    fcl_image_free(&a);
    fcl_image_free(&b);
}

Test(augment, crop_window_and_bounds)
{
    fcl_image a = ramp(2, 9, 8, 2), o = {0, 0, 0, NULL};
    fcl_error e = {0};
    cr_assert_eq(fcl_aug_crop(&a, 2, 3, 4, 5, &o, &e), FCL_OK, "%s", e.msg);
    cr_assert_eq(o.h, 4);
    cr_assert_eq(o.w, 5);
    for (int c = 0; c < 2; c++)
        for (int y = 0; y < 4; y++)
            for (int x = 0; x < 5; x++) cr_assert_eq(at(&o, c, y, x), at(&a, c, y + 2, x + 3));
    fcl_image_free(&o);
    cr_assert_eq(fcl_aug_crop(&a, 6, 0, 4, 5, &o, &e), FCL_ERR_INVALID_ARG);
    cr_assert_eq(fcl_aug_crop(&a, 0, -1, 4, 5, &o, &e), FCL_ERR_INVALID_ARG);
    cr_assert_eq(fcl_aug_crop(&a, 0, 0, 0, 5, &o, &e), FCL_ERR_INVALID_ARG);
    fcl_image_free(&a);
}

Test(augment, pad_crop_offsets)
{
    const int H = 6, W = 7, pad = 3;
    fcl_image a = ramp(3, H, W, 3), o = {0, 0, 0, NULL};
    fcl_error e = {0};
    /* Centre window = identity. */
    cr_assert_eq(fcl_aug_pad_crop(&a, pad, FCL_PAD_ZERO, pad, pad, &o, &e), FCL_OK, "%s", e.msg);
    cr_assert(same(&a, &o));
    fcl_image_free(&o);
    for (int mode = 0; mode < 2; mode++)
        for (int top = 0; top <= 2 * pad; top += 2)
            for (int left = 0; left <= 2 * pad; left += 3) {
                cr_assert_eq(fcl_aug_pad_crop(&a, pad, (fcl_pad_mode)mode, top, left, &o, &e), FCL_OK, "%s", e.msg);
                cr_assert_eq(o.h, H);
                cr_assert_eq(o.w, W);
                for (int c = 0; c < 3; c++)
                    for (int y = 0; y < H; y++)
                        for (int x = 0; x < W; x++) {
                            int sy = y + top - pad, sx = x + left - pad;
                            float want;
                            if (mode == FCL_PAD_ZERO) {
                                want = (sy < 0 || sy >= H || sx < 0 || sx >= W) ? 0.0f : at(&a, c, sy, sx);
                            } else {
                                int ry = sy < 0 ? -sy : (sy >= H ? 2 * H - 2 - sy : sy);
                                int rx = sx < 0 ? -sx : (sx >= W ? 2 * W - 2 - sx : sx);
                                want = at(&a, c, ry, rx);
                            }
                            cr_assert_eq(at(&o, c, y, x), want, "mode %d offset (%d,%d) pixel (%d,%d,%d)", mode, top,
                                         left, c, y, x);
                        }
                fcl_image_free(&o);
            }
    cr_assert_eq(fcl_aug_pad_crop(&a, pad, FCL_PAD_ZERO, 2 * pad + 1, 0, &o, &e), FCL_ERR_INVALID_ARG);
    cr_assert_eq(fcl_aug_pad_crop(&a, 6, FCL_PAD_REFLECT, 0, 0, &o, &e), FCL_ERR_INVALID_ARG);
    cr_assert_not_null(strstr(e.msg, "reflect"), "%s", e.msg);
    fcl_image_free(&a);
}

Test(augment, random_pad_crop_is_seeded)
{
    fcl_image a = ramp(1, 8, 8, 4);
    fcl_error e = {0};
    fcl_image first = {0, 0, 0, NULL};
    int differ = 0;
    for (uint64_t s = 0; s < 8; s++) {
        fcl_rng r1, r2;
        fcl_rng_seed(&r1, s);
        fcl_rng_seed(&r2, s);
        fcl_image o1 = {0, 0, 0, NULL}, o2 = {0, 0, 0, NULL};
        cr_assert_eq(fcl_aug_random_pad_crop(&a, 2, FCL_PAD_REFLECT, &r1, &o1, &e), FCL_OK, "%s", e.msg);
        cr_assert_eq(fcl_aug_random_pad_crop(&a, 2, FCL_PAD_REFLECT, &r2, &o2, &e), FCL_OK, "%s", e.msg);
        cr_assert(same(&o1, &o2), "same seed, different crops");
        if (s == 0) first = copy(&o1);
        else differ += !same(&first, &o1);
        fcl_image_free(&o1);
        fcl_image_free(&o2);
    }
    cr_assert_geq(differ, 4, "seeds should give different crops (%d of 7 differed)", differ);
    fcl_image_free(&first);
    fcl_image_free(&a);
}

Test(augment, rotate)
{
    const int N = 9;
    fcl_image a = ramp(2, N, N, 5), o = {0, 0, 0, NULL}, o2 = {0, 0, 0, NULL};
    fcl_error e = {0};
    cr_assert_eq(fcl_aug_rotate(&a, 0.0f, &o, &e), FCL_OK);
    cr_assert(same(&a, &o), "rotation by 0 must be the identity");
    fcl_image_free(&o);
    /* 90 degrees counter-clockwise: out(y, x) = src(x, N-1-y): the top-right corner goes top-left. */
    cr_assert_eq(fcl_aug_rotate(&a, 90.0f, &o, &e), FCL_OK);
    for (int c = 0; c < 2; c++)
        for (int y = 0; y < N; y++)
            for (int x = 0; x < N; x++)
                cr_assert_float_eq(at(&o, c, y, x), at(&a, c, x, N - 1 - y), 1e-6f, "(%d,%d,%d)", c, y, x);
    /* Four quarter turns come back. */
    for (int k = 0; k < 3; k++) {
        cr_assert_eq(fcl_aug_rotate(&o, 90.0f, &o2, &e), FCL_OK);
        fcl_image_free(&o);
        o = o2;
        o2.data = NULL;
    }
    for (size_t i = 0; i < numel(&a); i++) cr_assert_float_eq(o.data[i], a.data[i], 1e-6f);
    fcl_image_free(&o);
    /* A constant image stays constant where the rotated window is inside, and 0 in the corners. */
    for (size_t i = 0; i < numel(&a); i++) a.data[i] = 0.5f;
    cr_assert_eq(fcl_aug_rotate(&a, 30.0f, &o, &e), FCL_OK);
    cr_assert_float_eq(at(&o, 0, N / 2, N / 2), 0.5f, 1e-6f);
    cr_assert_float_eq(at(&o, 1, N / 2 + 1, N / 2 - 1), 0.5f, 1e-6f);
    cr_assert_lt(at(&o, 0, 0, 0), 0.25f, "corner %g should be mostly fill", at(&o, 0, 0, 0));
    fcl_image_free(&o);
    cr_assert_eq(fcl_aug_rotate(&a, NAN, &o, &e), FCL_ERR_INVALID_ARG);
    fcl_image_free(&a);
}

Test(augment, random_resized_crop)
{
    fcl_image a = ramp(3, 20, 30, 6), o = {0, 0, 0, NULL};
    fcl_error e = {0};
    const float scale[2] = {0.3f, 0.6f}, ratio[2] = {0.75f, 1.3333f};
    for (uint64_t s = 0; s < 20; s++) {
        fcl_rng r;
        fcl_rng_seed(&r, s);
        int box[4];
        cr_assert_eq(fcl_aug_random_resized_crop(&a, 12, 16, scale, ratio, &r, &o, box, &e), FCL_OK, "%s", e.msg);
        cr_assert_eq(o.c, 3);
        cr_assert_eq(o.h, 12);
        cr_assert_eq(o.w, 16);
        cr_assert(box[0] >= 0 && box[1] >= 0 && box[0] + box[2] <= 20 && box[1] + box[3] <= 30, "box outside");
        double frac = (double)box[2] * box[3] / 600.0, asp = (double)box[3] / box[2];
        /* Rounding of h and w moves the area a little beyond the sampled range. */
        cr_assert(frac > 0.3 * 0.8 && frac < 0.6 * 1.2, "area fraction %g", frac);
        cr_assert(asp > 0.75 * 0.8 && asp < 1.3333 * 1.25, "aspect %g", asp);
        fcl_image_free(&o);
    }
    /* Full scale and ratio 1 on a square image: the whole image. */
    fcl_image sq = ramp(1, 16, 16, 7);
    const float one[2] = {1.0f, 1.0f};
    fcl_rng r;
    fcl_rng_seed(&r, 1);
    int box[4];
    cr_assert_eq(fcl_aug_random_resized_crop(&sq, 16, 16, one, one, &r, &o, box, &e), FCL_OK);
    cr_assert(box[0] == 0 && box[1] == 0 && box[2] == 16 && box[3] == 16);
    fcl_image_free(&o);
    /* A 100 x 4 strip cannot hold a square of 90% of its area: centre crop with ratio clamped. */
    fcl_image strip = ramp(1, 100, 4, 8);
    const float big[2] = {0.9f, 1.0f};
    cr_assert_eq(fcl_aug_random_resized_crop(&strip, 8, 8, big, one, &r, &o, box, &e), FCL_OK);
    cr_assert(box[0] == 48 && box[1] == 0 && box[2] == 4 && box[3] == 4, "fallback box %d %d %d %d", box[0], box[1],
              box[2], box[3]);
    fcl_image_free(&o);
    const float bad[2] = {0.5f, 0.2f};
    cr_assert_eq(fcl_aug_random_resized_crop(&a, 8, 8, bad, ratio, &r, &o, NULL, &e), FCL_ERR_INVALID_ARG);
    fcl_image_free(&a);
    fcl_image_free(&sq);
    fcl_image_free(&strip);
}

/* ---- colour -------------------------------------------------------------------------------- */

Test(augment, colour_adjustments)
{
    fcl_image a = ramp(3, 6, 6, 9), b = copy(&a);
    size_t P = 36;
    fcl_aug_brightness(&b, 1.0f);
    fcl_aug_contrast(&b, 1.0f);
    fcl_aug_saturation(&b, 1.0f);
    cr_assert(same(&a, &b), "factors of 1 must change nothing");

    fcl_aug_brightness(&b, 0.5f);
    for (size_t i = 0; i < numel(&a); i++) cr_assert_float_eq(b.data[i], a.data[i] * 0.5f, 1e-7f);
    fcl_image_free(&b);

    /* Contrast 0: every value becomes the mean luminance. */
    b = copy(&a);
    double mean = 0;
    for (size_t i = 0; i < P; i++) mean += 0.2989 * a.data[i] + 0.587 * a.data[P + i] + 0.114 * a.data[2 * P + i];
    mean /= (double)P;
    fcl_aug_contrast(&b, 0.0f);
    for (size_t i = 0; i < numel(&b); i++) cr_assert_float_eq(b.data[i], (float)mean, 1e-5f);
    fcl_image_free(&b);

    /* Saturation 0: every channel is the pixel's luminance; grayscale does the same. */
    b = copy(&a);
    fcl_image g = copy(&a);
    fcl_aug_saturation(&b, 0.0f);
    fcl_aug_grayscale(&g);
    for (size_t i = 0; i < P; i++) {
        float lum = 0.2989f * a.data[i] + 0.587f * a.data[P + i] + 0.114f * a.data[2 * P + i];
        for (int c = 0; c < 3; c++) {
            cr_assert_float_eq(b.data[c * P + i], lum, 1e-6f);
            cr_assert_float_eq(g.data[c * P + i], lum, 1e-6f);
        }
    }
    fcl_image_free(&b);
    fcl_image_free(&g);

    /* Clamping to [0, 1] and no-op saturation/grayscale on one channel. */
    fcl_image m = ramp(1, 4, 4, 10), m2 = copy(&m);
    fcl_aug_saturation(&m2, 0.0f);
    fcl_aug_grayscale(&m2);
    cr_assert(same(&m, &m2));
    fcl_aug_brightness(&m2, 10.0f);
    for (size_t i = 0; i < 16; i++) cr_assert(m2.data[i] <= 1.0f && m2.data[i] >= 0.0f);
    fcl_image_free(&m);
    fcl_image_free(&m2);
    fcl_image_free(&a);
}

Test(augment, color_jitter_seeded_and_bounded)
{
    fcl_image a = ramp(3, 8, 8, 11);
    fcl_image x = copy(&a), y = copy(&a), z = copy(&a), none = copy(&a);
    fcl_rng r1, r2, r3, r4;
    fcl_rng_seed(&r1, 5);
    fcl_rng_seed(&r2, 5);
    fcl_rng_seed(&r3, 6);
    fcl_rng_seed(&r4, 6);
    fcl_aug_color_jitter(&x, 0.4f, 0.4f, 0.4f, &r1);
    fcl_aug_color_jitter(&y, 0.4f, 0.4f, 0.4f, &r2);
    fcl_aug_color_jitter(&z, 0.4f, 0.4f, 0.4f, &r3);
    fcl_aug_color_jitter(&none, 0.0f, 0.0f, 0.0f, &r4);
    cr_assert(same(&x, &y));
    cr_assert(!same(&x, &z));
    cr_assert(same(&a, &none), "zero jitter must change nothing");
    for (size_t i = 0; i < numel(&x); i++) cr_assert(x.data[i] >= 0.0f && x.data[i] <= 1.0f);
    /* Brightness alone scales every value by one factor in [0.6, 1.4]. */
    fcl_image b = copy(&a);
    fcl_aug_color_jitter(&b, 0.4f, 0.0f, 0.0f, &r1);
    size_t k0 = 0;
    for (size_t i = 0; i < numel(&a); i++)
        if (a.data[i] > 0.05f && (a.data[k0] <= 0.05f || a.data[i] < a.data[k0])) k0 = i;
    float f = b.data[k0] / a.data[k0]; /* a small value: a * f cannot reach the clamp at 1 */
    cr_assert(f >= 0.6f && f <= 1.4f, "factor %g", f);
    for (size_t i = 0; i < numel(&a); i++)
        if (a.data[i] * f < 1.0f) cr_assert_float_eq(b.data[i], a.data[i] * f, 1e-5f);
    fcl_image_free(&a);
    fcl_image_free(&b);
    fcl_image_free(&x);
    fcl_image_free(&y);
    fcl_image_free(&z);
    fcl_image_free(&none);
}

Test(augment, random_erase)
{
    const int H = 20, W = 24;
    const float scale[2] = {0.05f, 0.2f}, ratio[2] = {0.5f, 2.0f};
    fcl_image a = ramp(3, H, W, 12);
    fcl_rng r;
    fcl_rng_seed(&r, 3);
    fcl_image b = copy(&a);
    int box[4];
    cr_assert_eq(fcl_aug_random_erase(&b, 0.0f, scale, ratio, 0.0f, 0, &r, box), 0);
    cr_assert(same(&a, &b), "p = 0 must not erase");
    int erased = 0;
    for (int t = 0; t < 30; t++) {
        fcl_image_free(&b);
        b = copy(&a);
        if (!fcl_aug_random_erase(&b, 1.0f, scale, ratio, 0.25f, 0, &r, box)) continue;
        erased++;
        cr_assert(box[0] >= 0 && box[1] >= 0 && box[0] + box[2] <= H && box[1] + box[3] <= W);
        cr_assert(box[2] < H && box[3] < W);
        double frac = (double)box[2] * box[3] / (H * W);
        cr_assert(frac >= 0.05 * 0.6 && frac <= 0.2 * 1.4, "erased area fraction %g", frac);
        for (int c = 0; c < 3; c++)
            for (int y = 0; y < H; y++)
                for (int x = 0; x < W; x++) {
                    int in = y >= box[0] && y < box[0] + box[2] && x >= box[1] && x < box[1] + box[3];
                    cr_assert_eq(at(&b, c, y, x), in ? 0.25f : at(&a, c, y, x));
                }
    }
    cr_assert_geq(erased, 25, "p = 1 erased only %d of 30 times", erased);
    /* Random fill: N(0, 1) values, not all equal. */
    fcl_image_free(&b);
    b = copy(&a);
    cr_assert(fcl_aug_random_erase(&b, 1.0f, scale, ratio, 0.0f, 1, &r, box));
    float v0 = at(&b, 0, box[0], box[1]), v1 = at(&b, 1, box[0], box[1]);
    cr_assert_neq(v0, v1);
    fcl_image_free(&a);
    fcl_image_free(&b);
}

Test(augment, normalize_exact)
{
    fcl_image a = ramp(3, 4, 5, 13), b = copy(&a);
    const float mean[3] = {0.5f, 0.25f, 0.125f}, std[3] = {0.25f, 0.5f, 2.0f};
    fcl_error e = {0};
    cr_assert_eq(fcl_aug_normalize(&b, mean, std, &e), FCL_OK);
    for (int c = 0; c < 3; c++)
        for (size_t i = 0; i < 20; i++) {
            float want = (a.data[c * 20 + i] - mean[c]) / std[c];
            cr_assert_eq(b.data[c * 20 + i], want, "channel %d value %zu: %.9g vs %.9g", c, i, b.data[c * 20 + i], want);
        }
    b.data[0] = 0.75f;
    const float m1[3] = {0.5f, 0, 0}, s1[3] = {0.25f, 1, 1};
    cr_assert_eq(fcl_aug_normalize(&b, m1, s1, &e), FCL_OK);
    cr_assert_eq(b.data[0], 1.0f);
    const float bad[3] = {0.5f, 0.0f, 1.0f};
    cr_assert_eq(fcl_aug_normalize(&b, mean, bad, &e), FCL_ERR_INVALID_ARG);
    cr_assert_not_null(strstr(e.msg, "channel 1"), "%s", e.msg);
    fcl_image_free(&a);
    fcl_image_free(&b);
}

/* ---- pipelines ----------------------------------------------------------------------------- */

Test(augment_pipeline, parse_example)
{
    fcl_aug_pipeline p;
    fcl_error e = {0};
    cr_assert_eq(fcl_aug_parse("flip,crop=4,jitter=0.2:0.2:0.2,erase=0.25,rotate=10", &p, &e), FCL_OK, "%s", e.msg);
    cr_assert_eq(p.n, 5);
    cr_assert_eq(p.steps[0].kind, FCL_AUG_FLIP);
    cr_assert_float_eq(p.steps[0].p, 0.5f, 0.0f);
    cr_assert_eq(p.steps[1].kind, FCL_AUG_CROP);
    cr_assert_eq(p.steps[1].pad, 4);
    cr_assert_eq(p.steps[1].pad_mode, FCL_PAD_ZERO);
    cr_assert_eq(p.steps[2].kind, FCL_AUG_JITTER);
    cr_assert_float_eq(p.steps[2].jitter[1], 0.2f, 0.0f);
    cr_assert_eq(p.steps[3].kind, FCL_AUG_ERASE);
    cr_assert_float_eq(p.steps[3].p, 0.25f, 0.0f);
    cr_assert_float_eq(p.steps[3].scale[1], 0.33f, 0.0f);
    cr_assert_eq(p.steps[4].kind, FCL_AUG_ROTATE);
    cr_assert_float_eq(p.steps[4].degrees, 10.0f, 0.0f);

    cr_assert_eq(fcl_aug_parse("resize=112, rrc=0.5:1, crop=8:reflect, gray=0.2, erase=0.5:random, norm=0.5:0.5", &p, &e),
                 FCL_OK, "%s", e.msg);
    cr_assert_eq(p.n, 6);
    cr_assert(p.steps[0].h == 112 && p.steps[0].w == 112);
    cr_assert_float_eq(p.steps[1].scale[0], 0.5f, 0.0f);
    cr_assert_float_eq(p.steps[1].ratio[0], 0.75f, 1e-7f);
    cr_assert_eq(p.steps[2].pad_mode, FCL_PAD_REFLECT);
    cr_assert(p.steps[4].random_value);
    cr_assert_eq(p.steps[5].n_norm, 1);
    cr_assert_eq(fcl_aug_parse("resize=96x112,norm=0.485:0.456:0.406:0.229:0.224:0.225", &p, &e), FCL_OK, "%s", e.msg);
    cr_assert(p.steps[0].h == 96 && p.steps[0].w == 112);
    cr_assert_float_eq(p.steps[1].std[2], 0.225f, 0.0f);
    cr_assert_eq(fcl_aug_parse("none", &p, &e), FCL_OK);
    cr_assert_eq(p.n, 0);
    cr_assert_eq(fcl_aug_parse("", &p, &e), FCL_OK);
    cr_assert_eq(p.n, 0);
}

Test(augment_pipeline, parse_errors)
{
    fcl_aug_pipeline p;
    fcl_error e = {0};
    struct {
        const char *spec, *needle;
    } bad[] = {
        {"flip,blur=3", "unknown augmentation 'blur'"},
        {"flip=2", "probability"},
        {"crop=-1", "padding"},
        {"crop=4:mirror", "padding mode"},
        {"crop", "crop=PAD"},
        {"rotate", "rotate=DEGREES"},
        {"rotate=abc", "bad number"},
        {"jitter=0.1:0.2", "jitter=B:C:S"},
        {"rrc=0.5", "rrc"},
        {"rrc=0.9:0.5", "SMIN <= SMAX"},
        {"norm=0.5:0", "std"},
        {"norm=1:2:3", "norm=MEAN:STD"},
        {"resize=0", "1..4096"},
        {"resize=12x", "resize=S"},
        {"erase=0.5:sometimes", "fill"},
        {"flip,,crop=4", "empty item"},
        {"flip=", "empty value"},
        {"flip=0.5:1", "flip=P"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        cr_assert_eq(fcl_aug_parse(bad[i].spec, &p, &e), FCL_ERR_INVALID_ARG, "'%s' should fail", bad[i].spec);
        cr_assert_not_null(strstr(e.msg, bad[i].needle), "'%s': message '%s' lacks '%s'", bad[i].spec, e.msg, bad[i].needle);
        cr_assert_eq(p.n, 0);
    }
}

Test(augment_pipeline, format_round_trip)
{
    const char *specs[] = {"flip,crop=4,jitter=0.2:0.2:0.2,erase=0.25,rotate=10",
                           "resize=96x112,rrc=0.35:1:0.8:1.25,gray=0.3,erase=0.5:random,norm=0.485:0.456:0.406:0.229:0.224:0.225",
                           "crop=2:reflect,erase=1:0.5,norm=0.5:0.25"};
    for (size_t i = 0; i < 3; i++) {
        fcl_aug_pipeline p, q;
        fcl_error e = {0};
        char t1[512], t2[512];
        cr_assert_eq(fcl_aug_parse(specs[i], &p, &e), FCL_OK, "%s", e.msg);
        fcl_aug_format(&p, t1, sizeof t1);
        cr_assert_eq(fcl_aug_parse(t1, &q, &e), FCL_OK, "'%s': %s", t1, e.msg);
        fcl_aug_format(&q, t2, sizeof t2);
        cr_assert_str_eq(t1, t2);
        cr_assert_eq(p.n, q.n);
        for (int k = 0; k < p.n; k++) cr_assert_eq(memcmp(&p.steps[k], &q.steps[k], sizeof p.steps[k]), 0, "step %d of '%s'", k, t1);
    }
}

Test(augment_pipeline, apply_seeded_and_sized)
{
    fcl_aug_pipeline p;
    fcl_error e = {0};
    cr_assert_eq(fcl_aug_parse("resize=24x20,rrc=0.5:1,flip,crop=3:reflect,rotate=15,jitter=0.3,gray=0.5,erase=0.5,norm=0.5:0.5",
                               &p, &e), FCL_OK, "%s", e.msg);
    fcl_image src = ramp(3, 30, 26, 14);
    fcl_image first = {0, 0, 0, NULL};
    int differ = 0;
    for (uint64_t s = 0; s < 6; s++) {
        fcl_image x = copy(&src), y = copy(&src);
        fcl_rng r1, r2;
        fcl_rng_seed(&r1, s);
        fcl_rng_seed(&r2, s);
        cr_assert_eq(fcl_aug_apply(&p, &x, &r1, &e), FCL_OK, "%s", e.msg);
        cr_assert_eq(fcl_aug_apply(&p, &y, &r2, &e), FCL_OK, "%s", e.msg);
        cr_assert_eq(x.c, 3);
        cr_assert_eq(x.h, 24);
        cr_assert_eq(x.w, 20);
        cr_assert(same(&x, &y), "seed %d: the same rng state must give the same result", (int)s);
        if (s == 0) first = copy(&x);
        else differ += !same(&first, &x);
        fcl_image_free(&x);
        fcl_image_free(&y);
    }
    cr_assert_eq(differ, 5);
    fcl_image_free(&first);

    /* A 3-channel norm on a 1-channel image is an error that says so. */
    cr_assert_eq(fcl_aug_parse("norm=0.1:0.2:0.3:1:1:1", &p, &e), FCL_OK);
    fcl_image g = ramp(1, 8, 8, 15);
    fcl_rng r;
    fcl_rng_seed(&r, 1);
    cr_assert_eq(fcl_aug_apply(&p, &g, &r, &e), FCL_ERR_INVALID_ARG);
    cr_assert_not_null(strstr(e.msg, "1 channel"), "%s", e.msg);
    fcl_image_free(&g);
    fcl_image_free(&src);
}
