/* mb_lua_value: exact conversion between WAMP values (jansson) and Lua values, WAMP binary
 * ("\0" + base64), the array mark, the depth limit, and a balanced Lua stack on every path.
 * Every test uses a plain luaL_newstate() (no standard libraries) + mb_lua_value_init(). */
#include "unit.h"

#include <math.h>
#include <stdint.h>
#include <sys/wait.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lua.h>

#include "mb_lua_value.h"

/* ---- helpers ---- */

static lua_State *new_state(void)
{
    lua_State *L = luaL_newstate();
    if (L)
        mb_lua_value_init(L);
    return L;
}

/* Decodes text (any JSON value, "\u0000" allowed); NULL if it is not JSON. */
static json_t *load(const char *text)
{
    json_error_t e;
    json_t *j = json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, &e);
    if (!j)
        printf("# json_loads(%s): %s\n", text, e.text);
    return j;
}

/* Compact text of j with sorted keys (Lua tables have no key order); NULL if jansson cannot
 * write it. Free with free(). */
static char *dump(const json_t *j)
{
    return json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY | JSON_SORT_KEYS);
}

/* mb_lua_push_json, checking it pushed exactly one value. */
#define PUSH(L, v) push_at(__FILE__, __LINE__, (L), (v))
static void push_at(const char *file, int line, lua_State *L, const json_t *v)
{
    int top = lua_gettop(L);
    mb_lua_push_json(L, v);
    if (lua_gettop(L) != top + 1)
        unit_fail(file, line, "mb_lua_push_json: stack went from %d to %d (want %d)", top,
                  lua_gettop(L), top + 1);
}

/* mb_lua_to_json, checking the stack is unchanged and a failure gives a reason. */
#define TO_JSON(L, idx, err) to_json_at(__FILE__, __LINE__, (L), (idx), (err), sizeof(err))
static json_t *to_json_at(const char *file, int line, lua_State *L, int idx, char *err,
                          size_t errlen)
{
    int top = lua_gettop(L);
    err[0] = '\0';
    json_t *j = mb_lua_to_json(L, idx, err, errlen);
    if (lua_gettop(L) != top)
        unit_fail(file, line, "mb_lua_to_json (%s): stack went from %d to %d", j ? "ok" : err,
                  top, lua_gettop(L));
    if (!j && err[0] == '\0')
        unit_fail(file, line, "mb_lua_to_json failed without a reason");
    return j;
}

/* Runs chunk with mb_lua_null() as its `...` and leaves its one result on the stack;
 * -1 (nothing pushed) if it does not load or run. */
static int eval(lua_State *L, const char *chunk)
{
    if (luaL_loadstring(L, chunk) != LUA_OK) {
        printf("# load %s: %s\n", chunk, lua_tostring(L, -1));
        lua_pop(L, 1);
        return -1;
    }
    lua_pushlightuserdata(L, mb_lua_null());
    if (lua_pcall(L, 1, 1, 0) != LUA_OK) {
        printf("# run %s: %s\n", chunk, lua_tostring(L, -1));
        lua_pop(L, 1);
        return -1;
    }
    return 0;
}

/* text → Lua → JSON gives back a value json_equal to text's, with the same compact text. */
#define ROUND_TRIP(L, text) round_trip_at(__FILE__, __LINE__, (L), (text))
static void round_trip_at(const char *file, int line, lua_State *L, const char *text)
{
    json_t *in = load(text);
    if (!in) {
        unit_fail(file, line, "%s is not JSON", text);
        return;
    }
    int top = lua_gettop(L);
    char err[256];
    push_at(file, line, L, in);
    json_t *out = to_json_at(file, line, L, -1, err, sizeof err);
    lua_settop(L, top);
    if (!out) {
        unit_fail(file, line, "%s: back to JSON failed: %s", text, err);
        json_decref(in);
        return;
    }
    char *a = dump(in), *b = dump(out);
    if (!json_equal(in, out))
        unit_fail(file, line, "%s: came back not json_equal: %s", text, unit_str(b));
    if (!a || !b || strcmp(a, b) != 0)
        unit_fail(file, line, "%s: text \"%s\" came back as \"%s\"", text, unit_str(a), unit_str(b));
    free(a);
    free(b);
    json_decref(in);
    json_decref(out);
}

/* The value at the top converts to JSON whose compact sorted text is want. Pops the value. */
#define TOP_GIVES(L, want) top_gives_at(__FILE__, __LINE__, (L), (want))
static void top_gives_at(const char *file, int line, lua_State *L, const char *want)
{
    char err[256];
    json_t *j = to_json_at(file, line, L, -1, err, sizeof err);
    lua_pop(L, 1);
    if (!j) {
        unit_fail(file, line, "want %s, failed: %s", want, err);
        return;
    }
    char *t = dump(j);
    if (!t || strcmp(t, want) != 0)
        unit_fail(file, line, "want %s, got %s", want, unit_str(t));
    free(t);
    json_decref(j);
}

/* chunk's result converts to JSON whose compact sorted text is want. */
#define LUA_GIVES(L, chunk, want) lua_gives_at(__FILE__, __LINE__, (L), (chunk), (want))
static void lua_gives_at(const char *file, int line, lua_State *L, const char *chunk,
                         const char *want)
{
    if (eval(L, chunk) < 0) {
        unit_fail(file, line, "chunk %s does not run", chunk);
        return;
    }
    top_gives_at(file, line, L, want);
}

/* The value at the top does not convert, and the reason contains word. Pops the value. */
#define TOP_FAILS(L, word) top_fails_at(__FILE__, __LINE__, (L), (word))
static void top_fails_at(const char *file, int line, lua_State *L, const char *word)
{
    char err[256];
    json_t *j = to_json_at(file, line, L, -1, err, sizeof err);
    lua_pop(L, 1);
    if (j) {
        char *t = dump(j);
        unit_fail(file, line, "converted to %s, want an error naming \"%s\"", unit_str(t), word);
        free(t);
        json_decref(j);
        return;
    }
    if (!strstr(err, word))
        unit_fail(file, line, "error \"%s\" lacks \"%s\"", err, word);
}

