/* Versioned schema migrations: files NNNN_name.sql in a directory, applied
 * in order, each recorded with its SHA-256 in schema_migrations. Running it
 * again applies nothing; a changed applied file is refused. Concurrent runs
 * are serialised by a server-side lock. */
#ifndef ACCOUNTD_MIGRATE_H
#define ACCOUNTD_MIGRATE_H

#include "common.h"
#include "db.h"

/* Applies what is missing; *applied_r counts the files applied now.
 * On failure *error_r says which file and why (in error_buf). */
MUST_CHECK enum db_status migrate_run(struct db_conn *c, const char *dir, unsigned *applied_r,
    char *error_buf, size_t error_size, const char **error_r);

#endif
