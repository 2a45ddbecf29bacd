/* WebSocket frames and handshake values (RFC 6455), permessage-deflate offers (RFC 7692). */
#include "mb_wsproto.h"
#include "mb_utf8.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

int mb_ws_parse_head(const unsigned char *p, size_t n, struct mb_ws_frame *f)
{
    if (n < 2)
        return 0;
    f->fin = (p[0] & 0x80) != 0;
    f->rsv1 = (p[0] & 0x40) != 0;
    f->rsv23 = (p[0] >> 4) & 0x3;
    f->opcode = p[0] & 0x0f;
    f->masked = (p[1] & 0x80) != 0;
    size_t h = 2;
    uint64_t len = p[1] & 0x7f;
    if (len == 126) {
        if (n < 4)
            return 0;
        len = (uint64_t)p[2] << 8 | p[3];
        h = 4;
    } else if (len == 127) {
        if (n < 10)
            return 0;
        if (p[2] & 0x80)
            return -1;
        len = 0;
        for (int i = 0; i < 8; i++)
            len = len << 8 | p[2 + i];
        h = 10;
    }
    f->len = len;
    if (f->masked) {
        if (n < h + 4)
            return 0;
        memcpy(f->mask, p + h, 4);
        h += 4;
    } else {
        memset(f->mask, 0, 4);
    }
    return (int)h;
}

int mb_ws_check_frame(struct mb_ws_rx *rx, const struct mb_ws_frame *f, bool deflate, uint64_t max)
{
    if (f->rsv23)
        return 1002;
    if (!f->masked) /* §5.1: a server MUST close on an unmasked client frame */
        return 1002;
    switch (f->opcode) {
    case MB_WS_CLOSE:
    case MB_WS_PING:
    case MB_WS_PONG:
        if (!f->fin || f->len > MB_WS_CONTROL_MAX || f->rsv1) /* §5.5 */
            return 1002;
        return 0;
    case MB_WS_TEXT:
    case MB_WS_BINARY:
        if (rx->opcode) /* a new message inside a fragmented one */
            return 1002;
        if (f->rsv1 && !deflate)
            return 1002;
        if (f->len > max)
            return 1009;
        if (!f->fin) {
            rx->opcode = (uint8_t)f->opcode;
            rx->compressed = f->rsv1;
            rx->len = f->len;
        }
        return 0;
    case MB_WS_CONT:
        if (!rx->opcode || f->rsv1) /* RFC 7692 §6.1: RSV1 only on the first frame */
            return 1002;
        if (f->len > max || rx->len + f->len > max)
            return 1009;
        rx->len += f->len;
        if (f->fin)
            rx->opcode = 0;
        return 0;
    default:
        return 1002;
    }
}

void mb_ws_unmask(unsigned char *p, size_t n, const unsigned char mask[4], uint64_t offset)
{
    mb_ws_unmask_copy(p, p, n, mask, offset);
}

void mb_ws_unmask_copy(unsigned char *dst, const unsigned char *src, size_t n, const unsigned char mask[4],
                       uint64_t offset)
{
    unsigned char m[8];
    for (int i = 0; i < 8; i++)
        m[i] = mask[(offset + (uint64_t)i) & 3];
    uint64_t m64;
    memcpy(&m64, m, 8);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t v;
        memcpy(&v, src + i, 8);
        v ^= m64;
        memcpy(dst + i, &v, 8);
    }
    for (; i < n; i++)
        dst[i] = src[i] ^ m[i & 7];
}

size_t mb_ws_put_head(unsigned char *dst, int opcode, bool rsv1, uint64_t len)
{
    size_t h = 0;
    dst[h++] = (unsigned char)(0x80 | (rsv1 ? 0x40 : 0) | opcode);
    if (len < 126) {
        dst[h++] = (unsigned char)len;
    } else if (len <= 0xffff) {
        dst[h++] = 126;
        dst[h++] = (unsigned char)(len >> 8);
        dst[h++] = (unsigned char)len;
    } else {
        dst[h++] = 127;
        for (int i = 7; i >= 0; i--)
            dst[h++] = (unsigned char)(len >> (8 * i));
    }
    return h;
}

