/* Sockets, connection threads and the request loop; see server.h. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "db.h"
#include "log.h"
#include "metrics.h"
#include "policy.h"
#include "policy_request.h"
#include "server.h"
#include "usage_cache.h"
#include "usage_writer.h"

#define POLL_SLICE_MS    1000 /* how often a waiting thread looks at `stopping` */
#define STOP_GRACE_S     5
#define THREAD_STACK     (256 * 1024)
#define METRICS_TEXT_MAX 4096
/* Subjects (addresses and domains) whose counters are held in memory. */
#define CACHE_SUBJECTS_MAX 200000

struct server {
	const struct config *cfg;
	struct policy_context policy;
	atomic_uint open;
	atomic_bool stopping;
};

struct connection {
	struct server *srv;
	int fd;
	char buf[POLICY_REQUEST_MAX + 1];
	size_t len;
	struct policy_session session;
};

static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Bind a unix socket at path (replacing a stale socket) with mode. */
static int
listen_unix(const char *path, mode_t mode)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	struct stat st;
	int fd;

	if (strlen(path) >= sizeof(addr.sun_path)) {
		log_warnx("socket path too long: %s", path);
		return -1;
	}
	memcpy(addr.sun_path, path, strlen(path) + 1);
	if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode) && unlink(path) != 0) {
		log_warn("cannot remove the old socket %s", path);
		return -1;
	}
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0) {
		log_warn("socket");
		return -1;
	}
	if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0 || chmod(path, mode) != 0 ||
	    listen(fd, 256) != 0) {
		log_warn("cannot listen on %s", path);
		close(fd);
		return -1;
	}
	return fd;
}

/* Write all of text within the request timeout. */
static int
send_all(struct connection *cn, const char *text, size_t len)
{
	long long deadline = now_ms() + (long long)cn->srv->cfg->request_timeout * 1000;

	while (len > 0) {
		struct pollfd pfd = {.fd = cn->fd, .events = POLLOUT};
		/* Try first: an answer almost always fits the socket buffer. */
		ssize_t n = send(cn->fd, text, len, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n >= 0) {
			text += n;
			len -= (size_t)n;
			continue;
		}
		if ((errno != EAGAIN && errno != EINTR) || now_ms() >= deadline ||
		    poll(&pfd, 1, POLL_SLICE_MS) < 0)
			return -1;
	}
	return 0;
}

static int
send_action(struct connection *cn, const char *action)
{
	char reply[POLICY_ACTION_MAX + 16];
	int n = snprintf(reply, sizeof(reply), "action=%s\n\n", action);

	return send_all(cn, reply, (size_t)n < sizeof(reply) ? (size_t)n : sizeof(reply) - 1);
}

enum read_result {
	READ_REQUEST, /* a whole request is in the buffer */
	READ_CLOSED,  /* the peer closed or we are stopping */
	READ_TIMEOUT,
	READ_OVERSIZED,
};

/* Wait until the buffer holds a whole request; *request_len_r is its size. */
static enum read_result
read_request(struct connection *cn, size_t *request_len_r)
{
	const struct config *cfg = cn->srv->cfg;
	long long deadline = 0;

	while ((*request_len_r = policy_request_length(cn->buf, cn->len)) == 0) {
		struct pollfd pfd = {.fd = cn->fd, .events = POLLIN};
		long long now = now_ms();
		ssize_t n;

		if (cn->len >= POLICY_REQUEST_MAX)
			return READ_OVERSIZED;
		if (cn->len == 0 && atomic_load(&cn->srv->stopping))
			return READ_CLOSED;
		if (deadline == 0)
			deadline = now + (long long)(cn->len == 0 ? cfg->idle_timeout
			                                          : cfg->request_timeout) *
			                     1000;
		if (now >= deadline)
			return READ_TIMEOUT;
		/* Read before polling: Postfix's next request is often there
		 * already, and poll is then a wasted system call. */
		n = recv(cn->fd, cn->buf + cn->len, POLICY_REQUEST_MAX - cn->len, MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
			(void)poll(&pfd, 1, POLL_SLICE_MS);
			continue;
		}
		if (n <= 0) {
			if (cn->len > 0)
				log_info(
				    "truncated_request bytes=%zu (connection closed mid-request)",
				    cn->len);
			return READ_CLOSED;
		}
		/* The first bytes of a request start its own, shorter clock. */
		if (cn->len == 0)
			deadline = now_ms() + (long long)cfg->request_timeout * 1000;
		cn->len += (size_t)n;
	}
	return READ_REQUEST;
}

