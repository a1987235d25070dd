/* Small shared definitions: the result-checking attribute and helpers. */
#ifndef ACCOUNTD_COMMON_H
#define ACCOUNTD_COMMON_H

#include <stddef.h>

/* Every function whose failure matters is marked so the compiler refuses
 * callers that drop its status. */
#define MUST_CHECK __attribute__((warn_unused_result))

#define N_ELEMENTS(a) (sizeof(a) / sizeof((a)[0]))

/* Longest stored address: 64 local + '@' + 253 domain (+ NUL). */
#define EMAIL_MAX     320
#define LOCAL_MAX     64
#define DOMAIN_MAX    253
#define CLIENT_IP_MAX 48

#endif
