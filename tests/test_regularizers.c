/* Regularizers and constraints on their own: penalties, gradients and
 * projections against values worked out by hand from Keras's formulas
 * (keras/src/regularizers/regularizers.py, keras/src/constraints/
 * constraints.py: L1 l1*sum|w|, L2 l2*sum w^2, norms over `axis` with
 * epsilon 1e-7), and the JSON forms of every Keras release. */
#include "ck_test.h"

#include "ck_internal.h"

#include <string.h>

static const float w4[4] = {1, -2, 3, -4};

static ck_reg reg_of(const char *json)
{
    cJSON *j = cJSON_Parse(json);
    ck_assert_ptr_nonnull(j);
    ck_reg r;
    ck_assert_ok(ck_reg_from_json(j, &r));
    cJSON_Delete(j);
    return r;
}

static ck_con con_of(const char *json)
{
    cJSON *j = cJSON_Parse(json);
    ck_assert_ptr_nonnull(j);
    ck_con c;
    ck_assert_ok(ck_con_from_json(j, &c));
    cJSON_Delete(j);
    return c;
}

START_TEST(test_penalties)
{
    /* sum|w| = 10, sum w^2 = 30. */
    ck_reg l1 = reg_of("{\"class_name\": \"L1\", \"config\": {\"l1\": 0.01}}");
    ck_reg l2 = reg_of(
        "{\"module\": \"keras.regularizers\", \"class_name\": \"L2\", \"config\": {\"l2\": 0.01}, "
        "\"registered_name\": null}");
    ck_reg both = reg_of("{\"class_name\": \"L1L2\", \"config\": {\"l1\": 0.01, \"l2\": 0.02}}");
    ck_assert_close(ck_reg_penalty(&l1, w4, 4), 0.1, 1e-12);
    ck_assert_close(ck_reg_penalty(&l2, w4, 4), 0.3, 1e-12);
    ck_assert_close(ck_reg_penalty(&both, w4, 4), 0.7, 1e-12);
    /* d/dw of 0.5|w| + 0.25 w^2 = 0.5 sign(w) + 0.5 w. */
    ck_reg g = reg_of("{\"class_name\": \"L1L2\", \"config\": {\"l1\": 0.5, \"l2\": 0.25}}");
    float grad[4] = {0};
    ck_reg_add_grad(&g, w4, grad, 4, 1.0);
    const float want[4] = {1.0f, -1.5f, 2.0f, -2.5f};
    for (int i = 0; i < 4; i++)
        ck_assert_float_eq(grad[i], want[i]);
    /* |w| has no slope at 0 (TensorFlow's sign(0) = 0). */
    float zero = 0, gz = 0;
    ck_reg_add_grad(&l1, &zero, &gz, 1, 1.0);
    ck_assert_float_eq(gz, 0.0f);
}
END_TEST

/* Keras 2.0-2.3 wrote every regularizer as L1L2 with float32 factors;
 * defaults apply to keys left out; unknown classes are kept verbatim. */
START_TEST(test_regularizer_forms)
{
    ck_reg k2 = reg_of(
        "{\"class_name\": \"L1L2\", \"config\": {\"l1\": 0.0, \"l2\": 0.009999999776482582}}");
    ck_assert_int_eq(k2.kind, CK_REG_L1L2);
    ck_assert_close(k2.l2, 0.01, 1e-9);
    ck_reg dflt = reg_of("{\"class_name\": \"L2\", \"config\": {}}");
    ck_assert_close(dflt.l2, 0.01, 0);
    ck_reg s = reg_of("\"l1\"");
    ck_assert_close(s.l1, 0.01, 0);
    ck_reg other = reg_of(
        "{\"module\": \"keras.regularizers\", \"class_name\": \"OrthogonalRegularizer\", "
        "\"config\": {\"factor\": 0.01, \"mode\": \"rows\"}, \"registered_name\": null}");
    ck_assert_int_eq(other.kind, CK_REG_OTHER);
    ck_assert_str_eq(ck_reg_class_name(&other), "OrthogonalRegularizer");
    cJSON *back = ck_reg_to_json(&other);
    ck_assert_str_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(back, "config"), "mode")->valuestring,
                     "rows");
    cJSON_Delete(back);
    ck_reg_free(&other);
    cJSON *j = ck_reg_to_json(&k2);
    char *text = cJSON_PrintUnformatted(j);
    ck_assert_str_eq(text,
                     "{\"class_name\":\"L1L2\",\"config\":{\"l1\":0,\"l2\":0.00999999977648258}}");
    free(text);
    cJSON_Delete(j);
    cJSON *bad = cJSON_Parse("{\"class_name\": \"L2\", \"config\": {\"l2\": \"a lot\"}}");
    ck_reg r;
    ck_assert_fails(ck_reg_from_json(bad, &r), CK_ERR_FORMAT);
    cJSON_Delete(bad);
}
END_TEST

