-- Helpers shared by the game rules specs: deep copy, a check that a game table is plain
-- JSON-able data, and a tiny JSON encoder/decoder (enough for game tables) for round trips.
local P = {}

local function copy(v)
  if type(v) ~= "table" then return v end
  local t = {}
  for k, x in pairs(v) do t[k] = copy(x) end
  return t
end

-- Errors unless v is plain JSON-able data: sequences 1..n or string-keyed dicts, no functions,
-- no metatables, numbers finite.
local function check_plain(v, where)
  where = where or "g"
  local ty = type(v)
  if ty == "string" or ty == "boolean" then return end
  if ty == "number" then
    assert(v == v and v ~= math.huge and v ~= -math.huge, where .. ": non-finite number")
    return
  end
  assert(ty == "table", where .. ": " .. ty .. " is not JSON-able")
  assert(getmetatable(v) == nil, where .. ": has a metatable")
  local n, strings, ints = #v, 0, 0
  for k in pairs(v) do
    if type(k) == "string" then strings = strings + 1
    elseif math.type(k) == "integer" and k >= 1 and k <= n then ints = ints + 1
    else error(where .. ": bad key " .. tostring(k)) end
  end
  assert(strings == 0 or ints == 0, where .. ": mixes array and dict keys")
  assert(ints == n, where .. ": sparse array")
  for k, x in pairs(v) do check_plain(x, where .. "." .. tostring(k)) end
end

-- A tiny JSON encoder/decoder (enough for game tables: no null inside arrays).
local function encode(v)
  local ty = type(v)
  if ty == "nil" then return "null" end
  if ty == "boolean" then return tostring(v) end
  if ty == "number" then
    if math.type(v) == "integer" then return string.format("%d", v) end
    return string.format("%.17g", v)
  end
  if ty == "string" then
    return '"' .. v:gsub('[%c"\\]', function(c) return string.format("\\u%04x", c:byte()) end) .. '"'
  end
  local parts = {}
  if #v > 0 or next(v) == nil then
    for i = 1, #v do parts[i] = encode(v[i]) end
    return "[" .. table.concat(parts, ",") .. "]"
  end
  local keys = {}
  for k in pairs(v) do keys[#keys + 1] = k end
  table.sort(keys)
  for i, k in ipairs(keys) do parts[i] = encode(k) .. ":" .. encode(v[k]) end
  return "{" .. table.concat(parts, ",") .. "}"
end

local function decode(s)
  local pos = 1
  local function ws() pos = s:find("[^ \t\r\n]", pos) or #s + 1 end
  local value
  local function str()
    local out = {}
    pos = pos + 1
    while true do
      local c = s:sub(pos, pos)
      if c == '"' then pos = pos + 1; return table.concat(out) end
      if c == "\\" then
        local e = s:sub(pos + 1, pos + 1)
        if e == "u" then
          out[#out + 1] = utf8.char(tonumber(s:sub(pos + 2, pos + 5), 16)); pos = pos + 6
        else
          out[#out + 1] = ({ n = "\n", t = "\t", r = "\r", b = "\b", f = "\f" })[e] or e; pos = pos + 2
        end
      else
        assert(c ~= "", "unterminated string")
        out[#out + 1] = c; pos = pos + 1
      end
    end
  end
  function value()
    ws()
    local c = s:sub(pos, pos)
    if c == "{" then
      local t = {}
      pos = pos + 1; ws()
      if s:sub(pos, pos) == "}" then pos = pos + 1; return t end
      while true do
        ws(); local k = str(); ws()
        assert(s:sub(pos, pos) == ":", "':' expected"); pos = pos + 1
        t[k] = value(); ws()
        local d = s:sub(pos, pos); pos = pos + 1
        if d == "}" then return t end
        assert(d == ",", "',' expected")
      end
    elseif c == "[" then
      local t = {}
      pos = pos + 1; ws()
      if s:sub(pos, pos) == "]" then pos = pos + 1; return t end
      while true do
        t[#t + 1] = value(); ws()
        local d = s:sub(pos, pos); pos = pos + 1
        if d == "]" then return t end
        assert(d == ",", "',' expected")
      end
    elseif c == '"' then return str()
    elseif s:sub(pos, pos + 3) == "true" then pos = pos + 4; return true
    elseif s:sub(pos, pos + 4) == "false" then pos = pos + 5; return false
    elseif s:sub(pos, pos + 3) == "null" then pos = pos + 4; return nil
    else
      local num = s:match("^-?%d+%.?%d*[eE]?[-+]?%d*", pos)
      assert(num and #num > 0, "bad JSON at " .. pos)
      pos = pos + #num
      local n = tonumber(num)
      return math.tointeger(n) or n
    end
  end
  local v = value(); ws()
  assert(pos == #s + 1, "trailing JSON")
  return v
end

P.copy, P.check_plain, P.encode, P.decode = copy, check_plain, encode, decode
return P
