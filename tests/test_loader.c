/* tests/test_loader.c: the threaded loader: order, reproducibility across worker counts, P x K, errors, shutdown, speed. */
#include <criterion/criterion.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <facecl/facecl.h>
#include "helpers/cmdline.h"

/* ---- a cheap in-memory source ------------------------------------------------------------- */

typedef struct pattern_src {
    size_t count;
    int size;
    const int *labels;       /* NULL: label = index % 5 */
    long fail_a, fail_b;     /* indices that fail (-1: none) */
    int jitter_delay;        /* sleep a pseudo-random time per item (shakes up thread timing) */
} pattern_src;

static float pattern(size_t index, int c, int y, int x)
{
    return (float)((index * 131 + (size_t)c * 17 + (size_t)y * 7 + (size_t)x * 3) % 1000) / 1000.0f;
}

static fcl_status pattern_get(void *user, size_t index, int channels, fcl_image *out, int *label, fcl_error *err)
{
    const pattern_src *s = user;
    if ((long)index == s->fail_a || (long)index == s->fail_b)
        return FCL_ERR(err, FCL_ERR_FORMAT, "pattern item %zu is broken on purpose", index);
    if (s->jitter_delay) usleep((useconds_t)((index * 7919) % 5) * 300);
    fcl_status st = fcl_image_alloc(out, channels, s->size, s->size, err);
    if (st) return st;
    for (int c = 0; c < channels; c++)
        for (int y = 0; y < s->size; y++)
            for (int x = 0; x < s->size; x++) out->data[((size_t)c * s->size + y) * s->size + x] = pattern(index, c, y, x);
    *label = s->labels ? s->labels[index] : (int)(index % 5);
    return FCL_OK;
}

static fcl_loader_source src_of(pattern_src *p)
{
    fcl_loader_source s = {p->count, pattern_get, p, p->labels};
    return s;
}

static fcl_loader_opts base_opts(int batch, int size, int workers)
{
    fcl_loader_opts o = {0};
    o.batch_size = batch;
    o.channels = 1;
    o.height = o.width = size;
    o.workers = workers;
    o.prefetch = 2;
    o.seed = 1234;
    return o;
}

static fcl_loader *make(pattern_src *p, const fcl_loader_opts *o)
{
    fcl_loader *l = NULL;
    fcl_error e = {0};
    fcl_loader_source s = src_of(p);
    cr_assert_eq(fcl_loader_create(&l, &s, o, &e), FCL_OK, "%s", e.msg);
    return l;
}

/* Collects a whole epoch: indices, labels and a checksum of every batch's pixels. */
typedef struct epoch_log {
    size_t n_batches, n_items;
    size_t idx[512];
    int lab[512], sizes[64];
    float data[512 * 64];  /* first 64 floats of every item */
} epoch_log;

static void run_epoch(fcl_loader *l, int epoch, epoch_log *log)
{
    fcl_error e = {0};
    memset(log, 0, sizeof *log);
    cr_assert_eq(fcl_loader_start_epoch(l, epoch, &e), FCL_OK, "%s", e.msg);
    const fcl_batch *b;
    for (;;) {
        cr_assert_eq(fcl_loader_next(l, &b, &e), FCL_OK, "%s", e.msg);
        if (!b) break;
        cr_assert_eq(b->batch_index, log->n_batches);
        cr_assert_eq(b->epoch, epoch);
        size_t item = (size_t)b->c * b->h * b->w;
        for (int i = 0; i < b->n; i++) {
            cr_assert_lt(log->n_items, 512);
            log->idx[log->n_items] = b->indices[i];
            log->lab[log->n_items] = b->labels[i];
            memcpy(&log->data[log->n_items * 64], b->data + (size_t)i * item, (item < 64 ? item : 64) * sizeof(float));
            log->n_items++;
        }
        log->sizes[log->n_batches++] = b->n;
    }
}

/* ---- tests --------------------------------------------------------------------------------- */

