/* tests/test_onnx_cli.c: `facecl export` refusals (bad arguments, layers without a mapping, missing weights, pipelines), atomic writes, and the command line. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <facecl/facecl.h>

#include "helpers/onnx_reader.h"
#include "helpers/cmdline.h"

#define FACECL FACECL_BINARY_DIR "/facecl"
#define SMALL FACECL_SOURCE_DIR "/models/small.model"
#define OPTS "channels=3 size_h=32 size_w=32 classes=5 embedding=16 width=1 stem=face"


TestSuite(onnx_refuse, .init = onnx_tmp_setup, .fini = onnx_tmp_teardown);
TestSuite(onnx_cli, .init = onnx_tmp_setup, .fini = onnx_tmp_teardown);

static void write_file(const char *path, const char *text) { fcl_test_write(path, text, strlen(text)); }

static void expect_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "rb");
    cr_assert(f, "%s is gone", path);
    char buf[256] = {0};
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    cr_assert_str_eq(buf, text, "%s was changed", path);
}

/* The folder holds exactly these names (no temporary file left behind). */
static void expect_dir(const char *names)
{
    DIR *d = opendir(onnx_tmp_dir);
    cr_assert(d);
    struct dirent *e;
    int n = 0;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        char want[64];
        snprintf(want, sizeof want, " %s ", e->d_name);
        cr_assert(strstr(names, want), "unexpected file %s in the output folder", e->d_name);
        n++;
    }
    closedir(d);
    int expected = 0;
    for (const char *p = names; *p; p++) expected += *p == ' ' && p[1] && p[1] != ' ';
    cr_assert_eq(n, expected, "%d files, expected %d (%s)", n, expected, names);
}

static void expect_refusal(fcl_status st, const fcl_error *err, fcl_status want, const char *needle)
{
    cr_assert_eq(st, want, "status %s, expected %s: %s", fcl_status_name(st), fcl_status_name(want), err->msg);
    cr_assert(strstr(err->msg, needle), "message lacks '%s': %s", needle, err->msg);
    cr_assert_neq(access(onnx_tmp_onnx, F_OK), 0, "a refused export wrote %s", onnx_tmp_onnx);
}

Test(onnx_refuse, logits_without_classifier)
{
    fcl_model *m;
    make_checkpoint(onnx_tmp_ckpt, SMALL, "small.model", "channels=1 size_h=32 size_w=32 classes=0 embedding=8 width=1 stem=face",
                    NULL, NULL, NULL, &m);
    fcl_error err = {0};
    expect_refusal(fcl_onnx_export_checkpoint(onnx_tmp_ckpt, FCL_EXPORT_LOGITS, onnx_tmp_onnx, NULL, &err), &err, FCL_ERR_INVALID_ARG,
                   "no classifier");
    cr_assert_eq(fcl_onnx_export_checkpoint(onnx_tmp_ckpt, FCL_EXPORT_EMBEDDING, onnx_tmp_onnx, NULL, &err), FCL_OK, "%s", err.msg);
    dmodel d;
    load_onnx(onnx_tmp_onnx, &d);
    cr_assert_eq(d.out[0].dims[1], 8);
    cr_assert_eq(d.in[0].dims[1], 1);
    free_onnx(&d);
    fcl_model_free(m);
}

/* A layer kind (or activation, or pooling setting) without a mapping is refused naming the
 * layer: what a layer kind added to facecl later gets until it is mapped. */
