/* All-or-nothing weight loading: every layout reads into a staging copy of
 * the parameter array, and the model only sees it once all checks passed. */
#include "ck_io.h"

#include <string.h>

float *ck_stage_new(const ck_model *m)
{
    float *stage = ck_alloc(m->n_params ? m->n_params : 1, sizeof(float));
    if (stage && m->n_params)
        memcpy(stage, m->params, m->n_params * sizeof(float));
    return stage;
}

float *ck_stage_slot(float *stage, const ck_model *m, const ck_weight *w)
{
    return stage + (w->data - m->params);
}

void ck_stage_commit(float *stage, ck_model *m)
{
    if (m->n_params && stage != m->params)
        memcpy(m->params, stage, m->n_params * sizeof(float));
    ck_model_weights_changed(m);
}
