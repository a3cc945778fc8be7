/* Embedding: options, shapes, lookup, errors for bad ids, gradients
 * (exact scatter-add and a finite-difference check through an LSTM), the
 * summary row and the Keras config. */
#include "ck_gradcheck.h"
#include "ck_test.h"
#include "ck_internal.h"
#include "ck_layers.h"

#include <string.h>

/* input (T) -> Embedding(V, D) [-> LSTM(U, seq) -> Dense(2)] */
static ck_model *make_model(int T, int V, int D, int lstm_units)
{
    ck_model *m = ck_sequential(.seed = 7);
    ck_assert_ptr_nonnull(m);
    ck_assert_ok(ck_model_add(m, ck_input(T)));
    ck_assert_ok(ck_model_add(m, ck_embedding(V, D)));
    if (lstm_units > 0) {
        ck_assert_ok(ck_model_add(m, ck_lstm(lstm_units, .return_sequences = true)));
        ck_assert_ok(ck_model_add(m, ck_dense(.units = 2)));
    }
    ck_assert_ok(ck_model_build(m));
    return m;
}

START_TEST(test_options_rejected)
{
    ck_assert_ptr_null(ck_embedding(0, 4));
    ck_assert_int_eq(ck_error_status(), CK_ERR_ARGUMENT);
    ck_assert_ptr_null(ck_embedding(5, -1));
    ck_assert_int_eq(ck_error_status(), CK_ERR_ARGUMENT);
    ck_assert_ptr_null(ck_embedding(5, 4, .embeddings_initializer = {.name = "no_such_init"}));
    ck_assert_int_eq(ck_error_status(), CK_ERR_NAME);
    ck_assert_ptr_null(ck_embedding_new(NULL));
    ck_assert_int_eq(ck_error_status(), CK_ERR_ARGUMENT);
    /* A failed constructor makes the model refuse to build. */
    ck_model *m = ck_sequential();
    ck_assert_ok(ck_model_add(m, ck_input(3)));
    ck_assert_fails(ck_model_add(m, ck_embedding(0, 4)), CK_ERR_ARGUMENT);
    ck_assert_fails(ck_model_build(m), CK_ERR_STATE);
    ck_model_free(m);
}
END_TEST

START_TEST(test_weights_and_default_init)
{
    ck_model *m = make_model(35, 28, 32, 0);
    ck_layer *l = ck_model_layer(m, 0);
    ck_assert_str_eq(ck_layer_class_name(l), "Embedding");
    ck_assert_str_eq(ck_layer_name(l), "embedding");
    ck_assert_uint_eq(ck_layer_count_params(l), 28 * 32);
    ck_assert_uint_eq(ck_model_count_trainable_params(m), 896);
    ck_assert_int_eq(ck_layer_weight_count(l), 1);
    const char *name = NULL;
    ck_tensor w;
    ck_assert_ok(ck_layer_weight(l, 0, &name, &w));
    ck_assert_str_eq(name, "embeddings");
    ck_assert_int_eq(w.rank, 2);
    ck_assert_int_eq(w.dims[0], 28);
    ck_assert_int_eq(w.dims[1], 32);
    /* Keras "uniform": U(-0.05, 0.05); 896 draws cover most of the range. */
    double lo = 1, hi = -1, sum = 0;
    for (int i = 0; i < 896; i++) {
        lo = fmin(lo, w.data[i]);
        hi = fmax(hi, w.data[i]);
        sum += w.data[i];
    }
    ck_assert(lo >= -0.05 && hi <= 0.05);
    ck_assert(lo < -0.045 && hi > 0.045);
    ck_assert_close(sum / 896, 0.0, 0.005);
    int rank;
    int64_t dims[CK_MAX_RANK];
    ck_assert_ok(ck_model_output_shape(m, &rank, dims));
    ck_assert_int_eq(rank, 2);
    ck_assert_int_eq(dims[0], 35);
    ck_assert_int_eq(dims[1], 32);
    ck_model_free(m);
}
END_TEST

