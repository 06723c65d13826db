/* tools/bench_table.c: the rows of `facecl bench ops`: appending a row, making and freeing its operands. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

bench_case *bench_row(bench_list *list, const char *op, const char *net, const char *dir,
                      fcl_status (*run)(fcl_ctx *, const bench_case *, fcl_tensor *, void *))
{
    if (list->n == list->cap) {
        size_t cap = list->cap ? 2 * list->cap : 64;
        bench_case *items = realloc(list->items, cap * sizeof *items);
        if (!items) return NULL;
        list->items = items;
        list->cap = cap;
    }
    bench_case *c = &list->items[list->n++];
    memset(c, 0, sizeof *c);
    snprintf(c->op, sizeof c->op, "%s", op);
    snprintf(c->net, sizeof c->net, "%s", net);
    snprintf(c->dir, sizeof c->dir, "%s", dir);
    c->run = run;
    return c;
}

void bench_tensor_set(bench_case *c, int i, int ndim, size_t n0, size_t n1, size_t n2, size_t n3,
                      bench_fill fill, float value)
{
    bench_tensor *t = &c->t[i];
    t->ndim = ndim;
    t->shape[0] = n0, t->shape[1] = n1, t->shape[2] = n2, t->shape[3] = n3;
    t->fill = fill;
    t->value = value;
    if (i >= c->nt) c->nt = i + 1;
}

void bench_rn18_sizes(int size, int *stem, int *r)
{
    *stem = fcl_conv2d_out_size(size, 7, 2, 3, 1);   /* 7x7/2 stem, then the 3x3/2 max pool */
    r[0] = fcl_conv2d_out_size(*stem, 3, 2, 1, 1);
    for (int i = 1; i < 4; i++) r[i] = fcl_conv2d_out_size(r[i - 1], 3, 2, 1, 1);
}

/* A pattern or labels, through the host. */
static fcl_status fill_host(fcl_ctx *ctx, fcl_tensor *t, const bench_tensor *bt, size_t n)
{
    fcl_status st;
    if (bt->fill == BENCH_LABELS) {
        int *lab = malloc(n * sizeof *lab);
        if (!lab) return FCL_ERR(fcl_ctx_error(ctx), FCL_ERR_NOMEM, "bench: out of memory");
        for (size_t i = 0; i < n; i++) lab[i] = (int)((i * 7919) % (size_t)bt->value);
        st = fcl_labels_upload(ctx, t, lab, n, (int)bt->value);
        free(lab);
        return st;
    }
    float *h = malloc(n * sizeof *h);
    if (!h) return FCL_ERR(fcl_ctx_error(ctx), FCL_ERR_NOMEM, "bench: out of memory");
    unsigned salt = (unsigned)bt->value;
    for (size_t i = 0; i < n; i++) h[i] = (float)((i * 2654435761u + salt) % 2001u) / 1000.0f - 1.0f;
    st = fcl_tensor_upload(ctx, t, h, n);
    free(h);
    return st;
}

fcl_status bench_setup(fcl_ctx *ctx, const bench_case *c, fcl_tensor *t, void **state)
{
    fcl_status st = FCL_OK;
    *state = NULL;
    memset(t, 0, BENCH_MAX_TENSORS * sizeof *t);
    for (int i = 0; i < c->nt && !st; i++) {
        const bench_tensor *bt = &c->t[i];
        if (!bt->ndim) continue;
        st = fcl_tensor_alloc(ctx, &t[i], bt->ndim, bt->shape, FCL_F32);
        if (st) break;
        if (bt->fill == BENCH_CONST) st = fcl_tensor_fill(ctx, &t[i], bt->value);
        else st = fill_host(ctx, &t[i], bt, fcl_tensor_numel(&t[i]));
    }
    if (!st && c->prep) st = c->prep(ctx, c, t, state);
    if (st) bench_teardown(ctx, c, t, *state);
    return st;
}

void bench_teardown(fcl_ctx *ctx, const bench_case *c, fcl_tensor *t, void *state)
{
    if (state && c->drop) c->drop(ctx, state);
    for (int i = 0; i < BENCH_MAX_TENSORS; i++) fcl_tensor_release(ctx, &t[i]);
}
