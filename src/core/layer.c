#include "ck_blas.h"
#include "ck_internal.h"

#include <string.h>

ck_status ck_layer_init(ck_layer *l, const ck_layer_ops *ops, const char *name)
{
    l->ops = ops;
    if (name) {
        size_t n = strlen(name);
        if (n == 0 || n >= CK_NAME_MAX)
            return ck_error(CK_ERR_ARGUMENT, "%s: layer name must have 1 to %d characters",
                            ops->class_name, CK_NAME_MAX - 1);
        /* '/' would break HDF5 weight paths. */
        if (strchr(name, '/'))
            return ck_error(CK_ERR_ARGUMENT, "%s: layer name '%s' must not contain '/'",
                            ops->class_name, name);
        memcpy(l->name, name, n + 1);
    }
    return CK_OK;
}

ck_weight *ck_layer_add_weight(ck_layer *l, const char *name, int rank, const int64_t *dims,
                               const ck_init *init, bool trainable)
{
    if (l->n_weights >= CK_MAX_WEIGHTS || rank < 0 || rank > 4) {
        ck_error(
            CK_ERR_STATE,
            "layer %s: weight %s would be weight #%d of rank %d (at most %d weights of rank <= 4)",
            l->name, name, l->n_weights, rank, CK_MAX_WEIGHTS);
        return NULL;
    }
    ck_weight *w = &l->weights[l->n_weights];
    memset(w, 0, sizeof *w);
    snprintf(w->name, sizeof w->name, "%s", name);
    w->rank = rank;
    w->size = 1;
    for (int i = 0; i < rank; i++) {
        if (dims[i] <= 0 || !ck_size_mul(w->size, (size_t)dims[i], &w->size)) {
            ck_error(CK_ERR_SHAPE, "layer %s: weight %s has an invalid size", l->name, name);
            return NULL;
        }
        w->dims[i] = dims[i];
    }
    w->init = *init;
    w->declared_trainable = trainable;
    w->trainable = trainable && !l->frozen;
    w->rule = ck_layer_rule_for(l, name);
    l->n_weights++;
    return w;
}

ck_keras_semantics ck_layer_semantics(const ck_layer *l)
{
    return l->model ? l->model->semantics : CK_KERAS2;
}

void ck_layer_free(ck_layer *layer)
{
    if (!layer)
        return;
    for (int i = 0; i < layer->n_rules; i++) {
        ck_reg_free(&layer->rules[i].reg);
        ck_con_free(&layer->rules[i].con);
    }
    ck_reg_free(&layer->activity);
    layer->ops->destroy(layer);
}

const char *ck_layer_name(const ck_layer *layer)
{
    return layer ? layer->name : "";
}

const char *ck_layer_class_name(const ck_layer *layer)
{
    return layer ? layer->ops->class_name : "";
}

size_t ck_layer_count_params(const ck_layer *layer)
{
    size_t n = 0;
    for (int i = 0; layer && i < layer->n_weights; i++)
        n += layer->weights[i].size;
    return n;
}

ck_status ck_layer_output_shape(const ck_layer *layer, int *rank, int64_t dims[CK_MAX_RANK])
{
    if (!layer || !rank || !dims)
        return ck_error(CK_ERR_ARGUMENT, "ck_layer_output_shape: NULL argument");
    if (!layer->built)
        return ck_error(CK_ERR_STATE, "layer %s is not built yet", layer->name);
    *rank = layer->out_shape.rank;
    memcpy(dims, layer->out_shape.dims, sizeof(int64_t) * CK_MAX_RANK);
    return CK_OK;
}

int ck_layer_weight_count(const ck_layer *layer)
{
    return layer ? layer->n_weights : 0;
}

static ck_status weight_view(ck_layer *layer, int index, const char **name, ck_tensor *view)
{
    /* Weights are declared by build, so "no weight #i" would mislead before it. */
    if (!layer->built)
        return ck_error(CK_ERR_STATE, "layer %s is not built yet", layer->name);
    if (index < 0 || index >= layer->n_weights)
        return ck_error(CK_ERR_ARGUMENT, "layer %s has no weight #%d (it has %d)", layer->name,
                        index, layer->n_weights);
    const ck_weight *w = &layer->weights[index];
    if (!w->data)
        return ck_error(CK_ERR_STATE, "layer %s is not built yet", layer->name);
    if (name)
        *name = w->name;
    view->rank = w->rank;
    memcpy(view->dims, w->dims, sizeof w->dims);
    view->data = w->data;
    /* The caller may write through the view before the next forward. */
    if (layer->model)
        ck_model_weights_changed(layer->model);
    return CK_OK;
}

ck_status ck_layer_pack(const ck_layer *l, ck_packed *p, const float *B, int K, int N, int ld,
                        bool trans)
{
    unsigned long version = l->model ? atomic_load(&l->model->weights_version) : 0;
    if (version != 0 && p->version == version && ck_packed_holds(p, B, K, N, ld, trans))
        return CK_OK;
    CK_TRY(ck_pack(p, B, K, N, ld, trans));
    p->version = version;
    return CK_OK;
}

ck_status ck_layer_weight_gemm(const ck_layer *l, ck_packed *p, bool training, int rows,
                               const float *x, int ldx, const float *W, int K, int N, float beta,
                               float *out, int ldo)
{
    if (!ck_pack_pays(rows, training)) {
        ck_gemm(rows, N, K, x, ldx, W, N, beta, out, ldo);
        return CK_OK;
    }
    CK_TRY(ck_layer_pack(l, p, W, K, N, N, false));
    ck_gemm_packed(rows, x, ldx, p, beta, out, ldo);
    return CK_OK;
}

ck_status ck_layer_weight(ck_layer *layer, int index, const char **name, ck_tensor *view)
{
    if (!layer || !view)
        return ck_error(CK_ERR_ARGUMENT, "ck_layer_weight: NULL argument");
    ck_status st;
    CK_LAYER_GUARDED(st, layer, CK_ACCESS_READ, "ck_layer_weight",
                     weight_view(layer, index, name, view));
    return st;
}

static ck_status set_trainable(ck_layer *layer, bool trainable)
{
    /* On a built model the weights keep their places in the parameter
     * array until the next compile moves them (ck_model_apply_trainable). */
    layer->frozen = !trainable;
    return CK_OK;
}

ck_status ck_layer_set_trainable(ck_layer *layer, bool trainable)
{
    if (!layer)
        return ck_error(CK_ERR_ARGUMENT, "ck_layer_set_trainable: layer is NULL");
    ck_status st;
    CK_LAYER_GUARDED(st, layer, CK_ACCESS_CHANGE, "ck_layer_set_trainable",
                     set_trainable(layer, trainable));
    return st;
}

bool ck_layer_is_trainable(const ck_layer *layer)
{
    return layer && !layer->frozen;
}

ck_layer *ck_layer_clone(const ck_layer *l, ck_keras_semantics semantics)
{
    cJSON *cfg = cJSON_CreateObject();
    ck_layer *copy = NULL;
    if (!cfg || !cJSON_AddStringToObject(cfg, "name", l->name))
        ck_error(CK_ERR_MEMORY, "out of memory copying layer %s", l->name);
    else if (l->ops->get_config(l, cfg) == CK_OK)
        copy = l->ops->from_config(cfg, semantics);
    cJSON_Delete(cfg);
    if (copy)
        copy->frozen = l->frozen;
    return copy;
}
