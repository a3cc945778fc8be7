/* File I/O compatibility: Keras 1 per-gate weight files, Keras 3 .keras
 * archives written by ckeras, the Keras 2.9+ top_level_model_weights group,
 * int64 optimizer iterations and the refusal of non-finite weights. */
#include "ck_test.h"

#include "ck_internal.h"
#include "ck_io.h"

#include <string.h>
#include <unistd.h>
#include <zip.h>


static const float *sample_x(void)
{
    static float x[2 * 4 * 3];
    for (int i = 0; i < 24; i++)
        x[i] = (float)((i * 5 % 13) - 6) / 4.0f;
    return x;
}

static size_t output_size(ck_model *m)
{
    int rank;
    int64_t dims[CK_MAX_RANK];
    ck_assert_ok(ck_model_output_shape(m, &rank, dims));
    size_t n = 2;
    for (int i = 0; i < rank; i++)
        n *= (size_t)dims[i];
    return n;
}

static void assert_same_model(ck_model *a, ck_model *b)
{
    ck_assert_uint_eq(a->n_params, b->n_params);
    ck_assert_int_eq(memcmp(a->params, b->params, a->n_params * sizeof(float)), 0);
    size_t n = output_size(a);
    float *ya = malloc(n * sizeof *ya), *yb = malloc(n * sizeof *yb);
    ck_assert_ok(ck_model_predict(a, sample_x(), 2, ya));
    ck_assert_ok(ck_model_predict(b, sample_x(), 2, yb));
    ck_assert_int_eq(memcmp(ya, yb, n * sizeof *ya), 0);
    free(ya);
    free(yb);
}

/* Distinct values everywhere, so a misplaced gate block cannot go unseen. */
static void fill_params(ck_model *m)
{
    for (size_t k = 0; k < m->n_params; k++)
        m->params[k] = (float)sin((double)k * 0.7 + 0.3) * 0.6f;
}

/* ---------------------------------------------------------------- Keras 1 */

