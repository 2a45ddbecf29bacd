-- The default config (lua/config.lua) is what `make run` starts: it must stay a valid table.
describe("lua/config.lua", function()
  local cfg = dofile("lua/config.lua")

  it("returns a table", function()
    assert.is_table(cfg)
  end)

  it("serves realm1 on 127.0.0.1:8080 at /ws with the demo web root", function()
    assert.are.equal("127.0.0.1", cfg.websocket.host)
    assert.are.equal(8080, cfg.websocket.port)
    assert.are.equal("/ws", cfg.websocket.path)
    assert.are.equal("www", cfg.websocket.web_root)
    assert.are.equal("realm1", cfg.realms[1].name)
  end)

  it("enables RawSocket on its own port", function()
    assert.is_table(cfg.rawsocket)
    assert.are_not.equal(cfg.websocket.port, cfg.rawsocket.port)
  end)

  it("runs the example app and the games app in realm1, and their files exist", function()
    assert.are.same({ "apps/example.lua", "apps/games" }, cfg.realms[1].apps)
    for _, path in ipairs({ "lua/apps/example.lua", "lua/apps/games/init.lua" }) do
      local f = assert(io.open(path, "r"))
      f:close()
    end
  end)

  it("sets the Lua engine's budgets and watches the scripts", function()
    assert.are.equal(0.1, cfg.lua.callback_timeout)
    assert.are.equal(512, cfg.lua.memory_limit) -- the games app keeps every room in its Lua state
    assert.is_true(cfg.lua.watch)
  end)

  it("bounds messages and queues", function()
    assert.is_true(math.type(cfg.limits.max_message_size) == "integer")
    assert.is_true(cfg.limits.max_queue_bytes >= cfg.limits.max_message_size)
    assert.is_true(cfg.limits.slow_consumer_timeout > 0)
  end)
end)
