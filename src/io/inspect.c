/* What a Keras file holds, read without building a model: the writer's
 * version, whether there is a model config, a training config and
 * optimizer state, and the weights of every layer group. For a file that
 * holds weights only, a Keras JSON architecture can be inferred from the
 * shapes of an LSTM / GRU / SimpleRNN / Dense stack. */
#include "ck_io.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_VARS 16

typedef struct file_var {
    char name[160];
    int rank;
    int64_t dims[4];
} file_var;

typedef struct file_group {
    char name[CK_NAME_MAX];
    file_var vars[MAX_VARS];
    int n;
} file_group;

typedef struct file_info {
    const char *kind;
    char version[32];
    bool config, training;
    int n_optimizer; /* optimizer arrays */
    bool ordered;    /* groups in model order (legacy layer_names) */
    file_group *groups;
    int n_groups;
} file_info;

static void info_free(file_info *fi)
{
    free(fi->groups);
    *fi = (file_info){0};
}

static file_group *add_group(file_info *fi, const char *name)
{
    if (fi->n_groups == CK_IO_MAX_LAYERS) {
        ck_error(CK_ERR_FORMAT, "the file has more than %d layer groups", CK_IO_MAX_LAYERS);
        return NULL;
    }
    file_group *g = ck_realloc_array(fi->groups, (size_t)fi->n_groups + 1, sizeof *g);
    if (!g)
        return NULL;
    fi->groups = g;
    g = &fi->groups[fi->n_groups++];
    *g = (file_group){0};
    snprintf(g->name, sizeof g->name, "%s", name);
    return g;
}

static void add_var(file_group *g, hid_t loc, const char *path, const char *name)
{
    if (g->n == MAX_VARS)
        return;
    file_var *v = &g->vars[g->n];
    if (!ck_h5_dataset_dims(loc, path, &v->rank, v->dims))
        v->rank = -1;
    snprintf(v->name, sizeof v->name, "%s", name);
    g->n++;
}

/* ---------------- legacy .h5: layer_names and weight_names ---------------- */

static ck_status list_legacy(hid_t root, file_info *fi)
{
    ck_k2_file f;
    CK_TRY(ck_k2_file_read(root, &f));
    ck_status st = CK_OK;
    for (int i = 0; st == CK_OK && i < f.names.n; i++) {
        file_group *g = add_group(fi, f.layers[i].name);
        hid_t lg = g ? H5Gopen2(root, f.layers[i].name, H5P_DEFAULT) : -1;
        st = g ? CK_OK : ck_error_status();
        for (int k = 0; g && lg >= 0 && k < f.layers[i].weights.n; k++)
            add_var(g, lg, f.layers[i].weights.items[k], f.layers[i].weights.items[k]);
        if (lg >= 0)
            H5Gclose(lg);
    }
    fi->ordered = true;
    ck_k2_file_free(&f);
    return st;
}

/* ---------------- Keras 3 object paths: <root>/<layer>/.../vars/<i> ---------------- */

typedef struct visit {
    hid_t group;
    file_group *g;
} visit;

static bool is_dataset(hid_t loc, const char *name)
{
    H5O_info_t oi;
#if H5_VERSION_GE(1, 12, 0)
    herr_t rc = H5Oget_info_by_name3(loc, name, &oi, H5O_INFO_BASIC, H5P_DEFAULT);
#else
    herr_t rc = H5Oget_info_by_name2(loc, name, &oi, H5O_INFO_BASIC, H5P_DEFAULT);
#endif
    return rc >= 0 && oi.type == H5O_TYPE_DATASET;
}

static herr_t visit_var(hid_t loc, const char *name, const ck_h5_link_info *info, void *ctx)
{
    (void)info;
    visit *v = ctx;
    if (is_dataset(loc, name))
        add_var(v->g, v->group, name, name);
    return 0;
}

