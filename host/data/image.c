/* host/data/image.c: host images: allocation, format detection and decode dispatch, channel conversion, resize. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <facecl/image.h>

#include "data/decode_internal.h"
#include "runtime/free_list.h"

fcl_status fcl_image_alloc(fcl_image *img, int c, int h, int w, fcl_error *err)
{
    if (!img) return FCL_ERR(err, FCL_ERR_INVALID_ARG, "fcl_image_alloc: NULL image");
    img->c = img->h = img->w = 0;
    img->data = NULL;
    if (c <= 0 || h <= 0 || w <= 0 || c > 4)
        return FCL_ERR(err, FCL_ERR_INVALID_ARG, "fcl_image_alloc: bad shape %d x %d x %d", c, h, w);
    size_t n = (size_t)c * (size_t)h * (size_t)w;
    if (n / (size_t)c / (size_t)h != (size_t)w || n > ((size_t)-1) / sizeof(float))
        return FCL_ERR(err, FCL_ERR_INVALID_ARG, "fcl_image_alloc: %d x %d x %d overflows", c, h, w);
    img->data = malloc(n * sizeof(float));
    if (!img->data)
        return FCL_ERR(err, FCL_ERR_NOMEM, "fcl_image_alloc: out of memory for %d x %d x %d floats",
                       c, h, w);
    img->c = c;
    img->h = h;
    img->w = w;
    return FCL_OK;
}

void fcl_image_free(fcl_image *img)
{
    if (!img) return;
    free(img->data);
    img->data = NULL;
    img->c = img->h = img->w = 0;
}

fcl_image_kind fcl_image_sniff(const unsigned char *buf, size_t len)
{
    static const unsigned char png_sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    if (len >= 8 && !memcmp(buf, png_sig, 8)) return FCL_IMAGE_PNG;
    if (len >= 3 && buf[0] == 0xff && buf[1] == 0xd8 && buf[2] == 0xff) return FCL_IMAGE_JPEG;
    return FCL_IMAGE_UNKNOWN;
}

/* A hint for files that are not PNG/JPEG, so "not an image" messages say what it looks like. */
static const char *other_format_hint(const unsigned char *b, size_t len)
{
    if (len >= 6 && (!memcmp(b, "GIF87a", 6) || !memcmp(b, "GIF89a", 6))) return "a GIF image";
    if (len >= 2 && b[0] == 'B' && b[1] == 'M') return "a BMP image";
    if (len >= 12 && !memcmp(b, "RIFF", 4) && !memcmp(b + 8, "WEBP", 4)) return "a WebP image";
    if (len >= 4 && (!memcmp(b, "II*\0", 4) || !memcmp(b, "MM\0*", 4))) return "a TIFF image";
    if (len >= 4 && !memcmp(b, "\x89PNG", 4)) return "a damaged PNG signature";
    if (len >= 2 && b[0] == 0xff && b[1] == 0xd8) return "a damaged JPEG start";
    size_t n = len < 64 ? len : 64, text = 0;
    for (size_t i = 0; i < n; i++)
        if ((b[i] >= 0x20 && b[i] < 0x7f) || b[i] == '\n' || b[i] == '\r' || b[i] == '\t') text++;
    if (n > 0 && text == n) return "text";
    return NULL;
}

const char *fcl_image_dims_problem(long w, long h, const fcl_decode_limits *lim)
{
    if (w <= 0) return "width is 0";
    if (h <= 0) return "height is 0";
    if (w > lim->max_side || h > lim->max_side) return "a side is larger than the limit";
    if (w > lim->max_pixels / h) return "more pixels than the limit";
    return NULL;
}

int fcl_image_out_channels(int file_colour, int channels)
{
    if (channels == 1 || channels == 3) return channels;
    return file_colour ? 3 : 1;
}

