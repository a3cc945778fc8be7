/* Keras's CSVLogger: after every epoch one row of "epoch" (0-based) and
 * the logged values, the keys sorted as Keras sorts them (and val_ keys
 * added when there are none), values as Python prints floats, rows ended
 * with "\r\n" as Python's csv module does. The log is kept in memory and
 * the file replaced with it atomically after every epoch, so a failed
 * write (a full disk) leaves the previous log whole, and the file is
 * checked like every output (no device, FIFO or read-only file). */
#include "ck_io.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* A log that appends to an existing file reads at most this much of it. */
#define CSV_MAX_OLD (256u << 20)

typedef struct csv_logger {
    ck_callback base;
    const ck_csv_logger_options *o;
    char *text; /* the whole file */
    size_t len, cap;
    bool failed; /* out of memory growing text */
    bool write_header;
    int n_keys, n_logged; /* keys[n_logged..] are val_ keys Keras adds, never logged */
    const char *keys[64];
    char added[32][CK_NAME_MAX + 8];
} csv_logger;

static void csv_printf(csv_logger *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void csv_printf(csv_logger *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    size_t need = c->len + (size_t)(n > 0 ? n : 0) + 1;
    if (need > c->cap) {
        size_t cap = need > 2 * c->cap ? need : 2 * c->cap;
        char *t = ck_realloc_array(c->text, cap, 1);
        c->failed |= !t;
        if (!t)
            return;
        c->text = t;
        c->cap = cap;
    }
    va_start(ap, fmt);
    vsnprintf(c->text + c->len, c->cap - c->len, fmt, ap);
    va_end(ap);
    c->len += (size_t)(n > 0 ? n : 0);
}

static ck_status csv_flush(csv_logger *c)
{
    if (c->failed)
        return ck_error(CK_ERR_MEMORY, "CSVLogger: out of memory logging to %s", c->o->filename);
    return ck_io_atomic_bytes(c->o->filename, c->text ? c->text : "", c->len);
}

/* Keras appends to the file as it is and writes a header only into an
 * empty or new one. */
static ck_status read_old_log(csv_logger *c)
{
    struct stat sb;
    if (stat(c->o->filename, &sb) != 0 && errno == ENOENT)
        return CK_OK;
    char *old;
    size_t len;
    CK_TRY(ck_read_file_limited(c->o->filename, CSV_MAX_OLD, &old, &len));
    c->text = old;
    c->len = len;
    c->cap = len + 1;
    c->write_header = len == 0;
    return CK_OK;
}

static ck_status csv_begin(ck_callback *cb)
{
    csv_logger *c = (csv_logger *)cb;
    c->o = cb->options;
    if (!c->o || !c->o->filename)
        return ck_error(CK_ERR_ARGUMENT, "CSVLogger: a filename is required");
    c->write_header = true;
    if (c->o->append)
        CK_TRY(read_old_log(c));
    /* Keras opens (and truncates) the file when training begins; here a
     * file that could not be written fails fit as early, and the old log
     * stays until the first epoch's replaces it. */
    return ck_check_output(c->o->filename);
}

static int compare_keys(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Keras: sorted(logs.keys()), plus "val_" + each key when none is a val_
 * key (tf.keras 2.13 and Keras 3). The logs hold a callback's key (the
 * rate) at the first epoch's end only when that callback ran before this
 * one, in the order of the list: one after it never gets a column. */
static void collect_keys(csv_logger *c)
{
    bool add_val = ck_log_style_of(c->base.fit->model).csv_val_columns;
    const ck_history *h = c->base.fit->history;
    int n = ck_history_key_count(h), fit_keys = ck_history_logged_key_count(h);
    bool any_val = false;
    for (int i = 0; i < n && c->n_keys < 32; i++) {
        if (i >= fit_keys && isnan(ck_history_last(h, ck_history_key(h, i))))
            continue;
        c->keys[c->n_keys++] = ck_history_key(h, i);
        any_val |= strncmp(ck_history_key(h, i), "val_", 4) == 0;
    }
    qsort(c->keys, (size_t)c->n_keys, sizeof c->keys[0], compare_keys);
    c->n_logged = c->n_keys;
    for (int i = 0; add_val && !any_val && i < c->n_logged; i++) {
        snprintf(c->added[i], sizeof c->added[i], "val_%s", c->keys[i]);
        c->keys[c->n_keys++] = c->added[i];
    }
}

static const char *separator(const csv_logger *c)
{
    return c->o->separator ? c->o->separator : ",";
}

/* As Python's csv module writes the logged value: the repr of a float, or
 * NumPy's str of the float32 rate Keras 2 logged. */
static void format_value(const ck_log_style *style, const char *key, double x, char *v, size_t len)
{
    if (style->lr_float32 && strcmp(key, style->lr_key) == 0)
        ck_format_py_float32((float)x, v, len);
    else
        ck_format_py_float(x, v, len);
}

static ck_status csv_epoch_end(ck_callback *cb, int epoch, const ck_epoch_logs *logs)
{
    csv_logger *c = (csv_logger *)cb;
    (void)logs;
    if (c->n_keys == 0) {
        collect_keys(c);
        if (c->write_header) {
            csv_printf(c, "epoch");
            for (int i = 0; i < c->n_keys; i++)
                csv_printf(c, "%s%s", separator(c), c->keys[i]);
            csv_printf(c, "\r\n");
        }
    }
    ck_log_style style = ck_log_style_of(cb->fit->model);
    csv_printf(c, "%d", epoch);
    for (int i = 0; i < c->n_keys; i++) {
        char v[64] = "NA";
        if (i < c->n_logged)
            format_value(&style, c->keys[i], ck_history_last(cb->fit->history, c->keys[i]), v,
                         sizeof v);
        csv_printf(c, "%s%s", separator(c), v);
    }
    csv_printf(c, "\r\n");
    return csv_flush(c);
}

static void csv_destroy(ck_callback *cb)
{
    csv_logger *c = (csv_logger *)cb;
    free(c->text);
    c->text = NULL;
    c->len = c->cap = 0;
}

static ck_status csv_end(ck_callback *cb)
{
    csv_destroy(cb);
    return CK_OK;
}

const ck_callback_kind ck_csv_logger_callback = {
    .name = "CSVLogger",
    .size = sizeof(csv_logger),
    .first_rank_only = true,
    .on_train_begin = csv_begin,
    .on_epoch_end = csv_epoch_end,
    .on_train_end = csv_end,
    .destroy = csv_destroy,
};
