/* cl/pad.cl: constant (zero) 2-D padding with separate top / bottom / left / right amounts, and its
 * backward. Semantics: include/facecl/ops_pad.h; reference: host/ref/pad.c. */

/* y[p, oy, ox] = x[p, oy - top, ox - left] inside x, else value. x [P, H, W], y [P, OH, OW]
 * (P = N * C). Global: (OW, OH, P). */
__kernel void pad2d_fwd(FCL_TENSOR(y), FCL_CTENSOR(x), const int P, const int H, const int W,
                        const int OH, const int OW, const int top, const int left,
                        const float value)
{
    int ox = get_global_id(0), oy = get_global_id(1), p = get_global_id(2);
    if (ox >= OW || oy >= OH || p >= P)
        return;
    int iy = oy - top, ix = ox - left;
    y[y_off + (p * OH + oy) * OW + ox] =
        (iy >= 0 && iy < H && ix >= 0 && ix < W) ? x[x_off + (p * H + iy) * W + ix] : value;
}

/* dx[p, iy, ix] += dy[p, iy + top, ix + left] (every input pixel has exactly one output pixel).
 * Global: (W, H, P). */
__kernel void pad2d_bwd(FCL_TENSOR(dx), FCL_CTENSOR(dy), const int P, const int H, const int W,
                        const int OH, const int OW, const int top, const int left)
{
    int ix = get_global_id(0), iy = get_global_id(1), p = get_global_id(2);
    if (ix >= W || iy >= H || p >= P)
        return;
    dx[dx_off + (p * H + iy) * W + ix] += dy[dy_off + (p * OH + iy + top) * OW + ix + left];
}
