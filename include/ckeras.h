/*
 * ckeras: a Keras-style neural-network library in C11.
 *
 * Conventions
 *  - Every function that can fail returns ck_status; on failure ck_last_error()
 *    returns a message for the calling thread. The library never prints on its
 *    own and never terminates the process.
 *  - Handles (ck_model, ck_layer) are opaque. A layer passed to ck_model_add()
 *    belongs to the model from then on, even when the call fails.
 *  - Option structs are zero-initialised to mean "the Keras default", so the
 *    constructor macros read like Keras:
 *        ck_lstm(64, .return_sequences = true, .activation = "relu")
 *    Booleans whose Keras default is True are spelled negatively
 *    (.no_bias, .no_unit_forget_bias) so that a zero field keeps the default.
 *  - Arrays are float32, row-major, batch first (Keras's None axis).
 *  - Threads: different models may be used from different threads at once;
 *    one model (and its layers) must not be used from two threads at once.
 *    Functions that take no model or layer may be called from any thread
 *    (docs/reliability.md, "Threads").
 */
#ifndef CKERAS_H
#define CKERAS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "ckeras_options.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Marks the functions libckeras exports; everything else in the shared
 * library is hidden. */
#if defined(__GNUC__)
#define CK_API __attribute__((visibility("default")))
#else
#define CK_API
#endif

#define CK_VERSION_STRING "0.1.0"
/* Maximum tensor rank, batch axis included. */
#define CK_MAX_RANK 6
/* An open dimension (Keras None), e.g. variable timesteps. */
#define CK_NONE (-1)

typedef enum ck_status {
    CK_OK = 0,
    CK_ERR_ARGUMENT,    /* NULL pointer, non-positive size, out-of-range option */
    CK_ERR_SHAPE,       /* shapes do not fit together */
    CK_ERR_NAME,        /* unknown activation, initializer, layer, loss, ... */
    CK_ERR_STATE,       /* call made in the wrong order (e.g. predict before build) */
    CK_ERR_MEMORY,      /* allocation failed or a size would overflow */
    CK_ERR_IO,          /* file could not be opened, read or written */
    CK_ERR_FORMAT,      /* file or JSON content is corrupt or not what was expected */
    CK_ERR_UNSUPPORTED, /* valid Keras, but not implemented by ckeras */
    CK_ERR_NUMERIC,     /* NaN or Inf where a finite number is required */
    CK_ERR_STOPPED /* no longer returned: an early stop ends fit with CK_OK (ck_history_stop_reason) */
} ck_status;

/* Message describing the last error on the calling thread ("" if none). */
CK_API const char *ck_last_error(void);
/* Short constant name of a status code, e.g. "CK_ERR_SHAPE". */
CK_API const char *ck_status_name(ck_status status);

/* ------------------------------------------------------------------ */
/* Threads and matrix products                                         */
/* ------------------------------------------------------------------ */
/* How many threads (the calling one included) a single matrix product may
 * use; the default is OPENBLAS_NUM_THREADS when set, else the number of
 * online CPUs; at most 64. Products too small to gain (estimated under
 * about 8 us on one thread) always run on the calling thread, and a
 * product's result is the same for every thread count. Process-wide;
 * may be called from any thread at any time and applies to products that
 * start after it returns. The threads are ckeras's own pool: ckeras sets
 * OpenBLAS to one thread (openblas_set_num_threads(1)) and stops OpenBLAS's
 * idle threads when it builds or loads its first model or warms up
 * (ck_warm_up), which also applies to the application's own OpenBLAS
 * calls; an application that calls OpenBLAS itself must not do so from
 * another thread during that first build, load or warm-up (OpenBLAS cannot
 * stop its threads under a running call).
 * When several threads run products at once (e.g. predicts on different
 * models), one of them uses the pool and the others run on their own
 * thread. */
CK_API ck_status ck_set_num_threads(int n);
/* The current setting; callable from any thread. */
CK_API int ck_get_num_threads(void);
/* Which libraries run the matrix products, e.g. "libxsmm 1.17, OpenBLAS
 * (Cooperlake kernels)"; a constant string, callable from any thread. */
CK_API const char *ck_blas_backend(void);
/* Does now what the first predict or fit of the process would otherwise
 * start with: OpenBLAS's idle threads stopped (see ck_set_num_threads),
 * the matrix-product library's one-time setup (libxsmm maps its code
 * registry, about 6 ms) and the pool's worker threads for the current
 * ck_set_num_threads. A program that loads a model and reads its data
 * can run it on another thread meanwhile (the ckeras tool does): OpenBLAS's
 * threads are then stopped by whichever comes first, and the other waits
 * for it. Callable from any thread, any number of times. */
CK_API void ck_warm_up(void);

/* ------------------------------------------------------------------ */
/* Tensors: non-owning views used to pass arrays in and out.           */
/* ------------------------------------------------------------------ */
typedef struct ck_tensor {
    int rank;                  /* number of axes, batch included */
    int64_t dims[CK_MAX_RANK]; /* dims[0] is the batch size */
    float *data;               /* row-major, owned by the caller */
} ck_tensor;
/* Number of values of t (0 when a dim is not positive or the count overflows). */
CK_API size_t ck_tensor_size(const ck_tensor *t);
/* Writes a shape as Keras prints it, "(None, 5, 64)"; negative dims are None. */
CK_API void ck_shape_string(int rank, const int64_t *dims, char *buf, size_t len);

/* ------------------------------------------------------------------ */
/* Initializers (Keras names). A zeroed struct means "the layer's       */
/* Keras default". Unused fields are ignored.                           */
/* ------------------------------------------------------------------ */
typedef struct ck_init {
    const char *name; /* "glorot_uniform", "orthogonal", "constant", ... */
    double value;     /* constant */
    double mean;      /* random_normal, truncated_normal */
    double stddev;    /* random_normal, truncated_normal (0 means Keras's 0.05) */
    double minval;    /* random_uniform (0,0 means Keras's -0.05, 0.05) */
    double maxval;
    double gain;              /* orthogonal, identity (0 means 1.0) */
    double scale;             /* variance_scaling (0 means 1.0) */
    const char *mode;         /* variance_scaling: "fan_in" (default), "fan_out", "fan_avg" */
    const char *distribution; /* variance_scaling: "truncated_normal" (default),
                                  "untruncated_normal", "uniform" */
} ck_init;
#define CK_INIT(init_name, ...) CK_VALUE_(ck_init, .name = (init_name), __VA_ARGS__)

