/* Keras's ProgbarLogger: "Epoch i/N", a live bar on a terminal
 * (verbose 1) and one line per epoch in Keras's format. */
#include "ck_callback.h"

#include <math.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef struct progress {
    ck_callback base;
    FILE *out;
    int verbose;
    bool tty;
    int epochs;
    size_t steps;
    double start;
    int last_len;
} progress;

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Appends " - name: value" the way Keras's Progbar formats numbers. */
static void append_value(char *buf, size_t len, const char *prefix, const char *name, double v)
{
    size_t used = strlen(buf);
    snprintf(buf + used, len - used, fabs(v) > 1e-3 ? " - %s%s: %.4f" : " - %s%s: %.4e", prefix,
             name, v);
}

static void append_logs(char *buf, size_t len, const ck_epoch_logs *logs, bool val)
{
    append_value(buf, len, val ? "val_" : "", "loss", val ? logs->val_loss : logs->loss);
    for (int k = 0; k < logs->n_metrics; k++)
        append_value(buf, len, val ? "val_" : "", logs->metric_names[k],
                     val ? logs->val_metrics[k] : logs->metrics[k]);
}

static void format_bar(char *buf, size_t len, size_t step, size_t steps)
{
    enum { WIDTH = 30 };
    char bar[WIDTH + 1];
    size_t done = WIDTH * step / steps;
    for (size_t i = 0; i < WIDTH; i++)
        bar[i] = i + 1 < done ? '=' : (i + 1 == done ? (step < steps ? '>' : '=') : '.');
    bar[WIDTH] = '\0';
    int digits = snprintf(NULL, 0, "%zu", steps);
    snprintf(buf, len, "%*zu/%zu [%s]", digits, step, steps, bar);
}

static void format_duration(char *buf, size_t len, double seconds)
{
    long s = (long)seconds;
    if (s >= 3600)
        snprintf(buf, len, "%ld:%02ld:%02ld", s / 3600, (s / 60) % 60, s % 60);
    else if (s >= 60)
        snprintf(buf, len, "%ld:%02ld", s / 60, s % 60);
    else
        snprintf(buf, len, "%lds", s);
}

static ck_status progress_epoch_start(ck_callback *cb, int epoch)
{
    progress *p = (progress *)cb;
    p->start = now_seconds();
    p->last_len = 0;
    fprintf(p->out, "Epoch %d/%d\n", epoch + 1, p->epochs);
    return CK_OK;
}

/* Live bar after each step: only on a terminal, where \r can redraw it. */
static ck_status progress_step(ck_callback *cb, size_t batch, const ck_epoch_logs *running)
{
    progress *p = (progress *)cb;
    size_t step = batch + 1;
    if (p->verbose != 1 || !p->tty || step == p->steps)
        return CK_OK;
    char line[1024], eta[32];
    format_bar(line, sizeof line, step, p->steps);
    double elapsed = now_seconds() - p->start;
    format_duration(eta, sizeof eta, elapsed / (double)step * (double)(p->steps - step));
    size_t used = strlen(line);
    snprintf(line + used, sizeof line - used, " - ETA: %s", eta);
    append_logs(line, sizeof line, running, false);
    int len = (int)strlen(line);
    fprintf(p->out, "\r%s%*s", line, p->last_len > len ? p->last_len - len : 0, "");
    fflush(p->out);
    p->last_len = len;
    return CK_OK;
}

static ck_status progress_epoch_end(ck_callback *cb, int epoch, const ck_epoch_logs *logs)
{
    progress *p = (progress *)cb;
    (void)epoch;
    char line[1024];
    double elapsed = now_seconds() - p->start, per_step = elapsed / (double)p->steps;
    if (p->verbose == 1) {
        format_bar(line, sizeof line, p->steps, p->steps);
        const char *unit = per_step >= 1 ? "s" : (per_step >= 1e-3 ? "ms" : "us");
        double scale = per_step >= 1 ? 1 : (per_step >= 1e-3 ? 1e3 : 1e6);
        size_t used = strlen(line);
        snprintf(line + used, sizeof line - used, " - %.0fs %.0f%s/step", elapsed, per_step * scale,
                 unit);
    } else {
        /* Keras prints the epoch time in whole seconds (65s, not 1:05). */
        snprintf(line, sizeof line, "%zu/%zu - %.0fs", p->steps, p->steps, elapsed);
    }
    append_logs(line, sizeof line, logs, false);
    if (cb->fit->has_validation)
        append_logs(line, sizeof line, logs, true);
    int len = (int)strlen(line);
    bool redraw = p->verbose == 1 && p->tty;
    fprintf(p->out, "%s%s%*s\n", redraw ? "\r" : "", line,
            redraw && p->last_len > len ? p->last_len - len : 0, "");
    fflush(p->out);
    return CK_OK;
}

static ck_status progress_begin(ck_callback *cb)
{
    progress *p = (progress *)cb;
    const ck_fit_options *o = cb->fit->options;
    p->out = cb->fit->log;
    p->verbose = o->verbose;
    p->tty = isatty(fileno(p->out));
    p->epochs = cb->fit->epochs;
    p->steps = cb->fit->steps;
    return CK_OK;
}

const ck_callback_kind ck_progress_callback = {
    .name = "ProgbarLogger",
    .size = sizeof(progress),
    .first_rank_only = true,
    .on_train_begin = progress_begin,
    .on_epoch_begin = progress_epoch_start,
    .on_batch_end = progress_step,
    .on_epoch_end = progress_epoch_end,
};
