/* Unit test for db.c's connection pool under contention (the check is
 * pool_contention.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "config.h"
#include "db.h"
#include "pool_contention.h"

static struct db_pool *
make_pool(void)
{
	static struct config cfg; /* no query: the settings are never used */

	return db_pool_new(&cfg, 2, NULL);
}

int
main(void)
{
	return run_pool_contention_test(make_pool);
}
