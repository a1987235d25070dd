/* Request state, replies and body helpers; see http_request.h. */
#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <sodium.h>

#include "build_config.h"

#include "http_request.h"
#include "log.h"
#include "routes.h"
#include "token.h"

static bool
ip_is_trusted(const struct config *cfg, const char *ip)
{
	for (unsigned i = 0; i < cfg->n_trusted_proxies; i++)
		if (strcmp(cfg->trusted_proxies[i], ip) == 0)
			return true;
	return false;
}

/* Normalise a textual address; false if it is not one. */
static bool
normalise_ip(const char *text, size_t len, char *out)
{
	unsigned char addr[16];
	char buf[64];

	if (len == 0 || len >= sizeof(buf))
		return false;
	memcpy(buf, text, len);
	buf[len] = '\0';
	if (inet_pton(AF_INET, buf, addr) == 1)
		return inet_ntop(AF_INET, addr, out, CLIENT_IP_MAX) != NULL;
	if (inet_pton(AF_INET6, buf, addr) == 1) {
		if (IN6_IS_ADDR_V4MAPPED((struct in6_addr *)(void *)addr))
			return inet_ntop(AF_INET, addr + 12, out, CLIENT_IP_MAX) != NULL;
		return inet_ntop(AF_INET6, addr, out, CLIENT_IP_MAX) != NULL;
	}
	return false;
}

/* The peer's address; behind a trusted proxy, the right-most address of
 * X-Forwarded-For that is not itself a trusted proxy. A forged header from
 * anyone else is ignored. */
static void
resolve_client_ip(struct request *req)
{
	const union MHD_ConnectionInfo *info =
	    MHD_get_connection_info(req->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	const struct sockaddr *sa = info != NULL ? info->client_addr : NULL;
	const char *xff, *end;

	strcpy(req->ip, "unknown");
	if (sa == NULL || sa->sa_family == AF_UNIX) {
		strcpy(req->ip, "unix");
	} else if (sa->sa_family == AF_INET) {
		inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr,
		    req->ip, sizeof(req->ip));
	} else if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a6 =
		    &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
		if (IN6_IS_ADDR_V4MAPPED(a6))
			inet_ntop(AF_INET, &a6->s6_addr[12], req->ip, sizeof(req->ip));
		else
			inet_ntop(AF_INET6, a6, req->ip, sizeof(req->ip));
	}
	if (!ip_is_trusted(req->srv->cfg, req->ip))
		return;
	xff = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, "X-Forwarded-For");
	if (xff == NULL)
		return;
	end = xff + strlen(xff);
	while (end > xff) {
		const char *start = end;
		char candidate[CLIENT_IP_MAX];

		while (start > xff && start[-1] != ',')
			start--;
		const char *a = start, *b = end;
		while (a < b && isspace((unsigned char)*a))
			a++;
		while (b > a && isspace((unsigned char)b[-1]))
			b--;
		if (!normalise_ip(a, (size_t)(b - a), candidate))
			return; /* garbage: keep the proxy's own address */
		if (!ip_is_trusted(req->srv->cfg, candidate)) {
			strcpy(req->ip, candidate);
			return;
		}
		end = start > xff ? start - 1 : xff;
	}
}

struct request *
request_new(struct server *srv, struct MHD_Connection *conn, const char *method)
{
	struct request *req = calloc(1, sizeof(*req));
	unsigned long long n;
	unsigned char raw[8];

	if (req == NULL)
		return NULL;
	req->srv = srv;
	req->conn = conn;
	req->start = monotonic_seconds();
	n = atomic_fetch_add(&srv->next_request_id, 1);
	for (size_t i = 0; i < sizeof(raw); i++)
		raw[i] = (unsigned char)(n >> (8 * i)) ^ srv->request_id_salt[i];
	hex_encode(raw, sizeof(raw), req->id);
	/* Only a plain token goes into logs and metrics. */
	size_t len = strlen(method);
	bool token = len > 0 && len < sizeof(req->method);
	for (size_t i = 0; token && i < len; i++)
		token = isupper((unsigned char)method[i]);
	snprintf(req->method, sizeof(req->method), "%s", token ? method : "OTHER");
	req->route_index = routes_count();
	resolve_client_ip(req);
	return req;
}

