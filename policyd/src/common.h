/* Small shared definitions of policyd. */
#ifndef POLICYD_COMMON_H
#define POLICYD_COMMON_H

#include <stddef.h>

/* Every function whose failure matters is marked so the compiler refuses
 * callers that drop its status. */
#define MUST_CHECK __attribute__((warn_unused_result))

#define N_ELEMENTS(a) (sizeof(a) / sizeof((a)[0]))

/* Longest address: 64 local + '@' + 253 domain. */
#define EMAIL_MAX  320
#define DOMAIN_MAX 253

#endif
