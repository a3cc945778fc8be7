/* Running the callbacks of one fit, and what callbacks share: stop
 * requests, printing, monitored values and Python-style formatting. */
#include "ck_batch.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const ck_callback_kind *find_kind(const ck_callback_kind *const *kinds, int n,
                                         const char *name)
{
    for (int i = 0; i < n; i++)
        if (strcmp(kinds[i]->name, name) == 0)
            return kinds[i];
    return NULL;
}

static ck_status unknown_class(const ck_callback_kind *const *kinds, int n, const char *name)
{
    char valid[512] = "";
    for (int i = 0; i < n; i++) {
        size_t used = strlen(valid);
        snprintf(valid + used, sizeof valid - used, "%s%s", i ? ", " : "", kinds[i]->name);
    }
    return ck_error(CK_ERR_NAME, "ck_model_fit: unknown callback class '%s' (valid: %s)", name,
                    valid);
}

ck_status ck_callbacks_new(ck_callback_list *l, const ck_callback_kind *const *kinds, int n_kinds,
                           const ck_callback_spec *specs, int n_specs, ck_fit_info *fit)
{
    memset(l, 0, sizeof *l);
    if (n_specs > 0 && !(l->items = ck_alloc((size_t)n_specs, sizeof *l->items)))
        return CK_ERR_MEMORY;
    for (int i = 0; i < n_specs; i++) {
        const ck_callback_kind *k = find_kind(kinds, n_kinds, specs[i].class_name);
        if (!k)
            return unknown_class(kinds, n_kinds, specs[i].class_name);
        if (k->first_rank_only && fit->quiet)
            continue;
        ck_callback *cb = ck_alloc(1, k->size);
        if (!cb)
            return CK_ERR_MEMORY;
        cb->kind = k;
        cb->fit = fit;
        cb->options = specs[i].options;
        l->items[l->n++] = cb;
    }
    return CK_OK;
}

void ck_callbacks_free(ck_callback_list *l)
{
    for (int i = 0; i < l->n; i++) {
        if (l->items[i]->kind->destroy)
            l->items[i]->kind->destroy(l->items[i]);
        free(l->items[i]);
    }
    free(l->items);
    memset(l, 0, sizeof *l);
}

static ck_status call_one(ck_callback *cb, ck_callback_event event, size_t index,
                          const ck_epoch_logs *logs)
{
    const ck_callback_kind *k = cb->kind;
    switch (event) {
    case CK_ON_TRAIN_BEGIN:
        return k->on_train_begin ? k->on_train_begin(cb) : CK_OK;
    case CK_ON_TRAIN_END:
        return k->on_train_end ? k->on_train_end(cb) : CK_OK;
    case CK_ON_EPOCH_BEGIN:
        return k->on_epoch_begin ? k->on_epoch_begin(cb, (int)index) : CK_OK;
    case CK_ON_EPOCH_END:
        return k->on_epoch_end ? k->on_epoch_end(cb, (int)index, logs) : CK_OK;
    case CK_ON_BATCH_BEGIN:
        return k->on_batch_begin ? k->on_batch_begin(cb, index) : CK_OK;
    case CK_ON_BATCH_END:
        return k->on_batch_end ? k->on_batch_end(cb, index, logs) : CK_OK;
    }
    return CK_OK;
}

ck_status ck_callbacks_call(const ck_callback_list *l, ck_callback_event event, size_t index,
                            const ck_epoch_logs *logs)
{
    for (int i = 0; i < l->n; i++)
        CK_TRY(call_one(l->items[i], event, index, logs));
    return CK_OK;
}

void ck_fit_stop(ck_fit_info *fit, const char *fmt, ...)
{
    if (fit->stop)
        return;
    fit->stop = true;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(fit->stop_reason, sizeof fit->stop_reason, fmt, ap);
    va_end(ap);
}

void ck_fit_print(const ck_fit_info *fit, const char *fmt, ...)
{
    if (fit->quiet)
        return;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(fit->log, fmt, ap);
    va_end(ap);
    fputc('\n', fit->log);
    fflush(fit->log);
}

const char *ck_fit_epoch_label(const ck_fit_info *fit, int epoch, char *buf, size_t len)
{
    ck_log_style style = ck_log_style_of(fit->model);
    snprintf(buf, len, "Epoch %0*d", style.epoch_digits, epoch + style.epoch_base);
    return buf;
}

void ck_fit_print_rate(const ck_fit_info *fit, int epoch, const char *who, double rate)
{
    char text[32], label[32];
    ck_format_py_float(rate, text, sizeof text);
    ck_fit_print(fit, "\n%s: %s learning rate to %s.",
                 ck_fit_epoch_label(fit, epoch, label, sizeof label), who, text);
}

