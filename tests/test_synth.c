/* tests/test_synth.c: synthetic faces (determinism, layout, pairs, difficulty, speed) and the PNG writer. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <facecl/facecl.h>

/* ---- helpers ------------------------------------------------------------------------------- */

static void make_tmp(char *buf, size_t n)
{
    snprintf(buf, n, "/tmp/facecl-synth-XXXXXX");
    cr_assert_not_null(mkdtemp(buf));
}

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(p);
}

static void rm_rf(const char *dir) { nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS); }

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static unsigned char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)n + 1);
    cr_assert_not_null(b);
    cr_assert_eq(fread(b, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    b[n] = 0;
    *len = (size_t)n;
    return b;
}

static int count_files(const char *dir, const char *suffix)
{
    DIR *d = opendir(dir);
    if (!d) return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t l = strlen(e->d_name), s = strlen(suffix);
        if (e->d_name[0] != '.' && l >= s && !strcmp(e->d_name + l - s, suffix)) n++;
    }
    closedir(d);
    return n;
}

static fcl_image render(uint64_t seed, int ident, int image, int size, int ch, float diff)
{
    fcl_image img = {0, 0, 0, NULL};
    fcl_error e = {0};
    cr_assert_eq(fcl_synth_render_indexed(seed, 0, ident, image, size, ch, diff, &img, &e), FCL_OK, "%s", e.msg);
    return img;
}

static size_t numel(const fcl_image *a) { return (size_t)a->c * (size_t)a->h * (size_t)a->w; }

/* ---- identities and rendering ---------------------------------------------------------------- */

Test(synth, identity_sampling_is_seeded)
{
    fcl_rng a, b, c;
    fcl_rng_seed(&a, 42);
    fcl_rng_seed(&b, 42);
    fcl_rng_seed(&c, 43);
    fcl_synth_identity ia, ib, ic;
    fcl_synth_identity_sample(&a, &ia);
    fcl_synth_identity_sample(&b, &ib);
    fcl_synth_identity_sample(&c, &ic);
    cr_assert_eq(memcmp(&ia, &ib, sizeof ia), 0, "same seed must give the same identity");
    cr_assert_neq(memcmp(&ia, &ic, sizeof ia), 0, "different seeds should give different identities");
    cr_assert(ia.face_rx > 0.4f && ia.face_rx < ia.face_ry);
    for (int k = 0; k < 3; k++) cr_assert(ia.skin[k] >= 0.0f && ia.skin[k] <= 1.0f);
}

Test(synth, render_shape_range_and_determinism)
{
    fcl_image a = render(7, 3, 5, 48, 3, 1.0f), b = render(7, 3, 5, 48, 3, 1.0f);
    fcl_image c = render(7, 3, 6, 48, 3, 1.0f), d = render(8, 3, 5, 48, 3, 1.0f);
    cr_assert_eq(a.c, 3);
    cr_assert_eq(a.h, 48);
    cr_assert_eq(a.w, 48);
    cr_assert_eq(memcmp(a.data, b.data, numel(&a) * sizeof(float)), 0, "same seed/index must render identically");
    cr_assert_neq(memcmp(a.data, c.data, numel(&a) * sizeof(float)), 0, "another image of the identity must differ");
    cr_assert_neq(memcmp(a.data, d.data, numel(&a) * sizeof(float)), 0, "another seed must differ");
    double sum = 0, sum2 = 0;
    for (size_t i = 0; i < numel(&a); i++) {
        cr_assert(a.data[i] >= 0.0f && a.data[i] <= 1.0f, "pixel %zu = %g outside [0, 1]", i, a.data[i]);
        sum += a.data[i];
        sum2 += (double)a.data[i] * a.data[i];
    }
    double mean = sum / (double)numel(&a), var = sum2 / (double)numel(&a) - mean * mean;
    cr_assert_gt(var, 0.003, "image is nearly flat (variance %g): nothing was drawn", var);
    fcl_image_free(&a);
    fcl_image_free(&b);
    fcl_image_free(&c);
    fcl_image_free(&d);
}

