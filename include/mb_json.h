/* mb_json: the JSON pieces of the hot path, without jansson.
 * - A validating skipper that finds where a JSON value ends, so a payload that passes through
 *   the router (CALL → INVOCATION, YIELD → RESULT, PUBLISH → EVENT) is copied as bytes, never
 *   decoded and re-encoded.
 * - Writers that append JSON text (integers, strings) to an mb_buf.
 * The skipper accepts a strict subset of what jansson accepts: no \u escapes, integers of at
 * most 18 digits, reals with at most 200 integer digits and a 2-digit exponent, nesting up to
 * 64 levels, UTF-8 checked like jansson does. Anything else returns NULL and the caller decodes
 * the message with jansson, which accepts it or names the error: so the fast path never lets
 * through what the slow path would refuse. Pure: no allocation, no state. */
#ifndef MB_JSON_H
#define MB_JSON_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "mb_buf.h"

/* Skips JSON whitespace. */
const char *mb_json_ws(const char *p, const char *end);
/* If a value the skipper accepts starts at p (no leading whitespace), returns the byte after
 * it; else NULL. */
const char *mb_json_skip(const char *p, const char *end);
/* Same for a string with no escapes at all (URIs): p at the opening quote. */
const char *mb_json_skip_plain_string(const char *p, const char *end);

/* Appends v in decimal, or a JSON string (quotes and escapes added, UTF-8 kept as is, like
 * jansson's compact output). 0, or -1 when out of memory. */
int mb_json_put_u64(struct mb_buf *b, uint64_t v);
int mb_json_put_str(struct mb_buf *b, const char *s, size_t n);
/* The inside of such a string: s's bytes escaped as mb_json_put_str does, no quotes (a string
 * written in pieces, e.g. CBOR's indefinite-length chunks). 0, or -1. */
int mb_json_put_chars(struct mb_buf *b, const char *s, size_t n);
/* v in decimal, '-' first when negative (INT64_MIN too). 0, or -1. */
int mb_json_put_i64(struct mb_buf *b, int64_t v);
/* v as jansson writes a real: "%.17g", with ".0" added when it would read as an integer and
 * the exponent without '+' or leading zeros. 0, or -1 (out of memory, or NaN/±Inf: JSON has
 * no such number). */
int mb_json_put_real(struct mb_buf *b, double v);
/* Appends v encoded exactly as jansson's json_dumps(v, JSON_COMPACT) would (key order kept,
 * reals with 17 significant digits), without its printf per integer. 0, or -1 (out of
 * memory, or a value jansson cannot encode either). */
int mb_json_dump(struct mb_buf *b, const json_t *v);
static inline int mb_json_put(struct mb_buf *b, const char *s, size_t n) { return mb_buf_append(b, s, n); }

#endif
