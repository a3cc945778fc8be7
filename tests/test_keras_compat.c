/* The compatibility table of docs/keras-compatibility.md, one Check test per
 * row of tests/data/keras_compat/cases.tsv. Each row names a config written
 * exactly as a Keras release writes it (tests/data/keras_compat/);
 * the test lays the weights out as that release does (legacy .h5 groups,
 * .keras object paths, tf.keras 2.13/2.14 _layer_checkpoint_dependencies,
 * bfloat16 datasets), written here with the HDF5 C API and libzip, loads
 * the file with ckeras and checks the outcome. "numeric" rows compare the
 * outputs with the Keras equations, evaluated in this file from the same
 * config and weights (LSTM gates i, f, c, o; GRU z, r, h with reset_after
 * as configured; masks skipping steps as tf.keras does). */
#include "ck_test.h"

#include <cjson/cJSON.h>
#include <hdf5.h>
#include <string.h>
#include <zip.h>

#define DATA_DIR "tests/data/keras_compat/"
#define MAX_CASES 96
#define MAX_LAYERS 12
#define MAX_W 7
#define B 2
#define T 5
#define MAX_STEPS 32 /* after padding and upsampling */

/* ---------------------------------------------------------------- cases */

typedef struct compat_case {
    char id[64], release[16], kind[16], layout[16], config[96], options[64], expect[160], check[32];
} compat_case;

static compat_case cases[MAX_CASES];
static int n_cases;

/* The whole file, NUL-terminated; NULL when unreadable. */
static char *read_text(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *text = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (text && fread(text, 1, (size_t)n, f) == (size_t)n) {
        text[n] = '\0';
    } else {
        free(text);
        text = NULL;
    }
    fclose(f);
    return text;
}

/* Runs before the tests, so it reports problems itself. */
static bool field(char **line, char *out, size_t len)
{
    char *tab = strchr(*line, '\t');
    size_t n = tab ? (size_t)(tab - *line) : strlen(*line);
    if (n >= len)
        return false;
    memcpy(out, *line, n);
    out[n] = '\0';
    *line += n + (tab ? 1 : 0);
    return true;
}

static bool parse_case(char *line, compat_case *c)
{
    return field(&line, c->id, sizeof c->id) && field(&line, c->release, sizeof c->release) &&
           field(&line, c->kind, sizeof c->kind) && field(&line, c->layout, sizeof c->layout) &&
           field(&line, c->config, sizeof c->config) &&
           field(&line, c->options, sizeof c->options) &&
           field(&line, c->expect, sizeof c->expect) && field(&line, c->check, sizeof c->check) &&
           !*line;
}

static bool load_cases(void)
{
    char *text = read_text(DATA_DIR "cases.tsv"), *save = NULL;
    bool ok = text != NULL;
    for (char *line = ok ? strtok_r(text, "\n", &save) : NULL; ok && line;
         line = strtok_r(NULL, "\n", &save)) {
        if (line[0] == '#')
            continue;
        ok = n_cases < MAX_CASES && parse_case(line, &cases[n_cases++]);
        if (!ok)
            fprintf(stderr, "cases.tsv: bad row: %s\n", line);
    }
    free(text);
    return ok;
}

/* ------------------------------------------------- the model, read here */

typedef enum {
    L_DENSE,
    L_LSTM,
    L_GRU,
    L_RNN,
    L_DROPOUT,
    L_MASKING,
    L_EMBEDDING,
    L_BN,
    L_GAUSSIAN_DROPOUT,
    L_ALPHA_DROPOUT,
    L_PAD,
    L_CROP,
    L_UP,
    L_ACTIVITY,
    L_RELU,
    L_LEAKY_RELU,
    L_THRESHOLDED_RELU,
    L_ELU,
    L_PRELU,
    L_OTHER
} lkind;

typedef struct ref_weight {
    const char *name;
    int rank;
    int64_t dims[2];
    float *data;
} ref_weight;

typedef struct ref_layer {
    lkind kind;
    const char *cls, *name;
    int units, in_dim;
    char act[32], ract[32];
    bool return_sequences, reset_after, mask_zero;
    double mask_value, epsilon;
    int before, after, size; /* ZeroPadding1D, Cropping1D; UpSampling1D */
    /* ReLU family: Keras backend relu's alpha, max_value (< 0: None) and
     * threshold; ELU's alpha */
    double slope, max_value, threshold, alpha;
    ref_weight w[MAX_W];
    int n_w;
} ref_layer;

typedef struct ref_model {
    cJSON *root;
    ref_layer l[MAX_LAYERS];
    int n;
    int feat;    /* features per step of the input (0: integer ids) */
    bool keras3; /* hard_sigmoid is x/6 + 0.5 */
    const char *map_from, *map_to;
} ref_model;

static const cJSON *get(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNull(v) ? NULL : v;
}

static const char *str(const cJSON *o, const char *k, const char *dflt)
{
    const cJSON *v = get(o, k);
    return cJSON_IsString(v) ? v->valuestring : dflt;
}

static double num(const cJSON *o, const char *k, double dflt)
{
    const cJSON *v = get(o, k);
    return cJSON_IsNumber(v) ? v->valuedouble : dflt;
}

/* An activation as Keras serialised it, with the row's name map. */
static void activation_of(const ref_model *rm, const cJSON *cfg, const char *key, const char *dflt,
                          char *out)
{
    const cJSON *v = get(cfg, key);
    const char *name = cJSON_IsString(v) ? v->valuestring : dflt;
    if (cJSON_IsObject(v))
        name = str(v, "config", dflt);
    const char *bare = strrchr(name, '>') ? strrchr(name, '>') + 1 : name;
    if (rm->map_from && strcmp(bare, rm->map_from) == 0)
        name = rm->map_to;
    snprintf(out, 32, "%s", name);
}

