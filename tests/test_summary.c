/* model.summary() byte for byte against the Keras texts in keras-facts.md 9,
 * long-name truncation (style A) and wrapping (style B), automatic and
 * explicit layer names, and the parameter-count functions. */
#include "ck_test.h"

#include <string.h>

/* Reports the first differing line, which makes a mismatch readable. */
static void assert_text_eq(const char *got, const char *want)
{
    int line = 1;
    const char *g = got, *w = want;
    while (*g && *g == *w) {
        line += *g == '\n';
        g++, w++;
    }
    if (*g == *w)
        return;
    const char *gl = g, *wl = w;
    while (gl > got && gl[-1] != '\n')
        gl--;
    while (wl > want && wl[-1] != '\n')
        wl--;
    ck_abort_msg("line %d differs:\n got: [%.*s]\nwant: [%.*s]", line, (int)strcspn(gl, "\n"), gl,
                 (int)strcspn(wl, "\n"), wl);
}

static ck_model *flagship(void)
{
    ck_model *m = ck_sequential();
    ck_assert_ok(ck_model_add(m, ck_input(5, 126)));
    ck_assert_ok(ck_model_add(m, ck_lstm(64, .return_sequences = true, .activation = "relu")));
    ck_assert_ok(ck_model_add(m, ck_lstm(128, .return_sequences = true, .activation = "relu")));
    ck_assert_ok(ck_model_add(m, ck_lstm(64, .activation = "relu")));
    ck_assert_ok(ck_model_add(m, ck_dense(64, .activation = "relu")));
    ck_assert_ok(ck_model_add(m, ck_dense(32, .activation = "relu")));
    ck_assert_ok(ck_model_add(m, ck_dense(3, .activation = "softmax")));
    return m;
}

static const char flagship_a[] =
    "Model: \"sequential\"\n"
    "_________________________________________________________________\n"
    "Layer (type)                 Output Shape              Param #   \n"
    "=================================================================\n"
    "lstm (LSTM)                  (None, 5, 64)             48896     \n"
    "_________________________________________________________________\n"
    "lstm_1 (LSTM)                (None, 5, 128)            98816     \n"
    "_________________________________________________________________\n"
    "lstm_2 (LSTM)                (None, 64)                49408     \n"
    "_________________________________________________________________\n"
    "dense (Dense)                (None, 64)                4160      \n"
    "_________________________________________________________________\n"
    "dense_1 (Dense)              (None, 32)                2080      \n"
    "_________________________________________________________________\n"
    "dense_2 (Dense)              (None, 3)                 99        \n"
    "=================================================================\n"
    "Total params: 203,459\n"
    "Trainable params: 203,459\n"
    "Non-trainable params: 0\n"
    "_________________________________________________________________\n";

#define FLAGSHIP_B_ROWS                                                   \
    "Model: \"sequential\"\n"                                             \
    "_________________________________________________________________\n" \
    " Layer (type)                Output Shape              Param #   \n" \
    "=================================================================\n" \
    " lstm (LSTM)                 (None, 5, 64)             48896     \n" \
    "                                                                 \n" \
    " lstm_1 (LSTM)               (None, 5, 128)            98816     \n" \
    "                                                                 \n" \
    " lstm_2 (LSTM)               (None, 64)                49408     \n" \
    "                                                                 \n" \
    " dense (Dense)               (None, 64)                4160      \n" \
    "                                                                 \n" \
    " dense_1 (Dense)             (None, 32)                2080      \n" \
    "                                                                 \n" \
    " dense_2 (Dense)             (None, 3)                 99        \n" \
    "                                                                 \n" \
    "=================================================================\n"

static const char flagship_b[] = FLAGSHIP_B_ROWS
    "Total params: 203,459\n"
    "Trainable params: 203,459\n"
    "Non-trainable params: 0\n"
    "_________________________________________________________________\n";

