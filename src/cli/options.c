/* Table-driven option parsing: one row per option says which commands take
 * it, where its value goes, its valid range and its help line. */
#include "cli.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* ARG_LEVEL: an integer that may be left out ("--verbose" alone is 1). */
typedef enum { ARG_FLAG, ARG_INT, ARG_DOUBLE, ARG_STRING, ARG_LEVEL, ARG_LIST } arg_kind;

typedef struct cli_option {
    const char *name; /* long name without "--" */
    char short_name;  /* 0: none */
    arg_kind kind;
    size_t offset;     /* field in cli_args */
    unsigned commands; /* CMD_* bits */
    bool compile;      /* changes the compile settings */
    double min, max;   /* numeric range */
    unsigned open;     /* OPEN_MIN / OPEN_MAX: that bound is excluded */
    const char *metavar;
    const char *help;
} cli_option;

#define FIELD(f) offsetof(cli_args, f)
#define TRAIN (CMD_FIT | CMD_EVALUATE)
#define OUT_CMDS (CMD_PREDICT | CMD_FIT | CMD_CONVERT | CMD_EXPORT)
#define BIG 1e18                            /* no upper bound */
#define MODEL_CMDS (CMD_ALL & ~CMD_INSPECT) /* the commands that load a model */
enum { OPEN_MIN = 1, OPEN_MAX = 2 };

