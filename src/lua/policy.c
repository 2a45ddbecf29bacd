/* What the router asks a realm's policy script: may this session do this (authorizer, with
 * an optional cache of its decisions), who is this peer (authenticator), which callee takes
 * this call (custom invocation policies). All run synchronously within a time budget; a
 * failure is reported, never fatal. */
#include "lua_internal.h"
#include "mb_crypto.h"

#include <stdlib.h>
#include <string.h>

/* A cached decision byte: allow or deny, and for allow the disclosure decision (enum
 * mb_disclose) shifted by 2. */
enum { CACHED_ALLOW = 1, CACHED_DENY = 2, CACHED_KIND = 3 };

static struct mb_script *policy_of(struct mb_realm *realm)
{
    return realm && realm->lua && realm->lua->policy && realm->lua->policy->gen ? realm->lua->policy : NULL;
}

void mb_lua_forget_session(struct mb_session *s)
{
    char *key;
    for (size_t it = 0; (key = mb_map_next(&s->authz_cache, &it));)
        free(key);
    mb_map_free(&s->authz_cache);
    s->authz_last = NULL;
    s->authz_last_len = 0;
}

/* Cache entries are one allocation: a decision byte, then the key "action uri". The entry of
 * the last cached decision is tried first: a session usually repeats the same action. */
static int cached(struct mb_session *s, const char *key, size_t klen)
{
    char *e = s->authz_last;
    if (e && s->authz_last_len == klen && memcmp(e + 1, key, klen) == 0)
        return e[0];
    e = mb_map_get_str(&s->authz_cache, key, klen);
    if (e) {
        s->authz_last = e;
        s->authz_last_len = klen;
    }
    return e ? e[0] : 0;
}

static void remember(struct mb_session *s, const char *key, size_t klen, int decision)
{
    char *e = malloc(klen + 2);
    if (!e)
        return;
    e[0] = (char)decision;
    memcpy(e + 1, key, klen);
    e[klen + 1] = '\0';
    if (mb_map_put_str(&s->authz_cache, e + 1, klen, e) < 0)
        free(e);
}

enum mb_authz mb_lua_authorize(struct mb_session *s, const char *action, const struct mb_msg *m, char *why,
                               size_t whylen)
{
    struct mb_script *sc = s->trusted ? NULL : policy_of(s->realm);
    if (!sc || sc->gen->authorize == LUA_NOREF)
        return MB_AUTHZ_ALLOW;
    char key[512];
    size_t alen = strlen(action), klen = alen + 1 + m->uri_len;
    bool cacheable = klen < sizeof key;
    if (cacheable) { /* "action uri" */
        memcpy(key, action, alen);
        key[alen] = ' ';
        memcpy(key + alen + 1, m->uri, m->uri_len);
    }
    int c = cacheable ? cached(s, key, klen) : 0;
    if (c) {
        if ((c & CACHED_KIND) == CACHED_ALLOW)
            s->authz_disclose = (enum mb_disclose)(c >> 2);
        if (c == CACHED_DENY)
            snprintf(why, whylen, "not authorized to %s '%.*s' (cached decision)", action, (int)m->uri_len, m->uri);
        return (c & CACHED_KIND) == CACHED_ALLOW ? MB_AUTHZ_ALLOW : MB_AUTHZ_DENY;
    }
    lua_State *L = sc->sync;
    lua_rawgeti(L, LUA_REGISTRYINDEX, sc->gen->authorize);
    mb_lua_push_session(L, s);
    lua_pushstring(L, action);
    lua_pushlstring(L, m->uri, m->uri_len);
    mb_lua_push_json(L, m->dict);
    char err[300];
    if (mb_script_call_sync(sc, 4, 1, err, sizeof err) < 0) {
        snprintf(why, whylen, "authorizer failed: %s", err);
        return MB_AUTHZ_FAILED;
    }
    bool allow, cache = false;
    enum mb_disclose disclose = MB_DISCLOSE_ASK;
    if (lua_isboolean(L, -1)) {
        allow = lua_toboolean(L, -1);
    } else if (lua_istable(L, -1)) {
        lua_getfield(L, -1, "allow");
        allow = lua_toboolean(L, -1);
        lua_getfield(L, -2, "cache");
        cache = lua_toboolean(L, -1);
        lua_getfield(L, -3, "disclose"); /* true: always disclose the caller/publisher; false: never */
        if (lua_isboolean(L, -1))
            disclose = lua_toboolean(L, -1) ? MB_DISCLOSE_FORCE : MB_DISCLOSE_REFUSE;
        lua_pop(L, 3);
    } else {
        snprintf(why, whylen, "authorizer failed: it returned a %s, not a boolean or {allow=...}",
                 luaL_typename(L, -1));
        lua_pop(L, 1);
        return MB_AUTHZ_FAILED;
    }
    lua_pop(L, 1);
    if (cache && cacheable)
        remember(s, key, klen, allow ? CACHED_ALLOW | (int)disclose << 2 : CACHED_DENY);
    if (allow)
        s->authz_disclose = disclose;
    if (!allow)
        snprintf(why, whylen, "not authorized to %s '%.*s'", action, (int)m->uri_len, m->uri);
    return allow ? MB_AUTHZ_ALLOW : MB_AUTHZ_DENY;
}

