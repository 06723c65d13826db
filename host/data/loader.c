/* host/data/loader.c: worker threads fill a ring of batch slots in order; samplers; seeded per-item augmentation. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "facecl/loader.h"
#include "runtime/free_list.h"

#define NO_BATCH ((size_t)-1)
#define MAX_REPLACE 16          /* skip_bad: replacement tries per failing item */

/* One batch in the ring. A slot holds batch `batch` of the current epoch while it is being
 * filled, waits for the consumer when filled == n, and is held by the consumer after. */
typedef struct slot {
    fcl_batch b;
    size_t batch;               /* NO_BATCH: unused this epoch */
    int n, filled;
    fcl_status st;              /* first failure (lowest position) of the batch */
    size_t err_pos;
    fcl_error *err;
    char **warn;                /* per position in the batch: a skip_bad warning or NULL */
} slot;

typedef struct worker {
    struct fcl_loader *l;
    pthread_t thread;
    int started;
    fcl_error err;              /* scratch for the item at hand */
} worker;

struct fcl_loader {
    fcl_loader_source src;
    fcl_loader_opts o;
    fcl_aug_pipeline aug;
    int has_aug;
    int B, Q;                   /* batch capacity (this shard's part), ring slots (prefetch + 1) */
    int Bg;                     /* the global batch (B * shard count) */
    size_t *gpos;               /* sharded: global epoch position of each local position */
    slot *slots;
    worker *workers;
    int n_workers;

    /* P x K: items of each identity (ids with at least one item), by label order. */
    int n_ids;
    size_t *id_start, *id_count, *id_items;
    int *eligible;              /* identity indices the sampler may use */
    int n_eligible;

    pthread_mutex_t mu;
    pthread_cond_t work_cv;     /* workers: new work or stop */
    pthread_cond_t done_cv;     /* consumer: a batch completed */
    pthread_cond_t idle_cv;     /* start_epoch: in-flight items finished */
    int stop;

    /* Epoch state (under mu). */
    int active, epoch;
    size_t *order;              /* source index of every position of the epoch */
    size_t total, n_batches, order_cap;
    size_t next_pos;            /* next position to hand to a worker */
    size_t next_batch;          /* next batch the consumer gets */
    int holding;                /* the consumer holds batch next_batch - 1 */
    size_t fail_batch;          /* no work is handed out beyond a failed batch */
    int in_flight;
    fcl_strlist warnings;
};

static uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Seed for one purpose (tag) of one epoch and position: independent streams, no shared state. */
static uint64_t derive(uint64_t seed, uint64_t tag, uint64_t epoch, uint64_t pos)
{
    uint64_t x = mix64(seed + 0x9e3779b97f4a7c15ull * (tag + 1));
    x = mix64(x ^ (epoch * 0xd1b54a32d192ed03ull + 0x8cb92ba72f3d8dd7ull));
    return mix64(x + pos * 0xaef17502108ef2d9ull + 0x632be59bd9b4e019ull);
}

enum { TAG_SHUFFLE = 1, TAG_PK = 2, TAG_ITEM = 3 };

static size_t below(fcl_rng *r, size_t n) { return n ? (size_t)(fcl_rng_next(r) % (uint64_t)n) : 0; }

/* ---- dataset source ------------------------------------------------------------------------ */

static fcl_status dataset_get(void *user, size_t index, int channels, fcl_image *out, int *label,
                              fcl_error *err)
{
    const fcl_dataset *ds = user;
    if (index >= ds->n)
        return FCL_ERR(err, FCL_ERR_INVALID_ARG, "dataset %s: index %zu out of range (%zu images)", ds->root, index, ds->n);
    fcl_status st = fcl_dataset_load(ds, index, channels, 0, 0, out, err);
    if (st) return st;
    if (label) *label = ds->labels ? ds->labels[index] : -1;
    return FCL_OK;
}

fcl_loader_source fcl_loader_source_dataset(const fcl_dataset *ds)
{
    fcl_loader_source s;
    s.count = ds ? ds->n : 0;
    s.get = dataset_get;
    s.user = (void *)ds; /* read only: dataset_get takes it back as const */
    s.labels = ds ? ds->labels : NULL;
    return s;
}

/* ---- the work of one item ------------------------------------------------------------------ */