static const cli_option options[] = {
    {"help", 'h', ARG_FLAG, FIELD(help), CMD_ALL, false, 0, 0, 0, NULL, "show this help and exit"},
    {"config", 0, ARG_STRING, FIELD(config), MODEL_CMDS, false, 0, 0, 0, "ARCH.json",
     "architecture as Keras JSON (model.to_json()), instead of MODEL"},
    {"weights", 0, ARG_STRING, FIELD(weights), MODEL_CMDS, false, 0, 0, 0, "W.h5",
     "load these weights (Keras 2 .h5, Keras 3 .weights.h5 or sharded .weights.json)"},
    {"by-name", 0, ARG_FLAG, FIELD(by_name), MODEL_CMDS, false, 0, 0, 0, NULL,
     "match --weights to layers by name instead of by order"},
    {"map", 0, ARG_STRING, FIELD(map), MODEL_CMDS, false, 0, 0, 0, "FROM=TO,...",
     "read a custom activation or initializer FROM as the built-in TO (Keras custom_objects)"},
    {"output", 'o', ARG_STRING, FIELD(output), OUT_CMDS | CMD_INSPECT, false, 0, 0, 0, "OUT",
     "output file (the suffix selects the format)"},
    {"style", 0, ARG_STRING, FIELD(style), CMD_SUMMARY, false, 0, 0, 0, "STYLE",
     "keras2.2, keras2.3, keras2 (default), keras2.7, keras2.13, keras3 or keras3.0"},
    {"x", 0, ARG_STRING, FIELD(x), TRAIN | CMD_EXPORT, false, 0, 0, 0, "X",
     "inputs: FILE.npy, FILE.npz:NAME, FILE.h5:/dataset, FILE.csv or - (standard input)"},
    {"y", 0, ARG_STRING, FIELD(y), TRAIN, false, 0, 0, 0, "Y",
     "targets as X, or string labels (.npy, .npz:NAME, text) with --classes"},
    {"data", 0, ARG_STRING, FIELD(data), TRAIN, false, 0, 0, 0, "DIR",
     "samples from DIR/<class>/<sequence>/<frame>.npy instead of --x/--y"},
    {"classes", 0, ARG_STRING, FIELD(classes), CMD_PREDICT | TRAIN, false, 0, 0, 0, "a,b,c",
     "class names in output order (string labels, --data order, printed names)"},
    {"argmax", 0, ARG_FLAG, FIELD(argmax), CMD_PREDICT, false, 0, 0, 0, NULL,
     "print each sample's class (its name with --classes) instead of the outputs"},
    {"confusion-matrix", 0, ARG_FLAG, FIELD(confusion_matrix), CMD_EVALUATE, false, 0, 0, 0, NULL,
     "also print the confusion matrix (rows: true class, columns: predicted)"},
    {"plot", 0, ARG_STRING, FIELD(plot), CMD_FIT | CMD_EVALUATE, false, 0, 0, 0, "FILE.svg",
     "fit: training curves; evaluate --confusion-matrix: the matrix, as SVG"},
    {"batch-size", 0, ARG_INT, FIELD(batch_size), CMD_PREDICT | TRAIN, false, 1, INT_MAX, 0, "N",
     "samples per batch (default 32)"},
    {"threads", 0, ARG_INT, FIELD(threads), CMD_PREDICT | TRAIN, false, 1, 64, 0, "N",
     "threads per matrix product (default: OPENBLAS_NUM_THREADS, else the CPU count)"},
    {"loss", 0, ARG_STRING, FIELD(loss), TRAIN, true, 0, 0, 0, "NAME",
     "Keras loss name or alias (default: the model's training config)"},
    {"metrics", 0, ARG_STRING, FIELD(metrics), TRAIN, true, 0, 0, 0, "LIST",
     "comma-separated Keras metric names, e.g. accuracy"},
    {"weighted-metrics", 0, ARG_STRING, FIELD(weighted_metrics), TRAIN, true, 0, 0, 0, "LIST",
     "metrics weighted by --class-weight (Keras weighted_metrics), e.g. accuracy"},
    {"from-logits", 0, ARG_FLAG, FIELD(from_logits), TRAIN, true, 0, 0, 0, NULL,
     "the loss takes logits (Keras from_logits=True)"},
    {"optimizer", 0, ARG_STRING, FIELD(optimizer), CMD_FIT, true, 0, 0, 0, "NAME",
     "sgd, adam, rmsprop, adagrad, nadam, adamax, adamw (default rmsprop, as Keras)"},
    {"learning-rate", 0, ARG_DOUBLE, FIELD(learning_rate), CMD_FIT, true, 0, BIG, 0, "F",
     "learning rate (default: the optimizer's Keras default)"},
    {"momentum", 0, ARG_DOUBLE, FIELD(momentum), CMD_FIT, true, 0, 1, 0, "F",
     "sgd, rmsprop momentum"},
    {"nesterov", 0, ARG_FLAG, FIELD(nesterov), CMD_FIT, true, 0, 0, 0, NULL,
     "sgd: Nesterov momentum"},
    {"beta-1", 0, ARG_DOUBLE, FIELD(beta_1), CMD_FIT, true, 0, 1, OPEN_MAX, "F",
     "adam, nadam, adamax, adamw beta_1 (0.9)"},
    {"beta-2", 0, ARG_DOUBLE, FIELD(beta_2), CMD_FIT, true, 0, 1, OPEN_MAX, "F",
     "adam, nadam, adamax, adamw beta_2 (0.999)"},
    {"epsilon", 0, ARG_DOUBLE, FIELD(epsilon), CMD_FIT, true, 0, BIG, OPEN_MIN, "F",
     "optimizer epsilon (1e-7)"},
    {"rho", 0, ARG_DOUBLE, FIELD(rho), CMD_FIT, true, 0, 1, OPEN_MAX, "F", "rmsprop rho (0.9)"},
    {"amsgrad", 0, ARG_FLAG, FIELD(amsgrad), CMD_FIT, true, 0, 0, 0, NULL, "adam: AMSGrad variant"},
    {"centered", 0, ARG_FLAG, FIELD(centered), CMD_FIT, true, 0, 0, 0, NULL,
     "rmsprop: centered variant"},
    {"clipnorm", 0, ARG_DOUBLE, FIELD(clipnorm), CMD_FIT, true, 0, BIG, OPEN_MIN, "F",
     "clip each gradient to this norm"},
    {"clipvalue", 0, ARG_DOUBLE, FIELD(clipvalue), CMD_FIT, true, 0, BIG, OPEN_MIN, "F",
     "clip each gradient value to [-F, F]"},
    {"epochs", 0, ARG_INT, FIELD(epochs), CMD_FIT, false, 1, INT_MAX, 0, "N",
     "passes over the data (default 1)"},
    {"no-shuffle", 0, ARG_FLAG, FIELD(no_shuffle), CMD_FIT, false, 0, 0, 0, NULL,
     "keep sample order (Keras shuffle=False)"},
    {"seed", 0, ARG_INT, FIELD(seed), CMD_FIT | CMD_EXPORT, false, 0, BIG, 0, "N",
     "seed for shuffling and dropout (fit), of the random inputs (export)"},
    {"validation-split", 0, ARG_DOUBLE, FIELD(validation_split), CMD_FIT, false, 0, 1, OPEN_MAX,
     "F", "hold out this last fraction of the data, 0 <= F < 1"},
    {"verbose", 0, ARG_LEVEL, FIELD(verbose), MODEL_CMDS, false, 0, 2, 0, "[0|1|2]",
     "print what loading tolerated (warnings); fit: 0 silent, 1 progress bar, 2 one line per epoch "
     "(default: 1 on a terminal, else 2); evaluate: its bar as Keras draws it (default: 0)"},
    {"header", 0, ARG_STRING, FIELD(header), CMD_EXPORT, false, 0, 0, 0, "OUT.h",
     "also write the declarations to this header, which the .c includes"},
    {"name", 0, ARG_STRING, FIELD(name), CMD_EXPORT, false, 0, 0, 0, "NAME",
     "prefix of the generated names (default: the model's name)"},
    {"timesteps", 0, ARG_INT, FIELD(timesteps), CMD_EXPORT, false, 1, INT_MAX, 0, "N",
     "time steps of NAME_predict when the model's time axis is open"},
    {"max-shard-size", 0, ARG_DOUBLE, FIELD(max_shard_size), CMD_CONVERT, false, 0, BIG, OPEN_MIN,
     "GB", "-o NAME.weights.json: Keras 3.10+ sharded weights, shards of at most GB (2^30 bytes)"},
    {"quantize", 0, ARG_STRING, FIELD(quantize), CMD_EXPORT, false, 0, 0, 0, "TYPE",
     "how the kernels are stored: float32 (default), float16 or int8"},
    {"validation-x", 0, ARG_STRING, FIELD(validation_x), CMD_FIT, false, 0, 0, 0, "X",
     "validation inputs (Keras validation_data), with --validation-y"},
    {"validation-y", 0, ARG_STRING, FIELD(validation_y), CMD_FIT, false, 0, 0, 0, "Y",
     "validation targets, as --y (string labels with --classes)"},
    {"early-stopping", 0, ARG_STRING, FIELD(early_stopping), CMD_FIT, false, 0, 0, 0,
     "MONITOR:PATIENCE[:restore]", "EarlyStopping, e.g. val_loss:5:restore"},
    {"checkpoint", 0, ARG_STRING, FIELD(checkpoint), CMD_FIT, false, 0, 0, 0, "PATTERN",
     "ModelCheckpoint after each epoch, e.g. ckpt-{epoch:02d}-{val_loss:.4f}.h5"},
    {"save-best-only", 0, ARG_FLAG, FIELD(save_best_only), CMD_FIT, false, 0, 0, 0, NULL,
     "--checkpoint saves only improvements of the early-stopping monitor (or val_loss/loss)"},
    {"csv-log", 0, ARG_STRING, FIELD(csv_log), CMD_FIT, false, 0, 0, 0, "FILE",
     "CSVLogger: one row of logs per epoch"},
    {"initial-epoch", 0, ARG_INT, FIELD(initial_epoch), CMD_FIT, false, 0, INT_MAX, 0, "N",
     "resume at this 0-based epoch (--epochs is the epoch to reach, as in Keras)"},
    {"class-weight", 0, ARG_STRING, FIELD(class_weight), TRAIN, false, 0, 0, 0, "balanced|FILE",
     "class weights: balanced (n / (classes * count)), .json {\"0\": w, ...} or .npy"},
    {"freeze", 0, ARG_LIST, FIELD(freeze), CMD_FIT, true, 0, 0, 0, "LAYER",
     "make LAYER non-trainable (repeatable, or a comma list)"},
    {"lr-schedule", 0, ARG_STRING, FIELD(lr_schedule), CMD_FIT, true, 0, 0, 0, "SPEC",
     "learning-rate schedule, e.g. exponential:0.01:1000:0.96 (see docs/cli.md)"},
    {"reduce-lr-on-plateau", 0, ARG_STRING, FIELD(reduce_lr), CMD_FIT, false, 0, 0, 0, "SPEC",
     "MONITOR[:FACTOR[:PATIENCE[:MIN_LR[:COOLDOWN]]]], e.g. val_loss:0.5:3"},
    {"shuffle-before-split", 0, ARG_FLAG, FIELD(shuffle_before_split), CMD_FIT, false, 0, 0, 0,
     NULL, "shuffle the samples (with --seed) before --validation-split takes its part"},
};
enum { N_OPTIONS = sizeof options / sizeof options[0] };