/* ------------------------------------------------------------------ */
/* Layers                                                              */
/* ------------------------------------------------------------------ */
typedef struct ck_layer ck_layer;

/* keras.Input(shape=(...)): the per-sample shape, batch excluded.
 * ck_input(5, 126) or ck_input(CK_NONE, 126) for open timesteps;
 * ck_input_named("frames", 5, 126) also names it (keras.Input(name=...)). */
typedef struct ck_input_options {
    int ck_opts_; /* internal: lets the constructor macros start with a designator */
    int64_t shape[CK_MAX_RANK - 1]; /* ends at the first 0 */
    const char *name;
    int64_t batch_size; /* Keras batch_size (batch_input_shape[0]); 0: None */
    /* Keras Input(dtype=...); NULL is float32. Keras casts what is fed to
     * it: "float16" and "bfloat16" round each value, integer types
     * ("int32", "uint8", ...) truncate it and wrap it into their range,
     * "bool" makes it 0 or 1; "float64" changes nothing. */
    const char *dtype;
} ck_input_options;
CK_API ck_layer *ck_input_new(const ck_input_options *opts);
#define ck_input(...) ck_input_new(CK_ADDR_(ck_input_options, .shape = {__VA_ARGS__}))
#define ck_input_named(input_name, ...) \
    ck_input_new(CK_ADDR_(ck_input_options, .shape = {__VA_ARGS__}, .name = (input_name)))

/* keras.layers.Dense */
typedef struct ck_dense_options {
    int ck_opts_; /* internal: lets the constructor macros start with a designator */
    int units;
    const char *activation;     /* NULL: linear */
    bool no_bias;               /* Keras use_bias=False */
    ck_init kernel_initializer; /* default glorot_uniform */
    ck_init bias_initializer;   /* default zeros */
    const char *name;
} ck_dense_options;
CK_API ck_layer *ck_dense_new(const ck_dense_options *opts);
#define ck_dense(...) ck_dense_new(CK_ADDR_(ck_dense_options, .ck_opts_ = 0, __VA_ARGS__))

/* The options every Keras recurrent layer takes, declared once: each
 * options struct below starts with them (units first, so that
 * ck_lstm(64, ...) sets the units). */
#define CK_RNN_OPTIONS                                                                        \
    int ck_opts_; /* internal: lets the constructor macros start with a designator */         \
    int units;                                                                                \
    const char *activation;        /* default "tanh" */                                       \
    bool no_bias;                  /* Keras use_bias=False */                                 \
    ck_init kernel_initializer;    /* default glorot_uniform */                               \
    ck_init recurrent_initializer; /* default orthogonal */                                   \
    ck_init bias_initializer;      /* default zeros */                                        \
    bool return_sequences;                                                                    \
    bool return_state; /* the final state: ck_lstm_get_state, ck_rnn_get_state */             \
    bool go_backwards;                                                                        \
    bool stateful;                                                                            \
    bool zero_output_for_mask; /* with a mask: zeros, not the last output, at masked steps */ \
    double dropout;            /* on the inputs, training only */                             \
    double recurrent_dropout;  /* on h_{t-1}, training only */                                \
    const char *name;

/* keras.layers.LSTM */
typedef struct ck_lstm_options {
    CK_RNN_OPTIONS
    const char *recurrent_activation; /* default "sigmoid" */
    bool no_unit_forget_bias;         /* Keras unit_forget_bias=False */
} ck_lstm_options;
CK_API ck_layer *ck_lstm_new(const ck_lstm_options *opts);
#define ck_lstm(...) ck_lstm_new(CK_ADDR_(ck_lstm_options, .ck_opts_ = 0, __VA_ARGS__))

/* The final (h, c) of the last forward, batch x units each (Keras
 * return_state=True). */
CK_API ck_status ck_lstm_get_state(ck_layer *lstm, float *h, float *c, int64_t batch);
/* Initial state for the following forwards (Keras initial_state=[h0, c0]);
 * ck_model_reset_states() returns to zeros. */
CK_API ck_status ck_lstm_set_initial_state(ck_layer *lstm, const float *h0, const float *c0,
                                           int64_t batch);

/* ---- GRU, SimpleRNN, Bidirectional (recurrent layers) ------------------ */
/* keras.layers.GRU: ck_gru(32, .return_sequences = true). Gate order z, r, h.
 * With reset_after (the Keras 2.3+ and Keras 3 default) the bias is (2, 3u):
 * the input bias row, then the recurrent bias row. */
typedef struct ck_gru_options {
    CK_RNN_OPTIONS
    const char *recurrent_activation; /* default "sigmoid" */
    bool no_reset_after;              /* Keras reset_after=False (the Keras <= 2.2 default) */
} ck_gru_options;
CK_API ck_layer *ck_gru_new(const ck_gru_options *opts);
#define ck_gru(...) ck_gru_new(CK_ADDR_(ck_gru_options, .ck_opts_ = 0, __VA_ARGS__))

/* keras.layers.SimpleRNN: h_t = activation(x_t W + h_{t-1} U + b). */
typedef struct ck_simple_rnn_options {
    CK_RNN_OPTIONS
} ck_simple_rnn_options;
CK_API ck_layer *ck_simple_rnn_new(const ck_simple_rnn_options *opts);
#define ck_simple_rnn(...) \
    ck_simple_rnn_new(CK_ADDR_(ck_simple_rnn_options, .ck_opts_ = 0, __VA_ARGS__))

/* The final h of the last forward of a GRU or SimpleRNN (batch x units). */
CK_API ck_status ck_rnn_get_state(ck_layer *rnn, float *h, int64_t batch);
/* Initial h for the following forwards of a GRU or SimpleRNN (Keras
 * initial_state); ck_model_reset_states() returns to zeros. */
CK_API ck_status ck_rnn_set_initial_state(ck_layer *rnn, const float *h0, int64_t batch);