/* At difficulty 0 there is no noise or blur, so gray must be exactly the luminance of RGB. */
Test(synth, gray_is_luminance_of_rgb)
{
    fcl_image rgb = render(3, 1, 2, 40, 3, 0.0f), g = render(3, 1, 2, 40, 1, 0.0f);
    cr_assert_eq(g.c, 1);
    size_t P = 40 * 40;
    for (size_t i = 0; i < P; i++) {
        float want = 0.299f * rgb.data[i] + 0.587f * rgb.data[P + i] + 0.114f * rgb.data[2 * P + i];
        cr_assert_float_eq(g.data[i], want, 1e-5f, "pixel %zu: gray %g vs luminance %g", i, g.data[i], want);
    }
    fcl_image_free(&rgb);
    fcl_image_free(&g);
}

/* An identity and a variation at `difficulty` drawn from a generator seeded with `seed` (left in
 * *r); a plain identity has no glasses, beard or moles. */
static void sample_face(uint64_t seed, int plain, float difficulty, fcl_rng *r, fcl_synth_identity *id,
                        fcl_synth_variation *v)
{
    fcl_rng_seed(r, seed);
    fcl_synth_identity_sample(r, id);
    if (plain) {
        id->glasses = 0;
        id->beard = 0;
        id->n_moles = 0;
    }
    fcl_synth_variation_sample(r, id, difficulty, v);
}

/* A frontal, canonical face (difficulty 0) puts skin in the middle and background in the corners. */
Test(synth, face_is_centred)
{
    fcl_synth_identity id;
    fcl_synth_variation v;
    fcl_rng r;
    sample_face(11, 1, 0.0f, &r, &id, &v);
    cr_assert_float_eq(v.yaw, 0.0f, 0.0f);
    cr_assert_float_eq(v.noise, 0.0f, 0.0f);
    fcl_image img = {0, 0, 0, NULL};
    fcl_error e = {0};
    cr_assert_eq(fcl_synth_render(&id, &v, 64, 3, &r, &img, &e), FCL_OK, "%s", e.msg);
    /* The cheek below the eyes, left of the nose: skin colour times the lighting (ambient .5 + diffuse .55 at most). */
    size_t P = 64 * 64, o = (size_t)38 * 64 + 24;
    float shade = img.data[o] / id.skin[0];
    cr_assert(shade > 0.4f && shade < 1.2f, "cheek red %g vs skin %g", img.data[o], id.skin[0]);
    for (int c = 1; c < 3; c++)
        cr_assert_float_eq(img.data[c * P + o] / id.skin[c], shade, 0.08f, "cheek is not skin-coloured (channel %d)", c);
    /* The top-left corner is plain background: its colour is the background's times one shade. */
    float bg_shade = img.data[0] / v.bg[0];
    cr_assert(bg_shade > 0.3f && bg_shade < 1.5f, "corner %g vs background %g", img.data[0], v.bg[0]);
    for (int c = 1; c < 3; c++)
        cr_assert_float_eq(img.data[c * P] / v.bg[c], bg_shade, 1e-3f, "corner is not background (channel %d)", c);
    fcl_image_free(&img);
}

Test(synth, bad_arguments)
{
    fcl_synth_identity id;
    fcl_synth_variation v;
    fcl_rng r;
    sample_face(1, 0, 1.0f, &r, &id, &v);
    fcl_image img = {0, 0, 0, NULL};
    fcl_error e = {0};
    cr_assert_eq(fcl_synth_render(&id, &v, 4, 3, &r, &img, &e), FCL_ERR_INVALID_ARG);
    cr_assert_not_null(strstr(e.msg, "size"), "%s", e.msg);
    cr_assert_eq(fcl_synth_render(&id, &v, 32, 2, &r, &img, &e), FCL_ERR_INVALID_ARG);
    cr_assert_not_null(strstr(e.msg, "channels"), "%s", e.msg);
    cr_assert_eq(fcl_synth_render(NULL, &v, 32, 3, &r, &img, &e), FCL_ERR_INVALID_ARG);

    fcl_synth_source src = {2, 3, 32, 1, 5, 1.0f};
    int label = -1;
    cr_assert_eq(fcl_synth_source_get(&src, 6, 0, &img, &label, &e), FCL_ERR_INVALID_ARG);
    cr_assert_not_null(strstr(e.msg, "out of range"), "%s", e.msg);
    cr_assert_eq(fcl_synth_source_get(&src, 5, 0, &img, &label, &e), FCL_OK, "%s", e.msg);
    cr_assert_eq(label, 1);
    cr_assert_eq(img.c, 1);
    fcl_image_free(&img);

    fcl_synth_opts o;
    fcl_synth_opts_default(&o);
    o.val_frac = 1.0f;
    cr_assert_eq(fcl_synth_write_dataset("/tmp/facecl-never-made", &o, NULL, NULL, &e), FCL_ERR_INVALID_ARG);
    cr_assert_not_null(strstr(e.msg, "--val-frac"), "%s", e.msg);
    fcl_synth_opts_default(&o);
    o.unseen_ids = 1;
    cr_assert_eq(fcl_synth_write_dataset("/tmp/facecl-never-made", &o, NULL, NULL, &e), FCL_ERR_INVALID_ARG);
    cr_assert_not_null(strstr(e.msg, "unseen"), "%s", e.msg);
}

