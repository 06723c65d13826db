/* tools/demo_identify.c: the identification part of `facecl demo`: the trained model enrols some unseen identities and identifies probes, impostors included. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "eval_common.h"
#include "identify_common.h"

/* Gallery: the first 2/3 of the unseen identities (class order), `enrol` images each; probes:
 * their other images and every image of the remaining third (impostors). Prints one result line
 * and writes run/cmc.png and run/identify-metrics.txt. 0 or 1. */
int tool_demo_identify(const char *data_dir, const char *run_dir, const char *device, int enrol)
{
    char unseen[1100], ckpt[1100], cmc[1100], mpath[1100];
    snprintf(unseen, sizeof unseen, "%s/unseen", data_dir);
    snprintf(ckpt, sizeof ckpt, "%s/last.safetensors", run_dir); /* "result (last epoch)" */
    snprintf(cmc, sizeof cmc, "%s/cmc.png", run_dir);
    snprintf(mpath, sizeof mpath, "%s/identify-metrics.txt", run_dir);
    fcl_error err = {0};
    fcl_dataset all = {0}, gal = {0}, probes = {0};
    tool_eval_setup s = {0};
    tool_ident t = {0};
    int rc = 1;
    size_t *gi = NULL, *pi = NULL, ng = 0, np = 0;
    int *true_id = NULL;
    if (fcl_dataset_open_folder(unseen, 0, NULL, &all, &err)) {
        tool_fail_err(&err);
        goto done;
    }
    const int n_ids = all.n_classes * 2 / 3;
    if (n_ids < 1 || n_ids == all.n_classes) {
        tool_fail("demo: %d unseen identities are too few for a gallery and impostors", all.n_classes);
        goto done;
    }
    gi = malloc(all.n * sizeof *gi);
    pi = malloc(all.n * sizeof *pi);
    true_id = malloc(all.n * sizeof *true_id);
    if (!gi || !pi || !true_id) {
        tool_fail("out of memory");
        goto done;
    }
    int seen = 0, last = -1;
    for (size_t i = 0; i < all.n; i++) {
        int c = all.labels[i];
        seen = c == last ? seen + 1 : 1;
        last = c;
        if (c < n_ids && seen <= enrol) {
            gi[ng++] = i;
        } else {
            true_id[np] = c < n_ids ? c : -1;
            pi[np++] = i;
        }
    }
    if (fcl_dataset_subset(&all, gi, ng, &gal, &err) || fcl_dataset_subset(&all, pi, np, &probes, &err)) {
        tool_fail_err(&err);
        goto done;
    }
    if (tool_eval_open(ckpt, device, 32, 2, &s)) goto done;
    fcl_loader_source gs = fcl_loader_source_dataset(&gal), ps = fcl_loader_source_dataset(&probes);
    if (tool_ident_run(s.ctx, s.net, &s.in, &gs, gal.labels, (size_t)n_ids, &ps, true_id, FCL_MATCH_MEAN, 5, &t)) goto done;
    double thr = -INFINITY, reached = NAN;
    if (fcl_ident_threshold_at_far(t.rank, t.best, t.n_probes, 1e-2, &thr, &reached, &err)) {
        tool_fail_err(&err);
        goto done;
    }
    char title[160];
    size_t n_gen = 0;
    for (size_t i = 0; i < np; i++) n_gen += true_id[i] >= 0;
    snprintf(title, sizeof title, "CMC: %d unseen identities, %zu probes", n_ids, n_gen);
    if (tool_ident_report(&t, thr, mpath, cmc, title, 0)) goto done;
    const fcl_ident_metrics *m = &t.metrics;
    printf("  identification (open set, 1:N; gallery %d unseen identities x %d images, %zu probes of them + %zu of %d "
           "impostor identities): rank-1 %.1f%%, rank-5 %.1f%%, DIR@FAR=1e-1 %.1f%%, DIR@FAR=1e-2 %.1f%%; at the FAR 1e-2 "
           "threshold %.3f, decision accuracy %.1f%%\n",
           n_ids, enrol, m->n_genuine, m->n_impostor, all.n_classes - n_ids, 100 * m->rank1, 100 * m->rank5,
           100 * m->dir[0], 100 * m->dir[1], thr, 100 * m->accuracy);
    rc = 0;
done:
    free(gi);
    free(pi);
    free(true_id);
    tool_ident_free(&t);
    tool_eval_close(&s);
    fcl_dataset_free(&all);
    fcl_dataset_free(&gal);
    fcl_dataset_free(&probes);
    return rc;
}
