/* loadgen: moonbar's WAMP load generator (make bench, scripts/bench/run).
 *
 * Single-threaded on libuv. It speaks WAMP over RawSocket (handshake 0x7F 0xF0|serializer 0 0,
 * 4-byte frame headers) or WebSocket (upgrade to /ws with Sec-WebSocket-Protocol wamp.2.<ser>,
 * the 101 reply checked, masked client frames with a zero mask key: text frames for JSON, binary
 * for the others), optionally over TLS (--tls: OpenSSL on memory BIOs over the libuv stream), in
 * JSON, MessagePack or CBOR (--serializer; --mixed spreads pubsub's subscribers over the three),
 * and drives one scenario:
 *
 *   rpc     one callee registers --procedure and YIELDs the INVOCATION's args back; --callers
 *           connections each keep --depth CALLs in flight (args: one string of --payload bytes)
 *   lua     the same without the callee: the procedure is served by a Lua app in the router
 *   reload  lua, while --reload-file is rewritten every --reload-ms (a new "-- version N")
 *   pubsub  --subscribers connections subscribe bench.topic; one publisher (acknowledge: true)
 *           keeps --window publications in flight; args = [send_time_ns, payload]; with
 *           --progress N rpc: each call asks receive_progress and the callee streams N results
 *                        (N-1 progressive YIELDs, then the final one); counts results/s
 *           --eligible N every publication has Options.eligible = the first N subscribers'
 *           session IDs (the others must get nothing)
 *   conns   opens --sessions sessions (HELLO/WELCOME), --concurrency at once, keeps them idle
 *   rooms   --rooms rooms of --members members of moonbar's room service (the bench app
 *           scripts/bench/rooms_app: kind "bench", action ping(n)): every member is a session
 *           that subscribes moonbar.room.<room> and joins as a player; then the members send
 *           moonbar.room.act(room, "ping", n), --window actions in flight in all (at most
 *           --depth per member, taken round-robin); each action is broadcast to its room.
 *           Latency: CALL written -> this action's own event read (matched by seat and n).
 *   chess   --games games of chess (the games app, lua/apps/games: kind "chess", created with
 *           clock = false, rated = false), 3 sessions each: white, black, one spectator, all
 *           subscribed to moonbar.room.<room>. The players replay a real game (Byrne-Fischer,
 *           New York 1956, 82 plies, compiled in below) with moonbar.room.act(room, "move",
 *           uci): the side to move sends the next move as soon as its session has the event of
 *           the previous one (one move in flight per game). A game replayed to its end (the
 *           mate) starts again in a new room from the start; the first rooms start at every
 *           ply of the line (--stagger: a fen param), so rooms end at a steady rate. Latency:
 *           CALL written -> this move's event read on the mover's session. Every session must
 *           get every move event, in order.
 *
 * --auth wampcra | cryptosign: every session of any scenario joins as --authid (bench): HELLO
 * names the method (cryptosign: authextra.pubkey, the bench key's, a fixed Ed25519 seed whose
 * public key --print-pubkey prints), the CHALLENGE is answered (WAMP-CRA: HMAC-SHA256 of the
 * challenge text with --secret; cryptosign: the Ed25519 signature of the challenge, then the
 * challenge), and the WELCOME must name the method and the authid. A session refused (ABORT) or
 * welcomed otherwise is an error: conns counts it and goes on, the others stop. An ERROR that
 * refuses a request as not authorized always stops loadgen (the realm's roles lack a rule).
 *
 * The hot path does no serializer library work and no per-message malloc: incoming frames are
 * read with a small scanner per format (message code, integer fields, slices of the elements),
 * outgoing ones are assembled from prebuilt pieces (templates with holes for the request IDs and
 * timestamps, encoded in place) into a per-connection buffer that is written once per loop turn
 * (uv_try_write, then uv_write of the rest). Latencies go into a log-linear histogram. rooms and
 * chess speak JSON only.
 *
 * Output: one human line, and one line "RESULT key=value ..." for scripts. */
#include <uv.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <openssl/ssl.h>

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

/* ---- small things ---------------------------------------------------------------------------- */

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("loadgen: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

/* Writes v in decimal at out, returns the number of digits. */
static size_t u64_to_dec(char *out, uint64_t v)
{
    char tmp[24];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (size_t i = 0; i < n; i++)
        out[i] = tmp[n - 1 - i];
    return n;
}

/* A growable byte buffer; data lives in p[0, len). */
struct buf {
    char *p;
    size_t len, cap;
};

static char *buf_reserve(struct buf *b, size_t extra)
{
    if (b->len + extra > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + extra)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p)
            die("out of memory");
        b->p = p;
        b->cap = cap;
    }
    return b->p + b->len;
}

static void buf_append(struct buf *b, const void *data, size_t n)
{
    memcpy(buf_reserve(b, n), data, n);
    b->len += n;
}

static void buf_consume(struct buf *b, size_t n)
{
    if (n >= b->len) {
        b->len = 0;
        return;
    }
    memmove(b->p, b->p + n, b->len - n);
    b->len -= n;
}

static void buf_free(struct buf *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

/* ---- latency histogram: log-linear, 64 sub-buckets per power of two (< 1.6% error) --------- */

#define H_BUCKETS (59 * 64)

struct hist {
    uint64_t n, max;
    uint64_t b[H_BUCKETS];
};

static inline unsigned h_index(uint64_t v)
{
    if (v < 128)
        return (unsigned)v;
    unsigned msb = 63u - (unsigned)__builtin_clzll(v);
    unsigned sh = msb - 6;
    return (sh + 1) * 64 + (unsigned)((v >> sh) - 64);
}

static inline void h_add(struct hist *h, uint64_t v)
{
    h->b[h_index(v)]++;
    h->n++;
    if (v > h->max)
        h->max = v;
}

/* The value at quantile q (middle of its bucket), in the unit recorded. */
static double h_quantile(const struct hist *h, double q)
{
    if (!h->n)
        return 0;
    uint64_t want = (uint64_t)(q * (double)h->n + 0.999999);
    if (want < 1)
        want = 1;
    uint64_t cum = 0;
    for (unsigned i = 0; i < H_BUCKETS; i++) {
        cum += h->b[i];
        if (cum >= want) {
            if (i < 128)
                return (double)i;
            unsigned sh = i / 64 - 1;
            double lo = (double)((uint64_t)(i % 64 + 64) << sh), w = (double)((uint64_t)1 << sh);
            double mid = lo + w / 2;
            return mid > (double)h->max ? (double)h->max : mid;
        }
    }
    return (double)h->max;
}

/* ---- a tiny JSON scanner for the messages moonbar sends ------------------------------------- */

static const char *skip_ws(const char *p, const char *e)
{
    while (p < e && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
        p++;
    return p;
}

/* p is just after an opening quote; returns the position after the closing one. */
static const char *skip_string(const char *p, const char *e)
{
    for (;;) {
        const char *q = memchr(p, '"', (size_t)(e - p));
        if (!q)
            return NULL;
        const char *b = q;
        while (b > p && b[-1] == '\\')
            b--;
        if (((q - b) & 1) == 0)
            return q + 1;
        p = q + 1;
    }
}

static const char *skip_value(const char *p, const char *e)
{
    if (p >= e)
        return NULL;
    if (*p == '"')
        return skip_string(p + 1, e);
    if (*p == '[' || *p == '{') {
        int depth = 0;
        while (p < e) {
            char ch = *p;
            if (ch == '"') {
                if (!(p = skip_string(p + 1, e)))
                    return NULL;
                continue;
            }
            if (ch == '[' || ch == '{')
                depth++;
            else if ((ch == ']' || ch == '}') && --depth == 0)
                return p + 1;
            p++;
        }
        return NULL;
    }
    while (p < e && *p != ',' && *p != ']' && *p != '}' && *p != ' ' && *p != '\n')
        p++;
    return p;
}

/* ---- MessagePack and CBOR: item heads, a scanner that skips items -------------------------- */

enum ser { SER_JSON, SER_MSGPACK, SER_CBOR };
#define N_SER 3
static const char *const ser_names[N_SER] = { "json", "msgpack", "cbor" };
static const char *const ser_protocols[N_SER] = { "wamp.2.json", "wamp.2.msgpack", "wamp.2.cbor" };

enum item { I_UINT, I_STR, I_ARR, I_MAP };

static size_t put_be(unsigned char *o, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++)
        o[i] = (unsigned char)(v >> (8 * (bytes - 1 - i)));
    return (size_t)bytes;
}

/* The head of an item of a binary format (for a uint, the whole item): the smallest encoding,
 * as the reference libraries write them. Returns its length (at most 9). */
static size_t bin_head(enum ser s, enum item k, uint64_t n, unsigned char *o)
{
    if (s == SER_CBOR) {
        static const unsigned char major[] = { 0, 3, 4, 5 };
        unsigned char mt = (unsigned char)(major[k] << 5);
        if (n < 24) {
            o[0] = (unsigned char)(mt | n);
            return 1;
        }
        int b = n <= 0xff ? 1 : n <= 0xffff ? 2 : n <= 0xffffffffu ? 4 : 8;
        o[0] = (unsigned char)(mt | (b == 1 ? 24 : b == 2 ? 25 : b == 4 ? 26 : 27));
        return 1 + put_be(o + 1, n, b);
    }
    /* MessagePack: fix forms, then 8/16/32(/64)-bit lengths */
    static const unsigned char fix[] = { 0x00, 0xa0, 0x90, 0x80 }, fixmax[] = { 128, 32, 16, 16 };
    if (n < fixmax[k]) {
        o[0] = (unsigned char)(fix[k] | n);
        return 1;
    }
    int b = n <= 0xff ? 1 : n <= 0xffff ? 2 : n <= 0xffffffffu ? 4 : 8;
    switch (k) {
    case I_UINT: o[0] = b == 1 ? 0xcc : b == 2 ? 0xcd : b == 4 ? 0xce : 0xcf; break;
    case I_STR: o[0] = b == 1 ? 0xd9 : b == 2 ? 0xda : 0xdb; break;
    case I_ARR: b = b < 2 ? 2 : b; o[0] = b == 2 ? 0xdc : 0xdd; break;
    case I_MAP: b = b < 2 ? 2 : b; o[0] = b == 2 ? 0xde : 0xdf; break;
    }
    if (b == 8 && k != I_UINT)
        die("item too large");
    return 1 + put_be(o + 1, n, b);
}

/* A uint in the connection's format (JSON: decimal). At most 20 bytes. */
static size_t enc_uint(enum ser s, uint64_t v, char *out)
{
    return s == SER_JSON ? u64_to_dec(out, v) : bin_head(s, I_UINT, v, (unsigned char *)out);
}

static uint64_t get_be(const unsigned char *p, int bytes)
{
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++)
        v = (v << 8) | p[i];
    return v;
}

/* CBOR: the argument of the item at p (its major type in *mt, *indef for length 31); returns
 * the position after the head, or NULL. */
static const unsigned char *cbor_head(const unsigned char *p, const unsigned char *e, int *mt, uint64_t *arg,
                                      bool *indef)
{
    if (p >= e)
        return NULL;
    unsigned ai = *p & 31;
    *mt = *p >> 5;
    *indef = false;
    p++;
    if (ai < 24) {
        *arg = ai;
        return p;
    }
    if (ai == 31) {
        *indef = true;
        *arg = 0;
        return p;
    }
    if (ai > 27)
        return NULL;
    int b = 1 << (ai - 24);
    if (e - p < b)
        return NULL;
    *arg = get_be(p, b);
    return p + b;
}

static const unsigned char *bin_skip(enum ser s, const unsigned char *p, const unsigned char *e, int depth);

/* Skips n items (2n for a map) after p; returns the end, or NULL. */
static const unsigned char *bin_skip_n(enum ser s, const unsigned char *p, const unsigned char *e, uint64_t n,
                                       int depth)
{
    while (n-- && p)
        p = bin_skip(s, p, e, depth);
    return p;
}

static const unsigned char *bin_skip(enum ser s, const unsigned char *p, const unsigned char *e, int depth)
{
    if (p >= e || depth > 64)
        return NULL;
    if (s == SER_CBOR) {
        int mt;
        uint64_t arg;
        bool indef;
        const unsigned char *q = cbor_head(p, e, &mt, &arg, &indef);
        if (!q)
            return NULL;
        if (indef) {
            if (mt == 0 || mt == 1 || mt == 6 || mt == 7)
                return NULL; /* a break outside an indefinite item, or malformed */
            while (q && q < e && *q != 0xff)
                q = mt == 5 ? bin_skip_n(s, q, e, 2, depth + 1) : bin_skip(s, q, e, depth + 1);
            return q && q < e ? q + 1 : NULL;
        }
        switch (mt) {
        case 0:
        case 1:
        case 7: return q; /* ints, simple values and floats: the argument was the value */
        case 2:
        case 3: return (uint64_t)(e - q) >= arg ? q + arg : NULL;
        case 4: return bin_skip_n(s, q, e, arg, depth + 1);
        case 5: return arg > ((uint64_t)1 << 62) ? NULL : bin_skip_n(s, q, e, 2 * arg, depth + 1);
        default: return bin_skip(s, q, e, depth + 1); /* tag: the item it tags */
        }
    }
    unsigned b = *p++;
    uint64_t n = 0;
    if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3)
        return p;
    if (b <= 0x8f)
        return bin_skip_n(s, p, e, 2 * (uint64_t)(b & 15), depth + 1);
    if (b <= 0x9f)
        return bin_skip_n(s, p, e, b & 15, depth + 1);
    if (b <= 0xbf)
        n = b & 31;
    else {
        static const signed char width[] = {
            /* c0 */ 0, -1, 0, 0, /* c4 bin */ 1, 2, 4, /* c7 ext */ 1, 2, 4, /* ca floats */ -4, -8,
            /* cc uints */ -1, -2, -4, -8, /* d0 ints */ -1, -2, -4, -8, /* d4 fixext */ -2, -3, -5, -9, -17,
            /* d9 str */ 1, 2, 4, /* dc arrays */ 2, 4, /* de maps */ 2, 4
        };
        int w = width[b - 0xc0];
        if (w < 0)
            return b == 0xc1 || e - p < -w ? NULL : p - w; /* fixed size */
        if (e - p < w)
            return NULL;
        n = get_be(p, w);
        p += w;
        if (b >= 0xdc)
            return bin_skip_n(s, p, e, b >= 0xde ? 2 * n : n, depth + 1);
        if (b >= 0xc7 && b <= 0xc9)
            n++; /* the ext type byte */
    }
    return (uint64_t)(e - p) >= n ? p + n : NULL;
}

/* The position of the first element of the array at p, its element count in *n; NULL if p is
 * not an array (CBOR: indefinite arrays get *n = UINT64_MAX, ended by 0xff). */
static const unsigned char *bin_array(enum ser s, const unsigned char *p, const unsigned char *e, uint64_t *n)
{
    if (p >= e)
        return NULL;
    if (s == SER_CBOR) {
        int mt;
        bool indef;
        const unsigned char *q = cbor_head(p, e, &mt, n, &indef);
        if (!q || mt != 4)
            return NULL;
        if (indef)
            *n = UINT64_MAX;
        return q;
    }
    if (*p >= 0x90 && *p <= 0x9f) {
        *n = *p & 15;
        return p + 1;
    }
    int w = *p == 0xdc ? 2 : *p == 0xdd ? 4 : 0;
    if (!w || e - p < 1 + w)
        return NULL;
    *n = get_be(p + 1, w);
    return p + 1 + w;
}

/* A non-negative integer item at p; returns its end, or NULL. */
static const unsigned char *bin_uint(enum ser s, const unsigned char *p, const unsigned char *e, uint64_t *v)
{
    if (p >= e)
        return NULL;
    if (s == SER_CBOR) {
        int mt;
        bool indef;
        const unsigned char *q = cbor_head(p, e, &mt, v, &indef);
        return q && mt == 0 && !indef ? q : NULL;
    }
    unsigned b = *p;
    if (b <= 0x7f) {
        *v = b;
        return p + 1;
    }
    int w = b >= 0xcc && b <= 0xcf ? 1 << (b - 0xcc) : b >= 0xd0 && b <= 0xd3 ? 1 << (b - 0xd0) : 0;
    if (!w || e - p < 1 + w || (b >= 0xd0 && (p[1] & 0x80)))
        return NULL;
    *v = get_be(p + 1, w);
    return p + 1 + w;
}

/* ---- a message, split into slices of its elements, in any of the three formats -------------- */

struct msg {
    int n;                   /* elements found */
    enum ser ser;
    const char *s[6], *e[6]; /* element slices */
};

/* Splits a JSON array message into its first `max` top-level elements. Returns the count, or -1. */
static int split_json(const char *p, size_t len, struct msg *m, int max)
{
    const char *e = p + len;
    p = skip_ws(p, e);
    if (p >= e || *p != '[')
        return -1;
    p = skip_ws(p + 1, e);
    while (m->n < max && p < e && *p != ']') {
        const char *end = skip_value(p, e);
        if (!end || end == p)
            return -1;
        m->s[m->n] = p;
        m->e[m->n] = end;
        m->n++;
        p = skip_ws(end, e);
        if (p < e && *p == ',')
            p = skip_ws(p + 1, e);
    }
    return m->n;
}

static int split(enum ser ser, const char *p, size_t len, struct msg *m, int max)
{
    m->n = 0;
    m->ser = ser;
    if (ser == SER_JSON)
        return split_json(p, len, m, max);
    const unsigned char *q = (const unsigned char *)p, *e = q + len;
    uint64_t n;
    if (!(q = bin_array(ser, q, e, &n)))
        return -1;
    while (m->n < max && (uint64_t)m->n < n && q < e && !(n == UINT64_MAX && *q == 0xff)) {
        const unsigned char *end = bin_skip(ser, q, e, 0);
        if (!end)
            return -1;
        m->s[m->n] = (const char *)q;
        m->e[m->n] = (const char *)end;
        m->n++;
        q = end;
    }
    return m->n;
}

static bool field_u64(const struct msg *m, int i, uint64_t *out)
{
    if (i >= m->n)
        return false;
    const char *p = m->s[i], *e = m->e[i];
    if (m->ser != SER_JSON) {
        const unsigned char *q = bin_uint(m->ser, (const unsigned char *)p, (const unsigned char *)e, out);
        return q == (const unsigned char *)e;
    }
    if (p >= e || *p < '0' || *p > '9')
        return false;
    uint64_t v = 0;
    while (p < e && *p >= '0' && *p <= '9')
        v = v * 10 + (uint64_t)(*p++ - '0');
    *out = v;
    return p == e;
}

/* The first element of the array slice s..e as a uint (pubsub: args[0], the send time). */
static bool array_first_u64(enum ser ser, const char *s, const char *e, uint64_t *out)
{
    if (ser == SER_JSON) {
        const char *a = skip_ws(s + 1, e);
        uint64_t t = 0;
        if (s >= e || *s != '[' || a >= e || *a < '0' || *a > '9')
            return false;
        while (a < e && *a >= '0' && *a <= '9')
            t = t * 10 + (uint64_t)(*a++ - '0');
        *out = t;
        return true;
    }
    uint64_t n;
    const unsigned char *q = bin_array(ser, (const unsigned char *)s, (const unsigned char *)e, &n);
    return q && n > 0 && bin_uint(ser, q, (const unsigned char *)e, out) != NULL;
}

/* ---- strings and dicts of the join's messages (CHALLENGE, WELCOME, ABORT, ERROR) ------------ */

/* Appends code point cp to out as UTF-8; false if it does not fit (cap counts the NUL). */
static bool put_utf8(char *out, size_t cap, size_t *o, unsigned cp)
{
    unsigned char t[4];
    size_t n;
    if (cp < 0x80) {
        t[0] = (unsigned char)cp;
        n = 1;
    } else if (cp < 0x800) {
        t[0] = (unsigned char)(0xc0 | cp >> 6);
        t[1] = (unsigned char)(0x80 | (cp & 63));
        n = 2;
    } else if (cp < 0x10000) {
        t[0] = (unsigned char)(0xe0 | cp >> 12);
        t[1] = (unsigned char)(0x80 | ((cp >> 6) & 63));
        t[2] = (unsigned char)(0x80 | (cp & 63));
        n = 3;
    } else {
        t[0] = (unsigned char)(0xf0 | cp >> 18);
        t[1] = (unsigned char)(0x80 | ((cp >> 12) & 63));
        t[2] = (unsigned char)(0x80 | ((cp >> 6) & 63));
        t[3] = (unsigned char)(0x80 | (cp & 63));
        n = 4;
    }
    if (*o + n >= cap)
        return false;
    memcpy(out + *o, t, n);
    *o += n;
    return true;
}

