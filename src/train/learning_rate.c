/* The learning rate of a compiled model, read and set without touching
 * the optimizer's state: the public calls and the callbacks' way in. */
#include "ck_callback.h"
#include "ck_train.h"

ck_status ck_model_get_learning_rate(const ck_model *m, double *lr)
{
    ck_train_state *s = NULL;
    if (!lr)
        return ck_error(CK_ERR_ARGUMENT, "ck_model_get_learning_rate: lr is NULL");
    CK_TRY(ck_train_compiled((ck_model *)m, "ck_model_get_learning_rate", &s));
    *lr = ck_optimizer_learning_rate(&s->opt);
    return CK_OK;
}

static ck_status set_learning_rate(ck_model *m, double lr)
{
    ck_train_state *s = NULL;
    CK_TRY(ck_train_compiled(m, "ck_model_set_learning_rate", &s));
    return ck_optimizer_set_learning_rate(&s->opt, lr, "ck_model_set_learning_rate");
}

ck_status ck_model_set_learning_rate(ck_model *m, double lr)
{
    if (!m)
        return ck_error(CK_ERR_ARGUMENT, "ck_model_set_learning_rate: model is NULL");
    ck_status st;
    CK_GUARDED(st, m, CK_ACCESS_UPDATE, "ck_model_set_learning_rate", set_learning_rate(m, lr));
    return st;
}

ck_status ck_model_get_iterations(const ck_model *m, int64_t *iterations)
{
    ck_train_state *s = NULL;
    if (!iterations)
        return ck_error(CK_ERR_ARGUMENT, "ck_model_get_iterations: iterations is NULL");
    CK_TRY(ck_train_compiled((ck_model *)m, "ck_model_get_iterations", &s));
    *iterations = ck_optimizer_iterations(&s->opt);
    return CK_OK;
}

ck_status ck_fit_set_learning_rate(ck_fit_info *fit, double lr, const char *who)
{
    return ck_optimizer_set_learning_rate(&ck_train_state_of(fit->model)->opt, lr, who);
}

double ck_fit_learning_rate(const ck_fit_info *fit)
{
    return ck_optimizer_learning_rate(&ck_train_state_of(fit->model)->opt);
}