/* Sample k of pixel x in an interleaved row, scaled to [0, 1]. */
static inline float sample(const unsigned char *row, int x, int src_ch, int k, int sixteen)
{
    const size_t i = (size_t)x * (size_t)src_ch + (size_t)k;
    if (sixteen) return (float)((row[2 * i] << 8) | row[2 * i + 1]) * (1.0f / 65535.0f);
    return (float)row[i] * (1.0f / 255.0f);
}

void fcl_image_put_row(fcl_image *out, int y, const unsigned char *row, int src_ch, int sixteen)
{
    const int w = out->w;
    const size_t plane = (size_t)out->h * (size_t)w;
    float *d0 = out->data + (size_t)y * (size_t)w, *d1 = d0 + plane, *d2 = d1 + plane;
    const int colour = src_ch >= 3;
    /* One loop per case so that the per-pixel work is a load, a multiply and a store (this
     * runs for every pixel of every training image). */
    if (!colour && out->c == 1) {
        for (int x = 0; x < w; x++) d0[x] = sample(row, x, src_ch, 0, sixteen);
    } else if (!colour) {
        for (int x = 0; x < w; x++) d0[x] = d1[x] = d2[x] = sample(row, x, src_ch, 0, sixteen);
    } else if (out->c == 3) {
        for (int x = 0; x < w; x++) {
            d0[x] = sample(row, x, src_ch, 0, sixteen);
            d1[x] = sample(row, x, src_ch, 1, sixteen);
            d2[x] = sample(row, x, src_ch, 2, sixteen);
        }
    } else {
        /* ITU-R 601 luma, the weights PIL uses for mode "L". */
        for (int x = 0; x < w; x++)
            d0[x] = 0.299f * sample(row, x, src_ch, 0, sixteen) + 0.587f * sample(row, x, src_ch, 1, sixteen) +
                    0.114f * sample(row, x, src_ch, 2, sixteen);
    }
}

fcl_status fcl_image_decode_mem_limited(const void *buf, size_t len, const char *name, int channels,
                                        const fcl_decode_limits *lim, fcl_image *out, fcl_error *err)
{
    if (!out) return FCL_ERR(err, FCL_ERR_INVALID_ARG, "fcl_image_decode: NULL output");
    out->c = out->h = out->w = 0;
    out->data = NULL;
    if (!name) name = "(memory)";
    if (channels != 0 && channels != 1 && channels != 3)
        return FCL_ERR(err, FCL_ERR_INVALID_ARG, "%s: channels must be 0, 1 or 3 (got %d)", name,
                       channels);
    if (!buf && len) return FCL_ERR(err, FCL_ERR_INVALID_ARG, "%s: NULL buffer", name);
    if (len == 0) return FCL_ERR(err, FCL_ERR_FORMAT, "%s: empty file (0 bytes), not an image", name);
    const unsigned char *b = buf;
    switch (fcl_image_sniff(b, len)) {
    case FCL_IMAGE_PNG: return fcl_decode_png(b, len, name, channels, lim, out, err);
    case FCL_IMAGE_JPEG: return fcl_decode_jpeg(b, len, name, channels, lim, out, err);
    default: break;
    }
    const char *hint = other_format_hint(b, len);
    if (hint)
        return FCL_ERR(err, FCL_ERR_FORMAT,
                       "%s: not a PNG or JPEG image (%zu bytes; looks like %s)", name, len, hint);
    return FCL_ERR(err, FCL_ERR_FORMAT,
                   "%s: not a PNG or JPEG image (%zu bytes starting %02x %02x %02x %02x)", name, len,
                   b[0], len > 1 ? b[1] : 0, len > 2 ? b[2] : 0, len > 3 ? b[3] : 0);
}

fcl_status fcl_image_decode_mem(const void *buf, size_t len, const char *name, int channels,
                                fcl_image *out, fcl_error *err)
{
    const fcl_decode_limits lim = {FCL_IMAGE_MAX_SIDE, FCL_IMAGE_MAX_PIXELS, 0};
    return fcl_image_decode_mem_limited(buf, len, name, channels, &lim, out, err);
}