#define LUA_FAILS(L, chunk, word) lua_fails_at(__FILE__, __LINE__, (L), (chunk), (word))
static void lua_fails_at(const char *file, int line, lua_State *L, const char *chunk,
                         const char *word)
{
    if (eval(L, chunk) < 0) {
        unit_fail(file, line, "chunk %s does not run", chunk);
        return;
    }
    top_fails_at(file, line, L, word);
}

/* The Lua string bytes s[0..n) convert to a JSON string of exactly want[0..wn). */
#define BYTES_GIVE(L, s, n, want, wn) bytes_give_at(__FILE__, __LINE__, (L), (s), (n), (want), (wn))
static void bytes_give_at(const char *file, int line, lua_State *L, const char *s, size_t n,
                          const char *want, size_t wn)
{
    char err[256];
    lua_pushlstring(L, s, n);
    json_t *j = to_json_at(file, line, L, -1, err, sizeof err);
    lua_pop(L, 1);
    if (!j) {
        unit_fail(file, line, "%zu-byte string failed: %s", n, err);
        return;
    }
    if (!json_is_string(j)) {
        unit_fail(file, line, "%zu-byte string did not give a JSON string", n);
    } else if (json_string_length(j) != wn || memcmp(json_string_value(j), want, wn) != 0) {
        char *t = dump(j);
        unit_fail(file, line, "%zu-byte string gave %s (%zu bytes), want %zu bytes", n,
                  unit_str(t), json_string_length(j), wn);
        free(t);
    }
    json_decref(j);
}

/* The JSON string of exactly s[0..n) is pushed as the Lua string of exactly want[0..wn). */
#define JSON_STRING_GIVES(L, s, n, want, wn) \
    json_string_gives_at(__FILE__, __LINE__, (L), (s), (n), (want), (wn))
static void json_string_gives_at(const char *file, int line, lua_State *L, const char *s,
                                 size_t n, const char *want, size_t wn)
{
    json_t *j = json_stringn_nocheck(s, n);
    if (!j) {
        unit_fail(file, line, "json_stringn_nocheck failed");
        return;
    }
    push_at(file, line, L, j);
    json_decref(j);
    size_t got = 0;
    const char *p = lua_type(L, -1) == LUA_TSTRING ? lua_tolstring(L, -1, &got) : NULL;
    if (!p)
        unit_fail(file, line, "JSON string (%zu bytes) did not give a Lua string but a %s", n,
                  luaL_typename(L, -1));
    else if (got != wn || memcmp(p, want, wn) != 0)
        unit_fail(file, line, "JSON string (%zu bytes) gave a %zu-byte Lua string, want %zu bytes",
                  n, got, wn);
    lua_pop(L, 1);
}

/* text of n nested arrays around inner ("" for none): "[[...[inner]...]]". Free with free(). */
static char *nested_arrays(int n, const char *inner)
{
    size_t len = 2 * (size_t)n + strlen(inner) + 1;
    char *s = malloc(len);
    if (!s)
        return NULL;
    char *p = s;
    for (int i = 0; i < n; i++)
        *p++ = '[';
    p += sprintf(p, "%s", inner);
    for (int i = 0; i < n; i++)
        *p++ = ']';
    *p = '\0';
    return s;
}

/* Pushes text (JSON) as a Lua value and converts it back; returns the JSON (NULL on failure,
 * the reason in err). */
static json_t *json_via_lua(lua_State *L, const char *text, char *err, size_t errlen)
{
    json_t *in = load(text);
    if (!in) {
        snprintf(err, errlen, "not JSON");
        return NULL;
    }
    int top = lua_gettop(L);
    push_at(__FILE__, __LINE__, L, in);
    json_decref(in);
    json_t *out = to_json_at(__FILE__, __LINE__, L, -1, err, errlen);
    lua_settop(L, top);
    return out;
}

/* The table at idx carries the array metatable. */
static int is_marked(lua_State *L, int idx)
{
    idx = lua_absindex(L, idx);
    if (!lua_getmetatable(L, idx))
        return 0;
    luaL_getmetatable(L, MB_LUA_ARRAY_MT);
    int eq = lua_rawequal(L, -1, -2);
    lua_pop(L, 2);
    return eq;
}

/* ---- JSON → Lua → JSON round trips ---- */

TEST(integers_round_trip_exactly_as_lua_integers)
{
    lua_State *L = new_state();
    REQUIRE(L);
    const char *texts[] = { "0", "-1", "1", "9007199254740992", "-9007199254740992",
                            "9223372036854775807", "-9223372036854775808" };
    const long long want[] = { 0, -1, 1, 9007199254740992LL, -9007199254740992LL, INT64_MAX,
                               INT64_MIN };
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        ROUND_TRIP(L, texts[i]);
        json_t *j = load(texts[i]);
        REQUIRE(j);
        PUSH(L, j);
        CHECK(lua_isinteger(L, -1));
        CHECK_EQ_INT(lua_tointeger(L, -1), want[i]);
        lua_pop(L, 1);
        json_decref(j);
    }
    ROUND_TRIP(L, "[0,-1,9007199254740992,-9007199254740992,9223372036854775807,-9223372036854775808]");
    CHECK_EQ_INT(lua_gettop(L), 0);
    lua_close(L);
}

TEST(floats_round_trip_exactly_and_stay_floats)
{
    lua_State *L = new_state();
    REQUIRE(L);
    const char *texts[] = { "0.5", "1e300", "-0.0", "1.0", "-2.5e-300", "0.1" };
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        ROUND_TRIP(L, texts[i]);
        json_t *j = load(texts[i]);
        REQUIRE(j);
        PUSH(L, j);
        CHECK(lua_type(L, -1) == LUA_TNUMBER && !lua_isinteger(L, -1));
        CHECK(lua_tonumber(L, -1) == json_real_value(j));
        char err[256];
        json_t *back = TO_JSON(L, -1, err);
        CHECK(json_is_real(back));
        lua_pop(L, 1);
        json_decref(back);
        json_decref(j);
    }
    /* -0.0 keeps its sign (json_equal cannot see it; the text and signbit can) */
    json_t *z = json_real(-0.0);
    PUSH(L, z);
    CHECK(signbit(lua_tonumber(L, -1)));
    char err[256];
    json_t *back = TO_JSON(L, -1, err);
    REQUIRE(json_is_real(back));
    CHECK(json_real_value(back) == 0.0 && signbit(json_real_value(back)));
    char *t = dump(back);
    CHECK_EQ_STR(t, "-0.0");
    free(t);
    json_decref(back);
    json_decref(z);
    lua_pop(L, 1);
    ROUND_TRIP(L, "[0.5,1e300,-0.0,1.0]");
    CHECK_EQ_INT(lua_gettop(L), 0);
    lua_close(L);
}

