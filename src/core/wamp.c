/* Shapes of the messages a router receives, and their validation. */
#include "mb_wamp.h"
#include "mb_codec.h"
#include "mb_id.h"
#include "mb_json.h"

#include <stdio.h>

static const char *const reason_uris[] = {
#define MB_REASON_URI(name, uri) uri,
    MB_REASONS(MB_REASON_URI)
#undef MB_REASON_URI
};

const char *mb_reason_uri(enum mb_reason r)
{
    return (unsigned)r < MB_R__COUNT ? reason_uris[r] : "wamp.error.runtime_error";
}

const char *mb_msg_name(int type)
{
    switch (type) {
    case MB_HELLO: return "HELLO";
    case MB_WELCOME: return "WELCOME";
    case MB_ABORT: return "ABORT";
    case MB_CHALLENGE: return "CHALLENGE";
    case MB_AUTHENTICATE: return "AUTHENTICATE";
    case MB_GOODBYE: return "GOODBYE";
    case MB_ERROR: return "ERROR";
    case MB_PUBLISH: return "PUBLISH";
    case MB_PUBLISHED: return "PUBLISHED";
    case MB_SUBSCRIBE: return "SUBSCRIBE";
    case MB_SUBSCRIBED: return "SUBSCRIBED";
    case MB_UNSUBSCRIBE: return "UNSUBSCRIBE";
    case MB_UNSUBSCRIBED: return "UNSUBSCRIBED";
    case MB_EVENT: return "EVENT";
    case MB_CALL: return "CALL";
    case MB_CANCEL: return "CANCEL";
    case MB_RESULT: return "RESULT";
    case MB_REGISTER: return "REGISTER";
    case MB_REGISTERED: return "REGISTERED";
    case MB_UNREGISTER: return "UNREGISTER";
    case MB_UNREGISTERED: return "UNREGISTERED";
    case MB_INVOCATION: return "INVOCATION";
    case MB_INTERRUPT: return "INTERRUPT";
    case MB_YIELD: return "YIELD";
    default: return NULL;
    }
}

/* Field kinds in a message shape. */
enum { F_ID = 'i', F_URI = 'u', F_DICT = 'd', F_TYPE = 't', F_ARGS = 'a' };

/* Shape of each message a client may send: the fields after the code, in order.
 * 'a' at the end stands for the optional Arguments|list, ArgumentsKw|dict pair. */
struct shape {
    int type;
    const char *fields;
    const char *names[4];
};

static const struct shape shapes[] = {
    { MB_HELLO, "ud", { "Realm", "Details" } },
    { MB_ABORT, "du", { "Details", "Reason" } },
    { MB_AUTHENTICATE, "ud", { "Signature", "Extra" } },
    { MB_GOODBYE, "du", { "Details", "Reason" } },
    { MB_ERROR, "tidua", { "Request type", "Request", "Details", "Error" } },
    { MB_PUBLISH, "idua", { "Request", "Options", "Topic" } },
    { MB_SUBSCRIBE, "idu", { "Request", "Options", "Topic" } },
    { MB_UNSUBSCRIBE, "ii", { "Request", "Subscription" } },
    { MB_CALL, "idua", { "Request", "Options", "Procedure" } },
    { MB_CANCEL, "id", { "Request", "Options" } },
    { MB_REGISTER, "idu", { "Request", "Options", "Procedure" } },
    { MB_UNREGISTER, "ii", { "Request", "Registration" } },
    { MB_YIELD, "ida", { "Request", "Options" } },
};

#define FAIL(...) do { snprintf(err, errlen, __VA_ARGS__); return -1; } while (0)