/* ------------------------------------------------------------ monitoring */

/* Before Keras 3.11's MonitorCallback, "auto" read the monitored name: up
 * when it holds "acc" (or, for ModelCheckpoint, starts with "fmeasure"),
 * so val_auc went down; tf.keras 2.7 to 2.15's EarlyStopping went up for
 * a name ending in acc, accuracy or auc, and Keras 3's by the metric's
 * direction (callbacks.py of 2.2.4, v2.6.0, v2.7.0, v2.15.0;
 * model_checkpoint.py, reduce_lr_on_plateau.py, early_stopping.py of
 * v3.6.0 and v3.10.0). False where the direction rules. */
static bool auto_by_name(const ck_model *m, const char *who, const char *key, bool *up)
{
    bool tf_keras, early_stopping = strcmp(who, "EarlyStopping") == 0;
    int release = ck_model_keras_release(m, &tf_keras);
    if (release == 0 || release >= 311 || (release >= 300 && early_stopping))
        return false;
    if (early_stopping && release >= 207)
        *up = ck_str_ends_with(key, "acc") || ck_str_ends_with(key, "accuracy") ||
              ck_str_ends_with(key, "auc");
    else
        *up = strstr(key, "acc") ||
              (strcmp(who, "ModelCheckpoint") == 0 && strncmp(key, "fmeasure", 8) == 0);
    return true;
}

/* Keras 3 "auto": losses go down, metrics go as their direction says; a
 * key that is neither (a logged learning rate) needs an explicit mode. */
static ck_status auto_direction(const ck_fit_info *fit, const char *key, const char *who, bool *up)
{
    if (auto_by_name(fit->model, who, key, up))
        return CK_OK;
    const char *name = strncmp(key, "val_", 4) == 0 ? key + 4 : key;
    if (strcmp(name, "loss") == 0) {
        *up = false;
        return CK_OK;
    }
    const ck_train_state *s = ck_train_state_of(fit->model);
    for (int k = 0; k < s->n_metrics; k++)
        if (strcmp(s->metric_names[k], name) == 0) {
            *up = ck_metric_higher_is_better(s->metrics[k]);
            return CK_OK;
        }
    return ck_error(CK_ERR_ARGUMENT,
                    "%s: cannot tell whether %s should go up or down; pass mode \"min\" or "
                    "\"max\"",
                    who, key);
}

ck_status ck_monitor_init(ck_monitor *mon, const ck_fit_info *fit, const char *key,
                          const char *mode, double min_delta, const char *who)
{
    if (!ck_history_has_key(fit->history, key))
        return ck_error(CK_ERR_ARGUMENT,
                        "%s: cannot monitor '%s'; it is not computed "
                        "(loss, metrics, and val_ versions with validation data)",
                        who, key);
    mon->key = key;
    mon->min_delta = fabs(min_delta);
    if (!isfinite(mon->min_delta))
        return ck_error(CK_ERR_ARGUMENT, "%s: min_delta must be finite", who);
    if (!mode || strcmp(mode, "auto") == 0)
        return auto_direction(fit, key, who, &mon->up);
    if (strcmp(mode, "min") != 0 && strcmp(mode, "max") != 0)
        return ck_error(CK_ERR_ARGUMENT,
                        "%s: mode must be \"auto\", \"min\" or \"max\", got \"%s\"", who, mode);
    mon->up = strcmp(mode, "max") == 0;
    return CK_OK;
}

bool ck_monitor_improved(const ck_monitor *mon, double current, double reference)
{
    if (isnan(current))
        return false;
    if (isnan(reference))
        return true;
    return mon->up ? current - mon->min_delta > reference : current + mon->min_delta < reference;
}

double ck_monitor_value(const ck_monitor *mon, const ck_fit_info *fit)
{
    return ck_history_last(fit->history, mon->key);
}

/* ------------------------------------------------------------ formatting */

/* The shortest digits that read back as v, in double or in float32, laid
 * out as Python's repr lays out a float (NumPy's str of a float32 too). */
