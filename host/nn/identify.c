/* host/nn/identify.c: 1:N identification: gallery templates, probe x gallery cosine as a device GEMM in blocks, top-K and ranks on the host. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "facecl/gemm.h"
#include "facecl/identify.h"
#include "facecl/tensor.h"
#include "runtime/free_list.h"

/* At most this many bytes of scores per GEMM block (probes x gallery rows). */
#define IDENT_BLOCK_BYTES ((size_t)64 << 20)

void fcl_gallery_free(fcl_gallery *g)
{
    if (!g) return;
    free(g->rows);
    free(g->row_id);
    memset(g, 0, sizeof *g);
}

/* L2-normalises a row in double (a zero row stays zero). */
static void normalise(float *r, size_t d)
{
    double s = 0.0;
    for (size_t j = 0; j < d; j++) s += (double)r[j] * (double)r[j];
    if (s <= 0.0) return;
    double inv = 1.0 / sqrt(s);
    for (size_t j = 0; j < d; j++) r[j] = (float)((double)r[j] * inv);
}

fcl_status fcl_gallery_build(const float *emb, const int *ids, size_t n, size_t dim, size_t n_ids,
                             fcl_match_mode mode, fcl_gallery *out, fcl_error *err)
{
    fcl_status st = FCL_OK;
    size_t *count = NULL, *pos = NULL;
    double *acc = NULL;
    if (!out) return FCL_ERR(err, FCL_ERR_INVALID_ARG, "fcl_gallery_build: NULL output");
    memset(out, 0, sizeof *out);
    if (!emb || !ids) return FCL_ERR(err, FCL_ERR_INVALID_ARG, "fcl_gallery_build: NULL argument");
    if (!n || !dim || !n_ids)
        return FCL_ERR(err, FCL_ERR_INVALID_ARG, "fcl_gallery_build: empty gallery (%zu images, dim %zu, %zu identities)",
                       n, dim, n_ids);
    if (mode != FCL_MATCH_MEAN && mode != FCL_MATCH_MAX)
        return FCL_ERR(err, FCL_ERR_INVALID_ARG, "fcl_gallery_build: unknown match mode %d", (int)mode);
    count = calloc(n_ids, sizeof *count);
    if (!count) goto nomem;
    for (size_t i = 0; i < n; i++) {
        if (ids[i] < 0 || (size_t)ids[i] >= n_ids) {
            st = FCL_ERR(err, FCL_ERR_INVALID_ARG, "fcl_gallery_build: image %zu has identity %d, outside 0..%zu", i,
                         ids[i], n_ids - 1);
            goto fail;
        }
        for (size_t j = 0; j < dim; j++)
            if (!isfinite(emb[i * dim + j])) {
                st = FCL_ERR(err, FCL_ERR_INVALID_ARG, "fcl_gallery_build: image %zu: embedding value %zu is not finite", i, j);
                goto fail;
            }
        count[ids[i]]++;
    }
    for (size_t c = 0; c < n_ids; c++)
        if (!count[c]) {
            st = FCL_ERR(err, FCL_ERR_INVALID_ARG, "fcl_gallery_build: identity %zu has no gallery image", c);
            goto fail;
        }
    out->mode = mode;
    out->n_ids = n_ids;
    out->dim = dim;
    out->n_rows = mode == FCL_MATCH_MEAN ? n_ids : n;
    out->rows = malloc(out->n_rows * dim * sizeof *out->rows);
    out->row_id = malloc(out->n_rows * sizeof *out->row_id);
    if (!out->rows || !out->row_id) goto nomem;
    if (mode == FCL_MATCH_MEAN) {
        /* template = normalise(mean of the normalised embeddings); the mean's 1/count does not
         * change the direction, so the sum is normalised. */
        acc = calloc(n_ids * dim, sizeof *acc);
        if (!acc) goto nomem;
        float *tmp = out->rows; /* scratch row: rows are written after the sums */
        for (size_t i = 0; i < n; i++) {
            memcpy(tmp, emb + i * dim, dim * sizeof *tmp);
            normalise(tmp, dim);
            double *a = acc + (size_t)ids[i] * dim;
            for (size_t j = 0; j < dim; j++) a[j] += (double)tmp[j];
        }
        for (size_t c = 0; c < n_ids; c++) {
            float *r = out->rows + c * dim;
            for (size_t j = 0; j < dim; j++) r[j] = (float)(acc[c * dim + j] / (double)count[c]);
            normalise(r, dim);
            out->row_id[c] = (int)c;
        }
    } else {
        /* One row per image, grouped by identity (stable: the images' order within one). */
        pos = malloc(n_ids * sizeof *pos);
        if (!pos) goto nomem;
        size_t p = 0;
        for (size_t c = 0; c < n_ids; c++) {
            pos[c] = p;
            p += count[c];
        }
        for (size_t i = 0; i < n; i++) {
            size_t r = pos[ids[i]]++;
            memcpy(out->rows + r * dim, emb + i * dim, dim * sizeof *out->rows);
            normalise(out->rows + r * dim, dim);
            out->row_id[r] = ids[i];
        }
    }
    goto done;
nomem:
    st = FCL_ERR(err, FCL_ERR_NOMEM, "fcl_gallery_build: out of memory for %zu images x %zu", n, dim);
fail:
    fcl_gallery_free(out);
done:
    FCL_FREE_ALL(count, pos, acc);
    return st;
}

