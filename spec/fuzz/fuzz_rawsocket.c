/* libFuzzer harness of RawSocket's handshake and framing (mb_rawsocket_frame.h), driven the
 * way src/transport/rawsocket.c drives them: a 4-byte handshake, then frames, over a byte
 * stream that arrives in chunks (parsed in place while nothing is buffered, else appended to
 * the connection's partial-frame buffer, as on_data does). Checks:
 *  - nothing is read outside the bytes received (every chunk is an exact-size allocation, so
 *    ASan sees a read past its end; a payload lies inside the buffer it was parsed from);
 *  - the events (handshake verdict, each frame's type, length and bytes, the error that ends
 *    the stream) are the same whatever the chunking, and the same as for the whole stream;
 *  - a frame's length, the bytes it uses and the handshake's peer maximum are what the
 *    header says; a header is judged on its 4 bytes alone (a bad type or an over-long length
 *    is reported without waiting for the payload).
 * Input: byte 0 picks max_message_size, byte 1 the number k (0..15) of chunk sizes that
 * follow, k bytes of chunk sizes (each 1..256, used once, then the rest comes in one chunk;
 * k = 15: used in turn to the end), then the stream. */
#include "fuzz_util.h"

#include "mb_buf.h"
#include "mb_rawsocket_frame.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { ST_HANDSHAKE, ST_OPEN, ST_DONE };

struct conn {
    int state;
    size_t max;
    struct mb_buf in;  /* a partial frame */
    struct mb_buf log; /* what happened, as bytes to compare */
};

static void note(struct conn *c, char kind, uint64_t a, const char *p, size_t n)
{
    char h[9];
    h[0] = kind;
    memcpy(h + 1, &a, 8);
    ASSERT(mb_buf_append(&c->log, h, sizeof h) == 0);
    if (n)
        ASSERT(mb_buf_append(&c->log, p, n) == 0);
}

/* rawsocket.c's parse(): the bytes used. */
static size_t parse(struct conn *c, const char *p, size_t n)
{
    size_t used = 0;
    if (c->state == ST_HANDSHAKE) {
        if (n < 4)
            return 0;
        int ser = 0;
        uint32_t peer_max = 0;
        int v = mb_rs_handshake_check((const unsigned char *)p, &ser, &peer_max);
        const unsigned char *h = (const unsigned char *)p;
        ASSERT((v == MB_RS_HS_NOT_RAWSOCKET) == (h[0] != 0x7f));
        if (v != MB_RS_HS_OK) {
            note(c, 'H', (uint64_t)v, NULL, 0);
            c->state = ST_DONE;
            return n;
        }
        ASSERT(ser >= 1 && ser <= 3 && ser == (h[1] & 15) && !h[2] && !h[3]);
        ASSERT(peer_max == 1u << (9 + (h[1] >> 4)));
        note(c, 'H', (uint64_t)ser << 32 | peer_max, NULL, 0);
        c->state = ST_OPEN;
        used = 4;
    }
    while (c->state == ST_OPEN) {
        struct mb_rs_frame f;
        const unsigned char *h = (const unsigned char *)p + used;
        int got = mb_rs_next_frame(p + used, n - used, c->max, &f);
        if (got == MB_RS_NEED_MORE) {
            ASSERT(n - used < 4 || n - used - 4 < f.len);
            break;
        }
        size_t len = (size_t)h[1] << 16 | (size_t)h[2] << 8 | h[3];
        if (got == MB_RS_BAD_FRAME) {
            ASSERT(f.type == h[0] && ((h[0] & 0xf8) || (h[0] & 7) > 2));
            note(c, 'B', h[0], NULL, 0);
            c->state = ST_DONE;
            return n;
        }
        ASSERT(f.type == (h[0] & 7) && f.len == len);
        if (got == MB_RS_TOO_BIG) {
            ASSERT(len > c->max);
            note(c, 'T', len, NULL, 0);
            c->state = ST_DONE;
            return n;
        }
        ASSERT(got == MB_RS_FRAME && len <= c->max && f.payload == p + used + 4 && 4 + len <= n - used);
        note(c, (char)('0' + f.type), len, f.payload, f.len);
        used += 4 + f.len;
    }
    return c->state == ST_DONE ? n : used;
}

/* rawsocket.c's on_data(). */
static void on_data(struct conn *c, const char *data, size_t len)
{
    if (c->in.len == 0) {
        size_t used = parse(c, data, len);
        ASSERT(used <= len);
        if (used < len)
            ASSERT(mb_buf_append(&c->in, data + used, len - used) == 0);
        return;
    }
    ASSERT(mb_buf_append(&c->in, data, len) == 0);
    size_t used = parse(c, mb_buf_data(&c->in), c->in.len);
    ASSERT(used <= c->in.len);
    mb_buf_consume(&c->in, used);
    if (c->in.len == 0)
        mb_buf_shrink(&c->in, 0);
}

/* Feeds the stream in chunks of the sizes given (in turn; the whole stream when none). */
static void run(struct conn *c, size_t max, const unsigned char *s, size_t n, const unsigned char *sizes, size_t k)
{
    *c = (struct conn){ .state = ST_HANDSHAKE, .max = max };
    for (size_t off = 0, i = 0; off < n; i++) {
        /* the k sizes once, then the rest in one chunk; k = 15: the sizes in turn to the end */
        size_t take = k && (i < k || k == 15) ? (size_t)sizes[i % k] + 1 : n;
        if (take > n - off)
            take = n - off;
        char *chunk = malloc(take); /* exact size: ASan sees reads past it */
        memcpy(chunk, s + off, take);
        on_data(c, chunk, take);
        free(chunk);
        off += take;
    }
    /* what is left buffered is an incomplete handshake or frame */
    if (c->state != ST_DONE && c->in.len) {
        struct mb_rs_frame f;
        ASSERT(c->state == ST_HANDSHAKE ? c->in.len < 4
                                        : mb_rs_next_frame(mb_buf_data(&c->in), c->in.len, max, &f) == MB_RS_NEED_MORE);
    }
    note(c, 'E', c->state, NULL, 0);
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    if (size < 2)
        return 0;
    static const size_t maxes[8] = { 0, 1, 16, 100, 512, 4096, 65536, 0xffffff };
    size_t max = maxes[data[0] & 7];
    size_t k = data[1] & 15;
    if (size < 2 + k)
        return 0;
    const unsigned char *sizes = data + 2, *s = data + 2 + k;
    size_t n = size - 2 - k;
    struct conn whole, split;
    run(&whole, max, s, n, NULL, 0);
    run(&split, max, s, n, sizes, k); /* k = 15, sizes 0: a byte at a time */
    ASSERT(whole.log.len == split.log.len && memcmp(mb_buf_data(&whole.log), mb_buf_data(&split.log), whole.log.len) == 0);
    struct conn *cs[2] = { &whole, &split };
    for (int i = 0; i < 2; i++) {
        mb_buf_free(&cs[i]->in);
        mb_buf_free(&cs[i]->log);
    }
    return 0;
}
