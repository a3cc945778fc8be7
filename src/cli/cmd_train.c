/* Commands that need a compiled model: fit and evaluate. */
#include "cli.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* The compile settings fit and evaluate use; metric names point into
 * metrics_text (--metrics), weighted_text (--weighted-metrics) or the
 * loaded model. */
typedef struct train_setup {
    ck_compile_options opts;
    char *metrics_text, *weighted_text;
} train_setup;

/* --metrics or --weighted-metrics (option) into names; *copy owns them.
 * An empty name ("", "a,,b", a trailing comma) is a mistake, not a way to
 * ask for no metrics: Keras has no metric of that name. */
static int split_metrics(const char *option, const char *text, char **copy, const char **names)
{
    *copy = strdup(text);
    if (!*copy)
        return cli_no_memory();
    int n = 0;
    for (char *tok = *copy, *comma; tok; tok = comma ? comma + 1 : NULL) {
        comma = strchr(tok, ',');
        if (comma)
            *comma = '\0';
        if (!*tok)
            return cli_error(CLI_USAGE, "--%s needs comma-separated metric names, got '%s'", option,
                             text);
        if (n == CLI_MAX_METRICS)
            return cli_error(CLI_USAGE, "--%s: at most %d metrics", option, CLI_MAX_METRICS);
        names[n++] = tok;
    }
    return CLI_OK;
}

/* The metrics and weighted metrics: as the options give them, else the file's. */
static int set_metrics(const cli_args *a, const ck_compile_options *file, train_setup *s)
{
    int rc = a->metrics ? split_metrics("metrics", a->metrics, &s->metrics_text, s->opts.metrics)
                        : CLI_OK;
    if (rc == CLI_OK && a->weighted_metrics)
        rc = split_metrics("weighted-metrics", a->weighted_metrics, &s->weighted_text,
                           s->opts.weighted_metrics);
    if (!a->metrics)
        memcpy(s->opts.metrics, file->metrics, sizeof file->metrics);
    if (!a->weighted_metrics)
        memcpy(s->opts.weighted_metrics, file->weighted_metrics, sizeof file->weighted_metrics);
    return rc;
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
    /* A zero in these fields means "Keras's default", so a given 0 (Keras
     * accepts learning_rate=0 and beta_1=0) must be flagged as meant. */
    static const struct {
        const char *option;
        unsigned bit;
    } zero_ok[] = {{"learning-rate", CK_OPT_LEARNING_RATE},
                   {"beta-1", CK_OPT_BETA_1},
                   {"beta-2", CK_OPT_BETA_2},
                   {"rho", CK_OPT_RHO}};
    for (size_t i = 0; i < sizeof zero_ok / sizeof zero_ok[0]; i++)
        if (cli_given(a, zero_ok[i].option))
            o->explicit_fields |= zero_ok[i].bit;
    if (a->lr_schedule && cli_given(a, "learning-rate"))
        return cli_error(CLI_USAGE, "--lr-schedule replaces --learning-rate; give one of them");
    return a->lr_schedule ? cli_parse_lr_schedule(a->lr_schedule, &o->learning_rate_schedule)
                          : CLI_OK;
}

/* Without --loss, the model's own training configuration is needed: say
 * why the file's could not be used, if it has one. */
