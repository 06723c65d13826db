/* host/nn/net.c: runs a model graph on a device: parameter buffers, memory plan, forward and backward. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "facecl/net.h"
#include "facecl/ops.h"
#include "nn/net_fuse.h"
#include "nn/net_internal.h"
#include "nn/net_plan.h"
#include "ops/bn_internal.h"

void fcl_net_set_hooks(fcl_net *net, const fcl_net_hooks *hooks)
{
    if (hooks) net->hooks = *hooks;
    else memset(&net->hooks, 0, sizeof net->hooks);
}

/* ---- small helpers ---------------------------------------------------------------------------- */

fcl_status netp_alloc_act(fcl_net *net, fcl_tensor *t, int c, int h, int w)
{
    return fcl_tensor_alloc4(net->ctx, t, (size_t)net->n, (size_t)c, (size_t)h, (size_t)w);
}

const fcl_tensor *netp_in(fcl_net *net, int j) { return j < 0 ? &net->input_view : &net->act[j]; }

/* The gradient buffer of input j (allocated and zeroed on first use); NULL when not needed. */
fcl_status netp_din(fcl_net *net, int j, fcl_tensor **out)
{
    *out = NULL;
    const fcl_layer *L0 = NULL;
    if (j < 0) {
        if (!net->want_dinput) return FCL_OK;
        if (!net->dinput.buf) {
            const fcl_model *m = net->model;
            fcl_status st = netp_alloc_act(net, &net->dinput, m->channels, m->in_h, m->in_w);
            if (st) return st;
            st = fcl_tensor_fill(net->ctx, &net->dinput, 0.0f);
            if (st) return st;
        }
        *out = &net->dinput;
        return FCL_OK;
    }
    if (j < net->freeze) return FCL_OK; /* nothing upstream is trained */
    L0 = &net->model->layers[j];
    if (!net->dact[j].buf) {
        fcl_status st = netp_alloc_act(net, &net->dact[j], L0->out_c, L0->out_h, L0->out_w);
        if (st) return st;
        st = fcl_tensor_fill(net->ctx, &net->dact[j], 0.0f);
        if (st) return st;
    }
    *out = &net->dact[j];
    return FCL_OK;
}

fcl_status netp_din_first(fcl_net *net, int j, fcl_tensor **out, int *first)
{
    *out = NULL;
    *first = 0;
    fcl_tensor *t = j < 0 ? &net->dinput : &net->dact[j];
    if ((j < 0 && !net->want_dinput) || (j >= 0 && j < net->freeze)) return FCL_OK;
    if (!t->buf) {
        const fcl_model *m = net->model;
        const fcl_layer *L0 = j < 0 ? NULL : &m->layers[j];
        fcl_status st = j < 0 ? netp_alloc_act(net, t, m->channels, m->in_h, m->in_w)
                              : netp_alloc_act(net, t, L0->out_c, L0->out_h, L0->out_w);
        if (st) return st;
        *first = 1; /* not zeroed: the caller writes every element */
    }
    *out = t;
    return FCL_OK;
}

/* dst = src when dst has nothing yet (first), else dst += src. */
static fcl_status put_or_acc(fcl_ctx *ctx, fcl_tensor *dst, const fcl_tensor *src, int first)
{
    return first ? fcl_tensor_copy(ctx, dst, src) : fcl_add_acc(ctx, dst, src);
}

fcl_status netp_view(fcl_net *net, int e, fcl_tensor *out)
{
    const fcl_net_entry *en = &net->entries[e];
    size_t shape[4];
    int nd = en->info->ndim > 0 ? en->info->ndim : 1;
    for (int d = 0; d < nd; d++) shape[d] = en->info->ndim > 0 ? (size_t)en->info->shape[d] : 1;
    if (net->model->layers[en->layer].conv.linear_shape && nd == 2) /* [out, in]: a 1x1 conv's */
        shape[2] = shape[3] = 1, nd = 4;
    if (en->where == 2) return FCL_ERR(fcl_ctx_error(net->ctx), FCL_ERR_INVALID_ARG, "%s lives on the host", en->info->name);
    return fcl_tensor_view(net->ctx, en->where == 0 ? &net->params : &net->buffers, en->offset, nd, shape, out);
}

fcl_status netp_grad(fcl_net *net, int e, fcl_tensor *out)
{
    fcl_status st = netp_view(net, e, out);
    if (!st) out->buf = net->grads.buf; /* same offsets in the gradient buffer */
    return st;
}

/* ---- creation ------------------------------------------------------------------------------- */