TEST(strings_with_unicode_and_embedded_nul_round_trip_exactly)
{
    lua_State *L = new_state();
    REQUIRE(L);
    ROUND_TRIP(L, "\"\"");
    ROUND_TRIP(L, "\"plain ascii\"");
    ROUND_TRIP(L, "\"h\\u00e9llo w\\u00f6rld \\u2713 \\u20ac \\ud83d\\ude00\"");
    ROUND_TRIP(L, "\"a\\u0000b\"");
    ROUND_TRIP(L, "\"tail\\u0000\"");
    ROUND_TRIP(L, "\"quote \\\" backslash \\\\ newline \\n tab \\t\"");
    ROUND_TRIP(L, "{\"v\":\"v\\u0000al\",\"\\u00fc\":\"\\ud83d\\ude00\"}");

    /* the Lua string holds the exact bytes, NUL included */
    json_t *j = load("\"a\\u0000\\u00e9\\ud83d\\ude00\"");
    REQUIRE(j);
    PUSH(L, j);
    size_t n = 0;
    const char *s = lua_tolstring(L, -1, &n);
    CHECK_EQ_INT(n, 1 + 1 + 2 + 4);
    CHECK(s && memcmp(s, "a\0\xc3\xa9\xf0\x9f\x98\x80", 8) == 0);
    lua_pop(L, 1);
    json_decref(j);

    /* an object key with a NUL comes through whole, both ways (jansson's parser refuses such
     * keys, so the object is built by hand) */
    j = json_object();
    REQUIRE(j);
    json_object_setn_new(j, "k\0ey", 4, json_integer(1));
    json_object_set_new(j, "plain", json_integer(2));
    PUSH(L, j);
    lua_pushlstring(L, "k\0ey", 4);
    lua_rawget(L, -2);
    CHECK(lua_isinteger(L, -1) && lua_tointeger(L, -1) == 1);
    lua_pop(L, 1);
    char err[256];
    json_t *back = TO_JSON(L, -1, err);
    lua_pop(L, 1);
    /* json_equal cannot compare keys holding a NUL (it looks them up as C strings, so two
     * identical such objects are unequal): compare by length-aware lookup and text */
    REQUIRE(back);
    CHECK_EQ_INT(json_object_size(back), 2);
    CHECK(json_integer_value(json_object_getn(back, "k\0ey", 4)) == 1);
    CHECK(json_object_getn(back, "k\0ey", 4) != NULL && json_object_get(back, "k") == NULL);
    char *a = dump(j), *b = dump(back);
    CHECK_EQ_STR(b, a);
    CHECK_EQ_STR(b, "{\"k\\u0000ey\":1,\"plain\":2}");
    free(a);
    free(b);
    json_decref(back);
    json_decref(j);
    CHECK_EQ_INT(lua_gettop(L), 0);
    lua_close(L);
}

TEST(booleans_round_trip_as_lua_booleans)
{
    lua_State *L = new_state();
    REQUIRE(L);
    ROUND_TRIP(L, "true");
    ROUND_TRIP(L, "false");
    ROUND_TRIP(L, "[true,false]");
    json_t *j = load("false");
    PUSH(L, j);
    CHECK(lua_isboolean(L, -1) && !lua_toboolean(L, -1));
    lua_pop(L, 1);
    json_decref(j);
    j = load("true");
    PUSH(L, j);
    CHECK(lua_isboolean(L, -1) && lua_toboolean(L, -1));
    lua_pop(L, 1);
    json_decref(j);
    lua_close(L);
}

TEST(null_becomes_the_light_userdata_sentinel_and_comes_back_as_null)
{
    lua_State *L = new_state();
    REQUIRE(L);
    CHECK(mb_lua_null() != NULL);
    CHECK(mb_lua_null() == mb_lua_null());
    ROUND_TRIP(L, "null");
    json_t *j = json_null();
    PUSH(L, j);
    CHECK(lua_islightuserdata(L, -1));
    CHECK(lua_touserdata(L, -1) == mb_lua_null());
    char err[256];
    json_t *back = TO_JSON(L, -1, err);
    CHECK(json_is_null(back));
    json_decref(back);
    lua_pop(L, 1);
    /* as an object member the key stays (nil would delete it) */
    ROUND_TRIP(L, "{\"a\":null,\"b\":1}");
    CHECK_EQ_INT(lua_gettop(L), 0);
    lua_close(L);
}

TEST(nested_arrays_and_objects_round_trip_exactly)
{
    lua_State *L = new_state();
    REQUIRE(L);
    ROUND_TRIP(L, "[1,[2,[3,[4]]]]");
    ROUND_TRIP(L, "{\"a\":{\"b\":{\"c\":{}}}}");
    ROUND_TRIP(L, "{\"a\":[1,\"two\",3.5,{\"b\":null,\"c\":[true,false]}],\"d\":{\"e\":[[],{}]},"
                  "\"f\":\"x\"}");
    ROUND_TRIP(L, "[{\"1\":\"one\",\"2\":\"two\"},[\"1\",\"2\"]]");
    ROUND_TRIP(L, "[[],[[]],{},[{}]]");
    CHECK_EQ_INT(lua_gettop(L), 0);
    lua_close(L);
}

TEST(empty_array_and_empty_object_keep_their_kind_both_ways)
{
    lua_State *L = new_state();
    REQUIRE(L);
    ROUND_TRIP(L, "[]");
    ROUND_TRIP(L, "{}");
    ROUND_TRIP(L, "[[],{}]");
    ROUND_TRIP(L, "{\"a\":[],\"b\":{}}");

    json_t *a = json_array(), *o = json_object();
    PUSH(L, a);
    CHECK(lua_istable(L, -1) && is_marked(L, -1));
    CHECK_EQ_INT(lua_rawlen(L, -1), 0);
    PUSH(L, o);
    CHECK(lua_istable(L, -1) && !is_marked(L, -1));
    lua_pushnil(L);
    CHECK(lua_next(L, -2) == 0); /* no entries */
    lua_pop(L, 2);
    json_decref(a);
    json_decref(o);
    CHECK_EQ_INT(lua_gettop(L), 0);
    lua_close(L);
}