static int hex_digit(char ch)
{
    return ch >= '0' && ch <= '9' ? ch - '0' : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : ch >= 'A' && ch <= 'F' ? ch - 'A' + 10 : -1;
}

/* The four hex digits at p (a \u escape), or -1. */
static long hex4(const char *p, const char *e)
{
    if (e - p < 4)
        return -1;
    long v = 0;
    for (int i = 0; i < 4; i++) {
        int d = hex_digit(p[i]);
        if (d < 0)
            return -1;
        v = v << 4 | d;
    }
    return v;
}

/* The JSON string s..e (its quotes included) unescaped into out: WAMP-CRA's challenge is JSON
 * text inside a JSON string, so its quotes arrive as \" (and an encoder may write any character
 * as \uXXXX, / as \/). False if it is not a string or does not fit in cap bytes with a NUL. */
static bool json_unescape(const char *s, const char *e, char *out, size_t cap, size_t *len)
{
    if (e - s < 2 || *s != '"' || e[-1] != '"')
        return false;
    size_t o = 0;
    const char *p = s + 1, *end = e - 1;
    while (p < end) {
        if (*p != '\\') {
            if (o + 1 >= cap)
                return false;
            out[o++] = *p++;
            continue;
        }
        if (++p >= end)
            return false;
        char ch = *p++;
        unsigned cp;
        switch (ch) {
        case '"':
        case '\\':
        case '/': cp = (unsigned)ch; break;
        case 'b': cp = '\b'; break;
        case 'f': cp = '\f'; break;
        case 'n': cp = '\n'; break;
        case 'r': cp = '\r'; break;
        case 't': cp = '\t'; break;
        case 'u': {
            long hi = hex4(p, end);
            if (hi < 0)
                return false;
            p += 4;
            cp = (unsigned)hi;
            if (hi >= 0xd800 && hi < 0xdc00) { /* a surrogate pair: \uD8xx\uDCxx */
                long lo = end - p >= 6 && p[0] == '\\' && p[1] == 'u' ? hex4(p + 2, end) : -1;
                if (lo < 0xdc00 || lo >= 0xe000)
                    return false;
                p += 6;
                cp = 0x10000 + (((unsigned)hi - 0xd800) << 10) + ((unsigned)lo - 0xdc00);
            } else if (hi >= 0xdc00 && hi < 0xe000) {
                return false;
            }
            break;
        }
        default: return false;
        }
        if (!put_utf8(out, cap, &o, cp))
            return false;
    }
    out[o] = '\0';
    *len = o;
    return true;
}

/* MessagePack or CBOR: the string item at p (definite length); its bytes in *sp, *n. Returns
 * the end of the item, or NULL. */
static const unsigned char *bin_str(enum ser s, const unsigned char *p, const unsigned char *e,
                                    const unsigned char **sp, uint64_t *n)
{
    if (p >= e)
        return NULL;
    const unsigned char *q;
    if (s == SER_CBOR) {
        int mt;
        bool indef;
        if (!(q = cbor_head(p, e, &mt, n, &indef)) || mt != 3 || indef)
            return NULL;
    } else if (*p >= 0xa0 && *p <= 0xbf) {
        *n = *p & 31;
        q = p + 1;
    } else {
        int w = *p == 0xd9 ? 1 : *p == 0xda ? 2 : *p == 0xdb ? 4 : 0;
        if (!w || e - p < 1 + w)
            return NULL;
        *n = get_be(p + 1, w);
        q = p + 1 + w;
    }
    if ((uint64_t)(e - q) < *n)
        return NULL;
    *sp = q;
    return q + *n;
}

/* The string item s..e of a message in format ser, copied into out (JSON: unescaped) with a
 * NUL; false if it is not a string or does not fit in cap bytes. */
static bool item_str(enum ser ser, const char *s, const char *e, char *out, size_t cap, size_t *len)
{
    if (ser == SER_JSON)
        return json_unescape(s, e, out, cap, len);
    const unsigned char *sp;
    uint64_t n;
    if (bin_str(ser, (const unsigned char *)s, (const unsigned char *)e, &sp, &n) != (const unsigned char *)e ||
        n >= cap)
        return false;
    memcpy(out, sp, (size_t)n);
    out[n] = '\0';
    *len = (size_t)n;
    return true;
}

static bool obj_get(const char *s, const char *e, const char *key, const char **vs, const char **ve);

/* The value of string key `key` in the dict item s..e of format ser, as a slice. */
static bool dict_get(enum ser ser, const char *s, const char *e, const char *key, const char **vs, const char **ve)
{
    if (ser == SER_JSON)
        return obj_get(s, e, key, vs, ve);
    const unsigned char *p = (const unsigned char *)s, *end = (const unsigned char *)e;
    uint64_t n;
    size_t kl = strlen(key);
    if (p >= end)
        return false;
    if (ser == SER_CBOR) {
        int mt;
        bool indef;
        if (!(p = cbor_head(p, end, &mt, &n, &indef)) || mt != 5)
            return false;
        if (indef)
            n = UINT64_MAX;
    } else if (*p >= 0x80 && *p <= 0x8f) {
        n = *p++ & 15;
    } else if ((*p == 0xde || *p == 0xdf) && end - p >= (*p == 0xde ? 3 : 5)) {
        int w = *p == 0xde ? 2 : 4;
        n = get_be(p + 1, w);
        p += 1 + w;
    } else {
        return false;
    }
    for (uint64_t i = 0; i < n && p < end && !(n == UINT64_MAX && *p == 0xff); i++) {
        const unsigned char *ks = NULL;
        uint64_t klen = 0;
        const unsigned char *v = bin_str(ser, p, end, &ks, &klen);
        bool is_str = v != NULL;
        if (!is_str)
            v = bin_skip(ser, p, end, 0); /* a key that is not a string */
        const unsigned char *vend = v ? bin_skip(ser, v, end, 0) : NULL;
        if (!vend)
            return false;
        if (is_str && klen == kl && memcmp(ks, key, kl) == 0) {
            *vs = (const char *)v;
            *ve = (const char *)vend;
            return true;
        }
        p = vend;
    }
    return false;
}

/* The string at key `key` of the dict item s..e (see item_str). */
static bool dict_str(enum ser ser, const char *s, const char *e, const char *key, char *out, size_t cap, size_t *len)
{
    const char *vs, *ve;
    return dict_get(ser, s, e, key, &vs, &ve) && item_str(ser, vs, ve, out, cap, len);
}

/* A message for a log line: JSON as it is, the others in hex (the first bytes). */
static const char *show(enum ser ser, const char *p, size_t len)
{
    static char out[640];
    if (ser == SER_JSON) {
        snprintf(out, sizeof out, "%.*s", (int)(len > 300 ? 300 : len), p);
        return out;
    }
    size_t o = (size_t)snprintf(out, sizeof out, "(%s, %zu bytes)", ser_names[ser], len);
    for (size_t i = 0; i < len && o + 4 < sizeof out; i++)
        o += (size_t)snprintf(out + o, sizeof out - o, " %02x", (unsigned char)p[i]);
    return out;
}

/* ---- building messages: one writer for the three formats, templates with holes ------------- */

/* The writer tracks the open containers (JSON needs the separators and the closing brackets;
 * the binary formats only the heads, written when a container is opened with its size). */
struct wr {
    enum ser ser;
    struct buf b;
    int depth;
    struct { int total, count; bool map; } st[16];
    int nholes;
    size_t hole[4];
};

static void wr_before(struct wr *w)
{
    if (w->ser != SER_JSON || !w->depth)
        return;
    const int c = w->st[w->depth - 1].count;
    if (c > 0)
        buf_append(&w->b, w->st[w->depth - 1].map && (c & 1) ? ":" : ",", 1);
}

/* One item done: it may fill (and close) its containers. */
static void wr_after(struct wr *w)
{
    while (w->depth) {
        if (++w->st[w->depth - 1].count < w->st[w->depth - 1].total)
            return;
        w->depth--;
        if (w->ser == SER_JSON)
            buf_append(&w->b, w->st[w->depth].map ? "}" : "]", 1);
    }
}

static void wr_open(struct wr *w, enum item k, int n)
{
    wr_before(w);
    if (w->ser == SER_JSON) {
        buf_append(&w->b, k == I_MAP ? "{" : "[", 1);
    } else {
        unsigned char h[9];
        buf_append(&w->b, h, bin_head(w->ser, k, (uint64_t)n, h));
    }
    if (n == 0) {
        if (w->ser == SER_JSON)
            buf_append(&w->b, k == I_MAP ? "}" : "]", 1);
        wr_after(w);
        return;
    }
    if (w->depth == 16)
        die("message nested too deep");
    w->st[w->depth].total = k == I_MAP ? 2 * n : n;
    w->st[w->depth].count = 0;
    w->st[w->depth].map = k == I_MAP;
    w->depth++;
}

static void wr_uint(struct wr *w, uint64_t v)
{
    char t[24];
    wr_before(w);
    buf_append(&w->b, t, enc_uint(w->ser, v, t));
    wr_after(w);
}

static void wr_strn(struct wr *w, const char *s, size_t n)
{
    wr_before(w);
    if (w->ser == SER_JSON) {
        for (size_t i = 0; i < n; i++)
            if (s[i] == '"' || s[i] == '\\' || (unsigned char)s[i] < 0x20)
                die("string needs JSON escapes: %.*s", (int)n, s);
        buf_append(&w->b, "\"", 1);
        buf_append(&w->b, s, n);
        buf_append(&w->b, "\"", 1);
    } else {
        unsigned char h[9];
        buf_append(&w->b, h, bin_head(w->ser, I_STR, n, h));
        buf_append(&w->b, s, n);
    }
    wr_after(w);
}

static void wr_str(struct wr *w, const char *s) { wr_strn(w, s, strlen(s)); }

static void wr_true(struct wr *w)
{
    wr_before(w);
    buf_append(&w->b, w->ser == SER_JSON ? "true" : w->ser == SER_MSGPACK ? "\xc3" : "\xf5",
               w->ser == SER_JSON ? 4 : 1);
    wr_after(w);
}

/* A hole: one item filled in at send time (a request ID, a timestamp, an args slice). It is
 * written as a one-byte placeholder (the uint 0 in every format) whose position is kept. */
static void wr_hole(struct wr *w)
{
    if (w->nholes == 4)
        die("too many holes");
    wr_before(w);
    w->hole[w->nholes++] = w->b.len;
    buf_append(&w->b, w->ser == SER_JSON ? "0" : "", 1);
    wr_after(w);
}

/* A prebuilt message: its bytes, and where its holes are. */
struct tmpl {
    char *p;
    size_t len;
    int nholes;
    size_t hole[4];
};

static struct wr wr_start(enum ser ser) { return (struct wr){ .ser = ser }; }

static struct tmpl wr_done(struct wr *w)
{
    if (w->depth)
        die("message left open");
    struct tmpl t = { .p = w->b.p, .len = w->b.len, .nholes = w->nholes };
    memcpy(t.hole, w->hole, sizeof t.hole);
    return t;
}

/* ---- options, state ------------------------------------------------------------------------- */

enum scenario { S_RPC, S_PUBSUB, S_CONNS, S_LUA, S_RELOAD, S_ROOMS, S_CHESS };
static const char *const scenario_names[] = { "rpc", "pubsub", "conns", "lua", "reload", "rooms", "chess" };
#define N_SCENARIOS 7
enum role { R_CALLER, R_CALLEE, R_SUB, R_PUB, R_IDLE, R_WATCH, R_MEMBER, R_CHESS };
static const char *const role_names[] = { "caller", "callee", "subscriber", "publisher", "idle", "watcher",
                                          "room member", "chess session" };
enum cstate { C_CONNECTING, C_HANDSHAKE, C_JOINING, C_SETUP, C_READY, C_CLOSED };
static const char *const state_names[] = { "connecting", "handshake", "joining", "setup", "ready", "closed" };
enum phase { P_SETUP, P_WARMUP, P_MEASURE, P_DRAIN, P_DONE };
/* --auth: how every session joins (anonymous: HELLO names no authmethods, the spec's default) */
enum auth { AUTH_ANONYMOUS, AUTH_WAMPCRA, AUTH_CRYPTOSIGN };
static const char *const auth_names[] = { "anonymous", "wampcra", "cryptosign" };
#define N_AUTH 3

enum { WAMP_HELLO = 1, WAMP_WELCOME = 2, WAMP_ABORT = 3, WAMP_CHALLENGE = 4, WAMP_AUTHENTICATE = 5,
       WAMP_GOODBYE = 6, WAMP_ERROR = 8,
       WAMP_PUBLISH = 16, WAMP_PUBLISHED = 17, WAMP_SUBSCRIBE = 32, WAMP_SUBSCRIBED = 33,
       WAMP_UNSUBSCRIBE = 34, WAMP_UNSUBSCRIBED = 35,
       WAMP_EVENT = 36, WAMP_CALL = 48, WAMP_RESULT = 50, WAMP_REGISTER = 64, WAMP_REGISTERED = 65,
       WAMP_INVOCATION = 68, WAMP_YIELD = 70 };

struct conn {
    uv_tcp_t tcp;
    uv_connect_t creq;
    uv_write_t wreq;
    int idx;
    enum role role;
    enum cstate state;
    bool writing, dirty, lost;
    bool challenged;   /* --auth: the CHALLENGE came and was answered */
    struct buf in, out, inflight, frag;
    struct conn *next_dirty;
    /* callers: one slot per call in flight; slot s carries request ids s+1, s+1+D, s+1+2D, ... */
    uint64_t *slot_id, *slot_t;
    int outstanding;
    uint64_t rx; /* subscribers: events received; callee: invocations answered; members: ping events */
    /* rooms: the member's room, its index in the room, its seat, the n of the action in each
     * slot, whether its RESULT / its own event came (a slot is free again once both did), the
     * last seq seen on the room's topic */
    int room, member, seat, step;
    uint64_t *slot_n;
    unsigned char *slot_got;
    uint64_t next_n, last_seq;
    /* chess (room = the game, member = 0 white, 1 black, 2 spectator): the current room's
     * subscription (0: none, its events are ignored), the ply of the next move event expected,
     * the move call waiting for its RESULT, a request counter */
    uint64_t sub_id, move_id, move_t, req;
    uint64_t session; /* from WELCOME */
    int next_ply;
    bool move_pending;
    enum ser ser;      /* its serializer (--serializer, or one of the three with --mixed) */
    SSL *ssl;          /* --tls: the TLS session, on memory BIOs (rbio: from the router, wbio: to it) */
    BIO *rbio, *wbio;
    struct buf tls_out; /* --tls: the encrypted bytes to write (out holds the plaintext) */
    char ws_key[25];   /* WebSocket: the Sec-WebSocket-Key sent (base64 of 16 random bytes) */
};

struct opts {
    const char *host;
    int port;
    bool ws;
    const char *realm;
    enum scenario scenario;
    int callers, depth, payload, subscribers, window, backlog, sessions, concurrency, sources, rooms, members;
    int eligible; /* pubsub: Options.eligible lists the first N subscribers (0: no list) */
    int progress; /* rpc: results per call, N-1 of them progressive (0: plain calls) */
    int games;
    bool stagger;
    bool depth_set, window_set;
    double duration, warmup, drain;
    const char *procedure, *topic;
    const char *reload_file;
    int reload_ms;
    int router_pid;
    enum ser ser;     /* --serializer */
    bool mixed;       /* pubsub: subscribers take json, msgpack, cbor in turn */
    bool tls;
    const char *dump; /* --dump FILE: the first messages sent, each as a 4-byte length + its bytes */
    enum auth auth;   /* --auth */
    const char *authid, *secret; /* --authid (bench), --secret (WAMP-CRA's, bench-secret) */
    bool print_pubkey;
};

/* chess: one game (3 sessions: conns 3g, 3g+1, 3g+2) */
struct game {
    char *room;       /* the current room's ID (NULL while it is being created) */
    int joined;       /* sessions that joined the current room */
    int done;         /* sessions that got the current room's last move */
    int ply;          /* ply of the line to send next in the current room */
    int start_ply;    /* the ply the current room started at (its fen: CHESS_FEN[start_ply - 1]) */
    uint64_t t[2];    /* send time of the last ply of each parity (the mover's latency) */
    int t_ply[2];
    uint64_t results; /* move RESULTs over all its rooms */
    bool stalled;     /* an ERROR stopped it */
};

static struct {
    struct opts o;
    uv_loop_t *loop;
    uv_prepare_t prepare;
    uv_check_t check;
    uv_timer_t phase_timer, reload_timer, deadline;
    struct conn *conns;
    int nconns, ready, connected;
    enum phase phase;
    bool finished;
    struct conn *dirty;
    char shared_in[256 * 1024];
    char shared_plain[256 * 1024]; /* --tls: what SSL_read decrypted */
    SSL_CTX *ssl_ctx;
    FILE *dump;
    int dumped;
    uint64_t rng;

    /* the messages of each serializer, prebuilt (holes: H) */
    struct {
        struct tmpl hello;      /* [1, realm, {roles}] */
        struct tmpl reg, sub;   /* [64, 1, {}, procedure], [32, 1, {}, topic] */
        struct tmpl watch;      /* [32, 1, {}, "moonbar.script.on_reload"] */
        struct tmpl call;       /* [48, H, {} or {receive_progress: true}, procedure, [payload]] */
        struct tmpl yield;      /* [70, H, {}, H (the INVOCATION's args)] */
        struct tmpl yield_prog; /* [70, H, {progress: true}, H] */
        struct tmpl yield_none; /* [70, H, {}] */
        struct tmpl publish;    /* [16, H, {acknowledge: true(, eligible: [...])}, topic, [H (now), payload]] */
        struct tmpl goodbye;    /* [6, {}, "wamp.close.normal"] */
        size_t result_args_len; /* length of [payload] */
    } m[N_SER];

    struct hist hist;
    uint64_t t_measure0, t_measure1, t_setup0;
    uint64_t completed, completed_window, errors, call_errors, bad, disconnects, calls_sent;
    uint64_t join_failures; /* sessions refused (ABORT) or welcomed wrongly: counted in errors too */
    EVP_PKEY *bench_key;    /* --auth cryptosign: the bench key (BENCH_SEED) */
    char bench_pub_hex[65];
    uint64_t progress_results, progress_window; /* --progress: progressive RESULTs (all, measured) */
    uint64_t pubs_sent, pubs_acked, pubs_acked_window, events_rx, events_rx_window;
    int pub_unacked;
    int opened, joined;
    uint64_t t_join0, t_join1;
    long rss0, rss1;
    unsigned reload_version;
    uint64_t reloads_ok, reloads_failed, reloads_written;
    double router_cpu0, router_cpu1, gen_cpu0, gen_cpu1, machine0, machine1;
    int lost_reports;

    /* rooms */
    char **room_ids;          /* room index -> its ID (from moonbar.room.create) */
    uint64_t *room_pings;     /* room index -> actions answered with a RESULT (= ping events published) */
    int *idle_q;              /* FIFO of members with a free slot (one entry per free slot) */
    int idle_head, idle_len, idle_cap;
    int actions_inflight;
    uint64_t events_expected; /* sum over the answered actions of their room's members */
    uint64_t seq_gaps;        /* events whose seq was not the one after the last seen */
    struct hist hist_result;  /* CALL written -> RESULT read */

    /* chess */
    struct game *games;
    uint64_t moves_sent, order_errors, games_done, games_done_window, stale_events;
} G;

/* ---- process statistics --------------------------------------------------------------------- */

static long read_rss_kib(int pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    long kib = -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "VmRSS:", 6) == 0) {
            kib = strtol(line + 6, NULL, 10);
            break;
        }
    fclose(f);
    return kib;
}

