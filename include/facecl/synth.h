/* facecl/synth.h: synthetic faces (the built-in data): random identities, rendered variations, datasets. */
#ifndef FACECL_SYNTH_H
#define FACECL_SYNTH_H

#include <stddef.h>
#include <stdint.h>
#include "context.h"   /* fcl_rng */
#include "image.h"
#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One identity: the facial parameters that stay fixed across its images. Coordinates are in
 * "face units": the face ellipse is centred on (0, 0), about 1 unit in half-height, y down. */
typedef struct fcl_synth_identity {
    float face_rx, face_ry;        /* face ellipse half axes */
    float jaw;                     /* lower-half width factor (< 1: narrow chin, > 1: square jaw) */
    float skin[3];                 /* RGB in [0, 1] */
    float eye_dx, eye_y;           /* half the eye spacing; eye height */
    float eye_w, eye_h;            /* eye half width; open-eye half height */
    float iris[3];                 /* iris colour */
    float brow_dy, brow_len, brow_thick, brow_angle, brow_arch; /* brows: gap above eye, half
                                                                   length, thickness, tilt (rad,
                                                                   + raises the outer end), arch */
    float nose_len, nose_w;        /* tip below the eye line; half width of the nostrils */
    float mouth_y, mouth_w, mouth_curve, lip_thick; /* mouth line, half width, smile (+) */
    float lip[3];                  /* lip colour */
    int hair_style;                /* 0 short, 1 fringe, 2 side part, 3 long, 4 receding, 5 buzz,
                                      6 curly volume, 7 bald */
    float hair[3];                 /* hair colour */
    float hairline, hair_volume, hair_part; /* hairline height, thickness above the head, part slant */
    int glasses;                   /* 0 none, 1 round, 2 rectangular, 3 sunglasses */
    float glasses_col[3];
    int beard;                     /* 0 none, 1 stubble, 2 full, 3 goatee, 4 moustache */
    int n_moles;
    float mole_x[3], mole_y[3], mole_r[3];
    float ear_size;
} fcl_synth_identity;

/* One image of an identity: pose, scale, lighting, expression, degradations, background. */
typedef struct fcl_synth_variation {
    float yaw;                     /* radians, + turns the face to the image's right */
    float roll;                    /* radians, in-plane rotation */
    float scale;                   /* face half-height as a fraction of the image half-size */
    float dx, dy;                  /* face centre offset, in image half-sizes */
    float light_dir[3];            /* unit vector toward the light (x right, y down, z viewer) */
    float ambient, diffuse, exposure;
    float bg_grad;                 /* background brightness gradient strength */
    float smile;                   /* added to the identity's mouth curve */
    float mouth_open;              /* 0 closed .. ~0.06 open */
    float eye_open;                /* eye openness factor (1 = the identity's usual) */
    float brow_raise;              /* moves both brows up (face units) */
    float blur;                    /* Gaussian sigma in pixels of a 64-pixel image (0: none) */
    float noise;                   /* Gaussian pixel noise sigma (0: none) */
    int wear_glasses;              /* 0: glasses of the identity are off for this image */
    int occluder;                  /* 0 none, 1 rectangle, 2 hand */
    float occ_x, occ_y, occ_w, occ_h, occ_angle; /* occluder box in face units */
    float occ_col[3];
    float bg[3], bg2[3];           /* background colour and the colour of background clutter */
    int n_clutter;                 /* 0..3 soft background shapes */
    float clutter[3][4];           /* x, y, rx, ry in image half-sizes */
    float shirt[3];                /* clothing colour */
} fcl_synth_variation;

/* Draws a random identity. */
void fcl_synth_identity_sample(fcl_rng *rng, fcl_synth_identity *id);

/* Draws a random variation. difficulty scales the pose/lighting/degradation ranges (1 = the
 * default; 0 = canonical frontal images; up to 2). */
void fcl_synth_variation_sample(fcl_rng *rng, const fcl_synth_identity *id, float difficulty,
                                fcl_synth_variation *var);