Test(loader, sequential_batches_and_last_batch)
{
    pattern_src p = {50, 8, NULL, -1, -1, 0};
    fcl_loader_opts o = base_opts(7, 8, 2);
    fcl_loader *l = make(&p, &o);
    cr_assert_eq(fcl_loader_batches_per_epoch(l), 8);
    static epoch_log log;
    run_epoch(l, 0, &log);
    cr_assert_eq(log.n_batches, 8);
    cr_assert_eq(log.sizes[7], 1, "50 = 7 * 7 + 1: the last batch holds 1");
    cr_assert_eq(log.n_items, 50);
    for (size_t i = 0; i < 50; i++) {
        cr_assert_eq(log.idx[i], i);
        cr_assert_eq(log.lab[i], (int)(i % 5));
        for (int k = 0; k < 64; k++) cr_assert_eq(log.data[i * 64 + k], pattern(i, 0, k / 8, k % 8));
    }
    fcl_loader_destroy(l);

    o.drop_last = 1;
    l = make(&p, &o);
    run_epoch(l, 0, &log);
    cr_assert_eq(log.n_batches, 7);
    cr_assert_eq(log.n_items, 49);
    cr_assert_eq(fcl_loader_batches_per_epoch(l), 7);
    fcl_loader_destroy(l);
}

Test(loader, resizes_to_the_batch_shape)
{
    pattern_src p = {6, 12, NULL, -1, -1, 0};
    fcl_loader_opts o = base_opts(4, 6, 1);
    o.channels = 3;
    fcl_loader *l = make(&p, &o);
    fcl_error e = {0};
    cr_assert_eq(fcl_loader_start_epoch(l, 0, &e), FCL_OK);
    const fcl_batch *b;
    cr_assert_eq(fcl_loader_next(l, &b, &e), FCL_OK, "%s", e.msg);
    cr_assert_not_null(b);
    cr_assert(b->n == 4 && b->c == 3 && b->h == 6 && b->w == 6);
    /* Item 1 resized like fcl_image_resize does it. */
    fcl_image src = {0, 0, 0, NULL}, want = {0, 0, 0, NULL};
    int lab;
    cr_assert_eq(pattern_get(&p, 1, 3, &src, &lab, &e), FCL_OK);
    cr_assert_eq(fcl_image_resize(&src, 6, 6, &want, &e), FCL_OK, "%s", e.msg);
    cr_assert_eq(memcmp(b->data + 108, want.data, 108 * sizeof(float)), 0);
    fcl_image_free(&src);
    fcl_image_free(&want);
    fcl_loader_destroy(l);
}

/* The whole point: an epoch is a function of (seed, epoch), whatever the threads do. */
Test(loader, reproducible_across_workers_and_timing)
{
    pattern_src p = {60, 8, NULL, -1, -1, 1};
    fcl_aug_pipeline aug;
    fcl_error e = {0};
    cr_assert_eq(fcl_aug_parse("flip,crop=2,rotate=20,jitter=0.3:0.3:0,erase=0.5:random", &aug, &e), FCL_OK, "%s", e.msg);
    static epoch_log a, b, c, d;
    fcl_loader_opts o = base_opts(8, 8, 1);
    o.sampler = FCL_SAMPLER_SHUFFLE;
    o.aug = &aug;
    fcl_loader *l1 = make(&p, &o);
    o.workers = 4;
    o.prefetch = 1;
    fcl_loader *l4 = make(&p, &o);
    run_epoch(l1, 3, &a);
    run_epoch(l4, 3, &b);
    cr_assert_eq(a.n_items, 60);
    cr_assert_eq(memcmp(a.idx, b.idx, sizeof a.idx), 0, "1 and 4 workers gave different orders");
    cr_assert_eq(memcmp(a.data, b.data, sizeof a.data), 0, "1 and 4 workers gave different augmented pixels");
    /* A permutation, different from epoch 4's, and epoch 3 again is the same. */
    int seen[60] = {0};
    for (size_t i = 0; i < 60; i++) seen[a.idx[i]]++;
    for (int i = 0; i < 60; i++) cr_assert_eq(seen[i], 1, "item %d appears %d times", i, seen[i]);
    run_epoch(l4, 4, &c);
    cr_assert_neq(memcmp(a.idx, c.idx, sizeof a.idx), 0, "epochs 3 and 4 have the same order");
    run_epoch(l4, 3, &d);
    cr_assert_eq(memcmp(a.data, d.data, sizeof a.data), 0, "epoch 3 twice differs");
    /* Augmentation actually happened: item pixels differ from the raw pattern somewhere. */
    int changed = 0;
    for (size_t i = 0; i < 60 && !changed; i++)
        for (int k = 0; k < 64; k++) changed |= a.data[i * 64 + k] != pattern(a.idx[i], 0, k / 8, k % 8);
    cr_assert(changed);
    fcl_loader_destroy(l1);
    fcl_loader_destroy(l4);
}

