/* host/io/png_write.c: writes an fcl_image as an 8-bit gray/RGB PNG, atomically (temp + fsync + rename). */
#include <errno.h>
#include <math.h>
#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "facecl/image.h"
#include "io/atomic.h"
#include "io/png_write.h"

/* libpng reports errors through longjmp; the message is kept here so the caller can name it. */
typedef struct png_write_state {
    jmp_buf jmp;
    char msg[256];
} png_write_state;

static void on_png_error(png_structp png, png_const_charp msg)
{
    png_write_state *st = (png_write_state *)png_get_error_ptr(png);
    snprintf(st->msg, sizeof st->msg, "%s", msg ? msg : "unknown libpng error");
    longjmp(st->jmp, 1);
}

static void on_png_warning(png_structp png, png_const_charp msg)
{
    (void)png;
    (void)msg; /* warnings are not errors; the library never prints */
}

/* [0, 1] float -> 0..255 with rounding; NaN becomes 0 so a bad pixel cannot poison the file. */
static unsigned char to_u8(float v)
{
    if (!(v > 0.0f)) return 0;
    if (v >= 1.0f) return 255;
    return (unsigned char)lrintf(v * 255.0f);
}

/* Interleaves CHW floats into one row of HWC bytes. */
static void pack_row(const fcl_image *img, int y, unsigned char *row)
{
    const size_t plane = (size_t)img->h * (size_t)img->w;
    const float *src = img->data + (size_t)y * (size_t)img->w;
    for (int x = 0; x < img->w; x++)
        for (int c = 0; c < img->c; c++) row[(size_t)x * (size_t)img->c + (size_t)c] = to_u8(src[(size_t)c * plane + (size_t)x]);
}

/* Encodes into an already open FILE. Returns 0 or fills `msg`. Kept apart from the file handling
 * so that nothing setjmp-sensitive lives in the function that owns the file descriptors. */
static int encode_png(FILE *f, const fcl_image *img, unsigned char *row, char *msg, size_t msg_len)
{
    png_write_state st;
    st.msg[0] = '\0';
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &st, on_png_error, on_png_warning);
    if (!png) {
        snprintf(msg, msg_len, "png_create_write_struct failed");
        return -1;
    }
    png_infop info = png_create_info_struct(png);
    if (!info) {
        png_destroy_write_struct(&png, NULL);
        snprintf(msg, msg_len, "png_create_info_struct failed");
        return -1;
    }
    if (setjmp(st.jmp)) {
        png_destroy_write_struct(&png, &info);
        snprintf(msg, msg_len, "libpng: %s", st.msg);
        return -1;
    }
    png_init_io(png, f);
    png_set_IHDR(png, info, (png_uint_32)img->w, (png_uint_32)img->h, 8,
                 img->c == 1 ? PNG_COLOR_TYPE_GRAY : PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (int y = 0; y < img->h; y++) {
        pack_row(img, y, row);
        png_write_row(png, row);
    }
    png_write_end(png, info);
    png_destroy_write_struct(&png, &info);
    return 0;
}

fcl_status fcl_png_write(const char *path, const fcl_image *img, int durable, fcl_error *err)
{
    fcl_status st = FCL_OK;
    fcl_atomic_file af = {0};
    unsigned char *row = NULL;
    char msg[300];

    if (!path || !*path) return FCL_ERR(err, FCL_ERR_INVALID_ARG, "write PNG: empty path");
    if (!img || !img->data || (img->c != 1 && img->c != 3) || img->h <= 0 || img->w <= 0 ||
        img->h > 65535 || img->w > 65535)
        return FCL_ERR(err, FCL_ERR_INVALID_ARG,
                       "write PNG %s: need a 1- or 3-channel image of 1..65535 pixels a side, got %dx%dx%d",
                       path, img ? img->c : 0, img ? img->h : 0, img ? img->w : 0);

    row = malloc((size_t)img->w * (size_t)img->c);
    if (!row) {
        st = FCL_ERR(err, FCL_ERR_NOMEM, "write PNG %s: out of memory", path);
        goto fail;
    }
    if ((st = fcl_atomic_open(&af, path, err))) goto fail;
    af.no_sync = !durable; /* plots: atomic, without the fsyncs */
    errno = 0;
    if (encode_png(af.f, img, row, msg, sizeof msg) != 0) {
        char what[340];
        snprintf(what, sizeof what, "writing (%s)", msg);
        int e = errno; /* set when the stream's write failed (a full disk), 0 for libpng's own errors */
        st = e ? fcl_atomic_fail(&af, what, e, err) : FCL_ERR(err, FCL_ERR_IO, "writing %s: %s", path, msg);
        goto fail;
    }
    st = fcl_atomic_commit(&af, err);

fail:
    fcl_atomic_abort(&af);
    free(row);
    return st;
}

fcl_status fcl_image_write_png(const char *path, const fcl_image *img, fcl_error *err)
{
    return fcl_png_write(path, img, 1, err);
}