_Static_assert(N_OPTIONS <= 64, "cli_args.given has one bit per option");

static const cli_option *find_long(const char *name, size_t len)
{
    for (int i = 0; i < N_OPTIONS; i++)
        if (strlen(options[i].name) == len && strncmp(options[i].name, name, len) == 0)
            return &options[i];
    return NULL;
}

static const cli_option *find_short(char c)
{
    for (int i = 0; i < N_OPTIONS; i++)
        if (options[i].short_name == c)
            return &options[i];
    return NULL;
}

static bool in_range(const cli_option *o, double v)
{
    bool above = o->open & OPEN_MIN ? v > o->min : v >= o->min;
    bool below = o->open & OPEN_MAX ? v < o->max : v <= o->max;
    return isfinite(v) && above && below;
}

static int parse_number(const cli_option *o, const char *text, cli_args *a)
{
    char *end;
    errno = 0;
    long long iv = 0;
    double v;
    if (o->kind == ARG_INT || o->kind == ARG_LEVEL)
        v = (double)(iv = strtoll(text, &end, 10));
    else
        v = strtod(text, &end);
    /* strtod also reads hexadecimal, which no Keras user means. */
    bool hex = strpbrk(text, "xX") != NULL;
    if (end == text || *end != '\0' || errno != 0 || hex || !in_range(o, v)) {
        const char *what = o->kind == ARG_DOUBLE ? "a number" : "an integer";
        if (o->max >= BIG)
            return cli_error(CLI_USAGE, "--%s needs %s %s %.10g and below %.0e, got '%s'", o->name,
                             what, o->open & OPEN_MIN ? ">" : ">=", o->min, BIG, text);
        return cli_error(CLI_USAGE, "--%s needs %s in %c%.10g, %.10g%c, got '%s'", o->name, what,
                         o->open & OPEN_MIN ? '(' : '[', o->min, o->max,
                         o->open & OPEN_MAX ? ')' : ']', text);
    }
    char *field = (char *)a + o->offset;
    if (o->kind != ARG_DOUBLE) {
        memcpy(field, &iv, sizeof iv);
    } else {
        memcpy(field, &v, sizeof v);
    }
    return CLI_OK;
}

