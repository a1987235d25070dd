/* A fixed pool of threads over a bounded FIFO; see hashpool.h. */
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#include "hashpool.h"
#include "log.h"

struct job {
	hashpool_job_fn *fn;
	void *arg;
};

struct hashpool {
	pthread_mutex_t lock;
	pthread_cond_t ready;
	struct job *ring;
	unsigned capacity; /* workers + queue */
	unsigned head, count;
	unsigned admitted; /* reserved + queued + running */
	bool stopping;
	unsigned n_threads;
	struct metrics *metrics;
	pthread_t threads[];
};

static void *
worker_main(void *arg)
{
	struct hashpool *pool = arg;

	for (;;) {
		struct job job;

		pthread_mutex_lock(&pool->lock);
		while (pool->count == 0 && !pool->stopping)
			pthread_cond_wait(&pool->ready, &pool->lock);
		if (pool->count == 0) {
			pthread_mutex_unlock(&pool->lock);
			return NULL;
		}
		job = pool->ring[pool->head];
		pool->head = (pool->head + 1) % pool->capacity;
		pool->count--;
		pthread_mutex_unlock(&pool->lock);

		job.fn(job.arg);

		pthread_mutex_lock(&pool->lock);
		pool->admitted--;
		pthread_mutex_unlock(&pool->lock);
		if (pool->metrics != NULL)
			metrics_hash_in_flight(pool->metrics, -1);
	}
}

struct hashpool *
hashpool_new(unsigned workers, unsigned queue, struct metrics *metrics)
{
	struct hashpool *pool = calloc(1, sizeof(*pool) + workers * sizeof(pthread_t));

	if (pool == NULL)
		return NULL;
	pool->capacity = workers + queue;
	pool->metrics = metrics;
	if ((pool->ring = calloc(pool->capacity, sizeof(struct job))) == NULL) {
		free(pool);
		return NULL;
	}
	pthread_mutex_init(&pool->lock, NULL);
	pthread_cond_init(&pool->ready, NULL);
	for (unsigned i = 0; i < workers; i++) {
		if (pthread_create(&pool->threads[i], NULL, worker_main, pool) != 0) {
			log_warn("hashpool: pthread_create");
			hashpool_free(&pool);
			return NULL;
		}
		pool->n_threads++;
	}
	return pool;
}

int
hashpool_reserve(struct hashpool *pool)
{
	int ret = -1;

	pthread_mutex_lock(&pool->lock);
	if (!pool->stopping && pool->admitted < pool->capacity) {
		pool->admitted++;
		ret = 0;
	}
	pthread_mutex_unlock(&pool->lock);
	if (ret == 0 && pool->metrics != NULL)
		metrics_hash_in_flight(pool->metrics, 1);
	return ret;
}

void
hashpool_cancel(struct hashpool *pool)
{
	pthread_mutex_lock(&pool->lock);
	pool->admitted--;
	pthread_mutex_unlock(&pool->lock);
	if (pool->metrics != NULL)
		metrics_hash_in_flight(pool->metrics, -1);
}

void
hashpool_submit(struct hashpool *pool, hashpool_job_fn *fn, void *arg)
{
	pthread_mutex_lock(&pool->lock);
	/* A reservation guarantees a free slot in the ring. */
	pool->ring[(pool->head + pool->count) % pool->capacity] = (struct job){fn, arg};
	pool->count++;
	pthread_cond_signal(&pool->ready);
	pthread_mutex_unlock(&pool->lock);
}

void
hashpool_free(struct hashpool **poolp)
{
	struct hashpool *pool = *poolp;

	if (pool == NULL)
		return;
	pthread_mutex_lock(&pool->lock);
	pool->stopping = true;
	pthread_cond_broadcast(&pool->ready);
	pthread_mutex_unlock(&pool->lock);
	for (unsigned i = 0; i < pool->n_threads; i++)
		pthread_join(pool->threads[i], NULL);
	pthread_mutex_destroy(&pool->lock);
	pthread_cond_destroy(&pool->ready);
	free(pool->ring);
	free(pool);
	*poolp = NULL;
}
