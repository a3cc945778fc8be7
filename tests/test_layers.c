/* Every layer class, one table row each: the inference forward of a small
 * case against known values, then the backward against finite differences
 * (ck_gradcheck.h) with random weights and inputs in a training forward.
 * Known values: Keras's own tests (keras-facts.md 12) for Dense, LSTM and
 * Softmax; the others worked out from the Keras formulas by hand (with
 * constant weights, so every unit of a layer computes the same value).
 * A class in src/layers/registry.def without a row fails the suite. */
#include "ck_gradcheck.h"
#include "ck_layers.h"
#include "ck_test.h"

#include <string.h>

#define K_CONST(v) CK_INIT("constant", .value = (v))
/* Keras's LSTM test layer: kernel 0.01, recurrent 0.02, bias 0.03. */
#define RNN_CONST(k, r, b)                                                 \
    .kernel_initializer = K_CONST(k), .recurrent_initializer = K_CONST(r), \
    .bias_initializer = K_CONST(b)

typedef struct layer_row {
    const char *class_name;  /* the registry class the row covers */
    ck_layer *(*make)(void); /* the layer under test */
    int rank;                /* of the input, batch axis included */
    int64_t in[4];           /* input shape, batch first */
    const float *x;          /* input of the known case */
    const float *weights;    /* every weight in Keras order; NULL: as initialised */
    const float *y;          /* inference output of the known case */
    size_t n_y;
    bool ids; /* integer inputs (Embedding): no input gradient */
} layer_row;

/* ------------------------------------------------------------ layers */

static ck_layer *dense(void)
{
    return ck_dense(2, .activation = "relu");
}
static ck_layer *lstm(void)
{
    return ck_lstm(3, RNN_CONST(0.01, 0.02, 0.03));
}
static ck_layer *gru(void)
{
    return ck_gru(2, RNN_CONST(0.1, 0.2, 0));
}
static ck_layer *simple_rnn(void)
{
    return ck_simple_rnn(2, RNN_CONST(0.1, 0.2, 0));
}
static ck_layer *bidirectional(void)
{
    return ck_bidirectional(ck_simple_rnn(1, RNN_CONST(0.1, 0.2, 0)));
}
static ck_layer *softmax(void)
{
    return ck_softmax();
}
static ck_layer *activation(void)
{
    return ck_activation(.activation = "tanh");
}
static ck_layer *dropout(void)
{
    return ck_dropout(.rate = 0.5);
}
static ck_layer *embedding(void)
{
    return ck_embedding(3, 2);
}
static ck_layer *time_distributed(void)
{
    return ck_time_distributed(.layer = ck_dense(1, .kernel_initializer = CK_INIT("ones")));
}
static ck_layer *repeat_vector(void)
{
    return ck_repeat_vector(.n = 2);
}
static ck_layer *flatten(void)
{
    return ck_flatten();
}
static ck_layer *reshape(void)
{
    return ck_reshape(4);
}
static ck_layer *permute(void)
{
    return ck_permute(2, 1);
}
static ck_layer *spatial_dropout(void)
{
    return ck_spatial_dropout1d(.rate = 0.5);
}
static ck_layer *gaussian_noise(void)
{
    return ck_gaussian_noise(.stddev = 0.5);
}
static ck_layer *gaussian_dropout(void)
{
    return ck_gaussian_dropout(.rate = 0.3);
}
static ck_layer *alpha_dropout(void)
{
    return ck_alpha_dropout(.rate = 0.4);
}
static ck_layer *zero_padding(void)
{
    return ck_zero_padding1d(.padding = {1, 2});
}
static ck_layer *cropping(void)
{
    return ck_cropping1d(.cropping = {1, 0});
}
static ck_layer *up_sampling(void)
{
    return ck_up_sampling1d(.size = 2);
}
static ck_layer *activity_regularization(void)
{
    return ck_activity_regularization(.l1 = 0.1, .l2 = 0.2);
}
static ck_layer *layer_norm(void)
{
    return ck_layer_normalization();
}
static ck_layer *batch_norm(void)
{
    return ck_batch_normalization();
}
static ck_layer *conv1d(void)
{
    return ck_conv1d(1, 2, .kernel_initializer = CK_INIT("ones"));
}
static ck_layer *max_pool(void)
{
    return ck_max_pooling1d(.pool_size = 2);
}
static ck_layer *avg_pool(void)
{
    return ck_average_pooling1d(.pool_size = 2);
}
static ck_layer *global_max(void)
{
    return ck_global_max_pooling1d();
}
static ck_layer *global_avg(void)
{
    return ck_global_average_pooling1d();
}
static ck_layer *masking(void)
{
    return ck_masking(.mask_value = 0);
}
/* Every piece of Keras's relu within [-1, 1], where the inputs of the
 * finite differences lie. */