static const char flagship_c[] = FLAGSHIP_B_ROWS
    "Total params: 203459 (794.76 KB)\n"
    "Trainable params: 203459 (794.76 KB)\n"
    "Non-trainable params: 0 (0.00 Byte)\n"
    "_________________________________________________________________\n";

static const char flagship_k3[] =
    "Model: \"sequential\"\n"
    "┏━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━┓\n"
    "┃ Layer (type)                    ┃ Output Shape           ┃       Param # ┃\n"
    "┡━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━┩\n"
    "│ lstm (LSTM)                     │ (None, 5, 64)          │        48,896 │\n"
    "├─────────────────────────────────┼────────────────────────┼───────────────┤\n"
    "│ lstm_1 (LSTM)                   │ (None, 5, 128)         │        98,816 │\n"
    "├─────────────────────────────────┼────────────────────────┼───────────────┤\n"
    "│ lstm_2 (LSTM)                   │ (None, 64)             │        49,408 │\n"
    "├─────────────────────────────────┼────────────────────────┼───────────────┤\n"
    "│ dense (Dense)                   │ (None, 64)             │         4,160 │\n"
    "├─────────────────────────────────┼────────────────────────┼───────────────┤\n"
    "│ dense_1 (Dense)                 │ (None, 32)             │         2,080 │\n"
    "├─────────────────────────────────┼────────────────────────┼───────────────┤\n"
    "│ dense_2 (Dense)                 │ (None, 3)              │            99 │\n"
    "└─────────────────────────────────┴────────────────────────┴───────────────┘\n"
    " Total params: 203,459 (794.76 KB)\n"
    " Trainable params: 203,459 (794.76 KB)\n"
    " Non-trainable params: 0 (0.00 B)\n";

START_TEST(test_flagship_summaries)
{
    static const struct {
        ck_summary_style style;
        const char *text;
    } cases[] = {
        {CK_SUMMARY_KERAS2, flagship_a},
        {CK_SUMMARY_KERAS2_7, flagship_b},
        {CK_SUMMARY_KERAS2_13, flagship_c},
        {CK_SUMMARY_KERAS3, flagship_k3},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        /* summary builds an unbuilt model itself. */
        ck_model *m = flagship();
        ck_assert(!ck_model_is_built(m));
        char *text = ck_test_summary(m, cases[k].style);
        ck_assert(ck_model_is_built(m));
        assert_text_eq(text, cases[k].text);
        free(text);
        ck_model_free(m);
    }
}
END_TEST

START_TEST(test_flagship_counts)
{
    ck_model *m = flagship();
    ck_assert_uint_eq(ck_model_count_params(m), 0); /* nothing before build */
    ck_assert_ok(ck_model_build(m));
    static const size_t per_layer[6] = {48896, 98816, 49408, 4160, 2080, 99};
    static const char *names[6] = {"lstm", "lstm_1", "lstm_2", "dense", "dense_1", "dense_2"};
    static const char *classes[6] = {"LSTM", "LSTM", "LSTM", "Dense", "Dense", "Dense"};
    ck_assert_int_eq(ck_model_layer_count(m), 6);
    size_t sum = 0;
    for (int i = 0; i < 6; i++) {
        ck_layer *l = ck_model_layer(m, i);
        ck_assert_uint_eq(ck_layer_count_params(l), per_layer[i]);
        ck_assert_str_eq(ck_layer_name(l), names[i]);
        ck_assert_str_eq(ck_layer_class_name(l), classes[i]);
        ck_assert_ptr_eq(ck_model_get_layer(m, names[i]), l);
        sum += per_layer[i];
    }
    ck_assert_uint_eq(sum, 203459);
    ck_assert_uint_eq(ck_model_count_params(m), 203459);
    ck_assert_uint_eq(ck_model_count_trainable_params(m), 203459);
    ck_assert_uint_eq(ck_model_count_non_trainable_params(m), 0);

    int rank;
    int64_t dims[CK_MAX_RANK];
    ck_assert_ok(ck_layer_output_shape(ck_model_layer(m, 1), &rank, dims));
    ck_assert_int_eq(rank, 3);
    ck_assert_int_eq(dims[0], CK_NONE);
    ck_assert_int_eq(dims[1], 5);
    ck_assert_int_eq(dims[2], 128);
    ck_assert_ok(ck_model_input_shape(m, &rank, dims));
    ck_assert_int_eq(rank, 2);
    ck_assert_int_eq(dims[0], 5);
    ck_assert_int_eq(dims[1], 126);
    ck_assert_ok(ck_model_output_shape(m, &rank, dims));
    ck_assert_int_eq(rank, 1);
    ck_assert_int_eq(dims[0], 3);
    ck_model_free(m);
}
END_TEST

