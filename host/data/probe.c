/* host/data/probe.c: image headers only (PNG IHDR, JPEG SOF): a whole dataset checked in moments before training starts. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <facecl/dataset.h>
#include <facecl/image.h>

static unsigned be16(const unsigned char *p) { return (unsigned)p[0] << 8 | p[1]; }
static unsigned long be32(const unsigned char *p)
{
    return (unsigned long)p[0] << 24 | (unsigned long)p[1] << 16 | (unsigned long)p[2] << 8 | p[3];
}

static fcl_status probe_png(FILE *f, const char *path, int *c, int *h, int *w, fcl_error *err)
{
    unsigned char b[26]; /* after the signature: length, "IHDR", width, height, depth, colour type, ... */
    if (fread(b, 1, sizeof b, f) != sizeof b) return FCL_ERR(err, FCL_ERR_FORMAT, "%s: truncated PNG header", path);
    if (be32(b) != 13 || memcmp(b + 4, "IHDR", 4))
        return FCL_ERR(err, FCL_ERR_FORMAT, "%s: PNG without an IHDR chunk first", path);
    unsigned long pw = be32(b + 8), ph = be32(b + 12);
    int depth = b[16], type = b[17];
    if (pw == 0 || ph == 0 || pw > 0x7fffffffUL || ph > 0x7fffffffUL)
        return FCL_ERR(err, FCL_ERR_FORMAT, "%s: PNG of %lux%lu pixels", path, pw, ph);
    int ok_type = type == 0 || type == 2 || type == 3 || type == 4 || type == 6;
    if (!ok_type || !(depth == 1 || depth == 2 || depth == 4 || depth == 8 || depth == 16))
        return FCL_ERR(err, FCL_ERR_FORMAT, "%s: PNG with bit depth %d and colour type %d", path, depth, type);
    *w = (int)pw;
    *h = (int)ph;
    *c = type == 0 || type == 4 ? 1 : 3;
    return FCL_OK;
}

static fcl_status probe_jpeg(FILE *f, const char *path, int *c, int *h, int *w, fcl_error *err)
{
    for (;;) {
        int m = fgetc(f);
        if (m == EOF) return FCL_ERR(err, FCL_ERR_FORMAT, "%s: JPEG ends before its frame header", path);
        if (m != 0xff) continue;   /* tolerate garbage between segments, as libjpeg does */
        do m = fgetc(f);
        while (m == 0xff);
        if (m == EOF) return FCL_ERR(err, FCL_ERR_FORMAT, "%s: JPEG ends before its frame header", path);
        if (m == 0x01 || (m >= 0xd0 && m <= 0xd7)) continue; /* markers without a length */
        if (m == 0xd9 || m == 0xda)
            return FCL_ERR(err, FCL_ERR_FORMAT, "%s: JPEG without a frame header before its data", path);
        unsigned char len[2];
        if (fread(len, 1, 2, f) != 2 || be16(len) < 2)
            return FCL_ERR(err, FCL_ERR_FORMAT, "%s: truncated JPEG segment", path);
        int sof = m >= 0xc0 && m <= 0xcf && m != 0xc4 && m != 0xc8 && m != 0xcc;
        if (!sof) {
            if (fseek(f, (long)be16(len) - 2, SEEK_CUR)) return FCL_ERR(err, FCL_ERR_FORMAT, "%s: truncated JPEG", path);
            continue;
        }
        unsigned char b[6]; /* precision, height, width, components */
        if (be16(len) < 8 || fread(b, 1, sizeof b, f) != sizeof b)
            return FCL_ERR(err, FCL_ERR_FORMAT, "%s: truncated JPEG frame header", path);
        *h = (int)be16(b + 1);
        *w = (int)be16(b + 3);
        *c = b[5] == 1 ? 1 : 3;
        if (*h == 0 || *w == 0 || !(b[5] == 1 || b[5] == 3 || b[5] == 4))
            return FCL_ERR(err, FCL_ERR_FORMAT, "%s: JPEG of %dx%d pixels with %d components", path, *w, *h, b[5]);
        return FCL_OK;
    }
}

fcl_status fcl_image_probe_file(const char *path, int *c, int *h, int *w, fcl_error *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) return FCL_ERR(err, FCL_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    unsigned char sig[8];
    size_t n = fread(sig, 1, sizeof sig, f);
    fcl_status st;
    if (n == 0) st = FCL_ERR(err, FCL_ERR_FORMAT, "%s: empty file", path);
    else if (n == 8 && !memcmp(sig, "\x89PNG\r\n\x1a\n", 8)) st = probe_png(f, path, c, h, w, err);
    else if (n >= 3 && sig[0] == 0xff && sig[1] == 0xd8 && sig[2] == 0xff) {
        st = fseek(f, 2, SEEK_SET) ? FCL_ERR(err, FCL_ERR_IO, "%s: cannot seek", path) : probe_jpeg(f, path, c, h, w, err);
    } else st = FCL_ERR(err, FCL_ERR_FORMAT, "%s: not a PNG or JPEG file", path);
    fclose(f);
    return st;
}

fcl_status fcl_dataset_probe(fcl_dataset *ds, unsigned flags, fcl_strlist *bad, fcl_error *err)
{
    size_t kept = 0, n_bad = 0;
    fcl_status st = FCL_OK;
    char first[1100] = "";
    for (size_t i = 0; i < ds->n; i++) {
        int c, h, w;
        fcl_error e = {0};
        if (!fcl_image_probe_file(ds->paths[i], &c, &h, &w, &e)) {
            ds->paths[kept] = ds->paths[i];
            ds->labels[kept++] = ds->labels[i];
            continue;
        }
        const char *m = strchr(e.msg, ' '); /* "probe.c:88 path: why" -> "path: why" */
        m = m ? m + 1 : e.msg;
        if (!n_bad++) snprintf(first, sizeof first, "%.1000s", m);
        if (!st) st = fcl_strlist_add(bad, err, "%s", m);
        if (flags & FCL_DATA_SKIP_BAD) free(ds->paths[i]);
        else {
            ds->paths[kept] = ds->paths[i];
            ds->labels[kept++] = ds->labels[i];
        }
    }
    ds->n = kept;
    if (st) return st;
    if (n_bad && !(flags & FCL_DATA_SKIP_BAD))
        return FCL_ERR(err, FCL_ERR_FORMAT, "%s: %zu image%s cannot be read (%s%s); --skip-bad leaves them out with a warning",
                       ds->root ? ds->root : "dataset", n_bad, n_bad == 1 ? "" : "s", first, n_bad > 1 ? ", ..." : "");
    return FCL_OK;
}