Test(onnx_refuse, unmapped_layers_named)
{
    fcl_model *m;
    make_checkpoint(onnx_tmp_ckpt, SMALL, "small.model", OPTS, NULL, NULL, NULL, &m);
    fcl_checkpoint c;
    fcl_error err = {0};
    cr_assert_eq(fcl_st_load(&c, onnx_tmp_ckpt, &err), FCL_OK, "%s", err.msg);
    int conv2 = -1, relu = -1;
    for (int i = 0; i < m->n_layers; i++) {
        if (!strcmp(m->layers[i].name, "conv2")) conv2 = i;
        if (m->layers[i].kind == FCL_LAYER_ACT && relu < 0) relu = i;
    }
    cr_assert(conv2 >= 0 && relu >= 0);
    fcl_layer saved = m->layers[conv2];
    m->layers[conv2].kind = FCL_LAYER_KIND_COUNT; /* a kind the table does not know */
    expect_refusal(fcl_onnx_export(m, &c, NULL, FCL_EXPORT_EMBEDDING, onnx_tmp_onnx, NULL, &err), &err, FCL_ERR_UNSUPPORTED,
                   "'conv2'");
    cr_assert(strstr(err.msg, "no ONNX mapping"), "%s", err.msg);
    m->layers[conv2] = saved;
    m->layers[relu].act.kind = FCL_ACT_COUNT;
    expect_refusal(fcl_onnx_export(m, &c, NULL, FCL_EXPORT_EMBEDDING, onnx_tmp_onnx, NULL, &err), &err, FCL_ERR_UNSUPPORTED,
                   "activation");
    m->layers[relu].act.kind = FCL_ACT_RELU;
    /* a layer the chosen output does not use is not looked at: the classifier for --embedding */
    m->layers[m->classifier_layer].kind = FCL_LAYER_KIND_COUNT;
    cr_assert_eq(fcl_onnx_export(m, &c, NULL, FCL_EXPORT_EMBEDDING, onnx_tmp_onnx, NULL, &err), FCL_OK, "%s", err.msg);
    fcl_ckpt_free(&c);
    fcl_model_free(m);
}

Test(onnx_refuse, missing_or_misshapen_weights)
{
    fcl_model *m;
    fcl_error err = {0};
    make_checkpoint(onnx_tmp_ckpt, SMALL, "small.model", OPTS, NULL, "layer1.0.bn2.running_var", NULL, &m);
    fcl_model_free(m);
    expect_refusal(fcl_onnx_export_checkpoint(onnx_tmp_ckpt, FCL_EXPORT_EMBEDDING, onnx_tmp_onnx, NULL, &err), &err, FCL_ERR_SHAPE,
                   "'layer1.0.bn2.running_var'");
    make_checkpoint(onnx_tmp_ckpt, SMALL, "small.model", OPTS, NULL, NULL, "conv2.weight", &m);
    fcl_model_free(m);
    expect_refusal(fcl_onnx_export_checkpoint(onnx_tmp_ckpt, FCL_EXPORT_EMBEDDING, onnx_tmp_onnx, NULL, &err), &err, FCL_ERR_SHAPE,
                   "'conv2.weight'");
}

Test(onnx_refuse, pipelines_and_files)
{
    fcl_model *m;
    fcl_error err = {0};
    make_checkpoint(onnx_tmp_ckpt, SMALL, "small.model", OPTS, "flip,norm=0.5:0.5", NULL, NULL, &m);
    fcl_model_free(m);
    expect_refusal(fcl_onnx_export_checkpoint(onnx_tmp_ckpt, FCL_EXPORT_EMBEDDING, onnx_tmp_onnx, NULL, &err), &err, FCL_ERR_UNSUPPORTED,
                   "'flip");
    make_checkpoint(onnx_tmp_ckpt, SMALL, "small.model", "channels=1 size_h=32 size_w=32 classes=5 embedding=16 width=1 stem=face",
                    "norm=0.4:0.5:0.6:0.2:0.25:0.5", NULL, NULL, &m);
    fcl_model_free(m);
    expect_refusal(fcl_onnx_export_checkpoint(onnx_tmp_ckpt, FCL_EXPORT_EMBEDDING, onnx_tmp_onnx, NULL, &err), &err, FCL_ERR_SHAPE,
                   "1-channel");
    /* not a safetensors file; a safetensors file that is no facecl checkpoint */
    write_file(onnx_tmp_ckpt, "this is not a checkpoint");
    expect_refusal(fcl_onnx_export_checkpoint(onnx_tmp_ckpt, FCL_EXPORT_EMBEDDING, onnx_tmp_onnx, NULL, &err), &err, FCL_ERR_FORMAT,
                   "c.safetensors");
    fcl_checkpoint c;
    fcl_ckpt_init(&c);
    float one = 1;
    size_t shape = 1;
    cr_assert_eq(fcl_ckpt_add_f32(&c, "x", 1, &shape, &one, &err), FCL_OK);
    cr_assert_eq(fcl_st_save(&c, onnx_tmp_ckpt, &err), FCL_OK);
    fcl_ckpt_free(&c);
    expect_refusal(fcl_onnx_export_checkpoint(onnx_tmp_ckpt, FCL_EXPORT_EMBEDDING, onnx_tmp_onnx, NULL, &err), &err, FCL_ERR_FORMAT,
                   "not a facecl checkpoint");
    expect_refusal(fcl_onnx_export_checkpoint("/nonexistent/c.safetensors", FCL_EXPORT_EMBEDDING, onnx_tmp_onnx, NULL, &err), &err,
                   FCL_ERR_IO, "/nonexistent/c.safetensors");
}

