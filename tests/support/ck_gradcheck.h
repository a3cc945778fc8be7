/* Backward passes against central finite differences, shared by every
 * gradient test. The objective is L = sum(r * y) over the model output y
 * for a fixed r, so dL/dy = r. The model's generator is set to the same
 * state before every forward, so dropout masks and noise repeat exactly
 * while one value at a time is perturbed. */
#ifndef CK_GRADCHECK_H
#define CK_GRADCHECK_H

#include "ck_internal.h"

typedef struct ck_fd {
    ck_model *m;    /* built */
    ck_tensor x;    /* model input; input gradients perturb its values in place */
    const float *r; /* dL/dy: one value per output value */
    ck_rng rng;     /* generator state of every forward */
    bool training;  /* dropout, noise and batch statistics on */
    double h;       /* central-difference step */
} ck_fd;

/* sum(r * y) of one forward. */
double ck_fd_objective(const ck_fd *fd);
/* (L(v + h) - L(v - h)) / 2h; *v is left as it was. */
double ck_fd_derivative(const ck_fd *fd, float *v);
/* Zeroes the model's gradients, then a forward and the model's backward
 * from dL/dy = r: the analytic weight gradients are in m->grads. */
void ck_fd_backward(const ck_fd *fd);
/* The input gradient of the last layer, through its own backward after a
 * forward; m->grads is kept. */
void ck_fd_last_input_grad(const ck_fd *fd, float *dx);

/* For a built model of 2 inputs and 2 outputs: sets its parameters to a
 * fixed spread of values, compiles it with SGD at learning rate 1 and mse,
 * and checks that the change one train_on_batch on three fixed samples
 * makes to each parameter equals minus the central difference of the
 * evaluated loss (penalties included), within 2e-3. */
void ck_fd_check_sgd_step(ck_model *m);

/* Relative error of two gradient vectors as a norm ratio; fails when both
 * are zero, since such a check proves nothing. */
double ck_fd_rel_error(const double *a, const double *b, size_t n);
/* Weight gradients of the whole model, and the input gradient of a model
 * of one layer: each vector's norm-relative error below tol. */
void ck_fd_check_weights(const ck_fd *fd, const char *what, double tol);
void ck_fd_check_input(const ck_fd *fd, const char *what, double tol);
/* Every trainable weight and input value of a model of one layer, one by one:
 * |analytic - numeric| <= atol + rtol |numeric|. Returns how many numeric
 * derivatives exceed 1e-3 in magnitude. */
int ck_fd_check_each(const ck_fd *fd, double atol, double rtol);

#endif
