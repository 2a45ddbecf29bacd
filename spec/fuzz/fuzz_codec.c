/* libFuzzer harness of mb_codec: the first byte picks the serializer, the rest is the input.
 * Checks that skip, decode, transcode and mb_msg_scan_bin agree on what is valid, that what
 * they accept survives the round trips, and (with the sanitizers) that nothing reads past the
 * end, leaks or overflows.
 *
 *   clang -std=c11 -D_GNU_SOURCE -g -O1 -Iinclude -fsanitize=fuzzer,address,undefined \
 *       spec/fuzz/fuzz_codec.c src/core/[a-z]*.c $(pkg-config --cflags --libs jansson) -lm -o build/fuzz_codec
 *   build/fuzz_codec -max_len=1024 -max_total_time=120 CORPUS_DIR
 */
#include "fuzz_util.h"

#include "mb_codec.h"
#include "mb_json.h"
#include "mb_wamp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void check_scan(enum mb_ser s, const char *d, size_t n)
{
    struct mb_msg m, p;
    if (!mb_msg_scan_bin(s, d, n, &m))
        return;
    char err[160];
    json_t *root = mb_codec_decode(s, d, n, err, sizeof err);
    ASSERT(root || strstr(err, "NaN"));
    if (!root)
        return;
    ASSERT(mb_msg_parse(root, &p, err, sizeof err) == 0);
    ASSERT(m.type == p.type && m.request == p.request && m.uri_len == p.uri_len);
    ASSERT(!m.uri_len || memcmp(m.uri, p.uri, m.uri_len) == 0);
    json_t *dict = mb_codec_decode(s, m.dict_raw, m.dict_len, NULL, 0);
    ASSERT(fz_veq(dict, p.dict));
    json_decref(dict);
    ASSERT(mb_msg_payload(&m) == 0);
    ASSERT(m.args ? fz_veq(m.args, p.args) : !p.args);
    ASSERT(m.kwargs ? fz_veq(m.kwargs, p.kwargs) : !p.kwargs);
    ASSERT(m.tail + m.tail_len == d + n && m.tail_n == (p.kwargs ? 2u : p.args ? 1u : 0u));
    mb_msg_release(&m);
    json_decref(root);
}

static void check_bin(enum mb_ser s, const char *d, size_t n)
{
    enum mb_ser o = s == MB_SER_MSGPACK ? MB_SER_CBOR : MB_SER_MSGPACK;
    const char *q = mb_codec_skip(s, d, d + n);
    ASSERT(!q || (q > d && q <= d + n));
    bool valid = q == d + n;
    char err[160] = "";
    json_t *v = mb_codec_decode(s, d, n, err, sizeof err);
    ASSERT(valid == (v != NULL) || (valid && strstr(err, "NaN")));
    struct mb_buf ob = { 0 }, same = { 0 }, js = { 0 }, back = { 0 };
    int to = mb_codec_transcode(&ob, o, s, d, n);
    ASSERT(valid == (to == 0));
    ASSERT(valid == (mb_codec_transcode(&same, s, s, d, n) == 0));
    int tj = mb_codec_transcode(&js, MB_SER_JSON, s, d, n);
    ASSERT(tj != 0 || valid);
    ASSERT(tj == 0 || js.len == 0);
    if (valid) {
        /* back from the other binary: the same bytes, when s writes canonical forms */
        ASSERT(mb_codec_transcode(&back, s, o, mb_buf_data(&ob), ob.len) == 0);
        ASSERT(mb_codec_skip(o, mb_buf_data(&ob), mb_buf_data(&ob) + ob.len) == mb_buf_data(&ob) + ob.len);
    }
    if (v) {
        json_t *w = mb_codec_decode(o, mb_buf_data(&ob), ob.len, NULL, 0);
        ASSERT(fz_veq(v, w));
        json_decref(w);
        ASSERT(tj == 0);
        struct mb_buf e = { 0 };
        ASSERT(mb_codec_encode(s, &e, v) == 0);
        w = mb_codec_decode(s, mb_buf_data(&e), e.len, NULL, 0);
        /* a text string of the NUL + base64 form becomes binary (padded when written back to
         * json_t): encoding again gives the same bytes */
        struct mb_buf e2 = { 0 };
        ASSERT(w && mb_codec_encode(s, &e2, w) == 0);
        ASSERT(e2.len == e.len && memcmp(mb_buf_data(&e), mb_buf_data(&e2), e.len) == 0);
        mb_buf_free(&e2);
        json_decref(w);
        mb_buf_free(&e);
    }
    json_decref(v);
    mb_buf_free(&ob);
    mb_buf_free(&same);
    mb_buf_free(&js);
    mb_buf_free(&back);
    check_scan(s, d, n);
}

static void check_json(const char *d, size_t n)
{
    const char *q = mb_codec_skip(MB_SER_JSON, d, d + n);
    ASSERT(!q || (q > d && q <= d + n));
    json_t *v = mb_codec_decode(MB_SER_JSON, d, n, NULL, 0);
    if (q == d + n)
        ASSERT(v != NULL);
    if (!v)
        return;
    for (int s = MB_SER_MSGPACK; s <= MB_SER_CBOR; s++) {
        struct mb_buf e = { 0 }, t = { 0 };
        int ee = mb_codec_encode((enum mb_ser)s, &e, v);
        ASSERT(ee == mb_codec_transcode(&t, (enum mb_ser)s, MB_SER_JSON, d, n));
        ASSERT(e.len == t.len && memcmp(mb_buf_data(&e), mb_buf_data(&t), e.len) == 0);
        if (!ee) {
            json_t *w = mb_codec_decode((enum mb_ser)s, mb_buf_data(&e), e.len, NULL, 0);
            /* unpadded base64 comes back padded: the same bytes when encoded again */
            struct mb_buf e2 = { 0 };
            ASSERT(w && mb_codec_encode((enum mb_ser)s, &e2, w) == 0);
            ASSERT(e2.len == e.len && memcmp(mb_buf_data(&e), mb_buf_data(&e2), e.len) == 0);
            mb_buf_free(&e2);
            json_decref(w);
        }
        mb_buf_free(&e);
        mb_buf_free(&t);
    }
    json_decref(v);
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    if (size < 1)
        return 0;
    enum mb_ser s = (enum mb_ser)(data[0] % MB_SER_COUNT);
    /* an exact-size copy: ASan sees any read past the end */
    size_t n = size - 1;
    char *d = malloc(n ? n : 1);
    memcpy(d, data + 1, n);
    if (s == MB_SER_JSON)
        check_json(d, n);
    else
        check_bin(s, d, n);
    free(d);
    return 0;
}
