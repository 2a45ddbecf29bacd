/* RawSocket handshake and frame headers (see mb_rawsocket_frame.h). */
#include "mb_rawsocket_frame.h"

int mb_rs_handshake_check(const unsigned char h[4], int *ser, uint32_t *peer_max)
{
    if (h[0] != MB_RS_MAGIC)
        return MB_RS_HS_NOT_RAWSOCKET;
    if (h[2] != 0 || h[3] != 0)
        return MB_RS_HS_RESERVED;
    int s = h[1] & 0x0f;
    if (s < 1 || s > 3)
        return MB_RS_HS_SERIALIZER;
    *ser = s;
    *peer_max = 1u << (9 + (h[1] >> 4));
    return MB_RS_HS_OK;
}

int mb_rs_next_frame(const char *p, size_t n, size_t max, struct mb_rs_frame *f)
{
    if (n < 4)
        return MB_RS_NEED_MORE;
    const unsigned char *h = (const unsigned char *)p;
    f->len = ((size_t)h[1] << 16) | ((size_t)h[2] << 8) | h[3];
    f->type = h[0] & 0x07;
    f->payload = NULL;
    if ((h[0] & 0xf8) || f->type > MB_RS_PONG) {
        f->type = h[0];
        return MB_RS_BAD_FRAME;
    }
    if (f->len > max)
        return MB_RS_TOO_BIG;
    if (n - 4 < f->len)
        return MB_RS_NEED_MORE;
    f->payload = p + 4;
    return MB_RS_FRAME;
}
