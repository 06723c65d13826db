/* cl/linear.cl: the bias parts of the fully connected layer (the products go through fcl_gemm). */

/* FCL_VEC columns per work-item as vloadN/vstoreN (explicit SIMD: see cl/eltwise.cl). */
#ifndef FCL_VEC
#error "FCL_VEC comes from the \"eltwise\" tuning family (host/runtime/tuning_table.c)"
#endif

/* y [rows, cols] += b [cols] broadcast over rows. Global: (ceil(cols / FCL_VEC), rows). */
__kernel void linear_bias_fwd(FCL_TENSOR(y), FCL_CTENSOR(b), const int rows, const int cols)
{
    int j0 = get_global_id(0) * FCL_VEC, r = get_global_id(1);
    if (r >= rows)
        return;
    __global float *yr = y + y_off + r * cols;
    if (j0 + FCL_VEC <= cols) {
        VSTORE(VLOAD(0, yr + j0) + VLOAD(0, b + b_off + j0), 0, yr + j0);
    } else {
        for (int j = j0; j < cols; j++)
            yr[j] += b[b_off + j];
    }
}

/* db [cols] += sum over rows of dy [rows, cols]. Each work-item owns FCL_VEC adjacent columns
 * and adds the rows in order (no atomics, same bits every run). Global: ceil(cols / FCL_VEC). */
__kernel void linear_bias_bwd(FCL_TENSOR(db), FCL_CTENSOR(dy), const int rows, const int cols)
{
    int j0 = get_global_id(0) * FCL_VEC;
    if (j0 + FCL_VEC <= cols) {
        VF acc = (VF)(0.0f);
        for (int r = 0; r < rows; r++)
            acc += VLOAD(0, dy + dy_off + r * cols + j0);
        VSTORE(VLOAD(0, db + db_off + j0) + acc, 0, db + db_off + j0);
    } else {
        for (int j = j0; j < cols; j++) {
            float acc = 0.0f;
            for (int r = 0; r < rows; r++)
                acc += dy[dy_off + r * cols + j];
            db[db_off + j] += acc;
        }
    }
}