static void format_shortest(double v, bool single, char *buf, size_t len)
{
    if (isnan(v) || isinf(v)) {
        snprintf(buf, len, "%s", isnan(v) ? "nan" : (v > 0 ? "inf" : "-inf"));
        return;
    }
    char e[40];
    for (int p = 0; p < 17; p++) {
        snprintf(e, sizeof e, "%.*e", p, v);
        if (single ? strtof(e, NULL) == (float)v : strtod(e, NULL) == v)
            break;
    }
    char digits[24] = "", *mark = strchr(e, 'e');
    int exp10 = atoi(mark + 1), n = 0;
    for (const char *c = e; c < mark; c++)
        if (*c >= '0' && *c <= '9')
            digits[n++] = *c;
    const char *sign = v < 0 ? "-" : "";
    if (exp10 < -4 || exp10 >= 16) {
        snprintf(buf, len,
                 "%s%c%s%.*s"
                 "e%c%02d",
                 sign, digits[0], n > 1 ? "." : "", n - 1, digits + 1, exp10 < 0 ? '-' : '+',
                 abs(exp10));
    } else if (exp10 < 0) {
        char zeros[8] = "0000";
        zeros[-exp10 - 1] = '\0';
        snprintf(buf, len, "%s0.%s%s", sign, zeros, digits);
    } else {
        /* digits[0..w) before the point, padded with zeros; the rest or "0" after it. */
        char whole[24] = "";
        int w = exp10 + 1;
        for (int i = 0; i < w; i++)
            whole[i] = i < n ? digits[i] : '0';
        snprintf(buf, len, "%s%s.%s", sign, whole, n > w ? digits + w : "0");
    }
}

void ck_format_py_float(double v, char *buf, size_t len)
{
    format_shortest(v, false, buf, len);
}

void ck_format_py_float32(float v, char *buf, size_t len)
{
    format_shortest(v, true, buf, len);
}

/* A Python format spec of the form [sign][0][width][.precision][type],
 * as printf flags: the part of "{val_loss:+08.3f}" a file name uses. */
typedef struct {
    char flags[3];
    int width, precision; /* -1: not given */
    char type;            /* 0: not given */
} field_spec;

/* Reads up to 3 digits: widths and precisions past 255 only make names
 * longer than a file system takes. */
static bool read_count(const char **p, int *out)
{
    int v = 0, digits = 0;
    for (; **p >= '0' && **p <= '9'; (*p)++, digits++)
        if (digits < 4)
            v = v * 10 + (**p - '0');
    *out = v;
    return digits > 0 && digits <= 3 && v <= 255;
}

static bool parse_spec(const char *spec, field_spec *f)
{
    *f = (field_spec){.width = -1, .precision = -1};
    const char *p = spec;
    int nf = 0;
    if (*p == '+' || *p == ' ')
        f->flags[nf++] = *p;
    if (*p == '+' || *p == '-' || *p == ' ')
        p++;
    if (*p == '0')
        f->flags[nf++] = *p++;
    if (*p >= '1' && *p <= '9' && !read_count(&p, &f->width))
        return false;
    if (*p == '.' && (p++, !read_count(&p, &f->precision)))
        return false;
    if (*p && strchr("dfFeEgG%", *p))
        f->type = *p++;
    return *p == '\0' && !(f->type == 'd' && f->precision >= 0);
}

/* A float with no type, as Python formats it: its shortest repr, or with
 * a precision 'g' that keeps a ".0" in fixed notation; signed and padded
 * as the spec says (zeros go after the sign). */
static int format_untyped(const field_spec *f, double v, char *out, size_t len)
{
    char repr[64];
    if (f->precision < 0)
        ck_format_py_float(v, repr, sizeof repr);
    else {
        snprintf(repr, sizeof repr - 2, "%.*g", f->precision, v);
        if (isfinite(v) && !strpbrk(repr, ".e"))
            strcat(repr, ".0");
    }
    bool zeros = strchr(f->flags, '0') != NULL;
    char sign[2] = {0};
    if (repr[0] == '-')
        sign[0] = '-';
    else if (strchr(f->flags, '+'))
        sign[0] = '+';
    else if (strchr(f->flags, ' '))
        sign[0] = ' ';
    const char *body = repr + (repr[0] == '-');
    int pad = f->width - (int)(strlen(sign) + strlen(body));
    pad = pad > 0 ? pad : 0;
    if (zeros) {
        char fill[256];
        memset(fill, '0', sizeof fill);
        return snprintf(out, len, "%s%.*s%s", sign, pad, fill, body);
    }
    return snprintf(out, len, "%*s%s%s", pad, "", sign, body);
}