static int no_loss(const ck_model *m)
{
    const char *why = strstr(ck_model_warnings(m), CK_TRAINING_CONFIG_UNUSED);
    if (!why)
        return cli_error(CLI_USAGE, "--loss is required: model %s has no training configuration",
                         ck_model_name(m));
    why += strlen(CK_TRAINING_CONFIG_UNUSED);
    return cli_error(CLI_USAGE,
                     "--loss is required: the training configuration of model %s cannot be "
                     "used: %.*s",
                     ck_model_name(m), (int)strcspn(why, "\n"), why);
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
        int rc = set_metrics(a, &file, s);
        if (rc != CLI_OK)
            return rc;
        s->opts.loss = a->loss ? a->loss : file.loss;
        if (!s->opts.loss)
            return no_loss(m);
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

/* What fit and evaluate work on: the compiled model, the samples, their
 * targets and the class names. */
typedef struct train_job {
    ck_model *m;
    ck_tensor x, y;
    train_setup s;
    cli_classes classes;
} train_job;

static void finish_training(train_job *j)
{
    ck_free(j->x.data);
    ck_free(j->y.data);
    free(j->s.metrics_text);
    free(j->s.weighted_text);
    cli_classes_free(&j->classes);
    ck_model_free(j->m);
}

/* Loads MODEL, compiles it and reads the data: the common start of fit and
 * evaluate. Targets built from class labels need the compiled loss. */
static int start_training(const cli_command *cmd, const cli_args *a, train_job *j)
{
    const char *path;
    memset(j, 0, sizeof *j);
    int rc = cli_take_operands(cmd, a, &path, 1);
    if (rc == CLI_OK)
        rc = cli_check_data_args(cmd, a);
    if (rc == CLI_OK && a->classes)
        rc = cli_parse_classes(a->classes, &j->classes);
    if (rc == CLI_OK)
        rc = cli_load_model(a, path, &j->m);
    if (rc == CLI_OK)
        rc = prepare_training(j->m, a, &j->s);
    if (rc == CLI_OK)
        rc = cli_read_xy(j->m, a, &j->classes, &j->x, &j->y);
    if (rc != CLI_OK)
        finish_training(j);
    return rc;
}

/* Samples in a seeded order when asked, and a warning when the held-out
 * part misses classes. */
static int prepare_split(const cli_args *a, train_job *j)
{
    if (a->shuffle_before_split) {
        int rc = cli_shuffle_samples(&j->x, &j->y, (uint64_t)a->seed);
        if (rc != CLI_OK)
            return rc;
    }
    cli_warn_split(j->m, &j->y, a->validation_split, &j->classes);
    return CLI_OK;
}

static int check_svg(const char *plot)
{
    size_t len = plot ? strlen(plot) : 4;
    if (len < 4 || (plot && strcasecmp(plot + len - 4, ".svg") != 0))
        return cli_error(CLI_USAGE, "--plot %s: the picture is written as SVG (FILE.svg)", plot);
    return CLI_OK;
}

/* `path` of `option` against the files fit and evaluate read (MODEL too
 * when with_model, or when MODEL is a directory: its trained self is not
 * written back into one of its members) and two other outputs. */
static int check_one_output(const cli_args *a, const char *option, const char *path,
                            bool with_model, const char *other, const char *another)
{
    const char *model = a->config || a->n_positional < 1 ? NULL : a->positional[0];
    with_model = with_model || (model && cli_is_directory(model));
    const char *files[] = {a->x,      a->y,  a->weights, a->validation_x,          a->validation_y,
                           a->config, other, another,    with_model ? model : NULL};
    return path ? cli_check_option_output(option, path, files, 9) : CLI_OK;
}

/* No output of fit replaces a file it reads, nor another of its outputs.
 * Replacing MODEL with its trained self (-o, a checkpoint) loses nothing;
 * a log or a picture there would lose it. A checkpoint name with fields
 * is known only when it is written. */
static int check_fit_outputs(const cli_args *a)
{
    int rc = check_svg(a->plot);
    if (rc == CLI_OK)
        rc = check_one_output(a, "-o", a->output, false, a->csv_log, a->plot);
    if (rc == CLI_OK)
        rc = check_one_output(a, "--csv-log", a->csv_log, true, a->output, a->plot);
    if (rc == CLI_OK)
        rc = check_one_output(a, "--plot", a->plot, true, a->output, a->csv_log);
    if (rc == CLI_OK && a->checkpoint && !strchr(a->checkpoint, '{'))
        rc = check_one_output(a, "--checkpoint", a->checkpoint, false, a->csv_log, a->plot);
    return rc;
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
    if (a->plot)
        printf("; curves %s", a->plot);
    printf("\n");
}

/* Training stopped on a non-finite value: the library kept the last finite
 * weights, so every finished epoch is saved rather than lost, and the run
 * still fails. */
static int save_after_divergence(train_job *j, const cli_args *a, ck_history *h, cli_fit_extras *ex)
{
    /* The library's message, worded for the command line, leads the error. */
    cli_lib_error(NULL);
    char reason[1024];
    snprintf(reason, sizeof reason, "%s", cli_error_message());
    int rc = !cli_prints() ||
                     ck_model_save_as(j->m, a->output, ck_file_format_of(a->output)) == CK_OK
                 ? cli_error(CLI_FAIL, "%s; the last finite weights were saved to %s", reason,
                             a->output)
                 : cli_lib_error(a->output);
    ck_history_free(h);
    cli_fit_extras_free(ex);
    return rc;
}

/* comm: the ranks of a data-parallel fit (rank 0 writes), or NULL. */
static int run_fit(train_job *j, const cli_args *a, ck_comm *comm)
{
    ck_fit_options fo = {
        .epochs = a->epochs ? (int)a->epochs : 1,
        .batch_size = (int)a->batch_size,
        .validation_split = a->validation_split,
        .no_shuffle = a->no_shuffle,
        .verbose = cli_given(a, "verbose") ? (int)a->verbose
                   : isatty(STDOUT_FILENO) ? 1
                                           : 2,
        .log = stdout,
        .comm = comm,
    };
    cli_fit_extras ex = {0};
    int64_t steps_before = 0, steps = 0;
    ck_model_get_iterations(j->m, &steps_before);
    int rc = cli_class_weights(a, &j->y, &ex);
    if (rc == CLI_OK)
        rc = cli_fit_callbacks(j->m, a, &j->classes, &fo, &ex);
    rc = cli_agree(comm, rc);
    ck_history *history = NULL;
    ck_status st = rc == CLI_OK ? ck_model_fit_with(j->m, &j->x, &j->y, &fo, &history) : CK_OK;
    /* A value found not finite before any step (the data's) changed no
     * weight: then there is nothing to keep, and -o stays as it was. */
    if (st == CK_ERR_NUMERIC && ck_model_get_iterations(j->m, &steps) == CK_OK &&
        steps > steps_before)
        return save_after_divergence(j, a, history, &ex);
    if (st != CK_OK)
        rc = cli_lib_error(NULL);
    else if (rc == CLI_OK && cli_prints() &&
             ck_model_save_as(j->m, a->output, ck_file_format_of(a->output)) != CK_OK)
        rc = cli_lib_error(a->output);
    else if (rc == CLI_OK && cli_prints() && a->plot &&
             ck_history_plot_svg(history, a->plot) != CK_OK)
        rc = cli_lib_error(a->plot);
    /* Every rank ends as rank 0's writing did. */
    if (st == CK_OK)
        rc = cli_agree(comm, rc);
    if (rc == CLI_OK && fo.verbose && cli_prints())
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
    ck_comm *comm = NULL;
    int rc = cli_join_ranks(&comm);
    if (rc == CLI_OK)
        rc = check_fit_outputs(a);
    /* A device, FIFO or read-only output is refused before training, not
     * after it. */
    if (rc == CLI_OK && ck_check_output(a->output) != CK_OK)
        rc = cli_lib_error(a->output);
    train_job j;
    int started = CLI_FAIL;
    if (rc == CLI_OK)
        rc = started = start_training(cmd, a, &j);
    if (rc == CLI_OK)
        rc = prepare_split(a, &j);
    /* A rank that cannot read its files stops every rank, by name. */
    rc = cli_agree(comm, rc);
    if (rc == CLI_OK)
        rc = run_fit(&j, a, comm);
    if (started == CLI_OK)
        finish_training(&j);
    return rc;
}

/* Rows: true class, columns: predicted class, names cut to 12 bytes. */
static void print_confusion(const ck_confusion *cm, const cli_classes *c)
{
    char buf[16];
    printf("confusion matrix (rows: true class, columns: predicted class):\n%12s", "");
    for (int k = 0; k < cm->n_classes; k++)
        printf(" %12.12s", cli_class_name(c, k, buf, sizeof buf));
    for (int r = 0; r < cm->n_classes; r++) {
        printf("\n%12.12s", cli_class_name(c, r, buf, sizeof buf));
        for (int k = 0; k < cm->n_classes; k++)
            printf(" %12lld", (long long)cm->counts[(size_t)r * (size_t)cm->n_classes + (size_t)k]);
    }
    putchar('\n');
}

static int confusion(const cli_args *a, train_job *j, int batch)
{
    ck_confusion cm;
    int rc = cli_check_class_count(j->m, &j->classes);
    if (rc == CLI_OK && ck_model_confusion_matrix(j->m, &j->x, &j->y, batch, &cm) != CK_OK)
        rc = cli_lib_error(NULL);
    if (rc != CLI_OK)
        return rc;
    print_confusion(&cm, &j->classes);
    if (a->plot &&
        ck_confusion_plot_svg(&cm, j->classes.n ? j->classes.names : NULL, a->plot) != CK_OK)
        rc = cli_lib_error(a->plot);
    ck_confusion_free(&cm);
    return rc;
}

int cli_cmd_evaluate(const cli_command *cmd, const cli_args *a)
{
    if (a->plot && !a->confusion_matrix)
        return cli_error(CLI_USAGE, "evaluate --plot draws the confusion matrix: add "
                                    "--confusion-matrix");
    train_job j;
    int rc = check_svg(a->plot);
    if (rc == CLI_OK)
        rc = check_one_output(a, "--plot", a->plot, true, NULL, NULL);
    if (rc == CLI_OK)
        rc = start_training(cmd, a, &j);
    if (rc != CLI_OK)
        return rc;
    int batch = (int)a->batch_size;
    double loss, metrics[CLI_MAX_METRICS];
    cli_fit_extras ex = {0};
    rc = cli_class_weights(a, &j.y, &ex);
    /* Keras prints evaluate's bar by default; the tool's output is the
     * values below, the bar only when asked for. */
    ck_evaluate_options eo = {.batch_size = batch,
                              .class_weight = ex.class_weight,
                              .n_class_weights = ex.n_class_weights,
                              .verbose = cli_given(a, "verbose") ? (int)a->verbose : 0,
                              .log = stdout};
    if (rc == CLI_OK && ck_model_evaluate_with(j.m, &j.x, &j.y, &eo, &loss, metrics) != CK_OK) {
        rc = cli_lib_error(NULL);
    } else if (rc == CLI_OK) {
        printf("loss: %.9g\n", loss);
        for (int i = 0; i < ck_model_metric_count(j.m); i++)
            printf("%s: %.9g\n", ck_model_metric_name(j.m, i), metrics[i]);
    }
    if (rc == CLI_OK && a->confusion_matrix)
        rc = confusion(a, &j, batch);
    cli_fit_extras_free(&ex);
    finish_training(&j);
    return rc;
}
