/* WebSocket transport and static files, on libwebsockets running on the router's uv loop.
 *
 * moonbar owns the listening socket: it reads each connection's HTTP request head itself,
 * narrows a long Sec-WebSocket-Protocol offer to the protocols it speaks (lws 4.1.6 refuses
 * offers over 127 bytes, and autobahn-python's default offer is 137), then hands the socket
 * and the bytes read to lws (lws_adopt_socket_vhost_readbuf).
 *
 * Outbound, moonbar frames WebSocket messages itself into the connection's queue and writes
 * the queue in large chunks with LWS_WRITE_HTTP (raw bytes), instead of one lws_write per
 * message. */
#include "mb_session.h"
#include "mb_transport.h"

#include <errno.h>
#include <fcntl.h>
#include <libwebsockets.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define HEAD_MAX 8192
#define HEAD_TIMEOUT_MS 10000
#define WAMP_JSON "wamp.2.json"

struct pending;

struct mb_ws {
    struct mb_router *r;
    struct lws_context *ctx;
    struct lws_vhost *vhost;
    uv_tcp_t listener;
    bool listening;
    struct pending *pendings;
    struct ws_conn *conns;
    char *web_root; /* realpath, or NULL */
    const struct mb_listener_config *lc; /* the first websocket listener of cfg->listeners */
    int destroy_calls;
};

/* A connection whose HTTP request head is still being read by moonbar. */
struct pending {
    uv_tcp_t tcp;
    struct mb_ws *ws;
    size_t len;
    uint64_t since;
    struct pending *prev, *next;
    char head[HEAD_MAX];
};

struct ws_conn {
    struct lws *wsi;
    struct mb_ws *ws;
    struct mb_session *s;
    struct mb_buf in, out;
    bool want_write;
    bool closing;       /* close once out is written */
    uint64_t last_rx;   /* ms: when the peer last sent anything (a pong included) */
    uint64_t ping_sent; /* ms: when moonbar pinged it, 0 if no ping is waiting */
    struct ws_conn *prev, *next; /* ws->conns */
};

static void ws_send(void *conn, const char *data, size_t len);
static size_t ws_queued(void *conn);
static void ws_set_reading(void *conn, bool on);
static void ws_close(void *conn, int code, const char *reason, bool flush);

static const struct mb_transport websocket_transport = {
    .name = "websocket", .send = ws_send, .queued = ws_queued,
    .set_reading = ws_set_reading, .close = ws_close,
};

/* ---- outbound frames ---------------------------------------------------------------- */

static void request_write(struct ws_conn *c)
{
    if (!c->want_write) {
        c->want_write = true;
        lws_callback_on_writable(c->wsi);
    }
}

static void put_frame(struct ws_conn *c, int opcode, const char *data, size_t len)
{
    char *dst = mb_buf_reserve(&c->out, 10 + len);
    if (!dst)
        return;
    size_t h = 0;
    dst[h++] = (char)(0x80 | opcode);
    if (len < 126) {
        dst[h++] = (char)len;
    } else if (len <= 0xffff) {
        dst[h++] = 126;
        dst[h++] = (char)(len >> 8);
        dst[h++] = (char)len;
    } else {
        dst[h++] = 127;
        for (int i = 7; i >= 0; i--)
            dst[h++] = (char)((uint64_t)len >> (8 * i));
    }
    memcpy(dst + h, data, len);
    mb_buf_commit(&c->out, h + len);
    request_write(c);
}

static void ws_send(void *conn, const char *data, size_t len)
{
    struct ws_conn *c = conn;
    if (!c->closing)
        put_frame(c, 0x1, data, len);
}

static size_t ws_queued(void *conn)
{
    return ((struct ws_conn *)conn)->out.len;
}

static void ws_set_reading(void *conn, bool on)
{
    struct ws_conn *c = conn;
    lws_rx_flow_control(c->wsi, on ? 1 : 0);
}

static void ws_close(void *conn, int code, const char *reason, bool flush)
{
    struct ws_conn *c = conn;
    if (c->closing)
        return;
    if (!flush)
        mb_buf_reset(&c->out);
    char frame[125];
    size_t rl = reason ? strlen(reason) : 0;
    if (rl > sizeof frame - 2)
        rl = sizeof frame - 2;
    frame[0] = (char)(code >> 8);
    frame[1] = (char)code;
    if (rl)
        memcpy(frame + 2, reason, rl);
    put_frame(c, 0x8, frame, 2 + rl);
    c->closing = true;
    /* a peer that does not read is cut after 2 s */
    lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, 2);
}

