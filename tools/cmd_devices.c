/* tools/cmd_devices.c: `facecl devices`: every OpenCL platform and device, and which --device picks. */
#include <stdio.h>
#include <string.h>

#include "commands.h"

static void print_mem(const char *label, uint64_t bytes)
{
    if (bytes >= (1ull << 30)) printf("    %-18s %.2f GiB\n", label, (double)bytes / (1ull << 30));
    else if (bytes >= (1ull << 20)) printf("    %-18s %.2f MiB\n", label, (double)bytes / (1ull << 20));
    else printf("    %-18s %.1f KiB\n", label, (double)bytes / 1024.0);
}

static void usage(void)
{
    printf("usage: facecl devices [--device SEL]\n\n"
           "Lists every OpenCL platform and device. With --device (or $FACECL_DEVICE) it also shows\n"
           "which device the selection picks, and fails when it matches nothing.\n"
           "SEL: P:D (platform:device indices), cpu | gpu | accelerator (the first of that type), or a\n"
           "case-insensitive part of the device or platform name (e.g. pocl, \"rx 7900\").\n");
}

int fcl_cmd_devices(int argc, char **argv)
{
    const char *sel = NULL;
    int bad = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage();
            return 0;
        }
        if (tool_opt(argc, argv, &i, "--device", &sel, &bad)) {
            if (bad) return 2;
            continue;
        }
        return tool_fail("devices: unknown option '%s' (see facecl devices --help)", argv[i]);
    }
    fcl_error err = {0};
    fcl_device_info *devs = NULL;
    size_t n = 0, chosen = 0;
    if (fcl_devices_list(&devs, &n, &err)) return tool_fail_err(&err);

    const char *effective = sel ? sel : getenv("FACECL_DEVICE");
    if (fcl_device_select(effective, devs, n, &chosen, &err)) {
        fcl_devices_free(devs);
        return tool_fail_err(&err); /* the message lists the devices that exist */
    }

    for (size_t i = 0; i < n; i++) {
        const fcl_device_info *d = &devs[i];
        printf("%d:%d%s %s\n", d->platform_index, d->device_index, i == chosen ? " *" : "  ", d->name);
        printf("    %-18s %s (%s)\n", "platform", d->platform, d->platform_version);
        printf("    %-18s %s\n", "type", fcl_device_type_name(d->type));
        printf("    %-18s %s\n", "vendor", d->vendor);
        printf("    %-18s %s\n", "driver", d->driver);
        printf("    %-18s %s\n", "device version", d->device_version);
        printf("    %-18s %s\n", "OpenCL C", d->c_version);
        printf("    %-18s %u\n", "compute units", d->compute_units);
        printf("    %-18s %u MHz\n", "clock", d->clock_mhz);
        print_mem("global memory", d->global_mem);
        print_mem("local memory", d->local_mem);
        print_mem("max allocation", d->max_alloc);
        printf("    %-18s %zu\n", "max work-group", d->max_work_group);
        printf("    %-18s fp16 %s, fp64 %s\n", "precision", d->has_fp16 ? "yes" : "no", d->has_fp64 ? "yes" : "no");
    }
    printf("\nselected (%s): %d:%d %s | %s\n", effective && *effective ? effective : "default: first GPU, else first device",
           devs[chosen].platform_index, devs[chosen].device_index, devs[chosen].platform, devs[chosen].name);
    fcl_devices_free(devs);
    return 0;
}
