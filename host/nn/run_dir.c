/* host/nn/run_dir.c: the run folder's guards: no run overwritten, resume in the run's own folder, stale temps removed, settings compared. */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "nn/run_dir.h"
#include "runtime/internal.h" /* fcl_mkdirs */

/* Every file a run writes into its folder (their temp files are "<name>.tmp..."). */
static const char *const run_files[] = {"config.txt", "log.csv",     "classes.txt",      "last.safetensors",
                                        "best.safetensors", "loss.png", "accuracy.png", "verification.png",
                                        "roc.png"};
#define N_RUN_FILES (sizeof run_files / sizeof run_files[0])

static int is_file(const char *dir, const char *name)
{
    char p[PATH_MAX + 64];
    struct stat sb;
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return stat(p, &sb) == 0 && S_ISREG(sb.st_mode);
}

/* Data rows of a run's log.csv (lines after the header), -1 when unreadable. */
static long log_rows(const char *dir)
{
    char p[PATH_MAX + 64];
    snprintf(p, sizeof p, "%s/log.csv", dir);
    FILE *f = fopen(p, "r");
    if (!f) return -1;
    long lines = 0;
    int c, last = '\n';
    while ((c = fgetc(f)) != EOF) {
        if (c == '\n') lines++;
        last = c;
    }
    if (last != '\n') lines++;
    fclose(f);
    return lines > 0 ? lines - 1 : 0;
}

/* Temp files of our own naming ("<run file>.tmp", ".tmpXXXXXX", ".tmp.XXXXXX") left by a kill. */
static int is_stale_temp(const char *name)
{
    for (size_t i = 0; i < N_RUN_FILES; i++) {
        size_t n = strlen(run_files[i]);
        if (!strncmp(name, run_files[i], n) && !strncmp(name + n, ".tmp", 4)) return 1;
    }
    return 0;
}

static fcl_status remove_stale_temps(fcl_ctx *ctx, const char *dir, fcl_strlist *notes)
{
    DIR *d = opendir(dir);
    if (!d) return FCL_ERR(fcl_ctx_error(ctx), FCL_ERR_IO, "cannot read the run folder %s: %s", dir, strerror(errno));
    fcl_status st = FCL_OK;
    struct dirent *e;
    while (!st && (e = readdir(d))) {
        if (!is_stale_temp(e->d_name)) continue;
        char p[PATH_MAX + 300];
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        struct stat sb;
        if (lstat(p, &sb) != 0 || !S_ISREG(sb.st_mode)) continue;
        if (unlink(p) != 0) st = FCL_ERR(fcl_ctx_error(ctx), FCL_ERR_IO, "cannot remove the stale temp file %s: %s", p, strerror(errno));
        else st = fcl_strlist_add(notes, fcl_ctx_error(ctx), "removed %s, a temp file left by an interrupted run", p);
    }
    closedir(d);
    return st;
}

/* The folder a checkpoint path lies in ("." for a bare name). */
static void dir_of(const char *path, char *out, size_t size)
{
    snprintf(out, size, "%s", path);
    char *slash = strrchr(out, '/');
    if (!slash) snprintf(out, size, ".");
    else if (slash == out) out[1] = '\0';
    else *slash = '\0';
}

static fcl_status check_resume_dir(fcl_ctx *ctx, const fcl_train_config *cfg)
{
    char ck_dir[PATH_MAX], a[PATH_MAX], b[PATH_MAX];
    struct stat sb;
    if (stat(cfg->resume, &sb) != 0)
        return FCL_ERR(fcl_ctx_error(ctx), FCL_ERR_IO, "--resume %s: cannot read the checkpoint: %s", cfg->resume, strerror(errno));
    if (!S_ISREG(sb.st_mode)) return FCL_ERR(fcl_ctx_error(ctx), FCL_ERR_IO, "--resume %s: not a file", cfg->resume);
    dir_of(cfg->resume, ck_dir, sizeof ck_dir);
    if (!realpath(ck_dir, a) || !realpath(cfg->run_dir, b) || strcmp(a, b))
        return FCL_ERR(fcl_ctx_error(ctx), FCL_ERR_INVALID_ARG,
                       "--resume %s continues the run in %s, but --out is %s: RUN must be the run's own folder "
                       "(--out %s), or start a new run from its weights with --init %s --out %s",
                       cfg->resume, ck_dir, cfg->run_dir, ck_dir, cfg->resume, cfg->run_dir);
    return FCL_OK;
}

/* A new run in a folder that holds a run: refused unless --overwrite, which removes the old files. */
static fcl_status check_new_run(fcl_ctx *ctx, const fcl_train_config *cfg, fcl_strlist *notes)
{
    const char *dir = cfg->run_dir;
    int holds = 0;
    char found[256] = "";
    for (size_t i = 0; i < 5; i++) /* what makes it a run: config, log, checkpoints (a refused start leaves only classes.txt) */
        if (i != 2 && is_file(dir, run_files[i])) {
            size_t l = strlen(found);
            snprintf(found + l, sizeof found - l, "%s%s", holds ? ", " : "", run_files[i]);
            holds++;
        }
    if (!holds) return FCL_OK;
    if (!cfg->overwrite) {
        long rows = log_rows(dir);
        char epochs[64] = "";
        if (rows >= 0) snprintf(epochs, sizeof epochs, ", %ld epoch%s logged", rows, rows == 1 ? "" : "s");
        return FCL_ERR(fcl_ctx_error(ctx), FCL_ERR_INVALID_ARG,
                       "the run folder %s already holds a run (%s%s): continue it with --resume %s/last.safetensors, "
                       "replace it with --overwrite, or choose another --out",
                       dir, found, epochs, dir);
    }
    for (size_t i = 0; i < N_RUN_FILES; i++) {
        char p[PATH_MAX + 64];
        snprintf(p, sizeof p, "%s/%s", dir, run_files[i]);
        if (unlink(p) != 0 && errno != ENOENT)
            return FCL_ERR(fcl_ctx_error(ctx), FCL_ERR_IO, "--overwrite: cannot remove %s: %s", p, strerror(errno));
    }
    return fcl_strlist_add(notes, fcl_ctx_error(ctx), "--overwrite: removed the previous run's files from %s", dir);
}

