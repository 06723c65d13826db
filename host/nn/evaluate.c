/* host/nn/evaluate.c: inference over image sources (embeddings, logits; flip test-time augmentation), pair indexing and cosine scores, eval settings from checkpoints. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "facecl/checkpoint.h"
#include "facecl/evaluate.h"
#include "facecl/safetensors.h"
#include "runtime/free_list.h"

/* ---- input settings ---------------------------------------------------------------------- */

void fcl_eval_input_init(fcl_eval_input *in, const fcl_model *m)
{
    memset(in, 0, sizeof *in);
    if (m) {
        in->channels = m->channels;
        in->height = m->in_h;
        in->width = m->in_w;
    }
    in->pipeline = NULL;
    in->batch = 32;
    in->workers = 2;
}

/* Splits "a\nb\nc" into names (a single trailing '\n' and '\r's before '\n' are tolerated; an
 * empty name in between is an error). */
static fcl_status split_class_names(const char *path, const char *text, fcl_strlist *out, fcl_error *err)
{
    fcl_status st = FCL_OK;
    size_t len = strlen(text);
    if (len && text[len - 1] == '\n') len--;
    if (!len) return FCL_OK; /* no classes recorded */
    size_t i = 0, idx = 0;
    while (i <= len) {
        size_t j = i;
        while (j < len && text[j] != '\n') j++;
        size_t e = j;
        if (e > i && text[e - 1] == '\r') e--;
        if (e == i)
            return FCL_ERR(err, FCL_ERR_FORMAT, "%s: metadata \"class_names\": class %zu has an empty name", path, idx);
        if ((st = fcl_strlist_add(out, err, "%.*s", (int)(e - i), text + i))) return st;
        idx++;
        i = j + 1;
    }
    return FCL_OK;
}

fcl_status fcl_eval_input_from_checkpoint(const char *path, fcl_eval_input *in, fcl_aug_pipeline *pipeline,
                                          fcl_strlist *class_names, fcl_error *err)
{
    fcl_status st = FCL_OK;
    fcl_checkpoint c;
    fcl_model *m = NULL;
    int loaded = 0;
    if (!path || !in) return FCL_ERR(err, FCL_ERR_INVALID_ARG, "fcl_eval_input_from_checkpoint: NULL argument");
    if ((st = fcl_st_load(&c, path, err))) goto fail;
    loaded = 1;
    /* The input size is what the model was built for: its options over its file's defaults, so
     * parse the model exactly as fcl_net_from_checkpoint does (host only, no device). */
    if ((st = fcl_model_from_checkpoint(&c, path, &m, err))) goto fail;
    in->channels = m->channels;
    in->height = m->in_h;
    in->width = m->in_w;
    in->pipeline = NULL;

    const char *aug = fcl_ckpt_get_meta(&c, "eval_aug");
    if (aug && *aug) {
        if (!pipeline) {
            st = FCL_ERR(err, FCL_ERR_INVALID_ARG, "fcl_eval_input_from_checkpoint: %s has an eval pipeline but no storage was given", path);
            goto fail;
        }
        if ((st = fcl_aug_parse(aug, pipeline, err))) {
            fcl_error_prefix(err, "%s: metadata \"eval_aug\": ", path);
            goto fail;
        }
        if (pipeline->n > 0) in->pipeline = pipeline;
    }
    const char *names = fcl_ckpt_get_meta(&c, "class_names");
    if (class_names && names && (st = split_class_names(path, names, class_names, err))) goto fail;
fail:
    fcl_model_free(m);
    if (loaded) fcl_ckpt_free(&c);
    return st;
}

/* ---- running a source through the network ------------------------------------------------ */

static fcl_status check_input(fcl_ctx *ctx, const fcl_net *net, const fcl_loader_source *src,
                              const fcl_eval_input *in, const char *fn)
{
    fcl_error *e = fcl_ctx_error(ctx);
    if (!net || !src || !in) return FCL_ERR(e, FCL_ERR_INVALID_ARG, "%s: NULL argument", fn);
    const fcl_model *m = fcl_net_model(net);
    if (in->channels != m->channels || in->height != m->in_h || in->width != m->in_w)
        return FCL_ERR(e, FCL_ERR_SHAPE, "%s: input %dx%dx%d (channels x height x width) does not match model %s's %dx%dx%d",
                       fn, in->channels, in->height, in->width, m->name, m->channels, m->in_h, m->in_w);
    if (in->batch < 1) return FCL_ERR(e, FCL_ERR_INVALID_ARG, "%s: batch must be >= 1 (got %d)", fn, in->batch);
    if (in->workers < 1) return FCL_ERR(e, FCL_ERR_INVALID_ARG, "%s: workers must be >= 1 (got %d)", fn, in->workers);
    if (src->count == 0) return FCL_ERR(e, FCL_ERR_INVALID_ARG, "%s: no images to evaluate", fn);
    if (!src->get) return FCL_ERR(e, FCL_ERR_INVALID_ARG, "%s: the source has no get function", fn);
    return FCL_OK;
}

