/* libFuzzer harness of the Lua value conversion (mb_lua_value.h). One lua_State per process.
 * The first byte picks the direction:
 *
 *   even: JSON → Lua → JSON. The rest is a JSON, MessagePack or CBOR text (byte 0 >> 1 picks
 *     which) decoded by mb_codec_decode; the value is pushed into Lua (mb_lua_push_json) and
 *     converted back (mb_lua_to_json). Expected: refused, with a message, exactly when the value
 *     nests deeper than MB_LUA_MAX_DEPTH; otherwise equal to the original once its strings are
 *     normalized the way the documented mapping says (Lua has one string type: a WAMP binary
 *     "\0base64" comes back as text when its bytes are UTF-8 text not starting with NUL, else
 *     as canonical base64; a NUL-led string that is not base64 is bytes, so binary).
 *   odd: a Lua value built by a small stack program from the input (integers of any 64 bits,
 *     floats of any bits (NaN, inf), byte strings, booleans, the null sentinel, plain and
 *     array-marked tables, keys of every type, shared subtables and cycles, functions and
 *     userdata) → JSON. Expected: NULL with a non-empty message, or a value; when a value, it
 *     converts again (push, then to JSON) to an equal value. Always: the Lua stack is as before.
 *
 * The harness computes the expectations itself (depth, base64, UTF-8), not with value.c's code. */
#include "fuzz_util.h"

#include "mb_codec.h"
#include "mb_lua_value.h"

#include <lauxlib.h>
#include <lualib.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static lua_State *L;

/* ---- the expectation, written independently of value.c --------------------------------------- */

static int depth_of(json_t *v)
{
    int d = 0;
    if (json_is_array(v)) {
        for (size_t i = 0; i < json_array_size(v); i++) {
            int x = 1 + depth_of(json_array_get(v, i));
            d = x > d ? x : d;
        }
    } else if (json_is_object(v)) {
        const char *k;
        json_t *x;
        json_object_foreach(v, k, x) {
            int y = 1 + depth_of(x);
            d = y > d ? y : d;
        }
    }
    return d;
}

/* A base64 character's value: its place in the standard alphabet, or -1. */
static int sixbits(unsigned char c)
{
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const char *at = c ? strchr(alphabet, c) : NULL;
    return at ? (int)(at - alphabet) : -1;
}

/* Decodes padded base64 (groups of 4, '=' only at the end of the last group, "x=y" refused)
 * into out (n/4*3 bytes); the length, or -1. Trailing bits are ignored, as value.c does. */
static long unb64(const unsigned char *s, size_t n, unsigned char *out)
{
    if (n % 4)
        return -1;
    long o = 0;
    for (size_t i = 0; i < n; i += 4) {
        int last = i + 4 == n, pad = 0, v[4];
        for (int k = 0; k < 4; k++) {
            if (s[i + k] == '=' && last && k >= 2) {
                v[k] = 0;
                pad++;
            } else if ((v[k] = sixbits(s[i + k])) < 0 || pad) {
                return -1;
            }
        }
        uint32_t x = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | (uint32_t)v[3];
        out[o++] = (unsigned char)(x >> 16);
        if (pad < 2)
            out[o++] = (unsigned char)(x >> 8);
        if (pad < 1)
            out[o++] = (unsigned char)x;
    }
    return o;
}

static int utf8_text(const unsigned char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        unsigned c = s[i], len, cp;
        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf)
            len = 2, cp = c & 0x1f;
        else if (c >= 0xe0 && c <= 0xef)
            len = 3, cp = c & 0x0f;
        else if (c >= 0xf0 && c <= 0xf4)
            len = 4, cp = c & 0x07;
        else
            return 0;
        if (i + len > n)
            return 0;
        for (unsigned k = 1; k < len; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return 0;
            cp = cp << 6 | (s[i + k] & 0x3f);
        }
        if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
        i += len;
    }
    return 1;
}

