/* ckeras export on the command line: files, the printed report, MODEL as
 * a whole-model file or --config + --weights, and the usage errors. */
#include "ck_export_test.h"

#include <string.h>
#include <sys/stat.h>

static char out[16384];

/* Runs ckeras with `args`; stdout and stderr land in out. */
static int ckeras(const char *args)
{
    const char *dir = getenv("CK_BUILD_DIR");
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "'%s/ckeras' %s > '%s' 2>&1", dir && *dir ? dir : "build", args,
             ck_test_path("out.txt"));
    int rc = ck_export_sh("%s", cmd);
    FILE *f = fopen(ck_test_path("out.txt"), "r");
    ck_assert_ptr_nonnull(f);
    out[fread(out, 1, sizeof out - 1, f)] = '\0';
    fclose(f);
    return rc;
}

#define assert_out(text) \
    ck_assert_msg(strstr(out, (text)) != NULL, "output lacks \"%s\":\n%s", (text), out)

static bool exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0;
}

START_TEST(whole_model_with_header_and_int8)
{
    CK_SHARED_OR_SKIP(model, "fixtures/keras/keras2c_model.h5");
    char args[2048], c_path[256], h_path[256];
    snprintf(c_path, sizeof c_path, "%s", ck_test_path("k2c.c"));
    snprintf(h_path, sizeof h_path, "%s", ck_test_path("k2c.h"));
    snprintf(args, sizeof args,
             "export %s -o '%s' --header '%s' --name k2c --quantize int8 "
             "--x ../shared/fixtures/keras/keras2c_model.expected.h5:/keras_truth/x",
             model, c_path, h_path);
    ck_assert_msg(ckeras(args) == 0, "%s", out);
    assert_out("k2c_predict, k2c_reset, k2c_step (one time step at a time)");
    assert_out("(4990 parameters, int8)");
    assert_out("bytes of state (k2c_STATE_BYTES)");
    assert_out("on 10 inputs from --x");
    double diff = strtod(strstr(out, "float model: ") + strlen("float model: "), NULL);
    ck_assert_msg(diff > 0 && diff < 0.1, "int8 moved the outputs by %g", diff);
    ck_assert(exists(c_path) && exists(h_path));
    ck_assert_int_eq(
        ck_export_sh("grep -q 'int8_t l0_kernel' '%s' && grep -q '#include \"k2c.h\"' '%s'", c_path,
                     c_path),
        0);
}
END_TEST

START_TEST(config_and_weights_file)
{
    CK_SHARED_OR_SKIP(arch, "fixtures/keras/avishake_model_weights.architecture.json");
    char args[1024];
    snprintf(
        args, sizeof args,
        "export --config %s --weights ../shared/fixtures/keras/avishake_model_weights.h5 --quantize float16 "
        "-o '%s'",
        arch, ck_test_path("a.c"));
    ck_assert_msg(ckeras(args) == 0, "%s", out);
    assert_out("(596675 parameters, float16)");
    assert_out("on 8 random inputs");
    ck_assert_int_eq(
        ck_export_sh("grep -q 'avishake_model_weights.h5 (SHA-256 ' '%s'", ck_test_path("a.c")), 0);
}
END_TEST

START_TEST(usage_and_refusals)
{
    CK_SHARED_OR_SKIP(model, "fixtures/keras/keras2c_model.h5");
    char args[1024];
    const char *bad[] = {"",
                         "-o x.txt",
                         "-o x.c --header x.hpp",
                         "-o x.c --header x.c",
                         "-o x.c --timesteps 0",
                         "-o x.c --quantize int4"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(args, sizeof args, "export %s %s", model, bad[i]);
        ck_assert_msg(ckeras(args) == 2, "'%s': %s", bad[i], out);
    }
    snprintf(args, sizeof args, "export %s -o '%s' --name 'no-good'", model, ck_test_path("n.c"));
    ck_assert_int_eq(ckeras(args), 1);
    assert_out("ckeras: error: export name 'no-good' is not a C identifier");
    ck_assert(!exists(ck_test_path("n.c")));
    /* --weights is the weights file for export too, never the storage. */
    snprintf(args, sizeof args, "export %s -o '%s' --weights int8", model, ck_test_path("w.c"));
    ck_assert_int_eq(ckeras(args), 1);
    assert_out("cannot open 'int8'");
    ck_assert(!exists(ck_test_path("w.c")));
    /* The output may not overwrite an input. */
    snprintf(args, sizeof args, "export %s -o %s", model, model);
    ck_assert_int_eq(ckeras(args), 2);
}
END_TEST

static void setup(void)
{
    ck_test_make_dir("ckexportcli");
}

int main(void)
{
    Suite *s = suite_create("export_cli");
    TCase *tc = tcase_create("export_cli");
    tcase_set_timeout(tc, 120);
    tcase_add_checked_fixture(tc, setup, ck_test_remove_dir);
    tcase_add_test(tc, whole_model_with_header_and_int8);
    tcase_add_test(tc, config_and_weights_file);
    tcase_add_test(tc, usage_and_refusals);
    suite_add_tcase(s, tc);
    return ck_test_run(s);
}
