/* host/nn/train_loss.c: the loss terms: their table (name, kind, step), the --loss parser, each term's state, the forward/backward of every term in a step, and the classification forward that validation shares. */
#include "nn/train_dist.h"
#include "nn/trainer_internal.h"

/* The inputs of one step's terms: the labels of this rank's rows (y) and of the (gathered)
 * global batch (plab: host, o->py: device). */
typedef struct term_in {
    const fcl_batch *b;
    const fcl_tensor *y;
    const int *plab;
} term_in;

/* One loss term's forward and backward at weight w: its loss in t->loss, its gradients added
 * (into t->dlogits, o->demb or o->pd, its own parameters' gradient); *used 0 when the batch gives
 * it nothing to do (its loss then counts 0). */
typedef fcl_status (*term_step_fn)(trainer *t, const term_in *in, float w, fcl_tr_terms *o, int *used);
/* A term's own state (buffers, parameters and their optimizer) for batches of up to B rows. */
typedef fcl_status (*term_init_fn)(trainer *t, size_t B);

static fcl_status init_ce(trainer *t, size_t B);
static fcl_status init_head(trainer *t, size_t B);
static fcl_status init_center(trainer *t, size_t B);
static fcl_status init_contrastive(trainer *t, size_t B);
static fcl_status step_ce(trainer *t, const term_in *in, float w, fcl_tr_terms *o, int *used);
static fcl_status step_head(trainer *t, const term_in *in, float w, fcl_tr_terms *o, int *used);
static fcl_status step_center(trainer *t, const term_in *in, float w, fcl_tr_terms *o, int *used);
static fcl_status step_triplet(trainer *t, const term_in *in, float w, fcl_tr_terms *o, int *used);
static fcl_status step_contrastive(trainer *t, const term_in *in, float w, fcl_tr_terms *o, int *used);
static fcl_status step_histogram(trainer *t, const term_in *in, float w, fcl_tr_terms *o, int *used);

/* Every loss term, in fcl_loss_term_kind order: a new term is a row here with its functions. */
static const struct term_def {
    const char *name;
    int head;            /* a margin head: a classifier of its own (weights, optimizer) */
    int batchwise;       /* over the whole (gathered) batch at once: pairs, mining */
    int gathers;         /* data-parallel ranks need the global batch's embeddings (batch-wise
                            terms, centre updates) */
    int writes_demb;     /* its backward writes the embedding gradient */
    term_init_fn init;   /* its own state, or NULL */
    term_step_fn step;
} terms[FCL_TERM_KIND_COUNT] = {
    [FCL_TERM_CE] = {"ce", 0, 0, 0, 0, init_ce, step_ce},
    [FCL_TERM_ARCFACE] = {"arcface", 1, 0, 0, 1, init_head, step_head},
    [FCL_TERM_COSFACE] = {"cosface", 1, 0, 0, 1, init_head, step_head},
    [FCL_TERM_SPHEREFACE] = {"sphereface", 1, 0, 0, 1, init_head, step_head},
    [FCL_TERM_CENTER] = {"center", 0, 0, 1, 1, init_center, step_center},
    [FCL_TERM_TRIPLET] = {"triplet", 0, 1, 1, 1, NULL, step_triplet},
    [FCL_TERM_CONTRASTIVE] = {"contrastive", 0, 1, 1, 1, init_contrastive, step_contrastive},
    [FCL_TERM_HISTOGRAM] = {"histogram", 0, 1, 1, 1, NULL, step_histogram},
};

const char *fcl_loss_term_name(fcl_loss_term_kind k)
{
    return k >= 0 && k < FCL_TERM_KIND_COUNT ? terms[k].name : "?";
}

int fcl_tr_is_head(fcl_loss_term_kind k)
{
    return k >= 0 && k < FCL_TERM_KIND_COUNT && terms[k].head;
}

int fcl_tr_is_batchwise(fcl_loss_term_kind k)
{
    return k >= 0 && k < FCL_TERM_KIND_COUNT && terms[k].batchwise;
}

