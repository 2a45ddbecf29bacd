/* mb_conn: listeners (TCP or Unix domain sockets) and the byte-stream connections they accept,
 * with batched output (one uv_try_write per loop turn, then at most one uv_write in flight from
 * a second buffer), one read buffer shared by every connection, flow control, closes with or
 * without flush, per-listener connection limits and handshake deadlines. The protocols above
 * (RawSocket, HTTP/WebSocket) see plaintext only. Uses libuv and the router's clock and log. */
#include "mb_conn.h"
#include "mb_router.h"
#include "mb_transport.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

enum { C_OPEN, C_CLOSING, C_CLOSED };
#define CLOSE_DEADLINE_MS 2000
#define IDLE_BUFFER_MS 250
#define HANDSHAKE_DEFAULT_S 10.0

int mb_net_init(struct mb_router *r)
{
    struct mb_net *net = calloc(1, sizeof *net);
    char *rbuf = malloc(MB_CONN_READ_CHUNK);
    if (!net || !rbuf) {
        free(net);
        free(rbuf);
        return -1;
    }
    net->r = r;
    net->rbuf = rbuf;
    r->net = net;
    return 0;
}

static const char *kind_name(const struct mb_listener_config *cfg)
{
    return cfg->kind == MB_LISTEN_WEBSOCKET ? "websocket" : "rawsocket";
}

/* ------------------------------------------------------------------ connections */

static void on_handle_closed(uv_handle_t *h)
{
    struct mb_conn *c = h->data;
    if (c->h && c->h->on_close)
        c->h->on_close(c);
    mb_buf_free(&c->out);
    mb_buf_free(&c->inflight);
    mb_buf_free(&c->enc);
    free(c);
}

/* Closes the socket now: what is queued is dropped. */
static void close_now(struct mb_conn *c)
{
    if (c->state == C_CLOSED)
        return;
    struct mb_net *net = c->l->r->net;
    c->state = C_CLOSED;
    if (c->prev)
        c->prev->next = c->next;
    else
        net->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->prev = c->next = NULL;
    if (c->dirty) {
        for (struct mb_conn **p = &net->dirty; *p; p = &(*p)->next_dirty)
            if (*p == c) {
                *p = c->next_dirty;
                break;
            }
        c->dirty = false;
    }
    c->l->nconns--;
    uv_close(&c->io.handle, on_handle_closed);
}

static void mark_dirty(struct mb_conn *c)
{
    if (c->dirty || c->state == C_CLOSED)
        return;
    struct mb_net *net = c->l->r->net;
    c->dirty = true;
    c->next_dirty = net->dirty;
    net->dirty = c;
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf);
static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf);

/* Reads while the protocol wants to and the connection is open. */
static void update_reading(struct mb_conn *c)
{
    bool on = c->want_reading && c->state == C_OPEN;
    if (on == c->reading)
        return;
    if (on && uv_read_start(&c->io.stream, on_alloc, on_read) < 0)
        return;
    if (!on)
        uv_read_stop(&c->io.stream);
    c->reading = on;
}

static void flush(struct mb_conn *c);

static void on_written(uv_write_t *req, int status)
{
    struct mb_conn *c = req->data;
    c->writing = false;
    mb_buf_reset(&c->inflight);
    if (c->state == C_CLOSED)
        return;
    if (status < 0) {
        mb_debug(&c->l->r->log, "%s: write to %s failed: %s", c->l->name, c->peer, uv_strerror(status));
        close_now(c);
        return;
    }
    flush(c);
    if (c->state != C_CLOSED && c->h && c->h->on_drain)
        c->h->on_drain(c);
}

