/* facecl/device.h: listing OpenCL platforms/devices and parsing a --device selection. */
#ifndef FACECL_DEVICE_H
#define FACECL_DEVICE_H

#define CL_TARGET_OPENCL_VERSION 120
#include <CL/cl.h>
#include <stddef.h>
#include <stdint.h>
#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Everything `facecl devices` shows about one device. */
typedef struct fcl_device_info {
    int platform_index, device_index;     /* the "P:D" of --device */
    cl_platform_id platform_id;
    cl_device_id device_id;
    char platform[256];                   /* CL_PLATFORM_NAME */
    char platform_version[256];           /* CL_PLATFORM_VERSION */
    char name[256];                       /* CL_DEVICE_NAME */
    char vendor[256];                     /* CL_DEVICE_VENDOR */
    char driver[256];                     /* CL_DRIVER_VERSION */
    char device_version[256];             /* CL_DEVICE_VERSION */
    char c_version[256];                  /* CL_DEVICE_OPENCL_C_VERSION */
    int c_major, c_minor;                 /* parsed from c_version ("OpenCL C 1.2 ..." -> 1, 2) */
    cl_device_type type;
    unsigned compute_units;
    unsigned clock_mhz;
    uint64_t global_mem, local_mem, max_alloc;
    size_t max_work_group;
    int has_fp16, has_fp64;
    int local_mem_is_global;              /* CL_GLOBAL: "local" memory is ordinary RAM (CPUs) */
    unsigned native_float_width;          /* CL_DEVICE_NATIVE_VECTOR_WIDTH_FLOAT (0: not reported): floats in
                                           * one SIMD register on CPUs: PoCL's pthread-haswell and Intel's CPU
                                           * runtime on AVX2 say 8, PoCL on AVX-512 targets 16; picks the
                                           * tuning table's CPU column (facecl/tuning.h) */
} fcl_device_info;

/* Lists every device of every platform. *out is malloc'd (free with fcl_devices_free).
 * No platform at all (missing ICD / runtime) is FCL_ERR_NO_DEVICE with advice on installing one. */
fcl_status fcl_devices_list(fcl_device_info **out, size_t *count, fcl_error *err);
void fcl_devices_free(fcl_device_info *devs);

/* "CPU", "GPU", "ACCELERATOR", "DEFAULT", joined with '|' when several bits are set. */
const char *fcl_device_type_name(cl_device_type t);

/* Picks one device from `devs` for a selection string. Pure logic (no OpenCL calls), so it is
 * testable on made-up lists. `sel` may be NULL or "" (first GPU, else the first device),
 * "P:D" indices, "cpu"/"gpu"/"accelerator" (the first of that type), or a case-insensitive
 * substring of the device name, else platform name, else platform version or vendor (first match). A selection that matches nothing
 * is FCL_ERR_NO_DEVICE and the message lists what exists. */
fcl_status fcl_device_select(const char *sel, const fcl_device_info *devs, size_t count,
                             size_t *chosen, fcl_error *err);

/* The `rank`-th device of a selection, for one process per device (data-parallel ranks pass
 * their local rank): a comma-separated list ("0:0,0:1") gives item rank; otherwise every device
 * the selection matches counts ("gpu": all GPUs; "" all GPUs, else all devices), in list order.
 * More ranks than devices wrap around (ranks then share a device). rank 0 of a single selection
 * is exactly fcl_device_select. */
fcl_status fcl_device_select_rank(const char *sel, const fcl_device_info *devs, size_t count, int rank,
                                  size_t *chosen, fcl_error *err);

/* One line per device, as used in error messages and `facecl devices`: "0:0  Portable ... | pthread-..." */
void fcl_device_summary(const fcl_device_info *d, char *buf, size_t size);

#ifdef __cplusplus
}
#endif
#endif
