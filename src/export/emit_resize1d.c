/* keras.layers.ZeroPadding1D, Cropping1D and UpSampling1D: copies of whole
 * steps, as src/layers/resize1d.c. They change the number of steps, so
 * they run on the whole sequence, never frame by frame. */
#include "ck_export.h"

/* The [before, after] pair ckeras writes for padding and cropping. */
static ck_status read_pair(const ck_exp_layer *L, const char *key, int pair[2])
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(L->cfg, key);
    for (int i = 0; i < 2; i++) {
        const cJSON *n = cJSON_GetArrayItem(v, i);
        if (!cJSON_IsNumber(n) || n->valueint < 0)
            return ck_exp_refuse(L, "option '%s' is not a pair of sizes", key);
        pair[i] = n->valueint;
    }
    return CK_OK;
}

static ck_status resize_plan(ck_exp_layer *L, const char *const *known)
{
    CK_TRY(ck_exp_check_keys(L, known));
    L->kind = CK_EXP_WHOLE;
    return CK_OK;
}

static ck_status pad_plan(ck_exp *x, ck_exp_layer *L)
{
    static const char *const known[] = {"padding", NULL};
    (void)x;
    return resize_plan(L, known);
}

static ck_status crop_plan(ck_exp *x, ck_exp_layer *L)
{
    static const char *const known[] = {"cropping", NULL};
    (void)x;
    return resize_plan(L, known);
}

static ck_status up_plan(ck_exp *x, ck_exp_layer *L)
{
    static const char *const known[] = {"size", NULL};
    (void)x;
    return resize_plan(L, known);
}

/* F values per step. */
static size_t step_size(const ck_exp_layer *L)
{
    return (size_t)L->in.dims[2];
}

static ck_status pad_emit(ck_exp *x, ck_exp_layer *L)
{
    int pad[2] = {0, 0};
    CK_TRY(read_pair(L, "padding", pad));
    size_t F = step_size(L);
    ck_exp_forward_open(x, L);
    ck_text_printf(&x->code,
                   "    memset(y, 0, sizeof(float) * %zu);\n"
                   "    memcpy(y + %zu, x, sizeof(float) * %zu);\n}\n\n",
                   ck_exp_size(&L->out), (size_t)pad[0] * F, ck_exp_size(&L->in));
    return CK_OK;
}

static ck_status crop_emit(ck_exp *x, ck_exp_layer *L)
{
    int crop[2] = {0, 0};
    CK_TRY(read_pair(L, "cropping", crop));
    ck_exp_forward_open(x, L);
    ck_text_printf(&x->code, "    memcpy(y, x + %zu, sizeof(float) * %zu);\n}\n\n",
                   (size_t)crop[0] * step_size(L), ck_exp_size(&L->out));
    return CK_OK;
}

static ck_status up_emit(ck_exp *x, ck_exp_layer *L)
{
    int size = 0;
    if (ck_exp_get_int(L, "size", &size) != CK_OK || size < 1)
        return ck_exp_refuse(L, "option 'size' is not a positive integer");
    size_t F = step_size(L);
    ck_exp_forward_open(x, L);
    ck_text_printf(&x->code,
                   "    for (long t = 0; t < %lld; t++)\n"
                   "        for (int k = 0; k < %d; k++)\n"
                   "            memcpy(y + (t * %d + k) * %zu, x + t * %zu, sizeof(float) * %zu);\n"
                   "}\n\n",
                   (long long)L->in.dims[1], size, size, F, F, F);
    return CK_OK;
}

const ck_exp_emitter ck_exp_zero_padding1d = {"ZeroPadding1D", pad_plan, pad_emit};
const ck_exp_emitter ck_exp_cropping1d = {"Cropping1D", crop_plan, crop_emit};
const ck_exp_emitter ck_exp_up_sampling1d = {"UpSampling1D", up_plan, up_emit};
