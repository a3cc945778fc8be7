/* What a user of a saved Keras model pays beyond the math (issue 17): the
 * start of the ckeras process, loading the model file, `ckeras predict`
 * on 128 sequences from a .npy file (with the tool as built, and the
 * static tool when given) against the predict compute of the same
 * sequences, and batch-1 predictions from 1, 2 and 4 threads on one
 * shared model. Public API only; the tool is run as a user runs it. */
#include "bench_time.h"
#include "ckeras.h"

#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SEQUENCES 128
#define CLI_BATCH 32 /* ckeras predict's default --batch-size */
#define MAX_REPS 1000
#define MAX_THREADS 4

typedef struct options {
    const char *model, *cli, *static_cli, *dir, *jsonl; /* static_cli: NULL for none */
    int reps;
    double seconds; /* per throughput measurement */
} options;

typedef struct stats {
    double med, lo, hi;
} stats;

static stats summarize(double *t, int n)
{
    qsort(t, (size_t)n, sizeof *t, cmp_double);
    double med = n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]);
    return (stats){med, t[0], t[n - 1]};
}

static FILE *jsonl;

/* One row of the table, and the same numbers as a JSON line. */
static void row(const char *name, const stats *s, int n, double seq_per_s, const char *note)
{
    char seq[32] = "";
    if (seq_per_s > 0)
        snprintf(seq, sizeof seq, "%.1f", seq_per_s);
    if (s)
        printf("%-44s %9.3f [%8.3f - %8.3f] %9s  %s\n", name, s->med, s->lo, s->hi, seq, note);
    else
        printf("%-44s %9s %21s %9s  %s\n", name, "", "", seq, note);
    fflush(stdout);
    if (!jsonl)
        return;
    fprintf(jsonl, "{\"tool\":\"e2e\",\"row\":\"%s\",\"n\":%d", name, n);
    if (s)
        fprintf(jsonl, ",\"ms_med\":%.4f,\"ms_min\":%.4f,\"ms_max\":%.4f", s->med, s->lo, s->hi);
    if (seq_per_s > 0)
        fprintf(jsonl, ",\"seq_per_s\":%.2f", seq_per_s);
    fprintf(jsonl, ",\"note\":\"%s\"}\n", note);
    fflush(jsonl);
}

/* Wall time of one run of the tool, or a negative value when it failed. */
static double run_tool(char *const *argv)
{
    double t0 = now_ms();
    pid_t pid = fork();
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        if (null >= 0)
            dup2(null, STDOUT_FILENO);
        execv(argv[0], argv);
        _exit(127);
    }
    int status = 0;
    if (pid < 0 || waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return -1;
    return now_ms() - t0;
}

static int time_tool(char *const *argv, int reps, stats *out)
{
    double t[MAX_REPS];
    for (int i = 0; i < reps; i++)
        if ((t[i] = run_tool(argv)) < 0) {
            fprintf(stderr, "ckeras_e2e: %s %s failed\n", argv[0], argv[1]);
            return -1;
        }
    *out = summarize(t, reps);
    return 0;
}

static void fill_uniform(float *x, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        x[i] = (float)(seed >> 8) / 16777216.0f * 2.0f - 1.0f;
    }
}

/* Values per sample of the model's input and output. */
static void sample_sizes(const ck_model *m, size_t *in, size_t *out, ck_tensor *x)
{
    int rank;
    int64_t dims[CK_MAX_RANK];
    ck_model_input_shape(m, &rank, dims);
    x->rank = rank + 1;
    *in = 1;
    for (int i = 0; i < rank; i++)
        *in *= (size_t)(x->dims[i + 1] = dims[i]);
    ck_model_output_shape(m, &rank, dims);
    *out = 1;
    for (int i = 0; i < rank; i++)
        *out *= (size_t)dims[i];
}

