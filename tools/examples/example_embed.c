/* tools/examples/example_embed.c: facecl as a library: load a checkpoint, embed two face images, print their cosine similarity (public API only; not part of the facecl command). */
/*
 * Build against an installed facecl (cmake --install build --prefix PREFIX):
 *   export PKG_CONFIG_PATH=PREFIX/lib/pkgconfig
 *   cc -std=c11 -o example_embed example_embed.c $(pkg-config --cflags --libs --static facecl)
 *   ./example_embed run/best.safetensors a.png b.png [--tta flip] [--device SEL]
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <facecl/facecl.h>

int main(int argc, char **argv)
{
    const char *ckpt = NULL, *img[2] = {NULL, NULL}, *device = getenv("FACECL_DEVICE");
    int tta = 0, n_img = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--tta") && i + 1 < argc && !strcmp(argv[i + 1], "flip")) {
            tta = 1;
            i++;
        } else if (!strcmp(argv[i], "--device") && i + 1 < argc) {
            device = argv[++i];
        } else if (!ckpt) {
            ckpt = argv[i];
        } else if (n_img < 2) {
            img[n_img++] = argv[i];
        } else {
            n_img = 3;
        }
    }
    if (!ckpt || n_img != 2) {
        fprintf(stderr, "usage: %s CHECKPOINT IMAGE1 IMAGE2 [--tta flip] [--device SEL]\n", argv[0]);
        return 2;
    }

    fcl_error err = {0};
    fcl_ctx *ctx = NULL;
    fcl_model *model = NULL;
    fcl_net *net = NULL;
    float *emb = NULL;
    size_t dim = 0;
    int rc = 1;

    /* How the checkpoint wants its input: size, channels, normalisation. */
    fcl_eval_input in;
    fcl_aug_pipeline pipeline;
    memset(&in, 0, sizeof in);
    if (fcl_eval_input_from_checkpoint(ckpt, &in, &pipeline, NULL, &err)) {
        fprintf(stderr, "error: %s\n", err.msg);
        return 1;
    }
    in.batch = 2;
    in.workers = 1;
    in.tta_flip = tta;

    fcl_ctx_opts opts;
    memset(&opts, 0, sizeof opts);
    opts.device = device; /* NULL: the first GPU, else the first device */
    if (fcl_ctx_create(&ctx, &opts, &err)) {
        fprintf(stderr, "error: %s\n", err.msg);
        return 1;
    }
    if (fcl_net_from_checkpoint(ctx, ckpt, in.batch, &model, &net)) goto fail;

    /* Both images in one batch; rows come back L2-normalised. */
    fcl_loader_source src = fcl_eval_source_paths(img, 2);
    if (fcl_embed_source(ctx, net, &src, &in, NULL, NULL, &emb, &dim)) goto fail;

    double cos = 0.0;
    for (size_t j = 0; j < dim; j++) cos += (double)emb[j] * (double)emb[dim + j];
    printf("model %s on %s, embedding %zu\n", model->name, fcl_ctx_device(ctx)->name, dim);
    printf("cosine similarity %.6f\n", cos);
    rc = 0;
fail:
    if (rc) fprintf(stderr, "error: %s\n", fcl_ctx_errmsg(ctx));
    free(emb);
    fcl_net_destroy(net);
    fcl_model_free(model);
    fcl_ctx_destroy(ctx);
    return rc;
}
