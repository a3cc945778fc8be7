/* ckeras: inspect, run, train and convert Keras models from a shell.
 * Every failure ends as exactly one "ckeras: error: ..." line on stderr. */
#include "cli.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Per thread: predict reads its input on a second thread (cmd_infer.c). */
static _Thread_local char error_message[1024];

int cli_error(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(error_message, sizeof error_message, fmt, ap);
    va_end(ap);
    return code;
}

/* Library messages start with the C function ("ck_model_fit: ...") or
 * give C advice; on the command line the options are what the user has. */
static const char *for_command_line(const char *msg, char *buf, size_t len)
{
    if (strncmp(msg, "ck_", 3) == 0) {
        size_t n = strspn(msg, "abcdefghijklmnopqrstuvwxyz_0123456789");
        if (strncmp(msg + n, ": ", 2) == 0)
            msg += n + 2;
    }
    const char *advice = strstr(msg, "build the model and call ck_model_load_weights");
    if (advice) {
        snprintf(buf, len, "%.*sgive its architecture with --config ARCH.json --weights FILE",
                 (int)(advice - msg), msg);
        return buf;
    }
    return msg;
}

int cli_lib_error(const char *subject)
{
    char buf[1024];
    const char *msg = for_command_line(ck_last_error(), buf, sizeof buf);
    if (!msg[0])
        msg = "unknown failure";
    if (!subject || strstr(msg, subject))
        return cli_error(CLI_FAIL, "%s", msg);
    return cli_error(CLI_FAIL, "%s: %s", subject, msg);
}

int cli_no_memory(void)
{
    return cli_error(CLI_FAIL, "out of memory");
}

const char *cli_error_message(void)
{
    return error_message;
}

static const cli_command commands[] = {
    {"summary", CMD_SUMMARY, "MODEL", "print the Keras-style summary",
     "Print the Keras-style summary of a model (--style picks the Keras version's layout).",
     cli_cmd_summary, NULL},
    {"predict", CMD_PREDICT, "MODEL INPUT", "run the model on INPUT",
     "Run the model on INPUT (FILE.npy, FILE.npz:NAME, FILE.h5:/dataset, FILE.csv (a\n"
     "sample per row), or - for .npy arrays on standard input: batches, samples, or\n"
     "frames of a sliding window). Prints\n"
     "one line per sample (its class with --argmax) unless -o is given: OUT.npy, OUT.h5\n"
     "(dataset /y), OUT.csv (a sample per line) or - (.npy on standard output).",
     cli_cmd_predict, NULL},
    {"fit", CMD_FIT, "MODEL", "train on --x/--y and save the trained model to -o",
     "Train the model on --x/--y and save it to -o: OUT.h5 (the whole model with its\n"
     "optimizer state), OUT.keras (Keras 3 archive) or OUT.weights.h5 (Keras 3\n"
     "weights only). Requires --x, --y and -o.",
     cli_cmd_fit, " --x X --y Y -o OUT"},
    {"evaluate", CMD_EVALUATE, "MODEL", "print loss and metrics on --x/--y",
     "Print the loss and metrics of the model on --x/--y (or --data DIR), and with\n"
     "--confusion-matrix the confusion matrix (--plot draws it as SVG).",
     cli_cmd_evaluate, " --x X --y Y"},
    {"inspect", CMD_INSPECT, "FILE", "show what a Keras file holds; a JSON template for weights",
     "Show what a Keras file holds without building a model: its kind, the keras_version\n"
     "that wrote it, whether it has a model config, a training config and optimizer\n"
     "state, and every layer group with its weight names and shapes. For a file that\n"
     "holds weights only, also a Keras JSON architecture inferred from the shapes of\n"
     "its LSTM/GRU/SimpleRNN/Dense stack (written to -o OUT.json when given), to\n"
     "complete (activations, timesteps) and pass back with --config.",
     cli_cmd_inspect, NULL},
    {"convert", CMD_CONVERT, "MODEL", "write the model in another file layout (-o)",
     "Write the model in another layout, chosen by the suffix of -o:\n"
     "  OUT.weights.h5  Keras 3 weights, plus the architecture in OUT.json\n"
     "  OUT.json        the architecture only (Keras model.to_json())\n"
     "  OUT.h5          Keras 2 whole model (legacy HDF5 with model_config)\n"
     "  OUT.keras       Keras 3 archive (no optimizer state)\n"
     "Every model is written as a Sequential model. -o must not be an input file.",
     cli_cmd_convert, " -o OUT"},
    {"export", CMD_EXPORT, "MODEL", "write the model as one dependency-free C file (-o)",
     "Write the model as C99 source for microcontrollers (-o OUT.c): static const\n"
     "weights, no heap, NAME_predict, NAME_step for streaming models, NAME_reset.\n"
     "--quantize float16 or int8 stores the kernels in half or a quarter of the flash.\n"
     "Prints the flash the weights take, the RAM of the state, and how far the stored\n"
     "weights move the outputs on --x (else on random inputs). See docs/export.md.",
     cli_cmd_export, " -o OUT.c"},
};
enum { N_COMMANDS = sizeof commands / sizeof commands[0] };

