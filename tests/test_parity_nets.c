/* tests/test_parity_nets.c: the other issue-12 networks (narrow IResNet, MobileFaceNet, EfficientNet, ConvNeXt, NFNet, ResNeSt) against PyTorch fixtures (tests/helpers/parity.c). */
#include <criterion/criterion.h>

#include "helpers/parity.h"

Test(parity, iresnet_forward_backward, .timeout = 300) { parity_forward_backward("iresnet50n"); }
Test(parity, iresnet_sgd_steps, .timeout = 300) { parity_sgd_steps("iresnet50n"); }
Test(parity, mobilefacenet_forward_backward, .timeout = 300) { parity_forward_backward("mobilefacenetn"); }
Test(parity, mobilefacenet_sgd_steps, .timeout = 300) { parity_sgd_steps("mobilefacenetn"); }
Test(parity, efficientnet_b0_forward_backward, .timeout = 300) { parity_forward_backward("efficientnet_b0n"); }
Test(parity, efficientnet_b0_sgd_steps, .timeout = 300) { parity_sgd_steps("efficientnet_b0n"); }
Test(parity, convnext_tiny_forward_backward, .timeout = 300) { parity_forward_backward("convnext_tinyn"); }
Test(parity, convnext_tiny_sgd_steps, .timeout = 300) { parity_sgd_steps("convnext_tinyn"); }
Test(parity, nfnet_f0_forward_backward, .timeout = 300) { parity_forward_backward("nfnet_f0n"); }
Test(parity, nfnet_f0_sgd_steps, .timeout = 300) { parity_sgd_steps("nfnet_f0n"); }
Test(parity, resnest50d_forward_backward, .timeout = 300) { parity_forward_backward("resnest50dn"); }
Test(parity, resnest50d_sgd_steps, .timeout = 300) { parity_sgd_steps("resnest50dn"); }
