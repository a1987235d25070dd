/* libmicrohttpd glue, slow-client deadlines and the serving lifecycle; see
 * http_server.h. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>
#include <sodium.h>

#include "http_request.h"
#include "http_server.h"
#include "log.h"
#include "routes.h"

#define DRAIN_SECONDS        30
#define SESSION_PURGE_PERIOD 300
#define RATE_KEYS_MAX        65536

double
monotonic_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* libmicrohttpd's timeout only notices idle connections; a client that
 * trickles a byte every few seconds would hold its connection forever.
 * So each connection gets a deadline for receiving a whole request, and a
 * reaper thread shuts down the socket of any that misses it. */
struct tracked_conn {
	struct tracked_conn *prev, *next;
	int fd;
	bool armed;
	double deadline;
	bool served;       /* completed at least one request */
	double idle_since; /* when its last request completed */
};

struct conn_tracker {
	pthread_mutex_t lock;
	pthread_cond_t wake;
	struct tracked_conn head; /* circular list sentinel */
	double timeout;
	bool stopping;
	pthread_t thread;
};

static void *
reaper_main(void *arg)
{
	struct conn_tracker *t = arg;

	pthread_mutex_lock(&t->lock);
	while (!t->stopping) {
		struct timespec until;
		double now = monotonic_seconds();

		for (struct tracked_conn *c = t->head.next; c != &t->head; c = c->next) {
			if (c->armed && now > c->deadline) {
				c->armed = false;
				/* c->fd is our own duplicate of the socket, open
				 * until the entry goes: it can never be a number
				 * the kernel has given to another connection, and
				 * shutdown() acts on the socket itself. */
				(void)shutdown(c->fd, SHUT_RDWR);
			}
		}
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += 250 * 1000 * 1000;
		if (until.tv_nsec >= 1000000000) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&t->wake, &t->lock, &until);
	}
	pthread_mutex_unlock(&t->lock);
	return NULL;
}

static struct conn_tracker *
tracker_new(unsigned timeout)
{
	struct conn_tracker *t = calloc(1, sizeof(*t));

	if (t == NULL)
		return NULL;
	pthread_mutex_init(&t->lock, NULL);
	pthread_cond_init(&t->wake, NULL);
	t->head.next = t->head.prev = &t->head;
	t->timeout = timeout;
	if (pthread_create(&t->thread, NULL, reaper_main, t) != 0) {
		pthread_mutex_destroy(&t->lock);
		pthread_cond_destroy(&t->wake);
		free(t);
		return NULL;
	}
	return t;
}

static void
tracker_free(struct conn_tracker **tp)
{
	struct conn_tracker *t = *tp;

	if (t == NULL)
		return;
	pthread_mutex_lock(&t->lock);
	t->stopping = true;
	pthread_cond_signal(&t->wake);
	pthread_mutex_unlock(&t->lock);
	pthread_join(t->thread, NULL);
	/* libmicrohttpd has closed every connection by now. */
	pthread_mutex_destroy(&t->lock);
	pthread_cond_destroy(&t->wake);
	free(t);
	*tp = NULL;
}

/* Connections a draining server must still wait for: those that have not
 * completed a request yet (one accepted just before the listener closed has
 * its request on the way) and keep-alive ones active within the last
 * second (a client may be sending its next request). Keep-alive connections
 * idle for longer are closed by MHD_stop_daemon: a client sending at that
 * very moment is the race every HTTP server has, and not worth holding a
 * deploy for up to the idle timeout. */
#define DRAIN_IDLE_GRACE 1.0

static unsigned
tracker_count_busy(struct conn_tracker *t, double now)
{
	unsigned n = 0;

	pthread_mutex_lock(&t->lock);
	for (struct tracked_conn *c = t->head.next; c != &t->head; c = c->next)
		if (!c->served || now - c->idle_since < DRAIN_IDLE_GRACE)
			n++;
	pthread_mutex_unlock(&t->lock);
	return n;
}

/* A request on c completed: note it, and give the next one a fresh
 * deadline. */
static void
tracker_served(struct conn_tracker *t, struct tracked_conn *c)
{
	pthread_mutex_lock(&t->lock);
	c->served = true;
	c->idle_since = monotonic_seconds();
	c->armed = true;
	c->deadline = c->idle_since + t->timeout;
	pthread_mutex_unlock(&t->lock);
}

static void
tracker_arm(struct conn_tracker *t, struct tracked_conn *c, bool armed)
{
	pthread_mutex_lock(&t->lock);
	c->armed = armed;
	c->deadline = monotonic_seconds() + t->timeout;
	pthread_mutex_unlock(&t->lock);
}

