/* Commands that use a model without training it: summary, predict, convert. */
#include "cli.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_BATCH 32

static const struct {
    const char *name;
    ck_summary_style style;
} summary_styles[] = {
    {"keras2", CK_SUMMARY_KERAS2},       {"keras2.7", CK_SUMMARY_KERAS2_7},
    {"keras2.13", CK_SUMMARY_KERAS2_13}, {"keras3", CK_SUMMARY_KERAS3},
    {"keras3.0", CK_SUMMARY_KERAS3_0},   {"keras2.2", CK_SUMMARY_KERAS2_2},
    {"keras2.3", CK_SUMMARY_KERAS2_3},
};

/* --style, or the layout of the Keras that wrote the model. */
static int parse_style(const char *name, const ck_model *m, ck_summary_style *out)
{
    *out = ck_model_summary_style(m);
    if (!name)
        return CLI_OK;
    for (size_t i = 0; i < sizeof summary_styles / sizeof summary_styles[0]; i++)
        if (strcmp(summary_styles[i].name, name) == 0) {
            *out = summary_styles[i].style;
            return CLI_OK;
        }
    return cli_error(
        CLI_USAGE,
        "unknown --style '%s' (keras2.2, keras2.3, keras2, keras2.7, keras2.13, keras3 or keras3.0)",
        name);
}

int cli_cmd_summary(const cli_command *cmd, const cli_args *a)
{
    const char *path;
    ck_summary_style style;
    int rc = cli_take_operands(cmd, a, &path, 1);
    if (rc == CLI_OK)
        rc = parse_style(a->style, NULL, &style);
    if (rc != CLI_OK)
        return rc;
    ck_model *m;
    rc = cli_load_model(a, path, &m);
    if (rc != CLI_OK)
        return rc;
    parse_style(a->style, m, &style);
    if (ck_model_summary(m, stdout, style) != CK_OK)
        rc = cli_lib_error(NULL);
    ck_model_free(m);
    return rc;
}

/* The library counts a non-finite value within its batch; the user counts
 * within INPUT. Only the failing batch is scanned again. */
static int nonfinite_input(const float *rows, const ck_tensor *chunk, int64_t start)
{
    size_t n = ck_tensor_size(chunk), per = n / (size_t)chunk->dims[0];
    for (size_t i = 0; i < n; i++)
        if (!isfinite(rows[i]))
            return cli_error(CLI_FAIL, "INPUT: value #%zu (in sample %lld) is %s",
                             (size_t)start * per + i, (long long)(start + (int64_t)(i / per)),
                             isnan(rows[i]) ? "NaN" : "infinite");
    return cli_lib_error("INPUT");
}

/* Runs the model over x in batches of `batch` samples into y. */
static int predict_batches(ck_model *m, cli_rows *x, ck_tensor *y, int64_t batch)
{
    size_t out_sample = ck_tensor_size(y) / (size_t)y->dims[0];
    for (int64_t start = 0; start < x->shape.dims[0]; start += batch) {
        ck_tensor xc = x->shape, yc = *y;
        xc.dims[0] = yc.dims[0] = x->shape.dims[0] - start < batch ? x->shape.dims[0] - start
                                                                   : batch;
        const float *rows;
        int rc = cli_rows_get(x, start, xc.dims[0], &rows);
        if (rc != CLI_OK)
            return rc;
        xc.data = (float *)rows;
        yc.data = y->data + (size_t)start * out_sample;
        ck_status st = ck_model_predict_tensor(m, &xc, &yc);
        if (st == CK_ERR_NUMERIC)
            return nonfinite_input(rows, &xc, start);
        if (st != CK_OK)
            return cli_lib_error("INPUT");
    }
    return CLI_OK;
}

static void print_rows(const ck_tensor *y)
{
    size_t per = ck_tensor_size(y) / (size_t)y->dims[0];
    for (int64_t i = 0; i < y->dims[0]; i++) {
        const float *row = y->data + (size_t)i * per;
        for (size_t j = 0; j < per; j++)
            printf(j ? " %.9g" : "%.9g", (double)row[j]);
        putchar('\n');
    }
}

/* Predictions out: text lines, or classes with --argmax, to standard
 * output, or an array file (-o, where - is standard output). */
static int emit(const cli_args *a, const cli_classes *c, const ck_tensor *y)
{
    ck_tensor ids = {0};
    int rc = a->argmax ? cli_output_classes(y, &ids) : CLI_OK;
    const ck_tensor *out = a->argmax ? &ids : y;
    if (rc == CLI_OK && a->output)
        rc = cli_write_array(a->output, out);
    else if (rc == CLI_OK && a->argmax)
        cli_print_classes(&ids, c);
    else if (rc == CLI_OK)
        print_rows(y);
    free(ids.data);
    if (rc == CLI_OK && fflush(stdout) != 0)
        rc = cli_error(CLI_FAIL, "cannot write the predictions to standard output");
    return rc;
}

