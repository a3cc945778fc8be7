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

/* Commands, as bits so an option can list the commands that accept it. */
enum {
    CMD_SUMMARY = 1 << 0,
    CMD_PREDICT = 1 << 1,
    CMD_FIT = 1 << 2,
    CMD_EVALUATE = 1 << 3,
    CMD_CONVERT = 1 << 4,
    CMD_ALL = (1 << 5) - 1
};

#define CLI_MAX_POSITIONAL 4
/* A compiled model has at most 8 metrics (ck_compile_options.metrics). */
#define CLI_MAX_METRICS 8

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
    /* input / output */
    const char *output, *x, *y, *style;
    long long batch_size;
    /* compile */
    const char *loss, *optimizer, *metrics;
    bool from_logits, nesterov, amsgrad, centered;
    double learning_rate, momentum, beta_1, beta_2, epsilon, rho, clipnorm, clipvalue;
    /* fit */
    long long epochs, seed, verbose;
    double validation_split;
    bool no_shuffle;
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
/* Signal dispositions the tool needs, set first thing in main. */
void cli_setup_process(void);

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
/* Reads an array given as FILE.npy or FILE.h5:/dataset; `what` names the
 * argument in messages ("INPUT", "--x"). Rank >= 1 with at least one
 * sample. Free out->data with ck_free(). */
int cli_read_array(const char *spec, const char *what, ck_tensor *out);
/* Usage error unless path ends in .npy, .h5 or .hdf5. */
int cli_check_array_output(const char *path);
/* Writes a float32 array as .npy or, for .h5/.hdf5, as dataset /y; the
 * file is replaced atomically. */
int cli_write_array(const char *path, const ck_tensor *t);
/* Usage error when `output` is the same file as one of the n inputs
 * (paths or FILE.h5:/dataset specs; NULL entries are skipped): an atomic
 * replacement would still lose the input's other contents. */
int cli_check_output_distinct(const char *output, const char *const *inputs, int n);

/* ---- load.c ---- */
/* Builds the model from MODEL or --config, then applies --weights. */
int cli_load_model(const cli_args *args, const char *path, ck_model **out);
/* Checks x (batch first) against the model's input shape; `what` names
 * the argument in the message. */
int cli_check_input(ck_model *m, const ck_tensor *x, const char *what);
/* Shape of the model's output for input x (y->data untouched). */
int cli_output_shape(ck_model *m, const ck_tensor *x, ck_tensor *y);

/* ---- commands ---- */
int cli_cmd_summary(const cli_command *cmd, const cli_args *args);
int cli_cmd_predict(const cli_command *cmd, const cli_args *args);
int cli_cmd_convert(const cli_command *cmd, const cli_args *args);
int cli_cmd_fit(const cli_command *cmd, const cli_args *args);
int cli_cmd_evaluate(const cli_command *cmd, const cli_args *args);

#endif /* CK_CLI_H */
