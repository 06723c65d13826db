/* host/data/synth_dataset.c: synthetic face datasets on disk (ImageFolder + pair lists), previews, in-memory source. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "facecl/synth.h"
#include "io/atomic.h"
#include "io/png_write.h"
#include "io/textbuf.h"

#define SET_TRAIN 0
#define SET_UNSEEN 1

static uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

uint64_t fcl_synth_seed(uint64_t seed, int set, uint64_t ident, uint64_t image)
{
    uint64_t x = mix64(seed + 0x9e3779b97f4a7c15ull * (uint64_t)(set + 1));
    x = mix64(x ^ (ident * 0xd1b54a32d192ed03ull + 0x8cb92ba72f3d8dd7ull));
    return mix64(x + image * 0xaef17502108ef2d9ull + 0x632be59bd9b4e019ull);
}

static void identity_of(uint64_t seed, int set, int ident, fcl_synth_identity *id)
{
    fcl_rng r;
    fcl_rng_seed(&r, fcl_synth_seed(seed, set, (uint64_t)ident, 0));
    fcl_synth_identity_sample(&r, id);
}

/* Image j of an identity: the variation and the pixel noise come from the image's own stream. */
static fcl_status render_image(uint64_t seed, int set, int ident, const fcl_synth_identity *id,
                               int image, int size, int channels, float difficulty, fcl_image *out,
                               fcl_error *err)
{
    fcl_rng r;
    fcl_synth_variation v;
    fcl_rng_seed(&r, fcl_synth_seed(seed, set, (uint64_t)ident, (uint64_t)image + 1));
    fcl_synth_variation_sample(&r, id, difficulty, &v);
    return fcl_synth_render(id, &v, size, channels, &r, out, err);
}

fcl_status fcl_synth_render_indexed(uint64_t seed, int set, int ident, int image, int size,
                                    int channels, float difficulty, fcl_image *out, fcl_error *err)
{
    if (ident < 0 || image < 0 || (set != SET_TRAIN && set != SET_UNSEEN))
        return FCL_ERR(err, FCL_ERR_INVALID_ARG, "fcl_synth_render_indexed: bad set %d / identity %d / image %d",
                       set, ident, image);
    fcl_synth_identity id;
    identity_of(seed, set, ident, &id);
    return render_image(seed, set, ident, &id, image, size, channels, difficulty, out, err);
}

void fcl_synth_opts_default(fcl_synth_opts *o)
{
    static const fcl_synth_opts defaults = {
        .ids = 100,
        .per_id = 20,
        .size = 64,
        .channels = 3,
        .seed = 1,
        .val_frac = 0.2f,
        .unseen_ids = 20,
        .pairs = 400,
        .difficulty = 1.0f,
    };
    *o = defaults;
}

