/* tools/dist_cli.h: joining an MPI job from a subcommand, and ending every rank when one fails. */
#ifndef FACECL_TOOLS_DIST_CLI_H
#define FACECL_TOOLS_DIST_CLI_H

#include <facecl/dist.h>

/* Under mpirun (fcl_dist_launched): joins the job into *d and returns 0; otherwise *d is NULL
 * (one process). Prints the reason and returns 1 when the job cannot be joined (a build
 * without MPI started by mpirun with several ranks). */
int tool_dist_begin(fcl_dist **d);
/* Prints "facecl: error: rank R of N (host): message" and, with several ranks, ends the whole
 * job (MPI_Abort: no rank is left waiting in a collective). Returns 1 with one process. */
int tool_dist_fail(fcl_dist *d, const fcl_error *e);
/* Leaves the job (MPI_Finalize when we initialised it). */
void tool_dist_end(fcl_dist *d);

#endif
