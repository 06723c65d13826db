/* tests/test_device.c: --device selection parsing on made-up device lists, and the real listing. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include <facecl/facecl.h>

static fcl_device_info mk(int p, int d, const char *plat, const char *name, cl_device_type t)
{
    fcl_device_info x = {0};
    x.platform_index = p;
    x.device_index = d;
    snprintf(x.platform, sizeof x.platform, "%s", plat);
    snprintf(x.platform_version, sizeof x.platform_version, "OpenCL 3.0 %s", strstr(plat, "Portable") ? "PoCL 3.1" : "");
    snprintf(x.name, sizeof x.name, "%s", name);
    snprintf(x.vendor, sizeof x.vendor, "%s", strstr(plat, "AMD") ? "Advanced Micro Devices, Inc." : "Vendor");
    x.type = t;
    return x;
}

/* A machine with a CPU runtime first and two GPUs on a second platform. */
static void machine(fcl_device_info *d)
{
    d[0] = mk(0, 0, "Portable Computing Language", "pthread-skylake-avx512", CL_DEVICE_TYPE_CPU);
    d[1] = mk(1, 0, "AMD Accelerated Parallel Processing", "gfx1100 Radeon RX 7900 XTX", CL_DEVICE_TYPE_GPU);
    d[2] = mk(1, 1, "AMD Accelerated Parallel Processing", "gfx1030 Radeon RX 6800", CL_DEVICE_TYPE_GPU);
}

/* fcl_device_select(sel) on the machine above: its status, the index in *i (starts at 99), the error in *e. */
static fcl_status select_on_machine(const char *sel, size_t *i, fcl_error *e)
{
    fcl_device_info d[3];
    machine(d);
    *i = 99;
    return fcl_device_select(sel, d, 3, i, e);
}

static size_t pick(const char *sel)
{
    fcl_error e = {0};
    size_t i;
    fcl_status st = select_on_machine(sel, &i, &e);
    cr_assert_eq(st, FCL_OK, "selection '%s' failed: %s", sel ? sel : "(null)", e.msg);
    return i;
}

static fcl_error pick_fail(const char *sel)
{
    fcl_error e = {0};
    size_t i;
    cr_assert_eq(select_on_machine(sel, &i, &e), FCL_ERR_NO_DEVICE, "selection '%s' should fail", sel);
    cr_assert_eq(e.status, FCL_ERR_NO_DEVICE);
    return e;
}

Test(device_select, default_prefers_first_gpu)
{
    cr_assert_eq(pick(NULL), 1);
    cr_assert_eq(pick(""), 1);
    cr_assert_eq(pick("   "), 1);
}

Test(device_select, default_without_gpu_is_first_device)
{
    fcl_device_info d[2] = {mk(0, 0, "P", "cpu a", CL_DEVICE_TYPE_CPU), mk(0, 1, "P", "acc b", CL_DEVICE_TYPE_ACCELERATOR)};
    size_t i = 99;
    cr_assert_eq(fcl_device_select(NULL, d, 2, &i, NULL), FCL_OK);
    cr_assert_eq(i, 0);
}

Test(device_select, indices)
{
    cr_assert_eq(pick("0:0"), 0);
    cr_assert_eq(pick("1:1"), 2);
    cr_assert_eq(pick(" 1:0 "), 1);
    fcl_error e = pick_fail("2:0");
    cr_assert(strstr(e.msg, "indices"), "%s", e.msg);
    e = pick_fail("1");
    cr_assert(strstr(e.msg, "P:D"), "%s", e.msg);
    pick_fail("1:0x");
    pick_fail("1:-1");
}

Test(device_select, types_case_insensitive)
{
    cr_assert_eq(pick("cpu"), 0);
    cr_assert_eq(pick("GPU"), 1);
    fcl_error e = pick_fail("accelerator");
    cr_assert(strstr(e.msg, "type accelerator"), "%s", e.msg);
}

Test(device_select, substrings)
{
    cr_assert_eq(pick("rx 7900"), 1);
    cr_assert_eq(pick("RX 6800"), 2);
    cr_assert_eq(pick("pocl"), 0);         /* from the platform version */
    cr_assert_eq(pick("portable"), 0);     /* platform name */
    cr_assert_eq(pick("amd"), 1);          /* platform name, first device */
    cr_assert_eq(pick("avx512"), 0);
}

/* PoCL and Intel's CPU runtime side by side, with the strings both report on an Intel Xeon:
 * PoCL's device name contains "Intel(R) Xeon(R)" and its vendor is the CPU's "GenuineIntel". */