/* CPU seconds (user + system) the process used so far. */
static double proc_cpu_s(int pid)
{
    char path[64], line[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(line, 1, sizeof line - 1, f);
    fclose(f);
    line[n] = '\0';
    char *p = strrchr(line, ')'); /* the command may hold spaces */
    if (!p)
        return -1;
    unsigned long ut = 0, st = 0;
    /* after ")": state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime */
    if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
        return -1;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* CPU seconds all cores spent busy so far (everything but idle and iowait): with moonbar's
 * and the generator's own, it shows whether something else ran on the machine meanwhile. */
static double machine_busy_s(void)
{
    FILE *f = fopen("/proc/stat", "r");
    if (!f)
        return -1;
    unsigned long long v[8] = { 0 };
    int n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5],
                   &v[6], &v[7]);
    fclose(f);
    if (n != 8)
        return -1;
    unsigned long long busy = v[0] + v[1] + v[2] + v[5] + v[6] + v[7]; /* user nice system irq softirq steal */
    return (double)busy / (double)sysconf(_SC_CLK_TCK);
}

static double self_cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           (double)ru.ru_stime.tv_usec / 1e6;
}

/* ---- writing -------------------------------------------------------------------------------- */

static void mark_dirty(struct conn *c)
{
    if (!c->dirty) {
        c->dirty = true;
        c->next_dirty = G.dirty;
        G.dirty = c;
    }
}

/* Appends one WAMP message made of n pieces as a frame of the connection's transport. */
struct piece {
    const char *p;
    size_t n;
};

static void send_pieces(struct conn *c, const struct piece *pc, int n, int ws_opcode)
{
    if (c->state == C_CLOSED)
        return;
    size_t len = 0;
    for (int i = 0; i < n; i++)
        len += pc[i].n;
    char *d = buf_reserve(&c->out, len + 14);
    size_t h = 0;
    if (G.o.ws) {
        d[h++] = (char)(0x80 | ws_opcode);
        if (len < 126) {
            d[h++] = (char)(0x80 | len);
        } else if (len <= 0xffff) {
            d[h++] = (char)(0x80 | 126);
            d[h++] = (char)(len >> 8);
            d[h++] = (char)len;
        } else {
            d[h++] = (char)(0x80 | 127);
            for (int i = 7; i >= 0; i--)
                d[h++] = (char)((uint64_t)len >> (8 * i));
        }
        memset(d + h, 0, 4); /* mask key 0: the payload goes as it is */
        h += 4;
    } else {
        d[h++] = (char)ws_opcode; /* RawSocket frame type: 0 message, 2 PONG */
        d[h++] = (char)(len >> 16);
        d[h++] = (char)(len >> 8);
        d[h++] = (char)len;
    }
    for (int i = 0; i < n; i++) {
        memcpy(d + h, pc[i].p, pc[i].n);
        h += pc[i].n;
    }
    c->out.len += h;
    mark_dirty(c);
}

/* The frame opcode / RawSocket message type of a WAMP message on this connection. */
static int msg_opcode(const struct conn *c)
{
    return G.o.ws ? (c->ser == SER_JSON ? 1 : 2) : 0;
}

/* --dump: the first 64 messages sent, each as a 4-byte big-endian length and its bytes. */
static void dump_message(const struct piece *pc, int n)
{
    size_t len = 0;
    for (int i = 0; i < n; i++)
        len += pc[i].n;
    unsigned char h[4];
    put_be(h, len, 4);
    fwrite(h, 1, 4, G.dump);
    for (int i = 0; i < n; i++)
        fwrite(pc[i].p, 1, pc[i].n, G.dump);
    if (++G.dumped == 64) {
        fclose(G.dump);
        G.dump = NULL;
    }
}

static void send_msg(struct conn *c, const struct piece *pc, int n)
{
    if (G.dump && c->state != C_CLOSED)
        dump_message(pc, n);
    send_pieces(c, pc, n, msg_opcode(c));
}

/* A template with its holes filled (fill[i]: the bytes of hole i). */
static void send_tmpl(struct conn *c, const struct tmpl *t, const struct piece *fill)
{
    struct piece pc[9];
    int n = 0;
    size_t at = 0;
    for (int i = 0; i < t->nholes; i++) {
        pc[n++] = (struct piece){ t->p + at, t->hole[i] - at };
        pc[n++] = fill[i];
        at = t->hole[i] + 1;
    }
    pc[n++] = (struct piece){ t->p + at, t->len - at };
    send_msg(c, pc, n);
}

/* rooms and chess: JSON text made with snprintf. */
static void send_text(struct conn *c, const char *text, size_t len)
{
    struct piece pc = { text, len };
    send_msg(c, &pc, 1);
}

static void conn_lost(struct conn *c, const char *why);

static void flush(struct conn *c);

/* --tls: what OpenSSL wrote to the network BIO goes to tls_out. */
static void tls_pull(struct conn *c)
{
    size_t pending;
    while ((pending = BIO_ctrl_pending(c->wbio)) > 0) {
        char *d = buf_reserve(&c->tls_out, pending);
        int n = BIO_read(c->wbio, d, (int)pending);
        if (n <= 0)
            break;
        c->tls_out.len += (size_t)n;
    }
}

static const char *tls_error(void)
{
    static char msg[256];
    unsigned long e = ERR_get_error();
    if (!e)
        return "TLS error";
    ERR_error_string_n(e, msg, sizeof msg);
    ERR_clear_error();
    return msg;
}

static void on_written(uv_write_t *req, int status)
{
    struct conn *c = req->data;
    c->writing = false;
    c->inflight.len = 0;
    if (status < 0) {
        if (status != UV_ECANCELED)
            conn_lost(c, uv_strerror(status));
        return;
    }
    if (c->out.len || c->tls_out.len)
        mark_dirty(c);
}

static void flush(struct conn *c)
{
    if (c->state == C_CLOSED || c->state == C_CONNECTING)
        return;
    struct buf *wire = &c->out;
    if (c->ssl) {
        /* the plaintext goes through OpenSSL once the handshake is done (memory BIOs take it all) */
        if (c->out.len && SSL_is_init_finished(c->ssl)) {
            int n = SSL_write(c->ssl, c->out.p, (int)c->out.len);
            if (n <= 0) {
                conn_lost(c, tls_error());
                return;
            }
            buf_consume(&c->out, (size_t)n);
        }
        tls_pull(c);
        wire = &c->tls_out;
    }
    if (c->writing || !wire->len)
        return;
    uv_buf_t b = uv_buf_init(wire->p, (unsigned)wire->len);
    int n = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
    if (n > 0)
        buf_consume(wire, (size_t)n);
    else if (n < 0 && n != UV_EAGAIN) {
        conn_lost(c, uv_strerror(n));
        return;
    }
    if (!wire->len)
        return;
    struct buf t = c->inflight; /* the rest goes from its own buffer; out keeps growing meanwhile */
    c->inflight = *wire;
    *wire = t;
    wire->len = 0;
    b = uv_buf_init(c->inflight.p, (unsigned)c->inflight.len);
    c->wreq.data = c;
    int rc = uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &b, 1, on_written);
    if (rc < 0) {
        conn_lost(c, uv_strerror(rc));
        return;
    }
    c->writing = true;
}

static void flush_all(void)
{
    while (G.dirty) {
        struct conn *c = G.dirty;
        G.dirty = c->next_dirty;
        c->dirty = false;
        flush(c);
    }
}

/* ---- WAMP messages out ---------------------------------------------------------------------- */

/* Request details that say a progressive result, and a reload event that says it was applied,
 * as each serializer writes them. */
static const struct piece progress_key[N_SER] = { { "\"progress\":true", 15 }, { "\xa8progress\xc3", 10 },
                                                   { "\x68progress\xf5", 10 } };
static const struct piece ok_key[N_SER] = { { "\"ok\":true", 9 }, { "\xa2ok\xc3", 4 }, { "\x62ok\xf5", 4 } };

static void send_call(struct conn *c, int slot, uint64_t now)
{
    uint64_t id = c->slot_id[slot] ? c->slot_id[slot] + (uint64_t)G.o.depth : (uint64_t)slot + 1;
    c->slot_id[slot] = id;
    c->slot_t[slot] = now;
    c->outstanding++;
    char head[24];
    struct piece fill[1] = { { head, enc_uint(c->ser, id, head) } };
    send_tmpl(c, &G.m[c->ser].call, fill);
    G.calls_sent++;
}

static void send_publish(struct conn *c)
{
    char id[24], ts[24];
    struct piece fill[2] = { { id, enc_uint(c->ser, ++G.pubs_sent, id) }, { ts, enc_uint(c->ser, now_ns(), ts) } };
    send_tmpl(c, &G.m[c->ser].publish, fill);
    G.pub_unacked++;
}

static bool running(void) { return G.phase == P_WARMUP || G.phase == P_MEASURE; }

/* Subscribers that get each publication: all, or the --eligible first ones. */
static uint64_t receivers(void)
{
    return (uint64_t)(G.o.eligible ? G.o.eligible : G.o.subscribers);
}

/* [16, H, {acknowledge: true(, eligible: [the first N subscribers' sessions])}, topic, [H, payload]] */
static struct tmpl build_publish(enum ser ser, const char *payload, bool eligible)
{
    struct wr w = wr_start(ser);
    wr_open(&w, I_ARR, 5);
    wr_uint(&w, WAMP_PUBLISH);
    wr_hole(&w);
    wr_open(&w, I_MAP, eligible ? 2 : 1);
    wr_str(&w, "acknowledge");
    wr_true(&w);
    if (eligible) {
        wr_str(&w, "eligible");
        wr_open(&w, I_ARR, G.o.eligible);
        for (int i = 1; i <= G.o.eligible; i++)
            wr_uint(&w, G.conns[i].session);
    }
    wr_str(&w, G.o.topic);
    wr_open(&w, I_ARR, 2);
    wr_hole(&w);
    wr_str(&w, payload);
    return wr_done(&w);
}

static char *payload_string(void)
{
    char *payload = malloc((size_t)G.o.payload + 1);
    if (!payload)
        die("out of memory");
    memset(payload, 'x', (size_t)G.o.payload);
    payload[G.o.payload] = '\0';
    return payload;
}

/* --eligible: the publication's Options name the first N subscribers (conns 1..N), known once
 * every session joined. */
static void pub_mid_eligible(void)
{
    char *payload = payload_string();
    for (int s = 0; s < N_SER; s++) {
        free(G.m[s].publish.p);
        G.m[s].publish = build_publish((enum ser)s, payload, true);
    }
    free(payload);
}

/* The publisher keeps --window publications unacknowledged, and no more than --backlog
 * publications' worth of events undelivered (so that a generator slower than moonbar does not
 * grow moonbar's queues until it disconnects slow consumers). */
static void pump_publisher(void)
{
    if (!running() || G.o.scenario != S_PUBSUB)
        return;
    struct conn *c = &G.conns[0];
    uint64_t S = receivers();
    while (G.pub_unacked < G.o.window && (G.pubs_sent * S - G.events_rx) < (uint64_t)G.o.backlog * S)
        send_publish(c);
}

/* ---- rooms ---------------------------------------------------------------------------------- */

static void became_ready(struct conn *c, uint64_t now);
static void conn_open(struct conn *c);

/* Request IDs of the setup calls (action calls use the slot scheme of the callers, far below). */
#define ID_CREATE ((uint64_t)1 << 50)
#define ID_JOIN (ID_CREATE + 1)
#define ID_SUB (ID_CREATE + 2)
enum { STEP_WELCOME, STEP_CREATING, STEP_WAIT_ROOM, STEP_SUBSCRIBING, STEP_JOINING };

/* The value of top-level key `key` of the JSON object s..e (s at its '{'), as a slice. */
static bool obj_get(const char *s, const char *e, const char *key, const char **vs, const char **ve)
{
    size_t kl = strlen(key);
    const char *p = skip_ws(s, e);
    if (p >= e || *p != '{')
        return false;
    p = skip_ws(p + 1, e);
    while (p < e && *p == '"') {
        const char *ks = p + 1, *kend = skip_string(ks, e);
        if (!kend)
            return false;
        p = skip_ws(kend, e);
        if (p >= e || *p != ':')
            return false;
        p = skip_ws(p + 1, e);
        const char *v = p, *vend = skip_value(p, e);
        if (!vend || vend == v)
            return false;
        if ((size_t)(kend - 1 - ks) == kl && memcmp(ks, key, kl) == 0) {
            *vs = v;
            *ve = vend;
            return true;
        }
        p = skip_ws(vend, e);
        if (p < e && *p == ',')
            p = skip_ws(p + 1, e);
    }
    return false;
}

static bool obj_u64(const char *s, const char *e, const char *key, uint64_t *out)
{
    const char *p, *ve;
    if (!obj_get(s, e, key, &p, &ve) || p >= ve || *p < '0' || *p > '9')
        return false;
    uint64_t v = 0;
    while (p < ve && *p >= '0' && *p <= '9')
        v = v * 10 + (uint64_t)(*p++ - '0');
    *out = v;
    return p == ve;
}

static void send_room_call(struct conn *c, uint64_t id, const char *proc, const char *args_kwargs)
{
    char msg[512];
    int n = snprintf(msg, sizeof msg, "[%d,%" PRIu64 ",{},\"%s\",%s]", WAMP_CALL, id, proc, args_kwargs);
    send_text(c, msg, (size_t)n);
}

/* The member knows its room's ID: subscribe to the room's topic, then join (on SUBSCRIBED). */
static void room_subscribe(struct conn *c)
{
    char msg[256];
    c->step = STEP_SUBSCRIBING;
    int n = snprintf(msg, sizeof msg, "[%d,%" PRIu64 ",{},\"moonbar.room.%s\"]", WAMP_SUBSCRIBE, ID_SUB,
                     G.room_ids[c->room]);
    send_text(c, msg, (size_t)n);
}

static void room_join(struct conn *c)
{
    char a[256];
    c->step = STEP_JOINING;
    snprintf(a, sizeof a, "[\"%s\"],{\"as\":\"player\",\"name\":\"m%d\"}", G.room_ids[c->room], c->member + 1);
    send_room_call(c, ID_JOIN, "moonbar.room.join", a);
}

static void idle_push(int i)
{
    G.idle_q[(G.idle_head + G.idle_len) % G.idle_cap] = i;
    G.idle_len++;
}

static void send_action(struct conn *c, int slot, uint64_t now)
{
    uint64_t id = c->slot_id[slot] ? c->slot_id[slot] + (uint64_t)G.o.depth : (uint64_t)slot + 1;
    uint64_t n = ++c->next_n;
    c->slot_id[slot] = id;
    c->slot_t[slot] = now;
    c->slot_n[slot] = n;
    c->slot_got[slot] = 0;
    c->outstanding++;
    G.actions_inflight++;
    char head[32] = "[48,", num[24];
    size_t hl = 4 + u64_to_dec(head + 4, id), nl = u64_to_dec(num, n);
    const char *rid = G.room_ids[c->room];
    struct piece pc[6] = { { head, hl }, { ",{},\"moonbar.room.act\",[\"", 25 }, { rid, strlen(rid) },
                           { "\",\"ping\",", 9 }, { num, nl }, { "]]", 2 } };
    send_msg(c, pc, 6);
    G.calls_sent++;
}

/* A slot got both its RESULT (or an ERROR) and its own event: the member may act again. */
static void slot_done(struct conn *c, int slot)
{
    c->slot_t[slot] = 0;
    c->outstanding--;
    G.actions_inflight--;
    if (running())
        idle_push(c->idx);
}

/* Keeps --window actions in flight, taking members round-robin. */
static void pump_members(void)
{
    if (!running() || G.o.scenario != S_ROOMS)
        return;
    uint64_t now = now_ns();
    while (G.actions_inflight < G.o.window && G.idle_len > 0) {
        struct conn *c = &G.conns[G.idle_q[G.idle_head]];
        G.idle_head = (G.idle_head + 1) % G.idle_cap;
        G.idle_len--;
        if (c->state != C_READY)
            continue;
        int s = 0;
        while (s < G.o.depth && c->slot_t[s])
            s++;
        if (s < G.o.depth)
            send_action(c, s, now);
    }
}

/* RESULT for a member: a setup call's or an action's. */
static void member_result(struct conn *c, const struct msg *m, uint64_t id, uint64_t now)
{
    if (id == ID_CREATE && c->step == STEP_CREATING) {
        const char *vs, *ve;
        if (m->n < 5 || !obj_get(m->s[4], m->e[4], "room", &vs, &ve) || ve - vs < 3 || *vs != '"')
            die("moonbar.room.create: no room in the answer: %.*s", (int)(m->n ? m->e[m->n - 1] - m->s[0] : 0),
                m->s[0]);
        G.room_ids[c->room] = strndup(vs + 1, (size_t)(ve - vs - 2));
        int first = c->room * G.o.members;
        for (int k = 0; k < G.o.members; k++) {
            struct conn *x = &G.conns[first + k];
            if (x == c || x->step == STEP_WAIT_ROOM)
                room_subscribe(x);
        }
        return;
    }
    if (id == ID_JOIN && c->step == STEP_JOINING) {
        uint64_t seat = 0;
        if (m->n < 5 || !obj_u64(m->s[4], m->e[4], "seat", &seat) || seat < 1)
            die("moonbar.room.join: no seat in the answer");
        c->seat = (int)seat;
        became_ready(c, now);
        return;
    }
    int slot = id ? (int)((id - 1) % (uint64_t)G.o.depth) : 0;
    if (!id || c->slot_id[slot] != id || !c->slot_t[slot] || (c->slot_got[slot] & 1)) {
        G.bad++; /* not an action in flight */
        return;
    }
    G.completed++;
    G.room_pings[c->room]++;
    G.events_expected += (uint64_t)G.o.members;
    if (G.phase == P_MEASURE) {
        G.completed_window++;
        h_add(&G.hist_result, now - c->slot_t[slot]);
    }
    if ((c->slot_got[slot] |= 1) == 3)
        slot_done(c, slot);
}

/* EVENT on the room's topic: [36, sub, pub, details, [{type, seq, ...}]]. */
static void member_event(struct conn *c, const struct msg *m, uint64_t now)
{
    const char *a = m->n >= 5 ? skip_ws(m->s[4] + 1, m->e[4]) : NULL;
    const char *ae = a ? skip_value(a, m->e[4]) : NULL, *ts, *te;
    uint64_t seq = 0, n = 0, seat = 0;
    if (!ae || !obj_u64(a, ae, "seq", &seq) || !obj_get(a, ae, "type", &ts, &te)) {
        G.bad++;
        return;
    }
    if (c->last_seq && seq != c->last_seq + 1)
        G.seq_gaps++;
    c->last_seq = seq;
    if (te - ts != 6 || memcmp(ts, "\"ping\"", 6) != 0)
        return; /* join events of the setup */
    c->rx++;
    G.events_rx++;
    if (G.phase == P_MEASURE)
        G.events_rx_window++;
    if (!obj_u64(a, ae, "n", &n) || !obj_u64(a, ae, "seat", &seat)) {
        G.bad++;
        return;
    }
    if ((int)seat != c->seat)
        return;
    for (int s = 0; s < G.o.depth; s++) {
        if (c->slot_t[s] && c->slot_n[s] == n && !(c->slot_got[s] & 2)) {
            if (G.phase == P_MEASURE)
                h_add(&G.hist, now - c->slot_t[s]);
            if ((c->slot_got[s] |= 2) == 3)
                slot_done(c, s);
            return;
        }
    }
    G.bad++; /* our seat, but no such action in flight */
}

/* rooms: keeps --concurrency members in setup at once, in index order (so that the member that
 * creates a room connects before the others of the room). */
static void rooms_open_more(void)
{
    while (G.opened < G.nconns && G.opened - G.ready < G.o.concurrency)
        conn_open(&G.conns[G.opened++]);
}

/* ---- chess ---------------------------------------------------------------------------------- */

/* Byrne-Fischer, New York 1956 ("the game of the century"), 82 plies ending in 41...Rc2#, in
 * UCI (the line of spec/interop/py/mb_chess.py, checked there move by move against SAN and FEN
 * from chess.js; lua/apps/games/chess_rules.lua's C.replay plays it to the mate, the game going
 * on until the last move). */
