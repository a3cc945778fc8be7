/* What saving does to the files around it: temporaries that fit the name
 * limit, are removed on SIGINT/SIGTERM and swept after a SIGKILL; special
 * and read-only targets refused; pairs of files replaced together; every
 * save path under injected write faults (tests/fault/fault_shim.c, loaded
 * with LD_PRELOAD into the ckeras tool); a closed standard output; FIFOs
 * given as inputs. */
#define _DEFAULT_SOURCE /* flock, makedev */
#include "ck_cli_test.h"
#include "ck_test.h"

#include "ck_internal.h"
#include "ck_io.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

static char dir[64];

/* A fresh folder in /tmp, open to every user (the read-only test runs as
 * nobody there). */
static void make_dir(void)
{
    snprintf(dir, sizeof dir, "/tmp/ck_files_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    ck_assert_int_eq(chmod(dir, 0777), 0);
}

static void remove_dir(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}

/* dir/name in a rotating static buffer. */
static const char *at(const char *name)
{
    static char bufs[8][512];
    static int next;
    char *b = bufs[next++ % 8];
    snprintf(b, sizeof bufs[0], "%s/%s", dir, name);
    return b;
}

static int count_temps(void)
{
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    int n = 0;
    for (struct dirent *e; (e = readdir(d));)
        n += strstr(e->d_name, ".tmp-") != NULL;
    closedir(d);
    return n;
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    ck_assert_int_eq(fclose(f), 0);
}

static bool has_text(const char *path, const char *text)
{
    char buf[256] = "";
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    return strcmp(buf, text) == 0;
}

static long file_size(const char *path)
{
    struct stat sb;
    ck_assert_int_eq(stat(path, &sb), 0);
    return (long)sb.st_size;
}

static void assert_error_has(const char *needle)
{
    ck_assert_msg(strstr(ck_last_error(), needle), "error lacks '%s': %s", needle, ck_last_error());
}

/* Dense(3, softmax) on 4 features; with data, x.npy and y.npy for fit. */
enum { N = 8, F = 4 };
static ck_model *tiny_model(void)
{
    ck_model *m = ck_sequential(.seed = 3);
    ck_assert_ok(ck_model_add(m, ck_input(F)));
    ck_assert_ok(ck_model_add(m, ck_dense(.units = 3, .activation = "softmax")));
    ck_assert_ok(ck_model_build(m));
    return m;
}

static void write_tiny_files(void)
{
    ck_model *m = tiny_model();
    ck_assert_ok(ck_model_save(m, at("tiny.h5")));
    ck_model_free(m);
    float x[N * F], y[N];
    for (int i = 0; i < N * F; i++)
        x[i] = (float)(i % 7) * 0.25f - 0.5f;
    for (int i = 0; i < N; i++)
        y[i] = (float)(i % 3);
    ck_assert_ok(ck_npy_write(at("x.npy"), &(ck_tensor){.rank = 2, .dims = {N, F}, .data = x}));
    ck_assert_ok(ck_npy_write(at("y.npy"), &(ck_tensor){.rank = 1, .dims = {N}, .data = y}));
}

/* ---------------------------------------------------------------- names */

/* 251 characters is within NAME_MAX, but "NAME.tmp-XXXXXXXX" is not: the
 * temporary keeps a prefix of the name. */
START_TEST(long_name_saves)
{
    make_dir();
    char name[252];
    memset(name, 'a', 248);
    strcpy(name + 248, ".h5");
    ck_assert_uint_eq(strlen(name), 251);
    ck_model *m = tiny_model(), *back;
    ck_assert_ok(ck_model_save(m, at(name)));
    ck_assert_ok(ck_model_save(m, at(name))); /* a replacement too */
    ck_assert_ok(ck_model_load(at(name), &back));
    ck_assert_int_eq(count_temps(), 0);
    ck_model_free(back);
    ck_model_free(m);
    remove_dir();
}
END_TEST

/* A temporary left by a killed save (no process holds its lock) is
 * removed by the next save of its target; one a live writer holds locked,
 * and those of other targets, stay. */
START_TEST(stale_temporaries_swept)
{
    make_dir();
    char long_name[252], long_stale[256];
    memset(long_name, 'b', 248);
    strcpy(long_name + 248, ".h5");
    snprintf(long_stale, sizeof long_stale, "%.242s.tmp-0badc0de", long_name);
    write_text(at("out.h5.tmp-0123abcd"), "stale");
    write_text(at("other.h5.tmp-0123abcd"), "another target");
    write_text(at("out.h5.tmp-notours"), "not a temporary name");
    write_text(at(long_stale), "stale, long name");
    write_text(at("out.h5.tmp-89abcdef"), "live");
    /* A flock on another open file conflicts even within this process, as
     * a live writer's does. */
    int live = open(at("out.h5.tmp-89abcdef"), O_RDWR);
    ck_assert_int_eq(flock(live, LOCK_EX), 0);
    ck_model *m = tiny_model();
    ck_assert_ok(ck_model_save(m, at("out.h5")));
    ck_assert_ok(ck_model_save(m, at(long_name)));
    ck_assert_int_eq(access(at("out.h5.tmp-0123abcd"), F_OK), -1);
    ck_assert_int_eq(access(at(long_stale), F_OK), -1);
    ck_assert(has_text(at("out.h5.tmp-89abcdef"), "live"));
    ck_assert(has_text(at("other.h5.tmp-0123abcd"), "another target"));
    ck_assert(has_text(at("out.h5.tmp-notours"), "not a temporary name"));
    close(live);
    /* The writer is gone now: its temporary goes with the next save. */
    ck_assert_ok(ck_model_save(m, at("out.h5")));
    ck_assert_int_eq(access(at("out.h5.tmp-89abcdef"), F_OK), -1);
    ck_model_free(m);
    remove_dir();
}
END_TEST

/* ---------------------------------------------------------------- targets */

/* A device node made here (as root), so a mistake could never replace the
 * system's /dev/null; without root, a link to /dev/null itself. */
static const char *device_link(void)
{
    const char *target = "/dev/null";
    if (geteuid() == 0) {
        ck_assert_int_eq(mknod(at("null"), S_IFCHR | 0666, makedev(1, 3)), 0);
        target = at("null");
    }
    ck_assert_int_eq(symlink(target, at("dev.h5")), 0);
    return at("dev.h5");
}

START_TEST(special_targets_refused)
{
    make_dir();
    ck_model *m = tiny_model();
    const char *dev = device_link();
    ck_assert_int_eq(mkfifo(at("fifo.h5"), 0666), 0);
    ck_assert_int_eq(mkdir(at("folder.h5"), 0777), 0);
    ck_assert_int_eq(symlink("missing.h5", at("dangling.h5")), 0);
    alarm(20); /* a FIFO must not block: SIGALRM would fail the test */
    ck_assert_fails(ck_model_save(m, dev), CK_ERR_IO);
    assert_error_has("links to a character device");
    ck_assert_fails(ck_model_save(m, at("fifo.h5")), CK_ERR_IO);
    assert_error_has("is a FIFO");
    ck_assert_fails(ck_npy_write(at("fifo.h5"),
                                 &(ck_tensor){.rank = 1, .dims = {1}, .data = (float[]){1}}),
                    CK_ERR_IO);
    ck_assert_fails(ck_model_save(m, at("folder.h5")), CK_ERR_IO);
    assert_error_has("is a directory");
    ck_assert_fails(ck_model_save(m, at("dangling.h5")), CK_ERR_IO);
    assert_error_has("symbolic link to a missing file");
    alarm(0);
    struct stat sb;
    ck_assert_int_eq(stat(dev, &sb), 0);
    ck_assert(S_ISCHR(sb.st_mode));
    ck_assert_int_eq(lstat(at("fifo.h5"), &sb), 0);
    ck_assert(S_ISFIFO(sb.st_mode));
    ck_assert_int_eq(lstat(at("dangling.h5"), &sb), 0);
    ck_assert(S_ISLNK(sb.st_mode));
    ck_assert_int_eq(access(at("missing.h5"), F_OK), -1);
    ck_assert_int_eq(count_temps(), 0);
    /* A link to a regular file replaces that file and keeps the link. */
    write_text(at("real.h5"), "old");
    ck_assert_int_eq(symlink("real.h5", at("link.h5")), 0);
    ck_assert_ok(ck_model_save(m, at("link.h5")));
    ck_assert_int_eq(lstat(at("link.h5"), &sb), 0);
    ck_assert(S_ISLNK(sb.st_mode));
    ck_assert_int_gt(file_size(at("real.h5")), 100);
    ck_model_free(m);
    remove_dir();
}
END_TEST

/* As cp: a user may not replace a file they may not write, though the
 * folder lets them. The tests run as root, who may (as with cp), so the
 * save runs in a child that becomes nobody. */
START_TEST(read_only_target_refused)
{
    make_dir();
    write_text(at("ro.h5"), "read-only");
    ck_assert_int_eq(chmod(at("ro.h5"), 0444), 0);
    write_text(at("theirs.h5"), "root's");
    ck_assert_int_eq(chmod(at("theirs.h5"), 0644), 0);
    ck_model *m = tiny_model();
    fflush(NULL);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        if (geteuid() == 0 && (setgid(65534) != 0 || setuid(65534) != 0))
            _exit(10);
        int bad = 0;
        const char *files[] = {"ro.h5", "theirs.h5"};
        for (int i = 0; i < (geteuid() == 0 ? 1 : 2); i++)
            bad |= (ck_model_save(m, at(files[i])) != CK_ERR_IO ||
                    !strstr(ck_last_error(), "read-only"))
                   << i;
        bad |= (ck_model_save(m, at("new.h5")) != CK_OK) << 2;
        _exit(bad);
    }
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %d", status);
    ck_assert(has_text(at("ro.h5"), "read-only"));
    ck_assert(has_text(at("theirs.h5"), "root's"));
    ck_assert_int_eq(count_temps(), 0);
    ck_model_free(m);
    remove_dir();
}
END_TEST