fcl_status fcl_image_decode_file(const char *path, int channels, fcl_image *out, fcl_error *err)
{
    fcl_status st = FCL_OK;
    unsigned char *buf = NULL;
    FILE *f = NULL;
    if (out) {
        out->c = out->h = out->w = 0;
        out->data = NULL;
    }
    if (!path || !out) return FCL_ERR(err, FCL_ERR_INVALID_ARG, "fcl_image_decode_file: NULL argument");
    f = fopen(path, "rb");
    if (!f) {
        st = FCL_ERR(err, FCL_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
        goto fail;
    }
    struct stat sb;
    if (fstat(fileno(f), &sb) != 0) {
        st = FCL_ERR(err, FCL_ERR_IO, "%s: cannot stat: %s", path, strerror(errno));
        goto fail;
    }
    if (!S_ISREG(sb.st_mode)) {
        st = FCL_ERR(err, FCL_ERR_IO, "%s: not a regular file", path);
        goto fail;
    }
    if (sb.st_size > FCL_IMAGE_MAX_FILE_BYTES) {
        st = FCL_ERR(err, FCL_ERR_FORMAT, "%s: file too large for an image (%lld bytes, limit %ld)",
                     path, (long long)sb.st_size, FCL_IMAGE_MAX_FILE_BYTES);
        goto fail;
    }
    size_t len = (size_t)sb.st_size;
    buf = malloc(len ? len : 1);
    if (!buf) {
        st = FCL_ERR(err, FCL_ERR_NOMEM, "%s: out of memory reading %zu bytes", path, len);
        goto fail;
    }
    size_t got = fread(buf, 1, len, f);
    if (got != len || ferror(f)) {
        st = FCL_ERR(err, FCL_ERR_IO, "%s: read error (%zu of %zu bytes)", path, got, len);
        goto fail;
    }
    st = fcl_image_decode_mem(buf, len, path, channels, out, err);
fail:
    free(buf);
    if (f) fclose(f);
    return st;
}

/* --- resize ----------------------------------------------------------------------------------
 * Separable triangle-filter resampling with the coefficients of PIL's ImagingResample (BILINEAR),
 * which torchvision's resize(antialias=True) reproduces: output pixel i has its centre at
 * (i + 0.5) * scale in input coordinates (scale = in / out); when shrinking the triangle is
 * stretched to a support of `scale` input pixels on each side, so every input pixel contributes
 * (antialiasing); when enlarging it is the plain bilinear tent of radius 1 (half-pixel centres,
 * edges clamped). Weights are renormalised where the window is cut at an image edge. */

typedef struct resample_coeffs {
    int ksize;      /* taps per output pixel (max) */
    int *start;     /* out: first input index */
    int *count;     /* out: taps used */
    float *w;       /* out x ksize normalised weights */
} resample_coeffs;

static float triangle(double x)
{
    if (x < 0.0) x = -x;
    return x < 1.0 ? (float)(1.0 - x) : 0.0f;
}

static fcl_status coeffs_make(int in, int out, resample_coeffs *c, fcl_error *err)
{
    const double scale = (double)in / (double)out;
    const double filterscale = scale < 1.0 ? 1.0 : scale;
    const double support = filterscale * 1.0;
    c->ksize = (int)ceil(support) * 2 + 1;
    c->start = malloc(sizeof(int) * (size_t)out);
    c->count = malloc(sizeof(int) * (size_t)out);
    c->w = calloc((size_t)out * (size_t)c->ksize, sizeof(float));
    if (!c->start || !c->count || !c->w)
        return FCL_ERR(err, FCL_ERR_NOMEM, "fcl_image_resize: out of memory for coefficients");
    for (int i = 0; i < out; i++) {
        const double center = ((double)i + 0.5) * scale;
        int xmin = (int)(center - support + 0.5);
        if (xmin < 0) xmin = 0;
        int xmax = (int)(center + support + 0.5);
        if (xmax > in) xmax = in;
        int n = xmax - xmin;
        if (n > c->ksize) n = c->ksize;
        float *k = c->w + (size_t)i * (size_t)c->ksize;
        double total = 0.0;
        for (int x = 0; x < n; x++) {
            k[x] = triangle(((double)(x + xmin) - center + 0.5) / filterscale);
            total += k[x];
        }
        if (total > 0.0)
            for (int x = 0; x < n; x++) k[x] = (float)(k[x] / total);
        c->start[i] = xmin;
        c->count[i] = n;
    }
    return FCL_OK;
}

static void coeffs_free(resample_coeffs *c)
{
    FCL_FREE_ALL(c->start, c->count, c->w);
}

fcl_status fcl_image_resize(const fcl_image *src, int h, int w, fcl_image *out, fcl_error *err)
{
    fcl_status st = FCL_OK;
    resample_coeffs ch = {0}, cv = {0};
    float *tmp = NULL;
    if (!src || !out || !src->data)
        return FCL_ERR(err, FCL_ERR_INVALID_ARG, "fcl_image_resize: NULL image");
    if (out == src)
        return FCL_ERR(err, FCL_ERR_INVALID_ARG, "fcl_image_resize: output must differ from input");
    out->c = out->h = out->w = 0;
    out->data = NULL;
    if (h <= 0 || w <= 0 || h > FCL_IMAGE_MAX_SIDE || w > FCL_IMAGE_MAX_SIDE)
        return FCL_ERR(err, FCL_ERR_INVALID_ARG, "fcl_image_resize: bad target size %d x %d (W x H)",
                       w, h);
    if (src->c <= 0 || src->h <= 0 || src->w <= 0)
        return FCL_ERR(err, FCL_ERR_INVALID_ARG, "fcl_image_resize: empty source image");
    st = fcl_image_alloc(out, src->c, h, w, err);
    if (st) goto fail;
    const int C = src->c, H = src->h, W = src->w;
    if (H == h && W == w) {
        memcpy(out->data, src->data, sizeof(float) * (size_t)C * (size_t)H * (size_t)W);
        goto fail; /* st is FCL_OK: just the common exit */
    }
    if ((st = coeffs_make(W, w, &ch, err)) || (st = coeffs_make(H, h, &cv, err))) goto fail;
    /* Horizontal pass into tmp (C x H x w), then vertical into out (C x h x w), like PIL. */
    tmp = malloc(sizeof(float) * (size_t)C * (size_t)H * (size_t)w);
    if (!tmp) {
        st = FCL_ERR(err, FCL_ERR_NOMEM, "fcl_image_resize: out of memory");
        goto fail;
    }
    for (int c = 0; c < C; c++) {
        for (int y = 0; y < H; y++) {
            const float *s = src->data + ((size_t)c * H + (size_t)y) * (size_t)W;
            float *t = tmp + ((size_t)c * H + (size_t)y) * (size_t)w;
            for (int x = 0; x < w; x++) {
                const float *k = ch.w + (size_t)x * (size_t)ch.ksize;
                const float *sp = s + ch.start[x];
                float acc = 0.0f;
                for (int j = 0; j < ch.count[x]; j++) acc += k[j] * sp[j];
                t[x] = acc;
            }
        }
        for (int y = 0; y < h; y++) {
            const float *k = cv.w + (size_t)y * (size_t)cv.ksize;
            float *o = out->data + ((size_t)c * h + (size_t)y) * (size_t)w;
            for (int x = 0; x < w; x++) o[x] = 0.0f;
            for (int j = 0; j < cv.count[y]; j++) {
                const float *t = tmp + ((size_t)c * H + (size_t)(cv.start[y] + j)) * (size_t)w;
                for (int x = 0; x < w; x++) o[x] += k[j] * t[x];
            }
        }
    }
fail:
    if (st) fcl_image_free(out);
    free(tmp);
    coeffs_free(&ch);
    coeffs_free(&cv);
    return st;
}
