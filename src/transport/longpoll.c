/* WAMP over HTTP long-poll (mb_longpoll.h): the routes of each longpoll path, one transport per
 * ID carrying one session, and the answers to the requests it holds.
 *
 * Re-entrancy: answering an exchange can make its connection read the requests pipelined
 * behind it, which calls on_request again. So the transport callbacks the session calls (send,
 * close, set_reading) never answer anything: they mark the transport ready, and the idle
 * handle answers at the start of the next loop turn, outside every broker or dealer loop.
 * Request handlers answer their own exchange and, last, the exchanges their change ends (a
 * receive superseded by a newer one). A transport's memory is freed only in the idle callback. */
#include "mb_longpoll.h"
#include "mb_crypto.h"
#include "mb_http.h"
#include "mb_httpd.h"
#include "mb_session.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LP_ID_BYTES 16
#define LP_ID_LEN MB_LP_ID_LEN /* 2 * LP_ID_BYTES */
#define LP_MAX_HELD_SENDS 16 /* sends waiting while the session does not read: more get 503 */
#define LP_HDR_MAX 600       /* the header lines of one answer (CORS, Cache-Control) */
#define LP_RS 0x1e           /* JSON batches: the record separator after each message (spec) */
#define LP_RS_AUTOBAHN 0x18  /* ... and what autobahn-python writes ('\30' read as octal) */

struct mb_longpoll;
struct lp_transport;

struct lp_path {
    struct mb_longpoll *lp;
    const struct mb_http_path_config *cfg;
    char *base;       /* the configured path without its trailing '/' ("/lp") */
    size_t base_len;
    int route_prefix, route_exact;
    char *realm[1];   /* lc[i].realms: the path's realm, when it names one */
    /* What its sessions see as their listener (realm restriction, the meta API's
     * transport.tls): [0] plain HTTP, [1] HTTPS. */
    struct mb_listener_config lc[2];
};

/* A send waiting for the session to read again (flow control). */
struct lp_held {
    struct lp_transport *t;
    struct mb_http_exchange *ex;
    const char *body; /* the exchange's: valid until it is answered or abandoned */
    size_t len;
    struct lp_held *next;
    char hdr[LP_HDR_MAX];
};

struct lp_transport {
    struct mb_longpoll *lp;
    struct lp_path *path;
    char id[LP_ID_LEN + 1];
    char addr[64];          /* the peer's address without its port (the per-address limit) */
    struct mb_session *s;   /* NULL once freed */
    int ser;                /* enum mb_ser */
    bool batched;
    bool listed;            /* in lp->by_id: its requests are answered */
    bool closed;            /* nothing more goes in or out; what is queued may still be fetched */
    bool close_called;      /* the session closed it: mb_session_free is due */
    bool reading;           /* flow control: sends are delivered (else held) */
    bool ready;             /* in lp->ready */
    struct mb_buf q;        /* messages for the client: each a 4-byte big-endian length, then it */
    size_t qmsgs, qbytes;
    struct mb_http_exchange *rx; /* the receive held open */
    uint64_t rx_since;
    char rx_hdr[LP_HDR_MAX];
    uint64_t last_seen;     /* ms: its last request, or when its held receive ended */
    struct lp_held *held, **held_tail;
    size_t nheld;
    struct lp_transport *next_ready;
    struct lp_transport *prev, *next; /* lp->all */
};

struct mb_longpoll {
    struct mb_router *r;
    struct lp_path *paths;
    size_t npaths;
    struct mb_map by_id;       /* listed transports: id → struct lp_transport */
    size_t nlisted;
    struct lp_transport *all;  /* every transport, listed or lingering */
    struct lp_transport *ready, **ready_tail;
    uv_idle_t idle;            /* runs while transports are ready */
    bool idle_on;
    struct mb_buf out;         /* the body of a receive's answer */
};

static void lp_send(void *conn, const char *data, size_t len);
static size_t lp_queued(void *conn);
static void lp_set_reading(void *conn, bool on);
static void lp_close(void *conn, int code, const char *reason, bool flush);

static const struct mb_transport longpoll_transport = {
    .name = "longpoll", .send = lp_send, .queued = lp_queued, .set_reading = lp_set_reading,
    .close = lp_close,
};

static const struct {
    const char *name;
    int ser;
    bool batched;
    const char *mime;
} protocols[] = {
    { "wamp.2.json", MB_SER_JSON, false, "application/json" },
    { "wamp.2.json.batched", MB_SER_JSON, true, "application/json" },
    { "wamp.2.msgpack", MB_SER_MSGPACK, false, "application/x-msgpack" },
    { "wamp.2.msgpack.batched", MB_SER_MSGPACK, true, "application/x-msgpack" },
    { "wamp.2.cbor", MB_SER_CBOR, false, "application/cbor" },
    { "wamp.2.cbor.batched", MB_SER_CBOR, true, "application/cbor" },
};
#define NPROTOCOLS (sizeof protocols / sizeof protocols[0])

