/* tests/fuzz/fuzz_pairs.c: libFuzzer target for the pair-list parser (plain and LFW layouts). */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <facecl/dataset.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) return 0;
    /* The first byte picks the layout; the rest is the text (not NUL-terminated: the parser
     * must respect the length). */
    const fcl_pairs_format fmt = (data[0] & 1) ? FCL_PAIRS_LFW : FCL_PAIRS_PLAIN;
    fcl_pair_list pl;
    fcl_error err;
    if (fcl_pairs_parse((const char *)data + 1, size - 1, "fuzz.txt", "root", fmt, 0, &pl, &err) == FCL_OK) {
        /* touch every string so ASan sees any bad pointer */
        size_t total = 0;
        for (size_t i = 0; i < pl.n; i++) total += strlen(pl.pairs[i].path1) + strlen(pl.pairs[i].path2);
        (void)total;
        fcl_pairs_free(&pl);
    }
    return 0;
}
