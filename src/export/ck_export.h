/* Internal interface of the C exporter (src/export): the driver that plans
 * a model's generated code, and the emitters, one per Keras class, listed
 * in emitters.def. See docs/export.md for the design.
 *
 * An emitter works from what any layer offers: its Keras config (the
 * get_config op), its weights in Keras order and its input and output
 * shapes. Its plan step reads the config, refuses what it cannot export
 * and says how the layer runs; its emit step writes the weights and the
 * static C functions of the layer. */
#ifndef CK_EXPORT_H
#define CK_EXPORT_H

#include "ck_internal.h"

/* ---------------- growing text ---------------- */
typedef struct ck_text {
    char *buf;
    size_t len, cap;
    bool failed; /* an allocation failed: the text is incomplete */
} ck_text;
void ck_text_printf(ck_text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void ck_text_append(ck_text *t, const char *s, size_t n);
void ck_text_free(ck_text *t);

/* ---------------- layers as the exporter sees them ---------------- */
typedef enum ck_exp_kind {
    CK_EXP_ALIAS, /* no code: the output is the input (Dropout, Reshape) */
    CK_EXP_ROW,   /* the same function on every row of the last axis: <id>_row */
    CK_EXP_RNN,   /* a recurrent cell: <id>_cell, driven by rnn.c */
    CK_EXP_WHOLE  /* a function of the whole per-sample tensor: <id>_forward */
} ck_exp_kind;

typedef struct ck_exp ck_exp;
typedef struct ck_exp_layer ck_exp_layer;

typedef struct ck_exp_emitter {
    const char *class_name;
    /* Reads L->cfg, refuses options it cannot export (ck_exp_refuse), sets
     * the kind and the sizes below and declares state. L->out is set. */
    ck_status (*plan)(ck_exp *x, ck_exp_layer *L);
    /* Writes the layer's weights and functions (NULL: identities, none). */
    ck_status (*emit)(ck_exp *x, ck_exp_layer *L);
} ck_exp_emitter;

/* The recurrent options a cell emitter hands to rnn.c. */
typedef struct ck_exp_rnn {
    int units;
    ck_act act, ract;
    bool use_bias, return_sequences, go_backwards, stateful, zero_output_for_mask;
    bool has_cell; /* LSTM: a cell state c next to h */
} ck_exp_rnn;

struct ck_exp_layer {
    const ck_exp_emitter *em;
    const char *cls, *name;
    char id[24];        /* C identifier stem of its functions: "l2", "l2f" */
    const cJSON *cfg;   /* the layer's Keras config */
    const ck_weight *w; /* weights in Keras order */
    int n_w;
    ck_shape in, out; /* batch axis of size 1 */
    /* set by plan */
    ck_exp_kind kind;
    bool steps;             /* can run one frame (time step) at a time */
    bool collapses;         /* consumes the time axis (an RNN's last output) */
    bool begins;            /* has <id>_begin(s, fresh), called when a sequence starts */
    bool makes_mask;        /* writes the mask of its output (Masking, mask_zero) */
    size_t row_in, row_out; /* CK_EXP_ROW: values per input and output row */
    size_t scratch;         /* floats of the shared scratch buffer it uses */
    ck_exp_rnn rnn;         /* CK_EXP_RNN */
    void *priv;             /* emitter's own parsed options, freed by the driver */
    ck_exp_layer *sub;      /* wrapped layers (ck_alloc'ed, freed by the driver) */
    int n_sub;
    bool flip_time; /* a Bidirectional's backward copy: go_backwards flipped */
    /* set by the driver */
    bool mask_in;    /* its input carries a mask */
    bool mask_out;   /* its output carries one */
    bool frame_mode; /* runs one frame at a time (part of the streaming prefix) */
};

/* The emitter of a Keras class, NULL when there is none. */
const ck_exp_emitter *ck_exp_emitter_find(const char *class_name);

/* Fails naming the layer: "cannot export layer 'lstm' (LSTM): ...". */
ck_status ck_exp_refuse(const ck_exp_layer *L, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Refuses any config key outside `known` (NULL-terminated) whose value is
 * not null, so an option the emitter does not handle is never ignored. */
ck_status ck_exp_check_keys(const ck_exp_layer *L, const char *const *known);
/* Plans L as an op on every row of the last axis that keeps its width
 * (kind CK_EXP_ROW, one call per step), its options a copy of the `size`
 * bytes at opts in L->priv. */
ck_status ck_exp_row_plan(ck_exp_layer *L, const void *opts, size_t size);
/* Config readers that refuse (naming the layer) a wrong type. */
ck_status ck_exp_get_int(const ck_exp_layer *L, const char *key, int *out);
ck_status ck_exp_get_bool(const ck_exp_layer *L, const char *key, bool *out);
/* An activation field, resolved for the model's Keras semantics. */
ck_status ck_exp_get_act(ck_exp *x, const ck_exp_layer *L, const char *key, const char *fallback,
                         ck_act *out);
/* Sets up a wrapped layer (Bidirectional, TimeDistributed) from a
 * {"class_name", "config"} object: emitter, config, id "<parent id><suffix>". */
ck_status ck_exp_sub_layer(const ck_exp_layer *parent, const cJSON *obj, const char *suffix,
                           ck_exp_layer *sub);

/* Allocates L->sub for n wrapped layers. */
ck_status ck_exp_alloc_subs(ck_exp_layer *L, int n);
/* Opens the definition of <id>_row(x, y, s, r) (r: the row, for masks). */
void ck_exp_row_open(ck_exp *x, const ck_exp_layer *L);
/* Opens the definition of <id>_forward(x, y, s). */
void ck_exp_forward_open(ck_exp *x, const ck_exp_layer *L);

/* Product of dims[1..rank). */
size_t ck_exp_size(const ck_shape *s);

/* ---------------- the export in progress ---------------- */
typedef enum ck_exp_store { CK_EXP_F32, CK_EXP_F16, CK_EXP_I8 } ck_exp_store;

/* Kernel helpers the generated file needs (bits of ck_exp.helpers). */
enum {
    CK_HELP_MV_F32 = 1u << 0,
    CK_HELP_MV_F16 = 1u << 1,
    CK_HELP_MV_I8 = 1u << 2,
    CK_HELP_H2F = 1u << 3,
    CK_HELP_SOFTMAX = 1u << 4
};

/* A stored matrix whose values the generated code sees rounded, so the
 * report can run ckeras with the same values. */
typedef struct ck_exp_rounded {
    float *data; /* the model's weight */
    size_t rows, cols;
    bool per_row;
} ck_exp_rounded;

struct ck_exp {
    const char *name; /* prefix of the public generated names */
    ck_keras_semantics semantics;
    int keras_release; /* of the model's file (ck_model_keras_release), 0: none */
    ck_exp_store store;
    ck_text weights, code; /* static const arrays; static functions */
    unsigned helpers;      /* CK_HELP_* */
    unsigned acts;         /* bit a: activation a is used */
    size_t weight_bytes;   /* flash taken by the arrays */
    size_t acc_floats;     /* int8 accumulator the matrix products need */
    ck_text state;         /* members of NAME_state */
    size_t state_floats;
    int64_t timesteps;       /* T of the model input, 0 without a time axis */
    ck_exp_rounded *rounded; /* matrices not stored as float32 */
    size_t n_rounded;
};

/* Declares `float <id>_<what>[n]` in NAME_state. */
void ck_exp_state(ck_exp *x, const ck_exp_layer *L, const char *what, size_t n);

/* ---------------- weights (weights.c) ---------------- */
/* A (rows, cols) matrix as emitted: float32, float16 or int8 with one
 * scale per column (per_row: one per row, for lookup tables). */
typedef struct ck_exp_matrix {
    char sym[40]; /* array name; int8 adds <sym>_s for the scales */
    ck_exp_store store;
    size_t rows, cols;
    bool per_row;
} ck_exp_matrix;
/* Emits a matrix stored as the export options ask (float32 when
 * `quantize` is false). Refuses non-finite values and, for float16,
 * values beyond its range, naming the layer and the weight. */
ck_status ck_exp_matrix_emit(ck_exp *x, const ck_exp_layer *L, const char *what, const float *data,
                             size_t rows, size_t cols, bool quantize, bool per_row,
                             ck_exp_matrix *m);
/* A C float literal that reads back as exactly v ("1.0f", "-2.5e-07f"). */
void ck_exp_float_literal(float v, char *buf, size_t len);
/* Emits `static const float <id>_<what>[n]` (biases, normalization). */
ck_status ck_exp_floats_emit(ck_exp *x, const ck_exp_layer *L, const char *what, const float *data,
                             size_t n);
/* Code adding x[0..K) times rows [row0, row0 + K) of columns [col0, col0 +
 * N) of m to y[0..N): expressions are C text of the generated function. */
void ck_exp_matvec(ck_exp *x, const ck_exp_matrix *m, const char *xe, const char *row0, size_t K,
                   size_t col0, size_t N, const char *ye);
/* Code copying row `row` (C expression) of a per-row matrix into y. */
void ck_exp_lookup(ck_exp *x, const ck_exp_matrix *m, const char *row, const char *ye);
/* What the export does to a value: the float the generated code uses for
 * m's element (r, c), for the report's emulation. */
void ck_exp_round_matrix(ck_exp_store store, float *data, size_t rows, size_t cols, bool per_row);

/* ---------------- activations (activations.c) ---------------- */
/* A C expression applying act to the expression `v` (marks act used).
 * Softmax has none: use ck_exp_act_rows. */
const char *ck_exp_act_call(ck_exp *x, ck_act act, const char *v, char *buf, size_t len);
/* Code applying act in place to rows of `len` values of `ye` (n values). */
void ck_exp_act_rows(ck_exp *x, ck_act act, const char *ye, const char *n, size_t len);
/* The static functions of every used activation and kernel helper. */
void ck_exp_helpers_emit(ck_exp *x, ck_text *out);

/* ---------------- recurrent layers (rnn.c) ---------------- */
/* Reads the options every ckeras RNN writes; refuses what is not exported. */
ck_status ck_exp_rnn_plan(ck_exp *x, ck_exp_layer *L, const char *const *extra_keys, bool has_cell);
/* Checks the cell has kernel (F, G), recurrent_kernel (units, G) and, with
 * use_bias, a bias of bias_size values. */
ck_status ck_exp_rnn_weights(const ck_exp_layer *L, size_t G, size_t bias_size);
/* Code setting the n floats at `dst` to the bias array from `offset` (or
 * to zeros without a bias). */
void ck_exp_rnn_bias_init(ck_exp *x, const ck_exp_layer *L, const char *dst, size_t offset,
                          size_t n);
/* After the cell: <id>_begin, and <id>_step (frame mode) or <id>_forward. */
void ck_exp_rnn_emit_driver(ck_exp *x, const ck_exp_layer *L);

/* ---------------- the report (report.c) ---------------- */
/* Runs the model on the sample inputs (or random ones) with its own
 * weights and with the rounded ones x recorded; fills every field of r but
 * state_bytes and streaming. */
ck_status ck_exp_report(ck_model *m, const ck_exp *x, const ck_shape *input, size_t out_size,
                        const ck_export_options *o, ck_export_report *r);

/* ---------------- checksums (checksum.c) ---------------- */
/* Lowercase hex SHA-256 of a file's bytes (65 chars with the NUL). */
ck_status ck_exp_sha256_file(const char *path, char hex[65]);

#endif /* CK_EXPORT_H */