const char *mb_lp_protocol(int i, int *ser, bool *batched)
{
    if (i < 0 || (size_t)i >= NPROTOCOLS)
        return NULL;
    *ser = protocols[i].ser;
    *batched = protocols[i].batched;
    return protocols[i].name;
}

static const char *protocol_name(const struct lp_transport *t)
{
    for (size_t i = 0; i < NPROTOCOLS; i++)
        if (protocols[i].ser == t->ser && protocols[i].batched == t->batched)
            return protocols[i].name;
    return "?";
}

static const char *mime_of(const struct lp_transport *t)
{
    for (size_t i = 0; i < NPROTOCOLS; i++)
        if (protocols[i].ser == t->ser)
            return protocols[i].mime;
    return "application/octet-stream";
}

static uint64_t now_ms(const struct mb_longpoll *lp)
{
    return mb_router_now_ms(lp->r);
}

static uint64_t secs_ms(double s)
{
    return (uint64_t)(s * 1000.0 + 0.5);
}

static unsigned long long session_id(const struct lp_transport *t)
{
    return t->s ? (unsigned long long)t->s->id : 0ull;
}

/* ---- the ready list and the idle handle ---------------------------------------------- */

static void on_idle(uv_idle_t *h);

static void make_ready(struct lp_transport *t)
{
    struct mb_longpoll *lp = t->lp;
    if (!t->ready) {
        t->ready = true;
        t->next_ready = NULL;
        *lp->ready_tail = t;
        lp->ready_tail = &t->next_ready;
    }
    if (!lp->idle_on) {
        lp->idle_on = true;
        uv_idle_start(&lp->idle, on_idle);
    }
}

static struct lp_transport *pop_ready(struct mb_longpoll *lp)
{
    struct lp_transport *t = lp->ready;
    if (!t)
        return NULL;
    lp->ready = t->next_ready;
    if (!lp->ready)
        lp->ready_tail = &lp->ready;
    t->ready = false;
    t->next_ready = NULL;
    return t;
}

static void drop_queue(struct lp_transport *t)
{
    mb_buf_free(&t->q);
    t->qmsgs = t->qbytes = 0;
}

/* Its ID stops working (later requests: 404); it is freed once nothing refers to it. */
static void unlist(struct lp_transport *t)
{
    if (!t->listed)
        return;
    mb_map_del_str(&t->lp->by_id, t->id, LP_ID_LEN);
    t->listed = false;
    t->lp->nlisted--;
    make_ready(t);
}

static void transport_free(struct lp_transport *t)
{
    struct mb_longpoll *lp = t->lp;
    if (t->prev)
        t->prev->next = t->next;
    else
        lp->all = t->next;
    if (t->next)
        t->next->prev = t->prev;
    drop_queue(t);
    free(t);
}

/* ---- answers ------------------------------------------------------------------------- */

/* The header lines every answer of this request carries: Cache-Control, and the CORS ones when
 * the path has cors set ("*": any origin, echoed because autobahn-js sends credentials, which a
 * literal "*" does not allow; else the origins listed, separated by spaces or commas). */
static void common_headers(const struct lp_path *p, const struct mb_http_request *req, char *out, size_t cap)
{
    int n = snprintf(out, cap, "Cache-Control: no-store, no-cache, must-revalidate, max-age=0\r\n");
    const char *cors = p->cfg->cors;
    if (!cors || n < 0 || (size_t)n >= cap)
        return;
    const struct mb_http_str *o = mb_http_header(req, "origin", 0);
    bool printable = o && o->n > 0 && o->n <= 200;
    for (size_t i = 0; printable && i < o->n; i++)
        printable = o->p[i] > 0x20 && o->p[i] < 0x7f;
    const char *allow = NULL;
    size_t allow_len = 0;
    if (strcmp(cors, "*") == 0) {
        if (printable) {
            allow = o->p;
            allow_len = o->n;
        } else {
            allow = "*";
            allow_len = 1;
        }
    } else {
        const char *first = NULL;
        size_t first_len = 0;
        for (const char *c = cors; *c;) {
            c += strspn(c, " ,");
            size_t k = strcspn(c, " ,");
            if (k && !first) {
                first = c;
                first_len = k;
            }
            if (k && printable && k == o->n && memcmp(c, o->p, k) == 0) {
                allow = c;
                allow_len = k;
            }
            c += k;
        }
        if (!allow) {
            allow = first;
            allow_len = first_len;
        }
    }
    if (!allow)
        return;
    snprintf(out + n, cap - (size_t)n, "Access-Control-Allow-Origin: %.*s\r\nAccess-Control-Allow-Credentials: "
             "true\r\nVary: Origin\r\n", (int)allow_len, allow);
}

/* a + b into out (cap bytes), cut if too long (never: the parts are bounded). */
static void join(char *out, size_t cap, const char *a, const char *b)
{
    size_t na = strnlen(a, cap - 1), nb = strnlen(b, cap - 1 - na);
    memcpy(out, a, na);
    memcpy(out + na, b, nb);
    out[na + nb] = '\0';
}

