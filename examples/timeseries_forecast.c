/* One-step-ahead forecasting of a noisy sum of sines with an LSTM.
 *
 * Keras equivalent:
 *   model = keras.Sequential([keras.Input((window, 1)), layers.LSTM(32), layers.Dense(1)])
 *   model.compile(optimizer=keras.optimizers.Adam(0.005), loss="mse")
 *   model.fit(x_train, y_train, epochs=30, batch_size=32, validation_split=0.1)
 *
 * The series is split in time: the model learns on the first 80% of the
 * windows and is scored on the last 20%, against the naive forecast "the
 * next value equals the last one". */
#include <ckeras.h>

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define PI 3.14159265358979323846
#define NOISE 0.1
#define SHOWN 15

typedef struct options {
    int epochs, window, points, seed;
} options;

static double next_uniform(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull); /* splitmix64 */
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return (double)((z ^ (z >> 31)) >> 11) * (1.0 / 9007199254740992.0);
}

/* Two sines with unrelated periods, plus Gaussian noise. */
static void make_series(float *y, int n, uint64_t seed)
{
    for (int t = 0; t < n; t++) {
        double u = next_uniform(&seed) + 1e-12, v = next_uniform(&seed);
        double noise = NOISE * sqrt(-2.0 * log(u)) * cos(2.0 * PI * v);
        y[t] = (float)(sin(2.0 * PI * t / 25.0) + 0.5 * sin(2.0 * PI * t / 9.0 + 1.0) + noise);
    }
}

static bool parse_int(const char *s, int min, int *out)
{
    char *end;
    errno = 0;
    long v = s ? strtol(s, &end, 10) : 0;
    if (!s || errno || end == s || *end || v < min || v > INT_MAX)
        return false;
    *out = (int)v;
    return true;
}

static int parse_args(int argc, char **argv, options *o)
{
    *o = (options){.epochs = 30, .window = 24, .points = 800, .seed = 1};
    for (int i = 1; i < argc; i += 2) {
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
        bool valid = strcmp(argv[i], "--epochs") == 0   ? parse_int(val, 1, &o->epochs)
                     : strcmp(argv[i], "--window") == 0 ? parse_int(val, 1, &o->window)
                     : strcmp(argv[i], "--points") == 0 ? parse_int(val, 10, &o->points)
                     : strcmp(argv[i], "--seed") == 0   ? parse_int(val, 0, &o->seed)
                                                        : false;
        if (!valid) {
            fprintf(stderr,
                    "usage: %s [--epochs N] [--window N] [--points N] [--seed N]\n"
                    "bad or unknown option '%s'\n",
                    argv[0], argv[i]);
            return 2;
        }
    }
    if (o->points < 5 * (o->window + 1)) {
        fprintf(stderr, "%s: --points must be at least 5 x (window + 1) = %d\n", argv[0],
                5 * (o->window + 1));
        return 2;
    }
    return 0;
}

static bool ok(ck_status st, const char *what)
{
    if (st != CK_OK)
        fprintf(stderr, "error: %s: %s: %s\n", what, ck_status_name(st), ck_last_error());
    return st == CK_OK;
}

/* x[i] = series[i .. i+window-1], target[i] = series[i+window]. */
static void make_windows(const float *series, int n_windows, int window, float *x, float *target)
{
    for (int i = 0; i < n_windows; i++) {
        memcpy(x + (size_t)i * (size_t)window, series + i, sizeof(float) * (size_t)window);
        target[i] = series[i + window];
    }
}

static ck_model *build_and_train(const options *o, float *x, float *y, int n_train)
{
    ck_model *model = ck_sequential(.name = "forecaster", .seed = (uint64_t)o->seed);
    if (!ok(model ? CK_OK : CK_ERR_MEMORY, "ck_sequential"))
        return NULL;
    bool good = ok(ck_model_add(model, ck_input(o->window, 1)), "ck_input");
    good = ok(ck_model_add(model, ck_lstm(32)), "ck_lstm") && good;
    good = ok(ck_model_add(model, ck_dense(1)), "ck_dense") && good;
    good = good && ok(ck_model_summary(model, stdout, CK_SUMMARY_KERAS2), "summary");
    good = good &&
           ok(ck_model_compile(model, .optimizer = ck_adam(.learning_rate = 0.005), .loss = "mse"),
              "ck_model_compile");
    ck_tensor tx = {3, {n_train, o->window, 1}, x}, ty = {2, {n_train, 1}, y};
    ck_history *history = NULL;
    good = good && ok(ck_model_fit(model, &tx, &ty, &history, .epochs = o->epochs, .batch_size = 32,
                                   .validation_split = 0.1, .verbose = 2),
                      "ck_model_fit");
    ck_history_free(history);
    if (!good) {
        ck_model_free(model);
        return NULL;
    }
    return model;
}

/* Prints the last SHOWN forecasts and the errors over the whole test span. */
static void report(const float *truth, const float *forecast, const float *last_seen, int n,
                   int first_t)
{
    double mse = 0.0, mae = 0.0, naive = 0.0;
    printf("\n%6s %10s %10s %10s\n", "t", "truth", "forecast", "error");
    for (int i = 0; i < n; i++) {
        double e = (double)forecast[i] - truth[i], en = (double)last_seen[i] - truth[i];
        mse += e * e;
        mae += fabs(e);
        naive += en * en;
        if (i >= n - SHOWN)
            printf("%6d %10.4f %10.4f %+10.4f\n", first_t + i, truth[i], forecast[i], e);
    }
    printf("\nTest windows: %d\n", n);
    printf("Test MSE: %.5f  MAE: %.5f  (noise variance %.5f)\n", mse / n, mae / n, NOISE * NOISE);
    printf("Naive last-value MSE: %.5f\n", naive / n);
}

int main(int argc, char **argv)
{
    options o;
    int rc = parse_args(argc, argv, &o);
    if (rc != 0)
        return rc;
    int n_windows = o.points - o.window, n_train = n_windows * 4 / 5, n_test = n_windows - n_train;
    float *series = malloc(sizeof(float) * (size_t)o.points);
    float *x = malloc(sizeof(float) * (size_t)n_windows * (size_t)o.window);
    float *target = malloc(sizeof(float) * (size_t)n_windows);
    float *forecast = malloc(sizeof(float) * (size_t)n_test);
    float *last_seen = malloc(sizeof(float) * (size_t)n_test);
    bool good = series && x && target && forecast && last_seen;
    ck_model *model = NULL;
    if (good) {
        make_series(series, o.points, (uint64_t)o.seed);
        make_windows(series, n_windows, o.window, x, target);
        printf(
            "Series of %d points, windows of %d -> next value; %d for training, %d for testing\n",
            o.points, o.window, n_train, n_test);
        model = build_and_train(&o, x, target, n_train);
    }
    float *test_x = x ? x + (size_t)n_train * (size_t)o.window : NULL;
    good = good && model &&
           ok(ck_model_predict(model, test_x, n_test, forecast), "ck_model_predict");
    if (good) {
        for (int i = 0; i < n_test; i++)
            last_seen[i] = test_x[(size_t)i * (size_t)o.window + (size_t)o.window - 1];
        report(target + n_train, forecast, last_seen, n_test, n_train + o.window);
    }
    ck_model_free(model);
    free(series);
    free(x);
    free(target);
    free(forecast);
    free(last_seen);
    return good ? 0 : 1;
}
