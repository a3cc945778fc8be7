/* Keras's ProgbarLogger: "Epoch i/N", a live bar on a terminal
 * (verbose 1) and one line per epoch, drawn as the model's Keras release
 * drew it: tf.keras 2's Progbar (keras/utils/generic_utils.py) or Keras
 * 3's (keras/src/utils/progbar.py). Keras redraws on any POSIX stream;
 * ckeras only on a terminal, so a log file holds the final lines alone.
 * evaluate draws the same bar for its one pass (ck_test_bar). */
#include "ck_batch.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef struct progress {
    ck_callback base;
    FILE *out;
    int verbose;
    bool tty;
    ck_log_style style;
    int epochs;
    size_t steps;
    double start, after_first; /* after_first: the end of step 1, 0 before */
    int last_width;
    bool values; /* the logs follow the bar; standalone Keras 2's evaluate shows none */
    /* The running loss (0) and metrics (1...) summed over the steps so far,
     * for the averaged bar of Keras 3.0 to 3.14. */
    double sums[CK_MAX_METRICS + 1];
} progress;

/* Keras 3 colours the bar with these on a terminal. */
#define BOLD "\x1b[1m"
#define GREEN "\33[32m"
#define WHITE "\33[37m"
#define RESET "\x1b[0m"
#define BAR_CHAR "\xe2\x94\x81" /* U+2501 in UTF-8, whatever the compiler's charset */

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void appendf(char *buf, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void appendf(char *buf, size_t len, const char *fmt, ...)
{
    size_t used = strlen(buf);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf + used, len - used, fmt, ap);
    va_end(ap);
}

/* " - name: value" as Progbar formats a number: 4 decimals, or 4 digits
 * in e-notation from 1e-3 down; verbose 2 compares the signed value, so a
 * negative one is in e-notation. Python writes any NaN as "nan". */
static void append_value(char *buf, size_t len, const char *name, double v, bool signed_cmp)
{
    if (isnan(v))
        appendf(buf, len, " - %s: nan", name);
    else
        appendf(buf, len, (signed_cmp ? v : fabs(v)) > 1e-3 ? " - %s: %.4f" : " - %s: %.4e", name,
                v);
}

/* A training key's slot in ck_epoch_logs: 0 the loss, 1... the metrics;
 * -1 for the others (val_ keys, those callbacks log). */
static int train_slot(const ck_epoch_logs *logs, const char *key)
{
    if (strcmp(key, "loss") == 0)
        return 0;
    for (int k = 0; k < logs->n_metrics; k++)
        if (strcmp(logs->metric_names[k], key) == 0)
            return k + 1;
    return -1;
}

static double slot_value(const ck_epoch_logs *logs, int slot)
{
    return slot == 0 ? logs->loss : logs->metrics[slot - 1];
}

/* What the bar shows for a training key after `steps` steps: the running
 * value, or in Keras 3.0 to 3.14 the mean of those seen, the epoch's own
 * counted once more at the end (Progbar.update of v3.14.0). */
static double shown_value(const progress *p, const ck_epoch_logs *logs, int slot, size_t steps,
                          bool end)
{
    double v = slot_value(logs, slot);
    if (!p->style.averaged_bar || p->verbose != 1)
        return v;
    return end ? (p->sums[slot] + v) / (double)(steps + 1) : p->sums[slot] / (double)steps;
}

/* The epoch's keys in the history's order; those callbacks log only when
 * ProgbarLogger runs after them. */
static void append_epoch_logs(const progress *p, char *buf, size_t len, const ck_epoch_logs *logs)
{
    if (!p->values)
        return;
    const ck_history *h = p->base.fit->history;
    int n = p->style.progbar_last ? ck_history_key_count(h) : ck_history_logged_key_count(h);
    for (int i = 0; i < n; i++) {
        const char *key = ck_history_key(h, i);
        int slot = train_slot(logs, key);
        double v = slot < 0 ? ck_history_last(h, key) : shown_value(p, logs, slot, p->steps, true);
        append_value(buf, len, key, v, p->verbose == 2);
    }
}