static void find_entries(fcl_net *net)
{
    int e = 0;
    for (int i = 0; i < net->model->n_layers; i++) {
        const fcl_layer *L = &net->model->layers[i];
        layer_state *s = &net->ls[i];
        s->weight = s->bias = s->rmean = s->rvar = s->nbt = s->gain = -1;
        for (int k = 0; k < L->n_params; k++, e++) {
            switch (L->params[k].kind) {
            case FCL_PARAM_WEIGHT: s->weight = e; break;
            case FCL_PARAM_BIAS: s->bias = e; break;
            case FCL_PARAM_RUNNING_MEAN: s->rmean = e; break;
            case FCL_PARAM_RUNNING_VAR: s->rvar = e; break;
            case FCL_PARAM_NUM_BATCHES: s->nbt = e; break;
            case FCL_PARAM_GAIN: s->gain = e; break;
            default: break;
            }
        }
    }
}

/* Liveness (net_plan.c): which outputs a backward reads, and the last forward reader of each. */
static void plan(fcl_net *net)
{
    fcl_net_liveness(net->model, net->freeze, net->last_fwd_use, net->keep_for_bwd, net->last_bwd_use);
}

static fcl_status build_plan_arrays(fcl_net *net)
{
    int nl = net->model->n_layers;
    net->last_fwd_use = calloc((size_t)nl, sizeof(int));
    net->keep_for_bwd = calloc((size_t)nl, sizeof(int));
    net->last_bwd_use = calloc((size_t)nl, sizeof(int));
    if (!net->last_fwd_use || !net->keep_for_bwd || !net->last_bwd_use)
        return FCL_ERR(fcl_ctx_error(net->ctx), FCL_ERR_NOMEM, "out of host memory planning %s", net->model->name);
    plan(net);
    return FCL_OK;
}

fcl_status fcl_net_create(fcl_ctx *ctx, const fcl_model *model, const fcl_net_opts *opts, fcl_net **out)
{
    fcl_status st = FCL_OK;
    *out = NULL;
    if (!opts || opts->max_batch <= 0)
        return FCL_ERR(fcl_ctx_error(ctx), FCL_ERR_INVALID_ARG, "fcl_net_create(%s): max_batch must be > 0", model->name);
    if (opts->freeze < 0 || opts->freeze > model->n_layers)
        return FCL_ERR(fcl_ctx_error(ctx), FCL_ERR_INVALID_ARG, "fcl_net_create(%s): freeze %d is outside 0..%d layers",
                       model->name, opts->freeze, model->n_layers);
    fcl_net *net = calloc(1, sizeof *net);
    if (!net) return FCL_ERR(fcl_ctx_error(ctx), FCL_ERR_NOMEM, "out of host memory");
    net->ctx = ctx;
    net->model = model;
    net->max_batch = opts->max_batch;
    net->freeze = opts->freeze;
    net->n_entries = model->n_tensors;
    net->entries = calloc((size_t)model->n_tensors + 1, sizeof *net->entries);
    net->nbt = calloc((size_t)model->n_tensors + 1, sizeof *net->nbt);
    net->ls = calloc((size_t)model->n_layers, sizeof *net->ls);
    net->act = calloc((size_t)model->n_layers, sizeof *net->act);
    net->dact = calloc((size_t)model->n_layers, sizeof *net->dact);
    if (!net->entries || !net->nbt || !net->ls || !net->act || !net->dact) {
        st = FCL_ERR(fcl_ctx_error(ctx), FCL_ERR_NOMEM, "out of host memory");
        goto fail;
    }
    int e = 0;
    for (int i = 0; i < model->n_layers; i++) {
        const fcl_layer *L = &model->layers[i];
        for (int k = 0; k < L->n_params; k++, e++) {
            fcl_net_entry *en = &net->entries[e];
            en->info = &L->params[k];
            en->layer = i;
            en->frozen = i < net->freeze;
            if (en->info->is_int64) {
                en->where = 2;
            } else if (en->info->trainable) {
                en->where = 0;
                en->offset = net->n_params;
                net->n_params += (size_t)en->info->numel;
            } else {
                en->where = 1;
                en->offset = net->n_buffers;
                net->n_buffers += (size_t)en->info->numel;
            }
        }
    }
    find_entries(net);
    st = build_plan_arrays(net);
    if (!st) st = netf_create(net);
    if (st) goto fail;
    size_t np = net->n_params ? net->n_params : 1, nb = net->n_buffers ? net->n_buffers : 1;
    st = fcl_tensor_alloc(ctx, &net->params, 1, &np, FCL_F32);
    if (!st) st = fcl_tensor_alloc(ctx, &net->grads, 1, &np, FCL_F32);
    if (!st) st = fcl_tensor_alloc(ctx, &net->buffers, 1, &nb, FCL_F32);
    if (st) goto fail;
    for (int i = 0; i < model->n_layers; i++) {
        const fcl_layer *L = &model->layers[i];
        if (L->kind != FCL_LAYER_BN) continue;
        size_t c = (size_t)L->out_c;
        st = fcl_tensor_alloc(ctx, &net->ls[i].save_mean, 1, &c, FCL_F32);
        if (!st) st = fcl_tensor_alloc(ctx, &net->ls[i].save_invstd, 1, &c, FCL_F32);
        if (st) goto fail;
    }
    st = fcl_tensor_fill(ctx, &net->grads, 0.0f);
    if (!st) st = fcl_net_init(net, fcl_rng_next(fcl_ctx_rng(ctx)));
    if (st) goto fail;
    *out = net;
    net = NULL;
fail:
    fcl_net_destroy(net);
    return st;
}

