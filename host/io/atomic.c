/* host/io/atomic.c: the one atomic file writer: temp file beside the target, fsync, rename, folder fsync; errors name path and errno. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/atomic.h"

const char *fcl_errno_name(int e)
{
    /* The errors a file write can meet; anything else is rare enough for its number. */
    static const struct { int e; const char *name; } names[] = {
        {ENOSPC, "ENOSPC"}, {EDQUOT, "EDQUOT"}, {EFBIG, "EFBIG"},   {EIO, "EIO"},
        {EACCES, "EACCES"}, {EPERM, "EPERM"},   {EROFS, "EROFS"},   {ENOENT, "ENOENT"},
        {ENOTDIR, "ENOTDIR"}, {EISDIR, "EISDIR"}, {EEXIST, "EEXIST"}, {EXDEV, "EXDEV"},
        {ENAMETOOLONG, "ENAMETOOLONG"}, {ELOOP, "ELOOP"}, {EMFILE, "EMFILE"}, {ENFILE, "ENFILE"},
        {EINTR, "EINTR"},   {EINVAL, "EINVAL"}, {ENOMEM, "ENOMEM"}, {EBADF, "EBADF"},
        {EBUSY, "EBUSY"},   {ETXTBSY, "ETXTBSY"}, {EAGAIN, "EAGAIN"}, {ESTALE, "ESTALE"},
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (names[i].e == e) return names[i].name;
    return "errno (unnamed)";
}

/* The error for a step that failed with errnum; removes the temp file. */
static fcl_status fail_step(fcl_atomic_file *af, const char *what, int errnum, fcl_error *err, const char *file, int line)
{
    if (errnum == 0) errnum = EIO; /* a stream error without errno (e.g. set by an earlier write) */
    fcl_status st = fcl_error_set(err, FCL_ERR_IO, file, line, "%s: %s failed: %s (%s; errno %d)",
                                  af->path ? af->path : "(no path)", what, fcl_errno_name(errnum), strerror(errnum), errnum);
    fcl_atomic_abort(af);
    return st;
}
#define FAIL_STEP(af, what, errnum, err) fail_step((af), (what), (errnum), (err), __FILE__, __LINE__)

/* The process umask without changing it (umask() sets as it reads, which races with other
 * threads creating files): Linux reports it in /proc/self/status; elsewhere the set-and-restore. */
static mode_t current_umask(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (f) {
        char line[256];
        unsigned m;
        while (fgets(line, sizeof line, f))
            if (sscanf(line, "Umask: %o", &m) == 1) {
                fclose(f);
                return (mode_t)m;
            }
        fclose(f);
    }
    mode_t m = umask(022);
    umask(m);
    return m;
}

int fcl_mkstemp_public(char *tmpl)
{
    int fd = mkstemp(tmpl);
    if (fd < 0) return -1;
    /* mkstemp makes 0600 files; what facecl writes is an ordinary file, readable as the umask allows */
    if (fchmod(fd, 0666 & ~current_umask()) != 0) {
        int e = errno;
        close(fd);
        unlink(tmpl);
        errno = e;
        return -1;
    }
    return fd;
}

fcl_status fcl_atomic_open(fcl_atomic_file *af, const char *path, fcl_error *err)
{
    memset(af, 0, sizeof *af);
    if (!path || !*path) return FCL_ERR(err, FCL_ERR_INVALID_ARG, "atomic write: empty path");
    af->path = path;
    size_t n = strlen(path) + 16;
    af->tmp = malloc(n);
    if (!af->tmp) {
        memset(af, 0, sizeof *af);
        return FCL_ERR(err, FCL_ERR_NOMEM, "%s: out of memory", path);
    }
    /* Beside the target so that rename() stays on one file system and is atomic. */
    snprintf(af->tmp, n, "%s.tmpXXXXXX", path);
    int fd = fcl_mkstemp_public(af->tmp);
    if (fd < 0) {
        int e = errno;
        free(af->tmp);
        af->tmp = NULL; /* nothing to remove */
        return FAIL_STEP(af, "creating a temporary file beside it", e, err);
    }
    af->f = fdopen(fd, "wb");
    if (!af->f) {
        int e = errno;
        close(fd);
        return FAIL_STEP(af, "opening its temporary file", e, err);
    }
    return FCL_OK;
}

fcl_status fcl_atomic_write(fcl_atomic_file *af, const void *data, size_t n, fcl_error *err)
{
    errno = 0;
    if (n && fwrite(data, 1, n, af->f) != n) return FAIL_STEP(af, "writing", errno, err);
    return FCL_OK;
}

fcl_status fcl_atomic_fail(fcl_atomic_file *af, const char *what, int errnum, fcl_error *err)
{
    return FAIL_STEP(af, what ? what : "writing", errnum, err);
}

void fcl_atomic_abort(fcl_atomic_file *af)
{
    if (af->f) fclose(af->f);
    if (af->tmp) {
        unlink(af->tmp);
        free(af->tmp);
    }
    memset(af, 0, sizeof *af);
}

/* fsync of the folder that holds path, so the rename itself survives a power loss; EINVAL (a
 * file system that cannot sync folders) is not an error. Returns 0 or an errno. */
static int sync_folder(const char *path)
{
    const char *slash = strrchr(path, '/');
    char *dir = slash == path ? strdup("/") : slash ? strndup(path, (size_t)(slash - path)) : strdup(".");
    if (!dir) return ENOMEM;
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    int e = fd < 0 ? errno : 0;
    free(dir);
    if (fd < 0) return e;
    e = fsync(fd) != 0 ? errno : 0;
    close(fd);
    return e == EINVAL ? 0 : e;
}

fcl_status fcl_atomic_commit(fcl_atomic_file *af, fcl_error *err)
{
    errno = 0;
    if (fflush(af->f) != 0 || ferror(af->f)) return FAIL_STEP(af, "writing", errno, err);
    if (!af->no_sync && fsync(fileno(af->f)) != 0) return FAIL_STEP(af, "fsync", errno, err);
    int rc = fclose(af->f);
    af->f = NULL;
    if (rc != 0) return FAIL_STEP(af, "closing", errno, err);
    if (rename(af->tmp, af->path) != 0) return FAIL_STEP(af, "renaming the temporary file over it", errno, err);
    free(af->tmp);
    af->tmp = NULL; /* in place: nothing to remove from here on */
    int e = af->no_sync ? 0 : sync_folder(af->path);
    if (e) return FAIL_STEP(af, "fsync of its folder", e, err);
    memset(af, 0, sizeof *af);
    return FCL_OK;
}

fcl_status fcl_write_text_atomic(const char *path, const char *text, fcl_error *err)
{
    fcl_atomic_file af;
    fcl_status st = fcl_atomic_open(&af, path, err);
    if (!st) st = fcl_atomic_write(&af, text, strlen(text), err);
    return st ? st : fcl_atomic_commit(&af, err);
}