/* A long layer name and some weightless layers. */
static ck_model *small_model(void)
{
    ck_model *m = ck_sequential(.name = "my_model");
    ck_assert_ok(ck_model_add(m, ck_input(8)));
    ck_assert_ok(ck_model_add(m, ck_dense(4, .name = "a_very_long_dense_layer_name_for_wrapping")));
    ck_assert_ok(ck_model_add(m, ck_dropout(.rate = 0.25)));
    ck_assert_ok(ck_model_add(m, ck_dense(3, .name = "out")));
    ck_assert_ok(ck_model_add(m, ck_activation(.activation = "softmax")));
    return m;
}

START_TEST(test_long_name_style_a)
{
    /* Each cell is cut at its column end and its last character blanked. */
    static const char want[] =
        "Model: \"my_model\"\n"
        "_________________________________________________________________\n"
        "Layer (type)                 Output Shape              Param #   \n"
        "=================================================================\n"
        "a_very_long_dense_layer_name (None, 4)                 36        \n"
        "_________________________________________________________________\n"
        "dropout (Dropout)            (None, 4)                 0         \n"
        "_________________________________________________________________\n"
        "out (Dense)                  (None, 3)                 15        \n"
        "_________________________________________________________________\n"
        "activation (Activation)      (None, 3)                 0         \n"
        "=================================================================\n"
        "Total params: 51\n"
        "Trainable params: 51\n"
        "Non-trainable params: 0\n"
        "_________________________________________________________________\n";
    ck_model *m = small_model();
    char *text = ck_test_summary(m, CK_SUMMARY_KERAS2);
    assert_text_eq(text, want);
    free(text);
    ck_model_free(m);
}
END_TEST

START_TEST(test_long_name_style_b_wraps)
{
    /* 27 characters per line in the first column; the overlong first line
     * pushes the shape one column right, as Keras's print_row does. */
    static const char want[] =
        "Model: \"my_model\"\n"
        "_________________________________________________________________\n"
        " Layer (type)                Output Shape              Param #   \n"
        "=================================================================\n"
        " a_very_long_dense_layer_nam  (None, 4)                36        \n"
        " e_for_wrapping (Dense)                                          \n"
        "                                                                 \n"
        " dropout (Dropout)           (None, 4)                 0         \n"
        "                                                                 \n"
        " out (Dense)                 (None, 3)                 15        \n"
        "                                                                 \n"
        " activation (Activation)     (None, 3)                 0         \n"
        "                                                                 \n"
        "=================================================================\n"
        "Total params: 51 (204.00 Byte)\n"
        "Trainable params: 51 (204.00 Byte)\n"
        "Non-trainable params: 0 (0.00 Byte)\n"
        "_________________________________________________________________\n";
    ck_model *m = small_model();
    char *text = ck_test_summary(m, CK_SUMMARY_KERAS2_13);
    assert_text_eq(text, want);
    free(text);
    ck_model_free(m);
}
END_TEST

/* Keras 3 (rich) wraps a long cell inside its column at spaces; a word
 * longer than the column gets a line of its own, cut with an ellipsis
 * (rich's default overflow, as in "global_average_poo…" of Keras 3
 * summaries); the row grows to fit. */