bool mb_lua_has_authorizer(struct mb_realm *realm)
{
    struct mb_script *sc = policy_of(realm);
    return sc && sc->gen->authorize != LUA_NOREF;
}

bool mb_lua_has_authenticator(struct mb_realm *realm)
{
    struct mb_script *sc = policy_of(realm);
    return sc && sc->gen->authenticate != LUA_NOREF;
}

void mb_lua_auth_free(struct mb_lua_auth *a)
{
    free(a->authid);
    free(a->authrole);
    if (a->secret) {
        memset(a->secret, 0, a->secret_len);
        free(a->secret);
    }
    free(a->salt);
    free(a->pubkeys);
    memset(a, 0, sizeof *a);
}

static char *field_string(lua_State *L, int idx, const char *key)
{
    lua_getfield(L, idx, key);
    const char *v = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
    char *copy = v ? strdup(v) : NULL;
    lua_pop(L, 1);
    return copy;
}

/* The table the authenticator returned, at the top: what the method needs from it. */
static int read_result(lua_State *L, const char *method, struct mb_lua_auth *out, char *why, size_t whylen)
{
    out->authrole = field_string(L, -1, "authrole");
    out->authid = field_string(L, -1, "authid");
    if (!out->authrole) {
        snprintf(why, whylen, "authenticator returned no authrole");
        return -1;
    }
    if (strcmp(method, "wampcra") == 0) {
        lua_getfield(L, -1, "secret");
        size_t n = 0;
        const char *v = lua_type(L, -1) == LUA_TSTRING ? lua_tolstring(L, -1, &n) : NULL;
        if (v && n && (out->secret = malloc(n + 1))) {
            memcpy(out->secret, v, n + 1);
            out->secret_len = n;
        }
        lua_pop(L, 1);
        if (!out->secret) {
            snprintf(why, whylen, "authenticator returned no secret for wampcra");
            return -2;
        }
        out->salt = field_string(L, -1, "salt");
        lua_getfield(L, -1, "iterations");
        lua_getfield(L, -2, "keylen");
        lua_Integer it = lua_isinteger(L, -2) ? lua_tointeger(L, -2) : 1000;
        lua_Integer kl = lua_isinteger(L, -1) ? lua_tointeger(L, -1) : 32;
        lua_pop(L, 2);
        if (it < 1 || it > 10000000 || kl < 1 || kl > 1024) {
            snprintf(why, whylen, "authenticator returned iterations or keylen out of range");
            return -2;
        }
        out->iterations = (unsigned)it;
        out->keylen = (unsigned)kl;
    } else if (strcmp(method, "cryptosign") == 0) {
        lua_getfield(L, -1, "pubkeys");
        if (lua_type(L, -1) == LUA_TSTRING) { /* one key */
            lua_createtable(L, 1, 0);
            lua_insert(L, -2);
            lua_rawseti(L, -2, 1);
        }
        size_t n = lua_istable(L, -1) ? (size_t)lua_rawlen(L, -1) : 0;
        if (n && !(out->pubkeys = calloc(n, sizeof *out->pubkeys)))
            n = 0;
        for (size_t i = 0; i < n; i++) {
            lua_rawgeti(L, -1, (lua_Integer)i + 1);
            size_t len = 0;
            const char *hex = lua_type(L, -1) == LUA_TSTRING ? lua_tolstring(L, -1, &len) : NULL;
            if (hex && len == 64 && mb_hex_decode(hex, 64, out->pubkeys[out->npubkeys], 32) == 32)
                out->npubkeys++;
            lua_pop(L, 1);
        }
        lua_pop(L, 1);
        if (out->npubkeys == 0) {
            snprintf(why, whylen, "authenticator returned no pubkeys (64 hex digits each) for cryptosign");
            return -2;
        }
    }
    return 0;
}

