/* tests/test_device_rank.c: the r-th device of a --device selection (data-parallel ranks), on made-up device lists. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include <facecl/facecl.h>

static fcl_device_info mk(int p, int d, const char *plat, const char *name, cl_device_type t)
{
    fcl_device_info x;
    memset(&x, 0, sizeof x);
    x.platform_index = p;
    x.device_index = d;
    snprintf(x.platform, sizeof x.platform, "%s", plat);
    snprintf(x.name, sizeof x.name, "%s", name);
    x.type = t;
    return x;
}

/* A CPU runtime first, then three GPUs on two platforms. */
static size_t pick(const char *sel, int rank)
{
    fcl_device_info d[4];
    d[0] = mk(0, 0, "Portable Computing Language", "pthread-zen4", CL_DEVICE_TYPE_CPU);
    d[1] = mk(1, 0, "AMD Accelerated Parallel Processing", "gfx1100 Radeon RX 7900 XTX", CL_DEVICE_TYPE_GPU);
    d[2] = mk(1, 1, "AMD Accelerated Parallel Processing", "gfx1030 Radeon RX 6800", CL_DEVICE_TYPE_GPU);
    d[3] = mk(2, 0, "NVIDIA CUDA", "NVIDIA GeForce RTX 4090", CL_DEVICE_TYPE_GPU);
    fcl_error e = {0};
    size_t i = 99;
    fcl_status st = fcl_device_select_rank(sel, d, 4, rank, &i, &e);
    cr_assert_eq(st, FCL_OK, "'%s' rank %d: %s", sel ? sel : "(null)", rank, e.msg);
    return i;
}

Test(device_rank, rank0_is_the_single_selection)
{
    cr_expect_eq(pick("", 0), 1);
    cr_expect_eq(pick("gpu", 0), 1);
    cr_expect_eq(pick("cpu", 0), 0);
    cr_expect_eq(pick("2:0", 0), 3);
}

Test(device_rank, gpu_by_local_rank_wraps)
{
    cr_expect_eq(pick("gpu", 1), 2);
    cr_expect_eq(pick("gpu", 2), 3);
    cr_expect_eq(pick("gpu", 3), 1); /* 4 ranks, 3 GPUs: rank 3 shares the first */
    cr_expect_eq(pick("", 2), 3);    /* default: the GPUs */
    cr_expect_eq(pick("radeon", 1), 2);
    cr_expect_eq(pick("cpu", 1), 0); /* one CPU: every rank shares it */
}

Test(device_rank, explicit_lists)
{
    cr_expect_eq(pick("2:0,1:1", 0), 3);
    cr_expect_eq(pick("2:0,1:1", 1), 2);
    cr_expect_eq(pick("2:0,1:1", 2), 3);
    cr_expect_eq(pick("0:0,0:0", 1), 0);
}

Test(device_rank, bad_list_item_fails)
{
    fcl_device_info d[1];
    d[0] = mk(0, 0, "Portable Computing Language", "pthread-zen4", CL_DEVICE_TYPE_CPU);
    fcl_error e = {0};
    size_t i;
    cr_expect_neq(fcl_device_select_rank("0:0,5:5", d, 1, 1, &i, &e), FCL_OK);
    cr_expect(strstr(e.msg, "5:5") != NULL, "%s", e.msg);
}
