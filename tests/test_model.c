/* The Sequential model's API and every error path: each returns the right
 * code with a message and leaks nothing (the ASan build checks leaks),
 * including allocation failures injected at every step. */
#include "ck_test.h"

#include "ck_internal.h"

#include <string.h>

static void assert_message_has(const char *part)
{
    ck_assert_msg(strstr(ck_last_error(), part), "message '%s' does not mention '%s'",
                  ck_last_error(), part);
}

/* Asserts a constructor failed with `code` and a message. */
#define assert_ctor_fails(expr, code)                                                            \
    do {                                                                                         \
        ck_layer *l_ = (expr);                                                                   \
        ck_assert_msg(l_ == NULL, "%s succeeded", #expr);                                        \
        ck_assert_msg(ck_error_status() == (code), "%s: %s, expected %s (%s)", #expr,            \
                      ck_status_name(ck_error_status()), ck_status_name(code), ck_last_error()); \
        ck_assert_msg(ck_last_error()[0] != '\0', "%s left no message", #expr);                  \
    } while (0)

static ck_model *small_model(void)
{
    ck_model *m = ck_sequential(.seed = 2);
    ck_assert_ptr_nonnull(m);
    ck_assert_ok(ck_model_add(m, ck_input(5, 4)));
    ck_assert_ok(ck_model_add(m, ck_lstm(.units = 3)));
    ck_assert_ok(ck_model_add(m, ck_dense(.units = 2)));
    return m;
}

/* ---------------------------------------------------------------- constructors */

START_TEST(test_layer_option_errors)
{
    assert_ctor_fails(ck_dense(.units = 0), CK_ERR_ARGUMENT);
    assert_message_has("units");
    assert_ctor_fails(ck_dense(.units = -3), CK_ERR_ARGUMENT);
    assert_message_has("-3");
    assert_ctor_fails(ck_lstm(.units = 0), CK_ERR_ARGUMENT);
    assert_ctor_fails(ck_lstm(.units = -1), CK_ERR_ARGUMENT);
    assert_ctor_fails(ck_dense(4, .activation = "sigmoidd"), CK_ERR_NAME);
    assert_message_has("sigmoidd");
    assert_message_has("hard_sigmoid");
    assert_ctor_fails(ck_lstm(4, .activation = "tan"), CK_ERR_NAME);
    assert_ctor_fails(ck_lstm(4, .recurrent_activation = "hardsigmoid"), CK_ERR_NAME);
    assert_message_has("hardsigmoid");
    assert_ctor_fails(ck_lstm(4, .recurrent_activation = "softmax"), CK_ERR_UNSUPPORTED);
    assert_ctor_fails(ck_activation(.activation = "nope"), CK_ERR_NAME);
    assert_ctor_fails(ck_activation(.activation = NULL), CK_ERR_ARGUMENT);
    assert_ctor_fails(ck_dense(4, .kernel_initializer = CK_INIT("glorot")), CK_ERR_NAME);
    assert_message_has("glorot_uniform");
    assert_ctor_fails(ck_dense(4, .bias_initializer = CK_INIT("zeroes")), CK_ERR_NAME);
    assert_ctor_fails(ck_lstm(4, .kernel_initializer = CK_INIT("he")), CK_ERR_NAME);
    assert_ctor_fails(ck_dropout(.rate = -0.1), CK_ERR_ARGUMENT);
    assert_ctor_fails(ck_dropout(.rate = 1.0), CK_ERR_ARGUMENT);
    assert_ctor_fails(ck_dropout(.rate = NAN), CK_ERR_ARGUMENT);
    assert_ctor_fails(ck_lstm(4, .dropout = 1.5), CK_ERR_ARGUMENT);
    assert_ctor_fails(ck_lstm(4, .recurrent_dropout = -0.5), CK_ERR_ARGUMENT);
    assert_ctor_fails(ck_softmax(.axis = -2), CK_ERR_UNSUPPORTED);
    assert_ctor_fails(ck_dense(4, .name = ""), CK_ERR_ARGUMENT);
    assert_ctor_fails(ck_dense(4, .name = "a/b"), CK_ERR_ARGUMENT);
    char longname[CK_NAME_MAX + 1];
    memset(longname, 'x', CK_NAME_MAX);
    longname[CK_NAME_MAX] = '\0';
    assert_ctor_fails(ck_lstm(4, .name = longname), CK_ERR_ARGUMENT);
    assert_ctor_fails(ck_input(5, -4), CK_ERR_SHAPE);
    assert_ctor_fails(ck_input_new(&(ck_input_options){.name = "empty"}), CK_ERR_SHAPE);
    /* NULL options. */
    assert_ctor_fails(ck_dense_new(NULL), CK_ERR_ARGUMENT);
    assert_ctor_fails(ck_lstm_new(NULL), CK_ERR_ARGUMENT);
    assert_ctor_fails(ck_input_new(NULL), CK_ERR_ARGUMENT);
    assert_ctor_fails(ck_softmax_new(NULL), CK_ERR_ARGUMENT);
    assert_ctor_fails(ck_activation_new(NULL), CK_ERR_ARGUMENT);
    assert_ctor_fails(ck_dropout_new(NULL), CK_ERR_ARGUMENT);
    /* A layer never added is freed by its owner; NULL is a no-op. */
    ck_layer_free(ck_dense(.units = 3));
    ck_layer_free(NULL);
}
END_TEST

START_TEST(test_model_options)
{
    ck_assert_ptr_null(ck_sequential(.name = ""));
    ck_assert_int_eq(ck_error_status(), CK_ERR_ARGUMENT);
    ck_assert_ptr_null(ck_sequential(.semantics = (ck_keras_semantics)9));
    ck_assert_int_eq(ck_error_status(), CK_ERR_ARGUMENT);
    ck_model *m = ck_sequential_new(NULL);
    ck_assert_ptr_nonnull(m);
    ck_assert_str_eq(ck_model_name(m), "sequential");
    ck_model_free(m);
    ck_model_free(NULL);
}
END_TEST

/* ---------------------------------------------------------------- NULL arguments */

START_TEST(test_null_arguments)
{
    float buf[64] = {0};
    int rank;
    int64_t dims[CK_MAX_RANK];
    ck_tensor t = {.rank = 2, .dims = {1, 2}, .data = buf};
    ck_assert_fails(ck_model_add(NULL, ck_dense(.units = 2)), CK_ERR_ARGUMENT); /* layer freed */
    ck_assert_fails(ck_model_build(NULL), CK_ERR_ARGUMENT);
    ck_assert_fails(ck_model_predict(NULL, buf, 1, buf), CK_ERR_ARGUMENT);
    ck_assert_fails(ck_model_predict_tensor(NULL, &t, &t), CK_ERR_ARGUMENT);
    ck_assert_fails(ck_model_reset_states(NULL), CK_ERR_ARGUMENT);
    ck_assert_fails(ck_model_input_shape(NULL, &rank, dims), CK_ERR_ARGUMENT);
    ck_assert_fails(ck_model_output_shape(NULL, &rank, dims), CK_ERR_ARGUMENT);
    ck_assert_fails(ck_layer_output_shape(NULL, &rank, dims), CK_ERR_ARGUMENT);
    ck_assert_fails(ck_layer_weight(NULL, 0, NULL, &t), CK_ERR_ARGUMENT);
    ck_assert(!ck_model_is_built(NULL));
    ck_assert_int_eq(ck_model_layer_count(NULL), 0);
    ck_assert_uint_eq(ck_model_count_params(NULL), 0);
    ck_assert_str_eq(ck_model_name(NULL), "");
    ck_assert_str_eq(ck_layer_name(NULL), "");
    ck_assert_int_eq(ck_layer_weight_count(NULL), 0);
    ck_assert_uint_eq(ck_layer_count_params(NULL), 0);

    ck_model *m = small_model();
    ck_assert_fails(ck_model_predict(m, NULL, 1, buf), CK_ERR_ARGUMENT);
    ck_assert_fails(ck_model_predict(m, buf, 1, NULL), CK_ERR_ARGUMENT);
    ck_assert_fails(ck_model_predict_tensor(m, NULL, &t), CK_ERR_ARGUMENT);
    ck_assert_fails(ck_model_predict_tensor(m, &t, NULL), CK_ERR_ARGUMENT);
    ck_assert_fails(ck_model_input_shape(m, NULL, dims), CK_ERR_ARGUMENT);
    ck_assert_fails(ck_model_output_shape(m, &rank, NULL), CK_ERR_ARGUMENT);
    ck_assert_fails(ck_layer_weight(ck_model_layer(m, 0), 0, NULL, NULL), CK_ERR_ARGUMENT);
    ck_assert_ptr_null(ck_model_get_layer(m, NULL));
    ck_assert_int_eq(ck_error_status(), CK_ERR_NAME);
    ck_model_free(m);
}
END_TEST

/* ---------------------------------------------------------------- order of calls */

START_TEST(test_state_errors)
{
    float x[20] = {0}, y[2];
    int rank;
    int64_t dims[CK_MAX_RANK];
    /* No input layer. */
    ck_model *m = ck_sequential();
    ck_assert_fails(ck_model_input_shape(m, &rank, dims), CK_ERR_STATE);
    ck_assert_ok(ck_model_add(m, ck_dense(.units = 2)));
    ck_assert_fails(ck_model_predict(m, x, 1, y), CK_ERR_STATE);
    assert_message_has("input");
    ck_assert_fails(ck_model_build(m), CK_ERR_STATE);
    ck_assert_fails(ck_model_output_shape(m, &rank, dims), CK_ERR_STATE);
    /* Input added after a layer. */
    ck_assert_fails(ck_model_add(m, ck_input(4)), CK_ERR_STATE);
    ck_model_free(m);

    /* No layers. */
    m = ck_sequential();
    ck_assert_ok(ck_model_add(m, ck_input(4)));
    ck_assert_fails(ck_model_build(m), CK_ERR_STATE);
    ck_assert_fails(ck_model_predict(m, x, 1, y), CK_ERR_STATE);
    /* Input twice. */
    ck_assert_fails(ck_model_add(m, ck_input(4)), CK_ERR_STATE);
    ck_model_free(m);

    /* Unbuilt layers have no weights or shapes yet. */
    m = small_model();
    ck_tensor t;
    ck_assert_fails(ck_layer_weight(ck_model_layer(m, 0), 0, NULL, &t), CK_ERR_STATE);
    ck_assert_fails(ck_layer_output_shape(ck_model_layer(m, 0), &rank, dims), CK_ERR_STATE);
    ck_assert_ptr_null(ck_model_layer(m, 2));
    ck_assert_ptr_null(ck_model_layer(m, -1));
    ck_assert_ptr_null(ck_model_get_layer(m, "nope"));
    ck_assert_int_eq(ck_error_status(), CK_ERR_NAME);
    assert_message_has("nope");

    /* Adding after build: a layer that does not fit leaves the model as it
     * was; a second input never fits. */
    ck_assert_ok(ck_model_build(m));
    ck_assert_ok(ck_model_build(m)); /* idempotent */
    ck_assert_fails(ck_model_add(m, ck_lstm(.units = 2)), CK_ERR_SHAPE);
    ck_assert_fails(ck_model_add(m, ck_input(3)), CK_ERR_STATE);
    ck_assert_int_eq(ck_model_layer_count(m), 2);
    ck_assert_fails(ck_layer_weight(ck_model_layer(m, 0), 3, NULL, &t), CK_ERR_ARGUMENT);
    ck_assert_fails(ck_layer_weight(ck_model_layer(m, 0), -1, NULL, &t), CK_ERR_ARGUMENT);
    /* The model still works. */
    ck_assert_ok(ck_model_predict(m, x, 1, y));
    ck_model_free(m);
}
END_TEST

START_TEST(test_failed_constructor_poisons_model)
{
    ck_model *m = ck_sequential();
    ck_assert_ok(ck_model_add(m, ck_input(5, 4)));
    ck_assert_ok(ck_model_add(m, ck_lstm(.units = 3)));
    /* The constructor's message survives ck_model_add(m, NULL). */
    ck_assert_fails(ck_model_add(m, ck_dense(2, .activation = "rellu")), CK_ERR_NAME);
    assert_message_has("rellu");
    ck_assert_ok(ck_model_add(m, ck_dense(.units = 2)));
    ck_assert_fails(ck_model_build(m), CK_ERR_STATE);
    float x[20] = {0}, y[2];
    ck_assert_fails(ck_model_predict(m, x, 1, y), CK_ERR_STATE);
    ck_assert_fails(ck_model_summary(m, stdout, CK_SUMMARY_KERAS2), CK_ERR_STATE);
    ck_model_free(m);

    /* ck_model_add(m, NULL) without a preceding error still explains itself. */
    m = ck_sequential();
    ck_clear_error();
    ck_assert_fails(ck_model_add(m, NULL), CK_ERR_ARGUMENT);
    ck_model_free(m);
}
END_TEST

START_TEST(test_duplicate_names)
{
    ck_model *m = ck_sequential();
    ck_assert_ok(ck_model_add(m, ck_input(4)));
    ck_assert_ok(ck_model_add(m, ck_dense(3, .name = "hidden")));
    ck_assert_fails(ck_model_add(m, ck_dense(3, .name = "hidden")), CK_ERR_NAME);
    assert_message_has("hidden");
    /* The refused layer is not in the model and the model still builds. */
    ck_assert_int_eq(ck_model_layer_count(m), 1);
    ck_assert_ok(ck_model_build(m));
    ck_model_free(m);
}
END_TEST

/* ---------------------------------------------------------------- shapes */

START_TEST(test_incompatible_layers)
{
    /* LSTM after Dense on 2-D input: names both layers and the shape. */
    ck_model *m = ck_sequential();
    ck_assert_ok(ck_model_add(m, ck_input(8)));
    ck_assert_ok(ck_model_add(m, ck_dense(.units = 6)));
    ck_assert_ok(ck_model_add(m, ck_lstm(.units = 4)));
    ck_assert_fails(ck_model_build(m), CK_ERR_SHAPE);
    assert_message_has("lstm");
    assert_message_has("dense");
    assert_message_has("(None, 6)");
    ck_assert(!ck_model_is_built(m));
    ck_assert_uint_eq(ck_model_count_params(m), 0);
    /* Building again fails the same way, without leaking the first attempt. */
    ck_assert_fails(ck_model_build(m), CK_ERR_SHAPE);
    ck_model_free(m);

    /* Directly on the input. */
    m = ck_sequential();
    ck_assert_ok(ck_model_add(m, ck_input(8)));
    ck_assert_ok(ck_model_add(m, ck_lstm(.units = 4)));
    ck_assert_fails(ck_model_build(m), CK_ERR_SHAPE);
    assert_message_has("input_1");
    assert_message_has("(None, 8)");
    ck_model_free(m);

    /* LSTM needs known features. */
    m = ck_sequential();
    ck_assert_ok(ck_model_add(m, ck_input(5, CK_NONE)));
    ck_assert_ok(ck_model_add(m, ck_lstm(.units = 4)));
    ck_assert_fails(ck_model_build(m), CK_ERR_SHAPE);
    ck_model_free(m);
}
END_TEST

START_TEST(test_bad_inputs)
{
    ck_model *m = small_model();
    float x[3 * 5 * 4], y[64];
    for (int i = 0; i < 60; i++)
        x[i] = 0.1f * (float)i;
    ck_assert_fails(ck_model_predict(m, x, 0, y), CK_ERR_ARGUMENT);
    ck_assert_fails(ck_model_predict(m, x, -2, y), CK_ERR_ARGUMENT);

    /* Wrong feature count and wrong rank: both shapes are named. */
    ck_tensor ty = {.rank = 1, .dims = {64}, .data = y};
    ck_tensor tx = {.rank = 3, .dims = {2, 5, 3}, .data = x};
    ck_assert_fails(ck_model_predict_tensor(m, &tx, &ty), CK_ERR_SHAPE);
    assert_message_has("(None, 5, 4)");
    assert_message_has("(2, 5, 3)");
    tx = (ck_tensor){.rank = 2, .dims = {2, 20}, .data = x};
    ck_assert_fails(ck_model_predict_tensor(m, &tx, &ty), CK_ERR_SHAPE);
    assert_message_has("(None, 5, 4)");
    assert_message_has("(2, 20)");
    tx = (ck_tensor){.rank = 3, .dims = {2, 6, 4}, .data = x};
    ck_assert_fails(ck_model_predict_tensor(m, &tx, &ty), CK_ERR_SHAPE);
    tx = (ck_tensor){.rank = 3, .dims = {0, 5, 4}, .data = x};
    ck_assert_fails(ck_model_predict_tensor(m, &tx, &ty), CK_ERR_SHAPE);
    tx = (ck_tensor){.rank = 0, .data = x};
    ck_assert_fails(ck_model_predict_tensor(m, &tx, &ty), CK_ERR_SHAPE);
    tx = (ck_tensor){.rank = CK_MAX_RANK + 1, .data = x};
    ck_assert_fails(ck_model_predict_tensor(m, &tx, &ty), CK_ERR_SHAPE);
    /* Output buffer too small. */
    tx = (ck_tensor){.rank = 3, .dims = {3, 5, 4}, .data = x};
    ck_tensor small = {.rank = 1, .dims = {5}, .data = y};
    ck_assert_fails(ck_model_predict_tensor(m, &tx, &small), CK_ERR_SHAPE);

    /* NaN and Inf. */
    x[7] = NAN;
    ck_assert_fails(ck_model_predict(m, x, 3, y), CK_ERR_NUMERIC);
    assert_message_has("NaN");
    x[7] = -INFINITY;
    ck_assert_fails(ck_model_predict(m, x, 3, y), CK_ERR_NUMERIC);
    x[7] = 0.7f;

    /* After all that the model still predicts, and the right numbers. */
    float y1[6], y2[6];
    ck_assert_ok(ck_model_predict(m, x, 3, y1));
    ck_model *fresh = small_model();
    ck_assert_ok(ck_model_predict(fresh, x, 3, y2));
    ck_assert_mem_eq(y1, y2, sizeof y1);
    ck_assert_ok(ck_model_predict_tensor(m, &tx, &ty));
    ck_assert_int_eq(ty.rank, 2);
    ck_assert_int_eq(ty.dims[0], 3);
    ck_assert_int_eq(ty.dims[1], 2);
    ck_model_free(fresh);
    ck_model_free(m);
}
END_TEST

START_TEST(test_error_messages)
{
    ck_assert_str_eq(ck_status_name(CK_OK), "CK_OK");
    ck_assert_str_eq(ck_status_name(CK_ERR_SHAPE), "CK_ERR_SHAPE");
    ck_assert_str_eq(ck_status_name(CK_ERR_STOPPED), "CK_ERR_STOPPED");
    ck_assert_str_eq(ck_status_name((ck_status)99), "CK_ERR_UNKNOWN");
    ck_clear_error();
    ck_assert_str_eq(ck_last_error(), "");
    ck_assert_int_eq(ck_error_status(), CK_OK);
    /* A message that wraps the previous one keeps both (no overlap). */
    ck_error(CK_ERR_SHAPE, "inner %d", 7);
    ck_assert_int_eq(ck_error(CK_ERR_NAME, "outer: %s", ck_last_error()), CK_ERR_NAME);
    ck_assert_str_eq(ck_last_error(), "outer: inner 7");
    ck_assert_int_eq(ck_error_status(), CK_ERR_NAME);
    ck_error(CK_ERR_IO, "%s%s", ck_last_error(), ck_last_error());
    ck_assert_str_eq(ck_last_error(), "outer: inner 7outer: inner 7");
    /* Long messages are cut, not overflowed. */
    char big[3000];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    ck_error(CK_ERR_IO, "%s", big);
    ck_assert_uint_gt(strlen(ck_last_error()), 500);
    ck_assert_uint_lt(strlen(ck_last_error()), sizeof big - 1);
}
END_TEST

/* ---------------------------------------------------------------- small internals */

START_TEST(test_memory_and_shape_helpers)
{
    size_t out = 7;
    ck_assert(ck_size_mul(3, 5, &out) && out == 15);
    ck_assert(!ck_size_mul(SIZE_MAX / 2, 3, &out));
    ck_assert_ptr_null(ck_alloc(SIZE_MAX / 4, 8));
    ck_assert_int_eq(ck_error_status(), CK_ERR_MEMORY);
    assert_message_has("overflows");
    ck_assert_ptr_null(ck_realloc_array(NULL, SIZE_MAX / 2, 4));
    ck_assert_int_eq(ck_error_status(), CK_ERR_MEMORY);
    ck_buf b = {0};
    ck_assert_ok(ck_buf_reserve(&b, 10));
    float *first = b.data;
    b.data[9] = 4.0f;
    ck_assert_ok(ck_buf_reserve(&b, 5)); /* never shrinks or moves for less */
    ck_assert_ptr_eq(b.data, first);
    ck_assert_ok(ck_buf_reserve(&b, 1000));
    ck_assert_float_eq(b.data[9], 4.0f);
    ck_debug_fail_alloc_after(1);
    ck_assert_fails(ck_buf_reserve(&b, 5000), CK_ERR_MEMORY);
    ck_assert_uint_eq(b.cap, 1000); /* unchanged on failure */
    ck_assert_float_eq(b.data[9], 4.0f);
    ck_assert_ok(ck_buf_reserve(&b, 400000)); /* 1.6 MB: huge pages, same contents */
    ck_assert_float_eq(b.data[9], 4.0f);
    ck_buf_free(&b);
    ck_assert_ptr_null(b.data);
    /* Zeroed arrays: zero and writable to their last byte, whatever the
     * size (none, part of a page, past a huge page). */
    const size_t counts[] = {0, 1, 1025, 600000};
    for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++) {
        float *z = ck_alloc_zeroed(counts[i], sizeof(float));
        ck_assert_ptr_nonnull(z);
        size_t nonzero = 0;
        for (size_t j = 0; j < counts[i]; j++)
            nonzero += z[j] != 0.0f;
        ck_assert_uint_eq(nonzero, 0);
        if (counts[i])
            z[counts[i] - 1] = 1.0f;
        ck_free_zeroed(z, counts[i], sizeof(float));
    }
    ck_debug_fail_alloc_after(1);
    ck_assert_ptr_null(ck_alloc_zeroed(10, sizeof(float)));
    ck_assert_int_eq(ck_error_status(), CK_ERR_MEMORY);
    ck_assert_ptr_null(ck_alloc_zeroed(SIZE_MAX / 2, 4));
    ck_assert_int_eq(ck_error_status(), CK_ERR_MEMORY);
    char *dup = ck_strdup("lstm_1");
    ck_assert_str_eq(dup, "lstm_1");
    free(dup);

    char text[64];
    ck_shape s = {.rank = 3, .dims = {CK_NONE, 5, 64}};
    ck_shape_format(&s, text, sizeof text);
    ck_assert_str_eq(text, "(None, 5, 64)");
    ck_assert_uint_eq(ck_shape_sample_size(&s), 320);
    s = (ck_shape){.rank = 1, .dims = {CK_NONE}};
    ck_shape_format(&s, text, sizeof text);
    ck_assert_str_eq(text, "(None,)");
    s = (ck_shape){.rank = 3, .dims = {CK_NONE, CK_NONE, 7}};
    ck_shape_format(&s, text, sizeof text);
    ck_assert_str_eq(text, "(None, None, 7)");
    ck_assert_uint_eq(ck_shape_sample_size(&s), 0);
    ck_shape_format(&s, text, 6); /* cut, still terminated */
    ck_assert_str_eq(text, "(None");
    ck_shape t = s;
    ck_assert(ck_shape_equal(&s, &t));
    t.dims[2] = 8;
    ck_assert(!ck_shape_equal(&s, &t));
    ck_tensor ten = {.rank = 2, .dims = {3, 4}};
    ck_assert_uint_eq(ck_tensor_size(&ten), 12);
    ten.dims[1] = 0;
    ck_assert_uint_eq(ck_tensor_size(&ten), 0);
}
END_TEST

/* ---------------------------------------------------------------- config helpers */

START_TEST(test_config_helpers)
{
    cJSON *cfg = cJSON_Parse(
        "{\"units\": 4, \"half\": 2.5, \"flag\": true, \"s\": \"x\", \"nil\": null,"
        " \"a1\": \"relu\","
        " \"a2\": {\"module\": \"builtins\", \"class_name\": \"function\","
        "        \"config\": \"tanh\", \"registered_name\": \"function\"},"
        " \"a3\": {\"class_name\": \"Activation\","
        "        \"config\": {\"name\": \"relu\", \"activation\": \"elu\"}},"
        " \"a6\": {\"class_name\": \"Activation\", \"config\": {\"name\": \"elu\"}},"
        " \"a4\": \"swishh\", \"a5\": 3,"
        " \"init\": {\"class_name\": \"RandomUniform\", \"config\": {\"minval\": -1, \"maxval\": 2}}}");
    ck_assert_ptr_nonnull(cfg);
    int i = -1;
    double d = -1;
    bool b = false;
    const char *str = NULL;
    ck_assert_ok(ck_config_get_int(cfg, "units", &i, true));
    ck_assert_int_eq(i, 4);
    ck_assert_fails(ck_config_get_int(cfg, "half", &i, true), CK_ERR_FORMAT);
    assert_message_has("half");
    ck_assert_fails(ck_config_get_int(cfg, "missing", &i, true), CK_ERR_FORMAT);
    ck_assert_ok(ck_config_get_int(cfg, "nil", &i, false));
    ck_assert_int_eq(i, 4);
    ck_assert_ok(ck_config_get_double(cfg, "half", &d));
    ck_assert_double_eq(d, 2.5);
    ck_assert_fails(ck_config_get_double(cfg, "s", &d), CK_ERR_FORMAT);
    ck_assert_ok(ck_config_get_bool(cfg, "flag", &b));
    ck_assert(b);
    ck_assert_fails(ck_config_get_bool(cfg, "units", &b), CK_ERR_FORMAT);
    ck_assert_ok(ck_config_get_string(cfg, "s", &str));
    ck_assert_str_eq(str, "x");
    ck_assert_fails(ck_config_get_string(cfg, "units", &str), CK_ERR_FORMAT);
    /* Activations as a name, a Keras 3 function object and a config object. */
    const char *keys[3] = {"a1", "a2", "a3"}, *want[3] = {"relu", "tanh", "elu"};
    for (int k = 0; k < 3; k++) {
        ck_assert_ok(ck_config_get_activation(cfg, keys[k], &str));
        ck_assert_str_eq(str, want[k]);
    }
    ck_assert_fails(ck_config_get_activation(cfg, "a4", &str), CK_ERR_NAME);
    ck_assert_fails(ck_config_get_activation(cfg, "a5", &str), CK_ERR_FORMAT);
    ck_assert_fails(ck_config_get_activation(cfg, "a6", &str), CK_ERR_FORMAT);
    assert_message_has("'a6'");
    ck_init init = {0};
    ck_assert_ok(ck_config_get_init(cfg, "init", &init));
    ck_assert_str_eq(init.name, "random_uniform");
    ck_assert_double_eq(init.minval, -1);
    ck_assert_double_eq(init.maxval, 2);
    ck_assert_fails(ck_config_get_init(cfg, "s", &init), CK_ERR_NAME);
    assert_message_has("'s'");
    static const char *const known[] = {"units", "half", "flag", "s",  "a1",   "a2",
                                        "a3",    "a4",   "a5",   "a6", "init", NULL};
    ck_assert_ok(ck_config_check_keys(cfg, "Test", known));
    ck_assert_fails(ck_config_check_keys(cfg, "Test", known + 1), CK_ERR_UNSUPPORTED);
    assert_message_has("units");
    cJSON_Delete(cfg);
}
END_TEST

/* ---------------------------------------------------------------- allocation failures */

#define FI_B 3

static const float *fi_input(void)
{
    static float x[FI_B * 4 * 3];
    for (int i = 0; i < FI_B * 4 * 3; i++)
        x[i] = (float)((i * 7) % 11) / 11.0f - 0.4f;
    return x;
}

/* One full use of the library: create, add, build, predict (twice, with
 * two batch sizes). Returns the first failing status; *y gets the output. */
static ck_status run_sequence(ck_model **out, float *y)
{
    const float *x = fi_input();
    ck_model *m = ck_sequential(.seed = 5);
    *out = m;
    ck_status st = m ? CK_OK : ck_error_status();
    if (st == CK_OK)
        st = ck_model_add(m, ck_input(4, 3));
    if (st == CK_OK)
        st = ck_model_add(m, ck_lstm(70, .return_sequences = true)); /* > 64 units: heap scratch */
    if (st == CK_OK)
        st = ck_model_add(m, ck_lstm(5, .go_backwards = true));
    if (st == CK_OK)
        st = ck_model_add(m, ck_dropout(.rate = 0.2));
    if (st == CK_OK)
        st = ck_model_add(m, ck_dense(4, .activation = "relu"));
    if (st == CK_OK)
        st = ck_model_add(m, ck_softmax());
    if (st == CK_OK)
        st = ck_model_build(m);
    if (st == CK_OK)
        st = ck_model_predict(m, x, 1, y);
    if (st == CK_OK)
        st = ck_model_predict(m, x, FI_B, y);
    return st;
}

START_TEST(test_allocation_failures)
{
    float want[FI_B * 4], y[FI_B * 4];
    ck_model *m;
    ck_assert_ok(run_sequence(&m, want));
    ck_model_free(m);
    int failures = 0;
    for (long n = 1; n < 10000; n++) {
        ck_debug_fail_alloc_after(n);
        ck_status st = run_sequence(&m, y);
        ck_debug_fail_alloc_after(0);
        if (st == CK_OK) {
            /* n is past the last allocation: every earlier one was tried. */
            ck_assert_mem_eq(y, want, sizeof want);
            ck_model_free(m);
            break;
        }
        failures++;
        ck_assert_msg(st == CK_ERR_MEMORY || st == CK_ERR_STATE, "allocation %ld: %s (%s)", n,
                      ck_status_name(st), ck_last_error());
        ck_assert_msg(ck_last_error()[0], "allocation %ld failed without a message", n);
        /* A model that was fully assembled recovers: build and predict now work. */
        if (m && ck_model_layer_count(m) == 5 && ck_model_build(m) == CK_OK) {
            ck_assert_ok(ck_model_predict(m, fi_input(), FI_B, y));
            ck_assert_mem_eq(y, want, sizeof want);
        }
        ck_model_free(m);
    }
    ck_assert_int_gt(failures, 10);
}
END_TEST

/* ---------------------------------------------------------------- trainable */

/* Keras layer.trainable = False: the frozen Dense keeps its weights through
 * fit while the others move, and its weights count as non-trainable. */
START_TEST(test_frozen_layer_keeps_weights)
{
    ck_model *m = ck_sequential(.seed = 3);
    ck_layer *frozen = ck_dense(.units = 4, .activation = "tanh", .name = "frozen");
    ck_assert_ok(ck_layer_set_trainable(frozen, false));
    ck_assert(!ck_layer_is_trainable(frozen));
    ck_assert_ok(ck_model_add(m, ck_input(3)));
    ck_assert_ok(ck_model_add(m, frozen));
    ck_assert_ok(ck_model_add(m, ck_dense(.units = 2)));
    ck_assert_ok(ck_model_build(m));
    ck_assert_uint_eq(ck_model_count_non_trainable_params(m), 3 * 4 + 4);
    ck_assert_uint_eq(ck_model_count_trainable_params(m), 4 * 2 + 2);
    ck_assert_fails(ck_layer_set_trainable(NULL, true), CK_ERR_ARGUMENT);

    size_t n = m->n_params;
    float *before = malloc(n * sizeof(float));
    memcpy(before, m->params, n * sizeof(float));
    float x[8 * 3], y[8 * 2];
    for (int i = 0; i < 8 * 3; i++)
        x[i] = (float)((i * 7) % 5) - 2.0f;
    for (int i = 0; i < 8 * 2; i++)
        y[i] = (float)(i % 3);
    ck_tensor tx = {.rank = 2, .dims = {8, 3}, .data = x},
              ty = {.rank = 2, .dims = {8, 2}, .data = y};
    ck_assert_ok(ck_model_compile(m, .optimizer = ck_sgd(.learning_rate = 0.1), .loss = "mse"));
    ck_assert_ok(ck_model_fit(m, &tx, &ty, NULL, .epochs = 3, .batch_size = 4, .verbose = 0));
    ck_tensor k;
    ck_assert_ok(ck_layer_weight(frozen, 0, NULL, &k));
    size_t changed_frozen = 0, changed_other = 0;
    for (size_t i = 0; i < n; i++) {
        bool changed = m->params[i] != before[i];
        bool in_frozen = m->params + i >= k.data && m->params + i < k.data + 16;
        changed_frozen += changed && in_frozen;
        changed_other += changed && !in_frozen;
    }
    ck_assert_uint_eq(changed_frozen, 0);
    ck_assert_uint_gt(changed_other, 5);
    free(before);

    char *text = ck_test_summary(m, CK_SUMMARY_KERAS2);
    ck_assert_ptr_nonnull(strstr(text, "Trainable params: 10\n"));
    ck_assert_ptr_nonnull(strstr(text, "Non-trainable params: 16\n"));
    free(text);
    ck_model_free(m);
}
END_TEST

/* A frozen BatchNormalization normalizes with its moving statistics during
 * fit and leaves them unchanged, as Keras does. */
START_TEST(test_frozen_batch_norm_uses_moving_stats)
{
    ck_model *m = ck_sequential(.seed = 4);
    ck_layer *bn = ck_batch_normalization();
    ck_assert_ok(ck_layer_set_trainable(bn, false));
    ck_assert_ok(ck_model_add(m, ck_input(2)));
    ck_assert_ok(ck_model_add(m, bn));
    ck_assert_ok(ck_model_build(m));
    ck_assert_uint_eq(ck_model_count_trainable_params(m), 0);
    float x[4] = {10, 20, 30, 40};
    ck_tensor tx = {.rank = 2, .dims = {2, 2}, .data = x};
    ck_assert_ok(ck_model_forward(m, &tx, true));
    const float *y = m->act_views[0].data;
    /* Moving mean 0 and variance 1: y = x / sqrt(1 + 1e-3). */
    for (int i = 0; i < 4; i++)
        ck_assert_close(y[i], x[i] / sqrt(1.001), 1e-4);
    ck_tensor mean;
    ck_assert_ok(ck_layer_weight(bn, 2, NULL, &mean));
    ck_assert_float_eq(mean.data[0], 0.0f);
    ck_model_free(m);
}
END_TEST

/* ck_input_named sets the input's name; ck_input keeps working. */
START_TEST(test_named_input)
{
    ck_model *m = ck_sequential();
    ck_layer *in = ck_input_named("frames", 5, 126);
    ck_assert_ptr_nonnull(in);
    ck_assert_str_eq(ck_layer_name(in), "frames");
    ck_assert_ok(ck_model_add(m, in));
    ck_assert_ok(ck_model_add(m, ck_dense(.units = 2)));
    ck_assert_ok(ck_model_build(m));
    int rank;
    int64_t dims[CK_MAX_RANK];
    ck_assert_ok(ck_model_input_shape(m, &rank, dims));
    ck_assert_int_eq(rank, 2);
    ck_assert_int_eq(dims[0], 5);
    ck_assert_int_eq(dims[1], 126);
    ck_model_free(m);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("model");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_layer_option_errors);
    tcase_add_test(tc, test_model_options);
    tcase_add_test(tc, test_null_arguments);
    tcase_add_test(tc, test_state_errors);
    tcase_add_test(tc, test_failed_constructor_poisons_model);
    tcase_add_test(tc, test_duplicate_names);
    tcase_add_test(tc, test_incompatible_layers);
    tcase_add_test(tc, test_bad_inputs);
    tcase_add_test(tc, test_error_messages);
    tcase_add_test(tc, test_config_helpers);
    tcase_add_test(tc, test_memory_and_shape_helpers);
    tcase_add_test(tc, test_allocation_failures);
    tcase_add_test(tc, test_frozen_layer_keeps_weights);
    tcase_add_test(tc, test_frozen_batch_norm_uses_moving_stats);
    tcase_add_test(tc, test_named_input);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return ck_test_run(suite());
}
