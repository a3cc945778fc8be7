/* How the Keras release that wrote the model logs an epoch: what
 * ProgbarLogger draws and where it runs, the order of the logged keys
 * and the key of the learning rate. One place, as the rules cross
 * several callbacks and the history. */
#include "ck_callback.h"

ck_log_style ck_log_style_of(const ck_model *m)
{
    bool tf_keras;
    int release = ck_model_keras_release(m, &tf_keras);
    /* Models built in C and files without a version follow Keras 3. Its
     * trainer sorted the training and the validation logs apart; 3.7
     * sorts them together in CallbackList (pythonify_logs). */
    /* Until 3.15 (keras-team/keras 8bd6635a3e) its Progbar averaged the
     * running values of the training keys over the steps and the epoch's
     * value once more, in the bar of verbose 1. */
    /* ModelCheckpoint's best began at inf (-inf for a value that should go
     * up) until 3.11's MonitorCallback left it None (keras-team/keras
     * 37a0920a3d); from 3.13 it says when a save is done (165b5ccee5).
     * A save every few batches whose logs lack the monitored key (a val_
     * one) was skipped until 3.10's _should_save_model saved it.
     * CSVLogger adds val_ columns when no key is one, as tf.keras did from
     * 2.13 (5aa5fb60f3). */
    if (release == 0 || release >= 300)
        return (ck_log_style){.keras3_bar = true,
                              .averaged_bar = release > 0 && release < 315,
                              .progbar_last = true,
                              .skips_first_step = true,
                              .key_order = release >= 307 || release == 0 ? CK_KEYS_SORTED
                                                                          : CK_KEYS_SORTED_APART,
                              .epoch_base = 1,
                              .checkpoint_newline = true,
                              .checkpoint_from = true,
                              .best_none = release == 0 || release >= 311,
                              .restore_names_epoch = true,
                              .checkpoint_finished = release == 0 || release >= 313,
                              .checkpoint_unmonitored = release == 0 || release >= 310,
                              .csv_val_columns = true,
                              .plateau_verb = "ReduceLROnPlateau reducing",
                              .scheduler_verb = "LearningRateScheduler setting",
                              .lr_key = "learning_rate",
                              .scheduler_lr_key = "learning_rate"};
    /* tf.keras 2.7 appended ProgbarLogger to the callbacks (keras-team/keras
     * 90887569b9); standalone Keras put it before the user's, older tf.keras
     * first. Its Progbar also began to end a verbose-2 line with the
     * epoch's and the step's times (7af871aae4). From v2.6.0 on, verbose
     * 1's time per step leaves step 1 out (Progbar._estimate_step_duration;
     * tf.keras 2.0-2.5 lived in TensorFlow's repository, not read here).
     * LearningRateScheduler logged no rate before standalone 2.2.3. The
     * callbacks' messages padded the epoch to 5 digits ("Epoch %05d")
     * until tf.keras 2.8's f-strings. Standalone Keras's messages gave the
     * epoch's index until 2.0.9, began ModelCheckpoint's with a new line and
     * named the callback in ReduceLROnPlateau's from 2.1.3 (whose
     * LearningRateScheduler first printed, "reducing" until 2.2.1), and
     * gave the best value in "did not improve" from 2.1.6 (callbacks.py of
     * each release). EarlyStopping's "Restoring model weights from the end
     * of the best epoch" ended with a period in tf.keras and named the epoch
     * from 2.7 (v2.6.0, v2.7.0). Keras 2 logged the rate as the optimizer's
     * float32 (backend.get_value), Keras 3 as a Python float. Standalone
     * Keras's ProgbarLogger counted samples when fit was given arrays
     * (count_mode 'samples', training_arrays.py of 2.2.4 and 2.3.1) and its
     * Progbar printed no count in verbose 2; tf.keras from 2.6 (v2.6.0, the
     * first in keras-team/keras) names the epoch only when there are
     * several, as Keras 3 does. */
    bool logs_schedule = !ck_model_standalone_keras_below(m, 2, 2, 3);
    bool named = !ck_model_standalone_keras_below(m, 2, 1, 3);
    bool standalone = ck_model_from_standalone_keras2(m);
    return (ck_log_style){.progbar_last = release >= 207,
                          .epoch_times = release >= 207,
                          .skips_first_step = release >= 206,
                          .epoch_digits = release >= 208 ? 0 : 5,
                          .epoch_base = ck_model_standalone_keras_below(m, 2, 0, 9) ? 0 : 1,
                          .checkpoint_newline = named,
                          .checkpoint_from = !ck_model_standalone_keras_below(m, 2, 1, 6),
                          .restore_names_epoch = release >= 207,
                          .restore_period = !standalone,
                          .csv_val_columns = release >= 213,
                          .lr_float32 = true,
                          .counts_samples = standalone,
                          .epoch_header_always = release < 206,
                          .plateau_verb = named ? "ReduceLROnPlateau reducing" : "reducing",
                          .scheduler_verb = ck_model_standalone_keras_below(m, 2, 2, 1)
                                                ? "LearningRateScheduler reducing"
                                                : "LearningRateScheduler setting",
                          .lr_key = "lr",
                          .scheduler_lr_key = logs_schedule ? "lr" : NULL};
}
