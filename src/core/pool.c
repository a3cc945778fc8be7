/* A small thread pool for splitting single products, built for the
 * recurrent layers' cadence: a product of a few to a few hundred
 * microseconds, then a short serial cell pass, then the next product.
 *
 * - Work claiming, no barrier: the caller publishes a job and claims tasks
 *   like any worker, so a worker that is descheduled (the machine is
 *   shared) costs parallelism, not a wait. Tasks are claimed with one
 *   compare-and-swap on (job number, next task), so a worker that wakes
 *   up late cannot take a task of a newer job with an older job's
 *   arguments.
 * - Workers spin briefly after a job, because the next product usually
 *   follows within microseconds, then sleep on a condition variable: an
 *   idle pool costs no CPU. Inside a training step (ck_pool_hold) they
 *   spin on: its serial passes outlast the spin several times a step, and
 *   each wake-up cost a system call and a product run alone (W1 training
 *   went from 11 to 2.4 futex calls a step). Predicts do not hold: there
 *   the spinning worker took the core that other threads' predicts use.
 * - One job at a time. A second caller (another model, or concurrent
 *   predicts on one model) finds the pool busy and runs its tasks alone.
 * - Workers start on the first job that wants them and live as long as
 *   the process; a lower thread count leaves the extra ones asleep. */
#include "ck_pool.h"
#include "ck_internal.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

/* Spin times in nanoseconds: a worker waiting for the next job, and the
 * caller waiting for tasks that workers still run. */
#define WORKER_SPIN_NS 50000
#define CALLER_SPIN_NS 20000
#define MAX_THREADS 64

typedef struct job {
    void (*task)(void *arg, int i);
    void *arg;
    int n;
    uint32_t number;
} job;

static struct {
    pthread_mutex_t lock; /* job, sleepers, caller_waiting, started */
    pthread_cond_t wake;  /* workers sleep here */
    pthread_cond_t done_cv;
    pthread_mutex_t busy; /* held by the caller of the running job */
    job job;
    atomic_uint_least64_t claim; /* job number << 32 | next task */
    atomic_int done;             /* tasks of the current job finished */
    atomic_uint number;          /* the current job's number */
    int sleepers, started;
    bool caller_waiting;
    atomic_int holds; /* callers between ck_pool_hold and ck_pool_release */
} pool = {
    .lock = PTHREAD_MUTEX_INITIALIZER,
    .wake = PTHREAD_COND_INITIALIZER,
    .done_cv = PTHREAD_COND_INITIALIZER,
    .busy = PTHREAD_MUTEX_INITIALIZER,
};

static atomic_int wanted_threads; /* 0: not chosen yet */

static int default_threads(void)
{
    /* OpenBLAS's variable chose ckeras's threads before the pool existed;
     * it keeps doing so. */
    const char *env = getenv("OPENBLAS_NUM_THREADS");
    long n = env && *env ? strtol(env, NULL, 10) : sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > MAX_THREADS ? MAX_THREADS : (int)n;
}

int ck_pool_threads(void)
{
    int n = atomic_load(&wanted_threads);
    if (n == 0) {
        int expected = 0;
        atomic_compare_exchange_strong(&wanted_threads, &expected, default_threads());
        n = atomic_load(&wanted_threads);
    }
    return n;
}

ck_status ck_set_num_threads(int n)
{
    if (n < 1 || n > MAX_THREADS)
        return ck_error(CK_ERR_ARGUMENT, "ck_set_num_threads: %d is not between 1 and %d", n,
                        MAX_THREADS);
    atomic_store(&wanted_threads, n);
    return CK_OK;
}

int ck_get_num_threads(void)
{
    return ck_pool_threads();
}

static void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Spins until done() or for about `ns`; true when done() became true. */
static bool spin_until(bool (*done)(const void *), const void *ctx, int64_t ns)
{
    int64_t end = 0;
    for (unsigned i = 0;; i++) {
        if (done(ctx))
            return true;
        cpu_relax();
        if ((i & 63) == 63) {
            int64_t t = now_ns();
            if (end == 0)
                end = t + ns;
            else if (t > end)
                return done(ctx);
        }
    }
}

/* Claims and runs tasks of job j until none is left. */
static void run_tasks(const job *j, bool worker)
{
    for (;;) {
        uint_least64_t v = atomic_load(&pool.claim);
        do {
            if ((uint32_t)(v >> 32) != j->number || (uint32_t)v >= (uint32_t)j->n)
                return;
        } while (!atomic_compare_exchange_weak(&pool.claim, &v, v + 1));
        j->task(j->arg, (int)(uint32_t)v);
        if (atomic_fetch_add(&pool.done, 1) + 1 == j->n && worker) {
            pthread_mutex_lock(&pool.lock);
            if (pool.caller_waiting)
                pthread_cond_signal(&pool.done_cv);
            pthread_mutex_unlock(&pool.lock);
        }
    }
}