/* keras.layers.Bidirectional around an LSTM, GRU or SimpleRNN:
 *     ck_bidirectional(ck_lstm(64, .return_sequences = true), .merge_mode = "sum")
 * The wrapper takes ownership of `layer` in every case (it is freed when the
 * constructor fails). The backward copy is the same layer with go_backwards
 * flipped; with return_sequences its output is flipped back in time before
 * merging. merge_mode None (two outputs) is not supported. */
typedef struct ck_bidirectional_options {
    int ck_opts_; /* internal: lets the constructor macros start with a designator */
    ck_layer *layer;
    const char *merge_mode; /* "concat" (default), "sum", "mul", "ave" */
    const char *name;
} ck_bidirectional_options;
CK_API ck_layer *ck_bidirectional_new(const ck_bidirectional_options *opts);
#define ck_bidirectional(...) \
    ck_bidirectional_new(CK_ADDR_(ck_bidirectional_options, .layer = __VA_ARGS__))
/* ---- end GRU, SimpleRNN, Bidirectional --------------------------------- */

/* keras.layers.Softmax */
typedef struct ck_softmax_options {
    int ck_opts_; /* internal: lets the constructor macros start with a designator */
    int axis; /* the last axis: -1 (the default, also when 0), or its index from the batch axis */
    const char *name;
} ck_softmax_options;
CK_API ck_layer *ck_softmax_new(const ck_softmax_options *opts);
#define ck_softmax(...) ck_softmax_new(CK_ADDR_(ck_softmax_options, .ck_opts_ = 0, __VA_ARGS__))

/* keras.layers.Activation */
typedef struct ck_activation_options {
    int ck_opts_; /* internal: lets the constructor macros start with a designator */
    const char *activation;
    const char *name;
} ck_activation_options;
CK_API ck_layer *ck_activation_new(const ck_activation_options *opts);
#define ck_activation(...) \
    ck_activation_new(CK_ADDR_(ck_activation_options, .ck_opts_ = 0, __VA_ARGS__))

/* ---- advanced activation layers (element-wise, any input rank) --------- */
/* keras.layers.LeakyReLU: x for x > 0, else negative_slope * x (Keras 2
 * calls the slope alpha). A slope of exactly 0 is ck_relu(). */
typedef struct ck_leaky_relu_options {
    int ck_opts_;          /* internal: lets the constructor macros start with a designator */
    double negative_slope; /* default 0.3 (also when 0) */
    const char *name;
} ck_leaky_relu_options;
CK_API ck_layer *ck_leaky_relu_new(const ck_leaky_relu_options *opts);
#define ck_leaky_relu(...) \
    ck_leaky_relu_new(CK_ADDR_(ck_leaky_relu_options, .ck_opts_ = 0, __VA_ARGS__))

/* keras.layers.ReLU: min(x, max_value) for x > threshold, else
 * negative_slope * (x - threshold). All three are >= 0. */
typedef struct ck_relu_options {
    int ck_opts_;          /* internal: lets the constructor macros start with a designator */
    double max_value;      /* 0: none (Keras None; a file's max_value 0 is kept) */
    double negative_slope; /* default 0 */
    double threshold;      /* default 0 */
    const char *name;
} ck_relu_options;
CK_API ck_layer *ck_relu_new(const ck_relu_options *opts);
#define ck_relu(...) ck_relu_new(CK_ADDR_(ck_relu_options, .ck_opts_ = 0, __VA_ARGS__))

/* keras.layers.ThresholdedReLU (Keras 2 and tf.keras only; Keras 3 has
 * ReLU(threshold=theta) instead): x for x > theta, else 0. */
typedef struct ck_thresholded_relu_options {
    int ck_opts_; /* internal: lets the constructor macros start with a designator */
    double theta; /* >= 0, default 1.0 (also when 0) */
    const char *name;
} ck_thresholded_relu_options;
CK_API ck_layer *ck_thresholded_relu_new(const ck_thresholded_relu_options *opts);
#define ck_thresholded_relu(...) \
    ck_thresholded_relu_new(CK_ADDR_(ck_thresholded_relu_options, .ck_opts_ = 0, __VA_ARGS__))

/* keras.layers.ELU: x for x > 0, else alpha * (exp(x) - 1). */
typedef struct ck_elu_options {
    int ck_opts_; /* internal: lets the constructor macros start with a designator */
    double alpha; /* default 1.0 (also when 0) */
    const char *name;
} ck_elu_options;
CK_API ck_layer *ck_elu_new(const ck_elu_options *opts);
#define ck_elu(...) ck_elu_new(CK_ADDR_(ck_elu_options, .ck_opts_ = 0, __VA_ARGS__))

/* keras.layers.PReLU: x for x > 0, else alpha * x with a trained weight
 * alpha shaped like one sample, of size 1 on the shared axes (1-based,
 * batch excluded: {1} shares alpha over the steps of a sequence). Its
 * regularizer and constraint: ck_layer_set_regularizer(l, "alpha", ...). */
typedef struct ck_prelu_options {
    int ck_opts_;              /* internal: lets the constructor macros start with a designator */
    ck_init alpha_initializer; /* default zeros */
    int shared_axes[CK_MAX_RANK - 1]; /* ends at the first 0 */
    const char *name;
} ck_prelu_options;
CK_API ck_layer *ck_prelu_new(const ck_prelu_options *opts);
#define ck_prelu(...) ck_prelu_new(CK_ADDR_(ck_prelu_options, .ck_opts_ = 0, __VA_ARGS__))
/* ---- end advanced activation layers ----------------------------------- */

/* keras.layers.Dropout (identity at inference). noise_shape is Keras's:
 * one size per axis, batch first, CK_NONE for "the input's size"; a 1
 * shares one draw along that axis, e.g. {CK_NONE, 1, CK_NONE} drops the
 * same features at every step of a sequence. */
typedef struct ck_dropout_options {
    int ck_opts_; /* internal: lets the constructor macros start with a designator */
    double rate;
    const char *name;
    int64_t noise_shape[CK_MAX_RANK];
    int noise_rank; /* 0: no noise_shape (one draw per value) */
} ck_dropout_options;
CK_API ck_layer *ck_dropout_new(const ck_dropout_options *opts);
#define ck_dropout(...) ck_dropout_new(CK_ADDR_(ck_dropout_options, .ck_opts_ = 0, __VA_ARGS__))

