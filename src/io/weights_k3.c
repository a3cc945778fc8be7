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

/* Suffixes N of the groups named base (N = 0) or base_N under a root. */
typedef struct suffixes {
    const char *base;
    int n, values[CK_IO_MAX_LAYERS];
} suffixes;

static herr_t collect_suffix(hid_t g, const char *name, const ck_h5_link_info *info, void *ctx)
{
    (void)g, (void)info;
    suffixes *s = ctx;
    size_t len = strlen(s->base);
    char *end = NULL;
    if (strncmp(name, s->base, len) != 0 || s->n == CK_IO_MAX_LAYERS)
        return 0;
    long v = name[len] == '\0' ? 0 : name[len] == '_' ? strtol(name + len + 1, &end, 10) : -1;
    if (v >= 0 && v < CK_IO_MAX_LAYERS * 2 &&
        (name[len] == '\0' || (end && !*end && end > name + len + 1)))
        s->values[s->n++] = (int)v;
    return 0;
}

static int by_value(const void *a, const void *b)
{
    return *(const int *)a - *(const int *)b;
}

/* The suffix of the k-th group of a class under a root whose names count
 * more than the layers (tf.keras 2.13/2.14 visited every layer with
 * weights twice, advancing the counter each time); -1 when absent. */
static int listed_suffix(hid_t file, const char *root, const char *base, int k)
{
    suffixes *s = ck_alloc(1, sizeof *s);
    if (!s)
        return -1;
    s->base = base;
    hsize_t idx = 0;
    ck_h5_iterate_links_by_name(file, root, H5_INDEX_NAME, H5_ITER_INC, &idx, collect_suffix, s,
                                H5P_DEFAULT);
    qsort(s->values, (size_t)s->n, sizeof s->values[0], by_value);
    int v = k < s->n ? s->values[k] : -1;
    free(s);
    return v;
}

/* Object paths of every layer, in model order: root/<snake_class>[_N],
 * N counting earlier layers of the class (under "layers"), or the file's
 * own numbering (under _layer_checkpoint_dependencies). */
static ck_status layer_paths(hid_t file, const char *root, const ck_model *m,
                             char (**paths)[K3_PATH_MAX])
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
        if (strcmp(root, "layers") != 0)
            same = listed_suffix(file, root, base, same);
        if (same)
            snprintf(p[i], sizeof p[i], "%s/%s_%d", root, base, same);
        else
            snprintf(p[i], sizeof p[i], "%s/%s", root, base);
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

/* tf.keras 2.13 and 2.14 reached the layers of a model through the
 * attribute _layer_checkpoint_dependencies (the first in dir() order),
 * 2.15+ and Keras 3 through "layers". */
static const char *const layer_roots[] = {"layers", "_layer_checkpoint_dependencies"};

static bool is_group(hid_t file, const char *path)
{
    if (H5Lexists(file, path, H5P_DEFAULT) <= 0)
        return false;
    hid_t g = H5Gopen2(file, path, H5P_DEFAULT);
    if (g >= 0)
        H5Gclose(g);
    return g >= 0;
}

const char *ck_k3_layer_root(hid_t file)
{
    for (size_t i = 0; i < sizeof layer_roots / sizeof layer_roots[0]; i++)
        if (is_group(file, layer_roots[i]))
            return layer_roots[i];
    return NULL;
}

bool ck_k3_is_layout(hid_t file)
{
    return ck_k3_layer_root(file) != NULL;
}

/* " in 'a.weights.h5', 'b.weights.h5'" for the named files (shards) of a
 * message, "" for the one unnamed file of a .weights.h5 or .keras. */
static const char *where(const ck_k3_file *files, int n, char *buf, size_t len)
{
    size_t at = 0;
    buf[0] = '\0';
    for (int i = 0; i < n && files[i].name && at < len; i++) {
        int w = snprintf(buf + at, len - at, "%s'%s'", i ? ", " : " in ", files[i].name);
        at += w > 0 ? (size_t)w : 0;
    }
    return buf;
}

/* Keras 3 refuses a vars group whose size differs from the layer's; the
 * variables of a group split over shards count in all of them, as
 * Keras's sharded store counts them. */
static ck_status check_var_count(const ck_k3_file *files, int n, const ck_layer *l,
                                 const ck_weight *w, const char *vars)
{
    char in[512];
    hsize_t count = 0;
    bool found = false;
    for (int i = 0; i < n; i++) {
        if (!ck_h5_has_link(files[i].file, vars))
            continue;
        H5G_info_t info;
        hid_t g = H5Gopen2(files[i].file, vars, H5P_DEFAULT);
        bool ok = g >= 0 && H5Gget_info(g, &info) >= 0;
        if (g >= 0)
            H5Gclose(g);
        if (!ok)
            return ck_error(CK_ERR_FORMAT, "layer '%s': '%s' is not a group%s", l->name, vars,
                            where(files + i, 1, in, sizeof in));
        count += info.nlinks;
        found = true;
    }
    if (!found)
        return ck_error(CK_ERR_FORMAT, "layer '%s': group '%s' is missing%s", l->name, vars,
                        where(files, n, in, sizeof in));
    int want = scope_count(l, w);
    if (count != (hsize_t)want)
        return ck_error(CK_ERR_SHAPE,
                        "layer '%s' expects %d variables in '%s', the file has %llu%s", l->name,
                        want, vars, (unsigned long long)count, where(files, n, in, sizeof in));
    return CK_OK;
}

