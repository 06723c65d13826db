/* host/nn/net_fuse.c: fused and folded layer groups (conv+BN folding for inference, BN+[add+]ReLU/ReLU6 in one pass) for net.c. */
#include <stdlib.h>
#include <string.h>

#include "nn/net_fuse.h"
#include "nn/net_internal.h"
#include "nn/net_plan.h"
#include "ops/conv_prep.h"
#include "ops/bn_internal.h"

enum { ROLE_NONE = 0, ROLE_HEAD, ROLE_MEMBER };

/* One group: layer indices (-1 absent); it runs at its first layer, writes act[last]. */
typedef struct netf_group {
    int conv;            /* inference: the conv / linear the BN is folded into */
    int bn, add, relu;   /* relu: the ReLU or ReLU6 layer */
    fcl_bn_act act;      /* relu's kind (NONE when relu < 0) */
    int res;             /* the add's other input (-1: the network input) */
    int last;
    fcl_tensor w, b;     /* the folded weight and bias (allocated on first use) */
    uint64_t folded;     /* plan version they were folded at; 0: never */
    fcl_conv_prep prep;  /* the folded conv's prepared weights (version: folded) */
} netf_group;

/* The groups of one kind of forward: per layer its role and group. */
typedef struct netf_mode {
    int *role, *group;
    netf_group *g;
    int n;
} netf_mode;

struct netf_plan {
    int on;
    uint64_t version;    /* bumped whenever parameters or running statistics may change */
    int used_train;      /* the last forward ran the training groups (its backward must too) */
    int *readers, *reader; /* per layer: how many reads of its output (+1 network output /
                              embedding), and the reader when there is one */
    netf_mode m[2];      /* 0: inference, 1: training */
};

/* The fused kind of an activation layer the BN kernels can apply: ReLU or ReLU6, else NONE. */
static fcl_bn_act act_of(const fcl_layer *L)
{
    if (L->kind != FCL_LAYER_ACT) return FCL_BN_ACT_NONE;
    return L->act.kind == FCL_ACT_RELU ? FCL_BN_ACT_RELU : L->act.kind == FCL_ACT_RELU6 ? FCL_BN_ACT_RELU6 : FCL_BN_ACT_NONE;
}

/* The single reader of layer j's output, or -1. */
static int only_reader(const netf_plan *f, int j) { return j >= 0 && f->readers[j] == 1 ? f->reader[j] : -1; }

static void add_group(netf_mode *m, netf_group g)
{
    int members[4] = {g.conv, g.bn, g.add, g.relu}, first = -1;
    for (int k = 0; k < 4; k++)
        if (members[k] >= 0 && (first < 0 || members[k] < first)) first = members[k];
    g.last = g.relu >= 0 ? g.relu : g.add >= 0 ? g.add : g.bn;
    for (int k = 0; k < 4; k++)
        if (members[k] >= 0) {
            m->role[members[k]] = members[k] == first ? ROLE_HEAD : ROLE_MEMBER;
            m->group[members[k]] = m->n;
        }
    m->g[m->n++] = g;
}

/* BN j -> ReLU / ReLU6, or BN j -> add(j, r) [-> ReLU / ReLU6] with r computed before layer
 * `head` (where the group runs: j, or the conv folded into j); 1 when found. The add's output may
 * have other readers when no activation follows it (the group writes it like the add would). */
static int bn_relu_group(const fcl_net *net, const netf_plan *f, const netf_mode *m, int j, int head, netf_group *g)
{
    const fcl_model *md = net->model;
    int k = only_reader(f, j);
    *g = (netf_group){.conv = -1, .bn = j, .add = -1, .relu = -1, .act = FCL_BN_ACT_NONE, .res = -1};
    if (k < 0 || m->role[k] != ROLE_NONE) return 0;
    const fcl_layer *K = &md->layers[k];
    if (act_of(K) != FCL_BN_ACT_NONE) {
        g->relu = k, g->act = act_of(K);
        return 1;
    }
    if (K->kind != FCL_LAYER_ADD || K->n_inputs != 2) return 0;
    int r = K->inputs[0] == j ? K->inputs[1] : K->inputs[0], q = only_reader(f, k);
    if (r == j || r >= head) return 0;
    g->add = k, g->res = r;
    if (q >= 0 && m->role[q] == ROLE_NONE && act_of(&md->layers[q]) != FCL_BN_ACT_NONE)
        g->relu = q, g->act = act_of(&md->layers[q]);
    return 1;
}

