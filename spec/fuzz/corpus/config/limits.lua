return {
  log_level = "debug",
  limits = { max_message_size = 65536, max_queue_bytes = 1048576, slow_consumer_timeout = 5,
             max_retained_topics = 0, shutdown_grace = 1, ping_interval = 5, ping_timeout = 10,
             busy_poll_us = 0, auth_timeout = 3 },
  brute_force = { free_failures = 3, delay = 0.2, max_delay = 4, lockout_after = 0, lockout = 30,
                  forget_after = 60, max_addresses = 1024 },
  store = { path = "db/x.db", max_size_mb = 16 },
}