static const char *const CHESS_LINE[] = {
    "g1f3", "g8f6", "c2c4", "g7g6", "b1c3", "f8g7", "d2d4", "e8g8", "c1f4", "d7d5", "d1b3", "d5c4", "b3c4", "c7c6",
    "e2e4", "b8d7", "a1d1", "d7b6", "c4c5", "c8g4", "f4g5", "b6a4", "c5a3", "a4c3", "b2c3", "f6e4", "g5e7", "d8b6",
    "f1c4", "e4c3", "e7c5", "f8e8", "e1f1", "g4e6", "c5b6", "e6c4", "f1g1", "c3e2", "g1f1", "e2d4", "f1g1", "d4e2",
    "g1f1", "e2c3", "f1g1", "a7b6", "a3b4", "a8a4", "b4b6", "c3d1", "h2h3", "a4a2", "g1h2", "d1f2", "h1e1", "e8e1",
    "b6d8", "g7f8", "f3e1", "c4d5", "e1f3", "f2e4", "d8b8", "b7b5", "h3h4", "h7h5", "f3e5", "g8g7", "h2g1", "f8c5",
    "g1f1", "e4g3", "f1e1", "c5b4", "e1d1", "d5b3", "d1c1", "g3e2", "c1b1", "e2c3", "b1c1", "a2c2",
};
#define CHESS_PLIES ((int)(sizeof CHESS_LINE / sizeof CHESS_LINE[0]))
/* The position after each ply but the last (chess.js's FEN, the same as chess_rules.lua's): with
 * --stagger, game g's first room starts after g mod 82 plies (a room created with that fen), so
 * that the games are at every stage of the line and rooms end and start at a steady rate. From
 * each of these positions chess_rules.lua plays the rest of the line to the mate, not ending
 * before it. */
static const char *const CHESS_FEN[] = {
    "rnbqkbnr/pppppppp/8/8/8/5N2/PPPPPPPP/RNBQKB1R b KQkq - 1 1",
    "rnbqkb1r/pppppppp/5n2/8/8/5N2/PPPPPPPP/RNBQKB1R w KQkq - 2 2",
    "rnbqkb1r/pppppppp/5n2/8/2P5/5N2/PP1PPPPP/RNBQKB1R b KQkq c3 0 2",
    "rnbqkb1r/pppppp1p/5np1/8/2P5/5N2/PP1PPPPP/RNBQKB1R w KQkq - 0 3",
    "rnbqkb1r/pppppp1p/5np1/8/2P5/2N2N2/PP1PPPPP/R1BQKB1R b KQkq - 1 3",
    "rnbqk2r/ppppppbp/5np1/8/2P5/2N2N2/PP1PPPPP/R1BQKB1R w KQkq - 2 4",
    "rnbqk2r/ppppppbp/5np1/8/2PP4/2N2N2/PP2PPPP/R1BQKB1R b KQkq d3 0 4",
    "rnbq1rk1/ppppppbp/5np1/8/2PP4/2N2N2/PP2PPPP/R1BQKB1R w KQ - 1 5",
    "rnbq1rk1/ppppppbp/5np1/8/2PP1B2/2N2N2/PP2PPPP/R2QKB1R b KQ - 2 5",
    "rnbq1rk1/ppp1ppbp/5np1/3p4/2PP1B2/2N2N2/PP2PPPP/R2QKB1R w KQ d6 0 6",
    "rnbq1rk1/ppp1ppbp/5np1/3p4/2PP1B2/1QN2N2/PP2PPPP/R3KB1R b KQ - 1 6",
    "rnbq1rk1/ppp1ppbp/5np1/8/2pP1B2/1QN2N2/PP2PPPP/R3KB1R w KQ - 0 7",
    "rnbq1rk1/ppp1ppbp/5np1/8/2QP1B2/2N2N2/PP2PPPP/R3KB1R b KQ - 0 7",
    "rnbq1rk1/pp2ppbp/2p2np1/8/2QP1B2/2N2N2/PP2PPPP/R3KB1R w KQ - 0 8",
    "rnbq1rk1/pp2ppbp/2p2np1/8/2QPPB2/2N2N2/PP3PPP/R3KB1R b KQ e3 0 8",
    "r1bq1rk1/pp1nppbp/2p2np1/8/2QPPB2/2N2N2/PP3PPP/R3KB1R w KQ - 1 9",
    "r1bq1rk1/pp1nppbp/2p2np1/8/2QPPB2/2N2N2/PP3PPP/3RKB1R b K - 2 9",
    "r1bq1rk1/pp2ppbp/1np2np1/8/2QPPB2/2N2N2/PP3PPP/3RKB1R w K - 3 10",
    "r1bq1rk1/pp2ppbp/1np2np1/2Q5/3PPB2/2N2N2/PP3PPP/3RKB1R b K - 4 10",
    "r2q1rk1/pp2ppbp/1np2np1/2Q5/3PPBb1/2N2N2/PP3PPP/3RKB1R w K - 5 11",
    "r2q1rk1/pp2ppbp/1np2np1/2Q3B1/3PP1b1/2N2N2/PP3PPP/3RKB1R b K - 6 11",
    "r2q1rk1/pp2ppbp/2p2np1/2Q3B1/n2PP1b1/2N2N2/PP3PPP/3RKB1R w K - 7 12",
    "r2q1rk1/pp2ppbp/2p2np1/6B1/n2PP1b1/Q1N2N2/PP3PPP/3RKB1R b K - 8 12",
    "r2q1rk1/pp2ppbp/2p2np1/6B1/3PP1b1/Q1n2N2/PP3PPP/3RKB1R w K - 0 13",
    "r2q1rk1/pp2ppbp/2p2np1/6B1/3PP1b1/Q1P2N2/P4PPP/3RKB1R b K - 0 13",
    "r2q1rk1/pp2ppbp/2p3p1/6B1/3Pn1b1/Q1P2N2/P4PPP/3RKB1R w K - 0 14",
    "r2q1rk1/pp2Bpbp/2p3p1/8/3Pn1b1/Q1P2N2/P4PPP/3RKB1R b K - 0 14",
    "r4rk1/pp2Bpbp/1qp3p1/8/3Pn1b1/Q1P2N2/P4PPP/3RKB1R w K - 1 15",
    "r4rk1/pp2Bpbp/1qp3p1/8/2BPn1b1/Q1P2N2/P4PPP/3RK2R b K - 2 15",
    "r4rk1/pp2Bpbp/1qp3p1/8/2BP2b1/Q1n2N2/P4PPP/3RK2R w K - 0 16",
    "r4rk1/pp3pbp/1qp3p1/2B5/2BP2b1/Q1n2N2/P4PPP/3RK2R b K - 1 16",
    "r3r1k1/pp3pbp/1qp3p1/2B5/2BP2b1/Q1n2N2/P4PPP/3RK2R w K - 2 17",
    "r3r1k1/pp3pbp/1qp3p1/2B5/2BP2b1/Q1n2N2/P4PPP/3R1K1R b - - 3 17",
    "r3r1k1/pp3pbp/1qp1b1p1/2B5/2BP4/Q1n2N2/P4PPP/3R1K1R w - - 4 18",
    "r3r1k1/pp3pbp/1Bp1b1p1/8/2BP4/Q1n2N2/P4PPP/3R1K1R b - - 0 18",
    "r3r1k1/pp3pbp/1Bp3p1/8/2bP4/Q1n2N2/P4PPP/3R1K1R w - - 0 19",
    "r3r1k1/pp3pbp/1Bp3p1/8/2bP4/Q1n2N2/P4PPP/3R2KR b - - 1 19",
    "r3r1k1/pp3pbp/1Bp3p1/8/2bP4/Q4N2/P3nPPP/3R2KR w - - 2 20",
    "r3r1k1/pp3pbp/1Bp3p1/8/2bP4/Q4N2/P3nPPP/3R1K1R b - - 3 20",
    "r3r1k1/pp3pbp/1Bp3p1/8/2bn4/Q4N2/P4PPP/3R1K1R w - - 0 21",
    "r3r1k1/pp3pbp/1Bp3p1/8/2bn4/Q4N2/P4PPP/3R2KR b - - 1 21",
    "r3r1k1/pp3pbp/1Bp3p1/8/2b5/Q4N2/P3nPPP/3R2KR w - - 2 22",
    "r3r1k1/pp3pbp/1Bp3p1/8/2b5/Q4N2/P3nPPP/3R1K1R b - - 3 22",
    "r3r1k1/pp3pbp/1Bp3p1/8/2b5/Q1n2N2/P4PPP/3R1K1R w - - 4 23",
    "r3r1k1/pp3pbp/1Bp3p1/8/2b5/Q1n2N2/P4PPP/3R2KR b - - 5 23",
    "r3r1k1/1p3pbp/1pp3p1/8/2b5/Q1n2N2/P4PPP/3R2KR w - - 0 24",
    "r3r1k1/1p3pbp/1pp3p1/8/1Qb5/2n2N2/P4PPP/3R2KR b - - 1 24",
    "4r1k1/1p3pbp/1pp3p1/8/rQb5/2n2N2/P4PPP/3R2KR w - - 2 25",
    "4r1k1/1p3pbp/1Qp3p1/8/r1b5/2n2N2/P4PPP/3R2KR b - - 0 25",
    "4r1k1/1p3pbp/1Qp3p1/8/r1b5/5N2/P4PPP/3n2KR w - - 0 26",
    "4r1k1/1p3pbp/1Qp3p1/8/r1b5/5N1P/P4PP1/3n2KR b - - 0 26",
    "4r1k1/1p3pbp/1Qp3p1/8/2b5/5N1P/r4PP1/3n2KR w - - 0 27",
    "4r1k1/1p3pbp/1Qp3p1/8/2b5/5N1P/r4PPK/3n3R b - - 1 27",
    "4r1k1/1p3pbp/1Qp3p1/8/2b5/5N1P/r4nPK/7R w - - 0 28",
    "4r1k1/1p3pbp/1Qp3p1/8/2b5/5N1P/r4nPK/4R3 b - - 1 28",
    "6k1/1p3pbp/1Qp3p1/8/2b5/5N1P/r4nPK/4r3 w - - 0 29",
    "3Q2k1/1p3pbp/2p3p1/8/2b5/5N1P/r4nPK/4r3 b - - 1 29",
    "3Q1bk1/1p3p1p/2p3p1/8/2b5/5N1P/r4nPK/4r3 w - - 2 30",
    "3Q1bk1/1p3p1p/2p3p1/8/2b5/7P/r4nPK/4N3 b - - 0 30",
    "3Q1bk1/1p3p1p/2p3p1/3b4/8/7P/r4nPK/4N3 w - - 1 31",
    "3Q1bk1/1p3p1p/2p3p1/3b4/8/5N1P/r4nPK/8 b - - 2 31",
    "3Q1bk1/1p3p1p/2p3p1/3b4/4n3/5N1P/r5PK/8 w - - 3 32",
    "1Q3bk1/1p3p1p/2p3p1/3b4/4n3/5N1P/r5PK/8 b - - 4 32",
    "1Q3bk1/5p1p/2p3p1/1p1b4/4n3/5N1P/r5PK/8 w - b6 0 33",
    "1Q3bk1/5p1p/2p3p1/1p1b4/4n2P/5N2/r5PK/8 b - - 0 33",
    "1Q3bk1/5p2/2p3p1/1p1b3p/4n2P/5N2/r5PK/8 w - h6 0 34",
    "1Q3bk1/5p2/2p3p1/1p1bN2p/4n2P/8/r5PK/8 b - - 1 34",
    "1Q3b2/5pk1/2p3p1/1p1bN2p/4n2P/8/r5PK/8 w - - 2 35",
    "1Q3b2/5pk1/2p3p1/1p1bN2p/4n2P/8/r5P1/6K1 b - - 3 35",
    "1Q6/5pk1/2p3p1/1pbbN2p/4n2P/8/r5P1/6K1 w - - 4 36",
    "1Q6/5pk1/2p3p1/1pbbN2p/4n2P/8/r5P1/5K2 b - - 5 36",
    "1Q6/5pk1/2p3p1/1pbbN2p/7P/6n1/r5P1/5K2 w - - 6 37",
    "1Q6/5pk1/2p3p1/1pbbN2p/7P/6n1/r5P1/4K3 b - - 7 37",
    "1Q6/5pk1/2p3p1/1p1bN2p/1b5P/6n1/r5P1/4K3 w - - 8 38",
    "1Q6/5pk1/2p3p1/1p1bN2p/1b5P/6n1/r5P1/3K4 b - - 9 38",
    "1Q6/5pk1/2p3p1/1p2N2p/1b5P/1b4n1/r5P1/3K4 w - - 10 39",
    "1Q6/5pk1/2p3p1/1p2N2p/1b5P/1b4n1/r5P1/2K5 b - - 11 39",
    "1Q6/5pk1/2p3p1/1p2N2p/1b5P/1b6/r3n1P1/2K5 w - - 12 40",
    "1Q6/5pk1/2p3p1/1p2N2p/1b5P/1b6/r3n1P1/1K6 b - - 13 40",
    "1Q6/5pk1/2p3p1/1p2N2p/1b5P/1bn5/r5P1/1K6 w - - 14 41",
    "1Q6/5pk1/2p3p1/1p2N2p/1b5P/1bn5/r5P1/2K5 b - - 15 41",
};

static const char *const CHESS_SIDE[2] = { "white", "black" };

/* Request IDs: the kind of call in the high bits, a per-session counter below. */
enum { K_CREATE = 1, K_SUB, K_JOIN, K_MOVE, K_UNSUB };
#define REQ_SHIFT 44
static uint64_t chess_req(struct conn *c, int kind) { return ((uint64_t)kind << REQ_SHIFT) | ++c->req; }
static int req_kind(uint64_t id) { return (int)(id >> REQ_SHIFT); }
enum { STEP_PLAYING = STEP_JOINING + 1 };

static struct conn *chess_conn(int g, int k) { return &G.conns[3 * g + k]; }

/* White creates the game's (next) room, from the position after start_ply plies of the line. */
static void chess_create(int g, int start_ply)
{
    struct conn *c = chess_conn(g, 0);
    free(G.games[g].room);
    G.games[g].room = NULL;
    G.games[g].start_ply = start_ply;
    c->step = STEP_CREATING;
    char msg[256], fen[128] = "";
    if (start_ply > 0)
        snprintf(fen, sizeof fen, ",\"fen\":\"%s\"", CHESS_FEN[start_ply - 1]);
    int n = snprintf(msg, sizeof msg, "[%d,%" PRIu64 ",{},\"moonbar.room.create\",[\"chess\"],"
                     "{\"clock\":false,\"rated\":false%s}]", WAMP_CALL, chess_req(c, K_CREATE), fen);
    send_text(c, msg, (size_t)n);
}

static void chess_subscribe(struct conn *c)
{
    char msg[256];
    c->step = STEP_SUBSCRIBING;
    c->next_ply = G.games[c->room].start_ply;
    c->last_seq = 0;
    c->sub_id = 0;
    int n = snprintf(msg, sizeof msg, "[%d,%" PRIu64 ",{},\"moonbar.room.%s\"]", WAMP_SUBSCRIBE, chess_req(c, K_SUB),
                     G.games[c->room].room);
    send_text(c, msg, (size_t)n);
}

static void chess_join(struct conn *c)
{
    char msg[512];
    c->step = STEP_JOINING;
    const char *room = G.games[c->room].room;
    int n = c->member < 2 ?
        snprintf(msg, sizeof msg, "[%d,%" PRIu64 ",{},\"moonbar.room.join\",[\"%s\"],{\"as\":\"player\","
                 "\"seat\":\"%s\",\"name\":\"%s %d\"}]", WAMP_CALL, chess_req(c, K_JOIN), room,
                 CHESS_SIDE[c->member], CHESS_SIDE[c->member], c->room + 1) :
        snprintf(msg, sizeof msg, "[%d,%" PRIu64 ",{},\"moonbar.room.join\",[\"%s\"],{\"as\":\"spectator\","
                 "\"name\":\"spectator %d\"}]", WAMP_CALL, chess_req(c, K_JOIN), room, c->room + 1);
    send_text(c, msg, (size_t)n);
}

/* The side to move sends the game's next move. */
static void chess_move(int g, uint64_t now)
{
    struct game *gm = &G.games[g];
    int ply = gm->ply;
    struct conn *c = chess_conn(g, ply & 1);
    if (gm->stalled || ply >= CHESS_PLIES || c->state != C_READY)
        return;
    if (c->move_pending)
        G.bad++; /* cannot happen: its previous move's RESULT comes before the event that let it move */
    uint64_t id = chess_req(c, K_MOVE);
    c->move_id = id;
    c->move_t = now;
    c->move_pending = true;
    gm->t[ply & 1] = now;
    gm->t_ply[ply & 1] = ply;
    gm->ply = ply + 1;
    char head[32] = "[48,";
    size_t hl = 4 + u64_to_dec(head + 4, id);
    const char *rid = gm->room, *uci = CHESS_LINE[ply];
    struct piece pc[6] = { { head, hl }, { ",{},\"moonbar.room.act\",[\"", 25 }, { rid, strlen(rid) },
                           { "\",\"move\",\"", 10 }, { uci, strlen(uci) }, { "\"]]", 3 } };
    send_msg(c, pc, 6);
    G.moves_sent++;
    G.calls_sent++;
}

/* An ERROR (or an answer that makes no sense) stops the game: its moves are legal, so there is
 * nothing to retry. */
static void chess_stall(struct conn *c)
{
    G.games[c->room].stalled = true;
}

static void chess_result(struct conn *c, const struct msg *m, uint64_t id, uint64_t now)
{
    struct game *gm = &G.games[c->room];
    int kind = req_kind(id);
    if (kind == K_CREATE && c->step == STEP_CREATING) {
        const char *vs, *ve;
        if (m->n < 5 || !obj_get(m->s[4], m->e[4], "room", &vs, &ve) || ve - vs < 3 || *vs != '"')
            die("moonbar.room.create: no room in the answer: %.*s", (int)(m->n ? m->e[m->n - 1] - m->s[0] : 0),
                m->s[0]);
        gm->room = strndup(vs + 1, (size_t)(ve - vs - 2));
        gm->joined = gm->done = 0;
        gm->ply = gm->start_ply;
        for (int k = 0; k < 3; k++) {
            struct conn *x = chess_conn(c->room, k);
            if (x == c || x->step == STEP_WAIT_ROOM || x->state == C_READY)
                chess_subscribe(x);
        }
        return;
    }
    if (kind == K_JOIN && c->step == STEP_JOINING) {
        const char *vs, *ve;
        if (c->member < 2 && (m->n < 5 || !obj_get(m->s[4], m->e[4], "seat", &vs, &ve) ||
                              (size_t)(ve - vs) != strlen(CHESS_SIDE[c->member]) + 2 ||
                              memcmp(vs + 1, CHESS_SIDE[c->member], (size_t)(ve - vs - 2)) != 0))
            die("moonbar.room.join: not the %s seat: %.*s", CHESS_SIDE[c->member],
                (int)(m->n ? m->e[m->n - 1] - m->s[0] : 0), m->s[0]);
        c->step = STEP_PLAYING;
        if (c->state == C_SETUP)
            became_ready(c, now);
        if (++gm->joined == 3 && running())
            chess_move(c->room, now);
        return;
    }
    if (kind == K_MOVE && c->move_pending && id == c->move_id) {
        c->move_pending = false;
        G.completed++;
        gm->results++;
        G.events_expected += 3;
        if (G.phase == P_MEASURE) {
            G.completed_window++;
            h_add(&G.hist_result, now - c->move_t);
        }
        return;
    }
    G.bad++;
}

/* The ply of the move that led to this FEN: 2 * (fullmove - 1), minus 1 when white is to move. */
static int fen_ply(const char *s, const char *e)
{
    const char *p = s;
    while (p < e && *p != ' ')
        p++;
    if (e - p < 2)
        return -1;
    bool white_to_move = p[1] == 'w';
    const char *q = e;
    while (q > p && q[-1] != ' ')
        q--;
    int full = 0;
    for (const char *r = q; r < e; r++) {
        if (*r < '0' || *r > '9')
            return -1;
        full = full * 10 + (*r - '0');
    }
    return 2 * (full - 1) - (white_to_move ? 1 : 0);
}

