"""The Lua app the store tests (test_store.py) call: one procedure per moonbar.store function,
so that a WAMP client drives the store, and a router helper around it.

Procedures (realm1):
  store.get(coll, key)                      -> [value, version] or null
  store.put(coll, key, value, opts?)        -> version (opts: {version = n, wait = false})
  store.delete(coll, key)                   -> existed
  store.list(coll, prefix?, limit?)         -> [{key, value, version}, ...]
  store.submit(board, owner, score, op?)    -> score now
  store.top(board, limit?)                  -> [{rank, owner, score}, ...]
  store.rank(board, owner)                  -> {rank, score} or null
  store.sync()                              -> true
  store.put_many(coll, prefix, n, wait)     -> n puts of {i = k} under prefix..k, then sync()
  store.spin(coll, key)                     -> never: puts coll/key again and again
  store.loaded()                            -> what the app read from the store while it loaded
"""
import mb_lua as ml

APP = """
    local store = moonbar.store

    -- at load (outside any task): runs at once on the loop thread
    local loaded = { store.get("boot", "count") }
    store.put("boot", "count", (loaded[1] or 0) + 1)

    moonbar.register("store.get", function(args)
      local v, ver = store.get(args[1], args[2])
      if v == nil then return moonbar.null end
      return moonbar.array({ v, ver })
    end)
    moonbar.register("store.put", function(args)
      return store.put(args[1], args[2], args[3], args[4])
    end)
    moonbar.register("store.delete", function(args)
      return store.delete(args[1], args[2])
    end)
    moonbar.register("store.list", function(args)
      return store.list(args[1], args[2], args[3])
    end)
    moonbar.register("store.submit", function(args)
      return store.submit(args[1], args[2], args[3], args[4])
    end)
    moonbar.register("store.top", function(args)
      return store.top(args[1], args[2])
    end)
    moonbar.register("store.rank", function(args)
      return store.rank(args[1], args[2]) or moonbar.null
    end)
    moonbar.register("store.sync", function() return store.sync() end)
    moonbar.register("store.put_many", function(args)
      local coll, prefix, n, wait = args[1], args[2], args[3], args[4]
      for k = 1, n do
        store.put(coll, prefix .. k, { i = k }, { wait = wait })
      end
      return store.sync()
    end)
    moonbar.register("store.spin", function(args)  -- never returns: always waiting on the store
      while true do store.put(args[1], args[2], 1) end
    end)
    moonbar.register("store.loaded", function()
      return loaded[1] or moonbar.null
    end)
    moonbar.register("store.bad", function(args)
      local ok, err = pcall(store[args[1]], table.unpack(args[2] or {}))
      return tostring(err)
    end)
"""


def store_router(router_factory, store=None, start=True, apps=None, **kw):
    """A router running the store app (plus `apps`); store: the config's store section."""
    all_apps = {"store.lua": APP}
    all_apps.update(apps or {})
    overrides = dict(kw)
    # under valgrind, threads run one at a time: the pool thread's SQLite work then counts
    # against the wall-clock budget of the Lua callback that queued it
    overrides.setdefault("lua", {"callback_timeout": 5})
    if store is not None:
        overrides["store"] = store
    return ml.lua_router(router_factory, apps=all_apps, start=start, **overrides)
