/* host/data/dataset.c: ImageFolder and flat-folder datasets, the class-list file, subsets, item loading. */
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <facecl/dataset.h>
#include "io/csv_internal.h"
#include "runtime/free_list.h"

/* --- message lists -------------------------------------------------------------------------- */

fcl_status fcl_strlist_add(fcl_strlist *l, fcl_error *err, const char *fmt, ...)
{
    if (!l) return FCL_OK;
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    int n = vasprintf(&s, fmt, ap);
    va_end(ap);
    if (n < 0) return FCL_ERR(err, FCL_ERR_NOMEM, "fcl_strlist_add: out of memory");
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        char **items = realloc(l->items, cap * sizeof *items);
        if (!items) {
            free(s);
            return FCL_ERR(err, FCL_ERR_NOMEM, "fcl_strlist_add: out of memory");
        }
        l->items = items;
        l->cap = cap;
    }
    l->items[l->n++] = s;
    return FCL_OK;
}

void fcl_strlist_free(fcl_strlist *l)
{
    if (!l) return;
    for (size_t i = 0; i < l->n; i++) free(l->items[i]);
    free(l->items);
    l->items = NULL;
    l->n = l->cap = 0;
}

/* --- folder listing ------------------------------------------------------------------------- */

static int is_image_name(const char *name)
{
    const char *dot = strrchr(name, '.');
    if (!dot || dot == name) return 0;
    return !strcasecmp(dot, ".png") || !strcasecmp(dot, ".jpg") || !strcasecmp(dot, ".jpeg");
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *join_path(const char *a, const char *b)
{
    char *s = NULL;
    size_t la = strlen(a);
    if (la == 0) return strdup(b);
    if (asprintf(&s, "%s%s%s", a, a[la - 1] == '/' ? "" : "/", b) < 0) return NULL;
    return s;
}

enum { LIST_DIRS, LIST_IMAGES };

static int has_control(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f) return 1;
    return 0;
}

/* s with control characters written as \n, \t, \xNN, for a message. */
static void escape_name(const char *s, char *out, size_t size)
{
    size_t n = 0;
    for (; *s && n + 5 < size; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '\n') n += (size_t)snprintf(out + n, size - n, "\\n");
        else if (c == '\t') n += (size_t)snprintf(out + n, size - n, "\\t");
        else if (c < 0x20 || c == 0x7f) n += (size_t)snprintf(out + n, size - n, "\\x%02x", c);
        else out[n++] = (char)c;
    }
    out[n] = '\0';
}

/* Why an entry named like an image is not read as one; NULL when it is a regular file. */
static const char *not_an_image_file(const char *full)
{
    struct stat sb, lsb;
    if (stat(full, &sb) != 0)
        return lstat(full, &lsb) == 0 && S_ISLNK(lsb.st_mode) ? "a dangling symbolic link" : "unreadable";
    if (S_ISREG(sb.st_mode)) return NULL;
    if (S_ISDIR(sb.st_mode)) return "a folder named like an image";
    if (S_ISFIFO(sb.st_mode)) return "a FIFO";
    if (S_ISSOCK(sb.st_mode)) return "a socket";
    return "not a regular file";
}

/* The entries of `dir` that are sub-folders (LIST_DIRS) or image files (LIST_IMAGES), names
 * only, '.'-prefixed entries skipped, sorted byte-wise. Symbolic links are followed. Entries
 * named like images that are not regular files are named in `skipped` (may be NULL). */
static fcl_status list_dir(const char *dir, int what, fcl_strlist *names, fcl_strlist *skipped, fcl_error *err)
{
    fcl_status st = FCL_OK;
    char *full = NULL;
    DIR *d = opendir(dir);
    if (!d) return FCL_ERR(err, FCL_ERR_IO, "%s: cannot open folder: %s", dir, strerror(errno));
    for (;;) {
        errno = 0;
        struct dirent *e = readdir(d);
        if (!e) {
            if (errno) st = FCL_ERR(err, FCL_ERR_IO, "%s: cannot read folder: %s", dir, strerror(errno));
            break;
        }
        if (e->d_name[0] == '.') continue;
        if (what == LIST_IMAGES && !is_image_name(e->d_name)) continue;
        full = join_path(dir, e->d_name);
        if (!full) {
            st = FCL_ERR(err, FCL_ERR_NOMEM, "%s: out of memory", dir);
            break;
        }
        struct stat sb;
        const char *why = what == LIST_IMAGES ? not_an_image_file(full) : NULL;
        int ok = what == LIST_IMAGES ? !why : stat(full, &sb) == 0 && S_ISDIR(sb.st_mode);
        if (why) st = fcl_strlist_add(skipped, err, "%s: skipped: %s", full, why);
        free(full);
        full = NULL;
        if (st || (ok && (st = fcl_strlist_add(names, err, "%s", e->d_name)))) break;
    }
    closedir(d);
    if (st) goto fail;
    if (names->n > 1) qsort(names->items, names->n, sizeof(char *), cmp_str);
fail:
    return st;
}

