/* tools/facecl.c: the `facecl` command: dispatches to one subcommand per file. */
#include <stdio.h>
#include <string.h>

#include "commands.h"

static const fcl_cmd commands[] = {
    {"devices", "list OpenCL platforms and devices (and test a --device selection)", fcl_cmd_devices},
    {"synth", "write a synthetic face dataset (the built-in data)", fcl_cmd_synth},
    {"data", "inspect a dataset or pair list: `facecl data inspect DIR [--pairs FILE]`", fcl_cmd_data},
    {"demo", "the main job on built-in data: synthetic faces, training, accuracy and verification", fcl_cmd_demo},
    {"train", "train a face classification / verification network (facecl train --help)", fcl_cmd_train},
    {"bench", "time ops on real layer shapes: `facecl bench ops [--batch 32] [--size 112]`", fcl_cmd_bench},
    {"tune", "measure the fastest kernel and GEMM parameters for this device into its tuning cache", fcl_cmd_tune},
    {"model", "show a model file's layers, shapes, parameters and FLOPs: `facecl model show resnet18`", fcl_cmd_model},
    {"eval", "classification accuracy / per-class report of a checkpoint on a folder, or predictions", fcl_cmd_eval},
    {"embed", "L2-normalised embeddings of a folder's images as .npy (+ index of paths)", fcl_cmd_embed},
    {"verify", "score a pair list by cosine similarity: ROC AUC, EER, TAR@FAR, k-fold accuracy", fcl_cmd_verify},
    {"identify", "1:N identification of probes against a gallery: top-K, decisions, CMC, DIR@FAR", fcl_cmd_identify},
    {"export", "write a checkpoint's network as an ONNX model (embedding or logits) for other runtimes", fcl_cmd_export},
    {NULL, NULL, NULL}};

static void usage(FILE *f)
{
    fprintf(f, "facecl %s: face classification and verification CNNs on any OpenCL device\n\n"
               "usage: facecl COMMAND [options]   (facecl COMMAND --help for its options)\n\n"
               "commands:\n", FACECL_VERSION_STRING);
    for (const fcl_cmd *c = commands; c->name; c++) fprintf(f, "  %-10s %s\n", c->name, c->summary);
    fprintf(f, "\nEvery command takes --device SEL (default $FACECL_DEVICE, else the first GPU, else the\n"
               "first device): P:D indices, cpu|gpu|accelerator, or part of the device/platform name.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("facecl %s\n", FACECL_VERSION_STRING);
        return 0;
    }
    for (const fcl_cmd *c = commands; c->name; c++)
        if (!strcmp(argv[1], c->name)) return c->fn(argc - 1, argv + 1);
    fprintf(stderr, "facecl: error: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}