static ck_layer *relu(void)
{
    return ck_relu(.max_value = 0.75, .negative_slope = 0.5, .threshold = 0.25);
}
static ck_layer *leaky_relu(void)
{
    return ck_leaky_relu();
}
static ck_layer *thresholded_relu(void)
{
    return ck_thresholded_relu(.theta = 0.5);
}
static ck_layer *elu(void)
{
    return ck_elu(.alpha = 0.5);
}
static ck_layer *normalization(void)
{
    return ck_normalization();
}
static ck_layer *rescaling(void)
{
    return ck_rescaling(2, .offset = -1);
}
static ck_layer *prelu(void)
{
    return ck_prelu(.shared_axes = {1});
}

/* ------------------------------------------------------------ known cases */

static float arange72[72];

static const layer_row rows[] = {
    /* Dense(2, relu), kernel [[1,-2],[3,-4]], bias [5,-6]: [[-1,2]] -> [[10,0]] */
    {"Dense",
     dense,
     2,
     {1, 2},
     (const float[]){-1, 2},
     (const float[]){1, -2, 3, -4, 5, -6},
     (const float[]){10, 0},
     2,
     false},
    /* LSTM(3) on arange(72).reshape(3,6,4): each row repeats one value. */
    {"LSTM",
     lstm,
     3,
     {3, 6, 4},
     arange72,
     NULL,
     (const float[]){0.6288687f, 0.6288687f, 0.6288687f, 0.86899155f, 0.86899155f, 0.86899155f,
                     0.9460773f, 0.9460773f, 0.9460773f},
     9,
     false},
    /* reset_after: z = r = sigmoid(0.1 x + 0.2 sum h), hh = tanh(0.1 x + r 0.2 sum h) */
    {"GRU",
     gru,
     3,
     {1, 3, 1},
     (const float[]){1, 2, 3},
     NULL,
     (const float[]){0.20059277f, 0.20059277f},
     2,
     false},
    /* h = tanh(0.1 x + 0.2 sum h) */
    {"SimpleRNN",
     simple_rnn,
     3,
     {1, 3, 1},
     (const float[]){1, 2, 3},
     NULL,
     (const float[]){0.37493077f, 0.37493077f},
     2,
     false},
    /* concat of the forward and the backward SimpleRNN(1) */
    {"Bidirectional",
     bidirectional,
     3,
     {1, 3, 1},
     (const float[]){1, 2, 3},
     NULL,
     (const float[]){0.33041225f, 0.1494071f},
     2,
     false},
    {"Softmax",
     softmax,
     2,
     {1, 3},
     (const float[]){1, 2, 1},
     NULL,
     (const float[]){0.21194157f, 0.5761169f, 0.21194157f},
     3,
     false},
    {"Activation",
     activation,
     2,
     {1, 2},
     (const float[]){0.5f, -1},
     NULL,
     (const float[]){0.46211716f, -0.76159416f},
     2,
     false},
    {"Dropout",
     dropout,
     2,
     {1, 3},
     (const float[]){1, -2, 3},
     NULL,
     (const float[]){1, -2, 3},
     3,
     false},
    /* table rows [0,1], [2,3], [4,5]; ids (2, 0) */
    {"Embedding",
     embedding,
     2,
     {1, 2},
     (const float[]){2, 0},
     (const float[]){0, 1, 2, 3, 4, 5},
     (const float[]){4, 5, 0, 1},
     4,
     true},
    /* Dense(1) with a kernel of ones on every step */
    {"TimeDistributed",
     time_distributed,
     3,
     {1, 2, 2},
     (const float[]){1, 2, 3, 4},
     NULL,
     (const float[]){3, 7},
     2,
     false},
    {"RepeatVector",
     repeat_vector,
     2,
     {1, 2},
     (const float[]){1, 2},
     NULL,
     (const float[]){1, 2, 1, 2},
     4,
     false},
    {"Flatten",
     flatten,
     3,
     {1, 2, 2},
     (const float[]){1, 2, 3, 4},
     NULL,
     (const float[]){1, 2, 3, 4},
     4,
     false},
    {"Reshape",
     reshape,
     3,
     {1, 2, 2},
     (const float[]){1, 2, 3, 4},
     NULL,
     (const float[]){1, 2, 3, 4},
     4,
     false},
    {"Permute",
     permute,
     3,
     {1, 2, 3},
     (const float[]){1, 2, 3, 4, 5, 6},
     NULL,
     (const float[]){1, 4, 2, 5, 3, 6},
     6,
     false},
    {"SpatialDropout1D",
     spatial_dropout,
     3,
     {1, 2, 2},
     (const float[]){1, 2, 3, 4},
     NULL,
     (const float[]){1, 2, 3, 4},
     4,
     false},
    {"GaussianNoise",
     gaussian_noise,
     2,
     {1, 3},
     (const float[]){1, -2, 3},
     NULL,
     (const float[]){1, -2, 3},
     3,
     false},
    {"GaussianDropout",
     gaussian_dropout,
     2,
     {1, 3},
     (const float[]){1, -2, 3},
     NULL,
     (const float[]){1, -2, 3},
     3,
     false},
    {"AlphaDropout",
     alpha_dropout,
     3,
     {1, 2, 2},
     (const float[]){1, -2, 3, 0.5f},
     NULL,
     (const float[]){1, -2, 3, 0.5f},
     4,
     false},
    {"ZeroPadding1D",
     zero_padding,
     3,
     {1, 2, 2},
     (const float[]){1, 2, 3, 4},
     NULL,
     (const float[]){0, 0, 1, 2, 3, 4, 0, 0, 0, 0},
     10,
     false},
    {"Cropping1D",
     cropping,
     3,
     {1, 3, 2},
     (const float[]){1, 2, 3, 4, 5, 6},
     NULL,
     (const float[]){3, 4, 5, 6},
     4,
     false},
    {"UpSampling1D",
     up_sampling,
     3,
     {1, 2, 2},
     (const float[]){1, 2, 3, 4},
     NULL,
     (const float[]){1, 2, 1, 2, 3, 4, 3, 4},
     8,
     false},
    {"ActivityRegularization",
     activity_regularization,
     2,
     {1, 3},
     (const float[]){1, -2, 3},
     NULL,
     (const float[]){1, -2, 3},
     3,
     false},
    /* (x - mean) / sqrt(var + 1e-3) per row */
    {"LayerNormalization",
     layer_norm,
     2,
     {2, 3},
     (const float[]){1, 2, 3, -1, 0, 4},
     NULL,
     (const float[]){-1.2238273f, 0, 1.2238273f, -0.92572092f, -0.46286046f, 1.3885814f},
     6,
     false},
    /* fresh moving statistics (0, 1): x / sqrt(1 + 1e-3) */
    {"BatchNormalization",
     batch_norm,
     2,
     {2, 2},
     (const float[]){1, -2, 0.5f, 3},
     NULL,
     (const float[]){0.99950037f, -1.9990007f, 0.49975019f, 2.9985011f},
     4,
     false},
    /* one filter of ones over windows of 2 */
    {"Conv1D",
     conv1d,
     3,
     {1, 3, 1},
     (const float[]){1, 2, 3},
     NULL,
     (const float[]){3, 5},
     2,
     false},
    {"MaxPooling1D",
     max_pool,
     3,
     {1, 4, 1},
     (const float[]){1, 3, 2, 5},
     NULL,
     (const float[]){3, 5},
     2,
     false},
    {"AveragePooling1D",
     avg_pool,
     3,
     {1, 4, 1},
     (const float[]){1, 3, 2, 5},
     NULL,
     (const float[]){2, 3.5f},
     2,
     false},
    {"GlobalMaxPooling1D",
     global_max,
     3,
     {1, 4, 1},
     (const float[]){1, 3, 2, 5},
     NULL,
     (const float[]){5},
     1,
     false},
    {"GlobalAveragePooling1D",
     global_avg,
     3,
     {1, 4, 1},
     (const float[]){1, 3, 2, 5},
     NULL,
     (const float[]){2.75f},
     1,
     false},
    /* the second step is all mask_value: zeroed */
    {"Masking",
     masking,
     3,
     {1, 3, 2},
     (const float[]){1, 2, 0, 0, 3, 4},
     NULL,
     (const float[]){1, 2, 0, 0, 3, 4},
     6,
     false},
    /* slope 0.5 at and below the threshold 0.25, clipped at 0.75 above */
    {"ReLU",
     relu,
     2,
     {1, 6},
     (const float[]){-1, 0.25f, 0.5f, 0.75f, 2, 0},
     NULL,
     (const float[]){-0.625f, 0, 0.5f, 0.75f, 0.75f, -0.125f},
     6,
     false},
    /* the default slope 0.3 */
    {"LeakyReLU",
     leaky_relu,
     2,
     {1, 3},
     (const float[]){-2, 0, 3},
     NULL,
     (const float[]){-0.6f, 0, 3},
     3,
     false},
    /* x only above theta: theta itself gives 0 */
    {"ThresholdedReLU",
     thresholded_relu,
     2,
     {1, 3},
     (const float[]){0.5f, 0.75f, -1},
     NULL,
     (const float[]){0, 0.75f, 0},
     3,
     false},
    /* 0.5 (exp(-1) - 1) */
    {"ELU",
     elu,
     2,
     {1, 3},
     (const float[]){-1, 0, 2},
     NULL,
     (const float[]){-0.31606028f, 0, 2},
     3,
     false},
    /* alpha (1, 2) = [0.25, -0.5] shared over the steps */
    {"PReLU",
     prelu,
     3,
     {1, 2, 2},
     (const float[]){-4, -2, 3, -6},
     (const float[]){0.25f, -0.5f},
     (const float[]){-1, 1, 3, 3},
     4,
     false},
    /* mean [1, -1, 0.5], variance [4, 0.25, 1] (std 2, 0.5, 1), count 7 */
    {"Normalization",
     normalization,
     2,
     {2, 3},
     (const float[]){3, 1, 0.5f, -1, -1, 2.5f},
     (const float[]){1, -1, 0.5f, 4, 0.25f, 1, 7},
     (const float[]){1, 4, 0, -1, 0, 2},
     6,
     false},
    /* x * 2 - 1 */
    {"Rescaling",
     rescaling,
     2,
     {1, 3},
     (const float[]){1, -2, 0.5f},
     NULL,
     (const float[]){1, -5, 0},
     3,
     false},
};
#define N_ROWS (int)(sizeof rows / sizeof rows[0])