static int on_writeable(struct ws_conn *c)
{
    c->want_write = false;
    if (c->out.len == 0) /* lws calls back only once it has flushed what it held */
        return c->closing ? -1 : 0;
    /* The whole queue in one write: lws keeps any part the socket did not take and sends
     * it before the next WRITEABLE. So out only ever holds whole frames lws has not seen. */
    if (lws_write(c->wsi, (unsigned char *)mb_buf_data(&c->out), c->out.len, LWS_WRITE_HTTP) < 0)
        return -1;
    mb_buf_reset(&c->out);
    mb_buf_shrink(&c->out, 1 << 16);
    if (c->closing)
        request_write(c); /* one more turn, then close */
    else if (c->s->reading_paused)
        mb_session_drained(c->s);
    return 0;
}

/* ---- inbound ------------------------------------------------------------------------ */

static int on_receive(struct ws_conn *c, const char *in, size_t len)
{
    struct mb_router *r = c->ws->r;
    size_t remaining = lws_remaining_packet_payload(c->wsi);
    bool complete = lws_is_final_fragment(c->wsi) && remaining == 0;
    if (c->s->state == MB_S_CLOSED)
        return 0;
    if (lws_frame_is_binary(c->wsi)) {
        /* wamp.2.json is the only subprotocol moonbar speaks, and its messages are text
         * frames: a binary frame is not a JSON message, whatever its bytes */
        mb_buf_reset(&c->in);
        mb_session_abort(c->s, MB_R_PROTOCOL_VIOLATION,
                         "binary WebSocket frame on a wamp.2.json session: JSON messages must be sent "
                         "as text frames");
        return 0;
    }
    size_t total = c->in.len + len + remaining;
    if (total > r->cfg->max_message_size) {
        char reason[120];
        snprintf(reason, sizeof reason, "message of %zu bytes exceeds max_message_size %zu",
                 total, r->cfg->max_message_size);
        mb_warn(&r->log, "session %llu (%s): %s: closed", (unsigned long long)c->s->id, c->s->peer, reason);
        mb_buf_reset(&c->in);
        mb_session_close(c->s, 1009, reason, false);
        lws_rx_flow_control(c->wsi, 0);
        return 0;
    }
    if (complete && c->in.len == 0) { /* the common case: no copy */
        mb_session_receive(c->s, in, len);
        return 0;
    }
    if (mb_buf_append(&c->in, in, len) < 0)
        return -1;
    if (complete) {
        mb_session_receive(c->s, mb_buf_data(&c->in), c->in.len);
        mb_buf_reset(&c->in);
        mb_buf_shrink(&c->in, 1 << 16);
    }
    return 0;
}

static int ws_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
    struct mb_ws *ws = lws_context_user(lws_get_context(wsi));
    struct ws_conn **slot = user;
    struct ws_conn *c = slot ? *slot : NULL;
    switch (reason) {
    case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION: {
        char uri[256];
        if (lws_hdr_copy(wsi, uri, sizeof uri, WSI_TOKEN_GET_URI) <= 0 ||
            strcmp(uri, ws->lc->path) != 0) {
            mb_info(&ws->r->log, "websocket upgrade refused: path %s is not %s", uri, ws->lc->path);
            return 1;
        }
        return 0;
    }
    case LWS_CALLBACK_ESTABLISHED: {
        c = calloc(1, sizeof *c);
        if (!c)
            return -1;
        c->wsi = wsi;
        c->ws = ws;
        char peer[64] = "?";
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        int fd = lws_get_socket_fd(wsi);
        if (getpeername(fd, (struct sockaddr *)&ss, &sl) == 0) {
            char ip[48] = "?";
            int port = 0;
            mb_sockaddr_name(&ss, ip, sizeof ip, &port);
            snprintf(peer, sizeof peer, "%s:%d", ip, port);
        }
        c->s = mb_session_new(ws->r, &websocket_transport, c, peer);
        if (!c->s) {
            free(c);
            return -1;
        }
        c->s->listener = ws->lc;
        c->last_rx = mb_router_now_ms(ws->r);
        c->next = ws->conns;
        if (ws->conns)
            ws->conns->prev = c;
        ws->conns = c;
        *slot = c;
        return 0;
    }
    case LWS_CALLBACK_RECEIVE_PONG:
        if (c) {
            c->last_rx = mb_router_now_ms(ws->r);
            c->ping_sent = 0;
        }
        return 0;
    case LWS_CALLBACK_RECEIVE:
        if (!c)
            return -1;
        c->last_rx = mb_router_now_ms(ws->r);
        c->ping_sent = 0;
        mb_router_busy_poll(ws->r);
        return on_receive(c, in, len);
    case LWS_CALLBACK_SERVER_WRITEABLE:
        return c ? on_writeable(c) : -1;
    case LWS_CALLBACK_CLOSED:
        if (c) {
            *slot = NULL;
            if (c->prev)
                c->prev->next = c->next;
            else
                ws->conns = c->next;
            if (c->next)
                c->next->prev = c->prev;
            mb_session_free(c->s);
            mb_buf_free(&c->in);
            mb_buf_free(&c->out);
            free(c);
        }
        return 0;
    default:
        return 0;
    }
}

