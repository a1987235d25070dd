/* Route table and handlers; see routes.h. Handlers check the body's shape
 * (400), call the service layer, and map its status to a reply. Anything
 * that hashes a password runs on the hash pool. */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

#include "build_config.h"
#include "log.h"
#include "routes.h"
#include "validate.h"

enum auth {
	AUTH_NONE,
	AUTH_SESSION,
	AUTH_ADMIN,
};

enum body {
	BODY_NONE,
	BODY_JSON,
};

struct route {
	const char *method;
	const char *pattern; /* "{x}" matches one path segment */
	enum auth auth;
	enum body body;
	void (*handler)(struct request *req);
};

static void h_healthz(struct request *req);
static void h_readyz(struct request *req);
static void h_metrics(struct request *req);
static void h_register(struct request *req);
static void h_login(struct request *req);
static void h_logout(struct request *req);
static void h_me(struct request *req);
static void h_delete_me(struct request *req);
static void h_change_password(struct request *req);
static void h_domain_add(struct request *req);
static void h_domain_list(struct request *req);
static void h_domain_patch(struct request *req);
static void h_mailbox_list(struct request *req);
static void h_mailbox_create(struct request *req);
static void h_mailbox_patch(struct request *req);
static void h_mailbox_password(struct request *req);
static void h_mailbox_purge(struct request *req);
static void h_alias_add(struct request *req);
static void h_alias_list(struct request *req);
static void h_alias_delete(struct request *req);
static void h_invite_create(struct request *req);
static void h_invite_list(struct request *req);
static void h_invite_revoke(struct request *req);
static void h_registration_get(struct request *req);
static void h_registration_set(struct request *req);
static void h_mailbox_send_limits_get(struct request *req);
static void h_mailbox_send_limits_set(struct request *req);
static void h_mailbox_send_suspension_lift(struct request *req);
static void h_domain_send_limits_get(struct request *req);
static void h_domain_send_limits_set(struct request *req);

static const struct route routes[] = {
    {"GET", "/healthz", AUTH_NONE, BODY_NONE, h_healthz},
    {"GET", "/readyz", AUTH_NONE, BODY_NONE, h_readyz},
    {"GET", "/metrics", AUTH_NONE, BODY_NONE, h_metrics},
    {"POST", "/api/v1/accounts", AUTH_NONE, BODY_JSON, h_register},
    {"POST", "/api/v1/sessions", AUTH_NONE, BODY_JSON, h_login},
    {"DELETE", "/api/v1/sessions/current", AUTH_SESSION, BODY_NONE, h_logout},
    {"GET", "/api/v1/me", AUTH_SESSION, BODY_NONE, h_me},
    {"DELETE", "/api/v1/me", AUTH_SESSION, BODY_JSON, h_delete_me},
    {"PUT", "/api/v1/me/password", AUTH_SESSION, BODY_JSON, h_change_password},
    {"POST", "/api/v1/admin/domains", AUTH_ADMIN, BODY_JSON, h_domain_add},
    {"GET", "/api/v1/admin/domains", AUTH_ADMIN, BODY_NONE, h_domain_list},
    {"PATCH", "/api/v1/admin/domains/{name}", AUTH_ADMIN, BODY_JSON, h_domain_patch},
    {"GET", "/api/v1/admin/mailboxes", AUTH_ADMIN, BODY_NONE, h_mailbox_list},
    {"POST", "/api/v1/admin/mailboxes", AUTH_ADMIN, BODY_JSON, h_mailbox_create},
    {"PATCH", "/api/v1/admin/mailboxes/{email}", AUTH_ADMIN, BODY_JSON, h_mailbox_patch},
    {"PUT", "/api/v1/admin/mailboxes/{email}/password", AUTH_ADMIN, BODY_JSON, h_mailbox_password},
    {"DELETE", "/api/v1/admin/mailboxes/{email}", AUTH_ADMIN, BODY_NONE, h_mailbox_purge},
    {"POST", "/api/v1/admin/aliases", AUTH_ADMIN, BODY_JSON, h_alias_add},
    {"GET", "/api/v1/admin/aliases", AUTH_ADMIN, BODY_NONE, h_alias_list},
    {"DELETE", "/api/v1/admin/aliases/{source}", AUTH_ADMIN, BODY_NONE, h_alias_delete},
    {"POST", "/api/v1/admin/invites", AUTH_ADMIN, BODY_JSON, h_invite_create},
    {"GET", "/api/v1/admin/invites", AUTH_ADMIN, BODY_NONE, h_invite_list},
    {"DELETE", "/api/v1/admin/invites/{id}", AUTH_ADMIN, BODY_NONE, h_invite_revoke},
    {"GET", "/api/v1/admin/registration", AUTH_ADMIN, BODY_NONE, h_registration_get},
    {"PUT", "/api/v1/admin/registration", AUTH_ADMIN, BODY_JSON, h_registration_set},
    {"GET", "/api/v1/admin/mailboxes/{email}/send-limits", AUTH_ADMIN, BODY_NONE,
        h_mailbox_send_limits_get},
    {"PUT", "/api/v1/admin/mailboxes/{email}/send-limits", AUTH_ADMIN, BODY_JSON,
        h_mailbox_send_limits_set},
    {"DELETE", "/api/v1/admin/mailboxes/{email}/send-suspension", AUTH_ADMIN, BODY_NONE,
        h_mailbox_send_suspension_lift},
    {"GET", "/api/v1/admin/domains/{name}/send-limits", AUTH_ADMIN, BODY_NONE,
        h_domain_send_limits_get},
    {"PUT", "/api/v1/admin/domains/{name}/send-limits", AUTH_ADMIN, BODY_JSON,
        h_domain_send_limits_set},
};

