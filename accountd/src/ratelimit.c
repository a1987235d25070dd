/* Token buckets in sharded open-addressing tables; see ratelimit.h.
 *
 * The whole table is one block of memory: a header (settings, digest key,
 * one lock and fill count per shard) followed by the buckets. Private, it is
 * calloc'ed; shared, it is a file mapped by every accountd process, with
 * process-shared robust locks (a process that dies holding one does not
 * block the others). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "log.h"
#include "ratelimit.h"

#define SHARDS      16
#define MAGIC       "mailnest-rate-1"
#define BOOT_ID_MAX 40

struct bucket {
	unsigned char key[16]; /* all zero = free slot */
	double tokens;
	double updated;
};

struct shard {
	pthread_mutex_t lock;
	uint64_t used;
};

struct table {
	char magic[16];
	/* Buckets hold CLOCK_MONOTONIC times, which start again at boot: a
	 * table of an earlier boot is not used. */
	char boot_id[BOOT_ID_MAX];
	uint64_t slots_per_shard;
	double capacity;
	double per_second;
	unsigned char digest_key[crypto_generichash_KEYBYTES];
	struct shard shards[SHARDS];
	struct bucket slots[]; /* SHARDS * slots_per_shard */
};

struct ratelimit {
	struct table *table;
	size_t table_size;
	bool shared; /* mapped, not calloc'ed */
};

static size_t
table_size(size_t slots_per_shard)
{
	return sizeof(struct table) + SHARDS * slots_per_shard * sizeof(struct bucket);
}

static void
read_boot_id(char buf[BOOT_ID_MAX])
{
	FILE *f = fopen("/proc/sys/kernel/random/boot_id", "re");

	memset(buf, 0, BOOT_ID_MAX);
	if (f == NULL)
		return;
	if (fgets(buf, BOOT_ID_MAX, f) == NULL)
		buf[0] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	fclose(f);
}

/* Fill a zeroed table's header. */
static int
table_init(struct table *t, struct rate rate, size_t slots_per_shard, bool shared)
{
	pthread_mutexattr_t attr;
	int rc = 0;

	memcpy(t->magic, MAGIC, sizeof(MAGIC));
	read_boot_id(t->boot_id);
	t->slots_per_shard = slots_per_shard;
	t->capacity = rate.count;
	t->per_second = (double)rate.count / rate.seconds;
	randombytes_buf(t->digest_key, sizeof(t->digest_key));
	if (pthread_mutexattr_init(&attr) != 0)
		return -1;
	if (shared && (pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED) != 0 ||
	                  pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST) != 0))
		rc = -1;
	for (size_t i = 0; i < SHARDS && rc == 0; i++)
		if (pthread_mutex_init(&t->shards[i].lock, &attr) != 0)
			rc = -1;
	pthread_mutexattr_destroy(&attr);
	return rc;
}

/* Is the mapped table t, of size bytes, one this process can use? */
static bool
table_matches(const struct table *t, size_t size, struct rate rate, size_t slots_per_shard)
{
	char boot_id[BOOT_ID_MAX];

	read_boot_id(boot_id);
	return size == table_size(slots_per_shard) && memcmp(t->magic, MAGIC, sizeof(MAGIC)) == 0 &&
	       memcmp(t->boot_id, boot_id, BOOT_ID_MAX) == 0 &&
	       t->slots_per_shard == slots_per_shard && t->capacity == (double)rate.count &&
	       t->per_second == (double)rate.count / rate.seconds;
}

static struct table *
map_file(int fd, size_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);

	return p == MAP_FAILED ? NULL : p;
}

/* Write a fresh table next to path and move it into place; a process still
 * using the old file keeps it until it restarts. */