static fcl_status check_opts(const fcl_synth_opts *o, fcl_error *err)
{
    if (!o) return FCL_ERR(err, FCL_ERR_INVALID_ARG, "synth: NULL options");
    if (o->ids < 1 || o->ids > 1000000)
        return FCL_ERR(err, FCL_ERR_INVALID_ARG, "synth: --ids must be in 1..1000000, got %d", o->ids);
    if (o->per_id < 1 || o->per_id > 100000)
        return FCL_ERR(err, FCL_ERR_INVALID_ARG, "synth: --per-id must be in 1..100000, got %d", o->per_id);
    if (o->size < 16 || o->size > 1024)
        return FCL_ERR(err, FCL_ERR_INVALID_ARG, "synth: --size must be in 16..1024, got %d", o->size);
    if (o->channels != 1 && o->channels != 3)
        return FCL_ERR(err, FCL_ERR_INVALID_ARG, "synth: channels must be 1 or 3, got %d", o->channels);
    if (!(o->val_frac >= 0.0f && o->val_frac < 1.0f))
        return FCL_ERR(err, FCL_ERR_INVALID_ARG, "synth: --val-frac must be in [0, 1), got %g", (double)o->val_frac);
    if (o->unseen_ids < 0 || o->unseen_ids > 1000000)
        return FCL_ERR(err, FCL_ERR_INVALID_ARG, "synth: --unseen-ids must be in 0..1000000, got %d", o->unseen_ids);
    if (o->pairs < 0 || o->pairs > 10000000)
        return FCL_ERR(err, FCL_ERR_INVALID_ARG, "synth: --pairs must be in 0..10000000, got %d", o->pairs);
    if (!(o->difficulty >= 0.0f && o->difficulty <= 2.0f))
        return FCL_ERR(err, FCL_ERR_INVALID_ARG, "synth: difficulty must be in [0, 2], got %g", (double)o->difficulty);
    if (o->pairs > 0 && (o->unseen_ids < 2 || o->per_id < 2))
        return FCL_ERR(err, FCL_ERR_INVALID_ARG,
                       "synth: pairs need at least 2 unseen identities with 2 images each (have --unseen-ids %d, --per-id %d)",
                       o->unseen_ids, o->per_id);
    if (o->pairs > 0) { /* checked before any file is written */
        uint64_t U = (uint64_t)o->unseen_ids, M = (uint64_t)o->per_id;
        uint64_t n_same = ((uint64_t)o->pairs + 1) / 2, n_diff = (uint64_t)o->pairs - n_same;
        uint64_t cap_same = U * M * (M - 1) / 2, cap_diff = U * (U - 1) / 2 * M * M;
        if (n_same > cap_same || n_diff > cap_diff)
            return FCL_ERR(err, FCL_ERR_INVALID_ARG,
                           "synth: --pairs %d needs %llu same and %llu different pairs, but %d unseen identities of %d "
                           "images give only %llu / %llu distinct ones (raise --unseen-ids or --per-id)",
                           o->pairs, (unsigned long long)n_same, (unsigned long long)n_diff, o->unseen_ids, o->per_id,
                           (unsigned long long)cap_same, (unsigned long long)cap_diff);
    }
    return FCL_OK;
}

/* ---- files and folders ---------------------------------------------------------------------- */

static fcl_status make_dir(const char *path, fcl_error *err)
{
    if (mkdir(path, 0777) == 0 || errno == EEXIST) {
        struct stat sb;
        if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode)) return FCL_OK;
        return FCL_ERR(err, FCL_ERR_IO, "%s exists and is not a folder", path);
    }
    return FCL_ERR(err, FCL_ERR_IO, "cannot create folder %s: %s", path, strerror(errno));
}

/* mkdir -p */
static fcl_status make_dirs(const char *path, fcl_error *err)
{
    fcl_status st = FCL_OK;
    char *p = strdup(path);
    if (!p) return FCL_ERR(err, FCL_ERR_NOMEM, "out of memory");
    for (char *s = p + 1; *s; s++) {
        if (*s != '/') continue;
        *s = '\0';
        st = make_dir(p, err);
        *s = '/';
        if (st) goto fail;
    }
    st = make_dir(p, err);
fail:
    free(p);
    return st;
}

/* The output folder must be new or empty: never mix two datasets or overwrite other files. */
static fcl_status check_empty(const char *dir, fcl_error *err)
{
    DIR *d = opendir(dir);
    if (!d) {
        if (errno == ENOENT) return FCL_OK;
        return FCL_ERR(err, FCL_ERR_IO, "cannot open %s: %s", dir, strerror(errno));
    }
    struct dirent *e;
    int used = 0;
    while ((e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) used = 1;
    closedir(d);
    if (used)
        return FCL_ERR(err, FCL_ERR_IO, "%s is not empty: refusing to write a dataset over it (remove it or pick a new folder)", dir);
    return FCL_OK;
}

static fcl_status sync_dir(const char *dir, fcl_error *err)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd < 0) return FCL_ERR(err, FCL_ERR_IO, "cannot open %s: %s", dir, strerror(errno));
    int rc = syncfs(fd);
    int e = errno;
    close(fd);
    if (rc != 0) return FCL_ERR(err, FCL_ERR_IO, "syncing %s: %s", dir, strerror(e));
    return FCL_OK;
}