/* Variable ds comes from the first file that has it, as Keras's sharded
 * store looks in the group's shards in the order the index lists them. */
static ck_status read_var(const ck_k3_file *files, int n, const char *ds, const ck_layer *l,
                          ck_weight *w, float *dst)
{
    int i = 0;
    while (i + 1 < n && !ck_h5_has_link(files[i].file, ds))
        i++;
    ck_status st = ck_h5_read_layer_weight(files[i].file, ds, l->name, w, dst);
    if (st != CK_OK && st != CK_ERR_MEMORY && files[i].name)
        return ck_error(st, "%s (in '%s')", ck_last_error(), files[i].name);
    return st;
}

static ck_status read_layer(ck_k3_locate locate, void *ctx, const char *path, const ck_model *m,
                            ck_layer *l, float *stage)
{
    for (int k = 0; k < l->n_weights; k++) {
        ck_weight *w = &l->weights[k];
        char vars[K3_PATH_MAX + 80], ds[K3_PATH_MAX + 100];
        vars_path(path, w, vars, sizeof vars);
        const ck_k3_file *files;
        int n;
        CK_TRY(locate(ctx, vars, &files, &n));
        CK_TRY(check_var_count(files, n, l, w, vars));
        snprintf(ds, sizeof ds, "%s/%d", vars, var_index(l, k));
        CK_TRY(read_var(files, n, ds, l, w, ck_stage_slot(stage, m, w)));
    }
    return CK_OK;
}

static ck_status read_layers(hid_t file, const char *root, ck_k3_locate locate, void *ctx,
                             ck_model *m, float *stage)
{
    char(*paths)[K3_PATH_MAX];
    CK_TRY(layer_paths(file, root, m, &paths));
    ck_status st = CK_OK;
    for (int i = 0; st == CK_OK && i < m->n_layers; i++)
        st = read_layer(locate, ctx, paths[i], m, m->layers[i], stage);
    free(paths);
    return st;
}

/* A .weights.h5 (or a .keras's model.weights.h5) holds every group. */
static ck_status locate_in_file(void *ctx, const char *vars, const ck_k3_file **files, int *n)
{
    (void)vars;
    *files = ctx;
    *n = 1;
    return CK_OK;
}

ck_status ck_k3_read(hid_t file, ck_model *m, float *stage)
{
    ck_k3_file one = {file, NULL};
    return read_layers(file, ck_k3_layer_root(file), locate_in_file, &one, m, stage);
}

ck_status ck_k3_read_located(ck_k3_locate locate, void *ctx, ck_model *m, float *stage)
{
    return read_layers(-1, "layers", locate, ctx, m, stage);
}

/* Keras's save visits a layer's own variables, then its sub-objects by
 * attribute name, depth first (Bidirectional: backward_layer before
 * forward_layer); in a group, variables go by index. With scopes of
 * letters, digits and '_', strcmp is that order: '/' sorts first. */
static int save_order(const void *pa, const void *pb)
{
    const ck_k3_var *a = pa, *b = pb;
    if (a->layer != b->layer)
        return a->layer < b->layer ? -1 : 1;
    int c = strcmp(a->w->k3_scope, b->w->k3_scope);
    return c ? c : a->index - b->index;
}

ck_status ck_k3_vars(const ck_model *m, ck_k3_var **out, int *n)
{
    int total = 0;
    for (int i = 0; i < m->n_layers; i++)
        total += m->layers[i]->n_weights;
    ck_k3_var *v = ck_alloc(total ? (size_t)total : 1, sizeof *v);
    char(*paths)[K3_PATH_MAX] = NULL;
    if (!v || layer_paths(-1, "layers", m, &paths) != CK_OK) {
        free(v);
        return CK_ERR_MEMORY;
    }
    int k = 0;
    for (int i = 0; i < m->n_layers; i++)
        for (int j = 0; j < m->layers[i]->n_weights; j++, k++) {
            const ck_weight *w = &m->layers[i]->weights[j];
            v[k] = (ck_k3_var){.w = w, .layer = i, .index = var_index(m->layers[i], j)};
            vars_path(paths[i], w, v[k].vars, sizeof v[k].vars);
        }
    free(paths);
    qsort(v, (size_t)total, sizeof *v, save_order);
    *out = v;
    *n = total;
    return CK_OK;
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
    CK_TRY(layer_paths(file, "layers", m, &paths));
    ck_status st = CK_OK;
    for (int i = 0; st == CK_OK && i < m->n_layers; i++) {
        const ck_layer *l = m->layers[i];
        for (int k = 0; st == CK_OK && k < l->n_weights; k++) {
            const ck_weight *w = &l->weights[k];
            char vars[K3_PATH_MAX + 80], ds[K3_PATH_MAX + 100];
            vars_path(paths[i], w, vars, sizeof vars);
            snprintf(ds, sizeof ds, "%s/%d", vars, var_index(l, k));
            st = ck_h5_write_weight(file, ds, w);
        }
    }
    free(paths);
    return st;
}
