-- Bench app for `make bench` (scenarios rooms_snap_off / rooms_snap_on): moonbar's room service
-- with one room kind, "bench", whose only action ping(n) updates a small state and broadcasts
-- {type = "ping", seq, n, seat} to the room. build/bench/loadgen --scenario rooms drives it.
--
-- Snapshots (one store.put per dirty room per loop turn, to the SQLite store of the config's
-- `store = { path = ... }`) are on when a module snapshots.lua next to this file returns
-- { snapshots = true }; scripts/bench/run copies this folder and writes that file. Without it,
-- snapshots are off.
local rooms = require("moonbar.rooms")

local ok, cfg = pcall(require, "snapshots")
local snapshots = ok and type(cfg) == "table" and cfg.snapshots == true

rooms.kind("bench", {
  max_players = 4,
  init = function() return { pings = 0, by_seat = { 0, 0, 0, 0 }, last = 0 } end,
  actions = {
    ping = function(room, m, args)
      local n = args[1]
      if math.type(n) ~= "integer" then rooms.fail("invalid_argument", "ping takes an integer") end
      local st = room.state
      st.pings = st.pings + 1
      st.by_seat[m.seat] = st.by_seat[m.seat] + 1
      st.last = n
      return room:broadcast("ping", { n = n, seat = m.seat })
    end,
  },
})

rooms.start({ snapshots = snapshots })
