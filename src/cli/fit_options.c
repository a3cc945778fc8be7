/* What fit's training options ask of the library: Keras callbacks
 * (EarlyStopping, ModelCheckpoint, CSVLogger, ReduceLROnPlateau),
 * validation data, class weights, frozen layers and a learning-rate
 * schedule, all through the public API. */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

/* Splits text at ':' into at most max fields (copied into buf). */
static int split_fields(const char *text, char *buf, size_t len, char **fields, int max)
{
    snprintf(buf, len, "%s", text);
    int n = 0;
    for (char *p = buf; p && n < max;) {
        fields[n++] = p;
        p = strchr(p, ':');
        if (p)
            *p++ = '\0';
    }
    return n;
}

static bool number(const char *s, double *v)
{
    char *end;
    *v = strtod(s, &end);
    return end != s && *end == '\0' && isfinite(*v);
}

int cli_freeze_layers(ck_model *m, const cli_args *a)
{
    for (int i = 0; i < a->n_freeze; i++) {
        char names[1024];
        snprintf(names, sizeof names, "%s", a->freeze[i]);
        char *save = NULL;
        for (char *n = strtok_r(names, ",", &save); n; n = strtok_r(NULL, ",", &save)) {
            ck_layer *l = ck_model_get_layer(m, n);
            if (!l)
                return cli_error(CLI_USAGE, "--freeze: model %s has no layer '%s'",
                                 ck_model_name(m), n);
            if (ck_layer_set_trainable(l, false) != CK_OK)
                return cli_lib_error("--freeze");
        }
    }
    return CLI_OK;
}

/* A comma list of numbers into v[0..max); the count in *n. */
static bool number_list(const char *text, double *v, int max, int *n)
{
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", text);
    *n = 0;
    char *save = NULL;
    for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save))
        if (*n == max || !number(t, &v[(*n)++]))
            return false;
    return *n > 0;
}

/* piecewise:B1,B2,...:V0,V1,... (one value more than boundaries). */
static int parse_piecewise(const char *spec, const char *bounds, const char *values,
                           ck_lr_schedule *out)
{
    int nv = 0;
    if (!number_list(bounds, out->boundaries, CK_MAX_BOUNDARIES, &out->n_boundaries) ||
        !number_list(values, out->values, CK_MAX_BOUNDARIES + 1, &nv) ||
        nv != out->n_boundaries + 1)
        return cli_error(CLI_USAGE,
                         "--lr-schedule %s: piecewise needs BOUNDARIES:VALUES, comma lists with "
                         "one value more than boundaries (at most %d boundaries)",
                         spec, CK_MAX_BOUNDARIES);
    return CLI_OK;
}

/* INITIAL:DECAY_STEPS, then per class: DECAY_RATE[:staircase],
 * [END[:POWER[:cycle]]] or [ALPHA[:WARMUP_TARGET:WARMUP_STEPS]]. */
static int parse_schedule_numbers(const char *spec, char **f, int n, ck_lr_schedule *out)
{
    bool poly = strcmp(out->class_name, "PolynomialDecay") == 0;
    bool cosine = strcmp(out->class_name, "CosineDecay") == 0;
    const char *word = poly ? "cycle" : "staircase";
    double v[5] = {0};
    for (int i = 0; i < n; i++) {
        bool flag = !cosine && i == (poly ? 4 : 3);
        if (flag ? strcmp(f[i], word) != 0 : !number(f[i], &v[i]))
            return cli_error(CLI_USAGE, "--lr-schedule %s: field '%s' must be %s", spec, f[i],
                             flag ? word : "a number");
    }
    out->initial_learning_rate = v[0];
    out->decay_steps = v[1];
    if (poly) {
        out->end_learning_rate = v[2];
        out->explicit_fields = n > 2 ? CK_OPT_END_LEARNING_RATE : 0;
        out->power = v[3];
        out->cycle = n > 4;
    } else if (cosine) {
        out->alpha = v[2];
        out->warmup_target = v[3];
        out->warmup_steps = v[4];
    } else {
        out->decay_rate = v[2];
        out->staircase = n > 3;
    }
    double lr;
    if (ck_lr_schedule_value(out, 0, &lr) != CK_OK)
        return cli_lib_error("--lr-schedule");
    return CLI_OK;
}

