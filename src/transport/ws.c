/* WebSocket transport (RFC 6455, permessage-deflate of RFC 7692) and static files over
 * HTTP/1.1, on mb_conn connections (TCP or Unix, with or without TLS).
 *
 * A connection starts in HTTP: request heads are parsed in place from what mb_conn hands over
 * (a head split over reads is kept in a buffer that exists only while it is incomplete).
 * GET/HEAD serve files from the listener's web_root through libuv's thread pool; a GET on the
 * listener's path with an upgrade becomes a WebSocket session. From then on the connection
 * keeps only its partial frame (a frame head, a fragmented message): an idle session holds
 * no buffers. Outbound messages are framed straight into mb_conn's queue.
 *
 * permessage-deflate runs with no context takeover on either side, so one deflate stream per
 * window size and one inflate stream serve every connection (reset per message). */
#include "mb_conn.h"
#include "httpd_int.h"
#include "mb_http.h"
#include "mb_session.h"
#include "mb_transport.h"
#include "mb_wsproto.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <zlib.h>

/* The serializers a WebSocket client can pick (bit 1 << enum mb_ser): all three. */
#define WS_SPOKEN ((1u << MB_SER_JSON) | (1u << MB_SER_MSGPACK) | (1u << MB_SER_CBOR))

#define FILE_CHUNK (64 * 1024)
#define FILE_QUEUE_MAX (512 * 1024) /* read the next chunk of a file once the queue is below */
#define CLOSE_WAIT_MS 2000          /* after moonbar's close frame, the peer's answer */
#define DEFLATE_MIN 64              /* smaller messages go uncompressed (RSV1 clear) */
#define HTTP_IDLE_MS 30000          /* a keep-alive connection between requests */
#define HTTP_HEAD_MS 10000          /* a request head that comes in pieces (after the first) */

enum wsc_state {
    WSC_HTTP,    /* reading request heads */
    WSC_FILE,    /* serving a file: later requests wait in head */
    WSC_WS,      /* WebSocket session */
    WSC_CLOSING, /* moonbar sent its close frame, waiting for the peer's */
    WSC_DEAD,    /* mb_conn_close called: input ignored until on_close */
    WSC_BODY,    /* reading the body of a request a route claimed (mb_httpd.h) */
    WSC_WAIT,    /* the route has the request: later requests wait in head */
};

/* A request handed to a route (mb_httpd.h): its head bytes and body, copied. */
struct mb_http_exchange {
    struct wsc *w;          /* the connection */
    mb_http_handler fn;
    void *ctx;
    void (*abandon)(void *ctx);
    void *abandon_ctx;
    bool keep_alive;
    bool tls;
    const struct mb_listener_config *listener; /* the endpoint it came through */
    bool head_only;         /* a HEAD request: the answer's body is not sent */
    size_t head_len, body_len, have;
    char *path;             /* decoded, NUL-terminated (inside buf) */
    char peer[64];
    char *buf;              /* head, NUL, body, NUL, path, NUL */
};

struct ws_listener {
    struct mb_listener l; /* first: mb_net frees it through on_free */
    struct mb_ws *ws;
    char *web_root;       /* realpath, or NULL */
    size_t max_message_size;
};

struct file_job;

struct wsc {
    struct mb_conn *c;
    struct ws_listener *wl;
    struct mb_session *s;  /* WebSocket sessions */
    struct file_job *job;  /* WSC_FILE */
    char *head;            /* HTTP: bytes not yet parsed (MB_HTTP_HEAD_MAX), or NULL */
    uint16_t head_len;
    uint8_t state;
    uint8_t hdr_len;       /* bytes of a frame head split over reads */
    uint8_t ctl_len;
    bool in_payload;       /* inside a frame's payload */
    bool deflate;          /* permessage-deflate negotiated */
    uint8_t zbits;         /* its server window bits (9..15) */
    bool drop;             /* this message is refused: its frames are skipped */
    bool failed;           /* a protocol error: no more input is read */
    unsigned char hdr[MB_WS_HEAD_MAX];
    struct mb_ws_frame f;
    uint64_t f_off;        /* payload bytes of f read so far */
    struct mb_ws_rx rx;
    bool msg_compressed;
    char *ctl;             /* a control frame's payload split over reads (125 bytes), or NULL */
    struct mb_buf in;      /* a message split over reads, unmasked */
    uint64_t ping_sent;    /* ms, 0 if no ping is waiting */
    uint64_t since;        /* ms: WSC_CLOSING since, or HTTP: the partial head since */
    struct mb_http_exchange *ex; /* WSC_BODY, WSC_WAIT */
    uint64_t answered;     /* ms: the last answer to a route's request (the idle time counts from it) */
    bool resume_pending;   /* listed in ws->resume_list */
    struct wsc *resume_next;
    bool in_dispatch;      /* a route's handler is running: its answer resumes nothing */
    struct mb_buf held;    /* limits.max_message_rate: bytes read while the session was throttled */
};

struct mb_ws {
    struct mb_router *r;
    struct mb_buf scratch;  /* a whole frame unmasked (inbound) */
    struct mb_buf inflated; /* an inbound message inflated */
    struct mb_buf deflated; /* an outbound message deflated */
    z_stream *deflaters[16]; /* by window bits, made when first needed */
    z_stream *inflater;
    uv_idle_t *resume;      /* runs the connections whose pipelined requests wait (see resume_later) */
    struct wsc *resume_list;
};

struct file_job {
    uv_fs_t req;
    struct wsc *w;   /* NULL once the connection is gone */
    uv_loop_t *loop;
    uv_file fd;
    bool head_only, keep_alive, tried_index;
    bool waiting;    /* for the queue to go down before the next chunk */
    uint64_t size, off;
    char *buf;
    char path[];
};

static void ws_send(void *conn, const char *data, size_t len);
static size_t ws_queued(void *conn);
static void ws_set_reading(void *conn, bool on);
static void ws_resume(void *conn);
static void ws_close(void *conn, int code, const char *reason, bool flush);

static int ws_channel_binding(void *conn, const char *type, unsigned char out[32]);

static const struct mb_transport websocket_transport = {
    .name = "websocket", .send = ws_send, .queued = ws_queued,
    .set_reading = ws_set_reading, .close = ws_close, .channel_binding = ws_channel_binding,
    .resume = ws_resume,
};

static void http_input(struct wsc *w, const char *data, size_t len);
static void ws_input(struct wsc *w, const char *data, size_t len);
static void body_input(struct wsc *w, const char *data, size_t len);
static void resume_http(struct wsc *w);
static void resume_later(struct wsc *w);

static struct mb_router *router_of(struct wsc *w)
{
    return w->wl->ws->r;
}

static void conn_close(struct wsc *w, bool flush)
{
    if (w->state == WSC_DEAD)
        return;
    w->state = WSC_DEAD;
    mb_conn_close(w->c, flush);
}

/* ---- HTTP replies ----------------------------------------------------------------- */

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

