/* WAMP values ↔ Lua values; see mb_lua_value.h for the mapping. */
#include "mb_lua_value.h"

#include <stdint.h>

#include <lauxlib.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* WAMP's JSON serializer carries binary as a string: NUL, then the bytes in base64. */
static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static bool valid_utf8(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned char c = s[i];
        size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        if (len == 0 || i + len > n)
            return false;
        uint32_t cp = len == 1 ? c : len == 2 ? (c & 0x1f) : len == 3 ? (c & 0x0f) : (c & 0x07);
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return false;
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
            cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += len;
    }
    return true;
}

static json_t *binary_string(const unsigned char *s, size_t n)
{
    size_t out = 1 + 4 * ((n + 2) / 3);
    char *buf = malloc(out);
    if (!buf)
        return NULL;
    size_t o = 0;
    buf[o++] = '\0';
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)s[i] << 16 | (i + 1 < n ? (uint32_t)s[i + 1] << 8 : 0) | (i + 2 < n ? s[i + 2] : 0);
        buf[o++] = b64[(v >> 18) & 63];
        buf[o++] = b64[(v >> 12) & 63];
        buf[o++] = i + 1 < n ? b64[(v >> 6) & 63] : '=';
        buf[o++] = i + 2 < n ? b64[v & 63] : '=';
    }
    json_t *j = json_stringn_nocheck(buf, o);
    free(buf);
    return j;
}

static int b64_value(char c)
{
    const char *p = c ? strchr(b64, c) : NULL;
    return p ? (int)(p - b64) : -1;
}

/* Pushes the bytes of a "\0base64" string; false (nothing pushed) if it is not valid base64. */
static bool push_binary(lua_State *L, const char *s, size_t n)
{
    if (n < 1 || (n - 1) % 4 != 0)
        return false;
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (size_t i = 1; i < n; i += 4) {
        int v[4];
        bool last = i + 4 >= n;
        for (int k = 0; k < 4; k++)
            v[k] = s[i + k] == '=' && k >= 2 && last ? 0 : b64_value(s[i + k]);
        if (s[i + 2] == '=' && s[i + 3] != '=') /* "x=y" is not padding */
            v[3] = -1;
        if (v[0] < 0 || v[1] < 0 || v[2] < 0 || v[3] < 0) {
            luaL_pushresult(&b);
            lua_pop(L, 1);
            return false;
        }
        uint32_t x = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | (uint32_t)v[3];
        luaL_addchar(&b, (char)(x >> 16));
        if (s[i + 2] != '=')
            luaL_addchar(&b, (char)(x >> 8));
        if (s[i + 3] != '=')
            luaL_addchar(&b, (char)x);
    }
    luaL_pushresult(&b);
    return true;
}

static const char null_sentinel = 0;

void *mb_lua_null(void)
{
    return (void *)&null_sentinel;
}

void mb_lua_value_init(lua_State *L)
{
    if (luaL_newmetatable(L, MB_LUA_ARRAY_MT)) {
        lua_pushstring(L, "array");
        lua_setfield(L, -2, "__name");
    }
    lua_pop(L, 1);
}

void mb_lua_mark_array(lua_State *L, int idx)
{
    idx = lua_absindex(L, idx);
    luaL_getmetatable(L, MB_LUA_ARRAY_MT);
    lua_setmetatable(L, idx);
}

void mb_lua_push_json(lua_State *L, const json_t *v)
{
    luaL_checkstack(L, 4, "value nesting");
    if (!v) {
        lua_pushnil(L);
        return;
    }
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        lua_createtable(L, 0, (int)json_object_size(v));
        const char *k;
        size_t klen;
        json_t *x;
        json_object_keylen_foreach((json_t *)v, k, klen, x) {
            lua_pushlstring(L, k, klen);
            mb_lua_push_json(L, x);
            lua_rawset(L, -3);
        }
        break;
    }
    case JSON_ARRAY: {
        size_t n = json_array_size(v);
        lua_createtable(L, (int)n, 0);
        for (size_t i = 0; i < n; i++) {
            mb_lua_push_json(L, json_array_get(v, i));
            lua_rawseti(L, -2, (lua_Integer)i + 1);
        }
        luaL_setmetatable(L, MB_LUA_ARRAY_MT);
        break;
    }
    case JSON_STRING: {
        const char *str = json_string_value(v);
        size_t len = json_string_length(v);
        if (len == 0 || str[0] != '\0' || !push_binary(L, str, len))
            lua_pushlstring(L, str, len);
        break;
    }
    case JSON_INTEGER:
        lua_pushinteger(L, (lua_Integer)json_integer_value(v));
        break;
    case JSON_REAL:
        lua_pushnumber(L, (lua_Number)json_real_value(v));
        break;
    case JSON_TRUE:
        lua_pushboolean(L, 1);
        break;
    case JSON_FALSE:
        lua_pushboolean(L, 0);
        break;
    case JSON_NULL:
        lua_pushlightuserdata(L, mb_lua_null());
        break;
    default:
        lua_pushnil(L);
        break;
    }
}

