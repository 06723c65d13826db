/* host/nn/train_dist.c: data-parallel pieces of the training loop: source slices, row gathers, split pair scoring. */
#include <stdlib.h>
#include <string.h>

#include "nn/train_dist.h"

static fcl_status slice_get(void *user, size_t index, int channels, fcl_image *out, int *label, fcl_error *err)
{
    fcl_source_slice *s = user;
    return s->base.get(s->base.user, s->lo + index, channels, out, label, err);
}

fcl_loader_source fcl_source_slice_make(fcl_source_slice *s, const fcl_loader_source *base, size_t lo, size_t hi)
{
    s->base = *base;
    s->lo = lo;
    fcl_loader_source src = {hi - lo, slice_get, s, base->labels ? base->labels + lo : NULL};
    return src;
}

fcl_status fcl_dist_gather_rows(fcl_ctx *ctx, fcl_dist *d, const fcl_tensor *mine, size_t n, size_t D,
                                fcl_tensor *all, const int *labels, int *labels_all, size_t total)
{
    float *h = malloc((total * D + n * D + 1) * sizeof *h);
    if (!h) return FCL_ERR(fcl_ctx_error(ctx), FCL_ERR_NOMEM, "out of host memory");
    float *m = h + total * D;
    fcl_status st = fcl_tensor_download(ctx, mine, m, n * D);
    if (!st) st = fcl_dist_allgather_f(d, m, n * D, h, total * D, fcl_ctx_error(ctx));
    if (!st) st = fcl_tensor_upload(ctx, all, h, total * D);
    if (!st && labels_all) st = fcl_dist_allgather_i(d, labels, n, labels_all, total, fcl_ctx_error(ctx));
    free(h);
    return st;
}

fcl_status fcl_dist_embed_pairs(fcl_ctx *ctx, fcl_dist *d, fcl_net *net, const fcl_eval_input *in,
                                const fcl_pair_list *pl, fcl_eval_progress_fn progress, void *user, double **scores)
{
    if (fcl_dist_size(d) == 1) return fcl_embed_pairs(ctx, net, in, pl, progress, user, scores);
    *scores = NULL;
    size_t lo, hi;
    fcl_dist_shard(pl->n, fcl_dist_rank(d), fcl_dist_size(d), &lo, &hi);
    fcl_pair_list part = *pl;
    part.pairs = pl->pairs + lo;
    part.n = hi - lo;
    double *mine = NULL, *all = malloc((pl->n ? pl->n : 1) * sizeof *all);
    if (!all) return FCL_ERR(fcl_ctx_error(ctx), FCL_ERR_NOMEM, "out of host memory");
    /* An empty slice (more ranks than pairs) embeds nothing but still joins the gather. */
    fcl_status st = part.n ? fcl_embed_pairs(ctx, net, in, &part, progress, user, &mine) : FCL_OK;
    if (!st) st = fcl_dist_allgather_d(d, mine, part.n, all, pl->n, fcl_ctx_error(ctx));
    free(mine);
    if (st) {
        free(all);
        return st;
    }
    *scores = all;
    return FCL_OK;
}
