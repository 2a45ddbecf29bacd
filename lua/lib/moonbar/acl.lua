-- moonbar.acl: a small rule engine for a realm's authorizer.
--
--   local acl = require("moonbar.acl")
--   moonbar.authorize(acl.authorizer{
--     { role = { "backend", "admin" }, action = "*", allow = true },       -- no uri: every URI
--     { role = "*", action = "*", uri = "com.example.admin.", match = "prefix", allow = false },
--     { role = "anonymous", action = "call", uri = "com.example.add", allow = true },
--     { role = "anonymous", action = { "subscribe" }, uri = "com.example.", match = "prefix", allow = true },
--     default = false,   -- when no rule matches (default false)
--     cache = true,      -- let moonbar remember each decision per (session, action, uri) (default true)
--   })
--
-- A rule: role = "<authrole>" | { ... } | "*" (default "*"), action = "subscribe" | "publish" |
-- "register" | "call" | { ... } | "*" (default "*"), uri = "<uri or pattern>" (default: every
-- URI), match = "exact" | "prefix" | "wildcard" (default "exact"), allow = true | false
-- (required). Rules are tried in order; the first one that matches decides, else `default`.
-- The authorizer returns { allow = <decision>, cache = <opts.cache> }. A rule with an unknown
-- key or a bad value (an action such as "pubish", which would never match) raises an error
-- when the authorizer is built, so a policy script with a typo is rejected when it loads.
--
-- Matching is on the URI string of the request. `prefix` is a plain string prefix (a trailing
-- dot keeps it to whole components, as in moonbar's own prefix matching); `wildcard` follows
-- WAMP: the same number of components, and an empty component in the rule matches any one
-- component. For a pattern-based subscription or registration the string checked is the
-- pattern itself (options.match says which kind): see docs/lua-api.md before granting patterns.
local M = {}

local MATCHES = { exact = true, prefix = true, wildcard = true }
local RULE_KEYS = { role = true, action = true, uri = true, match = true, allow = true }
local ACTIONS = { call = true, register = true, publish = true, subscribe = true }
local ACTION_NAMES = "call, register, publish, subscribe or *"

local function split(uri)
  local parts, start = {}, 1
  while true do
    local dot = string.find(uri, ".", start, true)
    if not dot then
      parts[#parts + 1] = string.sub(uri, start)
      return parts
    end
    parts[#parts + 1] = string.sub(uri, start, dot - 1)
    start = dot + 1
  end
end

-- "*" → nil (anything); "x" or { "x", "y" } → a set.
local function set_of(v, what, i)
  if v == nil or v == "*" then
    return nil
  end
  if type(v) == "string" then
    return { [v] = true }
  end
  if type(v) ~= "table" or #v == 0 then
    error(string.format("acl rule %d: %s must be a string, a list of strings or \"*\"", i, what), 4)
  end
  local set = {}
  for _, x in ipairs(v) do
    if type(x) ~= "string" then
      error(string.format("acl rule %d: %s must list strings", i, what), 4)
    end
    if x == "*" then
      return nil
    end
    set[x] = true
  end
  return set
end

-- A bad value as an error message shows it.
local function shown(v)
  if type(v) == "table" then
    return next(v) == nil and "an empty list" or "a table that is not a list"
  elseif type(v) == "number" or type(v) == "boolean" then
    return tostring(v)
  end
  return "a " .. type(v)
end

-- The rule's action: "*" → nil (any); "call" or { "call", "publish" } → a set. Every name must
-- be an action or "*": a misspelt one would make a rule that silently never matches.
local function action_set(v, i)
  if v == nil or v == "*" then
    return nil
  end
  local list = v
  if type(v) == "string" then
    list = { v }
  elseif type(v) ~= "table" or #v == 0 then
    error(string.format("acl rule %d: action must be %s, or a list of them, not %s", i, ACTION_NAMES, shown(v)), 4)
  end
  local set = {}
  for k, x in ipairs(list) do
    if type(x) ~= "string" then
      error(string.format("acl rule %d: action list item %d is a %s, not one of %s", i, k, type(x), ACTION_NAMES), 4)
    end
    if x ~= "*" and not ACTIONS[x] then
      error(string.format("acl rule %d: action '%s' is not one of %s", i, x, ACTION_NAMES), 4)
    end
    set[x] = true
  end
  if set["*"] then
    return nil
  end
  return set
end

-- A function(uri) -> bool for the rule's uri and match.
local function uri_matcher(uri, match)
  if uri == nil then
    return function() return true end
  end
  if match == "exact" then
    return function(u) return u == uri end
  elseif match == "prefix" then
    local n = #uri
    return function(u) return string.sub(u, 1, n) == uri end
  end
  local want = split(uri)
  return function(u)
    local got = split(u)
    if #got ~= #want then
      return false
    end
    for k, w in ipairs(want) do
      if w ~= "" and w ~= got[k] then
        return false
      end
    end
    return true
  end
end

local function compile(rule, i)
  if type(rule) ~= "table" then
    error(string.format("acl rule %d must be a table", i), 3)
  end
  for k in pairs(rule) do
    if not RULE_KEYS[k] then
      error(string.format("acl rule %d: unknown key '%s'", i, tostring(k)), 3)
    end
  end
  local match = rule.match or "exact"
  if not MATCHES[match] then
    error(string.format("acl rule %d: match must be \"exact\", \"prefix\" or \"wildcard\"", i), 3)
  end
  if rule.uri ~= nil and type(rule.uri) ~= "string" then
    error(string.format("acl rule %d: uri must be a string", i), 3)
  end
  if type(rule.allow) ~= "boolean" then
    error(string.format("acl rule %d: allow must be true or false", i), 3)
  end
  return {
    roles = set_of(rule.role, "role", i),
    actions = action_set(rule.action, i),
    uri = uri_matcher(rule.uri, match),
    allow = rule.allow,
  }
end

-- The decision of the first matching rule for (authrole, action, uri), else nil.
local function decide(rules, authrole, action, uri)
  for _, r in ipairs(rules) do
    if (r.roles == nil or r.roles[authrole]) and (r.actions == nil or r.actions[action]) and r.uri(uri) then
      return r.allow
    end
  end
  return nil
end

-- Builds an authorizer: function(session, action, uri, options) -> { allow, cache }.
function M.authorizer(spec)
  if type(spec) ~= "table" then
    error("acl.authorizer takes a table of rules", 2)
  end
  for k in pairs(spec) do
    if math.type(k) ~= "integer" and k ~= "default" and k ~= "cache" then
      error(string.format("acl.authorizer: unknown option '%s'", tostring(k)), 2)
    end
  end
  if spec.default ~= nil and type(spec.default) ~= "boolean" then
    error("acl.authorizer: default must be true or false", 2)
  end
  if spec.cache ~= nil and type(spec.cache) ~= "boolean" then
    error("acl.authorizer: cache must be true or false", 2)
  end
  local rules = {}
  for i, rule in ipairs(spec) do
    rules[i] = compile(rule, i)
  end
  local default = spec.default == true
  local cache = spec.cache ~= false
  return function(session, action, uri, options)
    local allow = decide(rules, session and session.authrole, action, uri)
    if allow == nil then
      allow = default
    end
    return { allow = allow, cache = cache }
  end
end

return M
