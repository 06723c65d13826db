/* host/runtime/device.c: enumerating OpenCL devices and resolving a --device selection string. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "facecl/device.h"

#define INSTALL_HINT                                                                              \
    "To run on the CPU, install an OpenCL CPU runtime, e.g. on Debian/Ubuntu: "                  \
    "`apt-get install pocl-opencl-icd ocl-icd-libopencl1` (GPU users: the vendor's OpenCL driver)."

const char *fcl_device_type_name(cl_device_type t)
{
    if (t & CL_DEVICE_TYPE_GPU) return "GPU";
    if (t & CL_DEVICE_TYPE_CPU) return "CPU";
    if (t & CL_DEVICE_TYPE_ACCELERATOR) return "ACCELERATOR";
    if (t & CL_DEVICE_TYPE_CUSTOM) return "CUSTOM";
    return "DEFAULT";
}

static void info_str(cl_device_id d, cl_device_info what, char *buf, size_t size)
{
    buf[0] = '\0';
    if (clGetDeviceInfo(d, what, size - 1, buf, NULL) != CL_SUCCESS) buf[0] = '\0';
    buf[size - 1] = '\0';
}

/* Fills one record; queries that a driver refuses leave zeros rather than failing the listing. */
static void query_device(fcl_device_info *di, cl_platform_id p, cl_device_id d)
{
    memset(di, 0, sizeof *di);
    di->platform_id = p;
    di->device_id = d;
    clGetPlatformInfo(p, CL_PLATFORM_NAME, sizeof di->platform - 1, di->platform, NULL);
    clGetPlatformInfo(p, CL_PLATFORM_VERSION, sizeof di->platform_version - 1, di->platform_version, NULL);
    info_str(d, CL_DEVICE_NAME, di->name, sizeof di->name);
    info_str(d, CL_DEVICE_VENDOR, di->vendor, sizeof di->vendor);
    info_str(d, CL_DRIVER_VERSION, di->driver, sizeof di->driver);
    info_str(d, CL_DEVICE_VERSION, di->device_version, sizeof di->device_version);
    info_str(d, CL_DEVICE_OPENCL_C_VERSION, di->c_version, sizeof di->c_version);
    if (sscanf(di->c_version, "OpenCL C %d.%d", &di->c_major, &di->c_minor) != 2) {
        di->c_major = 1;
        di->c_minor = 2;
    }
    cl_uint u = 0;
    cl_ulong ul = 0;
    size_t sz = 0;
    if (clGetDeviceInfo(d, CL_DEVICE_TYPE, sizeof di->type, &di->type, NULL) != CL_SUCCESS) di->type = 0;
    if (clGetDeviceInfo(d, CL_DEVICE_MAX_COMPUTE_UNITS, sizeof u, &u, NULL) == CL_SUCCESS) di->compute_units = u;
    if (clGetDeviceInfo(d, CL_DEVICE_MAX_CLOCK_FREQUENCY, sizeof u, &u, NULL) == CL_SUCCESS) di->clock_mhz = u;
    if (clGetDeviceInfo(d, CL_DEVICE_GLOBAL_MEM_SIZE, sizeof ul, &ul, NULL) == CL_SUCCESS) di->global_mem = ul;
    if (clGetDeviceInfo(d, CL_DEVICE_LOCAL_MEM_SIZE, sizeof ul, &ul, NULL) == CL_SUCCESS) di->local_mem = ul;
    if (clGetDeviceInfo(d, CL_DEVICE_MAX_MEM_ALLOC_SIZE, sizeof ul, &ul, NULL) == CL_SUCCESS) di->max_alloc = ul;
    if (clGetDeviceInfo(d, CL_DEVICE_MAX_WORK_GROUP_SIZE, sizeof sz, &sz, NULL) == CL_SUCCESS) di->max_work_group = sz;
    /* the native width, not the preferred one: Intel's CPU runtime prefers 1 (it vectorises
     * across work-items) but reports the register's 8 floats natively; PoCL reports both alike */
    if (clGetDeviceInfo(d, CL_DEVICE_NATIVE_VECTOR_WIDTH_FLOAT, sizeof u, &u, NULL) == CL_SUCCESS)
        di->native_float_width = u;
    cl_device_local_mem_type lt = CL_LOCAL;
    if (clGetDeviceInfo(d, CL_DEVICE_LOCAL_MEM_TYPE, sizeof lt, &lt, NULL) == CL_SUCCESS)
        di->local_mem_is_global = (lt == CL_GLOBAL);
    char ext[8192];
    info_str(d, CL_DEVICE_EXTENSIONS, ext, sizeof ext);
    di->has_fp16 = strstr(ext, "cl_khr_fp16") != NULL;
    cl_device_fp_config fp = 0;
    di->has_fp64 = strstr(ext, "cl_khr_fp64") != NULL ||
                   (clGetDeviceInfo(d, CL_DEVICE_DOUBLE_FP_CONFIG, sizeof fp, &fp, NULL) == CL_SUCCESS && fp);
}