/* EVENT on a room's topic: [36, sub, pub, details, [{type, seq, ...}]]. */
static void chess_event(struct conn *c, const struct msg *m, uint64_t now)
{
    uint64_t sub = 0, seq = 0;
    if (!field_u64(m, 1, &sub) || !c->sub_id || sub != c->sub_id) {
        G.stale_events++; /* a room this session is done with (its end event) */
        return;
    }
    const char *a = m->n >= 5 ? skip_ws(m->s[4] + 1, m->e[4]) : NULL;
    const char *ae = a ? skip_value(a, m->e[4]) : NULL, *ts, *te, *us, *ue, *fs, *fe, *ss, *se;
    if (!ae || !obj_u64(a, ae, "seq", &seq) || !obj_get(a, ae, "type", &ts, &te)) {
        G.bad++;
        return;
    }
    if (c->last_seq && seq != c->last_seq + 1)
        G.seq_gaps++;
    c->last_seq = seq;
    if (te - ts != 6 || memcmp(ts, "\"move\"", 6) != 0)
        return; /* join, start */
    if (!obj_get(a, ae, "uci", &us, &ue) || !obj_get(a, ae, "fen", &fs, &fe) || !obj_get(a, ae, "side", &ss, &se) ||
        ue - us < 2 || fe - fs < 2 || se - ss < 2) {
        G.bad++;
        return;
    }
    c->rx++;
    G.events_rx++;
    if (G.phase == P_MEASURE)
        G.events_rx_window++;
    int ply = fen_ply(fs + 1, fe - 1);
    if (ply < 0 || ply >= CHESS_PLIES || ply != c->next_ply || (size_t)(ue - us - 2) != strlen(CHESS_LINE[ply]) ||
        memcmp(us + 1, CHESS_LINE[ply], (size_t)(ue - us - 2)) != 0 ||
        (size_t)(se - ss - 2) != strlen(CHESS_SIDE[ply & 1]) || memcmp(ss + 1, CHESS_SIDE[ply & 1], 5) != 0) {
        G.order_errors++; /* not the move that comes next in this session's room */
        if (ply < 0 || ply >= CHESS_PLIES)
            return;
    }
    c->next_ply = ply + 1;
    struct game *gm = &G.games[c->room];
    if (c->member == (ply & 1) && gm->t_ply[ply & 1] == ply && G.phase == P_MEASURE)
        h_add(&G.hist, now - gm->t[ply & 1]); /* the mover sees its own move */
    if (ply + 1 < CHESS_PLIES) {
        if (c->member == ((ply + 1) & 1) && gm->ply == ply + 1 && running())
            chess_move(c->room, now); /* its turn */
        return;
    }
    /* the last move: this session is done with the room; the game restarts once all 3 are */
    char msg[64];
    int n = snprintf(msg, sizeof msg, "[%d,%" PRIu64 ",%" PRIu64 "]", WAMP_UNSUBSCRIBE, chess_req(c, K_UNSUB),
                     c->sub_id);
    send_text(c, msg, (size_t)n);
    c->sub_id = 0;
    if (++gm->done == 3) {
        G.games_done++;
        if (G.phase == P_MEASURE)
            G.games_done_window++;
        if (running() && !gm->stalled)
            chess_create(c->room, 0);
    }
}

/* ---- connection life ------------------------------------------------------------------------ */

static void start_phases(void);
static void check_drained(void);
static void conns_open_more(void);
static void finish(void);

static void conn_lost(struct conn *c, const char *why)
{
    if (c->state == C_CLOSED)
        return;
    if (!G.finished) {
        G.disconnects++;
        c->lost = true;
        if (G.lost_reports++ < 5)
            fprintf(stderr, "loadgen: %s connection %d lost while %s: %s\n", role_names[c->role], c->idx,
                    state_names[c->state], why);
    }
    c->state = C_CLOSED; /* a caller's calls in flight stay counted: they are reported unanswered */
    if (!uv_is_closing((uv_handle_t *)&c->tcp))
        uv_close((uv_handle_t *)&c->tcp, NULL);
    if (G.phase == P_SETUP && !G.finished) {
        if (G.o.scenario != S_CONNS)
            die("a connection was lost during setup (%s)", why);
        conns_open_more();
    }
}

static void became_ready(struct conn *c, uint64_t now)
{
    (void)now;
    c->state = C_READY;
    G.ready++;
    if (G.o.scenario == S_CONNS) {
        G.joined++;
        if (G.joined == G.o.sessions) {
            G.t_join1 = now_ns();
            start_phases();
        } else {
            conns_open_more();
        }
        return;
    }
    if (G.o.scenario == S_ROOMS || G.o.scenario == S_CHESS)
        rooms_open_more();
    if (G.ready == G.nconns)
        start_phases();
}

static void on_welcome(struct conn *c, uint64_t now)
{
    switch (c->role) {
    case R_CALLEE:
        c->state = C_SETUP;
        send_tmpl(c, &G.m[c->ser].reg, NULL);
        break;
    case R_SUB:
        c->state = C_SETUP;
        send_tmpl(c, &G.m[c->ser].sub, NULL);
        break;
    case R_WATCH:
        c->state = C_SETUP;
        send_tmpl(c, &G.m[c->ser].watch, NULL);
        break;
    case R_MEMBER: /* the room's first member creates it; the others wait for its ID */
        c->state = C_SETUP;
        if (c->member == 0) {
            c->step = STEP_CREATING;
            send_room_call(c, ID_CREATE, "moonbar.room.create", "[\"bench\"]");
        } else if (G.room_ids[c->room]) {
            room_subscribe(c);
        } else {
            c->step = STEP_WAIT_ROOM;
        }
        break;
    case R_CHESS: /* white creates the game's room; black and the spectator wait for its ID */
        c->state = C_SETUP;
        if (c->member == 0)
            chess_create(c->room, G.o.stagger ? c->room % CHESS_PLIES : 0);
        else if (G.games[c->room].room)
            chess_subscribe(c);
        else
            c->step = STEP_WAIT_ROOM;
        break;
    default:
        became_ready(c, now);
    }
}

static void send_hello(struct conn *c)
{
    c->state = C_JOINING;
    send_tmpl(c, &G.m[c->ser].hello, NULL);
}

/* ---- authentication (--auth) ---------------------------------------------------------------- */

/* The bench's cryptosign key: a fixed Ed25519 seed (32 bytes), so that scripts/bench/run can
 * write its public key into the config it makes (loadgen --print-pubkey). It guards nothing but
 * a benchmark's realm: not a secret. */
static const unsigned char BENCH_SEED[33] = "moonbar bench key, not a secret!";

static void base64(const unsigned char *in, size_t n, char *out);

static void hex_encode(const unsigned char *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = '\0';
}

/* 2n hex digits at s into n bytes; false if one is not a hex digit. */
static bool hex_decode(const char *s, size_t n, unsigned char *out)
{
    for (size_t i = 0; i < n; i++) {
        int hi = hex_digit(s[2 * i]), lo = hex_digit(s[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return false;
        out[i] = (unsigned char)(hi << 4 | lo);
    }
    return true;
}

/* The bench key from its seed, and its public key in hex (G.bench_pub_hex). */
static void auth_init(void)
{
    if (!(G.bench_key = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, BENCH_SEED, 32)))
        die("Ed25519 key: %s", tls_error());
    unsigned char pub[32];
    size_t n = sizeof pub;
    if (EVP_PKEY_get_raw_public_key(G.bench_key, pub, &n) != 1 || n != sizeof pub)
        die("Ed25519 public key: %s", tls_error());
    hex_encode(pub, sizeof pub, G.bench_pub_hex);
}

/* Whether the item s..e is null (an absent channel_binding may also be written as null). */
static bool item_null(enum ser ser, const char *s, const char *e)
{
    if (ser == SER_JSON)
        return e - s == 4 && memcmp(s, "null", 4) == 0;
    return e - s == 1 && (unsigned char)*s == (ser == SER_MSGPACK ? 0xc0 : 0xf6);
}

/* CHALLENGE [4, method, extra] → AUTHENTICATE [5, signature, {}]:
 *   wampcra     base64(HMAC-SHA256(key = --secret as it is, message = extra.challenge, the JSON
 *               text as the router wrote it)); a salted challenge is refused (no PBKDF2 here);
 *   cryptosign  hex(Ed25519 signature of the 32 bytes of extra.challenge) + the challenge in
 *               hex: 192 digits, no channel binding.
 * Returns what is wrong with the CHALLENGE, or NULL once the answer is queued. */
static const char *answer_challenge(struct conn *c, const struct msg *m)
{
    char method[32], text[4096], sig[256];
    size_t ml, tl;
    const char *vs, *ve;
    if (G.o.auth == AUTH_ANONYMOUS)
        return "a CHALLENGE, but loadgen joins anonymously (see --auth)";
    if (c->challenged)
        return "a second CHALLENGE";
    if (m->n < 3 || !item_str(c->ser, m->s[1], m->e[1], method, sizeof method, &ml))
        return "a CHALLENGE without a method";
    if (strcmp(method, auth_names[G.o.auth]) != 0)
        return "a CHALLENGE for another method";
    if (!dict_str(c->ser, m->s[2], m->e[2], "challenge", text, sizeof text, &tl))
        return "a CHALLENGE without extra.challenge (a string)";
    if (G.o.auth == AUTH_WAMPCRA) {
        if (dict_get(c->ser, m->s[2], m->e[2], "salt", &vs, &ve))
            return "a salted WAMP-CRA challenge (loadgen signs with --secret as it is)";
        unsigned char mac[EVP_MAX_MD_SIZE];
        unsigned maclen = 0;
        if (!HMAC(EVP_sha256(), G.o.secret, (int)strlen(G.o.secret), (const unsigned char *)text, tl, mac, &maclen))
            die("HMAC-SHA256: %s", tls_error());
        base64(mac, maclen, sig);
    } else {
        unsigned char nonce[32], ed[64];
        size_t edlen = sizeof ed;
        if (tl != 64 || !hex_decode(text, sizeof nonce, nonce))
            return "a cryptosign challenge that is not 64 hex digits";
        if (dict_get(c->ser, m->s[2], m->e[2], "channel_binding", &vs, &ve) && !item_null(c->ser, vs, ve))
            return "a cryptosign challenge with a channel binding (loadgen asked for none)";
        EVP_MD_CTX *ctx = EVP_MD_CTX_new();
        if (!ctx || EVP_DigestSignInit(ctx, NULL, NULL, NULL, G.bench_key) != 1 ||
            EVP_DigestSign(ctx, ed, &edlen, nonce, sizeof nonce) != 1 || edlen != sizeof ed)
            die("Ed25519 signature: %s", tls_error());
        EVP_MD_CTX_free(ctx);
        hex_encode(ed, sizeof ed, sig);
        hex_encode(nonce, sizeof nonce, sig + 2 * sizeof ed);
    }
    c->challenged = true;
    struct wr w = wr_start(c->ser);
    wr_open(&w, I_ARR, 3);
    wr_uint(&w, WAMP_AUTHENTICATE);
    wr_str(&w, sig);
    wr_open(&w, I_MAP, 0);
    struct tmpl t = wr_done(&w);
    send_tmpl(c, &t, NULL);
    free(t.p);
    return NULL;
}

/* --auth: the WELCOME must come after the CHALLENGE and say the method and authid asked for.
 * Returns what is wrong, or NULL. */
static const char *check_welcome(const struct conn *c, const struct msg *m)
{
    static char why[160];
    char v[128];
    size_t n;
    if (G.o.auth == AUTH_ANONYMOUS)
        return NULL;
    if (!c->challenged)
        return "a WELCOME without a CHALLENGE";
    if (m->n < 3 || !dict_str(c->ser, m->s[2], m->e[2], "authmethod", v, sizeof v, &n))
        return "a WELCOME without details.authmethod";
    if (strcmp(v, auth_names[G.o.auth]) != 0) {
        snprintf(why, sizeof why, "a WELCOME with authmethod %.60s, not %s", v, auth_names[G.o.auth]);
        return why;
    }
    if (!dict_str(c->ser, m->s[2], m->e[2], "authid", v, sizeof v, &n) || strcmp(v, G.o.authid) != 0) {
        snprintf(why, sizeof why, "a WELCOME without authid %.60s", G.o.authid);
        return why;
    }
    return NULL;
}

/* A session that could not join (ABORT, a CHALLENGE it cannot answer, a WELCOME other than the
 * one asked for) is an error: conns goes on with the next session; the other scenarios cannot
 * run without it. */
static void join_failed(struct conn *c, const char *why, const char *p, size_t len)
{
    if (G.o.scenario != S_CONNS || G.phase != P_SETUP)
        die("%s connection %d could not join: %s: %s", role_names[c->role], c->idx, why, show(c->ser, p, len));
    G.errors++;
    if (G.join_failures++ < 3)
        fprintf(stderr, "loadgen: connection %d could not join: %s: %s\n", c->idx, why, show(c->ser, p, len));
    c->state = C_CLOSED;
    if (!uv_is_closing((uv_handle_t *)&c->tcp))
        uv_close((uv_handle_t *)&c->tcp, NULL);
    conns_open_more();
}

static const char *wamp_request_name(uint64_t type)
{
    switch (type) {
    case WAMP_CALL: return "CALL";
    case WAMP_REGISTER: return "REGISTER";
    case WAMP_PUBLISH: return "PUBLISH";
    case WAMP_SUBSCRIBE: return "SUBSCRIBE";
    case WAMP_UNSUBSCRIBE: return "UNSUBSCRIBE";
    default: return "request";
    }
}

/* An ERROR [8, type, request, details, uri, ...] that refuses authorization is never load: the
 * realm's roles (or its authorizer) lack a rule for what the scenario does, and every figure of
 * the run would be a rate of refusals. loadgen stops there. */
static void check_authorized(const struct conn *c, uint64_t type, const char *p, size_t len)
{
    struct msg em;
    char uri[128];
    size_t ul;
    if (split(c->ser, p, len, &em, 5) >= 5 && item_str(c->ser, em.s[4], em.e[4], uri, sizeof uri, &ul) &&
        (strcmp(uri, "wamp.error.not_authorized") == 0 || strcmp(uri, "wamp.error.authorization_failed") == 0))
        die("the router refused a %s of the %s connection %d (a rule missing from the realm's roles?): %s",
            wamp_request_name(type), role_names[c->role], c->idx, show(c->ser, p, len));
}

/* One WAMP message from the router. */
static void on_message(struct conn *c, const char *p, size_t len, uint64_t now)
{
    struct msg m;
    int want = 3;
    switch (c->role) {
    case R_CALLER: want = 4; break;  /* RESULT: code, request, details, args */
    case R_CALLEE: want = 5; break;  /* INVOCATION: code, request, registration, details, args */
    case R_SUB: want = 5; break;     /* EVENT: code, subscription, publication, details, args */
    case R_WATCH: want = 5; break;
    case R_MEMBER: want = 5; break;  /* RESULT kwargs, EVENT args */
    case R_CHESS: want = 5; break;
    default: break;
    }
    uint64_t code, id;
    if (split(c->ser, p, len, &m, want) < 2 || !field_u64(&m, 0, &code)) {
        G.bad++;
        if (G.bad < 5)
            fprintf(stderr, "loadgen: unreadable message: %s\n", show(c->ser, p, len));
        return;
    }
    switch (code) {
    case WAMP_RESULT:
        if (c->role == R_MEMBER && field_u64(&m, 1, &id)) {
            member_result(c, &m, id, now);
            return;
        }
        if (c->role == R_CHESS && field_u64(&m, 1, &id)) {
            chess_result(c, &m, id, now);
            return;
        }
        if (c->role != R_CALLER || !field_u64(&m, 1, &id) || id == 0)
            break;
        {
            int slot = (int)((id - 1) % (uint64_t)G.o.depth);
            if (c->slot_id[slot] != id || !c->slot_t[slot]) {
                G.bad++; /* not a call in flight */
                break;
            }
            if (G.o.progress && m.n >= 3 &&
                memmem(m.s[2], (size_t)(m.e[2] - m.s[2]), progress_key[c->ser].p, progress_key[c->ser].n)) {
                G.progress_results++;
                if (G.phase == P_MEASURE)
                    G.progress_window++;
                return; /* the call goes on */
            }
            if (m.n < 4 || (size_t)(m.e[3] - m.s[3]) != G.m[c->ser].result_args_len)
                G.bad++; /* the echo must come back whole */
            c->outstanding--;
            G.completed++;
            if (G.phase == P_MEASURE) {
                G.completed_window++;
                h_add(&G.hist, now - c->slot_t[slot]);
            }
            c->slot_t[slot] = 0;
            if (running())
                send_call(c, slot, now);
        }
        return;
    case WAMP_INVOCATION:
        if (c->role != R_CALLEE || m.n < 4)
            break;
        c->rx++;
        {
            /* the request ID and the args go back as the bytes they came in */
            struct piece fill[2] = { { m.s[1], (size_t)(m.e[1] - m.s[1]) }, { NULL, 0 } };
            if (m.n >= 5) {
                fill[1] = (struct piece){ m.s[4], (size_t)(m.e[4] - m.s[4]) };
                for (int k = 1; k < G.o.progress; k++) /* --progress: N-1 progressive results first */
                    send_tmpl(c, &G.m[c->ser].yield_prog, fill);
                send_tmpl(c, &G.m[c->ser].yield, fill);
            } else {
                send_tmpl(c, &G.m[c->ser].yield_none, fill);
            }
        }
        return;
    case WAMP_EVENT:
        if (c->role == R_MEMBER) {
            member_event(c, &m, now);
            return;
        }
        if (c->role == R_CHESS) {
            chess_event(c, &m, now);
            return;
        }
        if (c->role == R_WATCH) {
            if (memmem(p, len, ok_key[c->ser].p, ok_key[c->ser].n))
                G.reloads_ok++;
            else
                G.reloads_failed++;
            return;
        }
        if (c->role != R_SUB)
            break;
        G.events_rx++;
        c->rx++;
        if (G.phase == P_MEASURE) {
            G.events_rx_window++;
            uint64_t t = 0;
            if (m.n >= 5 && array_first_u64(c->ser, m.s[4], m.e[4], &t) && t && t <= now)
                h_add(&G.hist, now - t);
            else
                G.bad++;
        }
        return;
    case WAMP_PUBLISHED:
        if (c->role != R_PUB)
            break;
        G.pub_unacked--;
        G.pubs_acked++;
        if (G.phase == P_MEASURE)
            G.pubs_acked_window++;
        return; /* the next publications go out at the end of the loop turn (pump_publisher) */
    case WAMP_ERROR: {
        uint64_t type = 0;
        field_u64(&m, 1, &type);
        check_authorized(c, type, p, len);
        G.errors++;
        if (G.errors <= 3)
            fprintf(stderr, "loadgen: ERROR from the router: %s\n", show(c->ser, p, len));
        if (c->role == R_CALLER && type == WAMP_CALL) {
            if (field_u64(&m, 2, &id) && id) {
                int slot = (int)((id - 1) % (uint64_t)G.o.depth);
                if (c->slot_id[slot] == id && c->slot_t[slot]) {
                    c->slot_t[slot] = 0;
                    c->outstanding--;
                    G.call_errors++;
                    if (running())
                        send_call(c, slot, now);
                }
            }
        } else if (c->role == R_MEMBER && type == WAMP_CALL && c->state == C_READY) {
            if (field_u64(&m, 2, &id) && id) {
                int slot = (int)((id - 1) % (uint64_t)G.o.depth);
                if (c->slot_id[slot] == id && c->slot_t[slot] && !(c->slot_got[slot] & 1)) {
                    G.call_errors++;
                    slot_done(c, slot); /* no event to wait for */
                }
            }
        } else if (c->role == R_PUB && type == WAMP_PUBLISH) {
            G.pub_unacked--;
        } else if (c->role == R_CHESS && c->state == C_READY) {
            if (field_u64(&m, 2, &id) && req_kind(id) == K_MOVE && c->move_pending && id == c->move_id) {
                c->move_pending = false;
                G.call_errors++;
            }
            chess_stall(c);
        } else if (c->state == C_SETUP) {
            die("setup failed: %s", show(c->ser, p, len));
        }
        return;
    }
    case WAMP_CHALLENGE:
        if (c->state != C_JOINING)
            break;
        {
            const char *why = answer_challenge(c, &m);
            if (why)
                join_failed(c, why, p, len);
        }
        return;
    case WAMP_WELCOME:
        field_u64(&m, 1, &c->session);
        if (c->state == C_JOINING) {
            const char *why = check_welcome(c, &m);
            if (why)
                join_failed(c, why, p, len);
            else
                on_welcome(c, now);
        }
        return;
    case WAMP_REGISTERED:
    case WAMP_SUBSCRIBED:
        if (c->role == R_CHESS) {
            uint64_t sub = 0;
            if (code != WAMP_SUBSCRIBED || c->step != STEP_SUBSCRIBING || !field_u64(&m, 2, &sub))
                break;
            c->sub_id = sub;
            chess_join(c);
            return;
        }
        if (c->role == R_MEMBER && c->state == C_SETUP && c->step == STEP_SUBSCRIBING) {
            room_join(c);
            return;
        }
        if (c->state == C_SETUP)
            became_ready(c, now);
        return;
    case WAMP_UNSUBSCRIBED:
        if (c->role == R_CHESS)
            return;
        break;
    case WAMP_ABORT:
        if (c->state == C_JOINING) {
            join_failed(c, "ABORT", p, len);
            return;
        }
        /* fall through */
    case WAMP_GOODBYE:
        conn_lost(c, code == WAMP_ABORT ? "ABORT from the router" : "GOODBYE from the router");
        if (c->lost && G.lost_reports <= 5)
            fprintf(stderr, "loadgen:   %s\n", show(c->ser, p, len));
        return;
    default:
        break;
    }
    G.bad++;
    if (G.bad < 5)
        fprintf(stderr, "loadgen: unexpected message for a %s: %s\n", role_names[c->role], show(c->ser, p, len));
}

/* WebSocket frames from the router (unmasked). Returns the bytes used. */
static size_t ws_frames(struct conn *c, const char *p, size_t len, uint64_t now)
{
    size_t off = 0;
    while (c->state != C_CLOSED && len - off >= 2) {
        const unsigned char *h = (const unsigned char *)p + off;
        bool fin = h[0] & 0x80, masked = h[1] & 0x80;
        int op = h[0] & 0x0f;
        size_t hl = 2, n = h[1] & 0x7f;
        if (n == 126) {
            if (len - off < 4)
                break;
            n = ((size_t)h[2] << 8) | h[3];
            hl = 4;
        } else if (n == 127) {
            if (len - off < 10)
                break;
            n = 0;
            for (int i = 0; i < 8; i++)
                n = (n << 8) | h[2 + i];
            hl = 10;
        }
        if (masked) {
            conn_lost(c, "masked frame from the server");
            return len;
        }
        if (len - off < hl + n)
            break;
        const char *pl = p + off + hl;
        off += hl + n;
        switch (op) {
        case 0x0: /* continuation */
        case 0x1:
        case 0x2:
            if (!fin || c->frag.len) {
                buf_append(&c->frag, pl, n);
                if (fin) {
                    on_message(c, c->frag.p, c->frag.len, now);
                    c->frag.len = 0;
                }
            } else {
                on_message(c, pl, n, now);
            }
            break;
        case 0x8:
            conn_lost(c, "WebSocket close frame");
            return len;
        case 0x9: { /* ping: pong with the same payload */
            struct piece pc = { pl, n };
            send_pieces(c, &pc, 1, 0xA);
            break;
        }
        default: /* pong */
            break;
        }
    }
    return off;
}

/* RawSocket frames. Returns the bytes used. */
static size_t raw_frames(struct conn *c, const char *p, size_t len, uint64_t now)
{
    size_t off = 0;
    while (c->state != C_CLOSED && len - off >= 4) {
        const unsigned char *h = (const unsigned char *)p + off;
        size_t n = ((size_t)h[1] << 16) | ((size_t)h[2] << 8) | h[3];
        if (len - off < 4 + n)
            break;
        const char *pl = p + off + 4;
        off += 4 + n;
        switch (h[0] & 7) {
        case 0:
            on_message(c, pl, n, now);
            break;
        case 1: { /* PING → PONG */
            struct piece pc = { pl, n };
            send_pieces(c, &pc, 1, 2);
            break;
        }
        default:
            break;
        }
    }
    return off;
}

static void base64(const unsigned char *in, size_t n, char *out)
{
    static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0) | (i + 2 < n ? in[i + 2] : 0);
        out[o++] = abc[v >> 18];
        out[o++] = abc[(v >> 12) & 63];
        out[o++] = i + 1 < n ? abc[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < n ? abc[v & 63] : '=';
    }
    out[o] = '\0';
}

