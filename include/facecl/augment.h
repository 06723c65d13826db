/* facecl/augment.h: training-time augmentation of host images (CHW float), seeded, torchvision semantics. */
#ifndef FACECL_AUGMENT_H
#define FACECL_AUGMENT_H

#include "context.h"   /* fcl_rng */
#include "image.h"
#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- single operations ---------------------------------------------------------------------
 * Each takes the image and returns the result in *out (allocated by the call) unless it works
 * in place (marked). Random ones draw every choice from the caller's rng, so a given rng state
 * gives the same result on every machine and thread. */

/* In place: mirror left-right. */
void fcl_aug_hflip(fcl_image *img);

/* Crop rows [top, top+h) and columns [left, left+w); the window must lie inside the image. */
fcl_status fcl_aug_crop(const fcl_image *src, int top, int left, int h, int w, fcl_image *out,
                        fcl_error *err);

typedef enum fcl_pad_mode {
    FCL_PAD_ZERO = 0,      /* fill with 0 */
    FCL_PAD_REFLECT = 1    /* mirror without repeating the edge (numpy/torch "reflect"); pad < side */
} fcl_pad_mode;

/* Pads by `pad` on every side, then takes the src-sized window whose top-left corner is at
 * (top, left) of the padded image (0 <= top, left <= 2 pad): output pixel (y, x) is padded
 * pixel (y + top, x + left), i.e. source pixel (y + top - pad, x + left - pad). */
fcl_status fcl_aug_pad_crop(const fcl_image *src, int pad, fcl_pad_mode mode, int top, int left,
                            fcl_image *out, fcl_error *err);

/* torchvision RandomCrop(size of src, padding=pad, padding_mode): top, left uniform in [0, 2 pad]. */
fcl_status fcl_aug_random_pad_crop(const fcl_image *src, int pad, fcl_pad_mode mode, fcl_rng *rng,
                                   fcl_image *out, fcl_error *err);

/* torchvision RandomResizedCrop: up to 10 tries of area fraction ~ U(scale) and log aspect
 * ~ U(log ratio) (w = round(sqrt(area * aspect)), h = round(sqrt(area / aspect)), accepted if it
 * fits; position uniform), else the centre crop with the aspect clamped to `ratio`; then resized
 * to out_h x out_w with fcl_image_resize. The chosen window is returned in *box (top, left, h, w)
 * when box is not NULL. */
fcl_status fcl_aug_random_resized_crop(const fcl_image *src, int out_h, int out_w, const float scale[2],
                                       const float ratio[2], fcl_rng *rng, fcl_image *out, int box[4],
                                       fcl_error *err);

/* Rotation by `degrees` counter-clockwise about the image centre ((w-1)/2, (h-1)/2), bilinear,
 * outside filled with 0, same size (torchvision rotate, expand=False, fill=0). */
fcl_status fcl_aug_rotate(const fcl_image *src, float degrees, fcl_image *out, fcl_error *err);

/* In place, torchvision colour adjustments (results clamped to [0, 1]):
 *   brightness f: x * f
 *   contrast f:   x * f + (1 - f) * mean(gray(x))       (mean over the whole image)
 *   saturation f: x * f + (1 - f) * gray(x)             (a no-op on 1-channel images)
 * gray(x) = 0.2989 R + 0.587 G + 0.114 B. */
void fcl_aug_brightness(fcl_image *img, float f);
void fcl_aug_contrast(fcl_image *img, float f);
void fcl_aug_saturation(fcl_image *img, float f);

/* In place, torchvision ColorJitter(brightness, contrast, saturation): each factor drawn from
 * U[max(0, 1 - v), 1 + v] (v = 0 skips it), applied in a random order. */
void fcl_aug_color_jitter(fcl_image *img, float brightness, float contrast, float saturation,
                          fcl_rng *rng);

/* In place: every channel becomes gray(x) (3-channel images keep 3 channels; 1-channel: no-op). */
void fcl_aug_grayscale(fcl_image *img);

/* In place, torchvision RandomErasing: with probability p, up to 10 tries of an area fraction
 * ~ U(scale) and log aspect ~ U(log ratio) (h = round(sqrt(area * aspect)), w = round(sqrt(area /
 * aspect)), accepted if h < H and w < W), position uniform; the box gets `value` or, when
 * random_value, N(0, 1) noise per element. Returns 1 if something was erased (box in *box). */
int fcl_aug_random_erase(fcl_image *img, float p, const float scale[2], const float ratio[2],
                         float value, int random_value, fcl_rng *rng, int box[4]);

/* In place: x = (x - mean[c]) / std[c] for each channel c (mean/std hold img->c values). */
fcl_status fcl_aug_normalize(fcl_image *img, const float *mean, const float *std, fcl_error *err);

/* ---- pipelines ----------------------------------------------------------------------------- */

typedef enum fcl_aug_kind {
    FCL_AUG_RESIZE,       /* resize=S | resize=HxW                 */
    FCL_AUG_RRC,          /* rrc | rrc=smin:smax | rrc=smin:smax:rmin:rmax  (output = input size) */
    FCL_AUG_CROP,         /* crop=PAD | crop=PAD:reflect | crop=PAD:zero   (output = input size) */
    FCL_AUG_FLIP,         /* flip | flip=P                         */
    FCL_AUG_ROTATE,       /* rotate=DEG: angle ~ U(-DEG, DEG)      */
    FCL_AUG_JITTER,       /* jitter=B:C:S | jitter=V (all three)   */
    FCL_AUG_GRAY,         /* gray | gray=P                         */
    FCL_AUG_ERASE,        /* erase=P | erase=P:random | erase=P:VALUE */
    FCL_AUG_NORM          /* norm=M:S (all channels) | norm=M1:M2:M3:S1:S2:S3 */
} fcl_aug_kind;

typedef struct fcl_aug_step {
    fcl_aug_kind kind;
    float p;                   /* probability (flip, gray, erase) */
    int h, w;                  /* resize */
    int pad;                   /* crop */
    fcl_pad_mode pad_mode;
    float scale[2], ratio[2];  /* rrc, erase */
    float degrees;             /* rotate */
    float jitter[3];           /* brightness, contrast, saturation */
    float value;               /* erase fill */
    int random_value;          /* erase with N(0, 1) noise */
    int n_norm;                /* 1 (same for all channels) or 3 */
    float mean[3], std[3];
} fcl_aug_step;

#define FCL_AUG_MAX_STEPS 16

/* An ordered list of steps, applied in order (like torchvision Compose). */
typedef struct fcl_aug_pipeline {
    int n;
    fcl_aug_step steps[FCL_AUG_MAX_STEPS];
} fcl_aug_pipeline;

/* Parses "flip,crop=4,jitter=0.2:0.2:0.2,erase=0.25,rotate=10" (the grammar is in fcl_aug_kind;
 * "" or "none" is the empty pipeline). Unknown tokens, bad numbers and out-of-range values are
 * FCL_ERR_INVALID_ARG naming the token. */
fcl_status fcl_aug_parse(const char *spec, fcl_aug_pipeline *out, fcl_error *err);

/* Writes the canonical text of a pipeline (parses back to the same pipeline). */
void fcl_aug_format(const fcl_aug_pipeline *p, char *buf, size_t len);

/* Applies every step to *img in order; *img is replaced when a step changes its size. A
 * norm step whose channel count does not match the image is an error. */
fcl_status fcl_aug_apply(const fcl_aug_pipeline *p, fcl_image *img, fcl_rng *rng, fcl_error *err);

#ifdef __cplusplus
}
#endif
#endif
