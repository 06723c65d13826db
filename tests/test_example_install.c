/* tests/test_example_install.c: tools/examples/example_embed.c built against the INSTALLED library through pkg-config (cmake --install to a temporary prefix), run on a checkpoint trained here, checked against `facecl embed`. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <facecl/facecl.h>

#include "helpers/cmdline.h"

/* Cosine of the two rows of an [2, D] .npy written by `facecl embed`. */
static double npy_cosine(const char *path)
{
    fcl_npy a;
    fcl_error e = {0};
    cr_assert_eq(fcl_npy_read_f32(path, &a, &e), FCL_OK, "%s", e.msg);
    cr_assert(a.ndim == 2 && a.shape[0] == 2, "%s: want 2 rows", path);
    size_t d = a.shape[1];
    double s = 0;
    for (size_t j = 0; j < d; j++) s += (double)a.data[j] * a.data[d + j];
    fcl_npy_free(&a);
    return s;
}

Test(example, builds_against_installed_library_and_agrees_with_embed, .timeout = 600)
{
    char dir[] = "/tmp/fcl_exampleXXXXXX";
    cr_assert(mkdtemp(dir));
    char *out = NULL;
    /* Install this build, then find the .pc wherever the libdir put it. */
    int rc = fcl_test_run(&out, "cmake --install '%s' --prefix '%s/prefix' >/dev/null && dirname \"$(find '%s/prefix' -name facecl.pc | head -n 1)\"",
                 FACECL_BINARY_DIR, dir, dir);
    cr_assert_eq(rc, 0, "install failed: %s", out);
    char pc[1024];
    snprintf(pc, sizeof pc, "%s", out);
    pc[strcspn(pc, "\n")] = '\0';
    free(out);
    cr_assert(strstr(pc, "pkgconfig"), "no facecl.pc installed: '%s'", pc);

    /* The installed library ships what users call, not the tests' references (host/ref/): its
     * defined symbols (nm -D for a shared library) hold fcl_gemm but no fcl_ref_ name. */
    rc = fcl_test_run(&out, "for f in $(find '%s/prefix' -name 'libfacecl.*' -type f); do case \"$f\" in *.a) nm --defined-only \"$f\";; "
                   "*) nm -D --defined-only \"$f\";; esac || exit 1; done | awk '$2 ~ /^[TDBR]$/ {print $3}' | sort -u",
                   dir);
    cr_assert_eq(rc, 0, "nm of the installed library failed: %s", out);
    cr_assert(strstr(out, "\nfcl_gemm\n") || strncmp(out, "fcl_gemm\n", 9) == 0, "no fcl_gemm among the installed library's symbols");
    cr_assert(!strstr(out, "fcl_ref_"), "the installed library exports a reference: %.200s", strstr(out, "fcl_ref_"));
    free(out);

    /* The program, compiled only against what was installed (no source-tree include path). */
    rc = fcl_test_run(&out, "cd '%s' && export PKG_CONFIG_PATH='%s' && cc -std=c11 -Wall -Wextra -Werror -o example_embed "
                   "'%s/tools/examples/example_embed.c' $(pkg-config --cflags --libs --static facecl)",
             dir, pc, FACECL_SOURCE_DIR);
    cr_assert_eq(rc, 0, "example does not build against the installed facecl: %s", out);
    free(out);

    /* A checkpoint trained here by the installed command (tiny set, 2 epochs). */
    rc = fcl_test_run(&out, "cd '%s' && export FACECL_MODELS=prefix/share/facecl/models && ./prefix/bin/facecl synth --ids 4 "
                   "--per-id 8 --size 32 --gray --seed 3 --unseen-ids 2 --pairs 0 ds >/dev/null && ./prefix/bin/facecl train "
                   "--train ds/train --model small --size 32 --channels 1 --epochs 2 --batch 8 --quiet --out run",
             dir);
    cr_assert_eq(rc, 0, "training failed: %s", out);
    free(out);
    rc = fcl_test_run(&out, "cd '%s' && mkdir two && cp ds/unseen/u0000/000.png two/a.png && cp ds/unseen/u0001/001.png two/b.png", dir);
    cr_assert_eq(rc, 0, "%s", out);
    free(out);

    /* The same image twice: cosine 1. */
    rc = fcl_test_run(&out, "cd '%s' && ./example_embed run/best.safetensors two/a.png two/a.png", dir);
    cr_assert_eq(rc, 0, "example failed: %s", out);
    cr_assert(fabs(fcl_test_number_after(out, "cosine similarity") - 1.0) < 2e-6, "%s", out);
    free(out);

    for (int tta = 0; tta < 2; tta++) {
        const char *flag = tta ? "--tta flip" : "";
        rc = fcl_test_run(&out, "cd '%s' && ./example_embed run/best.safetensors two/a.png two/b.png %s", dir, flag);
        cr_assert_eq(rc, 0, "example failed: %s", out);
        double c = fcl_test_number_after(out, "cosine similarity");
        free(out);
        rc = fcl_test_run(&out, "cd '%s' && ./prefix/bin/facecl embed --checkpoint run/best.safetensors two --out e%d.npy %s", dir, tta,
                 flag);
        cr_assert_eq(rc, 0, "embed failed: %s", out);
        free(out);
        char npy[256];
        snprintf(npy, sizeof npy, "%s/e%d.npy", dir, tta);
        double want = npy_cosine(npy);
        cr_assert(fabs(c - want) < 2e-6, "%s: example %.6f, facecl embed %.6f", flag, c, want);
        cr_assert(fabs(want) < 0.999999, "two different faces should not score 1");
    }

    /* Usage and errors. */
    rc = fcl_test_run(&out, "cd '%s' && ./example_embed run/best.safetensors two/a.png", dir);
    cr_assert_eq(rc, 2, "%s", out);
    cr_assert(strstr(out, "usage:"), "%s", out);
    free(out);
    rc = fcl_test_run(&out, "cd '%s' && ./example_embed run/best.safetensors two/a.png two/missing.png", dir);
    cr_assert_eq(rc, 1, "%s", out);
    cr_assert(strstr(out, "missing.png"), "%s", out);
    free(out);

    cr_assert(fcl_test_rm_rf(dir));
}
