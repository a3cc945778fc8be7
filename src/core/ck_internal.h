/* Internal interfaces shared by the core, the layers, the optimizers and I/O.
 * Nothing here is part of the public API. */
#ifndef CK_INTERNAL_H
#define CK_INTERNAL_H

#include "ckeras.h"

#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdarg.h>

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
char *ck_strdup(const char *s);
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

/* ---------------- weights ---------------- */
#define CK_MAX_WEIGHTS 8
#define CK_NAME_MAX 128

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
};

/* compute_mask of layers that pass their input's mask on unchanged. */
ck_status ck_mask_pass(ck_layer *l, const ck_tensor *x, const float *in_mask, ck_buf *buf,
                       const float **out);

/* Sets the common fields; name may be NULL (the model names it). */
ck_status ck_layer_init(ck_layer *l, const ck_layer_ops *ops, const char *name);
ck_weight *ck_layer_add_weight(ck_layer *l, const char *name, int rank, const int64_t *dims,
                               const ck_init *init, bool trainable);
ck_keras_semantics ck_layer_semantics(const ck_layer *l);

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
    int readers;              /* READ calls in progress on threads that own nothing */
    int depth;                /* calls in progress on the owning thread */
    pthread_t owner;          /* the thread of an UPDATE, CHANGE or TRAIN call */
    ck_access owner_access;   /* the outermost call's kind */
    unsigned long generation; /* counts changes, so spare workspaces know to recopy */
    bool primary_busy;        /* the model's own buffers are running a predict */
    ck_model **spares;        /* idle workspaces for concurrent predicts */
    int n_spares, cap_spares;
} ck_guard;

void ck_guard_init(ck_guard *g);
void ck_guard_destroy(ck_guard *g);
/* Enters a public call `fn` of kind a, or fails with CK_ERR_STATE naming
 * fn and what the model is busy with. Pair with ck_model_leave. */
ck_status ck_model_enter(ck_model *m, ck_access a, const char *fn);
void ck_model_leave(ck_model *m, ck_access a);
/* The same for a layer's model; a layer outside a model needs none. */
ck_status ck_layer_enter(ck_layer *l, ck_access a, const char *fn);
void ck_layer_leave(ck_layer *l, ck_access a);
/* Whether any call is in progress on the model. */
bool ck_model_busy(ck_model *m);
/* st = call, made between ck_model_enter and ck_model_leave (st is the
 * refusal when the model may not be used so now). */
#define CK_GUARDED(st, m, access, fn, call)         \
    do {                                            \
        (st) = ck_model_enter((m), (access), (fn)); \
        if ((st) == CK_OK) {                        \
            (st) = (call);                          \
            ck_model_leave((m), (access));          \
        }                                           \
    } while (0)
/* The same for a call on a layer (l not NULL). */
#define CK_LAYER_GUARDED(st, l, access, fn, call)   \
    do {                                            \
        (st) = ck_layer_enter((l), (access), (fn)); \
        if ((st) == CK_OK) {                        \
            (st) = (call);                          \
            ck_layer_leave((l), (access));          \
        }                                           \
    } while (0)

/* ---------------- model ---------------- */
/* What the model may do with its training state, which it cannot see. */
typedef struct ck_train_hooks {
    void (*free)(void *state);
    /* Keras 3's count of optimizer variables once the optimizer is built
     * (after the first step), 0 before; *bytes gets their memory size. */
    size_t (*optimizer_params)(const void *state, size_t *bytes);
} ck_train_hooks;

struct ck_model {
    char name[CK_NAME_MAX];
    uint64_t seed;
    ck_keras_semantics semantics;
    ck_rng rng;        /* initializers, dropout, shuffling */
    ck_layer *input;   /* InputLayer, NULL until added */
    bool functional;   /* from a Functional config: the summary lists the InputLayer */
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
    ck_buf *masks;            /* masks made by layer i (Embedding, Masking) */
    const float **mask_views; /* mask of act i (maybe an earlier layer's), NULL: none */
    ck_tensor last_input;     /* view of the input of the last forward */
    ck_buf grad_bufs[2];      /* ping-pong gradients between layers */
    /* Training state (src/train), NULL until compiled; the model reaches it
     * only through the hooks it was given with it. */
    void *train;
    const ck_train_hooks *train_hooks;
    ck_guard guard;       /* who uses the model now */
    unsigned long copied; /* of a spare workspace: the generation its weights are from */
};

/* Runs every layer on x; the output is in model->act_views[n_layers-1]. */
ck_status ck_model_forward(ck_model *m, const ck_tensor *x, bool training);
/* Back-propagates dy (gradient of the loss w.r.t. the model output) through
 * the last training forward, accumulating into model->grads. */
ck_status ck_model_backward(ck_model *m, const ck_tensor *dy);
/* Unique default name for a layer within the model ("lstm", "lstm_1", ...). */
void ck_model_unique_name(const ck_model *m, const char *base, char *out, size_t len);
/* The output shape for an input shape (batch axis included), through
 * every layer's output_shape. */
ck_status ck_model_shape_for(const ck_model *m, const ck_shape *in, ck_shape *out);
/* Replaces the training state, freeing the old one through its hooks. */
void ck_model_set_train(ck_model *m, void *state, const ck_train_hooks *hooks);

#endif /* CK_INTERNAL_H */