Test(loader, pk_sampler)
{
    /* 10 identities with 1..10 images each (identity k has k + 1), labels grouped out of order. */
    static int labels[55];
    size_t n = 0;
    for (int k = 9; k >= 0; k--)
        for (int j = 0; j <= k; j++) labels[n++] = k;
    pattern_src p = {55, 4, labels, -1, -1, 0};
    fcl_loader_opts o = base_opts(0, 4, 2);
    o.sampler = FCL_SAMPLER_PK;
    o.pk_p = 3;
    o.pk_k = 4;
    fcl_loader *l = make(&p, &o);
    /* Identities with >= 4 images: 3..9 = 7 eligible -> 2 batches of 3 x 4. */
    cr_assert_eq(fcl_loader_batches_per_epoch(l), 2);
    static epoch_log log;
    for (int ep = 0; ep < 4; ep++) {
        run_epoch(l, ep, &log);
        cr_assert_eq(log.n_batches, 2);
        for (size_t b = 0; b < 2; b++) {
            cr_assert_eq(log.sizes[b], 12);
            int count[10] = {0};
            for (size_t i = b * 12; i < b * 12 + 12; i++) {
                cr_assert_eq(labels[log.idx[i]], log.lab[i], "label does not match the item");
                cr_assert_geq(log.lab[i], 3, "identity %d has fewer than K images and must be skipped", log.lab[i]);
                count[log.lab[i]]++;
                for (size_t j = b * 12; j < i; j++) cr_assert_neq(log.idx[i], log.idx[j], "item repeated within a batch");
            }
            int ids = 0;
            for (int k = 0; k < 10; k++) {
                cr_assert(count[k] == 0 || count[k] == 4, "identity %d appears %d times", k, count[k]);
                ids += count[k] == 4;
            }
            cr_assert_eq(ids, 3);
        }
    }
    fcl_loader_destroy(l);

    /* With replacement: every identity is eligible (10 -> 3 batches); small ones repeat items. */
    o.pk_replace = 1;
    l = make(&p, &o);
    cr_assert_eq(fcl_loader_batches_per_epoch(l), 3);
    int small_seen = 0;
    for (int ep = 0; ep < 6; ep++) {
        run_epoch(l, ep, &log);
        for (size_t i = 0; i < log.n_items; i++) small_seen |= log.lab[i] < 3;
    }
    cr_assert(small_seen, "identities with fewer than K images never appeared with pk_replace");
    fcl_loader_destroy(l);

    /* Not enough identities. */
    o.pk_replace = 0;
    o.pk_p = 8;
    fcl_loader_source s = src_of(&p);
    fcl_error e = {0};
    cr_assert_eq(fcl_loader_create(&l, &s, &o, &e), FCL_ERR_INVALID_ARG);
    cr_assert_not_null(strstr(e.msg, "only 7 of 10"), "%s", e.msg);
    cr_assert_null(l);
}

Test(loader, worker_error_reaches_the_consumer)
{
    pattern_src p = {40, 4, NULL, 13, -1, 1};
    fcl_loader_opts o = base_opts(5, 4, 3);
    fcl_loader *l = make(&p, &o);
    fcl_error e = {0};
    cr_assert_eq(fcl_loader_start_epoch(l, 0, &e), FCL_OK);
    const fcl_batch *b;
    for (int i = 0; i < 2; i++) {
        cr_assert_eq(fcl_loader_next(l, &b, &e), FCL_OK, "batch %d: %s", i, e.msg);
        cr_assert_not_null(b);
    }
    /* Batch 2 holds items 10..14. */
    cr_assert_eq(fcl_loader_next(l, &b, &e), FCL_ERR_FORMAT);
    cr_assert_null(b);
    cr_assert_not_null(strstr(e.msg, "item 13"), "%s", e.msg);
    cr_assert_not_null(strstr(e.msg, "broken on purpose"), "%s", e.msg);
    /* The epoch is over; a new one can start and fails at the same place. */
    cr_assert_eq(fcl_loader_next(l, &b, &e), FCL_OK);
    cr_assert_null(b);
    cr_assert_eq(fcl_loader_start_epoch(l, 1, &e), FCL_OK);
    cr_assert_eq(fcl_loader_next(l, &b, &e), FCL_OK, "%s", e.msg);
    fcl_loader_destroy(l);
}

