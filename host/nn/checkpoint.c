/* host/nn/checkpoint.c: a network, its optimizer, schedule, progress and RNG to and from safetensors. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "facecl/checkpoint.h"
#include "nn/train_guard.h"

#define FORMAT_TAG "facecl-checkpoint-1"

static const char *optim_name(const fcl_optim *o)
{
    if (!o) return "none";
    return fcl_optim_kind_of(o) == FCL_OPTIM_ADAMW ? "adamw" : "sgd";
}

/* Copies the error of a non-context call (safetensors) into the context. */
static fcl_status take(fcl_ctx *ctx, fcl_status st, const fcl_error *e)
{
    if (st) *fcl_ctx_error(ctx) = *e;
    return st;
}

static fcl_status add_state_dict(fcl_ctx *ctx, fcl_net *net, fcl_checkpoint *c)
{
    fcl_status st = FCL_OK;
    fcl_error e = {0};
    float *buf = NULL;
    size_t cap = 0;
    for (int i = 0; i < fcl_net_entry_count(net) && !st; i++) {
        const fcl_net_entry *en = fcl_net_entry_at(net, i);
        const fcl_param_info *pi = en->info;
        uint64_t shape[4];
        for (int d = 0; d < pi->ndim; d++) shape[d] = (uint64_t)pi->shape[d];
        if (pi->is_int64) {
            int64_t v = fcl_net_num_batches(net, i);
            st = take(ctx, fcl_ckpt_add(c, pi->name, FCL_ST_I64, 0, shape, &v, &e), &e);
            continue;
        }
        if ((size_t)pi->numel > cap) {
            free(buf);
            cap = (size_t)pi->numel;
            buf = malloc(cap * sizeof *buf);
            if (!buf) return FCL_ERR(fcl_ctx_error(ctx), FCL_ERR_NOMEM, "out of host memory saving %s", pi->name);
        }
        st = fcl_net_entry_get(net, i, buf);
        if (!st) st = take(ctx, fcl_ckpt_add(c, pi->name, FCL_ST_F32, pi->ndim, shape, buf, &e), &e);
    }
    free(buf);
    return st;
}

static fcl_status add_optim(fcl_ctx *ctx, fcl_optim *opt, fcl_checkpoint *c, const char *prefix)
{
    fcl_error e = {0};
    fcl_status st = FCL_OK;
    size_t n = fcl_optim_numel(opt);
    float *buf = malloc((n ? n : 1) * sizeof *buf);
    int64_t *sc = malloc((fcl_optim_scalar_count(opt) + 1) * sizeof *sc);
    if (!buf || !sc) {
        st = FCL_ERR(fcl_ctx_error(ctx), FCL_ERR_NOMEM, "out of host memory saving the optimizer");
        goto fail;
    }
    for (size_t i = 0; i < fcl_optim_state_count(opt) && !st; i++) {
        const char *name = NULL;
        fcl_tensor *t = fcl_optim_state(opt, i, &name);
        char key[300];
        snprintf(key, sizeof key, "%soptim.%s", prefix, name);
        st = fcl_tensor_download(ctx, t, buf, n);
        size_t shape[1] = {n};
        if (!st) st = take(ctx, fcl_ckpt_add_f32(c, key, 1, shape, buf, &e), &e);
    }
    if (st) goto fail;
    fcl_optim_get_scalars(opt, sc);
    uint64_t ns[1] = {fcl_optim_scalar_count(opt)};
    char skey[300];
    snprintf(skey, sizeof skey, "%soptim.scalars", prefix);
    st = take(ctx, fcl_ckpt_add(c, skey, FCL_ST_I64, 1, ns, sc, &e), &e);
fail:
    free(buf);
    free(sc);
    return st;
}

static fcl_status add_aux(fcl_ctx *ctx, const fcl_ckpt_aux *a, fcl_checkpoint *c)
{
    fcl_error e = {0};
    size_t n = fcl_tensor_numel(a->tensor);
    float *buf = malloc((n ? n : 1) * sizeof *buf);
    if (!buf) return FCL_ERR(fcl_ctx_error(ctx), FCL_ERR_NOMEM, "out of host memory saving %s", a->name);
    fcl_status st = fcl_tensor_download(ctx, a->tensor, buf, n);
    if (!st) st = take(ctx, fcl_ckpt_add_f32(c, a->name, a->tensor->ndim, a->tensor->shape, buf, &e), &e);
    free(buf);
    if (!st && a->opt) {
        char prefix[300];
        snprintf(prefix, sizeof prefix, "%s.", a->name);
        st = add_optim(ctx, a->opt, c, prefix);
    }
    return st;
}

