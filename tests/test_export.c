/* ck_model_export_c: every exportable layer and every real Keras fixture
 * is exported, compiled with gcc and clang under -std=c99 -pedantic -Wall
 * -Wextra -Werror -O2, run, and compared with ckeras's own predict;
 * streaming frame by frame must give the whole-sequence outputs. */
#include "ck_export_test.h"
#include "ck_internal.h"

#include <string.h>
#include <sys/stat.h>

/* Reads n samples from argv[2], writes predict's outputs to argv[3] and,
 * for a streaming model, every step's output to argv[4] (after a header of
 * step output size and timesteps). The state is reset before each sample,
 * as ckeras starts every sample of a batch from zeros. */
static const char harness[] =
    "#include \"model.h\"\n"
    "#include <stdio.h>\n"
    "#include <stdlib.h>\n"
    "static model_state s;\n"
    "static int save(const char *path, const float *v, long n)\n"
    "{\n"
    "    FILE *f = fopen(path, \"wb\");\n"
    "    int ok = f && fwrite(v, sizeof(float), (size_t)n, f) == (size_t)n;\n"
    "    return f && fclose(f) == 0 && ok;\n"
    "}\n"
    "int main(int argc, char **argv)\n"
    "{\n"
    "    long n = argc > 4 ? atol(argv[1]) : 0, i;\n"
    "    float *x = malloc(sizeof(float) * model_INPUT_SIZE * (size_t)n);\n"
    "    float *y = malloc(sizeof(float) * model_OUTPUT_SIZE * (size_t)n);\n"
    "    FILE *f = fopen(argv[2], \"rb\");\n"
    "    if (!x || !y || !f || fread(x, sizeof(float), (size_t)(model_INPUT_SIZE * n), f) != (size_t)(model_INPUT_SIZE * n))\n"
    "        return 1;\n"
    "    fclose(f);\n"
    "    for (i = 0; i < n; i++) {\n"
    "        model_reset(&s);\n"
    "        model_predict(x + i * model_INPUT_SIZE, y + i * model_OUTPUT_SIZE, &s);\n"
    "    }\n"
    "    if (!save(argv[3], y, model_OUTPUT_SIZE * n))\n"
    "        return 1;\n"
    "#ifdef model_TIMESTEPS\n"
    "    {\n"
    "        long t, per = (long)model_TIMESTEPS * model_STEP_OUTPUT_SIZE;\n"
    "        float *z = malloc(sizeof(float) * (size_t)(per * n + 2));\n"
    "        if (!z)\n"
    "            return 1;\n"
    "        z[0] = (float)model_STEP_OUTPUT_SIZE;\n"
    "        z[1] = (float)model_TIMESTEPS;\n"
    "        for (i = 0; i < n; i++) {\n"
    "            model_reset(&s);\n"
    "            for (t = 0; t < model_TIMESTEPS; t++)\n"
    "                model_step(x + i * model_INPUT_SIZE + t * model_FRAME_SIZE,\n"
    "                           z + 2 + i * per + t * model_STEP_OUTPUT_SIZE, &s);\n"
    "        }\n"
    "        if (!save(argv[4], z, per * n + 2))\n"
    "            return 1;\n"
    "        free(z);\n"
    "    }\n"
    "#endif\n"
    "    free(x);\n"
    "    free(y);\n"
    "    return 0;\n"
    "}\n";

static const char *const compilers[] = {"gcc", "clang"};

static void setup(void)
{
    ck_test_make_dir("ckexport");
    FILE *f = fopen(ck_test_path("harness.c"), "w");
    ck_assert_ptr_nonnull(f);
    fputs(harness, f);
    fclose(f);
}

static size_t sample_size(ck_model *m, bool output)
{
    int rank;
    int64_t dims[CK_MAX_RANK];
    ck_assert_ok(output ? ck_model_output_shape(m, &rank, dims)
                        : ck_model_input_shape(m, &rank, dims));
    size_t n = 1;
    for (int i = 0; i < rank; i++)
        n *= (size_t)dims[i];
    return n;
}

/* |a - b|, 0 when both are NaN (Keras's 0/0 of a fully masked average). */
static double gap(double a, double b)
{
    return a != a && b != b ? 0.0 : fabs(a - b);
}

static double max_diff(const float *a, const float *b, size_t n, size_t *where)
{
    double worst = 0;
    for (size_t i = 0; i < n; i++) {
        double d = gap(a[i], b[i]);
        if (d > worst || d != d) {
            worst = d != d ? INFINITY : d;
            *where = i;
        }
    }
    return worst;
}

/* Frame-by-frame outputs equal predict's: the last step's for a model
 * that ends the time axis, every step's row for a sequence output. */
