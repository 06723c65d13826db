/* host/nn/ddp.c: data-parallel gradients: buckets read back as layers finish their backward, allreduced, averaged. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "facecl/dist.h"
#include "nn/ddp_internal.h"

#ifdef FACECL_HAVE_MPI
#include <mpi.h>
#endif

enum { B_WAITING = 0, B_READING, B_REDUCING, B_DONE };

/* A failed OpenCL call (rc: a variable) as the context's error, "what: CL_ERROR_NAME". */
#define CL_FAIL(ctx, rc, what) fcl_error_set(fcl_ctx_error(ctx), FCL_ERR_OPENCL, __FILE__, __LINE__, \
                                             "%s: %s", (what), fcl_cl_error_name(rc))

/* A contiguous range of the gradient buffer made of whole layers (from the end backwards). */
typedef struct bucket {
    size_t off, n;               /* elements into the gradient buffer */
    int pending;                 /* layers whose backward is not yet enqueued this step */
    int layers;
    int state;
    float *host;
    cl_event read;
#ifdef FACECL_HAVE_MPI
    MPI_Request req;
#endif
    double t0;
} bucket;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

double fcl_ddp_now(void) { return now_s(); }

static void nap(void)
{
    struct timespec ts = {0, 100000}; /* 0.1 ms: poll without taking a core from the device threads */
    nanosleep(&ts, NULL);
}

/* ---- buckets ---------------------------------------------------------------------------------- */

static fcl_status make_buckets(fcl_ddp *p)
{
    fcl_ctx *ctx = p->ctx;
    const fcl_model *m = fcl_net_model(p->net);
    int L = m->n_layers;
    p->layer_bucket = malloc((size_t)L * sizeof *p->layer_bucket);
    size_t *lo = malloc((size_t)L * sizeof *lo), *cnt = calloc((size_t)L, sizeof *cnt);
    p->b = calloc((size_t)L + 1, sizeof *p->b);
    if (!p->layer_bucket || !lo || !cnt || !p->b) {
        free(lo);
        free(cnt);
        return FCL_ERR(fcl_ctx_error(ctx), FCL_ERR_NOMEM, "out of host memory");
    }
    for (int i = 0; i < L; i++) {
        p->layer_bucket[i] = -1;
        lo[i] = (size_t)-1;
    }
    for (int e = 0; e < fcl_net_entry_count(p->net); e++) {
        const fcl_net_entry *en = fcl_net_entry_at(p->net, e);
        if (en->where != 0 || en->frozen) continue;
        if (en->offset < lo[en->layer]) lo[en->layer] = en->offset;
        cnt[en->layer] += (size_t)en->info->numel;
    }
    size_t cap = p->o.bucket_bytes / sizeof(float);
    int contiguous = 1;
    bucket *cur = NULL;
    for (int i = L - 1; i >= fcl_net_freeze(p->net); i--) {
        if (!cnt[i]) continue;
        if (!cur || cur->n >= cap) {
            cur = &p->b[p->nb++];
            cur->off = lo[i] + cnt[i];
            cur->n = 0;
        }
        /* layers in backward order must tile the buffer downwards without gaps */
        if (lo[i] + cnt[i] != cur->off - cur->n) contiguous = 0;
        cur->n += cnt[i];
        cur->layers++;
        p->layer_bucket[i] = (int)(cur - p->b);
    }
    for (int k = 0; k < p->nb; k++) p->b[k].off -= p->b[k].n;
    if (!contiguous) { /* an unusual parameter order: one bucket over all, reduced after the backward */
        size_t a = (size_t)-1, z = 0;
        int layers = 0;
        for (int i = 0; i < L; i++) {
            if (!cnt[i]) continue;
            if (lo[i] < a) a = lo[i];
            if (lo[i] + cnt[i] > z) z = lo[i] + cnt[i];
            if (i >= fcl_net_freeze(p->net)) {
                p->layer_bucket[i] = 0;
                layers++;
            }
        }
        p->nb = layers ? 1 : 0;
        p->b[0].off = a;
        p->b[0].n = z - a;
        p->b[0].layers = layers;
    }
    free(lo);
    free(cnt);
    for (int k = 0; k < p->nb; k++) {
        p->b[k].host = malloc(p->b[k].n * sizeof(float));
        if (!p->b[k].host) return FCL_ERR(fcl_ctx_error(ctx), FCL_ERR_NOMEM, "out of host memory for gradient buckets");
        p->stats.bytes_per_step += p->b[k].n * sizeof(float);
    }
    p->stats.buckets = p->nb;
    return FCL_OK;
}