/* A failed export leaves an existing file as it was and no temporary file; a successful one
 * replaces it whole. */
Test(onnx_refuse, atomic_write)
{
    fcl_model *m;
    fcl_error err = {0};
    write_file(onnx_tmp_onnx, "previous model");
    make_checkpoint(onnx_tmp_ckpt, SMALL, "small.model", OPTS, NULL, "fc.bias", NULL, &m);
    fcl_model_free(m);
    cr_assert_eq(fcl_onnx_export_checkpoint(onnx_tmp_ckpt, FCL_EXPORT_LOGITS, onnx_tmp_onnx, NULL, &err), FCL_ERR_SHAPE, "%s", err.msg);
    expect_file(onnx_tmp_onnx, "previous model");
    expect_dir(" c.safetensors m.onnx ");
    cr_assert_eq(fcl_onnx_export_checkpoint(onnx_tmp_ckpt, FCL_EXPORT_EMBEDDING, onnx_tmp_onnx, NULL, &err), FCL_OK, "%s", err.msg);
    expect_dir(" c.safetensors m.onnx ");
    dmodel d;
    load_onnx(onnx_tmp_onnx, &d); /* the whole new model, decodable */
    cr_assert_str_eq(d.out[0].name, "embedding");
    free_onnx(&d);
    /* an output folder that does not exist: an I/O error naming the path */
    cr_assert_eq(fcl_onnx_export_checkpoint(onnx_tmp_ckpt, FCL_EXPORT_EMBEDDING, "/nonexistent/dir/m.onnx", NULL, &err), FCL_ERR_IO);
    cr_assert(strstr(err.msg, "/nonexistent/dir/m.onnx"), "%s", err.msg);
}

/* ---- the command line ----------------------------------------------------------------------- */

static char out[1 << 15];

/* Runs a shell command line; its exit status, and its output in out. */
#define run(...) fcl_test_run_buf(out, sizeof out, __VA_ARGS__)

Test(onnx_cli, bad_arguments_refused)
{
    cr_assert_eq(run(FACECL " export"), 2, "%s", out);
    cr_assert(strstr(out, "--checkpoint"), "%s", out);
    cr_assert_eq(run(FACECL " export --checkpoint %s", onnx_tmp_ckpt), 2, "%s", out);
    cr_assert(strstr(out, "--onnx"), "%s", out);
    cr_assert_eq(run(FACECL " export --checkpoint %s --onnx %s --embedding --logits", onnx_tmp_ckpt, onnx_tmp_onnx), 2, "%s", out);
    cr_assert(strstr(out, "exclude"), "%s", out);
    cr_assert_eq(run(FACECL " export --checkpoint %s --onnx %s --opset 12", onnx_tmp_ckpt, onnx_tmp_onnx), 2, "%s", out);
    cr_assert(strstr(out, "unknown option '--opset'"), "%s", out);
    cr_assert_eq(run(FACECL " export --checkpoint %s --onnx %s extra", onnx_tmp_ckpt, onnx_tmp_onnx), 2, "%s", out);
    cr_assert_eq(run(FACECL " export --checkpoint %s --onnx %s --ref-input x.npy", onnx_tmp_ckpt, onnx_tmp_onnx), 2, "%s", out);
    cr_assert(strstr(out, "go together"), "%s", out);
    cr_assert_eq(run(FACECL " export --checkpoint %s/none.safetensors --onnx %s", onnx_tmp_dir, onnx_tmp_onnx), 1, "%s", out);
    cr_assert(strstr(out, "none.safetensors"), "%s", out);
    cr_assert_neq(access(onnx_tmp_onnx, F_OK), 0);
    cr_assert_eq(run(FACECL " export --help"), 0);
    cr_assert(strstr(out, "opset 13"), "%s", out);
    cr_assert_eq(run(FACECL " --help"), 0);
    cr_assert(strstr(out, "export"), "%s", out);
}

