/* The optimizer's state in files: Keras 2's /optimizer_weights (named
 * slots, iteration count first) and Keras 3's optimizer/vars (numbered
 * variables in each optimizer's own build order). */
#include "ck_io.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct slot {
    const char *name;
    float *data;
    ck_weight shape; /* name and dims only, for the shared shape check */
} slot;

static ck_status get_slots(ck_model *m, slot *slots, int n)
{
    for (int i = 0; i < n; i++) {
        slot *s = &slots[i];
        int rank = 0;
        CK_TRY(ck_optimizer_slot(m, i, &s->name, &s->data, &rank, s->shape.dims));
        if (rank < 0 || rank > 4)
            return ck_error(CK_ERR_STATE, "optimizer slot %s has rank %d", s->name, rank);
        s->shape.rank = rank;
        s->shape.size = 1;
        for (int k = 0; k < rank; k++)
            s->shape.size *= (size_t)s->shape.dims[k];
        snprintf(s->shape.name, sizeof s->shape.name, "%s", s->name);
    }
    return CK_OK;
}

ck_status ck_k2_write_optimizer(hid_t file, ck_model *m)
{
    int n = ck_optimizer_slot_count(m);
    if (n <= 0)
        return CK_OK;
    slot *slots = ck_alloc((size_t)n, sizeof *slots);
    const char **names = slots ? ck_alloc((size_t)n, sizeof *names) : NULL;
    ck_status st = names ? get_slots(m, slots, n) : CK_ERR_MEMORY;
    hid_t g = -1;
    if (st == CK_OK) {
        g = H5Gcreate2(file, "optimizer_weights", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        st = g >= 0 ? CK_OK : ck_error(CK_ERR_IO, "cannot create group optimizer_weights");
    }
    for (int i = 0; st == CK_OK && i < n; i++)
        names[i] = slots[i].name;
    if (st == CK_OK)
        st = ck_h5_write_strings(g, "weight_names", names, n);
    /* Keras stores the iteration count (slot 0) as int64, exact past the
     * float slot's 2^24. */
    if (st == CK_OK)
        st = ck_h5_write_int64(g, slots[0].name,
                               ck_optimizer_iterations(&ck_train_state_of(m)->opt));
    for (int i = 1; st == CK_OK && i < n; i++)
        st = ck_h5_write_floats(g, slots[i].name, slots[i].shape.rank, slots[i].shape.dims,
                                slots[i].data);
    if (g >= 0)
        H5Gclose(g);
    free(names);
    free(slots);
    return st;
}

/* Reads every slot into one staging buffer before touching the optimizer. */
static ck_status read_slots(hid_t g, const ck_strlist *names, slot *slots, int n)
{
    size_t total = 0;
    for (int i = 0; i < n; i++)
        total += slots[i].shape.size;
    float *stage = ck_alloc(total ? total : 1, sizeof(float));
    if (!stage)
        return CK_ERR_MEMORY;
    ck_status st = CK_OK;
    size_t off = 0;
    for (int i = 0; st == CK_OK && i < n; i++) {
        st = ck_h5_read_weight(g, names->items[i], "optimizer", &slots[i].shape, true, stage + off);
        off += slots[i].shape.size;
    }
    off = 0;
    for (int i = 0; st == CK_OK && i < n; i++) {
        memcpy(slots[i].data, stage + off, slots[i].shape.size * sizeof(float));
        off += slots[i].shape.size;
    }
    free(stage);
    return st;
}

/* Keras counts the steps in an int64 (an int32 under JAX, a float before
 * standalone Keras 2.0.8); the update takes the count as a double, exact
 * up to 2^53. */
#define MAX_ITERATIONS (INT64_C(1) << 53)

/* The count at `name` in g again, as the integer or the float it is
 * stored as; read_slots has checked the dataset and read it as a float. */
static ck_status read_count(hid_t g, const char *name, bool *integer, int64_t *i, double *v)
{
    hid_t d = H5Dopen2(g, name, H5P_DEFAULT);
    hid_t t = d >= 0 ? H5Dget_type(d) : -1;
    *integer = t >= 0 && H5Tget_class(t) == H5T_INTEGER;
    herr_t rc = -1;
    if (d >= 0)
        rc = *integer ? H5Dread(d, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, i)
                      : H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v);
    if (t >= 0)
        H5Tclose(t);
    if (d >= 0)
        H5Dclose(d);
    return rc < 0 ? CK_ERR_FORMAT : CK_OK;
}

