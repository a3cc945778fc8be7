/* The flagship model (examples/action_recognition's architecture) exported
 * and cross-compiled for a Cortex-M4F with arm-none-eabi-gcc: the int8 file
 * must fit in 256 KB of flash, and a device program around it must link
 * against newlib. Reports ctest's SKIP status when the cross compiler is
 * not installed (scripts/setup.sh installs it). */
#include "ck_export_test.h"

#include <string.h>

#define M4_FLAGS "-mcpu=cortex-m4 -mthumb -mfloat-abi=hard -mfpu=fpv4-sp-d16 -Os"

/* A device main loop: one frame at a time through the streaming API. */
static const char device_main[] =
    "#include \"action.h\"\n"
    "static action_state state;\n"
    "static float frame[action_FRAME_SIZE], probs[action_STEP_OUTPUT_SIZE];\n"
    "int main(void)\n"
    "{\n"
    "    action_reset(&state);\n"
    "    for (;;) {\n"
    "        action_step(frame, probs, &state);\n"
    "        frame[0] = probs[0];\n"
    "    }\n"
    "}\n";

static ck_model *flagship(void)
{
    ck_model *m = ck_sequential(.seed = 7);
    ck_layer *layers[] = {
        ck_input(5, 126),
        ck_lstm(64, .return_sequences = true, .activation = "relu"),
        ck_lstm(128, .return_sequences = true, .activation = "relu"),
        ck_lstm(64, .activation = "relu"),
        ck_dense(64, .activation = "relu"),
        ck_dense(32, .activation = "relu"),
        ck_dense(3, .activation = "softmax"),
    };
    for (size_t i = 0; i < sizeof layers / sizeof layers[0]; i++)
        ck_assert_ok(ck_model_add(m, layers[i]));
    ck_assert_ok(ck_model_build(m));
    return m;
}

/* text + data of an object or program, from arm-none-eabi-size. */
static long text_data(const char *file)
{
    long text = -1, data = -1;
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "arm-none-eabi-size '%s'", file);
    FILE *p = popen(cmd, "r");
    ck_assert_ptr_nonnull(p);
    char header[256];
    ck_assert_ptr_nonnull(fgets(header, sizeof header, p));
    ck_assert_int_eq(fscanf(p, "%ld %ld", &text, &data), 2);
    pclose(p);
    return text + data;
}

static void cross_compile(ck_model *m, ck_export_quantize w, const char *label, long limit)
{
    ck_export_report r;
    ck_export_files(m, ck_test_path("action.c"), ck_test_path("action.h"), "action", w, NULL, &r);
    ck_assert_int_eq(ck_export_sh("cd '%s' && arm-none-eabi-gcc " M4_FLAGS
                                  " -std=c99 -pedantic -Wall -Wextra "
                                  "-Werror -c action.c -o action.o && arm-none-eabi-gcc " M4_FLAGS
                                  " --specs=nosys.specs main.c action.o -lm -o device.elf",
                                  ck_test_path("")),
                     0);
    long model = text_data(ck_test_path("action.o")),
         program = text_data(ck_test_path("device.elf"));
    printf(
        "Cortex-M4 %s: model text+data %ld bytes (weights %zu), whole program %ld bytes; state %zu bytes "
        "of RAM\n",
        label, model, r.weight_bytes, program, r.state_bytes);
    ck_assert_msg(model < limit, "%s: %ld bytes of flash, the goal is below %ld", label, model,
                  limit);
}

START_TEST(flagship_fits_a_cortex_m4)
{
    FILE *f = fopen(ck_test_path("main.c"), "w");
    ck_assert_ptr_nonnull(f);
    fputs(device_main, f);
    fclose(f);
    ck_model *m = flagship();
    cross_compile(m, CK_EXPORT_INT8, "int8", 256 * 1024);
    cross_compile(m, CK_EXPORT_FLOAT16, "float16", 512 * 1024);
    cross_compile(m, CK_EXPORT_FLOAT32, "float32", 1024 * 1024);
    ck_model_free(m);
}
END_TEST

static void setup(void)
{
    ck_test_make_dir("ckm4");
}

int main(void)
{
    if (!ck_export_have("arm-none-eabi-gcc") || !ck_export_have("arm-none-eabi-size")) {
        ck_test_skip(
            "arm-none-eabi-gcc is not installed (scripts/setup.sh installs gcc-arm-none-eabi)");
        return CK_TEST_SKIP;
    }
    Suite *s = suite_create("export_m4");
    TCase *tc = tcase_create("export_m4");
    tcase_set_timeout(tc, 300);
    tcase_add_checked_fixture(tc, setup, ck_test_remove_dir);
    tcase_add_test(tc, flagship_fits_a_cortex_m4);
    suite_add_tcase(s, tc);
    return ck_test_run(s);
}