static void release_acts(fcl_net *net)
{
    for (int i = 0; i < net->model->n_layers; i++) {
        fcl_tensor_release(net->ctx, &net->act[i]);
        fcl_tensor_release(net->ctx, &net->dact[i]);
        fcl_tensor_release(net->ctx, &net->ls[i].idx);
        netx_release(net->ctx, &net->ls[i].ext);
    }
    fcl_tensor_release(net->ctx, &net->dinput);
}

void fcl_net_destroy(fcl_net *net)
{
    if (!net) return;
    if (net->act && net->dact && net->ls) release_acts(net);
    if (net->ls)
        for (int i = 0; i < net->model->n_layers; i++) {
            fcl_tensor_release(net->ctx, &net->ls[i].save_mean);
            fcl_tensor_release(net->ctx, &net->ls[i].save_invstd);
        }
    netf_destroy(net);
    fcl_tensor_release(net->ctx, &net->params);
    fcl_tensor_release(net->ctx, &net->grads);
    fcl_tensor_release(net->ctx, &net->buffers);
    free(net->entries);
    free(net->nbt);
    free(net->ls);
    free(net->act);
    free(net->dact);
    free(net->last_fwd_use);
    free(net->keep_for_bwd);
    free(net->last_bwd_use);
    free(net);
}

fcl_status fcl_net_init(fcl_net *net, uint64_t seed)
{
    fcl_status st = FCL_OK;
    fcl_rng rng;
    fcl_rng_seed(&rng, seed);
    netf_touch(net);
    float *hp = calloc(net->n_params + 1, sizeof(float)), *hb = calloc(net->n_buffers + 1, sizeof(float));
    if (!hp || !hb) {
        st = FCL_ERR(fcl_ctx_error(net->ctx), FCL_ERR_NOMEM, "out of host memory initialising %s", net->model->name);
        goto fail;
    }
    for (int e = 0; e < net->n_entries; e++) {
        const fcl_net_entry *en = &net->entries[e];
        const fcl_layer *L = &net->model->layers[en->layer];
        const fcl_param_info *pi = en->info;
        float *dst = en->where == 0 ? hp + en->offset : en->where == 1 ? hb + en->offset : NULL;
        size_t n = (size_t)pi->numel;
        if (en->where == 2) {
            net->nbt[e] = 0;
            continue;
        }
        switch (L->kind) {
        case FCL_LAYER_CONV:
            if (pi->kind == FCL_PARAM_WEIGHT) {
                /* kaiming_normal_(mode="fan_out", nonlinearity="relu"): std = sqrt(2 / fan_out) */
                double fan_out = (double)L->conv.cout * L->conv.kh * L->conv.kw / 1.0;
                double std = sqrt(2.0 / fan_out);
                for (size_t k = 0; k < n; k++) dst[k] = (float)(std * fcl_rng_normal(&rng));
            } else { /* bias 0; a standardised conv's gain its gain_init */
                for (size_t k = 0; k < n; k++) dst[k] = pi->kind == FCL_PARAM_GAIN ? L->conv.gain_init : 0.0f;
            }
            break;
        case FCL_LAYER_LINEAR: {
            double bound = 1.0 / sqrt((double)L->linear.in);
            for (size_t k = 0; k < n; k++) dst[k] = (float)(bound * (2.0 * fcl_rng_uniform(&rng) - 1.0));
            break;
        }
        case FCL_LAYER_BN:
            for (size_t k = 0; k < n; k++)
                dst[k] = pi->kind == FCL_PARAM_WEIGHT ? L->bn.weight_init : pi->kind == FCL_PARAM_RUNNING_VAR ? 1.0f : 0.0f;
            break;
        case FCL_LAYER_PRELU:
            for (size_t k = 0; k < n; k++) dst[k] = L->prelu.init;
            break;
        default:
            if (!netx_init(L, pi, dst, n))
                for (size_t k = 0; k < n; k++) dst[k] = 0.0f;
            break;
        }
    }
    if (net->n_params) st = fcl_tensor_upload(net->ctx, &net->params, hp, net->n_params);
    if (!st && net->n_buffers) st = fcl_tensor_upload(net->ctx, &net->buffers, hb, net->n_buffers);
fail:
    free(hp);
    free(hb);
    return st;
}