START_TEST(test_summary_row)
{
    ck_model *m = make_model(35, 28, 32, 0);
    char *text = ck_test_summary(m, CK_SUMMARY_KERAS2);
    ck_assert_msg(strstr(text,
                         "embedding (Embedding)        (None, 35, 32)            896       \n"),
                  "summary:\n%s", text);
    ck_assert_ptr_nonnull(strstr(text, "Total params: 896\n"));
    free(text);
    ck_model_free(m);
}
END_TEST

/* Fills the table with row*10 + column so a lookup is easy to recognise. */
static void fill_table(ck_layer *l)
{
    ck_tensor w;
    ck_assert_ok(ck_layer_weight(l, 0, NULL, &w));
    for (int64_t r = 0; r < w.dims[0]; r++)
        for (int64_t c = 0; c < w.dims[1]; c++)
            w.data[r * w.dims[1] + c] = (float)(r * 10 + c);
}

START_TEST(test_forward_lookup)
{
    ck_model *m = make_model(4, 6, 3, 0);
    fill_table(ck_model_layer(m, 0));
    float x[8] = {0, 5, 2, 2, 1, 3, 4, 0}, y[24];
    ck_assert_ok(ck_model_predict(m, x, 2, y));
    for (int i = 0; i < 8; i++)
        for (int c = 0; c < 3; c++)
            ck_assert_close(y[i * 3 + c], x[i] * 10 + c, 0);
    ck_model_free(m);
}
END_TEST

START_TEST(test_higher_rank_input)
{
    ck_model *m = ck_sequential();
    ck_assert_ok(ck_model_add(m, ck_input(2, 3)));
    ck_assert_ok(ck_model_add(m, ck_embedding(10, 4)));
    ck_assert_ok(ck_model_build(m));
    int rank;
    int64_t dims[CK_MAX_RANK];
    ck_assert_ok(ck_model_output_shape(m, &rank, dims));
    ck_assert_int_eq(rank, 3);
    ck_assert_int_eq(dims[0], 2);
    ck_assert_int_eq(dims[1], 3);
    ck_assert_int_eq(dims[2], 4);
    fill_table(ck_model_layer(m, 0));
    float x[6] = {9, 8, 7, 0, 1, 2}, y[24];
    ck_assert_ok(ck_model_predict(m, x, 1, y));
    ck_assert_close(y[0], 90, 0);
    ck_assert_close(y[23], 23, 0);
    ck_model_free(m);
}
END_TEST

START_TEST(test_bad_ids)
{
    ck_model *m = make_model(3, 5, 2, 0);
    float y[6];
    float too_big[3] = {0, 5, 1}, negative[3] = {-1, 0, 0}, fraction[3] = {1, 2, 2.5f};
    ck_assert_fails(ck_model_predict(m, too_big, 1, y), CK_ERR_ARGUMENT);
    ck_assert_msg(strstr(ck_last_error(), "#1 is 5") && strstr(ck_last_error(), "[0, 5)"),
                  "message: %s", ck_last_error());
    ck_assert_fails(ck_model_predict(m, negative, 1, y), CK_ERR_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(ck_last_error(), "#0 is -1"));
    ck_assert_fails(ck_model_predict(m, fraction, 1, y), CK_ERR_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(ck_last_error(), "#2 is 2.5"));
    float nan_id[3] = {0, NAN, 0};
    ck_assert_int_ne(ck_model_predict(m, nan_id, 1, y), CK_OK);
    ck_model_free(m);
}
END_TEST

/* The gradients of loss = sum(y * r) for a fixed r. */
static void backward_loss(ck_model *m, const ck_tensor *x, float *r)
{
    ck_fd fd = {.m = m, .x = *x, .r = r, .rng = m->rng, .training = true};
    ck_fd_backward(&fd);
}

static void fill_r(float *r, size_t n)
{
    ck_rng rng;
    ck_rng_seed(&rng, 99);
    for (size_t i = 0; i < n; i++)
        r[i] = (float)(2 * ck_rng_uniform(&rng) - 1);
}

