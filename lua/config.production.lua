-- moonbar for production: TLS on every public endpoint, no anonymous sessions, static roles
-- (what no rule allows is denied), secrets outside this file. README "Securing moonbar" walks
-- through it; check it with `moonbar --check-config lua/config.production.lua` (errors exit 2,
-- warnings are printed). Start with `moonbar --config lua/config.production.lua`.
--
-- Files and variables it expects (the env names can be overridden for tests):
--   MOONBAR_TLS_CERT, MOONBAR_TLS_KEY   PEM certificate chain and key (default /etc/moonbar/tls/)
--   MOONBAR_ALICE_TICKET                the ticket of the "alice" operator account
--   MOONBAR_SERVICE_KEY                 the WAMP-CRA key of the backend service "svc": what
--                                       `moonbar wampcra-secret PASSWORD --salt S` printed
-- Users' cryptosign public keys are not secrets: `moonbar keygen` prints a pair; the public half
-- goes below, the private half stays with the client.
local env = os.getenv

return {
  log_level = "info",
  listeners = {
    -- public: WebSocket (wss://) and RawSocket over TLS, both on every interface
    { type = "websocket", host = "0.0.0.0", port = 8443, path = "/ws", web_root = "www",
      tls = { cert = env("MOONBAR_TLS_CERT") or "/etc/moonbar/tls/fullchain.pem",
              key = env("MOONBAR_TLS_KEY") or "/etc/moonbar/tls/privkey.pem" },
      max_connections = 50000, handshake_timeout = 5 },
    { type = "rawsocket", host = "0.0.0.0", port = 8444,
      tls = { cert = env("MOONBAR_TLS_CERT") or "/etc/moonbar/tls/fullchain.pem",
              key = env("MOONBAR_TLS_KEY") or "/etc/moonbar/tls/privkey.pem" },
      max_connections = 10000, handshake_timeout = 5 },
    -- local: backend services on the same host, no TLS needed on a Unix socket
    { type = "rawsocket", unix = "/run/moonbar/moonbar.sock", mode = "0660" },
  },
  realms = {
    { name = "realm1", uri_check = "strict", apps = { "apps/example.lua", "apps/games" },
      auth = {
        anonymous = false,
        ticket = { users = {
          alice = { ticket = { env = "MOONBAR_ALICE_TICKET" }, role = "admin" },
        } },
        wampcra = { users = {
          svc = { secret = { env = "MOONBAR_SERVICE_KEY" }, salt = "moonbar-svc", iterations = 100000,
                  keylen = 32, role = "backend" },
        } },
        cryptosign = { users = {
          -- one entry per player or device; replace with your users' public keys
          carol = { pubkeys = { "545efb0a2192db8d43f118e9bf9aee081466e1ef36c708b96ee6f62dddad9122" }, role = "player" },
        } },
      },
      roles = {
        admin = {   -- operators: everything, identities disclosed
          { uri = "", match = "prefix", allow = { "call", "register", "publish", "subscribe" }, disclose = true },
        },
        backend = { -- services: offer and call the application's API
          { uri = "com.example.", match = "prefix", allow = { "call", "register", "publish", "subscribe" } },
          { uri = "moonbar.reload", deny = { "call" } },
        },
        player = {  -- game clients: the room service, the example app, the chat
          { uri = "moonbar.room.", match = "prefix", allow = { "call", "subscribe" } },
          { uri = "moonbar.leaderboard.", match = "prefix", allow = { "call" } },
          { uri = "com.example.", match = "prefix", allow = { "call", "subscribe" } },
          { uri = "com.example.chat", allow = { "publish" } },
        },
      },
    },
  },
  brute_force = { free_failures = 5, delay = 0.2, max_delay = 5, lockout_after = 10, lockout = 300 },
  limits = {
    max_message_size = 1048576, max_queue_bytes = 4194304, slow_consumer_timeout = 10, auth_timeout = 10,
    -- resource limits (docs/behaviour.md, Limits)
    max_connections = 50000,
    max_connections_per_address = 200,   -- raise it for peers behind one NAT or proxy
    max_sessions_per_realm = 50000,
    max_subscriptions_per_session = 1000,
    max_registrations_per_session = 1000,
    max_calls_per_caller = 1000,
    max_invocations_per_callee = 1000,
    max_message_rate = 1000,             -- per session; bursts of max_message_burst pass at once
    max_message_burst = 2000,
    hello_timeout = 10,
    socket_send_buffer = 262144,         -- kernel memory per peer that stops reading (Linux doubles it)
  },
  lua = { callback_timeout = 0.1, memory_limit = 512, watch = false }, -- deploys reload with SIGHUP
  store = { path = "/var/lib/moonbar/moonbar.db" },
}