START_TEST(test_long_name_keras3_wraps)
{
    static const char want[] =
        "│ a_very_long_dense_layer_name_f… │ (None, 4)              │            36 │\n"
        "│ (Dense)                         │                        │               │\n"
        "├─────────────────────────────────┼────────────────────────┼───────────────┤\n"
        "│ dropout (Dropout)               │ (None, 4)              │             0 │\n";
    ck_model *m = small_model();
    char *text = ck_test_summary(m, CK_SUMMARY_KERAS3);
    ck_assert_msg(strstr(text, want), "wrapped rows not found in:\n%s", text);
    free(text);
    ck_model_free(m);
}
END_TEST

/* Keras 3.0.0-3.0.4 end the Output Shape column at 0.84 of the width, not
 * 0.80: rich then draws 33, 27 and 12 characters (keras-io's guides of that
 * time show the same table). */
START_TEST(test_keras3_0_columns)
{
    static const char want[] =
        "┏━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━┓\n"
        "┃ Layer (type)                    ┃ Output Shape              ┃    Param # ┃\n"
        "┡━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━┩\n"
        "│ a_very_long_dense_layer_name_f… │ (None, 4)                 │         36 │\n";
    ck_model *m = small_model();
    char *text = ck_test_summary(m, CK_SUMMARY_KERAS3_0);
    ck_assert_msg(strstr(text, want), "Keras 3.0 columns not found in:\n%s", text);
    free(text);
    ck_model_free(m);
}
END_TEST

/* A Keras 3 Functional model whose LSTM takes the mask of a Masking layer:
 * its node has two input tensors, so Keras prints the graph table, with
 * the mask ops as rows and the tensors each call took. */