/* The JSON string a Lua string of these bytes becomes. */
static json_t *lua_string_json(const unsigned char *b, size_t n)
{
    if (utf8_text(b, n) && (n == 0 || b[0] != 0))
        return json_stringn(b ? (const char *)b : "", n);
    static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *t = malloc(2 + 4 * (n / 3 + 1));
    size_t o = 0;
    t[o++] = 0;
    for (size_t i = 0; i < n; i += 3) {
        unsigned x = (unsigned)b[i] << 16 | (i + 1 < n ? b[i + 1] << 8 : 0) | (i + 2 < n ? b[i + 2] : 0);
        t[o++] = a[x >> 18 & 63];
        t[o++] = a[x >> 12 & 63];
        t[o++] = i + 1 < n ? a[x >> 6 & 63] : '=';
        t[o++] = i + 2 < n ? a[x & 63] : '=';
    }
    json_t *j = json_stringn(t, o);
    free(t);
    return j;
}

/* v with its strings as the Lua round trip writes them (a new value). */
static json_t *normalized(json_t *v)
{
    if (json_is_array(v)) {
        json_t *a = json_array();
        for (size_t i = 0; i < json_array_size(v); i++)
            json_array_append_new(a, normalized(json_array_get(v, i)));
        return a;
    }
    if (json_is_object(v)) {
        json_t *o = json_object();
        const char *k;
        size_t kl;
        json_t *x;
        json_object_keylen_foreach(v, k, kl, x) json_object_setn_new(o, k, kl, normalized(x));
        return o;
    }
    if (!json_is_string(v))
        return json_incref(v);
    const unsigned char *s = (const unsigned char *)json_string_value(v);
    size_t n = json_string_length(v);
    if (n == 0 || s[0] != 0)
        return json_incref(v); /* jansson strings are UTF-8 */
    unsigned char *bytes = malloc(n);
    long bl = unb64(s + 1, n - 1, bytes);
    json_t *r = bl >= 0 ? lua_string_json(bytes, (size_t)bl) : lua_string_json(s, n);
    free(bytes);
    return r;
}

static void json_to_lua_and_back(const unsigned char *d, size_t n, enum mb_ser ser)
{
    json_t *v = mb_codec_decode(ser, (const char *)d, n, NULL, 0);
    if (!v)
        return;
    int top = lua_gettop(L);
    mb_lua_push_json(L, v);
    ASSERT(lua_gettop(L) == top + 1);
    char err[200] = "";
    json_t *w = mb_lua_to_json(L, -1, err, sizeof err);
    ASSERT(lua_gettop(L) == top + 1);
    if (depth_of(v) > MB_LUA_MAX_DEPTH) {
        ASSERT(!w && strstr(err, "deeper"));
    } else {
        ASSERT(w);
        json_t *e = normalized(v);
        ASSERT(fz_veq(e, w));
        json_decref(e);
    }
    json_decref(w);
    json_decref(v);
}

/* ---- Lua values from a stack program ------------------------------------------------------- */

struct rd {
    const unsigned char *p, *end;
};

static unsigned u8(struct rd *r)
{
    return r->p < r->end ? *r->p++ : 0;
}

static uint64_t u64(struct rd *r)
{
    uint64_t x = 0;
    for (int i = 0; i < 8; i++)
        x |= (uint64_t)u8(r) << (8 * i);
    return x;
}

static int a_function(lua_State *l)
{
    (void)l;
    return 0;
}