fcl_status fcl_checkpoint_save(fcl_ctx *ctx, fcl_net *net, fcl_optim *opt, const fcl_sched *sched,
                               const fcl_train_progress *prog, const fcl_kv *extra, size_t n_extra,
                               const char *path)
{
    return fcl_checkpoint_save_ex(ctx, net, opt, sched, prog, extra, n_extra, NULL, 0, path);
}

fcl_status fcl_checkpoint_save_ex(fcl_ctx *ctx, fcl_net *net, fcl_optim *opt, const fcl_sched *sched,
                                  const fcl_train_progress *prog, const fcl_kv *extra, size_t n_extra,
                                  const fcl_ckpt_aux *aux, size_t n_aux, const char *path)
{
    fcl_status st = FCL_OK;
    fcl_error e = {0};
    fcl_checkpoint c;
    double *ss = NULL;
    fcl_ckpt_init(&c);
    const fcl_model *m = fcl_net_model(net);

    st = add_state_dict(ctx, net, &c);
    if (!st && opt) st = add_optim(ctx, opt, &c, "");
    for (size_t i = 0; i < n_aux && !st; i++) st = add_aux(ctx, &aux[i], &c);
    if (!st && sched) {
        size_t n = fcl_sched_state_size(sched);
        ss = malloc((n + 1) * sizeof *ss);
        if (!ss) {
            st = FCL_ERR(fcl_ctx_error(ctx), FCL_ERR_NOMEM, "out of host memory");
            goto fail;
        }
        fcl_sched_get_state(sched, ss);
        uint64_t shape[1] = {n};
        st = take(ctx, fcl_ckpt_add(&c, "sched.state", FCL_ST_F64, 1, shape, ss, &e), &e);
    }
    if (!st) {
        uint64_t shape[1] = {32};
        st = take(ctx, fcl_ckpt_add(&c, "rng.state", FCL_ST_U8, 1, shape, fcl_ctx_rng(ctx)->s, &e), &e);
    }
    if (st) goto fail;

    char opts[512], num[64];
    snprintf(opts, sizeof opts, "channels=%d size_h=%d size_w=%d classes=%d embedding=%d width=%.17g stem=%s",
             m->channels, m->in_h, m->in_w, m->classes, m->embedding, m->width, m->stem);
    const char *keys[] = {"format", "model", "model_text", "model_options", "optim"};
    const char *vals[] = {FORMAT_TAG, m->name, m->text ? m->text : "", opts, optim_name(opt)};
    for (size_t i = 0; i < 5 && !st; i++) st = take(ctx, fcl_ckpt_set_meta(&c, keys[i], vals[i], &e), &e);
    if (!st && prog) {
        snprintf(num, sizeof num, "%" PRId64, prog->epoch);
        st = take(ctx, fcl_ckpt_set_meta(&c, "epoch", num, &e), &e);
        snprintf(num, sizeof num, "%" PRId64, prog->step);
        if (!st) st = take(ctx, fcl_ckpt_set_meta(&c, "step", num, &e), &e);
    }
    for (size_t i = 0; i < n_extra && !st; i++) st = take(ctx, fcl_ckpt_set_meta(&c, extra[i].key, extra[i].value, &e), &e);
    if (!st && n_aux) { /* so that a weights-only load (eval, embed, verify) knows these are not the model's */
        char names[1024] = "";
        for (size_t i = 0; i < n_aux; i++) {
            size_t l = strlen(names);
            snprintf(names + l, sizeof names - l, "%s%s", i ? "," : "", aux[i].name);
        }
        st = take(ctx, fcl_ckpt_set_meta(&c, "aux", names, &e), &e);
    }
    if (!st) st = take(ctx, fcl_st_save(&c, path, &e), &e);
fail:
    free(ss);
    fcl_ckpt_free(&c);
    return st;
}

/* The classifier's entries: skipped when fine-tuning to another class count. */
static int is_classifier_entry(const fcl_net *net, const fcl_net_entry *en)
{
    const fcl_model *m = fcl_net_model(net);
    return m->classifier_layer >= 0 && en->layer == m->classifier_layer;
}

