/* host/nn/dist.c: the MPI communicator of a data-parallel run and the collectives facecl uses (no-ops for one process). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "facecl/dist.h"
#include "nn/ddp_internal.h"

struct fcl_dist {
#ifdef FACECL_HAVE_MPI
    MPI_Comm comm, local;
    MPI_Comm grads;          /* gradient buckets only: their nonblocking allreduces may start
                                between other collectives at different moments on each rank */
#endif
    int rank, size, local_rank, local_size;
    int finalize;            /* we called MPI_Init */
    char host[256];
};

int fcl_dist_compiled(void)
{
#ifdef FACECL_HAVE_MPI
    return 1;
#else
    return 0;
#endif
}

int fcl_dist_launched(void)
{
    static const char *vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK", "MPI_LOCALNRANKS"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
        if (getenv(vars[i])) return 1;
    return 0;
}

int fcl_dist_rank(const fcl_dist *d) { return d ? d->rank : 0; }
int fcl_dist_size(const fcl_dist *d) { return d ? d->size : 1; }
int fcl_dist_local_rank(const fcl_dist *d) { return d ? d->local_rank : 0; }
int fcl_dist_local_size(const fcl_dist *d) { return d ? d->local_size : 1; }
const char *fcl_dist_host(const fcl_dist *d) { return d ? d->host : ""; }

void fcl_dist_shard(size_t n, int r, int size, size_t *lo, size_t *hi)
{
    if (size < 1) size = 1;
    *lo = n * (size_t)r / (size_t)size;
    *hi = n * (size_t)(r + 1) / (size_t)size;
}

#ifdef FACECL_HAVE_MPI

static fcl_status mpi_fail(fcl_error *err, int rc, const char *file, int line, const char *what)
{
    char s[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(rc, s, &len) != MPI_SUCCESS) snprintf(s, sizeof s, "MPI error %d", rc);
    return fcl_error_set(err, FCL_ERR_INTERNAL, file, line, "%s: %s", what, s);
}
#define MPI_CHECK(err, call, what) \
    do { int rc_ = (call); if (rc_ != MPI_SUCCESS) return mpi_fail((err), rc_, __FILE__, __LINE__, (what)); } while (0)

fcl_status fcl_dist_create(fcl_dist **out, fcl_error *err)
{
    *out = NULL;
    fcl_dist *d = calloc(1, sizeof *d);
    if (!d) return FCL_ERR(err, FCL_ERR_NOMEM, "out of host memory");
    int inited = 0, provided = 0;
    MPI_Initialized(&inited);
    if (!inited) {
        if (MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) {
            free(d);
            return FCL_ERR(err, FCL_ERR_INTERNAL, "MPI_Init_thread failed");
        }
        d->finalize = 1;
    }
    /* Errors come back as codes (turned into messages), never as MPI's default abort. */
    int ok = MPI_Comm_dup(MPI_COMM_WORLD, &d->comm) == MPI_SUCCESS;
    ok = ok && MPI_Comm_set_errhandler(d->comm, MPI_ERRORS_RETURN) == MPI_SUCCESS;
    ok = ok && MPI_Comm_dup(d->comm, &d->grads) == MPI_SUCCESS;
    ok = ok && MPI_Comm_rank(d->comm, &d->rank) == MPI_SUCCESS && MPI_Comm_size(d->comm, &d->size) == MPI_SUCCESS;
    ok = ok && MPI_Comm_split_type(d->comm, MPI_COMM_TYPE_SHARED, d->rank, MPI_INFO_NULL, &d->local) == MPI_SUCCESS;
    ok = ok && MPI_Comm_rank(d->local, &d->local_rank) == MPI_SUCCESS &&
         MPI_Comm_size(d->local, &d->local_size) == MPI_SUCCESS;
    int hl = 0;
    if (ok && MPI_Get_processor_name(d->host, &hl) != MPI_SUCCESS) d->host[0] = '\0';
    if (!ok) {
        fcl_dist_destroy(d);
        return FCL_ERR(err, FCL_ERR_INTERNAL, "MPI: could not set up the communicator");
    }
    *out = d;
    return FCL_OK;
}

void fcl_dist_destroy(fcl_dist *d)
{
    if (!d) return;
    int fin = 0;
    MPI_Finalized(&fin);
    if (!fin) {
        if (d->local != MPI_COMM_NULL && d->local) MPI_Comm_free(&d->local);
        if (d->grads != MPI_COMM_NULL && d->grads) MPI_Comm_free(&d->grads);
        if (d->comm != MPI_COMM_NULL && d->comm) MPI_Comm_free(&d->comm);
        if (d->finalize) MPI_Finalize();
    }
    free(d);
}