static void check_steps(const float *pred, size_t out, int64_t n)
{
    float *z = ck_export_read_floats("steps.bin", 2);
    size_t step_out = (size_t)z[0], T = (size_t)z[1];
    free(z);
    z = ck_export_read_floats("steps.bin", 2 + (size_t)n * T * step_out);
    bool seq = step_out * T == out && step_out != out;
    ck_assert_msg(seq || step_out == out, "step output %zu vs output %zu", step_out, out);
    for (int64_t i = 0; i < n; i++) {
        const float *steps = z + 2 + (size_t)i * T * step_out, *p = pred + (size_t)i * out;
        size_t k = 0;
        double d = seq ? max_diff(steps, p, out, &k)
                       : max_diff(steps + (T - 1) * step_out, p, out, &k);
        ck_assert_msg(d == 0.0, "sample %lld: streaming differs from predict by %g at %zu",
                      (long long)i, d, k);
    }
    free(z);
}

/* Whether to build the generated files with cc. Under the sanitizers the
 * exporter runs, which is what they check, but its files are not built:
 * they would be compiled without instrumentation, from the same text the
 * plain build compiles and runs. */
static bool build_with(const char *cc)
{
#ifdef CK_TEST_UNDER_SANITIZER
    (void)cc;
    return false;
#else
    bool have = ck_export_have(cc);
    if (!have)
        ck_test_skip("%s is not installed", cc);
    return have;
#endif
}

/* Builds model.c (exported as `rep` says) with each compiler, runs it on
 * x and compares with ckeras: float32 within tol (relative to 1 + |y|);
 * float16 and int8 must move the outputs as far as the report says the
 * rounded weights do. */
static void check_built(ck_model *m, const float *x, int64_t n, ck_export_quantize q, double tol,
                        const ck_export_report *rep)
{
    size_t in = sample_size(m, false), out = sample_size(m, true);
    float *ref = malloc(sizeof(float) * out * (size_t)n);
    ck_assert_ptr_nonnull(ref);
    ck_assert_ok(ck_model_reset_states(m));
    ck_assert_ok(ck_model_predict(m, x, n, ref));
    ck_export_write_floats("x.bin", x, in * (size_t)n);
    for (size_t c = 0; c < sizeof compilers / sizeof compilers[0]; c++) {
        if (!build_with(compilers[c]))
            continue;
        remove(ck_test_path("steps.bin"));
        ck_assert_int_eq(ck_export_sh("cd '%s' && %s " CK_EXPORT_CFLAGS
                                      " model.c harness.c -lm -o run > cc.log 2>&1 "
                                      "|| (head -c 3000 cc.log; false)",
                                      ck_test_path(""), compilers[c]),
                         0);
        ck_assert_int_eq(ck_export_sh("cd '%s' && ./run %lld x.bin pred.bin steps.bin",
                                      ck_test_path(""), (long long)n),
                         0);
        float *pred = ck_export_read_floats("pred.bin", out * (size_t)n);
        size_t k = 0;
        double worst = 0;
        for (size_t i = 0; i < out * (size_t)n; i++) {
            double d = gap(pred[i], ref[i]) / (1.0 + (ref[i] == ref[i] ? fabs(ref[i]) : 0.0));
            if (d > worst || d != d) {
                worst = d != d ? INFINITY : d;
                k = i;
            }
        }
        if (q == CK_EXPORT_FLOAT32) {
            ck_assert_msg(worst <= tol, "%s: output %zu is %.9g, ckeras %.9g", compilers[c], k,
                          pred[k], ref[k]);
        } else {
            double moved = max_diff(pred, ref, out * (size_t)n, &k);
            ck_assert_msg(
                fabs(moved - rep->max_abs_diff) <= 1e-4,
                "%s: the generated code moves the outputs by %g, the rounded weights by %g",
                compilers[c], moved, rep->max_abs_diff);
        }
        if (rep->streaming)
            check_steps(pred, out, n);
        free(pred);
    }
    free(ref);
}

/* Exports m as model.c with x as the report's sample, then check_built. */
static void check_model_with(ck_model *m, const float *x, int64_t n, ck_export_quantize q,
                             double tol)
{
    ck_tensor sample = {.dims = {n}, .data = (float *)x};
    int64_t dims[CK_MAX_RANK];
    ck_assert_ok(ck_model_input_shape(m, &sample.rank, dims));
    memcpy(sample.dims + 1, dims, sizeof(int64_t) * (size_t)sample.rank);
    sample.rank++;
    ck_export_report rep;
    ck_export_files(m, ck_test_path("model.c"), ck_test_path("model.h"), "model", q, &sample, &rep);
    ck_assert_msg(q == CK_EXPORT_FLOAT32 || rep.max_abs_diff > 0,
                  "the report says the rounded weights change nothing");
    check_built(m, x, n, q, tol, &rep);
}

