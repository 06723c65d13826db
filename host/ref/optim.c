/* host/ref/optim.c: plain-C double references of SGD, AdamW and global-norm clipping, written for clarity (torch semantics). */
#include <math.h>

#include "ref/ref_optim.h"

void fcl_ref_sgd_step(double *p, double *buf, const double *g, size_t n,
                      const fcl_optim_hparams *h, int first)
{
    for (size_t i = 0; i < n; i++) {
        double d = g[i] + h->weight_decay * p[i];          /* weight decay enters the gradient */
        if (h->momentum != 0.0) {
            if (first)
                buf[i] = d;                                 /* torch clones d on the first step */
            else
                buf[i] = h->momentum * buf[i] + (1.0 - h->dampening) * d;
            d = h->nesterov ? d + h->momentum * buf[i] : buf[i];
        }
        p[i] -= h->lr * d;
    }
}

void fcl_ref_adamw_step(double *p, double *m, double *v, const double *g, size_t n,
                        const fcl_optim_hparams *h, int64_t step)
{
    double bc1 = 1.0 - pow(h->beta1, (double)step);
    double bc2 = 1.0 - pow(h->beta2, (double)step);
    for (size_t i = 0; i < n; i++) {
        p[i] *= 1.0 - h->lr * h->weight_decay;               /* decoupled weight decay first */
        m[i] = h->beta1 * m[i] + (1.0 - h->beta1) * g[i];
        v[i] = h->beta2 * v[i] + (1.0 - h->beta2) * g[i] * g[i];
        double denom = sqrt(v[i]) / sqrt(bc2) + h->eps;      /* eps after the corrected sqrt */
        p[i] -= (h->lr / bc1) * m[i] / denom;
    }
}

double fcl_ref_clip_grad_norm(double *g, size_t n, double max_norm)
{
    double ss = 0.0;
    for (size_t i = 0; i < n; i++) ss += g[i] * g[i];
    double norm = sqrt(ss);
    double coef = max_norm / (norm + 1e-6);
    if (!(coef >= 1.0))
        for (size_t i = 0; i < n; i++) g[i] *= coef;
    return norm;
}

void fcl_ref_agc(double *g, const double *p, const fcl_agc_tensor *tensors, size_t n_tensors,
                 double clip_factor, double eps)
{
    for (size_t t = 0; t < n_tensors; t++) {
        size_t len = tensors[t].numel / tensors[t].units;
        for (size_t u = 0; u < tensors[t].units; u++) {
            size_t o = tensors[t].offset + u * len;
            double sp = 0, sg = 0;
            for (size_t i = 0; i < len; i++) sp += p[o + i] * p[o + i], sg += g[o + i] * g[o + i];
            /* torch's clamp keeps NaN (fmax would not) */
            double pn = sqrt(sp), gn = sqrt(sg), max_norm = (pn < eps ? eps : pn) * clip_factor;
            if (gn < max_norm) continue;
            for (size_t i = 0; i < len; i++) g[o + i] *= max_norm / (gn < 1e-6 ? 1e-6 : gn);
        }
    }
}
