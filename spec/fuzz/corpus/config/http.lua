return {
  realms = { { name = "realm1" } },
  http = {
    paths = {
      ["/publish"] = { type = "publisher", realm = "realm1", role = "anonymous",
                       options = { key = "k", secret = "s", post_body_limit = 8192, timestamp_delta_limit = 10,
                                   require_increasing_seq = true, cors = "*" } },
      ["/call"] = { type = "caller", realm = "realm1", options = { timeout = 5000, max_in_flight = 10 } },
      ["/hook"] = { type = "webhook", realm = "realm1", options = { topic = "com.hook", github_secret = "g" } },
      ["/lp"] = { type = "longpoll", options = { request_timeout = 5, session_timeout = 10,
                                                 queue_limit_bytes = 65536, queue_limit_messages = 50 } },
    },
    subscribers = { { realm = "realm1", topic = "com.", match = "prefix", url = "http://127.0.0.1:9/x",
                      method = "PUT", queue = 10, retries = 2, retry_delay = 0.1, timeout = 1, details = true } },
    callees = { { realm = "realm1", procedure = "com.http.get", baseurl = "https://example.com/api/",
                  timeout = 3000, max_bytes = 4096 } },
  },
}
