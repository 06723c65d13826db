/* host/data/decode_jpeg.c: JPEG (baseline, progressive; gray, YCbCr/RGB, CMYK) to float CHW through libjpeg-turbo. */
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <jerror.h>

#include "data/decode_internal.h"

/* The error manager: libjpeg's default error_exit prints and calls exit(); ours formats the
 * message into `msg` and longjmps back to decode(). */
typedef struct jpeg_err {
    struct jpeg_error_mgr pub;
    jmp_buf jump;
    char msg[JMSG_LENGTH_MAX + 64];
} jpeg_err;

/* State shared with the callbacks and the error path. It lives in fcl_decode_jpeg's frame and
 * decode() reaches it only through a pointer, so nothing decode() modifies after setjmp is a
 * local of the function that called setjmp. */
typedef struct jpeg_state {
    struct jpeg_decompress_struct cinfo;
    jpeg_err jerr;
    struct jpeg_progress_mgr progress;
    int created;
    int channels;
    const fcl_decode_limits *lim;
    unsigned char *row;     /* one decoded scanline */
    unsigned char *rgb;     /* CMYK converted to RGB */
    fcl_image *out;
    char why[256];          /* our own reason (dimensions, scans) */
} jpeg_state;

static void on_error_exit(j_common_ptr cinfo)
{
    jpeg_err *e = (jpeg_err *)cinfo->err;
    char buf[JMSG_LENGTH_MAX];
    buf[0] = '\0';
    (*cinfo->err->format_message)(cinfo, buf);
    snprintf(e->msg, sizeof e->msg, "%s", buf);
    longjmp(e->jump, 1);
}

/* libjpeg reports a file cut short (or damaged entropy data) only as a warning and fills the
 * rest of the image with gray; for a dataset that silently corrupts training data, so those
 * warnings are errors. Other warnings (extraneous bytes between markers, ...) are ignored:
 * the library does not print. */
static void on_emit_message(j_common_ptr cinfo, int level)
{
    if (level >= 0) return;
    const int code = cinfo->err->msg_code;
    if (code == JWRN_JPEG_EOF || code == JWRN_HIT_MARKER || code == JWRN_MUST_RESYNC) {
        jpeg_err *e = (jpeg_err *)cinfo->err;
        char buf[JMSG_LENGTH_MAX];
        buf[0] = '\0';
        (*cinfo->err->format_message)(cinfo, buf);
        snprintf(e->msg, sizeof e->msg, "%s%s", code == JWRN_JPEG_EOF ? "truncated JPEG: " : "", buf);
        longjmp(e->jump, 1);
    }
}

static void on_output_message(j_common_ptr cinfo)
{
    (void)cinfo;
}

static void on_progress(j_common_ptr cinfo)
{
    if (cinfo->is_decompressor) {
        j_decompress_ptr d = (j_decompress_ptr)cinfo;
        if (d->input_scan_number > FCL_JPEG_MAX_SCANS) {
            jpeg_err *e = (jpeg_err *)cinfo->err;
            snprintf(e->msg, sizeof e->msg, "progressive JPEG with more than %d scans refused",
                     FCL_JPEG_MAX_SCANS);
            longjmp(e->jump, 1);
        }
    }
}

/* Returns 0 on success, 1 on a libjpeg error (message in jerr.msg), 2 on ours (s->why),
 * 3 on out-of-memory. */
