/* host/io/tmpfile.c: temp files beside their target with the mode a plain create would give (0666 & ~umask). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/csv_internal.h"

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
        close(fd);
        unlink(tmpl);
        return -1;
    }
    return fd;
}

fcl_status fcl_write_text_atomic(const char *path, const char *text, fcl_error *err)
{
    fcl_atomic_file af;
    fcl_status st = fcl_atomic_open(&af, path, err);
    if (st) return st;
    if (fputs(text, af.f) == EOF) {
        fcl_atomic_abort(&af);
        return FCL_ERR(err, FCL_ERR_IO, "cannot write %s", path);
    }
    return fcl_atomic_commit(&af, err);
}
