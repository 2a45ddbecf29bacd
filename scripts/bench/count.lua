-- Validation app (docs/performance.md, "Checking the generator"): bench.lua_echo like echo.lua,
-- counting the calls it served, and a subscriber to bench.topic counting the events it got.
-- bench.count returns both, to check a run's RESULT line against the router's own view.
local state = moonbar.state
state.calls = state.calls or 0
state.events = state.events or 0
moonbar.register("bench.lua_echo", function(args, kwargs)
  state.calls = state.calls + 1
  return moonbar.result(args, kwargs)
end)
moonbar.subscribe("bench.topic", function()
  state.events = state.events + 1
end)
moonbar.register("bench.count", function()
  return moonbar.result({ state.calls, state.events })
end)