void fcl_mirror_batch(const float *x, float *y, size_t n, int c, int h, int w)
{
    const size_t rows = n * (size_t)c * (size_t)h, W = (size_t)w;
    for (size_t r = 0; r < rows; r++)
        for (size_t j = 0; j < W; j++) y[r * W + j] = x[r * W + W - 1 - j];
}

/* Flip TTA: forwards the mirror of the batch xin [B, c, h, w] (already in x's shape) and adds
 * its raw embeddings to host [B, D] (numel values); the caller L2-normalises the sums. The
 * buffers *mirror / *mirror_out are allocated on first use and kept for the next batch. */
static fcl_status add_mirror_embedding(fcl_ctx *ctx, fcl_net *net, fcl_tensor *x, const float *xin, int B,
                                       const fcl_eval_input *in, float *host, size_t numel, float **mirror,
                                       float **mirror_out, const char *fn)
{
    fcl_status st;
    const size_t per = (size_t)in->channels * (size_t)in->height * (size_t)in->width;
    if (!*mirror) *mirror = malloc((size_t)B * per * sizeof **mirror);
    if (!*mirror_out) *mirror_out = malloc(numel * sizeof **mirror_out);
    if (!*mirror || !*mirror_out) return FCL_ERR(fcl_ctx_error(ctx), FCL_ERR_NOMEM, "%s: out of memory (flip TTA)", fn);
    fcl_mirror_batch(xin, *mirror, (size_t)B, in->channels, in->height, in->width);
    if ((st = fcl_tensor_upload(ctx, x, *mirror, (size_t)B * per))) return st;
    if ((st = fcl_net_forward(net, x, 0))) return st;
    const fcl_tensor *y = fcl_net_embedding(net);
    if (fcl_tensor_numel(y) != numel)
        return FCL_ERR(fcl_ctx_error(ctx), FCL_ERR_INTERNAL, "%s: mirrored batch gave %zu values, not %zu", fn,
                       fcl_tensor_numel(y), numel);
    if ((st = fcl_tensor_download(ctx, y, *mirror_out, numel))) return st;
    for (size_t i = 0; i < numel; i++) host[i] += (*mirror_out)[i];
    return FCL_OK;
}

/* Forwards every item of src in order; copies the network output (want_logits) or embedding
 * of item i to row i of *out [count, *dim]. */
