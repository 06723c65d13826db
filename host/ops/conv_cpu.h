/* host/ops/conv_cpu.h: the CPU-shaped convolution building blocks (cl/conv.cl): tuning, register-blocked GEMMs, im2col workspace (internal). */
#ifndef FACECL_OPS_CONV_CPU_H
#define FACECL_OPS_CONV_CPU_H

#include "facecl/ops_conv.h"
#include "ops/conv_gpu.h"
#include "ops/conv_prep.h"
#include "ops/op_util.h"

/* The context's "conv" tuning values (host/runtime/tuning_table.c, checked when set): the build
 * options of conv.cl / conv_dw.cl, the register-block sizes (they set the global sizes) and the
 * values only the host uses (local sizes, im2col chunk budget, the GPU-shaped kernels' tile). */
typedef struct fcl_conv_tune {
    int mb, nv, nb;        /* conv_gemm_nn: rows x (nv vectors of CONV_VW) columns per work-item, nb = VW * nv */
    int tm, tn, tw;        /* conv_gemm_nt: rows of dy x rows of B per work-item, vector width */
    int lnn, lnt;          /* work-group size along dim 0 of conv_gemm_nn / _nt; 0: driver's choice */
    int lother;            /* the same for the other kernels (im2col, pack, depthwise, ...) */
    int col_kb;            /* im2col buffer budget (KiB): images are processed in chunks that fit */
    int gpu;               /* CONV_GPU 1: the GPU-shaped kernels of host/ops/conv_gpu.c instead */
    int wino;              /* CONV_WINO 1: Winograd (host/ops/conv_wino.c) where it applies, automatically */
    int wino_s2;           /* CONV_WINO_S2 1: the stride-2 Winograd forward (host/ops/conv_wino.c), automatically */
    int bpanel;            /* CONV_BPANEL 1: built right operands of conv_gemm_nn in column panels */
    int wg_nn;             /* CONV_WG_NN: weight gradient on conv_gemm_nn up to this many pixels */
    int b1x1;              /* CONV_B1X1: 1x1 convs read x / dy in place from this P on (0: never) */
    int nt_kb;             /* CONV_NT_KB: chunk budget (KiB) of the weight gradient on conv_gemm_nt; 0: col_kb */
    int im_kb;             /* CONV_IM_KB: chunk budget (KiB) of the im2col GEMMs (forward, data gradient, wgrad_nn); 0: col_kb */
    int c2i_order;         /* CONV_C2I_ORDER: conv_col2im's grid, 1 images fastest, 0 channels fastest */
    fcl_conv_gpu_tune g;   /* their tile, group size and subgroup switch */
} fcl_conv_tune;

/* One operand of conv_gemm_nn / conv_gemm_nt: element (row r, column n = img * P + p) of group g
 * is at off + g * gs + img * img_stride + r * row + p (cl/conv.cl). */
typedef struct fcl_conv_operand {
    cl_mem buf;
    int off, img, row, g;
    int contig;             /* rows run contiguously over all columns (padded buffer) */
} fcl_conv_operand;

/* The GEMM-based algorithms work on a chunk of images at a time; each workspace buffer holds
 * `rows` rows of fcl_conv_col_ld(chunk) floats (whole column blocks, since the GEMM reads them). */
typedef struct fcl_conv_ws {
    cl_mem buf;
    size_t cap;
} fcl_conv_ws;


/* Reads the context's "conv" tuning values into *t. */
fcl_status fcl_conv_tune_get(fcl_ctx *ctx, fcl_conv_tune *t);
/* Starts binding the arguments of kernel `name` of src (a failure sticks in a->st). */
fcl_status fcl_conv_start(fcl_ctx *ctx, const fcl_op_src *src, const char *name, fcl_op_args *a);
/* Enqueues over dims dimensions with a work-group of l0 (0: CONV_LOCAL) x 1 x 1, or the driver's
 * choice when that is 0 too. */
fcl_status fcl_conv_launch(const fcl_conv_tune *t, fcl_op_args *a, unsigned dims, size_t g0, size_t g1, size_t g2,
                           size_t l0);

/* C[g](m, n) (+)= sum_k A[g](m, k) * B[g](k, n) (+ bias[g * M + m]) for m < M, n < ncols (columns
 * n = img * P + p), A packed by fcl_conv_pack for these M, K (cl/conv.cl conv_gemm_nn). */
fcl_status fcl_conv_gemm_nn(fcl_ctx *ctx, const fcl_conv_tune *t, int G, int M, int K, int P, int ncols, cl_mem a,
                            const fcl_conv_operand *b, const fcl_conv_operand *c, const fcl_tensor *bias,
                            int accumulate);
/* The same plus a residual res (NULL: none; its element at c's index + res_delta) and act (an
 * fcl_conv2d_act: none, ReLU, ReLU6) applied to every stored value: act(A * b + bias (+ c) + res). */
fcl_status fcl_conv_gemm_nn_act(fcl_ctx *ctx, const fcl_conv_tune *t, int G, int M, int K, int P, int ncols, cl_mem a,
                                const fcl_conv_operand *b, const fcl_conv_operand *c, const fcl_tensor *bias,
                                int accumulate, const fcl_tensor *res, int res_delta, int act);
