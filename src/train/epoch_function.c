/* The caller's ck_fit_options.on_epoch_end, called like a Keras
 * LambdaCallback(on_epoch_end=...); returning true stops training. */
#include "ck_callback.h"

static ck_status fn_epoch_end(ck_callback *cb, int epoch, const ck_epoch_logs *logs)
{
    const ck_fit_options *o = cb->options;
    if (o->on_epoch_end(cb->fit->model, logs, o->user_data))
        ck_fit_stop(cb->fit, "training stopped by the epoch callback after epoch %d", epoch + 1);
    return CK_OK;
}

const ck_callback_kind ck_epoch_function_callback = {
    .name = "ck_epoch_function",
    .size = sizeof(ck_callback),
    .on_epoch_end = fn_epoch_end,
};