static struct tracked_conn *
connection_entry(struct MHD_Connection *connection)
{
	const union MHD_ConnectionInfo *info =
	    MHD_get_connection_info(connection, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

	return info != NULL ? info->socket_context : NULL;
}

static void
notify_connection(void *cls, struct MHD_Connection *connection, void **socket_context,
    enum MHD_ConnectionNotificationCode code)
{
	struct server *srv = cls;
	struct conn_tracker *t = srv->tracker;
	struct tracked_conn *c = *socket_context;

	switch (code) {
	case MHD_CONNECTION_NOTIFY_STARTED: {
		const union MHD_ConnectionInfo *info =
		    MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CONNECTION_FD);
		if (info == NULL || (c = calloc(1, sizeof(*c))) == NULL)
			return;
		/* Without a descriptor of our own there is no deadline: the
		 * connection still has libmicrohttpd's idle timeout. */
		if ((c->fd = fcntl(info->connect_fd, F_DUPFD_CLOEXEC, 0)) < 0) {
			log_warn("cannot track a connection");
			free(c);
			return;
		}
		c->armed = true;
		c->deadline = monotonic_seconds() + t->timeout;
		pthread_mutex_lock(&t->lock);
		c->next = t->head.next;
		c->prev = &t->head;
		t->head.next->prev = c;
		t->head.next = c;
		pthread_mutex_unlock(&t->lock);
		*socket_context = c;
		break;
	}
	case MHD_CONNECTION_NOTIFY_CLOSED:
		if (c == NULL)
			return;
		pthread_mutex_lock(&t->lock);
		c->prev->next = c->next;
		c->next->prev = c->prev;
		pthread_mutex_unlock(&t->lock);
		close(c->fd);
		free(c);
		*socket_context = NULL;
		break;
	}
}

static void
request_completed(void *cls, struct MHD_Connection *connection, void **con_cls,
    enum MHD_RequestTerminationCode toe)
{
	struct server *srv = cls;
	struct request *req = *con_cls;
	struct tracked_conn *c = connection_entry(connection);

	if (req == NULL)
		return;
	request_free(&req);
	*con_cls = NULL;
	atomic_fetch_sub(&srv->in_flight, 1);
	if (c != NULL)
		tracker_served(srv->tracker, c);
}

static enum MHD_Result
answer(void *cls, struct MHD_Connection *connection, const char *url, const char *method,
    const char *version, const char *upload_data, size_t *upload_data_size, void **con_cls)
{
	struct server *srv = cls;
	struct request *req = *con_cls;

	if (req == NULL) {
		const char *length;

		if ((req = request_new(srv, connection, method)) == NULL)
			return MHD_NO;
		*con_cls = req;
		atomic_fetch_add(&srv->in_flight, 1);
		routes_match(req, url);
		/* Refuse an announced oversized body before reading it. */
		length = MHD_lookup_connection_value(
		    connection, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
		if (length != NULL && strtoull(length, NULL, 10) > BODY_MAX) {
			reply_code(req, 413, "payload_too_large", "the body is over 16 KiB");
			return request_send(req);
		}
		return MHD_YES;
	}
	if (*upload_data_size > 0) {
		size_t n = *upload_data_size;

		*upload_data_size = 0;
		if (req->sent || req->body_too_large)
			return MHD_YES; /* discard */
		if (req->body_len + n > BODY_MAX) {
			req->body_too_large = true;
			return MHD_YES;
		}
		if (req->body == NULL && (req->body = malloc(BODY_MAX + 1)) == NULL)
			return MHD_NO;
		memcpy(req->body + req->body_len, upload_data, n);
		req->body_len += n;
		return MHD_YES;
	}
	if (req->sent)
		return MHD_YES;
	if (req->async_done)
		return request_send(req);
	/* The whole request is in: no more deadline while we work on it. */
	struct tracked_conn *c = connection_entry(connection);
	if (c != NULL)
		tracker_arm(srv->tracker, c, false);
	routes_dispatch(req);
	if (req->suspended)
		return MHD_YES;
	return request_send(req);
}

/* libmicrohttpd decodes %XX in the path and the query; a decoded %00 would
 * cut the C string short, so that ".../mailboxes/a@b.test%00x" addressed
 * a@b.test. A component holding %00 is left undecoded, so it matches no
 * route and no valid address. */
static size_t
unescape_refusing_nul(void *cls, struct MHD_Connection *connection, char *s)
{
	for (const char *p = s; (p = strchr(p, '%')) != NULL; p++)
		if (p[1] == '0' && p[2] == '0')
			return strlen(s);
	return MHD_http_unescape(s);
}

static void mhd_log(void *cls, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

static void
mhd_log(void *cls, const char *fmt, va_list ap)
{
	char line[512];

	vsnprintf(line, sizeof(line), fmt, ap);
	line[strcspn(line, "\n")] = '\0';
	log_warnx("libmicrohttpd: %s", line);
}

static int
listen_socket(const struct config *cfg)
{
	int fd = -1, one = 1;

	if (cfg->listen_kind == LISTEN_UNIX) {
		struct sockaddr_un sun = {.sun_family = AF_UNIX};

		if (strlen(cfg->listen_path) >= sizeof(sun.sun_path))
			return -1;
		strcpy(sun.sun_path, cfg->listen_path);
		if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)) < 0)
			return -1;
		(void)unlink(cfg->listen_path); /* a stale socket from a crash */
		if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 ||
		    chmod(cfg->listen_path, 0660) < 0)
			goto fail;
	} else {
		struct sockaddr_in6 sin6 = {.sin6_family = AF_INET6};
		struct sockaddr_in sin = {.sin_family = AF_INET};
		bool v6 = strchr(cfg->listen_host, ':') != NULL;

		fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		if (fd < 0)
			return -1;
		if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0)
			goto fail;
		/* Two instances on one port let a deploy restart them one at a
		 * time without refusing a connection (see deploy/). */
		if (cfg->reuse_port &&
		    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0)
			goto fail;
		if (v6) {
			sin6.sin6_port = htons((uint16_t)cfg->listen_port);
			inet_pton(AF_INET6, cfg->listen_host, &sin6.sin6_addr);
			if (bind(fd, (struct sockaddr *)&sin6, sizeof(sin6)) < 0)
				goto fail;
		} else {
			sin.sin_port = htons((uint16_t)cfg->listen_port);
			inet_pton(AF_INET, cfg->listen_host, &sin.sin_addr);
			if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0)
				goto fail;
		}
	}
	if (listen(fd, 1024) < 0)
		goto fail;
	return fd;