/* ---- keras.layers.Embedding ------------------------------------------- */
/* Maps integer ids (stored as float in the input, any rank) to rows of an
 * (input_dim, output_dim) table: input (batch, t) gives (batch, t, output_dim).
 * Ids must be whole numbers in [0, input_dim). ck_embedding(28, 32) */
typedef struct ck_embedding_options {
    int ck_opts_;   /* internal: lets the constructor macros start with a designator */
    int input_dim;  /* vocabulary size */
    int output_dim; /* vector size */
    ck_init embeddings_initializer; /* default random_uniform(-0.05, 0.05) */
    bool mask_zero;                 /* id 0 is padding: masks those steps downstream */
    const char *name;
} ck_embedding_options;
CK_API ck_layer *ck_embedding_new(const ck_embedding_options *opts);
#define ck_embedding(...) \
    ck_embedding_new(CK_ADDR_(ck_embedding_options, .ck_opts_ = 0, __VA_ARGS__))
/* ---- end Embedding ----------------------------------------------------- */

/* keras.layers.Masking: a step whose features all equal mask_value is
 * masked: its output is zeroed and the layers after it skip it (recurrent
 * layers carry their state over it; the loss leaves it out).
 *     ck_masking(.mask_value = 0.0) */
typedef struct ck_masking_options {
    int ck_opts_;      /* internal: lets the constructor macros start with a designator */
    double mask_value; /* default 0.0 */
    const char *name;
} ck_masking_options;
CK_API ck_layer *ck_masking_new(const ck_masking_options *opts);
#define ck_masking(...) ck_masking_new(CK_ADDR_(ck_masking_options, .ck_opts_ = 0, __VA_ARGS__))

/* ------------------------------------------------------------------ */
/* Shape, noise, normalization, convolution and pooling layers.        */
/* Sequences are (batch, steps, channels) (Keras channels_last).       */
/* ------------------------------------------------------------------ */

/* keras.layers.TimeDistributed: applies `layer` to every step of axis 1.
 * Takes ownership of `layer`, also on failure (a layer that already
 * belongs to a model is refused and stays there):
 *     ck_time_distributed(.layer = ck_dense(8, .activation = "relu")) */
typedef struct ck_time_distributed_options {
    int ck_opts_; /* internal: lets the constructor macros start with a designator */
    ck_layer *layer;
    const char *name;
} ck_time_distributed_options;
CK_API ck_layer *ck_time_distributed_new(const ck_time_distributed_options *opts);
#define ck_time_distributed(...) \
    ck_time_distributed_new(CK_ADDR_(ck_time_distributed_options, .ck_opts_ = 0, __VA_ARGS__))

/* keras.layers.RepeatVector: (batch, F) -> (batch, n, F). */
typedef struct ck_repeat_vector_options {
    int ck_opts_; /* internal: lets the constructor macros start with a designator */
    int n;
    const char *name;
} ck_repeat_vector_options;
CK_API ck_layer *ck_repeat_vector_new(const ck_repeat_vector_options *opts);
#define ck_repeat_vector(...) \
    ck_repeat_vector_new(CK_ADDR_(ck_repeat_vector_options, .ck_opts_ = 0, __VA_ARGS__))

/* keras.layers.Flatten */
typedef struct ck_flatten_options {
    int ck_opts_; /* internal: lets the constructor macros start with a designator */
    const char *name;
} ck_flatten_options;
CK_API ck_layer *ck_flatten_new(const ck_flatten_options *opts);
#define ck_flatten(...) ck_flatten_new(CK_ADDR_(ck_flatten_options, .ck_opts_ = 0, __VA_ARGS__))

/* keras.layers.Reshape: ck_reshape(2, -1); batch excluded, one -1 is inferred. */
typedef struct ck_reshape_options {
    int ck_opts_; /* internal: lets the constructor macros start with a designator */
    int64_t target_shape[CK_MAX_RANK - 1]; /* ends at the first 0 */
    const char *name;
} ck_reshape_options;
CK_API ck_layer *ck_reshape_new(const ck_reshape_options *opts);
#define ck_reshape(...) ck_reshape_new(CK_ADDR_(ck_reshape_options, .target_shape = {__VA_ARGS__}))

/* keras.layers.Permute: ck_permute(2, 1); 1-based axes, batch excluded. */
typedef struct ck_permute_options {
    int ck_opts_;              /* internal: lets the constructor macros start with a designator */
    int dims[CK_MAX_RANK - 1]; /* ends at the first 0 */
    const char *name;
} ck_permute_options;
CK_API ck_layer *ck_permute_new(const ck_permute_options *opts);
#define ck_permute(...) ck_permute_new(CK_ADDR_(ck_permute_options, .dims = {__VA_ARGS__}))

/* keras.layers.SpatialDropout1D: drops whole channels, training only. */
typedef struct ck_spatial_dropout1d_options {
    int ck_opts_; /* internal: lets the constructor macros start with a designator */
    double rate;
    const char *name;
} ck_spatial_dropout1d_options;
CK_API ck_layer *ck_spatial_dropout1d_new(const ck_spatial_dropout1d_options *opts);
#define ck_spatial_dropout1d(...) \
    ck_spatial_dropout1d_new(CK_ADDR_(ck_spatial_dropout1d_options, .ck_opts_ = 0, __VA_ARGS__))

/* keras.layers.GaussianNoise: adds N(0, stddev^2) noise, training only. */
typedef struct ck_gaussian_noise_options {
    int ck_opts_; /* internal: lets the constructor macros start with a designator */
    double stddev;
    const char *name;
} ck_gaussian_noise_options;
CK_API ck_layer *ck_gaussian_noise_new(const ck_gaussian_noise_options *opts);
#define ck_gaussian_noise(...) \
    ck_gaussian_noise_new(CK_ADDR_(ck_gaussian_noise_options, .ck_opts_ = 0, __VA_ARGS__))

