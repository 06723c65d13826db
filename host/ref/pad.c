/* host/ref/pad.c: reference 2-D constant padding (F.pad) in double. */
#include "ref/ref_pad.h"

void fcl_ref_pad2d_fwd(double *y, const double *x, size_t planes, size_t h, size_t w,
                       const fcl_pad2d_params *p)
{
    size_t oh = h + (size_t)p->top + (size_t)p->bottom, ow = w + (size_t)p->left + (size_t)p->right;
    for (size_t k = 0; k < planes * oh * ow; k++) y[k] = p->value;
    for (size_t q = 0; q < planes; q++)
        for (size_t i = 0; i < h; i++)
            for (size_t j = 0; j < w; j++)
                y[(q * oh + i + (size_t)p->top) * ow + j + (size_t)p->left] = x[(q * h + i) * w + j];
}

void fcl_ref_pad2d_bwd(double *dx, const double *dy, size_t planes, size_t h, size_t w,
                       const fcl_pad2d_params *p)
{
    size_t oh = h + (size_t)p->top + (size_t)p->bottom, ow = w + (size_t)p->left + (size_t)p->right;
    for (size_t q = 0; q < planes; q++)
        for (size_t i = 0; i < h; i++)
            for (size_t j = 0; j < w; j++)
                dx[(q * h + i) * w + j] += dy[(q * oh + i + (size_t)p->top) * ow + j + (size_t)p->left];
}
