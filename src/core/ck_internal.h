/* Internal interfaces shared by the core, the layers, the optimizers and I/O.
 * Nothing here is part of the public API. */
#ifndef CK_INTERNAL_H
#define CK_INTERNAL_H

#include "ckeras.h"

#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>

/* ---------------- errors ---------------- */
/* Records a message for ck_last_error() and returns `status`. */
ck_status ck_error(ck_status status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void ck_clear_error(void);
/* Status of the last ck_error() on this thread (CK_OK after ck_clear_error). */
ck_status ck_error_status(void);

/* Propagates a failure from a call that already set the message. */
#define CK_TRY(expr)                       \
    do {                                   \
        ck_status ck_try_status_ = (expr); \
        if (ck_try_status_ != CK_OK)       \
            return ck_try_status_;         \
    } while (0)

/* ---------------- memory ---------------- */
/* Allocation wrappers: set CK_ERR_MEMORY on failure and route every
 * allocation through one place (the fault-injection tests hook it). */
void *ck_alloc(size_t count, size_t size); /* zeroed, overflow-checked */
void *ck_realloc_array(void *ptr, size_t count, size_t size);
/* Not zeroed, freed with free(), on a 64-byte (cache line, AVX-512
 * vector) boundary; for arrays that are filled at once. From 1 MiB on it
 * starts on a 2 MiB boundary and asks for transparent huge pages: on a
 * virtual machine a first-touch fault per 4 KiB page costs more than
 * filling the page (25 MB: 250 ms of faults against 20 ms with huge pages,
 * measured on the project machine). */
void *ck_alloc_bulk(size_t count, size_t size);
/* Zeroed without being touched: fresh pages that the kernel fills on
 * first use, so an array that may never be used (a loaded model's
 * gradients) costs nothing, and one that is, no zeroing pass. malloc's
 * calloc gives that only while its threshold for mapping lets it: after a
 * model is freed, a 2.4 MB calloc came from the heap and was cleared page
 * by page (6 ms on a virtual machine). From 1 MiB on, on huge pages.
 * Free with ck_free_zeroed and the same count and size. */
void *ck_alloc_zeroed(size_t count, size_t size);
void ck_free_zeroed(void *p, size_t count, size_t size);
char *ck_strdup(const char *s);
bool ck_str_ends_with(const char *s, const char *suffix);
/* a*b without overflow; false if it would overflow. */
bool ck_size_mul(size_t a, size_t b, size_t *out);
/* The current value of a ck_set_limit limit. */
uint64_t ck_limit_get(ck_limit which);
/* Test hook: fail the n-th allocation from now on (0 disables). */
void ck_debug_fail_alloc_after(long n);

/* A float buffer that only grows, so repeated calls reuse memory. */
typedef struct ck_buf {
    float *data;
    size_t cap;
} ck_buf;
ck_status ck_buf_reserve(ck_buf *b, size_t n);
void ck_buf_free(ck_buf *b);

/* ---------------- shapes ---------------- */
/* A full shape, batch axis first; open axes are CK_NONE. */
typedef struct ck_shape {
    int rank;
    int64_t dims[CK_MAX_RANK];
} ck_shape;
/* Product of dims[1..]; 0 if any of them is open. */
size_t ck_shape_sample_size(const ck_shape *s);
/* Formats "(None, 5, 64)" as Keras prints a shape tuple. */
void ck_shape_format(const ck_shape *s, char *buf, size_t len);
bool ck_shape_equal(const ck_shape *a, const ck_shape *b);

/* ---------------- RNG ---------------- */
/* xoshiro256** seeded through splitmix64: the same seed gives the same
 * stream on every platform. */
typedef struct ck_rng {
    uint64_t s[4];
} ck_rng;
void ck_rng_seed(ck_rng *rng, uint64_t seed);
uint64_t ck_rng_u64(ck_rng *rng);
double ck_rng_uniform(ck_rng *rng);             /* [0, 1) */
double ck_rng_normal(ck_rng *rng);              /* N(0, 1) */
uint64_t ck_rng_below(ck_rng *rng, uint64_t n); /* uniform in [0, n) */

/* ---------------- activations ---------------- */
typedef enum ck_act {
    CK_ACT_LINEAR = 0,
    CK_ACT_RELU,
    CK_ACT_SIGMOID,
    CK_ACT_TANH,
    CK_ACT_SOFTMAX,
    CK_ACT_HARD_SIGMOID, /* resolved to _K2 or _K3 by the model's semantics */
    CK_ACT_HARD_SIGMOID_K2,
    CK_ACT_HARD_SIGMOID_K3,
    CK_ACT_ELU,
    CK_ACT_SELU,
    CK_ACT_SOFTPLUS,
    CK_ACT_SOFTSIGN,
    CK_ACT_SWISH,
    CK_ACT_GELU,
    CK_ACT_EXPONENTIAL,
    CK_ACT_RELU6,
    CK_ACT_LEAKY_RELU,
    CK_ACT_MISH,
    CK_ACT_HARD_SILU,
    CK_ACT_COUNT
} ck_act;
/* NULL or "" or "linear" -> CK_ACT_LINEAR. Unknown names list the valid ones. */
ck_status ck_act_parse(const char *name, ck_act *out);
/* The Keras name written to configs. */
const char *ck_act_name(ck_act act);
ck_act ck_act_resolve(ck_act act, ck_keras_semantics semantics);
/* y = f(x) over n values (x == y allowed); softmax over groups of axis_len. */
void ck_act_forward(ck_act act, const float *x, float *y, size_t n, size_t axis_len);
/* dx = dy * f'(x), given x and y = f(x) (dx may alias dy). */
void ck_act_backward(ck_act act, const float *x, const float *y, const float *dy, float *dx,
                     size_t n, size_t axis_len);

/* ---------------- initializers ---------------- */
/* Checks the name and the options, so errors surface at layer creation. */
ck_status ck_init_check(const ck_init *init);
/* Fills w (row-major, shape dims[0..rank-1]) the way Keras does. */
ck_status ck_init_fill(const ck_init *init, float *w, int rank, const int64_t *dims, ck_rng *rng);
/* Keras JSON for an initializer ({"class_name": "GlorotUniform", ...}). */
cJSON *ck_init_to_json(const ck_init *init);
/* Parses a Keras initializer config (string or {"class_name", "config"}). */
ck_status ck_init_from_json(const cJSON *json, ck_init *out);

/* ---------------- regularizers (regularizers.c) ---------------- */
typedef enum ck_reg_kind {
    CK_REG_NONE = 0,
    CK_REG_L1,
    CK_REG_L2,
    CK_REG_L1L2,
    CK_REG_OTHER /* a class ckeras cannot compute (OrthogonalRegularizer, custom) */
} ck_reg_kind;
typedef struct ck_reg {
    ck_reg_kind kind;
    double l1, l2;
    char *raw;            /* CK_REG_OTHER: the Keras JSON as read, written back on save */
    char other_class[48]; /* CK_REG_OTHER: its class name, for messages */
} ck_reg;
/* Keras regularizer JSON (any release's form); an unknown class is kept as
 * CK_REG_OTHER. null gives CK_REG_NONE. */
ck_status ck_reg_from_json(const cJSON *json, ck_reg *out);
ck_status ck_reg_from_options(const ck_regularizer *opts, ck_reg *out);
/* The Keras JSON, or a JSON null for CK_REG_NONE; NULL when out of memory. */
cJSON *ck_reg_to_json(const ck_reg *r);
/* Keras's class name of the regularizer (for messages). */
const char *ck_reg_class_name(const ck_reg *r);
/* l1 * sum|w| + l2 * sum w^2. */
double ck_reg_penalty(const ck_reg *r, const float *w, size_t n);
/* g += scale * d penalty / dw. */
void ck_reg_add_grad(const ck_reg *r, const float *w, float *g, size_t n, double scale);
void ck_reg_free(ck_reg *r);

/* ---------------- constraints (constraints.c) ---------------- */
typedef enum ck_con_kind {
    CK_CON_NONE = 0,
    CK_CON_MAX_NORM,
    CK_CON_NON_NEG,
    CK_CON_UNIT_NORM,
    CK_CON_MIN_MAX_NORM,
    CK_CON_OTHER /* RadialConstraint, custom: kept, not applied */
} ck_con_kind;
typedef struct ck_con {
    ck_con_kind kind;
    double max_value, min_value, rate;
    int axis[CK_MAX_RANK];
    int n_axis;     /* >= 1 */
    bool axis_list; /* written as a list, as it was read */
    char *raw;      /* CK_CON_OTHER: the Keras JSON as read */
    char other_class[48];
} ck_con;
ck_status ck_con_from_json(const cJSON *json, ck_con *out);
ck_status ck_con_from_options(const ck_constraint *opts, ck_con *out);
cJSON *ck_con_to_json(const ck_con *c);
const char *ck_con_class_name(const ck_con *c);
/* Projects w (shape dims) in place, as Keras does after an optimizer step;
 * fails when an axis does not exist for this rank. */
ck_status ck_con_apply(const ck_con *c, float *w, int rank, const int64_t *dims);
void ck_con_free(ck_con *c);

/* ---------------- weights ---------------- */
#define CK_MAX_WEIGHTS 8
#define CK_NAME_MAX 128

/* A layer's <key>_regularizer and <key>_constraint ("kernel", "recurrent",
 * "bias", "embeddings", "gamma", "beta"). They apply to the weight named
 * key or key + "_kernel". */
typedef struct ck_weight_rule {
    char key[24];
    ck_reg reg;
    ck_con con;
} ck_weight_rule;

typedef struct ck_weight {
    char name[32]; /* Keras weight name: "kernel", "bias", ... */
    /* Sub-object path of the weight inside its layer, for writing files:
     * Keras 2 names ("lstm_cell" -> lstm/lstm_cell/kernel:0) and Keras 3
     * object paths ("cell" -> layers/lstm/cell/vars/0). Empty: directly
     * under the layer. */
    char k2_scope[64];
    char k3_scope[64];
    int rank;
    int64_t dims[4];
    size_t size; /* number of floats */
    ck_init init;
    bool trainable;
    bool declared_trainable; /* as the layer declared it (before freezing) */
    /* Keras keeps it as int64 (Normalization's count): held here as a
     * float like every weight, read from any number type and written as
     * int64, so Keras finds the dtype it declared. */
    bool int64;
    /* A scalar int64 weight's value as last read from a file: written
     * back instead of the float while the float still is its rounding
     * (a float holds integers exactly only up to 2^24). */
    int64_t exact;
    /* Regularizer and constraint of this weight, NULL when it has none (in
     * the declaring layer, or the wrapped layer for Bidirectional and
     * TimeDistributed). */
    const ck_weight_rule *rule;
    float *data; /* slice of the model's parameter array */
    float *grad; /* matching slice of the gradient array */
} ck_weight;

/* ---------------- layers ---------------- */
typedef struct ck_run_ctx {
    bool training; /* dropout and friends active */
    ck_rng *rng;
} ck_run_ctx;

typedef struct ck_layer_ops {
    const char *class_name; /* Keras class name: "LSTM" */
    const char *base_name;  /* default name stem: "lstm" */
    /* Output shape for an input shape (open dims stay open). Used for build
     * and, with concrete dims, to size buffers before forward. */
    ck_status (*output_shape)(const ck_layer *l, const ck_shape *in, ck_shape *out);
    /* Declares weights with ck_layer_add_weight; in_shape is already set. Optional. */
    ck_status (*build)(ck_layer *l);
    /* Adjusts freshly initialised weights (e.g. LSTM unit_forget_bias). Optional. */
    void (*after_init)(ck_layer *l);
    /* y has data and dims sized by output_shape for x. */
    ck_status (*forward)(ck_layer *l, const ck_tensor *x, ck_tensor *y, const ck_run_ctx *ctx);
    /* Adds weight gradients into w->grad; writes dx when dx != NULL.
     * x and y are the tensors of the last training forward. */
    ck_status (*backward)(ck_layer *l, const ck_tensor *x, const ck_tensor *y, const ck_tensor *dy,
                          ck_tensor *dx);
    /* Keras compute_mask: sets *out to the mask of the output, or NULL when
     * it has none. A mask holds one value per output row (every axis but
     * the last; 1 keep, 0 masked). in_mask is the input's mask (NULL: none);
     * a layer making a new mask writes it into buf. Optional: without it
     * the output carries no mask (Flatten, pooling, Conv1D, ...);
     * ck_mask_pass for layers that keep every axis but the last. */
    ck_status (*compute_mask)(ck_layer *l, const ck_tensor *x, const float *in_mask, ck_buf *buf,
                              const float **out);
    /* Adds the layer's own Keras config fields; the caller adds name,
     * trainable and dtype, and wraps it with class_name. */
    ck_status (*get_config)(const ck_layer *l, cJSON *config);
    /* Creates a layer from a Keras config object. */
    ck_layer *(*from_config)(const cJSON *config, ck_keras_semantics semantics);
    void (*reset_state)(ck_layer *l); /* optional */
    /* True when a batch must not be split: outputs depend on state carried
     * between calls (stateful, an initial state), or the layer returns its
     * final state (return_state), which must cover the whole batch. Optional. */
    bool (*has_state)(const ck_layer *l);
    /* True for Keras stateful=True (of the layer or a wrapped one): Keras
     * keeps the state per sample of a fixed batch. Optional. */
    bool (*stateful)(const ck_layer *l);
    /* The activation that ends the layer's output, for fusing it with the
     * loss (the layer skips it when fused_loss_grad is set). Optional:
     * without it the output counts as linear. */
    ck_act (*output_activation)(const ck_layer *l);
    void (*destroy)(ck_layer *l); /* frees the layer's own buffers and the struct */
} ck_layer_ops;

struct ck_layer {
    const ck_layer_ops *ops;
    char name[CK_NAME_MAX];
    bool built;
    ck_shape in_shape; /* batch axis CK_NONE */
    ck_shape out_shape;
    ck_weight weights[CK_MAX_WEIGHTS];
    int n_weights;
    ck_model *model; /* owner, set by ck_model_add */
    /* Set by compile on the output layer when the loss hands backward the
     * gradient w.r.t. the pre-activation (softmax or sigmoid followed by
     * cross-entropy): backward then skips the output activation. */
    bool fused_loss_grad;
    /* With fused_loss_grad: the pre-activation of the last forward's output
     * (layer-owned, NULL when not kept). The loss is computed from it, as
     * TensorFlow Keras does for a softmax or sigmoid output, instead of from
     * clipped probabilities. */
    const float *logits;
    /* Keras trainable=False (ck_layer_set_trainable): the weights declared
     * at build are non-trainable. Zero keeps the Keras default. */
    bool frozen;
    /* Mask of the input (one value per input row) of the last forward, NULL
     * when it has none; set by the caller of forward and still valid in the
     * matching backward. */
    const float *mask;
    /* Keras's per-weight regularizers and constraints, and the
     * activity_regularizer on the layer's output. */
    ck_weight_rule rules[CK_MAX_WEIGHTS];
    int n_rules;
    ck_reg activity;
    /* ActivityRegularization: `activity` is its own l1 and l2, which its
     * config holds; no activity_regularizer is read or written for it. */
    bool activity_own;
    /* A wrapped layer has an activity_regularizer, which ckeras does not
     * apply inside Bidirectional or TimeDistributed. */
    bool nested_activity;
};

/* The rule for `key`, created when `create` (NULL when absent, or when
 * the table is full, with an error set). */
ck_weight_rule *ck_layer_rule(ck_layer *l, const char *key, bool create);
/* The rule that applies to a weight named `weight`, NULL when none. */
const ck_weight_rule *ck_layer_rule_for(const ck_layer *l, const char *weight);
/* Points each weight at its rule again (after rules change). */
void ck_layer_link_rules(ck_layer *l);
/* The layer's Keras config: its own fields, with every *_regularizer and
 * *_constraint key holding the layer's rule (and activity_regularizer
 * added when set). Wrappers use it for the layer they hold. */
ck_status ck_layer_get_config(const ck_layer *l, cJSON *cfg);

/* compute_mask of layers that pass their input's mask on unchanged. */
ck_status ck_mask_pass(ck_layer *l, const ck_tensor *x, const float *in_mask, ck_buf *buf,
                       const float **out);

/* Sets the common fields; name may be NULL (the model names it). */
ck_status ck_layer_init(ck_layer *l, const ck_layer_ops *ops, const char *name);
ck_weight *ck_layer_add_weight(ck_layer *l, const char *name, int rank, const int64_t *dims,
                               const ck_init *init, bool trainable);
/* Whether m came from a file of standalone Keras 2.0-2.3 (tf.keras writes
 * "-tf" versions up to 2.3, Keras 2.4+ is tf.keras): its RNN code had no
 * zero_output_for_mask. */
bool ck_model_from_standalone_keras2(const ck_model *m);
/* The Keras release that wrote m's file as major * 100 + minor (202 for
 * "2.2.4"), and in *tf_keras whether it was tf.keras ("-tf"); 0 when m
 * was built in C or its file gives no version. Training semantics that
 * changed between releases are chosen by it. */
int ck_model_keras_release(const ck_model *m, bool *tf_keras);
/* Whether m comes from a file of standalone Keras (no "-tf") older than
 * major.minor.patch, for rules that changed within a minor release. */
bool ck_model_standalone_keras_below(const ck_model *m, int major, int minor, int patch);
/* The one batch size m runs: its input's declared batch when it carries
 * state between batches (Keras keeps that state in (batch, units)
 * variables), else 0 for any. */
int64_t ck_model_state_batch(const ck_model *m);
ck_keras_semantics ck_layer_semantics(const ck_layer *l);
/* Makes p hold op(B) (see ck_pack in ck_blas.h) of l's current weights:
 * packed again only after the model's weights changed; a layer outside a
 * model packs at every call. */
typedef struct ck_packed ck_packed;
ck_status ck_layer_pack(const ck_layer *l, ck_packed *p, const float *B, int K, int N, int ld,
                        bool trans);
/* out (rows x N, ldo) = x (rows x K, ldx) . W (K x N, contiguous) + beta
 * out, through l's packed copy p of W where that pays (ck_pack_pays). */
ck_status ck_layer_weight_gemm(const ck_layer *l, ck_packed *p, bool training, int rows,
                               const float *x, int ldx, const float *W, int K, int N, float beta,
                               float *out, int ldo);

/* A new, unbuilt layer with l's name and configuration (through its
 * get_config and from_config), for a model's spare workspaces. */
ck_layer *ck_layer_clone(const ck_layer *l, ck_keras_semantics semantics);

/* Config helpers for get_config/from_config implementations. */
ck_status ck_config_get_int(const cJSON *cfg, const char *key, int *out, bool required);
ck_status ck_config_get_double(const cJSON *cfg, const char *key, double *out);
ck_status ck_config_get_bool(const cJSON *cfg, const char *key, bool *out);
/* Returns the string or NULL when absent/null; a non-string is an error. */
ck_status ck_config_get_string(const cJSON *cfg, const char *key, const char **out);
/* Initializer field; a missing key leaves *out unchanged. */
ck_status ck_config_get_init(const cJSON *cfg, const char *key, ck_init *out);
/* Activation field: the name string, or a Keras 3 {"class_name":...} object. */
ck_status ck_config_get_activation(const cJSON *cfg, const char *key, const char **out);
/* Rejects keys outside `known` (NULL-terminated) unless their value is
 * null, so an unsupported Keras option is never silently ignored. Keys
 * every layer has (name, trainable, dtype, batch_input_shape, ...) are
 * always accepted. */
ck_status ck_config_check_keys(const cJSON *cfg, const char *class_name, const char *const *known);
/* Fails with a message naming the layer when cJSON ran out of memory. */
ck_status ck_config_check(const cJSON *cfg);
/* Keras stores 1-D sizes as 1-tuples ([3]) in Keras 2 and as ints elsewhere;
 * accepts both. A missing key leaves *out unchanged. */
ck_status ck_config_get_int1(const cJSON *cfg, const char *key, int *out);
/* Adds item under key, or frees it and fails when memory ran out (item may
 * be NULL from a failed cJSON_Create*). */
ck_status ck_config_add(cJSON *cfg, const char *key, cJSON *item);
/* A required list of 1 to max integers (Reshape target_shape, Permute dims). */
ck_status ck_config_get_int_list(const cJSON *cfg, const char *class_name, const char *key,
                                 int64_t *out, int max, int *n);
/* Same as ck_config_get_int1, for a size that must be positive when present. */
ck_status ck_config_get_size1(const cJSON *cfg, const char *key, int *out);
/* Typed cJSON_Add*ToObject that fail with CK_ERR_MEMORY (naming the key)
 * when cJSON could not allocate, so get_config can CK_TRY every field. */
ck_status ck_config_add_number(cJSON *cfg, const char *key, double v);
ck_status ck_config_add_string(cJSON *cfg, const char *key, const char *v);
ck_status ck_config_add_bool(cJSON *cfg, const char *key, bool v);
/* Adds every key (NULL-terminated) with the value null (unset regularizers
 * and constraints). */
ck_status ck_config_add_nulls(cJSON *cfg, const char *const *keys);
/* Writes v as Keras writes a 1-tuple: [v]. */
ck_status ck_config_add_int1(cJSON *cfg, const char *key, int v);
/* Fails naming the option when a boolean option that ckeras does not
 * implement is true (keys NULL-terminated). */
ck_status ck_config_reject_true(const cJSON *cfg, const char *class_name, const char *const *keys);
/* Only data_format "channels_last" (or absent) is supported. */
ck_status ck_config_check_channels_last(const cJSON *cfg, const char *class_name);

/* The normalized axis: an int or a one-element list (tf.keras writes [2]). */
ck_status ck_config_get_axis(const cJSON *cfg, const char *class_name, int *axis);

/* ---------------- who uses a model (guard.c) ---------------- */
/* The kinds of use a public call declares on entry (see guard.c). */
typedef enum ck_access {
    CK_ACCESS_READ,   /* reads: many threads at once, and from fit callbacks */
    CK_ACCESS_UPDATE, /* changes values in place: alone, or from a fit callback */
    CK_ACCESS_CHANGE, /* changes layers or training settings: alone, never during fit */
    CK_ACCESS_TRAIN   /* fit, train_on_batch: alone */
} ck_access;

typedef struct ck_guard {
    pthread_mutex_t lock;
    int readers;            /* READ calls in progress on threads that own nothing */
    int depth;              /* calls in progress on the owning thread */
    pthread_t owner;        /* the thread of an UPDATE, CHANGE or TRAIN call */
    ck_access owner_access; /* the outermost call's kind */
    bool primary_busy;      /* the model's own buffers are running a predict */
    ck_model **spares;      /* idle workspaces for concurrent predicts */
    int n_spares, cap_spares;
} ck_guard;

void ck_guard_init(ck_guard *g);
void ck_guard_destroy(ck_guard *g);
/* Enters a public call `fn` of kind a, or fails with CK_ERR_STATE naming
 * fn and what the model is busy with. Pair with ck_model_leave. */
ck_status ck_model_enter(ck_model *m, ck_access a, const char *fn);
void ck_model_leave(ck_model *m);
/* The same for a layer's model; a layer outside a model needs none. */
ck_status ck_layer_enter(ck_layer *l, ck_access a, const char *fn);
void ck_layer_leave(ck_layer *l);
/* Whether any call is in progress on the model. */
bool ck_model_busy(ck_model *m);
/* st = call, made between ck_model_enter and ck_model_leave (st is the
 * refusal when the model may not be used so now). */
#define CK_GUARDED(st, m, access, fn, call)         \
    do {                                            \
        (st) = ck_model_enter((m), (access), (fn)); \
        if ((st) == CK_OK) {                        \
            (st) = (call);                          \
            ck_model_leave((m));                    \
        }                                           \
    } while (0)
/* The same for a call on a layer (l not NULL). */
#define CK_LAYER_GUARDED(st, l, access, fn, call)   \
    do {                                            \
        (st) = ck_layer_enter((l), (access), (fn)); \
        if ((st) == CK_OK) {                        \
            (st) = (call);                          \
            ck_layer_leave((l));                    \
        }                                           \
    } while (0)
/* obj[key], NULL when absent or null; obj[key] when it is a string. */
const cJSON *ck_json_get(const cJSON *obj, const char *key);
const char *ck_json_str(const cJSON *obj, const char *key);
/* A serialized Keras object, in any release's form: "name" or
 * {"class_name": name, "config": {...}, ...}; *cfg is NULL for a name.
 * Fails naming `what` ("regularizer") when it is neither. */
ck_status ck_json_class(const cJSON *json, const char *what, const char **name, const cJSON **cfg);
/* Keeps a serialized object ckeras cannot compute verbatim (*raw, to be
 * written back) with its class name (for messages). */
ck_status ck_json_keep(const cJSON *json, const char *name, char **raw, char *cls, size_t len);
/* {"class_name": cls, "config": {}}, *cfg pointing at the config; NULL
 * when out of memory. */
cJSON *ck_json_class_new(const char *cls, cJSON **cfg);
/* Puts `value` in the place of `item` (a member of `parent`) under the same
 * key and returns it; NULL (value freed) when value is NULL. Unlike a
 * replacement by key, it touches only this member when keys repeat. */
cJSON *ck_json_replace(cJSON *parent, cJSON *item, cJSON *value);

/* ---------------- model ---------------- */
/* What the model may do with its training state, which it cannot see. */
typedef struct ck_train_hooks {
    void (*free)(void *state);
    /* Keras 3's count of optimizer variables once the optimizer is built
     * (after the first step), 0 before; *bytes gets their memory size. */
    size_t (*optimizer_params)(const void *state, size_t *bytes);
} ck_train_hooks;

/* A row of Keras 3's summary of a Functional model whose layers take a
 * mask tensor: Keras then lists the layers and the mask ops of the config
 * in its order, with a "Connected to" column. */
typedef struct ck_graph_row {
    int layer;                            /* index in layers; -1: the InputLayer; -2: an op */
    char op[CK_NAME_MAX + 48];            /* an op's "not_equal (NotEqual)" */
    char op_shape[96];                    /* an op's output shape, "(None, 5, 126)" */
    char connected[2 * CK_NAME_MAX + 40]; /* "masking[0][0], any[0][0]"; "-" */
} ck_graph_row;

struct ck_model {
    char name[CK_NAME_MAX];
    uint64_t seed;
    ck_keras_semantics semantics;
    ck_rng rng;               /* initializers, dropout, shuffling */
    ck_layer *input;          /* InputLayer, NULL until added */
    bool functional;          /* from a Functional config: the summary lists the InputLayer */
    ck_graph_row *graph_rows; /* from a Keras 3 Functional config with mask ops */
    int n_graph_rows;
    ck_layer **layers; /* excludes the InputLayer */
    int n_layers, cap_layers;
    bool built;
    bool error_sticky; /* an add failed: build refuses */
    float *params;     /* all weights, trainable first */
    float *grads;      /* same layout as params */
    size_t n_params, n_trainable;
    /* forward buffers: acts[i] is the output of layer i */
    ck_buf *acts;
    ck_tensor *act_views;
    int n_acts;               /* entries of acts, act_views, masks, mask_views */
    ck_buf *masks;            /* masks made by layer i (Embedding, Masking) */
    const float **mask_views; /* mask of act i (maybe an earlier layer's), NULL: none */
    ck_tensor last_input;     /* view of the input of the last forward */
    ck_buf input_cast;        /* the input cast to the InputLayer's dtype */
    ck_buf grad_bufs[2];      /* ping-pong gradients between layers */
    /* Training state (src/train), NULL until compiled; the model reaches it
     * only through the hooks it was given with it. */
    void *train;
    const ck_train_hooks *train_hooks;
    ck_guard guard;       /* who uses the model now */
    unsigned long copied; /* of a spare workspace: the weights_version it copied */
    /* The keras_version of the file the model came from ("" when built in
     * C), and what loading it tolerated, one line each (NULL: nothing). */
    char keras_version[32];
    char *warnings;
    /* Set by loaders that fill every weight from a file afterwards: build
     * then runs no initializer (an unknown one is irrelevant), and
     * allocates no more weights than the file's bytes can hold (0: no
     * bound), so a few bytes of hostile config cannot take gigabytes. */
    bool skip_init;
    uint64_t source_bytes;
    /* Counts changes of the weights (ck_model_weights_changed), so that
     * layers know when their packed copies (ck_layer_pack) are stale. */
    atomic_ulong weights_version;
};

/* Every writer of a built model's weights calls this: build, rebuilds,
 * loaders, optimizer steps, constraints, restores, and ck_layer_weight,
 * which hands out a writable view. */
void ck_model_weights_changed(ck_model *m);

/* Whether a weight trains now (declared trainable, layer not frozen). */
bool ck_weight_trains(const ck_layer *l, const ck_weight *w);
/* Lays the parameters out again when trainable flags changed since the
 * model was built (trainable weights first); called by compile, so a
 * change takes effect at the next compile, as in Keras. */
ck_status ck_model_apply_trainable(ck_model *m);

/* Deflate expands at most about 1032:1 (258 bytes from one 2-bit code):
 * no compressed file holds more bytes than that many times its size. */
#define CK_DEFLATE_MAX_RATIO 1032u

/* Names come from files, so they may hold newlines, carriage returns or
 * terminal escapes that would forge lines or recolour the terminal: out
 * gets name with such bytes written as Python does in a repr (\\n,
 * \\x1b, ...), cut to fit len. */
void ck_escape_controls(const char *name, char *out, size_t len);
/* Records one line in the model's warnings (ck_model_warnings), control
 * bytes escaped. */
ck_status ck_model_warn(ck_model *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Runs every layer on x; the output is in model->act_views[n_layers-1]. */
ck_status ck_model_forward(ck_model *m, const ck_tensor *x, bool training);
/* The same, with the last layer writing into out when its output fits in
 * out_cap values (act_views[n_layers-1] then points at out). */
ck_status ck_model_forward_to(ck_model *m, const ck_tensor *x, bool training, float *out,
                              size_t out_cap);
/* Back-propagates dy (gradient of the loss w.r.t. the model output) through
 * the last training forward, accumulating into model->grads. Activity
 * regularizers add their gradients on the way, dy's data included. */
ck_status ck_model_backward(ck_model *m, const ck_tensor *dy);
/* The same, calling done(ctx, i) once layer i's weight gradients are
 * final (layers run from the last to the first), so data-parallel
 * training can start summing them while the earlier layers run. */
ck_status ck_model_backward_each(ck_model *m, const ck_tensor *dy,
                                 ck_status (*done)(void *ctx, int layer), void *ctx);
/* Unique default name for a layer within the model ("lstm", "lstm_1", ...). */
void ck_model_unique_name(const ck_model *m, const char *base, char *out, size_t len);
/* The output shape for an input shape (batch axis included), through
 * every layer's output_shape. */
ck_status ck_model_shape_for(const ck_model *m, const ck_shape *in, ck_shape *out);
/* Replaces the training state, freeing the old one through its hooks. */
void ck_model_set_train(ck_model *m, void *state, const ck_train_hooks *hooks);

/* ---------------- regularization in training (penalties.c) ---------------- */
/* The weight penalties plus the activity penalties of the outputs of the
 * last forward (divided by the batch size where Keras does). */
double ck_model_penalty(const ck_model *m);
/* Adds the weight penalties' gradients to the trainable weights' grads. */
void ck_model_penalty_grads(ck_model *m);
/* Adds the gradient of layer i's activity penalty to dy, the gradient
 * w.r.t. its output in the last training forward. */
void ck_model_activity_grad(const ck_model *m, int i, float *dy);
/* Projects the trainable weights by their constraints (after a step). */
ck_status ck_model_apply_constraints(ck_model *m);
/* Fails when a regularizer or constraint that training needs is one ckeras
 * cannot compute (kept from a file, e.g. OrthogonalRegularizer). */
ck_status ck_model_check_penalties(const ck_model *m);

#endif /* CK_INTERNAL_H */
