/* tests/test_atomic_write.c: the one atomic writer (host/io/atomic.c) through every library writer: a full disk (RLIMIT_FSIZE) leaves the old file and no temp, errors name path and errno. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <facecl/facecl.h>

#include "io/atomic.h"
#include "helpers/cmdline.h"

#define BIG 10000 /* values: every file below is over 4 KiB, the "disk" the limit leaves */

static fcl_status write_npy(const char *path, fcl_error *e)
{
    static float v[BIG];
    for (int i = 0; i < BIG; i++) v[i] = (float)i * 0.37f;
    size_t shape[1] = {BIG};
    return fcl_npy_write_f32(path, v, 1, shape, e);
}

static fcl_status write_st(const char *path, fcl_error *e)
{
    static float v[BIG];
    for (int i = 0; i < BIG; i++) v[i] = (float)i;
    fcl_checkpoint c;
    fcl_ckpt_init(&c);
    size_t shape[1] = {BIG};
    fcl_status st = fcl_ckpt_add_f32(&c, "w", 1, shape, v, e);
    if (!st) st = fcl_st_save(&c, path, e);
    fcl_ckpt_free(&c);
    return st;
}

static fcl_status write_png(const char *path, fcl_error *e)
{
    /* noise, so that compression cannot bring it under the limit */
    static float v[160 * 160];
    unsigned s = 12345;
    for (int i = 0; i < 160 * 160; i++) {
        s = s * 1103515245u + 12345u;
        v[i] = (float)((s >> 16) & 0xff) / 255.0f;
    }
    fcl_image img = {1, 160, 160, v};
    return fcl_image_write_png(path, &img, e);
}

static fcl_status write_text(const char *path, fcl_error *e)
{
    static char t[BIG + 1];
    memset(t, 'x', BIG);
    t[BIG] = '\0';
    return fcl_write_text_atomic(path, t, e);
}

static fcl_status write_predictions(const char *path, fcl_error *e)
{
    static const char *ids[BIG / 10];
    static int pred[BIG / 10];
    for (int i = 0; i < BIG / 10; i++) {
        ids[i] = "some/longish/image/name.png";
        pred[i] = i % 3;
    }
    return fcl_predictions_write_csv(path, ids, pred, BIG / 10, 3, NULL, e);
}

static const struct {
    const char *name;
    fcl_status (*write)(const char *path, fcl_error *e);
} writers[] = {
    {"x.npy", write_npy}, {"x.safetensors", write_st}, {"x.png", write_png},
    {"x.txt", write_text}, {"x.csv", write_predictions},
};
#define N_WRITERS (sizeof writers / sizeof writers[0])

/* Entries of dir other than . and ..; the first one's name in first. */
static int entries(const char *dir, char *first, size_t n)
{
    DIR *d = opendir(dir);
    cr_assert_not_null(d);
    int count = 0;
    struct dirent *de;
    while ((de = readdir(d)))
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") && count++ == 0) snprintf(first, n, "%s", de->d_name);
    closedir(d);
    return count;
}

static long file_size(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 ? (long)sb.st_size : -1;
}

Test(atomic_write, full_disk_keeps_the_old_file_and_leaves_no_temp)
{
    for (size_t w = 0; w < N_WRITERS; w++) {
        char dir[64], path[128], name[256];
        fcl_test_tmpdir(dir, sizeof dir, "atomic");
        snprintf(path, sizeof path, "%s/%s", dir, writers[w].name);
        FILE *f = fopen(path, "w");
        cr_assert_not_null(f);
        fputs("old contents\n", f);
        fclose(f);

        /* A 4 KiB file-size limit: writes past it fail with EFBIG (the signal ignored), as on a
         * full disk. Criterion runs each test in its own process, so the limit stays here. */
        struct rlimit old, lim;
        cr_assert_eq(getrlimit(RLIMIT_FSIZE, &old), 0);
        lim = old;
        lim.rlim_cur = 4096;
        signal(SIGXFSZ, SIG_IGN);
        cr_assert_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);
        fcl_error e = {0};
        fcl_status st = writers[w].write(path, &e);
        cr_assert_eq(setrlimit(RLIMIT_FSIZE, &old), 0);

        cr_assert_eq(st, FCL_ERR_IO, "%s: status %d (%s)", writers[w].name, st, e.msg);
        cr_assert(strstr(e.msg, path), "%s: the message does not name the file: %s", writers[w].name, e.msg);
        cr_assert(strstr(e.msg, "EFBIG"), "%s: the message does not name errno: %s", writers[w].name, e.msg);
        cr_assert_eq(file_size(path), 13, "%s: the old file was touched", writers[w].name);
        cr_assert_eq(entries(dir, name, sizeof name), 1, "%s: a temporary file was left behind", writers[w].name);

        /* Without the limit the same write replaces the file, with a plain create's mode. */
        st = writers[w].write(path, &e);
        cr_assert_eq(st, FCL_OK, "%s: %s", writers[w].name, e.msg);
        cr_assert_gt(file_size(path), 4096, "%s", writers[w].name);
        cr_assert_eq(entries(dir, name, sizeof name), 1, "%s: a temporary file was left behind", writers[w].name);
        cr_assert_str_eq(name, writers[w].name);
        mode_t mask = umask(022);
        umask(mask);
        struct stat sb;
        cr_assert_eq(stat(path, &sb), 0);
        cr_assert_eq(sb.st_mode & 0777, 0666 & ~mask, "%s: mode %o", writers[w].name, sb.st_mode & 0777);
        cr_assert(fcl_test_rm_rf(dir));
    }
}

Test(atomic_write, missing_folder_names_path_and_errno)
{
    for (size_t w = 0; w < N_WRITERS; w++) {
        char path[128];
        snprintf(path, sizeof path, "/nonexistent-facecl-dir/%s", writers[w].name);
        fcl_error e = {0};
        cr_assert_eq(writers[w].write(path, &e), FCL_ERR_IO, "%s", writers[w].name);
        cr_assert(strstr(e.msg, path) && strstr(e.msg, "ENOENT"), "%s: %s", writers[w].name, e.msg);
    }
}

Test(atomic_write, abort_is_idempotent_and_removes_the_temp)
{
    char dir[64], path[128], name[256];
    fcl_test_tmpdir(dir, sizeof dir, "atomic");
    snprintf(path, sizeof path, "%s/y.txt", dir);
    fcl_atomic_file af;
    fcl_error e = {0};
    cr_assert_eq(fcl_atomic_open(&af, path, &e), FCL_OK, "%s", e.msg);
    cr_assert_eq(entries(dir, name, sizeof name), 1);
    cr_assert(strncmp(name, "y.txt.tmp", 9) == 0, "temp file %s is not of run_dir's naming", name);
    cr_assert_eq(fcl_atomic_write(&af, "abc", 3, &e), FCL_OK, "%s", e.msg);
    fcl_atomic_abort(&af);
    fcl_atomic_abort(&af);
    cr_assert_eq(entries(dir, name, sizeof name), 0, "abort left %s", name);
    cr_assert(fcl_test_rm_rf(dir));
    cr_assert_str_eq(fcl_errno_name(ENOSPC), "ENOSPC");
}