/* Renders one image of size x size with 1 (gray) or 3 (RGB) channels into *out, which the call
 * allocates (fcl_image_alloc; free with fcl_image_free). rng supplies the pixel noise. Shapes are
 * signed-distance functions with analytic-coverage antialiasing, so the result has no jaggies. */
fcl_status fcl_synth_render(const fcl_synth_identity *id, const fcl_synth_variation *var, int size,
                            int channels, fcl_rng *rng, fcl_image *out, fcl_error *err);

/* Seed of the RNG for identity `ident` of a set: set 0 = training identities, 1 = unseen. The
 * image RNG of image j is fcl_synth_seed(seed, set, ident, j + 1) (j + 1 so image 0 differs from
 * the identity stream). Exposed so that in-memory sources and the files agree bit for bit. */
uint64_t fcl_synth_seed(uint64_t seed, int set, uint64_t ident, uint64_t image);

/* Renders image j of identity `ident` of `set` exactly as the dataset writer does. */
fcl_status fcl_synth_render_indexed(uint64_t seed, int set, int ident, int image, int size,
                                    int channels, float difficulty, fcl_image *out, fcl_error *err);

/* ---- datasets ------------------------------------------------------------------------------ */

typedef struct fcl_synth_opts {
    int ids;            /* training identities (>= 1) */
    int per_id;         /* images per identity (>= 1) */
    int size;           /* image side in pixels (16..1024) */
    int channels;       /* 1 (gray) or 3 */
    uint64_t seed;
    float val_frac;     /* fraction of each training identity's images that go to val/ */
    int unseen_ids;     /* identities never used for training (unseen/), for verification */
    int pairs;          /* pairs over unseen identities (half same, half different) */
    float difficulty;   /* see fcl_synth_variation_sample, in [0, 2] */
} fcl_synth_opts;

/* ids 100, per_id 20, size 64, channels 3, seed 1, val_frac 0.2, unseen_ids 20, pairs 400,
 * difficulty 1. */
void fcl_synth_opts_default(fcl_synth_opts *o);

/* Called after each image; return nonzero to cancel (the writer then fails with FCL_ERR_IO
 * "cancelled"). */
typedef int (*fcl_synth_progress_fn)(void *user, size_t done, size_t total);

/* Writes a dataset into `out_dir` (created; it must not exist or be empty):
 *   train/<id>/<j>.png, val/<id>/<j>.png   ImageFolder layout, identities id0000..
 *   unseen/<id>/<j>.png                    other identities, u0000..
 *   pairs.txt                              "path1 path2 label" (1 same, 0 different), relative to out_dir
 *   pairs_unlabelled.txt                   the same pairs as "path1 path2"
 *   README.txt                             what was generated and how to regenerate it
 * Every file is determined by the options (same seed: byte-identical files). Images are synced
 * to disk once at the end and README.txt is written last: a folder without it is incomplete
 * (a failed or cancelled run). Options (including whether the pairs can be made) are checked
 * before anything is written. */
fcl_status fcl_synth_write_dataset(const char *out_dir, const fcl_synth_opts *o,
                                   fcl_synth_progress_fn progress, void *user, fcl_error *err);

/* Renders a rows x cols grid (row r = training identity r, columns its first images) with a
 * 2-pixel gap into *out (allocated by the call). */
fcl_status fcl_synth_preview(const fcl_synth_opts *o, int rows, int cols, fcl_image *out,
                             fcl_error *err);

/* ---- in-memory source ---------------------------------------------------------------------- */

/* Renders the training identities' images on demand, without files: index i is image i % per_id
 * of identity i / per_id (label i / per_id), identical to train/ and val/ images of the writer. */
typedef struct fcl_synth_source {
    int ids, per_id, size, channels;
    uint64_t seed;
    float difficulty;
} fcl_synth_source;

/* Matches fcl_loader_get_fn (facecl/loader.h): thread-safe, `user` is a fcl_synth_source*.
 * `channels` 0 means the source's own. */
fcl_status fcl_synth_source_get(void *user, size_t index, int channels, fcl_image *out, int *label,
                                fcl_error *err);

#ifdef __cplusplus
}
#endif
#endif