static lkind kind_of(const char *cls)
{
    static const struct {
        const char *cls;
        lkind kind;
    } kinds[] = {{"Dense", L_DENSE},
                 {"LSTM", L_LSTM},
                 {"GRU", L_GRU},
                 {"SimpleRNN", L_RNN},
                 {"Dropout", L_DROPOUT},
                 {"Masking", L_MASKING},
                 {"Embedding", L_EMBEDDING},
                 {"BatchNormalization", L_BN},
                 {"GaussianDropout", L_GAUSSIAN_DROPOUT},
                 {"AlphaDropout", L_ALPHA_DROPOUT},
                 {"ZeroPadding1D", L_PAD},
                 {"Cropping1D", L_CROP},
                 {"UpSampling1D", L_UP},
                 {"ActivityRegularization", L_ACTIVITY},
                 {"ReLU", L_RELU},
                 {"LeakyReLU", L_LEAKY_RELU},
                 {"ThresholdedReLU", L_THRESHOLDED_RELU},
                 {"ELU", L_ELU},
                 {"PReLU", L_PRELU}};
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (strcmp(kinds[i].cls, cls) == 0)
            return kinds[i].kind;
    return L_OTHER;
}

/* Deterministic weight values; variances stay positive. */
static float *values(int64_t n, int seed, bool positive)
{
    float *v = malloc(sizeof(float) * (size_t)n);
    for (int64_t i = 0; i < n; i++) {
        double s = sin(1.7 * seed + 0.31 * (double)i + 0.2);
        v[i] = (float)(positive ? 0.5 + 0.4 * fabs(s) : 0.45 * s);
    }
    return v;
}

static void add_weight(ref_layer *l, const char *name, int rank, int64_t d0, int64_t d1, int seed)
{
    ref_weight *w = &l->w[l->n_w++];
    w->name = name;
    w->rank = rank;
    w->dims[0] = d0;
    w->dims[1] = d1;
    w->data = values(rank == 2 ? d0 * d1 : d0, seed, strcmp(name, "moving_variance") == 0);
}

static void rnn_weights(ref_layer *l, int gates, int seed)
{
    int u = l->units;
    add_weight(l, "kernel", 2, l->in_dim, gates * u, seed);
    add_weight(l, "recurrent_kernel", 2, u, gates * u, seed + 1);
    if (l->kind == L_GRU && l->reset_after)
        add_weight(l, "bias", 2, 2, gates * u, seed + 2);
    else
        add_weight(l, "bias", 1, gates * u, 0, seed + 2);
}

/* padding or cropping: an int for both ends or [before, after]. */
static void read_pair(ref_layer *l, const cJSON *cfg, const char *key)
{
    const cJSON *v = get(cfg, key);
    l->before = l->after = cJSON_IsNumber(v) ? (int)v->valuedouble : 1;
    if (cJSON_IsArray(v)) {
        l->before = (int)cJSON_GetArrayItem(v, 0)->valuedouble;
        l->after = (int)cJSON_GetArrayItem(v, 1)->valuedouble;
    }
}

/* The options of the ReLU family and ELU, as each release names them. */
static void relu_options(ref_layer *l, const cJSON *cfg)
{
    l->max_value = -1;
    if (l->kind == L_RELU) {
        l->max_value = num(cfg, "max_value", -1);
        l->slope = num(cfg, "negative_slope", 0);
        l->threshold = num(cfg, "threshold", 0);
    } else if (l->kind == L_LEAKY_RELU) {
        l->slope = num(cfg, "alpha", num(cfg, "negative_slope", 0.3));
    } else if (l->kind == L_THRESHOLDED_RELU) {
        l->threshold = num(cfg, "theta", 1);
    }
    l->alpha = num(cfg, "alpha", 1); /* Keras 3 writes no ELU alpha */
}

/* Declares the layer's weights in Keras order; returns its output width. */
static int declare(ref_model *rm, ref_layer *l, const cJSON *cfg, int in_dim, int seed)
{
    l->in_dim = in_dim;
    l->units = (int)num(cfg, "units", 0);
    activation_of(rm, cfg, "activation", l->kind == L_DENSE ? "linear" : "tanh", l->act);
    activation_of(rm, cfg, "recurrent_activation", "sigmoid", l->ract);
    l->return_sequences = cJSON_IsTrue(get(cfg, "return_sequences"));
    l->reset_after = cJSON_IsTrue(get(cfg, "reset_after"));
    l->mask_zero = cJSON_IsTrue(get(cfg, "mask_zero"));
    l->mask_value = num(cfg, "mask_value", 0);
    l->epsilon = num(cfg, "epsilon", 1e-3);
    l->size = (int)num(cfg, "size", 2);
    read_pair(l, cfg, l->kind == L_PAD ? "padding" : "cropping");
    relu_options(l, cfg);
    switch (l->kind) {
    case L_DENSE:
        add_weight(l, "kernel", 2, in_dim, l->units, seed);
        add_weight(l, "bias", 1, l->units, 0, seed + 1);
        return l->units;
    case L_LSTM:
        rnn_weights(l, 4, seed);
        return l->units;
    case L_GRU:
        rnn_weights(l, 3, seed);
        return l->units;
    case L_RNN:
        rnn_weights(l, 1, seed);
        return l->units;
    case L_EMBEDDING:
        add_weight(l, "embeddings", 2, (int64_t)num(cfg, "input_dim", 0),
                   (int64_t)num(cfg, "output_dim", 0), seed);
        return (int)num(cfg, "output_dim", 0);
    case L_BN: {
        /* renorm's statistics follow; inference does not read them. */
        const char *names[7] = {"gamma",         "beta",        "moving_mean",  "moving_variance",
                                "moving_stddev", "renorm_mean", "renorm_stddev"};
        for (int k = 0; k < (cJSON_IsTrue(get(cfg, "renorm")) ? 7 : 4); k++)
            add_weight(l, names[k], 1, in_dim, 0, seed + k);
        return in_dim;
    }
    case L_PRELU: /* shared over the steps: alpha (1, width) */
        ck_assert_int_eq(cJSON_GetArraySize(get(cfg, "shared_axes")), 1);
        ck_assert_double_eq(cJSON_GetArrayItem(get(cfg, "shared_axes"), 0)->valuedouble, 1);
        add_weight(l, "alpha", 2, 1, in_dim, seed);
        return in_dim;
    default:
        return in_dim;
    }
}

