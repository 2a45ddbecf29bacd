-- The example app of the default config (lua/config.lua runs it in realm1).
--
--   com.example.add    add(a, b) -> a + b; app.error.invalid_argument unless both are numbers
--   com.example.hello  hello(name?) -> a greeting that counts the calls
--   com.example.tick   an event every second: [n] with a counter that goes on across reloads
--
-- Edit this file while moonbar runs: the new version replaces the old one at once (same
-- registrations, no gap for callers), and moonbar.state, which holds the counters, carries over.
-- See docs/lua-api.md.
local state = moonbar.state
state.hello_calls = state.hello_calls or 0
state.ticks = state.ticks or 0

moonbar.register("com.example.add", function(args)
  local a, b = args[1], args[2]
  if type(a) ~= "number" or type(b) ~= "number" then
    error(moonbar.error("app.error.invalid_argument", { "com.example.add takes two numbers" }))
  end
  return a + b
end)

moonbar.register("com.example.hello", function(args, kwargs)
  state.hello_calls = state.hello_calls + 1
  local name = args[1]
  if type(name) ~= "string" then
    name = type(kwargs.name) == "string" and kwargs.name or "world"
  end
  return string.format("Hello, %s! (call %d)", name, state.hello_calls)
end)

moonbar.every(1000, function()
  state.ticks = state.ticks + 1
  moonbar.publish("com.example.tick", { state.ticks })
end)

function on_reload(s)
  moonbar.log.info("version " .. moonbar.version .. " running; ticks so far: " .. s.ticks)
end
