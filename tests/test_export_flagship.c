/* The flagship example's model (examples/action_recognition) trained as
 * the README runs it, then exported with float32 and int8 weights: the int8
 * file keeps the validation accuracy within 1 percentage point of the float
 * model on the example's own validation split. */
#include "ck_export_test.h"

#include <string.h>
#include <unistd.h>

#define ARGS_DATA "--sequences 200 --frames 5 --seed 7"

/* Absolute, as the export is built in the scratch directory. */
static const char *build_dir(void)
{
    static char dir[1024];
    const char *env = getenv("CK_BUILD_DIR");
    if (env && *env)
        return env;
    ck_assert_ptr_nonnull(getcwd(dir, sizeof dir - 8));
    return strcat(dir, "/build");
}

/* Trains and saves the model; returns the float validation accuracy (%). */
static double train(void)
{
    char path[512];
    snprintf(path, sizeof path, "%s", ck_test_path("train.txt"));
    ck_assert_int_eq(ck_export_sh("'%s/action_recognition' " ARGS_DATA " --out '%s' > '%s' 2>&1",
                                  build_dir(), ck_test_path("action.h5"), path),
                     0);
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    char text[65536];
    text[fread(text, 1, sizeof text - 1, f)] = '\0';
    fclose(f);
    const char *acc = strstr(text, "Validation accuracy: ");
    ck_assert_msg(acc != NULL, "no accuracy in:\n%s", text);
    return strtod(acc + strlen("Validation accuracy: "), NULL);
}

/* Exports the trained model stored as `quantize` into DIR/<sub>, builds the
 * evaluation program and returns its accuracy (%). */
static double exported_accuracy(ck_model *m, ck_export_quantize quantize, const char *sub)
{
    char c_path[512], h_path[512];
    ck_assert_int_eq(ck_export_sh("mkdir -p '%s'", ck_test_path(sub)), 0);
    snprintf(c_path, sizeof c_path, "%s/action.c", ck_test_path(sub));
    snprintf(h_path, sizeof h_path, "%s/action.h", ck_test_path(sub));
    ck_export_report r;
    ck_export_files(m, c_path, h_path, "action", quantize, NULL, &r);
    printf("%s: %zu bytes of weights, %zu bytes of state\n", sub, r.weight_bytes, r.state_bytes);
    const char *d = ck_test_path(sub);
    /* The example's data code reads .npy files through the library. */
    const char *lib = build_dir();
    ck_assert_int_eq(
        ck_export_sh(
            "cd '%s' && gcc -O2 -std=c11 -D_POSIX_C_SOURCE=200809L -I\"$OLDPWD/include\" -c "
            "\"$OLDPWD/examples/action_recognition/data.c\" -o data.o && "
            "gcc " CK_EXPORT_CFLAGS " -I\"$OLDPWD/examples/action_recognition\" -I. "
            "action.c \"$OLDPWD/tests/export/flagship_eval.c\" data.o -L'%s' -Wl,-rpath,'%s' "
            "-lckeras -lm -o eval > cc.log 2>&1 && ./eval 200 5 7 > eval.txt",
            d, lib, lib),
        0);
    int correct = 0, total = 0, same = 0;
    char path[512];
    snprintf(path, sizeof path, "%s/eval.txt", d);
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fscanf(f, "%d %d %d", &correct, &total, &same), 3);
    fclose(f);
    ck_assert_int_eq(total, 120);
    ck_assert_msg(same == total, "%s: streaming differs from predict on %d of %d", sub,
                  total - same, total);
    return 100.0 * correct / total;
}

START_TEST(int8_keeps_accuracy)
{
    double float_acc = train();
    ck_model *m = NULL;
    ck_assert_ok(ck_model_load(ck_test_path("action.h5"), &m));
    double f32 = exported_accuracy(m, CK_EXPORT_FLOAT32, "f32");
    double i8 = exported_accuracy(m, CK_EXPORT_INT8, "int8");
    printf("validation accuracy: float model %.2f%%, float32 export %.2f%%, int8 export %.2f%%\n",
           float_acc, f32, i8);
    /* The example prints two decimals. */
    ck_assert_msg(fabs(f32 - float_acc) < 0.006, "the float32 export scores %.2f%%, ckeras %.2f%%",
                  f32, float_acc);
    ck_assert_msg(fabs(i8 - float_acc) <= 1.0, "int8 %.2f%% vs float %.2f%%", i8, float_acc);
    ck_assert_msg(float_acc >= 90.0, "the example trained to only %.2f%%", float_acc);
    ck_model_free(m);
}
END_TEST

static void setup(void)
{
    ck_test_make_dir("ckflagship");
}

static void teardown(void)
{
    ck_assert_int_eq(ck_export_sh("rm -rf '%s'", ck_test_path("")), 0);
}

int main(void)
{
    /* Training the example is too slow under the sanitizers, and
     * test_export covers the exporter's memory use there. */
#ifdef CK_TEST_UNDER_SANITIZER
    ck_test_skip("training the flagship example is too slow under the sanitizers");
    return CK_TEST_SKIP;
#endif
    Suite *s = suite_create("export_flagship");
    TCase *tc = tcase_create("export_flagship");
    tcase_set_timeout(tc, 300);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, int8_keeps_accuracy);
    suite_add_tcase(s, tc);
    return ck_test_run(s);
}
