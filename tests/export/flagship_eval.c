/* Validation accuracy of an exported action-recognition model on the
 * example's own validation split: the same generator, seed and split as
 * examples/action_recognition (argv: sequences per action, frames, seed).
 * Also checks that streaming the frames one at a time gives predict's
 * output. Prints "correct total same_stream". */
#include "action.h"
#include "data.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define VALIDATION_FRACTION 0.2 /* as examples/action_recognition/main.c */

static int argmax(const float *p, int n)
{
    int best = 0;
    for (int i = 1; i < n; i++)
        best = p[i] > p[best] ? i : best;
    return best;
}

int main(int argc, char **argv)
{
    static const char *const actions[] = {"hello", "thanks", "iloveyou"};
    static action_state s;
    ar_dataset train, val;
    float y[action_OUTPUT_SIZE], z[action_OUTPUT_SIZE];
    int correct = 0, same = 0;
    if (argc != 4 || ar_generate(&train, actions, 3, atoi(argv[1]), atoi(argv[2]),
                                 action_FRAME_SIZE, (uint64_t)atoll(argv[3])) != 0)
        return 1;
    int n_val = (int)(train.n * VALIDATION_FRACTION + 0.5);
    if (ar_split(&train, n_val > 0 ? n_val : 1, &val) != 0)
        return 1;
    for (int i = 0; i < val.n; i++) {
        const float *x = val.x + (size_t)i * action_INPUT_SIZE;
        action_predict(x, y, &s);
        correct += argmax(y, action_OUTPUT_SIZE) == val.label[i];
        action_reset(&s);
        for (int t = 0; t < action_TIMESTEPS; t++)
            action_step(x + t * action_FRAME_SIZE, z, &s);
        same += memcmp(y, z, sizeof y) == 0;
    }
    printf("%d %d %d\n", correct, val.n, same);
    ar_dataset_free(&train);
    ar_dataset_free(&val);
    return 0;
}