/* The speed target: 1000 images of 64x64 in well under 10 s on one core. */
Test(synth, render_speed)
{
    fcl_synth_source src = {50, 20, 64, 3, 9, 1.0f};
    fcl_error e = {0};
    double t0 = now_s();
    for (size_t i = 0; i < 1000; i++) {
        fcl_image img = {0, 0, 0, NULL};
        int lab;
        cr_assert_eq(fcl_synth_source_get(&src, i, 0, &img, &lab, &e), FCL_OK, "%s", e.msg);
        fcl_image_free(&img);
    }
    double el = now_s() - t0;
    cr_log_info("synth: 1000 RGB 64x64 faces rendered in %.2f s (%.0f images/s)", el, 1000.0 / el);
#ifndef __SANITIZE_ADDRESS__   /* ci/sanitize.sh's build runs several times slower: no time bound there */
    cr_assert_lt(el, 10.0, "rendering 1000 faces took %.1f s", el);
#endif
}

/* Nearest centroid on 16x16 downsampled raw pixels: identity must be present (well above
 * chance) but not trivial (below 95%). */
static double nearest_centroid(int ids, int per, int ch, float difficulty)
{
    const int S = 64, D = 16, F = ch * D * D, ntr = per * 7 / 10;
    fcl_synth_source src = {ids, per, S, ch, 2024, difficulty};
    float *feat = calloc((size_t)ids * (size_t)per * (size_t)F, sizeof(float));
    float *cent = calloc((size_t)ids * (size_t)F, sizeof(float));
    cr_assert(feat && cent);
    fcl_error e = {0};
    for (int i = 0; i < ids * per; i++) {
        fcl_image im = {0, 0, 0, NULL};
        int lab;
        cr_assert_eq(fcl_synth_source_get(&src, (size_t)i, 0, &im, &lab, &e), FCL_OK, "%s", e.msg);
        for (int c = 0; c < ch; c++)
            for (int y = 0; y < D; y++)
                for (int x = 0; x < D; x++) {
                    float s = 0;
                    for (int a = 0; a < 4; a++)
                        for (int b = 0; b < 4; b++) s += im.data[(c * S + y * 4 + a) * S + x * 4 + b];
                    feat[(size_t)i * F + (c * D + y) * D + x] = s / 16.0f;
                }
        fcl_image_free(&im);
    }
    for (int k = 0; k < ids; k++)
        for (int j = 0; j < ntr; j++)
            for (int f = 0; f < F; f++) cent[(size_t)k * F + f] += feat[(size_t)(k * per + j) * F + f] / (float)ntr;
    int ok = 0, n = 0;
    for (int k = 0; k < ids; k++)
        for (int j = ntr; j < per; j++) {
            int best = -1;
            double bd = 1e300;
            for (int c = 0; c < ids; c++) {
                double d = 0;
                for (int f = 0; f < F; f++) {
                    double t = feat[(size_t)(k * per + j) * F + f] - cent[(size_t)c * F + f];
                    d += t * t;
                }
                if (d < bd) {
                    bd = d;
                    best = c;
                }
            }
            ok += best == k;
            n++;
        }
    free(feat);
    free(cent);
    return (double)ok / n;
}