/* --- building ------------------------------------------------------------------------------- */

static fcl_status ds_reserve(fcl_dataset *ds, size_t *cap, size_t need, fcl_error *err)
{
    if (need <= *cap) return FCL_OK;
    size_t c = *cap ? *cap : 64;
    while (c < need) c *= 2;
    char **p = realloc(ds->paths, c * sizeof *p);
    if (!p) return FCL_ERR(err, FCL_ERR_NOMEM, "dataset: out of memory for %zu items", need);
    ds->paths = p;
    int *l = realloc(ds->labels, c * sizeof *l);
    if (!l) return FCL_ERR(err, FCL_ERR_NOMEM, "dataset: out of memory for %zu items", need);
    ds->labels = l;
    *cap = c;
    return FCL_OK;
}

/* Appends the images of folder `dir` with `label`; *n_added says how many. */
static fcl_status add_images(fcl_dataset *ds, size_t *cap, const char *dir, int label, size_t *n_added,
                             fcl_strlist *skipped, fcl_error *err)
{
    fcl_status st = FCL_OK;
    fcl_strlist files = {0};
    *n_added = 0;
    if ((st = list_dir(dir, LIST_IMAGES, &files, skipped, err))) goto fail;
    if ((st = ds_reserve(ds, cap, ds->n + files.n, err))) goto fail;
    for (size_t i = 0; i < files.n; i++) {
        char *p = join_path(dir, files.items[i]);
        if (!p) {
            st = FCL_ERR(err, FCL_ERR_NOMEM, "%s: out of memory", dir);
            goto fail;
        }
        ds->paths[ds->n] = p;
        ds->labels[ds->n] = label;
        ds->n++;
    }
    *n_added = files.n;
fail:
    fcl_strlist_free(&files);
    return st;
}

static fcl_status ds_init(fcl_dataset *out, const char *root, fcl_error *err)
{
    memset(out, 0, sizeof *out);
    if (!root) return FCL_ERR(err, FCL_ERR_INVALID_ARG, "dataset: NULL folder");
    out->root = strdup(root);
    if (!out->root) return FCL_ERR(err, FCL_ERR_NOMEM, "dataset: out of memory");
    return FCL_OK;
}

void fcl_dataset_free(fcl_dataset *ds)
{
    if (!ds) return;
    for (int i = 0; i < ds->n_classes; i++) free(ds->classes[i]);
    free(ds->classes);
    for (size_t i = 0; i < ds->n; i++) free(ds->paths[i]);
    FCL_FREE_ALL(ds->paths, ds->labels, ds->root);
    memset(ds, 0, sizeof *ds);
}

int fcl_dataset_class_index(const fcl_dataset *ds, const char *name)
{
    if (!ds || !name) return -1;
    for (int i = 0; i < ds->n_classes; i++)
        if (!strcmp(ds->classes[i], name)) return i;
    return -1;
}

/* Adds a class name (taking ownership of nothing: it is copied). */
static fcl_status add_class(fcl_dataset *ds, const char *name, fcl_error *err)
{
    char **c = realloc(ds->classes, sizeof *c * ((size_t)ds->n_classes + 1));
    if (!c) return FCL_ERR(err, FCL_ERR_NOMEM, "dataset: out of memory");
    ds->classes = c;
    if (!(ds->classes[ds->n_classes] = strdup(name)))
        return FCL_ERR(err, FCL_ERR_NOMEM, "dataset: out of memory");
    ds->n_classes++;
    return FCL_OK;
}

/* The end of a folder open with status st: no image in any class folder of root is an error;
 * after an error out is freed. */
static fcl_status open_end(fcl_status st, fcl_dataset *out, const char *root, fcl_error *err)
{
    if (!st && !out->n) st = FCL_ERR(err, FCL_ERR_FORMAT, "%s: no images in any class folder", root);
    if (st && out) fcl_dataset_free(out);
    return st;
}

