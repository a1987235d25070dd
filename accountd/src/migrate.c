/* Migration runner; see migrate.h. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "log.h"
#include "migrate.h"
#include "token.h"

#define MIGRATIONS_MAX     512
#define MIGRATION_SIZE_MAX (1024 * 1024)

static int
compare_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* NNNN_name.sql -> version NNNN */
static int
migration_version(const char *name, unsigned *version_r)
{
	size_t len = strlen(name);
	char *end;
	unsigned long v;

	if (len < 6 || strcmp(name + len - 4, ".sql") != 0 || !isdigit((unsigned char)name[0]))
		return -1;
	v = strtoul(name, &end, 10);
	if (*end != '_' || v == 0 || v > 999999)
		return -1;
	*version_r = (unsigned)v;
	return 0;
}

static char *
read_file(const char *path, size_t *len_r)
{
	FILE *fp = fopen(path, "re");
	char *buf;
	size_t len;

	if (fp == NULL)
		return NULL;
	if ((buf = malloc(MIGRATION_SIZE_MAX + 1)) == NULL) {
		fclose(fp);
		return NULL;
	}
	len = fread(buf, 1, MIGRATION_SIZE_MAX + 1, fp);
	fclose(fp);
	if (len > MIGRATION_SIZE_MAX) {
		free(buf);
		return NULL;
	}
	buf[len] = '\0';
	*len_r = len;
	return buf;
}

/* Statements end with ';' at the end of a line; "--" lines are comments.
 * Our migration files follow that rule (no procedures, no ';' inside
 * strings at a line end). */
static enum db_status
apply_file(struct db_conn *c, char *text, const char **error_r)
{
	char *stmt = NULL, *line, *next;
	size_t stmt_len = 0;
	enum db_status status;

	for (line = text; line != NULL; line = next) {
		size_t len;

		if ((next = strchr(line, '\n')) != NULL)
			*next++ = '\0';
		char *p = line;
		while (isspace((unsigned char)*p))
			p++;
		if (*p == '\0' || strncmp(p, "--", 2) == 0)
			continue;
		if (stmt == NULL)
			stmt = line;
		else
			stmt[stmt_len] = ' '; /* join with the previous line in place */
		len = strlen(line);
		stmt_len = (size_t)(line - stmt) + len;
		while (len > 0 && isspace((unsigned char)line[len - 1]))
			len--;
		if (len > 0 && line[len - 1] == ';') {
			if ((status = db_exec_script_statement(c, stmt, stmt_len)) != DB_OK) {
				*error_r = "a statement failed (see the log)";
				return status;
			}
			stmt = NULL;
			stmt_len = 0;
		}
	}
	if (stmt != NULL) {
		*error_r = "the last statement has no ';'";
		return DB_FAILED;
	}
	return DB_OK;
}

enum db_status
migrate_run(struct db_conn *c, const char *dir, unsigned *applied_r, char *error_buf,
    size_t error_size, const char **error_r)
{
	char *names[MIGRATIONS_MAX];
	size_t n = 0;
	DIR *d;
	struct dirent *de;
	enum db_status status = DB_OK;

	*applied_r = 0;
	if ((d = opendir(dir)) == NULL) {
		snprintf(error_buf, error_size, "cannot open migrations directory %s: %s", dir,
		    strerror(errno));
		*error_r = error_buf;
		return DB_FAILED;
	}
	while ((de = readdir(d)) != NULL && n < MIGRATIONS_MAX) {
		unsigned version;

		if (migration_version(de->d_name, &version) == 0 &&
		    (names[n] = strdup(de->d_name)) != NULL)
			n++;
	}
	closedir(d);
	if (n == 0) {
		snprintf(error_buf, error_size, "no NNNN_name.sql files in %s", dir);
		*error_r = error_buf;
		return DB_FAILED;
	}
	qsort(names, n, sizeof(names[0]), compare_names);

	if ((status = db_migration_lock(c)) != DB_OK) {
		*error_r = "cannot take the migration lock (database unavailable or another "
		           "migration running)";
		goto out;
	}
	for (size_t i = 0; i < n && status == DB_OK; i++) {
		unsigned char digest[32];
		char checksum[65], recorded[65], path[1024];
		unsigned version;
		size_t len;
		char *text;
		const char *why = NULL;

		if (migration_version(names[i], &version) < 0 ||
		    (size_t)snprintf(path, sizeof(path), "%s/%s", dir, names[i]) >= sizeof(path) ||
		    (text = read_file(path, &len)) == NULL) {
			snprintf(
			    error_buf, error_size, "%s: cannot read (or over 1 MiB)", names[i]);
			*error_r = error_buf;
			status = DB_FAILED;
			break;
		}
		crypto_hash_sha256(digest, (unsigned char *)text, len);
		hex_encode(digest, sizeof(digest), checksum);
		status = db_migration_get(c, version, recorded);
		if (status == DB_OK) {
			if (strcmp(recorded, checksum) != 0) {
				snprintf(error_buf, error_size,
				    "%s: changed after it was applied (checksum %s, recorded %s); "
				    "add a new migration instead",
				    names[i], checksum, recorded);
				*error_r = error_buf;
				status = DB_FAILED;
			}
		} else if (status == DB_NOT_FOUND) {
			status = apply_file(c, text, &why);
			if (status == DB_OK)
				status = db_migration_record(c, version, names[i], checksum);
			if (status == DB_OK) {
				(*applied_r)++;
				log_info("migration_applied name=%s", names[i]);
			} else {
				snprintf(error_buf, error_size, "%s: %s", names[i],
				    why != NULL ? why : db_status_name(status));
				*error_r = error_buf;
			}
		} else {
			*error_r = "cannot read schema_migrations";
		}
		free(text);
	}
	db_migration_unlock(c);
out:
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	return status;
}
