/* Layers that are identities at inference: Dropout, SpatialDropout1D,
 * GaussianNoise, GaussianDropout and AlphaDropout act only in training,
 * and ActivityRegularization only adds to the training loss; Reshape and Flatten keep the
 * row-major data and only rename its shape. They produce no code. */
#include "ck_export.h"

#include <string.h>

static ck_status identity_plan(ck_exp_layer *L, const char *const *known)
{
    CK_TRY(ck_exp_check_keys(L, known));
    L->kind = CK_EXP_ALIAS;
    L->steps = true;
    return CK_OK;
}

static ck_status dropout_plan(ck_exp *x, ck_exp_layer *L)
{
    static const char *const known[] = {"rate", "noise_shape", "seed", NULL};
    (void)x;
    return identity_plan(L, known);
}

static ck_status noise_plan(ck_exp *x, ck_exp_layer *L)
{
    static const char *const known[] = {"stddev", "seed", NULL};
    (void)x;
    return identity_plan(L, known);
}

static ck_status gaussian_dropout_plan(ck_exp *x, ck_exp_layer *L)
{
    static const char *const known[] = {"rate", "seed", NULL};
    (void)x;
    return identity_plan(L, known);
}

static ck_status activity_plan(ck_exp *x, ck_exp_layer *L)
{
    static const char *const known[] = {"l1", "l2", NULL};
    (void)x;
    return identity_plan(L, known);
}

static ck_status reshape_plan(ck_exp *x, ck_exp_layer *L)
{
    static const char *const known[] = {"target_shape", NULL};
    (void)x;
    return identity_plan(L, known);
}

static ck_status flatten_plan(ck_exp *x, ck_exp_layer *L)
{
    static const char *const known[] = {"data_format", NULL};
    const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(L->cfg, "data_format");
    (void)x;
    if (cJSON_IsString(fmt) && strcmp(fmt->valuestring, "channels_last") != 0)
        return ck_exp_refuse(L, "data_format '%s' is not exported", fmt->valuestring);
    return identity_plan(L, known);
}

const ck_exp_emitter ck_exp_dropout = {"Dropout", dropout_plan, NULL};
const ck_exp_emitter ck_exp_spatial_dropout1d = {"SpatialDropout1D", dropout_plan, NULL};
const ck_exp_emitter ck_exp_gaussian_noise = {"GaussianNoise", noise_plan, NULL};
const ck_exp_emitter ck_exp_gaussian_dropout = {"GaussianDropout", gaussian_dropout_plan, NULL};
const ck_exp_emitter ck_exp_alpha_dropout = {"AlphaDropout", dropout_plan, NULL};
const ck_exp_emitter ck_exp_activity_regularization = {"ActivityRegularization", activity_plan,
                                                       NULL};
const ck_exp_emitter ck_exp_reshape = {"Reshape", reshape_plan, NULL};
const ck_exp_emitter ck_exp_flatten = {"Flatten", flatten_plan, NULL};
