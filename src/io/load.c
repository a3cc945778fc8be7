/* Loading: whole models from .h5 and .keras files (the loaders of the
 * format table, formats.c), and weights of any supported layout into a
 * built model. */
#include "ck_io.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
 * load_model(compile=False) would; the model still predicts. The reason
 * stays in the warnings, for whoever then needs the model compiled. */
static ck_status compile_from(ck_model *m, const cJSON *tc)
{
    ck_status st = ck_train_config_from_json(m, tc);
    if (st == CK_OK || st == CK_ERR_MEMORY)
        return st;
    if (ck_model_warn(m, CK_TRAINING_CONFIG_UNUSED "%s", ck_last_error()) != CK_OK)
        return ck_error(CK_ERR_MEMORY, "out of memory loading model %s", m->name);
    ck_clear_error();
    return CK_ERR_UNSUPPORTED;
}

/* Keras 3's compile_from_config builds the optimizer's variables of a
 * built model at once (summary() then counts them); tf.keras 2 made them
 * at the first step. */
static ck_status compile_built(ck_model *m, const cJSON *cc)
{
    ck_status st = compile_from(m, cc);
    if (st == CK_OK)
        return ck_optimizer_create_slots(m);
    return st == CK_ERR_MEMORY ? st : CK_OK;
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
    ld.legacy_weights = true;
    hsize_t bytes = 0;
    if (st == CK_OK && H5Fget_filesize(file, &bytes) >= 0)
        ld.source_bytes = bytes;
    if (st == CK_OK)
        st = parse_config(config, &ld, out);
    if (st == CK_OK)
        st = ck_weights_read_h5(file, *out, NULL, true, true);
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
static const char *zip_version(const char *metadata, char *buf, size_t len)
{
    cJSON *meta = NULL;
    /* Not JSON as Python reads it (a key twice, say): no version. */
    if (metadata && ck_io_parse_json("metadata.json", metadata, strlen(metadata), &meta) != CK_OK)
        ck_clear_error();
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(meta, "keras_version");
    const char *version = NULL;
    if (cJSON_IsString(v) && strlen(v->valuestring) < len) {
        snprintf(buf, len, "%s", v->valuestring);
        version = buf;
    }
    cJSON_Delete(meta);
    return version;
}

/* The most a model.weights.h5 for m can need: every weight plus as many
 * optimizer slots, all as float64, and HDF5's bookkeeping per weight. A
 * larger member cannot be m's, so it is refused before it is inflated
 * (a zip bomb of a few kilobytes would otherwise take gigabytes). */
static uint64_t weights_bound(const ck_model *m)
{
    uint64_t weights = 0;
    for (int i = 0; i < m->n_layers; i++)
        weights += (uint64_t)m->layers[i]->n_weights;
    return (uint64_t)m->n_params * sizeof(double) * (1 + CK_OPT_MAX_SLOTS) + (weights + 64) * 16384;
}

/* The weights of the member model.weights.h5, and for a compile_config
 * (cc, else NULL) the compiled optimizer's variables from the same
 * member, as Keras 3's load_model reads them. */
static ck_status read_zip_weights(ck_zip_in *z, const char *path, ck_model *m,
                                  const ck_weights_options *opts, bool fresh, const cJSON *cc)
{
    ck_zip_limit limit = ck_zip_user_limit();
    char why[CK_NAME_MAX + 96];
    uint64_t bound = weights_bound(m);
    if (bound < limit.bytes) {
        snprintf(why, sizeof why, "the most model %s with %zu parameters can need", m->name,
                 m->n_params);
        limit = (ck_zip_limit){bound, why};
    }
    void *image;
    size_t size;
    CK_TRY(ck_keras_zip_member(z, "model.weights.h5", &limit, true, &image, &size));
    char label[1024];
    snprintf(label, sizeof label, "model.weights.h5 in '%s'", path);
    hid_t file;
    ck_status st = ck_h5_open_image(image, size, label, &file);
    if (st == CK_OK) {
        st = ck_weights_read_h5(file, m, opts, true, fresh);
        if (st == CK_OK && cJSON_IsObject(cc))
            st = compile_built(m, cc);
        if (st == CK_OK && cJSON_IsObject(cc) && ck_model_is_compiled(m))
            st = ck_k3_read_optimizer(file, m);
        H5Fclose(file);
    }
    free(image);
    return st;
}

static ck_status read_zip_text(ck_zip_in *z, const char *member, uint64_t max, bool required,
                               char **text)
{
    ck_zip_limit limit = {max, "the size limit of a JSON member"};
    size_t size;
    CK_TRY(ck_keras_zip_member(z, member, &limit, required, (void **)text, &size));
    size_t len = *text ? strlen(*text) : 0;
    if (*text && len != size) {
        free(*text);
        *text = NULL;
        return ck_error(CK_ERR_FORMAT, "%s holds a NUL byte at offset %zu (not JSON text)", member,
                        len);
    }
    return CK_OK;
}

static ck_status read_zip_model(ck_zip_in *z, const char *path, const ck_load_options *opts,
                                ck_model **out)
{
    char *config = NULL, *metadata = NULL, version[32];
    cJSON *root = NULL;
    ck_status st = read_zip_text(z, "config.json", CK_IO_MAX_JSON, true, &config);
    if (st == CK_OK)
        st = read_zip_text(z, "metadata.json", CK_IO_MAX_METADATA, false, &metadata);
    ck_io_load ld = ck_io_load_init(opts, zip_version(metadata, version, sizeof version), CK_KERAS3,
                                    true);
    if (st == CK_OK)
        st = ck_keras_zip_member_size(z, "model.weights.h5", &ld.source_bytes);
    if (st == CK_OK)
        st = ck_io_parse_json("config.json", config, strlen(config), &root);
    if (st == CK_OK)
        st = ck_io_model_from_config(root, &ld, out);
    if (st == CK_OK)
        st = read_zip_weights(z, path, *out, NULL, true,
                              cJSON_GetObjectItemCaseSensitive(root, "compile_config"));
    cJSON_Delete(root);
    free(config);
    free(metadata);
    return st;
}

ck_status ck_io_load_keras(const char *path, const ck_load_options *opts, ck_model **out)
{
    ck_zip_in *z;
    CK_TRY(ck_keras_zip_open(path, &z));
    ck_status st = read_zip_model(z, path, opts, out);
    ck_keras_zip_close(z);
    return st;
}

static ck_status load_weights(ck_model *m, const char *path, const ck_weights_options *opts)
{
    ck_file_format format;
    /* Keras 3.10+ save_weights(..., max_shard_size=...) writes this index
     * beside NAME_00000.weights.h5, ...; Keras goes by the same suffix. */
    if (ck_str_ends_with(path, "weights.json"))
        return ck_weights_read_sharded(path, m, opts);
    CK_TRY(ck_file_format_detect(path, &format));
    if (format == CK_FORMAT_KERAS) {
        ck_zip_in *z;
        CK_TRY(ck_keras_zip_open(path, &z));
        ck_status st = read_zip_weights(z, path, m, opts, false, NULL);
        ck_keras_zip_close(z);
        return st;
    }
    hid_t file;
    CK_TRY(ck_h5_open(path, &file));
    ck_status st = ck_weights_read_h5(file, m, opts, false, false);
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
    ck_status st;
    CK_GUARDED(st, m, CK_ACCESS_UPDATE, "ck_model_load_weights", load_weights(m, path, opts));
    ck_h5_quiet_end(&q);
    return st;
}