static fcl_status run_source(fcl_ctx *ctx, fcl_net *net, const fcl_loader_source *src, const fcl_eval_input *in,
                             fcl_eval_progress_fn progress, void *user, int want_logits, float **out,
                             size_t *dim, const char *fn)
{
    fcl_error *e = fcl_ctx_error(ctx);
    fcl_status st;
    fcl_loader *ld = NULL;
    fcl_tensor x = {0};
    float *res = NULL, *host = NULL, *pad = NULL;
    size_t D = 0, done = 0;
    unsigned char *seen = NULL;
    float *mirror = NULL, *mirror_out = NULL; /* flip TTA: mirrored batch, its embeddings */
    if (out) *out = NULL;
    if (dim) *dim = 0;
    if (!out || !dim) return FCL_ERR(e, FCL_ERR_INVALID_ARG, "%s: NULL output", fn);
    if ((st = check_input(ctx, net, src, in, fn))) return st;
    const fcl_model *m = fcl_net_model(net);
    if (want_logits && m->classifier_layer < 0)
        return FCL_ERR(e, FCL_ERR_INVALID_ARG, "%s: model %s has no classifier (classes=0): nothing to predict", fn, m->name);

    fcl_loader_opts lo = {0};
    lo.batch_size = in->batch;
    lo.channels = in->channels;
    lo.height = in->height;
    lo.width = in->width;
    lo.workers = in->workers;
    lo.prefetch = 2;
    lo.seed = 0;
    lo.sampler = FCL_SAMPLER_SEQUENTIAL;
    lo.drop_last = 0;
    lo.skip_bad = 0;
    lo.aug = in->pipeline;
    if ((st = fcl_loader_create(&ld, src, &lo, e))) goto fail;
    if ((st = fcl_loader_start_epoch(ld, 0, e))) goto fail;
    const int B = in->batch;
    const size_t per = (size_t)in->channels * (size_t)in->height * (size_t)in->width;
    if ((st = fcl_tensor_alloc4(ctx, &x, (size_t)B, (size_t)in->channels, (size_t)in->height, (size_t)in->width)))
        goto fail;
    seen = calloc(src->count, 1);
    if (!seen) {
        st = FCL_ERR(e, FCL_ERR_NOMEM, "%s: out of memory", fn);
        goto fail;
    }
    for (;;) {
        const fcl_batch *b = NULL;
        if ((st = fcl_loader_next(ld, &b, e))) goto fail;
        if (!b) break;
        if (b->n < 1 || b->n > in->batch || b->c != in->channels || b->h != in->height || b->w != in->width) {
            st = FCL_ERR(e, FCL_ERR_INTERNAL, "%s: the loader gave a %dx%dx%dx%d batch", fn, b->n, b->c, b->h, b->w);
            goto fail;
        }
        /* Every forward has exactly in->batch rows: a short last batch is padded with zero images
         * (rows are independent at inference), so the device sees one shape and no kernel is
         * built just for the tail. */
        const float *xin = b->data;
        if (b->n < B) {
            if (!pad && !(pad = malloc((size_t)B * per * sizeof *pad))) {
                st = FCL_ERR(e, FCL_ERR_NOMEM, "%s: out of memory", fn);
                goto fail;
            }
            memcpy(pad, b->data, (size_t)b->n * per * sizeof *pad);
            memset(pad + (size_t)b->n * per, 0, (size_t)(B - b->n) * per * sizeof *pad);
            xin = pad;
        }
        if ((st = fcl_tensor_upload(ctx, &x, xin, (size_t)B * per))) goto fail;
        if ((st = fcl_net_forward(net, &x, 0))) goto fail;
        const fcl_tensor *y = want_logits ? fcl_net_output(net) : fcl_net_embedding(net);
        const int tta = in->tta_flip && !want_logits;
        size_t numel = fcl_tensor_numel(y);
        if (y->ndim < 1 || y->shape[0] != (size_t)B || numel % (size_t)B) {
            st = FCL_ERR(e, FCL_ERR_INTERNAL, "%s: network %s has %zu values for a batch of %d", fn,
                         want_logits ? "output" : "embedding", numel, B);
            goto fail;
        }
        size_t d = numel / (size_t)B;
        if (!res) {
            D = d;
            res = malloc(src->count * D * sizeof *res);
            host = malloc((size_t)B * D * sizeof *host);
            if (!res || !host) {
                st = FCL_ERR(e, FCL_ERR_NOMEM, "%s: out of memory for %zu x %zu results", fn, src->count, D);
                goto fail;
            }
        } else if (d != D) {
            st = FCL_ERR(e, FCL_ERR_INTERNAL, "%s: result width changed from %zu to %zu", fn, D, d);
            goto fail;
        }
        if ((st = fcl_tensor_download(ctx, y, host, numel))) goto fail;
        if (tta && (st = add_mirror_embedding(ctx, net, &x, xin, B, in, host, numel, &mirror, &mirror_out, fn))) goto fail;
        for (int i = 0; i < b->n; i++) {
            size_t idx = b->indices[i];
            if (idx >= src->count || seen[idx]) {
                st = FCL_ERR(e, FCL_ERR_INTERNAL, "%s: the loader gave item %zu twice or out of range", fn, idx);
                goto fail;
            }
            seen[idx] = 1;
            memcpy(res + idx * D, host + (size_t)i * D, D * sizeof *res);
        }
        done += (size_t)b->n;
        if (progress && progress(user, done, src->count)) {
            st = FCL_ERR(e, FCL_ERR_IO, "%s: cancelled after %zu of %zu images", fn, done, src->count);
            goto fail;
        }
    }
    if (done != src->count) {
        st = FCL_ERR(e, FCL_ERR_INTERNAL, "%s: the loader gave %zu of %zu items", fn, done, src->count);
        goto fail;
    }
    *out = res;
    *dim = D;
    res = NULL;
fail:
    fcl_loader_destroy(ld);
    fcl_tensor_release(ctx, &x);
    FCL_FREE_ALL(res, host, pad, seen, mirror, mirror_out);
    return st;
}