/* Stores one option; `value` is NULL for flags. */
static int store(const cli_command *cmd, const cli_option *o, const char *value, cli_args *a)
{
    if (!(o->commands & cmd->bit))
        return cli_error(CLI_USAGE, "option --%s does not apply to '%s' (see 'ckeras %s --help')",
                         o->name, cmd->name, cmd->name);
    a->given |= UINT64_C(1) << (o - options);
    a->compile_given |= o->compile;
    char *field = (char *)a + o->offset;
    switch (o->kind) {
    case ARG_FLAG: {
        bool t = true;
        memcpy(field, &t, sizeof t);
        return CLI_OK;
    }
    case ARG_STRING:
        memcpy(field, &value, sizeof value);
        return CLI_OK;
    case ARG_LIST:
        if (a->n_freeze == CLI_MAX_LIST)
            return cli_error(CLI_USAGE, "--%s: at most %d uses", o->name, CLI_MAX_LIST);
        a->freeze[a->n_freeze++] = value;
        return CLI_OK;
    default:
        return parse_number(o, value, a);
    }
}

/* Handles argv[*i], an option word; may consume the next word as its value. */
static int parse_option(const cli_command *cmd, int argc, char **argv, int *i, cli_args *a)
{
    const char *word = argv[*i];
    const cli_option *o;
    const char *inline_value = NULL;
    if (word[1] == '-') {
        const char *name = word + 2;
        const char *eq = strchr(name, '=');
        o = find_long(name, eq ? (size_t)(eq - name) : strlen(name));
        inline_value = eq ? eq + 1 : NULL;
    } else {
        o = word[2] == '\0' ? find_short(word[1]) : NULL;
    }
    if (!o)
        return cli_error(CLI_USAGE, "unknown option '%s' (see 'ckeras %s --help')", word,
                         cmd->name);
    if (o->kind == ARG_FLAG) {
        if (inline_value)
            return cli_error(CLI_USAGE, "option --%s takes no value", o->name);
        return store(cmd, o, NULL, a);
    }
    /* A level takes the next word only when that is a number (which may
     * then be out of range). */
    const char *next = *i + 1 < argc ? argv[*i + 1] : "";
    bool number_next = next[0] && strspn(next, "-0123456789") == strlen(next);
    if (o->kind == ARG_LEVEL && !inline_value && !number_next)
        inline_value = "1";
    if (!inline_value) {
        if (*i + 1 >= argc)
            return cli_error(CLI_USAGE, "option --%s needs a value (%s)", o->name, o->metavar);
        inline_value = argv[++*i];
    }
    return store(cmd, o, inline_value, a);
}