static void
serve_connection(struct connection *cn)
{
	struct policy_request req;
	char action[POLICY_ACTION_MAX];
	const char *error = NULL;
	size_t request_len;

	for (;;) {
		switch (read_request(cn, &request_len)) {
		case READ_REQUEST:
			break;
		case READ_CLOSED:
			return;
		case READ_TIMEOUT:
			if (cn->len > 0) {
				log_info("request_timeout bytes=%zu", cn->len);
				metrics_add(M_MALFORMED);
				(void)send_action(cn,
				    "DEFER_IF_PERMIT 4.7.1 Policy request incomplete "
				    "(timed out)");
			}
			return;
		case READ_OVERSIZED:
			log_info("oversized_request bytes=%zu", cn->len);
			metrics_add(M_MALFORMED);
			(void)send_action(cn, "DEFER_IF_PERMIT 4.7.1 Policy request too large");
			return;
		}
		if (policy_request_parse(cn->buf, request_len, &req, &error) != 0) {
			log_info("malformed_request reason=\"%s\" bytes=%zu", error, request_len);
			metrics_add(M_MALFORMED);
			snprintf(action, sizeof(action),
			    "DEFER_IF_PERMIT 4.7.1 Malformed policy request: %s", error);
		} else {
			policy_decide(&cn->srv->policy, &cn->session, &req, action, sizeof(action));
		}
		if (send_action(cn, action) != 0)
			return;
		memmove(cn->buf, cn->buf + request_len, cn->len - request_len);
		cn->len -= request_len;
	}
}

static void *
connection_main(void *arg)
{
	struct connection *cn = arg;
	struct server *srv = cn->srv;

	serve_connection(cn);
	close(cn->fd);
	free(cn);
	atomic_fetch_sub(&srv->open, 1);
	return NULL;
}

static void
accept_policy(struct server *srv, int listen_fd, const pthread_attr_t *attr)
{
	struct connection *cn;
	pthread_t thread;
	int fd;

	if ((fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC)) < 0) {
		if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
			log_warn("accept");
		return;
	}
	if (atomic_load(&srv->open) >= srv->cfg->max_connections) {
		metrics_add(M_CONNECTIONS_REFUSED);
		log_warnx("connection_refused open=%u (POLICYD_MAX_CONNECTIONS)",
		    atomic_load(&srv->open));
		close(fd);
		return;
	}
	if ((cn = calloc(1, sizeof(*cn))) == NULL) {
		log_warnx("out of memory for a connection");
		close(fd);
		return;
	}
	cn->srv = srv;
	cn->fd = fd;
	atomic_fetch_add(&srv->open, 1);
	metrics_add(M_CONNECTIONS);
	if ((errno = pthread_create(&thread, attr, connection_main, cn)) != 0) {
		log_warn("pthread_create");
		atomic_fetch_sub(&srv->open, 1);
		close(fd);
		free(cn);
	}
}

static void
answer_metrics(struct server *srv, int listen_fd)
{
	char text[METRICS_TEXT_MAX];
	size_t len;
	int fd;

	if ((fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK)) < 0)
		return;
	len = metrics_render(text, sizeof(text), atomic_load(&srv->open));
	/* A reader too slow for 4 KiB in one send gets less: never block. */
	if (send(fd, text, len, MSG_NOSIGNAL) < 0)
		log_warn("metrics send");
	close(fd);
}

