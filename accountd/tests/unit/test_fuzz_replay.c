/* Replays every file of a fuzz corpus directory through a libFuzzer
 * harness compiled with -DFUZZ_REPLAY (no libFuzzer runtime), so the
 * checked-in corpus runs in every build, gcc included. A harness reports a
 * broken invariant by aborting; sanitizers report the rest.
 * Usage: fuzz_replay_NAME CORPUS_DIR... */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Read a whole regular file; NULL on error. */
static uint8_t *
read_file(const char *path, size_t *len_r)
{
	FILE *fp = fopen(path, "rbe");
	uint8_t *buf = NULL;
	long size;

	if (fp == NULL)
		return NULL;
	if (fseek(fp, 0, SEEK_END) == 0 && (size = ftell(fp)) >= 0 && fseek(fp, 0, SEEK_SET) == 0 &&
	    (buf = malloc((size_t)size + 1)) != NULL) {
		*len_r = fread(buf, 1, (size_t)size, fp);
		if (*len_r != (size_t)size) {
			free(buf);
			buf = NULL;
		}
	}
	fclose(fp);
	return buf;
}

static int
name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Run every regular file of dir, in name order; returns the count or -1. */
static int
replay_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char **names = NULL, path[4096];
	size_t n = 0, cap = 0;
	int count = 0;

	if (d == NULL) {
		fprintf(stderr, "cannot open corpus %s\n", dir);
		return -1;
	}
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		if (n == cap) {
			cap = cap != 0 ? cap * 2 : 64;
			char **bigger = realloc(names, cap * sizeof(*names));
			if (bigger == NULL)
				abort();
			names = bigger;
		}
		if ((names[n++] = strdup(e->d_name)) == NULL)
			abort();
	}
	closedir(d);
	if (n > 0)
		qsort(names, n, sizeof(*names), name_cmp);
	for (size_t i = 0; i < n; i++) {
		struct stat st;
		uint8_t *data;
		size_t len = 0;

		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
			if ((data = read_file(path, &len)) == NULL) {
				fprintf(stderr, "cannot read %s\n", path);
				count = -1;
			} else {
				printf("# %s (%zu bytes)\n", path, len);
				fflush(stdout);
				(void)LLVMFuzzerTestOneInput(data, len);
				free(data);
				if (count >= 0)
					count++;
			}
		}
		free(names[i]);
	}
	free(names);
	return count;
}

int
main(int argc, char **argv)
{
	int total = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: %s CORPUS_DIR...\n", argv[0]);
		return 2;
	}
	for (int i = 1; i < argc; i++) {
		int n = replay_dir(argv[i]);

		if (n <= 0) {
			fprintf(stderr, "%s: %s\n", argv[i], n == 0 ? "empty corpus" : "failed");
			return 1;
		}
		total += n;
	}
	/* The empty input is always worth one run. */
	(void)LLVMFuzzerTestOneInput((const uint8_t *)"", 0);
	printf("%d passed, 0 failed\n", total + 1);
	return 0;
}