Test(loader, skip_bad_replaces_and_warns)
{
    pattern_src p = {20, 4, NULL, 13, 14, 0};
    fcl_loader_opts o = base_opts(5, 4, 2);
    o.skip_bad = 1;
    fcl_loader *l = make(&p, &o);
    static epoch_log log;
    run_epoch(l, 0, &log);
    cr_assert_eq(log.n_items, 20);
    /* 13 and 14 fail; both are replaced by 15 (the next index that loads). */
    cr_assert_eq(log.idx[13], 15);
    cr_assert_eq(log.idx[14], 15);
    cr_assert_eq(log.lab[13], 0);
    cr_assert_eq(fcl_loader_warning_count(l), 2);
    fcl_strlist w = {0};
    fcl_error e = {0};
    cr_assert_eq(fcl_loader_take_warnings(l, &w, &e), FCL_OK);
    cr_assert_eq(w.n, 2);
    cr_assert_not_null(strstr(w.items[0], "item 13"), "%s", w.items[0]);
    cr_assert_not_null(strstr(w.items[0], "broken on purpose"), "%s", w.items[0]);
    cr_assert_not_null(strstr(w.items[1], "item 14"), "%s", w.items[1]);
    cr_assert_eq(fcl_loader_warning_count(l), 0);
    fcl_strlist_free(&w);
    fcl_loader_destroy(l);
}

Test(loader, shutdown_mid_epoch_and_restart)
{
    pattern_src p = {200, 16, NULL, -1, -1, 1};
    fcl_loader_opts o = base_opts(4, 16, 3);
    o.prefetch = 4;
    fcl_error e = {0};
    const fcl_batch *b;
    /* Destroy right after starting, with workers busy. */
    fcl_loader *l = make(&p, &o);
    cr_assert_eq(fcl_loader_start_epoch(l, 0, &e), FCL_OK);
    fcl_loader_destroy(l);
    /* Destroy without ever starting an epoch; then restart an epoch mid-way. */
    l = make(&p, &o);
    fcl_loader_destroy(l);
    l = make(&p, &o);
    cr_assert_eq(fcl_loader_start_epoch(l, 0, &e), FCL_OK);
    cr_assert_eq(fcl_loader_next(l, &b, &e), FCL_OK);
    cr_assert_not_null(b);
    cr_assert_eq(fcl_loader_start_epoch(l, 1, &e), FCL_OK);
    cr_assert_eq(fcl_loader_next(l, &b, &e), FCL_OK, "%s", e.msg);
    cr_assert_not_null(b);
    cr_assert_eq(b->epoch, 1);
    cr_assert_eq(b->batch_index, 0);
    cr_assert_eq(b->indices[0], 0);
    cr_assert_eq(b->data[5], pattern(0, 0, 0, 5));
    fcl_loader_destroy(l);
    fcl_loader_destroy(NULL);
    /* next without an epoch: the end. */
    l = make(&p, &o);
    cr_assert_eq(fcl_loader_next(l, &b, &e), FCL_OK);
    cr_assert_null(b);
    fcl_loader_destroy(l);
}

