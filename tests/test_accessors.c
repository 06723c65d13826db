/* tests/test_accessors.c: the small public accessors nothing else in the tree calls (fcl_optim_steps, fcl_net_freeze, fcl_param_kind_name, fcl_sched_group_count, fcl_dist_local_size, fcl_dist_max_i), each against what it reports. */
#include <criterion/criterion.h>
#include <string.h>

#include <facecl/facecl.h>

#include "helpers/small_net.h"

Test(accessors, optim_steps_counts_updates)
{
    fcl_ctx *ctx = fcl_test_ctx(0);
    size_t n = 37;
    fcl_tensor p = {0}, g = {0};
    cr_assert_eq(fcl_tensor_alloc(ctx, &p, 1, &n, FCL_F32), FCL_OK, "%s", fcl_ctx_errmsg(ctx));
    cr_assert_eq(fcl_tensor_alloc(ctx, &g, 1, &n, FCL_F32), FCL_OK, "%s", fcl_ctx_errmsg(ctx));
    cr_assert_eq(fcl_tensor_fill(ctx, &p, 1.0f), FCL_OK);
    cr_assert_eq(fcl_tensor_fill(ctx, &g, 0.5f), FCL_OK);
    for (int kind = 0; kind < 2; kind++) {
        fcl_optim_hparams hp = kind ? fcl_adamw_defaults(1e-3) : fcl_sgd_defaults(0.1);
        fcl_param_range r = {0, n};
        fcl_param_group grp = {hp, &r, 1};
        fcl_optim *o = NULL;
        cr_assert_eq(fcl_optim_create(ctx, &o, kind ? FCL_OPTIM_ADAMW : FCL_OPTIM_SGD, n, &grp, 1), FCL_OK, "%s",
                     fcl_ctx_errmsg(ctx));
        cr_assert_eq(fcl_optim_steps(o), 0);
        for (int s = 1; s <= 3; s++) {
            cr_assert_eq(fcl_optim_step(ctx, o, &p, &g), FCL_OK, "%s", fcl_ctx_errmsg(ctx));
            cr_assert_eq(fcl_optim_steps(o), s, "after %d steps it says %lld", s, (long long)fcl_optim_steps(o));
        }
        fcl_optim_destroy(ctx, o);
    }
    fcl_tensor_release(ctx, &p);
    fcl_tensor_release(ctx, &g);
    fcl_ctx_destroy(ctx);
}

Test(accessors, net_freeze_is_the_frozen_prefix)
{
    fcl_ctx *ctx = fcl_test_ctx(0);
    fcl_model *m = fcl_test_small_model(32, 4, 0);
    for (int freeze = 0; freeze <= 2; freeze += 2) {
        fcl_net_opts no = {4, freeze};
        fcl_net *net = NULL;
        cr_assert_eq(fcl_net_create(ctx, m, &no, &net), FCL_OK, "%s", fcl_ctx_errmsg(ctx));
        cr_assert_eq(fcl_net_freeze(net), freeze);
        fcl_net_destroy(net);
    }
    fcl_model_free(m);
    fcl_ctx_destroy(ctx);
}

Test(accessors, param_kind_names_are_torch_state_dict_suffixes)
{
    /* torch's names for the kinds every model has; any further kind has a name of its own */
    static const struct { fcl_param_kind k; const char *name; } want[] = {
        {FCL_PARAM_WEIGHT, "weight"}, {FCL_PARAM_BIAS, "bias"}, {FCL_PARAM_RUNNING_MEAN, "running_mean"},
        {FCL_PARAM_RUNNING_VAR, "running_var"}, {FCL_PARAM_NUM_BATCHES, "num_batches_tracked"}};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) cr_assert_str_eq(fcl_param_kind_name(want[i].k), want[i].name);
    for (int k = 0; k < FCL_PARAM_KIND_COUNT; k++) {
        const char *n = fcl_param_kind_name((fcl_param_kind)k);
        cr_assert(n && n[0] && strcmp(n, "?"), "kind %d has no name", k);
        for (int j = 0; j < k; j++) cr_assert_str_neq(n, fcl_param_kind_name((fcl_param_kind)j), "kinds %d and %d share a name", j, k);
    }
    cr_assert_str_eq(fcl_param_kind_name(FCL_PARAM_KIND_COUNT), "?");
    cr_assert_str_eq(fcl_param_kind_name((fcl_param_kind)-1), "?");
}

Test(accessors, sched_group_count_is_the_groups_given)
{
    fcl_sched_config c = fcl_sched_defaults(FCL_SCHED_STEP);
    c.step_size = 5;
    double base[3] = {0.1, 0.01, 0.5};
    for (size_t n = 1; n <= 3; n++) {
        fcl_sched *s = NULL;
        fcl_error e = {0};
        cr_assert_eq(fcl_sched_create(&s, &c, base, n, &e), FCL_OK, "%s", e.msg);
        cr_assert_eq(fcl_sched_group_count(s), n);
        cr_assert_eq(fcl_sched_lr(s, n - 1), base[n - 1]);
        fcl_sched_destroy(s);
    }
}

/* Without a launcher (NULL dist: one process) the collectives are the identity and the node has
 * one process; test_mpi covers the multi-rank paths. */
Test(accessors, dist_single_process)
{
    cr_assert_eq(fcl_dist_local_size(NULL), 1);
    cr_assert_eq(fcl_dist_size(NULL), 1);
    int v[3] = {-4, 7, 0};
    fcl_error e = {0};
    cr_assert_eq(fcl_dist_max_i(NULL, v, 3, &e), FCL_OK, "%s", e.msg);
    cr_assert(v[0] == -4 && v[1] == 7 && v[2] == 0, "max over one process changed the values");
}
