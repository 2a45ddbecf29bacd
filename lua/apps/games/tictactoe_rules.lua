-- tictactoe_rules: the rules of tic-tac-toe, as pure Lua 5.4.
--
-- No moonbar API, no globals, no io/os: runs in moonbar's sandbox and under busted. The module
-- keeps no state; a game is a plain JSON-able table:
--   g = { board = { 9 strings, "" (empty) | "X" | "O", cells 1..9 row-major:  1 2 3 / 4 5 6 / 7 8 9 },
--         turn = "X" | "O" | nil once the game is over (X moves first),
--         winner = nil | "X" | "O", draw = bool, line = nil | {a, b, c} (the winning cells,
--         ascending), moves = number of marks on the board }
--
-- T.new() -> g
-- T.play(g, mark, cell) -> res | nil, err
--   err, checked in this order (g is then unchanged):
--     "game_over"     the game has a winner or is a draw
--     "not_your_turn" mark is not g.turn (any value other than "X"/"O" included)
--     "invalid_cell"  cell is not an integer 1..9 (an integral float such as 5.0 is accepted)
--     "occupied"      the cell already holds a mark
--   res = { cell, mark, winner = nil|mark, draw = bool, line = nil|{a,b,c}, next = "X"|"O"|nil }
--   A move completing a line wins (even the ninth move); a full board without a line is a draw.
--   When the game ends g.turn and res.next are nil.
-- T.LINES: the 8 lines (3 rows, 3 columns, 2 diagonals) as sequences of cells.

local T = {}

local LINES = {
  { 1, 2, 3 }, { 4, 5, 6 }, { 7, 8, 9 },
  { 1, 4, 7 }, { 2, 5, 8 }, { 3, 6, 9 },
  { 1, 5, 9 }, { 3, 5, 7 },
}
T.LINES = LINES

function T.new()
  return { board = { "", "", "", "", "", "", "", "", "" }, turn = "X", draw = false, moves = 0 }
end

function T.play(g, mark, cell)
  if g.winner ~= nil or g.draw then return nil, "game_over" end
  if (mark ~= "X" and mark ~= "O") or mark ~= g.turn then return nil, "not_your_turn" end
  cell = type(cell) == "number" and math.tointeger(cell) or nil
  if cell == nil or cell < 1 or cell > 9 then return nil, "invalid_cell" end
  if g.board[cell] ~= "" then return nil, "occupied" end

  g.board[cell] = mark
  g.moves = (math.tointeger(g.moves) or g.moves) + 1
  for _, l in ipairs(LINES) do
    if g.board[l[1]] == mark and g.board[l[2]] == mark and g.board[l[3]] == mark then
      g.winner, g.line = mark, { l[1], l[2], l[3] }
      break
    end
  end
  if g.winner == nil and g.moves >= 9 then g.draw = true end
  if g.winner ~= nil or g.draw then
    g.turn = nil
  else
    g.turn = mark == "X" and "O" or "X"
  end
  local line = g.line and { g.line[1], g.line[2], g.line[3] } or nil
  return { cell = cell, mark = mark, winner = g.winner, draw = g.draw, line = line, next = g.turn }
end

return T
