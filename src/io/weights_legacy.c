/* Legacy recurrent weight layouts Keras converts while loading
 * (preprocess_weights_for_loading / _convert_rnn_weights):
 * - Keras 1.x files store one array per gate (LSTM: W_i U_i b_i W_c U_c b_c
 *   W_f U_f b_f W_o U_o b_o; GRU: W_z U_z b_z W_r U_r b_r W_h U_h b_h),
 *   concatenated into the fused kernel / recurrent_kernel / bias;
 * - tf.keras 2.x CuDNNLSTM / CuDNNGRU store each gate's kernel block in
 *   column-major order, recurrent blocks transposed and a double bias. */
#include "ck_io.h"

#include <stdlib.h>
#include <string.h>

/* Fused column block of each file gate: Keras 1 LSTMs store i, c, f, o,
 * the fused layout is i, f, c, o; GRU keeps z, r, h. */
static const int lstm_block[4] = {0, 2, 1, 3};
static const char lstm_gates[] = "icfo";
static const char gru_gates[] = "zrh";

/* Gates of the fused triplet weights[k..k+2], or 0 when it is not a
 * kernel (F, G*u), recurrent_kernel (u, G*u), bias (G*u) triplet. */
static int triplet_gates(const ck_layer *l, int k)
{
    const ck_weight *w = &l->weights[k], *r = &l->weights[k + 1], *b = &l->weights[k + 2];
    if (w->rank != 2 || r->rank != 2 || b->rank != 1 || r->dims[0] <= 0)
        return 0;
    int64_t u = r->dims[0], cols = r->dims[1];
    int gates = cols % u == 0 ? (int)(cols / u) : 0;
    if ((gates != 3 && gates != 4) || w->dims[1] != cols || b->dims[0] != cols)
        return 0;
    return gates;
}

static bool recurrent_class(const ck_layer *l)
{
    const char *cls = l->ops->class_name;
    return strcmp(cls, "LSTM") == 0 || strcmp(cls, "GRU") == 0 || strcmp(cls, "Bidirectional") == 0;
}

/* Number of per-gate arrays a Keras 1 file holds for this layer, or 0
 * when the layer has no per-gate form (Bidirectional: one set per direction). */
static int split_count(const ck_layer *l)
{
    if (!recurrent_class(l) || l->n_weights == 0 || l->n_weights % 3 != 0)
        return 0;
    int n = 0;
    for (int k = 0; k < l->n_weights; k += 3) {
        int gates = triplet_gates(l, k);
        if (gates == 0)
            return 0;
        n += 3 * gates;
    }
    return n;
}

bool ck_k1_applies(const ck_layer *l, int n_file_weights)
{
    int n = split_count(l);
    return n > 0 && n == n_file_weights;
}

/* Reads one per-gate array and copies it into column block `block` of the
 * fused weight in the staging array. */
static ck_status read_piece(hid_t g, const char *path, const ck_layer *l, const ck_weight *fused,
                            int gates, int block, const char *piece_name, float *tmp, float *dst)
{
    int64_t u = fused->dims[fused->rank - 1] / gates;
    int64_t rows = fused->rank == 2 ? fused->dims[0] : 1;
    ck_weight piece = {.rank = fused->rank, .dims = {fused->rank == 2 ? rows : u, u}};
    piece.size = (size_t)(rows * u);
    snprintf(piece.name, sizeof piece.name, "%s", piece_name);
    CK_TRY(ck_h5_read_weight(g, path, l->name, &piece, false, tmp));
    for (int64_t r = 0; r < rows; r++)
        memcpy(dst + r * gates * u + block * u, tmp + r * u, (size_t)u * sizeof(float));
    return CK_OK;
}

ck_status ck_k1_read_layer(hid_t g, const ck_strlist *names, const ck_model *m, const ck_layer *l,
                           float *stage)
{
    size_t largest = 1;
    for (int k = 0; k < l->n_weights; k++)
        largest = l->weights[k].size > largest ? l->weights[k].size : largest;
    float *tmp = ck_alloc(largest, sizeof(float));
    if (!tmp)
        return CK_ERR_MEMORY;
    ck_status st = CK_OK;
    int p = 0;
    for (int k = 0; st == CK_OK && k < l->n_weights; k += 3) {
        int gates = triplet_gates(l, k);
        const char *letters = gates == 4 ? lstm_gates : gru_gates;
        for (int j = 0; st == CK_OK && j < gates; j++) {
            int block = gates == 4 ? lstm_block[j] : j;
            for (int t = 0; st == CK_OK && t < 3; t++, p++) {
                const ck_weight *fused = &l->weights[k + t];
                char piece_name[8];
                snprintf(piece_name, sizeof piece_name, "%c_%c", "WUb"[t], letters[j]);
                st = read_piece(g, names->items[p], l, fused, gates, block, piece_name, tmp,
                                ck_stage_slot(stage, m, fused));
            }
        }
    }
    free(tmp);
    return st;
}