/* Length n if the table at idx is a non-empty sequence 1..n with no other keys, else 0. */
static lua_Integer sequence_length(lua_State *L, int idx)
{
    lua_Integer n = 0, max = 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        if (!lua_isinteger(L, -1)) {
            lua_pop(L, 1);
            return 0;
        }
        lua_Integer k = lua_tointeger(L, -1);
        if (k < 1) {
            lua_pop(L, 1);
            return 0;
        }
        if (k > max)
            max = k;
        n++;
    }
    return n == max ? n : 0;
}

static json_t *convert(lua_State *L, int idx, int depth, char *err, size_t errlen);

static json_t *convert_table(lua_State *L, int idx, int depth, char *err, size_t errlen)
{
    bool is_array = false;
    if (lua_getmetatable(L, idx)) {
        luaL_getmetatable(L, MB_LUA_ARRAY_MT);
        is_array = lua_rawequal(L, -1, -2);
        lua_pop(L, 2);
    }
    lua_Integer n = is_array ? (lua_Integer)lua_rawlen(L, idx) : sequence_length(L, idx);
    if (is_array || n > 0) {
        json_t *a = json_array();
        for (lua_Integer i = 1; a && i <= n; i++) {
            lua_rawgeti(L, idx, i);
            json_t *x = lua_isnil(L, -1) ? json_null() : convert(L, lua_gettop(L), depth + 1, err, errlen);
            lua_pop(L, 1);
            if (!x || json_array_append_new(a, x) < 0) {
                json_decref(a);
                return NULL;
            }
        }
        return a;
    }
    json_t *o = json_object();
    lua_pushnil(L);
    while (o && lua_next(L, idx)) {
        char numkey[32];
        const char *k;
        size_t klen;
        if (lua_type(L, -2) == LUA_TSTRING) {
            k = lua_tolstring(L, -2, &klen);
            if (!valid_utf8((const unsigned char *)k, klen)) {
                snprintf(err, errlen, "a table key that is not UTF-8 text cannot be a JSON object key");
                lua_pop(L, 2);
                json_decref(o);
                return NULL;
            }
        } else if (lua_isinteger(L, -2)) {
            klen = (size_t)snprintf(numkey, sizeof numkey, "%lld", (long long)lua_tointeger(L, -2));
            k = numkey;
        } else {
            snprintf(err, errlen, "a table key of type %s cannot be a JSON object key", luaL_typename(L, -2));
            lua_pop(L, 2);
            json_decref(o);
            return NULL;
        }
        json_t *x = convert(L, lua_gettop(L), depth + 1, err, errlen);
        if (!x || json_object_setn_new_nocheck(o, k, klen, x) < 0) {
            lua_pop(L, 2);
            json_decref(o);
            return NULL;
        }
        lua_pop(L, 1);
    }
    return o;
}

static json_t *convert(lua_State *L, int idx, int depth, char *err, size_t errlen)
{
    if (depth > MB_LUA_MAX_DEPTH) {
        snprintf(err, errlen, "value nested deeper than %d levels (or a cycle)", MB_LUA_MAX_DEPTH);
        return NULL;
    }
    switch (lua_type(L, idx)) {
    case LUA_TNIL:
        return json_null();
    case LUA_TBOOLEAN:
        return json_boolean(lua_toboolean(L, idx));
    case LUA_TNUMBER:
        if (lua_isinteger(L, idx))
            return json_integer((json_int_t)lua_tointeger(L, idx));
        if (!isfinite(lua_tonumber(L, idx))) {
            snprintf(err, errlen, "%g has no JSON form", lua_tonumber(L, idx));
            return NULL;
        }
        return json_real(lua_tonumber(L, idx));
    case LUA_TSTRING: {
        size_t len;
        const char *s = lua_tolstring(L, idx, &len);
        /* text goes as a string, other bytes as WAMP binary */
        if (valid_utf8((const unsigned char *)s, len) && (len == 0 || s[0] != '\0'))
            return json_stringn_nocheck(s, len);
        return binary_string((const unsigned char *)s, len);
    }
    case LUA_TLIGHTUSERDATA:
        if (lua_touserdata(L, idx) == mb_lua_null())
            return json_null();
        break;
    case LUA_TTABLE:
        luaL_checkstack(L, 6, "value nesting");
        return convert_table(L, idx, depth, err, errlen);
    default:
        break;
    }
    snprintf(err, errlen, "a %s cannot be sent as a WAMP value", luaL_typename(L, idx));
    return NULL;
}

json_t *mb_lua_to_json(lua_State *L, int idx, char *err, size_t errlen)
{
    return convert(L, lua_absindex(L, idx), 0, err, errlen);
}