/* The layer entries in model order, whatever the release's model format. */
static const cJSON *layer_list(const cJSON *root)
{
    const cJSON *cfg = get(root, "config");
    return cJSON_IsArray(cfg) ? cfg : get(cfg, "layers");
}

/* Features per step of the first layer's input; 0 for integer ids. */
static int input_features(const cJSON *layers)
{
    const cJSON *cfg = get(cJSON_GetArrayItem(layers, 0), "config");
    const cJSON *shape = get(cfg, "batch_shape") ? get(cfg, "batch_shape")
                                                 : get(cfg, "batch_input_shape");
    const cJSON *f = cJSON_GetArrayItem(shape, 2);
    return cJSON_IsNumber(f) ? (int)f->valuedouble : 0;
}

static void read_model(ref_model *rm, const char *json, const compat_case *c)
{
    memset(rm, 0, sizeof *rm);
    rm->root = cJSON_Parse(json);
    ck_assert_ptr_nonnull(rm->root);
    rm->keras3 = c->release[0] == '3';
    if (strncmp(c->options, "map=", 4) == 0) {
        static char map[64];
        snprintf(map, sizeof map, "%s", c->options + 4);
        char *colon = strchr(map, ':');
        *colon = '\0';
        rm->map_from = map;
        rm->map_to = colon + 1;
    }
    const cJSON *layers = layer_list(rm->root), *e;
    rm->feat = input_features(layers);
    int width = rm->feat, seed = 1;
    cJSON_ArrayForEach(e, layers)
    {
        const char *cls = str(e, "class_name", "?"), *module = str(e, "module", "");
        if (strcmp(cls, "InputLayer") == 0 || strncmp(module, "keras.src.ops.", 14) == 0)
            continue;
        ck_assert_int_lt(rm->n, MAX_LAYERS);
        ref_layer *l = &rm->l[rm->n++];
        l->cls = cls;
        l->kind = kind_of(cls);
        l->name = str(get(e, "config"), "name", "?");
        width = declare(rm, l, get(e, "config"), width, seed);
        seed += 7;
    }
}

static void free_model(ref_model *rm)
{
    for (int i = 0; i < rm->n; i++)
        for (int k = 0; k < rm->l[i].n_w; k++)
            free(rm->l[i].w[k].data);
    cJSON_Delete(rm->root);
}

/* ------------------------------------------------- the Keras equations */

static double act(const ref_model *rm, const char *name, double x)
{
    if (strcmp(name, "tanh") == 0)
        return tanh(x);
    if (strcmp(name, "sigmoid") == 0)
        return 1 / (1 + exp(-x));
    if (strcmp(name, "hard_sigmoid") == 0)
        return fmin(1, fmax(0, rm->keras3 ? x / 6 + 0.5 : 0.2 * x + 0.5));
    if (strcmp(name, "relu") == 0)
        return fmax(0, x);
    ck_assert_msg(strcmp(name, "linear") == 0 || strcmp(name, "softmax") == 0, "activation %s",
                  name);
    return x;
}

/* A sequence flowing between layers: (B, T, width) or, after a layer that
 * returns its last step only, (B, 1, width); mask[b][t] marks kept steps. */
typedef struct seq {
    int steps, width;
    double v[B][MAX_STEPS][16];
    bool mask[B][MAX_STEPS];
} seq;

/* out = x W + b for one vector, W (in, n) row-major. */
static void affine(const double *x, int in, const float *w, const float *b, int n, double *out)
{
    for (int j = 0; j < n; j++) {
        out[j] = b ? b[j] : 0;
        for (int i = 0; i < in; i++)
            out[j] += x[i] * w[i * n + j];
    }
}

/* One step of the cell; h (and c for LSTM) are updated in place. */
static void cell(const ref_model *rm, const ref_layer *l, const double *x, double *h, double *c)
{
    int u = l->units, g = l->kind == L_LSTM ? 4 : l->kind == L_GRU ? 3 : 1;
    double zx[64], zh[64];
    const float *bias = l->w[2].data;
    bool split = l->kind == L_GRU && l->reset_after;
    affine(x, l->in_dim, l->w[0].data, bias, g * u, zx);
    affine(h, u, l->w[1].data, split ? bias + g * u : NULL, g * u, zh);
    for (int j = 0; j < u; j++) {
        if (l->kind == L_RNN) {
            h[j] = act(rm, l->act, zx[j] + zh[j]);
        } else if (l->kind == L_LSTM) {
            double i = act(rm, l->ract, zx[j] + zh[j]), f = act(rm, l->ract, zx[u + j] + zh[u + j]);
            double cc = act(rm, l->act, zx[2 * u + j] + zh[2 * u + j]);
            double o = act(rm, l->ract, zx[3 * u + j] + zh[3 * u + j]);
            c[j] = f * c[j] + i * cc;
            zh[3 * u + j] = o; /* h needs the new c of every unit: finish below */
        }
    }
    if (l->kind == L_LSTM)
        for (int j = 0; j < u; j++)
            h[j] = zh[3 * u + j] * act(rm, l->act, c[j]);
    if (l->kind != L_GRU)
        return;
    double hn[32];
    for (int j = 0; j < u; j++) {
        double z = act(rm, l->ract, zx[j] + zh[j]), r = act(rm, l->ract, zx[u + j] + zh[u + j]);
        double rec = zh[2 * u + j];
        if (!split) { /* reset before the recurrent product: (r * h) U_h */
            rec = 0;
            for (int i = 0; i < u; i++)
                rec += act(rm, l->ract, zx[u + i] + zh[u + i]) * h[i] *
                       l->w[1].data[i * g * u + 2 * u + j];
        }
        hn[j] = z * h[j] + (1 - z) * act(rm, l->act, zx[2 * u + j] + (split ? r * rec : rec));
    }
    memcpy(h, hn, sizeof(double) * (size_t)u);
}