/* Loads of path (row `name`); `first` names what its first load was. */
static int time_load(const options *o, const char *path, const char *name, const char *first_what)
{
    double t[MAX_REPS], first = 0;
    for (int i = 0; i < o->reps; i++) {
        ck_model *m = NULL;
        double t0 = now_ms();
        ck_status st = ck_model_load(path, &m);
        t[i] = now_ms() - t0;
        ck_model_free(m);
        if (st != CK_OK) {
            fprintf(stderr, "ckeras_e2e: %s: %s\n", path, ck_last_error());
            return -1;
        }
        if (i == 0)
            first = t[0];
    }
    struct stat sb;
    char note[160];
    snprintf(note, sizeof note, "%.1f MB file; %s %.3f ms; goal < 10 ms",
             stat(path, &sb) == 0 ? (double)sb.st_size / 1e6 : 0.0, first_what, first);
    stats s = summarize(t, o->reps);
    row(name, &s, o->reps, 0, note);
    return 0;
}

/* The same model saved as a Keras 3 .keras archive, loaded. */
static int time_keras_load(const options *o, ck_model *m)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/e2e_model.keras", o->dir);
    if (ck_model_save(m, path) != CK_OK) {
        fprintf(stderr, "ckeras_e2e: %s: %s\n", path, ck_last_error());
        return -1;
    }
    int rc = time_load(o, path, "model load, same model as .keras", "its first load");
    remove(path);
    return rc;
}

/* The compute the CLI runs: batches of CLI_BATCH over the sequences. */
static ck_status predict_all(ck_model *m, const ck_tensor *x, float *y, size_t out_n)
{
    ck_status st = CK_OK;
    for (int64_t b = 0; st == CK_OK && b < x->dims[0]; b += CLI_BATCH) {
        ck_tensor xc = *x, yc = {.rank = 1, .dims = {CLI_BATCH * (int64_t)out_n}};
        xc.dims[0] = x->dims[0] - b < CLI_BATCH ? x->dims[0] - b : CLI_BATCH;
        xc.data = x->data + (size_t)b * ck_tensor_size(x) / (size_t)x->dims[0];
        yc.data = y + (size_t)b * out_n;
        st = ck_model_predict_tensor(m, &xc, &yc);
    }
    return st;
}

static int time_compute(ck_model *m, const ck_tensor *x, size_t out_n, int reps, stats *out)
{
    float *y = malloc(sizeof(float) * out_n * (size_t)x->dims[0]);
    double t[MAX_REPS];
    ck_status st = CK_OK;
    for (int i = -3; y && st == CK_OK && i < reps; i++) { /* 3 warm-up runs */
        double t0 = now_ms();
        st = predict_all(m, x, y, out_n);
        if (i >= 0)
            t[i] = now_ms() - t0;
    }
    free(y);
    if (!y || st != CK_OK) {
        fprintf(stderr, "ckeras_e2e: predict: %s\n", y ? ck_last_error() : "out of memory");
        return -1;
    }
    *out = summarize(t, reps);
    return 0;
}

/* The process start alone and `ckeras predict` on npy of one build of the
 * tool (rows named start_row and predict_row), against the compute. */
static int time_tool_rows(const options *o, const char *cli, const char *start_row,
                          const char *predict_row, char *npy, char *out, const stats *compute)
{
    char *version[] = {(char *)cli, "--version", NULL};
    char *predict[] = {(char *)cli, "predict", (char *)o->model, npy, "-o", out, NULL};
    stats start, run;
    if (time_tool(version, o->reps, &start) != 0 || time_tool(predict, o->reps, &run) != 0)
        return -1;
    char note[160];
    row(start_row, &start, o->reps, 0, "dynamic loading and library init");
    snprintf(note, sizeof note, "%.2fx the predict compute (goal < 2)", run.med / compute->med);
    row(predict_row, &run, o->reps, SEQUENCES / (run.med * 1e-3), note);
    return 0;
}

/* The compute of 128 predictions in this process, then the start and
 * `ckeras predict` of the same sequences from x.npy, for the tool and,
 * when given, the static tool. */
