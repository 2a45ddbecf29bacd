-- fuzz_rooms' app: the games app (its modules are links to lua/apps/games/), started as
-- lua/apps/games/init.lua starts it, plus two procedures for the harness only:
--   fuzz.rooms.check  the room service's invariants hold (an error names the one broken)
--   fuzz.rooms.reset  closes every room but the lobby, and empties the lobby, so that inputs
--                     do not depend on each other
local rooms = require("moonbar.rooms")

require("lobby")
require("goose")
require("tictactoe")
require("chess")

rooms.start({ lobby = "lobby", lobby_kind = "chat" })

local S = moonbar.state
local STATUS = { waiting = true, playing = true, finished = true }

local function check()
  for id, R in pairs(S.rooms) do
    assert(R.id == id, "room " .. id .. " is filed under another ID")
    assert(STATUS[R.status], "room " .. id .. ": status " .. tostring(R.status))
    assert(math.type(R.seq) == "integer" and R.seq >= 0, "room " .. id .. ": seq " .. tostring(R.seq))
    assert(#R.chat <= 50, "room " .. id .. ": chat keeps " .. #R.chat .. " messages")
    local seats = {}
    for _, m in ipairs(R.members) do
      if m.role == "player" then
        assert(m.seat ~= nil and not seats[m.seat], "room " .. id .. ": seat " .. tostring(m.seat) .. " held twice")
        seats[m.seat] = true
        assert(type(m.token) == "string", "room " .. id .. ": a player without a token")
      else
        assert(m.role == "spectator", "room " .. id .. ": member role " .. tostring(m.role))
      end
      if m.session then
        local mine = S.sessions[m.session]
        assert(mine and mine[id] == m, "room " .. id .. ": member " .. tostring(m.name) .. " is not indexed by its session")
      end
    end
  end
  for sid, mine in pairs(S.sessions) do
    for id, m in pairs(mine) do
      local R = S.rooms[id]
      assert(R, "session " .. sid .. " is indexed in room " .. id .. ", which is gone")
      local found = false
      for _, x in ipairs(R.members) do found = found or x == m end
      assert(found, "session " .. sid .. ": its member of room " .. id .. " is not in the room")
      assert(m.session == sid, "session " .. sid .. ": its member of room " .. id .. " names session " .. tostring(m.session))
    end
  end
  return true
end

moonbar.register("fuzz.rooms.check", function()
  local ok, err = pcall(check)
  if not ok then error(moonbar.error("fuzz.rooms.invariant", { tostring(err) }), 0) end
  return true
end)

moonbar.register("fuzz.rooms.reset", function()
  for id, R in pairs(S.rooms) do
    if id ~= "lobby" then rooms._internal_timer(R, "~close") end
  end
  local L = S.rooms.lobby
  if L then
    for k in pairs(L.members) do L.members[k] = nil end
    for k in pairs(L.chat) do L.chat[k] = nil end
    for name in pairs(L.timers) do L:cancel(name) end
  end
  for sid in pairs(S.sessions) do S.sessions[sid] = nil end
  return true
end)
