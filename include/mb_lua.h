/* mb_lua: the Lua engine. Each app or policy script of a realm runs in its own lua_State
 * (counting allocator with a cap, instruction-count hook with a deadline per callback, a
 * sandboxed environment) and joins its realm as an in-process session: its registrations and
 * subscriptions are ordinary ones, and the dealer and broker have no special case for it.
 *
 * A script reloads (file change, SIGHUP, the moonbar.reload procedure) into a fresh
 * environment of the same lua_State: the new version is loaded and run, and only if that
 * succeeds are its registrations and subscriptions swapped in (kept by ID when they exist in
 * both versions, so no call ever finds no procedure); calls already running finish in the old
 * version; moonbar.state is the same table across versions. A version that fails to load is
 * rejected and the old one keeps running.
 *
 * The policy script of a realm may set an authorizer, an authenticator and custom invocation
 * policies; the router asks them through the functions below. */
#ifndef MB_LUA_H
#define MB_LUA_H

#include <jansson.h>
#include <stdbool.h>

#include "mb_session.h"

/* Starts the scripts of every realm (after the realms exist). 0, or -1 with a logged reason
 * (a script that fails to load at start is an error: moonbar does not start without it). */
int mb_lua_start(struct mb_router *r);
/* Delivers the messages queued for scripts (the router's safe point). */
void mb_lua_run_pending(struct mb_router *r);
/* Reloads every script (SIGHUP). */
void mb_lua_reload_all(struct mb_router *r);
/* Shutdown: closes watchers, timers and the Lua states. */
void mb_lua_stop(struct mb_router *r);
void mb_lua_free(struct mb_router *r);

enum mb_authz { MB_AUTHZ_ALLOW, MB_AUTHZ_DENY, MB_AUTHZ_FAILED };

/* Asks the realm's authorizer whether s may do action ("subscribe", "publish", "register",
 * "call") on m->uri. Trusted (in-router) sessions and realms without an authorizer: allow.
 * On deny/failure, why says what happened. */
enum mb_authz mb_lua_authorize(struct mb_session *s, const char *action, const struct mb_msg *m, char *why,
                               size_t whylen);
/* Forgets s's cached authorization decisions (it leaves). */
void mb_lua_forget_session(struct mb_session *s);

/* true if the realm's policy script sets an authorizer. */
bool mb_lua_has_authorizer(struct mb_realm *realm);
/* true if the realm's policy script authenticates. */
bool mb_lua_has_authenticator(struct mb_realm *realm);

/* What the authenticator returned (every string malloc'd; mb_lua_auth_free frees them). */
struct mb_lua_auth {
    char *authid, *authrole;
    char *secret;       /* wampcra: the key (derived when salted) */
    size_t secret_len;
    char *salt;         /* wampcra: salted secret's PBKDF2 parameters */
    unsigned iterations, keylen;
    unsigned char (*pubkeys)[32]; /* cryptosign: the keys the user may sign with */
    size_t npubkeys;
};
void mb_lua_auth_free(struct mb_lua_auth *a);

/* Runs the authenticator (realm, authid, details) with details.authmethod = authmethod (and
 * details.ticket for a ticket). 0: accepted (out filled: authrole always; for wampcra a secret,
 * for cryptosign pubkeys, else -1 with why); -1: refused, why = its reason; -2: the function
 * failed (an error, a bad return), why says so. */
int mb_lua_authenticate(struct mb_realm *realm, const char *authmethod, const char *authid, const char *ticket,
                        json_t *details, struct mb_lua_auth *out, char *why, size_t whylen);

/* true if the realm's policy script defines the invocation policy name. */
bool mb_lua_has_policy(struct mb_realm *realm, const char *name);
/* Picks the callee of reg for a call by the named custom policy; NULL with the reason. */
struct mb_session *mb_lua_pick_callee(struct mb_realm *realm, const char *policy, struct mb_registration *reg,
                                      struct mb_session *caller, const struct mb_msg *m, char *why, size_t whylen);

#endif