Test(synth, nearest_centroid_difficulty)
{
    const int ids = 20;
    double rgb = nearest_centroid(ids, 20, 3, 1.0f), gray = nearest_centroid(ids, 20, 1, 1.0f);
    double easy = nearest_centroid(ids, 20, 3, 0.0f);
    cr_log_info("synth nearest-centroid accuracy, %d identities (chance %.3f): RGB %.3f, gray %.3f, RGB difficulty 0: %.3f",
                ids, 1.0 / ids, rgb, gray, easy);
    for (int k = 0; k < 3; k++) {
        double a = k == 0 ? rgb : (k == 1 ? gray : easy);
        cr_assert_gt(a, 3.0 / ids, "accuracy %.3f is not clearly above chance %.3f: identity is not in the pixels", a, 1.0 / ids);
        cr_assert_lt(a, 0.95, "accuracy %.3f: identities are trivially separable", a);
    }
    cr_assert_gt(easy, rgb, "difficulty 0 (%.3f) should be easier than 1 (%.3f)", easy, rgb);
}

/* ---- PNG writer ---------------------------------------------------------------------------- */

Test(png_write, round_trip_gray_and_rgb)
{
    char dir[64], path[128];
    make_tmp(dir, sizeof dir);
    fcl_error e = {0};
    for (int c = 1; c <= 3; c += 2) {
        fcl_image img = {0, 0, 0, NULL}, back = {0, 0, 0, NULL};
        cr_assert_eq(fcl_image_alloc(&img, c, 7, 11, &e), FCL_OK);
        for (size_t i = 0; i < numel(&img); i++) img.data[i] = (float)((i * 37) % 256) / 255.0f;
        img.data[0] = -0.5f;  /* clamped to 0 */
        img.data[1] = 1.5f;   /* clamped to 1 */
        img.data[2] = NAN;    /* written as 0 */
        snprintf(path, sizeof path, "%s/img%d.png", dir, c);
        cr_assert_eq(fcl_image_write_png(path, &img, &e), FCL_OK, "%s", e.msg);
        cr_assert_eq(fcl_image_decode_file(path, 0, &back, &e), FCL_OK, "%s", e.msg);
        cr_assert_eq(back.c, c);
        cr_assert_eq(back.h, 7);
        cr_assert_eq(back.w, 11);
        for (size_t i = 3; i < numel(&img); i++)
            cr_assert_float_eq(back.data[i], img.data[i], 1e-6f, "value %zu: %g -> %g", i, img.data[i], back.data[i]);
        cr_assert_float_eq(back.data[0], 0.0f, 0.0f);
        cr_assert_float_eq(back.data[1], 1.0f, 0.0f);
        cr_assert_float_eq(back.data[2], 0.0f, 0.0f);
        /* Overwriting an existing file replaces it. */
        img.data[5] = 0.0f;
        cr_assert_eq(fcl_image_write_png(path, &img, &e), FCL_OK, "%s", e.msg);
        fcl_image_free(&back);
        cr_assert_eq(fcl_image_decode_file(path, 0, &back, &e), FCL_OK, "%s", e.msg);
        cr_assert_float_eq(back.data[5], 0.0f, 0.0f);
        fcl_image_free(&back);
        fcl_image_free(&img);
    }
    struct stat sb;
    cr_assert_eq(stat(path, &sb), 0);
    cr_assert_eq(sb.st_mode & 0444, 0444 & ~0, "written file is not readable by all (mode %o)", sb.st_mode & 0777);
    cr_assert_eq(count_files(dir, ".png"), 2);
    DIR *d = opendir(dir);
    struct dirent *ent;
    while ((ent = readdir(d)) != NULL) cr_assert_null(strstr(ent->d_name, "tmp"), "temp file %s left behind", ent->d_name);
    closedir(d);
    rm_rf(dir);
}