/* ---- static files ------------------------------------------------------------------- */

static const char *mime_type(const char *path)
{
    static const char *const table[][2] = {
        { ".html", "text/html; charset=utf-8" }, { ".htm", "text/html; charset=utf-8" },
        { ".js", "application/javascript" }, { ".mjs", "application/javascript" },
        { ".css", "text/css" }, { ".json", "application/json" }, { ".map", "application/json" },
        { ".png", "image/png" }, { ".jpg", "image/jpeg" }, { ".jpeg", "image/jpeg" },
        { ".gif", "image/gif" }, { ".svg", "image/svg+xml" }, { ".ico", "image/x-icon" },
        { ".txt", "text/plain; charset=utf-8" }, { ".wasm", "application/wasm" },
        { ".woff", "font/woff" }, { ".woff2", "font/woff2" }, { ".lua", "text/plain; charset=utf-8" },
    };
    const char *dot = strrchr(path, '.');
    const char *slash = strrchr(path, '/');
    if (dot && (!slash || dot > slash))
        for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
            if (strcasecmp(dot, table[i][0]) == 0)
                return table[i][1];
    return "application/octet-stream";
}

static int http_status(struct lws *wsi, unsigned code)
{
    if (lws_return_http_status(wsi, code, NULL))
        return -1;
    return lws_http_transaction_completed(wsi) ? -1 : 0;
}

static int serve_file(struct mb_ws *ws, struct lws *wsi, const char *uri)
{
    char path[PATH_MAX];
    if (!ws->web_root || uri[0] != '/')
        return http_status(wsi, HTTP_STATUS_NOT_FOUND);
    /* no component may be "..": lws normalizes most, this is the last word */
    for (const char *p = uri; (p = strstr(p, "..")); p += 2)
        if ((p == uri || p[-1] == '/') && (p[2] == '/' || p[2] == '\0'))
            return http_status(wsi, HTTP_STATUS_FORBIDDEN);
    int n = snprintf(path, sizeof path, "%s%s%s", ws->web_root, uri,
                     uri[strlen(uri) - 1] == '/' ? "index.html" : "");
    if (n < 0 || (size_t)n >= sizeof path)
        return http_status(wsi, HTTP_STATUS_NOT_FOUND);
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
        if ((size_t)n + 12 >= sizeof path)
            return http_status(wsi, HTTP_STATUS_NOT_FOUND);
        strcat(path, "/index.html");
    }
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
        mb_debug(&ws->r->log, "http 404 %s", uri);
        return http_status(wsi, HTTP_STATUS_NOT_FOUND);
    }
    int rc = lws_serve_http_file(wsi, path, mime_type(path), NULL, 0);
    if (rc < 0)
        return -1;
    if (rc > 0 && lws_http_transaction_completed(wsi))
        return -1;
    return 0;
}

static int http_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
    struct mb_ws *ws = lws_context_user(lws_get_context(wsi));
    (void)user;
    (void)len;
    switch (reason) {
    case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
        /* an upgrade that named no protocol lands here: moonbar speaks only WAMP */
        mb_info(&ws->r->log, "websocket upgrade refused: no WAMP subprotocol offered");
        return 1;
    case LWS_CALLBACK_HTTP:
        if (!lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI)) /* POST, PUT, ...: not yet */
            return http_status(wsi, HTTP_STATUS_METHOD_NOT_ALLOWED);
        return serve_file(ws, wsi, in);
    case LWS_CALLBACK_HTTP_FILE_COMPLETION:
        return lws_http_transaction_completed(wsi) ? -1 : 0;
    default:
        return lws_callback_http_dummy(wsi, reason, user, in, len);
    }
}

