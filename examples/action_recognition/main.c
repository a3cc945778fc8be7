/* Action recognition from hand keypoints: the classic "sign language with
 * MediaPipe + LSTM" model, in C.
 *
 *   model = Sequential()
 *   model.add(LSTM(64, return_sequences=True, activation='relu', input_shape=(5, 126)))
 *   model.add(LSTM(128, return_sequences=True, activation='relu'))
 *   model.add(LSTM(64, return_sequences=False, activation='relu'))
 *   model.add(Dense(64, activation='relu'))
 *   model.add(Dense(32, activation='relu'))
 *   model.add(Dense(actions.shape[0], activation='softmax'))
 *   model.compile(optimizer='Adam', loss='categorical_crossentropy', metrics=['categorical_accuracy'])
 *   model.fit(X_train, y_train, epochs=...)
 *   model.save('action.h5')
 *
 * Next to action.h5 it draws the training curves (action_curves.svg) and
 * the validation confusion matrix (action_confusion.svg).
 *
 * By default it trains on synthetic keypoint sequences (see data.c); with
 * --data DIR it reads recordings laid out as DIR/<action>/<sequence>/<frame>.npy. */
#include "data.h"

#include <ckeras.h>

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Adam with gradient-norm clipping: relu LSTMs can otherwise blow up
 * early in training. */
#define LEARNING_RATE 0.001
#define CLIPNORM 1.0
#define VALIDATION_FRACTION 0.2

typedef struct options {
    int frames, features, epochs, sequences, batch_size;
    bool frames_set, features_set;
    uint64_t seed;
    const char *out, *data_dir, *save_dir;
    char *actions_buf;
    const char *actions[AR_MAX_ACTIONS];
    int n_actions;
} options;

static void usage(FILE *f, const char *prog)
{
    fprintf(f,
            "usage: %s [options]\n"
            "Trains the LSTM action classifier on hand-keypoint sequences, saves it to HDF5,\n"
            "reloads it and checks the reloaded model predicts the same.\n\n"
            "  --frames N       frames per sequence (default 5; with --data: as recorded)\n"
            "  --features N     values per frame (default 126 = 2 hands x 21 x 3;\n"
            "                   with --data: as recorded, e.g. 1662 for MediaPipe holistic)\n"
            "  --actions a,b,c  action names, in output order (default hello,thanks,iloveyou)\n"
            "  --sequences N    synthetic sequences per action (default 200)\n"
            "  --epochs N       training epochs (default 50)\n"
            "  --batch-size N   samples per gradient step (default 32)\n"
            "  --seed N         seed for the data, the weights and the shuffling (default 7)\n"
            "  --out FILE       where to save the trained model (default action.h5); the\n"
            "                   training curves and the confusion matrix go next to it\n"
            "                   (action_curves.svg, action_confusion.svg)\n"
            "  --save-data DIR  write the synthetic sequences as DIR/<action>/<sequence>/\n"
            "                   <frame>.npy (the tutorials' MP_Data layout) and exit\n"
            "  --data DIR       train on DIR/<action>/<sequence>/<frame>.npy instead of\n"
            "                   synthetic data\n",
            prog);
}

static bool parse_int(const char *s, int min, int max, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < min || v > max)
        return false;
    *out = (int)v;
    return true;
}

/* Splits "a,b,c" in place into o->actions; names must be unique and
 * usable as directory names. */
