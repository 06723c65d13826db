/* tests/test_decode.c: PNG/JPEG decoding (every PNG layout, baseline/progressive JPEG), channel conversion, resize, bad files. */
#include <criterion/criterion.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <png.h>
#include <jpeglib.h>

#include <facecl/image.h>
#include "helpers/cmdline.h"

/* --- in-memory writers ---------------------------------------------------------------------- */

typedef struct membuf {
    unsigned char *p;
    size_t n, cap;
} membuf;

static void mb_write(png_structp png, png_bytep data, size_t n)
{
    membuf *m = png_get_io_ptr(png);
    if (m->n + n > m->cap) {
        m->cap = (m->n + n) * 2 + 1024;
        m->p = realloc(m->p, m->cap);
        cr_assert_not_null(m->p);
    }
    memcpy(m->p + m->n, data, n);
    m->n += n;
}

static void mb_flush(png_structp png)
{
    (void)png;
}

/* Sample k of pixel (x, y) for a test pattern with `maxv` = 2^depth - 1: every sample differs
 * across x, y and k so that a swapped channel, row or interlace pass shows. */
static unsigned pattern(int x, int y, int k, unsigned maxv)
{
    return (unsigned)(x * 37 + y * 101 + k * 59 + x * y * 7) % (maxv + 1);
}

/* Writes a PNG of w x h with libpng: colour type, bit depth, interlace as given; samples from
 * pattern(). Palette images use palette entry i = (i*3, 255 - i, i*7 % 256) and the pattern
 * as indices; with `trns` they also get a tRNS chunk (alpha must be ignored). */
static membuf write_png(int w, int h, int ctype, int depth, int interlace, int trns)
{
    membuf m = {0};
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    cr_assert(png && info);
    if (setjmp(png_jmpbuf(png))) cr_assert_fail("libpng write failed");
    png_set_write_fn(png, &m, mb_write, mb_flush);
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, depth, ctype,
                 interlace ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
                 PNG_FILTER_TYPE_DEFAULT);
    if (ctype == PNG_COLOR_TYPE_PALETTE) {
        png_color pal[256];
        png_byte alpha[256];
        for (int i = 0; i < 256; i++) {
            pal[i].red = (png_byte)(i * 3);
            pal[i].green = (png_byte)(255 - i);
            pal[i].blue = (png_byte)((i * 7) % 256);
            alpha[i] = (png_byte)(i % 2 ? 0 : 255);
        }
        png_set_PLTE(png, info, pal, 1 << depth);
        if (trns) png_set_tRNS(png, info, alpha, 1 << depth, NULL);
    }
    png_write_info(png, info);
    int ch = ctype == PNG_COLOR_TYPE_GRAY ? 1 : ctype == PNG_COLOR_TYPE_GRAY_ALPHA ? 2
           : ctype == PNG_COLOR_TYPE_RGB ? 3 : ctype == PNG_COLOR_TYPE_RGB_ALPHA ? 4 : 1;
    unsigned maxv = (1u << depth) - 1;
    size_t rowbytes = ((size_t)w * (size_t)ch * (size_t)depth + 7) / 8;
    unsigned char *img = calloc((size_t)h, rowbytes);
    png_bytep *rows = malloc(sizeof(png_bytep) * (size_t)h);
    for (int y = 0; y < h; y++) {
        rows[y] = img + (size_t)y * rowbytes;
        for (int x = 0; x < w; x++)
            for (int k = 0; k < ch; k++) {
                unsigned v = pattern(x, y, k, maxv);
                size_t s = (size_t)x * (size_t)ch + (size_t)k;
                if (depth == 16) {
                    rows[y][2 * s] = (png_byte)(v >> 8);
                    rows[y][2 * s + 1] = (png_byte)(v & 255);
                } else if (depth == 8) {
                    rows[y][s] = (png_byte)v;
                } else {
                    size_t bit = s * (size_t)depth;
                    rows[y][bit / 8] |= (png_byte)(v << (8 - depth - (int)(bit % 8)));
                }
            }
    }
    png_write_image(png, rows);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    free(rows);
    free(img);
    return m;
}

