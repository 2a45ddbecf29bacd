-- moonbar's default configuration (`make run`): realm1 for anonymous clients, running the
-- example app (apps/example.lua), WebSocket and the demo page on http://127.0.0.1:8080/,
-- RawSocket on 127.0.0.1:8081.
return {
  log_level = "info",
  websocket = { host = "127.0.0.1", port = 8080, path = "/ws", web_root = "www" },
  rawsocket = { host = "127.0.0.1", port = 8081 },
  realms = {
    { name = "realm1", uri_check = "loose", apps = { "apps/example.lua", "apps/games" } },
  },
  limits = {
    max_message_size = 1048576,
    max_queue_bytes = 4194304,
    slow_consumer_timeout = 10,
  },
  lua = { callback_timeout = 0.1, memory_limit = 512, watch = true }, -- the games app holds every room
}