static const struct lws_protocols protocols[] = {
    { "http", http_callback, 0, 0, 0, NULL, 0 },
    /* lws keeps an rx buffer of this size per connection: small, messages come in pieces */
    { WAMP_JSON, ws_callback, sizeof(struct ws_conn *), 4096, 0, NULL, 0 },
    { NULL, NULL, 0, 0, 0, NULL, 0 }
};

/* ---- the listener: read the request head, fix the subprotocol offer, adopt --------- */

static void pending_closed(uv_handle_t *h)
{
    free(h->data);
}

static void pending_unlink(struct pending *p)
{
    if (p->prev)
        p->prev->next = p->next;
    else
        p->ws->pendings = p->next;
    if (p->next)
        p->next->prev = p->prev;
    p->prev = p->next = NULL;
}

static void pending_drop(struct pending *p)
{
    pending_unlink(p);
    uv_close((uv_handle_t *)&p->tcp, pending_closed);
}

static bool list_sep(char c)
{
    return c == ',' || c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static bool offered(const char *list, size_t len, const char *proto)
{
    size_t pl = strlen(proto);
    size_t i = 0;
    while (i < len) {
        while (i < len && list_sep(list[i]))
            i++;
        size_t start = i;
        while (i < len && !list_sep(list[i]))
            i++;
        if (i - start == pl && strncasecmp(list + start, proto, pl) == 0)
            return true;
    }
    return false;
}

struct head_info {
    bool upgrade;     /* "Upgrade: websocket" */
    bool has_offer;   /* a Sec-WebSocket-Protocol header */
    bool wamp;        /* ... that offers a protocol moonbar speaks */
    char path[256];   /* request path without the query */
};

static bool header_is(const char *line, size_t ll, const char *name)
{
    size_t n = strlen(name);
    return ll > n && strncasecmp(line, name, n) == 0;
}

/* Copies the head into out, replacing every Sec-WebSocket-Protocol line by a single one
 * naming only what moonbar speaks, if the client offered it. Returns the new length. */
static size_t rewrite_head(const char *head, size_t hlen, char *out, size_t cap, struct head_info *hi)
{
    size_t o = 0;
    const char *p = head, *end = head + hlen;
    memset(hi, 0, sizeof *hi);
    /* request line: METHOD SP PATH SP VERSION */
    const char *sp = memchr(p, ' ', (size_t)(end - p));
    if (sp) {
        size_t i = 0;
        for (const char *q = sp + 1; q < end && *q != ' ' && *q != '?' && *q != '\r' && i + 1 < sizeof hi->path; q++)
            hi->path[i++] = *q;
        hi->path[i] = '\0';
    }
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        const char *next = eol ? eol + 1 : end;
        size_t ll = (size_t)(next - p);
        if (header_is(p, ll, "upgrade:") && offered(p + 8, ll - 8, "websocket"))
            hi->upgrade = true;
        if (header_is(p, ll, "sec-websocket-protocol:")) {
            hi->has_offer = true;
            if (offered(p + 23, ll - 23, WAMP_JSON))
                hi->wamp = true;
            p = next;
            continue;
        }
        if (ll == 2 && p[0] == '\r' && hi->wamp) { /* blank line: end of the head */
            static const char line[] = "Sec-WebSocket-Protocol: " WAMP_JSON "\r\n";
            if (o + sizeof line - 1 <= cap) {
                memcpy(out + o, line, sizeof line - 1);
                o += sizeof line - 1;
            }
        }
        if (o + ll <= cap) {
            memcpy(out + o, p, ll);
            o += ll;
        }
        p = next;
    }
    return o;
}

/* Answers an HTTP error on a connection moonbar still owns, then closes it. */
static void refuse(struct pending *p, const char *status, const char *text)
{
    char reply[512];
    int n = snprintf(reply, sizeof reply, "HTTP/1.1 %s\r\nContent-Type: text/plain; charset=utf-8\r\n"
                     "Content-Length: %zu\r\nConnection: close\r\n\r\n%s", status, strlen(text), text);
    uv_buf_t b = uv_buf_init(reply, (unsigned)n);
    uv_try_write((uv_stream_t *)&p->tcp, &b, 1);
    mb_info(&p->ws->r->log, "websocket upgrade refused (%s): %.*s", status, (int)strcspn(text, "\n"), text);
    pending_drop(p);
}