/* ------------------------------------------------------------ checks */

static ck_model *model_of(const layer_row *row, uint64_t seed)
{
    ck_model *m = ck_sequential(.seed = seed);
    ck_input_options in = {0};
    for (int i = 1; i < row->rank; i++)
        in.shape[i - 1] = row->in[i];
    ck_assert_ok(ck_model_add(m, ck_input_new(&in)));
    ck_assert_ok(ck_model_add(m, row->make()));
    ck_assert_ok(ck_model_build(m));
    return m;
}

static void set_weights(ck_model *m, const float *values)
{
    ck_layer *l = ck_model_layer(m, 0);
    for (int k = 0; k < ck_layer_weight_count(l); k++) {
        ck_tensor w;
        ck_assert_ok(ck_layer_weight(l, k, NULL, &w));
        memcpy(w.data, values, ck_tensor_size(&w) * sizeof(float));
        values += ck_tensor_size(&w);
    }
}

START_TEST(forward_known_values)
{
    const layer_row *row = &rows[_i];
    ck_model *m = model_of(row, 1);
    ck_assert_str_eq(ck_layer_class_name(ck_model_layer(m, 0)), row->class_name);
    if (row->weights)
        set_weights(m, row->weights);
    ck_tensor x = {.rank = row->rank, .data = (float *)row->x};
    memcpy(x.dims, row->in, sizeof row->in);
    float y[16];
    ck_tensor ty = {.rank = 1, .dims = {16}, .data = y};
    ck_assert_ok(ck_model_predict_tensor(m, &x, &ty));
    ck_assert_uint_eq(ck_tensor_size(&ty), row->n_y);
    for (size_t i = 0; i < row->n_y; i++)
        ck_assert_msg(fabs(y[i] - row->y[i]) <= 1e-5 + 1e-5 * fabs(row->y[i]),
                      "%s output #%zu: %.9g, expected %.9g", row->class_name, i, (double)y[i],
                      (double)row->y[i]);
    ck_model_free(m);
}
END_TEST