TEST(arrays_with_null_in_the_middle_and_at_the_end_round_trip)
{
    lua_State *L = new_state();
    REQUIRE(L);
    ROUND_TRIP(L, "[1,null,3]");
    ROUND_TRIP(L, "[1,2,null]");
    ROUND_TRIP(L, "[null]");
    ROUND_TRIP(L, "[null,null,null]");
    ROUND_TRIP(L, "[null,[null],{\"a\":null},null]");
    json_t *j = load("[1,2,null]");
    PUSH(L, j);
    CHECK_EQ_INT(lua_rawlen(L, -1), 3);
    lua_rawgeti(L, -1, 3);
    CHECK(lua_touserdata(L, -1) == mb_lua_null());
    lua_pop(L, 2);
    json_decref(j);
    CHECK_EQ_INT(lua_gettop(L), 0);
    lua_close(L);
}

/* ---- Lua → JSON rules ---- */

TEST(plain_sequence_becomes_an_array)
{
    lua_State *L = new_state();
    REQUIRE(L);
    LUA_GIVES(L, "return {1, 2, 3}", "[1,2,3]");
    LUA_GIVES(L, "return {'a', {true, false}, {x = 1}}", "[\"a\",[true,false],{\"x\":1}]");
    LUA_GIVES(L, "local t = {} t[2] = 'b' t[1] = 'a' return t", "[\"a\",\"b\"]");
    LUA_GIVES(L, "local null = ... return {1, null, 3}", "[1,null,3]");
    LUA_GIVES(L, "local null = ... return {null}", "[null]");
    CHECK_EQ_INT(lua_gettop(L), 0);
    lua_close(L);
}

TEST(table_with_holes_or_string_keys_becomes_an_object)
{
    lua_State *L = new_state();
    REQUIRE(L);
    LUA_GIVES(L, "return {[1] = 'a', [3] = 'c'}", "{\"1\":\"a\",\"3\":\"c\"}");
    LUA_GIVES(L, "return {[2] = 'b'}", "{\"2\":\"b\"}");
    LUA_GIVES(L, "return {x = 1, y = 'two'}", "{\"x\":1,\"y\":\"two\"}");
    LUA_GIVES(L, "return {['1'] = 'string key'}", "{\"1\":\"string key\"}");
    LUA_GIVES(L, "return {[0] = 'zero'}", "{\"0\":\"zero\"}");
    CHECK_EQ_INT(lua_gettop(L), 0);
    lua_close(L);
}

TEST(integer_keys_in_a_mixed_table_become_decimal_strings)
{
    lua_State *L = new_state();
    REQUIRE(L);
    LUA_GIVES(L, "return {10, 20, x = 1, [-5] = 2, [0] = 3}",
              "{\"-5\":2,\"0\":3,\"1\":10,\"2\":20,\"x\":1}");
    LUA_GIVES(L, "return {[9007199254740993] = 1, k = 2}",
              "{\"9007199254740993\":1,\"k\":2}");
    LUA_GIVES(L, "return {[-9223372036854775807 - 1] = 1, a = 0}",
              "{\"-9223372036854775808\":1,\"a\":0}");
    /* 2.0 as a key is the integer 2 in Lua */
    LUA_GIVES(L, "return {[2.0] = 'b', z = 1}", "{\"2\":\"b\",\"z\":1}");
    CHECK_EQ_INT(lua_gettop(L), 0);
    lua_close(L);
}

TEST(keys_that_are_neither_strings_nor_integers_fail_with_a_reason)
{
    lua_State *L = new_state();
    REQUIRE(L);
    LUA_FAILS(L, "return {[1.5] = 1}", "number");
    LUA_FAILS(L, "return {[true] = 1}", "boolean");
    LUA_FAILS(L, "return {[{}] = 1}", "table");
    LUA_FAILS(L, "return {a = {[false] = 1}}", "boolean");
    CHECK_EQ_INT(lua_gettop(L), 0);
    lua_close(L);
}

TEST(empty_plain_table_becomes_an_empty_object)
{
    lua_State *L = new_state();
    REQUIRE(L);
    LUA_GIVES(L, "return {}", "{}");
    lua_newtable(L);
    TOP_GIVES(L, "{}");
    LUA_GIVES(L, "return {{}, {a = {}}}", "[{},{\"a\":{}}]");
    CHECK_EQ_INT(lua_gettop(L), 0);
    lua_close(L);
}

TEST(empty_marked_table_becomes_an_empty_array)
{
    lua_State *L = new_state();
    REQUIRE(L);
    lua_newtable(L);
    mb_lua_mark_array(L, -1);
    CHECK_EQ_INT(lua_gettop(L), 1);
    CHECK(is_marked(L, -1));
    TOP_GIVES(L, "[]");

    /* inside an object too */
    lua_newtable(L);
    lua_newtable(L);
    mb_lua_mark_array(L, -1);
    lua_setfield(L, -2, "list");
    TOP_GIVES(L, "{\"list\":[]}");
    CHECK_EQ_INT(lua_gettop(L), 0);
    lua_close(L);
}

TEST(mark_array_marks_the_table_at_the_given_index)
{
    /* mb_lua_mark_array(L, idx) should mark the table at idx, not whatever is on top */
    lua_State *L = new_state();
    REQUIRE(L);
    lua_newtable(L); /* 1: the table to mark */
    lua_newtable(L); /* 2: another table on top */
    mb_lua_mark_array(L, 1);
    CHECK_EQ_INT(lua_gettop(L), 2);
    CHECK(is_marked(L, 1));
    CHECK(!is_marked(L, 2));
    lua_pop(L, 1);
    TOP_GIVES(L, "[]");

    lua_newtable(L);
    lua_pushinteger(L, 7);
    mb_lua_mark_array(L, -2);
    CHECK_EQ_INT(lua_gettop(L), 2);
    CHECK(is_marked(L, -2));
    lua_pop(L, 1);
    TOP_GIVES(L, "[]");
    lua_close(L);
}

