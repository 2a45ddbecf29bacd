return {
  realms = {
    { name = "r1", uri_check = "strict",
      auth = {
        anonymous = { role = "guest" },
        ticket = { users = { joe = { ticket = "t0k3n", role = "user" } } },
        wampcra = { users = { svc = { secret = "c2VjcmV0", salt = "s", iterations = 10, keylen = 32, role = "svc" },
                              bob = { secret = "plain", role = "user" } } },
        cryptosign = { users = { dev = { pubkeys = { string.rep("ab", 32) }, role = "device" } } },
      },
      roles = {
        guest = { { uri = "com.public.", match = "prefix", allow = { "call", "subscribe" } } },
        user = { { uri = "", match = "prefix", allow = { "call", "publish", "subscribe", "register" }, disclose = true },
                 { uri = "com..admin", match = "wildcard", deny = { "call" } } },
        svc = { { uri = "com.svc", allow = { "register" } } },
        device = { { uri = "com.dev.", match = "prefix", allow = { "publish" } } },
      },
      history = { { uri = "chat.", match = "prefix", limit = 100 }, { uri = "com.x", limit = 5 } } },
    { name = "r2", auth = { ticket = { users = { a = { ticket = { env = "HOME" }, role = "x" } } } } },
  },
}