/* The backward of a training group with an add and an activation reads the group's output y for
 * the activation's mask (without an add it recomputes the mask from the BN's input), where the
 * unfused ReLU6 layer reads its input: keep y for the backward until the group's backward (the
 * last layer's index) has run. */
static void keep_group_outputs(fcl_net *net, const netf_mode *m)
{
    for (int k = 0; k < m->n; k++) {
        int i = m->g[k].last;
        if (m->g[k].act == FCL_BN_ACT_NONE || m->g[k].add < 0) continue;
        net->keep_for_bwd[i] = 1;
        if (i < net->last_bwd_use[i]) net->last_bwd_use[i] = i;
    }
}

static void plan_mode(fcl_net *net, netf_plan *f, int training)
{
    const fcl_model *md = net->model;
    netf_mode *m = &f->m[training];
    m->n = 0;
    memset(m->role, 0, (size_t)md->n_layers * sizeof *m->role);
    if (training) /* the unfused liveness, adjusted below for the groups found */
        fcl_net_liveness(md, net->freeze, net->last_fwd_use, net->keep_for_bwd, net->last_bwd_use);
    if (!f->on) return;
    for (int j = 0; j < md->n_layers; j++) {
        const fcl_layer *L = &md->layers[j];
        netf_group g;
        if (L->kind != FCL_LAYER_BN || m->role[j] != ROLE_NONE || net->ls[j].rmean < 0) continue;
        if (training) {
            if (j >= net->freeze && bn_relu_group(net, f, m, j, j, &g)) add_group(m, g);
            continue;
        }
        int i = L->inputs[0];
        const fcl_layer *C = i >= 0 ? &md->layers[i] : NULL;
        if (C && only_reader(f, i) == j && m->role[i] == ROLE_NONE &&
            ((C->kind == FCL_LAYER_CONV && !C->conv.ws) || C->kind == FCL_LAYER_LINEAR)) {
            if (!bn_relu_group(net, f, m, j, i, &g)) /* the fold alone */
                g = (netf_group){.conv = -1, .bn = j, .add = -1, .relu = -1, .act = FCL_BN_ACT_NONE, .res = -1};
            g.conv = i;
            add_group(m, g);
        } else if (bn_relu_group(net, f, m, j, j, &g)) {
            add_group(m, g);
        }
    }
    if (training) keep_group_outputs(net, m);
}

static void release_folds(fcl_net *net, netf_plan *f)
{
    for (int k = 0; k < f->m[0].n; k++) {
        fcl_tensor_release(net->ctx, &f->m[0].g[k].w);
        fcl_tensor_release(net->ctx, &f->m[0].g[k].b);
        fcl_conv_prep_release(net->ctx, &f->m[0].g[k].prep);
    }
}

fcl_status netf_create(fcl_net *net)
{
    const fcl_model *md = net->model;
    size_t nl = (size_t)md->n_layers + 1;
    netf_plan *f = calloc(1, sizeof *f);
    if (!f) return FCL_ERR(fcl_ctx_error(net->ctx), FCL_ERR_NOMEM, "out of host memory");
    net->fuse = f;
    int ok = (f->readers = calloc(nl, sizeof(int))) && (f->reader = calloc(nl, sizeof(int)));
    for (int t = 0; t < 2; t++)
        ok = ok && (f->m[t].role = calloc(nl, sizeof(int))) && (f->m[t].group = calloc(nl, sizeof(int))) &&
             (f->m[t].g = calloc(nl, sizeof(netf_group)));
    if (!ok) return FCL_ERR(fcl_ctx_error(net->ctx), FCL_ERR_NOMEM, "out of host memory planning %s", md->name);
    for (int i = 0; i < md->n_layers; i++)
        for (int k = 0; k < md->layers[i].n_inputs; k++) {
            int j = md->layers[i].inputs[k];
            if (j >= 0) f->readers[j]++, f->reader[j] = i;
        }
    f->readers[md->output_layer]++, f->reader[md->output_layer] = -1; /* read from outside */
    f->readers[md->embedding_layer]++, f->reader[md->embedding_layer] = -1;
    f->version = 1;
    const char *no = getenv("FACECL_NO_FUSE");
    fcl_net_set_fusion(net, !(no && *no && strcmp(no, "0") != 0));
    return FCL_OK;
}

