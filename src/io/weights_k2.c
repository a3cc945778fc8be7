/* Keras 2 legacy weight layout: a group per layer listed in `layer_names`,
 * each with `weight_names` giving dataset paths relative to the group. */
#include "ck_io.h"

#include <math.h>
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
static ck_status read_plain(hid_t g, const file_layer *fl, const ck_model *m, const ck_layer *l,
                            float *stage)
{
    for (int k = 0; k < l->n_weights; k++) {
        const ck_weight *w = &l->weights[k];
        CK_TRY(ck_h5_read_weight(g, fl->weights.items[k], l->name, w, false,
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
        st = ck_h5_write_floats(g, paths[k], w->rank, w->dims, w->data);
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

/* ---------------- optimizer state ---------------- */

typedef struct slot {
    const char *name;
    float *data;
    ck_weight shape; /* name and dims only, for the shared shape check */
} slot;

static ck_status get_slots(ck_model *m, slot *slots, int n)
{
    for (int i = 0; i < n; i++) {
        slot *s = &slots[i];
        int rank = 0;
        CK_TRY(ck_optimizer_slot(m, i, &s->name, &s->data, &rank, s->shape.dims));
        if (rank < 0 || rank > 4)
            return ck_error(CK_ERR_STATE, "optimizer slot %s has rank %d", s->name, rank);
        s->shape.rank = rank;
        s->shape.size = 1;
        for (int k = 0; k < rank; k++)
            s->shape.size *= (size_t)s->shape.dims[k];
        snprintf(s->shape.name, sizeof s->shape.name, "%s", s->name);
    }
    return CK_OK;
}

ck_status ck_k2_write_optimizer(hid_t file, ck_model *m)
{
    int n = ck_optimizer_slot_count(m);
    if (n <= 0)
        return CK_OK;
    slot *slots = ck_alloc((size_t)n, sizeof *slots);
    const char **names = slots ? ck_alloc((size_t)n, sizeof *names) : NULL;
    ck_status st = names ? get_slots(m, slots, n) : CK_ERR_MEMORY;
    hid_t g = -1;
    if (st == CK_OK) {
        g = H5Gcreate2(file, "optimizer_weights", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        st = g >= 0 ? CK_OK : ck_error(CK_ERR_IO, "cannot create group optimizer_weights");
    }
    for (int i = 0; st == CK_OK && i < n; i++)
        names[i] = slots[i].name;
    if (st == CK_OK)
        st = ck_h5_write_strings(g, "weight_names", names, n);
    /* Keras stores the iteration count (slot 0) as int64. */
    if (st == CK_OK)
        st = ck_h5_write_int64(g, slots[0].name, (int64_t)llroundf(slots[0].data[0]));
    for (int i = 1; st == CK_OK && i < n; i++)
        st = ck_h5_write_floats(g, slots[i].name, slots[i].shape.rank, slots[i].shape.dims,
                                slots[i].data);
    if (g >= 0)
        H5Gclose(g);
    free(names);
    free(slots);
    return st;
}

/* Reads every slot into one staging buffer before touching the optimizer. */
static ck_status read_slots(hid_t g, const ck_strlist *names, slot *slots, int n)
{
    size_t total = 0;
    for (int i = 0; i < n; i++)
        total += slots[i].shape.size;
    float *stage = ck_alloc(total ? total : 1, sizeof(float));
    if (!stage)
        return CK_ERR_MEMORY;
    ck_status st = CK_OK;
    size_t off = 0;
    for (int i = 0; st == CK_OK && i < n; i++) {
        st = ck_h5_read_weight(g, names->items[i], "optimizer", &slots[i].shape, true, stage + off);
        off += slots[i].shape.size;
    }
    off = 0;
    for (int i = 0; st == CK_OK && i < n; i++) {
        memcpy(slots[i].data, stage + off, slots[i].shape.size * sizeof(float));
        off += slots[i].shape.size;
    }
    free(stage);
    return st;
}

/* The part of a slot name after the optimizer's own name ("Adam/",
 * "Adam_1/"), which users may choose freely. */
static const char *slot_path(const char *name)
{
    const char *slash = strchr(name, '/');
    return slash ? slash + 1 : name;
}

/* Position decides which slot gets which array, so every name must be the
 * one ckeras gives that position; other layouts would load silently wrong. */
static ck_status check_slot_names(const ck_strlist *names, const slot *slots, int n)
{
    for (int i = 0; i < n; i++)
        if (strcmp(slot_path(names->items[i]), slot_path(slots[i].name)) != 0)
            return ck_error(CK_ERR_UNSUPPORTED, "optimizer weight %d is '%s', expected '%s'", i,
                            names->items[i], slots[i].name);
    return CK_OK;
}

/* tf.keras 2.11+ marks its new optimizers, whose variables are ordered
 * differently, with is_legacy_optimizer: false. */
static bool is_legacy_layout(const cJSON *training_config)
{
    const cJSON *oc = cJSON_GetObjectItemCaseSensitive(training_config, "optimizer_config");
    const cJSON *cfg = cJSON_GetObjectItemCaseSensitive(oc, "config");
    return !cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(cfg, "is_legacy_optimizer"));
}

/* Keras <= 2.2 names its optimizer variables "<prefix>/iterations:0" and
 * "training/<Class>/Variable[_N]:0", in the order Keras 2 and ckeras use
 * (iterations, then one array per trainable weight for each slot kind), so
 * they are taken by position, every shape checked. */
static bool is_keras22_layout(const ck_strlist *names)
{
    if (names->n < 1 || !ck_str_ends_with(names->items[0], "iterations:0"))
        return false;
    for (int i = 1; i < names->n; i++)
        if (!strstr(names->items[i], "/Variable"))
            return false;
    return true;
}

/* How many of the file's optimizer weights are ckeras's slots: all, or for
 * a Keras <= 2.2 Adam without amsgrad all but its trailing (1,)
 * placeholders for vhat, one per trainable weight. */
static int slots_in_file(const ck_strlist *names, const slot *slots, int n, bool keras22)
{
    if (names->n == n || !keras22 || strncmp(slots[0].name, "Adam/", 5) != 0)
        return names->n;
    return names->n == n + (n - 1) / 2 ? n : names->n;
}

static ck_status try_read_optimizer(hid_t g, ck_model *m)
{
    CK_TRY(ck_optimizer_create_slots(m));
    ck_strlist names;
    CK_TRY(ck_h5_read_strings(g, "weight_names", &names));
    int n = ck_optimizer_slot_count(m);
    slot *slots = NULL;
    ck_status st = CK_OK;
    if (n > 0) {
        slots = ck_alloc((size_t)n, sizeof *slots);
        st = slots ? get_slots(m, slots, n) : CK_ERR_MEMORY;
    }
    bool keras22 = is_keras22_layout(&names);
    if (st == CK_OK && n > 0 && slots_in_file(&names, slots, n, keras22) != n)
        st = ck_error(CK_ERR_SHAPE, "the file has %d optimizer weights, the optimizer has %d",
                      names.n, n);
    if (st == CK_OK && !keras22)
        st = check_slot_names(&names, slots, n);
    if (st == CK_OK)
        st = read_slots(g, &names, slots, n);
    free(slots);
    ck_strlist_free(&names);
    return st;
}

/* Reads the optimizer state in group `path` of file with try_read. Keras
 * keeps the model and starts a fresh optimizer when the saved state does
 * not fit (another optimizer version, another variable order). */
static ck_status read_optimizer_group(hid_t file, const char *path,
                                      ck_status (*try_read)(hid_t, ck_model *), ck_model *m)
{
    hid_t g = H5Gopen2(file, path, H5P_DEFAULT);
    if (g < 0)
        return CK_OK;
    ck_status st = try_read(g, m);
    H5Gclose(g);
    if (st == CK_ERR_MEMORY)
        return st;
    if (st != CK_OK)
        ck_optimizer_drop_slots(m);
    ck_clear_error();
    return CK_OK;
}

ck_status ck_k2_read_optimizer(hid_t file, const cJSON *training_config, ck_model *m)
{
    if (!is_legacy_layout(training_config) ||
        H5Lexists(file, "optimizer_weights", H5P_DEFAULT) <= 0)
        return CK_OK;
    return read_optimizer_group(file, "optimizer_weights", try_read_optimizer, m);
}

/* Keras 3 saves optimizer.variables as optimizer/vars/0, 1, ...: the
 * iteration count, the learning rate unless a schedule gives it, then the
 * slots. Adam, AdamW and Adamax make their first two slots weight by
 * weight (momentum and velocity, m and u), then every velocity_hat;
 * RMSprop makes each slot over every weight (velocity, momentum,
 * average_gradient), as do SGD and Adagrad with their one. Nadam makes
 * Adam's two and a scalar u_product, before them up to Keras 3.9 and after
 * them from 3.10; ckeras derives the product from the iteration count. */
static int k3_interleaved(const char *cls)
{
    static const struct {
        const char *cls;
        int interleaved;
    } known[] = {{"Adam", 2},    {"AdamW", 2}, {"Adamax", 2}, {"Nadam", 2},
                 {"RMSprop", 1}, {"SGD", 1},   {"Adagrad", 1}};
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (strcmp(cls, known[i].cls) == 0)
            return known[i].interleaved;
    return 0;
}

/* The Keras 3 variable index of ckeras slot i (n slots over w weights). */
static int k3_index(int i, int w, int interleaved, int base)
{
    if (i == 0)
        return 0;
    int kind = (i - 1) / w, j = (i - 1) % w;
    if (kind < interleaved)
        return base + j * interleaved + kind;
    return base + interleaved * w + (kind - interleaved) * w + j;
}

static ck_status k3_names(ck_model *m, int n, int base, ck_strlist *names)
{
    const ck_train_state *s = ck_train_state_of(m);
    int interleaved = k3_interleaved(s->opt.kind->class_name);
    if (!interleaved)
        return ck_error(CK_ERR_UNSUPPORTED, "Keras 3 %s state is not read",
                        s->opt.kind->class_name);
    int w = s->opt.n_slots ? (n - 1) / s->opt.n_slots : 0;
    names->items = ck_alloc((size_t)n, sizeof *names->items);
    if (!names->items)
        return CK_ERR_MEMORY;
    names->n = n;
    for (int i = 0; i < n; i++) {
        char text[16];
        snprintf(text, sizeof text, "%d", k3_index(i, w, interleaved, base));
        names->items[i] = ck_strdup(text);
        if (!names->items[i])
            return CK_ERR_MEMORY;
    }
    return CK_OK;
}

/* Whether optimizer variable `index` is a scalar: Nadam's u_product where
 * a slot shaped like a weight would otherwise be. */
static bool k3_is_scalar(hid_t g, int index)
{
    char key[16];
    snprintf(key, sizeof key, "%d", index);
    hid_t d = H5Dopen2(g, key, H5P_DEFAULT);
    if (d < 0)
        return false;
    hid_t space = H5Dget_space(d);
    bool scalar = space >= 0 && H5Sget_simple_extent_ndims(space) == 0;
    if (space >= 0)
        H5Sclose(space);
    H5Dclose(d);
    return scalar;
}

static ck_status try_read_k3_optimizer(hid_t g, ck_model *m)
{
    const ck_train_state *s = ck_train_state_of(m);
    int n = ck_optimizer_slot_count(m);
    int base = s->opt.o.learning_rate_schedule.class_name ? 1 : 2;
    int extra = strcmp(s->opt.kind->class_name, "Nadam") == 0;
    H5G_info_t info;
    if (n <= 0 || H5Gget_info(g, &info) < 0)
        return ck_error(CK_ERR_FORMAT, "optimizer/vars cannot be read");
    if (info.nlinks != (hsize_t)(n - 1 + base + extra))
        return ck_error(CK_ERR_SHAPE, "the file has %llu optimizer variables, the optimizer %d",
                        (unsigned long long)info.nlinks, n - 1 + base + extra);
    if (extra && k3_is_scalar(g, base))
        base++;
    ck_strlist names = {0};
    slot *slots = ck_alloc((size_t)n, sizeof *slots);
    ck_status st = slots ? get_slots(m, slots, n) : CK_ERR_MEMORY;
    if (st == CK_OK)
        st = k3_names(m, n, base, &names);
    if (st == CK_OK)
        st = read_slots(g, &names, slots, n);
    ck_strlist_free(&names);
    free(slots);
    return st;
}

ck_status ck_k3_read_optimizer(hid_t file, ck_model *m)
{
    if (!ck_train_state_of(m) || H5Lexists(file, "optimizer", H5P_DEFAULT) <= 0 ||
        H5Lexists(file, "optimizer/vars", H5P_DEFAULT) <= 0)
        return CK_OK;
    return read_optimizer_group(file, "optimizer/vars", try_read_k3_optimizer, m);
}
