/* Unit test for db.c's connection pool under contention (the check is
 * accountd/tests/unit/pool_contention.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "config.h"
#include "db.h"
#include "../../../accountd/tests/unit/pool_contention.h"

static struct db_pool *
make_pool(void)
{
	static struct config cfg; /* no query: only the pool size and wait are used */

	cfg.db_connections = 2;
	/* A leaked connection shows as acquires that time out (30 s: far
	 * longer than any fair wait for one of two connections). */
	cfg.db_timeout = 30;
	return db_pool_new(&cfg);
}

int
main(void)
{
	return run_pool_contention_test(make_pool);
}