static void flush(struct mb_conn *c)
{
    if (c->writing || c->state == C_CLOSED)
        return;
    struct mb_buf *src = &c->out;
    if (src->len > 0) {
        uv_buf_t b = uv_buf_init(mb_buf_data(src), (unsigned)src->len);
        int n = uv_try_write(&c->io.stream, &b, 1);
        if (n > 0)
            mb_buf_consume(src, (size_t)n);
        else if (n < 0 && n != UV_EAGAIN) {
            mb_debug(&c->l->r->log, "%s: write to %s failed: %s", c->l->name, c->peer, uv_strerror(n));
            close_now(c);
            return;
        }
    }
    if (src->len > 0) {
        /* the rest goes from a buffer of its own so the queue can grow while it is written */
        struct mb_buf t = c->inflight;
        c->inflight = *src;
        *src = t;
        uv_buf_t b = uv_buf_init(mb_buf_data(&c->inflight), (unsigned)c->inflight.len);
        c->wreq.data = c;
        if (uv_write(&c->wreq, &c->io.stream, &b, 1, on_written) < 0) {
            close_now(c);
            return;
        }
        c->writing = true;
        return;
    }
    mb_buf_shrink(&c->out, 1 << 16);
    c->last_tx = mb_router_now_ms(c->l->r);
    if (c->state == C_CLOSING)
        close_now(c);
}

char *mb_conn_reserve(struct mb_conn *c, size_t n)
{
    if (c->state != C_OPEN)
        return NULL;
    char *p = mb_buf_reserve(&c->out, n);
    if (!p) {
        mb_warn(&c->l->r->log, "%s: out of memory for the queue of %s: closed", c->l->name, c->peer);
        close_now(c);
    }
    return p;
}

void mb_conn_commit(struct mb_conn *c, size_t n)
{
    if (c->state != C_OPEN)
        return;
    mb_buf_commit(&c->out, n);
    mark_dirty(c);
}

int mb_conn_write(struct mb_conn *c, const void *p, size_t n)
{
    char *dst = mb_conn_reserve(c, n);
    if (!dst)
        return -1;
    memcpy(dst, p, n);
    mb_conn_commit(c, n);
    return 0;
}

size_t mb_conn_queued(const struct mb_conn *c)
{
    return c->out.len + c->enc.len + c->inflight.len;
}

void mb_conn_set_reading(struct mb_conn *c, bool on)
{
    c->want_reading = on;
    if (c->state != C_CLOSED)
        update_reading(c);
}

void mb_conn_ready(struct mb_conn *c)
{
    c->handshake_done = true;
}

void mb_conn_close(struct mb_conn *c, bool flush_first)
{
    if (c->state == C_CLOSED)
        return;
    if (!flush_first || (mb_conn_queued(c) == 0 && !c->writing)) {
        close_now(c);
        return;
    }
    if (c->state == C_CLOSING)
        return;
    c->state = C_CLOSING;
    c->closing_since = mb_router_now_ms(c->l->r);
    update_reading(c);
    mark_dirty(c);
}

bool mb_conn_tls(const struct mb_conn *c)
{
    return c->ssl != NULL;
}

int mb_conn_channel_binding(struct mb_conn *c, const char *type, unsigned char *out, size_t *len)
{
    (void)c;
    (void)type;
    (void)out;
    (void)len;
    return -1;
}

/* Hands what the peer sent to the protocol. */
static void deliver(struct mb_conn *c, const char *data, size_t n)
{
    if (c->state == C_OPEN && c->h && c->h->on_data)
        c->h->on_data(c, data, n);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    (void)hint;
    struct mb_conn *c = h->data;
    /* libuv reads right after it allocates, one stream at a time: one buffer serves them all */
    *buf = uv_buf_init(c->l->r->net->rbuf, MB_CONN_READ_CHUNK);
}

static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
    struct mb_conn *c = st->data;
    struct mb_router *r = c->l->r;
    if (n < 0) {
        if (n != UV_EOF)
            mb_debug(&r->log, "%s: read from %s: %s", c->l->name, c->peer, uv_strerror((int)n));
        close_now(c);
        return;
    }
    if (n == 0)
        return;
    c->last_rx = mb_router_now_ms(r);
    mb_router_busy_poll(r);
    deliver(c, buf->base, (size_t)n);
}