/* Row-wise L2 normalisation in double; a zero row stays zero (there is no direction). */
static void l2_normalise_rows(float *a, size_t n, size_t d)
{
    for (size_t i = 0; i < n; i++) {
        float *r = a + i * d;
        double s = 0.0;
        for (size_t j = 0; j < d; j++) s += (double)r[j] * (double)r[j];
        if (s <= 0.0) continue;
        double inv = 1.0 / sqrt(s);
        for (size_t j = 0; j < d; j++) r[j] = (float)((double)r[j] * inv);
    }
}

fcl_status fcl_embed_source(fcl_ctx *ctx, fcl_net *net, const fcl_loader_source *src, const fcl_eval_input *in,
                            fcl_eval_progress_fn progress, void *user, float **out_embeddings, size_t *dim)
{
    fcl_status st = run_source(ctx, net, src, in, progress, user, 0, out_embeddings, dim, "fcl_embed_source");
    if (st) return st;
    l2_normalise_rows(*out_embeddings, src->count, *dim);
    return FCL_OK;
}

fcl_status fcl_predict_source(fcl_ctx *ctx, fcl_net *net, const fcl_loader_source *src, const fcl_eval_input *in,
                              fcl_eval_progress_fn progress, void *user, float **out_logits, size_t *classes)
{
    return run_source(ctx, net, src, in, progress, user, 1, out_logits, classes, "fcl_predict_source");
}

/* ---- path sources ------------------------------------------------------------------------ */

static fcl_status paths_get(void *user, size_t index, int channels, fcl_image *out, int *label, fcl_error *err)
{
    const char *const *paths = user;
    fcl_status st = fcl_image_decode_file(paths[index], channels, out, err);
    if (st) return st;
    if (label) *label = -1;
    return FCL_OK;
}

fcl_loader_source fcl_eval_source_paths(const char *const *paths, size_t n)
{
    fcl_loader_source s;
    s.count = paths ? n : 0;
    s.get = paths_get;
    s.user = (void *)paths; /* read only: paths_get takes it back as const */
    s.labels = NULL;
    return s;
}

/* ---- pairs ------------------------------------------------------------------------------- */

/* Sorting helper: entry k of a pair list is path (k & 1 ? path2 : path1) of pair k / 2. */
typedef struct pair_sort {
    const char *path;
    size_t k;
} pair_sort;

static int cmp_pair_sort(const void *a, const void *b)
{
    const pair_sort *x = a, *y = b;
    int c = strcmp(x->path, y->path);
    if (c) return c;
    return x->k < y->k ? -1 : x->k > y->k;
}

void fcl_pair_index_free(fcl_pair_index *pi)
{
    if (!pi) return;
    for (size_t i = 0; i < pi->n_images; i++) free(pi->images[i]);
    FCL_FREE_ALL(pi->images, pi->first_line, pi->row1, pi->row2);
    memset(pi, 0, sizeof *pi);
}