void fcl_ident_result_free(fcl_ident_result *r)
{
    if (!r) return;
    FCL_FREE_ALL(r->top_id, r->top_score, r->rank, r->true_score);
    memset(r, 0, sizeof *r);
}

fcl_status fcl_ident_result_alloc(fcl_ident_result *r, size_t n_probes, int k, fcl_error *err)
{
    if (!r) return FCL_ERR(err, FCL_ERR_INVALID_ARG, "fcl_ident_result_alloc: NULL output");
    memset(r, 0, sizeof *r);
    if (k < 1) return FCL_ERR(err, FCL_ERR_INVALID_ARG, "fcl_ident_result_alloc: k must be >= 1 (got %d)", k);
    size_t m = n_probes ? n_probes : 1;
    r->n_probes = n_probes;
    r->k = k;
    r->top_id = malloc(m * (size_t)k * sizeof *r->top_id);
    r->top_score = malloc(m * (size_t)k * sizeof *r->top_score);
    r->rank = malloc(m * sizeof *r->rank);
    r->true_score = malloc(m * sizeof *r->true_score);
    if (!r->top_id || !r->top_score || !r->rank || !r->true_score) {
        fcl_ident_result_free(r);
        return FCL_ERR(err, FCL_ERR_NOMEM, "fcl_ident_result_alloc: out of memory for %zu probes x top %d", n_probes, k);
    }
    return FCL_OK;
}

fcl_status fcl_ident_rank_block(const float *s, size_t rows, size_t n_cols, const int *col_id, size_t n_ids,
                                const int *true_id, size_t first, fcl_ident_result *r, fcl_error *err)
{
    float *v = NULL;
    if (!r || (rows && !s)) return FCL_ERR(err, FCL_ERR_INVALID_ARG, "fcl_ident_rank_block: NULL argument");
    if (!n_ids || (!col_id && n_cols != n_ids))
        return FCL_ERR(err, FCL_ERR_INVALID_ARG, "fcl_ident_rank_block: %zu columns for %zu identities", n_cols, n_ids);
    if (first > r->n_probes || rows > r->n_probes - first)
        return FCL_ERR(err, FCL_ERR_INVALID_ARG, "fcl_ident_rank_block: probes %zu..%zu of %zu", first, first + rows,
                       r->n_probes);
    const int k = r->k < 1 ? 1 : (size_t)r->k > n_ids ? (int)n_ids : r->k;
    if (k != r->k) return FCL_ERR(err, FCL_ERR_INVALID_ARG, "fcl_ident_rank_block: top %d of %zu identities", r->k, n_ids);
    if (col_id) {
        v = malloc(n_ids * sizeof *v);
        if (!v) return FCL_ERR(err, FCL_ERR_NOMEM, "fcl_ident_rank_block: out of memory");
        for (size_t j = 0; j < n_cols; j++)
            if (col_id[j] < 0 || (size_t)col_id[j] >= n_ids) {
                free(v);
                return FCL_ERR(err, FCL_ERR_INVALID_ARG, "fcl_ident_rank_block: column %zu has identity %d", j, col_id[j]);
            }
    }
    for (size_t i = 0; i < rows; i++) {
        const size_t p = first + i;
        const float *row = s + i * n_cols;
        for (size_t j = 0; j < n_cols; j++)
            if (!isfinite(row[j])) {
                free(v);
                return FCL_ERR(err, FCL_ERR_INVALID_ARG, "identification: probe %zu: score against gallery row %zu is not finite",
                               p, j);
            }
        const float *sc = row;
        if (col_id) { /* max over each identity's columns */
            for (size_t c = 0; c < n_ids; c++) v[c] = -INFINITY;
            for (size_t j = 0; j < n_cols; j++)
                if (row[j] > v[col_id[j]]) v[col_id[j]] = row[j];
            sc = v;
        }
        /* Top-k by insertion: identities are visited in increasing index, so an equal score
         * never passes an earlier one (ties go to the lower index). */
        int *tid = r->top_id + p * (size_t)k;
        float *tsc = r->top_score + p * (size_t)k;
        int m = 0;
        for (size_t c = 0; c < n_ids; c++) {
            float x = sc[c];
            if (m == k && !(x > tsc[k - 1])) continue;
            int q = m < k ? m : k - 1;
            while (q > 0 && tsc[q - 1] < x) {
                tsc[q] = tsc[q - 1];
                tid[q] = tid[q - 1];
                q--;
            }
            tsc[q] = x;
            tid[q] = (int)c;
            if (m < k) m++;
        }
        long t = true_id ? true_id[p] : -1;
        if (t >= (long)n_ids) {
            free(v);
            return FCL_ERR(err, FCL_ERR_INVALID_ARG, "identification: probe %zu: true identity %ld outside -1..%zu", p, t,
                           n_ids - 1);
        }
        if (t < 0) {
            r->rank[p] = -1;
            r->true_score[p] = NAN;
            continue;
        }
        const float ts = sc[t];
        long rk = 0;
        for (size_t c = 0; c < n_ids; c++) rk += sc[c] > ts || (sc[c] == ts && (long)c < t);
        r->rank[p] = rk;
        r->true_score[p] = ts;
    }
    free(v);
    return FCL_OK;
}