Test(loader, bad_options)
{
    pattern_src p = {10, 4, NULL, -1, -1, 0};
    fcl_loader_source s = src_of(&p);
    fcl_loader *l = NULL;
    fcl_error e = {0};
    fcl_loader_opts o = base_opts(4, 4, 1);
    o.channels = 2;
    cr_assert_eq(fcl_loader_create(&l, &s, &o, &e), FCL_ERR_INVALID_ARG);
    cr_assert_not_null(strstr(e.msg, "channels"), "%s", e.msg);
    o = base_opts(0, 4, 1);
    cr_assert_eq(fcl_loader_create(&l, &s, &o, &e), FCL_ERR_INVALID_ARG);
    cr_assert_not_null(strstr(e.msg, "batch size"), "%s", e.msg);
    o = base_opts(4, 4, 0);
    cr_assert_eq(fcl_loader_create(&l, &s, &o, &e), FCL_ERR_INVALID_ARG);
    o = base_opts(4, 4, 1);
    o.sampler = FCL_SAMPLER_PK;
    o.pk_p = 2;
    o.pk_k = 2;
    cr_assert_eq(fcl_loader_create(&l, &s, &o, &e), FCL_ERR_INVALID_ARG);
    cr_assert_not_null(strstr(e.msg, "labels"), "%s", e.msg);
    s.count = 0;
    o = base_opts(4, 4, 1);
    cr_assert_eq(fcl_loader_create(&l, &s, &o, &e), FCL_ERR_INVALID_ARG);
    cr_assert_null(l);
    s = src_of(&p);
    cr_assert_eq(fcl_loader_create(&l, &s, &o, &e), FCL_OK);
    cr_assert_eq(fcl_loader_start_epoch(l, -1, &e), FCL_ERR_INVALID_ARG);
    fcl_loader_destroy(l);
}

/* Synthetic faces straight from memory, no files. */
Test(loader, synth_source)
{
    fcl_synth_source ss = {6, 4, 32, 3, 99, 1.0f};
    fcl_loader_source s = {24, fcl_synth_source_get, &ss, NULL};
    fcl_loader_opts o = base_opts(6, 32, 2);
    o.channels = 3;
    fcl_loader *l = NULL;
    fcl_error e = {0};
    cr_assert_eq(fcl_loader_create(&l, &s, &o, &e), FCL_OK, "%s", e.msg);
    cr_assert_eq(fcl_loader_start_epoch(l, 0, &e), FCL_OK);
    const fcl_batch *b;
    cr_assert_eq(fcl_loader_next(l, &b, &e), FCL_OK, "%s", e.msg);
    cr_assert_eq(b->labels[5], 1);
    fcl_image want = {0, 0, 0, NULL};
    cr_assert_eq(fcl_synth_render_indexed(99, 0, 1, 1, 32, 3, 1.0f, &want, &e), FCL_OK);
    cr_assert_eq(memcmp(b->data + 5 * 3 * 32 * 32, want.data, 3 * 32 * 32 * sizeof(float)), 0);
    fcl_image_free(&want);
    fcl_loader_destroy(l);
}

/* ---- files: dataset source, bad file, throughput ------------------------------------------- */

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(p);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* A synthetic train set of ids x per_id RGB images of size x size (no validation split, unseen
 * identities or pairs) written into a fresh temporary folder `dir` and opened as ds. */
static void synth_train_set(char *dir, size_t dir_size, int ids, int per_id, int size, fcl_dataset *ds)
{
    char out[96], p[160];
    fcl_test_tmpdir(dir, dir_size, "loader");
    snprintf(out, sizeof out, "%s/set", dir);
    fcl_synth_opts so;
    fcl_synth_opts_default(&so);
    so.ids = ids;
    so.per_id = per_id;
    so.size = size;
    so.val_frac = 0.0f;
    so.unseen_ids = 0;
    so.pairs = 0;
    fcl_error e = {0};
    cr_assert_eq(fcl_synth_write_dataset(out, &so, NULL, NULL, &e), FCL_OK, "%s", e.msg);
    snprintf(p, sizeof p, "%s/train", out);
    cr_assert_eq(fcl_dataset_open_folder(p, 0, NULL, ds, &e), FCL_OK, "%s", e.msg);
}