static void check_model(ck_model *m, const float *x, int64_t n)
{
    check_model_with(m, x, n, CK_EXPORT_FLOAT32, 1e-5);
}

/* ------------------------------------------------------------ models */

/* Every weight of every layer uniform in [-a, a] (variances positive). */
static void randomize(ck_model *m, uint64_t seed, float a)
{
    ck_rng rng;
    ck_rng_seed(&rng, seed);
    ck_assert_ok(ck_model_build(m));
    for (int i = 0; i < ck_model_layer_count(m); i++) {
        ck_layer *l = ck_model_layer(m, i);
        for (int k = 0; k < ck_layer_weight_count(l); k++) {
            const char *name;
            ck_tensor v;
            ck_assert_ok(ck_layer_weight(l, k, &name, &v));
            bool positive = strcmp(name, "moving_variance") == 0 || strcmp(name, "variance") == 0;
            for (size_t j = 0; j < ck_tensor_size(&v); j++) {
                float r = (float)(2.0 * ck_rng_uniform(&rng) - 1.0) * a;
                v.data[j] = positive ? fabsf(r) + 0.5f : r;
            }
        }
    }
}

static float *uniform_inputs(size_t n, uint64_t seed)
{
    ck_rng rng;
    ck_rng_seed(&rng, seed);
    float *x = malloc(n * sizeof *x);
    ck_assert_ptr_nonnull(x);
    for (size_t i = 0; i < n; i++)
        x[i] = (float)(2.0 * ck_rng_uniform(&rng) - 1.0);
    return x;
}

static ck_model *model_of(ck_layer *const *layers, size_t n, ck_keras_semantics sem)
{
    ck_model *m = ck_sequential(.seed = 5, .semantics = sem);
    ck_assert_ptr_nonnull(m);
    for (size_t i = 0; i < n; i++)
        ck_assert_ok(ck_model_add(m, layers[i]));
    randomize(m, 11, 0.5f);
    return m;
}
#define MODEL(sem, ...)                        \
    model_of((ck_layer *const[]){__VA_ARGS__}, \
             sizeof((ck_layer *const[]){__VA_ARGS__}) / sizeof(ck_layer *), (sem))

/* Runs a model on 3 uniform samples and frees it. */
static void check_and_free(ck_model *m)
{
    size_t in = sample_size(m, false);
    float *x = uniform_inputs(3 * in, 21);
    check_model(m, x, 3);
    free(x);
    ck_model_free(m);
}

START_TEST(dense_and_activations)
{
    check_and_free(MODEL(CK_KERAS2, ck_input(7), ck_dense(9, .activation = "tanh"),
                         ck_dense(5, .no_bias = true), ck_activation(.activation = "sigmoid"),
                         ck_dense(4, .activation = "softmax")));
}
END_TEST

/* Every activation against ckeras's own: the same formulas, so the same
 * floats, over inputs from -12 to 12. All of them are exported as a0..aN
 * and built into one program per compiler. */