static int time_cli(const options *o, ck_model *m, const ck_tensor *x, size_t out_n)
{
    char npy[4096], out[4096];
    snprintf(npy, sizeof npy, "%s/e2e_x.npy", o->dir);
    snprintf(out, sizeof out, "%s/e2e_y.npy", o->dir);
    if (ck_npy_write(npy, x) != CK_OK) {
        fprintf(stderr, "ckeras_e2e: %s\n", ck_last_error());
        return -1;
    }
    stats compute;
    int rc = time_compute(m, x, out_n, o->reps, &compute);
    if (rc == 0) {
        char note[160];
        snprintf(note, sizeof note, "%d sequences, batches of %d, in process", SEQUENCES,
                 CLI_BATCH);
        row("predict compute, 128 x 30x1662", &compute, o->reps, SEQUENCES / (compute.med * 1e-3),
            note);
        rc = time_tool_rows(o, o->cli, "process start (ckeras --version)",
                            "CLI predict, 128 sequences from .npy", npy, out, &compute);
    }
    if (rc == 0 && o->static_cli)
        rc = time_tool_rows(o, o->static_cli, "static tool: process start",
                            "static tool: CLI predict, same .npy", npy, out, &compute);
    unlink(npy);
    unlink(out);
    return rc;
}

typedef struct worker {
    ck_model *m;
    const float *x, *ref; /* ref: the output of a predict alone */
    size_t out_n;
    pthread_barrier_t *start; /* after each thread's warm-up */
    atomic_bool *stop;
    long count;
    char error[256]; /* empty while all is well */
} worker;

/* Predicts until told to stop; a failure or an output that differs from
 * the one of a predict alone (the shared model must stay correct) ends it. */
static void *worker_main(void *arg)
{
    worker *w = arg;
    float *y = malloc(sizeof(float) * w->out_n);
    bool ok = y != NULL;
    for (int i = 0; i < 5 && ok; i++)
        ok = ck_model_predict(w->m, w->x, 1, y) == CK_OK;
    pthread_barrier_wait(w->start);
    while (ok && !atomic_load(w->stop)) {
        ok = ck_model_predict(w->m, w->x, 1, y) == CK_OK;
        for (size_t i = 0; ok && !w->error[0] && i < w->out_n; i++)
            if (fabsf(y[i] - w->ref[i]) > 1e-6f)
                snprintf(w->error, sizeof w->error, "output #%zu is %.9g, alone %.9g", i,
                         (double)y[i], (double)w->ref[i]);
        ok = ok && !w->error[0];
        w->count++;
    }
    if (!ok && !w->error[0])
        snprintf(w->error, sizeof w->error, "%s", y ? ck_last_error() : "out of memory");
    free(y);
    return NULL;
}

/* Sequences per second of `n` threads predicting one sequence at a time
 * on the same model; 0 when a predict failed. */
static double throughput(ck_model *m, const float *x, const float *ref, size_t out_n, int n,
                         double seconds)
{
    atomic_bool stop = false;
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, (unsigned)n + 1);
    worker w[MAX_THREADS];
    pthread_t t[MAX_THREADS];
    for (int i = 0; i < n; i++) {
        w[i] = (worker){.m = m, .x = x, .ref = ref, .out_n = out_n, .start = &start, .stop = &stop};
        pthread_create(&t[i], NULL, worker_main, &w[i]);
    }
    pthread_barrier_wait(&start);
    double t0 = now_ms();
    struct timespec nap = {(time_t)seconds, (long)((seconds - (double)(time_t)seconds) * 1e9)};
    nanosleep(&nap, NULL);
    atomic_store(&stop, true);
    long total = 0;
    bool ok = true;
    for (int i = 0; i < n; i++) {
        pthread_join(t[i], NULL);
        total += w[i].count;
        if (w[i].error[0] && ok)
            fprintf(stderr, "ckeras_e2e: batch-1 predict, %d threads: %s\n", n, w[i].error);
        ok = ok && !w[i].error[0];
    }
    double elapsed = now_ms() - t0;
    pthread_barrier_destroy(&start);
    return ok ? total / (elapsed * 1e-3) : 0;
}

