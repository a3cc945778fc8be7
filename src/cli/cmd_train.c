/* Commands that need a compiled model: fit and evaluate. */
#include "cli.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define DEFAULT_BATCH 32

/* The compile settings fit and evaluate use; metric names point into
 * metrics_text (--metrics) or the loaded model. */
typedef struct train_setup {
    ck_compile_options opts;
    int n_metrics;
    char *metrics_text;
} train_setup;

static int split_metrics(const char *text, train_setup *s)
{
    s->metrics_text = strdup(text);
    if (!s->metrics_text)
        return cli_no_memory();
    char *save = NULL;
    for (char *tok = strtok_r(s->metrics_text, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (s->n_metrics == CLI_MAX_METRICS)
            return cli_error(CLI_USAGE, "--metrics: at most %d metrics", CLI_MAX_METRICS);
        s->opts.metrics[s->n_metrics++] = tok;
    }
    return CLI_OK;
}

/* Keras refuses an argument its optimizer class does not have. */
static int check_optimizer_options(const cli_args *a, const char *optimizer)
{
    static const struct {
        const char *option, *owners[6];
    } table[] = {
        {"momentum", {"sgd", "rmsprop"}},
        {"nesterov", {"sgd"}},
        {"beta-1", {"adam", "nadam", "adamax", "adamw"}},
        {"beta-2", {"adam", "nadam", "adamax", "adamw"}},
        {"amsgrad", {"adam", "adamw"}},
        {"rho", {"rmsprop"}},
        {"centered", {"rmsprop"}},
        {"epsilon", {"adam", "rmsprop", "adagrad", "nadam", "adamax", "adamw"}},
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        if (!cli_given(a, table[i].option))
            continue;
        bool owned = false;
        for (int k = 0; k < 6 && table[i].owners[k]; k++)
            owned |= strcasecmp(optimizer, table[i].owners[k]) == 0;
        if (!owned)
            return cli_error(CLI_USAGE, "--%s does not apply to optimizer %s", table[i].option,
                             optimizer);
    }
    return CLI_OK;
}

/* --optimizer, else the file's optimizer class, else Keras's compile()
 * default; the hyperparameters not given take Keras defaults. */
static int set_optimizer(const cli_args *a, const char *file_optimizer, ck_optimizer_options *o)
{
    o->name = a->optimizer ? a->optimizer : file_optimizer;
    if (!o->name)
        o->name = "rmsprop";
    int rc = check_optimizer_options(a, o->name);
    if (rc != CLI_OK)
        return rc;
    o->learning_rate = a->learning_rate;
    o->momentum = a->momentum;
    o->nesterov = a->nesterov;
    o->beta_1 = a->beta_1;
    o->beta_2 = a->beta_2;
    o->epsilon = a->epsilon;
    o->amsgrad = a->amsgrad;
    o->rho = a->rho;
    o->centered = a->centered;
    o->clipnorm = a->clipnorm;
    o->clipvalue = a->clipvalue;
    if (a->lr_schedule && cli_given(a, "learning-rate"))
        return cli_error(CLI_USAGE, "--lr-schedule replaces --learning-rate; give one of them");
    return a->lr_schedule ? cli_parse_lr_schedule(a->lr_schedule, &o->learning_rate_schedule)
                          : CLI_OK;
}

/* Keeps the compilation stored in the model file unless an option changes
 * it; options not given then take Keras defaults, except the loss and
 * metrics, which fall back to the file's. */
static int prepare_training(ck_model *m, const cli_args *a, train_setup *s)
{
    memset(s, 0, sizeof *s);
    /* The strings of `file` live until the compile below replaces them. */
    ck_compile_options file = {0};
    bool compiled = ck_model_is_compiled(m);
    if (compiled && ck_model_get_compile_options(m, &file) != CK_OK)
        return cli_lib_error(NULL);
    if (cli_given(a, "seed"))
        ck_model_set_seed(m, (uint64_t)a->seed);
    /* Frozen layers train as such from the next compile on, as in Keras. */
    int frozen = cli_freeze_layers(m, a);
    if (frozen != CLI_OK)
        return frozen;
    if (!compiled || a->compile_given) {
        int rc = a->metrics ? split_metrics(a->metrics, s) : CLI_OK;
        if (rc != CLI_OK)
            return rc;
        if (!a->metrics)
            memcpy(s->opts.metrics, file.metrics, sizeof file.metrics);
        s->opts.loss = a->loss ? a->loss : file.loss;
        if (!s->opts.loss)
            return cli_error(CLI_USAGE,
                             "--loss is required: model %s has no training configuration",
                             ck_model_name(m));
        /* The file's loss keeps its from_logits unless --loss replaces it. */
        s->opts.from_logits = a->from_logits || (!a->loss && file.from_logits);
        rc = set_optimizer(a, file.optimizer.name, &s->opts.optimizer);
        if (rc != CLI_OK)
            return rc;
        if (ck_model_compile_with(m, &s->opts) != CK_OK)
            return cli_lib_error(NULL);
    }
    return CLI_OK;
}

/* Reads --x and --y and checks them against the model and each other. */
static int read_xy(ck_model *m, const cli_args *a, ck_tensor *x, ck_tensor *y)
{
    memset(y, 0, sizeof *y);
    int rc = cli_read_array(a->x, "--x", x);
    if (rc != CLI_OK)
        return rc;
    rc = cli_check_input(m, x, "--x");
    if (rc == CLI_OK)
        rc = cli_read_array(a->y, "--y", y);
    if (rc == CLI_OK && y->dims[0] != x->dims[0])
        rc = cli_error(CLI_FAIL, "--y has %lld samples but --x has %lld", (long long)y->dims[0],
                       (long long)x->dims[0]);
    if (rc != CLI_OK) {
        ck_free(x->data);
        ck_free(y->data);
        x->data = y->data = NULL;
    }
    return rc;
}

/* Loads MODEL, reads the data and compiles: the common start of fit and evaluate. */
static int start_training(const cli_command *cmd, const cli_args *a, ck_model **m, ck_tensor *x,
                          ck_tensor *y, train_setup *s)
{
    const char *path;
    memset(s, 0, sizeof *s);
    int rc = cli_take_operands(cmd, a, &path, 1);
    if (rc == CLI_OK && (!a->x || !a->y))
        rc = cli_error(CLI_USAGE, "%s needs --x X and --y Y (see 'ckeras %s --help')", cmd->name,
                       cmd->name);
    if (rc == CLI_OK)
        rc = cli_load_model(a, path, m);
    if (rc != CLI_OK)
        return rc;
    rc = read_xy(*m, a, x, y);
    if (rc == CLI_OK) {
        rc = prepare_training(*m, a, s);
        if (rc != CLI_OK) {
            ck_free(x->data);
            ck_free(y->data);
        }
    }
    if (rc != CLI_OK) {
        free(s->metrics_text);
        ck_model_free(*m);
    }
    return rc;
}

static void finish_training(ck_model *m, ck_tensor *x, ck_tensor *y, train_setup *s)
{
    ck_free(x->data);
    ck_free(y->data);
    free(s->metrics_text);
    ck_model_free(m);
}

/* The last line of fit: what was written where. */
static void report_saved(const cli_args *a, const ck_history *h)
{
    int n = ck_history_epochs(h);
    printf("saved %s: the model after epoch %d", a->output,
           n ? ck_history_epoch_number(h, n - 1) + 1 : 0);
    const char *reason = ck_history_stop_reason(h);
    if (reason[0])
        printf(" (%s)", reason);
    if (a->checkpoint)
        printf("; checkpoints %s", a->checkpoint);
    if (a->csv_log)
        printf("; log %s", a->csv_log);
    printf("\n");
}

static int run_fit(ck_model *m, const cli_args *a, ck_tensor *x, ck_tensor *y)
{

    ck_fit_options fo = {
        .epochs = a->epochs ? (int)a->epochs : 1,
        .batch_size = a->batch_size ? (int)a->batch_size : DEFAULT_BATCH,
        .validation_split = a->validation_split,
        .no_shuffle = a->no_shuffle,
        .verbose = cli_given(a, "verbose") ? (int)a->verbose
                   : isatty(STDOUT_FILENO) ? 1
                                           : 2,
        .log = stdout,
    };
    cli_fit_extras ex = {0};
    int rc = cli_class_weights(a, y, &ex);
    if (rc == CLI_OK)
        rc = cli_fit_callbacks(m, a, &fo, &ex);
    ck_history *history = NULL;
    if (rc == CLI_OK && ck_model_fit_with(m, x, y, &fo, &history) != CK_OK)
        rc = cli_lib_error(NULL);
    else if (rc == CLI_OK && ck_model_save_as(m, a->output, ck_file_format_of(a->output)) != CK_OK)
        rc = cli_lib_error(a->output);
    if (rc == CLI_OK && fo.verbose)
        report_saved(a, history);
    ck_history_free(history);
    cli_fit_extras_free(&ex);
    return rc;
}

int cli_cmd_fit(const cli_command *cmd, const cli_args *a)
{
    if (!a->output)
        return cli_error(CLI_USAGE, "fit needs -o OUT.h5 for the trained model");
    ck_file_format format = ck_file_format_of(a->output);
    if (format != CK_FORMAT_H5 && format != CK_FORMAT_KERAS && format != CK_FORMAT_KERAS_WEIGHTS)
        return cli_error(CLI_USAGE,
                         "-o %s: the trained model is saved as OUT.h5 or OUT.keras (whole model) "
                         "or OUT.weights.h5 (Keras 3 weights)",
                         a->output);
    /* Replacing MODEL with its trained self loses nothing; replacing a data
     * file would. */
    const char *data[] = {a->x, a->y, a->weights, a->validation_x, a->validation_y, a->csv_log};
    int rc0 = cli_check_output_distinct(a->output, data, 6);
    if (rc0 != CLI_OK)
        return rc0;
    ck_model *m;
    ck_tensor x, y;
    train_setup s;
    int rc = start_training(cmd, a, &m, &x, &y, &s);
    if (rc != CLI_OK)
        return rc;
    rc = run_fit(m, a, &x, &y);
    finish_training(m, &x, &y, &s);
    return rc;
}

int cli_cmd_evaluate(const cli_command *cmd, const cli_args *a)
{
    ck_model *m;
    ck_tensor x, y;
    train_setup s;
    int rc = start_training(cmd, a, &m, &x, &y, &s);
    if (rc != CLI_OK)
        return rc;
    double loss, metrics[8];
    cli_fit_extras ex = {0};
    rc = cli_class_weights(a, &y, &ex);
    ck_evaluate_options eo = {.batch_size = a->batch_size ? (int)a->batch_size : DEFAULT_BATCH,
                              .class_weight = ex.class_weight,
                              .n_class_weights = ex.n_class_weights};
    if (rc == CLI_OK && ck_model_evaluate_with(m, &x, &y, &eo, &loss, metrics) != CK_OK) {
        rc = cli_lib_error(NULL);
    } else if (rc == CLI_OK) {
        printf("loss: %.9g\n", loss);
        for (int i = 0; i < ck_model_metric_count(m); i++)
            printf("%s: %.9g\n", ck_model_metric_name(m, i), metrics[i]);
    }
    cli_fit_extras_free(&ex);
    finish_training(m, &x, &y, &s);
    return rc;
}
