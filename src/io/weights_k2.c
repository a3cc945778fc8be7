/* Keras 2 legacy weight layout: a group per layer listed in `layer_names`,
 * each with `weight_names` giving dataset paths relative to the group. */
#include "ck_io.h"

#include <stdlib.h>
#include <string.h>

/* Room for "<layer>/<scope>/<weight>:0". */
#define WEIGHT_PATH_MAX (CK_NAME_MAX + 64 + 32 + 8)

typedef ck_k2_layer file_layer;
typedef ck_k2_file file_layers;

void ck_k2_file_free(file_layers *f)
{
    for (int i = 0; f->layers && i < f->names.n; i++)
        ck_strlist_free(&f->layers[i].weights);
    free(f->layers);
    ck_strlist_free(&f->names);
}

static ck_status read_weight_names(hid_t root, const char *layer, ck_strlist *out)
{
    if (H5Lexists(root, layer, H5P_DEFAULT) <= 0)
        return ck_error(CK_ERR_FORMAT, "layer group '%s' listed in layer_names is missing", layer);
    hid_t g = H5Gopen2(root, layer, H5P_DEFAULT);
    if (g < 0)
        return ck_error(CK_ERR_FORMAT, "'%s' listed in layer_names is not a group", layer);
    ck_status st = ck_h5_read_strings(g, "weight_names", out);
    H5Gclose(g);
    if (st != CK_OK)
        return ck_error(st, "layer '%s': %s", layer, ck_last_error());
    return CK_OK;
}

/* A backend attribute that is not a string names no backend, as in Keras;
 * one that could not be read for want of memory is an error, since
 * guessing would load a Theano file's kernels unflipped. */
static ck_status read_theano(hid_t root, bool *theano)
{
    *theano = false;
    if (!ck_h5_has_attr(root, "backend"))
        return CK_OK;
    char *backend = NULL;
    ck_status st = ck_h5_read_string(root, "backend", &backend);
    if (st == CK_ERR_MEMORY)
        return st;
    *theano = st == CK_OK && strcmp(backend, "theano") == 0;
    free(backend);
    ck_clear_error();
    return CK_OK;
}

ck_status ck_k2_file_read(hid_t root, file_layers *f)
{
    *f = (file_layers){.keras1 = !ck_h5_has_attr(root, "keras_version")};
    CK_TRY(read_theano(root, &f->theano));
    CK_TRY(ck_h5_read_strings(root, "layer_names", &f->names));
    if (f->names.n > CK_IO_MAX_LAYERS) {
        ck_k2_file_free(f);
        return ck_error(CK_ERR_FORMAT, "the file lists %d layers (more than %d)", f->names.n,
                        CK_IO_MAX_LAYERS);
    }
    f->layers = ck_alloc((size_t)f->names.n + 1, sizeof *f->layers);
    ck_status st = f->layers ? CK_OK : CK_ERR_MEMORY;
    for (int i = 0; st == CK_OK && i < f->names.n; i++) {
        f->layers[i].name = f->names.items[i];
        st = read_weight_names(root, f->names.items[i], &f->layers[i].weights);
    }
    if (st != CK_OK)
        ck_k2_file_free(f);
    return st;
}

/* Weights are matched by position within weight_names: names differ
 * between writers (":0" suffix, cell sub-groups) and are not parsed. */
static ck_status read_plain(hid_t g, const file_layer *fl, const ck_model *m, ck_layer *l,
                            float *stage)
{
    for (int k = 0; k < l->n_weights; k++) {
        ck_weight *w = &l->weights[k];
        CK_TRY(ck_h5_read_layer_weight(g, fl->weights.items[k], l->name, w,
                                       ck_stage_slot(stage, m, w)));
    }
    return CK_OK;
}

/* Theano's conv1d is a true convolution (filter_flip) where every other
 * backend, ckeras included, correlates: Keras 2 flips the kernel along its
 * spatial axis when it loads such a file on TensorFlow (saving.py,
 * _need_convert_kernel). A rank-3 kernel is a Conv1D's, wrapped or not. */
static void flip_conv_kernels(const ck_model *m, const ck_layer *l, float *stage)
{
    for (int k = 0; k < l->n_weights; k++) {
        const ck_weight *w = &l->weights[k];
        if (w->rank != 3 || strcmp(w->name, "kernel") != 0)
            continue;
        float *v = ck_stage_slot(stage, m, w);
        size_t taps = (size_t)w->dims[0], block = w->size / taps;
        for (size_t i = 0, j = taps - 1; i < j; i++, j--)
            for (size_t e = 0; e < block; e++) {
                float t = v[i * block + e];
                v[i * block + e] = v[j * block + e];
                v[j * block + e] = t;
            }
    }
}

static ck_status read_layer(hid_t root, const file_layers *f, const file_layer *fl,
                            const ck_model *m, ck_layer *l, float *stage)
{
    bool per_gate = f->keras1 && ck_k1_applies(l, fl->weights.n);
    if (fl->weights.n != l->n_weights && !per_gate)
        return ck_error(
            CK_ERR_SHAPE,
            "weight count mismatch for layer '%s' (file layer '%s'): the model expects %d "
            "weights, the file has %d",
            l->name, fl->name, l->n_weights, fl->weights.n);
    hid_t g = H5Gopen2(root, fl->name, H5P_DEFAULT);
    if (g < 0)
        return ck_error(CK_ERR_FORMAT, "layer group '%s' cannot be opened", fl->name);
    ck_status st;
    if (per_gate)
        st = ck_k1_read_layer(g, &fl->weights, m, l, stage);
    else if (ck_cudnn_applies(g, &fl->weights, l))
        st = ck_cudnn_read_layer(g, &fl->weights, m, l, stage);
    else
        st = read_plain(g, fl, m, l, stage);
    H5Gclose(g);
    if (st == CK_OK && f->theano)
        flip_conv_kernels(m, l, stage);
    return st;
}

