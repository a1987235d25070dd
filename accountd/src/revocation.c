/* The shared revocation generation; see revocation.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "revocation.h"

/* One page: ftruncate makes it zero-filled, so a new file starts at 0. */
#define FILE_SIZE 4096

struct revocation {
	atomic_ullong local;
	atomic_ullong *counter; /* &local, or in the mapped file */
	void *map;
};

_Static_assert(ATOMIC_LLONG_LOCK_FREE == 2, "the counter is shared between processes lock-free");

/* Is st a file this process may trust: ours (or we are root, as the CLI may
 * be), regular, written by nobody else? */
static bool
trusted(const struct stat *st)
{
	return S_ISREG(st->st_mode) && (st->st_uid == geteuid() || geteuid() == 0) &&
	       (st->st_mode & 022) == 0;
}

static int
map_counter(struct revocation *rev, const char *path, bool create)
{
	struct stat st;
	int fd, flags = O_RDWR | O_NOFOLLOW | O_CLOEXEC | (create ? O_CREAT : 0);
	void *p;

	if ((fd = open(path, flags, 0600)) < 0) {
		if (!create && errno == ENOENT)
			return 0; /* no daemon has made it: nobody to tell */
		log_warn("revocations: cannot open %s", path);
		return -1;
	}
	if (fstat(fd, &st) != 0 || !trusted(&st)) {
		log_warnx("revocations: %s is not a private regular file of this user", path);
		close(fd);
		return -1;
	}
	/* Growing only: two processes starting at once both set one page. */
	if (st.st_size < FILE_SIZE && ftruncate(fd, FILE_SIZE) != 0) {
		log_warn("revocations: cannot size %s", path);
		close(fd);
		return -1;
	}
	p = mmap(NULL, FILE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (p == MAP_FAILED) {
		log_warn("revocations: cannot map %s", path);
		return -1;
	}
	rev->map = p;
	rev->counter = p;
	return 0;
}

struct revocation *
revocation_open(const char *path, bool create)
{
	struct revocation *rev = calloc(1, sizeof(*rev));

	if (rev == NULL)
		return NULL;
	atomic_init(&rev->local, 0);
	rev->counter = &rev->local;
	if (path != NULL && path[0] != '\0' && map_counter(rev, path, create) != 0) {
		free(rev);
		return NULL;
	}
	return rev;
}

void
revocation_close(struct revocation **revp)
{
	struct revocation *rev = *revp;

	if (rev == NULL)
		return;
	if (rev->map != NULL)
		munmap(rev->map, FILE_SIZE);
	free(rev);
	*revp = NULL;
}

unsigned long long
revocation_current(const struct revocation *rev)
{
	return atomic_load(rev->counter) + 1;
}

void
revocation_bump(struct revocation *rev)
{
	atomic_fetch_add(rev->counter, 1);
}
