/* Helpers shared by the dense, shape, noise, normalization, convolution and
 * pooling layers: allocation, shape checks, the normalization and affine
 * maps, and 1-D window arithmetic. */
#ifndef CK_LAYER_UTIL_H
#define CK_LAYER_UTIL_H

#include "ck_blas.h"
#include "ck_internal.h"

/* Zeroed layer struct of `size` bytes with its base initialised; NULL (and
 * nothing leaked) on error. */
void *ck_layer_alloc(size_t size, const ck_layer_ops *ops, const char *name);

/* init, or the named initializer when init has no name (a zeroed struct). */
ck_init ck_init_or(ck_init init, const char *name);

/* out = in, after checking the rank is in [min_rank, max_rank]
 * (batch included) and the last axis is known. */
ck_status ck_shape_same(const ck_layer *l, const ck_shape *in, ck_shape *out, int min_rank,
                        int max_rank);

/* Only the last axis is supported: -1 or its positive index. */
ck_status ck_check_last_axis(const char *class_name, int axis, const ck_shape *in);

/* What LayerNormalization and BatchNormalization share: the last-axis
 * gamma (scale) and beta (center), created in that order as in Keras. */
typedef struct ck_norm_common {
    int axis;
    double epsilon;
    bool center, scale;
    ck_init beta_init, gamma_init;
} ck_norm_common;
/* Applies the Keras defaults (epsilon 1e-3, beta zeros, gamma ones). */
ck_status ck_norm_setup(ck_norm_common *n, const char *class_name, int axis, double epsilon,
                        bool no_center, bool no_scale, const ck_init *beta, const ck_init *gamma);
ck_status ck_norm_build(ck_layer *l, const ck_norm_common *n);
/* The C options read epsilon 0 as "the Keras default"; a config's value is
 * taken as written, 0 included. Call after creating the layer from cfg. */
void ck_norm_config_epsilon(ck_norm_common *n, const cJSON *cfg);
/* gamma and beta, NULL when absent. */
const float *ck_norm_gamma(const ck_layer *l, const ck_norm_common *n);
const float *ck_norm_beta(const ck_layer *l, const ck_norm_common *n);
/* Adds dgamma += sum dy*xhat and dbeta += sum dy, for one channel c. */
void ck_norm_param_grads(ck_layer *l, const ck_norm_common *n, int64_t c, double dy_xhat,
                         double dy);
/* The shared config fields. The axis is written as Keras does: tf.keras
 * turns it into [index] when building and keeps a list it was given;
 * Keras 3 makes it [-1] when building only if k3_list (LayerNormalization). */
ck_status ck_norm_get_config(const ck_layer *l, const ck_norm_common *n, bool k3_list, cJSON *cfg);
/* Reads the shared fields into the option fields of either layer. */
ck_status ck_norm_from_config(const cJSON *cfg, const char *class_name, int *axis, double *epsilon,
                              bool *no_center, bool *no_scale, ck_init *beta, ck_init *gamma);

/* What Dense and Conv1D share: y = act(x W + b) over N rows of K inputs,
 * with the kernel weights[0] seen as (K, units) and the bias weights[1]. */
typedef struct ck_affine {
    int units;
    ck_act act;
    bool use_bias;
    ck_init kernel_init, bias_init; /* Keras defaults glorot_uniform, zeros */
    ck_buf z;                       /* pre-activations of the last training forward */
    ck_buf dz;                      /* backward scratch */
    ck_packed kernel;               /* packed copy of the kernel (ck_layer_weight_gemm) */
} ck_affine;
ck_status ck_affine_setup(ck_affine *a, int units, const char *activation, bool no_bias,
                          const ck_init *kernel, const ck_init *bias);
/* Declares the kernel (kernel_dims, whose product is K x units) and the bias. */
ck_status ck_affine_build(ck_layer *l, const ck_affine *a, int kernel_rank,
                          const int64_t *kernel_dims);
ck_status ck_affine_forward(ck_layer *l, ck_affine *a, const float *x, int N, int K, float *y,
                            bool training);
