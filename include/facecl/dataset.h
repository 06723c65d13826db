/* facecl/dataset.h: image datasets (ImageFolder, flat folders), pair lists (plain, LFW) and summaries. */
#ifndef FACECL_DATASET_H
#define FACECL_DATASET_H

#include <stddef.h>
#include "status.h"
#include "image.h"

#ifdef __cplusplus
extern "C" {
#endif

/* --- message lists -------------------------------------------------------------------------- */

/* A growable list of malloc'd strings: warnings from a skip-bad load, the bad files of a scan.
 * Zero-initialise ({0}) before first use; the library only appends, the caller prints. */
typedef struct fcl_strlist {
    char **items;
    size_t n, cap;
} fcl_strlist;

fcl_status fcl_strlist_add(fcl_strlist *l, fcl_error *err, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
void fcl_strlist_free(fcl_strlist *l);

/* --- datasets ------------------------------------------------------------------------------- */

/* Flags for the open / scan functions. */
enum {
    /* Bad input (an empty class folder, an image that does not decode) becomes one warning per
     * bad item appended to the caller's `warnings` list, and the item is left out, instead of
     * an error. */
    FCL_DATA_SKIP_BAD = 1u << 0
};

/* A list of images with labels. Item i is paths[i] (root joined with the relative path) with
 * label labels[i]: a class index into classes[] (ImageFolder), or -1 (unlabelled). Items are
 * ordered by class, then by file name (byte-wise), so the order is the same on every machine. */
typedef struct fcl_dataset {
    char *root;          /* the folder it was opened from */
    int n_classes;       /* 0 for an unlabelled (flat) dataset */
    char **classes;      /* n_classes names (the sub-folder names), index = label */
    size_t n;            /* number of images */
    char **paths;        /* n paths, each "root/class/file" or "root/file" */
    int *labels;         /* n labels in [0, n_classes) or -1 */
} fcl_dataset;

/* ImageFolder: root holds one sub-folder per identity; its images (*.png, *.jpg, *.jpeg, any
 * case) are that identity's. Classes are the sub-folder names sorted byte-wise (strcmp), so
 * class indices do not depend on the file system. Hidden entries ('.'-prefixed) and other
 * files are ignored. A class folder without images is an error naming it; with
 * FCL_DATA_SKIP_BAD it is a warning and the class is left out. Images are not decoded here
 * (see fcl_dataset_scan). `warnings` may be NULL. */
fcl_status fcl_dataset_open_folder(const char *root, unsigned flags, fcl_strlist *warnings,
                                   fcl_dataset *out, fcl_error *err);

/* ImageFolder with the class list fixed by a text file (one class name per line, as written
 * by fcl_dataset_write_classes; blank lines and trailing '\r' are ignored), so label i is
 * line i even when folders are added or removed later. A class in the file with no folder,
 * a folder with images that is not in the file, or a duplicate name is an error. A class
 * folder without images is an error; with FCL_DATA_SKIP_BAD a warning (the class keeps its
 * index and simply has no images). */
fcl_status fcl_dataset_open_folder_with_classes(const char *root, const char *classes_file,
                                                unsigned flags, fcl_strlist *warnings,
                                                fcl_dataset *out, fcl_error *err);

/* Writes the class names, one per line, atomically (temp file + rename). */
fcl_status fcl_dataset_write_classes(const fcl_dataset *ds, const char *path, fcl_error *err);

/* A flat folder of unlabelled images (same extensions), in file-name order, labels -1,
 * n_classes 0. Sub-folders are ignored. An empty folder is an error. */
fcl_status fcl_dataset_open_flat(const char *root, fcl_dataset *out, fcl_error *err);

/* A new dataset holding items idx[0..n) of src (same classes; indices may repeat). */
fcl_status fcl_dataset_subset(const fcl_dataset *src, const size_t *idx, size_t n,
                              fcl_dataset *out, fcl_error *err);

/* Decodes item i with `channels` (see fcl_image_decode_file) and, when h and w are > 0,
 * resizes it to h x w (fcl_image_resize). Thread-safe for distinct `out`/`err`. */
fcl_status fcl_dataset_load(const fcl_dataset *ds, size_t i, int channels, int h, int w,
                            fcl_image *out, fcl_error *err);

void fcl_dataset_free(fcl_dataset *ds);

/* Looks a class name up: its index, or -1. */
int fcl_dataset_class_index(const fcl_dataset *ds, const char *name);

/* --- pair lists ----------------------------------------------------------------------------- */

typedef enum fcl_pairs_format {
    /* One pair per line: `path1 path2 label` (label 0 = different, 1 = same person) or
     * `path1 path2` (unlabelled); all lines of a file must have the same form. Paths are
     * relative to the root (absolute paths are kept), separated by spaces or tabs (so they
     * cannot contain any). Blank lines and lines starting with '#' are skipped. */
    FCL_PAIRS_PLAIN = 0,
    /* LFW pairs.txt: a header "folds n" (e.g. "10\t300") or "n" (one fold), then per fold n
     * lines `name i j` (same person) followed by n lines `name1 i name2 j` (different).
     * Image k of `name` is root/name/name_%04d.jpg. */
    FCL_PAIRS_LFW = 1
} fcl_pairs_format;

/* Flags for the pair loaders. */
enum {
    /* Check at load that every referenced file exists and is a regular file; the first one
     * missing is an error naming the pair-list line and the file. */
    FCL_PAIRS_CHECK_FILES = 1u << 0
};

typedef struct fcl_pair {
    char *path1, *path2; /* root joined with the relative paths */
    int label;           /* 1 same person, 0 different, -1 unlabelled */
    int fold;            /* LFW fold index in [0, n_folds); -1 for plain lists */
    int line;            /* 1-based line in the pair list, for messages */
} fcl_pair;

typedef struct fcl_pair_list {
    size_t n;
    fcl_pair *pairs;     /* in file order */
    int n_folds;         /* LFW: from the header; plain lists: 0 */
    int labelled;        /* 1 when every pair has a 0/1 label */
    char *source;        /* the file (or name) it was read from */
} fcl_pair_list;

/* Reads a pair list. `root` is the folder relative paths start from (NULL: the current
 * directory). Malformed lines are errors "file:line: what is wrong". */
fcl_status fcl_pairs_load(const char *path, const char *root, fcl_pairs_format format,
                          unsigned flags, fcl_pair_list *out, fcl_error *err);

/* The same parser over a buffer (need not be NUL-terminated; a NUL byte is an error).
 * `name` is used in messages in place of the file name. */
fcl_status fcl_pairs_parse(const char *text, size_t len, const char *name, const char *root,
                           fcl_pairs_format format, unsigned flags, fcl_pair_list *out,
                           fcl_error *err);

void fcl_pairs_free(fcl_pair_list *pl);

/* --- summaries ------------------------------------------------------------------------------ */

/* A distinct decoded image size and how many images have it. */
typedef struct fcl_size_count {
    int w, h;
    size_t count;
} fcl_size_count;

/* Checks every image's header (fcl_image_probe_file), in order; each bad file is listed in
 * `bad` as "path: why". Without FCL_DATA_SKIP_BAD any bad file fails it once all are checked
 * (FCL_ERR_FORMAT with the count, the first one and --skip-bad), the dataset unchanged; with it
 * bad files are removed. */
fcl_status fcl_dataset_probe(fcl_dataset *ds, unsigned flags, fcl_strlist *bad, fcl_error *err);

/* What a dataset (and optionally a pair list) holds. Counts come from fcl_dataset_summarize;
 * decoded sizes and bad files from fcl_dataset_scan. */
typedef struct fcl_dataset_summary {
    char *root;
    int n_identities;          /* classes (0 for a flat dataset) */
    size_t n_images;
    size_t n_unlabelled;       /* images with label -1 */
    size_t per_id_min, per_id_median, per_id_max; /* images per identity (0 if none) */
    int scanned;               /* 1 once fcl_dataset_scan filled the fields below */
    size_t n_decoded;          /* images that decoded */
    size_t n_bad;              /* images that did not */
    size_t n_gray, n_colour;   /* decoded images stored as gray / colour in the file */
    size_t n_sizes;            /* distinct W x H seen */
    fcl_size_count *sizes;     /* sorted by count (descending), then W, then H */
    /* Pair list (fcl_summary_add_pairs); has_pairs 0 when none. */
    int has_pairs;
    size_t n_pairs, n_same, n_different, n_pairs_unlabelled;
    int n_folds;
} fcl_dataset_summary;

/* Counts identities and images (no decoding). Frees what *s held before. */
fcl_status fcl_dataset_summarize(const fcl_dataset *ds, fcl_dataset_summary *s, fcl_error *err);

/* Decodes every image of ds in order (channels as stored), recording the sizes seen in *s
 * (which must come from fcl_dataset_summarize of the same ds) and appending one message per
 * file that does not decode to `bad` (may be NULL). Without FCL_DATA_SKIP_BAD any bad file
 * makes the call return FCL_ERR_FORMAT (after scanning all of them) with a message counting
 * them and naming the first. With FCL_DATA_SKIP_BAD bad files are removed from ds and *s is
 * recounted, and the call succeeds. */
fcl_status fcl_dataset_scan(fcl_dataset *ds, unsigned flags, fcl_dataset_summary *s,
                            fcl_strlist *bad, fcl_error *err);

/* Adds the counts of a pair list to the summary. */
void fcl_summary_add_pairs(fcl_dataset_summary *s, const fcl_pair_list *pl);

/* Formats the summary as a one-screen text (lines end in '\n'; at most 5 sizes are listed,
 * the rest counted). Returns a malloc'd string in *text. */
fcl_status fcl_dataset_summary_format(const fcl_dataset_summary *s, char **text, fcl_error *err);

void fcl_dataset_summary_free(fcl_dataset_summary *s);

#ifdef __cplusplus
}
#endif
#endif
