return {
  websocket = false,
  listeners = {
    { type = "websocket", host = "::1", port = 0, path = "/wamp", compression = true, realms = { "realm1" },
      max_message_size = 4096, max_connections = 10, handshake_timeout = 2 },
    { type = "rawsocket", unix = "sock/m.sock", mode = "0600" },
    { type = "websocket", host = "0.0.0.0", port = 8443, path = "/ws", web_root = false,
      tls = { cert = "c.pem", key = "k.pem", ca = "ca.pem" } },
  },
  rawsocket = { host = "127.0.0.1", port = 65535 },
}