START_TEST(test_keras3_masked_functional)
{
    static const char want[] =
        "Model: \"functional\"\n"
        "┏━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━┓\n"
        "┃ Layer (type)        ┃ Output Shape      ┃    Param # ┃ Connected to      ┃\n"
        "┡━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━┩\n"
        "│ input_layer         │ (None, 5, 3)      │          0 │ -                 │\n"
        "│ (InputLayer)        │                   │            │                   │\n"
        "├─────────────────────┼───────────────────┼────────────┼───────────────────┤\n"
        "│ masking (Masking)   │ (None, 5, 3)      │          0 │ input_layer[0][0] │\n"
        "├─────────────────────┼───────────────────┼────────────┼───────────────────┤\n"
        "│ not_equal           │ (None, 5, 3)      │          0 │ input_layer[0][0] │\n"
        "│ (NotEqual)          │                   │            │                   │\n"
        "├─────────────────────┼───────────────────┼────────────┼───────────────────┤\n"
        "│ any (Any)           │ (None, 5)         │          0 │ not_equal[0][0]   │\n"
        "├─────────────────────┼───────────────────┼────────────┼───────────────────┤\n"
        "│ lstm_with_a_long_n… │ (None, 4)         │        128 │ masking[0][0],    │\n"
        "│ (LSTM)              │                   │            │ any[0][0]         │\n"
        "├─────────────────────┼───────────────────┼────────────┼───────────────────┤\n"
        "│ dense (Dense)       │ (None, 2)         │         10 │ lstm_with_a_long… │\n"
        "└─────────────────────┴───────────────────┴────────────┴───────────────────┘\n"
        " Total params: 138 (552.00 B)\n"
        " Trainable params: 138 (552.00 B)\n"
        " Non-trainable params: 0 (0.00 B)\n";
    static const char tensor[] =
        "{\"class_name\": \"__keras_tensor__\", \"config\": {\"shape\": %s, \"dtype\": \"%s\", "
        "\"keras_history\": [\"%s\", 0, 0]}}";
    static const char entry[] =
        "{\"module\": \"%s\", \"class_name\": \"%s\", \"config\": {\"name\": \"%s\"%s}, "
        "\"name\": \"%s\", \"inbound_nodes\": [{\"args\": [%s%s], \"kwargs\": {%s}}]}";
    char in[200], ne[200], any[200], masked[200], lstm[200], mask[260], e[5][700], json[4000];
    snprintf(in, sizeof in, tensor, "[null, 5, 3]", "float32", "input_layer");
    snprintf(ne, sizeof ne, tensor, "[null, 5, 3]", "bool", "not_equal");
    snprintf(masked, sizeof masked, tensor, "[null, 5, 3]", "float32", "masking");
    snprintf(any, sizeof any, tensor, "[null, 5]", "bool", "any");
    snprintf(lstm, sizeof lstm, tensor, "[null, 4]", "float32", "lstm_with_a_long_name");
    snprintf(mask, sizeof mask, "\"training\": false, \"mask\": %s", any);
    snprintf(e[0], sizeof e[0], entry, "keras.layers", "Masking", "masking", "", "masking", in, "",
             "");
    snprintf(e[1], sizeof e[1], entry, "keras.src.ops.numpy", "NotEqual", "not_equal", "",
             "not_equal", in, ", 0.0", "");
    snprintf(e[2], sizeof e[2], entry, "keras.src.ops.numpy", "Any", "any",
             ", \"axis\": -1, \"keepdims\": false", "any", ne, "", "");
    snprintf(e[3], sizeof e[3], entry, "keras.layers", "LSTM", "lstm_with_a_long_name",
             ", \"units\": 4", "lstm_with_a_long_name", masked, "", mask);
    snprintf(e[4], sizeof e[4], entry, "keras.layers", "Dense", "dense", ", \"units\": 2", "dense",
             lstm, "", "");
    snprintf(json, sizeof json,
             "{\"module\": \"keras.src.models.functional\", \"class_name\": \"Functional\", "
             "\"config\": {\"name\": \"functional\", \"layers\": [{\"module\": \"keras.layers\", "
             "\"class_name\": \"InputLayer\", \"config\": {\"batch_shape\": [null, 5, 3], "
             "\"name\": \"input_layer\"}, \"name\": \"input_layer\", \"inbound_nodes\": []}, "
             "%s, %s, %s, %s, %s], \"input_layers\": [\"input_layer\", 0, 0], "
             "\"output_layers\": [\"dense\", 0, 0]}}",
             e[0], e[1], e[2], e[3], e[4]);
    ck_model *m = NULL;
    ck_assert_ok(ck_model_from_json(json, &m));
    char *text = ck_test_summary(m, CK_SUMMARY_KERAS3);
    assert_text_eq(text, want);
    free(text);
    /* Keras 2 tables have no such column; a changed model drops the rows. */
    text = ck_test_summary(m, CK_SUMMARY_KERAS2);
    ck_assert_ptr_null(strstr(text, "not_equal"));
    free(text);
    ck_assert_ok(ck_model_pop(m));
    text = ck_test_summary(m, CK_SUMMARY_KERAS3);
    ck_assert_ptr_null(strstr(text, "Connected to"));
    ck_assert_ptr_nonnull(strstr(text, "│ lstm_with_a_long_name (LSTM)    │ (None, 4)"));
    free(text);
    ck_model_free(m);
}
END_TEST

START_TEST(test_open_axis_and_big_numbers)
{
    ck_model *m = ck_sequential();
    ck_assert_ok(ck_model_add(m, ck_input(CK_NONE, 300)));
    ck_assert_ok(ck_model_add(m, ck_dense(.units = 4000)));
    char *a = ck_test_summary(m, CK_SUMMARY_KERAS2);
    /* 300*4000 + 4000 = 1,204,000 */
    ck_assert_ptr_nonnull(
        strstr(a, "dense (Dense)                (None, None, 4000)        1204000   \n"));
    ck_assert_ptr_nonnull(strstr(a, "Total params: 1,204,000\n"));
    free(a);
    char *c = ck_test_summary(m, CK_SUMMARY_KERAS2_13);
    ck_assert_ptr_nonnull(strstr(c, "Total params: 1204000 (4.59 MB)\n"));
    free(c);
    char *k3 = ck_test_summary(m, CK_SUMMARY_KERAS3);
    ck_assert_ptr_nonnull(strstr(
        k3, "│ dense (Dense)                   │ (None, None, 4000)     │     1,204,000 │\n"));
    ck_assert_ptr_nonnull(strstr(k3, " Total params: 1,204,000 (4.59 MB)\n"));
    free(k3);
    ck_model_free(m);
}
END_TEST

