/* Times ckeras on the workloads of ../shared/bench/workloads.json (W1-W4,
 * inference and one Adam training step), prints a table and writes the
 * same JSON-lines records as the peer benchmarks in ../shared/bench. */
#include "bench_time.h"
#include "ckeras.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_LAYERS 16

typedef struct layer_spec {
    bool lstm;
    int units;
    bool return_sequences;
    char activation[16];
} layer_spec;

typedef struct workload {
    char id[8], model[32], loss[48];
    int T, F, batch;
    layer_spec layers[MAX_LAYERS];
    int n_layers;
} workload;

typedef struct options {
    const char *workloads_path, *jsonl_path, *system, *only, *variant;
    int reps, warmup; /* reps 0: as many as fit in target_s, at least 10 */
    int round;        /* of the peers' interleaved rounds (run_all.sh --round) */
    double target_s;
    bool infer, train;
} options;

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    rewind(f);
    char *s = malloc((size_t)n + 1);
    if (s && fread(s, 1, (size_t)n, f) != (size_t)n) {
        free(s);
        s = NULL;
    }
    if (s)
        s[n] = '\0';
    fclose(f);
    return s;
}

static int json_int(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? v->valueint : 0;
}

static const char *json_str(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : "";
}

static int parse_layers(const cJSON *model, workload *w, const char *variant)
{
    const cJSON *l;
    cJSON_ArrayForEach(l, cJSON_GetObjectItemCaseSensitive(model, "layers"))
    {
        if (w->n_layers == MAX_LAYERS)
            return -1;
        layer_spec *s = &w->layers[w->n_layers++];
        s->lstm = strcmp(json_str(l, "type"), "lstm") == 0;
        s->units = json_int(l, "units");
        s->return_sequences = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(l, "return_sequences"));
        snprintf(s->activation, sizeof s->activation, "%s", json_str(l, "activation"));
        /* The tanh variant forces LSTM activations to tanh, as fused peers need. */
        if (s->lstm && strcmp(variant, "tanh") == 0)
            snprintf(s->activation, sizeof s->activation, "tanh");
    }
    snprintf(w->loss, sizeof w->loss, "%s", json_str(model, "loss"));
    return 0;
}

static int load_workloads(const char *path, const char *variant, workload *out, int max)
{
    char *text = read_file(path);
    if (!text) {
        fprintf(stderr, "ckeras_bench: cannot read %s\n", path);
        return -1;
    }
    cJSON *root = cJSON_Parse(text);
    free(text);
    const cJSON *models = cJSON_GetObjectItemCaseSensitive(root, "models"), *wj;
    int n = 0;
    cJSON_ArrayForEach(wj, cJSON_GetObjectItemCaseSensitive(root, "workloads"))
    {
        if (n == max)
            break;
        workload *w = &out[n];
        memset(w, 0, sizeof *w);
        snprintf(w->id, sizeof w->id, "%s", json_str(wj, "id"));
        snprintf(w->model, sizeof w->model, "%s", json_str(wj, "model"));
        w->T = json_int(wj, "T");
        w->F = json_int(wj, "F");
        w->batch = json_int(wj, "batch");
        if (parse_layers(cJSON_GetObjectItemCaseSensitive(models, w->model), w, variant) == 0)
            n++;
    }
    cJSON_Delete(root);
    return n;
}

/* FLOPs by the convention of workloads.json ("flop_model"). */
static double forward_flops(const workload *w)
{
    double f = 0, in = w->F, B = w->batch;
    for (int i = 0; i < w->n_layers; i++) {
        const layer_spec *s = &w->layers[i];
        double H = s->units;
        if (s->lstm)
            f += w->T * (2 * B * (in + H) * 4 * H + 13 * B * H);
        else
            f += 2 * B * in * H + 2 * B * H +
                 (strcmp(s->activation, "softmax") == 0 ? 3 * B * H : 0);
        in = H;
    }
    return f;
}

static ck_model *build_model(const workload *w)
{
    ck_model *m = ck_sequential(.seed = 42);
    ck_status st = ck_model_add(m, ck_input(w->T, w->F));
    for (int i = 0; i < w->n_layers && st == CK_OK; i++) {
        const layer_spec *s = &w->layers[i];
        st = ck_model_add(m, s->lstm ? ck_lstm(s->units, .activation = s->activation,
                                               .return_sequences = s->return_sequences)
                                     : ck_dense(s->units, .activation = s->activation));
    }
    if (st == CK_OK)
        st = ck_model_build(m);
    if (st != CK_OK) {
        fprintf(stderr, "ckeras_bench: %s: %s\n", w->id, ck_last_error());
        ck_model_free(m);
        return NULL;
    }
    return m;
}

static void fill_uniform(float *x, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        x[i] = (float)(seed >> 8) / 16777216.0f * 2.0f - 1.0f;
    }
}

