/* The folder layout of the keypoint tutorials, DIR/<class>/<sequence>/<frame>.npy:
 * one .npy per frame, frames numbered from 0, sequences numbered too. */
#include "ck_io.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define PATH_CAP 4096
/* Entries of one directory, at most: a bound for hostile trees. */
#define MAX_ENTRIES 1000000

typedef struct name_list {
    char **names;
    size_t n, cap;
} name_list;

static void names_free(name_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->names[i]);
    free(l->names);
    *l = (name_list){0};
}

static ck_status names_add(name_list *l, const char *name)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 16;
        char **grown = ck_realloc_array(l->names, cap, sizeof *grown);
        if (!grown)
            return CK_ERR_MEMORY;
        l->names = grown;
        l->cap = cap;
    }
    size_t len = strlen(name) + 1;
    if (!(l->names[l->n] = ck_alloc(len, 1)))
        return CK_ERR_MEMORY;
    memcpy(l->names[l->n++], name, len);
    return CK_OK;
}

static ck_status join(char out[PATH_CAP], const char *dir, const char *name)
{
    int n = snprintf(out, PATH_CAP, "%s/%s", dir, name);
    if (n < 0 || n >= PATH_CAP)
        return ck_error(CK_ERR_ARGUMENT, "path %s/%s is too long", dir, name);
    return CK_OK;
}

static bool is_dir(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
}

/* A whole non-negative decimal number, as the tutorials name sequences
 * and frames; *value gets it. */
static bool number_name(const char *s, size_t len, unsigned long long *value)
{
    *value = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9' || *value > 1000000000ull)
            return false;
        *value = *value * 10 + (unsigned)(s[i] - '0');
    }
    return len > 0;
}

/* A name without its ".npy": frames number by their stem. */
static size_t stem_len(const char *name)
{
    size_t len = strlen(name);
    return ck_str_ends_with(name, ".npy") ? len - 4 : len;
}

/* Numbers by value first ("2" before "10", "2.npy" before "10.npy"), then
 * other names bytewise. */
static int numeric_cmp(const void *pa, const void *pb)
{
    const char *a = *(char *const *)pa, *b = *(char *const *)pb;
    unsigned long long na, nb;
    bool num_a = number_name(a, stem_len(a), &na), num_b = number_name(b, stem_len(b), &nb);
    if (num_a && num_b && na != nb)
        return na < nb ? -1 : 1;
    if (num_a != num_b)
        return num_a ? -1 : 1;
    return strcmp(a, b);
}

static int byte_cmp(const void *pa, const void *pb)
{
    return strcmp(*(char *const *)pa, *(char *const *)pb);
}

/* The subdirectories (want_dirs) or the .npy files of dir; names starting
 * with '.' are skipped. */
static ck_status list_dir(const char *dir, bool want_dirs, name_list *out)
{
    *out = (name_list){0};
    DIR *d = opendir(dir);
    if (!d)
        return ck_error(CK_ERR_IO, "cannot open directory %s: %s", dir, strerror(errno));
    ck_status st = CK_OK;
    char path[PATH_CAP];
    size_t seen = 0;
    for (struct dirent *e; st == CK_OK && (e = readdir(d)) != NULL;) {
        if (e->d_name[0] == '.')
            continue;
        if (++seen > MAX_ENTRIES)
            st = ck_error(CK_ERR_FORMAT, "%s has more than %d entries", dir, MAX_ENTRIES);
        else if ((st = join(path, dir, e->d_name)) == CK_OK &&
                 (want_dirs ? is_dir(path) : ck_str_ends_with(e->d_name, ".npy") && !is_dir(path)))
            st = names_add(out, e->d_name);
    }
    closedir(d);
    if (st != CK_OK)
        names_free(out);
    return st;
}

/* What is read so far: sequences of `frames` frames of `frame` values. */
typedef struct reader {
    const ck_sequence_dir_options *o;
    int64_t frames;
    ck_tensor first; /* shape of the first frame */
    size_t frame_values;
    float *x;
    size_t n, cap; /* sequences */
    int32_t *ids;
} reader;