/* Zero every password-bearing string before jansson frees it. */
static void
wipe_json_secrets(json_t *obj)
{
	static const char *const secret_keys[] = {
	    "password",
	    "current_password",
	    "new_password",
	    "invite",
	};

	if (!json_is_object(obj))
		return;
	for (size_t i = 0; i < N_ELEMENTS(secret_keys); i++) {
		json_t *v = json_object_get(obj, secret_keys[i]);
		if (json_is_string(v))
			sodium_memzero(
			    (char *)(uintptr_t)json_string_value(v), json_string_length(v));
	}
}

void
request_free(struct request **reqp)
{
	struct request *req = *reqp;

	if (req == NULL)
		return;
	wipe_json_secrets(req->json);
	json_decref(req->json);
	json_decref(req->reply.body);
	free(req->reply.text);
	if (req->body != NULL) {
		sodium_memzero(req->body, req->body_len);
		free(req->body);
	}
	free(req->job);
	sodium_memzero(req, sizeof(*req));
	free(req);
	*reqp = NULL;
}

static void
reply_reset(struct request *req)
{
	json_decref(req->reply.body);
	free(req->reply.text);
	memset(&req->reply, 0, sizeof(req->reply));
}

void
reply_json(struct request *req, unsigned status, json_t *body)
{
	reply_reset(req);
	req->reply.status = status;
	req->reply.body = body;
}

void
reply_empty(struct request *req, unsigned status)
{
	reply_reset(req);
	req->reply.status = status;
}

void
reply_text(struct request *req, unsigned status, char *text, size_t len)
{
	reply_reset(req);
	req->reply.status = status;
	req->reply.text = text;
	req->reply.text_len = len;
}

void
reply_code(struct request *req, unsigned status, const char *code, const char *message)
{
	reply_json(req, status, json_pack("{s:s, s:s}", "error", code, "message", message));
}

void
reply_svc(struct request *req, enum svc_status status, const char *message)
{
	const struct svc_error_info *e = svc_error(status);

	reply_code(req, e->http_status, e->code, message != NULL ? message : e->message);
	if (status == SVC_UNAVAILABLE)
		req->reply.retry_after = 2;
}

static enum MHD_Result
add_header(struct MHD_Response *resp, const char *name, const char *value)
{
	return MHD_add_response_header(resp, name, value);
}

enum MHD_Result
request_send(struct request *req)
{
	struct reply *r = &req->reply;
	struct MHD_Response *resp;
	char *text = NULL, number[24];
	size_t len = 0;
	const char *type = "application/json";
	enum MHD_Result ret;

	if (r->status == 0)
		reply_svc(req, SVC_INTERNAL, NULL);
	if (r->body != NULL) {
		text = json_dumps(r->body, JSON_COMPACT);
		if (text == NULL) {
			/* Out of memory: answer without a body rather than not at all. */
			r->status = 500;
		} else {
			len = strlen(text);
		}
	} else if (r->text != NULL) {
		text = r->text;
		len = r->text_len;
		r->text = NULL;
		type = "text/plain; version=0.0.4; charset=utf-8";
	}
	resp = MHD_create_response_from_buffer(len, text != NULL ? text : (char *)"",
	    text != NULL ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
	if (resp == NULL) {
		free(text);
		return MHD_NO;
	}
	if ((len > 0 && add_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type) != MHD_YES) ||
	    add_header(resp, "X-Request-Id", req->id) != MHD_YES ||
	    add_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store") != MHD_YES ||
	    add_header(resp, "X-Content-Type-Options", "nosniff") != MHD_YES ||
	    add_header(resp, "X-Accountd-Version", ACCOUNTD_VERSION) != MHD_YES) {
		MHD_destroy_response(resp);
		return MHD_NO;
	}
	if (r->allow != NULL && add_header(resp, MHD_HTTP_HEADER_ALLOW, r->allow) != MHD_YES) {
		MHD_destroy_response(resp);
		return MHD_NO;
	}
	if (r->retry_after > 0) {
		snprintf(number, sizeof(number), "%u", r->retry_after);
		if (add_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, number) != MHD_YES) {
			MHD_destroy_response(resp);
			return MHD_NO;
		}
	}
	if (atomic_load(&req->srv->draining) &&
	    add_header(resp, MHD_HTTP_HEADER_CONNECTION, "close") != MHD_YES) {
		MHD_destroy_response(resp);
		return MHD_NO;
	}
	ret = MHD_queue_response(req->conn, r->status, resp);
	MHD_destroy_response(resp);
	req->sent = true;

	double elapsed = monotonic_seconds() - req->start;
	metrics_request(req->srv->metrics, req->route_index, r->status, elapsed);
	log_info("request id=%s ip=%s method=%s route=%s status=%u ms=%.2f", req->id, req->ip,
	    req->method, routes_name(req->route_index), r->status, elapsed * 1000.0);
	return ret;
}