/* A text answer; extra: one more header line (or ""). */
static void reply_text(struct mb_http_exchange *ex, const char *hdr, const char *extra, int status, const char *text)
{
    char h[2 * LP_HDR_MAX], e[LP_HDR_MAX];
    join(e, sizeof e, extra, "Content-Type: text/plain; charset=utf-8\r\n");
    join(h, sizeof h, hdr, e);
    mb_http_reply(ex, status, h, text, strlen(text));
}

static void reply_empty(struct mb_http_exchange *ex, const char *hdr)
{
    mb_http_reply(ex, 204, hdr, "", 0);
}

/* Answers the held receive with what is queued: one message (unbatched protocols) or all of
 * them (batched). */
static void answer_receive(struct lp_transport *t)
{
    struct mb_longpoll *lp = t->lp;
    struct mb_http_exchange *ex = t->rx;
    t->rx = NULL;
    t->last_seen = now_ms(lp);
    mb_buf_reset(&lp->out);
    const unsigned char *p = (const unsigned char *)mb_buf_data(&t->q);
    int rc = 0;
    if (!t->batched) {
        size_t n = ((size_t)p[0] << 24) | ((size_t)p[1] << 16) | ((size_t)p[2] << 8) | p[3];
        rc = mb_buf_append(&lp->out, p + 4, n);
        mb_buf_consume(&t->q, 4 + n);
        t->qmsgs--;
        t->qbytes -= n;
    } else if (t->ser == MB_SER_JSON) {
        for (size_t off = 0; rc == 0 && off < t->q.len;) {
            size_t n = ((size_t)p[off] << 24) | ((size_t)p[off + 1] << 16) | ((size_t)p[off + 2] << 8) | p[off + 3];
            char *dst = mb_buf_reserve(&lp->out, n + 1);
            if (!dst) {
                rc = -1;
                break;
            }
            memcpy(dst, p + off + 4, n);
            dst[n] = LP_RS;
            mb_buf_commit(&lp->out, n + 1);
            off += 4 + n;
        }
        mb_buf_reset(&t->q);
        t->qmsgs = t->qbytes = 0;
    } else { /* MessagePack and CBOR batches: the queue's own framing */
        rc = mb_buf_append(&lp->out, p, t->q.len);
        mb_buf_reset(&t->q);
        t->qmsgs = t->qbytes = 0;
    }
    if (t->qmsgs == 0)
        mb_buf_shrink(&t->q, 1 << 14);
    if (t->s)
        mb_session_drained(t->s); /* may resume reading: that only marks t ready */
    if (t->s && t->qmsgs == 0 && t->s->state == MB_S_LEAVING && lp->r->stopping) {
        /* the shutdown's GOODBYE is out: the client could not answer it (the listeners are
         * closed), so the session ends here instead of at the end of the grace */
        mb_session_close(t->s, 1001, "router is shutting down", true);
    }
    if (rc < 0) {
        reply_text(ex, t->rx_hdr, "", 500, "out of memory\n");
        return;
    }
    char h[2 * LP_HDR_MAX], ct[80];
    snprintf(ct, sizeof ct, "Content-Type: %s\r\n", mime_of(t));
    join(h, sizeof h, t->rx_hdr, ct);
    mb_http_reply(ex, 200, h, mb_buf_data(&lp->out), lp->out.len);
}

/* ---- the transport (struct mb_transport) -------------------------------------------- */

static void lp_send(void *conn, const char *data, size_t len)
{
    struct lp_transport *t = conn;
    if (t->closed || !t->s)
        return;
    const struct mb_http_path_config *pc = t->path->cfg;
    if (t->qmsgs && (t->qmsgs >= pc->queue_limit_messages || t->qbytes + len > pc->queue_limit_bytes)) {
        mb_warn(&t->lp->r->log, "session %llu (%s): slow consumer, %zu long-poll messages (%zu bytes) wait for a "
                "receive, over the path's queue_limit_messages %zu or queue_limit_bytes %zu: disconnecting",
                session_id(t), t->s->peer, t->qmsgs, t->qbytes, pc->queue_limit_messages, pc->queue_limit_bytes);
        mb_session_close(t->s, 1008, "slow consumer: long-poll queue overflow", false);
        return;
    }
    char *dst = mb_buf_reserve(&t->q, 4 + len);
    if (!dst || len > 0xffffffffu) {
        mb_error(&t->lp->r->log, "session %llu: out of memory for its long-poll queue: closed", session_id(t));
        mb_session_close(t->s, 1011, "out of memory", false);
        return;
    }
    dst[0] = (char)((len >> 24) & 0xff);
    dst[1] = (char)((len >> 16) & 0xff);
    dst[2] = (char)((len >> 8) & 0xff);
    dst[3] = (char)(len & 0xff);
    memcpy(dst + 4, data, len);
    mb_buf_commit(&t->q, 4 + len);
    t->qmsgs++;
    t->qbytes += len;
    if (t->rx)
        make_ready(t);
}

static size_t lp_queued(void *conn)
{
    return ((struct lp_transport *)conn)->qbytes;
}

