-- The goose game's rules (lua/apps/games/goose_rules.lua): pure Lua, no moonbar API.
package.path = "lua/apps/games/?.lua;" .. package.path
local R = require("goose_rules")

-- Helpers -------------------------------------------------------------------------------------

package.path = "spec/lua/support/?.lua;" .. package.path
local P = require("plain")
local copy, check_plain, encode, decode = P.copy, P.check_plain, P.encode, P.decode

-- A game from a list of pawns: { {seat=?, square=?, miss=?, stuck=?, rolled=?}, ... }, turn.
-- Pawns have rolled already unless rolled = false, so the first-roll specials stay out of the way.
local function game(pawns, turn)
  local seats = {}
  for i, p in ipairs(pawns) do seats[i] = p.seat or i end
  local g = assert(R.new(seats))
  for i, p in ipairs(pawns) do
    local e = g.players[i]
    e.square = p.square or 0
    e.miss = p.miss or 0
    e.stuck = p.stuck
    e.rolled = p.rolled ~= false
  end
  g.turn = turn or seats[1]
  return g
end

-- R.roll that must succeed; checks that g and the result stay plain data.
local function roll(g, seat, d1, d2)
  local res, err = R.roll(g, seat, d1, d2)
  assert(res, "roll failed: " .. tostring(err))
  check_plain(g, "g")
  check_plain(res, "res")
  return res
end

local function square(g, seat) return R.player(g, seat).square end

-- Plays g.turn's roll with the first dice whose move has no effect at all (a plain square,
-- nobody there), so bystanders can take their turns without disturbing a test.
local function quiet_roll(g)
  local seat = g.turn
  for d1 = 1, 6 do
    for d2 = 1, 6 do
      local c = copy(g)
      local res = R.roll(c, seat, d1, d2)
      if res and #res.effects == 0 then return roll(g, seat, d1, d2) end
    end
  end
  error("no quiet roll for seat " .. tostring(seat))
end

-- Tests -------------------------------------------------------------------------------------

