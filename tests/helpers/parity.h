/* tests/helpers/parity.h: whole-network parity against the fixtures of tools/torch_parity.py. */
#ifndef FACECL_TESTS_PARITY_H
#define FACECL_TESTS_PARITY_H

/* tests/fixtures/parity_<name>.safetensors and parity_<name>_out.safetensors (torch in float64;
 * facecl in float32). parity_forward_backward: eval logits and train logits within 1e-3, loss
 * within 1e-3, every gradient within 1e-2 by a per-tensor norm (or 20x PyTorch's own spread where
 * the fixture holds grad_spread.*). parity_sgd_steps: 5 SGD steps (momentum 0.9, weight decay
 * 5e-4 on conv / linear weights), each loss within max(1e-3, 2x PyTorch's float32 drift / spread).
 * Call inside a Test() body. */
void parity_forward_backward(const char *name);
void parity_sgd_steps(const char *name);

#endif
