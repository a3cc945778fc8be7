/* Keras's CSVLogger: after every epoch one row of "epoch" (0-based) and
 * the logged values, the keys sorted as Keras sorts them (and val_ keys
 * added when there are none), values as Python prints floats, rows ended
 * with "\r\n" as Python's csv module does. */
#include "ck_io.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct csv_logger {
    ck_callback base;
    const ck_csv_logger_options *o;
    FILE *file;
    bool write_header;
    int n_keys, n_logged; /* keys[n_logged..] are val_ keys Keras adds, never logged */
    const char *keys[64];
    char added[32][CK_NAME_MAX + 8];
} csv_logger;

static ck_status csv_begin(ck_callback *cb)
{
    csv_logger *c = (csv_logger *)cb;
    c->o = cb->options;
    if (!c->o || !c->o->filename)
        return ck_error(CK_ERR_ARGUMENT, "CSVLogger: a filename is required");
    c->write_header = true;
    if (c->o->append) {
        /* Keras writes a header only into an empty or new file. */
        FILE *old = fopen(c->o->filename, "r");
        if (old) {
            c->write_header = fgetc(old) == EOF;
            fclose(old);
        }
    }
    c->file = fopen(c->o->filename, c->o->append ? "a" : "w");
    if (!c->file)
        return ck_error(CK_ERR_IO, "CSVLogger: cannot open %s: %s", c->o->filename,
                        strerror(errno));
    return CK_OK;
}

static int compare_keys(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Keras: sorted(logs.keys()), plus "val_" + each key when none is a val_ key. */
static void collect_keys(csv_logger *c)
{
    const ck_history *h = c->base.fit->history;
    int n = ck_history_key_count(h);
    bool any_val = false;
    for (int i = 0; i < n && c->n_keys < 32; i++) {
        c->keys[c->n_keys++] = ck_history_key(h, i);
        any_val |= strncmp(ck_history_key(h, i), "val_", 4) == 0;
    }
    qsort(c->keys, (size_t)c->n_keys, sizeof c->keys[0], compare_keys);
    c->n_logged = c->n_keys;
    for (int i = 0; !any_val && i < c->n_logged; i++) {
        snprintf(c->added[i], sizeof c->added[i], "val_%s", c->keys[i]);
        c->keys[c->n_keys++] = c->added[i];
    }
}

static const char *separator(const csv_logger *c)
{
    return c->o->separator ? c->o->separator : ",";
}

static ck_status csv_epoch_end(ck_callback *cb, int epoch, const ck_epoch_logs *logs)
{
    csv_logger *c = (csv_logger *)cb;
    (void)logs;
    if (c->n_keys == 0) {
        collect_keys(c);
        if (c->write_header) {
            fprintf(c->file, "epoch");
            for (int i = 0; i < c->n_keys; i++)
                fprintf(c->file, "%s%s", separator(c), c->keys[i]);
            fprintf(c->file, "\r\n");
        }
    }
    fprintf(c->file, "%d", epoch);
    for (int i = 0; i < c->n_keys; i++) {
        char v[64] = "NA";
        if (i < c->n_logged)
            ck_format_py_float(ck_history_last(cb->fit->history, c->keys[i]), v, sizeof v);
        fprintf(c->file, "%s%s", separator(c), v);
    }
    fprintf(c->file, "\r\n");
    if (fflush(c->file) != 0 || ferror(c->file))
        return ck_error(CK_ERR_IO, "CSVLogger: cannot write %s: %s", c->o->filename,
                        strerror(errno));
    return CK_OK;
}

static void csv_destroy(ck_callback *cb)
{
    csv_logger *c = (csv_logger *)cb;
    if (c->file)
        fclose(c->file);
    c->file = NULL;
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
