/* libFuzzer harness of the WebSocket frame layer (mb_wsproto.h), driven the way ws.c's
 * ws_input drives it: client frames from a byte stream in chunks (a header split across
 * chunks is gathered in 14 bytes, payloads unmasked piece by piece at their offset, a whole
 * message at hand unmasked in one go, fragments gathered in a buffer), the RFC 6455 rules
 * between frames (mb_ws_check_frame), control frames, and permessage-deflate messages
 * inflated by mb_ws_inflate (within max_message_size). Checks:
 *  - no crash, no leak, no read outside the input (every chunk is an exact-size allocation)
 *    nor outside a header's 14 bytes;
 *  - the same frames, verdicts (close codes), messages (their bytes once unmasked and
 *    inflated, whether a text message is valid UTF-8 per mb_utf8.h) and control payloads
 *    (a close frame's code) whatever the chunking;
 *  - a parsed header's length and fields are what its bytes say, a server header written by
 *    mb_ws_put_head reads back the same, unmasking in place equals unmasking by copy (messages of up to 64 bytes), an
 *    inflated message is never over max, fragments never sum over max.
 * Input: byte 0: bit 0 deflate negotiated, bits 1-3 max_message_size, bits 4-7 the number k
 * of chunk sizes that follow; k bytes of sizes (1..256 bytes each, used once, then the rest
 * comes in one chunk; k = 15: used in turn to the end); the stream. */
#include "fuzz_util.h"

#include "mb_buf.h"
#include "mb_utf8.h"
#include "mb_wsproto.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

/* One inflate stream for every input, as ws.c has one for every connection: mb_ws_inflate
 * resets it per message, so no state carries over between inputs. */
static z_stream *inflater(void)
{
    static z_stream *z;
    if (!z) {
        z = calloc(1, sizeof *z);
        ASSERT(z && inflateInit2(z, -15) == Z_OK);
    }
    return z;
}

struct rx {
    bool deflate, done;
    uint64_t max;
    struct mb_ws_rx rx;
    struct mb_ws_frame f;
    unsigned char hdr[MB_WS_HEAD_MAX];
    size_t hdr_len;
    bool in_payload, compressed;
    int msg_opcode; /* of the message in progress */
    uint64_t f_off;
    unsigned char ctl[MB_WS_CONTROL_MAX];
    struct mb_buf in;  /* a message in pieces */
    struct mb_buf log; /* what happened */
};

/* Logs an event, with a hash of the bytes p (an inflated message may be long); not
 * instrumented: the harness's own loop is no coverage to find. */
__attribute__((no_sanitize("coverage"))) static void note(struct rx *r, char kind, uint64_t a, const void *p, size_t n)
{
    uint64_t hash = 14695981039346656037ull;
    for (size_t i = 0; i < n; i++)
        hash = (hash ^ ((const unsigned char *)p)[i]) * 1099511628211ull;
    char h[17];
    h[0] = kind;
    memcpy(h + 1, &a, 8);
    memcpy(h + 9, &hash, 8);
    ASSERT(mb_buf_append(&r->log, h, sizeof h) == 0);
}

static void check_head(const unsigned char *p, size_t n, int h, const struct mb_ws_frame *f)
{
    ASSERT(h >= 2 && h <= MB_WS_HEAD_MAX && (size_t)h <= n);
    ASSERT(f->fin == !!(p[0] & 0x80) && f->rsv1 == !!(p[0] & 0x40) && f->rsv23 == ((p[0] >> 4) & 3u));
    ASSERT(f->opcode == (p[0] & 15) && f->masked == !!(p[1] & 0x80));
    unsigned l7 = p[1] & 0x7f;
    ASSERT(l7 < 126 ? f->len == l7 : l7 == 126 ? f->len <= 0xffff : f->len < (1ull << 63));
    ASSERT(h == 2 + (l7 == 126 ? 2 : l7 == 127 ? 8 : 0) + (f->masked ? 4 : 0));
    ASSERT(!f->masked ? !memcmp(f->mask, "\0\0\0\0", 4) : !memcmp(f->mask, p + h - 4, 4));
    /* a prefix of the header is "more bytes needed" */
    struct mb_ws_frame g;
    ASSERT(mb_ws_parse_head(p, (size_t)h - 1, &g) == 0);
    /* the server's own header of the same frame reads back */
    unsigned char out[MB_WS_HEAD_MAX];
    size_t o = mb_ws_put_head(out, f->opcode, f->rsv1, f->len);
    ASSERT(o >= 2 && o <= 10 && mb_ws_parse_head(out, o, &g) == (int)o);
    ASSERT(g.fin && g.rsv1 == f->rsv1 && !g.rsv23 && g.opcode == f->opcode && !g.masked && g.len == f->len);
}

