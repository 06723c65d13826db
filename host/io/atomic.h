/* host/io/atomic.h: the one atomic file writer (temp file beside the target, fsync, rename, folder fsync). */
#ifndef FACECL_HOST_IO_ATOMIC_H
#define FACECL_HOST_IO_ATOMIC_H

#include <stddef.h>
#include <stdio.h>
#include "facecl/status.h"

/* A file written beside its final path ("<path>.tmpXXXXXX", same folder so rename() is atomic)
 * and renamed over it when complete, so a reader never sees half of it and a crash or a full
 * disk leaves the old file as it was:
 *   fcl_atomic_open, write to af.f (or fcl_atomic_write), then fcl_atomic_commit (flush, fsync,
 *   close, rename, fsync of the folder) or fcl_atomic_abort (removes the temp file).
 * Every error names the target path, the step that failed and errno symbolically
 * ("run/log.csv: writing failed: ENOSPC (No space left on device)"), and removes the temp file.
 * Abort is idempotent (a zeroed or already finished af is a no-op), so one cleanup label can
 * call it whatever happened. no_sync = 1 (set after open) skips both fsyncs: still atomic
 * against readers and crashes of the process, not against a power loss (plots). */
typedef struct fcl_atomic_file {
    FILE *f;
    char *tmp;
    const char *path;
    int no_sync;
} fcl_atomic_file;

fcl_status fcl_atomic_open(fcl_atomic_file *af, const char *path, fcl_error *err);
/* n bytes to af.f; on failure the error (with errno) and af aborted. */
fcl_status fcl_atomic_write(fcl_atomic_file *af, const void *data, size_t n, fcl_error *err);
/* For a caller whose own write to af.f failed with errnum (0: unknown, from the stream): the
 * error naming the path, and af aborted. Returns FCL_ERR_IO. */
fcl_status fcl_atomic_fail(fcl_atomic_file *af, const char *what, int errnum, fcl_error *err);
fcl_status fcl_atomic_commit(fcl_atomic_file *af, fcl_error *err);
void fcl_atomic_abort(fcl_atomic_file *af);
/* The whole of `text` as the file `path`, atomically. */
fcl_status fcl_write_text_atomic(const char *path, const char *text, fcl_error *err);

/* mkstemp, then the mode a plain create gives (0666 & ~umask) instead of mkstemp's 0600; -1 with
 * errno set (and nothing left behind) on failure. */
int fcl_mkstemp_public(char *tmpl);

/* "ENOSPC", "EACCES", ...: the symbolic name of an errno value ("errno 123" when unknown; the
 * buffer-free result is static storage, read-only). */
const char *fcl_errno_name(int e);

#endif