static uint64_t rng_next(void)
{
    uint64_t z = (G.rng += 0x9e3779b97f4a7c15u); /* splitmix64 */
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

/* The value of header `name` (any case) in the HTTP head h..e, without the spaces around it. */
static const char *http_header(const char *h, const char *e, const char *name, size_t *vlen)
{
    size_t nl = strlen(name);
    for (const char *p = memchr(h, '\n', (size_t)(e - h)); p && p < e;) {
        p++;
        const char *eol = memchr(p, '\n', (size_t)(e - p));
        if (!eol)
            eol = e;
        if ((size_t)(eol - p) > nl && strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
            const char *v = p + nl + 1, *ve = eol;
            while (v < ve && (*v == ' ' || *v == '\t'))
                v++;
            while (ve > v && (ve[-1] == '\r' || ve[-1] == ' ' || ve[-1] == '\t'))
                ve--;
            *vlen = (size_t)(ve - v);
            return v;
        }
        p = eol;
    }
    return NULL;
}

static bool header_is(const char *h, const char *e, const char *name, const char *want)
{
    size_t n;
    const char *v = http_header(h, e, name, &n);
    return v && n == strlen(want) && strncasecmp(v, want, n) == 0;
}

/* The 101 reply: the upgrade, Sec-WebSocket-Accept = base64(SHA-1(key + the RFC 6455 GUID)),
 * and the subprotocol offered. Returns what is wrong, or NULL. */
static const char *ws_check_reply(const struct conn *c, const char *h, const char *e)
{
    if (e - h < 12 || memcmp(h, "HTTP/1.1 101", 12) != 0)
        return "not 101";
    size_t n;
    const char *v = http_header(h, e, "Connection", &n);
    bool upgrade = false;
    for (size_t i = 0; v && i + 7 <= n; i++) /* a token list: "Upgrade", "keep-alive, Upgrade" */
        if (strncasecmp(v + i, "upgrade", 7) == 0)
            upgrade = true;
    if (!upgrade || !header_is(h, e, "Upgrade", "websocket"))
        return "no Upgrade: websocket / Connection: Upgrade";
    char in[64], accept[32];
    unsigned char md[SHA_DIGEST_LENGTH];
    int l = snprintf(in, sizeof in, "%s258EAFA5-E914-47DA-95CA-C5AB0DC85B11", c->ws_key);
    SHA1((const unsigned char *)in, (size_t)l, md);
    base64(md, sizeof md, accept);
    v = http_header(h, e, "Sec-WebSocket-Accept", &n);
    if (!v || n != strlen(accept) || memcmp(v, accept, n) != 0)
        return "wrong Sec-WebSocket-Accept";
    v = http_header(h, e, "Sec-WebSocket-Protocol", &n);
    if (!v || n != strlen(ser_protocols[c->ser]) || memcmp(v, ser_protocols[c->ser], n) != 0)
        return "not the subprotocol offered";
    return NULL;
}

static size_t process(struct conn *c, const char *p, size_t len, uint64_t now)
{
    size_t off = 0;
    if (c->state == C_HANDSHAKE) {
        if (G.o.ws) {
            const char *end = memmem(p, len, "\r\n\r\n", 4);
            if (!end)
                return 0;
            const char *why = ws_check_reply(c, p, end + 2);
            if (why) {
                fprintf(stderr, "loadgen: WebSocket upgrade refused (%s): %.*s\n", why, (int)(end - p), p);
                conn_lost(c, "upgrade refused");
                return len;
            }
            off = (size_t)(end - p) + 4;
        } else {
            if (len < 4)
                return 0;
            const unsigned char *h = (const unsigned char *)p;
            if (h[0] != 0x7f || (h[1] & 0x0f) != (unsigned)c->ser + 1) {
                static const char *const errs[] = { "?", "serializer unsupported", "maximum message length unacceptable",
                                                    "use of reserved bits", "maximum connection count reached" };
                fprintf(stderr, "loadgen: RawSocket handshake (%s) refused: %02x %02x %02x %02x%s%s\n",
                        ser_names[c->ser], h[0], h[1], h[2], h[3], h[0] == 0x7f && !(h[1] & 0x0f) ? ": " : "",
                        h[0] == 0x7f && !(h[1] & 0x0f) ? errs[(h[1] >> 4) < 5 ? h[1] >> 4 : 0] : "");
                conn_lost(c, "handshake refused");
                return len;
            }
            off = 4;
        }
        send_hello(c);
    }
    return off + (G.o.ws ? ws_frames(c, p + off, len - off, now) : raw_frames(c, p + off, len - off, now));
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
    (void)h;
    (void)hint;
    *b = uv_buf_init(G.shared_in, sizeof G.shared_in);
}

/* Data is parsed straight from the shared read buffer; only a trailing partial frame is copied
 * into the connection's own buffer (and the next read is appended to it). */
static void on_plain(struct conn *c, const char *p, size_t n, uint64_t now)
{
    if (c->in.len) {
        buf_append(&c->in, p, n);
        size_t used = process(c, c->in.p, c->in.len, now);
        buf_consume(&c->in, used);
    } else {
        size_t used = process(c, p, n, now);
        if (used < n && c->state != C_CLOSED)
            buf_append(&c->in, p + used, n - used);
    }
}

/* --tls: the bytes read go into OpenSSL; what it decrypts is read as above. */
static void on_tls(struct conn *c, const char *p, size_t n, uint64_t now)
{
    if (BIO_write(c->rbio, p, (int)n) != (int)n) {
        conn_lost(c, "BIO_write failed");
        return;
    }
    if (!SSL_is_init_finished(c->ssl)) {
        int r = SSL_do_handshake(c->ssl);
        if (r <= 0) {
            int err = SSL_get_error(c->ssl, r);
            if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE) {
                conn_lost(c, tls_error());
                return;
            }
        }
    }
    while (SSL_is_init_finished(c->ssl)) {
        int r = SSL_read(c->ssl, G.shared_plain, (int)sizeof G.shared_plain);
        if (r <= 0) {
            int err = SSL_get_error(c->ssl, r);
            if (err == SSL_ERROR_WANT_READ)
                break;
            conn_lost(c, err == SSL_ERROR_ZERO_RETURN ? "TLS closed by the router" : tls_error());
            return;
        }
        on_plain(c, G.shared_plain, (size_t)r, now);
        if (c->state == C_CLOSED)
            return;
    }
    mark_dirty(c); /* the handshake's answers, or the plaintext waiting for the handshake */
}

static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b)
{
    struct conn *c = st->data;
    if (n == 0)
        return;
    if (n < 0) {
        conn_lost(c, n == UV_EOF ? "closed by the router" : uv_strerror((int)n));
        return;
    }
    if (c->ssl)
        on_tls(c, b->base, (size_t)n, now_ns());
    else
        on_plain(c, b->base, (size_t)n, now_ns());
}

static void on_connect(uv_connect_t *req, int status)
{
    struct conn *c = req->data;
    if (status < 0) {
        if (status == UV_ECANCELED)
            return;
        if (G.o.scenario == S_CONNS && !G.finished) {
            conn_lost(c, uv_strerror(status)); /* opens the next one */
            return;
        }
        die("cannot connect to %s:%d: %s", G.o.host, G.o.port, uv_strerror(status));
    }
    G.connected++;
    c->state = C_HANDSHAKE;
    uv_tcp_nodelay(&c->tcp, 1);
    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    if (G.o.tls) {
        /* the transport's handshake below waits in out (plaintext) until TLS is up */
        if (!(c->ssl = SSL_new(G.ssl_ctx)) || !(c->rbio = BIO_new(BIO_s_mem())) || !(c->wbio = BIO_new(BIO_s_mem())))
            die("SSL_new: %s", tls_error());
        SSL_set_bio(c->ssl, c->rbio, c->wbio);
        SSL_set_connect_state(c->ssl);
        int r = SSL_do_handshake(c->ssl); /* the ClientHello, into wbio */
        if (r <= 0 && SSL_get_error(c->ssl, r) != SSL_ERROR_WANT_READ)
            die("TLS handshake: %s", tls_error());
    }
    if (G.o.ws) {
        /* what a browser sends: a fresh random key per connection, the version, the subprotocol */
        unsigned char key[16];
        uint64_t r0 = rng_next(), r1 = rng_next();
        memcpy(key, &r0, 8);
        memcpy(key + 8, &r1, 8);
        base64(key, sizeof key, c->ws_key);
        char req_[512];
        int n = snprintf(req_, sizeof req_,
                         "GET /ws HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                         "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n"
                         "Sec-WebSocket-Protocol: %s\r\n\r\n",
                         G.o.host, G.o.port, c->ws_key, ser_protocols[c->ser]);
        buf_append(&c->out, req_, (size_t)n);
    } else {
        /* 0xF0 | serializer (1 JSON, 2 MessagePack, 3 CBOR): messages up to 16 MiB */
        const char hs[4] = { 0x7f, (char)(0xf0 | (c->ser + 1)), 0, 0 };
        buf_append(&c->out, hs, 4);
    }
    mark_dirty(c);
}

static void conn_open(struct conn *c)
{
    struct sockaddr_in dst;
    if (uv_ip4_addr(G.o.host, G.o.port, &dst) != 0)
        die("bad host %s", G.o.host);
    int rc = uv_tcp_init_ex(G.loop, &c->tcp, AF_INET);
    if (rc < 0)
        die("socket: %s", uv_strerror(rc));
    c->tcp.data = c;
    c->state = C_CONNECTING;
    if (G.o.sources > 1) {
        /* several 127.0.0.x source addresses, so that many connections do not run out of ports */
        uv_os_fd_t fd;
        int one = 1;
        if (uv_fileno((uv_handle_t *)&c->tcp, &fd) == 0)
            setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
        struct sockaddr_in src;
        char ip[32];
        snprintf(ip, sizeof ip, "127.0.0.%d", 1 + c->idx % G.o.sources);
        uv_ip4_addr(ip, 0, &src);
        if ((rc = uv_tcp_bind(&c->tcp, (const struct sockaddr *)&src, 0)) < 0)
            die("bind %s: %s", ip, uv_strerror(rc));
    }
    c->creq.data = c;
    if ((rc = uv_tcp_connect(&c->creq, &c->tcp, (const struct sockaddr *)&dst, on_connect)) < 0)
        die("connect: %s", uv_strerror(rc));
}

/* conns: keeps --concurrency connections joining until --sessions joined. */
static void conns_open_more(void)
{
    int done = G.joined + (int)G.disconnects + (int)G.join_failures; /* joins that ended, one way or another */
    while (G.opened < G.o.sessions && G.opened - done < G.o.concurrency) {
        struct conn *c = &G.conns[G.opened++];
        conn_open(c);
    }
    if (G.opened == G.o.sessions && done == G.o.sessions && G.joined < G.o.sessions && G.phase == P_SETUP) {
        G.t_join1 = now_ns();
        start_phases();
    }
}

/* ---- phases --------------------------------------------------------------------------------- */

static void on_phase_timer(uv_timer_t *t);

static void begin_measure(void)
{
    G.phase = P_MEASURE;
    memset(&G.hist, 0, sizeof G.hist);
    G.completed_window = G.pubs_acked_window = G.events_rx_window = G.progress_window = 0;
    G.t_measure0 = now_ns();
    G.gen_cpu0 = self_cpu_s();
    G.machine0 = machine_busy_s();
    if (G.o.router_pid > 0)
        G.router_cpu0 = proc_cpu_s(G.o.router_pid);
    uv_timer_start(&G.phase_timer, on_phase_timer, (uint64_t)(G.o.duration * 1000), 0);
}

static void on_phase_timer(uv_timer_t *t)
{
    (void)t;
    if (G.phase == P_WARMUP) {
        begin_measure();
    } else if (G.phase == P_MEASURE) {
        G.t_measure1 = now_ns();
        if (G.o.scenario == S_CONNS) {
            G.rss1 = G.o.router_pid > 0 ? read_rss_kib(G.o.router_pid) : -1;
            finish();
            return;
        }
        G.gen_cpu1 = self_cpu_s();
        G.machine1 = machine_busy_s();
        if (G.o.router_pid > 0)
            G.router_cpu1 = proc_cpu_s(G.o.router_pid);
        G.phase = P_DRAIN;
        uv_timer_stop(&G.reload_timer);
        uv_timer_start(&G.phase_timer, on_phase_timer, (uint64_t)(G.o.drain * 1000), 0);
        check_drained();
    } else if (G.phase == P_DRAIN) {
        finish(); /* drain timed out: what is missing is reported */
    }
}

static void write_reload_file(void)
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", G.o.reload_file);
    FILE *f = fopen(tmp, "w");
    if (!f)
        die("cannot write %s: %s", tmp, strerror(errno));
    fprintf(f,
            "-- bench app, rewritten by loadgen --scenario reload (pid %d)\n"
            "moonbar.register(\"%s\", function(args, kwargs) return moonbar.result(args, kwargs) end)\n"
            "-- version %u\n",
            (int)getpid(), G.o.procedure, G.reload_version);
    fclose(f);
    if (rename(tmp, G.o.reload_file) < 0)
        die("cannot rename %s: %s", tmp, strerror(errno));
    G.reload_version++;
    G.reloads_written++;
}

static void on_reload_timer(uv_timer_t *t)
{
    (void)t;
    if (running())
        write_reload_file();
}

static void start_phases(void)
{
    uv_timer_stop(&G.deadline);
    if (G.o.scenario == S_CONNS) {
        /* CPU use is the joins'; the sessions stay idle for --duration, then moonbar's RSS is read */
        G.gen_cpu1 = self_cpu_s();
        G.machine1 = machine_busy_s();
        G.router_cpu1 = G.o.router_pid > 0 ? proc_cpu_s(G.o.router_pid) : -1;
        G.phase = P_MEASURE;
        G.t_measure0 = now_ns();
        uv_timer_start(&G.phase_timer, on_phase_timer, (uint64_t)(G.o.duration * 1000), 0);
        return;
    }
    uint64_t now = now_ns();
    G.phase = P_WARMUP;
    if (G.o.scenario == S_PUBSUB && G.o.eligible)
        pub_mid_eligible();
    for (int i = 0; i < G.nconns; i++) {
        struct conn *c = &G.conns[i];
        if (c->role == R_CALLER)
            for (int s = 0; s < G.o.depth; s++)
                send_call(c, s, now);
    }
    pump_publisher();
    if (G.o.scenario == S_ROOMS) {
        /* every member's slots in the queue, room by room within each member index, so that the
         * first actions of the window go to different rooms */
        for (int d = 0; d < G.o.depth; d++)
            for (int k = 0; k < G.o.members; k++)
                for (int r = 0; r < G.o.rooms; r++)
                    idle_push(r * G.o.members + k);
        pump_members();
    }
    if (G.o.scenario == S_CHESS)
        for (int g = 0; g < G.o.games; g++)
            if (G.games[g].joined == 3)
                chess_move(g, now);
    if (G.o.scenario == S_RELOAD)
        uv_timer_start(&G.reload_timer, on_reload_timer, (uint64_t)G.o.reload_ms, (uint64_t)G.o.reload_ms);
    if (G.o.warmup > 0)
        uv_timer_start(&G.phase_timer, on_phase_timer, (uint64_t)(G.o.warmup * 1000), 0);
    else
        begin_measure();
}

