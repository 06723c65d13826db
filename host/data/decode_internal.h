/* host/data/decode_internal.h: what the PNG/JPEG decoders share with the image front end (private). */
#ifndef FACECL_DATA_DECODE_INTERNAL_H
#define FACECL_DATA_DECODE_INTERNAL_H

#include <stddef.h>
#include <facecl/image.h>

/* Largest side and pixel count a decoder accepts; checked from the header before any
 * pixel buffer is allocated (a 16384 x 16384 RGB float image is already 3 GiB). */
#define FCL_IMAGE_MAX_SIDE 16384
#define FCL_IMAGE_MAX_PIXELS (1L << 28)
/* Files larger than this are refused before being read into memory. */
#define FCL_IMAGE_MAX_FILE_BYTES (1L << 30)
/* A progressive JPEG with more scans than this is refused (real files have about ten; the
 * limit keeps crafted files from taking minutes). */
#define FCL_JPEG_MAX_SCANS 500

/* Decoder limits; fcl_image_decode_mem uses {FCL_IMAGE_MAX_SIDE, FCL_IMAGE_MAX_PIXELS}. The
 * fuzz targets pass smaller ones so that a header claiming a legal but huge image cannot
 * exhaust the fuzzer's memory budget. */
typedef struct fcl_decode_limits {
    long max_side;
    long max_pixels;
    /* Fuzz targets only: accept PNG chunks with a wrong CRC (as libpng's own fuzzer does), so
     * mutated inputs reach the chunk and pixel code instead of stopping at the checksum. */
    int ignore_png_crc;
} fcl_decode_limits;

typedef enum fcl_image_kind {
    FCL_IMAGE_UNKNOWN = 0,
    FCL_IMAGE_PNG,
    FCL_IMAGE_JPEG
} fcl_image_kind;

/* Format from the first bytes (PNG signature, JPEG SOI marker). */
fcl_image_kind fcl_image_sniff(const unsigned char *buf, size_t len);

/* fcl_image_decode_mem with explicit limits. */
fcl_status fcl_image_decode_mem_limited(const void *buf, size_t len, const char *name, int channels,
                                        const fcl_decode_limits *lim, fcl_image *out,
                                        fcl_error *err);

/* The decoders: `buf` holds the whole file, `name` is used in messages, `channels` is 0, 1
 * or 3 (validated by the caller). On failure *out is left empty. */
fcl_status fcl_decode_png(const unsigned char *buf, size_t len, const char *name, int channels,
                          const fcl_decode_limits *lim, fcl_image *out, fcl_error *err);
fcl_status fcl_decode_jpeg(const unsigned char *buf, size_t len, const char *name, int channels,
                           const fcl_decode_limits *lim, fcl_image *out, fcl_error *err);

/* Returns NULL when w x h is acceptable, else a static reason ("width 0", ...). */
const char *fcl_image_dims_problem(long w, long h, const fcl_decode_limits *lim);

/* Output channel count for a file with `file_colour` (0 gray, 1 colour) and a requested
 * `channels` (0 keep, 1, 3). */
int fcl_image_out_channels(int file_colour, int channels);

/* Stores row y of an interleaved decoded image into out (c 1 or 3). The row has `src_ch`
 * samples per pixel (1 gray, 2 gray+alpha, 3 RGB, 4 RGBA; alpha is ignored), 8-bit samples,
 * or 16-bit big-endian samples when `sixteen`. Gray to 3 channels replicates; colour to 1
 * channel is 0.299 R + 0.587 G + 0.114 B (PIL "L"). */
void fcl_image_put_row(fcl_image *out, int y, const unsigned char *row, int src_ch, int sixteen);

#endif
