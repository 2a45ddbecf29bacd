/* Authentication of a joining session (M10): choose the method, challenge, verify, join or
 * ABORT. Static users come from realms[i].auth; users the config does not know go to the
 * realm's Lua authenticator when it has one. See docs/behaviour.md "Authentication". */
#include "mb_auth.h"
#include "mb_crypto.h"
#include "mb_log.h"
#include "mb_lua.h"
#include "mb_router.h"
#include "mb_session.h"
#include "mb_wamp.h"

#include <openssl/sha.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void mb_guard_sweep(struct mb_router *r, uint64_t now_ms);
/* The guard's view of one peer address (guard.c). */
int mb_guard_locked(struct mb_router *r, const char *addr, uint64_t now_ms);  /* seconds left, or 0 */
double mb_guard_delay(struct mb_router *r, const char *addr, uint64_t now_ms); /* seconds, or 0 */
void mb_guard_failed(struct mb_router *r, const char *addr, uint64_t now_ms);

/* What a session in CHALLENGED (or held) state carries until AUTHENTICATE. */
struct mb_auth_pending {
    struct mb_realm *realm;
    json_t *details;           /* HELLO.Details */
    enum mb_auth_method method;
    bool lua;                  /* the Lua authenticator vouches (authprovider "lua") */
    char *authid, *authrole;
    char *key;                 /* wampcra: the HMAC key */
    size_t keylen;
    char *challenge;           /* wampcra: the challenge text */
    unsigned char nonce[32];   /* cryptosign: the challenge */
    unsigned char pubkey[32];  /* cryptosign: the key it must sign with */
    unsigned char cb[32];      /* cryptosign: the channel ID, when bound */
    bool bound;
    uint64_t session_id;       /* wampcra: the ID its challenge announced */
    uint64_t deadline;         /* ms: the AUTHENTICATE must come by then */
    uint64_t hold_until;       /* ms: a HELLO held by the guard resumes then (0: not held) */
};

/* ---- the realm's users ------------------------------------------------------------------------ */

struct mb_realm_auth *mb_realm_auth_new(const struct mb_realm_config *rc, char *err, size_t errlen)
{
    struct mb_realm_auth *ra = calloc(1, sizeof *ra);
    if (!ra) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    ra->cfg = &rc->auth;
    for (int m = 0; m < MB_AUTH_METHODS; m++) {
        const struct mb_auth_method_config *mc = &rc->auth.method[m];
        for (size_t i = 0; i < mc->nusers; i++) {
            struct mb_auth_user *u = &mc->users[i];
            if (mb_map_put_str(&ra->users[m], u->authid, strlen(u->authid), u) < 0)
                goto oom;
            for (size_t k = 0; m == MB_AUTH_CRYPTOSIGN && k < u->npubkeys; k++) {
                struct mb_auth_user *other = mb_map_get_str(&ra->by_pubkey, (const char *)u->pubkeys[k], 32);
                if (other && other != u) {
                    char hex[65];
                    mb_hex_encode(u->pubkeys[k], 32, hex);
                    snprintf(err, errlen, "realm %s: cryptosign users %s and %s share the public key %s", rc->name,
                             other->authid, u->authid, hex);
                    mb_realm_auth_free(ra);
                    return NULL;
                }
                if (!other && mb_map_put_str(&ra->by_pubkey, (const char *)u->pubkeys[k], 32, u) < 0)
                    goto oom;
            }
        }
    }
    if (rc->has_roles && !(ra->roles = mb_roles_build(rc->roles, rc->nroles, err, errlen))) {
        mb_realm_auth_free(ra);
        return NULL;
    }
    return ra;
oom:
    snprintf(err, errlen, "out of memory");
    mb_realm_auth_free(ra);
    return NULL;
}

void mb_realm_auth_free(struct mb_realm_auth *ra)
{
    if (!ra)
        return;
    for (int m = 0; m < MB_AUTH_METHODS; m++)
        mb_map_free(&ra->users[m]);
    mb_map_free(&ra->by_pubkey);
    mb_roles_free(ra->roles);
    free(ra);
}

