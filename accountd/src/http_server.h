/* The HTTP daemon: libmicrohttpd with a pool of epoll threads, requests
 * that hash a password suspended while the hash pool works, a deadline for
 * slow clients, and a draining shutdown on SIGTERM. */
#ifndef ACCOUNTD_HTTP_SERVER_H
#define ACCOUNTD_HTTP_SERVER_H

#include <stdatomic.h>
#include <stdbool.h>

#include "common.h"
#include "config.h"
#include "db.h"
#include "hashpool.h"
#include "metrics.h"
#include "ratelimit.h"
#include "service.h"

struct conn_tracker;

/* Everything a request handler may use; immutable while serving except
 * the thread-safe members it points to. */
struct server {
	const struct config *cfg;
	struct service svc;
	struct metrics *metrics;
	struct db_pool *db;
	struct hashpool *hashes;
	struct ratelimit *limit_requests;
	struct ratelimit *limit_register;
	struct ratelimit *limit_login_ip;
	struct ratelimit *limit_login_address;
	struct ratelimit *limit_admin_fail;
	struct conn_tracker *tracker;
	struct MHD_Daemon *daemon;
	atomic_long in_flight;
	atomic_bool draining;
	atomic_ullong next_request_id;
	unsigned char request_id_salt[8];
};

/* Serve until SIGTERM or SIGINT, then drain; returns the exit status. */
MUST_CHECK int http_server_run(const struct config *cfg);

double monotonic_seconds(void);

#endif