/* The batch's logs: the training keys, in the history's order. */
static void append_running_logs(const progress *p, char *buf, size_t len, size_t step,
                                const ck_epoch_logs *running)
{
    if (!p->values)
        return;
    const ck_history *h = p->base.fit->history;
    for (int i = 0; i < ck_history_logged_key_count(h); i++) {
        const char *key = ck_history_key(h, i);
        int slot = train_slot(running, key);
        if (slot >= 0)
            append_value(buf, len, key, shown_value(p, running, slot, step, false), false);
    }
}

/* Columns on the terminal: code points outside escape sequences. */
static int visible_width(const char *s)
{
    int w = 0;
    for (; *s; s++) {
        if (*s == '\x1b') {
            while (*s && *s != 'm')
                s++;
            if (!*s)
                break;
        } else if (((unsigned char)*s & 0xC0) != 0x80) {
            w++;
        }
    }
    return w;
}

static void format_duration(char *buf, size_t len, double seconds)
{
    long s = (long)seconds;
    if (seconds > 3600)
        snprintf(buf, len, "%ld:%02ld:%02ld", s / 3600, (s / 60) % 60, s % 60);
    else if (seconds > 60)
        snprintf(buf, len, "%ld:%02ld", s / 60, s % 60);
    else
        snprintf(buf, len, "%lds", s);
}

/* Progbar._format_time: " 3ms/step". C's "%.0f" rounds half to even as
 * Python's does, so 999.6 ms prints as "1000ms", as in Keras. */
static void append_time(char *buf, size_t len, double t, const char *unit)
{
    if (t >= 1 || t == 0)
        appendf(buf, len, " %.0fs/%s", t, unit);
    else if (t >= 1e-3)
        appendf(buf, len, " %.0fms/%s", t * 1e3, unit);
    else
        appendf(buf, len, " %.0fus/%s", t * 1e6, unit);
}

static void append_step_time(char *buf, size_t len, double t)
{
    append_time(buf, len, t, "step");
}

/* Progbar.update of v2.7.0 to v2.15.0 (keras-team/keras 7af871aae4): the
 * same `now` gives the " - 0s" and the epoch's time. */
void ck_progbar_epoch_times(char *buf, size_t len, double elapsed, size_t steps)
{
    appendf(buf, len, " -");
    append_time(buf, len, elapsed, "epoch");
    appendf(buf, len, " -");
    append_step_time(buf, len, elapsed / (double)steps);
}

/* What the bar has counted after `step` steps: the steps, or the samples
 * seen where the model's Keras counted samples. */
static size_t counted(const progress *p, size_t step)
{
    if (!p->style.counts_samples)
        return step;
    size_t seen = step * p->base.fit->batch_size;
    return seen < p->base.fit->samples ? seen : p->base.fit->samples;
}

/* The time per counted unit (still printed as "/step" where that is a
 * sample). Progbar._estimate_step_duration of tf.keras 2.6+ and Keras 3
 * leaves out step 1, which builds and compiles, when it saw it; older ones
 * divide the whole time. */
static double step_time(const progress *p, size_t step, double now)
{
    if (p->style.skips_first_step && step > 1 && p->after_first > 0)
        return (now - p->after_first) / (double)(step - 1);
    return (now - p->start) / (double)counted(p, step);
}

/* ------------------------------------------------------------ tf.keras 2 */

static void keras2_bar(char *buf, size_t len, size_t step, size_t steps)
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

static void keras2_step_line(const progress *p, char *buf, size_t len, size_t step,
                             const ck_epoch_logs *running)
{
    char eta[32];
    size_t total = counted(p, p->steps);
    keras2_bar(buf, len, counted(p, step), total);
    format_duration(eta, sizeof eta,
                    step_time(p, step, now_seconds()) * (double)(total - counted(p, step)));
    appendf(buf, len, " - ETA: %s", eta);
    append_running_logs(p, buf, len, step, running);
}

