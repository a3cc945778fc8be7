/* Shared declarations of the ckeras command-line tool (see docs/cli.md). */
#ifndef CK_CLI_H
#define CK_CLI_H

#include "ckeras.h"

/* Exit statuses. */
enum { CLI_OK = 0, CLI_FAIL = 1, CLI_USAGE = 2 };

/* Records the single error line that main prints ("ckeras: error: ...")
 * and returns `code`, so failures propagate as `return cli_error(...)`. */
int cli_error(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Same, with the library's message (ck_last_error), prefixed by `subject`
 * (a path or an argument name) unless the message already names it. */
int cli_lib_error(const char *subject);
/* cli_error for a failed allocation. */
int cli_no_memory(void);
/* The recorded message, "" if none. */
const char *cli_error_message(void);

/* Data-parallel fit under an MPI launcher (ranks.c). *comm: the ranks, or
 * NULL when no launcher started this process. */
int cli_join_ranks(ck_comm **comm);
/* Every rank's rc of a step each did alone: CLI_OK when all succeeded,
 * else the failed rank's message on every rank. NULL comm: rc. */
int cli_agree(ck_comm *comm, int rc);
/* False on ranks other than 0, which print nothing. */
bool cli_prints(void);

/* Commands, as bits so an option can list the commands that accept it. */
enum {
    CMD_SUMMARY = 1 << 0,
    CMD_PREDICT = 1 << 1,
    CMD_FIT = 1 << 2,
    CMD_EVALUATE = 1 << 3,
    CMD_CONVERT = 1 << 4,
    CMD_INSPECT = 1 << 5,
    CMD_EXPORT = 1 << 6,
    CMD_ALL = (1 << 7) - 1
};

#define CLI_MAX_POSITIONAL 4
/* A compiled model has at most 8 metrics (ck_compile_options.metrics). */
#define CLI_MAX_METRICS 8
/* Uses of a repeatable option (--freeze). */
#define CLI_MAX_LIST 32

/* Every option of every command; unused ones stay zero. */
typedef struct cli_args {
    const char *positional[CLI_MAX_POSITIONAL];
    int n_positional;
    uint64_t given;     /* bit i: option i of the table appeared */
    bool compile_given; /* any option that changes the compile settings */
    bool help;
    /* model source */
    const char *config, *weights;
    bool by_name;
    const char *map; /* FROM=TO[,FROM=TO...]: names for custom objects */
    /* input / output */
    const char *output, *x, *y, *style;
    long long batch_size, threads;
    /* compile */
    const char *loss, *optimizer, *metrics, *weighted_metrics;
    bool from_logits, nesterov, amsgrad, centered;
    double learning_rate, momentum, beta_1, beta_2, epsilon, rho, clipnorm, clipvalue;
    /* fit */
    long long epochs, seed, verbose, initial_epoch;
    double validation_split;
    bool no_shuffle, save_best_only;
    const char *validation_x, *validation_y, *early_stopping, *checkpoint, *csv_log;
    const char *class_weight, *lr_schedule, *reduce_lr;
    const char *freeze[CLI_MAX_LIST]; /* --freeze, one entry per use */
    int n_freeze;
    /* data */
    const char *classes, *data, *plot;
    bool shuffle_before_split, argmax, confusion_matrix;
    /* export */
    const char *header, *name, *quantize;
    long long timesteps;
    /* convert */
    double max_shard_size;
} cli_args;

typedef struct cli_command cli_command;
struct cli_command {
    const char *name;
    unsigned bit;
    const char *operands; /* e.g. "MODEL INPUT" (MODEL is left out with --config) */
    const char *brief;    /* one line for 'ckeras --help' */
    const char *summary;  /* paragraph for 'ckeras COMMAND --help' */
    int (*run)(const cli_command *cmd, const cli_args *args);
    const char *required; /* options the command cannot run without, for its usage line */
};

/* ---- process.c ---- */
/* Set first thing in main: closed standard descriptors get /dev/null,
 * SIGXFSZ is ignored, and SIGINT, SIGTERM and SIGHUP remove the
 * temporaries of saves in progress before they end the process. */
void cli_setup_process(void);
/* Whether standard output was open for writing when the tool started. */
bool cli_stdout_writable(void);

/* ---- options.c ---- */
/* Parses argv[0..argc) (the words after the command name). */
int cli_parse_args(const cli_command *cmd, int argc, char **argv, cli_args *args);
/* Whether the option spelled `--name` was given. */
bool cli_given(const cli_args *args, const char *name);
void cli_print_command_help(const cli_command *cmd, FILE *out);
/* Takes the operands named in cmd->operands into out[] (in that order;
 * MODEL is NULL when --config is used); wrong counts are usage errors. */
int cli_take_operands(const cli_command *cmd, const cli_args *args, const char **out, int n);

/* ---- array.c ---- */
/* Reads an array given as FILE.npy, FILE.npz[:NAME], FILE.h5:/dataset, a
 * text table of numbers (FILE.csv, .tsv or .txt: rows, columns; see
 * ck_csv_read), or - (the .npy arrays of standard input, joined along the
 * first axis);
 * `what` names the argument in messages ("INPUT", "--x"). Rank >= 1 with
 * at least one sample. Free out->data with ck_free(). */
int cli_read_array(const char *spec, const char *what, ck_tensor *out);
/* Whether spec names a text table (.csv, .tsv, .txt). */
bool cli_is_table(const char *spec);
/* An input that is only read in order, batch by batch (predict's INPUT):
 * a .npy file is read a batch at a time into one reused buffer, without
 * fresh memory for the whole array; any other spec is read whole. */
typedef struct cli_rows {
    const char *spec;
    ck_tensor shape;       /* rank and dims; data: the whole array, or NULL */
    ck_npy_reader *reader; /* the .npy file, when read a batch at a time */
    const float *rows;     /* the reader's rows [first, first + count) */
    int64_t first, count;
} cli_rows;
/* Opens spec as cli_read_array reads it: the same kinds, messages and
 * checks (at least one sample). */
int cli_rows_open(const char *spec, const char *what, cli_rows *r);
/* The samples [first, first + count) in *data, valid until the next call;
 * asking for the same samples again reads nothing. */
int cli_rows_get(cli_rows *r, int64_t first, int64_t count, const float **data);
void cli_rows_free(cli_rows *r);
/* Appends the samples of t to *all (empty: data NULL); the shapes after
 * the first axis must agree. */
int cli_append_samples(ck_tensor *all, const ck_tensor *t, const char *what);
/* Reads string labels (FILE.npy, FILE.npz[:NAME] or a text file). When
 * the spec holds numbers (an array of numbers, an HDF5 dataset, -, a
 * table of several columns of numbers), *numbers is set and out stays
 * empty. */
int cli_read_strings(const char *spec, ck_strings *out, bool *numbers);
/* Usage error unless path ends in .npy, .h5, .hdf5 or .csv, or is - (standard
 * output, which must not be a terminal). */
int cli_check_array_output(const char *path);
/* Writes a float32 array as .npy, for .h5/.hdf5 as dataset /y, for .csv
 * as a table of a sample per line; the file is replaced atomically. -
 * writes the .npy to standard output. */
int cli_write_array(const char *path, const ck_tensor *t);
/* Usage error when `output` is the same file as one of the n inputs
 * (paths or FILE.h5:/dataset specs; NULL entries are skipped): an atomic
 * replacement would still lose the input's other contents. */
int cli_check_output_distinct(const char *output, const char *const *inputs, int n);
/* The same for the output of `option` ("--csv-log"). An input that is a
 * directory also stands for the Keras model files inside it. */
int cli_check_option_output(const char *option, const char *output, const char *const *inputs,
                            int n);

/* The path names an existing directory (a Keras 3 model saved unzipped). */
bool cli_is_directory(const char *path);

/* ---- classes.c ---- */
/* Class names: from --classes, or from a --data folder. */
typedef struct cli_classes {
    int n;
    const char **names;
    char *text;       /* --classes, split in place */
    ck_strings owned; /* the names of a --data folder */
} cli_classes;
/* Splits --classes "a,b,c"; empty or repeated names are usage errors. */
int cli_parse_classes(const char *list, cli_classes *out);
void cli_classes_free(cli_classes *c);
/* Usage error unless the model's outputs have one score per class (or
 * one output for two classes). */
int cli_check_class_count(ck_model *m, const cli_classes *c);
/* Usage error unless the data is given once: --x and --y, or --data. */
int cli_check_data_args(const cli_command *cmd, const cli_args *a);
/* The samples and targets of fit and evaluate: --x and --y, where --y may
 * hold string labels of --classes, or the --data folder. */
int cli_read_xy(ck_model *m, const cli_args *a, cli_classes *c, ck_tensor *x, ck_tensor *y);
/* --validation-x and --validation-y, whose labels may be strings of
 * --classes as those of --y. */
int cli_read_validation(ck_model *m, const cli_args *a, const cli_classes *c, ck_tensor *x,
                        ck_tensor *y);
/* The predicted class of every output row: ids (y's shape without its
 * last axis) in a new tensor. */
int cli_output_classes(const ck_tensor *y, ck_tensor *ids);
/* Prints one line per sample: its classes, by name when c has names. */
void cli_print_classes(const ck_tensor *ids, const cli_classes *c);
/* Name of class i ("3" without names); buf holds numbers. */
const char *cli_class_name(const cli_classes *c, int i, char *buf, size_t len);

/* ---- split.c ---- */
/* --shuffle-before-split: reorders the samples of x and y alike. */
int cli_shuffle_samples(ck_tensor *x, ck_tensor *y, uint64_t seed);
/* Warns on stderr when --validation-split would hold out samples that
 * lack classes the training part has (as on class-sorted data). */
void cli_warn_split(ck_model *m, const ck_tensor *y, double split, const cli_classes *c);

/* ---- load.c ---- */
/* Builds the model from MODEL or --config (with --map), then applies
 * --weights; with --verbose, prints what loading tolerated to stderr. */
int cli_load_model(const cli_args *args, const char *path, ck_model **out);
/* Checks x (batch first) against the model's input shape; `what` names
 * the argument in the message. A text table (spec, NULL for none) has
 * one sample per row: when the row holds a whole sample of a model that
 * takes more axes, x becomes (rows, sample shape), as
 * x.reshape(-1, T, F) does in numpy; one open axis takes what the row
 * leaves. */
int cli_check_input(ck_model *m, ck_tensor *x, const char *spec, const char *what);
/* Shape of the model's output for input x (y->data untouched). */
int cli_output_shape(ck_model *m, const ck_tensor *x, ck_tensor *y);

/* ---- fit_options.c: fit's Keras callbacks and weights from the options ---- */
typedef struct cli_fit_extras {
    ck_early_stopping early_stopping;
    ck_model_checkpoint_options checkpoint;
    ck_csv_logger_options csv;
    ck_reduce_lr_on_plateau_options reduce_lr;
    char monitor[256], reduce_monitor[256];
    float *class_weight; /* malloc'ed */
    int n_class_weights;
    ck_tensor vx, vy; /* --validation-x/--validation-y (data ck_free'd) */
} cli_fit_extras;
/* --freeze: marks the named layers non-trainable; the model must then be
 * compiled again (Keras: trainable takes effect at the next compile). */
int cli_freeze_layers(ck_model *m, const cli_args *a);
/* --lr-schedule SPEC into the optimizer options. */
int cli_parse_lr_schedule(const char *spec, ck_lr_schedule *out);
/* --class-weight balanced|FILE for targets y. */
int cli_class_weights(const cli_args *a, const ck_tensor *y, cli_fit_extras *ex);
/* Fills fo's callbacks, validation data (labels named by c) and initial
 * epoch from the options. */
int cli_fit_callbacks(ck_model *m, const cli_args *a, const cli_classes *c, ck_fit_options *fo,
                      cli_fit_extras *ex);
void cli_fit_extras_free(cli_fit_extras *ex);

/* ---- commands ---- */
int cli_cmd_summary(const cli_command *cmd, const cli_args *args);
int cli_cmd_predict(const cli_command *cmd, const cli_args *args);
int cli_cmd_convert(const cli_command *cmd, const cli_args *args);
int cli_cmd_fit(const cli_command *cmd, const cli_args *args);
int cli_cmd_evaluate(const cli_command *cmd, const cli_args *args);
int cli_cmd_inspect(const cli_command *cmd, const cli_args *args);
int cli_cmd_export(const cli_command *cmd, const cli_args *args);

#endif /* CK_CLI_H */