static const char *route_names[N_ELEMENTS(routes)];
static const char *route_methods[N_ELEMENTS(routes)];

size_t
routes_count(void)
{
	return N_ELEMENTS(routes);
}

const char *
routes_name(size_t index)
{
	return index < N_ELEMENTS(routes) ? routes[index].pattern : "unmatched";
}

/* The tables metrics label with (filled once at start-up, then
 * read-only). */
const char *const *
routes_names(void)
{
	for (size_t i = 0; i < N_ELEMENTS(routes); i++)
		route_names[i] = routes[i].pattern;
	return route_names;
}

const char *const *
routes_methods(void)
{
	for (size_t i = 0; i < N_ELEMENTS(routes); i++)
		route_methods[i] = routes[i].method;
	return route_methods;
}

void
routes_print(FILE *fp)
{
	for (size_t i = 0; i < N_ELEMENTS(routes); i++)
		fprintf(fp, "%s %s\n", routes[i].method, routes[i].pattern);
}

/* Segment-wise match; captures "{x}" segments into params. */
static bool
match_pattern(const char *pattern, const char *path, struct request *req)
{
	unsigned n = 0;

	while (*pattern != '\0' && *path != '\0') {
		if (*pattern != '/' || *path != '/')
			return false;
		pattern++;
		path++;
		size_t plen = strcspn(pattern, "/"), slen = strcspn(path, "/");
		if (pattern[0] == '{') {
			if (slen == 0 || slen > EMAIL_MAX || n >= PARAMS_MAX)
				return false;
			if (req != NULL) {
				memcpy(req->params[n], path, slen);
				req->params[n][slen] = '\0';
			}
			n++;
		} else if (plen != slen || memcmp(pattern, path, plen) != 0) {
			return false;
		}
		pattern += plen;
		path += slen;
	}
	return *pattern == '\0' && *path == '\0';
}

void
routes_match(struct request *req, const char *url)
{
	size_t allow_len = 0;

	for (size_t i = 0; i < N_ELEMENTS(routes); i++) {
		if (!match_pattern(routes[i].pattern, url, NULL))
			continue;
		if (strcmp(routes[i].method, req->method) == 0) {
			if (match_pattern(routes[i].pattern, url, req)) {
				req->route = &routes[i];
				req->route_index = i;
				return;
			}
		}
		int n = snprintf(req->allow + allow_len, sizeof(req->allow) - allow_len, "%s%s",
		    allow_len > 0 ? ", " : "", routes[i].method);
		if (n > 0 && (size_t)n < sizeof(req->allow) - allow_len)
			allow_len += (size_t)n;
	}
}

/* Rate-limit key of the client: the address, or its /64 for IPv6 (one
 * subscriber usually holds a whole /64). */
static void
client_key(const struct request *req, char *key, size_t size)
{
	unsigned char a6[16];

	if (strchr(req->ip, ':') != NULL && inet_pton(AF_INET6, req->ip, a6) == 1) {
		char text[CLIENT_IP_MAX];
		memset(a6 + 8, 0, 8);
		inet_ntop(AF_INET6, a6, text, sizeof(text));
		snprintf(key, size, "%s/64", text);
	} else {
		snprintf(key, size, "%s", req->ip);
	}
}

static void
reply_limited(struct request *req, enum metrics_limit limit, unsigned wait)
{
	metrics_limited(req->srv->metrics, limit);
	log_info("rate_limited ip=%s limit=%s", req->ip, metrics_limit_name(limit));
	reply_code(req, 429, "rate_limited", "too many requests, try again later");
	req->reply.retry_after = wait;
}

static bool
is_json_type(const char *type)
{
	static const char json[] = "application/json";

	if (type == NULL || strncasecmp(type, json, sizeof(json) - 1) != 0)
		return false;
	type += sizeof(json) - 1;
	while (*type == ' ' || *type == '\t')
		type++;
	return *type == '\0' || *type == ';';
}

