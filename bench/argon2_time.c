/* argon2_time: how long one argon2id hash takes at a given cost, the way
 * accountd makes it (libsodium crypto_pwhash_str, one lane).
 *
 * Usage: argon2_time MEMORY_KIB TIME [RUNS]
 * Prints the median wall-clock time of RUNS hashes (default 7, after one
 * warm-up) in seconds, e.g. "0.031250". Used by bench/accountd.sh to
 * compute the hashing limit (cores / hash time). */
#define _POSIX_C_SOURCE 200809L /* clock_gettime */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <sodium.h>

#define RUNS_MAX 101

static int
parse_ulong(const char *text, unsigned long min, unsigned long max, unsigned long *value_r)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(text, &end, 10);
	if (errno != 0 || end == text || *end != '\0' || v < min || v > max)
		return -1;
	*value_r = v;
	return 0;
}

static double
now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int
compare_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* One hash of a fixed password; returns its duration in seconds, or a
 * negative value when libsodium refuses (out of memory). */
static double
time_one_hash(unsigned long long opslimit, size_t memlimit)
{
	static const char password[] = "correct horse battery staple";
	char out[crypto_pwhash_STRBYTES];
	double start = now_seconds();

	if (crypto_pwhash_str(out, password, sizeof(password) - 1, opslimit, memlimit) != 0)
		return -1.0;
	return now_seconds() - start;
}

int
main(int argc, char **argv)
{
	unsigned long memory_kib, time_cost, runs = 7;
	double samples[RUNS_MAX];

	if (argc < 3 || argc > 4 || parse_ulong(argv[1], 8, 4UL * 1024 * 1024, &memory_kib) < 0 ||
	    parse_ulong(argv[2], 1, 100, &time_cost) < 0 ||
	    (argc == 4 && parse_ulong(argv[3], 1, RUNS_MAX, &runs) < 0)) {
		fprintf(stderr, "usage: argon2_time MEMORY_KIB TIME [RUNS (1-%d)]\n", RUNS_MAX);
		return 64;
	}
	if (sodium_init() < 0) {
		fprintf(stderr, "argon2_time: sodium_init failed\n");
		return 70;
	}
	/* The first hash pays for page faults and CPU frequency ramp-up. */
	if (time_one_hash(time_cost, (size_t)memory_kib * 1024) < 0) {
		fprintf(stderr, "argon2_time: crypto_pwhash_str failed\n");
		return 70;
	}
	for (unsigned long i = 0; i < runs; i++) {
		samples[i] = time_one_hash(time_cost, (size_t)memory_kib * 1024);
		if (samples[i] < 0) {
			fprintf(stderr, "argon2_time: crypto_pwhash_str failed\n");
			return 70;
		}
	}
	qsort(samples, runs, sizeof(samples[0]), compare_double);
	printf("%.6f\n", samples[runs / 2]);
	return 0;
}
