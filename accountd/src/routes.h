/* The route table: which handler serves which method and path, with what
 * authentication and body. `accountd routes` prints it, and a test checks
 * it against openapi.yaml. */
#ifndef ACCOUNTD_ROUTES_H
#define ACCOUNTD_ROUTES_H

#include <stdio.h>

#include "http_request.h"

size_t routes_count(void);
/* The route's pattern (metrics and log label); "unmatched" past the end. */
const char *routes_name(size_t index);
const char *const *routes_names(void);
const char *const *routes_methods(void);
void routes_print(FILE *fp);

/* Find the route for the request's method and path (on its first call,
 * so that early replies are labelled with it). */
void routes_match(struct request *req, const char *url);

/* Once the body is in: reply 404/405/413/415/429/401 as due, or run the
 * handler, which either fills req->reply or suspends the request on the
 * hash pool. */
void routes_dispatch(struct request *req);

#endif