/* A model whose input declares its batch size runs batches of it, as
 * Keras's stateful layers need. */
static int64_t batch_size(const ck_model *m, const cli_args *a)
{
    int64_t declared = ck_model_input_batch_size(m);
    return a->batch_size ? a->batch_size : declared ? declared : DEFAULT_BATCH;
}

static int predict_rows(ck_model *m, const cli_args *a, const cli_classes *c, cli_rows *x)
{
    ck_tensor y = {0};
    int rc = cli_check_input(m, &x->shape, x->spec, "INPUT");
    if (rc == CLI_OK)
        rc = cli_output_shape(m, &x->shape, &y);
    if (rc != CLI_OK)
        return rc;
    size_t n = ck_tensor_size(&y);
    y.data = n ? calloc(n, sizeof(float)) : NULL;
    if (!y.data && x->shape.dims[0] == 0)
        return cli_error(CLI_FAIL, "INPUT has an array of no samples: the first axis is the batch");
    if (!y.data)
        return n ? cli_no_memory() : cli_error(CLI_FAIL, "the model output is empty");
    rc = predict_batches(m, x, &y, batch_size(m, a));
    if (rc == CLI_OK)
        rc = emit(a, c, &y);
    free(y.data);
    return rc;
}

static int predict_array(ck_model *m, const cli_args *a, const cli_classes *c, const ck_tensor *x)
{
    cli_rows whole = {.spec = "standard input", .shape = *x};
    return predict_rows(m, a, c, &whole);
}

/* What one array of a stream is to the model: a batch, one sample, or
 * one frame of a sample whose first axis is time. */
typedef enum { AS_BATCH, AS_SAMPLE, AS_FRAME, AS_NOTHING } stream_role;

/* t's axes from t_from on are the model's sample axes from `from` on
 * (open axes take any size). */
static bool axes_fit(const ck_tensor *t, int t_from, int rank, const int64_t *dims, int from)
{
    if (t->rank - t_from != rank - from)
        return false;
    for (int i = 0; i < rank - from; i++)
        if (dims[from + i] >= 0 && dims[from + i] != t->dims[t_from + i])
            return false;
    return true;
}

static stream_role role_of(const ck_tensor *t, int rank, const int64_t *dims)
{
    if (axes_fit(t, 1, rank, dims, 0))
        return AS_BATCH;
    if (axes_fit(t, 0, rank, dims, 0))
        return AS_SAMPLE;
    if (rank >= 2 && dims[0] > 0 && axes_fit(t, 0, rank, dims, 1))
        return AS_FRAME;
    return AS_NOTHING;
}

/* The last `frames` frames of a stream of frames, oldest first. Open
 * axes of the model take any size, but every frame of a window must have
 * the first frame's shape. */
typedef struct window {
    float *data;
    size_t frame, frames, have;
    ck_tensor shape; /* of the first frame; no data */
} window;

static int window_push(window *w, const ck_tensor *t)
{
    size_t size = ck_tensor_size(t);
    if (!w->data) {
        if (!(w->data = malloc(sizeof(float) * size * w->frames)))
            return cli_no_memory();
        w->shape = (ck_tensor){.rank = t->rank};
        memcpy(w->shape.dims, t->dims, sizeof(int64_t) * (size_t)t->rank);
    } else if (t->rank != w->shape.rank ||
               memcmp(t->dims, w->shape.dims, sizeof(int64_t) * (size_t)t->rank) != 0) {
        char got[128], want[128];
        ck_shape_string(t->rank, t->dims, got, sizeof got);
        ck_shape_string(w->shape.rank, w->shape.dims, want, sizeof want);
        return cli_error(CLI_FAIL,
                         "standard input: a frame of shape %s after frames of shape %s; the "
                         "frames of a window have one shape",
                         got, want);
    }
    w->frame = size;
    if (w->have == w->frames)
        memmove(w->data, w->data + size, sizeof(float) * size * (w->frames - 1));
    else
        w->have++;
    memcpy(w->data + size * (w->have - 1), t->data, sizeof(float) * size);
    return CLI_OK;
}

/* One array of the stream: predicted at once, or (a frame) once the
 * window holds as many frames as a sample has. */
