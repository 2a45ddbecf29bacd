-- The goose game (kind "goose", 2 to 6 players): the room around goose_rules.lua. The room
-- rolls the dice, keeps the turn clock (a player who does not roll in time is rolled for), and
-- writes the scores: goose.wins (+1 for the winner) and goose.played (+1 for each player still
-- in the game at its end).
local rooms = require("moonbar.rooms")
local rules = require("goose_rules")
local U = require("util")

local COLORS = { "#e53935", "#1e88e5", "#43a047", "#f9a825", "#8e24aa", "#fb8c00" }
local MESSAGES = {
  need_two = "the game needs at least two seated players",
  not_waiting = "the game has already started",
}

local function player_entry(state, seat)
  for _, p in ipairs(state.players) do
    if p.seat == seat then return p end
  end
end

-- Copies the pawns of the rules' game into the public player list.
local function sync(state)
  local g = state.game
  for _, p in ipairs(state.players) do
    local pawn = g and rules.player(g, p.seat)
    if pawn then
      p.square, p.miss, p.stuck = pawn.square, pawn.miss, pawn.stuck
    end
  end
  state.turn = g and not g.finished and g.turn or nil
  state.winner = g and g.winner or nil
end

local function timeout_ms(room) return room.state.turn_timeout_s * 1000 end

local function finish(room, winner, reason)
  local state = room.state
  local w = player_entry(state, winner)
  room:cancel("turn")
  room:finish({ winner = winner, name = w and w.name, reason = reason })
  for _, p in ipairs(state.players) do
    if state.game and rules.player(state.game, p.seat) then
      room:score("goose.played", state.owners[tostring(p.seat)], 1, "incr")
    end
  end
  if w then room:score("goose.wins", state.owners[tostring(w.seat)], 1, "incr") end
end

local function announce_turn(room)
  local state = room.state
  if state.turn then
    room:after("turn", timeout_ms(room), { seat = state.turn })
    room:broadcast("turn", { seat = state.turn, timeout_s = state.turn_timeout_s, deadline_s = state.turn_timeout_s })
  end
end

local function publish_skips(room, skips, freed_all)
  for _, s in ipairs(skips or {}) do
    room:broadcast("skip", { seat = s.seat, reason = s.reason })
  end
  if freed_all then room:broadcast("freed", { reason = "all_stuck" }) end
end

local function begin(room)
  local state = room.state
  local seats = {}
  for _, p in ipairs(state.players) do seats[#seats + 1] = p.seat end
  table.sort(seats)
  state.game = rules.new(seats)
  sync(state)
  room:start({ turn = state.turn, players = state.players })
  announce_turn(room)
end

local function roll(room, seat, auto)
  local state = room.state
  local d = room:dice(2, 6)
  local res, err = rules.roll(state.game, seat, d[1], d[2])
  if not res then
    if err == "game_over" then rooms.fail("game_over", "the game is over") end
    rooms.fail("not_your_turn", "it is seat %s's turn", tostring(state.turn))
  end
  sync(state)
  local out = { dice = moonbar.array({ d[1], d[2] }), from = res.from, to = res.to,
                path = moonbar.array(res.path), effects = moonbar.array(res.effects), next = res.next,
                skips = moonbar.array(res.skips), winner = res.winner, seat = seat }
  state.last = out
  room:broadcast(auto and "auto_roll" or "roll", U.without(out))
  if res.winner then
    finish(room, res.winner, "finish")
  else
    publish_skips(room, res.skips, res.freed_all)
    announce_turn(room)
  end
  return out
end

rooms.kind("goose", {
  version = 1,
  min_players = 2,
  max_players = 6,
  creator_actions = { start = true },

  params = function(kw)
    U.only(kw, { "max_players", "turn_timeout_s", "reconnect_s" })
    return {
      max_players = U.number(kw, "max_players", 4, 2, 6, true),
      turn_timeout_s = U.number(kw, "turn_timeout_s", 30, 0.1, 3600),
      reconnect_s = U.number(kw, "reconnect_s", 60, 0, 86400),
    }
  end,

  init = function(room, p)
    return { max_players = p.max_players, turn_timeout_s = p.turn_timeout_s, reconnect_s = p.reconnect_s,
             players = moonbar.array(), owners = {} }
  end,

  view = function(room) return U.without(room.state, "game", "owners") end,

  on_join = function(room, m)
    local state = room.state
    state.players[#state.players + 1] = { seat = m.seat, name = m.name, color = COLORS[m.seat], square = 0, miss = 0,
                                          connected = true }
    state.owners[tostring(m.seat)] = m.owner
    table.sort(state.players, function(a, b) return a.seat < b.seat end)
    if #state.players == state.max_players then begin(room) end -- full: it starts by itself
  end,

  on_drop = function(room, m)
    local p = player_entry(room.state, m.seat)
    if p then p.connected = false end
  end,

  on_return = function(room, m)
    local p = player_entry(room.state, m.seat)
    if p then p.connected = true end
  end,

  on_leave = function(room, m)
    local state = room.state
    for i, p in ipairs(state.players) do -- the pawn leaves the board
      if p.seat == m.seat then table.remove(state.players, i); break end
    end
    if room.status ~= "playing" or not rules.player(state.game, m.seat) then return end
    local was_turn = state.turn == m.seat
    local res = rules.remove(state.game, m.seat)
    sync(state)
    if res.winner then
      finish(room, res.winner, "last_player")
    else
      publish_skips(room, res.skips, res.freed_all)
      if was_turn then announce_turn(room) end
    end
  end,

  actions = {
    start = function(room, m)
      if room.status ~= "waiting" then rooms.fail("invalid_argument", MESSAGES.not_waiting) end
      if #room.state.players < 2 then rooms.fail("invalid_argument", MESSAGES.need_two) end
      begin(room)
      return { started = true, turn = room.state.turn }
    end,
    roll = function(room, m)
      if room.status ~= "playing" then rooms.fail("invalid_argument", "the game has not started") end
      if room.state.turn ~= m.seat then
        rooms.fail("not_your_turn", "it is seat %s's turn, not yours (seat %s)", tostring(room.state.turn),
          tostring(m.seat))
      end
      return roll(room, m.seat, false)
    end,
  },

  timers = {
    turn = function(room, data)
      if room.status == "playing" and room.state.turn == data.seat then roll(room, data.seat, true) end
    end,
  },
})