static int digits(long v)
{
    int d = 1;
    while (v >= 10) {
        v /= 10;
        d++;
    }
    return d;
}

/* ---- pairs ---------------------------------------------------------------------------------- */

/* A pair of unseen images, as global indices ident * per_id + image, a < b; `same` is the label. */
typedef struct upair {
    uint64_t a, b;
    int same;
} upair;

/* Open-addressing set of pair keys so no pair is listed twice. */
typedef struct pairset {
    uint64_t *k;
    size_t mask;
} pairset;

static int pairset_add(pairset *s, uint64_t a, uint64_t b)
{
    uint64_t key = mix64(a * 0x9e3779b97f4a7c15ull ^ b) | 1u; /* 0 marks an empty slot */
    size_t i = (size_t)key & s->mask;
    while (s->k[i]) {
        if (s->k[i] == key) return 0;
        i = (i + 1) & s->mask;
    }
    s->k[i] = key;
    return 1;
}

static uint64_t below(fcl_rng *r, uint64_t n) { return n ? fcl_rng_next(r) % n : 0; }

/* n_same same-identity pairs and n_diff different-identity pairs over U identities of M
 * images, without repeats, then shuffled together. Where a kind needs more than half of all
 * possible pairs, they are enumerated and a random subset is taken (no rejection loops). */
static fcl_status make_pairs(uint64_t seed, int U, int M, size_t n_same, size_t n_diff, upair **out,
                             fcl_error *err)
{
    fcl_status st = FCL_OK;
    upair *p = NULL, *all = NULL;
    pairset set = {NULL, 0};
    fcl_rng r;
    fcl_rng_seed(&r, fcl_synth_seed(seed, 2, 0, 0));
    const uint64_t cap_same = (uint64_t)U * (uint64_t)M * (uint64_t)(M - 1) / 2;
    const uint64_t cap_diff = (uint64_t)U * (uint64_t)(U - 1) / 2 * (uint64_t)M * (uint64_t)M;
    if (n_same > cap_same || n_diff > cap_diff) {
        st = FCL_ERR(err, FCL_ERR_INVALID_ARG,
                     "synth: %zu same / %zu different pairs asked, but %d unseen identities of %d images give only %llu / %llu distinct ones",
                     n_same, n_diff, U, M, (unsigned long long)cap_same, (unsigned long long)cap_diff);
        goto fail;
    }
    size_t n = n_same + n_diff, k = 0;
    p = malloc((n ? n : 1) * sizeof *p);
    size_t slots = 16;
    while (slots < 4 * n) slots *= 2;
    set.k = calloc(slots, sizeof *set.k);
    set.mask = slots - 1;
    if (!p || !set.k) goto oom;

    for (int kind = 1; kind >= 0; kind--) {
        size_t want = kind ? n_same : n_diff;
        uint64_t cap = kind ? cap_same : cap_diff;
        if (want == 0) continue;
        if ((uint64_t)want * 2 > cap) {
            /* Enumerate every pair of this kind (cap < 2 * want, so this is small). */
            all = malloc((size_t)cap * sizeof *all);
            if (!all) goto oom;
            size_t m = 0;
            for (uint64_t a = 0; a < (uint64_t)U * (uint64_t)M; a++)
                for (uint64_t b = a + 1; b < (uint64_t)U * (uint64_t)M; b++)
                    if (((a / (uint64_t)M) == (b / (uint64_t)M)) == (kind == 1))
                        all[m++] = (upair){a, b, kind};
            for (size_t i = 0; i < want; i++) {
                size_t j = i + (size_t)below(&r, m - i);
                upair t = all[i];
                all[i] = all[j];
                all[j] = t;
                p[k++] = all[i];
            }
            free(all);
            all = NULL;
            continue;
        }
        for (size_t got = 0; got < want;) {
            uint64_t ia, ib, ja, jb;
            if (kind) {
                ia = ib = below(&r, (uint64_t)U);
                ja = below(&r, (uint64_t)M);
                jb = below(&r, (uint64_t)M - 1);
                if (jb >= ja) jb++;
            } else {
                ia = below(&r, (uint64_t)U);
                ib = below(&r, (uint64_t)U - 1);
                if (ib >= ia) ib++;
                ja = below(&r, (uint64_t)M);
                jb = below(&r, (uint64_t)M);
            }
            uint64_t a = ia * (uint64_t)M + ja, b = ib * (uint64_t)M + jb;
            if (a > b) {
                uint64_t t = a;
                a = b;
                b = t;
            }
            if (!pairset_add(&set, a, b)) continue;
            p[k++] = (upair){a, b, kind};
            got++;
        }
    }
    /* Shuffle same and different together; then randomise which image comes first. */
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)below(&r, i);
        upair t = p[i - 1];
        p[i - 1] = p[j];
        p[j] = t;
    }
    for (size_t i = 0; i < n; i++)
        if (fcl_rng_next(&r) >> 63) {
            uint64_t t = p[i].a;
            p[i].a = p[i].b;
            p[i].b = t;
        }
    free(set.k);
    *out = p;
    return FCL_OK;
