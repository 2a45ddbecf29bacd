/* mb_httpd's route table (mb_httpd.h): a short list, looked up once per HTTP request that is not
 * a WebSocket upgrade. The exchanges themselves live in ws.c, beside the connection. */
#include "httpd_int.h"
#include "mb_router.h"

#include <stdlib.h>
#include <string.h>

struct mb_httpd {
    struct mb_httpd_route *routes;
    size_t n, cap;
    int next_id;
};

int mb_httpd_route(struct mb_router *r, const char *path, bool prefix, size_t max_body, mb_http_handler fn,
                   void *ctx)
{
    if (!r->httpd && !(r->httpd = calloc(1, sizeof *r->httpd)))
        return -1;
    struct mb_httpd *h = r->httpd;
    size_t len = strlen(path);
    for (size_t i = 0; i < h->n; i++)
        if (h->routes[i].prefix == prefix && h->routes[i].len == len && memcmp(h->routes[i].path, path, len) == 0)
            return -1;
    if (h->n == h->cap) {
        size_t cap = h->cap ? 2 * h->cap : 8;
        struct mb_httpd_route *nr = realloc(h->routes, cap * sizeof *nr);
        if (!nr)
            return -1;
        h->routes = nr;
        h->cap = cap;
    }
    char *copy = strdup(path);
    if (!copy)
        return -1;
    h->routes[h->n++] = (struct mb_httpd_route){ .id = ++h->next_id, .path = copy, .len = len, .prefix = prefix,
                                                 .max_body = max_body, .fn = fn, .ctx = ctx };
    return h->next_id;
}

int mb_httpd_on_too_large(struct mb_router *r, int id, mb_http_too_large fn)
{
    struct mb_httpd *h = r->httpd;
    for (size_t i = 0; h && i < h->n; i++)
        if (h->routes[i].id == id) {
            h->routes[i].too_large = fn;
            return 0;
        }
    return -1;
}

void mb_httpd_unroute(struct mb_router *r, int id)
{
    struct mb_httpd *h = r->httpd;
    for (size_t i = 0; h && i < h->n; i++)
        if (h->routes[i].id == id) {
            free(h->routes[i].path);
            h->routes[i] = h->routes[--h->n];
            return;
        }
}

void mb_httpd_free(struct mb_router *r)
{
    struct mb_httpd *h = r->httpd;
    if (!h)
        return;
    for (size_t i = 0; i < h->n; i++)
        free(h->routes[i].path);
    free(h->routes);
    free(h);
    r->httpd = NULL;
}

const struct mb_httpd_route *mb_httpd_find(const struct mb_router *r, const char *path, size_t len)
{
    const struct mb_httpd *h = r->httpd;
    const struct mb_httpd_route *best = NULL;
    for (size_t i = 0; h && i < h->n; i++) {
        const struct mb_httpd_route *rt = &h->routes[i];
        if (!rt->prefix) {
            if (rt->len == len && memcmp(rt->path, path, len) == 0)
                return rt;
        } else if (rt->len <= len && memcmp(rt->path, path, rt->len) == 0 && (!best || rt->len > best->len)) {
            best = rt;
        }
    }
    return best;
}

const char *mb_http_reason(int status)
{
    switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 206: return "Partial Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 406: return "Not Acceptable";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 411: return "Length Required";
    case 413: return "Payload Too Large";
    case 412: return "Precondition Failed";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 416: return "Range Not Satisfiable";
    case 417: return "Expectation Failed";
    case 418: return "I'm a teapot";
    case 422: return "Unprocessable Content";
    case 426: return "Upgrade Required";
    case 428: return "Precondition Required";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "Unknown";
    }
}