describe("goose_rules", function()
  describe("the board", function()
    local expected = {
      { 5, "goose" }, { 9, "goose" }, { 14, "goose" }, { 18, "goose" }, { 23, "goose" },
      { 27, "goose" }, { 32, "goose" }, { 36, "goose" }, { 41, "goose" }, { 45, "goose" },
      { 50, "goose" }, { 54, "goose" }, { 59, "goose" },
      { 6, "bridge", 12 }, { 19, "inn" }, { 31, "well" }, { 42, "maze", 30 }, { 52, "prison" },
      { 58, "death", 0 }, { 63, "finish" },
    }
    for _, c in ipairs(expected) do
      it(("describes square %d as %s"):format(c[1], c[2]), function()
        assert.are.same({ kind = c[2], to = c[3] }, R.SQUARES[c[1]])
      end)
    end

    it("has no other special square, and SQUARE_LIST is the same data as a sequence", function()
      local n = 0
      for k in pairs(R.SQUARES) do n = n + 1; assert.is_true(k >= 0 and k <= 63) end
      assert.are.equal(#expected, n)
      assert.are.equal(#expected, #R.SQUARE_LIST)
      check_plain(R.SQUARE_LIST, "SQUARE_LIST")
      local last = -1
      for _, e in ipairs(R.SQUARE_LIST) do
        assert.is_true(e.square > last); last = e.square
        assert.are.same(R.SQUARES[e.square], { kind = e.kind, to = e.to })
      end
    end)
  end)

  describe("new", function()
    it("seats the players in the given order at the start", function()
      local g = R.new({ 3, 1, 2 })
      assert.are.same({
        players = {
          { seat = 3, square = 0, miss = 0, rolled = false },
          { seat = 1, square = 0, miss = 0, rolled = false },
          { seat = 2, square = 0, miss = 0, rolled = false },
        },
        turn = 3, finished = false,
      }, g)
      check_plain(g)
      assert.are.equal(g.players[2], R.player(g, 1))
      assert.is_nil(R.player(g, 9))
    end)

    for _, bad in ipairs({ {}, { 1 }, { 1, 2, 3, 4, 5, 6, 7 }, { 1, 1 }, { 1, "2" }, { 1, 2.5 } }) do
      it("refuses seats " .. encode(bad), function()
        local g, err = R.new(bad)
        assert.is_nil(g)
        assert.are.equal("invalid_seats", err)
      end)
    end

    it("accepts 2 to 6 seats", function()
      for n = 2, 6 do
        local seats = {}
        for i = 1, n do seats[i] = i end
        assert.are.equal(n, #R.new(seats).players)
      end
    end)
  end)

  -- One pawn moving, the other waiting at the start (0 never collides).
  local function move_cases(title, cases)
    describe(title, function()
      for _, c in ipairs(cases) do
        it(c.name, function()
          local g = game({ { square = c.at, rolled = c.rolled }, { square = 0 } })
          local res = roll(g, 1, c.d[1], c.d[2])
          assert.are.same(c.d, res.dice)
          assert.are.equal(c.at, res.from)
          assert.are.same(c.path, res.path)
          assert.are.same(c.effects or {}, res.effects)
          assert.are.equal(c.path[#c.path], res.to)
          assert.are.equal(res.to, square(g, 1))
          assert.are.equal(1, res.seat)
          assert.is_true(R.player(g, 1).rolled)
          if c.check then c.check(g, res) end
        end)
      end
    end)
  end

  move_cases("plain moves", {
    { name = "0 + 1+1 -> 2", at = 0, d = { 1, 1 }, path = { 2 } },
    { name = "0 + 2+1 -> 3", at = 0, d = { 2, 1 }, path = { 3 } },
    { name = "10 + 2+5 -> 17", at = 10, d = { 2, 5 }, path = { 17 } },
    { name = "20 + 5+5 -> 30", at = 20, d = { 5, 5 }, path = { 30 } },
    { name = "44 + 6+6 -> 56", at = 44, d = { 6, 6 }, path = { 56 } },
    { name = "a first roll without a special moves normally: 0 + 2+2 -> 4", at = 0, d = { 2, 2 },
      rolled = false, path = { 4 } },
    { name = "the move passes the turn on", at = 3, d = { 1, 3 }, path = { 7 },
      check = function(g, res)
        assert.are.equal(2, res.next); assert.are.equal(2, g.turn)
        assert.are.same({}, res.skips); assert.is_nil(res.freed_all); assert.is_nil(res.winner)
      end },
  })

  move_cases("geese", {
    { name = "1 + 2+2: 5 -> 9 -> 13", at = 1, d = { 2, 2 }, path = { 5, 9, 13 },
      effects = { { kind = "goose", square = 5 }, { kind = "goose", square = 9 } } },
    { name = "10 + 2+2: 14 -> 18 -> 22", at = 10, d = { 2, 2 }, path = { 14, 18, 22 },
      effects = { { kind = "goose", square = 14 }, { kind = "goose", square = 18 } } },
    { name = "20 + 1+2: 23 -> 26", at = 20, d = { 1, 2 }, path = { 23, 26 },
      effects = { { kind = "goose", square = 23 } } },
    { name = "0 + 1+4 (not the first roll): 5 -> 10", at = 0, d = { 1, 4 }, path = { 5, 10 },
      effects = { { kind = "goose", square = 5 } } },
    { name = "37 + 2+2: 41 -> 45 -> 49", at = 37, d = { 2, 2 }, path = { 41, 45, 49 },
      effects = { { kind = "goose", square = 41 }, { kind = "goose", square = 45 } } },
    { name = "the long chain of 9 from 0 (not the first roll) wins", at = 0, d = { 6, 3 },
      path = { 9, 18, 27, 36, 45, 54, 63 },
      effects = { { kind = "goose", square = 9 }, { kind = "goose", square = 18 },
                  { kind = "goose", square = 27 }, { kind = "goose", square = 36 },
                  { kind = "goose", square = 45 }, { kind = "goose", square = 54 },
                  { kind = "win", square = 63 } } },
  })

  move_cases("bridge, maze and death", {
    { name = "0 + 2+4: bridge 6 -> 12", at = 0, d = { 2, 4 }, path = { 6, 12 },
      effects = { { kind = "bridge", square = 6, to = 12 } } },
    { name = "1 + 2+3: bridge 6 -> 12", at = 1, d = { 2, 3 }, path = { 6, 12 },
      effects = { { kind = "bridge", square = 6, to = 12 } } },
    { name = "30 + 6+6: maze 42 -> 30", at = 30, d = { 6, 6 }, path = { 42, 30 },
      effects = { { kind = "maze", square = 42, to = 30 } } },
    { name = "33 + 4+5: maze 42 -> 30", at = 33, d = { 4, 5 }, path = { 42, 30 },
      effects = { { kind = "maze", square = 42, to = 30 } } },
    { name = "30 + 3+3: goose 36 then maze 42 -> 30", at = 30, d = { 3, 3 }, path = { 36, 42, 30 },
      effects = { { kind = "goose", square = 36 }, { kind = "maze", square = 42, to = 30 } } },
    { name = "48 + 5+5: death 58 -> 0", at = 48, d = { 5, 5 }, path = { 58, 0 },
      effects = { { kind = "death", square = 58, to = 0 } } },
    { name = "46 + 2+2: geese 50, 54 then death 58 -> 0", at = 46, d = { 2, 2 }, path = { 50, 54, 58, 0 },
      effects = { { kind = "goose", square = 50 }, { kind = "goose", square = 54 },
                  { kind = "death", square = 58, to = 0 } } },
  })

  move_cases("inn, well and prison", {
    { name = "15 + 2+2: inn 19, miss 2", at = 15, d = { 2, 2 }, path = { 19 },
      effects = { { kind = "inn", square = 19, miss = 2 } },
      check = function(g) assert.are.equal(2, R.player(g, 1).miss); assert.is_nil(R.player(g, 1).stuck) end },
    { name = "25 + 3+3: well 31, stuck", at = 25, d = { 3, 3 }, path = { 31 },
      effects = { { kind = "well", square = 31 } },
      check = function(g) assert.are.equal("well", R.player(g, 1).stuck) end },
    { name = "48 + 2+2: prison 52, stuck", at = 48, d = { 2, 2 }, path = { 52 },
      effects = { { kind = "prison", square = 52 } },
      check = function(g) assert.are.equal("prison", R.player(g, 1).stuck) end },
  })

  move_cases("bounce off 63", {
    { name = "60 + 2+3 -> 61", at = 60, d = { 2, 3 }, path = { 61 },
      effects = { { kind = "bounce", square = 61 } } },
    { name = "62 + 1+1 -> 62", at = 62, d = { 1, 1 }, path = { 62 },
      effects = { { kind = "bounce", square = 62 } } },
    { name = "57 + 6+6 -> 57", at = 57, d = { 6, 6 }, path = { 57 },
      effects = { { kind = "bounce", square = 57 } } },
    { name = "62 + 6+6 -> prison 52", at = 62, d = { 6, 6 }, path = { 52 },
      effects = { { kind = "bounce", square = 52 }, { kind = "prison", square = 52 } } },
    { name = "60 + 3+4 -> goose 59, backwards 7 -> prison 52", at = 60, d = { 3, 4 }, path = { 59, 52 },
      effects = { { kind = "bounce", square = 59 }, { kind = "goose", square = 59 },
                  { kind = "prison", square = 52 } } },
    { name = "60 + 6+6 -> goose 54, backwards 12 -> maze 42 -> 30", at = 60, d = { 6, 6 },
      path = { 54, 42, 30 },
      effects = { { kind = "bounce", square = 54 }, { kind = "goose", square = 54 },
                  { kind = "maze", square = 42, to = 30 } } },
    { name = "62 + 2+3 -> goose 59, backwards to goose 54, backwards to 49", at = 62, d = { 2, 3 },
      path = { 59, 54, 49 },
      effects = { { kind = "bounce", square = 59 }, { kind = "goose", square = 59 },
                  { kind = "goose", square = 54 } } },
    { name = "a goose repeat that passes 63 bounces: 53 + 3+3 -> 59 -> 61", at = 53, d = { 3, 3 },
      path = { 59, 61 },
      effects = { { kind = "goose", square = 59 }, { kind = "bounce", square = 61 } } },
    { name = "a goose repeat that bounces onto a goose goes on backwards: 51 + 4+4 -> 59 -> 59 -> 51",
      at = 51, d = { 4, 4 }, path = { 59, 59, 51 },
      effects = { { kind = "goose", square = 59 }, { kind = "bounce", square = 59 },
                  { kind = "goose", square = 59 } } },
  })

  it("moves forward again on the turn after a bounce", function()
    local g = game({ { square = 57 }, { square = 0 } })
    assert.are.equal(57, roll(g, 1, 6, 6).to)
    quiet_roll(g)
    local res = roll(g, 1, 1, 2)
    assert.are.same({ 60 }, res.path)
    assert.are.same({}, res.effects)
  end)

  describe("first roll", function()
    for _, c in ipairs({ { 6, 3, 26 }, { 3, 6, 26 }, { 5, 4, 53 }, { 4, 5, 53 } }) do
      it(("%d+%d on the first roll goes to %d"):format(c[1], c[2], c[3]), function()
        local g = R.new({ 1, 2 })
        local res = roll(g, 1, c[1], c[2])
        assert.are.same({ kind = "first_roll", to = c[3] }, res.effects[1])
        assert.are.equal(1, #res.effects)
        assert.are.same({ c[3] }, res.path)
        assert.are.equal(0, res.from)
        assert.are.equal(c[3], res.to)
        assert.are.equal(c[3], square(g, 1))
        assert.are.equal(2, res.next)
      end)

      it(("%d+%d on the first roll collides with a pawn on %d"):format(c[1], c[2], c[3]), function()
        local g = game({ { square = c[3] }, { square = 0, rolled = false } }, 2)
        local res = roll(g, 2, c[1], c[2])
        assert.are.same({ { kind = "first_roll", to = c[3] },
                          { kind = "swap", seat = 1, from = c[3], to = 0 } }, res.effects)
        assert.are.equal(0, square(g, 1))
        assert.are.equal(c[3], square(g, 2))
      end)
    end

    local later = {
      { at = 0, d = { 3, 6 }, to = 63 },   -- 9, 18, ... 54, 63: the plain geese chain
      { at = 0, d = { 5, 4 }, to = 63 },
      { at = 10, d = { 6, 3 }, to = 19 },
      { at = 10, d = { 4, 5 }, to = 19 },
      { at = 26, d = { 6, 3 }, to = 35 },
      { at = 53, d = { 5, 4 }, to = 62 },
    }
    for _, c in ipairs(later) do
      it(("%d+%d from %d on a later roll is a plain move to %d"):format(c.d[1], c.d[2], c.at, c.to), function()
        local g = game({ { square = c.at }, { square = 0 } })
        local res = roll(g, 1, c.d[1], c.d[2])
        assert.are.equal(c.to, res.to)
        for _, e in ipairs(res.effects) do assert.are_not.equal("first_roll", e.kind) end
      end)
    end

    it("applies only to each player's own first roll", function()
      local g = R.new({ 1, 2 })
      assert.are.equal(4, roll(g, 1, 2, 2).to)      -- seat 1's first roll: no special
      assert.are.equal(26, roll(g, 2, 6, 3).to)     -- seat 2's first roll
      assert.are.equal(13, roll(g, 1, 6, 3).to)     -- seat 1's second roll: 4 + 9
      assert.are.equal(35, roll(g, 2, 5, 4).to)     -- seat 2's second roll: 26 + 9
    end)

    it("counts a player sent back to 0 as having rolled", function()
      local g = R.new({ 1, 2 })
      assert.are.equal(26, roll(g, 1, 6, 3).to)
      assert.are.equal(26, roll(g, 2, 3, 6).to)     -- sends seat 1 back to 0
      assert.are.equal(0, square(g, 1))
      local res = roll(g, 1, 6, 3)                  -- a plain 9 from 0 now
      assert.are.same({ 9, 18, 27, 36, 45, 54, 63 }, res.path)
      assert.are.equal(1, res.winner)
    end)
  end)

  describe("the inn", function()
    it("makes the player miss exactly its next 2 turns (2 players)", function()
      local g = game({ { square = 15 }, { square = 1 } })
      local res = roll(g, 1, 2, 2)
      assert.are.equal(2, res.next)
      local turns = {}
      while g.turn ~= 1 do
        res = quiet_roll(g)
        turns[#turns + 1] = { seat = res.seat, skips = res.skips, next = res.next, miss = R.player(g, 1).miss }
      end
      assert.are.same({
        { seat = 2, skips = { { seat = 1, reason = "inn" } }, next = 2, miss = 1 },
        { seat = 2, skips = { { seat = 1, reason = "inn" } }, next = 2, miss = 0 },
        { seat = 2, skips = {}, next = 1, miss = 0 },
      }, turns)
      assert.are.equal(19, roll(g, 1, 1, 2).from)
    end)

    it("skips the player in turn order among 3, decrementing its count", function()
      local g = game({ { square = 15 }, { square = 1 }, { square = 2 } })
      roll(g, 1, 2, 2)
      local log = {}
      while g.turn ~= 1 do
        local res = quiet_roll(g)
        log[#log + 1] = { res.seat, res.next, #res.skips > 0 and res.skips[1].reason or nil,
                          R.player(g, 1).miss }
      end
      assert.are.same({
        { 2, 3, nil, 2 },
        { 3, 2, "inn", 1 },
        { 2, 3, nil, 1 },
        { 3, 2, "inn", 0 },
        { 2, 3, nil, 0 },
        { 3, 1, nil, 0 },
      }, log)
      assert.are.equal(19, roll(g, 1, 1, 2).from)
    end)
  end)

  describe("well and prison", function()
    local places = {
      { kind = "well", sq = 31, first = { 25, 3, 3 }, second = { 28, 1, 2 } },
      { kind = "prison", sq = 52, first = { 48, 2, 2 }, second = { 46, 3, 3 } },
    }
    for _, c in ipairs(places) do
      it(c.kind .. ": the pawn is stuck and skipped until another comes, which is stuck then", function()
        local g = game({ { square = c.first[1] }, { square = 1 } })
        roll(g, 1, c.first[2], c.first[3])
        assert.are.equal(c.kind, R.player(g, 1).stuck)
        for _ = 1, 3 do
          local res = quiet_roll(g)
          assert.are.same({ { seat = 1, reason = c.kind } }, res.skips)
          assert.are.equal(2, res.next)
          assert.are.equal(c.sq, square(g, 1))
        end
        R.player(g, 2).square = c.second[1]
        local res = roll(g, 2, c.second[2], c.second[3])
        assert.are.same({ { kind = c.kind, square = c.sq },
                          { kind = "freed", seat = 1, square = c.sq } }, res.effects)
        assert.are.same({}, res.skips)
        assert.are.equal(1, res.next)
        assert.is_nil(R.player(g, 1).stuck)
        assert.are.equal(c.kind, R.player(g, 2).stuck)
        assert.are.equal(c.sq, square(g, 1))       -- freed, not moved: no swap there
        assert.are.equal(c.sq, square(g, 2))
        res = quiet_roll(g)                       -- the freed pawn moves on
        assert.are.equal(c.sq, res.from)
        assert.are.same({ { seat = 2, reason = c.kind } }, res.skips)
        assert.are.equal(1, res.next)
      end)

      it(c.kind .. ": a pawn already freed there is left alone by a newcomer", function()
        local g = game({ { square = c.second[1] }, { square = c.sq }, { square = 1 } })
        local res = roll(g, 1, c.second[2], c.second[3])
        assert.are.same({ { kind = c.kind, square = c.sq } }, res.effects)
        assert.are.equal(c.sq, square(g, 2))
        assert.is_nil(R.player(g, 2).stuck)
        assert.are.equal(c.kind, R.player(g, 1).stuck)
        assert.are.equal(2, res.next)
      end)
    end

    it("frees everyone when every player is stuck", function()
      local g = game({ { square = 31, stuck = "well" }, { square = 48 } }, 2)
      local res = roll(g, 2, 2, 2)
      assert.are.same({ { kind = "prison", square = 52 } }, res.effects)
      assert.is_true(res.freed_all)
      assert.are.same({}, res.skips)
      assert.are.equal(1, res.next)
      assert.is_nil(R.player(g, 1).stuck)
      assert.is_nil(R.player(g, 2).stuck)
      assert.are.equal(31, square(g, 1))
      assert.are.equal(52, square(g, 2))
    end)

    it("cannot get 3 players all stuck: a newcomer frees the pawn held there", function()
      for _, c in ipairs({ { 25, { 3, 3 }, 31, "well" }, { 48, { 2, 2 }, 52, "prison" } }) do
        local g = game({ { square = 31, stuck = "well" }, { square = 52, stuck = "prison" },
                         { square = c[1] } }, 3)
        local res = roll(g, 3, c[2][1], c[2][2])
        assert.is_nil(res.freed_all)
        local freed = c[3] == 31 and 1 or 2
        assert.are.same({ { kind = c[4], square = c[3] }, { kind = "freed", seat = freed, square = c[3] } },
          res.effects)
        assert.are.equal(freed, res.next)
      end
    end)

    it("does not count a player at the inn as stuck", function()
      local g = game({ { square = 31, stuck = "well" }, { square = 19, miss = 2 }, { square = 48 } }, 3)
      local res = roll(g, 3, 2, 2)
      assert.is_nil(res.freed_all)
      assert.are.same({
        { seat = 1, reason = "well" }, { seat = 2, reason = "inn" }, { seat = 3, reason = "prison" },
        { seat = 1, reason = "well" }, { seat = 2, reason = "inn" }, { seat = 3, reason = "prison" },
        { seat = 1, reason = "well" },
      }, res.skips)
      assert.are.equal(2, res.next)
      assert.are.equal(0, R.player(g, 2).miss)
    end)

    it("lets the only free player play again when the others are stuck", function()
      local g = game({ { square = 31, stuck = "well" }, { square = 3 }, { square = 52, stuck = "prison" } }, 2)
      local res = quiet_roll(g)
      assert.are.same({ { seat = 3, reason = "prison" }, { seat = 1, reason = "well" } }, res.skips)
      assert.are.equal(2, res.next)
    end)
  end)

  describe("collisions", function()
    local cases = {
      { name = "plain square: the other pawn goes to the mover's start", mover = 10, other = 17,
        d = { 3, 4 }, to = 17 },
      { name = "after the bridge: on 12", mover = 2, other = 12, d = { 2, 2 }, to = 12,
        effects = { { kind = "bridge", square = 6, to = 12 } } },
      { name = "after the maze: on 30", mover = 33, other = 30, d = { 4, 5 }, to = 30,
        effects = { { kind = "maze", square = 42, to = 30 } } },
      { name = "after geese: on the end of the chain", mover = 1, other = 13, d = { 2, 2 }, to = 13,
        effects = { { kind = "goose", square = 5 }, { kind = "goose", square = 9 } } },
      { name = "after a bounce", mover = 60, other = 61, d = { 2, 3 }, to = 61,
        effects = { { kind = "bounce", square = 61 } } },
      { name = "on the inn: inn first, then the swap", mover = 15, other = 19, other_miss = 1,
        d = { 2, 2 }, to = 19, effects = { { kind = "inn", square = 19, miss = 2 } } },
      { name = "from the start square: the other pawn goes to 0", mover = 0, other = 8, d = { 4, 4 }, to = 8 },
    }
    for _, c in ipairs(cases) do
      it(c.name, function()
        local g = game({ { square = c.mover }, { square = c.other, miss = c.other_miss or 0 } })
        local res = roll(g, 1, c.d[1], c.d[2])
        local effects = copy(c.effects or {})
        effects[#effects + 1] = { kind = "swap", seat = 2, from = c.to, to = c.mover }
        assert.are.same(effects, res.effects)
        assert.are.equal(c.to, square(g, 1))
        assert.are.equal(c.mover, square(g, 2))
        assert.are.equal(0, R.player(g, 2).miss)
        assert.is_nil(R.player(g, 2).stuck)
      end)
    end

    it("gives no effect to the square the other pawn is sent to (inn, well, prison)", function()
      for _, c in ipairs({ { 19, { 3, 4 }, 26 }, { 31, { 2, 2 }, 35 }, { 52, { 1, 2 }, 55 } }) do
        local g = game({ { square = c[1] }, { square = c[3] } })
        local res = roll(g, 1, c[2][1], c[2][2])
        assert.are.same({ { kind = "swap", seat = 2, from = c[3], to = c[1] } }, res.effects)
        local p = R.player(g, 2)
        assert.are.equal(c[1], p.square)
        assert.are.equal(0, p.miss)
        assert.is_nil(p.stuck)
        assert.are.equal(2, res.next)             -- not skipped
        assert.are.same({}, res.skips)
      end
    end)

    it("only happens where the move ends, not on squares passed or landed on before", function()
      local g = game({ { square = 1 }, { square = 9 }, { square = 6 } })
      local res = roll(g, 1, 2, 2)               -- 5, 9 (seat 2 there: no swap), 13
      assert.are.same({ 5, 9, 13 }, res.path)
      assert.are.equal(9, square(g, 2))
      g = game({ { square = 0 }, { square = 6 } })
      res = roll(g, 1, 2, 4)                     -- 6 (seat 2 there), bridge to 12
      assert.are.equal(6, square(g, 2))
      assert.are.equal(12, res.to)
    end)

    local no_swap = {
      { name = "0 (after death)", mover = 48, d = { 5, 5 }, at = 0, effects = { { kind = "death", square = 58, to = 0 } } },
      { name = "31 (well)", mover = 25, d = { 3, 3 }, at = 31, effects = { { kind = "well", square = 31 } } },
      { name = "52 (prison)", mover = 48, d = { 2, 2 }, at = 52, effects = { { kind = "prison", square = 52 } } },
    }
    for _, c in ipairs(no_swap) do
      it("never happens on " .. c.name, function()
        local g = game({ { square = c.mover }, { square = c.at } })
        local res = roll(g, 1, c.d[1], c.d[2])
        assert.are.same(c.effects, res.effects)
        assert.are.equal(c.at, square(g, 1))
        assert.are.equal(c.at, square(g, 2))
      end)
    end

    it("sends a pawn out of the inn, which then plays its next turn", function()
      local g = game({ { square = 19, miss = 2 }, { square = 15 } }, 2)
      local res = roll(g, 2, 2, 2)
      assert.are.same({ { kind = "inn", square = 19, miss = 2 },
                        { kind = "swap", seat = 1, from = 19, to = 15 } }, res.effects)
      assert.are.same({}, res.skips)
      assert.are.equal(1, res.next)
      assert.are.equal(0, R.player(g, 1).miss)
      res = roll(g, 1, 1, 2)
      assert.are.equal(15, res.from)
      assert.are.same({ { seat = 2, reason = "inn" } }, res.skips)
      assert.are.equal(1, res.next)
    end)
  end)

  describe("winning", function()
    local cases = {
      { at = 55, d = { 4, 4 }, path = { 63 } },
      { at = 61, d = { 1, 1 }, path = { 63 } },
      { at = 51, d = { 6, 6 }, path = { 63 } },
      { at = 45, d = { 4, 5 }, path = { 54, 63 }, goose = 54 },
    }
    for _, c in ipairs(cases) do
      it(("exactly 63 wins: %d + %d+%d"):format(c.at, c.d[1], c.d[2]), function()
        local g = game({ { square = c.at }, { square = 0 } })
        local res = roll(g, 1, c.d[1], c.d[2])
        assert.are.same(c.path, res.path)
        local effects = {}
        if c.goose then effects[1] = { kind = "goose", square = c.goose } end
        effects[#effects + 1] = { kind = "win", square = 63 }
        assert.are.same(effects, res.effects)
        assert.are.equal(1, res.winner)
        assert.is_nil(res.next)
        assert.are.same({}, res.skips)
        assert.are.equal(1, g.winner)
        assert.is_true(g.finished)
        assert.is_nil(g.turn)
        local before = copy(g)
        local r2, err = R.roll(g, 2, 1, 1)
        assert.is_nil(r2)
        assert.are.equal("game_over", err)
        assert.are.same(before, g)
      end)
    end

    it("does not win past 63", function()
      local g = game({ { square = 62 }, { square = 0 } })
      local res = roll(g, 1, 1, 1)
      assert.is_nil(res.winner)
      assert.is_false(g.finished)
    end)
  end)

  describe("refused rolls leave g unchanged", function()
    local cases = {
      { name = "wrong seat", seat = 2, d = { 1, 1 }, err = "not_your_turn" },
      { name = "unknown seat", seat = 9, d = { 1, 1 }, err = "not_your_turn" },
      { name = "die 0", seat = 1, d = { 0, 3 }, err = "invalid_dice" },
      { name = "die 7", seat = 1, d = { 3, 7 }, err = "invalid_dice" },
      { name = "die 1.5", seat = 1, d = { 1.5, 3 }, err = "invalid_dice" },
      { name = "die as a string", seat = 1, d = { "3", 3 }, err = "invalid_dice" },
      { name = "die missing", seat = 1, d = { 3 }, err = "invalid_dice" },
      { name = "after the end", seat = 1, d = { 1, 1 }, err = "game_over", finished = true },
      { name = "after the end, wrong seat", seat = 2, d = { 1, 1 }, err = "game_over", finished = true },
    }
    for _, c in ipairs(cases) do
      it(c.name .. " -> " .. c.err, function()
        local g = game({ { square = 10, rolled = false }, { square = 20, miss = 1 }, { square = 31, stuck = "well" } })
        if c.finished then g.finished, g.winner, g.turn = true, 3, nil end
        local before = copy(g)
        local res, err = R.roll(g, c.seat, c.d[1], c.d[2])
        assert.is_nil(res)
        assert.are.equal(c.err, err)
        assert.are.same(before, g)
      end)
    end

    it("accepts integral float dice as integers", function()
      local g = game({ { square = 10 }, { square = 0 } })
      local res = roll(g, 1, 2.0, 3.0)
      assert.are.equal(15, res.to)
      assert.are.equal("integer", math.type(res.dice[1]))
    end)
  end)

  describe("remove", function()
    it("passes the turn on when the player to move leaves", function()
      local g = R.new({ 1, 2, 3 })
      local res = R.remove(g, 1)
      assert.are.same({ next = 2, skips = {} }, res)
      assert.are.equal(2, g.turn)
      assert.are.equal(2, #g.players)
      check_plain(g)
    end)

    it("wraps round when the last in order leaves on its turn", function()
      local g = game({ {}, {}, {} }, 3)
      assert.are.equal(1, R.remove(g, 3).next)
      assert.are.equal(1, g.turn)
    end)

    it("keeps the turn when another player leaves", function()
      local g = game({ {}, {}, {}, {} }, 2)
      assert.are.same({ next = 2, skips = {} }, R.remove(g, 3))
      assert.are.same({ next = 2, skips = {} }, R.remove(g, 1))
      assert.are.equal(2, g.turn)
      assert.are.same({ 2, 4 }, { g.players[1].seat, g.players[2].seat })
      assert.is_false(g.finished)
      assert.are.equal(4, roll(g, 2, 1, 2).next)
    end)

    it("skips players at the inn or stuck while passing the turn", function()
      local g = game({ {}, { square = 5 }, { square = 19, miss = 2 }, { square = 52, stuck = "prison" } }, 2)
      local res = R.remove(g, 2)
      assert.are.same({ { seat = 3, reason = "inn" }, { seat = 4, reason = "prison" } }, res.skips)
      assert.are.equal(1, res.next)
      assert.are.equal(1, R.player(g, 3).miss)
    end)

    it("frees all when everyone left is stuck", function()
      local g = game({ { square = 31, stuck = "well" }, { square = 52, stuck = "prison" }, { square = 3 } }, 3)
      local res = R.remove(g, 3)
      assert.is_true(res.freed_all)
      assert.are.equal(1, res.next)
      assert.is_nil(R.player(g, 1).stuck)
      assert.is_nil(R.player(g, 2).stuck)
    end)

    it("makes the last player the winner", function()
      local g = game({ {}, {}, {} }, 1)
      R.remove(g, 2)
      local res = R.remove(g, 1)
      assert.are.equal(3, res.winner)
      assert.is_nil(res.next)
      assert.are.equal(3, g.winner)
      assert.is_true(g.finished)
      assert.is_nil(g.turn)
      assert.are.equal("game_over", select(2, R.roll(g, 3, 1, 1)))
      check_plain(g)
    end)

    it("refuses an unknown seat and leaves g unchanged", function()
      local g = R.new({ 1, 2 })
      local before = copy(g)
      local res, err = R.remove(g, 7)
      assert.is_nil(res)
      assert.are.equal("no_such_player", err)
      assert.are.same(before, g)
    end)

    it("after the end only removes the player", function()
      local g = game({ { square = 55 }, {}, {} })
      roll(g, 1, 4, 4)
      local res = R.remove(g, 2)
      assert.are.same({ winner = 1, skips = {} }, res)
      assert.are.equal(1, g.winner)
      assert.are.equal(2, #g.players)
    end)
  end)

  describe("plain data", function()
    it("round-trips the encoder itself", function()
      local v = { a = { 1, 2, { b = "x\"y" } }, c = true, d = false, e = -3, f = 0.5, g = {} }
      assert.are.same(v, decode(encode(v)))
    end)

    for _, n in ipairs({ 2, 3, 4, 6 }) do
      it(("a %d-player game survives a JSON round trip after every roll and stays sane"):format(n), function()
        local seats = {}
        for i = 1, n do seats[i] = i * 10 end
        local g = assert(R.new(seats))
        local x = 12345 + n
        local function die()
          x = (x * 1103515245 + 12345) % 2147483648
          return x // 65536 % 6 + 1
        end
        local rolls, kinds = 0, {}
        while not g.finished and rolls < 5000 do
          check_plain(g)
          local text = encode(g)
          local back = decode(text)
          assert.are.same(g, back)
          g = back
          local seat = g.turn
          local p = R.player(g, seat)
          assert.is_nil(p.stuck)
          assert.are.equal(0, p.miss)
          local res = roll(g, seat, die(), die())
          check_plain(decode(encode(res)), "res")
          rolls = rolls + 1
          for _, e in ipairs(res.effects) do kinds[e.kind] = true end
          -- the mover never rests on a goose, a bridge, a maze or a death square
          local sq = R.SQUARES[res.to]
          assert.is_true(sq == nil or sq.kind == "inn" or sq.kind == "well" or sq.kind == "prison"
            or sq.kind == "finish", "rests on " .. res.to)
          assert.are.equal(res.path[#res.path], res.to)
          -- at most one pawn on a square other than 0, 31, 52
          local seen = {}
          for _, q in ipairs(g.players) do
            assert.is_true(q.square >= 0 and q.square <= 63)
            assert.is_true(q.miss >= 0 and q.miss <= 2)
            if q.square ~= 0 and q.square ~= 31 and q.square ~= 52 then
              assert.is_nil(seen[q.square], "two pawns on " .. q.square)
              seen[q.square] = true
            end
          end
        end
        assert.is_true(g.finished)
        assert.is_not_nil(g.winner)
        assert.are.equal(63, R.player(g, g.winner).square)
        assert.is_true(kinds.goose and kinds.win and true or false)
      end)
    end
  end)
end)