fail:
	log_warn("cannot listen on %s",
	    cfg->listen_kind == LISTEN_UNIX ? cfg->listen_path : cfg->listen_host);
	close(fd);
	return -1;
}

static void
server_cleanup(struct server *srv)
{
	if (srv->daemon != NULL)
		MHD_stop_daemon(srv->daemon);
	srv->daemon = NULL;
	hashpool_free(&srv->hashes);
	tracker_free(&srv->tracker);
	db_pool_free(&srv->db);
	ratelimit_free(&srv->limit_requests);
	ratelimit_free(&srv->limit_register);
	ratelimit_free(&srv->limit_login_ip);
	ratelimit_free(&srv->limit_login_address);
	ratelimit_free(&srv->limit_admin_fail);
	service_deinit(&srv->svc);
	metrics_free(&srv->metrics);
}

/* Each connection takes two descriptors (libmicrohttpd's and the
 * tracker's duplicate): make sure the connection cap fits. */
static void
raise_fd_limit(const struct config *cfg)
{
	struct rlimit rl;
	rlim_t want = (rlim_t)cfg->max_connections * 2 + 256;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur >= want)
		return;
	rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > want ? want : rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur < want)
		log_warnx("only %lu file descriptors: fewer than ACCOUNTD_MAX_CONNECTIONS=%u "
		          "connections will be served",
		    (unsigned long)rl.rlim_cur, cfg->max_connections);
}

/* One of the rate limits; shared with the other accountd processes through
 * a file named after it when ACCOUNTD_RATE_LIMIT_DIR is set. */
static struct ratelimit *
limit_new(const struct config *cfg, struct rate rate, const char *name)
{
	char path[PATH_MAX] = "";

	if (cfg->rate_limit_dir[0] != '\0' && snprintf(path, sizeof(path), "%s/%s.table",
	                                          cfg->rate_limit_dir, name) >= (int)sizeof(path))
		return NULL;
	return ratelimit_new(rate, RATE_KEYS_MAX, path);
}

