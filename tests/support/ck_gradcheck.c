#include "ck_gradcheck.h"
#include "ck_test.h"

#include <string.h>

static const ck_tensor *forward(const ck_fd *fd)
{
    fd->m->rng = fd->rng;
    ck_assert_ok(ck_model_forward(fd->m, &fd->x, fd->training));
    return &fd->m->act_views[fd->m->n_layers - 1];
}

double ck_fd_objective(const ck_fd *fd)
{
    const ck_tensor *y = forward(fd);
    double s = 0;
    for (size_t i = 0; i < ck_tensor_size(y); i++)
        s += (double)fd->r[i] * y->data[i];
    return s;
}

/* Sets *v (a weight or an input value) and tells the model, so that its
 * packed weights follow. */
static void set_value(const ck_fd *fd, float *v, float value)
{
    *v = value;
    ck_model_weights_changed(fd->m);
}

double ck_fd_derivative(const ck_fd *fd, float *v)
{
    float saved = *v;
    set_value(fd, v, (float)(saved + fd->h));
    double lp = ck_fd_objective(fd);
    set_value(fd, v, (float)(saved - fd->h));
    double lm = ck_fd_objective(fd);
    set_value(fd, v, saved);
    return (lp - lm) / (2 * fd->h);
}

void ck_fd_backward(const ck_fd *fd)
{
    ck_model *m = fd->m;
    ck_tensor dy = *forward(fd);
    dy.data = (float *)fd->r;
    memset(m->grads, 0, m->n_params * sizeof(float));
    ck_assert_ok(ck_model_backward(m, &dy));
}

void ck_fd_last_input_grad(const ck_fd *fd, float *dx)
{
    ck_model *m = fd->m;
    int last = m->n_layers - 1;
    ck_layer *l = m->layers[last];
    const ck_tensor *y = forward(fd);
    const ck_tensor *in = last ? &m->act_views[last - 1] : &fd->x;
    ck_tensor dy = *y, tdx = *in;
    dy.data = (float *)fd->r;
    tdx.data = dx;
    float *kept = malloc((m->n_params + 1) * sizeof *kept);
    memcpy(kept, m->grads, m->n_params * sizeof *kept);
    ck_assert_ok(l->ops->backward(l, in, y, &dy, &tdx));
    memcpy(m->grads, kept, m->n_params * sizeof *kept);
    free(kept);
}

double ck_fd_rel_error(const double *a, const double *b, size_t n)
{
    double diff = 0, scale = 0;
    for (size_t i = 0; i < n; i++) {
        diff += (a[i] - b[i]) * (a[i] - b[i]);
        scale += fmax(a[i] * a[i], b[i] * b[i]);
    }
    ck_assert_msg(scale > 1e-10, "gradient is identically zero");
    return sqrt(diff / scale);
}

void ck_fd_check_weights(const ck_fd *fd, const char *what, double tol)
{
    ck_model *m = fd->m;
    ck_fd_backward(fd);
    size_t n = m->n_trainable;
    double *a = malloc((n + 1) * sizeof *a), *num = malloc((n + 1) * sizeof *num);
    for (size_t i = 0; i < n; i++)
        a[i] = m->grads[i];
    for (size_t i = 0; i < n; i++)
        num[i] = ck_fd_derivative(fd, &m->params[i]);
    double err = ck_fd_rel_error(a, num, n);
    ck_assert_msg(err < tol, "%s: weight gradient relative error %g", what, err);
    free(a);
    free(num);
}

void ck_fd_check_input(const ck_fd *fd, const char *what, double tol)
{
    size_t n = ck_tensor_size(&fd->x);
    float *dx = malloc(n * sizeof *dx);
    ck_fd_last_input_grad(fd, dx);
    double *a = malloc(n * sizeof *a), *num = malloc(n * sizeof *num);
    for (size_t i = 0; i < n; i++)
        a[i] = dx[i];
    for (size_t i = 0; i < n; i++)
        num[i] = ck_fd_derivative(fd, &fd->x.data[i]);
    double err = ck_fd_rel_error(a, num, n);
    ck_assert_msg(err < tol, "%s: input gradient relative error %g", what, err);
    free(dx);
    free(a);
    free(num);
}

static void assert_close(const char *what, size_t i, double analytic, double numeric, double atol,
                         double rtol)
{
    ck_assert_msg(fabs(analytic - numeric) <= atol + rtol * fabs(numeric),
                  "%s #%zu: backward %.6g, finite difference %.6g", what, i, analytic, numeric);
}

int ck_fd_check_each(const ck_fd *fd, double atol, double rtol)
{
    ck_model *m = fd->m;
    size_t nx = ck_tensor_size(&fd->x);
    float *grads = malloc((m->n_params + 1) * sizeof *grads), *dx = malloc(nx * sizeof *dx);
    ck_fd_backward(fd);
    memcpy(grads, m->grads, m->n_params * sizeof *grads);
    ck_fd_last_input_grad(fd, dx);
    int nonzero = 0;
    for (size_t i = 0; i < m->n_trainable + nx; i++) {
        bool weight = i < m->n_trainable;
        float *v = weight ? &m->params[i] : &fd->x.data[i - m->n_trainable];
        double numeric = ck_fd_derivative(fd, v);
        nonzero += fabs(numeric) > 1e-3;
        if (weight)
            assert_close("weight", i, grads[i], numeric, atol, rtol);
        else
            assert_close("input", i - m->n_trainable, dx[i - m->n_trainable], numeric, atol, rtol);
    }
    free(grads);
    free(dx);
    return nonzero;
}

void ck_fd_check_sgd_step(ck_model *m)
{
    for (size_t i = 0; i < m->n_params; i++)
        m->params[i] = (float)(0.3 + 0.5 * sin(1.3 * (double)i));
    ck_model_weights_changed(m);
    ck_assert_ok(ck_model_compile(m, .optimizer = ck_sgd(.learning_rate = 1), .loss = "mse"));
    float xd[6] = {0.5f, -1, 1, 0.25f, -0.5f, 2}, yd[6] = {0.1f, 0.2f, -0.3f, 0.4f, 0, 1};
    ck_tensor x = {.rank = 2, .dims = {3, 2}, .data = xd},
              y = {.rank = 2, .dims = {3, 2}, .data = yd};
    size_t n = m->n_params;
    float *before = malloc(n * sizeof(float));
    double *numeric = malloc(n * sizeof(double));
    ck_assert(before && numeric);
    memcpy(before, m->params, n * sizeof(float));
    for (size_t i = 0; i < n; i++) {
        double lp, lm, eps = 1e-3;
        m->params[i] = before[i] + (float)eps;
        ck_model_weights_changed(m);
        ck_assert_ok(ck_model_evaluate(m, &x, &y, 3, &lp, NULL));
        m->params[i] = before[i] - (float)eps;
        ck_model_weights_changed(m);
        ck_assert_ok(ck_model_evaluate(m, &x, &y, 3, &lm, NULL));
        m->params[i] = before[i];
        ck_model_weights_changed(m);
        numeric[i] = (lp - lm) / (2 * eps);
    }
    ck_assert_ok(ck_model_train_on_batch(m, &x, &y, NULL));
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(fabs((before[i] - m->params[i]) - numeric[i]) < 2e-3,
                      "parameter %zu: step %g, finite differences %g", i,
                      (double)(before[i] - m->params[i]), numeric[i]);
    free(before);
    free(numeric);
}