static fcl_status check_names(fcl_ctx *ctx, fcl_net *net, const fcl_checkpoint *c, const fcl_load_opts *lo,
                              const fcl_ckpt_aux *aux, size_t n_aux, const char *path)
{
    fcl_error e = {0};
    int n = fcl_net_entry_count(net), k = 0;
    fcl_st_expect *want = calloc((size_t)n + 1, sizeof *want);
    const char *meta_aux = fcl_ckpt_get_meta(c, "aux");
    char aux_names[1024] = "";
    if (meta_aux) snprintf(aux_names, sizeof aux_names, "%s", meta_aux);
    const char **ignore = calloc((size_t)n + n_aux + 8 + 16, sizeof *ignore);
    if (!want || !ignore) {
        free(want);
        free(ignore);
        return FCL_ERR(fcl_ctx_error(ctx), FCL_ERR_NOMEM, "out of host memory");
    }
    int ni = 0;
    ignore[ni++] = "optim.";
    ignore[ni++] = "sched.";
    ignore[ni++] = "rng.";
    for (size_t a = 0; a < n_aux; a++) ignore[ni++] = aux[a].name; /* and its ".optim." entries */
    /* Tensors the file itself lists as training-only (a margin head's weights, centres). */
    char *save = NULL;
    for (char *tok = strtok_r(aux_names, ",", &save); tok && ni < (int)(n + n_aux + 20); tok = strtok_r(NULL, ",", &save))
        ignore[ni++] = tok;
    for (int i = 0; i < n; i++) {
        const fcl_net_entry *en = fcl_net_entry_at(net, i);
        if (lo->skip_classifier && is_classifier_entry(net, en)) {
            ignore[ni++] = en->info->name; /* a prefix that is the whole name */
            continue;
        }
        want[k].name = en->info->name;
        want[k].ndim = en->info->ndim;
        for (int d = 0; d < en->info->ndim; d++) want[k].shape[d] = (uint64_t)en->info->shape[d];
        k++;
    }
    ignore[ni] = NULL;
    fcl_status st = fcl_st_check_shapes(c, path, want, (size_t)k, ignore, &e);
    free(want);
    free(ignore);
    return take(ctx, st, &e);
}

static fcl_status load_optim(fcl_ctx *ctx, fcl_optim *opt, const fcl_checkpoint *c, const char *path,
                             const char *prefix)
{
    fcl_error e = {0};
    fcl_status st = FCL_OK;
    const char *kind = fcl_ckpt_get_meta(c, "optim");
    if (!prefix[0] && (!kind || strcmp(kind, optim_name(opt))))
        return FCL_ERR(fcl_ctx_error(ctx), FCL_ERR_FORMAT, "%s: was saved with optimizer '%s', resuming needs '%s'", path,
                       kind ? kind : "(none)", optim_name(opt));
    size_t n = fcl_optim_numel(opt);
    float *buf = malloc((n ? n : 1) * sizeof *buf);
    int64_t *sc = NULL;
    if (!buf) return FCL_ERR(fcl_ctx_error(ctx), FCL_ERR_NOMEM, "out of host memory");
    for (size_t i = 0; i < fcl_optim_state_count(opt) && !st; i++) {
        const char *name = NULL;
        fcl_tensor *t = fcl_optim_state(opt, i, &name);
        char key[300];
        snprintf(key, sizeof key, "%soptim.%s", prefix, name);
        const fcl_st_tensor *s = fcl_ckpt_find(c, key);
        if (!s || s->numel != n) {
            st = FCL_ERR(fcl_ctx_error(ctx), FCL_ERR_SHAPE, "%s: optimizer state %s is %s (expected %zu values)", path, key,
                         s ? "of another size" : "missing", n);
            break;
        }
        st = take(ctx, fcl_st_tensor_to_f32(s, buf, n, &e), &e);
        if (!st) st = fcl_tensor_upload(ctx, t, buf, n);
    }
    char skey[300];
    snprintf(skey, sizeof skey, "%soptim.scalars", prefix);
    const fcl_st_tensor *s = fcl_ckpt_find(c, skey);
    size_t ns = fcl_optim_scalar_count(opt);
    if (!st && (!s || s->numel != ns))
        st = FCL_ERR(fcl_ctx_error(ctx), FCL_ERR_SHAPE, "%s: %s is %s (expected %zu values)", path, skey,
                     s ? "of another size" : "missing", ns);
    if (!st) {
        sc = malloc((ns + 1) * sizeof *sc);
        if (!sc) st = FCL_ERR(fcl_ctx_error(ctx), FCL_ERR_NOMEM, "out of host memory");
    }
    if (!st) st = take(ctx, fcl_st_tensor_to_i64(s, sc, ns, &e), &e);
    if (!st) st = fcl_optim_set_scalars(ctx, opt, sc, ns);
    free(buf);
    free(sc);
    return st;
}