static size_t batch_len(const fcl_loader *l, size_t b)
{
    size_t start = b * (size_t)l->B;
    return l->total - start < (size_t)l->B ? l->total - start : (size_t)l->B;
}

/* Produces source item `index` as a C x H x W image into dst; *label set. */
static fcl_status produce(fcl_loader *l, size_t index, uint64_t item_seed, float *dst, int *label,
                          fcl_error *err)
{
    fcl_status st;
    fcl_image img = {0, 0, 0, NULL}, sized = {0, 0, 0, NULL};
    const int C = l->o.channels, H = l->o.height, W = l->o.width;
    fcl_rng rng;
    fcl_rng_seed(&rng, item_seed);
    int lab = -1;
    if ((st = l->src.get(l->src.user, index, C, &img, &lab, err))) goto fail;
    if (!img.data || img.c != C || img.h < 1 || img.w < 1) {
        st = FCL_ERR(err, FCL_ERR_INTERNAL, "loader: the source gave item %zu as a %dx%dx%d image; %d channel(s) were asked for",
                     index, img.c, img.h, img.w, C);
        goto fail;
    }
    if (l->has_aug && (st = fcl_aug_apply(&l->aug, &img, &rng, err))) goto fail;
    if (img.h != H || img.w != W) {
        if ((st = fcl_image_resize(&img, H, W, &sized, err))) goto fail;
        fcl_image_free(&img);
        img = sized;
        sized.data = NULL;
    }
    if (img.c != C) {
        st = FCL_ERR(err, FCL_ERR_INTERNAL, "loader: item %zu has %d channels after augmentation, expected %d", index, img.c, C);
        goto fail;
    }
    memcpy(dst, img.data, (size_t)C * (size_t)H * (size_t)W * sizeof(float));
    *label = lab;
    st = FCL_OK;
fail:
    fcl_image_free(&img);
    fcl_image_free(&sized);
    return st;
}

/* Replacement candidate number `k` (1-based) for the item at `pos`: the next items of the same
 * identity for P x K, else the next indices. */
static size_t replacement(const fcl_loader *l, size_t index, size_t k)
{
    if (l->o.sampler == FCL_SAMPLER_PK && l->src.labels) {
        int lab = l->src.labels[index];
        for (int i = 0; i < l->n_ids; i++) {
            const size_t *it = l->id_items + l->id_start[i];
            if (l->src.labels[it[0]] != lab) continue;
            size_t c = l->id_count[i], j = 0;
            while (j < c && it[j] != index) j++;
            return it[(j + k) % c];
        }
    }
    return (index + k) % l->src.count;
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    fcl_loader *l = w->l;
    const size_t item_floats = (size_t)l->o.channels * (size_t)l->o.height * (size_t)l->o.width;
    pthread_mutex_lock(&l->mu);
    for (;;) {
        while (!l->stop && !(l->active && l->next_pos < l->total &&
                             l->next_pos / (size_t)l->B <= l->fail_batch &&
                             l->next_pos / (size_t)l->B < (l->next_batch - (size_t)l->holding) + (size_t)l->Q))
            pthread_cond_wait(&l->work_cv, &l->mu);
        if (l->stop) break;
        size_t pos = l->next_pos++, b = pos / (size_t)l->B, k = pos % (size_t)l->B;
        slot *s = &l->slots[b % (size_t)l->Q];
        if (k == 0) {
            s->batch = b;
            s->n = (int)batch_len(l, b);
            s->filled = 0;
            s->st = FCL_OK;
            s->err_pos = NO_BATCH;
        }
        size_t index = l->order[pos];
        int epoch = l->epoch;
        l->in_flight++;
        pthread_mutex_unlock(&l->mu);

        /* Everything below depends only on (seed, epoch, pos): not on which thread runs it. */
        uint64_t item_seed = derive(l->o.seed, TAG_ITEM, (uint64_t)epoch, l->gpos ? l->gpos[pos] : pos);
        float *dst = s->b.data + k * item_floats;
        int label = -1;
        size_t used = index;
        char *warn = NULL;
        fcl_error_clear(&w->err);
        fcl_status st = produce(l, index, item_seed, dst, &label, &w->err);
        if (st && l->o.skip_bad) {
            /* Keep the first failure's text (it names the bad file) for the warning. */
            char *first = strdup(w->err.msg);
            size_t tries = 0;
            for (size_t t = 1; st && t <= MAX_REPLACE && t < l->src.count; t++) {
                used = replacement(l, index, t);
                if (used == index) break;
                tries++;
                fcl_error_clear(&w->err);
                st = produce(l, used, item_seed, dst, &label, &w->err);
            }
            if (!st) {
                size_t len = (first ? strlen(first) : 0) + 96;
                warn = malloc(len);
                if (warn) snprintf(warn, len, "item %zu replaced by item %zu: %s", index, used, first ? first : "");
            } else if (first) {
                snprintf(w->err.msg, sizeof w->err.msg, "%s (and %zu replacement(s) failed too)", first, tries);
            }
            free(first);
        }

        pthread_mutex_lock(&l->mu);
        l->in_flight--;
        if (l->active && l->epoch == epoch) {
            s->b.labels[k] = label;
            s->b.indices[k] = used;
            free(s->warn[k]);
            s->warn[k] = warn;
            warn = NULL;
            if (st && (s->st == FCL_OK || pos < s->err_pos)) {
                s->st = st;
                s->err_pos = pos;
                /* counted from 1, as progress shows them */
                snprintf(s->err->msg, sizeof s->err->msg, "loader: item %zu (epoch %d, batch %zu): %s%s", index, epoch + 1,
                         b + 1, w->err.msg, l->o.skip_bad ? "" : " (--skip-bad leaves bad images out with a warning)");
                s->err->status = st;
                if (b < l->fail_batch) l->fail_batch = b;
            }
            if (++s->filled == s->n) pthread_cond_broadcast(&l->done_cv);
        }
        free(warn);
        if (l->in_flight == 0) pthread_cond_broadcast(&l->idle_cv);
    }
    pthread_mutex_unlock(&l->mu);
    return NULL;
}

