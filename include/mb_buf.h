/* mb_buf: a byte queue (append at the tail, consume from the head) used for outbound
 * frames and inbound reassembly. It keeps MB_BUF_HEADROOM writable bytes before its data
 * (room for a header written in front of data already queued). Memory is kept across uses: no allocation per message
 * once the buffer has grown to the connection's working size. */
#ifndef MB_BUF_H
#define MB_BUF_H

#include <stddef.h>

#define MB_BUF_HEADROOM 16

struct mb_buf {
    char *mem;   /* MB_BUF_HEADROOM + cap bytes */
    size_t head; /* offset of the first unconsumed byte, after the headroom */
    size_t len;  /* bytes queued */
    size_t cap;
};

static inline char *mb_buf_data(const struct mb_buf *b) { return b->mem + MB_BUF_HEADROOM + b->head; }

/* Makes room for n more bytes at the tail and returns where they go (NULL on failure);
 * mb_buf_commit(b, n) then adds them to the queue. */
char *mb_buf_reserve(struct mb_buf *b, size_t n);
static inline void mb_buf_commit(struct mb_buf *b, size_t n) { b->len += n; }
int mb_buf_append(struct mb_buf *b, const void *p, size_t n); /* 0, or -1 */
void mb_buf_consume(struct mb_buf *b, size_t n);
static inline void mb_buf_reset(struct mb_buf *b) { b->head = b->len = 0; }
/* Drops the memory when the buffer is empty and larger than keep bytes. */
void mb_buf_shrink(struct mb_buf *b, size_t keep);
void mb_buf_free(struct mb_buf *b);

#endif
