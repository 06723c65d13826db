/* facecl/identify.h: 1:N open-set identification: gallery templates, probe-vs-gallery cosine scores on the device, top-K, ranks, and the metrics (CMC, rank-k, DIR at FAR, decision accuracy). */
#ifndef FACECL_IDENTIFY_H
#define FACECL_IDENTIFY_H

#include <stddef.h>

#include "context.h"
#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* How a probe is scored against an identity of the gallery:
 *   FCL_MATCH_MEAN  cosine with the identity's template, the L2-normalised mean of the
 *                   (L2-normalised) embeddings of its gallery images;
 *   FCL_MATCH_MAX   the largest cosine with any one of its gallery images. */
typedef enum fcl_match_mode { FCL_MATCH_MEAN = 0, FCL_MATCH_MAX = 1 } fcl_match_mode;

/* The gallery as the rows a probe is multiplied with: n_ids rows (mean) or one row per gallery
 * image (max), each L2-normalised (a zero row stays zero and scores 0), row_id[r] the identity
 * of row r in [0, n_ids). Every identity has at least one row. */
typedef struct fcl_gallery {
    fcl_match_mode mode;
    size_t n_ids, dim, n_rows;
    float *rows;   /* [n_rows, dim] */
    int *row_id;   /* [n_rows] */
} fcl_gallery;

/* Builds a gallery from n embeddings emb [n, dim] with identities ids[i] in [0, n_ids).
 * An identity with no embedding, an id out of range or a non-finite value is an error naming it.
 * Free with fcl_gallery_free (*out is zeroed on error). */
fcl_status fcl_gallery_build(const float *emb, const int *ids, size_t n, size_t dim, size_t n_ids,
                             fcl_match_mode mode, fcl_gallery *out, fcl_error *err);
void fcl_gallery_free(fcl_gallery *g);

/* Per probe: the top-k identities, best first, and where its true identity ranks.
 * Order: higher score first; equal scores go to the lower identity index (as np.argmax and a
 * stable sort of -score do). rank[p] is the 0-based position of true_id[p] in that order (the
 * number of identities scoring higher, plus those scoring the same with a lower index), or -1
 * when the probe has no true identity in the gallery (true_id -1, or no true_id given). */
typedef struct fcl_ident_result {
    size_t n_probes;
    int k;              /* min(requested k, n_ids) */
    int *top_id;        /* [n_probes, k] */
    float *top_score;   /* [n_probes, k] */
    long *rank;         /* [n_probes] */
    float *true_score;  /* [n_probes] score of the true identity (NaN when rank is -1) */
} fcl_ident_result;

fcl_status fcl_ident_result_alloc(fcl_ident_result *r, size_t n_probes, int k, fcl_error *err);
void fcl_ident_result_free(fcl_ident_result *r);

/* Host part of the scoring, for `rows` probes starting at probe `first` of r: s [rows, n_cols]
 * are the probes' scores against the gallery rows (columns), col_id[j] the identity of column j
 * (NULL: column j is identity j, n_cols == n_ids); with several columns per identity its score
 * is their maximum. true_id may be NULL. Fills top_id / top_score / rank / true_score of those
 * probes. A non-finite score is an error naming the probe and column. */
fcl_status fcl_ident_rank_block(const float *s, size_t rows, size_t n_cols, const int *col_id,
                                size_t n_ids, const int *true_id, size_t first,
                                fcl_ident_result *r, fcl_error *err);

/* Scores probes [n_probes, dim] (L2-normalised rows, e.g. from fcl_embed_source) against the
 * gallery: the cosine matrix is one fcl_gemm per block of probes on the device (probes x rows^T;
 * blocks of at most ~64 MiB of scores), each block ranked on the host with
 * fcl_ident_rank_block. k in [1, 1000]; true_id (may be NULL) as above. r is allocated here
 * (free with fcl_ident_result_free). Errors in fcl_ctx_error(ctx). */
fcl_status fcl_identify(fcl_ctx *ctx, const fcl_gallery *g, const float *probes, size_t n_probes,
                        const int *true_id, int k, fcl_ident_result *r);

/* ---- metrics ------------------------------------------------------------------------------ */

/* Labelled probes: rank[p] >= 0 for a genuine probe (its identity is in the gallery: the rank
 * of that identity, as above), -1 for an impostor (an identity the gallery does not have);
 * best[p] the probe's top score. A probe is accepted at threshold t when best >= t.
 *   CMC: cmc[r] = genuine probes with rank <= r / genuine probes (r = 0 .. n_ids - 1);
 *        rank-1 = cmc[0], rank-5 = cmc[min(4, n_ids - 1)].
 *   FAR(t) = impostors with best >= t / impostors.
 *   DIR(t) = genuine probes with rank 0 and best >= t / genuine probes (detected and
 *        identified).
 *   DIR at FAR x: the lowest threshold t among +inf and the distinct best scores of all probes
 *        with FAR(t) <= x (compared as the double count / impostors <= x), DIR(t) there, and
 *        the FAR(t) actually reached. No interpolation: a threshold that really achieves it.
 *   Decision accuracy at threshold T: (genuine probes with rank 0 and best >= T + impostors
 *        with best < T) / probes; a genuine probe answered "unknown" or with another identity
 *        is wrong, an impostor given any identity is wrong.
 * Rates over an empty set (no genuine probes, no impostors) are NaN, as are their thresholds.
 * fars NULL: 1e-1, 1e-2, 1e-3. A non-finite best score, a rank >= n_ids or < -1 is an error. */
#define FCL_IDENT_MAX_FARS 16

typedef struct fcl_ident_metrics {
    size_t n, n_genuine, n_impostor, n_ids;
    double *cmc;                /* [n_ids] */
    double rank1, rank5;
    int n_fars;
    double far[FCL_IDENT_MAX_FARS], dir[FCL_IDENT_MAX_FARS], dir_threshold[FCL_IDENT_MAX_FARS],
        far_actual[FCL_IDENT_MAX_FARS];
    double threshold;           /* the decision threshold evaluated below (-inf: closed set) */
    double accuracy;            /* decision accuracy at threshold */
    size_t genuine_correct;     /* genuine, accepted with the right identity */
    size_t genuine_wrong_id;    /* genuine, accepted with another identity */
    size_t genuine_rejected;    /* genuine, answered unknown */
    size_t impostor_rejected;   /* impostor, answered unknown */
    size_t impostor_accepted;   /* impostor, given an identity (a false alarm) */
} fcl_ident_metrics;

fcl_status fcl_ident_evaluate(const long *rank, const double *best, size_t n, size_t n_ids,
                              const double *fars, int n_fars, double threshold,
                              fcl_ident_metrics *out, fcl_error *err);
void fcl_ident_metrics_free(fcl_ident_metrics *m);

/* The threshold that gives FAR x on these probes' impostors (the DIR-at-FAR threshold above)
 * and the FAR it reaches. Needs at least one impostor (else an error). */
fcl_status fcl_ident_threshold_at_far(const long *rank, const double *best, size_t n, double far,
                                      double *threshold, double *far_actual, fcl_error *err);

/* A human-readable summary (lines ending in '\n'), malloc'd into *text. */
fcl_status fcl_ident_metrics_format(const fcl_ident_metrics *m, char **text, fcl_error *err);

#ifdef __cplusplus
}
#endif
#endif
