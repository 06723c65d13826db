/* host/runtime/disk_cache.c: program binaries on disk, keyed and verified so a bad entry is never trusted. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/atomic.h"
#include "runtime/internal.h"

/* File layout (little-endian host order; a foreign-endian file fails the magic/key check):
 *   "FCLBIN01" | u64 key_len | key bytes | u64 bin_len | bin bytes | u64 hash(bin) */
static const char MAGIC[8] = {'F', 'C', 'L', 'B', 'I', 'N', '0', '1'};

uint64_t fcl_hash64(const void *data, size_t len, uint64_t seed)
{
    /* FNV-1a over bytes, then a splitmix finaliser to spread the bits. */
    const unsigned char *p = data;
    uint64_t h = 0xcbf29ce484222325ull ^ seed;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    return h;
}

int fcl_mkdirs(const char *dir)
{
    char tmp[1024];
    size_t len = strlen(dir);
    if (len == 0 || len >= sizeof tmp) return -1;
    memcpy(tmp, dir, len + 1);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(tmp, 0755) != 0 && errno != EEXIST) return -1;
        *p = '/';
    }
    if (mkdir(tmp, 0755) != 0 && errno != EEXIST) return -1;
    return 0;
}

void fcl_default_cache_dir(char *buf, size_t size)
{
    const char *env = getenv("FACECL_CACHE_DIR");
    const char *xdg = getenv("XDG_CACHE_HOME");
    const char *home = getenv("HOME");
    if (env && *env) snprintf(buf, size, "%s", env);
    else if (xdg && *xdg) snprintf(buf, size, "%s/facecl", xdg);
    else if (home && *home) snprintf(buf, size, "%s/.cache/facecl", home);
    else snprintf(buf, size, "/tmp/facecl-cache");
}

void fcl_cache_dir_check(fcl_ctx *ctx)
{
    char sub[1100];
    snprintf(sub, sizeof sub, "%s/kernels", ctx->cache_dir);
    const char *why = NULL;
    if (fcl_mkdirs(sub)) why = strerror(errno);
    else if (access(sub, W_OK | X_OK)) why = strerror(errno);
    if (!why) return;
    snprintf(ctx->warning, sizeof ctx->warning,
             "the kernel cache folder %s is not writable (%s): running without a disk cache (set FACECL_CACHE_DIR "
             "to a writable folder, or FACECL_NO_CACHE=1 to silence this)",
             ctx->cache_dir, why);
    ctx->cache_dir[0] = '\0';
}

static void entry_path(const char *dir, const char *key, char *buf, size_t size)
{
    snprintf(buf, size, "%s/kernels/%016llx.bin", dir, (unsigned long long)fcl_hash64(key, strlen(key), 0));
}

static int read_exact(FILE *f, void *p, size_t n) { return fread(p, 1, n, f) == n ? 0 : -1; }

/* Returns 0 and a malloc'd binary when a valid entry for `key` exists; -1 otherwise (missing,
 * truncated, another key under the same hash, or a corrupted binary). */
int fcl_disk_cache_load(const char *dir, const char *key, unsigned char **bin, size_t *len)
{
    int rc = -1;
    char path[1200], magic[8];
    unsigned char *data = NULL;
    char *stored_key = NULL;
    uint64_t klen = 0, blen = 0, h = 0;
    *bin = NULL;
    *len = 0;
    entry_path(dir, key, path, sizeof path);
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    if (read_exact(f, magic, 8) || memcmp(magic, MAGIC, 8)) goto fail;
    if (read_exact(f, &klen, 8) || klen != strlen(key) || klen > (1u << 20)) goto fail;
    stored_key = malloc(klen + 1);
    if (!stored_key || read_exact(f, stored_key, klen)) goto fail;
    if (memcmp(stored_key, key, klen)) goto fail;
    if (read_exact(f, &blen, 8) || blen == 0 || blen > (512u << 20)) goto fail;
    data = malloc(blen);
    if (!data || read_exact(f, data, blen)) goto fail;
    if (read_exact(f, &h, 8) || h != fcl_hash64(data, blen, 0)) goto fail;
    *bin = data;
    *len = blen;
    data = NULL;
    rc = 0;
fail:
    fclose(f);
    free(stored_key);
    free(data);
    return rc;
}

/* Atomic (io/atomic.h: temp file in the same folder, fsync, rename). A failure leaves no partial
 * entry and is not an error for the caller (the cache is an optimisation). */
int fcl_disk_cache_store(const char *dir, const char *key, const unsigned char *bin, size_t len)
{
    char sub[1100], path[1200];
    snprintf(sub, sizeof sub, "%s/kernels", dir);
    if (fcl_mkdirs(sub)) return -1;
    entry_path(dir, key, path, sizeof path);
    fcl_error ignored = {0};
    fcl_atomic_file af;
    if (fcl_atomic_open(&af, path, &ignored)) return -1;
    uint64_t klen = strlen(key), blen = len, h = fcl_hash64(bin, len, 0);
    int bad = fcl_atomic_write(&af, MAGIC, 8, &ignored) || fcl_atomic_write(&af, &klen, 8, &ignored) ||
              fcl_atomic_write(&af, key, klen, &ignored) || fcl_atomic_write(&af, &blen, 8, &ignored) ||
              fcl_atomic_write(&af, bin, len, &ignored) || fcl_atomic_write(&af, &h, 8, &ignored) ||
              fcl_atomic_commit(&af, &ignored);
    return bad ? -1 : 0;
}

void fcl_device_key(const fcl_device_info *d, char *buf, size_t size)
{
    char text[2048];
    int n = snprintf(text, sizeof text, "%s|%s|%s|%s|%s", d->platform, d->platform_version, d->name, d->driver,
                     d->device_version);
    if (n < 0) n = 0;
    snprintf(buf, size, "%016llx", (unsigned long long)fcl_hash64(text, strlen(text), 0));
}
