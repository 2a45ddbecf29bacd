/* mb_auth: how a session joins a realm (M10): the authentication methods (anonymous, ticket,
 * WAMP-CRA, WAMP-Cryptosign) against the realm's static users (realms[i].auth) or its Lua
 * authenticator, the static roles checked on every request (realms[i].roles), the brute-force
 * guard (failed authentications per peer address), and SIGHUP's reload of those sections.
 * The session state machine (session.c) hands HELLO and AUTHENTICATE here; this module answers
 * with CHALLENGE, WELCOME (mb_session_join) or ABORT. */
#ifndef MB_AUTH_H
#define MB_AUTH_H

#include <jansson.h>
#include <stdint.h>

#include "mb_config.h"
#include "mb_map.h"
#include "mb_roles.h"

struct mb_router;
struct mb_realm;
struct mb_session;
struct mb_msg;

/* A realm's auth and roles sections at run time. */
struct mb_realm_auth {
    const struct mb_auth_config *cfg; /* borrowed: router->cfg->realms[i].auth */
    struct mb_map users[MB_AUTH_METHODS]; /* authid → struct mb_auth_user * (borrowed from cfg) */
    struct mb_map by_pubkey; /* 32 raw bytes → cryptosign user: a HELLO without authid */
    struct mb_roles *roles;  /* realms[i].roles compiled, or NULL: no static authorization */
    uint64_t gen;            /* unique per build (router->auth_gen): sessions' memos of an
                                older build are stale */
};

/* A session's last static decision: a session usually repeats one request (a caller its
 * procedure, a publisher its topic), and the memo answers it with one comparison instead of
 * the role's lookups. Allocated once per session, at its first check; URIs longer than
 * MB_MEMO_URI bytes are not memoized. */
#define MB_MEMO_URI 96
struct mb_authz_memo {
    uint64_t gen;
    const struct mb_role *role;
    uint32_t len;
    uint8_t action;
    uint8_t decision; /* enum mb_rule_decision */
    int8_t disclose;
    char uri[MB_MEMO_URI];
};

/* Builds from a realm's config (which must outlive it). NULL with a message in err. */
struct mb_realm_auth *mb_realm_auth_new(const struct mb_realm_config *rc, char *err, size_t errlen);
void mb_realm_auth_free(struct mb_realm_auth *ra);

/* HELLO to realm (already checked to exist and be served on the listener): WELCOME, CHALLENGE
 * or ABORT, or held for a while when the peer's address has failed too often. */
void mb_auth_hello(struct mb_session *s, struct mb_realm *realm, json_t *details);
/* AUTHENTICATE in state CHALLENGED: WELCOME or ABORT. */
void mb_auth_authenticate(struct mb_session *s, const struct mb_msg *m);
/* Drops a session's pending authentication (it leaves, or is freed). */
void mb_auth_forget(struct mb_session *s);
/* Every router tick: held HELLOs whose delay is over, CHALLENGEs unanswered for
 * limits.auth_timeout, and guard entries to forget. */
void mb_auth_tick(struct mb_router *r, uint64_t now_ms);
/* The role a joined session's requests are checked against (NULL: none). */
void mb_auth_bind_role(struct mb_session *s);

/* SIGHUP: re-reads the config file and applies its realms' auth and roles sections (and
 * brute_force, limits.auth_timeout) to the running realms; new requests see them at once. On
 * any error the old sections stay, and the error is logged. 0 or -1. */
int mb_auth_reload(struct mb_router *r);

/* The brute-force guard (owned by the router). */
struct mb_guard;
struct mb_guard *mb_guard_new(void);
void mb_guard_free(struct mb_guard *g);

/* Counters, for the logs now and the metrics later. */
struct mb_auth_counters {
    uint64_t joins[MB_AUTH_METHODS];
    uint64_t failures;      /* wrong credentials, unknown users, refusals by the authenticator */
    uint64_t held;          /* HELLOs slowed down by the guard */
    uint64_t locked_out;    /* HELLOs and AUTHENTICATEs refused because the address is locked */
    uint64_t no_method;     /* no_matching_auth_method */
    uint64_t timeouts;      /* CHALLENGEs left unanswered */
    uint64_t guard_evicted; /* addresses forgotten early because the guard was full */
};

#endif