static herr_t visit_layer(hid_t root, const char *name, const ck_h5_link_info *info, void *ctx)
{
    (void)info;
    file_info *fi = ctx;
    visit v = {.group = H5Gopen2(root, name, H5P_DEFAULT), .g = add_group(fi, name)};
    if (v.group >= 0 && v.g)
        ck_h5_visit_links(v.group, H5_INDEX_NAME, H5_ITER_INC, visit_var, &v);
    if (v.group >= 0)
        H5Gclose(v.group);
    return v.g ? 0 : -1;
}

static ck_status list_object_paths(hid_t file, const char *root, file_info *fi)
{
    hsize_t idx = 0;
    if (ck_h5_iterate_links_by_name(file, root, H5_INDEX_NAME, H5_ITER_INC, &idx, visit_layer, fi,
                                    H5P_DEFAULT) < 0)
        return ck_error_status() != CK_OK
                   ? ck_error_status()
                   : ck_error(CK_ERR_FORMAT, "the layer groups cannot be listed");
    return CK_OK;
}

static herr_t count_one(hid_t loc, const char *name, const ck_h5_link_info *info, void *ctx)
{
    (void)info;
    *(int *)ctx += is_dataset(loc, name);
    return 0;
}

static int count_datasets(hid_t file, const char *group)
{
    int n = 0;
    hid_t g = H5Lexists(file, group, H5P_DEFAULT) > 0 ? H5Gopen2(file, group, H5P_DEFAULT) : -1;
    if (g >= 0) {
        ck_h5_visit_links(g, H5_INDEX_NAME, H5_ITER_INC, count_one, &n);
        H5Gclose(g);
    }
    return n;
}

static void read_version(hid_t obj, file_info *fi)
{
    char *v = NULL;
    if (!fi->version[0] && ck_h5_has_attr(obj, "keras_version") &&
        ck_h5_read_string(obj, "keras_version", &v) == CK_OK)
        snprintf(fi->version, sizeof fi->version, "%s", v);
    free(v);
    ck_clear_error();
}

static ck_status describe_h5(hid_t file, file_info *fi)
{
    hid_t root;
    read_version(file, fi);
    fi->config = fi->config || ck_h5_has_attr(file, "model_config");
    fi->training = fi->training || ck_h5_has_attr(file, "training_config");
    if (ck_k2_root(file, ck_h5_has_attr(file, "model_config"), &root)) {
        read_version(root, fi);
        fi->kind = fi->config ? "Keras whole-model .h5" : "Keras 2 weights .h5 (save_weights)";
        fi->n_optimizer = count_datasets(file, "optimizer_weights");
        ck_status st = list_legacy(root, fi);
        H5Gclose(root);
        return st;
    }
    const char *layers = ck_k3_layer_root(file);
    if (!layers)
        return ck_error(CK_ERR_FORMAT, "the HDF5 file holds no Keras weights");
    fi->kind = fi->kind ? fi->kind : "Keras 3 weights (.weights.h5)";
    fi->n_optimizer = count_datasets(file, "optimizer");
    return list_object_paths(file, layers, fi);
}

static void zip_facts(const ck_keras_zip *z, file_info *fi)
{
    cJSON *meta = NULL, *cfg = NULL;
    if (z->metadata &&
        ck_io_parse_json("metadata.json", z->metadata, strlen(z->metadata), &meta) != CK_OK)
        ck_clear_error();
    if (ck_io_parse_json("config.json", z->config, strlen(z->config), &cfg) != CK_OK)
        ck_clear_error();
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(meta, "keras_version");
    if (cJSON_IsString(v))
        snprintf(fi->version, sizeof fi->version, "%s", v->valuestring);
    fi->config = true;
    fi->training = cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(cfg, "compile_config"));
    fi->kind = ".keras archive";
    cJSON_Delete(meta);
    cJSON_Delete(cfg);
}