/* Adopts the saved step count at `name` in g exactly; `where` names it in
 * the file. A count Keras could not have saved (below 0, not whole, past
 * 2^53) is refused with the state: taken as 0 it would restart Adam's
 * bias correction under the moments of many steps. */
static ck_status adopt_iterations(hid_t g, const char *name, const char *where, ck_model *m)
{
    bool integer;
    int64_t i = 0;
    double v = 0;
    if (read_count(g, name, &integer, &i, &v) != CK_OK)
        return ck_error(CK_ERR_FORMAT, "optimizer iterations (%s) cannot be read", where);
    char text[32];
    bool valid;
    if (integer) {
        snprintf(text, sizeof text, "%" PRId64, i);
        valid = i >= 0 && i <= MAX_ITERATIONS;
    } else {
        snprintf(text, sizeof text, "%.17g", v);
        valid = v >= 0 && v <= (double)MAX_ITERATIONS && v == floor(v);
        i = valid ? (int64_t)v : 0;
    }
    if (!valid)
        return ck_error(CK_ERR_FORMAT,
                        "optimizer iterations is %s (%s): a count of steps is a whole number from "
                        "0 to 2^53",
                        text, where);
    ck_optimizer_set_iterations(&ck_train_state_of(m)->opt, i);
    return CK_OK;
}

/* The part of a slot name after the optimizer's own name ("Adam/",
 * "Adam_1/"), which users may choose freely. */
static const char *slot_path(const char *name)
{
    const char *slash = strchr(name, '/');
    return slash ? slash + 1 : name;
}

/* Position decides which slot gets which array, so every name must be the
 * one ckeras gives that position; other layouts would load silently wrong. */
static ck_status check_slot_names(const ck_strlist *names, const slot *slots, int n)
{
    for (int i = 0; i < n; i++)
        if (strcmp(slot_path(names->items[i]), slot_path(slots[i].name)) != 0)
            return ck_error(CK_ERR_UNSUPPORTED, "optimizer weight %d is '%s', expected '%s'", i,
                            names->items[i], slots[i].name);
    return CK_OK;
}

/* tf.keras 2.11+ marks its new optimizers, whose variables are ordered
 * differently, with is_legacy_optimizer: false. */
static bool is_legacy_layout(const cJSON *training_config)
{
    const cJSON *oc = cJSON_GetObjectItemCaseSensitive(training_config, "optimizer_config");
    const cJSON *cfg = cJSON_GetObjectItemCaseSensitive(oc, "config");
    return !cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(cfg, "is_legacy_optimizer"));
}

/* Keras <= 2.2 names its optimizer variables "<prefix>/iterations:0" and
 * "training/<Class>/Variable[_N]:0", in the order Keras 2 and ckeras use
 * (iterations, then one array per trainable weight for each slot kind), so
 * they are taken by position, every shape checked. */
static bool is_keras22_layout(const ck_strlist *names)
{
    if (names->n < 1 || !ck_str_ends_with(names->items[0], "iterations:0"))
        return false;
    for (int i = 1; i < names->n; i++)
        if (!strstr(names->items[i], "/Variable"))
            return false;
    return true;
}

/* How many of the file's optimizer weights are ckeras's slots: all, or for
 * a Keras <= 2.2 Adam without amsgrad all but its trailing (1,)
 * placeholders for vhat, one per trainable weight. */
static int slots_in_file(const ck_strlist *names, const slot *slots, int n, bool keras22)
{
    if (names->n == n || !keras22 || strncmp(slots[0].name, "Adam/", 5) != 0)
        return names->n;
    return names->n == n + (n - 1) / 2 ? n : names->n;
}

static ck_status try_read_optimizer(hid_t g, ck_model *m)
{
    CK_TRY(ck_optimizer_create_slots(m));
    ck_strlist names;
    CK_TRY(ck_h5_read_strings(g, "weight_names", &names));
    int n = ck_optimizer_slot_count(m);
    slot *slots = NULL;
    ck_status st = CK_OK;
    if (n > 0) {
        slots = ck_alloc((size_t)n, sizeof *slots);
        st = slots ? get_slots(m, slots, n) : CK_ERR_MEMORY;
    }
    bool keras22 = is_keras22_layout(&names);
    if (st == CK_OK && n > 0 && slots_in_file(&names, slots, n, keras22) != n)
        st = ck_error(CK_ERR_SHAPE, "the file has %d optimizer weights, the optimizer has %d",
                      names.n, n);
    if (st == CK_OK && !keras22)
        st = check_slot_names(&names, slots, n);
    if (st == CK_OK)
        st = read_slots(g, &names, slots, n);
    if (st == CK_OK && n > 0) {
        char where[CK_NAME_MAX + 32];
        snprintf(where, sizeof where, "optimizer_weights/%s", names.items[0]);
        st = adopt_iterations(g, names.items[0], where, m);
    }
    free(slots);
    ck_strlist_free(&names);
    return st;
}