static struct table *
create_shared(const char *path, struct rate rate, size_t slots_per_shard)
{
	size_t size = table_size(slots_per_shard);
	char tmp[PATH_MAX];
	struct table *t = NULL;
	int fd;

	if (snprintf(tmp, sizeof(tmp), "%s.%ld.tmp", path, (long)getpid()) >= (int)sizeof(tmp))
		return NULL;
	(void)unlink(tmp);
	if ((fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600)) < 0) {
		log_warn("rate limits: cannot create %s", tmp);
		return NULL;
	}
	/* ftruncate zero-fills, sparsely: untouched buckets cost nothing. */
	if (ftruncate(fd, (off_t)size) != 0 || (t = map_file(fd, size)) == NULL) {
		log_warn("rate limits: cannot size or map %s", tmp);
	} else if (table_init(t, rate, slots_per_shard, true) != 0 || rename(tmp, path) != 0) {
		log_warn("rate limits: cannot set up %s", path);
		munmap(t, size);
		t = NULL;
	}
	close(fd);
	if (t == NULL)
		(void)unlink(tmp);
	return t;
}

/* Map the table at path, or make it. A lock file serialises this between
 * processes starting at once, so that they all end up on one file. */
static struct table *
open_shared(const char *path, struct rate rate, size_t slots_per_shard)
{
	size_t size = table_size(slots_per_shard);
	char lock_path[PATH_MAX];
	struct table *t = NULL;
	struct stat st;
	int lock_fd, fd;

	if (snprintf(lock_path, sizeof(lock_path), "%s.lock", path) >= (int)sizeof(lock_path))
		return NULL;
	lock_fd = open(lock_path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (lock_fd < 0 || flock(lock_fd, LOCK_EX) != 0) {
		log_warn("rate limits: cannot lock %s", lock_path);
		if (lock_fd >= 0)
			close(lock_fd);
		return NULL;
	}
	if ((fd = open(path, O_RDWR | O_NOFOLLOW | O_CLOEXEC)) >= 0) {
		if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == geteuid() &&
		    (st.st_mode & 077) == 0 && (size_t)st.st_size == size &&
		    (t = map_file(fd, size)) != NULL &&
		    !table_matches(t, size, rate, slots_per_shard)) {
			munmap(t, size);
			t = NULL;
		}
		close(fd);
	}
	if (t == NULL)
		t = create_shared(path, rate, slots_per_shard);
	close(lock_fd); /* releases the flock */
	return t;
}

struct ratelimit *
ratelimit_new(struct rate rate, size_t max_keys, const char *shared_path)
{
	struct ratelimit *rl = calloc(1, sizeof(*rl));
	/* Twice the keys, so the table stays at most half full. */
	size_t slots_per_shard = (max_keys * 2 + SHARDS - 1) / SHARDS;

	if (rl == NULL)
		return NULL;
	if (slots_per_shard < 16)
		slots_per_shard = 16;
	rl->table_size = table_size(slots_per_shard);
	rl->shared = shared_path != NULL && shared_path[0] != '\0';
	if (rl->shared) {
		rl->table = open_shared(shared_path, rate, slots_per_shard);
	} else if ((rl->table = calloc(1, rl->table_size)) != NULL &&
	           table_init(rl->table, rate, slots_per_shard, false) != 0) {
		free(rl->table);
		rl->table = NULL;
	}
	if (rl->table == NULL) {
		free(rl);
		return NULL;
	}
	return rl;
}

void
ratelimit_free(struct ratelimit **rlp)
{
	struct ratelimit *rl = *rlp;

	if (rl == NULL)
		return;
	if (rl->shared) {
		/* The locks live on in the file for the other processes. */
		munmap(rl->table, rl->table_size);
	} else {
		for (size_t i = 0; i < SHARDS; i++)
			pthread_mutex_destroy(&rl->table->shards[i].lock);
		free(rl->table);
	}
	free(rl);
	*rlp = NULL;
}

static void
shard_lock(struct shard *sh)
{
	/* Its last owner died holding it: the buckets may be half updated,
	 * which for rate limits is harmless. */
	if (pthread_mutex_lock(&sh->lock) == EOWNERDEAD)
		pthread_mutex_consistent(&sh->lock);
}