void netf_destroy(fcl_net *net)
{
    netf_plan *f = net->fuse;
    if (!f) return;
    if (f->m[0].g) release_folds(net, f);
    for (int t = 0; t < 2; t++) free(f->m[t].role), free(f->m[t].group), free(f->m[t].g);
    free(f->readers), free(f->reader), free(f);
    net->fuse = NULL;
}

void fcl_net_set_fusion(fcl_net *net, int on)
{
    netf_plan *f = net->fuse;
    if (!f) return;
    release_folds(net, f);
    f->on = on != 0;
    plan_mode(net, f, 0);
    plan_mode(net, f, 1);
}

int netf_count(const fcl_net *net, int training) { return net->fuse ? net->fuse->m[training ? 1 : 0].n : 0; }

int netf_count_adds(const fcl_net *net, int training)
{
    int n = 0;
    for (int k = 0; k < netf_count(net, training); k++) n += net->fuse->m[training ? 1 : 0].g[k].add >= 0;
    return n;
}

void netf_replan(fcl_net *net)
{
    if (net->fuse) plan_mode(net, net->fuse, 1);
}

void netf_touch(fcl_net *net)
{
    if (net->fuse) net->fuse->version++;
}

/* BN layer j's parameters and mode for this forward. */
typedef struct bn_views {
    fcl_tensor w, b, rm, rv;
    int has_w, has_b;
} bn_views;

static fcl_status view_bn(fcl_net *net, int j, bn_views *v)
{
    const layer_state *s = &net->ls[j];
    fcl_status st;
    memset(v, 0, sizeof *v);
    v->has_w = s->weight >= 0, v->has_b = s->bias >= 0;
    if ((v->has_w && (st = netp_view(net, s->weight, &v->w))) || (v->has_b && (st = netp_view(net, s->bias, &v->b))) ||
        (st = netp_view(net, s->rmean, &v->rm)) || (st = netp_view(net, s->rvar, &v->rv)))
        return st;
    return FCL_OK;
}

/* The folded copy of conv/linear g->conv and BN g->bn, refolded when stale. */
static fcl_status refold(fcl_net *net, netf_group *g)
{
    netf_plan *f = net->fuse;
    const layer_state *cs = &net->ls[g->conv];
    const fcl_layer *B = &net->model->layers[g->bn];
    fcl_tensor w, b;
    bn_views v;
    fcl_status st;
    if (g->folded == f->version) return FCL_OK;
    if ((st = netp_view(net, cs->weight, &w)) || (cs->bias >= 0 && (st = netp_view(net, cs->bias, &b))) ||
        (st = view_bn(net, g->bn, &v)))
        return st;
    if (!g->w.buf) {
        size_t cout = w.shape[0];
        if ((st = fcl_tensor_alloc(net->ctx, &g->w, w.ndim, w.shape, FCL_F32)) ||
            (st = fcl_tensor_alloc(net->ctx, &g->b, 1, &cout, FCL_F32)))
            return st;
    }
    st = fcl_bn2d_fold(net->ctx, &g->w, &g->b, &w, cs->bias >= 0 ? &b : NULL, v.has_w ? &v.w : NULL,
                       v.has_b ? &v.b : NULL, &v.rm, &v.rv, B->bn.eps);
    if (!st) g->folded = f->version;
    return st;
}