static int decode(jpeg_state *s, const unsigned char *buf, size_t len)
{
    struct jpeg_decompress_struct *ci = &s->cinfo;
    if (setjmp(s->jerr.jump)) return 1;
    /* Set first: a failing create leaves cinfo->mem NULL, which destroy checks. */
    s->created = 1;
    jpeg_create_decompress(ci);
    s->progress.progress_monitor = on_progress;
    ci->progress = &s->progress;
    jpeg_mem_src(ci, buf, (unsigned long)len);
    jpeg_read_header(ci, TRUE);

    const char *why = fcl_image_dims_problem((long)ci->image_width, (long)ci->image_height, s->lim);
    if (why) {
        snprintf(s->why, sizeof s->why,
                 "absurd JPEG dimensions %u x %u (W x H): %s (%ld per side, %ld pixels)",
                 ci->image_width, ci->image_height, why, s->lim->max_side, s->lim->max_pixels);
        return 2;
    }
    int colour, cmyk = 0;
    switch (ci->jpeg_color_space) {
    case JCS_GRAYSCALE: ci->out_color_space = JCS_GRAYSCALE; colour = 0; break;
    case JCS_CMYK:
    case JCS_YCCK: ci->out_color_space = JCS_CMYK; colour = 1; cmyk = 1; break;
    default: ci->out_color_space = JCS_RGB; colour = 1; break;
    }
    /* Accurate IDCT and fancy upsampling (the libjpeg defaults, also what PIL uses). */
    ci->dct_method = JDCT_ISLOW;
    jpeg_start_decompress(ci);
    const int comps = ci->output_components;
    if ((int)ci->output_width != (int)ci->image_width || (comps != 1 && comps != 3 && comps != 4) ||
        (comps == 4) != cmyk) {
        snprintf(s->why, sizeof s->why, "unsupported JPEG layout (%d components)", comps);
        return 2;
    }
    const int w = (int)ci->output_width, h = (int)ci->output_height;
    s->row = malloc((size_t)w * (size_t)comps);
    if (cmyk) s->rgb = malloc((size_t)w * 3);
    if (!s->row || (cmyk && !s->rgb)) return 3;
    if (fcl_image_alloc(s->out, fcl_image_out_channels(colour, s->channels), h, w, NULL)) return 3;
    while (ci->output_scanline < ci->output_height) {
        const int y = (int)ci->output_scanline;
        JSAMPROW rp = s->row;
        if (jpeg_read_scanlines(ci, &rp, 1) != 1) {
            snprintf(s->why, sizeof s->why, "truncated JPEG (no data for row %d of %d)", y, h);
            return 2;
        }
        if (cmyk) {
            /* Adobe writes CMYK inverted (255 = no ink), which is what libjpeg hands back for
             * Adobe files and what PIL assumes: R = C * K / 255, ... */
            for (int x = 0; x < w; x++) {
                const unsigned char *p = s->row + (size_t)x * 4;
                for (int k = 0; k < 3; k++)
                    s->rgb[(size_t)x * 3 + (size_t)k] = (unsigned char)((p[k] * p[3] + 127) / 255);
            }
            fcl_image_put_row(s->out, y, s->rgb, 3, 0);
        } else {
            fcl_image_put_row(s->out, y, s->row, comps, 0);
        }
    }
    jpeg_finish_decompress(ci);
    return 0;
}

fcl_status fcl_decode_jpeg(const unsigned char *buf, size_t len, const char *name, int channels,
                           const fcl_decode_limits *lim, fcl_image *out, fcl_error *err)
{
    fcl_status st = FCL_OK;
    jpeg_state *s = calloc(1, sizeof *s);
    if (!s) return FCL_ERR(err, FCL_ERR_NOMEM, "%s: out of memory", name);
    s->channels = channels;
    s->lim = lim;
    s->out = out;
    s->cinfo.err = jpeg_std_error(&s->jerr.pub);
    s->jerr.pub.error_exit = on_error_exit;
    s->jerr.pub.emit_message = on_emit_message;
    s->jerr.pub.output_message = on_output_message;
    if (len > 0xffffffffUL) {
        st = FCL_ERR(err, FCL_ERR_FORMAT, "%s: JPEG file too large (%zu bytes)", name, len);
        goto fail;
    }
    switch (decode(s, buf, len)) {
    case 0: break;
    case 1:
        if (!strncmp(s->jerr.msg, "truncated", 9) || !strncmp(s->jerr.msg, "progressive", 11))
            st = FCL_ERR(err, FCL_ERR_FORMAT, "%s: %s", name, s->jerr.msg);
        else
            st = FCL_ERR(err, FCL_ERR_FORMAT, "%s: corrupt JPEG: %s", name, s->jerr.msg);
        goto fail;
    case 2: st = FCL_ERR(err, FCL_ERR_FORMAT, "%s: %s", name, s->why); goto fail;
    default: st = FCL_ERR(err, FCL_ERR_NOMEM, "%s: out of memory decoding JPEG", name); goto fail;
    }
fail:
    if (st) fcl_image_free(out);
    if (s->created) jpeg_destroy_decompress(&s->cinfo);
    free(s->row);
    free(s->rgb);
    free(s);
    return st;
}
