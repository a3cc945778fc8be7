/* Keras 3.10+ sharded weights. save_weights("NAME.weights.json",
 * max_shard_size=...) writes the variables in the Keras 3 layout into
 * NAME_00000.weights.h5, NAME_00001.weights.h5, ... (a new file whenever
 * the next variable would overflow the current one) and this index
 * beside them:
 *   {"metadata": {"total_size": <bytes>},
 *    "weight_map": {"/layers/dense/vars": "NAME_00000.weights.h5", ...}}
 * From 3.11 a group whose variables were split over shards lists them
 * all, ["NAME_00000.weights.h5", "NAME_00001.weights.h5"]; 3.10 named only
 * the first, so such a group loads in neither Keras nor ckeras. Keras
 * finds a group's entry under its object path ("layers/dense") or its
 * HDF5 name ("/layers/dense/vars", what it writes). */
#include "ck_io.h"

#include <stdlib.h>
#include <string.h>

/* Keras lists at most one shard per variable of a group (7 for the
 * largest ckeras layer): a longer list can only be a hostile index. Open
 * shards are kept up to the same number, so reading a model in order
 * opens each shard once. */
#define MAX_LISTED 64
#define SHARD_NAME_MAX 255

typedef struct open_shard {
    const char *name; /* in the index's JSON */
    hid_t file;
    unsigned long used; /* when last asked for: the least recent goes first */
} open_shard;

typedef struct shards {
    const char *index;
    size_t dir_len;        /* of the index's folder, up to its last '/' */
    const cJSON **entries; /* the weight_map, sorted by key */
    int n_entries;
    open_shard open[MAX_LISTED];
    int n_open;
    unsigned long clock;
    ck_k3_file found[MAX_LISTED];
} shards;

/* A shard must be a file beside the index: no path, however relative. */
static ck_status check_name(const shards *s, const char *key, const char *name)
{
    const char *why = strlen(name) > SHARD_NAME_MAX             ? "is longer than 255 bytes"
                      : strchr(name, '/') || strchr(name, '\\') ? "is a path, not a file name"
                      : !ck_str_ends_with(name, ".weights.h5")  ? "does not end in .weights.h5"
                                                                : NULL;
    if (why)
        return ck_error(CK_ERR_FORMAT,
                        "'%s': the shard '%.300s' of '%.300s' %s (shards are files beside the "
                        "index)",
                        s->index, name, key, why);
    return CK_OK;
}

static ck_status check_entry(const shards *s, const cJSON *e)
{
    if (cJSON_IsString(e))
        return check_name(s, e->string, e->valuestring);
    int n = cJSON_IsArray(e) ? cJSON_GetArraySize(e) : 0;
    const cJSON *item;
    cJSON_ArrayForEach(item, e)
    {
        if (!cJSON_IsString(item))
            n = 0;
    }
    if (n < 1 || n > MAX_LISTED)
        return ck_error(CK_ERR_FORMAT,
                        "'%s': weight_map entry '%.300s' is neither a shard's file name nor a list "
                        "of 1 to %d of them",
                        s->index, e->string, MAX_LISTED);
    cJSON_ArrayForEach(item, e)
    {
        CK_TRY(check_name(s, e->string, item->valuestring));
    }
    return CK_OK;
}

static int by_key(const void *a, const void *b)
{
    return strcmp((*(const cJSON *const *)a)->string, (*(const cJSON *const *)b)->string);
}

/* Checks every entry of the weight_map and sorts them by key (unique:
 * ck_io_parse_json refuses a key given twice). */
static ck_status index_entries(shards *s, const cJSON *root)
{
    const cJSON *map = cJSON_GetObjectItemCaseSensitive(root, "weight_map");
    if (!cJSON_IsObject(map))
        return ck_error(CK_ERR_FORMAT,
                        "'%s' has no \"weight_map\" object: it is not the index of Keras sharded "
                        "weights",
                        s->index);
    int n = cJSON_GetArraySize(map);
    s->entries = ck_alloc(n ? (size_t)n : 1, sizeof *s->entries);
    if (!s->entries)
        return CK_ERR_MEMORY;
    const cJSON *e;
    cJSON_ArrayForEach(e, map)
    {
        CK_TRY(check_entry(s, e));
        s->entries[s->n_entries++] = e;
    }
    qsort(s->entries, (size_t)n, sizeof *s->entries, by_key);
    return CK_OK;
}

