/* The optimizer's state as files name it: Keras 2 optimizer_weights, the
 * iteration count first, then every slot kind over every trainable weight
 * ("Adam/dense/kernel/m:0"). */
#include "ck_io.h"

#include <string.h>

#define SLOT_NAME_MAX 320

int ck_optimizer_slot_count(const ck_model *m)
{
    const ck_train_state *s = ck_train_state_of(m);
    if (!s || !s->opt.created)
        return 0;
    int n_weights = 0;
    for (int i = 0; i < m->n_layers; i++)
        for (int k = 0; k < m->layers[i]->n_weights; k++)
            n_weights += m->layers[i]->weights[k].trainable;
    return 1 + s->opt.n_slots * n_weights;
}

/* The j-th trainable weight in parameter order, and its layer. */
static ck_weight *trainable_weight(ck_model *m, int j, ck_layer **layer)
{
    for (int i = 0; i < m->n_layers; i++)
        for (int k = 0; k < m->layers[i]->n_weights; k++)
            if (m->layers[i]->weights[k].trainable && j-- == 0) {
                *layer = m->layers[i];
                return &m->layers[i]->weights[k];
            }
    return NULL;
}

/* Keras 2 names: "Adam/iter:0", then "Adam/<layer>/[<cell>/]<weight>/<slot>:0"
 * for every slot kind over every trainable weight. */
static ck_status build_slot_names(ck_model *m, ck_train_state *s, int count)
{
    if (s->slot_names)
        return CK_OK;
    s->slot_names = ck_alloc((size_t)count, SLOT_NAME_MAX);
    if (!s->slot_names)
        return CK_ERR_MEMORY;
    const char *cls = s->opt.kind->class_name;
    snprintf(s->slot_names, SLOT_NAME_MAX, "%s/iter:0", cls);
    int n_weights = (count - 1) / (s->opt.n_slots ? s->opt.n_slots : 1);
    for (int i = 1; i < count; i++) {
        ck_layer *l;
        ck_weight *w = trainable_weight(m, (i - 1) % n_weights, &l);
        snprintf(s->slot_names + (size_t)i * SLOT_NAME_MAX, SLOT_NAME_MAX, "%s/%s/%s%s%s/%s:0", cls,
                 l->name, w->k2_scope, w->k2_scope[0] ? "/" : "", w->name,
                 s->opt.slot_names[(i - 1) / n_weights]);
    }
    return CK_OK;
}

ck_status ck_optimizer_slot(ck_model *m, int i, const char **name, float **data, int *rank,
                            int64_t dims[4])
{
    int count = ck_optimizer_slot_count(m);
    if (!name || !data || !rank || !dims)
        return ck_error(CK_ERR_ARGUMENT, "ck_optimizer_slot: NULL argument");
    if (i < 0 || i >= count)
        return ck_error(CK_ERR_ARGUMENT, "optimizer slot %d does not exist (the optimizer has %d)",
                        i, count);
    ck_train_state *s = ck_train_state_of(m);
    CK_TRY(build_slot_names(m, s, count));
    *name = s->slot_names + (size_t)i * SLOT_NAME_MAX;
    memset(dims, 0, 4 * sizeof *dims);
    if (i == 0) {
        *data = ck_optimizer_iter_slot(&s->opt);
        *rank = 0;
        return CK_OK;
    }
    int n_weights = (count - 1) / s->opt.n_slots;
    ck_layer *l;
    ck_weight *w = trainable_weight(m, (i - 1) % n_weights, &l);
    *data = s->opt.state + (size_t)((i - 1) / n_weights) * s->opt.n + (size_t)(w->data - m->params);
    *rank = w->rank;
    memcpy(dims, w->dims, sizeof w->dims);
    return CK_OK;
}

ck_status ck_optimizer_create_slots(ck_model *m)
{
    ck_train_state *s = NULL;
    CK_TRY(ck_train_compiled(m, "ck_optimizer_create_slots", &s));
    return ck_optimizer_ensure_state(&s->opt, m->n_trainable);
}

void ck_optimizer_drop_slots(ck_model *m)
{
    ck_train_state *s = ck_train_state_of(m);
    if (!s)
        return;
    ck_optimizer_free(&s->opt);
    /* The count the refused state wrote through slot 0 goes too. */
    ck_optimizer_set_iterations(&s->opt, 0);
}
