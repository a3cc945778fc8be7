/* Architecture-only .json files (Keras model.to_json()): the JSON row of
 * the format table. Loading gives a model with freshly initialised weights,
 * or with none when ck_model_load reads every weight from opts->weights. */
#include "ck_io.h"

#include <stdlib.h>
#include <string.h>

ck_status ck_io_load_json(const char *path, const ck_load_options *opts, ck_model **out)
{
    char *json = NULL;
    size_t len = 0;
    CK_TRY(ck_read_file_limited(path, CK_IO_MAX_JSON, &json, &len));
    ck_status st = ck_io_model_from_json(json, opts, opts && opts->weights && !opts->by_name, out);
    free(json);
    return st;
}

ck_status ck_io_save_json(ck_model *m, const char *path, const ck_save_options *opts)
{
    (void)opts;
    char *json = ck_model_to_json(m);
    if (!json)
        return ck_error_status();
    ck_status st = ck_text_write(path, json);
    ck_free(json);
    return st;
}
