/* TCP helpers shared by the transports. */
#include "mb_transport.h"

#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

void mb_sockaddr_name(const struct sockaddr_storage *ss, char *ip, size_t iplen, int *port)
{
    const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;
    if (ss->ss_family == AF_INET6 && IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
        /* an IPv4 peer of a dual-stack ("::") listener: named as IPv4, so that it is one address
         * for the per-address limit, the brute-force guard and the logs, whichever listener */
        struct sockaddr_in s4 = { .sin_family = AF_INET, .sin_port = s6->sin6_port };
        memcpy(&s4.sin_addr, &s6->sin6_addr.s6_addr[12], 4);
        uv_ip4_name(&s4, ip, iplen);
        *port = ntohs(s6->sin6_port);
    } else if (ss->ss_family == AF_INET6) {
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
    mb_info(&r->log, strchr(ip, ':') ? "listening %s on [%s]:%d%s%s" : "listening %s on %s:%d%s%s", name, ip, bport,
            extra ? " " : "", extra ? extra : "");
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
    snprintf(out, n, strchr(ip, ':') ? "[%s]:%d" : "%s:%d", ip, port);
}