static bool parse_actions(options *o, const char *list)
{
    free(o->actions_buf);
    o->actions_buf = strdup(list);
    o->n_actions = 0;
    if (!o->actions_buf)
        return false;
    for (char *save = NULL, *tok = strtok_r(o->actions_buf, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
        if (o->n_actions == AR_MAX_ACTIONS || strchr(tok, '/') || strcmp(tok, "..") == 0)
            return false;
        for (int i = 0; i < o->n_actions; i++)
            if (strcmp(o->actions[i], tok) == 0)
                return false;
        o->actions[o->n_actions++] = tok;
    }
    return o->n_actions >= 2;
}

/* Returns 0 to run, 1 after --help, 2 on a bad command line. */
static int parse_args(int argc, char **argv, options *o)
{
    *o = (options){.frames = 5,
                   .features = AR_HAND_FEATURES,
                   .epochs = 50,
                   .sequences = 200,
                   .batch_size = 32,
                   .seed = 7,
                   .out = "action.h5"};
    if (!parse_actions(o, "hello,thanks,iloveyou"))
        return 2;
    /* Every option but --help takes one value. */
    for (int i = 1; i < argc; i += 2) {
        const char *arg = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        int seed = 0;
        bool valid = val != NULL;
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            usage(stdout, argv[0]);
            return 1;
        } else if (strcmp(arg, "--frames") == 0) {
            valid = valid && parse_int(val, 1, 10000, &o->frames);
            o->frames_set = true;
        } else if (strcmp(arg, "--features") == 0) {
            valid = valid && parse_int(val, 1, 1000000, &o->features);
            o->features_set = true;
        } else if (strcmp(arg, "--epochs") == 0) {
            valid = valid && parse_int(val, 1, 1000000, &o->epochs);
        } else if (strcmp(arg, "--sequences") == 0) {
            valid = valid && parse_int(val, 2, 1000000, &o->sequences);
        } else if (strcmp(arg, "--batch-size") == 0) {
            valid = valid && parse_int(val, 1, 1000000, &o->batch_size);
        } else if (strcmp(arg, "--seed") == 0) {
            valid = valid && parse_int(val, 0, INT_MAX, &seed);
            o->seed = (uint64_t)seed;
        } else if (strcmp(arg, "--actions") == 0) {
            valid = valid && parse_actions(o, val);
        } else if (strcmp(arg, "--out") == 0) {
            o->out = val;
        } else if (strcmp(arg, "--data") == 0) {
            o->data_dir = val;
        } else if (strcmp(arg, "--save-data") == 0) {
            o->save_dir = val;
        } else {
            fprintf(stderr, "%s: unknown option '%s'\n", argv[0], arg);
            usage(stderr, argv[0]);
            return 2;
        }
        if (!valid) {
            fprintf(stderr, "%s: %s needs a valid value%s%s\n", argv[0], arg, val ? ", got " : "",
                    val ? val : "");
            usage(stderr, argv[0]);
            return 2;
        }
    }
    return 0;
}

/* Prints a failed ckeras call and its message; returns false on failure. */
static bool ok(ck_status st, const char *what)
{
    if (st != CK_OK)
        fprintf(stderr, "error: %s: %s: %s\n", what, ck_status_name(st), ck_last_error());
    return st == CK_OK;
}

static double seconds_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Synthetic data, or the recordings under --data shuffled with the seed;
 * the last VALIDATION_FRACTION becomes the validation set. */
static int load_data(options *o, ar_dataset *train, ar_dataset *val)
{
    int rc;
    if (o->data_dir) {
        int frames = o->frames_set ? o->frames : 0, features = o->features_set ? o->features : 0;
        rc = ar_load_dir(train, o->data_dir, o->actions, o->n_actions, &frames, &features);
        if (rc == 0) {
            o->frames = frames;
            o->features = features;
            rc = ar_shuffle(train, o->seed);
        }
    } else {
        rc = ar_generate(train, o->actions, o->n_actions, o->sequences, o->frames, o->features,
                         o->seed);
    }
    if (rc != 0)
        return -1;
    int n_val = (int)(train->n * VALIDATION_FRACTION + 0.5);
    if (ar_split(train, n_val > 0 ? n_val : 1, val) != 0) {
        ar_dataset_free(train);
        return -1;
    }
    printf("Data: %s, %d training and %d validation sequences of %d frames x %d features\n",
           o->data_dir ? o->data_dir : "synthetic hand keypoints", train->n, val->n, o->frames,
           o->features);
    return 0;
}

/* --save-data: the synthetic sequences as files, for the command-line tool
 * (ckeras fit --data) or any reader of the tutorials' layout. */
static int save_data(const options *o)
{
    ar_dataset d;
    if (ar_generate(&d, o->actions, o->n_actions, o->sequences, o->frames, o->features, o->seed) !=
        0)
        return 1;
    int rc = ar_save_dir(&d, o->save_dir, o->actions);
    if (rc == 0)
        printf("Wrote %d sequences of %d frames x %d features to %s/<action>/<sequence>/"
               "<frame>.npy\n",
               d.n, o->frames, o->features, o->save_dir);
    ar_dataset_free(&d);
    return rc == 0 ? 0 : 1;
}

