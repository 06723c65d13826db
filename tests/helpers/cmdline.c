/* tests/helpers/cmdline.c: shell commands from tests with captured output, temporary folders, file reading, numbers in printed text. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers/cmdline.h"

int fcl_test_run(char **out, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = fcl_test_vrun(out, fmt, ap);
    va_end(ap);
    return rc;
}

void fcl_test_vrun_ok(char **out, const char *fmt, va_list ap)
{
    int rc = fcl_test_vrun(out, fmt, ap);
    cr_assert_eq(rc, 0, "exit status %d:\n%s", rc, *out);
}

char *fcl_test_run_ok(const char *fmt, ...)
{
    char *out = NULL;
    va_list ap;
    va_start(ap, fmt);
    fcl_test_vrun_ok(&out, fmt, ap);
    va_end(ap);
    return out;
}

int fcl_test_run_buf(char *out, size_t size, const char *fmt, ...)
{
    char *all = NULL;
    va_list ap;
    va_start(ap, fmt);
    int rc = fcl_test_vrun(&all, fmt, ap);
    va_end(ap);
    snprintf(out, size, "%s", all);
    free(all);
    return rc;
}

int fcl_test_vrun(char **out, const char *fmt, va_list ap)
{
    char cmd[8192];
    int n = vsnprintf(cmd, sizeof cmd, fmt, ap);
    cr_assert(n >= 0 && (size_t)n < sizeof cmd, "command too long");
    char *full = malloc(strlen(cmd) + 16);
    cr_assert(full);
    sprintf(full, "( %s ) 2>&1", cmd);
    FILE *p = popen(full, "r");
    cr_assert(p, "popen %s", cmd);
    free(full);
    size_t cap = 4096, len = 0, k;
    char *buf = malloc(cap);
    cr_assert(buf);
    while ((k = fread(buf + len, 1, cap - len - 1, p)) > 0) {
        len += k;
        if (cap - len < 2) {
            buf = realloc(buf, cap *= 2);
            cr_assert(buf);
        }
    }
    buf[len] = '\0';
    int st = pclose(p);
    if (out)
        *out = buf;
    else
        free(buf);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

char *fcl_test_slurp_n(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    cr_assert(f, "missing output %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    rewind(f);
    char *b = malloc((size_t)n + 1);
    cr_assert(b);
    cr_assert_eq(fread(b, 1, (size_t)n, f), (size_t)n);
    b[n] = '\0';
    fclose(f);
    if (len) *len = (size_t)n;
    return b;
}

char *fcl_test_slurp(const char *path)
{
    return fcl_test_slurp_n(path, NULL);
}

char *fcl_test_slurp_or_skip(const char *path, size_t *len)
{
    if (access(path, R_OK) != 0) cr_skip_test("real faces not available (%s)", path);
    return fcl_test_slurp_n(path, len);
}

void fcl_test_write(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f, "%s: %s", path, strerror(errno));
    if (n) cr_assert_eq(fwrite(data, 1, n, f), n, "%s: short write", path);
    cr_assert_eq(fclose(f), 0, "%s: %s", path, strerror(errno));
}

void fcl_test_tmpdir(char *buf, size_t size, const char *tag)
{
    snprintf(buf, size, "/tmp/facecl-%s-XXXXXX", tag);
    cr_assert_not_null(mkdtemp(buf), "mkdtemp %s", buf);
}

int fcl_test_rm_rf(const char *dir)
{
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    int ok = system(cmd) == 0;
    if (!ok) cr_log_warn("could not remove %s", dir);
    return ok;
}

int fcl_test_exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0;
}

double fcl_test_number_after(const char *text, const char *key)
{
    const char *p = strstr(text, key);
    cr_assert(p, "'%s' not in:\n%s", key, text);
    return strtod(p + strlen(key), NULL);
}
