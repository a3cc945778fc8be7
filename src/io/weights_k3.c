/* Keras 3 object-path layout (.weights.h5 and model.weights.h5 inside
 * .keras): layers/<snake_class>[_N]/[<scope>/]vars/<i>. N counts earlier
 * layers of the same class in the container, not layer names. */
#include "ck_io.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#define K3_PATH_MAX 256

/* keras.src.utils.naming.to_snake_case: "SimpleRNN" -> "simple_rnn",
 * "LSTM" -> "lstm", "Conv2D" -> "conv2d". */
static void snake_case(const char *cls, char *out, size_t len)
{
    char word[CK_NAME_MAX], step[2 * CK_NAME_MAX];
    size_t n = 0, m = 0;
    for (; *cls && n + 1 < sizeof word; cls++)
        if (isalnum((unsigned char)*cls) || *cls == '_')
            word[n++] = *cls;
    word[n] = '\0';
    /* An upper-case letter that starts a capitalised word gets a '_'... */
    for (size_t i = 0; i < n; i++) {
        if (i > 0 && isupper((unsigned char)word[i]) && islower((unsigned char)word[i + 1]))
            step[m++] = '_';
        step[m++] = word[i];
    }
    step[m] = '\0';
    /* ...and so does every lower-to-upper boundary. */
    size_t o = 0;
    for (size_t i = 0; i < m && o + 2 < len; i++) {
        if (i > 0 && islower((unsigned char)step[i - 1]) && isupper((unsigned char)step[i]))
            out[o++] = '_';
        out[o++] = (char)tolower((unsigned char)step[i]);
    }
    out[o] = '\0';
}

/* Object paths of every layer, in model order. */
static ck_status layer_paths(const ck_model *m, char (**paths)[K3_PATH_MAX])
{
    char(*p)[K3_PATH_MAX] = ck_alloc((size_t)m->n_layers + 1, sizeof *p);
    if (!p)
        return CK_ERR_MEMORY;
    for (int i = 0; i < m->n_layers; i++) {
        char base[CK_NAME_MAX];
        snake_case(m->layers[i]->ops->class_name, base, sizeof base);
        int same = 0;
        for (int k = 0; k < i; k++)
            same += strcmp(m->layers[k]->ops->class_name, m->layers[i]->ops->class_name) == 0;
        if (same)
            snprintf(p[i], sizeof p[i], "layers/%s_%d", base, same);
        else
            snprintf(p[i], sizeof p[i], "layers/%s", base);
    }
    *paths = p;
    return CK_OK;
}

static bool same_scope(const ck_weight *a, const ck_weight *b)
{
    return strcmp(a->k3_scope, b->k3_scope) == 0;
}

/* Position of weight k in its vars group: Keras saves trainable
 * variables first, then non-trainable ones, each in creation order. */
static int var_index(const ck_layer *l, int k)
{
    const ck_weight *w = &l->weights[k];
    int idx = 0;
    for (int j = 0; j < l->n_weights; j++) {
        const ck_weight *o = &l->weights[j];
        if (j == k || !same_scope(o, w))
            continue;
        if ((o->trainable && !w->trainable) || (o->trainable == w->trainable && j < k))
            idx++;
    }
    return idx;
}

static int scope_count(const ck_layer *l, const ck_weight *w)
{
    int n = 0;
    for (int j = 0; j < l->n_weights; j++)
        n += same_scope(&l->weights[j], w);
    return n;
}

static void vars_path(const char *layer_path, const ck_weight *w, char *out, size_t len)
{
    if (w->k3_scope[0])
        snprintf(out, len, "%s/%s/vars", layer_path, w->k3_scope);
    else
        snprintf(out, len, "%s/vars", layer_path);
}

bool ck_k3_is_layout(hid_t file)
{
    if (H5Lexists(file, "layers", H5P_DEFAULT) <= 0)
        return false;
    hid_t g = H5Gopen2(file, "layers", H5P_DEFAULT);
    if (g >= 0)
        H5Gclose(g);
    return g >= 0;
}

/* Keras 3 refuses a vars group whose size differs from the layer's. */
static ck_status check_var_count(hid_t file, const ck_layer *l, const ck_weight *w,
                                 const char *vars)
{
    if (!ck_h5_has_link(file, vars))
        return ck_error(CK_ERR_FORMAT, "layer '%s': group '%s' is missing", l->name, vars);
    H5G_info_t info;
    hid_t g = H5Gopen2(file, vars, H5P_DEFAULT);
    bool ok = g >= 0 && H5Gget_info(g, &info) >= 0;
    if (g >= 0)
        H5Gclose(g);
    if (!ok)
        return ck_error(CK_ERR_FORMAT, "layer '%s': '%s' is not a group", l->name, vars);
    int want = scope_count(l, w);
    if (info.nlinks != (hsize_t)want)
        return ck_error(CK_ERR_SHAPE, "layer '%s' expects %d variables in '%s', the file has %llu",
                        l->name, want, vars, (unsigned long long)info.nlinks);
    return CK_OK;
}

static ck_status read_layer(hid_t file, const char *path, const ck_model *m, const ck_layer *l,
                            float *stage)
{
    for (int k = 0; k < l->n_weights; k++) {
        const ck_weight *w = &l->weights[k];
        char vars[K3_PATH_MAX + 80], ds[K3_PATH_MAX + 100];
        vars_path(path, w, vars, sizeof vars);
        CK_TRY(check_var_count(file, l, w, vars));
        snprintf(ds, sizeof ds, "%s/%d", vars, var_index(l, k));
        CK_TRY(ck_h5_read_weight(file, ds, l->name, w, false, ck_stage_slot(stage, m, w)));
    }
    return CK_OK;
}

ck_status ck_k3_read(hid_t file, ck_model *m, float *stage)
{
    char(*paths)[K3_PATH_MAX];
    CK_TRY(layer_paths(m, &paths));
    ck_status st = CK_OK;
    for (int i = 0; st == CK_OK && i < m->n_layers; i++)
        st = read_layer(file, paths[i], m, m->layers[i], stage);
    free(paths);
    return st;
}

/* The top-level groups exist even for a weightless model, so the file is
 * still recognised as this layout. */
static ck_status create_roots(hid_t file)
{
    const char *roots[] = {"layers", "vars"};
    for (int i = 0; i < 2; i++) {
        hid_t g = H5Gcreate2(file, roots[i], H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        if (g < 0)
            return ck_error(CK_ERR_IO, "cannot create group '%s'", roots[i]);
        H5Gclose(g);
    }
    return CK_OK;
}

ck_status ck_k3_write(hid_t file, ck_model *m)
{
    CK_TRY(create_roots(file));
    char(*paths)[K3_PATH_MAX];
    CK_TRY(layer_paths(m, &paths));
    ck_status st = CK_OK;
    for (int i = 0; st == CK_OK && i < m->n_layers; i++) {
        const ck_layer *l = m->layers[i];
        for (int k = 0; st == CK_OK && k < l->n_weights; k++) {
            const ck_weight *w = &l->weights[k];
            char vars[K3_PATH_MAX + 80], ds[K3_PATH_MAX + 100];
            vars_path(paths[i], w, vars, sizeof vars);
            snprintf(ds, sizeof ds, "%s/%d", vars, var_index(l, k));
            st = ck_h5_write_floats(file, ds, w->rank, w->dims, w->data);
        }
    }
    free(paths);
    return st;
}