/* Reads the optimizer state in group `path` of file with try_read. Keras
 * keeps the model and starts a fresh optimizer when the saved state does
 * not fit (another optimizer version, another variable order), with a
 * warning; the model's warnings say why. */
static ck_status read_optimizer_group(hid_t file, const char *path,
                                      ck_status (*try_read)(hid_t, ck_model *), ck_model *m)
{
    hid_t g = H5Gopen2(file, path, H5P_DEFAULT);
    if (g < 0)
        return CK_OK;
    ck_status st = try_read(g, m);
    H5Gclose(g);
    if (st == CK_ERR_MEMORY)
        return st;
    if (st != CK_OK) {
        ck_optimizer_drop_slots(m);
        if (ck_model_warn(m, "saved optimizer state not used, the optimizer starts fresh: %s",
                          ck_last_error()) != CK_OK)
            return ck_error(CK_ERR_MEMORY, "out of memory loading model %s", m->name);
    }
    ck_clear_error();
    return CK_OK;
}

ck_status ck_k2_read_optimizer(hid_t file, const cJSON *training_config, ck_model *m)
{
    if (!is_legacy_layout(training_config) ||
        H5Lexists(file, "optimizer_weights", H5P_DEFAULT) <= 0)
        return CK_OK;
    return read_optimizer_group(file, "optimizer_weights", try_read_optimizer, m);
}

/* Keras 3 saves optimizer.variables as optimizer/vars/0, 1, ...: the
 * iteration count, the learning rate unless a schedule gives it, then the
 * slots. Adam, AdamW and Adamax make their first two slots weight by
 * weight (momentum and velocity, m and u), then every velocity_hat;
 * RMSprop makes each slot over every weight (velocity, momentum,
 * average_gradient), as do SGD and Adagrad with their one. Nadam makes
 * Adam's two and a scalar u_product, before them up to Keras 3.9 and after
 * them from 3.10; ckeras derives the product from the iteration count. */
static int k3_interleaved(const char *cls)
{
    static const struct {
        const char *cls;
        int interleaved;
    } known[] = {{"Adam", 2},    {"AdamW", 2}, {"Adamax", 2}, {"Nadam", 2},
                 {"RMSprop", 1}, {"SGD", 1},   {"Adagrad", 1}};
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (strcmp(cls, known[i].cls) == 0)
            return known[i].interleaved;
    return 0;
}

/* The Keras 3 variable index of ckeras slot i (n slots over w weights). */
static int k3_index(int i, int w, int interleaved, int base)
{
    if (i == 0)
        return 0;
    int kind = (i - 1) / w, j = (i - 1) % w;
    if (kind < interleaved)
        return base + j * interleaved + kind;
    return base + interleaved * w + (kind - interleaved) * w + j;
}

static ck_status k3_names(ck_model *m, int n, int base, ck_strlist *names)
{
    const ck_train_state *s = ck_train_state_of(m);
    int interleaved = k3_interleaved(s->opt.kind->class_name);
    if (!interleaved)
        return ck_error(CK_ERR_UNSUPPORTED, "Keras 3 %s state is not read",
                        s->opt.kind->class_name);
    int w = s->opt.n_slots ? (n - 1) / s->opt.n_slots : 0;
    names->items = ck_alloc((size_t)n, sizeof *names->items);
    if (!names->items)
        return CK_ERR_MEMORY;
    names->n = n;
    for (int i = 0; i < n; i++) {
        char text[16];
        snprintf(text, sizeof text, "%d", k3_index(i, w, interleaved, base));
        names->items[i] = ck_strdup(text);
        if (!names->items[i])
            return CK_ERR_MEMORY;
    }
    return CK_OK;
}

/* Whether optimizer variable `index` is a scalar: Nadam's u_product where
 * a slot shaped like a weight would otherwise be. */
static bool k3_is_scalar(hid_t g, int index)
{
    char key[16];
    snprintf(key, sizeof key, "%d", index);
    hid_t d = H5Dopen2(g, key, H5P_DEFAULT);
    if (d < 0)
        return false;
    hid_t space = H5Dget_space(d);
    bool scalar = space >= 0 && H5Sget_simple_extent_ndims(space) == 0;
    if (space >= 0)
        H5Sclose(space);
    H5Dclose(d);
    return scalar;
}

