/* TCP helpers shared by the transports. */
#include "mb_transport.h"

#include <stdio.h>
#include <string.h>

void mb_sockaddr_name(const struct sockaddr_storage *ss, char *ip, size_t iplen, int *port)
{
    if (ss->ss_family == AF_INET6) {
        uv_ip6_name((const struct sockaddr_in6 *)ss, ip, iplen);
        *port = ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
    } else {
        uv_ip4_name((const struct sockaddr_in *)ss, ip, iplen);
        *port = ntohs(((const struct sockaddr_in *)ss)->sin_port);
    }
}

int mb_listen_tcp(struct mb_router *r, uv_tcp_t *tcp, const char *host, int port, uv_connection_cb cb,
                  const char *name, const char *extra)
{
    struct sockaddr_storage ss;
    int rc;
    if (strchr(host, ':'))
        rc = uv_ip6_addr(host, port, (struct sockaddr_in6 *)&ss);
    else
        rc = uv_ip4_addr(host, port, (struct sockaddr_in *)&ss);
    if (rc == 0)
        rc = uv_tcp_init(r->loop, tcp);
    if (rc != 0) {
        mb_error(&r->log, "%s: bad listen address %s:%d: %s", name, host, port, uv_strerror(rc));
        return -1;
    }
    rc = uv_tcp_bind(tcp, (struct sockaddr *)&ss, 0);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)tcp, 511, cb);
    if (rc != 0) {
        mb_error(&r->log, "%s: cannot listen on %s:%d: %s", name, host, port, uv_strerror(rc));
        uv_close((uv_handle_t *)tcp, NULL);
        return -1;
    }
    struct sockaddr_storage bound;
    int blen = sizeof bound;
    char ip[64] = "?";
    int bport = port;
    if (uv_tcp_getsockname(tcp, (struct sockaddr *)&bound, &blen) == 0)
        mb_sockaddr_name(&bound, ip, sizeof ip, &bport);
    mb_info(&r->log, "listening %s on %s:%d%s%s", name, ip, bport, extra ? " " : "", extra ? extra : "");
    return 0;
}

void mb_peer_name(uv_tcp_t *tcp, char *out, size_t n)
{
    struct sockaddr_storage ss;
    int len = sizeof ss;
    char ip[64] = "?";
    int port = 0;
    if (uv_tcp_getpeername(tcp, (struct sockaddr *)&ss, &len) == 0)
        mb_sockaddr_name(&ss, ip, sizeof ip, &port);
    snprintf(out, n, "%s:%d", ip, port);
}