fcl_status fcl_loss_spec_parse(const char *text, fcl_loss_spec *out, fcl_error *err)
{
    char buf[256];
    memset(out, 0, sizeof *out);
    if (!text || !*text) return FCL_ERR(err, FCL_ERR_INVALID_ARG, "--loss is empty (e.g. ce, arcface, ce+0.01*center)");
    snprintf(buf, sizeof buf, "%s", text);
    int classify = 0;
    char *save = NULL;
    for (char *tok = strtok_r(buf, "+", &save); tok; tok = strtok_r(NULL, "+", &save)) {
        while (*tok == ' ') tok++;
        double w = 1.0;
        char *star = strchr(tok, '*');
        if (star) {
            char *end = NULL;
            *star = '\0';
            w = strtod(tok, &end);
            if (end == tok || (*end && *end != ' ') || !(w > 0) || !isfinite(w))
                return FCL_ERR(err, FCL_ERR_INVALID_ARG, "--loss '%s': weight '%s' is not a positive number", text, tok);
            tok = star + 1;
        }
        for (char *e = tok + strlen(tok); e > tok && e[-1] == ' '; e--) e[-1] = '\0';
        int k = -1;
        for (int i = 0; i < FCL_TERM_KIND_COUNT; i++)
            if (!strcmp(tok, terms[i].name)) k = i;
        if (k < 0)
            return FCL_ERR(err, FCL_ERR_INVALID_ARG,
                           "--loss '%s': unknown term '%s' (ce, arcface, cosface, sphereface, center, triplet, contrastive, histogram)",
                           text, tok);
        if (out->n == FCL_MAX_LOSS_TERMS)
            return FCL_ERR(err, FCL_ERR_INVALID_ARG, "--loss '%s': at most %d terms", text, FCL_MAX_LOSS_TERMS);
        for (int i = 0; i < out->n; i++)
            if (out->kind[i] == (fcl_loss_term_kind)k)
                return FCL_ERR(err, FCL_ERR_INVALID_ARG, "--loss '%s': '%s' appears twice", text, tok);
        if (k == FCL_TERM_CE || fcl_tr_is_head((fcl_loss_term_kind)k)) classify++;
        out->kind[out->n] = (fcl_loss_term_kind)k;
        out->weight[out->n] = w;
        out->n++;
    }
    if (classify > 1)
        return FCL_ERR(err, FCL_ERR_INVALID_ARG, "--loss '%s': use at most one of ce, arcface, cosface, sphereface", text);
    for (int i = 0; i < out->n; i++)
        if (out->kind[i] == FCL_TERM_CENTER && !classify)
            return FCL_ERR(err, FCL_ERR_INVALID_ARG, "--loss '%s': center loss is added to a classification loss (e.g. ce+0.01*center)", text);
    return FCL_OK;
}

fcl_status fcl_tr_build_loss_state(trainer *t)
{
    fcl_ctx *ctx = t->ctx;
    const fcl_train_config *c = t->cfg;
    fcl_status st = FCL_OK;
    size_t B = (size_t)c->batch, D = (size_t)t->dim, one = 1;
    st = fcl_tensor_alloc4(ctx, &t->x, B, (size_t)t->model->channels, (size_t)t->model->in_h, (size_t)t->model->in_w);
    if (!st) st = fcl_tensor_alloc(ctx, &t->labels, 1, &B, FCL_F32);
    if (!st) st = fcl_tensor_alloc(ctx, &t->loss, 1, &one, FCL_F32);
    if (!st) st = fcl_tensor_alloc4(ctx, &t->demb, B, D, 1, 1);
    int gather = 0;
    for (int i = 0; i < c->loss.n && !st; i++) {
        if ((unsigned)c->loss.kind[i] >= FCL_TERM_KIND_COUNT) continue;
        const struct term_def *d = &terms[c->loss.kind[i]];
        if (d->init) st = d->init(t, B);
        gather |= d->gathers;
    }
    if (st) return st;
    if (fcl_dist_size(c->dist) > 1 && gather) {
        size_t s2[2] = {B, D};
        st = fcl_tensor_alloc(ctx, &t->emb_all, 2, s2, FCL_F32);
        if (!st) st = fcl_tensor_alloc(ctx, &t->demb_all, 2, s2, FCL_F32);
        if (!st) st = fcl_tensor_alloc(ctx, &t->y_all, 1, &B, FCL_F32);
        if (st) return st;
        if (!(t->labels_all = malloc(B * sizeof *t->labels_all))) return FCL_ERR(fcl_ctx_error(ctx), FCL_ERR_NOMEM, "out of host memory");
    }
    return FCL_OK;
}

