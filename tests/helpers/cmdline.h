/* tests/helpers/cmdline.h: running shell commands from tests (output captured) and reading what they wrote. */
#ifndef FACECL_TESTS_CMDLINE_H
#define FACECL_TESTS_CMDLINE_H

/* Runs a shell command line (printf-style), stdout and stderr captured together into *out
 * (malloc'd; NULL: discarded). Returns the exit status, or -1 when it did not exit normally. */
int fcl_test_run(char **out, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* The whole file, malloc'd and NUL-terminated (fails the test when it cannot be read). */
char *fcl_test_slurp(const char *path);
/* Whether path exists (stat). */
int fcl_test_exists(const char *path);
/* The number after the first `key` in text (fails the test when key is absent). */
double fcl_test_number_after(const char *text, const char *key);

#endif
