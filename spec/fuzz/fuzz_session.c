/* libFuzzer harness of the session state machine, broker and dealer: random WAMP message
 * sequences from 2 to 4 sessions against ONE router (made once per process, no listeners).
 *
 * The input is a compact program, not JSON: a header byte (how many sessions, then per session
 * its serializer: JSON, MessagePack, CBOR or in-process json_t, and the features its HELLO
 * announces), then operations of a few bytes each. An operation names a session and a message
 * kind; the harness writes a valid-ish WAMP message from tables (URIs of a small set, the meta
 * API's procedures included; Options dicts built from bits; payloads from a set; IDs of the
 * live sessions, subscriptions, registrations and invocations, or small integers), encodes it
 * in the session's serializer and feeds it to mb_session_receive (or _json). Other operations
 * run a loop turn, drop a connection under its session, or send raw bytes.
 *
 * Checks: no crash, leak or UB; every message the router sends is one complete value of the
 * session's serializer; after every session is closed and the loop ran, the router holds no
 * session, subscription, registration or call. Between inputs the realm's broker is reset
 * (retained events) and the ID generator reseeded, so inputs do not depend on each other. */
#include "fuzz_router.h"
#include "fuzz_util.h"

#include "mb_broker.h"
#include "mb_dealer.h"
#include "mb_wamp.h"

#include <stdarg.h>

#define NSLOTS 4

struct rd {
    const uint8_t *p, *end;
};

static unsigned u8(struct rd *r)
{
    return r->p < r->end ? *r->p++ : 0;
}

static struct fz_conn conns[NSLOTS];
static size_t nconns;
static int sers[NSLOTS];
static unsigned feats[NSLOTS];
static struct mb_buf text, enc;

static void put(const char *s)
{
    mb_buf_append(&text, s, strlen(s));
}

