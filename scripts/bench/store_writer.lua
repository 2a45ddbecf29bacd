-- Bench app (scripts/bench/run, the store_on_* scenarios): writes to moonbar.store at
-- 1 000 puts per second while loadgen measures unrelated RPC. A 10 ms timer puts what is due
-- since the start (so a late tick catches up): wait = false puts of a small record on 10 000
-- rotating keys, then one awaited put of bench_meta/progress with the count and the time span,
-- which the bench reads back from the database file to report the rate reached.
local store = moonbar.store
local RATE = 1000 -- puts per second, the progress record included
local t0 = moonbar.now()
local done = 0

moonbar.every(10, function()
  local due = math.floor((moonbar.now() - t0) * RATE / 1000) - done
  if due <= 0 then return end
  if due > 200 then due = 200 end -- after a long stall: catch up over several ticks
  for _ = 1, due - 1 do
    done = done + 1
    store.put("bench", "w" .. (done % 10000),
              { n = done, player = "p" .. (done % 97), score = done * 7 % 1000, pad = string.rep("x", 64) },
              { wait = false })
  end
  done = done + 1
  store.put("bench_meta", "progress", { n = done, ms = moonbar.now() - t0 })
end)