/* The frame numbers must run 0, 1, ... up to the frames needed. */
static ck_status check_frames(reader *r, const char *seq, name_list *files)
{
    for (size_t i = 0; i < files->n; i++) {
        unsigned long long v;
        const char *f = files->names[i];
        if (!number_name(f, stem_len(f), &v))
            return ck_error(CK_ERR_FORMAT, "%s/%s is not a frame (frames are 0.npy, 1.npy, ...)",
                            seq, f);
    }
    if (files->n)
        qsort(files->names, files->n, sizeof *files->names, numeric_cmp);
    int64_t need = r->o->frames ? r->o->frames : r->frames ? r->frames : (int64_t)files->n;
    for (size_t i = 0; i < files->n && (int64_t)i < need; i++) {
        unsigned long long v;
        number_name(files->names[i], stem_len(files->names[i]), &v);
        if (v < i)
            return ck_error(CK_ERR_FORMAT, "%s has two files for frame %llu: %s and %s", seq, v,
                            files->names[i - 1], files->names[i]);
        if (v != i)
            return ck_error(CK_ERR_FORMAT, "%s has no frame %zu.npy", seq, i);
    }
    if ((int64_t)files->n < need || (!r->o->frames && (int64_t)files->n != need))
        return ck_error(CK_ERR_FORMAT, "%s has %zu frames, %s %lld", seq, files->n,
                        r->o->frames ? "need" : "the sequences before it", (long long)need);
    if (need == 0)
        return ck_error(CK_ERR_FORMAT, "%s has no frames", seq);
    r->frames = need;
    return CK_OK;
}

static bool same_shape(const ck_tensor *a, const ck_tensor *b)
{
    return a->rank == b->rank && memcmp(a->dims, b->dims, sizeof(int64_t) * (size_t)a->rank) == 0;
}

/* Room for one more sequence. */
static ck_status grow(reader *r)
{
    if (r->n < r->cap)
        return CK_OK;
    size_t cap = r->cap ? 2 * r->cap : 64, per;
    if (!ck_size_mul((size_t)r->frames, r->frame_values, &per) || !ck_size_mul(per, cap, &per))
        return ck_error(CK_ERR_MEMORY, "the sequences are too large");
    float *x = ck_realloc_array(r->x, per, sizeof(float));
    if (!x)
        return CK_ERR_MEMORY;
    r->x = x;
    int32_t *ids = ck_realloc_array(r->ids, cap, sizeof *ids);
    if (!ids)
        return CK_ERR_MEMORY;
    r->ids = ids;
    r->cap = cap;
    return CK_OK;
}

static ck_status read_frame(reader *r, const char *path, int64_t t)
{
    ck_tensor f;
    CK_TRY(ck_npy_read(path, &f));
    ck_status st = CK_OK;
    if (r->n == 0 && t == 0) {
        r->first = (ck_tensor){f.rank, {0}, NULL};
        memcpy(r->first.dims, f.dims, sizeof f.dims);
        r->frame_values = ck_tensor_size(&f);
        if (f.rank > CK_MAX_RANK - 2 || r->frame_values == 0)
            st = ck_error(CK_ERR_SHAPE, "%s: a frame must hold values in at most %d axes", path,
                          CK_MAX_RANK - 2);
    } else if (!same_shape(&f, &r->first)) {
        char got[64], want[64];
        ck_shape_string(f.rank, f.dims, got, sizeof got);
        ck_shape_string(r->first.rank, r->first.dims, want, sizeof want);
        st = ck_error(CK_ERR_SHAPE, "%s has shape %s, the first frame %s", path, got, want);
    }
    if (st == CK_OK && t == 0)
        st = grow(r);
    if (st == CK_OK)
        memcpy(r->x + (r->n * (size_t)r->frames + (size_t)t) * r->frame_values, f.data,
               r->frame_values * sizeof(float));
    free(f.data);
    return st;
}

static ck_status read_sequence(reader *r, const char *seq, int32_t id)
{
    name_list files;
    CK_TRY(list_dir(seq, false, &files));
    ck_status st = check_frames(r, seq, &files);
    char path[PATH_CAP];
    for (int64_t t = 0; st == CK_OK && t < r->frames; t++)
        if ((st = join(path, seq, files.names[t])) == CK_OK)
            st = read_frame(r, path, t);
    names_free(&files);
    if (st == CK_OK)
        r->ids[r->n++] = id;
    return st;
}

