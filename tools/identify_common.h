/* tools/identify_common.h: what `identify` and `demo` share: embed a gallery and probes, match them, the metrics and the CMC plot. */
#ifndef FACECL_TOOLS_IDENTIFY_COMMON_H
#define FACECL_TOOLS_IDENTIFY_COMMON_H

#include <facecl/facecl.h>

/* A finished 1:N run. */
typedef struct tool_ident {
    size_t n_ids, n_probes;
    fcl_ident_result res;
    long *rank;        /* [n_probes] rank of the true identity, -1: impostor / unlabelled */
    double *best;      /* [n_probes] top-1 score */
    double seconds_match; /* gallery build + scoring + ranking (no embedding) */
    fcl_ident_metrics metrics; /* tool_ident_report's (have_metrics 1), freed with the rest */
    int have_metrics;
} tool_ident;

/* Embeds gallery images (identity gallery_ids[i] in [0, n_ids)) and probes (true_id[i] or -1;
 * true_id may be NULL) with the network (in->tta_flip applies to both), builds the gallery and
 * ranks every probe against it (top k). Prints progress and errors; 0 or 1. */
int tool_ident_run(fcl_ctx *ctx, fcl_net *net, const fcl_eval_input *in, const fcl_loader_source *gallery,
                   const int *gallery_ids, size_t n_ids, const fcl_loader_source *probes, const int *true_id,
                   fcl_match_mode mode, int k, tool_ident *out);

/* The same from embeddings (already computed): gallery [n_gallery, dim], probes [n_probes, dim]. */
int tool_ident_match(fcl_ctx *ctx, const float *gallery, const int *gallery_ids, size_t n_gallery, size_t n_ids,
                     const float *probes, size_t n_probes, size_t dim, const int *true_id, fcl_match_mode mode, int k,
                     tool_ident *out);
void tool_ident_free(tool_ident *t);

/* Metrics at FAR 1e-1/1e-2/1e-3 and decision threshold thr (-INFINITY: closed set). 0 or 1. */
int tool_ident_metrics(const tool_ident *t, double thr, fcl_ident_metrics *m);

/* Metrics at decision threshold thr (tool_ident_metrics) into t->metrics, their summary printed
 * when `print` and written to metrics_path, the CMC curve (identification rate against rank) to
 * cmc_path as a PNG titled `title`. 0 or 1. */
int tool_ident_report(tool_ident *t, double thr, const char *metrics_path, const char *cmc_path, const char *title,
                      int print);

/* `facecl demo`'s identification step (tools/demo_identify.c): gallery of the first 2/3 of
 * data_dir/unseen's identities with `enrol` images each, probes the rest; prints one line. */
int tool_demo_identify(const char *data_dir, const char *run_dir, const char *device, int enrol);

#endif
