/* The thread that saves the counted messages (usage_cache.h) to MariaDB:
 * everything queued since its last commit goes into one transaction, its
 * rows merged (a busy domain's row is written once per batch, not once per
 * message), retried on a deadlock, and settled. Between batches it forgets
 * idle subjects and prunes old counter rows once an hour. */
#ifndef POLICYD_USAGE_WRITER_H
#define POLICYD_USAGE_WRITER_H

#include "config.h"
#include "db.h"
#include "usage_cache.h"

struct usage_writer;

/* Start the thread; NULL (logged) when it cannot. */
struct usage_writer *usage_writer_start(
    const struct config *cfg, struct db_pool *pool, struct usage_cache *cache);
/* Save what is still queued, then end the thread. */
void usage_writer_stop(struct usage_writer **writer);

#endif