oom:
    st = FCL_ERR(err, FCL_ERR_NOMEM, "synth: out of memory for %zu pairs", n_same + n_diff);
fail:
    free(p);
    free(all);
    free(set.k);
    return st;
}

/* ---- the writer ----------------------------------------------------------------------------- */

static int n_val_of(const fcl_synth_opts *o)
{
    if (o->val_frac <= 0.0f || o->per_id < 2) return 0;
    int n = (int)(o->val_frac * (float)o->per_id + 0.5f);
    if (n < 1) n = 1;
    if (n > o->per_id - 1) n = o->per_id - 1;
    return n;
}

fcl_status fcl_synth_write_dataset(const char *out_dir, const fcl_synth_opts *o,
                                   fcl_synth_progress_fn progress, void *user, fcl_error *err)
{
    fcl_status st;
    fcl_image img = {0, 0, 0, NULL};
    upair *pairs = NULL;
    fcl_textbuf lab = {0}, unl = {0}, readme = {0};
    char *path = NULL;

    if (!out_dir || !*out_dir) return FCL_ERR(err, FCL_ERR_INVALID_ARG, "synth: no output folder");
    if ((st = check_opts(o, err))) return st;
    if ((st = check_empty(out_dir, err))) return st;
    if ((st = make_dirs(out_dir, err))) return st;

    const int n_val = n_val_of(o), n_train = o->per_id - n_val;
    const int idw = digits(o->ids > o->unseen_ids ? o->ids - 1 : o->unseen_ids - 1) < 4
                        ? 4 : digits(o->ids > o->unseen_ids ? o->ids - 1 : o->unseen_ids - 1);
    const int imw = digits(o->per_id - 1) < 3 ? 3 : digits(o->per_id - 1);
    const size_t total = ((size_t)o->ids + (size_t)o->unseen_ids) * (size_t)o->per_id;
    size_t done = 0, plen = strlen(out_dir) + 64;
    path = malloc(plen);
    if (!path) {
        st = FCL_ERR(err, FCL_ERR_NOMEM, "synth: out of memory");
        goto fail;
    }

    for (int set = SET_TRAIN; set <= SET_UNSEEN; set++) {
        int count = set == SET_TRAIN ? o->ids : o->unseen_ids;
        for (int k = 0; k < count; k++) {
            fcl_synth_identity id;
            identity_of(o->seed, set, k, &id);
            for (int j = 0; j < o->per_id; j++) {
                const char *sub = set == SET_UNSEEN ? "unseen" : (j < n_train ? "train" : "val");
                const char *pre = set == SET_UNSEEN ? "u" : "id";
                snprintf(path, plen, "%s/%s/%s%0*d", out_dir, sub, pre, idw, k);
                if (j == 0 || j == n_train) {
                    if ((st = make_dirs(path, err))) goto fail;
                }
                size_t dl = strlen(path);
                snprintf(path + dl, plen - dl, "/%0*d.png", imw, j);
                if ((st = render_image(o->seed, set, k, &id, j, o->size, o->channels, o->difficulty, &img, err)))
                    goto fail;
                st = fcl_png_write(path, &img, 0, err); /* synced once below */
                fcl_image_free(&img);
                if (st) goto fail;
                done++;
                if (progress && progress(user, done, total)) {
                    st = FCL_ERR(err, FCL_ERR_IO, "synth: cancelled after %zu of %zu images", done, total);
                    goto fail;
                }
            }
        }
    }

    /* One file-system sync for all the images (per-file fsync would cost ~10 ms each); the
     * README is written last, durably, so its presence means the dataset is complete. */
    if ((st = sync_dir(out_dir, err))) goto fail;

    size_t n_same = 0, n_diff = 0;
    if (o->pairs > 0) {
        n_same = ((size_t)o->pairs + 1) / 2;
        n_diff = (size_t)o->pairs - n_same;
        if ((st = make_pairs(o->seed, o->unseen_ids, o->per_id, n_same, n_diff, &pairs, err))) goto fail;
        for (size_t i = 0; i < (size_t)o->pairs; i++) {
            uint64_t a = pairs[i].a, b = pairs[i].b;
            char pa[64], pb[64];
            snprintf(pa, sizeof pa, "unseen/u%0*d/%0*d.png", idw, (int)(a / (uint64_t)o->per_id), imw,
                     (int)(a % (uint64_t)o->per_id));
            snprintf(pb, sizeof pb, "unseen/u%0*d/%0*d.png", idw, (int)(b / (uint64_t)o->per_id), imw,
                     (int)(b % (uint64_t)o->per_id));
            fcl_textbuf_printf(&lab, "%s %s %d\n", pa, pb, pairs[i].same);
            fcl_textbuf_printf(&unl, "%s %s\n", pa, pb);
        }
        if (lab.oom || unl.oom) {
            st = FCL_ERR(err, FCL_ERR_NOMEM, "synth: out of memory for the pair lists");
            goto fail;
        }
        snprintf(path, plen, "%s/pairs.txt", out_dir);
        if ((st = fcl_write_text_atomic(path, lab.s, err))) goto fail;
        snprintf(path, plen, "%s/pairs_unlabelled.txt", out_dir);
        if ((st = fcl_write_text_atomic(path, unl.s, err))) goto fail;
    }

    const char *kind = o->channels == 1 ? "gray" : "RGB";
    fcl_textbuf_printf(&readme,
              "facecl synthetic face dataset\n\n"
              "Made by: facecl synth --ids %d --per-id %d --size %d%s --seed %llu --val-frac %g "
              "--unseen-ids %d --pairs %d --difficulty %g OUT\n"
              "The same command (same facecl build) writes these files again byte for byte.\n\n",
              o->ids, o->per_id, o->size, o->channels == 1 ? " --gray" : "", (unsigned long long)o->seed,
              (double)o->val_frac, o->unseen_ids, o->pairs, (double)o->difficulty);
    fcl_textbuf_printf(&readme, "train/    %d identities (id%0*d..id%0*d), %d images each = %zu images, %dx%d %s PNG\n",
              o->ids, idw, 0, idw, o->ids - 1, n_train, (size_t)o->ids * (size_t)n_train, o->size, o->size, kind);
    if (n_val > 0)
        fcl_textbuf_printf(&readme, "val/      the same identities, %d other images each = %zu images\n", n_val,
                  (size_t)o->ids * (size_t)n_val);
    if (o->unseen_ids > 0)
        fcl_textbuf_printf(&readme, "unseen/   %d other identities (u%0*d..u%0*d), %d images each = %zu images; never in train/ or val/\n",
                  o->unseen_ids, idw, 0, idw, o->unseen_ids - 1, o->per_id, (size_t)o->unseen_ids * (size_t)o->per_id);
    if (o->pairs > 0)
        fcl_textbuf_printf(&readme,
                  "pairs.txt            %d pairs over unseen/, one per line \"path1 path2 label\" "
                  "(1 same identity, 0 different; paths relative to this folder): %zu same, %zu different\n"
                  "pairs_unlabelled.txt the same pairs as \"path1 path2\"\n",
                  o->pairs, n_same, n_diff);
    fcl_textbuf_printf(&readme,
              "\nEach identity is a random set of facial parameters (face shape, skin tone, eye spacing,\n"
              "size and colour, brows, nose, mouth, hair style/colour/hairline, glasses, beard, moles).\n"
              "Each image varies pose (yaw, roll), scale, position, lighting, expression, blur, noise,\n"
              "occlusion (rectangle or hand), background and clothing.\n");
    if (readme.oom) {
        st = FCL_ERR(err, FCL_ERR_NOMEM, "synth: out of memory");
        goto fail;
    }
    snprintf(path, plen, "%s/README.txt", out_dir);
    if ((st = fcl_write_text_atomic(path, readme.s, err))) goto fail;
    st = FCL_OK;

fail:
    fcl_image_free(&img);
    free(pairs);
    free(lab.s);
    free(unl.s);
    free(readme.s);
    free(path);
    return st;
}