fcl_status fcl_pair_index_build(const fcl_pair_list *pl, fcl_pair_index *out, fcl_error *err)
{
    fcl_status st = FCL_OK;
    pair_sort *e = NULL;
    size_t *group_of = NULL, *group_first = NULL, *rank = NULL, n_groups = 0;
    if (!out) return FCL_ERR(err, FCL_ERR_INVALID_ARG, "fcl_pair_index_build: NULL output");
    memset(out, 0, sizeof *out);
    if (!pl || (pl->n && !pl->pairs)) return FCL_ERR(err, FCL_ERR_INVALID_ARG, "fcl_pair_index_build: NULL pair list");
    const size_t n = pl->n, m = 2 * n;
    out->n_pairs = n;
    out->row1 = malloc((n ? n : 1) * sizeof *out->row1);
    out->row2 = malloc((n ? n : 1) * sizeof *out->row2);
    e = malloc((m ? m : 1) * sizeof *e);
    group_of = malloc((m ? m : 1) * sizeof *group_of);
    group_first = malloc((m ? m : 1) * sizeof *group_first);
    if (!out->row1 || !out->row2 || !e || !group_of || !group_first) goto nomem;
    for (size_t k = 0; k < m; k++) {
        const fcl_pair *p = &pl->pairs[k / 2];
        e[k].path = (k & 1) ? p->path2 : p->path1;
        e[k].k = k;
        if (!e[k].path) {
            st = FCL_ERR(err, FCL_ERR_INVALID_ARG, "fcl_pair_index_build: pair %zu has a NULL path", k / 2);
            goto fail;
        }
    }
    /* Equal paths become adjacent, each group led by its first appearance. */
    qsort(e, m, sizeof *e, cmp_pair_sort);
    for (size_t i = 0; i < m; i++) {
        if (i == 0 || strcmp(e[i].path, e[i - 1].path)) group_first[n_groups++] = e[i].k;
        group_of[e[i].k] = n_groups - 1;
    }
    /* Number the groups by first appearance: image order follows the pair list. */
    rank = malloc((n_groups ? n_groups : 1) * sizeof *rank);
    out->images = calloc(n_groups ? n_groups : 1, sizeof *out->images);
    out->first_line = malloc((n_groups ? n_groups : 1) * sizeof *out->first_line);
    if (!rank || !out->images || !out->first_line) goto nomem;
    for (size_t g = 0; g < n_groups; g++) rank[g] = (size_t)-1;
    size_t next = 0;
    for (size_t k = 0; k < m; k++) {
        size_t g = group_of[k];
        if (rank[g] == (size_t)-1) {
            const fcl_pair *p = &pl->pairs[k / 2];
            rank[g] = next;
            out->images[next] = strdup((k & 1) ? p->path2 : p->path1);
            out->first_line[next] = p->line;
            out->n_images = ++next;
            if (!out->images[next - 1]) goto nomem;
        }
        if (k & 1)
            out->row2[k / 2] = rank[g];
        else
            out->row1[k / 2] = rank[g];
    }
    goto fail; /* success: common exit */
nomem:
    st = FCL_ERR(err, FCL_ERR_NOMEM, "fcl_pair_index_build: out of memory for %zu pairs", n);
fail:
    if (st) fcl_pair_index_free(out);
    FCL_FREE_ALL(e, group_of, group_first, rank);
    return st;
}

static int cmp_path_idx(const void *a, const void *b) { return cmp_pair_sort(a, b); }

/* Row of path in the sorted table t[0..n) (lowest row among duplicates), or (size_t)-1. */
static size_t find_row(const pair_sort *t, size_t n, const char *path)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(t[mid].path, path) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < n && !strcmp(t[lo].path, path) ? t[lo].k : (size_t)-1;
}

fcl_status fcl_pair_rows_lookup(const fcl_pair_list *pl, const char *const *paths, size_t n_paths, size_t *row1,
                                size_t *row2, fcl_error *err)
{
    fcl_status st = FCL_OK;
    pair_sort *t = NULL;
    if (!pl || !row1 || !row2 || (n_paths && !paths) || (pl->n && !pl->pairs))
        return FCL_ERR(err, FCL_ERR_INVALID_ARG, "fcl_pair_rows_lookup: NULL argument");
    t = malloc((n_paths ? n_paths : 1) * sizeof *t);
    if (!t) return FCL_ERR(err, FCL_ERR_NOMEM, "fcl_pair_rows_lookup: out of memory for %zu paths", n_paths);
    for (size_t i = 0; i < n_paths; i++) {
        if (!paths[i]) {
            st = FCL_ERR(err, FCL_ERR_INVALID_ARG, "fcl_pair_rows_lookup: path %zu is NULL", i);
            goto fail;
        }
        t[i].path = paths[i];
        t[i].k = i;
    }
    qsort(t, n_paths, sizeof *t, cmp_path_idx);
    for (size_t i = 0; i < pl->n; i++) {
        const fcl_pair *p = &pl->pairs[i];
        for (int side = 0; side < 2; side++) {
            const char *path = side ? p->path2 : p->path1;
            size_t r = path ? find_row(t, n_paths, path) : (size_t)-1;
            if (r == (size_t)-1) {
                st = FCL_ERR(err, FCL_ERR_INVALID_ARG, "%s:%d: '%s' has no embedding (not among the %zu embedded images)",
                             pl->source ? pl->source : "pairs", p->line, path ? path : "(null)", n_paths);
                goto fail;
            }
            (side ? row2 : row1)[i] = r;
        }
    }
fail:
    free(t);
    return st;
}

