/* tests/fuzz/fuzz_model.c: libFuzzer target for the model-file parser (structure, expressions, blocks, shapes). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <facecl/model.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) return 0;
    /* The first byte picks the run-time options (so the classes == 0 / embedding paths and the
     * small sizes that shrink to nothing are reached); the rest is the text. */
    fcl_model_opts o;
    fcl_model_opts_init(&o);
    static const int sizes[4] = {FCL_MODEL_UNSET, 8, 32, 224};
    o.size = sizes[data[0] & 3];
    o.classes = (data[0] & 4) ? 0 : FCL_MODEL_UNSET;
    o.embedding = (data[0] & 8) ? 16 : FCL_MODEL_UNSET;
    o.channels = (data[0] & 16) ? 1 : FCL_MODEL_UNSET;
    o.stem = (data[0] & 32) ? "face" : NULL;
    char *text = malloc(size);
    if (!text) return 0;
    memcpy(text, data + 1, size - 1);
    text[size - 1] = '\0';
    fcl_model *m = NULL;
    fcl_error err;
    if (fcl_model_parse(text, "fuzz.model", &o, &m, &err) == FCL_OK) {
        /* walk the graph so ASan sees any bad index or pointer */
        size_t total = 0;
        for (int i = 0; i < m->n_layers; i++) {
            const fcl_layer *L = &m->layers[i];
            for (int j = 0; j < L->n_inputs; j++)
                if (L->inputs[j] >= 0) total += (size_t)m->layers[L->inputs[j]].out_c;
            for (int j = 0; j < L->n_params; j++) total += strlen(L->params[j].name);
        }
        (void)total;
        fcl_model_free(m);
    }
    free(text);
    return 0;
}