/* Writes a JPEG with libjpeg: `comps` 1 (gray) or 3 (RGB) or 4 (CMYK), samples from fn. */
typedef unsigned char (*sample_fn)(int x, int y, int k);

static membuf write_jpeg(int w, int h, int comps, int quality, int progressive, sample_fn fn)
{
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr jerr;
    unsigned char *out = NULL;
    unsigned long outlen = 0;
    c.err = jpeg_std_error(&jerr);
    jpeg_create_compress(&c);
    jpeg_mem_dest(&c, &out, &outlen);
    c.image_width = (JDIMENSION)w;
    c.image_height = (JDIMENSION)h;
    c.input_components = comps;
    c.in_color_space = comps == 1 ? JCS_GRAYSCALE : comps == 3 ? JCS_RGB : JCS_CMYK;
    jpeg_set_defaults(&c);
    jpeg_set_quality(&c, quality, TRUE);
    if (progressive) jpeg_simple_progression(&c);
    jpeg_start_compress(&c, TRUE);
    unsigned char *row = malloc((size_t)w * (size_t)comps);
    while (c.next_scanline < c.image_height) {
        int y = (int)c.next_scanline;
        for (int x = 0; x < w; x++)
            for (int k = 0; k < comps; k++) row[x * comps + k] = fn(x, y, k);
        JSAMPROW rp = row;
        jpeg_write_scanlines(&c, &rp, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    free(row);
    membuf m = {out, outlen, outlen};
    return m;
}

static unsigned char smooth(int x, int y, int k)
{
    return (unsigned char)(20 + x * 2 + y * 3 + k * 30); /* <= 236 for the sizes used */
}

static unsigned char constant_rgb(int x, int y, int k)
{
    (void)x;
    (void)y;
    static const unsigned char v[3] = {200, 100, 50};
    return v[k];
}

/* Adobe-style inverted CMYK for RGB (200, 100, 50): C = R, M = G, Y = B with K = 255. */
static unsigned char constant_cmyk(int x, int y, int k)
{
    (void)x;
    (void)y;
    static const unsigned char v[4] = {200, 100, 50, 255};
    return v[k];
}

static float at(const fcl_image *im, int c, int y, int x)
{
    return im->data[((size_t)c * (size_t)im->h + (size_t)y) * (size_t)im->w + (size_t)x];
}

/* --- PNG: every colour type and bit depth, interlaced or not ------------------------------- */

typedef struct png_case {
    int ctype, depth, interlace, trns;
} png_case;

/* Decodes m (named `name` in messages) with `channels` (0: as stored) into *im; must succeed. */
static void decode_ok(const membuf *m, const char *name, int channels, fcl_image *im)
{
    fcl_error err = {0};
    cr_assert_eq(fcl_image_decode_mem(m->p, m->n, name, channels, im, &err), FCL_OK, "%s", err.msg);
}

static void check_png_case(png_case pc)
{
    const int w = 13, h = 7; /* odd sizes exercise Adam7's partial passes */
    membuf m = write_png(w, h, pc.ctype, pc.depth, pc.interlace, pc.trns);
    const int colour = pc.ctype == PNG_COLOR_TYPE_RGB || pc.ctype == PNG_COLOR_TYPE_RGB_ALPHA ||
                       pc.ctype == PNG_COLOR_TYPE_PALETTE;
    const unsigned maxv = (1u << pc.depth) - 1;
    for (int channels = 0; channels <= 3; channels += (channels == 0 ? 1 : 2)) {
        fcl_image im = {0};
        fcl_error err = {0};
        fcl_status st = fcl_image_decode_mem(m.p, m.n, "case.png", channels, &im, &err);
        cr_assert_eq(st, FCL_OK, "ctype %d depth %d interlace %d: %s", pc.ctype, pc.depth, pc.interlace,
                     err.msg);
        int want_c = channels ? channels : (colour ? 3 : 1);
        cr_assert_eq(im.c, want_c);
        cr_assert_eq(im.w, w);
        cr_assert_eq(im.h, h);
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                float rgb[3];
                if (pc.ctype == PNG_COLOR_TYPE_PALETTE) {
                    unsigned i = pattern(x, y, 0, maxv);
                    rgb[0] = (float)((i * 3) % 256) / 255.0f;
                    rgb[1] = (float)(255 - i) / 255.0f;
                    rgb[2] = (float)((i * 7) % 256) / 255.0f;
                } else {
                    for (int k = 0; k < 3; k++)
                        rgb[k] = (float)pattern(x, y, colour ? k : 0, maxv) / (float)maxv;
                }
                for (int c = 0; c < im.c; c++) {
                    float want;
                    if (im.c == 1) want = colour ? 0.299f * rgb[0] + 0.587f * rgb[1] + 0.114f * rgb[2] : rgb[0];
                    else want = colour ? rgb[c] : rgb[0];
                    cr_assert_float_eq(at(&im, c, y, x), want, 1e-5f,
                                       "ctype %d depth %d il %d ch %d: (%d,%d,%d) = %f, want %f", pc.ctype,
                                       pc.depth, pc.interlace, channels, c, y, x, at(&im, c, y, x), want);
                }
            }
        fcl_image_free(&im);
    }
    free(m.p);
}

Test(decode_png, gray_all_depths)
{
    const int depths[] = {1, 2, 4, 8, 16};
    for (int i = 0; i < 5; i++)
        for (int il = 0; il < 2; il++) check_png_case((png_case){PNG_COLOR_TYPE_GRAY, depths[i], il, 0});
}

Test(decode_png, gray_alpha_8_16)
{
    for (int d = 8; d <= 16; d += 8)
        for (int il = 0; il < 2; il++) check_png_case((png_case){PNG_COLOR_TYPE_GRAY_ALPHA, d, il, 0});
}

Test(decode_png, rgb_rgba_8_16)
{
    for (int d = 8; d <= 16; d += 8)
        for (int il = 0; il < 2; il++) {
            check_png_case((png_case){PNG_COLOR_TYPE_RGB, d, il, 0});
            check_png_case((png_case){PNG_COLOR_TYPE_RGB_ALPHA, d, il, 0});
        }
}

Test(decode_png, palette_with_and_without_trns)
{
    const int depths[] = {1, 2, 4, 8};
    for (int i = 0; i < 4; i++)
        for (int il = 0; il < 2; il++)
            for (int t = 0; t < 2; t++) check_png_case((png_case){PNG_COLOR_TYPE_PALETTE, depths[i], il, t});
}

Test(decode_png, sixteen_bit_keeps_precision)
{
    /* A 16-bit sample that is not a multiple of 257 must not be rounded to 8 bits. */
    membuf m = write_png(3, 1, PNG_COLOR_TYPE_GRAY, 16, 0, 0);
    fcl_image im = {0};
    decode_ok(&m, "x.png", 0, &im);
    unsigned v = pattern(1, 0, 0, 65535);
    cr_assert_neq(v % 257, 0);
    cr_assert_float_eq(at(&im, 0, 0, 1), (float)v / 65535.0f, 1e-7f);
    fcl_image_free(&im);
    free(m.p);
}

/* --- JPEG ------------------------------------------------------------------------------------- */

Test(decode_jpeg, baseline_colour_is_close_to_source)
{
    const int w = 40, h = 24;
    membuf m = write_jpeg(w, h, 3, 100, 0, smooth);
    fcl_image im = {0};
    decode_ok(&m, "a.jpg", 0, &im);
    cr_assert_eq(im.c, 3);
    cr_assert_eq(im.w, w);
    cr_assert_eq(im.h, h);
    double sum = 0, worst = 0;
    for (int c = 0; c < 3; c++)
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                double d = fabs(at(&im, c, y, x) - smooth(x, y, c) / 255.0);
                sum += d;
                if (d > worst) worst = d;
            }
    /* quality 100 with 4:2:0 chroma on a smooth ramp: a few levels at most */
    cr_assert_lt(sum / (3.0 * w * h), 3.0 / 255.0, "mean error %f", sum / (3.0 * w * h));
    cr_assert_lt(worst, 12.0 / 255.0, "worst error %f", worst);
    fcl_image_free(&im);
    free(m.p);
}

