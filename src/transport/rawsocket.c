/* RawSocket transport (WAMP over TCP): 4-byte handshake, then frames of a 4-byte header
 * (type in the low 3 bits, 24-bit big-endian length) and a payload. JSON serializer.
 * Writes are batched: messages are appended to the connection's queue and flushed once per
 * loop turn (at the router's safe point), with one uv_try_write, then one uv_write in flight
 * from a second buffer so the queue can keep growing meanwhile. */
#include "mb_session.h"
#include "mb_transport.h"

#include <stdlib.h>
#include <string.h>

enum { RS_HANDSHAKE, RS_OPEN, RS_CLOSING, RS_CLOSED };
enum { RS_MSG = 0, RS_PING = 1, RS_PONG = 2 };
enum { RS_SER_JSON = 1 };
#define RS_ERR_SERIALIZER 1
#define RS_ERR_RESERVED 3
#define CLOSE_DEADLINE_MS 2000
#define READ_CHUNK 65536
#define IDLE_BUFFER_MS 250

struct raw_conn {
    uv_tcp_t tcp;
    struct mb_rawsocket *rs;
    struct mb_session *s;
    int state;
    uint32_t peer_max; /* longest message the peer accepts */
    struct mb_buf in, out, inflight;
    uv_write_t wreq;
    bool writing, reading, dirty;
    uint64_t closing_since;
    uint64_t last_rx;   /* ms: when the peer last sent anything */
    uint64_t ping_sent; /* ms: when moonbar pinged it, 0 if no ping is waiting */
    uint64_t last_tx;   /* ms: when its queue was last written out */
    struct raw_conn *prev, *next;     /* rs->conns */
    struct raw_conn *next_dirty;
};

struct mb_rawsocket {
    struct mb_router *r;
    char *rbuf; /* one read buffer for every connection: they keep only partial frames */
    uv_tcp_t listener;
    bool listening;
    struct raw_conn *conns;
    struct raw_conn *dirty;
    uint8_t len_exp; /* our announced maximum: 2^(9+len_exp) */
};

static void rs_send(void *conn, const char *data, size_t len);
static size_t rs_queued(void *conn);
static void rs_set_reading(void *conn, bool on);
static void rs_close(void *conn, int code, const char *reason, bool flush);

static const struct mb_transport rawsocket_transport = {
    .name = "rawsocket", .send = rs_send, .queued = rs_queued,
    .set_reading = rs_set_reading, .close = rs_close,
};

static void on_closed(uv_handle_t *h)
{
    struct raw_conn *c = h->data;
    if (c->s)
        mb_session_free(c->s);
    mb_buf_free(&c->in);
    mb_buf_free(&c->out);
    mb_buf_free(&c->inflight);
    free(c);
}

/* Closes the socket now: what is queued is dropped. */
static void close_now(struct raw_conn *c)
{
    if (c->state == RS_CLOSED)
        return;
    c->state = RS_CLOSED;
    struct mb_rawsocket *rs = c->rs;
    if (c->prev)
        c->prev->next = c->next;
    else
        rs->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    if (c->dirty) {
        for (struct raw_conn **p = &rs->dirty; *p; p = &(*p)->next_dirty)
            if (*p == c) {
                *p = c->next_dirty;
                break;
            }
        c->dirty = false;
    }
    uv_close((uv_handle_t *)&c->tcp, on_closed);
}

static void mark_dirty(struct raw_conn *c)
{
    if (c->dirty || c->state == RS_CLOSED)
        return;
    c->dirty = true;
    c->next_dirty = c->rs->dirty;
    c->rs->dirty = c;
}

static void flush(struct raw_conn *c);

static void on_written(uv_write_t *req, int status)
{
    struct raw_conn *c = req->data;
    c->writing = false;
    mb_buf_reset(&c->inflight);
    if (c->state == RS_CLOSED)
        return;
    if (status < 0) {
        mb_debug(&c->rs->r->log, "rawsocket write failed: %s", uv_strerror(status));
        close_now(c);
        return;
    }
    flush(c);
    if (c->s && c->state != RS_CLOSED)
        mb_session_drained(c->s);
}

