-- Chess (kind "chess"): the room around chess_rules.lua. The router is the only judge: it
-- validates every move, runs both clocks (a room timer ends the game the moment a flag falls),
-- ends the game by itself (mate, stalemate, repetition, fifty moves, material, time,
-- abandonment), rates it (Elo, K = 32, start 1500: board chess.rating, and chess.wins /
-- chess.losses / chess.draws) and archives it with its PGN (collection chess.games).
local rooms = require("moonbar.rooms")
local C = require("chess_rules")

local K, START_RATING = 32, 1500
local OTHER = { white = "black", black = "white" }
local RESULT_OF = { white = "1-0", black = "0-1" }
local ARCHIVE = "chess.games"
local ARCHIVE_KEY_BASE = 99999999999

local function illegal(uci, why)
  error(moonbar.error("chess.error.illegal_move", { uci, why }), 0)
end

-- The clocks now: the side to move's clock is its flag timer's remaining time.
local function clocks(room)
  local st = room.state
  if not st.clocks then return moonbar.null end
  local c = { white_ms = st.clocks.white_ms, black_ms = st.clocks.black_ms }
  local left = room:remaining("flag")
  if left and room.status == "playing" then c[st.turn .. "_ms"] = math.floor(left) end
  return c
end

local function players(room)
  local out = {}
  for _, side in ipairs({ "white", "black" }) do
    local m = room:member(side)
    out[side] = m and { name = m.name, connected = m.session ~= nil } or moonbar.null
  end
  return out
end

local function sync(room)
  local st, g = room.state, room.state.game
  -- the move lists stay in the game only (saved once per snapshot); the view shows them
  st.fen, st.turn, st.check = g.fen, g.turn, g.check
  st.result, st.reason = g.result, g.reason
end