/* *dir = root/name, malloc'd (the previous *dir freed). */
static fcl_status class_dir(const char *root, const char *name, char **dir, fcl_error *err)
{
    free(*dir);
    *dir = join_path(root, name);
    return *dir ? FCL_OK : FCL_ERR(err, FCL_ERR_NOMEM, "%s: out of memory", root);
}

/* A class folder without images: an error, or with FCL_DATA_SKIP_BAD a warning. The message's
 * end says which class it is (`tail`) or what becomes of it (`warn_tail`). */
static fcl_status empty_class(const char *dir, unsigned flags, const char *tail, const char *warn_tail,
                              fcl_strlist *warnings, fcl_error *err)
{
    if (!(flags & FCL_DATA_SKIP_BAD))
        return FCL_ERR(err, FCL_ERR_FORMAT, "%s: empty class folder (no .png, .jpg or .jpeg images%s", dir, tail);
    return fcl_strlist_add(warnings, err, "%s: empty class folder (no .png, .jpg or .jpeg images%s", dir, warn_tail);
}

fcl_status fcl_dataset_open_folder(const char *root, unsigned flags, fcl_strlist *warnings,
                                   fcl_dataset *out, fcl_error *err)
{
    fcl_status st = FCL_OK;
    fcl_strlist dirs = {0};
    char *dir = NULL;
    size_t cap = 0;
    if (!out) return FCL_ERR(err, FCL_ERR_INVALID_ARG, "fcl_dataset_open_folder: NULL output");
    if ((st = ds_init(out, root, err))) goto fail;
    if ((st = list_dir(root, LIST_DIRS, &dirs, NULL, err))) goto fail;
    if (dirs.n == 0) {
        st = FCL_ERR(err, FCL_ERR_FORMAT,
                     "%s: no class sub-folders (an ImageFolder dataset is ROOT/<identity>/<image>; "
                     "a folder of unlabelled images is a flat dataset)", root);
        goto fail;
    }
    if (dirs.n > 0x7fffffff) {
        st = FCL_ERR(err, FCL_ERR_FORMAT, "%s: too many class folders (%zu)", root, dirs.n);
        goto fail;
    }
    for (size_t i = 0; i < dirs.n; i++) {
        size_t added = 0;
        if ((st = class_dir(root, dirs.items[i], &dir, err))) goto fail;
        if (has_control(dirs.items[i])) { /* it could not be one line of classes.txt, nor be read in a message */
            char shown[1024];
            escape_name(dir, shown, sizeof shown);
            if (!(flags & FCL_DATA_SKIP_BAD)) {
                st = FCL_ERR(err, FCL_ERR_FORMAT, "%s: the class folder's name holds a control character "
                             "(newline, tab, ...): rename it", shown);
                goto fail;
            }
            if ((st = fcl_strlist_add(warnings, err, "%s: the class folder's name holds a control character "
                                      "(newline, tab, ...), class left out", shown)))
                goto fail;
            continue;
        }
        if ((st = add_images(out, &cap, dir, out->n_classes, &added, warnings, err))) goto fail;
        if (added == 0) {
            if ((st = empty_class(dir, flags, ")", "), class left out", warnings, err))) goto fail;
        } else if ((st = add_class(out, dirs.items[i], err))) {
            goto fail;
        }
    }
fail:
    free(dir);
    fcl_strlist_free(&dirs);
    return open_end(st, out, root, err);
}

/* Reads the class-list file: one name per line; '\r' before '\n' and blank lines ignored.
 * Names must be unique and be plain folder names. */