static ck_status describe(const char *path, file_info *fi)
{
    *fi = (file_info){0};
    hid_t file = -1;
    ck_keras_zip z = {0};
    ck_status st;
    /* Its groups are spread over the shards; each shard is a Keras 3
     * weights file of its own. */
    if (ck_str_ends_with(path, "weights.json"))
        return ck_error(CK_ERR_UNSUPPORTED,
                        "'%s' is the index of Keras sharded weights, which inspect does not "
                        "merge: inspect its shards (NAME_00000.weights.h5, ...) one by one, or "
                        "load them all with --weights",
                        path);
    ck_file_format format;
    st = ck_file_format_detect(path, &format);
    if (st == CK_OK && format == CK_FORMAT_KERAS) {
        st = ck_keras_zip_read(path, &z);
        if (st == CK_OK) {
            zip_facts(&z, fi);
            if (ck_is_keras_dir(path))
                fi->kind = "Keras 3 model directory (saved unzipped)";
            st = ck_h5_open_image(z.weights, z.weights_size, "model.weights.h5", &file);
        }
    } else if (st == CK_OK) {
        st = ck_h5_open(path, &file);
    }
    if (st == CK_OK)
        st = describe_h5(file, fi);
    if (file >= 0)
        H5Fclose(file);
    ck_keras_zip_free(&z);
    if (st != CK_OK)
        info_free(fi);
    return st;
}

/* ---------------- the report ---------------- */

static void print_shape(FILE *out, const file_var *v)
{
    if (v->rank < 0) {
        fputs("(missing)", out);
        return;
    }
    fputc('(', out);
    for (int i = 0; i < v->rank; i++)
        fprintf(out, i ? ", %lld" : "%lld", (long long)v->dims[i]);
    fputs(v->rank == 1 ? ",)" : ")", out);
}

static void report(FILE *out, const file_info *fi)
{
    fprintf(out, "kind: %s\nkeras_version: %s\n", fi->kind,
            fi->version[0] ? fi->version : "unknown");
    fprintf(out, "model config: %s\ntraining config: %s\n", fi->config ? "yes" : "no",
            fi->training ? "yes" : "no");
    if (fi->n_optimizer)
        fprintf(out, "optimizer state: yes (%d arrays)\n", fi->n_optimizer);
    else
        fputs("optimizer state: no\n", out);
    fprintf(out, "layer groups (%d, %s):\n", fi->n_groups,
            fi->ordered ? "in model order" : "by name");
    for (int i = 0; i < fi->n_groups; i++) {
        const file_group *g = &fi->groups[i];
        fprintf(out, "  %s%s\n", g->name, g->n ? "" : " (no weights)");
        for (int k = 0; k < g->n; k++) {
            fprintf(out, "    %s ", g->vars[k].name);
            print_shape(out, &g->vars[k]);
            fputc('\n', out);
        }
    }
}

/* describe() for a public entry point `fn`, with HDF5's own printing off. */
static ck_status describe_quietly(const char *fn, const char *path, file_info *fi)
{
    *fi = (file_info){0};
    if (!path)
        return ck_error(CK_ERR_ARGUMENT, "%s: path is NULL", fn);
    ck_h5_quiet q;
    ck_h5_quiet_begin(&q);
    ck_status st = describe(path, fi);
    ck_h5_quiet_end(&q);
    return st;
}

char *ck_file_describe(const char *path)
{
    file_info fi;
    if (describe_quietly("ck_file_describe", path, &fi) != CK_OK)
        return NULL;
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    if (out) {
        report(out, &fi);
        fclose(out);
    }
    info_free(&fi);
    if (!text)
        ck_error(CK_ERR_MEMORY, "out of memory describing '%s'", path);
    return text;
}

/* ---------------- an architecture from the weight shapes ---------------- */

typedef struct guess {
    const file_group *g;
    const char *cls;
    int64_t in, units;
    bool use_bias, reset_after, used;
} guess;

static bool dims2(const file_var *v, int64_t *a, int64_t *b)
{
    *a = v->dims[0];
    *b = v->dims[1];
    return v->rank == 2;
}