static bool b64char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/';
}

bool mb_ws_key_valid(struct mb_http_str key)
{
    if (key.n != 24 || key.p[22] != '=' || key.p[23] != '=')
        return false;
    for (size_t i = 0; i < 22; i++)
        if (!b64char(key.p[i]))
            return false;
    return true;
}

/* SHA-1 and one digest context, fetched once: an upgrade allocates nothing */
static EVP_MD *sha1_md;
static EVP_MD_CTX *sha1_ctx;

int mb_ws_accept(struct mb_http_str key, char out[29])
{
    static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned mdlen = 0;
    if (!sha1_md && !(sha1_md = EVP_MD_fetch(NULL, "SHA1", NULL)))
        return -1;
    if (!sha1_ctx && !(sha1_ctx = EVP_MD_CTX_new()))
        return -1;
    int ok = EVP_DigestInit_ex(sha1_ctx, sha1_md, NULL) && EVP_DigestUpdate(sha1_ctx, key.p, key.n) &&
             EVP_DigestUpdate(sha1_ctx, guid, sizeof guid - 1) && EVP_DigestFinal_ex(sha1_ctx, md, &mdlen);
    if (!ok || mdlen != 20)
        return -1;
    return EVP_EncodeBlock((unsigned char *)out, md, 20) == 28 ? 0 : -1;
}

void mb_ws_accept_cleanup(void)
{
    EVP_MD_CTX_free(sha1_ctx);
    EVP_MD_free(sha1_md);
    sha1_ctx = NULL;
    sha1_md = NULL;
}

const char *const mb_ws_subprotocols[3] = { "wamp.2.json", "wamp.2.msgpack", "wamp.2.cbor" };

int mb_ws_pick_subprotocol(const struct mb_http_request *req, unsigned spoken, bool *offered)
{
    *offered = mb_http_header(req, "sec-websocket-protocol", 0) != NULL;
    struct mb_http_str e;
    for (size_t it = 0; mb_http_next_element(req, "sec-websocket-protocol", &it, &e);)
        for (int s = 0; s < 3; s++)
            if ((spoken & (1u << s)) && mb_http_str_is(e, mb_ws_subprotocols[s]))
                return s;
    return -1;
}

/* ---- permessage-deflate ---------------------------------------------------------------- */

static bool is_tchar(unsigned char c)
{
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
        return true;
    return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static const char *skip_ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    return p;
}

/* A token at p: its end, or p when none. */
static const char *token_end(const char *p, const char *end)
{
    while (p < end && is_tchar((unsigned char)*p))
        p++;
    return p;
}

/* A window bits value (RFC 7692 §7.1.2: 1*DIGIT, 8..15, possibly quoted): the number or -1. */
static int window_bits(const char *v, size_t n)
{
    if (n == 1 && v[0] >= '8' && v[0] <= '9')
        return v[0] - '0';
    if (n == 2 && v[0] == '1' && v[1] >= '0' && v[1] <= '5')
        return 10 + v[1] - '0';
    return -1;
}

/* One extension element "name; p1; p2=v". Returns 1 accepted into d, 0 declined, and is
 * only called for elements named permessage-deflate. */