static bool
parse_body(struct request *req)
{
	json_error_t error;
	char message[200];

	if (req->body_len == 0) {
		reply_code(req, 400, "invalid_request", "a JSON object body is required");
		return false;
	}
	req->json = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &error);
	if (req->json == NULL) {
		snprintf(message, sizeof(message), "malformed JSON at position %d: %.120s",
		    error.position, error.text);
		reply_code(req, 400, "invalid_request", message);
		return false;
	}
	if (!json_is_object(req->json)) {
		reply_code(req, 400, "invalid_request", "the body must be a JSON object");
		return false;
	}
	return true;
}

static const char *
bearer_token(struct request *req, size_t *len_r)
{
	const char *auth = request_header(req, MHD_HTTP_HEADER_AUTHORIZATION);

	if (auth == NULL || strncasecmp(auth, "Bearer ", 7) != 0)
		return NULL;
	auth += 7;
	while (*auth == ' ')
		auth++;
	*len_r = strlen(auth);
	return auth;
}

static bool
authenticate_session(struct request *req)
{
	struct db_conn *c;
	size_t len = 0;
	const char *token = bearer_token(req, &len);
	enum svc_status st;

	if (token == NULL) {
		reply_svc(req, SVC_UNAUTHORIZED, NULL);
		return false;
	}
	c = db_acquire(req->srv->db);
	st = svc_session(&req->srv->svc, c, token, len, &req->me, req->token_hash);
	db_release(req->srv->db, &c);
	if (st != SVC_OK) {
		reply_svc(req, st, NULL);
		return false;
	}
	return true;
}

static bool
authenticate_admin(struct request *req)
{
	const struct config *cfg = req->srv->cfg;
	unsigned char presented[32];
	char key[CLIENT_IP_MAX + 4];
	size_t len = 0;
	const char *token;
	unsigned wait;

	if (!cfg->admin_enabled) {
		reply_code(req, 403, "admin_disabled", "the admin API is not configured");
		return false;
	}
	client_key(req, key, sizeof(key));
	if ((wait = ratelimit_peek(req->srv->limit_admin_fail, key, monotonic_seconds())) > 0) {
		reply_limited(req, LIMIT_ADMIN_FAIL, wait);
		return false;
	}
	token = bearer_token(req, &len);
	if (token != NULL)
		crypto_hash_sha256(presented, (const unsigned char *)token, len);
	if (token == NULL || sodium_memcmp(presented, cfg->admin_token_hash, 32) != 0) {
		(void)ratelimit_take(req->srv->limit_admin_fail, key, monotonic_seconds());
		log_info("admin_auth_failed ip=%s", req->ip);
		reply_svc(req, SVC_UNAUTHORIZED, NULL);
		return false;
	}
	return true;
}

void
routes_dispatch(struct request *req)
{
	const struct route *r = req->route;
	const char *type = request_header(req, MHD_HTTP_HEADER_CONTENT_TYPE);
	char key[CLIENT_IP_MAX + 4];
	unsigned wait;

	client_key(req, key, sizeof(key));
	if ((wait = ratelimit_take(req->srv->limit_requests, key, monotonic_seconds())) > 0) {
		reply_limited(req, LIMIT_REQUESTS, wait);
		return;
	}
	if (r == NULL) {
		if (req->allow[0] != '\0') {
			reply_code(
			    req, 405, "method_not_allowed", "this method is not allowed here");
			req->reply.allow = req->allow;
		} else {
			reply_code(req, 404, "not_found", "no such route");
		}
		return;
	}
	if (req->body_too_large) {
		reply_code(req, 413, "payload_too_large", "the body is over 16 KiB");
		return;
	}
	if ((r->body == BODY_JSON || req->body_len > 0) && !is_json_type(type)) {
		reply_code(req, 415, "unsupported_media_type", "the body must be application/json");
		return;
	}
	if (r->body == BODY_JSON && !parse_body(req))
		return;
	if (r->auth == AUTH_SESSION && !authenticate_session(req))
		return;
	if (r->auth == AUTH_ADMIN && !authenticate_admin(req))
		return;
	r->handler(req);
}

/* Body helpers beyond strings. */

static int
body_bool(struct request *req, const char *key, bool *present_r, bool *value_r)
{
	json_t *v = json_object_get(req->json, key);
	char message[128];

	*present_r = v != NULL;
	if (v == NULL)
		return 0;
	if (!json_is_boolean(v)) {
		snprintf(message, sizeof(message), "field '%s' must be true or false", key);
		reply_code(req, 400, "invalid_request", message);
		return -1;
	}
	*value_r = json_is_true(v);
	return 0;
}