START_TEST(every_activation_matches)
{
    static const char *const names[] = {"relu",         "sigmoid",     "tanh", "softmax",
                                        "hard_sigmoid", "elu",         "selu", "softplus",
                                        "softsign",     "swish",       "gelu", "exponential",
                                        "relu6",        "leaky_relu",  "mish", "hard_silu",
                                        "linear",       "hard_sigmoid"};
    enum { N_ACTS = sizeof names / sizeof names[0], N = 241 };
    float x[N], ref[N_ACTS][N];
    for (int i = 0; i < N; i++)
        x[i] = -12.0f + 0.1f * (float)i;
    FILE *main_c = fopen(ck_test_path("acts.c"), "w");
    ck_assert_ptr_nonnull(main_c);
    fprintf(main_c, "#include <stdio.h>\n");
    for (int a = 0; a < N_ACTS; a++)
        fprintf(main_c, "#include \"a%d.h\"\n", a);
    fprintf(main_c, "static const float x[%d] = {", N);
    for (int i = 0; i < N; i++)
        fprintf(main_c, "%.9ef,", (double)x[i]);
    fprintf(main_c,
            "};\nint main(void)\n{\n    float y[%d];\n    FILE *f = fopen(\"acts.bin\", \"wb\");\n",
            N);
    for (int a = 0; a < N_ACTS; a++) {
        /* The last hard_sigmoid is Keras 3's. */
        ck_model *m = MODEL(a == N_ACTS - 1 ? CK_KERAS3 : CK_KERAS2, ck_input(N),
                            ck_activation(.activation = names[a]));
        char c_name[16], h_name[16], name[8];
        snprintf(c_name, sizeof c_name, "a%d.c", a);
        snprintf(h_name, sizeof h_name, "a%d.h", a);
        snprintf(name, sizeof name, "a%d", a);
        ck_export_files(m, ck_test_path(c_name), ck_test_path(h_name), name, CK_EXPORT_FLOAT32,
                        NULL, NULL);
        ck_assert_ok(ck_model_predict(m, x, 1, ref[a]));
        ck_model_free(m);
        fprintf(main_c,
                "    {\n        static a%d_state s;\n        a%d_predict(x, y, &s);\n    }\n"
                "    fwrite(y, sizeof y, 1, f);\n",
                a, a);
    }
    fprintf(main_c, "    return fclose(f) != 0;\n}\n");
    fclose(main_c);
    for (size_t c = 0; c < sizeof compilers / sizeof compilers[0]; c++) {
        if (!build_with(compilers[c]))
            continue;
        ck_assert_int_eq(
            ck_export_sh(
                "cd '%s' && %s " CK_EXPORT_CFLAGS
                " a[0-9]*.c acts.c -lm -o acts > cc.log 2>&1 && ./acts || (head -c 3000 cc.log; false)",
                ck_test_path(""), compilers[c]),
            0);
        float *got = ck_export_read_floats("acts.bin", (size_t)N_ACTS * N);
        for (int a = 0; a < N_ACTS; a++)
            for (int i = 0; i < N; i++)
                ck_assert_msg(memcmp(&got[a * N + i], &ref[a][i], sizeof(float)) == 0,
                              "%s: %s(%g) = %.9g, ckeras %.9g", compilers[c], names[a],
                              (double)x[i], (double)got[a * N + i], (double)ref[a][i]);
        free(got);
    }
}
END_TEST

START_TEST(lstm_gru_simple_rnn)
{
    check_and_free(MODEL(CK_KERAS2, ck_input(6, 5), ck_lstm(8, .return_sequences = true),
                         ck_gru(7, .return_sequences = true),
                         ck_simple_rnn(6, .activation = "relu"), ck_dense(3)));
    /* Keras 3 hard_sigmoid, the old GRU, a sequence output. */
    check_and_free(
        MODEL(CK_KERAS3, ck_input(5, 4),
              ck_gru(6, .no_reset_after = true, .return_sequences = true,
                     .recurrent_activation = "hard_sigmoid"),
              ck_lstm(5, .return_sequences = true, .no_bias = true, .activation = "relu")));
}
END_TEST

START_TEST(recurrent_directions_and_state)
{
    /* go_backwards cannot stream: the whole model runs layer by layer. */
    check_and_free(MODEL(CK_KERAS2, ck_input(6, 3),
                         ck_lstm(5, .go_backwards = true, .return_sequences = true),
                         ck_simple_rnn(4, .go_backwards = true)));
    check_and_free(MODEL(CK_KERAS2, ck_input(4, 3), ck_gru(5, .stateful = true), ck_dense(2)));
    /* An encoder that streams, then a decoder run whole at every step. */
    check_and_free(MODEL(CK_KERAS2, ck_input(6, 3), ck_lstm(4), ck_repeat_vector(.n = 3),
                         ck_gru(3, .return_sequences = true),
                         ck_time_distributed(.layer = ck_dense(2))));
}
END_TEST

START_TEST(bidirectional_every_merge)
{
    static const char *const modes[] = {"concat", "sum", "mul", "ave"};
    for (size_t i = 0; i < 4; i++)
        check_and_free(
            MODEL(CK_KERAS2, ck_input(5, 3),
                  ck_bidirectional(ck_lstm(4, .return_sequences = true), .merge_mode = modes[i]),
                  ck_bidirectional(ck_gru(3), .merge_mode = modes[i]), ck_dense(2)));
}
END_TEST

START_TEST(time_distributed_and_normalization)
{
    check_and_free(MODEL(
        CK_KERAS2, ck_input(5, 6), ck_time_distributed(.layer = ck_dense(4, .activation = "elu")),
        ck_batch_normalization(), ck_layer_normalization(), ck_lstm(3, .return_sequences = true),
        ck_time_distributed(.layer = ck_dense(2, .activation = "softmax"))));
}
END_TEST

START_TEST(identities_and_shapes)
{
    check_and_free(MODEL(CK_KERAS2, ck_input(6, 4), ck_dropout(.rate = 0.5),
                         ck_gaussian_noise(.stddev = 1), ck_spatial_dropout1d(.rate = 0.3),
                         ck_permute(2, 1), ck_reshape(3, 8), ck_flatten(), ck_dense(5),
                         ck_repeat_vector(.n = 3), ck_simple_rnn(2, .return_sequences = true)));
}
END_TEST

