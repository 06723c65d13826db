/* tools/identify_common.c: shared 1:N steps of `identify` and `demo`: embedding, matching, metrics, CMC plot. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "eval_common.h"
#include "identify_common.h"
#include "progress.h"

void tool_ident_free(tool_ident *t)
{
    fcl_ident_result_free(&t->res);
    if (t->have_metrics) fcl_ident_metrics_free(&t->metrics);
    free(t->rank);
    free(t->best);
    memset(t, 0, sizeof *t);
}

int tool_ident_match(fcl_ctx *ctx, const float *gallery, const int *gallery_ids, size_t n_gallery, size_t n_ids,
                     const float *probes, size_t n_probes, size_t dim, const int *true_id, fcl_match_mode mode, int k,
                     tool_ident *out)
{
    fcl_gallery g;
    memset(out, 0, sizeof *out);
    double t0 = tool_now_s();
    if (fcl_gallery_build(gallery, gallery_ids, n_gallery, dim, n_ids, mode, &g, fcl_ctx_error(ctx)))
        return tool_fail_err(fcl_ctx_error(ctx));
    int rc = 0;
    if (fcl_identify(ctx, &g, probes, n_probes, true_id, k, &out->res)) {
        rc = tool_fail_err(fcl_ctx_error(ctx));
        fcl_gallery_free(&g);
        return rc;
    }
    out->seconds_match = tool_now_s() - t0;
    fcl_gallery_free(&g);
    out->n_ids = n_ids;
    out->n_probes = n_probes;
    out->rank = malloc(n_probes * sizeof *out->rank);
    out->best = malloc(n_probes * sizeof *out->best);
    if (!out->rank || !out->best) {
        tool_ident_free(out);
        return tool_fail("out of memory");
    }
    for (size_t i = 0; i < n_probes; i++) {
        out->rank[i] = out->res.rank[i];
        out->best[i] = out->res.top_score[i * (size_t)out->res.k];
    }
    return 0;
}

static int embed(fcl_ctx *ctx, fcl_net *net, const fcl_eval_input *in, const fcl_loader_source *src, const char *what,
                 float **emb, size_t *dim)
{
    fcl_progress prog;
    fcl_progress_start(&prog, what, src->count, "img");
    if (fcl_embed_source(ctx, net, src, in, fcl_progress_cb, &prog, emb, dim)) {
        fcl_progress_abort(&prog);
        return tool_fail_err(fcl_ctx_error(ctx));
    }
    fcl_progress_end(&prog, NULL);
    return 0;
}

int tool_ident_run(fcl_ctx *ctx, fcl_net *net, const fcl_eval_input *in, const fcl_loader_source *gallery,
                   const int *gallery_ids, size_t n_ids, const fcl_loader_source *probes, const int *true_id,
                   fcl_match_mode mode, int k, tool_ident *out)
{
    float *eg = NULL, *ep = NULL;
    size_t dg = 0, dp = 0;
    int rc = 1;
    memset(out, 0, sizeof *out);
    if (embed(ctx, net, in, gallery, "gallery", &eg, &dg) || embed(ctx, net, in, probes, "probes", &ep, &dp)) goto done;
    if (dg != dp) {
        tool_fail("gallery embeddings have %zu values, probes %zu", dg, dp);
        goto done;
    }
    rc = tool_ident_match(ctx, eg, gallery_ids, gallery->count, n_ids, ep, probes->count, dg, true_id, mode, k, out);
done:
    free(eg);
    free(ep);
    return rc;
}

int tool_ident_metrics(const tool_ident *t, double thr, fcl_ident_metrics *m)
{
    fcl_error err = {0};
    if (fcl_ident_evaluate(t->rank, t->best, t->n_probes, t->n_ids, NULL, 0, thr, m, &err)) return tool_fail_err(&err);
    return 0;
}

static int plot_cmc(const char *path, const fcl_ident_metrics *m, const char *title)
{
    fcl_error err = {0};
    size_t n = m->n_ids;
    double *x = malloc(n * sizeof *x);
    if (!x) return tool_fail("out of memory");
    for (size_t r = 0; r < n; r++) x[r] = (double)(r + 1);
    char label[96];
    snprintf(label, sizeof label, "rank-1 %.2f%%, rank-5 %.2f%%", 100 * m->rank1, 100 * m->rank5);
    fcl_plot_series s = {0};
    s.label = label;
    s.x = x;
    s.y = m->cmc;
    s.n = n;
    s.markers = n <= 30;
    fcl_plot_opts o = {0};
    o.log_x = n > 30;
    o.x_integer_ticks = !o.log_x;
    o.x_fixed = 1;
    o.x_min = 1.0;
    o.x_max = n > 1 ? (double)n : 2.0;
    o.y_fixed = 1;
    o.y_min = 0.0;
    o.y_max = 1.0;
    int rc = 0;
    if (fcl_plot_lines(path, title, "rank", "identification rate", &s, 1, &o, &err)) rc = tool_fail_err(&err);
    free(x);
    return rc;
}

int tool_ident_report(tool_ident *t, double thr, const char *metrics_path, const char *cmc_path, const char *title,
                      int print)
{
    fcl_error err = {0};
    char *text = NULL;
    fcl_ident_metrics *m = &t->metrics;
    if (t->have_metrics) fcl_ident_metrics_free(m);
    t->have_metrics = 0;
    if (tool_ident_metrics(t, thr, m)) return 1;
    int rc = 1;
    if (fcl_ident_metrics_format(m, &text, &err)) {
        tool_fail_err(&err);
        goto done;
    }
    if (print) printf("%s", text);
    if (tool_write_text(metrics_path, text) || plot_cmc(cmc_path, m, title)) goto done;
    rc = 0;
done:
    free(text);
    if (rc) fcl_ident_metrics_free(m);
    t->have_metrics = !rc;
    return rc;
}
