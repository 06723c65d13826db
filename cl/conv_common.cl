/* cl/conv_common.cl: what the dense convolution programs share (conv.cl, conv_gpu.cl, conv_dw_gpu.cl): tap geometry and the im2col kernels' argument lists. */

/* The output columns ox in [*lo, *hi) whose input column ox * s + off lies inside [0, W). */
inline void conv_valid_range(int off, int s, int W, int OW, int *lo, int *hi)
{
    int l = off >= 0 ? 0 : (-off + s - 1) / s;
    int h = W - 1 - off >= 0 ? (W - 1 - off) / s + 1 : 0;
    l = min(l, OW);
    h = clamp(h, l, OW);
    *lo = l;
    *hi = h;
}

/* The output coordinate o in [0, O) whose tap k reads input coordinate i (o * s - pad + k * dil
 * == i), or -1 when there is none: the gather form of a convolution's adjoint. */
inline int conv_out_of(int i, int pad, int k, int dil, int s, int O)
{
    const int t = i + pad - k * dil;
    if (t < 0 || t % s) return -1;
    const int o = t / s;
    return o < O ? o : -1;
}

/* Runs stmt for every tap (kh, kw), in that order, whose output pixel (oy, ox) reads input pixel
 * (iy, ix) (oy and ox are declared for stmt). */
#define CONV_FOR_TAPS_READING(iy, ix, stmt)                                                        \
    for (int kh = 0; kh < KH; kh++) {                                                              \
        const int oy = conv_out_of(iy, ph, kh, dh, sh, OH);                                        \
        if (oy < 0) continue;                                                                      \
        for (int kw = 0; kw < KW; kw++) {                                                          \
            const int ox = conv_out_of(ix, pw, kw, dw, sw, OW);                                    \
            if (ox >= 0) stmt;                                                                     \
        }                                                                                          \
    }

/* The arguments of every im2col kernel (col [G][Cin_g * KH * KW][col_ld], groups col_g apart, from
 * the images of x starting at x_off) and of every col2im kernel (its adjoint into dx). */
#define CONV_IM2COL_ARGS                                                                           \
    __global float *restrict col, const int col_ld, const int col_g,                               \
        __global const float *restrict x, const int x_off, const int Cin, const int H, const int W, \
        const int Cin_g, const int KH, const int KW, const int sh, const int sw, const int ph,       \
        const int pw, const int dh, const int dw, const int OH, const int OW, const int nimg
#define CONV_COL2IM_ARGS                                                                           \
    __global float *restrict dx, const int dx_off, const int Cin, const int H, const int W,        \
        const int Cin_g, __global const float *restrict col, const int col_ld, const int col_g,    \
        const int KH, const int KW, const int sh, const int sw, const int ph, const int pw,         \
        const int dh, const int dw, const int OH, const int OW, const int nimg