static void print_help(FILE *out)
{
    fprintf(out, "usage: ckeras COMMAND [arguments] [options]\n"
                 "       ckeras --version | --help | COMMAND --help\n\n"
                 "MODEL is a whole-model Keras .h5/.keras file, or is replaced by\n"
                 "--config ARCH.json --weights W.h5. Arrays are FILE.npy, FILE.npz:NAME,\n"
                 "FILE.h5:/dataset, a table FILE.csv/.tsv/.txt (a sample per row) or -\n"
                 "(standard input).\n\n"
                 "commands:\n");
    for (int i = 0; i < N_COMMANDS; i++)
        fprintf(out, "  %-9s %-12s %s\n", commands[i].name, commands[i].operands,
                commands[i].brief);
    fprintf(out, "\nRun 'ckeras COMMAND --help' for the options of a command.\n");
}

static const cli_command *find_command(const char *name)
{
    for (int i = 0; i < N_COMMANDS; i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

static int run(int argc, char **argv)
{
    if (argc < 2)
        return cli_error(CLI_USAGE, "no command given (run 'ckeras --help')");
    const char *word = argv[1];
    if (strcmp(word, "--help") == 0 || strcmp(word, "-h") == 0) {
        print_help(stdout);
        return CLI_OK;
    }
    if (strcmp(word, "--version") == 0) {
        printf("ckeras %s\nmatrix products: %s\n", CK_VERSION_STRING, ck_blas_backend());
        return CLI_OK;
    }
    const cli_command *cmd = find_command(word);
    if (!cmd)
        return cli_error(
            CLI_USAGE,
            "unknown %s '%s' (commands: summary, predict, fit, evaluate, inspect, convert, export)",
            word[0] == '-' ? "option" : "command", word);
    cli_args args;
    int rc = cli_parse_args(cmd, argc - 2, argv + 2, &args);
    if (rc != CLI_OK)
        return rc;
    if (args.help) {
        cli_print_command_help(cmd, stdout);
        return CLI_OK;
    }
    if (cli_given(&args, "threads") && ck_set_num_threads((int)args.threads) != CK_OK)
        return cli_lib_error("--threads");
    return cmd->run(cmd, &args);
}

/* Messages from the library may span lines; the contract is one line. */
static void print_error_line(void)
{
    char line[sizeof error_message];
    snprintf(line, sizeof line, "%s", error_message[0] ? error_message : "failed");
    /* Names from files may hold terminal escapes: no control byte is printed. */
    for (char *p = line; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = *p == '\n' || *p == '\r' || *p == '\t' ? ' ' : '?';
    fprintf(stderr, "ckeras: error: %s\n", line);
}

/* The process ends without the libraries' teardown, which only gives back
 * memory the kernel takes back anyway: libxsmm unmaps its locked registry
 * and code, HDF5 and OpenBLAS free their caches, 1.7 ms of a 50 ms predict
 * on the project machine. Every file is closed by now (a save is renamed
 * into place after its close). Under the sanitizers the normal exit stays,
 * as LeakSanitizer checks the process from an exit handler. */
static _Noreturn void end_process(int rc)
{
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
    exit(rc);
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
    exit(rc);
#endif
#endif
    fflush(NULL);
    _exit(rc);
}

int main(int argc, char **argv)
{
    cli_setup_process();
    /* Refused before any work: fit would otherwise train and replace its
     * output, then fail on the progress it cannot print. */
    int rc = cli_stdout_writable()
                 ? run(argc, argv)
                 : cli_error(CLI_FAIL, "standard output is closed or not writable; ckeras prints "
                                       "its results there (redirect it to /dev/null to discard "
                                       "them)");
    /* ferror: a write that failed earlier (fit flushes every line). */
    if ((fflush(stdout) != 0 || ferror(stdout)) && rc == CLI_OK)
        rc = cli_error(CLI_FAIL, "cannot write to standard output");
    if (rc != CLI_OK && cli_prints())
        print_error_line();
    ck_mpi_finalize();
    end_process(rc);
}
