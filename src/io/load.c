/* Loading: whole models from .h5 and .keras files (the loaders of the
 * format table, formats.c), and weights of any supported layout into a
 * built model. */
#include "ck_io.h"

#include <stdlib.h>
#include <string.h>

static ck_status parse_config(const char *text, ck_io_load *ld, ck_model **out)
{
    cJSON *root;
    CK_TRY(ck_io_parse_json("model_config", text, strlen(text), &root));
    ck_status st = ck_io_model_from_config(root, ld, out);
    cJSON_Delete(root);
    return st;
}

/* A training config Keras can compile but ckeras cannot (e.g. a custom
 * loss) leaves the model loaded and uncompiled, as Keras's
 * load_model(compile=False) would; the model still predicts. */
static ck_status compile_from(ck_model *m, const cJSON *tc)
{
    ck_status st = ck_train_config_from_json(m, tc);
    if (st == CK_OK || st == CK_ERR_MEMORY)
        return st;
    ck_clear_error();
    return CK_ERR_UNSUPPORTED;
}

static ck_status apply_training_config(hid_t file, ck_model *m)
{
    if (!ck_h5_has_attr(file, "training_config"))
        return CK_OK;
    char *text;
    CK_TRY(ck_h5_read_string(file, "training_config", &text));
    cJSON *tc;
    ck_status st = ck_io_parse_json("training_config", text, strlen(text), &tc);
    free(text);
    if (st != CK_OK)
        return st;
    st = compile_from(m, tc);
    if (st == CK_OK)
        st = ck_k2_read_optimizer(file, tc, m);
    cJSON_Delete(tc);
    return st == CK_ERR_MEMORY ? st : CK_OK;
}

static ck_status read_h5_model(hid_t file, const char *path, const ck_load_options *opts,
                               ck_model **out)
{
    if (!ck_h5_has_attr(file, "model_config"))
        return ck_error(CK_ERR_FORMAT,
                        "'%s' has no model_config: it holds weights only; build the model and call "
                        "ck_model_load_weights",
                        path);
    char *config = NULL, *version = NULL;
    ck_status st = ck_h5_read_string(file, "model_config", &config);
    if (st == CK_OK && ck_h5_has_attr(file, "keras_version"))
        st = ck_h5_read_string(file, "keras_version", &version);
    ck_io_load ld = ck_io_load_init(opts, version, CK_KERAS2, true);
    if (st == CK_OK)
        st = parse_config(config, &ld, out);
    if (st == CK_OK)
        st = ck_weights_read_h5(file, *out, NULL);
    if (st == CK_OK)
        st = apply_training_config(file, *out);
    free(config);
    free(version);
    return st;
}

ck_status ck_io_load_h5(const char *path, const ck_load_options *opts, ck_model **out)
{
    hid_t file;
    CK_TRY(ck_h5_open(path, &file));
    ck_status st = read_h5_model(file, path, opts, out);
    H5Fclose(file);
    return st;
}

/* .keras: the writer's version comes from metadata.json (tf.keras 2.13+
 * also wrote .keras files); *buf keeps it. */
static const char *zip_version(const ck_keras_zip *z, char *buf, size_t len)
{
    cJSON *meta = z->metadata ? cJSON_Parse(z->metadata) : NULL;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(meta, "keras_version");
    const char *version = NULL;
    if (cJSON_IsString(v) && strlen(v->valuestring) < len) {
        snprintf(buf, len, "%s", v->valuestring);
        version = buf;
    }
    cJSON_Delete(meta);
    return version;
}

static ck_status read_zip_weights(const ck_keras_zip *z, const char *path, ck_model *m,
                                  const ck_weights_options *opts)
{
    char label[1024];
    snprintf(label, sizeof label, "model.weights.h5 in '%s'", path);
    hid_t file;
    CK_TRY(ck_h5_open_image(z->weights, z->weights_size, label, &file));
    ck_status st = ck_weights_read_h5(file, m, opts);
    H5Fclose(file);
    return st;
}

ck_status ck_io_load_keras(const char *path, const ck_load_options *opts, ck_model **out)
{
    ck_keras_zip z;
    CK_TRY(ck_keras_zip_read(path, &z));
    cJSON *root = NULL;
    char version[32];
    ck_io_load ld = ck_io_load_init(opts, zip_version(&z, version, sizeof version), CK_KERAS3,
                                    true);
    ck_status st = ck_io_parse_json("config.json", z.config, strlen(z.config), &root);
    if (st == CK_OK)
        st = ck_io_model_from_config(root, &ld, out);
    if (st == CK_OK)
        st = read_zip_weights(&z, path, *out, NULL);
    const cJSON *cc = cJSON_GetObjectItemCaseSensitive(root, "compile_config");
    if (st == CK_OK && cJSON_IsObject(cc) && compile_from(*out, cc) == CK_ERR_MEMORY)
        st = CK_ERR_MEMORY;
    cJSON_Delete(root);
    ck_keras_zip_free(&z);
    return st;
}

static ck_status load_weights(ck_model *m, const char *path, const ck_weights_options *opts)
{
    if (ck_file_format_sniff(path) == CK_FORMAT_KERAS) {
        ck_keras_zip z;
        CK_TRY(ck_keras_zip_read(path, &z));
        ck_status st = read_zip_weights(&z, path, m, opts);
        ck_keras_zip_free(&z);
        return st;
    }
    hid_t file;
    CK_TRY(ck_h5_open(path, &file));
    ck_status st = ck_weights_read_h5(file, m, opts);
    H5Fclose(file);
    return st;
}

ck_status ck_model_load_weights_with(ck_model *m, const char *path, const ck_weights_options *opts)
{
    if (!m || !path)
        return ck_error(CK_ERR_ARGUMENT, "ck_model_load_weights: NULL argument");
    if (opts && opts->skip_mismatch && !opts->by_name)
        return ck_error(CK_ERR_ARGUMENT,
                        "ck_model_load_weights: skip_mismatch needs by_name, as in Keras");
    CK_TRY(ck_model_build(m));
    ck_h5_quiet q;
    ck_h5_quiet_begin(&q);
    ck_status st = load_weights(m, path, opts);
    ck_h5_quiet_end(&q);
    return st;
}
