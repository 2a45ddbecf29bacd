/* mb_bridge: the HTTP bridge's incoming services (M11), as Crossbar's REST bridge defines them:
 * the publisher, caller and webhook paths of the config's http section (docs/http-bridge.md).
 *
 * bridge.c owns the services: each path claims its URL with mb_httpd and has one in-router
 * session (transport "http", authid "http:<path>", authrole the path's role, not trusted: the
 * realm's static roles and Lua authorizer decide its requests like any client's). A request
 * becomes a PUBLISH or CALL of that session; the router's answer comes back through the session's
 * in-process transport and becomes the HTTP answer, in Crossbar's format.
 *
 * sign.c and pyjson.c are the pure parts (no router, no I/O, unit-tested alone): the query
 * string as Crossbar reads it, its timestamp and integer rules, request signatures, GitHub's
 * webhook signatures, the replay guard (nonces seen within the timestamp window, increasing
 * sequence numbers), and JSON written byte for byte as Python's json.dumps writes it (Crossbar's
 * answer bodies). */
#ifndef MB_BRIDGE_H
#define MB_BRIDGE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mb_buf.h"

struct mb_router;

/* ---- the services (bridge.c) ------------------------------------------------------------- */

/* Starts every publisher, caller and webhook path of r->cfg->http: claims its path (and the
 * paths under it, as Crossbar's leaf resources answer them) and joins its session. Call after
 * the realms and scripts exist, before the listeners start. 0, or -1 with a logged reason. */
int mb_bridge_start(struct mb_router *r);
/* After uv_run: frees the paths, their sessions and what is left of their requests (every
 * connection is gone by then). The idle handle closes in the loop run that follows. */
void mb_bridge_free(struct mb_router *r);

/* ---- query strings (sign.c) ----------------------------------------------------------------- */

/* The first value of name in the query string q (after '?'), decoded as Twisted decodes
 * request.args for Crossbar: pairs split on '&', a pair without '=' has an empty value, '+' is a
 * space, %XX is a byte (a malformed escape stays as written). Writes it to out (cap bytes, no NUL;
 * the value is never longer than q) and its length to *len. true when name is present. */
bool mb_bridge_query_get(const char *q, size_t qlen, const char *name, char *out, size_t cap, size_t *len);

/* Crossbar's timestamp: strptime("%Y-%m-%dT%H:%M:%S.%fZ") read as UTC (one or two digits for
 * month, day, hour, minute and second, one to six for the fraction, 'T' and 'Z' in either case,
 * a real calendar date). 0 with seconds since the epoch in *t, or -1. */
int mb_bridge_parse_timestamp(const char *s, size_t n, double *t);

/* Python's int() of bytes, within int64: ASCII whitespace around, an optional sign, decimal
 * digits with single underscores between them. 0 with the value, or -1. */
int mb_bridge_parse_int(const char *s, size_t n, int64_t *v);

/* ---- signatures (sign.c) --------------------------------------------------------------------- */

/* One signed request's parts, as the query carried them (decoded, mb_bridge_query_get). */
struct mb_bridge_signed {
    const char *key, *timestamp, *seq, *nonce;
    size_t key_len, timestamp_len, seq_len, nonce_len;
};

/* base64(HMAC-SHA256(secret, key ‖ timestamp ‖ seq ‖ nonce ‖ body)) with the URL-safe alphabet
 * and padding, as Crossbar computes it, into out (45 bytes: 44 characters and a NUL). */
void mb_bridge_sign(const char *secret, size_t secret_len, const struct mb_bridge_signed *sr, const char *body,
                    size_t body_len, char out[45]);
/* Whether sig is that signature: any base64 spelling (standard or URL-safe alphabet, padded or
 * not; a space is read as '+', which an unencoded query turns it into), compared as bytes in
 * constant time. */
bool mb_bridge_signature_ok(const char *secret, size_t secret_len, const struct mb_bridge_signed *sr,
                            const char *body, size_t body_len, const char *sig, size_t sig_len);

/* GitHub's webhook signatures: sha1 is X-Hub-Signature ("sha1=<hex>", NULL when absent), sha256
 * X-Hub-Signature-256 ("sha256=<hex>"), both HMACs of the body under secret. true when at least
 * one is present and every one present is right (prefix and hex in either case, compared in
 * constant time). */
bool mb_bridge_github_ok(const char *secret, size_t secret_len, const char *sha1, size_t sha1_len,
                         const char *sha256, size_t sha256_len, const char *body, size_t body_len);

/* ---- the replay guard (sign.c) ------------------------------------------------------------- */

/* The nonces a signed path accepted, each kept until its request's timestamp leaves the window
 * (timestamp + timestamp_delta_limit: a replay after that fails the timestamp check), at most max
 * of them; and the last sequence number. Memory grows with use up to max entries, 32 bytes each
 * at most (a 16-byte heap entry, an 8-byte set slot at most half full), and is kept. */
struct mb_bridge_guard {
    int64_t *set;       /* the nonces: open addressing, INT64_MIN marks a free slot */
    size_t set_cap, set_len;
    bool set_min;       /* INT64_MIN itself is in the set */
    struct mb_bridge_nonce { double expiry; int64_t nonce; } *heap; /* a min-heap by expiry */
    size_t n, cap, max;
    bool have_seq;
    int64_t last_seq;
};

enum mb_guard_result {
    MB_GUARD_OK,     /* accepted: the nonce (and the sequence number) is recorded */
    MB_GUARD_REPLAY, /* the nonce was accepted before, within the window */
    MB_GUARD_SEQ,    /* check_seq and seq is not above the last accepted one */
    MB_GUARD_FULL,   /* max nonces are within their window: nothing can be forgotten yet */
    MB_GUARD_NOMEM,
};

void mb_bridge_guard_init(struct mb_bridge_guard *g, size_t max);
/* Forgets the nonces whose expiry is before now, then checks and records one request. */
enum mb_guard_result mb_bridge_guard_check(struct mb_bridge_guard *g, int64_t nonce, double expiry, double now,
                                           bool check_seq, int64_t seq);
void mb_bridge_guard_free(struct mb_bridge_guard *g);

/* ---- Python's json.dumps (pyjson.c) ----------------------------------------------------------- */

/* Crossbar writes its answers with two settings of Python's json.dumps: */
enum mb_pyjson_style {
    MB_PYJSON_COMPACT, /* crossbar._util.dump_json: separators (",", ":"), UTF-8 kept as is */
    MB_PYJSON_DEFAULT, /* json.dumps(): separators (", ", ": "), ensure_ascii (\uXXXX, lowercase) */
};
/* Appends v as Python would write the value json.loads made of it: key order kept, floats as
 * repr() writes them (the shortest text that reads back, "1.0", "1e+16", "1e-05"). 0, or -1 (out
 * of memory). */
int mb_pyjson_dump(struct mb_buf *b, const json_t *v, enum mb_pyjson_style style);
/* Appends the JSON string of the UTF-8 text s (quotes included) in style. 0, or -1. */
int mb_pyjson_str(struct mb_buf *b, const char *s, size_t n, enum mb_pyjson_style style);
/* Appends Python's repr() of the bytes s: b'...' (or b"..." when s has a ' and no "), with \\, \t,
 * \n, \r and \xNN escapes; what Crossbar's messages show of a method or content type. 0, or -1. */
int mb_pybytes_repr(struct mb_buf *b, const char *s, size_t n);

#endif