static int
body_uint(struct request *req, const char *key, unsigned long long min, unsigned long long max,
    bool *present_r, unsigned long long *value_r)
{
	json_t *v = json_object_get(req->json, key);
	char message[160];

	*present_r = v != NULL;
	if (v == NULL)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < 0 ||
	    (unsigned long long)json_integer_value(v) < min ||
	    (unsigned long long)json_integer_value(v) > max) {
		snprintf(message, sizeof(message),
		    "field '%s' must be an integer from %llu to %llu", key, min, max);
		reply_code(req, 400, "invalid_request", message);
		return -1;
	}
	*value_r = (unsigned long long)json_integer_value(v);
	return 0;
}

#define ONLY(...)                                                                                  \
	do {                                                                                       \
		static const char *const keys_[] = {__VA_ARGS__, NULL};                            \
		if (body_only(req, keys_) < 0)                                                     \
			return;                                                                    \
	} while (0)

/* Run a service call on a pooled connection. */
#define WITH_DB(req, c)                                                                            \
	for (struct db_conn *c = db_acquire((req)->srv->db); c != NULL;                            \
	     db_release((req)->srv->db, &c))

static void
reply_svc_json(
    struct request *req, enum svc_status st, unsigned status, json_t *out, const char *message)
{
	if (st == SVC_OK)
		reply_json(req, status, out);
	else
		reply_svc(req, st, message);
}

/* Handlers */

static void
h_healthz(struct request *req)
{
	reply_json(req, 200, json_pack("{s:s, s:s}", "status", "ok", "version", ACCOUNTD_VERSION));
}

static void
h_readyz(struct request *req)
{
	enum db_status status = DB_FAILED;

	WITH_DB(req, c)
	status = db_ping(c);
	if (status == DB_OK)
		reply_json(req, 200, json_pack("{s:s}", "status", "ready"));
	else
		reply_svc(req, SVC_UNAVAILABLE, "the database does not answer");
}

static void
h_metrics(struct request *req)
{
	size_t len = 0;
	char *text = metrics_render(req->srv->metrics, &len);

	if (text == NULL)
		reply_svc(req, SVC_INTERNAL, NULL);
	else
		reply_text(req, 200, text, len);
}

struct register_job {
	struct register_plan plan;
	const char *password;
	size_t password_len;
	bool by_admin; /* POST /api/v1/admin/mailboxes, not the public sign-up */
};

static void
job_register(void *arg)
{
	struct request *req = arg;
	struct register_job *job = req->job;
	enum svc_status st = SVC_UNAVAILABLE;

	WITH_DB(req, c)
	st = svc_register_commit(&req->srv->svc, c, &job->plan, job->password, job->password_len);
	if (st == SVC_OK && job->by_admin) {
		log_info("mailbox_created ip=%s email=%s by=admin", req->ip, job->plan.email);
		reply_json(req, 201,
		    json_pack("{s:s, s:b, s:I, s:s}", "email", job->plan.email, "active", 1,
		        "quota_bytes", (json_int_t)job->plan.quota_bytes, "created_at",
		        job->plan.created_at));
	} else if (st == SVC_OK) {
		log_info("account_created ip=%s email=%s", req->ip, job->plan.email);
		reply_json(req, 201,
		    json_pack("{s:s, s:s}", "email", job->plan.email, "created_at",
		        job->plan.created_at));
	} else {
		if (!job->by_admin)
			log_info("register_refused ip=%s reason=%s", req->ip, svc_error(st)->code);
		reply_svc(req, st, NULL);
	}
	request_resume(req);
}

static void
h_register(struct request *req)
{
	const char *username, *password, *domain, *invite, *message = NULL;
	char key[CLIENT_IP_MAX + 4];
	struct register_job *job;
	size_t password_len;
	enum svc_status st = SVC_UNAVAILABLE;
	unsigned wait;

	ONLY("username", "password", "domain", "invite");
	if (body_string(req, "username", true, &username, NULL) < 0 ||
	    body_string(req, "password", true, &password, &password_len) < 0 ||
	    body_string(req, "domain", false, &domain, NULL) < 0 ||
	    body_string(req, "invite", false, &invite, NULL) < 0)
		return;
	client_key(req, key, sizeof(key));
	if ((wait = ratelimit_take(req->srv->limit_register, key, monotonic_seconds())) > 0) {
		log_info("register_refused ip=%s reason=rate_limited", req->ip);
		reply_limited(req, LIMIT_REGISTER, wait);
		return;
	}
	if ((job = calloc(1, sizeof(*job))) == NULL) {
		reply_svc(req, SVC_INTERNAL, NULL);
		return;
	}
	req->job = job;
	WITH_DB(req, c)
	st = svc_register_check(&req->srv->svc, c, username, domain, password, password_len, invite,
	    false, &job->plan, &message);
	if (st != SVC_OK) {
		log_info("register_refused ip=%s reason=%s", req->ip, svc_error(st)->code);
		reply_svc(req, st, message);
		return;
	}
	job->password = password;
	job->password_len = password_len;
	request_go_async(req, job_register);
}