static void lp_set_reading(void *conn, bool on)
{
    struct lp_transport *t = conn;
    t->reading = on;
    if (on && t->held)
        make_ready(t);
}

/* From the session's teardown (mb_session_reap): the session is freed in the idle callback.
 * With flush, what is queued (a GOODBYE, an ABORT) stays for the client's next receives. */
static void lp_close(void *conn, int code, const char *reason, bool flush)
{
    (void)code;
    (void)reason;
    struct lp_transport *t = conn;
    t->closed = true;
    t->close_called = true;
    if (!flush)
        drop_queue(t);
    make_ready(t);
}

/* ---- requests ------------------------------------------------------------------------ */

const char *mb_lp_each_message(int ser, bool batched, const char *body, size_t len,
                               bool (*fn)(void *, const char *, size_t), void *arg)
{
    if (len == 0)
        return "empty body: a send carries one WAMP message (or a batch of them)";
    if (!batched) {
        if (fn)
            fn(arg, body, len);
        return NULL;
    }
    if (ser == MB_SER_JSON) {
        size_t start = 0, count = 0;
        for (size_t i = 0; i < len; i++) {
            if (body[i] != LP_RS && body[i] != LP_RS_AUTOBAHN)
                continue;
            if (i == start)
                return "batch with an empty record (two separators in a row)";
            count++;
            if (fn && !fn(arg, body + start, i - start))
                return NULL;
            start = i + 1;
        }
        if (start < len)
            return "batch whose last message lacks its 0x1e terminator";
        return count ? NULL : "empty batch";
    }
    for (size_t off = 0; off < len;) {
        if (len - off < 4)
            return "batch with a truncated length prefix";
        const unsigned char *h = (const unsigned char *)body + off;
        size_t n = ((size_t)h[0] << 24) | ((size_t)h[1] << 16) | ((size_t)h[2] << 8) | h[3];
        if (n == 0)
            return "batch with an empty message";
        if (n > len - off - 4)
            return "batch message longer than the body";
        if (fn && !fn(arg, body + off + 4, n))
            return NULL;
        off += 4 + n;
    }
    return NULL;
}

static bool deliver_one(void *arg, const char *p, size_t n)
{
    struct lp_transport *t = arg;
    mb_session_receive(t->s, p, n);
    return t->s->state != MB_S_CLOSED;
}

/* Hands a well framed send body to the session and answers it: 204, or 400 when a message
 * broke the protocol (the session's ABORT waits for a receive). */
static void deliver(struct lp_transport *t, struct mb_http_exchange *ex, const char *hdr, const char *body,
                    size_t len)
{
    struct mb_session *s = t->s;
    if (t->closed || !s || s->state == MB_S_CLOSED) {
        reply_text(ex, hdr, "", 404, "transport closed\n");
        return;
    }
    mb_router_busy_poll(t->lp->r);
    mb_lp_each_message(t->ser, t->batched, body, len, deliver_one, t);
    if (s->state == MB_S_CLOSED && strcmp(s->close_reason, mb_reason_uri(MB_R_PROTOCOL_VIOLATION)) == 0)
        reply_text(ex, hdr, "", 400, "protocol violation: the session was aborted (its ABORT waits for a receive)\n");
    else
        reply_empty(ex, hdr);
}

static void held_abandoned(void *ctx)
{
    struct lp_held *h = ctx;
    struct lp_transport *t = h->t;
    for (struct lp_held **pp = &t->held; *pp; pp = &(*pp)->next)
        if (*pp == h) {
            *pp = h->next;
            break;
        }
    t->held_tail = &t->held;
    while (*t->held_tail)
        t->held_tail = &(*t->held_tail)->next;
    t->nheld--;
    t->last_seen = now_ms(t->lp);
    free(h);
    make_ready(t);
}

static void rx_abandoned(void *ctx)
{
    struct lp_transport *t = ctx;
    mb_debug(&t->lp->r->log, "session %llu: long-poll receive went away", session_id(t));
    t->rx = NULL;
    t->last_seen = now_ms(t->lp);
    make_ready(t);
}

static void on_send(struct lp_transport *t, struct mb_http_exchange *ex, const char *hdr, const char *body,
                    size_t len)
{
    if (t->closed || !t->s || t->s->state == MB_S_CLOSED) {
        reply_text(ex, hdr, "", 404, "transport closed\n");
        return;
    }
    const char *bad = mb_lp_each_message(t->ser, t->batched, body, len, NULL, NULL);
    if (bad) {
        char text[200];
        snprintf(text, sizeof text, "%s (%s)\n", bad, protocol_name(t));
        mb_info(&t->lp->r->log, "session %llu (%s): long-poll send refused: %s", session_id(t), t->s->peer, bad);
        reply_text(ex, hdr, "", 400, text);
        return;
    }
    if (t->reading && !t->held) {
        deliver(t, ex, hdr, body, len);
        return;
    }
    /* the session's outbound queue is over its limit: the send waits, in order */
    struct lp_held *h = t->nheld < LP_MAX_HELD_SENDS ? calloc(1, sizeof *h) : NULL;
    if (!h) {
        reply_text(ex, hdr, "", 503, "too many sends waiting: the session's outbound queue is full\n");
        return;
    }
    h->t = t;
    h->ex = ex;
    h->body = body;
    h->len = len;
    join(h->hdr, sizeof h->hdr, hdr, "");
    *t->held_tail = h;
    t->held_tail = &h->next;
    t->nheld++;
    mb_http_on_abandon(ex, held_abandoned, h);
}

