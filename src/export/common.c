/* The emitter table and what every emitter needs to read a config and to
 * refuse, naming the layer, what it cannot export. */
#include "ck_export.h"

#include <stdio.h>
#include <string.h>

#define CK_EMITTER(sym) extern const ck_exp_emitter sym;
#include "emitters.def"
#undef CK_EMITTER

static const ck_exp_emitter *const emitters[] = {
#define CK_EMITTER(sym) &sym,
#include "emitters.def"
#undef CK_EMITTER
};

const ck_exp_emitter *ck_exp_emitter_find(const char *class_name)
{
    for (size_t i = 0; i < sizeof emitters / sizeof emitters[0]; i++)
        if (strcmp(emitters[i]->class_name, class_name) == 0)
            return emitters[i];
    return NULL;
}

ck_status ck_exp_refuse(const ck_exp_layer *L, const char *fmt, ...)
{
    char why[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    return ck_error(CK_ERR_UNSUPPORTED, "cannot export layer '%s' (%s): %s", L->name, L->cls, why);
}

static bool listed(const char *key, const char *const *list)
{
    for (; *list; list++)
        if (strcmp(key, *list) == 0)
            return true;
    return false;
}

ck_status ck_exp_row_plan(ck_exp_layer *L, const void *opts, size_t size)
{
    void *copy = ck_alloc(1, size);
    if (!copy)
        return CK_ERR_MEMORY;
    memcpy(copy, opts, size);
    L->priv = copy;
    L->kind = CK_EXP_ROW;
    L->steps = true;
    L->row_in = L->row_out = (size_t)L->in.dims[L->in.rank - 1];
    return CK_OK;
}

ck_status ck_exp_check_keys(const ck_exp_layer *L, const char *const *known)
{
    /* What every config may carry without changing inference. */
    static const char *const common[] = {
        "name",        "trainable",  "dtype",     "batch_input_shape", "batch_shape",
        "input_shape", "batch_size", "input_dim", "input_length",      NULL};
    const cJSON *it;
    cJSON_ArrayForEach(it, L->cfg)
    {
        if (!it->string || cJSON_IsNull(it) || listed(it->string, common) ||
            listed(it->string, known))
            continue;
        return ck_exp_refuse(L, "option '%s' is not exported", it->string);
    }
    return CK_OK;
}

static ck_status rewrap(const ck_exp_layer *L, ck_status st)
{
    if (st == CK_OK)
        return CK_OK;
    char msg[512];
    snprintf(msg, sizeof msg, "%s", ck_last_error());
    return ck_exp_refuse(L, "%s", msg);
}

ck_status ck_exp_get_int(const ck_exp_layer *L, const char *key, int *out)
{
    return rewrap(L, ck_config_get_int(L->cfg, key, out, false));
}

ck_status ck_exp_get_bool(const ck_exp_layer *L, const char *key, bool *out)
{
    return rewrap(L, ck_config_get_bool(L->cfg, key, out));
}

ck_status ck_exp_get_act(ck_exp *x, const ck_exp_layer *L, const char *key, const char *fallback,
                         ck_act *out)
{
    const char *name = NULL;
    CK_TRY(rewrap(L, ck_config_get_activation(L->cfg, key, &name)));
    CK_TRY(rewrap(L, ck_act_parse(name ? name : fallback, out)));
    *out = ck_act_resolve(*out, x->semantics);
    return CK_OK;
}

ck_status ck_exp_sub_layer(const ck_exp_layer *parent, const cJSON *obj, const char *suffix,
                           ck_exp_layer *sub)
{
    const cJSON *cls = cJSON_GetObjectItemCaseSensitive(obj, "class_name");
    const cJSON *cfg = cJSON_GetObjectItemCaseSensitive(obj, "config");
    if (!cJSON_IsString(cls) || !cJSON_IsObject(cfg))
        return ck_exp_refuse(parent, "the wrapped layer has no class_name and config");
    *sub = (ck_exp_layer){
        .cls = cls->valuestring, .name = parent->name, .cfg = cfg, .in = parent->in};
    sub->em = ck_exp_emitter_find(sub->cls);
    if (!sub->em)
        return ck_exp_refuse(parent, "a wrapped %s is not exported", sub->cls);
    snprintf(sub->id, sizeof sub->id, "%s%s", parent->id, suffix);
    return CK_OK;
}

size_t ck_exp_size(const ck_shape *s)
{
    size_t n = 1;
    for (int i = 1; i < s->rank; i++)
        n *= (size_t)s->dims[i];
    return n;
}

void ck_exp_state(ck_exp *x, const ck_exp_layer *L, const char *what, size_t n)
{
    ck_text_printf(&x->state, "    float %s_%s[%zu];\n", L->id, what, n);
    x->state_floats += n;
}

ck_status ck_exp_alloc_subs(ck_exp_layer *L, int n)
{
    L->sub = ck_alloc((size_t)n, sizeof *L->sub);
    L->n_sub = L->sub ? n : 0;
    return L->sub ? CK_OK : CK_ERR_MEMORY;
}

void ck_exp_row_open(ck_exp *x, const ck_exp_layer *L)
{
    ck_text_printf(
        &x->code,
        "static void %s_row(const float *restrict x, float *restrict y, %s_state *restrict s, int r)\n{\n"
        "    (void)s;\n    (void)r;\n",
        L->id, x->name);
}

void ck_exp_forward_open(ck_exp *x, const ck_exp_layer *L)
{
    ck_text_printf(
        &x->code,
        "static void %s_forward(const float *restrict x, float *restrict y, %s_state *restrict s)\n{\n"
        "    (void)s;\n",
        L->id, x->name);
}