static int count_weighted(const ck_model *m)
{
    int n = 0;
    for (int i = 0; i < m->n_layers; i++)
        n += m->layers[i]->n_weights > 0;
    return n;
}

/* Keras's default: the k-th file layer with weights goes into the k-th
 * model layer with weights. */
static ck_status read_by_order(hid_t root, const file_layers *f, ck_model *m, float *stage)
{
    int file_n = 0, model_n = count_weighted(m);
    for (int i = 0; i < f->names.n; i++)
        file_n += f->layers[i].weights.n > 0;
    if (file_n != model_n)
        return ck_error(CK_ERR_SHAPE, "the file has %d layers with weights but model %s has %d",
                        file_n, m->name, model_n);
    int li = 0;
    for (int i = 0; i < f->names.n; i++) {
        if (f->layers[i].weights.n == 0)
            continue;
        while (m->layers[li]->n_weights == 0)
            li++;
        CK_TRY(read_layer(root, f, &f->layers[i], m, m->layers[li++], stage));
    }
    return CK_OK;
}

/* skip_mismatch: a layer whose weights do not fit keeps its own (the
 * staged values it may have half-read go back), with a warning. */
static ck_status skip_layer(ck_model *m, const ck_layer *l, float *stage)
{
    for (int k = 0; k < l->n_weights; k++)
        memcpy(ck_stage_slot(stage, m, &l->weights[k]), l->weights[k].data,
               l->weights[k].size * sizeof(float));
    ck_status st = ck_model_warn(m, "layer '%s' skipped (skip_mismatch): %s", l->name,
                                 ck_last_error());
    ck_clear_error();
    return st;
}

/* by_name: file layers without a namesake in the model are ignored, and
 * model layers absent from the file keep their weights (as in Keras). */
static ck_status read_by_name(hid_t root, const file_layers *f, ck_model *m, bool skip_mismatch,
                              float *stage)
{
    for (int i = 0; i < f->names.n; i++)
        for (int k = 0; k < m->n_layers; k++) {
            if (strcmp(m->layers[k]->name, f->layers[i].name) != 0)
                continue;
            ck_status st = read_layer(root, f, &f->layers[i], m, m->layers[k], stage);
            if (st == CK_ERR_SHAPE && skip_mismatch)
                st = skip_layer(m, m->layers[k], stage);
            CK_TRY(st);
        }
    return CK_OK;
}

ck_status ck_k2_read(hid_t root, ck_model *m, const ck_weights_options *opts, float *stage)
{
    file_layers f;
    CK_TRY(ck_k2_file_read(root, &f));
    ck_status st = opts && opts->by_name ? read_by_name(root, &f, m, opts->skip_mismatch, stage)
                                         : read_by_order(root, &f, m, stage);
    ck_k2_file_free(&f);
    return st;
}

static void weight_path(const ck_layer *l, const ck_weight *w, char *out, size_t len)
{
    if (w->k2_scope[0])
        snprintf(out, len, "%s/%s/%s:0", l->name, w->k2_scope, w->name);
    else
        snprintf(out, len, "%s/%s:0", l->name, w->name);
}

static ck_status write_layer(hid_t root, const ck_layer *l)
{
    char paths[CK_MAX_WEIGHTS][WEIGHT_PATH_MAX];
    const char *names[CK_MAX_WEIGHTS];
    for (int k = 0; k < l->n_weights; k++) {
        weight_path(l, &l->weights[k], paths[k], sizeof paths[k]);
        names[k] = paths[k];
    }
    hid_t g = H5Gcreate2(root, l->name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (g < 0)
        return ck_error(CK_ERR_IO, "cannot create the group of layer '%s'", l->name);
    ck_status st = ck_h5_write_strings(g, "weight_names", names, l->n_weights);
    for (int k = 0; st == CK_OK && k < l->n_weights; k++) {
        const ck_weight *w = &l->weights[k];
        st = ck_h5_write_weight(g, paths[k], w);
    }
    H5Gclose(g);
    return st;
}

/* Keras 2.9+ adds this group for weights owned by the model itself, which
 * a Sequential has none of: an empty weight_names. */
static ck_status write_top_level(hid_t root, const ck_model *m)
{
    hid_t g = H5Gcreate2(root, "top_level_model_weights", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (g < 0)
        return ck_error(CK_ERR_IO,
                        "cannot create group top_level_model_weights (model %s has a "
                        "layer of that name?)",
                        m->name);
    ck_status st = ck_h5_write_strings(g, "weight_names", NULL, 0);
    H5Gclose(g);
    return st;
}

ck_status ck_k2_write(hid_t root, ck_model *m)
{
    /* Like tf.keras's Sequential.layers, the InputLayer is not listed. */
    const char **names = ck_alloc((size_t)m->n_layers, sizeof *names);
    if (!names)
        return CK_ERR_MEMORY;
    for (int i = 0; i < m->n_layers; i++)
        names[i] = m->layers[i]->name;
    ck_status st = ck_h5_write_strings(root, "layer_names", names, m->n_layers);
    free(names);
    if (st == CK_OK)
        st = ck_h5_write_string(root, "backend", "tensorflow");
    if (st == CK_OK)
        st = ck_h5_write_string(root, "keras_version", ck_io_keras_version(m->semantics));
    for (int i = 0; st == CK_OK && i < m->n_layers; i++)
        st = write_layer(root, m->layers[i]);
    if (st == CK_OK)
        st = write_top_level(root, m);
    return st;
}