/* Targets: one-hot rows for classification, values in [-1, 1] for MSE. */
static void fill_targets(const workload *w, float *y, size_t n, size_t classes)
{
    if (strstr(w->loss, "crossentropy")) {
        memset(y, 0, n * sizeof *y);
        for (size_t r = 0; r < n / classes; r++)
            y[r * classes + r % classes] = 1.0f;
    } else {
        fill_uniform(y, n, 7);
    }
}

typedef struct result {
    double med, lo, hi;
    double *times;
    int n;
} result;

static ck_status run_step(ck_model *m, bool train, const ck_tensor *tx, const ck_tensor *ty,
                          const float *x, int64_t batch, float *pred)
{
    return train ? ck_model_train_on_batch(m, tx, ty, NULL) : ck_model_predict(m, x, batch, pred);
}

static int time_mode(ck_model *m, const workload *w, bool train, const options *o, result *r)
{
    int rank;
    int64_t od[CK_MAX_RANK];
    ck_model_output_shape(m, &rank, od);
    size_t out_n = 1, in_n = (size_t)w->batch * (size_t)w->T * (size_t)w->F;
    for (int i = 0; i < rank; i++)
        out_n *= (size_t)od[i];
    float *x = malloc(in_n * sizeof *x), *y = malloc(out_n * (size_t)w->batch * sizeof *y);
    fill_uniform(x, in_n, 1);
    fill_targets(w, y, out_n * (size_t)w->batch, (size_t)od[rank - 1]);
    ck_tensor tx = {.rank = 3, .dims = {w->batch, w->T, w->F}, .data = x};
    ck_tensor ty = {.rank = rank + 1, .dims = {w->batch}, .data = y};
    memcpy(ty.dims + 1, od, sizeof(int64_t) * (size_t)rank);
    float *pred = malloc(out_n * (size_t)w->batch * sizeof *pred);
    int status = 0;
    double one = 1.0;
    /* As the peers do (bench_torch.py, bench_onednn.cpp): warm up first,
     * then size the run by one warm call. Sized by the first call, which
     * packs, JITs and touches fresh memory, a 1 ms step got 40 reps. */
    for (int i = 0; i < o->warmup + 1 && status == 0; i++) {
        double t0 = now_ms();
        status = run_step(m, train, &tx, &ty, x, w->batch, pred) == CK_OK ? 0 : -1;
        one = now_ms() - t0;
    }
    int reps = o->reps;
    if (reps == 0) {
        reps = (int)(o->target_s * 1e3 / (one > 1e-3 ? one : 1e-3));
        reps = reps < 10 ? 10 : reps > 2000 ? 2000 : reps;
    }
    r->times = malloc(sizeof(double) * (size_t)reps);
    r->n = 0;
    for (int i = 0; i < reps && status == 0; i++) {
        double t0 = now_ms();
        ck_status st = run_step(m, train, &tx, &ty, x, w->batch, pred);
        double t = now_ms() - t0;
        if (st != CK_OK)
            status = -1;
        else
            r->times[r->n++] = t;
    }
    if (status)
        fprintf(stderr, "ckeras_bench: %s %s: %s\n", w->id, train ? "train" : "infer",
                ck_last_error());
    free(x);
    free(y);
    free(pred);
    if (status || r->n == 0)
        return -1;
    double *sorted = malloc(sizeof(double) * (size_t)r->n);
    memcpy(sorted, r->times, sizeof(double) * (size_t)r->n);
    qsort(sorted, (size_t)r->n, sizeof(double), cmp_double);
    r->med = r->n % 2 ? sorted[r->n / 2] : 0.5 * (sorted[r->n / 2 - 1] + sorted[r->n / 2]);
    r->lo = sorted[0];
    r->hi = sorted[r->n - 1];
    free(sorted);
    return 0;
}

static double peak_rss_mb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss / 1024.0;
}

static double current_rss_mb(void)
{
    long pages = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &resident) != 2)
            resident = 0;
        fclose(f);
    }
    return (double)resident * (double)sysconf(_SC_PAGESIZE) / (1024.0 * 1024.0);
}

static void write_jsonl(FILE *f, const options *o, const workload *w, const char *mode,
                        const result *r)
{
    const char *core = getenv("OPENBLAS_CORETYPE");
    fprintf(
        f,
        "{\"tool\":\"bench\",\"system\":\"%s\",\"workload\":\"%s\",\"mode\":\"%s\",\"batch\":%d,"
        "\"threads\":2,\"round\":%d,\"times_ms\":[",
        o->system, w->id, mode, w->batch, o->round);
    for (int i = 0; i < r->n; i++)
        fprintf(f, "%s%.4f", i ? "," : "", r->times[i]);
    fprintf(f, "],\"note\":\"ckeras %s, OPENBLAS_CORETYPE=%s\"}\n", CK_VERSION_STRING,
            core ? core : "unset");
}