/* ---------------------------------------------------------------- pairs */

/* A .weights.h5 and its JSON: a failure in either leaves both old files. */
START_TEST(pair_replaced_together)
{
    make_dir();
    ck_model *m = tiny_model();
    write_text(at("m.weights.h5"), "old weights");
    write_text(at("m.json"), "old json");
    /* The weights fail (the dataset-write hook). */
    ck_io_debug_fail_write_after(1);
    ck_assert_fails(ck_model_save(m, at("m.weights.h5"), .format = CK_FORMAT_KERAS_WEIGHTS,
                                  .json_path = at("m.json")),
                    CK_ERR_IO);
    ck_io_debug_fail_write_after(0);
    ck_assert(has_text(at("m.weights.h5"), "old weights"));
    ck_assert(has_text(at("m.json"), "old json"));
    /* The weights are complete, then the JSON cannot be written. */
    ck_assert_int_eq(chmod(at("m.json"), 0444), 0);
    ck_assert_int_eq(mkdir(at("d.json"), 0777), 0);
    ck_assert_fails(ck_model_save(m, at("m.weights.h5"), .format = CK_FORMAT_KERAS_WEIGHTS,
                                  .json_path = at("d.json")),
                    CK_ERR_IO);
    ck_assert(has_text(at("m.weights.h5"), "old weights"));
    ck_assert_int_eq(count_temps(), 0);
    ck_assert_int_eq(chmod(at("m.json"), 0644), 0);
    ck_assert_ok(ck_model_save(m, at("m.weights.h5"), .format = CK_FORMAT_KERAS_WEIGHTS,
                               .json_path = at("m.json")));
    ck_model *back;
    ck_assert_ok(ck_model_load_as(at("m.json"), CK_FORMAT_JSON, &back));
    ck_assert_ok(ck_model_load_weights(back, at("m.weights.h5")));
    ck_assert_int_eq(count_temps(), 0);
    ck_model_free(back);
    ck_model_free(m);
    remove_dir();
}
END_TEST