static int deflate_params(const char *p, const char *end, struct mb_ws_deflate *d)
{
    unsigned seen = 0;
    int smwb = 0;
    while ((p = skip_ws(p, end)) < end) {
        if (*p != ';')
            return 0;
        p = skip_ws(p + 1, end);
        const char *ne = token_end(p, end);
        if (ne == p)
            return 0;
        const char *name = p;
        size_t nlen = (size_t)(ne - p);
        const char *val = NULL;
        size_t vlen = 0;
        p = skip_ws(ne, end);
        if (p < end && *p == '=') {
            p = skip_ws(p + 1, end);
            if (p < end && *p == '"') {
                const char *q = memchr(p + 1, '"', (size_t)(end - p - 1));
                if (!q)
                    return 0;
                val = p + 1;
                vlen = (size_t)(q - p - 1);
                p = q + 1;
            } else {
                const char *ve = token_end(p, end);
                if (ve == p)
                    return 0;
                val = p;
                vlen = (size_t)(ve - p);
                p = ve;
            }
        }
        static const char *const names[] = { "server_no_context_takeover", "client_no_context_takeover",
                                              "server_max_window_bits", "client_max_window_bits" };
        int which = -1;
        for (int i = 0; i < 4; i++)
            if (strlen(names[i]) == nlen && strncasecmp(name, names[i], nlen) == 0)
                which = i;
        if (which < 0 || (seen & (1u << which)))
            return 0; /* unknown or repeated: declined (§7) */
        seen |= 1u << which;
        switch (which) {
        case 0:
        case 1:
            if (val)
                return 0;
            break;
        case 2: /* moonbar must compress within it; zlib cannot do 8 (it makes 9) */
            if (!val || (smwb = window_bits(val, vlen)) < 9)
                return 0;
            break;
        case 3: /* the client may limit its own window: any window inflates with 15 */
            if (val && window_bits(val, vlen) < 0)
                return 0;
            break;
        }
    }
    d->on = true;
    d->server_max_window_bits = smwb;
    return 1;
}

bool mb_ws_deflate_offer(const struct mb_http_request *req, struct mb_ws_deflate *out)
{
    memset(out, 0, sizeof *out);
    struct mb_http_str e;
    for (size_t it = 0; mb_http_next_element(req, "sec-websocket-extensions", &it, &e);) {
        const char *end = e.p + e.n;
        const char *ne = token_end(e.p, end);
        if ((size_t)(ne - e.p) == 18 && strncasecmp(e.p, "permessage-deflate", 18) == 0 &&
            deflate_params(ne, end, out))
            return true;
    }
    memset(out, 0, sizeof *out);
    return false;
}

size_t mb_ws_deflate_response(const struct mb_ws_deflate *d, char *out, size_t cap)
{
    int n;
    if (d->server_max_window_bits)
        n = snprintf(out, cap, "permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
                     "server_max_window_bits=%d", d->server_max_window_bits);
    else
        n = snprintf(out, cap, "permessage-deflate; server_no_context_takeover; client_no_context_takeover");
    return n < 0 || (size_t)n >= cap ? 0 : (size_t)n;
}

/* ---- permessage-deflate: inflating a message --------------------------------------------- */

int mb_ws_inflate(struct z_stream_s *z, struct mb_buf *b, const char *data, size_t len, size_t max)
{
    if (inflateReset(z) != Z_OK)
        return -1;
    mb_buf_reset(b);
    static const unsigned char tail[4] = { 0x00, 0x00, 0xff, 0xff };
    for (int part = 0; part < 2; part++) {
        z->next_in = part ? (Bytef *)tail : (Bytef *)data;
        z->avail_in = part ? 4 : (uInt)len;
        while (z->avail_in) {
            size_t room = len * 2 + 256 < max + 1 - b->len ? len * 2 + 256 : max + 1 - b->len;
            if (room == 0)
                return -2;
            char *dst = mb_buf_reserve(b, room);
            if (!dst)
                return -1;
            z->next_out = (Bytef *)dst;
            z->avail_out = (uInt)room;
            int rc = inflate(z, Z_SYNC_FLUSH);
            b->len += room - z->avail_out;
            if (b->len > max)
                return -2;
            if (rc == Z_STREAM_END)
                return 0; /* a final block: what follows (the tail) does not matter */
            if (rc != Z_OK && rc != Z_BUF_ERROR)
                return -1;
            if (rc == Z_BUF_ERROR && z->avail_out != 0)
                break; /* no progress possible: needs more input */
        }
    }
    return 0;
}

int mb_ws_close_check(const unsigned char *p, size_t n)
{
    if (n == 0)
        return 0;
    if (n == 1)
        return 1002;
    unsigned code = (unsigned)p[0] << 8 | p[1];
    bool valid = (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999);
    if (!valid)
        return 1002;
    return mb_utf8_valid((const char *)p + 2, n - 2) ? 0 : 1007;
}
