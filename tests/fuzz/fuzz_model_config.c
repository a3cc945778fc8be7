/* libFuzzer target for Keras model configs (ck_model_from_json: JSON ->
 * layers -> build). Any text must either give a built model or fail with
 * a message. A model that loads must also survive what a user does next:
 * writing its JSON and reading it back, and one prediction. */
#include "ckeras.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Keeps each run fast; bigger models are valid but teach the fuzzer nothing. */
enum { MAX_PARAMS = 1 << 20, MAX_SAMPLE = 1 << 16 };

static size_t sample_size(int rank, const int64_t *dims)
{
    size_t n = 1;
    for (int i = 0; i < rank; i++) {
        if (dims[i] <= 0 || (size_t)dims[i] > MAX_SAMPLE / n)
            return 0;
        n *= (size_t)dims[i];
    }
    return n;
}

static void predict_once(ck_model *m)
{
    int in_rank, out_rank;
    int64_t in_dims[CK_MAX_RANK], out_dims[CK_MAX_RANK];
    if (ck_model_count_params(m) > MAX_PARAMS ||
        ck_model_input_shape(m, &in_rank, in_dims) != CK_OK ||
        ck_model_output_shape(m, &out_rank, out_dims) != CK_OK)
        return;
    size_t n_in = sample_size(in_rank, in_dims), n_out = sample_size(out_rank, out_dims);
    if (!n_in || !n_out)
        return;
    float *x = calloc(n_in, sizeof *x), *y = calloc(n_out, sizeof *y);
    if (x && y && ck_model_predict(m, x, 1, y) != CK_OK && ck_last_error()[0] == '\0')
        __builtin_trap();
    free(x);
    free(y);
}

/* What ckeras writes it must read back. */
static void round_trip(ck_model *m)
{
    char *json = ck_model_to_json(m);
    if (!json)
        __builtin_trap();
    ck_model *again = NULL;
    if (ck_model_from_json(json, &again) != CK_OK ||
        ck_model_count_params(again) != ck_model_count_params(m))
        __builtin_trap();
    ck_model_free(again);
    ck_free(json);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* The weights' initializers run at every build (an orthogonal QR grows
     * as rows x columns^2): under this limit no input nears the 20 s that
     * run.sh counts as a hang, which LSTM(2128) took under the default. */
    ck_set_limit(CK_LIMIT_MODEL_BYTES, (uint64_t)MAX_PARAMS * 4 * sizeof(float));
    char *text = malloc(size + 1);
    memcpy(text, data, size);
    text[size] = '\0';
    ck_model *m = (ck_model *)(uintptr_t)1;
    ck_status st = ck_model_from_json(text, &m);
    if (st == CK_OK) {
        round_trip(m);
        predict_once(m);
        ck_model_free(m);
    } else if (m != NULL || ck_last_error()[0] == '\0') {
        __builtin_trap();
    }
    free(text);
    return 0;
}
