/* tests/fuzz/fuzz_jpeg.c: libFuzzer target for the JPEG decoder (and format sniffing in front of it). */
#include <stddef.h>
#include <stdint.h>

#include <facecl/image.h>

#include "data/decode_internal.h"

/* See fuzz_png.c: a smaller pixel cap than the library's keeps legal-but-huge headers within
 * the fuzzer's memory limit (progressive JPEGs need a coefficient buffer for the whole image). */
static const fcl_decode_limits fuzz_limits = {FCL_IMAGE_MAX_SIDE, 1L << 22, 0};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const int channels = size % 3 == 0 ? 0 : size % 3 == 1 ? 1 : 3;
    fcl_image im = {0};
    fcl_error err;
    /* Through the front end, so inputs that lose the JPEG marker exercise the sniffing and the
     * "not an image" message too. */
    if (fcl_image_decode_mem_limited(data, size, "fuzz.jpg", channels, &fuzz_limits, &im, &err) == FCL_OK)
        fcl_image_free(&im);
    return 0;
}