/* A masked step keeps the state and repeats the previous output. */
static void recurrent(const ref_model *rm, const ref_layer *l, seq *s)
{
    seq out = *s;
    out.width = l->units;
    for (int b = 0; b < B; b++) {
        double h[32] = {0}, c[32] = {0}, last[32] = {0};
        for (int t = 0; t < s->steps; t++) {
            if (s->mask[b][t]) {
                cell(rm, l, s->v[b][t], h, c);
                memcpy(last, h, sizeof h);
            }
            memcpy(out.v[b][t], last, sizeof(double) * (size_t)l->units);
        }
        if (!l->return_sequences)
            memcpy(out.v[b][0], last, sizeof(double) * (size_t)l->units);
    }
    if (!l->return_sequences)
        out.steps = 1;
    *s = out;
}

static void dense(const ref_model *rm, const ref_layer *l, seq *s)
{
    for (int b = 0; b < B; b++)
        for (int t = 0; t < s->steps; t++) {
            double z[16], sum = 0;
            affine(s->v[b][t], s->width, l->w[0].data, l->w[1].data, l->units, z);
            for (int j = 0; j < l->units; j++)
                sum += exp(z[j]);
            for (int j = 0; j < l->units; j++)
                s->v[b][t][j] = strcmp(l->act, "softmax") == 0 ? exp(z[j]) / sum
                                                               : act(rm, l->act, z[j]);
        }
    s->width = l->units;
}

static void batch_norm(const ref_layer *l, seq *s)
{
    for (int b = 0; b < B; b++)
        for (int t = 0; t < s->steps; t++)
            for (int j = 0; j < s->width; j++)
                s->v[b][t][j] = (s->v[b][t][j] - l->w[2].data[j]) /
                                    sqrt(l->w[3].data[j] + l->epsilon) * l->w[0].data[j] +
                                l->w[1].data[j];
}

static void masking(const ref_layer *l, seq *s)
{
    for (int b = 0; b < B; b++)
        for (int t = 0; t < s->steps; t++) {
            bool keep = false;
            for (int j = 0; j < s->width; j++)
                keep = keep || s->v[b][t][j] != l->mask_value;
            s->mask[b][t] = keep;
        }
}

/* ids -> vectors; with mask_zero, id 0 is masked. */
static void embedding(const ref_layer *l, seq *s)
{
    int d = (int)l->w[0].dims[1];
    for (int b = 0; b < B; b++)
        for (int t = 0; t < s->steps; t++) {
            int id = (int)s->v[b][t][0];
            s->mask[b][t] = !l->mask_zero || id != 0;
            for (int j = 0; j < d; j++)
                s->v[b][t][j] = l->w[0].data[id * d + j];
        }
    s->width = d;
}

/* ZeroPadding1D, Cropping1D, UpSampling1D: output step t copies input
 * step src (zeros for a padding step); the mask is dropped. */
static void resize(const ref_layer *l, seq *s)
{
    seq in = *s;
    s->steps = l->kind == L_PAD    ? in.steps + l->before + l->after
               : l->kind == L_CROP ? in.steps - l->before - l->after
                                   : in.steps * l->size;
    ck_assert_int_le(s->steps, MAX_STEPS);
    for (int b = 0; b < B; b++)
        for (int t = 0; t < s->steps; t++) {
            int src = l->kind == L_PAD    ? t - l->before
                      : l->kind == L_CROP ? t + l->before
                                          : t / l->size;
            s->mask[b][t] = true;
            for (int j = 0; j < s->width; j++)
                s->v[b][t][j] = src >= 0 && src < in.steps ? in.v[b][src][j] : 0;
        }
}

/* keras.backend.relu (tf.keras 2, Keras 2.2.4) and keras.activations.relu
 * (Keras 3), step by step: the negative part, x kept above the threshold
 * (relu without one), clipped to [0, max_value], minus alpha times the
 * negative part; a slope without threshold or maximum is tf.nn.leaky_relu.
 * ThresholdedReLU is x * (x > theta). */
static double keras_relu(const ref_layer *l, double x)
{
    double neg = 0;
    if (l->slope != 0) {
        if (l->max_value < 0 && l->threshold == 0)
            return x > 0 ? x : l->slope * x;
        neg = fmax(-x + l->threshold, 0);
    }
    double y = l->threshold != 0 ? x * (x > l->threshold) : fmax(x, 0);
    if (l->max_value >= 0)
        y = fmin(fmax(y, 0), l->max_value);
    return y - l->slope * neg;
}

static void elementwise(const ref_layer *l, seq *s)
{
    for (int b = 0; b < B; b++)
        for (int t = 0; t < s->steps; t++)
            for (int j = 0; j < s->width; j++) {
                double x = s->v[b][t][j], *y = &s->v[b][t][j];
                if (l->kind == L_ELU)
                    *y = x > 0 ? x : l->alpha * (exp(x) - 1);
                else if (l->kind == L_PRELU) /* relu(x) - alpha relu(-x) */
                    *y = fmax(x, 0) - l->w[0].data[j] * fmax(-x, 0);
                else
                    *y = keras_relu(l, x);
            }
}