TEST(nil_in_a_marked_array_position_becomes_null)
{
    lua_State *L = new_state();
    REQUIRE(L);
    lua_createtable(L, 3, 0);
    lua_pushinteger(L, 1);
    lua_rawseti(L, -2, 1);
    lua_pushinteger(L, 3);
    lua_rawseti(L, -2, 3);
    mb_lua_mark_array(L, -1);
    CHECK_EQ_INT(lua_rawlen(L, -1), 3);
    TOP_GIVES(L, "[1,null,3]");

    REQUIRE(eval(L, "return {1, nil, 3}") == 0);
    mb_lua_mark_array(L, -1);
    TOP_GIVES(L, "[1,null,3]");

    /* the same table unmarked has a hole, so it is an object */
    LUA_GIVES(L, "return {1, nil, 3}", "{\"1\":1,\"3\":3}");
    CHECK_EQ_INT(lua_gettop(L), 0);
    lua_close(L);
}

TEST(integral_floats_stay_floats)
{
    lua_State *L = new_state();
    REQUIRE(L);
    char err[256];
    lua_pushnumber(L, 1.0);
    json_t *j = TO_JSON(L, -1, err);
    CHECK(json_is_real(j));
    CHECK(!json_is_integer(j));
    CHECK(json_real_value(j) == 1.0);
    json_decref(j);
    lua_pop(L, 1);
    LUA_GIVES(L, "return 1.0", "1.0");
    LUA_GIVES(L, "return 2^53", "9007199254740992.0");
    LUA_GIVES(L, "return {1.0, 2, -0.0, 3 / 1}", "[1.0,2,-0.0,3.0]");
    LUA_GIVES(L, "return 7 // 1", "7");
    CHECK_EQ_INT(lua_gettop(L), 0);
    lua_close(L);
}

TEST(nan_and_infinity_fail_with_a_reason)
{
    lua_State *L = new_state();
    REQUIRE(L);
    LUA_FAILS(L, "local z = 0 return z / z", "nan");
    LUA_FAILS(L, "return 1 / 0", "inf");
    LUA_FAILS(L, "return -1 / 0", "-inf");
    LUA_FAILS(L, "return 1e308 * 10", "JSON");
    LUA_FAILS(L, "return {1, 2, 1 / 0}", "inf");
    LUA_FAILS(L, "return {x = {y = -1 / 0}}", "inf");
    CHECK_EQ_INT(lua_gettop(L), 0);
    lua_close(L);
}

static int a_c_function(lua_State *L)
{
    return 0;
}

TEST(functions_userdata_and_threads_fail_with_a_reason)
{
    lua_State *L = new_state();
    REQUIRE(L);
    lua_pushcfunction(L, a_c_function);
    TOP_FAILS(L, "function");
    LUA_FAILS(L, "return function() end", "function");
    LUA_FAILS(L, "return {f = function() end}", "function");
    LUA_FAILS(L, "return {1, 2, function() end}", "function");

    lua_newuserdatauv(L, 16, 0);
    TOP_FAILS(L, "userdata");
    lua_newtable(L);
    lua_newuserdatauv(L, 8, 1);
    lua_setfield(L, -2, "u");
    TOP_FAILS(L, "userdata");

    /* a light userdata other than the null sentinel */
    static int other;
    lua_pushlightuserdata(L, &other);
    TOP_FAILS(L, "userdata");

    lua_newthread(L);
    TOP_FAILS(L, "thread");
    lua_createtable(L, 1, 0);
    lua_newthread(L);
    lua_rawseti(L, -2, 1);
    TOP_FAILS(L, "thread");
    CHECK_EQ_INT(lua_gettop(L), 0);
    lua_close(L);
}

TEST(a_cycle_fails_with_a_reason_naming_the_depth_limit)
{
    lua_State *L = new_state();
    REQUIRE(L);
    char limit[16];
    snprintf(limit, sizeof limit, "%d", MB_LUA_MAX_DEPTH);
    LUA_FAILS(L, "local t = {} t.self = t return t", limit);
    LUA_FAILS(L, "local t = {} t.self = t return t", "deeper");
    LUA_FAILS(L, "local a = {} a[1] = a return a", limit);
    LUA_FAILS(L, "local a, b = {}, {} a.b = b b[1] = a return {a}", limit);
    lua_newtable(L);
    lua_pushvalue(L, -1);
    lua_rawseti(L, -2, 1);
    mb_lua_mark_array(L, -1);
    TOP_FAILS(L, "cycle");
    CHECK_EQ_INT(lua_gettop(L), 0);
    lua_close(L);
}

/* Depth as implemented: the value passed in is level 0, each table adds a level, and any value
 * (table or not) at a level above MB_LUA_MAX_DEPTH fails. So a value inside 64 tables converts
 * and one inside 65 does not. */
TEST(a_value_nested_in_64_tables_converts_and_in_65_fails)
{
    lua_State *L = new_state();
    REQUIRE(L);
    CHECK_EQ_INT(MB_LUA_MAX_DEPTH, 64);
    char err[256];
    char *t64 = nested_arrays(MB_LUA_MAX_DEPTH, "1");
    char *t65 = nested_arrays(MB_LUA_MAX_DEPTH + 1, "1");
    REQUIRE(t64 && t65);
    json_t *j = json_via_lua(L, t64, err, sizeof err);
    CHECK(j != NULL);
    char *back = j ? dump(j) : NULL;
    if (j)
        CHECK_EQ_STR(back, t64);
    free(back);
    json_decref(j);

    j = json_via_lua(L, t65, err, sizeof err);
    CHECK(j == NULL);
    CHECK_HAS_STR(err, "64");
    json_decref(j);

    /* objects count the same as arrays */
    char obj64[1024] = "", obj65[1024] = "";
    for (int i = 0; i < MB_LUA_MAX_DEPTH; i++)
        strcat(obj64, "{\"a\":");
    strcat(obj64, "1");
    for (int i = 0; i < MB_LUA_MAX_DEPTH; i++)
        strcat(obj64, "}");
    snprintf(obj65, sizeof obj65, "{\"a\":%s}", obj64);
    j = json_via_lua(L, obj64, err, sizeof err);
    CHECK(j != NULL);
    json_decref(j);
    j = json_via_lua(L, obj65, err, sizeof err);
    CHECK(j == NULL);
    json_decref(j);
    free(t64);
    free(t65);
    CHECK_EQ_INT(lua_gettop(L), 0);
    lua_close(L);
}

