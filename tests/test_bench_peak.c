/* tests/test_bench_peak.c: `facecl bench`'s FMA peak probe at float4/8/16 x 8/12/16 chains: every width builds, runs and reports, the best is kept. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers/cmdline.h"

#define FACECL FACECL_BINARY_DIR "/facecl"

/* `bench ops` with a filter that matches no row prints only the header: the device and its peak.
 * Empty kernel caches (facecl's and PoCL's), so every probe is compiled here: a driver's compiler
 * warnings on stderr (PoCL printed clang's -Wpsabi count for float16 on AVX2 CPUs) fail the test too. */
Test(bench_peak, every_width_measured_best_kept, .timeout = 120)
{
    const char *dev = getenv("FACECL_TEST_DEVICE");
    char *out = NULL, dir[256];
    fcl_test_tmpdir(dir, sizeof dir, "peak");
    int rc = fcl_test_run(&out, "POCL_CACHE_DIR='%s' FACECL_CACHE_DIR='%s' '%s' bench ops --reps 1 --filter no-such-op %s%s%s",
                          dir, dir, FACECL, dev ? "--device '" : "", dev ? dev : "", dev ? "'" : "");
    fcl_test_rm_rf(dir);
    cr_assert_eq(rc, 0, "%s", out);
    cr_assert(!strstr(out, "warning"), "%s", out);
    double best = fcl_test_number_after(out, "FMA peak:");
    double w[3];
    static const char *keys[3] = {"float4 ", "float8 ", "float16 "};
    double top = 0;
    for (int i = 0; i < 3; i++) {
        w[i] = fcl_test_number_after(out, keys[i]);
        cr_assert_gt(w[i], 0.0, "%s", out);
        /* each width names the chain count that gave its figure: "float8 200.1 (12 chains)" */
        const char *at = strstr(out, keys[i]);
        int chains = 0;
        cr_assert(at && sscanf(strchr(at, '(') ? strchr(at, '(') : "", "(%d chains)", &chains) == 1, "%s", out);
        cr_assert(chains == 8 || chains == 12 || chains == 16, "chains %d: %s", chains, out);
        if (w[i] > top) top = w[i];
    }
    cr_assert_eq(best, top, "the peak is the best width: %s", out);
    free(out);
}
