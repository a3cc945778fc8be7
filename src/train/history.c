/* The History fit returns: one row per epoch of every logged key, the
 * epoch numbers, and why training stopped early. */
#include "ck_batch.h"
#include "ck_callback.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* loss and metrics, their val_ versions, and keys callbacks log. */
#define MAX_KEYS (2 * (CK_MAX_METRICS + 1) + 4)

struct ck_history {
    int n_keys, n_epochs, first_epoch;
    int n_logged; /* keys filled from ck_epoch_logs; the rest are set by callbacks */
    char keys[MAX_KEYS][CK_NAME_MAX + 4];
    int order[MAX_KEYS]; /* the keys as the history lists them: indices into keys */
    double *values;      /* n_epochs rows of MAX_KEYS */
    char stop_reason[256];
};

/* Sorts the listed keys [from, to); insertion sort, as there are few. */
static void sort_order(ck_history *h, int from, int to)
{
    for (int i = from + 1; i < to; i++)
        for (int j = i; j > from && strcmp(h->keys[h->order[j - 1]], h->keys[h->order[j]]) > 0;
             j--) {
            int t = h->order[j];
            h->order[j] = h->order[j - 1];
            h->order[j - 1] = t;
        }
}

ck_history *ck_history_new(const ck_train_state *s, bool has_val, int first_epoch,
                           ck_key_order order)
{
    ck_history *h = ck_alloc(1, sizeof *h);
    if (!h)
        return NULL;
    h->first_epoch = first_epoch;
    for (int v = 0; v <= (int)has_val; v++) {
        const char *prefix = v ? "val_" : "";
        snprintf(h->keys[h->n_keys++], sizeof h->keys[0], "%sloss", prefix);
        for (int k = 0; k < s->n_metrics; k++)
            snprintf(h->keys[h->n_keys++], sizeof h->keys[0], "%s%s", prefix, s->metric_names[k]);
    }
    h->n_logged = h->n_keys;
    for (int i = 0; i < h->n_keys; i++)
        h->order[i] = i;
    int per = s->n_metrics + 1;
    if (order == CK_KEYS_SORTED)
        sort_order(h, 0, h->n_keys);
    if (order == CK_KEYS_SORTED_APART) {
        sort_order(h, 0, per);
        sort_order(h, per, h->n_keys);
    }
    return h;
}

static double *row_of(const ck_history *h, int epoch)
{
    return h->values + (size_t)epoch * MAX_KEYS;
}

ck_status ck_history_append(ck_history *h, const ck_epoch_logs *logs)
{
    double *p = ck_realloc_array(h->values, (size_t)(h->n_epochs + 1) * MAX_KEYS, sizeof *p);
    if (!p)
        return CK_ERR_MEMORY;
    h->values = p;
    double *row = row_of(h, h->n_epochs);
    int per = logs->n_metrics + 1;
    for (int i = 0; i < MAX_KEYS; i++) {
        bool val = i >= per;
        int k = i % per;
        row[i] = i >= h->n_logged ? NAN
                 : k == 0         ? (val ? logs->val_loss : logs->loss)
                                  : (val ? logs->val_metrics[k - 1] : logs->metrics[k - 1]);
    }
    h->n_epochs++;
    return CK_OK;
}

static int history_key(const ck_history *h, const char *key)
{
    for (int i = 0; key && i < h->n_keys; i++)
        if (strcmp(h->keys[i], key) == 0)
            return i;
    return -1;
}

ck_status ck_history_add_key(ck_history *h, const char *key)
{
    if (history_key(h, key) >= 0)
        return CK_OK;
    if (h->n_keys == MAX_KEYS || strlen(key) >= sizeof h->keys[0])
        return ck_error(CK_ERR_ARGUMENT, "history: no room for key '%s'", key);
    h->order[h->n_keys] = h->n_keys;
    snprintf(h->keys[h->n_keys++], sizeof h->keys[0], "%s", key);
    return CK_OK;
}

void ck_history_set_last(ck_history *h, const char *key, double value)
{
    int k = history_key(h, key);
    if (k >= 0 && h->n_epochs > 0)
        row_of(h, h->n_epochs - 1)[k] = value;
}

void ck_history_set_stop_reason(ck_history *h, const char *reason)
{
    snprintf(h->stop_reason, sizeof h->stop_reason, "%s", reason);
}

bool ck_history_has_key(const ck_history *h, const char *key)
{
    return history_key(h, key) >= 0;
}

double ck_history_last(const ck_history *h, const char *key)
{
    int k = history_key(h, key);
    if (k < 0 || h->n_epochs == 0)
        return NAN;
    return row_of(h, h->n_epochs - 1)[k];
}

int ck_history_epochs(const ck_history *h)
{
    return h ? h->n_epochs : 0;
}

int ck_history_logged_key_count(const ck_history *h)
{
    return h->n_logged;
}

int ck_history_key_count(const ck_history *h)
{
    return h ? h->n_keys : 0;
}

const char *ck_history_key(const ck_history *h, int index)
{
    return h && index >= 0 && index < h->n_keys ? h->keys[h->order[index]] : NULL;
}

int ck_history_epoch_number(const ck_history *h, int row)
{
    return h && row >= 0 && row < h->n_epochs ? h->first_epoch + row : -1;
}

const char *ck_history_stop_reason(const ck_history *h)
{
    return h ? h->stop_reason : "";
}

ck_status ck_history_get(const ck_history *h, const char *key, int epoch, double *value)
{
    if (!h || !key || !value)
        return ck_error(CK_ERR_ARGUMENT, "ck_history_get: NULL argument");
    int k = history_key(h, key);
    if (k < 0)
        return ck_error(CK_ERR_NAME, "history has no key '%s'", key);
    if (epoch < 0 || epoch >= h->n_epochs)
        return ck_error(CK_ERR_ARGUMENT, "history has %d epochs, no epoch %d", h->n_epochs, epoch);
    *value = row_of(h, epoch)[k];
    return CK_OK;
}

void ck_history_free(ck_history *h)
{
    if (!h)
        return;
    free(h->values);
    free(h);
}
