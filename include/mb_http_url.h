/* mb_http_url: the URL rules of the HTTP bridge's callee (http.callees): a base URL, a URL
 * given by the caller joined under it, and the query built from the call's params. The joined
 * URL never leaves the base: another scheme, another host ("//host") or a ".." path segment
 * (percent-encoded or not) is refused before any request. Pure: no libcurl, no allocation but
 * the result. */
#ifndef MB_HTTP_URL_H
#define MB_HTTP_URL_H

#include <stddef.h>

struct mb_url_param {
    const char *name, *value; /* raw (unencoded) */
};

/* Checks a callee's baseurl: http:// or https://, a host, no query or fragment, no space or
 * control character. 0, or -1 with the reason in why. */
int mb_http_url_check_base(const char *base, char *why, size_t whylen);

/* Joins rel under base (checked with mb_http_url_check_base) and appends params as a query
 * (name=value pairs percent-encoded, after the query rel may carry): "" is base itself; a
 * leading "/" is relative to base, not to its host; a "?query" goes on base's own path; a
 * fragment is dropped (it is never sent). Bytes >= 0x80 are percent-encoded. Returns 0 with a
 * malloc'ed URL in *out (the caller frees it), or -1 with why (a refused rel, or no memory). */
int mb_http_url_join(const char *base, const char *rel, const struct mb_url_param *params, size_t nparams,
                     char **out, char *why, size_t whylen);

#endif