static int time_threads(const options *o, ck_model *m, const float *x, size_t out_n)
{
    static const int counts[] = {1, 2, MAX_THREADS};
    float *ref = malloc(sizeof(float) * out_n);
    if (!ref || ck_model_predict(m, x, 1, ref) != CK_OK) {
        fprintf(stderr, "ckeras_e2e: batch-1 predict: %s\n", ref ? ck_last_error() : "no memory");
        free(ref);
        return -1;
    }
    for (int i = 0; i < 3; i++) {
        double rate = throughput(m, x, ref, out_n, counts[i], o->seconds);
        if (rate <= 0) {
            free(ref);
            return -1;
        }
        char name[64], note[96];
        snprintf(name, sizeof name, "batch-1 predicts, %d thread%s, one model", counts[i],
                 counts[i] > 1 ? "s" : "");
        snprintf(note, sizeof note, "sequences/s over %.1f s, outputs as a predict alone",
                 o->seconds);
        row(name, NULL, 1, rate, note);
    }
    free(ref);
    return 0;
}

static int run(const options *o)
{
    ck_model *m = NULL;
    if (time_load(o, o->model, "model load (ck_model_load)", "first load of the process") != 0 ||
        ck_model_load(o->model, &m) != CK_OK || time_keras_load(o, m) != 0) {
        ck_model_free(m);
        return 1;
    }
    ck_tensor x = {.dims = {SEQUENCES}};
    size_t in_n, out_n;
    sample_sizes(m, &in_n, &out_n, &x);
    x.data = malloc(sizeof(float) * in_n * SEQUENCES);
    int rc = x.data ? 0 : 1;
    if (rc == 0) {
        fill_uniform(x.data, in_n * SEQUENCES, 1);
        rc = time_cli(o, m, &x, out_n);
    }
    if (rc == 0)
        rc = time_threads(o, m, x.data, out_n);
    free(x.data);
    ck_model_free(m);
    return rc ? 1 : 0;
}

static void usage(void)
{
    fprintf(stderr, "usage: ckeras_e2e [--model FILE.h5] [--cli PATH] [--static-cli PATH]\n"
                    "                  [--dir DIR] [--reps N] [--seconds S] [--jsonl FILE]\n"
                    "Defaults: ../shared/fixtures/keras/hanh_action.h5, the ckeras next to\n"
                    "this program, no static tool, /tmp, 15 runs, 1.5 s per thread count.\n");
}

/* The ckeras tool built beside this program. */
static void default_cli(const char *argv0, char *buf, size_t len)
{
    const char *slash = strrchr(argv0, '/');
    int dir = slash ? (int)(slash - argv0) : 1;
    snprintf(buf, len, "%.*s/ckeras", dir, slash ? argv0 : ".");
}

static int parse_args(int argc, char **argv, options *o)
{
    if (argc % 2 == 0)
        return -1;
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *a = argv[i], *v = argv[i + 1];
        if (strcmp(a, "--model") == 0)
            o->model = v;
        else if (strcmp(a, "--cli") == 0)
            o->cli = v;
        else if (strcmp(a, "--static-cli") == 0)
            o->static_cli = v;
        else if (strcmp(a, "--dir") == 0)
            o->dir = v;
        else if (strcmp(a, "--reps") == 0)
            o->reps = atoi(v);
        else if (strcmp(a, "--seconds") == 0)
            o->seconds = atof(v);
        else if (strcmp(a, "--jsonl") == 0)
            o->jsonl = v;
        else
            return -1;
    }
    return o->reps >= 1 && o->reps <= MAX_REPS && o->seconds > 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
    char cli[4096];
    default_cli(argv[0], cli, sizeof cli);
    options o = {.model = "../shared/fixtures/keras/hanh_action.h5",
                 .cli = cli,
                 .dir = "/tmp",
                 .reps = 15,
                 .seconds = 1.5};
    if (parse_args(argc, argv, &o) != 0) {
        usage();
        return 2;
    }
    jsonl = o.jsonl ? fopen(o.jsonl, "a") : NULL;
    printf("== ckeras end to end (%s, %s; ms: median [min - max] of %d runs) ==\n", o.model,
           ck_blas_backend(), o.reps);
    printf("%-44s %9s %21s %9s  %s\n", "row", "ms", "[min - max]", "seq/s", "note");
    int rc = run(&o);
    if (jsonl)
        fclose(jsonl);
    return rc;
}