const fcl_model *fcl_net_model(const fcl_net *net) { return net->model; }
/* Writable: whoever asks may change them, so the folded inference weights are marked stale. */
fcl_tensor *fcl_net_params(fcl_net *net) { return netf_touch(net), &net->params; }
fcl_tensor *fcl_net_grads(fcl_net *net) { return &net->grads; }
fcl_tensor *fcl_net_buffers(fcl_net *net) { return netf_touch(net), &net->buffers; }
int fcl_net_freeze(const fcl_net *net) { return net->freeze; }
int fcl_net_entry_count(const fcl_net *net) { return net->n_entries; }
const fcl_net_entry *fcl_net_entry_at(const fcl_net *net, int i)
{
    return i >= 0 && i < net->n_entries ? &net->entries[i] : NULL;
}
fcl_status fcl_net_entry_view(fcl_net *net, int i, fcl_tensor *out) { return netf_touch(net), netp_view(net, i, out); }
int64_t fcl_net_num_batches(const fcl_net *net, int i) { return net->nbt[i]; }
void fcl_net_set_num_batches(fcl_net *net, int i, int64_t v) { net->nbt[i] = v; }
void fcl_net_want_input_grad(fcl_net *net, int on) { net->want_dinput = on; }
const fcl_tensor *fcl_net_input_grad(const fcl_net *net) { return net->dinput.buf ? &net->dinput : NULL; }
const fcl_tensor *fcl_net_output(const fcl_net *net) { return &net->act[net->model->output_layer]; }
const fcl_tensor *fcl_net_embedding(const fcl_net *net) { return &net->act[net->model->embedding_layer]; }

fcl_status fcl_net_set_freeze(fcl_net *net, int freeze)
{
    if (freeze < 0 || freeze > net->model->n_layers)
        return FCL_ERR(fcl_ctx_error(net->ctx), FCL_ERR_INVALID_ARG, "freeze %d is outside 0..%d layers", freeze,
                       net->model->n_layers);
    net->freeze = freeze;
    for (int e = 0; e < net->n_entries; e++) net->entries[e].frozen = net->entries[e].layer < freeze;
    plan(net);
    netf_replan(net);
    return FCL_OK;
}

fcl_status fcl_net_entry_get(fcl_net *net, int i, float *host)
{
    const fcl_net_entry *en = &net->entries[i];
    if (en->where == 2) {
        host[0] = (float)net->nbt[i];
        return FCL_OK;
    }
    fcl_tensor v;
    fcl_status st = netp_view(net, i, &v);
    return st ? st : fcl_tensor_download(net->ctx, &v, host, (size_t)en->info->numel);
}

fcl_status fcl_net_entry_set(fcl_net *net, int i, const float *host)
{
    const fcl_net_entry *en = &net->entries[i];
    if (en->where == 2) {
        net->nbt[i] = (int64_t)host[0];
        return FCL_OK;
    }
    fcl_tensor v;
    fcl_status st = netp_view(net, i, &v);
    netf_touch(net);
    return st ? st : fcl_tensor_upload(net->ctx, &v, host, (size_t)en->info->numel);
}

static fcl_status push_range(fcl_param_range **r, size_t *n, size_t *cap, size_t off, size_t cnt)
{
    if (*n && (*r)[*n - 1].offset + (*r)[*n - 1].count == off) { /* merge neighbours */
        (*r)[*n - 1].count += cnt;
        return FCL_OK;
    }
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 32;
        fcl_param_range *nr = realloc(*r, nc * sizeof *nr);
        if (!nr) return FCL_ERR_NOMEM;
        *r = nr;
        *cap = nc;
    }
    (*r)[*n].offset = off;
    (*r)[*n].count = cnt;
    (*n)++;
    return FCL_OK;
}