static fcl_status parse_i64(fcl_ctx *ctx, const fcl_checkpoint *c, const char *key, const char *path, int64_t *out)
{
    const char *v = fcl_ckpt_get_meta(c, key);
    char *end = NULL;
    if (!v) return FCL_ERR(fcl_ctx_error(ctx), FCL_ERR_FORMAT, "%s: metadata '%s' is missing (not a training checkpoint)", path, key);
    long long x = strtoll(v, &end, 10);
    if (!*v || *end || x < 0) return FCL_ERR(fcl_ctx_error(ctx), FCL_ERR_FORMAT, "%s: metadata '%s' is not a count: '%s'", path, key, v);
    *out = (int64_t)x;
    return FCL_OK;
}

static fcl_status load_aux(fcl_ctx *ctx, const fcl_ckpt_aux *a, const fcl_checkpoint *c, const char *path)
{
    fcl_error e = {0};
    const fcl_st_tensor *t = fcl_ckpt_find(c, a->name);
    size_t n = fcl_tensor_numel(a->tensor);
    if (!t || t->numel != n)
        return FCL_ERR(fcl_ctx_error(ctx), FCL_ERR_SHAPE, "%s: %s is %s (expected %zu values)", path, a->name,
                       t ? "of another size" : "missing", n);
    float *buf = malloc((n ? n : 1) * sizeof *buf);
    if (!buf) return FCL_ERR(fcl_ctx_error(ctx), FCL_ERR_NOMEM, "out of host memory");
    fcl_status st = take(ctx, fcl_st_tensor_to_f32(t, buf, n, &e), &e);
    if (!st) st = fcl_tensor_upload(ctx, a->tensor, buf, n);
    free(buf);
    if (!st && a->opt) {
        char prefix[300];
        snprintf(prefix, sizeof prefix, "%s.", a->name);
        st = load_optim(ctx, a->opt, c, path, prefix);
    }
    return st;
}

fcl_status fcl_checkpoint_load(fcl_ctx *ctx, fcl_net *net, fcl_optim *opt, fcl_sched *sched,
                               fcl_train_progress *prog, const fcl_load_opts *opts, const char *path)
{
    return fcl_checkpoint_load_ex(ctx, net, opt, sched, prog, opts, NULL, 0, path);
}

