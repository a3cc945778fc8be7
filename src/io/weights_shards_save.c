/* Writing Keras 3.10+ sharded weights as save_weights("NAME.weights.json",
 * max_shard_size=...) does (the layout is described in weights_shards.c):
 * the same variables, split at the same points into the same file names,
 * and the index as Keras 3.11+ writes it, byte for byte. The shards hold
 * the variables' groups only, as ckeras's .weights.h5 does (Keras also
 * leaves empty groups named after each object). */
#include "ck_io.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct shard_job {
    const ck_k3_var *vars;
    const int *shard_of;
    int n, shard;
} shard_job;

static ck_status write_shard(hid_t file, void *ctx)
{
    const shard_job *job = ctx;
    for (int i = 0; i < job->n; i++) {
        if (job->shard_of[i] != job->shard)
            continue;
        const ck_weight *w = job->vars[i].w;
        char ds[sizeof job->vars[i].vars + 16];
        snprintf(ds, sizeof ds, "%s/%d", job->vars[i].vars, job->vars[i].index);
        CK_TRY(ck_h5_write_weight(file, ds, w));
    }
    return CK_OK;
}

/* ShardedH5IOStore.__setitem__: a variable that takes the shard past the
 * limit starts the next one; one larger than the limit is refused. Sizes
 * are bytes as Keras stores them (float32, int64 counts), compared as
 * Keras compares them (in bytes from 3.11, in GB in 3.10: the same
 * outcome). */
static ck_status assign_shards(const ck_k3_var *v, int n, double max_bytes, int *shard_of,
                               double *total)
{
    double current = 0;
    int shard = 0;
    *total = 0;
    for (int i = 0; i < n; i++) {
        double size = (double)v[i].w->size * (v[i].w->int64 ? 8 : 4);
        if (size > max_bytes)
            return ck_error(CK_ERR_ARGUMENT,
                            "'%s/%d' takes %.0f bytes, more than the maximum shard size (%.0f "
                            "bytes), as Keras refuses it",
                            v[i].vars, v[i].index, size, max_bytes);
        *total += size;
        current += size;
        if (current > max_bytes) {
            shard++;
            current = size;
        }
        shard_of[i] = shard;
    }
    return CK_OK;
}

/* pathlib's stem with every ".weights" removed, as Keras names shards. */
static ck_status shard_base(const char *path, char *base, size_t len)
{
    const char *name = strrchr(path, '/');
    name = name ? name + 1 : path;
    size_t n = strlen(name) - strlen(".json"), o = 0;
    for (size_t i = 0; i < n && o + 1 < len; i++) {
        if (strncmp(name + i, ".weights", 8) == 0 && i + 8 <= n) {
            i += 7;
            continue;
        }
        /* The index would need JSON escapes for these. */
        if (name[i] < 0x20 || name[i] > 0x7e || name[i] == '"' || name[i] == '\\')
            return ck_error(CK_ERR_ARGUMENT,
                            "'%s': ckeras names shards after an index named in printable ASCII "
                            "without '\"' or '\\\\'",
                            path);
        base[o++] = name[i];
    }
    base[o] = '\0';
    return o + 1 < len ? CK_OK : ck_error(CK_ERR_ARGUMENT, "'%s': the name is too long", path);
}

typedef struct text {
    char *buf;
    size_t len, cap;
    bool failed;
} text;

static void put(text *t, const char *s)
{
    size_t n = strlen(s);
    if (!t->failed && t->len + n + 1 > t->cap) {
        char *grown = ck_realloc_array(t->buf, 2 * (t->len + n + 1), 1);
        t->failed = !grown;
        if (grown) {
            t->buf = grown;
            t->cap = 2 * (t->len + n + 1);
        }
    }
    if (t->failed)
        return;
    memcpy(t->buf + t->len, s, n + 1);
    t->len += n;
}

static void shard_name(const char *base, int shard, char *out, size_t len)
{
    snprintf(out, len, "%s_%05d.weights.h5", base, shard);
}

/* One weight_map entry: the shard of a group that received one variable,
 * else the list of its shards without repeats (Keras 3.11+). */
