/* tools/eval_common.c: shared setup and file helpers of the evaluation commands (eval, embed, verify). */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "commands.h"
#include "eval_common.h"
#include "progress.h"
#include "io/csv_internal.h"

int tool_parse_tta(const char *v, int *flip)
{
    if (!strcmp(v, "flip") || !strcmp(v, "none")) {
        *flip = !strcmp(v, "flip");
        return 0;
    }
    tool_fail("--tta: expected flip or none, got '%s'", v);
    return 2;
}

void tool_eval_close(tool_eval_setup *s)
{
    fcl_net_destroy(s->net);
    fcl_model_free(s->model);
    fcl_ctx_destroy(s->ctx);
    fcl_strlist_free(&s->class_names);
    memset(s, 0, sizeof *s);
}

int tool_eval_open(const char *checkpoint, const char *device, int batch, int workers, tool_eval_setup *s)
{
    fcl_error err = {0};
    memset(s, 0, sizeof *s);
    if (fcl_eval_input_from_checkpoint(checkpoint, &s->in, &s->pipeline, &s->class_names, &err)) {
        tool_eval_close(s);
        return tool_fail_err(&err);
    }
    s->in.batch = batch;
    s->in.workers = workers;
    s->ctx = tool_ctx(device, 0);
    if (!s->ctx) {
        tool_eval_close(s);
        return 1;
    }
    if (fcl_net_from_checkpoint(s->ctx, checkpoint, batch, &s->model, &s->net)) {
        int rc = tool_fail_err(fcl_ctx_error(s->ctx));
        tool_eval_close(s);
        return rc;
    }
    return 0;
}

int tool_eval_dataset(tool_eval_setup *s, const fcl_dataset *ds, const char *label, int logits, float **out,
                      size_t *dim)
{
    fcl_progress prog;
    fcl_loader_source src = fcl_loader_source_dataset(ds);
    fcl_progress_start(&prog, label, ds->n, "img");
    if (logits ? fcl_predict_source(s->ctx, s->net, &src, &s->in, fcl_progress_cb, &prog, out, dim)
               : fcl_embed_source(s->ctx, s->net, &src, &s->in, fcl_progress_cb, &prog, out, dim)) {
        fcl_progress_abort(&prog);
        return tool_fail_err(fcl_ctx_error(s->ctx));
    }
    fcl_progress_end(&prog, NULL);
    return 0;
}

int tool_pairs_load(const char *file, const char *root, int lfw, unsigned flags, fcl_pair_list *pl, char **root_used)
{
    fcl_error err = {0};
    char *r = root ? strdup(root) : tool_dir_of(file);
    if (!r) return tool_fail("out of memory");
    int rc = fcl_pairs_load(file, r, lfw ? FCL_PAIRS_LFW : FCL_PAIRS_PLAIN, flags, pl, &err) ? tool_fail_err(&err) : 0;
    if (root_used && !rc) *root_used = r;
    else free(r);
    return rc;
}

int tool_mkdirs(const char *dir)
{
    char buf[4096];
    if (snprintf(buf, sizeof buf, "%s", dir) >= (int)sizeof buf) return tool_fail("%s: path too long", dir);
    for (char *p = buf + 1;; p++) {
        if (*p == '/' || *p == '\0') {
            char c = *p;
            *p = '\0';
            struct stat sb;
            if (stat(buf, &sb)) {
                if (mkdir(buf, 0777) && errno != EEXIST) return tool_fail("cannot create folder %s: %s", buf, strerror(errno));
            } else if (!S_ISDIR(sb.st_mode)) {
                return tool_fail("%s exists and is not a folder", buf);
            }
            *p = c;
            if (!c) break;
        }
    }
    return 0;
}

int tool_mkdirs_parent(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash || slash == path) return 0;
    char *d = strndup(path, (size_t)(slash - path));
    if (!d) return tool_fail("out of memory");
    int rc = tool_mkdirs(d);
    free(d);
    return rc;
}

int tool_write_text(const char *path, const char *text)
{
    fcl_error err = {0};
    return fcl_write_text_atomic(path, text, &err) ? tool_fail_err(&err) : 0;
}

int tool_atomic_finish(fcl_atomic_file *af, int bad)
{
    fcl_error err = {0};
    if (bad) {
        fcl_atomic_fail(af, "writing", errno, &err);
        return tool_fail_err(&err);
    }
    return fcl_atomic_commit(af, &err) ? tool_fail_err(&err) : 0;
}

int tool_npy_read(const char *path, fcl_npy *a, int ndim, int axis, const char *expected)
{
    fcl_error err = {0};
    if (fcl_npy_read_f32(path, a, &err)) return tool_fail_err(&err);
    if (a->ndim != ndim || a->shape[axis] == 0) return tool_fail("%s: %s", path, expected);
    return 0;
}

char *tool_default_index(const char *npy)
{
    size_t n = strlen(npy);
    if (n >= 4 && !strcmp(npy + n - 4, ".npy")) n -= 4;
    char *s = malloc(n + 5);
    if (s) {
        memcpy(s, npy, n);
        memcpy(s + n, ".txt", 5);
    }
    return s;
}

char *tool_join(const char *dir, const char *name)
{
    size_t a = strlen(dir), b = strlen(name);
    char *s = malloc(a + b + 2);
    if (!s) return NULL;
    memcpy(s, dir, a);
    size_t k = a;
    if (a && dir[a - 1] != '/') s[k++] = '/';
    memcpy(s + k, name, b + 1);
    return s;
}

static int is_image_name(const char *n)
{
    const char *dot = strrchr(n, '.');
    return n[0] != '.' && dot && (!strcasecmp(dot, ".png") || !strcasecmp(dot, ".jpg") || !strcasecmp(dot, ".jpeg"));
}

int tool_folder_has_images(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) {
        tool_fail("cannot open folder %s: %s", dir, strerror(errno));
        return -1;
    }
    int found = 0;
    struct dirent *e;
    while (!found && (e = readdir(d))) {
        if (!is_image_name(e->d_name)) continue;
        char *p = tool_join(dir, e->d_name);
        struct stat sb;
        if (p && !stat(p, &sb) && S_ISREG(sb.st_mode)) found = 1;
        free(p);
    }
    closedir(d);
    return found;
}

int tool_dataset_open(const char *dir, int force_flat, fcl_dataset *ds, int *flat)
{
    fcl_error err = {0};
    *flat = force_flat ? 1 : tool_folder_has_images(dir);
    if (*flat < 0) return 1;
    if (*flat ? fcl_dataset_open_flat(dir, ds, &err) : fcl_dataset_open_folder(dir, 0, NULL, ds, &err))
        return tool_fail_err(&err);
    return 0;
}

const char *tool_strip_root(const char *path, const char *root)
{
    if (!root || !*root) return path;
    size_t n = strlen(root);
    while (n > 1 && root[n - 1] == '/') n--;
    if (!strncmp(path, root, n) && path[n] == '/') return path + n + 1;
    return path;
}
