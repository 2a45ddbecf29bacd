/* RawSocket transport (WAMP over a byte stream): 4-byte handshake, then frames of a 4-byte
 * header (type in the low 3 bits, 24-bit big-endian length) and a payload. Serializers JSON (1),
 * MessagePack (2) and CBOR (3): the session decodes per s->ser. Runs on mb_conn (TCP or Unix,
 * with or without TLS): one mb_listener per rawsocket listener of the config. The connection
 * layer batches the writes; this file keeps only each connection's partial frame. */
#include "mb_conn.h"
#include "mb_rawsocket_frame.h"
#include "mb_session.h"
#include "mb_transport.h"

#include <stdlib.h>
#include <string.h>

enum { RS_HANDSHAKE, RS_OPEN, RS_CLOSING };

struct raw_listener {
    struct mb_listener l;
    size_t max_message_size;
    uint8_t len_exp; /* our announced maximum: 2^(9+len_exp) */
};

struct mb_rawsocket {
    struct raw_listener **ls;
    size_t n;
};

struct raw_conn {
    struct mb_conn *c;
    struct raw_listener *rl;
    struct mb_session *s;
    int state;
    uint32_t peer_max;  /* longest message the peer accepts */
    struct mb_buf in;   /* a partial frame */
    uint64_t ping_sent; /* ms: when moonbar pinged it, 0 if no ping is waiting */
};

static void rs_send(void *conn, const char *data, size_t len);
static size_t rs_queued(void *conn);
static void rs_set_reading(void *conn, bool on);
static void rs_resume(void *conn);
static void rs_close(void *conn, int code, const char *reason, bool flush);

static int rs_channel_binding(void *conn, const char *type, unsigned char out[32])
{
    return mb_conn_channel_binding(((struct raw_conn *)conn)->c, type, out);
}

static const struct mb_transport rawsocket_transport = {
    .name = "rawsocket", .send = rs_send, .queued = rs_queued,
    .set_reading = rs_set_reading, .close = rs_close, .channel_binding = rs_channel_binding,
    .resume = rs_resume,
};

static struct mb_router *router_of(const struct raw_conn *rc)
{
    return rc->rl->l.r;
}

static void put_frame(struct raw_conn *rc, int type, const char *data, size_t len)
{
    char *dst = mb_conn_reserve(rc->c, 4 + len);
    if (!dst)
        return;
    dst[0] = (char)type;
    dst[1] = (char)((len >> 16) & 0xff);
    dst[2] = (char)((len >> 8) & 0xff);
    dst[3] = (char)(len & 0xff);
    if (len)
        memcpy(dst + 4, data, len);
    mb_conn_commit(rc->c, 4 + len);
}

static void rs_send(void *conn, const char *data, size_t len)
{
    struct raw_conn *rc = conn;
    if (rc->state != RS_OPEN)
        return;
    if (len > rc->peer_max) {
        mb_warn(&router_of(rc)->log, "session %llu: message of %zu bytes exceeds the peer's RawSocket "
                "maximum of %u: not sent", (unsigned long long)(rc->s ? rc->s->id : 0), len, rc->peer_max);
        if (len > 3 && memcmp(data, "[2,", 3) == 0 && rc->s) {
            /* a WELCOME the peer cannot take: no session can work, say why instead */
            char abort[300];
            int n = snprintf(abort, sizeof abort, "[3,{\"message\":\"WELCOME of %zu bytes exceeds this "
                             "client's RawSocket maximum message length of %u bytes\"},"
                             "\"wamp.error.protocol_violation\"]", len, rc->peer_max);
            if (n > 0 && (size_t)n <= rc->peer_max)
                put_frame(rc, MB_RS_MSG, abort, (size_t)n);
            mb_session_close(rc->s, 1000, "welcome too long", true);
        }
        return;
    }
    put_frame(rc, MB_RS_MSG, data, len);
}

static size_t rs_queued(void *conn)
{
    struct raw_conn *rc = conn;
    return mb_conn_queued(rc->c);
}

static void rs_set_reading(void *conn, bool on)
{
    struct raw_conn *rc = conn;
    mb_conn_set_reading(rc->c, on);
}

static void rs_close(void *conn, int code, const char *reason, bool flush_first)
{
    (void)code;
    (void)reason;
    struct raw_conn *rc = conn;
    rc->state = RS_CLOSING;
    mb_conn_close(rc->c, flush_first);
}