/* Documents the edge of the same rule: with nothing inside, the innermost table is itself the
 * deepest value, so 65 nested empty tables (levels 0..64) convert and 66 fail. */
TEST(depth_limit_counts_levels_so_65_nested_empty_tables_convert_and_66_fail)
{
    lua_State *L = new_state();
    REQUIRE(L);
    char err[256];
    char *t65 = nested_arrays(MB_LUA_MAX_DEPTH + 1, "");
    char *t66 = nested_arrays(MB_LUA_MAX_DEPTH + 2, "");
    REQUIRE(t65 && t66);
    json_t *j = json_via_lua(L, t65, err, sizeof err);
    CHECK(j != NULL);
    json_decref(j);
    j = json_via_lua(L, t66, err, sizeof err);
    CHECK(j == NULL);
    CHECK_HAS_STR(err, "64");
    json_decref(j);
    free(t65);
    free(t66);

    /* nil in a marked array is written as null without counting a level */
    char *t64 = nested_arrays(MB_LUA_MAX_DEPTH, "null");
    REQUIRE(t64);
    j = json_via_lua(L, t64, err, sizeof err);
    CHECK(j != NULL);
    json_decref(j);
    free(t64);
    CHECK_EQ_INT(lua_gettop(L), 0);
    lua_close(L);
}

TEST(deep_values_push_into_lua_whole)
{
    /* push_json has no depth limit of its own: jansson's parser (2048 levels) bounds it */
    lua_State *L = new_state();
    REQUIRE(L);
    char *t = nested_arrays(1000, "\"deep\"");
    REQUIRE(t);
    json_t *j = load(t);
    REQUIRE(j);
    PUSH(L, j);
    for (int i = 0; i < 1000; i++) {
        REQUIRE(lua_istable(L, -1));
        lua_rawgeti(L, -1, 1);
        lua_remove(L, -2);
    }
    CHECK_EQ_STR(lua_tostring(L, -1), "deep");
    lua_pop(L, 1);
    json_decref(j);
    free(t);
    CHECK_EQ_INT(lua_gettop(L), 0);
    lua_close(L);
}

/* ---- binary: "\0" + base64 ---- */

TEST(lua_string_that_is_not_utf8_becomes_wamp_binary)
{
    lua_State *L = new_state();
    REQUIRE(L);
    BYTES_GIVE(L, "\xff\x00\x01", 3, "\0/wAB", 5);
    BYTES_GIVE(L, "\xff", 1, "\0/w==", 5);
    BYTES_GIVE(L, "\xff\xfe", 2, "\0//4=", 5);
    BYTES_GIVE(L, "\x80\x81\x82\x83", 4, "\0gIGCgw==", 9);
    BYTES_GIVE(L, "abc\xff", 4, "\0YWJj/w==", 9);
    /* inside tables too */
    REQUIRE(eval(L, "return {b = '\\xff\\x00\\x01', [1] = 'x'}") == 0);
    TOP_GIVES(L, "{\"1\":\"x\",\"b\":\"\\u0000/wAB\"}");
    REQUIRE(eval(L, "return {'\\xff'}") == 0);
    TOP_GIVES(L, "[\"\\u0000/w==\"]");
    CHECK_EQ_INT(lua_gettop(L), 0);
    lua_close(L);
}

TEST(lua_string_starting_with_nul_goes_as_binary_so_no_peer_misreads_it)
{
    /* "\0..." as a JSON string would be read as binary by a WAMP peer, so it is sent as
     * binary even when it is valid UTF-8; a NUL later in the string is just text */
    lua_State *L = new_state();
    REQUIRE(L);
    BYTES_GIVE(L, "\0abc", 4, "\0AGFiYw==", 9);
    BYTES_GIVE(L, "\0", 1, "\0AA==", 5);
    BYTES_GIVE(L, "a\0b", 3, "a\0b", 3);
    BYTES_GIVE(L, "", 0, "", 0);
    CHECK_EQ_INT(lua_gettop(L), 0);
    lua_close(L);
}

TEST(json_nul_plus_valid_base64_becomes_the_raw_bytes_in_lua)
{
    lua_State *L = new_state();
    REQUIRE(L);
    JSON_STRING_GIVES(L, "\0/wAB", 5, "\xff\x00\x01", 3);
    JSON_STRING_GIVES(L, "\0/w==", 5, "\xff", 1);
    JSON_STRING_GIVES(L, "\0//4=", 5, "\xff\xfe", 2);
    JSON_STRING_GIVES(L, "\0aGVsbG8=", 9, "hello", 5);
    JSON_STRING_GIVES(L, "\0AAAA", 5, "\0\0\0", 3);
    JSON_STRING_GIVES(L, "\0", 1, "", 0); /* empty binary */
    JSON_STRING_GIVES(L, "\0+/+/", 5, "\xfb\xff\xbf", 3);
    CHECK_EQ_INT(lua_gettop(L), 0);
    lua_close(L);
}

TEST(binary_that_is_not_text_round_trips_exactly)
{
    lua_State *L = new_state();
    REQUIRE(L);
    ROUND_TRIP(L, "\"\\u0000/wAB\"");
    ROUND_TRIP(L, "\"\\u0000/w==\"");
    ROUND_TRIP(L, "\"\\u0000//4=\"");
    ROUND_TRIP(L, "\"\\u0000AGFiYw==\"");
    ROUND_TRIP(L, "[\"\\u0000gIGCgw==\",{\"b\":\"\\u0000/wAB\"}]");

    /* every byte value: Lua → JSON → Lua gives back the same bytes */
    char all[256];
    for (int i = 0; i < 256; i++)
        all[i] = (char)(255 - i);
    char err[256];
    lua_pushlstring(L, all, sizeof all);
    json_t *j = TO_JSON(L, -1, err);
    lua_pop(L, 1);
    REQUIRE(j);
    CHECK(json_string_length(j) == 1 + 4 * ((256 + 2) / 3) && json_string_value(j)[0] == '\0');
    PUSH(L, j);
    size_t n = 0;
    const char *s = lua_tolstring(L, -1, &n);
    CHECK(s && n == sizeof all && memcmp(s, all, n) == 0);
    lua_pop(L, 1);
    json_decref(j);
    CHECK_EQ_INT(lua_gettop(L), 0);
    lua_close(L);
}