static void flush(struct raw_conn *c)
{
    if (c->writing || c->state == RS_CLOSED)
        return;
    if (c->out.len > 0) {
        uv_buf_t b = uv_buf_init(mb_buf_data(&c->out), (unsigned)c->out.len);
        int n = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
        if (n > 0)
            mb_buf_consume(&c->out, (size_t)n);
        else if (n < 0 && n != UV_EAGAIN) {
            close_now(c);
            return;
        }
    }
    if (c->out.len > 0) {
        /* the rest goes from a buffer of its own so the queue can grow while it is written */
        struct mb_buf t = c->inflight;
        c->inflight = c->out;
        c->out = t;
        uv_buf_t b = uv_buf_init(mb_buf_data(&c->inflight), (unsigned)c->inflight.len);
        c->wreq.data = c;
        if (uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &b, 1, on_written) < 0) {
            close_now(c);
            return;
        }
        c->writing = true;
        return;
    }
    mb_buf_shrink(&c->out, 1 << 16);
    c->last_tx = mb_router_now_ms(c->rs->r);
    if (c->state == RS_CLOSING)
        close_now(c);
}

static void put_frame(struct raw_conn *c, int type, const char *data, size_t len)
{
    char *dst = mb_buf_reserve(&c->out, 4 + len);
    if (!dst) {
        close_now(c);
        return;
    }
    dst[0] = (char)type;
    dst[1] = (char)((len >> 16) & 0xff);
    dst[2] = (char)((len >> 8) & 0xff);
    dst[3] = (char)(len & 0xff);
    memcpy(dst + 4, data, len);
    mb_buf_commit(&c->out, 4 + len);
    mark_dirty(c);
}

static void rs_send(void *conn, const char *data, size_t len)
{
    struct raw_conn *c = conn;
    if (c->state != RS_OPEN)
        return;
    if (len > c->peer_max) {
        mb_warn(&c->rs->r->log, "session %llu: message of %zu bytes exceeds the peer's RawSocket "
                "maximum of %u: not sent", (unsigned long long)(c->s ? c->s->id : 0), len, c->peer_max);
        if (len > 3 && memcmp(data, "[2,", 3) == 0 && c->s) {
            /* a WELCOME the peer cannot take: no session can work, say why instead */
            char abort[300];
            int n = snprintf(abort, sizeof abort, "[3,{\"message\":\"WELCOME of %zu bytes exceeds this "
                             "client's RawSocket maximum message length of %u bytes\"},"
                             "\"wamp.error.protocol_violation\"]", len, c->peer_max);
            if (n > 0 && (size_t)n <= c->peer_max)
                put_frame(c, RS_MSG, abort, (size_t)n);
            mb_session_close(c->s, 1000, "welcome too long", true);
        }
        return;
    }
    put_frame(c, RS_MSG, data, len);
}

static size_t rs_queued(void *conn)
{
    struct raw_conn *c = conn;
    return c->out.len + c->inflight.len;
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf);
static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf);

static void rs_set_reading(void *conn, bool on)
{
    struct raw_conn *c = conn;
    if (c->state == RS_CLOSED || c->reading == on)
        return;
    c->reading = on;
    if (on)
        uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    else
        uv_read_stop((uv_stream_t *)&c->tcp);
}

static void rs_close(void *conn, int code, const char *reason, bool flush_first)
{
    (void)code;
    (void)reason;
    struct raw_conn *c = conn;
    if (c->state == RS_CLOSED)
        return;
    rs_set_reading(c, false);
    if (!flush_first || (c->out.len == 0 && !c->writing)) {
        close_now(c);
        return;
    }
    c->state = RS_CLOSING;
    c->closing_since = mb_router_now_ms(c->rs->r);
    mark_dirty(c);
}

static void handshake_fail(struct raw_conn *c, int code, const char *why)
{
    mb_info(&c->rs->r->log, "rawsocket handshake refused (%s)", why);
    char reply[4] = { 0x7f, (char)(code << 4), 0, 0 };
    mb_buf_append(&c->out, reply, 4);
    c->state = RS_OPEN; /* so that rs_close flushes the reply */
    rs_close(c, 0, NULL, true);
}