void mb_auth_bind_role(struct mb_session *s)
{
    struct mb_realm_auth *ra = s->realm ? s->realm->auth : NULL;
    s->role = ra && ra->roles && s->authrole ? mb_roles_find(ra->roles, s->authrole) : NULL;
}

/* ---- pending state ---------------------------------------------------------------------------- */

void mb_auth_forget(struct mb_session *s)
{
    struct mb_auth_pending *p = s->auth;
    if (!p)
        return;
    s->auth = NULL;
    json_decref(p->details);
    free(p->authid);
    free(p->authrole);
    if (p->key) {
        memset(p->key, 0, p->keylen);
        free(p->key);
    }
    free(p->challenge);
    free(p);
}

static struct mb_auth_pending *pending(struct mb_session *s, struct mb_realm *realm, json_t *details)
{
    mb_auth_forget(s);
    struct mb_auth_pending *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->realm = realm;
    p->details = json_incref(details);
    s->auth = p;
    return p;
}

/* The peer's address without its port: the guard's key ("127.0.0.1", "[::1]", "unix:/path"). */
static void peer_address(const struct mb_session *s, char *out, size_t n)
{
    snprintf(out, n, "%s", s->peer);
    char *colon = strrchr(out, ':');
    if (colon && colon[1] && strspn(colon + 1, "0123456789") == strlen(colon + 1))
        *colon = '\0';
}

static const char *hello_authid(json_t *details)
{
    json_t *v = json_object_get(details, "authid");
    return json_is_string(v) && json_string_length(v) > 0 ? json_string_value(v) : NULL;
}

/* ABORT for a failed authentication: counted by the guard, logged with address and authid. */
static void failed(struct mb_session *s, const struct mb_realm *realm, enum mb_reason reason, const char *authid,
                   const char *method, const char *fmt, ...) __attribute__((format(printf, 6, 7)));
static void failed(struct mb_session *s, const struct mb_realm *realm, enum mb_reason reason, const char *authid,
                   const char *method, const char *fmt, ...)
{
    struct mb_router *r = s->router;
    char text[300], addr[64];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    peer_address(s, addr, sizeof addr);
    r->auth_stats.failures++;
    mb_guard_failed(r, addr, mb_router_now_ms(r));
    mb_warn(&r->log, "authentication failed: %s from %s, authid %s, realm %s: %s", method, s->peer,
            authid ? authid : "(none)", realm->name, text);
    mb_auth_forget(s);
    s->state = MB_S_NEW;
    mb_session_abort(s, reason, "%s", text);
}