static void peer_name(struct mb_conn *c)
{
    if (c->l->cfg->unix_path) {
        snprintf(c->peer, sizeof c->peer, "unix:%s", c->l->cfg->unix_path);
        return;
    }
    struct sockaddr_storage ss;
    int len = sizeof ss;
    char ip[64] = "?";
    int port = 0;
    if (uv_tcp_getpeername(&c->io.tcp, (struct sockaddr *)&ss, &len) == 0)
        mb_sockaddr_name(&ss, ip, sizeof ip, &port);
    snprintf(c->peer, sizeof c->peer, "%s:%d", ip, port);
}

static void free_unaccepted(uv_handle_t *h)
{
    free(h->data);
}

static void on_connection(uv_stream_t *server, int status)
{
    struct mb_listener *l = server->data;
    struct mb_router *r = l->r;
    struct mb_net *net = r->net;
    if (status < 0) {
        mb_debug(&r->log, "%s: accept: %s", l->name, uv_strerror(status));
        return;
    }
    struct mb_conn *c = calloc(1, sizeof *c);
    if (!c)
        return;
    c->l = l;
    if (l->cfg->unix_path)
        uv_pipe_init(r->loop, &c->io.pipe, 0);
    else
        uv_tcp_init(r->loop, &c->io.tcp);
    c->io.handle.data = c;
    c->state = C_CLOSED; /* until it is listed */
    if (uv_accept(server, &c->io.stream) != 0) {
        uv_close(&c->io.handle, free_unaccepted);
        return;
    }
    peer_name(c);
    if (l->cfg->max_connections && l->nconns >= l->cfg->max_connections) {
        mb_warn(&r->log, "%s: connection from %s refused: max_connections (%zu) reached", l->name, c->peer,
                l->cfg->max_connections);
        uv_close(&c->io.handle, free_unaccepted);
        return;
    }
    if (!l->cfg->unix_path)
        uv_tcp_nodelay(&c->io.tcp, 1);
    c->state = C_OPEN;
    c->opened = c->last_rx = c->last_tx = mb_router_now_ms(r);
    l->nconns++;
    c->next = net->conns;
    if (net->conns)
        net->conns->prev = c;
    net->conns = c;
    c->want_reading = true;
    update_reading(c);
    l->on_accept(l, c);
}

/* ------------------------------------------------------------------ listeners */

static int listen_tcp(struct mb_listener *l, char *addr, size_t addrlen)
{
    struct mb_router *r = l->r;
    const struct mb_listener_config *cfg = l->cfg;
    const char *host = cfg->host ? cfg->host : "127.0.0.1";
    struct sockaddr_storage ss;
    int rc;
    if (strchr(host, ':'))
        rc = uv_ip6_addr(host, cfg->port, (struct sockaddr_in6 *)&ss);
    else
        rc = uv_ip4_addr(host, cfg->port, (struct sockaddr_in *)&ss);
    if (rc != 0) {
        mb_error(&r->log, "%s: bad listen address %s:%d: %s", kind_name(cfg), host, cfg->port, uv_strerror(rc));
        return -1;
    }
    uv_tcp_init(r->loop, &l->io.tcp);
    l->io.handle.data = l;
    l->listening = true; /* the handle is open: mb_listener_stop closes it */
    rc = uv_tcp_bind(&l->io.tcp, (struct sockaddr *)&ss, 0);
    if (rc == 0)
        rc = uv_listen(&l->io.stream, 511, on_connection);
    if (rc != 0) {
        mb_error(&r->log, "%s: cannot listen on %s:%d: %s", kind_name(cfg), host, cfg->port, uv_strerror(rc));
        return -1;
    }
    struct sockaddr_storage bound;
    int blen = sizeof bound;
    char ip[64] = "?";
    int bport = cfg->port;
    if (uv_tcp_getsockname(&l->io.tcp, (struct sockaddr *)&bound, &blen) == 0)
        mb_sockaddr_name(&bound, ip, sizeof ip, &bport);
    l->bound_port = bport;
    snprintf(addr, addrlen, "%s:%d", ip, bport);
    return 0;
}