/* A whole message, unmasked. */
static void deliver(struct rx *r, int opcode, unsigned char *p, size_t n)
{
    if (r->compressed) {
        struct mb_buf out = { 0 };
        int rc = mb_ws_inflate(inflater(), &out, (const char *)p, n, (size_t)r->max);
        ASSERT(rc == 0 || rc == -1 || rc == -2);
        ASSERT(rc == -2 || out.len <= r->max);
        note(r, 'Z', (uint64_t)(rc + 2), NULL, 0);
        if (rc == 0) {
            note(r, 'M', (uint64_t)opcode << 32 | out.len, out.len ? mb_buf_data(&out) : NULL, out.len);
            if (opcode == MB_WS_TEXT)
                note(r, 'U', mb_utf8_valid(out.len ? mb_buf_data(&out) : "", out.len), NULL, 0);
        } else {
            r->done = true; /* 1007 or 1009: closed */
        }
        mb_buf_free(&out);
        return;
    }
    note(r, 'M', (uint64_t)opcode << 32 | n, p, n);
    if (opcode == MB_WS_TEXT)
        note(r, 'U', mb_utf8_valid((const char *)p, n), NULL, 0);
}

static void control(struct rx *r, int opcode, const unsigned char *p, size_t n)
{
    note(r, 'C', (uint64_t)opcode << 32 | n, p, n);
    if (opcode == MB_WS_CLOSE) {
        /* the code ws.c echoes (RFC 6455 §7.4: 1000-1003, 1007-1014, 3000-4999 are sendable) */
        unsigned code = n >= 2 ? (unsigned)p[0] << 8 | p[1] : 0;
        note(r, 'X', code, NULL, 0);
        r->done = true;
    }
}

