/* libFuzzer harness of the pure parts of long-poll request handling (mb_longpoll.h): the
 * resource a path names, the open request's {"protocols": [...]} body, and the framing of
 * send bodies (JSON batches split on 0x1e / 0x18, MessagePack and CBOR batches on 4-byte
 * length prefixes, unbatched bodies whole). Checks:
 *  - mb_lp_route: "" and "/" are the root, "/open" the open, and send / receive / close only
 *    for "/" + 32 lowercase hex digits + "/" + that word exactly, with *id inside the path;
 *  - mb_lp_open_protocol: the protocol chosen is the first element of the body's "protocols"
 *    list that moonbar speaks (by an independent reading with jansson), a refusal always says
 *    why, and the answer never depends on anything else;
 *  - mb_lp_each_message: the messages handed out lie inside the body, are non-empty, in order,
 *    and cover the body exactly with their separators or prefixes when it is well framed; the
 *    framing verdict is the same with or without a callback; a callback returning false stops
 *    the walk there;
 *  - and (with the sanitizers) no read outside the input, no leak.
 * Input: byte 0 % 8 picks the check: 0 route (the rest is the path), 1 open (the rest is the
 * body), 2-4 JSON / MessagePack / CBOR batched, 5-7 the same unbatched; for the framing, byte
 * 1 says after how many messages the callback stops (0: never), the rest is the body. */
#include "fuzz_util.h"

#include "mb_codec.h"
#include "mb_longpoll.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void check_route(const char *rel)
{
    const char *id;
    enum mb_lp_op op = mb_lp_route(rel, &id);
    size_t n = strlen(rel);
    ASSERT((op == MB_LP_ROOT) == (n == 0 || strcmp(rel, "/") == 0));
    ASSERT((op == MB_LP_OPEN) == (strcmp(rel, "/open") == 0));
    if (op == MB_LP_SEND || op == MB_LP_RECEIVE || op == MB_LP_CLOSE) {
        static const char *const words[] = { [MB_LP_SEND] = "send", [MB_LP_RECEIVE] = "receive", [MB_LP_CLOSE] = "close" };
        ASSERT(id == rel + 1 && rel[0] == '/' && rel[1 + MB_LP_ID_LEN] == '/');
        for (size_t i = 0; i < MB_LP_ID_LEN; i++)
            ASSERT((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f'));
        ASSERT(strcmp(rel + 2 + MB_LP_ID_LEN, words[op]) == 0);
    } else {
        ASSERT(id == NULL);
    }
    if (op == MB_LP_NONE && n == 2 + MB_LP_ID_LEN + 4 && rel[0] == '/' && rel[1 + MB_LP_ID_LEN] == '/' &&
        strcmp(rel + 2 + MB_LP_ID_LEN, "send") == 0) {
        /* refused: the ID is not 32 lowercase hex digits */
        bool hex = true;
        for (size_t i = 1; i <= MB_LP_ID_LEN; i++)
            hex = hex && ((rel[i] >= '0' && rel[i] <= '9') || (rel[i] >= 'a' && rel[i] <= 'f'));
        ASSERT(!hex);
    }
}

static void check_open(const char *body, size_t len)
{
    const char *bad = NULL;
    int chosen = mb_lp_open_protocol(body, len, &bad);
    ASSERT((chosen < 0) == (bad != NULL));
    /* independently: the first element of "protocols" that names a protocol spoken */
    int want = -1;
    json_t *root = json_loadb(body, len, 0, NULL);
    json_t *list = json_object_get(root, "protocols");
    for (size_t i = 0; want < 0 && i < json_array_size(list); i++) {
        json_t *e = json_array_get(list, i);
        int ser;
        bool batched;
        const char *name;
        for (int k = 0; json_is_string(e) && want < 0 && (name = mb_lp_protocol(k, &ser, &batched)); k++)
            if (strlen(name) == json_string_length(e) && memcmp(name, json_string_value(e), json_string_length(e)) == 0)
                want = k;
    }
    ASSERT(chosen == want);
    if (chosen >= 0) {
        int ser = -1;
        bool batched;
        ASSERT(mb_lp_protocol(chosen, &ser, &batched) && ser >= 0 && ser < MB_SER_COUNT);
    }
    json_decref(root);
}

struct walk {
    const char *body;
    size_t len, n, stop_after;
    const char *last_end; /* end of the last message handed out */
    int ser;
    bool batched;
};

static bool one(void *arg, const char *p, size_t n)
{
    struct walk *w = arg;
    ASSERT(p >= w->body && n > 0 && p + n <= w->body + w->len);
    ASSERT(p >= w->last_end); /* in order, no overlap */
    if (w->batched && w->ser == MB_SER_JSON) {
        ASSERT(!memchr(p, 0x1e, n) && !memchr(p, 0x18, n));
        ASSERT(p + n < w->body + w->len && (p[n] == 0x1e || p[n] == 0x18)); /* its terminator */
        ASSERT(p == (w->last_end == w->body ? w->body : w->last_end + 1));
    } else if (w->batched) {
        const unsigned char *h = (const unsigned char *)p - 4;
        ASSERT(p - 4 == w->last_end);
        ASSERT(((size_t)h[0] << 24 | (size_t)h[1] << 16 | (size_t)h[2] << 8 | h[3]) == n);
    } else {
        ASSERT(p == w->body && n == w->len);
    }
    w->last_end = p + n;
    return ++w->n != w->stop_after;
}

static void check_batch(int ser, bool batched, size_t stop_after, const char *body, size_t len)
{
    const char *verdict = mb_lp_each_message(ser, batched, body, len, NULL, NULL);
    struct walk w = { body, len, 0, 0, body, ser, batched };
    ASSERT(mb_lp_each_message(ser, batched, body, len, one, &w) == verdict);
    ASSERT(len || verdict);
    if (!verdict) {
        /* the messages and their framing cover the body exactly */
        ASSERT(w.n > 0);
        ASSERT(w.last_end + (batched && ser == MB_SER_JSON ? 1 : 0) == body + len);
    }
    if (stop_after) {
        struct walk s = { body, len, 0, stop_after, body, ser, batched };
        const char *v = mb_lp_each_message(ser, batched, body, len, one, &s);
        ASSERT(s.n <= stop_after && (s.n == stop_after || s.n == w.n));
        if (s.n == stop_after)
            ASSERT(v == NULL); /* stopped by the callback: not a framing error */
    }
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    if (size < 1)
        return 0;
    int mode = data[0] % 8;
    if (mode == 0) {
        char *rel = malloc(size); /* NUL-terminated: a decoded path */
        memcpy(rel, data + 1, size - 1);
        rel[size - 1] = '\0';
        check_route(rel);
        free(rel);
        return 0;
    }
    if (mode == 1) {
        char *body = malloc(size - 1 ? size - 1 : 1);
        memcpy(body, data + 1, size - 1);
        check_open(body, size - 1);
        free(body);
        return 0;
    }
    if (size < 2)
        return 0;
    size_t len = size - 2;
    char *body = malloc(len ? len : 1); /* exact size: ASan sees reads past it */
    memcpy(body, data + 2, len);
    check_batch((mode - 2) % 3, mode < 5, data[1], body, len);
    free(body);
    return 0;
}
