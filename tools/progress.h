/* tools/progress.h: progress display for long-running commands: an updating line with rate and ETA on a terminal, plain lines otherwise. */
#ifndef FACECL_TOOLS_PROGRESS_H
#define FACECL_TOOLS_PROGRESS_H

#include <stddef.h>

/* One progress display, the caller's (no global state). On a terminal (isatty(stderr)) one line
 * is redrawn at most 10 times a second:
 *     embed: 1234/5000 img  57.3 img/s  ETA 1m05s  <extra>
 * otherwise (logs, pipes) a plain line is printed at every 10% step and at the end. Everything
 * goes to stderr so that stdout keeps only results. */
typedef struct fcl_progress {
    char label[48];
    char unit[16];
    size_t total;          /* 0: unknown (no percentage or ETA) */
    size_t done;
    double start, last_draw;
    int tty;
    int last_decile;       /* plain mode: last 10% step printed */
    int drawn;             /* tty: a line is on screen (needs a newline before other output) */
    int quiet;             /* print nothing */
} fcl_progress;

/* Starts timing. unit names the items ("img", "batch"; NULL: "it"). */
void fcl_progress_start(fcl_progress *p, const char *label, size_t total, const char *unit);
/* done items so far (absolute, not an increment); extra (may be NULL) is appended, e.g.
 * "loss 1.234". */
void fcl_progress_update(fcl_progress *p, size_t done, const char *extra);
/* Final line: "<label>: N unit in T s (R unit/s)<extra>". */
void fcl_progress_end(fcl_progress *p, const char *extra);
/* Ends a tty line early (before printing an error) without the summary. */
void fcl_progress_abort(fcl_progress *p);
/* Adapter for library callbacks of the form int (*)(void *user, size_t done, size_t total)
 * (fcl_eval_progress_fn, fcl_synth_progress_fn): user is a fcl_progress*. Never cancels. */
int fcl_progress_cb(void *user, size_t done, size_t total);
/* Seconds since p was started. */
double fcl_progress_elapsed(const fcl_progress *p);

#endif