/* ---- epochs -------------------------------------------------------------------------------- */

/* Fills l->order for `epoch` (called with no worker active). */
static fcl_status plan_epoch(fcl_loader *l, int epoch, fcl_error *err)
{
    fcl_rng r;
    size_t need;
    if (l->o.sampler == FCL_SAMPLER_PK) {
        size_t P = (size_t)l->o.pk_p, K = (size_t)l->o.pk_k;
        l->n_batches = (size_t)l->n_eligible / P;
        need = l->n_batches * P * K;
    } else {
        size_t B = (size_t)l->Bg, n = l->src.count;
        l->n_batches = l->o.drop_last ? n / B : (n + B - 1) / B;
        need = l->o.drop_last ? l->n_batches * B : n;
    }
    if (need > l->order_cap) {
        size_t *o = realloc(l->order, (need ? need : 1) * sizeof *o);
        if (!o) return FCL_ERR(err, FCL_ERR_NOMEM, "loader: out of memory for an epoch of %zu items", need);
        l->order = o;
        l->order_cap = need;
    }
    l->total = need;
    if (l->o.sampler == FCL_SAMPLER_SEQUENTIAL) {
        for (size_t i = 0; i < need; i++) l->order[i] = i;
    } else if (l->o.sampler == FCL_SAMPLER_SHUFFLE) {
        /* A full permutation of all items, then the first `need` (drop_last drops random ones). */
        size_t n = l->src.count;
        size_t *perm = malloc(n * sizeof *perm);
        if (!perm) return FCL_ERR(err, FCL_ERR_NOMEM, "loader: out of memory for a permutation of %zu", n);
        for (size_t i = 0; i < n; i++) perm[i] = i;
        fcl_rng_seed(&r, derive(l->o.seed, TAG_SHUFFLE, (uint64_t)epoch, 0));
        for (size_t i = n; i > 1; i--) {
            size_t j = below(&r, i), t = perm[i - 1];
            perm[i - 1] = perm[j];
            perm[j] = t;
        }
        memcpy(l->order, perm, need * sizeof *perm);
        free(perm);
    } else {
        size_t P = (size_t)l->o.pk_p, K = (size_t)l->o.pk_k, pos = 0;
        int *ids = malloc((size_t)(l->n_eligible ? l->n_eligible : 1) * sizeof *ids);
        size_t maxc = 1;
        for (int i = 0; i < l->n_ids; i++)
            if (l->id_count[i] > maxc) maxc = l->id_count[i];
        size_t *pool = malloc(maxc * sizeof *pool);
        if (!ids || !pool) {
            free(ids);
            free(pool);
            return FCL_ERR(err, FCL_ERR_NOMEM, "loader: out of memory planning a P x K epoch");
        }
        memcpy(ids, l->eligible, (size_t)l->n_eligible * sizeof *ids);
        fcl_rng_seed(&r, derive(l->o.seed, TAG_PK, (uint64_t)epoch, 0));
        for (size_t i = (size_t)l->n_eligible; i > 1; i--) {
            size_t j = below(&r, i);
            int t = ids[i - 1];
            ids[i - 1] = ids[j];
            ids[j] = t;
        }
        for (size_t g = 0; g < l->n_batches * P; g++) {
            int id = ids[g];
            const size_t *items = l->id_items + l->id_start[id];
            size_t c = l->id_count[id];
            if (c >= K) { /* K distinct images: a partial Fisher-Yates */
                memcpy(pool, items, c * sizeof *pool);
                for (size_t k = 0; k < K; k++) {
                    size_t j = k + below(&r, c - k), t = pool[k];
                    pool[k] = pool[j];
                    pool[j] = t;
                    l->order[pos++] = pool[k];
                }
            } else { /* fewer than K (pk_replace): with replacement */
                for (size_t k = 0; k < K; k++) l->order[pos++] = items[below(&r, c)];
            }
        }
        free(ids);
        free(pool);
    }
    if (l->o.shard_count > 1) { /* keep this shard's part of every global batch, in place */
        size_t Bg = (size_t)l->Bg, S = (size_t)l->B, sh = (size_t)l->o.shard_index, cnt = l->n_batches * S;
        size_t *g = realloc(l->gpos, (cnt ? cnt : 1) * sizeof *g);
        if (!g) return FCL_ERR(err, FCL_ERR_NOMEM, "loader: out of memory for an epoch of %zu items", need);
        l->gpos = g;
        for (size_t b = 0; b < l->n_batches; b++)
            for (size_t k = 0; k < S; k++) {
                g[b * S + k] = b * Bg + sh * S + k;
                l->order[b * S + k] = l->order[g[b * S + k]]; /* reads ahead of (or at) the write */
            }
        l->total = l->n_batches * S;
    }
    return FCL_OK;
}

