/* host/ref/ref_optim.h: plain-C double references of the optimizer updates, gradient clipping and AGC (tests). */
#ifndef FACECL_REF_OPTIM_H
#define FACECL_REF_OPTIM_H

#include <stddef.h>
#include <stdint.h>
#include "facecl/optim.h"

/* One torch.optim.SGD step over n elements of one group: p, buf updated in place from g.
 * `first`: the group's momentum buffer is started this step (buf = d). buf is not used when
 * h->momentum == 0 (may be NULL then). */
void fcl_ref_sgd_step(double *p, double *buf, const double *g, size_t n,
                      const fcl_optim_hparams *h, int first);
/* One torch.optim.AdamW step over n elements; `step` is the step count after increment (>= 1). */
void fcl_ref_adamw_step(double *p, double *m, double *v, const double *g, size_t n,
                        const fcl_optim_hparams *h, int64_t step);
/* torch.nn.utils.clip_grad_norm_ over n gradient values: returns the total L2 norm and scales
 * g by max_norm / (norm + 1e-6) when that is < 1 (or NaN). */
double fcl_ref_clip_grad_norm(double *g, size_t n, double max_norm);
/* timm's adaptive_clip_grad over the listed tensors of the flat buffers p, g (fcl_agc_apply's
 * semantics, include/facecl/optim.h): g clipped in place unit by unit. */
void fcl_ref_agc(double *g, const double *p, const fcl_agc_tensor *tensors, size_t n_tensors,
                 double clip_factor, double eps);

#endif