/* ---- preview and in-memory source ---------------------------------------------------------- */

fcl_status fcl_synth_preview(const fcl_synth_opts *o, int rows, int cols, fcl_image *out,
                             fcl_error *err)
{
    fcl_status st;
    fcl_image tile = {0, 0, 0, NULL};
    if ((st = check_opts(o, err))) return st;
    if (rows < 1 || cols < 1 || rows > 64 || cols > 64)
        return FCL_ERR(err, FCL_ERR_INVALID_ARG, "synth preview: rows and cols must be in 1..64, got %d x %d", rows, cols);
    if (rows > o->ids) rows = o->ids;
    if (cols > o->per_id) cols = o->per_id;
    const int gap = 2, S = o->size;
    if ((st = fcl_image_alloc(out, o->channels, rows * S + (rows + 1) * gap, cols * S + (cols + 1) * gap, err)))
        return st;
    const size_t plane = (size_t)out->h * (size_t)out->w;
    for (size_t i = 0; i < plane * (size_t)out->c; i++) out->data[i] = 0.15f;
    for (int r = 0; r < rows; r++) {
        fcl_synth_identity id;
        identity_of(o->seed, SET_TRAIN, r, &id);
        for (int c = 0; c < cols; c++) {
            if ((st = render_image(o->seed, SET_TRAIN, r, &id, c, S, o->channels, o->difficulty, &tile, err)))
                goto fail;
            int y0 = gap + r * (S + gap), x0 = gap + c * (S + gap);
            for (int ch = 0; ch < out->c; ch++)
                for (int y = 0; y < S; y++)
                    memcpy(out->data + (size_t)ch * plane + (size_t)(y0 + y) * (size_t)out->w + (size_t)x0,
                           tile.data + ((size_t)ch * (size_t)S + (size_t)y) * (size_t)S, (size_t)S * sizeof(float));
            fcl_image_free(&tile);
        }
    }
    return FCL_OK;
fail:
    fcl_image_free(&tile);
    fcl_image_free(out);
    return st;
}

fcl_status fcl_synth_source_get(void *user, size_t index, int channels, fcl_image *out, int *label,
                                fcl_error *err)
{
    const fcl_synth_source *s = user;
    if (!s || !out) return FCL_ERR(err, FCL_ERR_INVALID_ARG, "synth source: NULL argument");
    if (s->ids < 1 || s->per_id < 1)
        return FCL_ERR(err, FCL_ERR_INVALID_ARG, "synth source: %d identities x %d images is empty", s->ids, s->per_id);
    if (index >= (size_t)s->ids * (size_t)s->per_id)
        return FCL_ERR(err, FCL_ERR_INVALID_ARG, "synth source: index %zu out of range (%zu images)", index,
                       (size_t)s->ids * (size_t)s->per_id);
    int ident = (int)(index / (size_t)s->per_id), image = (int)(index % (size_t)s->per_id);
    fcl_status st = fcl_synth_render_indexed(s->seed, SET_TRAIN, ident, image, s->size,
                                             channels ? channels : s->channels, s->difficulty, out, err);
    if (st) return st;
    if (label) *label = ident;
    return FCL_OK;
}