Test(png_write, errors)
{
    fcl_error e = {0};
    fcl_image img = {0, 0, 0, NULL};
    cr_assert_eq(fcl_image_alloc(&img, 3, 4, 4, &e), FCL_OK);
    for (size_t i = 0; i < numel(&img); i++) img.data[i] = 0.5f;
    cr_assert_eq(fcl_image_write_png("/nonexistent-dir-facecl/x.png", &img, &e), FCL_ERR_IO);
    cr_assert_not_null(strstr(e.msg, "/nonexistent-dir-facecl/x.png"), "message should name the file: %s", e.msg);
    fcl_image two = img;
    two.c = 2;
    cr_assert_eq(fcl_image_write_png("/tmp/x.png", &two, &e), FCL_ERR_INVALID_ARG);
    fcl_image none = {3, 4, 4, NULL};
    cr_assert_eq(fcl_image_write_png("/tmp/x.png", &none, &e), FCL_ERR_INVALID_ARG);
    cr_assert_eq(fcl_image_write_png("", &img, &e), FCL_ERR_INVALID_ARG);
    fcl_image_free(&img);
}

/* ---- datasets ------------------------------------------------------------------------------ */

static void small_opts(fcl_synth_opts *o)
{
    fcl_synth_opts_default(o);
    o->ids = 4;
    o->per_id = 5;
    o->size = 32;
    o->seed = 77;
    o->val_frac = 0.4f;
    o->unseen_ids = 3;
    o->pairs = 10;
}

/* A fresh temporary folder in dir[64], the data set's folder <dir>/set in out[96], small_opts in o. */
static void set_in_tmp(char *dir, char *out, fcl_synth_opts *o)
{
    make_tmp(dir, 64);
    snprintf(out, 96, "%s/set", dir);
    small_opts(o);
}

/* <out>/<file> read with the project's pair-list reader (files checked). */
static void load_pairs(const char *out, const char *file, fcl_pair_list *pl)
{
    char p[256];
    fcl_error e = {0};
    snprintf(p, sizeof p, "%s/%s", out, file);
    cr_assert_eq(fcl_pairs_load(p, out, FCL_PAIRS_PLAIN, FCL_PAIRS_CHECK_FILES, pl, &e), FCL_OK, "%s", e.msg);
}

/* No pair stands twice in the list, in either order. */
static void expect_no_repeats(const fcl_pair_list *pl)
{
    for (size_t i = 0; i < pl->n; i++)
        for (size_t j = 0; j < i; j++) {
            const fcl_pair *a = &pl->pairs[i], *b = &pl->pairs[j];
            int dup = (!strcmp(a->path1, b->path1) && !strcmp(a->path2, b->path2)) ||
                      (!strcmp(a->path1, b->path2) && !strcmp(a->path2, b->path1));
            cr_assert(!dup, "pairs %zu and %zu are the same", j, i);
        }
}

static int progress_calls;
static int count_progress(void *user, size_t done, size_t total)
{
    (void)user;
    cr_assert_leq(done, total);
    progress_calls++;
    return 0;
}

static int cancel_at_3(void *user, size_t done, size_t total)
{
    (void)user;
    (void)total;
    return done >= 3;
}

