-- Tic-tac-toe (kind "tictactoe"): the room kind built step by step in docs/games.md.
-- Seat 1 plays X and moves first, seat 2 plays O; the game starts when both seats are taken.
local rooms = require("moonbar.rooms")
local rules = require("tictactoe_rules")

local MARKS = { "X", "O" }
local SEATS = { X = 1, O = 2 }
local ERRORS = { not_your_turn = "not_your_turn", game_over = "game_over",
                 occupied = "invalid_argument", invalid_cell = "invalid_argument" }

local function finish(room, winner)
  local w = winner and room:member(SEATS[winner])
  room:finish({ winner = winner and SEATS[winner], mark = winner, name = w and w.name,
                draw = room.state.game.draw })
  if w then room:score("tictactoe.wins", w.owner, 1, "incr") end
end

rooms.kind("tictactoe", {
  max_players = 2,
  reconnect_s = 60,

  params = function(kw)
    for k in pairs(kw) do
      if k ~= "reconnect_s" then rooms.fail("invalid_argument", "unknown parameter '%s'", tostring(k)) end
    end
    return { max_players = 2, reconnect_s = kw.reconnect_s }
  end,

  init = function() return { game = rules.new(), marks = { [1] = "X", [2] = "O" } } end,

  on_join = function(room)
    if #room:players() == 2 then
      room:start({ turn = 1 })
    end
  end,

  on_leave = function(room, m)
    if room.status == "playing" then -- the other player wins
      local other = MARKS[3 - m.seat]
      room.state.game.winner = other
      finish(room, other)
    end
  end,

  actions = {
    move = function(room, m, args)
      if room.status ~= "playing" then rooms.fail("invalid_argument", "the game has not started") end
      local cell = args[1]
      if math.type(cell) ~= "integer" then rooms.fail("invalid_argument", "move takes a cell number from 1 to 9") end
      local res, err = rules.play(room.state.game, MARKS[m.seat], cell)
      if not res then rooms.fail(ERRORS[err] or "invalid_argument", "illegal move: %s", err) end
      room:broadcast("move", { seat = m.seat, cell = cell, mark = res.mark, winner = res.winner, draw = res.draw,
                               line = res.line, next = res.next and SEATS[res.next] })
      if res.winner or res.draw then finish(room, res.winner) end
      return { cell = cell, mark = res.mark, winner = res.winner, draw = res.draw, line = res.line,
               next = res.next and SEATS[res.next] }
    end,
  },
})