static int
server_init(struct server *srv, const struct config *cfg)
{
	memset(srv, 0, sizeof(*srv));
	srv->cfg = cfg;
	raise_fd_limit(cfg);
	randombytes_buf(srv->request_id_salt, sizeof(srv->request_id_salt));
	srv->metrics = metrics_new(routes_methods(), routes_names(), routes_count());
	/* One connection per thread that may hold one at a time: the HTTP
	 * threads, the hash workers and the main thread's housekeeping. */
	srv->db = db_pool_new(cfg, cfg->http_threads + cfg->hash_workers + 1, srv->metrics);
	srv->hashes = hashpool_new(cfg->hash_workers, cfg->hash_queue, srv->metrics);
	srv->tracker = tracker_new(cfg->connection_timeout);
	srv->limit_requests = limit_new(cfg, cfg->rate_requests, "requests");
	srv->limit_register = limit_new(cfg, cfg->rate_register, "register");
	srv->limit_login_ip = limit_new(cfg, cfg->rate_login_ip, "login-ip");
	srv->limit_login_address = limit_new(cfg, cfg->rate_login_address, "login-address");
	srv->limit_admin_fail = limit_new(cfg, cfg->rate_admin_fail, "admin-fail");
	if (srv->metrics == NULL || srv->db == NULL || srv->hashes == NULL ||
	    srv->tracker == NULL || srv->limit_requests == NULL || srv->limit_register == NULL ||
	    srv->limit_login_ip == NULL || srv->limit_login_address == NULL ||
	    srv->limit_admin_fail == NULL) {
		log_warnx("cannot set up at start-up: out of memory, or the rate-limit tables in "
		          "ACCOUNTD_RATE_LIMIT_DIR cannot be made (see above)");
		return -1;
	}
	if (service_init(&srv->svc, cfg, srv->metrics, true) != 0) {
		log_warnx(
		    "cannot set up: ACCOUNTD_REVOCATION_PATH (see above), or hashing with the "
		    "configured argon2 cost (out of memory?)");
		return -1;
	}
	return 0;
}

static void
wait_for_drain(struct server *srv)
{
	double until = monotonic_seconds() + DRAIN_SECONDS;

	/* Wait for the busy connections too, not only the requests (see
	 * tracker_count_busy): while draining, every answer carries
	 * "Connection: close", so active keep-alive clients leave by
	 * themselves. */
	while ((atomic_load(&srv->in_flight) > 0 ||
	           tracker_count_busy(srv->tracker, monotonic_seconds()) > 0) &&
	       monotonic_seconds() < until) {
		struct timespec ts = {0, 20 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	if (atomic_load(&srv->in_flight) > 0)
		log_warnx("shutdown: %ld requests still in flight after %d s",
		    atomic_load(&srv->in_flight), DRAIN_SECONDS);
}

static void
purge_expired_sessions(struct server *srv)
{
	struct db_conn *c = db_acquire(srv->db);

	if (db_session_purge_expired(c) != DB_OK)
		log_warnx("session purge failed; will retry");
	db_release(srv->db, &c);
}

int
http_server_run(const struct config *cfg)
{
	struct server srv;
	sigset_t signals;
	int fd, sig = 0;

	/* Every thread started from here on inherits the blocked set, so the
	 * signals reach only sigtimedwait() below. */
	sigemptyset(&signals);
	sigaddset(&signals, SIGTERM);
	sigaddset(&signals, SIGINT);
	pthread_sigmask(SIG_BLOCK, &signals, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (server_init(&srv, cfg) < 0 || (fd = listen_socket(cfg)) < 0) {
		server_cleanup(&srv);
		return 1;
	}
	srv.daemon =
	    MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL |
	                         MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ITC | MHD_USE_ERROR_LOG,
	        0, NULL, NULL, answer, &srv, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, &srv,
	        MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_UNESCAPE_CALLBACK, unescape_refusing_nul,
	        &srv, MHD_OPTION_THREAD_POOL_SIZE, cfg->http_threads, MHD_OPTION_CONNECTION_LIMIT,
	        cfg->max_connections, MHD_OPTION_CONNECTION_TIMEOUT, cfg->connection_timeout,
	        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(32 * 1024),
	        MHD_OPTION_NOTIFY_COMPLETED, request_completed, &srv, MHD_OPTION_NOTIFY_CONNECTION,
	        notify_connection, &srv, MHD_OPTION_END);
	if (srv.daemon == NULL) {
		log_warnx("cannot start the HTTP daemon");
		close(fd);
		server_cleanup(&srv);
		return 1;
	}
	if (cfg->listen_kind == LISTEN_UNIX)
		log_info("listening on unix:%s", cfg->listen_path);
	else
		log_info("listening on %s:%u", cfg->listen_host, cfg->listen_port);

	for (;;) {
		struct timespec period = {SESSION_PURGE_PERIOD, 0};

		sig = sigtimedwait(&signals, NULL, &period);
		if (sig == SIGTERM || sig == SIGINT)
			break;
		if (sig < 0 && errno == EAGAIN)
			purge_expired_sessions(&srv);
	}
	log_info("shutdown signal=%d: draining", sig);
	atomic_store(&srv.draining, true);
	fd = MHD_quiesce_daemon(srv.daemon);
	if (fd >= 0)
		close(fd);
	if (cfg->listen_kind == LISTEN_UNIX)
		(void)unlink(cfg->listen_path);
	wait_for_drain(&srv);
	server_cleanup(&srv);
	log_info("shutdown complete");
	return 0;
}