fcl_status fcl_identify(fcl_ctx *ctx, const fcl_gallery *g, const float *probes, size_t n_probes, const int *true_id,
                        int k, fcl_ident_result *r)
{
    fcl_error *e = fcl_ctx_error(ctx);
    fcl_status st;
    fcl_tensor tg = {0}, tp = {0}, ts = {0};
    float *host = NULL;
    if (!g || !r || (n_probes && !probes)) return FCL_ERR(e, FCL_ERR_INVALID_ARG, "fcl_identify: NULL argument");
    memset(r, 0, sizeof *r);
    if (!g->n_rows || !g->dim || !g->rows) return FCL_ERR(e, FCL_ERR_INVALID_ARG, "fcl_identify: empty gallery");
    if (!n_probes) return FCL_ERR(e, FCL_ERR_INVALID_ARG, "fcl_identify: no probes");
    if (k < 1 || k > 1000) return FCL_ERR(e, FCL_ERR_INVALID_ARG, "fcl_identify: top k must be in 1..1000 (got %d)", k);
    if ((size_t)k > g->n_ids) k = (int)g->n_ids;
    for (size_t i = 0; i < n_probes * g->dim; i++)
        if (!isfinite(probes[i]))
            return FCL_ERR(e, FCL_ERR_INVALID_ARG, "fcl_identify: probe %zu: embedding value %zu is not finite",
                           i / g->dim, i % g->dim);
    if ((st = fcl_ident_result_alloc(r, n_probes, k, e))) return st;
    const size_t D = g->dim, G = g->n_rows;
    size_t block = IDENT_BLOCK_BYTES / (G * sizeof(float));
    if (block < 1) block = 1;
    if (block > n_probes) block = n_probes;
    size_t sg[2] = {G, D}, sp[2] = {block, D}, ss[2] = {block, G};
    if ((st = fcl_tensor_alloc(ctx, &tg, 2, sg, FCL_F32)) || (st = fcl_tensor_alloc(ctx, &tp, 2, sp, FCL_F32)) ||
        (st = fcl_tensor_alloc(ctx, &ts, 2, ss, FCL_F32)))
        goto fail;
    if ((st = fcl_tensor_upload(ctx, &tg, g->rows, G * D))) goto fail;
    host = malloc(block * G * sizeof *host);
    if (!host) {
        st = FCL_ERR(e, FCL_ERR_NOMEM, "fcl_identify: out of memory for %zu x %zu scores", block, G);
        goto fail;
    }
    const int *col_id = g->mode == FCL_MATCH_MAX ? g->row_id : NULL;
    for (size_t p0 = 0; p0 < n_probes; p0 += block) {
        size_t m = n_probes - p0 < block ? n_probes - p0 : block;
        /* The last block may be short: views of its first m rows. */
        fcl_tensor vp, vs;
        size_t shp[2] = {m, D}, shs[2] = {m, G};
        if ((st = fcl_tensor_view(ctx, &tp, 0, 2, shp, &vp)) || (st = fcl_tensor_view(ctx, &ts, 0, 2, shs, &vs))) goto fail;
        if ((st = fcl_tensor_upload(ctx, &vp, probes + p0 * D, m * D))) goto fail;
        /* scores [m, G] = probes [m, D] x rows^T ([G, D] stored): cosine of unit rows. */
        fcl_gemm_params gp = {0};
        gp.trans_b = 1;
        gp.m = m;
        gp.n = G;
        gp.k = D;
        gp.alpha = 1.0f;
        gp.beta = 0.0f;
        gp.a_off = tp.offset;
        gp.b_off = tg.offset;
        gp.c_off = ts.offset;
        if ((st = fcl_gemm(ctx, ts.buf, tp.buf, tg.buf, &gp))) goto fail;
        if ((st = fcl_tensor_download(ctx, &vs, host, m * G))) goto fail;
        if ((st = fcl_ident_rank_block(host, m, G, col_id, g->n_ids, true_id, p0, r, e))) goto fail;
    }
fail:
    if (st) fcl_ident_result_free(r);
    fcl_tensor_release(ctx, &tg);
    fcl_tensor_release(ctx, &tp);
    fcl_tensor_release(ctx, &ts);
    free(host);
    return st;
}