/* A socket file at path: 1 if a server answers on it, 0 if not (stale), -1 if it is not a
 * socket or cannot be checked (why in err). */
static int unix_in_use(const char *path, char *err, size_t errlen)
{
    struct stat st;
    if (lstat(path, &st) != 0) {
        if (errno == ENOENT)
            return 0;
        snprintf(err, errlen, "%s", strerror(errno));
        return -1;
    }
    if (!S_ISSOCK(st.st_mode)) {
        snprintf(err, errlen, "the path exists and is not a socket");
        return -1;
    }
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    if (strlen(path) >= sizeof sa.sun_path) {
        snprintf(err, errlen, "path too long");
        return -1;
    }
    memcpy(sa.sun_path, path, strlen(path) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errlen, "socket: %s", strerror(errno));
        return -1;
    }
    int rc = connect(fd, (struct sockaddr *)&sa, sizeof sa);
    int e = errno;
    close(fd);
    if (rc == 0 || e == EAGAIN) /* EAGAIN: a live server whose backlog is full */
        return 1;
    if (e == ECONNREFUSED)
        return 0;
    snprintf(err, errlen, "connect: %s", strerror(e));
    return -1;
}

static int listen_unix(struct mb_listener *l, char *addr, size_t addrlen)
{
    struct mb_router *r = l->r;
    const struct mb_listener_config *cfg = l->cfg;
    const char *path = cfg->unix_path;
    char why[200];
    int used = unix_in_use(path, why, sizeof why);
    if (used < 0) {
        mb_error(&r->log, "%s unix:%s: %s", kind_name(cfg), path, why);
        return -1;
    }
    if (used > 0) {
        mb_error(&r->log, "%s unix:%s: in use by a running server", kind_name(cfg), path);
        return -1;
    }
    if (unlink(path) == 0)
        mb_info(&r->log, "%s unix:%s: stale socket file removed", kind_name(cfg), path);
    uv_pipe_init(r->loop, &l->io.pipe, 0);
    l->io.handle.data = l;
    l->listening = true;
    int rc = uv_pipe_bind(&l->io.pipe, path);
    if (rc == 0) {
        l->unix_bound = true;
        if (chmod(path, cfg->unix_mode) != 0)
            rc = uv_translate_sys_error(errno);
    }
    if (rc == 0)
        rc = uv_listen(&l->io.stream, 511, on_connection);
    if (rc != 0) {
        mb_error(&r->log, "%s unix:%s: cannot listen: %s", kind_name(cfg), path, uv_strerror(rc));
        return -1;
    }
    snprintf(addr, addrlen, "unix:%s", path);
    return 0;
}

int mb_listener_start(struct mb_router *r, struct mb_listener *l, const struct mb_listener_config *cfg,
                      void (*on_accept)(struct mb_listener *, struct mb_conn *), void *user)
{
    l->r = r;
    l->cfg = cfg;
    l->on_accept = on_accept;
    l->user = user;
    l->next = r->net->listeners;
    r->net->listeners = l;
    char addr[sizeof l->name];
    int rc = cfg->unix_path ? listen_unix(l, addr, sizeof addr) : listen_tcp(l, addr, sizeof addr);
    if (rc < 0)
        return -1;
    bool tls = l->ssl_ctx != NULL;
    snprintf(l->name, sizeof l->name, "%s %.*s%s", kind_name(cfg), (int)(sizeof l->name - 20), addr,
             tls ? " (tls)" : "");
    char extra[600] = "";
    if (cfg->kind == MB_LISTEN_WEBSOCKET)
        snprintf(extra, sizeof extra, " path %s%s%s", cfg->path ? cfg->path : "/ws",
                 cfg->web_root ? ", web root " : "", cfg->web_root ? cfg->web_root : "");
    /* the first words are what the tests parse: "listening rawsocket on 127.0.0.1:PORT" */
    mb_info(&r->log, "listening %s on %s%s%s%s", kind_name(cfg), addr, extra, tls ? " (tls" : "",
            tls ? (cfg->tls.ca ? ", client certificates required)" : ")") : "");
    return 0;
}

