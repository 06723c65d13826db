/* host/data/summary.c: dataset summaries (identities, images per identity, decoded sizes), the decode scan, and their text form. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <facecl/dataset.h>

#include "io/textbuf.h"

#define SUMMARY_TOP_SIZES 5

static int cmp_size_t(const void *a, const void *b)
{
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    return x < y ? -1 : x > y;
}

static int cmp_size_count(const void *a, const void *b)
{
    const fcl_size_count *x = a, *y = b;
    if (x->count != y->count) return x->count > y->count ? -1 : 1;
    if (x->w != y->w) return x->w < y->w ? -1 : 1;
    if (x->h != y->h) return x->h < y->h ? -1 : 1;
    return 0;
}

void fcl_dataset_summary_free(fcl_dataset_summary *s)
{
    if (!s) return;
    free(s->root);
    free(s->sizes);
    memset(s, 0, sizeof *s);
}

/* Recounts identities and images; keeps the scan fields. */
static fcl_status count(const fcl_dataset *ds, fcl_dataset_summary *s, fcl_error *err)
{
    fcl_status st = FCL_OK;
    size_t *per = NULL;
    s->n_identities = ds->n_classes;
    s->n_images = ds->n;
    s->n_unlabelled = 0;
    s->per_id_min = s->per_id_median = s->per_id_max = 0;
    if (ds->n_classes > 0) {
        per = calloc((size_t)ds->n_classes, sizeof *per);
        if (!per) return FCL_ERR(err, FCL_ERR_NOMEM, "summary: out of memory");
    }
    for (size_t i = 0; i < ds->n; i++) {
        int l = ds->labels[i];
        if (l < 0 || l >= ds->n_classes) s->n_unlabelled++;
        else per[l]++;
    }
    if (ds->n_classes > 0) {
        qsort(per, (size_t)ds->n_classes, sizeof *per, cmp_size_t);
        s->per_id_min = per[0];
        s->per_id_max = per[ds->n_classes - 1];
        /* Median of an even count: the lower middle, so it is always a count that occurs. */
        s->per_id_median = per[(ds->n_classes - 1) / 2];
    }
    free(per);
    return st;
}

fcl_status fcl_dataset_summarize(const fcl_dataset *ds, fcl_dataset_summary *s, fcl_error *err)
{
    if (!ds || !s) return FCL_ERR(err, FCL_ERR_INVALID_ARG, "fcl_dataset_summarize: NULL argument");
    fcl_dataset_summary_free(s);
    if (ds->root && !(s->root = strdup(ds->root)))
        return FCL_ERR(err, FCL_ERR_NOMEM, "summary: out of memory");
    return count(ds, s, err);
}

static fcl_status add_size(fcl_dataset_summary *s, size_t *cap, int w, int h, fcl_error *err)
{
    for (size_t i = 0; i < s->n_sizes; i++)
        if (s->sizes[i].w == w && s->sizes[i].h == h) {
            s->sizes[i].count++;
            return FCL_OK;
        }
    if (s->n_sizes == *cap) {
        size_t c = *cap ? *cap * 2 : 8;
        fcl_size_count *p = realloc(s->sizes, c * sizeof *p);
        if (!p) return FCL_ERR(err, FCL_ERR_NOMEM, "summary: out of memory");
        s->sizes = p;
        *cap = c;
    }
    s->sizes[s->n_sizes].w = w;
    s->sizes[s->n_sizes].h = h;
    s->sizes[s->n_sizes].count = 1;
    s->n_sizes++;
    return FCL_OK;
}

fcl_status fcl_dataset_scan(fcl_dataset *ds, unsigned flags, fcl_dataset_summary *s, fcl_strlist *bad,
                            fcl_error *err)
{
    fcl_status st = FCL_OK;
    size_t cap = 0, n_bad = 0, kept = 0;
    char first_bad[1024] = "";
    fcl_error e;
    if (!ds || !s) return FCL_ERR(err, FCL_ERR_INVALID_ARG, "fcl_dataset_scan: NULL argument");
    free(s->sizes);
    s->sizes = NULL;
    s->n_sizes = s->n_decoded = s->n_bad = s->n_gray = s->n_colour = 0;
    for (size_t i = 0; i < ds->n; i++) {
        fcl_image img = {0};
        fcl_error_clear(&e);
        if (fcl_image_decode_file(ds->paths[i], 0, &img, &e)) {
            n_bad++;
            /* The decoder's message starts with "decode_png.c:88 path: ..."; the list holds what
             * a user needs: the path and the reason. */
            const char *m = strchr(e.msg, ' ');
            m = m ? m + 1 : e.msg;
            if (n_bad == 1) snprintf(first_bad, sizeof first_bad, "%.1000s", m);
            if ((st = fcl_strlist_add(bad, err, "%s", m))) goto fail;
            if (flags & FCL_DATA_SKIP_BAD) free(ds->paths[i]);
            else {
                ds->labels[kept] = ds->labels[i];
                ds->paths[kept++] = ds->paths[i];
            }
            continue;
        }
        s->n_decoded++;
        if (img.c == 1) s->n_gray++;
        else s->n_colour++;
        st = add_size(s, &cap, img.w, img.h, err);
        fcl_image_free(&img);
        if (st) {
            /* keep the dataset consistent: move the rest down unchanged */
            for (size_t j = i; j < ds->n; j++, kept++) {
                ds->paths[kept] = ds->paths[j];
                ds->labels[kept] = ds->labels[j];
            }
            ds->n = kept;
            goto fail;
        }
        ds->labels[kept] = ds->labels[i];
        ds->paths[kept++] = ds->paths[i];
    }
    ds->n = kept;
    if (s->n_sizes > 1) qsort(s->sizes, s->n_sizes, sizeof *s->sizes, cmp_size_count);
    s->n_bad = n_bad;
    s->scanned = 1;
    if ((flags & FCL_DATA_SKIP_BAD) && (st = count(ds, s, err))) goto fail;
    if (n_bad && !(flags & FCL_DATA_SKIP_BAD)) {
        st = FCL_ERR(err, FCL_ERR_FORMAT, "%zu of %zu image%s did not decode; first: %s", n_bad,
                     ds->n, ds->n == 1 ? "" : "s", first_bad);
        goto fail;
    }
fail:
    return st;
}