Test(synth_dataset, layout_pairs_and_readme)
{
    char dir[64], out[96], p[256];
    fcl_synth_opts o;
    set_in_tmp(dir, out, &o);
    fcl_error e = {0};
    progress_calls = 0;
    cr_assert_eq(fcl_synth_write_dataset(out, &o, count_progress, NULL, &e), FCL_OK, "%s", e.msg);
    cr_assert_eq(progress_calls, (4 + 3) * 5);
    for (int k = 0; k < 4; k++) {
        snprintf(p, sizeof p, "%s/train/id%04d", out, k);
        cr_assert_eq(count_files(p, ".png"), 3, "%s", p);
        snprintf(p, sizeof p, "%s/val/id%04d", out, k);
        cr_assert_eq(count_files(p, ".png"), 2, "%s", p);
    }
    for (int k = 0; k < 3; k++) {
        snprintf(p, sizeof p, "%s/unseen/u%04d", out, k);
        cr_assert_eq(count_files(p, ".png"), 5, "%s", p);
    }
    /* train/ opens as an ImageFolder with one class per identity. */
    fcl_dataset ds;
    snprintf(p, sizeof p, "%s/train", out);
    cr_assert_eq(fcl_dataset_open_folder(p, 0, NULL, &ds, &e), FCL_OK, "%s", e.msg);
    cr_assert_eq(ds.n_classes, 4);
    cr_assert_eq(ds.n, 12);
    fcl_dataset_free(&ds);

    /* Pairs: parse with the project's pair-list reader; half same; labels agree with folders. */
    fcl_pair_list pl, pu;
    load_pairs(out, "pairs.txt", &pl);
    load_pairs(out, "pairs_unlabelled.txt", &pu);
    cr_assert_eq(pl.n, 10);
    cr_assert_eq(pu.n, 10);
    cr_assert(pl.labelled);
    int same = 0;
    for (size_t i = 0; i < pl.n; i++) {
        const char *a = strstr(pl.pairs[i].path1, "/unseen/"), *b = strstr(pl.pairs[i].path2, "/unseen/");
        cr_assert(a && b, "pair %zu outside unseen/: %s %s", i, pl.pairs[i].path1, pl.pairs[i].path2);
        int same_folder = !strncmp(a, b, strlen("/unseen/u0000/"));
        cr_assert_eq(same_folder, pl.pairs[i].label, "pair %zu label %d for %s %s", i, pl.pairs[i].label, a, b);
        cr_assert_str_neq(pl.pairs[i].path1, pl.pairs[i].path2);
        cr_assert_str_eq(pl.pairs[i].path1, pu.pairs[i].path1);
        cr_assert_str_eq(pl.pairs[i].path2, pu.pairs[i].path2);
        cr_assert_eq(pu.pairs[i].label, -1);
        same += pl.pairs[i].label;
    }
    expect_no_repeats(&pl);
    cr_assert_eq(same, 5);
    fcl_pairs_free(&pl);
    fcl_pairs_free(&pu);

    size_t len;
    snprintf(p, sizeof p, "%s/README.txt", out);
    char *readme = (char *)read_all(p, &len);
    cr_assert_not_null(strstr(readme, "--seed 77"), "%s", readme);
    cr_assert_not_null(strstr(readme, "unseen/"), "%s", readme);
    free(readme);

    /* The files hold exactly what the in-memory source renders (up to 8-bit rounding). */
    fcl_image file = {0, 0, 0, NULL}, mem = {0, 0, 0, NULL};
    snprintf(p, sizeof p, "%s/val/id0002/004.png", out);
    cr_assert_eq(fcl_image_decode_file(p, 0, &file, &e), FCL_OK, "%s", e.msg);
    fcl_synth_source src = {o.ids, o.per_id, o.size, o.channels, o.seed, o.difficulty};
    int lab;
    cr_assert_eq(fcl_synth_source_get(&src, 2 * 5 + 4, 0, &mem, &lab, &e), FCL_OK, "%s", e.msg);
    cr_assert_eq(lab, 2);
    cr_assert_eq(file.c, 3);
    for (size_t i = 0; i < numel(&mem); i++)
        cr_assert_float_eq(file.data[i], mem.data[i], 0.5f / 255.0f + 1e-6f, "pixel %zu", i);
    fcl_image_free(&file);
    fcl_image_free(&mem);

    /* The folder is not empty now: a second write must refuse. */
    cr_assert_eq(fcl_synth_write_dataset(out, &o, NULL, NULL, &e), FCL_ERR_IO);
    cr_assert_not_null(strstr(e.msg, "not empty"), "%s", e.msg);
    rm_rf(dir);
}

static int files_equal(const char *a, const char *b)
{
    size_t la, lb;
    unsigned char *x = read_all(a, &la), *y = read_all(b, &lb);
    int eq = la == lb && !memcmp(x, y, la);
    free(x);
    free(y);
    return eq;
}