/* One row per schedule: the SPEC name, the Keras class, and the fields
 * its numbers fill in order. */
int cli_parse_lr_schedule(const char *spec, ck_lr_schedule *out)
{
    static const struct {
        const char *name, *class_name;
        int required, max;
    } kinds[] = {
        {"exponential", "ExponentialDecay", 3, 4}, {"inverse_time", "InverseTimeDecay", 3, 4},
        {"polynomial", "PolynomialDecay", 2, 5},   {"piecewise", "PiecewiseConstantDecay", 2, 2},
        {"cosine", "CosineDecay", 2, 5},
    };
    char buf[1024], *f[8];
    int n = split_fields(spec, buf, sizeof buf, f, 8) - 1;
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        if (strcasecmp(f[0], kinds[k].name) != 0 && strcasecmp(f[0], kinds[k].class_name) != 0)
            continue;
        if (n < kinds[k].required || n > kinds[k].max)
            return cli_error(CLI_USAGE, "--lr-schedule %s: %s takes %d to %d fields after its name",
                             spec, kinds[k].name, kinds[k].required, kinds[k].max);
        *out = (ck_lr_schedule){.class_name = kinds[k].class_name};
        if (strcmp(kinds[k].name, "piecewise") == 0)
            return parse_piecewise(spec, f[1], f[2], out);
        return parse_schedule_numbers(spec, f + 1, n, out);
    }
    return cli_error(CLI_USAGE,
                     "--lr-schedule %s: unknown schedule (exponential, inverse_time, polynomial, "
                     "piecewise, cosine)",
                     spec);
}

/* ------------------------------------------------------------ class weights */

/* The class of sample i: argmax of one-hot rows, else the id rounded half
 * to even, as the library's class_weight rounds it. */
static long class_of(const ck_tensor *y, size_t i, size_t width)
{
    const float *row = y->data + i * width;
    if (width == 1)
        return lrint(row[0]);
    size_t best = 0;
    for (size_t j = 1; j < width; j++)
        if (row[j] > row[best])
            best = j;
    return (long)best;
}

/* sklearn's compute_class_weight("balanced"), which Keras users pass as
 * class_weight: n_samples / (n_classes * count of the class). */
static int balanced_weights(const ck_tensor *y, cli_fit_extras *ex)
{
    size_t n = (size_t)y->dims[0], width = ck_tensor_size(y) / n;
    long classes = width > 1 ? (long)width : 2;
    for (size_t i = 0; width == 1 && i < n; i++)
        if (class_of(y, i, 1) + 1 > classes)
            classes = class_of(y, i, 1) + 1;
    if (classes > 100000)
        return cli_error(CLI_USAGE, "--class-weight balanced: class ids up to %ld", classes);
    double *count = calloc((size_t)classes, sizeof *count);
    ex->class_weight = calloc((size_t)classes, sizeof *ex->class_weight);
    if (!count || !ex->class_weight) {
        free(count);
        return cli_no_memory();
    }
    long present = 0;
    for (size_t i = 0; i < n; i++) {
        long c = class_of(y, i, width);
        if (c >= 0 && c < classes)
            present += count[c]++ == 0;
    }
    /* Like sklearn, the classes counted are those present in y. */
    for (long c = 0; c < classes; c++)
        ex->class_weight[c] = count[c] ? (float)((double)n / ((double)present * count[c])) : 1;
    ex->n_class_weights = (int)classes;
    free(count);
    return CLI_OK;
}

/* Reads up to len - 1 bytes of a regular file as a string. Opened
 * without blocking: a FIFO would wait for a writer before it could be
 * told apart, and a device might never end. */
static int read_small_file(const char *path, char *text, size_t len)
{
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return cli_error(CLI_FAIL, "--class-weight %s: cannot open the file: %s", path,
                         strerror(errno));
    struct stat sb;
    ssize_t n = -1;
    if (fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode))
        n = read(fd, text, len - 1);
    else
        errno = 0;
    close(fd);
    if (n < 0)
        return cli_error(CLI_FAIL, "--class-weight %s: %s", path,
                         errno ? strerror(errno) : "not a regular file (a FIFO, device or folder)");
    text[n] = '\0';
    return CLI_OK;
}

