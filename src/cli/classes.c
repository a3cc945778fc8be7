/* Classes on the command line: --classes names them in output order, so
 * --y may hold string labels, --data may read the tutorial's folders,
 * and predictions and confusion matrices can print names. */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

/* More names than any classifier output; bounds hostile lists. */
#define MAX_CLASSES 100000

int cli_parse_classes(const char *list, cli_classes *out)
{
    memset(out, 0, sizeof *out);
    size_t len = strlen(list);
    size_t commas = 0;
    for (size_t i = 0; i < len; i++)
        commas += list[i] == ',';
    if (commas >= MAX_CLASSES)
        return cli_error(CLI_USAGE, "--classes: more than %d names", MAX_CLASSES);
    out->text = malloc(len + 1);
    out->names = calloc(commas + 1, sizeof *out->names);
    if (!out->text || !out->names)
        return cli_no_memory();
    memcpy(out->text, list, len + 1);
    /* Split at every comma, keeping empty names so they can be refused. */
    for (char *p = out->text;; p++) {
        char *comma = strchr(p, ',');
        out->names[out->n++] = p;
        if (!comma)
            break;
        *comma = '\0';
        p = comma;
    }
    for (int i = 0; i < out->n; i++) {
        if (!out->names[i][0])
            return cli_error(CLI_USAGE, "--classes: name %d is empty", i + 1);
        for (int j = 0; j < i; j++)
            if (strcmp(out->names[i], out->names[j]) == 0)
                return cli_error(CLI_USAGE, "--classes: '%s' is given twice", out->names[i]);
    }
    return CLI_OK;
}

void cli_classes_free(cli_classes *c)
{
    free(c->text);
    /* Names from a folder are the items of c->owned. */
    if (c->names != (const char **)c->owned.items)
        free(c->names);
    ck_strings_free(&c->owned);
    memset(c, 0, sizeof *c);
}

const char *cli_class_name(const cli_classes *c, int i, char *buf, size_t len)
{
    if (c && i >= 0 && i < c->n)
        return c->names[i];
    snprintf(buf, len, "%d", i);
    return buf;
}

/* Classes the model's output stands for: its width, or 2 for one unit. */
static int model_classes(ck_model *m, int *k)
{
    int rank;
    int64_t dims[CK_MAX_RANK];
    if (ck_model_output_shape(m, &rank, dims) != CK_OK)
        return cli_lib_error(NULL);
    int64_t width = rank ? dims[rank - 1] : 1;
    *k = width == 1 ? 2 : width > MAX_CLASSES ? 0 : (int)width;
    return CLI_OK;
}

int cli_check_class_count(ck_model *m, const cli_classes *c)
{
    int k = 0;
    int rc = model_classes(m, &k);
    if (rc == CLI_OK && c->n && c->n != k)
        rc = cli_error(CLI_USAGE, "--classes names %d classes but model %s outputs %d", c->n,
                       ck_model_name(m), k);
    return rc;
}

/* Targets for class ids, as the compiled loss takes them. */
static int targets_of(ck_model *m, const int32_t *ids, int64_t n, const cli_classes *c,
                      ck_tensor *y)
{
    if (ck_model_class_targets(m, ids, n, c->n, y) != CK_OK)
        return cli_lib_error(NULL);
    return CLI_OK;
}

/* The folder's sequences, as many frames each as the model takes. */
static int read_folder(ck_model *m, const cli_args *a, cli_classes *c, ck_tensor *x, ck_tensor *y)
{
    int rank;
    int64_t dims[CK_MAX_RANK];
    if (ck_model_input_shape(m, &rank, dims) != CK_OK)
        return cli_lib_error(NULL);
    ck_sequence_data d;
    if (ck_sequence_dir_read(a->data, &d, .classes = c->n ? c->names : NULL, .n_classes = c->n,
                             .frames = rank >= 1 && dims[0] > 0 ? dims[0] : 0) != CK_OK)
        return cli_lib_error(a->data);
    if (!c->n) {
        c->owned = d.classes;
        d.classes = (ck_strings){0};
        c->names = (const char **)c->owned.items;
        c->n = (int)c->owned.n;
    }
    *x = d.x;
    d.x.data = NULL;
    int rc = cli_check_input(m, x, NULL, "--data");
    if (rc == CLI_OK)
        rc = cli_check_class_count(m, c);
    if (rc == CLI_OK)
        rc = targets_of(m, d.ids, x->dims[0], c, y);
    ck_sequence_data_free(&d);
    return rc;
}

/* The targets `path` of option `opt` (--y, --validation-y) for the samples
 * of x, given as option `x_opt`. */
typedef struct target_file {
    const char *path, *opt, *x_opt;
} target_file;

/* String labels of the --classes; *numbers when the file holds numbers. */
static int read_labels(ck_model *m, const target_file *t, const cli_classes *c, int64_t n,
                       ck_tensor *y, bool *numbers)
{
    ck_strings labels;
    int rc = cli_read_strings(t->path, &labels, numbers);
    if (rc != CLI_OK || *numbers)
        return rc;
    int32_t *ids = malloc(sizeof *ids * (size_t)(labels.n ? labels.n : 1));
    if (!ids)
        rc = cli_no_memory();
    else if (labels.n != n)
        rc = cli_error(CLI_FAIL, "%s has %lld labels but %s has %lld samples", t->opt,
                       (long long)labels.n, t->x_opt, (long long)n);
    else if (ck_class_ids((const char *const *)labels.items, n, c->names, c->n, ids) != CK_OK)
        rc = cli_lib_error(t->opt);
    if (rc == CLI_OK)
        rc = targets_of(m, ids, n, c, y);
    free(ids);
    ck_strings_free(&labels);
    return rc;
}