/* MPI counts are int: long vectors go in chunks. */
#define CHUNK ((size_t)1 << 28)

static fcl_status sum_any(fcl_dist *d, void *v, size_t n, MPI_Datatype t, size_t esize, MPI_Op op, fcl_error *err)
{
    if (!d || d->size == 1) return FCL_OK;
    for (size_t o = 0; o < n; o += CHUNK) {
        size_t c = n - o < CHUNK ? n - o : CHUNK;
        MPI_CHECK(err, MPI_Allreduce(MPI_IN_PLACE, (char *)v + o * esize, (int)c, t, op, d->comm), "MPI_Allreduce");
    }
    return FCL_OK;
}

fcl_status fcl_dist_sum_d(fcl_dist *d, double *v, size_t n, fcl_error *err) { return sum_any(d, v, n, MPI_DOUBLE, sizeof *v, MPI_SUM, err); }
fcl_status fcl_dist_sum_f(fcl_dist *d, float *v, size_t n, fcl_error *err) { return sum_any(d, v, n, MPI_FLOAT, sizeof *v, MPI_SUM, err); }
fcl_status fcl_dist_max_i(fcl_dist *d, int *v, size_t n, fcl_error *err) { return sum_any(d, v, n, MPI_INT, sizeof *v, MPI_MAX, err); }

fcl_status fcl_dist_bcast(fcl_dist *d, void *buf, size_t bytes, int root, fcl_error *err)
{
    if (!d || d->size == 1) return FCL_OK;
    for (size_t o = 0; o < bytes; o += CHUNK) {
        size_t c = bytes - o < CHUNK ? bytes - o : CHUNK;
        MPI_CHECK(err, MPI_Bcast((char *)buf + o, (int)c, MPI_BYTE, root, d->comm), "MPI_Bcast");
    }
    return FCL_OK;
}

static fcl_status gather_any(fcl_dist *d, const void *mine, size_t n_mine, void *all, size_t total, MPI_Datatype t,
                             size_t esize, fcl_error *err)
{
    if (!d || d->size == 1) {
        if (n_mine > total) return FCL_ERR(err, FCL_ERR_INVALID_ARG, "allgather: %zu elements into %zu", n_mine, total);
        if (n_mine) memmove(all, mine, n_mine * esize);
        return FCL_OK;
    }
    int *counts = malloc(2 * (size_t)d->size * sizeof *counts);
    if (!counts) return FCL_ERR(err, FCL_ERR_NOMEM, "out of host memory");
    int *displs = counts + d->size, me = (int)n_mine;
    fcl_status st = FCL_OK;
    int rc = MPI_Allgather(&me, 1, MPI_INT, counts, 1, MPI_INT, d->comm);
    if (rc != MPI_SUCCESS) {
        st = mpi_fail(err, rc, __FILE__, __LINE__, "MPI_Allgather");
        goto done;
    }
    size_t sum = 0;
    for (int r = 0; r < d->size; r++) {
        displs[r] = (int)sum;
        sum += (size_t)counts[r];
    }
    if (sum > total || sum > (size_t)0x7fffffff) {
        st = FCL_ERR(err, FCL_ERR_INVALID_ARG, "allgather: %zu elements in all, room for %zu", sum, total);
        goto done;
    }
    rc = MPI_Allgatherv(mine, me, t, all, counts, displs, t, d->comm);
    if (rc != MPI_SUCCESS) st = mpi_fail(err, rc, __FILE__, __LINE__, "MPI_Allgatherv");
done:
    free(counts);
    return st;
}

fcl_status fcl_dist_allgather_d(fcl_dist *d, const double *mine, size_t n_mine, double *all, size_t total, fcl_error *err)
{
    return gather_any(d, mine, n_mine, all, total, MPI_DOUBLE, sizeof *mine, err);
}
fcl_status fcl_dist_allgather_f(fcl_dist *d, const float *mine, size_t n_mine, float *all, size_t total, fcl_error *err)
{
    return gather_any(d, mine, n_mine, all, total, MPI_FLOAT, sizeof *mine, err);
}
fcl_status fcl_dist_allgather_i(fcl_dist *d, const int *mine, size_t n_mine, int *all, size_t total, fcl_error *err)
{
    return gather_any(d, mine, n_mine, all, total, MPI_INT, sizeof *mine, err);
}

#else /* built without MPI: one process */

fcl_status fcl_dist_create(fcl_dist **out, fcl_error *err)
{
    *out = NULL;
    return FCL_ERR(err, FCL_ERR_UNSUPPORTED,
                   "this facecl was built without MPI: install libopenmpi-dev and openmpi-bin, then re-run cmake");
}