/* {"0": 1.0, "1": 2.5}: the JSON of a Keras class_weight dict. */
static int json_weights(const char *path, cli_fit_extras *ex)
{
    char text[65536];
    int rc = read_small_file(path, text, sizeof text);
    if (rc != CLI_OK)
        return rc;
    float w[4096];
    int n = 0;
    for (char *p = strchr(text, '"'); p; p = strchr(p, '"')) {
        char *end;
        long c = strtol(p + 1, &end, 10);
        char *colon = end != p + 1 && end[0] == '"' ? strchr(end, ':') : NULL;
        double v = colon ? strtod(colon + 1, &end) : NAN;
        /* A weight is a number: null or true is no weight (strtod reads 0). */
        const char *after = colon ? end + strspn(end, " \t\r\n") : "";
        bool is_number = colon && end != colon + 1 && (*after == ',' || *after == '}');
        if (!is_number || c < 0 || c >= 4096 || !isfinite(v) || v < 0)
            return cli_error(CLI_USAGE,
                             "--class-weight %s: expected {\"CLASS\": WEIGHT, ...} with class ids "
                             "0-4095 and weights >= 0",
                             path);
        for (; n <= c; n++)
            w[n] = 1; /* classes not listed weigh 1, as in Keras */
        w[c] = (float)v;
        p = end;
    }
    if (n == 0)
        return cli_error(CLI_USAGE, "--class-weight %s: no class weights in the file", path);
    if (!(ex->class_weight = malloc((size_t)n * sizeof *ex->class_weight)))
        return cli_no_memory();
    memcpy(ex->class_weight, w, (size_t)n * sizeof *w);
    ex->n_class_weights = n;
    return CLI_OK;
}

int cli_class_weights(const cli_args *a, const ck_tensor *y, cli_fit_extras *ex)
{
    const char *spec = a->class_weight;
    if (!spec)
        return CLI_OK;
    if (strcmp(spec, "balanced") == 0)
        return balanced_weights(y, ex);
    size_t len = strlen(spec);
    if (len > 5 && strcmp(spec + len - 5, ".json") == 0)
        return json_weights(spec, ex);
    ck_tensor t;
    int rc = cli_read_array(spec, "--class-weight", &t);
    if (rc != CLI_OK)
        return rc;
    size_t n = ck_tensor_size(&t);
    ex->class_weight = malloc(n * sizeof *ex->class_weight);
    if (ex->class_weight)
        memcpy(ex->class_weight, t.data, n * sizeof *t.data);
    ex->n_class_weights = (int)n;
    ck_free(t.data);
    return ex->class_weight ? CLI_OK : cli_no_memory();
}

/* ------------------------------------------------------------ callbacks */

/* MONITOR:PATIENCE[:restore] */
static int early_stopping(const cli_args *a, cli_fit_extras *ex)
{
    char buf[256], *f[4];
    int n = split_fields(a->early_stopping, buf, sizeof buf, f, 4);
    char *end;
    long patience = n >= 2 ? strtol(f[1], &end, 10) : -1;
    if (n < 2 || n > 3 || !f[0][0] || *end || patience < 0 || patience > 1000000 ||
        (n == 3 && strcmp(f[2], "restore") != 0))
        return cli_error(CLI_USAGE,
                         "--early-stopping %s: expected MONITOR:PATIENCE[:restore], e.g. "
                         "val_loss:5:restore",
                         a->early_stopping);
    snprintf(ex->monitor, sizeof ex->monitor, "%s", f[0]);
    ex->early_stopping = (ck_early_stopping){.monitor = ex->monitor,
                                             .patience = (int)patience,
                                             .restore_best_weights = n == 3,
                                             .verbose = 1};
    return CLI_OK;
}

