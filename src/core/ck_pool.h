/* The library's thread pool (src/core/pool.c): splits one large product
 * into tasks that the calling thread and the pool's workers claim. */
#ifndef CK_POOL_H
#define CK_POOL_H

/* Runs task(arg, i) once for every i in [0, n), on the calling thread and,
 * when the pool is free and more than one thread is allowed, on its
 * workers too. Returns when every task has run. The caller never waits
 * for a worker that has not started: it claims tasks itself, so a busy
 * pool (another thread's product) or a descheduled worker only costs
 * parallelism. Tasks must write disjoint memory. */
void ck_pool_run(int n, void (*task)(void *arg, int i), void *arg);

/* Creates the workers the current thread count asks for now instead of
 * in the first ck_pool_run (ck_warm_up). */
void ck_pool_start(void);

/* Between these, workers keep spinning for the next job instead of
 * sleeping after a short spin (a training step: see pool.c). Every hold
 * must be released. */
void ck_pool_hold(void);
void ck_pool_release(void);

/* The number of threads a product may use now (ck_set_num_threads). */
int ck_pool_threads(void);

#endif