fcl_status fcl_net_param_ranges(const fcl_net *net, fcl_param_range **decay, size_t *n_decay,
                                fcl_param_range **no_decay, size_t *n_no_decay)
{
    size_t cd = 0, cn = 0;
    *decay = *no_decay = NULL;
    *n_decay = *n_no_decay = 0;
    for (int e = 0; e < net->n_entries; e++) {
        const fcl_net_entry *en = &net->entries[e];
        if (en->where != 0 || en->frozen || en->info->fixed) continue;
        fcl_status st = en->info->decay ? push_range(decay, n_decay, &cd, en->offset, (size_t)en->info->numel)
                                        : push_range(no_decay, n_no_decay, &cn, en->offset, (size_t)en->info->numel);
        if (st) {
            free(*decay);
            free(*no_decay);
            *decay = *no_decay = NULL;
            return FCL_ERR(fcl_ctx_error(net->ctx), FCL_ERR_NOMEM, "out of host memory");
        }
    }
    return FCL_OK;
}

/* ---- forward ---------------------------------------------------------------------------------- */

void netp_conv_params(const fcl_layer *L, int n, fcl_conv2d_params *p)
{
    memset(p, 0, sizeof *p);
    p->n = n;
    p->cin = L->conv.cin;
    p->h = L->in_h;
    p->w = L->in_w;
    p->cout = L->conv.cout;
    p->kh = L->conv.kh;
    p->kw = L->conv.kw;
    p->stride_h = L->conv.stride_h;
    p->stride_w = L->conv.stride_w;
    p->pad_h = L->conv.pad_h;
    p->pad_w = L->conv.pad_w;
    p->dil_h = L->conv.dil_h;
    p->dil_w = L->conv.dil_w;
    p->groups = L->conv.groups;
}

static fcl_status forward_layer(fcl_net *net, int i, int training)
{
    fcl_ctx *ctx = net->ctx;
    const fcl_layer *L = &net->model->layers[i];
    layer_state *s = &net->ls[i];
    fcl_tensor *y = &net->act[i];
    const fcl_tensor *x = netp_in(net, L->inputs[0]);
    fcl_tensor w = {0}, b = {0}, rm = {0}, rv = {0}, g = {0};
    fcl_status st = netp_alloc_act(net, y, L->out_c, L->out_h, L->out_w);
    if (st) return st;
    if (s->weight >= 0 && (st = netp_view(net, s->weight, &w))) return st;
    if (s->bias >= 0 && (st = netp_view(net, s->bias, &b))) return st;
    if (s->gain >= 0 && (st = netp_view(net, s->gain, &g))) return st;

    switch (L->kind) {
    case FCL_LAYER_CONV: {
        fcl_conv2d_params p;
        netp_conv_params(L, net->n, &p);
        if (L->conv.ws) return netx_wsconv_fwd(ctx, L, &p, y, x, &w, s->bias >= 0 ? &b : NULL, &g);
        return fcl_conv2d_fwd(ctx, y, x, &w, s->bias >= 0 ? &b : NULL, &p);
    }
    case FCL_LAYER_BN: {
        if ((st = netp_view(net, s->rmean, &rm)) || (st = netp_view(net, s->rvar, &rv))) return st;
        fcl_bn2d_params p = {0};
        p.training = training && i >= net->freeze;
        p.eps = L->bn.eps;
        p.momentum = L->bn.momentum;
        s->bn_training = p.training;
        if (p.training && s->nbt >= 0) net->nbt[s->nbt]++;
        if (p.training && net->hooks.bn_forward)
            return net->hooks.bn_forward(net->hooks.user, i, y, &s->save_mean, &s->save_invstd, &rm, &rv, x,
                                         s->weight >= 0 ? &w : NULL, s->bias >= 0 ? &b : NULL, &p);
        return fcl_bn2d_fwd(ctx, y, &s->save_mean, &s->save_invstd, &rm, &rv, x, s->weight >= 0 ? &w : NULL,
                            s->bias >= 0 ? &b : NULL, &p);
    }
    case FCL_LAYER_ACT: {
        fcl_act_params p = {L->act.kind, L->act.slope};
        return fcl_act_fwd(ctx, y, x, &p);
    }
    case FCL_LAYER_PRELU:
        return fcl_prelu_fwd(ctx, y, x, &w);
    case FCL_LAYER_MAXPOOL:
        if (training && i >= net->freeze) {
            st = fcl_tensor_alloc4(ctx, &s->idx, (size_t)net->n, (size_t)L->out_c, (size_t)L->out_h, (size_t)L->out_w);
            if (st) return st;
        }
        return fcl_maxpool2d_fwd(ctx, y, s->idx.buf ? &s->idx : NULL, x, &L->pool);
    case FCL_LAYER_AVGPOOL:
        return fcl_avgpool2d_fwd(ctx, y, x, &L->pool);
    case FCL_LAYER_GLOBAL_AVGPOOL:
        return fcl_global_avgpool_fwd(ctx, y, x);
    case FCL_LAYER_ADAPTIVE_AVGPOOL:
        return fcl_adaptive_avgpool2d_fwd(ctx, y, x);
    case FCL_LAYER_LINEAR:
        return fcl_linear_fwd(ctx, y, x, &w, s->bias >= 0 ? &b : NULL);
    case FCL_LAYER_ADD:
        st = fcl_add_fwd(ctx, y, x, netp_in(net, L->inputs[1]));
        for (int k = 2; !st && k < L->n_inputs; k++) st = fcl_add_acc(ctx, y, netp_in(net, L->inputs[k]));
        return st;
    case FCL_LAYER_CHANNEL_MUL:
        return fcl_chmul_fwd(ctx, y, x, netp_in(net, L->inputs[1]));
    case FCL_LAYER_CONCAT: {
        const fcl_tensor *xs[FCL_LAYER_MAX_INPUTS];
        for (int k = 0; k < L->n_inputs; k++) xs[k] = netp_in(net, L->inputs[k]);
        return fcl_concat_fwd(ctx, y, xs, L->n_inputs);
    }
    case FCL_LAYER_DROPOUT: {
        fcl_dropout_params p = {0};
        p.p = L->dropout.p;
        p.training = training;
        p.seed = s->dropout_seed = fcl_rng_next(fcl_ctx_rng(ctx));
        return fcl_dropout_fwd(ctx, y, x, &p);
    }
    case FCL_LAYER_FLATTEN:
        return fcl_tensor_copy(ctx, y, x); /* NCHW [C,H,W] -> [C*H*W,1,1] is the same memory order */
    default:
        if (netx_handles(L->kind)) {
            const fcl_tensor *xs[2] = {x, L->n_inputs > 1 ? netp_in(net, L->inputs[1]) : NULL};
            return netx_forward(ctx, L, net->n, training && i >= net->freeze, y, xs, s->weight >= 0 ? &w : NULL,
                                s->bias >= 0 ? &b : NULL, &s->ext);
        }
        return FCL_ERR(fcl_ctx_error(ctx), FCL_ERR_INTERNAL, "layer %d (%s): unknown kind %d", i, L->name, (int)L->kind);
    }
}

