/* keras.layers.Permute and RepeatVector: data movement only. */
#include "ck_export.h"

static ck_status permute_plan(ck_exp *x, ck_exp_layer *L)
{
    static const char *const known[] = {"dims", NULL};
    (void)x;
    CK_TRY(ck_exp_check_keys(L, known));
    L->kind = CK_EXP_WHOLE;
    return CK_OK;
}

/* Output element i, decomposed along the output axes, is the input element
 * at the sum of those coordinates times the strides of the input axes they
 * came from. */
static ck_status permute_emit(ck_exp *x, ck_exp_layer *L)
{
    const cJSON *dims = cJSON_GetObjectItemCaseSensitive(L->cfg, "dims");
    int k = L->in.rank - 1;
    long in_stride[CK_MAX_RANK], stride = 1;
    if (!cJSON_IsArray(dims) || cJSON_GetArraySize(dims) != k)
        return ck_exp_refuse(L, "option 'dims' does not match its input");
    for (int a = k; a >= 1; a--) {
        in_stride[a] = stride;
        stride *= (long)L->in.dims[a];
    }
    ck_text_printf(&x->weights, "static const long %s_odims[%d] = {", L->id, k);
    for (int a = 0; a < k; a++)
        ck_text_printf(&x->weights, "%s%lld", a ? ", " : "", (long long)L->out.dims[a + 1]);
    ck_text_printf(&x->weights, "};\nstatic const long %s_istride[%d] = {", L->id, k);
    for (int a = 0; a < k; a++) {
        const cJSON *d = cJSON_GetArrayItem(dims, a);
        int src = cJSON_IsNumber(d) ? d->valueint : 0;
        if (src < 1 || src > k)
            return ck_exp_refuse(L, "option 'dims' is not a permutation of 1..%d", k);
        ck_text_printf(&x->weights, "%s%ld", a ? ", " : "", in_stride[src]);
    }
    ck_text_printf(&x->weights, "};\n");
    x->weight_bytes += 2 * (size_t)k * sizeof(long);
    ck_exp_forward_open(x, L);
    ck_text_printf(&x->code,
                   "    for (long i = 0; i < %zu; i++) {\n"
                   "        long rest = i, off = 0;\n"
                   "        for (int a = %d; a >= 0; a--) {\n"
                   "            off += rest %% %s_odims[a] * %s_istride[a];\n"
                   "            rest /= %s_odims[a];\n"
                   "        }\n"
                   "        y[i] = x[off];\n    }\n}\n\n",
                   ck_exp_size(&L->out), k - 1, L->id, L->id, L->id);
    return CK_OK;
}

static ck_status repeat_plan(ck_exp *x, ck_exp_layer *L)
{
    static const char *const known[] = {"n", NULL};
    (void)x;
    CK_TRY(ck_exp_check_keys(L, known));
    L->kind = CK_EXP_WHOLE;
    return CK_OK;
}

static ck_status repeat_emit(ck_exp *x, ck_exp_layer *L)
{
    size_t F = ck_exp_size(&L->in);
    ck_exp_forward_open(x, L);
    ck_text_printf(
        &x->code,
        "    for (int t = 0; t < %lld; t++)\n        memcpy(y + (long)t * %zu, x, sizeof(float) * %zu);\n}\n\n",
        (long long)L->out.dims[1], F, F);
    return CK_OK;
}

const ck_exp_emitter ck_exp_permute = {"Permute", permute_plan, permute_emit};
const ck_exp_emitter ck_exp_repeat_vector = {"RepeatVector", repeat_plan, repeat_emit};
