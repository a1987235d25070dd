/* Shared by the libFuzzer harnesses: they need clang (the corpus replay in
 * tests/unit builds them with gcc and -DFUZZ_REPLAY), and a broken
 * invariant aborts with its location so the fuzzer saves the input. */
#ifndef ACCOUNTD_FUZZ_CHECK_H
#define ACCOUNTD_FUZZ_CHECK_H

#if !defined(FUZZ_REPLAY) && !defined(__clang__)
#error "libFuzzer harnesses need clang; build the replay (-DFUZZ_REPLAY) with gcc"
#endif

#include <stdio.h>
#include <stdlib.h>

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(                                                                   \
			    stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond);   \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

#endif
