/* mb_rawsocket_frame: the pure part of RawSocket (WAMP over a byte stream): the client's
 * 4-byte handshake and the 4-byte frame headers (type in the low 3 bits, 24-bit big-endian
 * length). No I/O, no allocation, no state; used by src/transport/rawsocket.c and fuzzed in
 * spec/fuzz/fuzz_rawsocket.c. */
#ifndef MB_RAWSOCKET_FRAME_H
#define MB_RAWSOCKET_FRAME_H

#include <stddef.h>
#include <stdint.h>

#define MB_RS_MAGIC 0x7f

/* What a client's handshake is. */
enum {
    MB_RS_HS_OK = 0,
    MB_RS_HS_NOT_RAWSOCKET = 1, /* first byte not 0x7f: closed without an answer */
    MB_RS_HS_RESERVED = 2,      /* reserved bytes set: refused with error 3 */
    MB_RS_HS_SERIALIZER = 3,    /* serializer not 1..3: refused with error 1 */
};
/* RawSocket's handshake error codes (the high nibble of the refusal's second byte). */
#define MB_RS_ERR_SERIALIZER 1
#define MB_RS_ERR_RESERVED 3

/* Judges the 4 bytes at h. On MB_RS_HS_OK, *ser is the serializer (1 JSON, 2 MessagePack,
 * 3 CBOR) and *peer_max the longest message the client accepts: 2^(9 + its length nibble). */
int mb_rs_handshake_check(const unsigned char h[4], int *ser, uint32_t *peer_max);

enum { MB_RS_MSG = 0, MB_RS_PING = 1, MB_RS_PONG = 2 };

/* mb_rs_next_frame's answers. */
enum {
    MB_RS_NEED_MORE = 0,  /* the header or the payload is not all there yet */
    MB_RS_FRAME = 1,      /* a whole frame: 4 + f->len bytes */
    MB_RS_BAD_FRAME = -1, /* reserved bits set or unknown type (f->type holds the first byte) */
    MB_RS_TOO_BIG = -2,   /* the length is over max (f->len holds it) */
};

struct mb_rs_frame {
    int type;            /* MB_RS_MSG, MB_RS_PING or MB_RS_PONG */
    size_t len;          /* payload length */
    const char *payload; /* p + 4 (MB_RS_FRAME only) */
};

/* The frame at the start of [p, p+n) for a connection whose messages may be max bytes long.
 * A header is judged as soon as its 4 bytes are in, before its payload arrives. */
int mb_rs_next_frame(const char *p, size_t n, size_t max, struct mb_rs_frame *f);

#endif