/* kernel (F, g*u), recurrent_kernel (u, g*u), bias (g*u) or GRU (2, 3u). */
static bool guess_rnn(const file_group *g, guess *out)
{
    int64_t f, gu, u, gu2;
    if (!dims2(&g->vars[0], &f, &gu) || !dims2(&g->vars[1], &u, &gu2) || gu != gu2 || u <= 0 ||
        f <= 0)
        return false;
    out->in = f;
    out->units = u;
    out->cls = gu == 4 * u ? "LSTM" : gu == 3 * u ? "GRU" : gu == u ? "SimpleRNN" : NULL;
    /* A bias of another rank (a scalar, or missing: -1) fits no layer. */
    int bias_rank = g->vars[2].rank;
    out->reset_after = bias_rank == 2;
    out->use_bias = true;
    return out->cls && (bias_rank == 1 || bias_rank == 2) && g->vars[2].dims[bias_rank - 1] == gu;
}

static bool guess_layer(const file_group *g, guess *out)
{
    *out = (guess){.g = g};
    if (g->n == 3)
        return guess_rnn(g, out);
    if (g->n < 1 || g->n > 2 || !dims2(&g->vars[0], &out->in, &out->units))
        return false;
    out->cls = "Dense";
    out->use_bias = g->n == 2;
    /* An empty axis fits no layer: ckeras would refuse the template. */
    if (out->in <= 0 || out->units <= 0)
        return false;
    return !out->use_bias || (g->vars[1].rank == 1 && g->vars[1].dims[0] == out->units);
}

static bool is_rnn(const guess *g)
{
    return strcmp(g->cls, "Dense") != 0;
}

static bool fed_by_another(const guess *gs, int n, int i)
{
    for (int k = 0; k < n; k++)
        if (k != i && gs[k].units == gs[i].in)
            return true;
    return false;
}

/* How likely layer i comes next, 0 first: recurrent layers before Dense
 * (a sequence classifier's stack), and as the first layer one whose input
 * size no other layer outputs. */
static int rank_next(const guess *gs, int n, int i, int k)
{
    return (k == 0 && fed_by_another(gs, n, i)) * 2 + !is_rnn(&gs[i]);
}

/* Files without layer_names keep their groups by name, so the stack is
 * found by search: each layer's input size must be the previous layer's
 * output size. Widths repeat (LSTM(64) then Dense(64)), so a greedy pick
 * can strand the rest; the search backtracks, within a step budget. */
static bool chain_from(guess *gs, int n, int k, int64_t width, int *order, long *budget)
{
    if (k == n)
        return true;
    for (int rank = 0; rank < 4; rank++)
        for (int i = 0; i < n; i++) {
            if (gs[i].used || rank_next(gs, n, i, k) != rank || (k > 0 && gs[i].in != width))
                continue;
            if (--*budget < 0)
                return false;
            gs[i].used = true;
            order[k] = i;
            if (chain_from(gs, n, k + 1, gs[i].units, order, budget))
                return true;
            gs[i].used = false;
        }
    return false;
}

static ck_status order_stack(const file_info *fi, guess *gs, int n, int *order)
{
    long budget = 100000;
    if (fi->ordered) {
        for (int k = 0; k < n; k++) {
            if (k > 0 && gs[k].in != gs[k - 1].units)
                return ck_error(CK_ERR_UNSUPPORTED,
                                "the weight shapes do not chain into one stack of layers");
            order[k] = k;
        }
        return CK_OK;
    }
    if (!chain_from(gs, n, 0, 0, order, &budget))
        return ck_error(CK_ERR_UNSUPPORTED,
                        "the weight shapes do not chain into one stack of layers");
    return CK_OK;
}


