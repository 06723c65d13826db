/* tools/dist_cli.c: joining an MPI job from a subcommand, and ending every rank when one fails. */
#include <stdio.h>
#include <stdlib.h>

#include "dist_cli.h"

#ifdef FACECL_HAVE_MPI
#include <mpi.h>
#endif

int tool_dist_begin(fcl_dist **d)
{
    *d = NULL;
    if (!fcl_dist_launched()) return 0;
    if (!fcl_dist_compiled()) {
        const char *n = getenv("OMPI_COMM_WORLD_SIZE");
        if (!n) n = getenv("PMI_SIZE");
        if (n && atoi(n) > 1) {
            fprintf(stderr, "facecl: error: started by an MPI launcher with %s ranks, but this facecl was built without MPI "
                            "(install libopenmpi-dev and re-run cmake)\n", n);
            return 1;
        }
        return 0; /* one rank: run single-process */
    }
    fcl_error err = {0};
    if (fcl_dist_create(d, &err)) {
        fprintf(stderr, "facecl: error: %s\n", err.msg);
        return 1;
    }
    return 0;
}

int tool_dist_fail(fcl_dist *d, const fcl_error *e)
{
    const char *msg = e->msg[0] ? e->msg : fcl_status_name(e->status);
    if (fcl_dist_size(d) <= 1) {
        fprintf(stderr, "facecl: error: %s\n", msg);
        return 1;
    }
    fprintf(stderr, "facecl: error: rank %d of %d (%s): %s\n", fcl_dist_rank(d), fcl_dist_size(d), fcl_dist_host(d), msg);
    fflush(stderr);
    fflush(stdout);
#ifdef FACECL_HAVE_MPI
    MPI_Abort(MPI_COMM_WORLD, 1); /* the other ranks may be inside a collective: end them all */
#endif
    return 1;
}

void tool_dist_end(fcl_dist *d) { fcl_dist_destroy(d); }