static void keras2_epoch_line(const progress *p, char *buf, size_t len, const ck_epoch_logs *logs)
{
    double now = now_seconds(), elapsed = now - p->start;
    if (p->verbose == 1) {
        keras2_bar(buf, len, counted(p, p->steps), counted(p, p->steps));
        appendf(buf, len, " - %.0fs", elapsed);
        append_step_time(buf, len, step_time(p, p->steps, now));
    } else if (p->style.counts_samples) {
        snprintf(buf, len, " - %.0fs", elapsed);
    } else {
        /* Keras prints the epoch time in whole seconds (65s, not 1:05). */
        snprintf(buf, len, "%zu/%zu - %.0fs", p->steps, p->steps, elapsed);
    }
    append_epoch_logs(p, buf, len, logs);
    if (p->verbose == 2 && p->style.epoch_times)
        ck_progbar_epoch_times(buf, len, elapsed, p->steps);
}

/* ------------------------------------------------------------- Keras 3 */

static void append_bar_chars(char *buf, size_t len, int n)
{
    for (int i = 0; i < n; i++)
        appendf(buf, len, "%s", BAR_CHAR);
}

/* "32/32 ━━━━━━━━━━━━━━━━━━━━": 20 characters, the done part green and
 * the count bold on a terminal. */
static void keras3_bar(const progress *p, char *buf, size_t len, size_t step)
{
    enum { WIDTH = 20 };
    int digits = snprintf(NULL, 0, "%zu", p->steps);
    int done = (int)(WIDTH * ((double)step / (double)p->steps));
    if (!p->tty) {
        snprintf(buf, len, "%*zu/%zu ", digits, step, p->steps);
        append_bar_chars(buf, len, WIDTH);
        return;
    }
    snprintf(buf, len, BOLD "%*zu/%zu" RESET " ", digits, step, p->steps);
    if (done > 0) {
        appendf(buf, len, GREEN);
        append_bar_chars(buf, len, done);
        appendf(buf, len, RESET);
    }
    appendf(buf, len, WHITE);
    append_bar_chars(buf, len, WIDTH - done);
    appendf(buf, len, RESET);
}

static void keras3_step_line(const progress *p, char *buf, size_t len, size_t step,
                             const ck_epoch_logs *running)
{
    char eta[32];
    double per_step = step_time(p, step, now_seconds());
    keras3_bar(p, buf, len, step);
    format_duration(eta, sizeof eta, per_step * (double)(p->steps - step));
    appendf(buf, len, p->tty ? " " BOLD "%s" RESET : " %s", eta);
    append_step_time(buf, len, per_step);
    append_running_logs(p, buf, len, step, running);
}

static void keras3_epoch_line(const progress *p, char *buf, size_t len, const ck_epoch_logs *logs)
{
    double now = now_seconds(), elapsed = now - p->start;
    if (p->verbose == 1) {
        keras3_bar(p, buf, len, p->steps);
        appendf(buf, len, p->tty ? " " BOLD "%.0fs" RESET : " %.0fs", elapsed);
        append_step_time(buf, len, step_time(p, p->steps, now));
    } else {
        /* Without a live bar Progbar never saw step 1: the mean of all steps. */
        snprintf(buf, len, "%zu/%zu - %.0fs -", p->steps, p->steps, elapsed);
        append_step_time(buf, len, elapsed / (double)p->steps);
    }
    append_epoch_logs(p, buf, len, logs);
}

/* ---------------------------------------------------------------- hooks */

static void start_pass(progress *p)
{
    p->start = now_seconds();
    p->after_first = 0;
    p->last_width = 0;
    memset(p->sums, 0, sizeof p->sums);
}

static ck_status progress_epoch_start(ck_callback *cb, int epoch)
{
    progress *p = (progress *)cb;
    start_pass(p);
    if (p->style.epoch_header_always || p->epochs > 1)
        fprintf(p->out, "Epoch %d/%d\n", epoch + 1, p->epochs);
    return CK_OK;
}

/* Redraws the line in place, blanking what a longer one left. */
static void redraw(progress *p, const char *line, const char *end)
{
    int width = visible_width(line);
    fprintf(p->out, "\r%s%*s%s", line, p->last_width > width ? p->last_width - width : 0, "", end);
    fflush(p->out);
    p->last_width = width;
}