struct login_job {
	const char *email;
	const char *password;
	size_t password_len;
	char ip_key[CLIENT_IP_MAX + 4];
	char address_key[EMAIL_MAX + 1];
};

static void
job_login(void *arg)
{
	struct request *req = arg;
	struct login_job *job = req->job;
	char token[TOKEN_TEXT_LEN + 1], expires[DB_TIME_MAX];
	enum svc_status st = SVC_UNAVAILABLE;

	WITH_DB(req, c)
	st = svc_login(
	    &req->srv->svc, c, job->email, job->password, job->password_len, token, expires);
	if (st == SVC_OK) {
		reply_json(
		    req, 201, json_pack("{s:s, s:s}", "token", token, "expires_at", expires));
		sodium_memzero(token, sizeof(token));
	} else {
		if (st == SVC_INVALID_CREDENTIALS) {
			double now = monotonic_seconds();
			(void)ratelimit_take(req->srv->limit_login_ip, job->ip_key, now);
			(void)ratelimit_take(req->srv->limit_login_address, job->address_key, now);
			log_info("auth_failed ip=%s reason=invalid_credentials", req->ip);
		}
		reply_svc(req, st, NULL);
	}
	request_resume(req);
}

static void
h_login(struct request *req)
{
	struct login_job *job;
	const char *email, *password;
	size_t password_len;
	unsigned wait, wait_address;
	double now = monotonic_seconds();

	ONLY("email", "password");
	if (body_string(req, "email", true, &email, NULL) < 0 ||
	    body_string(req, "password", true, &password, &password_len) < 0)
		return;
	if ((job = calloc(1, sizeof(*job))) == NULL) {
		reply_svc(req, SVC_INTERNAL, NULL);
		return;
	}
	req->job = job;
	client_key(req, job->ip_key, sizeof(job->ip_key));
	for (size_t i = 0; email[i] != '\0' && i < EMAIL_MAX; i++)
		job->address_key[i] = (char)tolower((unsigned char)email[i]);
	wait = ratelimit_peek(req->srv->limit_login_ip, job->ip_key, now);
	wait_address = ratelimit_peek(req->srv->limit_login_address, job->address_key, now);
	if (wait > 0 || wait_address > 0) {
		log_info("auth_failed ip=%s reason=rate_limited", req->ip);
		reply_limited(req, wait > 0 ? LIMIT_LOGIN_IP : LIMIT_LOGIN_ADDRESS,
		    wait > wait_address ? wait : wait_address);
		return;
	}
	job->email = email;
	job->password = password;
	job->password_len = password_len;
	request_go_async(req, job_login);
}

static void
h_logout(struct request *req)
{
	enum svc_status st = SVC_UNAVAILABLE;

	WITH_DB(req, c)
	st = svc_logout(&req->srv->svc, c, req->token_hash);
	if (st == SVC_OK)
		reply_empty(req, 204);
	else
		reply_svc(req, st, NULL);
}

static void
h_me(struct request *req)
{
	reply_json(req, 200,
	    json_pack("{s:s, s:I, s:s}", "email", req->me.email, "quota_bytes",
	        (json_int_t)req->me.quota_bytes, "created_at", req->me.created_at));
}

struct password_job {
	const char *current;
	size_t current_len;
	const char *new_password;
	size_t new_len;
	const char *message;
};

static void
finish_password_job(struct request *req, enum svc_status st, const char *message)
{
	if (st == SVC_OK) {
		reply_empty(req, 204);
	} else {
		if (st == SVC_INVALID_CREDENTIALS) {
			char key[CLIENT_IP_MAX + 4];
			client_key(req, key, sizeof(key));
			(void)ratelimit_take(req->srv->limit_login_ip, key, monotonic_seconds());
			log_info("auth_failed ip=%s reason=invalid_credentials", req->ip);
		}
		reply_svc(req, st, message);
	}
	request_resume(req);
}

static void
job_change_password(void *arg)
{
	struct request *req = arg;
	struct password_job *job = req->job;
	enum svc_status st = SVC_UNAVAILABLE;

	WITH_DB(req, c)
	st = svc_change_password(&req->srv->svc, c, req->me.id, req->token_hash, job->current,
	    job->current_len, job->new_password, job->new_len, &job->message);
	finish_password_job(req, st, job->message);
}

static void
job_delete_me(void *arg)
{
	struct request *req = arg;
	struct password_job *job = req->job;
	enum svc_status st = SVC_UNAVAILABLE;

	WITH_DB(req, c)
	st = svc_delete_account(&req->srv->svc, c, req->me.id, job->current, job->current_len);
	if (st == SVC_OK)
		log_info("account_deactivated ip=%s email=%s", req->ip, req->me.email);
	finish_password_job(req, st, NULL);
}

