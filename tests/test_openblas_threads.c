/* OpenBLAS's pthreads build starts its threads when it loads and lets them
 * spin in sched_yield for about 0.1 s. Once ckeras has set OpenBLAS to one
 * thread they have no work, and ckeras stops them: a model with a pool of
 * one thread leaves the process with no thread but its own, and so does
 * ck_warm_up, which a program calls before starting threads of its own.
 *
 * Registered without OPENBLAS_NUM_THREADS=1 (with it OpenBLAS starts no
 * thread, and there is nothing to see); runs without Check's fork, since a
 * forked child has none of its parent's OpenBLAS threads. Threads once
 * stopped stay stopped, so each test runs in a process of its own: the
 * argument names it. */
#include "ck_test.h"

#include <string.h>

/* The process's thread count, from /proc/self/status; 0 when unknown. */
static int thread_count(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (!f)
        return 0;
    char line[256];
    int n = 0;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "Threads:", 8) == 0)
            n = atoi(line + 8);
    fclose(f);
    return n;
}

START_TEST(idle_openblas_threads_are_stopped)
{
    ck_assert_ok(ck_set_num_threads(1));
    ck_model *m = ck_sequential(.seed = 7);
    ck_assert_ok(ck_model_add(m, ck_input(5, 6)));
    ck_assert_ok(ck_model_add(m, ck_lstm(16)));
    ck_assert_ok(ck_model_add(m, ck_dense(3, .activation = "softmax")));
    ck_assert_ok(ck_model_build(m));
    float x[4 * 5 * 6], y[4 * 3];
    for (int i = 0; i < 4 * 5 * 6; i++)
        x[i] = (float)(i % 7) * 0.1f - 0.3f;
    ck_assert_ok(ck_model_predict(m, x, 4, y));
    ck_assert_int_eq(thread_count(), 1);
    ck_model_free(m);
}
END_TEST

START_TEST(warm_up_stops_them)
{
    ck_assert_ok(ck_set_num_threads(1));
    ck_warm_up();
    ck_assert_int_eq(thread_count(), 1);
}
END_TEST

int main(int argc, char **argv)
{
    int at_start = thread_count();
    if (at_start < 2) {
        printf("SKIP: OpenBLAS started no thread of its own here (%d thread%s at start: "
               "OPENBLAS_NUM_THREADS=1, one CPU, or a serial OpenBLAS)\n",
               at_start, at_start == 1 ? "" : "s");
        return CK_TEST_SKIP;
    }
    Suite *s = suite_create("openblas_threads");
    TCase *tc = tcase_create("openblas_threads");
    if (argc > 1 && strcmp(argv[1], "warm_up") == 0)
        tcase_add_test(tc, warm_up_stops_them);
    else
        tcase_add_test(tc, idle_openblas_threads_are_stopped);
    suite_add_tcase(s, tc);
    return ck_test_run(s);
}