fcl_status fcl_net_forward(fcl_net *net, const fcl_tensor *x, int training)
{
    fcl_ctx *ctx = net->ctx;
    const fcl_model *m = net->model;
    size_t n = x->ndim ? x->shape[0] : 0;
    if (x->ndim != 4 || n < 1 || (int)n > net->max_batch || (int)x->shape[1] != m->channels ||
        (int)x->shape[2] != m->in_h || (int)x->shape[3] != m->in_w) {
        char s[96];
        fcl_tensor_shape_str(x, s, sizeof s);
        return FCL_ERR(fcl_ctx_error(ctx), FCL_ERR_SHAPE, "%s forward: input %s does not match [1..%d, %d, %d, %d]", m->name, s,
                       net->max_batch, m->channels, m->in_h, m->in_w);
    }
    release_acts(net);
    net->n = (int)n;
    net->input_view = *x;
    net->input_view.owned = 0;
    net->trained = training;
    if (training) netf_touch(net); /* running statistics move */
    for (int i = 0; i < m->n_layers; i++) {
        int fused = 0;
        fcl_status st = netf_forward(net, i, training, &fused);
        if (!st && !fused) st = forward_layer(net, i, training);
        if (st) {
            fcl_error_prefix(fcl_ctx_error(ctx), "%s layer %d '%s' (%s, model line %d): ", m->name, i, m->layers[i].name,
                             fcl_layer_kind_name(m->layers[i].kind), m->layers[i].line);
            return st;
        }
        /* Release inputs that nothing later reads (forward or, when training, backward). */
        const fcl_layer *L = &m->layers[i];
        for (int k = 0; k < L->n_inputs; k++) {
            int j = L->inputs[k];
            if (j < 0 || net->last_fwd_use[j] != i) continue;
            if (j == m->output_layer || j == m->embedding_layer) continue;
            if (training && net->keep_for_bwd[j]) continue;
            fcl_tensor_release(ctx, &net->act[j]);
        }
    }
    return FCL_OK;
}

/* ---- backward --------------------------------------------------------------------------------- */