/* Runs the program; leaves its values on the stack above base (at most 64). */
static void build(struct rd *r, int base)
{
    int steps = 0;
    ASSERT(lua_checkstack(L, 100));
    while (r->p < r->end && steps++ < 512) {
        int top = lua_gettop(L), have = top - base;
        unsigned op = u8(r);
        /* an operand: a stack slot above base, counted from the top */
        int pick = have ? top - (int)(u8(r) % (unsigned)have) : 0;
        if (have >= 64 && op % 24 < 12)
            op = 12;
        switch (op % 24) {
        case 0: lua_pushinteger(L, (lua_Integer)u64(r)); break;
        case 1: lua_pushinteger(L, (lua_Integer)(int8_t)u8(r)); break;
        case 2: {
            uint64_t bits = u64(r);
            double x;
            memcpy(&x, &bits, sizeof x);
            lua_pushnumber(L, x);
            break;
        }
        case 3: lua_pushnumber(L, (double)(int8_t)u8(r) / 4.0); break;
        case 4: {
            size_t n = u8(r) % 24;
            if (n > (size_t)(r->end - r->p))
                n = (size_t)(r->end - r->p);
            lua_pushlstring(L, (const char *)r->p, n);
            r->p += n;
            break;
        }
        case 5: lua_pushboolean(L, u8(r) & 1); break;
        case 6: lua_pushlightuserdata(L, mb_lua_null()); break;
        case 7: lua_newtable(L); break;
        case 8:
            lua_newtable(L);
            mb_lua_mark_array(L, -1);
            break;
        case 9: lua_pushcfunction(L, a_function); break;
        case 10: lua_newuserdatauv(L, 1, 0); break;
        case 11: lua_pushlightuserdata(L, (void *)r); break;
        case 12: case 13: case 14: /* t[k] = v: v the top, k below it, t picked below them */
            if (have >= 3) {
                int t = base + 1 + (int)(u8(r) % (unsigned)(have - 2));
                if (lua_istable(L, t) && !lua_isnil(L, -2) && !(lua_isnumber(L, -2) && lua_tonumber(L, -2) != lua_tonumber(L, -2))) {
                    lua_rawset(L, t);
                    break;
                }
            }
            lua_pop(L, have ? 1 : 0);
            break;
        case 15: case 16: /* append the top to the table picked (a cycle when it is the table) */
            if (have >= 1 && lua_istable(L, pick)) {
                lua_pushvalue(L, -1);
                lua_rawseti(L, pick, (lua_Integer)lua_rawlen(L, pick) + 1);
            }
            break;
        case 17: /* t[i] = v at a chosen small index (holes, 0, negatives) */
            if (have >= 2 && lua_istable(L, pick)) {
                lua_pushvalue(L, -1);
                lua_rawseti(L, pick, (lua_Integer)(int8_t)u8(r));
            }
            break;
        case 18: /* a table in itself: t.self = t */
            if (have >= 1 && lua_istable(L, pick)) {
                lua_pushvalue(L, pick);
                lua_setfield(L, pick, (u8(r) & 1) ? "self" : "\xff");
            }
            break;
        case 19: if (have) lua_pushvalue(L, pick); break;
        case 20: if (have) lua_remove(L, pick); break;
        case 21: lua_pushnil(L); break;
        case 22: /* deep nesting: wrap the top in n tables */
            if (have) {
                int k = u8(r) % 80;
                for (int i = 0; i < k; i++) {
                    lua_createtable(L, 1, 0);
                    lua_insert(L, -2);
                    lua_rawseti(L, -2, 1);
                }
            }
            break;
        default: /* a float key, a boolean key, a table key */
            if (have >= 1 && lua_istable(L, pick)) {
                unsigned k = u8(r) % 3;
                if (k == 0)
                    lua_pushnumber(L, 1.5);
                else if (k == 1)
                    lua_pushboolean(L, 1);
                else
                    lua_newtable(L);
                lua_pushvalue(L, -2);
                lua_rawset(L, pick);
            }
            break;
        }
    }
}

static void lua_to_json_and_back(const unsigned char *d, size_t n)
{
    struct rd r = { d, d + n };
    int base = lua_gettop(L);
    build(&r, base);
    for (int i = base + 1; i <= lua_gettop(L); i++) {
        char err[200] = "";
        int top = lua_gettop(L);
        json_t *v = mb_lua_to_json(L, i, err, sizeof err);
        ASSERT(lua_gettop(L) == top);
        if (!v) {
            ASSERT(err[0]);
            continue;
        }
        ASSERT(depth_of(v) <= MB_LUA_MAX_DEPTH);
        mb_lua_push_json(L, v);
        json_t *w = mb_lua_to_json(L, -1, err, sizeof err);
        lua_pop(L, 1);
        ASSERT(w && fz_veq(v, w));
        json_decref(w);
        json_decref(v);
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    L = luaL_newstate();
    ASSERT(L);
    mb_lua_value_init(L);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    lua_settop(L, 0);
    /* an exact-size copy: ASan sees any read past the end */
    size_t n = size - 1;
    unsigned char *d = malloc(n ? n : 1);
    memcpy(d, data + 1, n);
    if (data[0] & 1)
        lua_to_json_and_back(d, n);
    else
        json_to_lua_and_back(d, n, (enum mb_ser)((data[0] >> 1) % MB_SER_COUNT));
    free(d);
    lua_settop(L, 0);
    lua_gc(L, LUA_GCCOLLECT);
    return 0;
}