/* Keras's load_own_variables assigns every variable, the learning rate
 * at optimizer/vars/1 too, so the saved rate wins over the one in
 * compile_config. A rate Keras could not train with is state that does
 * not fit. */
static ck_status read_k3_learning_rate(hid_t g, float *lr)
{
    ck_weight w = {.rank = 0, .size = 1, .name = "learning_rate"};
    CK_TRY(ck_h5_read_weight(g, "1", "optimizer", &w, true, lr));
    if (!(*lr >= 0 && isfinite(*lr)))
        return ck_error(CK_ERR_FORMAT, "optimizer/vars/1 (learning rate) is %g", (double)*lr);
    return CK_OK;
}

static ck_status try_read_k3_optimizer(hid_t g, ck_model *m)
{
    const ck_train_state *s = ck_train_state_of(m);
    int n = ck_optimizer_slot_count(m);
    int base = s->opt.o.learning_rate_schedule.class_name ? 1 : 2;
    int extra = strcmp(s->opt.kind->class_name, "Nadam") == 0;
    H5G_info_t info;
    if (n <= 0 || H5Gget_info(g, &info) < 0)
        return ck_error(CK_ERR_FORMAT, "optimizer/vars cannot be read");
    if (info.nlinks != (hsize_t)(n - 1 + base + extra))
        return ck_error(CK_ERR_SHAPE, "the file has %llu optimizer variables, the optimizer %d",
                        (unsigned long long)info.nlinks, n - 1 + base + extra);
    if (extra && k3_is_scalar(g, base))
        base++;
    ck_strlist names = {0};
    float lr = 0;
    bool schedule = s->opt.o.learning_rate_schedule.class_name != NULL;
    slot *slots = ck_alloc((size_t)n, sizeof *slots);
    ck_status st = slots ? get_slots(m, slots, n) : CK_ERR_MEMORY;
    if (st == CK_OK && !schedule)
        st = read_k3_learning_rate(g, &lr);
    if (st == CK_OK)
        st = k3_names(m, n, base, &names);
    if (st == CK_OK)
        st = read_slots(g, &names, slots, n);
    if (st == CK_OK)
        st = adopt_iterations(g, "0", "optimizer/vars/0", m);
    if (st == CK_OK && !schedule)
        st = ck_optimizer_set_learning_rate(&ck_train_state_of(m)->opt, lr, "optimizer/vars/1");
    ck_strlist_free(&names);
    free(slots);
    return st;
}

ck_status ck_k3_read_optimizer(hid_t file, ck_model *m)
{
    if (!ck_train_state_of(m) || H5Lexists(file, "optimizer", H5P_DEFAULT) <= 0 ||
        H5Lexists(file, "optimizer/vars", H5P_DEFAULT) <= 0)
        return CK_OK;
    return read_optimizer_group(file, "optimizer/vars", try_read_k3_optimizer, m);
}

/* What try_read_k3_optimizer reads back, so Keras's load_model and ckeras
 * resume the state. Nadam is left out: Keras 3.0-3.9 and 3.10+ place its
 * u_product differently, a variable of the wrong shape fails the whole
 * load in the other, and a file without the state only makes Keras warn
 * and start a fresh optimizer. */
ck_status ck_k3_write_optimizer(hid_t file, ck_model *m)
{
    const ck_train_state *s = ck_train_state_of(m);
    int n = ck_optimizer_slot_count(m);
    if (n <= 0 || strcmp(s->opt.kind->class_name, "Nadam") == 0)
        return CK_OK;
    int interleaved = k3_interleaved(s->opt.kind->class_name);
    if (!interleaved)
        return CK_OK;
    slot *slots = ck_alloc((size_t)n, sizeof *slots);
    ck_status st = slots ? get_slots(m, slots, n) : CK_ERR_MEMORY;
    if (st == CK_OK)
        st = ck_h5_write_int64(file, "optimizer/vars/0", ck_optimizer_iterations(&s->opt));
    bool schedule = s->opt.o.learning_rate_schedule.class_name != NULL;
    if (st == CK_OK && !schedule)
        st = ck_h5_write_floats(file, "optimizer/vars/1", 0, NULL,
                                &(float){(float)s->opt.o.learning_rate});
    int w = s->opt.n_slots ? (n - 1) / s->opt.n_slots : 0;
    for (int i = 1; st == CK_OK && i < n; i++) {
        char path[40];
        snprintf(path, sizeof path, "optimizer/vars/%d", k3_index(i, w, interleaved, 2 - schedule));
        st = ck_h5_write_floats(file, path, slots[i].shape.rank, slots[i].shape.dims,
                                slots[i].data);
    }
    free(slots);
    return st;
}