static cJSON *template_layer(const guess *g, bool return_sequences)
{
    cJSON *e = cJSON_CreateObject(), *cfg = cJSON_CreateObject();
    const char *slash = strrchr(g->g->name, '/');
    cJSON_AddStringToObject(e, "class_name", g->cls);
    cJSON_AddItemToObject(e, "config", cfg);
    cJSON_AddStringToObject(cfg, "name", slash ? slash + 1 : g->g->name);
    cJSON_AddNumberToObject(cfg, "units", (double)g->units);
    cJSON_AddBoolToObject(cfg, "use_bias", g->use_bias);
    if (is_rnn(g))
        cJSON_AddBoolToObject(cfg, "return_sequences", return_sequences);
    if (strcmp(g->cls, "GRU") == 0)
        cJSON_AddBoolToObject(cfg, "reset_after", g->reset_after);
    return e;
}

/* The input: (None, None, features) before a recurrent layer, else
 * (None, features); the timesteps are for the user to fill in. */
static cJSON *template_input(const guess *first)
{
    cJSON *e = cJSON_CreateObject(), *cfg = cJSON_CreateObject(), *batch = cJSON_CreateArray();
    cJSON_AddItemToArray(batch, cJSON_CreateNull());
    if (is_rnn(first))
        cJSON_AddItemToArray(batch, cJSON_CreateNull());
    cJSON_AddItemToArray(batch, cJSON_CreateNumber((double)first->in));
    cJSON_AddItemToObject(cfg, "batch_input_shape", batch);
    cJSON_AddStringToObject(cfg, "name", "input_1");
    cJSON_AddStringToObject(e, "class_name", "InputLayer");
    cJSON_AddItemToObject(e, "config", cfg);
    return e;
}

static cJSON *template_json(const guess *gs, const int *order, int n)
{
    cJSON *root = cJSON_CreateObject(), *cfg = cJSON_CreateObject(), *layers = cJSON_CreateArray();
    cJSON_AddItemToArray(layers, template_input(&gs[order[0]]));
    for (int k = 0; k < n; k++) {
        bool seq = k + 1 < n && is_rnn(&gs[order[k + 1]]);
        cJSON_AddItemToArray(layers, template_layer(&gs[order[k]], seq));
    }
    cJSON_AddStringToObject(root, "class_name", "Sequential");
    cJSON_AddItemToObject(root, "config", cfg);
    cJSON_AddStringToObject(cfg, "name", "sequential");
    cJSON_AddItemToObject(cfg, "layers", layers);
    cJSON_AddStringToObject(root, "keras_version", CK_IO_KERAS2_VERSION);
    cJSON_AddStringToObject(root, "backend", "tensorflow");
    return root;
}

static char *infer_template(const file_info *fi)
{
    guess *gs = ck_alloc((size_t)fi->n_groups + 1, sizeof *gs);
    int *order = gs ? ck_alloc((size_t)fi->n_groups + 1, sizeof *order) : NULL;
    int n = 0;
    ck_status st = order ? CK_OK : CK_ERR_MEMORY;
    for (int i = 0; st == CK_OK && i < fi->n_groups; i++) {
        if (fi->groups[i].n == 0)
            continue; /* weightless (Dropout, ...): its place cannot be told */
        if (!guess_layer(&fi->groups[i], &gs[n++]))
            st = ck_error(CK_ERR_UNSUPPORTED,
                          "layer group '%s': its weights are not those of an LSTM, GRU, "
                          "SimpleRNN or Dense layer",
                          fi->groups[i].name);
    }
    if (st == CK_OK && n == 0)
        st = ck_error(CK_ERR_UNSUPPORTED, "the file holds no layer weights");
    if (st == CK_OK)
        st = order_stack(fi, gs, n, order);
    cJSON *json = st == CK_OK ? template_json(gs, order, n) : NULL;
    char *text = json ? cJSON_Print(json) : NULL;
    if (st == CK_OK && !text)
        ck_error(CK_ERR_MEMORY, "out of memory writing the template");
    cJSON_Delete(json);
    free(gs);
    free(order);
    return text;
}

char *ck_file_template(const char *path)
{
    file_info fi;
    char *text = describe_quietly("ck_file_template", path, &fi) == CK_OK ? infer_template(&fi)
                                                                          : NULL;
    info_free(&fi);
    return text;
}