/* keras.layers.GaussianDropout: multiplies by N(1, rate / (1 - rate))
 * noise, training only; rate in [0, 1). */
typedef struct ck_gaussian_dropout_options {
    int ck_opts_; /* internal: lets the constructor macros start with a designator */
    double rate;
    const char *name;
} ck_gaussian_dropout_options;
CK_API ck_layer *ck_gaussian_dropout_new(const ck_gaussian_dropout_options *opts);
#define ck_gaussian_dropout(...) \
    ck_gaussian_dropout_new(CK_ADDR_(ck_gaussian_dropout_options, .ck_opts_ = 0, __VA_ARGS__))

/* keras.layers.AlphaDropout: in training, drops values to SELU's negative
 * saturation and rescales so a unit-normal input keeps its mean and
 * variance; rate in [0, 1); noise_shape as for ck_dropout_options. */
typedef struct ck_alpha_dropout_options {
    int ck_opts_; /* internal: lets the constructor macros start with a designator */
    double rate;
    const char *name;
    int64_t noise_shape[CK_MAX_RANK];
    int noise_rank; /* 0: no noise_shape (one draw per value) */
} ck_alpha_dropout_options;
CK_API ck_layer *ck_alpha_dropout_new(const ck_alpha_dropout_options *opts);
#define ck_alpha_dropout(...) \
    ck_alpha_dropout_new(CK_ADDR_(ck_alpha_dropout_options, .ck_opts_ = 0, __VA_ARGS__))

/* keras.layers.ZeroPadding1D: adds padding[0] zero steps before and
 * padding[1] after the steps of (batch, steps, features); {0, 0} (unset)
 * is Keras's default (1, 1). Drops a mask, as Keras 3 does. */
typedef struct ck_zero_padding1d_options {
    int ck_opts_; /* internal: lets the constructor macros start with a designator */
    int padding[2];
    const char *name;
} ck_zero_padding1d_options;
CK_API ck_layer *ck_zero_padding1d_new(const ck_zero_padding1d_options *opts);
#define ck_zero_padding1d(...) \
    ck_zero_padding1d_new(CK_ADDR_(ck_zero_padding1d_options, .ck_opts_ = 0, __VA_ARGS__))

/* keras.layers.Cropping1D: removes cropping[0] steps at the start and
 * cropping[1] at the end; {0, 0} (unset) is Keras's default (1, 1). Drops
 * a mask, as Keras 3 does. */
typedef struct ck_cropping1d_options {
    int ck_opts_; /* internal: lets the constructor macros start with a designator */
    int cropping[2];
    const char *name;
} ck_cropping1d_options;
CK_API ck_layer *ck_cropping1d_new(const ck_cropping1d_options *opts);
#define ck_cropping1d(...) \
    ck_cropping1d_new(CK_ADDR_(ck_cropping1d_options, .ck_opts_ = 0, __VA_ARGS__))

/* keras.layers.UpSampling1D: repeats each step size times (default 2).
 * Drops a mask, as Keras 3 does. */
typedef struct ck_up_sampling1d_options {
    int ck_opts_; /* internal: lets the constructor macros start with a designator */
    int size;
    const char *name;
} ck_up_sampling1d_options;
CK_API ck_layer *ck_up_sampling1d_new(const ck_up_sampling1d_options *opts);
#define ck_up_sampling1d(...) \
    ck_up_sampling1d_new(CK_ADDR_(ck_up_sampling1d_options, .ck_opts_ = 0, __VA_ARGS__))

/* keras.layers.ActivityRegularization: an identity whose output adds
 * l1 * sum|y| + l2 * sum y^2 to the training loss (divided by the batch
 * size where the model's Keras release divides an activity penalty). */
typedef struct ck_activity_regularization_options {
    int ck_opts_; /* internal: lets the constructor macros start with a designator */
    double l1, l2;
    const char *name;
} ck_activity_regularization_options;
CK_API ck_layer *ck_activity_regularization_new(const ck_activity_regularization_options *opts);
#define ck_activity_regularization(...) \
    ck_activity_regularization_new(     \
        CK_ADDR_(ck_activity_regularization_options, .ck_opts_ = 0, __VA_ARGS__))

/* keras.layers.LayerNormalization; weights gamma (scale) then beta (center). */
typedef struct ck_layer_normalization_options {
    int ck_opts_;              /* internal: lets the constructor macros start with a designator */
    int axis;                  /* only the last axis: -1 (also when 0) */
    double epsilon;            /* default 1e-3 */
    bool no_center;            /* Keras center=False: no beta */
    bool no_scale;             /* Keras scale=False: no gamma */
    ck_init beta_initializer;  /* default zeros */
    ck_init gamma_initializer; /* default ones */
    const char *name;
} ck_layer_normalization_options;
CK_API ck_layer *ck_layer_normalization_new(const ck_layer_normalization_options *opts);
#define ck_layer_normalization(...) \
    ck_layer_normalization_new(CK_ADDR_(ck_layer_normalization_options, .ck_opts_ = 0, __VA_ARGS__))

/* keras.layers.BatchNormalization; weights gamma, beta, then the
 * non-trainable moving_mean and moving_variance. Training normalizes with
 * the batch statistics and updates the moving ones; inference uses the
 * moving ones. */
typedef struct ck_batch_normalization_options {
    int ck_opts_;              /* internal: lets the constructor macros start with a designator */
    int axis;                  /* only the last axis: -1 (also when 0) */
    double momentum;           /* default 0.99 */
    double epsilon;            /* default 1e-3 */
    bool no_center;            /* Keras center=False: no beta */
    bool no_scale;             /* Keras scale=False: no gamma */
    ck_init beta_initializer;  /* default zeros */
    ck_init gamma_initializer; /* default ones */
    ck_init moving_mean_initializer;     /* default zeros */
    ck_init moving_variance_initializer; /* default ones */
    const char *name;
} ck_batch_normalization_options;
CK_API ck_layer *ck_batch_normalization_new(const ck_batch_normalization_options *opts);
#define ck_batch_normalization(...) \
    ck_batch_normalization_new(CK_ADDR_(ck_batch_normalization_options, .ck_opts_ = 0, __VA_ARGS__))

