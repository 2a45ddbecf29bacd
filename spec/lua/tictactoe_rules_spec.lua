-- Tic-tac-toe's rules (lua/apps/games/tictactoe_rules.lua): pure Lua, no moonbar API.
package.path = "lua/apps/games/?.lua;" .. package.path
local T = require("tictactoe_rules")

package.path = "spec/lua/support/?.lua;" .. package.path
local copy = require("plain").copy

-- Plays cells alternately from X; every move must succeed. Returns g and the last result.
local function play_all(cells)
  local g, res = T.new(), nil
  for _, c in ipairs(cells) do
    local err
    res, err = T.play(g, g.turn, c)
    assert(res, "move " .. tostring(c) .. ": " .. tostring(err))
  end
  return g, res
end

-- The board as a 9-character string, "." for empty.
local function picture(g)
  local out = {}
  for i = 1, 9 do out[i] = g.board[i] == "" and "." or g.board[i] end
  return table.concat(out)
end

describe("tictactoe_rules", function()
  it("starts with an empty board, X to move", function()
    assert.are.same({ board = { "", "", "", "", "", "", "", "", "" }, turn = "X", draw = false, moves = 0 },
      T.new())
  end)

  it("alternates X and O and reports each move", function()
    local g = T.new()
    assert.are.same({ cell = 5, mark = "X", draw = false, next = "O" }, T.play(g, "X", 5))
    assert.are.same({ cell = 1, mark = "O", draw = false, next = "X" }, T.play(g, "O", 1))
    assert.are.equal("O...X....", picture(g))
    assert.are.equal(2, g.moves)
    assert.are.equal("X", g.turn)
  end)

  describe("wins", function()
    -- Each line won by X (X plays the line, O plays elsewhere), and by O.
    local others = { 1, 2, 3, 4, 5, 6, 7, 8, 9 }
    for _, line in ipairs(T.LINES) do
      for _, winner in ipairs({ "X", "O" }) do
        it(("%s wins on %d-%d-%d"):format(winner, line[1], line[2], line[3]), function()
          local inline = {}
          for _, c in ipairs(line) do inline[c] = true end
          -- the loser's cells: not on the line, and not completing another line of its own
          local spare = {}
          for _, c in ipairs(others) do if not inline[c] then spare[#spare + 1] = c end end
          local loser
          for a = 1, #spare do
            for b = a + 1, #spare do
              for d = b + 1, #spare do
                local set = { spare[a], spare[b], spare[d] }
                local ok = true
                for _, l in ipairs(T.LINES) do
                  local n = 0
                  for _, c in ipairs(l) do
                    for _, s in ipairs(set) do if s == c then n = n + 1 end end
                  end
                  if n == 3 then ok = false end
                end
                if ok then loser = set; break end
              end
              if loser then break end
            end
            if loser then break end
          end
          local cells = {}
          if winner == "X" then
            cells = { line[1], loser[1], line[2], loser[2], line[3] }
          else
            cells = { loser[1], line[1], loser[2], line[2], loser[3], line[3] }
          end
          local g, res = play_all(cells)
          assert.are.equal(winner, res.winner)
          assert.are.same(line, res.line)
          assert.is_false(res.draw)
          assert.is_nil(res.next)
          assert.are.equal(winner, g.winner)
          assert.are.same(line, g.line)
          assert.is_nil(g.turn)
          assert.are.equal(#cells, g.moves)
        end)
      end
    end

    it("wins on the ninth move rather than drawing", function()
      -- X: 1 3 4 8 9, O: 2 5 6 7: full, no line
      local g, res = play_all({ 1, 2, 3, 5, 4, 6, 8, 7, 9 })
      assert.are.equal("XOXXOOOXX", picture(g))
      assert.is_nil(res.winner)
      assert.is_true(res.draw)
      g, res = play_all({ 1, 2, 3, 5, 4, 6, 8, 9, 7 })
      -- the same but X's ninth move is 7 (O took 9): X has 1-4-7
      assert.are.equal("X", res.winner)
      assert.are.same({ 1, 4, 7 }, res.line)
      assert.is_false(res.draw)
      assert.are.equal(9, g.moves)
    end)
  end)

  describe("draws", function()
    local boards = {
      { 1, 2, 3, 5, 4, 6, 8, 7, 9 },
      { 5, 1, 9, 3, 2, 8, 7, 4, 6 },
      { 1, 5, 9, 2, 8, 7, 3, 6, 4 },
    }
    for _, cells in ipairs(boards) do
      it("a full board without a line is a draw: " .. table.concat(cells, ","), function()
        local g, res = play_all(cells)
        assert.is_true(res.draw)
        assert.is_nil(res.winner)
        assert.is_nil(res.line)
        assert.is_nil(res.next)
        assert.is_true(g.draw)
        assert.is_nil(g.turn)
        assert.are.equal(9, g.moves)
      end)
    end

    it("is not a draw before the board is full", function()
      local g, res = play_all({ 1, 2, 3, 5, 4, 6, 8, 7 })
      assert.is_false(res.draw)
      assert.are.equal("X", res.next)
      assert.is_false(g.draw)
    end)
  end)

  describe("refused moves leave g unchanged", function()
    local cases = {
      { name = "O first", moves = {}, mark = "O", cell = 1, err = "not_your_turn" },
      { name = "X twice", moves = { 5 }, mark = "X", cell = 1, err = "not_your_turn" },
      { name = "a bad mark", moves = {}, mark = "Z", cell = 1, err = "not_your_turn" },
      { name = "no mark", moves = {}, mark = nil, cell = 1, err = "not_your_turn" },
      { name = "cell 0", moves = {}, mark = "X", cell = 0, err = "invalid_cell" },
      { name = "cell 10", moves = {}, mark = "X", cell = 10, err = "invalid_cell" },
      { name = "cell 1.5", moves = {}, mark = "X", cell = 1.5, err = "invalid_cell" },
      { name = "cell as a string", moves = {}, mark = "X", cell = "1", err = "invalid_cell" },
      { name = "no cell", moves = {}, mark = "X", cell = nil, err = "invalid_cell" },
      { name = "occupied by X", moves = { 5 }, mark = "O", cell = 5, err = "occupied" },
      { name = "occupied by O", moves = { 5, 1 }, mark = "X", cell = 1, err = "occupied" },
      { name = "after a win", moves = { 1, 4, 2, 5, 3 }, mark = "O", cell = 9, err = "game_over" },
      { name = "after a win, the winner", moves = { 1, 4, 2, 5, 3 }, mark = "X", cell = 9, err = "game_over" },
      { name = "after a draw", moves = { 1, 2, 3, 5, 4, 6, 8, 7, 9 }, mark = "O", cell = 1, err = "game_over" },
    }
    for _, c in ipairs(cases) do
      it(c.name .. " -> " .. c.err, function()
        local g = play_all(c.moves)
        local before = copy(g)
        local res, err = T.play(g, c.mark, c.cell)
        assert.is_nil(res)
        assert.are.equal(c.err, err)
        assert.are.same(before, g)
      end)
    end

    it("accepts an integral float cell", function()
      local g = T.new()
      local res = T.play(g, "X", 5.0)
      assert.are.equal(5, res.cell)
      assert.are.equal("integer", math.type(res.cell))
      assert.are.equal("X", g.board[5])
    end)
  end)

  it("keeps g plain data: 9 strings, no holes", function()
    local g = play_all({ 1, 5, 9 })
    assert.are.equal(9, #g.board)
    for k, v in pairs(g.board) do
      assert.are.equal("integer", math.type(k))
      assert.is_string(v)
    end
    for k, v in pairs(g) do
      assert.is_string(k)
      assert.is_not_function(v)
    end
    assert.is_nil(getmetatable(g))
    local won, res = play_all({ 1, 4, 2, 5, 3 })
    assert.are.same({ 1, 2, 3 }, won.line)
    assert.are_not.equal(won.line, res.line)   -- the result's line is a copy, not g's table
  end)
end)
