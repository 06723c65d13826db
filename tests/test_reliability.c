/* tests/test_reliability.c: issue 13 through the command line: runs never overwritten, bad values refused up front, resume guards, file modes, the README's commands. */
#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <facecl/facecl.h>
#include "helpers/cmdline.h"

#define FACECL FACECL_BINARY_DIR "/facecl"

static char out[1 << 16];
static char dir[] = "/tmp/facecl-rel-XXXXXX";
/* the small training every test starts from: 6 identities of 32 px gray images */
#define SMALL "--model small --size 32 --channels 1 --batch 8 --augment none --workers 1"

/* Runs a shell command in the test's folder; its exit status, stdout and stderr in out. */
static int run(const char *fmt, ...)
{
    char cmd[4096];
    int n = snprintf(cmd, sizeof cmd, "cd '%s' && ", dir);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd + n, sizeof cmd - (size_t)n, fmt, ap);
    va_end(ap);
    return fcl_test_run_buf(out, sizeof out, "%s", cmd);
}

static char *slurp(const char *rel)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    return strdup(buf);
}

static int exists(const char *rel)
{
    char path[512];
    struct stat sb;
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    return stat(path, &sb) == 0;
}

static void setup(void)
{
    strcpy(dir, "/tmp/facecl-rel-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    int rc = run(FACECL " synth --ids 6 --per-id 8 --size 32 --gray --seed 1 --unseen-ids 4 --pairs 40 faces");
    cr_assert_eq(rc, 0, "synth: %s", out);
}

static void teardown(void)
{
    fcl_test_rm_rf(dir);
}

TestSuite(reliability, .init = setup, .fini = teardown, .timeout = 300);

/* Item 1: a second run into a folder that holds a run is refused (naming --resume and
 * --overwrite) and leaves the first run's log intact; --overwrite replaces it. */
/* ASan reserves terabytes of shadow address space at start-up, which `ulimit -v` forbids: in a
 * sanitizer build the memory test runs without the limit (the refusal must still come first). */
#if defined(__SANITIZE_ADDRESS__)
#define ULIMIT_V ""
#else
#define ULIMIT_V "ulimit -v 4000000 && "
#endif

Test(reliability, run_folder_never_overwritten_silently)
{
    int rc = run(FACECL " train --train faces/train " SMALL " --epochs 2 --out R");
    cr_assert_eq(rc, 0, "first run: %s", out);
    char *log = slurp("R/log.csv");
    cr_assert_not_null(log);
    rc = run(FACECL " train --train faces/train " SMALL " --epochs 1 --seed 2 --out R");
    cr_assert_neq(rc, 0, "a second run overwrote R:\n%s", out);
    cr_assert(strstr(out, "--resume") && strstr(out, "--overwrite") && strstr(out, "2 epochs"), "%s", out);
    char *after = slurp("R/log.csv");
    cr_assert(after && !strcmp(log, after), "log.csv changed:\n%s\n---\n%s", log, after ? after : "(gone)");
    free(after);
    rc = run(FACECL " train --train faces/train " SMALL " --epochs 1 --seed 2 --out R --overwrite");
    cr_assert_eq(rc, 0, "--overwrite: %s", out);
    after = slurp("R/log.csv");
    cr_assert(after && strcmp(log, after), "--overwrite kept the old log");
    free(after);
    free(log);
}

/* Item 3: values that used to be replaced by defaults or cast are usage errors (exit 2) that
 * name the option and its range, before any work; so is an option missing its value. */
Test(reliability, bad_option_values_are_usage_errors)
{
    static const struct {
        const char *args, *needle;
    } cases[] = {
        {"train --train faces/train --out X --size 0", "--size needs a whole number in 1..65536"},
        {"train --train faces/train --out X --size -5", "--size needs a whole number in 1..65536"},
        {"train --train faces/train --out X --channels 0", "--channels needs a whole number in 1..3"},
        {"train --train faces/train --out X --width 0", "--width needs a number in (0, 64]"},
        {"train --train faces/train --out X --epochs 3000000000", "1..1000000, got '3000000000'"},
        {"train --train faces/train --out X --epochs 2 --batch", "--batch needs a value"},
        {"train --train faces/train --out X --lr 0", "--lr needs a number in (0, 1e+09]"},
        {"train --train faces/train --out X --lr nan", "--lr needs a number"},
        {"train --train faces/train --out X --margin-m 0", "--margin-m needs a number in (0, 100]"},
        {"train --train faces/train --out X --workers 0", "--workers needs a whole number in 1..256"},
        {"train --train faces/train --out X --seed -1", "--seed needs a whole number"},
        {"train --train faces/train --out X --pk 8x4x", "--pk needs PxK"},
        {"train --train faces/train --out X --best-metric acc", "--best-metric must be"},
        {"train --train faces/train --out X --out", "--out needs a value"},
        {"train --train faces/train --out ''", "--out needs a value, got an empty one"},
        {"train --out X", "--train DIR is required"},
        {"demo --epochs 3000000000", "--epochs needs a whole number in 1..1000000"},
        {"demo --size", "--size needs a value"},
        {"model show small --size 0", "--size: bad value"},
        {"model show", "which MODEL"},
        {"eval --checkpoint x.safetensors faces/val --batch", "--batch needs a value"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int rc = run(FACECL " %s", cases[i].args);
        cr_expect_eq(rc, 2, "`facecl %s` exited %d, not 2:\n%s", cases[i].args, rc, out);
        cr_expect(strstr(out, cases[i].needle), "`facecl %s` does not say '%s':\n%s", cases[i].args, cases[i].needle, out);
        cr_expect(!strstr(out, "device:"), "`facecl %s` started work before refusing:\n%s", cases[i].args, out);
    }
    cr_assert(!exists("X"), "a refused run created its folder");
}

/* Item 3, library level: 0 or a negative size, channels or width is refused, not read as "unset". */
Test(reliability, model_options_zero_is_refused_not_default)
{
    const char *text = "conv c1 out=4 k=3 p=1\nbn b1\nrelu\ngap\nflatten\nembedding\nclassifier fc\n";
    fcl_model_opts o;
    fcl_model *m = NULL;
    fcl_error e = {0};
    for (int k = 0; k < 5; k++) { /* size 0, channels 0, size_h 0, size -5, width 0 */
        fcl_model_opts_init(&o);
        o.classes = 3;
        if (k == 0) o.size = 0;
        if (k == 1) o.channels = 0;
        if (k == 2) o.size_h = 0;
        if (k == 3) o.size = -5;
        if (k == 4) o.width = 0;
        fcl_error_clear(&e);
        fcl_status st = fcl_model_parse(text, "t.model", &o, &m, &e);
        cr_expect_eq(st, FCL_ERR_INVALID_ARG, "case %d: a bad option was accepted (%s)", k, e.msg);
        if (!st) fcl_model_free(m);
        m = NULL;
    }
    fcl_model_opts_init(&o);
    o.classes = 3;
    o.size = 20;
    cr_assert_eq(fcl_model_parse(text, "t.model", &o, &m, &e), FCL_OK, "%s", e.msg);
    cr_assert_eq(m->in_h, 20);
    fcl_model_free(m);
}

/* Item 5: --resume into another folder is refused before anything is created there; a changed
 * size or batch is refused; other changes are listed; stale temp files of a killed run go. */
Test(reliability, resume_guards)
{
    int rc = run(FACECL " train --train faces/train " SMALL " --epochs 1 --out base");
    cr_assert_eq(rc, 0, "base: %s", out);
    rc = run(FACECL " train --train faces/train " SMALL " --epochs 2 --resume base/last.safetensors --out NEW");
    cr_assert_neq(rc, 0, "%s", out);
    cr_assert(strstr(out, "RUN must be the run's own folder") && strstr(out, "--out base"), "%s", out);
    cr_assert(!exists("NEW"), "NEW/ was left behind");

    rc = run(FACECL " train --train faces/train --model small --size 40 --channels 1 --batch 8 --augment none "
             "--epochs 2 --resume base/last.safetensors --out base");
    cr_assert_neq(rc, 0, "%s", out);
    cr_assert(strstr(out, "size was 32x32") && strstr(out, "40x40"), "%s", out);
    rc = run(FACECL " train --train faces/train --model small --size 32 --channels 1 --batch 12 --augment none "
             "--epochs 2 --resume base/last.safetensors --out base");
    cr_assert_neq(rc, 0, "%s", out);
    cr_assert(strstr(out, "batch was 8"), "%s", out);
    char *config = slurp("base/config.txt");
    cr_assert(config && strstr(config, "batch = 8") && strstr(config, "size = 32x32"), "config.txt was rewritten:\n%s", config);
    free(config);

    char p[512]; /* a kill -9 leftover of our own naming, and a file of someone else's */
    snprintf(p, sizeof p, "%s/base/accuracy.png.tmpAb12Cd", dir);
    FILE *f = fopen(p, "w");
    fclose(f);
    snprintf(p, sizeof p, "%s/base/notes.tmp", dir);
    f = fopen(p, "w");
    fclose(f);
    rc = run(FACECL " train --train faces/train " SMALL " --epochs 2 --lr 0.05 --resume base/last.safetensors --out base");
    cr_assert_eq(rc, 0, "%s", out);
    cr_assert(strstr(out, "lr 0.1 -> 0.05") && strstr(out, "epochs 1 -> 2"), "the changed settings are not listed:\n%s", out);
    cr_assert(!exists("base/accuracy.png.tmpAb12Cd"), "the stale temp file is still there");
    cr_assert(exists("base/notes.tmp"), "a file not of our naming was removed");
}

/* Item 10: files facecl writes get 0666 & ~umask (classes.txt was 0600); an unusable cache
 * folder gives one warning and the run goes on uncached. */
Test(reliability, file_modes_and_unwritable_cache)
{
    int rc = run("umask 022 && " FACECL " train --train faces/train " SMALL " --epochs 1 --out R");
    cr_assert_eq(rc, 0, "%s", out);
    const char *files[] = {"R/classes.txt", "R/config.txt", "R/log.csv", "R/last.safetensors", "R/loss.png"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char p[512];
        struct stat sb;
        snprintf(p, sizeof p, "%s/%s", dir, files[i]);
        cr_assert_eq(stat(p, &sb), 0, "%s", p);
        cr_expect_eq(sb.st_mode & 0777, 0644, "%s has mode %o, not 644", files[i], sb.st_mode & 0777);
    }
    rc = run("umask 027 && " FACECL " data inspect faces/train --write-classes c027.txt");
    cr_assert_eq(rc, 0, "%s", out);
    char p[512];
    struct stat sb;
    snprintf(p, sizeof p, "%s/c027.txt", dir);
    cr_assert_eq(stat(p, &sb), 0);
    cr_expect_eq(sb.st_mode & 0777, 0640, "classes file mode %o under umask 027", sb.st_mode & 0777);

    rc = run("touch afile && FACECL_CACHE_DIR=%s/afile/cache " FACECL " devices --check", dir);
    cr_assert_eq(rc, 0, "%s", out);
    const char *w = strstr(out, "warning: the kernel cache folder");
    cr_assert(w && strstr(out, "afile/cache") && strstr(out, "without a disk cache"), "no warning:\n%s", out);
    cr_assert(!strstr(w + 1, "warning: the kernel cache folder"), "warned more than once:\n%s", out);
}

/* Item 7: the README's command sequence, run on synth output from the folder above faces/.
 * synth, data inspect, model show, eval, embed and verify are the README's lines exactly; the
 * train lines keep the README's options but train small.model at 32 px for 1-2 epochs (resnet18
 * at 64 px for 20 epochs does not fit a test's time on a CPU). */
Test(reliability, readme_command_sequence_on_synth_output, .timeout = 600)
{
    int rc = run("mkdir readme && cd readme && " FACECL " synth --ids 100 --per-id 20 --size 64 --gray --seed 1 faces");
    cr_assert_eq(rc, 0, "synth: %s", out);
    rc = run("cd readme && " FACECL " data inspect faces/train --pairs faces/pairs.txt");
    cr_assert_eq(rc, 0, "data inspect: %s", out);
    cr_assert(strstr(out, "pairs ") && !strstr(out, "missing file"), "%s", out);
    rc = run("cd readme && " FACECL " model show resnet18 --size 112 --channels 1 --classes 100");
    cr_assert_eq(rc, 0, "model show: %s", out);
    const char *train = FACECL " train --train faces/train --val faces/val --pairs faces/pairs.txt "
                        "--model small --stem face --size 32 --channels 1 --embedding 128 "
                        "--loss arcface --batch 64 --lr 0.1 --augment flip,crop=4 --workers 2";
    rc = run("cd readme && %s --epochs 1 --out run", train);
    cr_assert_eq(rc, 0, "train: %s", out);
    rc = run("cd readme && %s --epochs 2 --resume run/last.safetensors --out run", train);
    cr_assert_eq(rc, 0, "resume: %s", out);
    cr_assert(strstr(out, "at epoch 1"), "%s", out);
    rc = run("cd readme && " FACECL " train --train faces/train --val faces/val --model small --stem face --size 32 --channels 1 "
             "--embedding 128 --epochs 1 --batch 64 --init run/best.safetensors --freeze 4 --out run2");
    cr_assert_eq(rc, 0, "init: %s", out);
    rc = run("cd readme && " FACECL " eval   --checkpoint run2/best.safetensors faces/val");
    cr_assert_eq(rc, 0, "eval: %s", out);
    rc = run("cd readme && " FACECL " embed  --checkpoint run/best.safetensors faces/unseen --out emb.npy");
    cr_assert_eq(rc, 0, "embed: %s", out);
    rc = run("cd readme && " FACECL " verify --checkpoint run/best.safetensors --pairs faces/pairs.txt");
    cr_assert_eq(rc, 0, "verify: %s", out);
    cr_assert(strstr(out, "ROC AUC"), "%s", out);
}

/* Item 2: a model whose plan exceeds the memory (1.85 G parameters: a linear layer of 100000
 * outputs over 8 x 48 x 48 features) is refused with the numbers and a hint, at once, without
 * allocating it (the old code allocated until the host ran out). */
Test(reliability, memory_plan_checked_before_allocating)
{
    char p[512];
    snprintf(p, sizeof p, "%s/big.model", dir);
    FILE *f = fopen(p, "w");
    cr_assert_not_null(f);
    fputs("option size = 48\noption classes = 10\nconv conv1 out=8 k=3 p=1\nflatten\nlinear big out=100000\n"
          "embedding\nclassifier fc\n", f);
    fclose(f);
    int rc = run(ULIMIT_V FACECL " train --train faces/train --model ./big.model --size 48 --channels 1 "
                 "--epochs 1 --batch 16 --out RB");
    cr_assert_neq(rc, 0, "%s", out);
    cr_assert(strstr(out, "training needs about") && strstr(out, "GiB") && strstr(out, "smaller "), "%s", out);
    cr_assert(!strstr(out, "Assertion") && rc != 134, "%s", out);
    rc = run(FACECL " train --train faces/train " SMALL " --epochs 1 --out RS");
    cr_assert_eq(rc, 0, "%s", out);
    cr_assert(strstr(out, "memory plan:"), "%s", out);
}

/* Item 4: a diverging run always ends with the divergence message, also with --val or --pairs
 * (which used to fail on NaN logits / embeddings first). */
Test(reliability, divergence_is_named_as_such)
{
    const char *extra[] = {"", "--val faces/val", "--pairs faces/pairs.txt"};
    for (int i = 0; i < 3; i++) {
        int rc = run(FACECL " train --train faces/train " SMALL " --epochs 3 --lr 1e4 %s --out D%d", extra[i], i);
        cr_expect_neq(rc, 0, "%s", out);
        cr_expect(strstr(out, "training diverged") && strstr(out, "lower --lr, or use --clip"), "with '%s':\n%s", extra[i], out);
    }
}

/* Patches one float of a checkpoint's tensor to NaN (safetensors: u64 header length, JSON header, data). */
static void poison(const char *rel, const char *tensor)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    FILE *f = fopen(path, "r+b");
    cr_assert_not_null(f);
    unsigned char len[8];
    cr_assert_eq(fread(len, 1, 8, f), 8);
    size_t hl = 0;
    for (int i = 7; i >= 0; i--) hl = hl << 8 | len[i];
    char *h = calloc(hl + 1, 1);
    cr_assert_eq(fread(h, 1, hl, f), hl);
    char key[128];
    snprintf(key, sizeof key, "\"%s\"", tensor);
    char *k = strstr(h, key);
    cr_assert_not_null(k);
    char *o = strstr(k, "\"data_offsets\"");
    cr_assert_not_null(o);
    long off = strtol(strchr(o, '[') + 1, NULL, 10);
    cr_assert_eq(fseek(f, 8 + (long)hl + off, SEEK_SET), 0);
    const unsigned char nan[4] = {0x00, 0x00, 0xc0, 0x7f};
    cr_assert_eq(fwrite(nan, 1, 4, f), 4);
    fclose(f);
    free(h);
}

/* Item 4: embed refuses a checkpoint with NaN weights (it wrote all-NaN "normalised" rows), as
 * eval and verify do, naming the tensor. */
Test(reliability, embed_refuses_nan_weights)
{
    int rc = run(FACECL " train --train faces/train " SMALL " --epochs 1 --out R");
    cr_assert_eq(rc, 0, "%s", out);
    poison("R/last.safetensors", "conv1.weight");
    rc = run(FACECL " embed --checkpoint R/last.safetensors faces/unseen --out e.npy");
    cr_assert_neq(rc, 0, "%s", out);
    cr_assert(strstr(out, "conv1.weight") && strstr(out, "NaN"), "%s", out);
    cr_assert(!exists("e.npy"), "embed wrote e.npy");
    rc = run(FACECL " eval --checkpoint R/last.safetensors faces/val");
    cr_assert(rc != 0 && strstr(out, "conv1.weight"), "%s", out);
}

/* Item 6: a bad image is found before the first step (headers only), named with --skip-bad;
 * a file whose header is fine but whose data is not fails in the loader, counted from 1. */
Test(reliability, bad_files_found_before_the_first_step)
{
    int rc = run(": > faces/train/id0002/001.png && " FACECL " train --train faces/train " SMALL " --epochs 2 --out R");
    cr_assert_neq(rc, 0, "%s", out);
    cr_assert(strstr(out, "id0002/001.png: empty file") && strstr(out, "--skip-bad"), "%s", out);
    cr_assert(!strstr(out, "epoch 1/2:"), "an epoch ran before the bad file was found:\n%s", out);
    rc = run(FACECL " train --train faces/train " SMALL " --epochs 1 --skip-bad --out R");
    cr_assert_eq(rc, 0, "%s", out);
    cr_assert(strstr(out, "warning: left out a bad image: faces/train/id0002/001.png"), "%s", out);
    /* the PNG header intact, the data cut off: only decoding finds it */
    rc = run("rm faces/train/id0002/001.png && head -c 60 faces/train/id0003/002.png > t.png && mv t.png "
             "faces/train/id0003/002.png && " FACECL " train --train faces/train " SMALL " --epochs 1 --out R2");
    cr_assert_neq(rc, 0, "%s", out);
    cr_assert(strstr(out, "(epoch 1, batch ") && strstr(out, "--skip-bad"), "%s", out);
}

/* Item 6: a pair list with one kind of label is refused before training; a UTF-8 BOM is not
 * part of the first path. */
Test(reliability, pair_lists_checked_up_front)
{
    int rc = run("awk '{print $1, $2, 1}' faces/pairs.txt > faces/same.txt && " FACECL " train --train faces/train " SMALL
                 " --epochs 1 --pairs faces/same.txt --out R");
    cr_assert_neq(rc, 0, "%s", out);
    cr_assert(strstr(out, "both same (label 1) and different (label 0)") && !strstr(out, "epoch 1/1:"), "%s", out);
    rc = run("printf '\\357\\273\\277' > faces/bom.txt && cat faces/pairs.txt >> faces/bom.txt && " FACECL
             " data inspect faces/train --pairs faces/bom.txt");
    cr_assert_eq(rc, 0, "%s", out);
    cr_assert(!strstr(out, "missing file"), "%s", out);
}

/* Item 6: a class folder whose name holds a newline is refused by data inspect and train, named
 * (escaped); data inspect names the folders, FIFOs and dangling links named like images it skips. */
Test(reliability, odd_entries_are_named)
{
    int rc = run("mv faces/train/id0001 'faces/train/id\n0001' && " FACECL " data inspect faces/train");
    cr_assert_neq(rc, 0, "%s", out);
    cr_assert(strstr(out, "id\\n0001") && strstr(out, "control character"), "%s", out);
    rc = run(FACECL " train --train faces/train " SMALL " --epochs 1 --out R");
    cr_assert_neq(rc, 0, "%s", out);
    cr_assert(strstr(out, "id\\n0001") && strstr(out, "control character"), "%s", out);
    rc = run("mv 'faces/train/id\n0001' faces/train/id0001 && mkdir faces/train/id0001/dir.png && mkfifo "
             "faces/train/id0001/fifo.png && ln -s /nonexistent faces/train/id0001/gone.jpg && " FACECL
             " data inspect faces/train");
    cr_assert_neq(rc, 0, "%s", out);
    const char *needles[] = {"dir.png: skipped: a folder named like an image", "fifo.png: skipped: a FIFO",
                             "gone.jpg: skipped: a dangling symbolic link"};
    for (int i = 0; i < 3; i++) cr_expect(strstr(out, needles[i]), "no '%s':\n%s", needles[i], out);
}