static void reference(const ref_model *rm, seq *s)
{
    for (int i = 0; i < rm->n; i++) {
        const ref_layer *l = &rm->l[i];
        switch (l->kind) {
        case L_DENSE:
            dense(rm, l, s);
            break;
        case L_LSTM:
        case L_GRU:
        case L_RNN:
            recurrent(rm, l, s);
            break;
        case L_BN:
            batch_norm(l, s);
            break;
        case L_MASKING:
            masking(l, s);
            break;
        case L_EMBEDDING:
            embedding(l, s);
            break;
        case L_DROPOUT:
        case L_GAUSSIAN_DROPOUT:
        case L_ALPHA_DROPOUT:
        case L_ACTIVITY:
            break;
        case L_PAD:
        case L_CROP:
        case L_UP:
            resize(l, s);
            break;
        case L_RELU:
        case L_LEAKY_RELU:
        case L_THRESHOLDED_RELU:
        case L_ELU:
        case L_PRELU:
            elementwise(l, s);
            break;
        default:
            ck_abort_msg("no reference for layer class %s", l->cls);
        }
    }
}

/* Inputs: a few all-zero steps (masked by Masking) or zero ids. */
static void make_input(const ref_model *rm, seq *s, float *x)
{
    memset(s, 0, sizeof *s);
    s->steps = T;
    s->width = rm->feat ? rm->feat : 1;
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            bool zero = (b == 0 && t == 0) || (b == 1 && t >= 3);
            s->mask[b][t] = true;
            for (int j = 0; j < s->width; j++) {
                double v = rm->feat ? sin(0.7 * (b * T * s->width + t * s->width + j) + 0.3)
                                    : (double)((b * 3 + t * 2) % 9 + 1);
                s->v[b][t][j] = zero ? 0 : v;
                x[(b * T + t) * s->width + j] = (float)s->v[b][t][j];
            }
        }
}

/* ------------------------------------------------- HDF5 as Keras writes it */

static void attr_string(hid_t obj, const char *name, const char *value)
{
    ck_test_write_string_attr(obj, name, value, strlen(value) + 1);
}

/* A name list: h5py's fixed-length 'S' array (no NUL on the longest) or,
 * in the later tf.keras writers, variable-length strings; an empty list is
 * an empty float64 array. */
static void attr_strings(hid_t obj, const char *name, const char *const *items, int n, bool vlen)
{
    hsize_t dims[1] = {(hsize_t)n};
    hid_t s = H5Screate_simple(1, dims, NULL), t, a;
    if (n == 0) {
        a = H5Acreate2(obj, name, H5T_IEEE_F64LE, s, H5P_DEFAULT, H5P_DEFAULT);
        H5Aclose(a);
        H5Sclose(s);
        return;
    }
    size_t width = 1;
    for (int i = 0; i < n; i++)
        width = strlen(items[i]) > width ? strlen(items[i]) : width;
    t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, vlen ? H5T_VARIABLE : width);
    if (!vlen)
        H5Tset_strpad(t, H5T_STR_NULLPAD);
    a = H5Acreate2(obj, name, t, s, H5P_DEFAULT, H5P_DEFAULT);
    char *buf = calloc((size_t)n, width);
    for (int i = 0; !vlen && i < n; i++)
        memcpy(buf + (size_t)i * width, items[i], strlen(items[i]));
    ck_assert_int_ge(H5Awrite(a, t, vlen ? (const void *)items : buf), 0);
    free(buf);
    H5Aclose(a);
    H5Tclose(t);
    H5Sclose(s);
}

/* bfloat16 as Keras 3.1+ stores it: h5py has no such type, so the raw
 * 2-byte values go in an opaque dataset marked dtype="bfloat16". The
 * reference then uses the rounded values. */
static void write_bf16(hid_t loc, const char *path, hid_t space, ref_weight *w, hid_t lcpl)
{
    size_t n = (size_t)w->dims[0] * (size_t)(w->rank == 2 ? w->dims[1] : 1);
    unsigned char *raw = malloc(2 * n);
    for (size_t i = 0; i < n; i++) {
        uint32_t bits;
        memcpy(&bits, &w->data[i], 4);
        bits += 0x7fff + ((bits >> 16) & 1); /* round to nearest even */
        raw[2 * i] = (unsigned char)(bits >> 16);
        raw[2 * i + 1] = (unsigned char)(bits >> 24);
        bits &= 0xffff0000u;
        memcpy(&w->data[i], &bits, 4);
    }
    hid_t t = H5Tcreate(H5T_OPAQUE, 2);
    hid_t d = H5Dcreate2(loc, path, t, space, lcpl, H5P_DEFAULT, H5P_DEFAULT);
    ck_assert_int_ge(H5Dwrite(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, raw), 0);
    hid_t vs = H5Screate(H5S_SCALAR), vt = H5Tcopy(H5T_C_S1);
    H5Tset_size(vt, H5T_VARIABLE);
    H5Tset_cset(vt, H5T_CSET_UTF8);
    hid_t a = H5Acreate2(d, "dtype", vt, vs, H5P_DEFAULT, H5P_DEFAULT);
    const char *bf = "bfloat16";
    ck_assert_int_ge(H5Awrite(a, vt, &bf), 0);
    H5Aclose(a);
    H5Tclose(vt);
    H5Sclose(vs);
    H5Dclose(d);
    H5Tclose(t);
    free(raw);
}

static void write_weight(hid_t loc, const char *path, ref_weight *w, bool bf16)
{
    hsize_t dims[2] = {(hsize_t)w->dims[0], (hsize_t)w->dims[1]};
    hid_t s = H5Screate_simple(w->rank, dims, NULL), lcpl = H5Pcreate(H5P_LINK_CREATE);
    H5Pset_create_intermediate_group(lcpl, 1);
    if (bf16) {
        write_bf16(loc, path, s, w, lcpl);
    } else {
        hid_t d = H5Dcreate2(loc, path, H5T_IEEE_F32LE, s, lcpl, H5P_DEFAULT, H5P_DEFAULT);
        ck_assert_int_ge(H5Dwrite(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, w->data), 0);
        H5Dclose(d);
    }
    H5Pclose(lcpl);
    H5Sclose(s);
}