/* Numeric targets; strings there without --classes get a pointed message. */
static int read_numbers(const target_file *t, ck_tensor *y)
{
    int rc = cli_read_array(t->path, t->opt, y);
    if (rc == CLI_OK)
        return rc;
    char why[1024];
    snprintf(why, sizeof why, "%s", cli_error_message());
    ck_strings labels;
    bool numbers = true;
    if (cli_read_strings(t->path, &labels, &numbers) == CLI_OK && !numbers) {
        ck_strings_free(&labels);
        return cli_error(CLI_USAGE,
                         "%s %s holds string labels: name the classes in output order with "
                         "--classes a,b,c",
                         t->opt, t->path);
    }
    return cli_error(rc, "%s", why);
}

static int read_targets(ck_model *m, const target_file *t, const cli_classes *c, const ck_tensor *x,
                        ck_tensor *y)
{
    bool numbers = !c->n;
    int rc = c->n ? read_labels(m, t, c, x->dims[0], y, &numbers) : CLI_OK;
    if (rc == CLI_OK && numbers)
        rc = read_numbers(t, y);
    if (rc == CLI_OK && y->dims[0] != x->dims[0])
        rc = cli_error(CLI_FAIL, "%s has %lld samples but %s has %lld", t->opt,
                       (long long)y->dims[0], t->x_opt, (long long)x->dims[0]);
    return rc;
}

int cli_read_validation(ck_model *m, const cli_args *a, const cli_classes *c, ck_tensor *x,
                        ck_tensor *y)
{
    const target_file t = {a->validation_y, "--validation-y", "--validation-x"};
    int rc = cli_read_array(a->validation_x, "--validation-x", x);
    if (rc == CLI_OK)
        rc = cli_check_input(m, x, a->validation_x, "--validation-x");
    return rc == CLI_OK ? read_targets(m, &t, c, x, y) : rc;
}

int cli_check_data_args(const cli_command *cmd, const cli_args *a)
{
    if (a->data && (a->x || a->y))
        return cli_error(CLI_USAGE, "--data replaces --x and --y: give one or the other");
    if (!a->data && (!a->x || !a->y))
        return cli_error(CLI_USAGE,
                         "%s needs --x X and --y Y, or --data DIR (see 'ckeras %s --help')",
                         cmd->name, cmd->name);
    if (a->x && a->y && strcmp(a->x, "-") == 0 && strcmp(a->y, "-") == 0)
        return cli_error(CLI_USAGE, "--x and --y cannot both be standard input");
    return CLI_OK;
}

int cli_read_xy(ck_model *m, const cli_args *a, cli_classes *c, ck_tensor *x, ck_tensor *y)
{
    memset(x, 0, sizeof *x);
    memset(y, 0, sizeof *y);
    int rc = cli_check_class_count(m, c);
    if (rc != CLI_OK)
        return rc;
    if (a->data)
        rc = read_folder(m, a, c, x, y);
    else if ((rc = cli_read_array(a->x, "--x", x)) == CLI_OK &&
             (rc = cli_check_input(m, x, a->x, "--x")) == CLI_OK)
        rc = read_targets(m, &(target_file){a->y, "--y", "--x"}, c, x, y);
    if (rc != CLI_OK) {
        ck_free(x->data);
        ck_free(y->data);
        x->data = y->data = NULL;
    }
    return rc;
}

int cli_output_classes(const ck_tensor *y, ck_tensor *ids)
{
    if (y->rank < 2)
        return cli_error(CLI_FAIL, "--argmax needs outputs with a class axis");
    *ids = *y;
    ids->rank = y->rank - 1;
    size_t n = ck_tensor_size(ids);
    int32_t *raw = malloc(sizeof *raw * (n ? n : 1));
    ids->data = malloc(sizeof(float) * (n ? n : 1));
    int rc = raw && ids->data ? CLI_OK : cli_no_memory();
    if (rc == CLI_OK && ck_output_class_ids(y, 0.5f, raw) != CK_OK)
        rc = cli_lib_error(NULL);
    for (size_t i = 0; rc == CLI_OK && i < n; i++)
        ids->data[i] = (float)raw[i];
    free(raw);
    if (rc != CLI_OK) {
        free(ids->data);
        ids->data = NULL;
    }
    return rc;
}

void cli_print_classes(const ck_tensor *ids, const cli_classes *c)
{
    size_t per = ck_tensor_size(ids) / (size_t)ids->dims[0];
    char buf[16];
    for (int64_t i = 0; i < ids->dims[0]; i++) {
        for (size_t j = 0; j < per; j++)
            printf("%s%s", j ? " " : "",
                   cli_class_name(c, (int)ids->data[(size_t)i * per + j], buf, sizeof buf));
        putchar('\n');
    }
}
