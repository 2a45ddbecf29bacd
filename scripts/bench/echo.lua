-- Bench app (scripts/bench/run puts a copy in the bench config's realm1): the trivial Lua
-- procedure of the lua and reload scenarios, answering with the arguments it was given.
moonbar.register("bench.lua_echo", function(args, kwargs)
  return moonbar.result(args, kwargs)
end)