static fcl_status read_classes(const char *path, fcl_strlist *names, fcl_strlist *lines_of,
                               fcl_error *err)
{
    fcl_status st = FCL_OK;
    char *line = NULL;
    size_t cap = 0;
    long lineno = 0;
    FILE *f = fopen(path, "r");
    if (!f) return FCL_ERR(err, FCL_ERR_IO, "%s: cannot open class list: %s", path, strerror(errno));
    ssize_t n;
    while ((n = getline(&line, &cap, f)) >= 0) {
        lineno++;
        if ((size_t)n != strlen(line)) {
            st = FCL_ERR(err, FCL_ERR_FORMAT, "%s:%ld: NUL byte in class list", path, lineno);
            goto fail;
        }
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) line[--n] = '\0';
        if (n == 0) continue;
        if (line[0] == '.' || strchr(line, '/') || strchr(line, '\r')) {
            st = FCL_ERR(err, FCL_ERR_FORMAT,
                         "%s:%ld: '%s' is not a class folder name (no '/', no leading '.')", path,
                         lineno, line);
            goto fail;
        }
        for (size_t i = 0; i < names->n; i++)
            if (!strcmp(names->items[i], line)) {
                st = FCL_ERR(err, FCL_ERR_FORMAT, "%s:%ld: class '%s' listed twice (first on line %s)",
                             path, lineno, line, lines_of->items[i]);
                goto fail;
            }
        if ((st = fcl_strlist_add(names, err, "%s", line)) ||
            (st = fcl_strlist_add(lines_of, err, "%ld", lineno)))
            goto fail;
    }
    if (ferror(f)) {
        st = FCL_ERR(err, FCL_ERR_IO, "%s: read error: %s", path, strerror(errno));
        goto fail;
    }
    if (names->n == 0) {
        st = FCL_ERR(err, FCL_ERR_FORMAT, "%s: class list is empty", path);
        goto fail;
    }
    if (names->n > 0x7fffffff) {
        st = FCL_ERR(err, FCL_ERR_FORMAT, "%s: too many classes", path);
        goto fail;
    }
fail:
    free(line);
    fclose(f);
    return st;
}

fcl_status fcl_dataset_open_folder_with_classes(const char *root, const char *classes_file,
                                                unsigned flags, fcl_strlist *warnings,
                                                fcl_dataset *out, fcl_error *err)
{
    fcl_status st = FCL_OK;
    fcl_strlist names = {0}, lines_of = {0}, dirs = {0}, probe = {0};
    char *dir = NULL;
    size_t cap = 0;
    if (!out) return FCL_ERR(err, FCL_ERR_INVALID_ARG, "fcl_dataset_open_folder_with_classes: NULL output");
    if ((st = ds_init(out, root, err))) goto fail;
    if (!classes_file) {
        st = FCL_ERR(err, FCL_ERR_INVALID_ARG, "%s: NULL class-list file", root);
        goto fail;
    }
    if ((st = read_classes(classes_file, &names, &lines_of, err))) goto fail;
    if ((st = list_dir(root, LIST_DIRS, &dirs, NULL, err))) goto fail;

    /* A folder holding images that the list does not name would silently be dropped from
     * training: refuse it so the list and the data cannot drift apart unnoticed. */
    for (size_t i = 0; i < dirs.n; i++) {
        int known = 0;
        for (size_t j = 0; j < names.n && !known; j++) known = !strcmp(names.items[j], dirs.items[i]);
        if (known) continue;
        if ((st = class_dir(root, dirs.items[i], &dir, err))) goto fail;
        if ((st = list_dir(dir, LIST_IMAGES, &probe, NULL, err))) goto fail;
        if (probe.n > 0) {
            st = FCL_ERR(err, FCL_ERR_FORMAT,
                         "%s: folder with %zu image%s is not in the class list %s (add it to the "
                         "list to train on it, or move it away)", dir, probe.n, probe.n == 1 ? "" : "s",
                         classes_file);
            goto fail;
        }
        fcl_strlist_free(&probe);
    }
    for (size_t j = 0; j < names.n; j++) {
        int found = 0;
        for (size_t i = 0; i < dirs.n && !found; i++) found = !strcmp(names.items[j], dirs.items[i]);
        if (!found) {
            st = FCL_ERR(err, FCL_ERR_FORMAT, "%s:%s: class '%s' has no folder %s/%s", classes_file,
                         lines_of.items[j], names.items[j], root, names.items[j]);
            goto fail;
        }
        if ((st = add_class(out, names.items[j], err))) goto fail;
        if ((st = class_dir(root, names.items[j], &dir, err))) goto fail;
        size_t added = 0;
        if ((st = add_images(out, &cap, dir, (int)j, &added, warnings, err))) goto fail;
        if (added == 0) {
            char tail[1200], warn_tail[80];
            snprintf(tail, sizeof tail, "; class %zu of %s)", j, classes_file);
            snprintf(warn_tail, sizeof warn_tail, "); class %zu keeps its index with no images", j);
            if ((st = empty_class(dir, flags, tail, warn_tail, warnings, err))) goto fail;
        }
    }
fail:
    free(dir);
    fcl_strlist_free(&names);
    fcl_strlist_free(&lines_of);
    fcl_strlist_free(&dirs);
    fcl_strlist_free(&probe);
    return open_end(st, out, root, err);
}