/* Keras 3 counts a built optimizer's variables (Adam: m and v per weight,
 * plus the int64 iteration and the learning rate) and adds them to the
 * total; before the first step there is no such line. */
START_TEST(test_keras3_optimizer_params)
{
    ck_model *m = ck_sequential();
    ck_assert_ok(ck_model_add(m, ck_input(4)));
    ck_assert_ok(ck_model_add(m, ck_dense(.units = 3)));
    ck_assert_ok(ck_model_compile(m, .optimizer = ck_adam(), .loss = "mse"));
    char *before = ck_test_summary(m, CK_SUMMARY_KERAS3);
    ck_assert_ptr_null(strstr(before, "Optimizer params"));
    ck_assert_ptr_nonnull(strstr(before, " Total params: 15 (60.00 B)\n"));
    free(before);
    float x[4] = {1, 2, 3, 4}, y[3] = {0, 1, 0};
    ck_tensor tx = {.rank = 2, .dims = {1, 4}, .data = x},
              ty = {.rank = 2, .dims = {1, 3}, .data = y};
    ck_assert_ok(ck_model_train_on_batch(m, &tx, &ty, NULL));
    char *after = ck_test_summary(m, CK_SUMMARY_KERAS3);
    /* 2 * 15 + 2 variables; 31 float32 and one int64: 132 bytes. */
    ck_assert_msg(strstr(after, " Total params: 47 (192.00 B)\n"
                                " Trainable params: 15 (60.00 B)\n"
                                " Non-trainable params: 0 (0.00 B)\n"
                                " Optimizer params: 32 (132.00 B)\n"),
                  "%s", after);
    free(after);
    char *k2 = ck_test_summary(m, CK_SUMMARY_KERAS2);
    ck_assert_ptr_null(strstr(k2, "Optimizer"));
    free(k2);
    /* Keras 3's load_model builds the optimizer of a compiled .keras. */
    ck_model *back = NULL;
    ck_assert_ok(ck_model_compile(m, .optimizer = ck_adam(), .loss = "mse"));
    ck_assert_ok(ck_model_save(m, ck_test_path("compiled.keras")));
    ck_assert_ok(ck_model_load(ck_test_path("compiled.keras"), &back));
    char *loaded = ck_test_summary(back, CK_SUMMARY_KERAS3);
    ck_assert_msg(strstr(loaded, " Optimizer params: 32 (132.00 B)\n"), "%s", loaded);
    free(loaded);
    ck_model_free(back);
    ck_model_free(m);
}
END_TEST

