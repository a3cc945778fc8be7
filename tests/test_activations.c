/* Activations by Keras name: forward values against double-precision
 * formulas written out here, derivatives against central finite
 * differences of the forward, name errors, and the hard_sigmoid switch
 * between Keras 2 and Keras 3 semantics. */
#include "ck_test.h"

#include "ck_internal.h"
#include "ck_vmath.h"

#include <string.h>

#define SELU_ALPHA 1.6732632423543772
#define SELU_SCALE 1.0507009873554805

static double ref_sigmoid(double x)
{
    return 1.0 / (1.0 + exp(-x));
}

static double clip01(double v)
{
    return v < 0 ? 0 : (v > 1 ? 1 : v);
}

/* Element-wise reference in double, straight from the Keras definitions. */
static double ref_act(const char *name, double x)
{
    if (!strcmp(name, "linear"))
        return x;
    if (!strcmp(name, "relu"))
        return x > 0 ? x : 0;
    if (!strcmp(name, "sigmoid"))
        return ref_sigmoid(x);
    if (!strcmp(name, "tanh"))
        return tanh(x);
    if (!strcmp(name, "hard_sigmoid") || !strcmp(name, "hard_sigmoid_keras2"))
        return clip01(0.2 * x + 0.5);
    if (!strcmp(name, "hard_sigmoid_keras3"))
        return clip01(x / 6.0 + 0.5);
    if (!strcmp(name, "elu"))
        return x > 0 ? x : exp(x) - 1.0;
    if (!strcmp(name, "selu"))
        return SELU_SCALE * (x > 0 ? x : SELU_ALPHA * (exp(x) - 1.0));
    if (!strcmp(name, "softplus"))
        return log(1.0 + exp(x));
    if (!strcmp(name, "softsign"))
        return x / (1.0 + fabs(x));
    if (!strcmp(name, "swish") || !strcmp(name, "silu"))
        return x * ref_sigmoid(x);
    if (!strcmp(name, "gelu"))
        return 0.5 * x * (1.0 + erf(x / sqrt(2.0)));
    if (!strcmp(name, "exponential"))
        return exp(x);
    if (!strcmp(name, "relu6"))
        return x < 0 ? 0 : (x > 6 ? 6 : x);
    if (!strcmp(name, "leaky_relu"))
        return x > 0 ? x : 0.2 * x;
    if (!strcmp(name, "mish"))
        return x * tanh(log(1.0 + exp(x)));
    if (!strcmp(name, "hard_silu") || !strcmp(name, "hard_swish"))
        return x * (x < -3 ? 0 : (x > 3 ? 6 : x + 3)) / 6.0;
    ck_abort_msg("no reference for %s", name);
    return 0;
}

static const char *const elementwise[] = {
    "linear",
    "relu",
    "sigmoid",
    "tanh",
    "hard_sigmoid",
    "hard_sigmoid_keras2",
    "hard_sigmoid_keras3",
    "elu",
    "selu",
    "softplus",
    "softsign",
    "swish",
    "silu",
    "gelu",
    "exponential",
    "relu6",
    "leaky_relu",
    "mish",
    "hard_silu",
    "hard_swish",
};
#define N_ELEMENTWISE (int)(sizeof elementwise / sizeof elementwise[0])

/* Away from every kink (0, +-2.5, +-3, 6) by more than the FD step. */
static const float points[] = {-7.3f, -3.4f, -2.7f, -2.2f, -1.3f, -0.4f, -0.05f, 0.07f,
                               0.6f,  1.7f,  2.4f,  2.8f,  3.6f,  5.2f,  6.9f};
#define N_POINTS (sizeof points / sizeof points[0])

static ck_act parse(const char *name)
{
    ck_act a;
    ck_assert_ok(ck_act_parse(name, &a));
    return ck_act_resolve(a, CK_KERAS2);
}

START_TEST(test_forward_matches_formula)
{
    const char *name = elementwise[_i];
    float y[N_POINTS];
    ck_act_forward(parse(name), points, y, N_POINTS, 0);
    for (size_t k = 0; k < N_POINTS; k++) {
        double want = ref_act(name, points[k]);
        ck_assert_msg(fabs(y[k] - want) <= 2e-6 * fmax(1.0, fabs(want)),
                      "%s(%g) = %.9g, expected %.9g", name, points[k], y[k], want);
    }
    /* In place (x == y) gives the same numbers. */
    float inplace[N_POINTS];
    memcpy(inplace, points, sizeof points);
    ck_assert_ok(ck_apply_activation(name, inplace, N_POINTS, 0));
    for (size_t k = 0; k < N_POINTS; k++)
        ck_assert_msg(inplace[k] == y[k], "%s in place differs at %g", name, points[k]);
}
END_TEST