fcl_margin_params fcl_tr_margin_params(const trainer *t, int iter)
{
    const fcl_train_config *c = t->cfg;
    fcl_margin_params p = {0};
    switch (c->loss.kind[t->head_term]) {
    case FCL_TERM_COSFACE:
        p.kind = FCL_MARGIN_COSFACE;
        p.s = c->margin_s > 0 ? (float)c->margin_s : 30.0f;
        p.m = c->margin_m > 0 ? (float)c->margin_m : 0.35f;
        break;
    case FCL_TERM_SPHEREFACE: {
        p.kind = FCL_MARGIN_SPHEREFACE;
        p.m = c->margin_m > 0 ? (float)c->margin_m : 4.0f;
        fcl_sphereface_schedule s = {1000.0, 0.12, 1.0, 5.0};
        fcl_sphereface_lambda(&p.lambda, &s, iter, NULL);
        break;
    }
    default:
        p.kind = FCL_MARGIN_ARCFACE;
        p.s = c->margin_s > 0 ? (float)c->margin_s : 30.0f;
        p.m = c->margin_m > 0 ? (float)c->margin_m : 0.5f;
        p.easy_margin = c->easy_margin;
        break;
    }
    p.label_smoothing = (float)c->label_smoothing;
    return p;
}

fcl_status fcl_tr_load_batch(trainer *t, const fcl_batch *b, fcl_tensor *x, fcl_tensor *y)
{
    size_t n = (size_t)b->n;
    fcl_status st = rows(t->ctx, &t->x, n, x);
    if (!st) st = fcl_tensor_upload(t->ctx, x, b->data, fcl_tensor_numel(x));
    if (!st) st = rows(t->ctx, &t->labels, n, y);
    if (!st) st = fcl_labels_upload(t->ctx, y, b->labels, n, t->classes);
    return st;
}

/* fcl_tr_class_forward with the margin head's options (o: NULL or the training step's, step_head) */
static fcl_status class_forward(trainer *t, size_t n, const fcl_tensor *y, fcl_tensor *scores, fcl_tensor *hl,
                                const fcl_margin_head_opts *o);

fcl_status fcl_tr_class_forward(trainer *t, size_t n, const fcl_tensor *y, fcl_tensor *scores, fcl_tensor *hl)
{
    return class_forward(t, n, y, scores, hl, NULL);
}

static fcl_status class_forward(trainer *t, size_t n, const fcl_tensor *y, fcl_tensor *scores, fcl_tensor *hl,
                                const fcl_margin_head_opts *o)
{
    fcl_ctx *ctx = t->ctx;
    fcl_status st;
    if (t->ce_term >= 0) {
        fcl_xent_params xp = {(float)t->cfg->label_smoothing};
        st = flat2(ctx, fcl_net_output(t->net), n, 0, n, scores);
        if (!st) st = fcl_softmax_xent_fwd(ctx, &t->loss, NULL, scores, y, &xp);
        return st;
    }
    fcl_margin_params p = fcl_tr_margin_params(t, (int)t->step);
    fcl_tensor emb, own_hl;
    if (!hl) hl = &own_hl;
    st = flat2(ctx, fcl_net_embedding(t->net), n, 0, n, &emb);
    if (!st) st = flat2(ctx, &t->head_logits, n, 0, n, hl);
    if (!st) st = flat2(ctx, &t->head_cos, n, 0, n, scores);
    if (!st) st = fcl_margin_head_fwd_opt(ctx, &t->loss, hl, scores, &emb, &t->head_w, y, &p, o);
    return st;
}

/* The [n, classes] scores to the host for the accuracy count (none when out of host memory). */
static fcl_status download_scores(trainer *t, const fcl_tensor *scores, size_t n, float **out)
{
    size_t count = n * (size_t)t->classes;
    if (!(*out = malloc(count * sizeof **out))) return FCL_OK;
    return fcl_tensor_download(t->ctx, scores, *out, count);
}