/* Live bar after each step: only on a terminal, where \r can redraw it. */
static void draw_step(progress *p, size_t batch, const ck_epoch_logs *running)
{
    size_t step = batch + 1;
    if (step == 1)
        p->after_first = now_seconds();
    for (int slot = 0; slot <= running->n_metrics; slot++)
        p->sums[slot] += slot_value(running, slot);
    if (p->verbose != 1 || !p->tty || step == p->steps)
        return;
    char line[2048] = "";
    if (p->style.keras3_bar)
        keras3_step_line(p, line, sizeof line, step, running);
    else
        keras2_step_line(p, line, sizeof line, step, running);
    redraw(p, line, "");
}

static ck_status progress_step(ck_callback *cb, size_t batch, const ck_epoch_logs *running)
{
    draw_step((progress *)cb, batch, running);
    return CK_OK;
}

static void draw_end(progress *p, const ck_epoch_logs *logs)
{
    char line[2048] = "";
    if (p->style.keras3_bar)
        keras3_epoch_line(p, line, sizeof line, logs);
    else
        keras2_epoch_line(p, line, sizeof line, logs);
    if (p->verbose == 1 && p->tty) {
        redraw(p, line, "\n");
    } else {
        fprintf(p->out, "%s\n", line);
        fflush(p->out);
    }
}

static ck_status progress_epoch_end(ck_callback *cb, int epoch, const ck_epoch_logs *logs)
{
    (void)epoch;
    draw_end((progress *)cb, logs);
    return CK_OK;
}

static void setup(progress *p, ck_fit_info *fit)
{
    p->base.fit = fit;
    p->out = fit->log;
    p->verbose = fit->options->verbose;
    p->tty = isatty(fileno(p->out));
    p->style = ck_log_style_of(fit->model);
    p->epochs = fit->epochs;
    p->steps = fit->steps;
    p->values = true;
}

static ck_status progress_begin(ck_callback *cb)
{
    setup((progress *)cb, cb->fit);
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

/* ------------------------------------------------------------ evaluate */

/* ProgbarLogger in evaluate's test loop (tf.keras 2, Keras 3): no epoch
 * header, then the bar of one epoch over the test steps. Standalone Keras
 * 2's test_loop drew its own Progbar over the samples with no values, and
 * only at verbose 1 (training_arrays.py of 2.2.4 and 2.3.1). */
struct ck_test_bar {
    progress p;
    ck_fit_info info;
    ck_fit_options options;
};

ck_status ck_test_bar_new(ck_model *m, const ck_train_state *s, FILE *out, int verbose,
                          size_t samples, size_t batch, ck_test_bar **bar)
{
    *bar = NULL;
    ck_log_style style = ck_log_style_of(m);
    if (verbose == 0 || (style.counts_samples && verbose != 1) || samples == 0)
        return CK_OK;
    ck_test_bar *b = ck_alloc(1, sizeof *b);
    ck_history *h = b ? ck_history_new(s, false, 0, style.key_order) : NULL;
    if (!h) {
        free(b);
        return CK_ERR_MEMORY;
    }
    b->options.verbose = verbose;
    b->info = (ck_fit_info){.model = m,
                            .options = &b->options,
                            .epochs = 1,
                            .steps = (samples + batch - 1) / batch,
                            .samples = samples,
                            .batch_size = batch,
                            .history = h,
                            .log = out};
    setup(&b->p, &b->info);
    b->p.values = !style.counts_samples;
    start_pass(&b->p);
    *bar = b;
    return CK_OK;
}

void ck_test_bar_step(ck_test_bar *bar, size_t batch, const ck_epoch_logs *running)
{
    if (bar)
        draw_step(&bar->p, batch, running);
}

void ck_test_bar_end(ck_test_bar *bar, const ck_epoch_logs *logs)
{
    if (bar)
        draw_end(&bar->p, logs);
}

void ck_test_bar_free(ck_test_bar *bar)
{
    if (!bar)
        return;
    ck_history_free(bar->info.history);
    free(bar);
}