START_TEST(test_backward_matches_finite_differences)
{
    const char *name = elementwise[_i];
    ck_act act = parse(name);
    const float h = 1e-2f;
    float y[N_POINTS], dy[N_POINTS], dx[N_POINTS];
    ck_act_forward(act, points, y, N_POINTS, 0);
    for (size_t k = 0; k < N_POINTS; k++)
        dy[k] = 0.5f + 0.1f * (float)k; /* a non-trivial upstream gradient */
    ck_act_backward(act, points, y, dy, dx, N_POINTS, 0);
    for (size_t k = 0; k < N_POINTS; k++) {
        float xp = points[k] + h, xm = points[k] - h, yp, ym;
        ck_act_forward(act, &xp, &yp, 1, 0);
        ck_act_forward(act, &xm, &ym, 1, 0);
        double fd = dy[k] * ((double)yp - (double)ym) / ((double)xp - (double)xm);
        ck_assert_msg(fabs(dx[k] - fd) <= 2e-3 * fmax(1.0, fabs(fd)),
                      "%s'(%g): backward %.7g, finite difference %.7g", name, points[k], dx[k], fd);
    }
}
END_TEST

START_TEST(test_known_values)
{
    /* Constants a reader can check by hand. */
    struct {
        const char *name;
        float x;
        double want;
    } cases[] = {
        {"relu", -3.0f, 0.0},
        {"relu", 2.5f, 2.5},
        {"sigmoid", 0.0f, 0.5},
        {"tanh", 0.5f, 0.46211715726000974},
        {"hard_sigmoid", 1.0f, 0.7},
        {"hard_sigmoid", -2.5f, 0.0},
        {"hard_sigmoid", 2.6f, 1.0},
        {"hard_sigmoid_keras3", 1.0f, 0.5 + 1.0 / 6.0},
        {"hard_sigmoid_keras3", -2.9f, 0.5 - 2.9 / 6.0},
        {"hard_sigmoid_keras3", 3.0f, 1.0},
        {"elu", -1.0f, -0.6321205588285577},
        {"selu", 1.0f, 1.0507009873554805},
        {"selu", -1.0f, -1.1113307378125625},
        {"softplus", 0.0f, 0.6931471805599453},
        {"softsign", 3.0f, 0.75},
        {"swish", 1.0f, 0.7310585786300049},
        {"silu", -1.0f, -0.2689414213699951},
        {"gelu", 1.0f, 0.8413447460685429},
        {"gelu", -1.0f, -0.15865525393145707},
        {"exponential", 1.0f, 2.718281828459045},
        {"relu6", 7.5f, 6.0},
        {"relu6", 4.0f, 4.0},
        {"leaky_relu", -2.0f, -0.4},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        float v = cases[k].x;
        ck_assert_ok(ck_apply_activation(cases[k].name, &v, 1, 0));
        ck_assert_msg(fabs(v - cases[k].want) <= 1e-6, "%s(%g) = %.9g, expected %.9g",
                      cases[k].name, cases[k].x, v, cases[k].want);
    }
}
END_TEST

START_TEST(test_extremes_are_stable)
{
    float x[] = {-100.0f, -30.0f, 30.0f, 100.0f};
    const char *bounded[] = {"sigmoid", "tanh", "softplus", "softsign",
                             "swish",   "gelu", "elu",      "selu"};
    for (size_t a = 0; a < sizeof bounded / sizeof bounded[0]; a++) {
        float y[4];
        ck_act_forward(parse(bounded[a]), x, y, 4, 0);
        for (int k = 0; k < 4; k++)
            ck_assert_msg(isfinite(y[k]), "%s(%g) is not finite", bounded[a], x[k]);
    }
    float y[4];
    ck_act_forward(parse("softplus"), x, y, 4, 0);
    ck_assert_float_eq(y[3], 100.0f);
    ck_assert_float_eq(y[2], 30.0f);
    ck_assert(y[0] >= 0.0f && y[0] < 1e-30f);
    ck_assert_close(y[1], exp(-30.0), 1e-18);
    ck_act_forward(parse("sigmoid"), x, y, 4, 0);
    ck_assert_float_eq(y[3], 1.0f);
    ck_assert(y[0] >= 0.0f && y[0] < 1e-30f);
    ck_act_forward(parse("gelu"), x, y, 4, 0);
    ck_assert_float_eq(y[0], 0.0f);
    ck_assert_float_eq(y[3], 100.0f);
}
END_TEST

