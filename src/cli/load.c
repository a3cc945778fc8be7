/* MODEL on the command line: a whole-model file, or --config ARCH.json,
 * optionally followed by --weights. */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

#define MAX_MAP 16

/* --map FROM=TO,FROM=TO: the words live in `buf`. */
static int parse_map(const char *text, char *buf, size_t len, ck_load_options *o, ck_name_map *map)
{
    *o = (ck_load_options){.map = map};
    if (!text)
        return CLI_OK;
    if (strlen(text) >= len)
        return cli_error(CLI_USAGE, "--map is too long");
    snprintf(buf, len, "%s", text);
    char *save = NULL;
    for (char *pair = strtok_r(buf, ",", &save); pair; pair = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(pair, '=');
        if (!eq || eq == pair || !eq[1] || o->n_map == MAX_MAP)
            return cli_error(CLI_USAGE, "--map needs FROM=TO pairs (at most %d), got '%s'", MAX_MAP,
                             pair);
        *eq = '\0';
        map[o->n_map++] = (ck_name_map){pair, eq + 1};
    }
    return CLI_OK;
}

/* One "ckeras: warning:" line per line of the model's warnings. */
static void print_warnings(const ck_model *m)
{
    const char *w = ck_model_warnings(m);
    while (*w) {
        size_t n = strcspn(w, "\n");
        fprintf(stderr, "ckeras: warning: %.*s\n", (int)n, w);
        w += n + (w[n] == '\n');
    }
}

int cli_load_model(const cli_args *a, const char *path, ck_model **out)
{
    *out = NULL;
    ck_model *m = NULL;
    const char *source = a->config ? a->config : path;
    char words[1024];
    ck_name_map map[MAX_MAP];
    ck_load_options lo;
    int rc = parse_map(a->map, words, sizeof words, &lo, map);
    if (rc != CLI_OK)
        return rc;
    /* --config names a JSON architecture whatever its file name. */
    lo.format = a->config ? CK_FORMAT_JSON : CK_FORMAT_AUTO;
    lo.weights = a->weights;
    lo.by_name = a->by_name;
    if (ck_model_load_with(source, &m, &lo) != CK_OK)
        return cli_lib_error(a->weights && strstr(ck_last_error(), a->weights) ? a->weights
                                                                               : source);
    if (ck_model_build(m) != CK_OK) {
        rc = cli_lib_error(source);
        ck_model_free(m);
        return rc;
    }
    if (cli_given(a, "verbose") && a->verbose > 0)
        print_warnings(m);
    *out = m;
    return CLI_OK;
}

/* Rows of a text table as samples of `rank` axes; one open axis (the
 * timesteps of a model that takes any number) takes what the row leaves,
 * as numpy's reshape(-1, -1 ...) with one -1 per sample does. */
static void rows_as_samples(ck_tensor *x, int rank, const int64_t *sample)
{
    int64_t known = 1, open = -1;
    for (int i = 0; i < rank; i++) {
        if (sample[i] > 0)
            known *= sample[i];
        else if (open < 0)
            open = i;
        else
            return;
    }
    if (x->rank != 2 || rank < 2 || x->dims[1] % known != 0 || (open < 0 && known != x->dims[1]))
        return;
    int64_t cols = x->dims[1];
    x->rank = rank + 1;
    memcpy(x->dims + 1, sample, sizeof(int64_t) * (size_t)rank);
    if (open >= 0)
        x->dims[1 + open] = cols / known;
}

int cli_check_input(ck_model *m, ck_tensor *x, const char *spec, const char *what)
{
    int64_t sample[CK_MAX_RANK], want[CK_MAX_RANK] = {CK_NONE};
    int rank;
    if (ck_model_input_shape(m, &rank, sample) != CK_OK)
        return cli_lib_error(NULL);
    if (spec && cli_is_table(spec))
        rows_as_samples(x, rank, sample);
    /* Prepend the batch axis so the message reads like Keras. */
    memcpy(want + 1, sample, sizeof(int64_t) * (size_t)rank);
    rank++;
    bool fits = x->rank == rank;
    for (int i = 1; fits && i < x->rank; i++)
        fits = want[i] < 0 || want[i] == x->dims[i];
    if (fits)
        return CLI_OK;
    char got_s[128], want_s[128];
    ck_shape_string(x->rank, x->dims, got_s, sizeof got_s);
    ck_shape_string(rank, want, want_s, sizeof want_s);
    return cli_error(CLI_FAIL, "%s has shape %s but model %s expects %s", what, got_s,
                     ck_model_name(m), want_s);
}

int cli_output_shape(ck_model *m, const ck_tensor *x, ck_tensor *y)
{
    if (ck_model_compute_output_shape(m, x->rank, x->dims, &y->rank, y->dims) != CK_OK)
        return cli_lib_error(NULL);
    return CLI_OK;
}