static ck_status read_class(reader *r, const char *dir, const char *cls, int32_t id)
{
    char cdir[PATH_CAP], seq[PATH_CAP];
    CK_TRY(join(cdir, dir, cls));
    name_list seqs;
    CK_TRY(list_dir(cdir, true, &seqs));
    ck_status st = seqs.n ? CK_OK : ck_error(CK_ERR_FORMAT, "%s has no sequence directories", cdir);
    if (seqs.n)
        qsort(seqs.names, seqs.n, sizeof *seqs.names, numeric_cmp);
    for (size_t s = 0; st == CK_OK && s < seqs.n; s++)
        if ((st = join(seq, cdir, seqs.names[s])) == CK_OK)
            st = read_sequence(r, seq, id);
    names_free(&seqs);
    return st;
}

/* The class names: as given (checked to be directory names), or the
 * subdirectories of dir in byte order, as Python's sorted() gives them. */
static ck_status class_names(const char *dir, const ck_sequence_dir_options *o, name_list *out)
{
    if (!o->classes) {
        CK_TRY(list_dir(dir, true, out));
        if (out->n)
            qsort(out->names, out->n, sizeof *out->names, byte_cmp);
        if (out->n == 0)
            return ck_error(CK_ERR_FORMAT, "%s has no class directories", dir);
        return CK_OK;
    }
    *out = (name_list){0};
    for (int i = 0; i < o->n_classes; i++) {
        const char *c = o->classes[i];
        bool bad = !c || !c[0] || strchr(c, '/') || strcmp(c, ".") == 0 || strcmp(c, "..") == 0;
        for (int j = 0; !bad && j < i; j++)
            bad = strcmp(c, o->classes[j]) == 0;
        ck_status st = bad ? ck_error(CK_ERR_ARGUMENT,
                                      "class %d ('%s') is empty, repeated or "
                                      "not a directory name",
                                      i, c ? c : "(NULL)")
                           : names_add(out, c);
        if (st != CK_OK) {
            names_free(out);
            return st;
        }
    }
    return CK_OK;
}

static ck_status copy_names(const name_list *l, ck_strings *out)
{
    size_t chars = 0;
    for (size_t i = 0; i < l->n; i++)
        chars += strlen(l->names[i]) + 1;
    char *at;
    CK_TRY(ck_strings_alloc((int64_t)l->n, chars, out, &at));
    for (size_t i = 0; i < l->n; i++) {
        out->items[i] = at;
        at = stpcpy(at, l->names[i]) + 1;
    }
    return CK_OK;
}

ck_status ck_sequence_dir_read_with(const char *dir, const ck_sequence_dir_options *o,
                                    ck_sequence_data *out)
{
    if (!dir || !o || !out || o->frames < 0 || (o->classes && o->n_classes < 1))
        return ck_error(CK_ERR_ARGUMENT, "ck_sequence_dir_read: NULL or negative argument");
    memset(out, 0, sizeof *out);
    name_list classes;
    CK_TRY(class_names(dir, o, &classes));
    reader r = {.o = o};
    ck_status st = CK_OK;
    for (size_t c = 0; st == CK_OK && c < classes.n; c++)
        st = read_class(&r, dir, classes.names[c], (int32_t)c);
    if (st == CK_OK)
        st = copy_names(&classes, &out->classes);
    names_free(&classes);
    if (st != CK_OK) {
        free(r.x);
        free(r.ids);
        return st;
    }
    out->x = (ck_tensor){r.first.rank + 2, {(int64_t)r.n, r.frames}, r.x};
    memcpy(out->x.dims + 2, r.first.dims, sizeof(int64_t) * (size_t)r.first.rank);
    out->ids = r.ids;
    return CK_OK;
}

void ck_sequence_data_free(ck_sequence_data *d)
{
    if (!d)
        return;
    free(d->x.data);
    free(d->ids);
    ck_strings_free(&d->classes);
    memset(d, 0, sizeof *d);
}