/* keras.layers.Normalization: (x - mean) / max(sqrt(variance), 1e-7),
 * with one mean and variance per position of the kept axes, broadcast over
 * the others (invert: mean + x * max(sqrt(variance), 1e-7)). Given mean
 * and variance, the layer has no weights; without them it has Keras's
 * adapted weights mean and variance (shaped like the kept axes) and the
 * scalar int64 count, all non-trainable, which a loaded file or
 * ck_normalization_adapt fills. */
typedef struct ck_normalization_options {
    int ck_opts_;          /* internal: lets the constructor macros start with a designator */
    int axis[CK_MAX_RANK]; /* the kept axes, batch axis 0, negative ones from the end */
    int n_axis;            /* 0: Keras's default axis -1 (or None with axis_none) */
    bool axis_none;        /* Keras axis=None: one mean and variance for every value */
    const double *mean;    /* n_mean values, NULL: adapted weights */
    const double *variance;
    int n_mean; /* 1: a scalar; else a list broadcast over the kept shape */
    bool invert;
    const char *name;
} ck_normalization_options;
CK_API ck_layer *ck_normalization_new(const ck_normalization_options *opts);
#define ck_normalization(...) \
    ck_normalization_new(CK_ADDR_(ck_normalization_options, .ck_opts_ = 0, __VA_ARGS__))
/* Keras's layer.adapt(data) for a Normalization without a given mean and
 * variance, in a built model: the mean and the (population) variance of
 * data over every axis but the kept ones, computed in double and stored as
 * float32; count becomes the number of values behind each mean for a model
 * with Keras 2 semantics (as tf.keras counts them) and is left as it is for
 * Keras 3 (whose adapt() leaves it). data is (samples, ...), of the layer's
 * input rank, with the kept axes of its input's sizes; a non-finite value
 * is refused (CK_ERR_NUMERIC).
 *     ck_normalization_adapt(ck_model_layer(m, 0), &x_train);
 * Changes the model's weights: not while another thread uses the model. */
CK_API ck_status ck_normalization_adapt(ck_layer *layer, const ck_tensor *data);

/* keras.layers.Rescaling: x * scale + offset, ck_rescaling(1.0 / 255).
 * scales and offsets, when given, hold one value per feature (last axis)
 * instead. */
typedef struct ck_rescaling_options {
    int ck_opts_; /* internal: lets the constructor macros start with a designator */
    double scale;
    double offset; /* default 0 */
    const double *scales, *offsets;
    int n_features; /* values in scales and offsets */
    const char *name;
} ck_rescaling_options;
CK_API ck_layer *ck_rescaling_new(const ck_rescaling_options *opts);
#define ck_rescaling(...) \
    ck_rescaling_new(CK_ADDR_(ck_rescaling_options, .ck_opts_ = 0, __VA_ARGS__))

/* keras.layers.Conv1D: ck_conv1d(64, 3, .activation = "relu").
 * kernel (kernel_size, channels, filters), bias (filters). */
typedef struct ck_conv1d_options {
    int ck_opts_; /* internal: lets the constructor macros start with a designator */
    int filters;
    int kernel_size;
    int strides;                /* default 1 */
    const char *padding;        /* "valid" (default), "same" or "causal" */
    int dilation_rate;          /* default 1 */
    const char *activation;     /* NULL: linear */
    bool no_bias;               /* Keras use_bias=False */
    ck_init kernel_initializer; /* default glorot_uniform */
    ck_init bias_initializer;   /* default zeros */
    const char *name;
} ck_conv1d_options;
CK_API ck_layer *ck_conv1d_new(const ck_conv1d_options *opts);
#define ck_conv1d(...) ck_conv1d_new(CK_ADDR_(ck_conv1d_options, .ck_opts_ = 0, __VA_ARGS__))

/* keras.layers.MaxPooling1D and AveragePooling1D. "same" padding never
 * counts the padded positions. */
typedef struct ck_pooling1d_options {
    int ck_opts_;        /* internal: lets the constructor macros start with a designator */
    int pool_size;       /* default 2 */
    int strides;         /* default pool_size */
    const char *padding; /* "valid" (default) or "same" */
    const char *name;
} ck_pooling1d_options;
CK_API ck_layer *ck_max_pooling1d_new(const ck_pooling1d_options *opts);
CK_API ck_layer *ck_average_pooling1d_new(const ck_pooling1d_options *opts);
#define ck_max_pooling1d(...) \
    ck_max_pooling1d_new(CK_ADDR_(ck_pooling1d_options, .ck_opts_ = 0, __VA_ARGS__))
#define ck_average_pooling1d(...) \
    ck_average_pooling1d_new(CK_ADDR_(ck_pooling1d_options, .ck_opts_ = 0, __VA_ARGS__))

/* keras.layers.GlobalAveragePooling1D and GlobalMaxPooling1D over the steps. */
typedef struct ck_global_pooling1d_options {
    int ck_opts_;  /* internal: lets the constructor macros start with a designator */
    bool keepdims; /* output (batch, 1, channels) */
    const char *name;
} ck_global_pooling1d_options;
CK_API ck_layer *ck_global_average_pooling1d_new(const ck_global_pooling1d_options *opts);
CK_API ck_layer *ck_global_max_pooling1d_new(const ck_global_pooling1d_options *opts);
#define ck_global_average_pooling1d(...) \
    ck_global_average_pooling1d_new(     \
        CK_ADDR_(ck_global_pooling1d_options, .ck_opts_ = 0, __VA_ARGS__))
#define ck_global_max_pooling1d(...) \
    ck_global_max_pooling1d_new(CK_ADDR_(ck_global_pooling1d_options, .ck_opts_ = 0, __VA_ARGS__))
/* ----------------- end of shape ... pooling layers ----------------- */

/* Frees a layer that was never added to a model. */
CK_API void ck_layer_free(ck_layer *layer);