/* A w x h JPEG of `comps` components (write_jpeg) decoded as stored into *stored and with
 * `channels` into *conv. */
static void jpeg_decoded_twice(int w, int h, int comps, int quality, int progressive, sample_fn fn, fcl_image *stored,
                               int channels, fcl_image *conv)
{
    membuf m = write_jpeg(w, h, comps, quality, progressive, fn);
    decode_ok(&m, "twice.jpg", 0, stored);
    decode_ok(&m, "twice.jpg", channels, conv);
    free(m.p);
}

Test(decode_jpeg, constant_colour_and_luminance)
{
    fcl_image im = {0}, g = {0};
    jpeg_decoded_twice(16, 16, 3, 100, 0, constant_rgb, &im, 1, &g);
    cr_assert_eq(g.c, 1);
    for (int y = 0; y < 16; y++)
        for (int x = 0; x < 16; x++) {
            for (int c = 0; c < 3; c++) cr_assert_float_eq(at(&im, c, y, x), constant_rgb(0, 0, c) / 255.0f, 2.5f / 255);
            float lum = 0.299f * at(&im, 0, y, x) + 0.587f * at(&im, 1, y, x) + 0.114f * at(&im, 2, y, x);
            cr_assert_float_eq(at(&g, 0, y, x), lum, 1e-5f);
        }
    fcl_image_free(&im);
    fcl_image_free(&g);
}

