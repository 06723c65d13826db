/* host/runtime/device_rank.c: the r-th device of a --device selection, for one process per device. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "facecl/device.h"

fcl_status fcl_device_select_rank(const char *sel, const fcl_device_info *devs, size_t count, int rank,
                                  size_t *chosen, fcl_error *err)
{
    if (rank < 0) rank = 0;
    if (!sel) sel = "";
    if (strchr(sel, ',')) { /* an explicit list: item rank (wrapping) */
        char buf[512], *save = NULL, *items[64];
        int n = 0;
        snprintf(buf, sizeof buf, "%s", sel);
        for (char *t = strtok_r(buf, ",", &save); t && n < 64; t = strtok_r(NULL, ",", &save)) items[n++] = t;
        if (!n) return fcl_device_select("", devs, count, chosen, err);
        return fcl_device_select(items[rank % n], devs, count, chosen, err);
    }
    size_t first = 0;
    fcl_status st = fcl_device_select(sel, devs, count, &first, err);
    if (st || rank == 0) {
        *chosen = first;
        return st;
    }
    /* Every device the same selection matches on its own (a one-device list): "gpu" keeps the
     * GPUs, a name keeps the devices whose name (or platform) contains it. An empty selection
     * means the GPUs if there are any, else every device. */
    size_t *match = malloc((count ? count : 1) * sizeof *match), m = 0;
    if (!match) return FCL_ERR(err, FCL_ERR_NOMEM, "out of host memory");
    int any_gpu = 0;
    for (size_t i = 0; i < count; i++) any_gpu |= (devs[i].type & CL_DEVICE_TYPE_GPU) != 0;
    for (size_t i = 0; i < count; i++) {
        size_t one = 0;
        int ok = *sel ? fcl_device_select(sel, devs + i, 1, &one, NULL) == FCL_OK
                      : !any_gpu || (devs[i].type & CL_DEVICE_TYPE_GPU);
        /* A CPU device of another platform is the same processor through a second vendor's
         * runtime (PoCL and Intel's on one Xeon), not a device of its own: ranks given both
         * oversubscribed the cores (Intel's thread pool takes every core) and ran 2 ranks at
         * half the speed of one. CPUs are shared within the first rank's platform. */
        if (ok && (devs[i].type & CL_DEVICE_TYPE_CPU) && devs[i].platform_index != devs[first].platform_index) ok = 0;
        if (ok) match[m++] = i;
    }
    *chosen = m ? match[(size_t)rank % m] : first;
    free(match);
    return FCL_OK;
}
