/* libFuzzer target for Keras HDF5 loading: ck_model_load (whole model:
 * model_config, weights, training_config, optimizer state; also .keras
 * zips) and ck_model_load_weights (legacy and Keras 3 layouts, by order
 * and by name) on a fixed model. A failed weight load must leave the
 * model's weights untouched, and no HDF5 object may stay open afterwards
 * (a leaked handle keeps the whole file in memory).
 *
 * Two modes, because libhdf5 1.10 itself crashes on corrupt metadata
 * (object headers, heaps) in ways ckeras cannot screen out:
 *  - structured (default, used in CI): the input is a text description of
 *    a Keras 2 file, which the harness writes with the HDF5 API, so the
 *    fuzzer explores ckeras's reading logic (names, shapes, dtypes, NaN,
 *    configs) with well-formed HDF5:
 *        line 1: model_config JSON (empty: a weights-only file)
 *        line 2: keras_version     line 3: training_config
 *        then one line per weight: LAYER WEIGHT_NAME TYPE DIM...
 *        TYPE: f float32, d float64, i int32, n float32 NaN, s string
 *  - raw (CK_FUZZ_RAW=1 in the environment): the input is a file's
 *    bytes; this also fuzzes libhdf5 and the screens in src/io/h5_guard.c.
 *    tests/fuzz/run.sh replays corpus/fuzz_h5_weights_raw/ in this mode. */
#include "ckeras.h"

#include <hdf5.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static ck_model *target_model;
static char path[64];
static bool raw_mode;

/* Input (3, 4) > LSTM(4, seq) > BatchNormalization > GRU(3) > Dense(2,
 * softmax): the corpus files tests/fuzz/corpus/fuzz_h5_weights/small_*
 * hold weights for exactly this model. */
static ck_model *make_target_model(void)
{
    ck_model *m = ck_sequential(.seed = 7);
    bool ok = m && ck_model_add(m, ck_input(3, 4)) == CK_OK &&
              ck_model_add(m, ck_lstm(.units = 4, .return_sequences = true)) == CK_OK &&
              ck_model_add(m, ck_batch_normalization()) == CK_OK &&
              ck_model_add(m, ck_gru(3)) == CK_OK &&
              ck_model_add(m, ck_dense(.units = 2, .activation = "softmax")) == CK_OK &&
              ck_model_build(m) == CK_OK;
    if (!ok)
        abort();
    return m;
}

/* HDF5 and libzip read paths, so the bytes go to a per-process file,
 * in memory when /dev/shm exists. */
static void init(void)
{
    target_model = make_target_model();
    raw_mode = getenv("CK_FUZZ_RAW") != NULL;
    /* Invalid names in structured inputs make HDF5 print its error stack. */
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    const char *dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(path, sizeof path, "%s/ck_fuzz_h5_%ld", dir, (long)getpid());
}

static bool write_input(const uint8_t *data, size_t size)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return false;
    bool ok = fwrite(data, 1, size, f) == size;
    return fclose(f) == 0 && ok;
}

/* ---- structured mode ---- */

enum { MAX_LINES = 64, MAX_DIM = 64, MAX_VALUES = 4096 };

typedef struct layer_list {
    char names[MAX_LINES][64];
    int n;
} layer_list;

static void write_attr_string(hid_t obj, const char *name, const char *value)
{
    hid_t t = H5Tcopy(H5T_C_S1), s = H5Screate(H5S_SCALAR);
    H5Tset_size(t, strlen(value) + 1);
    hid_t a = H5Acreate2(obj, name, t, s, H5P_DEFAULT, H5P_DEFAULT);
    if (a >= 0) {
        H5Awrite(a, t, value);
        H5Aclose(a);
    }
    H5Sclose(s);
    H5Tclose(t);
}

/* A fixed-length string array attribute, as tf.keras 2.4 wrote them. */
static void write_attr_strings(hid_t obj, const char *name, char (*items)[64], int n)
{
    hsize_t count = (hsize_t)n;
    hid_t t = H5Tcopy(H5T_C_S1), s = H5Screate_simple(1, &count, NULL);
    H5Tset_size(t, 64);
    hid_t a = H5Acreate2(obj, name, t, s, H5P_DEFAULT, H5P_DEFAULT);
    if (a >= 0) {
        H5Awrite(a, t, items);
        H5Aclose(a);
    }
    H5Sclose(s);
    H5Tclose(t);
}

static int layer_index(layer_list *l, const char *name)
{
    for (int i = 0; i < l->n; i++)
        if (strcmp(l->names[i], name) == 0)
            return i;
    snprintf(l->names[l->n], sizeof l->names[0], "%s", name);
    return l->n++;
}

static void write_dataset(hid_t root, const char *ds, char type, int rank, const hsize_t *dims)
{
    size_t n = 1;
    for (int i = 0; i < rank; i++)
        n *= (size_t)dims[i];
    static double values[MAX_VALUES];
    for (size_t i = 0; i < n; i++)
        values[i] = type == 'n' && i == n / 2 ? NAN : (double)i * 0.01 - 0.5;
    hid_t file_type = type == 'd' ? H5T_IEEE_F64LE : type == 'i' ? H5T_STD_I32LE : H5T_IEEE_F32LE;
    hid_t str = H5Tcopy(H5T_C_S1);
    H5Tset_size(str, 8);
    if (type == 's')
        file_type = str;
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
    H5Pset_create_intermediate_group(lcpl, 1);
    hid_t s = rank ? H5Screate_simple(rank, dims, NULL) : H5Screate(H5S_SCALAR);
    hid_t d = H5Dcreate2(root, ds, file_type, s, lcpl, H5P_DEFAULT, H5P_DEFAULT);
    if (d >= 0 && type != 's')
        H5Dwrite(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, values);
    if (d >= 0)
        H5Dclose(d);
    H5Sclose(s);
    H5Pclose(lcpl);
    H5Tclose(str);
}

