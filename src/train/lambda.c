/* Keras's LambdaCallback, and the way to write any callback in C: the
 * caller's functions for each hook, with its user_data. */
#include "ck_callback.h"

static const ck_lambda_callback_options *hooks(const ck_callback *cb)
{
    return cb->options;
}

static ck_status lambda_train_begin(ck_callback *cb)
{
    if (!cb->options)
        return ck_error(CK_ERR_ARGUMENT, "LambdaCallback: options are NULL");
    const ck_lambda_callback_options *h = hooks(cb);
    return h->on_train_begin ? h->on_train_begin(cb->fit->model, h->user_data) : CK_OK;
}

static ck_status lambda_train_end(ck_callback *cb)
{
    const ck_lambda_callback_options *h = hooks(cb);
    ck_epoch_logs logs = {.epoch = -1, .history = cb->fit->history};
    return h->on_train_end ? h->on_train_end(cb->fit->model, &logs, h->user_data) : CK_OK;
}

static ck_status lambda_epoch_begin(ck_callback *cb, int epoch)
{
    const ck_lambda_callback_options *h = hooks(cb);
    return h->on_epoch_begin ? h->on_epoch_begin(cb->fit->model, epoch, h->user_data) : CK_OK;
}

static ck_status lambda_epoch_end(ck_callback *cb, int epoch, const ck_epoch_logs *logs)
{
    const ck_lambda_callback_options *h = hooks(cb);
    return h->on_epoch_end ? h->on_epoch_end(cb->fit->model, epoch, logs, h->user_data) : CK_OK;
}

static ck_status lambda_batch_begin(ck_callback *cb, size_t batch)
{
    const ck_lambda_callback_options *h = hooks(cb);
    return h->on_batch_begin ? h->on_batch_begin(cb->fit->model, (int)batch, h->user_data) : CK_OK;
}

static ck_status lambda_batch_end(ck_callback *cb, size_t batch, const ck_epoch_logs *logs)
{
    const ck_lambda_callback_options *h = hooks(cb);
    return h->on_batch_end ? h->on_batch_end(cb->fit->model, (int)batch, logs, h->user_data)
                           : CK_OK;
}

const ck_callback_kind ck_lambda_callback = {
    .name = "LambdaCallback",
    .size = sizeof(ck_callback),
    .on_train_begin = lambda_train_begin,
    .on_train_end = lambda_train_end,
    .on_epoch_begin = lambda_epoch_begin,
    .on_epoch_end = lambda_epoch_end,
    .on_batch_begin = lambda_batch_begin,
    .on_batch_end = lambda_batch_end,
};