int mb_msg_parse(json_t *root, struct mb_msg *m, char *err, size_t errlen)
{
    *m = (struct mb_msg){ 0 };
    if (!json_is_array(root))
        FAIL("message must be a JSON array, got %s", json_is_object(root) ? "an object" : "a scalar");
    size_t n = json_array_size(root);
    if (n == 0)
        FAIL("message is an empty array");
    json_t *code = json_array_get(root, 0);
    if (!json_is_integer(code))
        FAIL("message code must be an integer");
    json_int_t type = json_integer_value(code);
    const struct shape *sh = NULL;
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
        if (shapes[i].type == type)
            sh = &shapes[i];
    if (!sh) {
        const char *name = (type >= 0 && type < 256) ? mb_msg_name((int)type) : NULL;
        if (name)
            FAIL("%s (%d) is not a message a client sends to a router", name, (int)type);
        FAIL("unknown message code %lld", (long long)type);
    }
    const char *name = mb_msg_name((int)type);
    m->type = (int)type;

    size_t nfixed = 0;
    int has_args = 0;
    for (const char *f = sh->fields; *f; f++) {
        if (*f == F_ARGS)
            has_args = 1;
        else
            nfixed++;
    }
    size_t min = 1 + nfixed, max = min + (has_args ? 2 : 0);
    if (n < min || n > max) {
        if (min == max)
            FAIL("%s must have %zu elements, got %zu", name, min, n);
        FAIL("%s must have %zu to %zu elements, got %zu", name, min, max, n);
    }

    size_t idx = 1;
    int ids = 0;
    for (const char *f = sh->fields; *f && *f != F_ARGS; f++, idx++) {
        json_t *v = json_array_get(root, idx);
        const char *fname = sh->names[idx - 1];
        switch (*f) {
        case F_ID:
        case F_TYPE:
            if (!json_is_integer(v))
                FAIL("%s.%s must be an integer", name, fname);
            json_int_t iv = json_integer_value(v);
            if (*f == F_TYPE) {
                m->id = (uint64_t)(iv < 0 ? 0 : iv);
                if (iv != MB_INVOCATION)
                    FAIL("ERROR for request type %lld: a client only answers INVOCATION (68)",
                         (long long)iv);
                break;
            }
            if (!mb_id_valid(iv))
                FAIL("%s.%s must be an ID in [1, 2^53], got %lld", name, fname, (long long)iv);
            if (ids++ == 0)
                m->request = (uint64_t)iv;
            else
                m->id = (uint64_t)iv;
            break;
        case F_URI:
            if (!json_is_string(v))
                FAIL("%s.%s must be a string", name, fname);
            m->uri = json_string_value(v);
            m->uri_len = json_string_length(v);
            break;
        case F_DICT:
            if (!json_is_object(v))
                FAIL("%s.%s must be a dict", name, fname);
            m->dict = v;
            break;
        }
    }
    if (has_args && idx < n) {
        json_t *a = json_array_get(root, idx);
        if (!json_is_array(a))
            FAIL("%s.Arguments must be a list", name);
        m->args = a;
        if (idx + 1 < n) {
            json_t *kw = json_array_get(root, idx + 1);
            if (!json_is_object(kw))
                FAIL("%s.ArgumentsKw must be a dict", name);
            m->kwargs = kw;
        }
    }
    if (m->type == MB_HELLO) {
        json_t *roles = json_object_get(m->dict, "roles");
        if (!json_is_object(roles) || json_object_size(roles) == 0)
            FAIL("HELLO.Details.roles must be a non-empty dict");
    }
    return 0;
}

/* A positive decimal ID in [1, 2^53] with no sign or leading zero; NULL otherwise. */
static const char *scan_id(const char *p, const char *end, uint64_t *out)
{
    uint64_t v = 0;
    const char *d = p;
    while (p < end && *p >= '0' && *p <= '9' && p - d < 17)
        v = v * 10 + (uint64_t)(*p++ - '0');
    if (p == d || *d == '0' || (p < end && *p >= '0' && *p <= '9') || !mb_id_valid((int64_t)v))
        return NULL;
    *out = v;
    return p;
}

/* Expects ch after optional whitespace; returns the byte after it, whitespace skipped too. */
static const char *expect(const char *p, const char *end, char ch)
{
    p = mb_json_ws(p, end);
    return p < end && *p == ch ? mb_json_ws(p + 1, end) : NULL;
}

