/* mb_wsproto: the pure parts of WebSocket (RFC 6455) and permessage-deflate (RFC 7692):
 * frame headers and the rules between frames, the handshake's key and accept values, the
 * choice of the WAMP subprotocol, the deflate offer, and inflating a message. No I/O; no
 * allocation but mb_ws_inflate's output. */
#ifndef MB_WSPROTO_H
#define MB_WSPROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mb_buf.h"
#include "mb_http.h"

struct z_stream_s; /* zlib's z_stream */

enum {
    MB_WS_CONT = 0x0, MB_WS_TEXT = 0x1, MB_WS_BINARY = 0x2,
    MB_WS_CLOSE = 0x8, MB_WS_PING = 0x9, MB_WS_PONG = 0xA,
};
#define MB_WS_HEAD_MAX 14 /* 2 + 8 (64-bit length) + 4 (mask) */
#define MB_WS_CONTROL_MAX 125

struct mb_ws_frame {
    bool fin, rsv1, masked;
    unsigned rsv23;  /* RSV2 and RSV3 bits (must be 0) */
    int opcode;
    uint64_t len;    /* payload length */
    unsigned char mask[4];
};

/* Parses a frame header at [p, p+n). Returns its length (2..14), 0 when more bytes are needed,
 * or -1 when the 64-bit length has its high bit set (close 1002). */
int mb_ws_parse_head(const unsigned char *p, size_t n, struct mb_ws_frame *f);

/* The state between frames of a connection's inbound stream. */
struct mb_ws_rx {
    uint8_t opcode;      /* MB_WS_TEXT / MB_WS_BINARY while a fragmented message is open, else 0 */
    bool compressed;     /* that message had RSV1 */
    uint64_t len;        /* its payload bytes so far (frames before this one) */
};

/* Checks a client frame against RFC 6455 §5 given the message in progress: returns 0, or the
 * close code (1002 protocol error: RSV bits, opcode, unmasked, control frame too long or
 * fragmented, continuation rules; 1009: the message would exceed max bytes). On 0 for a data
 * frame, rx is updated (open/continued/closed message). */
int mb_ws_check_frame(struct mb_ws_rx *rx, const struct mb_ws_frame *f, bool deflate, uint64_t max);

/* Unmasks n bytes in place; offset: the position of p[0] in the frame's payload. */
void mb_ws_unmask(unsigned char *p, size_t n, const unsigned char mask[4], uint64_t offset);
/* Same, copying from src to dst. */
void mb_ws_unmask_copy(unsigned char *dst, const unsigned char *src, size_t n, const unsigned char mask[4],
                       uint64_t offset);

/* Writes a server (unmasked) frame header for a payload of len bytes; returns its length (2..10). */
/* The payload p[0..n) of a close frame received from a peer (RFC 6455 §5.5.1, §7.4): 0 when
 * it is empty or a code a peer may send (1000–1003, 1007–1014, 3000–4999) with a UTF-8 reason;
 * otherwise the code to close with: 1002 (one byte, or a code such as 1005, 1006, 1015, 999,
 * 5000 that never goes on the wire), 1007 (a reason that is not UTF-8). */
int mb_ws_close_check(const unsigned char *p, size_t n);
size_t mb_ws_put_head(unsigned char *dst, int opcode, bool rsv1, uint64_t len);

/* Whether key is a Sec-WebSocket-Key: base64 of 16 bytes (24 characters ending in "=="). */
bool mb_ws_key_valid(struct mb_http_str key);
/* Sec-WebSocket-Accept of key: base64(SHA-1(key + GUID)), 28 characters + NUL. 0, or -1. */
int mb_ws_accept(struct mb_http_str key, char out[29]);
/* Frees what mb_ws_accept keeps between calls (its digest). */
void mb_ws_accept_cleanup(void);

/* The subprotocols moonbar speaks, indexed by enum mb_ser: "wamp.2.json", "wamp.2.msgpack",
 * "wamp.2.cbor". */
extern const char *const mb_ws_subprotocols[3];
/* The first protocol of the client's offer (every Sec-WebSocket-Protocol line, comma lists, in
 * the client's order) that is in spoken (bit 1 << enum mb_ser): its enum mb_ser, or -1 (with
 * *offered false when no Sec-WebSocket-Protocol was sent at all). */
int mb_ws_pick_subprotocol(const struct mb_http_request *req, unsigned spoken, bool *offered);

/* permessage-deflate (RFC 7692): the offer accepted, if any. moonbar always answers with
 * server_no_context_takeover and client_no_context_takeover. */
struct mb_ws_deflate {
    bool on;
    int server_max_window_bits; /* 0: not asked (15), else 9..15: moonbar compresses within it */
};
/* Reads every Sec-WebSocket-Extensions line and accepts the first permessage-deflate offer
 * moonbar can satisfy (an offer with an unknown, repeated or invalid parameter, or
 * server_max_window_bits=8, is declined). Returns true when one was accepted. */
bool mb_ws_deflate_offer(const struct mb_http_request *req, struct mb_ws_deflate *out);
/* The Sec-WebSocket-Extensions value answering d; returns its length. */
size_t mb_ws_deflate_response(const struct mb_ws_deflate *d, char *out, size_t cap);

/* Inflates one permessage-deflate message (RFC 7692 §7.2.2: the 00 00 ff ff tail is added
 * here) with z, a raw inflate stream (inflateInit2 with -15 windowBits; reset here, so one
 * serves every message), into out (reset first), at most max bytes. 0, -1 (corrupt data or
 * out of memory), or -2 (it inflates to more than max bytes). A final block ends the message:
 * bytes after it are ignored. */
int mb_ws_inflate(struct z_stream_s *z, struct mb_buf *out, const char *data, size_t len, size_t max);

#endif