static hid_t make_group(hid_t loc, const char *path)
{
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
    H5Pset_create_intermediate_group(lcpl, 1);
    hid_t g = H5Gcreate2(loc, path, lcpl, H5P_DEFAULT, H5P_DEFAULT);
    H5Pclose(lcpl);
    ck_assert_int_ge(g, 0);
    return g;
}

/* keras.utils.naming.to_snake_case for the classes used here. */
static const char *snake(const char *cls)
{
    static const char *const pairs[][2] = {{"LSTM", "lstm"},
                                           {"GRU", "gru"},
                                           {"SimpleRNN", "simple_rnn"},
                                           {"Dense", "dense"},
                                           {"Dropout", "dropout"},
                                           {"Masking", "masking"},
                                           {"Embedding", "embedding"},
                                           {"BatchNormalization", "batch_normalization"},
                                           {"GaussianDropout", "gaussian_dropout"},
                                           {"AlphaDropout", "alpha_dropout"},
                                           {"ZeroPadding1D", "zero_padding1d"},
                                           {"Cropping1D", "cropping1d"},
                                           {"UpSampling1D", "up_sampling1d"},
                                           {"ActivityRegularization", "activity_regularization"},
                                           {"ReLU", "re_lu"},
                                           {"LeakyReLU", "leaky_re_lu"},
                                           {"ThresholdedReLU", "thresholded_re_lu"},
                                           {"ELU", "elu"},
                                           {"PReLU", "p_re_lu"}};
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++)
        if (strcmp(pairs[i][0], cls) == 0)
            return pairs[i][1];
    ck_abort_msg("no snake_case name for %s", cls);
    return "";
}

static bool is_rnn(const ref_layer *l)
{
    return l->kind == L_LSTM || l->kind == L_GRU || l->kind == L_RNN;
}

/* ---- legacy .h5: model_weights/<layer>/<weight name> ---- */

/* The weight names each release gives: Keras 2.0-2.3 "lstm_1/kernel:0",
 * tf.keras "lstm/lstm_cell_1/kernel:0" (cells numbered per class in the
 * session), Keras 3.0-3.2 the bare variable name, 3.3+ its path. */
static void weight_name(const char *layout, const ref_layer *l, int cell_no, const char *w,
                        char *out, size_t len)
{
    char cell[64];
    if (cell_no)
        snprintf(cell, sizeof cell, "%s_cell_%d", snake(l->cls), cell_no);
    else
        snprintf(cell, sizeof cell, "%s_cell", snake(l->cls));
    bool rnn = is_rnn(l);
    if (strcmp(layout, "k2") == 0)
        snprintf(out, len, "%s/%s:0", l->name, w);
    else if (strncmp(layout, "tf", 2) == 0)
        snprintf(out, len, rnn ? "%s/%s/%s:0" : "%s/%s:0", l->name, rnn ? cell : w, w);
    else if (strcmp(layout, "k3name") == 0)
        snprintf(out, len, "%s", w);
    else
        snprintf(out, len, rnn ? "%s/%s_cell/%s" : "%s/%s", l->name, rnn ? snake(l->cls) : w, w);
}

static void legacy_layer(hid_t root, const char *layout, ref_layer *l, int cell_no, bool vlen)
{
    char names[MAX_W][160];
    const char *list[MAX_W];
    for (int k = 0; k < l->n_w; k++) {
        weight_name(layout, l, cell_no, l->w[k].name, names[k], sizeof names[k]);
        list[k] = names[k];
    }
    hid_t g = make_group(root, l->name);
    attr_strings(g, "weight_names", list, l->n_w, vlen);
    for (int k = 0; k < l->n_w; k++)
        write_weight(g, names[k], &l->w[k], false);
    H5Gclose(g);
}

static bool is_functional(const ref_model *rm)
{
    const char *cls = str(rm->root, "class_name", "");
    return strcmp(cls, "Model") == 0 || strcmp(cls, "Functional") == 0;
}

static void write_legacy_weights(hid_t root, const char *layout, const compat_case *c,
                                 ref_model *rm)
{
    bool vlen = strcmp(layout, "tf28") == 0, functional = is_functional(rm);
    const char *names[MAX_LAYERS + 1];
    int n = 0, cells[L_OTHER + 1] = {0};
    if (functional) {
        names[n++] = str(get(cJSON_GetArrayItem(layer_list(rm->root), 0), "config"), "name", "?");
        hid_t g = make_group(root, names[0]);
        attr_strings(g, "weight_names", NULL, 0, vlen);
        H5Gclose(g);
    }
    for (int i = 0; i < rm->n; i++) {
        names[n++] = rm->l[i].name;
        legacy_layer(root, layout, &rm->l[i], is_rnn(&rm->l[i]) ? cells[rm->l[i].kind]++ : 0, vlen);
    }
    attr_strings(root, "layer_names", names, n, vlen);
    attr_string(root, "backend", "tensorflow");
    attr_string(root, "keras_version", c->release);
    if (vlen || c->release[0] == '3') {
        hid_t g = make_group(root, "top_level_model_weights");
        attr_strings(g, "weight_names", NULL, 0, vlen);
        H5Gclose(g);
    }
}

/* ---- object paths: <root>/<snake_class>[_N]/[cell/]vars/<i> ---- */

static void vars_group(hid_t file, const char *path, const char *name, bool named)
{
    char vars[272]; /* a path of up to 255 bytes, "/" and "vars" */
    snprintf(vars, sizeof vars, "%s%svars", path, path[0] ? "/" : "");
    hid_t g = make_group(file, vars);
    if (named)
        attr_string(g, "name", name);
    H5Gclose(g);
}

static void object_layer(hid_t file, const char *path, ref_layer *l, bool named, bool bf16)
{
    char cell[256], ds[300];
    snprintf(cell, sizeof cell, "%s/cell", path);
    vars_group(file, path, l->name, named);
    char cell_name[64];
    snprintf(cell_name, sizeof cell_name, "%s_cell", snake(l->cls));
    if (is_rnn(l))
        vars_group(file, cell, cell_name, named);
    for (int k = 0; k < l->n_w; k++) {
        snprintf(ds, sizeof ds, "%s/vars/%d", is_rnn(l) ? cell : path, k);
        write_weight(file, ds, &l->w[k], bf16);
    }
}

