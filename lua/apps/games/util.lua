-- Helpers shared by the game modules: checking create params.
local rooms = require("moonbar.rooms")
local U = {}

-- kwargs[key] as a number in [lo, hi] (default when absent); integer if int.
function U.number(kw, key, default, lo, hi, int)
  local v = kw[key]
  if v == nil then return default end
  if type(v) ~= "number" or (int and math.type(v) ~= "integer") or v ~= v or v < lo or v > hi then
    rooms.fail("invalid_argument", "%s must be %s from %s to %s", key, int and "an integer" or "a number",
      tostring(lo), tostring(hi))
  end
  return v
end

-- Refuses kwargs keys not in the list.
function U.only(kw, keys)
  local ok = {}
  for _, k in ipairs(keys) do ok[k] = true end
  for k in pairs(kw) do
    if not ok[k] then rooms.fail("invalid_argument", "unknown parameter '%s'", tostring(k)) end
  end
end

-- A shallow copy of t without the keys listed.
function U.without(t, ...)
  local drop, out = {}, {}
  for _, k in ipairs({ ... }) do drop[k] = true end
  for k, v in pairs(t) do if not drop[k] then out[k] = v end end
  return out
end

return U