/* An HTTP reply with a text body (not sent for HEAD); the connection closes after it unless
 * keep_alive. extra: more header lines ("Allow: GET, HEAD\r\n"), or NULL. */
static void reply_text(struct wsc *w, const char *status, const char *extra, const char *text, bool head_only,
                       bool keep_alive)
{
    char buf[1024];
    size_t tl = strlen(text);
    int n = snprintf(buf, sizeof buf, "HTTP/1.1 %s\r\nContent-Type: text/plain; charset=utf-8\r\n"
                     "Content-Length: %zu\r\n%s%s\r\n%s", status, tl, extra ? extra : "",
                     keep_alive ? "" : "Connection: close\r\n", head_only ? "" : text);
    if (n > 0)
        mb_conn_write(w->c, buf, (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1);
    if (!keep_alive)
        conn_close(w, true);
}

static void refuse_upgrade(struct wsc *w, const char *status, const char *extra, const char *text)
{
    mb_info(&router_of(w)->log, "websocket upgrade refused (%s): %.*s", status, (int)strcspn(text, "\n"), text);
    reply_text(w, status, extra, text, false, false);
}

/* ---- static files, through libuv's thread pool ------------------------------------- */

static void job_free_cb(uv_fs_t *req)
{
    struct file_job *j = req->data;
    uv_fs_req_cleanup(req);
    free(j->buf);
    free(j);
}

/* Ends the job (closing its file); the connection, if still there, goes on with the requests
 * that came behind. */
static void job_end(struct file_job *j)
{
    struct wsc *w = j->w;
    j->w = NULL;
    bool freed_later = false;
    if (j->fd >= 0) {
        j->req.data = j;
        freed_later = uv_fs_close(j->loop, &j->req, j->fd, job_free_cb) == 0;
        j->fd = -1;
    }
    if (!freed_later) {
        free(j->buf);
        free(j);
    }
    if (!w)
        return;
    w->job = NULL;
    if (w->state != WSC_FILE)
        return;
    resume_http(w); /* pipelined requests that waited */
}

static void job_read_cb(uv_fs_t *req);

static void job_read_next(struct file_job *j)
{
    struct wsc *w = j->w;
    if (j->off >= j->size) {
        if (!j->keep_alive)
            conn_close(w, true);
        job_end(j);
        return;
    }
    if (mb_conn_queued(w->c) > FILE_QUEUE_MAX) {
        j->waiting = true; /* on_drain or the sweep comes back here */
        return;
    }
    size_t n = j->size - j->off < FILE_CHUNK ? (size_t)(j->size - j->off) : FILE_CHUNK;
    if (!j->buf && !(j->buf = malloc(FILE_CHUNK))) {
        conn_close(w, false);
        job_end(j);
        return;
    }
    uv_buf_t b = uv_buf_init(j->buf, (unsigned)n);
    j->req.data = j;
    if (uv_fs_read(j->loop, &j->req, j->fd, &b, 1, (int64_t)j->off, job_read_cb) != 0) {
        conn_close(w, false);
        job_end(j);
    }
}

static void job_read_cb(uv_fs_t *req)
{
    struct file_job *j = req->data;
    ssize_t n = req->result;
    uv_fs_req_cleanup(req);
    if (!j->w) {
        job_end(j);
        return;
    }
    if (n <= 0) { /* the file shrank or failed under us: the length was promised, so cut */
        conn_close(j->w, false);
        job_end(j);
        return;
    }
    mb_conn_write(j->w->c, j->buf, (size_t)n);
    j->off += (uint64_t)n;
    job_read_next(j);
}

static void job_open(struct file_job *j);

static void job_reopen_cb(uv_fs_t *req)
{
    struct file_job *j = req->data;
    uv_fs_req_cleanup(req);
    if (!j->w)
        job_end(j);
    else
        job_open(j);
}

static void job_stat_cb(uv_fs_t *req)
{
    struct file_job *j = req->data;
    struct wsc *w = j->w;
    bool ok = req->result == 0;
    uv_stat_t st = req->statbuf;
    uv_fs_req_cleanup(req);
    if (!w) {
        job_end(j);
        return;
    }
    if (ok && S_ISDIR(st.st_mode) && !j->tried_index) {
        /* a folder: its index.html (the job was made with room for it), once this one is closed */
        uv_file fd = j->fd;
        j->fd = -1;
        strcat(j->path, "/index.html");
        j->tried_index = true;
        j->req.data = j;
        if (uv_fs_close(j->loop, &j->req, fd, job_reopen_cb) != 0)
            job_open(j);
        return;
    }
    if (!ok || !S_ISREG(st.st_mode)) {
        mb_debug(&router_of(w)->log, "http 404 %s", j->path);
        reply_text(w, "404 Not Found", NULL, "not found\n", j->head_only, j->keep_alive);
        job_end(j);
        return;
    }
    char head[256];
    j->size = st.st_size;
    int n = snprintf(head, sizeof head, "HTTP/1.1 200 OK\r\nContent-Type: %s\r\nContent-Length: %llu\r\n%s\r\n",
                     mime_type(j->path), (unsigned long long)j->size, j->keep_alive ? "" : "Connection: close\r\n");
    mb_conn_write(w->c, head, (size_t)n);
    if (j->head_only)
        j->size = 0;
    job_read_next(j);
}

static void job_open_cb(uv_fs_t *req)
{
    struct file_job *j = req->data;
    ssize_t fd = req->result;
    uv_fs_req_cleanup(req);
    if (fd >= 0)
        j->fd = (uv_file)fd;
    if (!j->w) {
        job_end(j);
        return;
    }
    if (fd < 0) {
        mb_debug(&router_of(j->w)->log, "http 404 %s", j->path);
        reply_text(j->w, "404 Not Found", NULL, "not found\n", j->head_only, j->keep_alive);
        job_end(j);
        return;
    }
    j->req.data = j;
    if (uv_fs_fstat(j->loop, &j->req, j->fd, job_stat_cb) != 0) {
        conn_close(j->w, false);
        job_end(j);
    }
}

static void job_open(struct file_job *j)
{
    j->req.data = j;
    if (uv_fs_open(j->loop, &j->req, j->path, O_RDONLY | O_CLOEXEC, 0, job_open_cb) != 0) {
        reply_text(j->w, "404 Not Found", NULL, "not found\n", j->head_only, j->keep_alive);
        job_end(j);
    }
}

static void serve_file(struct wsc *w, const struct mb_http_request *req, bool head_only, bool keep_alive)
{
    char path[PATH_MAX];
    const char *root = w->wl->web_root;
    if (!root || req->path.n == 0 || req->path.p[0] != '/') {
        reply_text(w, "404 Not Found", NULL, "not found\n", head_only, keep_alive);
        return;
    }
    int n = mb_http_decode_path(req->path, path, sizeof path - 32);
    if (n < 0) {
        reply_text(w, "400 Bad Request", NULL, "bad path\n", head_only, false);
        return;
    }
    if (mb_http_path_escapes(path)) { /* no segment may be "..", encoded or not */
        reply_text(w, "403 Forbidden", NULL, "forbidden\n", head_only, keep_alive);
        return;
    }
    size_t rl = strlen(root);
    struct file_job *j = malloc(sizeof *j + rl + (size_t)n + 32);
    if (!j) {
        conn_close(w, false);
        return;
    }
    memset(j, 0, sizeof *j);
    j->w = w;
    j->loop = router_of(w)->loop;
    j->fd = -1;
    j->head_only = head_only;
    j->keep_alive = keep_alive;
    memcpy(j->path, root, rl);
    memcpy(j->path + rl, path, (size_t)n + 1);
    if (path[n - 1] == '/') {
        strcat(j->path, "index.html");
        j->tried_index = true;
    }
    w->job = j;
    w->state = WSC_FILE;
    job_open(j);
}

/* ---- the upgrade ------------------------------------------------------------------- */

static void upgrade(struct wsc *w, const struct mb_http_request *req)
{
    struct mb_ws *ws = w->wl->ws;
    struct mb_router *r = ws->r;
    const struct mb_listener_config *cfg = w->wl->l.cfg;
    if (!mb_http_str_is(req->path, cfg->path)) {
        char text[400];
        snprintf(text, sizeof text, "no WebSocket endpoint at %.*s: moonbar's WAMP endpoint is %s\n",
                 (int)(req->path.n > 200 ? 200 : req->path.n), req->path.p, cfg->path);
        refuse_upgrade(w, "404 Not Found", NULL, text);
        return;
    }
    if (!mb_http_str_is(req->method, "GET")) {
        refuse_upgrade(w, "405 Method Not Allowed", "Allow: GET\r\n", "a WebSocket upgrade is a GET\n");
        return;
    }
    if (!mb_http_has_token(req, "connection", "upgrade")) {
        refuse_upgrade(w, "400 Bad Request", NULL, "a WebSocket upgrade needs Connection: Upgrade\n");
        return;
    }
    const struct mb_http_str *ver = mb_http_header(req, "sec-websocket-version", 0);
    if (!ver || !mb_http_str_is(*ver, "13") || mb_http_header(req, "sec-websocket-version", 1)) {
        refuse_upgrade(w, "426 Upgrade Required", "Sec-WebSocket-Version: 13\r\n",
                       "moonbar speaks WebSocket version 13 (RFC 6455)\n");
        return;
    }
    const struct mb_http_str *key = mb_http_header(req, "sec-websocket-key", 0);
    char accept[29];
    if (!key || mb_http_header(req, "sec-websocket-key", 1) || !mb_ws_key_valid(*key) ||
        mb_ws_accept(*key, accept) < 0) {
        refuse_upgrade(w, "400 Bad Request", NULL, "Sec-WebSocket-Key must be the base64 of 16 bytes\n");
        return;
    }
    bool offered;
    int ser = mb_ws_pick_subprotocol(req, WS_SPOKEN, &offered);
    if (ser < 0) {
        char text[200];
        size_t o = 0;
        for (int i = 0; i < 3; i++)
            if (WS_SPOKEN & (1u << i))
                o += (size_t)snprintf(text + o, sizeof text - o, "%s%s", o ? ", " : "", mb_ws_subprotocols[i]);
        char msg[300];
        snprintf(msg, sizeof msg, "%s: moonbar speaks %s\n", offered ? "none of the offered WebSocket "
                 "subprotocols is spoken here" : "no WebSocket subprotocol offered", text);
        refuse_upgrade(w, "400 Bad Request", NULL, msg);
        return;
    }
    struct mb_ws_deflate d = { 0 };
    if (cfg->compression)
        mb_ws_deflate_offer(req, &d);
    char ext[200] = "";
    if (d.on) {
        char v[160];
        mb_ws_deflate_response(&d, v, sizeof v);
        snprintf(ext, sizeof ext, "Sec-WebSocket-Extensions: %s\r\n", v);
    }
    char reply[512];
    int n = snprintf(reply, sizeof reply, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\nSec-WebSocket-Protocol: %s\r\n%s\r\n",
                     accept, mb_ws_subprotocols[ser], ext);
    w->s = mb_session_new(r, &websocket_transport, w, w->c->peer);
    if (!w->s) {
        conn_close(w, false);
        return;
    }
    w->s->ser = ser;
    w->s->listener = cfg;
    mb_conn_write(w->c, reply, (size_t)n);
    w->state = WSC_WS;
    w->deflate = d.on;
    w->zbits = (uint8_t)(d.server_max_window_bits ? d.server_max_window_bits : 15);
}

/* ---- HTTP input -------------------------------------------------------------------- */

static struct mb_http_request request; /* one thread: parsed and answered before the next */

static void keep_pipelined(struct wsc *w, const char *data, size_t len);
static bool start_exchange(struct wsc *w, const struct mb_http_request *req, const struct mb_httpd_route *rt,
                           const char *head, size_t head_len, const char *path, size_t plen);

/* One request head (complete: head_len bytes at head). Returns false when the connection leaves
 * HTTP (closing, busy with a file or a route, or upgraded). */
static bool http_request(struct wsc *w, const struct mb_http_request *req, const char *bytes, size_t head_len)
{
    mb_conn_ready(w->c); /* a whole head came: the HTTP timeouts of on_sweep apply from now */
    if (router_of(w)->httpd && !mb_http_has_token(req, "upgrade", "websocket")) {
        char path[2048];
        int plen = mb_http_decode_path(req->path, path, sizeof path);
        const struct mb_httpd_route *rt = plen >= 0 ? mb_httpd_find(router_of(w), path, (size_t)plen) : NULL;
        if (rt)
            return start_exchange(w, req, rt, bytes, head_len, path, (size_t)plen);
    }
    bool keep_alive = mb_http_keep_alive(req);
    /* moonbar reads no request bodies: a request that has one closes the connection after */
    const struct mb_http_str *cl = mb_http_header(req, "content-length", 0);
    if (mb_http_header(req, "transfer-encoding", 0) || (cl && !(cl->n == 1 && cl->p[0] == '0')))
        keep_alive = false;
    if (mb_http_has_token(req, "upgrade", "websocket")) {
        upgrade(w, req);
        return false;
    }
    bool get = mb_http_str_is(req->method, "GET"), head = mb_http_str_is(req->method, "HEAD");
    if (!get && !head) {
        reply_text(w, "405 Method Not Allowed", "Allow: GET, HEAD\r\n", "method not allowed\n", false, false);
        return false;
    }
    serve_file(w, req, head, keep_alive);
    return w->state == WSC_HTTP;
}

static void http_input(struct wsc *w, const char *data, size_t len)
{
    while (len && w->state == WSC_HTTP) {
        int n;
        if (w->head_len) { /* the rest of a head that came in pieces */
            size_t room = (size_t)MB_HTTP_HEAD_MAX - w->head_len;
            size_t take = room < len ? room : len;
            size_t old = w->head_len;
            memcpy(w->head + old, data, take);
            w->head_len = (uint16_t)(old + take);
            n = mb_http_parse(w->head, w->head_len, &request);
            if (n == MB_HTTP_INCOMPLETE && w->head_len < MB_HTTP_HEAD_MAX)
                return;
            if (n > 0) {
                size_t used = (size_t)n - old; /* of data */
                char *h = w->head;
                w->head = NULL;
                w->head_len = 0;
                bool more = http_request(w, &request, h, (size_t)n);
                free(h);
                data += used;
                len -= used;
                if (!more)
                    break;
                continue;
            }
        } else {
            n = mb_http_parse(data, len, &request);
            if (n > 0) {
                bool more = http_request(w, &request, data, (size_t)n);
                data += n;
                len -= (size_t)n;
                if (!more)
                    break;
                continue;
            }
            if (n == MB_HTTP_INCOMPLETE) {
                if (!w->head && !(w->head = malloc(MB_HTTP_HEAD_MAX))) {
                    conn_close(w, false);
                    return;
                }
                memcpy(w->head, data, len);
                w->head_len = (uint16_t)len;
                w->since = mb_router_now_ms(router_of(w));
                return;
            }
        }
        if (n == MB_HTTP_TOO_LARGE || n == MB_HTTP_INCOMPLETE) {
            mb_info(&router_of(w)->log, "http request head over %d bytes refused", MB_HTTP_HEAD_MAX);
            reply_text(w, "431 Request Header Fields Too Large", NULL, "request head too large\n", false, false);
        } else {
            reply_text(w, "400 Bad Request", NULL, "malformed request\n", false, false);
        }
        return;
    }
    if (!len)
        return;
    if (w->state == WSC_WS) { /* frames that came right behind the upgrade */
        ws_input(w, data, len);
    } else if (w->state == WSC_FILE || w->state == WSC_WAIT) { /* pipelined requests wait */
        keep_pipelined(w, data, len);
    } else if (w->state == WSC_BODY) {
        body_input(w, data, len);
    }
}

/* Bytes of later requests while the connection is busy (a file, a route): kept in head, and
 * reading pauses once it is full (it resumes when the connection is free again). */
static void keep_pipelined(struct wsc *w, const char *data, size_t len)
{
    if (!len)
        return;
    if (!w->head && !(w->head = malloc(MB_HTTP_HEAD_MAX))) {
        conn_close(w, false);
        return;
    }
    size_t room = (size_t)MB_HTTP_HEAD_MAX - w->head_len;
    size_t take = len < room ? len : room;
    memcpy(w->head + w->head_len, data, take);
    w->head_len = (uint16_t)(w->head_len + take);
    if (take < len || w->head_len == MB_HTTP_HEAD_MAX)
        mb_conn_set_reading(w->c, false);
}

/* The connection is free again: the requests that waited are read. */
static void resume_http(struct wsc *w)
{
    w->state = WSC_HTTP;
    mb_conn_set_reading(w->c, true);
    if (w->head_len) {
        char *h = w->head;
        size_t n = w->head_len;
        w->head = NULL;
        w->head_len = 0;
        http_input(w, h, n);
        free(h);
    }
}

/* ---- requests for routes (mb_httpd.h) ---------------------------------------------- */

static void exchange_free(struct mb_http_exchange *ex)
{
    free(ex->buf);
    free(ex);
}

static void on_resume(uv_idle_t *h)
{
    struct mb_ws *ws = h->data;
    struct wsc *list = ws->resume_list;
    ws->resume_list = NULL;
    uv_idle_stop(h);
    while (list) {
        struct wsc *w = list;
        list = w->resume_next;
        w->resume_next = NULL;
        w->resume_pending = false;
        if (w->state == WSC_WAIT && !w->ex)
            resume_http(w);
    }
}

/* An answer given outside its handler (a call's result, a timer): the requests that came
 * behind it are parsed on the next loop turn, so that no route handler runs inside whatever
 * answered. Meanwhile the connection stays in WSC_WAIT (input is kept in order behind them). */
static void resume_later(struct wsc *w)
{
    struct mb_ws *ws = w->wl->ws;
    if (!ws->resume) {
        if (!(ws->resume = malloc(sizeof *ws->resume))) {
            resume_http(w); /* no memory for the handle: at once, as before */
            return;
        }
        uv_idle_init(router_of(w)->loop, ws->resume);
        ws->resume->data = ws;
    }
    w->state = WSC_WAIT;
    if (!w->resume_pending) {
        w->resume_pending = true;
        w->resume_next = ws->resume_list;
        ws->resume_list = w;
    }
    uv_idle_start(ws->resume, on_resume);
}

static void unlist_resume(struct wsc *w)
{
    if (!w->resume_pending)
        return;
    for (struct wsc **p = &w->wl->ws->resume_list; *p; p = &(*p)->resume_next)
        if (*p == w) {
            *p = w->resume_next;
            break;
        }
    w->resume_pending = false;
}

/* The whole request is there: the route gets it. Its answer may come during the call. */
static void dispatch(struct wsc *w)
{
    struct mb_http_exchange *ex = w->ex;
    w->state = WSC_WAIT;
    if (mb_http_parse(ex->buf, ex->head_len, &request) <= 0) { /* parsed once already: cannot fail */
        mb_http_reply_text(ex, 400, NULL, "malformed request\n");
        return;
    }
    w->in_dispatch = true;
    ex->fn(ex->ctx, ex, &request, ex->path, ex->buf + ex->head_len + 1, ex->body_len);
    w->in_dispatch = false;
    if (w->state == WSC_HTTP) /* answered at once */
        resume_http(w);
}

static bool digits(struct mb_http_str v, uint64_t *out)
{
    uint64_t x = 0;
    if (v.n == 0 || v.n > 15)
        return false;
    for (size_t i = 0; i < v.n; i++) {
        if (v.p[i] < '0' || v.p[i] > '9')
            return false;
        x = x * 10 + (uint64_t)(v.p[i] - '0');
    }
    *out = x;
    return true;
}

static bool start_exchange(struct wsc *w, const struct mb_http_request *req, const struct mb_httpd_route *rt,
                           const char *head, size_t head_len, const char *path, size_t plen)
{
    struct mb_router *r = router_of(w);
    if (mb_http_header(req, "transfer-encoding", 0)) {
        reply_text(w, "411 Length Required", NULL, "send the body with a Content-Length (chunked bodies are not "
                   "accepted)\n", false, false);
        return false;
    }
    uint64_t cl = 0;
    const struct mb_http_str *clh = mb_http_header(req, "content-length", 0);
    if (clh && (!digits(*clh, &cl) || mb_http_header(req, "content-length", 1))) {
        reply_text(w, "400 Bad Request", NULL, "bad Content-Length\n", false, false);
        return false;
    }
    if (cl > rt->max_body && rt->too_large) { /* the route answers it (in its own format), then close */
        struct mb_http_exchange *ex = calloc(1, sizeof *ex);
        if (!ex || !(ex->buf = malloc(head_len + 1 + 1 + plen + 1))) {
            free(ex);
            conn_close(w, false);
            return false;
        }
        ex->w = w;
        ex->tls = mb_conn_tls(w->c);
        ex->listener = w->wl->l.cfg;
        ex->head_len = head_len;
        snprintf(ex->peer, sizeof ex->peer, "%s", w->c->peer);
        memcpy(ex->buf, head, head_len);
        ex->buf[head_len] = ex->buf[head_len + 1] = '\0';
        ex->path = ex->buf + head_len + 2;
        memcpy(ex->path, path, plen);
        ex->path[plen] = '\0';
        w->ex = ex;
        w->state = WSC_WAIT;
        mb_conn_set_reading(w->c, false); /* the body is not read: the connection closes after */
        w->in_dispatch = true;
        rt->too_large(rt->ctx, ex, req, ex->path, cl);
        w->in_dispatch = false;
        return false;
    }
    if (cl > rt->max_body) {
        char text[120];
        snprintf(text, sizeof text, "request body of %llu bytes is over this path's limit of %zu\n",
                 (unsigned long long)cl, rt->max_body);
        mb_info(&r->log, "http %.*s %s from %s: body of %llu bytes refused (limit %zu)", (int)req->method.n,
                req->method.p, path, w->c->peer, (unsigned long long)cl, rt->max_body);
        reply_text(w, "413 Payload Too Large", NULL, text, false, false);
        return false;
    }
    struct mb_http_exchange *ex = calloc(1, sizeof *ex);
    if (ex)
        ex->buf = malloc(head_len + 1 + (size_t)cl + 1 + plen + 1);
    if (!ex || !ex->buf) {
        free(ex);
        conn_close(w, false);
        return false;
    }
    ex->w = w;
    ex->fn = rt->fn;
    ex->ctx = rt->ctx;
    ex->keep_alive = mb_http_keep_alive(req);
    ex->tls = mb_conn_tls(w->c);
    ex->listener = w->wl->l.cfg;
    ex->head_len = head_len;
    ex->body_len = (size_t)cl;
    snprintf(ex->peer, sizeof ex->peer, "%s", w->c->peer);
    memcpy(ex->buf, head, head_len);
    ex->buf[head_len] = '\0';
    ex->buf[head_len + 1 + cl] = '\0';
    ex->path = ex->buf + head_len + 1 + cl + 1;
    memcpy(ex->path, path, plen);
    ex->path[plen] = '\0';
    ex->head_only = mb_http_str_is(req->method, "HEAD");
    w->ex = ex;
    w->since = mb_router_now_ms(r);
    if (cl > 0 && mb_http_has_token(req, "expect", "100-continue"))
        mb_conn_write(w->c, "HTTP/1.1 100 Continue\r\n\r\n", 25); /* curl waits a second without it */
    if (cl == 0)
        dispatch(w);
    else
        w->state = WSC_BODY;
    return w->state == WSC_HTTP;
}

static void body_input(struct wsc *w, const char *data, size_t len)
{
    struct mb_http_exchange *ex = w->ex;
    size_t want = ex->body_len - ex->have;
    size_t take = len < want ? len : want;
    memcpy(ex->buf + ex->head_len + 1 + ex->have, data, take);
    ex->have += take;
    w->since = mb_router_now_ms(router_of(w));
    if (ex->have < ex->body_len)
        return;
    w->state = WSC_WAIT;
    keep_pipelined(w, data + take, len - take); /* before the handler: its answer may resume them */
    dispatch(w);
}

void mb_http_reply(struct mb_http_exchange *ex, int status, const char *headers, const char *body, size_t len)
{
    struct wsc *w = ex->w;
    bool typed = false;
    for (const char *h = headers; h && *h; h += strcspn(h, "\n") + (h[strcspn(h, "\n")] ? 1 : 0))
        typed = typed || strncasecmp(h, "content-type:", 13) == 0;
    char head[512];
    bool bodiless = status == 204 || status == 304; /* RFC 9110: no Content-Length, no body */
    char length[48] = "";
    if (!bodiless)
        snprintf(length, sizeof length, "Content-Length: %zu\r\n", len);
    int n = snprintf(head, sizeof head, "HTTP/1.1 %d %s\r\n%s%s%s", status, mb_http_reason(status),
                     typed || bodiless ? "" : "Content-Type: text/plain; charset=utf-8\r\n", length,
                     ex->keep_alive ? "" : "Connection: close\r\n");
    if (bodiless)
        len = 0;
    bool keep_alive = ex->keep_alive;
    if (ex->head_only)
        len = 0; /* Content-Length says what GET would have sent */
    w->ex = NULL;
    exchange_free(ex);
    if (n > 0)
        mb_conn_write(w->c, head, (size_t)n < sizeof head ? (size_t)n : sizeof head - 1);
    if (headers)
        mb_conn_write(w->c, headers, strlen(headers));
    mb_conn_write(w->c, "\r\n", 2);
    if (len)
        mb_conn_write(w->c, body, len);
    if (!keep_alive) {
        conn_close(w, true);
        return;
    }
    w->answered = mb_router_now_ms(router_of(w));
    if (w->in_dispatch) { /* dispatch resumes after the handler returns */
        w->state = WSC_HTTP;
    } else if (!w->head_len) {
        w->state = WSC_HTTP;
        mb_conn_set_reading(w->c, true);
    } else { /* the requests that waited run on the next loop turn, not inside the caller */
        resume_later(w);
    }
}

void mb_http_reply_text(struct mb_http_exchange *ex, int status, const char *content_type, const char *body)
{
    char h[160] = "";
    if (content_type)
        snprintf(h, sizeof h, "Content-Type: %s\r\n", content_type);
    mb_http_reply(ex, status, content_type ? h : NULL, body, strlen(body));
}

void mb_http_on_abandon(struct mb_http_exchange *ex, void (*fn)(void *ctx), void *ctx)
{
    ex->abandon = fn;
    ex->abandon_ctx = ctx;
}

const char *mb_http_peer(const struct mb_http_exchange *ex)
{
    return ex->peer;
}

const struct mb_listener_config *mb_http_listener(const struct mb_http_exchange *ex)
{
    return ex->listener;
}

bool mb_http_tls(const struct mb_http_exchange *ex)
{
    return ex->tls;
}

/* ---- WebSocket output -------------------------------------------------------------- */

static void put_frame(struct wsc *w, int opcode, bool rsv1, const char *data, size_t len)
{
    char *dst = mb_conn_reserve(w->c, MB_WS_HEAD_MAX + len);
    if (!dst)
        return;
    size_t h = mb_ws_put_head((unsigned char *)dst, opcode, rsv1, len);
    if (len)
        memcpy(dst + h, data, len);
    mb_conn_commit(w->c, h + len);
}

static z_stream *deflater(struct mb_ws *ws, int bits)
{
    if (ws->deflaters[bits])
        return ws->deflaters[bits];
    z_stream *z = calloc(1, sizeof *z);
    if (!z)
        return NULL;
    /* memLevel 8 is zlib's default; the window is what the client allowed */
    if (deflateInit2(z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -bits, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
        free(z);
        return NULL;
    }
    return ws->deflaters[bits] = z;
}

/* Deflates data into ws->deflated (RFC 7692 §7.2.1: the trailing 00 00 ff ff removed). 0, or -1. */
static int deflate_message(struct mb_ws *ws, int bits, const char *data, size_t len)
{
    z_stream *z = deflater(ws, bits);
    if (!z || deflateReset(z) != Z_OK)
        return -1;
    struct mb_buf *b = &ws->deflated;
    mb_buf_reset(b);
    size_t bound = deflateBound(z, (uLong)len) + 16;
    char *dst = mb_buf_reserve(b, bound);
    if (!dst)
        return -1;
    z->next_in = (Bytef *)data;
    z->avail_in = (uInt)len;
    z->next_out = (Bytef *)dst;
    z->avail_out = (uInt)bound;
    int rc = deflate(z, Z_SYNC_FLUSH);
    if ((rc != Z_OK && rc != Z_BUF_ERROR) || z->avail_in != 0 || z->avail_out == 0)
        return -1;
    size_t out = bound - z->avail_out;
    if (out < 4 || memcmp(dst + out - 4, "\x00\x00\xff\xff", 4) != 0)
        return -1;
    b->len = out - 4;
    return 0;
}

static void ws_send(void *conn, const char *data, size_t len)
{
    struct wsc *w = conn;
    if (w->state != WSC_WS)
        return;
    int opcode = w->s->ser == 0 ? MB_WS_TEXT : MB_WS_BINARY;
    if (w->deflate && len >= DEFLATE_MIN) {
        struct mb_ws *ws = w->wl->ws;
        if (deflate_message(ws, w->zbits, data, len) == 0 && ws->deflated.len < len) {
            put_frame(w, opcode, true, mb_buf_data(&ws->deflated), ws->deflated.len);
            mb_buf_reset(&ws->deflated);
            return;
        }
    }
    put_frame(w, opcode, false, data, len);
}

static size_t ws_queued(void *conn)
{
    return mb_conn_queued(((struct wsc *)conn)->c);
}

static int ws_channel_binding(void *conn, const char *type, unsigned char out[32])
{
    return mb_conn_channel_binding(((struct wsc *)conn)->c, type, out);
}

static void ws_set_reading(void *conn, bool on)
{
    struct wsc *w = conn;
    if (w->state == WSC_WS)
        mb_conn_set_reading(w->c, on);
}

/* Holds the bytes after the message that throttled the session (limits.max_message_rate). */
static void hold(struct wsc *w, const char *p, size_t n)
{
    if (mb_buf_append(&w->held, p, n) < 0)
        conn_close(w, false);
}

static void ws_resume(void *conn)
{
    struct wsc *w = conn;
    if (w->held.len == 0)
        return;
    struct mb_buf b = w->held; /* what it holds again goes into a fresh buffer */
    w->held = (struct mb_buf){ 0 };
    if (w->state == WSC_WS)
        ws_input(w, mb_buf_data(&b), b.len);
    mb_buf_free(&b);
}

static void send_close(struct wsc *w, int code, const char *reason)
{
    char frame[MB_WS_CONTROL_MAX];
    size_t rl = reason ? strlen(reason) : 0;
    if (rl > sizeof frame - 2)
        rl = sizeof frame - 2;
    frame[0] = (char)(code >> 8);
    frame[1] = (char)code;
    if (rl)
        memcpy(frame + 2, reason, rl);
    put_frame(w, MB_WS_CLOSE, false, frame, 2 + rl);
}

static void ws_close(void *conn, int code, const char *reason, bool flush)
{
    struct wsc *w = conn;
    if (w->state != WSC_WS)
        return;
    send_close(w, code, reason);
    if (!flush) { /* at once: the close frame goes out with what is queued, no answer awaited */
        conn_close(w, true);
        return;
    }
    /* wait for the peer's close frame (reading on, whatever flow control said), or cut */
    w->state = WSC_CLOSING;
    w->since = mb_router_now_ms(router_of(w));
    mb_conn_set_reading(w->c, true);
}

/* ---- WebSocket input --------------------------------------------------------------- */

/* A protocol error: close frame with code and reason, then the connection closes. */
static void ws_fail(struct wsc *w, int code, const char *reason)
{
    struct mb_router *r = router_of(w);
    mb_warn(&r->log, "session %llu (%s): %s: closed", (unsigned long long)w->s->id, w->s->peer, reason);
    mb_buf_free(&w->in);
    mb_session_close(w->s, code, reason, false);
    w->failed = true;
    mb_conn_set_reading(w->c, false);
    if (w->state == WSC_CLOSING) /* the session is already closing: the transport does it */
        conn_close(w, true);
}

static void too_big(struct wsc *w, uint64_t size, bool inflated)
{
    char reason[120];
    snprintf(reason, sizeof reason, "message of %s%llu bytes exceeds max_message_size %zu",
             inflated ? "over " : "", (unsigned long long)size, w->wl->max_message_size);
    router_of(w)->limits_stats.messages_too_large++;
    ws_fail(w, 1009, reason);
}

static z_stream *inflater(struct mb_ws *ws)
{
    if (ws->inflater)
        return ws->inflater;
    z_stream *z = calloc(1, sizeof *z);
    if (!z)
        return NULL;
    if (inflateInit2(z, -15) != Z_OK) { /* 15 inflates any smaller window too */
        free(z);
        return NULL;
    }
    return ws->inflater = z;
}

/* Inflates a message into ws->inflated, at most max bytes. 0, -1 (corrupt), or -2 (too big). */
static int inflate_message(struct mb_ws *ws, const char *data, size_t len, size_t max)
{
    z_stream *z = inflater(ws);
    return z ? mb_ws_inflate(z, &ws->inflated, data, len, max) : -1;
}

static void deliver(struct wsc *w, const char *data, size_t len, bool compressed)
{
    struct mb_ws *ws = w->wl->ws;
    if (compressed) {
        size_t max = w->wl->max_message_size;
        int rc = inflate_message(ws, data, len, max);
        if (rc == -2) {
            too_big(w, max, true);
            return;
        }
        if (rc < 0) {
            ws_fail(w, 1007, "permessage-deflate: the message does not inflate");
            return;
        }
        if (w->s->state != MB_S_CLOSED)
            mb_session_receive(w->s, mb_buf_data(&ws->inflated), ws->inflated.len);
        mb_buf_reset(&ws->inflated);
        return;
    }
    if (w->s->state != MB_S_CLOSED)
        mb_session_receive(w->s, data, len);
}

static void control_frame(struct wsc *w, int opcode, const char *p, size_t n)
{
    if (opcode == MB_WS_PING) {
        if (w->state == WSC_WS)
            put_frame(w, MB_WS_PONG, false, p, n);
    } else if (opcode == MB_WS_CLOSE) {
        int bad = mb_ws_close_check((const unsigned char *)p, n);
        if (w->state == WSC_WS && bad) { /* RFC 6455 §7.4: a code no peer sends, or a bad reason */
            mb_info(&w->wl->ws->r->log, "websocket %s: close frame %s: closing with %d",
                    w->s->peer, bad == 1007 ? "with a reason that is not UTF-8" : "with an invalid code", bad);
            send_close(w, bad, bad == 1007 ? "close reason is not UTF-8" : "invalid close code");
        } else if (w->state == WSC_WS) { /* the peer closes: echo its code, then close after the flush */
            if (n >= 2)
                put_frame(w, MB_WS_CLOSE, false, p, 2);
            else
                put_frame(w, MB_WS_CLOSE, false, NULL, 0);
        }
        conn_close(w, true);
    }
    /* a pong: its arrival already counts as liveness */
}

/* The first frame of a data message: the frame kind must match the session's serializer. */
static bool kind_ok(struct wsc *w, int opcode)
{
    int ser = w->s->ser;
    if (ser == 0 && opcode == MB_WS_BINARY) {
        mb_session_abort(w->s, MB_R_PROTOCOL_VIOLATION,
                         "binary WebSocket frame on a wamp.2.json session: JSON messages must be sent "
                         "as text frames");
        return false;
    }
    if (ser != 0 && opcode == MB_WS_TEXT) {
        const char *name = ser == 1 ? "MessagePack" : "CBOR";
        mb_session_abort(w->s, MB_R_PROTOCOL_VIOLATION,
                         "text WebSocket frame on a %s session: %s messages must be sent as binary frames",
                         mb_ws_subprotocols[ser], name);
        return false;
    }
    return true;
}

static void ws_input(struct wsc *w, const char *data, size_t len)
{
    struct mb_ws *ws = w->wl->ws;
    struct mb_router *r = ws->r;
    uint64_t max = w->wl->max_message_size;
    const unsigned char *p = (const unsigned char *)data, *end = p + len;
    if (w->failed)
        return;
    w->ping_sent = 0;
    mb_router_busy_poll(r);
    while (p < end && (w->state == WSC_WS || w->state == WSC_CLOSING)) {
        if (!w->in_payload) {
            int h;
            size_t used;
            if (w->hdr_len == 0) {
                h = mb_ws_parse_head(p, (size_t)(end - p), &w->f);
                if (h == 0) {
                    w->hdr_len = (uint8_t)(end - p);
                    memcpy(w->hdr, p, w->hdr_len);
                    return;
                }
                used = h > 0 ? (size_t)h : 0;
            } else {
                size_t take = MB_WS_HEAD_MAX - w->hdr_len;
                if (take > (size_t)(end - p))
                    take = (size_t)(end - p);
                memcpy(w->hdr + w->hdr_len, p, take);
                h = mb_ws_parse_head(w->hdr, w->hdr_len + take, &w->f);
                if (h == 0) {
                    w->hdr_len = (uint8_t)(w->hdr_len + take);
                    return;
                }
                used = h > 0 ? (size_t)h - w->hdr_len : 0;
                w->hdr_len = 0;
            }
            if (h < 0) {
                ws_fail(w, 1002, "frame length over 2^63");
                return;
            }
            p += used;
            bool first = w->rx.opcode == 0 && (w->f.opcode == MB_WS_TEXT || w->f.opcode == MB_WS_BINARY);
            int code = mb_ws_check_frame(&w->rx, &w->f, w->deflate, max);
            if (code == 1009) {
                too_big(w, w->f.opcode == MB_WS_CONT ? w->rx.len + w->f.len : w->f.len, false);
                return;
            }
            if (code) {
                char reason[80];
                snprintf(reason, sizeof reason, "WebSocket protocol error (%s frame, opcode %d)",
                         !w->f.masked ? "unmasked" : w->f.opcode >= 8 ? "control" : "data", w->f.opcode);
                ws_fail(w, code, reason);
                return;
            }
            if (first) {
                w->msg_compressed = w->f.rsv1;
                w->drop = w->state != WSC_WS || w->s->state == MB_S_CLOSED || !kind_ok(w, w->f.opcode);
            }
            w->in_payload = true;
            w->f_off = 0;
        }
        size_t avail = (size_t)(end - p);
        uint64_t left = w->f.len - w->f_off;
        size_t take = left < avail ? (size_t)left : avail;
        if (w->f.opcode >= 8) { /* a control frame: at most 125 bytes */
            char buf[MB_WS_CONTROL_MAX];
            const char *payload = buf;
            if (w->f_off == 0 && take == w->f.len) {
                mb_ws_unmask_copy((unsigned char *)buf, p, take, w->f.mask, 0);
            } else {
                if (!w->ctl && !(w->ctl = malloc(MB_WS_CONTROL_MAX))) {
                    conn_close(w, false);
                    return;
                }
                mb_ws_unmask_copy((unsigned char *)w->ctl + w->f_off, p, take, w->f.mask, w->f_off);
                payload = w->ctl;
            }
            p += take;
            w->f_off += take;
            if (w->f_off < w->f.len)
                return;
            w->in_payload = false;
            control_frame(w, w->f.opcode, payload, (size_t)w->f.len);
            free(w->ctl);
            w->ctl = NULL;
            continue;
        }
        bool last = w->f.fin && take == left;
        if (w->drop || w->state != WSC_WS) {
            /* skipped */
        } else if (last && w->f_off == 0 && w->in.len == 0) { /* a whole message at hand: the common case */
            char *dst = mb_buf_reserve(&ws->scratch, take);
            if (!dst) {
                conn_close(w, false);
                return;
            }
            mb_ws_unmask_copy((unsigned char *)dst, p, take, w->f.mask, 0);
            deliver(w, dst, take, w->msg_compressed);
            mb_buf_reset(&ws->scratch);
        } else {
            char *dst = mb_buf_reserve(&w->in, take);
            if (!dst) {
                conn_close(w, false);
                return;
            }
            mb_ws_unmask_copy((unsigned char *)dst, p, take, w->f.mask, w->f_off);
            mb_buf_commit(&w->in, take);
            if (last) {
                deliver(w, mb_buf_data(&w->in), w->in.len, w->msg_compressed);
                mb_buf_free(&w->in); /* an idle session keeps no buffer */
                r->released_buffers++;
            }
        }
        p += take;
        w->f_off += take;
        if (w->f_off == w->f.len) {
            w->in_payload = false;
            if (w->f.fin)
                w->drop = false;
        }
        if (last && p < end && w->state == WSC_WS && mb_session_throttled(w->s)) {
            hold(w, (const char *)p, (size_t)(end - p)); /* the rest waits for a token */
            return;
        }
    }
}

/* ---- mb_conn callbacks --------------------------------------------------------------- */

static void on_data(struct mb_conn *c, const char *data, size_t len)
{
    struct wsc *w = c->user;
    switch (w->state) {
    case WSC_HTTP:
        http_input(w, data, len);
        break;
    case WSC_FILE:
    case WSC_WAIT:
        keep_pipelined(w, data, len); /* kept for later */
        break;
    case WSC_BODY:
        body_input(w, data, len);
        break;
    case WSC_WS:
        if (mb_session_throttled(w->s) || w->held.len) {
            hold(w, data, len); /* read before the pause took effect: after what is held */
            break;
        }
        ws_input(w, data, len);
        break;
    case WSC_CLOSING:
        ws_input(w, data, len);
        break;
    default:
        break;
    }
}

static void on_drain(struct mb_conn *c)
{
    struct wsc *w = c->user;
    if (w->job && w->job->waiting) {
        w->job->waiting = false;
        job_read_next(w->job);
    } else if (w->s && w->s->reading_paused)
        mb_session_drained(w->s);
}

static void on_close(struct mb_conn *c)
{
    struct wsc *w = c->user;
    if (w->job)
        w->job->w = NULL; /* its callback frees it */
    if (w->s)
        mb_session_free(w->s);
    unlist_resume(w);
    if (w->ex) { /* gone before the answer */
        struct mb_http_exchange *ex = w->ex;
        w->ex = NULL;
        if (w->state == WSC_WAIT && ex->abandon)
            ex->abandon(ex->abandon_ctx);
        exchange_free(ex);
    }
    free(w->head);
    free(w->ctl);
    mb_buf_free(&w->in);
    mb_buf_free(&w->held);
    free(w);
    c->user = NULL;
}

static void on_sweep(struct mb_conn *c, uint64_t now_ms)
{
    struct wsc *w = c->user;
    switch (w->state) {
    case WSC_WS: {
        /* liveness: silent peers are pinged, and dropped if they do not answer in time */
        if (mb_session_liveness(w->s, now_ms, c->last_rx, &w->ping_sent))
            put_frame(w, MB_WS_PING, false, "moonbar", 7);
        else if (w->s->reading_paused) /* a backstop for on_drain */
            mb_session_drained(w->s);
        break;
    }
    case WSC_CLOSING:
        if (now_ms - w->since > CLOSE_WAIT_MS)
            conn_close(w, false);
        break;
    case WSC_HTTP: {
        uint64_t last = c->last_rx > w->answered ? c->last_rx : w->answered; /* a long-held answer counts */
        if (w->head_len ? now_ms - w->since > HTTP_HEAD_MS : now_ms - last > HTTP_IDLE_MS)
            conn_close(w, false);
        break;
    }
    case WSC_BODY: /* a body that stopped coming */
        if (now_ms - w->since > HTTP_HEAD_MS)
            conn_close(w, false);
        break;
    case WSC_FILE:
        if (w->job && w->job->waiting && mb_conn_queued(c) <= FILE_QUEUE_MAX) {
            w->job->waiting = false;
            job_read_next(w->job);
        }
        break;
    default:
        break;
    }
}

static const struct mb_conn_handler ws_handler = {
    .on_data = on_data, .on_drain = on_drain, .on_close = on_close, .on_sweep = on_sweep,
};

static void on_accept(struct mb_listener *l, struct mb_conn *c)
{
    struct ws_listener *wl = l->user;
    struct wsc *w = calloc(1, sizeof *w);
    if (!w) {
        mb_conn_close(c, false);
        return;
    }
    w->c = c;
    w->wl = wl;
    w->state = WSC_HTTP;
    c->user = w;
    c->h = &ws_handler;
}

/* ---- lifecycle ---------------------------------------------------------------------- */

static void free_listener(struct mb_listener *l)
{
    struct ws_listener *wl = (struct ws_listener *)l;
    free(wl->web_root);
    free(wl);
}

int mb_ws_start(struct mb_router *r)
{
    struct mb_config *cfg = r->cfg;
    struct mb_ws *ws = calloc(1, sizeof *ws);
    if (!ws)
        return -1;
    ws->r = r;
    r->ws = ws;
    for (size_t i = 0; i < cfg->nlisteners; i++) {
        const struct mb_listener_config *lc = &cfg->listeners[i];
        if (lc->kind != MB_LISTEN_WEBSOCKET)
            continue;
        struct ws_listener *wl = calloc(1, sizeof *wl);
        if (!wl)
            return -1;
        wl->ws = ws;
        wl->l.on_free = free_listener;
        wl->max_message_size = lc->max_message_size ? lc->max_message_size : cfg->max_message_size;
        if (lc->web_root) {
            wl->web_root = realpath(lc->web_root, NULL);
            if (!wl->web_root)
                mb_warn(&r->log, "web root %s: %s: no static files served", lc->web_root, strerror(errno));
        }
        if (mb_listener_start(r, &wl->l, lc, on_accept, wl) < 0) {
            if (!wl->l.r) /* not listed in r->net: mb_net_free will not free it */
                free_listener(&wl->l);
            return -1;
        }
    }
    return 0;
}

void mb_ws_sweep(struct mb_router *r, uint64_t now_ms)
{
    (void)now_ms;
    struct mb_ws *ws = r->ws;
    if (!ws)
        return;
    /* the shared buffers give back what a big message made them take (connections: on_sweep) */
    mb_buf_shrink(&ws->scratch, 1 << 16);
    mb_buf_shrink(&ws->inflated, 1 << 16);
    mb_buf_shrink(&ws->deflated, 1 << 16);
}

void mb_ws_stop_listening(struct mb_router *r)
{
    if (!r->ws || !r->net)
        return;
    /* the listeners stop with mb_net_stop_listening; HTTP connections between requests have
     * nothing to finish */
    for (struct mb_conn *c = r->net->conns; c; c = c->next)
        if (c->h == &ws_handler && ((struct wsc *)c->user)->state == WSC_HTTP)
            conn_close(c->user, true);
}

static void free_handle(uv_handle_t *h)
{
    free(h);
}

void mb_ws_free(struct mb_router *r)
{
    struct mb_ws *ws = r->ws;
    if (!ws)
        return;
    for (int i = 0; i < 16; i++)
        if (ws->deflaters[i]) {
            deflateEnd(ws->deflaters[i]);
            free(ws->deflaters[i]);
        }
    if (ws->inflater) {
        inflateEnd(ws->inflater);
        free(ws->inflater);
    }
    mb_buf_free(&ws->scratch);
    mb_buf_free(&ws->inflated);
    mb_buf_free(&ws->deflated);
    if (ws->resume) /* freed by its close callback, in the loop's last turn */
        uv_close((uv_handle_t *)ws->resume, free_handle);
    mb_ws_accept_cleanup();
    free(ws);
    r->ws = NULL;
}
