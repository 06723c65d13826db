/* tests/fuzz/fuzz_png.c: libFuzzer target for the PNG decoder (and the resize of what it decodes). */
#include <stddef.h>
#include <stdint.h>

#include <facecl/image.h>

#include "data/decode_internal.h"

/* The library allows 2^28 pixels; a few-KiB input can legitimately claim such a size, and its
 * float image would exceed the fuzzer's memory limit, so the fuzzer decodes with a smaller cap.
 * Chunk CRCs are not enforced, so mutations reach past the checksum (see decode_internal.h). */
static const fcl_decode_limits fuzz_limits = {FCL_IMAGE_MAX_SIDE, 1L << 22, 1};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* channels from the size, so every conversion path is reached without eating input bytes */
    const int channels = size % 3 == 0 ? 0 : size % 3 == 1 ? 1 : 3;
    fcl_image im = {0}, small = {0};
    fcl_error err;
    if (fcl_decode_png(data, size, "fuzz.png", channels, &fuzz_limits, &im, &err) == FCL_OK) {
        if (fcl_image_resize(&im, 7, 5, &small, &err) == FCL_OK) fcl_image_free(&small);
        fcl_image_free(&im);
    }
    return 0;
}