local function archive_and_rate(room)
  local st = room.state
  local w_owner, b_owner = st.owners.white, st.owners.black
  local pgn = C.pgn(st.game, { Event = "moonbar " .. room.id, Site = "moonbar", Date = os.date("!%Y.%m.%d"),
                               Round = "-", White = st.names.white, Black = st.names.black,
                               Result = st.result or "*" })
  local result, reason, rated = st.result, st.reason, st.rated
  local id = room.id
  -- newest first in key order: the end time counted down, then a sequence within the second
  -- (kept in moonbar.state: reloads keep counting)
  local S = moonbar.state
  S.archive_seq = (S.archive_seq or 0) + 1
  local key = string.format("%011d%06d_%s", ARCHIVE_KEY_BASE - os.time(), 999999 - S.archive_seq % 1000000, id)
  room:later("archive", function(store)
    store.put(ARCHIVE, key,
      { room = id, white = st.names.white, black = st.names.black, result = result, reason = reason,
        pgn = pgn, ended = os.time(), moves = #st.game.moves }, { wait = false })
  end)
  if not rated or not w_owner or not b_owner then return end
  room:later("rating", function(store)
    local rw = store.rank("chess.rating", w_owner)
    local rb = store.rank("chess.rating", b_owner)
    rw = rw and rw.score or START_RATING
    rb = rb and rb.score or START_RATING
    local sw = result == "1-0" and 1 or result == "0-1" and 0 or 0.5
    local ew = 1 / (1 + 10 ^ ((rb - rw) / 400))
    local nw = math.floor(rw + K * (sw - ew) + 0.5)
    local nb = math.floor(rb + K * ((1 - sw) - (1 - ew)) + 0.5)
    store.submit("chess.rating", w_owner, nw, "set")
    store.submit("chess.rating", b_owner, nb, "set")
    if sw == 1 then
      store.submit("chess.wins", w_owner, 1, "incr"); store.submit("chess.losses", b_owner, 1, "incr")
    elseif sw == 0 then
      store.submit("chess.wins", b_owner, 1, "incr"); store.submit("chess.losses", w_owner, 1, "incr")
    else
      store.submit("chess.draws", w_owner, 1, "incr"); store.submit("chess.draws", b_owner, 1, "incr")
    end
  end)
end

-- Ends the game (once): result "1-0" | "0-1" | "1/2-1/2".
local function finish(room, result, reason)
  local st = room.state
  if room.status == "finished" then return end
  local left = room:remaining("flag")
  if left and st.clocks then st.clocks[st.turn .. "_ms"] = math.floor(left) end
  st.game.result, st.game.reason, st.game.status = result, reason, "finished"
  st.result, st.reason, st.draw_offer = result, reason, nil
  room:cancel("flag")
  room:finish({ result = result, reason = reason, fen = st.fen, clocks = st.clocks or moonbar.null })
  archive_and_rate(room)
end

local function start_clock(room)
  local st = room.state
  if st.clocks then room:after("flag", st.clocks[st.turn .. "_ms"], { side = st.turn, ply = #st.game.moves }) end
end

local function begin(room)
  local st = room.state
  for _, side in ipairs({ "white", "black" }) do
    local m = room:member(side)
    st.names[side], st.owners[side] = m.name, m.owner
  end
  room:start({ fen = st.fen, turn = st.turn, clocks = st.clocks or moonbar.null })
  if st.game.status == "finished" then -- a FEN that is already mate or stalemate
    finish(room, st.game.result, st.game.reason)
    return
  end
  start_clock(room)
end

local function my_side(room, m)
  if m.role ~= "player" then rooms.fail("not_a_member", "only the two players act") end
  if room.status ~= "playing" then rooms.fail("invalid_argument", "the game has not started") end
  return m.seat
end

-- chess.archive.latest(limit): the latest finished games, newest first.
moonbar.register("chess.archive.latest", function(args)
  local limit = args[1] or 10
  if math.type(limit) ~= "integer" or limit < 1 or limit > 100 then
    rooms.fail("invalid_argument", "limit must be an integer from 1 to 100")
  end
  local out = moonbar.array()
  for _, e in ipairs(moonbar.store.list(ARCHIVE, "", limit)) do out[#out + 1] = e.value end
  return moonbar.result(out)
end)

rooms.kind("chess", {
  version = 1,
  seats = { "white", "black" },
  reconnect_s = 60,

  params = function(kw)
    for k in pairs(kw) do
      if k ~= "clock" and k ~= "fen" and k ~= "rated" and k ~= "reconnect_s" then
        rooms.fail("invalid_argument", "unknown parameter '%s'", tostring(k))
      end
    end
    local clock = kw.clock
    if clock == nil then clock = { initial_s = 300, increment_s = 0 } end
    if clock ~= false then
      if type(clock) ~= "table" or type(clock.initial_s) ~= "number" or clock.initial_s <= 0 or
          clock.initial_s > 86400 or (clock.increment_s ~= nil and (type(clock.increment_s) ~= "number" or
          clock.increment_s < 0 or clock.increment_s > 3600)) then
        rooms.fail("invalid_argument", "clock must be false or {initial_s = 0 < s <= 86400, increment_s = 0 to 3600}")
      end
      clock = { initial_s = clock.initial_s, increment_s = clock.increment_s or 0 }
    end
    if kw.fen ~= nil then
      if type(kw.fen) ~= "string" then rooms.fail("invalid_argument", "fen must be a string") end
      local _, err = C.new(kw.fen)
      if err then rooms.fail("invalid_argument", "bad FEN: %s", err) end
    end
    if kw.rated ~= nil and type(kw.rated) ~= "boolean" then rooms.fail("invalid_argument", "rated must be a boolean") end
    if kw.reconnect_s ~= nil and (type(kw.reconnect_s) ~= "number" or kw.reconnect_s < 0 or kw.reconnect_s > 86400) then
      rooms.fail("invalid_argument", "reconnect_s must be a number from 0 to 86400")
    end
    return { clock = clock, fen = kw.fen, rated = kw.rated ~= false, max_players = 2, reconnect_s = kw.reconnect_s }
  end,

  init = function(room, p)
    local g = assert(C.new(p.fen))
    local st = { game = g, rated = p.rated, clock = p.clock or moonbar.null, draw_offer = nil,
                 names = {}, owners = {} }
    if p.clock then
      local ms = math.floor(p.clock.initial_s * 1000)
      st.clocks = { white_ms = ms, black_ms = ms }
    end
    room.state = st
    sync(room)
    return st
  end,

  view = function(room)
    local st = room.state
    return { fen = st.fen, moves = moonbar.array(st.game.moves), san = moonbar.array(st.game.san), turn = st.turn,
             check = st.check,
             result = st.result or moonbar.null, reason = st.reason or moonbar.null, clocks = clocks(room),
             players = players(room), draw_offer = st.draw_offer or moonbar.null, rated = st.rated,
             clock = st.clock }
  end,

  on_join = function(room)
    if room.status == "waiting" and room:member("white") and room:member("black") then begin(room) end
  end,

  on_leave = function(room, m)
    if room.status ~= "playing" or m.role ~= "player" then return end
    local side = m.seat
    finish(room, RESULT_OF[OTHER[side]], "abandoned")
  end,

  actions = {
    move = function(room, m, args)
      local side = my_side(room, m)
      local st = room.state
      if st.turn ~= side then rooms.fail("not_your_turn", "it is %s's move", st.turn) end
      local uci = args[1]
      if type(uci) ~= "string" then illegal(tostring(uci), "a move is a UCI string like e2e4") end
      local left = room:remaining("flag")
      local res, err, why = C.move(st.game, uci)
      if not res then illegal(uci, why or err) end
      if st.clocks then
        st.clocks[side .. "_ms"] = math.floor((left or st.clocks[side .. "_ms"]) + st.clock.increment_s * 1000)
      end
      if st.draw_offer and st.draw_offer ~= side then st.draw_offer = nil end -- the offer lapses
      sync(room)
      room:broadcast("move", { uci = res.uci, san = res.san, fen = res.fen, clocks = st.clocks or moonbar.null,
                               side = side, check = res.check })
      if res.status == "finished" then
        finish(room, res.result, res.reason)
      else
        start_clock(room)
      end
      return { uci = res.uci, san = res.san, fen = res.fen, status = room.status, result = st.result or moonbar.null,
               reason = st.reason or moonbar.null, clocks = clocks(room) }
    end,

    moves = function(room)
      return moonbar.array(room.status ~= "finished" and C.legal_moves(room.state.game) or {})
    end,

    resign = function(room, m)
      local side = my_side(room, m)
      finish(room, RESULT_OF[OTHER[side]], "resignation")
      return { result = room.state.result, reason = "resignation" }
    end,

    offer_draw = function(room, m)
      local side = my_side(room, m)
      local st = room.state
      if st.draw_offer == OTHER[side] then -- offering back is accepting
        finish(room, "1/2-1/2", "agreement")
        return { result = "1/2-1/2", reason = "agreement" }
      end
      st.draw_offer = side
      room:broadcast("draw_offer", { side = side })
      return { draw_offer = side }
    end,

    accept_draw = function(room, m)
      local side = my_side(room, m)
      local st = room.state
      if st.draw_offer ~= OTHER[side] then rooms.fail("invalid_argument", "there is no draw offer from %s", OTHER[side]) end
      finish(room, "1/2-1/2", "agreement")
      return { result = "1/2-1/2", reason = "agreement" }
    end,

    decline_draw = function(room, m)
      local side = my_side(room, m)
      local st = room.state
      if st.draw_offer ~= OTHER[side] then rooms.fail("invalid_argument", "there is no draw offer from %s", OTHER[side]) end
      st.draw_offer = nil
      room:broadcast("draw_declined", { side = side })
      return { draw_offer = moonbar.null }
    end,

    pgn = function(room)
      local st = room.state
      return C.pgn(st.game, { Event = "moonbar " .. room.id, Site = "moonbar", Date = os.date("!%Y.%m.%d"), Round = "-",
                              White = st.names.white or "?", Black = st.names.black or "?", Result = st.result or "*" })
    end,
  },

  -- pgn and moves are reads: spectators and finished games may ask too
  reads = { pgn = true, moves = true },

  timers = {
    flag = function(room, data)
      local st = room.state
      if room.status ~= "playing" or st.turn ~= data.side or #st.game.moves ~= data.ply then return end
      st.clocks[data.side .. "_ms"] = 0
      local winner = OTHER[data.side]
      if C.can_mate(st.game, winner) then
        finish(room, RESULT_OF[winner], "timeout")
      else
        finish(room, "1/2-1/2", "timeout")
      end
    end,
  },
})
