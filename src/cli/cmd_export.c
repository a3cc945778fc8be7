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

static const struct {
    const char *name;
    ck_export_quantize quantize;
} quantize_kinds[] = {
    {"float32", CK_EXPORT_FLOAT32}, {"float16", CK_EXPORT_FLOAT16}, {"int8", CK_EXPORT_INT8}};

/* --quantize, float32 when absent. */
static int parse_quantize(const char *name, ck_export_quantize *out)
{
    *out = CK_EXPORT_FLOAT32;
    for (size_t i = 0; name && i < sizeof quantize_kinds / sizeof quantize_kinds[0]; i++)
        if (strcmp(quantize_kinds[i].name, name) == 0) {
            *out = quantize_kinds[i].quantize;
            return CLI_OK;
        }
    return name ? cli_error(CLI_USAGE, "unknown --quantize '%s' (float32, float16 or int8)", name)
                : CLI_OK;
}

static void print_report(const cli_args *a, const ck_export_report *r)
{
    const char *name = r->name;
    printf("Wrote %s%s%s: %s_predict, %s_reset", a->output, a->header ? " and " : "",
           a->header ? a->header : "", name, name);
    if (r->streaming)
        printf(", %s_step (one time step at a time)", name);
    printf("\nFlash: %zu bytes of weights (%zu parameters, %s)\n", r->weight_bytes, r->params,
           a->quantize ? a->quantize : "float32");
    printf("RAM:   %zu bytes of state (%s_STATE_BYTES)\n", r->state_bytes, name);
    printf("Largest output difference from the float model: %.3g on %lld %s\n", r->max_abs_diff,
           (long long)r->samples, a->x ? "inputs from --x" : "random inputs");
}

static int export_model(ck_model *m, const cli_args *a, const char *model,
                        ck_export_quantize quantize, const ck_tensor *x)
{
    ck_export_report report;
    ck_export_options o = ck_export_default_options();
    o.c_path = a->output;
    o.header_path = a->header;
    o.name = a->name;
    o.quantize = quantize;
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
    ck_export_quantize quantize;
    int rc = cli_take_operands(cmd, a, &model, 1);
    if (rc == CLI_OK)
        rc = check_outputs(a, model);
    if (rc == CLI_OK)
        rc = parse_quantize(a->quantize, &quantize);
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
        rc = export_model(m, a, model, quantize, a->x ? &x : NULL);
    ck_free(x.data);
    ck_model_free(m);
    return rc;
}
