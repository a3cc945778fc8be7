/* ckeras C export: a model as one dependency-free C99 file for
 * microcontrollers. Included by ckeras.h; see docs/export.md. */
#ifndef CKERAS_EXPORT_H
#define CKERAS_EXPORT_H

#ifdef __cplusplus
extern "C" {
#endif

/* How kernels (Dense, recurrent, Conv1D, Embedding matrices) are stored in
 * the generated file. Biases and normalization weights are always float32. */
typedef enum ck_export_quantize {
    CK_EXPORT_FLOAT32 = 0, /* exact */
    CK_EXPORT_FLOAT16,     /* IEEE half, widened in the inner loops: half the flash */
    CK_EXPORT_INT8         /* symmetric int8, one float scale per output channel: a quarter */
} ck_export_quantize;

/* What an export produced, for printing. */
typedef struct ck_export_report {
    char name[65];       /* prefix of the generated names */
    size_t params;       /* parameters of the model */
    size_t weight_bytes; /* constant data: weight arrays, scales, biases (flash) */
    size_t
        state_bytes;   /* NAME_STATE_BYTES: all the RAM the generated code uses besides its stack */
    bool streaming;    /* NAME_step was generated */
    int64_t timesteps; /* time steps NAME_predict takes; 0 when the input has no time axis */
    int64_t samples;   /* inputs the difference below was measured on */
    double max_abs_diff; /* largest |output with the stored weights - float output| on them */
} ck_export_report;

/* Options of ck_model_export_c. Start from ck_export_default_options()
 * (a zeroed struct means the same) and set what differs. */
typedef struct ck_export_options {
    const char *c_path;      /* the .c file to write (required) */
    const char *header_path; /* also write the declarations to this .h, which the .c
                                 includes by its file name; NULL: they open the .c */
    const char *name;        /* prefix of the generated names (a C identifier); NULL:
                                 the model's name */
    ck_export_quantize quantize;
    int64_t timesteps;        /* length of NAME_predict's input when the model's time axis
                                 is open (None); 0: taken from `sample` */
    const ck_tensor *sample;  /* inputs (batch first) for the report; NULL: random ones */
    uint64_t seed;            /* seed of the random inputs */
    const char *sources[4];   /* files the model was read from, listed with their SHA-256
                                 in the generated comment; ends at the first NULL */
    ck_export_report *report; /* filled on success when non-NULL */
} ck_export_options;

/* float32 weights, the model's own name, 8 random sample inputs. */
CK_API ck_export_options ck_export_default_options(void);

/* Writes the model as C99 source that needs only <math.h>, <stdint.h> and
 * <string.h>. For a model exported as NAME it defines
 *     NAME_state                 every byte of RAM the model needs (no heap)
 *     NAME_predict(x, y, s)      one input (batch 1) to one output
 *     NAME_step(x_t, y, s)       one frame of a stream (models whose layers
 *                                before the time axis ends run frame by frame)
 *     NAME_reset(s)              zeroes a state (a zeroed state is a reset one)
 * and NAME_INPUT_SHAPE, NAME_OUTPUT_SHAPE, NAME_STATE_BYTES. Every layer and
 * option is checked before anything is written: what cannot be exported
 * fails with CK_ERR_UNSUPPORTED naming the layer and the option. Files are
 * replaced atomically. The report runs the model on the sample inputs with
 * the stored (rounded) weights and with its own: for that time the model's
 * weights are swapped and restored, and stateful layers are reset.
 * Thread safety: may run concurrently with calls on other models, never with
 * another call on the same model. */
CK_API ck_status ck_model_export_c(ck_model *model, const ck_export_options *opts);

#ifdef __cplusplus
}
#endif
#endif /* CKERAS_EXPORT_H */
