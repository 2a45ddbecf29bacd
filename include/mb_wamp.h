/* mb_wamp: WAMP message codes, the error/close URI table, and validation of a decoded
 * message (a jansson array) into a struct mb_msg. Pure: no I/O, no router state.
 * Serializer-independent: JSON today, MessagePack decodes to the same json_t later. */
#ifndef MB_WAMP_H
#define MB_WAMP_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum mb_msg_type {
    MB_HELLO = 1, MB_WELCOME = 2, MB_ABORT = 3, MB_CHALLENGE = 4, MB_AUTHENTICATE = 5,
    MB_GOODBYE = 6, MB_ERROR = 8,
    MB_PUBLISH = 16, MB_PUBLISHED = 17,
    MB_SUBSCRIBE = 32, MB_SUBSCRIBED = 33, MB_UNSUBSCRIBE = 34, MB_UNSUBSCRIBED = 35, MB_EVENT = 36,
    MB_CALL = 48, MB_CANCEL = 49, MB_RESULT = 50,
    MB_REGISTER = 64, MB_REGISTERED = 65, MB_UNREGISTER = 66, MB_UNREGISTERED = 67,
    MB_INVOCATION = 68, MB_INTERRUPT = 69, MB_YIELD = 70,
};

/* Name of a message code ("SUBSCRIBE"), or NULL if WAMP has no such code. */
const char *mb_msg_name(int type);

/* Error and close reasons: one table gives the enum and the URI. */
#define MB_REASONS(X)                                                              \
    X(NO_SUCH_REALM, "wamp.error.no_such_realm")                                   \
    X(PROTOCOL_VIOLATION, "wamp.error.protocol_violation")                         \
    X(NO_SUCH_PROCEDURE, "wamp.error.no_such_procedure")                           \
    X(PROCEDURE_ALREADY_EXISTS, "wamp.error.procedure_already_exists")             \
    X(PROCEDURE_EXISTS_WITH_DIFFERENT_INVOCATION_POLICY,                           \
      "wamp.error.procedure_exists_with_different_invocation_policy")              \
    X(NO_SUCH_REGISTRATION, "wamp.error.no_such_registration")                     \
    X(NO_SUCH_SUBSCRIPTION, "wamp.error.no_such_subscription")                     \
    X(INVALID_URI, "wamp.error.invalid_uri")                                       \
    X(INVALID_ARGUMENT, "wamp.error.invalid_argument")                             \
    X(NOT_AUTHORIZED, "wamp.error.not_authorized")                                 \
    X(AUTHORIZATION_FAILED, "wamp.error.authorization_failed")                     \
    X(CANCELED, "wamp.error.canceled")                                             \
    X(TIMEOUT, "wamp.error.timeout")                                               \
    X(NO_SUCH_SESSION, "wamp.error.no_such_session")                               \
    X(SYSTEM_SHUTDOWN, "wamp.close.system_shutdown")                               \
    X(CLOSE_REALM, "wamp.close.close_realm")                                       \
    X(GOODBYE_AND_OUT, "wamp.close.goodbye_and_out")                               \
    X(CLOSE_NORMAL, "wamp.close.normal")                                           \
    X(RUNTIME_ERROR, "wamp.error.runtime_error")                                   \
    X(FEATURE_NOT_SUPPORTED, "wamp.error.feature_not_supported")                   \
    X(OPTION_DISALLOWED_DISCLOSE_ME, "wamp.error.option_disallowed.disclose_me")   \
    X(AUTHENTICATION_FAILED, "wamp.error.authentication_failed")                   \
    X(NO_MATCHING_AUTH_METHOD, "wamp.error.no_matching_auth_method")               \
    X(NO_SUCH_PRINCIPAL, "wamp.error.no_such_principal")                           \
    X(NO_SUCH_ROLE, "wamp.error.no_such_role")                                     \
    X(RESOURCE_EXHAUSTED, "wamp.error.resource_exhausted")

enum mb_reason {
#define MB_REASON_ENUM(name, uri) MB_R_##name,
    MB_REASONS(MB_REASON_ENUM)
#undef MB_REASON_ENUM
    MB_R__COUNT
};

const char *mb_reason_uri(enum mb_reason r);

/* A validated message. Pointers borrow from root. */
struct mb_msg {
    int type;
    uint64_t request;      /* Request|id (or HELLO: 0) */
    uint64_t id;           /* SUBSCRIBE/UNSUBSCRIBE/UNREGISTER target; ERROR: request type */
    const char *uri;       /* realm, topic, procedure, reason or error URI */
    size_t uri_len;
    json_t *dict;          /* Details or Options, always an object */
    json_t *args;          /* array or NULL */
    json_t *kwargs;        /* object or NULL */

    /* Set by mb_msg_scan / mb_msg_scan_bin only: the bytes as received, in serializer ser. */
    int ser;               /* enum mb_ser (mb_codec.h): 0 JSON */
    const char *dict_raw;  /* Details/Options; the receiver turns it into dict */
    size_t dict_len;
    const char *tail;      /* ",Arguments[,ArgumentsKw]" exactly as received ("" if none), */
    size_t tail_len;       /* copied as is into the INVOCATION, RESULT or EVENT */
    unsigned tail_n;       /* values in tail: 0, 1 (Arguments) or 2 (and ArgumentsKw) */
    const char *args_raw, *kwargs_raw;
    size_t args_len, kwargs_len;
    bool owns_payload;     /* args/kwargs were decoded from args_raw/kwargs_raw (mb_msg_payload) */
};

/* Checks a decoded message sent by a client to a router: shape, field types, ID ranges.
 * Returns 0, or -1 with a message naming the problem in err (a protocol violation).
 * URI syntax is not checked here (its error is an ERROR, not an ABORT). */
int mb_msg_parse(json_t *root, struct mb_msg *m, char *err, size_t errlen);

/* The fast path: recognizes CALL, PUBLISH and YIELD in their usual form straight from the
 * bytes (mb_json's skipper validates every byte), leaving the payload undecoded until mb_msg_payload.
 * Returns 1 and fills m, with dict NULL and dict_raw set; 0 for anything else, which the
 * caller then decodes with jansson and mb_msg_parse (they name any error). */
int mb_msg_scan(const char *data, size_t len, struct mb_msg *m);
/* Decodes a scanned message's payload into args/kwargs, once (a logically const cache).
 * 0, or -1 when out of memory. */
int mb_msg_payload(const struct mb_msg *m);
/* Frees what mb_msg_payload decoded. */
void mb_msg_release(struct mb_msg *m);

#endif