/* MONITOR[:FACTOR[:PATIENCE[:MIN_LR[:COOLDOWN]]]] */
static int reduce_lr(const cli_args *a, cli_fit_extras *ex)
{
    char buf[256], *f[6];
    int n = split_fields(a->reduce_lr, buf, sizeof buf, f, 6);
    double v[5] = {0};
    bool ok = n <= 5 && f[0][0];
    for (int i = 1; ok && i < n; i++)
        ok = number(f[i], &v[i]) && v[i] >= 0 &&
             (i != 2 && i != 4 ? true : v[i] == floor(v[i]) && v[i] <= 1000000);
    if (!ok)
        return cli_error(CLI_USAGE,
                         "--reduce-lr-on-plateau %s: expected MONITOR[:FACTOR[:PATIENCE[:MIN_LR"
                         "[:COOLDOWN]]]], e.g. val_loss:0.5:3",
                         a->reduce_lr);
    snprintf(ex->reduce_monitor, sizeof ex->reduce_monitor, "%s", f[0]);
    ex->reduce_lr = (ck_reduce_lr_on_plateau_options){.monitor = ex->reduce_monitor,
                                                      .factor = v[1],
                                                      .patience = (int)v[2],
                                                      .min_lr = v[3],
                                                      .cooldown = (int)v[4],
                                                      .verbose = 1};
    return CLI_OK;
}

static int validation_data(ck_model *m, const cli_args *a, const cli_classes *c, cli_fit_extras *ex)
{
    if (!a->validation_x != !a->validation_y)
        return cli_error(CLI_USAGE, "--validation-x and --validation-y go together");
    if (!a->validation_x)
        return CLI_OK;
    if (cli_given(a, "validation-split"))
        return cli_error(CLI_USAGE, "--validation-split and --validation-x exclude each other");
    return cli_read_validation(m, a, c, &ex->vx, &ex->vy);
}

/* The monitor of --save-best-only: the early-stopping one, else val_loss
 * with validation data, else loss. */
static const char *best_monitor(const cli_args *a, const cli_fit_extras *ex)
{
    if (a->early_stopping)
        return ex->monitor;
    return a->validation_x || a->validation_split > 0 ? "val_loss" : "loss";
}

int cli_fit_callbacks(ck_model *m, const cli_args *a, const cli_classes *c, ck_fit_options *fo,
                      cli_fit_extras *ex)
{
    int rc = validation_data(m, a, c, ex);
    if (rc == CLI_OK && a->early_stopping)
        rc = early_stopping(a, ex);
    if (rc == CLI_OK && a->reduce_lr)
        rc = reduce_lr(a, ex);
    if (rc != CLI_OK)
        return rc;
    if (a->save_best_only && !a->checkpoint)
        return cli_error(CLI_USAGE, "--save-best-only needs --checkpoint PATTERN");
    if (ex->vx.data) {
        fo->validation_x = &ex->vx;
        fo->validation_y = &ex->vy;
    }
    ex->early_stopping.verbose = ex->reduce_lr.verbose = fo->verbose != 0;
    fo->initial_epoch = (int)a->initial_epoch;
    fo->class_weight = ex->class_weight;
    fo->n_class_weights = ex->n_class_weights;
    int n = 0;
    /* Keras order of a typical callbacks list: save, then stop, then log. */
    if (a->checkpoint) {
        ex->checkpoint = (ck_model_checkpoint_options){.filepath = a->checkpoint,
                                                       .monitor = best_monitor(a, ex),
                                                       .save_best_only = a->save_best_only};
        fo->callbacks[n++] = (ck_callback_spec){"ModelCheckpoint", &ex->checkpoint};
    }
    if (a->early_stopping)
        fo->callbacks[n++] = (ck_callback_spec){"EarlyStopping", &ex->early_stopping};
    if (a->reduce_lr)
        fo->callbacks[n++] = (ck_callback_spec){"ReduceLROnPlateau", &ex->reduce_lr};
    if (a->csv_log) {
        ex->csv = (ck_csv_logger_options){.filename = a->csv_log};
        fo->callbacks[n++] = (ck_callback_spec){"CSVLogger", &ex->csv};
    }
    return CLI_OK;
}

void cli_fit_extras_free(cli_fit_extras *ex)
{
    free(ex->class_weight);
    ck_free(ex->vx.data);
    ck_free(ex->vy.data);
    memset(ex, 0, sizeof *ex);
}
