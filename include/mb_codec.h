/* mb_codec: WAMP's three serializers at the value level — JSON, MessagePack and CBOR — behind
 * one interface, so the router, broker, dealer, meta API and Lua engine never know which one a
 * session speaks. Pure: no I/O, no router state; every reader validates every byte it reads
 * (fuzzed in spec/fuzz).
 *
 * Value model (the same for the three): null, true/false, integers in [-2^63, 2^64), floats
 * (binary64), UTF-8 strings, binary, lists, dicts with string keys. Binary is a MessagePack
 * bin or a CBOR byte string; in JSON it is the spec's convention: a string of a NUL character
 * followed by the bytes in base64. A decoded json_t holds binary in that JSON form too, so a
 * string starting with NUL is binary when encoded to MessagePack or CBOR (when what follows
 * is valid base64; else it stays a string). What the model lacks is mapped and documented in
 * docs/behaviour.md: MessagePack ext and CBOR undefined → null, CBOR tags → their content,
 * non-string dict keys → an error; NaN and infinities → an error when the target is JSON. */
#ifndef MB_CODEC_H
#define MB_CODEC_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mb_buf.h"
#include "mb_wamp.h"

enum mb_ser {
    MB_SER_JSON = 0,    /* wamp.2.json, RawSocket serializer 1 */
    MB_SER_MSGPACK = 1, /* wamp.2.msgpack, RawSocket serializer 2 */
    MB_SER_CBOR = 2,    /* wamp.2.cbor, RawSocket serializer 3 */
};
#define MB_SER_COUNT 3
#define MB_CODEC_MAX_DEPTH 64

/* "json", "msgpack", "cbor". */
const char *mb_ser_name(enum mb_ser s);

/* If one complete, valid value of serializer s starts at p, returns the byte after it; else
 * NULL. MessagePack and CBOR: validating, no allocation, nesting up to MB_CODEC_MAX_DEPTH,
 * map keys text strings; NaN and infinities are valid floats here (see mb_codec_decode).
 * JSON: what mb_json_skip accepts; when it steps aside, jansson parses one value
 * (JSON_DISABLE_EOF_CHECK, allocating: the slow path) and its position is the end; NULL when
 * p is at whitespace, which mb_json_skip does not take either. */
const char *mb_codec_skip(enum mb_ser s, const char *p, const char *end);

/* Decodes one value that must fill exactly [p, p+len) into a new json_t. NULL on error, with
 * a message naming what is wrong and where ("MessagePack: truncated value at byte 12") in err
 * (err may be NULL). Integers above INT64_MAX become reals (jansson has no unsigned integers);
 * binary becomes the NUL + padded base64 string; NaN and infinities are an error (json_t cannot
 * hold them: "NaN or infinity"), the one case where the skipper accepts what this refuses.
 * Map keys may hold NUL (json_object_setn); a duplicate key keeps the last value. */
json_t *mb_codec_decode(enum mb_ser s, const char *p, size_t len, char *err, size_t errlen);

/* Appends v encoded in serializer s (JSON: exactly mb_json_dump). 0, or -1 (out of memory,
 * or a value s cannot carry: nested deeper than MB_CODEC_MAX_DEPTH, a string that is not
 * UTF-8), with b as it was. A string of NUL + canonical base64 (padded or not, unused bits
 * zero) is written as binary. */
int mb_codec_encode(enum mb_ser s, struct mb_buf *b, const json_t *v);

/* Converts one value of serializer from at [p, p+len) to serializer to, appended to b, without
 * going through jansson where it can (exact for every integer of the model). 0, or -1 when the
 * input is invalid or the value cannot be carried by to (NaN/±Inf to JSON), with b as it was.
 * from == to validates with mb_codec_skip (JSON: trailing whitespace allowed) and copies the
 * bytes. From JSON: through jansson, then as mb_codec_encode. From MessagePack or CBOR: one
 * pass, no allocation beyond b; JSON output is what mb_json_dump writes for the same value
 * (keys in the source's order, duplicates kept), binary output uses the shortest heads, reals
 * as binary64, definite lengths (a CBOR indefinite container is counted first). */
int mb_codec_transcode(struct mb_buf *b, enum mb_ser to, enum mb_ser from, const char *p, size_t len);

/* Writers for message heads in MessagePack and CBOR (JSON heads are text: see session.c).
 * 0, or -1 when out of memory. For MB_SER_JSON, put_uint and put_str write the decimal and the
 * JSON string; put_array and put_map return -1. put_str does not check p's UTF-8. */
int mb_codec_put_array(enum mb_ser s, struct mb_buf *b, size_t n); /* array header of n items */
int mb_codec_put_map(enum mb_ser s, struct mb_buf *b, size_t n);   /* map header of n pairs */
int mb_codec_put_uint(enum mb_ser s, struct mb_buf *b, uint64_t v);
int mb_codec_put_str(enum mb_ser s, struct mb_buf *b, const char *p, size_t n);

/* The fast path of MessagePack and CBOR sessions, as mb_msg_scan is JSON's: recognizes CALL,
 * PUBLISH and YIELD straight from the bytes, every byte validated (mb_codec_skip), and fills m with
 * m->ser = s, type, request, uri/uri_len (the string's bytes, UTF-8 checked), dict_raw/dict_len
 * (the Options value's bytes: the receiver decodes them with mb_codec_decode), args_raw/
 * args_len and kwargs_raw/kwargs_len (each value's bytes), tail/tail_len (from the first byte
 * of Arguments to the end of ArgumentsKw, "" if none) and tail_n (0, 1 or 2 values in tail).
 * Returns 1, or 0 for anything else: the caller then decodes with mb_codec_decode and
 * mb_msg_parse, which name any error. What it accepts, decode + mb_msg_parse accept with the
 * same fields (unless a payload holds a NaN or an infinity: then decoding the payload or the
 * Options fails, see mb_codec_decode). An indefinite-length outer array and a chunked URI
 * (CBOR) are left to the slow path. */
int mb_msg_scan_bin(enum mb_ser s, const char *data, size_t len, struct mb_msg *m);

#endif
