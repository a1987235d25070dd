/* A client of the one auth-master command we need; see dovecot_auth.h.
 * The exchange is line-based and tab-separated:
 *   -> VERSION\t1\t0            <- VERSION\t1\tN, SPID\tPID
 *   -> CACHE-FLUSH\t1[\tUSER]   <- OK\t1\tCOUNT (or FAIL\t1) */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "dovecot_auth.h"

static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Read until a line answering our request id, or time out. */
static int
await_answer(int fd, long long deadline, const char **error_r)
{
	char buf[1024];
	size_t len = 0;

	for (;;) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		long long left = deadline - now_ms();
		ssize_t n;

		if (left <= 0 || poll(&pfd, 1, (int)left) <= 0) {
			*error_r = "no answer in time";
			return -1;
		}
		if ((n = read(fd, buf + len, sizeof(buf) - 1 - len)) <= 0) {
			*error_r = "connection closed";
			return -1;
		}
		len += (size_t)n;
		buf[len] = '\0';
		if (strstr(buf, "\nOK\t1\t") != NULL || strncmp(buf, "OK\t1\t", 5) == 0)
			return 0;
		if (strstr(buf, "FAIL\t1") != NULL) {
			*error_r = "Dovecot refused the flush";
			return -1;
		}
		if (len == sizeof(buf) - 1) {
			*error_r = "answer too long";
			return -1;
		}
	}
}

int
dovecot_auth_cache_flush(
    const char *socket_path, const char *user, unsigned timeout_ms, const char **error_r)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	long long deadline = now_ms() + timeout_ms;
	char request[EMAIL_MAX + 64];
	int fd, n, ret;

	if (strlen(socket_path) >= sizeof(sun.sun_path)) {
		*error_r = "socket path too long";
		return -1;
	}
	/* Addresses are validated long before; a tab or newline would still
	 * split the command, so refuse them here too. */
	if (user != NULL && strpbrk(user, "\t\r\n") != NULL) {
		*error_r = "bad user name";
		return -1;
	}
	n = snprintf(request, sizeof(request), "VERSION\t1\t0\nCACHE-FLUSH\t1%s%s\n",
	    user != NULL ? "\t" : "", user != NULL ? user : "");
	if (n < 0 || (size_t)n >= sizeof(request)) {
		*error_r = "user name too long";
		return -1;
	}
	strcpy(sun.sun_path, socket_path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0) {
		*error_r = strerror(errno);
		return -1;
	}
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 ||
	    write(fd, request, (size_t)n) != n) {
		*error_r = strerror(errno);
		close(fd);
		return -1;
	}
	ret = await_answer(fd, deadline, error_r);
	close(fd);
	return ret;
}
