/* mb_http: the HTTP/1.1 request head (RFC 9112), parsed in place. Pure: no I/O, no
 * allocation; every pointer of a parsed request points into the caller's bytes. */
#ifndef MB_HTTP_H
#define MB_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#define MB_HTTP_HEAD_MAX 8192   /* a longer head is refused with 431 */
#define MB_HTTP_HEADERS_MAX 64  /* more header lines: 431 too */

/* mb_http_parse's answers besides a head length. */
enum {
    MB_HTTP_INCOMPLETE = 0,  /* no end of head yet: read more */
    MB_HTTP_BAD = -1,        /* malformed: 400 */
    MB_HTTP_TOO_LARGE = -2,  /* over MB_HTTP_HEAD_MAX or MB_HTTP_HEADERS_MAX: 431 */
};

struct mb_http_str {
    const char *p;
    size_t n;
};

struct mb_http_header {
    struct mb_http_str name, value; /* value without the surrounding whitespace */
};

struct mb_http_request {
    struct mb_http_str method;
    struct mb_http_str target; /* as sent (origin-form "/a/b?q") */
    struct mb_http_str path;   /* target up to '?' (still percent-encoded) */
    struct mb_http_str query;  /* after '?', n == 0 (p NULL) when none */
    int minor;                 /* HTTP/1.<minor>: 0 or 1 */
    size_t nheaders;
    struct mb_http_header headers[MB_HTTP_HEADERS_MAX];
};

/* Parses the request head at the start of [p, p+len) (empty lines before the request line are
 * skipped, lines may end in CRLF or LF). Returns the head's length including its blank line,
 * or MB_HTTP_INCOMPLETE / MB_HTTP_BAD / MB_HTTP_TOO_LARGE. */
int mb_http_parse(const char *p, size_t len, struct mb_http_request *req);

/* Whether the string equals s, ASCII case-insensitively. */
bool mb_http_str_is(struct mb_http_str a, const char *s);

/* The index'th header line named name (case-insensitive), or NULL. */
const struct mb_http_str *mb_http_header(const struct mb_http_request *req, const char *name, size_t index);

/* Iterates the comma-separated elements of every header line named name, in order
 * (whitespace trimmed, empty elements skipped). *it starts at 0. Returns false at the end. */
bool mb_http_next_element(const struct mb_http_request *req, const char *name, size_t *it,
                          struct mb_http_str *out);

/* Whether some element of the header lines named name is token (case-insensitive). */
bool mb_http_has_token(const struct mb_http_request *req, const char *name, const char *token);

/* Whether the connection persists after this request (HTTP/1.1 unless "Connection: close";
 * HTTP/1.0 only with "Connection: keep-alive"). */
bool mb_http_keep_alive(const struct mb_http_request *req);

/* Percent-decodes path into out (cap bytes incl. the NUL). -1 when an escape is malformed, a
 * byte decodes to NUL, or out is too small; else the decoded length. */
int mb_http_decode_path(struct mb_http_str path, char *out, size_t cap);

/* Whether the decoded path has a ".." segment ("/../x", "/a/..", "/.."). */
bool mb_http_path_escapes(const char *path);

#endif