static fcl_status start_read(fcl_ddp *p, bucket *b)
{
    fcl_ctx *ctx = p->ctx;
    fcl_tensor *g = fcl_net_grads(p->net);
    cl_int rc = clEnqueueReadBuffer(fcl_ctx_queue(ctx), g->buf, CL_FALSE, (g->offset + b->off) * sizeof(float),
                                    b->n * sizeof(float), b->host, 0, NULL, &b->read);
    if (rc != CL_SUCCESS) return CL_FAIL(ctx, rc, "clEnqueueReadBuffer(gradient bucket)");
    b->state = B_READING;
    rc = clFlush(fcl_ctx_queue(ctx));
    return rc == CL_SUCCESS ? FCL_OK : CL_FAIL(ctx, rc, "clFlush");
}

static fcl_status start_reduce(fcl_ddp *p, bucket *b)
{
    fcl_ctx *ctx = p->ctx;
    clReleaseEvent(b->read);
    b->read = NULL;
    b->t0 = now_s();
#ifdef FACECL_HAVE_MPI
    if (fcl_dist_size(p->d) > 1) {
        int rc = MPI_Iallreduce(MPI_IN_PLACE, b->host, (int)b->n, MPI_FLOAT, MPI_SUM, fcl_dist_grad_comm_of(p->d), &b->req);
        if (rc != MPI_SUCCESS) return FCL_ERR(fcl_ctx_error(ctx), FCL_ERR_INTERNAL, "MPI_Iallreduce (gradient bucket of %zu floats) failed", b->n);
        b->state = B_REDUCING;
        return FCL_OK;
    }
#else
    (void)ctx;
#endif
    b->state = B_DONE;
    return FCL_OK;
}

/* Moves buckets along without blocking: finished reads start their allreduce, finished
 * allreduces are marked done. *busy: something is still in flight. */
static fcl_status poll(fcl_ddp *p, int *reading, int *reducing)
{
    fcl_ctx *ctx = p->ctx;
    *reading = *reducing = 0;
    int blocked = 0; /* allreduces start in bucket order on every rank (MPI matches them by order) */
    for (int k = 0; k < p->nb; k++) {
        bucket *b = &p->b[k];
        if (b->state == B_WAITING) blocked = 1;
        if (b->state == B_READING && blocked) {
            (*reading)++;
        } else if (b->state == B_READING) {
            cl_int status = CL_QUEUED;
            cl_int rc = clGetEventInfo(b->read, CL_EVENT_COMMAND_EXECUTION_STATUS, sizeof status, &status, NULL);
            if (rc != CL_SUCCESS) return CL_FAIL(ctx, rc, "clGetEventInfo(gradient bucket read)");
            if (status < 0) return CL_FAIL(ctx, status, "reading a gradient bucket");
            if (status == CL_COMPLETE) {
                fcl_status st = start_reduce(p, b);
                if (st) return st;
            } else {
                (*reading)++;
                blocked = 1;
            }
        }
#ifdef FACECL_HAVE_MPI
        if (b->state == B_REDUCING) {
            int flag = 0;
            if (MPI_Test(&b->req, &flag, MPI_STATUS_IGNORE) != MPI_SUCCESS)
                return FCL_ERR(fcl_ctx_error(ctx), FCL_ERR_INTERNAL, "MPI_Test on a gradient bucket failed");
            if (flag) {
                b->state = B_DONE;
                p->stats.reduce_s += now_s() - b->t0;
            } else {
                (*reducing)++;
            }
        }
#endif
    }
    return FCL_OK;
}

static fcl_status after_backward(void *user, int layer)
{
    fcl_ddp *p = user;
    int k = p->layer_bucket ? p->layer_bucket[layer] : -1;
    if (k < 0 || !p->o.overlap) return FCL_OK;
    bucket *b = &p->b[k];
    if (--b->pending == 0) {
        fcl_status st = start_read(p, b);
        if (st) return st;
    }
    int reading, reducing;
    return poll(p, &reading, &reducing);
}