static bool
slot_free(const struct bucket *b)
{
	static const unsigned char zero[16];

	return memcmp(b->key, zero, sizeof(zero)) == 0;
}

static double
refill(const struct table *t, const struct bucket *b, double now)
{
	double tokens = b->tokens + (now - b->updated) * t->per_second;

	return tokens > t->capacity ? t->capacity : tokens;
}

static struct bucket *
shard_slots(struct table *t, size_t shard)
{
	return &t->slots[shard * t->slots_per_shard];
}

/* The slot where key's probe starts: digest bytes 8-15. */
static size_t
probe_start(const unsigned char *key, size_t n)
{
	size_t i;

	memcpy(&i, key + 8, sizeof(i));
	return i % n;
}

/* A bucket that has refilled completely is the same as no bucket: drop
 * those and rebuild the shard in place. If that frees too little (a flood
 * of distinct keys), forget the whole shard: failing open for a moment
 * beats refusing every newcomer. */
static void
shard_compact(struct table *t, size_t shard, double now)
{
	struct bucket *slots = shard_slots(t, shard);
	struct shard *sh = &t->shards[shard];
	size_t n = t->slots_per_shard, live = 0;
	struct bucket *kept = malloc(n * sizeof(*kept));

	if (kept != NULL)
		for (size_t i = 0; i < n; i++)
			if (!slot_free(&slots[i]) && refill(t, &slots[i], now) < t->capacity)
				kept[live++] = slots[i];
	memset(slots, 0, n * sizeof(*slots));
	sh->used = 0;
	if (live * 4 <= n * 3 / 2) { /* at most 3/8 full: keep them */
		for (size_t k = 0; k < live; k++) {
			size_t j = probe_start(kept[k].key, n);
			while (!slot_free(&slots[j]))
				j = (j + 1) % n;
			slots[j] = kept[k];
		}
		sh->used = live;
	}
	free(kept);
}

static unsigned
ratelimit_apply(struct ratelimit *rl, const char *key, double now, bool take)
{
	struct table *t = rl->table;
	unsigned char digest[16];
	size_t n = t->slots_per_shard, shard, i;
	struct bucket *slots, *b;
	struct shard *sh;
	unsigned wait = 0;
	double tokens;

	crypto_generichash(digest, sizeof(digest), (const unsigned char *)key, strlen(key),
	    t->digest_key, sizeof(t->digest_key));
	digest[0] |= 1; /* never all zero: that marks a free slot */
	shard = digest[1] % SHARDS;
	sh = &t->shards[shard];
	slots = shard_slots(t, shard);

	shard_lock(sh);
	for (i = probe_start(digest, n); !slot_free(&slots[i]); i = (i + 1) % n)
		if (memcmp(slots[i].key, digest, sizeof(digest)) == 0)
			break;
	b = &slots[i];
	tokens = slot_free(b) ? t->capacity : refill(t, b, now);
	if (tokens < 1.0) {
		wait = (unsigned)ceil((1.0 - tokens) / t->per_second);
		if (wait == 0)
			wait = 1;
	} else if (take) {
		if (slot_free(b)) {
			if ((sh->used + 1) * 2 > n) {
				shard_compact(t, shard, now);
				pthread_mutex_unlock(&sh->lock);
				return ratelimit_apply(rl, key, now, take);
			}
			memcpy(b->key, digest, sizeof(digest));
			sh->used++;
		}
		b->tokens = tokens - 1.0;
		b->updated = now;
	}
	pthread_mutex_unlock(&sh->lock);
	return wait;
}

unsigned
ratelimit_take(struct ratelimit *rl, const char *key, double now)
{
	return ratelimit_apply(rl, key, now, true);
}

unsigned
ratelimit_peek(struct ratelimit *rl, const char *key, double now)
{
	return ratelimit_apply(rl, key, now, false);
}