/* The exported .c includes its .h: the header is written first, and a
 * .c that cannot be written leaves the old header. */
START_TEST(export_pair_replaced_together)
{
    make_dir();
    ck_model *m = tiny_model();
    write_text(at("net.h"), "old header");
    ck_assert_int_eq(mkdir(at("net.c"), 0777), 0);
    ck_export_options o = ck_export_default_options();
    o.c_path = at("net.c");
    o.header_path = at("net.h");
    ck_assert_fails(ck_model_export_c(m, &o), CK_ERR_IO);
    ck_assert(has_text(at("net.h"), "old header"));
    ck_assert_int_eq(count_temps(), 0);
    ck_assert_int_eq(rmdir(at("net.c")), 0);
    ck_assert_ok(ck_model_export_c(m, &o));
    ck_assert_int_gt(file_size(at("net.h")), 100);
    ck_assert_int_gt(file_size(at("net.c")), 100);
    ck_model_free(m);
    remove_dir();
}
END_TEST

/* ---------------------------------------------------------------- CSV log */

/* The log is replaced whole after every epoch; appending to a FIFO is
 * refused at once rather than blocking on it. */
START_TEST(csv_log_checked_and_appended)
{
    make_dir();
    ck_model *m = tiny_model();
    ck_assert_ok(
        ck_model_compile(m, .loss = "sparse_categorical_crossentropy", .optimizer = ck_sgd()));
    float x[N * F] = {0}, y[N] = {0};
    ck_tensor tx = {.rank = 2, .dims = {N, F}, .data = x}, ty = {.rank = 1, .dims = {N}, .data = y};
    ck_assert_int_eq(mkfifo(at("log.csv"), 0666), 0);
    ck_fit_options fo = {.epochs = 1, .batch_size = 8};
    fo.callbacks[0] = ck_cb_csv_logger(.filename = at("log.csv"), .append = true);
    alarm(20);
    ck_assert_fails(ck_model_fit_with(m, &tx, &ty, &fo, NULL), CK_ERR_IO);
    alarm(0);
    assert_error_has("FIFO");
    ck_assert_int_eq(unlink(at("log.csv")), 0);
    write_text(at("log.csv"), "epoch,loss\r\n0,1.5\r\n");
    ck_assert_ok(ck_model_fit_with(m, &tx, &ty, &fo, NULL));
    char buf[256] = "";
    FILE *f = fopen(at("log.csv"), "r");
    ck_assert_ptr_nonnull(f);
    buf[fread(buf, 1, sizeof buf - 1, f)] = '\0';
    fclose(f);
    ck_assert_msg(strncmp(buf, "epoch,loss\r\n0,1.5\r\n0,", 21) == 0, "log: %s", buf);
    ck_assert_int_eq(count_temps(), 0);
    ck_model_free(m);
    remove_dir();
}
END_TEST