START_TEST(test_backward_scatter_add)
{
    /* Repeated ids (2 three times) must accumulate; unused rows stay 0. */
    ck_model *m = make_model(3, 5, 4, 0);
    float xd[6] = {2, 0, 2, 4, 2, 0};
    ck_tensor x = {.rank = 2, .dims = {2, 3}, .data = xd};
    float r[24];
    fill_r(r, 24);
    backward_loss(m, &x, r);
    const float *g = ck_model_layer(m, 0)->weights[0].grad;
    for (int row = 0; row < 5; row++)
        for (int c = 0; c < 4; c++) {
            double want = 0;
            for (int i = 0; i < 6; i++)
                if ((int)xd[i] == row)
                    want += r[i * 4 + c];
            ck_assert_close(g[row * 4 + c], want, 1e-6);
        }
    ck_assert_close(g[1 * 4 + 2], 0, 0);
    ck_assert_close(g[3 * 4 + 0], 0, 0);
    ck_model_free(m);
}
END_TEST

START_TEST(test_gradient_check_through_lstm)
{
    enum { B = 2, T = 5, V = 6, D = 3, U = 4 };
    ck_model *m = make_model(T, V, D, U);
    float xd[B * T] = {1, 3, 3, 0, 5, 2, 2, 4, 1, 3};
    ck_tensor x = {.rank = 2, .dims = {B, T}, .data = xd};
    float r[B * T * 2];
    fill_r(r, B * T * 2);
    backward_loss(m, &x, r);
    ck_weight *w = &ck_model_layer(m, 0)->weights[0];
    float *analytic = malloc(w->size * sizeof(float));
    memcpy(analytic, w->grad, w->size * sizeof(float));
    ck_fd fd = {.m = m, .x = x, .r = r, .rng = m->rng, .training = true, .h = 1e-2};
    double worst = 0;
    for (size_t k = 0; k < w->size; k++)
        worst = fmax(worst, fabs(ck_fd_derivative(&fd, &w->data[k]) - analytic[k]));
    /* Every id 0..5 occurs in x, so every row has a gradient. */
    for (int row = 0; row < V; row++) {
        double norm = 0;
        for (int c = 0; c < D; c++)
            norm += fabs(analytic[row * D + c]);
        ck_assert_msg(norm > 1e-4, "row %d has no gradient", row);
    }
    ck_assert_msg(worst < 2e-3, "largest gradient error %g", worst);
    free(analytic);
    ck_model_free(m);
}
END_TEST

START_TEST(test_input_gradient_is_zero)
{
    ck_model *m = make_model(3, 5, 2, 0);
    ck_layer *l = ck_model_layer(m, 0);
    float xd[3] = {1, 2, 3}, yd[6], dyd[6] = {1, 1, 1, 1, 1, 1}, dxd[3] = {7, 7, 7};
    ck_tensor x = {.rank = 2, .dims = {1, 3}, .data = xd};
    ck_tensor y = {.rank = 3, .dims = {1, 3, 2}, .data = yd};
    ck_tensor dy = {.rank = 3, .dims = {1, 3, 2}, .data = dyd};
    ck_tensor dx = x;
    dx.data = dxd;
    ck_run_ctx ctx = {.training = true, .rng = &m->rng};
    ck_assert_ok(l->ops->forward(l, &x, &y, &ctx));
    ck_assert_ok(l->ops->backward(l, &x, &y, &dy, &dx));
    for (int i = 0; i < 3; i++)
        ck_assert_close(dxd[i], 0, 0);
    ck_model_free(m);
}
END_TEST