Test(loader, dataset_source_and_bad_file)
{
    char dir[64];
    fcl_dataset ds;
    synth_train_set(dir, sizeof dir, 3, 4, 24, &ds);
    fcl_error e = {0};
    fcl_loader_source s = fcl_loader_source_dataset(&ds);
    fcl_loader_opts o = base_opts(5, 24, 2);
    o.channels = 3;
    fcl_loader *l = NULL;
    cr_assert_eq(fcl_loader_create(&l, &s, &o, &e), FCL_OK, "%s", e.msg);
    cr_assert_eq(fcl_loader_start_epoch(l, 0, &e), FCL_OK);
    const fcl_batch *b;
    size_t seen = 0;
    while (fcl_loader_next(l, &b, &e) == FCL_OK && b) {
        for (int i = 0; i < b->n; i++) {
            cr_assert_eq(b->labels[i], ds.labels[b->indices[i]]);
            fcl_image want = {0, 0, 0, NULL};
            cr_assert_eq(fcl_image_decode_file(ds.paths[b->indices[i]], 3, &want, &e), FCL_OK, "%s", e.msg);
            cr_assert_eq(memcmp(b->data + (size_t)i * 3 * 24 * 24, want.data, 3 * 24 * 24 * sizeof(float)), 0);
            fcl_image_free(&want);
        }
        seen += (size_t)b->n;
    }
    cr_assert_eq(seen, 12);

    /* Truncate item 6's file: the batch that holds it fails naming the file. */
    FILE *f = fopen(ds.paths[6], "wb");
    cr_assert_not_null(f);
    fputs("not a png", f);
    fclose(f);
    cr_assert_eq(fcl_loader_start_epoch(l, 1, &e), FCL_OK);
    fcl_status st = FCL_OK;
    while ((st = fcl_loader_next(l, &b, &e)) == FCL_OK && b) {}
    cr_assert_neq(st, FCL_OK);
    cr_assert_not_null(strstr(e.msg, "item 6"), "%s", e.msg);
    cr_assert_not_null(strstr(e.msg, ds.paths[6] + strlen(dir)), "message should name the file: %s", e.msg);
    fcl_loader_destroy(l);
    fcl_dataset_free(&ds);
    nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* Decode + augment throughput: 112x112 RGB PNG, 2 workers (the measurement). */
Test(loader, throughput_112_png, .timeout = 120)
{
    char dir[64];
    fcl_dataset ds;
    double t0 = now_s();
    synth_train_set(dir, sizeof dir, 16, 16, 112, &ds);
    double t_write = now_s() - t0;
    fcl_error e = {0};
    fcl_aug_pipeline aug;
    cr_assert_eq(fcl_aug_parse("flip,crop=8,rotate=10,jitter=0.2:0.2:0.2,erase=0.25,norm=0.5:0.5", &aug, &e), FCL_OK);
    fcl_loader_source s = fcl_loader_source_dataset(&ds);
    fcl_loader_opts o = base_opts(32, 112, 2);
    o.channels = 3;
    o.sampler = FCL_SAMPLER_SHUFFLE;
    o.aug = &aug;
    fcl_loader *l = NULL;
    cr_assert_eq(fcl_loader_create(&l, &s, &o, &e), FCL_OK, "%s", e.msg);
    const fcl_batch *b;
    size_t n = 0;
    t0 = now_s();
    for (int ep = 0; ep < 2; ep++) {
        cr_assert_eq(fcl_loader_start_epoch(l, ep, &e), FCL_OK);
        while (fcl_loader_next(l, &b, &e) == FCL_OK && b) n += (size_t)b->n;
    }
    double el = now_s() - t0;
    cr_assert_eq(n, 2 * 256);
    cr_log_info("loader: %zu images 112x112 RGB PNG decode + flip/crop/rotate/jitter/erase/norm, 2 workers: %.0f images/s "
                "(writing the 256 synthetic PNGs took %.2f s)", n, (double)n / el, t_write);
    /* No-augmentation rate for comparison. */
    fcl_loader_destroy(l);
    o.aug = NULL;
    cr_assert_eq(fcl_loader_create(&l, &s, &o, &e), FCL_OK, "%s", e.msg);
    n = 0;
    t0 = now_s();
    cr_assert_eq(fcl_loader_start_epoch(l, 0, &e), FCL_OK);
    while (fcl_loader_next(l, &b, &e) == FCL_OK && b) n += (size_t)b->n;
    el = now_s() - t0;
    cr_log_info("loader: decode only, 2 workers: %.0f images/s", (double)n / el);
    fcl_loader_destroy(l);
    fcl_dataset_free(&ds);
    nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* Data-parallel shards: shard r of N produces rows [r B/N, (r+1) B/N) of every unsharded batch,
 * with the same augmentation (keyed by the global position); shuffle and P x K. */
static void check_shards(fcl_loader_opts o, pattern_src *p, int N)
{
    fcl_error e = {0};
    fcl_aug_pipeline aug;
    cr_assert_eq(fcl_aug_parse("flip,crop=2,jitter=0.3:0.3:0", &aug, &e), FCL_OK, "%s", e.msg);
    o.aug = &aug;
    fcl_loader_source src = src_of(p);
    fcl_loader *full = NULL;
    cr_assert_eq(fcl_loader_create(&full, &src, &o, &e), FCL_OK, "%s", e.msg);
    size_t nb = fcl_loader_batches_per_epoch(full), item = (size_t)o.height * (size_t)o.width;
    for (int epoch = 0; epoch < 2; epoch++) {
        cr_assert_eq(fcl_loader_start_epoch(full, epoch, &e), FCL_OK, "%s", e.msg);
        float *want = malloc(nb * 64 * item * sizeof *want);
        int *wl = malloc(nb * 64 * sizeof *wl), B = 0;
        const fcl_batch *b;
        for (size_t k = 0; k < nb; k++) {
            cr_assert_eq(fcl_loader_next(full, &b, &e), FCL_OK, "%s", e.msg);
            cr_assert_not_null(b);
            B = b->n;
            memcpy(want + k * (size_t)B * item, b->data, (size_t)B * item * sizeof(float));
            memcpy(wl + k * (size_t)B, b->labels, (size_t)B * sizeof(int));
        }
        for (int r = 0; r < N; r++) {
            fcl_loader_opts so = o;
            so.shard_index = r;
            so.shard_count = N;
            so.workers = 1 + r % 3; /* thread count must not matter */
            fcl_loader *l = NULL;
            cr_assert_eq(fcl_loader_create(&l, &src, &so, &e), FCL_OK, "%s", e.msg);
            cr_expect_eq(fcl_loader_batches_per_epoch(l), nb);
            cr_assert_eq(fcl_loader_start_epoch(l, epoch, &e), FCL_OK, "%s", e.msg);
            int S = B / N;
            for (size_t k = 0; k < nb; k++) {
                cr_assert_eq(fcl_loader_next(l, &b, &e), FCL_OK, "%s", e.msg);
                cr_assert_not_null(b, "shard %d ended after %zu batches", r, k);
                cr_assert_eq(b->n, S);
                size_t row0 = k * (size_t)B + (size_t)r * (size_t)S;
                cr_expect_eq(memcmp(b->data, want + row0 * item, (size_t)S * item * sizeof(float)), 0,
                             "epoch %d batch %zu shard %d: images differ from the unsharded batch's rows", epoch, k, r);
                cr_expect_eq(memcmp(b->labels, wl + row0, (size_t)S * sizeof(int)), 0);
            }
            cr_assert_eq(fcl_loader_next(l, &b, &e), FCL_OK);
            cr_expect_null(b);
            fcl_loader_destroy(l);
        }
        free(want);
        free(wl);
    }
    fcl_loader_destroy(full);
}

Test(loader, shards_are_rows_of_the_global_batch)
{
    pattern_src p = {50, 6, NULL, -1, -1, 0};
    fcl_loader_opts o = base_opts(12, 6, 2);
    o.sampler = FCL_SAMPLER_SHUFFLE;
    o.drop_last = 1;
    check_shards(o, &p, 3);
    check_shards(o, &p, 2);
    int labels[60];
    for (int i = 0; i < 60; i++) labels[i] = i % 10;
    pattern_src q = {60, 6, labels, -1, -1, 0};
    fcl_loader_opts pk = base_opts(0, 6, 2);
    pk.sampler = FCL_SAMPLER_PK;
    pk.pk_p = 4;
    pk.pk_k = 3;
    check_shards(pk, &q, 2);
}

Test(loader, shards_need_full_divisible_batches)
{
    pattern_src p = {50, 6, NULL, -1, -1, 0};
    fcl_loader_source src = src_of(&p);
    fcl_error e = {0};
    fcl_loader *l = NULL;
    fcl_loader_opts o = base_opts(10, 6, 1);
    o.sampler = FCL_SAMPLER_SHUFFLE;
    o.drop_last = 1;
    o.shard_count = 3;
    cr_expect_eq(fcl_loader_create(&l, &src, &o, &e), FCL_ERR_INVALID_ARG, "batch 10 over 3 shards");
    cr_expect(strstr(e.msg, "multiple of 3") != NULL, "%s", e.msg);
    o.batch_size = 12;
    o.drop_last = 0;
    cr_expect_eq(fcl_loader_create(&l, &src, &o, &e), FCL_ERR_INVALID_ARG, "a last partial batch cannot be sharded");
}
