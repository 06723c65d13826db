/* tests/helpers/each_name.h: one Criterion parameterized test over a list of case names (a fixture's cases, each its own test process). */
#ifndef FACECL_TESTS_EACH_NAME_H
#define FACECL_TESTS_EACH_NAME_H

#include <criterion/criterion.h>
#include <criterion/parameterized.h>

/* A case name held by value: Criterion hands the parameters to another process, where a pointer
 * into this one's memory would not hold. */
typedef struct fcl_test_name {
    char name[24];
} fcl_test_name;

/* The parameterized test suite::test running fn(name) once per name, each given as {"name"}:
 * FCL_TEST_EACH_NAME(schedule, fixture_schedules, check_sched, {"step"}, {"cosine"}). */
#define FCL_TEST_EACH_NAME(suite, test, fn, ...)                                                    \
    ParameterizedTestParameters(suite, test)                                                        \
    {                                                                                               \
        static fcl_test_name names[] = {__VA_ARGS__};                                               \
        return cr_make_param_array(fcl_test_name, names, sizeof names / sizeof names[0]);           \
    }                                                                                               \
    ParameterizedTest(fcl_test_name *p, suite, test) { fn(p->name); }

#endif