static void project(const char *json, float *w, int rank, const int64_t *dims)
{
    ck_con c = con_of(json);
    ck_assert_ok(ck_con_apply(&c, w, rank, dims));
    ck_con_free(&c);
}

START_TEST(test_max_norm_and_unit_norm)
{
    /* Columns (axis 0) of [[3, 0], [4, 1]] have norms 5 and 1. */
    const int64_t d[2] = {2, 2};
    float w[4] = {3, 0, 4, 1};
    project("{\"class_name\": \"MaxNorm\", \"config\": {\"max_value\": 2, \"axis\": 0}}", w, 2, d);
    ck_assert_close(w[0], 3 * 2 / (5 + 1e-7), 1e-6);
    ck_assert_close(w[2], 4 * 2 / (5 + 1e-7), 1e-6);
    ck_assert_close(w[3], 1 / (1 + 1e-7), 1e-6);
    float u[4] = {3, 0, 4, 1};
    project("{\"class_name\": \"UnitNorm\", \"config\": {\"axis\": 0}}", u, 2, d);
    ck_assert_close(u[0], 0.6, 1e-6);
    ck_assert_close(u[2], 0.8, 1e-6);
    /* axis 1: the norms of the rows, 3 and sqrt(17). */
    float r[4] = {3, 0, 4, 1};
    project("{\"class_name\": \"UnitNorm\", \"config\": {\"axis\": 1}}", r, 2, d);
    ck_assert_close(r[0], 1.0, 1e-6);
    ck_assert_close(r[2], 4 / sqrt(17.0), 1e-6);
    /* A list of axes reduces over all of them: one norm sqrt(26) here. */
    float a[4] = {3, 0, 4, 1};
    project("{\"class_name\": \"MaxNorm\", \"config\": {\"max_value\": 1, \"axis\": [0, 1]}}", a, 2,
            d);
    ck_assert_close(a[0], 3 / sqrt(26.0), 1e-6);
    ck_assert_close(a[3], 1 / sqrt(26.0), 1e-6);
}
END_TEST

START_TEST(test_min_max_norm_and_non_neg)
{
    /* Column norms 5 and 0.2; rate 0.5 moves halfway into [0.5, 1]:
     * desired 0.5*1 + 0.5*5 = 3 and 0.5*0.5 + 0.5*0.2 = 0.35. */
    const int64_t d[2] = {2, 2};
    float w[4] = {3, 0.2f, 4, 0};
    project("{\"class_name\": \"MinMaxNorm\", \"config\": {\"min_value\": 0.5, \"max_value\": 1.0, "
            "\"rate\": 0.5, \"axis\": 0}}",
            w, 2, d);
    ck_assert_close(w[0], 1.8, 1e-6);
    ck_assert_close(w[2], 2.4, 1e-6);
    ck_assert_close(w[1], 0.35, 1e-6);
    /* A bias (rank 1) with the default axis 0: one norm over all of it. */
    const int64_t b1[1] = {2};
    float b[2] = {3, 4};
    project("{\"class_name\": \"MaxNorm\", \"config\": {}}", b, 1, b1);
    ck_assert_close(b[0], 1.2, 1e-6);
    float n[3] = {-1, 0, 2};
    const int64_t n1[1] = {3};
    project("\"non_neg\"", n, 1, n1);
    ck_assert_float_eq(n[0], 0.0f);
    ck_assert_float_eq(n[2], 2.0f);
}
END_TEST

START_TEST(test_constraint_errors)
{
    ck_con c = con_of("{\"class_name\": \"UnitNorm\", \"config\": {\"axis\": 2}}");
    float w[2] = {1, 1};
    const int64_t d[1] = {2};
    ck_assert_fails(ck_con_apply(&c, w, 1, d), CK_ERR_SHAPE);
    ck_con other = con_of("{\"class_name\": \"RadialConstraint\", \"config\": {}}");
    ck_assert_int_eq(other.kind, CK_CON_OTHER);
    ck_con_free(&other);
    cJSON *bad = cJSON_Parse(
        "{\"class_name\": \"MinMaxNorm\", \"config\": {\"min_value\": 2, \"max_value\": 1}}");
    ck_assert_fails(ck_con_from_json(bad, &c), CK_ERR_ARGUMENT);
    cJSON_Delete(bad);
    ck_assert_fails(ck_con_from_options(&(ck_constraint){.name = "max_nrm"}, &c), CK_ERR_NAME);
}
END_TEST

