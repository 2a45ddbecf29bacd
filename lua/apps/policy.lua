-- An example policy script for realm1; not enabled by default. To use it, give realm1 a policy
-- in lua/config.lua:
--
--   { name = "realm1", apps = { "apps/example.lua" }, policy = "apps/policy.lua" },
--
-- Anonymous clients may then use the example app, the demo page (its chat and its live view of
-- the meta API) and watch scripts reload; "alice" (ticket "s3cret") may do anything, moonbar.reload
-- included; workers ("bob", ticket "b0b") may offer com.example.work, and calls to it go to the
-- worker with the fewest calls in flight. See docs/lua-api.md.
local acl = require("moonbar.acl")
local policies = require("moonbar.policies")

moonbar.authorize(acl.authorizer{
  { role = "admin", allow = true },
  { uri = "moonbar.reload", allow = false },
  { role = "worker", action = "register", uri = "com.example.work", allow = true },
  { action = { "call", "subscribe" }, uri = "com.example.", match = "prefix", allow = true },
  { action = "publish", uri = "com.example.chat", allow = true },
  { action = "subscribe", uri = "moonbar.script.on_reload", allow = true },
  -- the demo page's live view: meta events, and the meta procedures that only read
  { action = "subscribe", uri = "wamp.", match = "prefix", allow = true },
  { action = "call", uri = "wamp..list", match = "wildcard", allow = true },
  { action = "call", uri = "wamp..get", match = "wildcard", allow = true },
  { action = "call", uri = "wamp.registration.list_callees", allow = true },
  { action = "call", uri = "wamp.subscription.list_subscribers", allow = true },
  default = false,
  cache = true,
})

-- Demo accounts. A real deployment keeps (hashed) secrets out of the script.
local users = {
  alice = { ticket = "s3cret", role = "admin" },
  bob = { ticket = "b0b", role = "worker" },
}

moonbar.authenticate(function(realm, authid, details)
  if details.authmethod == "anonymous" then
    return { authrole = "anonymous" }
  end
  local user = users[authid]
  if user and details.ticket == user.ticket then
    return { authrole = user.role }
  end
  return nil, "unknown user or wrong ticket"
end)

moonbar.policy("least_loaded", policies.least_loaded)