fcl_status fcl_verify_scores(const float *emb, size_t n_rows, size_t dim, const size_t *row1, const size_t *row2,
                             size_t n_pairs, double *scores, fcl_error *err)
{
    if (n_pairs && (!emb || !row1 || !row2 || !scores))
        return FCL_ERR(err, FCL_ERR_INVALID_ARG, "fcl_verify_scores: NULL argument");
    if (dim == 0) return FCL_ERR(err, FCL_ERR_INVALID_ARG, "fcl_verify_scores: embedding size 0");
    for (size_t i = 0; i < n_pairs; i++) {
        if (row1[i] >= n_rows || row2[i] >= n_rows)
            return FCL_ERR(err, FCL_ERR_INVALID_ARG, "fcl_verify_scores: pair %zu uses row %zu of %zu", i,
                           row1[i] >= n_rows ? row1[i] : row2[i], n_rows);
        const float *a = emb + row1[i] * dim, *b = emb + row2[i] * dim;
        double ab = 0.0, aa = 0.0, bb = 0.0;
        for (size_t j = 0; j < dim; j++) {
            ab += (double)a[j] * (double)b[j];
            aa += (double)a[j] * (double)a[j];
            bb += (double)b[j] * (double)b[j];
        }
        if (!isfinite(ab) || !isfinite(aa) || !isfinite(bb))
            return FCL_ERR(err, FCL_ERR_INVALID_ARG, "fcl_verify_scores: pair %zu: embedding rows %zu / %zu are not finite", i,
                           row1[i], row2[i]);
        double s = (aa > 0.0 && bb > 0.0) ? ab / (sqrt(aa) * sqrt(bb)) : 0.0;
        /* Rounding can step a hair outside [-1, 1]; cosine cannot. */
        scores[i] = s > 1.0 ? 1.0 : s < -1.0 ? -1.0 : s;
    }
    return FCL_OK;
}

/* The pair images' source: decode errors name the pair-list line that first uses the image. */
typedef struct pair_source {
    const fcl_pair_index *pi;
    const char *list;
} pair_source;

static fcl_status pair_get(void *user, size_t index, int channels, fcl_image *out, int *label, fcl_error *err)
{
    const pair_source *ps = user;
    fcl_status st = fcl_image_decode_file(ps->pi->images[index], channels, out, err);
    if (st) {
        fcl_error_prefix(err, "%s:%d: ", ps->list, ps->pi->first_line[index]);
        return st;
    }
    if (label) *label = -1;
    return FCL_OK;
}

fcl_status fcl_embed_pairs(fcl_ctx *ctx, fcl_net *net, const fcl_eval_input *in, const fcl_pair_list *pl,
                           fcl_eval_progress_fn progress, void *user, double **scores)
{
    fcl_error *e = fcl_ctx_error(ctx);
    fcl_status st;
    fcl_pair_index pi;
    float *emb = NULL;
    double *s = NULL;
    size_t dim = 0;
    memset(&pi, 0, sizeof pi);
    if (!scores) return FCL_ERR(e, FCL_ERR_INVALID_ARG, "fcl_embed_pairs: NULL output");
    *scores = NULL;
    if (!pl) return FCL_ERR(e, FCL_ERR_INVALID_ARG, "fcl_embed_pairs: NULL pair list");
    const char *list = pl->source ? pl->source : "pairs";
    if (pl->n == 0) return FCL_ERR(e, FCL_ERR_INVALID_ARG, "%s: no pairs", list);
    if ((st = fcl_pair_index_build(pl, &pi, e))) goto fail;
    /* Checked before any work so a typo does not cost a whole embedding run. */
    for (size_t i = 0; i < pi.n_images; i++) {
        struct stat sb;
        if (stat(pi.images[i], &sb) || !S_ISREG(sb.st_mode)) {
            st = FCL_ERR(e, FCL_ERR_IO, "%s:%d: image '%s' %s", list, pi.first_line[i], pi.images[i],
                         stat(pi.images[i], &sb) ? "does not exist" : "is not a regular file");
            goto fail;
        }
    }
    pair_source ps = {&pi, list};
    fcl_loader_source src = {pi.n_images, pair_get, &ps, NULL};
    if ((st = fcl_embed_source(ctx, net, &src, in, progress, user, &emb, &dim))) goto fail;
    s = malloc(pl->n * sizeof *s);
    if (!s) {
        st = FCL_ERR(e, FCL_ERR_NOMEM, "fcl_embed_pairs: out of memory");
        goto fail;
    }
    if ((st = fcl_verify_scores(emb, pi.n_images, dim, pi.row1, pi.row2, pl->n, s, e))) goto fail;
    *scores = s;
    s = NULL;
fail:
    fcl_pair_index_free(&pi);
    free(emb);
    free(s);
    return st;
}