/* ws.c's ws_input over one chunk. */
static void input(struct rx *r, const unsigned char *p, size_t len)
{
    const unsigned char *end = p + len;
    while (p < end && !r->done) {
        if (!r->in_payload) {
            int h;
            size_t used;
            if (r->hdr_len == 0) {
                h = mb_ws_parse_head(p, (size_t)(end - p), &r->f);
                if (h == 0) {
                    ASSERT((size_t)(end - p) < MB_WS_HEAD_MAX);
                    r->hdr_len = (size_t)(end - p);
                    memcpy(r->hdr, p, r->hdr_len);
                    return;
                }
                if (h > 0)
                    check_head(p, (size_t)(end - p), h, &r->f);
                used = h > 0 ? (size_t)h : 0;
            } else {
                size_t take = MB_WS_HEAD_MAX - r->hdr_len;
                if (take > (size_t)(end - p))
                    take = (size_t)(end - p);
                memcpy(r->hdr + r->hdr_len, p, take);
                h = mb_ws_parse_head(r->hdr, r->hdr_len + take, &r->f);
                if (h == 0) {
                    r->hdr_len += take;
                    ASSERT(r->hdr_len < MB_WS_HEAD_MAX);
                    return;
                }
                if (h > 0) {
                    ASSERT((size_t)h > r->hdr_len);
                    check_head(r->hdr, r->hdr_len + take, h, &r->f);
                }
                used = h > 0 ? (size_t)h - r->hdr_len : 0;
                r->hdr_len = 0;
            }
            if (h < 0) {
                note(r, 'F', 1002, NULL, 0);
                r->done = true;
                return;
            }
            p += used;
            note(r, 'H', (uint64_t)r->f.opcode << 56 | (uint64_t)r->f.fin << 55 | (uint64_t)r->f.rsv1 << 54 | r->f.len,
                 r->f.mask, 4);
            bool first = r->rx.opcode == 0 && (r->f.opcode == MB_WS_TEXT || r->f.opcode == MB_WS_BINARY);
            struct mb_ws_rx before = r->rx;
            int code = mb_ws_check_frame(&r->rx, &r->f, r->deflate, r->max);
            ASSERT(code == 0 || code == 1002 || code == 1009);
            if (code) {
                ASSERT(code != 1009 || r->f.len > r->max || before.len + r->f.len > r->max);
                note(r, 'F', (uint64_t)code, NULL, 0);
                r->done = true;
                return;
            }
            ASSERT(r->f.masked && !r->f.rsv23);
            ASSERT(r->f.opcode < 8 || (r->f.fin && r->f.len <= MB_WS_CONTROL_MAX && !r->f.rsv1));
            ASSERT(r->rx.len <= r->max && (!r->rx.opcode || r->rx.opcode == MB_WS_TEXT || r->rx.opcode == MB_WS_BINARY));
            if (first) {
                r->compressed = r->f.rsv1;
                r->msg_opcode = r->f.opcode;
            }
            r->in_payload = true;
            r->f_off = 0;
        }
        size_t avail = (size_t)(end - p);
        uint64_t left = r->f.len - r->f_off;
        size_t take = left < avail ? (size_t)left : avail;
        if (r->f.opcode >= 8) {
            mb_ws_unmask_copy(r->ctl + r->f_off, p, take, r->f.mask, r->f_off);
            p += take;
            r->f_off += take;
            if (r->f_off < r->f.len)
                return;
            r->in_payload = false;
            control(r, r->f.opcode, r->ctl, (size_t)r->f.len);
            continue;
        }
        bool last = r->f.fin && take == left;
        if (last && r->f_off == 0 && r->in.len == 0) {
            /* a whole message at hand: unmasked in one go, by copy and (short ones) in place alike */
            unsigned char *a = malloc(take ? take : 1);
            mb_ws_unmask_copy(a, p, take, r->f.mask, 0);
            if (take <= 64) {
                unsigned char b[64];
                memcpy(b, p, take);
                mb_ws_unmask(b, take, r->f.mask, 0);
                ASSERT(memcmp(a, b, take) == 0);
            }
            deliver(r, r->msg_opcode, a, take);
            free(a);
        } else {
            char *dst = mb_buf_reserve(&r->in, take);
            ASSERT(dst);
            mb_ws_unmask_copy((unsigned char *)dst, p, take, r->f.mask, r->f_off);
            mb_buf_commit(&r->in, take);
            if (last) {
                deliver(r, r->msg_opcode, (unsigned char *)mb_buf_data(&r->in), r->in.len);
                mb_buf_free(&r->in);
            }
        }
        p += take;
        r->f_off += take;
        if (r->f_off == r->f.len)
            r->in_payload = false;
    }
}

static void run(struct rx *r, bool deflate, uint64_t max, const unsigned char *s, size_t n, const unsigned char *sizes,
                size_t k)
{
    *r = (struct rx){ .deflate = deflate, .max = max };
    for (size_t off = 0, i = 0; off < n && !r->done; i++) {
        /* the k sizes once, then the rest in one chunk; k = 15: the sizes in turn to the end */
        size_t take = k && (i < k || k == 15) ? (size_t)sizes[i % k] + 1 : n;
        if (take > n - off)
            take = n - off;
        unsigned char *chunk = malloc(take);
        memcpy(chunk, s + off, take);
        input(r, chunk, take);
        free(chunk);
        off += take;
    }
    note(r, 'E', r->done, NULL, 0);
    mb_buf_free(&r->in);
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    if (size < 1)
        return 0;
    static const uint64_t maxes[8] = { 0, 1, 125, 126, 1000, 65535, 65536, 1 << 20 };
    bool deflate = data[0] & 1;
    uint64_t max = maxes[(data[0] >> 1) & 7];
    size_t k = data[0] >> 4;
    if (size < 1 + k)
        return 0;
    struct rx whole, split;
    run(&whole, deflate, max, data + 1 + k, size - 1 - k, NULL, 0);
    run(&split, deflate, max, data + 1 + k, size - 1 - k, data + 1, k);
    ASSERT(whole.log.len == split.log.len && memcmp(mb_buf_data(&whole.log), mb_buf_data(&split.log), whole.log.len) == 0);
    mb_buf_free(&whole.log);
    mb_buf_free(&split.log);
    return 0;
}