typedef struct worker_wait {
    uint32_t seen;
} worker_wait;

static bool new_job(const void *ctx)
{
    return atomic_load_explicit(&pool.number, memory_order_relaxed) !=
           ((const worker_wait *)ctx)->seen;
}

/* Worker `index` (1-based; the caller is thread 0) takes part in a job
 * only while the thread count includes it. */
static void *worker_main(void *arg)
{
    int index = (int)(intptr_t)arg;
    worker_wait w = {atomic_load(&pool.number)};
    for (;;) {
        while (!spin_until(new_job, &w, WORKER_SPIN_NS) && atomic_load(&pool.holds) > 0)
            continue;
        pthread_mutex_lock(&pool.lock);
        while (atomic_load(&pool.number) == w.seen || index >= ck_pool_threads()) {
            w.seen = atomic_load(&pool.number);
            pool.sleepers++;
            pthread_cond_wait(&pool.wake, &pool.lock);
            pool.sleepers--;
        }
        w.seen = atomic_load(&pool.number);
        job j = pool.job;
        pthread_mutex_unlock(&pool.lock);
        run_tasks(&j, true);
    }
    return NULL;
}

/* A child of fork() has none of the parent's workers. */
static void forget_workers(void)
{
    pthread_mutex_init(&pool.lock, NULL);
    pthread_mutex_init(&pool.busy, NULL);
    pthread_cond_init(&pool.wake, NULL);
    pthread_cond_init(&pool.done_cv, NULL);
    pool.started = pool.sleepers = 0;
    pool.caller_waiting = false;
    /* Holds of the parent's other threads end with them; the child's
     * workers must not spin for them for ever. */
    atomic_store(&pool.holds, 0);
}

static void register_fork_handler(void)
{
    pthread_atfork(NULL, NULL, forget_workers);
}

/* Before the first worker or hold, which a child must forget. */
static void watch_fork(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, register_fork_handler);
}

/* Starts workers up to `workers` (under pool.lock); a thread that cannot
 * be created leaves the pool smaller. */
static void start_workers(int workers)
{
    watch_fork();
    while (pool.started < workers) {
        pthread_t t;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        int rc = pthread_create(&t, &attr, worker_main, (void *)(intptr_t)(pool.started + 1));
        pthread_attr_destroy(&attr);
        if (rc != 0)
            return;
        pool.started++;
    }
}

static bool all_done(const void *ctx)
{
    return atomic_load(&pool.done) == ((const job *)ctx)->n;
}

void ck_pool_start(void)
{
    int threads = ck_pool_threads();
    pthread_mutex_lock(&pool.lock);
    start_workers(threads - 1);
    pthread_mutex_unlock(&pool.lock);
}

void ck_pool_hold(void)
{
    watch_fork();
    atomic_fetch_add(&pool.holds, 1);
}

void ck_pool_release(void)
{
    /* Never below zero: a child of fork() forgot its parent's holds, and
     * the forking thread may still release one of them. */
    int n = atomic_load(&pool.holds);
    while (n > 0 && !atomic_compare_exchange_weak(&pool.holds, &n, n - 1))
        ;
}

void ck_pool_run(int n, void (*task)(void *arg, int i), void *arg)
{
    int threads = ck_pool_threads();
    if (n <= 1 || threads <= 1 || pthread_mutex_trylock(&pool.busy) != 0) {
        for (int i = 0; i < n; i++)
            task(arg, i);
        return;
    }
    pthread_mutex_lock(&pool.lock);
    start_workers(threads - 1);
    uint32_t number = atomic_load(&pool.number) + 1;
    pool.job = (job){task, arg, n, number};
    atomic_store(&pool.done, 0);
    atomic_store(&pool.claim, (uint_least64_t)number << 32);
    atomic_store(&pool.number, number);
    if (pool.sleepers > 0)
        pthread_cond_broadcast(&pool.wake);
    job j = pool.job;
    pthread_mutex_unlock(&pool.lock);
    run_tasks(&j, false);
    if (!spin_until(all_done, &j, CALLER_SPIN_NS)) {
        pthread_mutex_lock(&pool.lock);
        pool.caller_waiting = true;
        while (!all_done(&j))
            pthread_cond_wait(&pool.done_cv, &pool.lock);
        pool.caller_waiting = false;
        pthread_mutex_unlock(&pool.lock);
    }
    pthread_mutex_unlock(&pool.busy);
}
