/* Data for the action-recognition example: a synthetic hand-keypoint
 * generator and a reader for recorded MediaPipe keypoint sequences. */
#ifndef AR_DATA_H
#define AR_DATA_H

#include <stddef.h>
#include <stdint.h>

/* Values per frame for two hands: 2 hands x 21 landmarks x (x, y, z). */
#define AR_HAND_FEATURES 126
#define AR_MAX_ACTIONS 32

/* N sequences of `frames` x `features` floats with one-hot labels. */
typedef struct ar_dataset {
    int n, frames, features, n_actions;
    float *x;   /* n * frames * features */
    float *y;   /* n * n_actions, one-hot */
    int *label; /* n class ids */
} ar_dataset;

/* Synthetic sequences, `per_action` of each action, in a seeded random
 * order. The two hands fill the last 126 features of a frame (where the
 * MediaPipe holistic layout keeps them); anything before is zero, so
 * features must be >= 126. Returns 0, or -1 after printing why. */
int ar_generate(ar_dataset *d, const char *const *actions, int n_actions, int per_action,
                int frames, int features, uint64_t seed);

/* Recorded sequences laid out as DIR/<action>/<sequence>/<frame>.npy, one
 * float array of `features` values per frame (float32 or float64, as
 * numpy writes them), read by ck_sequence_dir_read: sequences in numeric
 * order of their names, frames 0.npy, 1.npy, ...; *frames and *features
 * of 0 mean "use what the recordings have". Returns 0, or -1 after
 * printing why. */
int ar_load_dir(ar_dataset *d, const char *dir, const char *const *actions, int n_actions,
                int *frames, int *features);

/* Writes the sequences as the tutorials record them, one float32 .npy per
 * frame: DIR/<action>/<sequence>/<frame>.npy, sequences numbered from 0 per
 * action. Returns 0, or -1 after printing why. */
int ar_save_dir(const ar_dataset *d, const char *dir, const char *const *actions);

/* Reorders the sequences with a seeded Fisher-Yates shuffle. Returns 0 or -1. */
int ar_shuffle(ar_dataset *d, uint64_t seed);

/* Moves the last `n_tail` sequences of d into tail (d keeps the rest). */
int ar_split(ar_dataset *d, int n_tail, ar_dataset *tail);

void ar_dataset_free(ar_dataset *d);

#endif
