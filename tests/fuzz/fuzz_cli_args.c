/* libFuzzer target for the ckeras command-line option parser
 * (src/cli/options.c). The input is a list of NUL-separated words; the
 * first byte picks the command. Parsing must never crash and every
 * failure must leave a usage message. */
#include "cli.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The tool's error recorder lives in main.c with main(); libFuzzer brings
 * its own main, so the harness records errors itself. */
static char message[1024];

int cli_error(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    return code;
}

/* Names, bits and operands as in main.c; the parser never calls run. */
static const cli_command commands[] = {
    {.name = "summary", .bit = CMD_SUMMARY, .operands = "MODEL"},
    {.name = "predict", .bit = CMD_PREDICT, .operands = "MODEL INPUT"},
    {.name = "fit", .bit = CMD_FIT, .operands = "MODEL"},
    {.name = "evaluate", .bit = CMD_EVALUATE, .operands = "MODEL"},
    {.name = "convert", .bit = CMD_CONVERT, .operands = "MODEL"},
    {.name = "export", .bit = CMD_EXPORT, .operands = "MODEL"},
};

static const char *const option_names[] = {
    "help",       "config",        "weights",  "by-name",
    "output",     "style",         "x",        "y",
    "batch-size", "loss",          "metrics",  "from-logits",
    "optimizer",  "learning-rate", "momentum", "nesterov",
    "beta-1",     "beta-2",        "epsilon",  "rho",
    "amsgrad",    "centered",      "clipnorm", "clipvalue",
    "epochs",     "no-shuffle",    "seed",     "validation-split",
    "verbose",    "header",        "name",     "timesteps",
    "quantize",   "no-such-option"};

enum { MAX_WORDS = 64 };

/* Splits the bytes after the command byte into NUL-terminated words in a
 * copy (argv strings must be writable and terminated). */
static int split_words(const uint8_t *data, size_t size, char *copy, char **argv)
{
    memcpy(copy, data, size);
    copy[size] = '\0';
    int argc = 0;
    for (size_t i = 0; i <= size && argc < MAX_WORDS;) {
        argv[argc++] = copy + i;
        i += strlen(copy + i) + 1;
    }
    return argc;
}

static void check_parsed(const cli_command *cmd, const cli_args *a)
{
    if (a->n_positional < 0 || a->n_positional > CLI_MAX_POSITIONAL)
        __builtin_trap();
    for (size_t i = 0; i < sizeof option_names / sizeof option_names[0]; i++)
        (void)cli_given(a, option_names[i]);
    const char *operands[CLI_MAX_POSITIONAL];
    message[0] = '\0';
    if (cli_take_operands(cmd, a, operands, CLI_MAX_POSITIONAL) != CLI_OK && !message[0])
        __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 4096)
        return 0;
    const cli_command *cmd = &commands[data[0] % (sizeof commands / sizeof commands[0])];
    char *copy = malloc(size);
    char *argv[MAX_WORDS + 1];
    int argc = split_words(data + 1, size - 1, copy, argv);
    argv[argc] = NULL;
    cli_args args;
    message[0] = '\0';
    int rc = cli_parse_args(cmd, argc, argv, &args);
    if (rc == CLI_OK)
        check_parsed(cmd, &args);
    else if (rc != CLI_USAGE || !message[0])
        __builtin_trap();
    free(copy);
    return 0;
}