static const cJSON *find_entry(const shards *s, const char *key)
{
    cJSON probe = {.string = (char *)key};
    const cJSON *p = &probe;
    const cJSON **hit = s->n_entries ? bsearch(&p, s->entries, (size_t)s->n_entries,
                                               sizeof *s->entries, by_key)
                                     : NULL;
    return hit ? *hit : NULL;
}

/* The shard, opened through the guarded opener on first use. */
static ck_status shard_file(shards *s, const char *name, hid_t *file)
{
    s->clock++;
    int lru = 0;
    for (int i = 0; i < s->n_open; i++) {
        if (strcmp(s->open[i].name, name) == 0) {
            s->open[i].used = s->clock;
            *file = s->open[i].file;
            return CK_OK;
        }
        if (s->open[i].used < s->open[lru].used)
            lru = i;
    }
    char *path = ck_alloc(s->dir_len + strlen(name) + 1, 1);
    if (!path)
        return CK_ERR_MEMORY;
    memcpy(path, s->index, s->dir_len);
    strcpy(path + s->dir_len, name);
    ck_status st = ck_h5_open(path, file);
    free(path);
    if (st != CK_OK)
        return st == CK_ERR_MEMORY
                   ? st
                   : ck_error(st, "%s (a shard named by '%s')", ck_last_error(), s->index);
    int slot = lru;
    if (s->n_open < MAX_LISTED)
        slot = s->n_open++;
    else
        H5Fclose(s->open[slot].file);
    s->open[slot] = (open_shard){name, *file, s->clock};
    return CK_OK;
}

static ck_status locate(void *ctx, const char *vars, const ck_k3_file **files, int *n)
{
    shards *s = ctx;
    char key[1024];
    /* The object path first, as Keras looks it up; vars ends in "/vars". */
    size_t len = strlen(vars);
    snprintf(key, sizeof key, "%.*s", (int)(len > 5 ? len - 5 : 0), vars);
    const cJSON *e = find_entry(s, key);
    if (!e) {
        snprintf(key, sizeof key, "/%s", vars);
        e = find_entry(s, key);
    }
    if (!e)
        return ck_error(CK_ERR_FORMAT, "'%s' names no shard for '%s' (no weight_map entry '%s')",
                        s->index, vars, key);
    *files = s->found;
    *n = 0;
    if (cJSON_IsString(e)) {
        s->found[0].name = e->valuestring;
        *n = 1;
        return shard_file(s, e->valuestring, &s->found[0].file);
    }
    const cJSON *item;
    cJSON_ArrayForEach(item, e)
    {
        s->found[*n].name = item->valuestring;
        CK_TRY(shard_file(s, item->valuestring, &s->found[*n].file));
        ++*n;
    }
    return CK_OK;
}

static ck_status read_index(shards *s, cJSON **root)
{
    char *text;
    size_t len;
    CK_TRY(ck_read_file_limited(s->index, CK_IO_MAX_JSON, &text, &len));
    char subject[1100];
    snprintf(subject, sizeof subject, "the sharded weights index '%.1000s'", s->index);
    ck_status st = ck_io_parse_json(subject, text, len, root);
    free(text);
    if (st == CK_OK && !cJSON_IsObject(*root))
        st = ck_error(CK_ERR_FORMAT, "%s is not a JSON object", subject);
    return st == CK_OK ? index_entries(s, *root) : st;
}

ck_status ck_weights_read_sharded(const char *path, ck_model *m, const ck_weights_options *opts)
{
    if (opts && opts->by_name)
        return ck_error(CK_ERR_UNSUPPORTED,
                        "by_name loading needs a legacy .h5 file; Keras 3 sharded weights "
                        "identify layers by position only");
    shards s = {.index = path};
    const char *slash = strrchr(path, '/');
    s.dir_len = slash ? (size_t)(slash - path) + 1 : 0;
    cJSON *root = NULL;
    float *stage = NULL;
    ck_status st = read_index(&s, &root);
    if (st == CK_OK) {
        stage = ck_stage_new(m);
        st = stage ? ck_k3_read_located(locate, &s, m, stage) : CK_ERR_MEMORY;
    }
    if (st == CK_OK)
        ck_stage_commit(stage, m);
    for (int i = 0; i < s.n_open; i++)
        H5Fclose(s.open[i].file);
    free(stage);
    free(s.entries);
    cJSON_Delete(root);
    return st;
}
