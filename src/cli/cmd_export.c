/* ckeras export: a model as one dependency-free C file (docs/export.md). */
#include "cli.h"

#include <string.h>

/* Whether the file name's last suffix is `suffix` (".c"). */
static bool has_suffix(const char *path, const char *suffix)
{
    const char *dot = strrchr(path, '.');
    return dot && strcmp(dot, suffix) == 0;
}

static int check_outputs(const cli_args *a, const char *model)
{
    const char *inputs[] = {model, a->config, a->weights, a->x};
    if (!a->output)
        return cli_error(CLI_USAGE, "export needs -o OUT.c (see 'ckeras export --help')");
    if (!has_suffix(a->output, ".c"))
        return cli_error(CLI_USAGE, "-o %s: the output must end in .c", a->output);
    if (a->header && !has_suffix(a->header, ".h"))
        return cli_error(CLI_USAGE, "--header %s: the header must end in .h", a->header);
    if (a->header && strcmp(a->header, a->output) == 0)
        return cli_error(CLI_USAGE, "--header and -o name the same file");
    int rc = cli_check_output_distinct(a->output, inputs, 4);
    return rc == CLI_OK && a->header ? cli_check_output_distinct(a->header, inputs, 4) : rc;
}

static ck_export_weights storage_of(const char *name)
{
    if (name && strcmp(name, "int8") == 0)
        return CK_EXPORT_INT8;
    return name && strcmp(name, "float16") == 0 ? CK_EXPORT_FLOAT16 : CK_EXPORT_FLOAT32;
}

static void print_report(const cli_args *a, const ck_export_report *r)
{
    const char *name = r->name;
    printf("Wrote %s%s%s: %s_predict, %s_reset", a->output, a->header ? " and " : "",
           a->header ? a->header : "", name, name);
    if (r->streaming)
        printf(", %s_step (one time step at a time)", name);
    printf("\nFlash: %zu bytes of weights (%zu parameters, %s)\n", r->weight_bytes, r->params,
           a->export_weights ? a->export_weights : "float32");
    printf("RAM:   %zu bytes of state (%s_STATE_BYTES)\n", r->state_bytes, name);
    printf("Largest output difference from the float model: %.3g on %lld %s\n", r->max_abs_diff,
           (long long)r->samples, a->x ? "inputs from --x" : "random inputs");
}

static int export_model(ck_model *m, const cli_args *a, const char *model, const ck_tensor *x)
{
    ck_export_report report;
    ck_export_options o = ck_export_default_options();
    o.c_path = a->output;
    o.header_path = a->header;
    o.name = a->name;
    o.weights = storage_of(a->export_weights);
    o.timesteps = a->timesteps;
    o.sample = x;
    o.seed = (uint64_t)a->seed;
    o.sources[0] = model ? model : a->config;
    o.sources[1] = a->weights;
    o.report = &report;
    if (ck_model_export_c(m, &o) != CK_OK)
        return cli_lib_error(NULL);
    print_report(a, &report);
    return CLI_OK;
}

int cli_cmd_export(const cli_command *cmd, const cli_args *a)
{
    const char *model;
    int rc = cli_take_operands(cmd, a, &model, 1);
    if (rc == CLI_OK)
        rc = check_outputs(a, model);
    if (rc != CLI_OK)
        return rc;
    ck_model *m;
    rc = cli_load_model(a, model, &m);
    if (rc != CLI_OK)
        return rc;
    ck_tensor x = {0};
    if (a->x)
        rc = cli_read_array(a->x, "--x", &x);
    if (rc == CLI_OK)
        rc = export_model(m, a, model, a->x ? &x : NULL);
    ck_free(x.data);
    ck_model_free(m);
    return rc;
}