/* Stops handing out work of the current epoch and waits until no item is in flight. */
static void quiesce(fcl_loader *l)
{
    l->active = 0;
    while (l->in_flight > 0) pthread_cond_wait(&l->idle_cv, &l->mu);
}

fcl_status fcl_loader_start_epoch(fcl_loader *l, int epoch, fcl_error *err)
{
    fcl_status st;
    if (!l) return FCL_ERR(err, FCL_ERR_INVALID_ARG, "fcl_loader_start_epoch: NULL loader");
    if (epoch < 0) return FCL_ERR(err, FCL_ERR_INVALID_ARG, "fcl_loader_start_epoch: negative epoch %d", epoch);
    pthread_mutex_lock(&l->mu);
    quiesce(l);
    if ((st = plan_epoch(l, epoch, err))) {
        pthread_mutex_unlock(&l->mu);
        return st;
    }
    for (int i = 0; i < l->Q; i++) {
        slot *s = &l->slots[i];
        s->batch = NO_BATCH;
        s->filled = s->n = 0;
        s->st = FCL_OK;
        for (int k = 0; k < l->B; k++) {
            free(s->warn[k]);
            s->warn[k] = NULL;
        }
    }
    l->epoch = epoch;
    l->next_pos = 0;
    l->next_batch = 0;
    l->holding = 0;
    l->fail_batch = NO_BATCH;
    l->active = 1;
    pthread_cond_broadcast(&l->work_cv);
    pthread_mutex_unlock(&l->mu);
    return FCL_OK;
}

