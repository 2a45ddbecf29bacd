/* HTTP/1.1 request heads (RFC 9112 §2-5), parsed in place. */
#include "mb_http.h"
#include "mb_hex.h"

#include <string.h>
#include <strings.h>

/* tchar of RFC 9110 §5.6.2 */
static bool is_tchar(unsigned char c)
{
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
        return true;
    return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* The end of the line starting at p (the '\n'), or NULL. */
static const char *line_end(const char *p, const char *end)
{
    return memchr(p, '\n', (size_t)(end - p));
}

/* The line [p, nl) without its '\r'. */
static size_t line_len(const char *p, const char *nl)
{
    size_t n = (size_t)(nl - p);
    return n && p[n - 1] == '\r' ? n - 1 : n;
}

static int parse_request_line(const char *p, size_t n, struct mb_http_request *req)
{
    const char *end = p + n, *q = p;
    while (q < end && is_tchar((unsigned char)*q))
        q++;
    if (q == p || q == end || *q != ' ')
        return MB_HTTP_BAD;
    req->method = (struct mb_http_str){ p, (size_t)(q - p) };
    const char *t = ++q;
    while (q < end && *q != ' ') {
        unsigned char c = (unsigned char)*q;
        if (c <= 0x20 || c == 0x7f)
            return MB_HTTP_BAD;
        q++;
    }
    if (q == t || q == end)
        return MB_HTTP_BAD;
    req->target = (struct mb_http_str){ t, (size_t)(q - t) };
    q++;
    if ((size_t)(end - q) != 8 || memcmp(q, "HTTP/1.", 7) != 0 || (q[7] != '0' && q[7] != '1'))
        return MB_HTTP_BAD;
    req->minor = q[7] - '0';
    /* origin-form, or absolute-form (RFC 9112 §3.2.2): the path starts after the authority */
    const char *path = t, *tend = t + req->target.n;
    if (*t != '/') {
        if (req->target.n == 1 && *t == '*')
            path = t;
        else if (req->target.n > 7 && strncasecmp(t, "http://", 7) == 0) {
            path = memchr(t + 7, '/', (size_t)(tend - t - 7));
            if (!path)
                return MB_HTTP_BAD;
        } else if (req->target.n > 8 && strncasecmp(t, "https://", 8) == 0) {
            path = memchr(t + 8, '/', (size_t)(tend - t - 8));
            if (!path)
                return MB_HTTP_BAD;
        } else
            return MB_HTTP_BAD;
    }
    const char *qm = memchr(path, '?', (size_t)(tend - path));
    req->path = (struct mb_http_str){ path, (size_t)((qm ? qm : tend) - path) };
    req->query = qm ? (struct mb_http_str){ qm + 1, (size_t)(tend - qm - 1) } : (struct mb_http_str){ NULL, 0 };
    return 0;
}

static int parse_header_line(const char *p, size_t n, struct mb_http_request *req)
{
    const char *end = p + n, *q = p;
    if (*p == ' ' || *p == '\t') /* obsolete line folding: refused (RFC 9112 §5.2) */
        return MB_HTTP_BAD;
    while (q < end && is_tchar((unsigned char)*q))
        q++;
    if (q == p || q == end || *q != ':') /* no whitespace before the colon (§5.1) */
        return MB_HTTP_BAD;
    if (req->nheaders == MB_HTTP_HEADERS_MAX)
        return MB_HTTP_TOO_LARGE;
    struct mb_http_header *h = &req->headers[req->nheaders++];
    h->name = (struct mb_http_str){ p, (size_t)(q - p) };
    q++;
    while (q < end && (*q == ' ' || *q == '\t'))
        q++;
    while (end > q && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    for (const char *v = q; v < end; v++) {
        unsigned char c = (unsigned char)*v;
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return MB_HTTP_BAD;
    }
    h->value = (struct mb_http_str){ q, (size_t)(end - q) };
    return 0;
}

int mb_http_parse(const char *buf, size_t len, struct mb_http_request *req)
{
    const char *p = buf, *end = buf + (len > MB_HTTP_HEAD_MAX ? MB_HTTP_HEAD_MAX : len);
    req->nheaders = 0;
    /* empty lines before the request line (a keep-alive client's stray CRLF) */
    while (p < end && (*p == '\r' || *p == '\n'))
        p++;
    bool first = true;
    while (p < end) {
        const char *nl = line_end(p, end);
        if (!nl)
            break;
        size_t n = line_len(p, nl);
        if (n == 0) {
            if (first)
                return MB_HTTP_BAD;
            return (int)(nl + 1 - buf);
        }
        int rc = first ? parse_request_line(p, n, req) : parse_header_line(p, n, req);
        if (rc < 0)
            return rc;
        first = false;
        p = nl + 1;
    }
    /* a request line that cannot be HTTP is refused before the head is complete (and before
     * its size is judged: the verdict must not depend on how the bytes were split) */
    if (first && p < end) {
        const char *q = p;
        while (q < end && is_tchar((unsigned char)*q))
            q++;
        if (q < end && *q != ' ')
            return MB_HTTP_BAD;
    }
    if (len >= MB_HTTP_HEAD_MAX)
        return MB_HTTP_TOO_LARGE;
    return MB_HTTP_INCOMPLETE;
}

bool mb_http_str_is(struct mb_http_str a, const char *s)
{
    size_t n = strlen(s);
    return a.n == n && strncasecmp(a.p, s, n) == 0;
}

const struct mb_http_str *mb_http_header(const struct mb_http_request *req, const char *name, size_t index)
{
    for (size_t i = 0; i < req->nheaders; i++)
        if (mb_http_str_is(req->headers[i].name, name) && index-- == 0)
            return &req->headers[i].value;
    return NULL;
}

bool mb_http_next_element(const struct mb_http_request *req, const char *name, size_t *it,
                          struct mb_http_str *out)
{
    /* *it: header index << 16 | offset in its value (values are under MB_HTTP_HEAD_MAX) */
    for (size_t i = *it >> 16; i < req->nheaders; i++) {
        const struct mb_http_header *h = &req->headers[i];
        size_t off = (i == *it >> 16) ? (*it & 0xffff) : 0;
        if (!mb_http_str_is(h->name, name))
            continue;
        const char *v = h->value.p, *vend = v + h->value.n;
        for (const char *p = v + off; p < vend;) {
            while (p < vend && (*p == ',' || *p == ' ' || *p == '\t'))
                p++;
            const char *s = p;
            while (p < vend && *p != ',')
                p++;
            const char *e = p;
            while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
                e--;
            if (e > s) {
                *out = (struct mb_http_str){ s, (size_t)(e - s) };
                *it = i << 16 | (size_t)(p - v);
                return true;
            }
        }
    }
    *it = req->nheaders << 16;
    return false;
}

bool mb_http_has_token(const struct mb_http_request *req, const char *name, const char *token)
{
    struct mb_http_str e;
    for (size_t it = 0; mb_http_next_element(req, name, &it, &e);)
        if (mb_http_str_is(e, token))
            return true;
    return false;
}

bool mb_http_keep_alive(const struct mb_http_request *req)
{
    if (mb_http_has_token(req, "connection", "close"))
        return false;
    return req->minor >= 1 || mb_http_has_token(req, "connection", "keep-alive");
}

int mb_http_decode_path(struct mb_http_str path, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < path.n; i++) {
        char c = path.p[i];
        if (c == '%') {
            int h, l;
            if (i + 2 >= path.n)
                return -1;
            if ((h = mb_hex_digit((unsigned char)path.p[i + 1])) < 0 || (l = mb_hex_digit((unsigned char)path.p[i + 2])) < 0)
                return -1;
            c = (char)(h << 4 | l);
            i += 2;
        }
        if (c == '\0' || o + 1 >= cap)
            return -1;
        out[o++] = c;
    }
    if (o >= cap)
        return -1;
    out[o] = '\0';
    return (int)o;
}

bool mb_http_path_escapes(const char *path)
{
    for (const char *p = path; (p = strstr(p, "..")); p += 2)
        if ((p == path || p[-1] == '/' || p[-1] == '\\') && (p[2] == '/' || p[2] == '\\' || p[2] == '\0'))
            return true;
    return false;
}
