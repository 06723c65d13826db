/* host/nn/train_guard.c: the trainer's checks before and during a run: data headers and pair labels, the memory plan against the device, divergence. */
#include <math.h>
#include <sys/resource.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/net_plan.h"
#include "nn/train_guard.h"

/* ---- data, before the first step ------------------------------------------------------------------- */

static fcl_status probe_set(fcl_ctx *ctx, fcl_dataset *ds, unsigned flags, fcl_strlist *warnings)
{
    fcl_strlist bad = {0};
    fcl_error e = {0};
    fcl_status st = fcl_dataset_probe(ds, flags, &bad, &e);
    if (st) *fcl_ctx_error(ctx) = e;
    for (size_t i = 0; !st && i < bad.n; i++) st = fcl_strlist_add(warnings, fcl_ctx_error(ctx), "left out a bad image: %s", bad.items[i]);
    fcl_strlist_free(&bad);
    return st;
}

fcl_status fcl_train_check_data(fcl_ctx *ctx, const fcl_train_config *cfg, fcl_dataset *train, fcl_dataset *val,
                                const fcl_pair_list *pairs, fcl_strlist *warnings)
{
    unsigned flags = cfg->skip_bad ? FCL_DATA_SKIP_BAD : 0;
    fcl_status st = probe_set(ctx, train, flags, warnings);
    if (!st && val) st = probe_set(ctx, val, flags, warnings);
    if (st || !pairs) return st;
    size_t same = 0, diff = 0;
    for (size_t i = 0; i < pairs->n; i++) {
        same += pairs->pairs[i].label == 1;
        diff += pairs->pairs[i].label == 0;
        const char *p[2] = {pairs->pairs[i].path1, pairs->pairs[i].path2};
        for (int k = 0; k < 2; k++) {
            int c, h, w;
            fcl_error e = {0};
            if (fcl_image_probe_file(p[k], &c, &h, &w, &e)) {
                const char *m = strchr(e.msg, ' ');
                return FCL_ERR(fcl_ctx_error(ctx), FCL_ERR_FORMAT, "%s:%d: %s", pairs->source, pairs->pairs[i].line, m ? m + 1 : e.msg);
            }
        }
    }
    if (!same || !diff)
        return FCL_ERR(fcl_ctx_error(ctx), FCL_ERR_FORMAT,
                       "%s: verification needs both same (label 1) and different (label 0) pairs; it has %zu same and "
                       "%zu different",
                       pairs->source, same, diff);
    return FCL_OK;
}

/* ---- memory, before allocating -------------------------------------------------------------------- */

/* The "Key: N kB" line of a /proc file in bytes, 0 when unknown. */
static uint64_t proc_kb(const char *path, const char *format)
{
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    char line[256];
    unsigned long long kb = 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, format, &kb) == 1) break;
    fclose(f);
    return (uint64_t)kb * 1024;
}

/* /proc/meminfo's MemAvailable in bytes, 0 when unknown. */
static uint64_t host_available(void) { return proc_kb("/proc/meminfo", "MemAvailable: %llu kB"); }

/* What this process may still map under `ulimit -v` (RLIMIT_AS less its current size), 0 when
 * unlimited or unknown: a CPU device allocates in the process, so the limit binds it too. */
static uint64_t address_space_left(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_AS, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY) return 0;
    uint64_t used = proc_kb("/proc/self/status", "VmSize: %llu kB"), lim = (uint64_t)rl.rlim_cur;
    return lim > used ? lim - used : 1;
}

static double gib(uint64_t b) { return (double)b / (1024.0 * 1024.0 * 1024.0); }