/* tf.keras 2.13 visits each layer with weights twice (as
 * layer_with_weights-k and layer-i), advancing the name counter each
 * time: lstm, lstm_2, ...; 2.14 skips the revisit: lstm, lstm_1. */
static void write_object_weights(hid_t file, const char *layout, ref_model *rm)
{
    bool tf213 = strcmp(layout, "tf213") == 0, named = strcmp(layout, "k36") == 0;
    const char *root = strncmp(layout, "tf21", 4) == 0 ? "_layer_checkpoint_dependencies"
                                                       : "layers";
    int count[L_OTHER + 1] = {0};
    vars_group(file, "", str(get(rm->root, "config"), "name", "model"), named);
    if (is_functional(rm))
        vars_group(file, "layers/input_layer", "input_layer", named);
    for (int i = 0; i < rm->n; i++) {
        ref_layer *l = &rm->l[i];
        char path[200];
        int k = count[l->kind];
        if (k)
            snprintf(path, sizeof path, "%s/%s_%d", root, snake(l->cls), k);
        else
            snprintf(path, sizeof path, "%s/%s", root, snake(l->cls));
        count[l->kind] += tf213 && l->n_w ? 2 : 1;
        object_layer(file, path, l, named, strcmp(layout, "bf16") == 0);
    }
}

static void write_h5(const char *path, const compat_case *c, ref_model *rm, const char *config)
{
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    ck_assert_int_ge(f, 0);
    if (strcmp(c->kind, "h5") == 0) {
        attr_string(f, "keras_version", c->release);
        attr_string(f, "backend", "tensorflow");
        attr_string(f, "model_config", config);
        hid_t g = make_group(f, "model_weights");
        write_legacy_weights(g, c->layout, c, rm);
        H5Gclose(g);
    } else {
        write_object_weights(f, c->layout, rm);
    }
    H5Fclose(f);
}

/* A .keras archive: metadata.json, config.json, model.weights.h5, stored. */
static void write_keras(const char *path, const compat_case *c, ref_model *rm, const char *config)
{
    const char *h5 = ck_test_path("model.weights.h5");
    write_h5(h5, c, rm, config);
    FILE *wf = fopen(h5, "rb");
    ck_assert_ptr_nonnull(wf);
    fseek(wf, 0, SEEK_END);
    long n = ftell(wf);
    fclose(wf);
    char *weights = read_text(h5);
    ck_assert_ptr_nonnull(weights);
    char meta[128];
    snprintf(meta, sizeof meta,
             "{\"keras_version\": \"%s\", \"date_saved\": \"2024-06-01@10:00:00\"}", c->release);
    int err = 0;
    zip_t *z = zip_open(path, ZIP_CREATE | ZIP_TRUNCATE, &err);
    ck_assert_ptr_nonnull(z);
    const char *names[3] = {"metadata.json", "config.json", "model.weights.h5"};
    const void *data[3] = {meta, config, weights};
    size_t sizes[3] = {strlen(meta), strlen(config), (size_t)n};
    for (int i = 0; i < 3; i++) {
        zip_source_t *src = zip_source_buffer(z, data[i], sizes[i], 0);
        zip_int64_t idx = zip_file_add(z, names[i], src, ZIP_FL_OVERWRITE);
        ck_assert_int_ge(idx, 0);
        zip_set_file_compression(z, (zip_uint64_t)idx, ZIP_CM_STORE, 0);
    }
    ck_assert_int_eq(zip_close(z), 0);
    free(weights);
}

/* ------------------------------------------------- running a row */

/* model.to_json() adds the writer's version and backend to the config. */
static char *as_to_json(const char *config, const char *release)
{
    cJSON *root = cJSON_Parse(config);
    cJSON_AddStringToObject(root, "keras_version", release);
    cJSON_AddStringToObject(root, "backend", "tensorflow");
    char *text = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return text;
}

static ck_status load_case(const compat_case *c, ref_model *rm, const char *config,
                           const ck_load_options *opts, ck_model **m)
{
    if (strcmp(c->kind, "json") == 0) {
        char *json = as_to_json(config, c->release);
        ck_status st = ck_model_from_json_with(json, m, opts);
        free(json);
        return st;
    }
    const char *path = ck_test_path(strcmp(c->kind, "keras") == 0 ? "model.keras" : "model.h5");
    if (strcmp(c->kind, "keras") == 0)
        write_keras(path, c, rm, config);
    else
        write_h5(path, c, rm, config);
    if (strcmp(c->kind, "weights") != 0)
        return ck_model_load_with(path, m, opts);
    ck_status st = ck_model_from_json_with(config, m, opts);
    return st == CK_OK ? ck_model_load_weights(*m, path) : st;
}

static void check_expect(const compat_case *c, ck_status st, const ck_model *m)
{
    if (strncmp(c->expect, "error:", 6) == 0) {
        ck_assert_msg(st != CK_OK, "%s: loaded, expected an error", c->id);
        char want[160], *save = NULL;
        snprintf(want, sizeof want, "%s", c->expect + 6);
        for (char *part = strtok_r(want, ";", &save); part; part = strtok_r(NULL, ";", &save))
            ck_assert_msg(strstr(ck_last_error(), part), "%s: error '%s' lacks '%s'", c->id,
                          ck_last_error(), part);
        return;
    }
    ck_assert_msg(st == CK_OK, "%s: %s: %s", c->id, ck_status_name(st), ck_last_error());
    if (strncmp(c->expect, "warn:", 5) == 0)
        ck_assert_msg(strstr(ck_model_warnings(m), c->expect + 5), "%s: warnings '%s' lack '%s'",
                      c->id, ck_model_warnings(m), c->expect + 5);
    else
        ck_assert_msg(!ck_model_warnings(m)[0], "%s: unexpected warnings: %s", c->id,
                      ck_model_warnings(m));
}

