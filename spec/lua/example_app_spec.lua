-- The example app (lua/apps/example.lua), run against a stand-in of the moonbar module that
-- records what the script declares. The real engine is exercised by the README walkthrough.

-- A fake moonbar module; `state` is shared across "versions" as moonbar.state is.
local function fake_moonbar(state, version)
  local m = { procs = {}, timers = {}, published = {}, logs = {}, state = state, version = version,
              script = "example.lua", realm = "realm1", null = setmetatable({}, { __name = "null" }) }
  function m.register(uri, fn, opts) m.procs[uri] = fn end
  function m.every(ms, fn) m.timers[#m.timers + 1] = { ms = ms, fn = fn } end
  function m.publish(uri, args, kwargs) m.published[#m.published + 1] = { uri = uri, args = args } end
  function m.error(uri, args, kwargs) return { uri = uri, args = args, kwargs = kwargs, is_moonbar_error = true } end
  m.log = { info = function(...) m.logs[#m.logs + 1] = table.concat({ ... }, " ") end }
  return m
end

-- Loads one version of the app; returns its fake moonbar and its environment.
local function load_version(state, version)
  local mb = fake_moonbar(state, version)
  local env = setmetatable({ moonbar = mb }, { __index = _G })
  local chunk = assert(loadfile("lua/apps/example.lua", "t", env))
  chunk()
  return mb, env
end

describe("lua/apps/example.lua", function()
  it("registers com.example.add and com.example.hello and ticks every second", function()
    local mb = load_version({}, 1)
    assert.is_function(mb.procs["com.example.add"])
    assert.is_function(mb.procs["com.example.hello"])
    assert.are.equal(1, #mb.timers)
    assert.are.equal(1000, mb.timers[1].ms)
  end)

  it("adds two numbers", function()
    local mb = load_version({}, 1)
    assert.are.equal(5, mb.procs["com.example.add"]({ 2, 3 }, {}))
    assert.are.equal(3.5, mb.procs["com.example.add"]({ 2.5, 1 }, {}))
  end)

  it("raises app.error.invalid_argument through moonbar.error otherwise", function()
    local mb = load_version({}, 1)
    for _, args in ipairs{ { "a", 1 }, { 1 }, {}, { 1, true } } do
      local ok, err = pcall(mb.procs["com.example.add"], args, {})
      assert.is_false(ok)
      assert.is_true(err.is_moonbar_error)
      assert.are.equal("app.error.invalid_argument", err.uri)
    end
  end)

  it("greets by positional name, kwargs name or 'world', counting calls", function()
    local mb = load_version({}, 1)
    local hello = mb.procs["com.example.hello"]
    assert.are.equal("Hello, world! (call 1)", hello({}, {}))
    assert.are.equal("Hello, Ada! (call 2)", hello({ "Ada" }, {}))
    assert.are.equal("Hello, Bob! (call 3)", hello({}, { name = "Bob" }))
    assert.are.equal("Hello, world! (call 4)", hello({ mb.null }, {}))
  end)

  it("publishes com.example.tick with a counter that survives a reload", function()
    local state = {}
    local v1 = load_version(state, 1)
    v1.timers[1].fn()
    v1.timers[1].fn()
    assert.are.same({ uri = "com.example.tick", args = { 2 } }, v1.published[2])
    v1.procs["com.example.hello"]({}, {})
    -- a new version over the same moonbar.state carries on counting
    local v2, env2 = load_version(state, 2)
    env2.on_reload(state)
    assert.matches("version 2 running; ticks so far: 2", v2.logs[1], 1, true)
    v2.timers[1].fn()
    assert.are.same({ uri = "com.example.tick", args = { 3 } }, v2.published[1])
    assert.are.equal("Hello, x! (call 2)", v2.procs["com.example.hello"]({ "x" }, {}))
  end)
end)
