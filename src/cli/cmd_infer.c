/* Commands that use a model without training it: summary, predict, convert. */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

#define DEFAULT_BATCH 32

static const struct {
    const char *name;
    ck_summary_style style;
} summary_styles[] = {
    {"keras2", CK_SUMMARY_KERAS2},
    {"keras2.7", CK_SUMMARY_KERAS2_7},
    {"keras2.13", CK_SUMMARY_KERAS2_13},
    {"keras3", CK_SUMMARY_KERAS3},
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
    return cli_error(CLI_USAGE, "unknown --style '%s' (keras2, keras2.7, keras2.13 or keras3)",
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

/* Runs the model over x in batches of `batch` samples into y. */
static int predict_batches(ck_model *m, const ck_tensor *x, ck_tensor *y, int64_t batch)
{
    size_t in_sample = ck_tensor_size(x) / (size_t)x->dims[0];
    size_t out_sample = ck_tensor_size(y) / (size_t)y->dims[0];
    for (int64_t start = 0; start < x->dims[0]; start += batch) {
        ck_tensor xc = *x, yc = *y;
        xc.dims[0] = yc.dims[0] = x->dims[0] - start < batch ? x->dims[0] - start : batch;
        xc.data = x->data + (size_t)start * in_sample;
        yc.data = y->data + (size_t)start * out_sample;
        if (ck_model_predict_tensor(m, &xc, &yc) != CK_OK)
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

static int predict_array(ck_model *m, const cli_args *a, const ck_tensor *x)
{
    ck_tensor y = {0};
    int rc = cli_check_input(m, x, "INPUT");
    if (rc == CLI_OK)
        rc = cli_output_shape(m, x, &y);
    if (rc != CLI_OK)
        return rc;
    size_t n = ck_tensor_size(&y);
    y.data = n ? calloc(n, sizeof(float)) : NULL;
    if (!y.data)
        return n ? cli_no_memory() : cli_error(CLI_FAIL, "the model output is empty");
    rc = predict_batches(m, x, &y, a->batch_size ? a->batch_size : DEFAULT_BATCH);
    if (rc == CLI_OK && a->output)
        rc = cli_write_array(a->output, &y);
    else if (rc == CLI_OK)
        print_rows(&y);
    free(y.data);
    return rc;
}

int cli_cmd_predict(const cli_command *cmd, const cli_args *a)
{
    const char *ops[2];
    int rc = cli_take_operands(cmd, a, ops, 2);
    if (rc != CLI_OK)
        return rc;
    if (a->output) {
        const char *inputs[] = {ops[0], a->config, a->weights, ops[1]};
        rc = cli_check_array_output(a->output);
        if (rc == CLI_OK)
            rc = cli_check_output_distinct(a->output, inputs, 4);
        if (rc != CLI_OK)
            return rc;
    }
    ck_model *m;
    rc = cli_load_model(a, ops[0], &m);
    if (rc != CLI_OK)
        return rc;
    ck_tensor x;
    rc = cli_read_array(ops[1], "INPUT", &x);
    if (rc == CLI_OK) {
        rc = predict_array(m, a, &x);
        ck_free(x.data);
    }
    ck_model_free(m);
    return rc;
}

/* ---------------------------------------------------------------- convert */

/* OUT.weights.h5 gets its architecture in OUT.json, as Keras 3 users keep
 * them; both are checked against the inputs before anything is written. */
static int write_keras3(ck_model *m, const char *out, const char *const *inputs, int n_inputs)
{
    size_t stem = strlen(out) - strlen(".weights.h5");
    char *json_path = malloc(stem + sizeof ".json");
    if (!json_path)
        return cli_no_memory();
    memcpy(json_path, out, stem);
    memcpy(json_path + stem, ".json", sizeof ".json");
    int rc = cli_check_output_distinct(json_path, inputs, n_inputs);
    if (rc == CLI_OK && ck_model_save_as(m, out, CK_FORMAT_KERAS_WEIGHTS) != CK_OK)
        rc = cli_lib_error(out);
    if (rc == CLI_OK && ck_model_save_as(m, json_path, CK_FORMAT_JSON) != CK_OK)
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
    rc = convert_target_of(a->output, &target);
    if (rc == CLI_OK)
        rc = cli_check_output_distinct(a->output, inputs, 3);
    if (rc != CLI_OK)
        return rc;
    ck_model *m;
    rc = cli_load_model(a, path, &m);
    if (rc != CLI_OK)
        return rc;
    if (target == CK_FORMAT_KERAS_WEIGHTS)
        rc = write_keras3(m, a->output, inputs, 3);
    else if (ck_model_save_as(m, a->output, target) != CK_OK)
        rc = cli_lib_error(a->output);
    ck_model_free(m);
    return rc;
}
