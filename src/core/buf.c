#include "mb_buf.h"

#include <stdlib.h>
#include <string.h>

char *mb_buf_reserve(struct mb_buf *b, size_t n)
{
    if (b->mem && b->head + b->len + n <= b->cap)
        return mb_buf_data(b) + b->len;
    if (b->mem && b->len + n <= b->cap && b->head >= b->cap / 2) {
        /* enough room once the consumed bytes are dropped */
        memmove(b->mem + MB_BUF_HEADROOM, mb_buf_data(b), b->len);
        b->head = 0;
        return mb_buf_data(b) + b->len;
    }
    size_t ncap = b->cap ? b->cap : 512; /* grows by doubling to the connection's working size */
    while (ncap < b->len + n)
        ncap *= 2;
    char *nm = malloc(MB_BUF_HEADROOM + ncap);
    if (!nm)
        return NULL;
    if (b->len)
        memcpy(nm + MB_BUF_HEADROOM, mb_buf_data(b), b->len);
    free(b->mem);
    b->mem = nm;
    b->cap = ncap;
    b->head = 0;
    return mb_buf_data(b) + b->len;
}

int mb_buf_append(struct mb_buf *b, const void *p, size_t n)
{
    char *dst = mb_buf_reserve(b, n);
    if (!dst)
        return -1;
    memcpy(dst, p, n);
    b->len += n;
    return 0;
}

void mb_buf_consume(struct mb_buf *b, size_t n)
{
    if (n >= b->len) {
        b->head = b->len = 0;
        return;
    }
    b->head += n;
    b->len -= n;
}

void mb_buf_shrink(struct mb_buf *b, size_t keep)
{
    if (b->len == 0 && b->cap > keep) {
        free(b->mem);
        b->mem = NULL;
        b->cap = b->head = 0;
    }
}

void mb_buf_free(struct mb_buf *b)
{
    free(b->mem);
    memset(b, 0, sizeof *b);
}