static void refuse(struct mb_session *s, enum mb_reason reason, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void refuse(struct mb_session *s, enum mb_reason reason, const char *fmt, ...)
{
    char text[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    mb_auth_forget(s);
    s->state = MB_S_NEW;
    mb_session_abort(s, reason, "%s", text);
}

/* With static roles, an authrole from the Lua authenticator must be one of them. */
static bool role_known(struct mb_session *s, struct mb_realm *realm, const char *role)
{
    struct mb_realm_auth *ra = realm->auth;
    if (!ra || !ra->roles || mb_roles_find(ra->roles, role))
        return true;
    refuse(s, MB_R_NO_SUCH_ROLE, "authrole '%s' is not one of the roles of realm %s", role, realm->name);
    return false;
}

static void join(struct mb_session *s, struct mb_realm *realm, const char *authid, const char *role,
                 enum mb_auth_method m, bool lua, uint64_t session_id)
{
    struct mb_router *r = s->router;
    r->auth_stats.joins[m]++;
    s->state = MB_S_NEW;
    s->id = session_id;
    mb_session_join(s, realm, authid, role, mb_auth_method_name(m), lua ? "lua" : "static");
}

/* ---- choosing the method ---------------------------------------------------------------------- */

/* The methods the realm accepts: its auth section's, or (without one) all four through its Lua
 * authenticator, or anonymous alone. */
static unsigned accepted(struct mb_realm *realm, bool lua)
{
    const struct mb_auth_config *a = realm->auth ? realm->auth->cfg : NULL;
    if (!a || !a->present)
        return lua ? (1u << MB_AUTH_METHODS) - 1 : 1u << MB_AUTH_ANONYMOUS;
    unsigned bits = 0;
    for (int m = 0; m < MB_AUTH_METHODS; m++)
        if (a->method[m].enabled)
            bits |= 1u << m;
    return bits;
}

static void list_methods(unsigned bits, char *out, size_t n)
{
    size_t k = 0;
    out[0] = '\0';
    for (int m = 0; m < MB_AUTH_METHODS && k < n; m++)
        if (bits & 1u << m)
            k += (size_t)snprintf(out + k, n - k, "%s%s", k ? ", " : "", mb_auth_method_name((enum mb_auth_method)m));
    if (!out[0])
        snprintf(out, n, "none");
}

static struct mb_auth_user *static_user(struct mb_realm *realm, enum mb_auth_method m, const char *authid)
{
    struct mb_realm_auth *ra = realm->auth;
    return ra && authid ? mb_map_get_str(&ra->users[m], authid, strlen(authid)) : NULL;
}

/* Asks the Lua authenticator; on refusal or failure the session is ABORTed and -1 returned. */
static int ask_lua(struct mb_session *s, struct mb_realm *realm, enum mb_auth_method m, const char *authid,
                   const char *ticket, json_t *details, struct mb_lua_auth *out)
{
    char why[300];
    const char *method = mb_auth_method_name(m);
    int rc = mb_lua_authenticate(realm, method, authid, ticket, details, out, why, sizeof why);
    if (rc == -1)
        failed(s, realm, MB_R_NOT_AUTHORIZED, authid, method, "%s", why);
    else if (rc < 0)
        failed(s, realm, MB_R_NOT_AUTHORIZED, authid, method, "%s", why);
    return rc < 0 ? -1 : 0;
}

static void hello_anonymous(struct mb_session *s, struct mb_realm *realm, json_t *details, bool lua)
{
    const struct mb_auth_config *a = realm->auth ? realm->auth->cfg : NULL;
    const char *authid = hello_authid(details);
    if (a && a->present) { /* static: the configured role */
        join(s, realm, authid, a->anonymous_role ? a->anonymous_role : "anonymous", MB_AUTH_ANONYMOUS, false, 0);
        return;
    }
    if (!lua) { /* no auth section, no authenticator: everybody is anonymous */
        join(s, realm, authid, "anonymous", MB_AUTH_ANONYMOUS, false, 0);
        return;
    }
    struct mb_lua_auth la;
    if (ask_lua(s, realm, MB_AUTH_ANONYMOUS, authid, NULL, details, &la) < 0)
        return;
    if (role_known(s, realm, la.authrole))
        join(s, realm, la.authid ? la.authid : authid, la.authrole, MB_AUTH_ANONYMOUS, true, 0);
    mb_lua_auth_free(&la);
}

static void hello_ticket(struct mb_session *s, struct mb_realm *realm, json_t *details, bool lua)
{
    const char *authid = hello_authid(details);
    struct mb_auth_user *u = static_user(realm, MB_AUTH_TICKET, authid);
    if (!u && !lua) {
        if (!authid)
            refuse(s, MB_R_NO_SUCH_PRINCIPAL, "ticket authentication needs an authid in HELLO");
        else
            failed(s, realm, MB_R_NO_SUCH_PRINCIPAL, authid, "ticket", "no ticket user '%s' in realm %s", authid,
                   realm->name);
        return;
    }
    struct mb_auth_pending *p = pending(s, realm, details);
    if (!p || (authid && !(p->authid = strdup(authid))) || (u && !(p->authrole = strdup(u->role)))) {
        refuse(s, MB_R_SYSTEM_SHUTDOWN, "router out of memory");
        return;
    }
    p->method = MB_AUTH_TICKET;
    p->lua = !u;
    p->deadline = mb_router_now_ms(s->router) + (uint64_t)(s->router->cfg->auth_timeout * 1000);
    s->state = MB_S_CHALLENGED;
    mb_session_send(s, json_pack("[is{}]", MB_CHALLENGE, "ticket"));
}

/* WAMP-CRA's challenge: a JSON text naming who will join, signed by the client. */
static char *cra_challenge(struct mb_session *s, struct mb_auth_pending *p)
{
    unsigned char raw[18];
    char nonce[32];
    mb_random_bytes(raw, sizeof raw);
    mb_base64_encode(raw, sizeof raw, nonce);
    json_t *ts = mb_router_iso_time(mb_router_wall_ms());
    json_t *c = json_pack("{sssssssssssOsI}", "authid", p->authid, "authrole", p->authrole, "authmethod", "wampcra",
                          "authprovider", p->lua ? "lua" : "static", "nonce", nonce, "timestamp", ts, "session",
                          (json_int_t)p->session_id);
    json_decref(ts);
    char *text = c ? json_dumps(c, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(c);
    (void)s;
    return text;
}

static void hello_wampcra(struct mb_session *s, struct mb_realm *realm, json_t *details, bool lua)
{
    struct mb_router *r = s->router;
    const char *authid = hello_authid(details);
    if (!authid) {
        refuse(s, MB_R_NO_SUCH_PRINCIPAL, "wampcra authentication needs an authid in HELLO");
        return;
    }
    struct mb_auth_user *u = static_user(realm, MB_AUTH_WAMPCRA, authid);
    struct mb_lua_auth la = { 0 };
    if (!u && !lua) {
        failed(s, realm, MB_R_NO_SUCH_PRINCIPAL, authid, "wampcra", "no wampcra user '%s' in realm %s", authid, realm->name);
        return;
    }
    if (!u && (ask_lua(s, realm, MB_AUTH_WAMPCRA, authid, NULL, details, &la) < 0 ||
               !role_known(s, realm, la.authrole))) {
        mb_lua_auth_free(&la);
        return;
    }
    struct mb_auth_pending *p = pending(s, realm, details);
    const char *key = u ? u->secret : la.secret;
    size_t keylen = u ? u->secret_len : la.secret_len;
    const char *salt = u ? u->salt : la.salt;
    unsigned iterations = u ? u->iterations : la.iterations, kl = u ? u->keylen : la.keylen;
    if (p) {
        p->method = MB_AUTH_WAMPCRA;
        p->lua = !u;
        p->authid = strdup(u ? authid : la.authid ? la.authid : authid);
        p->authrole = strdup(u ? u->role : la.authrole);
        p->key = malloc(keylen + 1);
        p->keylen = keylen;
        p->session_id = mb_router_new_id(r, &r->sessions);
    }
    if (!p || !p->authid || !p->authrole || !p->key || !(memcpy(p->key, key, keylen), p->challenge = cra_challenge(s, p))) {
        mb_lua_auth_free(&la);
        refuse(s, MB_R_SYSTEM_SHUTDOWN, "router out of memory");
        return;
    }
    json_t *extra = json_pack("{ss}", "challenge", p->challenge);
    if (salt) {
        json_object_set_new(extra, "salt", json_string(salt));
        json_object_set_new(extra, "iterations", json_integer(iterations));
        json_object_set_new(extra, "keylen", json_integer(kl));
    }
    mb_lua_auth_free(&la);
    p->deadline = mb_router_now_ms(r) + (uint64_t)(r->cfg->auth_timeout * 1000);
    s->state = MB_S_CHALLENGED;
    mb_session_send(s, json_pack("[iso]", MB_CHALLENGE, "wampcra", extra));
}

static bool has_pubkey(unsigned char (*keys)[32], size_t n, const unsigned char key[32])
{
    for (size_t i = 0; i < n; i++)
        if (memcmp(keys[i], key, 32) == 0)
            return true;
    return false;
}

static void hello_cryptosign(struct mb_session *s, struct mb_realm *realm, json_t *details, bool lua)
{
    struct mb_router *r = s->router;
    const char *authid = hello_authid(details);
    json_t *authextra = json_object_get(details, "authextra");
    json_t *pk = json_object_get(authextra, "pubkey");
    unsigned char pubkey[32];
    if (!json_is_string(pk) || json_string_length(pk) != 64 ||
        mb_hex_decode(json_string_value(pk), 64, pubkey, sizeof pubkey) != 32) {
        refuse(s, MB_R_AUTHENTICATION_FAILED, "cryptosign needs HELLO.Details.authextra.pubkey: the public key "
               "as 64 hex digits");
        return;
    }
    json_t *cbt = json_object_get(authextra, "channel_binding");
    const char *cb_type = json_is_string(cbt) ? json_string_value(cbt) : NULL;
    if (cbt && !json_is_null(cbt) && !cb_type) {
        refuse(s, MB_R_AUTHENTICATION_FAILED, "authextra.channel_binding must be \"tls-unique\", \"tls-exporter\" or null");
        return;
    }
    unsigned char cb[32];
    if (cb_type) {
        if (strcmp(cb_type, "tls-unique") != 0 && strcmp(cb_type, "tls-exporter") != 0) {
            refuse(s, MB_R_AUTHENTICATION_FAILED, "channel binding '%.40s' is not supported: tls-unique or "
                   "tls-exporter", cb_type);
            return;
        }
        if (!s->tr->channel_binding || s->tr->channel_binding(s->conn, cb_type, cb) < 0) {
            refuse(s, MB_R_AUTHENTICATION_FAILED, "channel binding '%s' needs a TLS connection", cb_type);
            return;
        }
    }
    struct mb_realm_auth *ra = realm->auth;
    struct mb_auth_user *u = authid ? static_user(realm, MB_AUTH_CRYPTOSIGN, authid)
                             : ra ? mb_map_get_str(&ra->by_pubkey, (const char *)pubkey, 32) : NULL;
    struct mb_lua_auth la = { 0 };
    if (u && !has_pubkey(u->pubkeys, u->npubkeys, pubkey)) {
        failed(s, realm, MB_R_AUTHENTICATION_FAILED, authid, "cryptosign", "this public key is not one of the keys of '%s'",
               u->authid);
        return;
    }
    if (!u && !lua) {
        if (authid)
            failed(s, realm, MB_R_NO_SUCH_PRINCIPAL, authid, "cryptosign", "no cryptosign user '%s' in realm %s", authid,
                   realm->name);
        else
            failed(s, realm, MB_R_NO_SUCH_PRINCIPAL, NULL, "cryptosign", "no cryptosign user has this public key in realm %s",
                   realm->name);
        return;
    }
    if (!u) {
        if (ask_lua(s, realm, MB_AUTH_CRYPTOSIGN, authid, NULL, details, &la) < 0)
            return;
        if (!has_pubkey(la.pubkeys, la.npubkeys, pubkey)) {
            mb_lua_auth_free(&la);
            failed(s, realm, MB_R_AUTHENTICATION_FAILED, authid, "cryptosign", "this public key is not one of the user's keys");
            return;
        }
        if (!role_known(s, realm, la.authrole)) {
            mb_lua_auth_free(&la);
            return;
        }
    }
    struct mb_auth_pending *p = pending(s, realm, details);
    const char *id = u ? u->authid : la.authid ? la.authid : authid;
    if (!p || (id && !(p->authid = strdup(id))) || !(p->authrole = strdup(u ? u->role : la.authrole))) {
        mb_lua_auth_free(&la);
        refuse(s, MB_R_SYSTEM_SHUTDOWN, "router out of memory");
        return;
    }
    mb_lua_auth_free(&la);
    p->method = MB_AUTH_CRYPTOSIGN;
    p->lua = !u;
    memcpy(p->pubkey, pubkey, 32);
    if (cb_type) {
        memcpy(p->cb, cb, 32);
        p->bound = true;
    }
    mb_random_bytes(p->nonce, sizeof p->nonce);
    char hex[65];
    mb_hex_encode(p->nonce, 32, hex);
    p->deadline = mb_router_now_ms(r) + (uint64_t)(r->cfg->auth_timeout * 1000);
    s->state = MB_S_CHALLENGED;
    mb_session_send(s, json_pack("[is{ssss?}]", MB_CHALLENGE, "cryptosign", "challenge", hex, "channel_binding", cb_type));
}

static void hello_now(struct mb_session *s, struct mb_realm *realm, json_t *details)
{
    bool lua = mb_lua_has_authenticator(realm);
    unsigned ok = accepted(realm, lua);
    json_t *offered = json_object_get(details, "authmethods");
    int chosen = -1;
    bool named = false; /* the client offered at least one method moonbar knows */
    size_t i;
    json_t *v;
    json_array_foreach(offered, i, v) {
        int m = json_is_string(v) ? mb_auth_method_parse(json_string_value(v)) : -1;
        named = named || m >= 0;
        if (m >= 0 && (ok & 1u << m)) {
            chosen = m;
            break;
        }
    }
    if (chosen < 0 && json_array_size(offered) == 0 && (ok & 1u << MB_AUTH_ANONYMOUS))
        chosen = MB_AUTH_ANONYMOUS; /* no authmethods: anonymous (the spec's default) */
    const struct mb_auth_config *a = realm->auth ? realm->auth->cfg : NULL;
    if (chosen < 0 && !(a && a->present) && (!lua || !named))
        chosen = MB_AUTH_ANONYMOUS; /* no auth section: as before M10, whatever it offered */
    if (chosen < 0) {
        char have[80], want[200];
        list_methods(ok, have, sizeof have);
        size_t k = 0;
        want[0] = '\0';
        json_array_foreach(offered, i, v)
            if (json_is_string(v) && k < sizeof want - 40)
                k += (size_t)snprintf(want + k, sizeof want - k, "%s%.32s", k ? ", " : "", json_string_value(v));
        s->router->auth_stats.no_method++;
        refuse(s, MB_R_NO_MATCHING_AUTH_METHOD, "realm %s accepts %s; HELLO offered %s", realm->name, have,
               k ? want : "anonymous (no authmethods)");
        return;
    }
    switch ((enum mb_auth_method)chosen) {
    case MB_AUTH_ANONYMOUS: hello_anonymous(s, realm, details, lua); break;
    case MB_AUTH_TICKET: hello_ticket(s, realm, details, lua); break;
    case MB_AUTH_WAMPCRA: hello_wampcra(s, realm, details, lua); break;
    case MB_AUTH_CRYPTOSIGN: hello_cryptosign(s, realm, details, lua); break;
    case MB_AUTH_METHODS: break;
    }
}

void mb_auth_hello(struct mb_session *s, struct mb_realm *realm, json_t *details)
{
    struct mb_router *r = s->router;
    char addr[64];
    peer_address(s, addr, sizeof addr);
    uint64_t now = mb_router_now_ms(r);
    int left = mb_guard_locked(r, addr, now);
    if (left > 0) {
        r->auth_stats.locked_out++;
        refuse(s, MB_R_AUTHENTICATION_FAILED, "too many failed authentications from %s: refused for %d s more",
               addr, left);
        return;
    }
    double delay = mb_guard_delay(r, addr, now);
    if (delay > 0) { /* answered later, whatever the credentials: no timing tells them apart */
        struct mb_auth_pending *p = pending(s, realm, details);
        if (!p) {
            refuse(s, MB_R_SYSTEM_SHUTDOWN, "router out of memory");
            return;
        }
        r->auth_stats.held++;
        p->hold_until = now + (uint64_t)(delay * 1000);
        s->state = MB_S_CHALLENGED;
        s->tr->set_reading(s->conn, false);
        mb_info(&r->log, "HELLO from %s held %.1f s: earlier authentications from this address failed", s->peer,
                delay);
        return;
    }
    hello_now(s, realm, details);
}

/* ---- AUTHENTICATE ----------------------------------------------------------------------------- */

/* Compares digests, so that neither the bytes nor the length of the ticket shows in the time. */
static bool same_secret(const char *a, size_t alen, const char *b, size_t blen)
{
    unsigned char da[SHA256_DIGEST_LENGTH], db[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)a, alen, da);
    SHA256((const unsigned char *)b, blen, db);
    return mb_ct_equal(da, db, sizeof da);
}

/* AUTHENTICATE.Extra merged into the HELLO details, for the Lua authenticator. */
static json_t *ticket_details(json_t *hello, json_t *extra)
{
    json_t *d = json_deep_copy(hello ? hello : json_object());
    if (d && json_is_object(extra))
        json_object_update(d, extra);
    return d;
}

void mb_auth_authenticate(struct mb_session *s, const struct mb_msg *m)
{
    struct mb_router *r = s->router;
    struct mb_auth_pending *p = s->auth;
    if (!p || p->hold_until) {
        refuse(s, MB_R_PROTOCOL_VIOLATION, "AUTHENTICATE received before a CHALLENGE");
        return;
    }
    char addr[64];
    peer_address(s, addr, sizeof addr);
    int left = mb_guard_locked(r, addr, mb_router_now_ms(r));
    if (left > 0) {
        r->auth_stats.locked_out++;
        refuse(s, MB_R_AUTHENTICATION_FAILED, "too many failed authentications from %s: refused for %d s more",
               addr, left);
        return;
    }
    const char *method = mb_auth_method_name(p->method);
    const char *sig = m->uri;
    size_t siglen = m->uri_len;
    bool ok = false;
    switch (p->method) {
    case MB_AUTH_TICKET:
        if (p->lua) {
            json_t *details = ticket_details(p->details, m->dict);
            char *ticket = strndup(sig, siglen);
            struct mb_lua_auth la;
            struct mb_realm *realm = p->realm;
            char *authid = p->authid ? strdup(p->authid) : NULL;
            int rc = ticket && details ? ask_lua(s, realm, MB_AUTH_TICKET, authid, ticket, details, &la) : -1;
            if (ticket) {
                memset(ticket, 0, siglen);
                free(ticket);
            }
            json_decref(details);
            if (rc == 0 && role_known(s, realm, la.authrole)) {
                mb_auth_forget(s);
                join(s, realm, la.authid ? la.authid : authid, la.authrole, MB_AUTH_TICKET, true, 0);
            }
            if (rc == 0)
                mb_lua_auth_free(&la);
            free(authid);
            return;
        } else {
            struct mb_auth_user *u = static_user(p->realm, MB_AUTH_TICKET, p->authid);
            ok = u && same_secret(u->secret, u->secret_len, sig, siglen);
        }
        if (!ok) {
            failed(s, p->realm, MB_R_AUTHENTICATION_FAILED, p->authid, method, "wrong ticket for '%s'", p->authid);
            return;
        }
        break;
    case MB_AUTH_WAMPCRA:
        ok = mb_wampcra_verify(p->key, p->keylen, p->challenge, strlen(p->challenge), sig, siglen);
        if (!ok) {
            failed(s, p->realm, MB_R_AUTHENTICATION_FAILED, p->authid, method, "WAMP-CRA signature is not valid for '%s'",
                   p->authid);
            return;
        }
        break;
    case MB_AUTH_CRYPTOSIGN: {
        ok = mb_cryptosign_verify(p->pubkey, p->nonce, p->bound ? p->cb : NULL, sig, siglen);
        if (!ok) {
            failed(s, p->realm, MB_R_AUTHENTICATION_FAILED, p->authid, method, "cryptosign signature is not valid%s",
                   p->bound ? " (with channel binding)" : "");
            return;
        }
        break;
    }
    default:
        refuse(s, MB_R_PROTOCOL_VIOLATION, "AUTHENTICATE received before a CHALLENGE");
        return;
    }
    struct mb_realm *realm = p->realm;
    char *authid = p->authid, *role = p->authrole;
    enum mb_auth_method am = p->method;
    bool lua = p->lua;
    uint64_t sid = p->session_id && !mb_map_get_id(&r->sessions, p->session_id) ? p->session_id : 0;
    p->authid = p->authrole = NULL;
    mb_auth_forget(s);
    join(s, realm, authid, role, am, lua, sid);
    free(authid);
    free(role);
}

/* ---- the tick --------------------------------------------------------------------------------- */

void mb_auth_tick(struct mb_router *r, uint64_t now_ms)
{
    for (struct mb_session *s = r->all; s; s = s->next) {
        struct mb_auth_pending *p = s->auth;
        if (!p || s->doomed || s->state != MB_S_CHALLENGED)
            continue;
        if (p->hold_until && now_ms >= p->hold_until) {
            struct mb_realm *realm = p->realm;
            json_t *details = json_incref(p->details);
            mb_auth_forget(s);
            s->state = MB_S_NEW;
            if (!s->reading_paused && !s->throttled)
                s->tr->set_reading(s->conn, true);
            char addr[64];
            peer_address(s, addr, sizeof addr);
            int left = mb_guard_locked(r, addr, now_ms);
            if (left > 0) {
                r->auth_stats.locked_out++;
                refuse(s, MB_R_AUTHENTICATION_FAILED,
                       "too many failed authentications from %s: refused for %d s more", addr, left);
            } else {
                hello_now(s, realm, details);
            }
            json_decref(details);
        } else if (!p->hold_until && p->deadline && now_ms >= p->deadline) {
            r->auth_stats.timeouts++;
            refuse(s, MB_R_AUTHENTICATION_FAILED, "no AUTHENTICATE within %g s of the CHALLENGE", r->cfg->auth_timeout);
        }
    }
    mb_guard_sweep(r, now_ms);
}

/* ---- SIGHUP ----------------------------------------------------------------------------------- */

static void swap_auth(struct mb_realm_config *a, struct mb_realm_config *b)
{
    struct mb_realm_config t = *a;
    a->auth = b->auth;
    a->has_roles = b->has_roles;
    a->roles = b->roles;
    a->nroles = b->nroles;
    b->auth = t.auth;
    b->has_roles = t.has_roles;
    b->roles = t.roles;
    b->nroles = t.nroles;
}

int mb_auth_reload(struct mb_router *r)
{
    struct mb_config *cfg = r->cfg;
    if (!cfg->path)
        return 0; /* the built-in config: nothing to re-read */
    struct mb_config fresh;
    char err[1024];
    if (mb_config_defaults(&fresh, NULL) < 0 || mb_config_load(&fresh, cfg->path, err, sizeof err) < 0) {
        mb_error(&r->log, "SIGHUP: config %s not reloaded, the running auth and roles stay: %s", cfg->path,
                 fresh.realms ? err : "out of memory");
        mb_config_free(&fresh);
        return -1;
    }
    int rc = 0;
    for (size_t i = 0; i < fresh.nrealms; i++) {
        struct mb_realm_config *nrc = &fresh.realms[i];
        struct mb_realm *realm = mb_map_get_str(&r->realms, nrc->name, strlen(nrc->name));
        struct mb_realm_config *orc = NULL;
        for (size_t j = 0; j < cfg->nrealms && !orc; j++)
            if (strcmp(cfg->realms[j].name, nrc->name) == 0)
                orc = &cfg->realms[j];
        if (!realm || !orc) {
            mb_warn(&r->log, "SIGHUP: realm %s is new in %s: realms are created at start only", nrc->name, cfg->path);
            continue;
        }
        swap_auth(orc, nrc); /* the running config now holds the new sections */
        struct mb_realm_auth *ra = mb_realm_auth_new(orc, err, sizeof err);
        if (!ra) {
            swap_auth(orc, nrc);
            mb_error(&r->log, "SIGHUP: realm %s keeps its auth and roles: %s", realm->name, err);
            rc = -1;
            continue;
        }
        struct mb_realm_auth *old = realm->auth;
        ra->gen = ++r->auth_gen; /* every session's memo is now stale */
        realm->auth = ra;
        for (struct mb_session *s = r->all; s; s = s->next) /* the new roles apply to the next request */
            if (s->realm == realm)
                mb_auth_bind_role(s);
        mb_realm_auth_free(old);
        size_t users = 0;
        for (int m = 1; m < MB_AUTH_METHODS; m++)
            users += orc->auth.method[m].nusers;
        mb_info(&r->log, "SIGHUP: realm %s: auth and roles reloaded (%zu users, %zu roles%s)", realm->name, users,
                orc->nroles, orc->has_roles ? "" : ": no static roles");
    }
    cfg->brute_force = fresh.brute_force;
    cfg->auth_timeout = fresh.auth_timeout;
    mb_config_free(&fresh);
    return rc;
}