void fcl_summary_add_pairs(fcl_dataset_summary *s, const fcl_pair_list *pl)
{
    if (!s || !pl) return;
    s->has_pairs = 1;
    s->n_pairs = pl->n;
    s->n_same = s->n_different = s->n_pairs_unlabelled = 0;
    for (size_t i = 0; i < pl->n; i++) {
        if (pl->pairs[i].label == 1) s->n_same++;
        else if (pl->pairs[i].label == 0) s->n_different++;
        else s->n_pairs_unlabelled++;
    }
    s->n_folds = pl->n_folds;
}

fcl_status fcl_dataset_summary_format(const fcl_dataset_summary *s, char **out, fcl_error *err)
{
    fcl_textbuf t = {0};
    if (!s || !out) return FCL_ERR(err, FCL_ERR_INVALID_ARG, "fcl_dataset_summary_format: NULL argument");
    *out = NULL;
    fcl_textbuf_printf(&t, "%-14s%s\n", "dataset", s->root ? s->root : "(unnamed)");
    if (s->n_identities > 0) {
        fcl_textbuf_printf(&t, "%-14s%d\n", "identities", s->n_identities);
        fcl_textbuf_printf(&t, "%-14s%zu\n", "images", s->n_images);
        fcl_textbuf_printf(&t, "%-14smin %zu / median %zu / max %zu\n", "per identity", s->per_id_min, s->per_id_median,
            s->per_id_max);
    } else {
        fcl_textbuf_printf(&t, "%-14snone (unlabelled)\n", "identities");
        fcl_textbuf_printf(&t, "%-14s%zu\n", "images", s->n_images);
    }
    if (s->n_identities > 0 && s->n_unlabelled)
        fcl_textbuf_printf(&t, "%-14s%zu\n", "unlabelled", s->n_unlabelled);
    if (s->scanned) {
        fcl_textbuf_printf(&t, "%-14s%zu (%zu gray, %zu colour)", "decoded", s->n_decoded, s->n_gray, s->n_colour);
        if (s->n_bad) fcl_textbuf_printf(&t, ", %zu bad", s->n_bad);
        fcl_textbuf_printf(&t, "\n");
        if (s->n_sizes == 0) {
            fcl_textbuf_printf(&t, "%-14snone decoded\n", "sizes (W x H)");
        } else {
            fcl_textbuf_printf(&t, "%-14s%zu distinct:", "sizes (W x H)", s->n_sizes);
            size_t shown = s->n_sizes < SUMMARY_TOP_SIZES ? s->n_sizes : SUMMARY_TOP_SIZES, rest = 0;
            for (size_t i = 0; i < shown; i++)
                fcl_textbuf_printf(&t, "%s %dx%d (%zu)", i ? "," : "", s->sizes[i].w, s->sizes[i].h, s->sizes[i].count);
            for (size_t i = shown; i < s->n_sizes; i++) rest += s->sizes[i].count;
            if (rest) fcl_textbuf_printf(&t, ", %zu more images in %zu other sizes", rest, s->n_sizes - shown);
            fcl_textbuf_printf(&t, "\n");
        }
    } else {
        fcl_textbuf_printf(&t, "%-14snot scanned\n", "sizes (W x H)");
    }
    if (s->has_pairs) {
        fcl_textbuf_printf(&t, "%-14s%zu", "pairs", s->n_pairs);
        if (s->n_same || s->n_different) fcl_textbuf_printf(&t, " (%zu same, %zu different)", s->n_same, s->n_different);
        if (s->n_pairs_unlabelled) fcl_textbuf_printf(&t, " (%zu unlabelled)", s->n_pairs_unlabelled);
        if (s->n_folds > 0) fcl_textbuf_printf(&t, " in %d fold%s", s->n_folds, s->n_folds == 1 ? "" : "s");
        fcl_textbuf_printf(&t, "\n");
    }
    return fcl_textbuf_finish(&t, out, "fcl_dataset_summary_format", err);
}