/* Normalization (given, adapted, inverted, over every value) and
 * Rescaling (a number, one value per feature), bit for bit. */
START_TEST(preprocessing_layers)
{
    static const double mean[3] = {0.5, -1, 2}, var[3] = {4, 0, 0.25};
    static const double scales[3] = {2, -0.5, 1}, offsets[3] = {0, 1, -3};
    check_and_free(MODEL(CK_KERAS2, ck_input(5, 3), ck_rescaling(1.0 / 255, .offset = -1),
                         ck_normalization(.mean = mean, .variance = var, .n_mean = 3),
                         ck_normalization(.invert = true),
                         ck_rescaling(.scales = scales, .offsets = offsets, .n_features = 3),
                         ck_normalization(.axis_none = true), ck_lstm(3), ck_dense(2)));
    double one = 3;
    check_and_free(
        MODEL(CK_KERAS3, ck_input(4),
              ck_normalization(.mean = &one, .variance = &one, .n_mean = 1, .invert = true),
              ck_dense(2)));
}
END_TEST

/* The resizing layers run on the whole sequence; the dropouts vanish. */
START_TEST(padding_cropping_upsampling)
{
    check_and_free(MODEL(CK_KERAS2, ck_input(6, 4), ck_gaussian_dropout(.rate = 0.3),
                         ck_alpha_dropout(.rate = 0.2), ck_zero_padding1d(.padding = {2, 1}),
                         ck_conv1d(3, 2), ck_up_sampling1d(.size = 3),
                         ck_cropping1d(.cropping = {1, 2}), ck_lstm(3), ck_dense(2)));
    check_and_free(MODEL(CK_KERAS2, ck_input(5, 3), ck_alpha_dropout(.rate = 0.1),
                         ck_gaussian_dropout(.rate = 0.1), ck_lstm(4, .return_sequences = true),
                         ck_cropping1d(), ck_up_sampling1d(), ck_zero_padding1d(),
                         ck_activity_regularization(.l1 = 0.01)));
}
END_TEST

/* The advanced activation layers at their kinks (inputs and weights in
 * [-0.5, 0.5] cross every threshold), under both semantics. */
START_TEST(advanced_activation_layers)
{
    check_and_free(MODEL(CK_KERAS2, ck_input(5, 3), ck_dense(4),
                         ck_relu(.max_value = 0.3, .negative_slope = 0.2, .threshold = 0.05),
                         ck_dense(4), ck_leaky_relu(), ck_elu(.alpha = 0.5),
                         ck_thresholded_relu(.theta = 0.1), ck_prelu(.shared_axes = {1}),
                         ck_relu(.max_value = 6), ck_prelu(.shared_axes = {1, 2}), ck_lstm(3)));
    check_and_free(MODEL(CK_KERAS3, ck_input(6), ck_elu(), ck_prelu(), ck_dense(3),
                         ck_leaky_relu(.negative_slope = 0.1), ck_relu(), ck_dense(2)));
}
END_TEST

START_TEST(convolution_and_pooling)
{
    check_and_free(
        MODEL(CK_KERAS2, ck_input(12, 3), ck_conv1d(4, 3, .padding = "same", .activation = "relu"),
              ck_conv1d(5, 2, .padding = "causal", .dilation_rate = 2),
              ck_conv1d(4, 3, .strides = 2), ck_max_pooling1d(.pool_size = 2, .padding = "same"),
              ck_average_pooling1d(.pool_size = 2, .strides = 1), ck_global_max_pooling1d(),
              ck_dense(2)));
    check_and_free(MODEL(CK_KERAS2, ck_input(9, 3), ck_conv1d(2, 2),
                         ck_global_average_pooling1d(.keepdims = true), ck_flatten()));
    /* Causal convolutions with stride 1 stream: each keeps its past frames. */
    check_and_free(
        MODEL(CK_KERAS2, ck_input(8, 3),
              ck_conv1d(4, 3, .padding = "causal", .dilation_rate = 2, .activation = "relu"),
              ck_conv1d(3, 2, .padding = "causal"), ck_conv1d(2, 1, .padding = "causal"),
              ck_lstm(5), ck_dense(2)));
    check_and_free(MODEL(CK_KERAS2, ck_input(6, 2), ck_conv1d(3, 4, .padding = "causal"),
                         ck_time_distributed(.layer = ck_dense(2))));
}
END_TEST