/* Returns false if the connection is being closed. */
static bool handshake(struct raw_conn *c)
{
    const unsigned char *h = (const unsigned char *)mb_buf_data(&c->in);
    if (h[0] != 0x7f) {
        mb_info(&c->rs->r->log, "rawsocket: not a RawSocket handshake (first byte 0x%02x): closed", h[0]);
        close_now(c);
        return false;
    }
    if (h[2] != 0 || h[3] != 0) {
        handshake_fail(c, RS_ERR_RESERVED, "reserved bytes set");
        return false;
    }
    if ((h[1] & 0x0f) != RS_SER_JSON) {
        handshake_fail(c, RS_ERR_SERIALIZER, "serializer not supported, only JSON (1)");
        return false;
    }
    c->peer_max = 1u << (9 + (h[1] >> 4));
    mb_buf_consume(&c->in, 4);
    char reply[4] = { 0x7f, (char)((c->rs->len_exp << 4) | RS_SER_JSON), 0, 0 };
    mb_buf_append(&c->out, reply, 4);
    mark_dirty(c);
    char peer[64];
    mb_peer_name(&c->tcp, peer, sizeof peer);
    c->s = mb_session_new(c->rs->r, &rawsocket_transport, c, peer);
    if (!c->s) {
        close_now(c);
        return false;
    }
    c->state = RS_OPEN;
    return true;
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    (void)hint;
    struct raw_conn *c = h->data;
    /* a connection holding part of a frame reads after it; the others share rs->rbuf, so an
     * idle connection costs no input buffer */
    char *p = c->in.len ? mb_buf_reserve(&c->in, READ_CHUNK) : c->rs->rbuf;
    *buf = uv_buf_init(p, p ? READ_CHUNK : 0);
}

/* Handles what c->in holds: the handshake, then every complete frame. */
static void parse(struct raw_conn *c)
{
    struct mb_router *r = c->rs->r;
    if (c->state == RS_HANDSHAKE && (c->in.len < 4 || !handshake(c)))
        return;
    while (c->state == RS_OPEN && c->in.len >= 4) {
        const unsigned char *h = (const unsigned char *)mb_buf_data(&c->in);
        size_t len = ((size_t)h[1] << 16) | ((size_t)h[2] << 8) | h[3];
        int type = h[0] & 0x07;
        if ((h[0] & 0xf8) || type > RS_PONG) {
            mb_warn(&r->log, "session %llu (%s): RawSocket frame with reserved bits or unknown "
                    "type 0x%02x: closed", (unsigned long long)(c->s ? c->s->id : 0),
                    c->s ? c->s->peer : "?", h[0]);
            mb_session_close(c->s, 1002, "bad frame", false);
            rs_set_reading(c, false);
            return;
        }
        if (len > r->cfg->max_message_size) {
            mb_warn(&r->log, "session %llu (%s): message of %zu bytes exceeds max_message_size %zu: "
                    "closed", (unsigned long long)c->s->id, c->s->peer, len, r->cfg->max_message_size);
            mb_session_close(c->s, 1009, "message too big", false);
            rs_set_reading(c, false);
            return;
        }
        if (c->in.len < 4 + len)
            break;
        const char *payload = (const char *)h + 4;
        if (type == RS_MSG)
            mb_session_receive(c->s, payload, len);
        else if (type == RS_PING)
            put_frame(c, RS_PONG, payload, len);
        mb_buf_consume(&c->in, 4 + len);
    }
}

static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
    struct raw_conn *c = st->data;
    struct mb_router *r = c->rs->r;
    if (n < 0) {
        if (n != UV_EOF)
            mb_debug(&r->log, "rawsocket read: %s", uv_strerror((int)n));
        close_now(c);
        return;
    }
    c->last_rx = mb_router_now_ms(r);
    mb_router_busy_poll(r);
    c->ping_sent = 0; /* anything from the peer proves it is alive */
    if (buf->base != c->rs->rbuf) { /* after a partial frame the connection keeps */
        mb_buf_commit(&c->in, (size_t)n);
        parse(c);
        if (c->in.len == 0)
            mb_buf_shrink(&c->in, 0);
        return;
    }
    /* parse in the shared buffer; keep only what is left of a partial frame */
    c->in = (struct mb_buf){ .mem = c->rs->rbuf - MB_BUF_HEADROOM, .len = (size_t)n, .cap = READ_CHUNK };
    parse(c);
    struct mb_buf view = c->in;
    c->in = (struct mb_buf){ 0 };
    if (view.len > 0 && c->state != RS_CLOSED && mb_buf_append(&c->in, mb_buf_data(&view), view.len) < 0)
        close_now(c);
}