static void check_drained(void)
{
    if (G.phase != P_DRAIN)
        return;
    if (G.o.scenario == S_PUBSUB) {
        if (G.pub_unacked <= 0 && G.events_rx >= G.pubs_sent * receivers())
            finish();
        return;
    }
    if (G.o.scenario == S_ROOMS) {
        if (G.actions_inflight <= 0 && G.events_rx >= G.events_expected)
            finish();
        return;
    }
    if (G.o.scenario == S_CHESS) {
        if (G.moves_sent <= G.completed + G.call_errors && G.events_rx >= G.events_expected)
            finish();
        return;
    }
    for (int i = 0; i < G.nconns; i++)
        if (G.conns[i].role == R_CALLER && G.conns[i].outstanding > 0 && G.conns[i].state != C_CLOSED)
            return;
    finish();
}

static void on_turn(uv_handle_t *h)
{
    (void)h;
    if (G.finished)
        return;
    pump_publisher();
    pump_members();
    check_drained();
    flush_all();
}

static void on_prepare(uv_prepare_t *h) { on_turn((uv_handle_t *)h); }
static void on_check(uv_check_t *h) { on_turn((uv_handle_t *)h); }

static void on_deadline(uv_timer_t *t)
{
    (void)t;
    die("setup did not finish in time: %d of %d connections connected, %d ready", G.connected,
        G.o.scenario == S_CONNS ? G.o.sessions : G.nconns, G.ready);
}

static void report(void)
{
    double secs = (double)(G.t_measure1 - G.t_measure0) / 1e9;
    char extra[320] = "";
    if (G.o.scenario == S_CONNS)
        secs = (double)(G.t_join1 - G.t_join0) / 1e9; /* CPU use of conns is the joins' */
    size_t l = (size_t)snprintf(extra, sizeof extra, " serializer=%s tls=%d%s auth=%s", ser_names[G.o.ser], G.o.tls,
                                G.o.mixed ? " mixed=1" : "", auth_names[G.o.auth]);
    if (secs > 0) {
        if (G.o.router_pid > 0 && G.router_cpu0 >= 0)
            l += (size_t)snprintf(extra + l, sizeof extra - l, " router_cpu=%.0f",
                                  100 * (G.router_cpu1 - G.router_cpu0) / secs);
        l += (size_t)snprintf(extra + l, sizeof extra - l, " gen_cpu=%.0f", 100 * (G.gen_cpu1 - G.gen_cpu0) / secs);
        if (G.machine0 >= 0)
            snprintf(extra + l, sizeof extra - l, " machine_cpu=%.0f", 100 * (G.machine1 - G.machine0) / secs);
    }
    /* the transport (RESULT: raw or ws), and in the human lines with TLS and the serializer */
    const char *tr = G.o.ws ? "ws" : "raw";
    char trh[64];
    snprintf(trh, sizeof trh, "%s%s%s%s%s%s", tr, G.o.tls ? "+tls" : "", G.o.ser != SER_JSON || G.o.mixed ? " " : "",
             G.o.mixed ? "mixed" : G.o.ser != SER_JSON ? ser_names[G.o.ser] : "", G.o.auth ? " " : "",
             G.o.auth ? auth_names[G.o.auth] : "");
    switch (G.o.scenario) {
    case S_RPC:
    case S_LUA:
    case S_RELOAD: {
        double rate = (double)G.completed_window / secs;
        double p50 = h_quantile(&G.hist, 0.50) / 1e3, p99 = h_quantile(&G.hist, 0.99) / 1e3;
        double mx = (double)G.hist.max / 1e3;
        uint64_t unanswered = 0, invocations = 0;
        for (int i = 0; i < G.nconns; i++) {
            if (G.conns[i].role == R_CALLER)
                unanswered += (uint64_t)G.conns[i].outstanding;
            if (G.conns[i].role == R_CALLEE)
                invocations += G.conns[i].rx;
        }
        /* every CALL sent was answered by a RESULT or an ERROR, or is counted as unanswered; with
         * an external callee, every RESULT went through one INVOCATION of ours */
        if (G.calls_sent != G.completed + G.call_errors + unanswered)
            fprintf(stderr, "loadgen: count mismatch: %" PRIu64 " calls sent, %" PRIu64 " results, %" PRIu64
                    " errors, %" PRIu64 " unanswered\n", G.calls_sent, G.completed, G.call_errors, unanswered);
        if (G.o.scenario == S_RPC && invocations < G.completed)
            fprintf(stderr, "loadgen: count mismatch: %" PRIu64 " results but %" PRIu64 " invocations\n", G.completed,
                    invocations);
        if (G.o.progress) {
            double results = (double)(G.completed_window + G.progress_window) / secs;
            printf("progressive results: %d per call, %.0f results/s (%" PRIu64 " progressive)\n", G.o.progress,
                   results, G.progress_results);
            snprintf(extra + strlen(extra), sizeof extra - strlen(extra), " progress=%d results_per_s=%.0f",
                     G.o.progress, results);
            if (G.progress_results != G.completed * (uint64_t)(G.o.progress - 1) && !unanswered)
                fprintf(stderr, "loadgen: count mismatch: %" PRIu64 " progressive results for %" PRIu64 " calls\n",
                        G.progress_results, G.completed);
        }
        printf("%s %s %dx%d payload %d B: %.0f calls/s, p50 %.1f us, p99 %.1f us, max %.1f us, errors %" PRIu64
               ", disconnects %" PRIu64 ", unanswered %" PRIu64 ", bad %" PRIu64,
               scenario_names[G.o.scenario], trh, G.o.callers, G.o.depth, G.o.payload, rate, p50, p99, mx, G.errors,
               G.disconnects, unanswered, G.bad);
        if (G.o.scenario == S_RELOAD)
            printf(", reloads written %" PRIu64 ", applied %" PRIu64 ", rejected %" PRIu64, G.reloads_written,
                   G.reloads_ok, G.reloads_failed);
        printf("\nRESULT scenario=%s transport=%s callers=%d depth=%d payload=%d calls_per_s=%.0f p50_us=%.1f "
               "p99_us=%.1f max_us=%.1f errors=%" PRIu64 " disconnects=%" PRIu64 " unanswered=%" PRIu64
               " bad=%" PRIu64 " calls=%" PRIu64 " secs=%.3f calls_sent=%" PRIu64 " results=%" PRIu64,
               scenario_names[G.o.scenario], tr, G.o.callers, G.o.depth, G.o.payload, rate, p50, p99, mx, G.errors,
               G.disconnects, unanswered, G.bad, G.completed_window, secs, G.calls_sent, G.completed);
        if (G.o.scenario == S_RPC)
            printf(" invocations=%" PRIu64, invocations);
        if (G.o.scenario == S_RELOAD)
            printf(" reloads_written=%" PRIu64 " reloads=%" PRIu64 " reload_failures=%" PRIu64, G.reloads_written,
                   G.reloads_ok, G.reloads_failed);
        printf("%s\n", extra);
        break;
    }
    case S_PUBSUB: {
        double prate = (double)G.pubs_acked_window / secs, erate = (double)G.events_rx_window / secs;
        uint64_t expected = G.pubs_sent * receivers(), lost = 0, extra_ev = 0;
        for (int i = 0; i < G.nconns; i++) {
            const struct conn *c = &G.conns[i];
            if (c->role == R_SUB) {
                uint64_t want = !G.o.eligible || i <= G.o.eligible ? G.pubs_sent : 0;
                lost += c->rx < want ? want - c->rx : 0;
                extra_ev += c->rx > want ? c->rx - want : 0;
            }
        }
        if (extra_ev)
            fprintf(stderr, "loadgen: %" PRIu64 " events more than published (duplicates?)\n", extra_ev);
        double p50 = h_quantile(&G.hist, 0.50) / 1e3, p99 = h_quantile(&G.hist, 0.99) / 1e3;
        printf("pubsub %s %d subscribers window %d payload %d B: %.0f publications/s, %.0f events/s, p50 %.1f us, "
               "p99 %.1f us, lost %" PRIu64 " of %" PRIu64 ", errors %" PRIu64 ", disconnects %" PRIu64 "\n",
               trh, G.o.subscribers, G.o.window, G.o.payload, prate, erate, p50, p99, lost, expected, G.errors,
               G.disconnects);
        printf("RESULT scenario=pubsub transport=%s subscribers=%d eligible=%d window=%d payload=%d publications_per_s=%.0f "
               "events_per_s=%.0f p50_us=%.1f p99_us=%.1f max_us=%.1f lost=%" PRIu64 " published=%" PRIu64
               " events=%" PRIu64 " errors=%" PRIu64 " disconnects=%" PRIu64 " bad=%" PRIu64 " secs=%.3f%s\n",
               tr, G.o.subscribers, G.o.eligible, G.o.window, G.o.payload, prate, erate, p50, p99, (double)G.hist.max / 1e3, lost,
               G.pubs_sent, G.events_rx, G.errors, G.disconnects, G.bad, secs, extra);
        break;
    }
    case S_ROOMS: {
        double arate = (double)G.completed_window / secs, erate = (double)G.events_rx_window / secs;
        uint64_t lost = 0, extra_ev = 0, unanswered = 0, no_event = 0;
        for (int i = 0; i < G.nconns; i++) {
            const struct conn *c = &G.conns[i];
            uint64_t want = G.room_pings[c->room];
            lost += c->rx < want ? want - c->rx : 0;
            extra_ev += c->rx > want ? c->rx - want : 0;
            for (int s = 0; s < G.o.depth; s++)
                if (c->slot_t[s]) {
                    if (!(c->slot_got[s] & 1))
                        unanswered++;
                    else if (!(c->slot_got[s] & 2))
                        no_event++;
                }
        }
        if (extra_ev)
            fprintf(stderr, "loadgen: %" PRIu64 " ping events more than the room's actions (duplicates?)\n", extra_ev);
        if (no_event)
            fprintf(stderr, "loadgen: %" PRIu64 " answered actions whose own event never came\n", no_event);
        if (G.calls_sent != G.completed + G.call_errors + unanswered)
            fprintf(stderr, "loadgen: count mismatch: %" PRIu64 " actions sent, %" PRIu64 " results, %" PRIu64
                    " errors, %" PRIu64 " unanswered\n", G.calls_sent, G.completed, G.call_errors, unanswered);
        double p50 = h_quantile(&G.hist, 0.50) / 1e3, p99 = h_quantile(&G.hist, 0.99) / 1e3;
        double r50 = h_quantile(&G.hist_result, 0.50) / 1e3, r99 = h_quantile(&G.hist_result, 0.99) / 1e3;
        printf("rooms %s %d rooms x %d members, window %d (depth %d per member): %.0f actions/s, %.0f events/s, "
               "action->event p50 %.1f us, p99 %.1f us (RESULT p50 %.1f us, p99 %.1f us), errors %" PRIu64
               ", lost %" PRIu64 " of %" PRIu64 ", seq gaps %" PRIu64 ", disconnects %" PRIu64 ", unanswered %" PRIu64
               ", bad %" PRIu64 "\n",
               tr, G.o.rooms, G.o.members, G.o.window, G.o.depth, arate, erate, p50, p99, r50, r99, G.errors, lost,
               G.events_expected, G.seq_gaps, G.disconnects, unanswered, G.bad);
        printf("RESULT scenario=rooms transport=%s rooms=%d members=%d window=%d depth=%d actions_per_s=%.0f "
               "events_per_s=%.0f p50_us=%.1f p99_us=%.1f max_us=%.1f result_p50_us=%.1f result_p99_us=%.1f "
               "errors=%" PRIu64 " lost=%" PRIu64 " gaps=%" PRIu64 " disconnects=%" PRIu64 " unanswered=%" PRIu64
               " bad=%" PRIu64 " calls=%" PRIu64 " events=%" PRIu64 " secs=%.3f calls_sent=%" PRIu64
               " results=%" PRIu64 " events_expected=%" PRIu64 " events_rx=%" PRIu64 "%s\n",
               tr, G.o.rooms, G.o.members, G.o.window, G.o.depth, arate, erate, p50, p99, (double)G.hist.max / 1e3,
               r50, r99, G.errors, lost, G.seq_gaps, G.disconnects, unanswered, G.bad, G.completed_window,
               G.events_rx_window, secs, G.calls_sent, G.completed, G.events_expected, G.events_rx, extra);
        break;
    }
    case S_CHESS: {
        double mrate = (double)G.completed_window / secs, erate = (double)G.events_rx_window / secs;
        double grate = (double)G.games_done_window / secs;
        uint64_t lost = 0, extra_ev = 0, unanswered = 0, stalled = 0;
        for (int i = 0; i < G.nconns; i++) {
            const struct conn *c = &G.conns[i];
            uint64_t want = G.games[c->room].results;
            lost += c->rx < want ? want - c->rx : 0;
            extra_ev += c->rx > want ? c->rx - want : 0;
            unanswered += c->move_pending;
        }
        for (int g = 0; g < G.o.games; g++)
            stalled += G.games[g].stalled;
        if (extra_ev)
            fprintf(stderr, "loadgen: %" PRIu64 " move events more than the moves answered (duplicates, or RESULTs "
                    "missing)\n", extra_ev);
        if (stalled)
            fprintf(stderr, "loadgen: %" PRIu64 " games stopped by an ERROR\n", stalled);
        if (G.calls_sent != G.completed + G.call_errors + unanswered)
            fprintf(stderr, "loadgen: count mismatch: %" PRIu64 " moves sent, %" PRIu64 " results, %" PRIu64
                    " errors, %" PRIu64 " unanswered\n", G.calls_sent, G.completed, G.call_errors, unanswered);
        double p50 = h_quantile(&G.hist, 0.50) / 1e3, p99 = h_quantile(&G.hist, 0.99) / 1e3;
        double r50 = h_quantile(&G.hist_result, 0.50) / 1e3, r99 = h_quantile(&G.hist_result, 0.99) / 1e3;
        printf("chess %s %d games x 3 sessions, %d plies per game: %.0f moves/s, %.0f move events/s, %.1f games/s, "
               "move->event p50 %.1f us, p99 %.1f us (RESULT p50 %.1f us, p99 %.1f us), errors %" PRIu64
               ", lost %" PRIu64 " of %" PRIu64 ", seq gaps %" PRIu64 ", out of order %" PRIu64 ", disconnects %" PRIu64
               ", unanswered %" PRIu64 ", bad %" PRIu64 "\n",
               tr, G.o.games, CHESS_PLIES, mrate, erate, grate, p50, p99, r50, r99, G.errors, lost, G.events_expected,
               G.seq_gaps, G.order_errors, G.disconnects, unanswered, G.bad);
        printf("RESULT scenario=chess transport=%s games=%d plies=%d moves_per_s=%.0f events_per_s=%.0f "
               "games_per_s=%.1f p50_us=%.1f p99_us=%.1f max_us=%.1f result_p50_us=%.1f result_p99_us=%.1f "
               "errors=%" PRIu64 " lost=%" PRIu64 " gaps=%" PRIu64 " order=%" PRIu64 " disconnects=%" PRIu64
               " unanswered=%" PRIu64 " bad=%" PRIu64 " calls=%" PRIu64 " events=%" PRIu64 " secs=%.3f moves_sent=%"
               PRIu64 " results=%" PRIu64 " events_expected=%" PRIu64 " events_rx=%" PRIu64 " games_done=%" PRIu64
               " stale_events=%" PRIu64 "%s\n",
               tr, G.o.games, CHESS_PLIES, mrate, erate, grate, p50, p99, (double)G.hist.max / 1e3, r50, r99,
               G.errors, lost, G.seq_gaps, G.order_errors, G.disconnects, unanswered, G.bad, G.completed_window,
               G.events_rx_window, secs, G.moves_sent, G.completed, G.events_expected, G.events_rx, G.games_done,
               G.stale_events, extra);
        break;
    }
    case S_CONNS: {
        double jsecs = (double)(G.t_join1 - G.t_join0) / 1e9;
        double jrate = jsecs > 0 ? (double)G.joined / jsecs : 0;
        double per = (G.rss0 >= 0 && G.rss1 >= 0 && G.joined) ? (double)(G.rss1 - G.rss0) / G.joined : -1;
        printf("conns %s: %d of %d sessions joined in %.3f s (%.0f joins/s), router RSS %ld -> %ld KiB "
               "(%.2f KiB per session), failed joins %" PRIu64 ", disconnects %" PRIu64 "\n",
               trh, G.joined, G.o.sessions, jsecs, jrate, G.rss0, G.rss1, per, G.join_failures, G.disconnects);
        printf("RESULT scenario=conns transport=%s sessions=%d joins_per_s=%.0f rss_per_session_kib=%.2f "
               "rss_before_kib=%ld rss_after_kib=%ld disconnects=%" PRIu64 " errors=%" PRIu64 " failed_joins=%" PRIu64
               "%s\n",
               tr, G.joined, jrate, per, G.rss0, G.rss1, G.disconnects, G.errors, G.join_failures, extra);
        break;
    }
    }
    fflush(stdout);
}

static void finish(void)
{
    if (G.finished)
        return;
    if (G.o.scenario != S_CONNS && G.t_measure1 == 0) /* cannot happen: the drain follows the measure */
        G.t_measure1 = now_ns();
    G.phase = P_DONE;
    flush_all();
    report();
    G.finished = true;
    int limit = G.o.scenario == S_CONNS ? G.opened : G.nconns;
    /* the sessions leave as a client does: GOODBYE, written if the socket takes it at once */
    for (int i = 0; i < limit; i++)
        if (G.conns[i].state >= C_SETUP && G.conns[i].state != C_CLOSED) /* welcomed */
            send_tmpl(&G.conns[i], &G.m[G.conns[i].ser].goodbye, NULL);
    flush_all();
    for (int i = 0; i < limit; i++) {
        struct conn *c = &G.conns[i];
        if (c->state != C_CLOSED || !uv_is_closing((uv_handle_t *)&c->tcp)) {
            c->state = C_CLOSED;
            if (!uv_is_closing((uv_handle_t *)&c->tcp))
                uv_close((uv_handle_t *)&c->tcp, NULL);
        }
    }
    uv_close((uv_handle_t *)&G.prepare, NULL);
    uv_close((uv_handle_t *)&G.check, NULL);
    uv_close((uv_handle_t *)&G.phase_timer, NULL);
    uv_close((uv_handle_t *)&G.reload_timer, NULL);
    uv_close((uv_handle_t *)&G.deadline, NULL);
}

/* ---- setup ---------------------------------------------------------------------------------- */

static void usage(FILE *out)
{
    fprintf(out,
            "usage: loadgen [options]\n"
            "  --host H            router address (127.0.0.1)\n"
            "  --port P            router port (required)\n"
            "  --transport T       raw | ws (raw)\n"
            "  --realm R           realm (realm1)\n"
            "  --scenario S        rpc | pubsub | conns | lua | reload | rooms | chess (rpc)\n"
            "  --callers N         caller connections (8)\n"
            "  --depth D           calls in flight per caller (16); rooms: actions per member (1)\n"
            "  --payload BYTES     bytes of the string argument (16)\n"
            "  --subscribers S     subscriber connections (1)\n"
            "  --window W          pubsub: publications waiting for PUBLISHED (64);\n"
            "                      rooms: actions in flight in all (rooms x members x depth)\n"
            "  --backlog B         pubsub: publications whose events may be undelivered (4 x window)\n"
            "  --eligible N        pubsub: Options.eligible = the first N subscribers (0: no list)\n"
            "  --progress N        rpc: N results per call, N-1 of them progressive (receive_progress)\n"
            "  --sessions N        conns: sessions to open (10000)\n"
            "  --concurrency C     conns, rooms, chess: sessions joining at once (500)\n"
            "  --rooms R           rooms: rooms of the bench kind (1000)\n"
            "  --members M         rooms: members (sessions) per room, each a player (4)\n"
            "  --games G           chess: games in parallel, 3 sessions each (1000)\n"
            "  --stagger 0|1       chess: game g's first room starts after g mod 82 plies (1)\n"
            "  --sources K         source addresses 127.0.0.1..K (conns: 1 + sessions/2000)\n"
            "  --duration SEC      measured time (3)\n"
            "  --warmup SEC        time before measuring (1)\n"
            "  --drain SEC         longest wait for answers after the measure (5)\n"
            "  --procedure URI     bench.echo (rpc), bench.lua_echo (lua, reload)\n"
            "  --topic URI         bench.topic\n"
            "  --reload-file PATH  reload: the Lua app file to rewrite\n"
            "  --reload-ms MS      reload: rewrite period (100)\n"
            "  --router-pid PID    read the router's RSS (conns) and CPU use from /proc\n"
            "  --serializer S      json | msgpack | cbor (json); rooms and chess: json only\n"
            "  --mixed             pubsub: subscribers take json, msgpack, cbor in turn (the\n"
            "                      publisher: --serializer)\n"
            "  --tls               TLS 1.2+ (OpenSSL; the router's certificate is not verified)\n"
            "  --auth M            how every session joins: anonymous (HELLO names no authmethods),\n"
            "                      wampcra (--secret) or cryptosign (the bench key); a session\n"
            "                      refused, or welcomed with another authmethod, is an error\n"
            "  --authid ID         --auth: the authid (bench)\n"
            "  --secret S          --auth wampcra: the user's secret, unsalted (bench-secret)\n"
            "  --print-pubkey      print the bench key's cryptosign public key (64 hex digits), exit\n"
            "  --dump FILE         write the first 64 messages sent to FILE (4-byte length + bytes)\n");
}