static size_t pick_cpu_pair(const char *sel, int intel_first)
{
    fcl_device_info d[2];
    fcl_device_info pocl = mk(0, 0, "Portable Computing Language",
                              "pthread-skylake-avx512-Intel(R) Xeon(R) Processor", CL_DEVICE_TYPE_CPU);
    snprintf(pocl.platform_version, sizeof pocl.platform_version, "OpenCL 3.0 PoCL 3.1+debian  Linux, LLVM 15.0.6");
    snprintf(pocl.vendor, sizeof pocl.vendor, "GenuineIntel");
    fcl_device_info intel = mk(1, 0, "Intel(R) OpenCL", "Intel(R) Xeon(R) Processor", CL_DEVICE_TYPE_CPU);
    snprintf(intel.platform_version, sizeof intel.platform_version, "OpenCL 3.1 LINUX");
    snprintf(intel.vendor, sizeof intel.vendor, "Intel(R) Corporation");
    d[intel_first ? 1 : 0] = pocl;
    d[intel_first ? 0 : 1] = intel;
    fcl_error e = {0};
    size_t i = 99;
    cr_assert_eq(fcl_device_select(sel, d, 2, &i, &e), FCL_OK, "'%s': %s", sel, e.msg);
    return strstr(d[i].platform, "Intel") ? 1 : 0;   /* 1: Intel's runtime, 0: PoCL */
}

Test(device_select, intel_runtime_vs_pocl_on_an_intel_cpu)
{
    for (int order = 0; order < 2; order++) {
        cr_expect_eq(pick_cpu_pair("intel", order), 1, "'intel' must pick Intel's runtime (order %d)", order);
        cr_expect_eq(pick_cpu_pair("Intel(R) OpenCL", order), 1, "order %d", order);
        cr_expect_eq(pick_cpu_pair("pocl", order), 0, "order %d", order);
        cr_expect_eq(pick_cpu_pair("portable", order), 0, "order %d", order);
        /* In both device names: the first listed. */
        cr_expect_eq(pick_cpu_pair("xeon", order), order ? 1 : 0, "order %d", order);
    }
}

/* A GPU is preferred among matches, as by the default: "amd" on an AMD CPU (PoCL names it
 * "...AMD EPYC..." and its vendor "AuthenticAMD") next to an AMD GPU means the GPU. */
Test(device_select, text_prefers_a_matching_gpu)
{
    fcl_device_info d[2] = {mk(0, 0, "Portable Computing Language", "pthread-znver4-AMD EPYC 9654", CL_DEVICE_TYPE_CPU),
                            mk(1, 0, "AMD Accelerated Parallel Processing", "gfx1100", CL_DEVICE_TYPE_GPU)};
    snprintf(d[0].vendor, sizeof d[0].vendor, "AuthenticAMD");
    size_t i = 99;
    cr_assert_eq(fcl_device_select("amd", d, 2, &i, NULL), FCL_OK);
    cr_expect_eq(i, 1);
    cr_assert_eq(fcl_device_select("epyc", d, 2, &i, NULL), FCL_OK);
    cr_expect_eq(i, 0);
}

Test(device_select, nonsense_lists_devices_and_install_hint)
{
    fcl_error e = pick_fail("nvidia");
    cr_assert(strstr(e.msg, "'nvidia'"), "%s", e.msg);
    cr_assert(strstr(e.msg, "0:0"), "%s", e.msg);
    cr_assert(strstr(e.msg, "1:1"), "%s", e.msg);
    cr_assert(strstr(e.msg, "RX 7900 XTX"), "%s", e.msg);
    cr_assert(strstr(e.msg, "pocl-opencl-icd"), "%s", e.msg);
    cr_assert(strstr(e.msg, "device.c:"), "message names file:line: %s", e.msg);
}

Test(device_select, empty_list)
{
    fcl_error e = {0};
    size_t i;
    cr_assert_eq(fcl_device_select("cpu", NULL, 0, &i, &e), FCL_ERR_NO_DEVICE);
    cr_assert(strstr(e.msg, "pocl-opencl-icd"), "%s", e.msg);
}

Test(device_list, real_listing_has_a_device)
{
    fcl_device_info *d = NULL;
    size_t n = 0;
    fcl_error e = {0};
    cr_assert_eq(fcl_devices_list(&d, &n, &e), FCL_OK, "%s", e.msg);
    cr_assert_gt(n, 0);
    cr_assert_gt(strlen(d[0].name), 0);
    cr_assert_geq(d[0].c_major, 1);
    cr_assert_gt(d[0].max_work_group, 0);
    cr_assert_gt(d[0].global_mem, 0);
    fcl_devices_free(d);
}

