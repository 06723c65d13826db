/* host/ref/ref_loss.h: plain-C double references of the losses, log-softmax, L2 normalisation and cosine similarity. */
#ifndef FACECL_REF_LOSS_H
#define FACECL_REF_LOSS_H

#include <stddef.h>

/* logits [n, k], labels [n] in [0, k); *loss = mean of row_loss (row_loss may be NULL). */
void fcl_ref_softmax_xent_fwd(double *loss, double *row_loss, const double *logits,
                              const int *labels, size_t n, size_t k, double eps);
/* dlogits += dloss * (softmax - q) / n. */
void fcl_ref_softmax_xent_bwd(double *dlogits, const double *logits, const int *labels, size_t n,
                              size_t k, double eps, double dloss);

/* y [n, k] = x - logsumexp(row). */
void fcl_ref_log_softmax_fwd(double *y, const double *x, size_t n, size_t k);
/* dx += dy - exp(y) * sum(dy) per row (y is the forward output). */
void fcl_ref_log_softmax_bwd(double *dx, const double *dy, const double *y, size_t n, size_t k);

/* y [n, d] = x / max(||x_row||, eps). */
void fcl_ref_l2norm_fwd(double *y, const double *x, size_t n, size_t d, double eps);
/* dx += Jacobian^T dy (x is the forward input). */
void fcl_ref_l2norm_bwd(double *dx, const double *dy, const double *x, size_t n, size_t d,
                        double eps);

/* s [na, nb] = normalize(a [na, d]) normalize(b [nb, d])^T with F.normalize's eps. */
void fcl_ref_cosine_sim_fwd(double *s, const double *a, const double *b, size_t na, size_t nb,
                            size_t d, double eps);
/* da [na, d] += J_a^T (ds bn), db [nb, d] += J_b^T (ds^T an) (either may be NULL).
 * Returns 0, or -1 when its scratch allocation failed (nothing accumulated then). */
int fcl_ref_cosine_sim_bwd(double *da, double *db, const double *ds, const double *a,
                           const double *b, size_t na, size_t nb, size_t d, double eps);

#endif