/* ---------------------------------------------------------------- the tool */

static char *asan_saved;

/* LD_PRELOAD of the fault library for the runs until faults_off(). */
static void faults_on(const char *err, const char *op, long after, long delay_ms)
{
    const char *build = getenv("CK_BUILD_DIR");
    ck_assert_ptr_nonnull(build);
    char shim[512], num[32];
    snprintf(shim, sizeof shim, "%s/libck_fault_shim.so", build);
    ck_assert_msg(access(shim, R_OK) == 0, "%s is missing", shim);
    setenv("LD_PRELOAD", shim, 1);
    /* The sanitizer runtime need not come first for these runs. */
    const char *asan = getenv("ASAN_OPTIONS");
    free(asan_saved);
    asan_saved = asan ? strdup(asan) : NULL;
    char opts[512];
    snprintf(opts, sizeof opts, "%s%sverify_asan_link_order=0", asan ? asan : "", asan ? ":" : "");
    setenv("ASAN_OPTIONS", opts, 1);
    if (err)
        setenv("CK_FAULT_ERRNO", err, 1);
    setenv("CK_FAULT_OP", op, 1);
    snprintf(num, sizeof num, "%ld", after);
    setenv("CK_FAULT_AFTER", num, 1);
    snprintf(num, sizeof num, "%ld", delay_ms);
    setenv("CK_FAULT_DELAY_MS", num, 1);
}