START_TEST(test_softmax_rows)
{
    float v[3] = {1, 2, 1};
    ck_assert_ok(ck_apply_activation("softmax", v, 3, 3));
    ck_assert_close(v[0], 0.21194157, 1e-7);
    ck_assert_close(v[1], 0.5761169, 1e-7);
    ck_assert_close(v[2], 0.21194157, 1e-7);

    /* Two rows of four, one with huge logits (the max shift must keep it finite). */
    float x[8] = {0.5f, -1.0f, 2.0f, 0.0f, 1000.0f, 999.0f, 998.0f, -1000.0f};
    float y[8];
    ck_act_forward(CK_ACT_SOFTMAX, x, y, 8, 4);
    for (int r = 0; r < 2; r++) {
        double mx = -INFINITY, sum = 0, total = 0;
        for (int j = 0; j < 4; j++)
            mx = fmax(mx, x[4 * r + j]);
        for (int j = 0; j < 4; j++)
            sum += exp((double)x[4 * r + j] - mx);
        for (int j = 0; j < 4; j++) {
            ck_assert_close(y[4 * r + j], exp((double)x[4 * r + j] - mx) / sum, 1e-7);
            total += y[4 * r + j];
        }
        ck_assert_close(total, 1.0, 1e-6);
    }
    /* axis_len 0 means one row over all n. */
    float z[4] = {1, 2, 3, 4};
    ck_assert_ok(ck_apply_activation("softmax", z, 4, 0));
    ck_assert_close(z[3], exp(4.0) / (exp(1.0) + exp(2.0) + exp(3.0) + exp(4.0)), 1e-7);
}
END_TEST

START_TEST(test_softmax_backward)
{
    /* L = sum_j w_j y_j; dL/dx_i by finite differences on each row. */
    float x[6] = {0.3f, -1.2f, 0.8f, 2.0f, 1.5f, -0.5f}, y[6],
          dy[6] = {1.0f, -2.0f, 0.5f, 0.3f, 0.7f, -1.1f};
    float dx[6];
    ck_act_forward(CK_ACT_SOFTMAX, x, y, 6, 3);
    ck_act_backward(CK_ACT_SOFTMAX, x, y, dy, dx, 6, 3);
    for (int i = 0; i < 6; i++) {
        float xp[6], xm[6], yp[6], ym[6];
        memcpy(xp, x, sizeof x);
        memcpy(xm, x, sizeof x);
        xp[i] += 1e-2f;
        xm[i] -= 1e-2f;
        ck_act_forward(CK_ACT_SOFTMAX, xp, yp, 6, 3);
        ck_act_forward(CK_ACT_SOFTMAX, xm, ym, 6, 3);
        double lp = 0, lm = 0;
        for (int j = 0; j < 6; j++) {
            lp += dy[j] * yp[j];
            lm += dy[j] * ym[j];
        }
        ck_assert_close(dx[i], (lp - lm) / ((double)xp[i] - xm[i]), 1e-3);
    }
}
END_TEST