Test(decode_jpeg, progressive_decodes_like_baseline)
{
    /* Same quantisation, different entropy coding: the pixels must be identical. */
    for (int comps = 1; comps <= 3; comps += 2) {
        membuf b = write_jpeg(37, 29, comps, 85, 0, smooth);
        membuf p = write_jpeg(37, 29, comps, 85, 1, smooth);
        cr_assert(b.n != p.n || memcmp(b.p, p.p, b.n), "encoder ignored progressive mode");
        fcl_image ib = {0}, ip = {0};
        decode_ok(&b, "b.jpg", 0, &ib);
        decode_ok(&p, "p.jpg", 0, &ip);
        cr_assert_eq(ib.c, comps);
        cr_assert_eq(ip.c, comps);
        cr_assert_eq(memcmp(ib.data, ip.data, sizeof(float) * (size_t)comps * 37 * 29), 0);
        fcl_image_free(&ib);
        fcl_image_free(&ip);
        free(b.p);
        free(p.p);
    }
}

Test(decode_jpeg, gray_to_three_channels_replicates)
{
    fcl_image g = {0}, c3 = {0};
    jpeg_decoded_twice(20, 10, 1, 95, 1, smooth, &g, 3, &c3);
    cr_assert_eq(g.c, 1);
    cr_assert_eq(c3.c, 3);
    for (int y = 0; y < 10; y++)
        for (int x = 0; x < 20; x++) {
            cr_assert_float_eq(at(&g, 0, y, x), smooth(x, y, 0) / 255.0f, 4.0f / 255);
            for (int c = 0; c < 3; c++) cr_assert_eq(at(&c3, c, y, x), at(&g, 0, y, x));
        }
    fcl_image_free(&g);
    fcl_image_free(&c3);
}

Test(decode_jpeg, adobe_cmyk_becomes_rgb)
{
    membuf m = write_jpeg(16, 8, 4, 100, 0, constant_cmyk);
    fcl_image im = {0};
    decode_ok(&m, "k.jpg", 0, &im);
    cr_assert_eq(im.c, 3);
    for (int c = 0; c < 3; c++) cr_assert_float_eq(at(&im, c, 3, 5), constant_rgb(0, 0, c) / 255.0f, 2.5f / 255);
    fcl_image_free(&im);
    free(m.p);
}