static void faults_off(void)
{
    unsetenv("LD_PRELOAD");
    unsetenv("CK_FAULT_ERRNO");
    unsetenv("CK_FAULT_OP");
    unsetenv("CK_FAULT_AFTER");
    unsetenv("CK_FAULT_DELAY_MS");
    if (asan_saved)
        setenv("ASAN_OPTIONS", asan_saved, 1);
    else
        unsetenv("ASAN_OPTIONS");
}

/* One save path of the tool: its arguments after the command, and the
 * files it replaces (the first is the one a fault hits first). */
typedef struct save_path {
    const char *what;
    const char *args[20];
    const char *outputs[3];
    bool pair; /* outputs replaced together */
} save_path;

#define FIT                                                                                        \
    "fit", "tiny.h5", "--x", "x.npy", "--y", "y.npy", "--loss", "sparse_categorical_crossentropy", \
        "--epochs", "2", "--verbose", "0"
static const save_path save_paths[] = {
    {"convert .h5", {"convert", "tiny.h5", "-o", "out.h5"}, {"out.h5"}, false},
    {"convert .keras", {"convert", "tiny.h5", "-o", "out.keras"}, {"out.keras"}, false},
    {"convert .weights.h5",
     {"convert", "tiny.h5", "-o", "out.weights.h5"},
     {"out.weights.h5", "out.json"},
     true},
    {"convert .json", {"convert", "tiny.h5", "-o", "out.json"}, {"out.json"}, false},
    {"fit -o", {FIT, "-o", "fit.h5"}, {"fit.h5"}, false},
    {"fit --checkpoint",
     {FIT, "--checkpoint", "ckpt.h5", "-o", "fit.h5"},
     {"ckpt.h5", "fit.h5"},
     false},
    {"fit --csv-log", {FIT, "--csv-log", "log.csv", "-o", "fit.h5"}, {"log.csv", "fit.h5"}, false},
    {"predict .npy", {"predict", "tiny.h5", "x.npy", "-o", "pred.npy"}, {"pred.npy"}, false},
    {"predict .h5", {"predict", "tiny.h5", "x.npy", "-o", "pred.h5"}, {"pred.h5"}, false},
    {"export", {"export", "tiny.h5", "-o", "net.c", "--header", "net.h"}, {"net.h", "net.c"}, true},
};
enum { N_SAVE_PATHS = sizeof save_paths / sizeof save_paths[0] };

/* Runs a save path with the tool from dir (arguments are names in dir). */
static void run_path(run_result *r, const save_path *p)
{
    const char *a[20] = {0};
    for (int n = 0; p->args[n]; n++)
        a[n] = strchr(p->args[n], '.') ? at(p->args[n]) : p->args[n];
    run_cli(r, a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9], a[10], a[11], a[12],
            a[13], a[14], a[15], a[16], a[17], a[18], a[19]);
}

static void plant_old_outputs(const save_path *p)
{
    for (int i = 0; i < 3 && p->outputs[i]; i++)
        write_text(at(p->outputs[i]), "old contents\n");
}