/* ---------------- CuDNN ---------------- */

/* CuDNN bias length for the fused triplet at k: LSTM (4u bias) and
 * GRU(reset_after=True) ((2, 3u) bias) both store 2 * G*u values; 0 when
 * the triplet has no CuDNN form (GRU(reset_after=False), no bias). */
static int64_t cudnn_bias_len(const ck_layer *l, int k)
{
    const ck_weight *r = &l->weights[k + 1], *b = &l->weights[k + 2];
    if (l->weights[k].rank != 2 || r->rank != 2 || r->dims[0] <= 0)
        return 0;
    int64_t cols = r->dims[1];
    bool lstm = cols == 4 * r->dims[0] && b->rank == 1 && b->dims[0] == cols;
    bool gru = cols == 3 * r->dims[0] && b->rank == 2 && b->dims[0] == 2 && b->dims[1] == cols;
    return lstm || gru ? 2 * cols : 0;
}

bool ck_cudnn_applies(hid_t g, const ck_strlist *names, const ck_layer *l)
{
    if (!recurrent_class(l) || l->n_weights == 0 || l->n_weights % 3 != 0 ||
        names->n != l->n_weights)
        return false;
    for (int k = 0; k < l->n_weights; k += 3) {
        int64_t want = cudnn_bias_len(l, k), dims[4];
        int rank;
        if (want == 0 || !ck_h5_dataset_dims(g, names->items[k + 2], &rank, dims) || rank != 1 ||
            dims[0] != want)
            return false;
    }
    return true;
}

/* Gate block j of a CuDNN input kernel holds the block's values in
 * column-major order: fused[a][j*u + b] = flat_block[b*F + a], where the
 * stored block is read row by row. */
static void cudnn_kernel(const float *src, float *dst, int64_t rows, int64_t u, int gates)
{
    int64_t cols = gates * u;
    for (int j = 0; j < gates; j++)
        for (int64_t a = 0; a < rows; a++)
            for (int64_t b = 0; b < u; b++) {
                int64_t flat = b * rows + a;
                dst[a * cols + j * u + b] = src[(flat / u) * cols + j * u + flat % u];
            }
}

/* Recurrent gate blocks are stored transposed. */
static void cudnn_recurrent(const float *src, float *dst, int64_t u, int gates)
{
    int64_t cols = gates * u;
    for (int j = 0; j < gates; j++)
        for (int64_t a = 0; a < u; a++)
            for (int64_t b = 0; b < u; b++)
                dst[a * cols + j * u + b] = src[b * cols + j * u + a];
}

static ck_status cudnn_triplet(hid_t g, const ck_strlist *names, const ck_model *m,
                               const ck_layer *l, int k, float *tmp, float *stage)
{
    const ck_weight *w = &l->weights[k], *r = &l->weights[k + 1], *b = &l->weights[k + 2];
    int64_t u = r->dims[0], cols = r->dims[1];
    int gates = (int)(cols / u);
    CK_TRY(ck_h5_read_weight(g, names->items[k], l->name, w, false, tmp));
    cudnn_kernel(tmp, ck_stage_slot(stage, m, w), w->dims[0], u, gates);
    CK_TRY(ck_h5_read_weight(g, names->items[k + 1], l->name, r, false, tmp));
    cudnn_recurrent(tmp, ck_stage_slot(stage, m, r), u, gates);
    ck_weight bias = {.rank = 1, .dims = {2 * cols}, .size = (size_t)(2 * cols)};
    snprintf(bias.name, sizeof bias.name, "%s", b->name);
    CK_TRY(ck_h5_read_weight(g, names->items[k + 2], l->name, &bias, false, tmp));
    /* LSTM adds CuDNN's input and recurrent biases; GRU keeps both rows. */
    float *dst = ck_stage_slot(stage, m, b);
    for (int64_t i = 0; i < (int64_t)b->size; i++)
        dst[i] = b->rank == 1 ? tmp[i] + tmp[cols + i] : tmp[i];
    return CK_OK;
}

ck_status ck_cudnn_read_layer(hid_t g, const ck_strlist *names, const ck_model *m,
                              const ck_layer *l, float *stage)
{
    size_t largest = 1;
    for (int k = 0; k < l->n_weights; k++) {
        size_t n = l->weights[k].size * (k % 3 == 2 ? 2 : 1);
        largest = n > largest ? n : largest;
    }
    float *tmp = ck_alloc(largest, sizeof(float));
    if (!tmp)
        return CK_ERR_MEMORY;
    ck_status st = CK_OK;
    for (int k = 0; st == CK_OK && k < l->n_weights; k += 3)
        st = cudnn_triplet(g, names, m, l, k, tmp, stage);
    free(tmp);
    return st;
}