/* --- bad input -------------------------------------------------------------------------------- */

static char tmpdir[64];

static void make_tmpdir(void) { fcl_test_tmpdir(tmpdir, sizeof tmpdir, "decode"); }

static void rm_tmpdir(void) { fcl_test_rm_rf(tmpdir); }

static char *write_file(const char *name, const void *data, size_t n)
{
    char *p = NULL;
    cr_assert_geq(asprintf(&p, "%s/%s", tmpdir, name), 0);
    fcl_test_write(p, data, n);
    return p;
}

/* Decodes `path` expecting failure with status `want` and every string of `needles` in the
 * message (each test passes the file name and a reason). */
static void expect_fail(const char *path, fcl_status want, const char *const *needles)
{
    fcl_image im = {0};
    fcl_error err = {0};
    fcl_status st = fcl_image_decode_file(path, 0, &im, &err);
    cr_assert_eq(st, want, "%s: got %s: %s", path, fcl_status_name(st), err.msg);
    cr_assert_null(im.data);
    for (const char *const *n = needles; *n; n++)
        cr_assert_not_null(strstr(err.msg, *n), "message '%s' lacks '%s'", err.msg, *n);
}

Test(decode_bad, not_an_image, .init = make_tmpdir, .fini = rm_tmpdir)
{
    char *p = write_file("notes.png", "hello, this is text\n", 20);
    expect_fail(p, FCL_ERR_FORMAT, (const char *const[]){p, "not a PNG or JPEG", "text", NULL});
    free(p);
    static const unsigned char gif[] = "GIF89a\x01\x00\x01\x00";
    p = write_file("x.jpg", gif, sizeof gif - 1);
    expect_fail(p, FCL_ERR_FORMAT, (const char *const[]){p, "GIF", NULL});
    free(p);
}

Test(decode_bad, zero_bytes, .init = make_tmpdir, .fini = rm_tmpdir)
{
    char *p = write_file("empty.png", "", 0);
    expect_fail(p, FCL_ERR_FORMAT, (const char *const[]){p, "empty file", NULL});
    free(p);
}

Test(decode_bad, missing_file, .init = make_tmpdir, .fini = rm_tmpdir)
{
    char *p = NULL;
    cr_assert_geq(asprintf(&p, "%s/nope.png", tmpdir), 0);
    expect_fail(p, FCL_ERR_IO, (const char *const[]){p, "cannot open", NULL});
    free(p);
}

Test(decode_bad, truncated_png_every_cut, .init = make_tmpdir, .fini = rm_tmpdir)
{
    membuf m = write_png(31, 17, PNG_COLOR_TYPE_RGB, 8, 0, 0);
    /* Every prefix must fail cleanly (and never crash); a few go through a file too. */
    for (size_t cut = 1; cut < m.n; cut++) {
        fcl_image im = {0};
        fcl_error err = {0};
        cr_assert_eq(fcl_image_decode_mem(m.p, cut, "cut.png", 0, &im, &err), FCL_ERR_FORMAT,
                     "cut at %zu of %zu decoded", cut, m.n);
        cr_assert_not_null(strstr(err.msg, "cut.png"));
        cr_assert_null(im.data);
    }
    char *p = write_file("half.png", m.p, m.n / 2);
    expect_fail(p, FCL_ERR_FORMAT, (const char *const[]){p, "truncated", NULL});
    free(p);
    free(m.p);
}

Test(decode_bad, truncated_jpeg, .init = make_tmpdir, .fini = rm_tmpdir)
{
    for (int prog = 0; prog < 2; prog++) {
        membuf m = write_jpeg(64, 48, 3, 90, prog, smooth);
        char *p = write_file(prog ? "half_p.jpg" : "half.jpg", m.p, m.n / 2);
        expect_fail(p, FCL_ERR_FORMAT, (const char *const[]){p, "truncated", NULL});
        free(p);
        for (size_t cut = 1; cut < m.n - 2; cut += 7) {
            fcl_image im = {0};
            fcl_error err = {0};
            cr_assert_eq(fcl_image_decode_mem(m.p, cut, "cut.jpg", 0, &im, &err), FCL_ERR_FORMAT,
                         "progressive %d cut at %zu of %zu decoded", prog, cut, m.n);
            cr_assert_null(im.data);
        }
        free(m.p);
    }
}