int cli_parse_args(const cli_command *cmd, int argc, char **argv, cli_args *a)
{
    memset(a, 0, sizeof *a);
    bool options_done = false;
    for (int i = 0; i < argc; i++) {
        const char *w = argv[i];
        if (!options_done && strcmp(w, "--") == 0) {
            options_done = true;
        } else if (!options_done && w[0] == '-' && w[1] != '\0') {
            int rc = parse_option(cmd, argc, argv, &i, a);
            if (rc != CLI_OK)
                return rc;
        } else if (a->n_positional == CLI_MAX_POSITIONAL) {
            return cli_error(CLI_USAGE, "unexpected argument '%s'", w);
        } else {
            a->positional[a->n_positional++] = w;
        }
    }
    return CLI_OK;
}

bool cli_given(const cli_args *a, const char *name)
{
    const cli_option *o = find_long(name, strlen(name));
    return o && (a->given >> (o - options) & 1);
}

int cli_take_operands(const cli_command *cmd, const cli_args *a, const char **out, int n)
{
    char names[64];
    snprintf(names, sizeof names, "%s", cmd->operands);
    int used = 0, k = 0;
    for (char *save = NULL, *tok = strtok_r(names, " ", &save); tok && k < n;
         tok = strtok_r(NULL, " ", &save), k++) {
        out[k] = NULL;
        if (strcmp(tok, "MODEL") == 0 && a->config)
            continue;
        if (used == a->n_positional)
            return cli_error(CLI_USAGE, "missing %s argument (usage: ckeras %s %s)", tok, cmd->name,
                             cmd->operands);
        out[k] = a->positional[used++];
    }
    if (used < a->n_positional)
        return cli_error(CLI_USAGE, "unexpected argument '%s'%s", a->positional[used],
                         a->config ? " (MODEL is not given with --config)" : "");
    return CLI_OK;
}

void cli_print_command_help(const cli_command *cmd, FILE *out)
{
    const char *required = cmd->required ? cmd->required : "";
    fprintf(out, "usage: ckeras %s %s%s [options]\n", cmd->name, cmd->operands, required);
    if (strstr(cmd->operands, "MODEL"))
        fprintf(out, "       ckeras %s --config ARCH.json [--weights W.h5]%s%s [options]\n",
                cmd->name, cmd->operands + strlen("MODEL"), required);
    fprintf(out, "\n%s\n\noptions:\n", cmd->summary);
    for (int i = 0; i < N_OPTIONS; i++) {
        const cli_option *o = &options[i];
        if (!(o->commands & cmd->bit))
            continue;
        char head[48];
        int n = o->short_name ? snprintf(head, sizeof head, "-%c, --%s", o->short_name, o->name)
                              : snprintf(head, sizeof head, "    --%s", o->name);
        if (o->metavar)
            snprintf(head + n, sizeof head - (size_t)n, " %s", o->metavar);
        fprintf(out, "  %-28s %s\n", head, o->help);
    }
}
