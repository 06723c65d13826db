/* cl/conv_act.cl: the fused output activation of a forward convolution (fcl_conv2d_params.out_act), bit for bit cl/act.cl's ReLU / ReLU6. */

/* act: 0 none, 1 ReLU, 2 ReLU6 (fcl_conv2d_act), a runtime kernel argument (uniform branch).
 * v is a float or floatN expression of type T, evaluated once per use: pass a variable. The
 * selects are act.cl's F_RELU / CLAMPN, so NaN propagates as in PyTorch and the fused result
 * equals the conv followed by fcl_act_fwd exactly. */
#define CONV_ACT_RELU(T, v) select((v), (T)(0.0f), (v) < (T)(0.0f))
#define CONV_ACT_RELU6(T, v) select(select((v), (T)(0.0f), (v) < (T)(0.0f)), (T)(6.0f), (v) > (T)(6.0f))
#define CONV_ACT(T, v, act) ((act) == 1 ? CONV_ACT_RELU(T, v) : (act) == 2 ? CONV_ACT_RELU6(T, v) : (v))