START_TEST(test_config_round_trip)
{
    const ck_layer_ops *ops = ck_layer_ops_find("Embedding");
    ck_assert_ptr_nonnull(ops);
    ck_layer *l = ck_embedding(28, 32, .name = "emb");
    cJSON *cfg = cJSON_CreateObject();
    ck_assert_ok(l->ops->get_config(l, cfg));
    ck_assert_int_eq(cJSON_GetObjectItem(cfg, "input_dim")->valueint, 28);
    ck_assert_int_eq(cJSON_GetObjectItem(cfg, "output_dim")->valueint, 32);
    ck_assert(cJSON_IsFalse(cJSON_GetObjectItem(cfg, "mask_zero")));
    const cJSON *init = cJSON_GetObjectItem(cfg, "embeddings_initializer");
    ck_assert_str_eq(cJSON_GetObjectItem(init, "class_name")->valuestring, "RandomUniform");
    ck_assert_close(cJSON_GetObjectItem(cJSON_GetObjectItem(init, "config"), "minval")->valuedouble,
                    -0.05, 1e-12);
    cJSON_AddStringToObject(cfg, "name", "emb2");
    cJSON_AddNullToObject(cfg, "input_length");
    ck_layer *back = ops->from_config(cfg, CK_KERAS2);
    ck_assert_ptr_nonnull(back);
    ck_assert_str_eq(ck_layer_name(back), "emb2");
    ck_layer_free(back);

    /* mask_zero round-trips (its behaviour is tested in test_masking.c). */
    cJSON_ReplaceItemInObject(cfg, "mask_zero", cJSON_CreateTrue());
    back = ops->from_config(cfg, CK_KERAS3);
    ck_assert_ptr_nonnull(back);
    cJSON *again = cJSON_CreateObject();
    ck_assert_ok(back->ops->get_config(back, again));
    ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(again, "mask_zero")));
    cJSON_Delete(again);
    ck_layer_free(back);
    cJSON_ReplaceItemInObject(cfg, "mask_zero", cJSON_CreateFalse());
    cJSON_ReplaceItemInObject(cfg, "embeddings_regularizer", cJSON_CreateString("l2"));
    ck_assert_ptr_null(ops->from_config(cfg, CK_KERAS3));
    ck_assert_int_eq(ck_error_status(), CK_ERR_UNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(ck_last_error(), "embeddings_regularizer"));
    cJSON_ReplaceItemInObject(cfg, "embeddings_regularizer", cJSON_CreateNull());
    cJSON_AddNumberToObject(cfg, "lora_rank", 4);
    ck_assert_ptr_null(ops->from_config(cfg, CK_KERAS3));
    ck_assert_int_eq(ck_error_status(), CK_ERR_UNSUPPORTED);
    cJSON_DeleteItemFromObject(cfg, "input_dim");
    cJSON_DeleteItemFromObject(cfg, "lora_rank");
    ck_assert_ptr_null(ops->from_config(cfg, CK_KERAS3));
    ck_assert_int_eq(ck_error_status(), CK_ERR_FORMAT);
    cJSON_Delete(cfg);
    ck_layer_free(l);
}
END_TEST

START_TEST(test_allocation_failures)
{
    /* Every allocation of construction and build may fail without leaking. */
    for (long n = 1; n < 40; n++) {
        ck_debug_fail_alloc_after(n);
        ck_model *m = ck_sequential();
        ck_status st = m ? ck_model_add(m, ck_input(4)) : CK_ERR_MEMORY;
        if (st == CK_OK)
            st = ck_model_add(m, ck_embedding(7, 3));
        if (st == CK_OK)
            st = ck_model_build(m);
        float x[4] = {0, 1, 2, 6}, y[12];
        if (st == CK_OK)
            st = ck_model_predict(m, x, 1, y);
        ck_debug_fail_alloc_after(0);
        ck_model_free(m);
        if (st == CK_OK)
            return;
        ck_assert_int_eq(st, CK_ERR_MEMORY);
    }
    ck_abort_msg("predict kept failing");
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("embedding");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_options_rejected);
    tcase_add_test(tc, test_weights_and_default_init);
    tcase_add_test(tc, test_summary_row);
    tcase_add_test(tc, test_forward_lookup);
    tcase_add_test(tc, test_higher_rank_input);
    tcase_add_test(tc, test_bad_ids);
    tcase_add_test(tc, test_backward_scatter_add);
    tcase_add_test(tc, test_gradient_check_through_lstm);
    tcase_add_test(tc, test_input_gradient_is_zero);
    tcase_add_test(tc, test_config_round_trip);
    tcase_add_test(tc, test_allocation_failures);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return ck_test_run(suite());
}