fcl_status fcl_checkpoint_load_ex(fcl_ctx *ctx, fcl_net *net, fcl_optim *opt, fcl_sched *sched,
                                  fcl_train_progress *prog, const fcl_load_opts *opts,
                                  const fcl_ckpt_aux *aux, size_t n_aux, const char *path)
{
    fcl_status st = FCL_OK;
    fcl_error e = {0};
    fcl_checkpoint c;
    fcl_load_opts lo = {0};
    float *buf = NULL;
    double *ss = NULL;
    if (opts) lo = *opts;
    st = take(ctx, fcl_st_load(&c, path, &e), &e);
    if (st) return st;
    const char *fmt = fcl_ckpt_get_meta(&c, "format");
    if (fmt && strcmp(fmt, FORMAT_TAG)) {
        st = FCL_ERR(fcl_ctx_error(ctx), FCL_ERR_FORMAT, "%s: checkpoint format '%s' is not '%s'", path, fmt, FORMAT_TAG);
        goto fail;
    }
    st = check_names(ctx, net, &c, &lo, aux, n_aux, path);
    if (st) goto fail;
    /* Everything that resuming needs must be there before anything is changed. */
    if (!lo.weights_only) {
        if (sched && !fcl_ckpt_find(&c, "sched.state")) {
            st = FCL_ERR(fcl_ctx_error(ctx), FCL_ERR_FORMAT, "%s: has no schedule state to resume from", path);
            goto fail;
        }
        for (size_t i = 0; i < n_aux; i++) {
            const fcl_st_tensor *t = fcl_ckpt_find(&c, aux[i].name);
            if (!t || t->numel != fcl_tensor_numel(aux[i].tensor)) {
                st = FCL_ERR(fcl_ctx_error(ctx), FCL_ERR_SHAPE, "%s: %s is %s (expected %zu values)", path, aux[i].name,
                             t ? "of another size" : "missing", fcl_tensor_numel(aux[i].tensor));
                goto fail;
            }
        }
        int64_t tmp;
        if (prog && ((st = parse_i64(ctx, &c, "epoch", path, &tmp)) || (st = parse_i64(ctx, &c, "step", path, &tmp))))
            goto fail;
    }

    for (int i = 0; i < fcl_net_entry_count(net) && !st; i++) {
        const fcl_net_entry *en = fcl_net_entry_at(net, i);
        if (lo.skip_classifier && is_classifier_entry(net, en)) continue;
        const fcl_st_tensor *t = fcl_ckpt_find(&c, en->info->name);
        if (en->info->is_int64) {
            int64_t v = 0;
            if (t->dtype == FCL_ST_I64 || t->dtype == FCL_ST_U8) st = take(ctx, fcl_st_tensor_to_i64(t, &v, 1, &e), &e);
            else {
                float f = 0;
                st = take(ctx, fcl_st_tensor_to_f32(t, &f, 1, &e), &e);
                v = (int64_t)f;
            }
            fcl_net_set_num_batches(net, i, v);
            continue;
        }
        free(buf);
        buf = malloc((size_t)en->info->numel * sizeof *buf);
        if (!buf) {
            st = FCL_ERR(fcl_ctx_error(ctx), FCL_ERR_NOMEM, "out of host memory");
            break;
        }
        st = take(ctx, fcl_st_tensor_to_f32(t, buf, (size_t)en->info->numel, &e), &e);
        if (!st) st = fcl_net_entry_set(net, i, buf);
    }
    if (st || lo.weights_only) goto fail;

    if (opt) st = load_optim(ctx, opt, &c, path, "");
    for (size_t i = 0; i < n_aux && !st; i++) st = load_aux(ctx, &aux[i], &c, path);
    if (!st && sched) {
        const fcl_st_tensor *t = fcl_ckpt_find(&c, "sched.state");
        ss = malloc((t->numel + 1) * sizeof *ss);
        if (!ss || t->dtype != FCL_ST_F64) {
            st = FCL_ERR(fcl_ctx_error(ctx), ss ? FCL_ERR_FORMAT : FCL_ERR_NOMEM, "%s: sched.state must be F64", path);
            goto fail;
        }
        memcpy(ss, t->data, t->numel * sizeof *ss);
        st = take(ctx, fcl_sched_set_state(sched, ss, t->numel, &e), &e);
    }
    if (!st && prog) {
        st = parse_i64(ctx, &c, "epoch", path, &prog->epoch);
        if (!st) st = parse_i64(ctx, &c, "step", path, &prog->step);
    }
    const fcl_st_tensor *r = fcl_ckpt_find(&c, "rng.state");
    if (!st && r) {
        if (r->nbytes != 32) st = FCL_ERR(fcl_ctx_error(ctx), FCL_ERR_FORMAT, "%s: rng.state must be 32 bytes", path);
        else memcpy(fcl_ctx_rng(ctx)->s, r->data, 32);
    }
fail:
    free(buf);
    free(ss);
    fcl_ckpt_free(&c);
    if (st) fcl_error_prefix(fcl_ctx_error(ctx), "loading checkpoint: ");
    return st;
}