/* The PNG chunk CRC (ISO 3309), bitwise: enough for one crafted header. */
static unsigned long crc32_png(const unsigned char *p, size_t n)
{
    unsigned long c = 0xffffffffUL;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0xedb88320UL & (0UL - (c & 1)));
    }
    return c ^ 0xffffffffUL;
}

/* A valid signature and IHDR (with a correct CRC) claiming 100000 x 100000, then IEND. */
Test(decode_bad, absurd_png_dimensions, .init = make_tmpdir, .fini = rm_tmpdir)
{
    unsigned char f[8 + 25 + 12];
    static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    memcpy(f, sig, 8);
    unsigned char *c = f + 8;
    c[0] = 0, c[1] = 0, c[2] = 0, c[3] = 13;
    memcpy(c + 4, "IHDR", 4);
    const unsigned long side = 100000;
    for (int k = 0; k < 2; k++) {
        c[8 + 4 * k] = (unsigned char)(side >> 24);
        c[9 + 4 * k] = (unsigned char)(side >> 16);
        c[10 + 4 * k] = (unsigned char)(side >> 8);
        c[11 + 4 * k] = (unsigned char)side;
    }
    c[16] = 8, c[17] = 2, c[18] = 0, c[19] = 0, c[20] = 0;
    unsigned long crc = crc32_png(c + 4, 17);
    c[21] = (unsigned char)(crc >> 24), c[22] = (unsigned char)(crc >> 16);
    c[23] = (unsigned char)(crc >> 8), c[24] = (unsigned char)crc;
    unsigned char *e = f + 33;
    static const unsigned char iend[12] = {0, 0, 0, 0, 'I', 'E', 'N', 'D', 0xae, 0x42, 0x60, 0x82};
    memcpy(e, iend, 12);
    char *p = write_file("huge.png", f, sizeof f);
    expect_fail(p, FCL_ERR_FORMAT, (const char *const[]){p, "absurd", "100000 x 100000", NULL});
    free(p);
}

Test(decode_bad, corrupt_png_data)
{
    membuf m = write_png(16, 16, PNG_COLOR_TYPE_GRAY, 8, 0, 0);
    /* Flip bytes inside the IDAT payload: the CRC check (or zlib) must catch it. */
    for (size_t i = 45; i < m.n - 20; i += 3) m.p[i] ^= 0x5a;
    fcl_image im = {0};
    fcl_error err = {0};
    cr_assert_eq(fcl_image_decode_mem(m.p, m.n, "bad.png", 0, &im, &err), FCL_ERR_FORMAT);
    cr_assert_not_null(strstr(err.msg, "bad.png"), "%s", err.msg);
    cr_assert_null(im.data);
    free(m.p);
}

Test(decode_bad, bad_channel_request)
{
    membuf m = write_png(4, 4, PNG_COLOR_TYPE_GRAY, 8, 0, 0);
    fcl_image im = {0};
    fcl_error err = {0};
    cr_assert_eq(fcl_image_decode_mem(m.p, m.n, "x.png", 2, &im, &err), FCL_ERR_INVALID_ARG);
    free(m.p);
}