fcl_status fcl_tr_loss_terms(trainer *t, const fcl_batch *b, const fcl_tensor *y, fcl_tr_terms *o)
{
    fcl_ctx *ctx = t->ctx;
    const fcl_train_config *c = t->cfg;
    size_t n = (size_t)b->n;
    memset(o, 0, sizeof *o);
    o->n = n;
    fcl_status st = flat2(ctx, fcl_net_embedding(t->net), n, 0, n, &o->emb);
    if (!st) st = flat2(ctx, &t->demb, n, 0, n, &o->demb);
    if (!st) st = fcl_tensor_fill(ctx, &o->demb, 0.0f);
    if (st) return st;
    /* Batch-wise terms see the global batch: on data-parallel ranks the gathered one (pe, py,
     * plab, pn); their gradient pd is then the same on every rank and each takes its rows. */
    o->pe = o->emb;
    o->py = *y;
    o->pd = o->demb;
    const int *plab = b->labels;
    o->pn = n;
    const int ranks = fcl_dist_size(c->dist);
    if (t->emb_all.buf) {
        o->pn = n * (size_t)ranks;
        st = flat2(ctx, &t->emb_all, o->pn, 0, o->pn, &o->pe);
        if (!st) st = flat2(ctx, &t->demb_all, o->pn, 0, o->pn, &o->pd);
        if (!st) st = fcl_dist_gather_rows(ctx, c->dist, &o->emb, n, (size_t)t->dim, &o->pe, b->labels, t->labels_all, o->pn);
        if (!st) st = rows(ctx, &t->y_all, o->pn, &o->py);
        if (!st) st = fcl_labels_upload(ctx, &o->py, t->labels_all, o->pn, t->classes);
        if (!st) st = fcl_tensor_fill(ctx, &o->pd, 0.0f);
        if (st) return st;
        plab = t->labels_all;
    }
    term_in in = {b, y, plab};
    for (int i = 0; i < c->loss.n && !st; i++) {
        if ((unsigned)c->loss.kind[i] >= FCL_TERM_KIND_COUNT) continue; /* not a term: nothing to do */
        const struct term_def *d = &terms[c->loss.kind[i]];
        float w = (float)c->loss.weight[i];
        int used = 1;
        st = d->step(t, &in, w, o, &used);
        if (!st && used) o->total += w * download_loss(t);
        if (used && d->writes_demb) o->need_demb = 1;
    }
    if (!st && t->emb_all.buf && o->need_demb) { /* this rank's rows of the global gradient, times the
                                                    rank count (the averaging divides it again) */
        fcl_tensor mine;
        st = flat2(ctx, &o->pd, o->pn, n * (size_t)fcl_dist_rank(c->dist), n, &mine);
        if (!st) st = fcl_axpy(ctx, &o->demb, (float)ranks, &mine);
    }
    return st;
}

/* ---- the terms' own state ---------------------------------------------------------------------- */

static fcl_status init_ce(trainer *t, size_t B)
{
    return fcl_tensor_alloc4(t->ctx, &t->dlogits, B, (size_t)t->classes, 1, 1);
}

/* The head's weights [K, D] (insightface: normal(0, 0.01)), their gradient, the margin logits and
 * cosines [B, K], and an optimizer of the network's kind at the schedule's current lr. */