static void handshake_fail(struct raw_conn *rc, int code, const char *why)
{
    mb_info(&router_of(rc)->log, "rawsocket handshake from %s refused (%s)", rc->c->peer, why);
    char reply[4] = { MB_RS_MAGIC, (char)(code << 4), 0, 0 };
    mb_conn_write(rc->c, reply, 4);
    rc->state = RS_CLOSING;
    mb_conn_close(rc->c, true);
}

/* The 4 bytes at h: false if the connection is being closed. */
static bool handshake(struct raw_conn *rc, const unsigned char *h)
{
    struct mb_router *r = router_of(rc);
    int ser = 0;
    switch (mb_rs_handshake_check(h, &ser, &rc->peer_max)) {
    case MB_RS_HS_NOT_RAWSOCKET:
        mb_info(&r->log, "rawsocket: %s: not a RawSocket handshake (first byte 0x%02x): closed", rc->c->peer, h[0]);
        rc->state = RS_CLOSING;
        mb_conn_close(rc->c, false);
        return false;
    case MB_RS_HS_RESERVED:
        handshake_fail(rc, MB_RS_ERR_RESERVED, "reserved bytes set");
        return false;
    case MB_RS_HS_SERIALIZER:
        handshake_fail(rc, MB_RS_ERR_SERIALIZER, "serializer not supported: JSON (1), MessagePack (2), CBOR (3)");
        return false;
    }
    char reply[4] = { MB_RS_MAGIC, (char)((rc->rl->len_exp << 4) | ser), 0, 0 };
    mb_conn_write(rc->c, reply, 4);
    rc->s = mb_session_new(r, &rawsocket_transport, rc, rc->c->peer);
    if (!rc->s) {
        rc->state = RS_CLOSING;
        mb_conn_close(rc->c, false);
        return false;
    }
    rc->s->ser = ser - 1; /* enum mb_ser: 0 JSON, 1 MessagePack, 2 CBOR */
    rc->s->listener = rc->rl->l.cfg;
    rc->state = RS_OPEN;
    mb_conn_ready(rc->c);
    return true;
}

/* Handles the bytes at p: the handshake, then every complete frame. Returns how many were
 * used (the rest is a partial frame). */
static size_t parse(struct raw_conn *rc, const char *p, size_t n)
{
    struct mb_router *r = router_of(rc);
    size_t used = 0;
    if (rc->state == RS_HANDSHAKE) {
        if (n < 4 || !handshake(rc, (const unsigned char *)p))
            return n < 4 ? 0 : n;
        used = 4;
    }
    while (rc->state == RS_OPEN) {
        struct mb_rs_frame f;
        int got = mb_rs_next_frame(p + used, n - used, rc->rl->max_message_size, &f);
        if (got == MB_RS_NEED_MORE)
            break;
        if (got == MB_RS_BAD_FRAME) {
            mb_warn(&r->log, "session %llu (%s): RawSocket frame with reserved bits or unknown "
                    "type 0x%02x: closed", (unsigned long long)rc->s->id, rc->s->peer, f.type);
            mb_session_close(rc->s, 1002, "bad frame", false);
            mb_conn_set_reading(rc->c, false);
            return n;
        }
        if (got == MB_RS_TOO_BIG) {
            mb_warn(&r->log, "session %llu (%s): message of %zu bytes exceeds max_message_size %zu: "
                    "closed", (unsigned long long)rc->s->id, rc->s->peer, f.len, rc->rl->max_message_size);
            r->limits_stats.messages_too_large++;
            mb_session_close(rc->s, 1009, "message too big", false);
            mb_conn_set_reading(rc->c, false);
            return n;
        }
        if (f.type == MB_RS_MSG)
            mb_session_receive(rc->s, f.payload, f.len);
        else if (f.type == MB_RS_PING)
            put_frame(rc, MB_RS_PONG, f.payload, f.len);
        used += 4 + f.len;
        if (mb_session_throttled(rc->s))
            break; /* limits.max_message_rate: the rest waits in rc->in for a token */
    }
    return rc->state == RS_OPEN || rc->state == RS_HANDSHAKE ? used : n;
}