/* c[g][m][j] (row stride N, groups M * N apart) += sum over columns of A(m, .) * B(j, .). */
fcl_status fcl_conv_gemm_nt(fcl_ctx *ctx, const fcl_conv_tune *t, int G, int M, int N, int P, int nimg,
                            const fcl_conv_operand *a, const fcl_conv_operand *b, const fcl_tensor *c);
/* Packs A(m, k) = w[w.offset + g * s_g + m * s_m + k * s_k] (m < M, k < K) for fcl_conv_gemm_nn
 * into *dst: a new pool buffer (*cap bytes; the caller frees it with fcl_pool_free) when *dst is
 * NULL, else the caller's buffer (large enough for G * ceil(M / mb) * mb * K floats). */
fcl_status fcl_conv_pack(fcl_ctx *ctx, const fcl_conv_tune *t, cl_mem *dst, size_t *cap, int G, int M, int K,
                         const fcl_tensor *w, int s_g, int s_m, int s_k);
/* The same with k = (image, pixel): A(m, k) = w[w.offset + g * s_g + m * s_m + (k / P) * s_img
 * + (k % P) * s_k] (a chunk of an NCHW tensor's images as one matrix, no gather). */
fcl_status fcl_conv_pack_img(fcl_ctx *ctx, const fcl_conv_tune *t, cl_mem *dst, size_t *cap, int G, int M, int K,
                             const fcl_tensor *w, int s_g, int s_m, int s_k, int P, int s_img);

/* Workspace rows are fcl_conv_col_ld(cnt images) floats long: whole column blocks. */
int fcl_conv_col_ld(const fcl_conv_tune *t, int cnt, int P);
/* Images per chunk such that `rows` workspace rows (all buffers together) fit CONV_COL_KB. */
int fcl_conv_plan_chunk(const fcl_conv_tune *t, size_t rows, int P, int n);
fcl_status fcl_conv_ws_alloc(fcl_ctx *ctx, const fcl_conv_tune *t, size_t rows, int chunk, int P, fcl_conv_ws *w);
void fcl_conv_ws_free(fcl_ctx *ctx, fcl_conv_ws *w);
/* im2col of images i0 .. i0 + cnt - 1 of x into dst ([G][Kg][ld]) for the geometry p, and its
 * adjoint accumulated into dx. */
fcl_status fcl_conv_im2col(fcl_ctx *ctx, const fcl_conv_tune *t, cl_mem dst, int ld, const fcl_tensor *x, int i0,
                           int cnt, const fcl_conv2d_params *p, int oh, int ow);
/* The same into workspace w as conv_gemm_nn's right operand *b (rows_g rows a group): in column
 * panels (b->contig 2, cl/conv.cl conv_im2col_panel) when CONV_BPANEL is 1, else rows. */
fcl_status fcl_conv_im2col_nn(fcl_ctx *ctx, const fcl_conv_tune *t, const fcl_conv_ws *w, int rows_g, int ld,
                              const fcl_tensor *x, int i0, int cnt, const fcl_conv2d_params *p, int oh, int ow,
                              fcl_conv_operand *b);
fcl_status fcl_conv_col2im(fcl_ctx *ctx, const fcl_conv_tune *t, fcl_tensor *dx, cl_mem col, int ld, int i0,
                           int cnt, const fcl_conv2d_params *p, int oh, int ow);
/* GEMM operands: y / dy (rows = output channels), x / dx (rows = input channels), both from
 * image i0 with P pixels an image; a workspace chunk [G][rows_g][ld]. */
fcl_conv_operand fcl_conv_out_operand(const fcl_tensor *t, int i0, const fcl_conv2d_params *p, int P);
fcl_conv_operand fcl_conv_in_operand(const fcl_tensor *t, int i0, const fcl_conv2d_params *p, int P);
fcl_conv_operand fcl_conv_ws_operand(const fcl_conv_ws *w, int rows_g, int ld, int P);

/* The im2col-GEMM algorithm (dense, grouped and 1x1 convolutions), already checked by conv.c; the
 * forward adds the residual r (NULL: none; y's shape) and applies p->out_act itself, and keeps its
 * packed weights in prep (NULL: a temporary). */
fcl_status fcl_conv_gemm_fwd(fcl_ctx *ctx, const fcl_conv_tune *t, fcl_tensor *y, const fcl_tensor *x,
                             const fcl_tensor *w, const fcl_tensor *b, const fcl_tensor *r, const fcl_conv2d_params *p,
                             int oh, int ow, fcl_conv_prep *prep);
fcl_status fcl_conv_gemm_bwd_data(fcl_ctx *ctx, const fcl_conv_tune *t, fcl_tensor *dx, const fcl_tensor *dy,
                                  const fcl_tensor *w, const fcl_conv2d_params *p, int oh, int ow);
fcl_status fcl_conv_gemm_bwd_weight(fcl_ctx *ctx, const fcl_conv_tune *t, fcl_tensor *dw, const fcl_tensor *dy,
                                    const fcl_tensor *x, const fcl_conv2d_params *p, int oh, int ow);

/* Row-major C (m x n) = op(A) op(B) (+ C when accumulate) on conv_gemm_nn (CONV_LINEAR: linear
 * layers, margin heads and pair similarities instead of CLBlast); (ta, tb) = (1, 1) is refused. */
fcl_status fcl_conv_rowmajor_gemm(fcl_ctx *ctx, const fcl_tensor *c, const fcl_tensor *a, int ta, const fcl_tensor *b,
                                  int tb, size_t m, size_t n, size_t k, int accumulate);

#endif
