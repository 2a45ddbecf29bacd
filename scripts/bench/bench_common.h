/* Shared by moonbar's in-process benchmarks: a transport that only counts what it is given,
 * a clock, and message helpers. Sessions on it take part in routing like any other. */
#ifndef MB_BENCH_COMMON_H
#define MB_BENCH_COMMON_H

#include "mb_router.h"
#include "mb_session.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct null_conn {
    size_t bytes, messages;
};

static inline void null_send(void *conn, const char *data, size_t len)
{
    (void)data;
    struct null_conn *c = conn;
    c->bytes += len;
    c->messages++;
}
static inline size_t null_queued(void *conn) { (void)conn; return 0; }
static inline void null_set_reading(void *conn, bool on) { (void)conn; (void)on; }
static inline void null_close(void *conn, int code, const char *reason, bool flush)
{
    (void)conn; (void)code; (void)reason; (void)flush;
}
static const struct mb_transport null_transport = {
    .name = "bench", .send = null_send, .queued = null_queued,
    .set_reading = null_set_reading, .close = null_close,
};

static inline double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static inline void feed(struct mb_session *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static inline void feed(struct mb_session *s, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    mb_session_receive(s, buf, (size_t)n);
}

/* [70,ID,{},["hello",42],{"k":true}] without printf */
static inline size_t yield_msg(char *out, uint64_t id)
{
    char digits[24];
    int nd = 0;
    do {
        digits[nd++] = (char)('0' + id % 10);
        id /= 10;
    } while (id);
    size_t o = 0;
    memcpy(out, "[70,", 4);
    o = 4;
    while (nd)
        out[o++] = digits[--nd];
    static const char tail[] = ",{},[\"hello\",42],{\"k\":true}]";
    memcpy(out + o, tail, sizeof tail - 1);
    return o + sizeof tail - 1;
}

static inline double median3(const double *v)
{
    double a = v[0], b = v[1], c = v[2];
    if (a > b) { double t = a; a = b; b = t; }
    if (b > c) { double t = b; b = c; c = t; }
    if (a > b) { double t = a; a = b; b = t; }
    return b;
}

static inline struct mb_session *join(struct mb_router *r, struct null_conn *c)
{
    struct mb_session *s = mb_session_new(r, &null_transport, c, "bench");
    feed(s, "[1,\"realm1\",{\"roles\":{\"publisher\":{},\"subscriber\":{},\"caller\":{},\"callee\":{}}}]");
    return s;
}


#endif