void mb_listener_stop(struct mb_listener *l)
{
    if (!l->listening)
        return;
    l->listening = false;
    uv_close(&l->io.handle, NULL);
    if (l->unix_bound) {
        l->unix_bound = false;
        if (unlink(l->cfg->unix_path) != 0 && errno != ENOENT)
            mb_warn(&l->r->log, "%s: cannot remove the socket file: %s", l->name, strerror(errno));
    }
}

/* ------------------------------------------------------------------ router hooks */

void mb_net_stop_listening(struct mb_router *r)
{
    if (!r->net)
        return;
    for (struct mb_listener *l = r->net->listeners; l; l = l->next)
        mb_listener_stop(l);
}

void mb_net_flush_all(struct mb_router *r)
{
    struct mb_net *net = r->net;
    if (!net)
        return;
    while (net->dirty) {
        struct mb_conn *c = net->dirty;
        net->dirty = c->next_dirty;
        c->dirty = false;
        flush(c);
    }
}

static uint64_t handshake_ms(const struct mb_router *r, const struct mb_listener_config *cfg)
{
    double s = cfg->handshake_timeout;
    if (s <= 0) {
        /* a peer that has not finished its handshake cannot be pinged: it gets no longer than a
         * pinged one */
        s = r->cfg->ping_interval + r->cfg->ping_timeout;
        if (s > HANDSHAKE_DEFAULT_S)
            s = HANDSHAKE_DEFAULT_S;
    }
    return (uint64_t)(s * 1000);
}

void mb_net_sweep(struct mb_router *r, uint64_t now_ms)
{
    struct mb_net *net = r->net;
    if (!net)
        return;
    for (struct mb_conn *c = net->conns, *next; c; c = next) {
        next = c->next;
        if (c->state == C_CLOSING) {
            if (now_ms - c->closing_since > CLOSE_DEADLINE_MS) {
                mb_debug(&r->log, "%s: %s does not read: closed", c->l->name, c->peer);
                close_now(c);
            }
            continue;
        }
        if (!c->handshake_done) {
            uint64_t limit = handshake_ms(r, c->l->cfg);
            if (now_ms - c->opened > limit) {
                mb_info(&r->log, "%s: %s: no handshake within %.1f s: closed", c->l->name, c->peer,
                        (double)limit / 1000.0);
                close_now(c);
            }
            continue;
        }
        if (c->h && c->h->on_sweep) {
            c->h->on_sweep(c, now_ms);
            if (c->state == C_CLOSED)
                continue;
        }
        if (!c->writing && mb_conn_queued(c) == 0 && (c->out.mem || c->inflight.mem || c->enc.mem) &&
            now_ms - c->last_tx > IDLE_BUFFER_MS) {
            mb_buf_shrink(&c->out, 0); /* an idle connection keeps no buffers */
            mb_buf_shrink(&c->inflight, 0);
            mb_buf_shrink(&c->enc, 0);
            r->released_buffers++;
        }
    }
}

void mb_net_close_all(struct mb_router *r)
{
    struct mb_net *net = r->net;
    while (net && net->conns)
        close_now(net->conns);
}

void mb_net_free(struct mb_router *r)
{
    struct mb_net *net = r->net;
    if (!net)
        return;
    mb_net_close_all(r); /* none left after a normal shutdown */
    for (struct mb_listener *l = net->listeners, *next; l; l = next) {
        next = l->next;
        mb_listener_stop(l);
        if (l->on_free)
            l->on_free(l);
    }
    free(net->rbuf);
    free(net);
    r->net = NULL;
}
