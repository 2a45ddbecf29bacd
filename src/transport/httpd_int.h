/* The route table of mb_httpd.h, shared by httpd.c (the table) and ws.c (the exchanges). */
#ifndef MB_HTTPD_INT_H
#define MB_HTTPD_INT_H

#include "mb_httpd.h"

struct mb_httpd_route {
    int id;
    char *path;
    size_t len;
    bool prefix;
    size_t max_body;
    mb_http_handler fn;
    void *ctx;
    mb_http_too_large too_large; /* or NULL: mb_httpd answers 413 in plain text */
};

/* The route of a decoded path (exact claims first, then the longest prefix), or NULL. */
const struct mb_httpd_route *mb_httpd_find(const struct mb_router *r, const char *path, size_t len);

#endif
