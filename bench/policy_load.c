/* Load generator for mailnest-policyd (bench/policyd.sh).
 *
 *   policy_load SOCKET CONNECTIONS SECONDS USERS DOMAIN
 *
 * Each of CONNECTIONS threads keeps one connection to SOCKET (as Postfix's
 * smtpd processes do) and sends, for users u0@DOMAIN .. u<USERS-1>@DOMAIN in
 * turn, a message's worth of requests: one RCPT, then its END-OF-MESSAGE.
 * Every answer is one decision; its latency is the time from the first byte
 * of the request to the empty line that ends the answer. After SECONDS it
 * prints decisions/s, the latency percentiles, how the answers split and how
 * many messages were permitted (which policyd must have counted).
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

enum { MAX_SAMPLES = 4 * 1000 * 1000, ANSWER_MAX = 4096 };

struct worker {
	pthread_t thread;
	int id;
	const char *socket_path;
	const char *domain;
	int users;
	double deadline;
	uint32_t *latency_us; /* owned: one per decision, in order */
	size_t samples;
	size_t permits, refusals, errors;
	size_t messages; /* END-OF-MESSAGE permitted: counted by policyd */
};

static double
now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int
connect_socket(const char *path)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof(addr.sun_path))
		return -1;
	memcpy(addr.sun_path, path, strlen(path) + 1);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static bool
write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		buf += n;
		len -= (size_t)n;
	}
	return true;
}

/* read_answer: read until the empty line ending one answer; true on
 * success, with the answer (NUL-terminated) in buf. */
static bool
read_answer(int fd, char *buf, size_t size)
{
	size_t used = 0;
	while (used + 1 < size) {
		ssize_t n = read(fd, buf + used, size - 1 - used);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		used += (size_t)n;
		buf[used] = '\0';
		if (used >= 2 && strcmp(buf + used - 2, "\n\n") == 0)
			return true;
	}
	return false;
}

static bool
decide(struct worker *w, int fd, const char *request, size_t len, bool end_of_message)
{
	char answer[ANSWER_MAX];
	double start = now();
	if (!write_all(fd, request, len) || !read_answer(fd, answer, sizeof(answer)))
		return false;
	double us = (now() - start) * 1e6;
	if (w->samples < MAX_SAMPLES / 64)
		w->latency_us[w->samples] = (uint32_t)(us > 4e9 ? 4e9 : us);
	w->samples++;
	if (strncmp(answer, "action=DUNNO", 12) == 0 || strncmp(answer, "action=OK", 9) == 0) {
		w->permits++;
		w->messages += end_of_message ? 1 : 0;
	} else
		w->refusals++;
	return true;
}

static void *
run_worker(void *arg)
{
	struct worker *w = arg;
	char rcpt[1024], eom[1024];
	uint64_t message = 0;
	int fd = connect_socket(w->socket_path);
	if (fd < 0) {
		w->errors++;
		return NULL;
	}
	while (now() < w->deadline) {
		int user = (int)((message * 7919u + (uint64_t)w->id) % (uint64_t)w->users);
		const char *common = "request=smtpd_access_policy\nprotocol_name=ESMTP\n"
		                     "client_address=192.0.2.7\n";
		int rl = snprintf(rcpt, sizeof(rcpt),
		    "%sprotocol_state=RCPT\nsasl_username=u%d@%s\nsender=u%d@%s\n"
		    "recipient=r%" PRIu64 "@example.net\nrecipient_count=0\n"
		    "instance=b%d.%" PRIu64 "\n\n",
		    common, user, w->domain, user, w->domain, message, w->id, message);
		int el = snprintf(eom, sizeof(eom),
		    "%sprotocol_state=END-OF-MESSAGE\nsasl_username=u%d@%s\nsender=u%d@%s\n"
		    "recipient=\nrecipient_count=1\ninstance=b%d.%" PRIu64 "\n\n",
		    common, user, w->domain, user, w->domain, w->id, message);
		if (rl <= 0 || el <= 0 || (size_t)rl >= sizeof(rcpt) || (size_t)el >= sizeof(eom) ||
		    !decide(w, fd, rcpt, (size_t)rl, false) ||
		    !decide(w, fd, eom, (size_t)el, true)) {
			w->errors++;
			close(fd);
			fd = connect_socket(w->socket_path);
			if (fd < 0)
				return NULL;
		}
		message++;
	}
	close(fd);
	return NULL;
}

static int
compare_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return (x > y) - (x < y);
}

int
main(int argc, char **argv)
{
	if (argc != 6) {
		fprintf(stderr, "usage: %s SOCKET CONNECTIONS SECONDS USERS DOMAIN\n", argv[0]);
		return 64;
	}
	int connections = atoi(argv[2]), seconds = atoi(argv[3]), users = atoi(argv[4]);
	if (connections < 1 || connections > 64 || seconds < 1 || users < 1) {
		fprintf(stderr, "policy_load: 1-64 connections, seconds >= 1, users >= 1\n");
		return 64;
	}
	struct worker *workers = calloc((size_t)connections, sizeof(*workers));
	if (workers == NULL)
		return 70;
	double start = now();
	int status = 0, started = 0;
	for (int i = 0; i < connections; i++) {
		workers[i] = (struct worker){.id = i,
		    .socket_path = argv[1],
		    .domain = argv[5],
		    .users = users,
		    .deadline = start + seconds};
		workers[i].latency_us = calloc(MAX_SAMPLES / 64, sizeof(uint32_t));
		if (workers[i].latency_us == NULL ||
		    pthread_create(&workers[i].thread, NULL, run_worker, &workers[i]) != 0) {
			status = 70;
			break;
		}
		started++;
	}
	size_t total = 0, kept = 0, permits = 0, refusals = 0, errors = 0, messages = 0;
	for (int i = 0; i < started; i++) {
		pthread_join(workers[i].thread, NULL);
		total += workers[i].samples;
		kept +=
		    workers[i].samples < MAX_SAMPLES / 64 ? workers[i].samples : MAX_SAMPLES / 64;
		permits += workers[i].permits;
		refusals += workers[i].refusals;
		errors += workers[i].errors;
		messages += workers[i].messages;
	}
	double elapsed = now() - start;
	uint32_t *all = status == 0 && kept > 0 ? malloc(kept * sizeof(uint32_t)) : NULL;
	if (all != NULL) {
		size_t at = 0;
		for (int i = 0; i < started; i++) {
			size_t n = workers[i].samples < MAX_SAMPLES / 64 ? workers[i].samples
			                                                 : MAX_SAMPLES / 64;
			memcpy(all + at, workers[i].latency_us, n * sizeof(uint32_t));
			at += n;
		}
		qsort(all, kept, sizeof(uint32_t), compare_u32);
		printf(
		    "%.0f decisions/s (%zu in %.1f s, %d connections); latency p50 %.2f ms, "
		    "p99 %.2f ms, max %.2f ms; %zu permitted, %zu refused, %zu connection errors; "
		    "%zu messages permitted\n",
		    (double)total / elapsed, total, elapsed, connections, all[kept / 2] / 1000.0,
		    all[(kept * 99) / 100] / 1000.0, all[kept - 1] / 1000.0, permits, refusals,
		    errors, messages);
	} else if (status == 0) {
		fprintf(stderr, "policy_load: no decisions (%zu connection errors)\n", errors);
		status = 1;
	}
	free(all);
	for (int i = 0; i < connections; i++)
		free(workers[i].latency_us);
	free(workers);
	return status;
}