static void write_array(hid_t g, const char *name, int rank, const hsize_t *dims, const float *data)
{
    hid_t s = H5Screate_simple(rank, dims, NULL);
    hid_t d = H5Dcreate2(g, name, H5T_IEEE_F32LE, s, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    ck_assert_int_ge(H5Dwrite(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, data), 0);
    H5Dclose(d);
    H5Sclose(s);
}

typedef struct k1_names {
    char items[48][192];
    const char *ptrs[48];
    int n;
} k1_names;

static const char *k1_add(k1_names *nm, const char *prefix, const char *suffix)
{
    snprintf(nm->items[nm->n], sizeof nm->items[0], "%s_%s", prefix, suffix);
    nm->ptrs[nm->n] = nm->items[nm->n];
    return nm->items[nm->n++];
}

/* One fused triplet (kernel, recurrent_kernel, bias) written the Keras 1
 * way: per gate, in the file order given, each gate's columns taken from
 * its block in the fused order. */
static void write_gates(hid_t g, const ck_weight *w, const char *prefix, const char *file_order,
                        const char *fused_order, k1_names *nm)
{
    int gates = (int)strlen(file_order);
    int64_t u = w[1].dims[0];
    float *piece = malloc((size_t)(w[0].dims[0] > u ? w[0].dims[0] : u) * (size_t)u *
                          sizeof *piece);
    for (int j = 0; j < gates; j++) {
        int64_t block = strchr(fused_order, file_order[j]) - fused_order;
        for (int t = 0; t < 3; t++) {
            int64_t rows = t == 2 ? 1 : w[t].dims[0];
            for (int64_t r = 0; r < rows; r++)
                for (int64_t c = 0; c < u; c++)
                    piece[r * u + c] = w[t].data[r * gates * u + block * u + c];
            char suffix[8];
            snprintf(suffix, sizeof suffix, "%c_%c", "WUb"[t], file_order[j]);
            const char *name = k1_add(nm, prefix, suffix);
            hsize_t dims[2] = {(hsize_t)rows, (hsize_t)u};
            write_array(g, name, t == 2 ? 1 : 2, t == 2 ? dims + 1 : dims, piece);
        }
    }
    free(piece);
}

static void write_plain(hid_t g, const ck_layer *l, const char *prefix, k1_names *nm)
{
    static const char *k1_names_of[] = {"W", "b", "gamma", "beta"};
    for (int k = 0; k < l->n_weights; k++) {
        const ck_weight *w = &l->weights[k];
        hsize_t dims[4];
        for (int i = 0; i < w->rank; i++)
            dims[i] = (hsize_t)w->dims[i];
        write_array(g, k1_add(nm, prefix, k1_names_of[k]), w->rank, dims, w->data);
    }
}

/* A Keras 1.2 save_weights file of `ref`: layer_names, per-layer
 * weight_names, no keras_version and no backend attribute. */
static void write_keras1(const char *path, const ck_model *ref)
{
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    char names[16][32];
    const char *ptrs[16];
    for (int i = 0; i < ref->n_layers; i++) {
        snprintf(names[i], sizeof names[i], "%s_%d", ref->layers[i]->ops->base_name, i + 1);
        ptrs[i] = names[i];
    }
    ck_assert_ok(ck_h5_write_strings(f, "layer_names", ptrs, ref->n_layers));
    for (int i = 0; i < ref->n_layers; i++) {
        const ck_layer *l = ref->layers[i];
        const char *cls = l->ops->class_name;
        hid_t g = H5Gcreate2(f, names[i], H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        k1_names nm = {.n = 0};
        for (int k = 0; k + 2 < l->n_weights && strcmp(cls, "Dense") != 0; k += 3) {
            char prefix[48];
            snprintf(prefix, sizeof prefix, "%s%s", k ? "backward_" : "", names[i]);
            bool lstm = l->weights[k + 1].dims[1] == 4 * l->weights[k + 1].dims[0];
            write_gates(g, &l->weights[k], prefix, lstm ? "icfo" : "zrh", lstm ? "ifco" : "zrh",
                        &nm);
        }
        if (nm.n == 0)
            write_plain(g, l, names[i], &nm);
        ck_assert_ok(ck_h5_write_strings(g, "weight_names", nm.ptrs, nm.n));
        H5Gclose(g);
    }
    H5Fclose(f);
}

static ck_model *keras1_model(uint64_t seed)
{
    ck_model *m = ck_sequential(.seed = seed);
    ck_assert_ok(ck_model_add(m, ck_input(4, 3)));
    ck_assert_ok(ck_model_add(m, ck_lstm(.units = 5, .return_sequences = true)));
    ck_assert_ok(ck_model_add(m, ck_dropout(.rate = 0.3)));
    ck_assert_ok(
        ck_model_add(m, ck_gru(.units = 3, .no_reset_after = true, .return_sequences = true)));
    ck_assert_ok(ck_model_add(m, ck_bidirectional(ck_lstm(.units = 2))));
    ck_assert_ok(ck_model_add(m, ck_dense(.units = 2, .activation = "softmax")));
    ck_assert_ok(ck_model_build(m));
    return m;
}

START_TEST(keras1_per_gate_weights)
{
    ck_model *ref = keras1_model(1), *m = keras1_model(2);
    fill_params(ref);
    const char *path = ck_test_path("keras1.h5");
    write_keras1(path, ref);
    ck_assert_ok(ck_model_load_weights(m, path));
    assert_same_model(ref, m);
    /* Spot check by hand: the LSTM kernel's forget block (columns 5..9)
     * comes from the file's third gate, W_f. */
    float *wf = NULL;
    int rank;
    long long dims[6];
    ck_assert_uint_eq(ck_test_read_h5(path, "lstm_1/lstm_1_W_f", &wf, &rank, dims), 15);
    ck_assert_int_eq(rank, 2);
    ck_assert_float_eq(m->layers[0]->weights[0].data[2 * 20 + 5 + 4], wf[2 * 5 + 4]);
    free(wf);
    /* The same arrays read by name. */
    ck_model *by_name = keras1_model(3);
    for (int i = 0; i < by_name->n_layers; i++)
        snprintf(by_name->layers[i]->name, CK_NAME_MAX, "%s_%d", by_name->layers[i]->ops->base_name,
                 i + 1);
    ck_assert_ok(ck_model_load_weights(by_name, path, .by_name = true));
    ck_assert_int_eq(memcmp(by_name->params, ref->params, ref->n_params * sizeof(float)), 0);
    ck_model_free(by_name);
    ck_model_free(ref);
    ck_model_free(m);
}
END_TEST

/* Per-gate arrays are only read as such from Keras 1 files, and the
 * usual checks still apply to them. */
START_TEST(keras1_mismatches)
{
    ck_model *ref = keras1_model(4), *m = keras1_model(5);
    const char *path = ck_test_path("keras1_bad.h5");
    write_keras1(path, ref);
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    ck_assert_ok(ck_h5_write_string(f, "keras_version", "2.2.4"));
    H5Fclose(f);
    float *before = malloc(m->n_params * sizeof(float));
    memcpy(before, m->params, m->n_params * sizeof(float));
    ck_assert_fails(ck_model_load_weights(m, path), CK_ERR_SHAPE);
    ck_assert_ptr_nonnull(strstr(ck_last_error(), "12"));

    /* A GRU with reset_after=True has no Keras 1 form. */
    ck_model *ra = ck_sequential(.seed = 6);
    ck_assert_ok(ck_model_add(ra, ck_input(4, 3)));
    ck_assert_ok(ck_model_add(ra, ck_lstm(.units = 5, .return_sequences = true)));
    ck_assert_ok(ck_model_add(ra, ck_dropout(.rate = 0.3)));
    ck_assert_ok(ck_model_add(ra, ck_gru(.units = 3, .return_sequences = true)));
    ck_assert_ok(ck_model_add(ra, ck_bidirectional(ck_lstm(.units = 2))));
    ck_assert_ok(ck_model_add(ra, ck_dense(.units = 2, .activation = "softmax")));
    write_keras1(path, ref);
    ck_assert_fails(ck_model_load_weights(ra, path), CK_ERR_SHAPE);
    ck_assert_ptr_nonnull(strstr(ck_last_error(), "gru"));

    /* A wrong gate shape names the per-gate array. */
    ck_model *wide = ck_sequential(.seed = 7);
    ck_assert_ok(ck_model_add(wide, ck_input(4, 3)));
    ck_assert_ok(ck_model_add(wide, ck_lstm(.units = 6, .return_sequences = true)));
    ck_assert_ok(ck_model_add(wide, ck_dropout(.rate = 0.3)));
    ck_assert_ok(
        ck_model_add(wide, ck_gru(.units = 3, .no_reset_after = true, .return_sequences = true)));
    ck_assert_ok(ck_model_add(wide, ck_bidirectional(ck_lstm(.units = 2))));
    ck_assert_ok(ck_model_add(wide, ck_dense(.units = 2, .activation = "softmax")));
    ck_assert_fails(ck_model_load_weights(wide, path), CK_ERR_SHAPE);
    ck_assert_msg(strstr(ck_last_error(), "W_i") && strstr(ck_last_error(), "(3, 6)") &&
                      strstr(ck_last_error(), "(3, 5)"),
                  "%s", ck_last_error());
    ck_assert_int_eq(memcmp(before, m->params, m->n_params * sizeof(float)), 0);
    free(before);
    ck_model_free(wide);
    ck_model_free(ra);
    ck_model_free(ref);
    ck_model_free(m);
}
END_TEST

/* ---------------------------------------------------------------- CuDNN */

/* Keras's LSTM -> CuDNNLSTM direction (_convert_rnn_weights with
 * from_cudnn=False): per gate block, kernel.T reshaped row-major to the
 * block's shape; recurrent blocks transposed; the bias split into the
 * input and recurrent halves (here b/2 each, exact in float). */
static void to_cudnn(const ck_weight *w, int t, int gates, float *out)
{
    if (t == 2 && w->rank == 2) { /* GRU: the (2, 3u) rows, flattened */
        memcpy(out, w->data, w->size * sizeof *out);
        return;
    }
    if (t == 2) {
        for (size_t i = 0; i < w->size; i++)
            out[i] = out[w->size + i] = w->data[i] / 2;
        return;
    }
    int64_t rows = w->dims[0], cols = w->dims[1], u = cols / gates;
    float *t_block = malloc((size_t)(rows * u) * sizeof *t_block);
    for (int j = 0; j < gates; j++) {
        for (int64_t b = 0; b < u; b++)
            for (int64_t a = 0; a < rows; a++)
                t_block[b * rows + a] = w->data[a * cols + j * u + b];
        for (int64_t i = 0; i < rows * u; i++)
            out[(i / u) * cols + j * u + i % u] = t_block[i];
    }
    free(t_block);
}

/* Weights only, or (config given) the whole model, weights in
 * model_weights as Keras 2 saves them. */
static void write_cudnn(const char *path, const ck_model *ref, const char *config)
{
    hid_t file = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), f = file;
    if (config) {
        ck_assert_ok(ck_h5_write_string(file, "model_config", config));
        ck_assert_ok(ck_h5_write_string(file, "keras_version", "2.2.4"));
        f = H5Gcreate2(file, "model_weights", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    }
    const char *names[8];
    for (int i = 0; i < ref->n_layers; i++)
        names[i] = ref->layers[i]->name;
    ck_assert_ok(ck_h5_write_strings(f, "layer_names", names, ref->n_layers));
    ck_assert_ok(ck_h5_write_string(f, "keras_version", "2.2.4"));
    for (int i = 0; i < ref->n_layers; i++) {
        const ck_layer *l = ref->layers[i];
        bool rnn = strcmp(l->ops->class_name, "Dense") != 0;
        hid_t g = H5Gcreate2(f, l->name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        k1_names nm = {.n = 0};
        for (int k = 0; k < l->n_weights; k++) {
            const ck_weight *w = &l->weights[k];
            const ck_weight *rec = &l->weights[k - k % 3 + 1];
            int gates = rnn ? (int)(rec->dims[1] / rec->dims[0]) : 0;
            float *out = malloc(2 * w->size * sizeof *out);
            hsize_t dims[2] = {(hsize_t)w->dims[0], (hsize_t)w->dims[1]};
            int rank = w->rank;
            if (rnn && k % 3 == 2) {
                dims[0] = 2 * (hsize_t)(w->rank == 1 ? w->size : w->size / 2);
                rank = 1;
            }
            if (rnn)
                to_cudnn(w, k % 3, gates, out);
            else
                memcpy(out, w->data, w->size * sizeof *out);
            char suffix[16];
            snprintf(suffix, sizeof suffix, "%d:0", k);
            write_array(g, k1_add(&nm, l->name, suffix), rank, dims, out);
            free(out);
        }
        ck_assert_ok(ck_h5_write_strings(g, "weight_names", nm.ptrs, nm.n));
        H5Gclose(g);
    }
    if (f != file)
        H5Gclose(f);
    H5Fclose(file);
}

static ck_model *cudnn_model(uint64_t seed)
{
    ck_model *m = ck_sequential(.seed = seed);
    ck_assert_ok(ck_model_add(m, ck_input(4, 3)));
    ck_assert_ok(ck_model_add(m, ck_lstm(.units = 5, .return_sequences = true)));
    ck_assert_ok(ck_model_add(m, ck_gru(.units = 3, .return_sequences = true)));
    ck_assert_ok(ck_model_add(m, ck_bidirectional(ck_lstm(.units = 2))));
    ck_assert_ok(ck_model_add(m, ck_dense(.units = 2)));
    ck_assert_ok(ck_model_build(m));
    return m;
}

START_TEST(cudnn_weights)
{
    ck_model *ref = cudnn_model(40), *m = cudnn_model(41);
    fill_params(ref);
    const char *path = ck_test_path("cudnn.h5");
    write_cudnn(path, ref, NULL);
    ck_assert_ok(ck_model_load_weights(m, path));
    assert_same_model(ref, m);
    /* By hand: LSTM kernel (3, 20), gate block 1 (f), row 2, column 1 is
     * the block's flat element 1*3 + 2 = 5 read row-major from (3, 5),
     * i.e. stored row 1, column 5 + 0. */
    float *k = NULL;
    int rank;
    long long dims[6];
    ck_assert_uint_eq(ck_test_read_h5(path, "lstm/lstm_0:0", &k, &rank, dims), 60);
    ck_assert_float_eq(m->layers[0]->weights[0].data[2 * 20 + 5 + 1], k[1 * 20 + 5 + 0]);
    free(k);
    /* A GRU(reset_after=False) has no CuDNN form: the bias shape is refused. */
    ck_model *old = ck_sequential(.seed = 42);
    ck_assert_ok(ck_model_add(old, ck_input(4, 3)));
    ck_assert_ok(ck_model_add(old, ck_lstm(.units = 5, .return_sequences = true)));
    ck_assert_ok(
        ck_model_add(old, ck_gru(.units = 3, .return_sequences = true, .no_reset_after = true)));
    ck_assert_ok(ck_model_add(old, ck_bidirectional(ck_lstm(.units = 2))));
    ck_assert_ok(ck_model_add(old, ck_dense(.units = 2)));
    ck_assert_fails(ck_model_load_weights(old, path), CK_ERR_SHAPE);
    ck_assert_msg(strstr(ck_last_error(), "gru") && strstr(ck_last_error(), "(18,)"), "%s",
                  ck_last_error());
    ck_model_free(old);
    ck_model_free(ref);
    ck_model_free(m);
}
END_TEST

/* cudnn_model as Keras 2.2.4 writes it with CuDNNLSTM and CuDNNGRU
 * (keras/layers/cudnn_recurrent.py get_config). */
#define CUDNN_COMMON                                                                                \
    "\"return_state\": false, \"go_backwards\": false, \"stateful\": false, "                       \
    "\"kernel_initializer\": {\"class_name\": \"VarianceScaling\", \"config\": {\"scale\": 1.0, "   \
    "\"mode\": \"fan_avg\", \"distribution\": \"uniform\", \"seed\": null}}, "                      \
    "\"recurrent_initializer\": {\"class_name\": \"Orthogonal\", \"config\": {\"gain\": 1.0, "      \
    "\"seed\": null}}, \"bias_initializer\": {\"class_name\": \"Zeros\", \"config\": {}}, "         \
    "\"kernel_regularizer\": null, \"recurrent_regularizer\": null, \"bias_regularizer\": null, "   \
    "\"activity_regularizer\": null, \"kernel_constraint\": null, \"recurrent_constraint\": null, " \
    "\"bias_constraint\": null"
static const char cudnn_config[] =
    "{\"class_name\": \"Sequential\", \"config\": {\"name\": \"sequential_1\", \"layers\": ["
    "{\"class_name\": \"CuDNNLSTM\", \"config\": {\"name\": \"cu_dnnlstm_1\", \"trainable\": true, "
    "\"batch_input_shape\": [null, 4, 3], \"dtype\": \"float32\", \"return_sequences\": true, "
    "\"units\": 5, \"unit_forget_bias\": true, " CUDNN_COMMON "}},"
    "{\"class_name\": \"CuDNNGRU\", \"config\": {\"name\": \"cu_dnngru_1\", \"trainable\": true, "
    "\"return_sequences\": true, \"units\": 3, " CUDNN_COMMON "}},"
    "{\"class_name\": \"Bidirectional\", \"config\": {\"name\": \"bidirectional_1\", "
    "\"trainable\": true, \"layer\": {\"class_name\": \"CuDNNLSTM\", \"config\": {\"name\": "
    "\"cu_dnnlstm_2\", \"trainable\": true, \"return_sequences\": false, \"units\": 2, "
    "\"unit_forget_bias\": true, " CUDNN_COMMON "}}, \"merge_mode\": \"concat\"}},"
    "{\"class_name\": \"Dense\", \"config\": {\"name\": \"dense_1\", \"trainable\": true, "
    "\"units\": 2, \"activation\": \"linear\", \"use_bias\": true}}]}}";

/* A whole CuDNN model: the LSTM and GRU cuDNN computes, weights converted
 * as for the weights-only file above. */
START_TEST(cudnn_whole_model)
{
    ck_model *ref = cudnn_model(43), *m = NULL;
    fill_params(ref);
    const char *path = ck_test_path("cudnn_model.h5");
    write_cudnn(path, ref, cudnn_config);
    ck_assert_ok(ck_model_load(path, &m));
    assert_same_model(ref, m);
    char *json = ck_model_to_json(m);
    ck_assert_msg(strstr(json, "\"class_name\":\"LSTM\"") && strstr(json, "\"reset_after\":true") &&
                      !strstr(json, "CuDNN"),
                  "%s", json);
    ck_free(json);
    ck_model_free(m);
    ck_model_free(ref);
}
END_TEST

/* ---------------------------------------------------------------- Theano */

static ck_model *conv_model(uint64_t seed)
{
    ck_model *m = ck_sequential(.seed = seed);
    ck_assert_ok(ck_model_add(m, ck_input(4, 3)));
    ck_assert_ok(ck_model_add(m, ck_conv1d(2, 3, .padding = "same")));
    ck_assert_ok(ck_model_add(m, ck_dense(.units = 2)));
    return m;
}

static void set_backend(const char *path, const char *group, const char *backend)
{
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    ck_assert_int_ge(f, 0);
    hid_t g = H5Gopen2(f, group, H5P_DEFAULT);
    if (H5Aexists(g, "backend") > 0)
        H5Adelete(g, "backend");
    ck_test_write_string_attr(g, "backend", backend, strlen(backend));
    H5Gclose(g);
    H5Fclose(f);
}

/* The conv kernel (3 taps, 3 in, 2 out) comes back with its taps reversed;
 * everything else as written. */
static void assert_taps_reversed(const ck_model *ref, const ck_model *m)
{
    const ck_weight *want = &ref->layers[0]->weights[0], *got = &m->layers[0]->weights[0];
    for (int tap = 0; tap < 3; tap++)
        for (int e = 0; e < 6; e++)
            ck_assert_float_eq(got->data[tap * 6 + e], want->data[(2 - tap) * 6 + e]);
    size_t kernel = want->size;
    ck_assert_int_eq(memcmp(m->params + kernel, ref->params + kernel,
                            (m->n_params - kernel) * sizeof(float)),
                     0);
}

/* A Keras 2 file written on Theano holds convolution kernels: Keras 2 flips
 * them on load (saving.py, _need_convert_kernel), so does ckeras. The
 * attribute is where Keras writes it: the weights group. */
START_TEST(theano_conv_kernels_flipped)
{
    ck_model *ref = conv_model(50), *m = conv_model(51);
    fill_params(ref);
    const char *weights = ck_test_path("theano.h5"), *whole = ck_test_path("theano_model.h5");
    ck_assert_ok(ck_model_save_weights(ref, weights));
    set_backend(weights, "/", "theano");
    ck_assert_ok(ck_model_load_weights(m, weights));
    assert_taps_reversed(ref, m);
    set_backend(weights, "/", "tensorflow");
    ck_assert_ok(ck_model_load_weights(m, weights));
    assert_same_model(ref, m);
    ck_assert_ok(ck_model_save(ref, whole));
    set_backend(whole, "/model_weights", "theano");
    ck_model *loaded = NULL;
    ck_assert_ok(ck_model_load(whole, &loaded));
    assert_taps_reversed(ref, loaded);
    ck_model_free(loaded);
    ck_model_free(ref);
    ck_model_free(m);
}
END_TEST

/* ---------------------------------------------------------------- .keras */

static char *zip_member(const char *path, const char *member)
{
    int err;
    zip_t *za = zip_open(path, ZIP_RDONLY, &err);
    ck_assert_ptr_nonnull(za);
    zip_stat_t st;
    ck_assert_int_eq(zip_stat(za, member, 0, &st), 0);
    ck_assert_int_eq(st.comp_method, ZIP_CM_STORE);
    char *buf = calloc(st.size + 1, 1);
    zip_file_t *zf = zip_fopen(za, member, 0);
    ck_assert_int_eq(zip_fread(zf, buf, st.size), (zip_int64_t)st.size);
    zip_fclose(zf);
    zip_discard(za);
    return buf;
}

static ck_model *flagship_like(uint64_t seed, ck_keras_semantics sem)
{
    ck_model *m = ck_sequential(.name = "flag", .seed = seed, .semantics = sem);
    ck_assert_ok(ck_model_add(m, ck_input(4, 3)));
    ck_assert_ok(ck_model_add(m, ck_lstm(.units = 6, .activation = "relu", .return_sequences = true,
                                         .recurrent_activation = "hard_sigmoid")));
    ck_assert_ok(ck_model_add(m, ck_lstm(.units = 4, .activation = "relu")));
    ck_assert_ok(ck_model_add(m, ck_dense(.units = 5, .activation = "relu")));
    ck_assert_ok(ck_model_add(m, ck_dropout(.rate = 0.2)));
    ck_assert_ok(ck_model_add(m, ck_dense(.units = 3, .activation = "softmax")));
    ck_assert_ok(ck_model_build(m));
    return m;
}

START_TEST(keras_archive_round_trip)
{
    for (int k = 0; k < 2; k++) {
        ck_keras_semantics sem = k ? CK_KERAS2 : CK_KERAS3;
        ck_model *a = flagship_like(10 + (uint64_t)k, sem), *b = NULL;
        const char *path = ck_test_path("flag.keras");
        ck_assert_ok(ck_model_save(a, path));
        ck_assert(ck_is_zip_file(path));
        ck_assert_ok(ck_model_load(path, &b));
        ck_assert_str_eq(ck_model_name(b), "flag");
        ck_assert_int_eq(b->semantics, sem);
        assert_same_model(a, b);

        char *meta = zip_member(path, "metadata.json");
        cJSON *mj = cJSON_Parse(meta);
        ck_assert_str_eq(cJSON_GetObjectItem(mj, "keras_version")->valuestring,
                         k ? CK_IO_KERAS2_VERSION : CK_IO_KERAS3_VERSION);
        const char *date = cJSON_GetObjectItem(mj, "date_saved")->valuestring;
        ck_assert_uint_eq(strlen(date), 19);
        ck_assert_int_eq(date[10], '@');
        cJSON_Delete(mj);
        free(meta);
        ck_model_free(a);
        ck_model_free(b);
    }
}
END_TEST

static const cJSON *item(const cJSON *obj, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    ck_assert_msg(v != NULL, "missing key %s", key);
    return v;
}

/* config.json in the shape Keras 3 writes (and its from_config accepts). */
START_TEST(keras_archive_config)
{
    ck_model *a = flagship_like(12, CK_KERAS3);
    ck_assert_ok(ck_model_compile(a, .optimizer = {.name = "adam"},
                                  .loss = "categorical_crossentropy", .metrics = {"accuracy"}));
    const char *path = ck_test_path("cfg.keras");
    ck_assert_ok(ck_model_save(a, path));
    char *text = zip_member(path, "config.json");
    cJSON *root = cJSON_Parse(text);
    ck_assert_str_eq(item(root, "module")->valuestring, "keras");
    ck_assert_str_eq(item(root, "class_name")->valuestring, "Sequential");
    ck_assert(cJSON_IsNull(item(root, "registered_name")));
    ck_assert_int_eq(cJSON_GetArraySize(item(item(root, "build_config"), "input_shape")), 3);
    const cJSON *layers = item(item(root, "config"), "layers");
    ck_assert_int_eq(cJSON_GetArraySize(layers), 6);
    const cJSON *input = cJSON_GetArrayItem(layers, 0), *icfg = item(input, "config");
    ck_assert_str_eq(item(input, "module")->valuestring, "keras.layers");
    ck_assert_int_eq(cJSON_GetArraySize(item(icfg, "batch_shape")), 3);
    ck_assert_ptr_null(cJSON_GetObjectItem(icfg, "batch_input_shape"));
    ck_assert_ptr_null(cJSON_GetObjectItem(icfg, "ragged"));
    const cJSON *lstm = cJSON_GetArrayItem(layers, 1), *lcfg = item(lstm, "config");
    ck_assert_str_eq(item(lstm, "class_name")->valuestring, "LSTM");
    ck_assert_str_eq(item(item(lcfg, "kernel_initializer"), "module")->valuestring,
                     "keras.initializers");
    const cJSON *shape = item(item(lstm, "build_config"), "input_shape");
    ck_assert(cJSON_IsNull(cJSON_GetArrayItem(shape, 0)));
    ck_assert_int_eq(cJSON_GetArrayItem(shape, 2)->valueint, 3);
    const cJSON *cc = item(root, "compile_config"), *opt = item(cc, "optimizer");
    ck_assert_str_eq(item(opt, "module")->valuestring, "keras.optimizers");
    ck_assert_str_eq(item(opt, "class_name")->valuestring, "Adam");
    ck_assert_ptr_null(cJSON_GetObjectItem(item(opt, "config"), "decay"));
    ck_assert_str_eq(item(cc, "loss")->valuestring, "categorical_crossentropy");
    cJSON_Delete(root);
    free(text);

    ck_model *b = NULL;
    ck_assert_ok(ck_model_load(path, &b));
    ck_assert_ptr_nonnull(b->train);
    assert_same_model(a, b);
    ck_model_free(a);
    ck_model_free(b);
}
END_TEST

START_TEST(keras_archive_is_atomic)
{
    ck_model *a = flagship_like(13, CK_KERAS3), *b = flagship_like(14, CK_KERAS3), *back = NULL;
    const char *path = ck_test_path("atomic.keras");
    ck_assert_ok(ck_model_save(a, path));
    ck_io_debug_fail_write_after(2);
    ck_assert_fails(ck_model_save(b, path), CK_ERR_IO);
    ck_io_debug_fail_write_after(0);
    ck_assert_ok(ck_model_load(path, &back));
    assert_same_model(a, back);
    ck_model_free(back);
    ck_assert_int_eq(ck_test_count_temp_files(), 0);
    ck_model_free(a);
    ck_model_free(b);
}
END_TEST

/* Every allocation failing in turn gives CK_ERR_MEMORY, no leak (ASan)
 * and no temporary file, for .keras saves and loads and Keras 1 reads. */
START_TEST(allocation_failures)
{
    ck_model *a = flagship_like(15, CK_KERAS3), *k1 = keras1_model(16);
    const char *path = ck_test_path("alloc.keras"), *k1_path = ck_test_path("alloc_k1.h5");
    const char *src = ck_test_path("alloc_src.keras");
    write_keras1(k1_path, k1);
    ck_assert_ok(ck_model_save(a, src));
    int done = 0;
    for (long n = 1; done != 7; n++) {
        ck_model *m = NULL;
        ck_status st[3];
        ck_debug_fail_alloc_after(n);
        st[0] = done & 1 ? CK_OK : ck_model_save(a, path);
        ck_debug_fail_alloc_after(n);
        st[1] = done & 2 ? CK_OK : ck_model_load(src, &m);
        ck_debug_fail_alloc_after(n);
        st[2] = done & 4 ? CK_OK : ck_model_load_weights(k1, k1_path);
        ck_debug_fail_alloc_after(0);
        for (int i = 0; i < 3; i++) {
            ck_assert_msg(st[i] == CK_OK || st[i] == CK_ERR_MEMORY,
                          "step %d: %s, allocation %ld: %s", i, ck_status_name(st[i]), n,
                          ck_last_error());
            done |= st[i] == CK_OK ? 1 << i : 0;
        }
        ck_assert(st[1] == CK_OK || m == NULL);
        ck_model_free(m);
        ck_assert_int_lt(n, 100000);
    }
    ck_assert_int_eq(ck_test_count_temp_files(), 0);
    ck_model_free(a);
    ck_model_free(k1);
}
END_TEST

/* ---------------------------------------------------------------- Keras 2.9+ details */

static H5T_class_t dataset_class(hid_t f, const char *path, size_t *size)
{
    hid_t d = H5Dopen2(f, path, H5P_DEFAULT);
    ck_assert_int_ge(d, 0);
    hid_t t = H5Dget_type(d);
    H5T_class_t c = H5Tget_class(t);
    *size = H5Tget_size(t);
    H5Tclose(t);
    H5Dclose(d);
    return c;
}

static ck_model *compiled_trained(uint64_t seed)
{
    ck_model *m = ck_sequential(.seed = seed);
    ck_assert_ok(ck_model_add(m, ck_input(2)));
    ck_assert_ok(ck_model_add(m, ck_dense(.units = 2)));
    ck_assert_ok(ck_model_compile(m, .optimizer = {.name = "adam"}, .loss = "mse"));
    float xs[4] = {0.5f, -1.0f, 1.5f, 0.25f}, ys[4] = {1, 0, 0, 1};
    ck_tensor x = {.rank = 2, .dims = {2, 2}, .data = xs},
              y = {.rank = 2, .dims = {2, 2}, .data = ys};
    for (int i = 0; i < 3; i++)
        ck_assert_ok(ck_model_train_on_batch(m, &x, &y, NULL));
    return m;
}

START_TEST(top_level_group_and_int64_iterations)
{
    ck_model *a = compiled_trained(20), *b = NULL;
    const char *path = ck_test_path("k29.h5");
    ck_assert_ok(ck_model_save(a, path));
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    hid_t g = H5Gopen2(f, "model_weights/top_level_model_weights", H5P_DEFAULT);
    ck_assert_int_ge(g, 0);
    hid_t at = H5Aopen(g, "weight_names", H5P_DEFAULT), t = H5Aget_type(at), s = H5Aget_space(at);
    ck_assert_int_eq(H5Tget_class(t), H5T_FLOAT);
    ck_assert_uint_eq(H5Tget_size(t), 8);
    ck_assert_int_eq(H5Sget_simple_extent_npoints(s), 0);
    H5Sclose(s);
    H5Tclose(t);
    H5Aclose(at);
    H5Gclose(g);
    ck_strlist layers;
    g = H5Gopen2(f, "model_weights", H5P_DEFAULT);
    ck_assert_ok(ck_h5_read_strings(g, "layer_names", &layers));
    ck_assert_int_eq(layers.n, 1);
    ck_strlist_free(&layers);
    H5Gclose(g);
    size_t size;
    ck_assert_int_eq(dataset_class(f, "optimizer_weights/Adam/iter:0", &size), H5T_INTEGER);
    ck_assert_uint_eq(size, 8);
    int64_t iters = 0;
    hid_t d = H5Dopen2(f, "optimizer_weights/Adam/iter:0", H5P_DEFAULT);
    ck_assert_int_ge(H5Dread(d, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, &iters), 0);
    H5Dclose(d);
    ck_assert_int_eq(iters, 3);
    H5Fclose(f);

    ck_assert_ok(ck_model_load(path, &b));
    ck_assert_float_eq(ck_test_slot(b, 0)[0], 3.0f);
    ck_model_free(b);

    /* Older writers stored the count as a float: also accepted. */
    f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    ck_assert_int_ge(H5Ldelete(f, "optimizer_weights/Adam/iter:0", H5P_DEFAULT), 0);
    float seven = 7.0f;
    ck_assert_ok(ck_h5_write_floats(f, "optimizer_weights/Adam/iter:0", 0, NULL, &seven));
    H5Fclose(f);
    ck_assert_ok(ck_model_load(path, &b));
    ck_assert_float_eq(ck_test_slot(b, 0)[0], 7.0f);
    ck_model_free(b);
    ck_model_free(a);
}
END_TEST

/* ---------------------------------------------------------------- non-finite weights */

static void poison(const char *path, const char *dataset, size_t index, float value)
{
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    hid_t d = H5Dopen2(f, dataset, H5P_DEFAULT);
    ck_assert_int_ge(d, 0);
    hid_t s = H5Dget_space(d);
    hsize_t n = (hsize_t)H5Sget_simple_extent_npoints(s);
    float *buf = malloc(n * sizeof *buf);
    ck_assert_int_ge(H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf), 0);
    buf[index] = value;
    ck_assert_int_ge(H5Dwrite(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf), 0);
    free(buf);
    H5Sclose(s);
    H5Dclose(d);
    H5Fclose(f);
}

START_TEST(non_finite_weights_refused)
{
    ck_model *a = flagship_like(30, CK_KERAS2), *b = flagship_like(31, CK_KERAS2), *loaded = NULL;
    float *before = malloc(b->n_params * sizeof(float));
    memcpy(before, b->params, b->n_params * sizeof(float));
    const char *h5 = ck_test_path("nan.h5"), *k3 = ck_test_path("inf.weights.h5");
    ck_assert_ok(ck_model_save(a, h5));
    poison(h5, "model_weights/dense/dense/kernel:0", 7, NAN);
    ck_assert_fails(ck_model_load(h5, &loaded), CK_ERR_NUMERIC);
    ck_assert_ptr_null(loaded);
    ck_assert_msg(strstr(ck_last_error(), "NaN") && strstr(ck_last_error(), "#7"), "%s",
                  ck_last_error());
    ck_assert_fails(ck_model_load_weights(b, h5), CK_ERR_NUMERIC);
    ck_assert_ok(ck_model_save_weights(a, k3));
    poison(k3, "layers/lstm_1/cell/vars/1", 0, -INFINITY);
    ck_assert_fails(ck_model_load_weights(b, k3), CK_ERR_NUMERIC);
    ck_assert_ptr_nonnull(strstr(ck_last_error(), "infinite"));
    ck_assert_int_eq(memcmp(before, b->params, b->n_params * sizeof(float)), 0);
    free(before);
    ck_model_free(a);
    ck_model_free(b);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("io_compat");
    TCase *k1 = tcase_create("keras1");
    tcase_add_unchecked_fixture(k1, ck_test_scratch_fixture, ck_test_remove_dir);
    tcase_add_test(k1, keras1_per_gate_weights);
    tcase_add_test(k1, keras1_mismatches);
    tcase_add_test(k1, cudnn_weights);
    tcase_add_test(k1, theano_conv_kernels_flipped);
    tcase_add_test(k1, cudnn_whole_model);
    suite_add_tcase(s, k1);

    TCase *zip = tcase_create("keras_archive");
    tcase_add_unchecked_fixture(zip, ck_test_scratch_fixture, ck_test_remove_dir);
    tcase_add_test(zip, keras_archive_round_trip);
    tcase_add_test(zip, keras_archive_config);
    tcase_add_test(zip, keras_archive_is_atomic);
    tcase_add_test(zip, allocation_failures);
    suite_add_tcase(s, zip);

    TCase *k29 = tcase_create("keras29");
    tcase_add_unchecked_fixture(k29, ck_test_scratch_fixture, ck_test_remove_dir);
    tcase_add_test(k29, top_level_group_and_int64_iterations);
    tcase_add_test(k29, non_finite_weights_refused);
    suite_add_tcase(s, k29);
    return s;
}

int main(void)
{
    return ck_test_run(suite());
}
