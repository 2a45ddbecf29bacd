/* codec_int.h: what msgpack.c, cbor.c and codec.c share — one token at a time readers, head
 * writers and the iterative skipper. Not a public interface: the rest of the router uses
 * mb_codec.h. */
#ifndef MB_CODEC_INT_H
#define MB_CODEC_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "mb_buf.h"
#include "mb_codec.h"
#include "mb_utf8.h"

enum mb_tok_kind {
    MB_T_NULL, /* nil, null, CBOR undefined, MessagePack ext */
    MB_T_FALSE,
    MB_T_TRUE,
    MB_T_UINT,  /* u: [0, 2^64) */
    MB_T_NINT,  /* i: [-2^63, -1] */
    MB_T_REAL,  /* d */
    MB_T_STR,   /* UTF-8 text, checked */
    MB_T_BIN,
    MB_T_ARRAY, /* count items, or indef */
    MB_T_MAP,   /* count pairs, or indef */
    MB_T_BREAK, /* CBOR: the end of an indefinite-length item */
};

/* Why a reader stopped. */
enum mb_tok_err {
    MB_E_OK = 0,
    MB_E_TRUNC = -1,    /* a head or content runs past the end */
    MB_E_BYTE = -2,     /* a reserved or unsupported initial byte */
    MB_E_UTF8 = -3,     /* invalid UTF-8 in a text string */
    MB_E_INT = -4,      /* an integer below -2^63 */
    MB_E_CHUNK = -5,    /* a chunk of an indefinite string of another type, or nested */
    MB_E_BREAK = -6,    /* a break where none may be (after a tag, in a map after a key, at top) */
    MB_E_KEY = -7,      /* a map key that is not a text string */
    MB_E_DEPTH = -8,    /* nested deeper than MB_CODEC_MAX_DEPTH */
    MB_E_TRAILING = -9, /* bytes after the value */
};

struct mb_tok {
    enum mb_tok_kind kind;
    bool indef;       /* CBOR: indefinite-length string (chunks) or container */
    bool undef;       /* NULL that was MessagePack ext or CBOR undefined (JavaScript's undefined) */
    uint64_t u;       /* UINT value; ARRAY/MAP count (definite) */
    int64_t i;        /* NINT value */
    double d;         /* REAL value */
    const char *s;    /* STR/BIN: the bytes; indefinite: the first chunk's head */
    size_t n;         /* STR/BIN: the length (indefinite: the sum of the chunks) */
};

/* Reads the item at *p (a scalar whole, a string with its content, a container's head only).
 * On success advances *p past what it read and returns MB_E_OK; else returns an error and
 * leaves *p at the item. Counts of definite containers are already checked against the bytes
 * left (each item takes at least one byte), so callers may double them without overflow. */
typedef int (*mb_next_fn)(const char **p, const char *end, struct mb_tok *t);

int mb_mp_next(const char **p, const char *end, struct mb_tok *t);
int mb_cbor_next(const char **p, const char *end, struct mb_tok *t);
/* mb_codec_skip for the two formats (validating, no allocation); NULL when invalid. */
const char *mb_mp_skip(const char *p, const char *end);
const char *mb_cbor_skip(const char *p, const char *end);
/* A CBOR indefinite string's chunks (the tok's s, already validated by mb_cbor_next): stores
 * the next chunk's bytes and returns where the following chunk starts, or NULL at the break. */
const char *mb_cbor_chunk(const char *p, const char **data, size_t *n);

/* Head writers of a binary format: 0, or -1 when out of memory (or a length the format cannot
 * carry). */
struct mb_bin_writer {
    int (*simple)(struct mb_buf *b, enum mb_tok_kind k); /* NULL, FALSE, TRUE */
    int (*uint)(struct mb_buf *b, uint64_t v);
    int (*nint)(struct mb_buf *b, int64_t v); /* v < 0 */
    int (*real)(struct mb_buf *b, double v);
    int (*head)(struct mb_buf *b, enum mb_tok_kind k, uint64_t n); /* STR, BIN, ARRAY, MAP */
};
extern const struct mb_bin_writer mb_mp_writer, mb_cbor_writer;



/* The validating skipper of both binary formats, iterative (a frame per open container, no
 * recursion): next is a constant at each call site, so the compiler specializes it. Returns
 * the byte after the value, or NULL with the reason in *err (and where in *at). */
struct mb_skip_frame {
    uint64_t left; /* items left (a map's pairs count twice); unused when indef */
    bool map, indef, key; /* key: the next item is a map key */
};

static inline const char *mb_skip_value(const char *p, const char *end, mb_next_fn next, int *err,
                                        const char **at)
{
    struct mb_skip_frame st[MB_CODEC_MAX_DEPTH];
    int depth = 0, e;
    struct mb_tok t = { 0 };
    for (;;) {
        const char *start = p;
        if ((e = next(&p, end, &t)) != MB_E_OK)
            goto fail;
        struct mb_skip_frame *f = depth ? &st[depth - 1] : NULL;
        if (t.kind == MB_T_BREAK) {
            if (!f || !f->indef || (f->map && !f->key)) {
                e = MB_E_BREAK;
                goto fail;
            }
            depth--;
        } else {
            if (f && f->map && f->key && t.kind != MB_T_STR) {
                e = MB_E_KEY;
                goto fail;
            }
            if (t.kind == MB_T_ARRAY || t.kind == MB_T_MAP) {
                if (depth == MB_CODEC_MAX_DEPTH) {
                    e = MB_E_DEPTH;
                    goto fail;
                }
                if (t.indef || t.u) {
                    st[depth++] = (struct mb_skip_frame){ t.kind == MB_T_MAP ? 2 * t.u : t.u,
                                                          t.kind == MB_T_MAP, t.indef, true };
                    continue;
                }
            }
        }
        /* one item done at the current level; a container done counts in its parent */
        while (depth) {
            f = &st[depth - 1];
            if (f->map)
                f->key = !f->key;
            if (f->indef || --f->left)
                break;
            depth--;
        }
        if (!depth)
            return p;
        continue;
    fail:
        *err = e;
        *at = start;
        return NULL;
    }
}

#endif
