-- moonbar.policies (lua/lib/moonbar/policies.lua): invocation policies for moonbar.policy().
package.path = "lua/lib/?.lua;" .. package.path
local policies = require("moonbar.policies")

-- Callee tables shaped as moonbar passes them: session fields plus inflight and index.
local function callee(index, id, inflight, authrole)
  return { index = index, id = id, authid = "c" .. id, authrole = authrole or "anonymous",
           inflight = inflight or 0, transport = { type = "websocket", peer = "127.0.0.1:1" } }
end

local function callees(spec)
  local list = {}
  for i, s in ipairs(spec) do
    list[i] = callee(i, s.id or 1000 + i, s.inflight, s.role)
  end
  return list
end

local function call_from(caller_id)
  return { procedure = "com.example.work", caller = { id = caller_id, authrole = "anonymous" } }
end

describe("moonbar.policies", function()
  describe("least_loaded", function()
    it("picks the callee with the fewest calls in flight", function()
      local list = callees{ { inflight = 3 }, { inflight = 1 }, { inflight = 2 } }
      assert.are.equal(list[2], policies.least_loaded(list, call_from(1)))
    end)

    it("breaks ties by the lowest index", function()
      local list = callees{ { inflight = 2 }, { inflight = 0 }, { inflight = 0 }, { inflight = 0 } }
      assert.are.equal(list[2], policies.least_loaded(list, call_from(1)))
      local idle = callees{ {}, {}, {} }
      assert.are.equal(idle[1], policies.least_loaded(idle, call_from(1)))
    end)

    it("returns the table from the list (moonbar reads its index)", function()
      local list = callees{ { inflight = 5 }, { inflight = 4 } }
      local c = policies.least_loaded(list, call_from(1))
      assert.are.equal(2, c.index)
      assert.is_true(rawequal(c, list[2]))
    end)

    it("takes a single callee", function()
      local list = callees{ { inflight = 9 } }
      assert.are.equal(list[1], policies.least_loaded(list, call_from(1)))
    end)

    it("returns nil for an empty list", function()
      assert.is_nil(policies.least_loaded({}, call_from(1)))
    end)

    it("counts a missing inflight as 0", function()
      local list = { { index = 1, id = 1, inflight = 1 }, { index = 2, id = 2 } }
      assert.are.equal(list[2], policies.least_loaded(list, call_from(1)))
    end)
  end)

  describe("sticky", function()
    it("gives the same caller the same callee on every call", function()
      local list = callees{ {}, {}, {}, {}, {} }
      for caller = 1, 50 do
        local first = policies.sticky(list, call_from(caller))
        for _ = 1, 5 do
          assert.are.equal(first, policies.sticky(list, call_from(caller)))
        end
      end
    end)

    it("depends on the callee set, not on the list's order or load", function()
      local list = callees{ {}, {}, {}, {} }
      local shuffled = { list[3], list[1], list[4], list[2] }
      for caller = 1, 50 do
        assert.are.equal(policies.sticky(list, call_from(caller)), policies.sticky(shuffled, call_from(caller)))
      end
      local before = policies.sticky(list, call_from(7))
      for _, c in ipairs(list) do c.inflight = c.inflight + 10 end
      assert.are.equal(before, policies.sticky(list, call_from(7)))
    end)

    it("is the same for equal callee sets built apart (a stable hash, not a memory address)", function()
      local a, b = callees{ {}, {}, {} }, callees{ {}, {}, {} }
      for caller = 1, 30 do
        assert.are.equal(policies.sticky(a, call_from(caller)).id, policies.sticky(b, call_from(caller)).id)
      end
    end)

    it("spreads callers over the callees", function()
      local list = callees{ {}, {}, {}, {} }
      local seen = {}
      for caller = 1, 400 do
        local c = policies.sticky(list, call_from(caller * 7919))
        seen[c.index] = (seen[c.index] or 0) + 1
      end
      for i = 1, 4 do
        assert.is_true((seen[i] or 0) > 40, "callee " .. i .. " got " .. tostring(seen[i]))
      end
    end)

    it("moves only the callers of a callee that leaves", function()
      local list = callees{ {}, {}, {}, {} }
      local before = {}
      for caller = 1, 200 do before[caller] = policies.sticky(list, call_from(caller)) end
      local gone = list[2]
      local rest = { list[1], list[3], list[4] }
      for caller = 1, 200 do
        local now = policies.sticky(rest, call_from(caller))
        if before[caller] ~= gone then
          assert.are.equal(before[caller], now)
        else
          assert.are_not.equal(gone, now)
        end
      end
    end)

    it("handles session IDs up to 2^53", function()
      local list = callees{ { id = 9007199254740992 }, { id = 9007199254740991 }, { id = 1 } }
      local c = policies.sticky(list, call_from(9007199254740992))
      assert.are.equal(c, policies.sticky(list, call_from(9007199254740992)))
      assert.is_not_nil(c.index)
    end)

    it("takes a single callee, and returns nil for an empty list", function()
      local list = callees{ {} }
      assert.are.equal(list[1], policies.sticky(list, call_from(42)))
      assert.is_nil(policies.sticky({}, call_from(42)))
    end)

    it("does not fail without a caller", function()
      local list = callees{ {}, {} }
      assert.is_not_nil(policies.sticky(list, { procedure = "p" }))
    end)
  end)

  describe("by_role", function()
    it("prefers callees with the role, least loaded among them by default", function()
      local pick = policies.by_role("worker")
      local list = callees{ { inflight = 0 }, { inflight = 4, role = "worker" }, { inflight = 2, role = "worker" } }
      assert.are.equal(list[3], pick(list, call_from(1)))
    end)

    it("uses the fallback on every callee when none has the role", function()
      local pick = policies.by_role("worker")
      local list = callees{ { inflight = 3 }, { inflight = 1 }, { inflight = 2 } }
      assert.are.equal(list[2], pick(list, call_from(1)))
    end)

    it("chooses with the given fallback picker", function()
      local last = function(list) return list[#list] end
      local pick = policies.by_role("worker", last)
      local list = callees{ { role = "worker" }, { role = "worker" }, {} }
      assert.are.equal(list[2], pick(list, call_from(1)))
      local none = callees{ {}, {}, {} }
      assert.are.equal(none[3], pick(none, call_from(1)))
    end)

    it("composes with sticky", function()
      local pick = policies.by_role("worker", policies.sticky)
      local list = callees{ {}, { role = "worker" }, { role = "worker" }, {} }
      for caller = 1, 30 do
        local c = pick(list, call_from(caller))
        assert.are.equal("worker", c.authrole)
        assert.are.equal(c, pick(list, call_from(caller)))
      end
    end)

    it("maps an index answered by the fallback back to the callee table", function()
      local pick = policies.by_role("worker", function() return 2 end)
      local list = callees{ { role = "worker" }, {}, { role = "worker" } }
      local c = pick(list, call_from(1))
      assert.are.equal(list[3], c)
      assert.are.equal(3, c.index)
    end)

    it("returns nil for an empty list", function()
      assert.is_nil(policies.by_role("worker")({}, call_from(1)))
    end)

    it("checks its arguments", function()
      assert.has_error(function() policies.by_role() end)
      assert.has_error(function() policies.by_role("worker", "least_loaded") end)
    end)
  end)
end)