/* p at the ',' before an Arguments list (open '[') or ArgumentsKw dict ('{'): records the
 * value's bytes and returns the byte after it; NULL if it is not there or not valid. */
static const char *scan_payload(const char *p, const char *end, char open, const char **raw, size_t *len)
{
    const char *q;
    p = mb_json_ws(p + 1, end);
    if (p >= end || *p != open || !(q = mb_json_skip(p, end)))
        return NULL;
    *raw = p;
    *len = (size_t)(q - p);
    return q;
}

int mb_msg_scan(const char *data, size_t len, struct mb_msg *m)
{
    const char *p = data, *end = data + len, *q;
    int type = 0;
    *m = (struct mb_msg){ 0 };
    if (!(p = expect(p, end, '[')))
        return 0;
    for (q = p; p < end && *p >= '0' && *p <= '9' && p - q < 3; p++)
        type = type * 10 + (*p - '0');
    if (p == q || *q == '0')
        return 0;
    if (type != MB_CALL && type != MB_PUBLISH && type != MB_YIELD)
        return 0;
    m->type = type;
    if (!(p = expect(p, end, ',')) || !(p = scan_id(p, end, &m->request)) || !(p = expect(p, end, ',')))
        return 0;
    if (p >= end || *p != '{' || !(q = mb_json_skip(p, end)))
        return 0;
    m->dict_raw = p;
    m->dict_len = (size_t)(q - p);
    p = q;
    if (type != MB_YIELD) {
        if (!(p = expect(p, end, ',')) || !(q = mb_json_skip_plain_string(p, end)))
            return 0;
        m->uri = p + 1;
        m->uri_len = (size_t)(q - p - 2);
        p = q;
    }
    m->tail = q = p; /* q: where the payload bytes end */
    p = mb_json_ws(p, end);
    if (p < end && *p == ',') {
        if (!(q = p = scan_payload(p, end, '[', &m->args_raw, &m->args_len)))
            return 0;
        p = mb_json_ws(p, end);
        if (p < end && *p == ',') {
            if (!(q = p = scan_payload(p, end, '{', &m->kwargs_raw, &m->kwargs_len)))
                return 0;
            p = mb_json_ws(p, end);
        }
    }
    if (p >= end || *p != ']' || mb_json_ws(p + 1, end) != end)
        return 0;
    m->tail_len = (size_t)(q - m->tail);
    m->tail_n = m->kwargs_raw ? 2 : m->args_raw ? 1 : 0;
    return 1;
}

int mb_msg_payload(const struct mb_msg *cm)
{
    struct mb_msg *m = (struct mb_msg *)cm; /* the decoded payload caches the same bytes */
    if (!m->args_raw || m->owns_payload) /* nothing to decode, or done */
        return 0;
    m->owns_payload = true;
    if (m->ser != MB_SER_JSON) {
        /* mb_msg_scan_bin's skipper accepted these bytes: decoding fails only when out of
         * memory or on a NaN/infinity, which json_t cannot hold */
        if (!(m->args = mb_codec_decode((enum mb_ser)m->ser, m->args_raw, m->args_len, NULL, 0)))
            return -1;
        if (m->kwargs_raw &&
            !(m->kwargs = mb_codec_decode((enum mb_ser)m->ser, m->kwargs_raw, m->kwargs_len, NULL, 0)))
            return -1;
        return 0;
    }
    /* the skipper accepted these bytes, so jansson does too (unless out of memory) */
    if (!(m->args = json_loadb(m->args_raw, m->args_len, JSON_ALLOW_NUL, NULL)))
        return -1;
    if (m->kwargs_raw && !(m->kwargs = json_loadb(m->kwargs_raw, m->kwargs_len, JSON_ALLOW_NUL, NULL)))
        return -1;
    return 0;
}

void mb_msg_release(struct mb_msg *m)
{
    if (!m->owns_payload)
        return;
    json_decref(m->args);
    json_decref(m->kwargs);
    m->args = m->kwargs = NULL;
    m->owns_payload = false;
}