int mb_lua_authenticate(struct mb_realm *realm, const char *authmethod, const char *authid, const char *ticket,
                        json_t *details, struct mb_lua_auth *out, char *why, size_t whylen)
{
    memset(out, 0, sizeof *out);
    struct mb_script *sc = policy_of(realm);
    if (!sc || sc->gen->authenticate == LUA_NOREF) {
        snprintf(why, whylen, "no authenticator");
        return -2;
    }
    lua_State *L = sc->sync;
    lua_rawgeti(L, LUA_REGISTRYINDEX, sc->gen->authenticate);
    lua_pushstring(L, realm->name);
    if (authid)
        lua_pushstring(L, authid);
    else
        lua_pushnil(L);
    json_t *empty = details ? NULL : json_object();
    mb_lua_push_json(L, details ? details : empty);
    json_decref(empty);
    lua_pushstring(L, authmethod);
    lua_setfield(L, -2, "authmethod");
    if (ticket) {
        lua_pushstring(L, ticket);
        lua_setfield(L, -2, "ticket");
    }
    char err[300];
    if (mb_script_call_sync(sc, 3, 2, err, sizeof err) < 0) {
        snprintf(why, whylen, "authenticator failed: %s", err);
        mb_warn(&sc->r->log, "script %s: authenticator failed: %s", sc->name, err);
        return -2;
    }
    int rc;
    if (lua_istable(L, -2)) {
        lua_pushvalue(L, -2);
        rc = read_result(L, authmethod, out, why, whylen);
        lua_pop(L, 1);
        if (rc == -2)
            mb_warn(&sc->r->log, "script %s: %s", sc->name, why);
    } else {
        const char *reason = lua_tostring(L, -1);
        snprintf(why, whylen, "%s", reason ? reason : "authentication refused");
        rc = -1;
    }
    lua_pop(L, 2);
    if (rc != 0)
        mb_lua_auth_free(out);
    return rc;
}

bool mb_lua_has_policy(struct mb_realm *realm, const char *name)
{
    struct mb_script *sc = policy_of(realm);
    return sc && mb_map_get_str(&sc->gen->policies, name, strlen(name)) != NULL;
}

struct mb_session *mb_lua_pick_callee(struct mb_realm *realm, const char *policy, struct mb_registration *reg,
                                      struct mb_session *caller, const struct mb_msg *m, char *why, size_t whylen)
{
    struct mb_script *sc = policy_of(realm);
    void *ref = sc ? mb_map_get_str(&sc->gen->policies, policy, strlen(policy)) : NULL;
    if (!ref) {
        snprintf(why, whylen, "the policy script no longer defines it");
        return NULL;
    }
    if (mb_msg_payload(m) < 0) { /* a scanned CALL: the policy gets its arguments */
        snprintf(why, whylen, "router out of memory");
        return NULL;
    }
    lua_State *L = sc->sync;
    lua_rawgeti(L, LUA_REGISTRYINDEX, (int)(intptr_t)ref);
    lua_createtable(L, (int)reg->callees.len, 0);
    for (size_t i = 0; i < reg->callees.len; i++) {
        struct mb_session *c = reg->callees.items[i];
        mb_lua_push_session(L, c);
        lua_pushinteger(L, (lua_Integer)c->invocations.len);
        lua_setfield(L, -2, "inflight");
        lua_pushinteger(L, (lua_Integer)i + 1);
        lua_setfield(L, -2, "index");
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    lua_createtable(L, 0, 4);
    lua_pushlstring(L, m->uri, m->uri_len);
    lua_setfield(L, -2, "procedure");
    mb_lua_push_session(L, caller);
    lua_setfield(L, -2, "caller");
    if (m->args) {
        mb_lua_push_json(L, m->args);
        lua_setfield(L, -2, "args");
    }
    if (m->kwargs) {
        mb_lua_push_json(L, m->kwargs);
        lua_setfield(L, -2, "kwargs");
    }
    char err[300];
    if (mb_script_call_sync(sc, 2, 1, err, sizeof err) < 0) {
        snprintf(why, whylen, "failed: %s", err);
        mb_warn(&sc->r->log, "script %s: invocation policy %s failed: %s", sc->name, policy, err);
        return NULL;
    }
    lua_Integer index = 0;
    if (lua_isinteger(L, -1)) {
        index = lua_tointeger(L, -1);
    } else if (lua_istable(L, -1)) {
        lua_getfield(L, -1, "index");
        index = lua_isinteger(L, -1) ? lua_tointeger(L, -1) : 0;
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    if (index < 1 || (size_t)index > reg->callees.len) {
        snprintf(why, whylen, "it must return one of the callees it was given (or its index)");
        return NULL;
    }
    return reg->callees.items[index - 1];
}
