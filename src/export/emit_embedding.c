/* keras.layers.Embedding: each id (a float holding a whole number) picks a
 * row of the table; with mask_zero, id 0 masks its step. An id outside
 * [0, input_dim), which ckeras refuses, gives a zero vector: the generated
 * code has no error path and must not read outside the table. int8 tables
 * get one scale per row. */
#include "ck_export.h"

typedef struct embedding_opts {
    int input_dim, output_dim;
    bool mask_zero;
} embedding_opts;

static ck_status embedding_plan(ck_exp *x, ck_exp_layer *L)
{
    static const char *const known[] = {"input_dim", "output_dim", "embeddings_initializer",
                                        "mask_zero", NULL};
    embedding_opts *o = ck_alloc(1, sizeof *o);
    (void)x;
    if (!o)
        return CK_ERR_MEMORY;
    L->priv = o;
    CK_TRY(ck_exp_check_keys(L, known));
    CK_TRY(ck_exp_get_int(L, "input_dim", &o->input_dim));
    CK_TRY(ck_exp_get_int(L, "output_dim", &o->output_dim));
    CK_TRY(ck_exp_get_bool(L, "mask_zero", &o->mask_zero));
    if (L->n_w != 1 || L->w[0].size != (size_t)o->input_dim * (size_t)o->output_dim)
        return ck_exp_refuse(L, "its weights do not match its config");
    L->kind = CK_EXP_ROW;
    L->steps = true;
    L->row_in = 1;
    L->row_out = (size_t)o->output_dim;
    L->makes_mask = L->mask_out = o->mask_zero;
    return CK_OK;
}

static ck_status embedding_emit(ck_exp *x, ck_exp_layer *L)
{
    const embedding_opts *o = L->priv;
    ck_exp_matrix E;
    CK_TRY(ck_exp_matrix_emit(x, L, "table", L->w[0].data, (size_t)o->input_dim,
                              (size_t)o->output_dim, true, true, &E));
    ck_exp_row_open(x, L);
    if (o->mask_zero)
        ck_text_printf(&x->code, "    s->mask[r] = x[0] != 0.0f ? 1.0f : 0.0f;\n");
    ck_text_printf(
        &x->code,
        "    if (!(x[0] >= 0.0f && x[0] < %d.0f)) {\n        memset(y, 0, sizeof(float) * %d);\n"
        "        return;\n    }\n",
        o->input_dim, o->output_dim);
    ck_exp_lookup(x, &E, "(long)x[0]", "y");
    ck_text_printf(&x->code, "}\n\n");
    return CK_OK;
}

const ck_exp_emitter ck_exp_embedding = {"Embedding", embedding_plan, embedding_emit};
