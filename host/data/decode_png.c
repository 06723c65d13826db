/* host/data/decode_png.c: PNG (any bit depth, colour type, interlace) to float CHW through libpng. */
#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/decode_internal.h"

/* Everything the libpng callbacks and the longjmp path need. It lives in fcl_decode_png's
 * frame and decode() only touches it through a pointer, so nothing decode() changes after
 * setjmp is a local of the function that called setjmp (whose values longjmp may lose). */
typedef struct png_state {
    const unsigned char *buf;
    size_t len, pos;
    const char *name;
    int channels;
    const fcl_decode_limits *lim;
    png_structp png;
    png_infop info;
    unsigned char *pixels;   /* h x rowbytes, interleaved as libpng delivers them */
    png_bytep *rows;
    fcl_image *out;
    char msg[256];           /* libpng's error message, or ours */
} png_state;

static void on_error(png_structp png, png_const_charp msg)
{
    png_state *s = png_get_error_ptr(png);
    snprintf(s->msg, sizeof s->msg, "%s", msg ? msg : "unknown libpng error");
    png_longjmp(png, 1);
}

/* libpng warns about things it recovers from (bad ancillary CRC, unknown sRGB profile):
 * the library does not print, and the pixels are fine, so they are dropped. */
static void on_warning(png_structp png, png_const_charp msg)
{
    (void)png;
    (void)msg;
}

static void on_read(png_structp png, png_bytep data, size_t n)
{
    png_state *s = png_get_io_ptr(png);
    if (n > s->len - s->pos) {
        /* png_error longjmps: the message says what happened in terms a user understands. */
        png_error(png, "truncated PNG (the file ends before the image data does)");
    }
    memcpy(data, s->buf + s->pos, n);
    s->pos += n;
}

static unsigned long be32(const unsigned char *p)
{
    return ((unsigned long)p[0] << 24) | ((unsigned long)p[1] << 16) | ((unsigned long)p[2] << 8) |
           (unsigned long)p[3];
}

/* Returns 0 on success, 1 on a libpng error (message in s->msg), 2 on an error of ours
 * (message in s->msg too), 3 on out-of-memory. */