static fcl_status backward_layer(fcl_net *net, int i)
{
    fcl_ctx *ctx = net->ctx;
    const fcl_layer *L = &net->model->layers[i];
    layer_state *s = &net->ls[i];
    const fcl_tensor *dy = &net->dact[i];
    const fcl_tensor *x = netp_in(net, L->inputs[0]);
    fcl_tensor *dx = NULL, w = {0}, b = {0}, dw = {0}, db = {0}, g = {0}, dg = {0};
    /* layers that write all of dx may be its first writer (no zeroing); the others accumulate */
    int first = 0, writes_dx = (L->kind == FCL_LAYER_BN && !(s->bn_training && net->hooks.bn_backward)) ||
                               L->kind == FCL_LAYER_ADD || L->kind == FCL_LAYER_FLATTEN;
    fcl_status st = writes_dx ? netp_din_first(net, L->inputs[0], &dx, &first) : netp_din(net, L->inputs[0], &dx);
    if (st) return st;
    if (s->weight >= 0 && ((st = netp_view(net, s->weight, &w)) || (st = netp_grad(net, s->weight, &dw)))) return st;
    if (s->bias >= 0 && ((st = netp_view(net, s->bias, &b)) || (st = netp_grad(net, s->bias, &db)))) return st;
    if (s->gain >= 0 && ((st = netp_view(net, s->gain, &g)) || (st = netp_grad(net, s->gain, &dg)))) return st;

    switch (L->kind) {
    case FCL_LAYER_CONV: {
        fcl_conv2d_params p;
        netp_conv_params(L, net->n, &p);
        if (L->conv.ws) return netx_wsconv_bwd(ctx, L, &p, dx, &dw, s->bias >= 0 ? &db : NULL, &dg, dy, x, &w, &g);
        return fcl_conv2d_bwd(ctx, dx, &dw, s->bias >= 0 ? &db : NULL, dy, x, &w, &p);
    }
    case FCL_LAYER_BN: {
        fcl_bn2d_params p = {0};
        p.training = s->bn_training;
        p.eps = L->bn.eps;
        p.momentum = L->bn.momentum;
        int dgamma = s->weight >= 0 && !net->entries[s->weight].info->fixed; /* fixed: stays 0 */
        if (p.training && net->hooks.bn_backward)
            return net->hooks.bn_backward(net->hooks.user, i, dx, dgamma ? &dw : NULL, s->bias >= 0 ? &db : NULL, dy, x,
                                          s->weight >= 0 ? &w : NULL, &s->save_mean, &s->save_invstd, &p);
        return fcl_bn2d_act_bwd_set(ctx, dx, dgamma ? &dw : NULL, s->bias >= 0 ? &db : NULL, NULL, dy, NULL, x,
                                    s->weight >= 0 ? &w : NULL, NULL, &s->save_mean, &s->save_invstd, &p,
                                    FCL_BN_ACT_NONE, 0, first ? FCL_BN_SET_DX : 0);
    }
    case FCL_LAYER_ACT: {
        if (!dx) return FCL_OK;
        fcl_act_params p = {L->act.kind, L->act.slope};
        return fcl_act_bwd(ctx, dx, dy, fcl_act_saves_output(L->act.kind) ? &net->act[i] : x, &p);
    }
    case FCL_LAYER_PRELU:
        return fcl_prelu_bwd(ctx, dx, &dw, dy, x, &w);
    case FCL_LAYER_MAXPOOL:
        return dx ? fcl_maxpool2d_bwd(ctx, dx, dy, &s->idx, &L->pool) : FCL_OK;
    case FCL_LAYER_AVGPOOL:
        return dx ? fcl_avgpool2d_bwd(ctx, dx, dy, &L->pool) : FCL_OK;
    case FCL_LAYER_GLOBAL_AVGPOOL:
        return dx ? fcl_global_avgpool_bwd(ctx, dx, dy) : FCL_OK;
    case FCL_LAYER_ADAPTIVE_AVGPOOL:
        return dx ? fcl_adaptive_avgpool2d_bwd(ctx, dx, dy) : FCL_OK;
    case FCL_LAYER_LINEAR:
        return fcl_linear_bwd(ctx, dx, &dw, s->bias >= 0 ? &db : NULL, dy, x, &w);
    case FCL_LAYER_ADD:
        if (dx && (st = put_or_acc(ctx, dx, dy, first))) return st;
        for (int k = 1; k < L->n_inputs; k++) {
            fcl_tensor *dk = NULL;
            if ((st = netp_din_first(net, L->inputs[k], &dk, &first))) return st;
            if (dk && (st = put_or_acc(ctx, dk, dy, first))) return st;
        }
        return FCL_OK;
    case FCL_LAYER_CHANNEL_MUL: {
        fcl_tensor *ds = NULL;
        if ((st = netp_din(net, L->inputs[1], &ds))) return st;
        if (!dx && !ds) return FCL_OK;
        return fcl_chmul_bwd(ctx, dx, ds, dy, x, netp_in(net, L->inputs[1]));
    }
    case FCL_LAYER_CONCAT: {
        fcl_tensor *dxs[FCL_LAYER_MAX_INPUTS];
        size_t ch[FCL_LAYER_MAX_INPUTS];
        int any = 0;
        for (int k = 0; k < L->n_inputs; k++) {
            int j = L->inputs[k];
            ch[k] = (size_t)(j < 0 ? net->model->channels : net->model->layers[j].out_c);
            if ((st = netp_din(net, j, &dxs[k]))) return st;
            any |= dxs[k] != NULL;
        }
        return any ? fcl_concat_bwd(ctx, dxs, ch, L->n_inputs, dy) : FCL_OK;
    }
    case FCL_LAYER_DROPOUT: {
        if (!dx) return FCL_OK;
        fcl_dropout_params p = {0};
        p.p = L->dropout.p;
        p.training = 1;
        p.seed = s->dropout_seed;
        return fcl_dropout_bwd(ctx, dx, dy, &p);
    }
    case FCL_LAYER_FLATTEN:
        return dx ? put_or_acc(ctx, dx, dy, first) : FCL_OK;
    default:
        if (netx_handles(L->kind)) {
            const fcl_tensor *xs[2] = {x, L->n_inputs > 1 ? netp_in(net, L->inputs[1]) : NULL};
            fcl_tensor *dxs[2] = {dx, NULL};
            if (L->n_inputs > 1 && (st = netp_din(net, L->inputs[1], &dxs[1]))) return st;
            return netx_backward(ctx, L, dy, &net->act[i], xs, dxs, s->weight >= 0 ? &w : NULL,
                                 s->weight >= 0 ? &dw : NULL, s->bias >= 0 ? &db : NULL, &s->ext);
        }
        return FCL_ERR(fcl_ctx_error(ctx), FCL_ERR_INTERNAL, "layer %d (%s): unknown kind %d", i, L->name, (int)L->kind);
    }
}