static void hand_over(struct pending *p, size_t head_end)
{
    struct mb_ws *ws = p->ws;
    size_t extra = p->len - head_end;
    char *buf = malloc(HEAD_MAX + 256);
    if (!buf) {
        pending_drop(p);
        return;
    }
    struct head_info hi;
    size_t n = rewrite_head(p->head, head_end, buf, HEAD_MAX + 256 - extra, &hi);
    if (hi.upgrade && strcmp(hi.path, ws->lc->path) != 0) {
        char text[400];
        snprintf(text, sizeof text, "no WebSocket endpoint at %s: moonbar's WAMP endpoint is %s\n",
                 hi.path, ws->lc->path);
        free(buf);
        refuse(p, "404 Not Found", text);
        return;
    }
    if (hi.upgrade && !hi.wamp) {
        free(buf);
        refuse(p, "400 Bad Request", hi.has_offer ? "none of the offered WebSocket subprotocols is "
               "spoken here: moonbar speaks " WAMP_JSON "\n" : "no WebSocket subprotocol offered: "
               "moonbar speaks " WAMP_JSON "\n");
        return;
    }
    int fd = -1;
    uv_os_fd_t ufd;
    if (uv_fileno((uv_handle_t *)&p->tcp, &ufd) == 0)
        fd = dup(ufd);
    if (fd < 0) {
        free(buf);
        pending_drop(p);
        return;
    }
    memcpy(buf + n, p->head + head_end, extra); /* bytes after the head */
    n += extra;
    pending_drop(p); /* closes moonbar's fd; lws owns the duplicate */
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0)
        fcntl(fd, F_SETFL, fl | O_NONBLOCK);
    if (!lws_adopt_socket_vhost_readbuf(ws->vhost, fd, buf, n))
        mb_debug(&ws->r->log, "http connection not adopted");
    free(buf);
}

static void pending_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    (void)hint;
    struct pending *p = h->data;
    *buf = uv_buf_init(p->head + p->len, (unsigned)(HEAD_MAX - p->len));
}

static void pending_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
    (void)buf;
    struct pending *p = st->data;
    if (n < 0) {
        pending_drop(p);
        return;
    }
    size_t from = p->len > 3 ? p->len - 3 : 0;
    p->len += (size_t)n;
    for (size_t i = from; i + 3 < p->len; i++) {
        if (memcmp(p->head + i, "\r\n\r\n", 4) == 0) {
            uv_read_stop(st);
            hand_over(p, i + 4);
            return;
        }
    }
    if (p->len == HEAD_MAX) {
        static const char reply[] = "HTTP/1.1 431 Request Header Fields Too Large\r\n"
                                    "Content-Length: 0\r\nConnection: close\r\n\r\n";
        uv_buf_t b = uv_buf_init((char *)reply, sizeof reply - 1);
        uv_try_write(st, &b, 1);
        mb_info(&p->ws->r->log, "http request head over %d bytes refused", HEAD_MAX);
        pending_drop(p);
    }
}

static void on_connection(uv_stream_t *server, int status)
{
    struct mb_ws *ws = server->data;
    if (status < 0)
        return;
    struct pending *p = malloc(sizeof *p);
    if (!p)
        return;
    p->ws = ws;
    p->len = 0;
    p->prev = NULL;
    p->since = mb_router_now_ms(ws->r);
    uv_tcp_init(ws->r->loop, &p->tcp);
    p->tcp.data = p;
    p->next = ws->pendings;
    if (ws->pendings)
        ws->pendings->prev = p;
    ws->pendings = p;
    if (uv_accept(server, (uv_stream_t *)&p->tcp) != 0) {
        pending_drop(p);
        return;
    }
    uv_tcp_nodelay(&p->tcp, 1);
    uv_read_start((uv_stream_t *)&p->tcp, pending_alloc, pending_read);
}

/* ---- lifecycle ---------------------------------------------------------------------- */

static void lws_log_line(int level, const char *line)
{
    /* lws lines end with '\n'; mb_log_write folds it */
    mb_log_write(level == LLL_ERR ? MB_LOG_ERROR : MB_LOG_WARN, "lws: %s", line);
}

