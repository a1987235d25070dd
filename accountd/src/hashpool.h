/* Worker threads for password work (argon2id), so that the HTTP threads
 * never hash. The number of jobs queued or running is capped: each running
 * job holds its argon2 memory, and a full pool refuses new work at once
 * instead of queueing without bound. */
#ifndef ACCOUNTD_HASHPOOL_H
#define ACCOUNTD_HASHPOOL_H

#include "common.h"
#include "metrics.h"

struct hashpool;

typedef void hashpool_job_fn(void *arg);

/* workers threads; at most workers + queue jobs admitted at once. */
struct hashpool *hashpool_new(unsigned workers, unsigned queue, struct metrics *metrics);

/* Reserve a place for one job; -1 when the pool is full. A reservation
 * must be followed by exactly one hashpool_submit() or hashpool_cancel(). */
MUST_CHECK int hashpool_reserve(struct hashpool *pool);
void hashpool_cancel(struct hashpool *pool);
/* Queue fn(arg) on a reserved place. */
void hashpool_submit(struct hashpool *pool, hashpool_job_fn *fn, void *arg);

/* Run every queued job, then stop the threads. */
void hashpool_free(struct hashpool **pool);

#endif
