/* The counters' writer thread; see usage_writer.h. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"
#include "metrics.h"
#include "usage_writer.h"

#define TAKE_WAIT_MS     1000 /* how often an idle writer does its chores */
#define SWEEP_EVERY_S    60
#define SUBJECT_IDLE_S   600 /* forget a subject unused this long */
#define PRUNE_EVERY_S    3600
#define SAVE_ATTEMPTS    3 /* a deadlock or lock wait is retried */
#define ROWS_PER_MESSAGE 4 /* account and domain, hour and day */

struct usage_writer {
	struct db_pool *pool;
	struct usage_cache *cache;
	size_t max_batch;
	struct usage_message *batch; /* owned */
	struct usage_row *rows;      /* owned */
	long long last_sweep, last_prune;
	pthread_t thread;
};

static int
compare_rows(const void *a, const void *b)
{
	const struct usage_row *x = a, *y = b;
	int c = strcasecmp(x->subject, y->subject);

	if (c != 0)
		return c;
	if (x->is_hour != y->is_hour)
		return x->is_hour ? -1 : 1;
	return (x->period_start > y->period_start) - (x->period_start < y->period_start);
}

/* The batch as counter rows, equal rows merged; returns their number. */
static size_t
batch_rows(struct usage_writer *w, size_t n)
{
	size_t rows = 0, merged = 0;

	for (size_t i = 0; i < n; i++) {
		const struct usage_message *m = &w->batch[i];
		const char *subjects[2] = {m->account, m->domain};

		for (size_t s = 0; s < 2; s++) {
			w->rows[rows++] = (struct usage_row){
			    subjects[s], true, m->period.hour * 3600, 1, m->recipients};
			w->rows[rows++] = (struct usage_row){
			    subjects[s], false, m->period.day * 86400, 1, m->recipients};
		}
	}
	/* Sorted, so that equal rows meet and the row locks are always taken
	 * in the same order. */
	qsort(w->rows, rows, sizeof(*w->rows), compare_rows);
	for (size_t i = 0; i < rows; i++) {
		if (merged > 0 && compare_rows(&w->rows[merged - 1], &w->rows[i]) == 0) {
			w->rows[merged - 1].messages += w->rows[i].messages;
			w->rows[merged - 1].recipients += w->rows[i].recipients;
		} else {
			w->rows[merged++] = w->rows[i];
		}
	}
	return merged;
}

static enum db_status
save_rows(struct db_conn *c, const struct usage_row *rows, size_t n)
{
	enum db_status st;

	if ((st = db_begin(c)) != DB_OK)
		return st;
	if ((st = db_usage_save(c, rows, n)) != DB_OK) {
		db_rollback(c);
		return st;
	}
	return db_commit(c);
}

static bool
save_batch(struct usage_writer *w, size_t n)
{
	size_t rows = batch_rows(w, n);
	enum db_status st = DB_UNAVAILABLE;
	struct db_conn *c;

	if ((c = db_acquire(w->pool)) == NULL) {
		log_warnx("usage_not_saved messages=%zu db=busy (no free connection)", n);
		return false;
	}
	/* Never retry a lost server: the waiting sessions need an answer
	 * within a bound. */
	for (unsigned attempt = 0;
	     attempt < SAVE_ATTEMPTS && st == DB_UNAVAILABLE && (attempt == 0 || db_connected(c));
	     attempt++)
		st = save_rows(c, w->rows, rows);
	db_release(w->pool, &c);
	if (st != DB_OK) {
		log_warnx("usage_not_saved messages=%zu db=%s", n, db_status_name(st));
		return false;
	}
	metrics_add(M_USAGE_BATCHES);
	metrics_add_n(M_USAGE_MESSAGES_SAVED, n);
	return true;
}

static void
chores(struct usage_writer *w)
{
	long long now = usage_cache_clock();
	struct db_conn *c;

	if (now - w->last_sweep >= SWEEP_EVERY_S) {
		w->last_sweep = now;
		(void)usage_cache_sweep(w->cache, now, SUBJECT_IDLE_S);
	}
	if (now - w->last_prune >= PRUNE_EVERY_S && (c = db_acquire(w->pool)) != NULL) {
		if (db_usage_prune(c) == DB_OK)
			w->last_prune = now;
		else
			log_warnx("prune_failed");
		db_release(w->pool, &c);
	}
}

static void *
writer_main(void *arg)
{
	struct usage_writer *w = arg;

	for (;;) {
		size_t n = usage_cache_take(w->cache, w->batch, w->max_batch, TAKE_WAIT_MS);

		if (n > 0)
			usage_cache_settle(w->cache, save_batch(w, n));
		else if (usage_cache_finished(w->cache))
			break;
		chores(w);
	}
	return NULL;
}

struct usage_writer *
usage_writer_start(const struct config *cfg, struct db_pool *pool, struct usage_cache *cache)
{
	struct usage_writer *w = calloc(1, sizeof(*w));

	if (w == NULL)
		goto oom;
	w->pool = pool;
	w->cache = cache;
	w->max_batch = cfg->max_connections;
	w->batch = calloc(w->max_batch, sizeof(*w->batch));
	w->rows = calloc(w->max_batch * ROWS_PER_MESSAGE, sizeof(*w->rows));
	if (w->batch == NULL || w->rows == NULL)
		goto oom;
	/* Prune at the first chore, sweep after a minute. */
	w->last_sweep = usage_cache_clock();
	w->last_prune = w->last_sweep - PRUNE_EVERY_S;
	if ((errno = pthread_create(&w->thread, NULL, writer_main, w)) != 0) {
		log_warn("pthread_create (usage writer)");
		goto fail;
	}
	return w;
oom:
	log_warnx("out of memory for the usage writer");
fail:
	if (w != NULL) {
		free(w->batch);
		free(w->rows);
		free(w);
	}
	return NULL;
}

void
usage_writer_stop(struct usage_writer **wp)
{
	struct usage_writer *w = *wp;

	if (w == NULL)
		return;
	usage_cache_stop(w->cache);
	pthread_join(w->thread, NULL);
	free(w->batch);
	free(w->rows);
	free(w);
	*wp = NULL;
}
