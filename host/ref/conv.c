/* host/ref/conv.c: reference 2-D convolution (forward, backward to data, weights, bias) in double. */
#include "ref/ref_conv.h"

#include <stddef.h>

enum { REF_FWD, REF_DATA, REF_WEIGHT };

/* The definition, written once: the loop visits every (image, output channel, output pixel,
 * input channel of the group, tap) whose input pixel lies inside the image (the rest read
 * zero padding) and does the multiply-add of the requested pass:
 *   REF_FWD     out = y,  a = x,  b = w:   y[yi]  += w[wi] * x[xi]
 *   REF_DATA    out = dx, a = dy, b = w:   dx[xi] += w[wi] * dy[yi]
 *   REF_WEIGHT  out = dw, a = dy, b = x:   dw[wi] += dy[yi] * x[xi]
 * so the backward passes are the adjoints of the forward by construction; the finite-difference
 * tests check that they are the forward's derivatives. */
static void conv_loop(int pass, double *out, const double *a, const double *b,
                      const fcl_conv2d_params *p)
{
    int oh = fcl_conv2d_out_size(p->h, p->kh, p->stride_h, p->pad_h, p->dil_h);
    int ow = fcl_conv2d_out_size(p->w, p->kw, p->stride_w, p->pad_w, p->dil_w);
    int cin_g = p->cin / p->groups, cout_g = p->cout / p->groups;
    for (int n = 0; n < p->n; n++)
        for (int co = 0; co < p->cout; co++) {
            int g = co / cout_g;
            for (int oy = 0; oy < oh; oy++)
                for (int ox = 0; ox < ow; ox++) {
                    size_t yi = (((size_t)n * p->cout + co) * oh + oy) * ow + ox;
                    for (int ci = 0; ci < cin_g; ci++)
                        for (int ky = 0; ky < p->kh; ky++) {
                            int iy = oy * p->stride_h - p->pad_h + ky * p->dil_h;
                            if (iy < 0 || iy >= p->h) continue;
                            for (int kx = 0; kx < p->kw; kx++) {
                                int ix = ox * p->stride_w - p->pad_w + kx * p->dil_w;
                                if (ix < 0 || ix >= p->w) continue;
                                size_t xi = (((size_t)n * p->cin + g * cin_g + ci) * p->h + iy) * p->w + ix;
                                size_t wi = (((size_t)co * cin_g + ci) * p->kh + ky) * p->kw + kx;
                                switch (pass) {
                                case REF_FWD: out[yi] += b[wi] * a[xi]; break;
                                case REF_DATA: out[xi] += b[wi] * a[yi]; break;
                                default: out[wi] += a[yi] * b[xi]; break;
                                }
                            }
                        }
                }
        }
}

void fcl_ref_conv2d_fwd(double *y, const double *x, const double *w, const double *b,
                        const fcl_conv2d_params *p)
{
    int oh = fcl_conv2d_out_size(p->h, p->kh, p->stride_h, p->pad_h, p->dil_h);
    int ow = fcl_conv2d_out_size(p->w, p->kw, p->stride_w, p->pad_w, p->dil_w);
    size_t plane = (size_t)oh * ow;
    for (int n = 0; n < p->n; n++)
        for (int co = 0; co < p->cout; co++)
            for (size_t i = 0; i < plane; i++)
                y[((size_t)n * p->cout + co) * plane + i] = b ? b[co] : 0.0;
    conv_loop(REF_FWD, y, x, w, p);
}

void fcl_ref_conv2d_bwd_data(double *dx, const double *dy, const double *w,
                             const fcl_conv2d_params *p)
{
    conv_loop(REF_DATA, dx, dy, w, p);
}

void fcl_ref_conv2d_bwd_weight(double *dw, const double *dy, const double *x,
                               const fcl_conv2d_params *p)
{
    conv_loop(REF_WEIGHT, dw, dy, x, p);
}

void fcl_ref_conv2d_bwd_bias(double *db, const double *dy, const fcl_conv2d_params *p)
{
    int oh = fcl_conv2d_out_size(p->h, p->kh, p->stride_h, p->pad_h, p->dil_h);
    int ow = fcl_conv2d_out_size(p->w, p->kw, p->stride_w, p->pad_w, p->dil_w);
    size_t plane = (size_t)oh * ow;
    for (int n = 0; n < p->n; n++)
        for (int co = 0; co < p->cout; co++)
            for (size_t i = 0; i < plane; i++) db[co] += dy[((size_t)n * p->cout + co) * plane + i];
}