/* The model of the Keras tutorials, layer for layer. */
static ck_model *build_model(const options *o)
{
    ck_model *model = ck_sequential(.seed = o->seed);
    if (!ok(model ? CK_OK : CK_ERR_MEMORY, "ck_sequential"))
        return NULL;
    ck_layer *layers[] = {
        ck_input(o->frames, o->features),
        ck_lstm(64, .return_sequences = true, .activation = "relu"),
        ck_lstm(128, .return_sequences = true, .activation = "relu"),
        ck_lstm(64, .activation = "relu"),
        ck_dense(64, .activation = "relu"),
        ck_dense(32, .activation = "relu"),
        ck_dense(o->n_actions, .activation = "softmax"),
    };
    bool good = true;
    /* Every layer is handed over, even after a failure, so none leaks. */
    for (size_t i = 0; i < sizeof layers / sizeof layers[0]; i++)
        good = ok(ck_model_add(model, layers[i]), "ck_model_add") && good;
    if (!good || !ok(ck_model_build(model), "ck_model_build")) {
        ck_model_free(model);
        return NULL;
    }
    return model;
}

#define PICTURE_PATH 4096

/* OUT.h5 -> OUT<suffix>: the pictures go next to the saved model. */
static bool picture_path(const options *o, const char *suffix, char out[PICTURE_PATH])
{
    size_t stem = strlen(o->out);
    if (stem > 3 && strcmp(o->out + stem - 3, ".h5") == 0)
        stem -= 3;
    int n = snprintf(out, PICTURE_PATH, "%.*s%s", (int)stem, o->out, suffix);
    if (n < 0 || n >= PICTURE_PATH) {
        fprintf(stderr, "error: --out %s is too long\n", o->out);
        return false;
    }
    return true;
}

static bool train(ck_model *model, const options *o, const ar_dataset *tr, const ar_dataset *val)
{
    if (!ok(ck_model_compile(
                model, .optimizer = ck_adam(.learning_rate = LEARNING_RATE, .clipnorm = CLIPNORM),
                .loss = "categorical_crossentropy", .metrics = {"accuracy"}),
            "ck_model_compile"))
        return false;
    ck_tensor x = {3, {tr->n, tr->frames, tr->features}, tr->x};
    ck_tensor y = {2, {tr->n, tr->n_actions}, tr->y};
    ck_tensor vx = {3, {val->n, val->frames, val->features}, val->x};
    ck_tensor vy = {2, {val->n, val->n_actions}, val->y};
    ck_history *history = NULL;
    double start = seconds_now();
    printf("\nTraining for %d epochs (Adam, lr %g, clipnorm %g, batch %d)\n", o->epochs,
           LEARNING_RATE, CLIPNORM, o->batch_size);
    fflush(stdout);
    bool good = ok(ck_model_fit(model, &x, &y, &history, .epochs = o->epochs,
                                .batch_size = o->batch_size, .validation_x = &vx,
                                .validation_y = &vy, .verbose = isatty(STDOUT_FILENO) ? 1 : 2),
                   "ck_model_fit");
    double val_acc = 0.0;
    if (good &&
        ok(ck_history_get(history, "val_accuracy", ck_history_epochs(history) - 1, &val_acc),
           "ck_history_get"))
        printf("Trained in %.1f s; final val_accuracy %.4f\n", seconds_now() - start, val_acc);
    char path[PICTURE_PATH];
    good = good && picture_path(o, "_curves.svg", path) &&
           ok(ck_history_plot_svg(history, path), "ck_history_plot_svg");
    if (good)
        printf("Training curves: %s\n", path);
    ck_history_free(history);
    return good;
}

static int argmax(const float *p, int n)
{
    int best = 0;
    for (int i = 1; i < n; i++)
        if (p[i] > p[best])
            best = i;
    return best;
}

/* Accuracy and the confusion matrix of the validation set (rows: true
 * action, columns: predicted), printed and drawn next to the model. */