fcl_status fcl_loader_next(fcl_loader *l, const fcl_batch **batch, fcl_error *err)
{
    fcl_status st = FCL_OK;
    if (!l || !batch) return FCL_ERR(err, FCL_ERR_INVALID_ARG, "fcl_loader_next: NULL argument");
    *batch = NULL;
    pthread_mutex_lock(&l->mu);
    if (l->holding) { /* the consumer is done with the previous batch: its slot is free */
        l->holding = 0;
        pthread_cond_broadcast(&l->work_cv);
    }
    if (!l->active || l->next_batch >= l->n_batches) {
        l->active = 0;
        goto done;
    }
    slot *s = &l->slots[l->next_batch % (size_t)l->Q];
    while (!l->stop && !(s->batch == l->next_batch && s->filled == s->n))
        pthread_cond_wait(&l->done_cv, &l->mu);
    if (l->stop) {
        st = FCL_ERR(err, FCL_ERR_INTERNAL, "loader: stopped");
        goto done;
    }
    if (s->st) {
        st = s->st;
        if (err) {
            err->status = s->st;
            memcpy(err->msg, s->err->msg, sizeof err->msg);
        }
        quiesce(l);
        goto done;
    }
    for (int k = 0; k < s->n; k++) {
        if (!s->warn[k]) continue;
        st = fcl_strlist_add(&l->warnings, err, "%s", s->warn[k]);
        free(s->warn[k]);
        s->warn[k] = NULL;
        if (st) goto done;
    }
    s->b.n = s->n;
    s->b.epoch = l->epoch;
    s->b.batch_index = l->next_batch;
    l->next_batch++;
    l->holding = 1;
    *batch = &s->b;
done:
    pthread_mutex_unlock(&l->mu);
    return st;
}

size_t fcl_loader_batches_per_epoch(const fcl_loader *l)
{
    if (!l) return 0;
    if (l->o.sampler == FCL_SAMPLER_PK) return (size_t)l->n_eligible / (size_t)l->o.pk_p;
    size_t B = (size_t)l->Bg, n = l->src.count;
    return l->o.drop_last ? n / B : (n + B - 1) / B;
}

size_t fcl_loader_warning_count(const fcl_loader *l) { return l ? l->warnings.n : 0; }

fcl_status fcl_loader_take_warnings(fcl_loader *l, fcl_strlist *dst, fcl_error *err)
{
    if (!l || !dst) return FCL_ERR(err, FCL_ERR_INVALID_ARG, "fcl_loader_take_warnings: NULL argument");
    pthread_mutex_lock(&l->mu);
    fcl_status st = FCL_OK;
    for (size_t i = 0; i < l->warnings.n && !st; i++) st = fcl_strlist_add(dst, err, "%s", l->warnings.items[i]);
    if (!st) fcl_strlist_free(&l->warnings);
    pthread_mutex_unlock(&l->mu);
    return st;
}

/* ---- create / destroy ---------------------------------------------------------------------- */

static int cmp_size_by_label(const void *a, const void *b, void *labels)
{
    const int *lab = labels;
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    if (lab[x] != lab[y]) return lab[x] < lab[y] ? -1 : 1;
    return x < y ? -1 : (x > y);
}

/* Groups the items by label for the P x K sampler. */
static fcl_status build_identities(fcl_loader *l, fcl_error *err)
{
    const int *lab = l->src.labels;
    size_t n = l->src.count, m = 0;
    l->id_items = malloc(n * sizeof *l->id_items);
    if (!l->id_items) return FCL_ERR(err, FCL_ERR_NOMEM, "loader: out of memory");
    for (size_t i = 0; i < n; i++)
        if (lab[i] >= 0) l->id_items[m++] = i;
    qsort_r(l->id_items, m, sizeof *l->id_items, cmp_size_by_label, (void *)lab);
    int ids = 0;
    for (size_t i = 0; i < m; i++)
        if (i == 0 || lab[l->id_items[i]] != lab[l->id_items[i - 1]]) ids++;
    l->id_start = malloc((size_t)(ids ? ids : 1) * sizeof *l->id_start);
    l->id_count = calloc((size_t)(ids ? ids : 1), sizeof *l->id_count);
    l->eligible = malloc((size_t)(ids ? ids : 1) * sizeof *l->eligible);
    if (!l->id_start || !l->id_count || !l->eligible) return FCL_ERR(err, FCL_ERR_NOMEM, "loader: out of memory");
    int k = -1;
    for (size_t i = 0; i < m; i++) {
        if (i == 0 || lab[l->id_items[i]] != lab[l->id_items[i - 1]]) l->id_start[++k] = i;
        l->id_count[k]++;
    }
    l->n_ids = ids;
    l->n_eligible = 0;
    for (int i = 0; i < ids; i++)
        if (l->id_count[i] >= (size_t)l->o.pk_k || l->o.pk_replace) l->eligible[l->n_eligible++] = i;
    if (l->n_eligible < l->o.pk_p)
        return FCL_ERR(err, FCL_ERR_INVALID_ARG,
                       "loader: the P x K sampler needs P = %d identities with %s%d images, but only %d of %d have them",
                       l->o.pk_p, l->o.pk_replace ? "at least 1 of " : "at least ", l->o.pk_k, l->n_eligible, ids);
    return FCL_OK;
}

