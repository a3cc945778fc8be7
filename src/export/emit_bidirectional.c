/* keras.layers.Bidirectional around LSTM, GRU or SimpleRNN: the wrapped
 * layer runs forwards and a copy with go_backwards flipped runs backwards
 * (weights: forward ones first), each into its own buffer; the outputs are
 * merged row by row, the backward sequence flipped back in time. With
 * return_sequences masked rows of the merged output are zeros. */
#include "ck_export.h"

#include <string.h>

typedef enum merge { MERGE_CONCAT, MERGE_SUM, MERGE_MUL, MERGE_AVE } merge;
static const char *const merge_names[] = {"concat", "sum", "mul", "ave"};

static ck_status bidir_plan(ck_exp *x, ck_exp_layer *L)
{
    static const char *const known[] = {"layer", "merge_mode", NULL};
    merge *m = ck_alloc(1, sizeof *m);
    if (!m)
        return CK_ERR_MEMORY;
    L->priv = m;
    CK_TRY(ck_exp_check_keys(L, known));
    const cJSON *mode = cJSON_GetObjectItemCaseSensitive(L->cfg, "merge_mode");
    for (*m = MERGE_CONCAT;
         cJSON_IsString(mode) && strcmp(mode->valuestring, merge_names[*m]) != 0;)
        if (++*m > MERGE_AVE)
            return ck_exp_refuse(L, "merge_mode '%s' is not exported", mode->valuestring);
    CK_TRY(ck_exp_alloc_subs(L, 2));
    const cJSON *inner = cJSON_GetObjectItemCaseSensitive(L->cfg, "layer");
    for (int d = 0; d < 2; d++) {
        ck_exp_layer *s = &L->sub[d];
        CK_TRY(ck_exp_sub_layer(L, inner, d ? "b" : "f", s));
        s->w = L->w + d * (L->n_w / 2);
        s->n_w = L->n_w / 2;
        s->flip_time = d == 1;
        s->mask_in = L->mask_in;
        CK_TRY(s->em->plan(x, s));
        if (s->kind != CK_EXP_RNN)
            return ck_exp_refuse(L, "a wrapped %s is not exported", s->cls);
        ck_exp_state(x, s, "y", ck_exp_size(&s->out));
        L->scratch = s->scratch > L->scratch ? s->scratch : L->scratch;
    }
    L->kind = CK_EXP_WHOLE;
    L->mask_out = L->mask_in && L->sub[0].rnn.return_sequences;
    return CK_OK;
}

static const char *merge_expr(merge m)
{
    static const char *const exprs[] = {"", "f[j] + b[j]", "f[j] * b[j]", "0.5f * (f[j] + b[j])"};
    return exprs[m];
}

static ck_status bidir_emit(ck_exp *x, ck_exp_layer *L)
{
    const merge *m = L->priv;
    const ck_exp_layer *f = &L->sub[0], *b = &L->sub[1];
    bool seq = f->rnn.return_sequences;
    size_t U = (size_t)f->rnn.units;
    long long T = seq ? (long long)L->in.dims[1] : 1;
    for (int d = 0; d < 2; d++)
        CK_TRY(L->sub[d].em->emit(x, &L->sub[d]));
    ck_exp_forward_open(x, L);
    ck_text_printf(&x->code, "    %s_forward(x, s->%s_y, s);\n    %s_forward(x, s->%s_y, s);\n",
                   f->id, f->id, b->id, b->id);
    ck_text_printf(&x->code,
                   "    for (int i = 0; i < %lld; i++) {\n"
                   "        const float *restrict f = s->%s_y + (long)i * %zu;\n"
                   "        const float *restrict b = s->%s_y + (long)(%lld - 1 - i) * %zu;\n"
                   "        float *restrict o = y + (long)i * %zu;\n",
                   T, f->id, U, b->id, T, U, *m == MERGE_CONCAT ? 2 * U : U);
    if (seq && L->mask_in)
        ck_text_printf(
            &x->code,
            "        if (s->mask[i] == 0.0f) {\n            memset(o, 0, sizeof(float) * %zu);\n"
            "            continue;\n        }\n",
            *m == MERGE_CONCAT ? 2 * U : U);
    if (*m == MERGE_CONCAT)
        ck_text_printf(
            &x->code,
            "        memcpy(o, f, sizeof(float) * %zu);\n        memcpy(o + %zu, b, sizeof(float) * %zu);\n",
            U, U, U);
    else
        ck_text_printf(&x->code, "        for (int j = 0; j < %zu; j++)\n            o[j] = %s;\n",
                       U, merge_expr(*m));
    ck_text_printf(&x->code, "    }\n}\n\n");
    return CK_OK;
}

const ck_exp_emitter ck_exp_bidirectional = {"Bidirectional", bidir_plan, bidir_emit};