fcl_status fcl_devices_list(fcl_device_info **out, size_t *count, fcl_error *err)
{
    fcl_status st = FCL_OK;
    cl_platform_id *plats = NULL;
    fcl_device_info *devs = NULL;
    size_t n = 0, cap = 0;
    *out = NULL;
    *count = 0;

    cl_uint np = 0;
    cl_int rc = clGetPlatformIDs(0, NULL, &np);
    if (rc == -1001 /* CL_PLATFORM_NOT_FOUND_KHR: ICD loader found no driver */ || (rc == CL_SUCCESS && np == 0)) {
        st = FCL_ERR(err, FCL_ERR_NO_DEVICE, "clGetPlatformIDs: no OpenCL platform is installed (%s). " INSTALL_HINT,
                     fcl_cl_error_name(rc));
        goto fail;
    }
    if (rc != CL_SUCCESS) {
        st = FCL_ERR(err, FCL_ERR_OPENCL, "clGetPlatformIDs: %s. " INSTALL_HINT, fcl_cl_error_name(rc));
        goto fail;
    }
    plats = calloc(np, sizeof *plats);
    if (!plats) { st = FCL_ERR(err, FCL_ERR_NOMEM, "out of host memory listing platforms"); goto fail; }
    rc = clGetPlatformIDs(np, plats, NULL);
    if (rc != CL_SUCCESS) { st = FCL_ERR(err, FCL_ERR_OPENCL, "clGetPlatformIDs: %s", fcl_cl_error_name(rc)); goto fail; }

    for (cl_uint p = 0; p < np; p++) {
        cl_uint nd = 0;
        rc = clGetDeviceIDs(plats[p], CL_DEVICE_TYPE_ALL, 0, NULL, &nd);
        if (rc == CL_DEVICE_NOT_FOUND || nd == 0) continue; /* an empty platform is not an error */
        if (rc != CL_SUCCESS) { st = FCL_ERR(err, FCL_ERR_OPENCL, "clGetDeviceIDs(platform %u): %s", p, fcl_cl_error_name(rc)); goto fail; }
        cl_device_id ids[64];
        if (nd > 64) nd = 64;
        rc = clGetDeviceIDs(plats[p], CL_DEVICE_TYPE_ALL, nd, ids, NULL);
        if (rc != CL_SUCCESS) { st = FCL_ERR(err, FCL_ERR_OPENCL, "clGetDeviceIDs(platform %u): %s", p, fcl_cl_error_name(rc)); goto fail; }
        for (cl_uint d = 0; d < nd; d++) {
            if (n == cap) {
                cap = cap ? cap * 2 : 8;
                fcl_device_info *nn = realloc(devs, cap * sizeof *devs);
                if (!nn) { st = FCL_ERR(err, FCL_ERR_NOMEM, "out of host memory listing devices"); goto fail; }
                devs = nn;
            }
            query_device(&devs[n], plats[p], ids[d]);
            devs[n].platform_index = (int)p;
            devs[n].device_index = (int)d;
            n++;
        }
    }
    if (n == 0) {
        st = FCL_ERR(err, FCL_ERR_NO_DEVICE, "OpenCL platforms exist but expose no device. " INSTALL_HINT);
        goto fail;
    }
    *out = devs;
    *count = n;
    devs = NULL;
fail:
    free(plats);
    free(devs);
    return st;
}

void fcl_devices_free(fcl_device_info *devs) { free(devs); }

void fcl_device_summary(const fcl_device_info *d, char *buf, size_t size)
{
    snprintf(buf, size, "%d:%d  %s | %s (%s)", d->platform_index, d->device_index, d->platform, d->name,
             fcl_device_type_name(d->type));
}

static int icontains(const char *hay, const char *needle)
{
    size_t nl = strlen(needle);
    if (nl == 0) return 1;
    for (; *hay; hay++) {
        size_t i = 0;
        while (i < nl && hay[i] && tolower((unsigned char)hay[i]) == tolower((unsigned char)needle[i])) i++;
        if (i == nl) return 1;
    }
    return 0;
}

