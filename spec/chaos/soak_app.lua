-- The Lua app of scripts/soak (make soak). Reloaded every second while the soak runs: its
-- state (moonbar.state) carries the counters over, and every version keeps the same procedures.
--
--   soak.lua.add(a, b)       -> a + b
--   soak.lua.announce(n)     publishes [n] on soak.lua.events, returns n
--   soak.lua.count()         -> {calls, announced, version}
-- soak generation: 0
local state = moonbar.state
state.calls = state.calls or 0
state.announced = state.announced or 0

moonbar.register("soak.lua.add", function(args)
  state.calls = state.calls + 1
  return args[1] + args[2]
end)

moonbar.register("soak.lua.announce", function(args)
  state.calls = state.calls + 1
  state.announced = state.announced + 1
  moonbar.publish("soak.lua.events", { args[1] })
  return args[1]
end)

moonbar.register("soak.lua.count", function()
  return moonbar.array({ state.calls, state.announced, moonbar.version })
end)