fcl_status fcl_run_dir_prepare(fcl_ctx *ctx, const fcl_train_config *cfg, fcl_strlist *notes)
{
    struct stat sb;
    int exists = stat(cfg->run_dir, &sb) == 0;
    if (exists && !S_ISDIR(sb.st_mode))
        return FCL_ERR(fcl_ctx_error(ctx), FCL_ERR_INVALID_ARG, "--out %s exists and is not a folder", cfg->run_dir);
    fcl_status st = cfg->resume ? check_resume_dir(ctx, cfg) : exists ? check_new_run(ctx, cfg, notes) : FCL_OK;
    if (st) return st;
    if (fcl_mkdirs(cfg->run_dir))
        return FCL_ERR(fcl_ctx_error(ctx), FCL_ERR_IO, "cannot create the run folder %s: %s", cfg->run_dir, strerror(errno));
    return remove_stale_temps(ctx, cfg->run_dir, notes);
}

/* ---- settings on resume ------------------------------------------------------------------------- */

/* The value of "key = value" in a config text, copied to out; 0 when absent. */
static int config_value(const char *text, const char *key, char *out, size_t size)
{
    size_t kl = strlen(key);
    for (const char *p = text; p && *p;) {
        const char *eol = strchr(p, '\n');
        size_t len = eol ? (size_t)(eol - p) : strlen(p);
        if (len > kl + 3 && !strncmp(p, key, kl) && !strncmp(p + kl, " = ", 3)) {
            size_t vl = len - kl - 3;
            if (vl >= size) vl = size - 1;
            memcpy(out, p + kl + 3, vl);
            out[vl] = '\0';
            return 1;
        }
        p = eol ? eol + 1 : NULL;
    }
    return 0;
}

static char *read_text(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = NULL;
    size_t n = 0, cap = 0;
    int c;
    while ((c = fgetc(f)) != EOF) {
        if (n + 2 > cap) {
            size_t nc = cap ? 2 * cap : 4096;
            char *nb = realloc(buf, nc);
            if (!nb) break;
            buf = nb;
            cap = nc;
        }
        buf[n++] = (char)c;
    }
    fclose(f);
    if (buf) buf[n] = '\0';
    return buf;
}

fcl_status fcl_run_config_check(fcl_ctx *ctx, const char *run_dir, const char *new_text, fcl_strlist *notes)
{
    /* resume, init, model (a path: model_name is compared), device and workers may differ freely.
     * What a checkpoint cannot continue under: another network or input, another batch (the
     * batch-norm statistics and the schedule's steps per epoch follow from it), another loss. */
    static const char *const fixed[] = {"model_name", "channels", "size", "classes", "embedding", "width", "stem",
                                        "batch", "loss", "pk"};
    static const char *const keys[] = {"train", "val", "pairs", "label_smoothing", "margin_s", "margin_m",
                                       "easy_margin", "center_alpha", "triplet_margin", "triplet_semi_hard",
                                       "histogram_bins", "epochs", "optim", "lr", "momentum", "nesterov",
                                       "weight_decay", "clip", "schedule", "schedule_unit", "warmup_epochs",
                                       "warmup_steps", "warmup_start_factor", "total_steps", "seed", "augment",
                                       "norm", "freeze", "best_metric"};
    char path[PATH_MAX + 64], a[1024], b[1024], changed[2048] = "";
    snprintf(path, sizeof path, "%s/config.txt", run_dir);
    char *old = read_text(path);
    if (!old) return fcl_strlist_add(notes, fcl_ctx_error(ctx), "resume: %s is missing, the settings cannot be compared", path);
    fcl_status st = FCL_OK;
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0] && !st; i++) {
        if (!config_value(old, fixed[i], a, sizeof a) || !config_value(new_text, fixed[i], b, sizeof b)) continue;
        if (strcmp(a, b))
            st = FCL_ERR(fcl_ctx_error(ctx), FCL_ERR_INVALID_ARG,
                         "--resume: %s was %s in the run (%s) and is %s now; a run continues only with the same "
                         "model, input size, channels, classes, embedding, width, stem, batch and loss "
                         "(start a new run with --init to change it)",
                         fixed[i], a, path, b);
    }
    for (size_t i = 0; i < sizeof keys / sizeof keys[0] && !st; i++) {
        if (!config_value(old, keys[i], a, sizeof a) || !config_value(new_text, keys[i], b, sizeof b) || !strcmp(a, b))
            continue;
        size_t l = strlen(changed);
        snprintf(changed + l, sizeof changed - l, "%s%s %s -> %s", l ? ", " : "", keys[i], a, b);
    }
    if (!st && changed[0])
        st = fcl_strlist_add(notes, fcl_ctx_error(ctx),
                             "resume: settings changed since the run started: %s (the new values are recorded in "
                             "config.txt; the optimizer and learning-rate schedule continue from the checkpoint's "
                             "state, base lr included)",
                             changed);
    free(old);
    return st;
}