static double num_arg(const char *name, const char *v, double lo, double hi)
{
    char *end;
    double d = strtod(v, &end);
    if (*v == '\0' || *end != '\0' || d < lo || d > hi)
        die("--%s: bad value '%s' (%g..%g)", name, v, lo, hi);
    return d;
}

static void parse_args(int argc, char **argv)
{
    struct opts *o = &G.o;
    *o = (struct opts){ .host = "127.0.0.1", .realm = "realm1", .scenario = S_RPC, .callers = 8, .depth = 16,
                        .payload = 16, .subscribers = 1, .window = 64, .sessions = 10000, .concurrency = 500,
                        .duration = 3, .warmup = 1, .drain = 5, .topic = "bench.topic", .reload_ms = 100,
                        .rooms = 1000, .members = 4, .games = 1000, .stagger = true, .authid = "bench",
                        .secret = "bench-secret" };
    static const struct option lo[] = {
        { "host", 1, 0, 'H' }, { "port", 1, 0, 'p' }, { "transport", 1, 0, 't' }, { "realm", 1, 0, 'r' },
        { "scenario", 1, 0, 's' }, { "callers", 1, 0, 'c' }, { "depth", 1, 0, 'd' }, { "payload", 1, 0, 'b' },
        { "subscribers", 1, 0, 'S' }, { "window", 1, 0, 'w' }, { "backlog", 1, 0, 'B' },
        { "sessions", 1, 0, 'n' }, { "concurrency", 1, 0, 'C' }, { "sources", 1, 0, 'k' },
        { "duration", 1, 0, 'D' }, { "warmup", 1, 0, 'W' }, { "drain", 1, 0, 'X' }, { "procedure", 1, 0, 'P' },
        { "topic", 1, 0, 'T' }, { "reload-file", 1, 0, 'f' }, { "reload-ms", 1, 0, 'm' },
        { "router-pid", 1, 0, 'R' }, { "rooms", 1, 0, 'o' }, { "members", 1, 0, 'M' },
        { "games", 1, 0, 'g' }, { "stagger", 1, 0, 'G' }, { "eligible", 1, 0, 'e' }, { "progress", 1, 0, 'q' },
        { "serializer", 1, 0, 'z' }, { "mixed", 0, 0, 'x' }, { "tls", 0, 0, 'L' }, { "dump", 1, 0, 'u' },
        { "auth", 1, 0, 'A' }, { "authid", 1, 0, 'I' }, { "secret", 1, 0, 'Y' }, { "print-pubkey", 0, 0, 'K' },
        { "help", 0, 0, 'h' },
        { 0, 0, 0, 0 }
    };
    int ch, idx;
    while ((ch = getopt_long(argc, argv, "h", lo, &idx)) != -1) {
        switch (ch) {
        case 'H': o->host = optarg; break;
        case 'p': o->port = (int)num_arg("port", optarg, 1, 65535); break;
        case 't':
            if (strcmp(optarg, "raw") == 0)
                o->ws = false;
            else if (strcmp(optarg, "ws") == 0)
                o->ws = true;
            else
                die("--transport: raw or ws");
            break;
        case 'r': o->realm = optarg; break;
        case 's': {
            int i = 0;
            while (i < N_SCENARIOS && strcmp(optarg, scenario_names[i]) != 0)
                i++;
            if (i == N_SCENARIOS)
                die("--scenario: rpc, pubsub, conns, lua, reload, rooms or chess");
            o->scenario = (enum scenario)i;
            break;
        }
        case 'c': o->callers = (int)num_arg("callers", optarg, 1, 100000); break;
        case 'd': o->depth = (int)num_arg("depth", optarg, 1, 100000); o->depth_set = true; break;
        case 'b': o->payload = (int)num_arg("payload", optarg, 0, 8 << 20); break;
        case 'S': o->subscribers = (int)num_arg("subscribers", optarg, 1, 100000); break;
        case 'w': o->window = (int)num_arg("window", optarg, 1, 1000000); o->window_set = true; break;
        case 'B': o->backlog = (int)num_arg("backlog", optarg, 1, 100000000); break;
        case 'n': o->sessions = (int)num_arg("sessions", optarg, 1, 1000000); break;
        case 'C': o->concurrency = (int)num_arg("concurrency", optarg, 1, 100000); break;
        case 'k': o->sources = (int)num_arg("sources", optarg, 1, 254); break;
        case 'D': o->duration = num_arg("duration", optarg, 0.01, 3600); break;
        case 'W': o->warmup = num_arg("warmup", optarg, 0, 3600); break;
        case 'X': o->drain = num_arg("drain", optarg, 0.01, 3600); break;
        case 'P': o->procedure = optarg; break;
        case 'T': o->topic = optarg; break;
        case 'f': o->reload_file = optarg; break;
        case 'm': o->reload_ms = (int)num_arg("reload-ms", optarg, 1, 3600000); break;
        case 'R': o->router_pid = (int)num_arg("router-pid", optarg, 1, 1 << 30); break;
        case 'o': o->rooms = (int)num_arg("rooms", optarg, 1, 100000); break;
        case 'M': o->members = (int)num_arg("members", optarg, 1, 100); break;
        case 'g': o->games = (int)num_arg("games", optarg, 1, 100000); break;
        case 'G': o->stagger = num_arg("stagger", optarg, 0, 1) != 0; break;
        case 'e': o->eligible = (int)num_arg("eligible", optarg, 0, 100000); break;
        case 'q': o->progress = (int)num_arg("progress", optarg, 0, 1000000); break;
        case 'z': {
            int i = 0;
            while (i < N_SER && strcmp(optarg, ser_names[i]) != 0)
                i++;
            if (i == N_SER)
                die("--serializer: json, msgpack or cbor");
            o->ser = (enum ser)i;
            break;
        }
        case 'x': o->mixed = true; break;
        case 'L': o->tls = true; break;
        case 'u': o->dump = optarg; break;
        case 'A': {
            int i = 0;
            while (i < N_AUTH && strcmp(optarg, auth_names[i]) != 0)
                i++;
            if (i == N_AUTH)
                die("--auth: anonymous, wampcra or cryptosign");
            o->auth = (enum auth)i;
            break;
        }
        case 'I': o->authid = optarg; break;
        case 'Y': o->secret = optarg; break;
        case 'K': o->print_pubkey = true; break;
        case 'h': usage(stdout); exit(0);
        default: usage(stderr); exit(2);
        }
    }
    if (o->print_pubkey && optind == argc)
        return;
    if (!*o->authid || !*o->secret)
        die("--authid and --secret must not be empty");
    if (optind < argc || !o->port) {
        usage(stderr);
        exit(2);
    }
    if (!o->procedure)
        o->procedure = o->scenario == S_RPC ? "bench.echo" : "bench.lua_echo";
    if (o->scenario == S_ROOMS) {
        if (!o->depth_set)
            o->depth = 1;
        if (!o->window_set || o->window > o->rooms * o->members * o->depth)
            o->window = o->rooms * o->members * o->depth;
    }
    if (!o->backlog)
        o->backlog = 4 * o->window;
    if ((o->scenario == S_ROOMS || o->scenario == S_CHESS) && (o->ser != SER_JSON || o->mixed))
        die("--scenario %s speaks JSON only", scenario_names[o->scenario]);
    if (o->mixed && o->scenario != S_PUBSUB)
        die("--mixed is for --scenario pubsub");
    if (o->scenario == S_RELOAD && !o->reload_file)
        die("--scenario reload needs --reload-file");
    if (!o->sources)
        o->sources = o->scenario == S_CONNS && strncmp(o->host, "127.", 4) == 0 ? 1 + o->sessions / 2000 : 1;
    if (o->sources > 1 && strncmp(o->host, "127.", 4) != 0)
        die("--sources > 1 needs a 127.x.x.x --host");
}

static void raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

static void build_messages(void)
{
    struct opts *o = &G.o;
    char *payload = payload_string();
    for (int i = 0; i < N_SER; i++) {
        enum ser ser = (enum ser)i;
        struct wr w = wr_start(ser);
        /* [1, realm, {roles: {caller: F, callee: F, publisher: {}, subscriber: {}}}], with --auth
         * authmethods: [M], authid (and cryptosign's authextra: {pubkey}) after roles */
        wr_open(&w, I_ARR, 3);
        wr_uint(&w, WAMP_HELLO);
        wr_str(&w, o->realm);
        wr_open(&w, I_MAP, 1 + (o->auth ? 2 : 0) + (o->auth == AUTH_CRYPTOSIGN));
        wr_str(&w, "roles");
        wr_open(&w, I_MAP, 4);
        for (int r = 0; r < 2; r++) {
            wr_str(&w, r ? "callee" : "caller");
            if (o->progress) { /* {features: {progressive_call_results: true}} */
                wr_open(&w, I_MAP, 1);
                wr_str(&w, "features");
                wr_open(&w, I_MAP, 1);
                wr_str(&w, "progressive_call_results");
                wr_true(&w);
            } else {
                wr_open(&w, I_MAP, 0);
            }
        }
        wr_str(&w, "publisher");
        wr_open(&w, I_MAP, 0);
        wr_str(&w, "subscriber");
        wr_open(&w, I_MAP, 0);
        if (o->auth) {
            wr_str(&w, "authmethods");
            wr_open(&w, I_ARR, 1);
            wr_str(&w, auth_names[o->auth]);
            wr_str(&w, "authid");
            wr_str(&w, o->authid);
        }
        if (o->auth == AUTH_CRYPTOSIGN) {
            wr_str(&w, "authextra");
            wr_open(&w, I_MAP, 1);
            wr_str(&w, "pubkey");
            wr_str(&w, G.bench_pub_hex);
        }
        G.m[i].hello = wr_done(&w);

        const char *const uris[3] = { o->procedure, o->topic, "moonbar.script.on_reload" };
        struct tmpl *const t3[3] = { &G.m[i].reg, &G.m[i].sub, &G.m[i].watch };
        for (int k = 0; k < 3; k++) {
            w = wr_start(ser);
            wr_open(&w, I_ARR, 4);
            wr_uint(&w, k ? WAMP_SUBSCRIBE : WAMP_REGISTER);
            wr_uint(&w, 1);
            wr_open(&w, I_MAP, 0);
            wr_str(&w, uris[k]);
            *t3[k] = wr_done(&w);
        }

        w = wr_start(ser);
        wr_open(&w, I_ARR, 5);
        wr_uint(&w, WAMP_CALL);
        wr_hole(&w);
        wr_open(&w, I_MAP, o->progress ? 1 : 0);
        if (o->progress) {
            wr_str(&w, "receive_progress");
            wr_true(&w);
        }
        wr_str(&w, o->procedure);
        wr_open(&w, I_ARR, 1);
        wr_str(&w, payload);
        G.m[i].call = wr_done(&w);
        w = wr_start(ser); /* the RESULT's args: [payload] */
        wr_open(&w, I_ARR, 1);
        wr_str(&w, payload);
        G.m[i].result_args_len = w.b.len;
        buf_free(&w.b);

        for (int k = 0; k < 3; k++) {
            w = wr_start(ser);
            wr_open(&w, I_ARR, k == 2 ? 3 : 4);
            wr_uint(&w, WAMP_YIELD);
            wr_hole(&w);
            wr_open(&w, I_MAP, k == 1 ? 1 : 0);
            if (k == 1) {
                wr_str(&w, "progress");
                wr_true(&w);
            }
            if (k != 2)
                wr_hole(&w);
            *(k == 0 ? &G.m[i].yield : k == 1 ? &G.m[i].yield_prog : &G.m[i].yield_none) = wr_done(&w);
        }

        G.m[i].publish = build_publish(ser, payload, false);

        w = wr_start(ser);
        wr_open(&w, I_ARR, 3);
        wr_uint(&w, WAMP_GOODBYE);
        wr_open(&w, I_MAP, 0);
        wr_str(&w, "wamp.close.normal");
        G.m[i].goodbye = wr_done(&w);
    }
    free(payload);
}

static void free_messages(void)
{
    for (int i = 0; i < N_SER; i++) {
        struct tmpl *all[] = { &G.m[i].hello, &G.m[i].reg, &G.m[i].sub, &G.m[i].watch, &G.m[i].call, &G.m[i].yield,
                               &G.m[i].yield_prog, &G.m[i].yield_none, &G.m[i].publish, &G.m[i].goodbye };
        for (size_t k = 0; k < sizeof all / sizeof all[0]; k++)
            free(all[k]->p);
    }
}

int main(int argc, char **argv)
{
    parse_args(argc, argv);
    if (G.o.print_pubkey || G.o.auth == AUTH_CRYPTOSIGN)
        auth_init();
    if (G.o.print_pubkey) {
        printf("%s\n", G.bench_pub_hex);
        EVP_PKEY_free(G.bench_key);
        return 0;
    }
    raise_nofile();
    build_messages();
    if (getrandom(&G.rng, sizeof G.rng, 0) != (ssize_t)sizeof G.rng)
        G.rng = now_ns() ^ (uint64_t)getpid();
    if (G.o.dump && !(G.dump = fopen(G.o.dump, "wb")))
        die("cannot write %s: %s", G.o.dump, strerror(errno));
    if (G.o.tls) {
        if (!(G.ssl_ctx = SSL_CTX_new(TLS_client_method())))
            die("SSL_CTX_new: %s", tls_error());
        SSL_CTX_set_min_proto_version(G.ssl_ctx, TLS1_2_VERSION);
        /* No certificate verification, on purpose: the bench talks to its own moonbar on
         * loopback, whose certificate scripts/bench/run made for the run (self-signed). */
        SSL_CTX_set_verify(G.ssl_ctx, SSL_VERIFY_NONE, NULL);
    }
    G.loop = uv_default_loop();
    uv_prepare_init(G.loop, &G.prepare);
    uv_check_init(G.loop, &G.check);
    uv_prepare_start(&G.prepare, on_prepare);
    uv_check_start(&G.check, on_check);
    uv_timer_init(G.loop, &G.phase_timer);
    uv_timer_init(G.loop, &G.reload_timer);
    uv_timer_init(G.loop, &G.deadline);
    uv_timer_start(&G.deadline, on_deadline,
                   30000 + (G.o.scenario == S_CONNS ? (uint64_t)G.o.sessions * 2 :
                            G.o.scenario == S_ROOMS ? (uint64_t)G.o.rooms * (uint64_t)G.o.members * 2 :
                            G.o.scenario == S_CHESS ? (uint64_t)G.o.games * 3 * 2 : 0), 0);

    struct opts *o = &G.o;
    switch (o->scenario) {
    case S_RPC: G.nconns = 1 + o->callers; break;
    case S_LUA: G.nconns = o->callers; break;
    case S_RELOAD: G.nconns = o->callers + 1; break;
    case S_PUBSUB:
        G.nconns = 1 + o->subscribers;
        if (o->eligible > o->subscribers)
            die("--eligible %d: more than the %d subscribers", o->eligible, o->subscribers);
        break;
    case S_CONNS: G.nconns = o->sessions; break;
    case S_ROOMS: G.nconns = o->rooms * o->members; break;
    case S_CHESS: G.nconns = 3 * o->games; break;
    }
    G.conns = calloc((size_t)G.nconns, sizeof *G.conns);
    if (!G.conns)
        die("out of memory");
    for (int i = 0; i < G.nconns; i++) {
        struct conn *c = &G.conns[i];
        c->idx = i;
        /* --mixed: the subscribers (conns 1..S) take json, msgpack, cbor in turn */
        c->ser = o->mixed && i > 0 ? (enum ser)((i - 1) % N_SER) : o->ser;
        switch (o->scenario) {
        case S_RPC: c->role = i == 0 ? R_CALLEE : R_CALLER; break;
        case S_LUA: c->role = R_CALLER; break;
        case S_RELOAD: c->role = i == o->callers ? R_WATCH : R_CALLER; break;
        case S_PUBSUB: c->role = i == 0 ? R_PUB : R_SUB; break;
        case S_CONNS: c->role = R_IDLE; break;
        case S_ROOMS:
            c->role = R_MEMBER;
            c->room = i / o->members;
            c->member = i % o->members;
            break;
        case S_CHESS:
            c->role = R_CHESS;
            c->room = i / 3;
            c->member = i % 3;
            break;
        }
        if (c->role == R_CALLER || c->role == R_MEMBER) {
            c->slot_id = calloc((size_t)o->depth, sizeof *c->slot_id);
            c->slot_t = calloc((size_t)o->depth, sizeof *c->slot_t);
            if (!c->slot_id || !c->slot_t)
                die("out of memory");
        }
        if (c->role == R_MEMBER) {
            c->slot_n = calloc((size_t)o->depth, sizeof *c->slot_n);
            c->slot_got = calloc((size_t)o->depth, sizeof *c->slot_got);
            if (!c->slot_n || !c->slot_got)
                die("out of memory");
        }
    }
    G.reload_version = 1;
    if (o->scenario == S_ROOMS) {
        G.room_ids = calloc((size_t)o->rooms, sizeof *G.room_ids);
        G.room_pings = calloc((size_t)o->rooms, sizeof *G.room_pings);
        G.idle_cap = G.nconns * o->depth;
        G.idle_q = calloc((size_t)G.idle_cap, sizeof *G.idle_q);
        if (!G.room_ids || !G.room_pings || !G.idle_q)
            die("out of memory");
    }

    if (o->scenario == S_CHESS && !(G.games = calloc((size_t)o->games, sizeof *G.games)))
        die("out of memory");

    G.t_setup0 = now_ns();
    if (o->scenario == S_CONNS) {
        G.rss0 = o->router_pid > 0 ? read_rss_kib(o->router_pid) : -1;
        G.gen_cpu0 = self_cpu_s();
        G.machine0 = machine_busy_s();
        G.router_cpu0 = o->router_pid > 0 ? proc_cpu_s(o->router_pid) : -1;
        G.t_join0 = now_ns();
        conns_open_more();
    } else if (o->scenario == S_ROOMS || o->scenario == S_CHESS) {
        rooms_open_more();
    } else {
        for (int i = 0; i < G.nconns; i++)
            conn_open(&G.conns[i]);
    }
    uv_run(G.loop, UV_RUN_DEFAULT);
    int status = uv_loop_close(G.loop) == 0 ? 0 : 1;

    for (int i = 0; i < G.nconns; i++) {
        struct conn *c = &G.conns[i];
        buf_free(&c->in);
        buf_free(&c->out);
        buf_free(&c->inflight);
        buf_free(&c->frag);
        free(c->slot_id);
        free(c->slot_t);
        free(c->slot_n);
        free(c->slot_got);
        buf_free(&c->tls_out);
        if (c->ssl)
            SSL_free(c->ssl); /* and its BIOs */
    }
    if (G.ssl_ctx)
        SSL_CTX_free(G.ssl_ctx);
    EVP_PKEY_free(G.bench_key);
    if (G.dump)
        fclose(G.dump);
    if (G.room_ids)
        for (int r = 0; r < o->rooms; r++)
            free(G.room_ids[r]);
    free(G.room_ids);
    free(G.room_pings);
    if (G.games)
        for (int g = 0; g < o->games; g++)
            free(G.games[g].room);
    free(G.games);
    free(G.idle_q);
    free(G.conns);
    free_messages();
    return status;
}