static void put_entry(text *t, const ck_k3_var *v, const int *shard_of, int from, int to,
                      const char *base)
{
    char name[600];
    put(t, "        \"/");
    put(t, v[from].vars);
    put(t, "\": ");
    if (to - from == 1) {
        shard_name(base, shard_of[from], name, sizeof name);
        put(t, "\"");
        put(t, name);
        put(t, "\"");
        return;
    }
    put(t, "[");
    for (int i = from; i < to; i++) {
        if (i > from && shard_of[i] == shard_of[i - 1])
            continue;
        shard_name(base, shard_of[i], name, sizeof name);
        put(t, i > from ? ",\n            \"" : "\n            \"");
        put(t, name);
        put(t, "\"");
    }
    put(t, "\n        ]");
}

/* json.dumps(config, indent=4): "{}" for an empty map, no final newline. */
static char *index_json(const ck_k3_var *v, const int *shard_of, int n, double total,
                        const char *base)
{
    text t = {0};
    char num[64] = "0"; /* Keras's count starts as the integer 0 */
    if (n)
        snprintf(num, sizeof num, "%.1f", total);
    put(&t, "{\n    \"metadata\": {\n        \"total_size\": ");
    put(&t, num);
    put(&t, n ? "\n    },\n    \"weight_map\": {\n" : "\n    },\n    \"weight_map\": {}\n}");
    for (int i = 0, next; i < n; i = next) {
        next = i + 1;
        while (next < n && strcmp(v[next].vars, v[i].vars) == 0)
            next++;
        put_entry(&t, v, shard_of, i, next, base);
        put(&t, next < n ? ",\n" : "\n    }\n}");
    }
    if (t.failed) {
        free(t.buf);
        return NULL;
    }
    return t.buf;
}

static ck_status write_files(ck_model *m, const char *path, const ck_k3_var *v, const int *shard_of,
                             int n, double total)
{
    char base[512], *shard_path = NULL;
    CK_TRY(shard_base(path, base, sizeof base));
    const char *slash = strrchr(path, '/');
    size_t dir = slash ? (size_t)(slash - path) + 1 : 0;
    shard_path = ck_alloc(dir + strlen(base) + 32, 1);
    if (!shard_path)
        return CK_ERR_MEMORY;
    /* Every shard and the index are written before any replaces a file
     * of an earlier save, which would otherwise mix two saves' weights. */
    ck_io_group *g = ck_io_group_begin();
    ck_status st = g ? CK_OK : CK_ERR_MEMORY;
    int last = n ? shard_of[n - 1] : 0;
    if (last + 2 > CK_IO_GROUP_MAX)
        st = ck_error(CK_ERR_ARGUMENT,
                      "'%s': %d shards; ckeras writes at most %d at once (choose a larger "
                      "max_shard_size)",
                      path, last + 1, CK_IO_GROUP_MAX - 1);
    for (int s = 0; st == CK_OK && s <= last; s++) {
        memcpy(shard_path, path, dir);
        shard_name(base, s, shard_path + dir, strlen(base) + 32);
        st = ck_io_atomic_h5(shard_path, write_shard, &(shard_job){v, shard_of, n, s});
    }
    free(shard_path);
    char *json = st == CK_OK ? index_json(v, shard_of, n, total, base) : NULL;
    if (st == CK_OK && !json)
        st = ck_error(CK_ERR_MEMORY, "out of memory writing the index of model %s", m->name);
    if (st == CK_OK)
        st = ck_io_atomic_bytes(path, json, strlen(json));
    free(json);
    return g ? ck_io_group_end(g, st) : st;
}

ck_status ck_io_save_weights_sharded(ck_model *m, const char *path, double max_shard_size)
{
    if (!(max_shard_size > 0) || !isfinite(max_shard_size))
        return ck_error(CK_ERR_ARGUMENT,
                        "'%s': sharded weights need a max_shard_size (GB) above 0, as Keras's "
                        "save_weights does for a .weights.json",
                        path);
    ck_k3_var *v;
    int n;
    CK_TRY(ck_k3_vars(m, &v, &n));
    int *shard_of = ck_alloc(n ? (size_t)n : 1, sizeof *shard_of);
    double total;
    ck_status st = shard_of
                       ? assign_shards(v, n, max_shard_size * 1024 * 1024 * 1024, shard_of, &total)
                       : CK_ERR_MEMORY;
    if (st == CK_OK)
        st = write_files(m, path, v, shard_of, n, total);
    free(shard_of);
    free(v);
    return st;
}