START_TEST(test_auto_and_explicit_names)
{
    ck_model *m = ck_sequential();
    ck_assert_ok(ck_model_add(m, ck_input(4, 3)));
    ck_assert_ok(ck_model_add(m, ck_lstm(2, .return_sequences = true)));
    ck_assert_ok(ck_model_add(m, ck_lstm(2, .return_sequences = true, .name = "lstm_1")));
    ck_assert_ok(ck_model_add(m, ck_lstm(2, .return_sequences = true)));
    ck_assert_ok(ck_model_add(m, ck_dense(2, .name = "dense_1")));
    ck_assert_ok(ck_model_add(m, ck_dense(.units = 2)));
    ck_assert_ok(ck_model_add(m, ck_dense(.units = 2)));
    ck_assert_ok(ck_model_add(m, ck_dropout(.rate = 0.1)));
    ck_assert_ok(ck_model_add(m, ck_softmax()));
    ck_assert_ok(ck_model_add(m, ck_activation("relu", .name = "my relu")));
    const char *want[] = {"lstm",    "lstm_1",  "lstm_2",  "dense_1", "dense",
                          "dense_2", "dropout", "softmax", "my relu"};
    ck_assert_int_eq(ck_model_layer_count(m), 9);
    for (int i = 0; i < 9; i++)
        ck_assert_str_eq(ck_layer_name(ck_model_layer(m, i)), want[i]);
    /* Names are unique, so an explicit clash is refused. */
    ck_assert_fails(ck_model_add(m, ck_dense(2, .name = "dense_2")), CK_ERR_NAME);
    ck_assert_ptr_nonnull(strstr(ck_last_error(), "dense_2"));
    ck_assert_fails(ck_model_add(m, ck_dense(2, .name = "input_1")), CK_ERR_NAME);
    ck_assert_int_eq(ck_model_layer_count(m), 9);
    ck_assert_str_eq(ck_model_name(m), "sequential");
    ck_model_free(m);

    /* Names are per model: a second model starts again at "dense". */
    m = ck_sequential(.name = "second");
    ck_assert_ok(
        ck_model_add(m, ck_input_new(&(ck_input_options){.shape = {3}, .name = "features"})));
    ck_assert_ok(ck_model_add(m, ck_dense(.units = 2)));
    ck_assert_str_eq(ck_layer_name(ck_model_layer(m, 0)), "dense");
    ck_assert_str_eq(ck_model_name(m), "second");
    ck_assert_ok(ck_model_add(m, ck_dense(.units = 2)));
    ck_assert_str_eq(ck_layer_name(ck_model_layer(m, 1)), "dense_1");
    char *text = ck_test_summary(m, CK_SUMMARY_KERAS2);
    ck_assert(!strncmp(text, "Model: \"second\"\n", 16));
    ck_assert_ptr_null(strstr(text, "features")); /* the InputLayer is not listed */
    free(text);
    ck_model_free(m);
}
END_TEST

/* A Functional model as standalone Keras 2.2.x/2.3.x's to_json writes it,
 * with the given keras_version. */
static ck_model *keras2_functional(const char *version)
{
    static const char fmt[] =
        "{\"class_name\": \"Model\", \"config\": {\"name\": \"model_1\", \"layers\": ["
        "{\"name\": \"input_1\", \"class_name\": \"InputLayer\", \"config\": "
        "{\"batch_input_shape\": [null, 5, 126], \"dtype\": \"float32\", \"sparse\": false, "
        "\"name\": \"input_1\"}, \"inbound_nodes\": []}, "
        "{\"name\": \"lstm_1\", \"class_name\": \"LSTM\", \"config\": {\"name\": \"lstm_1\", "
        "\"units\": 64}, \"inbound_nodes\": [[[\"input_1\", 0, 0, {}]]]}, "
        "{\"name\": \"dense_1\", \"class_name\": \"Dense\", \"config\": {\"name\": \"dense_1\", "
        "\"units\": 3}, \"inbound_nodes\": [[[\"lstm_1\", 0, 0, {}]]]}], "
        "\"input_layers\": [[\"input_1\", 0, 0]], \"output_layers\": [[\"dense_1\", 0, 0]]}, "
        "\"keras_version\": \"%s\", \"backend\": \"tensorflow\"}";
    char json[sizeof fmt + 32];
    snprintf(json, sizeof json, fmt, version);
    ck_model *m = NULL;
    ck_assert_ok(ck_model_from_json(json, &m));
    return m;
}

/* Standalone Keras printed the Model: line from 2.2.5 on; its InputLayer's
 * output_shape is unpack_singleton of the node's [batch_input_shape], a
 * tuple, where tf.keras ("-tf", 2.4+) prints the list (keras/utils/
 * layer_utils.py, engine/base_layer.py, engine/input_layer.py at 2.2.4-2.3.1). */
