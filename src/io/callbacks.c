/* ck_model_fit_with: the training loop of src/train with the callback
 * classes fit can run, one row per Keras class. The table lives here, on
 * the floor above training, because some callbacks write files. */
#include "ck_io.h"

static const ck_callback_kind *const callback_classes[] = {
    &ck_progress_callback,  &ck_checkpoint_callback,       &ck_early_stopping_callback,
    &ck_reduce_lr_callback, &ck_lr_scheduler_callback,     &ck_csv_logger_callback,
    &ck_lambda_callback,    &ck_terminate_on_nan_callback, &ck_epoch_function_callback,
};

ck_status ck_model_fit_with(ck_model *m, const ck_tensor *x, const ck_tensor *y,
                            const ck_fit_options *o, ck_history **history)
{
    if (history)
        *history = NULL;
    if (!m)
        return ck_error(CK_ERR_ARGUMENT, "ck_model_fit: model is NULL");
    int n = (int)(sizeof callback_classes / sizeof callback_classes[0]);
    ck_status st;
    CK_GUARDED(st, m, CK_ACCESS_TRAIN, "ck_model_fit",
               ck_train_fit(m, x, y, o, callback_classes, n, history));
    return st;
}