fcl_status fcl_train_check_memory(fcl_ctx *ctx, const fcl_model *m, const fcl_train_config *cfg, int classes,
                                  int has_head, int has_center, char *summary, size_t summary_size)
{
    const fcl_device_info *d = fcl_ctx_device(ctx);
    const uint64_t F = sizeof(float), B = (uint64_t)cfg->batch, K = (uint64_t)classes, D = (uint64_t)m->embedding_dim;
    const uint64_t P = (uint64_t)m->n_trainable, states = cfg->optim == FCL_OPTIM_ADAMW ? 2 : 1;
    uint64_t acts = 0;
    if (fcl_net_activation_peak(m, cfg->batch, cfg->freeze, 1, &acts))
        return FCL_ERR(fcl_ctx_error(ctx), FCL_ERR_NOMEM, "out of host memory planning %s", m->name);
    /* parameters, gradients and optimizer state; BN running statistics */
    uint64_t weights = P * F * (2 + states) + (uint64_t)m->n_buffer * F;
    /* the input batch, labels, the loss gradients of the classifier and the embedding */
    uint64_t io = B * (uint64_t)m->channels * (uint64_t)m->in_h * (uint64_t)m->in_w * F + B * F + B * K * F + B * D * F;
    /* a margin head: class weights, their gradient and optimizer state, logits and cosines; centres */
    uint64_t head = (has_head ? K * D * F * (2 + states) + 2 * B * K * F : 0) + (has_center ? K * D * F : 0);
    /* im2col workspace: the largest convolution's columns of one image, twice (backward) */
    uint64_t ws = 0;
    for (int i = 0; i < m->n_layers; i++) {
        const fcl_layer *L = &m->layers[i];
        if (L->kind != FCL_LAYER_CONV || L->n_inputs < 1) continue;
        int j = L->inputs[0];
        uint64_t cin = (j < 0 ? (uint64_t)m->channels : (uint64_t)m->layers[j].out_c) / (uint64_t)(L->conv.groups > 0 ? L->conv.groups : 1);
        uint64_t col = 2 * cin * (uint64_t)L->conv.kh * (uint64_t)L->conv.kw * (uint64_t)L->out_h * (uint64_t)L->out_w * F;
        if (col > ws) ws = col;
    }
    uint64_t total = weights + acts + io + head + ws;
    total += total / 10; /* the pool's size classes round blocks up */
    uint64_t limit = d->global_mem;
    const char *what = "device memory";
    /* A CPU device shares the host's memory with the OS and this process's own heap (decoded images,
     * checkpoint staging): plan on 90% of what is available. A plan of 22.7 GiB against 23.1 GiB
     * available was killed by the OOM killer at 22.7 GiB resident. */
    uint64_t avail = d->type & CL_DEVICE_TYPE_CPU ? host_available() / 10 * 9 : 0;
    if (avail && avail < limit) limit = avail, what = "available host memory (90% of it: a CPU device shares it)";
    uint64_t as_left = d->type & CL_DEVICE_TYPE_CPU ? address_space_left() : 0;
    if (as_left && as_left < limit) limit = as_left, what = "address space left under ulimit -v (a CPU device uses it)";
    snprintf(summary, summary_size,
             "memory plan: %.2f GiB (weights, gradients and optimizer state %.2f, activations at batch %d %.2f, "
             "other %.2f) of %.2f GiB %s",
             gib(total), gib(weights), cfg->batch, gib(acts), gib(io + head + ws), gib(limit), what);
    if (limit && total > limit)
        return FCL_ERR(fcl_ctx_error(ctx), FCL_ERR_NOMEM,
                       "%s: training needs about %.2f GiB (weights, gradients and optimizer state %.2f GiB, "
                       "activations at batch %d %.2f GiB, inputs, heads and workspace %.2f GiB), more than the %.2f "
                       "GiB of %s on %s: use a smaller --batch or --size, or a smaller model",
                       m->name, gib(total), gib(weights), cfg->batch, gib(acts), gib(io + head + ws), gib(limit), what,
                       d->name);
    /* parameters and their gradients are one buffer each: the device must allow one that large */
    if (d->max_alloc && P * F > d->max_alloc)
        return FCL_ERR(fcl_ctx_error(ctx), FCL_ERR_NOMEM,
                       "%s: training needs about %.2f GiB; its %llu parameters are one buffer of %.2f GiB, more than "
                       "the largest allocation %s allows (%.2f GiB): use a smaller model",
                       m->name, gib(total), (unsigned long long)P, gib(P * F), d->name, gib(d->max_alloc));
    return FCL_OK;
}

/* ---- divergence --------------------------------------------------------------------------------- */

fcl_status fcl_tensor_check_finite(fcl_ctx *ctx, const fcl_tensor *t, size_t *first_bad)
{
    size_t n = fcl_tensor_numel(t), chunk = (size_t)1 << 20;
    float *h = malloc((n < chunk ? n : chunk) * sizeof *h + 1);
    if (!h) return FCL_ERR(fcl_ctx_error(ctx), FCL_ERR_NOMEM, "out of host memory");
    fcl_status st = FCL_OK;
    *first_bad = (size_t)-1;
    for (size_t off = 0; off < n && !st && *first_bad == (size_t)-1; off += chunk) {
        size_t c = n - off < chunk ? n - off : chunk;
        fcl_tensor v;
        size_t shape[1] = {c};
        st = fcl_tensor_view(ctx, t, off, 1, shape, &v);
        if (!st) st = fcl_tensor_download(ctx, &v, h, c);
        for (size_t i = 0; !st && i < c; i++)
            if (!isfinite(h[i])) {
                *first_bad = off + i;
                break;
            }
    }
    free(h);
    return st;
}

fcl_status fcl_net_check_weights_finite(fcl_ctx *ctx, fcl_net *net, const char *source)
{
    const fcl_tensor *ts[2] = {fcl_net_params(net), fcl_net_buffers(net)};
    for (int where = 0; where < 2; where++) {
        size_t bad;
        fcl_status st = fcl_tensor_numel(ts[where]) ? fcl_tensor_check_finite(ctx, ts[where], &bad) : FCL_OK;
        if (st) return st;
        if (!fcl_tensor_numel(ts[where]) || bad == (size_t)-1) continue;
        const char *name = "?";
        for (int i = 0; i < fcl_net_entry_count(net); i++) { /* the state_dict entry holding element `bad` */
            const fcl_net_entry *e = fcl_net_entry_at(net, i);
            if (e->where == where && bad >= e->offset && bad - e->offset < (size_t)e->info->numel) name = e->info->name;
        }
        return FCL_ERR(fcl_ctx_error(ctx), FCL_ERR_FORMAT,
                       "%s: '%s' holds NaN or infinite values (a diverged run?): its outputs would be meaningless",
                       source, name);
    }
    return FCL_OK;
}