/* Rows of all zeros (masked by Masking(0)) at the start, middle and end. */
static float *masked_inputs(int64_t n, int T, int F)
{
    float *x = uniform_inputs((size_t)n * (size_t)T * (size_t)F, 31);
    int rows[][2] = {{0, 0}, {0, 1}, {1, 2}, {2, T - 1}, {3, 0}, {3, T - 1}};
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
        memset(x + ((size_t)rows[i][0] * (size_t)T + (size_t)rows[i][1]) * (size_t)F, 0,
               sizeof(float) * (size_t)F);
    for (int t = 0; t < T; t++) /* sample 4: every row masked */
        memset(x + ((size_t)4 * (size_t)T + (size_t)t) * (size_t)F, 0, sizeof(float) * (size_t)F);
    return x;
}

START_TEST(masking)
{
    float *x = masked_inputs(5, 5, 3);
    ck_model *models[] = {
        MODEL(CK_KERAS2, ck_input(5, 3), ck_masking(), ck_lstm(4, .return_sequences = true),
              ck_gru(3), ck_dense(2)),
        MODEL(CK_KERAS2, ck_input(5, 3), ck_masking(),
              ck_simple_rnn(4, .return_sequences = true, .zero_output_for_mask = true),
              ck_lstm(3, .zero_output_for_mask = true)),
        MODEL(CK_KERAS2, ck_input(5, 3), ck_masking(),
              ck_bidirectional(ck_lstm(3, .return_sequences = true)),
              ck_bidirectional(ck_gru(2), .merge_mode = "sum")),
        MODEL(CK_KERAS2, ck_input(5, 3), ck_masking(), ck_dense(4), ck_global_average_pooling1d()),
    };
    for (size_t i = 0; i < sizeof models / sizeof models[0]; i++) {
        check_model(models[i], x, 5);
        ck_model_free(models[i]);
    }
    free(x);
}
END_TEST

START_TEST(embedding_with_mask_zero)
{
    ck_model *m = MODEL(CK_KERAS2, ck_input(6), ck_embedding(10, 4, .mask_zero = true),
                        ck_lstm(5, .return_sequences = true), ck_lstm(3),
                        ck_dense(2, .activation = "softmax"));
    float x[3 * 6] = {0, 0, 3, 9, 1, 2, 5, 0, 7, 7, 0, 4, 1, 2, 3, 4, 5, 0};
    check_model(m, x, 3);
    check_model_with(m, x, 3, CK_EXPORT_INT8, 0);
    check_model_with(m, x, 3, CK_EXPORT_FLOAT16, 0);
    ck_model_free(m);
}
END_TEST

START_TEST(int8_and_float16_weights)
{
    ck_model *m = MODEL(CK_KERAS2, ck_input(8, 6), ck_conv1d(5, 3, .padding = "causal"),
                        ck_lstm(12, .return_sequences = true), ck_gru(6), ck_dense(4));
    float *x = uniform_inputs(4 * 8 * 6, 41);
    check_model_with(m, x, 4, CK_EXPORT_INT8, 0);
    check_model_with(m, x, 4, CK_EXPORT_FLOAT16, 0);
    free(x);
    ck_model_free(m);
}
END_TEST

START_TEST(open_time_axis)
{
    ck_model *m = MODEL(CK_KERAS2, ck_input(CK_NONE, 4), ck_lstm(5), ck_dense(2));
    float *x = uniform_inputs(2 * 7 * 4, 51);
    ck_export_options o = ck_export_default_options();
    o.c_path = ck_test_path("open.c");
    ck_assert_fails(ck_model_export_c(m, &o), CK_ERR_UNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(ck_last_error(), "timesteps"));
    /* The sample's length is used (check_model passes its inputs). */
    ck_tensor t = {3, {2, 7, 4}, x};
    ck_tensor y = {2, {2, 2}, malloc(sizeof(float) * 4)};
    ck_assert_ok(ck_model_predict_tensor(m, &t, &y));
    o.sample = &t;
    ck_assert_ok(ck_model_export_c(m, &o));
    free(y.data);
    free(x);
    ck_model_free(m);
}
END_TEST

/* Without a header the declarations open the .c, which a program can
 * include as it is. */
START_TEST(single_file)
{
    ck_model *m = MODEL(CK_KERAS2, ck_input(4, 3), ck_lstm(3), ck_dense(2));
    float x[12] = {0.5f, -1, 0.25f, 1, 0, -0.5f, 0.75f, 0.125f, -0.25f, 1, 1, -1}, ref[2];
    ck_assert_ok(ck_model_predict(m, x, 1, ref));
    ck_export_write_floats("x.bin", x, 12);
    ck_export_options o = ck_export_default_options();
    o.c_path = ck_test_path("model.c");
    o.name = "model";
    ck_assert_ok(ck_model_export_c(m, &o));
    if (!build_with("gcc")) {
        ck_model_free(m);
        return;
    }
    FILE *f = fopen(ck_test_path("single.c"), "w");
    ck_assert_ptr_nonnull(f);
    fprintf(f, "#include \"model.c\"\n%s", strchr(harness, '\n') + 1);
    fclose(f);
    ck_assert_int_eq(ck_export_sh("cd '%s' && gcc " CK_EXPORT_CFLAGS
                                  " single.c -lm -o single > cc.log 2>&1 && "
                                  "./single 1 x.bin pred.bin steps.bin",
                                  ck_test_path("")),
                     0);
    float *y = ck_export_read_floats("pred.bin", 2);
    ck_assert_close(y[0], ref[0], 1e-5);
    ck_assert_close(y[1], ref[1], 1e-5);
    free(y);
    ck_model_free(m);
}
END_TEST