static struct password_job *
new_password_job(struct request *req)
{
	struct password_job *job = calloc(1, sizeof(*job));

	if (job == NULL)
		reply_svc(req, SVC_INTERNAL, NULL);
	req->job = job;
	return job;
}

static void
h_change_password(struct request *req)
{
	struct password_job *job;

	ONLY("current_password", "new_password");
	if ((job = new_password_job(req)) == NULL ||
	    body_string(req, "current_password", true, &job->current, &job->current_len) < 0 ||
	    body_string(req, "new_password", true, &job->new_password, &job->new_len) < 0)
		return;
	request_go_async(req, job_change_password);
}

static void
h_delete_me(struct request *req)
{
	struct password_job *job;

	ONLY("password");
	if ((job = new_password_job(req)) == NULL ||
	    body_string(req, "password", true, &job->current, &job->current_len) < 0)
		return;
	request_go_async(req, job_delete_me);
}

static void
h_domain_add(struct request *req)
{
	const char *name, *message = NULL;
	json_t *out = NULL;
	enum svc_status st = SVC_UNAVAILABLE;

	ONLY("name");
	if (body_string(req, "name", true, &name, NULL) < 0)
		return;
	WITH_DB(req, c)
	st = svc_domain_add(c, name, &out, &message);
	reply_svc_json(req, st, 201, out, message);
}

static void
h_domain_list(struct request *req)
{
	json_t *out = NULL;
	enum svc_status st = SVC_UNAVAILABLE;

	WITH_DB(req, c)
	st = svc_domain_list(c, &out);
	reply_svc_json(req, st, 200, out, NULL);
}

static void
h_domain_patch(struct request *req)
{
	json_t *out = NULL;
	bool present, active;
	enum svc_status st = SVC_UNAVAILABLE;

	ONLY("active");
	if (body_bool(req, "active", &present, &active) < 0)
		return;
	if (!present) {
		reply_code(req, 400, "invalid_request", "field 'active' is required");
		return;
	}
	WITH_DB(req, c)
	st = svc_domain_set_active(&req->srv->svc, c, req->params[0], active, &out);
	reply_svc_json(req, st, 200, out, NULL);
}

static void
h_mailbox_list(struct request *req)
{
	const char *domain = request_query(req, "domain"), *after = request_query(req, "after");
	const char *limit_text = request_query(req, "limit"), *why;
	char cursor[EMAIL_MAX + 1];
	unsigned long limit = 100;
	json_t *out = NULL;
	enum svc_status st = SVC_UNAVAILABLE;

	if (limit_text != NULL) {
		char *end;
		limit = strtoul(limit_text, &end, 10);
		if (!isdigit((unsigned char)limit_text[0]) || *end != '\0' || limit < 1 ||
		    limit > 1000) {
			reply_code(req, 400, "invalid_request", "limit must be from 1 to 1000");
			return;
		}
	}
	if (domain != NULL && strlen(domain) > DOMAIN_MAX) {
		reply_code(req, 400, "invalid_request", "domain is too long");
		return;
	}
	/* The cursor is the last address of the previous page. */
	if (after != NULL && *after != '\0' &&
	    (strlen(after) > EMAIL_MAX || validate_address(after, cursor, &why) != 0)) {
		reply_code(
		    req, 400, "invalid_request", "after must be an address (a 'next' value)");
		return;
	}
	WITH_DB(req, c)
	st = svc_mailbox_list(
	    c, domain, after != NULL && *after != '\0' ? cursor : NULL, (unsigned)limit, &out);
	reply_svc_json(req, st, 200, out, NULL);
}

/* An administrator's new mailbox: the sign-up's checks and hashing
 * (job_register), but neither the registration mode nor the public sign-up
 * limits apply, and the quota may be given. */
static void
h_mailbox_create(struct request *req)
{
	const char *email, *password, *domain, *message = NULL;
	char local[LOCAL_MAX + 1];
	struct register_job *job;
	size_t password_len;
	bool has_quota;
	unsigned long long quota = 0;
	enum svc_status st = SVC_UNAVAILABLE;

	ONLY("email", "password", "quota_bytes");
	if (body_string(req, "email", true, &email, NULL) < 0 ||
	    body_string(req, "password", true, &password, &password_len) < 0 ||
	    body_uint(req, "quota_bytes", 0, (unsigned long long)INT64_MAX, &has_quota, &quota) < 0)
		return;
	if ((domain = split_mailbox_address(email, local)) == NULL) {
		reply_svc(req, SVC_INVALID_USERNAME, "give the full address: user@domain");
		return;
	}
	if ((job = calloc(1, sizeof(*job))) == NULL) {
		reply_svc(req, SVC_INTERNAL, NULL);
		return;
	}
	req->job = job;
	WITH_DB(req, c)
	st = svc_register_check(&req->srv->svc, c, local, domain, password, password_len, NULL,
	    true, &job->plan, &message);
	if (st != SVC_OK) {
		reply_svc(req, st, message);
		return;
	}
	if (has_quota)
		job->plan.quota_bytes = quota;
	job->password = password;
	job->password_len = password_len;
	job->by_admin = true;
	request_go_async(req, job_register);
}