Test(synth_dataset, same_seed_same_bytes)
{
    char dir[64], a[96], b[96], c[96], pa[256], pb[256];
    make_tmp(dir, sizeof dir);
    snprintf(a, sizeof a, "%s/a", dir);
    snprintf(b, sizeof b, "%s/b", dir);
    snprintf(c, sizeof c, "%s/c", dir);
    fcl_synth_opts o;
    small_opts(&o);
    o.channels = 1;
    fcl_error e = {0};
    cr_assert_eq(fcl_synth_write_dataset(a, &o, NULL, NULL, &e), FCL_OK, "%s", e.msg);
    cr_assert_eq(fcl_synth_write_dataset(b, &o, NULL, NULL, &e), FCL_OK, "%s", e.msg);
    o.seed++;
    cr_assert_eq(fcl_synth_write_dataset(c, &o, NULL, NULL, &e), FCL_OK, "%s", e.msg);
    const char *files[] = {"train/id0000/000.png", "train/id0003/002.png", "val/id0001/004.png",
                           "unseen/u0002/003.png", "pairs.txt", "pairs_unlabelled.txt"};
    int differ = 0;
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        snprintf(pa, sizeof pa, "%s/%s", a, files[i]);
        snprintf(pb, sizeof pb, "%s/%s", b, files[i]);
        cr_assert(files_equal(pa, pb), "%s differs between two runs with the same seed", files[i]);
        snprintf(pb, sizeof pb, "%s/%s", c, files[i]);
        differ += !files_equal(pa, pb);
    }
    cr_assert_geq(differ, 5, "another seed should change the images and pairs");
    rm_rf(dir);
}

Test(synth_dataset, all_pairs_and_cancel)
{
    char dir[64], out[96];
    fcl_synth_opts o;
    set_in_tmp(dir, out, &o);
    o.ids = 1;
    o.per_id = 3;
    o.unseen_ids = 2;
    o.size = 16;
    /* 2 identities x 3 images: 6 same pairs and 9 different ones exist. 12 asks for every same
     * pair (enumeration path) and 6 of the 9 different. */
    o.pairs = 12;
    fcl_error e = {0};
    cr_assert_eq(fcl_synth_write_dataset(out, &o, NULL, NULL, &e), FCL_OK, "%s", e.msg);
    fcl_pair_list pl;
    load_pairs(out, "pairs.txt", &pl);
    cr_assert_eq(pl.n, 12);
    expect_no_repeats(&pl);
    fcl_pairs_free(&pl);

    o.pairs = 16; /* 8 same > 6 possible */
    snprintf(out, sizeof out, "%s/too-many", dir);
    cr_assert_eq(fcl_synth_write_dataset(out, &o, NULL, NULL, &e), FCL_ERR_INVALID_ARG);
    cr_assert_not_null(strstr(e.msg, "distinct"), "%s", e.msg);

    snprintf(out, sizeof out, "%s/cancelled", dir);
    o.pairs = 0;
    cr_assert_eq(fcl_synth_write_dataset(out, &o, cancel_at_3, NULL, &e), FCL_ERR_IO);
    cr_assert_not_null(strstr(e.msg, "cancelled"), "%s", e.msg);
    rm_rf(dir);
}

Test(synth_dataset, preview_grid)
{
    fcl_synth_opts o;
    small_opts(&o);
    fcl_image grid = {0, 0, 0, NULL};
    fcl_error e = {0};
    cr_assert_eq(fcl_synth_preview(&o, 3, 8, &grid, &e), FCL_OK, "%s", e.msg);
    /* 8 columns are clipped to the 5 images per identity. */
    cr_assert_eq(grid.h, 3 * 32 + 4 * 2);
    cr_assert_eq(grid.w, 5 * 32 + 6 * 2);
    /* Tile (1, 2) is image 2 of identity 1. */
    fcl_image t = render(o.seed, 1, 2, 32, 3, 1.0f);
    size_t P = (size_t)grid.h * grid.w;
    for (int c = 0; c < 3; c++)
        for (int y = 0; y < 32; y++)
            for (int x = 0; x < 32; x++)
                cr_assert_float_eq(grid.data[c * P + (size_t)(2 + 34 + y) * grid.w + 2 + 2 * 34 + x],
                                   t.data[(c * 32 + y) * 32 + x], 0.0f);
    fcl_image_free(&t);
    fcl_image_free(&grid);
    cr_assert_eq(fcl_synth_preview(&o, 0, 8, &grid, &e), FCL_ERR_INVALID_ARG);
}