static void on_connection(uv_stream_t *server, int status)
{
    struct mb_rawsocket *rs = server->data;
    if (status < 0)
        return;
    struct raw_conn *c = calloc(1, sizeof *c);
    if (!c)
        return;
    c->rs = rs;
    uv_tcp_init(rs->r->loop, &c->tcp);
    c->tcp.data = c;
    if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0) {
        c->state = RS_CLOSED;
        uv_close((uv_handle_t *)&c->tcp, on_closed);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    c->last_rx = mb_router_now_ms(rs->r);
    c->next = rs->conns;
    if (rs->conns)
        rs->conns->prev = c;
    rs->conns = c;
    rs_set_reading(c, true);
}

int mb_rawsocket_start(struct mb_router *r)
{
    struct mb_rawsocket *rs = calloc(1, sizeof *rs);
    char *rmem = malloc(MB_BUF_HEADROOM + READ_CHUNK);
    if (!rs || !rmem) {
        free(rs);
        free(rmem);
        return -1;
    }
    rs->rbuf = rmem + MB_BUF_HEADROOM;
    rs->r = r;
    rs->len_exp = 0;
    while (rs->len_exp < 15 && (1ull << (9 + rs->len_exp)) < r->cfg->max_message_size)
        rs->len_exp++;
    rs->listener.data = rs;
    r->raw = rs;
    if (mb_listen_tcp(r, &rs->listener, r->cfg->raw_host, r->cfg->raw_port, on_connection,
                      "rawsocket", NULL) < 0)
        return -1;
    rs->listener.data = rs;
    rs->listening = true;
    return 0;
}

/* Called at the router's safe point: one flush per dirty connection per loop turn. */
void mb_rawsocket_flush(struct mb_router *r)
{
    struct mb_rawsocket *rs = r->raw;
    if (!rs)
        return;
    while (rs->dirty) {
        struct raw_conn *c = rs->dirty;
        rs->dirty = c->next_dirty;
        c->dirty = false;
        flush(c);
    }
}

/* Called from the router tick: closing connections whose peer does not read are cut; silent
 * peers are pinged, and dropped if they do not answer in time. */
void mb_rawsocket_sweep(struct mb_router *r, uint64_t now_ms)
{
    struct mb_rawsocket *rs = r->raw;
    if (!rs)
        return;
    /* a peer that has not finished its handshake cannot be pinged: it gets as long as a pinged one */
    uint64_t handshake_ms = (uint64_t)((r->cfg->ping_interval + r->cfg->ping_timeout) * 1000);
    for (struct raw_conn *c = rs->conns, *next; c; c = next) {
        next = c->next;
        if (c->state == RS_CLOSING && now_ms - c->closing_since > CLOSE_DEADLINE_MS) {
            close_now(c);
        } else if (c->state == RS_HANDSHAKE && now_ms - c->last_rx > handshake_ms) {
            mb_info(&r->log, "rawsocket: no handshake within %.1f s: closed", handshake_ms / 1000.0);
            close_now(c);
        } else if (c->state == RS_OPEN && c->s && r->cfg->ping_rawsocket &&
                   mb_session_liveness(c->s, now_ms, c->last_rx, &c->ping_sent)) {
            put_frame(c, RS_PING, "moonbar", 7);
        } else if (!c->writing && c->out.len == 0 && c->out.mem && now_ms - c->last_tx > IDLE_BUFFER_MS) {
            mb_buf_shrink(&c->out, 0); /* an idle session keeps no buffers */
            mb_buf_shrink(&c->inflight, 0);
            r->released_buffers++;
        }
    }
}

void mb_rawsocket_stop_listening(struct mb_router *r)
{
    struct mb_rawsocket *rs = r->raw;
    if (rs && rs->listening) {
        rs->listening = false;
        uv_close((uv_handle_t *)&rs->listener, NULL);
    }
}

void mb_rawsocket_close_all(struct mb_router *r)
{
    struct mb_rawsocket *rs = r->raw;
    while (rs && rs->conns)
        close_now(rs->conns);
}

void mb_rawsocket_free(struct mb_router *r)
{
    if (r->raw)
        free(r->raw->rbuf - MB_BUF_HEADROOM);
    free(r->raw);
    r->raw = NULL;
}
