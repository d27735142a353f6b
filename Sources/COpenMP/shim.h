#ifndef KENNEL_OPENMP_SHIM_H
#define KENNEL_OPENMP_SHIM_H
// The engine's parallel loops run on libgomp, the OpenMP runtime Debian's oneDNN is built on, so convolutions
// and the engine's own loops share one team of threads: a team's threads spin briefly between regions, which
// makes back-to-back regions cheap, but would steal a core from a second thread pool running meanwhile.
// GOMP_parallel and the omp_* queries are libgomp's stable ABI; no OpenMP compiler support is needed.
extern void GOMP_parallel(void (*fn)(void *), void *data, unsigned num_threads, unsigned flags);
extern int omp_get_thread_num(void);
extern int omp_get_num_threads(void);
/// The team size regions started by this thread get (OMP_NUM_THREADS, or the cores); oneDNN sizes its regions by it.
extern int omp_get_max_threads(void);

struct kennel_parallel_loop {
    void (*body)(void *context, long index);
    void *context;
    long count;
};

static void kennel_parallel_team_member(void *data) {
    const struct kennel_parallel_loop *loop = (const struct kennel_parallel_loop *)data;
    long threads = omp_get_num_threads();
    for (long index = omp_get_thread_num(); index < loop->count; index += threads) loop->body(loop->context, index);
}

/// Runs body(context, i) for i in 0..<count on a team of `threads` (member t takes t, t + threads, …); returns
/// when all are done.
static inline void kennel_parallel_for(long count, unsigned threads, void *context, void (*body)(void *, long)) {
    struct kennel_parallel_loop loop = { body, context, count };
    GOMP_parallel(kennel_parallel_team_member, &loop, threads, 0);
}
#endif