static fcl_status run_group(fcl_net *net, netf_group *g, int training)
{
    fcl_ctx *ctx = net->ctx;
    const fcl_model *md = net->model;
    const fcl_layer *B = &md->layers[g->bn], *Z = &md->layers[g->last];
    fcl_tensor *y = &net->act[g->last];
    fcl_status st = netp_alloc_act(net, y, Z->out_c, Z->out_h, Z->out_w);
    if (st) return st;
    if (g->conv >= 0) { /* inference: the folded conv / linear, then [the add and] the activation in place */
        const fcl_layer *C = &md->layers[g->conv];
        const fcl_tensor *x = netp_in(net, C->inputs[0]);
        if ((st = refold(net, g))) return st;
        if (C->kind == FCL_LAYER_CONV) {
            /* the conv adds the residual and applies the activation (ops_conv.h out_act, conv_prep.h) */
            fcl_conv2d_params p;
            netp_conv_params(C, net->n, &p);
            if (g->relu >= 0) p.out_act = g->act == FCL_BN_ACT_RELU6 ? FCL_CONV_ACT_RELU6 : FCL_CONV_ACT_RELU;
            g->prep.version = g->folded; /* the transformed weights follow the fold */
            return fcl_conv2d_fwd_res(ctx, y, x, &g->w, &g->b, g->add >= 0 ? netp_in(net, g->res) : NULL, &p,
                                      &g->prep);
        } else {
            st = fcl_linear_fwd(ctx, y, x, &g->w, &g->b);
        }
        if (st || (g->relu < 0 && g->add < 0)) return st;
        const fcl_tensor *r = g->add >= 0 ? netp_in(net, g->res) : NULL;
        if (g->relu < 0) return fcl_add_fwd(ctx, y, y, r);
        fcl_act_params act = {md->layers[g->relu].act.kind, 0.0f};
        return r ? fcl_act_add_fwd(ctx, y, y, r, &act) : fcl_act_fwd(ctx, y, y, &act);
    }
    layer_state *s = &net->ls[g->bn];
    bn_views v;
    if ((st = view_bn(net, g->bn, &v))) return st;
    fcl_bn2d_params p = {training, B->bn.eps, B->bn.momentum};
    s->bn_training = training;
    if (training && s->nbt >= 0) net->nbt[s->nbt]++;
    return fcl_bn2d_act_fwd_wg(ctx, y, &s->save_mean, &s->save_invstd, &v.rm, &v.rv, netp_in(net, B->inputs[0]),
                               g->add >= 0 ? netp_in(net, g->res) : NULL, v.has_w ? &v.w : NULL,
                               v.has_b ? &v.b : NULL, &p, g->act, 0);
}

fcl_status netf_forward(fcl_net *net, int i, int training, int *done)
{
    netf_plan *f = net->fuse;
    *done = 0;
    if (i == 0 && f) f->used_train = training && !net->hooks.bn_forward && !net->hooks.bn_backward;
    if (!f || (training && !f->used_train)) return FCL_OK;
    netf_mode *m = &f->m[training ? 1 : 0];
    if (m->role[i] == ROLE_NONE) return FCL_OK;
    *done = 1;
    return m->role[i] == ROLE_HEAD ? run_group(net, &m->g[m->group[i]], training) : FCL_OK;
}

fcl_status netf_backward(fcl_net *net, int i, int *done)
{
    netf_plan *f = net->fuse;
    *done = 0;
    if (!f || !f->used_train || f->m[1].role[i] == ROLE_NONE) return FCL_OK;
    netf_group *g = &f->m[1].g[f->m[1].group[i]];
    if (g->last != i) return FCL_OK;
    *done = 1;
    const fcl_layer *B = &net->model->layers[g->bn];
    layer_state *s = &net->ls[g->bn];
    fcl_tensor *dx = NULL, *dr = NULL, w = {0}, b = {0}, dw = {0}, db = {0};
    int first_x = 0, first_r = 0; /* the first contribution to a gradient overwrites it (no zeroing) */
    fcl_status st;
    if ((st = netp_din_first(net, B->inputs[0], &dx, &first_x)) ||
        (g->add >= 0 && (st = netp_din_first(net, g->res, &dr, &first_r))) ||
        (s->weight >= 0 && ((st = netp_view(net, s->weight, &w)) || (st = netp_grad(net, s->weight, &dw)))) ||
        (s->bias >= 0 && ((st = netp_view(net, s->bias, &b)) || (st = netp_grad(net, s->bias, &db)))))
        return st;
    int dgamma = s->weight >= 0 && !net->entries[s->weight].info->fixed; /* fixed: stays 0 */
    fcl_bn2d_params p = {s->bn_training, B->bn.eps, B->bn.momentum};
    return fcl_bn2d_act_bwd_set(net->ctx, dx, dgamma ? &dw : NULL, s->bias >= 0 ? &db : NULL, dr, &net->dact[i],
                                g->add >= 0 && g->act != FCL_BN_ACT_NONE ? &net->act[i] : NULL,
                                netp_in(net, B->inputs[0]), s->weight >= 0 ? &w : NULL, s->bias >= 0 ? &b : NULL,
                                &s->save_mean, &s->save_invstd, &p, g->act, 0,
                                (first_x ? FCL_BN_SET_DX : 0) | (first_r ? FCL_BN_SET_DRES : 0));
}
