/* ck_model_fit_with: the training loop of src/train with the callbacks the
 * fit options ask for. The table lives here, on the floor above training,
 * because a callback may write files (the checkpoint); one row per
 * callback, in the order they see each epoch's end. */
#include "ck_io.h"

static const ck_callback_kind *const fit_callbacks[] = {
    &ck_progress_callback,
    &ck_checkpoint_callback,
    &ck_early_stopping_callback,
    &ck_epoch_function_callback,
};

ck_status ck_model_fit_with(ck_model *m, const ck_tensor *x, const ck_tensor *y,
                            const ck_fit_options *o, ck_history **history)
{
    if (history)
        *history = NULL;
    if (!m)
        return ck_error(CK_ERR_ARGUMENT, "ck_model_fit: model is NULL");
    int n = (int)(sizeof fit_callbacks / sizeof fit_callbacks[0]);
    ck_status st;
    CK_GUARDED(st, m, CK_ACCESS_TRAIN, "ck_model_fit",
               ck_train_fit(m, x, y, o, fit_callbacks, n, history));
    return st;
}