fcl_status fcl_dataset_write_classes(const fcl_dataset *ds, const char *path, fcl_error *err)
{
    fcl_atomic_file af;
    if (!ds || !path) return FCL_ERR(err, FCL_ERR_INVALID_ARG, "fcl_dataset_write_classes: NULL argument");
    if (ds->n_classes == 0)
        return FCL_ERR(err, FCL_ERR_INVALID_ARG, "%s: dataset %s has no classes to write", path,
                       ds->root ? ds->root : "");
    for (int i = 0; i < ds->n_classes; i++)
        if (strpbrk(ds->classes[i], "\n\r") || !ds->classes[i][0])
            return FCL_ERR(err, FCL_ERR_INVALID_ARG, "%s: class %d has a name that cannot be one line",
                           path, i);
    fcl_status st = fcl_atomic_open(&af, path, err);
    if (st) return st;
    for (int i = 0; i < ds->n_classes; i++)
        if (fprintf(af.f, "%s\n", ds->classes[i]) < 0) return fcl_atomic_fail(&af, "writing", errno, err);
    return fcl_atomic_commit(&af, err);
}

fcl_status fcl_dataset_open_flat(const char *root, fcl_dataset *out, fcl_error *err)
{
    fcl_status st = FCL_OK;
    size_t cap = 0, added = 0;
    if (!out) return FCL_ERR(err, FCL_ERR_INVALID_ARG, "fcl_dataset_open_flat: NULL output");
    if ((st = ds_init(out, root, err))) goto fail;
    if ((st = add_images(out, &cap, root, -1, &added, NULL, err))) goto fail;
    if (added == 0) {
        st = FCL_ERR(err, FCL_ERR_FORMAT, "%s: no .png, .jpg or .jpeg images in the folder", root);
        goto fail;
    }
fail:
    if (st && out) fcl_dataset_free(out);
    return st;
}

fcl_status fcl_dataset_subset(const fcl_dataset *src, const size_t *idx, size_t n, fcl_dataset *out,
                              fcl_error *err)
{
    fcl_status st = FCL_OK;
    size_t cap = 0;
    if (!src || !out || (n && !idx))
        return FCL_ERR(err, FCL_ERR_INVALID_ARG, "fcl_dataset_subset: NULL argument");
    if ((st = ds_init(out, src->root ? src->root : "", err))) goto fail;
    for (int i = 0; i < src->n_classes; i++)
        if ((st = add_class(out, src->classes[i], err))) goto fail;
    if (n && (st = ds_reserve(out, &cap, n, err))) goto fail;
    for (size_t i = 0; i < n; i++) {
        if (idx[i] >= src->n) {
            st = FCL_ERR(err, FCL_ERR_INVALID_ARG, "fcl_dataset_subset: index %zu of %zu is %zu, past %zu items",
                         i, n, idx[i], src->n);
            goto fail;
        }
        if (!(out->paths[out->n] = strdup(src->paths[idx[i]]))) {
            st = FCL_ERR(err, FCL_ERR_NOMEM, "fcl_dataset_subset: out of memory");
            goto fail;
        }
        out->labels[out->n] = src->labels[idx[i]];
        out->n++;
    }
fail:
    if (st && out) fcl_dataset_free(out);
    return st;
}

fcl_status fcl_dataset_load(const fcl_dataset *ds, size_t i, int channels, int h, int w,
                            fcl_image *out, fcl_error *err)
{
    fcl_status st = FCL_OK;
    fcl_image raw = {0};
    if (!ds || !out) return FCL_ERR(err, FCL_ERR_INVALID_ARG, "fcl_dataset_load: NULL argument");
    out->c = out->h = out->w = 0;
    out->data = NULL;
    if (i >= ds->n)
        return FCL_ERR(err, FCL_ERR_INVALID_ARG, "fcl_dataset_load: item %zu of %zu", i, ds->n);
    if ((h > 0) != (w > 0))
        return FCL_ERR(err, FCL_ERR_INVALID_ARG, "fcl_dataset_load: give both h and w, or neither");
    if ((st = fcl_image_decode_file(ds->paths[i], channels, &raw, err))) goto fail;
    if (h <= 0 || (raw.h == h && raw.w == w)) {
        *out = raw;
        raw.data = NULL;
        goto fail; /* success: common exit */
    }
    if ((st = fcl_image_resize(&raw, h, w, out, err))) {
        fcl_error_prefix(err, "%s: ", ds->paths[i]);
        goto fail;
    }
fail:
    fcl_image_free(&raw);
    return st;
}
