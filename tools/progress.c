/* tools/progress.c: progress lines with rate and ETA (redrawn on a terminal, every 10% otherwise). */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"
#include "progress.h"

/* "1m05s", "2h03m", "12.3s" into buf. */
static void fmt_duration(double s, char *buf, size_t n)
{
    if (!(s >= 0) || s > 1e8) {
        snprintf(buf, n, "?");
    } else if (s < 60) {
        snprintf(buf, n, "%.1fs", s);
    } else if (s < 3600) {
        long t = (long)(s + 0.5);
        snprintf(buf, n, "%ldm%02lds", t / 60, t % 60);
    } else {
        long t = (long)(s / 60 + 0.5);
        snprintf(buf, n, "%ldh%02ldm", t / 60, t % 60);
    }
}

void fcl_progress_start(fcl_progress *p, const char *label, size_t total, const char *unit)
{
    memset(p, 0, sizeof *p);
    snprintf(p->label, sizeof p->label, "%s", label ? label : "");
    snprintf(p->unit, sizeof p->unit, "%s", unit ? unit : "it");
    p->total = total;
    p->start = tool_now_s();
    p->last_draw = -1.0;
    p->tty = isatty(STDERR_FILENO);
    p->last_decile = -1;
}

double fcl_progress_elapsed(const fcl_progress *p) { return tool_now_s() - p->start; }

void fcl_progress_update(fcl_progress *p, size_t done, const char *extra)
{
    if (p->quiet) return;
    double t = tool_now_s(), el = t - p->start;
    p->done = done;
    double rate = el > 0 ? (double)done / el : 0.0;
    char eta[32] = "?";
    if (p->total && rate > 0 && done <= p->total) fmt_duration((double)(p->total - done) / rate, eta, sizeof eta);
    char count[64];
    if (p->total)
        snprintf(count, sizeof count, "%zu/%zu %s", done, p->total, p->unit);
    else
        snprintf(count, sizeof count, "%zu %s", done, p->unit);
    if (p->tty) {
        if (p->last_draw >= 0 && t - p->last_draw < 0.1 && done != p->total) return;
        p->last_draw = t;
        /* \033[K clears what a longer previous line left behind. */
        fprintf(stderr, "\r%s: %s  %.1f %s/s", p->label, count, rate, p->unit);
        if (p->total) fprintf(stderr, "  ETA %s", eta);
        if (extra && *extra) fprintf(stderr, "  %s", extra);
        fprintf(stderr, "\033[K");
        fflush(stderr);
        p->drawn = 1;
    } else {
        int dec = p->total ? (int)(10 * (done < p->total ? done : p->total) / p->total) : -1;
        if (p->total == 0 || dec == p->last_decile) return;
        p->last_decile = dec;
        fprintf(stderr, "%s: %s (%d%%), %.1f %s/s, ETA %s%s%s\n", p->label, count, dec * 10, rate,
                p->unit, eta, extra && *extra ? ", " : "", extra && *extra ? extra : "");
    }
}

void fcl_progress_abort(fcl_progress *p)
{
    if (p->tty && p->drawn) fputc('\n', stderr);
    p->drawn = 0;
}

void fcl_progress_end(fcl_progress *p, const char *extra)
{
    if (p->quiet) return;
    fcl_progress_abort(p);
    double el = tool_now_s() - p->start;
    char d[32];
    fmt_duration(el, d, sizeof d);
    fprintf(stderr, "%s: %zu %s in %s (%.1f %s/s)%s%s\n", p->label, p->done, p->unit, d,
            el > 0 ? (double)p->done / el : 0.0, p->unit, extra && *extra ? ", " : "",
            extra && *extra ? extra : "");
}

int fcl_progress_cb(void *user, size_t done, size_t total)
{
    fcl_progress *p = user;
    if (total != p->total) p->total = total;
    fcl_progress_update(p, done, NULL);
    return 0;
}
