/* Loads a model saved by Keras (model.save("model.h5") or a .keras file)
 * and runs it.
 *
 *   keras_predict MODEL [INPUT.h5:/dataset] [--expect FILE.h5:/dataset]
 *                       [--timesteps N] [--keras3-summary]
 *
 * Without an input the model runs on one sample of zeros (open timesteps
 * become --timesteps, default 1). An input dataset holds one sample or a
 * batch of them. With --expect the outputs are compared against a dataset
 * of reference outputs and the program fails if they differ by more than
 * 1e-4. Keras equivalent:
 *   model = keras.models.load_model("model.h5"); model.summary()
 *   print(model.predict(x)) */
#include <ckeras.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define TOLERANCE 1e-4
#define MAX_SAMPLES_SHOWN 10
#define MAX_VALUES_SHOWN 12

typedef struct options {
    const char *model, *input, *expect;
    int timesteps;
    ck_summary_style style;
} options;

static bool ok(ck_status st, const char *what)
{
    if (st != CK_OK)
        fprintf(stderr, "error: %s: %s: %s\n", what, ck_status_name(st), ck_last_error());
    return st == CK_OK;
}

static int parse_args(int argc, char **argv, options *o)
{
    *o = (options){.timesteps = 1, .style = CK_SUMMARY_KERAS2};
    for (int i = 1; i < argc; i++) {
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(argv[i], "--expect") == 0 && val) {
            o->expect = argv[++i];
        } else if (strcmp(argv[i], "--timesteps") == 0 && val && atoi(val) > 0) {
            o->timesteps = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--keras3-summary") == 0) {
            o->style = CK_SUMMARY_KERAS3;
        } else if (argv[i][0] != '-' && !o->model) {
            o->model = argv[i];
        } else if (argv[i][0] != '-' && !o->input) {
            o->input = argv[i];
        } else {
            o->model = NULL;
            break;
        }
    }
    if (!o->model) {
        fprintf(stderr,
                "usage: %s MODEL.h5 [INPUT.h5:/dataset] [--expect FILE.h5:/dataset]\n"
                "       [--timesteps N] [--keras3-summary]\n",
                argv[0]);
        return 2;
    }
    return 0;
}

/* Reads FILE.h5:/path (any numeric type, converted to float) with the
 * library's screened reader. Returns the number of values, 0 on failure. */
static size_t read_dataset(const char *spec, ck_tensor *t)
{
    const char *colon = strrchr(spec, ':');
    if (!colon || colon[1] != '/') {
        fprintf(stderr, "error: '%s' is not FILE.h5:/dataset\n", spec);
        return 0;
    }
    char *file = strndup(spec, (size_t)(colon - spec));
    ck_status st = file ? ck_h5_read_array(file, colon + 1, t) : CK_ERR_MEMORY;
    free(file);
    if (!ok(st, spec))
        return 0;
    size_t n = 1;
    for (int i = 0; i < t->rank; i++)
        n *= (size_t)t->dims[i];
    if (t->rank < 1 || n == 0) {
        fprintf(stderr, "error: %s holds no values (rank 1..%d expected)\n", spec, CK_MAX_RANK);
        ck_free(t->data);
        t->data = NULL;
        return 0;
    }
    return n;
}

/* The input batch: the given dataset (one sample gets a batch axis) or
 * one sample of zeros. */
static bool make_input(ck_model *model, const options *o, ck_tensor *x)
{
    int rank;
    int64_t dims[CK_MAX_RANK];
    if (!ok(ck_model_input_shape(model, &rank, dims), "input shape"))
        return false;
    if (o->input) {
        if (!read_dataset(o->input, x))
            return false;
        if (x->rank == rank && x->rank < CK_MAX_RANK) {
            memmove(x->dims + 1, x->dims, sizeof(int64_t) * (size_t)x->rank);
            x->dims[0] = 1;
            x->rank++;
        }
        return true;
    }
    size_t n = 1;
    x->rank = rank + 1;
    x->dims[0] = 1;
    for (int i = 0; i < rank; i++) {
        x->dims[i + 1] = dims[i] == CK_NONE ? o->timesteps : dims[i];
        n *= (size_t)x->dims[i + 1];
    }
    x->data = calloc(n, sizeof(float));
    if (!x->data)
        fprintf(stderr, "error: out of memory\n");
    return x->data != NULL;
}