static char *dup_or_null(const char *s)
{
    if (!s) return NULL;
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

fcl_status fcl_checkpoint_read_model(const char *path, char **model_name, char **model_text, char **options,
                                     fcl_error *err)
{
    fcl_checkpoint c;
    fcl_status st = fcl_st_load(&c, path, err);
    if (st) return st;
    const char *name = fcl_ckpt_get_meta(&c, "model"), *text = fcl_ckpt_get_meta(&c, "model_text"),
               *o = fcl_ckpt_get_meta(&c, "model_options");
    if (!name || !text || !o) {
        st = FCL_ERR(err, FCL_ERR_FORMAT, "%s: not a facecl checkpoint (no model metadata)", path);
    } else {
        if (model_name) *model_name = dup_or_null(name);
        if (model_text) *model_text = dup_or_null(text);
        if (options) *options = dup_or_null(o);
    }
    fcl_ckpt_free(&c);
    return st;
}

fcl_status fcl_model_opts_parse(const char *text, fcl_model_opts *o, char *storage, size_t storage_size, fcl_error *err)
{
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", text);
    char *save = NULL;
    for (char *tok = strtok_r(buf, " \t", &save); tok; tok = strtok_r(NULL, " \t", &save)) {
        char *eq = strchr(tok, '=');
        if (!eq) return FCL_ERR(err, FCL_ERR_FORMAT, "model options: '%s' is not key=value", tok);
        *eq = '\0';
        const char *v = eq + 1;
        char *end = NULL;
        if (!strcmp(tok, "stem")) {
            snprintf(storage, storage_size, "%s", v);
            o->stem = storage;
            continue;
        }
        double d = strtod(v, &end);
        if (!*v || *end) return FCL_ERR(err, FCL_ERR_FORMAT, "model options: %s=%s is not a number", tok, v);
        if (!strcmp(tok, "channels")) o->channels = (int)d;
        else if (!strcmp(tok, "size_h")) o->size_h = (int)d;
        else if (!strcmp(tok, "size_w")) o->size_w = (int)d;
        else if (!strcmp(tok, "size")) o->size = (int)d;
        else if (!strcmp(tok, "classes")) o->classes = (int)d;
        else if (!strcmp(tok, "embedding")) o->embedding = (int)d;
        else if (!strcmp(tok, "width")) o->width = d;
        else return FCL_ERR(err, FCL_ERR_FORMAT, "model options: unknown key '%s'", tok);
    }
    return FCL_OK;
}

fcl_status fcl_model_from_checkpoint(const fcl_checkpoint *c, const char *path, fcl_model **out, fcl_error *err)
{
    fcl_status st;
    fcl_model_opts mo;
    char stem[64], label[512];
    *out = NULL;
    const char *name = fcl_ckpt_get_meta(c, "model"), *text = fcl_ckpt_get_meta(c, "model_text"),
               *opts = fcl_ckpt_get_meta(c, "model_options");
    if (!name || !text || !opts)
        return FCL_ERR(err, FCL_ERR_FORMAT, "%s: not a facecl checkpoint (metadata \"%s\" missing)", path,
                       !name ? "model" : !text ? "model_text" : "model_options");
    fcl_model_opts_init(&mo);
    if ((st = fcl_model_opts_parse(opts, &mo, stem, sizeof stem, err))) {
        fcl_error_prefix(err, "%s: metadata \"model_options\": ", path);
        return st;
    }
    snprintf(label, sizeof label, "%s.model", name); /* errors read "resnet18.model:12" */
    if ((st = fcl_model_parse(text, label, &mo, out, err))) fcl_error_prefix(err, "%s: ", path);
    return st;
}

fcl_status fcl_net_from_checkpoint(fcl_ctx *ctx, const char *path, int max_batch, fcl_model **model, fcl_net **net)
{
    fcl_status st = FCL_OK;
    char *name = NULL, *text = NULL, *opts = NULL, stem[64], label[512];
    fcl_model_opts mo;
    fcl_model *m = NULL;
    fcl_net *n = NULL;
    *model = NULL;
    *net = NULL;
    st = fcl_checkpoint_read_model(path, &name, &text, &opts, fcl_ctx_error(ctx));
    if (st) goto fail;
    fcl_model_opts_init(&mo);
    st = fcl_model_opts_parse(opts, &mo, stem, sizeof stem, fcl_ctx_error(ctx));
    if (st) goto fail;
    snprintf(label, sizeof label, "%s.model", name); /* errors read "resnet18.model:12" */
    st = fcl_model_parse(text, label, &mo, &m, fcl_ctx_error(ctx));
    if (st) goto fail;
    fcl_net_opts no = {max_batch, 0};
    st = fcl_net_create(ctx, m, &no, &n);
    if (st) goto fail;
    fcl_load_opts lo = {0, 1};
    st = fcl_checkpoint_load(ctx, n, NULL, NULL, NULL, &lo, path);
    if (!st) st = fcl_net_check_weights_finite(ctx, n, path);
    if (st) goto fail;
    *model = m;
    *net = n;
    m = NULL;
    n = NULL;
fail:
    fcl_net_destroy(n);
    fcl_model_free(m);
    free(name);
    free(text);
    free(opts);
    return st;
}
