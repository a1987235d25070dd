/* One HTTP request: its parsed pieces, its body, and the reply it will
 * send. The request owns everything it points to and frees it in
 * request_free() when libmicrohttpd reports the request completed. */
#ifndef ACCOUNTD_HTTP_REQUEST_H
#define ACCOUNTD_HTTP_REQUEST_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>
#include <microhttpd.h>

#include "common.h"
#include "db.h"
#include "hashpool.h"
#include "http_server.h"
#include "service.h"

#define BODY_MAX   (16 * 1024)
#define PARAMS_MAX 2

struct route;

struct reply {
	unsigned status;
	json_t *body; /* JSON reply, owned */
	char *text;   /* or a text reply (metrics), owned */
	size_t text_len;
	const char *allow; /* Allow header for 405 */
	unsigned retry_after;
};

struct request {
	struct server *srv;
	struct MHD_Connection *conn;
	const struct route *route;
	size_t route_index; /* for metrics; n_routes when unmatched */
	char params[PARAMS_MAX][EMAIL_MAX + 1];
	char id[17];
	char method[12];
	char ip[CLIENT_IP_MAX];
	char allow[64]; /* methods of a path matched with another method */
	double start;

	char *body;
	size_t body_len;
	bool body_too_large;
	json_t *json; /* the parsed body, when the route takes one */

	/* Set by session authentication. */
	struct db_mailbox me;
	unsigned char token_hash[32];

	struct reply reply;
	bool sent;
	bool suspended;
	bool async_done;
	void *job;                 /* handler data for the hash pool, freed with the request */
	hashpool_job_fn *async_fn; /* what the hash pool runs, unless the client left */
};

struct request *request_new(struct server *srv, struct MHD_Connection *conn, const char *method);
void request_free(struct request **req);

/* Replies; each replaces any earlier one. JSON bodies are stolen. */
void reply_json(struct request *req, unsigned status, json_t *body);
void reply_empty(struct request *req, unsigned status);
void reply_code(struct request *req, unsigned status, const char *code, const char *message);
void reply_svc(struct request *req, enum svc_status status, const char *message);
void reply_text(struct request *req, unsigned status, char *text, size_t len);

MUST_CHECK enum MHD_Result request_send(struct request *req);

/* Run fn(req) on the hash pool, with the connection suspended until it
 * calls request_resume(). When the pool is full, replies 503 busy. A job
 * whose client has closed the connection by the time a worker takes it is
 * dropped without running (no argon2 time spent on an answer nobody reads):
 * logged `job_dropped`, counted in accountd_hash_jobs_dropped_total. */
void request_go_async(struct request *req, hashpool_job_fn *fn);
void request_resume(struct request *req);

/* A body field: string (required or optional) or absent. Returns -1 after
 * replying 400 when the field is missing or of the wrong type. */
MUST_CHECK int body_string(
    struct request *req, const char *key, bool required, const char **value_r, size_t *len_r);
/* 400 unless every key of the body is in the NULL-terminated list. */
MUST_CHECK int body_only(struct request *req, const char *const *keys);

const char *request_query(struct request *req, const char *key);
const char *request_header(struct request *req, const char *name);

#endif
