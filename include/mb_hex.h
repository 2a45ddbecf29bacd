/* mb_hex: one hex digit's value — the one rule shared by hex decoding (mb_crypto), percent-
 * decoding of paths (mb_http) and of query strings and URLs (the HTTP bridge). */
#ifndef MB_HEX_H
#define MB_HEX_H

/* 0..15 for '0'-'9', 'a'-'f', 'A'-'F'; -1 for any other byte. */
static inline int mb_hex_digit(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

#endif
