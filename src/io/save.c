/* Public saving entry points. Every file is written beside its target and
 * renamed over it (files.c), so a failure never replaces a good file with
 * a broken one. */
#include "ck_io.h"

#include <string.h>
#include <time.h>

static ck_status write_json_attr(hid_t obj, const char *name, cJSON *json)
{
    char *text = json ? cJSON_PrintUnformatted(json) : NULL;
    cJSON_Delete(json);
    if (!text)
        return ck_error(CK_ERR_MEMORY, "out of memory writing %s", name);
    ck_status st = ck_h5_write_string(obj, name, text);
    cJSON_free(text);
    return st;
}

/* What a save writes: Keras's include_optimizer=False leaves out the
 * training config and the optimizer state. */
typedef struct save_job {
    ck_model *m;
    bool with_training;
} save_job;

static bool keeps_training(const ck_save_options *opts)
{
    return !(opts && opts->no_optimizer);
}

static ck_status write_model(hid_t file, void *ctx)
{
    const save_job *job = ctx;
    ck_model *m = job->m;
    cJSON *cfg = ck_io_model_config(m);
    if (!cfg)
        return ck_error_status();
    CK_TRY(write_json_attr(file, "model_config", cfg));
    CK_TRY(ck_h5_write_string(file, "keras_version", ck_io_keras_version(m->semantics)));
    CK_TRY(ck_h5_write_string(file, "backend", "tensorflow"));
    cJSON *training = job->with_training ? ck_train_config_to_json(m) : NULL;
    if (!training && job->with_training && m->train)
        return ck_error(CK_ERR_MEMORY, "out of memory writing the training config of model %s",
                        m->name);
    if (training)
        CK_TRY(write_json_attr(file, "training_config", training));
    hid_t g = H5Gcreate2(file, "model_weights", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (g < 0)
        return ck_error(CK_ERR_IO, "cannot create group model_weights");
    ck_status st = ck_k2_write(g, m);
    H5Gclose(g);
    if (st == CK_OK && training)
        st = ck_k2_write_optimizer(file, m);
    return st;
}

static ck_status write_weights_k2(hid_t file, void *ctx)
{
    return ck_k2_write(file, ctx);
}

static ck_status write_weights_k3(hid_t file, void *ctx)
{
    return ck_k3_write(file, ctx);
}

/* ---------------- .keras ---------------- */

static ck_status write_keras_weights(hid_t file, void *ctx)
{
    const save_job *job = ctx;
    CK_TRY(ck_k3_write(file, job->m));
    return job->with_training ? ck_k3_write_optimizer(file, job->m) : CK_OK;
}

/* model.weights.h5 is built in memory and stored in the archive as bytes. */
static ck_status weights_image(const save_job *job, const char *path, void **buf, size_t *size)
{
    return ck_h5_image(path, write_keras_weights, (void *)job, buf, size);
}

static char *metadata_json(const ck_model *m)
{
    char date[32] = "1970-01-01@00:00:00", text[160];
    time_t now = time(NULL);
    struct tm tm;
    /* Keras stamps local time as "%Y-%m-%d@%H:%M:%S". */
    if (localtime_r(&now, &tm))
        strftime(date, sizeof date, "%Y-%m-%d@%H:%M:%S", &tm);
    snprintf(text, sizeof text, "{\"keras_version\": \"%s\", \"date_saved\": \"%s\"}",
             ck_io_keras_version(m->semantics), date);
    return ck_strdup(text);
}

static ck_status config_json(const ck_model *m, bool with_training, char **out)
{
    cJSON *root = ck_io_model_config_k3(m);
    if (!root)
        return ck_error_status();
    ck_status st = with_training ? ck_io_add_compile_config_k3(m, root) : CK_OK;
    *out = st == CK_OK ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    if (st == CK_OK && !*out)
        st = ck_error(CK_ERR_MEMORY, "out of memory writing config.json of model %s", m->name);
    return st;
}

static ck_status write_archive(ck_io_sink *out, void *ctx)
{
    return ck_keras_zip_write(out, ctx);
}

ck_status ck_io_save_keras(ck_model *m, const char *path, const ck_save_options *opts)
{
    ck_keras_zip z = {0};
    save_job job = {m, keeps_training(opts)};
    ck_status st = config_json(m, job.with_training, &z.config);
    if (st == CK_OK && !(z.metadata = metadata_json(m)))
        st = CK_ERR_MEMORY;
    if (st == CK_OK)
        st = weights_image(&job, path, &z.weights, &z.weights_size);
    if (st == CK_OK)
        st = ck_io_atomic_file(path, write_archive, &z);
    ck_keras_zip_free(&z);
    return st;
}

/* ---------------- entry points ---------------- */
ck_status ck_io_save_h5(ck_model *m, const char *path, const ck_save_options *opts)
{
    return ck_io_atomic_h5(path, write_model, &(save_job){m, keeps_training(opts)});
}

ck_status ck_io_save_weights_k3(ck_model *m, const char *path, const ck_save_options *opts)
{
    (void)opts;
    return ck_io_atomic_h5(path, write_weights_k3, m);
}

ck_status ck_model_save_weights_with(ck_model *m, const char *path, const ck_weights_options *opts)
{
    if (!m || !path || !*path)
        return ck_error(CK_ERR_ARGUMENT, "ck_model_save_weights: NULL model or empty path");
    bool k3 = (opts && opts->keras3_layout) || ck_file_format_of(path) == CK_FORMAT_KERAS_WEIGHTS;
    /* Keras refuses either without the other. */
    bool sharded = ck_str_ends_with(path, "weights.json");
    double max = opts ? opts->max_shard_size : 0;
    if (!sharded && max != 0)
        return ck_error(CK_ERR_ARGUMENT,
                        "ck_model_save_weights: max_shard_size needs a name ending in "
                        ".weights.json, not '%s'",
                        path);
    CK_TRY(ck_model_build(m));
    CK_TRY(ck_model_enter(m, CK_ACCESS_READ, "ck_model_save_weights"));
    ck_h5_quiet q;
    ck_h5_quiet_begin(&q);
    ck_status st = sharded ? ck_io_save_weights_sharded(m, path, max)
                   : k3    ? ck_io_save_weights_k3(m, path, NULL)
                           : ck_io_atomic_h5(path, write_weights_k2, m);
    ck_h5_quiet_end(&q);
    ck_model_leave(m);
    return st;
}