/* From y and dy of the last training forward: adds the kernel and bias
 * gradients, and writes the (N, K) input gradient when dx != NULL. */
ck_status ck_affine_backward(ck_layer *l, ck_affine *a, const float *x, int N, int K,
                             const float *y, const float *dy, float *dx);
/* activation, use_bias, the initializers and the null regularizers and
 * constraints, in Keras order (after the layer's own leading fields). */
ck_status ck_affine_get_config(const ck_affine *a, cJSON *cfg);
/* Reads those fields into the option fields of either layer; lora_rank
 * (Keras 3) is refused. */
ck_status ck_affine_from_config(const cJSON *cfg, const char *class_name, const char **activation,
                                bool *no_bias, ck_init *kernel, ck_init *bias);
void ck_affine_free(ck_affine *a);

typedef enum ck_padding { CK_PAD_VALID, CK_PAD_SAME, CK_PAD_CAUSAL } ck_padding;
/* NULL means "valid". */
ck_status ck_padding_parse(const char *class_name, const char *s, bool allow_causal,
                           ck_padding *out);
const char *ck_padding_name(ck_padding p);
/* Output length of a window of `span` inputs (dilated kernel or pool) moved
 * by `stride` along `len` inputs (Keras conv_output_length); CK_NONE stays
 * open, and a window that does not fit gives 0. */
int64_t ck_window_out_len(int64_t len, int64_t span, int stride, ck_padding p);
/* Zero padding before the first input, as TensorFlow places it. */
int64_t ck_window_pad_left(int64_t len, int64_t span, int stride, ck_padding p);

/* Keras's noise_shape (Dropout, AlphaDropout): one size per axis, batch
 * first, CK_NONE for "the input's size", 1 for "one draw along this axis";
 * rank 0 means one draw per value. */
typedef struct ck_noise_shape {
    int64_t dims[CK_MAX_RANK];
    int rank;
} ck_noise_shape;
/* Checks the C options' noise_shape and copies it into *ns. */
ck_status ck_noise_shape_set(const char *class_name, const int64_t *dims, int rank,
                             ck_noise_shape *ns);
/* Fails naming the class when ns cannot broadcast over an input of shape in. */
ck_status ck_noise_shape_fits(const char *class_name, const ck_noise_shape *ns, const ck_shape *in);
/* How many values to draw for x, and which draw value i of x takes. */
size_t ck_noise_shape_draws(const ck_noise_shape *ns, const ck_tensor *x);
size_t ck_noise_shape_index(const ck_noise_shape *ns, const ck_tensor *x, size_t i);
/* "noise_shape": the list, or null for rank 0. */
ck_status ck_noise_shape_add(const ck_noise_shape *ns, cJSON *cfg);
/* Reads "noise_shape" (absent or null: rank 0) into the option fields. */
ck_status ck_noise_shape_from_config(const cJSON *cfg, const char *class_name, int64_t *dims,
                                     int *rank);

/* A number or a nested list of numbers from a config (Normalization's
 * mean and variance, Rescaling's scale and offset), row-major. */
typedef struct ck_values {
    int rank; /* 0: a scalar */
    int64_t dims[CK_MAX_RANK];
    size_t n;
    double *v;
} ck_values;
/* Reads cfg[key]: a number, a rectangular nested list of numbers, or Keras
 * 3.5+'s {"class_name": "__numpy__" or "__tensor__", "config": {"value":
 * ...}}; an absent or null key leaves out->v NULL. */
ck_status ck_values_from_json(const cJSON *cfg, const char *class_name, const char *key,
                              ck_values *out);
/* n values as a scalar (n == 1 and !list) or a list. */
ck_status ck_values_set(ck_values *out, const double *v, size_t n, bool list);
/* The values as Keras's tolist() writes them (a number or nested lists). */
cJSON *ck_values_to_json(const ck_values *vals);
/* "()", "(3,)", "(2, 3)" as numpy prints a shape. */
void ck_values_shape(const ck_values *vals, char *buf, size_t len);
void ck_values_free(ck_values *vals);

#endif
