/* Before --validation-split takes the last fraction of the samples: an
 * optional seeded shuffle, and a warning when that fraction misses
 * classes, as it does on data sorted by class (the tutorial's folders). */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

/* Classes named in the warning, at most. */
#define LISTED 5

/* splitmix64: a small generator that gives the same order everywhere. */
static uint64_t next_random(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static void swap_rows(float *data, size_t per, int64_t i, int64_t j, float *tmp)
{
    memcpy(tmp, data + (size_t)i * per, per * sizeof(float));
    memcpy(data + (size_t)i * per, data + (size_t)j * per, per * sizeof(float));
    memcpy(data + (size_t)j * per, tmp, per * sizeof(float));
}

int cli_shuffle_samples(ck_tensor *x, ck_tensor *y, uint64_t seed)
{
    int64_t n = x->dims[0];
    size_t px = ck_tensor_size(x) / (size_t)n, py = ck_tensor_size(y) / (size_t)n;
    float *tmp = malloc(sizeof(float) * (px > py ? px : py));
    if (!tmp)
        return cli_no_memory();
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)(next_random(&seed) % (uint64_t)(i + 1));
        swap_rows(x->data, px, i, j, tmp);
        swap_rows(y->data, py, i, j, tmp);
    }
    free(tmp);
    return CLI_OK;
}

/* "thanks, iloveyou" for the classes in `missing`, LISTED at most. */
static void list_missing(const bool *missing, int k, const cli_classes *c, char *out, size_t cap)
{
    size_t used = 0;
    int listed = 0;
    out[0] = '\0';
    for (int i = 0; i < k && used < cap; i++) {
        if (!missing[i])
            continue;
        if (listed++ == LISTED) {
            snprintf(out + used, cap - used, ", ...");
            return;
        }
        char buf[16];
        int n = snprintf(out + used, cap - used, "%s%.40s", used ? ", " : "",
                         cli_class_name(c, i, buf, sizeof buf));
        used += n > 0 ? (size_t)n : 0;
    }
}

void cli_warn_split(ck_model *m, const ck_tensor *y, double split, const cli_classes *c)
{
    int rank, k;
    int64_t dims[CK_MAX_RANK], n = y->dims[0];
    if (split <= 0 || ck_model_output_shape(m, &rank, dims) != CK_OK || rank != 1 || dims[0] < 1)
        return;
    k = dims[0] == 1 ? 2 : (int)dims[0];
    /* Keras trains on the first floor(n (1 - split)) samples. */
    int64_t keep = (int64_t)((double)n * (1.0 - split));
    /* Targets that are not one class per sample (regression, or of another
     * width than the output) get no warning. */
    if (ck_target_rows(y, k) != (size_t)n)
        return;
    int32_t *ids = malloc(sizeof *ids * (size_t)n);
    bool *seen = calloc(2 * (size_t)k, sizeof *seen);
    bool classes = ids && seen && keep > 0 && keep < n && ck_target_class_ids(y, k, ids) == CK_OK;
    int missing = 0;
    for (int64_t i = 0; classes && i < n; i++)
        seen[(i >= keep) * k + ids[i]] = true;
    for (int i = 0; classes && i < k; i++) {
        seen[i] = seen[i] && !seen[k + i]; /* in training, not in validation */
        missing += seen[i];
    }
    /* A held-out part smaller than the number of classes cannot have them all. */
    if (missing && n - keep >= k) {
        char names[400];
        list_missing(seen, k, c, names, sizeof names);
        fprintf(stderr,
                "ckeras: warning: --validation-split %g holds out the last %lld samples, none "
                "of class %s (%d of %d classes); if the data is sorted by class, add "
                "--shuffle-before-split\n",
                split, (long long)(n - keep), names, missing, k);
    }
    free(ids);
    free(seen);
}
