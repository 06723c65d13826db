/* tools/facecl.c: the `facecl` command: dispatches to one subcommand per file. */
#include <stdio.h>
#include <string.h>

#include "commands.h"

typedef struct fcl_cmd {
    const char *name;
    const char *summary;
    int (*fn)(int argc, char **argv);
} fcl_cmd;

#define FCL_CMD_ROW(name, summary) {#name, summary, fcl_cmd_##name},
static const fcl_cmd commands[] = {FCL_COMMANDS(FCL_CMD_ROW) {NULL, NULL, NULL}};

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
