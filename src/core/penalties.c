/* Regularizers and constraints in training, as Keras applies them: weight
 * penalties join the loss (and the loss fit and evaluate report) with
 * their gradients; an activity penalty on a layer's output adds its
 * gradient to the one flowing into that layer; constraints project the
 * trainable weights after every optimizer step. */
#include "ck_internal.h"

#include <stdio.h>

static bool computes(const ck_reg *r)
{
    return r->kind != CK_REG_NONE && r->kind != CK_REG_OTHER;
}

static const ck_reg *weight_reg(const ck_weight *w)
{
    return w->rule && computes(&w->rule->reg) ? &w->rule->reg : NULL;
}

/* tf.keras 2 and Keras 3.14+ divide an activity penalty by the batch size;
 * standalone Keras 2.0-2.3 (base_layer __call__ adds the regularizer's
 * value as it is) and Keras 3.0-3.13 do not. */
static double activity_scale(const ck_model *m, int64_t batch)
{
    int major = 0, minor = 0;
    bool late_k3 = sscanf(m->keras_version, "%d.%d", &major, &minor) == 2 &&
                   (major > 3 || (major == 3 && minor >= 14));
    bool tf_keras2 = m->semantics == CK_KERAS2 && !ck_model_from_standalone_keras2(m);
    bool divide = tf_keras2 || late_k3;
    return divide && batch > 0 ? 1.0 / (double)batch : 1.0;
}

double ck_model_penalty(const ck_model *m)
{
    double p = 0;
    for (int i = 0; i < m->n_layers; i++) {
        const ck_layer *l = m->layers[i];
        for (int k = 0; k < l->n_weights; k++) {
            const ck_weight *w = &l->weights[k];
            /* tf.keras 2 adds the penalties of frozen weights too (a
             * constant); Keras 3 only those of trainable weights. */
            if (weight_reg(w) && (w->trainable || m->semantics == CK_KERAS2))
                p += ck_reg_penalty(weight_reg(w), w->data, w->size);
        }
        if (computes(&l->activity) && m->act_views) {
            const ck_tensor *y = &m->act_views[i];
            p += activity_scale(m, y->dims[0]) *
                 ck_reg_penalty(&l->activity, y->data, ck_tensor_size(y));
        }
    }
    return p;
}

void ck_model_penalty_grads(ck_model *m)
{
    for (int i = 0; i < m->n_layers; i++)
        for (int k = 0; k < m->layers[i]->n_weights; k++) {
            ck_weight *w = &m->layers[i]->weights[k];
            if (weight_reg(w) && w->trainable)
                ck_reg_add_grad(weight_reg(w), w->data, w->grad, w->size, 1.0);
        }
}

void ck_model_activity_grad(const ck_model *m, int i, float *dy)
{
    const ck_layer *l = m->layers[i];
    const ck_tensor *y = &m->act_views[i];
    if (computes(&l->activity))
        ck_reg_add_grad(&l->activity, y->data, dy, ck_tensor_size(y),
                        activity_scale(m, y->dims[0]));
}

ck_status ck_model_apply_constraints(ck_model *m)
{
    ck_model_weights_changed(m);
    for (int i = 0; i < m->n_layers; i++)
        for (int k = 0; k < m->layers[i]->n_weights; k++) {
            ck_weight *w = &m->layers[i]->weights[k];
            if (w->rule && w->trainable && w->rule->con.kind != CK_CON_NONE)
                CK_TRY(ck_con_apply(&w->rule->con, w->data, w->rank, w->dims));
        }
    return CK_OK;
}

static ck_status refuse(const ck_layer *l, const char *what, const char *cls)
{
    return ck_error(
        CK_ERR_UNSUPPORTED,
        "layer '%s': %s %s is not computed by ckeras, so training would differ from Keras", l->name,
        what, cls);
}

ck_status ck_model_check_penalties(const ck_model *m)
{
    for (int i = 0; i < m->n_layers; i++) {
        const ck_layer *l = m->layers[i];
        if (l->activity.kind == CK_REG_OTHER)
            return refuse(l, "activity_regularizer", ck_reg_class_name(&l->activity));
        if (l->nested_activity)
            return refuse(l, "the activity_regularizer of the wrapped layer", "(inside a wrapper)");
        for (int k = 0; k < l->n_weights; k++) {
            const ck_weight_rule *r = l->weights[k].rule;
            if (r && r->reg.kind == CK_REG_OTHER)
                return refuse(l, "a regularizer", ck_reg_class_name(&r->reg));
            if (r && r->con.kind == CK_CON_OTHER)
                return refuse(l, "a constraint", ck_con_class_name(&r->con));
        }
    }
    return CK_OK;
}
