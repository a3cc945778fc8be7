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

static void format_tensor_shape(const ck_tensor *t, char *buf, size_t len)
{
    ck_shape s = {.rank = t->rank};
    memcpy(s.dims, t->dims, sizeof s.dims);
    ck_shape_format(&s, buf, len);
}

int cli_check_input(ck_model *m, const ck_tensor *x, const char *what)
{
    ck_shape want = {0};
    int64_t dims[CK_MAX_RANK];
    if (ck_model_input_shape(m, &want.rank, dims) != CK_OK)
        return cli_lib_error(NULL);
    /* Prepend the batch axis so the message reads like Keras. */
    want.dims[0] = CK_NONE;
    memcpy(want.dims + 1, dims, sizeof(int64_t) * (size_t)want.rank);
    want.rank++;
    bool fits = x->rank == want.rank;
    for (int i = 1; fits && i < x->rank; i++)
        fits = want.dims[i] < 0 || want.dims[i] == x->dims[i];
    if (fits)
        return CLI_OK;
    char got_s[128], want_s[128];
    format_tensor_shape(x, got_s, sizeof got_s);
    ck_shape_format(&want, want_s, sizeof want_s);
    return cli_error(CLI_FAIL, "%s has shape %s but model %s expects %s", what, got_s,
                     ck_model_name(m), want_s);
}

int cli_output_shape(ck_model *m, const ck_tensor *x, ck_tensor *y)
{
    ck_shape s = {.rank = x->rank};
    memcpy(s.dims, x->dims, sizeof s.dims);
    for (int i = 0; i < m->n_layers; i++) {
        ck_shape next;
        ck_layer *l = m->layers[i];
        if (l->ops->output_shape(l, &s, &next) != CK_OK)
            return cli_lib_error(NULL);
        s = next;
    }
    y->rank = s.rank;
    memcpy(y->dims, s.dims, sizeof y->dims);
    return CLI_OK;
}