/* "LAYER WEIGHT TYPE DIM..." -> a dataset LAYER/WEIGHT, listed in the
 * layer's weight_names. */
static void write_weight_line(hid_t root, char *line, layer_list *layers,
                              char (*weights)[MAX_LINES][64], int *n_weights)
{
    char layer[64], weight[64], type;
    int used = 0;
    if (sscanf(line, "%63s %63s %c%n", layer, weight, &type, &used) != 3)
        return;
    hsize_t dims[4];
    int rank = 0, step;
    size_t total = 1;
    unsigned long v;
    for (char *p = line + used; rank < 4 && sscanf(p, "%lu%n", &v, &step) == 1; p += step) {
        if (v > MAX_DIM || total * (v ? v : 1) > MAX_VALUES)
            return;
        dims[rank++] = v;
        total *= v ? v : 1;
    }
    int li = layer_index(layers, layer);
    snprintf(weights[li][n_weights[li]++], 64, "%s", weight);
    char ds[160];
    snprintf(ds, sizeof ds, "%s/%s", layer, weight);
    write_dataset(root, ds, type, rank, dims);
}

static void write_structured(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    memcpy(text, data, size);
    text[size] = '\0';
    /* Empty lines count: line 1 is empty for a weights-only file. */
    char *lines[MAX_LINES + 3];
    int n = 0;
    for (char *l = text; l && n < MAX_LINES + 3; n++) {
        lines[n] = l;
        l = strchr(l, '\n');
        if (l)
            *l++ = '\0';
    }
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (f < 0)
        abort();
    bool whole = n > 0 && lines[0][0] == '{';
    if (whole)
        write_attr_string(f, "model_config", lines[0]);
    if (n > 1 && lines[1][0] != '-')
        write_attr_string(f, "keras_version", lines[1]);
    if (n > 2 && lines[2][0] == '{')
        write_attr_string(f, "training_config", lines[2]);
    hid_t root = whole ? H5Gcreate2(f, "model_weights", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT)
                       : H5Gopen2(f, "/", H5P_DEFAULT);
    static layer_list layers;
    static char weights[MAX_LINES][MAX_LINES][64];
    static int n_weights[MAX_LINES];
    layers.n = 0;
    memset(n_weights, 0, sizeof n_weights);
    for (int i = 3; i < n; i++)
        write_weight_line(root, lines[i], &layers, weights, n_weights);
    write_attr_strings(root, "layer_names", layers.names, layers.n);
    for (int i = 0; i < layers.n; i++) {
        hid_t g = H5Gopen2(root, layers.names[i], H5P_DEFAULT);
        if (g >= 0) {
            write_attr_strings(g, "weight_names", weights[i], n_weights[i]);
            H5Gclose(g);
        }
    }
    H5Gclose(root);
    H5Fclose(f);
    free(text);
}

static void weights_of(ck_model *m, float *out)
{
    size_t k = 0;
    for (int i = 0; i < ck_model_layer_count(m); i++) {
        ck_layer *l = ck_model_layer(m, i);
        for (int w = 0; w < ck_layer_weight_count(l); w++) {
            const char *name;
            ck_tensor view;
            if (ck_layer_weight(l, w, &name, &view) != CK_OK)
                abort();
            size_t n = 1;
            for (int d = 0; d < view.rank; d++)
                n *= (size_t)view.dims[d];
            memcpy(out + k, view.data, n * sizeof(float));
            k += n;
        }
    }
}

static void load_weights(bool by_name, float *before, float *after)
{
    weights_of(target_model, before);
    ck_status st = ck_model_load_weights(target_model, path, .by_name = by_name);
    if (st == CK_OK)
        return;
    weights_of(target_model, after);
    size_t n = ck_model_count_params(target_model);
    if (ck_last_error()[0] == '\0' || memcmp(before, after, n * sizeof(float)) != 0)
        __builtin_trap();
}

static void load_model(void)
{
    ck_model *m = (ck_model *)(uintptr_t)1;
    ck_status st = ck_model_load(path, &m);
    if (st == CK_OK)
        ck_model_free(m);
    else if (m != NULL || ck_last_error()[0] == '\0')
        __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!target_model)
        init();
    if (raw_mode) {
        if (!write_input(data, size))
            abort();
    } else {
        write_structured(data, size);
    }
    size_t n = ck_model_count_params(target_model);
    float *before = malloc(n * sizeof(float)), *after = malloc(n * sizeof(float));
    load_model();
    load_weights(false, before, after);
    load_weights(true, before, after);
    free(before);
    free(after);
    unlink(path);
    /* A failure left on the error stack leaks when a thread ends with it.
     * Checked first: H5Fget_obj_count, like any API call, clears it. */
    if (H5Eget_num(H5E_DEFAULT) != 0)
        __builtin_trap();
    if (H5Fget_obj_count((hid_t)H5F_OBJ_ALL, H5F_OBJ_ALL) != 0)
        __builtin_trap();
    return 0;
}