static void fill(float *v, size_t n, ck_rng *rng, double lo, double hi)
{
    for (size_t i = 0; i < n; i++)
        v[i] = (float)(lo + (hi - lo) * ck_rng_uniform(rng));
}

/* Random trainable weights and, except for ids, random inputs; a training
 * forward (dropout and noise masks fixed by the generator). */
START_TEST(backward_finite_differences)
{
    const layer_row *row = &rows[_i];
    ck_model *m = model_of(row, 2);
    ck_rng rng;
    ck_rng_seed(&rng, 700 + (uint64_t)_i);
    fill(m->params, m->n_trainable, &rng, -0.5, 0.5);
    float x[128], r[256];
    ck_fd fd = {.m = m,
                .x = {.rank = row->rank, .data = x},
                .r = r,
                .rng = m->rng,
                .training = true,
                .h = 1e-3};
    memcpy(fd.x.dims, row->in, sizeof row->in);
    size_t nx = ck_tensor_size(&fd.x);
    ck_assert_uint_le(nx, 128);
    if (row->ids)
        memcpy(x, row->x, nx * sizeof *x);
    else
        fill(x, nx, &rng, -1, 1);
    fill(r, 256, &rng, -1, 1);
    ck_fd_objective(&fd);
    ck_assert_uint_le(ck_tensor_size(&m->act_views[0]), 256);
    if (m->n_trainable)
        ck_fd_check_weights(&fd, row->class_name, 1e-2);
    if (!row->ids)
        ck_fd_check_input(&fd, row->class_name, 1e-2);
    ck_model_free(m);
}
END_TEST

/* The rows cover registry.def; InputLayer is the first layer of every row's model. */
START_TEST(every_layer_has_a_row)
{
#define CK_LAYER(ops) extern const ck_layer_ops ops;
#include "registry.def"
#undef CK_LAYER
    static const ck_layer_ops *const registered[] = {
#define CK_LAYER(ops) &ops,
#include "registry.def"
#undef CK_LAYER
    };
    for (size_t k = 0; k < sizeof registered / sizeof registered[0]; k++) {
        const char *cls = registered[k]->class_name;
        bool covered = strcmp(cls, "InputLayer") == 0;
        for (int i = 0; !covered && i < N_ROWS; i++)
            covered = strcmp(rows[i].class_name, cls) == 0;
        ck_assert_msg(covered, "layer class %s has no row in tests/test_layers.c", cls);
    }
}
END_TEST

static Suite *suite(void)
{
    for (int i = 0; i < 72; i++)
        arange72[i] = (float)i;
    Suite *s = suite_create("layers");
    TCase *tc = tcase_create("rows");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, forward_known_values, 0, N_ROWS);
    tcase_add_loop_test(tc, backward_finite_differences, 0, N_ROWS);
    tcase_add_test(tc, every_layer_has_a_row);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return ck_test_run(suite());
}