static int
block_signals(void)
{
	sigset_t set;
	int fd;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	/* Threads inherit the mask: the signals reach only the signalfd. */
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	if ((fd = signalfd(-1, &set, SFD_CLOEXEC)) < 0)
		log_warn("signalfd");
	return fd;
}

static int
serve(struct server *srv, int policy_fd, int metrics_fd, int signal_fd)
{
	pthread_attr_t attr;
	struct pollfd pfds[3] = {
	    {.fd = signal_fd, .events = POLLIN},
	    {.fd = policy_fd, .events = POLLIN},
	    {.fd = metrics_fd, .events = POLLIN},
	};

	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, THREAD_STACK);
	for (;;) {
		if (poll(pfds, metrics_fd >= 0 ? 3 : 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			log_warn("poll");
			break;
		}
		if (pfds[0].revents != 0)
			break;
		if (pfds[1].revents != 0)
			accept_policy(srv, policy_fd, &attr);
		if (metrics_fd >= 0 && pfds[2].revents != 0)
			answer_metrics(srv, metrics_fd);
	}
	pthread_attr_destroy(&attr);
	return 0;
}

int
server_run(const struct config *cfg)
{
	struct server srv = {.cfg = cfg, .policy = {.cfg = cfg}};
	struct usage_writer *writer = NULL;
	int policy_fd, metrics_fd = -1, signal_fd, status = 0;
	long long stop_by;

	if ((signal_fd = block_signals()) < 0)
		return 1;
	umask(007);
	if ((policy_fd = listen_unix(cfg->socket_path, 0666)) < 0) {
		close(signal_fd);
		return 1;
	}
	if (cfg->metrics_socket_path[0] != '\0' &&
	    (metrics_fd = listen_unix(cfg->metrics_socket_path, 0660)) < 0) {
		close(policy_fd);
		close(signal_fd);
		return 1;
	}
	/* Each connection has at most one message waiting to be saved. */
	if ((srv.policy.pool = db_pool_new(cfg)) == NULL ||
	    (srv.policy.cache = usage_cache_new(CACHE_SUBJECTS_MAX, cfg->max_connections)) ==
	        NULL) {
		log_warnx("out of memory");
		status = 1;
		goto out;
	}
	if ((writer = usage_writer_start(cfg, srv.policy.pool, srv.policy.cache)) == NULL) {
		status = 1;
		goto out;
	}
	log_info("started socket=%s metrics=%s db_timeout=%us", cfg->socket_path,
	    metrics_fd >= 0 ? cfg->metrics_socket_path : "off", cfg->db_timeout);
	status = serve(&srv, policy_fd, metrics_fd, signal_fd);

	/* Stop: no new connections; let the open ones finish what they hold. */
	atomic_store(&srv.stopping, true);
	close(policy_fd);
	policy_fd = -1;
	unlink(cfg->socket_path);
	stop_by = now_ms() + STOP_GRACE_S * 1000;
	while (atomic_load(&srv.open) > 0 && now_ms() < stop_by) {
		struct timespec ts = {0, 50 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	/* Whatever is still queued is saved before the writer ends. */
	usage_writer_stop(&writer);
	log_info("stopped open_connections=%u", atomic_load(&srv.open));
out:
	/* Threads still busy past the grace time hold the pool and the cache:
	 * leave them to the process exit rather than free them under them. */
	if (atomic_load(&srv.open) == 0) {
		usage_cache_free(&srv.policy.cache);
		db_pool_free(&srv.policy.pool);
	}
	if (policy_fd >= 0)
		close(policy_fd);
	if (metrics_fd >= 0) {
		close(metrics_fd);
		unlink(cfg->metrics_socket_path);
	}
	close(signal_fd);
	return status;
}