static void check_numbers(const compat_case *c, const ref_model *rm, ck_model *m)
{
    seq s;
    float x[B * T * 16], y[B * MAX_STEPS * 16];
    make_input(rm, &s, x);
    ck_tensor tx = {.rank = rm->feat ? 3 : 2, .dims = {B, T, rm->feat}, .data = x};
    ck_tensor ty = {.rank = 1, .dims = {B * MAX_STEPS * 16}, .data = y};
    ck_assert_ok(ck_model_predict_tensor(m, &tx, &ty));
    reference(rm, &s);
    int steps = ty.rank == 3 ? (int)ty.dims[1] : 1, width = (int)ty.dims[ty.rank - 1];
    ck_assert_int_eq(steps, s.steps);
    ck_assert_int_eq(width, s.width);
    for (int b = 0; b < B; b++)
        for (int t = 0; t < steps; t++)
            for (int j = 0; j < width; j++)
                ck_assert_msg(fabs(y[(b * steps + t) * width + j] - s.v[b][t][j]) < 2e-5,
                              "%s: output [%d,%d,%d] = %.7f, the Keras equations give %.7f", c->id,
                              b, t, j, (double)y[(b * steps + t) * width + j], s.v[b][t][j]);
}

START_TEST(test_row)
{
    const compat_case *c = &cases[_i];
    char path[200];
    snprintf(path, sizeof path, DATA_DIR "%s", c->config);
    char *config = read_text(path);
    ck_assert_msg(config != NULL, "%s: cannot read %s", c->id, path);
    ref_model rm;
    read_model(&rm, config, c);
    ck_name_map map = {rm.map_from, rm.map_to};
    ck_load_options opts = {.map = &map, .n_map = rm.map_from ? 1 : 0};
    ck_model *m = NULL;
    ck_status st = load_case(c, &rm, config, &opts, &m);
    check_expect(c, st, m);
    if (strcmp(c->check, "numeric") == 0)
        check_numbers(c, &rm, m);
    else if (strncmp(c->check, "style:", 6) == 0)
        ck_assert_int_eq(ck_model_summary_style(m), atoi(c->check + 6));
    ck_model_free(m);
    free_model(&rm);
    free(config);
}
END_TEST

/* The table and the data agree: every row's file exists, ids are unique. */
START_TEST(test_manifest)
{
    ck_assert_int_ge(n_cases, 40);
    for (int i = 0; i < n_cases; i++)
        for (int k = 0; k < i; k++)
            ck_assert_str_ne(cases[i].id, cases[k].id);
}
END_TEST

/* Keras's custom_objects for initializers: a model built from its config
 * runs its initializers, so a mapped custom name decides the weights.
 * Dense(2) over 3 inputs, kernel and bias "ones": y = x0 + x1 + x2 + 1. */
static const char custom_init_json[] =
    "{\"class_name\": \"Sequential\", \"keras_version\": \"2.0.9\", \"config\": [{\"class_name\": "
    "\"Dense\", \"config\": {\"name\": \"dense_1\", \"units\": 2, \"batch_input_shape\": [null, 3], "
    "\"activation\": \"linear\", \"kernel_initializer\": \"weight_variable\", "
    "\"bias_initializer\": \"bias_variable\"}}]}";

static void predict_row(ck_model *m, float y[2])
{
    float x[3] = {0.5f, -2, 4};
    ck_tensor tx = {.rank = 2, .dims = {1, 3}, .data = x},
              ty = {.rank = 2, .dims = {1, 2}, .data = y};
    ck_assert_ok(ck_model_predict_tensor(m, &tx, &ty));
}

START_TEST(test_map_initializer_from_config)
{
    ck_name_map map[2] = {{"weight_variable", "ones"}, {"bias_variable", "ones"}};
    ck_model *m = NULL;
    float y[2];
    ck_assert_ok(ck_model_from_json(custom_init_json, &m, .map = map, .n_map = 2));
    ck_assert_str_eq(ck_model_warnings(m), "");
    predict_row(m, y);
    ck_assert_float_eq(y[0], 3.5f);
    ck_assert_float_eq(y[1], 3.5f);
    ck_model_free(m);
    /* Unmapped: the defaults (Glorot uniform, zeros) with a warning. */
    ck_assert_ok(ck_model_from_json(custom_init_json, &m));
    ck_assert_ptr_nonnull(strstr(ck_model_warnings(m), "'weight_variable'"));
    predict_row(m, y);
    ck_assert(y[0] != 3.5f || y[1] != 3.5f);
    ck_model_free(m);
    /* The same through ck_model_load_with on the .json file, to zeros. */
    const char *path = ck_test_path("custom.json");
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(custom_init_json, f);
    fclose(f);
    map[0].to = "zeros";
    map[1].to = "zeros";
    ck_assert_ok(ck_model_load(path, &m, .map = map, .n_map = 2, .format = CK_FORMAT_JSON));
    predict_row(m, y);
    ck_assert_float_eq(y[0], 0.0f);
    ck_assert_float_eq(y[1], 0.0f);
    ck_model_free(m);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("keras_compat");
    TCase *tc = tcase_create("rows");
    tcase_set_timeout(tc, 60);
    tcase_add_checked_fixture(tc, ck_test_scratch_fixture, ck_test_remove_dir);
    tcase_add_test(tc, test_manifest);
    tcase_add_test(tc, test_map_initializer_from_config);
    tcase_add_loop_test(tc, test_row, 0, n_cases);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    if (!load_cases()) {
        fprintf(stderr, "cannot read " DATA_DIR "cases.tsv (run from the project root)\n");
        return 1;
    }
    return ck_test_run(suite());
}
