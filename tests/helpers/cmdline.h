/* tests/helpers/cmdline.h: running shell commands from tests (output captured), temporary folders, and reading what they wrote. */
#ifndef FACECL_TESTS_CMDLINE_H
#define FACECL_TESTS_CMDLINE_H

#include <stdarg.h>
#include <stddef.h>

/* Runs a shell command line (printf-style), stdout and stderr captured together into *out
 * (malloc'd; NULL: discarded). Returns the exit status, or -1 when it did not exit normally. */
int fcl_test_run(char **out, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* The same with a va_list. */
int fcl_test_vrun(char **out, const char *fmt, va_list ap);
/* fcl_test_vrun that must exit 0 (else the test fails with the status and the output, which is
 * left in *out either way: out must not be NULL). */
void fcl_test_vrun_ok(char **out, const char *fmt, va_list ap);
/* The same with printf-style arguments; returns the output (malloc'd). */
char *fcl_test_run_ok(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;
/* fcl_test_run into the caller's buffer (the output cut to size - 1 bytes, NUL-terminated). */
int fcl_test_run_buf(char *out, size_t size, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
/* The whole file, malloc'd and NUL-terminated (fails the test when it cannot be read). */
char *fcl_test_slurp(const char *path);
/* The same, with its length in *len (files with NUL bytes). */
char *fcl_test_slurp_n(const char *path, size_t *len);
/* The whole file at path (the real faces beside the clone, which CI does not have), malloc'd,
 * with its length in *len; skips the test when it cannot be opened. */
char *fcl_test_slurp_or_skip(const char *path, size_t *len);
/* Writes n bytes to path (fails the test when it cannot). */
void fcl_test_write(const char *path, const void *data, size_t n);
/* A fresh folder /tmp/facecl-TAG-XXXXXX (mkdtemp) into buf (fails the test when it cannot). */
void fcl_test_tmpdir(char *buf, size_t size, const char *tag);
/* rm -rf dir; 1 when it worked, else 0 with a warning in the test log. */
int fcl_test_rm_rf(const char *dir);
/* Whether path exists (stat). */
int fcl_test_exists(const char *path);
/* The number after the first `key` in text (fails the test when key is absent). */
double fcl_test_number_after(const char *text, const char *key);

#endif
