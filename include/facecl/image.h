/* facecl/image.h: host images (float CHW in [0,1]): decoding PNG/JPEG, resizing, writing PNG. */
#ifndef FACECL_IMAGE_H
#define FACECL_IMAGE_H

#include <stddef.h>
#include <stdint.h>
#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A decoded image: c planes of h x w floats in [0, 1] (CHW, row-major), malloc'd. */
typedef struct fcl_image {
    int c, h, w;
    float *data;
} fcl_image;

fcl_status fcl_image_alloc(fcl_image *img, int c, int h, int w, fcl_error *err);
void fcl_image_free(fcl_image *img);

/* Decodes a PNG or JPEG (detected by content, not extension). channels: 0 keeps the file's
 * (gray 1, colour 3; alpha dropped), 1 converts colour to luminance, 3 replicates gray.
 * Errors name the file and say what is wrong (not an image, truncated, absurd size, ...). */
fcl_status fcl_image_decode_file(const char *path, int channels, fcl_image *out, fcl_error *err);
/* Reads only the header (PNG IHDR, JPEG frame header): channels (1 or 3), height and width, or
 * an error naming the file (empty, not a PNG or JPEG, truncated header, zero size). Fast: a
 * dataset's files are checked before training without decoding them (probe.c). */
fcl_status fcl_image_probe_file(const char *path, int *c, int *h, int *w, fcl_error *err);
fcl_status fcl_image_decode_mem(const void *buf, size_t len, const char *name, int channels,
                                fcl_image *out, fcl_error *err);

/* Bilinear resize to h x w (antialiased when shrinking, like PIL / torchvision antialias=True). */
fcl_status fcl_image_resize(const fcl_image *src, int h, int w, fcl_image *out, fcl_error *err);

/* Writes an 8-bit PNG (gray for c == 1, RGB for c == 3), atomically (temp file + rename). */
fcl_status fcl_image_write_png(const char *path, const fcl_image *img, fcl_error *err);

#ifdef __cplusplus
}
#endif
#endif