START_TEST(test_style_of_keras_version)
{
    static const struct {
        const char *version;
        ck_summary_style style;
    } cases[] = {
        {"2.0.9", CK_SUMMARY_KERAS2_2},  {"2.2.4", CK_SUMMARY_KERAS2_2},
        {"2.2.5", CK_SUMMARY_KERAS2_3},  {"2.3.0", CK_SUMMARY_KERAS2_3},
        {"2.3.1", CK_SUMMARY_KERAS2_3},  {"2.2.4-tf", CK_SUMMARY_KERAS2},
        {"2.3.0-tf", CK_SUMMARY_KERAS2}, {"2.4.0", CK_SUMMARY_KERAS2},
        {"2.6.0", CK_SUMMARY_KERAS2},    {"2.7.0", CK_SUMMARY_KERAS2_7},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        ck_model *m = keras2_functional(cases[k].version);
        ck_assert_msg(ck_model_summary_style(m) == cases[k].style, "%s: style %d, want %d",
                      cases[k].version, (int)ck_model_summary_style(m), (int)cases[k].style);
        ck_model_free(m);
    }
}
END_TEST

/* What Keras 2.3.1's print_summary printed for this model, line by line. */
START_TEST(test_keras_2_3_1_functional)
{
    static const char want[] =
        "Model: \"model_1\"\n"
        "_________________________________________________________________\n"
        "Layer (type)                 Output Shape              Param #   \n"
        "=================================================================\n"
        "input_1 (InputLayer)         (None, 5, 126)            0         \n"
        "_________________________________________________________________\n"
        "lstm_1 (LSTM)                (None, 64)                48896     \n"
        "_________________________________________________________________\n"
        "dense_1 (Dense)              (None, 3)                 195       \n"
        "=================================================================\n"
        "Total params: 49,091\n"
        "Trainable params: 49,091\n"
        "Non-trainable params: 0\n"
        "_________________________________________________________________\n";
    ck_model *m = keras2_functional("2.3.1");
    char *text = ck_test_summary(m, ck_model_summary_style(m));
    assert_text_eq(text, want);
    free(text);
    /* tf.keras's layout differs in the InputLayer's row only. */
    text = ck_test_summary(m, CK_SUMMARY_KERAS2);
    ck_assert_ptr_nonnull(
        strstr(text, "\ninput_1 (InputLayer)         [(None, 5, 126)]          0         \n"));
    free(text);
    ck_model_free(m);
}
END_TEST

START_TEST(test_summary_errors)
{
    ck_model *m = flagship();
    ck_assert_fails(ck_model_summary(NULL, stdout, CK_SUMMARY_KERAS2), CK_ERR_ARGUMENT);
    ck_assert_fails(ck_model_summary(m, NULL, CK_SUMMARY_KERAS2), CK_ERR_ARGUMENT);
    ck_assert_fails(ck_model_summary(m, stdout, (ck_summary_style)17), CK_ERR_ARGUMENT);
    ck_assert_fails(ck_model_summary(m, stdout, (ck_summary_style)-1), CK_ERR_ARGUMENT);
    ck_model_free(m);
    m = ck_sequential();
    ck_assert_ok(ck_model_add(m, ck_dense(.units = 3)));
    ck_assert_fails(ck_model_summary(m, stdout, CK_SUMMARY_KERAS2), CK_ERR_STATE);
    ck_model_free(m);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("summary");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_flagship_summaries);
    tcase_add_test(tc, test_flagship_counts);
    tcase_add_test(tc, test_long_name_style_a);
    tcase_add_test(tc, test_long_name_style_b_wraps);
    tcase_add_test(tc, test_long_name_keras3_wraps);
    tcase_add_test(tc, test_keras3_0_columns);
    tcase_add_test(tc, test_keras3_masked_functional);
    tcase_add_test(tc, test_open_axis_and_big_numbers);
    tcase_add_test(tc, test_keras3_optimizer_params);
    tcase_add_test(tc, test_auto_and_explicit_names);
    tcase_add_test(tc, test_style_of_keras_version);
    tcase_add_test(tc, test_keras_2_3_1_functional);
    tcase_add_test(tc, test_summary_errors);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return ck_test_run(suite());
}