static void on_receive(struct lp_transport *t, struct mb_http_exchange *ex, const char *hdr)
{
    struct mb_http_exchange *old = t->rx;
    char old_hdr[LP_HDR_MAX];
    if (old) { /* the newest poll is the live one: the older gets its empty answer */
        mb_http_on_abandon(old, NULL, NULL);
        memcpy(old_hdr, t->rx_hdr, sizeof old_hdr);
    }
    t->rx = ex;
    t->rx_since = now_ms(t->lp);
    join(t->rx_hdr, sizeof t->rx_hdr, hdr, "");
    mb_http_on_abandon(ex, rx_abandoned, t);
    if (t->qmsgs) {
        answer_receive(t);
    } else if (t->closed) {
        t->rx = NULL;
        unlist(t);
        reply_text(ex, hdr, "", 404, "transport closed\n");
    }
    if (old)
        reply_empty(old, old_hdr);
}

static void on_close_request(struct lp_transport *t, struct mb_http_exchange *ex, const char *hdr)
{
    if (!t->closed) {
        mb_debug(&t->lp->r->log, "session %llu (%s): long-poll transport closed by the client", session_id(t),
                 t->s ? t->s->peer : "?");
        t->closed = true;
        drop_queue(t);
        if (t->s)
            mb_session_close(t->s, 1000, "long-poll transport closed by the client", false);
    }
    unlist(t);
    reply_empty(ex, hdr);
}

/* "127.0.0.1:5000" → "127.0.0.1", "::1:5000" → "::1"; "unix:/path" stays. */
static void address_of(const char *peer, char *out, size_t cap)
{
    const char *colon = strncmp(peer, "unix:", 5) == 0 ? NULL : strrchr(peer, ':');
    size_t n = colon ? (size_t)(colon - peer) : strlen(peer);
    snprintf(out, cap, "%.*s", (int)n, peer);
}

int mb_lp_open_protocol(const char *body, size_t len, const char **why)
{
    json_error_t jerr;
    json_t *root = json_loadb(body, len, 0, &jerr);
    json_t *list = json_object_get(root, "protocols");
    const char *bad = !root ? "the body is not JSON: send {\"protocols\": [\"wamp.2.json\"]}\n"
                      : !json_is_object(root) ? "the body must be a JSON object: {\"protocols\": [\"wamp.2.json\"]}\n"
                      : !json_is_array(list) ? "\"protocols\" must be a list like [\"wamp.2.json\"]\n" : NULL;
    int chosen = -1;
    for (size_t i = 0; !bad && chosen < 0 && i < json_array_size(list); i++) {
        const char *name = json_string_value(json_array_get(list, i));
        for (size_t k = 0; name && chosen < 0 && k < NPROTOCOLS; k++)
            if (strcmp(name, protocols[k].name) == 0)
                chosen = (int)k;
    }
    json_decref(root);
    if (!bad && chosen < 0)
        bad = "no common protocol: moonbar speaks wamp.2.json, wamp.2.msgpack, wamp.2.cbor and their .batched "
              "forms\n";
    *why = bad;
    return bad ? -1 : chosen;
}