static int predict_streamed(ck_model *m, const cli_args *a, const cli_classes *c, ck_tensor *t,
                            window *w)
{
    int rank;
    int64_t dims[CK_MAX_RANK];
    if (ck_model_input_shape(m, &rank, dims) != CK_OK)
        return cli_lib_error(NULL);
    stream_role role = role_of(t, rank, dims);
    if (role == AS_BATCH)
        return predict_array(m, a, c, t);
    ck_tensor sample = {rank + 1, {1}, t->data};
    if (role == AS_SAMPLE) {
        memcpy(sample.dims + 1, t->dims, sizeof(int64_t) * (size_t)rank);
        return predict_array(m, a, c, &sample);
    }
    if (role == AS_NOTHING)
        return cli_check_input(m, t, NULL, "an array of standard input");
    w->frames = (size_t)dims[0];
    int rc = window_push(w, t);
    if (rc != CLI_OK || w->have < w->frames)
        return rc;
    /* (1, frames, the frames' own shape): open axes take the frames' sizes. */
    sample.dims[1] = dims[0];
    memcpy(sample.dims + 2, t->dims, sizeof(int64_t) * (size_t)t->rank);
    sample.data = w->data;
    return predict_array(m, a, c, &sample);
}

/* INPUT -: arrays arrive one after another (a camera pipeline writing
 * frames, windows or batches) and each prediction goes out at once. */
static int predict_stdin(ck_model *m, const cli_args *a, const cli_classes *c)
{
    window w = {0};
    int rc = CLI_OK;
    for (bool end = false; rc == CLI_OK;) {
        ck_tensor t;
        if (ck_npy_read_stream(stdin, &t, &end) != CK_OK)
            rc = cli_lib_error("standard input");
        if (rc != CLI_OK || end)
            break;
        rc = predict_streamed(m, a, c, &t, &w);
        ck_free(t.data);
    }
    free(w.data);
    return rc;
}

static int check_predict_output(const cli_args *a, const char *const *ops)
{
    if (!a->output)
        return CLI_OK;
    if (strcmp(ops[1], "-") == 0 && strcmp(a->output, "-") != 0)
        return cli_error(CLI_USAGE, "predictions of standard input go to standard output "
                                    "(text, or -o - for .npy)");
    const char *inputs[] = {ops[0], a->config, a->weights, ops[1]};
    int rc = cli_check_array_output(a->output);
    return rc == CLI_OK ? cli_check_output_distinct(a->output, inputs, 4) : rc;
}

/* INPUT is opened, and its first batch read, on a second thread while
 * the first loads the model; the matrix library starts there too. On two
 * cores the three overlap. The warm-up comes first: it stops OpenBLAS's
 * idle threads while the load waits for that, where stopping them beside
 * two busy threads took 1-4 ms (the exiting thread waited for a core). */
typedef struct input_job {
    const char *spec;
    int64_t batch;
    cli_rows x;
    int rc;
    char message[1024];
} input_job;

/* Opens INPUT and reads its first batch. */
static void *read_input(void *arg)
{
    input_job *j = arg;
    ck_warm_up();
    j->rc = cli_rows_open(j->spec, "INPUT", &j->x);
    const float *first;
    if (j->rc == CLI_OK)
        j->rc = cli_rows_get(&j->x, 0,
                             j->x.shape.dims[0] < j->batch ? j->x.shape.dims[0] : j->batch, &first);
    if (j->rc != CLI_OK)
        snprintf(j->message, sizeof j->message, "%s", cli_error_message());
    return NULL;
}

/* Loads the model while the second thread reads INPUT; in->rc says how
 * the read went, for the caller to report after the model's checks. */
static int load_with_input(const cli_args *a, const char *model, input_job *in, ck_model **m)
{
    pthread_t reader;
    bool threaded = pthread_create(&reader, NULL, read_input, in) == 0;
    int rc = cli_load_model(a, model, m);
    if (threaded)
        pthread_join(reader, NULL);
    else if (rc == CLI_OK)
        read_input(in);
    return rc;
}

int cli_cmd_predict(const cli_command *cmd, const cli_args *a)
{
    const char *ops[2];
    cli_classes c = {0};
    int rc = cli_take_operands(cmd, a, ops, 2);
    if (rc == CLI_OK)
        rc = check_predict_output(a, ops);
    if (rc == CLI_OK && a->classes)
        rc = cli_parse_classes(a->classes, &c);
    bool from_stdin = rc == CLI_OK && strcmp(ops[1], "-") == 0;
    ck_model *m = NULL;
    input_job in = {.spec = rc == CLI_OK ? ops[1] : NULL, .batch = batch_size(NULL, a)};
    if (rc == CLI_OK)
        rc = from_stdin ? cli_load_model(a, ops[0], &m) : load_with_input(a, ops[0], &in, &m);
    if (rc == CLI_OK)
        rc = cli_check_class_count(m, &c);
    if (rc == CLI_OK && !from_stdin && in.rc != CLI_OK)
        rc = cli_error(in.rc, "%s", in.message);
    if (rc == CLI_OK)
        rc = from_stdin ? predict_stdin(m, a, &c) : predict_rows(m, a, &c, &in.x);
    cli_rows_free(&in.x);
    ck_model_free(m);
    cli_classes_free(&c);
    return rc;
}