static void assert_old_outputs(const save_path *p, const char *fault)
{
    for (int i = 0; i < 3 && p->outputs[i]; i++)
        ck_assert_msg(has_text(at(p->outputs[i]), "old contents\n"), "%s, %s: %s was replaced",
                      p->what, fault, p->outputs[i]);
    ck_assert_msg(count_temps() == 0, "%s, %s: a temporary is left", p->what, fault);
}

typedef struct fault {
    const char *err, *op, *reason;
    long after; /* -1: past the first output, so a pair fails half-way (pairs only) */
} fault;

static const fault faults[] = {
    {"ENOSPC", "write", "No space left on device", 0},
    {"ENOSPC", "write", "No space left on device", 10}, /* a short write first */
    {"EIO", "write", "Input/output error", -1},
    {"EIO", "fsync", "Input/output error", 0},
    {"EFBIG", "write", "File too large", 0},
};

/* The bytes of a path's first output when it succeeds, to fail the
 * second file of a pair after the first is complete. */
static long first_output_size(const save_path *p)
{
    run_result r;
    run_path(&r, p);
    assert_success(&r);
    run_free(&r);
    long size = file_size(at(p->outputs[0]));
    for (int i = 0; i < 3 && p->outputs[i]; i++)
        unlink(at(p->outputs[i]));
    return size + 10;
}

/* Every save path under every fault: exit status 1 (not a crash), one
 * message with the reason naming the user's file (not the temporary),
 * the previous files intact, no temporary left. */
START_TEST(fault_injection_on_every_save_path)
{
    make_dir();
    write_tiny_files();
    for (int i = 0; i < N_SAVE_PATHS; i++) {
        const save_path *p = &save_paths[i];
        long first = p->pair ? first_output_size(p) : 0;
        for (size_t k = 0; k < sizeof faults / sizeof faults[0]; k++) {
            const fault *f = &faults[k];
            if (f->after < 0 && !p->pair)
                continue;
            plant_old_outputs(p);
            faults_on(f->err, f->op, f->after < 0 ? first : f->after, 0);
            run_result r;
            run_path(&r, p);
            faults_off();
            ck_assert_msg(r.status == 1, "%s, %s %s: exit status %d (%s)", p->what, f->err, f->op,
                          r.status, r.err);
            ck_assert_msg(strstr(r.err, f->reason), "%s: %s", p->what, r.err);
            ck_assert_msg(!strstr(r.err, ".tmp-"), "%s names a temporary: %s", p->what, r.err);
            bool named = false;
            for (int o = 0; o < 3 && p->outputs[o]; o++)
                named |= strstr(r.err, p->outputs[o]) != NULL;
            ck_assert_msg(named, "%s: the message names no output: %s", p->what, r.err);
            assert_error(&r, 1, f->reason);
            assert_old_outputs(p, f->err);
            run_free(&r);
        }
    }
    remove_dir();
}
END_TEST

/* Waits (up to 20 s) until a temporary exists in dir. */
static bool temp_appears(void)
{
    for (int i = 0; i < 400; i++) {
        if (count_temps() > 0)
            return true;
        usleep(50000);
    }
    return false;
}

/* SIGINT or SIGTERM during a save: the tool removes its temporary and
 * ends by the signal; the old file stays. The fault library holds the
 * save inside its first write for 30 s. */
START_TEST(signal_mid_save_leaves_no_temporary)
{
    make_dir();
    write_tiny_files();
    const char *build = getenv("CK_BUILD_DIR");
    char bin[512];
    snprintf(bin, sizeof bin, "%s/ckeras", build);
    const int signals[] = {SIGTERM, SIGINT};
    for (int s = 0; s < 2; s++) {
        write_text(at("out.h5"), "old contents\n");
        faults_on(NULL, "write", 0, 30000);
        fflush(NULL);
        pid_t pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
            alarm(60);
            execl(bin, bin, "convert", at("tiny.h5"), "-o", at("out.h5"), (char *)NULL);
            _exit(127);
        }
        faults_off();
        bool seen = temp_appears();
        kill(pid, signals[s]);
        int status;
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert_msg(seen, "no temporary appeared");
        ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == signals[s], "status %d", status);
        ck_assert_int_eq(count_temps(), 0);
        ck_assert(has_text(at("out.h5"), "old contents\n"));
    }
    remove_dir();
}
END_TEST