TEST(binary_that_decodes_to_text_comes_back_as_a_string)
{
    /* documents a loss: Lua strings do not say binary or text, so binary "hello" goes back as
     * the text "hello" */
    lua_State *L = new_state();
    REQUIRE(L);
    char err[256];
    json_t *j = json_via_lua(L, "\"\\u0000aGVsbG8=\"", err, sizeof err);
    REQUIRE(j);
    CHECK_EQ_STR(json_string_value(j), "hello");
    json_decref(j);
    lua_close(L);
}

TEST(json_nul_plus_invalid_base64_is_left_as_is)
{
    lua_State *L = new_state();
    REQUIRE(L);
    JSON_STRING_GIVES(L, "\0abc", 4, "\0abc", 4);           /* length not 4k */
    JSON_STRING_GIVES(L, "\0ab", 3, "\0ab", 3);
    JSON_STRING_GIVES(L, "\0ab!d", 5, "\0ab!d", 5);         /* not in the alphabet */
    JSON_STRING_GIVES(L, "\0ab d", 5, "\0ab d", 5);
    JSON_STRING_GIVES(L, "\0ab-_", 5, "\0ab-_", 5);         /* base64url is not base64 */
    JSON_STRING_GIVES(L, "\0====", 5, "\0====", 5);         /* padding only */
    JSON_STRING_GIVES(L, "\0A===", 5, "\0A===", 5);         /* padding too early */
    JSON_STRING_GIVES(L, "\0AA\0A", 5, "\0AA\0A", 5);       /* a NUL inside */
    JSON_STRING_GIVES(L, "\0\xc3\xa9\xc3\xa9", 5, "\0\xc3\xa9\xc3\xa9", 5);
    CHECK_EQ_INT(lua_gettop(L), 0);
    lua_close(L);
}

TEST(json_nul_plus_base64_with_data_after_padding_is_left_as_is)
{
    /* "AA=A": a data character after '=' is not base64 */
    lua_State *L = new_state();
    REQUIRE(L);
    JSON_STRING_GIVES(L, "\0AA=A", 5, "\0AA=A", 5);
    JSON_STRING_GIVES(L, "\0/w=B", 5, "\0/w=B", 5);
    CHECK_EQ_INT(lua_gettop(L), 0);
    lua_close(L);
}

TEST(json_nul_plus_base64_with_padding_before_the_last_group_is_left_as_is)
{
    /* padding may only end the text: "/w==AAAA" is not base64 */
    lua_State *L = new_state();
    REQUIRE(L);
    JSON_STRING_GIVES(L, "\0/w==AAAA", 9, "\0/w==AAAA", 9);
    JSON_STRING_GIVES(L, "\0//4=AAAA", 9, "\0//4=AAAA", 9);
    CHECK_EQ_INT(lua_gettop(L), 0);
    lua_close(L);
}

TEST(valid_utf8_strings_are_not_touched)
{
    lua_State *L = new_state();
    REQUIRE(L);
    const char *texts[] = {
        "hello",
        "h\xc3\xa9llo",             /* é, 2 bytes */
        "\xe2\x82\xac",             /* €, 3 bytes */
        "\xf0\x9f\x98\x80",         /* 😀, 4 bytes */
        "\xf0\x9f\x98\x80\xf0\x9f\x91\x8d tail",
        "\x7f",                     /* U+007F, last 1-byte */
        "\xc2\x80",                 /* U+0080, first 2-byte */
        "\xdf\xbf",                 /* U+07FF, last 2-byte */
        "\xe0\xa0\x80",             /* U+0800, first 3-byte */
        "\xed\x9f\xbf",             /* U+D7FF, just below the surrogates */
        "\xee\x80\x80",             /* U+E000, just above them */
        "\xef\xbf\xbf",             /* U+FFFF */
        "\xf0\x90\x80\x80",         /* U+10000, first 4-byte */
        "\xf4\x8f\xbf\xbf",         /* U+10FFFF, the last code point */
    };
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++)
        BYTES_GIVE(L, texts[i], strlen(texts[i]), texts[i], strlen(texts[i]));
    /* and JSON → Lua leaves them alone too */
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++)
        JSON_STRING_GIVES(L, texts[i], strlen(texts[i]), texts[i], strlen(texts[i]));
    CHECK_EQ_INT(lua_gettop(L), 0);
    lua_close(L);
}

TEST(overlong_encodings_surrogates_and_broken_sequences_are_binary)
{
    lua_State *L = new_state();
    REQUIRE(L);
    struct {
        const char *s;
        size_t n;
    } bad[] = {
        { "\xc0\x80", 2 },         /* overlong NUL */
        { "\xc1\xbf", 2 },         /* overlong U+007F */
        { "\xe0\x80\x80", 3 },     /* overlong, 3 bytes */
        { "\xe0\x9f\xbf", 3 },     /* overlong U+07FF */
        { "\xf0\x80\x80\x80", 4 }, /* overlong, 4 bytes */
        { "\xf0\x8f\xbf\xbf", 4 }, /* overlong U+FFFF */
        { "\xed\xa0\x80", 3 },     /* U+D800, a surrogate */
        { "\xed\xbf\xbf", 3 },     /* U+DFFF */
        { "\xed\xa0\xbd\xed\xb8\x80", 6 }, /* CESU-8 pair for 😀 */
        { "\xf4\x90\x80\x80", 4 }, /* U+110000, past the last code point */
        { "\xf5\x80\x80\x80", 4 },
        { "\xf8\x88\x80\x80\x80", 5 }, /* 5-byte form */
        { "\xe2\x82", 2 },         /* truncated € */
        { "ab\xe2\x82", 4 },
        { "\x80", 1 },             /* lone continuation byte */
        { "\xc3(", 2 },            /* lead byte, then no continuation */
        { "\xfe\xff", 2 },
    };
    char err[256];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        lua_pushlstring(L, bad[i].s, bad[i].n);
        json_t *j = TO_JSON(L, -1, err);
        lua_pop(L, 1);
        if (!j) {
            unit_fail(__FILE__, __LINE__, "case %zu failed: %s", i, err);
            continue;
        }
        if (!json_is_string(j) || json_string_length(j) < 1 || json_string_value(j)[0] != '\0')
            unit_fail(__FILE__, __LINE__, "case %zu (%zu bytes) was not sent as binary", i,
                      bad[i].n);
        /* and the binary decodes back to the same bytes */
        PUSH(L, j);
        size_t n = 0;
        const char *s = lua_tolstring(L, -1, &n);
        if (!s || n != bad[i].n || memcmp(s, bad[i].s, n) != 0)
            unit_fail(__FILE__, __LINE__, "case %zu did not come back as the same bytes", i);
        lua_pop(L, 1);
        /* the binary string is valid JSON text (dumps) */
        char *t = dump(j);
        if (!t)
            unit_fail(__FILE__, __LINE__, "case %zu: json_dumps failed", i);
        free(t);
        json_decref(j);
    }
    BYTES_GIVE(L, "\xed\xa0\x80", 3, "\0" "7aCA", 5);
    BYTES_GIVE(L, "\xc0\x80", 2, "\0wIA=", 5);
    CHECK_EQ_INT(lua_gettop(L), 0);
    lua_close(L);
}