Test(decode_real, orl_face_png_and_truncated_copy, .init = make_tmpdir, .fini = rm_tmpdir)
{
    const char *src = FACECL_SOURCE_DIR "/../shared/faces/orl_att_faces/s1/1.png";
    size_t n;
    char *buf = fcl_test_slurp_or_skip(src, &n);
    fcl_image im = {0};
    fcl_error err = {0};
    cr_assert_eq(fcl_image_decode_file(src, 0, &im, &err), FCL_OK, "%s", err.msg);
    cr_assert_eq(im.c, 1);
    cr_assert_eq(im.w, 92);
    cr_assert_eq(im.h, 112);
    double mean = 0;
    for (int i = 0; i < 92 * 112; i++) {
        cr_assert(im.data[i] >= 0.0f && im.data[i] <= 1.0f);
        mean += im.data[i];
    }
    mean /= 92 * 112;
    cr_assert(mean > 0.1 && mean < 0.9, "implausible mean %f for a face", mean);
    fcl_image_free(&im);
    char *p = write_file("face.png", buf, n * 2 / 3);
    expect_fail(p, FCL_ERR_FORMAT, (const char *const[]){p, "truncated", NULL});
    free(p);
    free(buf);
}

/* --- resize ----------------------------------------------------------------------------------- */

static void fill(fcl_image *im, float (*fn)(int c, int y, int x))
{
    for (int c = 0; c < im->c; c++)
        for (int y = 0; y < im->h; y++)
            for (int x = 0; x < im->w; x++)
                im->data[((size_t)c * im->h + (size_t)y) * im->w + (size_t)x] = fn(c, y, x);
}

static float f_const(int c, int y, int x)
{
    (void)y;
    (void)x;
    return 0.25f + 0.25f * (float)c;
}

static float f_random(int c, int y, int x)
{
    return (float)((unsigned)(c * 7919 + y * 104729 + x * 1299709) % 1000) / 999.0f;
}

static float f_columns(int c, int y, int x)
{
    (void)c;
    (void)y;
    return (float)(x % 2);
}

/* A c x h x w image filled by fn in *src and its resize to oh x ow in *out (both must succeed). */
static void resize_filled(fcl_image *src, fcl_image *out, int c, int h, int w, float (*fn)(int c, int y, int x), int oh,
                          int ow)
{
    fcl_error err = {0};
    cr_assert_eq(fcl_image_alloc(src, c, h, w, &err), FCL_OK);
    fill(src, fn);
    cr_assert_eq(fcl_image_resize(src, oh, ow, out, &err), FCL_OK, "%s", err.msg);
}

Test(resize, constant_stays_constant)
{
    const int sizes[][2] = {{7, 5}, {112, 96}, {1, 1}, {33, 200}, {3, 64}};
    fcl_image src = {0};
    fcl_error err = {0};
    cr_assert_eq(fcl_image_alloc(&src, 3, 50, 41, &err), FCL_OK);
    fill(&src, f_const);
    for (int i = 0; i < 5; i++) {
        fcl_image out = {0};
        cr_assert_eq(fcl_image_resize(&src, sizes[i][0], sizes[i][1], &out, &err), FCL_OK, "%s", err.msg);
        cr_assert_eq(out.h, sizes[i][0]);
        cr_assert_eq(out.w, sizes[i][1]);
        for (int c = 0; c < 3; c++)
            for (int y = 0; y < out.h; y++)
                for (int x = 0; x < out.w; x++) cr_assert_float_eq(at(&out, c, y, x), f_const(c, 0, 0), 1e-6f);
        fcl_image_free(&out);
    }
    fcl_image_free(&src);
}

Test(resize, same_size_is_identity)
{
    fcl_image src = {0}, out = {0};
    resize_filled(&src, &out, 3, 17, 23, f_random, 17, 23);
    cr_assert_eq(memcmp(src.data, out.data, sizeof(float) * 3 * 17 * 23), 0);
    fcl_image_free(&src);
    fcl_image_free(&out);
}

/* Halving alternating columns 0,1,0,1,...: PIL's antialiased bilinear (triangle of radius 2
 * input pixels centred at 2i+1) gives taps 1/8, 3/8, 3/8, 1/8 inside, so 1/2; the first output
 * sees taps (.75, .75, .25)/1.75 over 0,1,0 -> 3/7, the last (.25, .75, .75)/1.75 over 1,0,1 ->
 * 4/7. Plain (non-antialiased) bilinear would give 1/2 everywhere only by luck of the phase;
 * point sampling would give all 0 or all 1. */