static bool report(ck_model *model, const options *o, const ar_dataset *val)
{
    ck_tensor vx = {3, {val->n, val->frames, val->features}, val->x};
    ck_tensor vy = {2, {val->n, val->n_actions}, val->y};
    ck_confusion cm;
    if (!ok(ck_model_confusion_matrix(model, &vx, &vy, o->batch_size, &cm),
            "ck_model_confusion_matrix"))
        return false;
    int k = cm.n_classes;
    int64_t correct = 0;
    for (int i = 0; i < k; i++)
        correct += cm.counts[i * k + i];
    printf("\nValidation accuracy: %.2f%% (%lld/%d)\n", 100.0 * (double)correct / val->n,
           (long long)correct, val->n);
    printf("Confusion matrix (rows: true, columns: predicted)\n%12s", "");
    for (int j = 0; j < k; j++)
        printf(" %10.10s", o->actions[j]);
    for (int i = 0; i < k; i++) {
        printf("\n%12.12s", o->actions[i]);
        for (int j = 0; j < k; j++)
            printf(" %10lld", (long long)cm.counts[i * k + j]);
    }
    printf("\n");
    char path[PICTURE_PATH];
    bool good = picture_path(o, "_confusion.svg", path) &&
                ok(ck_confusion_plot_svg(&cm, o->actions, path), "ck_confusion_plot_svg");
    if (good)
        printf("Confusion matrix picture: %s\n", path);
    ck_confusion_free(&cm);
    return good;
}

/* Saves the model, loads the file into a new model and compares the two
 * models' predictions bit for bit. */
static bool save_and_reload(ck_model *model, const options *o, const ar_dataset *val,
                            const float *probs)
{
    if (!ok(ck_model_save(model, o->out), "ck_model_save"))
        return false;
    ck_model *loaded = NULL;
    if (!ok(ck_model_load(o->out, &loaded), "ck_model_load"))
        return false;
    size_t n = (size_t)val->n * (size_t)val->n_actions;
    float *again = malloc(sizeof(float) * n);
    bool same = ok(again ? CK_OK : CK_ERR_MEMORY, "reload buffer") &&
                ok(ck_model_predict(loaded, val->x, val->n, again), "ck_model_predict");
    if (same) {
        size_t differ = 0;
        for (size_t i = 0; i < n; i++)
            differ += memcmp(&probs[i], &again[i], sizeof(float)) != 0;
        printf("\nSaved %s (%zu parameters); reloaded model \"%s\":\n", o->out,
               ck_model_count_params(loaded), ck_model_name(loaded));
        for (int i = 0; i < val->n && i < 3; i++) {
            const float *a = probs + (size_t)i * (size_t)val->n_actions;
            const float *b = again + (size_t)i * (size_t)val->n_actions;
            printf("  sequence %d (%s): trained -> %s %.6f, reloaded -> %s %.6f\n", i,
                   o->actions[val->label[i]], o->actions[argmax(a, val->n_actions)],
                   a[argmax(a, val->n_actions)], o->actions[argmax(b, val->n_actions)],
                   b[argmax(b, val->n_actions)]);
        }
        same = differ == 0;
        if (same)
            printf("Reloaded predictions are identical (%zu of %zu values)\n", n, n);
        else
            fprintf(stderr, "error: %zu of %zu reloaded predictions differ\n", differ, n);
    }
    free(again);
    ck_model_free(loaded);
    return same;
}

int main(int argc, char **argv)
{
    options o;
    int rc = parse_args(argc, argv, &o);
    if (rc != 0) {
        free(o.actions_buf);
        return rc == 1 ? 0 : 2;
    }
    if (o.save_dir) {
        rc = save_data(&o);
        free(o.actions_buf);
        return rc;
    }
    ar_dataset tr, val;
    if (load_data(&o, &tr, &val) != 0) {
        free(o.actions_buf);
        return 1;
    }
    ck_model *model = build_model(&o);
    float *probs = malloc(sizeof(float) * (size_t)val.n * (size_t)val.n_actions);
    bool good = model && ok(probs ? CK_OK : CK_ERR_MEMORY, "prediction buffer") &&
                ok(ck_model_summary(model, stdout, CK_SUMMARY_KERAS2), "summary");
    good = good && train(model, &o, &tr, &val);
    good = good && ok(ck_model_predict(model, val.x, val.n, probs), "ck_model_predict");
    good = good && report(model, &o, &val);
    good = good && save_and_reload(model, &o, &val, probs);
    free(probs);
    ck_model_free(model);
    ar_dataset_free(&tr);
    ar_dataset_free(&val);
    free(o.actions_buf);
    return good ? 0 : 1;
}
