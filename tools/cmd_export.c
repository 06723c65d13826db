/* tools/cmd_export.c: `facecl export`: a checkpoint's network as an ONNX model (and facecl's own outputs on given inputs, for checking a runtime against). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "eval_common.h"
#include "options.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: facecl export --checkpoint CKPT --onnx FILE.onnx [--embedding | --logits] [options]\n\n"
            "Writes the checkpoint's network in inference form as an ONNX model (opset %d, IR version %d),\n"
            "encoded by facecl itself; onnxruntime, OpenCV DNN, TensorRT, OpenVINO ... load it. No device\n"
            "is needed. The model:\n"
            "  input  'input'  float [N, C, H, W]: pixel values in [0, 1] (8-bit value / 255), resized to\n"
            "                  the checkpoint's H x W; the checkpoint's eval normalisation ((x - mean) / std)\n"
            "                  is inside the graph, so do not normalise yourself\n"
            "  output 'embedding' float [N, D]: the embedding, L2-normalised per row, as `facecl embed`\n"
            "         writes it (cosine similarity = dot product); or with --logits\n"
            "         'logits' float [N, classes]: the classifier output before softmax\n"
            "Batch norm is kept as BatchNormalization nodes over the running statistics; the initialisers\n"
            "keep the checkpoint's state_dict names.\n\n"
            "options:\n"
            "  --checkpoint CKPT  checkpoint written by `facecl train` (required)\n"
            "  --onnx FILE.onnx   the model to write (required; written atomically)\n"
            "  --embedding        export the embedding (default)\n"
            "  --logits           export the classifier logits instead\n"
            "  --ref-input X.npy  also run facecl's own network (on --device) on X, a float32 [n, C, H, W]\n"
            "                     .npy of [0, 1] pixel values, through the loader and eval pipeline as\n"
            "                     `embed` / `eval` do, and write the chosen output to --ref-output\n"
            "  --ref-output Y.npy where the facecl outputs go (float32 [n, D or classes]);\n"
            "                     tools/check_onnx.py compares them with onnxruntime's\n"
            "  --device SEL       OpenCL device for --ref-input (default $FACECL_DEVICE, else the first GPU)\n",
            FCL_ONNX_OPSET, FCL_ONNX_IR_VERSION);
}

/* A loader source over the images of an [n, C, H, W] array. */
static fcl_status npy_get(void *user, size_t index, int channels, fcl_image *out, int *label, fcl_error *err)
{
    const fcl_npy *a = user;
    if ((size_t)channels != a->shape[1])
        return FCL_ERR(err, FCL_ERR_SHAPE, "--ref-input has %zu channels, the network takes %d", a->shape[1], channels);
    fcl_status st = fcl_image_alloc(out, (int)a->shape[1], (int)a->shape[2], (int)a->shape[3], err);
    if (st) return st;
    size_t per = a->shape[1] * a->shape[2] * a->shape[3];
    memcpy(out->data, a->data + index * per, per * sizeof *out->data);
    if (label) *label = -1;
    return FCL_OK;
}

/* facecl's output on the images of in_path, as embed (L2-normalised) or eval (logits) compute it. */
static int reference_run(const char *ckpt, const char *device, const char *in_path, const char *out_path, int logits)
{
    fcl_error err = {0};
    fcl_npy a = {0};
    tool_eval_setup s = {0};
    float *res = NULL;
    size_t dim = 0;
    int rc = 1;
    if (tool_npy_read(in_path, &a, 4, 0, "expected a float32 [n, C, H, W] array with n >= 1")) goto done;
    if (tool_eval_open(ckpt, device, 8, 1, &s)) goto done;
    if (a.shape[1] != (size_t)s.in.channels || a.shape[2] != (size_t)s.in.height || a.shape[3] != (size_t)s.in.width) {
        tool_fail("%s: images are %zux%zux%zu, the network takes %dx%dx%d", in_path, a.shape[1], a.shape[2], a.shape[3],
                  s.in.channels, s.in.height, s.in.width);
        goto done;
    }
    fcl_loader_source src = {a.shape[0], npy_get, &a, NULL};
    if (logits ? fcl_predict_source(s.ctx, s.net, &src, &s.in, NULL, NULL, &res, &dim)
               : fcl_embed_source(s.ctx, s.net, &src, &s.in, NULL, NULL, &res, &dim)) {
        tool_fail_err(fcl_ctx_error(s.ctx));
        goto done;
    }
    size_t shape[2] = {a.shape[0], dim};
    if (fcl_npy_write_f32(out_path, res, 2, shape, &err)) {
        tool_fail_err(&err);
        goto done;
    }
    printf("export: facecl's %s of %zu images (%s) written to %s\n", logits ? "logits" : "embeddings", a.shape[0],
           fcl_ctx_device(s.ctx)->name, out_path);
    rc = 0;
done:
    free(res);
    fcl_npy_free(&a);
    tool_eval_close(&s);
    return rc;
}

int fcl_cmd_export(int argc, char **argv)
{
    const char *ckpt = NULL, *onnx = NULL, *device = NULL, *ref_in = NULL, *ref_out = NULL;
    int emb = 0, logits = 0, m = 0;
    const tool_old_opt strs[] = {TOOL_OLD_STR("--checkpoint", &ckpt), TOOL_OLD_STR("--onnx", &onnx),
                                 TOOL_OLD_STR("--device", &device), TOOL_OLD_STR("--ref-input", &ref_in),
                                 TOOL_OLD_STR("--ref-output", &ref_out)};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--embedding")) {
            emb = 1;
        } else if (!strcmp(a, "--logits")) {
            logits = 1;
        } else if ((m = tool_old_opts_match("export", strs, sizeof strs / sizeof strs[0], NULL, argc, argv, &i)) != 0) {
            if (m < 0) return 2;
        } else {
            tool_fail("export: %s '%s' (see facecl export --help)", a[0] == '-' ? "unknown option" : "unexpected argument", a);
            return 2;
        }
    }
    if (!ckpt || !onnx) {
        tool_fail("export: %s is required (see facecl export --help)", !ckpt ? "--checkpoint CKPT" : "--onnx FILE.onnx");
        return 2;
    }
    if (emb && logits) {
        tool_fail("export: --embedding and --logits exclude each other: one output per model");
        return 2;
    }
    if (!ref_in != !ref_out) {
        tool_fail("export: --ref-input and --ref-output go together");
        return 2;
    }
    if (tool_mkdirs_parent(onnx) || (ref_out && tool_mkdirs_parent(ref_out))) return 1;
    fcl_error err = {0};
    fcl_export_summary sum;
    fcl_export_output what = logits ? FCL_EXPORT_LOGITS : FCL_EXPORT_EMBEDDING;
    if (fcl_onnx_export_checkpoint(ckpt, what, onnx, &sum, &err)) return tool_fail_err(&err);
    printf("export: wrote %s (ONNX opset %d: %d nodes, %d initialisers, %lld parameters; input float [N, %d, %d, %d]%s; "
           "output '%s' float [N, %d])\n",
           onnx, FCL_ONNX_OPSET, sum.nodes, sum.initializers, (long long)sum.parameters, sum.channels, sum.height,
           sum.width, sum.normalisation ? " in [0, 1], normalised inside" : " in [0, 1]",
           logits ? "logits" : "embedding", sum.out_dim);
    if (ref_in) return reference_run(ckpt, device, ref_in, ref_out, logits);
    return 0;
}