static void
h_mailbox_patch(struct request *req)
{
	json_t *out = NULL;
	bool has_active, active = false, has_quota;
	unsigned long long quota = 0;
	uint64_t quota64;
	enum svc_status st = SVC_UNAVAILABLE;

	ONLY("active", "quota_bytes");
	if (body_bool(req, "active", &has_active, &active) < 0 ||
	    body_uint(req, "quota_bytes", 0, (unsigned long long)INT64_MAX, &has_quota, &quota) < 0)
		return;
	if (!has_active && !has_quota) {
		reply_code(req, 400, "invalid_request", "give 'active' and/or 'quota_bytes'");
		return;
	}
	quota64 = quota;
	WITH_DB(req, c)
	st = svc_mailbox_update(&req->srv->svc, c, req->params[0], has_active ? &active : NULL,
	    has_quota ? &quota64 : NULL, &out);
	reply_svc_json(req, st, 200, out, NULL);
}

static void
job_mailbox_password(void *arg)
{
	struct request *req = arg;
	struct password_job *job = req->job;
	enum svc_status st = SVC_UNAVAILABLE;

	WITH_DB(req, c)
	st = svc_mailbox_set_password(
	    &req->srv->svc, c, req->params[0], job->new_password, job->new_len, &job->message);
	finish_password_job(req, st, job->message);
}

static void
h_mailbox_password(struct request *req)
{
	struct password_job *job;

	ONLY("password");
	if ((job = new_password_job(req)) == NULL ||
	    body_string(req, "password", true, &job->new_password, &job->new_len) < 0)
		return;
	request_go_async(req, job_mailbox_password);
}

static void
h_mailbox_purge(struct request *req)
{
	enum svc_status st = SVC_UNAVAILABLE;

	WITH_DB(req, c)
	st = svc_mailbox_purge(&req->srv->svc, c, req->params[0]);
	if (st == SVC_OK)
		reply_empty(req, 204);
	else
		reply_svc(req, st, NULL);
}

static void
h_alias_add(struct request *req)
{
	const char *source, *message = NULL, *dests[100];
	json_t *list = json_object_get(req->json, "destinations"), *v, *out = NULL;
	enum svc_status st = SVC_UNAVAILABLE;
	size_t i, n;

	ONLY("source", "destinations");
	if (body_string(req, "source", true, &source, NULL) < 0)
		return;
	if (!json_is_array(list) || (n = json_array_size(list)) == 0 || n > N_ELEMENTS(dests)) {
		reply_code(req, 400, "invalid_request",
		    "field 'destinations' must be an array of 1 to 100 addresses");
		return;
	}
	json_array_foreach(list, i, v)
	{
		if (!json_is_string(v)) {
			reply_code(
			    req, 400, "invalid_request", "field 'destinations' must hold strings");
			return;
		}
		dests[i] = json_string_value(v);
	}
	WITH_DB(req, c)
	st = svc_alias_add(c, source, dests, n, &out, &message);
	reply_svc_json(req, st, 201, out, message);
}

static void
h_alias_list(struct request *req)
{
	const char *domain = request_query(req, "domain");
	json_t *out = NULL;
	enum svc_status st = SVC_UNAVAILABLE;

	if (domain != NULL && strlen(domain) > DOMAIN_MAX) {
		reply_code(req, 400, "invalid_request", "domain is too long");
		return;
	}
	WITH_DB(req, c)
	st = svc_alias_list(c, domain, &out);
	reply_svc_json(req, st, 200, out, NULL);
}

static void
h_alias_delete(struct request *req)
{
	enum svc_status st = SVC_UNAVAILABLE;

	WITH_DB(req, c)
	st = svc_alias_delete(c, req->params[0]);
	if (st == SVC_OK)
		reply_empty(req, 204);
	else
		reply_svc(req, st, NULL);
}

static void
h_invite_create(struct request *req)
{
	unsigned long long count = 1, expires_in = 0;
	bool present;
	const char *note = NULL;
	json_t *out = NULL;
	enum svc_status st = SVC_UNAVAILABLE;

	ONLY("count", "expires_in", "note");
	if (body_uint(req, "count", 1, 100, &present, &count) < 0 ||
	    body_uint(req, "expires_in", 60, 365ULL * 86400, &present, &expires_in) < 0 ||
	    body_string(req, "note", false, &note, NULL) < 0)
		return;
	if (note != NULL && strlen(note) > 255) {
		reply_code(req, 400, "invalid_request", "field 'note' is over 255 characters");
		return;
	}
	if (count == 0)
		count = 1;
	WITH_DB(req, c)
	st = svc_invite_create(c, (unsigned)count, (unsigned long)expires_in, note, &out);
	reply_svc_json(req, st, 201, out, NULL);
}

