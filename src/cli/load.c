/* MODEL on the command line: a whole-model file, or --config ARCH.json,
 * optionally followed by --weights. */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

int cli_load_model(const cli_args *a, const char *path, ck_model **out)
{
    *out = NULL;
    ck_model *m = NULL;
    const char *source = a->config ? a->config : path;
    /* --config names a JSON architecture whatever its file name. */
    ck_file_format format = a->config ? CK_FORMAT_JSON : CK_FORMAT_AUTO;
    int rc = ck_model_load_as(source, format, &m) == CK_OK ? CLI_OK : cli_lib_error(source);
    if (rc != CLI_OK) {
        ck_model_free(m);
        return rc;
    }
    if (ck_model_build(m) != CK_OK) {
        rc = cli_lib_error(source);
    } else if (a->weights && ck_model_load_weights(m, a->weights, .by_name = a->by_name) != CK_OK) {
        rc = cli_lib_error(a->weights);
    }
    if (rc != CLI_OK) {
        ck_model_free(m);
        return rc;
    }
    *out = m;
    return CLI_OK;
}

int cli_check_input(ck_model *m, const ck_tensor *x, const char *what)
{
    int64_t sample[CK_MAX_RANK], want[CK_MAX_RANK] = {CK_NONE};
    int rank;
    if (ck_model_input_shape(m, &rank, sample) != CK_OK)
        return cli_lib_error(NULL);
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