/* Values per output sample; an open axis (timesteps with
 * return_sequences) takes the input's length. */
static size_t output_sample_size(ck_model *model, const ck_tensor *x)
{
    int rank;
    int64_t dims[CK_MAX_RANK];
    if (!ok(ck_model_output_shape(model, &rank, dims), "output shape"))
        return 0;
    size_t n = 1;
    for (int i = 0; i < rank; i++)
        n *= (size_t)(dims[i] == CK_NONE ? x->dims[1] : dims[i]);
    return n;
}

static void print_outputs(const ck_tensor *y, size_t per_sample)
{
    printf("\nOutput shape (%lld", (long long)y->dims[0]);
    for (int i = 1; i < y->rank; i++)
        printf(", %lld", (long long)y->dims[i]);
    printf(")\n");
    for (int64_t b = 0; b < y->dims[0] && b < MAX_SAMPLES_SHOWN; b++) {
        const float *v = y->data + (size_t)b * per_sample;
        size_t best = 0;
        double sum = 0.0;
        bool probabilities = y->rank == 2 && per_sample > 1;
        printf("sample %lld: [", (long long)b);
        for (size_t i = 0; i < per_sample; i++) {
            if (i < MAX_VALUES_SHOWN)
                printf("%s%.6g", i ? ", " : "", v[i]);
            best = v[i] > v[best] ? i : best;
            sum += v[i];
            probabilities = probabilities && v[i] >= 0.0f && v[i] <= 1.0f;
        }
        printf("%s]", per_sample > MAX_VALUES_SHOWN ? ", ..." : "");
        /* A class index only makes sense for a probability vector. */
        if (probabilities && fabs(sum - 1.0) < 1e-3)
            printf("  class %zu", best);
        printf("\n");
    }
    if (y->dims[0] > MAX_SAMPLES_SHOWN)
        printf("(%lld more samples)\n", (long long)(y->dims[0] - MAX_SAMPLES_SHOWN));
}

/* Largest absolute difference against reference outputs; false if they
 * do not match in size or exceed TOLERANCE. */
static bool compare(const char *spec, const float *y, size_t n)
{
    ck_tensor r = {0};
    size_t m = read_dataset(spec, &r);
    const float *ref = r.data;
    bool good = m == n;
    if (m && !good)
        fprintf(stderr, "error: %s holds %zu values, the model produced %zu\n", spec, m, n);
    double worst = 0.0;
    for (size_t i = 0; good && i < n; i++)
        worst = fmax(worst, fabs((double)y[i] - ref[i]));
    if (good) {
        good = worst <= TOLERANCE;
        printf("\nMax |difference| against %s: %.3g (%s, tolerance %g)\n", spec, worst,
               good ? "match" : "MISMATCH", TOLERANCE);
    }
    ck_free(r.data);
    return good;
}

int main(int argc, char **argv)
{
    options o;
    if (parse_args(argc, argv, &o) != 0)
        return 2;
    ck_model *model = NULL;
    if (!ok(ck_model_load(o.model, &model), o.model))
        return 1;
    ck_tensor x = {0}, y = {0};
    bool good = ok(ck_model_summary(model, stdout, o.style), "summary") &&
                make_input(model, &o, &x);
    size_t per_sample = good ? output_sample_size(model, &x) : 0;
    good = good && per_sample > 0;
    if (good) {
        y.data = malloc(sizeof(float) * per_sample * (size_t)x.dims[0]);
        y.rank = 1;
        y.dims[0] = (int64_t)per_sample * x.dims[0];
        good = y.data && ok(ck_model_predict_tensor(model, &x, &y), "predict");
    }
    if (good)
        print_outputs(&y, per_sample);
    if (good && o.expect)
        good = compare(o.expect, y.data, per_sample * (size_t)x.dims[0]);
    free(x.data);
    free(y.data);
    ck_model_free(model);
    return good ? 0 : 1;
}