static void
h_invite_list(struct request *req)
{
	json_t *out = NULL;
	enum svc_status st = SVC_UNAVAILABLE;

	WITH_DB(req, c)
	st = svc_invite_list(c, &out);
	reply_svc_json(req, st, 200, out, NULL);
}

static void
h_invite_revoke(struct request *req)
{
	const char *text = req->params[0];
	char *end;
	unsigned long id = strtoul(text, &end, 10);
	enum svc_status st = SVC_UNAVAILABLE;

	if (!isdigit((unsigned char)text[0]) || *end != '\0' || id == 0 || id > 0xffffffffUL) {
		reply_svc(req, SVC_NOT_FOUND, NULL);
		return;
	}
	WITH_DB(req, c)
	st = svc_invite_revoke(c, (unsigned)id);
	if (st == SVC_OK)
		reply_empty(req, 204);
	else
		reply_svc(req, st, st == SVC_NOT_FOUND ? "no such unused invite" : NULL);
}

static void
h_registration_get(struct request *req)
{
	enum registration_mode mode;
	enum svc_status st = SVC_UNAVAILABLE;

	WITH_DB(req, c)
	st = svc_registration_get(&req->srv->svc, c, &mode);
	if (st == SVC_OK)
		reply_json(req, 200, json_pack("{s:s}", "mode", registration_mode_name(mode)));
	else
		reply_svc(req, st, NULL);
}

static void
h_registration_set(struct request *req)
{
	enum registration_mode mode;
	const char *text;
	enum svc_status st = SVC_UNAVAILABLE;

	ONLY("mode");
	if (body_string(req, "mode", true, &text, NULL) < 0)
		return;
	if (registration_mode_parse(text, &mode) < 0) {
		reply_code(req, 400, "invalid_request", "mode must be open, invite or closed");
		return;
	}
	WITH_DB(req, c)
	st = svc_registration_set(c, mode);
	if (st == SVC_OK)
		reply_json(req, 200, json_pack("{s:s}", "mode", registration_mode_name(mode)));
	else
		reply_svc(req, st, NULL);
}

/* ---- sending limits ------------------------------------------------------- */

/* Largest limit accepted: beyond any real sending rate, and within INT UNSIGNED. */
#define SEND_LIMIT_MAX 100000000ULL

static void
send_limits_get(struct request *req, enum send_limits_scope scope)
{
	json_t *out = NULL;
	enum svc_status st = SVC_UNAVAILABLE;

	WITH_DB(req, c)
	st = svc_send_limits_get(c, scope, req->params[0], &out);
	reply_svc_json(req, st, 200, out, NULL);
}

/* PUT replaces every field: an absent or null field means policyd's
 * default, an integer (0 = no limit) overrides it. */
static void
send_limits_set(struct request *req, enum send_limits_scope scope)
{
	const char *const *fields = svc_send_limit_fields(scope);
	bool set[SEND_LIMIT_FIELDS] = {false};
	unsigned long long value[SEND_LIMIT_FIELDS] = {0};
	json_t *out = NULL;
	enum svc_status st = SVC_UNAVAILABLE;

	if (body_only(req, fields) < 0)
		return;
	for (size_t i = 0; fields[i] != NULL; i++) {
		if (json_is_null(json_object_get(req->json, fields[i])))
			continue;
		if (body_uint(req, fields[i], 0, SEND_LIMIT_MAX, &set[i], &value[i]) < 0)
			return;
	}
	WITH_DB(req, c)
	st = svc_send_limits_set(c, scope, req->params[0], set, value, &out);
	reply_svc_json(req, st, 200, out, NULL);
}

static void
h_mailbox_send_limits_get(struct request *req)
{
	send_limits_get(req, SEND_LIMITS_MAILBOX);
}

static void
h_mailbox_send_limits_set(struct request *req)
{
	send_limits_set(req, SEND_LIMITS_MAILBOX);
}

static void
h_domain_send_limits_get(struct request *req)
{
	send_limits_get(req, SEND_LIMITS_DOMAIN);
}

static void
h_domain_send_limits_set(struct request *req)
{
	send_limits_set(req, SEND_LIMITS_DOMAIN);
}

static void
h_mailbox_send_suspension_lift(struct request *req)
{
	json_t *out = NULL;
	enum svc_status st = SVC_UNAVAILABLE;

	WITH_DB(req, c)
	st = svc_send_suspension_lift(c, req->params[0], &out);
	reply_svc_json(req, st, 200, out, NULL);
}