/* ---------------------------------------------------------------- convert */

/* OUT.weights.h5 gets its architecture in OUT.json, as Keras 3 users keep
 * them; both are checked against the inputs before anything is written. */
/* NAME.json for the first `stem` bytes NAME of out, or NULL. */
static char *json_beside(const char *out, size_t stem)
{
    char *json_path = malloc(stem + sizeof ".json");
    if (json_path) {
        memcpy(json_path, out, stem);
        memcpy(json_path + stem, ".json", sizeof ".json");
    }
    return json_path;
}

static int write_keras3(ck_model *m, const char *out, const char *const *inputs, int n_inputs)
{
    char *json_path = json_beside(out, strlen(out) - strlen(".weights.h5"));
    if (!json_path)
        return cli_no_memory();
    int rc = cli_check_output_distinct(json_path, inputs, n_inputs);
    /* Replaced together: a failure leaves both old files. */
    if (rc == CLI_OK &&
        ck_model_save(m, out, .format = CK_FORMAT_KERAS_WEIGHTS, .json_path = json_path) != CK_OK)
        rc = cli_lib_error(out);
    free(json_path);
    return rc;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* NAME_<digits>.weights.h5 for stem NAME of OUT. */
static bool is_shard_of(const char *path, const char *out, size_t stem)
{
    if (strncmp(path, out, stem) != 0 || path[stem] != '_')
        return false;
    size_t digits = strspn(path + stem + 1, "0123456789");
    return digits >= 5 && strcmp(path + stem + 1 + digits, ".weights.h5") == 0;
}

/* OUT.weights.json (Keras 3.10+ save_weights with max_shard_size): the
 * shards OUT_00000.weights.h5, ... and the index, then the architecture
 * in OUT.json. The shards may not replace an input: the inputs are
 * checked against the names of the shards the split gives. */
static int write_sharded(ck_model *m, const cli_args *a, const char *const *inputs, int n_inputs)
{
    const char *out = a->output;
    size_t stem = strlen(out) - strlen(".weights.json");
    char *json_path = json_beside(out, stem);
    if (!json_path)
        return cli_no_memory();
    int rc = cli_check_output_distinct(json_path, inputs, n_inputs);
    for (int i = 0; rc == CLI_OK && i < n_inputs; i++)
        if (inputs[i] && is_shard_of(inputs[i], out, stem))
            rc = cli_error(CLI_USAGE, "-o %s would replace its shard %s, an input", out, inputs[i]);
    if (rc == CLI_OK && ck_model_save_weights(m, out, .max_shard_size = a->max_shard_size) != CK_OK)
        rc = cli_lib_error(out);
    if (rc == CLI_OK && ck_model_save(m, json_path, .format = CK_FORMAT_JSON) != CK_OK)
        rc = cli_lib_error(json_path);
    free(json_path);
    return rc;
}

static int convert_target_of(const char *out, ck_file_format *f)
{
    *f = ck_file_format_of(out);
    if (*f == CK_FORMAT_AUTO || *f == CK_FORMAT_NPY)
        return cli_error(CLI_USAGE,
                         "-o %s: the output must end in .weights.h5, .json, .h5 or .keras", out);
    return CLI_OK;
}

int cli_cmd_convert(const cli_command *cmd, const cli_args *a)
{
    const char *path;
    ck_file_format target = CK_FORMAT_H5;
    int rc = cli_take_operands(cmd, a, &path, 1);
    if (rc != CLI_OK)
        return rc;
    if (!a->output)
        return cli_error(CLI_USAGE, "convert needs -o OUT (see 'ckeras convert --help')");
    const char *inputs[] = {path, a->config, a->weights};
    bool sharded = ends_with(a->output, ".weights.json");
    if (sharded != cli_given(a, "max-shard-size"))
        return cli_error(CLI_USAGE,
                         sharded ? "-o %s: sharded weights need --max-shard-size GB"
                                 : "--max-shard-size needs -o NAME.weights.json, not %s",
                         a->output);
    rc = convert_target_of(a->output, &target);
    if (rc == CLI_OK)
        rc = cli_check_output_distinct(a->output, inputs, 3);
    if (rc != CLI_OK)
        return rc;
    ck_model *m;
    rc = cli_load_model(a, path, &m);
    if (rc != CLI_OK)
        return rc;
    if (sharded)
        rc = write_sharded(m, a, inputs, 3);
    else if (target == CK_FORMAT_KERAS_WEIGHTS)
        rc = write_keras3(m, a->output, inputs, 3);
    else if (ck_model_save_as(m, a->output, target) != CK_OK)
        rc = cli_lib_error(a->output);
    ck_model_free(m);
    return rc;
}
