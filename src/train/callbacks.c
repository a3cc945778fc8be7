/* Running the callbacks of one fit, and what callbacks share: stop
 * requests and monitored values. */
#include "ck_batch.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

ck_status ck_callbacks_new(ck_callback_list *l, const ck_callback_kind *const *kinds, int n_kinds,
                           ck_fit_info *fit)
{
    memset(l, 0, sizeof *l);
    if (n_kinds > 0 && !(l->items = ck_alloc((size_t)n_kinds, sizeof *l->items)))
        return CK_ERR_MEMORY;
    for (int i = 0; i < n_kinds; i++) {
        if (!kinds[i]->wanted(fit->options))
            continue;
        ck_callback *cb = ck_alloc(1, kinds[i]->size);
        if (!cb)
            return CK_ERR_MEMORY;
        cb->kind = kinds[i];
        cb->fit = fit;
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

void ck_fit_stop(ck_callback *cb, const char *fmt, ...)
{
    char *reason = cb->fit->stop_reason;
    if (reason[0])
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof cb->fit->stop_reason, fmt, ap);
    va_end(ap);
}

bool ck_monitor_improved(const char *monitor, double current, double best, double min_delta)
{
    if (isnan(current))
        return false;
    if (isnan(best))
        return true;
    if (strstr(monitor, "acc"))
        return current - fabs(min_delta) > best;
    return current + fabs(min_delta) < best;
}

ck_status ck_monitor_check(const ck_fit_info *fit, const char *monitor)
{
    if (monitor && !ck_history_has_key(fit->history, monitor))
        return ck_error(CK_ERR_ARGUMENT,
                        "ck_model_fit: cannot monitor '%s'; it is not computed "
                        "(loss, metrics, and val_ versions with validation data)",
                        monitor);
    return CK_OK;
}