static void on_data(struct mb_conn *c, const char *data, size_t len)
{
    struct raw_conn *rc = c->user;
    rc->ping_sent = 0; /* anything from the peer proves it is alive */
    if (rc->s && mb_session_throttled(rc->s)) { /* read before the pause took effect */
        if (mb_buf_append(&rc->in, data, len) < 0)
            mb_conn_close(c, false);
        return;
    }
    if (rc->in.len == 0) {
        /* parse in the shared read buffer; keep only what is left of a partial frame */
        size_t used = parse(rc, data, len);
        if (used < len && mb_buf_append(&rc->in, data + used, len - used) < 0)
            mb_conn_close(c, false);
        return;
    }
    if (mb_buf_append(&rc->in, data, len) < 0) {
        mb_conn_close(c, false);
        return;
    }
    mb_buf_consume(&rc->in, parse(rc, mb_buf_data(&rc->in), rc->in.len));
    if (rc->in.len == 0)
        mb_buf_shrink(&rc->in, 0);
}

static void rs_resume(void *conn)
{
    struct raw_conn *rc = conn;
    if (rc->in.len == 0 || rc->state != RS_OPEN)
        return;
    mb_buf_consume(&rc->in, parse(rc, mb_buf_data(&rc->in), rc->in.len));
    if (rc->in.len == 0)
        mb_buf_shrink(&rc->in, 0);
}

static void on_drain(struct mb_conn *c)
{
    struct raw_conn *rc = c->user;
    if (rc->s)
        mb_session_drained(rc->s);
}

static void on_sweep(struct mb_conn *c, uint64_t now_ms)
{
    struct raw_conn *rc = c->user;
    struct mb_router *r = router_of(rc);
    if (rc->state == RS_OPEN && rc->s && r->cfg->ping_rawsocket &&
        mb_session_liveness(rc->s, now_ms, c->last_rx, &rc->ping_sent))
        put_frame(rc, MB_RS_PING, "moonbar", 7);
}

static void on_close(struct mb_conn *c)
{
    struct raw_conn *rc = c->user;
    if (rc->s)
        mb_session_free(rc->s);
    mb_buf_free(&rc->in);
    free(rc);
}

static const struct mb_conn_handler raw_handler = {
    .on_data = on_data, .on_drain = on_drain, .on_close = on_close, .on_sweep = on_sweep,
};

static void on_accept(struct mb_listener *l, struct mb_conn *c)
{
    struct raw_conn *rc = calloc(1, sizeof *rc);
    if (!rc) {
        mb_conn_close(c, false);
        return;
    }
    rc->c = c;
    rc->rl = (struct raw_listener *)l;
    c->user = rc;
    c->h = &raw_handler;
}

static void free_listener(struct mb_listener *l)
{
    struct mb_router *r = l->r;
    struct mb_rawsocket *rs = r->raw;
    for (size_t i = 0; rs && i < rs->n; i++)
        if (rs->ls[i] == (struct raw_listener *)l)
            rs->ls[i] = NULL;
    free(l);
    if (!rs)
        return;
    bool left = false;
    for (size_t i = 0; i < rs->n; i++)
        left = left || rs->ls[i];
    if (!left) {
        free(rs->ls);
        free(rs);
        r->raw = NULL;
    }
}

int mb_rawsocket_start(struct mb_router *r)
{
    const struct mb_config *cfg = r->cfg;
    size_t n = 0;
    for (size_t i = 0; i < cfg->nlisteners; i++)
        n += cfg->listeners[i].kind == MB_LISTEN_RAWSOCKET;
    if (n == 0)
        return 0;
    struct mb_rawsocket *rs = calloc(1, sizeof *rs);
    if (!rs || !(rs->ls = calloc(n, sizeof *rs->ls))) {
        free(rs);
        return -1;
    }
    r->raw = rs;
    for (size_t i = 0; i < cfg->nlisteners; i++) {
        const struct mb_listener_config *lc = &cfg->listeners[i];
        if (lc->kind != MB_LISTEN_RAWSOCKET)
            continue;
        struct raw_listener *rl = calloc(1, sizeof *rl);
        if (!rl)
            return -1;
        rs->ls[rs->n++] = rl;
        rl->l.on_free = free_listener;
        rl->max_message_size = lc->max_message_size ? lc->max_message_size : cfg->max_message_size;
        while (rl->len_exp < 15 && (1ull << (9 + rl->len_exp)) < rl->max_message_size)
            rl->len_exp++;
        if (mb_listener_start(r, &rl->l, lc, on_accept, rs) < 0)
            return -1;
    }
    return 0;
}