static fcl_status seed_grad(fcl_net *net, int layer, const fcl_tensor *g, const char *what)
{
    if (!g) return FCL_OK;
    fcl_tensor *d = NULL;
    int first = 0;
    if (fcl_tensor_numel(g) != fcl_tensor_numel(&net->act[layer]))
        return FCL_ERR(fcl_ctx_error(net->ctx), FCL_ERR_SHAPE, "%s backward: %s has %zu elements, expected %zu", net->model->name,
                       what, fcl_tensor_numel(g), fcl_tensor_numel(&net->act[layer]));
    fcl_status st = netp_din_first(net, layer, &d, &first);
    if (st || !d) return st;
    return put_or_acc(net->ctx, d, g, first);
}

fcl_status fcl_net_backward(fcl_net *net, const fcl_tensor *d_output, const fcl_tensor *d_embedding)
{
    fcl_ctx *ctx = net->ctx;
    const fcl_model *m = net->model;
    if (!net->trained)
        return FCL_ERR(fcl_ctx_error(ctx), FCL_ERR_INVALID_ARG, "%s backward: the last forward was not a training forward", m->name);
    fcl_status st = seed_grad(net, m->output_layer, d_output, "d_output");
    if (!st) st = seed_grad(net, m->embedding_layer, d_embedding, "d_embedding");
    if (st) return st;
    for (int i = m->n_layers - 1; i >= net->freeze; i--) {
        if (net->dact[i].buf) {
            int fused = 0;
            st = netf_backward(net, i, &fused);
            if (!st && !fused) st = backward_layer(net, i);
            if (st) {
                fcl_error_prefix(fcl_ctx_error(ctx), "%s backward layer %d '%s' (%s, model line %d): ", m->name, i,
                                 m->layers[i].name, fcl_layer_kind_name(m->layers[i].kind), m->layers[i].line);
                return st;
            }
            fcl_tensor_release(ctx, &net->dact[i]);
        }
        fcl_tensor_release(ctx, &net->ls[i].idx);
        netx_release(ctx, &net->ls[i].ext);
        if (net->hooks.after_backward && (st = net->hooks.after_backward(net->hooks.user, i))) return st;
        /* Saved outputs whose last backward reader was this layer are done. */
        const fcl_layer *L = &m->layers[i];
        for (int k = 0; k < L->n_inputs; k++) {
            int j = L->inputs[k];
            if (j >= 0 && net->last_bwd_use[j] == i && j != m->output_layer && j != m->embedding_layer)
                fcl_tensor_release(ctx, &net->act[j]);
        }
        if (net->last_bwd_use[i] == i && i != m->output_layer && i != m->embedding_layer)
            fcl_tensor_release(ctx, &net->act[i]); /* an activation that saved its own output */
    }
    net->trained = 0; /* one backward per training forward */
    return FCL_OK;
}