static fcl_status init_head(trainer *t, size_t B)
{
    fcl_ctx *ctx = t->ctx;
    const fcl_train_config *c = t->cfg;
    size_t D = (size_t)t->dim, K = (size_t)t->classes;
    fcl_rng r;
    fcl_rng_seed(&r, c->seed ^ 0x5eedull);
    size_t shape[2] = {K, D};
    fcl_status st = fcl_tensor_alloc(ctx, &t->head_w, 2, shape, FCL_F32);
    if (!st) st = fcl_tensor_alloc(ctx, &t->head_dw, 2, shape, FCL_F32);
    size_t lshape[2] = {B, K};
    if (!st) st = fcl_tensor_alloc(ctx, &t->head_logits, 2, lshape, FCL_F32);
    if (!st) st = fcl_tensor_alloc(ctx, &t->head_cos, 2, lshape, FCL_F32);
    if (st) return st;
    float *w = malloc(K * D * sizeof *w);
    if (!w) return FCL_ERR(fcl_ctx_error(ctx), FCL_ERR_NOMEM, "out of host memory");
    for (size_t i = 0; i < K * D; i++) w[i] = 0.01f * fcl_rng_normal(&r);
    st = fcl_tensor_upload(ctx, &t->head_w, w, K * D);
    free(w);
    if (st) return st;
    fcl_optim_hparams hp = c->optim == FCL_OPTIM_SGD ? fcl_sgd_defaults(c->lr) : fcl_adamw_defaults(c->lr);
    if (c->optim == FCL_OPTIM_SGD) {
        hp.momentum = c->momentum;
        hp.nesterov = c->nesterov;
    }
    hp.weight_decay = c->weight_decay;
    hp.lr = fcl_sched_lr(t->sched, 0); /* the schedule's current lr (warmup), as the network's groups */
    fcl_param_range all = {0, K * D};
    fcl_param_group g = {hp, &all, 1};
    return fcl_optim_create(ctx, &t->head_opt, c->optim, K * D, &g, 1);
}

static fcl_status init_center(trainer *t, size_t B)
{
    size_t shape[2] = {(size_t)t->classes, (size_t)t->dim};
    fcl_status st = fcl_tensor_alloc(t->ctx, &t->centers, 2, shape, FCL_F32);
    return st ? st : fcl_tensor_fill(t->ctx, &t->centers, 0.0f);
}

/* The pair halves' gradients [B, D] and the pair labels [B]. */
static fcl_status init_contrastive(trainer *t, size_t B)
{
    size_t s2[2] = {B, (size_t)t->dim};
    fcl_status st = fcl_tensor_alloc(t->ctx, &t->scratch_a, 2, s2, FCL_F32);
    if (!st) st = fcl_tensor_alloc(t->ctx, &t->scratch_b, 2, s2, FCL_F32);
    if (!st) st = fcl_tensor_alloc(t->ctx, &t->pair_y, 1, &B, FCL_F32);
    return st;
}

/* ---- the terms' steps ------------------------------------------------------------------------ */

static fcl_status step_ce(trainer *t, const term_in *in, float w, fcl_tr_terms *o, int *used)
{
    fcl_ctx *ctx = t->ctx;
    size_t n = o->n;
    fcl_xent_params xp = {(float)t->cfg->label_smoothing};
    fcl_tensor logits, dlog;
    fcl_status st = fcl_tr_class_forward(t, n, in->y, &logits, NULL);
    if (!st) st = flat2(ctx, &t->dlogits, n, 0, n, &dlog);
    if (!st) st = fcl_tensor_fill(ctx, &dlog, 0.0f);
    if (!st) st = fcl_softmax_xent_bwd(ctx, &dlog, &logits, in->y, &xp, w);
    if (!st) st = download_scores(t, &logits, n, &o->host_scores);
    return st;
}

static fcl_status step_head(trainer *t, const term_in *in, float w, fcl_tr_terms *o, int *used)
{
    fcl_ctx *ctx = t->ctx;
    size_t n = o->n;
    fcl_margin_params p = fcl_tr_margin_params(t, (int)t->step);
    fcl_tensor hl, hc, ws = {0}, rs = {0};
    /* the forward keeps the weights' norms and the softmax's row statistics for the backward (no
     * second pass over W nor the logits), which overwrites head_dw (no zero fill) */
    size_t wshape[2] = {2, (size_t)t->classes}, rshape[2] = {n, 2};
    fcl_margin_head_opts ho = {&ws, 1, &rs};
    fcl_status st = fcl_tensor_alloc(ctx, &ws, 2, wshape, FCL_F32);
    if (!st) st = fcl_tensor_alloc(ctx, &rs, 2, rshape, FCL_F32);
    if (!st) st = class_forward(t, n, in->y, &hc, &hl, &ho);
    if (!st) st = fcl_margin_head_bwd_opt(ctx, &o->demb, &t->head_dw, &hl, &hc, &o->emb, &t->head_w, in->y, &p, w, &ho);
    fcl_tensor_release(ctx, &ws);   /* in-order queue: the backward has read them */
    fcl_tensor_release(ctx, &rs);
    /* accuracy from the plain cosines (the margin only shapes training) */
    if (!st) st = download_scores(t, &hc, n, &o->host_scores);
    return st;
}