/* Export through the command line (creating the output folder), and facecl's own outputs on an
 * .npy batch (--ref-input): L2-normalised rows, or logits, one per image. */
Test(onnx_cli, export_and_reference_outputs, .timeout = 300)
{
    fcl_model *m;
    make_checkpoint(onnx_tmp_ckpt, SMALL, "small.model", OPTS, "norm=0.5:0.5", NULL, NULL, &m);
    fcl_model_free(m);
    enum { N = 3, PER = 3 * 32 * 32 };
    float *x = malloc(N * PER * sizeof *x);
    for (int i = 0; i < N * PER; i++) x[i] = 0.5f + 0.5f * sinf(0.01f * (float)i);
    char xin[300], yout[300];
    snprintf(xin, sizeof xin, "%s/x.npy", onnx_tmp_dir);
    snprintf(yout, sizeof yout, "%s/ref/y.npy", onnx_tmp_dir);
    fcl_error err = {0};
    size_t shape[4] = {N, 3, 32, 32};
    cr_assert_eq(fcl_npy_write_f32(xin, x, 4, shape, &err), FCL_OK, "%s", err.msg);
    free(x);
    cr_assert_eq(run(FACECL " export --checkpoint %s --onnx %s/sub/m.onnx --ref-input %s --ref-output %s", onnx_tmp_ckpt, onnx_tmp_dir, xin,
                     yout), 0, "%s", out);
    cr_assert(strstr(out, "wrote"), "%s", out);
    char path[300];
    snprintf(path, sizeof path, "%s/sub/m.onnx", onnx_tmp_dir);
    dmodel d;
    load_onnx(path, &d);
    cr_assert_str_eq(d.out[0].name, "embedding");
    free_onnx(&d);
    fcl_npy y;
    cr_assert_eq(fcl_npy_read_f32(yout, &y, &err), FCL_OK, "%s", err.msg);
    cr_assert(y.ndim == 2 && y.shape[0] == N && y.shape[1] == 16);
    for (int i = 0; i < N; i++) {
        double s = 0;
        for (int j = 0; j < 16; j++) s += (double)y.data[i * 16 + j] * y.data[i * 16 + j];
        cr_assert_float_eq(s, 1.0, 1e-5, "row %d has squared norm %g", i, s);
    }
    fcl_npy_free(&y);
    cr_assert_eq(run(FACECL " export --checkpoint %s --onnx %s --logits --ref-input %s --ref-output %s", onnx_tmp_ckpt, onnx_tmp_onnx, xin,
                     yout), 0, "%s", out);
    cr_assert_eq(fcl_npy_read_f32(yout, &y, &err), FCL_OK, "%s", err.msg);
    cr_assert(y.ndim == 2 && y.shape[0] == N && y.shape[1] == 5);
    fcl_npy_free(&y);
    /* an input of the wrong size is refused */
    size_t bad[4] = {1, 3, 16, 16};
    float z[3 * 16 * 16] = {0};
    cr_assert_eq(fcl_npy_write_f32(xin, z, 4, bad, &err), FCL_OK);
    cr_assert_eq(run(FACECL " export --checkpoint %s --onnx %s --ref-input %s --ref-output %s", onnx_tmp_ckpt, onnx_tmp_onnx, xin, yout), 1,
                 "%s", out);
    cr_assert(strstr(out, "3x16x16"), "%s", out);
}