Test(resize, downscale_columns_antialiased)
{
    fcl_image src = {0}, out = {0};
    resize_filled(&src, &out, 1, 6, 20, f_columns, 3, 10);
    for (int y = 0; y < 3; y++) {
        cr_assert_float_eq(at(&out, 0, y, 0), 3.0f / 7.0f, 1e-6f);
        for (int x = 1; x < 9; x++) cr_assert_float_eq(at(&out, 0, y, x), 0.5f, 1e-6f);
        cr_assert_float_eq(at(&out, 0, y, 9), 4.0f / 7.0f, 1e-6f);
    }
    fcl_image_free(&src);
    fcl_image_free(&out);
}

/* Shrinking by 4 averages with a wide triangle: a single bright pixel spreads over two outputs
 * and its mass is preserved (weights sum to 1 per output, each input contributes 1/4 in total
 * away from the edges). */
Test(resize, downscale_preserves_mean)
{
    fcl_image src = {0}, out = {0};
    resize_filled(&src, &out, 1, 64, 64, f_random, 16, 16);
    double ms = 0, mo = 0;
    for (int i = 0; i < 64 * 64; i++) ms += src.data[i];
    for (int i = 0; i < 16 * 16; i++) mo += out.data[i];
    ms /= 64 * 64;
    mo /= 16 * 16;
    cr_assert_float_eq(mo, ms, 0.01, "mean %f vs %f", mo, ms);
    fcl_image_free(&src);
    fcl_image_free(&out);
}

/* Doubling [0, 1]: half-pixel centres at 0.25, 0.75, 1.25, 1.75 -> 0, 0.25, 0.75, 1. */
Test(resize, upscale_is_bilinear)
{
    fcl_image src = {0}, out = {0};
    resize_filled(&src, &out, 1, 1, 2, f_columns, 1, 4); /* [0, 1] */
    const float want[4] = {0.0f, 0.25f, 0.75f, 1.0f};
    for (int x = 0; x < 4; x++) cr_assert_float_eq(out.data[x], want[x], 1e-6f, "x=%d: %f", x, out.data[x]);
    fcl_image_free(&src);
    fcl_image_free(&out);
}

Test(resize, bad_sizes)
{
    fcl_image src = {0}, out = {0};
    fcl_error err = {0};
    cr_assert_eq(fcl_image_alloc(&src, 1, 4, 4, &err), FCL_OK);
    cr_assert_eq(fcl_image_resize(&src, 0, 4, &out, &err), FCL_ERR_INVALID_ARG);
    cr_assert_eq(fcl_image_resize(&src, 4, 100000, &out, &err), FCL_ERR_INVALID_ARG);
    cr_assert_eq(fcl_image_resize(&src, 4, 4, &src, &err), FCL_ERR_INVALID_ARG);
    fcl_image_free(&src);
}

/* Decode throughput for 112 x 112 gray PNGs (the size networks train on), logged, not asserted
 * beyond a floor that catches a pathological regression. */
Test(decode_speed, png_112)
{
    membuf m = write_png(112, 112, PNG_COLOR_TYPE_GRAY, 8, 0, 0);
    struct timespec a, b;
    int n = 0;
    clock_gettime(CLOCK_MONOTONIC, &a);
    do {
        for (int i = 0; i < 100; i++, n++) {
            fcl_image im = {0};
            cr_assert_eq(fcl_image_decode_mem(m.p, m.n, "s.png", 0, &im, NULL), FCL_OK);
            fcl_image_free(&im);
        }
        clock_gettime(CLOCK_MONOTONIC, &b);
    } while ((double)(b.tv_sec - a.tv_sec) + 1e-9 * (double)(b.tv_nsec - a.tv_nsec) < 0.5);
    double s = (double)(b.tv_sec - a.tv_sec) + 1e-9 * (double)(b.tv_nsec - a.tv_nsec);
    cr_log_info("decode 112x112 gray PNG (%zu bytes): %.0f images/s", m.n, n / s);
    cr_assert_gt(n / s, 200.0);
    free(m.p);
}