static fcl_status step_center(trainer *t, const term_in *in, float w, fcl_tr_terms *o, int *used)
{
    fcl_status st = fcl_center_loss_fwd(t->ctx, &t->loss, &o->emb, &t->centers, in->y);
    if (!st) st = fcl_center_loss_bwd(t->ctx, &o->demb, NULL, &o->emb, &t->centers, in->y, w);
    return st;
}

static fcl_status step_triplet(trainer *t, const term_in *in, float w, fcl_tr_terms *o, int *used)
{
    const fcl_train_config *c = t->cfg;
    fcl_triplet_params p = {c->triplet_semi_hard ? FCL_TRIPLET_SEMI_HARD : FCL_TRIPLET_BATCH_HARD,
                            c->triplet_margin > 0 ? (float)c->triplet_margin : 0.3f, 0};
    fcl_status st = fcl_triplet_loss_fwd(t->ctx, &t->loss, &o->pe, &o->py, &p);
    if (!st) st = fcl_triplet_loss_bwd(t->ctx, &o->pd, &o->pe, &o->py, &p, w);
    return st;
}

static fcl_status step_histogram(trainer *t, const term_in *in, float w, fcl_tr_terms *o, int *used)
{
    fcl_histogram_params p = {t->cfg->histogram_bins};
    fcl_status st = fcl_histogram_loss_fwd(t->ctx, &t->loss, &o->pe, &o->py, &p);
    if (!st) st = fcl_histogram_loss_bwd(t->ctx, &o->pd, &o->pe, &o->py, &p, w);
    return st;
}

/* Pairs of neighbouring rows (i, i + 1) of the global batch: with P x K batches mostly the same
 * identity, one different pair per identity boundary. */
static fcl_status step_contrastive(trainer *t, const term_in *in, float w, fcl_tr_terms *o, int *used)
{
    fcl_ctx *ctx = t->ctx;
    const size_t pn = o->pn;
    if (pn < 2) {
        *used = 0;
        return FCL_OK;
    }
    size_t np = pn - 1;
    float *ypair = malloc(np * sizeof *ypair);
    if (!ypair) return FCL_ERR(fcl_ctx_error(ctx), FCL_ERR_NOMEM, "out of host memory");
    for (size_t k = 0; k < np; k++) ypair[k] = in->plab[k] == in->plab[k + 1] ? 1.0f : 0.0f;
    fcl_tensor a, bb, da, db, yy, d1, d0;
    fcl_contrastive_params p = {t->cfg->triplet_margin > 0 ? (float)t->cfg->triplet_margin : 1.0f};
    size_t ys[1] = {np};
    fcl_status st = flat2(ctx, &o->pe, pn, 0, np, &a);
    if (!st) st = flat2(ctx, &o->pe, pn, 1, np, &bb);
    if (!st) st = flat2(ctx, &t->scratch_a, pn, 0, np, &da);
    if (!st) st = flat2(ctx, &t->scratch_b, pn, 0, np, &db);
    if (!st) st = fcl_tensor_view(ctx, &t->pair_y, 0, 1, ys, &yy);
    if (!st) st = fcl_tensor_upload(ctx, &yy, ypair, np);
    free(ypair);
    if (!st) st = fcl_contrastive_loss_fwd(ctx, &t->loss, &a, &bb, &yy, &p);
    if (!st) st = fcl_tensor_fill(ctx, &da, 0.0f);
    if (!st) st = fcl_tensor_fill(ctx, &db, 0.0f);
    if (!st) st = fcl_contrastive_loss_bwd(ctx, &da, &db, &a, &bb, &yy, &p, w);
    if (!st) st = flat2(ctx, &o->pd, pn, 0, np, &d0);
    if (!st) st = fcl_add_acc(ctx, &d0, &da);
    if (!st) st = flat2(ctx, &o->pd, pn, 1, np, &d1);
    if (!st) st = fcl_add_acc(ctx, &d1, &db);
    return st;
}
