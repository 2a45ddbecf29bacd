return { realms = { { name = "a", apps = { "apps/x.lua" }, policy = "p.lua" } }, websocket = { port = "x" } }