static void on_open(struct lp_path *p, struct mb_http_exchange *ex, const char *hdr, const char *body, size_t len)
{
    struct mb_longpoll *lp = p->lp;
    struct mb_router *r = lp->r;
    if (r->stopping) {
        reply_text(ex, hdr, "", 503, "the router is shutting down\n");
        return;
    }
    const char *bad;
    int chosen = mb_lp_open_protocol(body, len, &bad);
    if (chosen < 0) {
        reply_text(ex, hdr, "", 400, bad);
        return;
    }
    char addr[64];
    address_of(mb_http_peer(ex), addr, sizeof addr);
    size_t same = 0;
    for (struct lp_transport *t = lp->all; t; t = t->next)
        same += t->listed && strcmp(t->addr, addr) == 0;
    if (lp->nlisted >= MB_LONGPOLL_MAX_TOTAL || same >= MB_LONGPOLL_MAX_PER_ADDRESS) {
        bool total = lp->nlisted >= MB_LONGPOLL_MAX_TOTAL;
        mb_warn(&r->log, "long-poll open from %s refused: %zu transports open %s (limit %d)", mb_http_peer(ex),
                total ? lp->nlisted : same, total ? "in total" : "from that address",
                total ? MB_LONGPOLL_MAX_TOTAL : MB_LONGPOLL_MAX_PER_ADDRESS);
        reply_text(ex, hdr, "", total ? 503 : 429, total ? "too many long-poll transports open\n"
                                                     : "too many long-poll transports open from your address\n");
        return;
    }
    struct lp_transport *t = calloc(1, sizeof *t);
    if (!t) {
        reply_text(ex, hdr, "", 500, "out of memory\n");
        return;
    }
    t->lp = lp;
    t->path = p;
    t->ser = protocols[chosen].ser;
    t->batched = protocols[chosen].batched;
    t->reading = true;
    t->held_tail = &t->held;
    t->last_seen = now_ms(lp);
    snprintf(t->addr, sizeof t->addr, "%s", addr);
    do { /* 128 random bits: unguessable, and never one in use */
        unsigned char raw[LP_ID_BYTES];
        mb_random_bytes(raw, sizeof raw);
        for (size_t i = 0; i < LP_ID_BYTES; i++)
            snprintf(t->id + 2 * i, 3, "%02x", raw[i]);
    } while (mb_map_get_str(&lp->by_id, t->id, LP_ID_LEN));
    t->s = mb_session_new(r, &longpoll_transport, t, mb_http_peer(ex));
    if (!t->s || mb_map_put_str(&lp->by_id, t->id, LP_ID_LEN, t) < 0) {
        if (t->s)
            mb_session_free(t->s);
        free(t);
        reply_text(ex, hdr, "", 500, "out of memory\n");
        return;
    }
    t->s->ser = t->ser;
    t->s->listener = &p->lc[mb_http_tls(ex) ? 1 : 0];
    t->listed = true;
    lp->nlisted++;
    t->next = lp->all;
    if (lp->all)
        lp->all->prev = t;
    lp->all = t;
    mb_debug(&r->log, "long-poll transport %.8s... opened by %s (%s)", t->id, mb_http_peer(ex), protocols[chosen].name);
    char answer[160];
    int n = snprintf(answer, sizeof answer, "{\"transport\":\"%s\",\"protocol\":\"%s\"}", t->id, protocols[chosen].name);
    char h[2 * LP_HDR_MAX];
    join(h, sizeof h, hdr, "Content-Type: application/json; charset=utf-8\r\n");
    mb_http_reply(ex, 200, h, answer, (size_t)n);
}

/* A CORS preflight (autobahn-js posts application/json, which browsers preflight). */
static void on_options(const struct lp_path *p, struct mb_http_exchange *ex, const struct mb_http_request *req,
                       const char *hdr)
{
    char cors[LP_HDR_MAX] = "", h[2 * LP_HDR_MAX];
    if (p->cfg->cors) {
        const struct mb_http_str *rh = mb_http_header(req, "access-control-request-headers", 0);
        bool ok = rh && rh->n > 0 && rh->n <= 300;
        for (size_t i = 0; ok && i < rh->n; i++)
            ok = rh->p[i] >= 0x20 && rh->p[i] < 0x7f;
        snprintf(cors, sizeof cors, "Access-Control-Allow-Methods: POST, GET, OPTIONS\r\nAccess-Control-Max-Age: "
                 "600\r\n%s%.*s%s", ok ? "Access-Control-Allow-Headers: " : "", ok ? (int)rh->n : 0,
                 ok ? rh->p : "", ok ? "\r\n" : "");
    }
    join(h, sizeof h, hdr, "Allow: POST, GET, OPTIONS\r\n");
    join(h + strlen(h), sizeof h - strlen(h), cors, "");
    reply_empty(ex, h);
}

enum mb_lp_op mb_lp_route(const char *rel, const char **id)
{
    *id = NULL;
    if (strcmp(rel, "") == 0 || strcmp(rel, "/") == 0)
        return MB_LP_ROOT;
    if (strcmp(rel, "/open") == 0)
        return MB_LP_OPEN;
    /* "/" ID "/" op, ID being 32 lowercase hex digits */
    bool hex = strlen(rel) > LP_ID_LEN + 2 && rel[0] == '/' && rel[LP_ID_LEN + 1] == '/';
    for (size_t i = 1; hex && i <= LP_ID_LEN; i++)
        hex = (rel[i] >= '0' && rel[i] <= '9') || (rel[i] >= 'a' && rel[i] <= 'f');
    if (!hex)
        return MB_LP_NONE;
    const char *op = rel + LP_ID_LEN + 2;
    enum mb_lp_op r = strcmp(op, "send") == 0 ? MB_LP_SEND : strcmp(op, "receive") == 0 ? MB_LP_RECEIVE
                      : strcmp(op, "close") == 0 ? MB_LP_CLOSE : MB_LP_NONE;
    if (r != MB_LP_NONE)
        *id = rel + 1;
    return r;
}