/* A save killed with SIGKILL leaves its temporary; the next save of the
 * same file removes it. */
START_TEST(sigkill_leftover_swept_by_next_save)
{
    make_dir();
    write_tiny_files();
    const char *build = getenv("CK_BUILD_DIR");
    char bin[512];
    snprintf(bin, sizeof bin, "%s/ckeras", build);
    faults_on(NULL, "write", 0, 30000);
    fflush(NULL);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        alarm(60);
        execl(bin, bin, "convert", at("tiny.h5"), "-o", at("out.h5"), (char *)NULL);
        _exit(127);
    }
    faults_off();
    ck_assert(temp_appears());
    kill(pid, SIGKILL);
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_int_eq(count_temps(), 1);
    run_result r;
    run_cli(&r, "convert", at("tiny.h5"), "-o", at("out.h5"), NULL);
    assert_success(&r);
    run_free(&r);
    ck_assert_int_eq(count_temps(), 0);
    remove_dir();
}
END_TEST

/* -o naming a device, a link to one, or a FIFO: refused for every save
 * path, at once, the node left as it was. */
START_TEST(tool_refuses_special_outputs)
{
    make_dir();
    write_tiny_files();
    device_link();
    ck_assert_int_eq(mkfifo(at("fifo.npy"), 0666), 0);
    ck_assert_int_eq(symlink("fifo.npy", at("fifo.h5")), 0);
    run_cli_deadline(20);
    const char *cases[][3] = {{"dev.h5", "links to a character device", "convert"},
                              {"fifo.h5", "links to a FIFO", "convert"},
                              {"fifo.npy", "is a FIFO", "predict"},
                              {"dev.h5", "links to a character device", "fit"},
                              {"fifo.h5", "links to a FIFO", "checkpoint"},
                              {"fifo.npy", "is a FIFO", "csv"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *out = at(cases[i][0]), *cmd = cases[i][2];
        run_result r;
        if (strcmp(cmd, "convert") == 0)
            run_cli(&r, "convert", at("tiny.h5"), "-o", out, NULL);
        else if (strcmp(cmd, "predict") == 0)
            run_cli(&r, "predict", at("tiny.h5"), at("x.npy"), "-o", out, NULL);
        else
            run_cli(&r, "fit", at("tiny.h5"), "--x", at("x.npy"), "--y", at("y.npy"), "--loss",
                    "sparse_categorical_crossentropy", "--verbose", "0", "-o",
                    strcmp(cmd, "fit") == 0 ? out : at("fit.h5"),
                    strcmp(cmd, "fit") == 0   ? NULL
                    : strcmp(cmd, "csv") == 0 ? "--csv-log"
                                              : "--checkpoint",
                    out, NULL);
        assert_error(&r, 1, cases[i][1]);
        run_free(&r);
    }
    run_cli_deadline(0);
    struct stat sb;
    ck_assert_int_eq(stat(at("dev.h5"), &sb), 0);
    ck_assert(S_ISCHR(sb.st_mode));
    ck_assert_int_eq(lstat(at("fifo.npy"), &sb), 0);
    ck_assert(S_ISFIFO(sb.st_mode));
    ck_assert_int_eq(count_temps(), 0);
    remove_dir();
}
END_TEST

/* An output in a folder that does not exist is refused before training,
 * not after it: -o, and --csv-log as Keras's CSVLogger opens its file at
 * the start. (ModelCheckpoint creates its folders, as in Keras.) */
START_TEST(tool_missing_folder_refused_before_training)
{
    make_dir();
    write_tiny_files();
    for (int log = 0; log < 2; log++) {
        run_result r;
        run_cli(&r, "fit", at("tiny.h5"), "--x", at("x.npy"), "--y", at("y.npy"), "--loss",
                "sparse_categorical_crossentropy", "--verbose", "2", "--csv-log",
                at(log ? "gone/log.csv" : "log.csv"), "-o", at(log ? "fit.h5" : "gone/fit.h5"),
                NULL);
        assert_error(&r, 1, "its folder: No such file or directory");
        run_free(&r);
    }
    ck_assert_int_eq(access(at("fit.h5"), F_OK), -1);
    remove_dir();
}
END_TEST

/* --class-weight FILE that is a FIFO fails at once. */
START_TEST(tool_class_weight_fifo_refused)
{
    make_dir();
    write_tiny_files();
    ck_assert_int_eq(mkfifo(at("w.json"), 0666), 0);
    run_cli_deadline(20);
    run_result r;
    run_cli(&r, "fit", at("tiny.h5"), "--x", at("x.npy"), "--y", at("y.npy"), "--loss",
            "sparse_categorical_crossentropy", "--class-weight", at("w.json"), "--verbose", "0",
            "-o", at("fit.h5"), NULL);
    run_cli_deadline(0);
    assert_error(&r, 1, "not a regular file");
    run_free(&r);
    ck_assert_int_eq(access(at("fit.h5"), F_OK), -1);
    remove_dir();
}
END_TEST

/* With standard output closed, fit refuses before training and leaves
 * its output alone (docs/cli.md). */
START_TEST(tool_closed_stdout_refused)
{
    make_dir();
    write_tiny_files();
    write_text(at("fit.h5"), "old contents\n");
    const char *build = getenv("CK_BUILD_DIR");
    char bin[512];
    snprintf(bin, sizeof bin, "%s/ckeras", build);
    FILE *err = tmpfile();
    ck_assert_ptr_nonnull(err);
    fflush(NULL);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        close(STDOUT_FILENO);
        if (dup2(fileno(err), STDERR_FILENO) < 0)
            _exit(126);
        alarm(60);
        execl(bin, bin, "fit", at("tiny.h5"), "--x", at("x.npy"), "--y", at("y.npy"), "--loss",
              "sparse_categorical_crossentropy", "-o", at("fit.h5"), (char *)NULL);
        _exit(127);
    }
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    char msg[512] = "";
    rewind(err);
    msg[fread(msg, 1, sizeof msg - 1, err)] = '\0';
    fclose(err);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 1, "status %d: %s", status, msg);
    ck_assert_msg(strstr(msg, "ckeras: error: standard output is closed"), "stderr: %s", msg);
    ck_assert(has_text(at("fit.h5"), "old contents\n"));
    ck_assert_int_eq(count_temps(), 0);
    remove_dir();
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("file_safety");
    TCase *tc = tcase_create("files");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, long_name_saves);
    tcase_add_test(tc, stale_temporaries_swept);
    tcase_add_test(tc, special_targets_refused);
    tcase_add_test(tc, read_only_target_refused);
    tcase_add_test(tc, pair_replaced_together);
    tcase_add_test(tc, export_pair_replaced_together);
    tcase_add_test(tc, csv_log_checked_and_appended);
    tcase_add_test(tc, fault_injection_on_every_save_path);
    tcase_add_test(tc, signal_mid_save_leaves_no_temporary);
    tcase_add_test(tc, sigkill_leftover_swept_by_next_save);
    tcase_add_test(tc, tool_refuses_special_outputs);
    tcase_add_test(tc, tool_missing_folder_refused_before_training);
    tcase_add_test(tc, tool_class_weight_fifo_refused);
    tcase_add_test(tc, tool_closed_stdout_refused);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return ck_test_run(suite());
}
