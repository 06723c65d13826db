/* host/ops/conv_prep.c: the slots of prepared forward-conv weights (host/ops/conv_prep.h). */
#include "ops/conv_prep.h"

fcl_status fcl_conv_prep_get(fcl_ctx *ctx, fcl_conv_prep *prep, int kind, long long key, size_t bytes, cl_mem *buf,
                             int *fill)
{
    *buf = NULL;
    *fill = 1;
    if (!prep || !prep->version) return FCL_OK;
    fcl_conv_prep_slot *s = &prep->slot[kind];
    if (s->buf && s->cap < bytes) { /* a larger layout: a new buffer */
        fcl_pool_free(ctx, s->buf, s->cap);
        s->buf = NULL, s->cap = 0;
    }
    if (!s->buf) {
        s->version = 0;
        fcl_status st = fcl_pool_alloc(ctx, bytes, &s->buf, &s->cap);
        if (st) {
            s->buf = NULL, s->cap = 0;
            return st;
        }
    }
    *buf = s->buf;
    *fill = s->version != prep->version || s->key != key;
    if (*fill) s->version = 0, s->key = key; /* unfinished until fcl_conv_prep_done */
    return FCL_OK;
}

void fcl_conv_prep_done(fcl_conv_prep *prep, int kind)
{
    if (prep && prep->version && prep->slot[kind].buf) prep->slot[kind].version = prep->version;
}

void fcl_conv_prep_release(fcl_ctx *ctx, fcl_conv_prep *prep)
{
    for (int k = 0; k < FCL_CONV_PREP_KINDS; k++) {
        if (prep->slot[k].buf) fcl_pool_free(ctx, prep->slot[k].buf, prep->slot[k].cap);
        prep->slot[k] = (fcl_conv_prep_slot){NULL, 0, 0, 0};
    }
}