static void on_request(void *ctx, struct mb_http_exchange *ex, const struct mb_http_request *req, const char *path,
                       const char *body, size_t len)
{
    struct lp_path *p = ctx;
    struct mb_longpoll *lp = p->lp;
    char hdr[LP_HDR_MAX];
    common_headers(p, req, hdr, sizeof hdr);
    const char *rel = path + p->base_len; /* "", "/", "/open", "/ID/send", ... */
    if (mb_http_str_is(req->method, "OPTIONS")) {
        on_options(p, ex, req, hdr);
        return;
    }
    bool post = mb_http_str_is(req->method, "POST");
    const char *id = NULL;
    enum mb_lp_op route = mb_lp_route(rel, &id);
    if (route == MB_LP_ROOT) {
        if (!mb_http_str_is(req->method, "GET")) {
            reply_text(ex, hdr, "Allow: GET, OPTIONS\r\n", 405, "GET this page, or POST to its /open\n");
            return;
        }
        char text[400];
        snprintf(text, sizeof text, "moonbar: WAMP over HTTP long-poll. POST %s/open with {\"protocols\": "
                 "[\"wamp.2.json\"]}, then POST to %s/<transport>/send, /receive and /close.\n", p->base, p->base);
        reply_text(ex, hdr, "", 200, text);
        return;
    }
    struct lp_transport *t = NULL;
    if (route == MB_LP_NONE) {
        reply_text(ex, hdr, "", 404, "no such long-poll resource: POST /open, /<transport>/send, /receive or "
                   "/close\n");
        return;
    }
    if (route != MB_LP_OPEN)
        t = mb_map_get_str(&lp->by_id, id, LP_ID_LEN);
    if (!post) {
        reply_text(ex, hdr, "Allow: POST, OPTIONS\r\n", 405, "method not allowed: POST\n");
        return;
    }
    if (route == MB_LP_OPEN) {
        on_open(p, ex, hdr, body, len);
        return;
    }
    if (!t || t->path != p) {
        reply_text(ex, hdr, "", 404, "no such transport\n");
        return;
    }
    t->last_seen = now_ms(lp);
    if (route == MB_LP_SEND)
        on_send(t, ex, hdr, body, len);
    else if (route == MB_LP_RECEIVE)
        on_receive(t, ex, hdr);
    else
        on_close_request(t, ex, hdr);
}

/* ---- the idle callback: deferred answers and teardown -------------------------------- */

static void process(struct lp_transport *t)
{
    if (t->close_called && t->s) {
        struct mb_session *s = t->s;
        t->s = NULL;
        mb_session_free(s);
    }
    while (t->held && (t->closed || t->reading)) {
        struct lp_held *h = t->held;
        t->held = h->next;
        if (!t->held)
            t->held_tail = &t->held;
        t->nheld--;
        mb_http_on_abandon(h->ex, NULL, NULL);
        if (t->closed)
            reply_text(h->ex, h->hdr, "", 404, "transport closed\n");
        else
            deliver(t, h->ex, h->hdr, h->body, h->len);
        free(h);
    }
    if (t->rx && t->qmsgs) {
        answer_receive(t);
    } else if (t->rx && t->closed) {
        struct mb_http_exchange *ex = t->rx;
        t->rx = NULL;
        unlist(t);
        reply_text(ex, t->rx_hdr, "", 404, "transport closed\n");
    }
    if (!t->listed && !t->s && !t->rx && !t->held && !t->ready)
        transport_free(t);
}

static void on_idle(uv_idle_t *h)
{
    struct mb_longpoll *lp = h->data;
    struct lp_transport *t;
    while ((t = pop_ready(lp)))
        process(t);
    if (!lp->ready) {
        uv_idle_stop(&lp->idle);
        lp->idle_on = false;
    }
}

void mb_longpoll_sweep(struct mb_router *r, uint64_t now)
{
    struct mb_longpoll *lp = r->longpoll;
    if (!lp)
        return;
    /* answers here may run requests pipelined behind them (which may open transports, at the
     * head of the list); nothing is freed outside the idle callback */
    for (struct lp_transport *t = lp->all, *next; t; t = next) {
        next = t->next;
        const struct mb_http_path_config *pc = t->path->cfg;
        if (t->rx && now - t->rx_since >= secs_ms(pc->request_timeout)) {
            struct mb_http_exchange *ex = t->rx;
            t->rx = NULL;
            t->last_seen = now;
            reply_empty(ex, t->rx_hdr);
            continue;
        }
        if (t->listed && !t->rx && now - t->last_seen > secs_ms(pc->session_timeout)) {
            if (!t->closed) {
                mb_info(&r->log, "session %llu (%s): no long-poll request for %.1f s (session_timeout): closed",
                        session_id(t), t->s ? t->s->peer : "?", pc->session_timeout);
                t->closed = true;
                drop_queue(t);
                if (t->s)
                    mb_session_close(t->s, 1001, "long-poll session timeout", false);
            }
            unlist(t);
        }
        if (t->held && t->reading)
            make_ready(t); /* a backstop for lp_set_reading */
    }
    mb_buf_shrink(&lp->out, 1 << 16);
}

/* ---- lifecycle ----------------------------------------------------------------------- */

static void on_idle_closed(uv_handle_t *h)
{
    free(h->data);
}