static void putf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void putf(const char *fmt, ...)
{
    char tmp[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n > 0)
        mb_buf_append(&text, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

static const char *const uris[] = {
    "com.a", "com.a.b", "com.b", "com.a.", "com..b", "com", "", "com.a b", "com.a.b.c",
    "wamp.session.count", "wamp.session.list", "wamp.session.get", "wamp.session.kill",
    "wamp.session.kill_by_authid", "wamp.session.kill_by_authrole", "wamp.session.kill_all",
    "wamp.session.add_testament", "wamp.session.flush_testaments", "wamp.subscription.list",
    "wamp.subscription.lookup", "wamp.subscription.match", "wamp.subscription.get",
    "wamp.subscription.list_subscribers", "wamp.subscription.count_subscribers",
    "wamp.subscription.remove_subscriber", "wamp.subscription.get_events", "wamp.registration.list",
    "wamp.registration.lookup", "wamp.registration.match", "wamp.registration.get",
    "wamp.registration.list_callees", "wamp.registration.count_callees", "wamp.registration.remove_callee",
    "wamp.session.on_join", "wamp.session.on_leave", "wamp.subscription.on_create",
    "wamp.subscription.on_subscribe", "wamp.registration.on_register", "wamp.registration.on_delete",
    "wamp.x", "moonbar.reload",
};
#define NURIS (sizeof uris / sizeof uris[0])

static const char *const matches[] = { NULL, "\"exact\"", "\"prefix\"", "\"wildcard\"", "\"bogus\"", "5" };
static const char *const invokes[] = { NULL, "single", "roundrobin", "random", "first", "last", "bogus" };
static const char *const cancels[] = { NULL, "skip", "kill", "killnowait", "bogus" };
static const char *const timeouts[] = { NULL, "0", "1", "1000", "-1", "\"x\"" };

static void put_uri(struct rd *r)
{
    put("\"");
    put(uris[u8(r) % NURIS]);
    put("\"");
}

/* An ID worth trying: a live session's, subscription's, registration's, or a small or edge value. */
static uint64_t pick_id(struct rd *r)
{
    unsigned b = u8(r);
    struct fz_conn *c = &conns[(b >> 3) % NSLOTS];
    struct mb_session *s = c->s;
    unsigned k = b >> 5;
    switch (b & 7) {
    case 0: return s ? s->id : 1;
    case 1: return s && s->subs.len ? ((struct mb_subscription *)s->subs.items[k % s->subs.len])->id : 2;
    case 2: return s && s->regs.len ? ((struct mb_registration *)s->regs.items[k % s->regs.len])->id : 3;
    case 3: return k;
    case 4: return k == 0 ? (1ULL << 53) : k == 1 ? (1ULL << 53) + 1 : (uint64_t)k << 40;
    default: return b >> 3;
    }
}

/* An INVOCATION.Request this session has pending (or a small integer). */
static uint64_t pick_invocation(struct rd *r, struct mb_session *s)
{
    unsigned b = u8(r);
    if ((b & 3) && s->invocations.len) {
        size_t k = (b >> 2) % s->invocations.len, it = 0;
        struct mb_invocation *inv = NULL;
        for (size_t i = 0; i <= k; i++)
            inv = mb_map_next(&s->invocations, &it);
        if (inv)
            return inv->id;
    }
    return b >> 2 ? (b >> 2) % 8 + 1 : 0;
}

static void put_payload(struct rd *r)
{
    unsigned b = u8(r);
    switch (b % 16) {
    case 0: break;
    case 1: put(",[]"); break;
    case 2: put(",[1,\"x\",null]"); break;
    case 3: put(",[{\"a\":[1,2.5,true]}],{\"k\":\"v\"}"); break;
    case 4: put(",[],{\"n\":9007199254740993}"); break;
    case 5: put(",[\"\\u0000AAEC\"]"); break;
    case 6: put(",[1e308,-0.0,18446744073709551615,-9223372036854775808]"); break;
    case 7: put(",{\"notalist\":1}"); break;
    case 8: putf(",[%llu]", (unsigned long long)pick_id(r)); break;
    case 9: putf(",[%llu],{\"reason\":\"wamp.close.killed\",\"message\":\"m\"}", (unsigned long long)pick_id(r)); break;
    case 10: putf(",[%llu,%llu]", (unsigned long long)pick_id(r), (unsigned long long)pick_id(r)); break;
    case 11: put(",[\"com.a\"],{\"topic\":\"com.t\",\"args\":[1],\"options\":{\"retain\":true}}"); break;
    case 12: put(",[\"com.\",{\"match\":\"prefix\"}]"); break;
    case 13: putf(",[%llu,%u]", (unsigned long long)pick_id(r), u8(r) % 4); break;
    case 14: put(",\"str\""); break;
    default: put(",[\"anonymous\"],{\"reason\":\"wamp.close.x\",\"scope\":\"all\"}"); break;
    }
}

/* A dict of the keys whose bits are set in mask (items: JSON "key":value texts). */
struct opt {
    const char *key;
    char value[64];
};

static void put_opts(struct opt *o, size_t n)
{
    put("{");
    int first = 1;
    for (size_t i = 0; i < n; i++) {
        if (!o[i].key)
            continue;
        putf("%s\"%s\":%s", first ? "" : ",", o[i].key, o[i].value);
        first = 0;
    }
    put("}");
}

#define OPT(k, ...) (o[no].key = (k), snprintf(o[no].value, sizeof o[no].value, __VA_ARGS__), no++)

static void publish_opts(struct rd *r)
{
    struct opt o[12];
    size_t no = 0;
    unsigned m = u8(r) | u8(r) << 8;
    if (m & 1) OPT("acknowledge", "true");
    if (m & 2) OPT("exclude_me", (m & 512) ? "\"no\"" : "false");
    if (m & 4) OPT("retain", (m & 1024) ? "1" : "true");
    if (m & 8) OPT("exclude", "[%llu]", (unsigned long long)pick_id(r));
    if (m & 16) OPT("eligible", (m & 2048) ? "\"x\"" : "[%llu]", (unsigned long long)pick_id(r));
    if (m & 32) OPT("exclude_authid", "[\"x\"]");
    if (m & 64) OPT("eligible_authrole", "[\"anonymous\"]");
    if (m & 128) OPT("disclose_me", "true");
    if (m & 256) OPT("ppt_scheme", "\"x\"");
    if (m & 4096) OPT("ppt_serializer", "\"native\"");
    if (m & 8192) OPT("eligible_authid", "[]");
    put_opts(o, no);
}

static void subscribe_opts(struct rd *r)
{
    struct opt o[3];
    size_t no = 0;
    unsigned m = u8(r);
    if (matches[m % 6]) OPT("match", "%s", matches[m % 6]);
    if (m & 8) OPT("get_retained", "true");
    put_opts(o, no);
}

static void register_opts(struct rd *r)
{
    struct opt o[4];
    size_t no = 0;
    unsigned m = u8(r), m2 = u8(r);
    if (matches[m % 6]) OPT("match", "%s", matches[m % 6]);
    if (invokes[m2 % 7]) OPT("invoke", "\"%s\"", invokes[m2 % 7]);
    if (m & 8) OPT("disclose_caller", "true");
    if (m & 16) OPT("force_reregister", "true");
    put_opts(o, no);
}

static void call_opts(struct rd *r)
{
    struct opt o[6];
    size_t no = 0;
    unsigned m = u8(r);
    if (m & 1) OPT("receive_progress", "true");
    if (m & 2) OPT("progress", "true");
    if (timeouts[(m >> 2) % 6]) OPT("timeout", "%s", timeouts[(m >> 2) % 6]);
    if (m & 32) OPT("disclose_me", "true");
    if (m & 64) OPT("ppt_scheme", "\"x\"");
    if (m & 128) OPT("progress", "\"yes\"");
    put_opts(o, no);
}

static void hello_details(unsigned f)
{
    static const char *const names[12][2] = {
        { "caller", "progressive_call_results" }, { "caller", "progressive_call_invocations" },
        { "caller", "call_canceling" }, { "caller", "payload_passthru_mode" },
        { "callee", "progressive_call_results" }, { "callee", "progressive_call_invocations" },
        { "callee", "call_canceling" }, { "callee", "payload_passthru_mode" },
        { "publisher", "payload_passthru_mode" }, { "subscriber", "payload_passthru_mode" },
        { "callee", "registration_revocation" }, { "subscriber", "subscription_revocation" },
    };
    static const char *const roles[] = { "caller", "callee", "publisher", "subscriber" };
    put("{\"roles\":{");
    for (int i = 0; i < 4; i++) {
        putf("%s\"%s\":{\"features\":{", i ? "," : "", roles[i]);
        int first = 1;
        for (int j = 0; j < 12; j++)
            if ((f & (1u << j)) && strcmp(names[j][0], roles[i]) == 0) {
                putf("%s\"%s\":true", first ? "" : ",", names[j][1]);
                first = 0;
            }
        put("}}");
    }
    put("}");
    if (f & (1u << 12))
        put(",\"authmethods\":[\"ticket\",\"anonymous\"],\"authid\":\"joe\"");
    put("}");
}

static void feed(struct fz_conn *c, const char *d, size_t n)
{
    struct mb_session *s = c->s;
    if (c->ser < 0) {
        json_t *root = json_loadb(d, n, JSON_ALLOW_NUL, NULL);
        if (root)
            mb_session_receive_json(s, root);
        json_decref(root);
        return;
    }
    if (c->ser == MB_SER_JSON) {
        mb_session_receive(s, d, n);
        return;
    }
    mb_buf_reset(&enc);
    if (mb_codec_transcode(&enc, (enum mb_ser)c->ser, MB_SER_JSON, d, n) == 0)
        mb_session_receive(s, mb_buf_data(&enc), enc.len);
}

static void open_slot(size_t i)
{
    char peer[16];
    snprintf(peer, sizeof peer, "fuzz:%zu", i);
    fz_open(&conns[i], sers[i], peer);
    mb_buf_reset(&text);
    putf("[1,\"realm1\",");
    hello_details(feats[i]);
    put("]");
    feed(&conns[i], mb_buf_data(&text), text.len);
}

/* One operation; returns false at the end of the input. */
static bool step(struct rd *r)
{
    if (r->p >= r->end)
        return false;
    unsigned b = u8(r);
    size_t i = (b & 3) % nconns;
    struct fz_conn *c = &conns[i];
    unsigned op = (b >> 2) % 16;
    if (!c->s) {
        if (op == 13) /* loop turns need no session */
            fz_turn(conns, nconns);
        else
            open_slot(i);
        return true;
    }
    struct mb_session *s = c->s;
    mb_buf_reset(&text);
    switch (op) {
    case 0: /* HELLO (again, or after GOODBYE) */
        putf("[1,%s,", (u8(r) & 7) ? "\"realm1\"" : "\"nope\"");
        hello_details(u8(r) | (u8(r) << 8));
        put("]");
        break;
    case 1: putf("[6,{},\"%s\"]", (u8(r) & 1) ? "wamp.close.normal" : "wamp.close.goodbye_and_out"); break;
    case 2: put("[3,{\"message\":\"m\"},\"wamp.error.x\"]"); break;
    case 3: put("[5,\"sig\",{}]"); break;
    case 4:
        putf("[16,%u,", 1 + u8(r) % 32);
        publish_opts(r);
        put(",");
        put_uri(r);
        put_payload(r);
        put("]");
        break;
    case 5:
        putf("[32,%u,", 1 + u8(r) % 32);
        subscribe_opts(r);
        put(",");
        put_uri(r);
        put("]");
        break;
    case 6: putf("[34,%u,%llu]", 1 + u8(r) % 32, (unsigned long long)pick_id(r)); break;
    case 7:
        putf("[48,%u,", 1 + u8(r) % 16);
        call_opts(r);
        put(",");
        put_uri(r);
        put_payload(r);
        put("]");
        break;
    case 8: {
        unsigned m = u8(r);
        putf("[49,%u,", 1 + (m >> 3) % 16);
        if (cancels[m % 5])
            putf("{\"mode\":\"%s\"}]", cancels[m % 5]);
        else
            put("{}]");
        break;
    }
    case 9:
        putf("[64,%u,", 1 + u8(r) % 32);
        register_opts(r);
        put(",");
        put_uri(r);
        put("]");
        break;
    case 10: putf("[66,%u,%llu]", 1 + u8(r) % 32, (unsigned long long)pick_id(r)); break;
    case 11: {
        unsigned m = u8(r);
        putf("[70,%llu,{%s%s}", (unsigned long long)pick_invocation(r, s), (m & 1) ? "\"progress\":true" : "",
             (m & 2) ? ((m & 1) ? ",\"ppt_scheme\":\"x\"" : "\"ppt_scheme\":\"x\"") : "");
        put_payload(r);
        put("]");
        break;
    }
    case 12: {
        unsigned m = u8(r);
        putf("[8,%d,%llu,{},\"%s\"", (m & 1) ? 68 : 48, (unsigned long long)pick_invocation(r, s),
             (m & 2) ? "wamp.error.canceled" : "com.error");
        put_payload(r);
        put("]");
        break;
    }
    case 13: fz_turn(conns, nconns); return true;
    case 14: /* the connection is lost under the session */
        fz_drop(c);
        return true;
    default: { /* raw bytes, in the session's own serializer */
        size_t n = u8(r) % 48;
        if (n > (size_t)(r->end - r->p))
            n = (size_t)(r->end - r->p);
        if (c->ser < 0) {
            mb_buf_append(&text, r->p, n);
        } else {
            if (n)
                mb_session_receive(s, (const char *)r->p, n);
            r->p += n;
            return true;
        }
        r->p += n;
        break;
    }
    }
    if (text.len)
        feed(c, mb_buf_data(&text), text.len);
    return true;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fz_router_init(NULL);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct rd r = { data, data + size };
    mb_idgen_init(&fz.r.ids, 1);
    unsigned h = u8(&r);
    nconns = 2 + h % 3;
    for (size_t i = 0; i < nconns; i++) {
        unsigned f = u8(&r) | u8(&r) << 8;
        sers[i] = (int)(f & 3) - 1; /* -1: in-process */
        feats[i] = f >> 2;
        open_slot(i);
    }
    for (int n = 0; n < 400 && step(&r); n++)
        ;
    /* teardown: every session closes, the safe point reaps them */
    for (size_t i = 0; i < nconns; i++)
        if (conns[i].s)
            mb_session_close(conns[i].s, 1000, "end of input", false);
    fz_turn(conns, nconns);
    for (size_t i = 0; i < nconns; i++)
        ASSERT(!conns[i].s);
    struct mb_router *rt = &fz.r;
    ASSERT(rt->all == NULL && rt->nall == 0 && rt->doomed == NULL && rt->timed == NULL);
    ASSERT(rt->sessions.len == 0);
    struct mb_realm *realm = mb_map_get_str(&rt->realms, "realm1", 6);
    ASSERT(realm);
    fz_check_empty(realm);
    /* retained events outlive their publishers: reset the broker for the next input */
    size_t max = realm->broker.max_retained;
    mb_broker_free(&realm->broker);
    memset(&realm->broker, 0, sizeof realm->broker);
    realm->broker.max_retained = max;
    mb_dealer_free(&realm->dealer);
    memset(&realm->dealer, 0, sizeof realm->dealer);
    mb_buf_free(&text);
    mb_buf_free(&enc);
    return 0;
}