/* The C API sets the same rules, with Keras's defaults for zero fields. */
START_TEST(test_layer_api)
{
    ck_layer *d = ck_dense(3);
    ck_assert_ok(ck_layer_set_regularizer(d, "kernel", ck_l2(0)));
    ck_assert_ok(ck_layer_set_regularizer(d, "activity", ck_l1(0.5)));
    ck_assert_ok(ck_layer_set_constraint(d, "bias", ck_max_norm()));
    ck_assert_fails(ck_layer_set_regularizer(d, "kernal", ck_l2(0.1)), CK_ERR_NAME);
    ck_assert_fails(ck_layer_set_regularizer(d, "bias", &(ck_regularizer){.name = "l3"}),
                    CK_ERR_NAME);
    const ck_weight_rule *k = ck_layer_rule_for(d, "kernel"), *b = ck_layer_rule_for(d, "bias");
    ck_assert_ptr_nonnull(k);
    ck_assert_close(k->reg.l2, 0.01, 0);
    ck_assert_close(d->activity.l1, 0.5, 0);
    ck_assert_close(b->con.max_value, 2.0, 0);
    ck_assert_ptr_null(ck_layer_rule_for(d, "gamma"));
    ck_layer *r = ck_lstm(2);
    ck_assert_ok(ck_layer_set_constraint(r, "recurrent", ck_unit_norm(.axis = {1})));
    ck_assert_ptr_nonnull(ck_layer_rule_for(r, "recurrent_kernel"));
    ck_assert_ptr_null(ck_layer_rule_for(r, "kernel"));
    ck_layer_free(d);
    ck_layer_free(r);
}
END_TEST

/* Loaded with a model and written back in its config, nested layers too. */
START_TEST(test_config_round_trip)
{
    const char *json =
        "{\"class_name\": \"Sequential\", \"config\": {\"name\": \"s\", \"layers\": ["
        "{\"class_name\": \"InputLayer\", \"config\": {\"batch_input_shape\": [null, 4, 3]}},"
        "{\"class_name\": \"Bidirectional\", \"config\": {\"name\": \"bi\", \"merge_mode\": \"concat\", "
        "\"layer\": {\"class_name\": \"LSTM\", \"config\": {\"name\": \"l\", \"units\": 2, "
        "\"return_sequences\": true, \"kernel_regularizer\": {\"class_name\": \"L2\", \"config\": {\"l2\": 0.5}}}}}},"
        "{\"class_name\": \"Dense\", \"config\": {\"name\": \"d\", \"units\": 2, "
        "\"kernel_constraint\": {\"class_name\": \"MaxNorm\", \"config\": {\"max_value\": 3, \"axis\": 0}}, "
        "\"activity_regularizer\": {\"class_name\": \"L1\", \"config\": {\"l1\": 0.25}}}}]}}";
    ck_model *m = NULL;
    ck_assert_ok(ck_model_from_json(json, &m));
    /* Both directions of the Bidirectional carry the wrapped layer's rule. */
    ck_layer *bi = ck_model_layer(m, 0);
    ck_assert_ptr_nonnull(bi->weights[0].rule);
    ck_assert_ptr_nonnull(bi->weights[3].rule);
    ck_assert_close(bi->weights[3].rule->reg.l2, 0.5, 0);
    ck_assert_ptr_null(bi->weights[1].rule);
    char *out = ck_model_to_json(m);
    ck_assert_ptr_nonnull(
        strstr(out, "\"kernel_regularizer\":{\"class_name\":\"L2\",\"config\":{\"l2\":0.5}}"));
    ck_assert_ptr_nonnull(strstr(
        out,
        "\"kernel_constraint\":{\"class_name\":\"MaxNorm\",\"config\":{\"max_value\":3,\"axis\":0}}"));
    ck_assert_ptr_nonnull(
        strstr(out, "\"activity_regularizer\":{\"class_name\":\"L1\",\"config\":{\"l1\":0.25}}"));
    ck_model *again = NULL;
    ck_assert_ok(ck_model_from_json(out, &again));
    char *out2 = ck_model_to_json(again);
    ck_assert_str_eq(out, out2);
    ck_free(out);
    ck_free(out2);
    ck_model_free(m);
    ck_model_free(again);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("regularizers");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_penalties);
    tcase_add_test(tc, test_regularizer_forms);
    tcase_add_test(tc, test_max_norm_and_unit_norm);
    tcase_add_test(tc, test_min_max_norm_and_non_neg);
    tcase_add_test(tc, test_constraint_errors);
    tcase_add_test(tc, test_layer_api);
    tcase_add_test(tc, test_config_round_trip);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return ck_test_run(suite());
}