static int start_path(struct mb_longpoll *lp, struct lp_path *p, const struct mb_http_path_config *pc,
                      size_t max_body)
{
    struct mb_router *r = lp->r;
    p->lp = lp;
    p->cfg = pc;
    size_t n = strlen(pc->path);
    while (n > 1 && pc->path[n - 1] == '/')
        n--;
    if (n <= 1) {
        mb_error(&r->log, "http.paths[\"%s\"]: a long-poll path cannot be the root: it would take every "
                 "static file (use a path like \"/lp\")", pc->path);
        return -1;
    }
    if (!(p->base = malloc(n + 2)))
        return -1;
    memcpy(p->base, pc->path, n);
    p->base[n] = '/';
    p->base[n + 1] = '\0';
    p->base_len = n;
    for (int i = 0; i < 2; i++) {
        p->lc[i].kind = MB_LISTEN_WEBSOCKET;
        if (pc->realm) {
            p->realm[0] = pc->realm;
            p->lc[i].realms = p->realm;
            p->lc[i].nrealms = 1;
        }
    }
    p->lc[1].tls.cert = "(https)"; /* only read as "is TLS" */
    /* "/lp/" and below, then "/lp" itself */
    p->route_prefix = mb_httpd_route(r, p->base, true, max_body, on_request, p);
    p->base[n] = '\0';
    p->route_exact = p->route_prefix > 0 ? mb_httpd_route(r, p->base, false, max_body, on_request, p) : -1;
    if (p->route_exact < 0) {
        mb_error(&r->log, "http.paths[\"%s\"]: cannot claim %s and %s/ (claimed twice, or out of memory)",
                 pc->path, p->base, p->base);
        return -1;
    }
    mb_info(&r->log, "long-poll transport on %s/ (request_timeout %.1f s, session_timeout %.1f s, queue %zu "
            "messages / %zu bytes%s%s)", p->base, pc->request_timeout, pc->session_timeout,
            pc->queue_limit_messages, pc->queue_limit_bytes, pc->realm ? ", realm " : "", pc->realm ? pc->realm : "");
    return 0;
}

int mb_longpoll_start(struct mb_router *r)
{
    const struct mb_config *cfg = r->cfg;
    size_t n = 0;
    for (size_t i = 0; i < cfg->http.npaths; i++)
        n += cfg->http.paths[i].kind == MB_HTTP_LONGPOLL;
    if (n == 0)
        return 0;
    struct mb_longpoll *lp = calloc(1, sizeof *lp);
    if (!lp || !(lp->paths = calloc(n, sizeof *lp->paths))) {
        free(lp);
        mb_error(&r->log, "out of memory for the long-poll transport");
        return -1;
    }
    lp->r = r;
    lp->ready_tail = &lp->ready;
    uv_idle_init(r->loop, &lp->idle);
    lp->idle.data = lp;
    uv_unref((uv_handle_t *)&lp->idle);
    r->longpoll = lp;
    /* a send's body: up to the largest message a WebSocket listener takes */
    size_t max_body = cfg->max_message_size;
    bool http = false;
    for (size_t i = 0; i < cfg->nlisteners; i++)
        if (cfg->listeners[i].kind == MB_LISTEN_WEBSOCKET) {
            http = true;
            if (cfg->listeners[i].max_message_size > max_body)
                max_body = cfg->listeners[i].max_message_size;
        }
    if (!http)
        mb_warn(&r->log, "http.paths has long-poll paths but no WebSocket/HTTP listener serves them");
    for (size_t i = 0; i < cfg->http.npaths; i++) {
        if (cfg->http.paths[i].kind != MB_HTTP_LONGPOLL)
            continue;
        if (start_path(lp, &lp->paths[lp->npaths++], &cfg->http.paths[i], max_body) < 0)
            return -1;
    }
    return 0;
}

void mb_longpoll_free(struct mb_router *r)
{
    struct mb_longpoll *lp = r->longpoll;
    if (!lp)
        return;
    /* every connection is gone, so is every exchange; sessions leave their realms (meta events
     * to the others, which take nothing more once closed) */
    for (struct lp_transport *t = lp->all; t; t = t->next)
        t->closed = true;
    for (struct lp_transport *t = lp->all; t; t = t->next)
        if (t->s) {
            struct mb_session *s = t->s;
            t->s = NULL;
            mb_session_free(s);
        }
    while (lp->all) {
        struct lp_transport *t = lp->all;
        while (t->held) {
            struct lp_held *h = t->held;
            t->held = h->next;
            free(h);
        }
        transport_free(t);
    }
    for (size_t i = 0; i < lp->npaths; i++) {
        struct lp_path *p = &lp->paths[i];
        if (p->route_prefix > 0)
            mb_httpd_unroute(r, p->route_prefix);
        if (p->route_exact > 0)
            mb_httpd_unroute(r, p->route_exact);
        free(p->base);
    }
    free(lp->paths);
    mb_map_free(&lp->by_id);
    mb_buf_free(&lp->out);
    r->longpoll = NULL;
    if (lp->idle_on)
        uv_idle_stop(&lp->idle);
    uv_close((uv_handle_t *)&lp->idle, on_idle_closed);
}
