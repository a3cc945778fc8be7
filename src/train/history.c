/* The History fit returns: one row of loss and metric values per epoch. */
#include "ck_batch.h"
#include "ck_callback.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MAX_KEYS (2 * (CK_MAX_METRICS + 1))

struct ck_history {
    int n_keys, n_epochs;
    char keys[MAX_KEYS][CK_NAME_MAX + 4];
    double *values; /* n_epochs rows of n_keys */
};

ck_history *ck_history_new(const ck_train_state *s, bool has_val)
{
    ck_history *h = ck_alloc(1, sizeof *h);
    if (!h)
        return NULL;
    for (int v = 0; v <= (int)has_val; v++) {
        const char *prefix = v ? "val_" : "";
        snprintf(h->keys[h->n_keys++], sizeof h->keys[0], "%sloss", prefix);
        for (int k = 0; k < s->n_metrics; k++)
            snprintf(h->keys[h->n_keys++], sizeof h->keys[0], "%s%s", prefix, s->metric_names[k]);
    }
    return h;
}

ck_status ck_history_append(ck_history *h, const ck_epoch_logs *logs)
{
    size_t n = (size_t)(h->n_epochs + 1) * (size_t)h->n_keys;
    double *p = ck_realloc_array(h->values, n, sizeof *p);
    if (!p)
        return CK_ERR_MEMORY;
    h->values = p;
    double *row = p + (size_t)h->n_epochs * (size_t)h->n_keys;
    int per = logs->n_metrics + 1;
    for (int i = 0; i < h->n_keys; i++) {
        bool val = i >= per;
        int k = i % per;
        row[i] = k == 0 ? (val ? logs->val_loss : logs->loss)
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

bool ck_history_has_key(const ck_history *h, const char *key)
{
    return history_key(h, key) >= 0;
}

double ck_history_last(const ck_history *h, const char *key)
{
    int k = history_key(h, key);
    if (k < 0 || h->n_epochs == 0)
        return NAN;
    return h->values[(size_t)(h->n_epochs - 1) * (size_t)h->n_keys + (size_t)k];
}

int ck_history_epochs(const ck_history *h)
{
    return h ? h->n_epochs : 0;
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
    *value = h->values[(size_t)epoch * (size_t)h->n_keys + (size_t)k];
    return CK_OK;
}

int ck_history_key_count(const ck_history *h)
{
    return h ? h->n_keys : 0;
}

const char *ck_history_key(const ck_history *h, int index)
{
    return h && index >= 0 && index < h->n_keys ? h->keys[index] : NULL;
}

void ck_history_free(ck_history *h)
{
    if (!h)
        return;
    free(h->values);
    free(h);
}