/* Formats one {key:spec} field's value into out. */
static ck_status format_field(const char *key, const char *spec, double v, bool integer, char *out,
                              size_t len)
{
    if (!spec[0]) {
        if (integer)
            snprintf(out, len, "%lld", (long long)v);
        else
            ck_format_py_float(v, out, len);
        return CK_OK;
    }
    field_spec f;
    /* Untyped, Python's precision 0 is neither C's 0 nor 1; an integer's
     * precision is an error in Python. */
    if (!parse_spec(spec, &f) || (!f.type && (f.precision == 0 || (integer && f.precision > 0))))
        return ck_error(CK_ERR_ARGUMENT,
                        "format field {%s:%s}: unsupported format spec (ckeras reads "
                        "[sign][0][width][.precision][type], type one of d f F e E g G %%, "
                        "width and precision up to 255)",
                        key, spec);
    if (f.type == 'd' && !integer && (v != floor(v) || fabs(v) > 9e18))
        return ck_error(CK_ERR_ARGUMENT, "format field {%s:%s}: 'd' needs an integer, but %s is %g",
                        key, spec, key, v);
    if (integer && !f.type)
        f.type = 'd';
    char fmt[32];
    int n = snprintf(fmt, sizeof fmt, "%%%s", f.flags);
    if (f.width >= 0)
        n += snprintf(fmt + n, sizeof fmt - (size_t)n, "%d", f.width);
    if (f.precision >= 0)
        n += snprintf(fmt + n, sizeof fmt - (size_t)n, ".%d", f.precision);
    int wrote;
    if (f.type == 'd') {
        snprintf(fmt + n, sizeof fmt - (size_t)n, "lld");
        wrote = snprintf(out, len, fmt, (long long)v);
    } else if (f.type == '%') {
        snprintf(fmt + n, sizeof fmt - (size_t)n, "f%%%%");
        wrote = snprintf(out, len, fmt, 100 * v);
    } else if (!f.type) {
        wrote = format_untyped(&f, v, out, len);
    } else {
        snprintf(fmt + n, sizeof fmt - (size_t)n, "%c", f.type);
        wrote = snprintf(out, len, fmt, v);
    }
    if (wrote < 0 || (size_t)wrote >= len)
        return ck_error(CK_ERR_ARGUMENT, "format field {%s:%s}: the value is longer than %zu bytes",
                        key, spec, len - 1);
    return CK_OK;
}

/* Appends s to out, or fails when the result would not fit. */
static ck_status append(char *out, size_t len, size_t *used, const char *s, size_t n)
{
    if (*used + n >= len)
        return ck_error(CK_ERR_ARGUMENT, "formatted file name is longer than %zu bytes", len - 1);
    memcpy(out + *used, s, n);
    *used += n;
    out[*used] = '\0';
    return CK_OK;
}

static ck_status expand_field(const char *field, int epoch, long batch, ck_log_lookup lookup,
                              const void *ctx, char *value, size_t len)
{
    char key[CK_NAME_MAX + 8];
    const char *colon = strchr(field, ':');
    size_t klen = colon ? (size_t)(colon - field) : strlen(field);
    if (klen == 0 || klen >= sizeof key)
        return ck_error(CK_ERR_ARGUMENT, "format field {%s}: no usable key", field);
    memcpy(key, field, klen);
    key[klen] = '\0';
    const char *spec = colon ? colon + 1 : "";
    double v;
    if (strcmp(key, "epoch") == 0)
        return format_field(key, spec, epoch, true, value, len);
    if (strcmp(key, "batch") == 0 && batch > 0)
        return format_field(key, spec, (double)batch, true, value, len);
    if (!lookup(ctx, key, &v))
        return ck_error(CK_ERR_ARGUMENT, "format field {%s}: '%s' is not logged", field, key);
    return format_field(key, spec, v, false, value, len);
}

ck_status ck_format_template(const char *tmpl, int epoch, long batch, ck_log_lookup lookup,
                             const void *ctx, char *out, size_t len)
{
    size_t used = 0;
    out[0] = '\0';
    for (const char *p = tmpl; *p;) {
        if ((p[0] == '{' && p[1] == '{') || (p[0] == '}' && p[1] == '}')) {
            CK_TRY(append(out, len, &used, p, 1));
            p += 2;
            continue;
        }
        if (*p != '{') {
            CK_TRY(append(out, len, &used, p++, 1));
            continue;
        }
        const char *close = strchr(p, '}');
        char field[128], value[320];
        if (!close || (size_t)(close - p) >= sizeof field)
            return ck_error(CK_ERR_ARGUMENT, "file name template '%s': unmatched '{'", tmpl);
        memcpy(field, p + 1, (size_t)(close - p - 1));
        field[close - p - 1] = '\0';
        CK_TRY(expand_field(field, epoch, batch, lookup, ctx, value, sizeof value));
        CK_TRY(append(out, len, &used, value, strlen(value)));
        p = close + 1;
    }
    return CK_OK;
}