CK_API const char *ck_layer_name(const ck_layer *layer);
CK_API const char *ck_layer_class_name(const ck_layer *layer); /* "LSTM", "Dense", ... */
CK_API size_t ck_layer_count_params(const ck_layer *layer);
/* Output shape after build; dims[0] is CK_NONE (the batch). */
CK_API ck_status ck_layer_output_shape(const ck_layer *layer, int *rank, int64_t dims[CK_MAX_RANK]);
/* Number of weights and access to weight i in Keras order (kernel,
 * recurrent_kernel, bias). The view may be written, but writes reach the
 * next predict or fit only through a view taken after the last predict or
 * fit: the model keeps some weights copied into its matrix library's
 * layout, and taking a view is what tells it to copy them again. */
CK_API int ck_layer_weight_count(const ck_layer *layer);
CK_API ck_status ck_layer_weight(ck_layer *layer, int index, const char **name, ck_tensor *view);
/* Keras layer.trainable: a frozen layer's weights are non-trainable (fit
 * leaves them unchanged, the summary counts them as non-trainable, configs
 * save "trainable": false; a frozen BatchNormalization also normalizes with
 * its moving statistics during fit, as in Keras). May be changed on a built
 * or loaded model (transfer learning): counts and configs follow at once,
 * training at the next compile, as in Keras. Not thread-safe for the same
 * model. */
CK_API ck_status ck_layer_set_trainable(ck_layer *layer, bool trainable);
CK_API bool ck_layer_is_trainable(const ck_layer *layer);

/* ---- Regularizers and constraints (keras.regularizers, keras.constraints) */
/* Keras's L1, L2 and L1L2: the penalty l1 * sum|w| + l2 * sum w^2. */
typedef struct ck_regularizer {
    const char *name; /* "l1", "l2", "l1_l2" (or the class names L1, L2, L1L2) */
    double l1, l2;    /* factors; 0 with "l1" or "l2" means Keras's 0.01 */
} ck_regularizer;
#define ck_l1(v) (CK_ADDR_(ck_regularizer, .name = "l1", .l1 = (v)))
#define ck_l2(v) (CK_ADDR_(ck_regularizer, .name = "l2", .l2 = (v)))
#define ck_l1_l2(a, b) (CK_ADDR_(ck_regularizer, .name = "l1_l2", .l1 = (a), .l2 = (b)))

/* Keras's MaxNorm, NonNeg, UnitNorm and MinMaxNorm. Zero fields mean the
 * Keras defaults (max_value 2 for max_norm, 1 for min_max_norm; min_value
 * 0; rate 1; axis 0, the norm of each column of a kernel). */
typedef struct ck_constraint {
    const char *name; /* "max_norm", "non_neg", "unit_norm", "min_max_norm" (or class names) */
    double max_value, min_value, rate;
    int axis[CK_MAX_RANK]; /* the axes the norm runs over; negative counts from the end */
    int n_axis;            /* 0: the single axis[0] */
} ck_constraint;
#define ck_max_norm(...) (CK_ADDR_(ck_constraint, .name = "max_norm", __VA_ARGS__))
#define ck_non_neg(...) (CK_ADDR_(ck_constraint, .name = "non_neg", __VA_ARGS__))
#define ck_unit_norm(...) (CK_ADDR_(ck_constraint, .name = "unit_norm", __VA_ARGS__))
#define ck_min_max_norm(...) (CK_ADDR_(ck_constraint, .name = "min_max_norm", __VA_ARGS__))

/* Keras kernel_regularizer, recurrent_regularizer, bias_regularizer,
 * embeddings_regularizer, gamma_regularizer, beta_regularizer and
 * alpha_regularizer (PReLU): `weight` is "kernel", "recurrent", "bias",
 * "embeddings", "gamma", "beta" or "alpha";
 * "activity" sets activity_regularizer (a penalty on the layer's output).
 * NULL removes it. Penalties are added to the training loss and to the
 * loss fit and evaluate report, as Keras does; configs save them. The
 * option must be one of the layer's own (CK_ERR_NAME otherwise): for a layer
 * wrapped by Bidirectional or TimeDistributed, set them on the layer before
 * wrapping it. Not thread-safe for the same layer or model. */
CK_API ck_status ck_layer_set_regularizer(ck_layer *layer, const char *weight,
                                          const ck_regularizer *regularizer);
/* Keras kernel_constraint etc. (same `weight` names, no "activity"):
 * the weight is projected after every optimizer step. NULL removes it.
 * Not thread-safe for the same layer or model. */
CK_API ck_status ck_layer_set_constraint(ck_layer *layer, const char *weight,
                                         const ck_constraint *constraint);

/* ------------------------------------------------------------------ */
/* Sequential model                                                    */
/* ------------------------------------------------------------------ */
typedef struct ck_model ck_model;

typedef enum ck_keras_semantics {
    CK_KERAS2 = 0, /* default: tf.keras 2.x semantics (hard_sigmoid = clip(0.2x+0.5)) */
    CK_KERAS3      /* Keras 3 semantics (hard_sigmoid = clip(x/6+0.5)) */
} ck_keras_semantics;

typedef struct ck_model_options {
    int ck_opts_;     /* internal: lets the constructor macros start with a designator */
    const char *name; /* default "sequential" */
    uint64_t seed;    /* seeds every initializer, dropout and shuffle; 0 is a valid seed */
    ck_keras_semantics semantics; /* how version-dependent names are read */
} ck_model_options;
CK_API ck_model *ck_sequential_new(const ck_model_options *opts);
#define ck_sequential(...) ck_sequential_new(CK_ADDR_(ck_model_options, .ck_opts_ = 0, __VA_ARGS__))
CK_API void ck_model_free(ck_model *model);

/* Appends a layer; the model takes ownership of it in every case.
 * Passing NULL (a failed constructor) returns that constructor's error.
 * On a built or loaded model the layer is built at once (a new head for
 * transfer learning): every existing weight keeps its value, the new
 * weights are initialised, and the model must be compiled again. On
 * failure the model is unchanged. Not thread-safe for the same model. */
CK_API ck_status ck_model_add(ck_model *model, ck_layer *layer);
/* Keras Sequential.pop(): removes and frees the last layer. A built model
 * keeps its other weights and must be compiled again. Not thread-safe for
 * the same model. */
CK_API ck_status ck_model_pop(ck_model *model);
/* Infers every shape from the input layer and creates the weights with their
 * initializers. Called implicitly by summary/predict/compile when possible. */