START_TEST(test_names)
{
    ck_act a;
    ck_assert_ok(ck_act_parse(NULL, &a));
    ck_assert_int_eq(a, CK_ACT_LINEAR);
    ck_assert_ok(ck_act_parse("", &a));
    ck_assert_int_eq(a, CK_ACT_LINEAR);
    ck_assert_ok(ck_act_parse("silu", &a));
    ck_assert_int_eq(a, CK_ACT_SWISH);
    /* hard_sigmoid follows the model's semantics; the explicit names do not. */
    ck_assert_ok(ck_act_parse("hard_sigmoid", &a));
    ck_assert_int_eq(ck_act_resolve(a, CK_KERAS2), CK_ACT_HARD_SIGMOID_K2);
    ck_assert_int_eq(ck_act_resolve(a, CK_KERAS3), CK_ACT_HARD_SIGMOID_K3);
    ck_assert_int_eq(ck_act_resolve(CK_ACT_HARD_SIGMOID_K2, CK_KERAS3), CK_ACT_HARD_SIGMOID_K2);
    ck_assert_str_eq(ck_act_name(CK_ACT_HARD_SIGMOID_K3), "hard_sigmoid");
    ck_assert_str_eq(ck_act_name(CK_ACT_SWISH), "swish");
    ck_assert_str_eq(ck_act_name(CK_ACT_LEAKY_RELU), "leaky_relu");
    for (int k = 0; k < N_ELEMENTWISE; k++) {
        ck_assert_ok(ck_act_parse(elementwise[k], &a));
        /* The written name round-trips when read with the matching semantics. */
        ck_keras_semantics sem = a == CK_ACT_HARD_SIGMOID_K3 ? CK_KERAS3 : CK_KERAS2;
        ck_act back;
        ck_assert_ok(ck_act_parse(ck_act_name(a), &back));
        ck_assert_int_eq(ck_act_resolve(back, sem), ck_act_resolve(a, sem));
    }

    ck_assert_fails(ck_act_parse("relu7", &a), CK_ERR_NAME);
    const char *msg = ck_last_error();
    ck_assert_ptr_nonnull(strstr(msg, "relu7"));
    const char *must_list[] = {"linear",   "relu",         "sigmoid", "tanh",
                               "softmax",  "hard_sigmoid", "elu",     "selu",
                               "softplus", "softsign",     "swish",   "silu",
                               "gelu",     "exponential",  "relu6",   "leaky_relu"};
    for (size_t k = 0; k < sizeof must_list / sizeof must_list[0]; k++)
        ck_assert_msg(strstr(msg, must_list[k]), "message does not list %s: %s", must_list[k], msg);
    ck_assert_fails(ck_act_parse("Relu", &a), CK_ERR_NAME);
}
END_TEST

START_TEST(test_apply_activation_errors)
{
    float v[6] = {0};
    ck_assert_fails(ck_apply_activation("tanhh", v, 6, 0), CK_ERR_NAME);
    ck_assert_ptr_nonnull(strstr(ck_last_error(), "tanhh"));
    ck_assert_fails(ck_apply_activation("relu", NULL, 6, 0), CK_ERR_ARGUMENT);
    ck_assert_fails(ck_apply_activation("softmax", v, 6, 4), CK_ERR_SHAPE);
    ck_assert_ok(ck_apply_activation("relu", NULL, 0, 0));
    ck_assert_ok(ck_apply_activation(NULL, v, 6, 0));
    ck_assert_float_eq(v[0], 0.0f);
}
END_TEST

/* Dense(1, hard_sigmoid) with kernel 1 and bias 0 on one feature: the
 * model's semantics decides which formula the name means. */
static void hard_sigmoid_dense(ck_keras_semantics sem, const float *x, float *y, int n)
{
    ck_model *m = ck_sequential(.semantics = sem);
    ck_assert_ptr_nonnull(m);
    ck_assert_ok(ck_model_add(m, ck_input(1)));
    ck_assert_ok(ck_model_add(m, ck_dense(1, .activation = "hard_sigmoid",
                                          .kernel_initializer = CK_INIT("ones"))));
    ck_assert_ok(ck_model_predict(m, x, n, y));
    ck_model_free(m);
}

START_TEST(test_hard_sigmoid_semantics_in_dense)
{
    float x[5] = {-3.5f, -2.7f, 1.0f, 2.0f, 2.8f}, k2[5], k3[5];
    hard_sigmoid_dense(CK_KERAS2, x, k2, 5);
    hard_sigmoid_dense(CK_KERAS3, x, k3, 5);
    for (int i = 0; i < 5; i++) {
        ck_assert_close(k2[i], clip01(0.2 * x[i] + 0.5), 1e-6);
        ck_assert_close(k3[i], clip01(x[i] / 6.0 + 0.5), 1e-6);
    }
    /* The two formulas really differ here: 0 vs 0.05 and 0.9 vs 0.8333. */
    ck_assert_close(k2[1], 0.0, 1e-7);
    ck_assert_close(k3[1], 0.05, 1e-6);
    ck_assert_close(k2[3], 0.9, 1e-6);
    ck_assert_close(k3[3], 0.8333333, 1e-6);
}
END_TEST

/* exp must not clamp: Keras's exponential gives the float32 e^x up to
 * FLT_MAX, subnormals below e^-87.3, then 0 and +inf at the ends. */