/* Has the client closed (or reset) its connection? A suspended connection
 * is not watched by libmicrohttpd, so ask the socket: end of input
 * (POLLRDHUP) or an error. A client that only half-closes after its request
 * counts as gone too; HTTP clients and Nginx do not do that. */
static bool
client_left(struct request *req)
{
	const union MHD_ConnectionInfo *info =
	    MHD_get_connection_info(req->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	struct pollfd p;

	if (info == NULL)
		return false;
	p.fd = info->connect_fd;
	p.events = POLLRDHUP;
	p.revents = 0;
	return poll(&p, 1, 0) == 1 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0;
}

/* The hash pool's job: the handler's, unless its client has left. */
static void
run_unless_client_left(void *arg)
{
	struct request *req = arg;

	if (!client_left(req)) {
		req->async_fn(req);
		return;
	}
	metrics_hash_dropped(req->srv->metrics);
	log_info("job_dropped ip=%s reason=client_left", req->ip);
	/* Nobody reads it; resuming lets libmicrohttpd close and free. */
	reply_code(req, 503, "unavailable", "the client left");
	request_resume(req);
}

void
request_go_async(struct request *req, hashpool_job_fn *fn)
{
	if (hashpool_reserve(req->srv->hashes) < 0) {
		metrics_limited(req->srv->metrics, LIMIT_HASH_BUSY);
		reply_code(req, 503, "busy", "the server is busy, try again in a moment");
		req->reply.retry_after = 1;
		return;
	}
	req->suspended = true;
	req->async_fn = fn;
	MHD_suspend_connection(req->conn);
	hashpool_submit(req->srv->hashes, run_unless_client_left, req);
}

void
request_resume(struct request *req)
{
	req->async_done = true;
	MHD_resume_connection(req->conn);
}

int
body_string(
    struct request *req, const char *key, bool required, const char **value_r, size_t *len_r)
{
	json_t *v = json_object_get(req->json, key);
	char message[128];

	*value_r = NULL;
	if (len_r != NULL)
		*len_r = 0;
	if (v == NULL || (json_is_null(v) && !required)) {
		if (!required)
			return 0;
		snprintf(message, sizeof(message), "field '%s' is required", key);
		reply_code(req, 400, "invalid_request", message);
		return -1;
	}
	if (!json_is_string(v)) {
		snprintf(message, sizeof(message), "field '%s' must be a string", key);
		reply_code(req, 400, "invalid_request", message);
		return -1;
	}
	/* Strings are NUL-free (jansson refuses \u0000 without
	 * JSON_ALLOW_NUL) and bounded by the body limit. */
	*value_r = json_string_value(v);
	if (len_r != NULL)
		*len_r = json_string_length(v);
	return 0;
}

int
body_only(struct request *req, const char *const *keys)
{
	const char *key;
	json_t *value;
	char message[160];

	json_object_foreach(req->json, key, value)
	{
		bool known = false;

		for (size_t i = 0; keys[i] != NULL && !known; i++)
			known = strcmp(keys[i], key) == 0;
		if (!known) {
			snprintf(message, sizeof(message), "unknown field '%.64s'", key);
			reply_code(req, 400, "invalid_request", message);
			return -1;
		}
	}
	return 0;
}

const char *
request_query(struct request *req, const char *key)
{
	return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, key);
}

const char *
request_header(struct request *req, const char *name)
{
	return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}