static int decode(png_state *s)
{
    if (setjmp(png_jmpbuf(s->png))) return 1;
    png_set_read_fn(s->png, s, on_read);
    /* Our own limit is checked below with a clear message; libpng's is only a backstop. */
    png_set_user_limits(s->png, 0x7fffffffL, 0x7fffffffL);
    if (s->lim->ignore_png_crc) {
        png_set_crc_action(s->png, PNG_CRC_QUIET_USE, PNG_CRC_QUIET_USE);
#ifdef PNG_IGNORE_ADLER32
        png_set_option(s->png, PNG_IGNORE_ADLER32, PNG_OPTION_ON);
#endif
    }
    png_read_info(s->png, s->info);

    png_uint_32 w = 0, h = 0;
    int depth = 0, ctype = 0, interlace = 0;
    png_get_IHDR(s->png, s->info, &w, &h, &depth, &ctype, &interlace, NULL, NULL);
    const char *why = fcl_image_dims_problem((long)w, (long)h, s->lim);
    if (why) {
        snprintf(s->msg, sizeof s->msg, "absurd PNG dimensions %lu x %lu (W x H): %s (%ld per side, %ld pixels)",
                 (unsigned long)w, (unsigned long)h, why, s->lim->max_side, s->lim->max_pixels);
        return 2;
    }

    if (ctype == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(s->png);
    if ((ctype == PNG_COLOR_TYPE_GRAY || ctype == PNG_COLOR_TYPE_GRAY_ALPHA) && depth < 8)
        png_set_expand_gray_1_2_4_to_8(s->png);
    png_set_interlace_handling(s->png);
    png_read_update_info(s->png, s->info);

    const int src_ch = png_get_channels(s->png, s->info);
    const int out_depth = png_get_bit_depth(s->png, s->info);
    const size_t rowbytes = png_get_rowbytes(s->png, s->info);
    if (src_ch < 1 || src_ch > 4 || (out_depth != 8 && out_depth != 16) ||
        rowbytes < (size_t)w * (size_t)src_ch * (size_t)(out_depth / 8)) {
        snprintf(s->msg, sizeof s->msg, "unsupported PNG layout after expansion (%d channels, %d bits)",
                 src_ch, out_depth);
        return 2;
    }
    /* Deflate cannot compress better than about 1032:1, so a file this short cannot hold
     * the image: refuse before allocating (a crafted header can claim 16384 x 16384). */
    const double raw = (double)h * (double)(rowbytes + 1);
    if (raw > 1100.0 * (double)s->len + 65536.0) {
        snprintf(s->msg, sizeof s->msg,
                 "truncated PNG (%zu bytes cannot hold a %lu x %lu image)", s->len,
                 (unsigned long)w, (unsigned long)h);
        return 2;
    }

    s->pixels = malloc(rowbytes * (size_t)h);
    s->rows = malloc(sizeof(png_bytep) * (size_t)h);
    if (!s->pixels || !s->rows) return 3;
    for (png_uint_32 y = 0; y < h; y++) s->rows[y] = s->pixels + (size_t)y * rowbytes;
    png_read_image(s->png, s->rows);
    /* Reads the chunks after the image up to IEND, so a file cut after its pixel data is
     * still reported as truncated. */
    png_read_end(s->png, NULL);

    const int colour = src_ch >= 3;
    if (fcl_image_alloc(s->out, fcl_image_out_channels(colour, s->channels), (int)h, (int)w, NULL))
        return 3;
    for (png_uint_32 y = 0; y < h; y++)
        fcl_image_put_row(s->out, (int)y, s->rows[y], src_ch, out_depth == 16);
    return 0;
}

fcl_status fcl_decode_png(const unsigned char *buf, size_t len, const char *name, int channels,
                          const fcl_decode_limits *lim, fcl_image *out, fcl_error *err)
{
    fcl_status st = FCL_OK;
    png_state s = {0};
    s.buf = buf;
    s.len = len;
    s.name = name;
    s.channels = channels;
    s.lim = lim;
    s.out = out;

    /* The first chunk of a PNG must be IHDR: check its size before libpng reads anything. */
    if (len >= 24 && !memcmp(buf + 12, "IHDR", 4)) {
        unsigned long w = be32(buf + 16), h = be32(buf + 20);
        const char *why = fcl_image_dims_problem((long)(w > 0x7fffffffUL ? 0x7fffffffUL : w),
                                                 (long)(h > 0x7fffffffUL ? 0x7fffffffUL : h), lim);
        if (why) {
            st = FCL_ERR(err, FCL_ERR_FORMAT,
                         "%s: absurd PNG dimensions %lu x %lu (W x H): %s (%ld per side, %ld pixels)",
                         name, w, h, why, lim->max_side, lim->max_pixels);
            goto fail;
        }
    }

    s.png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &s, on_error, on_warning);
    if (!s.png) {
        st = FCL_ERR(err, FCL_ERR_NOMEM, "%s: cannot create a libpng reader", name);
        goto fail;
    }
    s.info = png_create_info_struct(s.png);
    if (!s.info) {
        st = FCL_ERR(err, FCL_ERR_NOMEM, "%s: cannot create a libpng info struct", name);
        goto fail;
    }
    switch (decode(&s)) {
    case 0: break;
    case 3: st = FCL_ERR(err, FCL_ERR_NOMEM, "%s: out of memory decoding PNG", name); goto fail;
    default:
        /* libpng's own messages for cut files ("Read Error", "Not enough image data") are
         * vague; ours already say "truncated". */
        if (!strncmp(s.msg, "truncated", 9) || !strncmp(s.msg, "absurd", 6) ||
            !strncmp(s.msg, "unsupported", 11))
            st = FCL_ERR(err, FCL_ERR_FORMAT, "%s: %s", name, s.msg);
        else
            st = FCL_ERR(err, FCL_ERR_FORMAT, "%s: corrupt PNG: %s", name, s.msg);
        goto fail;
    }
fail:
    if (st) fcl_image_free(out);
    if (s.png) png_destroy_read_struct(&s.png, s.info ? &s.info : NULL, NULL);
    free(s.rows);
    free(s.pixels);
    return st;
}