START_TEST(test_exponential_full_range)
{
    float x[6] = {88.7f, 88.72f, -100.0f, -87.5f, 89.0f, -104.0f};
    ck_assert_ok(ck_apply_activation("exponential", x, 6, 6));
    ck_assert_msg(fabs(x[0] / 3.32597686e38 - 1.0) < 1e-6, "exp(88.7) = %g", (double)x[0]);
    ck_assert_msg(fabs(x[1] / 3.3931806e38 - 1.0) < 1e-6, "exp(88.72) = %g", (double)x[1]);
    ck_assert_msg(fabs(x[2] / 3.7835058e-44 - 1.0) < 0.05, "exp(-100) = %g", (double)x[2]);
    ck_assert_msg(fabs(x[3] / 9.9823514e-39 - 1.0) < 1e-5, "exp(-87.5) = %g", (double)x[3]);
    ck_assert_msg(isinf(x[4]) && x[4] > 0, "exp(89) = %g", (double)x[4]);
    ck_assert_msg(x[5] == 0.0f, "exp(-104) = %g", (double)x[5]);
}
END_TEST

/* tanh's rational form over a sample of every 512th float in [-20, 20]
 * (bit patterns, so every binade is covered down to the tiny values that
 * are returned as they are): within 5e-7 relative of libm's double tanh. */
START_TEST(test_tanh_accuracy_sweep)
{
    enum { CHUNK = 4096 };
    static float x[CHUNK], y[CHUNK];
    double worst = 0;
    float worst_at = 0;
    for (int sign = 0; sign < 2; sign++) {
        uint32_t top;
        float twenty = 20.0f;
        memcpy(&top, &twenty, sizeof top);
        for (uint32_t bits = 0; bits <= top;) {
            int n = 0;
            for (; n < CHUNK && bits <= top; n++, bits += 512) {
                uint32_t b = bits | (sign ? 0x80000000u : 0u);
                memcpy(&x[n], &b, sizeof b);
            }
            ck_vtanh(x, y, (size_t)n);
            for (int i = 0; i < n; i++) {
                double want = tanh((double)x[i]);
                double rel = want == 0 ? fabs(y[i]) : fabs(y[i] - want) / fabs(want);
                if (rel > worst)
                    worst = rel, worst_at = x[i];
            }
        }
    }
    ck_assert_msg(worst <= 5e-7, "tanh is %.3g relative off at %.9g", worst, (double)worst_at);
}
END_TEST

/* The pool's passes over a parameter array: the first non-finite value
 * whichever thread's chunk holds it, the whole array zeroed, at sizes
 * around the chunk length and around the 8 chunks from which the search
 * is shared. */
START_TEST(test_parallel_passes)
{
    const size_t sizes[] = {0, 1, 16383, 16384, 16385, 70001, 131072, 131073, 200003};
    enum { MAX = 200003 };
    static float x[MAX];
    int threads = ck_get_num_threads();
    ck_assert_ok(ck_set_num_threads(2));
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        size_t n = sizes[k];
        for (size_t i = 0; i < n; i++)
            x[i] = (float)i;
        ck_assert_uint_eq(ck_vfind_nonfinite_par(x, n), n);
        if (n > 2) {
            x[n - 1] = INFINITY;
            ck_assert_uint_eq(ck_vfind_nonfinite_par(x, n), n - 1);
            x[n / 3] = NAN;
            ck_assert_uint_eq(ck_vfind_nonfinite_par(x, n), n / 3);
        }
        ck_vzero_par(x, n);
        for (size_t i = 0; i < n; i++)
            ck_assert_msg(x[i] == 0.0f && !signbit(x[i]), "x[%zu] = %g of %zu", i, x[i], n);
    }
    ck_assert_ok(ck_set_num_threads(threads));
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("activations");
    TCase *tc = tcase_create("core");
    tcase_add_loop_test(tc, test_forward_matches_formula, 0, N_ELEMENTWISE);
    tcase_add_loop_test(tc, test_backward_matches_finite_differences, 0, N_ELEMENTWISE);
    tcase_add_test(tc, test_known_values);
    tcase_add_test(tc, test_extremes_are_stable);
    tcase_add_test(tc, test_softmax_rows);
    tcase_add_test(tc, test_exponential_full_range);
    tcase_add_test(tc, test_tanh_accuracy_sweep);
    tcase_add_test(tc, test_parallel_passes);
    tcase_add_test(tc, test_softmax_backward);
    tcase_add_test(tc, test_names);
    tcase_add_test(tc, test_apply_activation_errors);
    tcase_add_test(tc, test_hard_sigmoid_semantics_in_dense);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return ck_test_run(suite());
}