fcl_status fcl_loader_create(fcl_loader **out, const fcl_loader_source *src, const fcl_loader_opts *opts,
                             fcl_error *err)
{
    fcl_status st = FCL_OK;
    fcl_loader *l = NULL;
    int mu_ok = 0;
    if (!out || !src || !opts) return FCL_ERR(err, FCL_ERR_INVALID_ARG, "fcl_loader_create: NULL argument");
    *out = NULL;
    const fcl_loader_opts *o = opts;
    if (!src->get || src->count == 0)
        return FCL_ERR(err, FCL_ERR_INVALID_ARG, "fcl_loader_create: the source is empty or has no get callback");
    if (o->channels != 1 && o->channels != 3)
        return FCL_ERR(err, FCL_ERR_INVALID_ARG, "fcl_loader_create: channels must be 1 or 3, got %d", o->channels);
    if (o->height < 1 || o->width < 1 || o->height > 4096 || o->width > 4096)
        return FCL_ERR(err, FCL_ERR_INVALID_ARG, "fcl_loader_create: image size %dx%d out of range 1..4096", o->height, o->width);
    if (o->workers < 1 || o->workers > 256)
        return FCL_ERR(err, FCL_ERR_INVALID_ARG, "fcl_loader_create: workers must be in 1..256, got %d", o->workers);
    if (o->prefetch < 0 || o->prefetch > 64)
        return FCL_ERR(err, FCL_ERR_INVALID_ARG, "fcl_loader_create: prefetch must be in 0..64, got %d", o->prefetch);
    int B;
    if (o->sampler == FCL_SAMPLER_PK) {
        if (o->pk_p < 1 || o->pk_k < 1 || (long)o->pk_p * o->pk_k > 65536)
            return FCL_ERR(err, FCL_ERR_INVALID_ARG, "fcl_loader_create: P x K sampler needs P, K >= 1 and P*K <= 65536 (got %d x %d)",
                           o->pk_p, o->pk_k);
        if (!src->labels)
            return FCL_ERR(err, FCL_ERR_INVALID_ARG, "fcl_loader_create: the P x K sampler needs the source's labels");
        B = o->pk_p * o->pk_k;
    } else if (o->sampler == FCL_SAMPLER_SEQUENTIAL || o->sampler == FCL_SAMPLER_SHUFFLE) {
        if (o->batch_size < 1 || o->batch_size > 65536)
            return FCL_ERR(err, FCL_ERR_INVALID_ARG, "fcl_loader_create: batch size must be in 1..65536, got %d", o->batch_size);
        B = o->batch_size;
    } else {
        return FCL_ERR(err, FCL_ERR_INVALID_ARG, "fcl_loader_create: unknown sampler %d", (int)o->sampler);
    }
    const size_t item = (size_t)o->channels * (size_t)o->height * (size_t)o->width;
    const int Q = (o->prefetch ? o->prefetch : 2) + 1;
    if (item * (size_t)B > ((size_t)1 << 40) / sizeof(float) / (size_t)Q)
        return FCL_ERR(err, FCL_ERR_INVALID_ARG, "fcl_loader_create: %d slots of %d x %zu floats is too much memory", Q, B, item);

    l = calloc(1, sizeof *l);
    if (!l) return FCL_ERR(err, FCL_ERR_NOMEM, "fcl_loader_create: out of memory");
    l->src = *src;
    l->o = *o;
    if (o->aug) {
        l->aug = *o->aug;
        l->has_aug = l->aug.n > 0;
    }
    l->o.aug = NULL; /* the copy above is what is used */
    l->B = B;
    l->Bg = B;
    l->Q = Q;
    if (o->shard_count > 1) {
        if (o->shard_index < 0 || o->shard_index >= o->shard_count || B % o->shard_count ||
            (o->sampler != FCL_SAMPLER_PK && !o->drop_last)) {
            st = FCL_ERR(err, FCL_ERR_INVALID_ARG,
                         "fcl_loader_create: shard %d of %d needs full batches (drop_last or P x K) of a multiple of %d items, not %d",
                         o->shard_index, o->shard_count, o->shard_count, B);
            free(l);
            return st;
        }
        l->B = B / o->shard_count;
    }
    if (o->sampler == FCL_SAMPLER_PK && (st = build_identities(l, err))) goto fail;

    l->slots = calloc((size_t)Q, sizeof *l->slots);
    if (!l->slots) goto oom;
    for (int i = 0; i < Q; i++) {
        slot *s = &l->slots[i];
        s->batch = NO_BATCH;
        s->b.c = o->channels;
        s->b.h = o->height;
        s->b.w = o->width;
        s->b.data = malloc(item * (size_t)B * sizeof(float));
        s->b.labels = malloc((size_t)B * sizeof(int));
        s->b.indices = malloc((size_t)B * sizeof(size_t));
        s->warn = calloc((size_t)B, sizeof(char *));
        s->err = calloc(1, sizeof *s->err);
        if (!s->b.data || !s->b.labels || !s->b.indices || !s->warn || !s->err) goto oom;
    }
    if (pthread_mutex_init(&l->mu, NULL)) goto oom;
    if (pthread_cond_init(&l->work_cv, NULL)) {
        pthread_mutex_destroy(&l->mu);
        goto oom;
    }
    if (pthread_cond_init(&l->done_cv, NULL)) {
        pthread_cond_destroy(&l->work_cv);
        pthread_mutex_destroy(&l->mu);
        goto oom;
    }
    if (pthread_cond_init(&l->idle_cv, NULL)) {
        pthread_cond_destroy(&l->done_cv);
        pthread_cond_destroy(&l->work_cv);
        pthread_mutex_destroy(&l->mu);
        goto oom;
    }
    mu_ok = 1;
    l->workers = calloc((size_t)o->workers, sizeof *l->workers);
    if (!l->workers) goto oom;
    for (int i = 0; i < o->workers; i++) {
        l->workers[i].l = l;
        if (pthread_create(&l->workers[i].thread, NULL, worker_main, &l->workers[i])) {
            st = FCL_ERR(err, FCL_ERR_INTERNAL, "fcl_loader_create: could not start worker thread %d", i);
            goto fail;
        }
        l->workers[i].started = 1;
        l->n_workers++;
    }
    *out = l;
    return FCL_OK;

oom:
    st = FCL_ERR(err, FCL_ERR_NOMEM, "fcl_loader_create: out of memory for %d batches of %d x %dx%dx%d", Q, B,
                 o->channels, o->height, o->width);
fail:
    if (!mu_ok) { /* no threads, no sync objects: free by hand */
        if (l->slots)
            for (int i = 0; i < Q; i++) {
                FCL_FREE_ALL(l->slots[i].b.data, l->slots[i].b.labels, l->slots[i].b.indices,
                             l->slots[i].warn, l->slots[i].err);
            }
        FCL_FREE_ALL(l->slots, l->id_items, l->id_start, l->id_count, l->eligible, l);
        return st;
    }
    fcl_loader_destroy(l);
    return st;
}

void fcl_loader_destroy(fcl_loader *l)
{
    if (!l) return;
    pthread_mutex_lock(&l->mu);
    l->stop = 1;
    l->active = 0;
    pthread_cond_broadcast(&l->work_cv);
    pthread_cond_broadcast(&l->done_cv);
    pthread_mutex_unlock(&l->mu);
    for (int i = 0; i < l->n_workers; i++)
        if (l->workers[i].started) pthread_join(l->workers[i].thread, NULL);
    pthread_cond_destroy(&l->idle_cv);
    pthread_cond_destroy(&l->done_cv);
    pthread_cond_destroy(&l->work_cv);
    pthread_mutex_destroy(&l->mu);
    for (int i = 0; i < l->Q; i++) {
        slot *s = &l->slots[i];
        if (s->warn)
            for (int k = 0; k < l->B; k++) free(s->warn[k]);
        FCL_FREE_ALL(s->warn, s->err, s->b.data, s->b.labels, s->b.indices);
    }
    FCL_FREE_ALL(l->slots, l->workers, l->order, l->gpos, l->id_items, l->id_start, l->id_count,
                 l->eligible);
    fcl_strlist_free(&l->warnings);
    free(l);
}