void fcl_dist_destroy(fcl_dist *d) { free(d); }

fcl_status fcl_dist_sum_d(fcl_dist *d, double *v, size_t n, fcl_error *err) { (void)d; (void)v; (void)n; (void)err; return FCL_OK; }
fcl_status fcl_dist_sum_f(fcl_dist *d, float *v, size_t n, fcl_error *err) { (void)d; (void)v; (void)n; (void)err; return FCL_OK; }
fcl_status fcl_dist_max_i(fcl_dist *d, int *v, size_t n, fcl_error *err) { (void)d; (void)v; (void)n; (void)err; return FCL_OK; }
fcl_status fcl_dist_bcast(fcl_dist *d, void *buf, size_t bytes, int root, fcl_error *err)
{
    (void)d; (void)buf; (void)bytes; (void)root; (void)err;
    return FCL_OK;
}

static fcl_status copy_mine(const void *mine, size_t n_mine, void *all, size_t total, size_t esize, fcl_error *err)
{
    if (n_mine > total) return FCL_ERR(err, FCL_ERR_INVALID_ARG, "allgather: %zu elements into %zu", n_mine, total);
    if (n_mine) memmove(all, mine, n_mine * esize);
    return FCL_OK;
}
fcl_status fcl_dist_allgather_d(fcl_dist *d, const double *mine, size_t n_mine, double *all, size_t total, fcl_error *err)
{
    (void)d;
    return copy_mine(mine, n_mine, all, total, sizeof *mine, err);
}
fcl_status fcl_dist_allgather_f(fcl_dist *d, const float *mine, size_t n_mine, float *all, size_t total, fcl_error *err)
{
    (void)d;
    return copy_mine(mine, n_mine, all, total, sizeof *mine, err);
}
fcl_status fcl_dist_allgather_i(fcl_dist *d, const int *mine, size_t n_mine, int *all, size_t total, fcl_error *err)
{
    (void)d;
    return copy_mine(mine, n_mine, all, total, sizeof *mine, err);
}

#endif

/* ---- device tensors ------------------------------------------------------------------------- */

fcl_status fcl_dist_average_tensor(fcl_ctx *ctx, fcl_dist *d, fcl_tensor *t)
{
    if (fcl_dist_size(d) == 1) return FCL_OK;
    size_t n = fcl_tensor_numel(t);
    float *h = malloc((n ? n : 1) * sizeof *h);
    if (!h) return FCL_ERR(fcl_ctx_error(ctx), FCL_ERR_NOMEM, "out of host memory");
    fcl_status st = fcl_tensor_download(ctx, t, h, n);
    if (!st) st = fcl_dist_sum_f(d, h, n, fcl_ctx_error(ctx));
    if (!st) {
        float inv = 1.0f / (float)fcl_dist_size(d);
        for (size_t i = 0; i < n; i++) h[i] *= inv;
        st = fcl_tensor_upload(ctx, t, h, n);
    }
    free(h);
    return st;
}

fcl_status fcl_dist_bcast_tensor(fcl_ctx *ctx, fcl_dist *d, fcl_tensor *t, int root)
{
    if (fcl_dist_size(d) == 1) return FCL_OK;
    size_t n = fcl_tensor_numel(t);
    float *h = malloc((n ? n : 1) * sizeof *h);
    if (!h) return FCL_ERR(fcl_ctx_error(ctx), FCL_ERR_NOMEM, "out of host memory");
    fcl_status st = fcl_dist_rank(d) == root ? fcl_tensor_download(ctx, t, h, n) : FCL_OK;
    if (!st) st = fcl_dist_bcast(d, h, n * sizeof *h, root, fcl_ctx_error(ctx));
    if (!st && fcl_dist_rank(d) != root) st = fcl_tensor_upload(ctx, t, h, n);
    free(h);
    return st;
}

#ifdef FACECL_HAVE_MPI
MPI_Comm fcl_dist_grad_comm_of(const fcl_dist *d) { return d ? d->grads : MPI_COMM_SELF; }

fcl_status fcl_dist_barrier(fcl_dist *d, fcl_error *err)
{
    if (!d || d->size == 1) return FCL_OK;
    MPI_CHECK(err, MPI_Barrier(d->comm), "MPI_Barrier");
    return FCL_OK;
}
#else
fcl_status fcl_dist_barrier(fcl_dist *d, fcl_error *err)
{
    (void)d;
    (void)err;
    return FCL_OK;
}
#endif