TEST(object_keys_that_are_not_utf8_give_an_error_or_json_that_writes_faithfully)
{
    /* string values that are not UTF-8 go as binary, but keys go to jansson unchecked: such a
     * key must either be refused with a reason or be written so that it reads back the same */
    lua_State *L = new_state();
    REQUIRE(L);
    const char *chunks[] = { "return {['\\xff'] = 1}", "return {['\\xed\\xa0\\x80'] = 1}",
                             "return {a = {['k\\xc0\\x80'] = true}}" };
    for (size_t i = 0; i < sizeof chunks / sizeof chunks[0]; i++) {
        REQUIRE(eval(L, chunks[i]) == 0);
        char err[256];
        json_t *j = TO_JSON(L, -1, err);
        lua_pop(L, 1);
        if (!j)
            continue; /* refused with a reason: fine */
        char *t = json_dumps(j, JSON_COMPACT);
        json_error_t e;
        json_t *reread = t ? json_loads(t, JSON_ALLOW_NUL, &e) : NULL;
        if (!reread || !json_equal(reread, j))
            unit_fail(__FILE__, __LINE__, "%s: converted to an object that json_dumps writes as %s",
                      chunks[i], unit_str(t));
        free(t);
        json_decref(reread);
        json_decref(j);
    }
    CHECK_EQ_INT(lua_gettop(L), 0);
    lua_close(L);
}

/* ---- the Lua stack ---- */

TEST(stack_is_balanced_after_push_and_to_json_on_success_and_failure)
{
    lua_State *L = new_state();
    REQUIRE(L);
    /* unrelated values below, so a stray push or pop shows */
    lua_pushstring(L, "below");
    lua_pushinteger(L, 42);
    const char *texts[] = { "null", "1", "1.5", "\"s\"", "\"\\u0000/wAB\"", "\"\\u0000bad\"",
                            "[]", "{}", "[1,[2,{\"a\":[null]}]]", "{\"a\":{\"b\":[1,2,{}]}}" };
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        json_t *in = load(texts[i]);
        REQUIRE(in);
        PUSH(L, in);
        char err[256];
        json_t *out = TO_JSON(L, -1, err);
        CHECK(out != NULL);
        /* with the value below the top, by negative and positive index */
        lua_pushboolean(L, 1);
        json_t *again = TO_JSON(L, -2, err);
        CHECK(json_equal(out, again));
        json_decref(again);
        again = TO_JSON(L, 3, err);
        CHECK(json_equal(out, again));
        json_decref(again);
        lua_pop(L, 2);
        CHECK_EQ_INT(lua_gettop(L), 2);
        json_decref(out);
        json_decref(in);
    }

    /* failures at every depth, from arrays and objects, in the middle of a traversal */
    const char *bad[] = {
        "return function() end",
        "return {1, 2, function() end, 4}",
        "return {a = 1, b = {c = {d = {1, 2, 1/0}}}, e = 2}",
        "return {x = {[true] = 1}, y = 2}",
        "return {{}, {{}, {[1.5] = 0}}}",
        "local t = {} t.a = {t} return t",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        REQUIRE(eval(L, bad[i]) == 0);
        lua_pushinteger(L, 0);
        char err[256];
        json_t *j = TO_JSON(L, -2, err);
        CHECK(j == NULL);
        json_decref(j);
        lua_pop(L, 2);
        CHECK_EQ_INT(lua_gettop(L), 2);
    }
    CHECK_EQ_STR(lua_tostring(L, 1), "below");
    CHECK_EQ_INT(lua_tointeger(L, 2), 42);
    lua_close(L);
}

TEST(value_init_twice_keeps_one_array_metatable)
{
    lua_State *L = new_state();
    REQUIRE(L);
    lua_newtable(L);
    mb_lua_mark_array(L, -1);
    mb_lua_value_init(L);
    CHECK_EQ_INT(lua_gettop(L), 1);
    CHECK(is_marked(L, -1));
    TOP_GIVES(L, "[]");
    lua_close(L);
}

TEST(push_of_a_null_json_pointer_pushes_nil)
{
    /* the header promises nil for NULL; run in a child so a crash fails only this test */
    fflush(stdout);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        if (!freopen("/dev/null", "w", stderr)) /* keep a crash report (valgrind's) quiet */
            _exit(3);
        lua_State *L = new_state();
        if (!L)
            _exit(3);
        mb_lua_push_json(L, NULL);
        int ok = lua_gettop(L) == 1 && lua_isnil(L, -1);
        lua_close(L);
        _exit(ok ? 0 : 1);
    }
    int status = 0;
    REQUIRE(waitpid(pid, &status, 0) == pid);
    if (WIFSIGNALED(status))
        unit_fail(__FILE__, __LINE__, "mb_lua_push_json(L, NULL) killed the process (signal %d)",
                  WTERMSIG(status));
    else
        CHECK_EQ_INT(WEXITSTATUS(status), 0);
}

UNIT_MAIN()
