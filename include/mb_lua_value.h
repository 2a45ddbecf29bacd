/* mb_lua_value: exact conversion between WAMP values (jansson) and Lua values.
 *   integer ↔ integer (up to 2^63; WAMP IDs to 2^53), real ↔ float, string ↔ string (bytes,
 *   NUL included), true/false ↔ boolean, null ↔ moonbar.null (a light userdata sentinel),
 *   array ↔ table marked with the array metatable, object ↔ plain table.
 * Lua → JSON: a table with the array metatable, or a non-empty sequence 1..n, is an array;
 * any other table is an object (an empty plain table is {}). Keys of objects must be strings
 * (integer keys are written in decimal). Pure: no router state. */
#ifndef MB_LUA_VALUE_H
#define MB_LUA_VALUE_H

#include <jansson.h>
#include <lua.h>
#include <stddef.h>

#define MB_LUA_ARRAY_MT "moonbar.array"
#define MB_LUA_MAX_DEPTH 64

/* The sentinel for JSON null. */
void *mb_lua_null(void);

/* Creates the array metatable in the registry (once per lua_State). */
void mb_lua_value_init(lua_State *L);

/* Pushes the Lua value for v (nil for NULL). Never raises except on memory errors. */
void mb_lua_push_json(lua_State *L, const json_t *v);

/* The JSON value of the Lua value at idx, or NULL with a reason in err (functions, userdata,
 * cycles or depth over MB_LUA_MAX_DEPTH, NaN/inf, non-string keys that are not integers). */
json_t *mb_lua_to_json(lua_State *L, int idx, char *err, size_t errlen);

/* Marks the table at idx as a JSON array. */
void mb_lua_mark_array(lua_State *L, int idx);

#endif
