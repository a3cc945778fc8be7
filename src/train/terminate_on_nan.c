/* Keras's TerminateOnNaN: a batch whose loss is NaN or infinite stops
 * training. fit hands such a batch to the callbacks instead of failing,
 * and ends normally when one of them asks it to stop. */
#include "ck_callback.h"

#include <math.h>

static ck_status nan_batch_end(ck_callback *cb, size_t batch, const ck_epoch_logs *logs)
{
    if (isfinite(logs->loss))
        return CK_OK;
    /* Keras prints this whatever the verbosity. */
    ck_fit_print(cb->fit, "Batch %zu: Invalid loss, terminating training", batch);
    ck_fit_stop(cb->fit,
                "TerminateOnNaN: the loss of batch %zu of epoch %d is %s; the weights are those "
                "of the last finite step",
                batch, logs->epoch + 1, isnan(logs->loss) ? "NaN" : "infinite");
    return CK_OK;
}

const ck_callback_kind ck_terminate_on_nan_callback = {
    .name = "TerminateOnNaN",
    .size = sizeof(ck_callback),
    .on_batch_end = nan_batch_end,
};