int mb_ws_start(struct mb_router *r)
{
    struct mb_ws *ws = calloc(1, sizeof *ws);
    if (!ws)
        return -1;
    ws->r = r;
    r->ws = ws;
    /* this transport serves one listener: the first websocket one of the config */
    for (size_t i = 0; i < r->cfg->nlisteners && !ws->lc; i++)
        if (r->cfg->listeners[i].kind == MB_LISTEN_WEBSOCKET)
            ws->lc = &r->cfg->listeners[i];
    for (const struct mb_listener_config *lc = ws->lc + 1; lc < r->cfg->listeners + r->cfg->nlisteners; lc++)
        if (lc->kind == MB_LISTEN_WEBSOCKET)
            mb_warn(&r->log, "websocket: only the first websocket listener is served for now: %s:%d ignored",
                    lc->host ? lc->host : lc->unix_path, lc->port);
    if (ws->lc->unix_path || ws->lc->tls.cert)
        mb_warn(&r->log, "websocket: Unix sockets and TLS are not served yet by this transport: %s ignored",
                ws->lc->unix_path ? "unix" : "tls");
    if (ws->lc->unix_path) {
        r->ws = NULL;
        free(ws);
        return 0;
    }
    if (ws->lc->web_root) {
        ws->web_root = realpath(ws->lc->web_root, NULL);
        if (!ws->web_root)
            mb_warn(&r->log, "web root %s: %s: no static files served", ws->lc->web_root, strerror(errno));
    }
    /* lws's own lines are for debugging lws (it logs routine events as errors) */
    lws_set_log_level(r->log.level >= MB_LOG_TRACE ? (LLL_ERR | LLL_WARN | LLL_NOTICE | LLL_INFO | LLL_DEBUG) : 0, lws_log_line);

    struct lws_context_creation_info info;
    memset(&info, 0, sizeof info);
    void *loops[1] = { r->loop };
    info.options = LWS_SERVER_OPTION_LIBUV | LWS_SERVER_OPTION_EXPLICIT_VHOSTS;
    info.foreign_loops = loops;
    info.user = ws;
    info.pcontext = &ws->ctx;
    ws->ctx = lws_create_context(&info);
    if (!ws->ctx) {
        mb_error(&r->log, "websocket: cannot create the libwebsockets context (is "
                 "libwebsockets-evlib-uv installed?)");
        return -1;
    }
    memset(&info, 0, sizeof info);
    info.port = CONTEXT_PORT_NO_LISTEN_SERVER;
    info.protocols = protocols;
    info.vhost_name = "moonbar";
    info.options = LWS_SERVER_OPTION_LIBUV;
    info.keepalive_timeout = 30;
    ws->vhost = lws_create_vhost(ws->ctx, &info);
    if (!ws->vhost) {
        mb_error(&r->log, "websocket: cannot create the libwebsockets vhost");
        return -1;
    }
    char extra[PATH_MAX + 64];
    snprintf(extra, sizeof extra, "path %s%s%s", ws->lc->path, ws->web_root ? ", web root " : "",
             ws->web_root ? ws->web_root : "");
    ws->listener.data = ws;
    if (mb_listen_tcp(r, &ws->listener, ws->lc->host, ws->lc->port, on_connection, "websocket",
                      extra) < 0)
        return -1;
    ws->listener.data = ws;
    ws->listening = true;
    return 0;
}

void mb_ws_sweep(struct mb_router *r, uint64_t now_ms)
{
    struct mb_ws *ws = r->ws;
    if (!ws)
        return;
    /* liveness: silent peers are pinged, and dropped if they do not answer in time */
    for (struct ws_conn *c = ws->conns; c; c = c->next)
        if (!c->closing && mb_session_liveness(c->s, now_ms, c->last_rx, &c->ping_sent))
            put_frame(c, 0x9, "moonbar", 7);
    for (struct pending *p = ws->pendings, *next; p; p = next) {
        next = p->next;
        if (now_ms - p->since > HEAD_TIMEOUT_MS)
            pending_drop(p);
    }
}

void mb_ws_stop_listening(struct mb_router *r)
{
    struct mb_ws *ws = r->ws;
    if (!ws)
        return;
    if (ws->listening) {
        ws->listening = false;
        uv_close((uv_handle_t *)&ws->listener, NULL);
    }
    while (ws->pendings)
        pending_drop(ws->pendings);
}

void mb_ws_destroy(struct mb_router *r)
{
    struct mb_ws *ws = r->ws;
    if (!ws)
        return;
    if (ws->ctx && ws->destroy_calls < 2) {
        ws->destroy_calls++;
        lws_context_destroy(ws->ctx); /* the second call (after uv_run) frees, sets ctx NULL */
        return;
    }
    free(ws->web_root);
    free(ws);
    r->ws = NULL;
}