/* What cannot be exported fails before any file is written, naming the
 * layer and the reason. */
START_TEST(refusals_write_nothing)
{
    ck_model *m = MODEL(CK_KERAS2, ck_input(4, 2),
                        ck_embedding(5, 3, .mask_zero = true, .name = "words"), ck_flatten());
    ck_export_options o = ck_export_default_options();
    o.c_path = ck_test_path("refused.c");
    o.header_path = ck_test_path("refused.h");
    ck_assert_fails(ck_model_export_c(m, &o), CK_ERR_UNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(ck_last_error(), "layer 'words' (Embedding)"));
    ck_model_free(m);
    m = MODEL(CK_KERAS2, ck_input(3), ck_dense(2, .name = "big"));
    ck_tensor v;
    const char *name;
    ck_assert_ok(ck_layer_weight(ck_model_layer(m, 0), 0, &name, &v));
    v.data[1] = 1e6f;
    o.quantize = CK_EXPORT_FLOAT16;
    ck_assert_fails(ck_model_export_c(m, &o), CK_ERR_UNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(ck_last_error(), "layer 'big' (Dense): kernel value #1"));
    o.quantize = CK_EXPORT_FLOAT32;
    ck_model *cast = MODEL(
        CK_KERAS2, ck_input_new(&(ck_input_options){.shape = {3}, .dtype = "int32"}), ck_dense(2));
    ck_assert_fails(ck_model_export_c(cast, &o), CK_ERR_UNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(ck_last_error(), "its input casts"));
    ck_model_free(cast);
    ck_model *prelu = MODEL(CK_KERAS2, ck_input(4, 2), ck_prelu(.name = "steps"));
    ck_assert_fails(ck_model_export_c(prelu, &o), CK_ERR_UNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(ck_last_error(), "layer 'steps' (PReLU)"));
    ck_assert_ptr_nonnull(strstr(ck_last_error(), "shared_axes"));
    ck_model_free(prelu);
    o.name = "2bad";
    ck_assert_fails(ck_model_export_c(m, &o), CK_ERR_ARGUMENT);
    struct stat sb;
    ck_assert_int_ne(stat(o.c_path, &sb), 0);
    ck_assert_int_ne(stat(o.header_path, &sb), 0);
    ck_assert_int_eq(ck_test_count_temp_files(), 0);
    ck_model_free(m);
}
END_TEST

/* Every allocation of an export failing in turn: a clean CK_ERR_MEMORY,
 * no file, nothing leaked (the sanitizer build checks that). */
START_TEST(allocation_failures)
{
    ck_model *m = MODEL(CK_KERAS2, ck_input(5, 3), ck_masking(),
                        ck_bidirectional(ck_gru(3, .return_sequences = true)), ck_lstm(4),
                        ck_dense(2, .activation = "softmax"));
    ck_status st = CK_ERR_MEMORY;
    struct stat sb;
    for (long n = 1; st == CK_ERR_MEMORY; n++) {
        ck_export_report r;
        ck_export_options o = ck_export_default_options();
        o.c_path = ck_test_path("alloc.c");
        o.quantize = CK_EXPORT_INT8;
        o.report = &r;
        ck_debug_fail_alloc_after(n);
        st = ck_model_export_c(m, &o);
        ck_debug_fail_alloc_after(0);
        ck_assert_msg(st == CK_OK || st == CK_ERR_MEMORY, "allocation %ld: %s", n, ck_last_error());
        ck_assert_int_eq(stat(o.c_path, &sb) == 0, st == CK_OK);
    }
    ck_model_free(m);
}
END_TEST

/* ------------------------------------------------------------ real Keras files */

/* A fixture is exported once (a large one takes a while): the comment
 * names the source file with its SHA-256, and the file is built and run. */
