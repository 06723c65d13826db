/* tests/test_parity.c: whole networks (narrow ResNet-18, MobileNetV2, MobileNetV1, RegNetX/Y) against PyTorch fixtures (tests/helpers/parity.c). */
#include <criterion/criterion.h>

#include "helpers/parity.h"

Test(parity, resnet18_forward_backward, .timeout = 300) { parity_forward_backward("resnet18n"); }
Test(parity, resnet18_sgd_steps, .timeout = 300) { parity_sgd_steps("resnet18n"); }
Test(parity, mobilenet_v2_forward_backward, .timeout = 300) { parity_forward_backward("mobilenet_v2n"); }
Test(parity, mobilenet_v2_sgd_steps, .timeout = 300) { parity_sgd_steps("mobilenet_v2n"); }
Test(parity, mobilenet_v1_forward_backward, .timeout = 300) { parity_forward_backward("mobilenet_v1n"); }
Test(parity, mobilenet_v1_sgd_steps, .timeout = 300) { parity_sgd_steps("mobilenet_v1n"); }
Test(parity, regnet_x_forward_backward, .timeout = 300) { parity_forward_backward("regnet_x_400mfn"); }
Test(parity, regnet_x_sgd_steps, .timeout = 300) { parity_sgd_steps("regnet_x_400mfn"); }
Test(parity, regnet_y_forward_backward, .timeout = 300) { parity_forward_backward("regnet_y_400mfn"); }
Test(parity, regnet_y_sgd_steps, .timeout = 300) { parity_sgd_steps("regnet_y_400mfn"); }