Test(status, names)
{
    cr_assert_str_eq(fcl_cl_error_name(-5), "CL_OUT_OF_RESOURCES");
    cr_assert_str_eq(fcl_cl_error_name(-54), "CL_INVALID_WORK_GROUP_SIZE");
    cr_assert_str_eq(fcl_cl_error_name(-11), "CL_BUILD_PROGRAM_FAILURE");
    cr_assert_str_eq(fcl_cl_error_name(12345), "CL_UNKNOWN_ERROR");
    cr_assert_str_eq(fcl_clblast_status_name(-1017), "CLBlastInvalidDimension");
    cr_assert_str_eq(fcl_clblast_status_name(-5), "CL_OUT_OF_RESOURCES");
    cr_assert_str_eq(fcl_status_name(FCL_ERR_FORMAT), "FCL_ERR_FORMAT");
    fcl_error e = {0};
    cr_assert_eq(FCL_ERR(&e, FCL_ERR_IO, "reading %s", "x.png"), FCL_ERR_IO);
    cr_assert(strstr(e.msg, "test_device.c:") == e.msg, "%s", e.msg);
    cr_assert(strstr(e.msg, "reading x.png"), "%s", e.msg);
    fcl_error_prefix(&e, "while loading: ");
    cr_assert(strncmp(e.msg, "while loading: test_device.c:", 29) == 0, "%s", e.msg);
    cr_assert_eq(e.status, FCL_ERR_IO);
}

/* ---- the r-th device of a selection (data-parallel ranks pass their local rank) ---------------- */

static size_t pick_rank(const char *sel, int rank)
{
    fcl_device_info d[3];
    machine(d);
    fcl_error e = {0};
    size_t i = 99;
    cr_assert_eq(fcl_device_select_rank(sel, d, 3, rank, &i, &e), FCL_OK, "'%s' rank %d: %s", sel, rank, e.msg);
    return i;
}

Test(device_select_rank, rank0_is_the_single_selection)
{
    const char *sels[] = {"", "gpu", "cpu", "1:1", "radeon", "pocl"};
    for (size_t k = 0; k < sizeof sels / sizeof sels[0]; k++)
        cr_expect_eq(pick_rank(sels[k], 0), pick(sels[k]), "'%s'", sels[k]);
}

Test(device_select_rank, matching_devices_by_rank_wrap)
{
    cr_expect_eq(pick_rank("gpu", 1), 2);
    cr_expect_eq(pick_rank("gpu", 2), 1); /* 3 ranks, 2 GPUs: rank 2 shares the first */
    cr_expect_eq(pick_rank("", 1), 2);    /* default: the GPUs */
    cr_expect_eq(pick_rank("radeon", 1), 2);
    cr_expect_eq(pick_rank("cpu", 1), 0); /* one CPU: every rank shares it */
    cr_expect_eq(pick_rank("1:0", 1), 1); /* P:D is one device */
}

/* PoCL and Intel's runtime both list the same Xeon: ranks stay on the first rank's platform
 * (they share the CPU), unless an explicit list says otherwise. */
Test(device_select_rank, one_cpu_through_two_runtimes_is_one_device)
{
    fcl_device_info d[2];
    d[0] = mk(0, 0, "Portable Computing Language", "pthread-skylake-avx512", CL_DEVICE_TYPE_CPU);
    d[1] = mk(1, 0, "Intel(R) OpenCL", "Intel(R) Xeon(R) Processor", CL_DEVICE_TYPE_CPU);
    fcl_error e = {0};
    const char *sels[] = {"", "cpu", "xeon"};
    for (size_t k = 0; k < sizeof sels / sizeof sels[0]; k++) {
        size_t r0 = 99, r1 = 99;
        cr_assert_eq(fcl_device_select_rank(sels[k], d, 2, 0, &r0, &e), FCL_OK, "%s", e.msg);
        cr_assert_eq(fcl_device_select_rank(sels[k], d, 2, 1, &r1, &e), FCL_OK, "%s", e.msg);
        cr_expect_eq(r1, r0, "'%s': rank 1 on device %zu, rank 0 on %zu", sels[k], r1, r0);
    }
    size_t r1 = 99;
    cr_assert_eq(fcl_device_select_rank("0:0,1:0", d, 2, 1, &r1, &e), FCL_OK, "%s", e.msg);
    cr_expect_eq(r1, 1u, "an explicit list is followed");
}

Test(device_select_rank, explicit_lists)
{
    cr_expect_eq(pick_rank("1:1,0:0", 0), 2);
    cr_expect_eq(pick_rank("1:1,0:0", 1), 0);
    cr_expect_eq(pick_rank("1:1,0:0", 2), 2);
    fcl_device_info d[3];
    machine(d);
    fcl_error e = {0};
    size_t i;
    cr_expect_neq(fcl_device_select_rank("0:0,5:5", d, 3, 1, &i, &e), FCL_OK);
    cr_expect(strstr(e.msg, "5:5") != NULL, "%s", e.msg);
}