static void check_fixture(ck_model *m, const char *expected, const char *source)
{
    float *x;
    int rank;
    long long dims[6];
    CK_SHARED_OR_SKIP(path, expected);
    ck_assert_uint_gt(ck_test_read_h5(path, "/x_random", &x, &rank, dims), 0);
    ck_export_report rep;
    ck_export_options o = ck_export_default_options();
    o.c_path = ck_test_path("model.c");
    o.header_path = ck_test_path("model.h");
    o.name = "model";
    o.sources[0] = source;
    o.report = &rep;
    ck_assert_ok(ck_model_export_c(m, &o));
    ck_assert_int_eq(
        ck_export_sh("grep -q \"Source:  %s (SHA-256 $(sha256sum '%s' | cut -c1-64))\" '%s'",
                     source, source, o.c_path),
        0);
    /* Standard headers only, and every object constant: the file is safe to
     * run from several threads and to place in flash. */
    ck_assert_int_eq(ck_export_sh("test \"$(grep -h '^#include' '%s' | grep -v '\"model.h\"' | "
                                  "sort | tr -d '\\n')\" = "
                                  "'#include <math.h>#include <stdint.h>#include <string.h>'",
                                  o.c_path),
                     0);
    if (build_with("gcc"))
        ck_assert_int_eq(ck_export_sh("cd '%s' && gcc " CK_EXPORT_CFLAGS
                                      " -c model.c -o model.o && "
                                      "test -z \"$(nm model.o | awk '$2 ~ /^[BbDdCGgSsVv]$/')\"",
                                      ck_test_path("")),
                         0);
    check_built(m, x, dims[0], CK_EXPORT_FLOAT32, 1e-5, &rep);
    free(x);
}

START_TEST(fixture_whole_models)
{
    static const char *const names[] = {"hanh_action", "keras2c_model"};
    for (size_t i = 0; i < 2; i++) {
        char rel[128], expected[128];
        snprintf(rel, sizeof rel, "fixtures/keras/%s.h5", names[i]);
        snprintf(expected, sizeof expected, "fixtures/keras/%s.expected.h5", names[i]);
        CK_SHARED_OR_SKIP(path, rel);
        char source[1024];
        snprintf(source, sizeof source, "%s", path);
        ck_model *m = NULL;
        ck_assert_ok(ck_model_load(source, &m));
        check_fixture(m, expected, source);
        ck_model_free(m);
    }
}
END_TEST

START_TEST(fixture_weights_only)
{
    CK_SHARED_OR_SKIP(arch, "fixtures/keras/avishake_model_weights.architecture.json");
    char arch_path[1024], weights[1024];
    snprintf(arch_path, sizeof arch_path, "%s", arch);
    CK_SHARED_OR_SKIP(w, "fixtures/keras/avishake_model_weights.h5");
    snprintf(weights, sizeof weights, "%s", w);
    FILE *f = fopen(arch_path, "rb");
    ck_assert_ptr_nonnull(f);
    char *json = calloc(1, 1 << 16);
    ck_assert_ptr_nonnull(json);
    ck_assert_uint_gt(fread(json, 1, (1 << 16) - 1, f), 0);
    fclose(f);
    ck_model *m = NULL;
    ck_assert_ok(ck_model_from_json(json, &m));
    ck_assert_ok(ck_model_build(m));
    ck_assert_ok(ck_model_load_weights(m, weights));
    check_fixture(m, "fixtures/keras/avishake_model_weights.expected.h5", weights);
    ck_model_free(m);
    free(json);
}
END_TEST

static Suite *export_suite(void)
{
    Suite *s = suite_create("export");
    TCase *tc = tcase_create("export");
    tcase_set_timeout(tc, 600);
    tcase_add_checked_fixture(tc, setup, ck_test_remove_dir);
    tcase_add_test(tc, dense_and_activations);
    tcase_add_test(tc, every_activation_matches);
    tcase_add_test(tc, lstm_gru_simple_rnn);
    tcase_add_test(tc, recurrent_directions_and_state);
    tcase_add_test(tc, bidirectional_every_merge);
    tcase_add_test(tc, time_distributed_and_normalization);
    tcase_add_test(tc, identities_and_shapes);
    tcase_add_test(tc, preprocessing_layers);
    tcase_add_test(tc, advanced_activation_layers);
    tcase_add_test(tc, convolution_and_pooling);
    tcase_add_test(tc, padding_cropping_upsampling);
    tcase_add_test(tc, masking);
    tcase_add_test(tc, embedding_with_mask_zero);
    tcase_add_test(tc, int8_and_float16_weights);
    tcase_add_test(tc, open_time_axis);
    tcase_add_test(tc, single_file);
    tcase_add_test(tc, refusals_write_nothing);
    tcase_add_test(tc, allocation_failures);
    tcase_add_test(tc, fixture_whole_models);
    tcase_add_test(tc, fixture_weights_only);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
#ifdef CK_TEST_UNDER_SANITIZER
    ck_test_skip("building the generated files (the plain build does; here the exporter runs "
                 "under the sanitizers)");
#endif
    return ck_test_run(export_suite());
}
