-- moonbar.acl (lua/lib/moonbar/acl.lua): the rule engine behind moonbar.authorize().
package.path = "lua/lib/?.lua;" .. package.path
local acl = require("moonbar.acl")

local function session(role)
  return { id = 1, authid = "a", authrole = role, authmethod = "anonymous", realm = "realm1",
           transport = { type = "websocket", peer = "127.0.0.1:1" } }
end

-- The allow decision of authorizer f for (role, action, uri).
local function allowed(f, role, action, uri)
  local d = f(session(role), action, uri, {})
  return d.allow
end

describe("moonbar.acl", function()
  describe("decisions", function()
    it("returns {allow, cache}, caching by default", function()
      local f = acl.authorizer{ { uri = "com.example.add", allow = true } }
      assert.are.same({ allow = true, cache = true }, f(session("anonymous"), "call", "com.example.add", {}))
      assert.are.same({ allow = false, cache = true }, f(session("anonymous"), "call", "com.example.mul", {}))
    end)

    it("passes cache = false through", function()
      local f = acl.authorizer{ { uri = "a", allow = true }, cache = false }
      assert.are.same({ allow = true, cache = false }, f(session("x"), "call", "a", {}))
      assert.are.same({ allow = false, cache = false }, f(session("x"), "call", "b", {}))
    end)

    it("denies by default, and allows with default = true", function()
      assert.is_false(allowed(acl.authorizer{}, "anonymous", "call", "com.example.add"))
      local open = acl.authorizer{ { uri = "com.secret", allow = false }, default = true }
      assert.is_true(allowed(open, "anonymous", "call", "com.example.add"))
      assert.is_false(allowed(open, "anonymous", "call", "com.secret"))
    end)

    it("lets the first matching rule win", function()
      local f = acl.authorizer{
        { uri = "com.example.admin.", match = "prefix", allow = false },
        { uri = "com.example.", match = "prefix", allow = true },
        { uri = "com.example.admin.reset", allow = true }, -- never reached
      }
      assert.is_false(allowed(f, "anonymous", "call", "com.example.admin.reset"))
      assert.is_true(allowed(f, "anonymous", "call", "com.example.add"))
      local reversed = acl.authorizer{
        { uri = "com.example.", match = "prefix", allow = true },
        { uri = "com.example.admin.", match = "prefix", allow = false },
      }
      assert.is_true(allowed(reversed, "anonymous", "call", "com.example.admin.reset"))
    end)

    it("tolerates a missing session or options", function()
      local f = acl.authorizer{ { role = "*", uri = "a", allow = true } }
      assert.is_true(f(nil, "call", "a").allow)
    end)
  end)

  describe("roles and actions", function()
    it("matches one role, a list of roles, or any role", function()
      local f = acl.authorizer{
        { role = "admin", uri = "a", allow = true },
        { role = { "backend", "worker" }, uri = "b", allow = true },
        { role = "*", uri = "c", allow = true },
      }
      assert.is_true(allowed(f, "admin", "call", "a"))
      assert.is_false(allowed(f, "anonymous", "call", "a"))
      assert.is_true(allowed(f, "backend", "call", "b"))
      assert.is_true(allowed(f, "worker", "call", "b"))
      assert.is_false(allowed(f, "admin", "call", "b"))
      assert.is_true(allowed(f, "anonymous", "call", "c"))
      assert.is_true(allowed(f, "trusted", "call", "c"))
    end)

    it("treats a missing role or action as any", function()
      local f = acl.authorizer{ { uri = "a", allow = true } }
      for _, action in ipairs{ "call", "register", "publish", "subscribe" } do
        assert.is_true(allowed(f, "anyone", action, "a"))
      end
    end)

    it("treats \"*\" in a list as any", function()
      local f = acl.authorizer{ { role = { "x", "*" }, action = { "*" }, uri = "a", allow = true } }
      assert.is_true(allowed(f, "y", "publish", "a"))
    end)

    it("matches one action, a list of actions, or any action", function()
      local f = acl.authorizer{
        { action = "call", uri = "p", allow = true },
        { action = { "subscribe", "publish" }, uri = "t", allow = true },
        { action = "*", uri = "all", allow = true },
      }
      assert.is_true(allowed(f, "r", "call", "p"))
      assert.is_false(allowed(f, "r", "register", "p"))
      assert.is_true(allowed(f, "r", "subscribe", "t"))
      assert.is_true(allowed(f, "r", "publish", "t"))
      assert.is_false(allowed(f, "r", "call", "t"))
      assert.is_true(allowed(f, "r", "register", "all"))
    end)

    it("needs role, action and uri to match together", function()
      local f = acl.authorizer{ { role = "admin", action = "register", uri = "com.example.add", allow = true } }
      assert.is_true(allowed(f, "admin", "register", "com.example.add"))
      assert.is_false(allowed(f, "anonymous", "register", "com.example.add"))
      assert.is_false(allowed(f, "admin", "call", "com.example.add"))
      assert.is_false(allowed(f, "admin", "register", "com.example.mul"))
    end)
  end)

  describe("uri matching", function()
    it("is exact by default", function()
      local f = acl.authorizer{ { uri = "com.example.add", allow = true } }
      assert.is_true(allowed(f, "r", "call", "com.example.add"))
      assert.is_false(allowed(f, "r", "call", "com.example.add2"))
      assert.is_false(allowed(f, "r", "call", "com.example"))
      assert.is_false(allowed(f, "r", "call", "com.example.add.x"))
    end)

    it("treats a missing uri as every URI", function()
      local f = acl.authorizer{ { role = "admin", allow = true } }
      assert.is_true(allowed(f, "admin", "call", "anything.at.all"))
      assert.is_false(allowed(f, "other", "call", "anything.at.all"))
    end)

    it("matches prefix as a plain string prefix, the URI itself included", function()
      local f = acl.authorizer{ { uri = "com.app.emergency", match = "prefix", allow = true } }
      assert.is_true(allowed(f, "r", "call", "com.app.emergency"))
      assert.is_true(allowed(f, "r", "call", "com.app.emergency.11"))
      assert.is_true(allowed(f, "r", "call", "com.app.emergency-low"))
      assert.is_false(allowed(f, "r", "call", "com.app.emergenc"))
      assert.is_false(allowed(f, "r", "call", "org.com.app.emergency"))
    end)

    it("keeps a prefix with a trailing dot to whole components", function()
      local f = acl.authorizer{ { uri = "com.app.", match = "prefix", allow = true } }
      assert.is_true(allowed(f, "r", "call", "com.app.x"))
      assert.is_true(allowed(f, "r", "call", "com.app.x.y"))
      assert.is_false(allowed(f, "r", "call", "com.apple"))
      assert.is_false(allowed(f, "r", "call", "com.app"))
    end)

    it("treats pattern characters literally in prefix rules", function()
      local f = acl.authorizer{ { uri = "com.a%d+", match = "prefix", allow = true } }
      assert.is_true(allowed(f, "r", "call", "com.a%d+.x"))
      assert.is_false(allowed(f, "r", "call", "com.a12"))
    end)

    it("matches wildcard with WAMP semantics: an empty component is one component", function()
      local f = acl.authorizer{ { uri = "com..tick", match = "wildcard", allow = true } }
      assert.is_true(allowed(f, "r", "subscribe", "com.example.tick"))
      assert.is_true(allowed(f, "r", "subscribe", "com.other.tick"))
      assert.is_false(allowed(f, "r", "subscribe", "com.tick"))
      assert.is_false(allowed(f, "r", "subscribe", "com.a.b.tick"))
      assert.is_false(allowed(f, "r", "subscribe", "com.example.tock"))
      assert.is_false(allowed(f, "r", "subscribe", "com.example.tick.x"))
    end)

    it("handles leading, trailing and consecutive wildcards", function()
      local lead = acl.authorizer{ { uri = "..c", match = "wildcard", allow = true } }
      assert.is_true(allowed(lead, "r", "call", "a.b.c"))
      assert.is_false(allowed(lead, "r", "call", "a.b.d"))
      local trail = acl.authorizer{ { uri = "a..", match = "wildcard", allow = true } }
      assert.is_true(allowed(trail, "r", "call", "a.b.c"))
      assert.is_false(allowed(trail, "r", "call", "a.b"))
      local mid = acl.authorizer{ { uri = "a...d", match = "wildcard", allow = true } }
      assert.is_true(allowed(mid, "r", "call", "a.b.c.d"))
      assert.is_false(allowed(mid, "r", "call", "a.b.d"))
    end)

    it("tells wildcard and prefix rules apart", function()
      local wildcard = acl.authorizer{ { uri = "com.app.", match = "wildcard", allow = true } }
      local prefix = acl.authorizer{ { uri = "com.app.", match = "prefix", allow = true } }
      -- one more component: both
      assert.is_true(allowed(wildcard, "r", "call", "com.app.x"))
      assert.is_true(allowed(prefix, "r", "call", "com.app.x"))
      -- two more components: only the prefix
      assert.is_false(allowed(wildcard, "r", "call", "com.app.x.y"))
      assert.is_true(allowed(prefix, "r", "call", "com.app.x.y"))
      -- an exact rule with the same string matches neither
      local exact = acl.authorizer{ { uri = "com.app.", allow = true } }
      assert.is_false(allowed(exact, "r", "call", "com.app.x"))
    end)

    it("checks a pattern request by its pattern string", function()
      local f = acl.authorizer{
        { action = "subscribe", uri = "com.example.", match = "prefix", allow = true },
        { action = "subscribe", uri = "com..tick", match = "wildcard", allow = true },
      }
      local s = session("r")
      assert.is_true(f(s, "subscribe", "com.example.", { match = "prefix" }).allow)
      assert.is_true(f(s, "subscribe", "com..tick", { match = "wildcard" }).allow)
      assert.is_false(f(s, "subscribe", "com.", { match = "prefix" }).allow)
    end)
  end)

  describe("checks the rules when built", function()
    it("refuses bad rules with the rule's number", function()
      local bad = {
        { { uri = "a" } },                                 -- allow missing
        { { uri = "a", allow = "yes" } },
        { { uri = "a", allow = true, match = "regex" } },
        { { uri = 5, allow = true } },
        { { role = 5, allow = true } },
        { { action = {}, allow = true } },
        { { role = { "a", 1 }, allow = true } },
        { { uri = "a", allow = true, rol = "admin" } },   -- typo
        { "not a table" },
      }
      for _, rules in ipairs(bad) do
        assert.has_error(function() acl.authorizer(rules) end)
      end
      local ok, err = pcall(acl.authorizer, { { uri = "a", allow = true }, { uri = "b", allow = true, rol = "x" } })
      assert.is_false(ok)
      assert.matches("acl rule 2: unknown key 'rol'", err, 1, true)
    end)

    it("refuses an action that is not one, naming the rule and the value", function()
      local function err_of(action)
        local ok, err = pcall(acl.authorizer, {
          { uri = "a", allow = true },
          { action = "call", uri = "b", allow = true },
          { action = action, allow = false },
        })
        assert.is_false(ok)
        return err
      end
      local want = "acl rule 3: action 'pubish' is not one of call, register, publish, subscribe or *"
      assert.matches(want, err_of("pubish"), 1, true)
      assert.matches(want, err_of({ "call", "pubish" }), 1, true)
      assert.matches(want, err_of({ "*", "pubish" }), 1, true) -- "*" in the list does not hide it
      assert.matches("acl rule 3: action 'Call' is not one of", err_of("Call"), 1, true)
      assert.matches("acl rule 3: action '' is not one of", err_of(""), 1, true)
      assert.matches("acl rule 3: action 'calls' is not one of", err_of({ "calls" }), 1, true)
      local shape = "acl rule 3: action must be call, register, publish, subscribe or *, or a list of them, not "
      assert.matches(shape .. "5", err_of(5), 1, true)
      assert.matches(shape .. "true", err_of(true), 1, true)
      assert.matches(shape .. "an empty list", err_of({}), 1, true)
      assert.matches(shape .. "a table that is not a list", err_of({ call = true }), 1, true)
      assert.matches(shape .. "a function", err_of(print), 1, true)
      assert.matches("acl rule 3: action list item 2 is a number, not one of call, register, publish, subscribe or *",
        err_of({ "call", 5 }), 1, true)
    end)

    it("reports a bad action where the authorizer is built", function()
      local ok, err = pcall(function()
        local f = acl.authorizer{ { action = "pubish", allow = false } } -- no tail call: this line is named
        return f
      end)
      assert.is_false(ok)
      assert.matches("acl_spec.lua:%d+: acl rule 1: action 'pubish'", err)
    end)

    it("accepts every documented action value", function()
      local f = acl.authorizer{
        { action = "call", uri = "c", allow = true },
        { action = "register", uri = "r", allow = true },
        { action = "publish", uri = "p", allow = true },
        { action = "subscribe", uri = "s", allow = true },
        { action = { "call", "register", "publish", "subscribe" }, uri = "all4", allow = true },
        { action = { "publish", "*" }, uri = "star-in-list", allow = true },
        { action = "*", uri = "star", allow = true },
      }
      assert.is_true(allowed(f, "r", "call", "c"))
      assert.is_false(allowed(f, "r", "register", "c"))
      assert.is_true(allowed(f, "r", "register", "r"))
      assert.is_true(allowed(f, "r", "publish", "p"))
      assert.is_true(allowed(f, "r", "subscribe", "s"))
      for _, action in ipairs{ "call", "register", "publish", "subscribe" } do
        assert.is_true(allowed(f, "r", action, "all4"))
        assert.is_true(allowed(f, "r", action, "star-in-list"))
        assert.is_true(allowed(f, "r", action, "star"))
      end
    end)

    it("refuses bad options", function()
      assert.has_error(function() acl.authorizer("rules") end)
      assert.has_error(function() acl.authorizer{ default = "no" } end)
      assert.has_error(function() acl.authorizer{ cache = 1 } end)
      assert.has_error(function() acl.authorizer{ defualt = false } end)
    end)
  end)
end)
