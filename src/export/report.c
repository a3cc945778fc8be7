/* The export report: how far the stored weights move the outputs. The
 * model runs on the sample inputs (or seeded random ones) once with its own
 * weights and once with every stored matrix rounded as the generated file
 * rounds it; the weights are restored afterwards. */
#include "ck_export.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define RANDOM_SAMPLES 8

static ck_status check_sample(const ck_tensor *t, const ck_shape *input)
{
    bool ok = t->data && t->rank == input->rank && t->dims[0] >= 1;
    for (int i = 1; ok && i < t->rank; i++)
        ok = t->dims[i] == input->dims[i];
    if (ok)
        return CK_OK;
    char want[96];
    ck_shape_format(input, want, sizeof want);
    return ck_error(CK_ERR_SHAPE,
                    "the sample input does not have the exported input shape %s (batch first)",
                    want);
}

/* Uniform values in [-1, 1), or whole ids in [0, ids) for an Embedding. */
static float *random_inputs(const ck_shape *input, uint64_t seed, int64_t ids)
{
    size_t n = ck_exp_size(input) * RANDOM_SAMPLES;
    float *v = ck_alloc(n, sizeof *v);
    ck_rng rng;
    ck_rng_seed(&rng, seed);
    for (size_t i = 0; v && i < n; i++)
        v[i] = ids > 0 ? (float)ck_rng_below(&rng, (uint64_t)ids)
                       : (float)(2.0 * ck_rng_uniform(&rng) - 1.0);
    return v;
}

/* Runs m on xs into y (capacity n) from reset states. */
static ck_status run(ck_model *m, const ck_tensor *xs, float *y, size_t n)
{
    ck_tensor yt = {.rank = 1, .dims = {(int64_t)n}, .data = y};
    CK_TRY(ck_model_reset_states(m));
    return ck_model_predict_tensor(m, xs, &yt);
}

/* Rounds every recorded matrix in place (saved in `saved`) or restores it. */
static void swap_rounded(const ck_exp *x, float *saved, bool round)
{
    for (size_t i = 0, off = 0; i < x->n_rounded; i++) {
        const ck_exp_rounded *r = &x->rounded[i];
        size_t n = r->rows * r->cols;
        if (round) {
            memcpy(saved + off, r->data, n * sizeof(float));
            ck_exp_round_matrix(x->store, r->data, r->rows, r->cols, r->per_row);
        } else {
            memcpy(r->data, saved + off, n * sizeof(float));
        }
        off += n;
    }
}

static ck_status compare(ck_model *m, const ck_exp *x, const ck_tensor *xs, size_t n,
                         ck_export_report *r)
{
    size_t saved_n = 0;
    for (size_t i = 0; i < x->n_rounded; i++)
        saved_n += x->rounded[i].rows * x->rounded[i].cols;
    float *y0 = ck_alloc(n, sizeof *y0), *y1 = ck_alloc(n, sizeof *y1);
    float *saved = ck_alloc(saved_n ? saved_n : 1, sizeof *saved);
    ck_status st = y0 && y1 && saved ? run(m, xs, y0, n) : CK_ERR_MEMORY;
    if (st == CK_OK) {
        /* Packed copies of the weights must follow each swap. */
        swap_rounded(x, saved, true);
        ck_model_weights_changed(m);
        st = run(m, xs, y1, n);
        swap_rounded(x, saved, false);
        ck_model_weights_changed(m);
    }
    if (st == CK_OK)
        st = ck_model_reset_states(m);
    r->max_abs_diff = 0.0;
    for (size_t i = 0; st == CK_OK && i < n; i++)
        r->max_abs_diff = fmax(r->max_abs_diff, fabs((double)y1[i] - (double)y0[i]));
    free(y0);
    free(y1);
    free(saved);
    return st;
}

ck_status ck_exp_report(ck_model *m, const ck_exp *x, const ck_shape *input, size_t out_size,
                        const ck_export_options *o, ck_export_report *r)
{
    ck_tensor xs = {.rank = input->rank};
    memcpy(xs.dims, input->dims, sizeof xs.dims);
    float *owned = NULL;
    if (o->sample) {
        CK_TRY(check_sample(o->sample, input));
        xs = *o->sample;
    } else {
        const ck_layer *first = m->layers[0];
        bool ids = strcmp(first->ops->class_name, "Embedding") == 0;
        if (!(owned = random_inputs(input, o->seed, ids ? first->weights[0].dims[0] : 0)))
            return CK_ERR_MEMORY;
        xs.dims[0] = RANDOM_SAMPLES;
        xs.data = owned;
    }
    *r = (ck_export_report){.params = ck_model_count_params(m),
                            .weight_bytes = x->weight_bytes,
                            .timesteps = x->timesteps,
                            .samples = xs.dims[0]};
    ck_status st = compare(m, x, &xs, out_size * (size_t)xs.dims[0], r);
    free(owned);
    return st;
}