CK_API ck_status ck_model_build(ck_model *model);
CK_API bool ck_model_is_built(const ck_model *model);

CK_API const char *ck_model_name(const ck_model *model);
CK_API int ck_model_layer_count(const ck_model *model); /* InputLayer not counted, as in Keras */
CK_API ck_layer *ck_model_layer(ck_model *model, int index);
CK_API ck_layer *ck_model_get_layer(ck_model *model, const char *name);
CK_API size_t ck_model_count_params(const ck_model *model);
CK_API size_t ck_model_count_trainable_params(const ck_model *model);
CK_API size_t ck_model_count_non_trainable_params(const ck_model *model);
/* Per-sample input and output shapes (batch axis excluded). */
CK_API ck_status ck_model_input_shape(const ck_model *model, int *rank, int64_t dims[CK_MAX_RANK]);
/* The batch size the input declares (Keras Input(batch_size=...),
 * batch_shape[0]); 0 when open (None) or for a NULL model. A model that
 * carries state between calls predicts batches of exactly this size. */
CK_API int64_t ck_model_input_batch_size(const ck_model *model);
CK_API ck_status ck_model_output_shape(const ck_model *model, int *rank, int64_t dims[CK_MAX_RANK]);
/* Keras model.compute_output_shape: the output shape for an input shape,
 * both with the batch axis (open axes, CK_NONE, stay open). Needs a built
 * model. */
CK_API ck_status ck_model_compute_output_shape(const ck_model *model, int rank, const int64_t *dims,
                                               int *out_rank, int64_t out_dims[CK_MAX_RANK]);
/* The semantics the model was created or loaded with. */
CK_API ck_keras_semantics ck_model_semantics(const ck_model *model);
/* Reseeds the model's generator as ck_model_options.seed does: initial
 * weights (when not built yet), dropout, noise and shuffling draw from it. */
CK_API ck_status ck_model_set_seed(ck_model *model, uint64_t seed);

typedef enum ck_summary_style {
    CK_SUMMARY_KERAS2 = 0, /* tf.keras <= 2.6 (style A), the default */
    CK_SUMMARY_KERAS2_7,   /* keras 2.7 - 2.12 (style B) */
    CK_SUMMARY_KERAS2_13,  /* keras 2.13 - 2.15 (style C, memory sizes) */
    CK_SUMMARY_KERAS3,     /* Keras 3 box table, 76 columns */
    CK_SUMMARY_KERAS3_0,   /* Keras 3.0.0 - 3.0.4: as KERAS3, Output Shape wider */
    CK_SUMMARY_KERAS2_2,   /* standalone Keras 2.0 - 2.2.4: as KERAS2 without the Model:
                              line, an InputLayer's shape a tuple, not a list */
    CK_SUMMARY_KERAS2_3    /* standalone Keras 2.2.5 - 2.3.1: as KERAS2, an InputLayer's
                              shape a tuple, not a list */
} ck_summary_style;
CK_API ck_status ck_model_summary(ck_model *model, FILE *out, ck_summary_style style);
/* The layout of the Keras that wrote the model (from its keras_version:
 * standalone 2.0-2.2.4 and 2.2.5-2.3.1, tf.keras "2.x-tf" and 2.4-2.6,
 * 2.7-2.12, 2.13-2.15 and tf_keras 2.16+, 3.0.0-3.0.4, 3.x); for a model
 * built in C, KERAS3 with Keras 3 semantics, else KERAS2. Safe to call
 * concurrently with other reads of the model. */
CK_API ck_summary_style ck_model_summary_style(const ck_model *model);

/* Inference. x holds batch samples of the model's input shape; y receives
 * batch samples of the output shape. */
CK_API ck_status ck_model_predict(ck_model *model, const float *x, int64_t batch, float *y);
/* Same, for inputs whose open axes (e.g. timesteps) are given by x->dims.
 * On entry y->rank/dims describe the capacity of y->data (any shape of that
 * total size, e.g. rank 1); on return they hold the output shape. */
CK_API ck_status ck_model_predict_tensor(ck_model *model, const ck_tensor *x, ck_tensor *y);

/* What loading the model tolerated, one line each ("" when nothing): an
 * unknown initializer that loaded weights make irrelevant, a regularizer
 * ckeras keeps but cannot compute, ...; then what compile and fit warned
 * of as Keras does (a ModelCheckpoint save skipped for want of its
 * monitored key, ...). The string belongs to the model.
 * Safe to call concurrently with other reads of the model. */
CK_API const char *ck_model_warnings(const ck_model *model);
/* The keras_version of the file the model was loaded from ("2.4.0",
 * "3.3.3", ...); "" for a model built in C or from JSON without one.
 * Safe to call concurrently with other reads of the model. */
CK_API const char *ck_model_keras_version(const ck_model *model);

/* Stateful recurrent layers: zero every carried state. */
CK_API ck_status ck_model_reset_states(ck_model *model);

/* ------------------------------------------------------------------ */
/* Safety limits: an input that would need more fails with a message   */
/* naming the limit, before anything that large is allocated.           */
/* Process-wide; may be called from any thread at any time.             */
/* ------------------------------------------------------------------ */
typedef enum ck_limit {
    CK_LIMIT_MODEL_BYTES = 0, /* bytes of float32 weights a model may declare (default 4 GiB) */
    CK_LIMIT_ARCHIVE_MEMBER,  /* bytes a .keras member may inflate to (default 4 GiB) */
    CK_LIMIT_COUNT
} ck_limit;
/* Sets a limit and returns the previous value; value 0 only reads it. */
CK_API uint64_t ck_set_limit(ck_limit which, uint64_t value);

/* ------------------------------------------------------------------ */
/* Activations, usable on their own                                    */
/* ------------------------------------------------------------------ */
/* Applies a Keras activation in place over n values; softmax acts on
 * consecutive groups of `axis_len` values (axis_len = n for one vector). */
CK_API ck_status ck_apply_activation(const char *name, float *x, size_t n, size_t axis_len);

#ifdef __cplusplus
}
#endif

#include "ckeras_train.h"
#include "ckeras_io.h"
#include "ckeras_export.h"
#include "ckeras_data.h"

#endif /* CKERAS_H */
