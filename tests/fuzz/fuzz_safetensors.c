/* tests/fuzz/fuzz_safetensors.c: libFuzzer target for the safetensors reader (jansson parses the header; no crash, no leak, invariants hold). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "facecl/safetensors.h"

/* Run: tests/fuzz/fuzz_safetensors -max_total_time=120 CORPUS tests/fixtures (the fixtures seed
 * it with real files). Every accepted file must satisfy the documented invariants. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fcl_error err;
    fcl_error_clear(&err);

    /* the whole reader */
    fcl_checkpoint c;
    if (fcl_st_load_mem(&c, data, size, "fuzz", &err) != FCL_OK) {
        if (c.count != 0 || c.blob != NULL) abort();   /* failures leave nothing behind */
        return 0;
    }
    fcl_st_expect *want = calloc(c.count + 1, sizeof *want);
    if (!want) abort();
    size_t total = 0;
    for (size_t i = 0; i < c.count; i++) {
        const fcl_st_tensor *t = &c.tensors[i];
        size_t es = fcl_st_dtype_size(t->dtype);
        if (es == 0 || t->nbytes != t->numel * es || (t->nbytes && !t->data) || t->ndim > FCL_ST_MAX_DIMS)
            abort();
        if (t->data && (uintptr_t)t->data % es) abort();   /* aligned for the dtype */
        total += t->nbytes;
        if (total > size) abort();                        /* tensors come from the input */
        float *f = malloc(t->numel * sizeof(float) + 1);
        if (!f) abort();
        if (fcl_st_tensor_to_f32(t, f, t->numel, &err) != FCL_OK) abort();
        free(f);
        want[i].name = t->name;
        want[i].ndim = t->ndim;
        memcpy(want[i].shape, t->shape, sizeof t->shape);
    }
    /* a checkpoint always matches its own shapes */
    if (fcl_st_check_shapes(&c, "fuzz", want, c.count, NULL, &err) != FCL_OK) abort();
    free(want);
    fcl_ckpt_free(&c);
    return 0;
}
