/* tools/cmd_devices.c: `facecl devices`: every OpenCL platform and device, and which --device picks. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"

static void print_mem(const char *label, uint64_t bytes)
{
    if (bytes >= (1ull << 30)) printf("    %-18s %.2f GiB\n", label, (double)bytes / (1ull << 30));
    else if (bytes >= (1ull << 20)) printf("    %-18s %.2f MiB\n", label, (double)bytes / (1ull << 20));
    else printf("    %-18s %.1f KiB\n", label, (double)bytes / 1024.0);
}

/* --check: build the runtime's kernel on the selected device and run it once, timing the build
 * (from source, or from the disk cache on later runs) and checking the result. */
static int check_device(const char *sel)
{
    int rc = 1;
    fcl_tensor x = {0};
    double t0 = tool_now_s();
    fcl_ctx *ctx = tool_ctx(sel, 0);
    if (!ctx) return 1;
    double t1 = tool_now_s();
    cl_kernel k;
    if (fcl_kernel_get(ctx, "runtime.cl", "axpy", fcl_ctx_tuning(ctx, "eltwise"), &k)) goto fail;
    int origin = fcl_ctx_last_program_origin(ctx);
    enum { N = 1031 };
    float h[N];
    for (int i = 0; i < N; i++) h[i] = (float)i;
    if (fcl_tensor_alloc4(ctx, &x, 1, 1, 1, N) || fcl_tensor_upload(ctx, &x, h, N)) goto fail;
    int n = N, off = (int)x.offset;
    float a = 1.0f;
    size_t g = N, l = fcl_ctx_wg1d(ctx);
    if (fcl_kernel_arg(ctx, k, 0, sizeof n, &n) || fcl_kernel_arg(ctx, k, 1, sizeof a, &a) ||
        fcl_kernel_arg(ctx, k, 2, sizeof x.buf, &x.buf) || fcl_kernel_arg(ctx, k, 3, sizeof off, &off) ||
        fcl_kernel_arg(ctx, k, 4, sizeof x.buf, &x.buf) || fcl_kernel_arg(ctx, k, 5, sizeof off, &off) ||
        fcl_kernel_run(ctx, k, 1, &g, &l) || fcl_tensor_download(ctx, &x, h, N))
        goto fail;
    double t2 = tool_now_s();
    for (int i = 0; i < N; i++)
        if (h[i] != 2.0f * (float)i) {
            tool_fail("check: wrong result at %d: %g (expected %g)", i, h[i], 2.0 * i);
            goto done;
        }
    printf("check: %s OK: context %.1f ms, first kernel build+run %.1f ms (program %s; cache %s)\n",
           fcl_ctx_device(ctx)->name, 1e3 * (t1 - t0), 1e3 * (t2 - t1),
           origin == 1                          ? "from the disk cache"
           : fcl_ctx_driver_kernel_cache(ctx) ? "built through the driver's own kernel cache (PoCL: POCL_CACHE_DIR)"
                                              : "built from source",
           fcl_ctx_cache_dir(ctx)[0] ? fcl_ctx_cache_dir(ctx) : "off");
    rc = 0;
    goto done;
fail:
    tool_fail_err(fcl_ctx_error(ctx));
done:
    fcl_tensor_release(ctx, &x);
    fcl_ctx_destroy(ctx);
    return rc;
}

static void usage(void)
{
    printf("usage: facecl devices [--device SEL] [--check]\n\n"
           "Lists every OpenCL platform and device. With --device (or $FACECL_DEVICE) it also shows\n"
           "which device the selection picks, and fails when it matches nothing.\n"
           "SEL: P:D (platform:device indices), cpu | gpu | accelerator (the first of that type), or a\n"
           "case-insensitive part of the device or platform name (e.g. pocl, \"rx 7900\").\n"
           "--check builds and runs a kernel on the selected device and reports the build time.\n");
}

int fcl_cmd_devices(int argc, char **argv)
{
    const char *sel = NULL;
    int bad = 0, check = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage();
            return 0;
        }
        if (!strcmp(argv[i], "--check")) {
            check = 1;
            continue;
        }
        if (tool_opt(argc, argv, &i, "--device", &sel, &bad)) {
            if (bad) return 2;
            continue;
        }
        return tool_usage_error("devices: unknown option '%s' (see facecl devices --help)", argv[i]);
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
    return check ? check_device(effective) : 0;
}