fcl_status fcl_ddp_finish(fcl_ddp *p)
{
    fcl_ctx *ctx = p->ctx;
    fcl_status st = FCL_OK;
    double t0 = now_s();
    if (!p->o.overlap) { /* serial: the whole backward first, then every bucket */
        cl_int rc = clFinish(fcl_ctx_queue(ctx));
        if (rc != CL_SUCCESS) st = CL_FAIL(ctx, rc, "clFinish");
        t0 = now_s();
        for (int k = 0; k < p->nb && !st; k++) st = start_read(p, &p->b[k]);
    }
    for (int k = 0; k < p->nb && !st; k++) /* layers the backward did not visit */
        if (p->b[k].state == B_WAITING) st = start_read(p, &p->b[k]);
    while (!st) {
        int reading = 0, reducing = 0;
        st = poll(p, &reading, &reducing);
        if (st || (!reading && !reducing)) break;
        if (reading && !reducing) { /* nothing for MPI to progress: sleep on the device */
            for (int k = 0; k < p->nb; k++)
                if (p->b[k].state == B_READING) {
                    cl_int rc = clWaitForEvents(1, &p->b[k].read);
                    if (rc != CL_SUCCESS) st = CL_FAIL(ctx, rc, "clWaitForEvents(gradient bucket read)");
                    break;
                }
        } else {
            nap();
        }
    }
    /* Averages back to the device (non-blocking: the in-order queue runs them before the
     * optimizer; the host copies are not touched again before the next step's reads). */
    float inv = 1.0f / (float)fcl_dist_size(p->d);
    fcl_tensor *g = fcl_net_grads(p->net);
    for (int k = 0; k < p->nb && !st; k++) {
        bucket *b = &p->b[k];
        if (inv != 1.0f)
            for (size_t i = 0; i < b->n; i++) b->host[i] *= inv;
        cl_int rc = clEnqueueWriteBuffer(fcl_ctx_queue(ctx), g->buf, CL_FALSE, (g->offset + b->off) * sizeof(float),
                                         b->n * sizeof(float), b->host, 0, NULL, NULL);
        if (rc != CL_SUCCESS) st = CL_FAIL(ctx, rc, "clEnqueueWriteBuffer(gradient bucket)");
        b->state = B_WAITING;
        b->pending = b->layers;
    }
    p->stats.wait_s += now_s() - t0;
    p->stats.steps++;
    return st;
}

/* ---- create / destroy ----------------------------------------------------------------------------- */

fcl_status fcl_ddp_create(fcl_ctx *ctx, fcl_dist *d, fcl_net *net, const fcl_ddp_opts *opts, fcl_ddp **out)
{
    *out = NULL;
    fcl_ddp *p = calloc(1, sizeof *p);
    if (!p) return FCL_ERR(fcl_ctx_error(ctx), FCL_ERR_NOMEM, "out of host memory");
    p->ctx = ctx;
    p->d = d;
    p->net = net;
    if (opts) p->o = *opts;
    if (!p->o.bucket_bytes) p->o.bucket_bytes = (size_t)4 << 20;
    fcl_status st = fcl_dist_size(d) > 1 ? make_buckets(p) : FCL_OK; /* one rank: nothing to average */
    if (st) {
        fcl_ddp_destroy(p);
        return st;
    }
    for (int k = 0; k < p->nb; k++) p->b[k].pending = p->b[k].layers;
    fcl_net_hooks h = {0};
    h.user = p;
    h.after_backward = after_backward;
    if (p->o.sync_bn) { /* also with one rank: the same arithmetic as N ranks */
        h.bn_forward = fcl_sync_bn_forward;
        h.bn_backward = fcl_sync_bn_backward;
    }
    fcl_net_set_hooks(net, &h);
    *out = p;
    return FCL_OK;
}

void fcl_ddp_destroy(fcl_ddp *p)
{
    if (!p) return;
    if (p->net) fcl_net_set_hooks(p->net, NULL);
    clFinish(fcl_ctx_queue(p->ctx)); /* pending writes still read the host buckets */
    for (int k = 0; k < p->nb; k++) {
        if (p->b[k].read) clReleaseEvent(p->b[k].read);
        free(p->b[k].host);
    }
    fcl_sync_bn_free(p);
    free(p->b);
    free(p->layer_bucket);
    free(p);
}

void fcl_ddp_get_stats(const fcl_ddp *p, fcl_ddp_stats *out) { *out = p->stats; }

void fcl_ddp_reset_stats(fcl_ddp *p)
{
    p->stats.steps = 0;
    p->stats.wait_s = p->stats.reduce_s = p->stats.sync_bn_s = 0;
}

fcl_status fcl_ddp_average_buffers(fcl_ddp *p)
{
    if (fcl_dist_size(p->d) == 1 || !fcl_tensor_numel(fcl_net_buffers(p->net))) return FCL_OK;
    return fcl_dist_average_tensor(p->ctx, p->d, fcl_net_buffers(p->net));
}

fcl_status fcl_ddp_broadcast_state(fcl_ddp *p)
{
    fcl_status st = fcl_dist_bcast_tensor(p->ctx, p->d, fcl_net_params(p->net), 0);
    if (!st) st = fcl_dist_bcast_tensor(p->ctx, p->d, fcl_net_buffers(p->net), 0);
    return st;
}
