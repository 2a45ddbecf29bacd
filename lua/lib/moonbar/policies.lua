-- moonbar.policies: ready-made invocation policies for a realm's policy script.
--
--   local policies = require("moonbar.policies")
--   moonbar.policy("least_loaded", policies.least_loaded)
--   moonbar.policy("sticky", policies.sticky)
--   moonbar.policy("workers_first", policies.by_role("worker"))
--
-- Callees then register with { invoke = "least_loaded" } (or "sticky", ...). Each picker is a
-- plain function(callees, call) -> callee: `callees` is the list moonbar passes (session tables
-- with `id`, `authid`, `authrole`, ..., plus `inflight` = calls pending on that callee and
-- `index` = its position), `call` is { procedure, caller = session table, args, kwargs }.
-- A picker returns one of the callee tables it was given, or nil when the list is empty (moonbar
-- never calls a policy with no callees; a nil would make the caller get
-- wamp.error.invalid_argument). Pure Lua, no state: safe to reload.
local M = {}

-- The callee with the fewest calls in flight; ties go to the lowest index (the earliest
-- registration still present).
function M.least_loaded(callees, call)
  local best
  for _, c in ipairs(callees) do
    if best == nil or (c.inflight or 0) < (best.inflight or 0) then
      best = c
    end
  end
  return best
end

-- 64-bit mix of two integers (splitmix64's finaliser); integer arithmetic wraps in Lua 5.4.
local function mix(a, b)
  local x = a ~ (b * 0x9e3779b97f4a7c15)
  x = (x ~ (x >> 30)) * 0xbf58476d1ce4e5b9
  x = (x ~ (x >> 27)) * 0x94d049bb133111eb
  return x ~ (x >> 31)
end

local function as_integer(v, default)
  return math.type(v) == "integer" and v or math.tointeger(v) or default
end

-- The same caller session always gets the same callee while the callee set is unchanged.
-- Rendezvous hashing: each callee scores hash(caller id, callee id) and the highest score wins,
-- so the choice does not depend on the list's order, and when a callee joins or leaves only the
-- callers that move to it, or were on it, change callee.
function M.sticky(callees, call)
  local caller = as_integer(call and call.caller and call.caller.id, 0)
  local best, best_score
  for i, c in ipairs(callees) do
    local score = mix(caller, as_integer(c.id, i))
    -- compare as unsigned so the whole 64-bit range counts; ties (never in practice): lowest index
    if best == nil or math.ult(best_score, score) then
      best, best_score = c, score
    end
  end
  return best
end

-- A picker that prefers callees whose authrole is `role`: `fallback` (a picker, default
-- least_loaded) chooses among those, or among all callees when none has that role.
function M.by_role(role, fallback)
  assert(type(role) == "string", "by_role: role must be a string")
  local pick = fallback or M.least_loaded
  assert(type(pick) == "function", "by_role: fallback must be a function(callees, call)")
  return function(callees, call)
    local preferred = {}
    for _, c in ipairs(callees) do
      if c.authrole == role then
        preferred[#preferred + 1] = c
      end
    end
    local list = #preferred > 0 and preferred or callees
    local chosen = pick(list, call)
    if math.type(chosen) == "integer" then -- a picker may answer with an index into its list
      chosen = list[chosen]
    end
    return chosen
  end
end

return M