static void usage(void)
{
    fprintf(
        stderr,
        "usage: ckeras_bench [--workloads FILE] [--only W1,W2] [--mode infer|train|both]\n"
        "                    [--reps N | --target-s SECONDS] [--warmup N] [--variant relu|tanh]\n"
        "                    [--system NAME] [--jsonl FILE] [--round N]\n"
        "Each workload and mode runs in its own process, so RSS MB is its own peak\n"
        "and +MB what it added to the process it started in.\n");
}

static int parse_args(int argc, char **argv, options *o)
{
    const char *mode = "both";
    if (argc % 2 == 0) {
        usage();
        return -1;
    }
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *a = argv[i], *v = argv[i + 1];
        if (strcmp(a, "--workloads") == 0)
            o->workloads_path = v;
        else if (strcmp(a, "--only") == 0)
            o->only = v;
        else if (strcmp(a, "--mode") == 0)
            mode = v;
        else if (strcmp(a, "--reps") == 0)
            o->reps = atoi(v);
        else if (strcmp(a, "--warmup") == 0)
            o->warmup = atoi(v);
        else if (strcmp(a, "--target-s") == 0)
            o->target_s = atof(v);
        else if (strcmp(a, "--variant") == 0)
            o->variant = v;
        else if (strcmp(a, "--system") == 0)
            o->system = v;
        else if (strcmp(a, "--jsonl") == 0)
            o->jsonl_path = v;
        else if (strcmp(a, "--round") == 0)
            o->round = atoi(v);
        else {
            usage();
            return -1;
        }
    }
    o->infer = strcmp(mode, "train") != 0;
    o->train = strcmp(mode, "infer") != 0;
    return o->reps >= 0 && o->warmup >= 0 && o->round >= 0 && o->target_s > 0 ? 0 : -1;
}

/* One workload in one mode, in the calling (child) process. */
static int run_one(const workload *w, bool train, const options *o, FILE *jl)
{
    double rss_start = current_rss_mb();
    ck_model *m = build_model(w);
    if (!m)
        return -1;
    if (train && ck_model_compile(m, .optimizer = ck_adam(), .loss = w->loss) != CK_OK) {
        fprintf(stderr, "ckeras_bench: %s: %s\n", w->id, ck_last_error());
        ck_model_free(m);
        return -1;
    }
    result r = {0};
    int status = time_mode(m, w, train, o, &r);
    if (status == 0) {
        /* Train: 3x forward plus 10 FLOPs per parameter (Adam), per workloads.json. */
        double fl = forward_flops(w);
        if (train)
            fl = 3 * fl + 10.0 * (double)ck_model_count_params(m);
        double peak = peak_rss_mb();
        printf("%-14s %-3s %3d %-6s %10.3f [%9.3f -%9.3f] %9.1f %8.2f %7.1f %7.1f\n", o->system,
               w->id, w->batch, train ? "train" : "infer", r.med, r.lo, r.hi,
               w->batch / (r.med * 1e-3), fl / (r.med * 1e-3) / 1e9, peak, peak - rss_start);
        fflush(stdout);
        if (jl) {
            write_jsonl(jl, o, w, train ? "train" : "infer", &r);
            fflush(jl);
        }
    }
    free(r.times);
    ck_model_free(m);
    return status;
}

int main(int argc, char **argv)
{
    options o = {.workloads_path = "../shared/bench/workloads.json",
                 .system = NULL,
                 .variant = "relu",
                 .reps = 0,
                 .warmup = 5,
                 .target_s = 1.5};
    if (parse_args(argc, argv, &o) != 0)
        return 2;
    char sysname[64];
    snprintf(sysname, sizeof sysname, "ckeras-%s", o.variant);
    if (!o.system)
        o.system = sysname;
    workload ws[8];
    int n = load_workloads(o.workloads_path, o.variant, ws, 8);
    if (n <= 0)
        return 1;
    FILE *jl = o.jsonl_path ? fopen(o.jsonl_path, "a") : NULL;
    printf("%-14s %-3s %3s %-6s %10s %21s %9s %8s %7s %7s\n", "system", "wl", "B", "mode",
           "ms/batch", "[min - max]", "seq/s", "GFLOP/s", "RSS MB", "+MB");
    fflush(stdout);
    int failures = 0;
    for (int i = 0; i < n; i++) {
        if (o.only && !strstr(o.only, ws[i].id))
            continue;
        for (int t = 0; t < 2; t++) {
            bool train = t == 1;
            if ((train && !o.train) || (!train && !o.infer))
                continue;
            /* A fresh process per run: peak RSS is this run's alone, and no
             * run inherits another's heap or BLAS thread state. */
            pid_t pid = fork();
            if (pid == 0)
                _exit(run_one(&ws[i], train, &o, jl) == 0 ? 0 : 1);
            int wstatus = 0;
            if (pid < 0 || waitpid(pid, &wstatus, 0) < 0 || !WIFEXITED(wstatus) ||
                WEXITSTATUS(wstatus) != 0)
                failures++;
        }
    }
    if (jl)
        fclose(jl);
    return failures ? 1 : 0;
}