static int ieq(const char *a, const char *b)
{
    for (; *a && *b; a++, b++)
        if (tolower((unsigned char)*a) != tolower((unsigned char)*b)) return 0;
    return *a == *b;
}

/* The message for a selection that matched nothing: what exists and how to get a CPU runtime. */
static fcl_status no_match(fcl_error *err, const char *sel, const char *why, const fcl_device_info *devs, size_t count)
{
    char list[4096] = "";
    size_t used = 0;
    for (size_t i = 0; i < count && used < sizeof list - 1; i++) {
        char line[600];
        fcl_device_summary(&devs[i], line, sizeof line);
        int w = snprintf(list + used, sizeof list - used, "\n  %s", line);
        if (w < 0) break;
        used += (size_t)w;
    }
    return FCL_ERR(err, FCL_ERR_NO_DEVICE,
                   "--device '%s': %s. Available devices (select by P:D, cpu/gpu/accelerator, or part of a name):%s\n" INSTALL_HINT,
                   sel, why, list);
}

fcl_status fcl_device_select(const char *sel, const fcl_device_info *devs, size_t count, size_t *chosen,
                             fcl_error *err)
{
    if (count == 0) return FCL_ERR(err, FCL_ERR_NO_DEVICE, "no OpenCL device is available. " INSTALL_HINT);
    /* Skip leading/trailing blanks so "  gpu " from an environment variable still works. */
    char buf[512];
    if (!sel) sel = "";
    while (isspace((unsigned char)*sel)) sel++;
    snprintf(buf, sizeof buf, "%s", sel);
    for (size_t l = strlen(buf); l > 0 && isspace((unsigned char)buf[l - 1]); l--) buf[l - 1] = '\0';

    if (buf[0] == '\0') { /* default: first GPU, else the first device */
        for (size_t i = 0; i < count; i++)
            if (devs[i].type & CL_DEVICE_TYPE_GPU) { *chosen = i; return FCL_OK; }
        *chosen = 0;
        return FCL_OK;
    }

    int p, d, used = 0;
    if (isdigit((unsigned char)buf[0])) {
        if (sscanf(buf, "%d:%d%n", &p, &d, &used) == 2 && buf[used] == '\0') {
            for (size_t i = 0; i < count; i++)
                if (devs[i].platform_index == p && devs[i].device_index == d) { *chosen = i; return FCL_OK; }
            return no_match(err, buf, "no device has these platform:device indices", devs, count);
        }
        if (sscanf(buf, "%d%n", &p, &used) == 1 && buf[used] == '\0')
            return no_match(err, buf, "an index selection needs the form P:D (platform:device), e.g. 0:0", devs, count);
    }

    static const struct { const char *name; cl_device_type type; } types[] = {
        {"cpu", CL_DEVICE_TYPE_CPU}, {"gpu", CL_DEVICE_TYPE_GPU}, {"accelerator", CL_DEVICE_TYPE_ACCELERATOR}};
    for (size_t t = 0; t < sizeof types / sizeof types[0]; t++) {
        if (!ieq(buf, types[t].name)) continue;
        for (size_t i = 0; i < count; i++)
            if (devs[i].type & types[t].type) { *chosen = i; return FCL_OK; }
        char why[128];
        snprintf(why, sizeof why, "there is no device of type %s", types[t].name);
        return no_match(err, buf, why, devs, count);
    }

    /* Text: among the devices that contain it in their name, platform name, platform version or
     * vendor, a GPU first (as the default does), then the one that contains it in the most of
     * these fields, then the first listed. Counting fields lets "intel" mean Intel's runtime
     * (name, platform and vendor say Intel) rather than PoCL on an Intel CPU (only its device
     * name and the CPU vendor "GenuineIntel" do), while "pocl" (only in PoCL's platform version)
     * still finds PoCL, and "amd" on an AMD CPU + AMD GPU machine means the GPU. */
    int best_score = 0;
    size_t best = 0;
    for (size_t i = 0; i < count; i++) {
        int score = icontains(devs[i].name, buf) + icontains(devs[i].platform, buf) +
                    icontains(devs[i].platform_version, buf) + icontains(devs[i].vendor, buf);
        if (score > 0 && (devs[i].type & CL_DEVICE_TYPE_GPU)) score += 4;   /* above any non-GPU */
        if (score > best_score) {
            best_score = score;
            best = i;
        }
    }
    if (best_score > 0) { *chosen = best; return FCL_OK; }
    return no_match(err, buf, "no device name, platform name, platform version or vendor contains it", devs, count);
}
